//! A deployed function's logs, read from CloudWatch Logs for `cargo lambdakit logs`: which log
//! group is the function's (its `LoggingConfig.LogGroup`, else `/aws/lambda/NAME`), the events
//! since a time that match a filter pattern (`FilterLogEvents`), once or followed, and each
//! event read as Lambda's lines (`line`) and added up (`summary`).
//!
//! Following polls: each poll asks again from a little before the newest event seen
//! ([`LOOKBACK`]), since CloudWatch may take in an event after later ones from another stream,
//! and drops the events already printed by their ids.

pub mod line;
pub mod summary;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::aws::{self, Aws, Source};
use crate::error::CliError;
pub use line::{Line, Report};
pub use summary::Summary;

/// How often `--tail` asks for new events. `FilterLogEvents` is limited to a few calls a
/// second per account and region, shared with every other reader.
pub const POLL: Duration = Duration::from_secs(2);

/// How far before the newest event seen a poll asks again, to catch events taken in late.
pub const LOOKBACK: Duration = Duration::from_secs(30);

/// One log event of the function's.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// CloudWatch's id of the event, unique in the log group.
    pub event_id: String,
    /// When it was written, in milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Its log stream: one per instance of the function.
    pub stream: String,
    /// What was written, as it was.
    pub message: String,
    /// What it says.
    pub line: Line,
}

impl Event {
    /// An event, its message read.
    pub fn new(event_id: &str, timestamp_ms: i64, stream: &str, message: &str) -> Self {
        Self {
            event_id: event_id.to_owned(),
            timestamp_ms,
            stream: stream.to_owned(),
            message: message.trim_end_matches(['\n', '\r']).to_owned(),
            line: Line::parse(message),
        }
    }

    /// When it was written, RFC 3339 in UTC.
    pub fn time(&self) -> String {
        time(self.timestamp_ms)
    }

    /// The event for people: its time, its stream (shortened to its instance), what it says.
    pub fn render(&self) -> String {
        format!(
            "{} {} {}",
            self.time(),
            short_stream(&self.stream),
            self.line.render()
        )
    }

    /// The event for `--output json`: the message as written and what was read from it.
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "timestamp": self.time(),
            "timestamp_ms": self.timestamp_ms,
            "stream": self.stream,
            "event_id": self.event_id,
            "kind": self.line.kind(),
            "request_id": self.line.request_id(),
            "message": self.message,
        });
        match &self.line {
            Line::Report(report) => value["report"] = report.to_json(),
            Line::Json(object) => value["record"] = Value::Object(object.clone()),
            Line::Platform { record, .. } => value["record"] = record.clone(),
            Line::Start { .. } | Line::End { .. } | Line::Text(_) => {}
        }
        value
    }
}

/// A time in milliseconds since the epoch, as CloudWatch gives it, in RFC 3339 (UTC).
pub fn time(millis: i64) -> String {
    let millis = u64::try_from(millis).unwrap_or_default();
    crate::time::rfc3339(UNIX_EPOCH + Duration::from_millis(millis))
}

/// Lambda names a stream `2026/01/31/[$LATEST]` and the instance's 32 hex digits; people need
/// the version and enough of the instance to tell instances apart. Other names stay whole.
fn short_stream(stream: &str) -> &str {
    let Some(open) = stream.find('[') else {
        return stream;
    };
    let Some(close) = stream[open..].find(']').map(|close| open + close) else {
        return stream;
    };
    let instance = &stream[close + 1..];
    let dated = open == 11 && stream.as_bytes()[4] == b'/' && stream.as_bytes()[7] == b'/';
    if !dated || instance.len() <= 8 || !instance.bytes().all(|b| b.is_ascii_hexdigit()) {
        return stream;
    }
    &stream[open..close + 1 + 8]
}

/// Where `--since` starts: a while back from now, or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This long before now.
    Ago(Duration),
    /// This time.
    At(SystemTime),
}

impl Since {
    /// `30s`, `10m`, `1h`, `2d`, `1w` or a sum of them (`1h30m`); or an RFC 3339 time.
    ///
    /// # Errors
    ///
    /// The forms it takes, for clap to print beside the value given.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(time) = crate::time::parse_rfc3339(text) {
            return Ok(Self::At(time));
        }
        duration(text).map(Self::Ago).ok_or_else(|| {
            "expected a duration back from now (`30s`, `10m`, `1h`, `2d`, `1w`, or a sum such as \
             `1h30m`) or an RFC 3339 time (`2026-01-31T12:00:00Z`, `2026-01-31T13:00:00+01:00`)"
                .to_owned()
        })
    }

    /// The start, in milliseconds since the epoch, as CloudWatch takes it.
    pub fn start_ms(self, now: SystemTime) -> i64 {
        let start = match self {
            Self::Ago(ago) => now.checked_sub(ago).unwrap_or(UNIX_EPOCH),
            Self::At(time) => time,
        };
        let millis = start
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        i64::try_from(millis).unwrap_or(i64::MAX)
    }
}

/// `1h30m`: numbers each followed by `s`, `m`, `h`, `d` or `w`.
fn duration(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let amount: u64 = rest[..digits].parse().ok()?;
        let seconds = match rest[digits..].chars().next()? {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(amount.checked_mul(seconds)?)?;
        rest = &rest[digits + 1..];
    }
    Some(Duration::from_secs(total))
}

/// The region a function's ARN names (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`), to read
/// the logs there when no region is given.
///
/// # Errors
///
/// [`CliError::Config`] when `--region` names another region than the ARN.
pub fn source(mut source: Source, function: &str) -> Result<Source, CliError> {
    let parts: Vec<&str> = function.split(':').collect();
    let from_arn = match parts.as_slice() {
        ["arn", _, "lambda", region, _, "function", ..] if !region.is_empty() => Some(*region),
        _ => None,
    };
    match (&source.region, from_arn) {
        (Some(given), Some(region)) if given != region => Err(CliError::Config {
            key: "--region".into(),
            problem: format!(
                "is `{given}`, but the function's ARN is in `{region}`; give one or the other"
            ),
        }),
        (None, Some(region)) => {
            source.region = Some(region.to_owned());
            Ok(source)
        }
        _ => Ok(source),
    }
}

/// A function's log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The function's name.
    pub function: String,
    /// Its log group.
    pub log_group: String,
}

/// Which events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The earliest, in milliseconds since the epoch.
    pub start_ms: i64,
    /// A CloudWatch Logs filter pattern they match.
    pub filter: Option<String>,
}

/// The log group of `function` (a name or an ARN): the one its logging configuration names,
/// else Lambda's default, `/aws/lambda/NAME`.
///
/// # Errors
///
/// [`CliError::Absent`] when there is no such function (with the closest name there is), or
/// a [`CliError::Aws`] when Lambda refuses.
pub async fn target(aws: &Aws, function: &str) -> Result<Target, CliError> {
    let configuration = match aws
        .lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
    {
        Ok(configuration) => configuration,
        Err(error) if aws::not_found(&error) => return Err(no_function(aws, function).await),
        Err(error) => return Err(aws::failed("lambda:GetFunctionConfiguration", error)),
    };
    let name = configuration.function_name().unwrap_or(function).to_owned();
    Ok(Target {
        log_group: log_group(&name, configuration.logging_config()),
        function: name,
    })
}

/// The log group a function's logging configuration names, else `/aws/lambda/NAME`.
fn log_group(function: &str, logging: Option<&aws_sdk_lambda::types::LoggingConfig>) -> String {
    logging
        .and_then(|logging| logging.log_group())
        .filter(|group| !group.is_empty())
        .map_or_else(|| format!("/aws/lambda/{function}"), str::to_owned)
}

/// No function of that name: say so, with the closest name there is.
async fn no_function(aws: &Aws, function: &str) -> CliError {
    let mut names = Vec::new();
    let mut pages = aws.lambda.list_functions().into_paginator().send();
    // A glance at the first few pages is enough for a suggestion; a refusal leaves none.
    for _ in 0..10 {
        match pages.next().await {
            Some(Ok(page)) => names.extend(
                page.functions()
                    .iter()
                    .filter_map(|found| found.function_name().map(str::to_owned)),
            ),
            Some(Err(_)) | None => break,
        }
    }
    let suggestion = crate::suggest::did_you_mean(function, names.iter().map(String::as_str));
    CliError::Absent {
        problem: format!(
            "there is no Lambda function `{function}` in `{}`{suggestion}",
            aws.region
        ),
        hint: "check the name and the region (`--region`, `AWS_REGION`, or the function's ARN); `cargo lambdakit deploy` creates the project's functions".into(),
    }
}

/// The events of `target` that `query` asks for, oldest first.
///
/// # Errors
///
/// [`CliError::Absent`] when the log group does not exist yet, or a [`CliError::Aws`] when
/// CloudWatch Logs refuses (a filter pattern it cannot read, say).
pub async fn read(aws: &Aws, target: &Target, query: &Query) -> Result<Vec<Event>, CliError> {
    let mut events = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let asked = next_token.take();
        let page = aws
            .logs
            .filter_log_events()
            .log_group_name(&target.log_group)
            .start_time(query.start_ms)
            .set_filter_pattern(query.filter.clone())
            .set_next_token(asked.clone())
            .send()
            .await
            .map_err(|error| {
                if aws::not_found(&error) {
                    no_log_group(target)
                } else {
                    aws::failed("logs:FilterLogEvents", error)
                }
            })?;
        events.extend(page.events().iter().map(|event| {
            Event::new(
                event.event_id().unwrap_or_default(),
                event.timestamp().unwrap_or_default(),
                event.log_stream_name().unwrap_or_default(),
                event.message().unwrap_or_default(),
            )
        }));
        match page.next_token() {
            // A token that comes back unchanged would ask for the same page forever.
            Some(token) if !token.is_empty() && Some(token) != asked.as_deref() => {
                next_token = Some(token.to_owned());
            }
            _ => break,
        }
    }
    // CloudWatch answers in time order; a stable sort keeps its order within a millisecond.
    events.sort_by_key(|event| event.timestamp_ms);
    Ok(events)
}

fn no_log_group(target: &Target) -> CliError {
    CliError::Absent {
        problem: format!(
            "the function `{}` has no log group `{}` yet",
            target.function, target.log_group
        ),
        hint: "Lambda creates it when the function first runs: invoke the function, then read its logs again".into(),
    }
}

/// What a poll found that was not printed before.
#[derive(Debug, Clone)]
pub struct Cursor {
    start_ms: i64,
    seen: HashMap<String, i64>,
}

impl Cursor {
    /// Before the first poll, from `start_ms`.
    pub fn new(start_ms: i64) -> Self {
        Self {
            start_ms,
            seen: HashMap::new(),
        }
    }

    /// Where the next poll starts, in milliseconds since the epoch.
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// The events of a poll not seen before, oldest first; the next poll starts
    /// [`LOOKBACK`] before the newest event seen, and forgets the ids of events before that.
    pub fn fresh(&mut self, events: Vec<Event>) -> Vec<Event> {
        let fresh: Vec<Event> = events
            .into_iter()
            .filter(|event| {
                self.seen
                    .insert(event.event_id.clone(), event.timestamp_ms)
                    .is_none()
            })
            .collect();
        if let Some(newest) = self.seen.values().max() {
            let lookback = i64::try_from(LOOKBACK.as_millis()).unwrap_or(i64::MAX);
            self.start_ms = self.start_ms.max(newest.saturating_sub(lookback));
        }
        let start = self.start_ms;
        self.seen.retain(|_, timestamp| *timestamp >= start);
        fresh
    }
}

/// Prints the events of `target` that `query` asks for, then polls every [`POLL`] and prints
/// the new ones, until SIGINT (Ctrl-C) or SIGTERM; `started` runs once, after the first poll's
/// events are printed. Output that cannot be written because its reader went away (`| head`)
/// ends the following too.
///
/// # Errors
///
/// As [`read`], and [`CliError::Io`] when the signals cannot be listened for or the output
/// cannot be written.
pub async fn follow(
    aws: &Aws,
    target: &Target,
    query: &Query,
    mut print: impl FnMut(&[Event]) -> std::io::Result<()>,
    started: impl FnOnce(),
) -> Result<(), CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind| {
        signal(kind).map_err(|error| CliError::Io {
            what: "listen for Ctrl-C and SIGTERM".into(),
            message: error.to_string(),
        })
    };
    let mut interrupt = listen(SignalKind::interrupt())?;
    let mut terminate = listen(SignalKind::terminate())?;
    let mut cursor = Cursor::new(query.start_ms);
    let mut started = Some(started);
    loop {
        let poll = Query {
            start_ms: cursor.start_ms(),
            filter: query.filter.clone(),
        };
        let events = tokio::select! {
            events = read(aws, target, &poll) => events?,
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        };
        let fresh = cursor.fresh(events);
        if let Err(error) = print(&fresh) {
            return written(Err(error));
        }
        if let Some(started) = started.take() {
            started();
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        }
    }
}

/// The outcome of writing the output: a reader that went away (`| head`) is no error, as for
/// any command-line tool; anything else is.
///
/// # Errors
///
/// [`CliError::Io`] for a failed write other than a broken pipe.
pub fn written(outcome: std::io::Result<()>) -> Result<(), CliError> {
    match outcome {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Io {
            what: "write the output".into(),
            message: error.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_rfc3339_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let start = |text| Since::parse(text).map(|since| since.start_ms(now));
        assert_eq!(start("30s"), Ok(1_000_000_000 - 30_000));
        assert_eq!(start("10m"), Ok(1_000_000_000 - 600_000));
        assert_eq!(start("1h30m"), Ok(1_000_000_000 - 5_400_000));
        assert_eq!(start("2d"), Ok(1_000_000_000 - 172_800_000));
        assert_eq!(start("1w"), Ok(1_000_000_000 - 604_800_000));
        assert_eq!(start("1970-01-01T00:00:01.5Z"), Ok(1_500));
        // Further back than the epoch starts at the epoch.
        assert_eq!(start("100w"), Ok(0));
        for wrong in [
            "",
            "10",
            "m",
            "10x",
            "1.5h",
            "-1h",
            "yesterday",
            "2026-01-31",
        ] {
            let error = Since::parse(wrong).unwrap_err();
            assert!(
                error.contains("`10m`") && error.contains("RFC 3339"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_functions_arn_gives_its_region() {
        let arn = "arn:aws:lambda:eu-central-1:123456789012:function:orders:live";
        let region = |given: Option<&str>, function| {
            source(
                Source {
                    region: given.map(str::to_owned),
                    profile: None,
                },
                function,
            )
            .map(|source| source.region)
        };
        assert_eq!(region(None, arn).unwrap(), Some("eu-central-1".into()));
        assert_eq!(
            region(Some("eu-central-1"), arn).unwrap(),
            Some("eu-central-1".into())
        );
        assert_eq!(region(None, "orders").unwrap(), None);
        let error = region(Some("us-east-1"), arn).unwrap_err();
        assert!(error.to_string().contains("`eu-central-1`"), "{error}");
    }

    #[test]
    fn the_log_group_is_the_configured_one_or_lambdas_default() {
        assert_eq!(log_group("orders", None), "/aws/lambda/orders");
        let configured = aws_sdk_lambda::types::LoggingConfig::builder()
            .log_group("/shared/functions")
            .build();
        assert_eq!(log_group("orders", Some(&configured)), "/shared/functions");
        let unset = aws_sdk_lambda::types::LoggingConfig::builder().build();
        assert_eq!(log_group("orders", Some(&unset)), "/aws/lambda/orders");
    }

    #[test]
    fn streams_are_shortened_to_their_instance() {
        assert_eq!(
            short_stream("2026/01/31/[$LATEST]0123456789abcdef0123456789abcdef"),
            "[$LATEST]01234567"
        );
        assert_eq!(
            short_stream("2026/01/31/[12]fedcba9876543210fedcba9876543210"),
            "[12]fedcba98"
        );
        for whole in [
            "my-stream",
            "2026/01/31/[$LATEST]abc",
            "x/[1]0123456789abcdef",
        ] {
            assert_eq!(short_stream(whole), whole);
        }
    }

    #[test]
    fn a_cursor_prints_each_event_once_and_looks_back_a_little() {
        let event = |id: &str, at: i64| Event::new(id, at, "s", "m");
        let mut cursor = Cursor::new(1_000);
        let first = cursor.fresh(vec![event("a", 1_000), event("b", 60_000)]);
        assert_eq!(first.len(), 2);
        // The next poll starts LOOKBACK before the newest event; "a" is forgotten.
        assert_eq!(cursor.start_ms(), 30_000);
        assert_eq!(cursor.seen.len(), 1);
        // The poll finds "b" again, and "c" taken in late with an earlier time.
        let second = cursor.fresh(vec![event("c", 45_000), event("b", 60_000)]);
        let ids: Vec<&str> = second.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["c"]);
        assert!(cursor.fresh(vec![event("b", 60_000)]).is_empty());
        assert_eq!(cursor.start_ms(), 30_000);
    }
}
