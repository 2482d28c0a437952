//! The function `peer-telemetry` runs beside: an echo on the official runtime that writes a line
//! naming each request, for the extension to get as a `function` telemetry event.

#![allow(clippy::print_stdout)] // Its log line is its standard output, which Lambda (and serve) capture.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move {
            println!("peer-echo: echoing {}", event.context.request_id);
            Ok::<_, Error>(event.payload)
        },
    ))
    .await
}
