//! Works through an SQS batch with lambda-kit's batch handler: a message whose body is `fail`
//! fails and is reported in `batchItemFailures`; every message processed is counted in an
//! Embedded Metric Format metric.

use lambda_kit::events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_kit::metrics::Unit;
use lambda_kit::{Context, Diagnostic};

#[lambda_kit::handler]
async fn batch(event: SqsEvent, ctx: Context) -> Result<SqsBatchResponse, Diagnostic> {
    let metrics = ctx.metrics().clone();
    let response = lambda_kit::batch::sqs(event, |message| {
        let metrics = metrics.clone();
        async move {
            if message.body.as_deref() == Some("fail") {
                return Err(Diagnostic::new("Refused", "asked to fail"));
            }
            metrics
                .add_metric("Processed", 1.0, Unit::Count)
                .map_err(Diagnostic::from)
        }
    })
    .await;
    Ok(response)
}
