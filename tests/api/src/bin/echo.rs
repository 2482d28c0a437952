//! Answers every route with the event it was sent (as JSON), and an `x-echo` header and a
//! CORS header of its own, which the API's CORS settings replace; fails for the path `/fail`.

use lambda_kit::{Context, Diagnostic};
use serde_json::{Value, json};

#[lambda_kit::handler]
async fn echo(event: Value, _ctx: Context) -> Result<Value, Diagnostic> {
    if event["rawPath"] == "/fail" {
        return Err(Diagnostic::new("EchoError", "asked to fail"));
    }
    Ok(json!({
        "statusCode": 200,
        "headers": {
            "content-type": "application/json",
            "x-echo": "yes",
            "access-control-allow-origin": "https://function.example",
        },
        "body": event.to_string(),
    }))
}
