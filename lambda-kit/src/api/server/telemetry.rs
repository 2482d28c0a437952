//! The Telemetry API's server side (AWS "Lambda Telemetry API"): `PUT /2022-07-01/telemetry`
//! subscribes an extension to the streams it names, and a delivery task per subscription posts
//! the events to the extension's listener as JSON arrays, a batch as soon as it holds
//! `maxItems` events or `maxBytes` bytes, or `timeoutMs` after its first event.
//!
//! The destination is `http://sandbox.localdomain:PORT/...`, the execution environment itself;
//! locally that is 127.0.0.1, which nothing else resolves it to. As on Lambda, an extension
//! gets the events from its subscription on (it subscribes during init), not those before.
//! A batch the listener does not take is dropped with a warning, after retrying for about two
//! seconds when nothing listens yet.

use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::extensions::{identify, name_of};
use super::{Answer, Shared, lock, read, refuse};
use crate::api::protocol::{self, telemetry as api};
use crate::extension::telemetry::{self, Event, Record, Stream};

/// Pauses before each attempt to post a batch: a subscriber that is not listening yet (it
/// subscribes before it serves) gets about two seconds.
const ATTEMPTS: [Duration; 7] = [
    Duration::ZERO,
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_millis(1000),
];

/// How long a subscriber may take to answer a batch before it is given up on.
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
    feed: mpsc::UnboundedSender<Event>,
}

impl Hub {
    /// Hands `event` to the subscriptions that take its stream.
    pub(super) fn emit(&self, event: &Event) {
        let stream = event.record.stream();
        for subscriber in lock(&self.subscribers).iter() {
            if subscriber.types.contains(&stream) {
                let _ = subscriber.feed.send(event.clone());
            }
        }
    }

    /// Stops every delivery.
    pub(super) fn stop(&self) {
        lock(&self.subscribers).clear();
        lock(&self.deliveries).abort_all();
    }

    fn subscribe(&self, extension: &str, subscription: Subscription) {
        let (feed, receiver) = mpsc::unbounded_channel();
        {
            let mut subscribers = lock(&self.subscribers);
            // The replaced subscription's task posts what it holds and ends.
            subscribers.retain(|subscriber| subscriber.extension != extension);
            subscribers.push(Subscriber {
                extension: extension.to_owned(),
                types: subscription.types,
                feed,
            });
        }
        let mut deliveries = lock(&self.deliveries);
        while deliveries.try_join_next().is_some() {}
        deliveries.spawn(deliver(
            subscription.destination,
            subscription.buffering,
            receiver,
        ));
    }
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

/// Posts the events of `feed` in batches until the feed closes (the subscription was
/// replaced, or the server stopped).
async fn deliver(
    destination: Destination,
    buffering: Buffering,
    mut feed: mpsc::UnboundedReceiver<Event>,
) {
    // An event that would have made the last batch too large starts the next.
    let mut carried: Option<Vec<u8>> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match feed.recv().await {
                Some(event) => encode(&event),
                None => return,
            },
        };
        let flush_at = Instant::now() + buffering.timeout;
        let mut batch = Vec::with_capacity(first.len() + 2);
        batch.push(b'[');
        batch.extend_from_slice(&first);
        let mut items = 1;
        let mut closed = false;
        while items < buffering.max_items && batch.len() < buffering.max_bytes {
            let event = tokio::select! {
                event = feed.recv() => event,
                () = tokio::time::sleep_until(flush_at) => break,
            };
            let Some(event) = event else {
                closed = true;
                break;
            };
            let event = encode(&event);
            if batch.len() + event.len() + 2 > buffering.max_bytes {
                carried = Some(event);
                break;
            }
            batch.push(b',');
            batch.extend_from_slice(&event);
            items += 1;
        }
        batch.push(b']');
        post(&destination, Bytes::from(batch), items).await;
        if closed && carried.is_none() {
            return;
        }
    }
}

fn encode(event: &Event) -> Vec<u8> {
    // An `Event` is strings and JSON values: writing it to memory cannot fail.
    serde_json::to_vec(event).unwrap_or_default()
}

/// Why a batch did not arrive.
enum Unsent {
    /// Nothing listens (yet): worth another attempt.
    Refused(std::io::Error),
    Failed(String),
}

async fn post(destination: &Destination, batch: Bytes, items: usize) {
    let mut last = String::new();
    for pause in ATTEMPTS {
        tokio::time::sleep(pause).await;
        match tokio::time::timeout(ANSWER_TIMEOUT, send(destination, batch.clone())).await {
            Ok(Ok(status)) if status.is_success() => return,
            Ok(Ok(status)) => {
                last = format!("it answered {status}");
                break;
            }
            Ok(Err(Unsent::Refused(error))) => last = format!("cannot connect: {error}"),
            Ok(Err(Unsent::Failed(error))) => {
                last = error;
                break;
            }
            Err(_) => {
                last = format!("no answer within {} s", ANSWER_TIMEOUT.as_secs());
                break;
            }
        }
    }
    tracing::warn!(
        port = destination.port,
        path = %destination.path,
        items,
        "a telemetry batch was dropped: {last}"
    );
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
