//! A state machine's definition, read from Amazon States Language JSON into typed states and
//! checked whole: every problem found is kept (not just the first), each naming its state
//! (through Parallel branches and Map processors) and field, so one run of `validate` shows
//! everything to fix.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::choice::{self, Rule};
use super::intrinsic::{self, Call};
use super::path::Path;

/// The Resource of a Task that calls Lambda's Invoke API through Step Functions' optimised
/// integration (the result is Invoke's response: `Payload`, `StatusCode`, ...).
pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";

/// A checked state machine.
#[derive(Debug, Clone)]
pub struct StateMachine {
    /// The top-level `Comment`.
    pub comment: Option<String>,
    /// The top-level `TimeoutSeconds`: the execution times out after it.
    pub timeout_seconds: Option<u64>,
    /// The top-level states.
    pub branch: Arc<Branch>,
}

/// A set of states with a start: the machine itself, a Parallel branch or a Map processor.
#[derive(Debug, Clone)]
pub struct Branch {
    /// `StartAt`.
    pub start_at: String,
    /// `States`, by name.
    pub states: BTreeMap<String, State>,
}

/// One state, with the fields every type shares.
#[derive(Debug, Clone)]
pub struct State {
    /// Its name.
    pub name: String,
    /// What it does.
    pub kind: Kind,
    /// `InputPath` (`$` when absent, `None` when null).
    pub input_path: Option<Path>,
    /// `OutputPath` (`$` when absent, `None` when null).
    pub output_path: Option<Path>,
    /// `Parameters` (for Map, `ItemSelector` or the older `Parameters` are in [`Kind::Map`]).
    pub parameters: Option<Template>,
    /// `ResultSelector`.
    pub result_selector: Option<Template>,
    /// `ResultPath` (`$` when absent, `None` when null).
    pub result_path: Option<Path>,
    /// `Next`, or `None` for `End` (and for Choice, Succeed and Fail).
    pub next: Option<String>,
    /// `Retry`.
    pub retry: Vec<Retrier>,
    /// `Catch`.
    pub catch: Vec<Catcher>,
}

/// What a state does, by `Type`.
#[derive(Debug, Clone)]
pub enum Kind {
    /// `Pass`, with its `Result`.
    Pass {
        /// `Result`, which replaces the effective input.
        result: Option<Value>,
    },
    /// `Task`: a Lambda function.
    Task {
        /// What it calls.
        resource: Resource,
        /// `TimeoutSeconds` or `TimeoutSecondsPath`.
        timeout: Option<Seconds>,
        /// `HeartbeatSeconds` or `HeartbeatSecondsPath` (accepted; Lambda tasks send no
        /// heartbeats).
        heartbeat: Option<Seconds>,
    },
    /// `Choice`.
    Choice {
        /// `Choices`: each rule with its `Next`.
        choices: Vec<(Rule, String)>,
        /// `Default`.
        default: Option<String>,
    },
    /// `Wait`.
    Wait(WaitFor),
    /// `Succeed`.
    Succeed,
    /// `Fail`.
    Fail {
        /// `Error` or `ErrorPath`.
        error: Option<Text>,
        /// `Cause` or `CausePath`.
        cause: Option<Text>,
    },
    /// `Parallel`.
    Parallel {
        /// `Branches`.
        branches: Vec<Arc<Branch>>,
    },
    /// An inline `Map`.
    Map(MapState),
}

/// An inline Map's fields.
#[derive(Debug, Clone)]
pub struct MapState {
    /// `ItemsPath` (`$` when absent).
    pub items_path: Path,
    /// `ItemSelector`, or the older `Parameters`.
    pub item_selector: Option<Template>,
    /// `ItemProcessor`, or the older `Iterator`.
    pub processor: Arc<Branch>,
    /// `MaxConcurrency` (0: no limit).
    pub max_concurrency: usize,
    /// `ToleratedFailureCount`.
    pub tolerated_count: Option<u64>,
    /// `ToleratedFailurePercentage`.
    pub tolerated_percentage: Option<f64>,
}

/// What a Task calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A Lambda function ARN: the function's result is the task's.
    Function(String),
    /// [`LAMBDA_INVOKE`]: `Parameters` name the function and its `Payload`.
    LambdaInvoke,
    /// Another service's integration or an activity: valid to deploy, but not run locally.
    Service(String),
}

/// A number of seconds, given or read from the input.
#[derive(Debug, Clone)]
pub enum Seconds {
    /// Written in the definition.
    Fixed(u64),
    /// Read from the input (`...Path`).
    Path(Path),
}

/// How long a Wait waits.
#[derive(Debug, Clone)]
pub enum WaitFor {
    /// `Seconds`.
    Seconds(u64),
    /// `Timestamp`.
    Timestamp(SystemTime),
    /// `SecondsPath`.
    SecondsPath(Path),
    /// `TimestampPath`.
    TimestampPath(Path),
}

/// A Fail state's error or cause: written, or read (`ErrorPath`, `CausePath`).
#[derive(Debug, Clone)]
pub enum Text {
    /// Written in the definition.
    Literal(String),
    /// A path into the input.
    Path(Path),
    /// An intrinsic function's result.
    Call(Call),
}

/// A `Parameters`, `ItemSelector` or `ResultSelector` template: keys ending in `.$` take the
/// value of a path or intrinsic function.
#[derive(Debug, Clone)]
pub enum Template {
    /// A value as written.
    Value(Value),
    /// An object, some of whose fields are computed.
    Object(Vec<(String, Template)>),
    /// An array, some of whose items are computed.
    Array(Vec<Template>),
    /// A `.$` field's path.
    Path(Path),
    /// A `.$` field's intrinsic function.
    Call(Call),
}

/// One `Retry` entry.
#[derive(Debug, Clone)]
pub struct Retrier {
    /// `ErrorEquals`.
    pub error_equals: Vec<String>,
    /// `IntervalSeconds` (1 by default).
    pub interval_seconds: f64,
    /// `MaxAttempts` (3 by default; 0 never retries).
    pub max_attempts: u64,
    /// `BackoffRate` (2.0 by default).
    pub backoff_rate: f64,
    /// `MaxDelaySeconds`.
    pub max_delay_seconds: Option<f64>,
    /// `JitterStrategy` `FULL`.
    pub full_jitter: bool,
}

/// One `Catch` entry.
#[derive(Debug, Clone)]
pub struct Catcher {
    /// `ErrorEquals`.
    pub error_equals: Vec<String>,
    /// `Next`.
    pub next: String,
    /// `ResultPath` (`$` when absent, `None` when null).
    pub result_path: Option<Path>,
}

/// Everything wrong with a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The problems, in the order found.
    pub problems: Vec<Problem>,
}

/// One thing wrong with a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `state "Fan", branch 1, state "A"`, or empty at the top.
    pub state: String,
    /// The field (`Next`, `Retry[0].ErrorEquals`), if one is at fault.
    pub field: Option<String>,
    /// What is wrong, and the fix where there is one.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.state.is_empty() {
            parts.push(self.state.clone());
        }
        if let Some(field) = &self.field {
            parts.push(format!("field \"{field}\""));
        }
        parts.push(self.message.clone());
        f.write_str(&parts.join(": "))
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

/// Parses ASL JSON text.
///
/// # Errors
///
/// [`Invalid`] with every problem found; text that is not JSON is one problem.
pub fn parse(text: &str) -> Result<StateMachine, Invalid> {
    let value: Value = serde_json::from_str(text).map_err(|error| Invalid {
        problems: vec![Problem {
            state: String::new(),
            field: None,
            message: format!("the definition is not JSON: {error}"),
        }],
    })?;
    validate(&value)
}

/// Checks a parsed ASL document.
///
/// # Errors
///
/// [`Invalid`] with every problem found.
pub fn validate(value: &Value) -> Result<StateMachine, Invalid> {
    let mut checker = Checker {
        problems: Vec::new(),
        at: String::new(),
    };
    let Value::Object(map) = value else {
        checker.top(
            None,
            "the definition must be a JSON object with `StartAt` and `States`",
        );
        return Err(Invalid {
            problems: checker.problems,
        });
    };
    checker.unknown_fields(
        map,
        &[
            "StartAt",
            "States",
            "Comment",
            "Version",
            "TimeoutSeconds",
            "QueryLanguage",
        ],
    );
    if let Some(language) = map.get("QueryLanguage")
        && language != "JSONPath"
    {
        checker.top(
            Some("QueryLanguage"),
            "only \"JSONPath\" runs locally (JSONata is not supported)",
        );
    }
    let timeout_seconds = map
        .get("TimeoutSeconds")
        .and_then(|value| checker.positive(value, "TimeoutSeconds"));
    let branch = checker.branch(map);
    let comment = map
        .get("Comment")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if checker.problems.is_empty() {
        Ok(StateMachine {
            comment,
            timeout_seconds,
            branch: Arc::new(branch),
        })
    } else {
        Err(Invalid {
            problems: checker.problems,
        })
    }
}

impl StateMachine {
    /// The Lambda functions the Task states call (ARNs or names as written), each once,
    /// Parallel branches and Map processors included.
    pub fn task_functions(&self) -> Vec<String> {
        let mut found = BTreeSet::new();
        collect_functions(&self.branch, &mut found);
        found.into_iter().collect()
    }
}

fn collect_functions(branch: &Branch, found: &mut BTreeSet<String>) {
    for state in branch.states.values() {
        match &state.kind {
            Kind::Task {
                resource: Resource::Function(arn),
                ..
            } => {
                found.insert(arn.clone());
            }
            Kind::Task {
                resource: Resource::LambdaInvoke,
                ..
            } => {
                if let Some(Template::Object(fields)) = &state.parameters {
                    for (key, value) in fields {
                        if let ("FunctionName", Template::Value(Value::String(name))) =
                            (key.as_str(), value)
                        {
                            found.insert(name.clone());
                        }
                    }
                }
            }
            Kind::Parallel { branches } => {
                for branch in branches {
                    collect_functions(branch, found);
                }
            }
            Kind::Map(map) => collect_functions(&map.processor, found),
            _ => {}
        }
    }
}

struct Checker {
    problems: Vec<Problem>,
    /// The location being checked, `state "A", branch 1, state "B"`.
    at: String,
}

const STATE_TYPES: [&str; 8] = [
    "Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map",
];

fn fields_of(kind: &str) -> &'static [&'static str] {
    const IO: [&str; 2] = ["InputPath", "OutputPath"];
    match kind {
        "Pass" => &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultPath",
            "Result",
            "Next",
            "End",
        ],
        "Task" => &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "Next",
            "End",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Credentials",
        ],
        "Choice" => &["InputPath", "OutputPath", "Choices", "Default"],
        "Wait" => &[
            "InputPath",
            "OutputPath",
            "Next",
            "End",
            "Seconds",
            "Timestamp",
            "SecondsPath",
            "TimestampPath",
        ],
        "Succeed" => &IO,
        "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
        "Parallel" => &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "Next",
            "End",
            "Branches",
        ],
        _ => &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "ItemSelector",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "Next",
            "End",
            "ItemsPath",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "ToleratedFailureCount",
            "ToleratedFailurePercentage",
            "Label",
        ],
    }
}

impl Checker {
    fn push(&mut self, field: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem {
            state: self.at.clone(),
            field: field.map(str::to_owned),
            message: message.into(),
        });
    }

    fn top(&mut self, field: Option<&str>, message: &str) {
        self.push(field, message);
    }

    fn unknown_fields(&mut self, map: &Map<String, Value>, known: &[&str]) {
        for key in map.keys() {
            if key != "Type" && key != "Comment" && !known.contains(&key.as_str()) {
                let hint = crate::suggest::closest(key, known.iter().copied())
                    .map_or_else(String::new, |near| format!(" (did you mean \"{near}\"?)"));
                self.push(Some(key), format!("is not a field here{hint}"));
            }
        }
    }

    fn positive(&mut self, value: &Value, field: &str) -> Option<u64> {
        match value.as_u64() {
            Some(seconds) if seconds > 0 => Some(seconds),
            _ => {
                self.push(
                    Some(field),
                    format!("must be a positive integer, not {value}"),
                );
                None
            }
        }
    }

    fn branch(&mut self, map: &Map<String, Value>) -> Branch {
        let start_at = match map.get("StartAt") {
            Some(Value::String(name)) => name.clone(),
            Some(other) => {
                self.push(
                    Some("StartAt"),
                    format!("must be a state's name, not {other}"),
                );
                String::new()
            }
            None => {
                self.push(Some("StartAt"), "is missing: name the state to start at");
                String::new()
            }
        };
        let empty = Map::new();
        let states_map = match map.get("States") {
            Some(Value::Object(states)) if !states.is_empty() => states,
            Some(Value::Object(_)) => {
                self.push(Some("States"), "has no states");
                &empty
            }
            Some(_) => {
                self.push(Some("States"), "must be an object of states by name");
                &empty
            }
            None => {
                self.push(Some("States"), "is missing");
                &empty
            }
        };
        let names: Vec<&str> = states_map.keys().map(String::as_str).collect();
        if !start_at.is_empty() && !states_map.is_empty() && !states_map.contains_key(&start_at) {
            let hint = did_you_mean(&start_at, &names);
            self.push(
                Some("StartAt"),
                format!("no state is named \"{start_at}\"{hint}"),
            );
        }
        let outer = self.at.clone();
        let mut states = BTreeMap::new();
        for (name, value) in states_map {
            self.at = join(&outer, &format!("state \"{name}\""));
            if let Some(state) = self.state(name, value, &names) {
                states.insert(name.clone(), state);
            }
        }
        self.at = outer.clone();
        // Reachability, from StartAt through every transition.
        // Read from the JSON, so that states with problems of their own still count.
        let mut reached = BTreeSet::new();
        let mut queue = vec![start_at.clone()];
        while let Some(name) = queue.pop() {
            if !reached.insert(name.clone()) {
                continue;
            }
            if let Some(state) = states_map.get(&name) {
                queue.extend(transitions(state));
            }
        }
        for name in states_map.keys() {
            if !reached.contains(name) && states_map.contains_key(&start_at) {
                self.at = join(&outer, &format!("state \"{name}\""));
                self.push(
                    None,
                    "is never reached: it is not StartAt and no Next, Default, Choices or Catch names it",
                );
            }
        }
        self.at = outer;
        Branch { start_at, states }
    }

    fn state(&mut self, name: &str, value: &Value, names: &[&str]) -> Option<State> {
        let Value::Object(map) = value else {
            self.push(None, "a state must be an object with a `Type`");
            return None;
        };
        let type_name = match map.get("Type") {
            Some(Value::String(type_name)) if STATE_TYPES.contains(&type_name.as_str()) => {
                type_name.as_str()
            }
            Some(Value::String(type_name)) => {
                let hint = did_you_mean(type_name, &STATE_TYPES);
                self.push(
                    Some("Type"),
                    format!(
                        "\"{type_name}\" is not a state type{hint}: {}",
                        STATE_TYPES.join(", ")
                    ),
                );
                return None;
            }
            _ => {
                self.push(
                    Some("Type"),
                    format!("is missing: one of {}", STATE_TYPES.join(", ")),
                );
                return None;
            }
        };
        self.unknown_fields(map, fields_of(type_name));
        let next = self.transition(map, type_name, names);
        let input_path = self.path_field(map, "InputPath", false);
        let output_path = self.path_field(map, "OutputPath", false);
        let result_path = self.path_field(map, "ResultPath", true);
        let parameters = if type_name == "Map" {
            None
        } else {
            map.get("Parameters")
                .map(|value| self.template(value, "Parameters"))
        };
        let result_selector = map
            .get("ResultSelector")
            .map(|value| self.template(value, "ResultSelector"));
        let retry = self.retriers(map);
        let catch = self.catchers(map, names);
        let kind = match type_name {
            "Pass" => Kind::Pass {
                result: map.get("Result").cloned(),
            },
            "Task" => self.task(map),
            "Choice" => self.choice(map, names),
            "Wait" => Kind::Wait(self.wait(map)?),
            "Succeed" => Kind::Succeed,
            "Fail" => self.fail(map),
            "Parallel" => self.parallel(map),
            _ => Kind::Map(self.map(map)?),
        };
        Some(State {
            name: name.to_owned(),
            kind,
            input_path,
            output_path,
            parameters,
            result_selector,
            result_path,
            next,
            retry,
            catch,
        })
    }

    fn transition(
        &mut self,
        map: &Map<String, Value>,
        type_name: &str,
        names: &[&str],
    ) -> Option<String> {
        let terminal = matches!(type_name, "Choice" | "Succeed" | "Fail");
        let next = map.get("Next");
        let end = map.get("End");
        if terminal {
            return None;
        }
        match (next, end) {
            (Some(_), Some(Value::Bool(true))) => {
                self.push(
                    Some("Next"),
                    "a state has `Next` or `\"End\": true`, not both",
                );
                None
            }
            (Some(Value::String(next)), _) => {
                self.target("Next", next, names);
                Some(next.clone())
            }
            (Some(other), _) => {
                self.push(Some("Next"), format!("must be a state's name, not {other}"));
                None
            }
            (None, Some(Value::Bool(true))) => None,
            (None, Some(other)) => {
                self.push(Some("End"), format!("must be true, not {other}"));
                None
            }
            (None, None) => {
                self.push(
                    Some("Next"),
                    format!(
                        "is missing: a {type_name} state needs `Next` (the state after it) or `\"End\": true`"
                    ),
                );
                None
            }
        }
    }

    fn target(&mut self, field: &str, next: &str, names: &[&str]) {
        if !names.contains(&next) {
            let hint = did_you_mean(next, names);
            self.push(Some(field), format!("no state is named \"{next}\"{hint}"));
        }
    }

    /// An `InputPath`, `OutputPath` or `ResultPath`: `$` when absent, `None` when null.
    fn path_field(
        &mut self,
        map: &Map<String, Value>,
        field: &str,
        reference: bool,
    ) -> Option<Path> {
        match map.get(field) {
            None => Path::parse("$").ok(),
            Some(Value::Null) => None,
            Some(Value::String(text)) => self.path(text, field, reference),
            Some(other) => {
                self.push(
                    Some(field),
                    format!("must be a path string or null, not {other}"),
                );
                None
            }
        }
    }

    fn path(&mut self, text: &str, field: &str, reference: bool) -> Option<Path> {
        match Path::parse(text) {
            Ok(path) if reference && !path.is_reference() => {
                self.push(
                    Some(field),
                    format!(
                        "`{text}` is not a reference path: it must start with `$` and use only `.field`, `['field']` and `[n]`"
                    ),
                );
                None
            }
            Ok(path) => Some(path),
            Err(why) => {
                self.push(Some(field), why);
                None
            }
        }
    }

    fn template(&mut self, value: &Value, field: &str) -> Template {
        match value {
            Value::Object(map) => Template::Object(
                map.iter()
                    .map(|(key, value)| {
                        let here = format!("{field}.{key}");
                        match key.strip_suffix(".$") {
                            Some(name) => (name.to_owned(), self.dynamic(value, &here)),
                            None => (key.clone(), self.template(value, &here)),
                        }
                    })
                    .collect(),
            ),
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| self.template(item, &format!("{field}[{index}]")))
                    .collect(),
            ),
            other => Template::Value(other.clone()),
        }
    }

    fn dynamic(&mut self, value: &Value, field: &str) -> Template {
        let Value::String(text) = value else {
            self.push(
                Some(field),
                format!(
                    "a field ending in `.$` takes a path or an intrinsic function, not {value}"
                ),
            );
            return Template::Value(Value::Null);
        };
        if intrinsic::is_call(text) {
            match Call::parse(text) {
                Ok(call) => Template::Call(call),
                Err(why) => {
                    self.push(Some(field), why);
                    Template::Value(Value::Null)
                }
            }
        } else {
            self.path(text, field, false)
                .map_or(Template::Value(Value::Null), Template::Path)
        }
    }

    fn error_equals(&mut self, entry: &Map<String, Value>, field: &str, last: bool) -> Vec<String> {
        let here = format!("{field}.ErrorEquals");
        let names: Vec<String> = match entry.get("ErrorEquals") {
            Some(Value::Array(items)) if !items.is_empty() => {
                let names: Vec<String> = items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_owned))
                    .collect();
                if names.len() != items.len() {
                    self.push(Some(&here), "must be an array of error names (strings)");
                }
                names
            }
            Some(_) => {
                self.push(Some(&here), "must be a non-empty array of error names");
                Vec::new()
            }
            None => {
                self.push(
                    Some(&here),
                    "is missing: the error names this entry handles, e.g. [\"States.ALL\"]",
                );
                Vec::new()
            }
        };
        if names.iter().any(|name| name == "States.ALL") && (names.len() > 1 || !last) {
            self.push(
                Some(&here),
                "\"States.ALL\" must appear alone, in the last entry",
            );
        }
        names
    }

    /// The objects of the array at `key` (`Retry`, `Catch`), each with its field name
    /// (`Retry[0]`) and whether it is the array's last; what is not an array or an object is
    /// reported, `what` and `fields` saying what belongs there.
    fn entries<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        key: &str,
        what: &str,
        fields: &str,
    ) -> Vec<(String, &'v Map<String, Value>, bool)> {
        let Some(value) = map.get(key) else {
            return Vec::new();
        };
        let Value::Array(entries) = value else {
            self.push(Some(key), format!("must be an array of {what}"));
            return Vec::new();
        };
        let mut objects = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let field = format!("{key}[{index}]");
            match entry {
                Value::Object(entry) => objects.push((field, entry, index + 1 == entries.len())),
                _ => self.push(Some(&field), format!("must be an object with {fields}")),
            }
        }
        objects
    }

    fn retriers(&mut self, map: &Map<String, Value>) -> Vec<Retrier> {
        let mut retriers = Vec::new();
        for (field, entry, last) in self.entries(map, "Retry", "retriers", "`ErrorEquals`") {
            for key in entry.keys() {
                let known = [
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                ];
                if !known.contains(&key.as_str()) {
                    let hint = did_you_mean(key, &known);
                    self.push(
                        Some(&format!("{field}.{key}")),
                        format!("is not a retrier field{hint}"),
                    );
                }
            }
            let error_equals = self.error_equals(entry, &field, last);
            let mut number =
                |name: &str, default: f64, minimum: f64, integer: bool| -> Option<f64> {
                    match entry.get(name) {
                        None => Some(default),
                        Some(value) => match value.as_f64() {
                            Some(number) if number >= minimum && (!integer || value.is_u64()) => {
                                Some(number)
                            }
                            _ => {
                                let what = if integer { "an integer" } else { "a number" };
                                self.problems.push(Problem {
                                    state: self.at.clone(),
                                    field: Some(format!("{field}.{name}")),
                                    message: format!(
                                        "must be {what} of at least {minimum}, not {value}"
                                    ),
                                });
                                None
                            }
                        },
                    }
                };
            let interval_seconds = number("IntervalSeconds", 1.0, 1.0, true).unwrap_or(1.0);
            let max_attempts = number("MaxAttempts", 3.0, 0.0, true).unwrap_or(3.0) as u64;
            let backoff_rate = number("BackoffRate", 2.0, 1.0, false).unwrap_or(2.0);
            let max_delay_seconds = entry
                .contains_key("MaxDelaySeconds")
                .then(|| number("MaxDelaySeconds", 1.0, 1.0, true))
                .flatten();
            let full_jitter = match entry.get("JitterStrategy") {
                None => false,
                Some(value) if value == "FULL" => true,
                Some(value) if value == "NONE" => false,
                Some(other) => {
                    self.push(
                        Some(&format!("{field}.JitterStrategy")),
                        format!("must be \"FULL\" or \"NONE\", not {other}"),
                    );
                    false
                }
            };
            retriers.push(Retrier {
                error_equals,
                interval_seconds,
                max_attempts,
                backoff_rate,
                max_delay_seconds,
                full_jitter,
            });
        }
        retriers
    }

    fn catchers(&mut self, map: &Map<String, Value>, names: &[&str]) -> Vec<Catcher> {
        let mut catchers = Vec::new();
        let entries = self.entries(map, "Catch", "catchers", "`ErrorEquals` and `Next`");
        for (field, entry, last) in entries {
            for key in entry.keys() {
                let known = ["ErrorEquals", "Next", "ResultPath", "Comment"];
                if !known.contains(&key.as_str()) {
                    let hint = did_you_mean(key, &known);
                    self.push(
                        Some(&format!("{field}.{key}")),
                        format!("is not a catcher field{hint}"),
                    );
                }
            }
            let error_equals = self.error_equals(entry, &field, last);
            let next = match entry.get("Next") {
                Some(Value::String(next)) => {
                    self.target(&format!("{field}.Next"), next, names);
                    next.clone()
                }
                _ => {
                    self.push(
                        Some(&format!("{field}.Next")),
                        "is missing: the state to go to when the error is caught",
                    );
                    String::new()
                }
            };
            let before = self.problems.len();
            let result_path = self.path_field(entry, "ResultPath", true);
            // Name the field where it sits.
            for problem in &mut self.problems[before..] {
                problem.field = Some(format!("{field}.ResultPath"));
            }
            catchers.push(Catcher {
                error_equals,
                next,
                result_path,
            });
        }
        catchers
    }

    fn seconds(&mut self, map: &Map<String, Value>, fixed: &str, by_path: &str) -> Option<Seconds> {
        match (map.get(fixed), map.get(by_path)) {
            (Some(_), Some(_)) => {
                self.push(
                    Some(fixed),
                    format!("give `{fixed}` or `{by_path}`, not both"),
                );
                None
            }
            (Some(value), None) => self.positive(value, fixed).map(Seconds::Fixed),
            (None, Some(Value::String(text))) => self.path(text, by_path, true).map(Seconds::Path),
            (None, Some(other)) => {
                self.push(
                    Some(by_path),
                    format!("must be a reference path, not {other}"),
                );
                None
            }
            (None, None) => None,
        }
    }

    fn task(&mut self, map: &Map<String, Value>) -> Kind {
        let resource = match map.get("Resource") {
            Some(Value::String(arn)) if arn == LAMBDA_INVOKE => {
                let names_function = matches!(
                    map.get("Parameters"),
                    Some(Value::Object(parameters))
                        if parameters.contains_key("FunctionName") || parameters.contains_key("FunctionName.$")
                );
                if !names_function {
                    self.push(
                        Some("Parameters"),
                        format!("a `{LAMBDA_INVOKE}` task names its function in `Parameters.FunctionName`"),
                    );
                }
                Resource::LambdaInvoke
            }
            Some(Value::String(arn)) if is_function_arn(arn) => Resource::Function(arn.clone()),
            Some(Value::String(arn)) if arn.starts_with("arn:") => Resource::Service(arn.clone()),
            Some(Value::String(arn)) => {
                self.push(
                    Some("Resource"),
                    format!(
                        "`{arn}` is not an ARN: a Lambda function's (arn:aws:lambda:REGION:ACCOUNT:function:NAME), `{LAMBDA_INVOKE}` or another service integration's"
                    ),
                );
                Resource::Function(arn.clone())
            }
            _ => {
                self.push(
                    Some("Resource"),
                    "is missing: the ARN of the Lambda function to call",
                );
                Resource::Function(String::new())
            }
        };
        let timeout = self.seconds(map, "TimeoutSeconds", "TimeoutSecondsPath");
        let heartbeat = self.seconds(map, "HeartbeatSeconds", "HeartbeatSecondsPath");
        if let (Some(Seconds::Fixed(timeout)), Some(Seconds::Fixed(heartbeat))) =
            (&timeout, &heartbeat)
            && heartbeat >= timeout
        {
            self.push(
                Some("HeartbeatSeconds"),
                format!("must be below TimeoutSeconds ({timeout}), not {heartbeat}"),
            );
        }
        Kind::Task {
            resource,
            timeout,
            heartbeat,
        }
    }

    fn choice(&mut self, map: &Map<String, Value>, names: &[&str]) -> Kind {
        let mut choices = Vec::new();
        match map.get("Choices") {
            Some(Value::Array(rules)) if !rules.is_empty() => {
                for (index, value) in rules.iter().enumerate() {
                    let field = format!("Choices[{index}]");
                    let mut found = Vec::new();
                    let rule = choice::parse(value, &field, true, &mut found);
                    for (field, message) in found {
                        self.push(Some(&field), message);
                    }
                    match value.get("Next") {
                        Some(Value::String(next)) => {
                            self.target(&format!("{field}.Next"), next, names);
                            choices.push((rule, next.clone()));
                        }
                        _ => self.push(
                            Some(&format!("{field}.Next")),
                            "is missing: the state to go to when the rule holds",
                        ),
                    }
                }
            }
            _ => self.push(Some("Choices"), "must be a non-empty array of rules"),
        }
        let default = match map.get("Default") {
            Some(Value::String(default)) => {
                self.target("Default", default, names);
                Some(default.clone())
            }
            Some(other) => {
                self.push(
                    Some("Default"),
                    format!("must be a state's name, not {other}"),
                );
                None
            }
            None => None,
        };
        Kind::Choice { choices, default }
    }

    fn wait(&mut self, map: &Map<String, Value>) -> Option<WaitFor> {
        let given: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
            .into_iter()
            .filter(|field| map.contains_key(*field))
            .collect();
        let [field] = given.as_slice() else {
            let fields = if given.is_empty() {
                "none".to_owned()
            } else {
                given.join(" and ")
            };
            self.push(
                None,
                format!(
                    "a Wait state takes exactly one of Seconds, Timestamp, SecondsPath and TimestampPath, not {fields}"
                ),
            );
            return None;
        };
        let value = &map[*field];
        match *field {
            "Seconds" => match value.as_u64() {
                Some(seconds) => Some(WaitFor::Seconds(seconds)),
                None => {
                    self.push(
                        Some("Seconds"),
                        format!("must be a whole number of seconds, not {value}"),
                    );
                    None
                }
            },
            "Timestamp" => match value.as_str().and_then(crate::time::parse_rfc3339) {
                Some(time) => Some(WaitFor::Timestamp(time)),
                None => {
                    self.push(
                        Some("Timestamp"),
                        format!("must be an RFC 3339 timestamp such as \"2026-01-31T12:00:00Z\", not {value}"),
                    );
                    None
                }
            },
            by_path => {
                let Value::String(text) = value else {
                    self.push(
                        Some(by_path),
                        format!("must be a reference path, not {value}"),
                    );
                    return None;
                };
                let path = self.path(text, by_path, true)?;
                Some(if by_path == "SecondsPath" {
                    WaitFor::SecondsPath(path)
                } else {
                    WaitFor::TimestampPath(path)
                })
            }
        }
    }

    fn fail(&mut self, map: &Map<String, Value>) -> Kind {
        let mut text = |fixed: &str, by_path: &str| match (map.get(fixed), map.get(by_path)) {
            (Some(_), Some(_)) => {
                self.push(
                    Some(fixed),
                    format!("give `{fixed}` or `{by_path}`, not both"),
                );
                None
            }
            (Some(Value::String(text)), None) => Some(Text::Literal(text.clone())),
            (Some(other), None) => {
                self.push(Some(fixed), format!("must be a string, not {other}"));
                None
            }
            (None, Some(Value::String(text))) if intrinsic::is_call(text) => {
                match Call::parse(text) {
                    Ok(call) => Some(Text::Call(call)),
                    Err(why) => {
                        self.push(Some(by_path), why);
                        None
                    }
                }
            }
            (None, Some(Value::String(text))) => self.path(text, by_path, false).map(Text::Path),
            (None, Some(other)) => {
                self.push(
                    Some(by_path),
                    format!("must be a path or an intrinsic function, not {other}"),
                );
                None
            }
            (None, None) => None,
        };
        let error = text("Error", "ErrorPath");
        let cause = text("Cause", "CausePath");
        Kind::Fail { error, cause }
    }

    fn sub_branch(&mut self, value: &Value, place: &str) -> Arc<Branch> {
        let outer = self.at.clone();
        self.at = join(&outer, place);
        let branch = match value {
            Value::Object(map) => {
                self.unknown_fields(map, &["StartAt", "States", "ProcessorConfig"]);
                if let Some(config) = map.get("ProcessorConfig")
                    && let Some(mode) = config.get("Mode")
                    && mode != "INLINE"
                {
                    self.push(
                        Some("ProcessorConfig.Mode"),
                        format!("only INLINE maps run locally, not {mode}"),
                    );
                }
                self.branch(map)
            }
            _ => {
                self.push(None, "must be an object with `StartAt` and `States`");
                Branch {
                    start_at: String::new(),
                    states: BTreeMap::new(),
                }
            }
        };
        self.at = outer;
        Arc::new(branch)
    }

    fn parallel(&mut self, map: &Map<String, Value>) -> Kind {
        let mut branches = Vec::new();
        match map.get("Branches") {
            Some(Value::Array(values)) if !values.is_empty() => {
                for (index, value) in values.iter().enumerate() {
                    branches.push(self.sub_branch(value, &format!("branch {}", index + 1)));
                }
            }
            _ => self.push(
                Some("Branches"),
                "must be a non-empty array of branches (`StartAt` and `States`)",
            ),
        }
        Kind::Parallel { branches }
    }

    fn map(&mut self, map: &Map<String, Value>) -> Option<MapState> {
        let processor = match (map.get("ItemProcessor"), map.get("Iterator")) {
            (Some(_), Some(_)) => {
                self.push(
                    Some("ItemProcessor"),
                    "give `ItemProcessor` or the older `Iterator`, not both",
                );
                return None;
            }
            (Some(value), None) => self.sub_branch(value, "ItemProcessor"),
            (None, Some(value)) => self.sub_branch(value, "Iterator"),
            (None, None) => {
                self.push(
                    Some("ItemProcessor"),
                    "is missing: the states each item runs through",
                );
                return None;
            }
        };
        let item_selector = match (map.get("ItemSelector"), map.get("Parameters")) {
            (Some(_), Some(_)) => {
                self.push(
                    Some("ItemSelector"),
                    "give `ItemSelector` or the older `Parameters`, not both",
                );
                None
            }
            (Some(value), None) => Some(self.template(value, "ItemSelector")),
            (None, Some(value)) => Some(self.template(value, "Parameters")),
            (None, None) => None,
        };
        let items_path = match map.get("ItemsPath") {
            None => Path::parse("$").ok()?,
            Some(Value::String(text)) => self.path(text, "ItemsPath", true)?,
            Some(other) => {
                self.push(
                    Some("ItemsPath"),
                    format!("must be a reference path, not {other}"),
                );
                return None;
            }
        };
        let max_concurrency = match map.get("MaxConcurrency") {
            None => 0,
            Some(value) => match value.as_u64() {
                Some(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
                None => {
                    self.push(
                        Some("MaxConcurrency"),
                        format!("must be a whole number (0: no limit), not {value}"),
                    );
                    0
                }
            },
        };
        let tolerated_count = map.get("ToleratedFailureCount").and_then(|value| {
            let count = value.as_u64();
            if count.is_none() {
                self.push(
                    Some("ToleratedFailureCount"),
                    format!("must be a whole number, not {value}"),
                );
            }
            count
        });
        let tolerated_percentage = map.get("ToleratedFailurePercentage").and_then(|value| {
            let percentage = value.as_f64().filter(|p| (0.0..=100.0).contains(p));
            if percentage.is_none() {
                self.push(
                    Some("ToleratedFailurePercentage"),
                    format!("must be a number from 0 to 100, not {value}"),
                );
            }
            percentage
        });
        Some(MapState {
            items_path,
            item_selector,
            processor,
            max_concurrency,
            tolerated_count,
            tolerated_percentage,
        })
    }
}

fn transitions(state: &Value) -> Vec<String> {
    let name = |value: &Value| value.get("Next").and_then(Value::as_str).map(str::to_owned);
    let mut names: Vec<String> = name(state).into_iter().collect();
    names.extend(
        state
            .get("Default")
            .and_then(Value::as_str)
            .map(str::to_owned),
    );
    for list in ["Choices", "Catch"] {
        if let Some(Value::Array(entries)) = state.get(list) {
            names.extend(entries.iter().filter_map(name));
        }
    }
    names
}

fn is_function_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() >= 7
        && parts[0] == "arn"
        && parts[2] == "lambda"
        && parts[5] == "function"
        && !parts[6].is_empty()
}

fn join(outer: &str, place: &str) -> String {
    if outer.is_empty() {
        place.to_owned()
    } else {
        format!("{outer}, {place}")
    }
}

fn did_you_mean(typed: &str, known: &[&str]) -> String {
    crate::suggest::closest(typed, known.iter().copied())
        .map_or_else(String::new, |near| format!(" (did you mean \"{near}\"?)"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn problems(definition: Value) -> Vec<String> {
        validate(&definition)
            .err()
            .map(|invalid| invalid.to_string().lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_good_definition_parses_into_typed_states() {
        let machine = parse(
            r#"{
              "Comment": "orders",
              "StartAt": "Validate",
              "TimeoutSeconds": 60,
              "States": {
                "Validate": {"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:validate",
                             "Retry": [{"ErrorEquals": ["Transient"], "MaxAttempts": 0}, {"ErrorEquals": ["States.ALL"]}],
                             "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Rejected", "ResultPath": "$.error"}],
                             "Next": "Lines"},
                "Lines": {"Type": "Map", "ItemsPath": "$.lines", "MaxConcurrency": 2,
                          "ItemProcessor": {"StartAt": "Price", "States": {
                            "Price": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                      "Parameters": {"FunctionName": "price", "Payload.$": "$"}, "End": true}}},
                          "Next": "Both"},
                "Both": {"Type": "Parallel", "Branches": [
                  {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
                  {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 1, "End": true}}}],
                  "Next": "Done"},
                "Done": {"Type": "Succeed"},
                "Rejected": {"Type": "Fail", "Error": "Rejected", "CausePath": "$.error.Cause"}
              }
            }"#,
        )
        .unwrap();
        assert_eq!(machine.timeout_seconds, Some(60));
        assert_eq!(
            machine.task_functions(),
            [
                "arn:aws:lambda:eu-west-1:123456789012:function:validate",
                "price"
            ]
        );
        let validate = &machine.branch.states["Validate"];
        assert_eq!(validate.retry[0].max_attempts, 0);
        assert_eq!(validate.retry[1].backoff_rate, 2.0);
        assert_eq!(
            validate.catch[0].result_path.as_ref().unwrap().as_str(),
            "$.error"
        );
        assert!(
            matches!(&machine.branch.states["Lines"].kind, Kind::Map(map) if map.max_concurrency == 2)
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_state_and_field() {
        let found = problems(json!({
            "StartAt": "Charge",
            "States": {
                "Charge": {"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:1:function:charge", "Next": "Chrage",
                           "Retry": {"ErrorEquals": ["X"]},
                           "Catch": [{"ErrorEquals": ["States.ALL", "X"], "Next": "Done", "ResultPath": "$.a[*]"}]},
                "Wait": {"Type": "Wait", "Seconds": 1, "Timestamp": "2026-01-01T00:00:00Z", "Next": "Done"},
                "Done": {"Type": "Succed"},
                "Loose": {"Type": "Pass"},
                "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.a", "Next": "Done"}], "Default": "Done"},
                "Stop": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"},
                "Form": {"Type": "Pass", "Parameters": {"x.$": "States.Fromat('{}', $.a)", "y.$": "$..["},
                         "ResultPath": "$$.x", "InputPat": "$", "End": true},
                "Fan": {"Type": "Parallel", "End": true, "Branches": [
                    {"StartAt": "In", "States": {"In": {"Type": "Pass", "Next": "Out"}}}]}
            }
        }));
        let expected = [
            r#"state "Charge": field "Next": no state is named "Chrage" (did you mean "Charge"?)"#,
            r#"state "Charge": field "Retry": must be an array of retriers"#,
            r#"state "Charge": field "Catch[0].ErrorEquals": "States.ALL" must appear alone, in the last entry"#,
            r#"state "Charge": field "Catch[0].ResultPath": `$.a[*]` is not a reference path"#,
            r#"state "Done": field "Type": "Succed" is not a state type (did you mean "Succeed"?)"#,
            r#"state "Fan", branch 1, state "In": field "Next": no state is named "Out""#,
            r#"state "Form": field "InputPat": is not a field here (did you mean "InputPath"?)"#,
            r#"state "Form": field "ResultPath": `$$.x` is not a reference path"#,
            r#"state "Form": field "Parameters.x.$": `States.Fromat` is not an intrinsic function (did you mean `States.Format`?)"#,
            r#"state "Form": field "Parameters.y.$": `$..[` is not a valid path"#,
            r#"state "Loose": field "Next": is missing: a Pass state needs `Next`"#,
            r#"state "Pick": field "Choices[0]": the rule has no comparison"#,
            r#"state "Stop": field "Error": give `Error` or `ErrorPath`, not both"#,
            r#"state "Wait": a Wait state takes exactly one of Seconds, Timestamp, SecondsPath and TimestampPath, not Seconds and Timestamp"#,
            r#"state "Fan": is never reached"#,
            r#"state "Form": is never reached"#,
            r#"state "Loose": is never reached"#,
            r#"state "Pick": is never reached"#,
            r#"state "Stop": is never reached"#,
            r#"state "Wait": is never reached"#,
        ];
        for line in expected {
            assert!(
                found.iter().any(|problem| problem.starts_with(line)),
                "missing: {line}\nfound:\n{}",
                found.join("\n")
            );
        }
        assert_eq!(found.len(), expected.len(), "{}", found.join("\n"));
    }

    #[test]
    fn top_level_and_task_problems() {
        assert_eq!(
            problems(json!({"States": {"A": {"Type": "Pass", "End": true}}})),
            [r#"field "StartAt": is missing: name the state to start at"#]
        );
        assert_eq!(
            problems(json!({"StartAt": "B", "States": {"A": {"Type": "Pass", "End": true}}})),
            [r#"field "StartAt": no state is named "B" (did you mean "A"?)"#]
        );
        let found = problems(json!({"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 0,
                  "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5, "JitterStrategy": "SOME", "MaxAttemps": 1}],
                  "Next": "B"},
            "B": {"Type": "Task", "Resource": "orders-bucket", "End": true},
            "C": {"Type": "Map", "ItemProcessor": {"StartAt": "D", "States": {"D": {"Type": "Wait", "End": true}}}, "Next": "A"}
        }}));
        let expected = [
            r#"state "A": field "Retry[0].MaxAttemps": is not a retrier field (did you mean "MaxAttempts"?)"#,
            r#"state "A": field "Retry[0].BackoffRate": must be a number of at least 1, not 0.5"#,
            r#"state "A": field "Retry[0].JitterStrategy": must be "FULL" or "NONE", not "SOME""#,
            r#"state "A": field "Parameters": a `arn:aws:states:::lambda:invoke` task names its function in `Parameters.FunctionName`"#,
            r#"state "A": field "TimeoutSeconds": must be a positive integer, not 0"#,
            r#"state "B": field "Resource": `orders-bucket` is not an ARN"#,
            r#"state "C", ItemProcessor, state "D": a Wait state takes exactly one of Seconds, Timestamp, SecondsPath and TimestampPath, not none"#,
            r#"state "C": is never reached"#,
        ];
        for line in expected {
            assert!(
                found.iter().any(|problem| problem.starts_with(line)),
                "missing: {line}\nfound:\n{}",
                found.join("\n")
            );
        }
        assert_eq!(found.len(), expected.len(), "{}", found.join("\n"));
        assert_eq!(
            problems(json!([1])),
            ["the definition must be a JSON object with `StartAt` and `States`"]
        );
        let not_json = parse("{").unwrap_err().to_string();
        assert!(
            not_json.starts_with("the definition is not JSON"),
            "{not_json}"
        );
    }
}
