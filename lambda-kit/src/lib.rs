//! A lean runtime for AWS Lambda functions written in Rust.
//!
//! Write an async function from an event to a response and hand it to [`run`]:
//!
//! ```no_run
//! use lambda_kit::{Context, Diagnostic};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Order {
//!     id: String,
//!     quantity: u32,
//! }
//!
//! #[derive(Serialize)]
//! struct Receipt {
//!     id: String,
//!     accepted: bool,
//! }
//!
//! async fn handler(order: Order, ctx: Context) -> Result<Receipt, Diagnostic> {
//!     tracing::info!(order = %order.id, "handling");
//!     if order.quantity == 0 {
//!         return Err(Diagnostic::new("InvalidOrder", "quantity must be at least 1"));
//!     }
//!     Ok(Receipt { id: order.id, accepted: ctx.remaining_time().as_millis() > 100 })
//! }
//!
//! fn main() -> Result<(), lambda_kit::Error> {
//!     lambda_kit::run(handler)
//! }
//! ```
//!
//! The runtime speaks the Lambda Runtime API (2018-06-01) itself over one keep-alive
//! connection, on a single-threaded tokio runtime. Handler errors are reported with the
//! `errorType` their [`Diagnostic`] names; events that do not decode are reported as
//! `Runtime.UnmarshalError` with the failing JSON path; panics are caught and reported, and the
//! next invocation is served (this needs the default `panic = "unwind"`). Logs written with
//! `tracing` come out in Lambda's text or JSON shape (`AWS_LAMBDA_LOG_FORMAT`), filtered by
//! `AWS_LAMBDA_LOG_LEVEL`, each line with its invocation's request id.
//!
//! Optional features add what functions usually assemble from other crates: the AWS event types
//! (`sqs`, `sns`, `s3`, `dynamodb`, `kinesis`, `eventbridge`, `schedule`, `apigw`, `alb`,
//! `function-url`, `ses`, `iot`, `cognito`, `cloudwatch-logs`, `kafka`, `firehose`, in
//! `lambda_kit::events`), partial batch responses for SQS, Kinesis, DynamoDB streams and Kafka
//! and Firehose transformation results (`lambda_kit::batch`), HTTP handlers for API Gateway, ALBs and function
//! URLs (`http`, in `lambda_kit::http`), CloudWatch Embedded Metric Format metrics
//! (`metrics`, in `lambda_kit::metrics`) and idempotent handlers with an in-memory or DynamoDB
//! store (`idempotency`, `idempotency-dynamodb`, in `lambda_kit::idempotency`) and response
//! streaming for `InvokeWithResponseStream` and function URLs (`streaming`, in
//! `lambda_kit::streaming`). With `trace`, sampled invocations become OpenTelemetry FaaS spans,
//! the handler's `tracing` spans their children, sent after each response to the X-Ray daemon
//! or an OTLP/HTTP collector as the OpenTelemetry and X-Ray variables say, and with `aws` too,
//! AWS SDK calls their client spans (`lambda_kit::aws::TraceInterceptor`); with `log`, records
//! of the `log` crate are written like `tracing` events.
//!
//! With `AWS_LAMBDA_MAX_CONCURRENCY` above 1 (Lambda Managed Instances), that many invocations
//! are served at once, interleaved on the one thread: keep blocking work in
//! `tokio::task::spawn_blocking`.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(all(feature = "talc", target_env = "musl"))]
mod allocator;
mod api;
#[cfg(feature = "aws")]
#[cfg_attr(docsrs, doc(cfg(feature = "aws")))]
pub mod aws;
#[cfg(any(
    feature = "sqs",
    feature = "kinesis",
    feature = "dynamodb",
    feature = "kafka",
    feature = "firehose"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "sqs",
        feature = "kinesis",
        feature = "dynamodb",
        feature = "kafka",
        feature = "firehose"
    )))
)]
pub mod batch;
mod config;
mod context;
mod diagnostic;
mod error;
#[cfg(any(
    feature = "sqs",
    feature = "sns",
    feature = "s3",
    feature = "dynamodb",
    feature = "kinesis",
    feature = "eventbridge",
    feature = "schedule",
    feature = "apigw",
    feature = "alb",
    feature = "function-url",
    feature = "ses",
    feature = "iot",
    feature = "cognito",
    feature = "cloudwatch-logs",
    feature = "kafka",
    feature = "firehose"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "sqs",
        feature = "sns",
        feature = "s3",
        feature = "dynamodb",
        feature = "kinesis",
        feature = "eventbridge",
        feature = "schedule",
        feature = "apigw",
        feature = "alb",
        feature = "function-url",
        feature = "ses",
        feature = "iot",
        feature = "cognito",
        feature = "cloudwatch-logs",
        feature = "kafka",
        feature = "firehose"
    )))
)]
pub mod events;
#[cfg(feature = "extension")]
#[cfg_attr(docsrs, doc(cfg(feature = "extension")))]
pub mod extension;
mod handler;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
#[cfg(feature = "idempotency")]
#[cfg_attr(docsrs, doc(cfg(feature = "idempotency")))]
pub mod idempotency;
mod logging;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod panics;
mod runtime;
#[cfg(feature = "streaming")]
#[cfg_attr(docsrs, doc(cfg(feature = "streaming")))]
pub mod streaming;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(feature = "trace")]
mod trace;
mod trace_env;

#[doc(inline)]
pub use config::{Config, InitializationType, LogFormat, LogLevel};
#[doc(inline)]
pub use context::{ClientApplication, ClientContext, CognitoIdentity, Context};
#[doc(inline)]
pub use diagnostic::Diagnostic;
#[doc(inline)]
pub use error::Error;
#[doc(inline)]
pub use handler::Handler;
#[doc(inline)]
pub use logging::instrument;
#[doc(inline)]
pub use runtime::Runtime;

/// Serves invocations with `handler` until Lambda stops the process.
///
/// Reads the configuration from the environment, installs the Lambda logger and runs the poll
/// loop on a single-threaded tokio runtime. For set-up state, a shutdown hook or your own tokio
/// runtime, use [`Runtime`].
///
/// # Errors
///
/// Returns when the environment is not a Lambda environment (naming the variable), when the
/// Runtime API cannot be reached, or when it answers something the runtime cannot act on.
///
/// # Examples
///
/// ```no_run
/// async fn echo(event: serde_json::Value, _ctx: lambda_kit::Context) -> Result<serde_json::Value, std::convert::Infallible> {
///     Ok(event)
/// }
///
/// fn main() -> Result<(), lambda_kit::Error> {
///     lambda_kit::run(echo)
/// }
/// ```
pub fn run<H, M>(handler: H) -> Result<(), Error>
where
    H: Handler<M>,
{
    Runtime::from_env()?.run(handler)
}

/// Turns an `async fn` into a Lambda function; see the attribute's own documentation.
#[doc(inline)]
pub use lambda_kit_macros::handler;

#[doc(hidden)]
pub mod __private;

/// Not public API: the Runtime API's server side, for `cargo lambdakit serve`. No semver promise.
#[cfg(feature = "__server")]
#[doc(hidden)]
pub mod __server {
    pub use crate::api::server::*;
}
