//! Benchmark subject: the lambda-kit echo function with an internal extension registered for
//! `INVOKE`, whose hook returns at once: what an internal extension itself costs an invocation.

use lambda_kit::extension::Extension;
use lambda_kit::{Context, Diagnostic, Runtime};
use serde_json::Value;

async fn echo(event: Value, _ctx: Context) -> Result<Value, std::convert::Infallible> {
    Ok(event)
}

fn main() -> Result<(), lambda_kit::Error> {
    let extension = Extension::new("x").on_invoke(|_invoke| async { Ok::<_, Diagnostic>(()) });
    Runtime::from_env()?.extension(extension).run(echo)
}
