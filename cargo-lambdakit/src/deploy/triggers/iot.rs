//! IoT Core topic rules (`triggers.iot`): one per trigger, named `lambdakit_<function>_<n>`
//! (rule names take only letters, digits and `_`), with the trigger's SQL and the function as
//! its one action, and the permission for `iot.amazonaws.com` naming the rule. IoT is called
//! through [`crate::aws::signed`] (REST, JSON bodies).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Action, Change, Options, Statement, Unit, permit, sid};
use crate::aws::Aws;
use crate::aws::signed::{Api, Failure, Rest};
use crate::error::CliError;

/// The SQL version deploy writes rules in (IoT's newest, "AWS IoT SQL versions").
const SQL_VERSION: &str = "2016-03-23";

/// The SQL version of a rule that names none.
const DEFAULT_SQL_VERSION: &str = "2015-10-08";

/// A topic rule as GetTopicRule describes it (the parts deploy compares).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TopicRule {
    sql: String,
    aws_iot_sql_version: Option<String>,
    #[serde(default)]
    actions: Vec<Value>,
    #[serde(default)]
    rule_disabled: bool,
}

/// The prefix of the topic rules deploy makes for `function`.
fn rule_prefix(function: &str) -> String {
    format!("lambdakit_{}_", function.replace('-', "_"))
}

/// The topic rule deploy makes for the `index`th IoT trigger of `function` (at most 10 + 64
/// + 1 + a few digits: within IoT's 128 characters).
pub(in crate::deploy) fn rule_name(function: &str, index: usize) -> String {
    format!("{}{index}", rule_prefix(function))
}

/// The ARN a topic rule's invoke permission names.
fn rule_arn(aws: &Aws, rule: &str) -> String {
    aws.arn("iot", &format!("rule/{rule}"))
}

/// The topic rule a permission's source ARN names.
pub(in crate::deploy) fn topic_rule_of(arn: &str) -> Option<&str> {
    arn.split_once(":rule/").map(|(_, rule)| rule)
}

/// Whether IoT says the rule is not there: a rule that does not exist is answered as one the
/// caller may not see.
fn absent(failure: &Failure) -> bool {
    matches!(
        failure.code(),
        Some("ResourceNotFoundException" | "UnauthorizedException")
    )
}

/// The topic rule `rule`; `Ok(None)` when there is none.
async fn topic_rule(aws: &Aws, rule: &str) -> Result<Option<TopicRule>, CliError> {
    let request = Rest {
        method: http::Method::GET,
        path: &format!("/rules/{rule}"),
        body: None,
    };
    match aws.signed.rest(Api::Iot, request).await {
        Ok(mut found) => serde_json::from_value(found["rule"].take())
            .map(Some)
            .map_err(|error| CliError::Aws {
                operation: "iot:GetTopicRule".into(),
                code: None,
                message: format!("the rule `{rule}` is described in an unknown shape: {error}"),
            }),
        Err(failure) if absent(&failure) => Ok(None),
        Err(failure) => Err(failure.into_error("iot:GetTopicRule")),
    }
}

/// Deletes the topic rule `rule`, if it is there.
pub(in crate::deploy) async fn remove_topic_rule(aws: &Aws, rule: &str) -> Result<(), CliError> {
    let request = Rest {
        method: http::Method::DELETE,
        path: &format!("/rules/{rule}"),
        body: None,
    };
    match aws.signed.rest(Api::Iot, request).await {
        Ok(_) => Ok(()),
        Err(failure) if absent(&failure) => Ok(()),
        Err(failure) => Err(failure.into_error("iot:DeleteTopicRule")),
    }
}

/// The function ARN of a rule's action, if it is a Lambda action.
fn lambda_target(action: &Value) -> Option<&str> {
    action.get("lambda")?.get("functionArn")?.as_str()
}

/// How the topic rule `found` differs from what `sql` and the function ask for.
fn differences(found: &TopicRule, sql: &str, function_arn: &str) -> Vec<String> {
    let mut differences = Vec::new();
    if found.sql != sql {
        differences.push(format!("sql `{}` → `{sql}`", found.sql));
    }
    let version = found
        .aws_iot_sql_version
        .as_deref()
        .unwrap_or(DEFAULT_SQL_VERSION);
    if version != SQL_VERSION {
        differences.push(format!("sql version {version} → {SQL_VERSION}"));
    }
    let actions: Vec<&str> = found
        .actions
        .iter()
        .map(|action| lambda_target(action).unwrap_or("another action"))
        .collect();
    if actions != [function_arn] {
        differences.push(format!("actions {} → {function_arn}", actions.join(", ")));
    }
    if found.rule_disabled {
        differences.push("enabled → true".into());
    }
    differences
}

/// The rule's `TopicRulePayload`, as IoT's REST API spells it.
pub(in crate::deploy) fn payload(name: &str, sql: &str, function_arn: &str) -> Value {
    json!({
        "sql": sql,
        "awsIotSqlVersion": SQL_VERSION,
        "ruleDisabled": false,
        "description": format!("Sends messages to the Lambda function `{name}`, by cargo lambdakit"),
        "actions": [{"lambda": {"functionArn": function_arn}}],
    })
}

/// Converges the function's topic rules on its `triggers.iot`; rules its policy names beyond
/// the settings' count are deleted with their permissions.
pub(super) async fn ensure(
    aws: &Aws,
    unit: &Unit<'_>,
    function_arn: &str,
    statements: &[Statement],
    options: Options,
) -> Result<Vec<Change>, CliError> {
    let name = unit.function.aws_name();
    let wanted = &unit.function.deploy.triggers.iot;
    let mut changes = Vec::new();
    for (index, trigger) in wanted.iter().enumerate() {
        let rule = rule_name(name, index);
        let arn = rule_arn(aws, &rule);
        let action = match topic_rule(aws, &rule).await? {
            None => Action::Create,
            Some(found) => {
                let differences = differences(&found, &trigger.sql, function_arn);
                if differences.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update(differences)
                }
            }
        };
        if !options.dry_run {
            let sid = sid("iot", &arn);
            permit(aws, name, &sid, "iot.amazonaws.com", &arn, statements).await?;
            let body = payload(name, &trigger.sql, function_arn);
            let path = format!("/rules/{rule}");
            let (method, operation) = match action {
                Action::Create => (http::Method::POST, "iot:CreateTopicRule"),
                Action::Update(_) => (http::Method::PATCH, "iot:ReplaceTopicRule"),
                _ => (http::Method::GET, ""),
            };
            if !operation.is_empty() {
                let request = Rest {
                    method,
                    path: &path,
                    body: Some(&body),
                };
                aws.signed
                    .rest(Api::Iot, request)
                    .await
                    .map_err(|failure| failure.into_error(operation))?;
            }
        }
        changes.push(Change::new("trigger", format!("iot {rule}"), action));
    }
    // Rules of triggers no longer in the settings: their permissions name them.
    let prefix = rule_prefix(name);
    for statement in statements
        .iter()
        .filter(|statement| statement.sid.starts_with("lambdakit-iot-"))
    {
        let Some(rule) = statement.source_arn.as_deref().and_then(topic_rule_of) else {
            continue;
        };
        let index = rule
            .strip_prefix(&prefix)
            .and_then(|index| index.parse::<usize>().ok());
        if index.is_some_and(|index| index < wanted.len()) {
            continue;
        }
        if !options.dry_run {
            remove_topic_rule(aws, rule).await?;
            crate::deploy::function::remove_permission(aws, name, None, &statement.sid).await?;
        }
        changes.push(Change::new(
            "trigger",
            format!("iot {rule}"),
            Action::Delete,
        ));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:intake";

    fn rule(described: Value) -> TopicRule {
        serde_json::from_value(described).unwrap()
    }

    #[test]
    fn rule_names_keep_to_what_iot_allows() {
        assert_eq!(
            rule_name("device-telemetry", 2),
            "lambdakit_device_telemetry_2"
        );
        assert_eq!(
            topic_rule_of("arn:aws:iot:eu-west-1:123456789012:rule/lambdakit_intake_0"),
            Some("lambdakit_intake_0")
        );
    }

    #[test]
    fn a_rule_as_deploy_writes_it_has_no_differences_and_each_change_is_named() {
        let sql = "SELECT * FROM 'devices/+/telemetry'";
        let written = payload("intake", sql, FUNCTION);
        assert!(differences(&rule(written), sql, FUNCTION).is_empty());

        let other = rule(json!({
            "sql": "SELECT * FROM 'a'",
            "actions": [{"lambda": {"functionArn": FUNCTION}}, {"sns": {"targetArn": "x"}}],
            "ruleDisabled": true,
        }));
        assert_eq!(
            differences(&other, sql, FUNCTION),
            [
                format!("sql `SELECT * FROM 'a'` → `{sql}`"),
                "sql version 2015-10-08 → 2016-03-23".to_owned(),
                format!("actions {FUNCTION}, another action → {FUNCTION}"),
                "enabled → true".to_owned(),
            ]
        );
    }
}
