use lambda_kit::{Context, Diagnostic};

struct Tables;

async fn setup(_region: &str) -> Result<Tables, Diagnostic> {
    Ok(Tables)
}

#[lambda_kit::handler(setup = setup, main = false)]
async fn handler(id: String, _ctx: Context, _tables: &Tables) -> Result<String, Diagnostic> {
    Ok(id)
}

fn main() {}
