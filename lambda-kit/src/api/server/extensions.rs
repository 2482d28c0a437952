//! The Extensions API's routes and bookkeeping (AWS "Lambda Extensions API"): `register`,
//! `event/next`, `init/error` and `exit/error`, with the status codes and error types of
//! Lambda's own server (its published runtime interface emulator, `rapi/handler`), and the
//! state the lifecycle needs: who registered for what, which events each still holds, which
//! invocations and which shutdown wait for whom.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::Deserialize;
use tokio::sync::{oneshot, watch};

use super::ids::{is_uuid, uuid};
use super::{Answer, ErrorReport, Shared, accepted, error_document, lock, read, refuse};
use crate::api::protocol::{self, extensions as api};
use crate::extension::telemetry::{self, Record};
use api::{error_type, header};

/// Why the execution environment shuts down: a `SHUTDOWN` event's `shutdownReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownReason {
    /// The instance retires (idle, replaced, or the emulator stops).
    Spindown,
    /// An invocation ran out of time.
    Timeout,
    /// The runtime or an extension failed.
    Failure,
}

impl ShutdownReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Spindown => api::SPINDOWN,
            Self::Timeout => api::TIMEOUT,
            Self::Failure => api::FAILURE,
        }
    }
}

/// Whether an extension runs as a process of its own or inside the runtime's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtensionKind {
    /// Its name is one of the function's external extensions
    /// ([`Function::external_extensions`](super::Function::external_extensions)).
    External,
    /// Any other name: registered from inside the runtime's process. It may register for
    /// `INVOKE` only.
    Internal,
}

/// An extension that registered.
#[derive(Debug, Clone)]
pub struct Registered {
    name: String,
    kind: ExtensionKind,
    invoke: bool,
    shutdown: bool,
    asked: bool,
}

impl Registered {
    /// Its `Lambda-Extension-Name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// External or internal.
    pub fn kind(&self) -> ExtensionKind {
        self.kind
    }

    /// Whether it registered for `INVOKE`.
    pub fn invoke(&self) -> bool {
        self.invoke
    }

    /// Whether it registered for `SHUTDOWN`.
    pub fn shutdown(&self) -> bool {
        self.shutdown
    }

    /// Whether it has asked for an event (`event/next`) since it registered, or reported an
    /// error: until it does, init waits for it.
    pub fn asked(&self) -> bool {
        self.asked
    }
}

/// Which of an extension's error routes a report came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// `init/error`: it could not start, and init failed.
    Init,
    /// `exit/error`: it failed and is about to exit.
    Exit,
}

/// What an extension posted to `init/error` or `exit/error`.
#[derive(Debug, Clone)]
pub struct ExtensionError {
    name: String,
    phase: Phase,
    report: ErrorReport,
}

impl ExtensionError {
    /// The extension's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which route it posted to.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The report: `Lambda-Extension-Function-Error-Type` as its error type header, and the
    /// body as sent.
    pub fn report(&self) -> &ErrorReport {
        &self.report
    }
}

/// How a [`shutdown`](super::RuntimeApiServer::shutdown) went.
#[derive(Debug, Clone)]
pub struct Shutdown {
    unfinished: Vec<String>,
}

impl Shutdown {
    /// The extensions that had not asked for their next event (nor reported `exit/error`) when
    /// the deadline passed; whoever launched them kills them.
    pub fn unfinished(&self) -> &[String] {
        &self.unfinished
    }
}

/// The routes of the Extensions API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Register,
    Next,
    InitError,
    ExitError,
}

impl Route {
    /// The route of `path` and the method it takes, if `path` is one.
    pub(super) fn of(path: &str) -> Option<(Self, Method)> {
        let route = path
            .strip_prefix('/')?
            .strip_prefix(api::VERSION)?
            .strip_prefix(api::EXTENSION)?;
        [
            (api::REGISTER, Self::Register, Method::POST),
            (api::NEXT, Self::Next, Method::GET),
            (api::INIT_ERROR, Self::InitError, Method::POST),
            (api::EXIT_ERROR, Self::ExitError, Method::POST),
        ]
        .into_iter()
        .find(|(name, _, _)| *name == route)
        .map(|(_, route, method)| (route, method))
    }
}

/// The extensions of one execution environment, and who waits for them.
#[derive(Debug)]
pub(super) struct Registry {
    /// The external extensions launched: init waits for each to register.
    expected: Vec<String>,
    /// The runtime asked for its first invocation.
    runtime_ready: bool,
    /// Init ended, everyone ready.
    init_ended: bool,
    /// Registration closed: init ended or failed, or shutdown began.
    closed: bool,
    extensions: Vec<Extension>,
    /// Invocations submitted and not yet complete, by request id.
    invocations: HashMap<String, Tracked>,
    shutdown: Option<Awaited>,
    errors: Vec<ExtensionError>,
}

#[derive(Debug)]
struct Extension {
    id: String,
    name: String,
    kind: ExtensionKind,
    invoke: bool,
    shutdown: bool,
    state: State,
    /// Events not yet handed out.
    queue: VecDeque<Pushed>,
    /// Its `event/next` waiting for an event.
    waiter: Option<oneshot::Sender<Pushed>>,
    /// The event it was handed last and is still busy with (until it asks again).
    holding: Option<Held>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Registered, has not asked for an event yet.
    Registered,
    /// Has asked for an event at least once.
    Ready,
    /// Posted `exit/error` or `init/error`.
    Exited,
}

/// What an event was about, to release whoever waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    Invoke(String),
    Shutdown,
}

/// An event on its way to an extension.
#[derive(Debug)]
struct Pushed {
    held: Held,
    body: Bytes,
}

/// An invocation until it is complete.
#[derive(Debug)]
struct Tracked {
    /// The extensions (by id) that hold its `INVOKE` event or have yet to get it.
    waiting: HashSet<String>,
    reported: bool,
    done: watch::Sender<bool>,
}

/// The shutdown, until every extension is done.
#[derive(Debug)]
struct Awaited {
    waiting: HashSet<String>,
    done: watch::Sender<bool>,
}

/// What `event/next` gets.
enum Asked {
    Now(Pushed),
    Wait(oneshot::Receiver<Pushed>),
}

impl Registry {
    pub(super) fn new(expected: Vec<String>) -> Self {
        Self {
            expected,
            runtime_ready: false,
            init_ended: false,
            closed: false,
            extensions: Vec::new(),
            invocations: HashMap::new(),
            shutdown: None,
            errors: Vec::new(),
        }
    }

    /// Notes that the runtime asked for an invocation; `true` the first time.
    pub(super) fn runtime_ready(&mut self) -> bool {
        !std::mem::replace(&mut self.runtime_ready, true)
    }

    /// Ends init when the runtime, every expected external extension and every registered
    /// one are ready; `true` when it ends now.
    pub(super) fn end_init(&mut self) -> bool {
        let ready = self.runtime_ready
            && self
                .expected
                .iter()
                .all(|name| self.extensions.iter().any(|ext| ext.name == *name))
            && self
                .extensions
                .iter()
                .all(|ext| ext.state != State::Registered);
        if self.closed || !ready {
            return false;
        }
        self.closed = true;
        self.init_ended = true;
        true
    }

    /// Closes registration (init failed).
    pub(super) fn close(&mut self) {
        self.closed = true;
    }

    /// Starts tracking a submitted invocation; the receiver turns `true` when it is complete.
    pub(super) fn track(&mut self, request_id: &str) -> watch::Receiver<bool> {
        let (done, receiver) = watch::channel(false);
        let tracked = Tracked {
            waiting: HashSet::new(),
            reported: false,
            done,
        };
        self.invocations.insert(request_id.to_owned(), tracked);
        receiver
    }

    /// Forgets an invocation withdrawn before it was handed out.
    pub(super) fn untrack(&mut self, request_id: &str) {
        self.invocations.remove(request_id);
    }

    /// Hands `INVOKE` to every extension registered for it.
    pub(super) fn invoked(
        &mut self,
        request_id: &str,
        deadline_ms: u64,
        arn: &str,
        trace: Option<&str>,
    ) {
        let body = Bytes::from(
            serde_json::json!({
                "eventType": api::INVOKE,
                "deadlineMs": deadline_ms,
                "requestId": request_id,
                "invokedFunctionArn": arn,
                "tracing": {"type": api::TRACE_TYPE, "value": trace.unwrap_or_default()},
            })
            .to_string(),
        );
        let mut waiting = HashSet::new();
        for ext in &mut self.extensions {
            if ext.invoke && ext.state != State::Exited {
                let held = Held::Invoke(request_id.to_owned());
                deliver(
                    ext,
                    Pushed {
                        held,
                        body: body.clone(),
                    },
                );
                waiting.insert(ext.id.clone());
            }
        }
        if let Some(tracked) = self.invocations.get_mut(request_id) {
            tracked.waiting = waiting;
        }
    }

    /// Notes that the runtime reported on `request_id`.
    pub(super) fn reported(&mut self, request_id: &str) {
        if let Some(tracked) = self.invocations.get_mut(request_id) {
            tracked.reported = true;
        }
        self.complete_if_done(request_id);
    }

    fn complete_if_done(&mut self, request_id: &str) {
        let done = self
            .invocations
            .get(request_id)
            .is_some_and(|tracked| tracked.reported && tracked.waiting.is_empty());
        if done && let Some(tracked) = self.invocations.remove(request_id) {
            tracked.done.send_replace(true);
        }
    }

    /// Stops waiting for extension `id`, on `held` or on everything (it exited).
    fn release(&mut self, id: &str, held: Option<&Held>) {
        let invocations: Vec<String> = match held {
            Some(Held::Invoke(request_id)) => vec![request_id.clone()],
            Some(Held::Shutdown) => Vec::new(),
            None => self.invocations.keys().cloned().collect(),
        };
        for request_id in invocations {
            if let Some(tracked) = self.invocations.get_mut(&request_id) {
                tracked.waiting.remove(id);
            }
            self.complete_if_done(&request_id);
        }
        if matches!(held, None | Some(Held::Shutdown))
            && let Some(shutdown) = &mut self.shutdown
        {
            shutdown.waiting.remove(id);
            if shutdown.waiting.is_empty() {
                shutdown.done.send_replace(true);
            }
        }
    }

    fn find(&self, id: &str) -> Result<usize, Box<Answer>> {
        self.extensions
            .iter()
            .position(|ext| ext.id == id)
            .ok_or_else(|| {
                Box::new(refuse(
                    StatusCode::FORBIDDEN,
                    error_type::UNKNOWN_IDENTIFIER,
                    &format!("Unknown extension {id}"),
                ))
            })
    }

    /// `event/next` from extension `id`: it is done with what it held, and wants the next.
    fn ask(&mut self, id: &str) -> Result<Asked, Box<Answer>> {
        let index = self.find(id)?;
        let ext = &mut self.extensions[index];
        if ext.state == State::Exited {
            return Err(Box::new(invalid_state(&format!(
                "extension `{}` reported an error and exited; it gets no more events",
                ext.name
            ))));
        }
        if ext
            .waiter
            .as_ref()
            .is_some_and(|waiter| !waiter.is_closed())
        {
            return Err(Box::new(invalid_state(&format!(
                "extension `{}` is waiting for its next event already",
                ext.name
            ))));
        }
        ext.state = State::Ready;
        let held = ext.holding.take();
        let asked = match ext.queue.pop_front() {
            Some(pushed) => {
                ext.holding = Some(pushed.held.clone());
                Asked::Now(pushed)
            }
            None => {
                let (waiter, receiver) = oneshot::channel();
                ext.waiter = Some(waiter);
                Asked::Wait(receiver)
            }
        };
        if let Some(held) = held {
            self.release(id, Some(&held));
        }
        Ok(asked)
    }

    /// A connection extension `id` kept open closed. An extension handed `SHUTDOWN` is then
    /// done, as it is when it asks for its next event again: it exited (an external one's
    /// process ended, an in-process one's client was dropped when its run returned). A client
    /// that closes its connection after each request (`Connection: close`) never keeps one
    /// open, so its closing says nothing.
    pub(super) fn disconnected(&mut self, id: &str) {
        let holds_shutdown = self
            .extensions
            .iter()
            .any(|ext| ext.id == id && ext.holding == Some(Held::Shutdown));
        if holds_shutdown {
            self.release(id, Some(&Held::Shutdown));
        }
    }

    pub(super) fn registered(&self) -> Vec<Registered> {
        self.extensions
            .iter()
            .map(|ext| Registered {
                name: ext.name.clone(),
                kind: ext.kind,
                invoke: ext.invoke,
                shutdown: ext.shutdown,
                asked: ext.state != State::Registered,
            })
            .collect()
    }

    pub(super) fn errors(&self) -> Vec<ExtensionError> {
        self.errors.clone()
    }
}

/// Hands `pushed` to the extension's waiting `event/next`, or queues it.
fn deliver(ext: &mut Extension, pushed: Pushed) {
    let pushed = match ext.waiter.take() {
        Some(waiter) if ext.queue.is_empty() => {
            let held = pushed.held.clone();
            match waiter.send(pushed) {
                Ok(()) => {
                    ext.holding = Some(held);
                    return;
                }
                // Its connection closed while it waited: the next `event/next` gets it.
                Err(pushed) => pushed,
            }
        }
        _ => pushed,
    };
    ext.queue.push_back(pushed);
}

fn invalid_state(message: &str) -> Answer {
    refuse(StatusCode::FORBIDDEN, error_type::INVALID_STATE, message)
}

fn forbidden(error_type: &str, message: &str) -> Answer {
    refuse(StatusCode::FORBIDDEN, error_type, message)
}

pub(super) async fn answer(
    shared: &Shared,
    route: Route,
    headers: &HeaderMap,
    body: Incoming,
) -> Answer {
    match route {
        Route::Register => register(shared, headers, body).await,
        Route::Next => next(shared, headers).await,
        Route::InitError => report_error(shared, headers, body, Phase::Init).await,
        Route::ExitError => report_error(shared, headers, body, Phase::Exit).await,
    }
}

/// `register`'s body.
#[derive(Deserialize)]
struct Registration {
    #[serde(default)]
    events: Vec<String>,
}

async fn register(shared: &Shared, headers: &HeaderMap, body: Incoming) -> Answer {
    let name = headers
        .get(header::NAME)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if name.is_empty() {
        return forbidden(
            error_type::INVALID_NAME,
            &format!("Empty extension name: `{}` is required", header::NAME),
        );
    }
    let body = match read(body, protocol::MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(refusal) => return refusal.answer(),
    };
    let registration: Registration = match serde_json::from_slice(&body) {
        Ok(registration) => registration,
        Err(error) => {
            return forbidden(
                error_type::INVALID_REQUEST_FORMAT,
                &format!("the body is not `{{\"events\": [...]}}`: {error}"),
            );
        }
    };
    let kind = if shared.function.external.iter().any(|known| known == name) {
        ExtensionKind::External
    } else {
        ExtensionKind::Internal
    };
    let (mut invoke, mut shutdown) = (false, false);
    for event in &registration.events {
        match event.as_str() {
            api::INVOKE => invoke = true,
            api::SHUTDOWN if kind == ExtensionKind::External => shutdown = true,
            api::SHUTDOWN => {
                return forbidden(
                    error_type::INVALID_EVENT_TYPE,
                    &format!(
                        "{event}: internal extension `{name}` may register for {} only (an \
                         external one is one of the instance's launched extensions)",
                        api::INVOKE
                    ),
                );
            }
            _ => {
                return forbidden(
                    error_type::INVALID_EVENT_TYPE,
                    &format!(
                        "{event}: not an event type; expected {} or {}",
                        api::INVOKE,
                        api::SHUTDOWN
                    ),
                );
            }
        }
    }
    let account_id = headers
        .get_all(header::ACCEPT_FEATURE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|feature| feature.trim() == api::ACCOUNT_ID_FEATURE);
    let id = {
        let mut registry = lock(&shared.extensions);
        if registry.closed {
            return forbidden(
                error_type::REGISTRATION_CLOSED,
                "Extension registration closed already: extensions register during init",
            );
        }
        if registry.extensions.iter().any(|ext| ext.name == name) {
            return invalid_state(&format!(
                "Extension with this name already registered: `{name}`"
            ));
        }
        if registry.extensions.len() >= api::MAX_EXTENSIONS {
            return forbidden(
                error_type::TOO_MANY,
                &format!("Extension limit ({}) reached", api::MAX_EXTENSIONS),
            );
        }
        let id = uuid();
        registry.extensions.push(Extension {
            id: id.clone(),
            name: name.to_owned(),
            kind,
            invoke,
            shutdown,
            state: State::Registered,
            queue: VecDeque::new(),
            waiter: None,
            holding: None,
        });
        id
    };
    shared.emit(Record::Extension(telemetry::ExtensionRegistered {
        name: name.to_owned(),
        state: "Ready".to_owned(),
        events: registration.events.clone(),
        error_type: None,
    }));
    let function = &shared.function;
    let mut document = serde_json::json!({
        "functionName": function.name,
        "functionVersion": function.version,
        "handler": function.handler,
    });
    if account_id {
        document["accountId"] = serde_json::Value::from(function.account_id.as_str());
    }
    let mut response = Response::new(Full::new(Bytes::from(document.to_string())));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(HeaderName::from_static(header::IDENTIFIER), value);
    }
    response
}

/// The extension's identifier, or Lambda's refusal when it is missing or not one.
pub(super) fn identify(headers: &HeaderMap) -> Result<&str, Box<Answer>> {
    let Some(value) = headers.get(header::IDENTIFIER) else {
        return Err(Box::new(forbidden(
            error_type::MISSING_IDENTIFIER,
            &format!("Missing `{}` header", header::IDENTIFIER),
        )));
    };
    match value.to_str() {
        Ok(id) if is_uuid(id) => Ok(id),
        _ => Err(Box::new(forbidden(
            error_type::INVALID_IDENTIFIER,
            &format!(
                "Invalid `{}`: the identifier `register` answered with is a UUID",
                header::IDENTIFIER
            ),
        ))),
    }
}

/// The identifier of the extension a request of the Extensions or Telemetry API comes from,
/// when the request keeps its connection open (HTTP/1.1 without `Connection: close`).
pub(super) fn kept_alive_by(parts: &http::request::Parts) -> Option<String> {
    let closes = parts
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|option| option.trim().eq_ignore_ascii_case("close"));
    if parts.version != http::Version::HTTP_11 || closes {
        return None;
    }
    identify(&parts.headers).ok().map(str::to_owned)
}

/// The name of the registered extension with identifier `id`.
pub(super) fn name_of(shared: &Shared, id: &str) -> Result<String, Box<Answer>> {
    let registry = lock(&shared.extensions);
    let index = registry.find(id)?;
    Ok(registry.extensions[index].name.clone())
}

async fn next(shared: &Shared, headers: &HeaderMap) -> Answer {
    let id = match identify(headers) {
        Ok(id) => id,
        Err(refusal) => return *refusal,
    };
    let asked = lock(&shared.extensions).ask(id);
    shared.check_init();
    let pushed = match asked {
        Err(refusal) => return *refusal,
        Ok(Asked::Now(pushed)) => pushed,
        Ok(Asked::Wait(receiver)) => match receiver.await {
            Ok(pushed) => pushed,
            Err(_) => {
                return invalid_state("the extension exited while it waited for an event");
            }
        },
    };
    let mut response = Response::new(Full::new(pushed.body));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(&uuid()) {
        headers.insert(HeaderName::from_static(header::EVENT_IDENTIFIER), value);
    }
    response
}

async fn report_error(
    shared: &Shared,
    headers: &HeaderMap,
    body: Incoming,
    phase: Phase,
) -> Answer {
    let id = match identify(headers) {
        Ok(id) => id,
        Err(refusal) => return *refusal,
    };
    let Some(kind) = headers
        .get(header::ERROR_TYPE)
        .and_then(|value| value.to_str().ok())
        .filter(|kind| !kind.is_empty())
        .map(str::to_owned)
    else {
        return forbidden(
            error_type::MISSING_HEADER,
            &format!("`{}` not found", header::ERROR_TYPE),
        );
    };
    let body = match read(body, protocol::MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(refusal) => return refusal.answer(),
    };
    let name = {
        let mut registry = lock(&shared.extensions);
        let index = match registry.find(id) {
            Ok(index) => index,
            Err(refusal) => return *refusal,
        };
        let init_ended = registry.init_ended;
        let ext = &mut registry.extensions[index];
        let name = ext.name.clone();
        if ext.state == State::Exited {
            return invalid_state(&format!("extension `{name}` reported an error already"));
        }
        if phase == Phase::Init && init_ended {
            return invalid_state(&format!(
                "extension `{name}` cannot report an init error: init has ended"
            ));
        }
        ext.state = State::Exited;
        ext.waiter = None;
        ext.queue.clear();
        ext.holding = None;
        registry.errors.push(ExtensionError {
            name: name.clone(),
            phase,
            report: ErrorReport::new(Some(kind.clone()), body),
        });
        registry.release(id, None);
        name
    };
    if phase == Phase::Init {
        shared.fail_start(ErrorReport::new(
            Some(error_type::INIT_ERROR.to_owned()),
            error_document(
                error_type::INIT_ERROR,
                &format!("extension `{name}` failed to initialize: {kind}"),
            ),
        ));
    }
    accepted()
}

/// Hands out `SHUTDOWN` and waits (see [`RuntimeApiServer::shutdown`](super::RuntimeApiServer::shutdown)).
pub(super) async fn shutdown(
    shared: &Shared,
    reason: ShutdownReason,
    within: Duration,
) -> Shutdown {
    let deadline_ms = (SystemTime::now() + within)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let mut done = {
        let mut registry = lock(&shared.extensions);
        registry.closed = true;
        let body = Bytes::from(
            serde_json::json!({
                "eventType": api::SHUTDOWN,
                "shutdownReason": reason.as_str(),
                "deadlineMs": deadline_ms,
            })
            .to_string(),
        );
        let registry = &mut *registry;
        let awaited = registry.shutdown.get_or_insert_with(|| {
            let mut waiting = HashSet::new();
            for ext in &mut registry.extensions {
                if ext.shutdown && ext.state != State::Exited {
                    deliver(
                        ext,
                        Pushed {
                            held: Held::Shutdown,
                            body: body.clone(),
                        },
                    );
                    waiting.insert(ext.id.clone());
                }
            }
            let (done, _) = watch::channel(waiting.is_empty());
            Awaited { waiting, done }
        });
        awaited.done.subscribe()
    };
    let _ = tokio::time::timeout(within, done.wait_for(|done| *done)).await;
    let registry = lock(&shared.extensions);
    let unfinished = registry
        .extensions
        .iter()
        .filter(|ext| {
            registry
                .shutdown
                .as_ref()
                .is_some_and(|awaited| awaited.waiting.contains(&ext.id))
        })
        .map(|ext| ext.name.clone())
        .collect();
    Shutdown { unfinished }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_paths_route_by_their_verb() {
        assert_eq!(
            Route::of("/2020-01-01/extension/register"),
            Some((Route::Register, Method::POST))
        );
        assert_eq!(
            Route::of("/2020-01-01/extension/exit/error"),
            Some((Route::ExitError, Method::POST))
        );
        assert_eq!(Route::of("/2020-01-01/extension/event"), None);
        assert_eq!(Route::of("/2018-06-01/runtime/invocation/next"), None);
    }
}
