//! `InvokeWithResponseStream` (AWS Lambda API reference): the answer as an event stream
//! (`application/vnd.amazon.eventstream`, AWS's binary framing of events), a `PayloadChunk`
//! event for each piece of the response as the function streams it (one for a function that
//! answers whole), then one `InvokeComplete` event: the error code and details of a failed
//! invocation, and the log tail when `X-Amz-Log-Type: Tail` asked for it.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::emulator::instance::{Chunk, Outcome};
use crate::emulator::{Answer, Body, Invoked, error_type, log_tail};

/// The length of a message's prelude: total length, headers' length, the prelude's CRC.
const PRELUDE: usize = 12;

/// A header value's type tag for a string (AWS "Event stream encoding").
const STRING: u8 = 7;

/// One event-stream message with string `headers` and `payload`: the prelude (total and
/// headers' lengths, then their CRC-32), the headers, the payload, and the CRC-32 of all that.
fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut encoded = Vec::new();
    for (name, value) in headers {
        // Names are up to 255 bytes, string values up to 32,767: these are ours, and short.
        encoded.push(name.len() as u8);
        encoded.extend_from_slice(name.as_bytes());
        encoded.push(STRING);
        encoded.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded.extend_from_slice(value.as_bytes());
    }
    let total = PRELUDE + encoded.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&encoded);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Bytes::from(out)
}

/// A `PayloadChunk` event with part of the response.
fn payload_chunk(data: &[u8]) -> Bytes {
    message(
        &[
            (":event-type", "PayloadChunk"),
            (":content-type", "application/octet-stream"),
            (":message-type", "event"),
        ],
        data,
    )
}

/// The `InvokeComplete` event of `invoked`: `ErrorCode` and `ErrorDetails` when it failed,
/// `LogResult` (the base64 log tail) when asked.
fn invoke_complete(invoked: &Invoked, tail: bool) -> Bytes {
    let mut complete = Map::new();
    if let Outcome::Error(body) = &invoked.outcome {
        complete.insert("ErrorCode".into(), error_type(body).into());
        let details = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|error| error["errorMessage"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        complete.insert("ErrorDetails".into(), details.into());
    }
    if tail {
        complete.insert("LogResult".into(), log_tail(&invoked.logs).into());
    }
    message(
        &[
            (":event-type", "InvokeComplete"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        Value::Object(complete).to_string().as_bytes(),
    )
}

/// The answer to `InvokeWithResponseStream` for `answer`, of the function's `version`.
pub(super) fn respond(answer: Answer, tail: bool, version: &str) -> Response<Body> {
    let (request_id, content_type, body) = match answer {
        Answer::Done(invoked) => {
            let mut events = Vec::new();
            if let Outcome::Response(body) = &invoked.outcome {
                events.push(payload_chunk(body));
            }
            events.push(invoke_complete(&invoked, tail));
            let body = EventStream {
                ready: events,
                chunks: None,
                finished: None,
                tail,
            };
            (invoked.request_id, None, body)
        }
        Answer::Streaming {
            request_id,
            content_type,
            chunks,
            finished,
        } => {
            let body = EventStream {
                ready: Vec::new(),
                chunks: Some(chunks),
                finished: Some(finished),
                tail,
            };
            (request_id, content_type, body)
        }
    };
    let mut response = Response::new(body.boxed_unsync());
    *response.status_mut() = StatusCode::OK;
    // The service's `ResponseStreamContentType`: the function's, else bytes.
    let content_type = content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-type", content_type),
        ("x-amzn-requestid", &request_id),
        ("x-amz-executed-version", version),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    response
}

/// The events of a streamed answer as they come: each chunk's, then the completion's.
struct EventStream {
    /// Events made and not yet sent, in order.
    ready: Vec<Bytes>,
    /// The function's chunks, until they end.
    chunks: Option<mpsc::Receiver<Chunk>>,
    /// What the invocation came to, once the chunks end.
    finished: Option<oneshot::Receiver<Invoked>>,
    tail: bool,
}

impl hyper::body::Body for EventStream {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        if !self.ready.is_empty() {
            let next = self.ready.remove(0);
            return Poll::Ready(Some(Ok(hyper::body::Frame::data(next))));
        }
        if let Some(chunks) = &mut self.chunks {
            loop {
                match chunks.poll_recv(context) {
                    Poll::Ready(Some(Chunk::Data(data))) => {
                        return Poll::Ready(Some(Ok(hyper::body::Frame::data(payload_chunk(
                            &data,
                        )))));
                    }
                    // The failure comes again, whole, in what the invocation came to.
                    Poll::Ready(Some(Chunk::Failed(_))) => {}
                    Poll::Ready(None) => break,
                    Poll::Pending => return Poll::Pending,
                }
            }
            self.chunks = None;
        }
        let tail = self.tail;
        let Some(finished) = &mut self.finished else {
            return Poll::Ready(None);
        };
        match Pin::new(finished).poll(context) {
            Poll::Ready(invoked) => {
                self.finished = None;
                match invoked {
                    Ok(invoked) => Poll::Ready(Some(Ok(hyper::body::Frame::data(
                        invoke_complete(&invoked, tail),
                    )))),
                    Err(_) => Poll::Ready(Some(Err(std::io::Error::other(
                        "the streamed invocation was lost",
                    )))),
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_framed_with_its_lengths_and_checksums() {
        let framed = message(&[(":event-type", "PayloadChunk")], b"hi");
        let total = u32::from_be_bytes(framed[0..4].try_into().unwrap()) as usize;
        let headers = u32::from_be_bytes(framed[4..8].try_into().unwrap()) as usize;
        assert_eq!(total, framed.len());
        assert_eq!(headers, 1 + 11 + 1 + 2 + 12);
        assert_eq!(
            u32::from_be_bytes(framed[8..12].try_into().unwrap()),
            crc32fast::hash(&framed[..8])
        );
        assert_eq!(&framed[PRELUDE + headers..total - 4], b"hi");
        assert_eq!(
            u32::from_be_bytes(framed[total - 4..].try_into().unwrap()),
            crc32fast::hash(&framed[..total - 4])
        );
    }
}
