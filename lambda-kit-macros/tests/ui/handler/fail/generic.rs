use lambda_kit::{Context, Diagnostic};

#[lambda_kit::handler]
async fn handler<T: serde::de::DeserializeOwned>(event: T, _ctx: Context) -> Result<(), Diagnostic> {
    let _ = event;
    Ok(())
}
