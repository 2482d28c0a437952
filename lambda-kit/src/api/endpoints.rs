//! One function per Runtime API path, each speaking in typed values.
//!
//! The contract is AWS's "Using the Lambda runtime API for custom runtimes" (version 2018-06-01).

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};

use super::client::{Body, Client};
use crate::context::{ClientContext, CognitoIdentity, HeaderStr};
use crate::{Config, Context, Diagnostic, Error};

const REQUEST_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-request-id");
const DEADLINE_MS: HeaderName = HeaderName::from_static("lambda-runtime-deadline-ms");
const FUNCTION_ARN: HeaderName = HeaderName::from_static("lambda-runtime-invoked-function-arn");
const TRACE_ID: HeaderName = HeaderName::from_static("lambda-runtime-trace-id");
const CLIENT_CONTEXT: HeaderName = HeaderName::from_static("lambda-runtime-client-context");
const COGNITO_IDENTITY: HeaderName = HeaderName::from_static("lambda-runtime-cognito-identity");
const TENANT_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-tenant-id");
const ERROR_TYPE: HeaderName = HeaderName::from_static("lambda-runtime-function-error-type");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The Runtime API's paths, built once from the configured prefix.
#[derive(Debug)]
pub(crate) struct Endpoints {
    next: Uri,
    init_error: Uri,
    /// `{prefix}/2018-06-01/runtime/invocation/`, to which a request id and a verb are added.
    invocation: Bytes,
}

impl Endpoints {
    pub(crate) fn new(config: &Config) -> Result<Self, Error> {
        let base = &config.runtime_api().base_path;
        let uri = |path: String| {
            Uri::try_from(path).map_err(|source| {
                Error::config(
                    crate::config::RUNTIME_API_VAR,
                    "has a path that is not valid in a URL",
                )
                .with_source(source)
            })
        };
        Ok(Self {
            next: uri(format!("{base}/runtime/invocation/next"))?,
            init_error: uri(format!("{base}/runtime/init/error"))?,
            invocation: Bytes::from(format!("{base}/runtime/invocation/")),
        })
    }

    fn invocation(&self, request_id: &str, verb: &str) -> Result<Uri, Error> {
        let mut path =
            BytesMut::with_capacity(self.invocation.len() + request_id.len() + verb.len());
        path.put_slice(&self.invocation);
        path.put_slice(request_id.as_bytes());
        path.put_slice(verb.as_bytes());
        Uri::from_maybe_shared(path.freeze()).map_err(|_| {
            Error::protocol(format!(
                "request id `{request_id}` cannot be part of a URL path"
            ))
        })
    }
}

/// What `/next` handed out.
#[derive(Debug)]
pub(crate) enum Next {
    /// An invocation to run.
    Invocation { context: Context, body: Bytes },
    /// An invocation that cannot be run; report `problem` for it and go on.
    Invalid {
        request_id: HeaderStr,
        problem: String,
    },
}

/// `GET /runtime/invocation/next`: waits for the next invocation.
///
/// # Errors
///
/// Fails when the Runtime API cannot be reached or answers with no usable request id, since then
/// there is nobody to report to; every other fault comes back as [`Next::Invalid`].
pub(crate) async fn next(
    client: &mut Client,
    endpoints: &Endpoints,
    config: &Arc<Config>,
) -> Result<Next, Error> {
    let next = || request(Method::GET, endpoints.next.clone(), Bytes::new());
    let response = match client.send(next()).await {
        Ok(response) => response,
        // The connection broke while waiting. Asking again is safe: `/next` changes nothing.
        Err(error) if error.is_connect() => {
            tracing::warn!(error = ?error, "the Runtime API connection broke during `/next`; asking again");
            client.send(next()).await?
        }
        Err(error) => return Err(error),
    };
    let (parts, body) = response.into_parts();
    if parts.status != StatusCode::OK {
        let body = body
            .collect()
            .await
            .map(|body| body.to_bytes())
            .unwrap_or_default();
        return Err(Error::protocol(format!(
            "`/next` answered {} with `{}`",
            parts.status,
            String::from_utf8_lossy(&body)
        )));
    }
    let mut headers = parts.headers;
    let request_id = headers
        .remove(REQUEST_ID)
        .and_then(HeaderStr::new)
        .filter(|id| !id.as_str().is_empty())
        .ok_or_else(|| {
            client.reset();
            Error::protocol("`/next` answered without a `Lambda-Runtime-Aws-Request-Id` header")
        })?;
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            client.reset();
            return Ok(Next::Invalid {
                request_id,
                problem: format!("the event body could not be read: {error}"),
            });
        }
    };
    Ok(match context(request_id.clone(), &mut headers, config) {
        Ok(context) => Next::Invocation { context, body },
        Err(problem) => Next::Invalid {
            request_id,
            problem,
        },
    })
}

fn context(
    request_id: HeaderStr,
    headers: &mut HeaderMap,
    config: &Arc<Config>,
) -> Result<Context, String> {
    let deadline = headers.remove(DEADLINE_MS);
    let deadline_ms = deadline
        .as_ref()
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| match &deadline {
            Some(value) => format!(
                "the `Lambda-Runtime-Deadline-Ms` header is `{}`, not a number of milliseconds",
                String::from_utf8_lossy(value.as_bytes())
            ),
            None => "the `Lambda-Runtime-Deadline-Ms` header is missing".to_owned(),
        })?;
    let text =
        |headers: &mut HeaderMap, name: HeaderName| headers.remove(name).and_then(HeaderStr::new);
    let invoked_function_arn = text(headers, FUNCTION_ARN).unwrap_or(HeaderStr::from_static(""));
    let xray_trace_id = text(headers, TRACE_ID);
    let tenant_id = text(headers, TENANT_ID);
    let client_context =
        json_header::<ClientContext>(headers, CLIENT_CONTEXT, "Lambda-Runtime-Client-Context")?;
    let identity = json_header::<CognitoIdentity>(
        headers,
        COGNITO_IDENTITY,
        "Lambda-Runtime-Cognito-Identity",
    )?;
    Ok(Context {
        request_id,
        deadline_ms,
        invoked_function_arn,
        xray_trace_id,
        tenant_id,
        client_context,
        identity,
        config: Arc::clone(config),
    })
}

fn json_header<T: serde::de::DeserializeOwned>(
    headers: &mut HeaderMap,
    name: HeaderName,
    display_name: &str,
) -> Result<Option<Arc<T>>, String> {
    match headers.remove(name) {
        None => Ok(None),
        Some(value) => serde_json::from_slice(value.as_bytes())
            .map(|parsed| Some(Arc::new(parsed)))
            .map_err(|error| format!("the `{display_name}` header is not valid JSON: {error}")),
    }
}

/// `POST /runtime/invocation/{id}/response`: the invocation's result.
pub(crate) async fn response(
    client: &mut Client,
    endpoints: &Endpoints,
    request_id: &str,
    body: Bytes,
) -> Result<(), Error> {
    let uri = endpoints.invocation(request_id, "/response")?;
    let mut request = request(Method::POST, uri, body);
    request.headers_mut().insert(CONTENT_TYPE, JSON);
    post(client, request, "/response").await
}

/// `POST /runtime/invocation/{id}/error`: the invocation failed.
pub(crate) async fn error(
    client: &mut Client,
    endpoints: &Endpoints,
    request_id: &str,
    diagnostic: &Diagnostic,
) -> Result<(), Error> {
    let uri = endpoints.invocation(request_id, "/error")?;
    post(client, error_request(uri, diagnostic), "/error").await
}

/// `POST /runtime/init/error`: the function could not start.
pub(crate) async fn init_error(
    client: &mut Client,
    endpoints: &Endpoints,
    diagnostic: &Diagnostic,
) -> Result<(), Error> {
    let request = error_request(endpoints.init_error.clone(), diagnostic);
    post(client, request, "/init/error").await
}

fn error_request(uri: Uri, diagnostic: &Diagnostic) -> Request<Body> {
    let mut request = request(Method::POST, uri, Bytes::from(diagnostic.to_json()));
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, JSON);
    let error_type = HeaderValue::from_str(diagnostic.error_type())
        .unwrap_or(HeaderValue::from_static("InvalidErrorType"));
    headers.insert(ERROR_TYPE, error_type);
    request
}

fn request(method: Method, uri: Uri, body: Bytes) -> Request<Body> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    request
}

/// Sends a report and reads the answer to its end, so the connection can be used again.
///
/// Lambda answers 202 when it took the report. A 4xx concerns this one report (an unknown or
/// already answered request id, a body over the limit): it is logged and the runtime goes on.
/// A 500 means the execution environment is broken and the runtime must exit.
async fn post(client: &mut Client, request: Request<Body>, path: &str) -> Result<(), Error> {
    let response = client.send(request).await?;
    let status = response.status();
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            client.reset();
            tracing::warn!(%error, path, "could not read the Runtime API's answer");
            Bytes::new()
        }
    };
    if status == StatusCode::ACCEPTED {
        return Ok(());
    }
    let answer = String::from_utf8_lossy(&body);
    if status.is_server_error() {
        return Err(Error::protocol(format!(
            "`{path}` answered {status} with `{answer}`"
        )));
    }
    tracing::error!(%status, answer = %answer, path, "the Runtime API refused a report");
    Ok(())
}
