//! Running a deployed state machine through a Step Functions API (serve's, or AWS's) and
//! reading the path it took: `cargo lambdakit invoke --state-machine`.
//!
//! A STANDARD machine is started and watched until it ends; an EXPRESS one runs synchronously.
//! The history (which AWS keeps for STANDARD executions, and serve for both) becomes a
//! [`Timeline`]: a row per state entered, with its start, duration, attempts and the error it
//! failed or was caught with; the states of Map iterations and Parallel branches are gathered
//! in one row per state name under their Map or Parallel.

use std::fmt::Write as _;
use std::time::Duration;

use aws_sdk_sfn::types::{HistoryEvent, StateMachineType};

use crate::aws::Aws;
use crate::error::CliError;

/// How an execution ended, and the path it took when its history could be read.
#[derive(Debug, Clone)]
pub struct Ended {
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    /// Its output, when it succeeded.
    pub output: Option<String>,
    /// Its error and cause, when it did not.
    pub error: Option<(String, String)>,
    /// Its ARN.
    pub arn: String,
    /// The path, from its history; `None` when there is none to read (an EXPRESS execution on
    /// AWS).
    pub timeline: Option<Timeline>,
}

impl Ended {
    /// Whether it succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == "SUCCEEDED"
    }
}

/// Runs the state machine `name` with `input` and waits for it to end.
///
/// # Errors
///
/// [`CliError::Absent`] when no machine of that name is deployed there, and
/// [`CliError::Aws`] when Step Functions refuses a call (an input that is not JSON, say).
pub async fn run(aws: &Aws, name: &str, input: &str) -> Result<Ended, CliError> {
    let sfn = &aws.sfn;
    let mut machines = sfn.list_state_machines().into_paginator().items().send();
    let mut names = Vec::new();
    let mut found = None;
    while let Some(machine) = machines.next().await {
        let machine =
            machine.map_err(|error| crate::aws::failed("states:ListStateMachines", error))?;
        if machine.name() == name {
            found = Some(machine);
            break;
        }
        names.push(machine.name().to_owned());
    }
    let Some(machine) = found else {
        let problem = format!(
            "there is no state machine `{name}` there{}",
            crate::suggest::did_you_mean(name, names.iter().map(String::as_str))
        );
        let hint = if names.is_empty() {
            "deploy it first: `cargo lambdakit deploy` (add `--local URL` for serve)".to_owned()
        } else {
            format!("the state machines there are: {}", names.join(", "))
        };
        return Err(CliError::Absent { problem, hint });
    };
    let arn = machine.state_machine_arn();
    if machine.r#type() == &StateMachineType::Express {
        let ran = sfn
            .start_sync_execution()
            .state_machine_arn(arn)
            .input(input)
            .send()
            .await
            .map_err(|error| crate::aws::failed("states:StartSyncExecution", error))?;
        let error = ran
            .error()
            .map(|error| (error.to_owned(), ran.cause().unwrap_or_default().to_owned()));
        return Ok(Ended {
            status: ran.status().as_str().to_owned(),
            output: ran.output().map(str::to_owned),
            error,
            arn: ran.execution_arn().to_owned(),
            // AWS keeps no history of EXPRESS executions; serve does.
            timeline: history(aws, ran.execution_arn()).await.ok(),
        });
    }
    let started = sfn
        .start_execution()
        .state_machine_arn(arn)
        .input(input)
        .send()
        .await
        .map_err(|error| crate::aws::failed("states:StartExecution", error))?;
    let execution = started.execution_arn();
    let mut wait = Duration::from_millis(20);
    let described = loop {
        let described = sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .map_err(|error| crate::aws::failed("states:DescribeExecution", error))?;
        if described.status().as_str() != "RUNNING" {
            break described;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(1));
    };
    let error = described.error().map(|error| {
        (
            error.to_owned(),
            described.cause().unwrap_or_default().to_owned(),
        )
    });
    Ok(Ended {
        status: described.status().as_str().to_owned(),
        output: described.output().map(str::to_owned),
        error,
        arn: execution.to_owned(),
        timeline: Some(history(aws, execution).await?),
    })
}

/// The execution's history, every page of it, as a timeline.
async fn history(aws: &Aws, execution: &str) -> Result<Timeline, CliError> {
    let mut pages = aws
        .sfn
        .get_execution_history()
        .execution_arn(execution)
        .max_results(1000)
        .into_paginator()
        .items()
        .send();
    let mut steps = Vec::new();
    while let Some(event) = pages.next().await {
        let event =
            event.map_err(|error| crate::aws::failed("states:GetExecutionHistory", error))?;
        steps.push(step(&event));
    }
    Ok(Timeline::of(&steps))
}

/// What a timeline takes from one history event.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// When, in seconds since the epoch.
    pub at: f64,
    /// Its type, such as `TaskStateEntered`.
    pub kind: String,
    /// The state's name, for `...StateEntered` and `...StateExited`.
    pub name: Option<String>,
    /// The error, for failures and time-outs.
    pub error: Option<String>,
}

fn step(event: &HistoryEvent) -> Step {
    let error = event
        .lambda_function_failed_event_details()
        .and_then(|details| details.error())
        .or_else(|| {
            event
                .lambda_function_timed_out_event_details()
                .and_then(|details| details.error())
        })
        .or_else(|| {
            event
                .task_failed_event_details()
                .and_then(|details| details.error())
        })
        .or_else(|| {
            event
                .task_timed_out_event_details()
                .and_then(|details| details.error())
        })
        .map(str::to_owned);
    let name = event
        .state_entered_event_details()
        .map(|details| details.name())
        .or_else(|| {
            event
                .state_exited_event_details()
                .map(|details| details.name())
        })
        .map(str::to_owned);
    Step {
        at: event.timestamp().as_secs_f64(),
        kind: event.r#type().as_str().to_owned(),
        name,
        error,
    }
}

/// The states an execution went through, in the order entered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// One per state entered at the top; one per state name inside a Map or Parallel.
    pub rows: Vec<Row>,
    /// From the first event to the last, in milliseconds.
    pub total_ms: f64,
}

/// One state of a [`Timeline`].
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// How deep in Maps and Parallels it is (0 at the top).
    pub depth: usize,
    /// Its name.
    pub name: String,
    /// Its type (`Task`, `Map`, ...).
    pub kind: String,
    /// When it was first entered, in milliseconds from the start.
    pub start_ms: f64,
    /// How long it took (the longest, for a state run more than once).
    pub duration_ms: f64,
    /// How many times it was entered (iterations of a Map).
    pub runs: usize,
    /// Calls of its function or service (more than `runs` when retried).
    pub attempts: usize,
    /// The last error of its calls (or its own time-out).
    pub error: Option<String>,
    /// Whether it exited: one retried past its error did; one whose error was caught, or that
    /// failed the execution, did not.
    pub exited: bool,
}

impl Timeline {
    /// The timeline of `steps`, a history in order.
    pub fn of(steps: &[Step]) -> Self {
        let Some(first) = steps.first() else {
            return Self::default();
        };
        let origin = first.at;
        let ms = |at: f64| (at - origin) * 1000.0;
        let mut rows: Vec<Row> = Vec::new();
        // The row of each state under way, by depth.
        let mut open: Vec<Option<usize>> = vec![None];
        let mut depth = 0usize;
        // When the open state at each depth was entered.
        let mut entered_at: Vec<f64> = vec![0.0];
        for step in steps {
            let kind = step.kind.as_str();
            if let Some(state_kind) = kind.strip_suffix("StateEntered") {
                let name = step.name.clone().unwrap_or_default();
                let found = (depth > 0)
                    .then(|| {
                        rows.iter()
                            .position(|row| row.depth == depth && row.name == name)
                    })
                    .flatten();
                let index = match found {
                    Some(index) => {
                        rows[index].runs += 1;
                        index
                    }
                    None => {
                        rows.push(Row {
                            depth,
                            name,
                            kind: state_kind.to_owned(),
                            start_ms: ms(step.at),
                            duration_ms: 0.0,
                            runs: 1,
                            attempts: 0,
                            error: None,
                            exited: false,
                        });
                        rows.len() - 1
                    }
                };
                open[depth] = Some(index);
                entered_at[depth] = ms(step.at);
            } else if kind.ends_with("StateExited") {
                if let Some(index) = open[depth] {
                    let row = &mut rows[index];
                    row.exited = true;
                    row.duration_ms = row.duration_ms.max(ms(step.at) - entered_at[depth]);
                }
            } else if matches!(kind, "MapStateStarted" | "ParallelStateStarted") {
                depth += 1;
                if open.len() <= depth {
                    open.push(None);
                    entered_at.push(0.0);
                }
                open[depth] = None;
            } else if kind.starts_with("MapState") || kind.starts_with("ParallelState") {
                // Succeeded, Failed or Aborted: back to the Map or Parallel itself.
                if matches!(
                    kind.trim_start_matches("MapState")
                        .trim_start_matches("ParallelState"),
                    "Succeeded" | "Failed" | "Aborted"
                ) {
                    depth = depth.saturating_sub(1);
                }
            } else if kind.ends_with("Scheduled") {
                if let Some(index) = open[depth] {
                    rows[index].attempts += 1;
                }
            } else if let (Some(error), Some(index)) = (&step.error, open[depth]) {
                rows[index].error = Some(error.clone());
                let row = &mut rows[index];
                row.duration_ms = row.duration_ms.max(ms(step.at) - entered_at[depth]);
            }
        }
        let total_ms = steps.last().map_or(0.0, |last| ms(last.at));
        Self { rows, total_ms }
    }

    /// The timeline as lines for a terminal.
    pub fn render(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|row| row.depth * 2 + row.name.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (index, row) in self.rows.iter().enumerate() {
            // A state that did not exit, with a state after it at its depth or above, had its
            // error caught.
            let went_on = self.rows[index + 1..]
                .iter()
                .any(|later| later.depth <= row.depth);
            let name = format!("{}{}", "  ".repeat(row.depth), row.name);
            let _ = write!(
                out,
                "{:>8}  {name:<width$}  {:<8} {:>8}",
                format!("{:.0} ms", row.start_ms),
                row.kind,
                format!("{:.0} ms", row.duration_ms),
            );
            let mut notes = Vec::new();
            if row.runs > 1 {
                notes.push(format!("×{}", row.runs));
            }
            if row.attempts > row.runs {
                notes.push(format!("{} attempts", row.attempts));
            }
            match (&row.error, row.exited) {
                (Some(error), true) => notes.push(format!("retried past {error}")),
                (Some(error), false) if went_on => notes.push(format!("caught {error}")),
                (Some(error), false) => notes.push(format!("failed with {error}")),
                (None, _) => {}
            }
            if !notes.is_empty() {
                let _ = write!(out, "  {}", notes.join(", "));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(at: f64, kind: &str, name: Option<&str>, error: Option<&str>) -> Step {
        Step {
            at,
            kind: kind.into(),
            name: name.map(Into::into),
            error: error.map(Into::into),
        }
    }

    #[test]
    fn a_history_becomes_a_row_per_state_with_maps_gathered() {
        let steps = [
            step(100.000, "ExecutionStarted", None, None),
            step(100.001, "TaskStateEntered", Some("Check"), None),
            step(100.002, "LambdaFunctionScheduled", None, None),
            step(100.010, "LambdaFunctionSucceeded", None, None),
            step(100.011, "TaskStateExited", Some("Check"), None),
            step(100.012, "MapStateEntered", Some("Lines"), None),
            step(100.012, "MapStateStarted", None, None),
            step(100.013, "TaskStateEntered", Some("Line"), None),
            step(100.014, "TaskStateEntered", Some("Line"), None),
            step(100.020, "TaskStateExited", Some("Line"), None),
            step(100.030, "TaskStateExited", Some("Line"), None),
            step(100.031, "MapStateSucceeded", None, None),
            step(100.032, "MapStateExited", Some("Lines"), None),
            step(100.033, "TaskStateEntered", Some("Try"), None),
            step(100.034, "LambdaFunctionScheduled", None, None),
            step(100.035, "LambdaFunctionFailed", None, Some("AskedToFail")),
            step(100.036, "LambdaFunctionScheduled", None, None),
            step(100.040, "LambdaFunctionFailed", None, Some("AskedToFail")),
            step(100.041, "PassStateEntered", Some("Done"), None),
            step(100.041, "PassStateExited", Some("Done"), None),
            step(100.042, "ExecutionSucceeded", None, None),
        ];
        let timeline = Timeline::of(&steps);
        // depth, name, runs, attempts, error, exited
        let rows: Vec<String> = timeline
            .rows
            .iter()
            .map(|row| {
                format!(
                    "{} {} {} {} {:?} {}",
                    row.depth, row.name, row.runs, row.attempts, row.error, row.exited
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                "0 Check 1 1 None true",
                "0 Lines 1 0 None true",
                "1 Line 2 0 None true",
                "0 Try 1 2 Some(\"AskedToFail\") false",
                "0 Done 1 0 None true",
            ]
        );
        assert!((timeline.rows[0].duration_ms - 10.0).abs() < 0.01);
        assert!((timeline.total_ms - 42.0).abs() < 0.01);
        let rendered = timeline.render();
        let try_row = rendered.lines().find(|line| line.contains("Try")).unwrap();
        assert!(
            try_row.ends_with("Task         7 ms  2 attempts, caught AskedToFail"),
            "{rendered}"
        );
        assert!(rendered.contains("  Line"), "{rendered}");
        assert!(rendered.contains("×2"), "{rendered}");
    }
}
