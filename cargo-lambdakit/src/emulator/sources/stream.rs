//! A Kinesis or DynamoDB stream's event source mapping (AWS "Using Lambda with Kinesis Data
//! Streams", "Using Lambda with DynamoDB"): each shard read from `starting_position`
//! (`TRIM_HORIZON` or `LATEST`), its records handed to the function in batches, in order.
//!
//! - A batch is delivered when it has `batch_size` records (default 100), or when its first
//!   record has waited `batching_window` seconds (default: at once).
//! - A function error (or timeout, or crash) is retried with the same batch, after 1 s, then
//!   2, 4, .. up to a minute: the shard waits, as on Lambda, whose default is to retry until
//!   the records expire.
//! - With `report_batch_item_failures`, the answer's `batchItemFailures` (records' sequence
//!   numbers) checkpoint the shard: the records before the lowest one named are done, and the
//!   batch is retried from it. An answer naming a record not in the batch fails it whole.
//!
//! Shards are listed when the poller starts (a stream resharded while serve runs is read as
//! it was). Kinesis and DynamoDB Streams are called through [`crate::aws::signed`], AWS JSON
//! 1.1 and 1.0.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Delivered, Setting, reported_failures};
use crate::aws::Aws;
use crate::aws::signed::{Api, Signed};
use crate::deploy::settings::{StartingPosition, StreamTrigger, Word as _};
use crate::deploy::{Mapped, source_arn};
use crate::emulator::Emulator;
use crate::error::CliError;
use crate::events::{KinesisRecord, dynamodb_record, kinesis_record};

/// How often an idle shard is read again (Lambda reads Kinesis shards once a second, DynamoDB
/// streams' four times).
const POLL: Duration = Duration::from_millis(250);
/// The first retry's delay after a failed batch; each next one doubles, up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// A stream found, and how its trigger reads it.
#[derive(Debug)]
pub(super) struct Stream {
    function: String,
    kind: Mapped,
    pub(super) arn: String,
    /// The role whose identity Kinesis records carry (`invokeIdentityArn`).
    role_arn: String,
    region: String,
    batch_size: usize,
    window: Duration,
    report_failures: bool,
    at: Setting,
    shards: Vec<Shard>,
}

/// A shard, read in order.
#[derive(Debug)]
struct Shard {
    id: String,
    /// `None` once a closed shard is read to its end.
    iterator: Option<String>,
    /// Records read and not yet done with, in order.
    pending: VecDeque<Value>,
    /// When the first of `pending` was read.
    since: Option<Instant>,
    /// Failed deliveries of the batch at the front, and when to try it again.
    failures: u32,
    retry_at: Option<Instant>,
}

impl Stream {
    /// The stream `trigger` of `at`'s function reads, its shards and their iterators.
    ///
    /// # Errors
    ///
    /// [`CliError::Conflict`] naming the setting when the stream (or table, or its stream)
    /// does not exist; the service's error when it cannot be asked.
    pub(super) async fn open(
        aws: &Aws,
        kind: Mapped,
        at: &Setting,
        trigger: &StreamTrigger,
    ) -> Result<Self, CliError> {
        let named = |error: CliError| match error {
            CliError::Conflict {
                resource,
                problem,
                hint,
            } => CliError::Conflict {
                resource: format!("{resource} ({at})"),
                problem,
                hint: format!("{hint}; serve goes on without this trigger"),
            },
            other => other,
        };
        let arn = source_arn(aws, kind, trigger).await.map_err(named)?;
        let missing = |what: String| at.missing(&what, None);
        let position = trigger.starting_position.unwrap_or_default();
        let ids = match kind {
            Mapped::Kinesis => {
                let listed = aws
                    .signed
                    .json(Api::Kinesis, "ListShards", &json!({"StreamARN": arn}))
                    .await;
                let listed = match listed {
                    Ok(listed) => listed,
                    Err(failure) if failure.code() == Some("ResourceNotFoundException") => {
                        return Err(missing(format!("the Kinesis stream {arn}")));
                    }
                    Err(failure) => return Err(failure.into_error("kinesis:ListShards")),
                };
                shard_ids(&listed["Shards"])
            }
            _ => {
                let described = aws
                    .signed
                    .json(
                        Api::DynamoDbStreams,
                        "DescribeStream",
                        &json!({"StreamArn": arn}),
                    )
                    .await;
                let described = match described {
                    Ok(described) => described,
                    Err(failure) if failure.code() == Some("ResourceNotFoundException") => {
                        return Err(missing(format!("the DynamoDB stream {arn}")));
                    }
                    Err(failure) => return Err(failure.into_error("dynamodb:DescribeStream")),
                };
                shard_ids(&described["StreamDescription"]["Shards"])
            }
        };
        let mut shards = Vec::new();
        for id in ids {
            let iterator = iterator(&aws.signed, kind, &arn, &id, position)
                .await
                .map_err(|failure| {
                    failure.into_error(&format!("{}:GetShardIterator", service(kind)))
                })?;
            shards.push(Shard {
                id,
                iterator,
                pending: VecDeque::new(),
                since: None,
                failures: 0,
                retry_at: None,
            });
        }
        Ok(Self {
            function: at.function.clone(),
            kind,
            role_arn: aws.role_arn(&format!("{}-lambdakit", at.function)),
            region: aws.region.clone(),
            arn,
            batch_size: trigger.batch_size.unwrap_or(100) as usize,
            window: Duration::from_secs(trigger.batching_window.unwrap_or(0).into()),
            report_failures: trigger.report_batch_item_failures,
            at: at.clone(),
            shards,
        })
    }

    /// Reads the shards and delivers their records, until stopped.
    pub(super) async fn poll(mut self, emulator: Arc<Emulator>, signed: Signed) {
        let mut failing = false;
        loop {
            let mut busy = false;
            for index in 0..self.shards.len() {
                match self.read(&signed, index).await {
                    Ok(()) if failing => {
                        eprintln!("lambdakit: {} answers again", self.arn);
                        failing = false;
                    }
                    Ok(()) => {}
                    Err(error) => {
                        if !failing {
                            eprintln!(
                                "lambdakit: cannot read {} ({}): {error}; trying again",
                                self.arn, self.at
                            );
                            failing = true;
                        }
                    }
                }
                if self.ready(index) {
                    busy = true;
                    if !self.deliver(&emulator, index).await {
                        return;
                    }
                }
            }
            if !busy {
                tokio::time::sleep(POLL).await;
            }
        }
    }

    /// Reads the shard's next records, while its batch is not full.
    async fn read(&mut self, signed: &Signed, index: usize) -> Result<(), String> {
        let batch_size = self.batch_size;
        let shard = &mut self.shards[index];
        let (Some(iterator), true) = (&shard.iterator, shard.pending.len() < batch_size) else {
            return Ok(());
        };
        let limit = (batch_size - shard.pending.len()).min(10_000);
        let mut request = json!({"ShardIterator": iterator, "Limit": limit});
        let api = match self.kind {
            // Kinesis takes the stream's ARN beside the iterator (moto needs it).
            Mapped::Kinesis => {
                request["StreamARN"] = json!(self.arn);
                Api::Kinesis
            }
            _ => Api::DynamoDbStreams,
        };
        let read = signed
            .json(api, "GetRecords", &request)
            .await
            .map_err(|failure| failure.into_error("GetRecords").to_string())?;
        shard.iterator = read["NextShardIterator"].as_str().map(str::to_owned);
        let records = read["Records"].as_array().cloned().unwrap_or_default();
        if !records.is_empty() && shard.pending.is_empty() {
            shard.since = Some(Instant::now());
        }
        shard.pending.extend(records);
        Ok(())
    }

    /// Whether the shard has a batch to deliver now: full, or its window over, and not
    /// waiting to retry.
    fn ready(&self, index: usize) -> bool {
        let shard = &self.shards[index];
        let now = Instant::now();
        !shard.pending.is_empty()
            && shard.retry_at.is_none_or(|at| now >= at)
            && (shard.pending.len() >= self.batch_size
                || shard.since.is_some_and(|since| now >= since + self.window)
                || shard.failures > 0)
    }

    /// Delivers the shard's next batch and settles it; `false` when the function is no longer
    /// served.
    async fn deliver(&mut self, emulator: &Emulator, index: usize) -> bool {
        let count = self.shards[index].pending.len().min(self.batch_size);
        let batch: Vec<Value> = self.shards[index]
            .pending
            .iter()
            .take(count)
            .cloned()
            .collect();
        let records: Vec<Value> = batch
            .iter()
            .map(|record| self.record(&self.shards[index].id, record))
            .collect();
        let sequence_numbers: Vec<String> = batch
            .iter()
            .map(|record| self.sequence_number(record))
            .collect();
        let ids: Vec<&str> = sequence_numbers.iter().map(String::as_str).collect();
        let event = json!({ "Records": records });
        let Some(delivered) = emulator.invoke_batch(&self.function, &event).await else {
            return false;
        };
        // How many records of the batch are done.
        let done = match delivered {
            Delivered::Answered(answer) if self.report_failures => {
                match reported_failures(&answer, &ids) {
                    Ok(failed) => ids
                        .iter()
                        .position(|id| failed.contains(id))
                        .unwrap_or(count),
                    Err(problem) => {
                        self.failed(index, count, &format!("answered with {problem}"));
                        return true;
                    }
                }
            }
            Delivered::Answered(_) => count,
            Delivered::Failed(error) => {
                self.failed(index, count, &format!("failed ({error})"));
                return true;
            }
        };
        let shard = &mut self.shards[index];
        shard.pending.drain(..done);
        if done < count {
            // Checkpointed: retried from the first record reported.
            let delay = retry_delay(shard.failures);
            shard.failures += 1;
            shard.retry_at = Some(Instant::now() + delay);
        } else {
            shard.failures = 0;
            shard.retry_at = None;
        }
        shard.since = (!shard.pending.is_empty()).then(Instant::now);
        true
    }

    /// The batch at the front of the shard failed whole: it is tried again after a delay.
    fn failed(&mut self, index: usize, count: usize, how: &str) {
        let shard = &mut self.shards[index];
        let delay = retry_delay(shard.failures);
        shard.failures += 1;
        shard.retry_at = Some(Instant::now() + delay);
        eprintln!(
            "lambdakit: `{}` {how} on a batch of {count} from {} ({}); retrying it in {} s",
            self.function,
            self.arn,
            shard.id,
            delay.as_secs()
        );
    }

    /// The sequence number of a record as GetRecords answered it.
    fn sequence_number(&self, record: &Value) -> String {
        let number = match self.kind {
            Mapped::Kinesis => &record["SequenceNumber"],
            _ => &record["dynamodb"]["SequenceNumber"],
        };
        number.as_str().unwrap_or_default().to_owned()
    }

    /// A record as GetRecords answered it, as its record of the event.
    fn record(&self, shard: &str, record: &Value) -> Value {
        match self.kind {
            Mapped::Kinesis => kinesis_record(&KinesisRecord {
                shard,
                partition_key: record["PartitionKey"].as_str().unwrap_or_default(),
                sequence_number: record["SequenceNumber"].as_str().unwrap_or_default(),
                data: record["Data"].as_str().unwrap_or_default(),
                arrival: record["ApproximateArrivalTimestamp"]
                    .as_f64()
                    .unwrap_or_default(),
                stream_arn: &self.arn,
                role_arn: &self.role_arn,
                region: &self.region,
            }),
            _ => dynamodb_record(record.clone(), &self.arn),
        }
    }
}

/// The delay before the retry after `failures` failures.
fn retry_delay(failures: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(failures))
        .min(MAX_RETRY)
}

/// The service's name in IAM's words, for errors.
fn service(kind: Mapped) -> &'static str {
    match kind {
        Mapped::Kinesis => "kinesis",
        _ => "dynamodb",
    }
}

/// The ids of a ListShards or DescribeStream answer's shards.
fn shard_ids(shards: &Value) -> Vec<String> {
    shards
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|shard| shard["ShardId"].as_str().map(str::to_owned))
        .collect()
}

/// An iterator of the shard `id` of the stream `arn` at `position`.
async fn iterator(
    signed: &Signed,
    kind: Mapped,
    arn: &str,
    id: &str,
    position: StartingPosition,
) -> Result<Option<String>, crate::aws::signed::Failure> {
    let (api, body) = match kind {
        Mapped::Kinesis => (
            Api::Kinesis,
            json!({"StreamARN": arn, "ShardId": id, "ShardIteratorType": position.as_str()}),
        ),
        _ => (
            Api::DynamoDbStreams,
            json!({"StreamArn": arn, "ShardId": id, "ShardIteratorType": position.as_str()}),
        ),
    };
    let answer = signed.json(api, "GetShardIterator", &body).await?;
    Ok(answer["ShardIterator"].as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_a_minute() {
        assert_eq!(retry_delay(0), Duration::from_secs(1));
        assert_eq!(retry_delay(3), Duration::from_secs(8));
        assert_eq!(retry_delay(40), MAX_RETRY);
    }
}
