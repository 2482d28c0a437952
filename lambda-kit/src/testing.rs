//! Test handlers through the real runtime against an in-process fake Runtime API.
//!
//! [`FakeRuntimeApi`] is a small HTTP server on `127.0.0.1` that hands out queued invocations
//! from `/next` and records what the runtime reports to `/response`, `/error` and
//! `/init/error`, as Lambda's Runtime API does. [`invoke`] runs one event end to end;
//! [`ContextBuilder`] makes a [`Context`] for calling a handler directly.
//!
//! Streamed responses (`Lambda-Runtime-Function-Response-Mode: streaming`) are read chunk by
//! chunk as they arrive: [`FakeRuntimeApi::next_chunk`] sees each one while the handler is still
//! producing the rest, and the [`Outcome::Streamed`] keeps the chunks, the headers and the
//! error trailers.
//!
//! ```
//! use lambda_kit::Context;
//! use lambda_kit::testing::invoke;
//!
//! async fn double(n: u64, _ctx: Context) -> Result<u64, std::convert::Infallible> {
//!     Ok(n * 2)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let outcome = invoke(double, 21).await;
//! assert_eq!(outcome.json::<u64>(), 42);
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::api::protocol::header;
use crate::api::server::{self, Completion, Frame, Pending, Report, RuntimeApiServer};
use crate::config::{LogFormat, LogLevel};
use crate::context::InvocationText;
use crate::extension::telemetry::Record;
use crate::logging::{Logger, Sink};
use crate::{Config, Context, Error, Handler, Runtime};

#[doc(inline)]
pub use crate::api::server::{
    ErrorReport, ExtensionError, ExtensionKind, Function, Phase, Registered, Shutdown,
    ShutdownReason,
};

/// The ARN the fake API's invocations carry unless a test sets another.
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:test-function";

/// Lambda's default function timeout, used for invocations that set none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs `handler` on one `event` through the runtime and a fresh [`FakeRuntimeApi`].
///
/// # Panics
///
/// Panics when the fake API cannot start or the runtime stops before reporting, with the
/// runtime's error: both are failures of the test, not outcomes of the handler.
pub async fn invoke<H, M>(handler: H, event: impl Serialize) -> Outcome
where
    H: Handler<M>,
{
    let api = FakeRuntimeApi::start()
        .await
        .unwrap_or_else(|error| panic!("cannot start the fake Runtime API: {error}"));
    let mut outcomes = api
        .run(api.config(), handler, [Invocation::new(event)])
        .await
        .unwrap_or_else(|error| panic!("the runtime stopped: {error:?}"));
    outcomes.remove(0)
}

/// An in-process Runtime API on `127.0.0.1`, on a port of its own: the same server
/// `cargo lambdakit serve` runs for each instance of a function, so its answers are Lambda's.
///
/// Dropping it stops the server and closes its connections.
#[derive(Debug)]
pub struct FakeRuntimeApi {
    server: RuntimeApiServer,
    shared: Arc<Shared>,
    /// One task per pushed invocation, turning the server's report into an [`Outcome`];
    /// aborted with the API.
    collectors: Mutex<JoinSet<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    outcomes: Mutex<HashMap<String, oneshot::Receiver<Outcome>>>,
    /// Per invocation, the chunks of its streamed response as they arrive.
    feeds: Mutex<HashMap<String, ChunkFeed>>,
    /// Per invocation, whether it is complete (extensions included).
    completions: Mutex<HashMap<String, Completion>>,
}

#[derive(Debug)]
struct ChunkFeed {
    /// Dropped when the stream ended, which ends the feed once it is read.
    sender: Option<mpsc::UnboundedSender<Bytes>>,
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Bytes>>>,
}

impl FakeRuntimeApi {
    /// Starts the server on a free port of `127.0.0.1`.
    ///
    /// # Errors
    ///
    /// Fails when no port can be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_for(Function::default()).await
    }

    /// Starts the server for `function`: the name, version and handler the Extensions API
    /// tells extensions, and the external extensions init waits for.
    ///
    /// # Errors
    ///
    /// Fails when no port can be bound.
    pub async fn start_for(function: Function) -> std::io::Result<Self> {
        Ok(Self {
            server: RuntimeApiServer::start_for(function).await?,
            shared: Arc::default(),
            collectors: Mutex::default(),
        })
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API` that points at this server.
    pub fn runtime_api(&self) -> String {
        self.address().to_string()
    }

    /// A configuration pointing at this server, for a function named `test-function`.
    pub fn config(&self) -> Config {
        self.config_with(&[]).unwrap_or_else(|error| {
            unreachable!("the default test configuration is valid: {error}")
        })
    }

    /// [`config`](Self::config) with more variables, such as `AWS_LAMBDA_MAX_CONCURRENCY`.
    ///
    /// # Errors
    ///
    /// As [`Config::from_lookup`].
    pub fn config_with(&self, vars: &[(&str, &str)]) -> Result<Config, Error> {
        let api = self.runtime_api();
        let mut all: HashMap<&str, &str> = default_vars(&api).into_iter().collect();
        all.extend(vars.iter().copied());
        Config::from_lookup(|name| all.get(name).map(|value| (*value).to_owned()))
    }

    /// Queues an invocation for `/next` and returns its request id.
    ///
    /// # Panics
    ///
    /// Panics outside a tokio runtime, or when the request id cannot be a header value.
    pub fn push(&self, invocation: Invocation) -> String {
        let request_id = invocation
            .request_id
            .clone()
            .unwrap_or_else(crate::api::server::ids::uuid);
        let pending = self.server.submit(invocation.into_server(&request_id));
        lock(&self.shared.completions).insert(request_id.clone(), pending.completion());
        let (reporter, receiver) = oneshot::channel();
        lock(&self.shared.outcomes).insert(request_id.clone(), receiver);
        let (chunks, feed) = mpsc::unbounded_channel();
        lock(&self.shared.feeds).insert(
            request_id.clone(),
            ChunkFeed {
                sender: Some(chunks),
                receiver: Arc::new(tokio::sync::Mutex::new(feed)),
            },
        );
        let shared = Arc::clone(&self.shared);
        let id = request_id.clone();
        let mut collectors = lock(&self.collectors);
        while collectors.try_join_next().is_some() {}
        collectors.spawn(async move {
            if let Some(outcome) = collect(&shared, &id, pending).await {
                let _ = reporter.send(outcome);
            }
        });
        request_id
    }

    /// Waits for what the runtime reported for `request_id`.
    ///
    /// # Panics
    ///
    /// Panics when `request_id` was not pushed, or its outcome was taken already.
    pub async fn outcome(&self, request_id: &str) -> Outcome {
        let receiver = lock(&self.shared.outcomes)
            .remove(request_id)
            .unwrap_or_else(|| panic!("no pending invocation `{request_id}`"));
        receiver.await.unwrap_or_else(|_| {
            panic!("the fake Runtime API stopped before `{request_id}` was answered")
        })
    }

    /// Waits for the next chunk of `request_id`'s streamed response, as the fake API read it
    /// from the connection; `None` once the stream ended (or for a buffered response, once it
    /// arrived). A chunk the runtime sent may be read in several parts, never joined with the
    /// next one.
    ///
    /// # Panics
    ///
    /// Panics when `request_id` was not pushed.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::streaming::StreamResponse;
    /// use lambda_kit::testing::{FakeRuntimeApi, Invocation};
    /// use lambda_kit::{Context, Diagnostic};
    ///
    /// async fn count(_: serde_json::Value, _: Context) -> Result<StreamResponse, Diagnostic> {
    ///     Ok(StreamResponse::from_writer(|mut body| async move {
    ///         body.write("1").await;
    ///         body.write("2").await;
    ///         Ok::<_, Diagnostic>(())
    ///     }))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let api = FakeRuntimeApi::start().await.unwrap();
    /// let invocation = Invocation::new(()).request_id("count-1");
    /// let (outcomes, first) = tokio::join!(
    ///     api.run(api.config(), count, [invocation]),
    ///     api.next_chunk("count-1"),
    /// );
    /// assert_eq!(first.as_deref(), Some(&b"1"[..]));
    /// assert_eq!(outcomes.unwrap()[0].streamed().chunks(), ["1", "2"]);
    /// # }
    /// ```
    pub async fn next_chunk(&self, request_id: &str) -> Option<Bytes> {
        let receiver = lock(&self.shared.feeds)
            .get(request_id)
            .map(|feed| Arc::clone(&feed.receiver))
            .unwrap_or_else(|| panic!("no invocation `{request_id}`"));
        let mut receiver = receiver.lock().await;
        receiver.recv().await
    }

    /// The reports the runtime sent to `/init/error`.
    pub fn init_errors(&self) -> Vec<ErrorReport> {
        self.server.init_errors()
    }

    /// Waits until init has ended: the runtime asked for its first invocation and every
    /// extension for its first event.
    ///
    /// # Errors
    ///
    /// The runtime's init error, or `Extension.InitError` when an extension reported one.
    pub async fn started(&self) -> Result<(), ErrorReport> {
        self.server.started().await
    }

    /// Waits until `request_id` is complete: the runtime reported on it and every extension
    /// registered for `INVOKE` asked for its next event since; `false` when it never will be
    /// (withdrawn, or the API stopped).
    ///
    /// # Panics
    ///
    /// Panics when `request_id` was not pushed.
    pub async fn completed(&self, request_id: &str) -> bool {
        let completion = lock(&self.shared.completions)
            .get(request_id)
            .cloned()
            .unwrap_or_else(|| panic!("no invocation `{request_id}`"));
        completion.wait().await
    }

    /// The extensions that registered, in order.
    pub fn extensions(&self) -> Vec<Registered> {
        self.server.extensions()
    }

    /// What extensions posted to `init/error` and `exit/error`, in order.
    pub fn extension_errors(&self) -> Vec<ExtensionError> {
        self.server.extension_errors()
    }

    /// Sends `SHUTDOWN` to the extensions registered for it, with its deadline `within` from
    /// now, and waits until each asked for its next event again or the deadline passed.
    pub async fn shutdown(&self, reason: ShutdownReason, within: Duration) -> Shutdown {
        self.server.shutdown(reason, within).await
    }

    /// Feeds a telemetry event, stamped now, to the extensions subscribed to its stream: the
    /// records Lambda's platform would add (`platform.report`, the function's log lines as
    /// `Record::Function`, ...).
    pub fn emit(&self, record: Record) {
        self.server.emit(record);
    }

    /// How many connections the runtime has opened so far.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// Runs `handler` with `config` until every one of `invocations` has an outcome, and
    /// returns the outcomes in order.
    ///
    /// # Errors
    ///
    /// Returns the runtime's error when it stops first.
    pub async fn run<H, M>(
        &self,
        config: Config,
        handler: H,
        invocations: impl IntoIterator<Item = Invocation>,
    ) -> Result<Vec<Outcome>, Error>
    where
        H: Handler<M>,
    {
        let ids: Vec<String> = invocations
            .into_iter()
            .map(|invocation| self.push(invocation))
            .collect();
        let runtime = Runtime::new(config).logging(false);
        self.outcomes_while(&ids, runtime.serve(handler)).await
    }

    /// Polls `runtime` (a runtime's `serve` future, set up as the test likes) until every one
    /// of `request_ids` has an outcome, and returns the outcomes in order.
    ///
    /// # Errors
    ///
    /// Returns the runtime's error when it stops first.
    pub async fn outcomes_while<F>(
        &self,
        request_ids: &[String],
        runtime: F,
    ) -> Result<Vec<Outcome>, Error>
    where
        F: Future<Output = Result<(), Error>>,
    {
        let outcomes = async {
            let mut outcomes = Vec::with_capacity(request_ids.len());
            for id in request_ids {
                outcomes.push(self.outcome(id).await);
            }
            outcomes
        };
        tokio::select! {
            outcomes = outcomes => Ok(outcomes),
            stopped = runtime => match stopped {
                Err(error) => Err(error),
                Ok(()) => Err(Error::protocol("the runtime shut down before every invocation was answered")),
            },
        }
    }
}

fn default_vars(api: &str) -> [(&'static str, &str); 7] {
    [
        ("AWS_LAMBDA_RUNTIME_API", api),
        ("AWS_LAMBDA_FUNCTION_NAME", "test-function"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test-function"),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/01/01/[$LATEST]0123456789abcdef",
        ),
        ("AWS_REGION", "us-east-1"),
    ]
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test may poison the lock; the data is still the test's to read.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits for the server's report on `request_id` and turns it into an [`Outcome`], feeding a
/// streamed response's chunks to [`FakeRuntimeApi::next_chunk`] as they arrive.
async fn collect(shared: &Shared, request_id: &str, pending: Pending) -> Option<Outcome> {
    let outcome = match pending.report().await? {
        Report::Response(body) => Outcome::Response(body),
        Report::Error(report) => Outcome::Error(report),
        Report::Streamed(mut stream) => {
            let feed = lock(&shared.feeds)
                .get(request_id)
                .and_then(|feed| feed.sender.clone());
            let mut chunks = Vec::new();
            let mut trailers = None;
            let mut complete = true;
            while let Some(frame) = stream.frames.recv().await {
                match frame {
                    Frame::Data(chunk) => {
                        if let Some(feed) = &feed {
                            let _ = feed.send(chunk.clone());
                        }
                        chunks.push(chunk);
                    }
                    Frame::Trailers(fields) => trailers = Some(fields),
                    Frame::Broken(_) => complete = false,
                }
            }
            Outcome::Streamed(StreamedResponse::new(
                stream.headers,
                chunks,
                trailers,
                complete,
            ))
        }
    };
    if let Some(feed) = lock(&shared.feeds).get_mut(request_id) {
        feed.sender = None;
    }
    Some(outcome)
}

/// An invocation to queue: the event and the headers `/next` sends with it.
#[derive(Debug, Clone)]
pub struct Invocation {
    body: Bytes,
    request_id: Option<String>,
    timeout: Duration,
    /// Set (`Some`) or removed (`None`) after the standard headers.
    headers: Vec<(HeaderName, Option<String>)>,
}

impl Invocation {
    /// An invocation whose event is `event` as JSON.
    ///
    /// # Panics
    ///
    /// Panics when `event` cannot be written as JSON.
    pub fn new(event: impl Serialize) -> Self {
        let body = serde_json::to_vec(&event)
            .unwrap_or_else(|error| panic!("the test event is not JSON: {error}"));
        Self::raw(body)
    }

    /// An invocation whose event body is `body` exactly, JSON or not.
    pub fn raw(body: impl Into<Bytes>) -> Self {
        Self {
            body: body.into(),
            request_id: None,
            timeout: DEFAULT_TIMEOUT,
            headers: Vec::new(),
        }
    }

    /// Uses `request_id` instead of a generated one.
    #[must_use]
    pub fn request_id(mut self, request_id: &str) -> Self {
        self.request_id = Some(request_id.to_owned());
        self
    }

    /// The deadline is `timeout` after `/next` hands the invocation out (default 3 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the X-Ray trace header `Lambda-Runtime-Trace-Id`.
    #[must_use]
    pub fn trace_id(self, trace_id: &str) -> Self {
        self.header(header::TRACE_ID, trace_id)
    }

    /// Sends `Lambda-Runtime-Client-Context` (JSON).
    #[must_use]
    pub fn client_context(self, json: &str) -> Self {
        self.header(header::CLIENT_CONTEXT, json)
    }

    /// Sends `Lambda-Runtime-Cognito-Identity` (JSON).
    #[must_use]
    pub fn identity(self, json: &str) -> Self {
        self.header(header::COGNITO_IDENTITY, json)
    }

    /// Sends `Lambda-Runtime-Aws-Tenant-Id`.
    #[must_use]
    pub fn tenant_id(self, tenant_id: &str) -> Self {
        self.header(header::TENANT_ID, tenant_id)
    }

    /// Sends header `name` with `value`, replacing a standard one of that name.
    ///
    /// # Panics
    ///
    /// Panics when `name` is not a valid header name.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((header_name(name), Some(value.to_owned())));
        self
    }

    /// Leaves header `name` out, even a standard one such as the request id.
    ///
    /// # Panics
    ///
    /// Panics when `name` is not a valid header name.
    #[must_use]
    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.push((header_name(name), None));
        self
    }
}

impl Invocation {
    /// The server's invocation: the standard headers, then the test's changes to them.
    fn into_server(self, request_id: &str) -> server::Invocation {
        let mut invocation =
            server::Invocation::new(request_id, self.body, self.timeout, FUNCTION_ARN)
                .unwrap_or_else(|error| {
                    panic!("the request id `{request_id}` cannot be a header value: {error}")
                });
        for (name, value) in self.headers {
            match value {
                Some(value) => {
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        invocation.headers_mut().insert(name, value);
                    }
                }
                None if name == header::DEADLINE_MS => invocation = invocation.without_deadline(),
                None => {
                    invocation.headers_mut().remove(name);
                }
            }
        }
        invocation
    }
}

fn header_name(name: &str) -> HeaderName {
    HeaderName::try_from(name)
        .unwrap_or_else(|error| panic!("`{name}` is not a header name: {error}"))
}

/// What the runtime reported for an invocation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Outcome {
    /// The body posted to `/response`.
    Response(Bytes),
    /// The report posted to `/error`.
    Error(ErrorReport),
    /// A response posted to `/response` in streaming mode.
    Streamed(StreamedResponse),
}

impl Outcome {
    /// The response, decoded from JSON.
    ///
    /// # Panics
    ///
    /// Panics when the invocation failed or the response is not a `T`.
    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        let body = self.response();
        serde_json::from_slice(body).unwrap_or_else(|error| {
            panic!(
                "the response `{}` is not the expected type: {error}",
                String::from_utf8_lossy(body)
            )
        })
    }

    /// The response body; for a streamed response, its chunks joined.
    ///
    /// # Panics
    ///
    /// Panics when the invocation failed, before or while streaming.
    #[track_caller]
    pub fn response(&self) -> &Bytes {
        match self {
            Self::Response(body) => body,
            Self::Error(report) => panic!("the invocation failed: {report:?}"),
            Self::Streamed(streamed) => match streamed.error() {
                Some(report) => panic!("the stream failed: {report:?}"),
                None => streamed.body(),
            },
        }
    }

    /// The error report: the one posted to `/error`, or the one a streamed response ended
    /// with in its trailers.
    ///
    /// # Panics
    ///
    /// Panics when the invocation succeeded.
    #[track_caller]
    pub fn error(&self) -> &ErrorReport {
        match self {
            Self::Error(report) => report,
            Self::Response(body) => panic!(
                "the invocation succeeded with `{}`",
                String::from_utf8_lossy(body)
            ),
            Self::Streamed(streamed) => streamed.error().unwrap_or_else(|| {
                panic!(
                    "the stream succeeded with `{}`",
                    String::from_utf8_lossy(streamed.body())
                )
            }),
        }
    }

    /// The streamed response.
    ///
    /// # Panics
    ///
    /// Panics when the response was not streamed.
    #[track_caller]
    pub fn streamed(&self) -> &StreamedResponse {
        match self {
            Self::Streamed(streamed) => streamed,
            other => panic!("the response was not streamed: {other:?}"),
        }
    }
}

/// A response posted in streaming mode, as the Runtime API read it.
#[derive(Debug, Clone)]
pub struct StreamedResponse {
    // Boxed: `Outcome`'s other variants are small.
    inner: Box<Streamed>,
}

#[derive(Debug, Clone)]
struct Streamed {
    headers: http::HeaderMap,
    chunks: Vec<Bytes>,
    body: Bytes,
    trailers: Option<http::HeaderMap>,
    error: Option<ErrorReport>,
    complete: bool,
}

impl StreamedResponse {
    fn new(
        headers: http::HeaderMap,
        chunks: Vec<Bytes>,
        trailers: Option<http::HeaderMap>,
        complete: bool,
    ) -> Self {
        let body = Bytes::from(chunks.concat());
        let error = trailers.as_ref().and_then(ErrorReport::from_trailers);
        Self {
            inner: Box::new(Streamed {
                headers,
                chunks,
                body,
                trailers,
                error,
                complete,
            }),
        }
    }

    /// The chunks in the order they arrived (see [`FakeRuntimeApi::next_chunk`] on how they
    /// map to the chunks sent).
    pub fn chunks(&self) -> &[Bytes] {
        &self.inner.chunks
    }

    /// The chunks joined.
    pub fn body(&self) -> &Bytes {
        &self.inner.body
    }

    /// The request's headers (`Lambda-Runtime-Function-Response-Mode`, `Transfer-Encoding`,
    /// `Trailer`, `Content-Type`).
    pub fn headers(&self) -> &http::HeaderMap {
        &self.inner.headers
    }

    /// The `Content-Type` of the request.
    pub fn content_type(&self) -> Option<&str> {
        self.inner
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
    }

    /// The trailers the stream ended with, if any.
    pub fn trailers(&self) -> Option<&http::HeaderMap> {
        self.inner.trailers.as_ref()
    }

    /// The error the stream ended with: `Lambda-Runtime-Function-Error-Type` as the header,
    /// and `Lambda-Runtime-Function-Error-Body` decoded from base64 as the body.
    pub fn error(&self) -> Option<&ErrorReport> {
        self.inner.error.as_ref()
    }

    /// Whether the body ended as chunked encoding should (with its last chunk), rather than
    /// with a broken connection.
    pub fn is_complete(&self) -> bool {
        self.inner.complete
    }

    /// For a function URL response (`application/vnd.awslambda.http-integration-response`),
    /// the JSON prelude before the eight NUL bytes.
    pub fn http_prelude(&self) -> Option<serde_json::Value> {
        let (prelude, _) = self.http_split()?;
        serde_json::from_slice(prelude).ok()
    }

    /// For a function URL response, the body after the prelude and its eight NUL bytes.
    pub fn http_body(&self) -> Option<&[u8]> {
        self.http_split().map(|(_, body)| body)
    }

    fn http_split(&self) -> Option<(&[u8], &[u8])> {
        if self.content_type() != Some("application/vnd.awslambda.http-integration-response") {
            return None;
        }
        let body = &self.inner.body;
        let end = body.windows(8).position(|window| window == [0; 8])?;
        Some((&body[..end], &body[end + 8..]))
    }
}

/// Builds a [`Context`] for calling a handler directly in a unit test.
///
/// ```
/// use std::time::Duration;
/// use lambda_kit::testing::ContextBuilder;
///
/// let ctx = ContextBuilder::new().request_id("req-1").timeout(Duration::from_secs(10)).build();
/// assert_eq!(ctx.request_id(), "req-1");
/// assert!(ctx.remaining_time() > Duration::from_secs(9));
/// ```
#[derive(Debug, Clone)]
pub struct ContextBuilder {
    request_id: String,
    deadline: SystemTime,
    invoked_function_arn: String,
    xray_trace_id: Option<String>,
    tenant_id: Option<String>,
    client_context: Option<crate::ClientContext>,
    identity: Option<crate::CognitoIdentity>,
    config: Option<Config>,
}

impl Default for ContextBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ContextBuilder {
    /// A context with a generated request id and a deadline 3 s from now.
    pub fn new() -> Self {
        Self {
            request_id: crate::api::server::ids::uuid(),
            deadline: SystemTime::now() + DEFAULT_TIMEOUT,
            invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:test-function"
                .to_owned(),
            xray_trace_id: None,
            tenant_id: None,
            client_context: None,
            identity: None,
            config: None,
        }
    }

    /// Sets the request id.
    #[must_use]
    pub fn request_id(mut self, request_id: &str) -> Self {
        self.request_id = request_id.to_owned();
        self
    }

    /// Sets the deadline `timeout` from now.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = SystemTime::now() + timeout;
        self
    }

    /// Sets the invoked function ARN.
    #[must_use]
    pub fn invoked_function_arn(mut self, arn: &str) -> Self {
        self.invoked_function_arn = arn.to_owned();
        self
    }

    /// Sets the X-Ray trace header.
    #[must_use]
    pub fn xray_trace_id(mut self, trace_id: &str) -> Self {
        self.xray_trace_id = Some(trace_id.to_owned());
        self
    }

    /// Sets the tenant id.
    #[must_use]
    pub fn tenant_id(mut self, tenant_id: &str) -> Self {
        self.tenant_id = Some(tenant_id.to_owned());
        self
    }

    /// Sets the client context from its JSON, as `Lambda-Runtime-Client-Context` carries it.
    ///
    /// # Panics
    ///
    /// Panics when `json` is not a client context.
    #[must_use]
    pub fn client_context(mut self, json: &str) -> Self {
        self.client_context = Some(
            serde_json::from_str(json)
                .unwrap_or_else(|error| panic!("not a client context: {error}")),
        );
        self
    }

    /// Sets the Cognito identity from its JSON, as `Lambda-Runtime-Cognito-Identity` carries it.
    ///
    /// # Panics
    ///
    /// Panics when `json` is not a Cognito identity.
    #[must_use]
    pub fn identity(mut self, json: &str) -> Self {
        self.identity = Some(
            serde_json::from_str(json).unwrap_or_else(|error| panic!("not an identity: {error}")),
        );
        self
    }

    /// Sets the function configuration (default: `test-function`, 128 MB).
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Builds the context.
    ///
    /// # Panics
    ///
    /// Panics when a value set on the builder is not valid in a header.
    pub fn build(self) -> Context {
        let text = InvocationText::from_strs(
            &self.request_id,
            &self.invoked_function_arn,
            self.xray_trace_id.as_deref(),
            self.tenant_id.as_deref(),
        )
        .unwrap_or_else(|value| panic!("`{value}` cannot be sent in a header"));
        let config = self.config.unwrap_or_else(|| {
            let vars: HashMap<&str, &str> = default_vars("127.0.0.1:9001").into_iter().collect();
            Config::from_lookup(|name| vars.get(name).map(|value| (*value).to_owned()))
                .unwrap_or_else(|error| {
                    unreachable!("the default test configuration is valid: {error}")
                })
        });
        Context {
            text,
            deadline_ms: self
                .deadline
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64,
            client_context: self.client_context.map(Arc::new),
            identity: self.identity.map(Arc::new),
            #[cfg(feature = "metrics")]
            metrics: crate::metrics::Metrics::detached(&config),
            config: Arc::new(config),
        }
    }
}

/// Captures the runtime's log lines on the current thread while it is alive.
///
/// Works with a current-thread tokio runtime (the `#[tokio::test]` default), where the handler
/// runs on the test's thread. Lines logged on other threads, by other tests running at the
/// same time (`cargo test` runs them on threads of one process), are not captured, and no line
/// of this thread is lost to them.
///
/// ```
/// use lambda_kit::{LogFormat, LogLevel};
///
/// let logs = lambda_kit::testing::CapturedLogs::start(LogFormat::Json, LogLevel::Info);
/// tracing::info!(answer = 42, "hello");
/// let line = &logs.json_lines()[0];
/// assert_eq!(line["message"], "hello");
/// assert_eq!(line["answer"], 42);
/// ```
#[derive(Debug)]
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl CapturedLogs {
    /// Starts capturing lines in `format` at `level` and above.
    pub fn start(format: LogFormat, level: LogLevel) -> Self {
        ask_every_thread();
        #[cfg(feature = "log")]
        crate::logging::bridge_log(tracing::level_filters::LevelFilter::TRACE);
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let logger = Logger::new(format, level, Sink::Memory(Arc::clone(&buffer)));
        let guard = tracing::subscriber::set_default(logger);
        Self {
            buffer,
            _guard: guard,
        }
    }

    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&lock(&self.buffer))
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines written so far, each parsed as JSON.
    ///
    /// # Panics
    ///
    /// Panics when a line is not JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("`{line}` is not JSON: {error}"))
            })
            .collect()
    }
}

/// Makes `tracing` ask the subscriber of the thread an event happens on, every time, instead
/// of an answer it cached for the whole process.
///
/// `tracing` caches, per callsite, whether any subscriber wants its events; a callsite nobody
/// wants is skipped from then on, without asking again. While one dispatcher exists in the
/// process it asks only the default subscriber of the thread that hits the callsite first. So
/// with a capture active on one test's thread, a callsite first hit on another thread (another
/// test, capturing nothing) was cached as unwanted, and the capture lost its lines for good
/// (it happened under `cargo test`, never under nextest's process per test).
///
/// A second dispatcher, alive as long as the process and nobody's default, turns that shortcut
/// off: every dispatcher is asked about each callsite, and this one answers "sometimes", which
/// `tracing` cannot cache. Each event then asks its own thread's default subscriber, which is
/// what a capture per thread needs. Its level hint is `OFF`, so it lets no level through that
/// no subscriber wants.
fn ask_every_thread() {
    static PER_THREAD: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    PER_THREAD.get_or_init(|| tracing::Dispatch::new(PerThread));
}

/// The dispatcher of [`ask_every_thread`]: never a default, it takes no event and no span.
#[derive(Debug)]
struct PerThread;

impl tracing::Subscriber for PerThread {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::OFF)
    }

    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        // Never called: `enabled` turns every span away. Any id would do.
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, _: &tracing::Event<'_>) {}

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The callsite is first hit on a thread that captures nothing, while this thread
    /// captures: as under `cargo test`, where another test can be first to log from a line
    /// of the crate.
    #[test]
    fn a_capture_keeps_lines_from_a_callsite_first_hit_on_another_thread() {
        fn count(n: u32) {
            tracing::info!(n, "counted");
        }
        let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Info);
        std::thread::spawn(|| count(1))
            .join()
            .expect("logging with no subscriber does not panic");
        count(2);
        let lines = logs.json_lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert_eq!(lines[0]["n"], 2);
        assert_eq!(lines[0]["message"], "counted");
    }

    /// Two captures at once, on two threads, each at its own level: each gets its own lines,
    /// from callsites they share.
    #[test]
    fn captures_on_two_threads_keep_their_own_lines() {
        fn say(who: &str) {
            tracing::debug!(who, "detail");
            tracing::warn!(who, "warning");
        }
        let other = std::thread::spawn(|| {
            let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Debug);
            say("other");
            logs.json_lines()
        });
        let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Warn);
        say("main");
        let mine = logs.json_lines();
        let theirs = other.join().expect("the other capture does not panic");
        assert_eq!(mine.len(), 1, "{mine:#?}");
        assert_eq!(mine[0]["who"], "main");
        assert_eq!(mine[0]["level"], "WARN");
        assert_eq!(theirs.len(), 2, "{theirs:#?}");
        assert!(
            theirs.iter().all(|line| line["who"] == "other"),
            "{theirs:#?}"
        );
    }
}
