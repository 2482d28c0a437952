//! Not public API: what the code `#[lambda_kit::handler]` generates calls. Nothing here carries
//! a semver promise; it changes with the macro, which is pinned to this crate's version.

use std::future::Future;
use std::process::ExitCode;

pub use serde;

use crate::{Config, Diagnostic, Error};

/// Ends `main`: the runtime's error, with its causes, on stderr and a failing exit code.
pub fn exit(result: Result<(), Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `Debug` prints the error with its causes.
            eprintln!("error: {error:?}");
            ExitCode::FAILURE
        }
    }
}

/// A type a handler can take as its event.
#[diagnostic::on_unimplemented(
    message = "the event type `{Self}` cannot be read from JSON",
    label = "this type does not implement `serde::Deserialize`",
    note = "derive it with `#[derive(serde::Deserialize)]`, or take `serde_json::Value`"
)]
pub trait Event {}

impl<T: serde::de::DeserializeOwned> Event for T {}

/// A type a handler can answer with.
#[diagnostic::on_unimplemented(
    message = "the response type `{Self}` cannot be written as JSON",
    label = "this type does not implement `serde::Serialize`",
    note = "derive it with `#[derive(serde::Serialize)]`; return `()` to answer `null`"
)]
pub trait Response {}

impl<T: serde::Serialize> Response for T {}

#[cfg(feature = "streaming")]
impl Response for crate::streaming::StreamResponse {}

/// An error type a handler can fail with.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` cannot be reported to Lambda",
    label = "`lambda_kit::Diagnostic` does not implement `From<{Self}>`",
    note = "implement `From<{Self}> for lambda_kit::Diagnostic` to choose the `errorType` callers see, or return `Box<dyn std::error::Error + Send + Sync>`"
)]
pub trait IntoDiagnostic {}

impl<T: Into<Diagnostic>> IntoDiagnostic for T {}

pub fn assert_event<T: Event>() {}

pub fn assert_response<T: Response>() {}

pub fn assert_error<T: IntoDiagnostic>() {}

/// `setup` is an `async fn(Config) -> Result<S, E>` whose error Lambda can be told.
pub fn assert_setup<F, Fut, S, E>(_: &F)
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = Result<S, E>>,
    E: IntoDiagnostic,
{
}

/// `shutdown` is an `async fn()`.
pub fn assert_shutdown<F, Fut>(_: &F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
}
