//! Log lines in Lambda's shapes, each carrying the request id of the invocation that wrote it,
//! and the span tree they were written in.
//!
//! A small `tracing` subscriber of its own: it formats events straight into a reused buffer and
//! writes each line with one call. The shapes follow AWS's "Configuring advanced logging
//! controls for Lambda functions": JSON lines with `timestamp`, `level`, `message` and
//! `requestId`, so CloudWatch's log-level filtering and Logs Insights work; text lines as the
//! managed runtimes write them.
//!
//! Spans are tracked (id, parent, fields) only where something reads them: in JSON format, whose
//! lines carry the fields of the spans they were written in (`"spans": [{"name": .., field: ..},
//! ..]`, outermost first), and in invocations whose trace is recorded (feature `trace`), whose
//! spans are exported. Elsewhere a span costs what it costs with no subscriber: one shared id.
//! With `trace`, JSON lines of a recorded invocation also carry `xray_trace_id` (X-Ray's form,
//! `1-5759e988-bd862e3fe1be46a994272793`, the key Powertools for AWS Lambda uses), and
//! `trace_id` and `span_id` (OpenTelemetry's hex, as its log data model names them).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_core::span::Current;

use crate::config::{LogFormat, LogLevel};
use crate::context::HeaderStr;

/// What the logger knows of the invocation whose future is being polled.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) request_id: HeaderStr,
    /// The invocation's recorded trace, when it is sampled.
    #[cfg(feature = "trace")]
    pub(crate) trace: Option<std::sync::Arc<crate::trace::Active>>,
}

impl Scope {
    pub(crate) fn new(request_id: HeaderStr) -> Self {
        Self {
            request_id,
            #[cfg(feature = "trace")]
            trace: None,
        }
    }
}

tokio::task_local! {
    /// The invocation whose future is being polled.
    static SCOPE: Scope;
}

/// Runs `future` as part of the invocation `scope`: everything it logs carries its request id.
///
/// A task-local rather than a span: it costs a thread-local swap per poll, works when several
/// invocations share a thread, and leaves the user's own spans alone.
pub(crate) fn in_invocation<F: Future>(scope: Scope, future: F) -> impl Future<Output = F::Output> {
    SCOPE.scope(scope, future)
}

/// Makes `future` part of the current invocation and of the current span, wherever it runs: its
/// log lines carry the invocation's request id (and, in JSON, the span's fields), and the spans
/// it opens are children of the current span, recorded with the invocation's trace.
///
/// Tasks a handler spawns do not inherit the invocation on their own: wrap their future. It
/// works with any spawner (`tokio::spawn`, a `JoinSet`, `spawn_local`); outside an invocation it
/// carries only the current span.
///
/// # Examples
///
/// ```no_run
/// use lambda_kit::{Context, Diagnostic};
///
/// async fn handler(order: String, _ctx: Context) -> Result<(), Diagnostic> {
///     let audit = tokio::spawn(lambda_kit::instrument(async move {
///         tracing::info!(%order, "audited"); // carries the invocation's request id
///     }));
///     audit.await.map_err(|error| Diagnostic::new("AuditFailed", error.to_string()))
/// }
/// ```
pub fn instrument<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let scope = SCOPE.try_with(Scope::clone).ok();
    let span = tracing::Span::current();
    let mut future = Box::pin(future);
    std::future::poll_fn(move |cx| {
        let _entered = span.enter();
        match &scope {
            Some(scope) => SCOPE.sync_scope(scope.clone(), || future.as_mut().poll(cx)),
            None => future.as_mut().poll(cx),
        }
    })
}

/// The recorded trace of the invocation being polled and the span a new span belongs under:
/// the innermost recorded span entered on this thread (`Some` id), else the invocation's own
/// (`None`). `None` outside a recorded invocation.
#[cfg(all(feature = "trace", feature = "aws"))]
pub(crate) fn current_trace() -> Option<(std::sync::Arc<crate::trace::Active>, Option<u64>)> {
    if let Some(current) = current() {
        // Entered spans are tracked only by the Lambda logger: another subscriber's are not
        // read.
        let found = tracing::dispatcher::get_default(|dispatch| {
            let logger = dispatch.downcast_ref::<Logger>()?;
            let spans = logger.spans();
            let mut next = spans.get(&current);
            while let Some(span) = next {
                if let Some(recording) = &span.recording {
                    return Some((
                        std::sync::Arc::clone(&recording.active),
                        Some(recording.span_id),
                    ));
                }
                next = span.parent.as_ref().and_then(|parent| spans.get(parent));
            }
            None
        });
        if found.is_some() {
            return found;
        }
    }
    let active = SCOPE.try_with(|scope| scope.trace.clone()).ok().flatten()?;
    Some((active, None))
}

/// Installs the Lambda logger as the global subscriber, unless one is installed already.
pub(crate) fn install(format: LogFormat, level: LogLevel) {
    // An `Err` means the user installed their own subscriber first: theirs wins.
    if tracing::subscriber::set_global_default(Logger::new(format, level, Sink::Stdout)).is_ok() {
        #[cfg(feature = "log")]
        bridge_log(level_filter(level));
    }
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

/// The id of every span that is not tracked.
const UNTRACKED: u64 = u64::MAX;

/// The subscriber.
#[derive(Debug)]
pub(crate) struct Logger {
    format: LogFormat,
    max_level: LevelFilter,
    sink: Sink,
    spans: Mutex<Spans>,
}

/// The tracked spans, by id (index + 1).
#[derive(Debug, Default)]
struct Spans {
    slots: Vec<Option<SpanData>>,
    free: Vec<usize>,
}

#[derive(Debug)]
struct SpanData {
    /// Handles to it: `Span`s, and its children (a child keeps its parent open).
    refs: usize,
    metadata: &'static Metadata<'static>,
    parent: Option<Id>,
    fields: Vec<(&'static str, FieldValue)>,
    #[cfg(feature = "trace")]
    recording: Option<crate::trace::Recording>,
}

/// A span field's value, as it was recorded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldValue {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl Spans {
    fn get(&self, id: &Id) -> Option<&SpanData> {
        let index = usize::try_from(id.into_u64()).ok()?.checked_sub(1)?;
        self.slots.get(index)?.as_ref()
    }

    fn get_mut(&mut self, id: &Id) -> Option<&mut SpanData> {
        let index = usize::try_from(id.into_u64()).ok()?.checked_sub(1)?;
        self.slots.get_mut(index)?.as_mut()
    }

    fn insert(&mut self, span: SpanData) -> Id {
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index] = Some(span);
                index
            }
            None => {
                self.slots.push(Some(span));
                self.slots.len() - 1
            }
        };
        Id::from_u64(index as u64 + 1)
    }

    fn remove(&mut self, id: &Id) -> Option<SpanData> {
        let index = usize::try_from(id.into_u64()).ok()?.checked_sub(1)?;
        let span = self.slots.get_mut(index)?.take()?;
        self.free.push(index);
        Some(span)
    }
}

thread_local! {
    /// The tracked spans entered on this thread, innermost last.
    static STACK: RefCell<Vec<Id>> = const { RefCell::new(Vec::new()) };
}

/// The innermost tracked span entered on this thread.
fn current() -> Option<Id> {
    STACK.with(|stack| stack.borrow().last().cloned())
}

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Trace => LevelFilter::TRACE,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error | LogLevel::Fatal => LevelFilter::ERROR,
    }
}

impl Logger {
    pub(crate) fn new(format: LogFormat, level: LogLevel, sink: Sink) -> Self {
        Self {
            format,
            max_level: level_filter(level),
            sink,
            spans: Mutex::default(),
        }
    }

    fn spans(&self) -> std::sync::MutexGuard<'_, Spans> {
        // Span data stays consistent across a panic elsewhere: each change is one assignment.
        self.spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes one line: `fields` at `level`, written in the span `current`.
    fn write_line(&self, level: Level, fields: &Fields, current: Option<&Id>) {
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                self.format(level, fields, current, &mut line);
                self.sink.write(line.as_bytes());
            }
            // Logging from inside a field's `Debug` impl: use a fresh buffer.
            Err(_) => {
                let mut line = String::new();
                self.format(level, fields, current, &mut line);
                self.sink.write(line.as_bytes());
            }
        });
    }

    fn format(&self, level: Level, fields: &Fields, current: Option<&Id>, line: &mut String) {
        let level = level_name(level);
        let scope = SCOPE.try_with(Scope::clone).ok();
        match self.format {
            LogFormat::Json => {
                line.push_str("{\"timestamp\":\"");
                push_timestamp(line, SystemTime::now());
                line.push_str("\",\"level\":\"");
                line.push_str(level);
                line.push_str("\",\"message\":");
                push_json_str(line, &fields.message);
                if let Some(scope) = &scope {
                    line.push_str(",\"requestId\":");
                    push_json_str(line, scope.request_id.as_str());
                }
                self.push_span_context(line, scope.as_ref(), current);
                line.push_str(&fields.rest);
                line.push('}');
            }
            LogFormat::Text => {
                line.push('[');
                line.push_str(level);
                line.push_str("]\t");
                push_timestamp(line, SystemTime::now());
                line.push('\t');
                if let Some(scope) = &scope {
                    line.push_str(scope.request_id.as_str());
                    line.push('\t');
                }
                line.push_str(&fields.message);
                line.push_str(&fields.rest);
            }
        }
        line.push('\n');
    }

    /// The JSON keys of the spans a line was written in, and of its trace.
    #[cfg_attr(not(feature = "trace"), allow(unused_variables))]
    fn push_span_context(&self, line: &mut String, scope: Option<&Scope>, current: Option<&Id>) {
        #[cfg(feature = "trace")]
        let mut trace: Option<(u128, u64)> = scope
            .and_then(|scope| scope.trace.as_ref())
            .map(|active| (active.trace_id, active.span_id));
        if let Some(current) = current {
            let spans = self.spans();
            let mut chain = Vec::new();
            let mut next = spans.get(current);
            while let Some(span) = next {
                chain.push(span);
                next = span.parent.as_ref().and_then(|parent| spans.get(parent));
            }
            #[cfg(feature = "trace")]
            if let Some(recording) = chain.iter().find_map(|span| span.recording.as_ref()) {
                trace = Some((recording.active.trace_id, recording.span_id));
            }
            if !chain.is_empty() {
                line.push_str(",\"spans\":[");
                for (at, span) in chain.iter().rev().enumerate() {
                    if at > 0 {
                        line.push(',');
                    }
                    line.push_str("{\"name\":");
                    push_json_str(line, span.metadata.name());
                    for (name, value) in &span.fields {
                        line.push(',');
                        push_json_str(line, name);
                        line.push(':');
                        push_json_value(line, value);
                    }
                    line.push('}');
                }
                line.push(']');
            }
        }
        #[cfg(feature = "trace")]
        if let Some((trace_id, span_id)) = trace {
            line.push_str(",\"xray_trace_id\":\"");
            line.push_str(&crate::trace::xray_trace_id(trace_id));
            let _ = write!(
                line,
                "\",\"trace_id\":\"{trace_id:032x}\",\"span_id\":\"{span_id:016x}\""
            );
        }
    }

    /// Whether new spans are tracked outside a recorded trace.
    fn tracks_spans(&self) -> bool {
        self.format == LogFormat::Json
    }

    /// A `log` crate record, as a line.
    #[cfg(feature = "log")]
    fn log_record(&self, record: &log::Record<'_>) {
        let level = match record.level() {
            log::Level::Error => Level::ERROR,
            log::Level::Warn => Level::WARN,
            log::Level::Info => Level::INFO,
            log::Level::Debug => Level::DEBUG,
            log::Level::Trace => Level::TRACE,
        };
        if level > self.max_level {
            return;
        }
        let mut fields = Fields::new(self.format);
        let _ = write!(fields.message, "{}", record.args());
        let current = current();
        self.write_line(level, &fields, current.as_ref());
    }
}

impl Subscriber for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= &self.max_level
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max_level)
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let parent = if let Some(parent) = attributes.parent() {
            (parent.into_u64() != UNTRACKED).then(|| parent.clone())
        } else if attributes.is_contextual() {
            current()
        } else {
            None
        };
        #[cfg(feature = "trace")]
        let trace = SCOPE.try_with(|scope| scope.trace.clone()).ok().flatten();
        #[cfg(feature = "trace")]
        let recorded = trace.is_some();
        #[cfg(not(feature = "trace"))]
        let recorded = false;
        if !(recorded || parent.is_some() || self.tracks_spans()) {
            // Spans are not tracked here, so every span may share one id (as `tracing`'s
            // own `NoSubscriber` does).
            return Id::from_u64(UNTRACKED);
        }
        let mut fields = Vec::new();
        attributes.record(&mut Collect(&mut fields));
        let mut spans = self.spans();
        #[cfg(feature = "trace")]
        let recording = {
            let of_parent = parent
                .as_ref()
                .and_then(|parent| spans.get(parent))
                .and_then(|parent| parent.recording.as_ref())
                .map(|recording| (std::sync::Arc::clone(&recording.active), recording.span_id));
            match of_parent {
                Some((active, span_id)) => {
                    Some(crate::trace::Recording::start(active, Some(span_id)))
                }
                None => trace.map(|active| crate::trace::Recording::start(active, None)),
            }
        };
        let parent = parent.filter(|parent| match spans.get_mut(parent) {
            Some(span) => {
                span.refs += 1;
                true
            }
            None => false,
        });
        spans.insert(SpanData {
            refs: 1,
            metadata: attributes.metadata(),
            parent,
            fields,
            #[cfg(feature = "trace")]
            recording,
        })
    }

    fn record(&self, id: &Id, values: &Record<'_>) {
        if id.into_u64() == UNTRACKED {
            return;
        }
        let mut fields = Vec::new();
        values.record(&mut Collect(&mut fields));
        if let Some(span) = self.spans().get_mut(id) {
            for (name, value) in fields {
                match span.fields.iter_mut().find(|(key, _)| *key == name) {
                    Some(slot) => slot.1 = value,
                    None => span.fields.push((name, value)),
                }
            }
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::new(self.format);
        event.record(&mut fields);
        let current = match event.parent() {
            Some(parent) => (parent.into_u64() != UNTRACKED).then(|| parent.clone()),
            None if event.is_contextual() => current(),
            None => None,
        };
        self.write_line(*event.metadata().level(), &fields, current.as_ref());
        #[cfg(feature = "trace")]
        self.record_event(event, &fields, current.as_ref());
    }

    fn enter(&self, id: &Id) {
        if id.into_u64() != UNTRACKED {
            STACK.with(|stack| stack.borrow_mut().push(id.clone()));
        }
    }

    fn exit(&self, id: &Id) {
        if id.into_u64() != UNTRACKED {
            STACK.with(|stack| {
                let mut stack = stack.borrow_mut();
                if let Some(at) = stack.iter().rposition(|entered| entered == id) {
                    stack.remove(at);
                }
            });
        }
    }

    fn clone_span(&self, id: &Id) -> Id {
        if id.into_u64() != UNTRACKED
            && let Some(span) = self.spans().get_mut(id)
        {
            span.refs += 1;
        }
        id.clone()
    }

    fn try_close(&self, id: Id) -> bool {
        if id.into_u64() == UNTRACKED {
            return false;
        }
        let mut closing = Some(id);
        let mut first = true;
        let mut closed = false;
        while let Some(id) = closing.take() {
            let span = {
                let mut spans = self.spans();
                let Some(span) = spans.get_mut(&id) else {
                    break;
                };
                span.refs = span.refs.saturating_sub(1);
                if span.refs > 0 {
                    break;
                }
                spans.remove(&id)
            };
            let Some(span) = span else { break };
            closed |= first;
            first = false;
            #[cfg(feature = "trace")]
            if let Some(recording) = span.recording {
                recording.finish(span.metadata.name(), attributes(span.fields));
            }
            // The child's hold on its parent ends with it.
            closing = span.parent;
        }
        closed
    }

    fn current_span(&self) -> Current {
        match current() {
            Some(id) => match self.spans().get(&id) {
                Some(span) => Current::new(id, span.metadata),
                None => Current::none(),
            },
            None => Current::none(),
        }
    }
}

#[cfg(feature = "trace")]
impl Logger {
    /// Records `event` on the span it was written in, when that span (or the invocation) is
    /// recorded.
    fn record_event(&self, event: &Event<'_>, fields: &Fields, current: Option<&Id>) {
        let recorded = match current {
            Some(current) => self
                .spans()
                .get(current)
                .is_some_and(|span| span.recording.is_some()),
            None => false,
        };
        let active = if recorded {
            None
        } else {
            let active = SCOPE.try_with(|scope| scope.trace.clone()).ok().flatten();
            if active.is_none() {
                return;
            }
            active
        };
        let mut values = Vec::new();
        event.record(&mut Collect(&mut values));
        values.retain(|(name, _)| *name != "message");
        let name = if fields.message.is_empty() {
            event.metadata().name().to_owned()
        } else {
            fields.message.clone()
        };
        let span_event = crate::trace::SpanEvent {
            time: SystemTime::now(),
            name,
            attributes: attributes(values),
        };
        let error = *event.metadata().level() == Level::ERROR;
        match (active, current) {
            (Some(active), _) => active.event(span_event, error),
            (None, Some(current)) => {
                if let Some(recording) = self
                    .spans()
                    .get_mut(current)
                    .and_then(|span| span.recording.as_mut())
                {
                    recording.event(span_event, error);
                }
            }
            (None, None) => {}
        }
    }
}

/// Span fields as trace attributes.
#[cfg(feature = "trace")]
fn attributes(fields: Vec<(&'static str, FieldValue)>) -> crate::trace::Attributes {
    use crate::trace::Value;
    fields
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                FieldValue::Str(text) => Value::Str(text.into()),
                FieldValue::I64(number) => Value::I64(number),
                FieldValue::U64(number) => Value::U64(number),
                FieldValue::F64(number) => Value::F64(number),
                FieldValue::Bool(flag) => Value::Bool(flag),
            };
            (std::borrow::Cow::Borrowed(name), value)
        })
        .collect()
}

/// Records `log` crate records through the Lambda logger of the thread (or the process).
#[cfg(feature = "log")]
pub(crate) fn bridge_log(level: LevelFilter) {
    /// The `log` logger: hands each record to the current `tracing` dispatcher when it is the
    /// Lambda logger.
    struct Bridge;

    impl log::Log for Bridge {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }

        fn log(&self, record: &log::Record<'_>) {
            tracing::dispatcher::get_default(|dispatch| {
                if let Some(logger) = dispatch.downcast_ref::<Logger>() {
                    logger.log_record(record);
                }
            });
        }

        fn flush(&self) {}
    }

    if log::set_logger(&Bridge).is_ok() {
        log::set_max_level(match level {
            LevelFilter::TRACE => log::LevelFilter::Trace,
            LevelFilter::DEBUG => log::LevelFilter::Debug,
            LevelFilter::INFO => log::LevelFilter::Info,
            LevelFilter::WARN => log::LevelFilter::Warn,
            LevelFilter::ERROR => log::LevelFilter::Error,
            _ => log::LevelFilter::Off,
        });
    }
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

/// Collects fields as values, for spans.
struct Collect<'a>(&'a mut Vec<(&'static str, FieldValue)>);

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .push((field.name(), FieldValue::Str(value.to_owned())));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .push((field.name(), FieldValue::Str(format!("{value:?}"))));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), FieldValue::I64(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), FieldValue::U64(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), FieldValue::Bool(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), FieldValue::F64(value)));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .push((field.name(), FieldValue::Str(value.to_string())));
    }
}

/// Appends a span field's value as JSON.
fn push_json_value(out: &mut String, value: &FieldValue) {
    match value {
        FieldValue::Str(text) => push_json_str(out, text),
        FieldValue::I64(number) => {
            let _ = write!(out, "{number}");
        }
        FieldValue::U64(number) => {
            let _ = write!(out, "{number}");
        }
        FieldValue::F64(number) if number.is_finite() => {
            let _ = write!(out, "{number}");
        }
        FieldValue::F64(number) => push_json_str(out, &number.to_string()),
        FieldValue::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
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
pub(crate) fn push_json_str(out: &mut String, value: &str) {
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

    /// In JSON, spans are tracked: a line carries its spans' fields, outermost first, a parent
    /// stays open while a child holds it, and every slot is freed once all are closed. In text,
    /// outside a recorded trace, nothing is tracked.
    #[cfg(feature = "testing")]
    #[test]
    fn spans_are_tracked_only_where_read_and_freed_when_closed() {
        use std::sync::Arc;

        let buffer = Arc::new(Mutex::new(Vec::new()));
        let json = tracing::Dispatch::new(Logger::new(
            LogFormat::Json,
            LogLevel::Info,
            Sink::Memory(Arc::clone(&buffer)),
        ));
        tracing::dispatcher::with_default(&json, || {
            let outer = tracing::info_span!("outer", a = 1);
            let inner = outer.in_scope(|| tracing::info_span!("inner", b = "x"));
            drop(outer);
            inner.record("b", "y");
            inner.in_scope(|| tracing::info!("hello"));
            drop(inner);
            tracing::info!("after");
        });
        let logger = json.downcast_ref::<Logger>().unwrap();
        assert!(logger.spans().slots.iter().all(Option::is_none));
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(
            lines[0]["spans"],
            serde_json::json!([{"name": "outer", "a": 1}, {"name": "inner", "b": "y"}])
        );
        assert!(lines[1].get("spans").is_none(), "{}", lines[1]);

        let plain = tracing::Dispatch::new(Logger::new(
            LogFormat::Text,
            LogLevel::Info,
            Sink::Memory(Arc::default()),
        ));
        tracing::dispatcher::with_default(&plain, || {
            let span = tracing::info_span!("untracked", a = 1);
            span.in_scope(|| tracing::info!("inside"));
        });
        assert!(
            plain
                .downcast_ref::<Logger>()
                .unwrap()
                .spans()
                .slots
                .is_empty()
        );
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
