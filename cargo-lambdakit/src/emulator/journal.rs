//! What serve's invocations came to, kept for the console (`console`): the last
//! [`KEPT`] invocations of every function with their REPORT figures, numbered in the order they
//! ended, and told to whoever listens as each ends; and of the newest, within [`BODY_BUDGET`]
//! bytes, their event, answer or error and log lines (each cut at [`BODY_CAP`]), so that a
//! serve left running with large payloads keeps a bounded memory.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::lock;

/// How many invocations are kept; older ones are dropped as new ones end.
pub(crate) const KEPT: usize = 10_000;

/// How many bytes of events, answers and logs are kept in all; the oldest invocations' go
/// first.
pub(crate) const BODY_BUDGET: usize = 16 * 1024 * 1024;
/// How much of one event, answer or log is kept.
pub(crate) const BODY_CAP: usize = 256 * 1024;

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
    /// What it got and gave, until the budget drops them.
    pub(crate) bodies: Mutex<Option<Bodies>>,
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
        match &*lock(&self.bodies) {
            Some(bodies) => {
                detail["event"] = readable(&bodies.event);
                detail["answer"] = readable(&bodies.answer);
                detail["logs"] = Value::String(String::from_utf8_lossy(&bodies.logs).into());
                detail["cut"] = json!(bodies.cut);
            }
            None => {
                detail["dropped"] = Value::String(format!(
                    "serve keeps the events, answers and logs of its newest invocations, {} MiB of them",
                    BODY_BUDGET / 1024 / 1024
                ));
            }
        }
        detail
    }
}

/// An invocation's event, answer (or error) and log lines, each cut at [`BODY_CAP`] bytes.
#[derive(Debug)]
pub(crate) struct Bodies {
    event: Bytes,
    answer: Bytes,
    logs: Bytes,
    /// The names of those cut.
    cut: Vec<&'static str>,
}

impl Bodies {
    pub(crate) fn new(event: &Bytes, answer: &Bytes, logs: &str) -> Self {
        let mut cut = Vec::new();
        let mut keep = |name: &'static str, bytes: &[u8]| {
            if bytes.len() > BODY_CAP {
                cut.push(name);
            }
            // A copy: a slice would keep the whole of a large payload alive.
            Bytes::copy_from_slice(&bytes[..bytes.len().min(BODY_CAP)])
        };
        Self {
            event: keep("event", event),
            answer: keep("answer", answer),
            logs: keep("logs", logs.as_bytes()),
            cut,
        }
    }

    fn size(&self) -> usize {
        self.event.len() + self.answer.len() + self.logs.len()
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
    kept: Mutex<Kept>,
    ended: broadcast::Sender<Arc<Entry>>,
}

/// The entries kept, oldest first, and the bytes of the bodies they still hold.
#[derive(Debug, Default)]
struct Kept {
    entries: VecDeque<Arc<Entry>>,
    body_bytes: usize,
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
            let Kept {
                entries,
                body_bytes,
            } = &mut *kept;
            entry.number = entries.back().map_or(1, |last| last.number + 1);
            *body_bytes += lock(&entry.bodies).as_ref().map_or(0, Bodies::size);
            let entry = Arc::new(entry);
            if entries.len() == KEPT
                && let Some(oldest) = entries.pop_front()
            {
                *body_bytes -= lock(&oldest.bodies).as_ref().map_or(0, Bodies::size);
            }
            entries.push_back(Arc::clone(&entry));
            // Over budget: the oldest bodies go (from the first entry that still has one).
            for older in entries.iter() {
                if *body_bytes <= BODY_BUDGET {
                    break;
                }
                if let Some(bodies) = lock(&older.bodies).take() {
                    *body_bytes -= bodies.size();
                }
            }
            entry
        };
        // Nobody listening is fine.
        let _ = self.ended.send(entry);
    }

    /// Up to `limit` of the invocations kept that ended before number `before` (all, when
    /// `None`), newest first, and how many are kept in all.
    pub(crate) fn page(&self, before: Option<u64>, limit: usize) -> (Vec<Arc<Entry>>, usize) {
        let kept = &lock(&self.kept).entries;
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
            .entries
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
            bodies: Mutex::new(Some(Bodies::new(
                &Bytes::from_static(b"{}"),
                &Bytes::from_static(b"not json"),
                "",
            ))),
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

    #[test]
    fn bodies_are_cut_and_the_oldest_dropped_past_the_budget() {
        let journal = Journal::default();
        let large = Bytes::from(vec![b'x'; BODY_CAP + 10]);
        // Two bodies of `BODY_CAP` each (the log is small): three entries past the budget.
        let count = BODY_BUDGET / (2 * BODY_CAP) + 3;
        for n in 0..count {
            let mut entry = entry(&format!("big-{n}"));
            entry.bodies = Mutex::new(Some(Bodies::new(&large, &large, "log line\n")));
            journal.record(entry);
        }
        let newest = journal
            .find(&format!("big-{}", count - 1))
            .unwrap()
            .detail();
        assert_eq!(newest["event"].as_str().unwrap().len(), BODY_CAP);
        assert_eq!(newest["cut"], json!(["event", "answer"]));
        assert_eq!(newest["logs"], "log line\n");
        let oldest = journal.find("big-0").unwrap().detail();
        assert!(oldest["event"].is_null(), "{oldest}");
        assert!(oldest["dropped"].as_str().unwrap().contains("16 MiB"));
        assert!(lock(&journal.kept).body_bytes <= BODY_BUDGET);
        // The summaries are all still there.
        assert_eq!(journal.page(None, KEPT).0.len(), count);
    }
}
