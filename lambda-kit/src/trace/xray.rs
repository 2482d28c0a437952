//! Spans as X-Ray segment documents, sent over UDP to the X-Ray daemon.
//!
//! The formats are AWS's "AWS X-Ray segment documents" and "Sending segment documents to the
//! X-Ray daemon": each datagram is the header `{"format": "json", "version": 1}`, a newline and
//! one document. Lambda records the function's segment itself and hands the runtime its id as
//! the trace header's `Parent`; so the invocation's span is an independent subsegment
//! (`"type": "subsegment"`) of that segment, and the handler's spans are subsegments nested in
//! it. A tree too large for one datagram is sent as the X-Ray SDKs stream large segments: every
//! span as an independent subsegment of its own, naming its parent.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value as Json, json};

use super::{Attributes, SpanRecord, Value};
use crate::Error;

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
    let index: HashMap<(u128, u64), usize> = spans
        .iter()
        .enumerate()
        .map(|(at, span)| ((span.trace_id, span.span_id), at))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (at, span) in spans.iter().enumerate() {
        match span
            .parent_id
            .and_then(|parent| index.get(&(span.trace_id, parent)))
        {
            Some(&parent) => children.entry(parent).or_default().push(at),
            None => roots.push(at),
        }
    }
    let mut out = Vec::new();
    for root in roots {
        let tree = nested(spans, &children, root, resource);
        let document = independent(&spans[root], tree);
        match serde_json::to_vec(&document) {
            Ok(bytes) if HEADER.len() + bytes.len() <= MAX_DATAGRAM => out.push(bytes),
            _ => {
                let mut stack = vec![root];
                while let Some(at) = stack.pop() {
                    stack.extend(children.get(&at).into_iter().flatten());
                    out.extend(single(&spans[at], resource));
                }
            }
        }
    }
    out
}

/// One span as an independent subsegment; without its metadata and events when it is too
/// large even alone (then `metadata.default.truncated` says so).
fn single(span: &SpanRecord, resource: &Attributes) -> Option<Vec<u8>> {
    let document = independent(span, subsegment(span, resource));
    let bytes = serde_json::to_vec(&document).ok()?;
    if HEADER.len() + bytes.len() <= MAX_DATAGRAM {
        return Some(bytes);
    }
    let mut document = document;
    if let Some(fields) = document.as_object_mut() {
        fields.remove("annotations");
        fields.insert("metadata".into(), json!({"default": {"truncated": true}}));
    }
    let bytes = serde_json::to_vec(&document).ok()?;
    if HEADER.len() + bytes.len() <= MAX_DATAGRAM {
        Some(bytes)
    } else {
        tracing::warn!(span = %span.name, "a span is too large for an X-Ray segment document and was dropped");
        None
    }
}

/// `span`'s subsegment with its children nested in `subsegments`.
fn nested(
    spans: &[SpanRecord],
    children: &HashMap<usize, Vec<usize>>,
    at: usize,
    resource: &Attributes,
) -> Json {
    let mut document = subsegment(&spans[at], resource);
    if let Some(kids) = children.get(&at) {
        let kids: Vec<Json> = kids
            .iter()
            .map(|&kid| nested(spans, children, kid, resource))
            .collect();
        document["subsegments"] = Json::Array(kids);
    }
    document
}

/// Adds what an independent subsegment carries: its trace, its parent and its type.
fn independent(span: &SpanRecord, mut document: Json) -> Json {
    if let Some(fields) = document.as_object_mut() {
        fields.insert(
            "trace_id".into(),
            super::xray_trace_id(span.trace_id).into(),
        );
        if let Some(parent) = span.parent_id {
            fields.insert("parent_id".into(), format!("{parent:016x}").into());
        }
        fields.insert("type".into(), "subsegment".into());
    }
    document
}

/// The fields of `span` as a subsegment: attributes whose keys X-Ray can index (letters,
/// digits and `_`) as annotations, the rest (OpenTelemetry's dotted names) and the span's
/// events as metadata in the `default` namespace. The invocation's span also carries the
/// resource's attributes (the function, its region and memory).
fn subsegment(span: &SpanRecord, resource: &Attributes) -> Json {
    let mut document = Map::new();
    document.insert("name".into(), name(&span.name).into());
    document.insert("id".into(), format!("{:016x}", span.span_id).into());
    document.insert("start_time".into(), seconds(span.start).into());
    document.insert("end_time".into(), seconds(span.end).into());
    let namespace = span.attributes.iter().find_map(|(key, value)| match value {
        Value::Str(system) if key == "rpc.system" && system == "aws-api" => Some("aws"),
        _ => None,
    });
    match (namespace, span.kind) {
        (Some(namespace), _) => {
            document.insert("namespace".into(), namespace.into());
        }
        (None, super::Kind::Client | super::Kind::Producer) => {
            document.insert("namespace".into(), "remote".into());
        }
        _ => {}
    }
    let mut annotations = Map::new();
    let mut metadata = Map::new();
    let is_invocation = span
        .attributes
        .iter()
        .any(|(key, _)| key == "faas.invocation_id");
    let resource = if is_invocation { &resource[..] } else { &[] };
    for (key, value) in span.attributes.iter().chain(resource) {
        let indexable = key.len() <= 500
            && key
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
        if indexable {
            annotations.insert(key.to_string(), json_value(value));
        } else {
            metadata.insert(key.to_string(), json_value(value));
        }
    }
    if !span.events.is_empty() {
        let events = span
            .events
            .iter()
            .map(|event| {
                json!({
                    "name": event.name,
                    "time": seconds(event.time),
                    "attributes": event.attributes.iter()
                        .map(|(key, value)| (key.to_string(), json_value(value)))
                        .collect::<Map<_, _>>(),
                })
            })
            .collect();
        metadata.insert("events".into(), Json::Array(events));
    }
    if let Some(message) = &span.error {
        document.insert("fault".into(), true.into());
        let exception_type = span
            .events
            .iter()
            .flat_map(|event| &event.attributes)
            .find_map(|(key, value)| match value {
                Value::Str(text) if key == "exception.type" => Some(text.to_string()),
                _ => None,
            });
        let mut exception = Map::new();
        exception.insert("id".into(), format!("{:016x}", super::random_id()).into());
        let message = if message.is_empty() {
            "failed"
        } else {
            message.as_str()
        };
        exception.insert("message".into(), message.into());
        if let Some(exception_type) = exception_type {
            exception.insert("type".into(), exception_type.into());
        }
        document.insert(
            "cause".into(),
            json!({"exceptions": [Json::Object(exception)]}),
        );
    }
    if !annotations.is_empty() {
        document.insert("annotations".into(), Json::Object(annotations));
    }
    if !metadata.is_empty() {
        document.insert("metadata".into(), json!({ "default": metadata }));
    }
    Json::Object(document)
}

/// A name X-Ray takes: at most 200 characters of letters, digits, whitespace and
/// `_ . : / % & # = + \ - @`; others become `_`.
fn name(text: &str) -> String {
    let name: String = text
        .chars()
        .take(MAX_NAME)
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "span".to_owned()
    } else {
        name
    }
}

/// Epoch seconds with microseconds, as X-Ray's `start_time` and `end_time` are.
fn seconds(time: SystemTime) -> f64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    since.as_secs() as f64 + f64::from(since.subsec_micros()) / 1e6
}

fn json_value(value: &Value) -> Json {
    match value {
        Value::Str(text) => Json::String(text.to_string()),
        Value::I64(number) => (*number).into(),
        Value::U64(number) => (*number).into(),
        Value::F64(number) => serde_json::Number::from_f64(*number)
            .map_or_else(|| Json::String(number.to_string()), Json::Number),
        Value::Bool(flag) => (*flag).into(),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::Duration;

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
    fn names_keep_to_xrays_characters() {
        assert_eq!(name("GET /orders/{id}?x"), "GET /orders/_id__x");
        assert_eq!(name(&"a".repeat(300)).len(), MAX_NAME);
    }
}
