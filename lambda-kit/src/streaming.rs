//! Response streaming: a handler answers with a body that reaches Lambda chunk by chunk, as it
//! is produced, instead of one buffered document.
//!
//! A buffered response must fit in memory and in Lambda's 6 MB payload limit, and the caller
//! sees nothing until the handler is done. A function invoked with `InvokeWithResponseStream`,
//! or behind a function URL in `RESPONSE_STREAM` mode, can instead return a [`StreamResponse`]:
//! the runtime posts it to the Runtime API in streaming mode (chunked, AWS "Custom runtime API:
//! response streaming"), sending each chunk as soon as the handler yields it.
//!
//! - Build one from a [`Stream`] of `Result<chunk, error>` with [`StreamResponse::new`], or
//!   write the chunks from an `async` block with [`StreamResponse::from_writer`]. Neither spawns
//!   a task: the runtime polls the body while it sends it, on the invocation's own thread, so
//!   the body need not be `Send`.
//! - An error (or a panic) while streaming ends the stream with Lambda's error trailers
//!   (`Lambda-Runtime-Function-Error-Type`, and `Lambda-Runtime-Function-Error-Body` holding the
//!   base64 JSON error document); the chunks sent before it stay sent. An error returned by the
//!   handler before it hands out a body is reported to `/error` as usual.
//! - For function URLs, wrap the body in an `http::Response` and convert it with
//!   `StreamResponse::from(response)`: the status, headers and cookies go first, in the JSON
//!   prelude Lambda expects.
//! - Lambda caps a streamed response at 200 MB by default (AWS "Response streaming for Lambda
//!   functions"; 20 MB before July 2025). Past [`max_bytes`](StreamResponse::max_bytes) (that
//!   cap unless set) the runtime stops reading the body and ends the stream with the error
//!   `Function.ResponseSizeTooLarge`, rather than letting Lambda cut it off silently.
//!
//! ```no_run
//! use lambda_kit::streaming::StreamResponse;
//! use lambda_kit::{Context, Diagnostic};
//!
//! #[lambda_kit::handler]
//! async fn handler(count: u32, _ctx: Context) -> Result<StreamResponse, Diagnostic> {
//!     Ok(StreamResponse::from_writer(move |mut body| async move {
//!         for n in 0..count {
//!             body.write(format!("line {n}\n")).await;
//!             tokio::time::sleep(std::time::Duration::from_millis(100)).await;
//!         }
//!         Ok::<_, Diagnostic>(())
//!     }))
//! }
//! ```
//!
//! Behind a function URL in `RESPONSE_STREAM` mode (the event is the usual function URL event,
//! read here with the `http` feature):
//!
//! ```no_run
//! use lambda_kit::http::HttpEvent;
//! use lambda_kit::streaming::StreamResponse;
//! use lambda_kit::{Context, Diagnostic};
//!
//! #[lambda_kit::handler]
//! async fn handler(event: HttpEvent, _ctx: Context) -> Result<StreamResponse, Diagnostic> {
//!     let name = event.request().uri().query().unwrap_or("world").to_owned();
//!     let body = StreamResponse::from_writer(move |mut body| async move {
//!         body.write("<!doctype html><p>hello, ").await;
//!         body.write(name).await;
//!         Ok::<_, Diagnostic>(())
//!     });
//!     let response = http::Response::builder()
//!         .header("content-type", "text/html")
//!         .body(body)
//!         .map_err(|error| Diagnostic::from_error(&error))?;
//!     Ok(StreamResponse::from(response))
//! }
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};

use bytes::Bytes;
pub use futures_core::Stream;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue};
use serde::Serialize;

use crate::Diagnostic;
use crate::api::endpoints::StreamedBody;
use crate::panics;

/// Lambda's default cap on a streamed response: 200 MB (AWS "Response streaming for Lambda
/// functions"), counted in MiB as Lambda's quotas are.
pub const DEFAULT_MAX_BYTES: usize = crate::api::protocol::MAX_STREAMED_RESPONSE_BYTES;

/// The `Content-Type` of a plain stream, unless set with [`StreamResponse::content_type`].
const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// The `Content-Type` that tells Lambda the stream starts with an HTTP prelude (AWS "Lambda
/// function URLs: response streaming"; the Node.js runtime's `HttpResponseStream`).
pub(crate) const HTTP_INTEGRATION: HeaderValue =
    HeaderValue::from_static("application/vnd.awslambda.http-integration-response");

/// What separates the HTTP prelude from the body: eight NUL bytes.
const PRELUDE_END: [u8; 8] = [0; 8];

type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, Diagnostic>>>>;

/// A response body streamed to the caller as it is produced; a handler's response type.
///
/// The body is not `Send`: the runtime polls it on the invocation's thread while it sends it.
///
/// # Examples
///
/// From a stream (here a hand-written one; `tokio-stream` and `futures` have many):
///
/// ```
/// use std::collections::VecDeque;
/// use std::pin::Pin;
/// use std::task::{Context, Poll};
///
/// use lambda_kit::streaming::{Stream, StreamResponse};
///
/// struct Lines(VecDeque<&'static str>);
///
/// impl Stream for Lines {
///     type Item = Result<&'static str, lambda_kit::Diagnostic>;
///
///     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
///         Poll::Ready(self.0.pop_front().map(Ok))
///     }
/// }
///
/// let body = StreamResponse::new(Lines(VecDeque::from(["a\n", "b\n"])))
///     .content_type(http::HeaderValue::from_static("text/plain"));
/// # let _ = body;
/// ```
pub struct StreamResponse {
    chunks: Chunks,
    /// The HTTP prelude and its eight NULs, for function URLs.
    prelude: Option<Bytes>,
    content_type: HeaderValue,
    max_bytes: usize,
    /// Run once the body ended, however it ended, before Lambda is told (the invocation's
    /// metrics are flushed here, so that what the body recorded is written too).
    at_end: Option<Box<dyn FnOnce()>>,
}

impl fmt::Debug for StreamResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamResponse")
            .field("prelude", &self.prelude)
            .field("content_type", &self.content_type)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl StreamResponse {
    /// A body that sends each chunk `stream` yields; an `Err` ends the stream with Lambda's
    /// error trailers.
    ///
    /// # Examples
    ///
    /// See [`StreamResponse`].
    pub fn new<S, B, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<B, E>> + 'static,
        B: Into<Bytes>,
        E: Into<Diagnostic>,
    {
        Self::from_chunks(Box::pin(Converted(Box::pin(stream))))
    }

    /// A body written by `write`, an `async` closure given a [`BodyWriter`]: each
    /// [`write`](BodyWriter::write) is sent as one chunk, and an `Err` from the closure ends the
    /// stream with Lambda's error trailers.
    ///
    /// The closure's future is owned by the body and polled by the runtime as it sends it, so
    /// nothing is spawned: it runs after the handler returned, and is dropped with the body.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::Diagnostic;
    /// use lambda_kit::streaming::StreamResponse;
    ///
    /// let body = StreamResponse::from_writer(|mut body| async move {
    ///     body.write("searching...\n").await;
    ///     let found = 3; // slow work here
    ///     body.write(format!("{found} results\n")).await;
    ///     Ok::<_, Diagnostic>(())
    /// });
    /// # let _ = body;
    /// ```
    pub fn from_writer<F, Fut, E>(write: F) -> Self
    where
        F: FnOnce(BodyWriter) -> Fut,
        Fut: Future<Output = Result<(), E>> + 'static,
        E: Into<Diagnostic>,
    {
        let slot = Rc::new(RefCell::new(Slot::default()));
        let producer = write(BodyWriter {
            slot: Rc::clone(&slot),
        });
        Self::from_chunks(Box::pin(Written {
            slot,
            producer: Some(Box::pin(producer)),
            failed: None,
        }))
    }

    fn from_chunks(chunks: Chunks) -> Self {
        Self {
            chunks,
            prelude: None,
            content_type: OCTET_STREAM,
            max_bytes: DEFAULT_MAX_BYTES,
            at_end: None,
        }
    }

    /// Sets the `Content-Type` the caller of `InvokeWithResponseStream` sees (default
    /// `application/octet-stream`). An HTTP response's own `Content-Type` header goes in its
    /// prelude instead: this one is ignored for them.
    ///
    /// # Examples
    ///
    /// ```
    /// # let body = lambda_kit::streaming::StreamResponse::from_writer(|_| async { Ok::<_, lambda_kit::Diagnostic>(()) });
    /// let body = body.content_type(http::HeaderValue::from_static("application/x-ndjson"));
    /// # let _ = body;
    /// ```
    #[must_use]
    pub fn content_type(mut self, content_type: HeaderValue) -> Self {
        self.content_type = content_type;
        self
    }

    /// Sets the most body bytes sent before the stream is ended with
    /// `Function.ResponseSizeTooLarge` (default [`DEFAULT_MAX_BYTES`]); raise it when your
    /// account's quota is higher. The chunk that would cross the limit is not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// # let body = lambda_kit::streaming::StreamResponse::from_writer(|_| async { Ok::<_, lambda_kit::Diagnostic>(()) });
    /// let body = body.max_bytes(50 * 1024 * 1024);
    /// # let _ = body;
    /// ```
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Runs `at_end` once the body ended, however it ended.
    #[cfg(feature = "metrics")]
    pub(crate) fn at_end(&mut self, at_end: impl FnOnce() + 'static) {
        self.at_end = Some(Box::new(at_end));
    }
}

/// What the Runtime API client sends: the body's chunks, polled here with their panic guard.
impl StreamedBody for StreamResponse {
    fn content_type(&self) -> HeaderValue {
        if self.prelude.is_some() {
            HTTP_INTEGRATION
        } else {
            self.content_type.clone()
        }
    }

    fn take_prelude(&mut self) -> Option<Bytes> {
        self.prelude.take()
    }

    fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Polls the body for its next chunk, turning a panic into a `Panic` diagnostic and
    /// dropping empty chunks.
    fn poll_chunk(&mut self, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Bytes, Diagnostic>>> {
        loop {
            return match panics::catch(|| self.chunks.as_mut().poll_next(cx)) {
                Ok(Poll::Ready(Some(Ok(chunk)))) if chunk.is_empty() => continue,
                Ok(polled) => polled,
                Err(panic) => Poll::Ready(Some(Err(panic))),
            };
        }
    }

    /// Runs what [`at_end`](StreamResponse::at_end) registered.
    fn ended(&mut self) {
        if let Some(at_end) = self.at_end.take() {
            at_end();
        }
    }
}

/// An HTTP response for a function URL in `RESPONSE_STREAM` mode: the status, the headers and
/// the `Set-Cookie` headers (as `cookies`) go first as a JSON prelude, then eight NUL bytes,
/// then the body as it streams.
///
/// # Examples
///
/// ```
/// use lambda_kit::Diagnostic;
/// use lambda_kit::streaming::StreamResponse;
///
/// let body = StreamResponse::from_writer(|mut body| async move {
///     body.write("<html><body>").await;
///     body.write("</body></html>").await;
///     Ok::<_, Diagnostic>(())
/// });
/// let response = http::Response::builder()
///     .header("content-type", "text/html")
///     .header("set-cookie", "visited=1")
///     .body(body)?;
/// let streamed = StreamResponse::from(response);
/// # let _ = streamed;
/// # Ok::<(), http::Error>(())
/// ```
impl From<http::Response<StreamResponse>> for StreamResponse {
    fn from(response: http::Response<StreamResponse>) -> Self {
        let (parts, mut body) = response.into_parts();
        let mut prelude = http_prelude(parts.status, &parts.headers);
        prelude.extend_from_slice(&PRELUDE_END);
        body.prelude = Some(Bytes::from(prelude));
        body
    }
}

/// The prelude's JSON, in the order Lambda's own runtimes write it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Prelude<'a> {
    status_code: u16,
    headers: BTreeMap<&'a str, String>,
    cookies: Vec<String>,
}

fn http_prelude(status: http::StatusCode, headers: &HeaderMap) -> Vec<u8> {
    let lossy = |value: &HeaderValue| String::from_utf8_lossy(value.as_bytes()).into_owned();
    let mut joined = BTreeMap::new();
    for name in headers.keys().filter(|name| **name != SET_COOKIE) {
        let values: Vec<String> = headers.get_all(name).iter().map(lossy).collect();
        // Repeated values joined with commas (RFC 9110, 5.3), as function URLs want them.
        joined.insert(name.as_str(), values.join(","));
    }
    let prelude = Prelude {
        status_code: status.as_u16(),
        headers: joined,
        cookies: headers.get_all(SET_COOKIE).iter().map(lossy).collect(),
    };
    // Strings, a number and a list of strings always serialise.
    serde_json::to_vec(&prelude).unwrap_or_default()
}

/// Writes a [`StreamResponse::from_writer`] body, one chunk per [`write`](Self::write).
pub struct BodyWriter {
    slot: Rc<RefCell<Slot>>,
}

impl fmt::Debug for BodyWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyWriter").finish_non_exhaustive()
    }
}

/// The chunk written and not yet taken by the runtime; one at a time, so a fast writer waits
/// for the connection instead of filling memory.
#[derive(Default)]
struct Slot {
    chunk: Option<Bytes>,
    /// The writer waiting for the slot to empty.
    waiting: Option<Waker>,
}

impl BodyWriter {
    /// Sends `chunk`: waits until the runtime took the previous chunk, then hands this one
    /// over. Empty chunks are skipped.
    ///
    /// When the stream is abandoned (the connection broke, or the size limit was reached) the
    /// body, and the future writing it, are dropped: a `write` never returns in that case.
    ///
    /// # Examples
    ///
    /// See [`StreamResponse::from_writer`].
    pub async fn write(&mut self, chunk: impl Into<Bytes>) {
        let mut chunk = Some(chunk.into());
        std::future::poll_fn(|cx| {
            let mut slot = self.slot.borrow_mut();
            if slot.chunk.is_some() {
                slot.waiting = Some(cx.waker().clone());
                return Poll::Pending;
            }
            slot.chunk = chunk.take();
            Poll::Ready(())
        })
        .await;
    }
}

/// The stream of a [`StreamResponse::from_writer`] body: polls the writing future and hands on
/// what it wrote.
struct Written<Fut> {
    slot: Rc<RefCell<Slot>>,
    producer: Option<Pin<Box<Fut>>>,
    /// The writer's error, sent after the chunk it wrote before failing.
    failed: Option<Diagnostic>,
}

impl<Fut> Written<Fut> {
    fn take_chunk(&self) -> Option<Bytes> {
        let mut slot = self.slot.borrow_mut();
        let chunk = slot.chunk.take()?;
        if let Some(writer) = slot.waiting.take() {
            writer.wake();
        }
        Some(chunk)
    }
}

impl<Fut, E> Stream for Written<Fut>
where
    Fut: Future<Output = Result<(), E>>,
    E: Into<Diagnostic>,
{
    type Item = Result<Bytes, Diagnostic>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        if let Some(chunk) = self.take_chunk() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        if let Some(producer) = &mut self.producer {
            // Caught here rather than around the whole body, so that a chunk written just
            // before the panic is still sent.
            match panics::catch(|| producer.as_mut().poll(cx)) {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(result)) => {
                    self.producer = None;
                    self.failed = result.err().map(Into::into);
                }
                Err(panic) => {
                    self.producer = None;
                    self.failed = Some(panic);
                }
            }
        }
        if let Some(chunk) = self.take_chunk() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        if let Some(error) = self.failed.take() {
            return Poll::Ready(Some(Err(error)));
        }
        if self.producer.is_none() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

/// Maps a user's stream to chunks and diagnostics.
struct Converted<S>(Pin<Box<S>>);

impl<S, B, E> Stream for Converted<S>
where
    S: Stream<Item = Result<B, E>>,
    B: Into<Bytes>,
    E: Into<Diagnostic>,
{
    type Item = Result<Bytes, Diagnostic>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .as_mut()
            .poll_next(cx)
            .map(|item| item.map(|result| result.map(Into::into).map_err(Into::into)))
    }
}
