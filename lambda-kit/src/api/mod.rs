//! The Runtime API client: a private HTTP connection and one function per endpoint.
//!
//! The HTTP/1.1 of the connection stays in this module; the runtime sees only typed values.

pub(crate) mod client;
pub(crate) mod endpoints;
