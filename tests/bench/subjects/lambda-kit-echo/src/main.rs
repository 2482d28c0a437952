//! Benchmark subject: answers every event with itself, on lambda-kit.

use lambda_kit::Context;
use serde_json::Value;

async fn echo(event: Value, _ctx: Context) -> Result<Value, std::convert::Infallible> {
    Ok(event)
}

fn main() -> Result<(), lambda_kit::Error> {
    lambda_kit::run(echo)
}
