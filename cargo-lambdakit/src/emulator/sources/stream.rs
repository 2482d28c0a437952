//! A Kinesis or DynamoDB stream's event source mapping (AWS "Using Lambda with Kinesis Data
//! Streams", "Using Lambda with DynamoDB"): each shard read from `starting_position`
//! (`TRIM_HORIZON` or `LATEST`), its records handed to the function in batches, in order.
//!
//! - A batch is delivered when it has `batch_size` records (default 100), or when its first
//!   record has waited `batching_window` seconds (default: at once).
//! - A function error (or timeout, or crash) is retried with the same batch, after 1 s, then
//!   2, 4, .. up to a minute: the shard waits, as on Lambda, whose default is to retry until
//!   the records expire. With `maximum_retry_attempts`, a batch that failed that many retries
//!   is given up: its records are skipped, and the shard goes on.
//! - With `bisect_batch_on_function_error`, a batch of more than one record that fails whole is
//!   split in two at once, and the halves delivered one after the other (each split further
//!   when it fails); splitting counts no retry, as on Lambda: retries are of a batch of one
//!   record, or of a batch checkpointed by a partial batch response.
//! - With `maximum_record_age`, records older than that (by their arrival, Kinesis's
//!   `ApproximateArrivalTimestamp`, DynamoDB's `ApproximateCreationDateTime`) are skipped
//!   rather than delivered.
//! - With `report_batch_item_failures`, the answer's `batchItemFailures` (records' sequence
//!   numbers) checkpoint the shard: the records before the lowest one named are done, and the
//!   batch is retried from it. An answer naming a record not in the batch fails it whole.
//!
//! Records skipped (retries exhausted, too old) are named on serve's stderr; an on-failure
//! destination of a mapping is not part of the settings, so they go nowhere else.
//!
//! Shards are listed when the poller starts (a stream resharded while serve runs is read as
//! it was). Kinesis and DynamoDB Streams are called through [`crate::aws::signed`], AWS JSON
//! 1.1 and 1.0.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{Delivered, Outage, Setting, reported_failures};
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
    bisect: bool,
    max_retries: Option<u32>,
    max_age: Option<Duration>,
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
    /// The sizes of the next batches, when a failed one was split in two (bisected).
    splits: VecDeque<usize>,
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
                splits: VecDeque::new(),
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
            bisect: trigger.bisect_batch_on_function_error,
            max_retries: trigger.maximum_retry_attempts,
            max_age: trigger
                .maximum_record_age
                .map(|age| Duration::from_secs(age.into())),
            at: at.clone(),
            shards,
        })
    }

    /// Reads the shards and delivers their records, until stopped.
    pub(super) async fn poll(mut self, emulator: Arc<Emulator>, signed: Signed) {
        let mut outage = Outage::default();
        loop {
            let mut busy = false;
            for index in 0..self.shards.len() {
                match self.read(&signed, index).await {
                    Ok(()) => outage.over(&self.arn),
                    Err(error) => outage.failed("read", &self.arn, &self.at, &error),
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
                || shard.failures > 0
                || !shard.splits.is_empty())
    }

    /// Delivers the shard's next batch and settles it; `false` when the function is no longer
    /// served.
    async fn deliver(&mut self, emulator: &Emulator, index: usize) -> bool {
        self.expire(index);
        let shard = &self.shards[index];
        if shard.pending.is_empty() {
            return true;
        }
        let count = shard
            .splits
            .front()
            .copied()
            .unwrap_or(self.batch_size)
            .min(shard.pending.len());
        let batch: Vec<Value> = shard.pending.iter().take(count).cloned().collect();
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
            // Checkpointed: retried from the first record reported, as a batch of its own.
            shard.splits.clear();
            self.retry(index, count - done, "reported records failed");
        } else {
            shard.splits.pop_front();
            shard.failures = 0;
            shard.retry_at = None;
        }
        let shard = &mut self.shards[index];
        shard.since = (!shard.pending.is_empty()).then(Instant::now);
        true
    }

    /// The batch of `count` records at the front of the shard failed whole: split in two when
    /// the trigger bisects, else retried.
    fn failed(&mut self, index: usize, count: usize, how: &str) {
        if self.bisect && count > 1 {
            let shard = &mut self.shards[index];
            shard.splits.pop_front();
            let half = count / 2;
            shard.splits.push_front(count - half);
            shard.splits.push_front(half);
            eprintln!(
                "lambdakit: `{}` {how} on a batch of {count} from {} ({}); splitting it in two ({half} and {})",
                self.function,
                self.arn,
                shard.id,
                count - half
            );
            return;
        }
        self.retry(index, count, how);
    }

    /// The `count` records at the front of the shard failed: tried again after a delay, or
    /// skipped once the trigger's retries are used up.
    fn retry(&mut self, index: usize, count: usize, how: &str) {
        let max_retries = self.max_retries;
        let shard = &mut self.shards[index];
        shard.failures += 1;
        if max_retries.is_some_and(|retries| shard.failures > retries) {
            shard.splits.pop_front();
            let (id, skipped) = self.skip(index, count);
            eprintln!(
                "lambdakit: `{}` {how} on a batch of {count} from {} ({id}) after {} retries (`maximum_retry_attempts`); skipping its records {}",
                self.function,
                self.arn,
                max_retries.unwrap_or_default(),
                skipped.join(", ")
            );
            return;
        }
        let delay = retry_delay(shard.failures - 1);
        shard.retry_at = Some(Instant::now() + delay);
        eprintln!(
            "lambdakit: `{}` {how} on a batch of {count} from {} ({}); retrying it in {} s",
            self.function,
            self.arn,
            shard.id,
            delay.as_secs()
        );
    }

    /// Takes the `count` records at the front of the shard out, undelivered, the next batch
    /// starting afresh: the shard's id and the records' sequence numbers, to say so.
    fn skip(&mut self, index: usize, count: usize) -> (String, Vec<String>) {
        let shard = &mut self.shards[index];
        let skipped: Vec<Value> = shard.pending.drain(..count).collect();
        shard.failures = 0;
        shard.retry_at = None;
        let id = shard.id.clone();
        let numbers = skipped
            .iter()
            .map(|record| self.sequence_number(record))
            .collect();
        (id, numbers)
    }

    /// Skips the records at the front of the shard older than the trigger's
    /// `maximum_record_age`.
    fn expire(&mut self, index: usize) {
        let Some(max_age) = self.max_age else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let kind = self.kind;
        let shard = &mut self.shards[index];
        let old = shard
            .pending
            .iter()
            .take_while(|record| {
                arrival(kind, record).is_some_and(|at| now - at > max_age.as_secs_f64())
            })
            .count();
        if old == 0 {
            return;
        }
        shard.splits.clear();
        let (id, skipped) = self.skip(index, old);
        eprintln!(
            "lambdakit: {} records of {} ({id}) are older than {} s (`maximum_record_age`), skipped: {}",
            skipped.len(),
            self.arn,
            max_age.as_secs(),
            skipped.join(", ")
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

/// When `record` (as GetRecords answered it) arrived in the stream, in seconds since the
/// epoch.
fn arrival(kind: Mapped, record: &Value) -> Option<f64> {
    match kind {
        Mapped::Kinesis => record["ApproximateArrivalTimestamp"].as_f64(),
        _ => record["dynamodb"]["ApproximateCreationDateTime"].as_f64(),
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

    /// A Kinesis stream read by `function`, its one shard holding `records` (arrived at the
    /// given seconds since the epoch), bisecting with at most one retry, records kept for
    /// `max_age` seconds.
    fn stream(records: &[(&str, f64)], max_age: u64) -> Stream {
        let pending = records
            .iter()
            .map(|(number, arrival)| {
                json!({"SequenceNumber": number, "ApproximateArrivalTimestamp": arrival})
            })
            .collect();
        Stream {
            function: "f".into(),
            kind: Mapped::Kinesis,
            arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/s".into(),
            role_arn: String::new(),
            region: "eu-west-1".into(),
            batch_size: 4,
            window: Duration::ZERO,
            report_failures: false,
            bisect: true,
            max_retries: Some(1),
            max_age: Some(Duration::from_secs(max_age)),
            at: Setting {
                function: "f".into(),
                path: "triggers.kinesis[0].stream".into(),
            },
            shards: vec![Shard {
                id: "shardId-0".into(),
                iterator: None,
                pending,
                since: None,
                failures: 0,
                retry_at: None,
                splits: VecDeque::new(),
            }],
        }
    }

    fn pending(stream: &Stream) -> Vec<String> {
        stream.shards[0]
            .pending
            .iter()
            .map(|record| stream.sequence_number(record))
            .collect()
    }

    #[test]
    fn failed_batches_split_in_two_until_one_record_fails_its_retries_and_is_skipped() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let mut stream = stream(&[("1", now), ("2", now), ("3", now), ("4", now)], 60);
        stream.failed(0, 4, "failed");
        assert_eq!(stream.shards[0].splits, [2, 2]);
        assert_eq!(stream.shards[0].failures, 0, "a split is no retry");
        stream.failed(0, 2, "failed");
        assert_eq!(stream.shards[0].splits, [1, 1, 2]);
        // A batch of one is retried once, then skipped.
        stream.failed(0, 1, "failed");
        assert_eq!(stream.shards[0].failures, 1);
        assert!(stream.shards[0].retry_at.is_some());
        assert_eq!(pending(&stream), ["1", "2", "3", "4"]);
        stream.failed(0, 1, "failed");
        assert_eq!(pending(&stream), ["2", "3", "4"]);
        assert_eq!(stream.shards[0].splits, [1, 2]);
        assert_eq!(stream.shards[0].failures, 0);
        assert!(stream.shards[0].retry_at.is_none());
    }

    #[test]
    fn records_older_than_the_maximum_age_are_skipped() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let mut stream = stream(&[("1", now - 600.0), ("2", now - 120.0), ("3", now)], 300);
        stream.expire(0);
        assert_eq!(pending(&stream), ["2", "3"]);
        stream.max_age = Some(Duration::from_secs(60));
        stream.expire(0);
        assert_eq!(pending(&stream), ["3"]);
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_a_minute() {
        assert_eq!(retry_delay(0), Duration::from_secs(1));
        assert_eq!(retry_delay(3), Duration::from_secs(8));
        assert_eq!(retry_delay(40), MAX_RETRY);
    }
}
