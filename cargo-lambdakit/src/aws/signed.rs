//! Signed calls to the AWS APIs whose SDK crates `cargo lambdakit` does not build.
//!
//! Deploy makes four calls to IoT Core (the topic rules of `triggers.iot`) and two to Cognito
//! user pools (`triggers.cognito`). Their SDK crates are among the largest there are
//! (`aws-sdk-iot` is 383,000 lines, 1.75 times IAM's, and took five minutes of a two-core
//! build): every user installing `cargo lambdakit` would pay that for six calls. These calls
//! are made here instead, from the SDK's own parts: the credentials and endpoint of the same
//! configuration, a signature by `aws-sigv4` (the signer the SDK uses) and the SDK's HTTP
//! connector (rustls). Errors come back as the SDK's do, as [`Failure`] with the service's code.
//!
//! `serve --event-sources` reads Kinesis and DynamoDB streams (`emulator::sources`) the same
//! way, in AWS JSON 1.1 and 1.0.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::{HttpConnector as _, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use serde_json::Value;

use super::retry::Backoff;
use crate::error::CliError;

/// How long one attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long transient failures (throttling, a 5xx, no connection) are retried.
const RETRY_LIMIT: Duration = Duration::from_secs(20);

/// An AWS API called through [`Signed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// IoT Core's control plane: REST, JSON bodies.
    Iot,
    /// Cognito user pools: AWS JSON 1.1 (`X-Amz-Target`).
    CognitoUserPools,
    /// Kinesis Data Streams: AWS JSON 1.1.
    Kinesis,
    /// DynamoDB Streams: AWS JSON 1.0, signed as `dynamodb`, at `streams.dynamodb.REGION`.
    DynamoDbStreams,
    /// API Gateway V2 (HTTP APIs): REST, JSON bodies, paths under `/v2/`.
    ApiGatewayV2,
}

impl Api {
    /// The name requests are signed for, which is also the endpoint's first label.
    fn signing_name(self) -> &'static str {
        match self {
            Self::Iot => "iot",
            Self::CognitoUserPools => "cognito-idp",
            Self::Kinesis => "kinesis",
            Self::DynamoDbStreams => "dynamodb",
            Self::ApiGatewayV2 => "apigateway",
        }
    }

    /// The first labels of its regional endpoint's host name.
    fn endpoint_prefix(self) -> &'static str {
        match self {
            Self::DynamoDbStreams => "streams.dynamodb",
            other => other.signing_name(),
        }
    }

    /// The version of the AWS JSON protocol it speaks (its `Content-Type`).
    fn json_version(self) -> &'static str {
        match self {
            Self::DynamoDbStreams => "1.0",
            _ => "1.1",
        }
    }

    /// The prefix of its `X-Amz-Target` header (AWS JSON APIs).
    fn target_prefix(self) -> Option<&'static str> {
        match self {
            Self::Iot | Self::ApiGatewayV2 => None,
            Self::CognitoUserPools => Some("AWSCognitoIdentityProviderService"),
            Self::Kinesis => Some("Kinesis_20131202"),
            Self::DynamoDbStreams => Some("DynamoDBStreams_20120810"),
        }
    }
}

/// A request to a REST API: method, path (percent-encoded) and JSON body.
#[derive(Debug)]
pub struct Rest<'a> {
    /// `GET`, `POST`, `PATCH`, `DELETE`.
    pub method: http::Method,
    /// Such as `/rules/lambdakit_hello_0`.
    pub path: &'a str,
    /// The body, if any.
    pub body: Option<&'a Value>,
}

/// Calls signed with the credentials of the SDK configuration they were made from.
#[derive(Debug, Clone)]
pub struct Signed {
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    /// The endpoint configured for every service (`AWS_ENDPOINT_URL`: a mock, a proxy).
    endpoint: Option<String>,
    /// The partition's domain: `amazonaws.com`, `amazonaws.com.cn`.
    domain: &'static str,
    /// The SDK's connector, on rustls with ring as [`super::http_client`].
    connector: SharedHttpConnector,
}

impl Signed {
    /// Calls with `config`'s credentials, region and endpoint, in `partition` (`aws`, `aws-cn`).
    pub fn new(config: &aws_config::SdkConfig, partition: &str) -> Self {
        Self {
            credentials: config.credentials_provider(),
            region: config.region().map(ToString::to_string).unwrap_or_default(),
            endpoint: config.endpoint_url().map(str::to_owned),
            domain: if partition == "aws-cn" {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            },
            connector: SharedHttpConnector::new(
                aws_smithy_http_client::Connector::builder()
                    .tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build(),
            ),
        }
    }

    /// Calls a REST API; the JSON it answers (`null` for an empty body).
    ///
    /// # Errors
    ///
    /// [`Failure`] with the service's error code, or without one when nothing answered.
    pub async fn rest(&self, api: Api, request: Rest<'_>) -> Result<Value, Failure> {
        let body = request.body.map(Value::to_string).unwrap_or_default();
        let mut headers = Vec::new();
        if request.body.is_some() {
            headers.push(("content-type", "application/json".to_owned()));
        }
        self.call(api, &request.method, request.path, headers, body)
            .await
    }

    /// Calls `action` of an AWS JSON API (1.0 or 1.1, as `api` speaks) with `body`; the JSON
    /// it answers.
    ///
    /// # Errors
    ///
    /// As [`Signed::rest`].
    pub async fn json(&self, api: Api, action: &str, body: &Value) -> Result<Value, Failure> {
        let prefix = api.target_prefix().unwrap_or_default();
        let headers = vec![
            (
                "content-type",
                format!("application/x-amz-json-{}", api.json_version()),
            ),
            ("x-amz-target", format!("{prefix}.{action}")),
        ];
        self.call(api, &http::Method::POST, "/", headers, body.to_string())
            .await
    }

    /// The endpoint of `api`: the one configured, else the regional one.
    fn endpoint(&self, api: Api) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => format!(
                "https://{}.{}.{}",
                api.endpoint_prefix(),
                self.region,
                self.domain
            ),
        }
    }

    /// Sends the request, retrying what AWS says to retry.
    async fn call(
        &self,
        api: Api,
        method: &http::Method,
        path: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) -> Result<Value, Failure> {
        let uri = format!("{}{path}", self.endpoint(api));
        let mut backoff = Backoff::new(RETRY_LIMIT);
        loop {
            let attempt = self.attempt(api, method, &uri, &headers, &body);
            let failure = match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(failure)) => failure,
                Err(_) => Failure::unanswered(format!(
                    "no answer from `{uri}` within {} s",
                    ATTEMPT_TIMEOUT.as_secs()
                )),
            };
            if !failure.transient() || !backoff.wait().await {
                return Err(failure);
            }
        }
    }

    /// One signed request and its answer.
    async fn attempt(
        &self,
        api: Api,
        method: &http::Method,
        uri: &str,
        headers: &[(&'static str, String)],
        body: &str,
    ) -> Result<Value, Failure> {
        let credentials = match &self.credentials {
            Some(provider) => provider.provide_credentials().await.map_err(|error| {
                Failure::unanswered(format!("no credentials to sign with: {error}"))
            })?,
            None => return Err(Failure::unanswered("no credentials to sign with".into())),
        };
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(api.signing_name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| Failure::unanswered(format!("the request was not signed: {error}")))?;
        let signable = SignableRequest::new(
            method.as_str(),
            uri,
            headers.iter().map(|(name, value)| (*name, value.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|error| Failure::unanswered(format!("the request was not signed: {error}")))?;
        let (instructions, _signature) = sign(signable, &params.into())
            .map_err(|error| Failure::unanswered(format!("the request was not signed: {error}")))?
            .into_parts();

        let mut request = HttpRequest::new(SdkBody::from(body.to_owned()));
        request
            .set_uri(uri)
            .map_err(|error| Failure::unanswered(format!("`{uri}` is not a URL: {error}")))?;
        request
            .set_method(method.as_str())
            .map_err(|error| Failure::unanswered(error.to_string()))?;
        let (signature_headers, _) = instructions.into_parts();
        let all = headers
            .iter()
            .map(|(name, value)| (*name, value.clone()))
            .chain(
                signature_headers
                    .iter()
                    .map(|header| (header.name(), header.value().to_owned())),
            );
        for (name, value) in all {
            request.headers_mut().insert(name, value);
        }

        let response = self
            .connector
            .call(request)
            .await
            .map_err(|error| Failure::unanswered(error.to_string()))?;
        let status = response.status().as_u16();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .map(str::to_owned);
        let bytes = ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|error| Failure::unanswered(format!("the answer was cut off: {error}")))?
            .into_bytes();
        if (200..300).contains(&status) {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|error| Failure::unanswered(format!("the answer is not JSON ({error})")));
        }
        Err(Failure::answered(status, error_type.as_deref(), &bytes))
    }
}

/// A call that failed: the service's error, or no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The HTTP status, when the service answered.
    status: Option<u16>,
    /// The service's error code, such as `ResourceNotFoundException`.
    code: Option<String>,
    message: String,
}

impl Failure {
    fn unanswered(message: String) -> Self {
        Self {
            status: None,
            code: None,
            message,
        }
    }

    /// The error in an answer: its code from `X-Amzn-ErrorType` or the body's `__type` /
    /// `code` (either may carry a namespace before `#` or a link after `:`), its message
    /// from the body's `message` / `Message`.
    fn answered(status: u16, error_type: Option<&str>, body: &[u8]) -> Self {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let field = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| parsed.get(*name).and_then(Value::as_str))
                .map(str::to_owned)
        };
        let code = error_type
            .map(str::to_owned)
            .or_else(|| field(&["__type", "code", "Code"]))
            .map(|code| {
                let code = code.rsplit('#').next().unwrap_or_default();
                code.split(':').next().unwrap_or_default().to_owned()
            })
            .filter(|code| !code.is_empty())
            .unwrap_or_else(|| format!("HTTP {status}"));
        let message = field(&["message", "Message", "errorMessage"])
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        Self {
            status: Some(status),
            code: Some(code),
            message,
        }
    }

    /// The service's error code, when it answered.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// Whether the call may succeed if made again: throttled, a server error, no answer.
    fn transient(&self) -> bool {
        match self.status {
            None => true,
            Some(status) => {
                status == 429
                    || (status >= 500 && status != 501)
                    || matches!(
                        self.code(),
                        Some("ThrottlingException" | "TooManyRequestsException")
                    )
            }
        }
    }

    /// The failure of `operation` (`service:Action`, as IAM names it) as the user sees it.
    pub fn into_error(self, operation: &str) -> CliError {
        CliError::Aws {
            operation: operation.to_owned(),
            code: self.code,
            message: self.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use aws_config::BehaviorVersion;
    use aws_credential_types::Credentials;
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::rt::TokioIo;
    use serde_json::json;

    use super::*;
    use crate::emulator::sigv4;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// A server on 127.0.0.1 that checks each request's signature with serve's verifier
    /// (tested on AWS's published vectors), answers the first `busy` requests with a 503,
    /// and records what it checked; the `Signed` that calls it.
    async fn checked(busy: usize) -> (Signed, Arc<Mutex<Vec<String>>>) {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let answered = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, answered) = (Arc::clone(&log), Arc::clone(&answered));
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let (log, answered) = (Arc::clone(&log), Arc::clone(&answered));
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let header = parts.headers["authorization"].to_str().unwrap();
                            let authorization =
                                sigv4::Authorization::parse(header).unwrap().unwrap();
                            let signed = sigv4::Signed {
                                method: parts.method.as_str(),
                                path: parts.uri.path(),
                                query: parts.uri.query().unwrap_or_default(),
                                headers: &parts.headers,
                            };
                            let target = parts
                                .headers
                                .get("x-amz-target")
                                .map(|target| target.to_str().unwrap().to_owned());
                            let service = if target.is_some() {
                                "cognito-idp"
                            } else {
                                "iot"
                            };
                            let verdict = authorization
                                .check(&parts.headers, service, SystemTime::now())
                                .and_then(|()| authorization.verify(&signed, SECRET, &body));
                            log.lock().unwrap().push(format!(
                                "{} {} {service} {target:?} {verdict:?}",
                                parts.method,
                                parts.uri.path()
                            ));
                            let status = if answered.fetch_add(1, Ordering::SeqCst) < busy {
                                503
                            } else {
                                200
                            };
                            Ok::<_, std::convert::Infallible>(
                                http::Response::builder()
                                    .status(status)
                                    .body(Full::new(bytes::Bytes::from(
                                        json!({"echo": String::from_utf8_lossy(&body)}).to_string(),
                                    )))
                                    .unwrap(),
                            )
                        }
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        let config = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .endpoint_url(endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                SECRET,
                Some("a-session-token".into()),
                None,
                "tests",
            )))
            .build();
        (Signed::new(&config, "aws"), seen)
    }

    #[tokio::test]
    async fn requests_are_signed_as_aws_checks_them_and_busy_answers_retried() {
        let (signed, seen) = checked(1).await;
        let body = json!({"sql": "SELECT * FROM 'a/+/b'"});
        let rest = Rest {
            method: http::Method::PATCH,
            path: "/rules/lambdakit_intake_0",
            body: Some(&body),
        };
        let answer = signed.rest(Api::Iot, rest).await.unwrap();
        assert_eq!(answer["echo"], body.to_string());
        let answer = signed
            .json(
                Api::CognitoUserPools,
                "DescribeUserPool",
                &json!({"UserPoolId": "x"}),
            )
            .await
            .unwrap();
        assert_eq!(answer["echo"], r#"{"UserPoolId":"x"}"#);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "PATCH /rules/lambdakit_intake_0 iot None Ok(())",
                "PATCH /rules/lambdakit_intake_0 iot None Ok(())",
                "POST / cognito-idp Some(\"AWSCognitoIdentityProviderService.DescribeUserPool\") Ok(())",
            ]
        );
    }

    #[test]
    fn error_codes_are_read_from_the_header_or_the_body_without_namespace_or_link() {
        let rest = Failure::answered(
            404,
            Some("ResourceNotFoundException:http://internal.amazon.com/coral/"),
            br#"{"message":"The rule lambdakit_x_0 does not exist"}"#,
        );
        assert_eq!(rest.code(), Some("ResourceNotFoundException"));
        assert_eq!(rest.message, "The rule lambdakit_x_0 does not exist");
        let json = Failure::answered(
            400,
            None,
            br#"{"__type":"com.amazonaws.cognito#ResourceNotFoundException","message":"User pool x does not exist."}"#,
        );
        assert_eq!(json.code(), Some("ResourceNotFoundException"));
        let bare = Failure::answered(502, None, b"Bad Gateway");
        assert_eq!(bare.code(), Some("HTTP 502"));
        assert_eq!(bare.message, "Bad Gateway");
        assert!(bare.transient());
        assert!(!rest.transient());
        assert!(Failure::answered(400, Some("ThrottlingException"), b"{}").transient());
    }
}
