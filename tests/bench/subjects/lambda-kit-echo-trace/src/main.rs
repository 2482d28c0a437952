//! Benchmark subject: the lambda-kit echo function built with the `trace` feature, opening one
//! span of its own with a field, and logging nothing. Whether invocations are traced is up to
//! the environment (`AWS_XRAY_DAEMON_ADDRESS`) and each invocation's trace header.

use lambda_kit::Context;
use serde_json::Value;

async fn echo(event: Value, _ctx: Context) -> Result<Value, std::convert::Infallible> {
    let _span =
        tracing::info_span!("echo", fields = event.as_object().map_or(0, |o| o.len())).entered();
    Ok(event)
}

fn main() -> Result<(), lambda_kit::Error> {
    lambda_kit::run(echo)
}
