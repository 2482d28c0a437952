//! A function whose setup fails: every invocation reports the init error.

use lambda_kit::{Config, Context, Diagnostic};

async fn setup(_: Config) -> Result<(), Diagnostic> {
    Err(Diagnostic::new("MissingTable", "TABLE_NAME is not set"))
}

#[lambda_kit::handler(setup = setup)]
async fn handler(_event: serde_json::Value, _ctx: Context, _state: &()) -> Result<(), Diagnostic> {
    Ok(())
}
