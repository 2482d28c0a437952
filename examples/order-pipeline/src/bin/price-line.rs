//! The step inside `Transform`, the `order-flow` state machine's `Map`: prices one line of an
//! order, run once per line.
//!
//! The Map hands each line as it is in the order (`{"sku": "melon", "quantity": 2}`) and
//! collects the priced lines, in order, into the order's `lines`. Pricing changes nothing
//! outside, so a retry needs no idempotency record.

use lambda_kit::{Context, Diagnostic};
use order_pipeline::{Line, PricedLine};

#[lambda_kit::handler]
async fn price_line(line: Line, _ctx: Context) -> Result<PricedLine, Diagnostic> {
    order_pipeline::price_line(line)
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::{FakeRuntimeApi, Invocation};
    use serde_json::json;

    #[tokio::test]
    async fn lines_are_priced_from_the_catalogue() {
        let api = FakeRuntimeApi::start().await.unwrap();
        let invocations = [
            Invocation::new(json!({"sku": "melon", "quantity": 2})),
            Invocation::new(json!({"sku": "kiwi", "quantity": 1})),
        ];
        let outcomes = api
            .run(api.config(), super::price_line, invocations)
            .await
            .unwrap();
        assert_eq!(
            outcomes[0].json::<serde_json::Value>(),
            json!({"sku": "melon", "quantity": 2, "unit_cents": 320, "cents": 640})
        );
        assert_eq!(outcomes[1].error().error_type(), "InvalidOrder");
        assert_eq!(
            outcomes[1].error().error_message(),
            "`kiwi` is not for sale"
        );
    }
}
