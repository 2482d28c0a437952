use lambda_kit::{Context, Diagnostic};

fn flush(_: u32) {}

#[lambda_kit::handler(shutdown = flush, main = false)]
async fn handler(id: String, _ctx: Context) -> Result<String, Diagnostic> {
    Ok(id)
}

fn main() {}
