//! One function per Runtime API path, each speaking in typed values.
//!
//! The contract is AWS's "Using the Lambda runtime API for custom runtimes" (version 2018-06-01).

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::client::{Body, Client, full};
use crate::context::HeaderStr;
use crate::{Config, Context, Diagnostic, Error};

// The invocation headers, as `HeaderName::as_str` spells them (lower case).
const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
const FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
const TRACE_ID: &str = "lambda-runtime-trace-id";
const CLIENT_CONTEXT: &str = "lambda-runtime-client-context";
const COGNITO_IDENTITY: &str = "lambda-runtime-cognito-identity";
const TENANT_ID: &str = "lambda-runtime-aws-tenant-id";
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
        let body = read_body(body).await.unwrap_or_default();
        return Err(Error::protocol(format!(
            "`/next` answered {} with `{}`",
            parts.status,
            String::from_utf8_lossy(&body)
        )));
    }
    let headers = InvocationHeaders::read(parts.headers);
    let Some(request_id) = headers.request_id.clone() else {
        client.reset();
        return Err(Error::protocol(
            "`/next` answered without a `Lambda-Runtime-Aws-Request-Id` header",
        ));
    };
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(error) => {
            client.reset();
            return Ok(Next::Invalid {
                request_id,
                problem: format!("the event body could not be read: {error}"),
            });
        }
    };
    Ok(match headers.into_context(request_id.clone(), config) {
        Ok(context) => Next::Invocation { context, body },
        Err(problem) => Next::Invalid {
            request_id,
            problem,
        },
    })
}

/// The headers of a `/next` answer that make the invocation's context, taken in one pass
/// over the map: one comparison of each name instead of a hash lookup per header wanted.
#[derive(Default)]
struct InvocationHeaders {
    request_id: Option<HeaderStr>,
    deadline_ms: Option<HeaderValue>,
    invoked_function_arn: Option<HeaderStr>,
    xray_trace_id: Option<HeaderStr>,
    tenant_id: Option<HeaderStr>,
    client_context: Option<HeaderValue>,
    identity: Option<HeaderValue>,
}

impl InvocationHeaders {
    fn read(headers: HeaderMap) -> Self {
        let mut found = Self::default();
        let mut last_name = None;
        for (name, value) in headers {
            // `into_iter` names only the first of several values of one header.
            if let Some(name) = name {
                last_name = Some(name);
            }
            let Some(name) = &last_name else { continue };
            match name.as_str() {
                REQUEST_ID => {
                    found.request_id = HeaderStr::new(value).filter(|id| !id.as_str().is_empty())
                }
                DEADLINE_MS => found.deadline_ms = Some(value),
                FUNCTION_ARN => found.invoked_function_arn = HeaderStr::new(value),
                TRACE_ID => found.xray_trace_id = HeaderStr::new(value),
                TENANT_ID => found.tenant_id = HeaderStr::new(value),
                CLIENT_CONTEXT => found.client_context = Some(value),
                COGNITO_IDENTITY => found.identity = Some(value),
                _ => {}
            }
        }
        found
    }

    fn into_context(self, request_id: HeaderStr, config: &Arc<Config>) -> Result<Context, String> {
        let deadline_ms = self
            .deadline_ms
            .as_ref()
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| match &self.deadline_ms {
                Some(value) => format!(
                    "the `Lambda-Runtime-Deadline-Ms` header is `{}`, not a number of milliseconds",
                    String::from_utf8_lossy(value.as_bytes())
                ),
                None => "the `Lambda-Runtime-Deadline-Ms` header is missing".to_owned(),
            })?;
        Ok(Context {
            request_id,
            deadline_ms,
            invoked_function_arn: self
                .invoked_function_arn
                .unwrap_or(HeaderStr::from_static("")),
            xray_trace_id: self.xray_trace_id,
            tenant_id: self.tenant_id,
            client_context: json_header(self.client_context, "Lambda-Runtime-Client-Context")?,
            identity: json_header(self.identity, "Lambda-Runtime-Cognito-Identity")?,
            #[cfg(feature = "metrics")]
            metrics: crate::metrics::Metrics::for_invocation(config),
            config: Arc::clone(config),
        })
    }
}

fn json_header<T: serde::de::DeserializeOwned>(
    value: Option<HeaderValue>,
    display_name: &str,
) -> Result<Option<Arc<T>>, String> {
    match value {
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
    // No `Content-Type`: Lambda takes a buffered response's bytes as they are, and the header
    // would cost a map insert and its encoding on every invocation.
    post(client, request(Method::POST, uri, body), "/response").await
}

/// `POST /runtime/invocation/{id}/response` in streaming mode: the body is sent chunk by chunk
/// as the handler's [`StreamResponse`](crate::streaming::StreamResponse) yields it, and an error
/// while streaming is sent as trailers (AWS "Custom runtime API: response streaming").
///
/// The request declares both error trailers up front, since a stream cannot know in advance
/// whether it will fail. When the body ends well, no trailer is sent.
#[cfg(feature = "streaming")]
pub(crate) async fn stream_response(
    client: &mut Client,
    endpoints: &Endpoints,
    request_id: &str,
    response: crate::streaming::StreamResponse,
) -> Result<(), Error> {
    use http::header::{TRAILER, TRANSFER_ENCODING};

    let uri = endpoints.invocation(request_id, "/response")?;
    // One frame in flight: the body waits for the connection instead of piling up in memory.
    let (frames, receiver) = tokio::sync::mpsc::channel(1);
    let mut request = Request::new(http_body_util::Either::Right(StreamedBody(receiver)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(RESPONSE_MODE, HeaderValue::from_static("streaming"));
    headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    headers.insert(
        TRAILER,
        HeaderValue::from_static(
            "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
        ),
    );
    headers.insert(CONTENT_TYPE, response.post_content_type());
    // The body is fed from here, on the invocation's thread (it need not be `Send`), while the
    // connection's task writes what it is handed; the end of the feeding ends the body. A
    // failed send drops the receiver, which stops the feeding. An answer before the body
    // ended (the Runtime API refused it early) stops it too: the rest has nowhere to go.
    let mut post = std::pin::pin!(post(client, request, "/response"));
    tokio::select! {
        reported = &mut post => reported,
        () = feed(response, frames) => post.await,
    }
}

#[cfg(feature = "streaming")]
const RESPONSE_MODE: HeaderName = HeaderName::from_static("lambda-runtime-function-response-mode");
#[cfg(feature = "streaming")]
const ERROR_BODY: HeaderName = HeaderName::from_static("lambda-runtime-function-error-body");

/// Hands the body's chunks to the connection one at a time; on an error, a panic or the size
/// limit, ends the body with the error trailers instead. Dropping `frames` ends the body.
#[cfg(feature = "streaming")]
async fn feed(
    mut response: crate::streaming::StreamResponse,
    frames: tokio::sync::mpsc::Sender<hyper::body::Frame<Bytes>>,
) {
    let failure = feed_body(&mut response, &frames).await;
    // Before Lambda sees the end, so that what ran at the end belongs to this invocation.
    response.ended();
    if let Some(failure) = failure {
        tracing::error!(
            error_type = failure.error_type(),
            "the streamed response failed: {}",
            failure.error_message()
        );
        let trailers = hyper::body::Frame::trailers(error_trailers(&failure));
        let _ = frames.send(trailers).await;
    }
}

/// Sends the prelude and the chunks; returns the failure that ended the body, if any.
#[cfg(feature = "streaming")]
async fn feed_body(
    response: &mut crate::streaming::StreamResponse,
    frames: &tokio::sync::mpsc::Sender<hyper::body::Frame<Bytes>>,
) -> Option<Diagnostic> {
    use hyper::body::Frame;

    if let Some(prelude) = response.take_prelude()
        && frames.send(Frame::data(prelude)).await.is_err()
    {
        return None;
    }
    let limit = response.limit();
    let mut sent: usize = 0;
    loop {
        match response.next_chunk().await? {
            Ok(chunk) => {
                sent = sent.saturating_add(chunk.len());
                if sent > limit {
                    return Some(Diagnostic::new(
                        "Function.ResponseSizeTooLarge",
                        format!(
                            "the streamed response reached {sent} bytes, over its limit of \
                             {limit} bytes; the rest was not sent (raise the limit with \
                             `StreamResponse::max_bytes` if your quota allows more)"
                        ),
                    ));
                }
                if frames.send(Frame::data(chunk)).await.is_err() {
                    // The request failed: `post` reports why.
                    return None;
                }
            }
            Err(diagnostic) => return Some(diagnostic),
        }
    }
}

/// `Lambda-Runtime-Function-Error-Type` and `-Body`, the body being the error document in
/// base64.
#[cfg(feature = "streaming")]
fn error_trailers(diagnostic: &Diagnostic) -> HeaderMap {
    use base64::Engine as _;

    let mut trailers = HeaderMap::with_capacity(2);
    let error_type = HeaderValue::from_str(diagnostic.error_type())
        .unwrap_or(HeaderValue::from_static("InvalidErrorType"));
    trailers.insert(ERROR_TYPE, error_type);
    let body = base64::engine::general_purpose::STANDARD.encode(diagnostic.to_json());
    // Base64 is made of characters valid in a header value.
    if let Ok(body) = HeaderValue::from_str(&body) {
        trailers.insert(ERROR_BODY, body);
    }
    trailers
}

/// The body of a streamed response: the frames [`feed`] hands over.
#[cfg(feature = "streaming")]
#[derive(Debug)]
pub(crate) struct StreamedBody(tokio::sync::mpsc::Receiver<hyper::body::Frame<Bytes>>);

#[cfg(feature = "streaming")]
impl hyper::body::Body for StreamedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|frame| frame.map(Ok))
    }
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

/// Reads a body whole; a single data frame (the usual case) is kept as it is, without the
/// buffer list `collect` builds.
async fn read_body(mut body: Incoming) -> hyper::Result<Bytes> {
    let mut whole = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        match &mut joined {
            Some(joined) => joined.extend_from_slice(&data),
            None if whole.is_empty() => whole = data,
            None => {
                let mut buffer = BytesMut::with_capacity(whole.len() + data.len());
                buffer.extend_from_slice(&whole);
                buffer.extend_from_slice(&data);
                joined = Some(buffer);
            }
        }
    }
    Ok(joined.map_or(whole, BytesMut::freeze))
}

fn request(method: Method, uri: Uri, body: Bytes) -> Request<Body> {
    let mut request = Request::new(full(body));
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
    let body = match read_body(response.into_body()).await {
        Ok(body) => body,
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
