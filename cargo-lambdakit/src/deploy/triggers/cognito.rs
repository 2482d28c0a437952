//! Cognito user pool triggers (`triggers.cognito`): the function's ARN in the chosen keys of a
//! pool's `LambdaConfig`, and the permission for `cognito-idp.amazonaws.com` naming the pool.
//! Cognito is called through [`crate::aws::signed`] (AWS JSON 1.1).
//!
//! UpdateUserPool resets every setting its request leaves out to its default (AWS's API
//! reference says so), so the update carries the pool's settings as DescribeUserPool gave
//! them, with only `LambdaConfig` changed. A key that names another function is not taken
//! over: deploy stops and says whose it is.

use serde_json::{Map, Value, json};

use super::super::settings::{CognitoTrigger, PoolTrigger, TokenEventVersion, Word as _};
use super::{Action, Change, Options, Statement, Unit, permit, sid};
use crate::aws::Aws;
use crate::aws::signed::Api;
use crate::error::CliError;

/// The settings UpdateUserPool takes, as DescribeUserPool names them (`Name` is its
/// `PoolName`); `LambdaConfig` is set apart.
const KEPT: &[&str] = &[
    "Policies",
    "DeletionProtection",
    "AutoVerifiedAttributes",
    "SmsVerificationMessage",
    "EmailVerificationMessage",
    "EmailVerificationSubject",
    "VerificationMessageTemplate",
    "SmsAuthenticationMessage",
    "UserAttributeUpdateSettings",
    "MfaConfiguration",
    "DeviceConfiguration",
    "EmailConfiguration",
    "SmsConfiguration",
    "UserPoolTags",
    "AdminCreateUserConfig",
    "UserPoolAddOns",
    "AccountRecoverySetting",
    "UserPoolTier",
];

/// The key of the pre token generation trigger with its event version.
const TOKEN_CONFIG: &str = "PreTokenGenerationConfig";

/// The ARN of the user pool `id`, which its invoke permission names.
fn pool_arn(aws: &Aws, id: &str) -> String {
    aws.arn("cognito-idp", &format!("userpool/{id}"))
}

/// The user pool a permission's source ARN names.
pub(in crate::deploy) fn user_pool_of(arn: &str) -> Option<&str> {
    arn.split_once(":userpool/").map(|(_, id)| id)
}

/// The user pool `id` as DescribeUserPool describes it; `None` when there is none.
async fn describe(aws: &Aws, id: &str) -> Result<Option<Map<String, Value>>, CliError> {
    let request = json!({ "UserPoolId": id });
    match aws
        .signed
        .json(Api::CognitoUserPools, "DescribeUserPool", &request)
        .await
    {
        Ok(mut described) => match described["UserPool"].take() {
            Value::Object(pool) => Ok(Some(pool)),
            _ => Ok(None),
        },
        Err(failure) if failure.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(failure) => Err(failure.into_error("cognito-idp:DescribeUserPool")),
    }
}

/// Writes `lambda_config` to the pool `pool` (as described), keeping its other settings.
async fn update(
    aws: &Aws,
    id: &str,
    pool: &Map<String, Value>,
    lambda_config: Map<String, Value>,
) -> Result<(), CliError> {
    let mut request = Map::new();
    request.insert("UserPoolId".into(), id.into());
    for key in KEPT {
        if let Some(value) = pool.get(*key) {
            request.insert((*key).into(), value.clone());
        }
    }
    if let Some(name) = pool.get("Name") {
        request.insert("PoolName".into(), name.clone());
    }
    // Described beside the password policy's `TemporaryPasswordValidityDays`, which replaced
    // it; Cognito refuses an update that sets both.
    let temporary = &request
        .get("Policies")
        .and_then(|policies| policies.get("PasswordPolicy"))
        .and_then(|policy| policy.get("TemporaryPasswordValidityDays"));
    if temporary.is_some()
        && let Some(Value::Object(admin)) = request.get_mut("AdminCreateUserConfig")
    {
        admin.remove("UnusedAccountValidityDays");
    }
    request.insert("LambdaConfig".into(), Value::Object(lambda_config));
    aws.signed
        .json(
            Api::CognitoUserPools,
            "UpdateUserPool",
            &Value::Object(request),
        )
        .await
        .map_err(|failure| failure.into_error("cognito-idp:UpdateUserPool"))?;
    Ok(())
}

/// The function a `LambdaConfig` key names, if it names one.
fn target(config: &Map<String, Value>, point: PoolTrigger) -> Option<&str> {
    if point == PoolTrigger::PreTokenGeneration
        && let Some(arn) = config
            .get(TOKEN_CONFIG)
            .and_then(|token| token.get("LambdaArn"))
            .and_then(Value::as_str)
    {
        return Some(arn);
    }
    config.get(point.key()).and_then(Value::as_str)
}

/// Whether two function ARNs name the same function, whatever version or alias they name.
fn same_function(one: &str, other: &str) -> bool {
    super::unqualified(one) == super::unqualified(other)
}

/// The pool's `LambdaConfig` with the function in `wanted` (none: taken out of every key),
/// the differences from `config` in words, or the error of a key another function holds.
fn converged(
    config: &Map<String, Value>,
    wanted: Option<&CognitoTrigger>,
    function_arn: &str,
    pool: &str,
) -> Result<(Map<String, Value>, Vec<String>), CliError> {
    let mut next = config.clone();
    let mut differences = Vec::new();
    for &point in PoolTrigger::ALL {
        let now = target(config, point);
        let asked = wanted.is_some_and(|wanted| wanted.triggers.contains(&point));
        let ours = now.is_some_and(|now| same_function(now, function_arn));
        let version = wanted.map_or(TokenEventVersion::V1, |wanted| wanted.token_version);
        let version_now = config
            .get(TOKEN_CONFIG)
            .and_then(|token| token.get("LambdaVersion"))
            .and_then(Value::as_str)
            .unwrap_or(TokenEventVersion::V1.as_str());
        if asked {
            if let Some(other) = now.filter(|_| !ours) {
                return Err(CliError::Config {
                    key: "triggers.cognito".into(),
                    problem: format!(
                        "the user pool `{pool}` calls another function, `{other}`, for `{}`; deploy does not take it over: remove it from the pool (`aws cognito-idp update-user-pool`) or drop `{}` from `triggers`",
                        point.as_str(),
                        point.as_str()
                    ),
                });
            }
            let token = point == PoolTrigger::PreTokenGeneration;
            if now != Some(function_arn) {
                differences.push(format!("{} → the function", point.as_str()));
            } else if token && version_now != version.as_str() {
                differences.push(format!(
                    "{} version {version_now} → {}",
                    point.as_str(),
                    version.as_str()
                ));
            }
            next.insert(point.key().into(), function_arn.into());
            if token {
                next.insert(
                    TOKEN_CONFIG.into(),
                    json!({"LambdaVersion": version.as_str(), "LambdaArn": function_arn}),
                );
            }
        } else if ours {
            differences.push(format!("{} removed", point.as_str()));
            next.remove(point.key());
            if point == PoolTrigger::PreTokenGeneration {
                next.remove(TOKEN_CONFIG);
            }
        }
    }
    Ok((next, differences))
}

/// Takes the function out of the pool `id`'s `LambdaConfig`, if the pool is there.
pub(in crate::deploy) async fn remove_from_pool(
    aws: &Aws,
    id: &str,
    function_arn: &str,
) -> Result<(), CliError> {
    let Some(pool) = describe(aws, id).await? else {
        return Ok(());
    };
    let config = lambda_config(&pool);
    let (next, differences) = converged(&config, None, function_arn, id)?;
    if !differences.is_empty() {
        update(aws, id, &pool, next).await?;
    }
    Ok(())
}

/// The pool's `LambdaConfig` (empty when it has none).
fn lambda_config(pool: &Map<String, Value>) -> Map<String, Value> {
    match pool.get("LambdaConfig") {
        Some(Value::Object(config)) => config.clone(),
        _ => Map::new(),
    }
}

/// Converges the pools of the function's `triggers.cognito`; pools its policy names that the
/// settings no longer do lose the function and the permission.
pub(super) async fn ensure(
    aws: &Aws,
    unit: &Unit<'_>,
    function_arn: &str,
    statements: &[Statement],
    options: Options,
) -> Result<Vec<Change>, CliError> {
    let name = unit.function.aws_name();
    let wanted = &unit.function.deploy.triggers.cognito;
    let mut changes = Vec::new();
    for trigger in wanted {
        let id = &trigger.user_pool;
        let region = id.split_once('_').map_or("", |(region, _)| region);
        if region != aws.region {
            return Err(CliError::Config {
                key: "triggers.cognito".into(),
                problem: format!(
                    "the user pool `{id}` is in {region}, and the function deploys to {}: Cognito calls functions of its own region; deploy to {region} (`--region {region}`) or name a pool of {}",
                    aws.region, aws.region
                ),
            });
        }
        let Some(pool) = describe(aws, id).await? else {
            return Err(CliError::Config {
                key: "triggers.cognito".into(),
                problem: format!(
                    "there is no user pool `{id}` in {} for this account; create it or correct `user_pool` (`aws cognito-idp list-user-pools --max-results 10` lists them)",
                    aws.region
                ),
            });
        };
        let config = lambda_config(&pool);
        let (next, differences) = converged(&config, Some(trigger), function_arn, id)?;
        let named_before = PoolTrigger::ALL.iter().any(|&point| {
            target(&config, point).is_some_and(|arn| same_function(arn, function_arn))
        });
        let action = if differences.is_empty() {
            Action::Unchanged
        } else if named_before {
            Action::Update(differences)
        } else {
            Action::Create
        };
        if !options.dry_run {
            let arn = pool_arn(aws, id);
            let sid = sid("cognito", &arn);
            permit(
                aws,
                name,
                &sid,
                "cognito-idp.amazonaws.com",
                &arn,
                statements,
            )
            .await?;
            if action != Action::Unchanged {
                update(aws, id, &pool, next).await?;
            }
        }
        changes.push(Change::new("trigger", format!("cognito {id}"), action));
    }
    for statement in statements
        .iter()
        .filter(|statement| statement.sid.starts_with("lambdakit-cognito-"))
    {
        let Some(id) = statement.source_arn.as_deref().and_then(user_pool_of) else {
            continue;
        };
        if wanted.iter().any(|trigger| trigger.user_pool == id) {
            continue;
        }
        if !options.dry_run {
            remove_from_pool(aws, id, function_arn).await?;
            crate::deploy::function::remove_permission(aws, name, None, &statement.sid).await?;
        }
        changes.push(Change::new(
            "trigger",
            format!("cognito {id}"),
            Action::Delete,
        ));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "arn:aws:lambda:eu-west-1:123456789012:function:intake";
    const OTHER: &str = "arn:aws:lambda:eu-west-1:123456789012:function:other";

    fn config(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn wanted(triggers: &[PoolTrigger], token_version: TokenEventVersion) -> CognitoTrigger {
        CognitoTrigger {
            user_pool: "eu-west-1_a".into(),
            triggers: triggers.to_vec(),
            token_version,
        }
    }

    #[test]
    fn the_function_takes_the_keys_asked_keeps_the_others_and_leaves_those_taken_out() {
        let now =
            config(json!({"PostConfirmation": OURS, "CustomSMSSender": {"LambdaArn": OTHER}}));
        let asked = wanted(
            &[PoolTrigger::PreSignUp, PoolTrigger::PreTokenGeneration],
            TokenEventVersion::V2,
        );
        let (next, differences) = converged(&now, Some(&asked), OURS, "eu-west-1_a").unwrap();
        assert_eq!(
            Value::Object(next),
            json!({
                "PreSignUp": OURS,
                "PreTokenGeneration": OURS,
                "PreTokenGenerationConfig": {"LambdaVersion": "V2_0", "LambdaArn": OURS},
                "CustomSMSSender": {"LambdaArn": OTHER},
            })
        );
        assert_eq!(
            differences,
            [
                "pre-sign-up → the function",
                "post-confirmation removed",
                "pre-token-generation → the function",
            ]
        );

        let (_, differences) = converged(
            &config(json!({
                "PreTokenGeneration": OURS,
                "PreTokenGenerationConfig": {"LambdaVersion": "V1_0", "LambdaArn": OURS},
            })),
            Some(&wanted(
                &[PoolTrigger::PreTokenGeneration],
                TokenEventVersion::V3,
            )),
            OURS,
            "eu-west-1_a",
        )
        .unwrap();
        assert_eq!(differences, ["pre-token-generation version V1_0 → V3_0"]);
    }

    #[test]
    fn a_key_of_another_function_is_not_taken_over() {
        let now = config(json!({"PreSignUp": OTHER}));
        let asked = wanted(&[PoolTrigger::PreSignUp], TokenEventVersion::V1);
        let error = converged(&now, Some(&asked), OURS, "eu-west-1_a")
            .unwrap_err()
            .to_string();
        assert!(error.contains("calls another function"), "{error}");
        assert!(error.contains(OTHER), "{error}");
    }
}
