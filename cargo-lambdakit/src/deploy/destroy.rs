//! Removing what deploy created for a package: found by the `lambdakit:` tags on functions,
//! then, for each, its triggers (mappings, notifications marked `lambdakit-`, schedule rules,
//! subscriptions, Firehose processors), URL, the function, and the role deploy created for it;
//! and the layer versions deploy published for the package's extensions, found by the marker
//! in their descriptions; and the package's state machines and the roles deploy created for them,
//! found by their `lambdakit:` tags; and the capacity providers deploy created for the
//! package's functions (Lambda Managed Instances) with their operator roles. Nothing else.

use super::state_machine::{self, TAG_STATE_MACHINE};
use super::{
    Action, Change, Options, Outcome, TAG_FUNCTION, TAG_PACKAGE, TAG_STAGE, extension, triggers,
};
use crate::aws::{self, Aws};
use crate::error::CliError;

/// The functions deployed from `packages` (only the binaries in `only`, when given) as the
/// stage `stage` (without one: those deployed without a stage): their name, ARN, package and
/// binary.
pub async fn deployed(
    aws: &Aws,
    packages: &[String],
    only: Option<&[String]>,
    stage: Option<&str>,
) -> Result<Vec<(String, String, String, String)>, CliError> {
    let mut found = Vec::new();
    let mut pages = aws.lambda.list_functions().into_paginator().items().send();
    while let Some(function) = pages.next().await {
        let function = function.map_err(|error| aws::failed("lambda:ListFunctions", error))?;
        let (Some(name), Some(arn)) = (function.function_name(), function.function_arn()) else {
            continue;
        };
        let tags = aws
            .lambda
            .list_tags()
            .resource(arn)
            .send()
            .await
            .map_err(|error| aws::failed("lambda:ListTags", error))?
            .tags
            .unwrap_or_default();
        let (Some(package), Some(binary)) = (tags.get(TAG_PACKAGE), tags.get(TAG_FUNCTION)) else {
            continue;
        };
        let selected = only.is_none_or(|only| only.contains(binary))
            && tags.get(TAG_STAGE).map(String::as_str) == stage;
        if packages.contains(package) && selected {
            found.push((
                name.to_owned(),
                arn.to_owned(),
                package.clone(),
                binary.clone(),
            ));
        }
    }
    found.sort();
    Ok(found)
}

/// Removes one deployed function and what deploy created for it (with `dry_run`, only says
/// what it would remove).
///
/// # Errors
///
/// When AWS refuses a call; what was removed stays removed, and destroying again goes on.
pub async fn destroy(
    aws: &Aws,
    (name, arn, package, binary): &(String, String, String, String),
    stage: Option<&str>,
    options: Options,
) -> Result<Outcome, CliError> {
    let mut changes = Vec::new();
    let configuration = aws
        .lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .map_err(|error| aws::failed("lambda:GetFunctionConfiguration", error))?;

    if aws.local.is_none() {
        triggers_removed(aws, name, arn, options, &mut changes).await?;
    }

    let url = aws
        .lambda
        .get_function_url_config()
        .function_name(name)
        .send()
        .await;
    match url {
        Ok(_) => {
            if !options.dry_run {
                aws.lambda
                    .delete_function_url_config()
                    .function_name(name)
                    .send()
                    .await
                    .map_err(|error| aws::failed("lambda:DeleteFunctionUrlConfig", error))?;
            }
            changes.push(Change::new("url", name.clone(), Action::Delete));
        }
        Err(error) if aws::not_found(&error) => {}
        Err(error) => return Err(aws::failed("lambda:GetFunctionUrlConfig", error)),
    }

    if !options.dry_run {
        aws.lambda
            .delete_function()
            .function_name(name)
            .send()
            .await
            .map_err(|error| aws::failed("lambda:DeleteFunction", error))?;
    }
    changes.push(Change::new("function", name.clone(), Action::Delete));

    let role = configuration
        .role()
        .and_then(|role| role.rsplit('/').next())
        .unwrap_or_default();
    // serve (`--local`) has no IAM: deploy created no role there.
    if aws.local.is_none() && role_is_ours(aws, role, package, binary, stage).await? {
        if !options.dry_run {
            delete_role(aws, role).await?;
        }
        changes.push(Change::new("role", role, Action::Delete));
    }
    Ok(Outcome {
        name: name.clone(),
        arn: arn.clone(),
        changes,
        url: None,
        version: None,
        notes: Vec::new(),
    })
}

/// Removes the layer versions deploy published for the extensions of `packages` (with
/// `dry_run`, only says what it would remove): an outcome for each layer.
///
/// # Errors
///
/// When AWS refuses a call; what was removed stays removed, and destroying again goes on.
pub async fn layers(
    aws: &Aws,
    packages: &[String],
    options: Options,
) -> Result<Vec<Outcome>, CliError> {
    let versions = extension::published(aws, packages).await?;
    let mut outcomes = Vec::new();
    for layer in versions.chunk_by(|one, other| one.layer == other.layer) {
        outcomes.extend(extension::delete(aws, layer, options).await?);
    }
    Ok(outcomes)
}

/// Removes the capacity providers deploy created for `functions` of their packages, and
/// their operator roles (with `dry_run`, only says what it would remove): an outcome for each.
///
/// # Errors
///
/// When AWS refuses a call; what was removed stays removed, and destroying again goes on.
pub async fn capacity_providers(
    aws: &Aws,
    functions: &[&crate::project::Function],
    options: Options,
) -> Result<Vec<Outcome>, CliError> {
    // serve (`--local`) has no capacity providers: deploy created none there.
    if aws.local.is_some() {
        return Ok(Vec::new());
    }
    let mut outcomes = Vec::new();
    for owned in super::capacity::owned(functions) {
        outcomes.extend(super::capacity::remove(aws, &owned, options).await?);
    }
    Ok(outcomes)
}

/// Removes the state machines deployed from `packages` as the stage `stage` (or without one)
/// and the roles deploy created for them (with `dry_run`, only says what it would remove): an
/// outcome for each machine.
///
/// # Errors
///
/// When AWS refuses a call; what was removed stays removed, and destroying again goes on.
pub async fn state_machines(
    aws: &Aws,
    packages: &[String],
    stage: Option<&str>,
    options: Options,
) -> Result<Vec<Outcome>, CliError> {
    let mut outcomes = Vec::new();
    for (name, arn, package, declared) in state_machine::deployed(aws, packages, stage).await? {
        let described = aws
            .sfn
            .describe_state_machine()
            .state_machine_arn(&arn)
            .send()
            .await
            .map_err(|error| aws::failed("states:DescribeStateMachine", error))?;
        let role = described
            .role_arn()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !options.dry_run {
            state_machine::delete(aws, &arn).await?;
        }
        let mut changes = vec![Change::new("state-machine", name.clone(), Action::Delete)];
        let tags = [
            (TAG_PACKAGE, package.as_str()),
            (TAG_STATE_MACHINE, declared.as_str()),
        ];
        // serve (`--local`) has no IAM: deploy created no role there.
        if aws.local.is_none() && role_tagged(aws, &role, &tags, stage).await? {
            if !options.dry_run {
                delete_role(aws, &role).await?;
            }
            changes.push(Change::new("role", role, Action::Delete));
        }
        outcomes.push(Outcome {
            name,
            arn,
            changes,
            url: None,
            version: None,
            notes: Vec::new(),
        });
    }
    Ok(outcomes)
}

/// Deletes the HTTP APIs deployed from `packages` as `stage`, and the permissions they had on
/// the packages' functions (`functions`: each one's package and AWS name).
///
/// # Errors
///
/// When AWS refuses a call.
pub async fn apis(
    aws: &Aws,
    packages: &[String],
    functions: &[(String, String)],
    stage: Option<&str>,
    options: Options,
) -> Result<Vec<Outcome>, CliError> {
    let mut outcomes = Vec::new();
    for (id, name, package) in super::api::deployed(aws, packages, stage).await? {
        let own: Vec<String> = functions
            .iter()
            .filter(|(of, _)| *of == package)
            .map(|(_, function)| function.clone())
            .collect();
        if !options.dry_run {
            super::api::delete(aws, &id, &own).await?;
        }
        outcomes.push(Outcome {
            name: name.clone(),
            arn: super::api::resource_arn(aws, &id),
            changes: vec![Change::new("http-api", name, Action::Delete)],
            url: None,
            version: None,
            notes: Vec::new(),
        });
    }
    Ok(outcomes)
}

/// Removes the function's triggers: its event source mappings, the S3 notifications, SNS
/// subscriptions, log subscription filters, SES receipt rules, IoT topic rules and Cognito user pools its
/// resource policy names, its Lambda processors on the delivery streams its `lambdakit:firehose` tag
/// names, and its schedule rules.
async fn triggers_removed(
    aws: &Aws,
    name: &str,
    arn: &str,
    options: Options,
    changes: &mut Vec<Change>,
) -> Result<(), CliError> {
    let mut mappings = aws
        .lambda
        .list_event_source_mappings()
        .function_name(name)
        .into_paginator()
        .items()
        .send();
    while let Some(mapping) = mappings.next().await {
        let mapping =
            mapping.map_err(|error| aws::failed("lambda:ListEventSourceMappings", error))?;
        if !options.dry_run {
            triggers::delete_mapping(aws, mapping.uuid().unwrap_or_default()).await?;
        }
        changes.push(Change::new(
            "trigger",
            triggers::described(&mapping),
            Action::Delete,
        ));
    }

    for statement in triggers::statements(aws, name, None).await? {
        let Some(source) = statement.source_arn else {
            continue;
        };
        if statement.sid.starts_with("lambdakit-s3-") {
            let bucket = source.rsplit(':').next().unwrap_or_default();
            if !options.dry_run {
                triggers::remove_notifications(aws, bucket, name, arn).await?;
            }
            changes.push(Change::new(
                "trigger",
                format!("s3 {bucket}"),
                Action::Delete,
            ));
        } else if statement.sid.starts_with("lambdakit-logs-") {
            let Some(group) = triggers::log_group_of(&source) else {
                continue;
            };
            if !options.dry_run {
                triggers::remove_filter(aws, group, name).await?;
            }
            changes.push(Change::new(
                "trigger",
                format!("logs {group}"),
                Action::Delete,
            ));
        } else if statement.sid.starts_with("lambdakit-ses-") {
            let Some((rule_set, rule)) = triggers::receipt_rule_of(&source) else {
                continue;
            };
            if !options.dry_run {
                triggers::remove_receipt_rule(aws, rule_set, rule).await?;
            }
            changes.push(Change::new(
                "trigger",
                format!("ses {rule_set}"),
                Action::Delete,
            ));
        } else if statement.sid.starts_with("lambdakit-iot-") {
            let Some(rule) = triggers::topic_rule_of(&source) else {
                continue;
            };
            if !options.dry_run {
                triggers::remove_topic_rule(aws, rule).await?;
            }
            changes.push(Change::new(
                "trigger",
                format!("iot {rule}"),
                Action::Delete,
            ));
        } else if statement.sid.starts_with("lambdakit-cognito-") {
            let Some(pool) = triggers::user_pool_of(&source) else {
                continue;
            };
            if !options.dry_run {
                triggers::remove_from_pool(aws, pool, arn).await?;
            }
            changes.push(Change::new(
                "trigger",
                format!("cognito {pool}"),
                Action::Delete,
            ));
        } else if statement.sid.starts_with("lambdakit-sns-") {
            if !options.dry_run {
                let subscriptions = triggers::subscriptions(aws, &source, arn).await?;
                triggers::unsubscribe(aws, &subscriptions).await?;
            }
            changes.push(Change::new(
                "trigger",
                format!("sns {source}"),
                Action::Delete,
            ));
        }
    }

    for stream in triggers::firehose_streams(aws, arn).await? {
        if triggers::remove_processor(aws, &stream, arn, options).await? {
            changes.push(Change::new(
                "trigger",
                format!("firehose {stream}"),
                Action::Delete,
            ));
        }
    }

    for rule in &triggers::rules_named_for(aws, name).await? {
        let Some(rule_name) = rule.name() else {
            continue;
        };
        if triggers::remove_rule(aws, name, rule_name, arn, options).await? {
            let label = rule.schedule_expression().unwrap_or(rule_name);
            changes.push(Change::new(
                "trigger",
                format!("schedule {label}"),
                Action::Delete,
            ));
        }
    }
    Ok(())
}

async fn role_is_ours(
    aws: &Aws,
    role: &str,
    package: &str,
    binary: &str,
    stage: Option<&str>,
) -> Result<bool, CliError> {
    let tags = [(TAG_PACKAGE, package), (TAG_FUNCTION, binary)];
    role_tagged(aws, role, &tags, stage).await
}

/// Whether the role `role` exists and carries every tag of `tags`, and the stage `stage`
/// (none when `None`).
pub(super) async fn role_tagged(
    aws: &Aws,
    role: &str,
    tags: &[(&str, &str)],
    stage: Option<&str>,
) -> Result<bool, CliError> {
    if role.is_empty() {
        return Ok(false);
    }
    let found = match aws.iam.get_role().role_name(role).send().await {
        Ok(found) => found.role,
        Err(error) if aws::not_found(&error) => return Ok(false),
        Err(error) => return Err(aws::failed("iam:GetRole", error)),
    };
    Ok(found.is_some_and(|found| super::role::tagged(found.tags(), tags, stage)))
}

pub(super) async fn delete_role(aws: &Aws, role: &str) -> Result<(), CliError> {
    let inline = aws
        .iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|error| aws::failed("iam:ListRolePolicies", error))?;
    for policy in inline.policy_names() {
        aws.iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
            .await
            .map_err(|error| aws::failed("iam:DeleteRolePolicy", error))?;
    }
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|error| aws::failed("iam:ListAttachedRolePolicies", error))?;
    for policy in attached.attached_policies() {
        aws.iam
            .detach_role_policy()
            .role_name(role)
            .set_policy_arn(policy.policy_arn().map(str::to_owned))
            .send()
            .await
            .map_err(|error| aws::failed("iam:DetachRolePolicy", error))?;
    }
    aws.iam
        .delete_role()
        .role_name(role)
        .send()
        .await
        .map_err(|error| aws::failed("iam:DeleteRole", error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn destroy_removes_kafka_mappings_with_the_others() {
        let (aws, seen) = super::super::function::tests::aws(|method, path| match (method, path) {
            ("GET", "/2015-03-31/event-source-mappings") => (
                200,
                None,
                r#"{"EventSourceMappings":[
                    {"UUID":"m-1","EventSourceArn":"arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b1c-1","Topics":["orders"]},
                    {"UUID":"m-2","SelfManagedEventSource":{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["b-2.example.com:9092","b-1.example.com:9092"]}},"Topics":["clicks"]},
                    {"UUID":"m-3","EventSourceArn":"arn:aws:sqs:eu-west-1:123456789012:jobs"}
                ]}"#,
            ),
            ("DELETE", _) => (202, None, r#"{"State":"Deleting"}"#),
            // EventBridge's ListRules: no schedule.
            ("POST", "/") => (200, None, "{}"),
            _ => (
                404,
                Some("ResourceNotFoundException"),
                r#"{"message":"not found"}"#,
            ),
        })
        .await;
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:intake";
        let mut changes = Vec::new();
        triggers_removed(&aws, "intake", arn, Options::default(), &mut changes)
            .await
            .unwrap();
        assert_eq!(
            changes,
            [
                Change::new(
                    "trigger",
                    "mapping arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b1c-1 topic orders",
                    Action::Delete
                ),
                Change::new(
                    "trigger",
                    "mapping b-1.example.com:9092,b-2.example.com:9092 topic clicks",
                    Action::Delete
                ),
                Change::new(
                    "trigger",
                    "mapping arn:aws:sqs:eu-west-1:123456789012:jobs",
                    Action::Delete
                ),
            ]
        );
        let seen = seen.lock().unwrap();
        for uuid in ["m-1", "m-2", "m-3"] {
            assert!(
                seen.contains(&format!("DELETE /2015-03-31/event-source-mappings/{uuid}")),
                "{seen:#?}"
            );
        }
    }
}
