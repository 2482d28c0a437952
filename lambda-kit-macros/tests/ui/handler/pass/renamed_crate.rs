#![deny(warnings)]

extern crate lambda_kit as kit;

#[kit::handler(crate = kit, main = false)]
async fn echo(event: serde_json::Value, _ctx: kit::Context) -> Result<serde_json::Value, kit::Diagnostic> {
    Ok(event)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let outcome = kit::testing::invoke(echo, serde_json::json!([1, 2])).await;
    assert_eq!(outcome.json::<serde_json::Value>(), serde_json::json!([1, 2]));
}
