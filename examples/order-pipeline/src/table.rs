//! The `orders` table, written by both forms of the pipeline: `load` (SQS) and `store-order`
//! (the state machine) write orders, `record-rejection` the orders the state machine refused.
//!
//! The table holds three kinds of items, told apart by their `id`:
//!
//! | `id`                        | holds                                                        |
//! |-----------------------------|--------------------------------------------------------------|
//! | the order's id              | `customer`, `total_cents`, `lines` (a list of maps)           |
//! | `customer#NAME`             | the customer's running totals, `order_count`, `total_cents`   |
//! | `rejection#EXECUTION_ARN`   | `order_id` (when it had one), `error`, `reason`, `order` (JSON) |
//!
//! Adding to the totals is not idempotent by itself: the steps that load run through
//! [`idempotency`](crate::idempotency). Writing a rejection is: a retry writes the same item
//! under the same key.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_kit::Diagnostic;
use serde::{Deserialize, Serialize};

use crate::{PricedOrder, aws_failure};

/// The error codes with which DynamoDB says to slow down. The SDK has already retried them
/// (three attempts, with backoff) when a step sees one.
const THROTTLED: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// A failed write as a step's error: `WriteThrottled` when DynamoDB throttled it, which is
/// worth retrying later (the state machine's `Retry` does), else `WriteFailed`.
pub fn write_failure<E>(step: &str, error: &E) -> Diagnostic
where
    E: ProvideErrorMetadata + std::error::Error,
{
    let throttled = error.code().is_some_and(|code| THROTTLED.contains(&code));
    let error_type = if throttled {
        "WriteThrottled"
    } else {
        "WriteFailed"
    };
    aws_failure(error_type, step, error)
}

/// What a step that loads an order answers, and what its idempotency record keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loaded {
    /// The order's id.
    pub order_id: String,
    /// What it came to.
    pub total_cents: u64,
}

/// An order the state machine refused, as `record-rejection` stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The execution that refused it: each execution records its own rejection.
    pub execution: String,
    /// The order's `id`, when it had one.
    pub order_id: Option<String>,
    /// The error caught, `InvalidOrder` or `Runtime.UnmarshalError`.
    pub error: String,
    /// Why, for a person: the failed step's `errorMessage`.
    pub reason: String,
    /// The order as it came, as JSON.
    pub order: String,
}

impl Rejection {
    /// The rejection's key in the table.
    pub fn key(&self) -> String {
        format!("rejection#{}", self.execution)
    }
}

/// The `orders` table.
#[derive(Debug, Clone)]
pub struct OrdersTable {
    dynamodb: aws_sdk_dynamodb::Client,
    name: String,
}

impl OrdersTable {
    /// The table `name`.
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, name: impl Into<String>) -> Self {
        Self {
            dynamodb,
            name: name.into(),
        }
    }

    /// Writes `order` and adds it to its customer's totals.
    ///
    /// # Errors
    ///
    /// `WriteThrottled` or `WriteFailed` ([`write_failure`]).
    pub async fn load(&self, order: &PricedOrder) -> Result<Loaded, Diagnostic> {
        self.dynamodb
            .put_item()
            .table_name(&self.name)
            .set_item(Some(order_item(order)))
            .send()
            .await
            .map_err(|error| write_failure(&format!("writing order {}", order.id), &error))?;
        self.dynamodb
            .update_item()
            .table_name(&self.name)
            .key(
                "id",
                AttributeValue::S(format!("customer#{}", order.customer)),
            )
            .update_expression("ADD order_count :one, total_cents :total")
            .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
            .expression_attribute_values(":total", AttributeValue::N(order.total_cents.to_string()))
            .send()
            .await
            .map_err(|error| {
                let step = format!("adding order {} to {}'s totals", order.id, order.customer);
                write_failure(&step, &error)
            })?;
        Ok(Loaded {
            order_id: order.id.clone(),
            total_cents: order.total_cents,
        })
    }

    /// Writes `rejection` under [its key](Rejection::key).
    ///
    /// # Errors
    ///
    /// `WriteThrottled` or `WriteFailed` ([`write_failure`]).
    pub async fn record(&self, rejection: &Rejection) -> Result<(), Diagnostic> {
        self.dynamodb
            .put_item()
            .table_name(&self.name)
            .set_item(Some(rejection_item(rejection)))
            .send()
            .await
            .map_err(|error| write_failure(&format!("recording {}", rejection.key()), &error))?;
        Ok(())
    }
}

fn number(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The order's item: its lines as a list of maps.
pub fn order_item(order: &PricedOrder) -> HashMap<String, AttributeValue> {
    let lines = order
        .lines
        .iter()
        .map(|line| {
            AttributeValue::M(HashMap::from([
                ("sku".to_owned(), AttributeValue::S(line.sku.clone())),
                ("quantity".to_owned(), number(line.quantity.into())),
                ("unit_cents".to_owned(), number(line.unit_cents)),
                ("cents".to_owned(), number(line.cents)),
            ]))
        })
        .collect();
    HashMap::from([
        ("id".to_owned(), AttributeValue::S(order.id.clone())),
        (
            "customer".to_owned(),
            AttributeValue::S(order.customer.clone()),
        ),
        ("total_cents".to_owned(), number(order.total_cents)),
        ("lines".to_owned(), AttributeValue::L(lines)),
    ])
}

/// The rejection's item.
pub fn rejection_item(rejection: &Rejection) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("id".to_owned(), AttributeValue::S(rejection.key())),
        (
            "error".to_owned(),
            AttributeValue::S(rejection.error.clone()),
        ),
        (
            "reason".to_owned(),
            AttributeValue::S(rejection.reason.clone()),
        ),
        (
            "order".to_owned(),
            AttributeValue::S(rejection.order.clone()),
        ),
    ]);
    if let Some(order_id) = &rejection.order_id {
        item.insert("order_id".to_owned(), AttributeValue::S(order_id.clone()));
    }
    item
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::ErrorMetadata;

    use super::*;
    use crate::{Order, price};

    #[test]
    fn orders_are_stored_with_their_lines() {
        let order: Order = serde_json::from_value(serde_json::json!({
            "id": "o-1", "customer": "ada",
            "lines": [{"sku": "melon", "quantity": 2}, {"sku": "apple", "quantity": 1}]
        }))
        .unwrap();
        let item = order_item(&price(order).unwrap());
        assert_eq!(item["id"], AttributeValue::S("o-1".into()));
        assert_eq!(item["total_cents"], AttributeValue::N("680".into()));
        let AttributeValue::L(lines) = &item["lines"] else {
            panic!("lines are a list: {item:?}");
        };
        assert_eq!(lines.len(), 2);
        let AttributeValue::M(first) = &lines[0] else {
            panic!("a line is a map: {lines:?}");
        };
        assert_eq!(first["sku"], AttributeValue::S("melon".into()));
        assert_eq!(first["cents"], AttributeValue::N("640".into()));
    }

    #[test]
    fn rejections_are_stored_per_execution() {
        let rejection = Rejection {
            execution: "arn:aws:states:eu-west-1:123456789012:execution:order-flow:o-9".into(),
            order_id: None,
            error: "InvalidOrder".into(),
            reason: "the order has no id".into(),
            order: r#"{"lines":[]}"#.into(),
        };
        let item = rejection_item(&rejection);
        assert_eq!(
            item["id"],
            AttributeValue::S(
                "rejection#arn:aws:states:eu-west-1:123456789012:execution:order-flow:o-9".into()
            )
        );
        assert_eq!(item["reason"], AttributeValue::S(rejection.reason.clone()));
        assert!(!item.contains_key("order_id"), "{item:?}");
        let with_id = rejection_item(&Rejection {
            order_id: Some("o-9".into()),
            ..rejection
        });
        assert_eq!(with_id["order_id"], AttributeValue::S("o-9".into()));
    }

    #[test]
    fn throttled_writes_are_told_apart() {
        let failure = |code: &str| {
            let error = ErrorMetadata::builder()
                .code(code)
                .message("slow down")
                .build();
            write_failure("writing order o-1", &error)
        };
        for code in THROTTLED {
            assert_eq!(failure(code).error_type(), "WriteThrottled", "{code}");
        }
        let failed = failure("ResourceNotFoundException");
        assert_eq!(failed.error_type(), "WriteFailed");
        assert!(
            failed.error_message().starts_with("writing order o-1: "),
            "{}",
            failed.error_message()
        );
    }
}
