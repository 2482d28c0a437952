//! One execution environment: the function's bootstrap running natively, with a Runtime API of
//! its own on 127.0.0.1, as Lambda's contract defines it (`/next`, `/response`, `/error`,
//! `/init/error`, version 2018-06-01).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinSet;

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
    pub(crate) deadline: SystemTime,
    pub(crate) function_arn: String,
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

/// A piece of a streamed response.
#[derive(Debug, Clone)]
pub(crate) enum Chunk {
    Data(Bytes),
    /// The stream failed: the function's error (from its trailers) or the emulator's.
    Failed(Bytes),
}

/// A response the function streams (`Lambda-Runtime-Function-Response-Mode: streaming`), its
/// chunks as they arrive.
#[derive(Debug)]
pub(crate) struct Streaming {
    pub(crate) content_type: Option<String>,
    pub(crate) chunks: mpsc::Receiver<Chunk>,
}

/// How the function answered: whole, or as a stream that has begun.
#[derive(Debug)]
pub(crate) enum Reply {
    Done(Outcome),
    Streaming(Streaming),
}

/// The header a runtime streams its response with, and the trailers that end a failed stream
/// (AWS "Response streaming for custom runtimes").
const RESPONSE_MODE: &str = "lambda-runtime-function-response-mode";
const ERROR_TYPE_TRAILER: &str = "lambda-runtime-function-error-type";
const ERROR_BODY_TRAILER: &str = "lambda-runtime-function-error-body";

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
    api: Arc<Api>,
    /// The Runtime API server and the log readers: aborted when the instance is dropped.
    tasks: JoinSet<()>,
    logs: Arc<Mutex<String>>,
    /// Spawn to first `/next`, reported once, with the first invocation.
    pub(crate) init_duration: Option<Duration>,
    /// The peak resident memory in MB, read last before the process ended or now.
    peak_mb: u64,
    /// The emulator's generation it was started in (see `Emulator::restart`).
    pub(crate) generation: u64,
}

#[derive(Debug)]
struct Api {
    invocations: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    sender: mpsc::Sender<Invocation>,
    waiting: Notify,
    asked: Mutex<bool>,
    current: Mutex<Option<(String, oneshot::Sender<Reply>)>>,
    init_error: Mutex<Option<Bytes>>,
}

impl Instance {
    /// Starts `binary` and waits until it asks for its first invocation.
    pub(crate) async fn start(binary: &Path, launch: &Launch) -> Result<Self, StartFailure> {
        let failure = |message: String| StartFailure {
            error: error_body("Runtime.Unknown", &message),
            logs: String::new(),
        };
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|error| failure(format!("cannot open a Runtime API port: {error}")))?;
        let address = listener
            .local_addr()
            .map_err(|error| failure(format!("cannot open a Runtime API port: {error}")))?;
        let (sender, receiver) = mpsc::channel(1);
        let api = Arc::new(Api {
            invocations: tokio::sync::Mutex::new(receiver),
            sender,
            waiting: Notify::new(),
            asked: Mutex::new(false),
            current: Mutex::new(None),
            init_error: Mutex::new(None),
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(serve(listener, Arc::clone(&api)));

        let started = Instant::now();
        let mut child = command(binary, launch, address)
            .spawn()
            .map_err(|error| failure(format!("cannot start `{}`: {error}", binary.display())))?;
        let logs = Arc::new(Mutex::new(String::new()));
        if let Some(stdout) = child.stdout.take() {
            tasks.spawn(forward(BufReader::new(stdout), Arc::clone(&logs)));
        }
        if let Some(stderr) = child.stderr.take() {
            tasks.spawn(forward(BufReader::new(stderr), Arc::clone(&logs)));
        }
        let mut instance = Self {
            child,
            api,
            tasks,
            logs,
            init_duration: None,
            peak_mb: 0,
            generation: 0,
        };
        let api = Arc::clone(&instance.api);
        let asked = async {
            loop {
                let waiting = api.waiting.notified();
                if *lock(&api.asked) || lock(&api.init_error).is_some() {
                    return;
                }
                waiting.await;
            }
        };
        let status = tokio::select! {
            () = asked => None,
            status = instance.child.wait() => Some(status),
            () = tokio::time::sleep(INIT_TIMEOUT) => {
                let _ = instance.child.start_kill();
                return Err(StartFailure {
                    error: error_body("Runtime.InitTimeout", &format!("the function did not ask for an invocation within {} s of starting", INIT_TIMEOUT.as_secs())),
                    logs: instance.take_logs(),
                });
            }
        };
        if let Some(init_error) = lock(&instance.api.init_error).take() {
            let _ = instance.child.start_kill();
            return Err(StartFailure {
                error: init_error,
                logs: instance.take_logs(),
            });
        }
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
        let (reply, answer) = oneshot::channel();
        *lock(&self.api.current) = Some((request_id.clone(), reply));
        if self.api.sender.send(invocation).await.is_err() {
            return Err(Outcome::Error(error_body(
                "Runtime.Unknown",
                "the instance's Runtime API stopped",
            )));
        }
        tokio::select! {
            answer = answer => answer.map_err(|_| Outcome::Error(error_body("Runtime.Unknown", "the instance's Runtime API stopped"))),
            failure = self.failure(&request_id, timeout) => Err(failure),
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
                let _ = self.child.start_kill();
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

    /// Stops the process; dropping the instance does the same.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.tasks.abort_all();
    }
}

fn command(binary: &Path, launch: &Launch, api: SocketAddr) -> Command {
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
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            launch.memory_mb.to_string(),
        )
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", launch.function),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "$LATEST")
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
        .kill_on_drop(true);
    command
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

/// `{"errorType", "errorMessage"}`, as Lambda writes its own errors.
pub(crate) fn error_body(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn serve(listener: TcpListener, api: Arc<Api>) {
    let mut connections = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let api = Arc::clone(&api);
        connections.spawn(async move {
            let service =
                hyper::service::service_fn(move |request| answer(Arc::clone(&api), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn answer(
    api: Arc<Api>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let Some(route) = parts.uri.path().strip_prefix("/2018-06-01/runtime/") else {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            error_body("InvalidRequest", "unknown path"),
        ));
    };
    let streamed = parts
        .headers
        .get(RESPONSE_MODE)
        .is_some_and(|mode| mode.as_bytes().eq_ignore_ascii_case(b"streaming"));
    if let (true, &Method::POST, Some(request_id)) = (
        streamed,
        &parts.method,
        route
            .strip_prefix("invocation/")
            .and_then(|rest| rest.strip_suffix("/response")),
    ) {
        return Ok(stream(&api, request_id, &parts, body).await);
    }
    let body = body
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    match (&parts.method, route) {
        (&Method::GET, "invocation/next") => Ok(next(&api).await),
        (&Method::POST, "init/error") => {
            *lock(&api.init_error) = Some(body);
            api.waiting.notify_waiters();
            Ok(reply(
                StatusCode::ACCEPTED,
                Bytes::from_static(br#"{"status":"OK"}"#),
            ))
        }
        (&Method::POST, route) => {
            let Some((request_id, verb)) = route
                .strip_prefix("invocation/")
                .and_then(|rest| rest.rsplit_once('/'))
            else {
                return Ok(reply(
                    StatusCode::NOT_FOUND,
                    error_body("InvalidRequest", "unknown path"),
                ));
            };
            let outcome = match verb {
                "response" => Reply::Done(Outcome::Response(body)),
                "error" => Reply::Done(Outcome::Error(body)),
                _ => {
                    return Ok(reply(
                        StatusCode::NOT_FOUND,
                        error_body("InvalidRequest", "unknown path"),
                    ));
                }
            };
            let mut current = lock(&api.current);
            match current.take() {
                Some((id, reply_to)) if id == request_id => {
                    let _ = reply_to.send(outcome);
                    Ok(reply(
                        StatusCode::ACCEPTED,
                        Bytes::from_static(br#"{"status":"OK"}"#),
                    ))
                }
                other => {
                    *current = other;
                    Ok(reply(
                        StatusCode::BAD_REQUEST,
                        error_body("InvalidRequestID", "Invalid request ID"),
                    ))
                }
            }
        }
        _ => Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            error_body("InvalidRequest", "method not allowed"),
        )),
    }
}

/// A streamed `/response`: hands its chunks over as they arrive, and the error its trailers
/// carry; answers 202 when the stream has ended.
async fn stream(
    api: &Api,
    request_id: &str,
    parts: &http::request::Parts,
    mut body: Incoming,
) -> Response<Full<Bytes>> {
    let reply_to = {
        let mut current = lock(&api.current);
        match current.take() {
            Some((id, reply_to)) if id == request_id => reply_to,
            other => {
                *current = other;
                return reply(
                    StatusCode::BAD_REQUEST,
                    error_body("InvalidRequestID", "Invalid request ID"),
                );
            }
        }
    };
    let (sender, chunks) = mpsc::channel(16);
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let _ = reply_to.send(Reply::Streaming(Streaming {
        content_type,
        chunks,
    }));
    // Whoever reads the chunks may stop; the stream is read to its end regardless, so that
    // the runtime gets its answer.
    while let Some(frame) = body.frame().await {
        let chunk = match frame.map(hyper::body::Frame::into_data) {
            Ok(Ok(data)) => Chunk::Data(data),
            Ok(Err(frame)) => match frame
                .into_trailers()
                .ok()
                .and_then(|trailers| failure(&trailers))
            {
                Some(error) => Chunk::Failed(error),
                None => continue,
            },
            Err(error) => Chunk::Failed(error_body(
                "Runtime.StreamError",
                &format!("the response stream broke off: {error}"),
            )),
        };
        let _ = sender.send(chunk).await;
    }
    reply(
        StatusCode::ACCEPTED,
        Bytes::from_static(br#"{"status":"OK"}"#),
    )
}

/// The error a stream's trailers report, if they report one: its body is base64 of the error
/// document.
fn failure(trailers: &http::HeaderMap) -> Option<Bytes> {
    let error_type = trailers
        .get(ERROR_TYPE_TRAILER)?
        .to_str()
        .unwrap_or("Unknown");
    let body = trailers
        .get(ERROR_BODY_TRAILER)
        .and_then(|body| {
            base64::engine::general_purpose::STANDARD
                .decode(body.as_bytes())
                .ok()
        })
        .unwrap_or_default();
    if serde_json::from_slice::<serde_json::Value>(&body)
        .is_ok_and(|document| document.get("errorType").is_some())
    {
        return Some(Bytes::from(body));
    }
    Some(error_body(error_type, &String::from_utf8_lossy(&body)))
}

async fn next(api: &Api) -> Response<Full<Bytes>> {
    *lock(&api.asked) = true;
    api.waiting.notify_waiters();
    let Some(invocation) = api.invocations.lock().await.recv().await else {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_body("ServiceException", "the instance is stopping"),
        );
    };
    let deadline_ms = invocation
        .deadline
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut response = Response::builder()
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", &invocation.request_id)
        .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
        .header(
            "lambda-runtime-invoked-function-arn",
            &invocation.function_arn,
        )
        .header("lambda-runtime-trace-id", &invocation.trace_id);
    if let Some(identity) = &invocation.identity {
        response = response.header("lambda-runtime-cognito-identity", identity);
    }
    if let Some(client_context) = &invocation.client_context {
        response = response.header("lambda-runtime-client-context", client_context);
    }
    response
        .body(Full::new(invocation.body))
        .unwrap_or_else(|_| {
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                error_body("ServiceException", "invalid invocation header"),
            )
        })
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}
