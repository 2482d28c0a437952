//! The Runtime API's server side: what Lambda runs inside an execution environment for the
//! function's runtime to talk to. `lambda_kit::testing` runs it in process, and
//! `cargo lambdakit serve` runs one per instance of a function; both hand it invocations and
//! await what the runtime reports, and neither has a copy of its routing or answers.
//!
//! It speaks the contract of [`protocol`](super::protocol): `/next` hands out queued invocations;
//! `/response` (buffered or streamed) and `/error` settle one; `/init/error` fails the start.
//! Refused requests get Lambda's status codes and `{"errorMessage", "errorType"}` bodies: an
//! unknown request id 400 `InvalidRequestID`, a second report for an invocation 403
//! `InvalidStateTransition`, a buffered response over the limit 413 `RequestEntityTooLarge`
//! (the invocation then fails with `Function.ResponseSizeTooLarge`), a request id longer than
//! the protocol's limit 400 `InvalidRequestID` naming the limit, and a header section over the
//! limit 431 `RequestHeaderFieldsTooLarge`.
//!
//! It is built to have neighbours: the Extensions and Telemetry APIs are further routes of the
//! same listener and state.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::protocol::{self, header};

/// The largest buffered response the runtime may post (see the protocol's limit).
pub const MAX_RESPONSE_BYTES: usize = protocol::MAX_RESPONSE_BYTES;
/// The most a function may stream in one response (see the protocol's limit).
pub const MAX_STREAMED_RESPONSE_BYTES: usize = protocol::MAX_STREAMED_RESPONSE_BYTES;
/// The largest client context an invocation may carry, base64-encoded (see the protocol's
/// limit).
pub const MAX_CLIENT_CONTEXT_BYTES: usize = protocol::MAX_CLIENT_CONTEXT_BYTES;

/// How many settled request ids the server remembers, to tell a second report for one of them
/// (403) from a report for an id it never handed out (400).
const REMEMBERED: usize = 4096;

/// What the connection's read buffer holds beyond the largest header section: a request whose
/// headers are over the limit by less than this is read whole and refused in Lambda's shape;
/// one over by more is refused by hyper itself, with a bare 431.
const HEADER_BUFFER_MARGIN: usize = 64 * 1024;

/// How many chunks of a streamed response wait for their reader before the server stops
/// reading the runtime's stream (backpressure, not a limit).
const STREAM_BUFFER: usize = 16;

/// Lambda's error document for the caller: `{"errorMessage", "errorType"}`.
pub fn error_document(error_type: &str, message: &str) -> Bytes {
    Bytes::from(protocol::error_document(error_type, message))
}

/// One Runtime API on `127.0.0.1`, on a port of its own. Dropping it stops the server and
/// closes its connections.
#[derive(Debug)]
pub struct RuntimeApiServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    /// The accept loop, which owns every connection's task.
    server: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    queue: mpsc::UnboundedSender<Invocation>,
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    ledger: Mutex<Ledger>,
    start: watch::Sender<Start>,
    init_errors: Mutex<Vec<ErrorReport>>,
    connections: AtomicUsize,
}

/// Where the runtime's start stands.
#[derive(Debug, Clone)]
enum Start {
    Starting,
    /// It asked for its first invocation.
    Ready,
    /// It posted to `/init/error`.
    Failed(ErrorReport),
}

/// The invocations the server knows of, by request id.
#[derive(Debug, Default)]
struct Ledger {
    open: HashMap<String, Open>,
    /// Settled ids, oldest first, at most [`REMEMBERED`].
    settled: VecDeque<String>,
    settled_set: HashSet<String>,
}

#[derive(Debug)]
enum Open {
    /// Waiting in the queue for `/next`.
    Queued(oneshot::Sender<Report>),
    /// Handed out, not yet reported on.
    Running(oneshot::Sender<Report>),
}

/// What a report may do with an invocation.
enum Claim {
    /// Running: the report settles it through this sender.
    Granted(oneshot::Sender<Report>),
    /// Not handed out by this server, or not yet.
    Unknown,
    /// Reported on already.
    Settled,
}

impl Ledger {
    fn claim(&mut self, request_id: &str) -> Claim {
        match self.open.remove(request_id) {
            Some(Open::Running(sender)) => {
                self.settle(request_id);
                Claim::Granted(sender)
            }
            Some(queued @ Open::Queued(_)) => {
                self.open.insert(request_id.to_owned(), queued);
                Claim::Unknown
            }
            None if self.settled_set.contains(request_id) => Claim::Settled,
            None => Claim::Unknown,
        }
    }

    /// Gives a claimed invocation back, its report not made after all (its body broke off).
    fn unclaim(&mut self, request_id: &str, sender: oneshot::Sender<Report>) {
        self.settled_set.remove(request_id);
        self.settled.retain(|id| id != request_id);
        self.open
            .insert(request_id.to_owned(), Open::Running(sender));
    }

    fn settle(&mut self, request_id: &str) {
        if self.settled.len() == REMEMBERED
            && let Some(oldest) = self.settled.pop_front()
        {
            self.settled_set.remove(&oldest);
        }
        self.settled.push_back(request_id.to_owned());
        self.settled_set.insert(request_id.to_owned());
    }
}

impl Drop for RuntimeApiServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApiServer {
    /// Starts a server on a free port of `127.0.0.1`.
    ///
    /// # Errors
    ///
    /// Fails when no port can be bound.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let (queue, next) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue,
            next: tokio::sync::Mutex::new(next),
            ledger: Mutex::default(),
            start: watch::Sender::new(Start::Starting),
            init_errors: Mutex::default(),
            connections: AtomicUsize::new(0),
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
    /// report. Dropping it before `/next` hands the invocation out withdraws it.
    pub fn submit(&self, invocation: Invocation) -> Pending {
        let (sender, receiver) = oneshot::channel();
        lock(&self.shared.ledger)
            .open
            .insert(invocation.request_id.clone(), Open::Queued(sender));
        // The receiving half lives in `self.shared`, so the queue is open.
        let _ = self.shared.queue.send(invocation);
        Pending { receiver }
    }

    /// Waits until the runtime has started: `Ok` once it asks for its first invocation, the
    /// report it posted to `/init/error` if it failed first.
    ///
    /// # Errors
    ///
    /// The runtime's init error.
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

    /// The reports posted to `/init/error`, in order.
    pub fn init_errors(&self) -> Vec<ErrorReport> {
        lock(&self.shared.init_errors).clone()
    }

    /// How many connections runtimes have opened so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

/// An invocation to hand out: its request id, event and the headers `/next` sends with it.
#[derive(Debug, Clone)]
pub struct Invocation {
    request_id: String,
    body: Bytes,
    /// From hand-out to the deadline; `None` sends no deadline (a test of a broken API).
    timeout: Option<Duration>,
    headers: HeaderMap,
}

impl Invocation {
    /// An invocation of `function_arn` with `body` as its event; its deadline is `timeout` after
    /// `/next` hands it out.
    ///
    /// A `request_id` longer than the protocol's limit (128 bytes) is handed out, but the
    /// runtime's report on it is refused.
    ///
    /// # Errors
    ///
    /// Fails when `request_id` or `function_arn` cannot be a header value.
    pub fn new(
        request_id: &str,
        body: Bytes,
        timeout: Duration,
        function_arn: &str,
    ) -> Result<Self, http::header::InvalidHeaderValue> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            HeaderName::from_static(header::REQUEST_ID),
            HeaderValue::from_str(request_id)?,
        );
        headers.insert(
            HeaderName::from_static(header::FUNCTION_ARN),
            HeaderValue::from_str(function_arn)?,
        );
        Ok(Self {
            request_id: request_id.to_owned(),
            body,
            timeout: Some(timeout),
            headers,
        })
    }

    /// Sends no `Lambda-Runtime-Deadline-Ms`, as a broken Runtime API would.
    #[must_use]
    pub fn without_deadline(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Sends the X-Ray trace header (`Lambda-Runtime-Trace-Id`).
    #[must_use]
    pub fn trace_id(self, value: HeaderValue) -> Self {
        self.with(header::TRACE_ID, value)
    }

    /// Sends the mobile client context, JSON (`Lambda-Runtime-Client-Context`).
    #[must_use]
    pub fn client_context(self, value: HeaderValue) -> Self {
        self.with(header::CLIENT_CONTEXT, value)
    }

    /// Sends the Cognito identity, JSON (`Lambda-Runtime-Cognito-Identity`).
    #[must_use]
    pub fn identity(self, value: HeaderValue) -> Self {
        self.with(header::COGNITO_IDENTITY, value)
    }

    /// Sends the tenant id (`Lambda-Runtime-Aws-Tenant-Id`).
    #[must_use]
    pub fn tenant_id(self, value: HeaderValue) -> Self {
        self.with(header::TENANT_ID, value)
    }

    fn with(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.headers.insert(HeaderName::from_static(name), value);
        self
    }

    /// The headers `/next` sends, for a test to change or remove (the deadline is added when
    /// it is handed out, unless one is set here or [`without_deadline`](Self::without_deadline)
    /// was called).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// Its request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
}

/// An invocation handed to the server, until the runtime reports on it.
#[derive(Debug)]
pub struct Pending {
    receiver: oneshot::Receiver<Report>,
}

impl Pending {
    /// Waits for the runtime's report; `None` when the server stopped first.
    pub async fn report(self) -> Option<Report> {
        self.receiver.await.ok()
    }
}

/// What the runtime reported for an invocation.
#[derive(Debug)]
#[non_exhaustive]
pub enum Report {
    /// The body posted to `/response`.
    Response(Bytes),
    /// The report posted to `/error`, or the server's own when a buffered response was over
    /// [`MAX_RESPONSE_BYTES`] (`Function.ResponseSizeTooLarge`).
    Error(ErrorReport),
    /// A response the runtime streams, as it arrives.
    Streamed(Stream),
}

/// A streamed `/response`: its request's headers, and its frames as they arrive.
#[derive(Debug)]
pub struct Stream {
    /// The request's headers (`Content-Type` among them).
    pub headers: HeaderMap,
    /// Data, then trailers or a break; closed when the stream ended. The server reads the
    /// stream to its end whether or not the frames are read, so the runtime gets its answer.
    pub frames: mpsc::Receiver<Frame>,
}

/// A piece of a streamed response.
#[derive(Debug)]
#[non_exhaustive]
pub enum Frame {
    /// A chunk of the body, as read (a chunk sent may arrive in parts, never joined).
    Data(Bytes),
    /// The trailers the stream ended with; [`ErrorReport::from_trailers`] reads a failure
    /// from them.
    Trailers(HeaderMap),
    /// The stream broke off before its end (the connection closed, or its framing was bad).
    Broken(String),
}

/// An error report as the Runtime API received it: the `Lambda-Runtime-Function-Error-Type`
/// header and the body.
#[derive(Debug, Clone)]
pub struct ErrorReport {
    header: Option<String>,
    body: Bytes,
    document: serde_json::Value,
}

impl ErrorReport {
    /// A report with `header` as its error type header and `body` as sent.
    pub fn new(header: Option<String>, body: Bytes) -> Self {
        let document = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        Self {
            header,
            body,
            document,
        }
    }

    /// The failure a streamed response's trailers report, if they report one: the error type
    /// trailer as the header, and the error body trailer decoded from base64 as the body.
    pub fn from_trailers(trailers: &HeaderMap) -> Option<Self> {
        let text = |name: &str| trailers.get(name).and_then(|value| value.to_str().ok());
        let error_type = text(header::FUNCTION_ERROR_TYPE);
        let error_body = text(header::FUNCTION_ERROR_BODY);
        if error_type.is_none() && error_body.is_none() {
            return None;
        }
        let body = error_body.map(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_or_else(|_| Bytes::copy_from_slice(encoded.as_bytes()), Bytes::from)
        });
        Some(Self::new(
            error_type.map(str::to_owned),
            body.unwrap_or_default(),
        ))
    }

    /// The `Lambda-Runtime-Function-Error-Type` header.
    pub fn error_type_header(&self) -> Option<&str> {
        self.header.as_deref()
    }

    /// The body's `errorType`.
    pub fn error_type(&self) -> &str {
        self.document["errorType"].as_str().unwrap_or_default()
    }

    /// The body's `errorMessage`.
    pub fn error_message(&self) -> &str {
        self.document["errorMessage"].as_str().unwrap_or_default()
    }

    /// The body's `stackTrace` lines.
    pub fn stack_trace(&self) -> Vec<&str> {
        self.document["stackTrace"]
            .as_array()
            .map(|lines| lines.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The body as sent.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The error as Lambda hands it to the caller: the body when it is an error document,
    /// else one made of the header's type and the body's text.
    pub fn document(&self) -> Bytes {
        if self.document.get("errorType").is_some() {
            return self.body.clone();
        }
        error_document(
            self.header.as_deref().unwrap_or("Unknown"),
            &String::from_utf8_lossy(&self.body),
        )
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere may poison the lock; the data is still consistent at every await.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
            let service =
                hyper::service::service_fn(move |request| answer(Arc::clone(&shared), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .max_buf_size(protocol::MAX_HEADER_BYTES + HEADER_BUFFER_MARGIN)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

type Answer = Response<Full<Bytes>>;

/// The routes of the Runtime API.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Next,
    InitError,
    Response(&'a str),
    Error(&'a str),
}

impl<'a> Route<'a> {
    /// The route of `path` and the method it takes, if `path` is one.
    fn of(path: &'a str) -> Option<(Self, Method)> {
        let route = path.strip_prefix(protocol::PREFIX)?;
        if route == protocol::NEXT {
            return Some((Self::Next, Method::GET));
        }
        if route == protocol::INIT_ERROR {
            return Some((Self::InitError, Method::POST));
        }
        let rest = route.strip_prefix(protocol::INVOCATION)?;
        let id = |verb: &str| rest.strip_suffix(verb).filter(|id| valid_id(id));
        if let Some(request_id) = id(protocol::RESPONSE) {
            return Some((Self::Response(request_id), Method::POST));
        }
        id(protocol::ERROR).map(|request_id| (Self::Error(request_id), Method::POST))
    }
}

/// A request id is one path segment.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && !id.contains('/')
}

/// The request id of a report's `path`, when it is longer than any the server hands out.
fn over_long_id(path: &str) -> Option<&str> {
    match Route::of(path)? {
        (Route::Response(id) | Route::Error(id), _)
            if id.len() > protocol::MAX_REQUEST_ID_BYTES =>
        {
            Some(id)
        }
        _ => None,
    }
}

async fn answer(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Answer, Infallible> {
    let (parts, body) = request.into_parts();
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
    if let Some(request_id) = over_long_id(parts.uri.path()) {
        return Ok(refuse(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            &format!(
                "the request id is {} bytes; the Runtime API takes ids of at most {}",
                request_id.len(),
                protocol::MAX_REQUEST_ID_BYTES
            ),
        ));
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
        Route::Next => next(&shared).await,
        Route::InitError => init_error(&shared, &parts.headers, body).await,
        Route::Response(request_id) => match response_mode(&parts.headers) {
            Ok(false) => buffered(&shared, request_id, body).await,
            Ok(true) => streamed(&shared, request_id, parts.headers, body).await,
            Err(answer) => *answer,
        },
        Route::Error(request_id) => error(&shared, request_id, &parts.headers, body).await,
    })
}

/// Whether a `/response` streams; a mode other than `streaming` is refused.
fn response_mode(headers: &HeaderMap) -> Result<bool, Box<Answer>> {
    match headers.get(header::RESPONSE_MODE) {
        None => Ok(false),
        Some(mode)
            if mode
                .as_bytes()
                .eq_ignore_ascii_case(protocol::STREAMING.as_bytes()) =>
        {
            Ok(true)
        }
        Some(mode) => Err(Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "InvalidFunctionResponseMode",
            &format!(
                "`{}: {}` is not a response mode; the one there is is `{}`",
                header::RESPONSE_MODE,
                String::from_utf8_lossy(mode.as_bytes()),
                protocol::STREAMING
            ),
        ))),
    }
}

async fn next(shared: &Shared) -> Answer {
    shared.start.send_if_modified(|start| {
        let starting = matches!(start, Start::Starting);
        if starting {
            *start = Start::Ready;
        }
        starting
    });
    let mut queue = shared.next.lock().await;
    loop {
        let Some(invocation) = queue.recv().await else {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "the Runtime API is stopping",
            );
        };
        // An invocation whose caller gave up before it was handed out is dropped here.
        let handed_out = {
            let mut ledger = lock(&shared.ledger);
            match ledger.open.remove(&invocation.request_id) {
                Some(Open::Queued(sender)) if !sender.is_closed() => {
                    ledger
                        .open
                        .insert(invocation.request_id.clone(), Open::Running(sender));
                    true
                }
                _ => false,
            }
        };
        if handed_out {
            return hand_out(invocation);
        }
    }
}

fn hand_out(invocation: Invocation) -> Answer {
    let Invocation {
        body,
        timeout,
        mut headers,
        ..
    } = invocation;
    if let Some(timeout) = timeout {
        let deadline_ms = (SystemTime::now() + timeout)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        headers
            .entry(HeaderName::from_static(header::DEADLINE_MS))
            .or_insert_with(|| HeaderValue::from(deadline_ms as u64));
    }
    let mut response = Response::new(Full::new(body));
    *response.headers_mut() = headers;
    response
}

async fn init_error(shared: &Shared, headers: &HeaderMap, body: Incoming) -> Answer {
    let body = match read(body, protocol::MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(refusal) => return refusal.answer(),
    };
    let report = ErrorReport::new(error_type_header(headers), body);
    lock(&shared.init_errors).push(report.clone());
    shared.start.send_replace(Start::Failed(report));
    accepted()
}

async fn buffered(shared: &Shared, request_id: &str, body: Incoming) -> Answer {
    let sender = match claim(shared, request_id) {
        Ok(sender) => sender,
        Err(refusal) => return *refusal,
    };
    match read(body, protocol::MAX_RESPONSE_BYTES).await {
        Ok(body) => {
            let _ = sender.send(Report::Response(body));
            accepted()
        }
        Err(Unread::TooLarge) => {
            // The invocation fails, and the runtime is told why; Lambda does both.
            let report = ErrorReport::new(
                Some(protocol::RESPONSE_SIZE_TOO_LARGE.to_owned()),
                error_document(
                    protocol::RESPONSE_SIZE_TOO_LARGE,
                    &protocol::response_too_large_message(),
                ),
            );
            let _ = sender.send(Report::Error(report));
            Unread::TooLarge.answer()
        }
        Err(broken @ Unread::Broken(_)) => {
            lock(&shared.ledger).unclaim(request_id, sender);
            broken.answer()
        }
    }
}

async fn error(shared: &Shared, request_id: &str, headers: &HeaderMap, body: Incoming) -> Answer {
    let sender = match claim(shared, request_id) {
        Ok(sender) => sender,
        Err(refusal) => return *refusal,
    };
    match read(body, protocol::MAX_RESPONSE_BYTES).await {
        Ok(body) => {
            let report = ErrorReport::new(error_type_header(headers), body);
            let _ = sender.send(Report::Error(report));
            accepted()
        }
        Err(unread) => {
            if matches!(unread, Unread::Broken(_)) {
                lock(&shared.ledger).unclaim(request_id, sender);
            }
            unread.answer()
        }
    }
}

/// Relays a streamed `/response` frame by frame, and answers when it has ended.
async fn streamed(
    shared: &Shared,
    request_id: &str,
    headers: HeaderMap,
    mut body: Incoming,
) -> Answer {
    let sender = match claim(shared, request_id) {
        Ok(sender) => sender,
        Err(refusal) => return *refusal,
    };
    let (frames, receiver) = mpsc::channel(STREAM_BUFFER);
    let _ = sender.send(Report::Streamed(Stream {
        headers,
        frames: receiver,
    }));
    // Whoever reads the frames may stop; the stream is read to its end regardless.
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => Frame::Data(data),
                Err(frame) => match frame.into_trailers() {
                    Ok(trailers) => Frame::Trailers(trailers),
                    Err(_) => continue,
                },
            },
            Err(error) => {
                let _ = frames
                    .send(Frame::Broken(format!(
                        "the response stream broke off: {error}"
                    )))
                    .await;
                break;
            }
        };
        let _ = frames.send(frame).await;
    }
    accepted()
}

/// Takes the right to report on `request_id`, or the refusal Lambda answers with.
fn claim(shared: &Shared, request_id: &str) -> Result<oneshot::Sender<Report>, Box<Answer>> {
    match lock(&shared.ledger).claim(request_id) {
        Claim::Granted(sender) => Ok(sender),
        Claim::Unknown => Err(Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        ))),
        Claim::Settled => Err(Box::new(refuse(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            &format!(
                "State transition failed for runtime: invocation `{request_id}` was reported on already"
            ),
        ))),
    }
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

fn error_type_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::FUNCTION_ERROR_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
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
    fn paths_route_by_their_verb() {
        fn route(path: &str) -> Option<Route<'_>> {
            Route::of(path).map(|(route, _)| route)
        }
        assert_eq!(
            route("/2018-06-01/runtime/invocation/next"),
            Some(Route::Next)
        );
        assert_eq!(
            route("/2018-06-01/runtime/init/error"),
            Some(Route::InitError)
        );
        assert_eq!(
            route("/2018-06-01/runtime/invocation/abc/response"),
            Some(Route::Response("abc"))
        );
        assert_eq!(
            route("/2018-06-01/runtime/invocation/abc/error"),
            Some(Route::Error("abc"))
        );
        assert_eq!(route("/2018-06-01/runtime/invocation//response"), None);
        assert_eq!(route("/2018-06-01/runtime/invocation/a/b/response"), None);
        assert_eq!(route("/2018-06-01/runtime/invocation/abc/result"), None);
        assert_eq!(route("/2020-01-01/extension/register"), None);
    }

    #[test]
    fn a_settled_id_is_remembered_and_an_old_one_forgotten() {
        let mut ledger = Ledger::default();
        let (sender, _receiver) = oneshot::channel();
        ledger.open.insert("first".into(), Open::Running(sender));
        assert!(matches!(ledger.claim("first"), Claim::Granted(_)));
        assert!(matches!(ledger.claim("first"), Claim::Settled));
        for n in 0..REMEMBERED {
            ledger.settle(&format!("later-{n}"));
        }
        assert!(matches!(ledger.claim("first"), Claim::Unknown));
        assert_eq!(ledger.settled.len(), REMEMBERED);
    }
}
