//! AWS SDK calls recorded by `lambda_kit::aws::TraceInterceptor` as client spans of the
//! invocation's trace: a DynamoDB client against moto in server mode (request ids and error
//! codes as moto gives them), and against a local HTTP server that fails before it answers
//! (retries); exported to a real UDP socket as X-Ray documents and to a real HTTP server as
//! OTLP.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use lambda_kit::aws::TraceInterceptor;
use lambda_kit::testing::{CapturedLogs, FakeRuntimeApi, Invocation};
use lambda_kit::{Context, Diagnostic, LogFormat, LogLevel};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::idempotency::create_table;
use crate::support::Moto;
use crate::trace::{
    Collector, PARENT, ROOT_A, ROOT_B, check_subsegment, drive, header, key_values, xray_document,
};

const TABLE: &str = "orders";

/// Reads the order back in a span of its own; answers with the call's request id.
#[tracing::instrument(skip_all)]
async fn lookup(client: &Client, id: &str) -> Option<String> {
    let output = client
        .get_item()
        .table_name(TABLE)
        .key("id", AttributeValue::S(id.to_owned()))
        .send()
        .await
        .unwrap();
    assert!(output.item().is_some());
    output.request_id().map(str::to_owned)
}

/// Puts an order, looks it up, and puts into a table that does not exist; answers with the
/// request ids and the error code the SDK read from moto's answers.
async fn orders(client: Client, event: Value) -> Result<Value, Diagnostic> {
    let id = event["id"].as_str().unwrap().to_owned();
    let put = client
        .put_item()
        .table_name(TABLE)
        .item("id", AttributeValue::S(id.clone()))
        .send()
        .await
        .map_err(|error| Diagnostic::new("PutFailed", error.to_string()))?;
    let get = lookup(&client, &id).await;
    let missing = client
        .put_item()
        .table_name("missing")
        .item("id", AttributeValue::S(id))
        .send()
        .await
        .unwrap_err();
    Ok(json!({
        "put": put.request_id(),
        "get": get,
        "missing": {
            "request_id": missing.request_id(),
            "code": missing.code(),
            "message": missing.message(),
        },
    }))
}

fn order(id: &str) -> Value {
    json!({"id": id})
}

/// Every subsegment in `document`, itself first, each with its parent's id.
fn subsegments<'a>(
    document: &'a Value,
    parent: Option<&'a Value>,
    out: &mut Vec<(&'a Value, Option<&'a Value>)>,
) {
    out.push((document, parent));
    for child in document["subsegments"].as_array().into_iter().flatten() {
        subsegments(child, Some(&document["id"]), out);
    }
}

#[tokio::test]
async fn sdk_calls_reach_xray_as_aws_subsegments_with_the_request_ids_moto_gave() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let _logs = CapturedLogs::start(LogFormat::Text, LogLevel::Info);
    let client = moto.dynamodb_with(TraceInterceptor::new());
    // Outside an invocation: recorded nothing (no datagram below is of it).
    create_table(&client, TABLE).await;
    let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = daemon.local_addr().unwrap().to_string();
    let config = api
        .config_with(&[("AWS_XRAY_DAEMON_ADDRESS", &address)])
        .unwrap();
    let invocations = vec![
        Invocation::new(order("o-1")).trace_id(&header(ROOT_A, true)),
        Invocation::new(order("o-2")).trace_id(&header(ROOT_B, false)),
    ];
    let handler = move |event: Value, _: Context| orders(client.clone(), event);
    let daemon = &daemon;
    let (answers, document) = drive(&api, config, handler, invocations, |outcomes| async move {
        let mut buffer = vec![0; 65_536];
        let (length, _) = daemon.recv_from(&mut buffer).await.unwrap();
        let document = xray_document(&buffer[..length]);
        // Nothing more: the unsampled invocation's calls recorded nothing.
        let more = tokio::time::timeout(Duration::from_millis(300), daemon.recv_from(&mut buffer));
        assert!(more.await.is_err(), "an unexpected datagram");
        let answers: Vec<Value> = outcomes.iter().map(|outcome| outcome.json()).collect();
        (answers, document)
    })
    .await;
    let answer = &answers[0];
    for id in [
        &answer["put"],
        &answer["get"],
        &answer["missing"]["request_id"],
    ] {
        assert!(
            id.as_str().is_some_and(|id| !id.is_empty()),
            "moto's request id: {answer}"
        );
    }
    assert_eq!(answer["missing"]["code"], "ResourceNotFoundException");

    check_subsegment(&document, true, &mut HashMap::new());
    assert_eq!(document["trace_id"], ROOT_A);
    assert_eq!(document["parent_id"], PARENT);
    let mut all = Vec::new();
    subsegments(&document, None, &mut all);
    let calls: Vec<&(&Value, Option<&Value>)> = all
        .iter()
        .filter(|(segment, _)| segment["namespace"] == "aws")
        .collect();
    assert_eq!(calls.len(), 3, "{document:#}");
    let call = |operation: &str, request_id: &Value| {
        calls
            .iter()
            .find(|(segment, _)| {
                segment["aws"]["operation"] == operation
                    && segment["aws"]["request_id"] == *request_id
            })
            .unwrap_or_else(|| panic!("no {operation} call {request_id}: {document:#}"))
    };

    // PutItem: under the invocation's span.
    let (put, parent) = call("PutItem", &answer["put"]);
    assert_eq!(*parent, Some(&document["id"]));
    assert_eq!(put["name"], "DynamoDB");
    assert_eq!(put["aws"]["region"], "us-east-1");
    assert_eq!(put["aws"]["retries"], 0);
    assert_eq!(put["http"]["response"]["status"], 200);
    for flag in ["error", "fault", "throttle", "cause"] {
        assert!(put.get(flag).is_none(), "{put}");
    }
    assert_eq!(put["metadata"]["default"]["rpc.system"], "aws-api");
    assert_eq!(put["metadata"]["default"]["rpc.service"], "DynamoDB");
    assert!(put["start_time"].as_f64() >= document["start_time"].as_f64());
    assert!(put["end_time"].as_f64() <= document["end_time"].as_f64());

    // GetItem: under the handler's span it was made in.
    let (get, parent) = call("GetItem", &answer["get"]);
    let lookup = all
        .iter()
        .find(|(segment, _)| segment["name"] == "lookup")
        .unwrap()
        .0;
    assert_eq!(*parent, Some(&lookup["id"]));
    assert_eq!(get["http"]["response"]["status"], 200);

    // The table that does not exist: a client error (4xx), its code as the exception's type.
    let (missing, _) = call("PutItem", &answer["missing"]["request_id"]);
    assert_eq!(missing["error"], true);
    assert!(missing.get("fault").is_none() && missing.get("throttle").is_none());
    assert_eq!(missing["http"]["response"]["status"], 400);
    let exception = &missing["cause"]["exceptions"][0];
    assert_eq!(exception["type"], "ResourceNotFoundException");
    let message = answer["missing"]["message"].as_str().unwrap();
    assert_eq!(
        exception["message"],
        format!("ResourceNotFoundException: {message}")
    );
    // The invocation itself did not fail.
    assert!(document.get("fault").is_none() && document.get("error").is_none());
}

#[tokio::test]
async fn sdk_calls_reach_an_otlp_collector_as_client_spans() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let _logs = CapturedLogs::start(LogFormat::Text, LogLevel::Info);
    let client = moto.dynamodb_with(TraceInterceptor::new());
    create_table(&client, TABLE).await;
    let mut collector = Collector::start(None).await;
    let api = FakeRuntimeApi::start().await.unwrap();
    let endpoint = collector.endpoint();
    let config = api
        .config_with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ])
        .unwrap();
    let invocations = vec![
        Invocation::new(order("o-1")).trace_id(&header(ROOT_B, false)),
        Invocation::new(order("o-2")).trace_id(&header(ROOT_A, true)),
    ];
    let handler = move |event: Value, _: Context| orders(client.clone(), event);
    let exports = &mut collector.received;
    let (answers, export) = drive(&api, config, handler, invocations, |outcomes| async move {
        let export = exports.recv().await.unwrap();
        let more = tokio::time::timeout(Duration::from_millis(300), exports.recv());
        assert!(more.await.is_err(), "an unexpected export");
        let answers: Vec<Value> = outcomes.iter().map(|outcome| outcome.json()).collect();
        (answers, export)
    })
    .await;
    let answer = &answers[1];
    let body: Value = serde_json::from_slice(&export.body).unwrap();
    let spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    let hex_root = ROOT_A[2..].replace('-', "");
    assert!(
        spans
            .iter()
            .all(|span| span["traceId"] == hex_root.as_str())
    );
    let named =
        |name: &str| -> Vec<&Value> { spans.iter().filter(|span| span["name"] == name).collect() };
    let invocation = named("test-function")[0];
    let lookup = named("lookup")[0];
    let puts = named("DynamoDB.PutItem");
    assert_eq!(puts.len(), 2, "{spans:#?}");
    let attributes_of = |span: &Value| -> HashMap<String, Value> {
        key_values(&span["attributes"])
            .into_iter()
            .map(|(key, (_, value))| (key, value))
            .collect()
    };
    let put = puts
        .iter()
        .find(|span| attributes_of(span)["aws.request_id"] == answer["put"])
        .unwrap();
    assert_eq!(put["kind"], 3, "SPAN_KIND_CLIENT");
    assert_eq!(put["parentSpanId"], invocation["spanId"]);
    assert!(put.get("status").is_none(), "{put}");
    let attributes = key_values(&put["attributes"]);
    for (key, value) in [
        ("rpc.system", "aws-api"),
        ("rpc.service", "DynamoDB"),
        ("rpc.method", "PutItem"),
        ("cloud.region", "us-east-1"),
    ] {
        assert_eq!(
            attributes[key],
            ("stringValue".into(), Value::from(value)),
            "{key}"
        );
    }
    assert_eq!(
        attributes["http.response.status_code"],
        ("intValue".into(), Value::from("200"))
    );
    assert_eq!(
        attributes["aws.retries"],
        ("intValue".into(), Value::from("0"))
    );

    let get = named("DynamoDB.GetItem")[0];
    assert_eq!(get["parentSpanId"], lookup["spanId"]);
    assert_eq!(attributes_of(get)["aws.request_id"], answer["get"]);

    let missing = puts
        .iter()
        .find(|span| attributes_of(span)["aws.request_id"] == answer["missing"]["request_id"])
        .unwrap();
    assert_eq!(missing["status"]["code"], 2, "STATUS_CODE_ERROR");
    let message = answer["missing"]["message"].as_str().unwrap();
    assert_eq!(
        missing["status"]["message"],
        format!("ResourceNotFoundException: {message}")
    );
    let attributes = attributes_of(missing);
    assert_eq!(attributes["error.type"], "ResourceNotFoundException");
    assert_eq!(attributes["http.response.status_code"], "400");
    let exception = &missing["events"][0];
    assert_eq!(exception["name"], "exception");
    assert_eq!(
        key_values(&exception["attributes"])["exception.type"].1,
        "ResourceNotFoundException"
    );
}

/// A DynamoDB endpoint on 127.0.0.1 that answers each request with the next of `answers`
/// (status, body), with the request id `REQ-{n}`; the last answer repeats.
struct Scripted {
    endpoint: String,
    requests: Arc<AtomicUsize>,
    _tasks: JoinSet<()>,
}

impl Scripted {
    async fn start(answers: &'static [(u16, &'static str)]) -> Self {
        use http_body_util::Full;
        use hyper::service::service_fn;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let counted = Arc::clone(&counted);
                let service = service_fn(move |_: hyper::Request<hyper::body::Incoming>| {
                    let n = counted.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = answers[n.min(answers.len() - 1)];
                    async move {
                        let response = hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/x-amz-json-1.0")
                            .header("x-amzn-RequestId", format!("REQ-{}", n + 1))
                            .body(Full::new(Bytes::from_static(body.as_bytes())))
                            .unwrap();
                        Ok::<_, Infallible>(response)
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
            endpoint,
            requests,
            _tasks: tasks,
        }
    }

    fn dynamodb(&self) -> Client {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};

        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .interceptor(TraceInterceptor::new())
            .build();
        Client::from_conf(config)
    }
}

#[tokio::test]
async fn retries_are_counted_and_the_last_answer_is_recorded() {
    static ANSWERS: [(u16, &str); 2] = [
        (
            500,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"try again"}"#,
        ),
        (200, "{}"),
    ];
    let _logs = CapturedLogs::start(LogFormat::Text, LogLevel::Info);
    let server = Scripted::start(&ANSWERS).await;
    let client = server.dynamodb();
    let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = daemon.local_addr().unwrap().to_string();
    let config = api
        .config_with(&[("AWS_XRAY_DAEMON_ADDRESS", &address)])
        .unwrap();
    let handler = move |_: Value, _: Context| {
        let client = client.clone();
        async move {
            client
                .put_item()
                .table_name(TABLE)
                .item("id", AttributeValue::S("o-1".into()))
                .send()
                .await
                .map(|_| ())
                .map_err(|error| Diagnostic::new("PutFailed", format!("{error:?}")))
        }
    };
    let invocations = vec![Invocation::new(order("o-1")).trace_id(&header(ROOT_A, true))];
    let daemon = &daemon;
    let document = drive(&api, config, handler, invocations, |outcomes| async move {
        outcomes[0].json::<()>();
        let mut buffer = vec![0; 65_536];
        let (length, _) = daemon.recv_from(&mut buffer).await.unwrap();
        xray_document(&buffer[..length])
    })
    .await;
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
    check_subsegment(&document, true, &mut HashMap::new());
    let put = &document["subsegments"][0];
    assert_eq!(put["name"], "DynamoDB");
    assert_eq!(
        put["aws"],
        json!({"operation": "PutItem", "region": "eu-west-1", "request_id": "REQ-2", "retries": 1})
    );
    assert_eq!(put["http"]["response"]["status"], 200);
    assert!(
        put.get("fault").is_none() && put.get("cause").is_none(),
        "{put}"
    );
}
