//! How the function runs beyond its configuration: what becomes of its asynchronous
//! invocations (the event invoke config), what Lambda does with a recursive loop, and the log
//! group it writes to (created by deploy, with its retention and KMS key, rather than left to
//! Lambda to create unencrypted and kept forever).

use aws_sdk_lambda::types::{DestinationConfig, OnFailure, OnSuccess, RecursiveLoop as Loop};

use super::settings::{AsyncSettings, RecursiveLoop, Word as _};
use super::{Action, Change, Options, Unit};
use crate::aws::{self, Aws};
use crate::error::CliError;

/// Lambda's defaults for what an event invoke config leaves out.
const DEFAULT_RETRIES: i32 = 2;
const DEFAULT_EVENT_AGE: i32 = 21_600;

/// An event invoke config, as compared.
#[derive(Debug, PartialEq)]
struct InvokeConfig {
    retries: i32,
    max_event_age: i32,
    on_success: Option<String>,
    on_failure: Option<String>,
}

impl InvokeConfig {
    fn wanted(settings: &AsyncSettings) -> Self {
        Self {
            retries: settings.retries.map_or(DEFAULT_RETRIES, |n| n as i32),
            max_event_age: settings
                .max_event_age
                .map_or(DEFAULT_EVENT_AGE, |n| n as i32),
            on_success: settings.on_success.clone(),
            on_failure: settings.on_failure.clone(),
        }
    }

    /// How `current` differs from this, in words.
    fn differences(&self, current: &Self) -> Vec<String> {
        let shown = |arn: &Option<String>| arn.clone().unwrap_or_else(|| "none".into());
        let mut differences = Vec::new();
        if current.retries != self.retries {
            differences.push(format!("retries {} → {}", current.retries, self.retries));
        }
        if current.max_event_age != self.max_event_age {
            differences.push(format!(
                "max event age {} s → {} s",
                current.max_event_age, self.max_event_age
            ));
        }
        if current.on_success != self.on_success {
            differences.push(format!(
                "on success {} → {}",
                shown(&current.on_success),
                shown(&self.on_success)
            ));
        }
        if current.on_failure != self.on_failure {
            differences.push(format!(
                "on failure {} → {}",
                shown(&current.on_failure),
                shown(&self.on_failure)
            ));
        }
        differences
    }
}

/// The event invoke config of the function as invoked (its alias, if it has one): put when
/// `async` asks for one, deleted when it no longer does.
pub(super) async fn invoke_config(
    aws: &Aws,
    unit: &Unit<'_>,
    options: Options,
) -> Result<Option<Change>, CliError> {
    let name = unit.function.aws_name();
    let qualifier = unit.function.deploy.alias.as_deref();
    let label = qualifier.map_or_else(|| name.to_owned(), |alias| format!("{name}:{alias}"));
    let wanted = unit
        .function
        .deploy
        .asynchronous
        .as_ref()
        .filter(|settings| settings.invoke_config());
    let found = match aws
        .lambda
        .get_function_event_invoke_config()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_owned))
        .send()
        .await
    {
        Ok(found) => {
            let destinations = found.destination_config();
            Some(InvokeConfig {
                retries: found.maximum_retry_attempts().unwrap_or(DEFAULT_RETRIES),
                max_event_age: found
                    .maximum_event_age_in_seconds()
                    .unwrap_or(DEFAULT_EVENT_AGE),
                on_success: destinations
                    .and_then(DestinationConfig::on_success)
                    .and_then(OnSuccess::destination)
                    .map(str::to_owned),
                on_failure: destinations
                    .and_then(DestinationConfig::on_failure)
                    .and_then(OnFailure::destination)
                    .map(str::to_owned),
            })
        }
        Err(error) if aws::not_found(&error) => None,
        Err(error) => return Err(aws::failed("lambda:GetFunctionEventInvokeConfig", error)),
    };
    let action = match (&found, wanted) {
        (None, None) => return Ok(None),
        (Some(_), None) => Action::Delete,
        (None, Some(_)) => Action::Create,
        (Some(found), Some(settings)) => {
            let differences = InvokeConfig::wanted(settings).differences(found);
            if differences.is_empty() {
                Action::Unchanged
            } else {
                Action::Update(differences)
            }
        }
    };
    if !options.dry_run {
        match (&action, wanted) {
            (Action::Delete, _) => {
                aws.lambda
                    .delete_function_event_invoke_config()
                    .function_name(name)
                    .set_qualifier(qualifier.map(str::to_owned))
                    .send()
                    .await
                    .map_err(|error| {
                        aws::failed("lambda:DeleteFunctionEventInvokeConfig", error)
                    })?;
            }
            (Action::Create | Action::Update(_), Some(settings)) => {
                let config = InvokeConfig::wanted(settings);
                // Put replaces the whole config: what is not given is Lambda's default.
                let destinations = DestinationConfig::builder()
                    .set_on_success(
                        config
                            .on_success
                            .map(|arn| OnSuccess::builder().destination(arn).build()),
                    )
                    .set_on_failure(
                        config
                            .on_failure
                            .map(|arn| OnFailure::builder().destination(arn).build()),
                    )
                    .build();
                aws.lambda
                    .put_function_event_invoke_config()
                    .function_name(name)
                    .set_qualifier(qualifier.map(str::to_owned))
                    .maximum_retry_attempts(config.retries)
                    .maximum_event_age_in_seconds(config.max_event_age)
                    .destination_config(destinations)
                    .send()
                    .await
                    .map_err(|error| aws::failed("lambda:PutFunctionEventInvokeConfig", error))?;
            }
            _ => {}
        }
    }
    Ok(Some(Change::new("async", label, action)))
}

/// The function's recursive loop setting, when `recursive_loop` names one (Lambda's default,
/// `Terminate`, stays as it is otherwise).
pub(super) async fn recursion(
    aws: &Aws,
    unit: &Unit<'_>,
    options: Options,
) -> Result<Option<Change>, CliError> {
    let Some(wanted) = unit.function.deploy.recursive_loop else {
        return Ok(None);
    };
    let name = unit.function.aws_name();
    let current = aws
        .lambda
        .get_function_recursion_config()
        .function_name(name)
        .send()
        .await
        .map_err(|error| aws::failed("lambda:GetFunctionRecursionConfig", error))?;
    let now = current
        .recursive_loop()
        .map_or(RecursiveLoop::default().as_str(), Loop::as_str);
    if now == wanted.as_str() {
        return Ok(Some(Change::new("recursion", name, Action::Unchanged)));
    }
    if !options.dry_run {
        aws.lambda
            .put_function_recursion_config()
            .function_name(name)
            .recursive_loop(Loop::from(wanted.as_str()))
            .send()
            .await
            .map_err(|error| aws::failed("lambda:PutFunctionRecursionConfig", error))?;
    }
    Ok(Some(Change::new(
        "recursion",
        name,
        Action::Update(vec![format!("recursive loop {now} → {}", wanted.as_str())]),
    )))
}

/// The function's log group, `/aws/lambda/<name>`, when `log_retention` or `log_kms_key` is
/// set: created (before the function, so that Lambda does not create it bare), its retention
/// and key converged. Without them the group is left to Lambda, as before.
pub(super) async fn log_group(
    aws: &Aws,
    unit: &Unit<'_>,
    options: Options,
) -> Result<Option<Change>, CliError> {
    let deploy = &unit.function.deploy;
    if deploy.log_retention.is_none() && deploy.log_kms_key.is_none() {
        return Ok(None);
    }
    let group = format!("/aws/lambda/{}", unit.function.aws_name());
    let found = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(&group)
        .send()
        .await
        .map_err(|error| aws::failed("logs:DescribeLogGroups", error))?
        .log_groups
        .unwrap_or_default()
        .into_iter()
        .find(|found| found.log_group_name() == Some(group.as_str()));
    let retention = deploy.log_retention.map(|days| days as i32);
    let key = deploy.log_kms_key.as_deref();
    let action = match &found {
        None => Action::Create,
        Some(found) => {
            let mut differences = Vec::new();
            let days = |days: Option<i32>| {
                days.map_or_else(|| "never expire".to_owned(), |days| format!("{days} days"))
            };
            if found.retention_in_days() != retention {
                differences.push(format!(
                    "retention {} → {}",
                    days(found.retention_in_days()),
                    days(retention)
                ));
            }
            if found.kms_key_id() != key {
                differences.push(format!(
                    "kms key {} → {}",
                    found.kms_key_id().unwrap_or("none"),
                    key.unwrap_or("none")
                ));
            }
            if differences.is_empty() {
                Action::Unchanged
            } else {
                Action::Update(differences)
            }
        }
    };
    if !options.dry_run && action != Action::Unchanged {
        let current_key = found.as_ref().and_then(|found| found.kms_key_id());
        let current_days = found.as_ref().and_then(|found| found.retention_in_days());
        if found.is_none() {
            aws.logs
                .create_log_group()
                .log_group_name(&group)
                .set_kms_key_id(key.map(str::to_owned))
                .send()
                .await
                .map_err(|error| aws::failed("logs:CreateLogGroup", error))?;
        } else if current_key != key {
            match key {
                Some(key) => aws
                    .logs
                    .associate_kms_key()
                    .log_group_name(&group)
                    .kms_key_id(key)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|error| aws::failed("logs:AssociateKmsKey", error))?,
                None => aws
                    .logs
                    .disassociate_kms_key()
                    .log_group_name(&group)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|error| aws::failed("logs:DisassociateKmsKey", error))?,
            }
        }
        if current_days != retention {
            match retention {
                Some(days) => aws
                    .logs
                    .put_retention_policy()
                    .log_group_name(&group)
                    .retention_in_days(days)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|error| aws::failed("logs:PutRetentionPolicy", error))?,
                None => aws
                    .logs
                    .delete_retention_policy()
                    .log_group_name(&group)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|error| aws::failed("logs:DeleteRetentionPolicy", error))?,
            }
        }
    }
    Ok(Some(Change::new("log group", group, action)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::function::tests::aws;
    use crate::package::zip::Archive;
    use crate::project::Function;

    #[tokio::test]
    async fn a_recursive_loop_setting_is_put_when_it_differs_and_left_alone_when_unset() {
        // moto has no recursion config: a fake Lambda API answers.
        let (aws, seen) = aws(|method, path| match (method, path) {
            ("GET", "/2024-08-31/functions/f/recursion-config") => {
                (200, None, r#"{"RecursiveLoop":"Terminate"}"#)
            }
            ("PUT", "/2024-08-31/functions/f/recursion-config") => {
                (200, None, r#"{"RecursiveLoop":"Allow"}"#)
            }
            _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
        })
        .await;
        let mut function = Function::standalone("f");
        let code = Archive {
            bytes: Vec::new(),
            unzipped: 0,
        };
        let unset = recursion(
            &aws,
            &Unit {
                function: &function,
                code: &code,
            },
            Options::default(),
        )
        .await
        .unwrap();
        assert_eq!(unset, None);
        function.deploy.recursive_loop = Some(RecursiveLoop::Allow);
        let unit = Unit {
            function: &function,
            code: &code,
        };
        let change = recursion(&aws, &unit, Options::default()).await.unwrap();
        assert_eq!(
            change.map(|change| change.action),
            Some(Action::Update(vec![
                "recursive loop Terminate → Allow".into()
            ]))
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "GET /2024-08-31/functions/f/recursion-config",
                r#"PUT /2024-08-31/functions/f/recursion-config {"RecursiveLoop":"Allow"}"#,
            ]
        );
    }

    #[test]
    fn an_event_invoke_config_compares_with_lambdas_defaults_filled_in() {
        let settings = AsyncSettings {
            retries: Some(0),
            on_failure: Some("arn:aws:sqs:eu-west-1:123456789012:failed".into()),
            ..AsyncSettings::default()
        };
        let wanted = InvokeConfig::wanted(&settings);
        let current = InvokeConfig {
            retries: 2,
            max_event_age: 21_600,
            on_success: None,
            on_failure: None,
        };
        assert_eq!(
            wanted.differences(&current),
            [
                "retries 2 → 0",
                "on failure none → arn:aws:sqs:eu-west-1:123456789012:failed"
            ]
        );
        assert!(
            wanted
                .differences(&InvokeConfig::wanted(&settings))
                .is_empty()
        );
    }
}
