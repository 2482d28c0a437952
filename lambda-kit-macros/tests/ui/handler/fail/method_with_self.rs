use lambda_kit::{Context, Diagnostic};

struct Service;

impl Service {
    #[lambda_kit::handler(main = false)]
    async fn handler(&self, event: String, _ctx: Context) -> Result<String, Diagnostic> {
        Ok(event)
    }
}

fn main() {}
