//! The local console: a page at `/_lambdakit/` that shows the application serve runs — its
//! functions, their instances and queues, and every invocation as it ends (live, over
//! server-sent events), each with its event, answer, log lines, REPORT and trace — and invokes
//! a function from the page. The page, its script and its style are embedded (no build step, no
//! asset from the network); what it shows comes from the JSON below `/_lambdakit/api/`, read
//! from the same places the CLI reads (the journal of invocations, the traces serve keeps).
//!
//! The console is reached under the same rules as the Lambda API (`guard`): from this machine
//! and not from another site's page; beyond loopback with serve's token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use super::{Answer, Body, Call, Emulator, RequestBody, Trigger, boxed};

/// Where the console lives.
pub(crate) const ROOT: &str = "/_lambdakit";

/// The page, its script and its style.
const PAGE: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// Whether `path` is the console's page, script or style (which hold no data).
pub(crate) fn is_asset(path: &str) -> bool {
    let below = path.strip_prefix(ROOT).unwrap_or(path);
    matches!(below, "" | "/" | "/console.js" | "/console.css")
}

/// The most invocations one page of the list holds.
const MAX_PAGE: usize = 500;
/// The largest request the console's invoke takes (the Invoke API's own limit).
const MAX_INVOKE: usize = super::MAX_SYNC_PAYLOAD;

impl Emulator {
    /// Answers `method` on `path` (below [`ROOT`]).
    pub(crate) async fn console(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        body: RequestBody,
    ) -> Response<Body> {
        let below = path.strip_prefix(ROOT).unwrap_or(path);
        match (method, below) {
            (&Method::GET, "") => redirect(&format!("{ROOT}/")),
            (&Method::GET, "/") => asset("text/html; charset=utf-8", PAGE),
            (&Method::GET, "/console.js") => asset("text/javascript; charset=utf-8", SCRIPT),
            (&Method::GET, "/console.css") => asset("text/css; charset=utf-8", STYLE),
            (&Method::GET, "/api/functions") => json(StatusCode::OK, &self.console_functions()),
            (&Method::GET, "/api/event-kinds") => json(
                StatusCode::OK,
                &json!({ "kinds": crate::events::KINDS.iter().map(|(kind, _)| *kind).collect::<Vec<_>>() }),
            ),
            (&Method::GET, "/api/invocations") => {
                let before = query_value(query, "before").and_then(|text| text.parse().ok());
                let limit = query_value(query, "limit")
                    .and_then(|text| text.parse().ok())
                    .unwrap_or(100)
                    .clamp(1, MAX_PAGE);
                let (page, kept) = self.journal.page(before, limit);
                let summaries: Vec<Value> = page.iter().map(|entry| entry.summary()).collect();
                json(
                    StatusCode::OK,
                    &json!({ "invocations": summaries, "kept": kept }),
                )
            }
            (&Method::GET, "/api/live") => self.live(),
            (&Method::POST, "/api/invoke") => self.console_invoke(body).await,
            (&Method::GET, other) => match other.strip_prefix("/api/invocations/") {
                Some(id) if !id.is_empty() && !id.contains('/') => match self.journal.find(id) {
                    Some(entry) => json(StatusCode::OK, &entry.detail()),
                    None => not_found(&format!(
                        "serve keeps no invocation `{id}`: it keeps the last {} invocations",
                        super::journal::KEPT
                    )),
                },
                _ => match other.strip_prefix("/api/traces/") {
                    Some(id) if !id.is_empty() && !id.contains('/') => self.get_trace(id),
                    _ => not_found(&format!("the console has no `{path}`")),
                },
            },
            _ => json(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({ "message": format!("the console does not answer {method} {path}") }),
            ),
        }
    }

    /// Every function served, with its settings, its instances and queue now, and where HTTP
    /// reaches it.
    fn console_functions(&self) -> Value {
        let functions: Vec<Value> = self
            .all_pools()
            .iter()
            .map(|pool| {
                let function = &pool.function;
                let alive = pool.alive.load(Ordering::SeqCst);
                let starting = pool.starting.load(Ordering::SeqCst);
                let (idle, in_flight) = match pool.per_instance {
                    None => {
                        let idle = super::lock(&pool.idle).len();
                        (idle, alive.saturating_sub(idle))
                    }
                    Some(_) => {
                        let environments = super::lock(&pool.environments);
                        let claimed: Vec<usize> = environments
                            .iter()
                            .map(|environment| environment.claimed.load(Ordering::SeqCst))
                            .collect();
                        (
                            claimed.iter().filter(|claimed| **claimed == 0).count(),
                            claimed.iter().sum(),
                        )
                    }
                };
                let routes = self
                    .api
                    .as_ref()
                    .map(|api| api.routes_of(&function.name))
                    .unwrap_or_default();
                json!({
                    "name": function.name,
                    "version": pool.version,
                    "arn": pool.arn,
                    "memory_mb": function.memory_mb,
                    "timeout_s": function.timeout.as_secs(),
                    "architecture": function.architecture.as_str(),
                    "concurrency": function.concurrency,
                    "per_instance": pool.per_instance,
                    "instances": {
                        "alive": alive,
                        "idle": idle,
                        "starting": starting,
                        "busy": alive.saturating_sub(idle).saturating_sub(starting),
                    },
                    "in_flight": in_flight,
                    "queued": self.queues.depth(&pool.arn),
                    "failed_events": self.queues.failed_for_good(&function.name),
                    "url": format!("/lambda-url/{}/", function.name),
                    "routes": routes,
                    "environment": function.environment.keys().collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "functions": functions })
    }

    /// The invocations that end from now on, one server-sent event each (`invocation`, its
    /// summary), and a comment every 15 s that keeps proxies from closing the stream.
    fn live(&self) -> Response<Body> {
        let mut ended = self.journal.listen();
        let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(64);
        // The task ends when the page goes (the channel closes) or serve stops (the journal's
        // sender goes with the emulator); it is owned by the response's body, which aborts it
        // when dropped.
        let task = tokio::spawn(async move {
            let mut beat = tokio::time::interval(std::time::Duration::from_secs(15));
            loop {
                let frame = tokio::select! {
                    ended = ended.recv() => match ended {
                        Ok(entry) => format!("event: invocation\ndata: {}\n\n", entry.summary()),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                            format!("event: missed\ndata: {missed}\n\n")
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                    _ = beat.tick() => ": still here\n\n".to_owned(),
                };
                if sender.send(Bytes::from(frame)).await.is_err() {
                    return;
                }
            }
        });
        let body = Frames {
            receiver,
            _task: AbortOnDrop(task),
        }
        .boxed_unsync();
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        response
    }

    /// `POST /_lambdakit/api/invoke` with `{"function": NAME, "payload": JSON}` or `{"function":
    /// NAME, "event": KIND}` (one of `invoke --event`'s example events): the invocation's
    /// detail once it ends, as the journal keeps it.
    async fn console_invoke(&self, body: RequestBody) -> Response<Body> {
        let bytes = match http_body_util::Limited::new(body, MAX_INVOKE)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return bad_request(&format!(
                    "the request is not readable or is over {MAX_INVOKE} bytes"
                ));
            }
        };
        let request: Value = match serde_json::from_slice(&bytes) {
            Ok(request @ Value::Object(_)) => request,
            _ => {
                return bad_request(
                    "the request is not a JSON object: {\"function\": NAME, \"payload\": JSON} or {\"function\": NAME, \"event\": KIND}",
                );
            }
        };
        let Some(name) = request["function"].as_str() else {
            return bad_request("`function` names no function");
        };
        let payload = match (&request["event"], &request["payload"]) {
            (Value::String(kind), Value::Null) => {
                match crate::events::example(kind, &BTreeMap::new()) {
                    Ok(event) => event,
                    Err(error) => return bad_request(&error.to_string()),
                }
            }
            (Value::Null, payload) if !payload.is_null() => payload.clone(),
            _ => return bad_request("give either `payload` (JSON) or `event` (a kind)"),
        };
        let Ok((pool, invoked_arn)) = self.resolve(name, None) else {
            return not_found(&format!(
                "`{name}` is not a function this serve runs (it runs {})",
                self.function_names().join(", ")
            ));
        };
        // As an Invoke holds it: a rebuild waits for the invocation.
        let _open = Arc::clone(&self.gate).read_owned().await;
        let call = Call {
            invoked_arn,
            ..Call::new(Bytes::from(payload.to_string()), Trigger::Console)
        };
        let answer = match pool.invoke(call).await {
            Ok(answer) => answer,
            Err(refused) => return boxed(refused),
        };
        let request_id = match &answer {
            Answer::Done(invoked) => invoked.request_id.clone(),
            Answer::Streaming { request_id, .. } => request_id.clone(),
        };
        answer.settled().await;
        match self.journal.find(&request_id) {
            Some(entry) => json(StatusCode::OK, &entry.detail()),
            None => not_found(&format!("the invocation `{request_id}` was not kept")),
        }
    }
}

/// The console's server-sent events, as a body: the frames the task sends, until it ends.
#[derive(Debug)]
struct Frames {
    receiver: tokio::sync::mpsc::Receiver<Bytes>,
    /// The task that sends them, aborted with the body.
    _task: AbortOnDrop,
}

impl hyper::body::Body for Frames {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.receiver
            .poll_recv(cx)
            .map(|frame| frame.map(|data| Ok(hyper::body::Frame::data(data))))
    }
}

/// A task that is aborted when this is dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn asset(content_type: &'static str, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    // Nothing from elsewhere: no script, style, image or connection but serve's own.
    headers.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    boxed(response)
}

fn redirect(to: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(location) = http::HeaderValue::from_str(to) {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    boxed(response)
}

fn json(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    boxed(response)
}

fn not_found(message: &str) -> Response<Body> {
    json(StatusCode::NOT_FOUND, &json!({ "message": message }))
}

fn bad_request(message: &str) -> Response<Body> {
    json(StatusCode::BAD_REQUEST, &json!({ "message": message }))
}

/// The value of `name` in `query`, percent-decoding left aside (the console's values are
/// numbers).
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}
