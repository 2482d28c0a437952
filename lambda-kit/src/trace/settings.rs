//! Which exporters run, read from the variables OpenTelemetry and X-Ray define.
//!
//! - `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`: nothing is recorded.
//! - `OTEL_TRACES_EXPORTER` (a comma-separated list, as OpenTelemetry's SDK configuration
//!   defines it): `otlp`, `none`, and `xray` (ours: OpenTelemetry names no X-Ray exporter).
//! - Unset: OTLP when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is
//!   set, and then not X-Ray; else X-Ray when `AWS_XRAY_DAEMON_ADDRESS` is set. Lambda sets the
//!   daemon address for every function, so an endpoint the user set is the choice that counts;
//!   `OTEL_TRACES_EXPORTER=otlp,xray` sends to both.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::Error;

/// How long the export after an invocation may take when `OTEL_EXPORTER_OTLP_TIMEOUT` does not
/// say. OpenTelemetry's default is 10 s, written for a process that exports in the background;
/// here the instance waits for it before its next invocation, so the default is short.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(300);

/// Where the X-Ray daemon listens when `OTEL_TRACES_EXPORTER` asks for X-Ray without an address
/// (the X-Ray SDKs' default).
const DEFAULT_XRAY: &str = "127.0.0.1:2000";
/// OTLP/HTTP's default endpoint (OpenTelemetry's exporter specification).
const DEFAULT_OTLP: &str = "http://localhost:4318";
/// The path OTLP/HTTP traces are posted to, after `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub(crate) const TRACES_PATH: &str = "/v1/traces";

/// The exporters and what they need, as the environment set them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Settings {
    /// The X-Ray daemon's UDP address.
    pub(crate) xray: Option<SocketAddr>,
    pub(crate) otlp: Option<Otlp>,
    /// `OTEL_SERVICE_NAME`.
    pub(crate) service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, in order.
    pub(crate) resource: Vec<(String, String)>,
    /// The bound on each export after an invocation.
    pub(crate) timeout: Duration,
}

/// An OTLP/HTTP collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Otlp {
    /// `host:port`.
    pub(crate) authority: String,
    /// The request path, `/v1/traces` for an endpoint given as a base.
    pub(crate) path: String,
    pub(crate) protocol: Protocol,
    /// `OTEL_EXPORTER_OTLP_HEADERS`, decoded.
    pub(crate) headers: Vec<(String, String)>,
}

/// The OTLP/HTTP encoding (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `http/protobuf`, OpenTelemetry's default.
    Protobuf,
    /// `http/json`.
    Json,
}

impl Protocol {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// The exporters `OTEL_TRACES_EXPORTER` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exporter {
    Otlp,
    Xray,
    None,
}

impl Settings {
    /// Whether anything is exported, and so recorded.
    pub(crate) fn enabled(&self) -> bool {
        self.xray.is_some() || self.otlp.is_some()
    }

    /// Reads the settings through `lookup` (empty values count as unset).
    pub(crate) fn from_lookup(
        lookup: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let mut get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let disabled =
            get("OTEL_SDK_DISABLED").is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
        let timeout = match get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") {
            Some(value) => millis("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", &value)?,
            None => match get("OTEL_EXPORTER_OTLP_TIMEOUT") {
                Some(value) => millis("OTEL_EXPORTER_OTLP_TIMEOUT", &value)?,
                None => DEFAULT_TIMEOUT,
            },
        };
        let mut settings = Self {
            service_name: get("OTEL_SERVICE_NAME"),
            resource: match get("OTEL_RESOURCE_ATTRIBUTES") {
                Some(value) => pairs("OTEL_RESOURCE_ATTRIBUTES", &value)?,
                None => Vec::new(),
            },
            timeout,
            ..Self::default()
        };
        if disabled {
            return Ok(settings);
        }
        let traces_endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        let endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT");
        let daemon = get("AWS_XRAY_DAEMON_ADDRESS");
        let exporters = match get("OTEL_TRACES_EXPORTER") {
            Some(value) => exporters(&value)?,
            None => {
                let mut chosen = Vec::new();
                if traces_endpoint.is_some() || endpoint.is_some() {
                    chosen.push(Exporter::Otlp);
                } else if daemon.is_some() {
                    chosen.push(Exporter::Xray);
                }
                chosen
            }
        };
        if exporters.contains(&Exporter::None) {
            return Ok(settings);
        }
        if exporters.contains(&Exporter::Xray) {
            settings.xray = Some(daemon_address(daemon.as_deref().unwrap_or(DEFAULT_XRAY))?);
        }
        if exporters.contains(&Exporter::Otlp) {
            let (variable, url, base) = match (traces_endpoint, endpoint) {
                (Some(url), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url, false),
                (None, Some(url)) => ("OTEL_EXPORTER_OTLP_ENDPOINT", url, true),
                (None, None) => ("OTEL_EXPORTER_OTLP_ENDPOINT", DEFAULT_OTLP.to_owned(), true),
            };
            let (authority, path) = http_url(variable, &url)?;
            let path = if base {
                format!("{}{TRACES_PATH}", path.trim_end_matches('/'))
            } else if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            let (variable, protocol) = match get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
                Some(value) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Some(value)),
                None => (
                    "OTEL_EXPORTER_OTLP_PROTOCOL",
                    get("OTEL_EXPORTER_OTLP_PROTOCOL"),
                ),
            };
            let protocol = match protocol.as_deref().map(str::trim) {
                None | Some("http/protobuf") => Protocol::Protobuf,
                Some("http/json") => Protocol::Json,
                Some("grpc") => {
                    return Err(Error::config(
                        variable,
                        "is `grpc`, which lambda-kit does not speak: use `http/protobuf` or \
                         `http/json` (an OpenTelemetry collector takes both on port 4318)",
                    ));
                }
                Some(other) => {
                    return Err(Error::config(
                        variable,
                        format!("is `{other}`, expected `http/protobuf` or `http/json`"),
                    ));
                }
            };
            let headers = match get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") {
                Some(value) => pairs("OTEL_EXPORTER_OTLP_TRACES_HEADERS", &value)?,
                None => match get("OTEL_EXPORTER_OTLP_HEADERS") {
                    Some(value) => pairs("OTEL_EXPORTER_OTLP_HEADERS", &value)?,
                    None => Vec::new(),
                },
            };
            settings.otlp = Some(Otlp {
                authority,
                path,
                protocol,
                headers,
            });
        }
        Ok(settings)
    }
}

fn millis(variable: &'static str, value: &str) -> Result<Duration, Error> {
    value
        .trim()
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| {
            Error::config(
                variable,
                format!("is `{value}`, expected a whole number of milliseconds such as `300`"),
            )
        })
}

fn exporters(value: &str) -> Result<Vec<Exporter>, Error> {
    value
        .split(',')
        .map(|name| match name.trim() {
            "otlp" => Ok(Exporter::Otlp),
            "xray" => Ok(Exporter::Xray),
            "none" => Ok(Exporter::None),
            other => Err(Error::config(
                "OTEL_TRACES_EXPORTER",
                format!("names `{other}`, expected `otlp`, `xray` or `none` (comma-separated)"),
            )),
        })
        .collect()
}

/// `host:port`, `udp:host:port`, or X-Ray's `tcp:host:port udp:host:port` (the UDP one is used).
fn daemon_address(value: &str) -> Result<SocketAddr, Error> {
    let udp = value
        .split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .or_else(|| {
            value
                .split_whitespace()
                .find(|part| !part.starts_with("tcp:"))
        })
        .unwrap_or(value);
    let problem = || {
        Error::config(
            "AWS_XRAY_DAEMON_ADDRESS",
            format!(
                "is `{value}`, expected `host:port` or `udp:host:port` such as `127.0.0.1:2000`"
            ),
        )
    };
    udp.to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(problem)
}

/// `http://host:port/path` to (`host:port`, `/path`); only plain HTTP.
fn http_url(variable: &'static str, url: &str) -> Result<(String, String), Error> {
    let url = url.trim();
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(Error::config(
            variable,
            format!(
                "is `{url}`: lambda-kit's exporter speaks plain HTTP to a collector beside the \
                 function (such as the ADOT collector extension): use an `http://` URL such as \
                 `http://localhost:4318`"
            ),
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()))
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let valid = !authority.starts_with(':')
        && authority.bytes().all(|byte| byte.is_ascii_graphic())
        && path.bytes().all(|byte| byte.is_ascii_graphic());
    if !valid {
        return Err(Error::config(
            variable,
            format!("is `{url}`, expected a URL such as `http://localhost:4318`"),
        ));
    }
    Ok((authority, path.to_owned()))
}

/// `key=value,key2=value2`, values percent-decoded (the W3C Baggage form OpenTelemetry uses).
fn pairs(variable: &'static str, value: &str) -> Result<Vec<(String, String)>, Error> {
    value
        .split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                Error::config(
                    variable,
                    format!(
                        "has `{}`, expected `key=value` pairs separated by commas",
                        pair.trim()
                    ),
                )
            })?;
            Ok((percent_decode(key.trim()), percent_decode(value.trim())))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |at: usize| {
            bytes
                .get(at)
                .and_then(|byte| (*byte as char).to_digit(16))
                .map(|digit| digit as u8)
        };
        match (bytes[index], hex(index + 1), hex(index + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push(high << 4 | low);
                index += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, Error> {
        Settings::from_lookup(&mut |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn an_otlp_endpoint_wins_over_the_daemon_lambda_always_sets() {
        let both = settings(&[
            ("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318/"),
        ])
        .unwrap();
        assert_eq!(both.xray, None);
        let otlp = both.otlp.unwrap();
        assert_eq!(otlp.authority, "localhost:4318");
        assert_eq!(otlp.path, "/v1/traces");
        assert_eq!(otlp.protocol, Protocol::Protobuf);

        let xray = settings(&[("AWS_XRAY_DAEMON_ADDRESS", "udp:127.0.0.1:2001")]).unwrap();
        assert_eq!(xray.xray, Some("127.0.0.1:2001".parse().unwrap()));
        assert!(xray.otlp.is_none());

        let listed = settings(&[
            ("OTEL_TRACES_EXPORTER", "otlp, xray"),
            (
                "AWS_XRAY_DAEMON_ADDRESS",
                "tcp:127.0.0.1:2000 udp:127.0.0.2:2001",
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://127.0.0.1:9/traces",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ])
        .unwrap();
        assert_eq!(listed.xray, Some("127.0.0.2:2001".parse().unwrap()));
        let otlp = listed.otlp.unwrap();
        assert_eq!(
            (otlp.path.as_str(), otlp.protocol),
            ("/traces", Protocol::Json)
        );
    }

    #[test]
    fn disabled_or_none_records_nothing() {
        for vars in [
            [
                ("OTEL_SDK_DISABLED", "true"),
                ("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000"),
            ],
            [
                ("OTEL_TRACES_EXPORTER", "none"),
                ("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:2000"),
            ],
        ] {
            assert!(!settings(&vars).unwrap().enabled());
        }
        assert!(!settings(&[]).unwrap().enabled());
    }

    #[test]
    fn bad_values_name_the_variable_and_the_fix() {
        let cases = [
            (
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318"),
                "plain HTTP",
            ),
            (("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), "http/protobuf"),
            (
                ("OTEL_TRACES_EXPORTER", "zipkin"),
                "`otlp`, `xray` or `none`",
            ),
            (("AWS_XRAY_DAEMON_ADDRESS", "nowhere"), "udp:host:port"),
            (("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"), "milliseconds"),
        ];
        for ((name, value), hint) in cases {
            let vars = [
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://127.0.0.1:4318/v1/traces",
                ),
                (name, value),
            ];
            // The endpoint and the daemon are tested alone: a traces endpoint beside them wins.
            let vars: Vec<_> =
                if name == "AWS_XRAY_DAEMON_ADDRESS" || name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
                    vec![(name, value)]
                } else {
                    vars.to_vec()
                };
            let error = settings(&vars).unwrap_err();
            let text = error.to_string();
            assert!(
                error.is_config() && text.contains(name) && text.contains(hint),
                "{text}"
            );
        }
    }

    #[test]
    fn headers_and_resource_attributes_are_decoded() {
        let settings = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,x=1"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "team=orders,deployment.environment=prod",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
        ])
        .unwrap();
        let otlp = settings.otlp.unwrap();
        assert_eq!(
            otlp.headers,
            [("api-key".into(), "a b".into()), ("x".into(), "1".into())]
        );
        assert_eq!(
            settings.resource[1],
            ("deployment.environment".into(), "prod".into())
        );
        assert_eq!(settings.timeout, Duration::from_millis(1500));
    }
}
