//! What the functions of the order pipeline share: the orders as they travel, the catalogue,
//! the checks and the pricing, the `orders` table ([`table`]) and the AWS setup.
//!
//! The pipeline comes in two forms over the same code. Chained through SQS:
//!
//! ```text
//! caller ──▶ validate ──▶ SQS orders-validated ──▶ transform ──▶ SQS orders-priced ──▶ load ──▶ DynamoDB orders
//! ```
//!
//! and as the state machine `order-flow` (`states/order-flow.asl.yaml`), whose Task states are
//! functions of their own:
//!
//! ```text
//! Validate (check-order) ──▶ Transform (Map: price-line per line) ──▶ Load (store-order) ──▶ DynamoDB orders
//!     └─ Catch InvalidOrder ──▶ Reject (record-rejection) ──▶ Rejected (Fail)
//! ```
//!
//! Each step with an effect is idempotent on the order id (`lambda_kit::idempotency`, with the
//! records in a DynamoDB table): a caller retrying `validate`, SQS delivering a message twice,
//! or Step Functions retrying `store-order` gets the first answer again without a second
//! message or a second write.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::config::retry::RetryConfig;
use lambda_kit::Diagnostic;
use lambda_kit::aws::SdkConfig;
use lambda_kit::idempotency::{DynamoDbStore, Idempotency};
use serde::{Deserialize, Serialize};

pub mod table;

/// The most of one item an order may hold.
pub const MAX_QUANTITY: u32 = 100;

/// An order as a caller sends it to `validate`, and as `transform` receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The caller's id for the order: a retry of the same order carries the same id.
    pub id: String,
    /// Who ordered.
    pub customer: String,
    /// What, at least one line.
    pub lines: Vec<Line>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// An item of the [catalogue](price_cents).
    pub sku: String,
    /// How many, from 1 to [`MAX_QUANTITY`].
    pub quantity: u32,
}

/// An order with its prices, as `transform` sends it to `load`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricedOrder {
    /// The order's id.
    pub id: String,
    /// Who ordered.
    pub customer: String,
    /// The lines, priced.
    pub lines: Vec<PricedLine>,
    /// The sum of the lines.
    pub total_cents: u64,
}

/// A line with its prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricedLine {
    /// The item.
    pub sku: String,
    /// How many.
    pub quantity: u32,
    /// The price of one.
    pub unit_cents: u64,
    /// The price of all of them.
    pub cents: u64,
}

/// The catalogue's price of `sku`, in cents; `None` when it is not for sale.
pub fn price_cents(sku: &str) -> Option<u64> {
    match sku {
        "apple" => Some(40),
        "pear" => Some(55),
        "melon" => Some(320),
        "cheese" => Some(720),
        _ => None,
    }
}

/// Checks `order`; an order that fails is refused with `errorType` `InvalidOrder` and a
/// message saying what to fix.
pub fn check(order: &Order) -> Result<(), Diagnostic> {
    if order.id.trim().is_empty() {
        return Err(invalid("the order has no id".to_owned()));
    }
    if order.customer.trim().is_empty() {
        return Err(invalid(format!("order {} has no customer", order.id)));
    }
    if order.lines.is_empty() {
        return Err(invalid(format!("order {} has no lines", order.id)));
    }
    for (index, line) in order.lines.iter().enumerate() {
        check_line(line).map_err(|problem| invalid(format!("lines[{index}]: {problem}")))?;
    }
    Ok(())
}

fn invalid(problem: String) -> Diagnostic {
    Diagnostic::new("InvalidOrder", problem)
}

/// What is wrong with `line`, if anything.
fn check_line(line: &Line) -> Result<u64, String> {
    let Some(unit_cents) = price_cents(&line.sku) else {
        return Err(format!("`{}` is not for sale", line.sku));
    };
    if !(1..=MAX_QUANTITY).contains(&line.quantity) {
        return Err(format!(
            "quantity {} is not between 1 and {MAX_QUANTITY}",
            line.quantity
        ));
    }
    Ok(unit_cents)
}

/// Prices one line, refusing with `InvalidOrder` what [`check`] refuses in a line.
pub fn price_line(line: Line) -> Result<PricedLine, Diagnostic> {
    let unit_cents = check_line(&line).map_err(invalid)?;
    Ok(PricedLine {
        cents: unit_cents * u64::from(line.quantity),
        sku: line.sku,
        quantity: line.quantity,
        unit_cents,
    })
}

/// Prices a [checked](check) order, refusing with `InvalidOrder` what the check refuses.
pub fn price(order: Order) -> Result<PricedOrder, Diagnostic> {
    check(&order)?;
    let lines = order
        .lines
        .into_iter()
        .map(price_line)
        .collect::<Result<_, _>>()?;
    Ok(PricedOrder::new(order.id, order.customer, lines))
}

impl PricedOrder {
    /// The order of `customer` with these `lines`, and their sum.
    pub fn new(id: String, customer: String, lines: Vec<PricedLine>) -> Self {
        Self {
            total_cents: lines.iter().map(|line| line.cents).sum(),
            id,
            customer,
            lines,
        }
    }
}

/// The environment variables of the functions, read once at cold start.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    values: HashMap<&'static str, String>,
}

impl Settings {
    /// Reads `names` from the process environment.
    ///
    /// # Errors
    ///
    /// `MissingSetting` naming the first variable that is unset or empty.
    pub fn from_env(names: &[&'static str]) -> Result<Self, Diagnostic> {
        #[allow(clippy::disallowed_methods)] // The pipeline's own settings, read once at setup.
        Self::from_lookup(names, |name| std::env::var(name).ok())
    }

    /// Reads `names` with `lookup`, which gives a variable's value.
    ///
    /// # Errors
    ///
    /// `MissingSetting` naming the first variable that is unset or empty.
    pub fn from_lookup(
        names: &[&'static str],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Diagnostic> {
        let values = names
            .iter()
            .map(|&name| match lookup(name) {
                Some(value) if !value.is_empty() => Ok((name, value)),
                _ => Err(Diagnostic::new(
                    "MissingSetting",
                    format!("set the variable `{name}`"),
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { values })
    }

    /// The value of `name`, one of the names read.
    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }
}

/// The AWS SDK's configuration from Lambda's environment (region, the execution role's
/// credentials, `AWS_ENDPOINT_URL`, ...), with an HTTPS client trusting Amazon's root CAs:
/// [`lambda_kit::aws::config`], a tenth of the usual set-up's cold start.
pub async fn aws_config() -> SdkConfig {
    lambda_kit::aws::config().await
}

/// For the functions' tests: a configuration whose calls fail at once, with AWS out of reach
/// (nothing listens on port 1 of 127.0.0.1) and no retries.
#[doc(hidden)]
pub async fn unreachable_aws_config() -> SdkConfig {
    lambda_kit::aws::Builder::new()
        .environment([
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ])
        .endpoint_url("http://127.0.0.1:1")
        .load()
        .await
        .into_builder()
        .retry_config(RetryConfig::disabled())
        .build()
}

/// Idempotency on the order id (`/id`), with the records in `table` under `step`'s prefix:
/// the steps' records never meet, and do not depend on what the functions are named on AWS.
///
/// The whole event is validated too: the same order id with other contents is a caller's
/// bug, refused with `IdempotencyPayloadMismatch`, not answered with the other order's
/// result. Records of completed orders answer repeats for a day, longer than SQS retries a
/// message and than a caller retries a request.
pub fn idempotency(
    dynamodb: aws_sdk_dynamodb::Client,
    table: &str,
    step: &str,
) -> Idempotency<DynamoDbStore> {
    Idempotency::new(DynamoDbStore::new(dynamodb, table))
        .key("/id")
        .validate("")
        .require_key()
        .key_prefix(format!("order-pipeline.{step}"))
        .expires_after(Duration::from_secs(24 * 60 * 60))
}

/// An AWS SDK error with its causes, as the `errorMessage` of a failed step.
pub fn aws_failure(
    error_type: &'static str,
    step: &str,
    error: &dyn std::error::Error,
) -> Diagnostic {
    let mut message = format!("{step}: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Diagnostic::new(error_type, message)
}

/// The URL of the queue named `name`, looked up once at cold start.
///
/// # Errors
///
/// `QueueNotFound` when SQS does not know the queue or cannot be asked.
pub async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, Diagnostic> {
    let found = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|error| aws_failure("QueueNotFound", &format!("the queue `{name}`"), &error))?;
    found
        .queue_url
        .ok_or_else(|| Diagnostic::new("QueueNotFound", format!("the queue `{name}` has no URL")))
}

/// Sends `message` as JSON to the queue at `url`, and answers SQS's message id.
///
/// # Errors
///
/// `SendFailed` when SQS does not take it.
pub async fn send<T: Serialize>(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    message: &T,
) -> Result<String, Diagnostic> {
    let body = serde_json::to_string(message)
        .map_err(|error| Diagnostic::new("SendFailed", error.to_string()))?;
    let sent = sqs
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .map_err(|error| aws_failure("SendFailed", &format!("sending to {url}"), &error))?;
    Ok(sent.message_id.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(lines: &[(&str, u32)]) -> Order {
        Order {
            id: "o-1".into(),
            customer: "ada".into(),
            lines: lines
                .iter()
                .map(|&(sku, quantity)| Line {
                    sku: sku.into(),
                    quantity,
                })
                .collect(),
        }
    }

    #[test]
    fn orders_are_checked_line_by_line() {
        assert!(check(&order(&[("apple", 1), ("cheese", 100)])).is_ok());
        let refused = |order: Order| {
            let error = check(&order).unwrap_err();
            assert_eq!(error.error_type(), "InvalidOrder");
            error.error_message().to_owned()
        };
        assert_eq!(refused(order(&[])), "order o-1 has no lines");
        assert_eq!(
            refused(order(&[("apple", 1), ("kiwi", 2)])),
            "lines[1]: `kiwi` is not for sale"
        );
        assert_eq!(
            refused(order(&[("pear", 0)])),
            "lines[0]: quantity 0 is not between 1 and 100"
        );
        assert_eq!(
            refused(Order {
                customer: " ".into(),
                ..order(&[("pear", 1)])
            }),
            "order o-1 has no customer"
        );
    }

    #[test]
    fn prices_come_from_the_catalogue() {
        let priced = price(order(&[("melon", 2), ("apple", 3)])).unwrap();
        assert_eq!(priced.total_cents, 760);
        assert_eq!(
            priced.lines[0],
            PricedLine {
                sku: "melon".into(),
                quantity: 2,
                unit_cents: 320,
                cents: 640
            }
        );
        assert_eq!(
            price(order(&[("kiwi", 1)])).unwrap_err().error_type(),
            "InvalidOrder"
        );
    }

    #[test]
    fn settings_name_what_is_missing() {
        let settings = Settings::from_lookup(&["A", "B"], |name| Some(format!("{name}!"))).unwrap();
        assert_eq!(settings.get("B"), "B!");
        let error =
            Settings::from_lookup(&["A", "B"], |name| (name == "A").then(|| "a".to_owned()))
                .unwrap_err();
        assert_eq!(error.error_type(), "MissingSetting");
        assert_eq!(error.error_message(), "set the variable `B`");
    }
}
