//! Benchmark subject: the echo function on lambda_runtime with its OpenTelemetry layer, set up
//! as lambda_runtime's OpenTelemetry example does (`tracing-opentelemetry` over the SDK's
//! simple span processor and the stdout exporter, flushed after each invocation), and the same
//! span of its own as the lambda-kit subject. Its stdout is discarded by the harness.

use lambda_runtime::layers::{OpenTelemetryFaasTrigger, OpenTelemetryLayer};
use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _span = tracing::info_span!(
        "echo",
        fields = event.payload.as_object().map_or(0, |o| o.len())
    )
    .entered();
    Ok(event.payload)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
        .build();
    let tracer = provider.tracer("bench");
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .with(tracing_subscriber::fmt::layer())
        .init();
    let runtime = Runtime::new(service_fn(echo)).layer(
        OpenTelemetryLayer::new(move || {
            let _ = provider.force_flush();
        })
        .with_trigger(OpenTelemetryFaasTrigger::Other),
    );
    runtime.run().await
}
