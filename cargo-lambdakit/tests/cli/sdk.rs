//! The AWS SDK for Rust (`aws-sdk-lambda`), unmodified but for its endpoint, invoking functions
//! on the local Lambda.

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::Serve;

/// A client of the local Lambda that reports each answer as it comes: the SDK's retries of
/// throttles (429) and server errors would hide the very answers the tests look for. It drops
/// a connection idle for 10 s, well before serve closes one idle for 30 s: a test whose thread
/// blocks on a CLI run for longer would otherwise send its next request on a connection serve
/// has closed, which the pool cannot notice while the thread is blocked.
pub(crate) fn client(endpoint: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .pool_idle_timeout(std::time::Duration::from_secs(10))
                .build_http(),
        )
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// Checks that the function `name` takes an asynchronous invocation (202) and a dry run (204).
pub(crate) async fn queues_and_dry_runs(lambda: &aws_sdk_lambda::Client, name: &str) {
    let queued = lambda
        .invoke()
        .function_name(name)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(b"{}".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status_code(), 202);
    let dry = lambda
        .invoke()
        .function_name(name)
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status_code(), 204);
}

#[tokio::test]
async fn aws_sdk_lambda_invokes_local_functions() {
    let serve = Serve::start("test-functions");
    let lambda = client(&serve.endpoint());

    let answer = lambda
        .invoke()
        .function_name("behave")
        .log_type(LogType::Tail)
        .payload(Blob::new(br#"{"print":"from the sdk"}"#.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status_code(), 200);
    assert_eq!(answer.function_error(), None);
    assert_eq!(answer.executed_version(), Some("$LATEST"));
    let payload: Value = serde_json::from_slice(answer.payload().unwrap().as_ref()).unwrap();
    assert_eq!(payload["greeting"], "hello from the config");
    let logs = base64::engine::general_purpose::STANDARD
        .decode(answer.log_result().unwrap())
        .unwrap();
    let logs = String::from_utf8(logs).unwrap();
    assert!(
        logs.contains("\tfrom the sdk") && logs.contains("REPORT RequestId: "),
        "{logs}"
    );

    let failed = lambda
        .invoke()
        .function_name("behave")
        .payload(Blob::new(br#"{"fail":"sdk"}"#.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.function_error(), Some("Unhandled"));
    let error: Value = serde_json::from_slice(failed.payload().unwrap().as_ref()).unwrap();
    assert_eq!(
        error,
        json!({"errorType": "AskedToFail", "errorMessage": "sdk"})
    );

    queues_and_dry_runs(&lambda, "behave").await;

    let missing = lambda
        .invoke()
        .function_name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_resource_not_found_exception(), "{missing:?}");
    let too_large = lambda
        .invoke()
        .function_name("behave")
        .payload(Blob::new(vec![b' '; 6 * 1024 * 1024 + 1]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(too_large.is_request_too_large_exception(), "{too_large:?}");
}
