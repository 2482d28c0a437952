//! The CLI is synchronous code with async islands (`deploy`, `destroy`, `invoke`, `serve`):
//! this is the one place their tokio runtime is built, each at its command's boundary.

use crate::error::CliError;

/// How many threads the runtime runs tasks on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// This thread only: a few AWS or HTTP calls, one after another.
    One,
    /// A worker per core: a server (`serve`) with many connections and processes at once.
    PerCore,
}

/// A tokio runtime with its I/O and time drivers.
///
/// # Errors
///
/// [`CliError::Emulator`] when the runtime cannot start (no threads or file descriptors left).
pub fn runtime(threads: Threads) -> Result<tokio::runtime::Runtime, CliError> {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::PerCore => tokio::runtime::Builder::new_multi_thread(),
    };
    builder
        .enable_all()
        .build()
        .map_err(|error| CliError::Emulator {
            message: format!("cannot start the async runtime: {error}"),
        })
}
