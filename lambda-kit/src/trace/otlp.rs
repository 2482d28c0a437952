//! Spans as OTLP/HTTP requests: `POST {endpoint}/v1/traces` with an
//! `ExportTraceServiceRequest`, in protobuf (encoded here by hand: a few message types of
//! `opentelemetry/proto/trace/v1/trace.proto` and `common/v1/common.proto`) or in OTLP's JSON
//! mapping (hex ids, nanoseconds as strings, enums as numbers), over the runtime's own HTTP/1.1
//! client.

use std::sync::Mutex;

use serde_json::{Value as Json, json};

use super::settings::{Otlp, Protocol};
use super::{Attributes, SpanRecord, Value, unix_nanos};
use crate::api::client::{Client, Request};
use crate::config::RuntimeApi;

/// The instrumentation scope spans are reported under.
const SCOPE: &str = "lambda-kit";

/// OTLP's status code for a failed span (`STATUS_CODE_ERROR`).
const STATUS_ERROR: u64 = 2;

#[derive(Debug)]
pub(super) struct Exporter {
    settings: Otlp,
    api: RuntimeApi,
    /// Idle connections, one per loop exporting at once.
    clients: Mutex<Vec<Client>>,
    /// The configured headers, their names leaked once: the client takes `'static` names.
    headers: Vec<(&'static str, Vec<u8>)>,
    /// The resource, encoded once: in protobuf, or as the JSON of its attributes.
    resource: Vec<u8>,
}

impl Exporter {
    pub(super) fn new(settings: Otlp, resource: &Attributes) -> Self {
        let headers = settings
            .headers
            .iter()
            .filter(|(name, value)| {
                let valid = !name.is_empty()
                    && name.bytes().all(|byte| byte.is_ascii_graphic() && byte != b':')
                    && value.bytes().all(|byte| byte == b' ' || byte.is_ascii_graphic());
                if !valid {
                    tracing::warn!(header = %name, "an OTLP header that cannot be sent in HTTP/1.1 is left out (OTEL_EXPORTER_OTLP_HEADERS)");
                }
                valid
            })
            .map(|(name, value)| {
                let name: &'static str = Box::leak(name.clone().into_boxed_str());
                (name, value.clone().into_bytes())
            })
            .collect();
        Self {
            api: RuntimeApi {
                authority: settings.authority.clone(),
                base_path: String::new(),
                prefix: String::new(),
            },
            resource: match settings.protocol {
                Protocol::Json => json_attributes(resource).to_string().into_bytes(),
                Protocol::Protobuf => {
                    let mut out = Vec::new();
                    pb_attributes(&mut out, 1, resource);
                    out
                }
            },
            settings,
            clients: Mutex::default(),
            headers,
        }
    }

    pub(super) async fn export(&self, spans: &[SpanRecord]) {
        let body = match self.settings.protocol {
            Protocol::Json => json_request(spans, &self.resource),
            Protocol::Protobuf => protobuf_request(spans, &self.resource),
        };
        let pooled = super::lock(&self.clients).pop();
        let mut client = match pooled {
            Some(client) => client,
            None => match Client::new(&self.api) {
                Ok(client) => client,
                Err(error) => {
                    tracing::warn!(%error, "cannot export traces");
                    return;
                }
            },
        };
        let mut headers: Vec<(&'static str, &[u8])> = vec![(
            "Content-Type",
            self.settings.protocol.content_type().as_bytes(),
        )];
        headers.extend(self.headers.iter().map(|(name, value)| (*name, &value[..])));
        let request = Request {
            method: "POST",
            path: &[&self.settings.path],
            headers: &headers,
        };
        let answered = async {
            let head = client.send(&request, &body).await?;
            let answer = client.body(&head).await?;
            Ok::<_, crate::Error>((head.status, answer))
        }
        .await;
        match answered {
            Ok((status, _)) if (200..300).contains(&status) => {
                super::lock(&self.clients).push(client);
            }
            Ok((status, answer)) => {
                tracing::warn!(
                    collector = %self.settings.authority,
                    status,
                    answer = %String::from_utf8_lossy(&answer[..answer.len().min(512)]),
                    "the OTLP collector refused {} spans",
                    spans.len()
                );
                super::lock(&self.clients).push(client);
            }
            Err(error) => {
                let cause = std::error::Error::source(&error)
                    .map_or_else(|| error.to_string(), ToString::to_string);
                tracing::warn!(
                    collector = %self.settings.authority,
                    error = %cause,
                    "could not export {} spans to the OTLP collector",
                    spans.len()
                );
            }
        }
    }
}

/// The request in OTLP's JSON mapping, with the resource's attributes already in JSON.
pub(crate) fn json_request(spans: &[SpanRecord], resource: &[u8]) -> Vec<u8> {
    let spans: Vec<Json> = spans
        .iter()
        .map(|span| {
            let mut out = json!({
                "traceId": format!("{:032x}", span.trace_id),
                "spanId": format!("{:016x}", span.span_id),
                "name": span.name,
                "kind": span.kind as u64,
                "startTimeUnixNano": unix_nanos(span.start).to_string(),
                "endTimeUnixNano": unix_nanos(span.end).to_string(),
                "attributes": json_attributes(&span.attributes),
            });
            if let Some(parent) = span.parent_id {
                out["parentSpanId"] = format!("{parent:016x}").into();
            }
            if !span.events.is_empty() {
                out["events"] = span
                    .events
                    .iter()
                    .map(|event| {
                        json!({
                            "timeUnixNano": unix_nanos(event.time).to_string(),
                            "name": event.name,
                            "attributes": json_attributes(&event.attributes),
                        })
                    })
                    .collect();
            }
            if let Some(message) = &span.error {
                out["status"] = json!({"code": STATUS_ERROR, "message": message});
            }
            out
        })
        .collect();
    let scope_spans = json!([{
        "scope": {"name": SCOPE, "version": env!("CARGO_PKG_VERSION")},
        "spans": spans,
    }]);
    let mut out = b"{\"resourceSpans\":[{\"resource\":{\"attributes\":".to_vec();
    out.extend_from_slice(resource);
    out.extend_from_slice(b"},\"scopeSpans\":");
    out.extend_from_slice(scope_spans.to_string().as_bytes());
    out.extend_from_slice(b"}]}");
    out
}

fn json_attributes(attributes: &Attributes) -> Json {
    attributes
        .iter()
        .map(|(key, value)| {
            let value = match value {
                Value::Str(text) => json!({"stringValue": text}),
                // int64 is a string in proto3's JSON mapping.
                Value::I64(number) => json!({"intValue": number.to_string()}),
                Value::U64(number) => match i64::try_from(*number) {
                    Ok(number) => json!({"intValue": number.to_string()}),
                    Err(_) => json!({"stringValue": number.to_string()}),
                },
                Value::F64(number) if number.is_finite() => json!({"doubleValue": number}),
                Value::F64(number) => json!({"stringValue": number.to_string()}),
                Value::Bool(flag) => json!({"boolValue": flag}),
            };
            json!({"key": key, "value": value})
        })
        .collect()
}

/// The request in protobuf, with the resource's fields already encoded.
pub(crate) fn protobuf_request(spans: &[SpanRecord], resource: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + spans.len() * 256);
    // ExportTraceServiceRequest.resource_spans = 1
    message(&mut out, 1, |resource_spans| {
        // ResourceSpans.resource = 1 { Resource.attributes = 1 }
        bytes(resource_spans, 1, resource);
        // ResourceSpans.scope_spans = 2
        message(resource_spans, 2, |scope_spans| {
            // ScopeSpans.scope = 1 { name = 1, version = 2 }
            message(scope_spans, 1, |scope| {
                string(scope, 1, SCOPE);
                string(scope, 2, env!("CARGO_PKG_VERSION"));
            });
            for span in spans {
                // ScopeSpans.spans = 2
                message(scope_spans, 2, |out| pb_span(out, span));
            }
        });
    });
    out
}

fn pb_span(out: &mut Vec<u8>, span: &SpanRecord) {
    bytes(out, 1, &span.trace_id.to_be_bytes());
    bytes(out, 2, &span.span_id.to_be_bytes());
    if let Some(parent) = span.parent_id {
        bytes(out, 4, &parent.to_be_bytes());
    }
    string(out, 5, &span.name);
    uint(out, 6, span.kind as u64);
    fixed64(out, 7, unix_nanos(span.start));
    fixed64(out, 8, unix_nanos(span.end));
    pb_attributes(out, 9, &span.attributes);
    for event in &span.events {
        message(out, 11, |out| {
            fixed64(out, 1, unix_nanos(event.time));
            string(out, 2, &event.name);
            pb_attributes(out, 3, &event.attributes);
        });
    }
    if let Some(status) = &span.error {
        // Span.status = 15 { message = 2, code = 3 }
        message(out, 15, |out| {
            string(out, 2, status);
            uint(out, 3, STATUS_ERROR);
        });
    }
}

/// Repeated `KeyValue { key = 1, value = 2: AnyValue }` as field `field`.
fn pb_attributes(out: &mut Vec<u8>, field: u32, attributes: &Attributes) {
    for (key, value) in attributes {
        message(out, field, |pair| {
            string(pair, 1, key);
            // AnyValue: string_value = 1, bool_value = 2, int_value = 3, double_value = 4.
            message(pair, 2, |any| match value {
                Value::Str(text) => string(any, 1, text),
                Value::Bool(flag) => uint(any, 2, u64::from(*flag)),
                // A negative int64 is its two's complement as a varint.
                Value::I64(number) => uint(any, 3, *number as u64),
                Value::U64(number) => match i64::try_from(*number) {
                    Ok(number) => uint(any, 3, number as u64),
                    Err(_) => string(any, 1, &number.to_string()),
                },
                Value::F64(number) => {
                    key_of(any, 4, 1);
                    any.extend_from_slice(&number.to_bits().to_le_bytes());
                }
            });
        });
    }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A field's key: its number and wire type (0 varint, 1 fixed64, 2 length-delimited).
fn key_of(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, u64::from(field) << 3 | u64::from(wire_type));
}

fn uint(out: &mut Vec<u8>, field: u32, value: u64) {
    key_of(out, field, 0);
    varint(out, value);
}

fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    key_of(out, field, 1);
    out.extend_from_slice(&value.to_le_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    key_of(out, field, 2);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    bytes(out, field, value.as_bytes());
}

/// An embedded message: written after its key and a length known only once it is written.
fn message(out: &mut Vec<u8>, field: u32, write: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    write(&mut inner);
    bytes(out, field, &inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_keys_are_protobufs() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        uint(&mut out, 3, (-1_i64) as u64);
        assert_eq!(out.len(), 1 + 10);
        out.clear();
        message(&mut out, 15, |inner| uint(inner, 3, 2));
        assert_eq!(out, [0x7a, 0x02, 0x18, 0x02]);
    }
}
