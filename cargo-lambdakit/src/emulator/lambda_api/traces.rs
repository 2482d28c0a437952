//! lambdakit's own paths for the traces serve keeps (`emulator::traces`): the list, newest
//! first, as `{"traces": [summary, ..]}`, and one trace with its spans, as `cargo lambdakit
//! traces` reads them (the shapes are `crate::spans`').

use http::{Response, StatusCode};

use super::{invalid, json_response, refused};
use crate::emulator::traces::MAX_TRACES;
use crate::emulator::{Body, Emulator};

impl Emulator {
    /// `GET /lambdakit/traces`.
    pub(super) fn list_traces(&self) -> Response<Body> {
        json_response(
            StatusCode::OK,
            &serde_json::json!({ "traces": self.traces.list() }),
        )
    }

    /// `GET /lambdakit/traces/{id}`: `404 ResourceNotFoundException` for a trace serve does not
    /// keep, `400` for an id of neither form.
    pub(crate) fn get_trace(&self, id: &str) -> Response<Body> {
        let Some(hex) = crate::spans::normalize_trace_id(id) else {
            return invalid(&format!(
                "`{id}` is not a trace id: 32 hex digits, or X-Ray's `1-{{8 hex}}-{{24 hex}}`"
            ));
        };
        match self.traces.get(&hex) {
            Some(trace) => match serde_json::to_value(&trace) {
                Ok(trace) => json_response(StatusCode::OK, &trace),
                Err(error) => super::service_error(&error.to_string()),
            },
            None => refused(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!(
                    "serve keeps no trace `{id}`: it keeps the last {MAX_TRACES} traces of sampled invocations (a caller's `Sampled=0` is not)"
                ),
            ),
        }
    }
}
