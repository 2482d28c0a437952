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
