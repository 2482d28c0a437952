//! Amazon Data Firehose: the records of a transformation, and each one's result.
//!
//! A delivery stream with a Lambda processor hands the function a batch of records (their data
//! base64-decoded here) and delivers what it answers: for every record, by its `recordId`, a
//! result of `Ok` (deliver the data answered), `Dropped` (deliver nothing, on purpose) or
//! `ProcessingFailed` (deliver the original data to the stream's error output), with the data
//! base64-encoded (AWS "Transform source data in Amazon Data Firehose"). A record missing from
//! the answer fails the whole batch. [`batch::firehose`](crate::batch::firehose) runs a handler
//! per record and writes that answer.

use serde::{Deserialize, Serialize};

use crate::Diagnostic;

#[doc(inline)]
pub use aws_lambda_events::firehose::{
    KinesisFirehoseEvent, KinesisFirehoseEventRecord, KinesisFirehoseRecordMetadata,
};

/// What a record handler made of one record: [`batch::firehose`](crate::batch::firehose)
/// answers `Ok` with the data, or `Dropped`; a handler's error answers `ProcessingFailed`.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::firehose::Transformation;
///
/// let line = Transformation::json_line(&serde_json::json!({"level": "ERROR"}))?;
/// assert_eq!(line, Transformation::Ok(b"{\"level\":\"ERROR\"}\n".to_vec()));
/// # Ok::<(), lambda_kit::Diagnostic>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transformation {
    /// Deliver these bytes in the record's place.
    Ok(Vec<u8>),
    /// Deliver nothing for the record.
    Dropped,
}

impl Transformation {
    /// The value as JSON followed by a newline, so that the delivered records stay one per line
    /// once Firehose concatenates them.
    ///
    /// # Errors
    ///
    /// A [`Diagnostic`] (`errorType` `SerializationError`) when `T` does not serialize as JSON.
    ///
    /// # Examples
    ///
    /// ```
    /// let line = lambda_kit::events::firehose::Transformation::json_line(&[1, 2])?;
    /// # assert_eq!(line, lambda_kit::events::firehose::Transformation::Ok(b"[1,2]\n".to_vec()));
    /// # Ok::<(), lambda_kit::Diagnostic>(())
    /// ```
    pub fn json_line<T: Serialize + ?Sized>(value: &T) -> Result<Self, Diagnostic> {
        let mut data = serde_json::to_vec(value)
            .map_err(|error| Diagnostic::new("SerializationError", error.to_string()))?;
        data.push(b'\n');
        Ok(Self::Ok(data))
    }
}

/// A record's result, as Firehose spells it.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::firehose::RecordResult;
///
/// assert_eq!(serde_json::to_value(RecordResult::ProcessingFailed)?, "ProcessingFailed");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub enum RecordResult {
    /// Transformed: deliver the answered data.
    Ok,
    /// Dropped on purpose: deliver nothing.
    Dropped,
    /// Could not be transformed: deliver the original to the error output.
    ProcessingFailed,
}

/// The answer to a transformation: one [`TransformedRecord`] per record received.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::firehose::{RecordResult, TransformationResponse, TransformedRecord};
///
/// let mut response = TransformationResponse::default();
/// response.records.push(TransformedRecord::new("r-1", RecordResult::Ok, b"hi".to_vec()));
/// assert_eq!(
///     serde_json::to_value(&response)?,
///     serde_json::json!({"records": [{"recordId": "r-1", "result": "Ok", "data": "aGk="}]})
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct TransformationResponse {
    /// The records' results, in the order the records came.
    pub records: Vec<TransformedRecord>,
}

/// One record's result, with its data (base64-encoded on the wire).
///
/// # Examples
///
/// ```
/// use lambda_kit::events::firehose::{RecordResult, TransformedRecord};
///
/// let record: TransformedRecord =
///     serde_json::from_str(r#"{"recordId": "r-1", "result": "Dropped", "data": "aGk="}"#)?;
/// assert_eq!((record.result, record.data.as_slice()), (RecordResult::Dropped, &b"hi"[..]));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TransformedRecord {
    /// The id of the record received.
    pub record_id: String,
    /// What became of it.
    pub result: RecordResult,
    /// The data to deliver (for `Ok`), or the original data.
    #[serde(with = "base64_data")]
    pub data: Vec<u8>,
}

impl TransformedRecord {
    /// A record's result.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::events::firehose::{RecordResult, TransformedRecord};
    ///
    /// let record = TransformedRecord::new("r-1", RecordResult::Ok, b"{}".to_vec());
    /// assert_eq!(record.record_id, "r-1");
    /// ```
    pub fn new(record_id: impl Into<String>, result: RecordResult, data: Vec<u8>) -> Self {
        Self {
            record_id: record_id.into(),
            result,
            data,
        }
    }
}

mod base64_data {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(data: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(data))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}
