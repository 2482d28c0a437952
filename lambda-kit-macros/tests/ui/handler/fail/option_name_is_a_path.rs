use lambda_kit::{Config, Context, Diagnostic};

struct Tables;

async fn setup(_: Config) -> Result<Tables, Diagnostic> {
    Ok(Tables)
}

#[lambda_kit::handler(lambda_kit::setup = setup)]
async fn handler(id: String, _ctx: Context) -> Result<String, Diagnostic> {
    Ok(id)
}
