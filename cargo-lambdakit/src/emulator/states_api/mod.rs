//! The Step Functions API of the local Lambda, so that `aws-sdk-sfn`, the AWS CLI and
//! `deploy --local` create state machines on serve's port and run them there: the AWS JSON 1.0
//! protocol (`POST /`, the action in `X-Amz-Target: AWSStepFunctions.{Action}`, requests signed
//! for `states`), its answers and errors shaped as the service's (Step Functions API
//! reference). Executions run on [`crate::states`]' interpreter, their Task states invoking
//! serve's functions as Invoke does.
//!
//! The actions, by resource: `machines` (Create/Describe/Update/Delete/ListStateMachines,
//! DescribeStateMachineForExecution and the tags) and `executions` (StartExecution,
//! StartSyncExecution, DescribeExecution, GetExecutionHistory, ListExecutions,
//! StopExecution). What they share, the store and the protocol's answers, is here.
//!
//! Not here: activities, callbacks (`.waitForTaskToken`), versions and aliases of state
//! machines, Map runs, and keeping machines across serve's runs (`--state`).

mod executions;
mod machines;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::emulator::{Body, Emulator, RequestBody, boxed, lock};

use self::executions::Run;
use self::machines::Machine;

/// The header naming a JSON-protocol request's action.
pub(crate) const TARGET_HEADER: &str = "x-amz-target";

/// The service name Step Functions calls are signed for.
pub(crate) const SERVICE: &str = "states";

/// What `X-Amz-Target` starts with for Step Functions.
const TARGET_PREFIX: &str = "AWSStepFunctions.";

/// The protocol's content type, for requests and answers.
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The largest request: a definition may be 1 MB (Step Functions quotas), and the JSON around
/// it.
const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

/// How many ended executions serve keeps for Describe/List/GetExecutionHistory, oldest
/// forgotten first: serve may run for days.
const KEPT_EXECUTIONS: usize = 1000;

/// An action of the Step Functions API that serve answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    CreateStateMachine,
    DescribeStateMachine,
    UpdateStateMachine,
    DeleteStateMachine,
    ListStateMachines,
    DescribeStateMachineForExecution,
    TagResource,
    UntagResource,
    ListTagsForResource,
    StartExecution,
    StartSyncExecution,
    DescribeExecution,
    GetExecutionHistory,
    ListExecutions,
    StopExecution,
}

impl Action {
    const ALL: [Self; 15] = [
        Self::CreateStateMachine,
        Self::DescribeStateMachine,
        Self::UpdateStateMachine,
        Self::DeleteStateMachine,
        Self::ListStateMachines,
        Self::DescribeStateMachineForExecution,
        Self::TagResource,
        Self::UntagResource,
        Self::ListTagsForResource,
        Self::StartExecution,
        Self::StartSyncExecution,
        Self::DescribeExecution,
        Self::GetExecutionHistory,
        Self::ListExecutions,
        Self::StopExecution,
    ];

    /// The action's name, as the API and `X-Amz-Target` spell it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::CreateStateMachine => "CreateStateMachine",
            Self::DescribeStateMachine => "DescribeStateMachine",
            Self::UpdateStateMachine => "UpdateStateMachine",
            Self::DeleteStateMachine => "DeleteStateMachine",
            Self::ListStateMachines => "ListStateMachines",
            Self::DescribeStateMachineForExecution => "DescribeStateMachineForExecution",
            Self::TagResource => "TagResource",
            Self::UntagResource => "UntagResource",
            Self::ListTagsForResource => "ListTagsForResource",
            Self::StartExecution => "StartExecution",
            Self::StartSyncExecution => "StartSyncExecution",
            Self::DescribeExecution => "DescribeExecution",
            Self::GetExecutionHistory => "GetExecutionHistory",
            Self::ListExecutions => "ListExecutions",
            Self::StopExecution => "StopExecution",
        }
    }

    /// The action `X-Amz-Target` names, if serve answers it.
    pub(crate) fn targeted(target: &str) -> Option<Self> {
        let name = target.trim().strip_prefix(TARGET_PREFIX)?;
        Self::ALL.into_iter().find(|action| action.name() == name)
    }
}

/// The answer to an `X-Amz-Target` serve has no action for.
pub(crate) fn unknown_target(target: &str) -> Response<Body> {
    let message = match target.strip_prefix(TARGET_PREFIX) {
        Some(action) => format!(
            "`{action}` is not an action of the local Step Functions API; it answers {}",
            Action::ALL.map(Action::name).join(", ")
        ),
        None => format!(
            "`X-Amz-Target: {target}` names no API of the local Lambda; it has Lambda's (REST) and Step Functions' (`{TARGET_PREFIX}*`)"
        ),
    };
    Fault::new(Code::UnknownOperation, message).response()
}

/// The state machines created on serve and their executions.
#[derive(Debug, Default)]
pub(crate) struct StepFunctions {
    /// By name.
    machines: Mutex<BTreeMap<String, Machine>>,
    /// In the order started; the ended ones beyond [`KEPT_EXECUTIONS`] are forgotten.
    executions: Mutex<Vec<Arc<Run>>>,
    /// The executions under way, each a task; aborted by [`StepFunctions::shutdown`].
    running: Mutex<JoinSet<()>>,
    /// How much faster than real time Wait states and retry intervals pass
    /// (`serve --wait-speed`).
    wait_speed: f64,
}

impl StepFunctions {
    /// Executions whose waits pass `wait_speed` times faster than real time.
    pub(crate) fn new(wait_speed: f64) -> Self {
        Self {
            wait_speed,
            ..Self::default()
        }
    }

    /// Stops every execution under way.
    pub(crate) async fn shutdown(&self) {
        let mut running = std::mem::take(&mut *lock(&self.running));
        running.shutdown().await;
    }
}

impl Emulator {
    /// Answers a Step Functions `action` with the request's `body`.
    pub(crate) async fn step_functions(&self, action: Action, body: RequestBody) -> Response<Body> {
        let request: Value = match read(body, action).await {
            Ok(request) => request,
            Err(fault) => return fault.response(),
        };
        let answer = match action {
            Action::CreateStateMachine => self.create_state_machine(&request),
            Action::DescribeStateMachine => self.describe_state_machine(&request),
            Action::UpdateStateMachine => self.update_state_machine(&request),
            Action::DeleteStateMachine => self.delete_state_machine(&request),
            Action::ListStateMachines => self.list_state_machines(&request),
            Action::DescribeStateMachineForExecution => {
                self.describe_state_machine_for_execution(&request)
            }
            Action::TagResource => self.tag_state_machine(&request),
            Action::UntagResource => self.untag_state_machine(&request),
            Action::ListTagsForResource => self.state_machine_tags(&request),
            Action::StartExecution => self.start_execution(&request),
            Action::StartSyncExecution => self.start_sync_execution(&request).await,
            Action::DescribeExecution => self.describe_execution(&request),
            Action::GetExecutionHistory => self.execution_history(&request),
            Action::ListExecutions => self.list_executions(&request),
            Action::StopExecution => self.stop_execution(&request),
        };
        match answer {
            Ok(value) => json_response(&value),
            Err(fault) => fault.response(),
        }
    }
}

/// Reads a request's JSON object, of at most [`MAX_REQUEST_BYTES`].
async fn read(body: RequestBody, action: Action) -> Result<Value, Fault> {
    use http_body_util::{BodyExt as _, Limited};
    let read = tokio::time::timeout(
        crate::emulator::HEADER_READ_TIMEOUT,
        Limited::new(body, MAX_REQUEST_BYTES).collect(),
    )
    .await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) => {
            return Err(Fault::new(
                Code::Validation,
                format!(
                    "the {} request's body could not be read whole (at most {MAX_REQUEST_BYTES} bytes): {error}",
                    action.name()
                ),
            ));
        }
        Err(_) => {
            return Err(Fault::new(
                Code::Validation,
                format!(
                    "the {} request's body did not arrive within {} s of its headers",
                    action.name(),
                    crate::emulator::HEADER_READ_TIMEOUT.as_secs()
                ),
            ));
        }
    };
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(Value::Object(map)),
        Ok(_) | Err(_) => Err(Fault::new(
            Code::Serialization,
            format!("the {} request's body is not a JSON object", action.name()),
        )),
    }
}

/// An error of the API, answered as the service answers it: `400` and
/// `{"__type": CODE, "message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    code: Code,
    message: String,
}

/// The error codes serve answers with (each an exception of the Step Functions API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    StateMachineDoesNotExist,
    StateMachineAlreadyExists,
    StateMachineTypeNotSupported,
    ExecutionDoesNotExist,
    ExecutionAlreadyExists,
    InvalidArn,
    InvalidName,
    InvalidDefinition,
    InvalidExecutionInput,
    InvalidToken,
    ResourceNotFound,
    Validation,
    Serialization,
    UnknownOperation,
}

impl Code {
    fn name(self) -> &'static str {
        match self {
            Self::StateMachineDoesNotExist => "StateMachineDoesNotExist",
            Self::StateMachineAlreadyExists => "StateMachineAlreadyExists",
            Self::StateMachineTypeNotSupported => "StateMachineTypeNotSupported",
            Self::ExecutionDoesNotExist => "ExecutionDoesNotExist",
            Self::ExecutionAlreadyExists => "ExecutionAlreadyExists",
            Self::InvalidArn => "InvalidArn",
            Self::InvalidName => "InvalidName",
            Self::InvalidDefinition => "InvalidDefinition",
            Self::InvalidExecutionInput => "InvalidExecutionInput",
            Self::InvalidToken => "InvalidToken",
            Self::ResourceNotFound => "ResourceNotFound",
            Self::Validation => "ValidationException",
            Self::Serialization => "SerializationException",
            Self::UnknownOperation => "UnknownOperationException",
        }
    }
}

impl Fault {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn response(&self) -> Response<Body> {
        let body = json!({"__type": self.code.name(), "message": self.message});
        let mut response = json_response(&body);
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response
    }
}

fn json_response(value: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(CONTENT_TYPE),
    );
    boxed(response)
}

/// A timestamp as the protocol writes it: seconds since the epoch, with milliseconds.
fn epoch_seconds(time: SystemTime) -> Value {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    json!(millis as f64 / 1000.0)
}

/// A string field of a request, if given.
fn text<'a>(request: &'a Value, field: &str) -> Result<Option<&'a str>, Fault> {
    match request.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Fault::new(
            Code::Serialization,
            format!("`{field}` must be a string"),
        )),
    }
}

/// A string field a request must have.
fn required<'a>(request: &'a Value, field: &str) -> Result<&'a str, Fault> {
    text(request, field)?.ok_or_else(|| {
        Fault::new(
            Code::Validation,
            format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"),
        )
    })
}

/// A name of a state machine or execution, checked as the service checks it: 1 to 80
/// characters, none of whitespace, brackets, wildcards, punctuation the ARN uses, or controls.
fn checked_name(name: &str, what: &str) -> Result<(), Fault> {
    let forbidden =
        |c: char| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c);
    let length = name.chars().count();
    if length == 0 || length > 80 {
        return Err(Fault::new(
            Code::InvalidName,
            format!("Invalid Name: '{name}': a {what} name is 1 to 80 characters"),
        ));
    }
    if let Some(bad) = name.chars().find(|&c| forbidden(c)) {
        return Err(Fault::new(
            Code::InvalidName,
            format!("Invalid Name: '{name}': a {what} name may not contain {bad:?}"),
        ));
    }
    Ok(())
}

/// `maxResults` and `nextToken` of a List call: where the page starts and how long it is.
fn page(request: &Value) -> Result<(usize, usize), Fault> {
    let max = match request.get("maxResults") {
        None | Some(Value::Null) => 100,
        Some(value) => match value.as_u64() {
            Some(0) => 100,
            Some(max @ 1..=1000) => max as usize,
            _ => {
                return Err(Fault::new(
                    Code::Validation,
                    "`maxResults` must be from 0 to 1000",
                ));
            }
        },
    };
    let start = match text(request, "nextToken")? {
        None => 0,
        Some(token) => token.parse().map_err(|_| {
            Fault::new(
                Code::InvalidToken,
                format!("Invalid Token: '{token}' is not a token this API gave"),
            )
        })?,
    };
    Ok((start, max))
}

/// A List call's answer: `{FIELD: [...], "nextToken": ...}`, the page of `items` its
/// `maxResults` and `nextToken` ask for.
fn listing(request: &Value, field: &str, items: Vec<Value>) -> Result<Value, Fault> {
    let (items, next) = paged(items, page(request)?);
    let mut answer = serde_json::Map::new();
    answer.insert(field.to_owned(), Value::Array(items));
    if let Some(next) = next {
        answer.insert("nextToken".into(), json!(next));
    }
    Ok(Value::Object(answer))
}

/// `items`' page from `start`, at most `max` long, and the token of the next page if any.
fn paged<T>(items: Vec<T>, (start, max): (usize, usize)) -> (Vec<T>, Option<String>) {
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + page.len() < total).then(|| (start + page.len()).to_string());
    (page, next)
}

/// `arn:aws:states:REGION:ACCOUNT:{resource}`.
fn states_arn(region: &str, resource: &str) -> String {
    format!(
        "arn:aws:states:{region}:{}:{resource}",
        crate::local::ACCOUNT
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_actions() {
        assert_eq!(
            Action::targeted("AWSStepFunctions.StartExecution"),
            Some(Action::StartExecution)
        );
        for action in Action::ALL {
            assert_eq!(
                Action::targeted(&format!("{TARGET_PREFIX}{}", action.name())),
                Some(action)
            );
        }
        assert_eq!(Action::targeted("AWSStepFunctions.SendTaskSuccess"), None);
        assert_eq!(Action::targeted("DynamoDB_20120810.GetItem"), None);
    }

    #[test]
    fn names_are_checked_as_the_service_checks_them() {
        assert!(checked_name("orders-2026_12", "state machine").is_ok());
        for bad in ["", "a b", "a:b", "x".repeat(81).as_str(), "a*"] {
            let fault = checked_name(bad, "state machine").unwrap_err();
            assert_eq!(fault.code, Code::InvalidName, "{bad}");
        }
    }

    #[test]
    fn pages_follow_their_tokens() {
        let items: Vec<u32> = (0..5).collect();
        let first = page(&json!({"maxResults": 2})).unwrap();
        let (page_one, next) = paged(items.clone(), first);
        assert_eq!(page_one, [0, 1]);
        let second = page(&json!({"maxResults": 2, "nextToken": next.unwrap()})).unwrap();
        assert_eq!(paged(items.clone(), second), (vec![2, 3], Some("4".into())));
        let last = page(&json!({"maxResults": 2, "nextToken": "4"})).unwrap();
        assert_eq!(paged(items, last), (vec![4], None));
        assert_eq!(
            page(&json!({"nextToken": "later"})).unwrap_err().code,
            Code::InvalidToken
        );
    }
}
