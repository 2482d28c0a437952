//! Traces on the local Lambda, from exporters that are not lambdakit's: Python functions on
//! awslambdaric sending spans with OpenTelemetry's own SDK and OTLP/HTTP exporter, and X-Ray
//! segment documents over UDP, each seen as children of the function segment serve makes, in
//! `serve --traces`' waterfalls and through `cargo lambdakit traces`; and the OTLP receiver's
//! answers to good, partly good and bad requests.

use std::net::SocketAddr;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::{Serve, executable_script, invoke, lambdakit, request, tool};

/// The Python with awslambdaric and OpenTelemetry's SDK and OTLP/HTTP exporter, or why the
/// test cannot run: under CI it must.
fn python_with_otel() -> Option<String> {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sys, awslambdaric, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http; print(sys.executable)",
        ])
        .output()
        .ok()
        .filter(|output| output.status.success());
    tool(
        output.is_some(),
        "awslambdaric and OpenTelemetry for Python",
        "`pip install awslambdaric opentelemetry-sdk opentelemetry-exporter-otlp-proto-http`",
    );
    output.map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A serve (`--traces`) of Python functions on awslambdaric, `name=module.handler` each;
/// its scratch directory is removed with the returned guard.
fn serve_python(python: &str, functions: &[(&str, &str)]) -> (Serve, Scratch) {
    let code = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/python");
    let dir = std::env::temp_dir().join(format!("lambdakit-traces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut command = lambdakit();
    command.args(["serve", "--port", "0", "--traces"]);
    for (name, handler) in functions {
        let bootstrap = executable_script(
            &dir.join(name),
            // The exporter gzips its requests, as OTEL_EXPORTER_OTLP_COMPRESSION asks.
            &format!(
                "export PYTHONPATH={code:?}\nexport OTEL_EXPORTER_OTLP_COMPRESSION=gzip\nexec {python:?} -m awslambdaric {handler}"
            ),
        );
        command
            .arg("--bootstrap")
            .arg(format!("{name}={}", bootstrap.display()));
    }
    (Serve::spawn(command), Scratch(dir))
}

struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `cargo lambdakit traces ARGS --url` of `serve`.
fn traces(serve: &Serve, args: &[&str]) -> Output {
    lambdakit()
        .arg("traces")
        .args(args)
        .args(["--url", &serve.endpoint()])
        .output()
        .unwrap()
}

/// `cargo lambdakit traces ARGS --output json`, which must succeed.
fn traces_json(serve: &Serve, args: &[&str]) -> Value {
    let output = traces(serve, &[args, &["--output", "json"]].concat());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The span named `name` of a trace's JSON.
fn span<'a>(trace: &'a Value, name: &str) -> &'a Value {
    trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|span| span["name"] == name)
        .unwrap_or_else(|| panic!("no span `{name}` in {trace}"))
}

/// The span id of the function segment of `function` in a trace's JSON, checked to be Lambda's.
fn function_segment(trace: &Value, function: &str) -> String {
    let segment = span(trace, function);
    assert_eq!(segment["source"], "lambda", "{segment}");
    assert_eq!(segment["origin"], "AWS::Lambda::Function", "{segment}");
    assert_eq!(segment["kind"], "server", "{segment}");
    segment["span_id"].as_str().unwrap().to_owned()
}

/// The line of `lines` that has `text`.
fn line_with<'a>(lines: &'a [String], text: &str) -> &'a str {
    lines
        .iter()
        .find(|line| line.contains(text))
        .unwrap_or_else(|| panic!("no line has `{text}`: {lines:#?}"))
}

#[test]
fn spans_from_pythons_otlp_exporter_and_xray_documents_join_the_function_segment() {
    let Some(python) = python_with_otel() else {
        return;
    };
    let (serve, _scratch) = serve_python(
        &python,
        &[
            ("otel", "otel_handler.handle"),
            ("xray", "xray_handler.handle"),
        ],
    );
    let otel_root = "1-5759e988-bd862e3fe1be46a994272793";
    let caller = format!("Root={otel_root};Parent=53995c3f42cd8ad8;Sampled=1");
    let answer = invoke(
        serve.address,
        "otel",
        &[("X-Amzn-Trace-Id", &caller)],
        b"{}",
    );
    assert_eq!(answer.json(), json!({"traced": true}));
    // No caller's header: serve starts a trace, sampled.
    let xray_root = "1-6759e988-0123456789abcdef01234567";
    let answer = invoke(
        serve.address,
        "xray",
        &[("X-Amzn-Trace-Id", &format!("Root={xray_root}"))],
        b"{}",
    );
    assert_eq!(answer.json(), json!({"sent": true}));

    // `serve --traces` printed each waterfall once its spans were in.
    let output = serve.output_with(&[
        &format!("trace {otel_root}  otel  "),
        "request OTEL-REQ-7",
        "ERROR quantity must be at least 1",
        &format!("trace {xray_root}  xray  "),
        "request XRAY-REQ-42",
        "ERROR NoSuchKey: The specified key does not exist.",
    ]);
    assert!(line_with(&output, "request OTEL-REQ-7").starts_with("    DynamoDB.GetItem "));
    assert!(line_with(&output, "  handle order ").starts_with("  handle order "));
    assert!(line_with(&output, "XRAY-REQ-42").starts_with("    S3 "));
    assert!(
        line_with(&output, "  checkout ").contains(" ms"),
        "{output:#?}"
    );
    assert!(
        !output.iter().any(|line| line.contains('\x1b')),
        "no color off a terminal"
    );

    // `traces` lists both, newest first, in the JSON shape scripts read.
    let listed = traces_json(&serve, &[]);
    let summaries = listed["traces"].as_array().unwrap();
    let ids: Vec<&str> = summaries
        .iter()
        .map(|summary| summary["xray_trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(&ids[..2], [xray_root, otel_root], "{listed}");
    let summary = &summaries[1];
    assert_eq!(summary["trace_id"], "5759e988bd862e3fe1be46a994272793");
    assert_eq!(summary["name"], "otel");
    assert_eq!(
        (summary["span_count"].as_u64(), summary["errors"].as_u64()),
        (Some(4), Some(1))
    );
    assert_eq!(summary["in_progress"], false);
    assert!(summary["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(summary["start_time"].as_f64().unwrap() > 1.7e9);

    // The OpenTelemetry spans are children of Lambda's segment, itself the caller's child.
    let trace = traces_json(&serve, &[otel_root]);
    let segment = function_segment(&trace, "otel");
    assert_eq!(span(&trace, "otel")["parent_id"], "53995c3f42cd8ad8");
    assert!(span(&trace, "otel")["request_id"].is_string());
    let handle = span(&trace, "handle order");
    assert_eq!(handle["parent_id"], segment.as_str());
    assert_eq!(handle["source"], "otlp");
    assert_eq!(handle["attributes"]["service.name"], "otel-orders");
    let call = span(&trace, "DynamoDB.GetItem");
    assert_eq!(call["parent_id"], handle["span_id"]);
    assert_eq!(
        (&call["kind"], &call["request_id"]),
        (&json!("client"), &json!("OTEL-REQ-7"))
    );
    assert_eq!(
        span(&trace, "validate")["error"],
        "quantity must be at least 1"
    );

    // The X-Ray subsegment, sent in progress and then complete, is kept complete.
    let trace = traces_json(&serve, &[xray_root]);
    let segment = function_segment(&trace, "xray");
    assert_eq!(span(&trace, "xray").get("parent_id"), None);
    let checkout = span(&trace, "checkout");
    assert_eq!(checkout["parent_id"], segment.as_str());
    assert!(checkout["end_time"].as_f64().is_some(), "{checkout}");
    assert_eq!(checkout["attributes"]["annotation.order"], "o-1");
    let s3 = span(&trace, "S3");
    assert_eq!(s3["parent_id"], checkout["span_id"]);
    assert_eq!(
        (&s3["kind"], &s3["request_id"]),
        (&json!("client"), &json!("XRAY-REQ-42"))
    );
    assert_eq!(s3["attributes"]["aws.operation"], "GetObject");
    assert_eq!(trace["in_progress"], false);

    // As text: the list, and the waterfall (plain: not a terminal).
    let listed = traces(&serve, &[]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.starts_with("TRACE "), "{listed}");
    assert!(
        listed.contains(otel_root) && listed.contains(xray_root),
        "{listed}"
    );
    let shown = traces(&serve, &["5759e988bd862e3fe1be46a994272793"]);
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert!(
        shown.starts_with(&format!("trace {otel_root}  otel  ")),
        "{shown}"
    );
    assert!(shown.contains("\n    DynamoDB.GetItem "), "{shown}");

    // A caller's `Sampled=0` stands: nothing is kept, and the trace is unknown.
    let unsampled = "1-7759e988-0123456789abcdef01234567";
    let answer = invoke(
        serve.address,
        "xray",
        &[("X-Amzn-Trace-Id", &format!("Root={unsampled};Sampled=0"))],
        b"{}",
    );
    assert_eq!(answer.json(), json!({"sent": false}));
    let unknown = traces(&serve, &[unsampled]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: serve keeps no trace `{unsampled}`\nhint: `cargo lambdakit traces` lists"
        )),
        "{stderr}"
    );
    let malformed = traces(&serve, &["not-a-trace"]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("`ID` is `not-a-trace`"));
}

/// The OTLP receiver's address, as serve prints it.
fn receiver(serve: &Serve) -> SocketAddr {
    let output = serve.output_with(&["OTLP/HTTP receiver on http://"]);
    let line = line_with(&output, "OTLP/HTTP receiver on http://");
    let (_, rest) = line.split_once("OTLP/HTTP receiver on http://").unwrap();
    rest.split_once(' ').unwrap().0.parse().unwrap()
}

/// A POST to the receiver's `/v1/traces` of `body` as `content_type`.
fn post(address: SocketAddr, content_type: &str, body: &[u8]) -> crate::support::Answer {
    request(
        address,
        &format!("POST /v1/traces HTTP/1.1\r\nContent-Type: {content_type}"),
        body,
    )
}

/// The token the receiver's serve requires of its Lambda API (and so of `traces`).
const TOKEN: &str = "traces-test-token-0123456789";

#[test]
fn the_otlp_receiver_answers_as_the_specification_says() {
    // No instance starts: only the receiver is used. This serve requires a token, which
    // `traces` passes on; the receiver itself, like Lambda's daemon, answers any local caller.
    let dir = std::env::temp_dir().join(format!("lambdakit-otlp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _scratch = Scratch(dir.clone());
    let bootstrap = executable_script(&dir.join("idle"), "exit 1");
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--token", TOKEN, "--bootstrap"])
        .arg(format!("idle={}", bootstrap.display()));
    let serve = Serve::spawn(command);
    let address = receiver(&serve);
    let refused = traces(&serve, &[]);
    assert_eq!(refused.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with(
            "error: serve refused to show its traces: MissingAuthenticationTokenException: "
        ) && stderr.contains("\nhint: a serve started with `--token`"),
        "{stderr}"
    );
    assert_eq!(
        traces_json(&serve, &["--token", TOKEN]),
        json!({"traces": []})
    );

    // JSON with one good span and one whose trace id is all zeros: the good one is kept, the
    // other counted in `partialSuccess`.
    let span = |trace_id: &str, name: &str| {
        json!({"traceId": trace_id, "spanId": "eee19b7ec3c1b174", "name": name, "kind": 3,
               "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000",
               "attributes": [{"key": "aws.request_id", "value": {"stringValue": "JSON-REQ-1"}}]})
    };
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        span("8a3c60f7d188f8fa79d48a391a778fa6", "Sqs.SendMessage"),
        span("00000000000000000000000000000000", "zero"),
    ]}]}]});
    let answer = post(address, "application/json", body.to_string().as_bytes());
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let partial = &answer.json()["partialSuccess"];
    assert_eq!(partial["rejectedSpans"], 1, "{partial}");
    assert!(
        partial["errorMessage"]
            .as_str()
            .unwrap()
            .contains("1 span was refused")
    );
    let trace = traces_json(
        &serve,
        &["8a3c60f7d188f8fa79d48a391a778fa6", "--token", TOKEN],
    );
    assert_eq!(trace["spans"].as_array().unwrap().len(), 1);
    assert_eq!(trace["spans"][0]["request_id"], "JSON-REQ-1");
    assert_eq!(trace["duration_ms"].as_f64().map(f64::round), Some(250.0));

    // All good: `200` with an empty response message.
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [span("9a3c60f7d188f8fa79d48a391a778fa6", "ok")]}]}]});
    let answer = post(address, "application/json", body.to_string().as_bytes());
    assert_eq!((answer.status, answer.json()), (200, json!({})));
    let answer = post(address, "application/x-protobuf", b"");
    assert_eq!((answer.status, answer.body.len()), (200, 0));

    // Bodies that cannot be decoded: `400` with a `Status` in the request's encoding.
    let answer = post(address, "application/x-protobuf", b"\x0a\x09not a message");
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.header("content-type"),
        Some("application/x-protobuf")
    );
    assert!(String::from_utf8_lossy(&answer.body).contains("cannot be decoded"));
    let answer = post(address, "application/json", b"{\"resourceSpans\": ");
    assert_eq!(answer.status, 400);
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );

    // Another content type, method or path.
    assert_eq!(post(address, "text/plain", b"{}").status, 415);
    assert_eq!(request(address, "GET /v1/traces HTTP/1.1", b"").status, 405);
    assert_eq!(post_to(address, "/v1/metrics").status, 404);
}

fn post_to(address: SocketAddr, path: &str) -> crate::support::Answer {
    request(
        address,
        &format!("POST {path} HTTP/1.1\r\nContent-Type: application/json"),
        b"{}",
    )
}

/// `cargo lambdakit traces --remote ARGS` against `moto`; no project is needed.
fn remote(moto: &crate::moto::Moto, args: &[&str]) -> Output {
    let mut command = lambdakit();
    command.args(["traces", "--remote"]).args(args);
    moto.environment(&mut command).output().unwrap()
}

fn remote_json(moto: &crate::moto::Moto, args: &[&str]) -> Value {
    let output = remote(moto, &[args, &["--output", "json"]].concat());
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// An X-Ray trace id of a trace started at `seconds` (since the epoch).
fn xray_trace_id(seconds: f64, random: &str) -> String {
    format!("1-{:08x}-{random}", seconds as u64)
}

#[test]
fn traces_remote_reads_segments_put_into_xray() {
    let Some(moto) = crate::moto::Moto::start() else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // Two recent traces and one from two hours ago. The first: Lambda's function segment with
    // an SDK call nested in it, and a subsegment sent on its own, as lambda-kit sends them.
    let (first_at, second_at, old_at) = (now - 120.0, now - 60.0, now - 7200.0);
    let first = xray_trace_id(first_at, "0123456789abcdef01234567");
    let second = xray_trace_id(second_at, "89abcdef0123456789abcdef");
    let old = xray_trace_id(old_at, "fedcba9876543210fedcba98");
    let segment = json!({
        "name": "orders", "id": "70de5b6f19ff9a0a", "trace_id": first,
        "origin": "AWS::Lambda::Function", "start_time": first_at, "end_time": first_at + 0.3,
        "aws": {"request_id": "inv-1"},
        "subsegments": [{
            "name": "DynamoDB", "id": "53995c3f42cd8ad8", "namespace": "aws",
            "start_time": first_at + 0.05, "end_time": first_at + 0.1,
            "aws": {"operation": "PutItem", "request_id": "DDB-REQ-1"},
            "error": true, "cause": {"exceptions": [{"type": "ConditionalCheckFailedException", "message": "The conditional request failed"}]}
        }]
    });
    let handler = json!({
        "type": "subsegment", "name": "handle order", "id": "6b55dcc497934f1a", "trace_id": first,
        "parent_id": "70de5b6f19ff9a0a", "start_time": first_at + 0.02, "end_time": first_at + 0.25
    });
    let later = json!({
        "name": "refunds", "id": "1a2b3c4d5e6f7081", "trace_id": second,
        "origin": "AWS::Lambda::Function", "start_time": second_at, "end_time": second_at + 0.04
    });
    let older = json!({
        "name": "orders", "id": "0a0b0c0d0e0f1011", "trace_id": old,
        "start_time": old_at, "end_time": old_at + 1.0
    });
    let documents: Vec<String> = [segment, handler, later, older]
        .iter()
        .map(Value::to_string)
        .collect();
    let mut args = vec!["xray", "put-trace-segments", "--trace-segment-documents"];
    args.extend(documents.iter().map(String::as_str));
    let put = moto.aws(&args);
    assert_eq!(
        serde_json::from_str::<Value>(&put).unwrap()["UnprocessedTraceSegments"],
        json!([])
    );

    // The list: the last ten minutes by default, newest first, summarised as serve's are.
    let listed = remote_json(&moto, &[]);
    let summaries = listed["traces"].as_array().unwrap();
    let ids: Vec<&str> = summaries
        .iter()
        .map(|summary| summary["xray_trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "{listed}");
    let summary = &summaries[1];
    assert_eq!(summary["name"], "orders");
    assert_eq!(
        (summary["span_count"].as_u64(), summary["errors"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(summary["duration_ms"].as_f64().map(f64::round), Some(300.0));
    assert_eq!(summary["in_progress"], false);
    // `--since` widens the window; `--limit` keeps the newest.
    let wider = remote_json(&moto, &["--since", "3h"]);
    assert_eq!(wider["traces"].as_array().unwrap().len(), 3, "{wider}");
    assert_eq!(wider["traces"][2]["xray_trace_id"], old.as_str());
    let newest = remote_json(&moto, &["--since", "3h", "--limit", "1"]);
    assert_eq!(newest["traces"][0]["xray_trace_id"], second.as_str());
    assert_eq!(newest["traces"].as_array().unwrap().len(), 1);
    let text = remote(&moto, &[]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("TRACE "), "{text}");
    assert!(text.contains(&first) && text.contains(&second) && !text.contains(&old));

    // One trace: every segment document read, each under its parent, as serve shows them.
    let trace = remote_json(&moto, &[&first]);
    // The X-Ray id without its version (`1-`) and dashes: W3C's 32 hex digits.
    let w3c = first.strip_prefix("1-").unwrap().replace('-', "");
    assert_eq!(trace["trace_id"], w3c);
    let segment = span(&trace, "orders");
    assert_eq!(
        (&segment["source"], &segment["kind"], &segment["origin"]),
        (
            &json!("xray"),
            &json!("server"),
            &json!("AWS::Lambda::Function")
        )
    );
    assert_eq!(
        span(&trace, "handle order")["parent_id"],
        "70de5b6f19ff9a0a"
    );
    let call = span(&trace, "DynamoDB");
    assert_eq!(call["parent_id"], "70de5b6f19ff9a0a");
    assert_eq!(
        (&call["kind"], &call["request_id"]),
        (&json!("client"), &json!("DDB-REQ-1"))
    );
    assert_eq!(
        call["error"],
        "ConditionalCheckFailedException: The conditional request failed"
    );
    let shown = remote(&moto, &[&first]);
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert!(
        shown.starts_with(&format!(
            "trace {first}  orders  300.0 ms  3 spans, 1 error"
        )),
        "{shown}"
    );
    assert!(shown.contains("\n  handle order "), "{shown}");
    assert!(
        line_with(
            &shown.lines().map(str::to_owned).collect::<Vec<_>>(),
            "DDB-REQ-1"
        )
        .starts_with("  DynamoDB "),
        "{shown}"
    );

    // A trace X-Ray does not have is named, with where to look.
    let unknown = "1-5759e988-00000000000000000000dead";
    let missing = remote(&moto, &[unknown]);
    assert_eq!(missing.status.code(), Some(4), "{missing:?}");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: X-Ray has no trace `{unknown}` in `eu-west-1`\nhint: `cargo lambdakit traces --remote` lists"
        )),
        "{stderr}"
    );
}

#[test]
fn traces_remote_says_what_is_missing_to_reach_xray() {
    let Some(moto) = crate::moto::Moto::start() else {
        return;
    };
    // No region anywhere.
    let mut command = lambdakit();
    command.args(["traces", "--remote"]);
    moto.environment(&mut command).env_remove("AWS_REGION");
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(4), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: no AWS region is configured\nhint: set `AWS_REGION`"),
        "{stderr}"
    );
    // No credentials.
    let mut command = lambdakit();
    command.args(["traces", "--remote"]);
    moto.environment(&mut command)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: no AWS credentials were found"),
        "{stderr}"
    );
    // An endpoint where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut command = lambdakit();
    command.args(["traces", "--remote", "1-5759e988-bd862e3fe1be46a994272793"]);
    moto.environment(&mut command)
        .env("AWS_ENDPOINT_URL", format!("http://{closed}"));
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(4), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: nothing answers at `http://{closed}`, the AWS endpoint configured (`AWS_ENDPOINT_URL`"
        )) && stderr.contains("\nhint: start what it points at (LocalStack, moto), or unset it"),
        "{stderr}"
    );
    // Flags of one side only.
    let output = lambdakit()
        .args(["traces", "--since", "1h"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--remote"));
    let output = lambdakit()
        .args(["traces", "--region", "eu-west-1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("add `--remote`"));
}

/// REPORT's Duration, in milliseconds, of `request_id` in serve's output.
fn report_duration(output: &[String], request_id: &str) -> f64 {
    let line = line_with(output, &format!("REPORT RequestId: {request_id}\t"));
    let (_, rest) = line.split_once("\tDuration: ").unwrap();
    rest.split_once(" ms").unwrap().0.parse().unwrap()
}

#[test]
fn a_lambda_kit_function_in_serve_is_one_trace_segment_invocation_and_handler_span() {
    // `behave` is built with lambda-kit's `trace` feature; serve hands it both the daemon's
    // address and the OTLP endpoint, and lambda-kit exports OTLP there.
    let serve = Serve::start_with("test-functions", &["--bin", "behave", "--traces"]);
    let root = "1-6759e988-00112233445566778899aabb";
    let answer = invoke(
        serve.address,
        "behave",
        &[("X-Amzn-Trace-Id", &format!("Root={root};Sampled=1"))],
        br#"{"span": true, "sleep_ms": 30, "print": "pricing"}"#,
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let request_id = answer.json()["requestId"].as_str().unwrap().to_owned();
    let output = serve.output_with(&[&format!("trace {root}  behave  "), "    handle orders "]);

    // One trace: Lambda's segment, lambda-kit's invocation span under it, the handler's span
    // under that; through `traces` and serve's `/lambdakit/traces` alike.
    let trace = traces_json(&serve, &[root]);
    let hex = "6759e98800112233445566778899aabb";
    let served = crate::support::get(serve.address, &format!("/lambdakit/traces/{hex}"));
    assert_eq!(served.json(), trace);
    assert_eq!(trace["span_count"], 3, "{trace}");
    let spans = trace["spans"].as_array().unwrap();
    let segment = function_segment(&trace, "behave");
    assert_eq!(span(&trace, "behave")["request_id"], request_id.as_str());
    let invocation = spans
        .iter()
        .find(|span| span["source"] == "otlp" && span["name"] == "behave")
        .unwrap_or_else(|| panic!("no invocation span in {trace}"));
    assert_eq!(invocation["parent_id"], segment.as_str(), "{trace}");
    assert_eq!(
        invocation["attributes"]["faas.invocation_id"],
        request_id.as_str()
    );
    let handler = span(&trace, "handle orders");
    assert_eq!(handler["parent_id"], invocation["span_id"], "{trace}");
    assert_eq!(handler["source"], "otlp");
    assert!(
        handler["end_time"].as_f64().unwrap() - handler["start_time"].as_f64().unwrap() >= 0.03
    );
    let listed = traces_json(&serve, &[]);
    assert_eq!(listed["traces"][0]["xray_trace_id"], root, "{listed}");

    // The segment ends when REPORT's Duration does.
    let reported = report_duration(&output, &request_id);
    let segment = span(&trace, "behave");
    let lasted =
        (segment["end_time"].as_f64().unwrap() - segment["start_time"].as_f64().unwrap()) * 1000.0;
    assert!(
        (lasted - reported).abs() < 0.01,
        "segment {lasted} ms, REPORT {reported} ms"
    );
}

#[test]
fn an_instance_that_fails_to_start_gets_a_fault_segment_with_the_init_error() {
    let dir = std::env::temp_dir().join(format!("lambdakit-init-fault-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _scratch = Scratch(dir.clone());
    let bootstrap = executable_script(&dir.join("broken"), "echo 'no config' >&2\nexit 3");
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--bootstrap"])
        .arg(format!("broken={}", bootstrap.display()));
    let serve = Serve::spawn(command);
    let root = "1-6759e988-aabbccddeeff001122334455";
    let answer = invoke(
        serve.address,
        "broken",
        &[("X-Amzn-Trace-Id", &format!("Root={root};Sampled=1"))],
        b"{}",
    );
    let error_type = answer.json()["errorType"].as_str().unwrap().to_owned();
    let trace = traces_json(&serve, &[root]);
    assert_eq!(trace["span_count"], 1, "{trace}");
    function_segment(&trace, "broken");
    let segment = span(&trace, "broken");
    assert_eq!(segment["attributes"]["fault"], true, "{segment}");
    let error = segment["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("{error_type}: ")) && error.len() > error_type.len() + 2,
        "{error}"
    );
    assert_eq!(trace["errors"], 1);
    assert!(segment["end_time"].as_f64().unwrap() >= segment["start_time"].as_f64().unwrap());
}
