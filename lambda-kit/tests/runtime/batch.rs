//! `lambda_kit::batch`: per-record handlers and the partial batch responses they produce, run
//! through `#[handler]` and the real poll loop.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use lambda_kit::batch::{self, Batch};
use lambda_kit::events::dynamodb::{DynamoDbEventResponse, Event as DynamoDbEvent};
use lambda_kit::events::kinesis::{KinesisEvent, KinesisEventResponse};
use lambda_kit::events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_kit::testing::{CapturedLogs, invoke};
use lambda_kit::{Context, Diagnostic, LogFormat, LogLevel};
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::support::within;

fn sqs_event(queue_arn: &str, bodies: &[&str]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(index, body)| {
            json!({
                "messageId": format!("m-{}", index + 1),
                "receiptHandle": "AQEB",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

const STANDARD_QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:orders";
const FIFO_QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:orders.fifo";

#[derive(serde::Deserialize)]
struct Order {
    quantity: u32,
}

/// Fails messages that are not orders, and orders of nothing.
async fn take_order(message: SqsMessage) -> Result<(), Diagnostic> {
    let order: Order = batch::decode(&message)?;
    if order.quantity == 0 {
        return Err(Diagnostic::new("EmptyOrder", "nothing to ship"));
    }
    Ok(())
}

#[lambda_kit::handler(main = false)]
async fn orders(event: SqsEvent, _ctx: Context) -> Result<SqsBatchResponse, Diagnostic> {
    Ok(batch::sqs(event, take_order).await)
}

fn failures(outcome: &lambda_kit::testing::Outcome) -> Vec<String> {
    let response: Value = outcome.json();
    response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|failure| failure["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_standard_queue_reports_each_failed_message_and_logs_why() {
    let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Info);
    let event = sqs_event(
        STANDARD_QUEUE,
        &[
            r#"{"quantity": 1}"#,
            r#"{"quantity": "two"}"#,
            r#"{"quantity": 3}"#,
            r#"{"quantity": 0}"#,
            r#"{"quantity": 5}"#,
        ],
    );
    let outcome = within(10, invoke(orders, event)).await;
    assert_eq!(
        outcome.json::<Value>(),
        json!({"batchItemFailures": [{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-4"}]})
    );

    let lines = logs.json_lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["item_identifier"], "m-2");
    assert_eq!(lines[0]["error_type"], "RecordDecodeError");
    let message = lines[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "record failed: SQS message `m-2` is not a valid `Order`: at `quantity`: invalid type: string \"two\""
        ),
        "{message}"
    );
    assert_eq!(lines[1]["item_identifier"], "m-4");
    assert_eq!(lines[1]["error_type"], "EmptyOrder");
    assert_eq!(lines[1]["message"], "record failed: nothing to ship");
    // Logged inside the invocation: each line carries its request id.
    assert!(lines[0]["requestId"].is_string(), "{}", lines[0]);
}

#[tokio::test]
async fn an_empty_batch_has_no_failures() {
    let outcome = within(10, invoke(orders, json!({"Records": []}))).await;
    assert_eq!(outcome.json::<Value>(), json!({"batchItemFailures": []}));
    assert!(failures(&outcome).is_empty());
}

/// A handler that records which messages it saw, failing those whose body is `fail`.
fn recording_handler(
    seen: Rc<RefCell<Vec<String>>>,
) -> impl Fn(
    SqsEvent,
    Context,
) -> std::pin::Pin<Box<dyn Future<Output = Result<SqsBatchResponse, Diagnostic>>>> {
    move |event: SqsEvent, _ctx: Context| {
        let seen = Rc::clone(&seen);
        Box::pin(async move {
            // Concurrency is asked for, and must be ignored for FIFO queues.
            let response = Batch::new()
                .concurrency(8)
                .sqs(event, |message: SqsMessage| {
                    let seen = Rc::clone(&seen);
                    async move {
                        seen.borrow_mut()
                            .push(message.message_id.clone().unwrap_or_default());
                        match message.body.as_deref() {
                            Some("fail") => Err("this one fails"),
                            _ => Ok(()),
                        }
                    }
                })
                .await;
            Ok(response)
        })
    }
}

#[tokio::test]
async fn a_fifo_queue_stops_at_the_first_failure_and_reports_the_rest() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let event = sqs_event(FIFO_QUEUE, &["ok", "fail", "ok", "fail"]);
    let outcome = within(10, invoke(recording_handler(Rc::clone(&seen)), event)).await;
    assert_eq!(failures(&outcome), ["m-2", "m-3", "m-4"]);
    assert_eq!(*seen.borrow(), ["m-1", "m-2"]);

    // The same queue recognised by the `MessageGroupId` attribute FIFO messages carry.
    seen.borrow_mut().clear();
    let mut event = sqs_event("", &["ok", "ok", "fail"]);
    for record in event["Records"].as_array_mut().unwrap() {
        record["eventSourceARN"] = Value::Null;
        record["attributes"]["MessageGroupId"] = json!("group-1");
    }
    let outcome = within(10, invoke(recording_handler(Rc::clone(&seen)), event)).await;
    assert_eq!(failures(&outcome), ["m-3"]);
    assert_eq!(*seen.borrow(), ["m-1", "m-2", "m-3"]);

    // A FIFO batch without failures reports none.
    seen.borrow_mut().clear();
    let event = sqs_event(FIFO_QUEUE, &["ok", "ok"]);
    let outcome = within(10, invoke(recording_handler(Rc::clone(&seen)), event)).await;
    assert!(failures(&outcome).is_empty());
    assert_eq!(*seen.borrow(), ["m-1", "m-2"]);
}

#[tokio::test]
async fn a_standard_queue_goes_on_after_a_failure() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let event = sqs_event(STANDARD_QUEUE, &["ok", "fail", "ok", "fail"]);
    let outcome = within(10, invoke(recording_handler(Rc::clone(&seen)), event)).await;
    assert_eq!(failures(&outcome), ["m-2", "m-4"]);
    let mut seen = seen.borrow().clone();
    seen.sort();
    assert_eq!(seen, ["m-1", "m-2", "m-3", "m-4"]);
}

#[tokio::test]
async fn messages_of_a_standard_queue_run_concurrently_up_to_the_limit() {
    // Every message waits until four are in flight: processed one by one, the test times out.
    let barrier = Rc::new(Barrier::new(4));
    let handler = move |event: SqsEvent, _ctx: Context| {
        let barrier = Rc::clone(&barrier);
        async move {
            let response = Batch::new()
                .concurrency(4)
                .sqs(event, |message: SqsMessage| {
                    let barrier = Rc::clone(&barrier);
                    async move {
                        barrier.wait().await;
                        match message.body.as_deref() {
                            Some("fail") => Err("failed after the barrier"),
                            _ => Ok(()),
                        }
                    }
                })
                .await;
            Ok::<_, Diagnostic>(response)
        }
    };
    let event = sqs_event(
        STANDARD_QUEUE,
        &["ok", "ok", "fail", "ok", "ok", "ok", "fail", "ok"],
    );
    let outcome = within(10, invoke(handler, event)).await;
    assert_eq!(failures(&outcome), ["m-3", "m-7"]);

    // Never more than the limit at once, and the limit reached.
    let in_flight = Rc::new(Cell::new(0_usize));
    let most = Rc::new(Cell::new(0_usize));
    let event: SqsEvent = serde_json::from_value(sqs_event(STANDARD_QUEUE, &["ok"; 9])).unwrap();
    let response = Batch::new()
        .concurrency(3)
        .sqs(event, |_| {
            let (in_flight, most) = (Rc::clone(&in_flight), Rc::clone(&most));
            async move {
                in_flight.set(in_flight.get() + 1);
                most.set(most.get().max(in_flight.get()));
                tokio::time::sleep(Duration::from_millis(5)).await;
                in_flight.set(in_flight.get() - 1);
                Ok::<_, Diagnostic>(())
            }
        })
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(most.get(), 3);
}

fn kinesis_event(payloads: &[&str]) -> Value {
    use std::fmt::Write as _;
    let records: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(index, payload)| {
            // Base64 by hand, to keep the test free of another dependency.
            let mut data = String::new();
            for chunk in payload.as_bytes().chunks(3) {
                const TABLE: &[u8; 64] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                let bits = chunk.iter().enumerate().fold(0u32, |bits, (i, byte)| {
                    bits | u32::from(*byte) << (16 - 8 * i)
                });
                for i in 0..4 {
                    if i <= chunk.len() {
                        data.push(TABLE[(bits >> (18 - 6 * i) & 63) as usize] as char);
                    } else {
                        data.push('=');
                    }
                }
            }
            let mut sequence = String::new();
            let _ = write!(sequence, "4954511524{index:02}");
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "sensor-1",
                    "sequenceNumber": sequence,
                    "data": data,
                    "approximateArrivalTimestamp": 1_795_426_200.123,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{sequence}"),
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/sensors",
            })
        })
        .collect();
    json!({ "Records": records })
}

#[tokio::test]
async fn kinesis_stops_at_the_first_failure_and_reports_its_sequence_number() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let recorded = Rc::clone(&seen);
    let handler = move |event: KinesisEvent, _ctx: Context| {
        let seen = Rc::clone(&recorded);
        async move {
            let response = batch::kinesis(event, |record| {
                let seen = Rc::clone(&seen);
                async move {
                    let reading: f64 = batch::decode(&record)?;
                    seen.borrow_mut().push(reading);
                    if reading < 0.0 {
                        return Err(Diagnostic::new("NegativeReading", "below zero"));
                    }
                    Ok(())
                }
            })
            .await;
            Ok::<KinesisEventResponse, Diagnostic>(response)
        }
    };
    let event = kinesis_event(&["1.5", "2", "-3", "4", "5"]);
    let outcome = within(10, invoke(&handler, event)).await;
    assert_eq!(failures(&outcome), ["495451152402"]);
    assert_eq!(*seen.borrow(), [1.5, 2.0, -3.0]);

    // A payload that is not JSON fails its record the same way.
    seen.borrow_mut().clear();
    let outcome = within(10, invoke(&handler, kinesis_event(&["1", "warm"]))).await;
    assert_eq!(failures(&outcome), ["495451152401"]);

    seen.borrow_mut().clear();
    let outcome = within(10, invoke(&handler, kinesis_event(&["1", "2"]))).await;
    assert!(failures(&outcome).is_empty());
    assert_eq!(*seen.borrow(), [1.0, 2.0]);
}

#[tokio::test]
async fn dynamodb_stops_at_the_first_failure_and_reports_its_sequence_number() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let recorded = Rc::clone(&seen);
    let handler = move |event: DynamoDbEvent, _ctx: Context| {
        let seen = Rc::clone(&recorded);
        async move {
            let response = Batch::new()
                .concurrency(4) // ignored: stream records stay in order
                .dynamodb(event, |record| {
                    let seen = Rc::clone(&seen);
                    async move {
                        seen.borrow_mut().push(record.event_id.clone());
                        if record.event_name == "REMOVE" {
                            return Err("removals are not allowed");
                        }
                        Ok(())
                    }
                })
                .await;
            Ok::<DynamoDbEventResponse, Diagnostic>(response)
        }
    };
    let names = ["INSERT", "MODIFY", "REMOVE", "INSERT"];
    let records: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            json!({
                "eventID": format!("e-{index}"),
                "eventName": name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_795_426_200,
                    "Keys": {"id": {"S": format!("o-{index}")}},
                    "SequenceNumber": format!("11100000000{index}"),
                    "SizeBytes": 26,
                    "StreamViewType": "KEYS_ONLY",
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-23T00:00:00.000",
            })
        })
        .collect();
    let outcome = within(10, invoke(&handler, json!({ "Records": records }))).await;
    assert_eq!(failures(&outcome), ["111000000002"]);
    assert_eq!(*seen.borrow(), ["e-0", "e-1", "e-2"]);
}
