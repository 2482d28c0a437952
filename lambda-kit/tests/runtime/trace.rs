//! The `trace` feature end to end: invocations with trace headers, sampled and not, through the
//! fake Runtime API; spans received by a real UDP socket as X-Ray segment documents and by a
//! real HTTP server as OTLP requests; log lines that carry the trace; the response posted
//! before the export.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lambda_kit::testing::{CapturedLogs, FakeRuntimeApi, Invocation, Outcome};
use lambda_kit::{Config, Context, Diagnostic, LogFormat, LogLevel, Runtime};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use crate::support::within;

pub(crate) const ROOT_A: &str = "1-5759e988-bd862e3fe1be46a994272793";
pub(crate) const ROOT_B: &str = "1-5759e989-0123456789abcdef01234567";
const ROOT_C: &str = "1-5759e98a-fedcba9876543210fedcba98";
pub(crate) const PARENT: &str = "53995c3f42cd8ad8";
/// The ARN the fake Runtime API's invocations carry.
const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:test-function";

pub(crate) fn header(root: &str, sampled: bool) -> String {
    format!(
        "Root={root};Parent={PARENT};Sampled={}",
        if sampled { 1 } else { 0 }
    )
}

#[derive(Debug, Deserialize)]
struct Order {
    id: String,
    items: u64,
}

#[tracing::instrument(skip_all, fields(order_id = %order.id, items = order.items))]
async fn load(order: &Order) {
    tracing::info!(source = "table", "loaded");
}

#[tracing::instrument(skip_all, fields(amount = amount, otel.kind = "client"))]
async fn charge(amount: f64) {
    tracing::info!(card = "visa", "charged");
}

/// Loads and charges an order in spans of its own; an order without items fails.
async fn place(order: Order, _: Context) -> Result<String, Diagnostic> {
    load(&order).await;
    if order.items == 0 {
        return Err(Diagnostic::new("EmptyOrder", "an order needs items"));
    }
    charge(12.5).await;
    Ok(order.id)
}

fn order(id: &str, items: u64) -> Value {
    serde_json::json!({"id": id, "items": items})
}

/// Runs `handler` with `config` on invocations, and keeps it running (exporting) while
/// `then` runs with their outcomes: export happens after each response, so the runtime must
/// outlive the last one.
pub(crate) async fn drive<H, M, T, Then, Fut>(
    api: &FakeRuntimeApi,
    config: Config,
    handler: H,
    invocations: Vec<Invocation>,
    then: Then,
) -> T
where
    H: lambda_kit::Handler<M>,
    Then: FnOnce(Vec<Outcome>) -> Fut,
    Fut: Future<Output = T>,
{
    let ids: Vec<String> = invocations
        .into_iter()
        .map(|invocation| api.push(invocation))
        .collect();
    let runtime = Runtime::new(config).logging(false).serve(handler);
    let work = async {
        let mut outcomes = Vec::new();
        for id in &ids {
            outcomes.push(api.outcome(id).await);
        }
        then(outcomes).await
    };
    tokio::select! {
        stopped = runtime => panic!("the runtime stopped: {stopped:?}"),
        done = within(20, work) => done,
    }
}

/// One datagram as the X-Ray daemon reads it: the header line, then the document.
pub(crate) fn xray_document(datagram: &[u8]) -> Value {
    let newline = datagram.iter().position(|byte| *byte == b'\n').unwrap();
    assert_eq!(
        &datagram[..newline],
        br#"{"format": "json", "version": 1}"#,
        "the daemon's header line"
    );
    serde_json::from_slice(&datagram[newline + 1..]).unwrap()
}

pub(crate) fn is_hex(text: &str, digits: usize) -> bool {
    text.len() == digits
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// Checks `document` against AWS's segment document schema ("AWS X-Ray segment documents"),
/// for each field kind the exporter writes; `top` for an independent subsegment. Returns the
/// subsegments in it, itself first, by name.
pub(crate) fn check_subsegment(document: &Value, top: bool, found: &mut HashMap<String, Value>) {
    let object = document.as_object().unwrap();
    for key in object.keys() {
        assert!(
            [
                "name",
                "id",
                "trace_id",
                "parent_id",
                "type",
                "start_time",
                "end_time",
                "namespace",
                "fault",
                "error",
                "throttle",
                "cause",
                "aws",
                "http",
                "annotations",
                "metadata",
                "subsegments",
            ]
            .contains(&key.as_str()),
            "`{key}` is not a subsegment field: {document}"
        );
    }
    let name = document["name"].as_str().unwrap();
    assert!(!name.is_empty() && name.chars().count() <= 200, "{name}");
    assert!(is_hex(document["id"].as_str().unwrap(), 16), "{document}");
    if top {
        assert_eq!(document["type"], "subsegment");
        let trace_id = document["trace_id"].as_str().unwrap();
        let pieces: Vec<&str> = trace_id.split('-').collect();
        assert!(
            pieces.len() == 3 && pieces[0] == "1" && is_hex(pieces[1], 8) && is_hex(pieces[2], 24),
            "{trace_id}"
        );
        assert!(is_hex(document["parent_id"].as_str().unwrap(), 16));
    } else {
        for key in ["trace_id", "parent_id", "type"] {
            assert!(
                document.get(key).is_none(),
                "a nested subsegment has `{key}`"
            );
        }
    }
    let start = document["start_time"].as_f64().unwrap();
    let end = document["end_time"].as_f64().unwrap();
    assert!(
        start > 1.5e9 && start < 1e10 && end >= start,
        "{start} {end}"
    );
    if let Some(namespace) = document.get("namespace") {
        assert!(namespace == "aws" || namespace == "remote", "{namespace}");
    }
    let flags: Vec<&str> = ["fault", "error", "throttle"]
        .into_iter()
        .filter(|flag| document.get(*flag).is_some())
        .collect();
    for flag in &flags {
        assert_eq!(document[flag], true, "`{flag}` is a boolean set when true");
    }
    if let Some(aws) = document.get("aws") {
        assert_eq!(document["namespace"], "aws", "{document}");
        for (key, value) in aws.as_object().unwrap() {
            match key.as_str() {
                "operation" | "region" | "request_id" | "id_2" => assert!(value.is_string()),
                "retries" => assert!(value.is_u64()),
                other => panic!("`aws.{other}` is not written: {document}"),
            }
        }
    }
    if let Some(http) = document.get("http") {
        assert_eq!(http.as_object().unwrap().len(), 1, "{http}");
        assert!(http["response"]["status"].is_u64(), "{http}");
    }
    if !flags.is_empty() {
        for exception in document["cause"]["exceptions"].as_array().unwrap() {
            assert!(is_hex(exception["id"].as_str().unwrap(), 16));
            assert!(exception["message"].is_string());
            assert!(exception.get("type").is_none_or(Value::is_string));
        }
    }
    if let Some(annotations) = document.get("annotations") {
        for (key, value) in annotations.as_object().unwrap() {
            assert!(
                key.bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_'),
                "annotation key `{key}`"
            );
            assert!(
                value.is_string() || value.is_number() || value.is_boolean(),
                "annotation `{key}` = {value}"
            );
        }
    }
    if let Some(metadata) = document.get("metadata") {
        for (_, namespace) in metadata.as_object().unwrap() {
            assert!(namespace.is_object());
        }
    }
    found.insert(name.to_owned(), document.clone());
    for child in document
        .get("subsegments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check_subsegment(child, false, found);
    }
}

#[tokio::test]
async fn sampled_invocations_reach_the_xray_daemon_as_subsegments_and_unsampled_ones_do_not() {
    let _logs = CapturedLogs::start(LogFormat::Text, LogLevel::Info);
    let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = format!("udp:{}", daemon.local_addr().unwrap());
    let config = api
        .config_with(&[("AWS_XRAY_DAEMON_ADDRESS", &address)])
        .unwrap();
    let invocations = vec![
        Invocation::new(order("o-1", 2))
            .request_id("req-a")
            .trace_id(&header(ROOT_A, true)),
        Invocation::new(order("o-2", 1)).trace_id(&header(ROOT_B, false)),
        Invocation::new(order("o-3", 0)).trace_id(&header(ROOT_C, true)),
    ];
    let daemon = &daemon;
    let documents = drive(&api, config, place, invocations, |outcomes| async move {
        assert_eq!(outcomes[0].json::<String>(), "o-1");
        assert_eq!(outcomes[2].error().error_type(), "EmptyOrder");
        // Two sampled invocations, each one tree that fits one datagram.
        let mut documents = Vec::new();
        let mut buffer = vec![0; 65_536];
        while documents.len() < 2 {
            let (length, _) = daemon.recv_from(&mut buffer).await.unwrap();
            documents.push(xray_document(&buffer[..length]));
        }
        // Nothing more arrives: the unsampled invocation recorded nothing.
        let more = tokio::time::timeout(Duration::from_millis(300), daemon.recv_from(&mut buffer));
        assert!(more.await.is_err(), "an unexpected datagram");
        documents
    })
    .await;

    let by_trace: HashMap<&str, &Value> = documents
        .iter()
        .map(|document| (document["trace_id"].as_str().unwrap(), document))
        .collect();
    assert!(!by_trace.contains_key(ROOT_B));

    let mut spans = HashMap::new();
    let placed = by_trace[ROOT_A];
    check_subsegment(placed, true, &mut spans);
    assert_eq!(placed["parent_id"], PARENT);
    assert_eq!(placed["name"], "test-function");
    assert!(placed.get("fault").is_none());
    let metadata = &placed["metadata"]["default"];
    assert_eq!(metadata["faas.invocation_id"], "req-a");
    assert_eq!(metadata["faas.coldstart"], true);
    assert_eq!(metadata["faas.trigger"], "other");
    assert_eq!(metadata["cloud.resource_id"], ARN);
    assert_eq!(metadata["cloud.account.id"], "123456789012");
    assert_eq!(metadata["faas.name"], "test-function");
    assert_eq!(metadata["faas.version"], "$LATEST");
    assert_eq!(metadata["faas.max_memory"], 128 * 1024 * 1024);
    assert_eq!(metadata["cloud.provider"], "aws");
    assert_eq!(metadata["cloud.region"], "us-east-1");

    // The handler's spans, children of the invocation's, with their fields as annotations
    // and their events in the metadata.
    let load = &spans["load"];
    assert_eq!(load["annotations"]["order_id"], "o-1");
    assert_eq!(load["annotations"]["items"], 2);
    assert_eq!(load["metadata"]["default"]["events"][0]["name"], "loaded");
    assert_eq!(
        load["metadata"]["default"]["events"][0]["attributes"]["source"],
        "table"
    );
    let charge = &spans["charge"];
    assert_eq!(charge["annotations"]["amount"], 12.5);
    assert_eq!(charge["namespace"], "remote");
    assert!(charge["start_time"].as_f64() >= load["end_time"].as_f64());
    let children: Vec<&Value> = placed["subsegments"].as_array().unwrap().iter().collect();
    assert_eq!(children.len(), 2);

    // The failed invocation: a fault with the handler's error as its cause.
    let failed = by_trace[ROOT_C];
    let mut spans = HashMap::new();
    check_subsegment(failed, true, &mut spans);
    assert_eq!(failed["fault"], true);
    let exception = &failed["cause"]["exceptions"][0];
    assert_eq!(exception["type"], "EmptyOrder");
    assert_eq!(exception["message"], "EmptyOrder: an order needs items");
    assert_eq!(failed["metadata"]["default"]["faas.coldstart"], false);
    assert!(spans.contains_key("load") && !spans.contains_key("charge"));
}

/// What an OTLP/HTTP collector received.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) content_type: String,
    pub(crate) body: Bytes,
}

/// A real HTTP/1.1 server on 127.0.0.1 taking OTLP requests; with a gate, each answer waits
/// until the gate is opened.
pub(crate) struct Collector {
    address: SocketAddr,
    pub(crate) received: mpsc::UnboundedReceiver<Received>,
    _tasks: JoinSet<()>,
}

impl Collector {
    pub(crate) async fn start(gate: Option<Arc<Notify>>) -> Self {
        use http_body_util::{BodyExt, Full};
        use hyper::service::service_fn;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (sender, received) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let sender = sender.clone();
                let gate = gate.clone();
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let sender = sender.clone();
                    let gate = gate.clone();
                    async move {
                        let path = request.uri().path().to_owned();
                        let content_type = request
                            .headers()
                            .get("content-type")
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = request.into_body().collect().await?.to_bytes();
                        if let Some(gate) = &gate {
                            gate.notified().await;
                        }
                        let _ = sender.send(Received {
                            path,
                            content_type,
                            body,
                        });
                        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"{}",
                        ))))
                    }
                });
                connections.spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Self {
            address,
            received,
            _tasks: tasks,
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// An OTLP `AnyValue` in the JSON mapping: exactly one of its kinds.
fn any_value(value: &Value) -> (&str, &Value) {
    let object = value.as_object().unwrap();
    assert_eq!(object.len(), 1, "{value}");
    let (kind, inner) = object.iter().next().unwrap();
    match kind.as_str() {
        "stringValue" => assert!(inner.is_string()),
        // int64 is a decimal string in proto3's JSON mapping.
        "intValue" => assert!(inner.as_str().unwrap().parse::<i64>().is_ok(), "{inner}"),
        "doubleValue" => assert!(inner.is_number()),
        "boolValue" => assert!(inner.is_boolean()),
        other => panic!("an AnyValue of kind `{other}`"),
    }
    (kind.as_str(), inner)
}

/// Key-values in the JSON mapping, as a map from key to (kind, value).
pub(crate) fn key_values(list: &Value) -> HashMap<String, (String, Value)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            let (kind, value) = any_value(&pair["value"]);
            (
                pair["key"].as_str().unwrap().to_owned(),
                (kind.to_owned(), value.clone()),
            )
        })
        .collect()
}

fn unix_nanos(value: &Value) -> u64 {
    // fixed64 is a decimal string in proto3's JSON mapping.
    let nanos: u64 = value.as_str().unwrap().parse().unwrap();
    assert!(nanos > 1_500_000_000 * 1_000_000_000, "{nanos}");
    nanos
}

#[tokio::test]
async fn sampled_invocations_reach_an_otlp_collector_as_json() {
    let _logs = CapturedLogs::start(LogFormat::Text, LogLevel::Info);
    let mut collector = Collector::start(None).await;
    let api = FakeRuntimeApi::start().await.unwrap();
    let endpoint = collector.endpoint();
    let config = api
        .config_with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_SERVICE_NAME", "orders"),
            // Lambda sets it for every function: an OTLP endpoint wins.
            ("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:9"),
        ])
        .unwrap();
    let invocations = vec![
        Invocation::new(order("o-1", 2)).trace_id(&header(ROOT_A, true)),
        Invocation::new(order("o-2", 1)).trace_id(&header(ROOT_B, false)),
        Invocation::new(order("o-3", 0)).trace_id(&header(ROOT_C, true)),
    ];
    let exports = &mut collector.received;
    let received = drive(&api, config, place, invocations, |_| async move {
        let first = exports.recv().await.unwrap();
        let second = exports.recv().await.unwrap();
        let more = tokio::time::timeout(Duration::from_millis(300), exports.recv());
        assert!(more.await.is_err(), "an unexpected export");
        [first, second]
    })
    .await;

    let mut spans = Vec::new();
    for request in &received {
        assert_eq!(request.path, "/v1/traces");
        assert_eq!(request.content_type, "application/json");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let resource_spans = &body["resourceSpans"][0];
        let resource = key_values(&resource_spans["resource"]["attributes"]);
        assert_eq!(resource["service.name"].1, "orders");
        assert_eq!(resource["cloud.provider"].1, "aws");
        assert_eq!(resource["cloud.region"].1, "us-east-1");
        assert_eq!(resource["faas.name"].1, "test-function");
        assert_eq!(
            resource["faas.max_memory"],
            ("intValue".into(), Value::from("134217728"))
        );
        let scope_spans = &resource_spans["scopeSpans"][0];
        assert_eq!(scope_spans["scope"]["name"], "lambda-kit");
        spans.extend(scope_spans["spans"].as_array().unwrap().iter().cloned());
    }
    for span in &spans {
        assert!(is_hex(span["traceId"].as_str().unwrap(), 32), "{span}");
        assert!(is_hex(span["spanId"].as_str().unwrap(), 16), "{span}");
        assert!(is_hex(span["parentSpanId"].as_str().unwrap(), 16), "{span}");
        assert!(unix_nanos(&span["endTimeUnixNano"]) >= unix_nanos(&span["startTimeUnixNano"]));
        assert!(span["kind"].is_u64());
        key_values(&span["attributes"]);
        for event in span["events"].as_array().into_iter().flatten() {
            unix_nanos(&event["timeUnixNano"]);
            assert!(event["name"].is_string());
            key_values(&event["attributes"]);
        }
    }
    let hex_root = |root: &str| root[2..].replace('-', "");
    let of_trace = |root: &str| -> Vec<&Value> {
        spans
            .iter()
            .filter(|span| span["traceId"] == hex_root(root).as_str())
            .collect()
    };
    assert!(
        of_trace(ROOT_B).is_empty(),
        "the unsampled invocation was exported"
    );
    let placed = of_trace(ROOT_A);
    assert_eq!(placed.len(), 3, "{placed:#?}");
    let by_name: HashMap<&str, &Value> = placed
        .iter()
        .map(|span| (span["name"].as_str().unwrap(), *span))
        .collect();
    let invocation = by_name["test-function"];
    assert_eq!(invocation["parentSpanId"], PARENT);
    assert_eq!(invocation["kind"], 2, "SPAN_KIND_SERVER");
    let attributes = key_values(&invocation["attributes"]);
    assert_eq!(
        attributes["faas.coldstart"],
        ("boolValue".into(), Value::Bool(true))
    );
    assert_eq!(attributes["faas.trigger"].1, "other");
    assert_eq!(attributes["cloud.resource_id"].1, ARN);
    assert_eq!(attributes["cloud.account.id"].1, "123456789012");
    assert!(invocation.get("status").is_none());
    let load = by_name["load"];
    assert_eq!(load["parentSpanId"], invocation["spanId"]);
    assert_eq!(load["kind"], 1, "SPAN_KIND_INTERNAL");
    let attributes = key_values(&load["attributes"]);
    assert_eq!(attributes["order_id"].1, "o-1");
    assert_eq!(attributes["items"], ("intValue".into(), Value::from("2")));
    assert_eq!(load["events"][0]["name"], "loaded");
    let charge = by_name["charge"];
    assert_eq!(charge["kind"], 3, "SPAN_KIND_CLIENT");
    assert_eq!(
        key_values(&charge["attributes"])["amount"],
        ("doubleValue".into(), Value::from(12.5))
    );

    let failed = of_trace(ROOT_C);
    let invocation = failed
        .iter()
        .find(|span| span["name"] == "test-function")
        .unwrap();
    assert_eq!(invocation["status"]["code"], 2, "STATUS_CODE_ERROR");
    assert_eq!(
        invocation["status"]["message"],
        "EmptyOrder: an order needs items"
    );
    let exception = invocation["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["name"] == "exception")
        .unwrap();
    assert_eq!(
        key_values(&exception["attributes"])["exception.type"].1,
        "EmptyOrder"
    );
}

#[tokio::test]
async fn the_response_is_posted_before_the_export_is_answered() {
    // The collector answers the export only once the test has seen the invocation's response.
    // Were the export done before the response, the response would wait for the export's
    // answer (up to its 10 s timeout) and the test would not finish in time.
    let gate = Arc::new(Notify::new());
    let mut collector = Collector::start(Some(Arc::clone(&gate))).await;
    let api = FakeRuntimeApi::start().await.unwrap();
    let endpoint = collector.endpoint();
    let config = api
        .config_with(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &format!("{endpoint}/custom/traces"),
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10000"),
        ])
        .unwrap();
    let invocations = vec![
        Invocation::new(order("o-1", 1)).trace_id(&header(ROOT_A, true)),
        Invocation::new(order("o-2", 1)).trace_id(&header(ROOT_B, true)),
    ];
    let mut order_of_things = Vec::new();
    let (things, exports, api_ref, gate) =
        (&mut order_of_things, &mut collector.received, &api, &gate);
    drive(&api, config, place, Vec::new(), |_| async move {
        for invocation in invocations {
            let id = api_ref.push(invocation);
            let outcome = within(5, api_ref.outcome(&id)).await;
            things.push(format!("response {}", outcome.json::<String>()));
            gate.notify_one();
            let export = within(5, exports.recv()).await.unwrap();
            assert_eq!(export.path, "/custom/traces");
            // http/protobuf, OpenTelemetry's default.
            assert_eq!(export.content_type, "application/x-protobuf");
            assert!(!export.body.is_empty());
            things.push("export".to_owned());
        }
    })
    .await;
    assert_eq!(
        order_of_things,
        ["response o-1", "export", "response o-2", "export"]
    );
}

#[tokio::test]
async fn json_lines_carry_the_spans_and_the_trace_and_spawned_tasks_keep_the_invocation() {
    async fn audited(order: Order, _: Context) -> Result<String, Infallible> {
        load(&order).await;
        let span = tracing::info_span!("audit", auditor = "ada");
        let task = tokio::spawn(lambda_kit::instrument(async move {
            tracing::info!("audit in a task");
        }));
        {
            let _entered = span.enter();
            log::warn!("from the log crate: {}", order.id);
        }
        let _ = task.await;
        Ok(order.id)
    }

    let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Info);
    let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = daemon.local_addr().unwrap().to_string();
    let config = api
        .config_with(&[("AWS_XRAY_DAEMON_ADDRESS", &address)])
        .unwrap();
    let invocations = vec![
        Invocation::new(order("o-1", 2))
            .request_id("req-sampled")
            .trace_id(&header(ROOT_A, true)),
        Invocation::new(order("o-2", 2))
            .request_id("req-unsampled")
            .trace_id(&header(ROOT_B, false)),
    ];
    let daemon = &daemon;
    let document = drive(&api, config, audited, invocations, |_| async move {
        let mut buffer = vec![0; 65_536];
        let (length, _) = daemon.recv_from(&mut buffer).await.unwrap();
        xray_document(&buffer[..length])
    })
    .await;
    let mut spans = HashMap::new();
    check_subsegment(&document, true, &mut spans);

    let lines = logs.json_lines();
    let line = |request_id: &str, message: &str| -> Value {
        lines
            .iter()
            .find(|line| line["requestId"] == request_id && line["message"] == message)
            .unwrap_or_else(|| panic!("no line `{message}` of {request_id}: {lines:#?}"))
            .clone()
    };
    // In a span of the handler's: its fields, and the trace in both forms.
    let loaded = line("req-sampled", "loaded");
    assert_eq!(
        loaded["spans"],
        serde_json::json!([{"name": "load", "order_id": "o-1", "items": 2}])
    );
    assert_eq!(loaded["source"], "table");
    assert_eq!(loaded["xray_trace_id"], ROOT_A);
    assert_eq!(loaded["trace_id"], ROOT_A[2..].replace('-', ""));
    assert_eq!(loaded["span_id"], spans["load"]["id"]);
    // The task the handler spawned: the invocation's request id and trace, no span entered.
    let task = line("req-sampled", "audit in a task");
    assert_eq!(task["span_id"], document["id"]);
    assert!(task.get("spans").is_none(), "{task}");
    // A `log` record, in the span it was written in.
    let logged = line("req-sampled", "from the log crate: o-1");
    assert_eq!(logged["level"], "WARN");
    assert_eq!(logged["spans"][0]["auditor"], "ada");
    assert_eq!(logged["span_id"], spans["audit"]["id"]);

    // Unsampled: span fields, no trace.
    let loaded = line("req-unsampled", "loaded");
    assert_eq!(loaded["spans"][0]["order_id"], "o-2");
    assert!(loaded.get("xray_trace_id").is_none() && loaded.get("trace_id").is_none());
    line("req-unsampled", "audit in a task");
}

#[tokio::test]
async fn text_lines_keep_lambdas_shape_with_tracing_on() {
    let logs = CapturedLogs::start(LogFormat::Text, LogLevel::Info);
    let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = daemon.local_addr().unwrap().to_string();
    let config = api
        .config_with(&[("AWS_XRAY_DAEMON_ADDRESS", &address)])
        .unwrap();
    let invocations = vec![
        Invocation::new(order("o-1", 2))
            .request_id("req-1")
            .trace_id(&header(ROOT_A, true)),
    ];
    let daemon = &daemon;
    drive(&api, config, place, invocations, |_| async move {
        let mut buffer = vec![0; 65_536];
        daemon.recv_from(&mut buffer).await.unwrap();
    })
    .await;
    let lines = logs.lines();
    let loaded = lines.iter().find(|line| line.contains("loaded")).unwrap();
    let fields: Vec<&str> = loaded.split('\t').collect();
    assert_eq!(fields.len(), 4, "{loaded}");
    assert_eq!(fields[0], "[INFO]");
    assert_eq!(fields[2], "req-1");
    assert_eq!(fields[3], "loaded source=table");
}

/// Decodes an OTLP protobuf request with the `opentelemetry-proto` Python package (a peer
/// that is not ours) into plain JSON: ids in hex, attribute values with their kind.
const DECODE_PROTOBUF: &str = r#"
import json, sys
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
request = ExportTraceServiceRequest()
request.ParseFromString(sys.stdin.buffer.read())
def values(pairs):
    return {pair.key: [pair.value.WhichOneof("value"), getattr(pair.value, pair.value.WhichOneof("value"))] for pair in pairs}
out = []
for resource_spans in request.resource_spans:
    for scope_spans in resource_spans.scope_spans:
        for span in scope_spans.spans:
            out.append({
                "resource": values(resource_spans.resource.attributes),
                "scope": scope_spans.scope.name,
                "trace_id": span.trace_id.hex(),
                "span_id": span.span_id.hex(),
                "parent_span_id": span.parent_span_id.hex(),
                "name": span.name,
                "kind": span.kind,
                "start": span.start_time_unix_nano,
                "end": span.end_time_unix_nano,
                "attributes": values(span.attributes),
                "events": [{"name": event.name, "time": event.time_unix_nano, "attributes": values(event.attributes)} for event in span.events],
                "status": [span.status.code, span.status.message],
            })
print(json.dumps(out))
"#;

#[tokio::test]
async fn protobuf_exports_decode_with_opentelemetrys_own_definitions() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let found = Command::new("python3")
        .args(["-c", "import opentelemetry.proto"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !crate::support::tool(
        found,
        "Python's opentelemetry-proto",
        "pip install opentelemetry-proto",
    ) {
        return;
    }
    let _logs = CapturedLogs::start(LogFormat::Text, LogLevel::Info);
    let mut collector = Collector::start(None).await;
    let api = FakeRuntimeApi::start().await.unwrap();
    let endpoint = collector.endpoint();
    let config = api
        .config_with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ])
        .unwrap();
    let invocations = vec![
        Invocation::new(order("o-1", 2))
            .request_id("req-a")
            .trace_id(&header(ROOT_A, true)),
        Invocation::new(order("o-3", 0)).trace_id(&header(ROOT_C, true)),
    ];
    let exports = &mut collector.received;
    let received = drive(&api, config, place, invocations, |_| async move {
        [exports.recv().await.unwrap(), exports.recv().await.unwrap()]
    })
    .await;
    let mut spans = Vec::new();
    for request in received {
        assert_eq!(request.content_type, "application/x-protobuf");
        let mut python = Command::new("python3")
            .args(["-c", DECODE_PROTOBUF])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        python
            .stdin
            .take()
            .unwrap()
            .write_all(&request.body)
            .unwrap();
        let output = python.wait_with_output().unwrap();
        assert!(output.status.success(), "the request does not decode");
        let decoded: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        spans.extend(decoded);
    }
    let find = |root: &str, name: &str| -> Value {
        let trace_id = root[2..].replace('-', "");
        spans
            .iter()
            .find(|span| span["trace_id"] == trace_id.as_str() && span["name"] == name)
            .unwrap_or_else(|| panic!("no span `{name}` in {root}: {spans:#?}"))
            .clone()
    };
    let invocation = find(ROOT_A, "test-function");
    assert_eq!(invocation["scope"], "lambda-kit");
    assert_eq!(
        invocation["resource"]["service.name"],
        serde_json::json!(["string_value", "test-function"])
    );
    assert_eq!(
        invocation["resource"]["faas.max_memory"],
        serde_json::json!(["int_value", 134217728])
    );
    assert_eq!(invocation["parent_span_id"], PARENT);
    assert_eq!(invocation["kind"], 2);
    assert!(invocation["end"].as_u64() >= invocation["start"].as_u64());
    assert!(invocation["start"].as_u64().unwrap() > 1_500_000_000 * 1_000_000_000);
    assert_eq!(
        invocation["attributes"]["faas.invocation_id"],
        serde_json::json!(["string_value", "req-a"])
    );
    assert_eq!(
        invocation["attributes"]["faas.coldstart"],
        serde_json::json!(["bool_value", true])
    );
    assert_eq!(invocation["status"], serde_json::json!([0, ""]));
    let load = find(ROOT_A, "load");
    assert_eq!(load["parent_span_id"], invocation["span_id"]);
    assert_eq!(
        load["attributes"]["items"],
        serde_json::json!(["int_value", 2])
    );
    assert_eq!(load["events"][0]["name"], "loaded");
    assert_eq!(
        load["events"][0]["attributes"]["source"],
        serde_json::json!(["string_value", "table"])
    );
    let charge = find(ROOT_A, "charge");
    assert_eq!(charge["kind"], 3);
    assert_eq!(
        charge["attributes"]["amount"],
        serde_json::json!(["double_value", 12.5])
    );
    let failed = find(ROOT_C, "test-function");
    assert_eq!(
        failed["status"],
        serde_json::json!([2, "EmptyOrder: an order needs items"])
    );
    assert_eq!(failed["events"][0]["name"], "exception");
}
