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
#[cfg(feature = "streaming")]
pub(crate) fn catch<T>(poll: impl FnOnce() -> T) -> Result<T, Diagnostic> {
    catch_unwind(AssertUnwindSafe(poll)).map_err(panicked)
}

/// Polls `future` to its end, turning a panic in it into a `Panic` diagnostic.
pub(crate) async fn catch_future<F: Future>(future: F) -> Result<F::Output, Diagnostic> {
    let mut future = pin!(future);
    // `catch_unwind` itself rather than `catch`, so that the poll's result is matched as
    // it comes, with no `Result` around it to move: this runs on every poll of every handler.
    std::future::poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panicked(payload))),
        },
    )
    .await
}

/// The diagnostic of a caught panic.
#[cold]
fn panicked(payload: Box<dyn Any + Send>) -> Diagnostic {
    Diagnostic::new("Panic", message(&*payload))
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
    use std::task::{Context, Waker};

    use super::*;

    #[test]
    fn a_panicking_future_ends_with_a_diagnostic_with_its_message() {
        let mut caught = pin!(catch_future(async { panic!("out of {}", "stock") }));
        let polled = caught
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        let Poll::Ready(Err(diagnostic)) = polled else {
            panic!("the panic was not caught: {polled:?}");
        };
        assert_eq!(diagnostic.error_type(), "Panic");
        assert_eq!(diagnostic.error_message(), "out of stock");
    }

    #[test]
    fn a_future_that_does_not_panic_ends_with_its_output() {
        let mut caught = pin!(catch_future(async { 7 }));
        let polled = caught
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(polled, Poll::Ready(Ok(7))), "{polled:?}");
    }

    #[cfg(feature = "streaming")]
    #[test]
    fn a_panic_in_one_poll_becomes_a_diagnostic() {
        let caught = catch(|| -> u8 { panic!("static message") });
        let diagnostic = caught.expect_err("the closure panicked");
        assert_eq!(diagnostic.error_type(), "Panic");
        assert_eq!(diagnostic.error_message(), "static message");
        assert_eq!(catch(|| 7).ok(), Some(7));
    }

    #[cfg(feature = "streaming")]
    #[test]
    fn a_panic_with_a_value_that_is_not_a_string_is_named_so() {
        let caught = catch(|| std::panic::panic_any(42_u32)).expect_err("it panicked");
        assert_eq!(
            caught.error_message(),
            "the handler panicked with a value that is not a string"
        );
    }
}
