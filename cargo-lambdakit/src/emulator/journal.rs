//! What serve's invocations came to, kept for the console (`console`): the last
//! [`KEPT`] invocations of every function, each with its event, its answer or error, its log
//! lines and its REPORT figures, numbered in the order they ended, and told to whoever
//! listens as each ends.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// How many invocations are kept; older ones are dropped as new ones end.
pub(crate) const KEPT: usize = 10_000;

/// How many ended invocations a slow listener may fall behind before it misses some.
const BACKLOG: usize = 1024;

/// What started an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// The Invoke API, `RequestResponse` (or `DryRun`): an SDK, the AWS CLI, `invoke`.
    Invoke,
    /// The Invoke API with `InvokeWithResponseStream`.
    Stream,
    /// An `Event` invocation from serve's queue (the Invoke API's, an S3 notification's, a
    /// destination's).
    Event,
    /// A request to the function's URL.
    Url,
    /// A request to the project's HTTP API.
    Api,
    /// A batch of an SQS queue, or of a Kinesis or DynamoDB stream (`--event-sources`).
    Poller,
    /// An S3 notification (`--event-sources`).
    S3,
    /// A schedule (`--event-sources`).
    Schedule,
    /// A state machine's Task state.
    StateMachine,
    /// The console's own invoke.
    Console,
}

impl Trigger {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Invoke => "invoke",
            Self::Stream => "stream",
            Self::Event => "event",
            Self::Url => "function-url",
            Self::Api => "http-api",
            Self::Poller => "event-source",
            Self::S3 => "s3",
            Self::Schedule => "schedule",
            Self::StateMachine => "state-machine",
            Self::Console => "console",
        }
    }
}

/// An invocation that ended.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Its place in the order invocations ended, from 1.
    pub(crate) number: u64,
    pub(crate) request_id: String,
    pub(crate) function: String,
    pub(crate) version: String,
    pub(crate) trigger: Trigger,
    pub(crate) started: SystemTime,
    /// REPORT's figures.
    pub(crate) duration_ms: f64,
    pub(crate) billed_ms: u64,
    pub(crate) memory_mb: u32,
    pub(crate) max_memory_mb: u64,
    /// `Some` for a cold start: its Init Duration.
    pub(crate) init_ms: Option<f64>,
    /// What it would cost on Lambda, when the price table has its architecture.
    pub(crate) cost_usd: Option<f64>,
    /// The error's type, for an invocation that failed.
    pub(crate) error_type: Option<String>,
    pub(crate) event: Bytes,
    /// The answer, or the error's body.
    pub(crate) answer: Bytes,
    pub(crate) logs: String,
    /// Its X-Ray trace id (`1-...`), when it was sampled.
    pub(crate) trace_id: Option<String>,
}

impl Entry {
    /// The figures the console's list shows.
    pub(crate) fn summary(&self) -> Value {
        json!({
            "number": self.number,
            "request_id": self.request_id,
            "function": self.function,
            "version": self.version,
            "trigger": self.trigger.as_str(),
            "started": crate::time::rfc3339(self.started),
            "cold": self.init_ms.is_some(),
            "init_ms": self.init_ms,
            "duration_ms": self.duration_ms,
            "billed_ms": self.billed_ms,
            "memory_mb": self.memory_mb,
            "max_memory_mb": self.max_memory_mb,
            "cost_usd": self.cost_usd,
            "outcome": if self.error_type.is_some() { "error" } else { "success" },
            "error_type": self.error_type,
            "trace_id": self.trace_id,
        })
    }

    /// The summary with what the invocation got and gave: its event, answer and log lines
    /// (JSON where they are JSON, else text).
    pub(crate) fn detail(&self) -> Value {
        let mut detail = self.summary();
        detail["event"] = readable(&self.event);
        detail["answer"] = readable(&self.answer);
        detail["logs"] = Value::String(self.logs.clone());
        detail
    }
}

/// `bytes` as JSON when they are, else as text (lossy), for the page to show.
fn readable(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The invocations kept, and the channel each one that ends is told on.
#[derive(Debug)]
pub(crate) struct Journal {
    kept: Mutex<VecDeque<Arc<Entry>>>,
    ended: broadcast::Sender<Arc<Entry>>,
}

impl Default for Journal {
    fn default() -> Self {
        Self {
            kept: Mutex::default(),
            ended: broadcast::Sender::new(BACKLOG),
        }
    }
}

impl Journal {
    /// Keeps `entry` (numbered here) and tells the listeners.
    pub(crate) fn record(&self, mut entry: Entry) {
        let entry = {
            let mut kept = lock(&self.kept);
            entry.number = kept.back().map_or(1, |last| last.number + 1);
            let entry = Arc::new(entry);
            if kept.len() == KEPT {
                kept.pop_front();
            }
            kept.push_back(Arc::clone(&entry));
            entry
        };
        // Nobody listening is fine.
        let _ = self.ended.send(entry);
    }

    /// Up to `limit` of the invocations kept that ended before number `before` (all, when
    /// `None`), newest first, and how many are kept in all.
    pub(crate) fn page(&self, before: Option<u64>, limit: usize) -> (Vec<Arc<Entry>>, usize) {
        let kept = lock(&self.kept);
        let end = match before {
            // Numbers rise by one along the deque: the place of `before` is found at once.
            Some(before) => match kept.front() {
                Some(first) => usize::try_from(before.saturating_sub(first.number))
                    .unwrap_or(usize::MAX)
                    .min(kept.len()),
                None => 0,
            },
            None => kept.len(),
        };
        let start = end.saturating_sub(limit);
        let page = kept.range(start..end).rev().cloned().collect();
        (page, kept.len())
    }

    /// The invocation `request_id`, if it is kept (the last one of that id: a retried `Event`
    /// invocation keeps its id).
    pub(crate) fn find(&self, request_id: &str) -> Option<Arc<Entry>> {
        lock(&self.kept)
            .iter()
            .rev()
            .find(|entry| entry.request_id == request_id)
            .cloned()
    }

    /// The invocations that end from now on.
    pub(crate) fn listen(&self) -> broadcast::Receiver<Arc<Entry>> {
        self.ended.subscribe()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(request_id: &str) -> Entry {
        Entry {
            number: 0,
            request_id: request_id.into(),
            function: "f".into(),
            version: "$LATEST".into(),
            trigger: Trigger::Invoke,
            started: SystemTime::UNIX_EPOCH,
            duration_ms: 1.0,
            billed_ms: 1,
            memory_mb: 128,
            max_memory_mb: 10,
            init_ms: None,
            cost_usd: None,
            error_type: None,
            event: Bytes::from_static(b"{}"),
            answer: Bytes::from_static(b"not json"),
            logs: String::new(),
            trace_id: None,
        }
    }

    #[test]
    fn pages_go_back_from_the_newest_and_the_oldest_drop_out() {
        let journal = Journal::default();
        let mut listener = journal.listen();
        journal.record(entry("id-0"));
        assert_eq!(listener.try_recv().unwrap().number, 1);
        for n in 1..(KEPT + 5) {
            journal.record(entry(&format!("id-{n}")));
        }
        // A listener that fell behind is told how much it missed.
        assert!(matches!(
            listener.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
        let (newest, kept) = journal.page(None, 3);
        assert_eq!(kept, KEPT);
        let numbers: Vec<u64> = newest.iter().map(|entry| entry.number).collect();
        let last = (KEPT + 5) as u64;
        assert_eq!(numbers, [last, last - 1, last - 2]);
        let (before, _) = journal.page(Some(last - 2), 2);
        let numbers: Vec<u64> = before.iter().map(|entry| entry.number).collect();
        assert_eq!(numbers, [last - 3, last - 4]);
        // The first five are gone; a page before the oldest kept is empty.
        assert!(journal.find("id-0").is_none());
        assert!(journal.find("id-5").is_some());
        assert!(journal.page(Some(6), 10).0.is_empty());
        let detail = journal.find("id-7").unwrap().detail();
        assert_eq!(detail["event"], json!({}));
        assert_eq!(detail["answer"], "not json");
        assert_eq!(detail["outcome"], "success");
    }
}
