//! A local Lambda: the Invoke API on one port, and behind it, per function, a pool of
//! instances that start on the first invocation (a cold start), stay warm, multiply under
//! concurrent invocations up to the function's limit, and are replaced after a timeout or a
//! crash, as on AWS. Beside the Invoke API, the rest of the Lambda API (`lambda_api`) creates,
//! describes and deletes functions from zips. In front of both, `guard` decides who may call
//! them (function URLs answer anyone).

mod cost;
mod guard;
mod ids;
mod instance;
mod lambda_api;
mod state;
mod url;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use self::guard::{Access, Reach, TOKEN_HEADER, Token};
use self::instance::{Chunk, Instance, Invocation, Launch, Outcome, Reply};
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

/// What the emulator answers with: whole bodies, or a function's streamed response.
type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

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
    /// The `Event` invocations under way, run after they were answered; reaped as new ones
    /// come, and stopped by [`Emulator::shutdown`].
    events: Mutex<JoinSet<()>>,
    /// Who the Lambda API answers (see `guard`); function URLs answer anyone.
    access: Access,
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
    alive: AtomicUsize,
    /// Print an estimated cost after each `REPORT`.
    cost: bool,
    generation: Arc<AtomicU64>,
    /// The front of its HTTP requests.
    front: url::Front,
    /// How it came to be served, when it was created through the control plane; `None` for
    /// the project's own functions and `--bootstrap`s.
    created: Option<lambda_api::Created>,
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
        let pools = functions
            .into_iter()
            .map(|served| {
                let pool = Pool::new(
                    served,
                    region,
                    passed_environment,
                    cost,
                    Arc::clone(&generation),
                    None,
                );
                (pool.function.name.clone(), Arc::new(pool))
            })
            .collect();
        Self {
            pools: RwLock::new(pools),
            region: region.to_owned(),
            passed_environment: passed_environment.clone(),
            cost,
            state,
            records: Mutex::default(),
            kept: Mutex::default(),
            versions: RwLock::default(),
            changes: tokio::sync::Mutex::default(),
            gate: Arc::default(),
            generation,
            events: Mutex::default(),
            access: Access::default(),
        }
    }

    /// This emulator, answering the Lambda API for the callers `access` admits (by default,
    /// local callers that are not a web page).
    #[must_use]
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
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

    /// Answers the Invoke API on `listener` until the future is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let mut connections = JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let emulator = Arc::clone(&self);
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    Arc::clone(&emulator).answer(request)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
            while connections.try_join_next().is_some() {}
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
            let idle = std::mem::take(&mut *lock(&pool.idle));
            for instance in idle {
                pool.alive.fetch_sub(1, Ordering::SeqCst);
                instance.stop().await;
            }
        }
    }

    /// Stops the `Event` invocations under way, then every idle instance. An invocation
    /// stopped takes its instance with it (its process is killed): Lambda would run it again
    /// from its queue, and the local Lambda has no queue to keep it in.
    pub async fn shutdown(&self) {
        let mut events = std::mem::take(&mut *lock(&self.events));
        while events.try_join_next().is_some() {}
        if !events.is_empty() {
            println!(
                "lambdakit: stopping {} asynchronous invocation(s) under way",
                events.len()
            );
        }
        events.shutdown().await;
        let versions: Vec<_> = read(&self.versions).values().cloned().collect();
        for pool in self.all_pools().into_iter().chain(versions) {
            pool.stop_idle().await;
        }
    }

    async fn answer(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        Ok(self.route(request).await)
    }

    async fn route(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let operation = match lambda_api::Operation::parse(&parts.method, &parts.uri) {
            Ok(operation) => operation,
            Err(refusal) => return refusal.response(),
        };
        // The one check of who calls, before any operation (or a wait for a rebuild).
        if let Some(refused) = guard::refusal(&self.access, &operation, &parts.headers) {
            return refused;
        }
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
        generation: Arc<AtomicU64>,
        created: Option<lambda_api::Created>,
    ) -> Self {
        let Served {
            function,
            binary,
            runner,
        } = served;
        let mut environment = passed_environment.clone();
        environment.extend(function.environment.clone());
        if let Some(format) = &function.log_format {
            environment.insert("AWS_LAMBDA_LOG_FORMAT".into(), format.as_str().into());
        }
        if let Some(level) = &function.log_level {
            environment.insert("AWS_LAMBDA_LOG_LEVEL".into(), level.as_str().into());
        }
        let launch = Launch {
            function: function.name.clone(),
            region: region.to_owned(),
            memory_mb: function.memory_mb,
            environment,
            runner,
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
            alive: AtomicUsize::new(0),
            cost,
            generation,
            created,
        }
    }

    /// Stops the idle instances; busy ones stop when their invocation ends, if the pool is
    /// gone by then (they are dropped with it).
    async fn stop_idle(&self) {
        let idle = std::mem::take(&mut *lock(&self.idle));
        for instance in idle {
            self.alive.fetch_sub(1, Ordering::SeqCst);
            instance.stop().await;
        }
    }

    async fn invoke(
        self: &Arc<Self>,
        payload: Bytes,
        client_context: Option<String>,
        identity: Option<String>,
        invoked_arn: Option<String>,
        trace: Option<String>,
    ) -> Result<Answer, Response<Full<Bytes>>> {
        let request_id = ids::request_id();
        let idle = lock(&self.idle).pop();
        let mut instance = match idle {
            Some(instance) => instance,
            None => {
                if self.alive.fetch_add(1, Ordering::SeqCst) >= self.function.concurrency {
                    self.alive.fetch_sub(1, Ordering::SeqCst);
                    return Err(too_many_requests());
                }
                let generation = self.generation.load(Ordering::SeqCst);
                match Instance::start(&self.binary, &self.launch, &self.version).await {
                    Ok(mut instance) => {
                        instance.generation = generation;
                        instance
                    }
                    Err(failure) => {
                        self.alive.fetch_sub(1, Ordering::SeqCst);
                        let mut logs = failure.logs;
                        let line = format!(
                            "INIT_REPORT Status: error\tErrorType: {}",
                            error_type(&failure.error)
                        );
                        println!("{line}");
                        logs.push_str(&line);
                        logs.push('\n');
                        return Ok(Answer::Done(Invoked {
                            request_id,
                            outcome: Outcome::Error(failure.error),
                            logs,
                        }));
                    }
                }
            }
        };
        let init_duration = instance.init_duration.take();
        instance.log(&format!(
            "START RequestId: {request_id} Version: {}",
            self.version
        ));
        let invocation = Invocation {
            request_id: request_id.clone(),
            body: payload,
            timeout: self.function.timeout,
            function_arn: invoked_arn.unwrap_or_else(|| self.arn.clone()),
            trace_id: ids::continued_trace(trace.as_deref()),
            client_context,
            identity,
        };
        let started = Instant::now();
        let run = Run {
            request_id,
            started,
            init_duration,
        };
        match instance.invoke(invocation, self.function.timeout).await {
            Ok(Reply::Done(outcome)) => Ok(Answer::Done(
                self.finish(instance, run, outcome, true).await,
            )),
            Err(outcome) => Ok(Answer::Done(
                self.finish(instance, run, outcome, false).await,
            )),
            Ok(Reply::Streaming(streaming)) => {
                let (relayed, chunks) = tokio::sync::mpsc::channel(16);
                let (done, finished) = tokio::sync::oneshot::channel();
                let pool = Arc::clone(self);
                // Owned by `finished`: it ends with the stream, the instance's exit or the
                // function's timeout, whichever is first.
                tokio::spawn(async move {
                    let deadline = run.started + pool.function.timeout;
                    let (outcome, healthy) = relay(
                        &mut instance,
                        streaming.frames,
                        &relayed,
                        &run.request_id,
                        deadline,
                    )
                    .await;
                    drop(relayed);
                    let _ = done.send(pool.finish(instance, run, outcome, healthy).await);
                });
                Ok(Answer::Streaming {
                    content_type: streaming.content_type,
                    chunks,
                    finished,
                })
            }
        }
    }

    /// Ends an invocation as Lambda does: why it failed (for a timeout or a crash), `END` and
    /// `REPORT` in its log; the instance goes back to the pool, or away when it is broken or
    /// of an older build.
    async fn finish(
        &self,
        mut instance: Instance,
        run: Run,
        outcome: Outcome,
        healthy: bool,
    ) -> Invoked {
        let Run {
            request_id,
            started,
            init_duration,
        } = run;
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
        instance.log(&report(
            &request_id,
            duration,
            self.function.memory_mb,
            max_memory_mb,
            init_duration,
        ));
        if self.cost {
            instance.log(&cost::line(
                &request_id,
                billed,
                self.function.memory_mb,
                self.function.architecture.as_str(),
            ));
        }
        let logs = instance.take_logs();
        if healthy && instance.generation == self.generation.load(Ordering::SeqCst) {
            lock(&self.idle).push(instance);
        } else {
            instance.stop().await;
            self.alive.fetch_sub(1, Ordering::SeqCst);
        }
        Invoked {
            request_id,
            outcome,
            logs,
        }
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
    instance: &mut Instance,
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
        let logs = invoked.logs.as_bytes();
        let mut start = logs.len().saturating_sub(LOG_TAIL_BYTES);
        while !invoked.logs.is_char_boundary(start) {
            start += 1;
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(&logs[start..]);
        response = response.header("x-amz-log-result", encoded);
    }
    response.body(Full::new(body)).unwrap_or_else(|_| {
        aws_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "cannot build the response",
        )
    })
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
}
