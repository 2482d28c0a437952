//! Loads the priced orders (an SQS trigger on `orders-priced`) into the `orders` table.
//!
//! The table holds two kinds of items, told apart by their `id`: each order under its own id,
//! and each customer's running totals under `customer#NAME` (`order_count`, `total_cents`).
//! Adding to the totals is not idempotent by itself, which is why the step is: a message
//! delivered twice adds its order once.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_kit::batch::Batch;
use lambda_kit::events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_kit::idempotency::{DynamoDbStore, Idempotency};
use lambda_kit::{Config, Context, Diagnostic};
use order_pipeline::{PricedOrder, Settings, aws_config, aws_failure, idempotency};
use serde::{Deserialize, Serialize};

/// Built once per cold start.
#[derive(Debug)]
struct Load {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    idempotency: Idempotency<DynamoDbStore>,
}

async fn setup(_config: Config) -> Result<Load, Diagnostic> {
    let settings = Settings::from_env(&["ORDERS_TABLE", "IDEMPOTENCY_TABLE"])?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws_config().await);
    Ok(Load {
        idempotency: idempotency(dynamodb.clone(), settings.get("IDEMPOTENCY_TABLE"), "load"),
        dynamodb,
        table: settings.get("ORDERS_TABLE").to_owned(),
    })
}

/// What the idempotency record keeps of a loaded order.
#[derive(Debug, Serialize, Deserialize)]
struct Loaded {
    order_id: String,
}

/// The order's item: its lines as a list of maps.
fn order_item(order: &PricedOrder) -> HashMap<String, AttributeValue> {
    let number = |value: u64| AttributeValue::N(value.to_string());
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

impl Load {
    async fn load(&self, order: &PricedOrder) -> Result<(), Diagnostic> {
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(order_item(order)))
            .send()
            .await
            .map_err(|error| {
                aws_failure(
                    "WriteFailed",
                    &format!("writing order {}", order.id),
                    &error,
                )
            })?;
        self.dynamodb
            .update_item()
            .table_name(&self.table)
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
                aws_failure("WriteFailed", &step, &error)
            })?;
        Ok(())
    }

    async fn handle(&self, message: SqsMessage, ctx: &Context) -> Result<(), Diagnostic> {
        let body = message.body.unwrap_or_default();
        let order: PricedOrder = serde_json::from_str(&body).map_err(|error| {
            Diagnostic::new("MalformedMessage", format!("not a priced order: {error}"))
        })?;
        self.idempotency
            .run(order, ctx, |order| async move {
                self.load(&order).await?;
                tracing::info!(order = %order.id, customer = %order.customer, "loaded");
                Ok::<_, Diagnostic>(Loaded { order_id: order.id })
            })
            .await?;
        Ok(())
    }
}

#[lambda_kit::handler(setup = setup)]
async fn load(event: SqsEvent, ctx: Context, state: &Load) -> Result<SqsBatchResponse, Diagnostic> {
    let response = Batch::new()
        .concurrency(4)
        .sqs(event, |message| state.handle(message, &ctx))
        .await;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use order_pipeline::{Order, price};

    use super::*;

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
}
