//! The function's configuration, read once from the environment Lambda sets up.
//!
//! Everything else in the crate takes a `&Config`, so tests build one from a map with
//! [`Config::from_lookup`] instead of touching the process environment.

use std::fmt;
use std::num::NonZeroU32;

use crate::Error;

/// The variable that names the Runtime API endpoint.
pub(crate) const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";

/// The function's configuration as Lambda describes it in the environment.
///
/// Read once at start-up with [`Config::from_env`]; [`Context::config`](crate::Context::config)
/// hands it to every invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    runtime_api: RuntimeApi,
    function_name: String,
    function_version: String,
    memory_size_mb: u32,
    log_group: Option<String>,
    log_stream: Option<String>,
    region: Option<String>,
    initialization_type: InitializationType,
    max_concurrency: NonZeroU32,
    log_format: LogFormat,
    log_level: LogLevel,
    metrics_namespace: Option<String>,
    service_name: Option<String>,
    #[cfg(feature = "trace")]
    trace: crate::trace::Settings,
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    ///
    /// Fails with an error naming the variable when a required variable
    /// (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_VERSION`,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`) is missing, or when any variable holds a value that
    /// cannot be understood.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let config = lambda_kit::Config::from_env()?;
    /// println!("running {} with {} MB", config.function_name(), config.memory_size_mb());
    /// # Ok::<(), lambda_kit::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        // The one place the crate reads the environment (clippy's `disallowed-methods`).
        #[allow(clippy::disallowed_methods)]
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, which returns a variable's value by name.
    ///
    /// # Errors
    ///
    /// The same as [`Config::from_env`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// let vars = HashMap::from([
    ///     ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
    ///     ("AWS_LAMBDA_FUNCTION_NAME", "orders"),
    ///     ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ///     ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
    /// ]);
    /// let config = lambda_kit::Config::from_lookup(|name| vars.get(name).map(|v| v.to_string()))?;
    /// assert_eq!(config.memory_size_mb(), 256);
    /// assert_eq!(config.max_concurrency(), 1);
    /// # Ok::<(), lambda_kit::Error>(())
    /// ```
    pub fn from_lookup<F>(mut lookup: F) -> Result<Self, Error>
    where
        F: FnMut(&str) -> Option<String>,
    {
        let mut required = |name: &'static str| {
            lookup(name)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| Error::config(name, "is not set"))
        };
        let runtime_api = required(RUNTIME_API_VAR).map_err(|_| {
            Error::config(
                RUNTIME_API_VAR,
                "is not set: this program is a Lambda function and runs where Lambda (or a local \
                 emulator such as `cargo lambdakit serve`) provides the Runtime API",
            )
        })?;
        let runtime_api = RuntimeApi::parse(&runtime_api)?;
        let function_name = required("AWS_LAMBDA_FUNCTION_NAME")?;
        let function_version = required("AWS_LAMBDA_FUNCTION_VERSION")?;
        let memory = required("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")?;
        let memory_size_mb = memory.parse().map_err(|_| {
            Error::config(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                format!("is `{memory}`, expected a whole number of megabytes such as `128`"),
            )
        })?;

        let mut optional = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let log_group = optional("AWS_LAMBDA_LOG_GROUP_NAME");
        let log_stream = optional("AWS_LAMBDA_LOG_STREAM_NAME");
        let region = optional("AWS_REGION").or_else(|| optional("AWS_DEFAULT_REGION"));
        let initialization_type = match optional("AWS_LAMBDA_INITIALIZATION_TYPE") {
            Some(value) => InitializationType::parse(&value),
            None => InitializationType::OnDemand,
        };
        let max_concurrency = match optional("AWS_LAMBDA_MAX_CONCURRENCY") {
            Some(value) => value.trim().parse().map_err(|_| {
                Error::config(
                    "AWS_LAMBDA_MAX_CONCURRENCY",
                    format!("is `{value}`, expected a whole number of at least 1"),
                )
            })?,
            None => NonZeroU32::MIN,
        };
        let log_format = match optional("AWS_LAMBDA_LOG_FORMAT") {
            Some(value) => LogFormat::parse(&value)?,
            None => LogFormat::Text,
        };
        let log_level = match optional("AWS_LAMBDA_LOG_LEVEL") {
            Some(value) => LogLevel::parse(&value)?,
            None => LogLevel::Info,
        };
        let metrics_namespace = optional("POWERTOOLS_METRICS_NAMESPACE");
        let service_name = optional("POWERTOOLS_SERVICE_NAME");
        #[cfg(feature = "trace")]
        let trace = crate::trace::Settings::from_lookup(&mut lookup)?;
        Ok(Self {
            runtime_api,
            function_name,
            function_version,
            memory_size_mb,
            log_group,
            log_stream,
            region,
            initialization_type,
            max_concurrency,
            log_format,
            log_level,
            metrics_namespace,
            service_name,
            #[cfg(feature = "trace")]
            trace,
        })
    }

    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub fn function_name(&self) -> &str {
        &self.function_name
    }

    /// The version being run (`AWS_LAMBDA_FUNCTION_VERSION`), `$LATEST` or a number.
    pub fn function_version(&self) -> &str {
        &self.function_version
    }

    /// The memory configured for the function, in megabytes (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    pub fn memory_size_mb(&self) -> u32 {
        self.memory_size_mb
    }

    /// The CloudWatch log group (`AWS_LAMBDA_LOG_GROUP_NAME`), when Lambda sets one.
    pub fn log_group(&self) -> Option<&str> {
        self.log_group.as_deref()
    }

    /// The CloudWatch log stream (`AWS_LAMBDA_LOG_STREAM_NAME`), when Lambda sets one.
    pub fn log_stream(&self) -> Option<&str> {
        self.log_stream.as_deref()
    }

    /// The AWS region the function runs in (`AWS_REGION`, else `AWS_DEFAULT_REGION`).
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// How this execution environment was started (`AWS_LAMBDA_INITIALIZATION_TYPE`).
    pub fn initialization_type(&self) -> &InitializationType {
        &self.initialization_type
    }

    /// How many invocations this process serves at once (`AWS_LAMBDA_MAX_CONCURRENCY`, default 1).
    pub fn max_concurrency(&self) -> u32 {
        self.max_concurrency.get()
    }

    /// The log line format (`AWS_LAMBDA_LOG_FORMAT`, default text).
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }

    /// The lowest level that is logged (`AWS_LAMBDA_LOG_LEVEL`, default `INFO`).
    pub fn log_level(&self) -> LogLevel {
        self.log_level
    }

    /// The CloudWatch namespace for custom metrics (`POWERTOOLS_METRICS_NAMESPACE`, the
    /// variable Powertools for AWS Lambda reads), used by the `metrics` feature.
    pub fn metrics_namespace(&self) -> Option<&str> {
        self.metrics_namespace.as_deref()
    }

    /// The name of the service the function is part of (`POWERTOOLS_SERVICE_NAME`, as in
    /// Powertools for AWS Lambda): the `metrics` feature publishes every metric with a
    /// `service` dimension of this value.
    pub fn service_name(&self) -> Option<&str> {
        self.service_name.as_deref()
    }

    /// The exporters of the `trace` feature, as the OpenTelemetry and X-Ray variables set them.
    #[cfg(feature = "trace")]
    pub(crate) fn trace_settings(&self) -> &crate::trace::Settings {
        &self.trace
    }

    pub(crate) fn runtime_api(&self) -> &RuntimeApi {
        &self.runtime_api
    }
}

/// Where the Runtime API listens: `host:port` plus an optional path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuntimeApi {
    /// `host:port`, as the TCP connection and the `Host` header want it.
    pub(crate) authority: String,
    /// Everything before `/runtime/...`: the prefix (if any) and the API version.
    pub(crate) base_path: String,
    /// The path prefix alone (empty, or `/fn/orders`), before the other APIs' versions.
    #[cfg_attr(not(feature = "extension"), allow(dead_code))]
    pub(crate) prefix: String,
}

impl RuntimeApi {
    /// Accepts the AWS form `host:port` and the `http://host:port/prefix` form some emulators use.
    fn parse(value: &str) -> Result<Self, Error> {
        let value = value.trim();
        let rest = match value.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(Error::config(
                    RUNTIME_API_VAR,
                    format!(
                        "is `{value}`: scheme `{scheme}` is not supported, use `host:port` or `http://host:port`"
                    ),
                ));
            }
            None => value,
        };
        let (authority, prefix) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let port_ok = authority
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(Error::config(
                RUNTIME_API_VAR,
                format!("is `{value}`, expected `host:port` such as `127.0.0.1:9001`"),
            ));
        }
        Ok(Self {
            authority: authority.to_owned(),
            base_path: format!("{prefix}/{}", crate::api::protocol::VERSION),
            prefix: prefix.to_owned(),
        })
    }
}

/// How the execution environment was started (`AWS_LAMBDA_INITIALIZATION_TYPE`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitializationType {
    /// Started for an incoming invocation (`on-demand`).
    OnDemand,
    /// Started ahead of time for provisioned concurrency (`provisioned-concurrency`).
    ProvisionedConcurrency,
    /// Restored from a SnapStart snapshot (`snap-start`).
    SnapStart,
    /// A Lambda Managed Instances environment (`lambda-managed-instances`).
    ManagedInstances,
    /// A value this crate does not know yet, kept as Lambda wrote it.
    Other(String),
}

impl InitializationType {
    fn parse(value: &str) -> Self {
        match value {
            "on-demand" => Self::OnDemand,
            "provisioned-concurrency" => Self::ProvisionedConcurrency,
            "snap-start" => Self::SnapStart,
            "lambda-managed-instances" => Self::ManagedInstances,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The format of log lines (`AWS_LAMBDA_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// Tab-separated lines: `[LEVEL]`, timestamp, request id, message.
    Text,
    /// One JSON object a line, with Lambda's keys (`timestamp`, `level`, `message`, `requestId`).
    Json,
}

impl LogFormat {
    fn parse(value: &str) -> Result<Self, Error> {
        if value.eq_ignore_ascii_case("json") {
            Ok(Self::Json)
        } else if value.eq_ignore_ascii_case("text") {
            Ok(Self::Text)
        } else {
            Err(Error::config(
                "AWS_LAMBDA_LOG_FORMAT",
                format!("is `{value}`, expected `Text` or `JSON`"),
            ))
        }
    }
}

/// The lowest level that is logged (`AWS_LAMBDA_LOG_LEVEL`).
///
/// Lambda's `FATAL` has no `tracing` level of its own and is logged as `ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LogLevel {
    /// `TRACE` and above.
    Trace,
    /// `DEBUG` and above.
    Debug,
    /// `INFO` and above.
    Info,
    /// `WARN` and above.
    Warn,
    /// `ERROR` and above.
    Error,
    /// `FATAL` only, which `tracing` spells `ERROR`.
    Fatal,
}

impl LogLevel {
    fn parse(value: &str) -> Result<Self, Error> {
        const LEVELS: [(&str, LogLevel); 6] = [
            ("TRACE", LogLevel::Trace),
            ("DEBUG", LogLevel::Debug),
            ("INFO", LogLevel::Info),
            ("WARN", LogLevel::Warn),
            ("ERROR", LogLevel::Error),
            ("FATAL", LogLevel::Fatal),
        ];
        LEVELS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(value))
            .map(|&(_, level)| level)
            .ok_or_else(|| {
                Error::config(
                    "AWS_LAMBDA_LOG_LEVEL",
                    format!("is `{value}`, expected one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"),
                )
            })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(extra: &[(&str, &str)]) -> Result<Config, Error> {
        let mut vars: HashMap<&str, &str> = HashMap::from([
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("AWS_LAMBDA_FUNCTION_NAME", "orders"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ]);
        vars.extend(extra.iter().copied());
        Config::from_lookup(|name| vars.get(name).map(|value| value.to_string()))
    }

    #[test]
    fn reads_the_aws_form_of_the_runtime_api() {
        let config = config(&[]).unwrap();
        assert_eq!(config.runtime_api().authority, "127.0.0.1:9001");
        assert_eq!(config.runtime_api().base_path, "/2018-06-01");
        assert_eq!(config.max_concurrency(), 1);
        assert_eq!(config.log_format(), LogFormat::Text);
        assert_eq!(config.log_level(), LogLevel::Info);
        assert_eq!(config.initialization_type(), &InitializationType::OnDemand);
    }

    #[test]
    fn reads_the_metrics_namespace_and_service_powertools_use() {
        assert_eq!(config(&[]).unwrap().metrics_namespace(), None);
        assert_eq!(
            config(&[("POWERTOOLS_METRICS_NAMESPACE", "")])
                .unwrap()
                .metrics_namespace(),
            None
        );
        let shop = config(&[("POWERTOOLS_METRICS_NAMESPACE", "Shop")]).unwrap();
        assert_eq!(shop.metrics_namespace(), Some("Shop"));
        assert_eq!(shop.service_name(), None);
        let checkout = config(&[("POWERTOOLS_SERVICE_NAME", "checkout")]).unwrap();
        assert_eq!(checkout.service_name(), Some("checkout"));
    }

    #[test]
    fn reads_the_url_form_with_a_prefix() {
        let config =
            config(&[("AWS_LAMBDA_RUNTIME_API", "http://localhost:9000/fn/orders/")]).unwrap();
        assert_eq!(config.runtime_api().authority, "localhost:9000");
        assert_eq!(config.runtime_api().base_path, "/fn/orders/2018-06-01");
    }

    #[test]
    fn reads_every_optional_variable() {
        let config = config(&[
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/orders"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/23/[$LATEST]abc"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "8"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "debug"),
        ])
        .unwrap();
        assert_eq!(config.log_group(), Some("/aws/lambda/orders"));
        assert_eq!(config.log_stream(), Some("2026/11/23/[$LATEST]abc"));
        assert_eq!(config.region(), Some("eu-west-1"));
        assert_eq!(
            config.initialization_type(),
            &InitializationType::ManagedInstances
        );
        assert_eq!(config.max_concurrency(), 8);
        assert_eq!(config.log_format(), LogFormat::Json);
        assert_eq!(config.log_level(), LogLevel::Debug);
    }

    #[test]
    fn aws_region_wins_over_the_default_region() {
        let config = config(&[
            ("AWS_REGION", "us-east-2"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(config.region(), Some("us-east-2"));
    }

    #[test]
    fn a_missing_variable_is_named() {
        let error = Config::from_lookup(|_| None).unwrap_err();
        assert!(error.is_config());
        assert!(
            error.to_string().starts_with(
                "environment variable `AWS_LAMBDA_RUNTIME_API` is not set: this program is a Lambda function"
            ),
            "{error}"
        );
        let vars = [("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")];
        let lookup = |name: &str| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        };
        let error = Config::from_lookup(lookup).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable `AWS_LAMBDA_FUNCTION_NAME` is not set"
        );
    }

    #[test]
    fn malformed_values_are_named_with_what_was_expected() {
        let cases = [
            ("AWS_LAMBDA_RUNTIME_API", "9001", "expected `host:port`"),
            (
                "AWS_LAMBDA_RUNTIME_API",
                "127.0.0.1:http",
                "expected `host:port`",
            ),
            (
                "AWS_LAMBDA_RUNTIME_API",
                "https://127.0.0.1:9001",
                "scheme `https` is not supported",
            ),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "lots",
                "whole number of megabytes",
            ),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "0", "at least 1"),
            ("AWS_LAMBDA_LOG_FORMAT", "xml", "`Text` or `JSON`"),
            ("AWS_LAMBDA_LOG_LEVEL", "LOUD", "TRACE, DEBUG"),
        ];
        for (name, value, expected) in cases {
            let message = config(&[(name, value)]).unwrap_err().to_string();
            assert!(message.contains(name), "{message}");
            assert!(message.contains(&format!("`{value}`")), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }
}
