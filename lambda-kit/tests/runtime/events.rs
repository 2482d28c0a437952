//! The AWS event types of `lambda_kit::events` as handler events, through `#[handler]` and the
//! real poll loop.

use lambda_kit::events::s3::S3Event;
use lambda_kit::events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_kit::testing::invoke;
use lambda_kit::{Context, Diagnostic};
use serde_json::{Value, json};

use crate::support::within;

/// Fails every message whose body is not a number, the way a function reports partial failures
/// by hand.
#[lambda_kit::handler(main = false)]
async fn sum_numbers(event: SqsEvent, _ctx: Context) -> Result<SqsBatchResponse, Diagnostic> {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.unwrap_or_default();
        if message
            .body
            .as_deref()
            .and_then(|body| body.parse::<i64>().ok())
            .is_none()
        {
            response.add_failure(id);
        }
    }
    Ok(response)
}

#[tokio::test]
async fn an_sqs_event_reaches_a_handler_and_its_batch_response_goes_back() {
    let event = json!({"Records": [
        {"messageId": "m-1", "body": "12", "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}},
        {"messageId": "m-2", "body": "twelve", "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}},
        {"messageId": "m-3", "body": "-4", "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}},
    ]});
    let outcome = within(10, invoke(sum_numbers, event)).await;
    // The shape Lambda reads (AWS "Handling errors for an SQS event source in Lambda").
    assert_eq!(
        outcome.json::<Value>(),
        json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]})
    );
}

#[lambda_kit::handler(main = false)]
async fn object_keys(event: S3Event, _ctx: Context) -> Result<Vec<String>, Diagnostic> {
    event
        .records
        .into_iter()
        .map(|record| {
            let bucket = record.s3.bucket.name.unwrap_or_default();
            let key = record
                .s3
                .object
                .key
                .ok_or_else(|| Diagnostic::new("MissingKey", "a record has no object key"))?;
            Ok(format!("s3://{bucket}/{key}"))
        })
        .collect()
}

#[tokio::test]
async fn an_s3_event_decodes_and_a_wrong_one_names_the_path() {
    let event = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T09:30:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.9"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810"},
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "photos", "arn": "arn:aws:s3:::photos"},
               "object": {"key": "cat.png", "size": 1024, "eTag": "abc", "sequencer": "0A"}}
    }]});
    let outcome = within(10, invoke(object_keys, event)).await;
    assert_eq!(outcome.json::<Vec<String>>(), ["s3://photos/cat.png"]);

    let wrong = json!({"Records": [{"s3": {"object": {"size": "big"}}}]});
    let outcome = within(10, invoke(object_keys, wrong)).await;
    let report = outcome.error();
    assert_eq!(report.error_type(), "Runtime.UnmarshalError");
    assert!(
        report
            .error_message()
            .contains("at `Records[0].s3.object.size`"),
        "{}",
        report.error_message()
    );
}
