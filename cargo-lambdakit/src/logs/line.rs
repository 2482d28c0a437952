//! What a Lambda log line says: the platform's `START`, `END` and `REPORT` lines, in the text
//! format and in the JSON log format (`platform.start`, `platform.report`, ...), a function's
//! own JSON lines, and anything else as it is.
//!
//! The shapes are AWS's: "Using Lambda advanced logging controls" for the JSON log format
//! (system events as `{"time", "type", "record"}`, application lines with `timestamp`, `level`,
//! `message`, `requestId`), and the REPORT line's fields as "Lambda function logging" lists them
//! (`Duration`, `Billed Duration`, `Memory Size`, `Max Memory Used`, `Init Duration` on a cold
//! start, `Restore Duration` with SnapStart, `Status` on a failed invocation).

use serde_json::{Map, Value, json};

/// One log line, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// An invocation started (`START RequestId: ...` or `platform.start`).
    Start {
        /// The invocation's request id.
        request_id: String,
        /// The function version that ran it, such as `$LATEST`.
        version: Option<String>,
    },
    /// An invocation ended (`END RequestId: ...`; the JSON format has no such line).
    End {
        /// The invocation's request id.
        request_id: String,
    },
    /// An invocation's report.
    Report(Report),
    /// Another of Lambda's own events in the JSON format (`platform.initStart`,
    /// `platform.runtimeDone`, ...).
    Platform {
        /// Its `type`.
        kind: String,
        /// Its `record`.
        record: Value,
    },
    /// A line of the function's in Lambda's JSON log format, or any JSON object it wrote.
    Json(Map<String, Value>),
    /// Anything else: a text line, as it was written.
    Text(String),
}

/// An invocation's REPORT line.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The invocation's request id.
    pub request_id: String,
    /// How long the handler ran, in milliseconds.
    pub duration_ms: f64,
    /// The duration billed, in milliseconds.
    pub billed_ms: f64,
    /// The function's memory, in MB.
    pub memory_size_mb: f64,
    /// The most memory the instance has used, in MB.
    pub max_memory_used_mb: f64,
    /// How long the instance took to start, on a cold start only.
    pub init_ms: Option<f64>,
    /// How long a SnapStart snapshot took to restore, on a restored instance's first
    /// invocation.
    pub restore_ms: Option<f64>,
    /// How the invocation ended, when the report says (`success`, `error`, `timeout`).
    pub status: Option<String>,
}

impl Report {
    /// Whether the invocation started a new instance (its report has an init duration).
    pub fn cold_start(&self) -> bool {
        self.init_ms.is_some()
    }

    /// The report as JSON, durations in milliseconds and memory in MB.
    pub fn to_json(&self) -> Value {
        json!({
            "request_id": self.request_id,
            "duration_ms": self.duration_ms,
            "billed_duration_ms": self.billed_ms,
            "memory_size_mb": self.memory_size_mb,
            "max_memory_used_mb": self.max_memory_used_mb,
            "init_duration_ms": self.init_ms,
            "restore_duration_ms": self.restore_ms,
            "cold_start": self.cold_start(),
            "status": self.status,
        })
    }
}

impl Line {
    /// Reads a log event's message (its trailing newline aside).
    pub fn parse(message: &str) -> Self {
        let message = message.trim_end_matches(['\n', '\r']);
        if message.starts_with('{') {
            if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(message) {
                return Self::json(object);
            }
        } else if let Some(line) = Self::text(message) {
            return line;
        }
        Self::Text(message.to_owned())
    }

    /// The invocation the line belongs to, when it says.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Start { request_id, .. } | Self::End { request_id } => Some(request_id),
            Self::Report(report) => Some(&report.request_id),
            Self::Platform { record, .. } => record.get("requestId").and_then(Value::as_str),
            Self::Json(object) => object.get("requestId").and_then(Value::as_str),
            Self::Text(_) => None,
        }
    }

    /// The line's kind, as `--output json` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Start { .. } => "start",
            Self::End { .. } => "end",
            Self::Report(_) => "report",
            Self::Platform { .. } => "platform",
            Self::Json(_) => "json",
            Self::Text(_) => "text",
        }
    }

    /// The line for people: the platform's lines summarised, JSON lines as
    /// `LEVEL message key=value ... [request id]`, text as it was.
    pub fn render(&self) -> String {
        match self {
            Self::Start {
                request_id,
                version,
            } => match version {
                Some(version) => format!("START {request_id} ({version})"),
                None => format!("START {request_id}"),
            },
            Self::End { request_id } => format!("END {request_id}"),
            Self::Report(report) => {
                let mut line = format!(
                    "REPORT {}  duration {} ms (billed {} ms)  memory {}/{} MB",
                    report.request_id,
                    millis(report.duration_ms),
                    number(report.billed_ms),
                    number(report.max_memory_used_mb),
                    number(report.memory_size_mb),
                );
                if let Some(init) = report.init_ms {
                    line.push_str(&format!("  cold start (init {} ms)", millis(init)));
                }
                if let Some(restore) = report.restore_ms {
                    line.push_str(&format!("  restored ({} ms)", millis(restore)));
                }
                if let Some(status) = report.status.as_deref().filter(|s| *s != "success") {
                    line.push_str(&format!("  status {status}"));
                }
                line
            }
            Self::Platform { kind, record } => {
                format!("{} {record}", kind.trim_start_matches("platform."))
            }
            Self::Json(object) => render_json(object),
            Self::Text(text) => text.clone(),
        }
    }

    /// `START`, `END` and `REPORT` in the text format.
    fn text(message: &str) -> Option<Self> {
        if let Some(rest) = message.strip_prefix("START RequestId: ") {
            let (request_id, version) = match rest.split_once(" Version: ") {
                Some((id, version)) => (id, Some(version.trim().to_owned())),
                None => (rest, None),
            };
            return Some(Self::Start {
                request_id: request_id.trim().to_owned(),
                version,
            });
        }
        if let Some(rest) = message.strip_prefix("END RequestId: ") {
            return Some(Self::End {
                request_id: rest.trim().to_owned(),
            });
        }
        if message.starts_with("REPORT RequestId: ") {
            return text_report(message).map(Self::Report);
        }
        None
    }

    /// Lambda's JSON system events, or an application's JSON line.
    fn json(object: Map<String, Value>) -> Self {
        let kind = object.get("type").and_then(Value::as_str);
        let record = object.get("record");
        let (Some(kind), Some(record)) = (kind, record) else {
            return Self::Json(object);
        };
        if !kind.starts_with("platform.") {
            return Self::Json(object);
        }
        let request_id = record
            .get("requestId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match (kind, request_id) {
            ("platform.start", Some(request_id)) => Self::Start {
                request_id,
                version: record
                    .get("version")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
            ("platform.report", Some(request_id)) => match json_report(request_id, record) {
                Some(report) => Self::Report(report),
                None => Self::Platform {
                    kind: kind.to_owned(),
                    record: record.clone(),
                },
            },
            _ => Self::Platform {
                kind: kind.to_owned(),
                record: record.clone(),
            },
        }
    }
}

/// `REPORT RequestId: ID\tDuration: 1.23 ms\tBilled Duration: 2 ms\t...`, with an optional
/// `XRAY TraceId: ...` line after it.
fn text_report(message: &str) -> Option<Report> {
    let mut fields = std::collections::HashMap::new();
    for part in message.split(['\t', '\n']) {
        let part = part.trim();
        let part = part.strip_prefix("REPORT ").unwrap_or(part);
        if let Some((key, value)) = part.split_once(": ") {
            fields.insert(key.trim(), value.trim());
        }
    }
    // `123.45 ms`, `128 MB`: the number before the unit.
    let amount = |key: &str| -> Option<f64> {
        fields
            .get(key)?
            .split_whitespace()
            .next()?
            .parse::<f64>()
            .ok()
    };
    Some(Report {
        request_id: (*fields.get("RequestId")?).to_owned(),
        duration_ms: amount("Duration")?,
        billed_ms: amount("Billed Duration")?,
        memory_size_mb: amount("Memory Size")?,
        max_memory_used_mb: amount("Max Memory Used")?,
        init_ms: amount("Init Duration"),
        restore_ms: amount("Restore Duration"),
        status: fields.get("Status").map(|status| (*status).to_owned()),
    })
}

/// `platform.report`'s record: `{"requestId", "metrics": {"durationMs", "billedDurationMs",
/// "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"?, "restoreDurationMs"?}, "status"}`.
fn json_report(request_id: String, record: &Value) -> Option<Report> {
    let metrics = record.get("metrics")?;
    let metric = |name: &str| metrics.get(name).and_then(Value::as_f64);
    Some(Report {
        request_id,
        duration_ms: metric("durationMs")?,
        billed_ms: metric("billedDurationMs")?,
        memory_size_mb: metric("memorySizeMB")?,
        max_memory_used_mb: metric("maxMemoryUsedMB")?,
        init_ms: metric("initDurationMs"),
        restore_ms: metric("restoreDurationMs"),
        status: record
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// `LEVEL message key=value ... [request id]`: the fields Lambda's JSON format names first,
/// then the others by name.
fn render_json(object: &Map<String, Value>) -> String {
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let mut line = String::new();
    if let Some(level) = text("level") {
        line.push_str(level);
        line.push(' ');
    }
    match object.get("message") {
        Some(Value::String(message)) => line.push_str(message),
        Some(other) => line.push_str(&other.to_string()),
        None => {}
    }
    for (key, value) in object {
        if matches!(
            key.as_str(),
            "timestamp" | "time" | "level" | "message" | "requestId"
        ) {
            continue;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(key);
        line.push('=');
        match value {
            Value::String(value) if !value.is_empty() && !value.contains([' ', '\t', '\n']) => {
                line.push_str(value);
            }
            other => line.push_str(&other.to_string()),
        }
    }
    if let Some(request_id) = text("requestId") {
        line.push_str(&format!(" [{request_id}]"));
    }
    line
}

/// A duration as Lambda writes it, two decimals.
pub(super) fn millis(value: f64) -> String {
    format!("{value:.2}")
}

/// A whole number without decimals, anything else with its own.
fn number(value: f64) -> String {
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "REPORT RequestId: 6f2b\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 150.30 ms\t\nXRAY TraceId: 1-5e1b-abc\tSegmentId: 0a1b\tSampled: true\t\n";

    #[test]
    fn text_reports_are_read_field_by_field() {
        let Line::Report(report) = Line::parse(REPORT) else {
            panic!("not a report")
        };
        assert_eq!(
            report,
            Report {
                request_id: "6f2b".into(),
                duration_ms: 102.25,
                billed_ms: 103.0,
                memory_size_mb: 128.0,
                max_memory_used_mb: 70.0,
                init_ms: Some(150.3),
                restore_ms: None,
                status: None,
            }
        );
        assert_eq!(
            Line::Report(report).render(),
            "REPORT 6f2b  duration 102.25 ms (billed 103 ms)  memory 70/128 MB  cold start (init 150.30 ms)"
        );
        let warm = "REPORT RequestId: 7\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 256 MB\tMax Memory Used: 31 MB\tStatus: timeout\n";
        let Line::Report(report) = Line::parse(warm) else {
            panic!("not a report")
        };
        assert!(!report.cold_start());
        assert_eq!(report.status.as_deref(), Some("timeout"));
        // A REPORT line missing what every report has is shown as it is.
        let partial = "REPORT RequestId: 8\tDuration: 1.00 ms\n";
        assert_eq!(
            Line::parse(partial),
            Line::Text("REPORT RequestId: 8\tDuration: 1.00 ms".into())
        );
    }

    #[test]
    fn start_and_end_in_both_formats() {
        assert_eq!(
            Line::parse("START RequestId: 6f2b Version: $LATEST\n"),
            Line::Start {
                request_id: "6f2b".into(),
                version: Some("$LATEST".into())
            }
        );
        assert_eq!(
            Line::parse("END RequestId: 6f2b\n"),
            Line::End {
                request_id: "6f2b".into()
            }
        );
        let start = Line::parse(
            r#"{"time":"2026-01-31T12:00:00.000Z","type":"platform.start","record":{"requestId":"6f2b","version":"3"}}"#,
        );
        assert_eq!(start.render(), "START 6f2b (3)");
    }

    #[test]
    fn json_reports_are_read_from_their_metrics() {
        let line = Line::parse(
            r#"{"time":"2026-01-31T12:00:00.000Z","type":"platform.report","record":{"requestId":"r","metrics":{"durationMs":2.5,"billedDurationMs":3,"memorySizeMB":512,"maxMemoryUsedMB":40,"initDurationMs":88.1},"status":"error"}}"#,
        );
        let Line::Report(report) = &line else {
            panic!("not a report: {line:?}")
        };
        assert_eq!(report.init_ms, Some(88.1));
        assert_eq!(
            line.render(),
            "REPORT r  duration 2.50 ms (billed 3 ms)  memory 40/512 MB  cold start (init 88.10 ms)  status error"
        );
        let other = Line::parse(
            r#"{"time":"t","type":"platform.runtimeDone","record":{"requestId":"r","status":"success"}}"#,
        );
        assert_eq!(other.kind(), "platform");
        assert_eq!(other.request_id(), Some("r"));
    }

    #[test]
    fn application_json_lines_are_printed_readably() {
        let line = Line::parse(
            r#"{"timestamp":"2026-01-31T12:00:00.000Z","level":"INFO","message":"pricing","requestId":"r-1","order":"o-1","quantity":2,"note":"two words"}"#,
        );
        assert_eq!(line.kind(), "json");
        assert_eq!(line.request_id(), Some("r-1"));
        assert_eq!(
            line.render(),
            r#"INFO pricing note="two words" order=o-1 quantity=2 [r-1]"#
        );
        // Text and broken JSON stay as they were written.
        assert_eq!(
            Line::parse("[INFO]\t2026-01-31T12:00:00.000Z\tr-1\thello\n").render(),
            "[INFO]\t2026-01-31T12:00:00.000Z\tr-1\thello"
        );
        assert_eq!(Line::parse("{not json").render(), "{not json");
    }
}
