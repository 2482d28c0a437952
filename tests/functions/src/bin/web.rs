//! Answers function URL requests: tells what it received, in the shape the path asks for.

use lambda_kit::{Context, Diagnostic};
use serde_json::{Value, json};

#[lambda_kit::handler]
async fn web(request: Value, _ctx: Context) -> Result<Value, Diagnostic> {
    let path = request["rawPath"].as_str().unwrap_or_default();
    Ok(match path {
        // Not a `{"statusCode"}` object: a function URL returns it as JSON, status 200.
        "/plain" => json!({"just": "data"}),
        "/bytes" => json!({
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": "AAEC/w==",
            "isBase64Encoded": true,
        }),
        "/fail" => return Err(Diagnostic::new("Broken", "asked to fail")),
        _ => json!({
            "statusCode": 201,
            "headers": {"content-type": "application/json", "x-seen-method": request["requestContext"]["http"]["method"]},
            "cookies": ["session=abc; Path=/", "theme=dark"],
            "body": json!({
                "path": path,
                "query": request["queryStringParameters"],
                "rawQuery": request["rawQueryString"],
                "cookies": request["cookies"],
                "body": request["body"],
                "base64": request["isBase64Encoded"],
                "agent": request["headers"]["user-agent"],
                "version": request["version"],
            }).to_string(),
        }),
    })
}
