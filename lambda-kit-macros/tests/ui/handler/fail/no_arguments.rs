use lambda_kit::Diagnostic;

#[lambda_kit::handler]
async fn handler() -> Result<(), Diagnostic> {
    Ok(())
}
