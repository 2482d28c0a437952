//! Answers every route with its route key.

use lambda_kit::{Context, Diagnostic};
use serde_json::{Value, json};

#[lambda_kit::handler]
async fn lonely(event: Value, _ctx: Context) -> Result<Value, Diagnostic> {
    Ok(json!({"statusCode": 200, "body": event["routeKey"].to_string()}))
}
