//! Benchmark subject: builds an S3 and a DynamoDB client in its set-up, from
//! `lambda_kit::aws::config()`, and makes one call of each per invocation.

use lambda_kit::{Config, Context, Diagnostic};
use serde_json::{Value, json};

struct Clients {
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
}

async fn setup(_config: Config) -> Result<Clients, Diagnostic> {
    let config = lambda_kit::aws::config().await;
    Ok(Clients {
        s3: aws_sdk_s3::Client::new(&config),
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
    })
}

#[lambda_kit::handler(setup = setup)]
async fn handler(_event: Value, _ctx: Context, clients: &Clients) -> Result<Value, Diagnostic> {
    let buckets = clients.s3.list_buckets().send().await;
    let buckets = buckets.map_err(|error| Diagnostic::new("S3", format!("{error:?}")))?;
    let tables = clients.dynamodb.list_tables().send().await;
    let tables = tables.map_err(|error| Diagnostic::new("DynamoDB", format!("{error:?}")))?;
    Ok(json!({"buckets": buckets.buckets().len(), "tables": tables.table_names().len()}))
}
