//! Lambda extensions: processes beside the function (external extensions) or tasks inside its
//! runtime (internal ones) that Lambda tells of every invocation and, for external ones, of the
//! shutdown; and the Telemetry API, whose events (platform reports, the function's log lines)
//! Lambda posts to a subscribed extension in batches (AWS "Lambda Extensions API", "Lambda
//! Telemetry API").
//!
//! An external extension is a binary of its own, shipped in a layer as `extensions/NAME`; its
//! name is its file name:
//!
//! ```no_run
//! use lambda_kit::extension::{Extension, Subscription, telemetry::{Record, Stream}};
//!
//! fn main() -> Result<(), lambda_kit::Error> {
//!     Extension::new("telemetry-shipper")
//!         .on_invoke(|invoke| async move {
//!             eprintln!("invocation {} began", invoke.request_id());
//!             Ok::<_, lambda_kit::Diagnostic>(())
//!         })
//!         .telemetry(Subscription::new([Stream::Platform, Stream::Function]), |batch| async move {
//!             for event in batch {
//!                 if let Record::Report(report) = &event.record {
//!                     eprintln!("{} took {} ms", report.request_id, report.metrics.duration_ms);
//!                 }
//!             }
//!         })
//!         .on_shutdown(|shutdown| async move {
//!             eprintln!("shutting down: {:?}", shutdown.reason());
//!         })
//!         .run()
//! }
//! ```
//!
//! An internal one runs beside a handler, registered by [`Runtime::extension`](crate::Runtime::extension)
//! before the runtime's first invocation; Lambda sends internal extensions no `SHUTDOWN`
//! (the runtime's [`on_shutdown`](crate::Runtime::on_shutdown) hook runs instead).

pub mod telemetry;

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use crate::api::client::Client;
use crate::api::extensions::{self as api, Endpoints, Registration};
use crate::api::protocol::{extensions as protocol, telemetry as telemetry_protocol};
use crate::{Config, Diagnostic, Error};

type Local<T> = Pin<Box<dyn Future<Output = T>>>;
type InvokeHook = Box<dyn FnMut(Invoke) -> Local<Result<(), Diagnostic>>>;
type ShutdownHook = Box<dyn FnOnce(Shutdown) -> Local<()>>;
type InitHook = Box<dyn FnOnce(Registered) -> Local<Result<(), Diagnostic>>>;
type TelemetryHook = Box<dyn FnMut(Vec<telemetry::Event>) -> Local<()>>;

/// How many telemetry batches wait for the handler before the listener stops taking more
/// (Lambda then holds them, and drops what its buffer cannot keep, with `platform.logsDropped`).
const WAITING_BATCHES: usize = 4;

/// The largest telemetry batch the listener reads: a subscription's `maxBytes` is at most
/// 1 MiB of records, and their framing adds to it.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// An extension: its name, what it does on each event, and its telemetry subscription.
pub struct Extension {
    name: String,
    account_id: bool,
    init: Option<InitHook>,
    invoke: Option<InvokeHook>,
    shutdown: Option<ShutdownHook>,
    telemetry: Option<(Subscription, TelemetryHook)>,
}

impl fmt::Debug for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extension")
            .field("name", &self.name)
            .field("invoke", &self.invoke.is_some())
            .field("shutdown", &self.shutdown.is_some())
            .field(
                "telemetry",
                &self
                    .telemetry
                    .as_ref()
                    .map(|(subscription, _)| subscription),
            )
            .finish_non_exhaustive()
    }
}

impl Extension {
    /// An extension named `name`. An external extension's name must be its file name in
    /// `/opt/extensions`, as Lambda launched it; an internal one's is any name unique in the
    /// function.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            account_id: false,
            init: None,
            invoke: None,
            shutdown: None,
            telemetry: None,
        }
    }

    /// Asks Lambda for the function's account id at registration (the `accountId` feature),
    /// handed to [`on_init`](Self::on_init) in [`Registered::account_id`].
    #[must_use]
    pub fn account_id(mut self, accept: bool) -> Self {
        self.account_id = accept;
        self
    }

    /// Runs `hook` once registered, before the first event; an error is reported to
    /// `/extension/init/error`, which fails the execution environment's init.
    #[must_use]
    pub fn on_init<F, Fut, E>(mut self, hook: F) -> Self
    where
        F: FnOnce(Registered) -> Fut + 'static,
        Fut: Future<Output = Result<(), E>> + 'static,
        E: Into<Diagnostic>,
    {
        self.init = Some(Box::new(move |registered| {
            let future = hook(registered);
            Box::pin(async move { future.await.map_err(Into::into) })
        }));
        self
    }

    /// Registers for `INVOKE` and runs `hook` as each invocation begins. The invocation is
    /// complete for Lambda only when the hook has returned (its time counts in the invocation's
    /// duration). An error is reported to `/extension/exit/error` and ends the extension.
    #[must_use]
    pub fn on_invoke<F, Fut, E>(mut self, mut hook: F) -> Self
    where
        F: FnMut(Invoke) -> Fut + 'static,
        Fut: Future<Output = Result<(), E>> + 'static,
        E: Into<Diagnostic>,
    {
        self.invoke = Some(Box::new(move |invoke| {
            let future = hook(invoke);
            Box::pin(async move { future.await.map_err(Into::into) })
        }));
        self
    }

    /// Registers for `SHUTDOWN` (external extensions only) and runs `hook` when the execution
    /// environment shuts down, within [`Shutdown::deadline`]; the extension then exits.
    #[must_use]
    pub fn on_shutdown<F, Fut>(mut self, hook: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.shutdown = Some(Box::new(move |shutdown| Box::pin(hook(shutdown))));
        self
    }

    /// Subscribes to the Telemetry API and hands each batch Lambda posts to `handler`. The
    /// extension listens for the batches on a port of its own.
    #[must_use]
    pub fn telemetry<F, Fut>(mut self, subscription: Subscription, mut handler: F) -> Self
    where
        F: FnMut(Vec<telemetry::Event>) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.telemetry = Some((
            subscription,
            Box::new(move |batch| Box::pin(handler(batch))),
        ));
        self
    }

    /// Runs the extension as an external one, on a single-threaded tokio runtime of its own,
    /// until Lambda shuts the execution environment down.
    ///
    /// # Errors
    ///
    /// When the environment is not Lambda's, registration or the subscription is refused, or a
    /// hook fails (reported to Lambda first).
    pub fn run(self) -> Result<(), Error> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| Error::start("cannot build the tokio runtime", error))?
            .block_on(self.serve(Config::from_env()?))
    }

    /// [`run`](Self::run) on the caller's tokio runtime, with `config`.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn serve(self, config: Config) -> Result<(), Error> {
        self.start(&config, Kind::External).await?.serve().await
    }

    /// Registers and subscribes: the part of an extension's life that belongs to Lambda's init
    /// phase. An internal extension must be started before the runtime asks for its first
    /// invocation.
    pub(crate) async fn start(self, config: &Config, kind: Kind) -> Result<Started, Error> {
        if kind == Kind::Internal && self.shutdown.is_some() {
            return Err(Error::init(
                protocol::SHUTDOWN,
                &format!(
                    "extension `{}`: Lambda sends SHUTDOWN to external extensions only; use the runtime's `on_shutdown` instead",
                    self.name
                ),
            ));
        }
        if let Some((subscription, _)) = &self.telemetry {
            subscription.checked()?;
        }
        let api = config.runtime_api();
        let endpoints = Endpoints::new(api);
        let mut client = Client::new(api)?;
        let mut events = Vec::with_capacity(2);
        if self.invoke.is_some() {
            events.push(protocol::INVOKE);
        }
        if self.shutdown.is_some() {
            events.push(protocol::SHUTDOWN);
        }
        let registration = api::register(
            &mut client,
            &endpoints,
            &self.name,
            &events,
            self.account_id,
        )
        .await?;
        let Self {
            name,
            init,
            invoke,
            shutdown,
            telemetry,
            ..
        } = self;
        let mut started = Started {
            name,
            client,
            endpoints,
            identifier: registration.identifier.clone(),
            invoke,
            shutdown,
            telemetry: None,
        };
        if let Some((subscription, handler)) = telemetry {
            match Listener::start().await {
                Ok(listener) => {
                    let request = subscription.request(listener.address.port());
                    if let Err(error) = api::subscribe(
                        &mut started.client,
                        &started.endpoints,
                        &started.identifier,
                        &request,
                    )
                    .await
                    {
                        return Err(started.fail_init(error).await);
                    }
                    started.telemetry = Some((listener, handler));
                }
                Err(error) => {
                    let error = Error::start("cannot listen for telemetry", error);
                    return Err(started.fail_init(error).await);
                }
            }
        }
        if let Some(init) = init
            && let Err(diagnostic) = init(Registered::from(registration)).await
        {
            let _ = api::init_error(
                &mut started.client,
                &started.endpoints,
                &started.identifier,
                &diagnostic,
            )
            .await;
            return Err(Error::init(
                diagnostic.error_type(),
                diagnostic.error_message(),
            ));
        }
        Ok(started)
    }
}

/// Whether an extension runs as a process of its own or inside the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    External,
    Internal,
}

/// A registered extension, ready for its events.
pub(crate) struct Started {
    name: String,
    client: Client,
    endpoints: Endpoints,
    identifier: String,
    invoke: Option<InvokeHook>,
    shutdown: Option<ShutdownHook>,
    telemetry: Option<(Listener, TelemetryHook)>,
}

impl fmt::Debug for Started {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Started")
            .field("name", &self.name)
            .field("identifier", &self.identifier)
            .finish_non_exhaustive()
    }
}

impl Started {
    /// Reports `error` to `/extension/init/error` and returns it.
    async fn fail_init(&mut self, error: Error) -> Error {
        let diagnostic = Diagnostic::new("Extension.InitError", error.to_string());
        let _ = api::init_error(
            &mut self.client,
            &self.endpoints,
            &self.identifier,
            &diagnostic,
        )
        .await;
        error
    }

    /// Asks for events and runs the hooks until `SHUTDOWN` (or forever, for an extension
    /// registered for none), handing telemetry batches to their handler in between.
    pub(crate) async fn serve(self) -> Result<(), Error> {
        let Self {
            name,
            mut client,
            endpoints,
            identifier,
            mut invoke,
            shutdown,
            telemetry,
        } = self;
        let (mut batches, mut on_batch, _listener) = match telemetry {
            Some((listener, handler)) => {
                (Some(listener.batches), Some(handler), Some(listener.task))
            }
            None => (None, None, None),
        };
        loop {
            // The request is in flight while batches are handled; it is never cancelled.
            let mut next = Box::pin(api::next(&mut client, &endpoints, &identifier));
            let event = loop {
                tokio::select! {
                    event = &mut next => break event?,
                    Some(batch) = recv(&mut batches) => {
                        if let Some(handler) = &mut on_batch {
                            handler(batch).await;
                        }
                    }
                }
            };
            drop(next);
            match event {
                api::Event::Invoke {
                    request_id,
                    deadline_ms,
                    invoked_function_arn,
                    tracing,
                } => {
                    let Some(hook) = &mut invoke else {
                        continue;
                    };
                    let invocation = Invoke {
                        request_id,
                        deadline: deadline(deadline_ms),
                        invoked_function_arn,
                        trace_id: tracing.map(|tracing| tracing.value),
                    };
                    if let Err(diagnostic) = hook(invocation).await {
                        let _ = api::exit_error(&mut client, &endpoints, &identifier, &diagnostic)
                            .await;
                        return Err(Error::protocol(format!(
                            "extension `{name}` failed: {}: {}",
                            diagnostic.error_type(),
                            diagnostic.error_message()
                        )));
                    }
                }
                api::Event::Shutdown {
                    shutdown_reason,
                    deadline_ms,
                } => {
                    let shutdown_event = Shutdown {
                        reason: ShutdownReason::parse(&shutdown_reason),
                        deadline: deadline(deadline_ms),
                    };
                    // The last batches (the final invocation's report among them) come after
                    // the event: take them until the stream is quiet or the deadline nears.
                    if let (Some(receiver), Some(handler)) = (&mut batches, &mut on_batch) {
                        let until = shutdown_event.deadline;
                        while let Some(left) = until
                            .duration_since(SystemTime::now())
                            .ok()
                            .and_then(|left| left.checked_sub(SHUTDOWN_MARGIN))
                        {
                            match tokio::time::timeout(left.min(QUIET), receiver.recv()).await {
                                Ok(Some(batch)) => handler(batch).await,
                                _ => break,
                            }
                        }
                    }
                    if let Some(hook) = shutdown {
                        hook(shutdown_event).await;
                    }
                    return Ok(());
                }
            }
        }
    }
}

/// How long the telemetry stream must be silent after `SHUTDOWN` to be taken as drained.
const QUIET: Duration = Duration::from_millis(300);
/// What the shutdown hook is left of the deadline at least.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(200);

/// The next batch, or never when there is no subscription.
async fn recv(
    batches: &mut Option<mpsc::Receiver<Vec<telemetry::Event>>>,
) -> Option<Vec<telemetry::Event>> {
    match batches {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

fn deadline(deadline_ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(deadline_ms)
}

/// What Lambda said of the function when the extension registered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Registered {
    /// The extension's identifier, sent with each of its requests.
    pub identifier: String,
    /// The function's name.
    pub function_name: String,
    /// The function's version.
    pub function_version: String,
    /// The function's handler setting.
    pub handler: String,
    /// The function's account id, when [`Extension::account_id`] asked for it.
    pub account_id: Option<String>,
}

impl From<Registration> for Registered {
    fn from(registration: Registration) -> Self {
        Self {
            identifier: registration.identifier,
            function_name: registration.function_name,
            function_version: registration.function_version,
            handler: registration.handler,
            account_id: registration.account_id,
        }
    }
}

/// An `INVOKE` event: an invocation began.
#[derive(Debug, Clone)]
pub struct Invoke {
    request_id: String,
    deadline: SystemTime,
    invoked_function_arn: String,
    trace_id: Option<String>,
}

impl Invoke {
    /// The invocation's request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// When the invocation times out.
    pub fn deadline(&self) -> SystemTime {
        self.deadline
    }

    /// The ARN the function was invoked by.
    pub fn invoked_function_arn(&self) -> &str {
        &self.invoked_function_arn
    }

    /// The invocation's X-Ray trace header (`Root=...;Parent=...;Sampled=...`).
    pub fn trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }
}

/// A `SHUTDOWN` event: the execution environment is going away.
#[derive(Debug, Clone)]
pub struct Shutdown {
    reason: ShutdownReason,
    deadline: SystemTime,
}

impl Shutdown {
    /// Why.
    pub fn reason(&self) -> &ShutdownReason {
        &self.reason
    }

    /// When Lambda stops the extension, finished or not.
    pub fn deadline(&self) -> SystemTime {
        self.deadline
    }
}

/// Why an execution environment shuts down.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownReason {
    /// It was idle, or Lambda retired it (`spindown`).
    Spindown,
    /// An invocation timed out (`timeout`).
    Timeout,
    /// The runtime or an extension failed (`failure`).
    Failure,
    /// A reason this crate does not know, as sent.
    Other(String),
}

impl ShutdownReason {
    fn parse(reason: &str) -> Self {
        match reason {
            "spindown" => Self::Spindown,
            "timeout" => Self::Timeout,
            "failure" => Self::Failure,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A Telemetry API subscription: the streams, and how Lambda buffers them before each post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    streams: Vec<telemetry::Stream>,
    max_items: u32,
    max_bytes: u32,
    timeout_ms: u32,
}

impl Subscription {
    /// Subscribes to `streams`, with Lambda's default buffering (1,000 events, 256 KiB, 1 s).
    pub fn new(streams: impl IntoIterator<Item = telemetry::Stream>) -> Self {
        Self {
            streams: streams.into_iter().collect(),
            max_items: telemetry_protocol::MAX_ITEMS.2,
            max_bytes: telemetry_protocol::MAX_BYTES.2,
            timeout_ms: telemetry_protocol::TIMEOUT_MS.2,
        }
    }

    /// Posts once this many events wait (25 to 10,000).
    #[must_use]
    pub fn max_items(mut self, items: u32) -> Self {
        self.max_items = items;
        self
    }

    /// Posts once this many bytes of events wait (262,144 to 1,048,576).
    #[must_use]
    pub fn max_bytes(mut self, bytes: u32) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Posts what waits after this long (25 ms to 30 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        self
    }

    /// Whether every setting is within Lambda's bounds.
    fn checked(&self) -> Result<(), Error> {
        let within = |name: &str, value: u32, (least, most, _): (u32, u32, u32)| {
            if (least..=most).contains(&value) {
                Ok(())
            } else {
                Err(Error::init(
                    "Extension.InvalidSubscription",
                    &format!(
                        "the telemetry subscription's `{name}` is {value}; Lambda takes {least} to {most}"
                    ),
                ))
            }
        };
        within("maxItems", self.max_items, telemetry_protocol::MAX_ITEMS)?;
        within("maxBytes", self.max_bytes, telemetry_protocol::MAX_BYTES)?;
        within("timeoutMs", self.timeout_ms, telemetry_protocol::TIMEOUT_MS)?;
        if self.streams.is_empty() {
            return Err(Error::init(
                "Extension.InvalidSubscription",
                "the telemetry subscription names no stream; give at least one of platform, function, extension",
            ));
        }
        Ok(())
    }

    /// The `PUT /telemetry` body for a listener on `port`.
    fn request(&self, port: u16) -> Vec<u8> {
        serde_json::json!({
            "schemaVersion": telemetry_protocol::SCHEMA_VERSION,
            "types": self.streams,
            "buffering": {
                "maxItems": self.max_items,
                "maxBytes": self.max_bytes,
                "timeoutMs": self.timeout_ms,
            },
            "destination": {
                "protocol": telemetry_protocol::HTTP,
                "URI": format!("http://{}:{port}", telemetry_protocol::SANDBOX_HOST),
            },
        })
        .to_string()
        .into_bytes()
    }
}

/// The HTTP listener Lambda posts telemetry batches to, and the batches it took.
struct Listener {
    address: SocketAddr,
    batches: mpsc::Receiver<Vec<telemetry::Event>>,
    /// The accept loop, which owns every connection's task; aborted when dropped.
    task: AbortOnDrop,
}

/// A task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Listener {
    /// Listens on a free port of the address `sandbox.localdomain` names: in Lambda, the
    /// execution environment's own; elsewhere (where the name does not resolve, as under
    /// `cargo lambdakit serve`), `127.0.0.1`.
    async fn start() -> std::io::Result<Self> {
        let host = tokio::net::lookup_host((telemetry_protocol::SANDBOX_HOST, 0))
            .await
            .ok()
            .and_then(|mut addresses| addresses.next())
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |address| address.ip());
        let listener = tokio::net::TcpListener::bind((host, 0)).await?;
        let address = listener.local_addr()?;
        let (sender, batches) = mpsc::channel(WAITING_BATCHES);
        let task = tokio::spawn(accept(listener, sender));
        Ok(Self {
            address,
            batches,
            task: AbortOnDrop(task),
        })
    }
}

/// Takes Lambda's connections and posts, each answered once its batch is queued for the handler.
async fn accept(listener: tokio::net::TcpListener, sender: mpsc::Sender<Vec<telemetry::Event>>) {
    use http_body_util::BodyExt as _;

    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let sender = sender.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let sender = sender.clone();
                async move {
                    let limited = http_body_util::Limited::new(request.into_body(), MAX_BATCH_BYTES);
                    let status = match limited.collect().await {
                        Ok(body) => match serde_json::from_slice::<Vec<telemetry::Event>>(&body.to_bytes()) {
                            Ok(batch) => {
                                let _ = sender.send(batch).await;
                                http::StatusCode::OK
                            }
                            Err(error) => {
                                tracing::warn!(%error, "a telemetry batch that is not one was dropped");
                                http::StatusCode::BAD_REQUEST
                            }
                        },
                        Err(_) => http::StatusCode::PAYLOAD_TOO_LARGE,
                    };
                    let mut response = http::Response::new(http_body_util::Empty::<bytes::Bytes>::new());
                    *response.status_mut() = status;
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}
