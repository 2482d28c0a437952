//! The Extensions and Telemetry APIs of the server `FakeRuntimeApi` and `cargo lambdakit serve`
//! run, with raw HTTP as an extension speaks it: each route and refusal in Lambda's status
//! codes and error types, the lifecycle (init waits for extensions, an invocation is complete
//! when they are done with it, shutdown within a deadline), and telemetry posted in batches to
//! a subscriber listening on 127.0.0.1.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_kit::extension::telemetry::{Event, Record, Stream};
use lambda_kit::testing::{
    ExtensionKind, FakeRuntimeApi, Function, Invocation, Phase, ShutdownReason,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::api::{Answer, next, report, send};
use crate::support::within;

const REGISTER: &str = "/2020-01-01/extension/register";
const EVENT_NEXT: &str = "/2020-01-01/extension/event/next";
const INIT_ERROR: &str = "/2020-01-01/extension/init/error";
const EXIT_ERROR: &str = "/2020-01-01/extension/exit/error";
const TELEMETRY: &str = "/2022-07-01/telemetry";
const A_UUID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

async fn register_with(
    address: SocketAddr,
    name: &str,
    events: &[&str],
    extra: &[(&str, &str)],
) -> Answer {
    let mut headers = vec![("Lambda-Extension-Name", name)];
    headers.extend_from_slice(extra);
    let body = json!({ "events": events }).to_string();
    within(
        5,
        send(address, "POST", REGISTER, &headers, body.as_bytes()),
    )
    .await
}

/// Registers `name` for `events` and returns its identifier.
async fn register(address: SocketAddr, name: &str, events: &[&str]) -> String {
    let answer = register_with(address, name, events, &[]).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer
        .header("lambda-extension-identifier")
        .unwrap()
        .to_owned()
}

/// `event/next` for `id`, in a task of `tasks` (it blocks until an event comes).
fn ask(tasks: &mut JoinSet<Answer>, address: SocketAddr, id: &str) -> tokio::task::AbortHandle {
    let id = id.to_owned();
    tasks.spawn(async move {
        send(
            address,
            "GET",
            EVENT_NEXT,
            &[("Lambda-Extension-Identifier", &id)],
            b"",
        )
        .await
    })
}

async fn event_next(address: SocketAddr, id: &str) -> Answer {
    within(
        10,
        send(
            address,
            "GET",
            EVENT_NEXT,
            &[("Lambda-Extension-Identifier", id)],
            b"",
        ),
    )
    .await
}

async fn post_error(address: SocketAddr, path: &str, id: &str, error_type: &str) -> Answer {
    let headers = [
        ("Lambda-Extension-Identifier", id),
        ("Lambda-Extension-Function-Error-Type", error_type),
    ];
    within(
        5,
        send(
            address,
            "POST",
            path,
            &headers,
            br#"{"errorMessage":"no config"}"#,
        ),
    )
    .await
}

/// Polls `future` once: its output if it is ready now.
fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut context = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut context) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn register_tells_the_function_and_the_account_only_when_accepted() {
    let function = Function::new("orders")
        .version("7")
        .handler("orders.handler")
        .account_id("210987654321");
    let api = FakeRuntimeApi::start_for(function).await.unwrap();
    let address = api.address();

    let plain = register_with(address, "plain", &["INVOKE"], &[]).await;
    assert_eq!(plain.status, 200);
    let id = plain.header("lambda-extension-identifier").unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(
        plain.json(),
        json!({"functionName": "orders", "functionVersion": "7", "handler": "orders.handler"})
    );

    let accepting = register_with(
        address,
        "accepting",
        &[],
        &[("Lambda-Extension-Accept-Feature", "accountId")],
    )
    .await;
    assert_eq!(accepting.json()["accountId"], "210987654321");
    assert_ne!(accepting.header("lambda-extension-identifier"), Some(id));

    let registered = api.extensions();
    assert_eq!(registered.len(), 2);
    assert_eq!(registered[0].name(), "plain");
    assert_eq!(registered[0].kind(), ExtensionKind::Internal);
    assert!(registered[0].invoke() && !registered[0].shutdown());
}

#[tokio::test]
async fn register_refuses_as_lambda_does() {
    let api = FakeRuntimeApi::start_for(Function::default().external_extensions(["external"]))
        .await
        .unwrap();
    let address = api.address();

    let nameless = within(5, send(address, "POST", REGISTER, &[], br#"{"events":[]}"#)).await;
    nameless.assert_refused(403, "Extension.InvalidExtensionName");
    let headers = [("Lambda-Extension-Name", "broken")];
    let broken = within(
        5,
        send(address, "POST", REGISTER, &headers, b"{\"events\":"),
    )
    .await;
    broken.assert_refused(403, "InvalidRequestFormat");
    register_with(address, "odd", &["RESTART"], &[])
        .await
        .assert_refused(403, "Extension.InvalidEventType");
    // Only an external extension (a name the instance launched) may hear of the shutdown.
    register_with(address, "internal", &["INVOKE", "SHUTDOWN"], &[])
        .await
        .assert_refused(403, "Extension.InvalidEventType");
    register(address, "external", &["INVOKE", "SHUTDOWN"]).await;
    assert_eq!(api.extensions()[0].kind(), ExtensionKind::External);
    register_with(address, "external", &["INVOKE"], &[])
        .await
        .assert_refused(403, "Extension.InvalidExtensionState");

    for n in 1..10 {
        register(address, &format!("internal-{n}"), &["INVOKE"]).await;
    }
    register_with(address, "eleventh", &["INVOKE"], &[])
        .await
        .assert_refused(403, "Extension.TooManyExtensions");
    assert_eq!(api.extensions().len(), 10);
}

#[tokio::test]
async fn requests_without_a_known_identifier_are_refused() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.address();
    let id = register(address, "known", &["INVOKE"]).await;

    let routes = [
        ("GET", EVENT_NEXT),
        ("POST", INIT_ERROR),
        ("POST", EXIT_ERROR),
        ("PUT", TELEMETRY),
    ];
    for (method, path) in routes {
        let missing = within(5, send(address, method, path, &[], b"{}")).await;
        missing.assert_refused(403, "Extension.MissingExtensionIdentifier");
        let headers = [("Lambda-Extension-Identifier", "not-a-uuid")];
        let invalid = within(5, send(address, method, path, &headers, b"{}")).await;
        invalid.assert_refused(403, "Extension.InvalidExtensionIdentifier");
        let headers = [
            ("Lambda-Extension-Identifier", A_UUID),
            ("Lambda-Extension-Function-Error-Type", "Extension.Failed"),
        ];
        let unknown = within(5, send(address, method, path, &headers, b"{}")).await;
        unknown.assert_refused(403, "Extension.UnknownExtensionIdentifier");
    }
    for path in [INIT_ERROR, EXIT_ERROR] {
        let headers = [("Lambda-Extension-Identifier", id.as_str())];
        let untyped = within(5, send(address, "POST", path, &headers, b"{}")).await;
        untyped.assert_refused(403, "Extension.MissingHeader");
    }
}

#[tokio::test]
async fn init_waits_for_every_extension_then_registration_closes() {
    let api = FakeRuntimeApi::start_for(Function::default().external_extensions(["late"]))
        .await
        .unwrap();
    let address = api.address();
    let request_id = api.push(Invocation::new(json!({"n": 1})).trace_id("Root=1-abc;Sampled=1"));
    let early = register(address, "early", &["INVOKE"]).await;
    let mut asking = JoinSet::new();
    ask(&mut asking, address, &early);
    let runtime = tokio::spawn(next(address));

    // Init cannot have ended: `late`, launched as external, has not registered.
    let late = register(address, "late", &["INVOKE", "SHUTDOWN"]).await;
    assert!(now_or_never(api.started()).is_none());
    ask(&mut asking, address, &late);
    within(5, api.started()).await.unwrap();

    let handed = runtime.await.unwrap();
    assert_eq!(
        handed.header("lambda-runtime-aws-request-id"),
        Some(request_id.as_str())
    );
    for _ in 0..2 {
        let event = within(5, asking.join_next()).await.unwrap().unwrap();
        assert_eq!(event.status, 200);
        assert_eq!(event.json()["requestId"], request_id.as_str());
    }
    register_with(address, "too-late", &["INVOKE"], &[])
        .await
        .assert_refused(403, "Extension.RegistrationClosed");
}

#[tokio::test]
async fn an_invocation_is_complete_when_its_extensions_ask_again() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.address();
    let request_id = api.push(
        Invocation::new(json!({"n": 2}))
            .trace_id("Root=1-5f3-0c0;Sampled=1")
            .timeout(Duration::from_secs(30)),
    );
    let id = register(address, "watcher", &["INVOKE"]).await;
    let mut asking = JoinSet::new();
    ask(&mut asking, address, &id);
    let handed = next(address).await;
    assert_eq!(handed.status, 200);

    let event = within(5, asking.join_next()).await.unwrap().unwrap();
    assert!(event.header("lambda-extension-event-identifier").is_some());
    let event = event.json();
    assert_eq!(event["eventType"], "INVOKE");
    assert_eq!(event["requestId"], request_id.as_str());
    assert_eq!(
        event["invokedFunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    );
    assert_eq!(
        event["tracing"],
        json!({"type": "X-Amzn-Trace-Id", "value": "Root=1-5f3-0c0;Sampled=1"})
    );
    let deadline = event["deadlineMs"].as_u64().unwrap();
    assert_eq!(
        handed.header("lambda-runtime-deadline-ms"),
        Some(deadline.to_string().as_str())
    );
    assert!(deadline > now_ms());

    assert_eq!(
        report(address, &request_id, "response", b"\"ok\"")
            .await
            .status,
        202
    );
    // The caller has the response while the extension is still busy with the invocation.
    assert_eq!(api.outcome(&request_id).await.json::<String>(), "ok");
    assert!(now_or_never(api.completed(&request_id)).is_none());
    ask(&mut asking, address, &id);
    assert!(within(5, api.completed(&request_id)).await);
}

#[tokio::test]
async fn an_extension_asking_twice_at_once_is_in_an_invalid_state() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.address();
    let id = register(address, "eager", &["INVOKE"]).await;
    let mut asking = JoinSet::new();
    ask(&mut asking, address, &id);
    ask(&mut asking, address, &id);
    // Whichever arrives second is refused; the first waits for an event.
    let second = within(5, asking.join_next()).await.unwrap().unwrap();
    second.assert_refused(403, "Extension.InvalidExtensionState");
}

#[tokio::test]
async fn shutdown_goes_to_the_external_extensions_and_ends_when_each_is_done() {
    let function = Function::default().external_extensions(["polite", "failing"]);
    let api = FakeRuntimeApi::start_for(function).await.unwrap();
    let address = api.address();
    let polite = register(address, "polite", &["SHUTDOWN"]).await;
    let failing = register(address, "failing", &["INVOKE", "SHUTDOWN"]).await;
    register(address, "internal", &["INVOKE"]).await;
    let mut polite_asks = JoinSet::new();
    ask(&mut polite_asks, address, &polite);
    let mut failing_asks = JoinSet::new();
    ask(&mut failing_asks, address, &failing);

    let within_ms = 60_000;
    let shutdown = api.shutdown(ShutdownReason::Spindown, Duration::from_millis(within_ms));
    let extensions = async {
        let event = polite_asks.join_next().await.unwrap().unwrap().json();
        assert_eq!(event["eventType"], "SHUTDOWN");
        assert_eq!(event["shutdownReason"], "spindown");
        let deadline = event["deadlineMs"].as_u64().unwrap();
        assert!(deadline > now_ms() && deadline <= now_ms() + within_ms);
        // Done: it asks again (and would wait forever, so it is left waiting).
        ask(&mut polite_asks, address, &polite);
        let event = failing_asks.join_next().await.unwrap().unwrap().json();
        assert_eq!(event["shutdownReason"], "spindown");
        let exit = post_error(address, EXIT_ERROR, &failing, "Extension.FlushFailed").await;
        assert_eq!(exit.status, 202);
    };
    let (outcome, ()) = within(10, async { tokio::join!(shutdown, extensions) }).await;
    assert!(
        outcome.unfinished().is_empty(),
        "{:?}",
        outcome.unfinished()
    );
    let errors = api.extension_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].name(), "failing");
    assert_eq!(errors[0].phase(), Phase::Exit);
    assert_eq!(
        errors[0].report().error_type_header(),
        Some("Extension.FlushFailed")
    );
    post_error(address, EXIT_ERROR, &failing, "Extension.Again")
        .await
        .assert_refused(403, "Extension.InvalidExtensionState");
    register_with(address, "after", &["INVOKE"], &[])
        .await
        .assert_refused(403, "Extension.RegistrationClosed");
}

#[tokio::test]
async fn shutdown_stops_waiting_at_its_deadline() {
    let api = FakeRuntimeApi::start_for(Function::default().external_extensions(["stuck"]))
        .await
        .unwrap();
    let address = api.address();
    let stuck = register(address, "stuck", &["SHUTDOWN"]).await;
    // It gets the event and never asks again.
    let event = tokio::spawn(async move { event_next(address, &stuck).await });
    let outcome = within(
        10,
        api.shutdown(ShutdownReason::Timeout, Duration::from_millis(100)),
    )
    .await;
    assert_eq!(outcome.unfinished(), ["stuck"]);
    let event = event.await.unwrap().json();
    assert_eq!(event["shutdownReason"], "timeout");
}

#[tokio::test]
async fn an_extensions_init_error_fails_the_start() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.address();
    let id = register(address, "configured", &["INVOKE"]).await;
    let posted = post_error(address, INIT_ERROR, &id, "Extension.ConfigInvalid").await;
    assert_eq!(posted.status, 202);
    assert_eq!(posted.json(), json!({"status": "OK"}));

    let failure = within(5, api.started()).await.unwrap_err();
    assert_eq!(failure.error_type(), "Extension.InitError");
    assert!(
        failure.error_message().contains("`configured`")
            && failure.error_message().contains("Extension.ConfigInvalid"),
        "{}",
        failure.error_message()
    );
    let errors = api.extension_errors();
    assert_eq!(errors[0].phase(), Phase::Init);
    assert_eq!(errors[0].report().error_message(), "no config");
    register_with(address, "another", &["INVOKE"], &[])
        .await
        .assert_refused(403, "Extension.RegistrationClosed");
}

/// A telemetry subscriber: a listener on 127.0.0.1 whose batches arrive on the receiver.
struct Subscriber {
    port: u16,
    batches: mpsc::UnboundedReceiver<Vec<Event>>,
    /// The batches posted to it, answered or failed.
    attempts: Arc<AtomicUsize>,
    /// Owns the connections' tasks; aborted when the subscriber is dropped.
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Subscriber {
    async fn start() -> Self {
        Self::start_with(0, Duration::ZERO).await
    }

    /// A subscriber that answers its first `failures` batches 500, and takes `delay` to
    /// answer each of the others.
    async fn start_with(failures: usize, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, batches) = mpsc::unbounded_channel();
        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&attempts);
        let server = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let sender = sender.clone();
                let attempts = Arc::clone(&counted);
                connections.spawn(async move {
                    let mut read = Vec::new();
                    let mut buffer = [0; 8192];
                    let (end, length) = loop {
                        let n = stream.read(&mut buffer).await.unwrap();
                        assert!(n > 0, "the batch's request ended early");
                        read.extend_from_slice(&buffer[..n]);
                        if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&read[..end]).to_lowercase();
                            assert!(head.starts_with("post /telemetry "), "{head}");
                            assert!(head.contains("host: sandbox.localdomain:"), "{head}");
                            let length = head
                                .lines()
                                .find_map(|line| line.strip_prefix("content-length:"))
                                .unwrap()
                                .trim()
                                .parse::<usize>()
                                .unwrap();
                            break (end + 4, length);
                        }
                    };
                    while read.len() < end + length {
                        let n = stream.read(&mut buffer).await.unwrap();
                        assert!(n > 0, "the batch ended early");
                        read.extend_from_slice(&buffer[..n]);
                    }
                    let batch: Vec<Event> = serde_json::from_slice(&read[end..]).unwrap();
                    if attempts.fetch_add(1, Ordering::SeqCst) < failures {
                        stream
                            .write_all(
                                b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                            )
                            .await
                            .unwrap();
                        return;
                    }
                    tokio::time::sleep(delay).await;
                    let _ = sender.send(batch);
                    stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await
                        .unwrap();
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self {
            port,
            batches,
            attempts,
            server,
        }
    }

    fn subscription(&self, types: &[&str], buffering: Value) -> Vec<u8> {
        json!({
            "schemaVersion": "2022-12-13",
            "types": types,
            "buffering": buffering,
            "destination": {
                "protocol": "HTTP",
                "URI": format!("http://sandbox.localdomain:{}/telemetry", self.port),
            },
        })
        .to_string()
        .into_bytes()
    }

    async fn batch(&mut self) -> Vec<Event> {
        within(10, self.batches.recv()).await.unwrap()
    }
}

async fn subscribe(address: SocketAddr, id: &str, body: &[u8]) -> Answer {
    let headers = [
        ("Lambda-Extension-Identifier", id),
        ("Content-Type", "application/json"),
    ];
    within(5, send(address, "PUT", TELEMETRY, &headers, body)).await
}

#[tokio::test]
async fn function_lines_arrive_in_batches_of_max_items() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.address();
    let id = register(address, "shipper", &["INVOKE"]).await;
    let mut subscriber = Subscriber::start().await;
    // A batch waits up to 30 s: only `maxItems` sends these at once.
    let body = subscriber.subscription(&["function"], json!({"maxItems": 25, "timeoutMs": 30000}));
    let answer = subscribe(address, &id, &body).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );

    for n in 0..50 {
        api.emit(Record::Function(Value::from(format!("line {n}\n"))));
    }
    // Not theirs: the platform's events go to platform subscribers only.
    api.emit(Record::ExtensionLog(Value::from(
        "not for a function subscriber",
    )));
    for first in [0, 25] {
        let batch = subscriber.batch().await;
        let lines: Vec<&Record> = batch.iter().map(|event| &event.record).collect();
        assert_eq!(lines.len(), 25);
        assert_eq!(
            lines[0],
            &Record::Function(Value::from(format!("line {first}\n")))
        );
        assert!(
            batch
                .iter()
                .all(|event| event.record.stream() == Stream::Function)
        );
        assert!(batch[0].time.ends_with('Z'), "{}", batch[0].time);
    }
}

/// Registers `name`, subscribes `subscriber` to function lines with `buffering`.
async fn subscribed(api: &FakeRuntimeApi, name: &str, subscriber: &Subscriber, buffering: Value) {
    let id = register(api.address(), name, &["INVOKE"]).await;
    let body = subscriber.subscription(&["function"], buffering);
    let answer = subscribe(api.address(), &id, &body).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
}

fn line(text: &str) -> Record {
    Record::Function(Value::from(text))
}

/// The function lines of `batch`, and its `platform.logsDropped` record if it has one.
fn lines_of(batch: &[Event]) -> (Vec<String>, Option<(u64, u64, String)>) {
    let mut lines = Vec::new();
    let mut dropped = None;
    for event in batch {
        match &event.record {
            Record::Function(text) => lines.push(text.as_str().unwrap().to_owned()),
            Record::LogsDropped(record) => {
                dropped = Some((
                    record.dropped_records,
                    record.dropped_bytes,
                    record.reason.clone(),
                ));
            }
            other => panic!("not a function line: {other:?}"),
        }
    }
    (lines, dropped)
}

#[tokio::test]
async fn a_batch_the_subscriber_fails_is_posted_again() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let mut subscriber = Subscriber::start_with(2, Duration::ZERO).await;
    subscribed(&api, "flaky", &subscriber, json!({"timeoutMs": 25})).await;
    for text in ["one", "two", "three"] {
        api.emit(line(text));
    }
    let (lines, dropped) = lines_of(&subscriber.batch().await);
    assert_eq!(lines, ["one", "two", "three"]);
    assert_eq!(dropped, None);
    // Two answered 500, the third 200.
    assert_eq!(subscriber.attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_batch_failed_at_every_attempt_is_dropped_and_reported() {
    let api = FakeRuntimeApi::start().await.unwrap();
    // Every attempt at the first batch fails (Lambda's retries are bounded here: 7).
    let mut subscriber = Subscriber::start_with(7, Duration::ZERO).await;
    subscribed(&api, "down", &subscriber, json!({"timeoutMs": 25})).await;
    api.emit(line("lost 1"));
    api.emit(line("lost 2"));
    within(10, async {
        while subscriber.attempts.load(Ordering::SeqCst) < 7 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // Given up on: what comes next is delivered, after the report of what was lost.
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.emit(line("kept"));
    let batch = subscriber.batch().await;
    assert_eq!(batch[0].record.kind(), "platform.logsDropped");
    let (lines, dropped) = lines_of(&batch);
    assert_eq!(lines, ["kept"]);
    let (records, bytes, reason) = dropped.unwrap();
    assert_eq!(records, 2);
    // Each line as it was encoded: `{"time":"...","type":"function","record":"lost 1"}`.
    assert!((100..200).contains(&bytes), "{bytes}");
    assert!(reason.contains("fallen behind"), "{reason}");
}

#[tokio::test]
async fn a_slow_subscriber_loses_what_is_over_two_batches_and_hears_of_it() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let mut subscriber = Subscriber::start_with(0, Duration::from_millis(500)).await;
    subscribed(
        &api,
        "slow",
        &subscriber,
        json!({"maxItems": 25, "timeoutMs": 25}),
    )
    .await;
    api.emit(line("0"));
    // The first batch is posted, and the subscriber is slow to take it.
    within(10, async {
        while subscriber.attempts.load(Ordering::SeqCst) < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // Two batches' worth (50) are held, the one being delivered included: 49 more fit.
    for n in 1..=100 {
        api.emit(line(&n.to_string()));
    }
    let mut delivered = Vec::new();
    let mut reported = Vec::new();
    while delivered.len() < 50 {
        let batch = subscriber.batch().await;
        assert!(batch.len() <= 25, "a batch of {}", batch.len());
        let (lines, dropped) = lines_of(&batch);
        delivered.extend(lines);
        reported.extend(dropped);
    }
    let expected: Vec<String> = (0..50).map(|n| n.to_string()).collect();
    assert_eq!(delivered, expected);
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert_eq!(reported[0].0, 51);
    // Nothing else comes.
    assert!(
        tokio::time::timeout(Duration::from_millis(700), subscriber.batches.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn platform_events_arrive_within_timeout_ms() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.address();
    let request_id = api.push(Invocation::new(json!({"n": 3})).trace_id("Root=1-tel;Sampled=1"));
    let id = register(address, "collector", &["INVOKE"]).await;
    let mut subscriber = Subscriber::start().await;
    // 10,000 items never fill: each batch goes out 25 ms after its first event.
    let body = subscriber.subscription(&["platform"], json!({"maxItems": 10000, "timeoutMs": 25}));
    assert_eq!(subscribe(address, &id, &body).await.status, 200);
    let mut asking = JoinSet::new();
    ask(&mut asking, address, &id);
    next(address).await;
    assert_eq!(
        report(address, &request_id, "response", b"\"done\"")
            .await
            .status,
        202
    );
    api.emit(Record::Function(Value::from(
        "a function line, not platform\n",
    )));
    let platform_report = json!({
        "requestId": request_id, "status": "success",
        "metrics": {"durationMs": 1.5, "billedDurationMs": 2, "memorySizeMB": 128, "maxMemoryUsedMB": 20}
    });
    api.emit(Record::Report(
        serde_json::from_value(platform_report).unwrap(),
    ));

    let mut kinds = Vec::new();
    while !kinds.contains(&"platform.report".to_owned()) {
        for event in subscriber.batch().await {
            match &event.record {
                Record::Start(start) => {
                    assert_eq!(start.request_id, request_id);
                    assert_eq!(
                        start.tracing.as_ref().unwrap().value,
                        "Root=1-tel;Sampled=1"
                    );
                }
                Record::RuntimeDone(done) => {
                    assert_eq!(done.request_id, request_id);
                    assert_eq!(done.status, "success");
                    assert_eq!(done.metrics.as_ref().unwrap().produced_bytes, Some(6));
                }
                Record::TelemetrySubscription(subscription) => {
                    assert_eq!(subscription.name, "collector");
                    assert_eq!(subscription.types, [Stream::Platform]);
                }
                _ => {}
            }
            kinds.push(event.record.kind().to_owned());
        }
    }
    // Its own registration came before it subscribed: not delivered, as on Lambda.
    assert_eq!(
        kinds,
        [
            "platform.telemetrySubscription",
            "platform.initRuntimeDone",
            "platform.start",
            "platform.runtimeDone",
            "platform.report"
        ]
    );
}

#[tokio::test]
async fn bad_subscriptions_are_refused_naming_the_field() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.address();
    let id = register(address, "picky", &["INVOKE"]).await;
    let subscriber = Subscriber::start().await;
    let cases = [
        (
            subscriber.subscription(&["platform"], json!({"maxItems": 5})),
            "`buffering.maxItems` is 5",
        ),
        (
            subscriber.subscription(&["platform"], json!({"timeoutMs": 30001})),
            "`buffering.timeoutMs`",
        ),
        (
            subscriber.subscription(&["platform"], json!({"maxBytes": 1})),
            "`buffering.maxBytes`",
        ),
        (subscriber.subscription(&[], Value::Null), "`types`"),
        (subscriber.subscription(&["logs"], Value::Null), "`types`"),
        (
            json!({"schemaVersion": "2022-12-13", "types": ["platform"],
                   "destination": {"protocol": "HTTP", "URI": "http://localhost:9/"}})
            .to_string()
            .into_bytes(),
            "`destination.URI`",
        ),
        (
            json!({"schemaVersion": "2022-12-13", "types": ["platform"],
                   "destination": {"protocol": "TCP", "URI": "http://sandbox.localdomain:9/"}})
            .to_string()
            .into_bytes(),
            "`destination.protocol`",
        ),
        (
            json!({"schemaVersion": "2019-01-01", "types": ["platform"]})
                .to_string()
                .into_bytes(),
            "`schemaVersion`",
        ),
        (b"not json".to_vec(), "not JSON"),
    ];
    for (body, named) in cases {
        let answer = subscribe(address, &id, &body).await;
        answer.assert_refused(400, "ValidationError");
        let message = answer.json()["errorMessage"].as_str().unwrap().to_owned();
        assert!(message.contains(named), "{message} should name {named}");
    }
    let maxed = subscriber.subscription(&["platform"], json!({"maxItems": 5}));
    let message = subscribe(address, &id, &maxed).await.json()["errorMessage"].clone();
    assert!(
        message.as_str().unwrap().contains("between 25 and 10000"),
        "{message}"
    );
}

/// Names the child function a child process is started for; the others return at once.
const CHILD_VAR: &str = "LAMBDA_KIT_TEST_CHILD";

fn is_child(name: &str) -> bool {
    #[allow(clippy::disallowed_methods)] // The test reads its own environment, not the runtime.
    let wanted = std::env::var(CHILD_VAR);
    wanted.as_deref() == Ok(name)
}

/// Run as a child process: an unmodified `lambda_extension::Extension` (the official crate,
/// which reads `AWS_LAMBDA_RUNTIME_API` from its environment), printing each event it gets.
#[tokio::test]
#[ignore = "run as a child process by the_official_lambda_extension_crate_gets_invoke_and_shutdown"]
async fn child_official_extension() {
    use lambda_extension::{Extension, LambdaEvent, NextEvent, service_fn};
    if !is_child("child_official_extension") {
        return;
    }
    let processor = service_fn(|event: LambdaEvent| async move {
        match event.next {
            NextEvent::Invoke(invoke) => println!(
                "EVENT INVOKE {} {} {}",
                invoke.request_id, invoke.invoked_function_arn, invoke.tracing.value
            ),
            NextEvent::Shutdown(shutdown) => {
                println!("EVENT SHUTDOWN {}", shutdown.shutdown_reason);
            }
        }
        Ok::<(), lambda_extension::Error>(())
    });
    Extension::new()
        .with_extension_name("official")
        .with_events(&["INVOKE", "SHUTDOWN"])
        .with_events_processor(processor)
        .run()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_official_lambda_extension_crate_gets_invoke_and_shutdown() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let function = Function::new("conformance").external_extensions(["official"]);
    let api = FakeRuntimeApi::start_for(function).await.unwrap();
    let address = api.address();
    let request_id = api.push(Invocation::new(json!({})).trace_id("Root=1-c0f;Sampled=1"));
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "extensions::child_official_extension",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.runtime_api())
        .env(CHILD_VAR, "child_official_extension")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut event = async || loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the extension stopped");
        if let Some(start) = line.find("EVENT ") {
            break line[start + 6..].to_owned();
        }
    };

    let runtime = tokio::spawn(async move {
        let handed = send(
            address,
            "GET",
            "/2018-06-01/runtime/invocation/next",
            &[],
            b"",
        )
        .await;
        let id = handed
            .header("lambda-runtime-aws-request-id")
            .unwrap()
            .to_owned();
        report(address, &id, "response", b"{}").await
    });
    within(30, api.started()).await.unwrap();
    let registered = api.extensions();
    assert_eq!(registered[0].name(), "official");
    assert_eq!(registered[0].kind(), ExtensionKind::External);
    assert!(registered[0].invoke() && registered[0].shutdown());
    assert_eq!(within(10, runtime).await.unwrap().status, 202);
    assert_eq!(
        within(10, event()).await,
        format!(
            "INVOKE {request_id} arn:aws:lambda:us-east-1:123456789012:function:test-function \
             Root=1-c0f;Sampled=1"
        )
    );
    assert!(within(10, api.completed(&request_id)).await);

    let outcome = within(
        10,
        api.shutdown(ShutdownReason::Spindown, Duration::from_secs(5)),
    )
    .await;
    assert_eq!(within(10, event()).await, "SHUTDOWN spindown");
    assert!(
        outcome.unfinished().is_empty(),
        "{:?}",
        outcome.unfinished()
    );
    child.kill().await.unwrap();
}
