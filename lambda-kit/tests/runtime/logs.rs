//! Log lines in Lambda's shapes, filtered by level, with the request id of their invocation.

use std::convert::Infallible;

use lambda_kit::testing::{CapturedLogs, FakeRuntimeApi, Invocation};
use lambda_kit::{Context, Diagnostic, LogFormat, LogLevel};
use serde_json::Value;

use crate::support::within;

async fn chatty(word: String, _: Context) -> Result<String, Diagnostic> {
    tracing::debug!("checking {word}");
    tracing::info!(
        length = word.len(),
        shouted = word.ends_with('!'),
        "got a word"
    );
    if word.is_empty() {
        return Err(Diagnostic::new("EmptyWord", "say something"));
    }
    Ok(word)
}

#[tokio::test]
async fn json_lines_use_lambdas_keys_and_carry_the_request_id() {
    let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Info);
    tracing::info!("before any invocation");
    let api = FakeRuntimeApi::start().await.unwrap();
    let invocations = [
        Invocation::new("hi!").request_id("req-1"),
        Invocation::new("").request_id("req-2"),
    ];
    within(10, api.run(api.config(), chatty, invocations))
        .await
        .unwrap();

    let lines = logs.json_lines();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let outside = &lines[0];
    assert_eq!(outside["message"], "before any invocation");
    assert!(outside.get("requestId").is_none(), "{outside}");

    let first = &lines[1];
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["message"], "got a word");
    assert_eq!(first["requestId"], "req-1");
    assert_eq!(first["length"], 3);
    assert_eq!(first["shouted"], true);
    let timestamp = first["timestamp"].as_str().unwrap();
    assert_eq!(
        timestamp.len(),
        "2026-11-23T09:30:00.123Z".len(),
        "{timestamp}"
    );
    assert!(
        timestamp.starts_with("20") && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
        "{timestamp}"
    );

    assert_eq!(lines[2]["requestId"], "req-2");
    let failure = &lines[3];
    assert_eq!(failure["level"], "ERROR");
    assert_eq!(failure["requestId"], "req-2");
    assert_eq!(failure["error_type"], "EmptyWord");
    assert_eq!(failure["message"], "invocation failed: say something");
}

#[tokio::test]
async fn lines_below_the_log_level_are_dropped() {
    let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Debug);
    let api = FakeRuntimeApi::start().await.unwrap();
    within(10, api.run(api.config(), chatty, [Invocation::new("a")]))
        .await
        .unwrap();
    let messages: Vec<Value> = logs
        .json_lines()
        .into_iter()
        .map(|line| line["message"].clone())
        .collect();
    assert_eq!(messages, ["checking a", "got a word"]);
    drop(logs);

    let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Warn);
    within(
        10,
        api.run(
            api.config(),
            chatty,
            [Invocation::new("a"), Invocation::new("")],
        ),
    )
    .await
    .unwrap();
    let levels: Vec<Value> = logs
        .json_lines()
        .into_iter()
        .map(|line| line["level"].clone())
        .collect();
    assert_eq!(levels, ["ERROR"]);
}

#[tokio::test]
async fn text_lines_are_tab_separated_with_the_request_id() {
    async fn hello(_: Value, _: Context) -> Result<(), Infallible> {
        tracing::warn!(user = "ada", "low on \"stock\"");
        Ok(())
    }
    let logs = CapturedLogs::start(LogFormat::Text, LogLevel::Info);
    let api = FakeRuntimeApi::start().await.unwrap();
    within(
        10,
        api.run(
            api.config(),
            hello,
            [Invocation::new(1).request_id("req-9")],
        ),
    )
    .await
    .unwrap();
    let lines = logs.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let columns: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(columns.len(), 4, "{columns:?}");
    assert_eq!(columns[0], "[WARN]");
    assert!(columns[1].ends_with('Z'), "{columns:?}");
    assert_eq!(columns[2], "req-9");
    assert_eq!(columns[3], "low on \"stock\" user=ada");
}
