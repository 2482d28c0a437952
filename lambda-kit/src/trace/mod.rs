//! Spans per invocation, continued from the caller's trace and exported after the response.
//!
//! Each invocation whose trace header (`Lambda-Runtime-Trace-Id`, the value of
//! `_X_AMZN_TRACE_ID`) says `Sampled=1` is recorded as one span following OpenTelemetry's FaaS
//! semantic conventions: `faas.invocation_id`, `faas.coldstart`, `faas.trigger` (read from the
//! event's shape), `cloud.resource_id` (the invoked ARN), `cloud.account.id`, and the function's
//! `faas.name`, `faas.version`, `faas.max_memory`, `cloud.provider`, `cloud.region`. Its trace id
//! is the header's `Root`, its parent the header's `Parent`. The handler's own `tracing` spans
//! become its children (the Lambda logger tracks them), their fields attributes, their events
//! span events; an `ERROR` event marks its span as failed, and a handler that returns `Err`
//! marks the invocation's span. An invocation without `Sampled=1` records nothing: the loop
//! parses its header and goes on. Without a header at all, OTLP starts a trace of its own (as
//! OpenTelemetry's default parent-based sampler samples a root), X-Ray records nothing (there is
//! no segment of Lambda's to attach to).
//!
//! # When export happens
//!
//! Finished spans are queued; the queue is sent after the invocation's result has been posted
//! to the Runtime API and before the loop asks for the next invocation, bounded by
//! `OTEL_EXPORTER_OTLP_TIMEOUT` (300 ms when unset). The issue this answers suggested an
//! internal extension that holds the instance until export is done. It is not needed, and it
//! would cost every invocation: Lambda freezes a runtime only when it calls `/next`, so work
//! between `/response` and `/next` runs after the caller has its response, exactly the window an
//! extension would hold open; and an internal extension registered for `INVOKE` costs each
//! invocation about 11,800 instructions (BENCHMARKS.md, "Extensions", about half an echo
//! invocation), which would break the bound of an unsampled invocation costing at most 5% more
//! than one without tracing. The loop knows nothing of traces: it calls a generic
//! after-response hook (`runtime::Observer`) that this module implements, which an unsampled
//! invocation leaves with nothing to do.
//!
//! Spans that end after the last export (in a task the handler spawned, or in the shutdown
//! hook) are exported when the runtime stops on SIGTERM, within the same timeout: with a tracer
//! the runtime listens for SIGTERM even without a shutdown hook, since Lambda sends it whenever
//! an extension (an OpenTelemetry collector's, say) is registered.
//!
//! AWS SDK calls become client spans through `lambda_kit::aws::TraceInterceptor` (feature
//! `aws`), which starts its spans under the current one as `tracing` spans are.

mod otlp;
pub(crate) mod settings;
mod xray;

use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api::endpoints::NextInvocation;
use crate::context::HeaderStr;
use crate::logging::Scope;
use crate::{Config, Diagnostic, Error};

pub(crate) use settings::Settings;

/// A span attribute's value, as both formats carry it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(Cow<'static, str>),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// Attributes in the order they were recorded; a later value of a key replaces the earlier.
pub(crate) type Attributes = Vec<(Cow<'static, str>, Value)>;

/// Sets `key` to `value`, replacing an earlier value.
pub(crate) fn set_attribute(attributes: &mut Attributes, key: Cow<'static, str>, value: Value) {
    match attributes.iter_mut().find(|(name, _)| *name == key) {
        Some(slot) => slot.1 = value,
        None => attributes.push((key, value)),
    }
}

/// OpenTelemetry's span kinds, by their OTLP numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl Kind {
    /// The kind a span's `otel.kind` field names (the convention of `tracing` users).
    pub(crate) fn from_field(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "internal" => Some(Self::Internal),
            "server" => Some(Self::Server),
            "client" => Some(Self::Client),
            "producer" => Some(Self::Producer),
            "consumer" => Some(Self::Consumer),
            _ => None,
        }
    }
}

/// Something that happened during a span: a `tracing` event inside it.
#[derive(Debug, Clone)]
pub(crate) struct SpanEvent {
    pub(crate) time: SystemTime,
    pub(crate) name: String,
    pub(crate) attributes: Attributes,
}

/// A finished span, waiting for export.
#[derive(Debug, Clone)]
pub(crate) struct SpanRecord {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) parent_id: Option<u64>,
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: Kind,
    pub(crate) start: SystemTime,
    pub(crate) end: SystemTime,
    pub(crate) attributes: Attributes,
    pub(crate) events: Vec<SpanEvent>,
    /// Set when the span failed: the status message.
    pub(crate) error: Option<String>,
}

/// Finished spans, shared by every recorded invocation and sent after each response.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    spans: Mutex<Vec<SpanRecord>>,
    /// Whether `spans` may hold something: read without the lock after every invocation.
    pending: AtomicBool,
}

impl Queue {
    pub(crate) fn push(&self, span: SpanRecord) {
        lock(&self.spans).push(span);
        self.pending.store(true, Ordering::Release);
    }

    fn take(&self) -> Vec<SpanRecord> {
        if !self.pending.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        std::mem::take(&mut *lock(&self.spans))
    }
}

/// A recorded invocation: its trace, its span, and where its spans go. The logger's scope holds
/// it for the handler's future.
#[derive(Debug)]
pub(crate) struct Active {
    pub(crate) trace_id: u128,
    /// The invocation's span.
    pub(crate) span_id: u64,
    /// The caller's span (the header's `Parent`).
    parent_id: Option<u64>,
    start: SystemTime,
    cold_start: bool,
    trigger: Trigger,
    request_id: HeaderStr,
    invoked_arn: HeaderStr,
    pub(crate) queue: Arc<Queue>,
    /// Events logged in the invocation outside any span of the handler's, and whether one was
    /// an error.
    events: Mutex<(Vec<SpanEvent>, bool)>,
}

impl Active {
    /// Records an event outside the handler's spans on the invocation's span.
    pub(crate) fn event(&self, event: SpanEvent, error: bool) {
        let mut events = lock(&self.events);
        events.0.push(event);
        events.1 |= error;
    }
}

/// The trace id in X-Ray's form: `1-{8 hex digits of epoch seconds}-{24 hex digits}`.
pub(crate) fn xray_trace_id(trace_id: u128) -> String {
    format!(
        "1-{:08x}-{:024x}",
        (trace_id >> 96) as u32,
        trace_id & ((1 << 96) - 1)
    )
}

/// A handler's span being recorded.
#[derive(Debug)]
pub(crate) struct Recording {
    pub(crate) active: Arc<Active>,
    pub(crate) span_id: u64,
    parent_id: u64,
    start: SystemTime,
    events: Vec<SpanEvent>,
    error: Option<String>,
}

impl Recording {
    /// Starts recording a span under `parent_id` (a span of the handler's, or the invocation's).
    pub(crate) fn start(active: Arc<Active>, parent_id: Option<u64>) -> Self {
        let parent_id = parent_id.unwrap_or(active.span_id);
        Self {
            active,
            span_id: random_id(),
            parent_id,
            start: SystemTime::now(),
            events: Vec::new(),
            error: None,
        }
    }

    pub(crate) fn event(&mut self, event: SpanEvent, error: bool) {
        if error && self.error.is_none() {
            self.error = Some(event.name.clone());
        }
        self.events.push(event);
    }

    /// Starts recording a span under the current one: the innermost recorded span entered on
    /// this thread, else the span of the invocation being polled. `None` outside a recorded
    /// invocation, which costs a thread-local and a task-local read.
    #[cfg(feature = "aws")]
    pub(crate) fn current() -> Option<Self> {
        let (active, parent_id) = crate::logging::current_trace()?;
        Some(Self::start(active, parent_id))
    }

    /// Queues the span for export, with its fields as attributes.
    pub(crate) fn finish(mut self, name: &'static str, fields: Attributes) {
        let mut kind = Kind::Internal;
        let mut name = Cow::Borrowed(name);
        let mut attributes = Attributes::with_capacity(fields.len());
        for (key, value) in fields {
            match (key.as_ref(), &value) {
                ("otel.kind", Value::Str(text)) => kind = Kind::from_field(text).unwrap_or(kind),
                ("otel.name", Value::Str(text)) => name = Cow::Owned(text.to_string()),
                ("otel.status_code", Value::Str(text)) if text.eq_ignore_ascii_case("error") => {
                    self.error.get_or_insert_with(String::new);
                }
                _ => attributes.push((key, value)),
            }
        }
        self.finish_as(name, kind, attributes);
    }

    /// Marks the span failed, with `message` as its status message.
    #[cfg(feature = "aws")]
    pub(crate) fn fail(&mut self, message: String) {
        self.error = Some(message);
    }

    /// Queues the span for export as it is named, of `kind`, with `attributes`.
    pub(crate) fn finish_as(self, name: Cow<'static, str>, kind: Kind, attributes: Attributes) {
        self.active.queue.push(SpanRecord {
            trace_id: self.active.trace_id,
            span_id: self.span_id,
            parent_id: Some(self.parent_id),
            name,
            kind,
            start: self.start,
            end: SystemTime::now(),
            attributes,
            events: self.events,
            error: self.error,
        });
    }
}

/// What triggered an invocation (`faas.trigger`), read from the event's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    Http,
    PubSub,
    Datasource,
    Timer,
    Other,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::PubSub => "pubsub",
            Self::Datasource => "datasource",
            Self::Timer => "timer",
            Self::Other => "other",
        }
    }

    /// Looks for the marks of AWS's event shapes near the start of the event: the `eventSource`
    /// of SQS, SNS, Kinesis, DynamoDB and S3 records, an EventBridge `detail-type` (a schedule's
    /// is `Scheduled Event`), and the `requestContext` of API Gateway, ALB and function URL
    /// requests.
    fn of(event: &[u8]) -> Self {
        let head = &event[..event.len().min(4096)];
        // One pass over the strings' opening quotes, comparing what follows.
        let mut found = Self::Other;
        for at in memchr::memchr_iter(b'"', head) {
            let rest = &head[at + 1..];
            let trigger = if rest.starts_with(b"aws:") {
                let source = &rest[4..];
                if source.starts_with(b"sqs\"")
                    || source.starts_with(b"sns\"")
                    || source.starts_with(b"kinesis\"")
                {
                    Self::PubSub
                } else if source.starts_with(b"dynamodb\"") || source.starts_with(b"s3\"") {
                    Self::Datasource
                } else {
                    continue;
                }
            } else if rest.starts_with(b"Scheduled Event\"") {
                Self::Timer
            } else if rest.starts_with(b"detail-type\"") {
                Self::PubSub
            } else if rest.starts_with(b"requestContext\"") || rest.starts_with(b"httpMethod\"") {
                Self::Http
            } else {
                continue;
            };
            // A record's source or a schedule decides; an EventBridge or HTTP mark may be
            // overruled by one later on.
            match trigger {
                Self::PubSub if rest.starts_with(b"detail-type") => {
                    if found == Self::Other {
                        found = trigger;
                    }
                }
                Self::Http => {
                    if found == Self::Other {
                        found = trigger;
                    }
                }
                decided => return decided,
            }
        }
        found
    }
}

/// The caller's trace, from an X-Ray trace header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceHeader {
    pub(crate) trace_id: u128,
    pub(crate) parent_id: Option<u64>,
    pub(crate) sampled: bool,
}

impl TraceHeader {
    /// Reads `Root=1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy;Parent=zzzzzzzzzzzzzzzz;Sampled=1`
    /// (X-Ray's "Tracing header"); other keys (`Lineage`, ...) are skipped. `None` without a
    /// valid `Root`.
    pub(crate) fn parse(header: &str) -> Option<Self> {
        let mut trace_id = None;
        let mut parent_id = None;
        let mut sampled = false;
        for part in header.split(';') {
            let (key, value) = part.trim().split_once('=')?;
            match key {
                "Root" => {
                    let mut pieces = value.split('-');
                    let (Some("1"), Some(time), Some(random), None) =
                        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
                    else {
                        return None;
                    };
                    if time.len() != 8 || random.len() != 24 {
                        return None;
                    }
                    let time = u128::from_str_radix(time, 16).ok()?;
                    let random = u128::from_str_radix(random, 16).ok()?;
                    trace_id = Some(time << 96 | random);
                }
                "Parent" if value.len() == 16 => {
                    parent_id = u64::from_str_radix(value, 16).ok();
                }
                "Sampled" => sampled = value == "1",
                _ => {}
            }
        }
        Some(Self {
            trace_id: trace_id.filter(|id| *id != 0)?,
            parent_id,
            sampled,
        })
    }
}

/// A random, non-zero 64-bit id (SplitMix64 over a per-thread state seeded from std's random
/// hasher keys): span ids need to be unique, not secret.
pub(crate) fn random_id() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            use std::hash::BuildHasher;
            std::hash::RandomState::new().hash_one(std::thread::current().id())
        });
    }
    STATE.with(|state| {
        loop {
            let mut z = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
            state.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            if z != 0 {
                return z;
            }
        }
    })
}

/// A new trace id whose first 32 bits are the epoch seconds, so that X-Ray takes it too.
fn new_trace_id() -> u128 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as u32;
    u128::from(seconds) << 96 | (u128::from(random_id()) << 32 | u128::from(random_id() as u32))
}

/// The trace integration: what the poll loop's hooks do when tracing is configured.
#[derive(Debug)]
pub(crate) struct Tracer {
    settings: Settings,
    queue: Arc<Queue>,
    cold: AtomicBool,
    config: Arc<Config>,
    /// The resource's attributes (OTLP's resource; X-Ray's invocation subsegment metadata).
    resource: Attributes,
    xray: Option<xray::Exporter>,
    otlp: Option<otlp::Exporter>,
}

impl Tracer {
    /// The tracer the configuration asks for, or `None` when no exporter is configured.
    pub(crate) fn new(config: &Arc<Config>) -> Result<Option<Self>, Error> {
        let settings = config.trace_settings();
        if !settings.enabled() {
            return Ok(None);
        }
        let service = settings
            .service_name
            .clone()
            .unwrap_or_else(|| config.function_name().to_owned());
        let mut resource: Attributes = vec![
            ("service.name".into(), Value::Str(service.into())),
            ("cloud.provider".into(), Value::Str("aws".into())),
            ("cloud.platform".into(), Value::Str("aws_lambda".into())),
            (
                "faas.name".into(),
                Value::Str(config.function_name().to_owned().into()),
            ),
            (
                "faas.version".into(),
                Value::Str(config.function_version().to_owned().into()),
            ),
            (
                "faas.max_memory".into(),
                Value::I64(i64::from(config.memory_size_mb()) * 1024 * 1024),
            ),
            ("telemetry.sdk.name".into(), Value::Str("lambda-kit".into())),
            ("telemetry.sdk.language".into(), Value::Str("rust".into())),
            (
                "telemetry.sdk.version".into(),
                Value::Str(env!("CARGO_PKG_VERSION").into()),
            ),
        ];
        if let Some(region) = config.region() {
            resource.push(("cloud.region".into(), Value::Str(region.to_owned().into())));
        }
        if let Some(stream) = config.log_stream() {
            resource.push(("faas.instance".into(), Value::Str(stream.to_owned().into())));
        }
        for (key, value) in &settings.resource {
            if key != "service.name" || settings.service_name.is_none() {
                set_attribute(
                    &mut resource,
                    key.clone().into(),
                    Value::Str(value.clone().into()),
                );
            }
        }
        let xray = settings.xray.map(xray::Exporter::new).transpose()?;
        let otlp = settings
            .otlp
            .clone()
            .map(|otlp| otlp::Exporter::new(otlp, &resource));
        Ok(Some(Self {
            settings: settings.clone(),
            queue: Arc::default(),
            cold: AtomicBool::new(true),
            config: Arc::clone(config),
            resource,
            xray,
            otlp,
        }))
    }

    /// The invocation's span, finished now.
    fn invocation_span(&self, active: &Active, failure: Option<&Diagnostic>) -> SpanRecord {
        let arn = active.invoked_arn.as_str();
        let mut attributes: Attributes = vec![
            (
                "faas.invocation_id".into(),
                Value::Str(active.request_id.as_str().to_owned().into()),
            ),
            ("faas.coldstart".into(), Value::Bool(active.cold_start)),
            (
                "faas.trigger".into(),
                Value::Str(active.trigger.as_str().into()),
            ),
        ];
        if !arn.is_empty() {
            attributes.push((
                "cloud.resource_id".into(),
                Value::Str(arn.to_owned().into()),
            ));
            // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
            if let Some(account) = arn.split(':').nth(4).filter(|account| !account.is_empty()) {
                attributes.push((
                    "cloud.account.id".into(),
                    Value::Str(account.to_owned().into()),
                ));
            }
        }
        let (mut events, event_error) = std::mem::take(&mut *lock(&active.events));
        let error = match failure {
            Some(diagnostic) => {
                // OpenTelemetry's exception event.
                events.push(SpanEvent {
                    time: SystemTime::now(),
                    name: "exception".to_owned(),
                    attributes: vec![
                        (
                            "exception.type".into(),
                            Value::Str(diagnostic.error_type().to_owned().into()),
                        ),
                        (
                            "exception.message".into(),
                            Value::Str(diagnostic.error_message().to_owned().into()),
                        ),
                    ],
                });
                Some(format!(
                    "{}: {}",
                    diagnostic.error_type(),
                    diagnostic.error_message()
                ))
            }
            None => event_error.then(String::new),
        };
        SpanRecord {
            trace_id: active.trace_id,
            span_id: active.span_id,
            parent_id: active.parent_id,
            name: self.config.function_name().to_owned().into(),
            kind: match active.trigger {
                Trigger::PubSub => Kind::Consumer,
                _ => Kind::Server,
            },
            start: active.start,
            end: SystemTime::now(),
            attributes,
            events,
            error,
        }
    }

    /// Sends `spans` to the OTLP collector, within the timeout.
    async fn export_otlp(&self, otlp: &otlp::Exporter, spans: Vec<SpanRecord>) {
        if tokio::time::timeout(self.settings.timeout, otlp.export(&spans))
            .await
            .is_err()
        {
            tracing::warn!(
                spans = spans.len(),
                "exporting traces took longer than {} ms and was abandoned (OTEL_EXPORTER_OTLP_TIMEOUT)",
                self.settings.timeout.as_millis()
            );
        }
    }
}

impl crate::runtime::Observer for Tracer {
    fn start(&self, invocation: &NextInvocation, scope: &mut Scope) {
        // Swapped for every invocation, recorded or not: the first one is the cold start.
        let cold_start = self.cold.swap(false, Ordering::Relaxed);
        // The common case on Lambda, an unsampled invocation, is told apart by a scan for
        // `Sampled=1` (the only `S` in a header Lambda writes is its `Sampled` key's) before
        // anything is parsed: the issue bounds what it may cost.
        if let Some(header) = invocation.text.xray_trace_id() {
            let header = header.as_bytes();
            if !memchr::memchr_iter(b'S', header).any(|at| header[at..].starts_with(b"Sampled=1")) {
                return;
            }
        }
        let header = invocation.text.xray_trace_id().and_then(TraceHeader::parse);
        let (trace_id, parent_id) = match header {
            Some(header) if header.sampled => (header.trace_id, header.parent_id),
            Some(_) => return,
            // No caller's trace: a root of our own, unless only X-Ray, which has no segment
            // to attach it to, would get it.
            None if self.otlp.is_some() => (new_trace_id(), None),
            None => return,
        };
        scope.trace = Some(Arc::new(Active {
            trace_id,
            span_id: random_id(),
            parent_id,
            start: SystemTime::now(),
            cold_start,
            trigger: Trigger::of(&invocation.body),
            request_id: invocation.text.share_request_id(),
            invoked_arn: invocation.text.share_invoked_function_arn(),
            queue: Arc::clone(&self.queue),
            events: Mutex::default(),
        }));
    }

    fn end(&self, scope: &Scope, failure: Option<&Diagnostic>) {
        if let Some(active) = &scope.trace {
            self.queue.push(self.invocation_span(active, failure));
        }
    }

    fn after_response(&self) -> Option<Pin<Box<dyn Future<Output = ()> + '_>>> {
        let spans = self.queue.take();
        if spans.is_empty() {
            return None;
        }
        // A datagram is sent at once or dropped: X-Ray needs no timeout, and no future.
        if let Some(xray) = &self.xray {
            xray.export(&spans, &self.resource);
        }
        let otlp = self.otlp.as_ref()?;
        Some(Box::pin(self.export_otlp(otlp, spans)))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Spans are plain data: a panic elsewhere while the lock was held leaves them usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_headers_are_read_as_xray_writes_them() {
        let header = TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:0",
        )
        .unwrap();
        assert_eq!(header.trace_id, 0x5759e988_bd862e3fe1be46a994272793);
        assert_eq!(header.parent_id, Some(0x53995c3f42cd8ad8));
        assert!(header.sampled);
        assert_eq!(
            xray_trace_id(header.trace_id),
            "1-5759e988-bd862e3fe1be46a994272793"
        );
        let unsampled = TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0");
        assert_eq!(
            unsampled.map(|h| (h.sampled, h.parent_id)),
            Some((false, None))
        );
        for bad in [
            "",
            "Sampled=1",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1-xyz-abc",
        ] {
            assert_eq!(TraceHeader::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn triggers_are_read_from_the_event_shape() {
        let cases = [
            (
                r#"{"Records":[{"eventSource":"aws:sqs","body":"x"}]}"#,
                Trigger::PubSub,
            ),
            (
                r#"{"Records":[{"EventSource":"aws:sns"}]}"#,
                Trigger::PubSub,
            ),
            (
                r#"{"Records":[{"eventSource":"aws:s3"}]}"#,
                Trigger::Datasource,
            ),
            (
                r#"{"detail-type":"Scheduled Event","source":"aws.events"}"#,
                Trigger::Timer,
            ),
            (
                r#"{"version":"2.0","requestContext":{"http":{}}}"#,
                Trigger::Http,
            ),
            (r#"{"id":1}"#, Trigger::Other),
        ];
        for (event, trigger) in cases {
            assert_eq!(Trigger::of(event.as_bytes()), trigger, "{event}");
        }
    }

    #[test]
    fn random_ids_are_not_zero_and_differ() {
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(!ids.contains(&0));
        assert_ne!(new_trace_id() >> 96, 0);
    }
}
