//! One function per Runtime API path, each speaking in typed values.
//!
//! The contract is AWS's "Using the Lambda runtime API for custom runtimes" (version 2018-06-01).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Uri};

use super::client::{Client, Head, Request, write_head};
use super::protocol::{self, header};
use crate::context::{HeaderStr, InvocationText};
use crate::{Config, Diagnostic, Error};

// The invocation headers; compared ignoring case.
const REQUEST_ID: &[u8] = header::REQUEST_ID.as_bytes();
const DEADLINE_MS: &[u8] = header::DEADLINE_MS.as_bytes();
const FUNCTION_ARN: &[u8] = header::FUNCTION_ARN.as_bytes();
const TRACE_ID: &[u8] = header::TRACE_ID.as_bytes();
const CLIENT_CONTEXT: &[u8] = header::CLIENT_CONTEXT.as_bytes();
const COGNITO_IDENTITY: &[u8] = header::COGNITO_IDENTITY.as_bytes();
const TENANT_ID: &[u8] = header::TENANT_ID.as_bytes();

/// The Runtime API's paths, built once from the configured prefix.
#[derive(Debug)]
pub(crate) struct Endpoints {
    /// The whole `/next` request, `Host` and all: the same every time. Sent only by clients
    /// of the same configuration, whose `Client::new` checked the host.
    next: Vec<u8>,
    init_error: String,
    /// `{prefix}/2018-06-01/runtime/invocation/`, to which a request id and a verb are added.
    invocation: String,
}

impl Endpoints {
    pub(crate) fn new(config: &Config) -> Result<Self, Error> {
        let base = &config.runtime_api().base_path;
        let path = |path: String| {
            // Checked once here, so that every request line written later is valid.
            Uri::try_from(path.as_str()).map_err(|source| {
                Error::config(
                    crate::config::RUNTIME_API_VAR,
                    "has a path that is not valid in a URL",
                )
                .with_source(source)
            })?;
            Ok::<_, Error>(path)
        };
        let next = path(format!("{base}{}{}", protocol::RUNTIME, protocol::NEXT))?;
        let authority = &config.runtime_api().authority;
        // The method, the protocol, `Host: ` and the line ends fit in 32 bytes: one allocation.
        let mut next_request = Vec::with_capacity(next.len() + authority.len() + 32);
        write_head(
            &mut next_request,
            &Request {
                method: "GET",
                path: &[next.as_str()],
                headers: &[],
            },
            authority,
            Some(0),
        );
        Ok(Self {
            next: next_request,
            init_error: path(format!(
                "{base}{}{}",
                protocol::RUNTIME,
                protocol::INIT_ERROR
            ))?,
            invocation: path(format!(
                "{base}{}{}",
                protocol::RUNTIME,
                protocol::INVOCATION
            ))?,
        })
    }

    /// The pieces of `{prefix}/runtime/invocation/{request_id}{verb}`.
    fn invocation<'a>(
        &'a self,
        request_id: &'a str,
        verb: &'static str,
    ) -> Result<[&'a str; 3], Error> {
        // Without an early exit: the id is read whole either way, one table load a byte.
        let valid = request_id
            .bytes()
            .fold(!request_id.is_empty(), |valid, byte| {
                valid & PATH_SEGMENT[usize::from(byte)]
            });
        if !valid {
            return Err(Error::protocol(format!(
                "request id `{request_id}` cannot be part of a URL path"
            )));
        }
        Ok([self.invocation.as_str(), request_id, verb])
    }
}

/// The characters of a URL path segment (RFC 3986, 3.3): a request id with any other could
/// end the request line or change the path.
static PATH_SEGMENT: [bool; 256] = ascii_set(b"-._~!$&'()*+,;=:@%");

/// A table of the bytes that are ASCII letters, digits or one of `punctuation`: one load per
/// byte checked.
pub(crate) const fn ascii_set(punctuation: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = (byte as u8).is_ascii_alphanumeric();
        byte += 1;
    }
    let mut index = 0;
    while index < punctuation.len() {
        table[punctuation[index] as usize] = true;
        index += 1;
    }
    table
}

/// What `/next` handed out.
#[derive(Debug)]
pub(crate) enum Next {
    /// An invocation to run.
    Invocation(NextInvocation),
    /// An invocation that cannot be run; report `problem` for it and go on.
    Invalid {
        request_id: HeaderStr,
        problem: String,
    },
}

/// An invocation to run: its event and its headers, read and checked. The strings are slices
/// of the buffer the answer was read into.
#[derive(Debug)]
pub(crate) struct NextInvocation {
    /// The request id (never empty), the invoked ARN, the trace header and the tenant id.
    pub(crate) text: InvocationText,
    /// `Lambda-Runtime-Deadline-Ms`: milliseconds since the Unix epoch.
    pub(crate) deadline_ms: u64,
    /// `Lambda-Runtime-Client-Context`, parsed.
    pub(crate) client_context: Option<Arc<crate::context::ClientContext>>,
    /// `Lambda-Runtime-Cognito-Identity`, parsed.
    pub(crate) identity: Option<Arc<crate::context::CognitoIdentity>>,
    /// The event.
    pub(crate) body: Bytes,
}

/// `GET /runtime/invocation/next`: waits for the next invocation.
///
/// # Errors
///
/// Fails when the Runtime API cannot be reached or answers with no usable request id, since then
/// there is nobody to report to; every other fault comes back as [`Next::Invalid`].
pub(crate) async fn next(client: &mut Client, endpoints: &Endpoints) -> Result<Next, Error> {
    let head = match client.send_written(&endpoints.next).await {
        Ok(head) => head,
        // The connection broke while waiting. Asking again is safe: `/next` changes nothing.
        Err(error) if error.is_connect() => {
            tracing::warn!(error = ?error, "the Runtime API connection broke during `/next`; asking again");
            client.send_written(&endpoints.next).await?
        }
        Err(error) => return Err(error),
    };
    if head.status != 200 {
        let body = client.body(&head).await.unwrap_or_default();
        return Err(Error::protocol(format!(
            "`/next` answered {} with `{}`",
            status_text(head.status),
            String::from_utf8_lossy(&body)
        )));
    }
    let headers = InvocationHeaders::read(&head);
    let Some(text) = headers.text(&head) else {
        client.reset();
        return Err(Error::protocol(
            "`/next` answered without a `Lambda-Runtime-Aws-Request-Id` header",
        ));
    };
    let body = match client.body(&head).await {
        Ok(body) => body,
        Err(error) => {
            // The cause says what was wrong with the body; the error itself only where.
            let cause = std::error::Error::source(&error)
                .map_or_else(|| error.to_string(), ToString::to_string);
            return Ok(Next::Invalid {
                request_id: text.share_request_id(),
                problem: format!("the event body could not be read: {cause}"),
            });
        }
    };
    Ok(headers.into_invocation(text, body))
}

/// The headers of a `/next` answer that describe the invocation, taken in one pass
/// over the head; the values are slices of the head.
#[derive(Default)]
struct InvocationHeaders<'a> {
    request_id: Option<&'a [u8]>,
    deadline_ms: Option<&'a [u8]>,
    invoked_function_arn: Option<&'a [u8]>,
    xray_trace_id: Option<&'a [u8]>,
    tenant_id: Option<&'a [u8]>,
    client_context: Option<&'a [u8]>,
    identity: Option<&'a [u8]>,
}

impl<'a> InvocationHeaders<'a> {
    fn read(head: &'a Head) -> Self {
        let mut found = Self::default();
        // A header sent twice counts with its last value.
        for (name, value) in head.fields() {
            let slot = if name.eq_ignore_ascii_case(REQUEST_ID) {
                &mut found.request_id
            } else if name.eq_ignore_ascii_case(DEADLINE_MS) {
                &mut found.deadline_ms
            } else if name.eq_ignore_ascii_case(FUNCTION_ARN) {
                &mut found.invoked_function_arn
            } else if name.eq_ignore_ascii_case(TRACE_ID) {
                &mut found.xray_trace_id
            } else if name.eq_ignore_ascii_case(TENANT_ID) {
                &mut found.tenant_id
            } else if name.eq_ignore_ascii_case(CLIENT_CONTEXT) {
                &mut found.client_context
            } else if name.eq_ignore_ascii_case(COGNITO_IDENTITY) {
                &mut found.identity
            } else {
                continue;
            };
            *slot = Some(value);
        }
        found
    }

    /// The text headers, sharing the head's buffer; `None` without a request id that can be
    /// read as text.
    fn text(&self, head: &Head) -> Option<InvocationText> {
        let request_id = self.request_id.filter(|id| !id.is_empty())?;
        InvocationText::new(
            head.buffer().clone(),
            request_id,
            self.invoked_function_arn,
            self.xray_trace_id,
            self.tenant_id,
        )
    }

    /// The invocation, or why it cannot be run.
    fn into_invocation(self, text: InvocationText, body: Bytes) -> Next {
        let parsed = (|| {
            let deadline_ms = self
                .deadline_ms
                .and_then(milliseconds)
                .ok_or_else(|| match self.deadline_ms {
                    Some(value) => format!(
                        "the `Lambda-Runtime-Deadline-Ms` header is `{}`, not a number of milliseconds",
                        String::from_utf8_lossy(value)
                    ),
                    None => "the `Lambda-Runtime-Deadline-Ms` header is missing".to_owned(),
                })?;
            let client_context = json_header(self.client_context, "Lambda-Runtime-Client-Context")?;
            let identity = json_header(self.identity, "Lambda-Runtime-Cognito-Identity")?;
            Ok::<_, String>((deadline_ms, client_context, identity))
        })();
        match parsed {
            Ok((deadline_ms, client_context, identity)) => Next::Invocation(NextInvocation {
                text,
                deadline_ms,
                client_context,
                identity,
                body,
            }),
            Err(problem) => Next::Invalid {
                request_id: text.share_request_id(),
                problem,
            },
        }
    }
}

/// A decimal number of milliseconds (what `u64`'s `FromStr` reads, from bytes: no text check
/// first, as the header is read on every invocation).
fn milliseconds(value: &[u8]) -> Option<u64> {
    let digits = value.strip_prefix(b"+").unwrap_or(value);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0_u64, |total, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        total.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

fn json_header<T: serde::de::DeserializeOwned>(
    value: Option<&[u8]>,
    display_name: &str,
) -> Result<Option<Arc<T>>, String> {
    match value {
        None => Ok(None),
        Some(value) => serde_json::from_slice(value)
            .map(|parsed| Some(Arc::new(parsed)))
            .map_err(|error| format!("the `{display_name}` header is not valid JSON: {error}")),
    }
}

/// `POST /runtime/invocation/{id}/response`: the invocation's result.
pub(crate) async fn response(
    client: &mut Client,
    endpoints: &Endpoints,
    request_id: &str,
    body: &[u8],
) -> Result<(), Error> {
    let path = endpoints.invocation(request_id, protocol::RESPONSE)?;
    // No `Content-Type`: Lambda takes a buffered response's bytes as they are.
    let request = Request {
        method: "POST",
        path: &path,
        headers: &[],
    };
    let head = client.send(&request, body).await?;
    report(client, head, protocol::RESPONSE).await
}

/// A body streamed to `/response`, as the Runtime API client sees it: the request's
/// `Content-Type`, a prelude, then chunks until the end or a failure. The response types and
/// their panic guard live with them (`crate::streaming`); this layer only sends what it is
/// given.
#[cfg(feature = "streaming")]
pub(crate) trait StreamedBody {
    /// The request's `Content-Type`.
    fn content_type(&self) -> HeaderValue;

    /// What to send before the first chunk (the HTTP prelude of a function URL's response),
    /// taken once.
    fn take_prelude(&mut self) -> Option<Bytes>;

    /// The most body bytes to send before ending the stream with
    /// `Function.ResponseSizeTooLarge`.
    fn max_bytes(&self) -> usize;

    /// The next chunk, never empty (an empty chunk would end the chunked body early); an
    /// `Err` ends the stream with it as error trailers, `None` ends it well.
    fn poll_chunk(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Diagnostic>>>;

    /// The body ended, however it ended; called before Lambda is told.
    fn ended(&mut self);
}

/// `POST /runtime/invocation/{id}/response` in streaming mode: the body is sent chunk by chunk
/// as the handler's body yields it, and an error while streaming is sent as trailers (AWS
/// "Custom runtime API: response streaming").
///
/// The request declares both error trailers up front, since a stream cannot know in advance
/// whether it will fail. When the body ends well, no trailer is sent.
#[cfg(feature = "streaming")]
pub(crate) async fn stream_response(
    client: &mut Client,
    endpoints: &Endpoints,
    request_id: &str,
    mut response: impl StreamedBody,
) -> Result<(), Error> {
    let path = endpoints.invocation(request_id, protocol::RESPONSE)?;
    let content_type = response.content_type();
    let request = Request {
        method: "POST",
        path: &path,
        headers: &[
            (header::RESPONSE_MODE, protocol::STREAMING.as_bytes()),
            ("Trailer", header::ERROR_TRAILERS.as_bytes()),
            ("Content-Type", content_type.as_bytes()),
        ],
    };
    client.send_chunked_head(&request).await?;
    // The body is polled here, on the invocation's thread (it need not be `Send`), one chunk
    // at a time: a chunk is written before the next is asked for, so a fast body waits for
    // the connection instead of piling up in memory. An answer before the body ended (the
    // Runtime API refused it early) stops it: the rest has nowhere to go.
    let head = match feed(client, &mut response).await? {
        Fed::Answered => client.early_answer().await?,
        Fed::Ended(failure) => {
            // Before Lambda sees the end, so that what ran at the end belongs to this
            // invocation.
            response.ended();
            match failure {
                None => client.finish_chunks(&[]).await?,
                Some(failure) => {
                    tracing::error!(
                        error_type = failure.error_type(),
                        "the streamed response failed: {}",
                        failure.error_message()
                    );
                    let (error_type, body) = error_trailers(&failure);
                    client
                        .finish_chunks(&[
                            (header::FUNCTION_ERROR_TYPE, error_type.as_bytes()),
                            (header::FUNCTION_ERROR_BODY, body.as_bytes()),
                        ])
                        .await?
                }
            }
        }
    };
    report(client, head, protocol::RESPONSE).await
}

/// How feeding a streamed body ended.
#[cfg(feature = "streaming")]
enum Fed {
    /// The body ended, on a failure to send as trailers, or well.
    Ended(Option<Diagnostic>),
    /// The Runtime API answered before the body ended.
    Answered,
}

/// Writes the prelude and the chunks; on an error, a panic or the size limit, stops with the
/// failure to send as trailers.
#[cfg(feature = "streaming")]
async fn feed(client: &mut Client, response: &mut impl StreamedBody) -> Result<Fed, Error> {
    if let Some(prelude) = response.take_prelude()
        && !client.write_chunk(&prelude).await?
    {
        return Ok(Fed::Answered);
    }
    let limit = response.max_bytes();
    let mut sent: usize = 0;
    loop {
        let next = tokio::select! {
            biased;
            answered = client.answered() => {
                answered?;
                return Ok(Fed::Answered);
            }
            next = std::future::poll_fn(|cx| response.poll_chunk(cx)) => next,
        };
        let chunk = match next {
            None => return Ok(Fed::Ended(None)),
            Some(Err(diagnostic)) => return Ok(Fed::Ended(Some(diagnostic))),
            Some(Ok(chunk)) => chunk,
        };
        sent = sent.saturating_add(chunk.len());
        if sent > limit {
            return Ok(Fed::Ended(Some(Diagnostic::new(
                protocol::RESPONSE_SIZE_TOO_LARGE,
                format!(
                    "the streamed response reached {sent} bytes, over its limit of \
                     {limit} bytes; the rest was not sent (raise the limit with \
                     `StreamResponse::max_bytes` if your quota allows more)"
                ),
            ))));
        }
        if !client.write_chunk(&chunk).await? {
            return Ok(Fed::Answered);
        }
    }
}

/// The values of `Lambda-Runtime-Function-Error-Type` and `-Body`, the body being the error
/// document in base64.
#[cfg(feature = "streaming")]
fn error_trailers(diagnostic: &Diagnostic) -> (HeaderValue, String) {
    use base64::Engine as _;

    let body = base64::engine::general_purpose::STANDARD.encode(diagnostic.to_json());
    (error_type(diagnostic), body)
}

/// The error type as a header value, or `InvalidErrorType` when it cannot be one.
fn error_type(diagnostic: &Diagnostic) -> HeaderValue {
    HeaderValue::from_str(diagnostic.error_type())
        .unwrap_or(HeaderValue::from_static(protocol::INVALID_ERROR_TYPE))
}

/// `POST /runtime/invocation/{id}/error`: the invocation failed.
pub(crate) async fn error(
    client: &mut Client,
    endpoints: &Endpoints,
    request_id: &str,
    diagnostic: &Diagnostic,
) -> Result<(), Error> {
    let path = endpoints.invocation(request_id, protocol::ERROR)?;
    post_error(client, &path, diagnostic, protocol::ERROR).await
}

/// `POST /runtime/init/error`: the function could not start.
pub(crate) async fn init_error(
    client: &mut Client,
    endpoints: &Endpoints,
    diagnostic: &Diagnostic,
) -> Result<(), Error> {
    post_error(
        client,
        &[endpoints.init_error.as_str()],
        diagnostic,
        protocol::INIT_ERROR,
    )
    .await
}

async fn post_error(
    client: &mut Client,
    path: &[&str],
    diagnostic: &Diagnostic,
    name: &str,
) -> Result<(), Error> {
    let error_type = error_type(diagnostic);
    let request = Request {
        method: "POST",
        path,
        headers: &[
            ("Content-Type", b"application/json"),
            (header::FUNCTION_ERROR_TYPE, error_type.as_bytes()),
        ],
    };
    let head = client.send(&request, &diagnostic.to_json()).await?;
    report(client, head, name).await
}

/// Reads the answer to a report to its end, so the connection can be used again.
///
/// Lambda answers 202 when it took the report. A 4xx concerns this one report (an unknown or
/// already answered request id, a body over the limit): it is logged and the runtime goes on.
/// A 500 means the execution environment is broken and the runtime must exit.
async fn report(client: &mut Client, head: Head, path: &str) -> Result<(), Error> {
    let body = match client.body(&head).await {
        Ok(body) => body,
        Err(error) => {
            tracing::warn!(error = ?error, path, "could not read the Runtime API's answer");
            Bytes::new()
        }
    };
    let status = head.status;
    if status == 202 {
        return Ok(());
    }
    let answer = String::from_utf8_lossy(&body);
    let status = status_text(status);
    if head.status >= 500 {
        return Err(Error::protocol(format!(
            "`{path}` answered {status} with `{answer}`"
        )));
    }
    tracing::error!(%status, answer = %answer, path, "the Runtime API refused a report");
    Ok(())
}

/// `500 Internal Server Error`, or the bare number when it has no reason phrase.
fn status_text(status: u16) -> String {
    http::StatusCode::from_u16(status)
        .map_or_else(|_| status.to_string(), |status| status.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_read_as_u64_reads_them() {
        for value in ["0", "4102444800000", "+17", "007", "18446744073709551615"] {
            assert_eq!(
                milliseconds(value.as_bytes()),
                value.parse::<u64>().ok(),
                "{value}"
            );
        }
        for value in ["", "+", "-1", "1.5", " 1", "soon", "18446744073709551616"] {
            assert_eq!(milliseconds(value.as_bytes()), None, "{value}");
        }
    }
}
