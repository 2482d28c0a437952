//! Executions: StartExecution, StartSyncExecution, DescribeExecution, GetExecutionHistory,
//! ListExecutions and StopExecution, and the [`Invoker`] their Task states call serve's
//! functions through.

use std::sync::{Arc, Weak};
use std::time::SystemTime;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{
    Code, Fault, KEPT_EXECUTIONS, checked_name, epoch_seconds, listing, required, states_arn, text,
};
use crate::deploy::settings::MachineType;
use crate::emulator::instance::Outcome as Answered;
use crate::emulator::{Call, Emulator, Trigger, function_name, function_qualifier, lock};
use crate::states::{
    self, BoxFuture, Execution, History, Identity, InvokeError, Invoker, Options, Outcome, Stop,
};

/// The largest execution input (Step Functions quotas: 256 KiB).
const MAX_INPUT_BYTES: usize = 256 * 1024;

/// One execution, under way or ended.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) arn: String,
    name: String,
    pub(super) machine_arn: String,
    express: bool,
    input: String,
    start: SystemTime,
    history: History,
    stop: Stop,
    /// `None` while it runs; how it ended and when, after.
    ended: watch::Sender<Option<(Outcome, SystemTime)>>,
}

impl Run {
    fn status(&self) -> &'static str {
        match &*self.ended.borrow() {
            None => "RUNNING",
            Some((Outcome::Succeeded { .. }, _)) => "SUCCEEDED",
            Some((Outcome::Failed { .. }, _)) => "FAILED",
            Some((Outcome::TimedOut, _)) => "TIMED_OUT",
            Some((Outcome::Aborted { .. }, _)) => "ABORTED",
        }
    }

    fn running(&self) -> bool {
        self.ended.borrow().is_none()
    }

    /// ListExecutions' entry for it.
    fn summary(&self) -> Value {
        let mut summary = json!({
            "executionArn": self.arn,
            "stateMachineArn": self.machine_arn,
            "name": self.name,
            "status": self.status(),
            "startDate": epoch_seconds(self.start),
        });
        if let (Some((_, stopped)), Value::Object(map)) = (&*self.ended.borrow(), &mut summary) {
            map.insert("stopDate".into(), epoch_seconds(*stopped));
        }
        summary
    }

    /// DescribeExecution's answer (StartSyncExecution's, with `sync`).
    fn description(&self, sync: bool) -> Value {
        let mut described = self.summary();
        let Value::Object(map) = &mut described else {
            return described;
        };
        map.insert("input".into(), json!(self.input));
        map.insert("inputDetails".into(), json!({"included": true}));
        let ended = self.ended.borrow();
        match ended.as_ref().map(|(outcome, _)| outcome) {
            Some(Outcome::Succeeded { output }) => {
                map.insert("output".into(), json!(output.to_string()));
                map.insert("outputDetails".into(), json!({"included": true}));
            }
            Some(Outcome::Failed { error, cause } | Outcome::Aborted { error, cause }) => {
                map.insert("error".into(), json!(error));
                map.insert("cause".into(), json!(cause));
            }
            Some(Outcome::TimedOut) => {
                map.insert("error".into(), json!("States.Timeout"));
            }
            None => {}
        }
        if sync && let Some((_, stopped)) = ended.as_ref() {
            let billed = stopped
                .duration_since(self.start)
                .unwrap_or_default()
                .as_millis()
                .div_ceil(100)
                * 100;
            map.insert(
                "billingDetails".into(),
                json!({"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": billed.max(100)}),
            );
        }
        drop(ended);
        described
    }
}

/// The name an execution's ARN names (`execution:MACHINE:NAME`, or `express:MACHINE:NAME:ID`).
fn checked_execution_arn(arn: &str) -> Result<(), Fault> {
    if arn.contains(":execution:") || arn.contains(":express:") {
        return Ok(());
    }
    Err(Fault::new(
        Code::InvalidArn,
        format!(
            "Invalid Arn: 'Resource type not valid in this context: {arn}'; expected an execution's ARN, as StartExecution answered it"
        ),
    ))
}

/// What Task states call: serve's functions, as an Invoke of each would.
struct Functions {
    emulator: Weak<Emulator>,
}

impl Invoker for Functions {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        payload: Value,
    ) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(async move {
            let Some(emulator) = self.emulator.upgrade() else {
                return Err(InvokeError::Service {
                    error: "Lambda.ServiceException".into(),
                    cause: "serve is stopping".into(),
                });
            };
            emulator.invoke_task(function, payload).await
        })
    }
}

impl Emulator {
    /// The execution of ARN `arn`.
    pub(super) fn run(&self, arn: &str) -> Result<Arc<Run>, Fault> {
        checked_execution_arn(arn)?;
        lock(&self.step_functions.executions)
            .iter()
            .find(|run| run.arn == arn)
            .cloned()
            .ok_or_else(|| {
                Fault::new(
                    Code::ExecutionDoesNotExist,
                    format!("Execution Does Not Exist: '{arn}'"),
                )
            })
    }

    /// A Task state's call of `function` (a name or ARN, perhaps qualified) with `payload`.
    async fn invoke_task(&self, function: &str, payload: Value) -> Result<Value, InvokeError> {
        let name = function_name(function);
        let qualifier = function_qualifier(function);
        let Ok((pool, invoked_arn)) = self.resolve(&name, qualifier.as_deref()) else {
            return Err(InvokeError::Service {
                error: "Lambda.ResourceNotFoundException".into(),
                cause: format!(
                    "Function not found: {function} (serve runs {})",
                    self.function_names().join(", ")
                ),
            });
        };
        // As an Invoke holds it: a rebuild waits for the invocation, and the invocation for a
        // rebuild under way.
        let _open = Arc::clone(&self.gate).read_owned().await;
        let payload = Bytes::from(payload.to_string());
        let call = Call {
            invoked_arn,
            ..Call::new(payload, Trigger::StateMachine)
        };
        let Ok(answer) = pool.invoke(call).await else {
            return Err(InvokeError::Service {
                error: "Lambda.TooManyRequestsException".into(),
                cause: format!(
                    "Rate Exceeded: `{name}` runs as many instances as its concurrency allows"
                ),
            });
        };
        match answer.settled().await.outcome {
            Answered::Response(body) if body.is_empty() => Ok(Value::Null),
            Answered::Response(body) => {
                serde_json::from_slice(&body).map_err(|error| InvokeError::Service {
                    error: "States.Runtime".into(),
                    cause: format!(
                        "the function `{name}` answered something that is not JSON: {error}"
                    ),
                })
            }
            Answered::Error(body) => {
                let document: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let field = |name: &str| {
                    document
                        .get(name)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                Err(InvokeError::Function {
                    error_type: field("errorType"),
                    error_message: field("errorMessage"),
                    document,
                })
            }
        }
    }

    /// Starts an execution of the request's machine, or finds the one it asks for again.
    fn start(&self, request: &Value, sync: bool) -> Result<Arc<Run>, Fault> {
        let machine = self.machine(required(request, "stateMachineArn")?)?;
        let express = machine.kind == MachineType::Express;
        if sync && !express {
            return Err(Fault::new(
                Code::StateMachineTypeNotSupported,
                format!(
                    "StartSyncExecution runs EXPRESS state machines only; `{}` is STANDARD: start it with StartExecution",
                    machine.name
                ),
            ));
        }
        let input = text(request, "input")?.unwrap_or("{}").to_owned();
        if input.len() > MAX_INPUT_BYTES {
            return Err(Fault::new(
                Code::Validation,
                format!(
                    "the input is {} bytes; an execution's input may be at most {MAX_INPUT_BYTES} bytes",
                    input.len()
                ),
            ));
        }
        let value: Value = serde_json::from_str(&input).map_err(|error| {
            Fault::new(
                Code::InvalidExecutionInput,
                format!("Invalid State Machine Execution Input: '{error}'"),
            )
        })?;
        let name = match text(request, "name")? {
            Some(name) => {
                checked_name(name, "execution")?;
                name.to_owned()
            }
            None => uuid(),
        };
        let arn = if express {
            states_arn(
                &self.region,
                &format!("express:{}:{name}:{}", machine.name, uuid()),
            )
        } else {
            states_arn(&self.region, &format!("execution:{}:{name}", machine.name))
        };
        let mut executions = lock(&self.step_functions.executions);
        if let Some(existing) = executions.iter().find(|run| run.arn == arn) {
            // The same request again while it runs is the same execution.
            if existing.running() && existing.input == input {
                return Ok(Arc::clone(existing));
            }
            return Err(Fault::new(
                Code::ExecutionAlreadyExists,
                format!("Execution Already Exists: '{arn}'"),
            ));
        }
        let start = SystemTime::now();
        let run = Arc::new(Run {
            arn: arn.clone(),
            name: name.clone(),
            machine_arn: machine.arn.clone(),
            express,
            input,
            start,
            history: History::new(),
            stop: Stop::new(),
            ended: watch::Sender::new(None),
        });
        let execution = Execution {
            identity: Identity {
                execution_arn: arn,
                name,
                state_machine_arn: machine.arn.clone(),
                state_machine_name: machine.name.clone(),
                role_arn: machine.role_arn.clone(),
                start_time: start,
            },
            invoker: Arc::new(Functions {
                emulator: self.this.get().cloned().unwrap_or_default(),
            }),
            options: Options {
                wait_speed: self.step_functions.wait_speed,
            },
            history: run.history.clone(),
            stop: run.stop.clone(),
        };
        let ran = Arc::clone(&run);
        let mut running = lock(&self.step_functions.running);
        // Reap the tasks that ended, so that the set holds only those under way.
        while running.try_join_next().is_some() {}
        running.spawn(async move {
            let outcome = states::run(Arc::clone(&machine.parsed), value, execution).await;
            ran.ended.send_replace(Some((outcome, SystemTime::now())));
        });
        drop(running);
        executions.push(Arc::clone(&run));
        forget_oldest(&mut executions);
        Ok(run)
    }

    pub(super) fn start_execution(&self, request: &Value) -> Result<Value, Fault> {
        let run = self.start(request, false)?;
        Ok(json!({"executionArn": run.arn, "startDate": epoch_seconds(run.start)}))
    }

    pub(super) async fn start_sync_execution(&self, request: &Value) -> Result<Value, Fault> {
        let run = self.start(request, true)?;
        // The sender lives in `run`: this ends when the execution does.
        let mut ended = run.ended.subscribe();
        let _ = ended.wait_for(Option::is_some).await;
        Ok(run.description(true))
    }

    pub(super) fn describe_execution(&self, request: &Value) -> Result<Value, Fault> {
        Ok(self
            .run(required(request, "executionArn")?)?
            .description(false))
    }

    pub(super) fn execution_history(&self, request: &Value) -> Result<Value, Fault> {
        let run = self.run(required(request, "executionArn")?)?;
        let mut events: Vec<Value> = run
            .history
            .events()
            .iter()
            .map(crate::states::Event::to_json)
            .collect();
        if request.get("reverseOrder").and_then(Value::as_bool) == Some(true) {
            events.reverse();
        }
        listing(request, "events", events)
    }

    pub(super) fn list_executions(&self, request: &Value) -> Result<Value, Fault> {
        let machine = self.machine(required(request, "stateMachineArn")?)?;
        let filter = text(request, "statusFilter")?;
        const STATUSES: [&str; 5] = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];
        if let Some(filter) = filter
            && !STATUSES.contains(&filter)
        {
            return Err(Fault::new(
                Code::Validation,
                format!(
                    "`statusFilter` is `{filter}`; it must be one of {}",
                    STATUSES.join(", ")
                ),
            ));
        }
        // Newest first, as the service lists them.
        let listed: Vec<Value> = lock(&self.step_functions.executions)
            .iter()
            .rev()
            .filter(|run| run.machine_arn == machine.arn)
            .filter(|run| filter.is_none_or(|status| run.status() == status))
            .map(|run| run.summary())
            .collect();
        listing(request, "executions", listed)
    }

    pub(super) fn stop_execution(&self, request: &Value) -> Result<Value, Fault> {
        let run = self.run(required(request, "executionArn")?)?;
        if run.express {
            return Err(Fault::new(
                Code::StateMachineTypeNotSupported,
                "StopExecution stops executions of STANDARD state machines only",
            ));
        }
        let error = text(request, "error")?.unwrap_or_default();
        let cause = text(request, "cause")?.unwrap_or_default();
        run.stop.stop(error, cause);
        let stopped = run
            .ended
            .borrow()
            .as_ref()
            .map_or_else(SystemTime::now, |(_, at)| *at);
        Ok(json!({"stopDate": epoch_seconds(stopped)}))
    }
}

/// Forgets the oldest ended executions beyond [`KEPT_EXECUTIONS`].
fn forget_oldest(executions: &mut Vec<Arc<Run>>) {
    let ended = executions.iter().filter(|run| !run.running()).count();
    let mut excess = ended.saturating_sub(KEPT_EXECUTIONS);
    executions.retain(|run| {
        if excess > 0 && !run.running() {
            excess -= 1;
            return false;
        }
        true
    });
}

/// A random name, as the service gives an execution started without one.
fn uuid() -> String {
    crate::emulator::ids::uuid()
}
