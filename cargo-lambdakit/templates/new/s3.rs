//! A Lambda function triggered by S3: logs each uploaded object and answers with their keys.

use aws_lambda_events::event::s3::S3Event;
use lambda_kit::{Context, Diagnostic};

#[lambda_kit::handler]
async fn handler(event: S3Event, _ctx: Context) -> Result<Vec<String>, Diagnostic> {
    let mut keys = Vec::new();
    for record in event.records {
        let bucket = record.s3.bucket.name.unwrap_or_default();
        let key = record.s3.object.key.unwrap_or_default();
        tracing::info!(%bucket, %key, size = record.s3.object.size.unwrap_or(0), "object");
        keys.push(format!("s3://{bucket}/{key}"));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::{ContextBuilder, invoke};

    use super::*;

    /// An S3 put event, as `cargo lambdakit invoke --event s3-put` sends it.
    fn upload(bucket: &str, key: &str) -> serde_json::Value {
        serde_json::json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2026-01-01T12:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE123"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "example",
                "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": format!("arn:aws:s3:::{bucket}")},
                "object": {"key": key, "size": 3, "eTag": "0123456789abcdef", "sequencer": "0A1B2C3D4E5F678901"},
            },
        }]})
    }

    #[tokio::test]
    async fn lists_the_uploaded_objects() {
        let event: S3Event = serde_json::from_value(upload("photos", "cat.png")).unwrap();
        let keys = handler(event, ContextBuilder::new().build()).await.unwrap();
        assert_eq!(keys, ["s3://photos/cat.png"]);
    }

    #[tokio::test]
    async fn runs_through_the_runtime() {
        let outcome = invoke(handler, upload("docs", "a.txt")).await;
        assert_eq!(outcome.json::<Vec<String>>(), ["s3://docs/a.txt"]);
    }
}
