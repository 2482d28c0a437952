//! The Telemetry API's server side (AWS "Lambda Telemetry API"): `PUT /2022-07-01/telemetry`
//! subscribes an extension to the streams it names, and a delivery task per subscription posts
//! the events to the extension's listener as JSON arrays, a batch as soon as it holds
//! `maxItems` events or `maxBytes` bytes, or `timeoutMs` after its first event.
//!
//! The destination is `http://sandbox.localdomain:PORT/...`, the execution environment itself;
//! locally that is 127.0.0.1, which nothing else resolves it to. As on Lambda, an extension
//! gets the events from its subscription on (it subscribes during init), not those before.
//!
//! Delivery follows the same page: "Lambda retries the attempt to send telemetry (with
//! backoff) if there is no listener, or if the POST request results in an error", and "if the
//! subscriber cannot process incoming telemetry fast enough, Lambda might drop records to keep
//! memory utilization bounded", reporting them with a `platform.logsDropped` event. Here a
//! batch is tried [`ATTEMPTS`] times (about two seconds) before it is dropped; a subscription
//! holds at most [`api::BUFFERED_BATCHES`] batches' worth of events, the one being delivered
//! included, and drops what comes beyond; and the next batch it delivers begins with a
//! `platform.logsDropped` event counting the records and bytes dropped since the last.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::extensions::{identify, name_of};
use super::{Answer, Shared, lock, read, refuse, timestamp};
use crate::api::protocol::{self, telemetry as api};
use crate::extension::telemetry::{self, Event, Record, Stream};

/// Pauses before each attempt to post a batch: a subscriber that is not listening yet (it
/// subscribes before it serves) or that fails a batch gets about two seconds.
const ATTEMPTS: [Duration; 7] = [
    Duration::ZERO,
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_millis(1000),
];

/// How long a subscriber may take to answer a batch before the attempt counts as failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `path` is the Telemetry API's (with or without the trailing slash AWS's examples
/// write).
pub(super) fn is_path(path: &str) -> bool {
    path.strip_suffix('/').unwrap_or(path) == api::PATH
}

/// The subscriptions and their delivery tasks.
#[derive(Debug, Default)]
pub(super) struct Hub {
    subscribers: Mutex<Vec<Subscriber>>,
    /// One task per subscription; aborted when the server stops.
    deliveries: Mutex<JoinSet<()>>,
}

#[derive(Debug)]
struct Subscriber {
    /// The extension's identifier: subscribing again replaces its subscription.
    extension: String,
    types: Vec<Stream>,
    buffer: Arc<Buffer>,
}

impl Hub {
    /// Hands `event` to the subscriptions that take its stream.
    pub(super) fn emit(&self, event: &Event) {
        let stream = event.record.stream();
        let mut encoded = None;
        for subscriber in lock(&self.subscribers).iter() {
            if subscriber.types.contains(&stream) {
                let encoded = encoded.get_or_insert_with(|| encode(event));
                subscriber.buffer.push(encoded);
            }
        }
    }

    /// Stops every delivery.
    pub(super) fn stop(&self) {
        lock(&self.subscribers).clear();
        lock(&self.deliveries).abort_all();
    }

    fn subscribe(&self, extension: &str, subscription: Subscription) {
        let buffer = Arc::new(Buffer::new(subscription.buffering));
        {
            let mut subscribers = lock(&self.subscribers);
            // The replaced subscription's task posts what it holds and ends.
            subscribers.retain(|subscriber| {
                let replaced = subscriber.extension == extension;
                if replaced {
                    subscriber.buffer.close();
                }
                !replaced
            });
            subscribers.push(Subscriber {
                extension: extension.to_owned(),
                types: subscription.types,
                buffer: Arc::clone(&buffer),
            });
        }
        let mut deliveries = lock(&self.deliveries);
        while deliveries.try_join_next().is_some() {}
        deliveries.spawn(deliver(subscription.destination, buffer));
    }
}

/// A subscription's events on their way: those waiting for a batch, and the count of those
/// dropped since the last `platform.logsDropped`.
#[derive(Debug)]
struct Buffer {
    buffering: Buffering,
    queue: Mutex<Queue>,
    /// Wakes the delivery task: an event came, or the subscription was replaced.
    changed: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    /// Encoded events, oldest first.
    events: VecDeque<Vec<u8>>,
    /// Their bytes.
    bytes: usize,
    /// The batch being delivered: its events and their bytes, and the dropped records and
    /// bytes its `platform.logsDropped` event reports.
    sending: (usize, usize),
    reporting: (u64, u64),
    dropped_records: u64,
    dropped_bytes: u64,
    /// The subscription was replaced: deliver what is left, then end.
    closed: bool,
}

impl Buffer {
    fn new(buffering: Buffering) -> Self {
        Self {
            buffering,
            queue: Mutex::default(),
            changed: Notify::new(),
        }
    }

    /// Queues an encoded event, or drops it when the subscription holds all it may.
    fn push(&self, event: &[u8]) {
        let most_items = self.buffering.max_items * api::BUFFERED_BATCHES;
        let most_bytes = self.buffering.max_bytes * api::BUFFERED_BATCHES;
        let mut queue = lock(&self.queue);
        if queue.closed {
            return;
        }
        let items = queue.events.len() + queue.sending.0;
        let bytes = queue.bytes + queue.sending.1;
        // An event larger than a batch still goes, alone, when nothing else is held.
        if items > 0 && (items >= most_items || bytes + event.len() > most_bytes) {
            queue.dropped_records += 1;
            queue.dropped_bytes += event.len() as u64;
            return;
        }
        queue.bytes += event.len();
        queue.events.push_back(event.to_vec());
        drop(queue);
        self.changed.notify_one();
    }

    fn close(&self) {
        lock(&self.queue).closed = true;
        self.changed.notify_one();
    }

    /// Waits until `ready` says the queue is, or the subscription was replaced, or `until`
    /// passes.
    async fn wait(&self, ready: impl Fn(&Queue) -> bool, until: Option<Instant>) {
        loop {
            {
                let queue = lock(&self.queue);
                if queue.closed || ready(&queue) {
                    return;
                }
            }
            match until {
                Some(until) => {
                    tokio::select! {
                        () = self.changed.notified() => {}
                        () = tokio::time::sleep_until(until) => return,
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }

    /// Takes the next batch: a `platform.logsDropped` event first if events were dropped,
    /// then the oldest events, up to `maxItems` and `maxBytes` (one event at least). `None`
    /// when no event waits (a report of dropped events goes with the next one).
    fn take(&self) -> Option<Batch> {
        let Buffering {
            max_items,
            max_bytes,
            ..
        } = self.buffering;
        let mut queue = lock(&self.queue);
        if queue.events.is_empty() {
            return None;
        }
        let mut events = Vec::new();
        let mut reporting = (0, 0);
        if queue.dropped_records > 0 {
            reporting = (
                std::mem::take(&mut queue.dropped_records),
                std::mem::take(&mut queue.dropped_bytes),
            );
            let dropped = Event::new(
                timestamp(SystemTime::now()),
                Record::LogsDropped(telemetry::LogsDropped {
                    reason: api::LOGS_DROPPED_REASON.to_owned(),
                    dropped_records: reporting.0,
                    dropped_bytes: reporting.1,
                }),
            );
            events.push(encode(&dropped));
        }
        let reports = events.len();
        let mut taken = 0;
        // The batch's length: `[`, `]`, and each event with a comma or the `]`.
        let mut length = 1 + events.iter().map(|event| event.len() + 1).sum::<usize>();
        while let Some(event) = queue.events.front() {
            let over = length + event.len() + 1 > max_bytes;
            if events.len() > reports && (events.len() >= max_items || over) {
                break;
            }
            length += event.len() + 1;
            if let Some(event) = queue.events.pop_front() {
                queue.bytes -= event.len();
                taken += event.len();
                events.push(event);
            }
        }
        let items = events.len();
        let bytes: usize = events.iter().map(Vec::len).sum();
        queue.sending = (items - reports, taken);
        queue.reporting = reporting;
        let mut body = Vec::with_capacity(bytes + items + 1);
        body.push(b'[');
        for (index, event) in events.iter().enumerate() {
            if index > 0 {
                body.push(b',');
            }
            body.extend_from_slice(event);
        }
        body.push(b']');
        Some(Batch {
            body: Bytes::from(body),
            items,
        })
    }

    /// The batch being delivered was delivered, or dropped (`lost`): then its events count as
    /// dropped, and so do the drops it reported.
    fn sent(&self, lost: bool) {
        let mut queue = lock(&self.queue);
        let (items, bytes) = std::mem::take(&mut queue.sending);
        let (records, reported_bytes) = std::mem::take(&mut queue.reporting);
        if lost {
            queue.dropped_records += items as u64 + records;
            queue.dropped_bytes += bytes as u64 + reported_bytes;
        }
    }
}

/// A batch's JSON array, and how many events it holds.
#[derive(Debug)]
struct Batch {
    body: Bytes,
    items: usize,
}

/// A valid subscription.
#[derive(Debug)]
struct Subscription {
    types: Vec<Stream>,
    buffering: Buffering,
    destination: Destination,
}

#[derive(Debug, Clone, Copy)]
struct Buffering {
    max_items: usize,
    max_bytes: usize,
    timeout: Duration,
}

/// Where batches go: a port of 127.0.0.1 (the sandbox), and the path.
#[derive(Debug, Clone)]
struct Destination {
    port: u16,
    path: String,
}

/// `PUT /2022-07-01/telemetry`.
pub(super) async fn subscribe(shared: &Shared, headers: &HeaderMap, body: Incoming) -> Answer {
    let id = match identify(headers) {
        Ok(id) => id,
        Err(refusal) => return *refusal,
    };
    let name = match name_of(shared, id) {
        Ok(name) => name,
        Err(refusal) => return *refusal,
    };
    let body = match read(body, protocol::MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(refusal) => return refusal.answer(),
    };
    let subscription = match validate(&body) {
        Ok(subscription) => subscription,
        Err(message) => {
            return refuse(StatusCode::BAD_REQUEST, api::VALIDATION_ERROR, &message);
        }
    };
    let types = subscription.types.clone();
    shared.telemetry.subscribe(id, subscription);
    shared.emit(Record::TelemetrySubscription(
        telemetry::TelemetrySubscription {
            name,
            state: "Subscribed".to_owned(),
            types,
        },
    ));
    let mut response = Response::new(Full::new(Bytes::from_static(b"OK")));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    response
}

/// Reads a subscription, or says which field is wrong and what it may be.
fn validate(body: &[u8]) -> Result<Subscription, String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|error| format!("the body is not JSON: {error}"))?;
    let versions = api::SCHEMA_VERSIONS.join("`, `");
    let version = request["schemaVersion"]
        .as_str()
        .ok_or_else(|| format!("`schemaVersion` is required: one of `{versions}`"))?;
    if !api::SCHEMA_VERSIONS.contains(&version) {
        return Err(format!(
            "`schemaVersion` is `{version}`; it must be one of `{versions}`"
        ));
    }
    let types_hint = "`platform`, `function` or `extension`";
    let types: Vec<Stream> = match &request["types"] {
        Value::Array(types) if !types.is_empty() => types
            .iter()
            .map(|kind| {
                serde_json::from_value(kind.clone())
                    .map_err(|_| format!("`types` has `{kind}`; each must be {types_hint}"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(format!("`types` must be a non-empty array of {types_hint}")),
    };
    let buffering = &request["buffering"];
    if !buffering.is_null() && !buffering.is_object() {
        return Err("`buffering` must be an object".to_owned());
    }
    let bounded = |field: &str, (least, most, default): (u32, u32, u32)| match &buffering[field] {
        Value::Null => Ok(default),
        value => value
            .as_u64()
            .and_then(|value| u32::try_from(value).ok())
            .filter(|value| (least..=most).contains(value))
            .ok_or_else(|| {
                format!("`buffering.{field}` is {value}; it must be between {least} and {most}")
            }),
    };
    let buffering = Buffering {
        max_items: bounded("maxItems", api::MAX_ITEMS)? as usize,
        max_bytes: bounded("maxBytes", api::MAX_BYTES)? as usize,
        timeout: Duration::from_millis(bounded("timeoutMs", api::TIMEOUT_MS)?.into()),
    };
    let destination = &request["destination"];
    match destination["protocol"].as_str() {
        Some(api::HTTP) => {}
        Some("TCP") => {
            return Err(format!(
                "`destination.protocol` `TCP` is not supported here; use `{}`",
                api::HTTP
            ));
        }
        _ => {
            return Err(format!(
                "`destination.protocol` is required and must be `{}`",
                api::HTTP
            ));
        }
    }
    let uri_hint = format!("`http://{}:PORT/PATH`", api::SANDBOX_HOST);
    let uri: http::Uri = destination["URI"]
        .as_str()
        .and_then(|uri| uri.parse().ok())
        .ok_or_else(|| format!("`destination.URI` is required and must be {uri_hint}"))?;
    let (Some("http"), Some(api::SANDBOX_HOST), Some(port)) =
        (uri.scheme_str(), uri.host(), uri.port_u16())
    else {
        return Err(format!(
            "`destination.URI` is `{uri}`; it must be {uri_hint}, a port the extension listens on"
        ));
    };
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    Ok(Subscription {
        types,
        buffering,
        destination: Destination { port, path },
    })
}

/// Posts the subscription's events in batches until it is replaced (then what it holds
/// goes first) or the server stops.
async fn deliver(destination: Destination, buffer: Arc<Buffer>) {
    let Buffering {
        max_items,
        max_bytes,
        timeout,
    } = buffer.buffering;
    loop {
        buffer.wait(|queue| !queue.events.is_empty(), None).await;
        let flush_at = Instant::now() + timeout;
        let full = |queue: &Queue| queue.events.len() >= max_items || queue.bytes >= max_bytes;
        buffer.wait(full, Some(flush_at)).await;
        let Some(batch) = buffer.take() else {
            // Replaced, and nothing left.
            return;
        };
        let delivered = post(&destination, &batch).await;
        buffer.sent(!delivered);
    }
}

fn encode(event: &Event) -> Vec<u8> {
    // An `Event` is strings and JSON values: writing it to memory cannot fail.
    serde_json::to_vec(event).unwrap_or_default()
}

/// Why an attempt to post a batch failed.
enum Unsent {
    Refused(std::io::Error),
    Failed(String),
}

/// Posts `batch`, retrying with backoff; whether it arrived.
async fn post(destination: &Destination, batch: &Batch) -> bool {
    let mut last = String::new();
    for pause in ATTEMPTS {
        tokio::time::sleep(pause).await;
        match tokio::time::timeout(ANSWER_TIMEOUT, send(destination, batch.body.clone())).await {
            Ok(Ok(status)) if status.is_success() => return true,
            Ok(Ok(status)) => last = format!("it answered {status}"),
            Ok(Err(Unsent::Refused(error))) => last = format!("cannot connect: {error}"),
            Ok(Err(Unsent::Failed(error))) => last = error,
            Err(_) => last = format!("no answer within {} s", ANSWER_TIMEOUT.as_secs()),
        }
    }
    tracing::warn!(
        port = destination.port,
        path = %destination.path,
        items = batch.items,
        attempts = ATTEMPTS.len(),
        "a telemetry batch was dropped: {last}"
    );
    false
}

async fn send(destination: &Destination, batch: Bytes) -> Result<StatusCode, Unsent> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, destination.port))
        .await
        .map_err(Unsent::Refused)?;
    let failed = |error: hyper::Error| Unsent::Failed(error.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(failed)?;
    let request = Request::post(destination.path.as_str())
        .header(
            http::header::HOST,
            format!("{}:{}", api::SANDBOX_HOST, destination.port),
        )
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(batch))
        .map_err(|error| Unsent::Failed(error.to_string()))?;
    let exchange = async move {
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        // Dropping `sender` lets the connection end.
        Ok::<_, hyper::Error>(status)
    };
    let (status, _) = tokio::join!(exchange, connection);
    status.map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(buffering: Value, uri: &str) -> Result<Subscription, String> {
        let body = serde_json::json!({
            "schemaVersion": "2022-12-13",
            "types": ["platform", "function"],
            "buffering": buffering,
            "destination": {"protocol": "HTTP", "URI": uri},
        });
        validate(body.to_string().as_bytes())
    }

    #[test]
    fn a_subscription_takes_lambdas_bounds_and_the_sandbox_host() {
        let valid = subscription(
            serde_json::json!({"maxItems": 25, "timeoutMs": 30000}),
            "http://sandbox.localdomain:4243/telemetry",
        )
        .unwrap();
        assert_eq!(valid.buffering.max_items, 25);
        assert_eq!(valid.buffering.max_bytes, 262_144);
        assert_eq!(valid.buffering.timeout, Duration::from_secs(30));
        assert_eq!(valid.destination.port, 4243);
        assert_eq!(valid.destination.path, "/telemetry");

        let error = subscription(
            serde_json::json!({"maxItems": 24}),
            "http://sandbox.localdomain:1/",
        )
        .unwrap_err();
        assert!(
            error.contains("`buffering.maxItems` is 24") && error.contains("25 and 10000"),
            "{error}"
        );
        let error = subscription(Value::Null, "http://localhost:4243/").unwrap_err();
        assert!(error.contains("`destination.URI`"), "{error}");
        let error = subscription(Value::Null, "http://sandbox.localdomain/").unwrap_err();
        assert!(error.contains("a port"), "{error}");
    }
}
