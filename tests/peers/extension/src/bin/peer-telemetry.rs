//! An external extension written as the official `lambda_extension` crate's users write one: an
//! events processor that logs each `INVOKE` (with its request id) and `SHUTDOWN` (with its
//! reason), and a telemetry processor that logs each event it is posted. The crate listens for
//! telemetry on `0.0.0.0:PORT` and subscribes with `http://sandbox.localdomain:PORT`; the port
//! is `PEER_TELEMETRY_PORT` when set (so that tests running at once do not share one), else the
//! crate's default.

#![allow(clippy::print_stdout)] // Its log lines are its standard output, which Lambda (and serve) capture.

use lambda_extension::{
    Error, Extension, LambdaEvent, LambdaTelemetry, LambdaTelemetryRecord, NextEvent,
    SharedService, service_fn,
};

async fn events(event: LambdaEvent) -> Result<(), Error> {
    match event.next {
        NextEvent::Invoke(invoke) => println!("peer-telemetry: INVOKE {}", invoke.request_id),
        NextEvent::Shutdown(shutdown) => {
            println!("peer-telemetry: SHUTDOWN {}", shutdown.shutdown_reason);
        }
    }
    Ok(())
}

async fn telemetry(batch: Vec<LambdaTelemetry>) -> Result<(), Error> {
    for event in batch {
        let line = match event.record {
            LambdaTelemetryRecord::Function(line) => format!("function {}", line.trim_end()),
            LambdaTelemetryRecord::PlatformStart { request_id, .. } => {
                format!("platform.start {request_id}")
            }
            LambdaTelemetryRecord::PlatformRuntimeDone {
                request_id, status, ..
            } => format!("platform.runtimeDone {request_id} {status:?}"),
            LambdaTelemetryRecord::PlatformReport {
                request_id,
                metrics,
                ..
            } => format!(
                "platform.report {request_id} durationMs={} billedDurationMs={}",
                metrics.duration_ms, metrics.billed_duration_ms
            ),
            other => format!("{other:?}"),
        };
        println!("peer-telemetry: TELEMETRY {line}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let extension = Extension::new()
        .with_events(&["INVOKE", "SHUTDOWN"])
        .with_events_processor(service_fn(events))
        .with_telemetry_processor(SharedService::new(service_fn(telemetry)));
    #[allow(clippy::disallowed_methods)] // The test's setting, read once here, not Lambda's.
    let port = std::env::var("PEER_TELEMETRY_PORT").ok();
    match port.and_then(|port| port.parse().ok()) {
        Some(port) => extension.with_telemetry_port_number(port).run().await,
        None => extension.run().await,
    }
}
