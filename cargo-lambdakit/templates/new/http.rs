//! A Lambda function behind a function URL: a tiny JSON API.

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use aws_lambda_events::http::HeaderValue;
use aws_lambda_events::http::header::CONTENT_TYPE;
use lambda_kit::Diagnostic;
use serde_json::json;

#[lambda_kit::handler]
async fn handler(request: LambdaFunctionUrlRequest) -> Result<LambdaFunctionUrlResponse, Diagnostic> {
    let method = request.request_context.http.method.unwrap_or_default();
    let path = request.raw_path.unwrap_or_else(|| "/".to_owned());
    tracing::info!(%method, %path, "request");
    let (status, body) = match (method.as_str(), path.as_str()) {
        ("GET", "/") => (200, json!({"message": "Hello from Lambda"})),
        _ => (404, json!({"error": format!("no route for {method} {path}")})),
    };
    let mut response = LambdaFunctionUrlResponse::default();
    response.status_code = status;
    response.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.body = Some(body.to_string());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str) -> LambdaFunctionUrlRequest {
        serde_json::from_value(json!({
            "rawPath": path,
            "requestContext": {"http": {"method": method, "path": path}, "timeEpoch": 0},
            "isBase64Encoded": false,
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn the_root_says_hello() {
        let response = handler(request("GET", "/")).await.unwrap();
        assert_eq!(response.status_code, 200);
        assert!(response.body.unwrap().contains("Hello from Lambda"));
    }

    #[tokio::test]
    async fn other_paths_are_not_found_through_the_runtime() {
        let outcome = lambda_kit::testing::invoke(
            |event, _ctx: lambda_kit::Context| handler(event),
            json!({"rawPath": "/nope", "requestContext": {"http": {"method": "GET"}, "timeEpoch": 0}, "isBase64Encoded": false}),
        )
        .await;
        assert_eq!(outcome.json::<serde_json::Value>()["statusCode"], 404);
    }
}
