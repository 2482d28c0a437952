use lambda_kit::{Context, Diagnostic};

struct Order {
    id: String,
}

#[lambda_kit::handler]
async fn handler(order: Order, _ctx: Context) -> Result<String, Diagnostic> {
    Ok(order.id)
}
