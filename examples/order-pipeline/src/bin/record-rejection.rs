//! `Reject`, where the `order-flow` state machine's `Catch` takes an order `check-order`
//! refused: records the rejection in the `orders` table, under `rejection#EXECUTION_ARN`, and
//! answers why, for the `Rejected` state to end the execution with.
//!
//! The machine hands it the execution's ARN, the error caught (`Error` and `Cause`, as Step
//! Functions reports a function's error: the `Cause` is the function's error document) and the
//! order as it came. Writing the same rejection twice writes the same item, so a retry needs no
//! idempotency record.

use lambda_kit::{Config, Context, Diagnostic};
use order_pipeline::table::{OrdersTable, Rejection};
use order_pipeline::{Settings, aws_config};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the `Reject` state's `Parameters` pass.
#[derive(Debug, Deserialize)]
struct Request {
    /// `$$.Execution.Id`.
    execution: String,
    /// What the `Catch` caught, at the order's `rejection`.
    caught: Caught,
    /// The state's input: the order, with `rejection` added by the `Catch`.
    order: Value,
}

/// An error as a `Catch` passes it on.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Caught {
    error: String,
    #[serde(default)]
    cause: String,
}

/// What it answers.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Recorded {
    key: String,
    reason: String,
}

fn rejection(request: Request) -> Rejection {
    let mut order = request.order;
    if let Some(fields) = order.as_object_mut() {
        fields.remove("rejection");
    }
    // A function's error comes as its error document; anything else as it is.
    let reason = serde_json::from_str::<Value>(&request.caught.cause)
        .ok()
        .and_then(|document| document["errorMessage"].as_str().map(str::to_owned))
        .unwrap_or(request.caught.cause);
    Rejection {
        execution: request.execution,
        order_id: order["id"].as_str().map(str::to_owned),
        error: request.caught.error,
        reason,
        order: order.to_string(),
    }
}

async fn setup(_config: Config) -> Result<OrdersTable, Diagnostic> {
    let settings = Settings::from_env(&["ORDERS_TABLE"])?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws_config().await);
    Ok(OrdersTable::new(dynamodb, settings.get("ORDERS_TABLE")))
}

#[lambda_kit::handler(setup = setup)]
async fn record_rejection(
    request: Request,
    _ctx: Context,
    table: &OrdersTable,
) -> Result<Recorded, Diagnostic> {
    let rejection = rejection(request);
    table.record(&rejection).await?;
    tracing::info!(order = ?rejection.order_id, error = %rejection.error, reason = %rejection.reason, "rejected");
    Ok(Recorded {
        key: rejection.key(),
        reason: rejection.reason,
    })
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::{FakeRuntimeApi, Invocation};
    use serde_json::json;

    use super::*;

    const EXECUTION: &str = "arn:aws:states:eu-west-1:123456789012:execution:order-flow:o-9";

    fn request(order: Value) -> Value {
        let cause = json!({"errorType": "InvalidOrder", "errorMessage": "lines[0]: `kiwi` is not for sale"});
        json!({
            "execution": EXECUTION,
            "caught": {"Error": "InvalidOrder", "Cause": cause.to_string()},
            "order": order,
        })
    }

    #[test]
    fn the_reason_is_the_functions_error_message() {
        let order =
            json!({"id": "o-9", "customer": "ada", "lines": [{"sku": "kiwi", "quantity": 1}]});
        let mut with_rejection = order.clone();
        with_rejection["rejection"] = json!({"Error": "InvalidOrder"});
        let rejection = rejection(serde_json::from_value(request(with_rejection)).unwrap());
        assert_eq!(rejection.key(), format!("rejection#{EXECUTION}"));
        assert_eq!(rejection.order_id.as_deref(), Some("o-9"));
        assert_eq!(rejection.error, "InvalidOrder");
        assert_eq!(rejection.reason, "lines[0]: `kiwi` is not for sale");
        assert_eq!(
            serde_json::from_str::<Value>(&rejection.order).unwrap(),
            order
        );
        // A cause that is no error document is the reason as it is.
        let plain = json!({"execution": EXECUTION, "caught": {"Error": "States.Timeout", "Cause": "too slow"}, "order": {}});
        let plain = super::rejection(serde_json::from_value(plain).unwrap());
        assert_eq!(plain.reason, "too slow");
        assert_eq!(plain.order_id, None);
    }

    /// The function with AWS out of reach: nothing listens on port 1.
    async fn unreachable(_config: Config) -> Result<OrdersTable, Diagnostic> {
        let config = order_pipeline::unreachable_aws_config().await;
        Ok(OrdersTable::new(
            aws_sdk_dynamodb::Client::new(&config),
            "orders",
        ))
    }

    #[tokio::test]
    async fn a_rejection_that_cannot_be_written_fails_the_step() {
        let api = FakeRuntimeApi::start().await.unwrap();
        let ids = [api.push(Invocation::new(request(json!({"id": "o-9"}))))];
        let runtime = lambda_kit::Runtime::new(api.config()).logging(false);
        let outcomes = api
            .outcomes_while(
                &ids,
                runtime.serve_with_state(unreachable, record_rejection),
            )
            .await
            .unwrap();
        assert_eq!(outcomes[0].error().error_type(), "WriteFailed");
        assert!(
            outcomes[0]
                .error()
                .error_message()
                .starts_with(&format!("recording rejection#{EXECUTION}: ")),
            "{}",
            outcomes[0].error().error_message()
        );
    }
}
