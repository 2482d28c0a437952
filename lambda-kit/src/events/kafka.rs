//! Amazon MSK and self-managed Apache Kafka: the event of a Kafka event source mapping, its
//! records decoded, and the partial batch response.
//!
//! Lambda hands a function the records it polled grouped by topic-partition (`"orders-0"`),
//! each partition's records in offset order, with their keys and values base64-encoded.
//! [`records`] decodes them into [`Record`]s, whose [`value`](Record::value) reads JSON as
//! your own type; [`batch::kafka`](crate::batch::kafka) runs a handler per record and answers
//! with the [`KafkaEventResponse`] that makes Lambda retry each partition from its first failed
//! record only (the mapping needs `ReportBatchItemFailures`; AWS "Configuring error handling
//! controls for Kafka event sources").

use std::collections::HashMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::batch::DecodeError;

/// The event of a Kafka event source mapping, as Lambda sends it.
///
/// lambda-kit's own rather than `aws_lambda_events`' (which reads the records' timestamps
/// through a float, losing a millisecond now and then, and panics on a fractional one).
///
/// # Examples
///
/// ```
/// let event: lambda_kit::events::kafka::KafkaEvent = serde_json::from_str(r#"{
///     "eventSource": "SelfManagedKafka", "bootstrapServers": "b-1.example:9092,b-2.example:9092",
///     "records": {"orders-0": []}
/// }"#)?;
/// assert_eq!(event.event_source.as_deref(), Some("SelfManagedKafka"));
/// assert!(event.records["orders-0"].is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct KafkaEvent {
    /// `aws:kafka` for Amazon MSK, `SelfManagedKafka` for other clusters.
    #[serde(default)]
    pub event_source: Option<String>,
    /// The MSK cluster's ARN (absent for self-managed clusters).
    #[serde(default)]
    pub event_source_arn: Option<String>,
    /// The brokers, comma-separated.
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    /// The records by topic-partition (`orders-0`).
    #[serde(default)]
    pub records: HashMap<String, Vec<KafkaRecord>>,
}

/// A record as Lambda sends it: key and value base64-encoded, header values as byte arrays.
/// [`Record::decode`] decodes it.
///
/// # Examples
///
/// ```
/// let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{
///     "topic": "orders", "partition": 0, "offset": 15, "timestamp": 1795426200123,
///     "timestampType": "CREATE_TIME", "key": "by0x", "value": "e30=", "headers": []
/// }"#)?;
/// assert_eq!(raw.timestamp, 1_795_426_200_123);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct KafkaRecord {
    /// The topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// The partition's number.
    pub partition: i64,
    /// The offset in the partition.
    pub offset: i64,
    /// Milliseconds since the Unix epoch.
    #[serde(default)]
    pub timestamp: i64,
    /// `CREATE_TIME` or `LOG_APPEND_TIME`.
    #[serde(default)]
    pub timestamp_type: Option<String>,
    /// The key, base64-encoded; absent or `null` without one.
    #[serde(default)]
    pub key: Option<String>,
    /// The value, base64-encoded; `null` for a tombstone.
    #[serde(default)]
    pub value: Option<String>,
    /// The headers: one single-entry map per header, its value as bytes (Java's signed bytes).
    #[serde(default)]
    pub headers: Vec<HashMap<String, Vec<i16>>>,
}

/// A Kafka record with its key, value and headers decoded.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::kafka::{self, KafkaEvent};
///
/// #[derive(serde::Deserialize)]
/// struct Order {
///     id: String,
/// }
///
/// let event: KafkaEvent = serde_json::from_str(r#"{
///     "eventSource": "aws:kafka", "bootstrapServers": "b-1.example:9092",
///     "records": {"orders-0": [{
///         "topic": "orders", "partition": 0, "offset": 15, "timestamp": 1795426200123,
///         "timestampType": "CREATE_TIME", "key": "by0x", "value": "eyJpZCI6ICJvLTEifQ==",
///         "headers": [{"source": [119, 101, 98]}]
///     }]}
/// }"#)?;
/// let records = kafka::records(&event)?;
/// let record = &records[0];
/// assert_eq!((record.topic(), record.partition(), record.offset()), ("orders", 0, 15));
/// assert_eq!(record.key(), Some(&b"o-1"[..]));
/// assert_eq!(record.header("source"), Some(&b"web"[..]));
/// assert_eq!(record.value::<Order>()?.id, "o-1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    topic: String,
    partition: i64,
    offset: i64,
    timestamp_millis: i64,
    timestamp_type: Option<String>,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

impl Record {
    /// Decodes a record as Lambda sends it.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when its key or value is not base64.
    ///
    /// # Examples
    ///
    /// ```
    /// let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{
    ///     "topic": "t", "partition": 1, "offset": 2, "timestamp": 0, "key": null, "value": "!!", "headers": []
    /// }"#)?;
    /// let error = lambda_kit::events::kafka::Record::decode(&raw).unwrap_err();
    /// assert_eq!(error.record_id(), "t-1@2");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn decode(raw: &KafkaRecord) -> Result<Self, DecodeError> {
        let topic = raw.topic.clone().unwrap_or_default();
        let id = format!("{topic}-{}@{}", raw.partition, raw.offset);
        let bytes = |field: &str, text: &Option<String>| match text {
            None => Ok(None),
            Some(text) => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map(Some)
                .map_err(|error| {
                    DecodeError::new(
                        id.clone(),
                        format!("Kafka record `{id}` has a {field} that is not base64: {error}"),
                    )
                }),
        };
        let key = bytes("key", &raw.key)?;
        let value = bytes("value", &raw.value)?;
        let headers = raw
            .headers
            .iter()
            .flat_map(|header| header.iter())
            // Lambda writes header bytes as JSON numbers, signed as Java's bytes are.
            .map(|(name, bytes)| (name.clone(), bytes.iter().map(|&b| b as u8).collect()))
            .collect();
        Ok(Self {
            topic,
            partition: raw.partition,
            offset: raw.offset,
            timestamp_millis: raw.timestamp,
            timestamp_type: raw.timestamp_type.clone(),
            key,
            value,
            headers,
        })
    }

    /// The topic.
    ///
    /// # Examples
    ///
    /// ```
    /// # let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{"topic": "t", "partition": 1, "offset": 2, "timestamp": 0, "key": null, "value": null, "headers": []}"#).unwrap();
    /// # let record = lambda_kit::events::kafka::Record::decode(&raw).unwrap();
    /// assert_eq!(record.topic(), "t");
    /// ```
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition's number.
    ///
    /// # Examples
    ///
    /// ```
    /// # let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{"topic": "t", "partition": 1, "offset": 2, "timestamp": 0, "key": null, "value": null, "headers": []}"#).unwrap();
    /// # let record = lambda_kit::events::kafka::Record::decode(&raw).unwrap();
    /// assert_eq!(record.partition(), 1);
    /// ```
    pub fn partition(&self) -> i64 {
        self.partition
    }

    /// The offset in its partition.
    ///
    /// # Examples
    ///
    /// ```
    /// # let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{"topic": "t", "partition": 1, "offset": 2, "timestamp": 0, "key": null, "value": null, "headers": []}"#).unwrap();
    /// # let record = lambda_kit::events::kafka::Record::decode(&raw).unwrap();
    /// assert_eq!(record.offset(), 2);
    /// ```
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The record's timestamp, in milliseconds since the Unix epoch.
    ///
    /// # Examples
    ///
    /// ```
    /// # let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{"topic": "t", "partition": 1, "offset": 2, "timestamp": 1795426200123, "key": null, "value": null, "headers": []}"#).unwrap();
    /// # let record = lambda_kit::events::kafka::Record::decode(&raw).unwrap();
    /// assert_eq!(record.timestamp_millis(), 1_795_426_200_123);
    /// ```
    pub fn timestamp_millis(&self) -> i64 {
        self.timestamp_millis
    }

    /// What the timestamp is: `CREATE_TIME` or `LOG_APPEND_TIME`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{"topic": "t", "partition": 1, "offset": 2, "timestamp": 0, "timestampType": "CREATE_TIME", "key": null, "value": null, "headers": []}"#).unwrap();
    /// # let record = lambda_kit::events::kafka::Record::decode(&raw).unwrap();
    /// assert_eq!(record.timestamp_type(), Some("CREATE_TIME"));
    /// ```
    pub fn timestamp_type(&self) -> Option<&str> {
        self.timestamp_type.as_deref()
    }

    /// The key's bytes; `None` for a record without one.
    ///
    /// # Examples
    ///
    /// ```
    /// # let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{"topic": "t", "partition": 1, "offset": 2, "timestamp": 0, "key": "azE=", "value": null, "headers": []}"#).unwrap();
    /// # let record = lambda_kit::events::kafka::Record::decode(&raw).unwrap();
    /// assert_eq!(record.key(), Some(&b"k1"[..]));
    /// ```
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The value's bytes; `None` for a tombstone.
    ///
    /// # Examples
    ///
    /// ```
    /// # let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{"topic": "t", "partition": 1, "offset": 2, "timestamp": 0, "key": null, "value": null, "headers": []}"#).unwrap();
    /// # let record = lambda_kit::events::kafka::Record::decode(&raw).unwrap();
    /// assert_eq!(record.value_bytes(), None);
    /// ```
    pub fn value_bytes(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// The first header of that name.
    ///
    /// # Examples
    ///
    /// ```
    /// # let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{"topic": "t", "partition": 1, "offset": 2, "timestamp": 0, "key": null, "value": null, "headers": [{"trace": [49]}]}"#).unwrap();
    /// # let record = lambda_kit::events::kafka::Record::decode(&raw).unwrap();
    /// assert_eq!(record.header("trace"), Some(&b"1"[..]));
    /// ```
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_slice())
    }

    /// The headers, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// # let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{"topic": "t", "partition": 1, "offset": 2, "timestamp": 0, "key": null, "value": null, "headers": []}"#).unwrap();
    /// # let record = lambda_kit::events::kafka::Record::decode(&raw).unwrap();
    /// assert_eq!(record.headers().count(), 0);
    /// ```
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
    }

    /// Reads the value as JSON into a `T`.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] naming the record (`topic-partition@offset`) and, when the JSON is
    /// well-formed but not a `T`, the path that failed; a tombstone has no value to read.
    ///
    /// # Examples
    ///
    /// ```
    /// # let raw: lambda_kit::events::kafka::KafkaRecord = serde_json::from_str(r#"{"topic": "t", "partition": 1, "offset": 2, "timestamp": 0, "key": null, "value": "eyJuIjogInR3byJ9", "headers": []}"#).unwrap();
    /// # let record = lambda_kit::events::kafka::Record::decode(&raw).unwrap();
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Count {
    ///     n: u32,
    /// }
    /// let error = record.value::<Count>().unwrap_err();
    /// assert!(error.to_string().starts_with("Kafka record `t-1@2` is not a valid `Count`: at `n`"));
    /// ```
    pub fn value<T: serde::de::DeserializeOwned>(&self) -> Result<T, DecodeError> {
        crate::batch::decode_json("Kafka record", self.id(), self.value.as_deref())
    }

    /// `topic-partition@offset`: how logs and errors name the record.
    pub(crate) fn id(&self) -> String {
        format!("{}-{}@{}", self.topic, self.partition, self.offset)
    }
}

/// Decodes every record of an event, partition by partition (in the partitions' name order),
/// each partition's in offset order.
///
/// # Errors
///
/// The [`DecodeError`] of the first record whose key or value is not base64.
///
/// # Examples
///
/// ```
/// let event: lambda_kit::events::kafka::KafkaEvent = serde_json::from_str(r#"{"records": {
///     "t-1": [{"topic": "t", "partition": 1, "offset": 7, "timestamp": 0, "key": null, "value": "aGk=", "headers": []}],
///     "t-0": [{"topic": "t", "partition": 0, "offset": 3, "timestamp": 0, "key": null, "value": "aGk=", "headers": []}]
/// }}"#)?;
/// let records = lambda_kit::events::kafka::records(&event)?;
/// assert_eq!(records.iter().map(|r| r.offset()).collect::<Vec<_>>(), [3, 7]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn records(event: &KafkaEvent) -> Result<Vec<Record>, DecodeError> {
    partitions(event)
        .into_iter()
        .flat_map(|(_, records)| records)
        .map(Record::decode)
        .collect()
}

/// The event's partitions in name order, each with its records sorted by offset.
pub(crate) fn partitions(event: &KafkaEvent) -> Vec<(&str, Vec<&KafkaRecord>)> {
    let mut partitions: Vec<(&str, Vec<&KafkaRecord>)> = event
        .records
        .iter()
        .map(|(name, records)| {
            let mut records: Vec<&KafkaRecord> = records.iter().collect();
            records.sort_by_key(|record| record.offset);
            (name.as_str(), records)
        })
        .collect();
    partitions.sort_by(|a, b| a.0.cmp(b.0));
    partitions
}

/// The partial batch response of a Kafka event source mapping: per partition, the first record
/// that failed, from which Lambda retries that partition.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::kafka::KafkaEventResponse;
///
/// let mut response = KafkaEventResponse::default();
/// response.add_failure("orders-0", 15);
/// assert_eq!(
///     serde_json::to_value(&response)?,
///     serde_json::json!({"batchItemFailures": [{"itemIdentifier": {"partition": "orders-0", "offset": 15}}]})
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct KafkaEventResponse {
    /// The failed records, one per partition at most.
    pub batch_item_failures: Vec<KafkaBatchItemFailure>,
}

impl KafkaEventResponse {
    /// Reports the record at `offset` of `partition` (`topic-number`, as the event names it) as
    /// failed.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut response = lambda_kit::events::kafka::KafkaEventResponse::default();
    /// response.add_failure("orders-1", 3);
    /// assert_eq!(response.batch_item_failures[0].item_identifier.partition, "orders-1");
    /// ```
    pub fn add_failure(&mut self, partition: impl Into<String>, offset: i64) {
        self.batch_item_failures.push(KafkaBatchItemFailure {
            item_identifier: KafkaItemIdentifier {
                partition: partition.into(),
                offset,
            },
        });
    }
}

/// One failed record of a Kafka partial batch response.
///
/// # Examples
///
/// ```
/// let failure: lambda_kit::events::kafka::KafkaBatchItemFailure =
///     serde_json::from_str(r#"{"itemIdentifier": {"partition": "t-0", "offset": 4}}"#)?;
/// assert_eq!(failure.item_identifier.offset, 4);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct KafkaBatchItemFailure {
    /// The record: its topic-partition and offset.
    pub item_identifier: KafkaItemIdentifier,
}

/// A Kafka record as a partial batch response names it.
///
/// # Examples
///
/// ```
/// let id = lambda_kit::events::kafka::KafkaItemIdentifier::default();
/// assert_eq!(id.offset, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct KafkaItemIdentifier {
    /// The topic-partition, as the event's `records` map names it: `orders-0`.
    pub partition: String,
    /// The record's offset.
    pub offset: i64,
}
