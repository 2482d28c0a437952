use lambda_kit::testing::{ContextBuilder, invoke};
use lambda_kit::{Context, Diagnostic};

#[lambda_kit::handler(main = false)]
async fn double(n: u64, ctx: Context) -> Result<u64, Diagnostic> {
    assert!(!ctx.request_id().is_empty());
    Ok(n * 2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // Still an ordinary fn: callable directly.
    assert_eq!(double(2, ContextBuilder::new().build()).await.unwrap(), 4);
    assert_eq!(invoke(double, 21).await.json::<u64>(), 42);
}
