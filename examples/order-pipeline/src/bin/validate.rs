//! The pipeline's entrance: checks an order sent by a caller (an API, another service) and
//! queues it for pricing.
//!
//! A refused order fails the invocation with `errorType` `InvalidOrder` and what to fix, and
//! nothing is queued. An accepted one is answered with the id of the SQS message that carries
//! it. A caller that retries the same order (same id, same contents) gets the same answer, and
//! the order is queued once.

use lambda_kit::idempotency::{DynamoDbStore, Idempotency};
use lambda_kit::{Config, Context, Diagnostic};
use order_pipeline::{Order, Settings, aws_config, check, idempotency, queue_url, send};
use serde::{Deserialize, Serialize};

/// What an accepted order is answered.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Accepted {
    order_id: String,
    message_id: String,
}

/// Built once per cold start.
#[derive(Debug)]
struct Validate {
    sqs: aws_sdk_sqs::Client,
    validated_queue: String,
    idempotency: Idempotency<DynamoDbStore>,
}

async fn setup(_config: Config) -> Result<Validate, Diagnostic> {
    let settings = Settings::from_env(&["VALIDATED_QUEUE", "IDEMPOTENCY_TABLE"])?;
    let config = aws_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let validated_queue = queue_url(&sqs, settings.get("VALIDATED_QUEUE")).await?;
    Ok(Validate {
        sqs,
        validated_queue,
        idempotency: idempotency(
            aws_sdk_dynamodb::Client::new(&config),
            settings.get("IDEMPOTENCY_TABLE"),
            "validate",
        ),
    })
}

#[lambda_kit::handler(setup = setup)]
async fn validate(order: Order, ctx: Context, state: &Validate) -> Result<Accepted, Diagnostic> {
    // Refused orders never reach the idempotency table.
    check(&order)?;
    let accepted = state
        .idempotency
        .run(order, &ctx, |order| async move {
            let message_id = send(&state.sqs, &state.validated_queue, &order).await?;
            tracing::info!(order = %order.id, %message_id, "queued for pricing");
            Ok::<_, Diagnostic>(Accepted {
                order_id: order.id,
                message_id,
            })
        })
        .await?;
    Ok(accepted)
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::{FakeRuntimeApi, Invocation};
    use serde_json::json;

    use super::*;

    /// The function with AWS out of reach: nothing listens on port 1.
    async fn unreachable(_config: Config) -> Result<Validate, Diagnostic> {
        let config = order_pipeline::unreachable_aws_config().await;
        Ok(Validate {
            sqs: aws_sdk_sqs::Client::new(&config),
            validated_queue: "http://127.0.0.1:1/123456789012/orders-validated".into(),
            idempotency: idempotency(
                aws_sdk_dynamodb::Client::new(&config),
                "order-idempotency",
                "validate",
            ),
        })
    }

    #[tokio::test]
    async fn refused_orders_say_why_before_anything_is_sent() {
        let api = FakeRuntimeApi::start().await.unwrap();
        let ids = [
            api.push(Invocation::new(json!({
                "id": "o-1", "customer": "ada", "lines": [{"sku": "kiwi", "quantity": 1}]
            }))),
            api.push(Invocation::new(
                json!({"id": "o-2", "customer": "ada", "lines": []}),
            )),
            api.push(Invocation::new(json!({"id": "o-3", "lines": []}))),
            // A good order: the idempotency table is out of reach, and the order is not sent.
            api.push(Invocation::new(json!({
                "id": "o-4", "customer": "ada", "lines": [{"sku": "pear", "quantity": 1}]
            }))),
        ];
        let runtime = lambda_kit::Runtime::new(api.config()).logging(false);
        let outcomes = api
            .outcomes_while(&ids, runtime.serve_with_state(unreachable, validate))
            .await
            .unwrap();
        assert_eq!(outcomes[0].error().error_type(), "InvalidOrder");
        assert_eq!(
            outcomes[0].error().error_message(),
            "lines[0]: `kiwi` is not for sale"
        );
        assert_eq!(outcomes[1].error().error_type(), "InvalidOrder");
        assert_eq!(outcomes[2].error().error_type(), "Runtime.UnmarshalError");
        assert_eq!(outcomes[3].error().error_type(), "IdempotencyStoreError");
    }
}
