//! A Lambda function run on a schedule (EventBridge `rate(...)` or `cron(...)`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_kit::{Context, Diagnostic};

#[lambda_kit::handler]
async fn handler(event: EventBridgeEvent, ctx: Context) -> Result<String, Diagnostic> {
    let rule = event.resources.and_then(|resources| resources.into_iter().next()).unwrap_or_default();
    tracing::info!(%rule, "scheduled run");
    Ok(format!("ran for {rule} with {} ms to spare", ctx.remaining_time().as_millis()))
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::invoke;

    use super::*;

    #[tokio::test]
    async fn runs_for_its_rule() {
        let event = serde_json::json!({
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly"],
            "detail": {},
        });
        let outcome = invoke(handler, event).await;
        assert!(outcome.json::<String>().starts_with("ran for arn:aws:events:us-east-1:123456789012:rule/nightly"));
    }
}
