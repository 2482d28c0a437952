//! The local Lambda's traces: an X-Ray daemon (`xray`) and an OTLP/HTTP receiver (`otlp`) on
//! loopback, whose addresses every instance is given as Lambda gives them
//! (`AWS_XRAY_DAEMON_ADDRESS`, `_AWS_XRAY_DAEMON_ADDRESS`, `_AWS_XRAY_DAEMON_PORT`) and as
//! OpenTelemetry's exporters read them (`OTEL_EXPORTER_OTLP_ENDPOINT`, unless the function's
//! environment sets its own: Lambda sets none, so an exporter aimed elsewhere by its user
//! keeps its aim); the function segment of each sampled invocation (`AWS::Lambda::Function`,
//! its id the `Parent` the function is handed, so that what the function sends is its child);
//! and a bounded store of the last [`MAX_TRACES`] traces, which `/lambdakit/traces` lists and
//! `serve --traces` prints as waterfalls.
//!
//! One daemon and one receiver serve every function of a serve: they keep spans by trace id,
//! and a trace may cross functions.

mod otlp;
mod xray;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::task::JoinSet;

use crate::emulator::lock;
use crate::spans::{Color, Kind, Source, Span, Summary, Trace};

/// How many traces serve keeps; the oldest goes when one more comes.
pub(crate) const MAX_TRACES: usize = 1000;
/// How many spans serve keeps of one trace; past it, a trace's new spans are dropped.
const MAX_SPANS: usize = 1000;
/// How long a trace must be quiet (no span added or updated, none in progress) before `serve
/// --traces` prints it: the function's spans may come after its response.
const QUIET: Duration = Duration::from_millis(300);
/// The longest `serve --traces` waits for a trace to be quiet; it prints what it has then.
const MOST_WAIT: Duration = Duration::from_secs(3);

/// The daemon's and the receiver's sockets until [`Traces::run`] takes them.
#[derive(Debug)]
struct Sockets {
    xray: std::net::UdpSocket,
    otlp: std::net::TcpListener,
}

/// The traces of a serve, and the daemon and receiver that collect them.
#[derive(Debug)]
pub(crate) struct Traces {
    store: Mutex<Store>,
    /// Where the daemon and the receiver listen; `None` when their ports could not be opened
    /// (then functions get no addresses, and only Lambda's own segments are kept).
    addresses: Option<(SocketAddr, SocketAddr)>,
    sockets: Mutex<Option<Sockets>>,
    /// `serve --traces`: print each invocation's trace when it is complete.
    print: AtomicBool,
}

#[derive(Debug, Default)]
struct Store {
    traces: HashMap<String, Kept>,
    /// Trace ids, oldest first.
    order: VecDeque<String>,
}

#[derive(Debug)]
struct Kept {
    spans: Vec<Span>,
    /// When a span was last added or updated.
    changed: Instant,
}

impl Traces {
    /// Opens the daemon's UDP port and the receiver's TCP port on 127.0.0.1 (free ones); when
    /// that fails, says so and collects only Lambda's own segments.
    pub(crate) fn open() -> Self {
        let opened = std::net::UdpSocket::bind(("127.0.0.1", 0)).and_then(|xray| {
            let otlp = std::net::TcpListener::bind(("127.0.0.1", 0))?;
            xray.set_nonblocking(true)?;
            otlp.set_nonblocking(true)?;
            Ok(Sockets { xray, otlp })
        });
        let (addresses, sockets) = match opened.and_then(|sockets| {
            Ok((
                (sockets.xray.local_addr()?, sockets.otlp.local_addr()?),
                sockets,
            ))
        }) {
            Ok((addresses, sockets)) => (Some(addresses), Some(sockets)),
            Err(error) => {
                eprintln!(
                    "warning: serve cannot open ports for its X-Ray daemon and OTLP receiver ({error}): functions' own spans are not collected"
                );
                (None, None)
            }
        };
        Self {
            store: Mutex::default(),
            addresses,
            sockets: Mutex::new(sockets),
            print: AtomicBool::new(false),
        }
    }

    /// Prints each sampled invocation's trace once it is complete (`serve --traces`).
    pub(crate) fn print_each(&self) {
        self.print.store(true, Ordering::Relaxed);
    }

    /// The daemon's (UDP) and the receiver's (HTTP) addresses.
    pub(crate) fn addresses(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.addresses
    }

    /// Adds the daemon's and the receiver's addresses to an instance's `environment`: the
    /// X-Ray variables always (Lambda reserves them), the OTLP endpoint only when the
    /// function does not set one.
    pub(crate) fn environment(&self, environment: &mut BTreeMap<String, String>) {
        let Some((xray, otlp)) = self.addresses else {
            return;
        };
        environment.insert("AWS_XRAY_DAEMON_ADDRESS".into(), xray.to_string());
        environment.insert("_AWS_XRAY_DAEMON_ADDRESS".into(), xray.ip().to_string());
        environment.insert("_AWS_XRAY_DAEMON_PORT".into(), xray.port().to_string());
        environment
            .entry("AWS_XRAY_CONTEXT_MISSING".into())
            .or_insert_with(|| "LOG_ERROR".into());
        environment
            .entry("OTEL_EXPORTER_OTLP_ENDPOINT".into())
            .or_insert_with(|| format!("http://{otlp}"));
    }

    /// Runs the daemon and the receiver until the future is dropped (the first call takes
    /// the sockets; a later one has nothing to run).
    pub(crate) async fn run(self: std::sync::Arc<Self>) {
        let sockets = lock(&self.sockets).take();
        let Some(Sockets { xray, otlp }) = sockets else {
            return std::future::pending().await;
        };
        let (xray, otlp) = match (
            tokio::net::UdpSocket::from_std(xray),
            tokio::net::TcpListener::from_std(otlp),
        ) {
            (Ok(xray), Ok(otlp)) => (xray, otlp),
            (Err(error), _) | (_, Err(error)) => {
                eprintln!(
                    "warning: serve cannot run its X-Ray daemon and OTLP receiver ({error}): functions' own spans are not collected"
                );
                return std::future::pending().await;
            }
        };
        // Owned by this future: dropping it stops both.
        let mut tasks = JoinSet::new();
        tasks.spawn(xray::daemon(xray, std::sync::Arc::clone(&self)));
        tasks.spawn(otlp::receiver(otlp, std::sync::Arc::clone(&self)));
        while tasks.join_next().await.is_some() {}
        // Neither ends but by a panic, which `JoinSet` reports: serve goes on without them.
        std::future::pending().await
    }

    /// Keeps `spans`: each replaces the span of its id in its trace, if any (an X-Ray segment
    /// sent in progress, then complete), else joins its trace; a new trace pushes out the
    /// oldest past [`MAX_TRACES`].
    pub(crate) fn record(&self, spans: Vec<Span>) {
        let now = Instant::now();
        let mut store = lock(&self.store);
        for span in spans {
            let kept = match store.traces.get_mut(&span.trace_id) {
                Some(kept) => kept,
                None => {
                    let id = span.trace_id.clone();
                    store.order.push_back(id.clone());
                    while store.order.len() > MAX_TRACES {
                        if let Some(oldest) = store.order.pop_front() {
                            store.traces.remove(&oldest);
                        }
                    }
                    store.traces.entry(id).or_insert_with(|| Kept {
                        spans: Vec::new(),
                        changed: now,
                    })
                }
            };
            kept.changed = now;
            let full = kept.spans.len() >= MAX_SPANS;
            match kept
                .spans
                .iter_mut()
                .find(|known| known.span_id == span.span_id)
            {
                Some(known) => *known = span,
                None if !full => kept.spans.push(span),
                None => {}
            }
        }
    }

    /// The traces kept, newest first.
    pub(crate) fn list(&self) -> Vec<Summary> {
        let store = lock(&self.store);
        store
            .order
            .iter()
            .rev()
            .filter_map(|id| {
                let kept = store.traces.get(id)?;
                Some(Trace::of(id, kept.spans.clone()).summary)
            })
            .collect()
    }

    /// The trace `id` (32 hex digits), if it is kept.
    pub(crate) fn get(&self, id: &str) -> Option<Trace> {
        let store = lock(&self.store);
        let kept = store.traces.get(id)?;
        Some(Trace::of(id, kept.spans.clone()))
    }

    /// Keeps the function segment of an invocation run under `header` (the trace header the
    /// function was handed, whose `Parent` is the segment's id) for its `caller`'s header, if
    /// the invocation is sampled; returns the trace's id then.
    pub(crate) fn function_segment(
        &self,
        header: &str,
        caller: Option<&str>,
        invocation: Segment<'_>,
    ) -> Option<String> {
        let handed = Header::parse(header)?;
        if !handed.sampled {
            return None;
        }
        let id = handed.parent?;
        // The caller's own segment is the parent, when it continued the same trace.
        let parent = caller
            .and_then(Header::parse)
            .filter(|caller| caller.trace_id == handed.trace_id)
            .and_then(|caller| caller.parent);
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "faas.invoked_arn".to_owned(),
            serde_json::Value::from(invocation.arn),
        );
        attributes.insert(
            "faas.version".to_owned(),
            serde_json::Value::from(invocation.version),
        );
        if invocation.fault {
            attributes.insert("fault".to_owned(), serde_json::Value::Bool(true));
        }
        if let Some(init) = invocation.init_duration {
            attributes.insert(
                "faas.coldstart_init_ms".to_owned(),
                serde_json::Value::from((init.as_secs_f64() * 100_000.0).round() / 100.0),
            );
        }
        let trace_id = handed.trace_id.clone();
        self.record(vec![Span {
            trace_id: handed.trace_id,
            span_id: id,
            parent_id: parent,
            name: invocation.function.to_owned(),
            source: Source::Lambda,
            kind: Kind::Server,
            start_time: seconds(invocation.started),
            end_time: Some(seconds(invocation.ended)),
            request_id: Some(invocation.request_id.to_owned()),
            error: invocation.error.map(str::to_owned),
            origin: Some("AWS::Lambda::Function".into()),
            attributes,
        }]);
        Some(trace_id)
    }

    /// With `serve --traces`: waits until the trace `id` is quiet (no span added or updated
    /// for [`QUIET`], none in progress), at most [`MOST_WAIT`], and prints it as a waterfall.
    pub(crate) async fn print_when_complete(&self, id: &str) {
        if !self.print.load(Ordering::Relaxed) {
            return;
        }
        let started = Instant::now();
        loop {
            tokio::time::sleep(QUIET / 6).await;
            let complete = {
                let store = lock(&self.store);
                store.traces.get(id).is_none_or(|kept| {
                    kept.changed.elapsed() >= QUIET
                        && kept.spans.iter().all(|span| span.end_time.is_some())
                })
            };
            if complete || started.elapsed() >= MOST_WAIT {
                break;
            }
        }
        if let Some(trace) = self.get(id) {
            // One write, so that waterfalls of invocations ending together do not interleave.
            print!("{}", crate::spans::waterfall(&trace, Color::for_stdout()));
        }
    }
}

/// What the function segment of an invocation says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment<'a> {
    pub(crate) function: &'a str,
    pub(crate) arn: &'a str,
    pub(crate) version: &'a str,
    pub(crate) request_id: &'a str,
    pub(crate) started: SystemTime,
    pub(crate) ended: SystemTime,
    pub(crate) init_duration: Option<Duration>,
    /// The invocation's error type, when it failed.
    pub(crate) error: Option<&'a str>,
    /// X-Ray's `fault` (a failure of the function's side, not of its caller's request): the
    /// instance could not start, say. The span says so in its `fault` attribute.
    pub(crate) fault: bool,
}

/// Seconds since the epoch, as X-Ray writes times.
fn seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// An X-Ray trace header's fields (AWS X-Ray "Tracing header").
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    /// `Root`, as 32 hex digits.
    trace_id: String,
    parent: Option<String>,
    sampled: bool,
}

impl Header {
    /// `Root=1-...;Parent=...;Sampled=1`; `None` without a well-formed `Root`.
    fn parse(header: &str) -> Option<Self> {
        let field = |name: &str| {
            header.split(';').find_map(|field| {
                let (key, value) = field.trim().split_once('=')?;
                (key.trim().eq_ignore_ascii_case(name) && !value.is_empty())
                    .then(|| value.trim().to_owned())
            })
        };
        Some(Self {
            trace_id: crate::spans::normalize_trace_id(&field("Root")?)?,
            parent: field("Parent")
                .filter(|parent| {
                    parent.len() == 16 && parent.bytes().all(|b| b.is_ascii_hexdigit())
                })
                .map(|parent| parent.to_ascii_lowercase()),
            sampled: field("Sampled").as_deref() == Some("1"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: &str, id: &str, end: Option<f64>) -> Span {
        Span {
            trace_id: trace.into(),
            span_id: id.into(),
            parent_id: None,
            name: id.into(),
            source: Source::Xray,
            kind: Kind::Internal,
            start_time: 1.0,
            end_time: end,
            request_id: None,
            error: None,
            origin: None,
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn the_store_keeps_the_last_traces_and_updates_spans() {
        let traces = Traces::open();
        for n in 0..MAX_TRACES + 5 {
            traces.record(vec![span(&format!("{n:032x}"), "a", Some(2.0))]);
        }
        let listed = traces.list();
        assert_eq!(listed.len(), MAX_TRACES);
        assert_eq!(listed[0].trace_id, format!("{:032x}", MAX_TRACES + 4));
        assert!(traces.get(&format!("{:032x}", 4)).is_none());
        assert!(traces.get(&format!("{:032x}", 5)).is_some());

        let id = format!("{:032x}", MAX_TRACES + 4);
        traces.record(vec![span(&id, "b", None)]);
        assert!(traces.get(&id).unwrap().summary.in_progress);
        traces.record(vec![span(&id, "b", Some(3.0))]);
        let trace = traces.get(&id).unwrap();
        assert_eq!((trace.spans.len(), trace.summary.in_progress), (2, false));
    }

    #[test]
    fn instances_get_the_addresses_and_keep_their_own_endpoint() {
        let traces = Traces::open();
        let (xray, otlp) = traces.addresses().unwrap();
        let mut environment = BTreeMap::new();
        traces.environment(&mut environment);
        assert_eq!(environment["AWS_XRAY_DAEMON_ADDRESS"], xray.to_string());
        assert_eq!(environment["_AWS_XRAY_DAEMON_ADDRESS"], "127.0.0.1");
        assert_eq!(
            environment["_AWS_XRAY_DAEMON_PORT"],
            xray.port().to_string()
        );
        assert_eq!(
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"],
            format!("http://{otlp}")
        );
        let mut own = BTreeMap::from([(
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            "http://collector:4318".to_owned(),
        )]);
        traces.environment(&mut own);
        assert_eq!(own["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://collector:4318");
    }

    #[test]
    fn function_segments_continue_the_caller_when_sampled() {
        let traces = Traces::open();
        let segment = Segment {
            function: "orders",
            arn: "arn:aws:lambda:us-east-1:123456789012:function:orders",
            version: "$LATEST",
            request_id: "id-1",
            started: UNIX_EPOCH + Duration::from_secs(100),
            ended: UNIX_EPOCH + Duration::from_millis(100_250),
            init_duration: None,
            error: Some("Runtime.ExitError"),
            fault: false,
        };
        let caller = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let handed = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0123456789abcdef;Sampled=1";
        let id = traces
            .function_segment(handed, Some(caller), segment)
            .unwrap();
        assert_eq!(id, "5759e988bd862e3fe1be46a994272793");
        let trace = traces.get(&id).unwrap();
        let span = &trace.spans[0];
        assert_eq!(span.span_id, "0123456789abcdef");
        assert_eq!(span.parent_id.as_deref(), Some("53995c3f42cd8ad8"));
        assert_eq!(span.origin.as_deref(), Some("AWS::Lambda::Function"));
        assert_eq!(span.error.as_deref(), Some("Runtime.ExitError"));
        assert_eq!(span.duration_ms().map(f64::round), Some(250.0));

        let unsampled =
            "Root=1-5759e988-bd862e3fe1be46a994272794;Parent=0123456789abcdef;Sampled=0";
        assert_eq!(traces.function_segment(unsampled, None, segment), None);
        assert!(traces.get("5759e988bd862e3fe1be46a994272794").is_none());
    }
}
