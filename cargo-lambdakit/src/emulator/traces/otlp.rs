//! The local OTLP/HTTP receiver: `POST /v1/traces` with an `ExportTraceServiceRequest` in
//! binary protobuf (`application/x-protobuf`) or OTLP's JSON (`application/json`), optionally
//! gzipped (`Content-Encoding: gzip`), answered as the OTLP specification says ("OTLP/HTTP"):
//! `200` with an `ExportTraceServiceResponse` in the request's encoding, its `partial_success`
//! counting the spans refused (an id of the wrong length, or all zeros) and saying why; `400`
//! with a `google.rpc.Status` for a body that cannot be decoded; `415` for another content
//! type; `404` and `405` for other paths and methods.
//!
//! The decoder is written here, for the few messages of `opentelemetry/proto/trace/v1` and
//! `common/v1` a trace needs (field numbers from the published `.proto` files): a whole
//! protobuf code generator and its runtime for them would cost the CLI more build time than
//! the rest of its tracing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::task::JoinSet;

use super::Traces;
use crate::spans::{Kind, Source, Span};

/// The path OTLP/HTTP exporters post traces to (OTLP specification, "OTLP/HTTP Request").
const TRACES_PATH: &str = "/v1/traces";
/// The largest request body the receiver reads (gzipped or not, and once inflated).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How long a request may take to arrive, headers and body.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The most connections the receiver keeps open at once; more wait in the backlog.
const MAX_CONNECTIONS: usize = 64;
/// `google.rpc.Code.INVALID_ARGUMENT`.
const INVALID_ARGUMENT: i32 = 3;

/// Answers OTLP/HTTP on `listener` until the future is dropped.
pub(super) async fn receiver(listener: tokio::net::TcpListener, traces: Arc<Traces>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    // Owned by this future: dropping it closes every connection.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let traces = Arc::clone(&traces);
        connections.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |request| {
                let traces = Arc::clone(&traces);
                async move { Ok::<_, std::convert::Infallible>(answer(request, &traces).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// How a request's body is encoded, and so its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// What decoding a request came to: the spans taken, and how many were refused and why.
#[derive(Debug, Default)]
struct Decoded {
    spans: Vec<Span>,
    rejected: u64,
    problem: Option<String>,
}

async fn answer(request: Request<Incoming>, traces: &Traces) -> Response<Full<Bytes>> {
    if request.uri().path() != TRACES_PATH {
        return plain(
            StatusCode::NOT_FOUND,
            format!(
                "the local OTLP receiver takes traces at `POST {TRACES_PATH}`, not `{}`",
                request.uri().path()
            ),
        );
    }
    if request.method() != Method::POST {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("`{TRACES_PATH}` takes `POST`"),
        );
    }
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let encoding = match content_type.split(';').next().unwrap_or_default().trim() {
        "application/x-protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => {
            return plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "the content type is `{other}`; OTLP/HTTP sends `application/x-protobuf` or `application/json`"
                ),
            );
        }
    };
    let gzipped = match request
        .headers()
        .get(http::header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
    {
        None | Some("identity") => false,
        Some("gzip") => true,
        Some(other) => {
            return status(
                encoding,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("the content encoding is `{other}`; OTLP/HTTP sends `gzip` or none"),
            );
        }
    };
    let body = Limited::new(request.into_body(), MAX_BODY).collect();
    let body = match tokio::time::timeout(READ_TIMEOUT, body).await {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(error)) => {
            return status(
                encoding,
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body could not be read whole (at most {MAX_BODY} bytes): {error}"),
            );
        }
        Err(_) => {
            return status(
                encoding,
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            );
        }
    };
    let body = if gzipped {
        match gunzip(&body) {
            Ok(body) => Bytes::from(body),
            Err(problem) => return status(encoding, StatusCode::BAD_REQUEST, &problem),
        }
    } else {
        body
    };
    let decoded = match encoding {
        Encoding::Protobuf => decode_protobuf(&body),
        Encoding::Json => decode_json(&body),
    };
    match decoded {
        Ok(decoded) => {
            let Decoded {
                spans,
                rejected,
                problem,
            } = decoded;
            traces.record(spans);
            success(encoding, rejected, problem.as_deref())
        }
        Err(problem) => status(
            encoding,
            StatusCode::BAD_REQUEST,
            &format!("the ExportTraceServiceRequest cannot be decoded: {problem}"),
        ),
    }
}

fn plain(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() = status;
    response
}

fn encoded(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(encoding.content_type()),
    );
    response
}

/// `200` with an `ExportTraceServiceResponse`: empty, or with its `partial_success`.
fn success(encoding: Encoding, rejected: u64, problem: Option<&str>) -> Response<Full<Bytes>> {
    let body = match (encoding, rejected, problem) {
        (Encoding::Json, 0, None) => b"{}".to_vec(),
        (Encoding::Json, rejected, problem) => serde_json::json!({
            "partialSuccess": {"rejectedSpans": rejected, "errorMessage": problem.unwrap_or_default()}
        })
        .to_string()
        .into_bytes(),
        (Encoding::Protobuf, 0, None) => Vec::new(),
        (Encoding::Protobuf, rejected, problem) => {
            // ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
            let mut partial = Vec::new();
            if rejected > 0 {
                partial.push(0x08);
                varint(&mut partial, rejected);
            }
            if let Some(problem) = problem {
                bytes_field(&mut partial, 2, problem.as_bytes());
            }
            let mut body = Vec::new();
            bytes_field(&mut body, 1, &partial);
            body
        }
    };
    encoded(StatusCode::OK, encoding, body)
}

/// An error answer: a `google.rpc.Status` in the request's encoding.
fn status(encoding: Encoding, code: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = match encoding {
        Encoding::Json => serde_json::json!({"code": INVALID_ARGUMENT, "message": message})
            .to_string()
            .into_bytes(),
        Encoding::Protobuf => {
            // Status { int32 code = 1; string message = 2; }
            let mut body = vec![0x08];
            varint(&mut body, INVALID_ARGUMENT as u64);
            bytes_field(&mut body, 2, message.as_bytes());
            body
        }
    };
    encoded(code, encoding, body)
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    varint(out, u64::from((field << 3) | 2));
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A gzip member (RFC 1952), inflated, at most [`MAX_BODY`] bytes.
fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let bad = || "the body is not gzip (`Content-Encoding: gzip`)".to_owned();
    if bytes.len() < 18 || bytes[..3] != [0x1f, 0x8b, 8] {
        return Err(bad());
    }
    let flags = bytes[3];
    let mut at = 10;
    if flags & 0x04 != 0 {
        let extra = usize::from(u16::from_le_bytes([
            *bytes.get(at).ok_or_else(bad)?,
            *bytes.get(at + 1).ok_or_else(bad)?,
        ]));
        at += 2 + extra;
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            let end = bytes
                .get(at..)
                .ok_or_else(bad)?
                .iter()
                .position(|&byte| byte == 0);
            at += end.ok_or_else(bad)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    let deflated = bytes
        .get(at..bytes.len().saturating_sub(8))
        .ok_or_else(bad)?;
    miniz_oxide::inflate::decompress_to_vec_with_limit(deflated, MAX_BODY)
        .map_err(|_| "the gzipped body cannot be inflated (or inflates past the limit)".to_owned())
}

/// One field of a protobuf message.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

/// The fields of a protobuf message, in order.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl<'a> Fields<'a> {
    fn of(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self
                .bytes
                .split_first()
                .ok_or("a varint runs past the end")?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint is longer than 10 bytes".into())
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], String> {
        if length > self.bytes.len() {
            return Err("a field runs past the end of its message".into());
        }
        let (taken, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok(taken)
    }

    /// The next field's number and value; `None` at the end.
    fn next_field(&mut self) -> Result<Option<(u64, Wire<'a>)>, String> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                let bytes = self.take(8)?;
                Wire::Fixed64(u64::from_le_bytes(
                    bytes.try_into().map_err(|_| "a fixed64 is short")?,
                ))
            }
            2 => {
                let length = usize::try_from(self.varint()?).map_err(|_| "a length overflows")?;
                Wire::Bytes(self.take(length)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            wire => return Err(format!("wire type {wire} (groups) is not OTLP's")),
        };
        Ok(Some((key >> 3, value)))
    }
}

/// Calls `each` with every field of `bytes`.
fn fields<'a>(
    bytes: &'a [u8],
    mut each: impl FnMut(u64, Wire<'a>) -> Result<(), String>,
) -> Result<(), String> {
    let mut reader = Fields::of(bytes);
    while let Some((number, value)) = reader.next_field()? {
        each(number, value)?;
    }
    Ok(())
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "a string is not UTF-8".into())
}

/// A span as OTLP describes it, before its ids are checked.
#[derive(Debug, Default)]
struct Raw {
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_id: Vec<u8>,
    name: String,
    kind: u64,
    start: u64,
    end: u64,
    attributes: BTreeMap<String, Value>,
    /// `Status.code` (2 is `ERROR`) and its message.
    status: (u64, String),
}

/// `ExportTraceServiceRequest` in binary protobuf.
fn decode_protobuf(body: &[u8]) -> Result<Decoded, String> {
    let mut raws = Vec::new();
    // ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
    fields(body, |number, value| {
        let (1, Wire::Bytes(resource_spans)) = (number, value) else {
            return Ok(());
        };
        // ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
        let mut service = None;
        let mut spans = Vec::new();
        fields(resource_spans, |number, value| {
            match (number, value) {
                (1, Wire::Bytes(resource)) => {
                    // Resource { repeated KeyValue attributes = 1; }
                    let mut attributes = BTreeMap::new();
                    fields(resource, |number, value| match (number, value) {
                        (1, Wire::Bytes(pair)) => key_value(pair, &mut attributes),
                        _ => Ok(()),
                    })?;
                    service = attributes.remove("service.name");
                }
                (2, Wire::Bytes(scope_spans)) => {
                    // ScopeSpans { repeated Span spans = 2; }
                    fields(scope_spans, |number, value| match (number, value) {
                        (2, Wire::Bytes(span)) => {
                            spans.push(raw_span(span)?);
                            Ok(())
                        }
                        _ => Ok(()),
                    })?;
                }
                _ => {}
            }
            Ok(())
        })?;
        for mut raw in spans {
            if let Some(service) = &service {
                raw.attributes
                    .insert("service.name".into(), service.clone());
            }
            raws.push(raw);
        }
        Ok(())
    })?;
    Ok(checked(raws))
}

/// `Span` (trace/v1): the fields a waterfall shows.
fn raw_span(bytes: &[u8]) -> Result<Raw, String> {
    let mut raw = Raw::default();
    fields(bytes, |number, value| {
        match (number, value) {
            (1, Wire::Bytes(id)) => raw.trace_id = id.to_vec(),
            (2, Wire::Bytes(id)) => raw.span_id = id.to_vec(),
            (4, Wire::Bytes(id)) => raw.parent_id = id.to_vec(),
            (5, Wire::Bytes(name)) => raw.name = text(name)?,
            (6, Wire::Varint(kind)) => raw.kind = kind,
            (7, Wire::Fixed64(time)) => raw.start = time,
            (8, Wire::Fixed64(time)) => raw.end = time,
            (9, Wire::Bytes(pair)) => key_value(pair, &mut raw.attributes)?,
            (15, Wire::Bytes(status)) => {
                // Status { string message = 2; StatusCode code = 3; }
                fields(status, |number, value| {
                    match (number, value) {
                        (2, Wire::Bytes(message)) => raw.status.1 = text(message)?,
                        (3, Wire::Varint(code)) => raw.status.0 = code,
                        _ => {}
                    }
                    Ok(())
                })?;
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(raw)
}

/// `KeyValue { string key = 1; AnyValue value = 2; }` into `attributes`.
fn key_value(bytes: &[u8], attributes: &mut BTreeMap<String, Value>) -> Result<(), String> {
    let mut key = String::new();
    let mut found = Value::Null;
    fields(bytes, |number, value| {
        match (number, value) {
            (1, Wire::Bytes(name)) => key = text(name)?,
            (2, Wire::Bytes(value)) => found = any_value(value, 0)?,
            _ => {}
        }
        Ok(())
    })?;
    attributes.insert(key, found);
    Ok(())
}

/// `AnyValue`, as JSON: strings, booleans, numbers, arrays, objects; bytes as base64.
fn any_value(bytes: &[u8], depth: usize) -> Result<Value, String> {
    if depth > 16 {
        return Err("an attribute's value nests deeper than 16".into());
    }
    let mut found = Value::Null;
    fields(bytes, |number, value| {
        found = match (number, value) {
            (1, Wire::Bytes(string)) => Value::from(text(string)?),
            (2, Wire::Varint(flag)) => Value::from(flag != 0),
            (3, Wire::Varint(int)) => Value::from(int as i64),
            (4, Wire::Fixed64(bits)) => Value::from(f64::from_bits(bits)),
            (5, Wire::Bytes(array)) => {
                // ArrayValue { repeated AnyValue values = 1; }
                let mut values = Vec::new();
                fields(array, |number, value| {
                    if let (1, Wire::Bytes(value)) = (number, value) {
                        values.push(any_value(value, depth + 1)?);
                    }
                    Ok(())
                })?;
                Value::from(values)
            }
            (6, Wire::Bytes(list)) => {
                // KeyValueList { repeated KeyValue values = 1; }
                let mut object = BTreeMap::new();
                fields(list, |number, value| match (number, value) {
                    (1, Wire::Bytes(pair)) => key_value(pair, &mut object),
                    _ => Ok(()),
                })?;
                Value::from(serde_json::Map::from_iter(object))
            }
            (7, Wire::Bytes(raw)) => {
                Value::from(base64::engine::general_purpose::STANDARD.encode(raw))
            }
            _ => return Ok(()),
        };
        Ok(())
    })?;
    Ok(found)
}

/// `ExportTraceServiceRequest` in OTLP's JSON: lowerCamelCase names, ids in hex, enums as
/// numbers (or their names), 64-bit integers as numbers or strings (OTLP specification,
/// "JSON Protobuf Encoding").
fn decode_json(body: &[u8]) -> Result<Decoded, String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|error| format!("it is not JSON: {error}"))?;
    if !request.is_object() {
        return Err("it is not a JSON object".into());
    }
    let mut raws = Vec::new();
    for resource_spans in list(&request, "resourceSpans")? {
        let mut resource = BTreeMap::new();
        for pair in list(&resource_spans["resource"], "attributes")? {
            json_key_value(pair, &mut resource)?;
        }
        let service = resource.remove("service.name");
        for scope_spans in list(resource_spans, "scopeSpans")? {
            for span in list(scope_spans, "spans")? {
                let mut raw = json_span(span)?;
                if let Some(service) = &service {
                    raw.attributes
                        .insert("service.name".into(), service.clone());
                }
                raws.push(raw);
            }
        }
    }
    Ok(checked(raws))
}

/// The array `field` of `value`; none is an empty one.
fn list<'a>(value: &'a Value, field: &str) -> Result<&'a [Value], String> {
    match &value[field] {
        Value::Null => Ok(&[]),
        Value::Array(values) => Ok(values),
        _ => Err(format!("`{field}` is not an array")),
    }
}

fn json_span(span: &Value) -> Result<Raw, String> {
    let id = |field: &str| -> Result<Vec<u8>, String> {
        let text = span[field].as_str().unwrap_or_default();
        decode_hex(text).ok_or_else(|| format!("`{field}` is `{text}`, not hex"))
    };
    let mut attributes = BTreeMap::new();
    for pair in list(span, "attributes")? {
        json_key_value(pair, &mut attributes)?;
    }
    Ok(Raw {
        trace_id: id("traceId")?,
        span_id: id("spanId")?,
        parent_id: id("parentSpanId")?,
        name: span["name"].as_str().unwrap_or_default().to_owned(),
        kind: json_enum(
            &span["kind"],
            &[
                "SPAN_KIND_UNSPECIFIED",
                "SPAN_KIND_INTERNAL",
                "SPAN_KIND_SERVER",
                "SPAN_KIND_CLIENT",
                "SPAN_KIND_PRODUCER",
                "SPAN_KIND_CONSUMER",
            ],
        )?,
        start: json_u64(&span["startTimeUnixNano"])?,
        end: json_u64(&span["endTimeUnixNano"])?,
        attributes,
        status: (
            json_enum(
                &span["status"]["code"],
                &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"],
            )?,
            span["status"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ),
    })
}

fn json_key_value(pair: &Value, attributes: &mut BTreeMap<String, Value>) -> Result<(), String> {
    let key = pair["key"].as_str().unwrap_or_default().to_owned();
    attributes.insert(key, json_any_value(&pair["value"], 0)?);
    Ok(())
}

fn json_any_value(value: &Value, depth: usize) -> Result<Value, String> {
    if depth > 16 {
        return Err("an attribute's value nests deeper than 16".into());
    }
    let Some(object) = value.as_object() else {
        return Ok(Value::Null);
    };
    let Some((kind, inner)) = object.iter().next() else {
        return Ok(Value::Null);
    };
    Ok(match kind.as_str() {
        "stringValue" | "boolValue" | "doubleValue" | "bytesValue" => inner.clone(),
        "intValue" => Value::from(json_u64(inner)? as i64),
        "arrayValue" => Value::from(
            list(inner, "values")?
                .iter()
                .map(|value| json_any_value(value, depth + 1))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        "kvlistValue" => {
            let mut object = BTreeMap::new();
            for pair in list(inner, "values")? {
                json_key_value(pair, &mut object)?;
            }
            Value::from(serde_json::Map::from_iter(object))
        }
        other => return Err(format!("`{other}` is not a kind of OTLP `AnyValue`")),
    })
}

/// A 64-bit integer as a JSON number or string; none is 0.
fn json_u64(value: &Value) -> Result<u64, String> {
    match value {
        Value::Null => Ok(0),
        Value::Number(number) => number
            .as_u64()
            .or_else(|| number.as_i64().map(|int| int as u64))
            .ok_or_else(|| format!("`{number}` is not a 64-bit integer")),
        Value::String(text) => text
            .parse::<u64>()
            .or_else(|_| text.parse::<i64>().map(|int| int as u64))
            .map_err(|_| format!("`{text}` is not a 64-bit integer")),
        other => Err(format!("`{other}` is not a 64-bit integer")),
    }
}

/// An enum as its number or its name among `names`; none is 0.
fn json_enum(value: &Value, names: &[&str]) -> Result<u64, String> {
    match value {
        Value::String(name) => names
            .iter()
            .position(|known| known == name)
            .map(|index| index as u64)
            .ok_or_else(|| format!("`{name}` is not one of {}", names.join(", "))),
        other => json_u64(other),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The spans whose ids are valid (a 16-byte trace id and 8-byte span id, not all zeros, and
/// a parent id of 8 bytes or none), and a count of the others with why (OTLP's
/// `partial_success`).
fn checked(raws: Vec<Raw>) -> Decoded {
    let mut decoded = Decoded::default();
    let valid = |id: &[u8], length: usize| id.len() == length && id.iter().any(|&byte| byte != 0);
    for raw in raws {
        if !valid(&raw.trace_id, 16)
            || !valid(&raw.span_id, 8)
            || !(raw.parent_id.is_empty() || raw.parent_id.len() == 8)
        {
            decoded.rejected += 1;
            decoded.problem = Some(format!(
                "{} span{} refused: a trace id is 16 bytes and a span id 8, not all zeros",
                decoded.rejected,
                if decoded.rejected == 1 {
                    " was"
                } else {
                    "s were"
                }
            ));
            continue;
        }
        let mut attributes = raw.attributes;
        let request_id = attributes
            .get("aws.request_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let error = (raw.status.0 == 2).then(|| {
            if raw.status.1.is_empty() {
                "error".to_owned()
            } else {
                raw.status.1.clone()
            }
        });
        attributes.retain(|_, value| !value.is_null());
        let nanos = |time: u64| time as f64 / 1e9;
        decoded.spans.push(Span {
            trace_id: hex(&raw.trace_id),
            span_id: hex(&raw.span_id),
            parent_id: (!raw.parent_id.is_empty()).then(|| hex(&raw.parent_id)),
            name: raw.name,
            source: Source::Otlp,
            kind: match raw.kind {
                2 => Kind::Server,
                3 => Kind::Client,
                4 => Kind::Producer,
                5 => Kind::Consumer,
                _ => Kind::Internal,
            },
            start_time: nanos(raw.start),
            // An exporter sends ended spans; a missing end is taken as the start.
            end_time: Some(nanos(raw.end.max(raw.start))),
            request_id,
            error,
            origin: None,
            attributes,
        });
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(fields: &[(u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (number, bytes) in fields {
            bytes_field(&mut out, *number, bytes);
        }
        out
    }

    #[test]
    fn protobuf_spans_are_decoded_with_their_attributes() {
        let string_value = message(&[(1, b"REQ-9")]);
        let attribute = message(&[(1, b"aws.request_id"), (2, &string_value)]);
        let status = [0x12, 0x04, b'b', b'o', b'o', b'm', 0x18, 0x02];
        let mut span = message(&[
            (1, &[0xab; 16]),
            (2, &[0xcd; 8]),
            (4, &[0xef; 8]),
            (5, b"S3.GetObject"),
        ]);
        span.extend([0x30, 0x03]); // kind = CLIENT
        span.push(0x39); // field 7, fixed64
        span.extend(1_000_000_000u64.to_le_bytes());
        span.push(0x41); // field 8, fixed64
        span.extend(1_500_000_000u64.to_le_bytes());
        bytes_field(&mut span, 9, &attribute);
        bytes_field(&mut span, 15, &status);
        let bad = message(&[(1, &[0; 16]), (2, &[1; 8]), (5, b"zero trace")]);
        let scope = message(&[(2, &span), (2, &bad)]);
        let service_value = message(&[(1, b"orders")]);
        let service = message(&[(1, b"service.name"), (2, &service_value)]);
        let resource = message(&[(1, &service)]);
        let resource_spans = message(&[(1, &resource), (2, &scope)]);
        let request = message(&[(1, &resource_spans)]);

        let decoded = decode_protobuf(&request).unwrap();
        assert_eq!(decoded.rejected, 1);
        assert!(decoded.problem.unwrap().contains("1 span was refused"));
        let span = &decoded.spans[0];
        assert_eq!(span.trace_id, "ab".repeat(16));
        assert_eq!(span.parent_id.as_deref(), Some("efefefefefefefef"));
        assert_eq!(
            (span.kind, span.name.as_str()),
            (Kind::Client, "S3.GetObject")
        );
        assert_eq!(span.request_id.as_deref(), Some("REQ-9"));
        assert_eq!(span.error.as_deref(), Some("boom"));
        assert_eq!(span.duration_ms(), Some(500.0));
        assert_eq!(span.attributes["service.name"], "orders");

        assert!(decode_protobuf(b"\x0a\x05ab").is_err());
        assert!(decode_protobuf(b"\x0b").is_err());
    }

    #[test]
    fn json_spans_take_numbers_strings_and_enum_names() {
        let body = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "handle", "kind": "SPAN_KIND_SERVER",
            "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": 1544712661000000000u64,
            "attributes": [{"key": "n", "value": {"intValue": "3"}}, {"key": "l", "value": {"arrayValue": {"values": [{"boolValue": true}]}}}],
            "status": {"code": 2}
        }]}]}]});
        let decoded = decode_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(decoded.rejected, 0);
        let span = &decoded.spans[0];
        assert_eq!(
            (span.kind, span.error.as_deref()),
            (Kind::Server, Some("error"))
        );
        assert_eq!(span.duration_ms(), Some(1000.0));
        assert_eq!(span.attributes["n"], 3);
        assert_eq!(span.attributes["l"], serde_json::json!([true]));
        assert!(decode_json(b"[1]").is_err());
        assert!(decode_json(b"{\"resourceSpans\": 1}").is_err());
    }

    #[test]
    fn gzip_bodies_are_inflated() {
        // `printf '{}' | gzip -n`.
        let gzipped = [
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xab, 0xae, 5, 0, 0x43, 0xbf, 0xa6, 0xa3, 2, 0, 0,
            0,
        ];
        assert_eq!(gunzip(&gzipped).unwrap(), b"{}");
        assert!(gunzip(b"{}").is_err());
    }
}
