//! The runtime's own error type: why the runtime could not start or had to stop.
//!
//! Errors of the user's handler are not `Error`s: they become a [`Diagnostic`](crate::Diagnostic)
//! and are reported to Lambda for that one invocation, and the runtime goes on.

use std::fmt;

type Source = Box<dyn std::error::Error + Send + Sync>;

/// Why the runtime could not start, or had to stop.
///
/// Its `Display` says what went wrong at this level; the cause, when there is one, is in
/// [`source`](std::error::Error::source).
pub struct Error {
    kind: Kind,
    source: Option<Source>,
}

#[derive(Debug)]
enum Kind {
    /// An environment variable is missing or malformed.
    Config {
        variable: &'static str,
        problem: String,
    },
    /// The Runtime API could not be reached.
    Connect { address: String },
    /// The Runtime API answered something this runtime cannot act on.
    Protocol(String),
    /// The one-time setup failed; Lambda has been told through `/runtime/init/error`.
    Init { error_type: String, message: String },
    /// The runtime's own machinery (the tokio runtime, a signal handler) could not start.
    Start(&'static str),
    /// Root certificates given to `lambda_kit::aws` are not usable PEM certificates.
    #[cfg(feature = "aws")]
    Certificates(String),
}

impl Error {
    pub(crate) fn config(variable: &'static str, problem: impl Into<String>) -> Self {
        Self::new(Kind::Config {
            variable,
            problem: problem.into(),
        })
    }

    pub(crate) fn connect(address: &str, source: impl Into<Source>) -> Self {
        Self::new(Kind::Connect {
            address: address.to_owned(),
        })
        .with_source(source)
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::new(Kind::Protocol(message.into()))
    }

    pub(crate) fn init(error_type: &str, message: &str) -> Self {
        Self::new(Kind::Init {
            error_type: error_type.to_owned(),
            message: message.to_owned(),
        })
    }

    pub(crate) fn start(what: &'static str, source: impl Into<Source>) -> Self {
        Self::new(Kind::Start(what)).with_source(source)
    }

    #[cfg(feature = "aws")]
    pub(crate) fn certificates(problem: impl Into<String>) -> Self {
        Self::new(Kind::Certificates(problem.into()))
    }

    pub(crate) fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    fn new(kind: Kind) -> Self {
        Self { kind, source: None }
    }

    /// True when an environment variable was missing or malformed.
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config { .. })
    }

    /// True when the Runtime API could not be reached.
    pub fn is_connect(&self) -> bool {
        matches!(self.kind, Kind::Connect { .. })
    }

    /// True when the Runtime API answered something the runtime cannot act on.
    pub fn is_protocol(&self) -> bool {
        matches!(self.kind, Kind::Protocol(_))
    }

    /// True when the function's one-time setup failed (already reported to Lambda).
    pub fn is_init(&self) -> bool {
        matches!(self.kind, Kind::Init { .. })
    }

    /// True when root certificates given to `lambda_kit::aws` could not be used.
    #[cfg(feature = "aws")]
    #[cfg_attr(docsrs, doc(cfg(feature = "aws")))]
    pub fn is_certificates(&self) -> bool {
        matches!(self.kind, Kind::Certificates(_))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `main` returning `Err` prints this: make it read as a sentence with its causes,
        // not as a struct dump.
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Config { variable, problem } => {
                write!(f, "environment variable `{variable}` {problem}")
            }
            Kind::Connect { address } => write!(
                f,
                "cannot reach the Lambda Runtime API at `{address}` (from `AWS_LAMBDA_RUNTIME_API`)"
            ),
            Kind::Protocol(message) => write!(f, "Runtime API protocol error: {message}"),
            Kind::Init {
                error_type,
                message,
            } => write!(f, "function setup failed with {error_type}: {message}"),
            Kind::Start(what) => write!(f, "cannot start the runtime: {what}"),
            #[cfg(feature = "aws")]
            Kind::Certificates(problem) => write!(f, "invalid root certificates: {problem}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_level_and_debug_walks_the_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error = Error::connect("127.0.0.1:9001", io);
        assert!(error.is_connect());
        let display = error.to_string();
        assert!(!display.contains("refused"), "{display}");
        assert!(!display.ends_with('\n'));
        assert_eq!(
            format!("{error:?}"),
            "cannot reach the Lambda Runtime API at `127.0.0.1:9001` (from `AWS_LAMBDA_RUNTIME_API`): connection refused"
        );
    }
}
