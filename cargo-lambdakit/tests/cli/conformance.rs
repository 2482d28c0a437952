//! Runtimes that are not ours, unmodified, on the local Lambda: a Python function on AWS's
//! runtime interface client (`awslambdaric`). (`lambda_runtime` is in `serve.rs`.)

use std::process::Command;

use base64::Engine as _;
use serde_json::json;

use crate::support::{Serve, invoke, tool};

/// The Python that has `awslambdaric`, or why the test cannot run: under CI it must.
fn python_with_ric() -> Option<String> {
    let output = Command::new("python3")
        .args(["-c", "import sys, awslambdaric; print(sys.executable)"])
        .output()
        .ok()
        .filter(|output| output.status.success());
    tool(
        output.is_some(),
        "awslambdaric",
        "`pip install awslambdaric`",
    );
    output.map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[test]
fn a_python_function_on_awslambdaric_runs_unmodified() {
    let Some(python) = python_with_ric() else {
        return;
    };
    let code = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/python");
    let serve = Serve::script(
        "greet",
        &format!("export PYTHONPATH={code:?}\nexec {python:?} -m awslambdaric handler.greet"),
    );

    let answer = invoke(
        serve.address,
        "greet",
        &[("X-Amz-Log-Type", "Tail")],
        br#"{"name":"ada"}"#,
    );
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("X-Amz-Function-Error"),
        None,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let seen = answer.json();
    assert_eq!(seen["hello"], "ada");
    assert_eq!(seen["function"], "greet");
    // The Python runtime hands the memory size on as the string Lambda sets.
    assert_eq!(seen["memory"], "128");
    assert_eq!(
        seen["requestId"].as_str(),
        answer.header("x-amzn-RequestId")
    );
    let remaining = seen["remainingMs"].as_u64().unwrap();
    assert!((1..=3000).contains(&remaining), "{remaining}");
    let tail = base64::engine::general_purpose::STANDARD
        .decode(answer.header("X-Amz-Log-Result").unwrap())
        .unwrap();
    let tail = String::from_utf8(tail).unwrap();
    assert!(
        tail.contains("python says hi") && tail.contains("REPORT RequestId: "),
        "{tail}"
    );

    let failed = invoke(serve.address, "greet", &[], br#"{"fail":true}"#);
    assert_eq!(failed.header("X-Amz-Function-Error"), Some("Unhandled"));
    let error = failed.json();
    assert_eq!(
        (error["errorType"].as_str(), error["errorMessage"].as_str()),
        (Some("ValueError"), Some("asked to fail"))
    );
    assert!(
        error["stackTrace"]
            .as_array()
            .is_some_and(|trace| !trace.is_empty()),
        "{error}"
    );

    // The Python instance stayed warm through its error.
    assert_eq!(
        invoke(serve.address, "greet", &[], b"{}").json()["hello"],
        json!("world")
    );
}

#[test]
fn a_runtime_that_misbehaves_gets_lambdas_answers() {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !tool(found, "python3", "`apt-get install python3`") {
        return;
    }
    let runtime =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/python/raw_runtime.py");
    let serve = Serve::script("raw", &format!("exec python3 {runtime:?}"));
    let call = |headers: &[(&str, &str)], action: &str| {
        invoke(
            serve.address,
            "raw",
            headers,
            json!({"do": action}).to_string().as_bytes(),
        )
    };

    // The caller's trace goes on in the function; without one, each invocation starts its own.
    let caller = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let described = call(&[("X-Amzn-Trace-Id", caller)], "describe").json();
    let trace = described["trace"].as_str().unwrap();
    assert!(
        trace.starts_with("Root=1-5759e988-bd862e3fe1be46a994272793;Parent="),
        "{trace}"
    );
    assert!(trace.ends_with(";Sampled=1"), "{trace}");
    let own = call(&[], "describe").json();
    let other = call(&[], "describe").json();
    let root = |described: &serde_json::Value| {
        described["trace"]
            .as_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(root(&own).starts_with("Root=1-"), "{own}");
    assert_ne!(root(&own), root(&other));
    assert_ne!(root(&own), "Root=1-5759e988-bd862e3fe1be46a994272793");

    // One log stream per instance, named as Lambda names it.
    let stream = described["logStream"].as_str().unwrap();
    let (date, instance) = stream
        .split_once("/[$LATEST]")
        .unwrap_or_else(|| panic!("{stream}"));
    assert_eq!(date.len(), "2026/01/01".len(), "{stream}");
    assert_eq!(date.split('/').count(), 3, "{stream}");
    assert!(
        instance.len() == 32 && instance.bytes().all(|b| b.is_ascii_hexdigit()),
        "{stream}"
    );
    assert_eq!(
        own["logStream"], described["logStream"],
        "the same warm instance"
    );

    // A report for a request id the runtime was not handed: 400 InvalidRequestID.
    let stranger = call(&[], "stranger").json();
    assert_eq!(stranger["status"], 400, "{stranger}");
    assert_eq!(
        stranger["answer"],
        json!({"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
    );

    // A second response: the caller has the first, the runtime gets 403 InvalidStateTransition.
    assert_eq!(call(&[], "twice").json(), json!({"first": true}));
    serve.output_with(&[
        "second response answered 403",
        "\"errorType\":\"InvalidStateTransition\"",
    ]);

    // A response over 6 MB: 413 to the runtime, Function.ResponseSizeTooLarge to the caller.
    let oversized = call(&[], "oversized");
    assert_eq!(oversized.status, 200);
    assert_eq!(oversized.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert_eq!(
        oversized.json(),
        json!({
            "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        })
    );
    serve.output_with(&[
        "oversized response answered 413",
        "\"errorType\":\"RequestEntityTooLarge\"",
    ]);

    // And the instance goes on serving.
    assert_eq!(
        call(&[], "describe").json()["logStream"],
        described["logStream"]
    );
}
