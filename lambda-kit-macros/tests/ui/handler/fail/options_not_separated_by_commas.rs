use lambda_kit::{Context, Diagnostic};

#[lambda_kit::handler(crate = lambda_kit main = true)]
async fn handler(id: String, _ctx: Context) -> Result<String, Diagnostic> {
    Ok(id)
}
