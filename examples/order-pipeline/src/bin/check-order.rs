//! `Validate`, the first state of the `order-flow` state machine: checks an order and passes
//! it on as it came.
//!
//! A refused order fails with `errorType` `InvalidOrder` and what to fix, as `validate` refuses
//! it in the SQS form; the machine's `Catch` takes it to `record-rejection`. Checking changes
//! nothing outside, so a retry needs no idempotency record.

use lambda_kit::{Context, Diagnostic};
use order_pipeline::{Order, check};

#[lambda_kit::handler]
async fn check_order(order: Order, _ctx: Context) -> Result<Order, Diagnostic> {
    check(&order)?;
    tracing::info!(order = %order.id, lines = order.lines.len(), "checked");
    Ok(order)
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::{FakeRuntimeApi, Invocation};
    use serde_json::json;

    #[tokio::test]
    async fn good_orders_pass_through_and_bad_ones_say_why() {
        let good =
            json!({"id": "o-1", "customer": "ada", "lines": [{"sku": "pear", "quantity": 2}]});
        let api = FakeRuntimeApi::start().await.unwrap();
        let invocations = [
            Invocation::new(good.clone()),
            Invocation::new(json!({
                "id": "o-2", "customer": "ada", "lines": [{"sku": "pear", "quantity": 101}]
            })),
            Invocation::new(json!({"id": "o-3", "lines": []})),
        ];
        let outcomes = api
            .run(api.config(), super::check_order, invocations)
            .await
            .unwrap();
        assert_eq!(outcomes[0].json::<serde_json::Value>(), good);
        assert_eq!(outcomes[1].error().error_type(), "InvalidOrder");
        assert_eq!(
            outcomes[1].error().error_message(),
            "lines[0]: quantity 101 is not between 1 and 100"
        );
        // An order missing a field fails before the handler runs: the machine catches this
        // error type too.
        assert_eq!(outcomes[2].error().error_type(), "Runtime.UnmarshalError");
    }
}
