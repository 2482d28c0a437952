//! Log lines in Lambda's shapes, each carrying the request id of the invocation that wrote it.
//!
//! A small `tracing` subscriber of its own: it formats events straight into a reused buffer and
//! writes each line with one call, and keeps no span storage (span fields are not logged).
//! The shapes follow AWS's "Configuring advanced logging controls for Lambda functions": JSON
//! lines with `timestamp`, `level`, `message` and `requestId`, so CloudWatch's log-level
//! filtering and Logs Insights work; text lines as the managed runtimes write them.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::config::{LogFormat, LogLevel};
use crate::context::HeaderStr;

tokio::task_local! {
    /// The request id of the invocation whose future is being polled.
    static REQUEST_ID: HeaderStr;
}

/// Runs `future` as part of the invocation `request_id`: everything it logs carries the id.
///
/// A task-local rather than a span: it costs a thread-local swap per poll, works when several
/// invocations share a thread, and leaves the user's own spans alone.
pub(crate) fn in_invocation<F: Future>(
    request_id: HeaderStr,
    future: F,
) -> impl Future<Output = F::Output> {
    REQUEST_ID.scope(request_id, future)
}

/// Installs the Lambda logger as the global subscriber, unless one is installed already.
pub(crate) fn install(format: LogFormat, level: LogLevel) {
    // An `Err` means the user installed their own subscriber first: theirs wins.
    let _ = tracing::subscriber::set_global_default(Logger::new(format, level, Sink::Stdout));
}

/// Where finished lines go.
#[derive(Debug, Clone)]
pub(crate) enum Sink {
    Stdout,
    #[cfg(feature = "testing")]
    Memory(std::sync::Arc<std::sync::Mutex<Vec<u8>>>),
}

impl Sink {
    fn write(&self, line: &[u8]) {
        match self {
            // A log line that cannot be written has nowhere else to go.
            Self::Stdout => drop(std::io::stdout().lock().write_all(line)),
            #[cfg(feature = "testing")]
            Self::Memory(buffer) => {
                if let Ok(mut buffer) = buffer.lock() {
                    buffer.extend_from_slice(line);
                }
            }
        }
    }
}

/// The subscriber.
#[derive(Debug)]
pub(crate) struct Logger {
    format: LogFormat,
    max_level: LevelFilter,
    sink: Sink,
}

impl Logger {
    pub(crate) fn new(format: LogFormat, level: LogLevel, sink: Sink) -> Self {
        let max_level = match level {
            LogLevel::Trace => LevelFilter::TRACE,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Error | LogLevel::Fatal => LevelFilter::ERROR,
        };
        Self {
            format,
            max_level,
            sink,
        }
    }

    fn format(&self, event: &Event<'_>, line: &mut String) {
        let mut fields = Fields::new(self.format);
        event.record(&mut fields);
        let level = level_name(*event.metadata().level());
        let request_id = REQUEST_ID.try_with(|id| id.clone()).ok();
        match self.format {
            LogFormat::Json => {
                line.push_str("{\"timestamp\":\"");
                push_timestamp(line, SystemTime::now());
                line.push_str("\",\"level\":\"");
                line.push_str(level);
                line.push_str("\",\"message\":");
                push_json_str(line, &fields.message);
                if let Some(id) = &request_id {
                    line.push_str(",\"requestId\":");
                    push_json_str(line, id.as_str());
                }
                line.push_str(&fields.rest);
                line.push('}');
            }
            LogFormat::Text => {
                line.push('[');
                line.push_str(level);
                line.push_str("]\t");
                push_timestamp(line, SystemTime::now());
                line.push('\t');
                if let Some(id) = &request_id {
                    line.push_str(id.as_str());
                    line.push('\t');
                }
                line.push_str(&fields.message);
                line.push_str(&fields.rest);
            }
        }
        line.push('\n');
    }
}

impl Subscriber for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= &self.max_level
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max_level)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Spans are not tracked, so every span may share one id (as `tracing`'s own
        // `NoSubscriber` does).
        Id::from_u64(0xCA11)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                self.format(event, &mut line);
                self.sink.write(line.as_bytes());
            }
            // Logging from inside a field's `Debug` impl: use a fresh buffer.
            Err(_) => {
                let mut line = String::new();
                self.format(event, &mut line);
                self.sink.write(line.as_bytes());
            }
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

/// An event's fields: the message, and the rest already in the line's format.
struct Fields {
    format: LogFormat,
    message: String,
    rest: String,
}

impl Fields {
    fn new(format: LogFormat) -> Self {
        Self {
            format,
            message: String::new(),
            rest: String::new(),
        }
    }

    fn push_key(&mut self, field: &Field) {
        match self.format {
            LogFormat::Json => {
                self.rest.push(',');
                push_json_str(&mut self.rest, field.name());
                self.rest.push(':');
            }
            LogFormat::Text => {
                self.rest.push(' ');
                self.rest.push_str(field.name());
                self.rest.push('=');
            }
        }
    }

    fn push_text(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
            return;
        }
        self.push_key(field);
        match self.format {
            LogFormat::Json => push_json_str(&mut self.rest, value),
            LogFormat::Text => self.rest.push_str(value),
        }
    }

    /// Numbers and booleans are JSON values as they are.
    fn push_plain(&mut self, field: &Field, value: impl fmt::Display) {
        self.push_key(field);
        let _ = write!(self.rest, "{value}");
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push_text(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.push_text(field, &text);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push_plain(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push_plain(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push_plain(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.push_plain(field, value);
        } else {
            self.push_text(field, &value.to_string());
        }
    }
}

/// Appends `value` as a JSON string, quotes included.
fn push_json_str(out: &mut String, value: &str) {
    out.push('"');
    let mut start = 0;
    for (index, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[start..index]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = index + 1;
    }
    out.push_str(&value[start..]);
    out.push('"');
}

/// Appends `time` as RFC 3339 in UTC with milliseconds: `2026-11-23T09:30:00.123Z`.
pub(crate) fn push_timestamp(out: &mut String, time: SystemTime) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let second_of_day = seconds % 86_400;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since_epoch.subsec_millis()
    );
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_millis() {
        let mut out = String::new();
        push_timestamp(
            &mut out,
            UNIX_EPOCH + Duration::from_millis(1_795_426_200_123),
        );
        assert_eq!(out, "2026-11-23T09:30:00.123Z");
        out.clear();
        push_timestamp(&mut out, UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!(out, "2000-02-29T00:00:00.000Z");
        out.clear();
        push_timestamp(&mut out, UNIX_EPOCH);
        assert_eq!(out, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_str(&mut out, "a \"quote\"\\ and\nnew\u{1}line é");
        assert_eq!(out, r#""a \"quote\"\\ and\nnew\u0001line é""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a \"quote\"\\ and\nnew\u{1}line é");
    }
}
