//! An execution's history, as `GetExecutionHistory` returns it: numbered events, each with the
//! id of the event before it on its path (a Parallel branch or Map iteration has a path of its
//! own), a timestamp and the details the event's type carries.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The events of one execution; clones share them.
#[derive(Debug, Clone, Default)]
pub struct History {
    events: Arc<Mutex<Vec<Event>>>,
}

/// One history event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// From 1, in the order recorded.
    pub id: u64,
    /// The event before it on its path (0 for the first).
    pub previous_event_id: u64,
    /// When it happened.
    pub timestamp: SystemTime,
    /// `ExecutionStarted`, `PassStateEntered`, ...
    pub kind: String,
    /// The details' field name (`stateEnteredEventDetails`) and value, for types that have
    /// them.
    pub details: Option<(&'static str, Value)>,
}

impl Event {
    /// The event as the API's JSON writes it (timestamps in epoch seconds).
    pub fn to_json(&self) -> Value {
        let seconds = self
            .timestamp
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let mut event = json!({
            "id": self.id,
            "previousEventId": self.previous_event_id,
            "timestamp": seconds,
            "type": self.kind,
        });
        if let (Some((field, details)), Value::Object(map)) = (&self.details, &mut event) {
            map.insert((*field).to_owned(), details.clone());
        }
        event
    }
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// The types of the events so far, in order (for tests and timelines).
    pub fn kinds(&self) -> Vec<String> {
        self.lock().iter().map(|event| event.kind.clone()).collect()
    }

    /// `{"events": [...]}`, as `GetExecutionHistory` answers.
    pub fn to_json(&self) -> Value {
        json!({"events": self.lock().iter().map(Event::to_json).collect::<Vec<_>>()})
    }

    /// Records an event after `previous` and returns its id.
    pub(crate) fn record(
        &self,
        previous: u64,
        kind: impl Into<String>,
        details: Option<(&'static str, Value)>,
    ) -> u64 {
        let mut events = self.lock();
        let id = events.len() as u64 + 1;
        events.push(Event {
            id,
            previous_event_id: previous,
            timestamp: SystemTime::now(),
            kind: kind.into(),
            details,
        });
        id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        // A panic while pushing leaves the vector whole: keep reading it.
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `inputDetails`/`outputDetails`: the JSON is never cut short here.
pub(crate) fn truncated() -> Value {
    json!({"truncated": false})
}
