//! The AWS SDK for Rust in a Lambda function: with feature `trace`, [`TraceInterceptor`]
//! records each SDK call as a client span of the invocation's trace.

#[cfg(feature = "trace")]
mod trace;

#[cfg(feature = "trace")]
#[cfg_attr(docsrs, doc(cfg(all(feature = "aws", feature = "trace"))))]
pub use trace::TraceInterceptor;
