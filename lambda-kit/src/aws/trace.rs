//! AWS SDK calls as client spans of the invocation's trace, recorded by an interceptor on the
//! SDK's client.
//!
//! Each call (an execution, retries included) is one span of kind `CLIENT` under the span
//! current when it was made, with OpenTelemetry's semantic conventions for AWS SDK calls:
//! `rpc.system` `aws-api`, `rpc.service` and `rpc.method` (the SDK's service and operation
//! names, as its config bag's `Metadata` holds them), `cloud.region`, `aws.request_id` (the
//! `x-amzn-requestid` or `x-amz-request-id` response header), `aws.extended_request_id` (S3's
//! `x-amz-id-2`), `http.response.status_code`, and for a failed call `error.type` (the AWS error
//! code), an `exception` event and the error status. `aws.retries` counts the attempts after the
//! first. The X-Ray exporter writes such a span as the X-Ray SDKs write an AWS call: an `aws`
//! subsegment named for the service, with `aws.operation`, `aws.region`, `aws.request_id` and
//! `aws.retries`. The span ends when the SDK hands over the output: a streamed body (S3's
//! `GetObject`) is read after it.

use std::borrow::Cow;
use std::sync::Mutex;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_types::region::Region;

use crate::trace::{Attributes, Kind, Recording, SpanEvent, Value};

/// Records every call made with the SDK client it is added to as a client span of the
/// invocation's trace (feature `trace`), under the span current when the call was made.
///
/// The span carries the service, operation, region, AWS request id, retries, HTTP status and,
/// for a failed call, the error's code and message, as OpenTelemetry's conventions for AWS SDK
/// calls name them; the X-Ray exporter writes it as an `aws` subsegment, as the X-Ray SDKs do.
/// In an invocation that is not sampled, or outside one, it records nothing: a call costs a
/// thread-local and a task-local read.
///
/// # Examples
///
/// One line on the client's configuration:
///
/// ```no_run
/// # async fn example(sdk_config: aws_types::SdkConfig) {
/// let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config)
///     .interceptor(lambda_kit::aws::TraceInterceptor::new())
///     .build();
/// let dynamodb = aws_sdk_dynamodb::Client::from_conf(config);
/// # let _ = dynamodb;
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct TraceInterceptor {
    _private: (),
}

impl TraceInterceptor {
    /// The interceptor; it holds nothing, so one per client is as good as a shared one.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The call being recorded, kept in the operation's config bag from its start to its end.
#[derive(Debug)]
struct Call(Mutex<Option<Recording>>);

impl Storable for Call {
    type Storer = StoreReplace<Self>;
}

impl Intercept for TraceInterceptor {
    fn name(&self) -> &'static str {
        "lambda_kit::aws::TraceInterceptor"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(recording) = Recording::current() {
            cfg.interceptor_state()
                .store_put(Call(Mutex::new(Some(recording))));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(mut recording) = cfg.load::<Call>().and_then(|call| {
            call.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        }) else {
            return Ok(());
        };
        let (service, operation) = cfg.load::<Metadata>().map_or(("AWS", "call"), |metadata| {
            (metadata.service(), metadata.name())
        });
        let mut attributes: Attributes = vec![
            ("rpc.system".into(), Value::Str("aws-api".into())),
            ("rpc.service".into(), Value::Str(service.to_owned().into())),
            ("rpc.method".into(), Value::Str(operation.to_owned().into())),
        ];
        if let Some(region) = cfg.load::<Region>() {
            attributes.push((
                "cloud.region".into(),
                Value::Str(region.as_ref().to_owned().into()),
            ));
        }
        let response = context.response();
        if let Some(response) = response {
            let headers = response.headers();
            let request_id = headers
                .get("x-amzn-requestid")
                .or_else(|| headers.get("x-amz-request-id"));
            if let Some(request_id) = request_id {
                attributes.push((
                    "aws.request_id".into(),
                    Value::Str(request_id.to_owned().into()),
                ));
            }
            if let Some(id) = headers.get("x-amz-id-2") {
                attributes.push((
                    "aws.extended_request_id".into(),
                    Value::Str(id.to_owned().into()),
                ));
            }
            attributes.push((
                "http.response.status_code".into(),
                Value::I64(i64::from(response.status().as_u16())),
            ));
        }
        let attempts = cfg
            .load::<RequestAttempts>()
            .map_or(0, |attempts| attempts.attempts());
        attributes.push((
            "aws.retries".into(),
            Value::I64(i64::from(attempts.saturating_sub(1))),
        ));
        if let Some(Err(error)) = context.output_or_error() {
            let (code, message) = match error.as_operation_error() {
                Some(error) => {
                    let message = error.to_string();
                    let code = response
                        .and_then(error_code)
                        .or_else(|| code_of_message(&message))
                        .unwrap_or_else(|| "_OTHER".to_owned());
                    (code, message)
                }
                // Not an answer of the service's: a timeout, a failed connection, a response
                // that could not be read, an interceptor's error.
                None => {
                    let mut message = error.to_string();
                    let mut source = std::error::Error::source(error);
                    while let Some(cause) = source {
                        message.push_str(": ");
                        message.push_str(&cause.to_string());
                        source = cause.source();
                    }
                    (error.to_string(), message)
                }
            };
            attributes.push(("error.type".into(), Value::Str(code.clone().into())));
            recording.event(
                SpanEvent {
                    time: std::time::SystemTime::now(),
                    name: "exception".to_owned(),
                    attributes: vec![
                        ("exception.type".into(), Value::Str(code.into())),
                        (
                            "exception.message".into(),
                            Value::Str(message.clone().into()),
                        ),
                    ],
                },
                false,
            );
            recording.fail(message);
        }
        recording.finish_as(
            Cow::Owned(format!("{service}.{operation}")),
            Kind::Client,
            attributes,
        );
        Ok(())
    }
}

/// The AWS error code in an error response, as the services' protocols carry it: the
/// `x-amzn-ErrorType` header (JSON protocols; `Code:more`), a JSON body's `__type` or `code`
/// (`namespace#Code`), or an XML body's `<Code>` (REST-XML, Query, EC2).
fn error_code(response: &HttpResponse) -> Option<String> {
    let clean = |code: &str| {
        let code = code.split(':').next().unwrap_or(code);
        let code = code.rsplit('#').next().unwrap_or(code).trim();
        (!code.is_empty()).then(|| code.to_owned())
    };
    if let Some(code) = response.headers().get("x-amzn-errortype").and_then(clean) {
        return Some(code);
    }
    let body = response.body().bytes()?;
    if body.first() == Some(&b'{') {
        let json: serde_json::Value = serde_json::from_slice(body).ok()?;
        let code = json
            .get("__type")
            .or_else(|| json.get("code"))
            .or_else(|| json.get("Code"))?;
        return code.as_str().and_then(clean);
    }
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    clean(&text[start..end])
}

/// The code an SDK error's message starts with (`Code: message`, `Code`), when it looks like one.
fn code_of_message(message: &str) -> Option<String> {
    let code = message.split(':').next()?;
    (!code.is_empty()
        && code
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'.'))
    .then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn response(header: Option<&str>, body: &str) -> HttpResponse {
        let mut response = HttpResponse::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(body.to_owned()),
        );
        if let Some(value) = header {
            response
                .headers_mut()
                .insert("x-amzn-ErrorType", value.to_owned());
        }
        response
    }

    #[test]
    fn error_codes_are_read_as_each_protocol_carries_them() {
        let cases = [
            (
                Some("ValidationException:http://internal.amazon.com/coral/"),
                "",
                "ValidationException",
            ),
            (
                None,
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"x"}"#,
                "ResourceNotFoundException",
            ),
            (
                None,
                r#"{"code":"ThrottlingException"}"#,
                "ThrottlingException",
            ),
            (
                None,
                "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>m</Message></Error>",
                "NoSuchBucket",
            ),
        ];
        for (header, body, code) in cases {
            assert_eq!(
                error_code(&response(header, body)).as_deref(),
                Some(code),
                "{body}"
            );
        }
        assert_eq!(error_code(&response(None, "")), None);
        assert_eq!(
            code_of_message("ResourceNotFoundException: Requested resource not found").as_deref(),
            Some("ResourceNotFoundException")
        );
        assert_eq!(code_of_message("unhandled error (Oops)"), None);
    }
}
