//! The Runtime API's routes: `/next` hands out the invocations [`submit`] queued, and
//! `/response`, `/error` and `/init/error` take the runtime's reports on them. Each invocation
//! handed out is told to the extensions (an `INVOKE` event) and to telemetry (`platform.start`),
//! and each report too (`platform.runtimeDone`); see the parent module for the lifecycle.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::sync::{mpsc, oneshot, watch};

use super::{Answer, Shared, Unread, accepted, error_document, lock, read, refuse};
use crate::api::protocol::{self, header};
use crate::extension::telemetry::{self, Record};

/// How many settled request ids the server remembers, to tell a second report for one of them
/// (403) from a report for an id it never handed out (400).
const REMEMBERED: usize = 4096;

/// How many chunks of a streamed response wait for their reader before the server stops
/// reading the runtime's stream (backpressure, not a limit).
const STREAM_BUFFER: usize = 16;

/// The invocations the server knows of, by request id.
#[derive(Debug, Default)]
pub(super) struct Ledger {
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
    Running(Handed),
}

/// An invocation handed out: where its report goes, and what telemetry tells of it.
#[derive(Debug)]
struct Handed {
    sender: oneshot::Sender<Report>,
    /// When `/next` handed it out, for `platform.runtimeDone`'s duration.
    since: Instant,
    /// Its trace header's value.
    trace: Option<String>,
}

/// What a report may do with an invocation.
enum Claim {
    /// Running: the report settles it through this.
    Granted(Handed),
    /// Not handed out by this server, or not yet.
    Unknown,
    /// Reported on already.
    Settled,
}

impl Ledger {
    fn claim(&mut self, request_id: &str) -> Claim {
        match self.open.remove(request_id) {
            Some(Open::Running(handed)) => {
                self.settle(request_id);
                Claim::Granted(handed)
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
    fn unclaim(&mut self, request_id: &str, handed: Handed) {
        self.settled_set.remove(request_id);
        self.settled.retain(|id| id != request_id);
        self.open
            .insert(request_id.to_owned(), Open::Running(handed));
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
    completion: Completion,
}

impl Pending {
    /// Waits for the runtime's report; `None` when the server stopped first.
    pub async fn report(self) -> Option<Report> {
        self.receiver.await.ok()
    }

    /// A handle that resolves when the invocation is complete, which may be after its report:
    /// take it before awaiting [`report`](Self::report).
    pub fn completion(&self) -> Completion {
        self.completion.clone()
    }
}

/// Resolves when an invocation is complete: the runtime reported on it and every extension
/// registered for `INVOKE` has asked for its next event since it was handed out (an extension
/// that reported `exit/error` is not waited for). Until then, the execution environment is
/// still busy with it, and on Lambda its duration runs on.
#[derive(Debug, Clone)]
pub struct Completion {
    done: watch::Receiver<bool>,
}

impl Completion {
    /// Waits for the invocation to be complete; `false` when it never will be: it was
    /// withdrawn before being handed out, or the server stopped.
    pub async fn wait(mut self) -> bool {
        self.done.wait_for(|done| *done).await.is_ok()
    }
}

/// Queues `invocation` for `/next` (see [`RuntimeApiServer::submit`](super::RuntimeApiServer::submit)).
pub(super) fn submit(shared: &Shared, invocation: Invocation) -> Pending {
    let (sender, receiver) = oneshot::channel();
    let done = lock(&shared.extensions).track(&invocation.request_id);
    lock(&shared.ledger)
        .open
        .insert(invocation.request_id.clone(), Open::Queued(sender));
    // The receiving half lives in `shared`, so the queue is open.
    let _ = shared.queue.send(invocation);
    Pending {
        receiver,
        completion: Completion { done },
    }
}

/// What the runtime reported for an invocation.
#[derive(Debug)]
#[non_exhaustive]
pub enum Report {
    /// The body posted to `/response`.
    Response(Bytes),
    /// The report posted to `/error`, or the server's own when a buffered response was over
    /// [`MAX_RESPONSE_BYTES`](super::MAX_RESPONSE_BYTES) (`Function.ResponseSizeTooLarge`).
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

/// The routes of the Runtime API.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route<'a> {
    Next,
    InitError,
    Response(&'a str),
    Error(&'a str),
}

impl<'a> Route<'a> {
    /// The route of `path` and the method it takes, if `path` is one.
    pub(super) fn of(path: &'a str) -> Option<(Self, Method)> {
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

/// The refusal of a report whose `path` has a request id longer than any the server hands out.
pub(super) fn over_long_id(path: &str) -> Option<Answer> {
    match Route::of(path)? {
        (Route::Response(id) | Route::Error(id), _)
            if id.len() > protocol::MAX_REQUEST_ID_BYTES =>
        {
            Some(refuse(
                StatusCode::BAD_REQUEST,
                "InvalidRequestID",
                &format!(
                    "the request id is {} bytes; the Runtime API takes ids of at most {}",
                    id.len(),
                    protocol::MAX_REQUEST_ID_BYTES
                ),
            ))
        }
        _ => None,
    }
}

pub(super) async fn answer(
    shared: &Shared,
    route: Route<'_>,
    headers: HeaderMap,
    body: Incoming,
) -> Answer {
    match route {
        Route::Next => next(shared).await,
        Route::InitError => init_error(shared, &headers, body).await,
        Route::Response(request_id) => match response_mode(&headers) {
            Ok(false) => buffered(shared, request_id, body).await,
            Ok(true) => streamed(shared, request_id, headers, body).await,
            Err(answer) => *answer,
        },
        Route::Error(request_id) => error(shared, request_id, &headers, body).await,
    }
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

/// The phase and type Lambda's init telemetry carries for an on-demand instance.
fn init_runtime_done(status: &str, error_type: Option<String>) -> Record {
    Record::InitRuntimeDone(telemetry::InitRuntimeDone {
        initialization_type: "on-demand".to_owned(),
        phase: "init".to_owned(),
        status: status.to_owned(),
        error_type,
    })
}

async fn next(shared: &Shared) -> Answer {
    if lock(&shared.extensions).runtime_ready() {
        shared.emit(init_runtime_done("success", None));
    }
    shared.check_init();
    // Nothing is handed out before init ended: the extensions must hear of every invocation.
    let mut start = shared.start.subscribe();
    let _ = start
        .wait_for(|start| !matches!(start, super::Start::Starting))
        .await;
    let mut queue = shared.next.lock().await;
    loop {
        let Some(invocation) = queue.recv().await else {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "the Runtime API is stopping",
            );
        };
        let deadline = invocation
            .timeout
            .map(|timeout| SystemTime::now() + timeout);
        let trace = invocation
            .headers
            .get(header::TRACE_ID)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        // An invocation whose caller gave up before it was handed out is dropped here.
        let handed_out = {
            let mut ledger = lock(&shared.ledger);
            match ledger.open.remove(&invocation.request_id) {
                Some(Open::Queued(sender)) if !sender.is_closed() => {
                    let handed = Handed {
                        sender,
                        since: Instant::now(),
                        trace: trace.clone(),
                    };
                    ledger
                        .open
                        .insert(invocation.request_id.clone(), Open::Running(handed));
                    true
                }
                _ => false,
            }
        };
        if !handed_out {
            lock(&shared.extensions).untrack(&invocation.request_id);
            continue;
        }
        let deadline_ms = deadline.map(|deadline| {
            deadline
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64
        });
        let arn = invocation
            .headers
            .get(header::FUNCTION_ARN)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        lock(&shared.extensions).invoked(
            &invocation.request_id,
            deadline_ms.unwrap_or_default(),
            arn,
            trace.as_deref(),
        );
        shared.emit(Record::Start(telemetry::Start {
            request_id: invocation.request_id.clone(),
            version: Some(shared.function.version.clone()),
            tracing: trace.map(tracing_of),
        }));
        return hand_out(invocation, deadline_ms);
    }
}

/// The trace as telemetry records carry it.
fn tracing_of(value: String) -> telemetry::Tracing {
    telemetry::Tracing {
        kind: protocol::extensions::TRACE_TYPE.to_owned(),
        value,
        span_id: None,
    }
}

fn hand_out(invocation: Invocation, deadline_ms: Option<u64>) -> Answer {
    let Invocation {
        body, mut headers, ..
    } = invocation;
    if let Some(deadline_ms) = deadline_ms {
        headers
            .entry(HeaderName::from_static(header::DEADLINE_MS))
            .or_insert_with(|| HeaderValue::from(deadline_ms));
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
    shared.emit(init_runtime_done(
        "error",
        Some(
            report
                .error_type_header()
                .unwrap_or("Runtime.Unknown")
                .to_owned(),
        ),
    ));
    shared.fail_start(report);
    accepted()
}

/// What the runtime made of an invocation, for `platform.runtimeDone`.
enum Done<'a> {
    Success { produced_bytes: Option<u64> },
    Error(&'a ErrorReport),
}

/// Tells telemetry and the extensions' bookkeeping that the runtime reported on `request_id`.
fn reported(
    shared: &Shared,
    request_id: &str,
    since: Instant,
    trace: Option<String>,
    done: Done<'_>,
) {
    let (status, error_type, produced_bytes) = match done {
        Done::Success { produced_bytes } => ("success", None, produced_bytes),
        Done::Error(report) => {
            let error_type = report
                .error_type_header()
                .filter(|kind| !kind.is_empty())
                .unwrap_or_else(|| report.error_type());
            ("error", Some(error_type.to_owned()), None)
        }
    };
    shared.emit(Record::RuntimeDone(telemetry::RuntimeDone {
        request_id: request_id.to_owned(),
        status: status.to_owned(),
        error_type,
        metrics: Some(telemetry::RuntimeDoneMetrics {
            duration_ms: since.elapsed().as_secs_f64() * 1000.0,
            produced_bytes,
        }),
        tracing: trace.map(tracing_of),
    }));
    lock(&shared.extensions).reported(request_id);
}

async fn buffered(shared: &Shared, request_id: &str, body: Incoming) -> Answer {
    let handed = match claim(shared, request_id) {
        Ok(handed) => handed,
        Err(refusal) => return *refusal,
    };
    match read(body, protocol::MAX_RESPONSE_BYTES).await {
        Ok(body) => {
            let produced_bytes = Some(body.len() as u64);
            let _ = handed.sender.send(Report::Response(body));
            let done = Done::Success { produced_bytes };
            reported(shared, request_id, handed.since, handed.trace, done);
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
            reported(
                shared,
                request_id,
                handed.since,
                handed.trace,
                Done::Error(&report),
            );
            let _ = handed.sender.send(Report::Error(report));
            Unread::TooLarge.answer()
        }
        Err(broken @ Unread::Broken(_)) => {
            lock(&shared.ledger).unclaim(request_id, handed);
            broken.answer()
        }
    }
}

async fn error(shared: &Shared, request_id: &str, headers: &HeaderMap, body: Incoming) -> Answer {
    let handed = match claim(shared, request_id) {
        Ok(handed) => handed,
        Err(refusal) => return *refusal,
    };
    match read(body, protocol::MAX_RESPONSE_BYTES).await {
        Ok(body) => {
            let report = ErrorReport::new(error_type_header(headers), body);
            reported(
                shared,
                request_id,
                handed.since,
                handed.trace,
                Done::Error(&report),
            );
            let _ = handed.sender.send(Report::Error(report));
            accepted()
        }
        Err(unread) => {
            if matches!(unread, Unread::Broken(_)) {
                lock(&shared.ledger).unclaim(request_id, handed);
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
    let Handed {
        sender,
        since,
        trace,
    } = match claim(shared, request_id) {
        Ok(handed) => handed,
        Err(refusal) => return *refusal,
    };
    let (frames, receiver) = mpsc::channel(STREAM_BUFFER);
    let _ = sender.send(Report::Streamed(Stream {
        headers,
        frames: receiver,
    }));
    let mut produced_bytes = 0_u64;
    let mut failure = None;
    // Whoever reads the frames may stop; the stream is read to its end regardless.
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => {
                    produced_bytes += data.len() as u64;
                    Frame::Data(data)
                }
                Err(frame) => match frame.into_trailers() {
                    Ok(trailers) => {
                        failure = ErrorReport::from_trailers(&trailers);
                        Frame::Trailers(trailers)
                    }
                    Err(_) => continue,
                },
            },
            Err(error) => {
                let why = format!("the response stream broke off: {error}");
                failure = Some(ErrorReport::new(
                    Some("Runtime.TruncatedResponse".to_owned()),
                    error_document("Runtime.TruncatedResponse", &why),
                ));
                let _ = frames.send(Frame::Broken(why)).await;
                break;
            }
        };
        let _ = frames.send(frame).await;
    }
    let done = match &failure {
        Some(report) => Done::Error(report),
        None => Done::Success {
            produced_bytes: Some(produced_bytes),
        },
    };
    reported(shared, request_id, since, trace, done);
    accepted()
}

/// Takes the right to report on `request_id`, or the refusal Lambda answers with.
fn claim(shared: &Shared, request_id: &str) -> Result<Handed, Box<Answer>> {
    match lock(&shared.ledger).claim(request_id) {
        Claim::Granted(handed) => Ok(handed),
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

fn error_type_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::FUNCTION_ERROR_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
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
        let handed = Handed {
            sender,
            since: Instant::now(),
            trace: None,
        };
        ledger.open.insert("first".into(), Open::Running(handed));
        assert!(matches!(ledger.claim("first"), Claim::Granted(_)));
        assert!(matches!(ledger.claim("first"), Claim::Settled));
        for n in 0..REMEMBERED {
            ledger.settle(&format!("later-{n}"));
        }
        assert!(matches!(ledger.claim("first"), Claim::Unknown));
        assert_eq!(ledger.settled.len(), REMEMBERED);
    }
}
