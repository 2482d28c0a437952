//! Lambda's Runtime API, both sides: the contract (`protocol`), the runtime's private HTTP
//! connection (`client`) with one function per endpoint (`endpoints`), and the server that tests
//! and the local Lambda run (`server`, behind the hidden `__server` feature).
//!
//! The HTTP/1.1 of the client stays in this module; the runtime sees only typed values.

pub(crate) mod client;
pub(crate) mod endpoints;
pub(crate) mod extensions;
pub(crate) mod protocol;
#[cfg(feature = "__server")]
pub(crate) mod server;
