//! The project's Step Functions state machines, deployed after its functions: each with the
//! role deploy creates for it (assumed by `states.amazonaws.com`, allowed to invoke exactly
//! the functions and aliases its definition names, plus log delivery and X-Ray when logging
//! and tracing are on), the log group its logging writes to, and the machine itself, created,
//! updated or left alone as its resolved definition, role, type, logging, tracing and tags
//! say. Destroy finds them by their `lambdakit:` tags.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sfn::types::{
    CloudWatchLogsLogGroup, LogDestination, LogLevel, LoggingConfiguration, StateMachineType, Tag,
    TracingConfiguration,
};
use serde_json::{Value, json};

use super::settings::{ExecutionLogLevel, Word as _};
use super::{
    Action, Change, Options, Outcome, Progress, TAG_PACKAGE, TAG_STAGE, bounded, definition, role,
};
use crate::aws::retry::retry;
use crate::aws::{self, Aws};
use crate::error::CliError;
use crate::project::{Function, StateMachine};

/// The tag naming the state machine (its `name` setting) a resource was deployed for.
pub const TAG_STATE_MACHINE: &str = "lambdakit:state-machine";

/// How long a create is retried while IAM has not yet propagated a new role to Step
/// Functions.
const RETRY_LIMIT: Duration = Duration::from_secs(120);

/// The role deploy creates for the state machine named `machine`.
pub(super) fn role_name(machine: &str) -> String {
    bounded(machine, "-states-lambdakit", 64)
}

/// The description of the role deploy creates for the state machine named `machine`.
pub(super) fn role_description(machine: &str) -> String {
    format!("Execution role of the state machine `{machine}`, created by cargo lambdakit")
}

/// The log group a machine's logging writes to: its `log_group`, else
/// `/aws/vendedlogs/states/NAME` (the prefix AWS recommends for vended logs, whose resource
/// policy size stays small).
pub(super) fn log_group(machine: &StateMachine) -> String {
    machine
        .settings
        .logging
        .log_group
        .clone()
        .unwrap_or_else(|| format!("/aws/vendedlogs/states/{}", machine.settings.name))
}

/// The machine as the settings ask for it, in the terms `DescribeStateMachine` reports.
#[derive(Debug, Clone, PartialEq)]
struct Desired {
    definition: Value,
    role: String,
    machine_type: String,
    level: String,
    include_execution_data: bool,
    destinations: Vec<String>,
    tracing: bool,
}

impl Desired {
    fn differences(&self, current: &Self) -> Vec<String> {
        let mut changed = Vec::new();
        if current.definition != self.definition {
            changed.push("definition".into());
        }
        if current.role != self.role {
            changed.push(format!("role → {}", self.role));
        }
        if current.machine_type != self.machine_type {
            changed.push(format!(
                "type {} → {} (replaced: Step Functions cannot change it)",
                current.machine_type, self.machine_type
            ));
        }
        if (
            &current.level,
            current.include_execution_data,
            &current.destinations,
        ) != (&self.level, self.include_execution_data, &self.destinations)
        {
            changed.push(format!("logging {} → {}", current.level, self.level));
        }
        if current.tracing != self.tracing {
            let word = |on: bool| if on { "on" } else { "off" };
            changed.push(format!(
                "tracing {} → {}",
                word(current.tracing),
                word(self.tracing)
            ));
        }
        changed
    }

    fn logging(&self) -> LoggingConfiguration {
        LoggingConfiguration::builder()
            .level(LogLevel::from(self.level.as_str()))
            .include_execution_data(self.include_execution_data)
            .set_destinations(Some(
                self.destinations
                    .iter()
                    .map(|arn| {
                        LogDestination::builder()
                            .cloud_watch_logs_log_group(
                                CloudWatchLogsLogGroup::builder().log_group_arn(arn).build(),
                            )
                            .build()
                    })
                    .collect(),
            ))
            .build()
    }

    fn tracing(&self) -> TracingConfiguration {
        TracingConfiguration::builder()
            .enabled(self.tracing)
            .build()
    }
}

/// The role's policy: invoking exactly `invoked`, and log delivery and X-Ray when asked for;
/// `None` when that is nothing (a machine of Pass states, say).
pub(super) fn policy(machine: &StateMachine, invoked: &[String]) -> Option<Value> {
    let mut statements = Vec::new();
    if !invoked.is_empty() {
        statements.push(json!({
            "Sid": "InvokeFunctions",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": invoked,
        }));
    }
    // Step Functions delivers logs through CloudWatch Logs' log delivery, whose actions take
    // no resource (AWS, "IAM policies for logging to CloudWatch Logs").
    if machine.settings.logging.level != ExecutionLogLevel::Off {
        statements.push(json!({
            "Sid": "LogDelivery",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups",
            ],
            "Resource": ["*"],
        }));
    }
    if machine.settings.tracing {
        statements.push(json!({
            "Sid": "XRay",
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
            ],
            "Resource": ["*"],
        }));
    }
    (!statements.is_empty()).then(|| json!({"Version": "2012-10-17", "Statement": statements}))
}

/// The tags the machine (and its role) carry: its own, and lambdakit's.
pub(super) fn tags(machine: &StateMachine) -> BTreeMap<String, String> {
    let mut tags = machine.settings.tags.clone();
    tags.insert(TAG_PACKAGE.into(), machine.package.clone());
    tags.insert(TAG_STATE_MACHINE.into(), machine.settings.name.clone());
    if let Some(stage) = &machine.stage {
        tags.insert(TAG_STAGE.into(), stage.clone());
    }
    tags
}

/// The ARN of the state machine named `name`.
pub(super) fn arn(aws: &Aws, name: &str) -> String {
    aws.arn("states", &format!("stateMachine:{name}"))
}

/// Deploys one state machine, whose definition names `functions` (its package's): its role,
/// its log group, and the machine.
///
/// # Errors
///
/// When AWS refuses a call, or a machine or role of its name is in the way (not created by
/// lambdakit, and no `--adopt`): nothing after it is changed, and deploying again resumes.
pub async fn deploy(
    aws: &Aws,
    machine: &StateMachine,
    functions: &[&Function],
    options: Options,
) -> Result<Outcome, CliError> {
    let progress = Progress::new(options.quiet || options.dry_run);
    let name = machine.settings.name.clone();
    progress.note(format_args!("deploying the state machine `{name}`"));
    let function_arn = |function: &str| aws.arn("lambda", &format!("function:{function}"));
    let (resolved, invoked) = definition::resolve(&machine.definition, functions, &function_arn);
    let mut changes = Vec::new();

    let wanted = role::Wanted {
        name: role_name(&name),
        service: "states.amazonaws.com",
        description: role_description(&name),
        tags: [
            (TAG_PACKAGE, &machine.package),
            (TAG_STATE_MACHINE, &machine.settings.name),
        ],
        stage: machine.stage.as_deref(),
        policy: policy(machine, &invoked),
        hint: format!(
            "delete it, or give the state machine another `name` in `{}`",
            machine.key
        ),
        managed: &[],
    };
    // serve (`deploy --local`) has no IAM and no CloudWatch Logs: it takes the role's ARN
    // as given and keeps the logging settings as it is told them.
    let local = aws.local.is_some();
    let role_arn = if local {
        aws.role_arn(&wanted.name)
    } else {
        let (role_arn, role_change) = role::ensure_wanted(aws, &wanted, options).await?;
        changes.push(role_change);
        role_arn
    };

    let logging = &machine.settings.logging;
    let mut destinations = Vec::new();
    if logging.level != ExecutionLogLevel::Off {
        let group = log_group(machine);
        if !local {
            changes.push(ensure_log_group(aws, machine, &group, options).await?);
        }
        destinations.push(aws.arn("logs", &format!("log-group:{group}:*")));
    }
    let desired = Desired {
        definition: resolved,
        role: role_arn,
        machine_type: machine.settings.machine_type.as_str().to_owned(),
        level: logging.level.as_str().to_owned(),
        include_execution_data: logging.include_execution_data,
        destinations,
        tracing: machine.settings.tracing,
    };
    let tags = tags(machine);
    let arn = arn(aws, &name);

    let existing = match aws
        .sfn
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
    {
        Ok(found) => Some(found),
        Err(error) if aws::not_found(&error) => None,
        Err(error) => return Err(aws::failed("states:DescribeStateMachine", error)),
    };
    let Some(found) = existing else {
        if !options.dry_run {
            create(aws, &name, &desired, &tags).await?;
        }
        changes.push(Change::new("state-machine", name.clone(), Action::Create));
        return Ok(outcome(name, arn, changes));
    };

    let current_tags = current_tags(aws, &arn).await?;
    check_ours(machine, &current_tags, options.adopt)?;
    let current = Desired {
        definition: serde_json::from_str(found.definition()).unwrap_or(Value::Null),
        role: found.role_arn().to_owned(),
        machine_type: found.r#type().as_str().to_owned(),
        level: found
            .logging_configuration()
            .and_then(LoggingConfiguration::level)
            .map_or_else(|| "OFF".to_owned(), |level| level.as_str().to_owned()),
        include_execution_data: found
            .logging_configuration()
            .is_some_and(LoggingConfiguration::include_execution_data),
        destinations: found
            .logging_configuration()
            .map(|logging| {
                logging
                    .destinations()
                    .iter()
                    .filter_map(|destination| destination.cloud_watch_logs_log_group())
                    .filter_map(|group| group.log_group_arn().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        tracing: found
            .tracing_configuration()
            .is_some_and(TracingConfiguration::enabled),
    };
    let mut differences = desired.differences(&current);
    let replace = current.machine_type != desired.machine_type;
    if !options.dry_run {
        if replace {
            delete(aws, &arn).await?;
            create(aws, &name, &desired, &tags).await?;
        } else if !differences.is_empty() {
            update(aws, &arn, &desired).await?;
        }
    }
    let missing_tags = tags
        .iter()
        .any(|(key, value)| current_tags.get(key) != Some(value));
    if missing_tags && !replace {
        if !options.dry_run {
            let list: Vec<Tag> = tags
                .iter()
                .map(|(key, value)| Tag::builder().key(key).value(value).build())
                .collect();
            aws.sfn
                .tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(list))
                .send()
                .await
                .map_err(|error| aws::failed("states:TagResource", error))?;
        }
        differences.push("tags".into());
    }
    let action = if differences.is_empty() {
        Action::Unchanged
    } else {
        Action::Update(differences)
    };
    changes.push(Change::new("state-machine", name.clone(), action));
    Ok(outcome(name, arn, changes))
}

fn outcome(name: String, arn: String, changes: Vec<Change>) -> Outcome {
    Outcome {
        name,
        arn,
        changes,
        url: None,
        version: None,
        notes: Vec::new(),
    }
}

/// The tags of the resource `arn`.
pub(super) async fn current_tags(
    aws: &Aws,
    arn: &str,
) -> Result<BTreeMap<String, String>, CliError> {
    let listed = aws
        .sfn
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|error| aws::failed("states:ListTagsForResource", error))?;
    Ok(listed
        .tags()
        .iter()
        .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
        .collect())
}

fn check_ours(
    machine: &StateMachine,
    tags: &BTreeMap<String, String>,
    adopt: bool,
) -> Result<(), CliError> {
    let name = &machine.settings.name;
    let stage = tags.get(TAG_STAGE).map(String::as_str);
    match (
        tags.get(TAG_PACKAGE).map(String::as_str),
        tags.get(TAG_STATE_MACHINE).map(String::as_str),
    ) {
        (Some(package), Some(declared))
            if package == machine.package
                && declared == name
                && stage == machine.stage.as_deref() =>
        {
            Ok(())
        }
        (Some(package), Some(_)) => Err(CliError::Conflict {
            resource: format!("the state machine `{name}`"),
            problem: format!("was deployed from the package `{package}`"),
            hint: format!("give one of them another `name` in `{}`", machine.key),
        }),
        _ if adopt => Ok(()),
        _ => Err(CliError::Conflict {
            resource: format!("the state machine `{name}`"),
            problem: "exists on AWS, and lambdakit did not create it".into(),
            hint: "pass `--adopt` to take it over, or give yours another `name`".into(),
        }),
    }
}

/// Whether Step Functions said "not yet": a new role it cannot assume yet (IAM is eventually
/// consistent), or a throttle.
fn not_yet<E, R>(error: &aws_sdk_sfn::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_sfn::error::ProvideErrorMetadata,
{
    match error {
        aws_sdk_sfn::error::SdkError::ServiceError(service) => {
            let error = service.err();
            match error.code() {
                Some("ThrottlingException") => true,
                // "Neither the global service principal states.amazonaws.com, nor the
                // regional one is authorized to assume the provided role."
                Some("AccessDeniedException") => error
                    .message()
                    .is_some_and(|message| message.contains("assume")),
                _ => false,
            }
        }
        _ => false,
    }
}

async fn create(
    aws: &Aws,
    name: &str,
    desired: &Desired,
    tags: &BTreeMap<String, String>,
) -> Result<(), CliError> {
    let list: Vec<Tag> = tags
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect();
    let machine_type = match desired.machine_type.as_str() {
        "EXPRESS" => StateMachineType::Express,
        _ => StateMachineType::Standard,
    };
    retry(
        RETRY_LIMIT,
        || {
            aws.sfn
                .create_state_machine()
                .name(name)
                .definition(desired.definition.to_string())
                .role_arn(&desired.role)
                .r#type(machine_type.clone())
                .logging_configuration(desired.logging())
                .tracing_configuration(desired.tracing())
                .set_tags(Some(list.clone()))
                .send()
        },
        not_yet,
    )
    .await
    .map_err(|error| aws::failed("states:CreateStateMachine", error))?;
    Ok(())
}

async fn update(aws: &Aws, arn: &str, desired: &Desired) -> Result<(), CliError> {
    retry(
        RETRY_LIMIT,
        || {
            aws.sfn
                .update_state_machine()
                .state_machine_arn(arn)
                .definition(desired.definition.to_string())
                .role_arn(&desired.role)
                .logging_configuration(desired.logging())
                .tracing_configuration(desired.tracing())
                .send()
        },
        not_yet,
    )
    .await
    .map_err(|error| aws::failed("states:UpdateStateMachine", error))?;
    Ok(())
}

/// Makes sure the log group `group` exists, creating it (with the machine's tags) if not.
async fn ensure_log_group(
    aws: &Aws,
    machine: &StateMachine,
    group: &str,
    options: Options,
) -> Result<Change, CliError> {
    let found = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(group)
        .send()
        .await
        .map_err(|error| aws::failed("logs:DescribeLogGroups", error))?;
    let exists = found
        .log_groups()
        .iter()
        .any(|found| found.log_group_name() == Some(group));
    if exists {
        return Ok(Change::new("log-group", group, Action::Unchanged));
    }
    if !options.dry_run {
        aws.logs
            .create_log_group()
            .log_group_name(group)
            .set_tags(Some(tags(machine).into_iter().collect()))
            .send()
            .await
            .map_err(|error| aws::failed("logs:CreateLogGroup", error))?;
    }
    Ok(Change::new("log-group", group, Action::Create))
}

/// The state machines deployed from `packages`: their name and ARN, and the package and the
/// `name` setting their tags give.
///
/// # Errors
///
/// When AWS refuses to list them or their tags.
pub(super) async fn deployed(
    aws: &Aws,
    packages: &[String],
    stage: Option<&str>,
) -> Result<Vec<(String, String, String, String)>, CliError> {
    let mut found = Vec::new();
    let mut pages = aws
        .sfn
        .list_state_machines()
        .into_paginator()
        .items()
        .send();
    while let Some(machine) = pages.next().await {
        let machine = machine.map_err(|error| aws::failed("states:ListStateMachines", error))?;
        let tags = current_tags(aws, machine.state_machine_arn()).await?;
        let (Some(package), Some(declared)) = (tags.get(TAG_PACKAGE), tags.get(TAG_STATE_MACHINE))
        else {
            continue;
        };
        if packages.contains(package) && tags.get(TAG_STAGE).map(String::as_str) == stage {
            found.push((
                machine.name().to_owned(),
                machine.state_machine_arn().to_owned(),
                package.clone(),
                declared.clone(),
            ));
        }
    }
    found.sort();
    Ok(found)
}

/// Deletes the state machine `arn`.
///
/// # Errors
///
/// When Step Functions refuses.
pub async fn delete(aws: &Aws, arn: &str) -> Result<(), CliError> {
    aws.sfn
        .delete_state_machine()
        .state_machine_arn(arn)
        .send()
        .await
        .map_err(|error| aws::failed("states:DeleteStateMachine", error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::settings::{MachineLogging, MachineType, StateMachineSettings};

    fn machine(level: ExecutionLogLevel, tracing: bool) -> StateMachine {
        StateMachine {
            package: "shop".into(),
            key: "package.metadata.lambdakit.state_machines[0]".into(),
            settings: StateMachineSettings {
                name: "orders".into(),
                definition: "orders.json".into(),
                machine_type: MachineType::Standard,
                logging: MachineLogging {
                    level,
                    include_execution_data: false,
                    log_group: None,
                },
                tracing,
                tags: BTreeMap::from([("team".into(), "shop".into())]),
            },
            file: "orders.json".into(),
            definition: json!({"StartAt": "A", "States": {}}),
            references: Vec::new(),
            stage: None,
        }
    }

    #[test]
    fn the_role_may_invoke_what_the_definition_names_and_log_and_trace_when_asked() {
        let invoked = vec!["arn:aws:lambda:eu-west-1:1:function:load".to_owned()];
        assert_eq!(policy(&machine(ExecutionLogLevel::Off, false), &[]), None);
        let plain = policy(&machine(ExecutionLogLevel::Off, false), &invoked).unwrap();
        assert_eq!(
            plain["Statement"],
            json!([{
                "Sid": "InvokeFunctions",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": ["arn:aws:lambda:eu-west-1:1:function:load"],
            }])
        );
        let full = policy(&machine(ExecutionLogLevel::Error, true), &invoked).unwrap();
        let sids: Vec<&str> = full["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|statement| statement["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, ["InvokeFunctions", "LogDelivery", "XRay"]);
        assert_eq!(
            log_group(&machine(ExecutionLogLevel::All, false)),
            "/aws/vendedlogs/states/orders"
        );
        assert_eq!(role_name("orders"), "orders-states-lambdakit");
        let tags = tags(&machine(ExecutionLogLevel::Off, false));
        assert_eq!(
            tags.get(TAG_STATE_MACHINE).map(String::as_str),
            Some("orders")
        );
        assert_eq!(tags.get("team").map(String::as_str), Some("shop"));
    }

    #[test]
    fn differences_are_named() {
        let desired = Desired {
            definition: json!({"States": {"A": {"Type": "Pass", "End": true}}}),
            role: "arn:aws:iam::1:role/orders-states-lambdakit".into(),
            machine_type: "STANDARD".into(),
            level: "OFF".into(),
            include_execution_data: false,
            destinations: Vec::new(),
            tracing: false,
        };
        assert!(desired.differences(&desired.clone()).is_empty());
        let current = Desired {
            definition: json!({"States": {}}),
            machine_type: "EXPRESS".into(),
            level: "ALL".into(),
            tracing: true,
            ..desired.clone()
        };
        assert_eq!(
            desired.differences(&current),
            [
                "definition",
                "type EXPRESS → STANDARD (replaced: Step Functions cannot change it)",
                "logging ALL → OFF",
                "tracing on → off",
            ]
        );
    }
}
