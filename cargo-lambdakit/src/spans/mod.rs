//! Traces as the local Lambda keeps them and its tools show them: spans from every source
//! (Lambda's own function segment, X-Ray segment documents, OTLP spans) in one shape, the JSON
//! `serve` answers `/lambdakit/traces` with, and the waterfall `serve --traces` and `cargo
//! lambdakit traces ID` print.
//!
//! Ids are hex: a trace's 32 digits (an X-Ray id `1-5759e988-bd862e3fe1be46a994272793` is the
//! same 128 bits, its first 8 digits the epoch seconds, as AWS's OpenTelemetry distributions
//! map them), a span's 16. Times are seconds since the epoch, as in X-Ray's documents.

use std::collections::BTreeMap;
use std::fmt::Write as _;

pub mod remote;
pub mod xray;

use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// Where a span came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The local Lambda's own function segment (`AWS::Lambda::Function`).
    Lambda,
    /// A segment document sent to the X-Ray daemon.
    Xray,
    /// A span posted to the OTLP receiver.
    Otlp,
}

/// What a span stands for (OpenTelemetry's span kinds; X-Ray's segments are `server`, its
/// `aws` and `remote` subsegments `client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Work inside the function.
    Internal,
    /// A request handled.
    Server,
    /// A call out (an AWS SDK call, say).
    Client,
    /// A message sent.
    Producer,
    /// A message received.
    Consumer,
}

/// One span (or X-Ray segment or subsegment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// The trace's 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// The parent span's id, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// Its name (an X-Ray segment's `name`).
    pub name: String,
    /// Where it came from.
    pub source: Source,
    /// What it stands for.
    pub kind: Kind,
    /// When it started, in seconds since the epoch.
    pub start_time: f64,
    /// When it ended; `None` while it is in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    /// The AWS request id of the call it stands for (`aws.request_id`), or of the invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What went wrong, when it failed (an X-Ray error, fault or throttle, an OTLP status of
    /// `ERROR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its X-Ray `origin` (`AWS::Lambda::Function`, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Its attributes (X-Ray annotations and `aws` fields, OTLP attributes and the resource's
    /// `service.name`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

impl Span {
    /// How long it took, in milliseconds; `None` while in progress.
    pub fn duration_ms(&self) -> Option<f64> {
        self.end_time
            .map(|end| ((end - self.start_time) * 1000.0).max(0.0))
    }
}

/// A trace: its spans, in the order they started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// What lists show of it.
    #[serde(flatten)]
    pub summary: Summary,
    /// Its spans.
    pub spans: Vec<Span>,
}

/// What a list of traces shows of each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// 32 hex digits.
    pub trace_id: String,
    /// The same id as X-Ray writes it (`1-{8 digits}-{24 digits}`).
    pub xray_trace_id: String,
    /// The name of its first root span.
    pub name: String,
    /// When its first span started, in seconds since the epoch.
    pub start_time: f64,
    /// From its first span's start to its last span's end.
    pub duration_ms: f64,
    /// How many spans it has.
    pub span_count: usize,
    /// How many of them failed.
    pub errors: usize,
    /// Whether a span is still in progress.
    pub in_progress: bool,
}

impl Trace {
    /// The trace of `spans` (of one trace id, at least one span).
    pub fn of(trace_id: &str, mut spans: Vec<Span>) -> Self {
        spans.sort_by(|a, b| a.start_time.total_cmp(&b.start_time));
        let start = spans.first().map_or(0.0, |span| span.start_time);
        let end = spans
            .iter()
            .map(|span| span.end_time.unwrap_or(span.start_time))
            .fold(start, f64::max);
        let ids: Vec<&str> = spans.iter().map(|span| span.span_id.as_str()).collect();
        let name = spans
            .iter()
            .find(|span| {
                span.parent_id
                    .as_deref()
                    .is_none_or(|parent| !ids.contains(&parent))
            })
            .map(|span| span.name.clone())
            .unwrap_or_default();
        Self {
            summary: Summary {
                trace_id: trace_id.to_owned(),
                xray_trace_id: xray_id(trace_id),
                name,
                start_time: start,
                duration_ms: (end - start) * 1000.0,
                span_count: spans.len(),
                errors: spans.iter().filter(|span| span.error.is_some()).count(),
                in_progress: spans.iter().any(|span| span.end_time.is_none()),
            },
            spans,
        }
    }
}

/// A trace id as given (32 hex digits, or X-Ray's `1-{8}-{24}`), as 32 lowercase hex digits;
/// `None` when it is neither.
pub fn normalize_trace_id(id: &str) -> Option<String> {
    let hex = match id.strip_prefix("1-") {
        Some(rest) => {
            let (time, random) = rest.split_once('-')?;
            (time.len() == 8 && random.len() == 24).then(|| format!("{time}{random}"))?
        }
        None => id.to_owned(),
    };
    (hex.len() == 32 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// 32 hex digits as X-Ray writes a trace id.
pub fn xray_id(trace_id: &str) -> String {
    match (trace_id.get(..8), trace_id.get(8..)) {
        (Some(time), Some(random)) if trace_id.len() == 32 => format!("1-{time}-{random}"),
        _ => trace_id.to_owned(),
    }
}

/// How wide the bars of a waterfall are.
const BAR_WIDTH: usize = 40;
/// The widest a waterfall's name column gets; longer names are cut.
const NAME_WIDTH: usize = 44;

/// Whether a waterfall marks errors in color: on a terminal, unless `NO_COLOR` is set (to
/// anything but empty, as no-color.org asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Plain text.
    Never,
    /// Errors in red.
    Errors,
}

impl Color {
    /// Colour for stdout: only on a terminal and without `NO_COLOR`.
    pub fn for_stdout() -> Self {
        use std::io::IsTerminal as _;
        #[allow(clippy::disallowed_methods)] // The CLI reads its user's shell, not a Lambda's.
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        if !no_color && std::io::stdout().is_terminal() {
            Self::Errors
        } else {
            Self::Never
        }
    }
}

/// The trace as a waterfall: a heading, then one line per span, children under their parent,
/// indented by depth, each with a bar placed and scaled on the trace's time, its duration,
/// its request id and what went wrong. Spans whose parent is not in the trace (the caller's,
/// say) are roots.
pub fn waterfall(trace: &Trace, color: Color) -> String {
    let summary = &trace.summary;
    let mut out = format!(
        "trace {}  {}  {:.1} ms  {} span{}{}\n",
        summary.xray_trace_id,
        summary.name,
        summary.duration_ms,
        summary.span_count,
        if summary.span_count == 1 { "" } else { "s" },
        match summary.errors {
            0 => String::new(),
            1 => ", 1 error".to_owned(),
            errors => format!(", {errors} errors"),
        }
    );
    let ids: Vec<&str> = trace
        .spans
        .iter()
        .map(|span| span.span_id.as_str())
        .collect();
    let mut rows = Vec::new();
    // Roots in start order, each followed by its subtree (spans are sorted by start).
    for (index, span) in trace.spans.iter().enumerate() {
        let orphan = span
            .parent_id
            .as_deref()
            .is_none_or(|parent| !ids.contains(&parent) || parent == span.span_id);
        if orphan {
            descend(
                trace,
                index,
                0,
                &mut rows,
                &mut vec![false; trace.spans.len()],
            );
        }
    }
    let name_width = rows
        .iter()
        .map(|(index, depth)| 2 * depth + trace.spans[*index].name.chars().count())
        .max()
        .unwrap_or(0)
        .min(NAME_WIDTH);
    let start = summary.start_time;
    let total = (summary.duration_ms / 1000.0).max(f64::EPSILON);
    for (index, depth) in rows {
        let span = &trace.spans[index];
        let mut name = format!("{}{}", "  ".repeat(depth), span.name);
        if name.chars().count() > name_width {
            name = name.chars().take(name_width.saturating_sub(1)).collect();
            name.push('~');
        }
        let end = span.end_time.unwrap_or(start + total);
        let column =
            |time: f64| ((time - start) / total * BAR_WIDTH as f64).clamp(0.0, BAR_WIDTH as f64);
        // Times a hair off a column's edge (decimal seconds in binary) round to the edge.
        let from = ((column(span.start_time) + 1e-6).floor() as usize).min(BAR_WIDTH - 1);
        let to = ((column(end) - 1e-6).ceil() as usize).clamp(from + 1, BAR_WIDTH);
        let fill = if span.end_time.is_some() { '=' } else { '~' };
        let bar: String = (0..BAR_WIDTH)
            .map(|at| if (from..to).contains(&at) { fill } else { ' ' })
            .collect();
        let duration = span
            .duration_ms()
            .map_or_else(|| "in progress".to_owned(), |ms| format!("{ms:.1} ms"));
        let _ = write!(out, "{name:<name_width$} |{bar}| {duration:>11}");
        if let Some(request_id) = &span.request_id {
            let _ = write!(out, "  request {request_id}");
        }
        if let Some(error) = &span.error {
            let mark = format!("ERROR {error}");
            match color {
                Color::Never => {
                    let _ = write!(out, "  {mark}");
                }
                Color::Errors => {
                    let _ = write!(out, "  \x1b[31m{mark}\x1b[0m");
                }
            }
        }
        out.push('\n');
    }
    out
}

/// `index` at `depth`, then its children (spans whose parent it is) in start order.
fn descend(
    trace: &Trace,
    index: usize,
    depth: usize,
    rows: &mut Vec<(usize, usize)>,
    seen: &mut Vec<bool>,
) {
    // A span names its parent by id: a cycle of ids (a span its own grandparent) is cut.
    if std::mem::replace(&mut seen[index], true) {
        return;
    }
    rows.push((index, depth));
    let id = &trace.spans[index].span_id;
    for (child, span) in trace.spans.iter().enumerate() {
        if span.parent_id.as_ref() == Some(id) && child != index {
            descend(trace, child, depth + 1, rows, seen);
        }
    }
}

/// One line per trace, newest first, for `cargo lambdakit traces`.
pub fn list(summaries: &[Summary]) -> String {
    if summaries.is_empty() {
        return "no traces yet: invoke a function on this serve, then look again\n".to_owned();
    }
    let mut out = format!(
        "{:<35}  {:<12}  {:>11}  {:>5}  {:>6}  NAME\n",
        "TRACE", "STARTED", "DURATION", "SPANS", "ERRORS"
    );
    for summary in summaries {
        let _ = writeln!(
            out,
            "{:<35}  {:<12}  {:>11}  {:>5}  {:>6}  {}",
            summary.xray_trace_id,
            clock(summary.start_time),
            format!("{:.1} ms", summary.duration_ms),
            summary.span_count,
            summary.errors,
            summary.name
        );
    }
    out
}

/// `HH:MM:SS.mmm` of seconds since the epoch, in UTC.
fn clock(seconds: f64) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    let of_day = millis % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000
    )
}

/// What `cargo lambdakit traces` asks a running serve at `url` (`http://host:port`) for: the
/// list (`id` `None`) or one trace, carrying `token` when serve requires one.
///
/// # Errors
///
/// [`CliError::Config`] for a URL or id of the wrong shape, [`CliError::Emulator`] when serve
/// does not answer (or answers nonsense), [`CliError::NoTrace`] for a trace it does not keep,
/// [`CliError::TracesRefused`] for another refusal (a missing token, say).
pub fn fetch(url: &str, id: Option<&str>, token: Option<&str>) -> Result<Fetched, CliError> {
    let authority = url
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|authority| !authority.is_empty() && !authority.contains('/'))
        .ok_or_else(|| CliError::Config {
            key: "--url".into(),
            problem: format!("is `{url}`; expected `http://host:port`, where serve listens"),
        })?
        .to_owned();
    let path = match id {
        None => "/lambdakit/traces".to_owned(),
        Some(id) => {
            normalize_trace_id(id).ok_or_else(|| CliError::Config {
                key: "ID".into(),
                problem: format!(
                    "is `{id}`; a trace id is X-Ray's `1-{{8 hex}}-{{24 hex}}` or 32 hex digits"
                ),
            })?;
            format!("/lambdakit/traces/{id}")
        }
    };
    let mut request = http::Request::get(path).header(http::header::HOST, &authority);
    if let Some(token) = token {
        request = request.header(crate::emulator::TOKEN_HEADER, token);
    }
    let request = request
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|error| CliError::Config {
            key: "--url".into(),
            problem: error.to_string(),
        })?;
    let (status, headers, body) =
        crate::island::runtime(crate::island::Threads::One)?.block_on(get(&authority, request))?;
    if !status.is_success() {
        let error_type = headers
            .get("x-amzn-errortype")
            .and_then(|value| value.to_str().ok())
            .map_or_else(|| status.to_string(), str::to_owned);
        if let (Some(id), "ResourceNotFoundException") = (id, error_type.as_str()) {
            return Err(CliError::NoTrace { id: id.to_owned() });
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|body| body["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        return Err(CliError::TracesRefused {
            error_type,
            message,
        });
    }
    let nonsense = |error: serde_json::Error| CliError::Emulator {
        message: format!("its answer is not the traces lambdakit reads: {error}"),
    };
    Ok(match id {
        None => {
            #[derive(Deserialize)]
            struct Listed {
                traces: Vec<Summary>,
            }
            let listed: Listed = serde_json::from_slice(&body).map_err(nonsense)?;
            Fetched::List(listed.traces)
        }
        Some(_) => Fetched::One(Box::new(serde_json::from_slice(&body).map_err(nonsense)?)),
    })
}

/// What [`fetch`] got.
#[derive(Debug)]
pub enum Fetched {
    /// The traces serve keeps, newest first.
    List(Vec<Summary>),
    /// One trace.
    One(Box<Trace>),
}

/// The answer to `request`, sent to the HTTP/1.1 server at `authority` (on this machine).
///
/// # Errors
///
/// When it cannot be reached or its answer breaks off.
pub(crate) async fn get(
    authority: &str,
    request: http::Request<http_body_util::Empty<bytes::Bytes>>,
) -> Result<(http::StatusCode, http::HeaderMap, bytes::Bytes), CliError> {
    use http_body_util::BodyExt as _;
    let unreachable = |message: String| CliError::Emulator { message };
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|error| unreachable(format!("cannot connect to `{authority}`: {error}")))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|error| unreachable(error.to_string()))?;
    // Owned here: aborted once the answer is read.
    let driver = tokio::spawn(connection);
    let answer = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|error| unreachable(error.to_string()))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    }
    .await;
    driver.abort();
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, name: &str, start: f64, end: Option<f64>) -> Span {
        Span {
            trace_id: "5759e988bd862e3fe1be46a994272793".into(),
            span_id: id.into(),
            parent_id: parent.map(str::to_owned),
            name: name.into(),
            source: Source::Otlp,
            kind: Kind::Internal,
            start_time: start,
            end_time: end,
            request_id: None,
            error: None,
            origin: None,
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn trace_ids_are_read_in_both_forms() {
        let hex = "5759e988bd862e3fe1be46a994272793";
        assert_eq!(
            normalize_trace_id("1-5759e988-bd862e3fe1be46a994272793").as_deref(),
            Some(hex)
        );
        assert_eq!(
            normalize_trace_id(&hex.to_uppercase()).as_deref(),
            Some(hex)
        );
        assert_eq!(xray_id(hex), "1-5759e988-bd862e3fe1be46a994272793");
        for bad in [
            "",
            "1-5759e988",
            "xyz",
            "1-5759e988-bd862e3fe1be46a99427279z",
        ] {
            assert_eq!(normalize_trace_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_waterfall_nests_scales_and_marks() {
        let mut call = span("c", Some("b"), "S3.GetObject", 100.1, Some(100.2));
        call.request_id = Some("REQ-1".into());
        call.error = Some("NoSuchKey".into());
        let spans = vec![
            span("b", Some("a"), "handle", 100.05, Some(100.35)),
            span("a", Some("caller"), "orders", 100.0, Some(100.4)),
            call,
            span("d", Some("a"), "late", 100.38, None),
        ];
        let trace = Trace::of("5759e988bd862e3fe1be46a994272793", spans);
        assert_eq!(trace.summary.name, "orders");
        assert_eq!(trace.summary.errors, 1);
        assert!(trace.summary.in_progress);
        let text = waterfall(&trace, Color::Never);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with(
                "trace 1-5759e988-bd862e3fe1be46a994272793  orders  400.0 ms  4 spans, 1 error"
            ),
            "{text}"
        );
        let bar = |line: &str| line.split('|').nth(1).unwrap().to_owned();
        let expected = |from: usize, to: usize, fill: char| -> String {
            (0..BAR_WIDTH)
                .map(|at| if (from..to).contains(&at) { fill } else { ' ' })
                .collect()
        };
        assert!(lines[1].starts_with("orders "), "{text}");
        assert_eq!(bar(lines[1]), expected(0, 40, '='), "{text}");
        assert!(lines[2].starts_with("  handle "), "{text}");
        assert_eq!(bar(lines[2]), expected(5, 35, '='), "{text}");
        assert!(lines[3].starts_with("    S3.GetObject |"), "{text}");
        assert_eq!(bar(lines[3]), expected(10, 20, '='), "{text}");
        assert!(
            lines[3].ends_with("100.0 ms  request REQ-1  ERROR NoSuchKey"),
            "{text}"
        );
        assert!(lines[4].starts_with("  late "), "{text}");
        assert_eq!(bar(lines[4]), expected(38, 40, '~'), "{text}");
        assert!(lines[4].ends_with("in progress"), "{text}");
        assert!(!text.contains('\x1b'));
        assert!(waterfall(&trace, Color::Errors).contains("\x1b[31mERROR NoSuchKey"));
    }

    #[test]
    fn traces_round_trip_through_json() {
        let trace = Trace::of(
            "5759e988bd862e3fe1be46a994272793",
            vec![span("a", None, "orders", 1.0, Some(2.0))],
        );
        let json = serde_json::to_value(&trace).unwrap();
        assert_eq!(json["xray_trace_id"], "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(json["spans"][0]["source"], "otlp");
        assert_eq!(serde_json::from_value::<Trace>(json).unwrap(), trace);
    }
}
