//! Does what the event says: sleep, print, fail, crash, and tells what it saw.

use std::time::Duration;

use lambda_kit::{Context, Diagnostic};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Orders {
    sleep_ms: u64,
    print: Option<String>,
    fail: Option<String>,
    exit: Option<i32>,
}

#[lambda_kit::handler]
async fn behave(orders: Orders, ctx: Context) -> Result<Value, Diagnostic> {
    if let Some(line) = &orders.print {
        tracing::info!("{line}");
    }
    if orders.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(orders.sleep_ms)).await;
    }
    if let Some(message) = orders.fail {
        return Err(Diagnostic::new("AskedToFail", message));
    }
    if let Some(code) = orders.exit {
        std::process::exit(code);
    }
    #[allow(clippy::disallowed_methods)] // Reporting the environment the emulator set is the point.
    let env = |name: &str| std::env::var(name).ok();
    Ok(json!({
        "requestId": ctx.request_id(),
        "arn": ctx.invoked_function_arn(),
        "trace": ctx.xray_trace_id(),
        "remainingMs": ctx.remaining_time().as_millis() as u64,
        "memory": ctx.config().memory_size_mb(),
        "greeting": env("GREETING"),
        "handler": env("_HANDLER"),
        "region": ctx.config().region(),
        "pid": std::process::id(),
        "arch": std::env::consts::ARCH,
        "client": ctx.client_context().map(|client| client.custom().clone()),
        "identity": ctx.identity().map(|identity| identity.identity_id()),
    }))
}
