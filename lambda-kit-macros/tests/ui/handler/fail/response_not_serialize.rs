use lambda_kit::{Context, Diagnostic};

struct Receipt {
    id: String,
}

#[lambda_kit::handler]
async fn handler(id: String, _ctx: Context) -> Result<Receipt, Diagnostic> {
    Ok(Receipt { id })
}
