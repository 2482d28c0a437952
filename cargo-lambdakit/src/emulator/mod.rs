//! A local Lambda: the Invoke API on one port, and behind it, per function, a pool of
//! instances that start on the first invocation (a cold start), stay warm, multiply under
//! concurrent invocations up to the function's limit, and are replaced after a timeout or a
//! crash, as on AWS. Beside the Invoke API, the rest of the Lambda API (`lambda_api`) creates,
//! describes and deletes functions from zips. In front of both, `guard` decides who may call
//! them (function URLs answer anyone). Beside them, `traces` collects what the functions trace
//! (an X-Ray daemon, an OTLP receiver) under each invocation's function segment.

mod api;
mod console;
mod cost;
mod destinations;
mod guard;
mod ids;
mod instance;
mod journal;
mod lambda_api;
pub(crate) mod layer;
mod queue;
pub(crate) mod sigv4;
pub mod sources;
mod state;
pub(crate) mod states_api;
mod traces;
mod url;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use lambda_kit::extension::telemetry::{self, Record};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use self::api::LocalApi;
pub(crate) use self::console::ROOT as CONSOLE;
pub use self::guard::{Access, Reach, TOKEN_HEADER, Token};
use self::instance::{Chunk, Instance, Invocation, Launch, Outcome, Reply};
pub(crate) use self::journal::Trigger;
pub use self::lambda_api::TENANT_HEADER;
pub(crate) use self::lambda_api::owns_path;
use crate::deploy::settings::Word;
use crate::local::ACCOUNT;
use crate::project::Function;

/// The largest payload of a synchronous invocation (AWS "Lambda quotas").
const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
/// The largest payload of an asynchronous invocation (AWS Invoke API: 1 MB; the deprecated
/// InvokeAsync kept 256 KB).
const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;
/// The header `invoke --identity` passes a Cognito identity in. AWS derives it from the
/// caller's Cognito credentials, which a local Lambda has none of: this is lambdakit's own.
const IDENTITY_HEADER: &str = "x-lambdakit-cognito-identity";
/// The caller's X-Ray trace header, which the invocation continues (AWS X-Ray "Tracing
/// header"; the SDKs send it).
const TRACE_HEADER: &str = "x-amzn-trace-id";
/// How much of an invocation's log `X-Amz-Log-Type: Tail` returns (AWS Invoke API).
const LOG_TAIL_BYTES: usize = 4 * 1024;
/// The most a function may stream in one response.
const MAX_STREAMED_RESPONSE: usize = lambda_kit::__server::MAX_STREAMED_RESPONSE_BYTES;

/// How long a connection may take to send a request's headers before serve closes it, so
/// that half-sent requests cannot hold connections open.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The most connections serve keeps open at once. Past it, new connections wait in the
/// listener's backlog until one closes rather than being refused: a caller that waits is
/// served, the backlog is the kernel's and bounded, and the slots come back as connections
/// end (the header-read timeout ends idle and half-sent ones).
const MAX_CONNECTIONS: usize = 1024;
/// How long serve waits before accepting again after a failed `accept`.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The bounds of serve's listener.
#[derive(Debug, Clone, Copy)]
struct Limits {
    header_read_timeout: Duration,
    max_connections: usize,
}

impl Limits {
    /// The limits `cargo lambdakit serve` runs with.
    const SERVE: Self = Self {
        header_read_timeout: HEADER_READ_TIMEOUT,
        max_connections: MAX_CONNECTIONS,
    };
}

/// What the emulator answers with: whole bodies, or a function's streamed response.
type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// What the Lambda API's handlers read a request's body from: the connection's, or, for a
/// signed request, the body read whole to check its signature.
type RequestBody = http_body_util::combinators::UnsyncBoxBody<Bytes, hyper::Error>;

fn boxed(response: Response<Full<Bytes>>) -> Response<Body> {
    response.map(|body| body.map_err(|never| match never {}).boxed_unsync())
}

/// The functions the emulator runs, by name.
#[derive(Debug)]
pub struct Emulator {
    /// Read on every invocation (a clone of one `Arc`), written only by the control plane
    /// (CreateFunction, DeleteFunction).
    pools: RwLock<BTreeMap<String, Arc<Pool>>>,
    /// What a function created through the control plane is started with (of the shell's
    /// variables, only what `guard::created_environment` keeps).
    region: String,
    passed_environment: BTreeMap<String, String>,
    cost: bool,
    /// Where created functions' code is unpacked and their records kept (see `state`).
    state: PathBuf,
    /// The records of the functions created through the control plane, as kept in `state`.
    records: Mutex<BTreeMap<String, state::Record>>,
    /// The layers published through the control plane, by name, as kept in `state`.
    layers: Mutex<BTreeMap<String, state::LayerRecord>>,
    /// Functions kept in `state` that are not served (their entry cannot be read, say), by
    /// name, with the file at fault: their names are not free for a CreateFunction.
    kept: Mutex<BTreeMap<String, PathBuf>>,
    /// The pools of created functions' published versions, by name and number, made by
    /// their first invocation.
    versions: RwLock<BTreeMap<(String, u64), Arc<Pool>>>,
    /// Held by each control-plane call that changes a function, one at a time.
    changes: tokio::sync::Mutex<()>,
    /// Invocations hold it shared; a rebuild holds it alone, so invocations wait for it.
    gate: Arc<tokio::sync::RwLock<()>>,
    /// Bumped by [`Emulator::restart`]: instances of an older generation are not reused.
    generation: Arc<AtomicU64>,
    /// The queues of `Event` invocations, one per function (`queue`), and their retry
    /// settings; stopped by [`Emulator::shutdown`].
    queues: queue::Queues,
    /// Deliveries of the queues' records and dead letters to AWS, and the clients they use
    /// (made by the first).
    destinations: destinations::Destinations,
    /// The emulator itself, for the queues' tasks (which deliver to destinations); set by the
    /// first request, which every `Event` invocation comes after.
    this: OnceLock<Weak<Emulator>>,
    /// Who the Lambda API answers (see `guard`); function URLs answer anyone.
    access: Access,
    /// The traces of every function (see `traces`): its X-Ray daemon and OTLP receiver, run
    /// by [`Emulator::serve`], and the traces kept.
    traces: Arc<traces::Traces>,
    /// Every function's last invocations, for the console (see `journal`).
    journal: Arc<journal::Journal>,
    /// The state machines created through the Step Functions API, and their executions.
    step_functions: states_api::StepFunctions,
    /// The project's HTTP API, answered at `/` (see `api`).
    api: Option<api::LocalApi>,
}

#[derive(Debug)]
struct Pool {
    function: Function,
    binary: PathBuf,
    launch: Launch,
    /// Its ARN, qualified for a published version.
    arn: String,
    /// `$LATEST`, or the number of the published version it runs.
    version: String,
    idle: Mutex<Vec<Instance>>,
    /// How many invocations one instance takes at once: `None` for Lambda's one at a time;
    /// on Lambda Managed Instances, its `PerExecutionEnvironmentMaxConcurrency`.
    per_instance: Option<usize>,
    /// On Lambda Managed Instances, its execution environments, each shared by up to
    /// `per_instance` invocations at once (`idle` is not used then).
    environments: Mutex<Vec<Arc<Environment>>>,
    /// Its instances, idle, busy or starting: at most the function's concurrency.
    alive: AtomicUsize,
    /// Its instances starting now (a cold start's init).
    starting: AtomicUsize,
    /// Told each time an instance goes back idle or away, for `Event` invocations waiting
    /// for one (see `queue`).
    freed: tokio::sync::Notify,
    /// Its invocations under way: each runs in a task of its own, so that it runs to its end
    /// (END, REPORT, its instance back in the pool) when its caller hangs up; stopped by
    /// [`Emulator::shutdown`].
    running: Mutex<JoinSet<()>>,
    /// Print an estimated cost after each `REPORT`.
    cost: bool,
    generation: Arc<AtomicU64>,
    /// The front of its HTTP requests.
    front: url::Front,
    /// Where its invocations' function segments go (the emulator's).
    traces: Arc<traces::Traces>,
    /// Where its invocations are kept once they end (the emulator's).
    journal: Arc<journal::Journal>,
    /// How it came to be served, when it was created through the control plane; `None` for
    /// the project's own functions and `--bootstrap`s.
    created: Option<lambda_api::Created>,
}

/// What every pool of an emulator shares.
#[derive(Debug, Clone)]
struct Common {
    /// Bumped by [`Emulator::restart`].
    generation: Arc<AtomicU64>,
    traces: Arc<traces::Traces>,
    journal: Arc<journal::Journal>,
}

/// A function to serve: its settings, its bootstrap, and what runs the bootstrap when this
/// machine cannot (`qemu-aarch64 -L SYSROOT` for arm64 on x86_64); empty runs it directly.
#[derive(Debug, Clone)]
pub struct Served {
    /// The function's settings.
    pub function: Function,
    /// Its bootstrap.
    pub binary: PathBuf,
    /// The command (and its arguments) the bootstrap runs under, if any.
    pub runner: Vec<String>,
    /// Its external extensions' executables, each named as `/opt/extensions/NAME` is.
    pub extensions: Vec<PathBuf>,
}

/// What an invocation came to.
#[derive(Debug)]
struct Invoked {
    request_id: String,
    outcome: Outcome,
    logs: String,
}

/// An invocation's answer: settled, or a response the function is streaming, with what it
/// comes to when the stream ends.
#[derive(Debug)]
enum Answer {
    Done(Invoked),
    Streaming {
        request_id: String,
        content_type: Option<String>,
        chunks: tokio::sync::mpsc::Receiver<Chunk>,
        finished: tokio::sync::oneshot::Receiver<Invoked>,
    },
}

impl Answer {
    /// What the invocation came to, the stream (if any) read to its end.
    async fn settled(self) -> Invoked {
        match self {
            Self::Done(invoked) => invoked,
            Self::Streaming {
                chunks, finished, ..
            } => {
                // Nobody reads the chunks: the relay gathers them into the outcome.
                drop(chunks);
                finished.await.unwrap_or_else(|_| Invoked {
                    request_id: String::new(),
                    outcome: Outcome::Error(instance::error_body(
                        "Runtime.Unknown",
                        "the streamed invocation was lost",
                    )),
                    logs: String::new(),
                })
            }
        }
    }
}

impl Emulator {
    /// An emulator for `functions`, each with its built binary and what runs it; functions
    /// created through the control plane have their code unpacked under `state`.
    pub fn new(
        functions: Vec<Served>,
        region: &str,
        passed_environment: &BTreeMap<String, String>,
        cost: bool,
        state: PathBuf,
    ) -> Self {
        let generation = Arc::new(AtomicU64::new(0));
        let traces = Arc::new(traces::Traces::open());
        let journal = Arc::new(journal::Journal::default());
        let pools = functions
            .into_iter()
            .map(|served| {
                let pool = Pool::new(
                    served,
                    region,
                    passed_environment,
                    cost,
                    Common {
                        generation: Arc::clone(&generation),
                        traces: Arc::clone(&traces),
                        journal: Arc::clone(&journal),
                    },
                    None,
                );
                (pool.function.name.clone(), Arc::new(pool))
            })
            .collect::<BTreeMap<_, _>>();
        // The project's own `async` settings, as deploy puts them on Lambda.
        let queues = queue::Queues::new(queue::Settings::from_env());
        for (name, pool) in &pools {
            if let Some(settings) = &pool.function.deploy.asynchronous
                && settings.invoke_config()
            {
                queues.set_config(name, "$LATEST", Some(queue::EventConfig::of(settings)));
            }
        }
        Self {
            pools: RwLock::new(pools),
            region: region.to_owned(),
            passed_environment: passed_environment.clone(),
            cost,
            state,
            records: Mutex::default(),
            layers: Mutex::default(),
            kept: Mutex::default(),
            versions: RwLock::default(),
            changes: tokio::sync::Mutex::default(),
            gate: Arc::default(),
            generation,
            queues,
            destinations: destinations::Destinations::new(region),
            this: OnceLock::new(),
            access: Access::default(),
            traces,
            journal,
            step_functions: states_api::StepFunctions::new(1.0),
            api: None,
        }
    }

    /// This emulator, running state machines' Wait states and retry intervals `speed` times
    /// faster than real time (`serve --wait-speed`).
    #[must_use]
    pub fn with_wait_speed(mut self, speed: f64) -> Self {
        self.step_functions = states_api::StepFunctions::new(speed);
        self
    }

    /// This emulator, printing each sampled invocation's trace as a waterfall once it is
    /// complete (`serve --traces`).
    #[must_use]
    pub fn with_traces_printed(self) -> Self {
        self.traces.print_each();
        self
    }

    /// Where its X-Ray daemon (UDP) and OTLP/HTTP receiver listen, if they could open ports.
    pub fn trace_addresses(&self) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
        self.traces.addresses()
    }

    /// This emulator, answering the Lambda API for the callers `access` admits (by default,
    /// local callers that are not a web page).
    #[must_use]
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// What a new pool of this emulator shares with the others.
    fn common(&self) -> Common {
        Common {
            generation: Arc::clone(&self.generation),
            traces: Arc::clone(&self.traces),
            journal: Arc::clone(&self.journal),
        }
    }

    /// The pool of the function `name`, if it is served.
    fn pool(&self, name: &str) -> Option<Arc<Pool>> {
        read(&self.pools).get(name).cloned()
    }

    /// Every pool, in name order.
    fn all_pools(&self) -> Vec<Arc<Pool>> {
        read(&self.pools).values().cloned().collect()
    }

    /// The names of the functions served.
    pub fn function_names(&self) -> Vec<String> {
        read(&self.pools).keys().cloned().collect()
    }

    /// Answers the Invoke API on `listener`, and runs the X-Ray daemon and OTLP receiver,
    /// until the future is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let traces = Arc::clone(&self.traces);
        tokio::select! {
            () = self.serve_within(listener, Limits::SERVE) => {}
            () = traces.run() => {}
        }
    }

    /// [`Emulator::serve`] within `limits`. A failed `accept` (out of file descriptors, say)
    /// is logged and tried again: serve never ends by itself.
    async fn serve_within(self: Arc<Self>, listener: TcpListener, limits: Limits) {
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        // Owned by this future: dropping it closes every connection.
        let mut connections = JoinSet::new();
        // Whether the last accept failed, or the cap was reached: each is logged once, when it
        // begins, not on every try.
        let (mut failing, mut capped) = (false, false);
        loop {
            while connections.try_join_next().is_some() {}
            let slot = match Arc::clone(&slots).try_acquire_owned() {
                Ok(slot) => {
                    capped = false;
                    slot
                }
                Err(_) => {
                    if !capped {
                        eprintln!(
                            "warning: {} connections are open, the most serve keeps at once; new connections wait until one closes",
                            limits.max_connections
                        );
                        capped = true;
                    }
                    Arc::clone(&slots)
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed: it lives in this function")
                }
            };
            let stream = match listener.accept().await {
                Ok((stream, _)) => {
                    if failing {
                        eprintln!("lambdakit: accepting connections again");
                        failing = false;
                    }
                    stream
                }
                Err(error) => {
                    if !failing {
                        eprintln!(
                            "warning: serve cannot accept a connection: {error}; trying again every {} ms (out of file descriptors? raise `ulimit -n`)",
                            ACCEPT_RETRY.as_millis()
                        );
                        failing = true;
                    }
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            };
            let emulator = Arc::clone(&self);
            connections.spawn(async move {
                let _slot = slot;
                let service = hyper::service::service_fn(move |request| {
                    Arc::clone(&emulator).answer(request)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// Holds new invocations until the guard is dropped (while a rebuild runs); waits for the
    /// invocations under way to finish first.
    pub async fn hold_invocations(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.gate.write().await
    }

    /// Makes every function start afresh: idle instances stop now, busy ones when their
    /// invocation ends, and the next invocation is a cold start of the (rebuilt) binary.
    pub async fn restart(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for pool in self.all_pools() {
            pool.stop_idle().await;
        }
    }

    /// Stops the queues of `Event` invocations (those waiting are dropped, and counted in
    /// one line), then the invocations under way and every idle instance. An invocation
    /// stopped takes its instance with it (its process is killed): Lambda would run it again
    /// from its queue, and the local Lambda keeps no queue across runs.
    pub async fn shutdown(&self) {
        self.step_functions.shutdown().await;
        self.queues.shutdown().await;
        // What the queues handed AWS is delivered, or said not to be, before serve ends.
        self.destinations.shutdown().await;
        let versions: Vec<_> = read(&self.versions).values().cloned().collect();
        for pool in self.all_pools().into_iter().chain(versions) {
            pool.stop().await;
        }
    }

    async fn answer(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        Ok(self.route(request).await)
    }

    async fn route(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        self.this.get_or_init(|| Arc::downgrade(&self));
        let (parts, body) = request.into_parts();
        let operation =
            match lambda_api::Operation::parse(&parts.method, &parts.uri, &parts.headers) {
                Ok(operation) => operation,
                Err(refusal) => return refusal.response(),
            };
        // The one check of who calls, before any operation (or a wait for a rebuild). A signed
        // request is read whole and its signature checked before its operation sees it.
        let body: RequestBody = match guard::admit(&self.access, &operation, &parts) {
            Err(refused) => return *refused,
            Ok(guard::Admission::Open) => body.boxed_unsync(),
            Ok(guard::Admission::Signed(pending)) => {
                let read = match lambda_api::read_signed(&operation, &parts.headers, body).await {
                    Ok(read) => read,
                    Err(refused) => return refused,
                };
                if let Err(refused) = pending.verify(&parts, &read) {
                    return *refused;
                }
                Full::new(read)
                    .map_err(|never| match never {})
                    .boxed_unsync()
            }
        };
        let open = Arc::clone(&self.gate).read_owned().await;
        self.dispatch(operation, &parts, body, open).await
    }
}

impl Pool {
    /// The pool of `served`, with the shell's `passed_environment` under its own.
    fn new(
        served: Served,
        region: &str,
        passed_environment: &BTreeMap<String, String>,
        cost: bool,
        common: Common,
        created: Option<lambda_api::Created>,
    ) -> Self {
        let Common {
            generation,
            traces,
            journal,
        } = common;
        let Served {
            function,
            binary,
            runner,
            extensions,
        } = served;
        let mut environment = passed_environment.clone();
        environment.extend(function.environment.clone());
        if let Some(format) = &function.log_format {
            environment.insert("AWS_LAMBDA_LOG_FORMAT".into(), format.as_str().into());
        }
        if let Some(level) = &function.log_level {
            environment.insert("AWS_LAMBDA_LOG_LEVEL".into(), level.as_str().into());
        }
        traces.environment(&mut environment);
        let per_instance = function
            .deploy
            .managed_instances
            .as_ref()
            .map(|managed| per_environment(managed, function.memory_mb));
        let launch = Launch {
            function: function.name.clone(),
            region: region.to_owned(),
            memory_mb: function.memory_mb,
            environment,
            runner,
            extensions,
            init_timeout: match per_instance {
                Some(_) => function.timeout.max(instance::MANAGED_INIT_TIMEOUT),
                None => instance::INIT_TIMEOUT,
            },
            concurrency: per_instance.and_then(|n| u32::try_from(n).ok()),
        };
        let arn = function_arn(region, &function.name);
        let front = url::Front::named(&function.http_event).unwrap_or(url::Front::FunctionUrl);
        Self {
            front,
            function,
            binary,
            launch,
            arn,
            version: "$LATEST".to_owned(),
            idle: Mutex::new(Vec::new()),
            per_instance,
            environments: Mutex::default(),
            alive: AtomicUsize::new(0),
            starting: AtomicUsize::new(0),
            freed: tokio::sync::Notify::new(),
            running: Mutex::default(),
            cost,
            generation,
            created,
            traces,
            journal,
        }
    }

    /// Stops the idle instances; busy ones stop when their invocation ends, if the pool is
    /// gone by then (they are dropped with it).
    async fn stop_idle(&self) {
        let idle = std::mem::take(&mut *lock(&self.idle));
        for instance in idle {
            self.alive.fetch_sub(1, Ordering::SeqCst);
            self.freed.notify_one();
            instance.stop().await;
        }
        let unused: Vec<_> = lock(&self.environments)
            .iter()
            .filter(|environment| environment.claimed.load(Ordering::SeqCst) == 0)
            .cloned()
            .collect();
        for environment in unused {
            self.retire(&environment).await;
        }
    }

    /// Takes `environment` out of its environments (it takes no more invocations) and stops
    /// its instance; the invocations still on it fail as its processes end. Nothing when it
    /// was retired already.
    async fn retire(&self, environment: &Arc<Environment>) {
        let removed = {
            let mut environments = lock(&self.environments);
            let at = environments
                .iter()
                .position(|each| Arc::ptr_eq(each, environment));
            at.map(|at| environments.remove(at))
        };
        if let Some(environment) = removed {
            self.alive.fetch_sub(1, Ordering::SeqCst);
            self.freed.notify_one();
            if let Some(instance) = environment.instance.get() {
                instance.stop().await;
            }
        }
    }

    /// Stops its invocations under way (their instances with them), then its idle instances.
    async fn stop(&self) {
        let mut running = std::mem::take(&mut *lock(&self.running));
        running.shutdown().await;
        self.stop_idle().await;
        let environments = lock(&self.environments).clone();
        for environment in environments {
            self.retire(&environment).await;
        }
    }

    /// Runs an invocation of `payload` now, on an idle instance or a new one, or refuses it
    /// with `429` when the function runs as many instances as its concurrency allows.
    async fn invoke(self: &Arc<Self>, call: Call) -> Result<Answer, Response<Full<Bytes>>> {
        if let Some(refusal) = self.refuse_tenant(call.tenant.as_deref()) {
            return Err(refusal);
        }
        let Some(claim) = self.claim(call.tenant.as_deref()) else {
            return Err(too_many_requests());
        };
        Ok(self.start(claim, call).await)
    }

    /// Whether the function keeps its instances to one tenant each (`tenancy = "per-tenant"`).
    fn per_tenant(&self) -> bool {
        self.function.deploy.tenancy == Some(crate::deploy::settings::Tenancy::PerTenant)
    }

    /// The refusal of an invocation whose tenant does not fit the function, as Lambda's: a
    /// per-tenant function needs one, another takes none.
    fn refuse_tenant(&self, tenant: Option<&str>) -> Option<Response<Full<Bytes>>> {
        let name = &self.function.name;
        let problem = match (self.per_tenant(), tenant) {
            (true, None) => format!(
                "the function `{name}` isolates its tenants (`tenancy = \"per-tenant\"`): name the tenant with `X-Amz-Tenant-Id` (`cargo lambdakit invoke --tenant ID`, the AWS CLI's `--tenant-id`)"
            ),
            (false, Some(_)) => format!(
                "the function `{name}` does not isolate tenants; leave out `X-Amz-Tenant-Id`, or set `tenancy = \"per-tenant\"` in its settings"
            ),
            (true, Some(tenant)) => match crate::deploy::settings::tenant_id(tenant) {
                Ok(()) => return None,
                Err(problem) => format!("the tenant id (`X-Amz-Tenant-Id`) {problem}"),
            },
            (false, None) => return None,
        };
        Some(aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &problem,
        ))
    }

    /// One of its instances for an invocation of `tenant`: an idle one (of that tenant, for a
    /// per-tenant function), or room to start one, made if need be by stopping an idle
    /// instance of another tenant; `None` when it runs as many as the function's concurrency
    /// allows.
    fn claim(self: &Arc<Self>, tenant: Option<&str>) -> Option<Claim> {
        if let Some(per_instance) = self.per_instance {
            return self.claim_shared(per_instance);
        }
        let per_tenant = self.per_tenant();
        let other_tenants = {
            let mut idle = lock(&self.idle);
            let fits = if per_tenant {
                idle.iter()
                    .rposition(|instance| instance.tenant.as_deref() == tenant)
            } else {
                idle.len().checked_sub(1)
            };
            if let Some(at) = fits {
                return Some(Claim::Own {
                    slot: Slot::of(self),
                    instance: Some(Box::new(idle.remove(at))),
                });
            }
            !idle.is_empty()
        };
        if self.alive.fetch_add(1, Ordering::SeqCst) >= self.function.concurrency {
            self.alive.fetch_sub(1, Ordering::SeqCst);
            // Every place is taken; an idle instance of another tenant gives up its own.
            let evicted = other_tenants.then(|| lock(&self.idle).pop()).flatten()?;
            let mut running = lock(&self.running);
            running.spawn(async move { evicted.stop().await });
            return Some(Claim::Own {
                slot: Slot::of(self),
                instance: None,
            });
        }
        Some(Claim::Own {
            slot: Slot::of(self),
            instance: None,
        })
    }

    /// A place on one of its Lambda Managed Instances environments for an invocation: on one
    /// that runs (or starts) fewer than `per_instance` now, or on a new one when it runs fewer
    /// environments than the function's concurrency; `None` when every place is taken (AWS
    /// "Understanding the Lambda Managed Instances execution environment": busy environments
    /// reject invocations until a worker is free).
    fn claim_shared(self: &Arc<Self>, per_instance: usize) -> Option<Claim> {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut environments = lock(&self.environments);
        let free = environments.iter().find(|environment| {
            environment.generation == generation
                && environment.claimed.load(Ordering::SeqCst) < per_instance
        });
        let environment = match free {
            Some(environment) => Arc::clone(environment),
            None => {
                if self.alive.fetch_add(1, Ordering::SeqCst) >= self.function.concurrency {
                    self.alive.fetch_sub(1, Ordering::SeqCst);
                    return None;
                }
                let environment = Arc::new(Environment {
                    instance: tokio::sync::OnceCell::new(),
                    claimed: AtomicUsize::new(0),
                    generation,
                });
                environments.push(Arc::clone(&environment));
                environment
            }
        };
        environment.claimed.fetch_add(1, Ordering::SeqCst);
        Some(Claim::Shared(Placed {
            pool: Arc::clone(self),
            environment,
            released: false,
        }))
    }

    /// Runs `call` on `claim` in a task the pool owns ([`Pool::running`]), so that it runs to
    /// its end whether or not anyone still waits for it; the future resolves with its answer.
    fn start(
        self: &Arc<Self>,
        claim: Claim,
        call: Call,
    ) -> impl Future<Output = Answer> + Send + 'static {
        let (answered, answer) = tokio::sync::oneshot::channel();
        let request_id = call.request_id.clone();
        let pool = Arc::clone(self);
        {
            let mut running = lock(&self.running);
            while running.try_join_next().is_some() {}
            running.spawn(pool.run(claim, call, answered));
        }
        async move {
            answer.await.unwrap_or_else(|_| {
                Answer::Done(Invoked {
                    request_id,
                    outcome: Outcome::Error(instance::error_body(
                        "Runtime.Unknown",
                        "the invocation was stopped (serve is stopping)",
                    )),
                    logs: String::new(),
                })
            })
        }
    }

    /// An invocation from start to end: the instance started if it must be, the call handed
    /// to it, its streamed response relayed, and [`Pool::finish`]. Its answer goes to
    /// `answered` as soon as it has one (a stream once it begins); nobody may be there.
    async fn run(
        self: Arc<Self>,
        claim: Claim,
        call: Call,
        answered: tokio::sync::oneshot::Sender<Answer>,
    ) {
        let Call {
            request_id,
            payload,
            client_context,
            identity,
            invoked_arn,
            trace,
            tenant,
            trigger,
        } = call;
        let trace_header = ids::continued_trace(trace.as_deref());
        let starting = std::time::SystemTime::now();
        let event = payload.clone();
        let started = match claim {
            Claim::Own {
                slot,
                instance: Some(instance),
            } => Ok(Held::Own { slot, instance }),
            Claim::Own {
                slot,
                instance: None,
            } => match self.start_instance(tenant.as_deref()).await {
                Ok(instance) => Ok(Held::Own {
                    slot,
                    instance: Box::new(instance),
                }),
                // Its place is given back with the slot.
                Err(failure) => Err(failure),
            },
            Claim::Shared(placed) => {
                let started = placed
                    .environment
                    .instance
                    .get_or_try_init(|| async {
                        let mut instance = self.start_instance(None).await?;
                        instance.generation = placed.environment.generation;
                        Ok::<_, instance::StartFailure>(Arc::new(instance))
                    })
                    .await
                    .map(Arc::clone);
                started.map(|instance| Held::Shared { placed, instance })
            }
        };
        let held = match started {
            Ok(held) => held,
            Err(failure) => {
                let mut logs = failure.logs;
                let line = format!(
                    "INIT_REPORT Status: error\tErrorType: {}",
                    error_type(&failure.error)
                );
                println!("{line}");
                logs.push_str(&line);
                logs.push('\n');
                // The invocation's segment, a fault: what failed is the init.
                let traced = self.traces.function_segment(
                    &trace_header,
                    trace.as_deref(),
                    traces::Segment {
                        error: Some(&init_error(&failure.error)),
                        fault: true,
                        ..self.segment(&request_id, starting, std::time::SystemTime::now())
                    },
                );
                let invoked = Invoked {
                    request_id,
                    outcome: Outcome::Error(failure.error),
                    logs,
                };
                let tried = starting.elapsed().unwrap_or_default();
                self.note(
                    &invoked,
                    (trigger, event, starting),
                    Figures {
                        duration: tried,
                        max_memory_mb: 0,
                        init_duration: Some(tried),
                    },
                    traced.as_deref(),
                );
                let _ = answered.send(Answer::Done(invoked));
                if let Some(trace_id) = traced {
                    self.traces.print_when_complete(&trace_id).await;
                }
                return;
            }
        };
        let instance = held.instance();
        let init_duration = instance.take_init_duration();
        instance.enter(&request_id);
        instance.log(&format!(
            "START RequestId: {request_id} Version: {}",
            self.version
        ));
        let invocation = Invocation {
            request_id: request_id.clone(),
            body: payload,
            timeout: self.function.timeout,
            function_arn: invoked_arn.unwrap_or_else(|| self.arn.clone()),
            trace_id: trace_header.clone(),
            client_context,
            identity,
            tenant,
        };
        let started = Instant::now();
        let wall_started = std::time::SystemTime::now();
        // The segment ends when REPORT's Duration does, not after serve's bookkeeping; the
        // journal keeps the invocation with its trace.
        let traced = |invoked: &Invoked, figures: Figures| {
            let error = match &invoked.outcome {
                Outcome::Error(body) => Some(error_type(body)),
                Outcome::Response(_) => None,
            };
            let trace_id = self.traces.function_segment(
                &trace_header,
                trace.as_deref(),
                traces::Segment {
                    init_duration,
                    error: error.as_deref(),
                    ..self.segment(
                        &invoked.request_id,
                        wall_started,
                        wall_started + figures.duration,
                    )
                },
            );
            self.note(
                invoked,
                (trigger, event.clone(), wall_started),
                figures,
                trace_id.as_deref(),
            );
            trace_id
        };
        let run = Run {
            request_id,
            started,
            init_duration,
        };
        let traced = match instance.invoke(invocation, self.function.timeout).await {
            Ok(Reply::Done(outcome)) => {
                let (invoked, figures) = self.finish(held, run, outcome, true).await;
                let traced = traced(&invoked, figures);
                let _ = answered.send(Answer::Done(invoked));
                traced
            }
            Err(outcome) => {
                let (invoked, figures) = self.finish(held, run, outcome, false).await;
                let traced = traced(&invoked, figures);
                let _ = answered.send(Answer::Done(invoked));
                traced
            }
            Ok(Reply::Streaming(streaming)) => {
                let (relayed, chunks) = tokio::sync::mpsc::channel(16);
                let (done, finished) = tokio::sync::oneshot::channel();
                let _ = answered.send(Answer::Streaming {
                    request_id: run.request_id.clone(),
                    content_type: streaming.content_type,
                    chunks,
                    finished,
                });
                // It ends with the stream, the instance's exit or the function's timeout,
                // whichever is first; a reader gone away stops nothing.
                let deadline = run.started + self.function.timeout;
                let (outcome, reported) = relay(
                    held.instance(),
                    streaming.frames,
                    &relayed,
                    &run.request_id,
                    deadline,
                )
                .await;
                drop(relayed);
                let (invoked, figures) = self.finish(held, run, outcome, reported).await;
                let traced = traced(&invoked, figures);
                let _ = done.send(invoked);
                traced
            }
        };
        // `serve --traces`: the function's spans may come after its response.
        if let Some(trace_id) = traced {
            self.traces.print_when_complete(&trace_id).await;
        }
    }

    /// Keeps `invoked` in the journal, with what started it (`trigger`, its `event`, when),
    /// its REPORT's `figures` and its trace.
    fn note(
        &self,
        invoked: &Invoked,
        (trigger, event, started): (Trigger, Bytes, std::time::SystemTime),
        figures: Figures,
        trace_id: Option<&str>,
    ) {
        let (answer, error_type) = match &invoked.outcome {
            Outcome::Response(body) => (body.clone(), None),
            Outcome::Error(body) => (body.clone(), Some(error_type(body))),
        };
        let billed = billed_duration(figures.duration);
        let millis = |duration: Duration| duration.as_secs_f64() * 1000.0;
        self.journal.record(journal::Entry {
            number: 0,
            request_id: invoked.request_id.clone(),
            function: self.function.name.clone(),
            version: self.version.clone(),
            trigger,
            started,
            duration_ms: millis(figures.duration),
            billed_ms: billed.as_millis() as u64,
            memory_mb: self.function.memory_mb,
            max_memory_mb: figures.max_memory_mb,
            init_ms: figures.init_duration.map(millis),
            cost_usd: cost::estimate(
                self.billing(billed),
                self.function.memory_mb,
                self.function.architecture.as_str(),
            ),
            error_type,
            bodies: Mutex::new(Some(journal::Bodies::new(&event, &answer, &invoked.logs))),
            trace_id: trace_id.map(str::to_owned),
        });
    }

    /// How Lambda bills an invocation of the function that `billed` that long.
    fn billing(&self, billed: Duration) -> cost::Billing {
        match self.per_instance {
            Some(_) => cost::Billing::ManagedInstances,
            None => cost::Billing::Duration(billed),
        }
    }

    /// A new instance of the function, of the emulator's generation now; a per-tenant
    /// function's instance is its first tenant's for good.
    async fn start_instance(
        &self,
        tenant: Option<&str>,
    ) -> Result<Instance, instance::StartFailure> {
        let generation = self.generation.load(Ordering::SeqCst);
        self.starting.fetch_add(1, Ordering::SeqCst);
        let started = Instance::start(&self.binary, &self.launch, &self.version).await;
        self.starting.fetch_sub(1, Ordering::SeqCst);
        let mut instance = started?;
        instance.generation = generation;
        instance.tenant = tenant.map(str::to_owned);
        Ok(instance)
    }

    /// Its function's segment of the invocation `request_id`, from `started` to `ended`: the
    /// fields every segment shares, which an invocation's outcome completes.
    fn segment<'a>(
        &'a self,
        request_id: &'a str,
        started: std::time::SystemTime,
        ended: std::time::SystemTime,
    ) -> traces::Segment<'a> {
        traces::Segment {
            function: &self.function.name,
            arn: &self.arn,
            version: &self.version,
            request_id,
            started,
            ended,
            init_duration: None,
            error: None,
            fault: false,
        }
    }

    /// Ends an invocation as Lambda does: why it failed (for a timeout or a crash), `END` and
    /// `REPORT` in its log; the instance goes back to the pool, or away when it is broken or
    /// of an older build (and with it, its place). Returns REPORT's figures beside it.
    async fn finish(
        &self,
        held: Held,
        run: Run,
        outcome: Outcome,
        healthy: bool,
    ) -> (Invoked, Figures) {
        let instance = held.instance();
        let Run {
            request_id,
            started,
            init_duration,
        } = run;
        // The invocation is over when the extensions are done with it too, within its time.
        let (outcome, healthy) = if healthy {
            let left = (started + self.function.timeout).saturating_duration_since(Instant::now());
            match instance.settle(&request_id, left).await {
                Ok(()) => (outcome, true),
                Err(failure) => (failure, false),
            }
        } else {
            (outcome, healthy)
        };
        let duration = started.elapsed();
        // The function's last lines may still be in its pipes: give the readers a moment, so
        // they come before END, as Lambda orders them.
        tokio::time::sleep(Duration::from_millis(5)).await;
        // The instance timed out or crashed: Lambda writes why into the function's log.
        if let (Outcome::Error(body), false) = (&outcome, healthy) {
            let message = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|error| error["errorMessage"].as_str().map(str::to_owned))
                .unwrap_or_default();
            instance.log(&message);
        }
        instance.log(&format!("END RequestId: {request_id}"));
        let max_memory_mb = instance.max_memory_mb();
        let billed = billed_duration(duration);
        let at_once = instance.at_once(&request_id);
        let mut line = report(
            &request_id,
            duration,
            self.function.memory_mb,
            max_memory_mb,
            init_duration,
        );
        if let Some(per_instance) = self.per_instance {
            line.push_str(&concurrency_field(at_once, per_instance));
        }
        instance.log(&line);
        instance.emit(platform_report(
            &request_id,
            &outcome,
            healthy,
            duration,
            self.function.memory_mb,
            max_memory_mb,
            init_duration,
        ));
        if self.cost {
            instance.log(&cost::line(
                &request_id,
                self.billing(billed),
                self.function.memory_mb,
                self.function.architecture.as_str(),
            ));
        }
        let current = instance.generation == self.generation.load(Ordering::SeqCst);
        let logs = match held {
            Held::Own { slot, instance } => {
                let logs = instance.take_logs();
                instance.leave(&request_id);
                if healthy && current && !instance.ended() {
                    slot.keep(*instance);
                } else {
                    instance.stop().await;
                    drop(slot);
                }
                logs
            }
            Held::Shared {
                mut placed,
                instance,
            } => {
                let logs = instance.take_logs_of(&request_id);
                instance.leave(&request_id);
                // A timeout fails only its invocation; an exit ends the environment, and an
                // older build's goes once its last invocation is over.
                let others = placed.release();
                if instance.ended() || (!current && others == 0) {
                    self.retire(&placed.environment).await;
                }
                logs
            }
        };
        (
            Invoked {
                request_id,
                outcome,
                logs,
            },
            Figures {
                duration,
                max_memory_mb,
                init_duration,
            },
        )
    }
}

/// REPORT's figures of an invocation.
#[derive(Debug, Clone, Copy)]
struct Figures {
    duration: Duration,
    max_memory_mb: u64,
    /// A cold start's Init Duration.
    init_duration: Option<Duration>,
}

/// What an invocation is handed: its request id (which a retried `Event` invocation keeps),
/// its payload, and what its caller sent with it.
#[derive(Debug, Clone)]
struct Call {
    request_id: String,
    payload: Bytes,
    client_context: Option<String>,
    identity: Option<String>,
    invoked_arn: Option<String>,
    trace: Option<String>,
    /// The tenant of a per-tenant function's invocation (`X-Amz-Tenant-Id`).
    tenant: Option<String>,
    /// What started it.
    trigger: Trigger,
}

impl Call {
    /// A call of `payload` by `trigger`, with a new request id and nothing else sent with it.
    fn new(payload: Bytes, trigger: Trigger) -> Self {
        Self {
            request_id: ids::request_id(),
            payload,
            client_context: None,
            identity: None,
            invoked_arn: None,
            trace: None,
            tenant: None,
            trigger,
        }
    }
}

/// A place among a pool's instances, counted in its `alive`. Dropped, it gives the place
/// back (its instance is gone: stopped, timed out, crashed, or never started), and a queue
/// waiting for one hears of it; [`Slot::keep`] hands the place on to an idle instance.
#[derive(Debug)]
struct Slot(Option<Arc<Pool>>);

impl Slot {
    fn of(pool: &Arc<Pool>) -> Self {
        Self(Some(Arc::clone(pool)))
    }

    /// `instance` goes back idle, keeping the place (it is the idle instance's now).
    fn keep(mut self, instance: Instance) {
        if let Some(pool) = self.0.take() {
            lock(&pool.idle).push(instance);
            pool.freed.notify_one();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            pool.alive.fetch_sub(1, Ordering::SeqCst);
            pool.freed.notify_one();
        }
    }
}

/// What an invocation runs on.
#[derive(Debug)]
enum Claim {
    /// An instance of its own, as on Lambda: its place, and the idle instance it took, if any
    /// (else one is started).
    Own {
        slot: Slot,
        instance: Option<Box<Instance>>,
    },
    /// A place on a Lambda Managed Instances environment, which its first invocation starts.
    Shared(Placed),
}

/// The instance an invocation runs on, and what gives it back when the invocation ends.
#[derive(Debug)]
enum Held {
    Own {
        slot: Slot,
        instance: Box<Instance>,
    },
    Shared {
        placed: Placed,
        instance: Arc<Instance>,
    },
}

impl Held {
    fn instance(&self) -> &Instance {
        match self {
            Self::Own { instance, .. } => instance,
            Self::Shared { instance, .. } => instance,
        }
    }
}

/// An execution environment of Lambda Managed Instances: one instance, which takes up to the
/// function's `per_instance` invocations at once, counted in its pool's `alive` until
/// [`Pool::retire`] takes it out.
#[derive(Debug)]
struct Environment {
    /// Started by the first invocation placed on it; those placed meanwhile wait for it (a
    /// failed start is tried again by the next).
    instance: tokio::sync::OnceCell<Arc<Instance>>,
    /// The invocations placed on it now (changed under the lock of the pool's list).
    claimed: AtomicUsize,
    /// The emulator's generation it was made in (see `Emulator::restart`).
    generation: u64,
}

/// An invocation's place on an [`Environment`]; dropped (or released), the place is free
/// again, and a queue waiting for one hears of it.
#[derive(Debug)]
struct Placed {
    pool: Arc<Pool>,
    environment: Arc<Environment>,
    released: bool,
}

impl Placed {
    /// Frees the place (once); how many other invocations are still placed on the
    /// environment.
    fn release(&mut self) -> usize {
        let _list = lock(&self.pool.environments);
        let claimed = &self.environment.claimed;
        if !std::mem::replace(&mut self.released, true) {
            claimed.fetch_sub(1, Ordering::SeqCst);
        }
        claimed.load(Ordering::SeqCst)
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        self.release();
        self.pool.freed.notify_one();
    }
}

/// An invocation under way.
#[derive(Debug)]
struct Run {
    request_id: String,
    started: Instant,
    init_duration: Option<Duration>,
}

/// Passes a streamed response on as it arrives (to whoever still reads it), gathering it for
/// the invocation's outcome, until it ends, fails, grows past Lambda's limit, or the instance
/// exits or runs out of time. Returns the outcome and whether the instance may be reused.
async fn relay(
    instance: &Instance,
    mut frames: tokio::sync::mpsc::Receiver<lambda_kit::__server::Frame>,
    relayed: &tokio::sync::mpsc::Sender<Chunk>,
    request_id: &str,
    deadline: Instant,
) -> (Outcome, bool) {
    let mut gathered = Vec::new();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::select! {
            frame = frames.recv() => match frame {
                Some(frame) => match Chunk::of(frame) {
                    Some(chunk) => Some(chunk),
                    None => continue,
                },
                None => None,
            },
            failure = instance.failure(request_id, remaining) => {
                if let Outcome::Error(error) = &failure {
                    let _ = relayed.send(Chunk::Failed(error.clone())).await;
                }
                return (failure, false);
            }
        };
        match chunk {
            Some(Chunk::Data(data)) if gathered.len() + data.len() > MAX_STREAMED_RESPONSE => {
                let error = instance::error_body(
                    "Function.ResponseSizeTooLarge",
                    &format!(
                        "Response payload size exceeded maximum allowed payload size ({MAX_STREAMED_RESPONSE} bytes)."
                    ),
                );
                let _ = relayed.send(Chunk::Failed(error.clone())).await;
                // The rest of the stream is read (and dropped) by the Runtime API.
                return (Outcome::Error(error), true);
            }
            Some(Chunk::Data(data)) => {
                gathered.extend_from_slice(&data);
                let _ = relayed.send(Chunk::Data(data)).await;
            }
            Some(Chunk::Failed(error)) => {
                let _ = relayed.send(Chunk::Failed(error.clone())).await;
                return (Outcome::Error(error), true);
            }
            None => return (Outcome::Response(Bytes::from(gathered)), true),
        }
    }
}

/// `\tConcurrency: N of M`, which lambdakit adds to the REPORT of an invocation on Lambda
/// Managed Instances: the most invocations its environment ran at once while it ran, and how
/// many it takes (`AWS_LAMBDA_MAX_CONCURRENCY`).
fn concurrency_field(at_once: usize, per_instance: usize) -> String {
    format!("\tConcurrency: {at_once} of {per_instance}")
}

/// How many invocations an environment of `managed` takes at once: its `concurrency`, or
/// Lambda's default for Rust (OS-only runtimes), 8 per vCPU, with a vCPU per
/// `memory_per_vcpu` GiB (2 by default) of the function's memory (AWS "Rust support for
/// Lambda Managed Instances").
fn per_environment(managed: &crate::deploy::settings::ManagedInstances, memory_mb: u32) -> usize {
    const PER_VCPU: usize = 8;
    match managed.concurrency {
        Some(concurrency) => concurrency as usize,
        None => {
            let gib_per_vcpu = managed.memory_per_vcpu.unwrap_or(2).max(1);
            let vcpus = (memory_mb / 1024 / gib_per_vcpu).max(1);
            PER_VCPU * vcpus as usize
        }
    }
}

/// Lambda bills by the millisecond, rounded up, at least one.
fn billed_duration(duration: Duration) -> Duration {
    let millis = (duration.as_secs_f64() * 1000.0).ceil() as u64;
    Duration::from_millis(millis.max(1))
}

/// `REPORT RequestId: ... Duration: ... Billed Duration: ... Memory Size: ... Max Memory Used: ...`,
/// with `Init Duration` after a cold start (AWS "Lambda function logs").
fn report(
    request_id: &str,
    duration: Duration,
    memory_mb: u32,
    max_memory_mb: u64,
    init: Option<Duration>,
) -> String {
    let millis = duration.as_secs_f64() * 1000.0;
    let billed = billed_duration(duration).as_millis();
    let mut line = format!(
        "REPORT RequestId: {request_id}\tDuration: {millis:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: {max_memory_mb} MB"
    );
    if let Some(init) = init {
        line.push_str(&format!(
            "\tInit Duration: {:.2} ms",
            init.as_secs_f64() * 1000.0
        ));
    }
    line
}

/// `platform.report`: the `REPORT` line's figures, the same numbers, for telemetry.
fn platform_report(
    request_id: &str,
    outcome: &Outcome,
    healthy: bool,
    duration: Duration,
    memory_mb: u32,
    max_memory_mb: u64,
    init: Option<Duration>,
) -> Record {
    let (status, error_type) = match outcome {
        Outcome::Response(_) => ("success", None),
        Outcome::Error(body) => {
            let error_type = error_type(body);
            let status = match (healthy, error_type.as_str()) {
                (_, "Sandbox.Timedout") => "timeout",
                (true, _) => "error",
                (false, _) => "failure",
            };
            (status, Some(error_type))
        }
    };
    // The figures as the line prints them: milliseconds to two places.
    let millis = |duration: Duration| (duration.as_secs_f64() * 100_000.0).round() / 100.0;
    Record::Report(telemetry::Report::new(
        request_id,
        status,
        error_type,
        telemetry::ReportMetrics::new(
            millis(duration),
            billed_duration(duration).as_millis() as u64,
            u64::from(memory_mb),
            max_memory_mb,
            init.map(millis),
        ),
    ))
}

fn respond(invoked: &Invoked, tail: bool, version: &str) -> Response<Full<Bytes>> {
    let (body, failed) = match &invoked.outcome {
        Outcome::Response(body) => (body.clone(), false),
        Outcome::Error(body) => (body.clone(), true),
    };
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", &invoked.request_id)
        .header("x-amz-executed-version", version);
    if failed {
        response = response.header("x-amz-function-error", "Unhandled");
    }
    if tail {
        response = response.header("x-amz-log-result", log_tail(&invoked.logs));
    }
    response.body(Full::new(body)).unwrap_or_else(|_| {
        aws_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "cannot build the response",
        )
    })
}

/// The last [`LOG_TAIL_BYTES`] of `logs` (from a character's start), base64-encoded: Invoke's
/// `X-Amz-Log-Result`.
fn log_tail(logs: &str) -> String {
    let mut start = logs.len().saturating_sub(LOG_TAIL_BYTES);
    while !logs.is_char_boundary(start) {
        start += 1;
    }
    base64::engine::general_purpose::STANDARD.encode(&logs.as_bytes()[start..])
}

/// `name`, `name:qualifier` or a function ARN, to the name.
fn function_name(identifier: &str) -> String {
    let identifier = identifier
        .rsplit_once(":function:")
        .map_or(identifier, |(_, rest)| rest);
    identifier
        .split(':')
        .next()
        .unwrap_or(identifier)
        .to_owned()
}

/// The qualifier of `name:qualifier` or of a qualified function ARN, if it has one.
fn function_qualifier(identifier: &str) -> Option<String> {
    let identifier = identifier
        .rsplit_once(":function:")
        .map_or(identifier, |(_, rest)| rest);
    identifier
        .split_once(':')
        .map(|(_, qualifier)| qualifier.to_owned())
}

/// `X-Amz-Client-Context` is base64 JSON; the Runtime API passes the JSON on.
fn decode_client_context(encoded: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| "X-Amz-Client-Context is not base64".to_owned())?;
    let json = String::from_utf8(bytes)
        .map_err(|_| "X-Amz-Client-Context is not UTF-8 JSON".to_owned())?;
    serde_json::from_str::<serde_json::Value>(&json)
        .map_err(|_| "X-Amz-Client-Context is not a JSON object".to_owned())?;
    Ok(json)
}

/// An init error's type and message, as an X-Ray cause reads (`Runtime.ExitError: ...`).
fn init_error(body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|error| error["errorMessage"].as_str().map(str::to_owned))
        .filter(|message| !message.is_empty());
    match message {
        Some(message) => format!("{}: {message}", error_type(body)),
        None => error_type(body),
    }
}

fn error_type(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|error| error["errorType"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "Unknown".into())
}

/// An AWS API error: the type in `X-Amzn-ErrorType`, `{"Type", "message"}` in the body, the
/// shape AWS SDKs read for the Lambda API (restJson1).
fn aws_error(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "Type": "User", "message": message }).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers: &mut HeaderMap = response.headers_mut();
    if let Ok(value) = error_type.parse() {
        headers.insert("x-amzn-errortype", value);
    }
    if let Ok(value) = "application/json".parse() {
        headers.insert("content-type", value);
    }
    response
}

fn too_large(limit: usize) -> Response<Full<Bytes>> {
    aws_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestTooLargeException",
        &format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
    )
}

fn too_many_requests() -> Response<Full<Bytes>> {
    aws_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequestsException",
        "Rate Exceeded.",
    )
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// `arn:aws:lambda:{region}:{account}:function:{name}`.
fn function_arn(region: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{name}")
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the emulator's unit tests share: runtimes on the raw wire format (kept beside the CLI
/// tests' other Python runtimes) and a check on processes.
#[cfg(test)]
mod test_support {
    /// Takes its invocation, writes its pid to `$PID_FILE` and sleeps for a minute.
    pub(crate) const SLEEPING_RUNTIME: &str =
        include_str!("../../tests/cli/python/sleeping_runtime.py");
    /// Answers every invocation with a function URL's `ok`.
    pub(crate) const OK: &str = include_str!("../../tests/cli/python/ok_runtime.py");

    /// Whether the process `pid` runs (a zombie has ended: only its reaping is left).
    pub(crate) fn running(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .is_some_and(|state| !matches!(state, 'Z' | 'X'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_come_from_names_qualified_names_and_arns() {
        assert_eq!(function_name("orders"), "orders");
        assert_eq!(function_name("orders:$LATEST"), "orders");
        assert_eq!(
            function_name("arn:aws:lambda:eu-west-1:123456789012:function:orders"),
            "orders"
        );
        assert_eq!(
            function_name("arn:aws:lambda:eu-west-1:123456789012:function:orders:live"),
            "orders"
        );
    }

    #[test]
    fn reports_have_lambdas_fields() {
        let line = report(
            "id-1",
            Duration::from_micros(1_234_567),
            256,
            31,
            Some(Duration::from_millis(12)),
        );
        assert_eq!(
            line,
            "REPORT RequestId: id-1\tDuration: 1234.57 ms\tBilled Duration: 1235 ms\tMemory Size: 256 MB\tMax Memory Used: 31 MB\tInit Duration: 12.00 ms"
        );
        assert!(!report("id-2", Duration::ZERO, 128, 5, None).contains("Init Duration"));
        assert!(report("id-2", Duration::ZERO, 128, 5, None).contains("Billed Duration: 1 ms"));
    }

    /// Serves the function `name` (whose bootstrap is never run) within `limits`.
    async fn serve_within(
        name: &str,
        limits: Limits,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let served = Served {
            function: Function::standalone(name),
            binary: PathBuf::from("/nonexistent/bootstrap"),
            runner: Vec::new(),
            extensions: Vec::new(),
        };
        let emulator = Arc::new(Emulator::new(
            vec![served],
            "us-east-1",
            &BTreeMap::new(),
            false,
            std::env::temp_dir().join(format!("lambdakit-{name}-{}", std::process::id())),
        ));
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        (
            address,
            tokio::spawn(emulator.serve_within(listener, limits)),
        )
    }

    /// Whether the server closed `stream` (it reads the end, or a reset), within `wait`.
    async fn closed(stream: &mut tokio::net::TcpStream, wait: Duration) -> bool {
        use tokio::io::AsyncReadExt as _;
        let mut buffer = [0; 1024];
        let started = Instant::now();
        loop {
            let left = wait.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, stream.read(&mut buffer)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                // A 408 or the like: the end follows.
                Ok(Ok(_)) => {}
            }
        }
    }

    #[tokio::test]
    async fn half_sent_requests_are_closed_and_connections_past_the_cap_wait() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let limits = Limits {
            header_read_timeout: Duration::from_millis(500),
            max_connections: 100,
        };
        let (address, serving) = serve_within("capped", limits).await;
        let started = Instant::now();
        // 300 requests that never finish their headers: 100 are taken, 200 wait.
        let mut half_sent = Vec::new();
        for _ in 0..300 {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream
                .write_all(
                    b"POST /2015-03-31/functions/capped/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                )
                .await
                .unwrap();
            half_sent.push(stream);
        }
        for (n, stream) in half_sent.iter_mut().enumerate() {
            assert!(
                closed(stream, Duration::from_secs(10)).await,
                "half-sent request {n} is still open"
            );
        }
        // 100 at a time, each held until its timeout: the last ones waited for two rounds.
        assert!(
            started.elapsed() >= 2 * limits.header_read_timeout,
            "past the cap, connections were not held back: all closed in {:?}",
            started.elapsed()
        );
        // Slots came back: a whole request is answered.
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /2015-03-31/functions/nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
            .await
            .expect("a whole request is answered")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        serving.abort();
    }
}
