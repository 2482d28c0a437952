use lambda_kit::Context;

#[lambda_kit::handler(retries = 3)]
fn handler(_ctx: Context, event: String) -> String {
    event
}
