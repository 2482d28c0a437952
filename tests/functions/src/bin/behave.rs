//! Does what the event says: sleep, print (in a span of its own), fail, crash, and tells what
//! it saw.

use std::cell::Cell;
use std::time::Duration;

use lambda_kit::idempotency::{Idempotency, MemoryStore};
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
    /// Run at most once per value (an idempotent operation); answers how many runs there were.
    once: Option<String>,
    /// Print and sleep inside a `tracing` span, `handle orders` (with the `trace` feature, a
    /// child of the invocation's span).
    span: bool,
}

thread_local! {
    /// The records of `once`, kept while the instance lives.
    static ONCE: MemoryStore = MemoryStore::new();
    static RUNS: Cell<u64> = const { Cell::new(0) };
}

#[lambda_kit::handler]
async fn behave(orders: Orders, ctx: Context) -> Result<Value, Diagnostic> {
    if let Some(once) = &orders.once {
        let idempotency = Idempotency::new(ONCE.with(Clone::clone)).key("/once");
        let event = json!({ "once": once });
        let ran = idempotency
            .run(event, &ctx, |_| async {
                let runs = RUNS.with(|runs| {
                    runs.set(runs.get() + 1);
                    runs.get()
                });
                Ok::<_, Diagnostic>(json!({ "runs": runs }))
            })
            .await;
        return ran.map_err(Diagnostic::from);
    }
    let work = async {
        if let Some(line) = &orders.print {
            tracing::info!("{line}");
        }
        if orders.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(orders.sleep_ms)).await;
        }
    };
    if orders.span {
        let span = tracing::info_span!("handle orders", sleep_ms = orders.sleep_ms);
        tracing::Instrument::instrument(work, span).await;
    } else {
        work.await;
    }
    if let Some(message) = orders.fail {
        return Err(Diagnostic::new("AskedToFail", message));
    }
    if let Some(code) = orders.exit {
        std::process::exit(code);
    }
    #[allow(clippy::disallowed_methods)] // Reporting the environment the emulator set is the point.
    let env = |name: &str| std::env::var(name).ok();
    // `trust = "amazon-roots"`: where `SSL_CERT_FILE` points, and how many certificates the
    // file there holds.
    let certs = env("SSL_CERT_FILE");
    let certificates = certs
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .map(|pem| pem.matches("-----BEGIN CERTIFICATE-----").count());
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
        "certs": certs,
        "certificates": certificates,
    }))
}
