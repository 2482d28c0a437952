//! The poll loop: ask the Runtime API for an invocation, run the handler, report, repeat.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;

use crate::api::client::Client;
use crate::api::endpoints::{self, Endpoints, Next, NextInvocation};
use crate::api::protocol;
use crate::handler::{self, Reply};
use crate::logging::Scope;
use crate::panics::catch_future;
use crate::trace_env::TraceEnv;
use crate::{Config, Context, Diagnostic, Error, Handler, logging};

/// How long the shutdown hook may run after SIGTERM. Lambda's shutdown phase gives the runtime
/// 500 ms when internal extensions are registered (AWS "Lambda execution environment lifecycle").
const SHUTDOWN_BUDGET: Duration = Duration::from_millis(500);

type ShutdownHook = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>>>;

/// Work that runs beside the poll loops for the process's life, and ends only by failing.
type Beside = Pin<Box<dyn Future<Output = Result<(), Error>>>>;

/// What an integration does around every invocation, plugged into the loop without the loop
/// knowing it (the `trace` feature's spans and their export are one).
pub(crate) trait Observer {
    /// As the invocation starts, before the handler runs: may add to what the logger's scope
    /// carries for it.
    fn start(&self, invocation: &NextInvocation, scope: &mut Scope);

    /// When the handler's result is known, before it is posted; `failure` when it failed.
    fn end(&self, scope: &Scope, failure: Option<&Diagnostic>);

    /// Work to do after the result was posted and before the next `/next`: the caller has its
    /// response, and Lambda freezes the instance only once `/next` is asked. `None` when there
    /// is nothing to do, which costs the loop nothing more.
    fn after_response(&self) -> Option<Pin<Box<dyn Future<Output = ()> + '_>>>;

    /// Work to do when the runtime stops on SIGTERM, after the shutdown hook: what is still
    /// pending (work the handler left behind that ended after the last response, or in the
    /// hook), bounded by the observer itself. By default the same as after a response.
    fn at_shutdown(&self) -> Option<Pin<Box<dyn Future<Output = ()> + '_>>> {
        self.after_response()
    }
}

/// Serves invocations with a handler: [`lambda_kit::run`](crate::run) with more control.
///
/// # Examples
///
/// A handler with state built once per cold start, and a hook that runs on SIGTERM:
///
/// ```no_run
/// use lambda_kit::{Context, Runtime};
///
/// struct State {
///     table: String,
/// }
///
/// async fn handler(event: serde_json::Value, _ctx: Context, state: &State) -> Result<String, lambda_kit::Diagnostic> {
///     Ok(format!("{} -> {}", event, state.table))
/// }
///
/// fn main() -> Result<(), lambda_kit::Error> {
///     Runtime::from_env()?
///         .on_shutdown(|| async { tracing::info!("flushing") })
///         .run_with_state(
///             |_config| async { Ok::<_, std::io::Error>(State { table: "orders".into() }) },
///             handler,
///         )
/// }
/// ```
pub struct Runtime {
    config: Arc<Config>,
    shutdown: Option<ShutdownHook>,
    logging: bool,
    #[cfg(feature = "extension")]
    extensions: Vec<crate::extension::Extension>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .field("shutdown", &self.shutdown.is_some())
            .field("logging", &self.logging)
            .finish()
    }
}

impl Runtime {
    /// A runtime configured from the environment Lambda sets up.
    ///
    /// # Errors
    ///
    /// As [`Config::from_env`].
    pub fn from_env() -> Result<Self, Error> {
        Config::from_env().map(Self::new)
    }

    /// A runtime with the given configuration.
    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
            shutdown: None,
            logging: true,
            #[cfg(feature = "extension")]
            extensions: Vec::new(),
        }
    }

    /// Runs `hook` when Lambda sends SIGTERM, for at most 500 ms, and then stops the runtime
    /// cleanly.
    ///
    /// Lambda sends the runtime SIGTERM at shutdown only when an extension is registered (else
    /// it kills it), so the runtime registers an internal extension that asks for no events,
    /// `lambda-kit-shutdown`, before its first invocation; 500 ms is what Lambda's shutdown
    /// phase gives a runtime with internal extensions. A Runtime API without the Extensions API
    /// (some emulators) is told of nothing: a warning says the hook may not run.
    #[must_use]
    pub fn on_shutdown<F, Fut>(mut self, hook: F) -> Self
    where
        F: FnOnce() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.shutdown = Some(Box::new(move || Box::pin(hook())));
        self
    }

    /// Runs `extension` inside this runtime, as an internal extension: registered before the
    /// first invocation, its `INVOKE` hook run as each invocation begins, beside the handler.
    /// An internal extension gets no `SHUTDOWN` (use [`on_shutdown`](Self::on_shutdown)); one
    /// that has an `on_shutdown` hook fails the start.
    #[cfg(feature = "extension")]
    #[cfg_attr(docsrs, doc(cfg(feature = "extension")))]
    #[must_use]
    pub fn extension(mut self, extension: crate::extension::Extension) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Whether [`run`](Self::run) and [`serve`](Self::serve) install the Lambda logger
    /// (default: yes, unless a global `tracing` subscriber is installed already).
    #[must_use]
    pub fn logging(mut self, enabled: bool) -> Self {
        self.logging = enabled;
        self
    }

    /// Serves invocations with `handler` on a single-threaded tokio runtime of its own.
    ///
    /// # Errors
    ///
    /// Returns when the Runtime API cannot be reached, answers something the runtime cannot
    /// act on, or fails the runtime's own start. Returns `Ok` after a SIGTERM shutdown.
    pub fn run<H, M>(self, handler: H) -> Result<(), Error>
    where
        H: Handler<M>,
    {
        block_on(self.serve(handler))
    }

    /// Builds the state with `setup` once, then serves invocations with `handler`, which gets
    /// the state by reference.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run); and when `setup` fails or panics, the failure is reported to
    /// Lambda as an init error and returned (exit non-zero so Lambda starts afresh).
    pub fn run_with_state<S, Setup, SetupFut, SetupErr, H, M>(
        self,
        setup: Setup,
        handler: H,
    ) -> Result<(), Error>
    where
        Setup: FnOnce(Config) -> SetupFut,
        SetupFut: Future<Output = Result<S, SetupErr>>,
        SetupErr: Into<Diagnostic>,
        S: 'static,
        H: Handler<M, S>,
    {
        block_on(self.serve_with_state(setup, handler))
    }

    /// [`run`](Self::run) on the caller's tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn serve<H, M>(self, handler: H) -> Result<(), Error>
    where
        H: Handler<M>,
    {
        self.serve_with_state(|_| async { Ok::<_, Diagnostic>(()) }, handler)
            .await
    }

    /// [`run_with_state`](Self::run_with_state) on the caller's tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`run_with_state`](Self::run_with_state).
    pub async fn serve_with_state<S, Setup, SetupFut, SetupErr, H, M>(
        self,
        setup: Setup,
        handler: H,
    ) -> Result<(), Error>
    where
        Setup: FnOnce(Config) -> SetupFut,
        SetupFut: Future<Output = Result<S, SetupErr>>,
        SetupErr: Into<Diagnostic>,
        S: 'static,
        H: Handler<M, S>,
    {
        if self.logging {
            logging::install(self.config.log_format(), self.config.log_level());
        }
        #[cfg(feature = "trace")]
        let tracer = crate::trace::Tracer::new(&self.config)?;
        #[cfg(feature = "trace")]
        let observer = tracer.as_ref().map(|tracer| tracer as &dyn Observer);
        #[cfg(not(feature = "trace"))]
        let observer: Option<&dyn Observer> = None;
        // Beside the poll loops: the internal extensions, each waiting for its events. They end
        // only by failing.
        let mut beside: Vec<Beside> = Vec::new();
        #[cfg(feature = "extension")]
        for extension in self.extensions {
            let started = extension
                .start(&self.config, crate::extension::Kind::Internal)
                .await?;
            beside.push(Box::pin(started.serve()));
        }
        // SIGTERM is listened for when there is a hook to run or an observer with work that
        // may still be pending. Lambda sends it only when an extension is registered: the
        // internal one below for a hook; for an observer alone, any (the OpenTelemetry
        // collector's, say), as without one the process is killed outright.
        let hook = self.shutdown;
        if hook.is_none() && observer.is_none() {
            if beside.is_empty() {
                return serve(&self.config, setup, &handler, observer).await;
            }
            return tokio::select! {
                biased;
                result = serve(&self.config, setup, &handler, observer) => result,
                result = WhenWoken::new(first_error(beside)) => result,
            };
        };
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|error| Error::start("cannot listen for SIGTERM", error))?;
        if hook.is_some() && beside.is_empty() {
            beside.push(Box::pin(shutdown_extension(&self.config).await));
        }
        // `None` when SIGTERM came.
        let beside_or_sigterm = WhenWoken::new(async move {
            tokio::select! {
                result = first_error(beside) => Some(result),
                _ = sigterm.recv() => None,
            }
        });
        tokio::select! {
            biased;
            result = serve(&self.config, setup, &handler, observer) => result,
            ended = beside_or_sigterm => match ended {
                Some(result) => result,
                None => {
                    if let Some(hook) = hook {
                        tracing::info!("SIGTERM received, running the shutdown hook");
                        if tokio::time::timeout(SHUTDOWN_BUDGET, hook()).await.is_err() {
                            tracing::warn!("the shutdown hook did not finish within {} ms", SHUTDOWN_BUDGET.as_millis());
                        }
                    }
                    if let Some(pending) = observer.and_then(|observer| observer.at_shutdown()) {
                        pending.await;
                    }
                    Ok(())
                }
            },
        }
    }
}

fn block_on<F: Future<Output = Result<(), Error>>>(future: F) -> Result<(), Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Error::start("cannot build the tokio runtime", error))?
        .block_on(future)
}

/// The name of the internal extension that makes Lambda send SIGTERM for the shutdown hook.
const SHUTDOWN_EXTENSION: &str = "lambda-kit-shutdown";

/// Registers [`SHUTDOWN_EXTENSION`] for no events, before the runtime's first invocation, and
/// returns the wait on its `event/next`, which completes Lambda's init for it and is never
/// answered. The wait never ends: when the Extensions API is missing or fails, a warning says
/// so and the runtime goes on without it.
async fn shutdown_extension(config: &Config) -> impl Future<Output = Result<(), Error>> + use<> {
    use crate::api::extensions::{self, Endpoints};

    let api = config.runtime_api();
    let endpoints = Endpoints::new(api);
    let registered = async {
        let mut client = Client::new(api)?;
        let registration =
            extensions::register(&mut client, &endpoints, SHUTDOWN_EXTENSION, &[], false).await?;
        Ok::<_, Error>((client, registration.identifier))
    }
    .await;
    let warn = |error: Error| {
        tracing::warn!(
            error = %error,
            "could not register the internal extension that makes Lambda send SIGTERM: the shutdown hook may not run"
        );
    };
    async move {
        match registered {
            Ok((mut client, identifier)) => loop {
                // Registered for no events: an answer is not expected, and is asked again.
                if let Err(error) = extensions::next(&mut client, &endpoints, &identifier).await {
                    warn(error);
                    break;
                }
            },
            Err(error) => warn(error),
        }
        std::future::pending().await
    }
}

/// Set-up, then `max_concurrency` poll loops, each with its own connection.
async fn serve<S, Setup, SetupFut, SetupErr, H, M>(
    config: &Arc<Config>,
    setup: Setup,
    handler: &H,
    observer: Option<&dyn Observer>,
) -> Result<(), Error>
where
    Setup: FnOnce(Config) -> SetupFut,
    SetupFut: Future<Output = Result<S, SetupErr>>,
    SetupErr: Into<Diagnostic>,
    S: 'static,
    H: Handler<M, S>,
{
    let endpoints = Endpoints::new(config)?;
    let mut client = Client::new(config.runtime_api())?;
    client.connect().await?;

    let state = match catch_future(setup(Config::clone(config))).await {
        Ok(Ok(state)) => state,
        Ok(Err(error)) => return init_failed(&mut client, &endpoints, error.into()).await,
        Err(panic) => return init_failed(&mut client, &endpoints, panic).await,
    };
    // The state lives as long as the process: handlers borrow it for `'static`, so their
    // futures need no lifetime tied to this function.
    let state: &'static S = Box::leak(Box::new(state));

    let loops = config.max_concurrency();
    if loops == 1 {
        return poll_loop(
            client,
            &endpoints,
            config,
            handler,
            state,
            Some(TraceEnv::default()),
            observer,
        )
        .await;
    }
    let mut workers = Vec::with_capacity(loops as usize);
    workers.push(Box::pin(poll_loop(
        client, &endpoints, config, handler, state, None, observer,
    )));
    for _ in 1..loops {
        let mut client = Client::new(config.runtime_api())?;
        client.connect().await?;
        workers.push(Box::pin(poll_loop(
            client, &endpoints, config, handler, state, None, observer,
        )));
    }
    first_error(workers).await
}

/// Reports a failed setup to `/init/error` and returns it as the runtime's error.
async fn init_failed(
    client: &mut Client,
    endpoints: &Endpoints,
    diagnostic: Diagnostic,
) -> Result<(), Error> {
    tracing::error!(
        error_type = diagnostic.error_type(),
        "setup failed: {}",
        diagnostic.error_message()
    );
    endpoints::init_error(client, endpoints, &diagnostic).await?;
    Err(Error::init(
        diagnostic.error_type(),
        diagnostic.error_message(),
    ))
}

/// A future polled only when its own waker fired since its last poll (and on its first), not
/// on every wake of the task it shares with the poll loop. What runs beside the loop mostly
/// waits on its own connection or on a signal; polled at each of the loop's wakes, the shutdown
/// hook's extension and SIGTERM cost every invocation about 1,200 instructions (BENCHMARKS.md,
/// "Extensions"); gated, nothing.
struct WhenWoken<F> {
    future: Pin<Box<F>>,
    signal: Arc<WakeSignal>,
    waker: std::task::Waker,
    /// The task's waker as last put into `signal.task`: while the task's waker stays the same
    /// (on one runtime, always), a poll touches no lock.
    registered: Option<std::task::Waker>,
}

/// Whether a [`WhenWoken`] future's waker fired, and the task to wake when it does.
struct WakeSignal {
    woken: std::sync::atomic::AtomicBool,
    task: std::sync::Mutex<Option<std::task::Waker>>,
}

impl std::task::Wake for WakeSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::Release);
        // Left in place: the next poll finds it still current and need not lock.
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            task.wake_by_ref();
        }
    }
}

impl<F: Future> WhenWoken<F> {
    fn new(future: F) -> Self {
        let signal = Arc::new(WakeSignal {
            // Polled the first time, to start it.
            woken: std::sync::atomic::AtomicBool::new(true),
            task: std::sync::Mutex::new(None),
        });
        Self {
            future: Box::pin(future),
            waker: std::task::Waker::from(Arc::clone(&signal)),
            signal,
            registered: None,
        }
    }
}

impl<F: Future> Future for WhenWoken<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if !this
            .registered
            .as_ref()
            .is_some_and(|task| task.will_wake(cx.waker()))
        {
            // Stored before `woken` is read: a wake in between finds the task to wake.
            let task = cx.waker().clone();
            *this
                .signal
                .task
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task.clone());
            this.registered = Some(task);
        }
        if !this
            .signal
            .woken
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            return Poll::Pending;
        }
        this.future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&this.waker))
    }
}

/// Polls every loop until one of them stops, and returns what it returned.
async fn first_error<F: Future<Output = Result<(), Error>> + ?Sized>(
    mut loops: Vec<Pin<Box<F>>>,
) -> Result<(), Error> {
    std::future::poll_fn(|cx| {
        for worker in &mut loops {
            if let Poll::Ready(result) = worker.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
        }
        Poll::Pending
    })
    .await
}

async fn poll_loop<S: 'static, H: Handler<M, S>, M>(
    mut client: Client,
    endpoints: &Endpoints,
    config: &Arc<Config>,
    handler: &H,
    state: &'static S,
    // Set when one invocation runs at a time: one process-wide variable cannot serve several.
    mut trace_env: Option<TraceEnv>,
    observer: Option<&dyn Observer>,
) -> Result<(), Error> {
    loop {
        let (scope, outcome) = match endpoints::next(&mut client, endpoints).await? {
            Next::Invocation(invocation) => {
                if let Some(trace_env) = &mut trace_env {
                    trace_env.update(&invocation.text);
                }
                let mut scope = Scope::new(invocation.text.share_request_id());
                if let Some(observer) = observer {
                    observer.start(&invocation, &mut scope);
                }
                // Pinned where it is made, and the scope wrapped around a reference to it:
                // handed over by value, the invocation's future (the handler's inside it, about
                // 1 KiB for a small handler) was copied into the wrapper, about 150
                // instructions an invocation on musl (BENCHMARKS.md, "Static or glibc").
                let invocation = std::pin::pin!(invoke(handler, invocation, config, state));
                let outcome = logging::in_invocation(scope.clone(), invocation).await;
                if let Some(observer) = observer {
                    observer.end(&scope, outcome.as_ref().err());
                }
                (scope, outcome)
            }
            Next::Invalid {
                request_id,
                problem,
            } => {
                let diagnostic = Diagnostic::new("Runtime.InvalidInvocation", problem);
                (Scope::new(request_id), Err(diagnostic))
            }
        };
        let request_id = scope.request_id.clone();
        let report = async {
            let reported = match outcome {
                Ok(Reply::Buffered(response)) => {
                    let sent =
                        endpoints::response(&mut client, endpoints, request_id.as_str(), &response)
                            .await;
                    handler::recycle(response);
                    sent
                }
                #[cfg(feature = "streaming")]
                Ok(Reply::Streamed(response)) => {
                    endpoints::stream_response(
                        &mut client,
                        endpoints,
                        request_id.as_str(),
                        response,
                    )
                    .await
                }
                Err(diagnostic) => {
                    tracing::error!(
                        error_type = diagnostic.error_type(),
                        "invocation failed: {}",
                        diagnostic.error_message()
                    );
                    endpoints::error(&mut client, endpoints, request_id.as_str(), &diagnostic).await
                }
            };
            match reported {
                // The connection broke with the report sent or not: sending it again could
                // answer twice. Lambda times the invocation out if it never arrived; the next
                // `/next` reconnects, or stops the runtime if the Runtime API is gone.
                Err(error) if error.is_connect() => {
                    tracing::error!(error = ?error, "the invocation's result may not have been delivered");
                    Ok(())
                }
                reported => reported,
            }
        };
        logging::in_invocation(scope, report).await?;
        if let Some(after) = observer.and_then(|observer| observer.after_response()) {
            after.await;
        }
    }
}

/// The handler's view of `invocation`, with this invocation's metrics, and its event.
fn context(invocation: NextInvocation, config: &Arc<Config>) -> (Context, Bytes) {
    let NextInvocation {
        text,
        deadline_ms,
        client_context,
        identity,
        body,
    } = invocation;
    let context = Context {
        text,
        deadline_ms,
        client_context,
        identity,
        config: Arc::clone(config),
        #[cfg(feature = "metrics")]
        metrics: crate::metrics::Metrics::for_invocation(config),
    };
    (context, body)
}

/// Runs one invocation: makes its `Context`, runs the handler, and turns panics and oversized
/// responses into diagnostics. A streamed body is checked as it is sent.
///
/// The `Context` is made here, in the future that hands it to the handler, rather than by the
/// loop: that saves a move of it per invocation (about 50 instructions in `tests/bench`).
async fn invoke<S: 'static, H: Handler<M, S>, M>(
    handler: &H,
    invocation: NextInvocation,
    config: &Arc<Config>,
    state: &'static S,
) -> Result<Reply, Diagnostic> {
    let (context, body) = context(invocation, config);
    #[cfg(feature = "metrics")]
    let metrics = context.metrics.clone();
    let outcome = catch_future(handler.call(body, context, state)).await;
    // Written before the result is reported, so that the lines belong to this invocation,
    // whatever its outcome.
    #[cfg(feature = "metrics")]
    metrics.flush();
    let reply = outcome??;
    if let Reply::Buffered(response) = &reply
        && response.len() > protocol::MAX_RESPONSE_BYTES
    {
        return Err(Diagnostic::new(
            protocol::RESPONSE_SIZE_TOO_LARGE,
            format!(
                "the response is {} bytes, over Lambda's limit of {} bytes; \
                 return a smaller payload or store it (in S3, say) and return its location",
                response.len(),
                protocol::MAX_RESPONSE_BYTES
            ),
        ));
    }
    // A streamed body records more as it streams: flushed again when it ends.
    #[cfg(all(feature = "metrics", feature = "streaming"))]
    let reply = match reply {
        Reply::Streamed(mut response) => {
            response.at_end(move || metrics.flush());
            Reply::Streamed(response)
        }
        buffered => buffered,
    };
    Ok(reply)
}
