//! What touches the whole process, tested on a child process: this test binary started again
//! to run one of the `child_*` functions below, against a fake Runtime API in the parent.

use std::convert::Infallible;
use std::process::{Output, Stdio};

use lambda_kit::testing::{FakeRuntimeApi, Invocation};
use lambda_kit::{Context, Diagnostic, Runtime};
use serde_json::{Value, json};

use crate::support::within;

/// Names the child function a child process is started for; the others return at once.
const CHILD_VAR: &str = "LAMBDA_KIT_TEST_CHILD";

const TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn is_child(name: &str) -> bool {
    #[allow(clippy::disallowed_methods)] // The test reads its own environment, not the runtime.
    let wanted = std::env::var(CHILD_VAR);
    wanted.as_deref() == Ok(name)
}

/// Starts this test binary again to run `process::{name}` with `vars` as its whole environment.
fn spawn_child(name: &str, vars: &[(&str, &str)]) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            &format!("process::{name}"),
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .envs(vars.iter().copied())
        .env(CHILD_VAR, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

fn lambda_vars(api: &str) -> Vec<(&str, &str)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", api),
        ("AWS_LAMBDA_FUNCTION_NAME", "child"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
    ]
}

/// The child's log lines. The test harness writes `test NAME ... ` before the test runs and
/// `ok` after it, so the first log line may share a line with it.
fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.find("{\"timestamp\"").map(|start| &line[start..]))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn terminate(child: &tokio::process::Child) {
    let pid = child.id().expect("the child is still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn trace_echo(_: Value, ctx: Context) -> Result<Value, Infallible> {
    #[allow(clippy::disallowed_methods)] // What an AWS SDK would read.
    let from_env = std::env::var("_X_AMZN_TRACE_ID").ok();
    tracing::info!("echoing the trace");
    Ok(json!({"env": from_env, "context": ctx.xray_trace_id()}))
}

#[test]
#[ignore = "started as a child process by `run_serves_from_the_environment_and_stops_on_sigterm`"]
fn child_serves_with_a_shutdown_hook() -> Result<(), lambda_kit::Error> {
    if !is_child("child_serves_with_a_shutdown_hook") {
        return Ok(());
    }
    Runtime::from_env()?
        .on_shutdown(|| async { tracing::info!("shutdown hook ran") })
        .run(trace_echo)
}

#[tokio::test]
async fn run_serves_from_the_environment_and_stops_on_sigterm() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.runtime_api();
    let child = spawn_child("child_serves_with_a_shutdown_hook", &lambda_vars(&address));
    let other_trace = TRACE.replace("Sampled=1", "Sampled=0");
    let long_trace = format!("{TRACE};Lineage={}", "a".repeat(600));
    let traced = api.push(Invocation::new(1).trace_id(TRACE));
    let retraced = api.push(Invocation::new(2).trace_id(&other_trace));
    let untraced = api.push(Invocation::new(3));
    let long = api.push(Invocation::new(4).trace_id(&long_trace));
    let traced_again = api.push(Invocation::new(5).trace_id(TRACE));
    // One invocation at a time: the trace id reaches AWS SDKs through `_X_AMZN_TRACE_ID`, is
    // replaced by the next one, removed for an invocation without one, and set again after.
    let expected = [
        (&traced, json!({"env": TRACE, "context": TRACE})),
        (
            &retraced,
            json!({"env": other_trace, "context": other_trace}),
        ),
        (&untraced, json!({"env": null, "context": null})),
        (&long, json!({"env": long_trace, "context": long_trace})),
        (&traced_again, json!({"env": TRACE, "context": TRACE})),
    ];
    for (id, seen) in expected {
        assert_eq!(within(30, api.outcome(id)).await.json::<Value>(), seen);
    }

    terminate(&child);
    let output = within(10, child.wait_with_output()).await.unwrap();
    assert!(output.status.success(), "{output:?}");
    let lines = json_lines(&output);
    let echoes: Vec<&Value> = lines
        .iter()
        .filter(|line| line["message"] == "echoing the trace")
        .collect();
    assert_eq!(echoes.len(), 5, "{lines:#?}");
    assert_eq!(echoes[0]["requestId"], traced.as_str());
    assert_eq!(echoes[2]["requestId"], untraced.as_str());
    assert!(
        lines
            .iter()
            .any(|line| line["message"] == "shutdown hook ran"),
        "{lines:#?}"
    );
}

#[test]
#[ignore = "started as a child process by `concurrent_invocations_leave_the_trace_variable_alone`"]
fn child_serves_concurrently() -> Result<(), lambda_kit::Error> {
    if !is_child("child_serves_concurrently") {
        return Ok(());
    }
    lambda_kit::run(trace_echo)
}

#[tokio::test]
async fn concurrent_invocations_leave_the_trace_variable_alone() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.runtime_api();
    let mut vars = lambda_vars(&address);
    vars.push(("AWS_LAMBDA_MAX_CONCURRENCY", "2"));
    let _child = spawn_child("child_serves_concurrently", &vars);
    let id = api.push(Invocation::new(1).trace_id(TRACE));
    let outcome = within(30, api.outcome(&id)).await;
    // One variable cannot hold two invocations' trace ids; the context has it.
    assert_eq!(
        outcome.json::<Value>(),
        json!({"env": null, "context": TRACE})
    );
    assert_eq!(api.connections(), 2);
}

#[test]
#[ignore = "started as a child process by `failed_setup_reports_an_init_error_and_exits_non_zero`"]
fn child_fails_setup() -> Result<(), lambda_kit::Error> {
    if !is_child("child_fails_setup") {
        return Ok(());
    }
    async fn handler(_: Value, _: Context, _: &()) -> Result<(), Infallible> {
        Ok(())
    }
    Runtime::from_env()?.run_with_state(
        |_| async { Err::<(), _>(Diagnostic::new("ConfigMissing", "TABLE_NAME is not set")) },
        handler,
    )
}

#[tokio::test]
async fn failed_setup_reports_an_init_error_and_exits_non_zero() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.runtime_api();
    let child = spawn_child("child_fails_setup", &lambda_vars(&address));
    let output = within(30, child.wait_with_output()).await.unwrap();
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        format!("{stdout}{stderr}")
            .contains("function setup failed with ConfigMissing: TABLE_NAME is not set"),
        "{stdout}\n{stderr}"
    );
    let reports = api.init_errors();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].error_type_header(), Some("ConfigMissing"));
    let setup_log = json_lines(&output);
    assert!(
        setup_log
            .iter()
            .any(|line| line["level"] == "ERROR" && line["error_type"] == "ConfigMissing"),
        "{setup_log:#?}"
    );
}

#[test]
#[ignore = "started as a child process by `outside_lambda_run_names_the_missing_variable`"]
fn child_without_lambda_environment() -> Result<(), lambda_kit::Error> {
    if !is_child("child_without_lambda_environment") {
        return Ok(());
    }
    lambda_kit::run(trace_echo)
}

#[tokio::test]
async fn outside_lambda_run_names_the_missing_variable() {
    let child = spawn_child("child_without_lambda_environment", &[]);
    let output = within(30, child.wait_with_output()).await.unwrap();
    assert!(!output.status.success(), "{output:?}");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        all.contains("environment variable `AWS_LAMBDA_RUNTIME_API` is not set"),
        "{all}"
    );
}

/// Records metrics from the event; fails (after recording) when asked to.
async fn count_orders(event: Value, ctx: Context) -> Result<(), Diagnostic> {
    use lambda_kit::metrics::Unit;
    let metrics = ctx.metrics();
    metrics.add_dimension("service", "orders")?;
    metrics.add_metric(
        "Orders",
        event["n"].as_f64().unwrap_or_default(),
        Unit::Count,
    )?;
    metrics.add_property("requestId", ctx.request_id())?;
    tracing::info!("counted");
    if event["fail"] == true {
        return Err(Diagnostic::new(
            "OrderFailed",
            "the order failed after counting",
        ));
    }
    Ok(())
}

#[test]
#[ignore = "started as a child process by `metrics_are_written_as_emf_on_stdout_per_invocation`"]
fn child_records_metrics() -> Result<(), lambda_kit::Error> {
    if !is_child("child_records_metrics") {
        return Ok(());
    }
    Runtime::from_env()?
        .on_shutdown(|| async {})
        .run(count_orders)
}

/// The EMF documents on the child's stdout, in order. The test harness may write
/// `test NAME ... ` before the first line, so each document is read from its first `{`.
fn emf_documents(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains("\"_aws\":"))
        .map(|line| {
            let start = line.find('{').unwrap();
            serde_json::from_str(&line[start..])
                .unwrap_or_else(|error| panic!("`{line}` is not one JSON document: {error}"))
        })
        .collect()
}

#[tokio::test]
async fn metrics_are_written_as_emf_on_stdout_per_invocation() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.runtime_api();
    let mut vars = lambda_vars(&address);
    vars.push(("POWERTOOLS_METRICS_NAMESPACE", "Shop"));
    // The handler's own `service` dimension replaces this one; the cold start keeps it.
    vars.push(("POWERTOOLS_SERVICE_NAME", "storefront"));
    let child = spawn_child("child_records_metrics", &vars);
    let first = api.push(Invocation::new(json!({"n": 2})));
    let failing = api.push(Invocation::new(json!({"n": 5, "fail": true})));
    let third = api.push(Invocation::new(json!({"n": 1})));
    within(30, api.outcome(&first)).await.response();
    assert_eq!(
        within(30, api.outcome(&failing)).await.error().error_type(),
        "OrderFailed"
    );
    within(30, api.outcome(&third)).await.response();

    terminate(&child);
    let output = within(10, child.wait_with_output()).await.unwrap();
    assert!(output.status.success(), "{output:?}");
    let documents = emf_documents(&output);
    assert_eq!(documents.len(), 4, "{documents:#?}");

    // The first invocation of the process, and only it, has a cold start.
    let cold = &documents[0];
    let timestamp = cold["_aws"]["Timestamp"].as_u64().unwrap();
    assert!(timestamp > 1_700_000_000_000, "{cold}");
    assert_eq!(
        *cold,
        json!({
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": "Shop",
                    "Dimensions": [["function_name", "service"]],
                    "Metrics": [{"Name": "ColdStart", "Unit": "Count"}],
                }],
            },
            "function_name": "child",
            "service": "storefront",
            "ColdStart": 1,
        })
    );
    let expected = [(&first, 2.0), (&failing, 5.0), (&third, 1.0)];
    for (document, (request_id, orders)) in documents[1..].iter().zip(expected) {
        let timestamp = document["_aws"]["Timestamp"].as_u64().unwrap();
        assert_eq!(
            *document,
            json!({
                "_aws": {
                    "Timestamp": timestamp,
                    "CloudWatchMetrics": [{
                        "Namespace": "Shop",
                        "Dimensions": [["service"]],
                        "Metrics": [{"Name": "Orders", "Unit": "Count"}],
                    }],
                },
                "service": "orders",
                "Orders": orders,
                "requestId": request_id.as_str(),
            })
        );
    }
    // Each invocation's metrics come after its own log line and before the next one's.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let order: Vec<&str> = stdout
        .lines()
        .filter_map(|line| {
            if line.contains("\"_aws\":") {
                Some("emf")
            } else if line.contains("\"message\":\"counted\"") {
                Some("log")
            } else {
                None
            }
        })
        .collect();
    assert_eq!(order, ["log", "emf", "emf", "log", "emf", "log", "emf"]);
}

/// Streams a body that records a metric while it streams, after the handler returned.
async fn stream_and_count(
    _: Value,
    ctx: Context,
) -> Result<lambda_kit::streaming::StreamResponse, Diagnostic> {
    use lambda_kit::metrics::Unit;
    let metrics = ctx.metrics().clone();
    Ok(lambda_kit::streaming::StreamResponse::from_writer(
        move |mut body| async move {
            body.write("rows").await;
            metrics.add_metric("RowsStreamed", 1.0, Unit::Count)?;
            Ok::<_, Diagnostic>(())
        },
    ))
}

#[test]
#[ignore = "started as a child process by `metrics_recorded_while_streaming_are_written`"]
fn child_streams_metrics() -> Result<(), lambda_kit::Error> {
    if !is_child("child_streams_metrics") {
        return Ok(());
    }
    Runtime::from_env()?
        .on_shutdown(|| async {})
        .run(stream_and_count)
}

#[tokio::test]
async fn metrics_recorded_while_streaming_are_written() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.runtime_api();
    let mut vars = lambda_vars(&address);
    vars.push(("POWERTOOLS_METRICS_NAMESPACE", "Shop"));
    let child = spawn_child("child_streams_metrics", &vars);
    let first = api.push(Invocation::new(json!({})));
    let second = api.push(Invocation::new(json!({})));
    for id in [&first, &second] {
        assert_eq!(within(30, api.outcome(id)).await.response(), "rows");
    }

    terminate(&child);
    let output = within(10, child.wait_with_output()).await.unwrap();
    assert!(output.status.success(), "{output:?}");
    let rows: Vec<Value> = emf_documents(&output)
        .into_iter()
        .filter(|document| document.get("RowsStreamed").is_some())
        .collect();
    // One per invocation, each written when its body ended rather than lost or carried over.
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows.iter().all(|document| document["RowsStreamed"] == 1.0));
}

#[tokio::test]
async fn provisioned_concurrency_has_no_cold_start_metric() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.runtime_api();
    let mut vars = lambda_vars(&address);
    vars.push(("POWERTOOLS_METRICS_NAMESPACE", "Shop"));
    vars.push(("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency"));
    let child = spawn_child("child_records_metrics", &vars);
    let id = api.push(Invocation::new(json!({"n": 3})));
    within(30, api.outcome(&id)).await.response();
    terminate(&child);
    let output = within(10, child.wait_with_output()).await.unwrap();
    assert!(output.status.success(), "{output:?}");
    let documents = emf_documents(&output);
    assert_eq!(documents.len(), 1, "{documents:#?}");
    assert_eq!(documents[0]["Orders"], 3.0);
    assert!(documents[0].get("ColdStart").is_none());
}

/// Leaves a span open in a task of its own that ends it 200 ms later, after the response and
/// the export that follows it.
async fn leave_a_span_open(
    _: Value,
    _: Context,
    late: &'static std::sync::Mutex<tokio::task::JoinSet<()>>,
) -> Result<(), Infallible> {
    let span = tracing::info_span!("late", after = "response");
    late.lock()
        .unwrap()
        .spawn(lambda_kit::instrument(async move {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            drop(span);
        }));
    Ok(())
}

#[test]
#[ignore = "started as a child process by `spans_still_queued_at_sigterm_are_exported_before_exit`"]
fn child_leaves_a_span_open() -> Result<(), lambda_kit::Error> {
    if !is_child("child_leaves_a_span_open") {
        return Ok(());
    }
    Runtime::from_env()?.run_with_state(
        |_| async { Ok::<_, Infallible>(std::sync::Mutex::new(tokio::task::JoinSet::new())) },
        leave_a_span_open,
    )
}

#[tokio::test]
async fn spans_still_queued_at_sigterm_are_exported_before_exit() {
    let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let daemon_address = daemon.local_addr().unwrap().to_string();
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.runtime_api();
    let mut vars = lambda_vars(&address);
    vars.push(("AWS_XRAY_DAEMON_ADDRESS", &daemon_address));
    // No shutdown hook: the tracer alone listens for SIGTERM (which Lambda sends when any
    // extension, an external one included, is registered).
    let child = spawn_child("child_leaves_a_span_open", &vars);
    let id = api.push(Invocation::new(1).trace_id(TRACE));
    within(30, api.outcome(&id)).await.json::<()>();
    let mut buffer = vec![0; 65_536];
    let (length, _) = within(10, daemon.recv_from(&mut buffer)).await.unwrap();
    let invocation = crate::trace::xray_document(&buffer[..length]);
    assert_eq!(invocation["name"], "child");
    assert!(invocation.get("subsegments").is_none(), "{invocation}");
    // The span ends 200 ms after the response; no invocation follows to export it.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    terminate(&child);
    let (length, _) = within(10, daemon.recv_from(&mut buffer)).await.unwrap();
    let late = crate::trace::xray_document(&buffer[..length]);
    assert_eq!(late["name"], "late");
    assert_eq!(late["type"], "subsegment");
    assert_eq!(late["trace_id"], invocation["trace_id"]);
    assert_eq!(late["parent_id"], invocation["id"]);
    assert_eq!(late["annotations"]["after"], "response");
    let output = within(10, child.wait_with_output()).await.unwrap();
    assert!(output.status.success(), "{output:?}");
}

/// A span an invocation opened and the shutdown hook ends.
static KEPT: std::sync::Mutex<Option<tracing::Span>> = std::sync::Mutex::new(None);

async fn keep_a_span(_: Value, _: Context) -> Result<(), Infallible> {
    *KEPT.lock().unwrap() = Some(tracing::info_span!("kept"));
    Ok(())
}

#[test]
#[ignore = "started as a child process by `spans_ended_in_the_shutdown_hook_are_exported`"]
fn child_ends_a_span_in_the_hook() -> Result<(), lambda_kit::Error> {
    if !is_child("child_ends_a_span_in_the_hook") {
        return Ok(());
    }
    Runtime::from_env()?
        .on_shutdown(|| async { drop(KEPT.lock().unwrap().take()) })
        .run(keep_a_span)
}

#[tokio::test]
async fn spans_ended_in_the_shutdown_hook_are_exported() {
    let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let daemon_address = daemon.local_addr().unwrap().to_string();
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.runtime_api();
    let mut vars = lambda_vars(&address);
    vars.push(("AWS_XRAY_DAEMON_ADDRESS", &daemon_address));
    let child = spawn_child("child_ends_a_span_in_the_hook", &vars);
    let id = api.push(Invocation::new(1).trace_id(TRACE));
    within(30, api.outcome(&id)).await.json::<()>();
    let mut buffer = vec![0; 65_536];
    let (length, _) = within(10, daemon.recv_from(&mut buffer)).await.unwrap();
    let invocation = crate::trace::xray_document(&buffer[..length]);
    assert!(invocation.get("subsegments").is_none(), "{invocation}");
    terminate(&child);
    // The hook runs first, then what is queued is exported.
    let (length, _) = within(10, daemon.recv_from(&mut buffer)).await.unwrap();
    let kept = crate::trace::xray_document(&buffer[..length]);
    assert_eq!(kept["name"], "kept");
    assert_eq!(kept["parent_id"], invocation["id"]);
    let output = within(10, child.wait_with_output()).await.unwrap();
    assert!(output.status.success(), "{output:?}");
}
