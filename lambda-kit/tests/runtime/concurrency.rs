//! `AWS_LAMBDA_MAX_CONCURRENCY`: several invocations in flight in one process, none leaking
//! into another.

use std::convert::Infallible;
use std::rc::Rc;

use lambda_kit::testing::{CapturedLogs, FakeRuntimeApi, Invocation};
use lambda_kit::{Context, LogFormat, LogLevel};
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::support::within;

#[tokio::test]
async fn four_invocations_run_at_once_each_with_its_own_context_and_logs() {
    let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Info);
    let api = FakeRuntimeApi::start().await.unwrap();
    let config = api
        .config_with(&[("AWS_LAMBDA_MAX_CONCURRENCY", "4")])
        .unwrap();
    // Every invocation waits at the barrier until four are in flight: with fewer loops than
    // four, the test times out instead of passing.
    let barrier = Rc::new(Barrier::new(4));
    let handler = move |event: Value, ctx: Context| {
        let barrier = Rc::clone(&barrier);
        async move {
            tracing::info!(order = event["order"].as_u64(), "started");
            barrier.wait().await;
            tracing::info!(order = event["order"].as_u64(), "finished");
            Ok::<_, Infallible>(json!({"order": event["order"], "requestId": ctx.request_id()}))
        }
    };
    let ids: Vec<String> = (0..8).map(|order| format!("req-{order}")).collect();
    let invocations = ids
        .iter()
        .enumerate()
        .map(|(order, id)| Invocation::new(json!({"order": order})).request_id(id));
    let outcomes = within(20, api.run(config, handler, invocations))
        .await
        .unwrap();

    assert_eq!(api.connections(), 4);
    for (order, (outcome, id)) in outcomes.iter().zip(&ids).enumerate() {
        let response: Value = outcome.json();
        assert_eq!(response, json!({"order": order, "requestId": id}));
    }
    let lines = logs.json_lines();
    assert_eq!(lines.len(), 16, "{lines:#?}");
    for line in &lines {
        let order = line["order"].as_u64().unwrap() as usize;
        assert_eq!(line["requestId"], ids[order].as_str(), "{line}");
    }
}
