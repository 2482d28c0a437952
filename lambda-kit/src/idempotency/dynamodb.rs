//! Idempotency records in a DynamoDB table, shared by every instance of a function.
//!
//! The table layout is Powertools': one item per key, with
//!
//! | attribute                | type | holds                                                   |
//! |--------------------------|------|---------------------------------------------------------|
//! | `id`                     | S    | the record key (the table's partition key)              |
//! | `status`                 | S    | `INPROGRESS` or `COMPLETED`                             |
//! | `expiration`             | N    | when the record expires, seconds since the Unix epoch   |
//! | `in_progress_expiration` | N    | the writing invocation's deadline, milliseconds         |
//! | `data`                   | S    | the stored response (JSON)                              |
//! | `validation`             | S    | the hash of the validated part of the event             |
//!
//! Turn on the table's time to live on `expiration` so that DynamoDB deletes expired records;
//! they stop counting the moment they expire either way, as every write compares the times
//! itself.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::{PutOutcome, Record, Status, Store, StoreError, epoch_millis, epoch_seconds};

const ID: &str = "id";
const STATUS: &str = "status";
const EXPIRATION: &str = "expiration";
const IN_PROGRESS_EXPIRATION: &str = "in_progress_expiration";
const DATA: &str = "data";
const VALIDATION: &str = "validation";

/// Idempotency records in a DynamoDB table whose partition key is the string `id`.
///
/// The function needs `dynamodb:PutItem`, `dynamodb:GetItem` and `dynamodb:DeleteItem` on the
/// table. Build the client once, in the setup step, from the SDK configuration
/// (`aws_config::load_defaults`); lambda-kit does not pick credentials or an HTTP client
/// itself. See the [module docs](super) for the table's attributes.
///
/// # Examples
///
/// ```no_run
/// use lambda_kit::idempotency::{DynamoDbStore, Idempotency};
///
/// fn idempotency(client: aws_sdk_dynamodb::Client) -> Idempotency<DynamoDbStore> {
///     Idempotency::new(DynamoDbStore::new(client, "idempotency")).key("/order_id")
/// }
/// ```
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    /// Records in `table`, reached with `client`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use lambda_kit::idempotency::DynamoDbStore;
    ///
    /// fn store(client: aws_sdk_dynamodb::Client) -> DynamoDbStore {
    ///     DynamoDbStore::new(client, "idempotency")
    /// }
    /// ```
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The record of `key`, expired or not (a strongly consistent read).
    ///
    /// # Errors
    ///
    /// When DynamoDB cannot be reached or refuses the read, or the item is not a record.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn example(store: lambda_kit::idempotency::DynamoDbStore) -> Result<(), lambda_kit::idempotency::StoreError> {
    /// if let Some(record) = store.get("orders#3f2a").await? {
    ///     tracing::info!(status = %record.status(), "found");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get(&self, key: &str) -> Result<Option<Record>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ID, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| {
                StoreError::with_source(
                    format!("cannot read the idempotency record from `{}`", self.table),
                    error,
                )
            })?;
        output.item().map(from_item).transpose()
    }
}

impl Store for DynamoDbStore {
    async fn put_in_progress(
        &self,
        record: &Record,
        now: SystemTime,
    ) -> Result<PutOutcome, StoreError> {
        // A record deleted between the failed write and the read is gone: write again, once.
        for _ in 0..2 {
            let written = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(record)))
                // `Record::is_replaceable`, in DynamoDB's words; `status` is a reserved word.
                .condition_expression(
                    "attribute_not_exists(#id) OR #expiration < :now \
                     OR (#status = :in_progress AND #in_progress_expiration < :now_millis)",
                )
                .expression_attribute_names("#id", ID)
                .expression_attribute_names("#expiration", EXPIRATION)
                .expression_attribute_names("#status", STATUS)
                .expression_attribute_names("#in_progress_expiration", IN_PROGRESS_EXPIRATION)
                .expression_attribute_values(":now", number(epoch_seconds(now)))
                .expression_attribute_values(":now_millis", number(epoch_millis(now)))
                .expression_attribute_values(
                    ":in_progress",
                    AttributeValue::S(Status::InProgress.as_str().to_owned()),
                )
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let error = match written {
                Ok(_) => return Ok(PutOutcome::Inserted),
                Err(error) => error,
            };
            let Some(PutItemError::ConditionalCheckFailedException(failed)) =
                error.as_service_error()
            else {
                return Err(StoreError::with_source(
                    format!("cannot write the idempotency record to `{}`", self.table),
                    error,
                ));
            };
            let existing = match failed.item() {
                Some(item) => Some(from_item(item)?),
                // Older DynamoDB-compatible services ignore `ReturnValuesOnConditionCheckFailure`.
                None => self.get(record.key()).await?,
            };
            if let Some(existing) = existing {
                return Ok(PutOutcome::Exists(existing));
            }
        }
        Err(StoreError::new(format!(
            "the idempotency record `{}` in `{}` blocked the write twice but could not be read",
            record.key(),
            self.table
        )))
    }

    async fn complete(&self, record: &Record) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .send()
            .await
            .map_err(|error| {
                StoreError::with_source(
                    format!("cannot save the idempotency record to `{}`", self.table),
                    error,
                )
            })?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(ID, AttributeValue::S(key.to_owned()))
            .send()
            .await
            .map_err(|error| {
                StoreError::with_source(
                    format!("cannot delete the idempotency record from `{}`", self.table),
                    error,
                )
            })?;
        Ok(())
    }
}

fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn to_item(record: &Record) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (ID.to_owned(), AttributeValue::S(record.key.clone())),
        (
            STATUS.to_owned(),
            AttributeValue::S(record.status.as_str().to_owned()),
        ),
        (EXPIRATION.to_owned(), number(record.expiration)),
    ]);
    if let Some(deadline) = record.in_progress_expiration {
        item.insert(IN_PROGRESS_EXPIRATION.to_owned(), number(deadline));
    }
    if let Some(data) = &record.response {
        item.insert(DATA.to_owned(), AttributeValue::S(data.clone()));
    }
    if let Some(validation) = &record.validation {
        item.insert(VALIDATION.to_owned(), AttributeValue::S(validation.clone()));
    }
    item
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Record, StoreError> {
    let text = |name: &str| -> Result<Option<&String>, StoreError> {
        item.get(name)
            .map(|value| {
                value.as_s().map_err(|_| {
                    StoreError::new(format!(
                        "the idempotency record's `{name}` is not a string: {value:?}"
                    ))
                })
            })
            .transpose()
    };
    let number = |name: &str| -> Result<Option<u64>, StoreError> {
        item.get(name)
            .map(|value| {
                value
                    .as_n()
                    .ok()
                    .and_then(|number| number.parse::<u64>().ok())
                    .ok_or_else(|| {
                        StoreError::new(format!(
                            "the idempotency record's `{name}` is not a whole number: {value:?}"
                        ))
                    })
            })
            .transpose()
    };
    let missing =
        |name: &str| StoreError::new(format!("the idempotency record has no `{name}` attribute"));
    let key = text(ID)?.ok_or_else(|| missing(ID))?;
    let status: Status = text(STATUS)?.ok_or_else(|| missing(STATUS))?.parse()?;
    let expiration = number(EXPIRATION)?.ok_or_else(|| missing(EXPIRATION))?;
    let mut record = Record::new(key.clone(), status, expiration);
    record.in_progress_expiration = number(IN_PROGRESS_EXPIRATION)?;
    record.response = text(DATA)?.cloned();
    record.validation = text(VALIDATION)?.cloned();
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_items() {
        let record = Record::new("fn#ab", Status::Completed, 1_800_000_000)
            .with_in_progress_expiration(1_799_999_999_000)
            .with_response(r#"{"ok":true}"#)
            .with_validation("cd");
        let item = to_item(&record);
        assert_eq!(item[EXPIRATION], AttributeValue::N("1800000000".into()));
        assert_eq!(item[STATUS], AttributeValue::S("COMPLETED".into()));
        assert_eq!(from_item(&item).unwrap(), record);

        let bare = Record::new("fn#ab", Status::InProgress, 7);
        assert_eq!(to_item(&bare).len(), 3);
        assert_eq!(from_item(&to_item(&bare)).unwrap(), bare);
    }

    #[test]
    fn items_that_are_not_records_are_errors() {
        let mut item = to_item(&Record::new("fn#ab", Status::Completed, 7));
        item.insert(STATUS.into(), AttributeValue::S("EXPIRED".into()));
        let error = from_item(&item).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`EXPIRED` is not an idempotency status; expected `INPROGRESS` or `COMPLETED`"
        );

        item.insert(EXPIRATION.into(), AttributeValue::S("soon".into()));
        item.insert(STATUS.into(), AttributeValue::S("COMPLETED".into()));
        let error = from_item(&item).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the idempotency record's `expiration` is not a whole number"),
            "{error}"
        );

        item.remove(ID);
        let error = from_item(&item).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the idempotency record has no `id` attribute"
        );
    }
}
