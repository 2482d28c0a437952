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
/// - `shutdown = path`: an `async fn()` run when Lambda sends SIGTERM, for at most 500 ms.
/// - `main = false`: generate no `main`; serve the handler yourself with `lambda_kit::Runtime`.
/// - `crate = path`: where `lambda_kit` is, when it is renamed or re-exported.
#[proc_macro_attribute]
pub fn handler(
    attr: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    handler::expand(attr.into(), item.into()).into()
}
