//! A Lambda function: greets whoever the event names.

use lambda_kit::{Context, Diagnostic};
use serde::{Deserialize, Serialize};

/// The event.
#[derive(Debug, Deserialize)]
struct Request {
    name: String,
}

/// The answer.
#[derive(Debug, PartialEq, Serialize)]
struct Response {
    message: String,
}

#[lambda_kit::handler]
async fn handler(request: Request, ctx: Context) -> Result<Response, Diagnostic> {
    tracing::info!(name = %request.name, "greeting");
    if request.name.trim().is_empty() {
        return Err(Diagnostic::new("InvalidRequest", "`name` must not be empty"));
    }
    Ok(Response {
        message: format!("Hello, {}! (request {})", request.name, ctx.request_id()),
    })
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::{ContextBuilder, invoke};

    use super::*;

    #[tokio::test]
    async fn greets_by_name() {
        let ctx = ContextBuilder::new().request_id("req-1").build();
        let response = handler(Request { name: "Ada".into() }, ctx).await.unwrap();
        assert_eq!(response.message, "Hello, Ada! (request req-1)");
    }

    #[tokio::test]
    async fn an_empty_name_is_an_invalid_request_through_the_runtime() {
        let outcome = invoke(handler, serde_json::json!({"name": " "})).await;
        assert_eq!(outcome.error().error_type(), "InvalidRequest");
    }
}
