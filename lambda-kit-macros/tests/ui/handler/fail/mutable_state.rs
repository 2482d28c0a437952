use lambda_kit::{Config, Context, Diagnostic};

async fn setup(_: Config) -> Result<u64, Diagnostic> {
    Ok(0)
}

#[lambda_kit::handler(setup = setup)]
async fn handler(id: String, _ctx: Context, calls: &mut u64) -> Result<String, Diagnostic> {
    *calls += 1;
    Ok(id)
}
