use lambda_kit::{Context, Diagnostic};

struct Order;

#[lambda_kit::handler(main = false)]
async fn handler(_order: Order, _ctx: Context) -> Result<(), Diagnostic> {
    Ok(())
}

fn main() {}
