use lambda_kit::{Config, Context, Diagnostic};

async fn setup(_: Config) -> Result<u8, Diagnostic> {
    Ok(1)
}

#[lambda_kit::handler(setup = setup)]
async fn handler(event: String, _ctx: Context, _state: &u8, extra: u32) -> Result<String, Diagnostic> {
    Ok(format!("{event}{extra}"))
}
