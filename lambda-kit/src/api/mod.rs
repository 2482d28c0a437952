//! The Runtime API client: a private HTTP connection and one function per endpoint.
//!
//! Nothing of hyper leaves this module; the runtime sees only typed values.

pub(crate) mod client;
pub(crate) mod endpoints;
