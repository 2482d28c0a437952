//! One execution environment: the function's bootstrap running natively, with a Runtime API of
//! its own on 127.0.0.1. The Runtime API is lambda-kit's server (`lambda_kit::__server`, the
//! one `lambda_kit::testing` runs too); this module keeps what is about the process: starting it,
//! its logs, its memory, timeouts and crashes.
//!
//! Each instance runs in a process group of its own, and a timeout, a crash or a retire ends
//! the whole group: a `#!/bin/sh` bootstrap that starts the real runtime without `exec` leaves
//! nothing running after it (Lambda freezes and discards the whole execution environment).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use lambda_kit::__server::{self as runtime_api, Frame, Report, RuntimeApiServer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub(crate) use lambda_kit::__server::error_document as error_body;

/// How long Lambda lets a function initialise (AWS "Lambda execution environment lifecycle").
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

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

/// A running instance, idle or busy.
#[derive(Debug)]
pub(crate) struct Instance {
    child: Child,
    /// Its process group (the bootstrap's pid); `None` once the group was killed.
    group: Option<i32>,
    /// Its Runtime API; dropped (stopped) with the instance.
    api: RuntimeApiServer,
    /// The log readers: aborted when the instance is dropped.
    tasks: JoinSet<()>,
    logs: Arc<Mutex<String>>,
    /// Spawn to first `/next`, reported once, with the first invocation.
    pub(crate) init_duration: Option<Duration>,
    /// The peak resident memory in MB, read last before the process ended or now.
    peak_mb: u64,
    /// The emulator's generation it was started in (see `Emulator::restart`).
    pub(crate) generation: u64,
}

impl Instance {
    /// Starts `binary` and waits until it asks for its first invocation.
    pub(crate) async fn start(
        binary: &Path,
        launch: &Launch,
        version: &str,
    ) -> Result<Self, StartFailure> {
        let failure = |message: String| StartFailure {
            error: error_body("Runtime.Unknown", &message),
            logs: String::new(),
        };
        let api = RuntimeApiServer::start()
            .await
            .map_err(|error| failure(format!("cannot open a Runtime API port: {error}")))?;
        let address = api.address();
        let mut tasks = JoinSet::new();

        let started = Instant::now();
        let mut child = command(binary, launch, version, address)
            .spawn()
            .map_err(|error| failure(format!("cannot start `{}`: {error}", binary.display())))?;
        let group = child.id().and_then(|pid| i32::try_from(pid).ok());
        let logs = Arc::new(Mutex::new(String::new()));
        if let Some(stdout) = child.stdout.take() {
            tasks.spawn(forward(BufReader::new(stdout), Arc::clone(&logs)));
        }
        if let Some(stderr) = child.stderr.take() {
            tasks.spawn(forward(BufReader::new(stderr), Arc::clone(&logs)));
        }
        let mut instance = Self {
            child,
            group,
            api,
            tasks,
            logs,
            init_duration: None,
            peak_mb: 0,
            generation: 0,
        };
        let status = tokio::select! {
            started = instance.api.started() => match started {
                Ok(()) => None,
                Err(init_error) => {
                    instance.kill();
                    return Err(StartFailure {
                        error: init_error.body().clone(),
                        logs: instance.take_logs(),
                    });
                }
            },
            status = instance.child.wait() => Some(status),
            () = tokio::time::sleep(INIT_TIMEOUT) => {
                instance.kill();
                return Err(StartFailure {
                    error: error_body("Runtime.InitTimeout", &format!("the function did not ask for an invocation within {} s of starting", INIT_TIMEOUT.as_secs())),
                    logs: instance.take_logs(),
                });
            }
        };
        if let Some(status) = status {
            let status = status.map_or_else(|error| error.to_string(), describe);
            return Err(StartFailure {
                error: error_body(
                    "Runtime.ExitError",
                    &format!("Runtime exited with error: {status}"),
                ),
                logs: instance.take_logs(),
            });
        }
        instance.init_duration = Some(started.elapsed());
        Ok(instance)
    }

    /// Hands `invocation` to the function and waits for its answer (or, for a streamed
    /// response, its start), the timeout or its exit. `Err` means the instance is gone (timed
    /// out or exited) and must not be used again.
    pub(crate) async fn invoke(
        &mut self,
        invocation: Invocation,
        timeout: Duration,
    ) -> Result<Reply, Outcome> {
        let request_id = invocation.request_id.clone();
        let pending = match invocation.for_runtime_api() {
            Ok(invocation) => self.api.submit(invocation),
            Err(message) => return Err(Outcome::Error(error_body("Runtime.Unknown", &message))),
        };
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

    /// Resolves when the process exits or `timeout` passes (then it is killed), with the
    /// error Lambda reports for it.
    pub(crate) async fn failure(&mut self, request_id: &str, timeout: Duration) -> Outcome {
        tokio::select! {
            status = self.child.wait() => {
                let status = status.map_or_else(|error| error.to_string(), describe);
                Outcome::Error(error_body(
                    "Runtime.ExitError",
                    &format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
                ))
            }
            () = tokio::time::sleep(timeout) => {
                self.max_memory_mb();
                self.kill();
                let _ = self.child.wait().await;
                Outcome::Error(error_body(
                    "Sandbox.Timedout",
                    &format!("RequestId: {request_id} Error: Task timed out after {:.2} seconds", timeout.as_secs_f64()),
                ))
            }
        }
    }

    /// The log lines written since the last call.
    pub(crate) fn take_logs(&self) -> String {
        std::mem::take(&mut *lock(&self.logs))
    }

    /// Adds a line of the emulator's own (START, END, REPORT) to the instance's log.
    pub(crate) fn log(&self, line: &str) {
        println!("{line}");
        let mut logs = lock(&self.logs);
        logs.push_str(line);
        logs.push('\n');
    }

    /// The instance's peak resident memory so far, in MB (the last reading once it has ended).
    pub(crate) fn max_memory_mb(&mut self) -> u64 {
        let Some(pid) = self.child.id() else {
            return self.peak_mb;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        self.peak_mb = self.peak_mb.max(kib.div_ceil(1024));
        self.peak_mb
    }

    /// Stops the process and everything it started; dropping the instance does the same.
    pub(crate) async fn stop(mut self) {
        self.kill();
        let _ = self.child.wait().await;
        self.tasks.abort_all();
    }

    /// Kills the instance's process group with SIGKILL: the bootstrap and whatever it started
    /// that stayed in its group (a runtime started without `exec`, their children). The
    /// bootstrap is reaped by whoever waits for it next.
    fn kill(&mut self) {
        if let Some(group) = self.group.take() {
            kill_group(group);
        }
        // Started under another group after all (no pid to take): the bootstrap alone.
        let _ = self.child.start_kill();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // `kill_on_drop` ends the bootstrap only; its group goes with it here.
        self.kill();
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

fn command(binary: &Path, launch: &Launch, version: &str, api: SocketAddr) -> Command {
    let mut command = match launch.runner.split_first() {
        Some((runner, arguments)) => {
            let mut command = Command::new(runner);
            command.args(arguments).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command
        .env_clear()
        .envs(&launch.environment)
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
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_REGION", &launch.region)
        .env("AWS_DEFAULT_REGION", &launch.region)
        .env("_HANDLER", &launch.function)
        .env("LAMBDA_TASK_ROOT", binary.parent().unwrap_or(binary))
        .env("LAMBDA_RUNTIME_DIR", binary.parent().unwrap_or(binary))
        .env("TZ", ":UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so that ending the instance ends everything it started.
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// `YYYY/MM/DD/[VERSION]` and 32 hex digits: the log stream of one execution environment, as
/// Lambda names it (dated the day the instance starts, in UTC).
fn log_stream_name(version: &str) -> String {
    let (year, month, day) = crate::time::date(std::time::SystemTime::now());
    let instance = super::ids::request_id().replace('-', "");
    format!("{year:04}/{month:02}/{day:02}/[{version}]{instance}")
}

/// Prints the function's output as it comes, and keeps it for the invocation's log tail.
async fn forward<R: tokio::io::AsyncRead + Unpin>(reader: BufReader<R>, logs: Arc<Mutex<String>>) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("{line}");
        let mut logs = lock(&logs);
        logs.push_str(&line);
        logs.push('\n');
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
        Ok(invocation)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

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
        let (mut instance, dir, pid_file) = shell_started_instance("group-timeout").await;
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
