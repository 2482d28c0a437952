//! An SQS queue's event source mapping (AWS "Using Lambda with Amazon SQS"): receive a batch
//! (up to `batch_size`, at most 10 a call, gathered for up to `batching_window` seconds),
//! invoke the function with it, and delete what succeeded.
//!
//! - A success deletes the whole batch; with `report_batch_item_failures`, all but the
//!   messages the answer's `batchItemFailures` names. An answer naming a message that is not in
//!   the batch (or none at all) fails the whole batch, as Lambda's does.
//! - A function error (or timeout, or crash) deletes nothing: the messages come back after
//!   the queue's visibility timeout (the queue's own; serve sets none), and the queue's
//!   redrive policy moves a message received `maxReceiveCount` times to its dead-letter queue.
//! - FIFO queues: SQS hands out a message group's messages in order and one batch at a time;
//!   when a message of a group fails, the later messages of that group in the batch are kept
//!   too, so that they come back after it, in order.
//!
//! Locally, one poller per trigger delivers one batch at a time (Lambda runs up to five
//! pollers and scales them with the queue).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{Map, Value};

use super::{Delivered, Outage, Setting, reported_failures};
use crate::aws::{self, Aws};
use crate::deploy::settings::StreamTrigger;
use crate::deploy::{Mapped, source_arn};
use crate::emulator::Emulator;
use crate::error::CliError;
use crate::events::{SqsMessage, sqs_attribute, sqs_record};

/// The most messages one ReceiveMessage (or DeleteMessageBatch) takes.
const MAX_PER_CALL: usize = 10;
/// The longest a ReceiveMessage may wait for a message (SQS long polling).
const LONG_POLL: i32 = 20;
/// How long a poller waits after SQS refused a call, or could not be reached.
const AFTER_FAILURE: Duration = Duration::from_secs(5);

/// A queue found, and how its trigger reads it.
#[derive(Debug)]
pub(super) struct Queue {
    function: String,
    pub(super) arn: String,
    url: String,
    region: String,
    fifo: bool,
    batch_size: usize,
    window: Duration,
    report_failures: bool,
    at: Setting,
}

impl Queue {
    /// The queue `trigger` of `at`'s function reads, looked up at the endpoint `aws` calls.
    ///
    /// # Errors
    ///
    /// [`CliError::Conflict`] naming the setting when the queue does not exist; SQS's error
    /// when it cannot be asked.
    pub(super) async fn open(
        aws: &Aws,
        at: &Setting,
        trigger: &StreamTrigger,
    ) -> Result<Self, CliError> {
        let arn = source_arn(aws, Mapped::Sqs, trigger).await?;
        let mut parts = arn.splitn(6, ':').skip(3);
        let (Some(region), Some(account), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CliError::Config {
                key: at.path.clone(),
                problem: format!(
                    "of the function `{}` is `{arn}`, which is not a queue's name or ARN",
                    at.function
                ),
            });
        };
        let found = aws
            .sqs
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .customize()
            .config_override(
                aws_sdk_sqs::config::Builder::default()
                    .region(aws_config::Region::new(region.to_owned())),
            )
            .send()
            .await;
        let url = match found {
            Ok(found) => found.queue_url().unwrap_or_default().to_owned(),
            Err(error)
                if matches!(
                    aws::code(&error),
                    Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")
                ) =>
            {
                return Err(at.missing(
                    &format!("the SQS queue `{name}` in {region}"),
                    Some(&format!("aws sqs create-queue --queue-name {name}")),
                ));
            }
            Err(error) => return Err(aws::failed("sqs:GetQueueUrl", error)),
        };
        Ok(Self {
            function: at.function.clone(),
            fifo: name.ends_with(".fifo"),
            region: region.to_owned(),
            arn,
            url,
            batch_size: trigger.batch_size.unwrap_or(MAX_PER_CALL as u32) as usize,
            window: Duration::from_secs(trigger.batching_window.unwrap_or(0).into()),
            report_failures: trigger.report_batch_item_failures,
            at: at.clone(),
        })
    }

    /// Delivers the queue's messages to the function, batch after batch, until stopped.
    pub(super) async fn poll(self, emulator: std::sync::Arc<Emulator>, sqs: aws_sdk_sqs::Client) {
        let mut outage = Outage::default();
        loop {
            let batch = match self.gather(&sqs).await {
                Ok(batch) => {
                    outage.over(&self.arn);
                    batch
                }
                Err(error) => {
                    outage.failed("receive from", &self.arn, &self.at, &error);
                    tokio::time::sleep(AFTER_FAILURE).await;
                    continue;
                }
            };
            let records: Vec<Value> = batch.iter().map(|message| self.record(message)).collect();
            let event = serde_json::json!({ "Records": records });
            let Some(delivered) = emulator.invoke_batch(&self.function, &event).await else {
                return;
            };
            let ids: Vec<&str> = batch
                .iter()
                .map(|message| message.message_id().unwrap_or_default())
                .collect();
            let failed = match delivered {
                Delivered::Failed(error) => {
                    eprintln!(
                        "lambdakit: `{}` failed a batch of {} from {} ({error}): its messages come back after the queue's visibility timeout",
                        self.function,
                        batch.len(),
                        self.arn
                    );
                    continue;
                }
                Delivered::Answered(answer) if self.report_failures => {
                    match reported_failures(&answer, &ids) {
                        Ok(failed) => failed,
                        Err(problem) => {
                            eprintln!(
                                "lambdakit: `{}` answered a batch of {} from {} with {problem}: the whole batch comes back after the queue's visibility timeout",
                                self.function,
                                batch.len(),
                                self.arn
                            );
                            continue;
                        }
                    }
                }
                Delivered::Answered(_) => BTreeSet::new(),
            };
            let groups: Vec<Option<&str>> = batch
                .iter()
                .map(|message| self.fifo.then(|| group_of(message)).flatten())
                .collect();
            let keep = kept(&ids, &groups, &failed);
            let done: Vec<&Message> = batch
                .iter()
                .zip(&keep)
                .filter(|(_, kept)| !**kept)
                .map(|(message, _)| message)
                .collect();
            if let Err(error) = self.delete(&sqs, &done).await {
                eprintln!(
                    "lambdakit: cannot delete the messages `{}` processed from {}: {error}; they come back after the queue's visibility timeout",
                    self.function, self.arn
                );
            }
        }
    }

    /// A batch: up to `batch_size` messages, gathered for up to the batching window after the
    /// first one comes (long polling while none has).
    async fn gather(&self, sqs: &aws_sdk_sqs::Client) -> Result<Vec<Message>, String> {
        let mut batch: Vec<Message> = Vec::new();
        let mut closes = Instant::now();
        loop {
            let wait = if batch.is_empty() {
                LONG_POLL
            } else {
                let left = closes.saturating_duration_since(Instant::now());
                left.as_secs().min(LONG_POLL as u64) as i32
            };
            let wanted = (self.batch_size - batch.len()).min(MAX_PER_CALL);
            let received = sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(wanted as i32)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|error| error_text(&error))?;
            let first = batch.is_empty();
            batch.extend(received.messages().iter().cloned());
            if first && !batch.is_empty() {
                closes = Instant::now() + self.window;
            }
            if !batch.is_empty() && (batch.len() >= self.batch_size || Instant::now() >= closes) {
                return Ok(batch);
            }
        }
    }

    /// `message` as its record of the SQS event.
    fn record(&self, message: &Message) -> Value {
        let attributes: Map<String, Value> = message
            .attributes()
            .into_iter()
            .flatten()
            .map(|(name, value)| (name.as_str().to_owned(), Value::from(value.as_str())))
            .collect();
        let message_attributes: Map<String, Value> = message
            .message_attributes()
            .into_iter()
            .flatten()
            .map(|(name, value)| {
                let attribute = sqs_attribute(
                    value.data_type(),
                    value.string_value(),
                    value.binary_value().map(aws_smithy_types::Blob::as_ref),
                );
                (name.clone(), attribute)
            })
            .collect();
        sqs_record(&SqsMessage {
            id: message.message_id().unwrap_or_default(),
            receipt_handle: message.receipt_handle().unwrap_or_default(),
            body: message.body().unwrap_or_default(),
            attributes: Value::Object(attributes),
            message_attributes: Value::Object(message_attributes),
            md5_of_body: message.md5_of_body().unwrap_or_default(),
            queue_arn: &self.arn,
            region: &self.region,
        })
    }

    /// Deletes `messages` (DeleteMessageBatch, ten at a time).
    async fn delete(&self, sqs: &aws_sdk_sqs::Client, messages: &[&Message]) -> Result<(), String> {
        for chunk in messages.chunks(MAX_PER_CALL) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(index, message)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .receipt_handle(message.receipt_handle().unwrap_or_default())
                        .build()
                        .map_err(|error| error.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            let deleted = sqs
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|error| error_text(&error))?;
            if let Some(failed) = deleted.failed().first() {
                return Err(format!(
                    "{}: {}",
                    failed.code(),
                    failed.message().unwrap_or_default()
                ));
            }
        }
        Ok(())
    }
}

/// A FIFO message's group.
fn group_of(message: &Message) -> Option<&str> {
    message
        .attributes()?
        .get(&MessageSystemAttributeName::MessageGroupId)
        .map(String::as_str)
}

/// Which messages of a batch stay on the queue: those `failed`, and in a FIFO queue (each
/// message's group in `groups`), every later message of a group that failed one.
fn kept(ids: &[&str], groups: &[Option<&str>], failed: &BTreeSet<&str>) -> Vec<bool> {
    let mut blocked: BTreeSet<&str> = BTreeSet::new();
    ids.iter()
        .zip(groups)
        .map(|(id, group)| {
            let keep = failed.contains(id) || group.is_some_and(|group| blocked.contains(group));
            if let (true, Some(group)) = (keep, group) {
                blocked.insert(group);
            }
            keep
        })
        .collect()
}

/// An SDK error as one line: the service's code and message, or what kept the call from it.
fn error_text<E, R>(error: &aws_sdk_sqs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        aws_sdk_sqs::error::SdkError::ServiceError(service) => format!(
            "{}: {}",
            service.err().code().unwrap_or("Unknown"),
            service.err().message().unwrap_or_default()
        ),
        other => aws_sdk_sqs::error::DisplayErrorContext(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_fifo_message_keeps_the_rest_of_its_group_behind_it() {
        let ids = ["1", "2", "3", "4"];
        let groups = [Some("g"), Some("h"), Some("g"), Some("h")];
        let failed = BTreeSet::from(["1"]);
        assert_eq!(kept(&ids, &groups, &failed), [true, false, true, false]);
        // A standard queue keeps only what failed.
        assert_eq!(kept(&ids, &[None; 4], &failed), [true, false, false, false]);
    }

    #[test]
    fn records_read_as_the_sqs_event_of_aws_lambda_events() {
        let queue = Queue {
            function: "f".into(),
            arn: "arn:aws:sqs:eu-west-1:123456789012:q".into(),
            url: String::new(),
            region: "eu-west-1".into(),
            fifo: false,
            batch_size: 10,
            window: Duration::ZERO,
            report_failures: true,
            at: Setting {
                function: "f".into(),
                path: "triggers.sqs[0].queue".into(),
            },
        };
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body("hello")
            .md5_of_body("5d41402abc4b2a76b9719d911017c592")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .message_attributes(
                "kind",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("order")
                    .build()
                    .unwrap(),
            )
            .build();
        let event = serde_json::json!({"Records": [queue.record(&message)]});
        let read: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event).unwrap();
        let record = &read.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m-1"));
        assert_eq!(record.body.as_deref(), Some("hello"));
        assert_eq!(record.event_source_arn.as_deref(), Some(queue.arn.as_str()));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "1");
        assert_eq!(
            record.message_attributes["kind"].string_value.as_deref(),
            Some("order")
        );
    }
}
