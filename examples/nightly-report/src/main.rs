//! A nightly job: an EventBridge schedule runs it after midnight (UTC), and it totals the
//! orders placed the day before, from a DynamoDB table, into a JSON report in S3,
//! `reports/YYYY-MM-DD.json`.
//!
//! The day comes from the scheduled event's `time`, not from the clock: a run that EventBridge
//! retries, or that someone starts by hand with an older event, reports the same day again and
//! overwrites its report with the same totals.
//!
//! A failure (the table or the bucket out of reach, an order item without its fields) fails the
//! invocation with an `errorType` that says which step failed. EventBridge invokes the function
//! asynchronously, so Lambda retries it, then hands it to the function's failure destination
//! or dead-letter queue when it has one: a report that was not written is never mistaken for
//! one that was.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use lambda_kit::events::schedule::CloudWatchEvent;
use lambda_kit::{Config, Context, Diagnostic};
use serde::Serialize;

/// Items per page of the table's scan. Each page is one request: smaller pages than
/// DynamoDB's 1 MB keep each request short, and the read capacity they use spread out.
const PAGE_SIZE: i32 = 100;

/// What the report says about a day.
#[derive(Debug, Default, PartialEq, Serialize)]
struct Report {
    /// The day it covers, `YYYY-MM-DD` (UTC).
    day: String,
    /// The scheduled event's time.
    generated_at: String,
    orders: u64,
    revenue_cents: u64,
    /// By customer id, in order.
    customers: BTreeMap<String, Totals>,
}

#[derive(Debug, Default, PartialEq, Serialize)]
struct Totals {
    orders: u64,
    revenue_cents: u64,
}

impl Report {
    fn add(&mut self, sale: Sale) {
        self.orders += 1;
        self.revenue_cents += sale.total_cents;
        let customer = self.customers.entry(sale.customer).or_default();
        customer.orders += 1;
        customer.revenue_cents += sale.total_cents;
    }
}

/// What the report needs of an order item: `customer` (a string) and `total_cents` (a
/// number).
#[derive(Debug, PartialEq)]
struct Sale {
    customer: String,
    total_cents: u64,
}

impl Sale {
    fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Self, Diagnostic> {
        let id = match item.get("id") {
            Some(AttributeValue::S(id)) => id.as_str(),
            _ => "(no id)",
        };
        let malformed = |problem: &str| {
            Diagnostic::new("MalformedOrder", format!("order item `{id}` {problem}"))
        };
        let Some(AttributeValue::S(customer)) = item.get("customer") else {
            return Err(malformed("has no string `customer`"));
        };
        let Some(AttributeValue::N(total_cents)) = item.get("total_cents") else {
            return Err(malformed("has no number `total_cents`"));
        };
        let total_cents = total_cents.parse().map_err(|_| {
            malformed(&format!(
                "has `total_cents` {total_cents}, not a whole number of cents"
            ))
        })?;
        Ok(Self {
            customer: customer.clone(),
            total_cents,
        })
    }
}

/// Where the orders are read and the report written, made once per cold start.
#[derive(Debug)]
struct Warehouse {
    dynamodb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    table: String,
    bucket: String,
}

async fn connect(_config: Config) -> Result<Warehouse, Diagnostic> {
    // The function's own settings: `lambda_kit::Config` holds only Lambda's variables.
    #[allow(clippy::disallowed_methods)]
    let setting = |name: &str| {
        std::env::var(name).map_err(|_| {
            Diagnostic::new(
                "MissingSetting",
                format!("set `{name}` in the function's environment"),
            )
        })
    };
    let table = setting("ORDERS_TABLE")?;
    let bucket = setting("REPORT_BUCKET")?;
    // Region, the execution role's credentials and endpoints from Lambda's environment, and an
    // HTTPS client trusting Amazon's root CAs: a tenth of the usual set-up's cold start.
    let aws = lambda_kit::aws::config().await;
    Ok(Warehouse {
        dynamodb: aws_sdk_dynamodb::Client::new(&aws),
        s3: aws_sdk_s3::Client::new(&aws),
        table,
        bucket,
    })
}

/// What the function answers: where the report is, and its totals.
#[derive(Debug, Serialize)]
struct Written {
    report: String,
    orders: u64,
    revenue_cents: u64,
}

#[lambda_kit::handler(setup = connect)]
async fn handler(
    event: CloudWatchEvent,
    _ctx: Context,
    warehouse: &Warehouse,
) -> Result<Written, Diagnostic> {
    let day = event.time.date_naive().pred_opt().ok_or_else(|| {
        Diagnostic::new(
            "InvalidScheduledEvent",
            format!("the event's time, {}, has no day before it", event.time),
        )
    })?;
    let mut report = Report {
        day: day.to_string(),
        generated_at: event.time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ..Report::default()
    };

    // The day's orders, wherever they are in the table: a scan, page by page, filtered on the
    // day `placed_at` (an ISO 8601 time) starts with. A table that grows large would rather
    // have an index on the day, and a query.
    let mut pages = warehouse
        .dynamodb
        .scan()
        .table_name(&warehouse.table)
        .filter_expression("begins_with(placed_at, :day)")
        .expression_attribute_values(":day", AttributeValue::S(report.day.clone()))
        .limit(PAGE_SIZE)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| {
            Diagnostic::new(
                "OrdersNotRead",
                format!(
                    "cannot scan table `{}`: {}",
                    warehouse.table,
                    aws_sdk_dynamodb::error::DisplayErrorContext(&error)
                ),
            )
        })?;
        for item in page.items() {
            report.add(Sale::from_item(item)?);
        }
    }

    let key = format!("reports/{}.json", report.day);
    let body = serde_json::to_vec_pretty(&report)
        .map_err(|error| Diagnostic::new("ReportNotWritten", error.to_string()))?;
    warehouse
        .s3
        .put_object()
        .bucket(&warehouse.bucket)
        .key(&key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|error| {
            Diagnostic::new(
                "ReportNotWritten",
                format!(
                    "cannot write s3://{}/{key}: {}",
                    warehouse.bucket,
                    aws_sdk_s3::error::DisplayErrorContext(&error)
                ),
            )
        })?;
    tracing::info!(
        day = %report.day,
        orders = report.orders,
        revenue_cents = report.revenue_cents,
        "report written"
    );
    Ok(Written {
        report: format!("s3://{}/{key}", warehouse.bucket),
        orders: report.orders,
        revenue_cents: report.revenue_cents,
    })
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::retry::RetryConfig;
    use lambda_kit::testing::{FakeRuntimeApi, Invocation};
    use serde_json::json;

    use super::*;

    fn item(id: &str, fields: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([("id".to_owned(), AttributeValue::S(id.into()))]);
        for (name, value) in fields {
            item.insert((*name).to_owned(), value.clone());
        }
        item
    }

    fn order(id: &str, customer: &str, total_cents: u64) -> HashMap<String, AttributeValue> {
        item(
            id,
            &[
                ("customer", AttributeValue::S(customer.into())),
                ("total_cents", AttributeValue::N(total_cents.to_string())),
                (
                    "placed_at",
                    AttributeValue::S("2026-11-22T10:00:00Z".into()),
                ),
            ],
        )
    }

    #[test]
    fn the_report_totals_orders_by_customer() {
        let mut report = Report::default();
        for (id, customer, cents) in [("o-1", "c-2", 450), ("o-2", "c-1", 120), ("o-3", "c-2", 50)]
        {
            report.add(Sale::from_item(&order(id, customer, cents)).unwrap());
        }
        assert_eq!((report.orders, report.revenue_cents), (3, 620));
        let report = serde_json::to_value(&report).unwrap();
        assert_eq!(
            report["customers"],
            json!({
                "c-1": {"orders": 1, "revenue_cents": 120},
                "c-2": {"orders": 2, "revenue_cents": 500},
            })
        );
    }

    #[test]
    fn an_item_without_what_the_report_needs_is_an_error() {
        for (item, message) in [
            (
                item("o-1", &[("total_cents", AttributeValue::N("5".into()))]),
                "order item `o-1` has no string `customer`",
            ),
            (
                item(
                    "o-2",
                    &[
                        ("customer", AttributeValue::S("c-1".into())),
                        ("total_cents", AttributeValue::S("5".into())),
                    ],
                ),
                "order item `o-2` has no number `total_cents`",
            ),
            (
                item(
                    "o-3",
                    &[
                        ("customer", AttributeValue::S("c-1".into())),
                        ("total_cents", AttributeValue::N("4.5".into())),
                    ],
                ),
                "order item `o-3` has `total_cents` 4.5, not a whole number of cents",
            ),
        ] {
            let error = Sale::from_item(&item).unwrap_err();
            assert_eq!(error.error_type(), "MalformedOrder");
            assert_eq!(error.error_message(), message);
        }
    }

    /// A warehouse whose table and bucket are out of reach: nothing listens on port 1.
    async fn unreachable(_config: Config) -> Result<Warehouse, Diagnostic> {
        let aws = lambda_kit::aws::Builder::new()
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
            .build();
        Ok(Warehouse {
            dynamodb: aws_sdk_dynamodb::Client::new(&aws),
            s3: aws_sdk_s3::Client::new(&aws),
            table: "orders".into(),
            bucket: "reports".into(),
        })
    }

    #[tokio::test]
    async fn a_table_out_of_reach_fails_the_run() {
        let api = FakeRuntimeApi::start().await.unwrap();
        let id = api.push(Invocation::new(json!({
            "version": "0",
            "id": "e-1",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-23T02:30:00Z",
            "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/nightly"],
            "detail": {}
        })));
        let runtime = lambda_kit::Runtime::new(api.config()).logging(false);
        let outcomes = api
            .outcomes_while(&[id], runtime.serve_with_state(unreachable, handler))
            .await
            .unwrap();
        let error = outcomes[0].error();
        assert_eq!(error.error_type(), "OrdersNotRead");
        assert!(
            error
                .error_message()
                .starts_with("cannot scan table `orders`: "),
            "{}",
            error.error_message()
        );
    }
}
