use lambda_kit::{Config, Context, Diagnostic};

async fn setup(_: Config) -> Result<u8, Diagnostic> {
    Ok(1)
}

#[lambda_kit::handler(setup = setup)]
async fn handler(id: String, _ctx: Context) -> Result<String, Diagnostic> {
    Ok(id)
}
