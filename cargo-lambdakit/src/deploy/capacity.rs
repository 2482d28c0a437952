//! Lambda Managed Instances: the capacity provider a function with `managed_instances` runs
//! on. One named in the settings is deploy's to create and converge — with an operator role
//! holding AWS's `AWSLambdaManagedEC2ResourceOperator` unless `operator_role` names one — and
//! tagged as the package's, so several functions of the package share it; one given by its ARN
//! is used as it is. Lambda cannot change a capacity provider's network, instance types or
//! operator role: a difference there is refused with the way out, its scaling is updated.

use std::collections::HashMap;

use aws_sdk_lambda::types::{
    Architecture as LambdaArchitecture, CapacityProviderPermissionsConfig,
    CapacityProviderScalingConfig, CapacityProviderScalingMode, CapacityProviderState,
    CapacityProviderVpcConfig, InstanceRequirements,
};

use super::function::sorted;
use super::role::{self, Wanted};
use super::settings::{CapacityProvider, OwnCapacityProvider};
use super::{Action, Change, Options, Progress, TAG_PACKAGE, Unit};
use crate::aws::retry::Backoff;
use crate::aws::{self, Aws};
use crate::error::CliError;
use crate::platform::Architecture;

/// The tag that names, on the operator role deploy creates, its capacity provider.
const TAG_CAPACITY_PROVIDER: &str = "lambdakit:capacity-provider";

/// How long deploy waits for a new capacity provider to become active.
const ACTIVE_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The AWS managed policy Lambda's operator role needs (Lambda developer guide, "Lambda
/// operator role for Lambda Managed Instances").
const OPERATOR_POLICY: &str = "AWSLambdaManagedEC2ResourceOperator";

/// The capacity provider's ARN the function runs on, if it has `managed_instances`, after
/// making sure one deploy owns exists as the settings say; with the changes made.
///
/// # Errors
///
/// When AWS refuses a call, a capacity provider of that name is not the package's, or its
/// settings differ where Lambda cannot change them.
pub(super) async fn ensure(
    aws: &Aws,
    unit: &Unit<'_>,
    options: Options,
    progress: Progress,
) -> Result<(Option<String>, Vec<Change>), CliError> {
    let Some(managed) = &unit.function.deploy.managed_instances else {
        return Ok((None, Vec::new()));
    };
    let own = match &managed.capacity_provider {
        CapacityProvider::Existing(arn) => return Ok((Some(arn.clone()), Vec::new())),
        CapacityProvider::Own(own) => own,
    };
    let arn = aws.arn("lambda", &format!("capacity-provider:{}", own.name));
    let package = unit.function.package.as_str();
    let current = described(aws, &own.name).await?;
    let Some(current) = current else {
        let mut changes = Vec::new();
        let operator = match &own.operator_role {
            Some(role) => role::arn(aws, role),
            None => {
                let (arn, change) = operator_role(aws, own, package, options).await?;
                changes.push(change);
                arn
            }
        };
        if !options.dry_run {
            create(aws, own, unit.function.architecture, &operator, package).await?;
            wait_active(aws, &own.name, progress).await?;
        }
        changes.push(Change::new("capacity provider", &own.name, Action::Create));
        return Ok((Some(arn), changes));
    };
    let owner = owner(aws, &arn).await?;
    if owner.as_deref() != Some(package) {
        return Err(CliError::Conflict {
            resource: format!("the capacity provider `{}`", own.name),
            problem: match owner {
                Some(other) => format!("belongs to the package `{other}`"),
                None => "exists, and lambdakit did not create it".into(),
            },
            hint: "name it by its ARN in `managed_instances.capacity_provider` to run on it as it is, or give yours another name".into(),
        });
    }
    let fixed = fixed_differences(own, unit.function.architecture, &current, aws);
    if !fixed.is_empty() {
        return Err(CliError::Conflict {
            resource: format!("the capacity provider `{}`", own.name),
            problem: format!(
                "differs from the settings where Lambda cannot change it: {}",
                fixed.join(", ")
            ),
            hint: "keep its settings as they were, or move the functions to a capacity provider of another name and `cargo lambdakit destroy` the old one".into(),
        });
    }
    let scaling = current
        .capacity_provider_scaling_config()
        .and_then(CapacityProviderScalingConfig::max_v_cpu_count);
    let wanted = own.max_vcpus.map(|vcpus| vcpus as i32);
    if wanted.is_none() || scaling == wanted {
        let change = Change::new("capacity provider", &own.name, Action::Unchanged);
        return Ok((Some(arn), vec![change]));
    }
    if !options.dry_run {
        aws.lambda
            .update_capacity_provider()
            .capacity_provider_name(&own.name)
            .capacity_provider_scaling_config(scaling_config(own))
            .send()
            .await
            .map_err(|error| aws::failed("lambda:UpdateCapacityProvider", error))?;
        wait_active(aws, &own.name, progress).await?;
    }
    let what = format!(
        "max vCPUs {} → {}",
        scaling.map_or_else(|| "default".to_owned(), |vcpus| vcpus.to_string()),
        own.max_vcpus.unwrap_or_default()
    );
    let change = Change::new("capacity provider", &own.name, Action::Update(vec![what]));
    Ok((Some(arn), vec![change]))
}

/// The capacity providers deploy creates for `functions` (by their settings), as
/// `(package, name)`, each once.
pub(super) fn owned(functions: &[&crate::project::Function]) -> Vec<(String, String)> {
    let mut owned: Vec<(String, String)> = functions
        .iter()
        .filter_map(|function| {
            match &function
                .deploy
                .managed_instances
                .as_ref()?
                .capacity_provider
            {
                CapacityProvider::Own(own) => Some((function.package.clone(), own.name.clone())),
                CapacityProvider::Existing(_) => None,
            }
        })
        .collect();
    owned.sort();
    owned.dedup();
    owned
}

/// Removes the capacity provider `name` if deploy created it for `package`, and the operator
/// role deploy created for it (with `dry_run`, only says so); `None` when there is none of
/// the package's.
///
/// # Errors
///
/// When AWS refuses a call.
pub(super) async fn remove(
    aws: &Aws,
    (package, name): &(String, String),
    options: Options,
) -> Result<Option<super::Outcome>, CliError> {
    let Some(found) = described(aws, name).await? else {
        return Ok(None);
    };
    let arn = found.capacity_provider_arn().to_owned();
    if owner(aws, &arn).await?.as_ref() != Some(package) {
        return Ok(None);
    }
    if !options.dry_run {
        aws.lambda
            .delete_capacity_provider()
            .capacity_provider_name(name)
            .send()
            .await
            .map_err(|error| aws::failed("lambda:DeleteCapacityProvider", error))?;
    }
    let mut changes = vec![Change::new("capacity provider", name, Action::Delete)];
    let role = operator_role_name(name);
    let tags = [
        (TAG_PACKAGE, package.as_str()),
        (TAG_CAPACITY_PROVIDER, name.as_str()),
    ];
    if super::destroy::role_tagged(aws, &role, &tags, None).await? {
        if !options.dry_run {
            super::destroy::delete_role(aws, &role).await?;
        }
        changes.push(Change::new("role", role, Action::Delete));
    }
    Ok(Some(super::Outcome {
        name: name.clone(),
        arn,
        changes,
        url: None,
        version: None,
        notes: Vec::new(),
    }))
}

/// The capacity provider `name`, if it exists.
async fn described(
    aws: &Aws,
    name: &str,
) -> Result<Option<aws_sdk_lambda::types::CapacityProvider>, CliError> {
    match aws
        .lambda
        .get_capacity_provider()
        .capacity_provider_name(name)
        .send()
        .await
    {
        Ok(found) => Ok(found.capacity_provider),
        Err(error) if aws::not_found(&error) => Ok(None),
        Err(error) => Err(aws::failed("lambda:GetCapacityProvider", error)),
    }
}

/// The package the capacity provider `arn` was created for, by its tag.
async fn owner(aws: &Aws, arn: &str) -> Result<Option<String>, CliError> {
    let tags = aws
        .lambda
        .list_tags()
        .resource(arn)
        .send()
        .await
        .map_err(|error| aws::failed("lambda:ListTags", error))?;
    Ok(tags.tags().and_then(|tags| tags.get(TAG_PACKAGE)).cloned())
}

/// The role deploy creates for Lambda to manage the instances of `own` with.
async fn operator_role(
    aws: &Aws,
    own: &OwnCapacityProvider,
    package: &str,
    options: Options,
) -> Result<(String, Change), CliError> {
    let managed = [format!(
        "arn:{}:iam::aws:policy/{OPERATOR_POLICY}",
        aws.partition
    )];
    let wanted = Wanted {
        name: operator_role_name(&own.name),
        service: "lambda.amazonaws.com",
        description: format!(
            "Operator of the capacity provider {}, by cargo lambdakit",
            own.name
        ),
        tags: [(TAG_PACKAGE, package), (TAG_CAPACITY_PROVIDER, &own.name)],
        stage: None,
        policy: None,
        managed: &managed,
        hint: "delete it, or name a role of yours in `managed_instances.operator_role`".into(),
    };
    role::ensure_wanted(aws, &wanted, options).await
}

/// The operator role deploy creates for the capacity provider `name`.
pub(super) fn operator_role_name(name: &str) -> String {
    super::bounded(name, "-lambdakit-operator", 64)
}

async fn create(
    aws: &Aws,
    own: &OwnCapacityProvider,
    architecture: Architecture,
    operator: &str,
    package: &str,
) -> Result<(), CliError> {
    let invalid = |error| aws::invalid("lambda:CreateCapacityProvider", error);
    let vpc = CapacityProviderVpcConfig::builder()
        .set_subnet_ids(Some(own.subnets.clone()))
        .set_security_group_ids(Some(own.security_groups.clone()))
        .build()
        .map_err(invalid)?;
    let permissions = CapacityProviderPermissionsConfig::builder()
        .capacity_provider_operator_role_arn(operator)
        .build()
        .map_err(invalid)?;
    let tags = HashMap::from([(TAG_PACKAGE.to_owned(), package.to_owned())]);
    aws.lambda
        .create_capacity_provider()
        .capacity_provider_name(&own.name)
        .vpc_config(vpc)
        .permissions_config(permissions)
        .instance_requirements(requirements(own, architecture))
        .capacity_provider_scaling_config(scaling_config(own))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|error| aws::failed("lambda:CreateCapacityProvider", error))?;
    Ok(())
}

fn requirements(own: &OwnCapacityProvider, architecture: Architecture) -> InstanceRequirements {
    InstanceRequirements::builder()
        .architectures(LambdaArchitecture::from(architecture.as_str()))
        .set_allowed_instance_types(
            (!own.instance_types.is_empty()).then(|| own.instance_types.clone()),
        )
        .build()
}

fn scaling_config(own: &OwnCapacityProvider) -> CapacityProviderScalingConfig {
    CapacityProviderScalingConfig::builder()
        .set_max_v_cpu_count(own.max_vcpus.map(|vcpus| vcpus as i32))
        .scaling_mode(CapacityProviderScalingMode::Auto)
        .build()
}

/// What differs between `own` and the capacity provider `current` where Lambda cannot change
/// it.
fn fixed_differences(
    own: &OwnCapacityProvider,
    architecture: Architecture,
    current: &aws_sdk_lambda::types::CapacityProvider,
    aws: &Aws,
) -> Vec<String> {
    let mut differences = Vec::new();
    let vpc = current.vpc_config();
    if vpc.map(|vpc| sorted(vpc.subnet_ids())) != Some(sorted(&own.subnets))
        || vpc.map(|vpc| sorted(vpc.security_group_ids())) != Some(sorted(&own.security_groups))
    {
        differences.push("subnets or security groups".to_owned());
    }
    let requirements = current.instance_requirements();
    let architectures: Vec<&str> = requirements
        .map(|requirements| {
            requirements
                .architectures()
                .iter()
                .map(LambdaArchitecture::as_str)
                .collect()
        })
        .unwrap_or_default();
    if !architectures.is_empty() && architectures != [architecture.as_str()] {
        differences.push(format!(
            "architecture {} → {architecture}",
            architectures.join(" ")
        ));
    }
    let types = requirements
        .map(|requirements| sorted(requirements.allowed_instance_types()))
        .unwrap_or_default();
    if types != sorted(&own.instance_types) {
        differences.push("instance types".to_owned());
    }
    let operator = current
        .permissions_config()
        .map(CapacityProviderPermissionsConfig::capacity_provider_operator_role_arn);
    let wanted = match &own.operator_role {
        Some(role) => role::arn(aws, role),
        None => aws.role_arn(&operator_role_name(&own.name)),
    };
    if operator != Some(wanted.as_str()) {
        differences.push(format!("operator role → {wanted}"));
    }
    differences
}

async fn wait_active(aws: &Aws, name: &str, progress: Progress) -> Result<(), CliError> {
    let mut backoff = Backoff::new(ACTIVE_LIMIT);
    let step = progress.step(format!("waiting for the capacity provider `{name}`"));
    loop {
        let found = aws
            .lambda
            .get_capacity_provider()
            .capacity_provider_name(name)
            .send()
            .await
            .map_err(|error| aws::failed("lambda:GetCapacityProvider", error))?;
        let state = found
            .capacity_provider()
            .map(aws_sdk_lambda::types::CapacityProvider::state);
        match state {
            Some(CapacityProviderState::Active) => {
                crate::status::Step::finish(step, "active");
                return Ok(());
            }
            Some(CapacityProviderState::Failed) => {
                return Err(CliError::Conflict {
                    resource: format!("the capacity provider `{name}`"),
                    problem: "failed to become active".into(),
                    hint: "see its state in the Lambda console, fix the subnets, security groups or operator role, `cargo lambdakit destroy` and deploy again".into(),
                });
            }
            _ => {}
        }
        if !backoff.wait().await {
            return Err(CliError::Conflict {
                resource: format!("the capacity provider `{name}`"),
                problem: format!("did not become active within {} s", ACTIVE_LIMIT.as_secs()),
                hint: "deploy again once it is active".into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::function::tests::aws;
    use super::super::settings::ManagedInstances;
    use super::*;
    use crate::package::zip::Archive;
    use crate::project::Function;

    const PROVIDER: &str = r#"{"CapacityProvider":{"CapacityProviderArn":"arn:aws:lambda:eu-west-1:123456789012:capacity-provider:fleet","State":"Active","VpcConfig":{"SubnetIds":["subnet-0b","subnet-0a"],"SecurityGroupIds":["sg-01"]},"PermissionsConfig":{"CapacityProviderOperatorRoleArn":"arn:aws:iam::123456789012:role/ops"},"InstanceRequirements":{"Architectures":["x86_64"]},"CapacityProviderScalingConfig":{"MaxVCpuCount":64,"ScalingMode":"Auto"}}}"#;

    fn function(max_vcpus: u32) -> Function {
        let mut function = Function::standalone("web");
        function.package = "shop".into();
        function.deploy.managed_instances = Some(ManagedInstances {
            capacity_provider: CapacityProvider::Own(OwnCapacityProvider {
                name: "fleet".into(),
                subnets: vec!["subnet-0a".into(), "subnet-0b".into()],
                security_groups: vec!["sg-01".into()],
                operator_role: Some("ops".into()),
                instance_types: Vec::new(),
                max_vcpus: Some(max_vcpus),
            }),
            concurrency: Some(32),
            memory_per_vcpu: Some(4),
        });
        function
    }

    async fn ensured(
        answers: super::super::function::tests::Answers,
        function: &Function,
    ) -> (Result<(Option<String>, Vec<Change>), CliError>, Vec<String>) {
        let (aws, seen) = aws(answers).await;
        let code = Archive {
            bytes: Vec::new(),
            unzipped: 0,
        };
        let unit = Unit {
            function,
            code: &code,
        };
        let progress = Progress::new(true);
        let result = ensure(&aws, &unit, Options::default(), progress).await;
        let seen = seen.lock().unwrap().clone();
        (result, seen)
    }

    #[tokio::test]
    async fn a_capacity_provider_is_created_and_waited_for_until_active() {
        static GETS: AtomicUsize = AtomicUsize::new(0);
        let (result, seen) = ensured(
            |method, path| match (method, path) {
                ("GET", "/2025-11-30/capacity-providers/fleet") => {
                    match GETS.fetch_add(1, Ordering::Relaxed) {
                        0 => (
                            404,
                            Some("ResourceNotFoundException"),
                            r#"{"message":"not found"}"#,
                        ),
                        1 => (
                            200,
                            None,
                            r#"{"CapacityProvider":{"CapacityProviderArn":"arn:aws:lambda:eu-west-1:123456789012:capacity-provider:fleet","State":"Pending"}}"#,
                        ),
                        _ => (200, None, PROVIDER),
                    }
                }
                ("POST", "/2025-11-30/capacity-providers") => (202, None, PROVIDER),
                _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
            },
            &function(64),
        )
        .await;
        let (arn, changes) = result.unwrap();
        assert_eq!(
            arn.as_deref(),
            Some("arn:aws:lambda:eu-west-1:123456789012:capacity-provider:fleet")
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].action, Action::Create);
        let create: serde_json::Value = serde_json::from_str(
            seen.iter()
                .find_map(|line| line.strip_prefix("POST /2025-11-30/capacity-providers "))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(create["CapacityProviderName"], "fleet");
        assert_eq!(
            create["VpcConfig"]["SubnetIds"],
            serde_json::json!(["subnet-0a", "subnet-0b"])
        );
        assert_eq!(
            create["PermissionsConfig"]["CapacityProviderOperatorRoleArn"],
            "arn:aws:iam::123456789012:role/ops"
        );
        assert_eq!(
            create["InstanceRequirements"]["Architectures"],
            serde_json::json!(["x86_64"])
        );
        assert_eq!(create["CapacityProviderScalingConfig"]["MaxVCpuCount"], 64);
        assert_eq!(create["Tags"]["lambdakit:package"], "shop");
        // Looked up, created, then polled until active.
        assert_eq!(GETS.load(Ordering::Relaxed), 3, "{seen:#?}");
    }

    #[tokio::test]
    async fn the_packages_capacity_provider_is_kept_or_its_scaling_updated() {
        fn answers(method: &str, path: &str) -> (u16, Option<&'static str>, &'static str) {
            match (method, path) {
                ("GET", "/2025-11-30/capacity-providers/fleet") => (200, None, PROVIDER),
                ("GET", path) if path.starts_with("/2017-03-31/tags/") => {
                    (200, None, r#"{"Tags":{"lambdakit:package":"shop"}}"#)
                }
                ("PUT", "/2025-11-30/capacity-providers/fleet") => (202, None, PROVIDER),
                _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
            }
        }
        let (result, seen) = ensured(answers, &function(64)).await;
        let (_, changes) = result.unwrap();
        assert_eq!(changes[0].action, Action::Unchanged, "{seen:#?}");
        assert!(
            !seen.iter().any(|line| line.starts_with("PUT")),
            "{seen:#?}"
        );

        let (result, seen) = ensured(answers, &function(128)).await;
        let (_, changes) = result.unwrap();
        assert_eq!(
            changes[0].action,
            Action::Update(vec!["max vCPUs 64 → 128".into()])
        );
        assert!(
            seen.iter().any(|line| line.starts_with(
                r#"PUT /2025-11-30/capacity-providers/fleet {"CapacityProviderScalingConfig":{"MaxVCpuCount":128"#
            )),
            "{seen:#?}"
        );
    }

    #[tokio::test]
    async fn what_lambda_cannot_change_and_other_owners_are_refused() {
        fn others(method: &str, path: &str) -> (u16, Option<&'static str>, &'static str) {
            match (method, path) {
                ("GET", "/2025-11-30/capacity-providers/fleet") => (200, None, PROVIDER),
                ("GET", _) => (200, None, r#"{"Tags":{"lambdakit:package":"billing"}}"#),
                _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
            }
        }
        let (result, _) = ensured(others, &function(64)).await;
        let error = result.unwrap_err().to_string();
        assert!(
            error.contains("belongs to the package `billing`"),
            "{error}"
        );

        fn ours(method: &str, path: &str) -> (u16, Option<&'static str>, &'static str) {
            match (method, path) {
                ("GET", "/2025-11-30/capacity-providers/fleet") => (200, None, PROVIDER),
                ("GET", _) => (200, None, r#"{"Tags":{"lambdakit:package":"shop"}}"#),
                _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
            }
        }
        let mut moved = function(64);
        if let Some(ManagedInstances {
            capacity_provider: CapacityProvider::Own(own),
            ..
        }) = &mut moved.deploy.managed_instances
        {
            own.subnets = vec!["subnet-0c".into()];
        }
        moved.architecture = Architecture::Arm64;
        let (result, seen) = ensured(ours, &moved).await;
        let error = result.unwrap_err().to_string();
        assert!(
            error.contains("subnets or security groups, architecture x86_64 → arm64"),
            "{error}"
        );
        assert!(
            !seen.iter().any(|line| !line.starts_with("GET")),
            "{seen:#?}"
        );
    }
}
