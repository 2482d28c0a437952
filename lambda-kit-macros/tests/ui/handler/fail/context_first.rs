use lambda_kit::{Context, Diagnostic};

#[lambda_kit::handler]
async fn handler(_ctx: Context, event: String) -> Result<String, Diagnostic> {
    Ok(event)
}
