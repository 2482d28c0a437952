//! Running a checked state machine: each state's input and output processing (`InputPath`,
//! `Parameters`, `ResultSelector`, `ResultPath`, `OutputPath`), its work, `Retry` and `Catch`,
//! the context object, Parallel branches and Map iterations as tasks of a `JoinSet` (so that
//! stopping the execution drops them all), and the history events the service records.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::definition::{
    Branch, Catcher, Kind, MapState, Resource, Retrier, Seconds, State, StateMachine, Template,
    Text, WaitFor,
};
use super::history::{History, truncated};
use super::path::{Context, Path, kind};

/// Who runs: the values the context object (`$$`) shows.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The execution's ARN (`$$.Execution.Id`).
    pub execution_arn: String,
    /// Its name.
    pub name: String,
    /// The state machine's ARN (`$$.StateMachine.Id`).
    pub state_machine_arn: String,
    /// The state machine's name.
    pub state_machine_name: String,
    /// The role it runs with (`$$.Execution.RoleArn`).
    pub role_arn: String,
    /// When it started.
    pub start_time: SystemTime,
}

/// How an execution runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How much faster than real time Wait states and retry intervals pass: 1.0 is real time,
    /// 10.0 waits a tenth. Timeouts (`TimeoutSeconds`) stay in real time.
    pub wait_speed: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self { wait_speed: 1.0 }
    }
}

/// Everything one execution needs besides its machine and input.
#[derive(Clone)]
pub struct Execution {
    /// Its identity, for `$$`.
    pub identity: Identity,
    /// What Task states call.
    pub invoker: Arc<dyn Invoker>,
    /// How it runs.
    pub options: Options,
    /// Where its events go.
    pub history: History,
    /// How it is stopped.
    pub stop: Stop,
}

impl std::fmt::Debug for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Execution")
            .field("identity", &self.identity)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `SUCCEEDED`, with its output.
    Succeeded {
        /// The output.
        output: Value,
    },
    /// `FAILED`.
    Failed {
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
    },
    /// `ABORTED`, by [`Stop::stop`].
    Aborted {
        /// The error given to `stop`.
        error: String,
        /// The cause given to `stop`.
        cause: String,
    },
    /// `TIMED_OUT`: the machine's `TimeoutSeconds` passed.
    TimedOut,
}

/// A boxed, sendable future, as [`Invoker`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Calls Lambda functions for Task states.
pub trait Invoker: Send + Sync {
    /// Invokes `function` (an ARN or name, with a qualifier if the definition gives one) with
    /// `payload`, returning its result.
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        payload: Value,
    ) -> BoxFuture<'a, Result<Value, InvokeError>>;
}

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeError {
    /// The function returned an error document: its `errorType` becomes the error name, the
    /// document the cause.
    Function {
        /// `errorType` (empty: `Lambda.Unknown`).
        error_type: String,
        /// `errorMessage`.
        error_message: String,
        /// The whole document as the function sent it (null: built from the two above).
        document: Value,
    },
    /// Lambda itself refused or failed, such as `Lambda.ResourceNotFoundException` or
    /// `Lambda.ServiceException`.
    Service {
        /// The error name.
        error: String,
        /// The cause.
        cause: String,
    },
}

/// Stops an execution; clones stop the same one.
#[derive(Debug, Clone)]
pub struct Stop {
    sender: Arc<watch::Sender<Option<(String, String)>>>,
}

impl Default for Stop {
    fn default() -> Self {
        Self::new()
    }
}

impl Stop {
    /// A handle not yet used.
    pub fn new() -> Self {
        Self {
            sender: Arc::new(watch::channel(None).0),
        }
    }

    /// Makes the execution finish [`Outcome::Aborted`] with `error` and `cause` at once; waits and
    /// invocations in flight are abandoned. Only the first call counts.
    pub fn stop(&self, error: impl Into<String>, cause: impl Into<String>) {
        let reason = (error.into(), cause.into());
        self.sender.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    async fn stopped(&self) -> (String, String) {
        let mut receiver = self.sender.subscribe();
        let reason = match receiver.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone(),
            Err(_) => None,
        };
        match reason {
            Some(reason) => reason,
            // The sender lives in `self`: it cannot close while awaited.
            None => std::future::pending().await,
        }
    }
}

/// A state's error: its name and cause.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    error: String,
    cause: String,
}

impl Failure {
    fn new(error: &str, cause: impl Into<String>) -> Self {
        Self {
            error: error.to_owned(),
            cause: cause.into(),
        }
    }
}

struct Runner {
    identity: Identity,
    input: Value,
    invoker: Arc<dyn Invoker>,
    options: Options,
    history: History,
    region: String,
}

/// Runs `machine` on `input` to its end, or until `execution.stop` is used.
pub async fn run(machine: Arc<StateMachine>, input: Value, execution: Execution) -> Outcome {
    let Execution {
        identity,
        invoker,
        options,
        history,
        stop,
    } = execution;
    let started = history.record(
        0,
        "ExecutionStarted",
        Some((
            "executionStartedEventDetails",
            json!({"input": input.to_string(), "inputDetails": truncated(), "roleArn": identity.role_arn}),
        )),
    );
    let region = identity
        .state_machine_arn
        .split(':')
        .nth(3)
        .unwrap_or_default()
        .to_owned();
    let runner = Arc::new(Runner {
        identity,
        input: input.clone(),
        invoker,
        options,
        history: history.clone(),
        region,
    });
    let branch = Arc::clone(&machine.branch);
    let work = run_branch(runner, branch, input, started);
    let limited = async {
        match machine.timeout_seconds {
            Some(seconds) => tokio::time::timeout(Duration::from_secs(seconds), work)
                .await
                .ok(),
            None => Some(work.await),
        }
    };
    tokio::select! {
        ended = limited => {
            let last = history.events().last().map_or(0, |event| event.id);
            match ended {
                Some(Ok((output, _))) => {
                    history.record(last, "ExecutionSucceeded", Some((
                        "executionSucceededEventDetails",
                        json!({"output": output.to_string(), "outputDetails": truncated()}),
                    )));
                    Outcome::Succeeded { output }
                }
                Some(Err(failure)) => {
                    history.record(last, "ExecutionFailed", Some((
                        "executionFailedEventDetails",
                        json!({"error": failure.error, "cause": failure.cause}),
                    )));
                    Outcome::Failed { error: failure.error, cause: failure.cause }
                }
                None => {
                    history.record(last, "ExecutionTimedOut", Some((
                        "executionTimedOutEventDetails",
                        json!({"error": "States.Timeout", "cause": "The execution ran past the state machine's TimeoutSeconds."}),
                    )));
                    Outcome::TimedOut
                }
            }
        }
        (error, cause) = stop.stopped() => {
            let last = history.events().last().map_or(0, |event| event.id);
            history.record(last, "ExecutionAborted", Some((
                "executionAbortedEventDetails",
                json!({"error": error, "cause": cause}),
            )));
            Outcome::Aborted { error, cause }
        }
    }
}

/// Runs a branch from its `StartAt` to its end: its output and its last event's id.
fn run_branch(
    runner: Arc<Runner>,
    branch: Arc<Branch>,
    input: Value,
    previous: u64,
) -> BoxFuture<'static, Result<(Value, u64), Failure>> {
    Box::pin(async move {
        let mut name = branch.start_at.clone();
        let mut input = input;
        let mut previous = previous;
        loop {
            let Some(state) = branch.states.get(&name) else {
                // Validation checked every transition.
                return Err(Failure::new(
                    "States.Runtime",
                    format!("no state is named \"{name}\""),
                ));
            };
            let (output, next) = run_state(&runner, state, input, &mut previous).await?;
            match next {
                Some(next) => {
                    name = next;
                    input = output;
                }
                None => return Ok((output, previous)),
            }
        }
    })
}

/// What the context object of one state shows.
struct Scope<'a> {
    runner: &'a Runner,
    state: &'a str,
    entered: SystemTime,
    retry_count: u64,
    item: Option<(usize, &'a Value)>,
}

impl Scope<'_> {
    fn context(&self) -> Value {
        let identity = &self.runner.identity;
        let mut context = json!({
            "Execution": {
                "Id": identity.execution_arn,
                "Input": self.runner.input,
                "Name": identity.name,
                "RoleArn": identity.role_arn,
                "StartTime": crate::time::rfc3339(identity.start_time),
                "RedriveCount": 0,
            },
            "State": {
                "EnteredTime": crate::time::rfc3339(self.entered),
                "Name": self.state,
                "RetryCount": self.retry_count,
            },
            "StateMachine": {
                "Id": identity.state_machine_arn,
                "Name": identity.state_machine_name,
            },
        });
        if let (Some((index, value)), Value::Object(map)) = (self.item, &mut context) {
            map.insert(
                "Map".to_owned(),
                json!({"Item": {"Index": index, "Value": value}}),
            );
        }
        context
    }
}

/// The type's name in history event types: `Pass` in `PassStateEntered`.
fn type_name(state: &State) -> &'static str {
    match state.kind {
        Kind::Pass { .. } => "Pass",
        Kind::Task { .. } => "Task",
        Kind::Choice { .. } => "Choice",
        Kind::Wait(_) => "Wait",
        Kind::Succeed => "Succeed",
        Kind::Fail { .. } => "Fail",
        Kind::Parallel { .. } => "Parallel",
        Kind::Map(_) => "Map",
    }
}

async fn run_state(
    runner: &Arc<Runner>,
    state: &State,
    raw: Value,
    previous: &mut u64,
) -> Result<(Value, Option<String>), Failure> {
    let type_name = type_name(state);
    let history = &runner.history;
    *previous = history.record(
        *previous,
        format!("{type_name}StateEntered"),
        Some((
            "stateEnteredEventDetails",
            json!({"name": state.name, "input": raw.to_string(), "inputDetails": truncated()}),
        )),
    );
    let entered = SystemTime::now();
    let mut retry_count = 0;
    let mut attempts = vec![0u64; state.retry.len()];
    let (output, next) = loop {
        let scope = Scope {
            runner,
            state: &state.name,
            entered,
            retry_count,
            item: None,
        };
        let attempt = attempt(runner, state, &raw, &scope, previous).await;
        let failure = match attempt {
            Ok(done) => break done,
            Err(failure) => failure,
        };
        // Retry: the first retrier naming the error decides.
        if let Some(index) = state
            .retry
            .iter()
            .position(|retrier| handles(&retrier.error_equals, &failure.error))
            && attempts[index] < state.retry[index].max_attempts
        {
            let delay = retry_delay(&state.retry[index], attempts[index]);
            attempts[index] += 1;
            retry_count += 1;
            sleep(delay, runner.options.wait_speed).await;
            continue;
        }
        // Catch: the first catcher naming the error goes on, with the error in the output.
        let Some(catcher) = state
            .catch
            .iter()
            .find(|catcher| handles(&catcher.error_equals, &failure.error))
        else {
            return Err(failure);
        };
        return caught(catcher, raw, failure);
    };
    if !matches!(state.kind, Kind::Fail { .. }) {
        *previous = history.record(
            *previous,
            format!("{type_name}StateExited"),
            Some((
                "stateExitedEventDetails",
                json!({"name": state.name, "output": output.to_string(), "outputDetails": truncated()}),
            )),
        );
    }
    Ok((output, next))
}

fn caught(
    catcher: &Catcher,
    raw: Value,
    failure: Failure,
) -> Result<(Value, Option<String>), Failure> {
    let error_output = json!({"Error": failure.error, "Cause": failure.cause});
    let output = match &catcher.result_path {
        None => raw,
        Some(path) => path
            .write(raw, error_output)
            .map_err(|why| Failure::new("States.ResultPathMatchFailure", why))?,
    };
    Ok((output, Some(catcher.next.clone())))
}

/// Whether `names` (an `ErrorEquals`) handles `error`: by name, or through `States.ALL` (any
/// error but `States.Runtime`) and `States.TaskFailed` (also not `States.Timeout`).
fn handles(names: &[String], error: &str) -> bool {
    names.iter().any(|name| {
        name == error
            || (name == "States.ALL" && error != "States.Runtime")
            || (name == "States.TaskFailed"
                && !matches!(error, "States.Runtime" | "States.Timeout"))
    })
}

/// `IntervalSeconds × BackoffRate^attempt`, capped at `MaxDelaySeconds`, and with full jitter
/// a random share of it.
fn retry_delay(retrier: &Retrier, attempt: u64) -> Duration {
    let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
    let mut seconds = retrier.interval_seconds * retrier.backoff_rate.powi(exponent);
    if let Some(limit) = retrier.max_delay_seconds {
        seconds = seconds.min(limit);
    }
    if retrier.full_jitter {
        seconds *= rand::random::<f64>();
    }
    Duration::from_secs_f64(seconds.clamp(0.0, 1e9))
}

async fn sleep(duration: Duration, speed: f64) {
    let speed = if speed > 0.0 { speed } else { 1.0 };
    tokio::time::sleep(duration.div_f64(speed)).await;
}

/// One attempt at a state's work, from `InputPath` to `OutputPath`.
async fn attempt(
    runner: &Arc<Runner>,
    state: &State,
    raw: &Value,
    scope: &Scope<'_>,
    previous: &mut u64,
) -> Result<(Value, Option<String>), Failure> {
    let build = || scope.context();
    let build: &(dyn Fn() -> Value + Send + Sync) = &build;
    let context = Context::lazy(build);
    let input = match &state.input_path {
        None => json!({}),
        Some(path) => select(path, raw, &context, "InputPath")?,
    };
    if let Kind::Fail { error, cause } = &state.kind {
        let text = |text: &Option<Text>| -> Result<Option<String>, Failure> {
            Ok(match text {
                None => None,
                Some(Text::Literal(text)) => Some(text.clone()),
                Some(Text::Path(path)) => match select(path, raw, &context, "ErrorPath")? {
                    Value::String(text) => Some(text),
                    other => Some(other.to_string()),
                },
                Some(Text::Call(call)) => match call
                    .eval(raw, &context)
                    .map_err(|why| Failure::new("States.IntrinsicFailure", why))?
                {
                    Value::String(text) => Some(text),
                    other => Some(other.to_string()),
                },
            })
        };
        return Err(Failure {
            error: text(error)?.unwrap_or_default(),
            cause: text(cause)?.unwrap_or_default(),
        });
    }
    let (result, next) = match &state.kind {
        Kind::Choice { choices, default } => {
            let mut chosen = None;
            for (rule, next) in choices {
                if rule
                    .holds(&input, &context)
                    .map_err(|why| Failure::new("States.Runtime", why))?
                {
                    chosen = Some(next.clone());
                    break;
                }
            }
            let Some(next) = chosen.or_else(|| default.clone()) else {
                return Err(Failure::new(
                    "States.NoChoiceMatched",
                    format!(
                        "No Matches! The input of state \"{}\" matched none of its choices and it has no Default.",
                        state.name
                    ),
                ));
            };
            return Ok((output(state, input, &context)?, Some(next)));
        }
        Kind::Succeed => return Ok((output(state, input, &context)?, None)),
        Kind::Wait(wait) => {
            wait_for(wait, &input, &context, runner.options.wait_speed).await?;
            return Ok((output(state, input, &context)?, state.next.clone()));
        }
        Kind::Pass { result } => {
            let effective = parameters(state.parameters.as_ref(), input, &context, "Parameters")?;
            (result.clone().unwrap_or(effective), state.next.clone())
        }
        Kind::Task {
            resource, timeout, ..
        } => {
            let effective = parameters(
                state.parameters.as_ref(),
                input.clone(),
                &context,
                "Parameters",
            )?;
            let timeout = match timeout {
                None => None,
                Some(Seconds::Fixed(seconds)) => Some(*seconds),
                Some(Seconds::Path(path)) => Some(
                    select(path, &input, &context, "TimeoutSecondsPath")?
                        .as_u64()
                        .filter(|seconds| *seconds > 0)
                        .ok_or_else(|| {
                            Failure::new(
                                "States.Runtime",
                                format!(
                                    "TimeoutSecondsPath `{}` does not name a positive integer",
                                    path.as_str()
                                ),
                            )
                        })?,
                ),
            };
            (
                task(runner, resource, effective, timeout, previous).await?,
                state.next.clone(),
            )
        }
        Kind::Parallel { branches } => {
            let effective = parameters(state.parameters.as_ref(), input, &context, "Parameters")?;
            (
                parallel(runner, branches, effective, previous).await?,
                state.next.clone(),
            )
        }
        Kind::Map(map) => (
            map_items(runner, state, map, input, scope, previous).await?,
            state.next.clone(),
        ),
        Kind::Fail { .. } => return Err(Failure::new("States.Runtime", "a Fail state ran twice")),
    };
    let result = match &state.result_selector {
        Some(selector) => selector.eval(&result, &context, "ResultSelector")?,
        None => result,
    };
    let combined = match &state.result_path {
        None => raw.clone(),
        Some(path) => path
            .write(raw.clone(), result)
            .map_err(|why| Failure::new("States.ResultPathMatchFailure", why))?,
    };
    Ok((output(state, combined, &context)?, next))
}

fn output(state: &State, value: Value, context: &Context<'_>) -> Result<Value, Failure> {
    match &state.output_path {
        None => Ok(json!({})),
        Some(path) => select(path, &value, context, "OutputPath"),
    }
}

fn select(
    path: &Path,
    value: &Value,
    context: &Context<'_>,
    field: &str,
) -> Result<Value, Failure> {
    path.select(value, context).ok_or_else(|| {
        Failure::new(
            "States.Runtime",
            format!(
                "An error occurred while executing the state: Invalid path '{}' in {field}: no value is there in {}",
                path.as_str(),
                value
            ),
        )
    })
}

fn parameters(
    template: Option<&Template>,
    input: Value,
    context: &Context<'_>,
    field: &str,
) -> Result<Value, Failure> {
    match template {
        Some(template) => template.eval(&input, context, field),
        None => Ok(input),
    }
}

impl Template {
    /// The template filled from `data` (the field's name, for the error's cause).
    fn eval(&self, data: &Value, context: &Context<'_>, field: &str) -> Result<Value, Failure> {
        Ok(match self {
            Template::Value(value) => value.clone(),
            Template::Object(fields) => {
                let mut map = Map::new();
                for (key, template) in fields {
                    let here = match template {
                        Template::Path(_) | Template::Call(_) => format!("{key}.$"),
                        _ => key.clone(),
                    };
                    map.insert(key.clone(), template.eval(data, context, &here)?);
                }
                Value::Object(map)
            }
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.eval(data, context, field))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Path(path) => path.select(data, context).ok_or_else(|| {
                Failure::new(
                    "States.ParameterPathFailure",
                    format!(
                        "The JSONPath '{}' specified for the field '{field}' could not be found in the input '{data}'",
                        path.as_str()
                    ),
                )
            })?,
            Template::Call(call) => call
                .eval(data, context)
                .map_err(|why| Failure::new("States.IntrinsicFailure", why))?,
        })
    }
}

async fn wait_for(
    wait: &WaitFor,
    input: &Value,
    context: &Context<'_>,
    speed: f64,
) -> Result<(), Failure> {
    let until = |time: SystemTime| time.duration_since(SystemTime::now()).unwrap_or_default();
    let duration = match wait {
        WaitFor::Seconds(seconds) => Duration::from_secs(*seconds),
        WaitFor::Timestamp(time) => until(*time),
        WaitFor::SecondsPath(path) => {
            let value = select(path, input, context, "SecondsPath")?;
            Duration::from_secs(value.as_u64().ok_or_else(|| {
                Failure::new(
                    "States.Runtime",
                    format!(
                        "SecondsPath `{}` names {value}, not a whole number of seconds",
                        path.as_str()
                    ),
                )
            })?)
        }
        WaitFor::TimestampPath(path) => {
            let value = select(path, input, context, "TimestampPath")?;
            until(
                value
                    .as_str()
                    .and_then(crate::time::parse_rfc3339)
                    .ok_or_else(|| {
                        Failure::new(
                            "States.Runtime",
                            format!(
                                "TimestampPath `{}` names {value}, not an RFC 3339 timestamp",
                                path.as_str()
                            ),
                        )
                    })?,
            )
        }
    };
    sleep(duration, speed).await;
    Ok(())
}

async fn task(
    runner: &Arc<Runner>,
    resource: &Resource,
    effective: Value,
    timeout: Option<u64>,
    previous: &mut u64,
) -> Result<Value, Failure> {
    let history = &runner.history;
    let (function, payload, optimised) = match resource {
        Resource::Function(arn) => (arn.clone(), effective.clone(), false),
        // Not catchable, as AWS's own `States.Runtime` failures are not.
        Resource::Service(arn) => {
            return Err(Failure::new(
                "States.Runtime",
                format!(
                    "the task's resource `{arn}` is not a Lambda function: only Lambda tasks run locally"
                ),
            ));
        }
        Resource::LambdaInvoke => {
            let function = match effective.get("FunctionName") {
                Some(Value::String(name)) => name.clone(),
                other => {
                    return Err(Failure::new(
                        "States.Runtime",
                        format!(
                            "Parameters.FunctionName must be a function's name or ARN, not {}",
                            other.map_or("missing", kind)
                        ),
                    ));
                }
            };
            let function = match effective.get("Qualifier").and_then(Value::as_str) {
                Some(qualifier) => format!("{function}:{qualifier}"),
                None => function,
            };
            // Lambda's Invoke with no payload hands the function `{}`.
            let payload = effective
                .get("Payload")
                .cloned()
                .unwrap_or_else(|| json!({}));
            (function, payload, true)
        }
    };
    let (prefix, scheduled) = if optimised {
        let mut details = json!({
            "resourceType": "lambda", "resource": "invoke", "region": runner.region,
            "parameters": effective.to_string(),
        });
        if let (Some(seconds), Value::Object(map)) = (timeout, &mut details) {
            map.insert("timeoutInSeconds".into(), seconds.into());
        }
        ("Task", ("taskScheduledEventDetails", details))
    } else {
        let mut details = json!({"resource": function, "input": payload.to_string(), "inputDetails": truncated()});
        if let (Some(seconds), Value::Object(map)) = (timeout, &mut details) {
            map.insert("timeoutInSeconds".into(), seconds.into());
        }
        (
            "LambdaFunction",
            ("lambdaFunctionScheduledEventDetails", details),
        )
    };
    let resource_fields = || json!({"resourceType": "lambda", "resource": "invoke"});
    *previous = history.record(*previous, format!("{prefix}Scheduled"), Some(scheduled));
    *previous = history.record(
        *previous,
        format!("{prefix}Started"),
        optimised.then(|| ("taskStartedEventDetails", resource_fields())),
    );
    let call = runner.invoker.invoke(&function, payload);
    let result = match timeout {
        Some(seconds) => match tokio::time::timeout(Duration::from_secs(seconds), call).await {
            Ok(result) => result,
            Err(_) => {
                let failure = Failure::new(
                    "States.Timeout",
                    format!("The task ran past its TimeoutSeconds ({seconds})."),
                );
                let details = json!({"error": failure.error, "cause": failure.cause});
                let details = if optimised {
                    let mut merged = resource_fields();
                    merge(&mut merged, details);
                    ("taskTimedOutEventDetails", merged)
                } else {
                    ("lambdaFunctionTimedOutEventDetails", details)
                };
                *previous = history.record(*previous, format!("{prefix}TimedOut"), Some(details));
                return Err(failure);
            }
        },
        None => call.await,
    };
    match result {
        Ok(output) => {
            let result = if optimised {
                invoke_response(output)
            } else {
                output
            };
            let mut details = json!({"output": result.to_string(), "outputDetails": truncated()});
            if optimised {
                merge(&mut details, resource_fields());
            }
            let field = if optimised {
                "taskSucceededEventDetails"
            } else {
                "lambdaFunctionSucceededEventDetails"
            };
            *previous = history.record(
                *previous,
                format!("{prefix}Succeeded"),
                Some((field, details)),
            );
            Ok(result)
        }
        Err(error) => {
            let failure = match error {
                InvokeError::Function {
                    error_type,
                    error_message,
                    document,
                } => {
                    let document = if document.is_null() {
                        json!({"errorType": error_type, "errorMessage": error_message})
                    } else {
                        document
                    };
                    let error = if error_type.is_empty() {
                        "Lambda.Unknown".to_owned()
                    } else {
                        error_type
                    };
                    Failure {
                        error,
                        cause: document.to_string(),
                    }
                }
                InvokeError::Service { error, cause } => Failure { error, cause },
            };
            let mut details = json!({"error": failure.error, "cause": failure.cause});
            if optimised {
                merge(&mut details, resource_fields());
            }
            let field = if optimised {
                "taskFailedEventDetails"
            } else {
                "lambdaFunctionFailedEventDetails"
            };
            *previous =
                history.record(*previous, format!("{prefix}Failed"), Some((field, details)));
            Err(failure)
        }
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

/// The result of a `lambda:invoke` task: Lambda's Invoke response as Step Functions gives it
/// (the developer guide's "Invoke an AWS Lambda function with Step Functions" shows it).
fn invoke_response(payload: Value) -> Value {
    let request_id = uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string();
    let length = payload.to_string().len().to_string();
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "x-amzn-RequestId": [request_id],
                "Connection": ["keep-alive"],
                "Content-Length": [length],
                "Content-Type": ["application/json"],
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Length": length,
                "Content-Type": "application/json",
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-RequestId": request_id,
            },
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    })
}

async fn parallel(
    runner: &Arc<Runner>,
    branches: &[Arc<Branch>],
    input: Value,
    previous: &mut u64,
) -> Result<Value, Failure> {
    let history = &runner.history;
    let started = history.record(*previous, "ParallelStateStarted", None);
    *previous = started;
    let mut tasks = JoinSet::new();
    for (index, branch) in branches.iter().enumerate() {
        let work = run_branch(
            Arc::clone(runner),
            Arc::clone(branch),
            input.clone(),
            started,
        );
        tasks.spawn(async move { (index, work.await) });
    }
    let mut outputs = vec![Value::Null; branches.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.map_err(|error| {
            Failure::new("States.Runtime", format!("a branch panicked: {error}"))
        })?;
        match result {
            Ok((output, _)) => outputs[index] = output,
            Err(failure) => {
                // Dropping the set stops the other branches.
                tasks.abort_all();
                *previous = history.record(last_id(history), "ParallelStateFailed", None);
                return Err(failure);
            }
        }
    }
    *previous = history.record(last_id(history), "ParallelStateSucceeded", None);
    Ok(Value::Array(outputs))
}

fn last_id(history: &History) -> u64 {
    history.events().last().map_or(0, |event| event.id)
}

async fn map_items(
    runner: &Arc<Runner>,
    state: &State,
    map: &MapState,
    input: Value,
    scope: &Scope<'_>,
    previous: &mut u64,
) -> Result<Value, Failure> {
    let history = &runner.history;
    let items = {
        let build = || scope.context();
        let build: &(dyn Fn() -> Value + Send + Sync) = &build;
        let context = Context::lazy(build);
        match select(&map.items_path, &input, &context, "ItemsPath")? {
            Value::Array(items) => items,
            other => {
                return Err(Failure::new(
                    "States.Runtime",
                    format!(
                        "Map state \"{}\": ItemsPath `{}` names {}, not an array",
                        state.name,
                        map.items_path.as_str(),
                        kind(&other)
                    ),
                ));
            }
        }
    };
    let total = items.len();
    let started = history.record(
        *previous,
        "MapStateStarted",
        Some(("mapStateStartedEventDetails", json!({"length": total}))),
    );
    *previous = started;
    // Each item's input: ItemSelector (or the older Parameters) with `$$.Map.Item`.
    let mut inputs = Vec::with_capacity(total);
    for (index, item) in items.iter().enumerate() {
        inputs.push(match &map.item_selector {
            None => item.clone(),
            Some(selector) => {
                let item_scope = Scope {
                    runner: scope.runner,
                    state: scope.state,
                    entered: scope.entered,
                    retry_count: scope.retry_count,
                    item: Some((index, item)),
                };
                let build = || item_scope.context();
                let build: &(dyn Fn() -> Value + Send + Sync) = &build;
                selector.eval(&input, &Context::lazy(build), "ItemSelector")?
            }
        });
    }
    drop(items);
    let limit = if map.max_concurrency == 0 {
        usize::MAX
    } else {
        map.max_concurrency
    };
    let tolerated = |failed: usize| {
        let by_count = map.tolerated_count.map(|count| failed as u64 <= count);
        let by_share = map
            .tolerated_percentage
            .map(|percentage| (failed as f64) * 100.0 <= percentage * total as f64);
        match (by_count, by_share) {
            (None, None) => failed == 0,
            (count, share) => count.unwrap_or(true) && share.unwrap_or(true),
        }
    };
    let mut outputs = vec![Value::Null; total];
    let mut failed = 0;
    let mut tasks = JoinSet::new();
    let mut pending = inputs.into_iter().enumerate();
    let name = state.name.clone();
    loop {
        while tasks.len() < limit {
            let Some((index, item)) = pending.next() else {
                break;
            };
            let iteration = history.record(
                started,
                "MapIterationStarted",
                Some((
                    "mapIterationStartedEventDetails",
                    json!({"name": name, "index": index}),
                )),
            );
            let work = run_branch(
                Arc::clone(runner),
                Arc::clone(&map.processor),
                item,
                iteration,
            );
            tasks.spawn(async move { (index, work.await) });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (index, result) = joined.map_err(|error| {
            Failure::new("States.Runtime", format!("an iteration panicked: {error}"))
        })?;
        let details = Some((
            "mapIterationSucceededEventDetails",
            json!({"name": name, "index": index}),
        ));
        match result {
            Ok((output, last)) => {
                history.record(last, "MapIterationSucceeded", details);
                outputs[index] = output;
            }
            Err(failure) => {
                let details = Some((
                    "mapIterationFailedEventDetails",
                    json!({"name": name, "index": index}),
                ));
                history.record(last_id(history), "MapIterationFailed", details);
                failed += 1;
                if !tolerated(failed) {
                    tasks.abort_all();
                    *previous = history.record(last_id(history), "MapStateFailed", None);
                    if map.tolerated_count.is_some() || map.tolerated_percentage.is_some() {
                        return Err(Failure::new(
                            "States.ExceedToleratedFailureThreshold",
                            format!(
                                "{failed} of the {total} items failed, more than the Map state tolerates"
                            ),
                        ));
                    }
                    return Err(failure);
                }
                outputs[index] = json!({"Error": failure.error, "Cause": failure.cause});
            }
        }
    }
    *previous = history.record(last_id(history), "MapStateSucceeded", None);
    Ok(Value::Array(outputs))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::states::parse;

    type Handler = Box<dyn Fn(Value) -> Result<Value, InvokeError> + Send + Sync>;

    /// Functions by name, and how often each was called.
    #[derive(Default)]
    struct Functions {
        handlers: HashMap<String, Handler>,
        calls: Mutex<Vec<(String, Value)>>,
        delay: Option<Duration>,
    }

    impl Invoker for Functions {
        fn invoke<'a>(
            &'a self,
            function: &'a str,
            payload: Value,
        ) -> BoxFuture<'a, Result<Value, InvokeError>> {
            Box::pin(async move {
                self.calls
                    .lock()
                    .unwrap_or_else(PoisonErrorExt::into_inner)
                    .push((function.to_owned(), payload.clone()));
                if let Some(delay) = self.delay {
                    tokio::time::sleep(delay).await;
                }
                match self.handlers.get(function) {
                    Some(handler) => handler(payload),
                    None => Err(InvokeError::Service {
                        error: "Lambda.ResourceNotFoundException".into(),
                        cause: format!("Function not found: {function}"),
                    }),
                }
            })
        }
    }

    use std::sync::PoisonError as PoisonErrorExt;

    fn functions(list: Vec<(&str, Handler)>) -> Arc<Functions> {
        Arc::new(Functions {
            handlers: list
                .into_iter()
                .map(|(name, handler)| (name.to_owned(), handler))
                .collect(),
            ..Functions::default()
        })
    }

    fn execution(invoker: Arc<dyn Invoker>) -> Execution {
        Execution {
            identity: Identity {
                execution_arn: "arn:aws:states:eu-west-1:123456789012:execution:orders:run-1"
                    .into(),
                name: "run-1".into(),
                state_machine_arn: "arn:aws:states:eu-west-1:123456789012:stateMachine:orders"
                    .into(),
                state_machine_name: "orders".into(),
                role_arn: "arn:aws:iam::123456789012:role/orders".into(),
                start_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            },
            invoker,
            options: Options { wait_speed: 1000.0 },
            history: History::new(),
            stop: Stop::new(),
        }
    }

    async fn run_with(
        definition: Value,
        input: Value,
        invoker: Arc<dyn Invoker>,
    ) -> (Outcome, History) {
        let machine =
            Arc::new(parse(&definition.to_string()).unwrap_or_else(|invalid| panic!("{invalid}")));
        let execution = execution(invoker);
        let history = execution.history.clone();
        (run(machine, input, execution).await, history)
    }

    async fn finish(definition: Value, input: Value) -> Outcome {
        run_with(definition, input, functions(Vec::new())).await.0
    }

    fn succeeded(output: Value) -> Outcome {
        Outcome::Succeeded { output }
    }

    fn failed(outcome: &Outcome) -> (&str, &str) {
        match outcome {
            Outcome::Failed { error, cause } => (error, cause),
            other => panic!("not failed: {other:?}"),
        }
    }

    const FN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:work";

    #[tokio::test]
    async fn input_and_output_processing_follow_the_documented_order() {
        let definition = json!({"StartAt": "Shape", "States": {
            "Shape": {"Type": "Pass", "InputPath": "$.order",
                      "Parameters": {"id.$": "$.id", "fixed": [1, {"n.$": "$.qty"}], "label.$": "States.Format('order {}', $.id)",
                                     "run.$": "$$.Execution.Name", "state.$": "$$.State.Name", "machine.$": "$$.StateMachine.Name",
                                     "started.$": "$$.Execution.StartTime", "original.$": "$$.Execution.Input.keep"},
                      "ResultPath": "$.deep.shaped", "Next": "Keep"},
            "Keep": {"Type": "Pass", "Result": {"a": 1}, "ResultPath": null, "OutputPath": "$.deep", "Next": "Whole"},
            "Whole": {"Type": "Pass", "Result": "replaced", "ResultPath": "$.shaped", "End": true}
        }});
        let input = json!({"order": {"id": "o-1", "qty": 2}, "keep": true});
        assert_eq!(
            finish(definition, input).await,
            succeeded(json!({"shaped": "replaced"}))
        );
        let (outcome, history) = run_with(
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "InputPath": "$.order",
                "Parameters": {"id.$": "$.id", "fixed": [1, {"n.$": "$.qty"}], "label.$": "States.Format('order {}', $.id)",
                               "run.$": "$$.Execution.Name", "state.$": "$$.State.Name", "machine.$": "$$.StateMachine.Name",
                               "started.$": "$$.Execution.StartTime", "original.$": "$$.Execution.Input.keep",
                               "retries.$": "$$.State.RetryCount"},
                "ResultPath": "$.deep.shaped", "End": true}}}),
            json!({"order": {"id": "o-1", "qty": 2}, "keep": true}),
            functions(Vec::new()),
        )
        .await;
        assert_eq!(
            outcome,
            succeeded(
                json!({"order": {"id": "o-1", "qty": 2}, "keep": true, "deep": {"shaped": {
                    "id": "o-1", "fixed": [1, {"n": 2}], "label": "order o-1", "run": "run-1", "state": "A",
                    "machine": "orders", "started": "2026-01-01T00:00:00.000Z", "original": true, "retries": 0
                }}})
            )
        );
        assert_eq!(
            history.kinds(),
            [
                "ExecutionStarted",
                "PassStateEntered",
                "PassStateExited",
                "ExecutionSucceeded"
            ]
        );
        let events = history.to_json();
        assert_eq!(events["events"][1]["previousEventId"], 1);
        assert_eq!(events["events"][1]["stateEnteredEventDetails"]["name"], "A");
        assert_eq!(
            events["events"][0]["executionStartedEventDetails"]["roleArn"],
            "arn:aws:iam::123456789012:role/orders"
        );
    }

    #[tokio::test]
    async fn path_failures_have_their_documented_names() {
        let one = |state: Value| json!({"StartAt": "A", "States": {"A": state}});
        let outcome_of = |state| finish(one(state), json!({"a": "text"}));
        let missing =
            outcome_of(json!({"Type": "Pass", "Parameters": {"x.$": "$.nope"}, "End": true})).await;
        assert_eq!(failed(&missing).0, "States.ParameterPathFailure");
        assert!(failed(&missing).1.contains("'$.nope'"), "{missing:?}");
        let intrinsic = outcome_of(
            json!({"Type": "Pass", "Parameters": {"x.$": "States.ArrayLength($.a)"}, "End": true}),
        )
        .await;
        assert_eq!(failed(&intrinsic).0, "States.IntrinsicFailure");
        let result_path =
            outcome_of(json!({"Type": "Pass", "ResultPath": "$.a.b", "End": true})).await;
        assert_eq!(failed(&result_path).0, "States.ResultPathMatchFailure");
        let input_path =
            outcome_of(json!({"Type": "Pass", "InputPath": "$.nope", "End": true})).await;
        assert_eq!(failed(&input_path).0, "States.Runtime");
        let null_paths = outcome_of(json!({"Type": "Pass", "InputPath": null, "OutputPath": "$.x", "ResultPath": "$.x", "End": true})).await;
        assert_eq!(null_paths, succeeded(json!({})));
        let dropped = outcome_of(json!({"Type": "Pass", "OutputPath": null, "End": true})).await;
        assert_eq!(dropped, succeeded(json!({})));
    }

    #[tokio::test]
    async fn choice_routes_by_rule_then_default_then_fails() {
        let definition = json!({"StartAt": "Pick", "States": {
            "Pick": {"Type": "Choice", "Choices": [
                {"And": [{"Variable": "$.n", "NumericGreaterThan": 10}, {"Variable": "$.kind", "StringMatches": "big*"}], "Next": "Big"},
                {"Variable": "$.n", "NumericLessThanPath": "$.limit", "Next": "Small"}
            ], "Default": "Other", "OutputPath": "$.n"},
            "Big": {"Type": "Pass", "Result": "big", "End": true},
            "Small": {"Type": "Pass", "Result": "small", "End": true},
            "Other": {"Type": "Succeed"}
        }});
        assert_eq!(
            finish(
                definition.clone(),
                json!({"n": 11, "kind": "bigger", "limit": 0})
            )
            .await,
            succeeded(json!("big"))
        );
        assert_eq!(
            finish(definition.clone(), json!({"n": 3, "kind": "x", "limit": 5})).await,
            succeeded(json!("small"))
        );
        assert_eq!(
            finish(definition.clone(), json!({"n": 7, "kind": "x", "limit": 5})).await,
            succeeded(json!(7))
        );
        let no_default = json!({"StartAt": "Pick", "States": {
            "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.n", "IsNull": true, "Next": "Done"}]},
            "Done": {"Type": "Succeed"}
        }});
        let outcome = finish(no_default, json!({"n": 1})).await;
        assert_eq!(failed(&outcome).0, "States.NoChoiceMatched");
    }

    #[tokio::test]
    async fn waits_are_scaled_and_fail_states_read_paths() {
        let definition = json!({"StartAt": "W1", "States": {
            "W1": {"Type": "Wait", "Seconds": 5, "Next": "W2"},
            "W2": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "W3"},
            "W3": {"Type": "Wait", "TimestampPath": "$.at", "Next": "W4"},
            "W4": {"Type": "Wait", "Timestamp": "2020-01-01T00:00:00Z", "Next": "Stop"},
            "Stop": {"Type": "Fail", "ErrorPath": "$.error", "CausePath": "States.Format('after {}s', $.delay)"}
        }});
        let at = crate::time::rfc3339(SystemTime::now() + Duration::from_secs(2));
        let started = std::time::Instant::now();
        let (outcome, history) = run_with(
            definition,
            json!({"delay": 3, "at": at, "error": "Custom.Stop"}),
            functions(Vec::new()),
        )
        .await;
        // 5 s + 3 s + about 2 s at a thousand times real time.
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            outcome,
            Outcome::Failed {
                error: "Custom.Stop".into(),
                cause: "after 3s".into()
            }
        );
        let kinds = history.kinds();
        assert_eq!(
            kinds[kinds.len() - 2..],
            ["FailStateEntered", "ExecutionFailed"]
        );
        let bad = finish(
            json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.d", "End": true}}}),
            json!({"d": "soon"}),
        )
        .await;
        assert_eq!(failed(&bad).0, "States.Runtime");
    }

    #[tokio::test]
    async fn tasks_call_functions_and_lambda_invoke_returns_invokes_response() {
        let invoker = functions(vec![
            (FN, Box::new(|payload: Value| Ok(json!({"got": payload})))),
            (
                "price",
                Box::new(|payload: Value| Ok(json!(payload["qty"].as_i64().unwrap_or(0) * 5))),
            ),
        ]);
        let definition = json!({"StartAt": "Direct", "States": {
            "Direct": {"Type": "Task", "Resource": FN, "Parameters": {"id.$": "$.id"},
                       "ResultSelector": {"echo.$": "$.got.id"}, "ResultPath": "$.direct", "Next": "Invoke"},
            "Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                       "Parameters": {"FunctionName": "price", "Payload": {"qty.$": "$.qty"}},
                       "ResultPath": "$.priced", "End": true}
        }});
        let (outcome, history) =
            run_with(definition, json!({"id": "o-1", "qty": 3}), invoker.clone()).await;
        let Outcome::Succeeded { output } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(output["direct"], json!({"echo": "o-1"}));
        let priced = &output["priced"];
        assert_eq!(
            (
                &priced["Payload"],
                &priced["StatusCode"],
                &priced["ExecutedVersion"]
            ),
            (&json!(15), &json!(200), &json!("$LATEST"))
        );
        assert_eq!(priced["SdkHttpMetadata"]["HttpStatusCode"], 200);
        assert_eq!(
            priced["SdkResponseMetadata"]["RequestId"],
            priced["SdkHttpMetadata"]["HttpHeaders"]["x-amzn-RequestId"]
        );
        assert_eq!(
            history.kinds(),
            [
                "ExecutionStarted",
                "TaskStateEntered",
                "LambdaFunctionScheduled",
                "LambdaFunctionStarted",
                "LambdaFunctionSucceeded",
                "TaskStateExited",
                "TaskStateEntered",
                "TaskScheduled",
                "TaskStarted",
                "TaskSucceeded",
                "TaskStateExited",
                "ExecutionSucceeded",
            ]
        );
        let events = history.to_json();
        let scheduled = &events["events"][7]["taskScheduledEventDetails"];
        assert_eq!(
            (
                &scheduled["resourceType"],
                &scheduled["resource"],
                &scheduled["region"]
            ),
            (&json!("lambda"), &json!("invoke"), &json!("eu-west-1"))
        );
        assert_eq!(
            events["events"][2]["lambdaFunctionScheduledEventDetails"]["input"],
            "{\"id\":\"o-1\"}"
        );
        let calls = invoker
            .calls
            .lock()
            .unwrap_or_else(PoisonErrorExt::into_inner)
            .clone();
        assert_eq!(
            calls,
            [
                (FN.to_owned(), json!({"id": "o-1"})),
                ("price".to_owned(), json!({"qty": 3}))
            ]
        );
    }

    #[tokio::test]
    async fn retries_back_off_then_catch_puts_the_error_in_the_output() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let invoker = functions(vec![(
            FN,
            Box::new(move |_| {
                let call = counter.fetch_add(1, Ordering::SeqCst);
                if call < 2 {
                    Err(InvokeError::Function {
                        error_type: "Transient".into(),
                        error_message: "try again".into(),
                        document: Value::Null,
                    })
                } else if call == 2 {
                    Ok(json!("done"))
                } else {
                    Err(InvokeError::Function {
                        error_type: "Rejected".into(),
                        error_message: "no".into(),
                        document: json!({"errorType": "Rejected", "errorMessage": "no", "stackTrace": []}),
                    })
                }
            }),
        )]);
        let definition = json!({"StartAt": "Call", "States": {
            "Call": {"Type": "Task", "Resource": FN, "ResultPath": "$.first",
                     "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 2, "MaxDelaySeconds": 5, "JitterStrategy": "FULL"}],
                     "Next": "Again"},
            "Again": {"Type": "Task", "Resource": FN,
                      "Retry": [{"ErrorEquals": ["Rejected"], "MaxAttempts": 0}, {"ErrorEquals": ["States.ALL"]}],
                      "Catch": [{"ErrorEquals": ["Other"], "Next": "Unused"}, {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Recorded"}],
                      "End": true},
            "Unused": {"Type": "Succeed"},
            "Recorded": {"Type": "Pass", "End": true}
        }});
        let (outcome, history) = run_with(definition, json!({"id": 1}), invoker).await;
        assert_eq!(
            outcome,
            succeeded(json!({"id": 1, "first": "done", "error": {
                "Error": "Rejected", "Cause": "{\"errorMessage\":\"no\",\"errorType\":\"Rejected\",\"stackTrace\":[]}"
            }}))
        );
        // Two retries of the first task, none of the second (MaxAttempts 0).
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let failures = history
            .kinds()
            .iter()
            .filter(|kind| *kind == "LambdaFunctionFailed")
            .count();
        assert_eq!(failures, 3);
        let delays: Vec<Duration> = (0..4)
            .map(|attempt| {
                retry_delay(
                    &Retrier {
                        error_equals: vec![],
                        interval_seconds: 2.0,
                        max_attempts: 3,
                        backoff_rate: 3.0,
                        max_delay_seconds: Some(10.0),
                        full_jitter: false,
                    },
                    attempt,
                )
            })
            .collect();
        assert_eq!(delays, [2, 6, 10, 10].map(Duration::from_secs));
        assert!(handles(&["States.ALL".into()], "States.Timeout"));
        assert!(!handles(&["States.ALL".into()], "States.Runtime"));
        assert!(!handles(&["States.TaskFailed".into()], "States.Timeout"));
        assert!(handles(
            &["States.TaskFailed".into()],
            "Lambda.ServiceException"
        ));
    }

    #[tokio::test]
    async fn task_timeouts_and_missing_functions_fail_as_step_functions_says() {
        let slow = Arc::new(Functions {
            handlers: [(FN.to_owned(), Box::new(|_| Ok(json!(1))) as Handler)]
                .into_iter()
                .collect(),
            delay: Some(Duration::from_secs(30)),
            ..Functions::default()
        });
        let definition = json!({"StartAt": "Call", "States": {
            "Call": {"Type": "Task", "Resource": FN, "TimeoutSecondsPath": "$.timeout", "HeartbeatSeconds": 1,
                     "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Late"}], "End": true},
            "Late": {"Type": "Fail", "Error": "Late"}
        }});
        tokio::time::pause();
        let (outcome, history) = run_with(definition, json!({"timeout": 2}), slow).await;
        assert_eq!(failed(&outcome).0, "Late");
        assert!(
            history
                .kinds()
                .contains(&"LambdaFunctionTimedOut".to_owned())
        );
        let missing = finish(
            json!({"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "nope"}, "End": true}}}),
            json!({}),
        )
        .await;
        assert_eq!(
            failed(&missing),
            (
                "Lambda.ResourceNotFoundException",
                "Function not found: nope"
            )
        );

        // Another service's integration deploys, but does not run locally; `States.ALL` does
        // not catch `States.Runtime`.
        let service = finish(
            json!({"StartAt": "Put", "States": {
                "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "End": true,
                        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
                "Caught": {"Type": "Succeed"}
            }}),
            json!({}),
        )
        .await;
        assert_eq!(
            failed(&service),
            (
                "States.Runtime",
                "the task's resource `arn:aws:states:::dynamodb:putItem` is not a Lambda function: only Lambda tasks run locally"
            )
        );
    }

    #[tokio::test]
    async fn parallel_branches_run_together_and_a_failure_fails_the_state() {
        let definition = json!({"StartAt": "Both", "States": {
            "Both": {"Type": "Parallel", "ResultSelector": {"left.$": "$[0]", "right.$": "$[1].v"}, "End": true, "Branches": [
                {"StartAt": "L", "States": {"L": {"Type": "Wait", "Seconds": 2, "Next": "L2"}, "L2": {"Type": "Pass", "Result": "left", "End": true}}},
                {"StartAt": "R", "States": {"R": {"Type": "Pass", "Parameters": {"v.$": "$.x"}, "End": true}}}
            ]}
        }});
        let (outcome, history) = run_with(definition, json!({"x": 7}), functions(Vec::new())).await;
        assert_eq!(outcome, succeeded(json!({"left": "left", "right": 7})));
        let kinds = history.kinds();
        assert_eq!(
            kinds[..3],
            [
                "ExecutionStarted",
                "ParallelStateEntered",
                "ParallelStateStarted"
            ]
        );
        assert_eq!(
            kinds[kinds.len() - 3..],
            [
                "ParallelStateSucceeded",
                "ParallelStateExited",
                "ExecutionSucceeded"
            ]
        );
        let failing = json!({"StartAt": "Both", "States": {
            "Both": {"Type": "Parallel", "Next": "Done", "Catch": [{"ErrorEquals": ["Branch.Broke"], "Next": "Handled"}], "Branches": [
                {"StartAt": "L", "States": {"L": {"Type": "Wait", "Seconds": 100000, "End": true}}},
                {"StartAt": "R", "States": {"R": {"Type": "Fail", "Error": "Branch.Broke", "Cause": "right"}}}
            ]},
            "Done": {"Type": "Succeed"},
            "Handled": {"Type": "Pass", "End": true}
        }});
        assert_eq!(
            finish(failing, json!({})).await,
            succeeded(json!({"Error": "Branch.Broke", "Cause": "right"}))
        );
    }

    #[tokio::test]
    async fn map_runs_each_item_with_its_selector_limit_and_tolerance() {
        let definition = json!({"StartAt": "Each", "States": {
            "Each": {"Type": "Map", "ItemsPath": "$.lines", "MaxConcurrency": 2,
                     "ItemSelector": {"index.$": "$$.Map.Item.Index", "line.$": "$$.Map.Item.Value", "order.$": "$.id"},
                     "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Price", "States": {
                         "Price": {"Type": "Pass", "Parameters": {"i.$": "$.index", "total.$": "States.MathAdd($.line.qty, $.index)", "order.$": "$.order"}, "End": true}}},
                     "ResultPath": "$.priced", "End": true}
        }});
        let (outcome, history) = run_with(
            definition,
            json!({"id": "o", "lines": [{"qty": 1}, {"qty": 2}, {"qty": 3}]}),
            functions(Vec::new()),
        )
        .await;
        let Outcome::Succeeded { output } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            output["priced"],
            json!([{"i": 0, "total": 1, "order": "o"}, {"i": 1, "total": 3, "order": "o"}, {"i": 2, "total": 5, "order": "o"}])
        );
        let kinds = history.kinds();
        assert_eq!(
            kinds
                .iter()
                .filter(|kind| *kind == "MapIterationStarted")
                .count(),
            3
        );
        assert_eq!(
            kinds
                .iter()
                .filter(|kind| *kind == "MapIterationSucceeded")
                .count(),
            3
        );
        let events = history.to_json();
        assert_eq!(
            events["events"][2]["mapStateStartedEventDetails"]["length"],
            3
        );

        // The older Iterator and Parameters, a failure tolerated, then one too many.
        let tolerant = |count: u64| {
            json!({"StartAt": "Each", "States": {
            "Each": {"Type": "Map", "ToleratedFailureCount": count, "Parameters": {"v.$": "$$.Map.Item.Value"},
                     "Iterator": {"StartAt": "Check", "States": {
                        "Check": {"Type": "Choice", "Choices": [{"Variable": "$.v", "NumericGreaterThan": 1, "Next": "Bad"}], "Default": "Good"},
                        "Bad": {"Type": "Fail", "Error": "TooBig", "Cause": "over 1"},
                        "Good": {"Type": "Pass", "End": true}}},
                     "End": true}}})
        };
        assert_eq!(
            finish(tolerant(1), json!([1, 2])).await,
            succeeded(json!([{"v": 1}, {"Error": "TooBig", "Cause": "over 1"}]))
        );
        let exceeded = finish(tolerant(1), json!([2, 3, 1])).await;
        assert_eq!(
            failed(&exceeded).0,
            "States.ExceedToleratedFailureThreshold"
        );
        let plain = finish(
            json!({"StartAt": "Each", "States": {"Each": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "Bad", "States": {"Bad": {"Type": "Fail", "Error": "Item.Failed"}}}}}}),
            json!([1]),
        )
        .await;
        assert_eq!(failed(&plain).0, "Item.Failed");
        let not_array = finish(
            json!({"StartAt": "Each", "States": {"Each": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}}),
            json!({"a": 1}),
        )
        .await;
        assert_eq!(failed(&not_array).0, "States.Runtime");
    }

    #[tokio::test]
    async fn a_map_of_ten_thousand_items_gives_every_output_in_order() {
        let items: Vec<Value> = (0..10_000).map(|n| json!({"n": n})).collect();
        let definition = json!({"StartAt": "Each", "States": {"Each": {"Type": "Map", "End": true,
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"m.$": "$.n"}, "End": true}}}}}});
        let Outcome::Succeeded { output } = finish(definition, Value::Array(items)).await else {
            panic!()
        };
        let output = output.as_array().cloned().unwrap_or_default();
        assert_eq!(output.len(), 10_000);
        assert!(output.iter().enumerate().all(|(n, item)| item["m"] == n));
    }

    #[tokio::test]
    async fn a_map_over_what_is_not_an_array_fails_the_execution_with_states_runtime() {
        let definition = json!({"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.lines", "End": true,
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}});
        let outcome = finish(definition, json!({"lines": {"sku": "A"}})).await;
        let Outcome::Failed { error, cause } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(error, "States.Runtime");
        assert!(cause.contains("not an array"), "{cause}");
    }

    #[tokio::test]
    async fn stop_aborts_waits_and_invocations_in_flight() {
        let slow = Arc::new(Functions {
            handlers: [(FN.to_owned(), Box::new(|_| Ok(json!(1))) as Handler)]
                .into_iter()
                .collect(),
            delay: Some(Duration::from_secs(3_600)),
            ..Functions::default()
        });
        let definition = json!({"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": true, "Branches": [
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1000000, "End": true}}},
            {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": true}}}
        ]}}});
        let machine =
            Arc::new(parse(&definition.to_string()).unwrap_or_else(|invalid| panic!("{invalid}")));
        let execution = execution(slow);
        let (stop, history) = (execution.stop.clone(), execution.history.clone());
        let running = tokio::spawn(run(machine, json!({}), execution));
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.stop("Operator", "stopped by hand");
        let outcome = tokio::time::timeout(Duration::from_secs(5), running).await;
        assert_eq!(
            outcome.ok().and_then(Result::ok),
            Some(Outcome::Aborted {
                error: "Operator".into(),
                cause: "stopped by hand".into()
            })
        );
        assert_eq!(
            history.kinds().last().map(String::as_str),
            Some("ExecutionAborted")
        );
        // The machine's own TimeoutSeconds ends it as timed out.
        let timed = json!({"StartAt": "W", "TimeoutSeconds": 1, "States": {"W": {"Type": "Wait", "Seconds": 100000, "End": true}}});
        tokio::time::pause();
        assert_eq!(outcome_of_timed(timed).await, Outcome::TimedOut);
    }

    async fn outcome_of_timed(definition: Value) -> Outcome {
        let machine =
            Arc::new(parse(&definition.to_string()).unwrap_or_else(|invalid| panic!("{invalid}")));
        let mut execution = execution(functions(Vec::new()));
        execution.options.wait_speed = 1.0;
        run(machine, json!({}), execution).await
    }
}
