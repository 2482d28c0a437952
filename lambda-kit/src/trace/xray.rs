//! Spans as X-Ray segment documents, sent over UDP to the X-Ray daemon.
//!
//! The formats are AWS's "AWS X-Ray segment documents" and "Sending segment documents to the
//! X-Ray daemon": each datagram is the header `{"format": "json", "version": 1}`, a newline and
//! one document. Lambda records the function's segment itself and hands the runtime its id as
//! the trace header's `Parent`; so the invocation's span is an independent subsegment
//! (`"type": "subsegment"`) of that segment, and the handler's spans are subsegments nested in
//! it. A tree too large for one datagram is sent as the X-Ray SDKs stream large segments: every
//! span as an independent subsegment of its own, naming its parent. A span of an AWS SDK call
//! (`rpc.system` `aws-api`) is written as the X-Ray SDKs write one: named for the service, in
//! namespace `aws`, with an `aws` object (`operation`, `region`, `request_id`, `retries`); a
//! span with an HTTP status gets `http.response.status`, and a failed one `error` (4xx),
//! `throttle` too (429) or `fault` (5xx, or no answer).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Attributes, SpanRecord, Value};
use crate::Error;
use crate::logging::push_json_str;

/// What precedes every document in a datagram.
const HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";

/// The largest datagram sent: under UDP's 65,507 bytes of payload and the daemon's 64 KiB
/// buffer, with room to spare.
pub(crate) const MAX_DATAGRAM: usize = 62 * 1024;

/// The longest segment name X-Ray takes.
const MAX_NAME: usize = 200;

#[derive(Debug)]
pub(super) struct Exporter {
    socket: UdpSocket,
    daemon: SocketAddr,
}

impl Exporter {
    pub(super) fn new(daemon: SocketAddr) -> Result<Self, Error> {
        let local: SocketAddr = if daemon.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)
            .and_then(|socket| socket.set_nonblocking(true).map(|()| socket))
            .map_err(|error| {
                Error::start(
                    "cannot open a UDP socket to send traces to the X-Ray daemon",
                    error,
                )
            })?;
        Ok(Self { socket, daemon })
    }

    /// Sends `spans`, each tree in one datagram when it fits. A datagram the socket cannot take
    /// now is dropped, as the X-Ray SDKs do: the loop never waits for the daemon.
    pub(super) fn export(&self, spans: &[SpanRecord], resource: &Attributes) {
        for document in documents(spans, resource) {
            let mut datagram = Vec::with_capacity(HEADER.len() + document.len());
            datagram.extend_from_slice(HEADER);
            datagram.extend_from_slice(&document);
            if let Err(error) = self.socket.send_to(&datagram, self.daemon) {
                tracing::warn!(daemon = %self.daemon, %error, "could not send a segment document to the X-Ray daemon");
            }
        }
    }
}

/// The documents for `spans`: one per tree of spans when it fits, else one per span.
pub(crate) fn documents(spans: &[SpanRecord], resource: &Attributes) -> Vec<Vec<u8>> {
    // A batch holds an invocation's few spans: a linear search finds parents.
    let parents: Vec<Option<usize>> = spans
        .iter()
        .map(|span| {
            let parent = span.parent_id?;
            spans
                .iter()
                .position(|other| other.trace_id == span.trace_id && other.span_id == parent)
        })
        .collect();
    let mut out = Vec::new();
    let mut text = String::with_capacity(1024);
    for (root, _) in parents
        .iter()
        .enumerate()
        .filter(|(_, parent)| parent.is_none())
    {
        text.clear();
        write_subsegment(&mut text, spans, &parents, root, resource, Some(Place::Top));
        if HEADER.len() + text.len() <= MAX_DATAGRAM {
            out.push(text.as_bytes().to_vec());
            continue;
        }
        // Too large as one tree: each span on its own, naming its parent.
        let mut stack = vec![root];
        while let Some(at) = stack.pop() {
            stack.extend(
                parents
                    .iter()
                    .enumerate()
                    .filter(|(_, parent)| **parent == Some(at))
                    .map(|(child, _)| child),
            );
            text.clear();
            write_subsegment(&mut text, spans, &parents, at, resource, None);
            if HEADER.len() + text.len() <= MAX_DATAGRAM {
                out.push(text.as_bytes().to_vec());
                continue;
            }
            text.clear();
            write_truncated(&mut text, &spans[at]);
            if HEADER.len() + text.len() <= MAX_DATAGRAM {
                out.push(text.as_bytes().to_vec());
            } else {
                tracing::warn!(span = %spans[at].name, "a span is too large for an X-Ray segment document and was dropped");
            }
        }
    }
    out
}

/// Where a subsegment is written: as an independent document with its children nested
/// (`Top`), nested in its parent (`Nested`), or independent alone (`None` at the call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Top,
    Nested,
}

/// Writes the span at `at` as a subsegment. `place` `None`: an independent subsegment
/// without its children (they are sent on their own).
fn write_subsegment(
    out: &mut String,
    spans: &[SpanRecord],
    parents: &[Option<usize>],
    at: usize,
    resource: &Attributes,
    place: Option<Place>,
) {
    let span = &spans[at];
    out.push('{');
    write_head(out, span, place != Some(Place::Nested));
    write_fields(out, span, resource);
    if place.is_some() {
        let mut first = true;
        for (child, _) in parents
            .iter()
            .enumerate()
            .filter(|(_, parent)| **parent == Some(at))
        {
            out.push_str(if first { ",\"subsegments\":[" } else { "," });
            first = false;
            write_subsegment(out, spans, parents, child, resource, Some(Place::Nested));
        }
        if !first {
            out.push(']');
        }
    }
    out.push('}');
}

/// A span too large even alone: its head, and `metadata.default.truncated`.
fn write_truncated(out: &mut String, span: &SpanRecord) {
    out.push('{');
    write_head(out, span, true);
    out.push_str(",\"metadata\":{\"default\":{\"truncated\":true}}}");
}

/// `name`, `id`, the times, and for an independent subsegment its trace, parent and type.
fn write_head(out: &mut String, span: &SpanRecord, independent: bool) {
    out.push_str("\"name\":");
    // An AWS call's subsegment is named for the service, as the X-Ray SDKs name it.
    let aws_service = text_attribute(span, "rpc.service").filter(|_| is_aws_call(span));
    push_json_str(out, &name(aws_service.unwrap_or(&span.name)));
    let _ = write!(out, ",\"id\":\"{:016x}\",\"start_time\":", span.span_id);
    push_seconds(out, span.start);
    out.push_str(",\"end_time\":");
    push_seconds(out, span.end);
    if independent {
        out.push_str(",\"trace_id\":\"");
        out.push_str(&super::xray_trace_id(span.trace_id));
        out.push('"');
        if let Some(parent) = span.parent_id {
            let _ = write!(out, ",\"parent_id\":\"{parent:016x}\"");
        }
        out.push_str(",\"type\":\"subsegment\"");
    }
}

/// The rest of a subsegment: attributes whose keys X-Ray can index (letters, digits and `_`)
/// as annotations, the rest (OpenTelemetry's dotted names) and the span's events as metadata in
/// the `default` namespace; `namespace`; `fault` and `cause` for a failed span. The
/// invocation's span also carries the resource's attributes (the function, its region and
/// memory).
fn write_fields(out: &mut String, span: &SpanRecord, resource: &Attributes) {
    let aws = is_aws_call(span);
    match (aws, span.kind) {
        (true, _) => out.push_str(",\"namespace\":\"aws\""),
        (false, super::Kind::Client | super::Kind::Producer) => {
            out.push_str(",\"namespace\":\"remote\"");
        }
        _ => {}
    }
    if aws {
        write_aws(out, span);
    }
    let status = span.attributes.iter().find_map(|(key, value)| match value {
        Value::I64(status) if key == "http.response.status_code" => Some(*status),
        _ => None,
    });
    if let Some(status) = status {
        let _ = write!(out, ",\"http\":{{\"response\":{{\"status\":{status}}}}}");
    }
    if let Some(message) = &span.error {
        // X-Ray's "Errors, faults, and exceptions": a client error (4xx) is an `error`, one
        // throttled (429) also a `throttle`; a server error or a failure without an answer is a
        // `fault`.
        out.push_str(match status {
            Some(429) => ",\"error\":true,\"throttle\":true",
            Some(400..=499) => ",\"error\":true",
            _ => ",\"fault\":true",
        });
        let exception_type = span
            .events
            .iter()
            .flat_map(|event| &event.attributes)
            .find_map(|(key, value)| match value {
                Value::Str(text) if key == "exception.type" => Some(text),
                _ => None,
            });
        let _ = write!(
            out,
            ",\"cause\":{{\"exceptions\":[{{\"id\":\"{:016x}\",\"message\":",
            super::random_id()
        );
        push_json_str(
            out,
            if message.is_empty() {
                "failed"
            } else {
                message
            },
        );
        if let Some(exception_type) = exception_type {
            out.push_str(",\"type\":");
            push_json_str(out, exception_type);
        }
        out.push_str("}]}");
    }
    let is_invocation = span
        .attributes
        .iter()
        .any(|(key, _)| key == "faas.invocation_id");
    let resource = if is_invocation { &resource[..] } else { &[] };
    let indexable = |key: &str| {
        key.len() <= 500
            && key
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    };
    let mut first = true;
    for (key, value) in span.attributes.iter().chain(resource) {
        if indexable(key) {
            out.push_str(if first { ",\"annotations\":{" } else { "," });
            first = false;
            push_pair(out, key, value);
        }
    }
    if !first {
        out.push('}');
    }
    let mut first = true;
    for (key, value) in span.attributes.iter().chain(resource) {
        if !indexable(key) {
            out.push_str(if first {
                ",\"metadata\":{\"default\":{"
            } else {
                ","
            });
            first = false;
            push_pair(out, key, value);
        }
    }
    if !span.events.is_empty() {
        out.push_str(if first {
            ",\"metadata\":{\"default\":{"
        } else {
            ","
        });
        first = false;
        out.push_str("\"events\":[");
        for (at, event) in span.events.iter().enumerate() {
            if at > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            push_json_str(out, &event.name);
            out.push_str(",\"time\":");
            push_seconds(out, event.time);
            out.push_str(",\"attributes\":{");
            for (at, (key, value)) in event.attributes.iter().enumerate() {
                if at > 0 {
                    out.push(',');
                }
                push_pair(out, key, value);
            }
            out.push_str("}}");
        }
        out.push(']');
    }
    if !first {
        out.push_str("}}");
    }
}

/// Whether `span` is an AWS SDK call's (`rpc.system` `aws-api`).
fn is_aws_call(span: &SpanRecord) -> bool {
    text_attribute(span, "rpc.system") == Some("aws-api")
}

fn text_attribute<'a>(span: &'a SpanRecord, name: &str) -> Option<&'a str> {
    span.attributes.iter().find_map(|(key, value)| match value {
        Value::Str(text) if key == name => Some(text.as_ref()),
        _ => None,
    })
}

/// An AWS call's `aws` object, as the X-Ray SDKs write it: `operation`, `region`,
/// `request_id`, `id_2` (S3's extended request id) and `retries`.
fn write_aws(out: &mut String, span: &SpanRecord) {
    out.push_str(",\"aws\":{");
    let mut first = true;
    for (key, value) in &span.attributes {
        let field = match key.as_ref() {
            "rpc.method" => "operation",
            "cloud.region" => "region",
            "aws.request_id" => "request_id",
            "aws.extended_request_id" => "id_2",
            "aws.retries" => "retries",
            _ => continue,
        };
        if !first {
            out.push(',');
        }
        first = false;
        push_pair(out, field, value);
    }
    out.push('}');
}

fn push_pair(out: &mut String, key: &str, value: &Value) {
    push_json_str(out, key);
    out.push(':');
    match value {
        Value::Str(text) => push_json_str(out, text),
        Value::I64(number) => {
            let _ = write!(out, "{number}");
        }
        Value::U64(number) => {
            let _ = write!(out, "{number}");
        }
        Value::F64(number) if number.is_finite() => {
            let _ = write!(out, "{number:?}");
        }
        Value::F64(number) => push_json_str(out, &number.to_string()),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
    }
}

/// A name X-Ray takes: at most 200 characters of letters, digits, whitespace and
/// `_ . : / % & # = + \ - @`; others become `_`.
fn name(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(c);
    if !text.is_empty() && text.len() <= MAX_NAME && text.chars().all(allowed) {
        return Cow::Borrowed(text);
    }
    let name: String = text
        .chars()
        .take(MAX_NAME)
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    if name.is_empty() {
        Cow::Borrowed("span")
    } else {
        Cow::Owned(name)
    }
}

/// Epoch seconds with microseconds, as X-Ray's `start_time` and `end_time` are.
fn push_seconds(out: &mut String, time: SystemTime) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let _ = write!(out, "{}.{:06}", since.as_secs(), since.subsec_micros());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value as Json;

    use super::*;
    use crate::trace::Kind;

    fn span(span_id: u64, parent_id: u64, payload: usize) -> SpanRecord {
        SpanRecord {
            trace_id: 0x5759e988_bd862e3fe1be46a994272793,
            span_id,
            parent_id: Some(parent_id),
            name: Cow::Borrowed("work"),
            kind: Kind::Internal,
            start: UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            end: UNIX_EPOCH + Duration::from_micros(1_700_000_000_223_456),
            attributes: vec![("blob".into(), Value::Str("x".repeat(payload).into()))],
            events: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn a_tree_that_fits_is_one_document_and_one_that_does_not_is_split() {
        let small = [span(1, 0xaa, 10), span(2, 1, 10), span(3, 2, 10)];
        let docs = documents(&small, &Vec::new());
        assert_eq!(docs.len(), 1);
        let document: Json = serde_json::from_slice(&docs[0]).unwrap();
        assert_eq!(document["parent_id"], "00000000000000aa");
        assert_eq!(document["start_time"], 1_700_000_000.123456);
        assert_eq!(
            document["subsegments"][0]["subsegments"][0]["id"],
            "0000000000000003"
        );

        let large = [
            span(1, 0xaa, 30_000),
            span(2, 1, 30_000),
            span(3, 2, 30_000),
        ];
        let docs = documents(&large, &Vec::new());
        assert_eq!(docs.len(), 3);
        for (document, parent) in
            docs.iter()
                .zip(["00000000000000aa", "0000000000000001", "0000000000000002"])
        {
            assert!(HEADER.len() + document.len() <= MAX_DATAGRAM);
            let document: Json = serde_json::from_slice(document).unwrap();
            assert_eq!(document["type"], "subsegment");
            assert_eq!(document["parent_id"], parent);
            assert!(document.get("subsegments").is_none());
        }

        let huge = [span(9, 0xaa, 100_000)];
        let docs = documents(&huge, &Vec::new());
        let document: Json = serde_json::from_slice(&docs[0]).unwrap();
        assert_eq!(document["metadata"]["default"]["truncated"], true);
    }

    #[test]
    fn failed_calls_are_errors_throttles_or_faults_by_their_status() {
        let call = |status: Option<i64>| {
            let mut span = span(7, 0xaa, 0);
            span.kind = Kind::Client;
            span.attributes = vec![
                ("rpc.system".into(), Value::Str("aws-api".into())),
                ("rpc.service".into(), Value::Str("S3".into())),
                ("rpc.method".into(), Value::Str("GetObject".into())),
                ("aws.extended_request_id".into(), Value::Str("id2".into())),
            ];
            if let Some(status) = status {
                span.attributes
                    .push(("http.response.status_code".into(), Value::I64(status)));
            }
            span.error = Some("failed".into());
            let docs = documents(&[span], &Vec::new());
            serde_json::from_slice::<Json>(&docs[0]).unwrap()
        };
        let flags = |document: &Json| -> Vec<&str> {
            ["error", "throttle", "fault"]
                .into_iter()
                .filter(|flag| document[*flag] == true)
                .collect()
        };
        let throttled = call(Some(429));
        assert_eq!(flags(&throttled), ["error", "throttle"]);
        assert_eq!(throttled["name"], "S3");
        assert_eq!(throttled["namespace"], "aws");
        assert_eq!(throttled["aws"]["operation"], "GetObject");
        assert_eq!(throttled["aws"]["id_2"], "id2");
        assert_eq!(throttled["http"]["response"]["status"], 429);
        assert_eq!(flags(&call(Some(404))), ["error"]);
        assert_eq!(flags(&call(Some(503))), ["fault"]);
        // No answer at all (a timeout, a refused connection).
        let unanswered = call(None);
        assert_eq!(flags(&unanswered), ["fault"]);
        assert!(unanswered.get("http").is_none());
    }

    #[test]
    fn names_keep_to_xrays_characters() {
        assert_eq!(name("GET /orders/{id}?x"), "GET /orders/_id__x");
        assert_eq!(name(&"a".repeat(300)).len(), MAX_NAME);
    }
}
