//! The Telemetry API's events, typed: what Lambda posts to a subscribed extension, in batches
//! (AWS "Lambda Telemetry API reference", schema version 2022-12-13).
//!
//! Every event is `{"time", "type", "record"}`; [`Record`] is the `type` and its `record`
//! together. Event types this crate does not know yet (Lambda adds some, such as SnapStart's
//! `platform.restoreStart`) arrive as [`Record::Other`] instead of failing the batch.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// One telemetry event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// When it happened, RFC 3339 in UTC with milliseconds (`2026-12-03T10:15:00.042Z`).
    pub time: String,
    /// What happened.
    pub record: Record,
}

impl Event {
    /// An event of `record` at `time`.
    pub fn new(time: impl Into<String>, record: Record) -> Self {
        Self {
            time: time.into(),
            record,
        }
    }
}

/// The type of a telemetry event with its record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Record {
    /// `platform.initStart`: the init phase began.
    InitStart(InitStart),
    /// `platform.initRuntimeDone`: the runtime finished its init (it asked for its first
    /// invocation, or failed).
    InitRuntimeDone(InitRuntimeDone),
    /// `platform.initReport`: the init phase's report.
    InitReport(InitReport),
    /// `platform.start`: an invocation began.
    Start(Start),
    /// `platform.runtimeDone`: the runtime finished an invocation.
    RuntimeDone(RuntimeDone),
    /// `platform.report`: an invocation's report (the `REPORT` log line's figures).
    Report(Report),
    /// `platform.extension`: an extension registered.
    Extension(ExtensionRegistered),
    /// `platform.telemetrySubscription`: an extension subscribed to the Telemetry API.
    TelemetrySubscription(TelemetrySubscription),
    /// `platform.logsDropped`: Lambda dropped records a subscriber could not take in time.
    LogsDropped(LogsDropped),
    /// `function`: a line the function wrote, a string (text log format) or a JSON object.
    Function(Value),
    /// `extension`: a line an extension wrote, a string or a JSON object.
    ExtensionLog(Value),
    /// A type this crate does not know, with its record as sent.
    Other {
        /// The event's `type`.
        kind: String,
        /// Its `record`.
        record: Value,
    },
}

impl Record {
    /// The event's `type`, as Lambda names it.
    pub fn kind(&self) -> &str {
        match self {
            Self::InitStart(_) => "platform.initStart",
            Self::InitRuntimeDone(_) => "platform.initRuntimeDone",
            Self::InitReport(_) => "platform.initReport",
            Self::Start(_) => "platform.start",
            Self::RuntimeDone(_) => "platform.runtimeDone",
            Self::Report(_) => "platform.report",
            Self::Extension(_) => "platform.extension",
            Self::TelemetrySubscription(_) => "platform.telemetrySubscription",
            Self::LogsDropped(_) => "platform.logsDropped",
            Self::Function(_) => "function",
            Self::ExtensionLog(_) => "extension",
            Self::Other { kind, .. } => kind,
        }
    }

    /// The stream a subscription takes it from.
    pub fn stream(&self) -> Stream {
        match self {
            Self::Function(_) => Stream::Function,
            Self::ExtensionLog(_) => Stream::Extension,
            _ => Stream::Platform,
        }
    }
}

/// What a subscription asks for: Lambda's three streams of telemetry (`types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Stream {
    /// The `platform.*` events.
    Platform,
    /// The function's log lines.
    Function,
    /// The extensions' log lines.
    Extension,
}

/// `platform.initStart`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InitStart {
    /// `on-demand`, `provisioned-concurrency` or `snap-start`.
    pub initialization_type: String,
    /// `init` (or `invoke` when init is run again within an invocation).
    pub phase: String,
    /// The function's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// The function's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_version: Option<String>,
    /// The runtime's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
    /// The runtime's version ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version_arn: Option<String>,
}

impl InitStart {
    /// The start of `function`'s (`version`'s) init, of `initialization_type` in `phase`.
    pub fn new(initialization_type: &str, phase: &str, function: &str, version: &str) -> Self {
        Self {
            initialization_type: initialization_type.to_owned(),
            phase: phase.to_owned(),
            function_name: Some(function.to_owned()),
            function_version: Some(version.to_owned()),
            runtime_version: None,
            runtime_version_arn: None,
        }
    }
}

/// `platform.initRuntimeDone`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InitRuntimeDone {
    /// As in [`InitStart`].
    pub initialization_type: String,
    /// As in [`InitStart`].
    pub phase: String,
    /// `success`, `failure` or `error`.
    pub status: String,
    /// The error's type, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

/// `platform.initReport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InitReport {
    /// As in [`InitStart`].
    pub initialization_type: String,
    /// As in [`InitStart`].
    pub phase: String,
    /// `success`, `failure`, `error` or `timeout`.
    pub status: String,
    /// The error's type, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// How long init took.
    pub metrics: InitMetrics,
}

impl InitReport {
    /// An init's report: its `status`, its error's type when it failed, its duration.
    pub fn new(
        initialization_type: &str,
        phase: &str,
        status: &str,
        error_type: Option<String>,
        duration_ms: f64,
    ) -> Self {
        Self {
            initialization_type: initialization_type.to_owned(),
            phase: phase.to_owned(),
            status: status.to_owned(),
            error_type,
            metrics: InitMetrics { duration_ms },
        }
    }
}

/// The figures of [`InitReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InitMetrics {
    /// The init phase's duration.
    pub duration_ms: f64,
}

/// The X-Ray trace of an invocation, as telemetry events carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Tracing {
    /// `X-Amzn-Trace-Id`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The trace header's value (`Root=...;Parent=...;Sampled=...`).
    pub value: String,
    /// The span of the event, when Lambda traces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
}

/// `platform.start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Start {
    /// The invocation's request id.
    pub request_id: String,
    /// The function's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
}

/// `platform.runtimeDone`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RuntimeDone {
    /// The invocation's request id.
    pub request_id: String,
    /// `success`, `failure`, `error` or `timeout`.
    pub status: String,
    /// The error's type, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Its figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<RuntimeDoneMetrics>,
    /// Its trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
}

/// The figures of [`RuntimeDone`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RuntimeDoneMetrics {
    /// From the invocation's start to the runtime's report.
    pub duration_ms: f64,
    /// The response's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_bytes: Option<u64>,
}

/// `platform.report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Report {
    /// The invocation's request id.
    pub request_id: String,
    /// `success`, `failure`, `error` or `timeout`.
    pub status: String,
    /// The error's type, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// The `REPORT` line's figures.
    pub metrics: ReportMetrics,
    /// Its trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
}

impl Report {
    /// An invocation's report: its `status`, its error's type when it failed, its figures.
    pub fn new(
        request_id: &str,
        status: &str,
        error_type: Option<String>,
        metrics: ReportMetrics,
    ) -> Self {
        Self {
            request_id: request_id.to_owned(),
            status: status.to_owned(),
            error_type,
            metrics,
            tracing: None,
        }
    }
}

/// The figures of [`Report`], as the `REPORT` log line prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReportMetrics {
    /// The invocation's duration, extensions' time after the response included.
    pub duration_ms: f64,
    /// The duration billed.
    pub billed_duration_ms: u64,
    /// The memory configured.
    #[serde(rename = "memorySizeMB")]
    pub memory_size_mb: u64,
    /// The most memory used.
    #[serde(rename = "maxMemoryUsedMB")]
    pub max_memory_used_mb: u64,
    /// The init's duration, on an invocation that had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_duration_ms: Option<f64>,
}

impl ReportMetrics {
    /// The figures of a `REPORT` line.
    pub fn new(
        duration_ms: f64,
        billed_duration_ms: u64,
        memory_size_mb: u64,
        max_memory_used_mb: u64,
        init_duration_ms: Option<f64>,
    ) -> Self {
        Self {
            duration_ms,
            billed_duration_ms,
            memory_size_mb,
            max_memory_used_mb,
            init_duration_ms,
        }
    }
}

/// `platform.extension`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ExtensionRegistered {
    /// The extension's name.
    pub name: String,
    /// `Ready`.
    pub state: String,
    /// The events it registered for.
    pub events: Vec<String>,
    /// The error's type, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

/// `platform.telemetrySubscription`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TelemetrySubscription {
    /// The subscribing extension's name.
    pub name: String,
    /// `Subscribed`.
    pub state: String,
    /// The streams it subscribed to.
    pub types: Vec<Stream>,
}

/// `platform.logsDropped`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LogsDropped {
    /// Why.
    pub reason: String,
    /// How many records.
    pub dropped_records: u64,
    /// How many bytes.
    pub dropped_bytes: u64,
}

/// The wire form of an event.
#[derive(Serialize, Deserialize)]
struct Wire<T> {
    time: String,
    #[serde(rename = "type")]
    kind: String,
    record: T,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn wire<'a, T: Serialize, S: Serializer>(
            event: &'a Event,
            record: &'a T,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            Wire {
                time: event.time.as_str(),
                kind: event.record.kind(),
                record,
            }
            .serialize(serializer)
        }
        // `Wire` borrows here; the owned form is for reading.
        #[derive(Serialize)]
        struct Wire<'a, T> {
            time: &'a str,
            #[serde(rename = "type")]
            kind: &'a str,
            record: &'a T,
        }
        match &self.record {
            Record::InitStart(record) => wire(self, record, serializer),
            Record::InitRuntimeDone(record) => wire(self, record, serializer),
            Record::InitReport(record) => wire(self, record, serializer),
            Record::Start(record) => wire(self, record, serializer),
            Record::RuntimeDone(record) => wire(self, record, serializer),
            Record::Report(record) => wire(self, record, serializer),
            Record::Extension(record) => wire(self, record, serializer),
            Record::TelemetrySubscription(record) => wire(self, record, serializer),
            Record::LogsDropped(record) => wire(self, record, serializer),
            Record::Function(record)
            | Record::ExtensionLog(record)
            | Record::Other { record, .. } => wire(self, record, serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Wire { time, kind, record } = Wire::<Value>::deserialize(deserializer)?;
        fn typed<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            kind: &str,
            record: Value,
        ) -> Result<T, E> {
            serde_json::from_value(record)
                .map_err(|error| E::custom(format_args!("a `{kind}` record: {error}")))
        }
        let record = match kind.as_str() {
            "platform.initStart" => Record::InitStart(typed(&kind, record)?),
            "platform.initRuntimeDone" => Record::InitRuntimeDone(typed(&kind, record)?),
            "platform.initReport" => Record::InitReport(typed(&kind, record)?),
            "platform.start" => Record::Start(typed(&kind, record)?),
            "platform.runtimeDone" => Record::RuntimeDone(typed(&kind, record)?),
            "platform.report" => Record::Report(typed(&kind, record)?),
            "platform.extension" => Record::Extension(typed(&kind, record)?),
            "platform.telemetrySubscription" => {
                Record::TelemetrySubscription(typed(&kind, record)?)
            }
            "platform.logsDropped" => Record::LogsDropped(typed(&kind, record)?),
            "function" => Record::Function(record),
            "extension" => Record::ExtensionLog(record),
            "" => return Err(D::Error::custom("a telemetry event without a `type`")),
            _ => Record::Other { kind, record },
        };
        Ok(Self { time, record })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_lambdas_shapes_reads_and_writes_back_the_same() {
        let batch = serde_json::json!([
            {"time": "2026-12-03T10:00:00.000Z", "type": "platform.initStart",
             "record": {"initializationType": "on-demand", "phase": "init",
                        "functionName": "orders", "functionVersion": "$LATEST"}},
            {"time": "2026-12-03T10:00:00.010Z", "type": "platform.start",
             "record": {"requestId": "r-1", "version": "$LATEST",
                        "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-5f3-0c0;Sampled=1"}}},
            {"time": "2026-12-03T10:00:00.011Z", "type": "function", "record": "hello\n"},
            {"time": "2026-12-03T10:00:00.012Z", "type": "function",
             "record": {"level": "INFO", "message": "hello"}},
            {"time": "2026-12-03T10:00:00.020Z", "type": "platform.report",
             "record": {"requestId": "r-1", "status": "success",
                        "metrics": {"durationMs": 9.5, "billedDurationMs": 10,
                                    "memorySizeMB": 128, "maxMemoryUsedMB": 20}}},
            {"time": "2026-12-03T10:00:00.030Z", "type": "platform.restoreStart",
             "record": {"runtimeVersion": "x"}}
        ]);
        let events: Vec<Event> = serde_json::from_value(batch.clone()).unwrap();
        assert!(matches!(&events[1].record, Record::Start(start) if start.request_id == "r-1"));
        assert!(matches!(&events[4].record, Record::Report(report)
            if report.metrics.memory_size_mb == 128 && report.metrics.billed_duration_ms == 10));
        assert!(
            matches!(&events[5].record, Record::Other { kind, .. } if kind == "platform.restoreStart")
        );
        assert_eq!(events[2].record.stream(), Stream::Function);
        assert_eq!(serde_json::to_value(&events).unwrap(), batch);
    }

    #[test]
    fn a_known_type_with_a_broken_record_names_the_type() {
        let error = serde_json::from_value::<Event>(serde_json::json!(
            {"time": "t", "type": "platform.report", "record": {"requestId": "r"}}
        ))
        .unwrap_err();
        assert!(error.to_string().contains("`platform.report`"), "{error}");
    }
}
