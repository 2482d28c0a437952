//! Benchmark subject: the S3 and DynamoDB function on lambda_runtime, its configuration loaded
//! the usual way (`aws_config::defaults(BehaviorVersion::latest()).load()`), its clients built
//! before the runtime starts, one call of each per invocation.

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use serde_json::{Value, json};

struct Clients {
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
}

async fn handler(_event: LambdaEvent<Value>, clients: &Clients) -> Result<Value, Error> {
    let buckets = clients.s3.list_buckets().send().await?;
    let tables = clients.dynamodb.list_tables().send().await?;
    Ok(json!({"buckets": buckets.buckets().len(), "tables": tables.table_names().len()}))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .load()
        .await;
    let clients = Clients {
        s3: aws_sdk_s3::Client::new(&config),
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
    };
    let clients = &clients;
    lambda_runtime::run(service_fn(move |event| handler(event, clients))).await
}
