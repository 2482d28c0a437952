//! Processes orders from an SQS queue: each message is an order, checked and recorded in a
//! DynamoDB table.
//!
//! A message that can never be processed (a poison message: not JSON, or an order that fails
//! its checks) is reported in the partial batch response, so that Lambda deletes the others
//! and only that one comes back. After the queue's `maxReceiveCount` receives, the queue's
//! redrive policy moves it to the dead-letter queue, where someone can look at it. A message
//! that fails for a passing reason (DynamoDB throttling) is reported the same way, and usually
//! succeeds on a later receive.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_kit::batch::{self, Batch};
use lambda_kit::events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_kit::{Config, Context, Diagnostic};
use serde::Deserialize;

/// An order, as the shop puts it on the queue.
#[derive(Debug, Deserialize)]
struct Order {
    id: String,
    customer: String,
    lines: Vec<Line>,
}

#[derive(Debug, Deserialize)]
struct Line {
    sku: String,
    quantity: u32,
    unit_cents: u64,
}

/// The most of one product an order may hold.
const MAX_QUANTITY: u32 = 1000;

/// An order that passed its checks, as it is recorded.
#[derive(Debug, Clone, PartialEq)]
struct Processed {
    id: String,
    customer: String,
    items: u32,
    total_cents: u64,
    /// The SQS message it came in, to trace a record back to its message.
    message_id: String,
}

impl Order {
    /// Checks the order and totals it. An order that fails here fails on every receive: the
    /// error's type, `InvalidOrder`, says so in the logs.
    fn check(self, message_id: String) -> Result<Processed, Diagnostic> {
        let invalid = |problem: String| {
            Diagnostic::new("InvalidOrder", format!("order `{}` {problem}", self.id))
        };
        if self.id.trim().is_empty() {
            return Err(Diagnostic::new("InvalidOrder", "an order needs an `id`"));
        }
        if self.customer.trim().is_empty() {
            return Err(invalid("has no customer".into()));
        }
        if self.lines.is_empty() {
            return Err(invalid("has no lines".into()));
        }
        let mut items = 0;
        let mut total_cents = 0;
        for line in &self.lines {
            if !(1..=MAX_QUANTITY).contains(&line.quantity) {
                return Err(invalid(format!(
                    "asks for {} of `{}`, not between 1 and {MAX_QUANTITY}",
                    line.quantity, line.sku
                )));
            }
            items += line.quantity;
            total_cents += line.unit_cents * u64::from(line.quantity);
        }
        Ok(Processed {
            id: self.id,
            customer: self.customer,
            items,
            total_cents,
            message_id,
        })
    }
}

/// Where processed orders are recorded: the DynamoDB table on Lambda, memory in the unit
/// tests.
trait Ledger {
    async fn record(&self, order: &Processed) -> Result<(), Diagnostic>;
}

/// The `processed-orders` table, and the client for it, made once per cold start.
#[derive(Debug)]
struct Table {
    dynamodb: aws_sdk_dynamodb::Client,
    name: String,
}

impl Ledger for Table {
    async fn record(&self, order: &Processed) -> Result<(), Diagnostic> {
        // SQS delivers at least once: the same order may come twice, and writes the same item
        // again under its id, which changes nothing.
        self.dynamodb
            .put_item()
            .table_name(&self.name)
            .item("id", AttributeValue::S(order.id.clone()))
            .item("customer", AttributeValue::S(order.customer.clone()))
            .item("items", AttributeValue::N(order.items.to_string()))
            .item(
                "total_cents",
                AttributeValue::N(order.total_cents.to_string()),
            )
            .item("message_id", AttributeValue::S(order.message_id.clone()))
            .send()
            .await
            .map_err(|error| {
                Diagnostic::new(
                    "OrderNotRecorded",
                    format!(
                        "cannot record order `{}` in table `{}`: {}",
                        order.id,
                        self.name,
                        DisplayErrorContext(&error)
                    ),
                )
            })?;
        Ok(())
    }
}

/// Made once per cold start: the table's name from the function's environment, and a DynamoDB
/// client with the function's credentials and region.
async fn connect(_config: Config) -> Result<Table, Diagnostic> {
    // The function's own settings: `lambda_kit::Config` holds only Lambda's variables.
    #[allow(clippy::disallowed_methods)]
    let name = std::env::var("ORDERS_TABLE").map_err(|_| {
        Diagnostic::new(
            "MissingSetting",
            "set `ORDERS_TABLE` to the table that records processed orders",
        )
    })?;
    // Region, the execution role's credentials and endpoints from Lambda's environment, and an
    // HTTPS client trusting Amazon's root CAs: a tenth of the usual set-up's cold start.
    let aws = lambda_kit::aws::config().await;
    Ok(Table {
        dynamodb: aws_sdk_dynamodb::Client::new(&aws),
        name,
    })
}

#[lambda_kit::handler(setup = connect)]
async fn handler(
    event: SqsEvent,
    _ctx: Context,
    table: &Table,
) -> Result<SqsBatchResponse, Diagnostic> {
    Ok(process_batch(event, table).await)
}

/// Processes each message of the batch, and answers the ids of those that failed.
async fn process_batch(event: SqsEvent, ledger: &impl Ledger) -> SqsBatchResponse {
    // Each message waits on DynamoDB, not on the CPU: a few at once finish the batch sooner.
    Batch::new()
        .concurrency(4)
        .sqs(event, |message| process(message, ledger))
        .await
}

async fn process(message: SqsMessage, ledger: &impl Ledger) -> Result<(), Diagnostic> {
    // Not JSON, or not an order: `RecordDecodeError`, naming the message and the field.
    let order: Order = batch::decode(&message)?;
    let order = order.check(message.message_id.unwrap_or_default())?;
    ledger.record(&order).await?;
    tracing::info!(
        order = %order.id,
        items = order.items,
        total_cents = order.total_cents,
        "recorded"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use lambda_kit::testing::invoke;
    use serde_json::{Value, json};

    use super::*;

    /// A ledger in memory, which fails to record the order `unavailable_for`, as a table that
    /// throttles would.
    #[derive(Default)]
    struct Memory {
        orders: RefCell<Vec<Processed>>,
        unavailable_for: Option<&'static str>,
    }

    impl Ledger for Memory {
        async fn record(&self, order: &Processed) -> Result<(), Diagnostic> {
            if self.unavailable_for == Some(order.id.as_str()) {
                return Err(Diagnostic::new("OrderNotRecorded", "throttled"));
            }
            self.orders.borrow_mut().push(order.clone());
            Ok(())
        }
    }

    /// An SQS event of `(message id, body)`s, as the event source mapping sends it.
    fn event(messages: &[(&str, &str)]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .map(|(id, body)| {
                json!({
                    "messageId": id,
                    "receiptHandle": format!("handle-{id}"),
                    "body": body,
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:orders",
                    "awsRegion": "eu-west-1"
                })
            })
            .collect();
        json!({ "Records": records })
    }

    /// Runs `process_batch` through the runtime on `event`, answering the failed ids, sorted.
    async fn failed_ids(ledger: &Memory, event: Value) -> Vec<String> {
        let handler = |event: SqsEvent, _ctx: Context| async move {
            Ok::<_, Diagnostic>(process_batch(event, ledger).await)
        };
        let answer: Value = invoke(handler, event).await.json();
        let mut ids: Vec<String> = answer["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|failure| failure["itemIdentifier"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }

    const APPLES: &str = r#"{"id": "o-1", "customer": "c-1", "lines": [{"sku": "apple", "quantity": 3, "unit_cents": 40}]}"#;
    const BREAD_AND_CHEESE: &str = r#"{"id": "o-2", "customer": "c-2", "lines": [
        {"sku": "bread", "quantity": 1, "unit_cents": 450},
        {"sku": "cheese", "quantity": 2, "unit_cents": 720}
    ]}"#;

    #[tokio::test]
    async fn good_orders_are_recorded_and_only_poison_messages_reported() {
        let ledger = Memory::default();
        let failed = failed_ids(
            &ledger,
            event(&[
                ("m-1", APPLES),
                ("m-2", "not json"),
                (
                    "m-3",
                    r#"{"id": "o-3", "customer": "c-1", "lines": [{"sku": "apple", "quantity": 0, "unit_cents": 40}]}"#,
                ),
                ("m-4", BREAD_AND_CHEESE),
                ("m-5", r#"{"id": "o-5", "customer": "c-1", "lines": []}"#),
                ("m-6", r#"{"id": "o-6"}"#),
            ]),
        )
        .await;
        assert_eq!(failed, ["m-2", "m-3", "m-5", "m-6"]);
        let mut recorded = ledger.orders.take();
        recorded.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(
            recorded,
            [
                Processed {
                    id: "o-1".into(),
                    customer: "c-1".into(),
                    items: 3,
                    total_cents: 120,
                    message_id: "m-1".into(),
                },
                Processed {
                    id: "o-2".into(),
                    customer: "c-2".into(),
                    items: 3,
                    total_cents: 1890,
                    message_id: "m-4".into(),
                },
            ]
        );
    }

    #[tokio::test]
    async fn an_order_the_table_does_not_take_is_reported_for_another_try() {
        let ledger = Memory {
            unavailable_for: Some("o-2"),
            ..Memory::default()
        };
        let failed = failed_ids(
            &ledger,
            event(&[("m-1", APPLES), ("m-2", BREAD_AND_CHEESE)]),
        )
        .await;
        assert_eq!(failed, ["m-2"]);
        assert_eq!(ledger.orders.borrow().len(), 1);
        assert_eq!(ledger.orders.borrow()[0].id, "o-1");
    }

    #[test]
    fn a_failed_check_says_what_is_wrong_with_the_order() {
        let check = |body: &str| {
            let order: Order = serde_json::from_str(body).unwrap();
            order.check("m-1".into()).unwrap_err()
        };
        for (body, message) in [
            (
                r#"{"id": " ", "customer": "c-1", "lines": []}"#,
                "an order needs an `id`",
            ),
            (
                r#"{"id": "o-1", "customer": "", "lines": []}"#,
                "order `o-1` has no customer",
            ),
            (
                r#"{"id": "o-1", "customer": "c-1", "lines": []}"#,
                "order `o-1` has no lines",
            ),
            (
                r#"{"id": "o-1", "customer": "c-1", "lines": [{"sku": "apple", "quantity": 1001, "unit_cents": 1}]}"#,
                "order `o-1` asks for 1001 of `apple`, not between 1 and 1000",
            ),
        ] {
            let error = check(body);
            assert_eq!(error.error_type(), "InvalidOrder", "{body}");
            assert_eq!(error.error_message(), message, "{body}");
        }
    }
}
