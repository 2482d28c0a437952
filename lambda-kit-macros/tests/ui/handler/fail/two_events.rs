use lambda_kit::Diagnostic;

#[lambda_kit::handler]
async fn handler(first: String, second: String) -> Result<String, Diagnostic> {
    Ok(first + &second)
}
