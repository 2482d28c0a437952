//! The AWS clients deploy, destroy, logs and traces use, built once from the standard chain
//! (environment, profiles, SSO, `AWS_ENDPOINT_URL`), and the translation of AWS's errors into
//! ones the user can act on.

pub mod retry;
pub mod signed;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::CliError;

/// The service clients, the account and the region they act in.
#[derive(Debug, Clone)]
pub struct Aws {
    /// Lambda.
    pub lambda: aws_sdk_lambda::Client,
    /// IAM, for the execution roles deploy creates.
    pub iam: aws_sdk_iam::Client,
    /// S3, for code uploads and bucket notifications.
    pub s3: aws_sdk_s3::Client,
    /// EventBridge, for schedules.
    pub events: aws_sdk_eventbridge::Client,
    /// SNS, for topic subscriptions.
    pub sns: aws_sdk_sns::Client,
    /// SQS, for the queues serve's event sources poll (`serve --event-sources`).
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB, for the streams of tables that trigger functions.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// CloudWatch Logs, for the functions' logs (`logs`).
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// IoT Core and Cognito user pools, whose SDK crates are not built (see [`signed`]).
    pub signed: signed::Signed,
    /// Kinesis Data Firehose, for delivery streams whose records functions transform.
    pub firehose: aws_sdk_firehose::Client,
    /// SES, for the receipt rules that hand mail to functions.
    pub ses: aws_sdk_ses::Client,
    /// X-Ray, for the functions' traces (`traces --remote`).
    pub xray: aws_sdk_xray::Client,
    /// Step Functions, for the project's state machines.
    pub sfn: aws_sdk_sfn::Client,
    /// The account the credentials belong to.
    pub account: String,
    /// The region, such as `eu-west-1`.
    pub region: String,
    /// The partition, such as `aws`, from the caller's ARN.
    pub partition: String,
    /// The address of the `cargo lambdakit serve` these clients call instead of AWS
    /// (`deploy --local`): only its Lambda API is there.
    pub local: Option<String>,
}

/// Where to find credentials and region, beside the environment.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// `--region`.
    pub region: Option<String>,
    /// `--profile`.
    pub profile: Option<String>,
}

/// A Step Functions client of `config`, whose endpoint is a local one (serve's): as
/// [`WithoutHostPrefix`] explains.
pub fn local_sfn(config: &aws_config::SdkConfig) -> aws_sdk_sfn::Client {
    let config = aws_sdk_sfn::config::Builder::from(config)
        .interceptor(WithoutHostPrefix)
        .build();
    aws_sdk_sfn::Client::from_conf(config)
}

/// Leaves out the host prefix the SDK puts before a local endpoint's host name.
///
/// Step Functions' StartSyncExecution goes to `sync-` and the endpoint's host (the
/// operation's `hostPrefix`), which does not resolve for an endpoint such as serve's
/// `127.0.0.1`. The other SDKs and the AWS CLI leave it out when
/// `AWS_DISABLE_HOST_PREFIX_INJECTION=true`; the Rust SDK has no such setting, so a client of
/// a local endpoint takes this interceptor, which takes the prefix out again before the
/// request is signed.
#[derive(Debug, Clone, Copy)]
pub struct WithoutHostPrefix;

impl aws_sdk_sfn::config::Intercept for WithoutHostPrefix {
    fn name(&self) -> &'static str {
        "WithoutHostPrefix"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_sfn::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_sfn::config::RuntimeComponents,
        _config: &mut aws_sdk_sfn::config::ConfigBag,
    ) -> Result<(), aws_sdk_sfn::error::BoxError> {
        let request = context.request_mut();
        if let Some((scheme, host)) = request.uri().split_once("://sync-") {
            let uri = format!("{scheme}://{host}");
            request.set_uri(uri)?;
        }
        Ok(())
    }
}

impl Aws {
    /// The clients of AWS, or with `local`, of the `cargo lambdakit serve` at that URL (in
    /// `source`'s region, else the region serve takes from the same shell).
    ///
    /// # Errors
    ///
    /// As [`Aws::connect`] and [`Aws::local`].
    pub async fn connect_or_local(
        source: &Source,
        local: Option<&str>,
        token: Option<&str>,
    ) -> Result<Self, CliError> {
        match local {
            Some(url) => {
                let region = source.region.clone().unwrap_or_else(crate::local::region);
                Self::local(url, &region, token).await
            }
            None => Self::connect(source).await,
        }
    }

    /// Loads the configuration, checks that there is a region and credentials, and asks STS
    /// whose they are.
    ///
    /// # Errors
    ///
    /// [`CliError::AwsSetup`] when the region or credentials are missing or nothing answers at
    /// the endpoint configured, or a [`CliError::Aws`] when STS refuses them.
    pub async fn connect(source: &Source) -> Result<Self, CliError> {
        let config = load(source).await?;
        let region = config.region().map(ToString::to_string).unwrap_or_default();
        let sts = aws_sdk_sts::Client::new(&config);
        let identity = match sts.get_caller_identity().send().await {
            Ok(identity) => identity,
            // An endpoint set in the environment that nothing answers at: a mock not started.
            Err(SdkError::DispatchFailure(_)) if config.endpoint_url().is_some() => {
                return Err(CliError::AwsSetup {
                    problem: format!(
                        "nothing answers at `{}`, the AWS endpoint configured (`AWS_ENDPOINT_URL` or the profile's `endpoint_url`)",
                        config.endpoint_url().unwrap_or_default()
                    ),
                    hint: "start what it points at (LocalStack, moto), or unset it to reach AWS"
                        .into(),
                });
            }
            Err(error) => return Err(failed("sts:GetCallerIdentity", error)),
        };
        let account = identity.account().unwrap_or_default().to_owned();
        let partition = identity
            .arn()
            .and_then(|arn| arn.split(':').nth(1))
            .unwrap_or("aws")
            .to_owned();
        // A custom endpoint (a local mock, a proxy) has no per-bucket host names.
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Ok(Self {
            lambda: aws_sdk_lambda::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            events: aws_sdk_eventbridge::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            firehose: aws_sdk_firehose::Client::new(&config),
            signed: signed::Signed::new(&config, &partition),
            ses: aws_sdk_ses::Client::new(&config),
            xray: aws_sdk_xray::Client::new(&config),
            sfn: aws_sdk_sfn::Client::new(&config),
            account,
            region,
            partition,
            local: None,
        })
    }

    /// Clients of the Lambda API of a `cargo lambdakit serve` at `url`, with fixed credentials
    /// and serve's account and region (the one its ARNs name, else `region`; no AWS
    /// credentials, no STS); checks that serve answers. A serve that requires a `token` (see
    /// `serve --allow-remote`) takes it as both the access key id and the secret access key the
    /// requests are signed with (serve checks the signature). The other services' clients
    /// point there too, and are not to be called.
    ///
    /// # Errors
    ///
    /// [`CliError::AwsSetup`] when nothing answers at `url`, or a [`CliError::Aws`] when what
    /// answers refuses `lambda:ListFunctions`.
    pub async fn local(url: &str, region: &str, token: Option<&str>) -> Result<Self, CliError> {
        let credentials = aws_credential_types::Credentials::new(
            token.unwrap_or("lambdakit-local"),
            token.unwrap_or("lambdakit-local"),
            None,
            None,
            "lambdakit-local",
        );
        let config = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .endpoint_url(url)
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            )
            .http_client(http_client())
            .build();
        let lambda = aws_sdk_lambda::Client::new(&config);
        // The region serve's ARNs name (from its own shell), when it lists a function.
        let serves_in = match lambda.list_functions().max_items(1).send().await {
            Ok(listed) => listed
                .functions()
                .first()
                .and_then(|function| function.function_arn())
                .and_then(|arn| arn.split(':').nth(3))
                .map(str::to_owned),
            Err(SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => {
                return Err(CliError::AwsSetup {
                    problem: format!(
                        "nothing answers at `{url}`: `cargo lambdakit serve` is not running there"
                    ),
                    hint: format!(
                        "start it with `cargo lambdakit serve` (it listens on {}), or pass its address: `--local URL`",
                        crate::local::DEFAULT_URL
                    ),
                });
            }
            Err(error)
                if matches!(
                    code(&error),
                    Some(
                        "MissingAuthenticationTokenException"
                            | "UnrecognizedClientException"
                            | "InvalidSignatureException"
                    )
                ) =>
            {
                let given = if token.is_some() {
                    "the token given is not its own"
                } else {
                    "none was given"
                };
                return Err(CliError::AwsSetup {
                    problem: format!(
                        "the `cargo lambdakit serve` at `{url}` requires its token, and {given}"
                    ),
                    hint: "pass the token serve printed when it started: `--token TOKEN`, or `LAMBDAKIT_SERVE_TOKEN`".into(),
                });
            }
            Err(error) => return Err(failed("lambda:ListFunctions", error)),
        };
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build();
        Ok(Self {
            lambda,
            iam: aws_sdk_iam::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            events: aws_sdk_eventbridge::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            firehose: aws_sdk_firehose::Client::new(&config),
            signed: signed::Signed::new(&config, "aws"),
            ses: aws_sdk_ses::Client::new(&config),
            xray: aws_sdk_xray::Client::new(&config),
            sfn: local_sfn(&config),
            account: crate::local::ACCOUNT.to_owned(),
            region: serves_in.unwrap_or_else(|| region.to_owned()),
            partition: "aws".to_owned(),
            local: Some(url.to_owned()),
        })
    }

    /// The ARN of the IAM role named `name`.
    pub fn role_arn(&self, name: &str) -> String {
        self.place().role_arn(name)
    }

    /// The ARN of a resource of `service` in this account and region.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        self.place().arn(service, resource)
    }

    /// The partition, region and account these clients act in.
    pub fn place(&self) -> Place<'_> {
        Place {
            partition: &self.partition,
            region: &self.region,
            account: &self.account,
        }
    }
}

/// Where ARNs point: a partition, a region and an account. Deploy's are the caller's;
/// `template`'s are CloudFormation's pseudo parameters, so that the code computing a policy
/// or an ARN is the same for both.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// Such as `aws`.
    pub partition: &'a str,
    /// Such as `eu-west-1`.
    pub region: &'a str,
    /// Such as `123456789012`.
    pub account: &'a str,
}

impl Place<'_> {
    /// The ARN of the IAM role named `name`.
    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:role/{name}", self.partition, self.account)
    }

    /// The ARN of a resource of `service` in this account and region.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition, self.region, self.account
        )
    }
}

/// Loads the SDK's configuration and checks, before any call, that it has a region and
/// credentials.
///
/// # Errors
///
/// [`CliError::AwsSetup`] naming what is missing and where to set it.
pub async fn load(source: &Source) -> Result<aws_config::SdkConfig, CliError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client());
    if let Some(region) = &source.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(profile) = &source.profile {
        loader = loader.profile_name(profile);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(CliError::AwsSetup {
            problem: "no AWS region is configured".into(),
            hint: "set `AWS_REGION`, a `region` in your AWS profile, or pass `--region`".into(),
        });
    }
    let missing_credentials = |reason: String| {
        CliError::AwsSetup {
        problem: format!("no AWS credentials were found ({reason})"),
        hint: "set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, run `aws configure` or `aws sso login`, or pass `--profile`".into(),
    }
    };
    let provider = config
        .credentials_provider()
        .ok_or_else(|| missing_credentials("no credentials provider".into()))?;
    provider
        .provide_credentials()
        .await
        .map_err(|error| missing_credentials(DisplayErrorContext(&error).to_string()))?;
    Ok(config)
}

/// The SDK's HTTP client, on rustls with ring (which builds fast and needs no cmake); it
/// speaks plain HTTP too, for local endpoints.
pub fn http_client() -> aws_sdk_lambda::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The error code of a failed call, such as `ResourceNotFoundException`.
pub fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// Whether the call failed because what it names does not exist.
pub fn not_found<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    matches!(
        code(error),
        Some(
            "ResourceNotFoundException"
                | "StateMachineDoesNotExist"
                | "NoSuchEntity"
                | "NoSuchBucket"
                | "NotFound"
                | "NotFoundException"
        )
    )
}

/// A failed call of `operation` (`service:Action`, as IAM names it) as the user sees it.
pub fn failed<E, R>(operation: &str, error: SdkError<E, R>) -> CliError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + Answered,
{
    let (code, message) = match &error {
        SdkError::ServiceError(service) => {
            let parsed = service.err();
            match parsed.code() {
                Some(code) => (
                    Some(code.to_owned()),
                    parsed.message().unwrap_or_default().to_owned(),
                ),
                // An answer the SDK could not read (some mocks and proxies answer in another
                // shape): its status and any `<Code>`/`<Message>` it has still say what
                // happened.
                None => {
                    let (status, body) = service.raw().answer();
                    let code = tag(&body, "Code").unwrap_or_else(|| format!("HTTP {status}"));
                    let message = tag(&body, "Message").unwrap_or(body);
                    (Some(code), message)
                }
            }
        }
        _ => (None, DisplayErrorContext(&error).to_string()),
    };
    CliError::Aws {
        operation: operation.to_owned(),
        code,
        message,
    }
}

/// The status and body text of a raw AWS answer.
pub trait Answered {
    /// Its HTTP status and body, as text.
    fn answer(&self) -> (u16, String);
}

impl Answered for aws_sdk_lambda::config::http::HttpResponse {
    fn answer(&self) -> (u16, String) {
        let body = self
            .body()
            .bytes()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default();
        (self.status().as_u16(), body)
    }
}

/// The text of the first `<name>...</name>` element in `xml`.
fn tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_owned())
}

/// A request the SDK refused to build: a bug of ours, named by the call it was for.
pub fn invalid(operation: &str, error: impl std::fmt::Display) -> CliError {
    CliError::Aws {
        operation: operation.to_owned(),
        code: None,
        message: format!("the request could not be built ({error}); please report this"),
    }
}
