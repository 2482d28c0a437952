//! Benchmark subject: the lambda-kit echo function with a shutdown hook, for which the runtime
//! registers the internal extension `lambda-kit-shutdown` (for no events) so that Lambda sends
//! SIGTERM.

use lambda_kit::{Context, Runtime};
use serde_json::Value;

async fn echo(event: Value, _ctx: Context) -> Result<Value, std::convert::Infallible> {
    Ok(event)
}

fn main() -> Result<(), lambda_kit::Error> {
    Runtime::from_env()?.on_shutdown(|| async {}).run(echo)
}
