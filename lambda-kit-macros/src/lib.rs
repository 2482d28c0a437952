//! The attribute behind `#[lambda_kit::handler]`.
//!
//! An implementation detail of `lambda-kit`, which re-exports it: depend on `lambda-kit`, never
//! on this crate, whose version is pinned by `lambda-kit` and carries no promise of its own.

mod handler;

/// Turns an `async fn` into a Lambda function: adds a `main` that reads the Lambda
/// environment, installs the Lambda logger and serves invocations with the function.
///
/// ```no_run
/// use lambda_kit::{Context, Diagnostic};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct Order {
///     quantity: u32,
/// }
///
/// #[derive(Serialize)]
/// struct Receipt {
///     total_cents: u32,
/// }
///
/// #[lambda_kit::handler]
/// async fn price(order: Order, _ctx: Context) -> Result<Receipt, Diagnostic> {
///     Ok(Receipt { total_cents: order.quantity * 250 })
/// }
/// ```
///
/// The function stays as written, so unit tests call it directly. Its shapes:
///
/// - `async fn(event: E, ctx: Context) -> Result<R, Err>`, or without `ctx`;
/// - with `setup = path`, a last argument `&State`: `async fn(event: E, ctx: Context, state: &State)`.
///
/// `E` is any `serde::de::DeserializeOwned` type, `R` any `serde::Serialize` type (`()` answers
/// `null`), and `Err` anything that converts into `lambda_kit::Diagnostic`.
///
/// # Options
///
/// - `setup = path`: an `async fn(lambda_kit::Config) -> Result<State, E>` run once per cold
///   start, before the first invocation. Its `State` is handed to every invocation by
///   reference; its error is reported to Lambda as an init error (`E: Into<Diagnostic>`).
///
///   ```no_run
///   use lambda_kit::{Config, Context, Diagnostic};
///
///   struct Tables {
///       orders: String,
///   }
///
///   async fn setup(config: Config) -> Result<Tables, Diagnostic> {
///       Ok(Tables { orders: format!("{}-orders", config.function_name()) })
///   }
///
///   #[lambda_kit::handler(setup = setup)]
///   async fn handler(id: String, _ctx: Context, tables: &Tables) -> Result<String, Diagnostic> {
///       Ok(format!("{id} is in {}", tables.orders))
///   }
///   ```
/// - `shutdown = path`: an `async fn()` run when Lambda sends SIGTERM (it does when extensions
///   are registered), for at most 500 ms, before the process exits cleanly.
///
///   ```no_run
///   async fn flush_metrics() {
///       eprintln!("flushing");
///   }
///
///   #[lambda_kit::handler(shutdown = flush_metrics)]
///   async fn handler(event: serde_json::Value) -> Result<serde_json::Value, std::convert::Infallible> {
///       Ok(event)
///   }
///   ```
/// - `main = false`: generate no `main`; serve the handler yourself with `lambda_kit::Runtime`
///   (on your own tokio runtime, say). The checks of the signature still apply.
///
///   ```no_run
///   use lambda_kit::{Context, Diagnostic, Runtime};
///
///   #[lambda_kit::handler(main = false)]
///   async fn handler(event: serde_json::Value, _ctx: Context) -> Result<serde_json::Value, Diagnostic> {
///       Ok(event)
///   }
///
///   fn main() -> Result<(), lambda_kit::Error> {
///       Runtime::from_env()?.run(handler)
///   }
///   ```
/// - `crate = path`: where `lambda_kit` is, when it is renamed or re-exported.
///
///   ```no_run
///   extern crate lambda_kit as kit;
///
///   #[kit::handler(crate = kit)]
///   async fn handler(name: String, _ctx: kit::Context) -> Result<String, kit::Diagnostic> {
///       Ok(format!("hello, {name}"))
///   }
///   ```
///
/// Each binary of a package (`src/main.rs`, `src/bin/*.rs`) has its own handler, and is its
/// own Lambda function.
///
/// # Compiler errors
///
/// A misused attribute is a compiler error at the offending token that names the fix: a fn
/// that is not `async`, generic or a method; arguments missing, extra or out of order;
/// `&State` without `setup` or the other way round; an event that is not `Deserialize`, a
/// response that is not `Serialize`, an error that does not convert into `Diagnostic`; a
/// `setup` or `shutdown` fn of the wrong shape; an unknown or repeated option. Every mistake is
/// reported at once, and the fn is still emitted, so the other errors stay accurate.
#[proc_macro_attribute]
pub fn handler(
    attr: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    handler::expand(attr.into(), item.into()).into()
}
