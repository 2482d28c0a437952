//! Panics in the user's code become `Panic` diagnostics, in one place.
//!
//! The runtime polls user code in two places: the setup and handler futures (`runtime`) and a
//! streamed body's chunks (`streaming`). Both catch a panic where they poll, so that it ends
//! one invocation (or one stream, with the chunks sent before it) instead of the process, and
//! both report it alike. Catching needs `panic = "unwind"` (the default): with
//! `panic = "abort"` the process ends and Lambda reports `Runtime.ExitError`.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::Poll;

use crate::Diagnostic;

/// Runs `poll` (one poll of user code), turning a panic in it into a `Panic` diagnostic.
///
/// `AssertUnwindSafe`: what panicked is dropped or never polled again by the callers, so no
/// broken state of it is observed afterwards.
pub(crate) fn catch<T>(poll: impl FnOnce() -> T) -> Result<T, Diagnostic> {
    catch_unwind(AssertUnwindSafe(poll))
        .map_err(|payload| Diagnostic::new("Panic", message(&*payload)))
}

/// Polls `future` to its end, turning a panic in it into a `Panic` diagnostic.
pub(crate) async fn catch_future<F: Future>(future: F) -> Result<F::Output, Diagnostic> {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| match catch(|| future.as_mut().poll(cx)) {
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(diagnostic) => Poll::Ready(Err(diagnostic)),
    })
    .await
}

/// The panic's message, when it has one.
fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "the handler panicked with a value that is not a string".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_diagnostic_with_its_message() {
        let caught = catch(|| -> u8 { panic!("out of {}", "stock") });
        let diagnostic = caught.expect_err("the closure panicked");
        assert_eq!(diagnostic.error_type(), "Panic");
        assert_eq!(diagnostic.error_message(), "out of stock");
        assert_eq!(catch(|| 7).ok(), Some(7));
    }

    #[test]
    fn a_panic_with_a_value_that_is_not_a_string_is_named_so() {
        let caught = catch(|| std::panic::panic_any(42_u32)).expect_err("it panicked");
        assert_eq!(
            caught.error_message(),
            "the handler panicked with a value that is not a string"
        );
    }
}
