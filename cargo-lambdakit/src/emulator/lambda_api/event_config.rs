//! Event invoke configs (AWS Lambda API reference, "PutFunctionEventInvokeConfig",
//! "UpdateFunctionEventInvokeConfig", "GetFunctionEventInvokeConfig",
//! "DeleteFunctionEventInvokeConfig"): how the queue of a function's `Event` invocations
//! retries them, how old they may grow, and where they go when done (`emulator::queue`).
//! Any function served has one, its own or a created one, per qualifier; they last as long
//! as serve.

use std::time::{Duration, SystemTime};

use crate::emulator::RequestBody;
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{invalid, json_response, read_request, refused};
use crate::emulator::queue::{EventConfig, MAX_EVENT_AGE, MAX_RETRY_ATTEMPTS};
use crate::emulator::{Body, Emulator, boxed, empty, function_arn, function_name};

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
            for (given, kept) in [
                (destinations.on_success, &mut config.on_success),
                (destinations.on_failure, &mut config.on_failure),
            ] {
                let Some(given) = given else {
                    continue;
                };
                let destination = given.destination.filter(|arn| !arn.is_empty());
                if let Some(arn) = &destination
                    && let Err(problem) = check_destination(arn, name)
                {
                    return invalid(&problem);
                }
                *kept = destination;
            }
        }
        config.last_modified = SystemTime::now();
        self.queues
            .set_config(name, qualifier, Some(config.clone()));
        json_response(
            StatusCode::OK,
            &self.described_event_config(name, qualifier, &config),
        )
    }

    /// `GetFunctionEventInvokeConfig`, or with `delete`, `DeleteFunctionEventInvokeConfig`.
    pub(super) fn event_config(
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
            return match self.queues.set_config(name, qualifier, None) {
                Some(_) => boxed(empty(StatusCode::NO_CONTENT)),
                None => self.no_event_config(name, qualifier),
            };
        }
        match self.queues.config(name, qualifier) {
            Some(config) => json_response(
                StatusCode::OK,
                &self.described_event_config(name, qualifier, &config),
            ),
            None => self.no_event_config(name, qualifier),
        }
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
/// an SQS queue, an SNS topic, an EventBridge bus or an S3 bucket.
fn check_destination(arn: &str, function: &str) -> Result<(), String> {
    let service = arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split(':').nth(1));
    match service {
        Some("lambda") if arn.contains(":function:") => {
            if function_name(arn) == function {
                Err(format!(
                    "the destination {arn} is the function itself; a function cannot be its own destination"
                ))
            } else {
                Ok(())
            }
        }
        Some("sqs" | "sns" | "events" | "s3") => Ok(()),
        _ => Err(format!(
            "the destination `{arn}` is not the ARN of a Lambda function, an SQS queue, an SNS topic, an EventBridge event bus or an S3 bucket"
        )),
    }
}
