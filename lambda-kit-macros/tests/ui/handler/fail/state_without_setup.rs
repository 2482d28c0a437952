use lambda_kit::{Context, Diagnostic};

struct Tables;

#[lambda_kit::handler]
async fn handler(id: String, _ctx: Context, _tables: &Tables) -> Result<String, Diagnostic> {
    Ok(id)
}
