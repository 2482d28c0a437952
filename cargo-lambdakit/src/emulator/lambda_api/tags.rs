//! A function's tags: CreateFunction's `Tags`, `ListTags`, `TagResource` and `UntagResource`
//! (GetFunction reports them too), kept in a created function's record.

use std::collections::BTreeMap;

use crate::emulator::RequestBody;
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{invalid, json_response, read_request};
use crate::emulator::state::Record;
use crate::emulator::{Body, Emulator, boxed, empty, lock};

/// The TagResource request body (AWS Lambda API reference, "TagResource").
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagRequest {
    tags: BTreeMap<String, String>,
}

impl Emulator {
    /// `ListTags`.
    pub(super) fn tags(&self, name: &str) -> Response<Body> {
        if self.pool(name).is_none() {
            return boxed(self.not_found(name));
        }
        let tags = lock(&self.records)
            .get(name)
            .map(|record| record.tags.clone())
            .unwrap_or_default();
        json_response(StatusCode::OK, &json!({ "Tags": tags }))
    }

    /// `TagResource`: tags added or changed.
    pub(super) async fn tag(&self, name: &str, body: RequestBody) -> Response<Body> {
        let request: TagRequest = match read_request(body, "TagResource").await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        let _changing = self.changes.lock().await;
        let mut record = match self.record(name, "TagResource") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        record.tags.extend(request.tags);
        if record.tags.len() > 50 {
            return invalid("a function takes at most 50 tags");
        }
        self.save_tags(record).await
    }

    /// `UntagResource`.
    pub(super) async fn untag(&self, name: &str, keys: &[String]) -> Response<Body> {
        let _changing = self.changes.lock().await;
        let mut record = match self.record(name, "UntagResource") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        record.tags.retain(|key, _| !keys.contains(key));
        self.save_tags(record).await
    }

    async fn save_tags(&self, record: Record) -> Response<Body> {
        if let Err(refusal) = self.save(&record).await {
            return refusal;
        }
        lock(&self.records).insert(record.name.clone(), record);
        boxed(empty(StatusCode::NO_CONTENT))
    }
}
