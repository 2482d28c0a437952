//! Batch processing with partial failures: one handler per record, and the
//! `batchItemFailures` response that makes Lambda retry only the records that failed.
//!
//! An SQS, Kinesis or DynamoDB Streams event source mapping hands a function a batch of
//! records. Without a partial batch response, one failing record makes Lambda retry the whole
//! batch, successes included. With `ReportBatchItemFailures` turned on for the mapping, the
//! function answers with the records that failed, and this module writes that answer: each
//! record goes to an `async` record handler, every `Err` is logged with the record's id and
//! reported, and the order rules of each source are kept:
//!
//! - **Standard SQS queues**: every message is processed, and each failing message is reported
//!   by its `messageId`. [`Batch::concurrency`] runs several at once.
//! - **SQS FIFO queues** (the queue ARN ends in `.fifo`, or the messages carry a
//!   `MessageGroupId` attribute): messages are processed in order, and at the first failure
//!   processing stops; that message and every message after it are reported, so that none is
//!   delivered out of order (AWS "Handling errors for an SQS event source in Lambda").
//! - **Kinesis and DynamoDB streams**: records are processed in order, and at the first failure
//!   processing stops and that record's sequence number alone is reported. Lambda checkpoints
//!   at the lowest sequence number reported and retries every record from there, so reporting
//!   the records after it too would change nothing (AWS "Configuring partial batch response
//!   with Kinesis Data Streams and Lambda").
//! - **Kafka** (Amazon MSK, self-managed): each topic-partition is a stream of its own, processed
//!   in offset order and stopped at its first failure, which is reported by partition and
//!   offset; the other partitions go on ([`Batch::kafka`]).
//!
//! [`Batch::firehose`] answers a Firehose transformation: every record's result (`Ok` with the
//! new data, `Dropped`, or `ProcessingFailed` for a handler's error), not only the failures.
//!
//! A record whose id is missing (the services always send one) and that fails is reported with
//! an empty `itemIdentifier`, which Lambda treats as a failure of the whole batch: everything is
//! retried, and nothing is lost. A record handler that panics fails the invocation, with the
//! same effect.
//!
//! ```no_run
//! use lambda_kit::batch::{self, Batch};
//! use lambda_kit::events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
//! use lambda_kit::{Context, Diagnostic};
//!
//! #[derive(serde::Deserialize)]
//! struct Order {
//!     id: String,
//! }
//!
//! async fn ship(message: SqsMessage) -> Result<(), Diagnostic> {
//!     let order: Order = batch::decode(&message)?;
//!     tracing::info!(order = %order.id, "shipping");
//!     Ok(())
//! }
//!
//! #[lambda_kit::handler]
//! async fn handler(event: SqsEvent, _ctx: Context) -> Result<SqsBatchResponse, Diagnostic> {
//!     Ok(Batch::new().concurrency(8).sqs(event, ship).await)
//! }
//! ```

use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::Poll;

use crate::Diagnostic;

/// How a batch is processed: for now, how many records of a standard SQS queue run at once.
///
/// The free functions `batch::sqs`, `batch::kinesis` and `batch::dynamodb` are
/// `Batch::new()` with the defaults.
///
/// # Examples
///
/// ```
/// use lambda_kit::batch::Batch;
/// use lambda_kit::events::sqs::{SqsEvent, SqsMessage};
///
/// async fn handle(message: SqsMessage) -> Result<(), String> {
///     match message.body.as_deref() {
///         Some("poison") => Err("cannot handle this one".to_owned()),
///         _ => Ok(()),
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), serde_json::Error> {
/// let event: SqsEvent = serde_json::from_str(r#"{"Records": [
///     {"messageId": "m-1", "body": "fine"},
///     {"messageId": "m-2", "body": "poison"},
///     {"messageId": "m-3", "body": "fine"}
/// ]}"#)?;
/// let response = Batch::new().concurrency(4).sqs(event, handle).await;
/// assert_eq!(response.batch_item_failures.len(), 1);
/// assert_eq!(response.batch_item_failures[0].item_identifier, "m-2");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Batch {
    concurrency: NonZeroUsize,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    /// Records one at a time, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let batch = lambda_kit::batch::Batch::new();
    /// # let _ = batch;
    /// ```
    pub fn new() -> Self {
        Self {
            concurrency: NonZeroUsize::MIN,
        }
    }

    /// Processes up to `limit` messages of a standard SQS queue at once (0 counts as 1).
    ///
    /// The messages run interleaved on the invocation's thread, as `async` code does on
    /// lambda-kit's single-threaded runtime: this pays off when record handlers wait on I/O
    /// (an SDK call per record), not for CPU-bound work. FIFO queues and streams ignore it,
    /// since their records must be processed in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let batch = lambda_kit::batch::Batch::new().concurrency(8);
    /// # let _ = batch;
    /// ```
    #[must_use]
    pub fn concurrency(mut self, limit: usize) -> Self {
        self.concurrency = NonZeroUsize::new(limit).unwrap_or(NonZeroUsize::MIN);
        self
    }

    /// Processes the messages of an SQS event with `handler`, and answers which failed.
    ///
    /// See the [module docs](self) for the order rules of standard and FIFO queues.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use lambda_kit::batch::Batch;
    /// use lambda_kit::events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
    /// use lambda_kit::{Context, Diagnostic};
    ///
    /// async fn forward(message: SqsMessage) -> Result<(), Diagnostic> {
    ///     tracing::info!(body = message.body.as_deref(), "forwarding");
    ///     Ok(())
    /// }
    ///
    /// #[lambda_kit::handler]
    /// async fn handler(event: SqsEvent, _ctx: Context) -> Result<SqsBatchResponse, Diagnostic> {
    ///     Ok(Batch::new().concurrency(4).sqs(event, forward).await)
    /// }
    /// ```
    #[cfg(feature = "sqs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqs")))]
    pub async fn sqs<F, Fut, E>(
        &self,
        event: crate::events::sqs::SqsEvent,
        handler: F,
    ) -> crate::events::sqs::SqsBatchResponse
    where
        F: FnMut(crate::events::sqs::SqsMessage) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Diagnostic>,
    {
        let fifo = event.records.iter().any(|message| {
            message
                .event_source_arn
                .as_deref()
                .is_some_and(|arn| arn.ends_with(".fifo"))
                || message.attributes.contains_key("MessageGroupId")
        });
        let ids: Vec<String> = event
            .records
            .iter()
            .map(|message| message.message_id.clone().unwrap_or_default())
            .collect();
        let failed = if fifo {
            let run = process(&ids, event.records, NonZeroUsize::MIN, true, handler).await;
            match run.stopped_at {
                Some(first) => {
                    let skipped = ids.len() - first - 1;
                    if skipped > 0 {
                        tracing::warn!(
                            skipped,
                            "FIFO queue: the messages after the failed one are reported as failed without being processed, to keep their order"
                        );
                    }
                    (first..ids.len()).collect()
                }
                None => Vec::new(),
            }
        } else {
            process(&ids, event.records, self.concurrency, false, handler)
                .await
                .failed
        };
        let mut response = crate::events::sqs::SqsBatchResponse::default();
        for index in failed {
            response.add_failure(ids[index].clone());
        }
        response
    }

    /// Processes the records of a Kinesis event in order with `handler`, stopping at the first
    /// failure, whose sequence number the response reports.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use lambda_kit::batch::Batch;
    /// use lambda_kit::events::kinesis::{KinesisEvent, KinesisEventRecord, KinesisEventResponse};
    /// use lambda_kit::{Context, Diagnostic};
    ///
    /// async fn count(record: KinesisEventRecord) -> Result<(), Diagnostic> {
    ///     tracing::info!(bytes = record.kinesis.data.len(), "record");
    ///     Ok(())
    /// }
    ///
    /// #[lambda_kit::handler]
    /// async fn handler(event: KinesisEvent, _ctx: Context) -> Result<KinesisEventResponse, Diagnostic> {
    ///     Ok(Batch::new().kinesis(event, count).await)
    /// }
    /// ```
    #[cfg(feature = "kinesis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kinesis")))]
    pub async fn kinesis<F, Fut, E>(
        &self,
        event: crate::events::kinesis::KinesisEvent,
        handler: F,
    ) -> crate::events::kinesis::KinesisEventResponse
    where
        F: FnMut(crate::events::kinesis::KinesisEventRecord) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Diagnostic>,
    {
        let ids: Vec<String> = event
            .records
            .iter()
            .map(|record| record.kinesis.sequence_number.clone())
            .collect();
        let run = process(&ids, event.records, NonZeroUsize::MIN, true, handler).await;
        let mut response = crate::events::kinesis::KinesisEventResponse::default();
        if let Some(first) = run.stopped_at {
            response.add_failure(ids[first].clone());
        }
        response
    }

    /// Processes the records of a DynamoDB Streams event in order with `handler`, stopping at
    /// the first failure, whose sequence number the response reports.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use lambda_kit::batch::Batch;
    /// use lambda_kit::events::dynamodb::{DynamoDbEventResponse, Event, EventRecord};
    /// use lambda_kit::{Context, Diagnostic};
    ///
    /// async fn audit(record: EventRecord) -> Result<(), Diagnostic> {
    ///     tracing::info!(change = %record.event_name, "table changed");
    ///     Ok(())
    /// }
    ///
    /// #[lambda_kit::handler]
    /// async fn handler(event: Event, _ctx: Context) -> Result<DynamoDbEventResponse, Diagnostic> {
    ///     Ok(Batch::new().dynamodb(event, audit).await)
    /// }
    /// ```
    #[cfg(feature = "dynamodb")]
    #[cfg_attr(docsrs, doc(cfg(feature = "dynamodb")))]
    pub async fn dynamodb<F, Fut, E>(
        &self,
        event: crate::events::dynamodb::Event,
        handler: F,
    ) -> crate::events::dynamodb::DynamoDbEventResponse
    where
        F: FnMut(crate::events::dynamodb::EventRecord) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Diagnostic>,
    {
        let ids: Vec<String> = event
            .records
            .iter()
            .map(|record| record.change.sequence_number.clone().unwrap_or_default())
            .collect();
        let run = process(&ids, event.records, NonZeroUsize::MIN, true, handler).await;
        let mut response = crate::events::dynamodb::DynamoDbEventResponse::default();
        if let Some(first) = run.stopped_at {
            let mut failure = crate::events::dynamodb::DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(ids[first].clone());
            response.batch_item_failures.push(failure);
        }
        response
    }

    /// Processes the records of a Kafka event, each partition's in offset order, stopping a
    /// partition at its first failure, which the response reports; the other partitions go on.
    ///
    /// The handler gets each record decoded ([`Record`](crate::events::kafka::Record)); a
    /// record whose key or value is not base64 fails without reaching it. Lambda retries each
    /// reported partition from the reported offset, so the records after it are not reported
    /// (AWS "Configuring error handling controls for Kafka event sources"). Partitions are
    /// processed one after another.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use lambda_kit::batch::Batch;
    /// use lambda_kit::events::kafka::{KafkaEvent, KafkaEventResponse, Record};
    /// use lambda_kit::{Context, Diagnostic};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Payment {
    ///     cents: u64,
    /// }
    ///
    /// async fn settle(record: Record) -> Result<(), Diagnostic> {
    ///     let payment: Payment = record.value()?;
    ///     tracing::info!(cents = payment.cents, offset = record.offset(), "settling");
    ///     Ok(())
    /// }
    ///
    /// #[lambda_kit::handler]
    /// async fn handler(event: KafkaEvent, _ctx: Context) -> Result<KafkaEventResponse, Diagnostic> {
    ///     Ok(Batch::new().kafka(event, settle).await)
    /// }
    /// ```
    #[cfg(feature = "kafka")]
    #[cfg_attr(docsrs, doc(cfg(feature = "kafka")))]
    pub async fn kafka<F, Fut, E>(
        &self,
        event: crate::events::kafka::KafkaEvent,
        mut handler: F,
    ) -> crate::events::kafka::KafkaEventResponse
    where
        F: FnMut(crate::events::kafka::Record) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Into<Diagnostic>,
    {
        use crate::events::kafka::Record;

        let mut response = crate::events::kafka::KafkaEventResponse::default();
        for (partition, raw) in crate::events::kafka::partitions(&event) {
            // Records are decoded in order up to the first that does not decode: that one
            // fails, and the partition stops there as it would at a handler's failure.
            let mut records = Vec::with_capacity(raw.len());
            let mut undecodable = None;
            for raw in raw {
                match Record::decode(raw) {
                    Ok(record) => records.push(record),
                    Err(error) => {
                        tracing::error!(
                            item_identifier = error.record_id(),
                            error_type = "RecordDecodeError",
                            "record failed: {error}"
                        );
                        undecodable = Some(raw.offset);
                        break;
                    }
                }
            }
            let ids: Vec<String> = records.iter().map(Record::id).collect();
            let offsets: Vec<i64> = records.iter().map(Record::offset).collect();
            let run = process(&ids, records, NonZeroUsize::MIN, true, &mut handler).await;
            if let Some(offset) = run.stopped_at.map(|index| offsets[index]).or(undecodable) {
                response.add_failure(partition, offset);
            }
        }
        response
    }

    /// Transforms the records of a Firehose event with `handler`, and answers each record's
    /// result: `Ok` with the data the handler returned, `Dropped`, or `ProcessingFailed` with
    /// the original data when the handler failed (the error is logged with the record's id).
    ///
    /// Records are independent: [`Batch::concurrency`] runs several at once. The answer lists
    /// every record, in the order received, as Firehose requires.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use lambda_kit::batch::Batch;
    /// use lambda_kit::events::firehose::{KinesisFirehoseEvent, KinesisFirehoseEventRecord, Transformation, TransformationResponse};
    /// use lambda_kit::{Context, Diagnostic};
    ///
    /// #[derive(serde::Deserialize, serde::Serialize)]
    /// struct Click {
    ///     page: String,
    ///     bot: bool,
    /// }
    ///
    /// async fn clean(record: KinesisFirehoseEventRecord) -> Result<Transformation, Diagnostic> {
    ///     let click: Click = serde_json::from_slice(&record.data)
    ///         .map_err(|error| Diagnostic::new("NotAClick", error.to_string()))?;
    ///     if click.bot {
    ///         return Ok(Transformation::Dropped);
    ///     }
    ///     Transformation::json_line(&click)
    /// }
    ///
    /// #[lambda_kit::handler]
    /// async fn handler(event: KinesisFirehoseEvent, _ctx: Context) -> Result<TransformationResponse, Diagnostic> {
    ///     Ok(Batch::new().concurrency(8).firehose(event, clean).await)
    /// }
    /// ```
    #[cfg(feature = "firehose")]
    #[cfg_attr(docsrs, doc(cfg(feature = "firehose")))]
    pub async fn firehose<F, Fut, E>(
        &self,
        event: crate::events::firehose::KinesisFirehoseEvent,
        handler: F,
    ) -> crate::events::firehose::TransformationResponse
    where
        F: FnMut(crate::events::firehose::KinesisFirehoseEventRecord) -> Fut,
        Fut: Future<Output = Result<crate::events::firehose::Transformation, E>>,
        E: Into<Diagnostic>,
    {
        use crate::events::firehose::{
            RecordResult, Transformation, TransformationResponse, TransformedRecord,
        };

        let ids: Vec<String> = event
            .records
            .iter()
            .map(|record| record.record_id.clone().unwrap_or_default())
            .collect();
        // The original data answers for failed and dropped records, so it is kept aside.
        let originals: Vec<Vec<u8>> = event
            .records
            .iter()
            .map(|record| record.data.to_vec())
            .collect();
        let run = process(&ids, event.records, self.concurrency, false, handler).await;
        let mut response = TransformationResponse::default();
        for ((id, original), output) in ids.into_iter().zip(originals).zip(run.outputs) {
            let record = match output {
                Some(Transformation::Ok(data)) => {
                    TransformedRecord::new(id, RecordResult::Ok, data)
                }
                Some(Transformation::Dropped) => {
                    TransformedRecord::new(id, RecordResult::Dropped, original)
                }
                None => TransformedRecord::new(id, RecordResult::ProcessingFailed, original),
            };
            response.records.push(record);
        }
        response
    }
}

/// [`Batch::sqs`] with the defaults: one message at a time.
///
/// # Examples
///
/// ```no_run
/// use lambda_kit::events::sqs::{SqsBatchResponse, SqsEvent};
/// use lambda_kit::{Context, Diagnostic};
///
/// #[lambda_kit::handler]
/// async fn handler(event: SqsEvent, _ctx: Context) -> Result<SqsBatchResponse, Diagnostic> {
///     Ok(lambda_kit::batch::sqs(event, |message| async move {
///         match message.body {
///             Some(body) if !body.is_empty() => Ok(()),
///             _ => Err("empty message"),
///         }
///     })
///     .await)
/// }
/// ```
#[cfg(feature = "sqs")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqs")))]
pub async fn sqs<F, Fut, E>(
    event: crate::events::sqs::SqsEvent,
    handler: F,
) -> crate::events::sqs::SqsBatchResponse
where
    F: FnMut(crate::events::sqs::SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Into<Diagnostic>,
{
    Batch::new().sqs(event, handler).await
}

/// [`Batch::kinesis`] with the defaults.
///
/// # Examples
///
/// ```no_run
/// use lambda_kit::events::kinesis::{KinesisEvent, KinesisEventResponse};
/// use lambda_kit::{Context, Diagnostic};
///
/// #[lambda_kit::handler]
/// async fn handler(event: KinesisEvent, _ctx: Context) -> Result<KinesisEventResponse, Diagnostic> {
///     Ok(lambda_kit::batch::kinesis(event, |record| async move {
///         let reading: f64 = lambda_kit::batch::decode(&record)?;
///         tracing::info!(reading, "sensor");
///         Ok::<_, Diagnostic>(())
///     })
///     .await)
/// }
/// ```
#[cfg(feature = "kinesis")]
#[cfg_attr(docsrs, doc(cfg(feature = "kinesis")))]
pub async fn kinesis<F, Fut, E>(
    event: crate::events::kinesis::KinesisEvent,
    handler: F,
) -> crate::events::kinesis::KinesisEventResponse
where
    F: FnMut(crate::events::kinesis::KinesisEventRecord) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Into<Diagnostic>,
{
    Batch::new().kinesis(event, handler).await
}

/// [`Batch::dynamodb`] with the defaults.
///
/// # Examples
///
/// ```no_run
/// use lambda_kit::events::dynamodb::{DynamoDbEventResponse, Event};
/// use lambda_kit::{Context, Diagnostic};
///
/// #[lambda_kit::handler]
/// async fn handler(event: Event, _ctx: Context) -> Result<DynamoDbEventResponse, Diagnostic> {
///     Ok(lambda_kit::batch::dynamodb(event, |record| async move {
///         tracing::info!(change = %record.event_name, "table changed");
///         Ok::<_, Diagnostic>(())
///     })
///     .await)
/// }
/// ```
#[cfg(feature = "dynamodb")]
#[cfg_attr(docsrs, doc(cfg(feature = "dynamodb")))]
pub async fn dynamodb<F, Fut, E>(
    event: crate::events::dynamodb::Event,
    handler: F,
) -> crate::events::dynamodb::DynamoDbEventResponse
where
    F: FnMut(crate::events::dynamodb::EventRecord) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Into<Diagnostic>,
{
    Batch::new().dynamodb(event, handler).await
}

/// [`Batch::kafka`] with the defaults.
///
/// # Examples
///
/// ```no_run
/// use lambda_kit::events::kafka::{KafkaEvent, KafkaEventResponse};
/// use lambda_kit::{Context, Diagnostic};
///
/// #[lambda_kit::handler]
/// async fn handler(event: KafkaEvent, _ctx: Context) -> Result<KafkaEventResponse, Diagnostic> {
///     Ok(lambda_kit::batch::kafka(event, |record| async move {
///         let reading: f64 = record.value()?;
///         tracing::info!(reading, "sensor");
///         Ok::<_, Diagnostic>(())
///     })
///     .await)
/// }
/// ```
#[cfg(feature = "kafka")]
#[cfg_attr(docsrs, doc(cfg(feature = "kafka")))]
pub async fn kafka<F, Fut, E>(
    event: crate::events::kafka::KafkaEvent,
    handler: F,
) -> crate::events::kafka::KafkaEventResponse
where
    F: FnMut(crate::events::kafka::Record) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Into<Diagnostic>,
{
    Batch::new().kafka(event, handler).await
}

/// [`Batch::firehose`] with the defaults: one record at a time.
///
/// # Examples
///
/// ```no_run
/// use lambda_kit::events::firehose::{KinesisFirehoseEvent, Transformation, TransformationResponse};
/// use lambda_kit::{Context, Diagnostic};
///
/// #[lambda_kit::handler]
/// async fn handler(event: KinesisFirehoseEvent, _ctx: Context) -> Result<TransformationResponse, Diagnostic> {
///     Ok(lambda_kit::batch::firehose(event, |record| async move {
///         let upper = record.data.to_ascii_uppercase();
///         Ok::<_, Diagnostic>(Transformation::Ok(upper))
///     })
///     .await)
/// }
/// ```
#[cfg(feature = "firehose")]
#[cfg_attr(docsrs, doc(cfg(feature = "firehose")))]
pub async fn firehose<F, Fut, E>(
    event: crate::events::firehose::KinesisFirehoseEvent,
    handler: F,
) -> crate::events::firehose::TransformationResponse
where
    F: FnMut(crate::events::firehose::KinesisFirehoseEventRecord) -> Fut,
    Fut: Future<Output = Result<crate::events::firehose::Transformation, E>>,
    E: Into<Diagnostic>,
{
    Batch::new().firehose(event, handler).await
}

/// What [`process`] did.
struct Run<O = ()> {
    /// The records that failed, by index, in order.
    failed: Vec<usize>,
    /// With `stop_at_first_failure`: the index of the failure processing stopped at.
    stopped_at: Option<usize>,
    /// What each record's handler answered, by index: `None` for failed and unprocessed ones.
    outputs: Vec<Option<O>>,
}

/// Runs `handler` on each record, at most `limit` at once, logging each failure with its id.
///
/// The record futures are polled by hand on the caller's task rather than spawned, so they need
/// not be `Send` or `'static` and no task outlives the invocation. Each wake-up polls every
/// running future, which is cheap at the limits a batch uses (tens).
async fn process<R, F, Fut, O, E>(
    ids: &[String],
    records: Vec<R>,
    limit: NonZeroUsize,
    stop_at_first_failure: bool,
    mut handler: F,
) -> Run<O>
where
    F: FnMut(R) -> Fut,
    Fut: Future<Output = Result<O, E>>,
    E: Into<Diagnostic>,
{
    let mut waiting = records.into_iter().enumerate();
    let mut running: Vec<(usize, Pin<Box<Fut>>)> = Vec::with_capacity(limit.get());
    let mut run = Run {
        failed: Vec::new(),
        stopped_at: None,
        outputs: std::iter::repeat_with(|| None).take(ids.len()).collect(),
    };
    std::future::poll_fn(|cx| {
        loop {
            while run.stopped_at.is_none() && running.len() < limit.get() {
                let Some((index, record)) = waiting.next() else {
                    break;
                };
                running.push((index, Box::pin(handler(record))));
            }
            if running.is_empty() {
                return Poll::Ready(());
            }
            let mut finished = false;
            let mut slot = 0;
            while slot < running.len() {
                let Poll::Ready(result) = running[slot].1.as_mut().poll(cx) else {
                    slot += 1;
                    continue;
                };
                let (index, _) = running.swap_remove(slot);
                finished = true;
                match result {
                    Ok(output) => run.outputs[index] = Some(output),
                    Err(error) => {
                        let diagnostic: Diagnostic = error.into();
                        tracing::error!(
                            item_identifier = ids[index].as_str(),
                            error_type = diagnostic.error_type(),
                            "record failed: {}",
                            diagnostic.error_message()
                        );
                        run.failed.push(index);
                        if stop_at_first_failure && run.stopped_at.is_none() {
                            run.stopped_at = Some(index);
                        }
                    }
                }
            }
            if !finished {
                return Poll::Pending;
            }
        }
    })
    .await;
    run.failed.sort_unstable();
    run
}

/// A record whose payload is JSON: an SQS message's body, a Kinesis record's data.
///
/// Sealed: implemented for the record types of the enabled event features only.
#[cfg(any(feature = "sqs", feature = "kinesis"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqs", feature = "kinesis"))))]
pub trait JsonRecord: sealed::Sealed {
    /// What the record is called in messages: `SQS message`, `Kinesis record`.
    #[doc(hidden)]
    fn kind(&self) -> &'static str;
    /// The id a partial batch response names the record by.
    #[doc(hidden)]
    fn id(&self) -> Option<&str>;
    /// The payload, when the record has one.
    #[doc(hidden)]
    fn payload(&self) -> Option<&[u8]>;
}

#[cfg(any(feature = "sqs", feature = "kinesis"))]
mod sealed {
    #[allow(unreachable_pub)] // Public in a private module: nameable by no one outside the crate.
    pub trait Sealed {}
}

#[cfg(feature = "sqs")]
impl sealed::Sealed for crate::events::sqs::SqsMessage {}

#[cfg(feature = "sqs")]
impl JsonRecord for crate::events::sqs::SqsMessage {
    fn kind(&self) -> &'static str {
        "SQS message"
    }

    fn id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    fn payload(&self) -> Option<&[u8]> {
        self.body.as_deref().map(str::as_bytes)
    }
}

#[cfg(feature = "kinesis")]
impl sealed::Sealed for crate::events::kinesis::KinesisEventRecord {}

#[cfg(feature = "kinesis")]
impl JsonRecord for crate::events::kinesis::KinesisEventRecord {
    fn kind(&self) -> &'static str {
        "Kinesis record"
    }

    fn id(&self) -> Option<&str> {
        Some(&self.kinesis.sequence_number)
    }

    fn payload(&self) -> Option<&[u8]> {
        Some(&self.kinesis.data)
    }
}

/// Reads a record's JSON payload (an SQS message's body, a Kinesis record's data) as a `T`.
///
/// # Errors
///
/// Fails with a [`DecodeError`] naming the record and, when the JSON is well-formed but not a
/// `T`, the path that failed. It converts into a [`Diagnostic`] (`errorType`
/// `RecordDecodeError`) and into `Box<dyn Error + Send + Sync>`, so `?` works in a record
/// handler returning either.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::sqs::SqsEvent;
///
/// #[derive(serde::Deserialize)]
/// struct Order {
///     id: String,
///     quantity: u32,
/// }
///
/// let event: SqsEvent = serde_json::from_str(r#"{"Records": [
///     {"messageId": "m-1", "body": "{\"id\": \"o-1\", \"quantity\": 2}"},
///     {"messageId": "m-2", "body": "{\"id\": \"o-2\", \"quantity\": -1}"}
/// ]}"#)?;
/// let order: Order = lambda_kit::batch::decode(&event.records[0])?;
/// assert_eq!((order.id.as_str(), order.quantity), ("o-1", 2));
///
/// let error = lambda_kit::batch::decode::<Order, _>(&event.records[1]).err().unwrap();
/// assert_eq!(error.record_id(), "m-2");
/// assert!(error.to_string().starts_with("SQS message `m-2` is not a valid `Order`: at `quantity`"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(any(feature = "sqs", feature = "kinesis"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqs", feature = "kinesis"))))]
pub fn decode<T, R>(record: &R) -> Result<T, DecodeError>
where
    T: serde::de::DeserializeOwned,
    R: JsonRecord,
{
    decode_json(
        record.kind(),
        record.id().unwrap_or_default().to_owned(),
        record.payload(),
    )
}

/// Reads a record's payload as JSON into a `T`, or says which record is not a `T` and where.
#[cfg(any(feature = "sqs", feature = "kinesis", feature = "kafka"))]
pub(crate) fn decode_json<T>(
    kind: &str,
    record_id: String,
    payload: Option<&[u8]>,
) -> Result<T, DecodeError>
where
    T: serde::de::DeserializeOwned,
{
    let target = crate::diagnostic::short_type_name::<T>();
    let Some(payload) = payload else {
        return Err(DecodeError {
            message: format!("{kind} `{record_id}` has no body to read as a `{target}`"),
            record_id,
        });
    };
    serde_json::from_slice(payload).map_err(|error| {
        // As for events: the path costs on every record, so it is tracked only after a failure.
        let mut deserializer = serde_json::Deserializer::from_slice(payload);
        let path = serde_path_to_error::deserialize::<_, T>(&mut deserializer)
            .err()
            .map(|error| error.path().to_string())
            .filter(|path| path != ".");
        let message = match path {
            Some(path) => {
                format!("{kind} `{record_id}` is not a valid `{target}`: at `{path}`: {error}")
            }
            None => format!("{kind} `{record_id}` is not a valid `{target}`: {error}"),
        };
        DecodeError { record_id, message }
    })
}

/// A record whose payload is not the JSON the handler expected; see [`decode`].
///
/// # Examples
///
/// ```
/// use lambda_kit::events::sqs::SqsEvent;
///
/// let event: SqsEvent = serde_json::from_str(r#"{"Records": [{"messageId": "m-7", "body": "oops"}]}"#)?;
/// let error = lambda_kit::batch::decode::<u32, _>(&event.records[0]).err().unwrap();
/// let diagnostic = lambda_kit::Diagnostic::from(error);
/// assert_eq!(diagnostic.error_type(), "RecordDecodeError");
/// assert!(diagnostic.error_message().contains("`m-7`"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(any(feature = "sqs", feature = "kinesis", feature = "kafka"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "sqs", feature = "kinesis", feature = "kafka")))
)]
#[derive(Debug, Clone)]
pub struct DecodeError {
    record_id: String,
    message: String,
}

#[cfg(any(feature = "sqs", feature = "kinesis", feature = "kafka"))]
impl DecodeError {
    #[cfg(feature = "kafka")]
    pub(crate) fn new(record_id: String, message: String) -> Self {
        Self { record_id, message }
    }

    /// The id of the record that failed: the SQS message id, the Kinesis sequence number.
    ///
    /// # Examples
    ///
    /// ```
    /// # let event: lambda_kit::events::sqs::SqsEvent = serde_json::from_str(r#"{"Records": [{"messageId": "m-7"}]}"#).unwrap();
    /// let error = lambda_kit::batch::decode::<u32, _>(&event.records[0]).err().unwrap();
    /// assert_eq!(error.record_id(), "m-7");
    /// ```
    pub fn record_id(&self) -> &str {
        &self.record_id
    }
}

#[cfg(any(feature = "sqs", feature = "kinesis", feature = "kafka"))]
impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(any(feature = "sqs", feature = "kinesis", feature = "kafka"))]
impl std::error::Error for DecodeError {}

#[cfg(any(feature = "sqs", feature = "kinesis", feature = "kafka"))]
impl From<DecodeError> for Diagnostic {
    fn from(error: DecodeError) -> Self {
        Diagnostic::new("RecordDecodeError", error.message)
    }
}
