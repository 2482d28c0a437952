//! Prices the orders `validate` queued (an SQS trigger on `orders-validated`) and queues them
//! for loading on `orders-priced`.
//!
//! Messages fail one by one (a partial batch response): SQS delivers a failed message again
//! after its visibility timeout, and moves it to the queue's dead-letter queue after its
//! `maxReceiveCount`, if it has one. A message delivered twice (SQS delivers at least once) is
//! priced once and sent on once.

use lambda_kit::batch::Batch;
use lambda_kit::events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_kit::idempotency::{DynamoDbStore, Idempotency};
use lambda_kit::{Config, Context, Diagnostic};
use order_pipeline::{Order, Settings, aws_config, idempotency, price, queue_url, send};

/// Built once per cold start.
#[derive(Debug)]
struct Transform {
    sqs: aws_sdk_sqs::Client,
    priced_queue: String,
    idempotency: Idempotency<DynamoDbStore>,
}

async fn setup(_config: Config) -> Result<Transform, Diagnostic> {
    let settings = Settings::from_env(&["PRICED_QUEUE", "IDEMPOTENCY_TABLE"])?;
    let config = aws_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let priced_queue = queue_url(&sqs, settings.get("PRICED_QUEUE")).await?;
    Ok(Transform {
        sqs,
        priced_queue,
        idempotency: idempotency(
            aws_sdk_dynamodb::Client::new(&config),
            settings.get("IDEMPOTENCY_TABLE"),
            "transform",
        ),
    })
}

impl Transform {
    async fn handle(&self, message: SqsMessage, ctx: &Context) -> Result<(), Diagnostic> {
        let body = message.body.unwrap_or_default();
        let order: Order = serde_json::from_str(&body).map_err(|error| {
            Diagnostic::new("MalformedMessage", format!("not an order: {error}"))
        })?;
        // Pricing has no effect outside: only sending it on needs to happen once.
        let priced = price(order)?;
        self.idempotency
            .run(priced, ctx, |priced| async move {
                let message_id = send(&self.sqs, &self.priced_queue, &priced).await?;
                tracing::info!(order = %priced.id, total_cents = priced.total_cents, %message_id, "priced");
                Ok::<_, Diagnostic>(message_id)
            })
            .await?;
        Ok(())
    }
}

#[lambda_kit::handler(setup = setup)]
async fn transform(
    event: SqsEvent,
    ctx: Context,
    state: &Transform,
) -> Result<SqsBatchResponse, Diagnostic> {
    // The messages of a batch wait on SQS and DynamoDB, not on the CPU: run a few at once.
    let response = Batch::new()
        .concurrency(4)
        .sqs(event, |message| state.handle(message, &ctx))
        .await;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::{FakeRuntimeApi, Invocation};
    use serde_json::json;

    use super::*;

    /// The function with AWS out of reach: nothing listens on port 1.
    async fn unreachable(_config: Config) -> Result<Transform, Diagnostic> {
        let config = order_pipeline::unreachable_aws_config().await;
        Ok(Transform {
            sqs: aws_sdk_sqs::Client::new(&config),
            priced_queue: "http://127.0.0.1:1/123456789012/orders-priced".into(),
            idempotency: idempotency(
                aws_sdk_dynamodb::Client::new(&config),
                "order-idempotency",
                "transform",
            ),
        })
    }

    #[tokio::test]
    async fn messages_that_are_not_valid_orders_are_reported_failed() {
        let event = json!({"Records": [
            {"messageId": "m-1", "body": "{\"id\": \"o-1\""},
            {"messageId": "m-2", "body": json!({
                "id": "o-2", "customer": "ada", "lines": [{"sku": "kiwi", "quantity": 1}]
            }).to_string()},
        ]});
        let api = FakeRuntimeApi::start().await.unwrap();
        let ids = [api.push(Invocation::new(event))];
        let runtime = lambda_kit::Runtime::new(api.config()).logging(false);
        let outcomes = api
            .outcomes_while(&ids, runtime.serve_with_state(unreachable, transform))
            .await
            .unwrap();
        assert_eq!(
            outcomes[0].json::<serde_json::Value>(),
            json!({"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]})
        );
    }
}
