//! One execution environment: the function's bootstrap running natively, with a Runtime API of
//! its own on 127.0.0.1. The Runtime API is lambda-kit's server (`lambda_kit::__server`, the
//! one `lambda_kit::testing` runs too); this module keeps what is about the process: starting it,
//! its logs, its memory, timeouts and crashes.
//!
//! Each instance runs in a process group of its own, and a timeout, a crash or a retire ends
//! the whole group: a `#!/bin/sh` bootstrap that starts the real runtime without `exec` leaves
//! nothing running after it (Lambda freezes and discards the whole execution environment).
//!
//! Extensions run as Lambda runs them: the external ones (the function's `extensions/NAME`
//! executables) start first, in the instance's group, with the runtime's environment; init
//! ends when the runtime and every extension have asked for their next event; an invocation
//! is over when the extensions registered for `INVOKE` have asked again (their time counts in
//! the REPORT's duration); an extension that exits during init or an invocation fails it with
//! `Extension.Crash`. At the end, an instance with registered extensions gets Lambda's
//! shutdown phase: `SHUTDOWN` (spindown, timeout or failure) to the extensions and SIGTERM to
//! the runtime, 2 s for them to exit (500 ms with internal extensions only), then SIGKILL to
//! the group; without extensions, SIGKILL at once, as Lambda does. The function's and the
//! extensions' log lines, `platform.initStart`, `platform.initReport` and `platform.report` go
//! to the Telemetry API's subscribers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use lambda_kit::__server::{
    self as runtime_api, Completion, ExtensionKind, Frame, Report, RuntimeApiServer, ShutdownReason,
};
use lambda_kit::extension::telemetry::{self, Record};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

pub(crate) use lambda_kit::__server::error_document as error_body;

/// How long Lambda lets a function initialise (AWS "Lambda execution environment lifecycle").
pub(crate) const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long Lambda Managed Instances let an environment initialise, at least: the function's
/// timeout when that is longer (AWS "Understanding the Lambda Managed Instances execution
/// environment").
pub(crate) const MANAGED_INIT_TIMEOUT: Duration = Duration::from_secs(130);

/// The shutdown phase with external extensions registered, and with internal ones only (AWS
/// "Lambda execution environment lifecycle": 2,000 ms and 500 ms).
const SHUTDOWN_EXTERNAL: Duration = Duration::from_millis(2000);
/// See [`SHUTDOWN_EXTERNAL`].
const SHUTDOWN_INTERNAL: Duration = Duration::from_millis(500);

/// How long a stopped instance's last log lines may take to be read from its pipes (a process
/// it left behind that holds them open is not waited for longer).
const LOG_DRAIN: Duration = Duration::from_secs(1);

/// What an instance is started with.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub(crate) function: String,
    pub(crate) region: String,
    pub(crate) memory_mb: u32,
    /// The whole environment of the process, Lambda's variables included.
    pub(crate) environment: BTreeMap<String, String>,
    /// What runs the binary, when this machine cannot (qemu for another architecture).
    pub(crate) runner: Vec<String>,
    /// The external extensions' executables, started before the runtime; each is named by its
    /// file name, as `/opt/extensions/NAME` is on Lambda.
    pub(crate) extensions: Vec<std::path::PathBuf>,
    /// How long init may take.
    pub(crate) init_timeout: Duration,
    /// How many invocations one instance takes at once, on Lambda Managed Instances
    /// (`AWS_LAMBDA_MAX_CONCURRENCY`); `None` for Lambda's one at a time.
    pub(crate) concurrency: Option<u32>,
}

impl Launch {
    /// `AWS_LAMBDA_INITIALIZATION_TYPE`, and the `initializationType` of `platform.initStart`.
    fn initialization_type(&self) -> &'static str {
        if self.concurrency.is_some() {
            "lambda-managed-instances"
        } else {
            "on-demand"
        }
    }
}

/// An invocation as `/next` hands it out.
#[derive(Debug)]
pub(crate) struct Invocation {
    pub(crate) request_id: String,
    pub(crate) body: Bytes,
    pub(crate) timeout: Duration,
    pub(crate) function_arn: String,
    /// The X-Ray trace header: the caller's, continued, or a new one.
    pub(crate) trace_id: String,
    pub(crate) client_context: Option<String>,
    pub(crate) identity: Option<String>,
    /// The tenant, for a per-tenant function (`Lambda-Runtime-Aws-Tenant-Id`).
    pub(crate) tenant: Option<String>,
}

/// What the function reported for an invocation.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Response(Bytes),
    /// The body posted to `/error`, or made by the emulator for a timeout or a crash.
    Error(Bytes),
}

/// A piece of a streamed response, as the emulator passes it on.
#[derive(Debug, Clone)]
pub(crate) enum Chunk {
    Data(Bytes),
    /// The stream failed: the function's error (from its trailers) or the emulator's.
    Failed(Bytes),
}

/// A response the function streams, its frames as the Runtime API reads them.
#[derive(Debug)]
pub(crate) struct Streaming {
    pub(crate) content_type: Option<String>,
    pub(crate) frames: mpsc::Receiver<Frame>,
}

impl Chunk {
    /// A frame of the function's stream as the emulator passes it on: data, or the failure its
    /// trailers or its break report; `None` for trailers that report none.
    pub(crate) fn of(frame: Frame) -> Option<Self> {
        match frame {
            Frame::Data(data) => Some(Self::Data(data)),
            Frame::Trailers(trailers) => runtime_api::ErrorReport::from_trailers(&trailers)
                .map(|report| Self::Failed(report.document())),
            Frame::Broken(why) => Some(Self::Failed(error_body("Runtime.StreamError", &why))),
            _ => None,
        }
    }
}

/// How the function answered: whole, or as a stream that has begun.
#[derive(Debug)]
pub(crate) enum Reply {
    Done(Outcome),
    Streaming(Streaming),
}

/// Why an instance could not start, as Lambda reports it.
#[derive(Debug)]
pub(crate) struct StartFailure {
    pub(crate) error: Bytes,
    pub(crate) logs: String,
}

/// A running instance, idle or busy. Its methods take `&self`: a Lambda Managed Instances
/// environment runs several invocations at once, each from a task of its own.
#[derive(Debug)]
pub(crate) struct Instance {
    /// The bootstrap's pid, to read its memory by while it runs.
    pid: Option<u32>,
    /// Its process group (its first process's pid); `None` once the group was killed.
    group: Mutex<Option<i32>>,
    /// Its Runtime API; stopped when the instance and its log readers are gone.
    api: Arc<RuntimeApiServer>,
    /// What its processes have come to, as [`watch_processes`] sees them.
    exits: watch::Receiver<Exits>,
    /// Orders to [`watch_processes`], which owns the processes.
    orders: mpsc::UnboundedSender<Order>,
    /// The invocations under way, until the extensions are done with each.
    completions: Mutex<BTreeMap<String, Completion>>,
    /// The invocations it runs now, each with the most that ran at once while it ran.
    in_flight: Mutex<Vec<(String, usize)>>,
    /// The log readers and the process watcher: aborted when the instance is dropped.
    tasks: Mutex<JoinSet<()>>,
    logs: Arc<Mutex<String>>,
    /// Spawn to first `/next`, reported once, with the first invocation.
    init_duration: Mutex<Option<Duration>>,
    /// The peak resident memory in MB, read last before the process ended or now.
    peak_mb: AtomicU64,
    /// Whether a timeout leaves it running: on Lambda Managed Instances the invocation fails
    /// and the environment goes on with its other invocations.
    shared: bool,
    /// The emulator's generation it was started in (see `Emulator::restart`).
    pub(crate) generation: u64,
    /// The tenant it serves, for a per-tenant function: only that tenant's invocations run
    /// on it.
    pub(crate) tenant: Option<String>,
}

/// What an instance's processes have come to.
#[derive(Debug, Clone, Default)]
struct Exits {
    /// The first to exit, which ends the instance: Lambda's error for it, without the
    /// request id.
    first: Option<Exited>,
    /// How many of its processes have not been reaped.
    running: usize,
}

/// A process of the instance that exited.
#[derive(Debug, Clone)]
enum Exited {
    Runtime { status: String },
    Extension { name: String, status: String },
}

/// What [`watch_processes`] is asked to do.
#[derive(Debug, Clone, Copy)]
enum Order {
    /// SIGTERM to the runtime (the shutdown phase with extensions).
    Terminate,
    /// SIGKILL to every process still running.
    Kill,
}

impl Instance {
    /// Starts the external extensions, then `binary`, and waits until init has ended: the
    /// runtime asked for its first invocation and every extension for its first event.
    pub(crate) async fn start(
        binary: &Path,
        launch: &Launch,
        version: &str,
    ) -> Result<Self, StartFailure> {
        let failure = |message: String| StartFailure {
            error: error_body("Runtime.Unknown", &message),
            logs: String::new(),
        };
        let names: Vec<String> = launch
            .extensions
            .iter()
            .map(|path| file_name(path))
            .collect();
        let function = runtime_api::Function::new(&launch.function)
            .version(version)
            .handler(&launch.function)
            .account_id(crate::local::ACCOUNT)
            .external_extensions(names.clone());
        let api = Arc::new(
            RuntimeApiServer::start_for(function)
                .await
                .map_err(|error| failure(format!("cannot open a Runtime API port: {error}")))?,
        );
        let address = api.address();
        let mut tasks = JoinSet::new();
        let logs = Arc::new(Mutex::new(String::new()));

        api.emit(Record::InitStart(telemetry::InitStart::new(
            launch.initialization_type(),
            "init",
            &launch.function,
            version,
        )));
        let started = Instant::now();
        let mut group = None;
        let mut extensions = Vec::with_capacity(launch.extensions.len());
        let launched = names.clone();
        for (path, name) in launch.extensions.iter().zip(names) {
            let mut extension = command(path, launch, version, address, group)
                .spawn()
                .map_err(|error| {
                    crash_before_start(&mut extensions, &logs).unwrap_or_else(|| {
                        failure(format!(
                            "cannot start extension `{name}` ({}): {error}",
                            path.display()
                        ))
                    })
                })?;
            group = group.or_else(|| extension.id().and_then(|pid| i32::try_from(pid).ok()));
            read_logs(
                &mut extension,
                &mut tasks,
                &logs,
                &api,
                telemetry::Stream::Extension,
            );
            extensions.push((name, extension));
        }
        let mut child = command(binary, launch, version, address, group)
            .spawn()
            .map_err(|error| {
                crash_before_start(&mut extensions, &logs).unwrap_or_else(|| {
                    failure(format!("cannot start `{}`: {error}", binary.display()))
                })
            })?;
        group = group.or_else(|| child.id().and_then(|pid| i32::try_from(pid).ok()));
        read_logs(
            &mut child,
            &mut tasks,
            &logs,
            &api,
            telemetry::Stream::Function,
        );
        let pid = child.id();
        let (exits, exits_seen) = watch::channel(Exits::default());
        let (orders, ordered) = mpsc::unbounded_channel();
        tasks.spawn(watch_processes(child, extensions, exits, ordered));
        let instance = Self {
            pid,
            group: Mutex::new(group),
            api,
            exits: exits_seen,
            orders,
            completions: Mutex::default(),
            in_flight: Mutex::default(),
            tasks: Mutex::new(tasks),
            logs,
            init_duration: Mutex::default(),
            peak_mb: AtomicU64::new(0),
            shared: launch.concurrency.is_some(),
            generation: 0,
            tenant: None,
        };
        let failed = tokio::select! {
            started = instance.api.started() => match started {
                Ok(()) => None,
                Err(init_error) => Some(init_error.body().clone()),
            },
            exited = instance.exited() => Some(match exited {
                Exited::Runtime { status } => error_body(
                    "Runtime.ExitError",
                    &format!("Runtime exited with error: {status}"),
                ),
                Exited::Extension { name, status } => error_body(
                    "Extension.Crash",
                    &format!("extension `{name}` exited during init: {status}"),
                ),
            }),
            () = tokio::time::sleep(launch.init_timeout) => Some(error_body(
                "Runtime.InitTimeout",
                &init_timeout_message(&launched, &instance.api.extensions(), launch.init_timeout),
            )),
        };
        let duration = started.elapsed();
        let status = if failed.is_some() { "error" } else { "success" };
        instance
            .api
            .emit(Record::InitReport(telemetry::InitReport::new(
                launch.initialization_type(),
                "init",
                status,
                failed.as_deref().map(super::error_type),
                duration.as_secs_f64() * 1000.0,
            )));
        if let Some(error) = failed {
            instance.shut_down(ShutdownReason::Failure).await;
            return Err(StartFailure {
                error,
                logs: instance.take_logs(),
            });
        }
        *lock(&instance.init_duration) = Some(duration);
        Ok(instance)
    }

    /// Its init's duration, the first time it is asked for (the first invocation reports it).
    pub(crate) fn take_init_duration(&self) -> Option<Duration> {
        lock(&self.init_duration).take()
    }

    /// Hands `invocation` to the function and waits for its answer (or, for a streamed
    /// response, its start), the timeout or its exit. `Err` is Lambda's error when the
    /// function gave none: after a timeout or an exit, [`Instance::ended`] tells whether the
    /// instance is gone.
    pub(crate) async fn invoke(
        &self,
        invocation: Invocation,
        timeout: Duration,
    ) -> Result<Reply, Outcome> {
        let request_id = invocation.request_id.clone();
        let pending = match invocation.for_runtime_api() {
            Ok(invocation) => self.api.submit(invocation),
            Err(message) => return Err(Outcome::Error(error_body("Runtime.Unknown", &message))),
        };
        lock(&self.completions).insert(request_id.clone(), pending.completion());
        let report = tokio::select! {
            report = pending.report() => report,
            failure = self.failure(&request_id, timeout) => return Err(failure),
        };
        match report {
            Some(Report::Response(body)) => Ok(Reply::Done(Outcome::Response(body))),
            Some(Report::Error(report)) => Ok(Reply::Done(Outcome::Error(report.body().clone()))),
            Some(Report::Streamed(stream)) => Ok(Reply::Streaming(Streaming {
                content_type: stream
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned),
                frames: stream.frames,
            })),
            _ => Err(Outcome::Error(error_body(
                "Runtime.Unknown",
                "the instance's Runtime API stopped",
            ))),
        }
    }

    /// Resolves when the runtime or an extension exits, or `timeout` passes, with the error
    /// Lambda reports for it. A timeout shuts the instance down, unless it is shared (Lambda
    /// Managed Instances), where only the invocation fails.
    pub(crate) async fn failure(&self, request_id: &str, timeout: Duration) -> Outcome {
        tokio::select! {
            exited = self.exited() => Outcome::Error(match exited {
                Exited::Runtime { status } => error_body(
                    "Runtime.ExitError",
                    &format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
                ),
                Exited::Extension { name, status } => error_body(
                    "Extension.Crash",
                    &format!("RequestId: {request_id} Error: extension `{name}` exited: {status}"),
                ),
            }),
            () = tokio::time::sleep(timeout) => {
                if !self.shared {
                    self.max_memory_mb();
                    self.shut_down_within(ShutdownReason::Timeout).await;
                }
                Outcome::Error(error_body(
                    "Sandbox.Timedout",
                    &format!("RequestId: {request_id} Error: Task timed out after {:.2} seconds", timeout.as_secs_f64()),
                ))
            }
        }
    }

    /// Whether a process of the instance has exited (or was stopped): it takes no more
    /// invocations.
    pub(crate) fn ended(&self) -> bool {
        self.exits.borrow().first.is_some()
    }

    /// Resolves with the first of its processes to exit.
    async fn exited(&self) -> Exited {
        let mut exits = self.exits.clone();
        let first = exits
            .wait_for(|exits| exits.first.is_some())
            .await
            .map(|exits| exits.first.clone());
        match first {
            Ok(Some(exited)) => exited,
            // The watcher is gone (the instance is being dropped): nothing exits any more.
            _ => std::future::pending().await,
        }
    }

    /// Waits, at most `timeout`, until the extensions registered for `INVOKE` are done with
    /// the invocation `request_id`, which the runtime has answered; `Err` when an extension
    /// exits or time runs out first.
    pub(crate) async fn settle(&self, request_id: &str, timeout: Duration) -> Result<(), Outcome> {
        let Some(completion) = lock(&self.completions).remove(request_id) else {
            return Ok(());
        };
        tokio::select! {
            _ = completion.wait() => Ok(()),
            failure = self.failure(request_id, timeout) => Err(failure),
        }
    }

    /// Counts `request_id` among the invocations it runs now; see [`Instance::leave`].
    pub(crate) fn enter(&self, request_id: &str) {
        let mut in_flight = lock(&self.in_flight);
        in_flight.push((request_id.to_owned(), 0));
        let now = in_flight.len();
        for (_, most) in in_flight.iter_mut() {
            *most = (*most).max(now);
        }
    }

    /// The most invocations that ran at once while `request_id` ran (itself included).
    pub(crate) fn at_once(&self, request_id: &str) -> usize {
        lock(&self.in_flight)
            .iter()
            .find(|(id, _)| id == request_id)
            .map_or(1, |(_, most)| *most)
    }

    /// Takes `request_id` out of the invocations it runs now (its completion too, when it was
    /// not settled): once its log lines are taken, so that no other invocation takes them.
    pub(crate) fn leave(&self, request_id: &str) {
        lock(&self.completions).remove(request_id);
        lock(&self.in_flight).retain(|(id, _)| id != request_id);
    }

    /// Hands a telemetry record to the instance's subscribers (none, usually).
    pub(crate) fn emit(&self, record: Record) {
        self.api.emit(record);
    }

    /// The log lines written since the last call.
    pub(crate) fn take_logs(&self) -> String {
        std::mem::take(&mut *lock(&self.logs))
    }

    /// The log lines of the invocation `request_id`, taken from those written so far: the
    /// lines that name it, and those that name no other invocation under way (a line of no
    /// invocation goes with the first to end after it). For an instance that runs several at
    /// once; the runtime names the request id on each line in both of Lambda's log formats.
    pub(crate) fn take_logs_of(&self, request_id: &str) -> String {
        let others: Vec<String> = lock(&self.in_flight)
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| id != request_id)
            .collect();
        let mut logs = lock(&self.logs);
        let (mut mine, mut kept) = (String::new(), String::new());
        for line in logs.split_inclusive('\n') {
            let theirs = !line.contains(request_id)
                && others.iter().any(|other| line.contains(other.as_str()));
            if theirs {
                kept.push_str(line);
            } else {
                mine.push_str(line);
            }
        }
        *logs = kept;
        mine
    }

    /// Adds a line of the emulator's own (START, END, REPORT) to the instance's log.
    pub(crate) fn log(&self, line: &str) {
        println!("{line}");
        let mut logs = lock(&self.logs);
        logs.push_str(line);
        logs.push('\n');
    }

    /// The instance's peak resident memory so far, in MB (the last reading once it has ended).
    pub(crate) fn max_memory_mb(&self) -> u64 {
        let runs = self.exits.borrow().first.is_none();
        let Some(pid) = self.pid.filter(|_| runs) else {
            return self.peak_mb.load(Ordering::Relaxed);
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        self.peak_mb
            .fetch_max(kib.div_ceil(1024), Ordering::Relaxed);
        self.peak_mb.load(Ordering::Relaxed)
    }

    /// Retires the instance (spindown) with Lambda's shutdown phase, then ends its process
    /// group; dropping the instance ends the group at once.
    pub(crate) async fn stop(&self) {
        self.shut_down(ShutdownReason::Spindown).await;
        // The processes are gone, their last lines (a shutdown hook's, say) perhaps still in
        // the pipes: the readers end at the pipes' end, which comes at once now.
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        let drained = async { while tasks.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(LOG_DRAIN, drained).await;
        tasks.abort_all();
    }

    /// Lambda's shutdown phase for `reason`, then SIGKILL to the group, and every process
    /// reaped.
    pub(crate) async fn shut_down(&self, reason: ShutdownReason) {
        self.shut_down_within(reason).await;
    }

    /// With extensions registered: `SHUTDOWN` to them and SIGTERM to the runtime, and until
    /// the phase's budget has passed for the processes to exit. Without: nothing (SIGKILL, as
    /// Lambda). Either way the group is killed and the processes reaped.
    async fn shut_down_within(&self, reason: ShutdownReason) {
        let registered = self.api.extensions();
        if !registered.is_empty() {
            let budget = if registered
                .iter()
                .any(|extension| extension.kind() == ExtensionKind::External)
            {
                SHUTDOWN_EXTERNAL
            } else {
                SHUTDOWN_INTERNAL
            };
            let _ = self.orders.send(Order::Terminate);
            let deadline = tokio::time::Instant::now() + budget;
            let _ = tokio::time::timeout_at(deadline, async {
                tokio::join!(self.api.shutdown(reason, budget), self.reaped())
            })
            .await;
        }
        self.kill();
        self.reaped().await;
    }

    /// Resolves when every process of the instance has been reaped.
    async fn reaped(&self) {
        let mut exits = self.exits.clone();
        // An error: the watcher is gone, and the processes with it.
        let _ = exits.wait_for(|exits| exits.running == 0).await;
    }

    /// Kills the instance's process group with SIGKILL: the bootstrap and whatever it started
    /// that stayed in its group (a runtime started without `exec`, their children); the
    /// watcher kills each of its processes too, in case one runs under another group.
    fn kill(&self) {
        if let Some(group) = lock(&self.group).take() {
            kill_group(group);
        }
        let _ = self.orders.send(Order::Kill);
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // The watcher is aborted with `tasks`, and `kill_on_drop` ends the processes it held;
        // their group goes with them here.
        self.kill();
    }
}

/// Owns an instance's processes: reaps each as it exits, says so in `exits` (the first exit
/// ends the instance), and carries out `orders`. Ends when every process has been reaped.
async fn watch_processes(
    runtime: Child,
    extensions: Vec<(String, Child)>,
    exits: watch::Sender<Exits>,
    mut orders: mpsc::UnboundedReceiver<Order>,
) {
    // The runtime first; `None` for a process reaped.
    let mut processes: Vec<(Option<String>, Option<Child>)> =
        std::iter::once((None, Some(runtime)))
            .chain(
                extensions
                    .into_iter()
                    .map(|(name, child)| (Some(name), Some(child))),
            )
            .collect();
    exits.send_modify(|exits| exits.running = processes.len());
    let mut ordering = true;
    loop {
        let next_exit = std::future::poll_fn(|cx| {
            for (at, (_, child)) in processes.iter_mut().enumerate() {
                let Some(child) = child else { continue };
                // `Child::wait` is cancel safe: polled afresh each time, it loses nothing.
                let wait = std::pin::pin!(child.wait());
                if let std::task::Poll::Ready(status) = wait.poll(cx) {
                    return std::task::Poll::Ready((at, status));
                }
            }
            std::task::Poll::Pending
        });
        tokio::select! {
            (at, status) = next_exit => {
                let (name, child) = &mut processes[at];
                *child = None;
                let status = status.map_or_else(|error| error.to_string(), describe);
                let exited = match name {
                    None => Exited::Runtime { status },
                    Some(name) => Exited::Extension { name: name.clone(), status },
                };
                exits.send_modify(|exits| {
                    exits.first.get_or_insert(exited);
                    exits.running -= 1;
                });
                if exits.borrow().running == 0 {
                    return;
                }
            }
            order = orders.recv(), if ordering => match order {
                Some(Order::Terminate) => {
                    let runtime = processes[0].1.as_ref().and_then(Child::id);
                    if let Some(pid) = runtime.and_then(|pid| i32::try_from(pid).ok()) {
                        signal(pid, libc::SIGTERM);
                    }
                }
                Some(Order::Kill) | None => {
                    for (_, child) in &mut processes {
                        if let Some(child) = child {
                            let _ = child.start_kill();
                        }
                    }
                    // The instance is gone: nobody orders any more.
                    ordering = order.is_some();
                }
            },
        }
    }
}

/// Sends SIGKILL to the process group `group`.
///
/// The group is the bootstrap's pid, which the kernel keeps from reuse while the bootstrap is
/// unreaped or any process of its group lives; once both are gone the call finds no group.
fn kill_group(group: i32) {
    #[allow(unsafe_code)]
    // SAFETY: `killpg` takes two integers and touches no memory of this process; a group
    // that is gone makes it fail with ESRCH, which is ignored.
    unsafe {
        libc::killpg(group, libc::SIGKILL);
    }
}

/// Sends `signal` to the process `pid`, a child not yet reaped (so the pid is still its).
fn signal(pid: i32, signal: i32) {
    #[allow(unsafe_code)]
    // SAFETY: `kill` takes two integers and touches no memory of this process; a process that
    // is gone makes it fail with ESRCH, which is ignored.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Lambda's `Extension.Crash` for an extension of `extensions` that has exited already, if
/// one has: a process of the instance could not start because the first extension, whose
/// process group the instance's processes join, was gone with its group.
fn crash_before_start(
    extensions: &mut [(String, Child)],
    logs: &Mutex<String>,
) -> Option<StartFailure> {
    let (name, status) = extensions.iter_mut().find_map(|(name, extension)| {
        let status = extension.try_wait().ok().flatten()?;
        Some((name.clone(), describe(status)))
    })?;
    Some(StartFailure {
        error: error_body(
            "Extension.Crash",
            &format!("extension `{name}` exited during init: {status}"),
        ),
        logs: lock(logs).clone(),
    })
}

/// What init waited for in vain: the external extensions of `launched` that never registered
/// (an extension must register before Lambda starts the runtime's init), those that registered
/// and never asked for their first event, or else the runtime.
fn init_timeout_message(
    launched: &[String],
    registered: &[runtime_api::Registered],
    timeout: Duration,
) -> String {
    let quoted = |names: Vec<&str>| -> Vec<String> {
        names.into_iter().map(|name| format!("`{name}`")).collect()
    };
    let unregistered = quoted(
        launched
            .iter()
            .map(String::as_str)
            .filter(|name| !registered.iter().any(|known| known.name() == *name))
            .collect(),
    );
    let idle = quoted(
        registered
            .iter()
            .filter(|known| !known.asked())
            .map(runtime_api::Registered::name)
            .collect(),
    );
    let mut failings = Vec::new();
    match unregistered.as_slice() {
        [] => {}
        [one] => failings.push(format!("extension {one} did not register")),
        many => failings.push(format!("extensions {} did not register", many.join(", "))),
    }
    let next = runtime_api::next_event_path();
    match idle.as_slice() {
        [] => {}
        [one] => failings.push(format!(
            "extension {one} registered but did not ask for its first event (GET {next})"
        )),
        many => failings.push(format!(
            "extensions {} registered but did not ask for their first event (GET {next})",
            many.join(", ")
        )),
    }
    let seconds = timeout.as_secs();
    if failings.is_empty() {
        format!("the function did not ask for an invocation within {seconds} s of starting")
    } else {
        format!("{} within {seconds} s of starting", failings.join("; "))
    }
}

/// An executable's file name: an extension's name.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// Prints and keeps `child`'s output, and hands each line to telemetry as `stream`'s.
fn read_logs(
    child: &mut Child,
    tasks: &mut JoinSet<()>,
    logs: &Arc<Mutex<String>>,
    api: &Arc<RuntimeApiServer>,
    stream: telemetry::Stream,
) {
    if let Some(stdout) = child.stdout.take() {
        tasks.spawn(forward(
            BufReader::new(stdout),
            Arc::clone(logs),
            Arc::clone(api),
            stream,
        ));
    }
    if let Some(stderr) = child.stderr.take() {
        tasks.spawn(forward(
            BufReader::new(stderr),
            Arc::clone(logs),
            Arc::clone(api),
            stream,
        ));
    }
}

fn command(
    binary: &Path,
    launch: &Launch,
    version: &str,
    api: SocketAddr,
    group: Option<i32>,
) -> Command {
    let mut command = match launch.runner.split_first() {
        Some((runner, arguments)) => {
            let mut command = Command::new(runner);
            command.args(arguments).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    let task_root = binary.parent().unwrap_or(binary);
    command
        .env_clear()
        .envs(
            launch
                .environment
                .iter()
                .map(|(name, value)| (name, in_task_root(value, task_root))),
        )
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &launch.function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", version)
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            launch.memory_mb.to_string(),
        )
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", launch.function),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name(version))
        .env(
            "AWS_LAMBDA_INITIALIZATION_TYPE",
            launch.initialization_type(),
        )
        .env("AWS_REGION", &launch.region)
        .env("AWS_DEFAULT_REGION", &launch.region)
        .env("_HANDLER", &launch.function)
        .env("LAMBDA_TASK_ROOT", task_root)
        .env("LAMBDA_RUNTIME_DIR", task_root)
        .env("TZ", ":UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of the instance's own (its first process's), so that ending the instance
        // ends everything it started.
        .process_group(group.unwrap_or(0))
        .kill_on_drop(true);
    if let Some(concurrency) = launch.concurrency {
        command.env("AWS_LAMBDA_MAX_CONCURRENCY", concurrency.to_string());
    }
    command
}

/// A variable's `value` as the instance must see it: a path under `/var/task`, where Lambda
/// puts the function's zip (`SSL_CERT_FILE` of `trust = "amazon-roots"`, say), is the same path
/// under the instance's task root, where serve keeps what the zip holds.
fn in_task_root(value: &str, task_root: &Path) -> std::ffi::OsString {
    match value
        .strip_prefix(crate::package::trust::TASK_ROOT)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(rest) if !rest.is_empty() => task_root.join(rest).into_os_string(),
        _ => value.into(),
    }
}

/// `YYYY/MM/DD/[VERSION]` and 32 hex digits: the log stream of one execution environment, as
/// Lambda names it (dated the day the instance starts, in UTC).
fn log_stream_name(version: &str) -> String {
    let (year, month, day) = crate::time::date(std::time::SystemTime::now());
    let instance = super::ids::request_id().replace('-', "");
    format!("{year:04}/{month:02}/{day:02}/[{version}]{instance}")
}

/// Prints the output of a process of the instance as it comes, keeps it for the invocation's
/// log tail, and hands each line to telemetry: the function's (runtime's) as `function`
/// records, an extension's as `extension` ones; a JSON line as its object, as Lambda does for
/// the JSON log format.
async fn forward<R: tokio::io::AsyncRead + Unpin>(
    reader: BufReader<R>,
    logs: Arc<Mutex<String>>,
    api: Arc<RuntimeApiServer>,
    stream: telemetry::Stream,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("{line}");
        {
            let mut logs = lock(&logs);
            logs.push_str(&line);
            logs.push('\n');
        }
        let record = match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(object @ serde_json::Value::Object(_)) => object,
            _ => serde_json::Value::String(line),
        };
        api.emit(match stream {
            telemetry::Stream::Extension => Record::ExtensionLog(record),
            _ => Record::Function(record),
        });
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => status.to_string(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Invocation {
    /// The invocation as the Runtime API hands it out.
    fn for_runtime_api(self) -> Result<runtime_api::Invocation, String> {
        let value = |what: &str, text: String| {
            HeaderValue::try_from(text)
                .map_err(|error| format!("the invocation's {what} cannot be a header: {error}"))
        };
        let mut invocation = runtime_api::Invocation::new(
            &self.request_id,
            self.body,
            self.timeout,
            &self.function_arn,
        )
        .map_err(|error| format!("the invocation cannot be handed out: {error}"))?
        .trace_id(value("trace header", self.trace_id)?);
        if let Some(identity) = self.identity {
            invocation = invocation.identity(value("Cognito identity", identity)?);
        }
        if let Some(client_context) = self.client_context {
            invocation = invocation.client_context(value("client context", client_context)?);
        }
        if let Some(tenant) = self.tenant {
            invocation = invocation.tenant_id(value("tenant id", tenant)?);
        }
        Ok(invocation)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn paths_under_var_task_are_found_in_the_task_root() {
        let root = Path::new("/srv/code");
        assert_eq!(
            in_task_root("/var/task/amazon-root-cas.pem", root),
            std::ffi::OsString::from("/srv/code/amazon-root-cas.pem")
        );
        assert_eq!(in_task_root("/var/taskforce", root), "/var/taskforce");
        assert_eq!(in_task_root("/var/task", root), "/var/task");
        assert_eq!(in_task_root("hello", root), "hello");
    }

    use crate::emulator::test_support::{SLEEPING_RUNTIME, running};

    /// An instance of a `#!/bin/sh` bootstrap that runs [`SLEEPING_RUNTIME`] without `exec`,
    /// its scratch directory, and where the runtime's pid is written.
    async fn shell_started_instance(name: &str) -> (Instance, PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("lambdakit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("runtime.py"), SLEEPING_RUNTIME).unwrap();
        let bootstrap = dir.join("bootstrap");
        // No `exec`: the shell waits for the runtime, which is its child.
        std::fs::write(
            &bootstrap,
            "#!/bin/sh\n/usr/bin/python3 \"$(dirname \"$0\")/runtime.py\"\necho runtime ended\n",
        )
        .unwrap();
        std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
        let pid_file = dir.join("pid");
        let launch = Launch {
            function: name.into(),
            region: "us-east-1".into(),
            memory_mb: 128,
            environment: BTreeMap::from([("PID_FILE".into(), pid_file.display().to_string())]),
            runner: Vec::new(),
            extensions: Vec::new(),
            init_timeout: INIT_TIMEOUT,
            concurrency: None,
        };
        let instance = Instance::start(&bootstrap, &launch, "$LATEST")
            .await
            .unwrap_or_else(|failure| panic!("{failure:?}"));
        (instance, dir, pid_file)
    }

    fn invocation(request_id: &str) -> Invocation {
        Invocation {
            request_id: request_id.into(),
            body: Bytes::from_static(b"{}"),
            timeout: Duration::from_secs(1),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            trace_id: "Root=1-00000000-000000000000000000000000".into(),
            client_context: None,
            identity: None,
            tenant: None,
        }
    }

    async fn pid_in(pid_file: &Path) -> u32 {
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(pid_file)
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the runtime never wrote its pid to {}", pid_file.display());
    }

    async fn gone(pid: u32) -> bool {
        for _ in 0..80 {
            if !running(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_timeout_ends_what_a_shell_bootstrap_started_without_exec() {
        let (instance, dir, pid_file) = shell_started_instance("group-timeout").await;
        let timed_out = instance
            .invoke(invocation("id-timeout"), Duration::from_secs(1))
            .await;
        let pid = pid_in(&pid_file).await;
        let Err(Outcome::Error(error)) = timed_out else {
            panic!("the invocation did not time out: {timed_out:?}");
        };
        assert!(String::from_utf8_lossy(&error).contains("Sandbox.Timedout"));
        let ended = gone(pid).await;
        instance.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            ended,
            "the runtime (pid {pid}) still runs after the timeout"
        );
    }

    #[tokio::test]
    async fn retiring_or_dropping_an_instance_ends_its_whole_group() {
        let (instance, dir, pid_file) = shell_started_instance("group-retire").await;
        let pending = instance.api.submit(
            invocation("id-retire")
                .for_runtime_api()
                .expect("the invocation's headers are plain ASCII"),
        );
        let pid = pid_in(&pid_file).await;
        instance.stop().await;
        drop(pending);
        assert!(gone(pid).await, "the runtime (pid {pid}) outlived its stop");

        let (instance, _, pid_file) = shell_started_instance("group-drop").await;
        let _pending = instance.api.submit(
            invocation("id-drop")
                .for_runtime_api()
                .expect("the invocation's headers are plain ASCII"),
        );
        let pid = pid_in(&pid_file).await;
        drop(instance);
        let ended = gone(pid).await;
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(pid_file.parent().unwrap());
        assert!(ended, "the runtime (pid {pid}) outlived its instance");
    }

    /// The instance's first extension leads its process group; once that extension has
    /// exited and been reaped the group is gone, and nothing can join it: the start fails with
    /// `Extension.Crash` naming the extension, not with the spawn's `EPERM`.
    #[tokio::test]
    async fn a_process_that_cannot_join_a_gone_group_blames_the_extension_that_exited() {
        let mut leader = Command::new("/bin/sh")
            .args(["-c", "exit 3"])
            .process_group(0)
            .spawn()
            .unwrap();
        let group = leader.id().and_then(|pid| i32::try_from(pid).ok());
        let _ = leader.wait().await;
        let joined = Command::new("/bin/true")
            .process_group(group.unwrap())
            .spawn();
        assert!(joined.is_err(), "joined a group that is gone");
        let mut extensions = vec![("quitter".to_owned(), leader)];
        let logs = Mutex::new("quitter: leaving\n".to_owned());
        let failure = crash_before_start(&mut extensions, &logs).unwrap();
        assert_eq!(
            failure.error,
            error_body(
                "Extension.Crash",
                "extension `quitter` exited during init: exit status 3"
            )
        );
        assert_eq!(failure.logs, "quitter: leaving\n");
    }

    #[test]
    fn log_streams_are_named_as_lambda_names_them() {
        let name = log_stream_name("$LATEST");
        let (date, instance) = name.split_once("/[$LATEST]").unwrap();
        let date: Vec<&str> = date.split('/').collect();
        assert_eq!(
            date.iter().map(|part| part.len()).collect::<Vec<_>>(),
            [4, 2, 2],
            "{name}"
        );
        assert!(
            date.iter()
                .all(|part| part.bytes().all(|b| b.is_ascii_digit()))
        );
        assert_eq!(instance.len(), 32, "{name}");
        assert!(instance.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        assert_ne!(log_stream_name("7"), log_stream_name("7"));
        assert!(log_stream_name("7").contains("/[7]"));
    }
}
