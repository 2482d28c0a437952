use lambda_kit::{Context, Diagnostic};

struct Tables;

fn setup() -> Tables {
    Tables
}

#[lambda_kit::handler(setup = setup)]
async fn handler(id: String, _ctx: Context, _tables: &Tables) -> Result<String, Diagnostic> {
    Ok(id)
}
