//! The `Handler` trait: what may serve invocations, and the JSON on either side of it.

use std::future::Future;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Context, Diagnostic};

/// Something that serves invocations: an `async fn(Event, Context) -> Result<Response, Error>`,
/// or with shared state, `async fn(Event, Context, &State) -> Result<Response, Error>`.
///
/// - `Event` is any [`DeserializeOwned`] type: your own struct, `serde_json::Value`, an AWS event.
/// - `Response` is any [`Serialize`] type; `()` answers `null`. With the `streaming` feature it
///   may also be a `lambda_kit::streaming::StreamResponse`, sent as it is produced.
/// - `Error` is anything that converts [`Into<Diagnostic>`](Diagnostic), which decides the
///   `errorType` Lambda reports.
///
/// The trait is sealed: it is implemented for every function and closure of those shapes and
/// cannot be implemented by hand. `M` is an inference marker; you never name it.
///
#[doc = include_str!("../docs/handler_errors.md")]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Lambda handler",
    label = "expected an `async fn(Event, Context) -> Result<Response, Error>`",
    note = "a handler takes the event (a `DeserializeOwned` type) and a `lambda_kit::Context`, plus `&State` when the runtime has a setup step",
    note = "it returns `Result<Response, Error>` where `Response: Serialize` (or, with the `streaming` feature, a `StreamResponse`) and `Error: Into<lambda_kit::Diagnostic>`",
    note = "the `Handler` docs list the usual mistakes and their fixes"
)]
pub trait Handler<M, S = ()>: sealed::Sealed<M, S> {
    /// Decodes the event, runs the function and encodes its response.
    #[doc(hidden)]
    fn call(
        &self,
        event: Bytes,
        context: Context,
        state: &'static S,
    ) -> impl Future<Output = Result<sealed::Reply, Diagnostic>>;
}

pub(crate) use sealed::{IntoReply, Reply};

#[allow(unreachable_pub)] // Public in a private module: nameable by no one outside the crate.
mod sealed {
    use crate::Diagnostic;

    pub trait Sealed<M, S> {}

    /// What the runtime sends for an invocation that succeeded.
    #[derive(Debug)]
    pub enum Reply {
        /// A response sent whole: the JSON of a `Serialize` value. A `Vec`, not `Bytes`: made
        /// into `Bytes`, a `Vec` with room to spare gets a shared header allocated (and freed
        /// once sent), about 120 instructions an invocation for nothing.
        Buffered(Vec<u8>),
        /// A response sent as it is produced.
        #[cfg(feature = "streaming")]
        Streamed(crate::streaming::StreamResponse),
    }

    /// A handler's response type: any `Serialize` value, or a streamed body.
    pub trait IntoReply {
        fn into_reply(self) -> Result<Reply, Diagnostic>;
    }

    impl<T: serde::Serialize> IntoReply for T {
        fn into_reply(self) -> Result<Reply, Diagnostic> {
            super::encode(&self).map(Reply::Buffered)
        }
    }

    #[cfg(feature = "streaming")]
    impl IntoReply for crate::streaming::StreamResponse {
        fn into_reply(self) -> Result<Reply, Diagnostic> {
            Ok(Reply::Streamed(self))
        }
    }
}

impl<F, Fut, E, R, Err, S> sealed::Sealed<(E, crate::Context), S> for F
where
    F: Fn(E, Context) -> Fut,
    Fut: Future<Output = Result<R, Err>>,
{
}

impl<F, Fut, E, R, Err, S> Handler<(E, Context), S> for F
where
    F: Fn(E, Context) -> Fut,
    Fut: Future<Output = Result<R, Err>>,
    E: DeserializeOwned,
    R: IntoReply,
    Err: Into<Diagnostic>,
    S: 'static,
{
    async fn call(
        &self,
        event: Bytes,
        context: Context,
        _: &'static S,
    ) -> Result<Reply, Diagnostic> {
        let event = decode::<E>(&event)?;
        let response = self(event, context).await.map_err(Into::into)?;
        response.into_reply()
    }
}

impl<F, Fut, E, R, Err, S> sealed::Sealed<(E, crate::Context, &'static S), S> for F
where
    F: Fn(E, Context, &'static S) -> Fut,
    Fut: Future<Output = Result<R, Err>>,
    S: 'static,
{
}

impl<F, Fut, E, R, Err, S> Handler<(E, Context, &'static S), S> for F
where
    F: Fn(E, Context, &'static S) -> Fut,
    Fut: Future<Output = Result<R, Err>>,
    E: DeserializeOwned,
    R: IntoReply,
    Err: Into<Diagnostic>,
    S: 'static,
{
    async fn call(
        &self,
        event: Bytes,
        context: Context,
        state: &'static S,
    ) -> Result<Reply, Diagnostic> {
        let event = decode::<E>(&event)?;
        let response = self(event, context, state).await.map_err(Into::into)?;
        response.into_reply()
    }
}

/// Reads the event, naming the JSON path that failed (`Runtime.UnmarshalError`).
pub(crate) fn decode<E: DeserializeOwned>(body: &[u8]) -> Result<E, Diagnostic> {
    serde_json::from_slice(body).map_err(|error| {
        // Tracking the path costs on every event, so it is done again only once decoding failed.
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let path = serde_path_to_error::deserialize::<_, E>(&mut deserializer)
            .err()
            .map(|error| error.path().to_string())
            .filter(|path| path != ".");
        let event_type = crate::diagnostic::short_type_name::<E>();
        let message = match path {
            Some(path) => format!("the event is not a valid `{event_type}`: at `{path}`: {error}"),
            None => format!("the event is not a valid `{event_type}`: {error}"),
        };
        Diagnostic::new("Runtime.UnmarshalError", message)
    })
}

/// The largest response buffer kept for the next invocation: one bigger is freed once sent.
const KEPT_BUFFER_BYTES: usize = 256 * 1024;

std::thread_local! {
    /// The buffer the last response was written in, empty and kept for the next one, so that a
    /// function whose responses are alike in size allocates nothing to write them (an
    /// allocation, a growth and a free an invocation less: about 700 instructions on musl).
    /// Per thread: the poll loops run on one; a loop finding it taken starts a buffer of its own.
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Writes the response (`Runtime.MarshalError` when it cannot be written as JSON), in the
/// buffer the last one was sent from when there is one.
pub(crate) fn encode<R: Serialize>(response: &R) -> Result<Vec<u8>, Diagnostic> {
    let mut buffer = SPARE.take();
    if buffer.capacity() == 0 {
        // What `serde_json::to_vec` starts with.
        buffer.reserve(128);
    }
    match serde_json::to_writer(&mut buffer, response) {
        Ok(()) => Ok(buffer),
        Err(error) => {
            recycle(buffer);
            let response_type = crate::diagnostic::short_type_name::<R>();
            Err(Diagnostic::new(
                "Runtime.MarshalError",
                format!("the response `{response_type}` cannot be written as JSON: {error}"),
            ))
        }
    }
}

/// Keeps `buffer`, a response sent, for the next invocation's response.
pub(crate) fn recycle(mut buffer: Vec<u8>) {
    if buffer.capacity() <= KEPT_BUFFER_BYTES {
        buffer.clear();
        SPARE.set(buffer);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Order {
        id: String,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        price: f64,
    }

    #[test]
    fn decode_errors_name_the_json_path() {
        let body = br#"{"id":"o-1","items":[{"price":1.5},{"price":"free"}]}"#;
        let diagnostic = decode::<Order>(body).unwrap_err();
        assert_eq!(diagnostic.error_type(), "Runtime.UnmarshalError");
        let message = diagnostic.error_message();
        assert!(message.starts_with("the event is not a valid `Order`: at `items[1].price`: invalid type: string \"free\""), "{message}");
    }

    #[test]
    fn decode_errors_at_the_root_have_no_path() {
        let diagnostic = decode::<Order>(b"not json").unwrap_err();
        let message = diagnostic.error_message();
        assert!(
            message.starts_with("the event is not a valid `Order`: expected ident"),
            "{message}"
        );
    }

    #[test]
    fn encode_errors_are_marshal_errors() {
        // JSON object keys must be strings.
        let response = BTreeMap::from([((1, 2), "pair")]);
        let diagnostic = encode(&response).unwrap_err();
        assert_eq!(diagnostic.error_type(), "Runtime.MarshalError");
        assert!(
            diagnostic
                .error_message()
                .contains("BTreeMap<(i32, i32), &str>"),
            "{}",
            diagnostic.error_message()
        );
    }

    #[test]
    fn a_response_is_written_in_the_buffer_the_last_one_was_sent_from() {
        let first = encode(&"a response").unwrap();
        let reused = first.as_ptr();
        recycle(first);
        let second = encode(&"another").unwrap();
        assert_eq!(second, br#""another""#);
        assert_eq!(second.as_ptr(), reused);
        recycle(second);
        // A buffer over the kept size is freed, not kept.
        let large = encode(&"x".repeat(KEPT_BUFFER_BYTES)).unwrap();
        let large_at = large.as_ptr();
        recycle(large);
        let next = encode(&1).unwrap();
        assert_ne!(next.as_ptr(), large_at);
        assert_eq!(next, b"1");
    }

    #[test]
    fn unit_encodes_as_null() {
        assert_eq!(encode(&()).unwrap(), b"null");
    }
}
