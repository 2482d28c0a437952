//! The built function against a fake Runtime API: a function URL event in, the prelude and the
//! report's lines out, streamed.

use std::process::Stdio;
use std::time::Duration;

use lambda_kit::testing::{FakeRuntimeApi, Invocation};
use serde_json::{Value, json};

fn function_url_event(query: &str) -> Value {
    json!({
        "version": "2.0",
        "rawPath": "/",
        "rawQueryString": query,
        "headers": {"accept": "text/csv"},
        "requestContext": {
            "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "http": {"method": "GET", "path": "/"},
        },
        "isBase64Encoded": false,
    })
}

#[tokio::test]
async fn the_report_streams_line_by_line_after_the_prelude() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let _bootstrap = tokio::process::Command::new(env!("CARGO_BIN_EXE_live-report"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.runtime_api())
        .env("AWS_LAMBDA_FUNCTION_NAME", "live-report")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let whole = api.push(Invocation::new(function_url_event("")));
    let failing = api.push(Invocation::new(function_url_event("also=nowhere")));
    let wait = Duration::from_secs(30);

    let outcome = tokio::time::timeout(wait, api.outcome(&whole))
        .await
        .unwrap();
    let streamed = outcome.streamed();
    assert_eq!(
        streamed.http_prelude().unwrap(),
        json!({"statusCode": 200, "headers": {"content-type": "text/csv"}, "cookies": ["report=seen"]})
    );
    assert_eq!(
        streamed.http_body().unwrap(),
        b"region,sales\neu-west-1,9000\nus-east-1,9000\nap-southeast-2,14000\n"
    );
    // The prelude, the header line and one chunk per region.
    assert_eq!(streamed.chunks().len(), 5);

    let outcome = tokio::time::timeout(wait, api.outcome(&failing))
        .await
        .unwrap();
    assert!(
        outcome
            .streamed()
            .http_body()
            .unwrap()
            .ends_with(b"ap-southeast-2,14000\n")
    );
    assert_eq!(outcome.error().error_type(), "UnknownRegion");
}
