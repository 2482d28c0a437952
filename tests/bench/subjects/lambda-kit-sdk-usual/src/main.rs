//! Benchmark subject: an echo function whose setup builds its AWS clients the usual way,
//! `aws_config::defaults(..).load()` and an S3 and a DynamoDB client, as most functions that
//! call AWS do. It makes no call: what it measures is the init those clients cost.
//!
//! rustls runs on ring here (as in the examples): it builds for both architectures, glibc and
//! musl, without cmake. Loading the trust store, the bulk of this init, is the same with
//! aws-lc.

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use lambda_kit::{Config, Context, Diagnostic};
use serde_json::Value;

/// The clients a handler would call.
struct Clients {
    _s3: aws_sdk_s3::Client,
    _dynamodb: aws_sdk_dynamodb::Client,
}

async fn clients(_config: Config) -> Result<Clients, Diagnostic> {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    Ok(Clients {
        _s3: aws_sdk_s3::Client::new(&aws),
        _dynamodb: aws_sdk_dynamodb::Client::new(&aws),
    })
}

#[lambda_kit::handler(setup = clients)]
async fn echo(event: Value, _ctx: Context, _clients: &Clients) -> Result<Value, Diagnostic> {
    Ok(event)
}
