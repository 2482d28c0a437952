use lambda_kit::{Context, Diagnostic};

#[lambda_kit::handler]
fn handler(event: String, _ctx: Context) -> Result<String, Diagnostic> {
    Ok(event)
}
