//! The server side of the APIs Lambda runs inside an execution environment: the Runtime API the
//! function's runtime talks to, and beside it, on the same listener and state, the Extensions
//! API and the Telemetry API that extensions talk to. `lambda_kit::testing` runs it in process,
//! and `cargo lambdakit serve` runs one per instance of a function; both hand it invocations
//! and await what the runtime reports, and neither has a copy of its routing or answers.
//!
//! It speaks the contract of [`protocol`](super::protocol), one module per API:
//!
//! - [`runtime`]: `/next` hands out queued invocations; `/response` (buffered or streamed) and
//!   `/error` settle one; `/init/error` fails the start. Refused requests get Lambda's status
//!   codes and `{"errorMessage", "errorType"}` bodies: an unknown request id 400
//!   `InvalidRequestID`, a second report for an invocation 403 `InvalidStateTransition`, a
//!   buffered response over the limit 413 `RequestEntityTooLarge` (the invocation then fails
//!   with `Function.ResponseSizeTooLarge`), a request id longer than the protocol's limit 400
//!   `InvalidRequestID` naming the limit, and a header section over the limit 431
//!   `RequestHeaderFieldsTooLarge`.
//! - [`extensions`]: extensions register, get `INVOKE` and `SHUTDOWN` events from `event/next`,
//!   and report `init/error` and `exit/error`, refused in Lambda's shapes (AWS "Lambda
//!   Extensions API").
//! - [`telemetry`]: extensions subscribe to the function's platform events and log lines,
//!   which the server posts to them in batches (AWS "Lambda Telemetry API").
//!
//! # The lifecycle its users drive
//!
//! As AWS "Lambda execution environment lifecycle" describes it:
//!
//! - **Init** ends when the runtime has asked for its first invocation and every extension that
//!   registered (and every external one the instance launched, [`Function::external_extensions`])
//!   has asked for its first event; [`RuntimeApiServer::started`] waits for that, and the
//!   runtime's `/next` hands out nothing before. Registration closes with it. An `/init/error`
//!   from the runtime or from an extension fails the start.
//! - **Invoke**: [`RuntimeApiServer::submit`] queues an invocation. When `/next` hands it out,
//!   every extension registered for `INVOKE` gets an `INVOKE` event. [`Pending::report`] is the
//!   runtime's answer, which the caller may forward at once; [`Completion`] resolves when, in
//!   addition, every one of those extensions has asked for its next event, which is when the
//!   instance is free again and the invocation's duration ends (the `REPORT` line's).
//! - **Shutdown**: [`RuntimeApiServer::shutdown`] hands `SHUTDOWN` to the extensions
//!   registered for it and waits, up to a deadline, for each to ask for its next event again
//!   (or to report `exit/error`, or to close a connection it kept open: it exited). Lambda
//!   sends the runtime SIGTERM, not SIGKILL, only when an extension registered:
//!   [`RuntimeApiServer::extensions`] says whether one did.
//!
//! The platform events the server witnesses (`platform.extension`,
//! `platform.telemetrySubscription`, `platform.initRuntimeDone`, `platform.start`,
//! `platform.runtimeDone`) reach subscribers by themselves; its users add the rest, which only
//! they see (`platform.initStart`, `platform.initReport`, `platform.report`, the function's
//! and the extensions' log lines), with [`RuntimeApiServer::emit`].

mod extensions;
pub mod ids;
mod runtime;
mod telemetry;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::protocol;
use crate::extension::telemetry::{Event, Record};

pub use extensions::{ExtensionError, ExtensionKind, Phase, Registered, Shutdown, ShutdownReason};
pub use runtime::{Completion, ErrorReport, Frame, Invocation, Pending, Report, Stream};

/// The largest buffered response the runtime may post (see the protocol's limit).
pub const MAX_RESPONSE_BYTES: usize = protocol::MAX_RESPONSE_BYTES;
/// The most a function may stream in one response (see the protocol's limit).
pub const MAX_STREAMED_RESPONSE_BYTES: usize = protocol::MAX_STREAMED_RESPONSE_BYTES;
/// The largest client context an invocation may carry, base64-encoded (see the protocol's
/// limit).
pub const MAX_CLIENT_CONTEXT_BYTES: usize = protocol::MAX_CLIENT_CONTEXT_BYTES;

/// The path a runtime asks for its next invocation on, for a neighbouring API (serve's Lambda
/// API) to show that it does not take it as one of its own.
pub fn next_invocation_path() -> String {
    format!("{}{}", protocol::PREFIX, protocol::NEXT)
}

/// The path an extension asks for its next event on, for a message that tells what an
/// extension did not do.
pub fn next_event_path() -> String {
    let api = protocol::extensions::VERSION;
    format!(
        "/{api}{}{}",
        protocol::extensions::EXTENSION,
        protocol::extensions::NEXT
    )
}

/// The error type an invocation or init fails with when an extension crashed, for the server's
/// user to report (it sees the process end; the server does not).
pub const EXTENSION_CRASH: &str = protocol::extensions::error_type::CRASH;

/// What the connection's read buffer holds beyond the largest header section: a request whose
/// headers are over the limit by less than this is read whole and refused in Lambda's shape;
/// one over by more is refused by hyper itself, with a bare 431.
const HEADER_BUFFER_MARGIN: usize = 64 * 1024;

/// Lambda's error document for the caller: `{"errorMessage", "errorType"}`.
pub fn error_document(error_type: &str, message: &str) -> Bytes {
    Bytes::from(protocol::error_document(error_type, message))
}

/// The function an execution environment runs, as the Extensions API tells extensions of it,
/// and the external extensions its instance launched.
///
/// # Examples
///
/// ```
/// use lambda_kit::__server::Function;
///
/// let function = Function::new("orders")
///     .version("7")
///     .handler("bootstrap")
///     .account_id("210987654321")
///     .external_extensions(["log-shipper"]);
/// assert_eq!(function.name(), "orders");
/// ```
#[derive(Debug, Clone)]
pub struct Function {
    name: String,
    version: String,
    handler: String,
    account_id: String,
    external: Vec<String>,
}

impl Default for Function {
    /// `test-function`, version `$LATEST`, handler `bootstrap`, account `123456789012`, no
    /// external extensions: what a test needs when it does not care.
    fn default() -> Self {
        Self::new("test-function")
    }
}

impl Function {
    /// A function named `name`, otherwise as [`Function::default`].
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: "$LATEST".to_owned(),
            handler: "bootstrap".to_owned(),
            account_id: "123456789012".to_owned(),
            external: Vec::new(),
        }
    }

    /// Its version (`$LATEST` or a number).
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Its handler setting (`_HANDLER`).
    #[must_use]
    pub fn handler(mut self, handler: impl Into<String>) -> Self {
        self.handler = handler.into();
        self
    }

    /// The account it belongs to, told to extensions that accept the `accountId` feature.
    #[must_use]
    pub fn account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = account_id.into();
        self
    }

    /// The file names of the external extensions the instance launched (the executables in
    /// `/opt/extensions`): each registers as external, and init waits for each to register
    /// and ask for its first event. Any other name registers as an internal extension.
    #[must_use]
    pub fn external_extensions<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.external = names.into_iter().map(Into::into).collect();
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One Runtime API, with its Extensions and Telemetry APIs, on `127.0.0.1`, on a port of its
/// own. Dropping it stops the server, closes its connections and stops telemetry delivery.
#[derive(Debug)]
pub struct RuntimeApiServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    /// The accept loop, which owns every connection's task.
    server: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    function: Function,
    queue: mpsc::UnboundedSender<Invocation>,
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    ledger: Mutex<runtime::Ledger>,
    start: watch::Sender<Start>,
    init_errors: Mutex<Vec<ErrorReport>>,
    connections: AtomicUsize,
    extensions: Mutex<extensions::Registry>,
    telemetry: telemetry::Hub,
}

/// Where the execution environment's start stands.
#[derive(Debug, Clone)]
enum Start {
    Starting,
    /// Init ended: the runtime and every extension are ready.
    Ready,
    /// The runtime or an extension posted to its `init/error`.
    Failed(ErrorReport),
}

impl Shared {
    /// Ends init if everyone is ready (see the module's lifecycle).
    fn check_init(&self) {
        let ended = lock(&self.extensions).end_init();
        if ended {
            self.start.send_if_modified(|start| {
                let starting = matches!(start, Start::Starting);
                if starting {
                    *start = Start::Ready;
                }
                starting
            });
        }
    }

    /// Fails the start with `report`, and closes registration.
    fn fail_start(&self, report: ErrorReport) {
        lock(&self.extensions).close();
        self.start.send_replace(Start::Failed(report));
    }

    /// A connection an extension kept open closed: see [`extensions::Registry::disconnected`].
    fn disconnected(&self, id: &str) {
        lock(&self.extensions).disconnected(id);
    }

    /// Hands `record` to the telemetry subscribers that take its stream, stamped now.
    fn emit(&self, record: Record) {
        self.telemetry
            .emit(&Event::new(timestamp(SystemTime::now()), record));
    }
}

impl Drop for RuntimeApiServer {
    fn drop(&mut self) {
        self.server.abort();
        self.shared.telemetry.stop();
    }
}

impl RuntimeApiServer {
    /// Starts a server on a free port of `127.0.0.1` for [`Function::default`].
    ///
    /// # Errors
    ///
    /// Fails when no port can be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_for(Function::default()).await
    }

    /// Starts a server on a free port of `127.0.0.1` for `function`.
    ///
    /// # Errors
    ///
    /// Fails when no port can be bound.
    pub async fn start_for(function: Function) -> std::io::Result<Self> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let (queue, next) = mpsc::unbounded_channel();
        let extensions = extensions::Registry::new(function.external.clone());
        let shared = Arc::new(Shared {
            function,
            queue,
            next: tokio::sync::Mutex::new(next),
            ledger: Mutex::default(),
            start: watch::Sender::new(Start::Starting),
            init_errors: Mutex::default(),
            connections: AtomicUsize::new(0),
            extensions: Mutex::new(extensions),
            telemetry: telemetry::Hub::default(),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(Self {
            address,
            shared,
            server,
        })
    }

    /// The address it listens on: the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Queues `invocation` for `/next`; the returned [`Pending`] resolves with the runtime's
    /// report, and its [`Completion`] when the extensions are done with it too. Dropping it
    /// before `/next` hands the invocation out withdraws it.
    pub fn submit(&self, invocation: Invocation) -> Pending {
        runtime::submit(&self.shared, invocation)
    }

    /// Waits until init has ended: `Ok` once the runtime asked for its first invocation and
    /// every extension (registered, or launched as external) asked for its first event; the
    /// report posted to an `init/error` (the runtime's, or an extension's as
    /// `Extension.InitError`) if one came first.
    ///
    /// # Errors
    ///
    /// The runtime's or an extension's init error.
    pub async fn started(&self) -> Result<(), ErrorReport> {
        let mut start = self.shared.start.subscribe();
        let outcome = start
            .wait_for(|start| !matches!(start, Start::Starting))
            .await
            .map(|start| start.clone());
        match outcome {
            Ok(Start::Failed(report)) => Err(report),
            // The sender lives in `self.shared`: the wait ends only with a change.
            _ => Ok(()),
        }
    }

    /// The reports the runtime posted to `/init/error`, in order.
    pub fn init_errors(&self) -> Vec<ErrorReport> {
        lock(&self.shared.init_errors).clone()
    }

    /// How many connections runtimes and extensions have opened so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The extensions that registered, in order. On Lambda the runtime gets SIGTERM at
    /// shutdown only when this is not empty; otherwise it is killed with SIGKILL.
    pub fn extensions(&self) -> Vec<Registered> {
        lock(&self.shared.extensions).registered()
    }

    /// What extensions posted to `init/error` and `exit/error`, in order.
    pub fn extension_errors(&self) -> Vec<ExtensionError> {
        lock(&self.shared.extensions).errors()
    }

    /// Hands `SHUTDOWN` with `reason` to every extension registered for it, its deadline
    /// `within` from now, and waits until each has asked for its next event again or reported
    /// `exit/error`, or the deadline passed. Registration is closed from then on; a second call
    /// waits for the same extensions without sending another event.
    ///
    /// An external extension usually exits instead of asking again: an extension handed
    /// `SHUTDOWN` is done, too, when a connection it kept open closes (its process ended, or
    /// its in-process client was dropped); whoever launched it waits for its process as well.
    pub async fn shutdown(&self, reason: ShutdownReason, within: Duration) -> Shutdown {
        extensions::shutdown(&self.shared, reason, within).await
    }

    /// Hands a telemetry event, stamped now, to the subscribers that take its stream: the
    /// events only the server's user sees (`platform.initStart`, `platform.initReport`,
    /// `platform.report`, and the function's and extensions' log lines, `function` and
    /// `extension`). Events emitted before an extension subscribed do not reach it.
    pub fn emit(&self, record: Record) {
        self.shared.emit(record);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere may poison the lock; the data is still consistent at every await.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `time` as telemetry stamps it: RFC 3339 in UTC with milliseconds.
fn timestamp(time: SystemTime) -> String {
    let mut out = String::with_capacity(24);
    crate::logging::push_timestamp(&mut out, time);
    out
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // Owned by this task: aborting it (dropping the server) closes every connection.
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, say: the runtime's connection can wait a moment.
                tracing::warn!(%error, "the Runtime API could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let user = Arc::new(Mutex::new(None));
            let service = {
                let (shared, user) = (Arc::clone(&shared), Arc::clone(&user));
                hyper::service::service_fn(move |request| {
                    answer(Arc::clone(&shared), Arc::clone(&user), request)
                })
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .max_buf_size(protocol::MAX_HEADER_BYTES + HEADER_BUFFER_MARGIN)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Some(id) = lock(&user).take() {
                shared.disconnected(&id);
            }
        });
        while connections.try_join_next().is_some() {}
    }
}

type Answer = Response<Full<Bytes>>;

/// The routes of the three APIs.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Runtime(runtime::Route<'a>),
    Extension(extensions::Route),
    Telemetry,
}

impl<'a> Route<'a> {
    /// The route of `path` and the method it takes, if `path` is one.
    fn of(path: &'a str) -> Option<(Self, Method)> {
        if let Some((route, method)) = runtime::Route::of(path) {
            return Some((Self::Runtime(route), method));
        }
        if let Some((route, method)) = extensions::Route::of(path) {
            return Some((Self::Extension(route), method));
        }
        telemetry::is_path(path).then_some((Self::Telemetry, Method::PUT))
    }
}

/// The extension (its identifier) a connection was kept open for, if any.
type User = Arc<Mutex<Option<String>>>;

async fn answer(
    shared: Arc<Shared>,
    user: User,
    request: Request<Incoming>,
) -> Result<Answer, Infallible> {
    let (parts, body) = request.into_parts();
    if let Some(id) = extensions::kept_alive_by(&parts) {
        *lock(&user) = Some(id);
    }
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > protocol::MAX_HEADER_BYTES {
        return Ok(refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "RequestHeaderFieldsTooLarge",
            &format!(
                "the request's headers are {header_bytes} bytes; the Runtime API takes at most {}",
                protocol::MAX_HEADER_BYTES
            ),
        ));
    }
    if let Some(refusal) = runtime::over_long_id(parts.uri.path()) {
        return Ok(refusal);
    }
    let Some((route, method)) = Route::of(parts.uri.path()) else {
        return Ok(refuse(
            StatusCode::NOT_FOUND,
            "InvalidRequest",
            &format!("`{}` is not a path of the Runtime API", parts.uri.path()),
        ));
    };
    if parts.method != method {
        return Ok(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "InvalidRequest",
            &format!(
                "`{}` takes {method}, not {}",
                parts.uri.path(),
                parts.method
            ),
        ));
    }
    Ok(match route {
        Route::Runtime(route) => runtime::answer(&shared, route, parts.headers, body).await,
        Route::Extension(route) => extensions::answer(&shared, route, &parts.headers, body).await,
        Route::Telemetry => telemetry::subscribe(&shared, &parts.headers, body).await,
    })
}

/// Why a request body was not read whole.
enum Unread {
    TooLarge,
    Broken(String),
}

impl Unread {
    fn answer(&self) -> Answer {
        match self {
            Self::TooLarge => refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!(
                    "Exceeded maximum allowed payload size ({} bytes).",
                    protocol::MAX_RESPONSE_BYTES
                ),
            ),
            Self::Broken(why) => refuse(StatusCode::BAD_REQUEST, "TruncatedHTTPRequest", why),
        }
    }
}

/// Reads a body of at most `limit` bytes. A larger one is read to its end and dropped, so that
/// the runtime, still writing, reads the refusal instead of a broken connection.
async fn read(mut body: Incoming, limit: usize) -> Result<Bytes, Unread> {
    let mut gathered = BytesMut::new();
    let mut over = false;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|error| Unread::Broken(format!("the body broke off: {error}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if !over && gathered.len() + data.len() > limit {
            over = true;
            gathered = BytesMut::new();
        }
        if !over {
            gathered.extend_from_slice(&data);
        }
    }
    if over {
        return Err(Unread::TooLarge);
    }
    Ok(gathered.freeze())
}

fn accepted() -> Answer {
    let mut response = Response::new(Full::new(Bytes::from_static(br#"{"status":"OK"}"#)));
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

fn refuse(status: StatusCode, error_type: &str, message: &str) -> Answer {
    let mut response = Response::new(Full::new(error_document(error_type, message)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_routes_its_own_paths() {
        fn route(path: &str) -> Option<Route<'_>> {
            Route::of(path).map(|(route, _)| route)
        }
        assert_eq!(
            route("/2018-06-01/runtime/invocation/next"),
            Some(Route::Runtime(runtime::Route::Next))
        );
        assert_eq!(
            route("/2020-01-01/extension/register"),
            Some(Route::Extension(extensions::Route::Register))
        );
        assert_eq!(
            route("/2020-01-01/extension/event/next"),
            Some(Route::Extension(extensions::Route::Next))
        );
        assert_eq!(route("/2022-07-01/telemetry"), Some(Route::Telemetry));
        assert_eq!(route("/2022-07-01/telemetry/"), Some(Route::Telemetry));
        assert_eq!(route("/2020-01-01/extension/unknown"), None);
        assert_eq!(route("/2020-08-15/logs"), None);
    }
}
