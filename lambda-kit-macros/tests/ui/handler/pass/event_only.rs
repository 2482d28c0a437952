use lambda_kit::Context;
use lambda_kit::testing::invoke;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Greeting {
    name: String,
}

#[derive(Serialize)]
struct Reply {
    text: String,
}

#[lambda_kit::handler(main = false)]
async fn greet(greeting: Greeting) -> Result<Reply, std::convert::Infallible> {
    Ok(Reply {
        text: format!("hello, {}", greeting.name),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let outcome = invoke(|event, _: Context| greet(event), serde_json::json!({"name": "Ada"})).await;
    assert_eq!(outcome.json::<serde_json::Value>()["text"], "hello, Ada");
}
