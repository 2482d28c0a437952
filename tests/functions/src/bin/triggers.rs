//! Reads every trigger's event as its `lambda_kit::events` type and answers what it read, so
//! that the tests see each example event (`invoke --event KIND`) arrive as a function reads it.
//!
//! The kind is told by the event's shape, as nothing else says which service sent it. The
//! Cognito triggers answer in the pool's shape: a pre sign-up of an `@example.com` address is
//! confirmed, a pre token generation adds a `greeting` claim.

use lambda_kit::events::cloudwatch_logs::LogsEvent;
use lambda_kit::events::cognito::{PreSignUp, PreTokenGeneration};
use lambda_kit::events::firehose::{KinesisFirehoseEvent, Transformation};
use lambda_kit::events::iot::TopicMessage;
use lambda_kit::events::kafka::{self, KafkaEvent};
use lambda_kit::events::ses::SimpleEmailEvent;
use lambda_kit::{Context, Diagnostic};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Reads the event as a `T` from its JSON text, as the runtime does (`LogsEvent` reads from
/// text only).
fn read<T: DeserializeOwned>(event: &Value) -> Result<T, Diagnostic> {
    serde_json::from_str(&event.to_string())
        .map_err(|error| Diagnostic::new("UnreadableEvent", error.to_string()))
}

#[lambda_kit::handler]
async fn triggers(event: Value, _ctx: Context) -> Result<Value, Diagnostic> {
    if event.get("awslogs").is_some() {
        let event: LogsEvent = read(&event)?;
        let data = event.aws_logs.data;
        let messages: Vec<String> = data
            .log_events
            .into_iter()
            .map(|entry| entry.message)
            .collect();
        return Ok(
            json!({"kind": "logs", "group": data.log_group, "stream": data.log_stream, "messages": messages}),
        );
    }
    if event.get("deliveryStreamArn").is_some() {
        let event: KinesisFirehoseEvent = read(&event)?;
        let data: Vec<String> = event
            .records
            .iter()
            .map(|record| String::from_utf8_lossy(&record.data).into_owned())
            .collect();
        let response = lambda_kit::batch::firehose(event, |record| async move {
            Ok::<_, Diagnostic>(Transformation::Ok(record.data.to_ascii_uppercase()))
        })
        .await;
        return Ok(json!({"kind": "firehose", "data": data, "response": response}));
    }
    if event.get("bootstrapServers").is_some() {
        let event: KafkaEvent = read(&event)?;
        let records: Vec<Value> = kafka::records(&event)?
            .iter()
            .map(|record| {
                json!({
                    "topic": record.topic(),
                    "partition": record.partition(),
                    "key": String::from_utf8_lossy(record.key().unwrap_or_default()),
                    "value": String::from_utf8_lossy(record.value_bytes().unwrap_or_default()),
                    "source": String::from_utf8_lossy(record.header("source").unwrap_or_default()),
                })
            })
            .collect();
        return Ok(json!({"kind": "kafka", "records": records}));
    }
    match event.get("triggerSource").and_then(Value::as_str) {
        Some(source) if source.starts_with("PreSignUp_") => {
            let event: PreSignUp = read(&event)?;
            let confirm = event
                .email()
                .is_some_and(|email| email.ends_with("@example.com"));
            let answer = if confirm { event.auto_confirm() } else { event };
            return serde_json::to_value(answer)
                .map_err(|error| Diagnostic::new("Unanswerable", error.to_string()));
        }
        Some(source) if source.starts_with("TokenGeneration_") => {
            let event: PreTokenGeneration = read(&event)?;
            let greeting = format!("hello {}", event.header.user_name);
            return serde_json::to_value(event.add_claim("greeting", greeting))
                .map_err(|error| Diagnostic::new("Unanswerable", error.to_string()));
        }
        _ => {}
    }
    let from_ses = event
        .pointer("/Records/0/eventSource")
        .is_some_and(|source| source == "aws:ses");
    if from_ses {
        let event: SimpleEmailEvent = read(&event)?;
        let ses = &event.records[0].ses;
        return Ok(json!({
            "kind": "ses",
            "from": ses.mail.source,
            "subject": ses.mail.common_headers.subject,
            "recipients": ses.receipt.recipients,
        }));
    }
    // Anything else is a topic rule's message (`SELECT *, topic() AS topic`).
    let event: TopicMessage<Map<String, Value>> = read(&event)?;
    Ok(json!({"kind": "iot", "topic": event.topic, "message": event.message}))
}
