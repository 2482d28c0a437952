//! The function itself: its configuration and code, tags, reserved concurrency, published
//! version and alias, provisioned concurrency and URL.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    ApplicationLogLevel, Architecture, CapacityProviderConfig, Cors, DeadLetterConfig, Environment,
    EphemeralStorage, FunctionCode, FunctionConfiguration, FunctionUrlAuthType, InvokeMode,
    LambdaManagedInstancesCapacityProviderConfig, LastUpdateStatus, LogFormat, LoggingConfig,
    Runtime, State, TenancyConfig, TenantIsolationMode, TracingConfig, TracingMode, VpcConfig,
};

use super::settings::{Tenancy, Tracing, UrlSettings, Word as _};
use super::{Action, Change, Options, Progress, TAG_FUNCTION, TAG_PACKAGE, TAG_STAGE, Unit};
use crate::aws::retry::{Backoff, retry};
use crate::aws::{self, Aws};
use crate::error::CliError;
use crate::package::zip::MAX_DIRECT_UPLOAD_BYTES;
use crate::project::Function;

/// How long a call is retried while AWS says "not yet" (a role still propagating, an update
/// still running), and how long a function may take to become ready.
const RETRY_LIMIT: Duration = Duration::from_secs(120);
const READY_LIMIT: Duration = Duration::from_secs(600);

/// Statement ids of the permissions a public (`auth = "NONE"`) URL needs.
const URL_PUBLIC: &str = "lambdakit-url-public";
const URL_INVOKE: &str = "lambdakit-url-invoke";

pub(super) struct Deployed {
    pub(super) arn: String,
    pub(super) changes: Vec<Change>,
    pub(super) url: Option<String>,
    pub(super) version: Option<String>,
}

/// The configuration the settings ask for, in the terms `FunctionConfiguration` reports (and
/// `template` writes).
#[derive(Debug, PartialEq)]
pub(super) struct Desired {
    pub(super) role: String,
    pub(super) runtime: String,
    pub(super) memory: i32,
    pub(super) timeout: i32,
    pub(super) environment: BTreeMap<String, String>,
    pub(super) description: String,
    pub(super) layers: Vec<String>,
    pub(super) tracing: String,
    pub(super) ephemeral_storage: i32,
    pub(super) log_format: String,
    pub(super) log_level: Option<String>,
    pub(super) architecture: String,
    /// `DeadLetterConfig.TargetArn`, empty for none.
    pub(super) dead_letter: String,
    /// The VPC's subnets and security groups (sorted, empty for none) and dual-stack IPv6.
    pub(super) vpc: (Vec<String>, Vec<String>, bool),
    /// The variables of `environment` from an env file, whose values a plan never shows.
    pub(super) from_env_file: BTreeSet<String>,
    /// `TenancyConfig`: per-tenant environments (fixed at creation).
    pub(super) per_tenant: bool,
    /// `CapacityProviderConfig` (Lambda Managed Instances): the capacity provider's ARN, the
    /// invocations an environment takes at once and its GiB per vCPU; `None` for Lambda's
    /// default capacity.
    pub(super) capacity: Option<(String, Option<i32>, Option<f64>)>,
}

impl Desired {
    pub(super) fn of(function: &Function, role: &str) -> Self {
        let deploy = &function.deploy;
        Self {
            role: role.to_owned(),
            runtime: deploy.runtime.unwrap_or_default().as_str().to_owned(),
            memory: function.memory_mb as i32,
            timeout: function.timeout.as_secs() as i32,
            environment: function.environment.clone(),
            description: deploy.description.clone().unwrap_or_default(),
            layers: deploy.layers.clone().unwrap_or_default(),
            tracing: deploy.tracing.unwrap_or_default().as_str().to_owned(),
            ephemeral_storage: deploy.ephemeral_storage.unwrap_or(512) as i32,
            log_format: function
                .log_format
                .unwrap_or(crate::project::LogFormat::Text)
                .as_str()
                .to_owned(),
            log_level: function.log_level.map(|level| level.as_str().to_owned()),
            architecture: function.architecture.as_str().to_owned(),
            dead_letter: deploy
                .asynchronous
                .as_ref()
                .and_then(|asynchronous| asynchronous.dead_letter.clone())
                .unwrap_or_default(),
            vpc: deploy.vpc.as_ref().map_or_else(Default::default, |vpc| {
                (
                    sorted(&vpc.subnets),
                    sorted(&vpc.security_groups),
                    vpc.ipv6_dual_stack,
                )
            }),
            from_env_file: function.from_env_file.clone(),
            per_tenant: deploy.tenancy == Some(Tenancy::PerTenant),
            capacity: None,
        }
    }

    /// With the capacity provider `arn` the function runs on (`managed_instances`).
    pub(super) fn on_capacity(mut self, function: &Function, arn: Option<&str>) -> Self {
        let managed = function.deploy.managed_instances.as_ref();
        self.capacity = arn.zip(managed).map(|(arn, managed)| {
            (
                arn.to_owned(),
                managed.concurrency.map(|concurrency| concurrency as i32),
                managed.memory_per_vcpu.map(f64::from),
            )
        });
        self
    }

    fn capacity_config(&self) -> Option<CapacityProviderConfig> {
        let (arn, concurrency, memory) = self.capacity.as_ref()?;
        let managed = LambdaManagedInstancesCapacityProviderConfig::builder()
            .capacity_provider_arn(arn)
            .set_per_execution_environment_max_concurrency(*concurrency)
            .set_execution_environment_memory_gib_per_v_cpu(*memory)
            .build()
            .ok()?;
        Some(
            CapacityProviderConfig::builder()
                .lambda_managed_instances_capacity_provider_config(managed)
                .build(),
        )
    }

    /// What AWS reports, read the same way; what it leaves out counts as Lambda's default.
    fn reported(current: &FunctionConfiguration) -> Self {
        let logging = current.logging_config();
        Self {
            role: current.role().unwrap_or_default().to_owned(),
            runtime: current
                .runtime()
                .map(|runtime| runtime.as_str().to_owned())
                .unwrap_or_default(),
            memory: current.memory_size().unwrap_or(128),
            timeout: current.timeout().unwrap_or(3),
            environment: current
                .environment()
                .and_then(|environment| environment.variables())
                .map(|variables| {
                    variables
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            description: current.description().unwrap_or_default().to_owned(),
            layers: current
                .layers()
                .iter()
                .filter_map(|layer| layer.arn().map(str::to_owned))
                .collect(),
            tracing: current
                .tracing_config()
                .and_then(|tracing| tracing.mode())
                .map_or_else(
                    || Tracing::default().as_str().to_owned(),
                    |mode| mode.as_str().to_owned(),
                ),
            ephemeral_storage: current
                .ephemeral_storage()
                .map_or(512, EphemeralStorage::size),
            log_format: logging
                .and_then(LoggingConfig::log_format)
                .map_or_else(|| "Text".to_owned(), |format| format.as_str().to_owned()),
            log_level: logging
                .and_then(LoggingConfig::application_log_level)
                .map(|level| level.as_str().to_owned())
                .filter(|_| logging.and_then(LoggingConfig::log_format) == Some(&LogFormat::Json)),
            architecture: current
                .architectures()
                .first()
                .map_or_else(|| "x86_64".to_owned(), |arch| arch.as_str().to_owned()),
            dead_letter: current
                .dead_letter_config()
                .and_then(DeadLetterConfig::target_arn)
                .unwrap_or_default()
                .to_owned(),
            vpc: current.vpc_config().map_or_else(Default::default, |vpc| {
                (
                    sorted(vpc.subnet_ids()),
                    sorted(vpc.security_group_ids()),
                    vpc.ipv6_allowed_for_dual_stack().unwrap_or(false),
                )
            }),
            from_env_file: BTreeSet::new(),
            per_tenant: current.tenancy_config().is_some_and(|tenancy| {
                tenancy.tenant_isolation_mode() == &TenantIsolationMode::PerTenant
            }),
            capacity: current
                .capacity_provider_config()
                .and_then(CapacityProviderConfig::lambda_managed_instances_capacity_provider_config)
                .map(|managed| {
                    (
                        managed.capacity_provider_arn().to_owned(),
                        managed.per_execution_environment_max_concurrency(),
                        managed.execution_environment_memory_gib_per_v_cpu(),
                    )
                }),
        }
    }

    /// The configuration fields (not the architecture, which goes with the code) that differ.
    fn differences(&self, current: &Self) -> Vec<String> {
        let mut changed = Vec::new();
        let mut compare = |what: &str, theirs: String, ours: String| {
            if theirs != ours {
                changed.push(format!("{what} {theirs} → {ours}"));
            }
        };
        compare("runtime", current.runtime.clone(), self.runtime.clone());
        compare(
            "memory",
            format!("{} MB", current.memory),
            format!("{} MB", self.memory),
        );
        compare(
            "timeout",
            format!("{} s", current.timeout),
            format!("{} s", self.timeout),
        );
        compare("tracing", current.tracing.clone(), self.tracing.clone());
        compare(
            "ephemeral storage",
            format!("{} MB", current.ephemeral_storage),
            format!("{} MB", self.ephemeral_storage),
        );
        compare(
            "log format",
            current.log_format.clone(),
            self.log_format.clone(),
        );
        compare(
            "log level",
            current
                .log_level
                .clone()
                .unwrap_or_else(|| "default".into()),
            self.log_level.clone().unwrap_or_else(|| "default".into()),
        );
        let none = |arn: &str| {
            if arn.is_empty() {
                "none".to_owned()
            } else {
                arn.to_owned()
            }
        };
        compare(
            "dead-letter queue",
            none(&current.dead_letter),
            none(&self.dead_letter),
        );
        if current.vpc != self.vpc {
            changed.push(if self.vpc.0.is_empty() {
                "vpc → none".to_owned()
            } else {
                format!("vpc → {}", self.vpc.0.join(" "))
            });
        }
        if current.capacity != self.capacity {
            let describe = |capacity: &Option<(String, Option<i32>, Option<f64>)>| match capacity {
                None => "Lambda's own".to_owned(),
                Some((arn, concurrency, _)) => format!(
                    "{}{}",
                    arn.rsplit(':').next().unwrap_or(arn),
                    concurrency.map_or_else(String::new, |concurrency| format!(
                        " ({concurrency} at once)"
                    ))
                ),
            };
            changed.push(format!(
                "capacity {} → {}",
                describe(&current.capacity),
                describe(&self.capacity)
            ));
        }
        if current.role != self.role {
            changed.push(format!("role → {}", self.role));
        }
        if current.description != self.description {
            changed.push("description".into());
        }
        if current.layers != self.layers {
            changed.push("layers".into());
        }
        if current.environment != self.environment {
            let mut names: Vec<&String> = current
                .environment
                .keys()
                .chain(self.environment.keys())
                .filter(|name| current.environment.get(*name) != self.environment.get(*name))
                .collect();
            names.sort();
            names.dedup();
            // Names, and for an env file's values a hash: a change shows, the secret does not.
            let names: Vec<String> = names
                .iter()
                .map(|name| match self.environment.get(*name) {
                    Some(value) if self.from_env_file.contains(*name) => {
                        format!("`{name}` (set, {})", fingerprint(value))
                    }
                    _ => format!("`{name}`"),
                })
                .collect();
            changed.push(format!("environment {}", names.join(" ")));
        }
        changed
    }

    fn environment(&self) -> Environment {
        Environment::builder()
            .set_variables(Some(self.environment.clone().into_iter().collect()))
            .build()
    }

    fn dead_letter(&self) -> DeadLetterConfig {
        // An empty target takes the queue away (Lambda API reference, "DeadLetterConfig").
        DeadLetterConfig::builder()
            .target_arn(&self.dead_letter)
            .build()
    }

    fn vpc(&self) -> VpcConfig {
        // Empty lists take the function out of its VPC.
        let (subnets, security_groups, ipv6) = &self.vpc;
        VpcConfig::builder()
            .set_subnet_ids(Some(subnets.clone()))
            .set_security_group_ids(Some(security_groups.clone()))
            .ipv6_allowed_for_dual_stack(*ipv6)
            .build()
    }

    fn tracing(&self) -> TracingConfig {
        TracingConfig::builder()
            .mode(TracingMode::from(self.tracing.as_str()))
            .build()
    }

    fn ephemeral_storage(&self) -> Result<EphemeralStorage, CliError> {
        EphemeralStorage::builder()
            .size(self.ephemeral_storage)
            .build()
            .map_err(|error| CliError::Aws {
                operation: "lambda:UpdateFunctionConfiguration".into(),
                code: None,
                message: error.to_string(),
            })
    }

    fn logging(&self) -> LoggingConfig {
        let format = LogFormat::from(self.log_format.as_str());
        let json = format == LogFormat::Json;
        LoggingConfig::builder()
            .log_format(format)
            .set_application_log_level(
                self.log_level
                    .as_deref()
                    .filter(|_| json)
                    .map(ApplicationLogLevel::from),
            )
            .build()
    }
}

/// The first 8 hex digits of `value`'s SHA-256: enough to see that a secret changed, not what
/// it is (a guessable value stays guessable: keep secrets long and random).
fn fingerprint(value: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(value.as_bytes())
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `ids` sorted, as a set compares.
pub(super) fn sorted(ids: &[String]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

/// Where the code is uploaded from.
enum Code {
    Inline(Vec<u8>),
    S3 { bucket: String, key: String },
}

impl Code {
    fn function_code(&self) -> FunctionCode {
        match self {
            Self::Inline(bytes) => FunctionCode::builder()
                .zip_file(Blob::new(bytes.clone()))
                .build(),
            Self::S3 { bucket, key } => FunctionCode::builder()
                .s3_bucket(bucket)
                .s3_key(key)
                .build(),
        }
    }
}

/// The function `name` as Lambda has it, if it exists.
pub(super) async fn current(aws: &Aws, name: &str) -> Result<Option<GetFunctionOutput>, CliError> {
    match aws.lambda.get_function().function_name(name).send().await {
        Ok(found) => Ok(Some(found)),
        Err(error) if aws::not_found(&error) => Ok(None),
        Err(error) => Err(aws::failed("lambda:GetFunction", error)),
    }
}

/// Creates or updates the function (`existing`: as [`current`] found it) with `role`, on the
/// capacity provider `capacity` (Lambda Managed Instances) if any.
pub(super) async fn ensure(
    aws: &Aws,
    unit: &Unit<'_>,
    existing: Option<GetFunctionOutput>,
    (role, capacity): (&str, Option<&str>),
    options: Options,
    progress: Progress,
) -> Result<Deployed, CliError> {
    let name = unit.function.aws_name();
    let desired = Desired::of(unit.function, role).on_capacity(unit.function, capacity);
    let tags = tags(unit.function);
    let mut changes = Vec::new();
    let code_sha256 = unit.code.code_sha256();
    let (arn, changed, reserved) = match existing {
        None => {
            let arn = aws.arn("lambda", &format!("function:{name}"));
            if !options.dry_run {
                let step = progress.step(uploading(unit));
                let code = upload(aws, unit, progress).await?;
                create(aws, name, &desired, &code, &tags).await?;
                step.finish("created");
                wait_ready(aws, name, progress).await?;
            }
            changes.push(Change::new("function", name, Action::Create));
            (arn, true, None)
        }
        Some(found) => {
            let current = found
                .configuration()
                .cloned()
                .unwrap_or_else(|| FunctionConfiguration::builder().build());
            let arn = current.function_arn().unwrap_or_default().to_owned();
            check_ours(unit, name, found.tags(), options.adopt)?;
            let reported = Desired::reported(&current);
            if reported.per_tenant != desired.per_tenant {
                let tenancy = |per_tenant: bool| {
                    if per_tenant {
                        Tenancy::PerTenant
                    } else {
                        Tenancy::Shared
                    }
                    .as_str()
                };
                return Err(CliError::Conflict {
                    resource: format!("the function `{name}`"),
                    problem: format!(
                        "has tenancy `{}` on AWS, and the settings ask for `{}`; Lambda fixes a function's tenancy when it creates it",
                        tenancy(reported.per_tenant),
                        tenancy(desired.per_tenant)
                    ),
                    hint: format!(
                        "set `tenancy = \"{}\"` to keep it, or `cargo lambdakit destroy` the function and deploy it again",
                        tenancy(reported.per_tenant)
                    ),
                });
            }
            if reported.architecture != desired.architecture && !options.change_architecture {
                return Err(CliError::Conflict {
                    resource: format!("the function `{name}`"),
                    problem: format!(
                        "runs on {} on AWS, but is built for {} here",
                        reported.architecture, desired.architecture
                    ),
                    hint: format!(
                        "set `architecture = \"{}\"` (or `--arch {}`) to keep it, or pass `--change-architecture` to move it",
                        reported.architecture, reported.architecture
                    ),
                });
            }
            let mut differences = desired.differences(&reported);
            let missing_tags = found.tags().is_none_or(|current| {
                tags.iter()
                    .any(|(key, value)| current.get(key) != Some(value))
            });
            if !options.dry_run && !differences.is_empty() {
                update_configuration(aws, name, &desired, &reported).await?;
                wait_ready(aws, name, progress).await?;
            }
            if missing_tags {
                if !options.dry_run {
                    aws.lambda
                        .tag_resource()
                        .resource(&arn)
                        .set_tags(Some(tags.clone()))
                        .send()
                        .await
                        .map_err(|error| aws::failed("lambda:TagResource", error))?;
                }
                differences.push("tags".into());
            }
            let config_changed = !differences.is_empty();
            let action = if config_changed {
                Action::Update(differences)
            } else {
                Action::Unchanged
            };
            changes.push(Change::new("function", name, action));
            let deployed_sha = current.code_sha256().unwrap_or_default();
            let code_changed =
                deployed_sha != code_sha256 || reported.architecture != desired.architecture;
            if code_changed {
                if !options.dry_run {
                    let step = progress.step(uploading(unit));
                    let code = upload(aws, unit, progress).await?;
                    update_code(aws, name, &desired, &code).await?;
                    step.finish("updated");
                    wait_ready(aws, name, progress).await?;
                }
                let mut what = vec![format!(
                    "CodeSha256 {} → {code_sha256}",
                    short(deployed_sha)
                )];
                if reported.architecture != desired.architecture {
                    what.push(format!(
                        "architecture {} → {}",
                        reported.architecture, desired.architecture
                    ));
                }
                changes.push(Change::new("code", name, Action::Update(what)));
            } else {
                changes.push(Change::new("code", name, Action::Unchanged));
            }
            let reserved = found
                .concurrency()
                .and_then(|concurrency| concurrency.reserved_concurrent_executions());
            (arn, config_changed || code_changed, reserved)
        }
    };
    if let Some(change) = reserved_concurrency(aws, unit, reserved, options).await? {
        changes.push(change);
    }
    let (version, alias_changes) = publish(aws, unit, changed, options).await?;
    changes.extend(alias_changes);
    let qualifier = unit.function.deploy.alias.as_deref();
    let (url_change, url) = url(
        aws,
        name,
        qualifier,
        unit.function.deploy.url.as_ref(),
        options,
    )
    .await?;
    changes.extend(url_change);
    Ok(Deployed {
        arn,
        changes,
        url,
        version,
    })
}

/// The first characters of a CodeSha256, enough to tell two apart in a plan.
fn short(sha: &str) -> String {
    if sha.is_empty() {
        return "none".into();
    }
    sha.chars().take(12).collect::<String>() + "…"
}

/// The function's tags: its settings' and deploy's own.
pub(super) fn tags(function: &Function) -> HashMap<String, String> {
    let mut tags: HashMap<String, String> = function.deploy.tags.clone().into_iter().collect();
    tags.insert(TAG_PACKAGE.into(), function.package.clone());
    tags.insert(TAG_FUNCTION.into(), function.name.clone());
    if let Some(stage) = &function.stage {
        tags.insert(TAG_STAGE.into(), stage.clone());
    }
    tags
}

fn check_ours(
    unit: &Unit<'_>,
    name: &str,
    tags: Option<&HashMap<String, String>>,
    adopt: bool,
) -> Result<(), CliError> {
    let tag = |key: &str| tags.and_then(|tags| tags.get(key)).map(String::as_str);
    let stage = tag(TAG_STAGE);
    match (tag(TAG_PACKAGE), tag(TAG_FUNCTION)) {
        (Some(package), Some(function))
            if package == unit.function.package
                && function == unit.function.name
                && stage == unit.function.stage.as_deref() =>
        {
            Ok(())
        }
        (Some(package), Some(function)) => Err(CliError::Conflict {
            resource: format!("the function `{name}`"),
            problem: format!(
                "was deployed from `{function}` of the package `{package}` {}",
                stage.map_or_else(
                    || "without a stage".to_owned(),
                    |stage| format!("as the stage `{stage}`")
                )
            ),
            hint: "give one of them another `name` in `[package.metadata.lambdakit]` (or its stage's table)".into(),
        }),
        _ if adopt => Ok(()),
        _ => Err(CliError::Conflict {
            resource: format!("the function `{name}`"),
            problem: "exists on AWS, and lambdakit did not create it".into(),
            hint: "pass `--adopt` to take it over, or give yours another `name`".into(),
        }),
    }
}

/// The code, uploaded through S3 when a bucket is set or it is too large to send inline.
/// The upload step's words: `uploading `orders` (2.4 MB)`.
fn uploading(unit: &Unit<'_>) -> String {
    let megabytes = unit.code.bytes.len() as f64 / 1_000_000.0;
    format!(
        "uploading `{}` ({megabytes:.1} MB)",
        unit.function.aws_name()
    )
}

async fn upload(aws: &Aws, unit: &Unit<'_>, progress: Progress) -> Result<Code, CliError> {
    let archive = unit.code;
    let size = archive.bytes.len() as u64;
    let bucket = match &unit.function.deploy.upload_bucket {
        Some(bucket) => bucket.clone(),
        None if size <= MAX_DIRECT_UPLOAD_BYTES => return Ok(Code::Inline(archive.bytes.clone())),
        None => {
            return Err(CliError::Config {
                key: format!(
                    "package.metadata.lambdakit.functions.{}.upload_bucket",
                    unit.function.name
                ),
                problem: format!(
                    "is needed: the zip is {size} bytes, over the {MAX_DIRECT_UPLOAD_BYTES} bytes Lambda takes inline"
                ),
            });
        }
    };
    use sha2::Digest as _;
    let digest: String = sha2::Sha256::digest(&archive.bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let key = format!("lambdakit/{}/{digest}.zip", unit.function.aws_name());
    progress.note(format_args!(
        "uploading {size} bytes to s3://{bucket}/{key}"
    ));
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(archive.bytes.clone().into())
        .send()
        .await
        .map_err(|error| aws::failed("s3:PutObject", error))?;
    Ok(Code::S3 { bucket, key })
}

/// Whether AWS said "not yet": an update still running, a throttle, or a new role Lambda
/// cannot assume yet (IAM is eventually consistent).
fn not_yet<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    match aws::code(error) {
        Some("ResourceConflictException" | "TooManyRequestsException") => true,
        Some("InvalidParameterValueException") => {
            let message = match error {
                SdkError::ServiceError(service) => service.err().message().unwrap_or_default(),
                _ => "",
            };
            // "The role defined for the function cannot be assumed by Lambda.": a new role
            // IAM has not propagated yet. Other invalid values are mistakes: no retry.
            message.contains("cannot be assumed")
        }
        _ => false,
    }
}

async fn create(
    aws: &Aws,
    name: &str,
    desired: &Desired,
    code: &Code,
    tags: &HashMap<String, String>,
) -> Result<(), CliError> {
    let ephemeral = desired.ephemeral_storage()?;
    retry(
        RETRY_LIMIT,
        || {
            aws.lambda
                .create_function()
                .function_name(name)
                .runtime(Runtime::from(desired.runtime.as_str()))
                .handler("bootstrap")
                .role(&desired.role)
                .code(code.function_code())
                .memory_size(desired.memory)
                .timeout(desired.timeout)
                .environment(desired.environment())
                .description(&desired.description)
                .set_layers(Some(desired.layers.clone()))
                .tracing_config(desired.tracing())
                .ephemeral_storage(ephemeral.clone())
                .logging_config(desired.logging())
                .set_dead_letter_config(
                    (!desired.dead_letter.is_empty()).then(|| desired.dead_letter()),
                )
                .set_vpc_config((!desired.vpc.0.is_empty()).then(|| desired.vpc()))
                .set_tenancy_config(
                    desired
                        .per_tenant
                        .then(|| {
                            TenancyConfig::builder()
                                .tenant_isolation_mode(TenantIsolationMode::PerTenant)
                                .build()
                                .ok()
                        })
                        .flatten(),
                )
                .architectures(Architecture::from(desired.architecture.as_str()))
                .set_capacity_provider_config(desired.capacity_config())
                .set_tags(Some(tags.clone()))
                .send()
        },
        not_yet,
    )
    .await
    .map_err(|error| aws::failed("lambda:CreateFunction", error))?;
    Ok(())
}

async fn update_configuration(
    aws: &Aws,
    name: &str,
    desired: &Desired,
    reported: &Desired,
) -> Result<(), CliError> {
    let ephemeral = desired.ephemeral_storage()?;
    retry(
        RETRY_LIMIT,
        || {
            aws.lambda
                .update_function_configuration()
                .function_name(name)
                .runtime(Runtime::from(desired.runtime.as_str()))
                .handler("bootstrap")
                .role(&desired.role)
                .memory_size(desired.memory)
                .timeout(desired.timeout)
                .environment(desired.environment())
                .description(&desired.description)
                .set_layers(Some(desired.layers.clone()))
                .tracing_config(desired.tracing())
                .ephemeral_storage(ephemeral.clone())
                .logging_config(desired.logging())
                // Sent only to change them: a VPC update makes Lambda rebuild the function's
                // network interfaces.
                .set_dead_letter_config(
                    (desired.dead_letter != reported.dead_letter).then(|| desired.dead_letter()),
                )
                .set_vpc_config((desired.vpc != reported.vpc).then(|| desired.vpc()))
                .set_capacity_provider_config(
                    (desired.capacity != reported.capacity)
                        .then(|| desired.capacity_config())
                        .flatten(),
                )
                .send()
        },
        not_yet,
    )
    .await
    .map_err(|error| aws::failed("lambda:UpdateFunctionConfiguration", error))?;
    Ok(())
}

async fn update_code(
    aws: &Aws,
    name: &str,
    desired: &Desired,
    code: &Code,
) -> Result<(), CliError> {
    retry(
        RETRY_LIMIT,
        || {
            let request = aws
                .lambda
                .update_function_code()
                .function_name(name)
                .architectures(Architecture::from(desired.architecture.as_str()));
            match code {
                Code::Inline(bytes) => request.zip_file(Blob::new(bytes.clone())),
                Code::S3 { bucket, key } => request.s3_bucket(bucket).s3_key(key),
            }
            .send()
        },
        not_yet,
    )
    .await
    .map_err(|error| aws::failed("lambda:UpdateFunctionCode", error))?;
    Ok(())
}

/// Waits until the function is no longer `Pending` and its last update no longer
/// `InProgress` (AWS "Lambda function states").
async fn wait_ready(aws: &Aws, name: &str, progress: Progress) -> Result<(), CliError> {
    let mut backoff = Backoff::new(READY_LIMIT);
    let mut step = None;
    loop {
        let current = aws
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|error| aws::failed("lambda:GetFunctionConfiguration", error))?;
        let failed = |reason: Option<&str>| CliError::Conflict {
            resource: format!("the function `{name}`"),
            problem: format!(
                "failed to become ready: {}",
                reason.unwrap_or("no reason given")
            ),
            hint: "fix what the reason names and deploy again".into(),
        };
        if current.state() == Some(&State::Failed) {
            return Err(failed(current.state_reason()));
        }
        if current.last_update_status() == Some(&LastUpdateStatus::Failed) {
            return Err(failed(current.last_update_status_reason()));
        }
        let busy = current.state() == Some(&State::Pending)
            || current.last_update_status() == Some(&LastUpdateStatus::InProgress);
        if !busy {
            if let Some(step) = step {
                crate::status::Step::finish(step, "ready");
            }
            return Ok(());
        }
        let step =
            step.get_or_insert_with(|| progress.step(format!("waiting for `{name}` to be ready")));
        let state = current.state().map_or("", |state| state.as_str());
        let update = current
            .last_update_status()
            .map_or("", |status| status.as_str());
        step.detail(&format!("{state} {update}").trim().to_lowercase());
        if !backoff.wait().await {
            return Err(failed(Some("still updating after 10 minutes")));
        }
    }
}

async fn reserved_concurrency(
    aws: &Aws,
    unit: &Unit<'_>,
    current: Option<i32>,
    options: Options,
) -> Result<Option<Change>, CliError> {
    let name = unit.function.aws_name();
    let wanted = unit.function.deploy.reserved_concurrency.map(|n| n as i32);
    let action = match (current, wanted) {
        (None, None) => return Ok(None),
        (Some(current), Some(wanted)) if current == wanted => Action::Unchanged,
        (None, Some(_)) => Action::Create,
        (Some(current), Some(wanted)) => Action::Update(vec![format!("{current} → {wanted}")]),
        (Some(_), None) => Action::Delete,
    };
    if !options.dry_run {
        match (&action, wanted) {
            (Action::Create | Action::Update(_), Some(wanted)) => {
                aws.lambda
                    .put_function_concurrency()
                    .function_name(name)
                    .reserved_concurrent_executions(wanted)
                    .send()
                    .await
                    .map_err(|error| aws::failed("lambda:PutFunctionConcurrency", error))?;
            }
            (Action::Delete, _) => {
                aws.lambda
                    .delete_function_concurrency()
                    .function_name(name)
                    .send()
                    .await
                    .map_err(|error| aws::failed("lambda:DeleteFunctionConcurrency", error))?;
            }
            _ => {}
        }
    }
    Ok(Some(Change::new(
        "concurrency",
        format!(
            "reserved {}",
            wanted.map_or_else(|| "none".to_owned(), |n| n.to_string())
        ),
        action,
    )))
}

/// Publishes a version when code or configuration changed (or none exists yet) and points the
/// alias at the newest; sets the alias's provisioned concurrency.
async fn publish(
    aws: &Aws,
    unit: &Unit<'_>,
    changed: bool,
    options: Options,
) -> Result<(Option<String>, Vec<Change>), CliError> {
    let deploy = &unit.function.deploy;
    let name = unit.function.aws_name();
    if !deploy.publish.unwrap_or(false) && deploy.alias.is_none() {
        return Ok((None, Vec::new()));
    }
    let mut changes = Vec::new();
    let mut latest = if changed && options.dry_run {
        None
    } else {
        latest_version(aws, name).await?
    };
    let mut published = None;
    if changed || latest.is_none() {
        if !options.dry_run {
            let output = retry(
                RETRY_LIMIT,
                || aws.lambda.publish_version().function_name(name).send(),
                not_yet,
            )
            .await
            .map_err(|error| aws::failed("lambda:PublishVersion", error))?;
            latest = output.version().map(str::to_owned);
            published.clone_from(&latest);
        }
        changes.push(Change::new(
            "version",
            latest.clone().unwrap_or_else(|| "next".into()),
            Action::Create,
        ));
    }
    let Some(alias) = &deploy.alias else {
        return Ok((published, changes));
    };
    let current = match aws
        .lambda
        .get_alias()
        .function_name(name)
        .name(alias)
        .send()
        .await
    {
        Ok(found) => found.function_version().map(str::to_owned),
        Err(error) if aws::not_found(&error) => None,
        Err(error) => return Err(aws::failed("lambda:GetAlias", error)),
    };
    let target = latest.clone().unwrap_or_else(|| "next".into());
    let action = match &current {
        None => Action::Create,
        Some(version) if *version == target => Action::Unchanged,
        Some(version) => Action::Update(vec![format!("version {version} → {target}")]),
    };
    if !options.dry_run {
        match (&action, &latest) {
            (Action::Create, Some(version)) => {
                aws.lambda
                    .create_alias()
                    .function_name(name)
                    .name(alias)
                    .function_version(version)
                    .send()
                    .await
                    .map_err(|error| aws::failed("lambda:CreateAlias", error))?;
            }
            (Action::Update(_), Some(version)) => {
                aws.lambda
                    .update_alias()
                    .function_name(name)
                    .name(alias)
                    .function_version(version)
                    .send()
                    .await
                    .map_err(|error| aws::failed("lambda:UpdateAlias", error))?;
            }
            _ => {}
        }
    }
    changes.push(Change::new("alias", alias.clone(), action));
    if let Some(instances) = deploy.provisioned_concurrency {
        let current = match aws
            .lambda
            .get_provisioned_concurrency_config()
            .function_name(name)
            .qualifier(alias)
            .send()
            .await
        {
            Ok(found) => found.requested_provisioned_concurrent_executions(),
            Err(error)
                if aws::not_found(&error)
                    || aws::code(&error)
                        == Some("ProvisionedConcurrencyConfigNotFoundException") =>
            {
                None
            }
            Err(error) => return Err(aws::failed("lambda:GetProvisionedConcurrencyConfig", error)),
        };
        let wanted = instances as i32;
        let action = match current {
            None => Action::Create,
            Some(current) if current == wanted => Action::Unchanged,
            Some(current) => Action::Update(vec![format!("{current} → {wanted}")]),
        };
        if !options.dry_run && action != Action::Unchanged {
            aws.lambda
                .put_provisioned_concurrency_config()
                .function_name(name)
                .qualifier(alias)
                .provisioned_concurrent_executions(wanted)
                .send()
                .await
                .map_err(|error| aws::failed("lambda:PutProvisionedConcurrencyConfig", error))?;
        }
        changes.push(Change::new(
            "concurrency",
            format!("provisioned {wanted} on `{alias}`"),
            action,
        ));
    }
    Ok((published, changes))
}

/// The highest published version number.
async fn latest_version(aws: &Aws, name: &str) -> Result<Option<String>, CliError> {
    let mut versions = aws
        .lambda
        .list_versions_by_function()
        .function_name(name)
        .into_paginator()
        .items()
        .send();
    let mut latest: Option<u64> = None;
    while let Some(version) = versions.next().await {
        let version =
            version.map_err(|error| aws::failed("lambda:ListVersionsByFunction", error))?;
        if let Some(number) = version
            .version()
            .and_then(|version| version.parse::<u64>().ok())
        {
            latest = latest.max(Some(number));
        }
    }
    Ok(latest.map(|number| number.to_string()))
}

/// The function URL: created, updated to the settings, or deleted when no longer asked for;
/// with the public permissions an `auth = "NONE"` URL needs.
async fn url(
    aws: &Aws,
    name: &str,
    qualifier: Option<&str>,
    wanted: Option<&UrlSettings>,
    options: Options,
) -> Result<(Vec<Change>, Option<String>), CliError> {
    let current = match aws
        .lambda
        .get_function_url_config()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_owned))
        .send()
        .await
    {
        Ok(found) => Some(found),
        Err(error) if aws::not_found(&error) => None,
        Err(error) => return Err(aws::failed("lambda:GetFunctionUrlConfig", error)),
    };
    let mut changes = Vec::new();
    let Some(wanted) = wanted else {
        if current.is_some() {
            if !options.dry_run {
                aws.lambda
                    .delete_function_url_config()
                    .function_name(name)
                    .set_qualifier(qualifier.map(str::to_owned))
                    .send()
                    .await
                    .map_err(|error| aws::failed("lambda:DeleteFunctionUrlConfig", error))?;
                public_permissions(aws, name, qualifier, false).await?;
            }
            changes.push(Change::new("url", name, Action::Delete));
        }
        return Ok((changes, None));
    };
    let auth = FunctionUrlAuthType::from(wanted.auth.as_str());
    let mode = InvokeMode::from(wanted.invoke_mode.as_str());
    let cors = wanted.cors.as_ref().map(|cors| {
        Cors::builder()
            .set_allow_origins(Some(cors.allow_origins.clone()).filter(|list| !list.is_empty()))
            .set_allow_methods(Some(cors.allow_methods.clone()).filter(|list| !list.is_empty()))
            .set_allow_headers(Some(cors.allow_headers.clone()).filter(|list| !list.is_empty()))
            .set_expose_headers(Some(cors.expose_headers.clone()).filter(|list| !list.is_empty()))
            .allow_credentials(cors.allow_credentials)
            .set_max_age(cors.max_age.map(|age| age as i32))
            .build()
    });
    let address = match current {
        None => {
            let address = if options.dry_run {
                None
            } else {
                let created = aws
                    .lambda
                    .create_function_url_config()
                    .function_name(name)
                    .set_qualifier(qualifier.map(str::to_owned))
                    .auth_type(auth.clone())
                    .invoke_mode(mode)
                    .set_cors(cors)
                    .send()
                    .await
                    .map_err(|error| aws::failed("lambda:CreateFunctionUrlConfig", error))?;
                Some(created.function_url().to_owned())
            };
            changes.push(Change::new("url", name, Action::Create));
            address
        }
        Some(current) => {
            let mut differences = Vec::new();
            if current.auth_type() != &auth {
                differences.push(format!(
                    "auth {} → {}",
                    current.auth_type().as_str(),
                    auth.as_str()
                ));
            }
            let current_mode = current
                .invoke_mode()
                .cloned()
                .unwrap_or(InvokeMode::Buffered);
            if current_mode != mode {
                differences.push(format!(
                    "invoke mode {} → {}",
                    current_mode.as_str(),
                    mode.as_str()
                ));
            }
            if !same_cors(current.cors(), cors.as_ref()) {
                differences.push("cors".into());
            }
            if !options.dry_run && !differences.is_empty() {
                aws.lambda
                    .update_function_url_config()
                    .function_name(name)
                    .set_qualifier(qualifier.map(str::to_owned))
                    .auth_type(auth.clone())
                    .invoke_mode(mode)
                    .cors(cors.unwrap_or_else(|| Cors::builder().build()))
                    .send()
                    .await
                    .map_err(|error| aws::failed("lambda:UpdateFunctionUrlConfig", error))?;
            }
            let action = if differences.is_empty() {
                Action::Unchanged
            } else {
                Action::Update(differences)
            };
            changes.push(Change::new("url", name, action));
            Some(current.function_url().to_owned())
        }
    };
    if !options.dry_run {
        public_permissions(aws, name, qualifier, auth == FunctionUrlAuthType::None).await?;
    }
    Ok((changes, address))
}

fn same_cors(current: Option<&Cors>, wanted: Option<&Cors>) -> bool {
    let empty = Cors::builder().build();
    let normal = |cors: Option<&Cors>| {
        let cors = cors.unwrap_or(&empty);
        (
            cors.allow_origins().to_vec(),
            cors.allow_methods().to_vec(),
            cors.allow_headers().to_vec(),
            cors.expose_headers().to_vec(),
            cors.allow_credentials().unwrap_or(false),
            cors.max_age(),
        )
    };
    normal(current) == normal(wanted)
}

/// Adds (`public`) or removes the permissions that let anyone call the URL.
async fn public_permissions(
    aws: &Aws,
    name: &str,
    qualifier: Option<&str>,
    public: bool,
) -> Result<(), CliError> {
    let present: Vec<String> = super::triggers::statements(aws, name, qualifier)
        .await?
        .into_iter()
        .map(|statement| statement.sid)
        .collect();
    for sid in [URL_PUBLIC, URL_INVOKE] {
        let has = present.iter().any(|id| id == sid);
        if public && !has {
            let request = aws
                .lambda
                .add_permission()
                .function_name(name)
                .set_qualifier(qualifier.map(str::to_owned))
                .statement_id(sid)
                .principal("*");
            let request = if sid == URL_PUBLIC {
                request
                    .action("lambda:InvokeFunctionUrl")
                    .function_url_auth_type(FunctionUrlAuthType::None)
            } else {
                // Since October 2025 a public URL also needs `lambda:InvokeFunction`, limited
                // to calls through the URL (AWS "Control access to function URLs").
                request
                    .action("lambda:InvokeFunction")
                    .invoked_via_function_url(true)
            };
            retry(RETRY_LIMIT, || request.clone().send(), not_yet)
                .await
                .map_err(|error| aws::failed("lambda:AddPermission", error))?;
        } else if !public && has {
            remove_permission(aws, name, qualifier, sid).await?;
        }
    }
    Ok(())
}

pub(super) async fn remove_permission(
    aws: &Aws,
    name: &str,
    qualifier: Option<&str>,
    sid: &str,
) -> Result<(), CliError> {
    match aws
        .lambda
        .remove_permission()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_owned))
        .statement_id(sid)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if aws::not_found(&error) => Ok(()),
        Err(error) => Err(aws::failed("lambda:RemovePermission", error)),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::{Arc, Mutex};

    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_sdk_lambda::types::TracingConfigResponse;
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::rt::TokioIo;

    use super::*;
    use crate::package::zip::Archive;
    use crate::project::Function;

    /// The requests a fake Lambda API received, as `METHOD path?query body` lines.
    pub(in crate::deploy) type Seen = Arc<Mutex<Vec<String>>>;

    /// How the fake answers `(method, path)`: status, error type, body.
    pub(in crate::deploy) type Answers =
        fn(&str, &str) -> (u16, Option<&'static str>, &'static str);

    /// An `Aws` whose calls reach a fake Lambda API on 127.0.0.1 that answers with `answers`:
    /// what moto does not implement is tested this way.
    pub(in crate::deploy) async fn aws(answers: Answers) -> (Aws, Seen) {
        let seen: Seen = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let log = Arc::clone(&log);
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|body| body.to_bytes())
                                .unwrap_or_default();
                            let target = parts
                                .uri
                                .path_and_query()
                                .map(ToString::to_string)
                                .unwrap_or_default();
                            log.lock().unwrap().push(
                                format!(
                                    "{} {target} {}",
                                    parts.method,
                                    String::from_utf8_lossy(&body)
                                )
                                .trim_end()
                                .to_owned(),
                            );
                            let (status, error_type, body) =
                                answers(parts.method.as_str(), parts.uri.path());
                            let mut response = http::Response::builder()
                                .status(status)
                                .header("content-type", "application/json");
                            if let Some(error_type) = error_type {
                                response = response.header("x-amzn-errortype", error_type);
                            }
                            Ok::<_, std::convert::Infallible>(
                                response
                                    .body(Full::new(bytes::Bytes::from_static(body.as_bytes())))
                                    .unwrap(),
                            )
                        }
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .endpoint_url(endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "a", "b", None, None, "tests",
            )))
            .http_client(crate::aws::http_client())
            .build();
        let aws = Aws {
            lambda: aws_sdk_lambda::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            s3: aws_sdk_s3::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            firehose: aws_sdk_firehose::Client::new(&config),
            signed: crate::aws::signed::Signed::new(&config, "aws"),
            ses: aws_sdk_ses::Client::new(&config),
            xray: aws_sdk_xray::Client::new(&config),
            sfn: aws_sdk_sfn::Client::new(&config),
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            partition: "aws".into(),
            local: None,
        };
        (aws, seen)
    }

    #[tokio::test]
    async fn provisioned_concurrency_is_put_on_the_alias_of_the_new_version() {
        let (aws, seen) = aws(|method, path| match (method, path) {
            ("GET", "/2015-03-31/functions/web/versions") => (
                200,
                None,
                r#"{"Versions":[{"Version":"$LATEST"},{"Version":"3"}]}"#,
            ),
            ("POST", "/2015-03-31/functions/web/versions") => (201, None, r#"{"Version":"4"}"#),
            ("GET", "/2015-03-31/functions/web/aliases/live") => {
                (200, None, r#"{"Name":"live","FunctionVersion":"3"}"#)
            }
            ("PUT", "/2015-03-31/functions/web/aliases/live") => {
                (200, None, r#"{"Name":"live","FunctionVersion":"4"}"#)
            }
            ("GET", "/2019-09-30/functions/web/provisioned-concurrency") => (
                404,
                Some("ProvisionedConcurrencyConfigNotFoundException"),
                r#"{"message":"No Provisioned Concurrency Config found"}"#,
            ),
            ("PUT", "/2019-09-30/functions/web/provisioned-concurrency") => (
                202,
                None,
                r#"{"RequestedProvisionedConcurrentExecutions":2,"Status":"IN_PROGRESS"}"#,
            ),
            _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
        })
        .await;
        let mut function = Function::standalone("web");
        function.deploy.alias = Some("live".into());
        function.deploy.provisioned_concurrency = Some(2);
        let code = Archive {
            bytes: Vec::new(),
            unzipped: 0,
        };
        let unit = Unit {
            function: &function,
            code: &code,
        };
        let (version, changes) = publish(&aws, &unit, true, Options::default())
            .await
            .unwrap();
        assert_eq!(version.as_deref(), Some("4"));
        let actions: Vec<String> = changes
            .iter()
            .map(|change| format!("{} {} {:?}", change.kind, change.name, change.action))
            .collect();
        assert_eq!(
            actions,
            [
                "version 4 Create",
                "alias live Update([\"version 3 → 4\"])",
                "concurrency provisioned 2 on `live` Create",
            ]
        );
        let seen = seen.lock().unwrap();
        assert!(
            seen.contains(
                &r#"PUT /2015-03-31/functions/web/aliases/live {"FunctionVersion":"4"}"#.to_owned()
            ),
            "{seen:#?}"
        );
        assert!(
            seen.contains(&r#"PUT /2019-09-30/functions/web/provisioned-concurrency?Qualifier=live {"ProvisionedConcurrentExecutions":2}"#.to_owned()),
            "{seen:#?}"
        );
    }

    /// A function's desired configuration, for the calls that take one.
    fn desired(function: &Function) -> Desired {
        Desired::of(function, "arn:aws:iam::123456789012:role/f-lambdakit")
    }

    #[tokio::test]
    async fn a_role_lambda_cannot_assume_yet_is_waited_for() {
        let (aws, seen) = aws(|method, path| {
            static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            match (method, path) {
                ("POST", "/2015-03-31/functions") => {
                    // What Lambda answers while IAM has not propagated a new role.
                    if CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 2 {
                        (
                            400,
                            Some("InvalidParameterValueException"),
                            r#"{"Type":"User","message":"The role defined for the function cannot be assumed by Lambda."}"#,
                        )
                    } else {
                        (201, None, r#"{"FunctionName":"f"}"#)
                    }
                }
                _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
            }
        })
        .await;
        let function = Function::standalone("f");
        let code = Code::Inline(b"zip".to_vec());
        create(&aws, "f", &desired(&function), &code, &HashMap::new())
            .await
            .unwrap();
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_function_on_managed_instances_names_its_capacity_provider() {
        let (aws, seen) = aws(|method, path| match (method, path) {
            ("POST", "/2015-03-31/functions") => (201, None, r#"{"FunctionName":"f"}"#),
            ("PUT", "/2015-03-31/functions/f/configuration") => {
                (200, None, r#"{"FunctionName":"f"}"#)
            }
            _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
        })
        .await;
        let mut function = Function::standalone("f");
        function.deploy.managed_instances = Some(super::super::settings::ManagedInstances {
            capacity_provider: super::super::settings::CapacityProvider::Existing(
                "arn:aws:lambda:eu-west-1:123456789012:capacity-provider:fleet".into(),
            ),
            concurrency: Some(32),
            memory_per_vcpu: Some(4),
        });
        let arn = "arn:aws:lambda:eu-west-1:123456789012:capacity-provider:fleet";
        let wanted = desired(&function).on_capacity(&function, Some(arn));
        let code = Code::Inline(b"zip".to_vec());
        create(&aws, "f", &wanted, &code, &HashMap::new())
            .await
            .unwrap();
        // On Lambda's own capacity before: the update moves it, and says so.
        let before = desired(&Function::standalone("f"));
        assert_eq!(
            wanted.differences(&before),
            ["capacity Lambda's own → fleet (32 at once)"]
        );
        update_configuration(&aws, "f", &wanted, &before)
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        let config = r#""CapacityProviderConfig":{"LambdaManagedInstancesCapacityProviderConfig":{"CapacityProviderArn":"arn:aws:lambda:eu-west-1:123456789012:capacity-provider:fleet","PerExecutionEnvironmentMaxConcurrency":32,"ExecutionEnvironmentMemoryGiBPerVCpu":4.0}}"#;
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|line| line.contains(config)), "{seen:#?}");
    }

    #[tokio::test]
    async fn other_invalid_values_fail_at_once() {
        let (aws, seen) = aws(|_, _| {
            (
                400,
                Some("InvalidParameterValueException"),
                r#"{"Type":"User","message":"Unzipped size must be smaller than 262144000 bytes"}"#,
            )
        })
        .await;
        let function = Function::standalone("f");
        let code = Code::Inline(b"zip".to_vec());
        let error = create(&aws, "f", &desired(&function), &code, &HashMap::new())
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("lambda:CreateFunction"),
            "{error}"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_update_still_in_progress_is_waited_for() {
        let (aws, seen) = aws(|method, path| {
            static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            match (method, path) {
                ("PUT", "/2015-03-31/functions/f/configuration") => {
                    if CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                        (
                            409,
                            Some("ResourceConflictException"),
                            r#"{"Type":"User","message":"The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:eu-west-1:123456789012:function:f"}"#,
                        )
                    } else {
                        (200, None, r#"{"FunctionName":"f"}"#)
                    }
                }
                _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
            }
        })
        .await;
        let function = Function::standalone("f");
        let wanted = desired(&function);
        update_configuration(&aws, "f", &wanted, &wanted)
            .await
            .unwrap();
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_per_tenant_function_is_created_with_its_tenancy_config() {
        let (aws, seen) = aws(|method, path| match (method, path) {
            ("POST", "/2015-03-31/functions") => (201, None, r#"{"FunctionName":"f"}"#),
            _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
        })
        .await;
        let mut function = Function::standalone("f");
        function.deploy.tenancy = Some(Tenancy::PerTenant);
        create(
            &aws,
            "f",
            &desired(&function),
            &Code::Inline(Vec::new()),
            &HashMap::new(),
        )
        .await
        .unwrap();
        let seen = seen.lock().unwrap();
        assert!(
            seen[0].contains(r#""TenancyConfig":{"TenantIsolationMode":"PER_TENANT"}"#),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn a_dead_letter_queue_or_vpc_is_sent_only_to_change_it() {
        let (aws, seen) = aws(|method, path| match (method, path) {
            ("PUT", "/2015-03-31/functions/f/configuration") => {
                (200, None, r#"{"FunctionName":"f"}"#)
            }
            _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
        })
        .await;
        let mut function = Function::standalone("f");
        let before = desired(&function);
        function.deploy.asynchronous = Some(crate::deploy::settings::AsyncSettings {
            dead_letter: Some("arn:aws:sqs:eu-west-1:123456789012:dead".into()),
            ..Default::default()
        });
        let after = desired(&function);
        assert_eq!(
            after.differences(&before),
            ["dead-letter queue none → arn:aws:sqs:eu-west-1:123456789012:dead"]
        );
        update_configuration(&aws, "f", &after, &before)
            .await
            .unwrap();
        // Taken away again: an empty target.
        update_configuration(&aws, "f", &before, &after)
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        assert!(
            seen[0].contains(
                r#""DeadLetterConfig":{"TargetArn":"arn:aws:sqs:eu-west-1:123456789012:dead"}"#
            ),
            "{seen:?}"
        );
        assert!(
            seen[1].contains(r#""DeadLetterConfig":{"TargetArn":""}"#),
            "{seen:?}"
        );
        assert!(
            seen.iter().all(|request| !request.contains("VpcConfig")),
            "{seen:?}"
        );
    }

    #[test]
    fn what_aws_reports_back_reads_as_what_was_asked() {
        let mut function = Function::standalone("f");
        function.memory_mb = 512;
        function.log_format = Some(crate::project::LogFormat::Json);
        function.log_level = Some(crate::project::LogLevel::Warn);
        function.deploy.tracing = Some(Tracing::Active);
        function.deploy.ephemeral_storage = Some(1024);
        function.deploy.layers = Some(vec!["arn:aws:lambda:eu-west-1:1:layer:l:1".into()]);
        function.environment.insert("A".into(), "1".into());
        let asked = desired(&function);
        // What Lambda reports after a create or update with that configuration.
        let reported = FunctionConfiguration::builder()
            .role("arn:aws:iam::123456789012:role/f-lambdakit")
            .runtime(Runtime::from("provided.al2023"))
            .memory_size(512)
            .timeout(3)
            .environment(
                aws_sdk_lambda::types::EnvironmentResponse::builder()
                    .variables("A", "1")
                    .build(),
            )
            .tracing_config(
                TracingConfigResponse::builder()
                    .mode(TracingMode::Active)
                    .build(),
            )
            .ephemeral_storage(asked.ephemeral_storage().unwrap())
            .logging_config(asked.logging())
            .layers(
                aws_sdk_lambda::types::Layer::builder()
                    .arn("arn:aws:lambda:eu-west-1:1:layer:l:1")
                    .build(),
            )
            .architectures(Architecture::X8664)
            .build();
        assert_eq!(
            asked.differences(&Desired::reported(&reported)),
            Vec::<String>::new()
        );
        // JSON logs carry the level; Text logs cannot (Lambda filters levels only in JSON).
        assert_eq!(
            asked.logging().application_log_level(),
            Some(&ApplicationLogLevel::Warn)
        );
        function.log_format = Some(crate::project::LogFormat::Text);
        let text = desired(&function);
        assert_eq!(text.logging().application_log_level(), None);
        let changed = text.differences(&Desired::reported(&reported));
        assert!(
            changed.contains(&"log format JSON → Text".to_owned()),
            "{changed:?}"
        );
    }

    #[test]
    fn an_env_files_values_show_as_a_hash_and_never_themselves() {
        let mut function = Function::standalone("f");
        function
            .environment
            .insert("PLAIN".into(), "visible".into());
        let before = desired(&function);
        function
            .environment
            .insert("PLAIN".into(), "changed".into());
        function
            .environment
            .insert("API_KEY".into(), "hunter2-secret".into());
        function.from_env_file.insert("API_KEY".into());
        let after = desired(&function);
        let changed = after.differences(&before);
        assert_eq!(
            changed,
            [format!(
                "environment `API_KEY` (set, {}) `PLAIN`",
                fingerprint("hunter2-secret")
            )]
        );
        assert_eq!(fingerprint("hunter2-secret").len(), 8);
        assert_ne!(fingerprint("hunter2-secret"), fingerprint("hunter3-secret"));
        assert!(!changed[0].contains("hunter2"), "{changed:?}");
    }
}
