//! Event invoke configs (AWS Lambda API reference, "PutFunctionEventInvokeConfig",
//! "UpdateFunctionEventInvokeConfig", "GetFunctionEventInvokeConfig",
//! "DeleteFunctionEventInvokeConfig"): how the queue of a function's `Event` invocations
//! retries them, how old they may grow, and where they go when done (`emulator::queue`), and
//! "ListFunctionEventInvokeConfigs". Any function served may have one per qualifier, its
//! own or a created one; they are kept in the state directory (`state::EVENT_CONFIGS`), so a
//! serve restarted on the same `--state` follows them again.

use std::time::{Duration, SystemTime};

use crate::emulator::RequestBody;
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{invalid, json_response, read_request, refused, service_error};
use crate::emulator::destinations::{Arn, Service};
use crate::emulator::queue::{EventConfig, MAX_EVENT_AGE, MAX_RETRY_ATTEMPTS};
use crate::emulator::{Body, Emulator, boxed, empty, function_arn, function_name, state};

/// The Put/UpdateFunctionEventInvokeConfig request body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigRequest {
    maximum_retry_attempts: Option<u32>,
    maximum_event_age_in_seconds: Option<u64>,
    destination_config: Option<DestinationsRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationsRequest {
    on_success: Option<DestinationRequest>,
    on_failure: Option<DestinationRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DestinationRequest {
    destination: Option<String>,
}

impl Emulator {
    /// `PutFunctionEventInvokeConfig` (the whole config, defaults for what is not given), or
    /// with `update`, `UpdateFunctionEventInvokeConfig` (what is given, over the config
    /// there).
    pub(super) async fn put_event_config(
        &self,
        name: &str,
        qualifier: Option<&str>,
        body: RequestBody,
        update: bool,
    ) -> Response<Body> {
        let operation = if update {
            "UpdateFunctionEventInvokeConfig"
        } else {
            "PutFunctionEventInvokeConfig"
        };
        if let Err(refusal) = self.resolve(name, qualifier) {
            return *refusal;
        }
        let request: ConfigRequest = match read_request(body, operation).await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        let qualifier = qualifier.unwrap_or("$LATEST");
        // One change at a time, each written to the state directory whole.
        let _changing = self.changes.lock().await;
        let current = self.queues.config(name, qualifier);
        let mut config = match (update, current) {
            (true, None) => return self.no_event_config(name, qualifier),
            (true, Some(current)) => current,
            (false, _) => EventConfig::default(),
        };
        if let Some(retries) = request.maximum_retry_attempts {
            if retries > MAX_RETRY_ATTEMPTS {
                return invalid(&format!(
                    "MaximumRetryAttempts is {retries}; it must be from 0 to {MAX_RETRY_ATTEMPTS}"
                ));
            }
            config.maximum_retry_attempts = retries;
        }
        if let Some(age) = request.maximum_event_age_in_seconds {
            if !(60..=MAX_EVENT_AGE.as_secs()).contains(&age) {
                return invalid(&format!(
                    "MaximumEventAgeInSeconds is {age}; it must be from 60 to {}",
                    MAX_EVENT_AGE.as_secs()
                ));
            }
            config.maximum_event_age = Duration::from_secs(age);
        }
        if let Some(destinations) = request.destination_config {
            for (given, kept, on_success) in [
                (destinations.on_success, &mut config.on_success, true),
                (destinations.on_failure, &mut config.on_failure, false),
            ] {
                let Some(given) = given else {
                    continue;
                };
                let destination = given.destination.filter(|arn| !arn.is_empty());
                if let Some(arn) = &destination
                    && let Err(problem) = check_destination(arn, name, on_success)
                {
                    return invalid(&problem);
                }
                *kept = destination;
            }
        }
        config.last_modified = SystemTime::now();
        let before = self
            .queues
            .set_config(name, qualifier, Some(config.clone()));
        if let Err(refusal) = self.save_event_configs().await {
            self.queues.set_config(name, qualifier, before);
            return refusal;
        }
        json_response(
            StatusCode::OK,
            &self.described_event_config(name, qualifier, &config),
        )
    }

    /// `GetFunctionEventInvokeConfig`, or with `delete`, `DeleteFunctionEventInvokeConfig`.
    pub(super) async fn event_config(
        &self,
        name: &str,
        qualifier: Option<&str>,
        delete: bool,
    ) -> Response<Body> {
        if let Err(refusal) = self.resolve(name, qualifier) {
            return *refusal;
        }
        let qualifier = qualifier.unwrap_or("$LATEST");
        if delete {
            let _changing = self.changes.lock().await;
            let Some(before) = self.queues.set_config(name, qualifier, None) else {
                return self.no_event_config(name, qualifier);
            };
            if let Err(refusal) = self.save_event_configs().await {
                self.queues.set_config(name, qualifier, Some(before));
                return refusal;
            }
            return boxed(empty(StatusCode::NO_CONTENT));
        }
        match self.queues.config(name, qualifier) {
            Some(config) => json_response(
                StatusCode::OK,
                &self.described_event_config(name, qualifier, &config),
            ),
            None => self.no_event_config(name, qualifier),
        }
    }

    /// `ListFunctionEventInvokeConfigs`, a page at a time: `MaxItems` (1 to 50, 50 by
    /// default) after `Marker`, the `NextMarker` of the page before (the qualifier of its last
    /// config).
    pub(super) fn list_event_configs(
        &self,
        name: &str,
        marker: Option<&str>,
        max_items: usize,
    ) -> Response<Body> {
        if let Err(refusal) = self.resolve(name, None) {
            return *refusal;
        }
        let after: Vec<_> = self
            .queues
            .configs_of(name)
            .into_iter()
            .filter(|(qualifier, _)| marker.is_none_or(|marker| qualifier.as_str() > marker))
            .collect();
        let page = &after[..after.len().min(max_items)];
        let configs: Vec<Value> = page
            .iter()
            .map(|(qualifier, config)| self.described_event_config(name, qualifier, config))
            .collect();
        let mut answer = json!({ "FunctionEventInvokeConfigs": configs });
        if after.len() > page.len()
            && let Some((last, _)) = page.last()
        {
            answer["NextMarker"] = json!(last);
        }
        json_response(StatusCode::OK, &answer)
    }

    /// Writes every event invoke config into the state directory; the caller holds
    /// `changes`, so writes come one at a time.
    pub(super) async fn save_event_configs(&self) -> Result<(), Response<Body>> {
        let configs = self.queues.kept_configs();
        let dir = self.state.clone();
        let saved =
            tokio::task::spawn_blocking(move || state::save_event_configs(&dir, configs)).await;
        let problem = match saved {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(error)) => error.to_string(),
            Err(error) => error.to_string(),
        };
        Err(service_error(&format!(
            "the event invoke configs cannot be written into the state directory `{}`: {problem}",
            self.state.display()
        )))
    }

    /// Follows the event invoke configs an earlier serve kept in the state directory; returns
    /// a warning for the file, or for each config that cannot be followed.
    pub(super) fn load_event_configs(&self) -> Vec<String> {
        let kept = match state::load_event_configs(&self.state) {
            Ok(kept) => kept,
            Err(warning) => return vec![warning],
        };
        let mut warnings = Vec::new();
        for kept in kept {
            match EventConfig::read_back(&kept) {
                Some(config) => {
                    self.queues
                        .set_config(&kept.function, &kept.qualifier, Some(config));
                }
                None => warnings.push(format!(
                    "warning: the event invoke config of `{}` at {} in `{}` is out of Lambda's bounds (MaximumRetryAttempts up to {MAX_RETRY_ATTEMPTS}, MaximumEventAgeInSeconds up to {}) and is not followed\nhint: put it again (PutFunctionEventInvokeConfig)",
                    kept.function,
                    kept.qualifier,
                    self.state.join(state::EVENT_CONFIGS).display(),
                    MAX_EVENT_AGE.as_secs()
                )),
            }
        }
        warnings
    }

    fn no_event_config(&self, name: &str, qualifier: &str) -> Response<Body> {
        refused(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!(
                "The function {}:{qualifier} doesn't have an EventInvokeConfig",
                function_arn(&self.region, name)
            ),
        )
    }

    /// A config as the Lambda API answers it (`FunctionEventInvokeConfig`).
    fn described_event_config(&self, name: &str, qualifier: &str, config: &EventConfig) -> Value {
        let destination = |arn: &Option<String>| match arn {
            Some(arn) => json!({ "Destination": arn }),
            None => json!({}),
        };
        let last_modified = config
            .last_modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        json!({
            "FunctionArn": format!("{}:{qualifier}", function_arn(&self.region, name)),
            "LastModified": last_modified,
            "MaximumRetryAttempts": config.maximum_retry_attempts,
            "MaximumEventAgeInSeconds": config.maximum_event_age.as_secs(),
            "DestinationConfig": {
                "OnSuccess": destination(&config.on_success),
                "OnFailure": destination(&config.on_failure),
            },
        })
    }
}

/// A destination Lambda takes: the ARN of a Lambda function (other than `function` itself),
/// an SQS queue, an SNS topic, an EventBridge bus or, for failures only, an S3 bucket.
fn check_destination(arn: &str, function: &str, on_success: bool) -> Result<(), String> {
    let parsed = Arn::parse(arn).map_err(|problem| format!("the destination {problem}"))?;
    match parsed.service {
        Service::Lambda if function_name(arn) == function => Err(format!(
            "the destination {arn} is the function itself; a function cannot be its own destination"
        )),
        Service::S3 if on_success => Err(format!(
            "the destination {arn} is an S3 bucket, which Lambda takes for failures only (OnFailure)"
        )),
        _ => Ok(()),
    }
}
