//! Lambda's queue of asynchronous (`Event`) invocations, per function (AWS "Asynchronous
//! invocation"): an event waits until one of the function's instances is free (within its
//! concurrency), a failed one (function error, timeout, crash) is tried again after a delay,
//! up to `MaximumRetryAttempts` more times (2 unless the function's event invoke config says
//! 0 or 1), an event older than `MaximumEventAgeInSeconds` (6 h unless set) is not tried again,
//! and an event that has failed for good goes to the function's on-failure destination, else
//! to its dead-letter queue (a created function's `DeadLetterConfig`), else is dropped with one
//! line on stderr naming its request id. A success goes to the on-success destination when one
//! is set.
//!
//! Local differences, on purpose: Lambda waits about a minute, then two, between attempts;
//! here the first retry comes after one second and the second after two
//! (`LAMBDAKIT_ASYNC_RETRY_DELAY_MS` sets the first; each next one doubles). Each function's
//! queue holds at most 10 000 events (`LAMBDAKIT_ASYNC_QUEUE_SIZE`) and 256 MB of payloads;
//! past that, the `Event` call itself is answered `429 TooManyRequestsException`.
//!
//! Destinations get Lambda's record: a Lambda function this serve runs, as an `Event`
//! invocation of it; an SQS queue, an SNS topic, an EventBridge bus or (failures only) an S3
//! bucket through AWS, with serve's own AWS configuration (`destinations`), as does a
//! dead-letter queue, which gets the event itself. A delivery AWS refuses, or that cannot
//! reach it, is named in one line on stderr. Event invoke configs are kept in the state
//! directory (`state::EVENT_CONFIGS`), so a serve restarted on the same `--state` follows them.
//!
//! Each queue is one task owned by [`Queues`] (and so by the emulator), stopped by
//! [`Queues::shutdown`]; its invocations run in their pool's tasks, as synchronous ones do.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::destinations::{Arn, Delivery, Service};
use super::instance::Outcome;
use super::state::EventConfigRecord;
use super::{Call, Emulator, Invoked, Pool, Trigger, function_name, lock};

/// How long Lambda keeps an event by default, and at most (`MaximumEventAgeInSeconds`).
pub(crate) const MAX_EVENT_AGE: Duration = Duration::from_secs(6 * 60 * 60);
/// How many more times Lambda tries a failed event by default, and at most.
pub(crate) const MAX_RETRY_ATTEMPTS: u32 = 2;
/// Events a function's queue holds at most, by default.
const QUEUE_SIZE: usize = 10_000;
/// Payload bytes a function's queue holds at most.
const QUEUE_BYTES: usize = 256 * 1024 * 1024;
/// The first retry's delay by default; Lambda's is about a minute.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// How often a queue waiting for an instance looks again, besides being told of one (the
/// function's pool may have been replaced, by UpdateFunctionCode, say).
const RECHECK: Duration = Duration::from_millis(250);

/// The queues' settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// The delay before the first retry; each next one doubles it.
    pub(crate) retry_delay: Duration,
    /// Events a function's queue holds at most.
    pub(crate) capacity: usize,
    /// Payload bytes a function's queue holds at most.
    pub(crate) capacity_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retry_delay: RETRY_DELAY,
            capacity: QUEUE_SIZE,
            capacity_bytes: QUEUE_BYTES,
        }
    }
}

impl Settings {
    /// The defaults, with `LAMBDAKIT_ASYNC_RETRY_DELAY_MS` and `LAMBDAKIT_ASYNC_QUEUE_SIZE`
    /// over them when they are numbers (tests shorten the delays with them).
    pub(crate) fn from_env() -> Self {
        #[allow(clippy::disallowed_methods)] // serve's own settings, not a Lambda's.
        let number = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|value| value.trim().parse::<u64>().ok())
        };
        let mut settings = Self::default();
        if let Some(millis) = number("LAMBDAKIT_ASYNC_RETRY_DELAY_MS") {
            settings.retry_delay = Duration::from_millis(millis);
        }
        if let Some(size) = number("LAMBDAKIT_ASYNC_QUEUE_SIZE") {
            settings.capacity = usize::try_from(size).unwrap_or(usize::MAX).max(1);
        }
        settings
    }
}

/// A function's event invoke config (AWS PutFunctionEventInvokeConfig).
#[derive(Debug, Clone)]
pub(crate) struct EventConfig {
    pub(crate) maximum_retry_attempts: u32,
    pub(crate) maximum_event_age: Duration,
    pub(crate) on_success: Option<String>,
    pub(crate) on_failure: Option<String>,
    pub(crate) last_modified: SystemTime,
}

impl Default for EventConfig {
    fn default() -> Self {
        Self {
            maximum_retry_attempts: MAX_RETRY_ATTEMPTS,
            maximum_event_age: MAX_EVENT_AGE,
            on_success: None,
            on_failure: None,
            last_modified: SystemTime::now(),
        }
    }
}

impl EventConfig {
    /// The config a function's `async` settings ask for, Lambda's defaults for the rest.
    pub(crate) fn of(settings: &crate::deploy::settings::AsyncSettings) -> Self {
        Self {
            maximum_retry_attempts: settings.retries.unwrap_or(MAX_RETRY_ATTEMPTS),
            maximum_event_age: settings
                .max_event_age
                .map_or(MAX_EVENT_AGE, |seconds| Duration::from_secs(seconds.into())),
            on_success: settings.on_success.clone(),
            on_failure: settings.on_failure.clone(),
            last_modified: SystemTime::now(),
        }
    }

    /// The config as `--state` keeps it (see `state`).
    pub(super) fn kept(&self, function: &str, qualifier: &str) -> EventConfigRecord {
        let millis = self
            .last_modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        EventConfigRecord {
            function: function.to_owned(),
            qualifier: qualifier.to_owned(),
            maximum_retry_attempts: self.maximum_retry_attempts,
            maximum_event_age_seconds: self.maximum_event_age.as_secs(),
            on_success: self.on_success.clone(),
            on_failure: self.on_failure.clone(),
            last_modified_millis: u64::try_from(millis).unwrap_or(u64::MAX),
        }
    }

    /// A config read back from `--state`, its bounds checked again (a hand-edited file may
    /// hold anything); `None` past them.
    pub(super) fn read_back(kept: &EventConfigRecord) -> Option<Self> {
        let age = Duration::from_secs(kept.maximum_event_age_seconds);
        (kept.maximum_retry_attempts <= MAX_RETRY_ATTEMPTS && age <= MAX_EVENT_AGE).then(|| Self {
            maximum_retry_attempts: kept.maximum_retry_attempts,
            maximum_event_age: age,
            on_success: kept.on_success.clone(),
            on_failure: kept.on_failure.clone(),
            last_modified: SystemTime::UNIX_EPOCH
                + Duration::from_millis(kept.last_modified_millis),
        })
    }
}

/// An `Event` invocation in its function's queue.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) call: Call,
    /// The pool it runs in: resolved when it was accepted, and again before each attempt.
    pub(crate) pool: Arc<Pool>,
    /// The function's name and the qualifier it was invoked at (`$LATEST` when none): its
    /// event invoke config's key.
    pub(crate) function: String,
    pub(crate) qualifier: String,
    pub(crate) accepted: Instant,
    /// How many times it was tried.
    pub(crate) attempts: u32,
}

/// The queue is full: `429 TooManyRequestsException` to the `Event` call.
#[derive(Debug)]
pub(crate) struct Full;

/// Why an event leaves its queue for a destination (the record's `condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    Success,
    RetriesExhausted,
    EventAgeExceeded,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "Success",
            Self::RetriesExhausted => "RetriesExhausted",
            Self::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

/// One function's queue: where its events go in, and how many it holds.
#[derive(Debug)]
struct Queue {
    sender: mpsc::UnboundedSender<Event>,
    /// Events accepted and not yet done with (waiting, running or waiting to be retried), and
    /// their payload bytes.
    held: Arc<Held>,
}

#[derive(Debug, Default)]
struct Held {
    events: AtomicUsize,
    bytes: AtomicUsize,
}

impl Held {
    fn release(&self, event: &Event) {
        self.events.fetch_sub(1, Ordering::SeqCst);
        self.bytes
            .fetch_sub(event.call.payload.len(), Ordering::SeqCst);
    }
}

/// Every function's queue, and their event invoke configs.
#[derive(Debug)]
pub(crate) struct Queues {
    settings: Settings,
    /// By the ARN of the pool the events run in.
    queues: Mutex<BTreeMap<String, Queue>>,
    /// The queues' tasks.
    workers: Mutex<JoinSet<()>>,
    /// By function name and qualifier (`$LATEST` for none).
    configs: Mutex<BTreeMap<(String, String), EventConfig>>,
    /// By function name: its events that failed for good (retries spent, or too old), each
    /// then sent to its on-failure destination or dead-letter queue, or dropped.
    failed: Mutex<BTreeMap<String, u64>>,
}

impl Queues {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            queues: Mutex::default(),
            workers: Mutex::default(),
            configs: Mutex::default(),
            failed: Mutex::default(),
        }
    }

    /// How many `Event` invocations of `function` failed for good.
    pub(crate) fn failed_for_good(&self, function: &str) -> u64 {
        lock(&self.failed).get(function).copied().unwrap_or(0)
    }

    /// How many `Event` invocations of the pool `arn` are accepted and not yet done with.
    pub(crate) fn depth(&self, arn: &str) -> usize {
        lock(&self.queues)
            .get(arn)
            .map_or(0, |queue| queue.held.events.load(Ordering::SeqCst))
    }

    /// The event invoke config of `function` at `qualifier`, if one was put.
    pub(crate) fn config(&self, function: &str, qualifier: &str) -> Option<EventConfig> {
        lock(&self.configs)
            .get(&(function.to_owned(), qualifier.to_owned()))
            .cloned()
    }

    /// Sets (or with `None`, removes) the event invoke config of `function` at `qualifier`;
    /// returns the one it had.
    pub(crate) fn set_config(
        &self,
        function: &str,
        qualifier: &str,
        config: Option<EventConfig>,
    ) -> Option<EventConfig> {
        let key = (function.to_owned(), qualifier.to_owned());
        let mut configs = lock(&self.configs);
        match config {
            Some(config) => configs.insert(key, config),
            None => configs.remove(&key),
        }
    }

    /// Every event invoke config, as `--state` keeps them, by function and qualifier.
    pub(super) fn kept_configs(&self) -> Vec<EventConfigRecord> {
        lock(&self.configs)
            .iter()
            .map(|((function, qualifier), config)| config.kept(function, qualifier))
            .collect()
    }

    /// The event invoke configs of `function`, by qualifier, in order.
    pub(crate) fn configs_of(&self, function: &str) -> Vec<(String, EventConfig)> {
        lock(&self.configs)
            .iter()
            .filter(|((name, _), _)| name == function)
            .map(|((_, qualifier), config)| (qualifier.clone(), config.clone()))
            .collect()
    }

    /// Forgets the event invoke configs of `function` (it was deleted).
    pub(crate) fn forget(&self, function: &str) {
        lock(&self.configs).retain(|(name, _), _| name != function);
    }

    /// Puts `event` in its pool's queue (started on its first event).
    ///
    /// # Errors
    ///
    /// [`Full`] when the queue holds as many events or bytes as it may.
    pub(crate) fn push(&self, emulator: &Weak<Emulator>, event: Event) -> Result<(), Full> {
        let mut queues = lock(&self.queues);
        let queue = queues.entry(event.pool.arn.clone()).or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            let held = Arc::new(Held::default());
            let mut workers = lock(&self.workers);
            while workers.try_join_next().is_some() {}
            workers.spawn(work(
                receiver,
                Arc::clone(&held),
                Weak::clone(emulator),
                self.settings.retry_delay,
            ));
            Queue { sender, held }
        });
        let size = event.call.payload.len();
        if queue.held.events.load(Ordering::SeqCst) >= self.settings.capacity
            || queue.held.bytes.load(Ordering::SeqCst) + size > self.settings.capacity_bytes
        {
            return Err(Full);
        }
        queue.held.events.fetch_add(1, Ordering::SeqCst);
        queue.held.bytes.fetch_add(size, Ordering::SeqCst);
        if let Err(refused) = queue.sender.send(event) {
            // The queue's task has ended (serve is stopping).
            queue.held.release(&refused.0);
            return Err(Full);
        }
        Ok(())
    }

    /// Stops every queue: the events still in them are dropped, counted in one line.
    pub(crate) async fn shutdown(&self) {
        let queues = std::mem::take(&mut *lock(&self.queues));
        let held: usize = queues
            .values()
            .map(|queue| queue.held.events.load(Ordering::SeqCst))
            .sum();
        if held > 0 {
            println!("lambdakit: stopping {held} asynchronous invocation(s) queued or under way");
        }
        let mut workers = std::mem::take(&mut *lock(&self.workers));
        workers.shutdown().await;
    }
}

/// A queue's task: runs its events in order as instances come free, retries the failed ones,
/// and sends those done with to their destination.
async fn work(
    mut incoming: mpsc::UnboundedReceiver<Event>,
    held: Arc<Held>,
    emulator: Weak<Emulator>,
    retry_delay: Duration,
) {
    let mut ready: VecDeque<Event> = VecDeque::new();
    let mut delayed: JoinSet<Event> = JoinSet::new();
    let mut running: JoinSet<(Event, Invoked)> = JoinSet::new();
    loop {
        // Start what can start, in order.
        while let Some(mut event) = ready.pop_front() {
            let Some(this) = emulator.upgrade() else {
                return;
            };
            // It runs on the function's code of now, as on Lambda (UpdateFunctionCode, an
            // alias moved): the pool is looked up again for each attempt.
            match this.resolve(&event.function, Some(&event.qualifier)) {
                Ok((pool, _)) => event.pool = pool,
                Err(_) => {
                    held.release(&event);
                    eprintln!(
                        "lambdakit: dropped asynchronous invocation {} of `{}`: the function (at {}) is no longer served",
                        event.call.request_id, event.function, event.qualifier
                    );
                    continue;
                }
            }
            let config = this
                .queues
                .config(&event.function, &event.qualifier)
                .unwrap_or_default();
            if event.accepted.elapsed() > config.maximum_event_age {
                held.release(&event);
                this.settle(event, None, Condition::EventAgeExceeded, &config);
                continue;
            }
            // A rebuild holds new invocations (see `Emulator::hold_invocations`).
            let open = Arc::clone(&this.gate).read_owned().await;
            let Some(claim) = event.pool.claim(event.call.tenant.as_deref()) else {
                ready.push_front(event);
                break;
            };
            let answer = event.pool.start(claim, event.call.clone());
            running.spawn(async move {
                let invoked = answer.await.settled().await;
                drop(open);
                (event, invoked)
            });
        }
        let waiting = ready.front().map(|event| Arc::clone(&event.pool));
        tokio::select! {
            event = incoming.recv() => match event {
                Some(event) => ready.push_back(event),
                // Its sender is gone: serve is stopping.
                None => return,
            },
            Some(event) = delayed.join_next() => {
                if let Ok(event) = event {
                    ready.push_back(event);
                }
            }
            Some(ran) = running.join_next() => {
                let Ok((mut event, invoked)) = ran else {
                    continue;
                };
                event.attempts += 1;
                let Some(this) = emulator.upgrade() else {
                    return;
                };
                let config = this
                    .queues
                    .config(&event.function, &event.qualifier)
                    .unwrap_or_default();
                match invoked.outcome {
                    Outcome::Error(_) if event.attempts <= config.maximum_retry_attempts => {
                        let delay = retry_delay.saturating_mul(2u32.saturating_pow(event.attempts - 1));
                        delayed.spawn(async move {
                            tokio::time::sleep(delay).await;
                            event
                        });
                    }
                    Outcome::Error(_) => {
                        held.release(&event);
                        this.settle(event, Some(invoked), Condition::RetriesExhausted, &config);
                    }
                    Outcome::Response(_) => {
                        held.release(&event);
                        this.settle(event, Some(invoked), Condition::Success, &config);
                    }
                }
            }
            () = freed(waiting.as_deref()) => {}
        }
    }
}

/// Resolves when `pool` has an instance come free (or after [`RECHECK`]); never without one.
pub(super) async fn freed(pool: Option<&Pool>) {
    match pool {
        Some(pool) => {
            let _ = tokio::time::timeout(RECHECK, pool.freed.notified()).await;
        }
        None => std::future::pending().await,
    }
}

impl Emulator {
    /// The dead-letter queue of `function` (its `DeadLetterConfig.TargetArn`, or for a
    /// function of the project its `async.dead_letter`), when one is set; versions share their
    /// function's, as on Lambda.
    fn dead_letter_target(&self, function: &str) -> Option<String> {
        let created = lock(&self.records)
            .get(function)
            .and_then(|record| record.latest.dead_letter_target.clone());
        created.or_else(|| {
            self.pool(function)
                .filter(|pool| pool.created.is_none())
                .and_then(|pool| pool.function.deploy.asynchronous.clone())
                .and_then(|settings| settings.dead_letter)
        })
    }

    /// An event done with: to its destination for `condition`, if one is set, else (for a
    /// failure) dropped with one line naming it.
    fn settle(
        &self,
        event: Event,
        last: Option<Invoked>,
        condition: Condition,
        config: &EventConfig,
    ) {
        let destination = match condition {
            Condition::Success => config.on_success.as_deref(),
            Condition::RetriesExhausted | Condition::EventAgeExceeded => {
                config.on_failure.as_deref()
            }
        };
        let attempts = match event.attempts {
            1 => "1 attempt".to_owned(),
            attempts => format!("{attempts} attempts"),
        };
        let why = match (&condition, &last) {
            (Condition::EventAgeExceeded, _) => format!(
                "it was older than its maximum event age ({} s)",
                config.maximum_event_age.as_secs()
            ),
            (
                _,
                Some(Invoked {
                    outcome: Outcome::Error(error),
                    ..
                }),
            ) => format!("the last failed with {}", super::error_type(error)),
            _ => "it failed".to_owned(),
        };
        let request_id = &event.call.request_id;
        let function = &event.function;
        if condition != Condition::Success {
            *lock(&self.queues.failed)
                .entry(function.clone())
                .or_default() += 1;
        }
        let what = format!("asynchronous invocation {request_id} of `{function}` after {attempts}");
        let Some(destination) = destination else {
            if condition == Condition::Success {
                return;
            }
            let Some(target) = self.dead_letter_target(function) else {
                eprintln!(
                    "lambdakit: dropped {what}: {why}; no on-failure destination (PutFunctionEventInvokeConfig) or dead-letter queue (DeadLetterConfig) is set"
                );
                return;
            };
            let arn = match Arn::parse(&target) {
                Ok(arn) => arn,
                Err(problem) => {
                    eprintln!("lambdakit: dropped {what}: its dead-letter queue {problem}");
                    return;
                }
            };
            let error_message = match &last {
                Some(Invoked {
                    outcome: Outcome::Error(error),
                    ..
                }) => serde_json::from_slice::<Value>(error)
                    .ok()
                    .and_then(|error| error["errorMessage"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| why.clone()),
                _ => why.clone(),
            };
            let delivery = Delivery::DeadLetter {
                payload: event.call.payload.clone(),
                request_id: request_id.clone(),
                // A function's error is answered with 200 (and `X-Amz-Function-Error`).
                status: 200,
                error_message,
            };
            self.destinations.deliver(arn, target, delivery, what);
            return;
        };
        let lost = |reason: String| {
            eprintln!("lambdakit: dropped {what}: its destination {destination} {reason}");
        };
        let arn = match Arn::parse(destination) {
            Ok(arn) => arn,
            Err(problem) => return lost(format!("cannot be used: {problem}")),
        };
        if arn.service != Service::Lambda {
            let record = record(&event, last.as_ref(), condition);
            let function_arn = record["requestContext"]["functionArn"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let delivery = Delivery::Record {
                record,
                success: condition == Condition::Success,
                function: function.clone(),
                function_arn,
            };
            self.destinations
                .deliver(arn, destination.to_owned(), delivery, what);
            return;
        }
        let name = function_name(destination);
        let qualifier = destination
            .rsplit_once(":function:")
            .and_then(|(_, rest)| rest.split_once(':'))
            .map(|(_, qualifier)| qualifier.to_owned());
        let Ok((pool, invoked_arn)) = self.resolve(&name, qualifier.as_deref()) else {
            return lost("is not a function this serve runs".to_owned());
        };
        let record = record(&event, last.as_ref(), condition);
        let Some(this) = self.this.get() else {
            return lost("cannot be reached".to_owned());
        };
        let delivered = Event {
            call: Call {
                request_id: super::ids::request_id(),
                payload: Bytes::from(record.to_string()),
                client_context: None,
                identity: None,
                invoked_arn,
                trace: None,
                tenant: None,
                trigger: Trigger::Event,
            },
            pool,
            function: name,
            qualifier: qualifier.unwrap_or_else(|| "$LATEST".to_owned()),
            accepted: Instant::now(),
            attempts: 0,
        };
        if self.queues.push(this, delivered).is_err() {
            lost("has a full queue".to_owned());
        }
    }
}

/// The record Lambda sends a destination (AWS "Capturing records of Lambda asynchronous
/// invocations").
fn record(event: &Event, last: Option<&Invoked>, condition: Condition) -> Value {
    let mut arn = event
        .call
        .invoked_arn
        .clone()
        .unwrap_or_else(|| event.pool.arn.clone());
    if arn
        .rsplit_once(":function:")
        .is_some_and(|(_, rest)| !rest.contains(':'))
    {
        arn.push_str(":$LATEST");
    }
    let timestamp = super::lambda_api::last_modified(SystemTime::now()).replace("+0000", "Z");
    let json_or_text = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
    };
    let request_payload = if event.call.payload.is_empty() {
        Value::Null
    } else {
        json_or_text(&event.call.payload)
    };
    let mut record = json!({
        "version": "1.0",
        "timestamp": timestamp,
        "requestContext": {
            "requestId": event.call.request_id,
            "functionArn": arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": event.attempts,
        },
        "requestPayload": request_payload,
    });
    if let Some(last) = last {
        let (payload, error) = match &last.outcome {
            Outcome::Response(body) => (json_or_text(body), None),
            Outcome::Error(body) => (json_or_text(body), Some("Unhandled")),
        };
        let mut context = json!({
            "statusCode": 200,
            "executedVersion": event.pool.version,
        });
        if let Some(error) = error {
            context["functionError"] = json!(error);
        }
        record["responseContext"] = context;
        record["responsePayload"] = payload;
    }
    record
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::emulator::Served;
    use crate::project::Function;

    fn event(invoked_arn: Option<&str>, payload: &str) -> Event {
        let served = Served {
            function: Function::standalone("orders"),
            binary: "/nonexistent/bootstrap".into(),
            runner: Vec::new(),
            extensions: Vec::new(),
        };
        let pool = Pool::new(
            served,
            "eu-west-1",
            &BTreeMap::new(),
            false,
            crate::emulator::Common {
                generation: Arc::new(AtomicU64::new(0)),
                traces: Arc::new(crate::emulator::traces::Traces::open()),
                journal: Arc::default(),
            },
            None,
        );
        Event {
            call: Call {
                request_id: "id-1".into(),
                payload: Bytes::from(payload.to_owned()),
                client_context: None,
                identity: None,
                invoked_arn: invoked_arn.map(str::to_owned),
                trace: None,
                tenant: None,
                trigger: Trigger::Event,
            },
            pool: Arc::new(pool),
            function: "orders".into(),
            qualifier: "$LATEST".into(),
            accepted: Instant::now(),
            attempts: 2,
        }
    }

    #[test]
    fn records_have_lambdas_shape() {
        let invoked = Invoked {
            request_id: "id-1".into(),
            outcome: Outcome::Response(Bytes::from_static(b"\"done\"")),
            logs: String::new(),
        };
        let alias = "arn:aws:lambda:eu-west-1:123456789012:function:orders:live";
        let success = record(
            &event(Some(alias), r#"{"n": 1}"#),
            Some(&invoked),
            Condition::Success,
        );
        assert_eq!(success["requestContext"]["functionArn"], alias);
        assert_eq!(success["requestContext"]["condition"], "Success");
        assert_eq!(success["requestContext"]["approximateInvokeCount"], 2);
        assert_eq!(success["requestPayload"]["n"], 1);
        assert_eq!(success["responsePayload"], "done");
        assert_eq!(success["responseContext"]["statusCode"], 200);
        assert!(success["responseContext"].get("functionError").is_none());

        // An event that expired before any answer has no response to report.
        let expired = record(&event(None, ""), None, Condition::EventAgeExceeded);
        assert_eq!(
            expired["requestContext"]["functionArn"],
            "arn:aws:lambda:eu-west-1:123456789012:function:orders:$LATEST"
        );
        assert_eq!(expired["requestContext"]["condition"], "EventAgeExceeded");
        assert_eq!(expired["requestPayload"], Value::Null);
        assert!(expired.get("responseContext").is_none());
        let timestamp = expired["timestamp"].as_str().unwrap();
        assert_eq!(
            timestamp.len(),
            "2019-11-14T18:16:05.568Z".len(),
            "{timestamp}"
        );
        assert!(timestamp.ends_with('Z'));
    }

    #[test]
    fn a_queue_refuses_events_past_its_size() {
        let queues = Queues::new(Settings {
            retry_delay: Duration::from_millis(1),
            capacity: 2,
            capacity_bytes: 1024,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // Pushed without a pause, before the queue's task first runs: they stay queued.
            let nobody = Weak::new();
            assert!(queues.push(&nobody, event(None, "{}")).is_ok());
            assert!(queues.push(&nobody, event(None, "{}")).is_ok());
            assert!(queues.push(&nobody, event(None, "{}")).is_err());
            queues.shutdown().await;
        });
        let bytes = Queues::new(Settings {
            retry_delay: Duration::from_millis(1),
            capacity: 10,
            capacity_bytes: 10,
        });
        runtime.block_on(async {
            let nobody = Weak::new();
            assert!(bytes.push(&nobody, event(None, "\"12345\"")).is_ok());
            assert!(bytes.push(&nobody, event(None, "\"12345\"")).is_err());
            bytes.shutdown().await;
        });
    }
}
