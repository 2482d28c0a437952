//! The built function, as Lambda runs it: the binary `#[lambda_kit::handler]` made, started with
//! the Lambda environment against a fake Runtime API, answering real invocations.

use std::process::Stdio;
use std::time::Duration;

use lambda_kit::testing::{FakeRuntimeApi, Invocation};
use serde_json::{Value, json};

/// Starts `binary` as Lambda would, against `api`, logging JSON to a pipe.
fn start(binary: &str, name: &str, api: &FakeRuntimeApi) -> tokio::process::Child {
    tokio::process::Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.runtime_api())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the function's binary starts")
}

#[tokio::test]
async fn the_generated_main_serves_invocations() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let mut bootstrap = start(env!("CARGO_BIN_EXE_orders"), "orders", &api);
    let priced = api.push(
        Invocation::new(json!({"id": "o-9", "lines": [{"sku": "apple", "quantity": 5}]}))
            .request_id("req-9"),
    );
    let empty = api.push(Invocation::new(json!({"id": "o-0", "lines": []})));
    let wait = Duration::from_secs(30);
    let priced = tokio::time::timeout(wait, api.outcome(&priced))
        .await
        .unwrap();
    let empty = tokio::time::timeout(wait, api.outcome(&empty))
        .await
        .unwrap();
    assert_eq!(
        priced.json::<Value>(),
        json!({"id": "o-9", "total_cents": 200, "priced_by": "orders (req-9)"})
    );
    assert_eq!(empty.error().error_type(), "EmptyOrder");
    assert_eq!(empty.error().error_message(), "order o-0 has no lines");

    bootstrap.start_kill().unwrap();
    let output = tokio::time::timeout(wait, bootstrap.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stdout);
    let pricing: Value = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "pricing")
        .unwrap_or_else(|| panic!("no `pricing` log line in {logs}"));
    assert_eq!(pricing["requestId"], "req-9");
    assert_eq!(pricing["order"], "o-9");
}

#[tokio::test]
async fn each_binary_of_the_package_is_its_own_function() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let _bootstrap = start(env!("CARGO_BIN_EXE_refunds"), "refunds", &api);
    let id = api.push(Invocation::new(json!({"paid_cents": 800, "percent": 50})));
    let outcome = tokio::time::timeout(Duration::from_secs(30), api.outcome(&id))
        .await
        .unwrap();
    assert_eq!(outcome.json::<Value>(), json!({"cents": 400}));
}
