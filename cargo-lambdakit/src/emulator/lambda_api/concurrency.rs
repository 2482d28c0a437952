//! Reserved concurrency (`PutFunctionConcurrency`, `GetFunctionConcurrency`,
//! `DeleteFunctionConcurrency`): the cap on each of a created function's pools, kept in its
//! record; `0` throttles every invocation, as on AWS.

use crate::emulator::RequestBody;
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{invalid, json_response, read_request};
use crate::emulator::{Body, Emulator, boxed, empty, lock};

/// The PutFunctionConcurrency request body (AWS Lambda API reference).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConcurrencyRequest {
    reserved_concurrent_executions: u32,
}

impl Emulator {
    /// `PutFunctionConcurrency` (a number) and `DeleteFunctionConcurrency` (`None`): the cap
    /// on each of the function's pools; `0` throttles every invocation, as on AWS.
    pub(super) async fn put_concurrency(
        &self,
        name: &str,
        reserved: Option<RequestBody>,
    ) -> Response<Body> {
        let reserved = match reserved {
            Some(body) => {
                let request: ConcurrencyRequest =
                    match read_request(body, "PutFunctionConcurrency").await {
                        Ok(request) => request,
                        Err(refusal) => return refusal,
                    };
                if request.reserved_concurrent_executions > 1_000 {
                    return invalid(&format!(
                        "ReservedConcurrentExecutions is {}; the account's limit is 1000",
                        request.reserved_concurrent_executions
                    ));
                }
                Some(request.reserved_concurrent_executions)
            }
            None => None,
        };
        let operation = if reserved.is_some() {
            "PutFunctionConcurrency"
        } else {
            "DeleteFunctionConcurrency"
        };
        let _changing = self.changes.lock().await;
        let mut record = match self.record(name, operation) {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        record.reserved_concurrency = reserved;
        let code = record.latest.code.clone();
        let replaced = self.replace_latest(record, &code).await;
        if !replaced.status().is_success() {
            return replaced;
        }
        // Versions' pools are made again, with the new cap, by their next invocation.
        for version in self.forget_versions(name) {
            version.stop_idle().await;
        }
        match reserved {
            Some(reserved) => json_response(
                StatusCode::OK,
                &json!({ "ReservedConcurrentExecutions": reserved }),
            ),
            None => boxed(empty(StatusCode::NO_CONTENT)),
        }
    }

    /// `GetFunctionConcurrency`: `{}` when none is reserved.
    pub(super) fn concurrency(&self, name: &str) -> Response<Body> {
        if self.pool(name).is_none() {
            return boxed(self.not_found(name));
        }
        let reserved = lock(&self.records)
            .get(name)
            .and_then(|record| record.reserved_concurrency);
        let answer = match reserved {
            Some(reserved) => json!({ "ReservedConcurrentExecutions": reserved }),
            None => json!({}),
        };
        json_response(StatusCode::OK, &answer)
    }
}
