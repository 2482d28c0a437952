//! Loads the priced orders (an SQS trigger on `orders-priced`) into the `orders` table.
//!
//! The table holds two kinds of items, told apart by their `id`: each order under its own id,
//! and each customer's running totals under `customer#NAME` (`order_count`, `total_cents`).
//! Adding to the totals is not idempotent by itself, which is why the step is: a message
//! delivered twice adds its order once. The writes are in `order_pipeline::table`.

use lambda_kit::batch::Batch;
use lambda_kit::events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_kit::idempotency::{DynamoDbStore, Idempotency};
use lambda_kit::{Config, Context, Diagnostic};
use order_pipeline::table::OrdersTable;
use order_pipeline::{PricedOrder, Settings, aws_config, idempotency};

/// Built once per cold start.
#[derive(Debug)]
struct Load {
    table: OrdersTable,
    idempotency: Idempotency<DynamoDbStore>,
}

async fn setup(_config: Config) -> Result<Load, Diagnostic> {
    let settings = Settings::from_env(&["ORDERS_TABLE", "IDEMPOTENCY_TABLE"])?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws_config().await);
    Ok(Load {
        // The same records as the state machine's `store-order`: an order loaded by either
        // form is added to the totals once.
        idempotency: idempotency(dynamodb.clone(), settings.get("IDEMPOTENCY_TABLE"), "load"),
        table: OrdersTable::new(dynamodb, settings.get("ORDERS_TABLE")),
    })
}

impl Load {
    async fn handle(&self, message: SqsMessage, ctx: &Context) -> Result<(), Diagnostic> {
        let body = message.body.unwrap_or_default();
        let order: PricedOrder = serde_json::from_str(&body).map_err(|error| {
            Diagnostic::new("MalformedMessage", format!("not a priced order: {error}"))
        })?;
        self.idempotency
            .run(order, ctx, |order| async move {
                let loaded = self.table.load(&order).await?;
                tracing::info!(order = %order.id, customer = %order.customer, "loaded");
                Ok::<_, Diagnostic>(loaded)
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
