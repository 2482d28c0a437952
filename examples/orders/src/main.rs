//! Prices an order: the price list is loaded once per cold start, each order is checked and
//! priced, and a bad order is reported with an `errorType` callers can act on.
#![deny(warnings)]

use std::collections::HashMap;

use lambda_kit::{Config, Context, Diagnostic};
use serde::{Deserialize, Serialize};

/// What a caller sends.
#[derive(Debug, Deserialize)]
struct Order {
    id: String,
    lines: Vec<Line>,
}

#[derive(Debug, Deserialize)]
struct Line {
    sku: String,
    quantity: u32,
}

/// What the function answers.
#[derive(Debug, PartialEq, Serialize)]
struct Quote {
    id: String,
    total_cents: u64,
    priced_by: String,
}

/// Built once per cold start, shared by every invocation.
struct Prices {
    cents: HashMap<&'static str, u64>,
    function: String,
}

async fn load_prices(config: Config) -> Result<Prices, Diagnostic> {
    Ok(Prices {
        cents: HashMap::from([("apple", 40), ("pear", 55), ("melon", 320)]),
        function: config.function_name().to_owned(),
    })
}

#[lambda_kit::handler(setup = load_prices)]
async fn price(order: Order, ctx: Context, prices: &Prices) -> Result<Quote, Diagnostic> {
    tracing::info!(order = %order.id, lines = order.lines.len(), "pricing");
    if order.lines.is_empty() {
        return Err(Diagnostic::new(
            "EmptyOrder",
            format!("order {} has no lines", order.id),
        ));
    }
    let mut total_cents = 0;
    for line in &order.lines {
        let Some(cents) = prices.cents.get(line.sku.as_str()) else {
            return Err(Diagnostic::new(
                "UnknownSku",
                format!("`{}` is not for sale", line.sku),
            ));
        };
        total_cents += cents * u64::from(line.quantity);
    }
    Ok(Quote {
        id: order.id,
        total_cents,
        priced_by: format!("{} ({})", prices.function, ctx.request_id()),
    })
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::{ContextBuilder, FakeRuntimeApi, Invocation};
    use serde_json::json;

    use super::*;

    fn order(lines: &[(&str, u32)]) -> Order {
        Order {
            id: "o-1".into(),
            lines: lines
                .iter()
                .map(|&(sku, quantity)| Line {
                    sku: sku.into(),
                    quantity,
                })
                .collect(),
        }
    }

    fn prices() -> Prices {
        Prices {
            cents: HashMap::from([("apple", 40)]),
            function: "orders".into(),
        }
    }

    #[tokio::test]
    async fn the_handler_is_an_ordinary_async_fn() {
        let ctx = ContextBuilder::new().request_id("req-1").build();
        let quote = price(order(&[("apple", 3)]), ctx, &prices()).await.unwrap();
        assert_eq!(
            quote,
            Quote {
                id: "o-1".into(),
                total_cents: 120,
                priced_by: "orders (req-1)".into()
            }
        );
        let ctx = ContextBuilder::new().build();
        let error = price(order(&[]), ctx, &prices()).await.unwrap_err();
        assert_eq!(error.error_type(), "EmptyOrder");
    }

    #[tokio::test]
    async fn the_runtime_serves_it_with_the_state_from_setup() {
        let api = FakeRuntimeApi::start().await.unwrap();
        let ids = [
            api.push(
                Invocation::new(json!({"id": "o-2", "lines": [{"sku": "melon", "quantity": 2}]}))
                    .request_id("req-2"),
            ),
            api.push(Invocation::new(
                json!({"id": "o-3", "lines": [{"sku": "kiwi", "quantity": 1}]}),
            )),
            api.push(Invocation::new(
                json!({"id": "o-4", "lines": [{"sku": "pear", "quantity": "many"}]}),
            )),
        ];
        let runtime = lambda_kit::Runtime::new(api.config()).logging(false);
        let outcomes = api
            .outcomes_while(&ids, runtime.serve_with_state(load_prices, price))
            .await
            .unwrap();
        assert_eq!(
            outcomes[0].json::<serde_json::Value>(),
            json!({"id": "o-2", "total_cents": 640, "priced_by": "test-function (req-2)"})
        );
        assert_eq!(outcomes[1].error().error_type(), "UnknownSku");
        assert_eq!(outcomes[2].error().error_type(), "Runtime.UnmarshalError");
        assert!(
            outcomes[2]
                .error()
                .error_message()
                .contains("`lines[0].quantity`"),
            "{}",
            outcomes[2].error().error_message()
        );
    }
}
