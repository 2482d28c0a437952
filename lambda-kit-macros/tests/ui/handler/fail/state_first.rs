use lambda_kit::Diagnostic;

struct Tables;

#[lambda_kit::handler]
async fn handler(_tables: &Tables) -> Result<(), Diagnostic> {
    Ok(())
}
