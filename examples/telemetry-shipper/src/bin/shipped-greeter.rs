//! A function whose logs the telemetry shipper takes to S3: it greets, and logs a line that
//! says so.

use lambda_kit::{Context, Diagnostic};
use serde::Deserialize;

#[derive(Deserialize)]
struct Greeting {
    name: String,
}

#[lambda_kit::handler]
async fn handler(greeting: Greeting, ctx: Context) -> Result<String, Diagnostic> {
    tracing::info!(name = %greeting.name, request = ctx.request_id(), "greeting");
    Ok(format!("Hello, {}!", greeting.name))
}
