//! The AWS SDK for Rust in a Lambda function: [`config`], the SDK's configuration built
//! straight from Lambda's environment; with feature `trace`, `TraceInterceptor` records each SDK
//! call as a client span of the invocation's trace.
//!
//! A function that builds AWS SDK clients the usual way,
//! `aws_config::defaults(BehaviorVersion::latest()).load().await`, spends most of its cold start
//! there, not in the runtime: the credential chain builds an STS client that Lambda's
//! environment credentials make unnecessary, the HTTPS client loads every root certificate of
//! the system (the whole bundle, then each file of the certificate directory again), and every
//! `Client::new` parses the trust anchors once more. Measured with the fake Runtime API
//! (callgrind instructions from exec to the first `/next`; wall-clock medians of 25 starts), for
//! a function whose set-up builds an S3 and a DynamoDB client:
//!
//! | | init instructions | init wall |
//! |---|---|---|
//! | lambda-kit echo, no SDK | 0.46M | 1.0 ms |
//! | lambda-kit, usual SDK set-up | 23.4M | 7.7 ms |
//! | `lambda_runtime` 1.5, same set-up | 23.7M | 8.3 ms |
//! | same set-up, a trust store of Amazon's root CAs only | 2.2M | 2.3 ms |
//!
//! With this module instead, in one run beside `lambda_runtime` with the usual set-up
//! (BENCHMARKS.md, "AWS SDK cold start"; the first call makes one S3 and one DynamoDB call
//! against moto):
//!
//! | | init instructions | init wall | first call instructions |
//! |---|---|---|---|
//! | lambda-kit, `lambda_kit::aws::config()` | 1.70M (0.08x) | 2.9 ms | 1.22M |
//! | `lambda_runtime` 1.5, `aws_config::defaults(..).load()` | 21.49M | 4.2 ms | 1.59M |
//!
//! [`config`] does what Lambda's environment makes enough, and no more:
//!
//! - the region from `AWS_REGION` (or `AWS_DEFAULT_REGION`);
//! - the execution role's credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//!   `AWS_SESSION_TOKEN`, as they are, with no STS client and no credential chain;
//! - endpoints from `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_<SERVICE>`
//!   (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`, ...; the service id upper-cased, spaces
//!   as `_`), unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`; `AWS_USE_FIPS_ENDPOINT` and
//!   `AWS_USE_DUALSTACK_ENDPOINT`;
//! - one HTTPS client for every SDK client of the process (rustls with ring), whose trust store
//!   holds [Amazon Trust Services' root CAs](AMAZON_ROOT_CAS_PEM) only: every AWS endpoint
//!   chains to them. Its connector is built on the first request, once for all clients.
//!   Plain `http://` endpoints (moto, LocalStack) work as well.
//!
//! A function that calls HTTPS endpoints outside AWS with the same client adds the system's
//! roots ([`Builder::system_roots`]) or its own ([`Builder::root_certificates_pem`]).
//!
//! Outside Lambda, with no credentials in the environment (tests, `cargo lambdakit serve` with
//! a developer's profile), [`config`] loads the SDK's standard chain instead (`aws-config`:
//! profiles, web identity, container and instance credentials; not SSO or `credential_process`),
//! with the same HTTPS client, and says so at debug level.
//!
//! # Examples
//!
//! ```no_run
//! use lambda_kit::{Config, Context, Diagnostic};
//!
//! struct Clients {
//!     s3: aws_sdk_s3::Client,
//!     table: aws_sdk_dynamodb::Client,
//! }
//!
//! async fn setup(_config: Config) -> Result<Clients, Diagnostic> {
//!     let config = lambda_kit::aws::config().await;
//!     Ok(Clients {
//!         s3: aws_sdk_s3::Client::new(&config),
//!         table: aws_sdk_dynamodb::Client::new(&config),
//!     })
//! }
//!
//! #[lambda_kit::handler(setup = setup)]
//! async fn handler(key: String, _ctx: Context, clients: &Clients) -> Result<u64, Diagnostic> {
//!     let object = clients.s3.head_object().bucket("uploads").key(&key).send().await;
//!     let size = object.map_err(|error| Diagnostic::new("S3", error.to_string()))?;
//!     # let _ = &clients.table;
//!     Ok(size.content_length().unwrap_or(0) as u64)
//! }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;
use aws_types::origin::Origin;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::Error;

#[cfg(feature = "trace")]
mod trace;

#[cfg(feature = "trace")]
#[cfg_attr(docsrs, doc(cfg(all(feature = "aws", feature = "trace"))))]
pub use trace::TraceInterceptor;

/// The SDK's shared configuration, which every service's `Client::new` takes: named here so
/// that a function needs no dependency on `aws-types` or `aws-config` to hold one.
#[doc(no_inline)]
pub use aws_types::SdkConfig;

/// Amazon Trust Services' five root CAs (Amazon Root CA 1 to 4 and Starfield Services Root
/// Certificate Authority - G2), as PEM: every AWS endpoint's certificate chains to one of them.
///
/// The trust store of [`config`]'s HTTPS client. `cargo lambdakit` ships the same file for
/// functions that point `SSL_CERT_FILE` at it.
pub const AMAZON_ROOT_CAS_PEM: &[u8] = include_bytes!("amazon-root-cas.pem");

/// The variable that holds an endpoint for all services, and, suffixed with `_<SERVICE>`, for one.
const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";

/// The AWS SDK's configuration for this function: from Lambda's environment when it is there,
/// else from the SDK's standard chain; see the [module docs](self).
///
/// Each call reads the environment again; the HTTPS client is shared by all of them. Call it
/// once, in the function's set-up, and build every client from the result.
///
/// # Examples
///
/// ```no_run
/// # async fn example() {
/// let config = lambda_kit::aws::config().await;
/// let s3 = aws_sdk_s3::Client::new(&config);
/// # let _ = s3;
/// # }
/// ```
pub async fn config() -> SdkConfig {
    Builder::new().load().await
}

/// [`config`] with options: more root certificates, a region or an endpoint that the
/// environment does not give, or an environment of its own.
///
/// # Examples
///
/// ```no_run
/// # async fn example() {
/// // This function also calls a partner's HTTPS API with the same client.
/// let config = lambda_kit::aws::Builder::new().system_roots().load().await;
/// # let _ = config;
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Builder {
    /// `None`: the process's environment, read by [`load`](Self::load).
    environment: Option<HashMap<String, String>>,
    roots: Roots,
    region: Option<String>,
    endpoint_url: Option<String>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The environment holds the secret access key: its names only.
        let environment = self.environment.as_ref().map(|vars| {
            let mut names: Vec<&str> = vars.keys().map(String::as_str).collect();
            names.sort_unstable();
            names
        });
        f.debug_struct("Builder")
            .field("environment", &environment)
            .field("roots", &self.roots)
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .finish()
    }
}

/// The trust store beyond Amazon's root CAs.
#[derive(Debug, Clone, Default, PartialEq)]
struct Roots {
    system: bool,
    /// PEM, each checked by [`Builder::root_certificates_pem`].
    pem: Vec<Vec<u8>>,
}

impl Builder {
    /// The options of [`config`]: Amazon's root CAs, region, credentials and endpoints from the
    /// process's environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the system's root certificates as well as Amazon's, for functions that call
    /// HTTPS endpoints outside AWS with the same client.
    ///
    /// This is what makes the usual set-up slow: the system's whole bundle is read and parsed,
    /// once per process, on the first request.
    pub fn system_roots(mut self) -> Self {
        self.roots.system = true;
        self
    }

    /// Trusts the root certificates in `pem` (one or more `-----BEGIN CERTIFICATE-----`
    /// blocks) as well as Amazon's: a private CA, or one endpoint's issuer.
    ///
    /// # Errors
    ///
    /// Returns an error, for which [`Error::is_certificates`] is true, when `pem` holds no
    /// certificate, one that is not valid PEM, or one that cannot be a trust anchor.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), lambda_kit::Error> {
    /// let config = lambda_kit::aws::Builder::new()
    ///     .root_certificates_pem(std::fs::read("corporate-ca.pem").unwrap_or_default())?
    ///     .load()
    ///     .await;
    /// # let _ = config;
    /// # Ok(())
    /// # }
    /// ```
    pub fn root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let pem = pem.into();
        check_roots(&pem)?;
        self.roots.pem.push(pem);
        Ok(self)
    }

    /// Uses `region` whatever the environment says.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sends every service's requests to `url` (such as `http://127.0.0.1:5000` for moto),
    /// whatever the environment says.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Reads the Lambda variables from `vars` instead of the process's environment: for tests,
    /// which should not change their process's environment.
    ///
    /// The standard chain, used when `vars` hold no credentials, still reads the process's
    /// environment and files for everything but the region.
    pub fn environment<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = vars.into_iter().map(|(k, v)| (k.into(), v.into()));
        self.environment = Some(vars.collect());
        self
    }

    /// Builds the configuration: from the environment's credentials when it has them and a
    /// region, else from the SDK's standard chain.
    pub async fn load(self) -> SdkConfig {
        let explicit = self.environment.is_some();
        let env = Env(self.environment.unwrap_or_else(process_env));
        let http_client = http_client(&self.roots);
        let region = self.region.or_else(|| env.region());
        let credentials = env.credentials();
        match (credentials, region) {
            (Some(credentials), Some(region)) => {
                tracing::debug!(
                    region = %region,
                    "AWS SDK configuration from Lambda's environment"
                );
                let mut builder = SdkConfig::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new(region))
                    .credentials_provider(SharedCredentialsProvider::new(credentials))
                    .http_client(http_client);
                builder.set_use_fips(env.flag("AWS_USE_FIPS_ENDPOINT"));
                builder.set_use_dual_stack(env.flag("AWS_USE_DUALSTACK_ENDPOINT"));
                match self.endpoint_url {
                    Some(url) => {
                        // Set in code: it wins over every variable, as with `aws-config`.
                        builder.insert_origin("endpoint_url", Origin::shared_config());
                        builder.set_endpoint_url(Some(url));
                    }
                    None => {
                        let ignore = env.flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") == Some(true);
                        if !ignore {
                            builder.set_endpoint_url(env.get(ENDPOINT_URL).map(str::to_owned));
                        }
                        builder.set_service_config(Some(ServiceEnv {
                            env: Arc::new(env),
                            ignore_endpoint_urls: ignore,
                        }));
                    }
                }
                builder.build()
            }
            (credentials, region) => {
                let missing = match credentials {
                    None => "credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`)",
                    Some(_) => "region (`AWS_REGION`)",
                };
                tracing::debug!(
                    "no AWS {missing} in the environment: loading the AWS SDK's standard chain \
                     (profiles, web identity, container and instance credentials)"
                );
                let mut loader =
                    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client);
                // Read by the chain itself from the process's environment, but not from an
                // explicit one.
                if let Some(region) = region.filter(|_| explicit) {
                    loader = loader.region(Region::new(region));
                }
                if let Some(url) = self.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                loader.load().await
            }
        }
    }
}

/// The process's `AWS_*` variables; others are no concern of the SDK's configuration here.
fn process_env() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, _)| name.starts_with("AWS_"))
        .collect()
}

/// The environment [`Builder::load`] reads.
struct Env(HashMap<String, String>);

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // It holds the secret access key, and `SdkConfig`'s `Debug` shows it: names only.
        let mut names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_tuple("Env").field(&names).finish()
    }
}

impl Env {
    /// `name`'s value, unless it is unset or empty.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn region(&self) -> Option<String> {
        let region = self
            .get("AWS_REGION")
            .or_else(|| self.get("AWS_DEFAULT_REGION"));
        region.map(str::to_owned)
    }

    /// The execution role's credentials, as Lambda sets them.
    fn credentials(&self) -> Option<Credentials> {
        let key = self.get("AWS_ACCESS_KEY_ID")?;
        let secret = self.get("AWS_SECRET_ACCESS_KEY")?;
        let token = self.get("AWS_SESSION_TOKEN").map(str::to_owned);
        Some(Credentials::new(key, secret, token, None, "Environment"))
    }

    /// A `true`/`false` variable; anything else is ignored, as `aws-config` does after a warning.
    fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            value if value.eq_ignore_ascii_case("true") => Some(true),
            value if value.eq_ignore_ascii_case("false") => Some(false),
            value => {
                tracing::warn!("`{name}` is `{value}`, not `true` or `false`: ignored");
                None
            }
        }
    }
}

/// Per-service settings from the environment, as the SDK's clients ask for them:
/// `<VARIABLE>_<SERVICE ID>` first, then `<VARIABLE>`.
#[derive(Debug)]
struct ServiceEnv {
    env: Arc<Env>,
    ignore_endpoint_urls: bool,
}

impl LoadServiceConfig for ServiceEnv {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if self.ignore_endpoint_urls && key.env() == ENDPOINT_URL {
            return None;
        }
        let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
        let specific = format!("{}_{service}", key.env());
        let value = self.env.get(&specific).or_else(|| self.env.get(key.env()));
        value.map(str::to_owned)
    }
}

/// Checks `pem` as the SDK's client will use it, which panics on what it cannot use.
fn check_roots(pem: &[u8]) -> Result<(), Error> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| Error::certificates(format!("the PEM does not parse ({error})")))?;
    if certificates.is_empty() {
        return Err(Error::certificates(
            "no `-----BEGIN CERTIFICATE-----` block in the PEM; pass the CA's certificate in PEM",
        ));
    }
    let mut store = rustls::RootCertStore::empty();
    for (index, certificate) in certificates.into_iter().enumerate() {
        store.add(certificate).map_err(|error| {
            let n = index + 1;
            Error::certificates(format!("certificate {n} of the PEM is not a CA ({error})"))
        })?;
    }
    Ok(())
}

/// The HTTPS client for `roots`: for Amazon's root CAs alone, one per process.
fn http_client(roots: &Roots) -> SharedHttpClient {
    static AMAZON_ONLY: OnceLock<SharedHttpClient> = OnceLock::new();
    if *roots == Roots::default() {
        return AMAZON_ONLY.get_or_init(|| build_http_client(roots)).clone();
    }
    build_http_client(roots)
}

fn build_http_client(roots: &Roots) -> SharedHttpClient {
    let mut store = TrustStore::empty()
        .with_native_roots(roots.system)
        .with_pem_certificate(AMAZON_ROOT_CAS_PEM);
    for pem in &roots.pem {
        store.add_pem_certificate(pem.clone());
    }
    let tls = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("aws-smithy-http-client 1.x's TlsContextBuilder::build has no failing case");
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https();
    OnFirstRequest(client).into_shared()
}

/// The SDK's HTTPS client, but building its connector (and trust store) on the first request
/// only, once for all clients with the same timeouts.
///
/// The SDK's own client builds one more connector each time a service client is built, so
/// that a slow system trust store is loaded during set-up; here that is work thrown away.
#[derive(Debug)]
struct OnFirstRequest(SharedHttpClient);

impl HttpClient for OnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env(vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect())
    }

    fn key<'a>(service: &'a str, var: &'a str) -> ServiceConfigKey<'a> {
        ServiceConfigKey::builder()
            .service_id(service)
            .env(var)
            .profile("endpoint_url")
            .build()
            .unwrap()
    }

    #[test]
    fn amazon_root_cas_are_five_usable_roots() {
        check_roots(AMAZON_ROOT_CAS_PEM).unwrap();
        let count = AMAZON_ROOT_CAS_PEM
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .filter(|w| *w == b"-----BEGIN CERTIFICATE-----")
            .count();
        assert_eq!(5, count);
    }

    #[test]
    fn a_service_variable_wins_over_the_global_one() {
        let service = ServiceEnv {
            env: Arc::new(env(&[
                ("AWS_ENDPOINT_URL", "http://global"),
                ("AWS_ENDPOINT_URL_DYNAMODB", "http://dynamodb"),
                ("AWS_ENDPOINT_URL_ELASTIC_BEANSTALK", "http://eb"),
            ])),
            ignore_endpoint_urls: false,
        };
        let url = |id| service.load_config(key(id, "AWS_ENDPOINT_URL"));
        assert_eq!(Some("http://dynamodb".into()), url("DynamoDB"));
        assert_eq!(Some("http://eb".into()), url("Elastic Beanstalk"));
        assert_eq!(Some("http://global".into()), url("S3"));
    }

    #[test]
    fn ignored_endpoint_urls_are_not_loaded() {
        let service = ServiceEnv {
            env: Arc::new(env(&[
                ("AWS_ENDPOINT_URL_S3", "http://s3"),
                ("AWS_S3_DISABLE_EXPRESS_SESSION_AUTH", "true"),
            ])),
            ignore_endpoint_urls: true,
        };
        assert_eq!(None, service.load_config(key("S3", "AWS_ENDPOINT_URL")));
        let other = key("S3", "AWS_S3_DISABLE_EXPRESS_SESSION_AUTH");
        assert_eq!(Some("true".into()), service.load_config(other));
    }

    #[test]
    fn credentials_need_a_key_and_a_secret() {
        assert!(
            env(&[("AWS_ACCESS_KEY_ID", "AKID")])
                .credentials()
                .is_none()
        );
        let full = env(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]);
        let credentials = full.credentials().unwrap();
        assert_eq!("AKID", credentials.access_key_id());
        assert_eq!(Some("token"), credentials.session_token());
    }

    #[test]
    fn debug_output_names_the_variables_without_their_values() {
        let vars = [
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
            ("AWS_REGION", "eu-west-1"),
        ];
        let builder = Builder::new().environment(vars);
        let shown = format!("{builder:?} {:?}", env(&vars));
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }

    #[test]
    fn bad_roots_are_refused_with_the_reason() {
        let none = check_roots(b"not a certificate").unwrap_err();
        assert!(none.is_certificates());
        assert!(none.to_string().contains("BEGIN CERTIFICATE"), "{none}");
        let garbled = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let error = check_roots(garbled).unwrap_err();
        assert!(error.to_string().contains("certificate 1"), "{error}");
    }
}
