//! Measures Lambda runtimes side by side: each subject is a real bootstrap binary, spawned with
//! the Lambda environment against a fake Runtime API on `127.0.0.1` that feeds it a fixed JSON
//! event, checks every answer, and times it.
//!
//! Wall-clock figures (throughput, latency, CPU time) move with the machine's load; the
//! instruction counts from `valgrind --tool=callgrind` do not, and are the figures to compare.

// A tool, not a Lambda function: it reads cargo's variables (`CARGO`, `CARGO_TARGET_DIR`).
#![allow(clippy::disallowed_methods)]

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// A runtime under test: a package in this workspace whose binary is a Lambda bootstrap.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    /// Its name in reports.
    pub label: &'static str,
    /// Its cargo package, and the name of its binary.
    pub package: &'static str,
}

/// The subjects, ours first.
pub const SUBJECTS: [Subject; 3] = [
    Subject {
        label: "lambda-kit",
        package: "bench-lambda-kit-echo",
    },
    Subject {
        label: "lambda_runtime 1.5",
        package: "bench-lambda-runtime-echo",
    },
    Subject {
        label: "raw client (ceiling)",
        package: "bench-raw-echo",
    },
];

/// The event every invocation carries, and every answer must repeat.
pub const EVENT: &str =
    r#"{"id":"bench-0001","source":"benchmark","items":[1,2,3],"message":"hello, lambda"}"#;

/// Harness errors: what failed, in words.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The cargo that runs this program (`CARGO`), else `cargo`.
pub fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The target directory cargo builds in: `CARGO_TARGET_DIR`, else the workspace's.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// Builds `subject` with cargo (`--release` or the dev profile) and returns its binary's path.
///
/// Each subject builds in a cargo run of its own, so no subject's features leak into another's.
///
/// # Errors
///
/// Fails when cargo fails; its output has been streamed already.
pub fn build(subject: &Subject, release: bool) -> Result<PathBuf, Error> {
    let mut command = Command::new(cargo());
    command.current_dir(workspace_root()).args([
        "build",
        "--locked",
        "--quiet",
        "-p",
        subject.package,
    ]);
    if release {
        command.arg("--release");
    }
    let status = command.status()?;
    if !status.success() {
        return Err(format!("`cargo build -p {}` failed with {status}", subject.package).into());
    }
    let binary = target_dir()
        .join(if release { "release" } else { "debug" })
        .join(subject.package);
    if !binary.is_file() {
        return Err(format!(
            "cargo built `{}` but `{}` is not there",
            subject.package,
            binary.display()
        )
        .into());
    }
    Ok(binary)
}

/// What one run of a subject measured.
#[derive(Debug, Clone)]
pub struct RunStats {
    /// Invocations answered.
    pub invocations: usize,
    /// Spawn to the first `/next`.
    pub init: Duration,
    /// Invocations per second, first event handed out to last answer received.
    pub throughput: f64,
    /// Event handed out to answer received, median.
    pub latency_p50: Duration,
    /// Event handed out to answer received, 99th percentile.
    pub latency_p99: Duration,
    /// User plus system CPU time of the whole process, per invocation.
    pub cpu_per_invocation: Duration,
    /// Voluntary context switches of the whole process, per invocation.
    pub context_switches_per_invocation: f64,
    /// Peak resident set size, in KiB (`VmHWM`).
    pub peak_rss_kib: u64,
}

/// Runs `binary` for `invocations` invocations and measures it.
///
/// # Errors
///
/// Fails when the subject does not start, answers wrongly, or does not finish in time.
pub fn run(binary: &Path, invocations: usize) -> Result<RunStats, Error> {
    let server = FakeApi::start(invocations)?;
    let before = children_usage();
    let started = Instant::now();
    let mut child = spawn(Command::new(binary), server.address)?;
    let finished = server.wait_until_done(Duration::from_secs(30 + invocations as u64 / 100));
    let peak_rss_kib = peak_rss_kib(child.id());
    stop(&mut child)?;
    let after = children_usage();
    finished?;

    let record = server.record();
    let first_next = record
        .first_next
        .ok_or("the subject never asked for an invocation")?;
    let mut latencies: Vec<Duration> = record
        .sent
        .iter()
        .zip(&record.answered)
        .map(|(sent, answered)| match (sent, answered) {
            (Some(sent), Some(answered)) => answered.saturating_duration_since(*sent),
            _ => Duration::ZERO,
        })
        .collect();
    latencies.sort_unstable();
    let percentile = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let first_sent = record
        .sent
        .iter()
        .flatten()
        .min()
        .copied()
        .unwrap_or(first_next);
    let last_answer = record
        .answered
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(first_next);
    let span = last_answer
        .saturating_duration_since(first_sent)
        .as_secs_f64();
    let per = invocations.max(1) as u32;
    Ok(RunStats {
        invocations,
        init: first_next.saturating_duration_since(started),
        throughput: if span > 0.0 {
            invocations as f64 / span
        } else {
            0.0
        },
        latency_p50: percentile(50),
        latency_p99: percentile(99),
        cpu_per_invocation: (after.cpu.saturating_sub(before.cpu)) / per,
        context_switches_per_invocation: after
            .voluntary_switches
            .saturating_sub(before.voluntary_switches)
            as f64
            / f64::from(per),
        peak_rss_kib,
    })
}

/// Counts the instructions `binary` executes under callgrind when it serves `invocations`
/// invocations, from start to SIGTERM.
///
/// # Errors
///
/// Fails when valgrind is missing or the run fails.
pub fn instructions(binary: &Path, invocations: usize) -> Result<u64, Error> {
    let out_file = std::env::temp_dir().join(format!(
        "lambda-kit-bench-{}.{invocations}.callgrind",
        std::process::id()
    ));
    let total = profile(binary, invocations, &out_file)?;
    let _ = std::fs::remove_file(&out_file);
    Ok(total)
}

/// Runs `binary` under callgrind for `invocations` invocations, leaves the profile in
/// `out_file` (for `callgrind_annotate`) and returns the instruction total.
///
/// # Errors
///
/// Fails when valgrind is missing or the run fails.
pub fn profile(binary: &Path, invocations: usize, out_file: &Path) -> Result<u64, Error> {
    let server = FakeApi::start(invocations)?;
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(binary);
    let mut child = spawn(command, server.address).map_err(|error| {
        format!("cannot start valgrind ({error}); install it with `apt-get install valgrind`")
    })?;
    let finished = server.wait_until_done(Duration::from_secs(120 + invocations as u64 / 10));
    stop(&mut child)?;
    finished?;
    callgrind_total(out_file)
}

/// Runs `command` (a subject, or a tool running one) with the Lambda environment and `vars`
/// against a fresh fake Runtime API until it has answered `invocations` invocations (with none:
/// until it asks for the first), then stops it; returns the time from spawn to its first
/// `/next`.
///
/// # Errors
///
/// Fails when it cannot be started, answers wrongly, or does not finish within `timeout`.
pub fn drive(
    command: Command,
    vars: &[(&str, &str)],
    invocations: usize,
    timeout: Duration,
) -> Result<Duration, Error> {
    let server = FakeApi::start(invocations)?;
    let started = Instant::now();
    let mut child = spawn_with(command, server.address, vars)?;
    let finished = server.wait_until_done(timeout);
    stop(&mut child)?;
    finished?;
    let first_next = server
        .record()
        .first_next
        .ok_or("the subject never asked for an invocation")?;
    Ok(first_next.saturating_duration_since(started))
}

/// The instructions `binary` executes under callgrind with `vars` set, serving `invocations`
/// invocations, from start to SIGTERM.
///
/// # Errors
///
/// Fails when valgrind is missing or the run fails.
pub fn callgrind_with(
    binary: &Path,
    vars: &[(&str, &str)],
    invocations: usize,
) -> Result<u64, Error> {
    let out_file = std::env::temp_dir().join(format!(
        "lambda-kit-bench-{}.{invocations}.vars.callgrind",
        std::process::id()
    ));
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(binary);
    drive(
        command,
        vars,
        invocations,
        Duration::from_secs(120 + invocations as u64 / 10),
    )
    .map_err(|error| {
        format!("under callgrind: {error} (is valgrind installed? `apt-get install valgrind`)")
    })?;
    let total = callgrind_total(&out_file);
    let _ = std::fs::remove_file(&out_file);
    total
}

/// The instruction total of the callgrind profile in `out_file`.
///
/// # Errors
///
/// Fails when the file cannot be read or has no total.
pub fn callgrind_total(out_file: &Path) -> Result<u64, Error> {
    let profile = std::fs::read_to_string(out_file)?;
    let total = profile
        .lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .ok_or("the callgrind profile has no `summary:` line")?;
    Ok(total.trim().parse()?)
}

/// Instructions per invocation and for init, from a run with none and a run with `invocations`.
///
/// # Errors
///
/// As [`instructions`].
pub fn instruction_profile(binary: &Path, invocations: usize) -> Result<(u64, u64), Error> {
    let init = instructions(binary, 0)?;
    let total = instructions(binary, invocations)?;
    Ok((total.saturating_sub(init) / invocations.max(1) as u64, init))
}

/// Starts `command` (a subject, or valgrind running one) with the Lambda environment of a
/// function whose Runtime API is at `api`, its output discarded.
///
/// # Errors
///
/// Fails when it cannot be started.
pub fn spawn(command: Command, api: SocketAddr) -> Result<Child, Error> {
    spawn_with(command, api, &[])
}

/// [`spawn`] with more environment variables.
///
/// # Errors
///
/// Fails when it cannot be started.
pub fn spawn_with(
    mut command: Command,
    api: SocketAddr,
    vars: &[(&str, &str)],
) -> Result<Child, Error> {
    command
        .env_clear()
        .envs(vars.iter().copied())
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/23/[$LATEST]bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Ok(command.spawn()?)
}

/// Sends SIGTERM and waits; SIGKILL after ten seconds.
///
/// # Errors
///
/// Fails when the subject had to be killed, or cannot be waited for.
pub fn stop(child: &mut Child) -> Result<(), Error> {
    let pid = i32::try_from(child.id())?;
    // SAFETY: `kill` only sends a signal to a process id; `pid` is our own child, not yet reaped.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            return Err("the subject did not exit within 10 s of SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:")
                    .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

struct Usage {
    cpu: Duration,
    voluntary_switches: u64,
}

/// The resources used by the reaped children of this process so far.
fn children_usage() -> Usage {
    // SAFETY: `getrusage` writes one `rusage` into the zeroed struct we own; it reads nothing else.
    #[allow(unsafe_code)]
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Usage {
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        voluntary_switches: usage.ru_nvcsw as u64,
    }
}

/// The fake Runtime API: hands out `total` copies of [`EVENT`], then holds further `/next`
/// requests open until the subject is stopped.
struct FakeApi {
    address: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    total: usize,
    issued: AtomicUsize,
    record: Mutex<Record>,
    done: Condvar,
}

/// What the fake API saw, as instants on the harness's clock.
#[derive(Clone, Default)]
struct Record {
    first_next: Option<Instant>,
    sent: Vec<Option<Instant>>,
    answered: Vec<Option<Instant>>,
    answers: usize,
    failure: Option<String>,
}

impl FakeApi {
    fn start(total: usize) -> Result<Self, Error> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            total,
            issued: AtomicUsize::new(0),
            record: Mutex::new(Record {
                sent: vec![None; total],
                answered: vec![None; total],
                ..Record::default()
            }),
            done: Condvar::new(),
        });
        let server = Arc::clone(&shared);
        // The server thread ends with the process; it owns nothing that needs closing.
        std::thread::Builder::new()
            .name("fake-runtime-api".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => runtime.block_on(serve(listener, server)),
                    Err(error) => fail(&server, format!("cannot start the fake API: {error}")),
                }
            })?;
        Ok(Self { address, shared })
    }

    /// Waits until every invocation is answered, or a wrong answer, or `timeout`.
    fn wait_until_done(&self, timeout: Duration) -> Result<(), Error> {
        let record = lock(&self.shared.record);
        let (record, waited) = self
            .shared
            .done
            .wait_timeout_while(record, timeout, |record| {
                record.failure.is_none()
                    && if self.shared.total == 0 {
                        record.first_next.is_none()
                    } else {
                        record.answers < self.shared.total
                    }
            })
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(failure) = &record.failure {
            return Err(failure.clone().into());
        }
        if waited.timed_out() {
            return Err(format!(
                "only {} of {} invocations were answered within {} s",
                record.answers,
                self.shared.total,
                timeout.as_secs()
            )
            .into());
        }
        Ok(())
    }

    fn record(&self) -> Record {
        lock(&self.shared.record).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn fail(shared: &Shared, failure: String) {
    lock(&shared.record).failure.get_or_insert(failure);
    shared.done.notify_all();
}

async fn serve(listener: std::net::TcpListener, shared: Arc<Shared>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => return fail(&shared, format!("cannot listen: {error}")),
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request| answer(Arc::clone(&shared), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn request_id(index: usize) -> String {
    format!("00000000-0000-4000-8000-{index:012}")
}

async fn answer(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if path == "/2018-06-01/runtime/invocation/next" {
        let index = shared.issued.fetch_add(1, Ordering::SeqCst);
        {
            let mut record = lock(&shared.record);
            record.first_next.get_or_insert_with(Instant::now);
        }
        shared.done.notify_all();
        if index >= shared.total {
            // Every invocation is out: hold the request open until the subject is stopped.
            std::future::pending::<()>().await;
        }
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            + 900_000;
        let response = Response::builder()
            .header("content-type", "application/json")
            .header("lambda-runtime-aws-request-id", request_id(index))
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            // Lambda sends a fresh trace header with every invocation, sampled or not.
            .header(
                "lambda-runtime-trace-id",
                format!("Root=1-5759e988-{index:024x};Parent=53995c3f42cd8ad8;Sampled=0"),
            )
            .body(Full::new(Bytes::from_static(EVENT.as_bytes())))
            .unwrap_or_default();
        lock(&shared.record).sent[index] = Some(Instant::now());
        return Ok(response);
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    let index = path
        .strip_prefix("/2018-06-01/runtime/invocation/00000000-0000-4000-8000-")
        .and_then(|rest| rest.strip_suffix("/response"))
        .and_then(|index| index.parse::<usize>().ok())
        .filter(|index| *index < shared.total);
    let Some(index) = index else {
        fail(
            &shared,
            format!(
                "unexpected request `{path}`: `{}`",
                String::from_utf8_lossy(&body)
            ),
        );
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let same = same_json(&body, EVENT.as_bytes());
    {
        let mut record = lock(&shared.record);
        if !same {
            record.failure.get_or_insert(format!(
                "invocation {index} was answered with `{}`, not the event",
                String::from_utf8_lossy(&body)
            ));
        }
        if record.answered[index].replace(Instant::now()).is_some() {
            record
                .failure
                .get_or_insert(format!("invocation {index} was answered twice"));
        }
        record.answers += 1;
    }
    shared.done.notify_all();
    Ok(status(StatusCode::ACCEPTED))
}

/// The echo may re-encode the JSON (key order, white space): compare the values.
fn same_json(left: &[u8], right: &[u8]) -> bool {
    let parse = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).ok();
    matches!((parse(left), parse(right)), (Some(left), Some(right)) if left == right)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// The size of `path` deflated into a zip as `bootstrap`, the way Lambda packages are made.
///
/// # Errors
///
/// Fails when python3 (which writes the zip) is missing or fails.
pub fn zip_size(binary: &Path) -> Result<u64, Error> {
    let zip = std::env::temp_dir().join(format!("lambda-kit-bench-{}.zip", std::process::id()));
    let script = "import sys, zipfile\n\
                  with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:\n    \
                  z.write(sys.argv[1], 'bootstrap')\n";
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(binary)
        .arg(&zip)
        .status()?;
    if !status.success() {
        return Err(format!("python3 could not zip `{}`", binary.display()).into());
    }
    let size = std::fs::metadata(&zip)?.len();
    let _ = std::fs::remove_file(&zip);
    Ok(size)
}

/// Formats `stats` for the report's table.
pub fn describe(stats: &RunStats) -> String {
    let mut line = String::new();
    let _ = write!(
        line,
        "{:.0} inv/s, p50 {} µs, p99 {} µs, cpu {} µs/inv, {:.2} cs/inv, init {} ms, rss {} KiB",
        stats.throughput,
        stats.latency_p50.as_micros(),
        stats.latency_p99.as_micros(),
        stats.cpu_per_invocation.as_micros(),
        stats.context_switches_per_invocation,
        stats.init.as_millis(),
        stats.peak_rss_kib
    );
    line
}
