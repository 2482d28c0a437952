//! A Lambda function triggered by SQS: processes each message, and reports the ones that fail
//! so that only those are retried (`ReportBatchItemFailures`).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_kit::{Context, Diagnostic};

#[lambda_kit::handler]
async fn handler(event: SqsEvent, _ctx: Context) -> Result<SqsBatchResponse, Diagnostic> {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.unwrap_or_default();
        match message.body.as_deref() {
            Some(body) if !body.trim().is_empty() => tracing::info!(%id, %body, "processed"),
            _ => {
                tracing::warn!(%id, "empty message");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::invoke;

    use super::*;

    #[tokio::test]
    async fn empty_messages_are_reported_failed() {
        let event = serde_json::json!({"Records": [
            {"messageId": "m-1", "body": "order 7"},
            {"messageId": "m-2", "body": " "},
        ]});
        let outcome = invoke(handler, event).await;
        let failed: serde_json::Value = outcome.json();
        assert_eq!(failed["batchItemFailures"], serde_json::json!([{"itemIdentifier": "m-2"}]));
    }
}
