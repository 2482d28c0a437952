//! Reads each trigger's event as its `lambda_kit::events` type and prints one line per record
//! (`sources: KIND ...`), in the order it got them, so that the tests see what serve's event
//! sources delivered. A record whose body (or data) is `fail` is reported in the partial batch
//! response; one that is `crash` fails the whole invocation.

use std::sync::Mutex;

use lambda_kit::events::dynamodb::Event as DynamoDbEvent;
use lambda_kit::events::kinesis::{KinesisBatchItemFailure, KinesisEvent, KinesisEventResponse};
use lambda_kit::events::s3::S3Event;
use lambda_kit::events::schedule::CloudWatchEvent;
use lambda_kit::events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_kit::{Context, Diagnostic};
use serde_json::Value;

/// Reads the event as a `T`, as the runtime does.
fn read<T: serde::de::DeserializeOwned>(event: Value) -> Result<T, Diagnostic> {
    serde_json::from_value(event)
        .map_err(|error| Diagnostic::new("UnreadableEvent", error.to_string()))
}

/// The `flaky` records seen: each fails the first time only.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether the record `key` is seen for the first time.
fn first_time(key: &str) -> bool {
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let first = !seen.iter().any(|known| known == key);
    if first {
        seen.push(key.to_owned());
    }
    first
}

/// What a record asks for.
fn crash(body: &str) -> Result<(), Diagnostic> {
    if body == "crash" {
        return Err(Diagnostic::new("AskedToCrash", "a record said `crash`"));
    }
    Ok(())
}

#[allow(clippy::print_stdout)] // The lines are what the tests read.
#[lambda_kit::handler]
async fn sources(event: Value, _ctx: Context) -> Result<Value, Diagnostic> {
    if event["source"] == "aws.events" {
        let event: CloudWatchEvent = read(event)?;
        println!(
            "sources: schedule {} {}",
            event.detail_type.unwrap_or_default(),
            event.resources.join(",")
        );
        return Ok(Value::Null);
    }
    let source = event["Records"][0]["eventSource"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    match source.as_str() {
        "aws:sqs" => {
            let event: SqsEvent = read(event)?;
            let mut response = SqsBatchResponse::default();
            // FIFO: after a failure, the rest of its group is not processed (AWS's advice).
            let mut blocked: Vec<String> = Vec::new();
            for record in event.records {
                let id = record.message_id.clone().unwrap_or_default();
                let queue = record.event_source_arn.as_deref().unwrap_or_default();
                let queue = queue.rsplit(':').next().unwrap_or_default();
                let body = record.body.as_deref().unwrap_or_default();
                let group = record
                    .attributes
                    .get("MessageGroupId")
                    .map_or("-", String::as_str);
                let receives = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .map_or("?", String::as_str);
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                if blocked.iter().any(|blocked| blocked == group) {
                    response.batch_item_failures.push(failure);
                    continue;
                }
                println!("sources: sqs {queue} {body} group={group} receives={receives}");
                crash(body)?;
                // `flaky` fails on its first receive only.
                if body == "fail" || (body == "flaky" && receives == "1") {
                    response.batch_item_failures.push(failure);
                    if group != "-" {
                        blocked.push(group.to_owned());
                    }
                }
            }
            serde_json::to_value(response)
                .map_err(|error| Diagnostic::new("Unwritable", error.to_string()))
        }
        "aws:kinesis" => {
            let event: KinesisEvent = read(event)?;
            let mut response = KinesisEventResponse::default();
            for record in event.records {
                let data = String::from_utf8_lossy(&record.kinesis.data).into_owned();
                let sequence = record.kinesis.sequence_number.clone();
                if !response.batch_item_failures.is_empty() {
                    // After a failure, the rest waits for the retry from it.
                    continue;
                }
                println!("sources: kinesis {data}");
                crash(&data)?;
                if data == "flaky" && first_time(&sequence) {
                    let mut failure = KinesisBatchItemFailure::default();
                    failure.item_identifier = Some(sequence);
                    response.batch_item_failures.push(failure);
                }
            }
            serde_json::to_value(response)
                .map_err(|error| Diagnostic::new("Unwritable", error.to_string()))
        }
        "aws:dynamodb" => {
            let event: DynamoDbEvent = read(event)?;
            for record in event.records {
                // The keys, in DynamoDB's JSON: `{"id": {"S": ".."}}`.
                let keys = serde_json::to_value(&record.change.keys).unwrap_or_default();
                let id = keys["id"]["S"].as_str().unwrap_or_default().to_owned();
                println!("sources: dynamodb {} {id}", record.event_name);
                if id == "flaky" && first_time(&record.change.sequence_number.unwrap_or_default()) {
                    return Err(Diagnostic::new("AskedToCrash", "`flaky` fails once"));
                }
            }
            Ok(Value::Null)
        }
        "aws:s3" => {
            let event: S3Event = read(event)?;
            for record in event.records {
                let object = record.s3.object;
                println!(
                    "sources: s3 {} {} {} size={} etag={}",
                    record.event_name.unwrap_or_default(),
                    record.s3.bucket.name.unwrap_or_default(),
                    object.key.unwrap_or_default(),
                    object.size.map_or("-".to_owned(), |size| size.to_string()),
                    object.e_tag.unwrap_or_else(|| "-".to_owned()),
                );
            }
            Ok(Value::Null)
        }
        other => Err(Diagnostic::new(
            "UnknownEvent",
            format!("an event of `{other}`"),
        )),
    }
}
