//! `Load`, the last state of the `order-flow` state machine: sums the lines the Map priced and
//! writes the order to the `orders` table, adding it to its customer's totals.
//!
//! It runs through the same idempotency records as `load`, the SQS form's last step, keyed by
//! the order id: Step Functions retrying the state (its `Retry`), or the same order arriving
//! through either form, adds the order to the totals once.
//!
//! Two of its errors are worth a retry, and the machine's `Retry` waits and tries again on
//! them: `WriteThrottled` (DynamoDB throttled the write past the SDK's own retries) and
//! `IdempotencyAlreadyInProgress` (another attempt holds the order: one that is still running,
//! or one that timed out, whose hold ends at its deadline).

use lambda_kit::idempotency::{DynamoDbStore, Idempotency};
use lambda_kit::{Config, Context, Diagnostic};
use order_pipeline::table::{Loaded, OrdersTable};
use order_pipeline::{PricedLine, PricedOrder, Settings, aws_config, idempotency};
use serde::Deserialize;

/// The order as the Map leaves it: each line priced, no total yet.
#[derive(Debug, Deserialize)]
struct PricedLines {
    id: String,
    customer: String,
    lines: Vec<PricedLine>,
}

/// Built once per cold start.
#[derive(Debug)]
struct Store {
    table: OrdersTable,
    idempotency: Idempotency<DynamoDbStore>,
}

async fn setup(_config: Config) -> Result<Store, Diagnostic> {
    let settings = Settings::from_env(&["ORDERS_TABLE", "IDEMPOTENCY_TABLE"])?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws_config().await);
    Ok(Store {
        idempotency: idempotency(dynamodb.clone(), settings.get("IDEMPOTENCY_TABLE"), "load"),
        table: OrdersTable::new(dynamodb, settings.get("ORDERS_TABLE")),
    })
}

#[lambda_kit::handler(setup = setup)]
async fn store_order(
    order: PricedLines,
    ctx: Context,
    state: &Store,
) -> Result<Loaded, Diagnostic> {
    let order = PricedOrder::new(order.id, order.customer, order.lines);
    let loaded = state
        .idempotency
        .run(order, &ctx, |order| async move {
            let loaded = state.table.load(&order).await?;
            tracing::info!(order = %order.id, total_cents = order.total_cents, "loaded");
            Ok::<_, Diagnostic>(loaded)
        })
        .await?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::{FakeRuntimeApi, Invocation};
    use serde_json::json;

    use super::*;

    /// The function with AWS out of reach: nothing listens on port 1.
    async fn unreachable(_config: Config) -> Result<Store, Diagnostic> {
        let config = order_pipeline::unreachable_aws_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        Ok(Store {
            idempotency: idempotency(dynamodb.clone(), "order-idempotency", "load"),
            table: OrdersTable::new(dynamodb, "orders"),
        })
    }

    #[tokio::test]
    async fn orders_are_held_by_their_idempotency_record_before_anything_is_written() {
        let api = FakeRuntimeApi::start().await.unwrap();
        let ids = [
            api.push(Invocation::new(json!({
                "id": "o-1", "customer": "ada",
                "lines": [{"sku": "melon", "quantity": 2, "unit_cents": 320, "cents": 640}]
            }))),
            // A line the Map did not price.
            api.push(Invocation::new(json!({
                "id": "o-2", "customer": "ada", "lines": [{"sku": "melon", "quantity": 2}]
            }))),
        ];
        let runtime = lambda_kit::Runtime::new(api.config()).logging(false);
        let outcomes = api
            .outcomes_while(&ids, runtime.serve_with_state(unreachable, store_order))
            .await
            .unwrap();
        // The idempotency table is out of reach: nothing is written without its record.
        assert_eq!(outcomes[0].error().error_type(), "IdempotencyStoreError");
        assert_eq!(outcomes[1].error().error_type(), "Runtime.UnmarshalError");
        assert!(
            outcomes[1].error().error_message().contains("unit_cents"),
            "{}",
            outcomes[1].error().error_message()
        );
    }
}
