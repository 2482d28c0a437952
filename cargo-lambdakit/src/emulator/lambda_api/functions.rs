//! Functions and their settings: `CreateFunction`, `GetFunction`,
//! `GetFunctionConfiguration`, `ListFunctions`, `UpdateFunctionCode`,
//! `UpdateFunctionConfiguration` and `DeleteFunction`, a function's `FunctionConfiguration`,
//! and the pools created functions run in (made again from the state directory by a later
//! serve). The zips they bring are checked and unpacked by `code`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::emulator::RequestBody;
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::code::{architecture, decoded_zip, runner};
use super::{
    invalid, json_response, last_modified, read_request, refused, remove_dir, service_error,
};
use crate::emulator::destinations::{Arn, Service};
use crate::emulator::state::{self, Config, Described, ManagedInstancesRecord, Record};
use crate::emulator::{Body, Emulator, Pool, Served, boxed, empty, function_name, lock, write};
use crate::project::Function;

/// How a function created through the control plane came to be: the configuration it runs
/// (of `$LATEST` or of a published version) and its directory under the state directory.
#[derive(Debug)]
pub(crate) struct Created {
    pub(super) config: Config,
    pub(super) dir: PathBuf,
}

/// The CreateFunction request body (AWS Lambda API reference, "CreateFunction").
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateRequest {
    function_name: String,
    runtime: Option<String>,
    role: Option<String>,
    handler: Option<String>,
    #[serde(default)]
    code: CodeRequest,
    memory_size: Option<u32>,
    timeout: Option<u64>,
    environment: Option<EnvironmentRequest>,
    architectures: Option<Vec<String>>,
    package_type: Option<String>,
    description: Option<String>,
    #[serde(default)]
    publish: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    dead_letter_config: Option<DeadLetterRequest>,
    tenancy_config: Option<TenancyRequest>,
    #[serde(flatten)]
    described: DescribedRequest,
}

/// `TenancyConfig` of CreateFunction (AWS Lambda API reference, "TenancyConfig"): fixed when
/// the function is created.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TenancyRequest {
    tenant_isolation_mode: String,
}

/// The UpdateFunctionCode request body (AWS Lambda API reference, "UpdateFunctionCode").
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateCodeRequest {
    zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    s3_bucket: Option<String>,
    image_uri: Option<String>,
    architectures: Option<Vec<String>>,
    revision_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    publish: bool,
}

/// The UpdateFunctionConfiguration request body (AWS Lambda API reference,
/// "UpdateFunctionConfiguration"); what the local Lambda does not run by is kept and reported
/// (tracing, ephemeral storage, logging) or taken and ignored (VPC, ...).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateConfigurationRequest {
    runtime: Option<String>,
    role: Option<String>,
    handler: Option<String>,
    description: Option<String>,
    memory_size: Option<u32>,
    timeout: Option<u64>,
    environment: Option<EnvironmentRequest>,
    revision_id: Option<String>,
    dead_letter_config: Option<DeadLetterRequest>,
    #[serde(flatten)]
    described: DescribedRequest,
}

/// `DeadLetterConfig` (AWS Lambda API reference, "DeadLetterConfig"): an empty or missing
/// `TargetArn` removes the dead-letter queue.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeadLetterRequest {
    target_arn: Option<String>,
}

impl DeadLetterRequest {
    /// The queue or topic it names, checked: a dead-letter queue is an SQS queue or an SNS
    /// topic (AWS "Adding a dead-letter queue").
    fn target(self) -> Result<Option<String>, String> {
        let Some(arn) = self.target_arn.filter(|arn| !arn.is_empty()) else {
            return Ok(None);
        };
        match Arn::parse(&arn).map(|parsed| parsed.service) {
            Ok(Service::Sqs | Service::Sns) => Ok(Some(arn)),
            _ => Err(format!(
                "DeadLetterConfig.TargetArn `{arn}` is not the ARN of an SQS queue or an SNS topic, the dead-letter queues Lambda takes"
            )),
        }
    }
}

/// The settings of CreateFunction and UpdateFunctionConfiguration the local Lambda keeps and
/// reports, and runs by in part (the layers' extensions) or not at all (see [`Described`]).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribedRequest {
    layers: Option<Vec<String>>,
    tracing_config: Option<TracingRequest>,
    ephemeral_storage: Option<EphemeralStorageRequest>,
    logging_config: Option<LoggingRequest>,
    capacity_provider_config: Option<CapacityProviderRequest>,
}

/// `CapacityProviderConfig` (AWS Lambda API reference, "CapacityProviderConfig"): the function
/// runs on Lambda Managed Instances.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CapacityProviderRequest {
    lambda_managed_instances_capacity_provider_config: ManagedInstancesRequest,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManagedInstancesRequest {
    capacity_provider_arn: String,
    per_execution_environment_max_concurrency: Option<u32>,
    #[serde(rename = "ExecutionEnvironmentMemoryGiBPerVCpu")]
    memory_gib_per_vcpu: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TracingRequest {
    mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EphemeralStorageRequest {
    size: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LoggingRequest {
    log_format: Option<String>,
    application_log_level: Option<String>,
    system_log_level: Option<String>,
    log_group: Option<String>,
}

impl DescribedRequest {
    /// Sets what the request gives on `described`, checked as Lambda checks it (AWS Lambda API
    /// reference, "TracingConfig", "EphemeralStorage", "LoggingConfig").
    fn apply(self, described: &mut Described) -> Result<(), String> {
        if let Some(layers) = self.layers {
            if layers.len() > 5 {
                return Err("a function takes at most 5 layers".into());
            }
            described.layers = layers;
        }
        if let Some(mode) = self.tracing_config.and_then(|tracing| tracing.mode) {
            if mode != "Active" && mode != "PassThrough" {
                return Err(format!(
                    "TracingConfig.Mode is `{mode}`; Lambda takes `Active` or `PassThrough`"
                ));
            }
            described.tracing_mode = mode;
        }
        if let Some(capacity) = self.capacity_provider_config {
            let managed = capacity.lambda_managed_instances_capacity_provider_config;
            let arn = &managed.capacity_provider_arn;
            if !(arn.starts_with("arn:") && arn.contains(":capacity-provider:")) {
                return Err(format!(
                    "CapacityProviderConfig's CapacityProviderArn is `{arn}`, not a capacity provider's ARN (`arn:aws:lambda:REGION:ACCOUNT:capacity-provider:NAME`)"
                ));
            }
            if let Some(concurrency) = managed.per_execution_environment_max_concurrency
                && !(1..=1600).contains(&concurrency)
            {
                return Err(format!(
                    "PerExecutionEnvironmentMaxConcurrency is {concurrency}; Lambda takes 1 to 1600"
                ));
            }
            if let Some(memory) = managed.memory_gib_per_vcpu
                && !(2.0..=8.0).contains(&memory)
            {
                return Err(format!(
                    "ExecutionEnvironmentMemoryGiBPerVCpu is {memory}; Lambda takes 2 to 8"
                ));
            }
            described.managed_instances = Some(ManagedInstancesRecord {
                capacity_provider_arn: managed.capacity_provider_arn,
                per_execution_environment_max_concurrency: managed
                    .per_execution_environment_max_concurrency,
                memory_gib_per_vcpu: managed.memory_gib_per_vcpu,
            });
        }
        if let Some(storage) = self.ephemeral_storage {
            if !(512..=10_240).contains(&storage.size) {
                return Err(format!(
                    "EphemeralStorage.Size is {}; Lambda takes 512 to 10240 (MB)",
                    storage.size
                ));
            }
            described.ephemeral_storage_mb = storage.size;
        }
        if let Some(logging) = self.logging_config {
            if let Some(format) = logging.log_format {
                if format != "Text" && format != "JSON" {
                    return Err(format!(
                        "LoggingConfig.LogFormat is `{format}`; Lambda takes `Text` or `JSON`"
                    ));
                }
                if format == "Text" {
                    described.application_log_level = None;
                    described.system_log_level = None;
                }
                described.log_format = format;
            }
            let levels = [
                (logging.application_log_level, "ApplicationLogLevel"),
                (logging.system_log_level, "SystemLogLevel"),
            ];
            for (level, field) in levels {
                let Some(level) = level else { continue };
                if described.log_format != "JSON" {
                    return Err(format!(
                        "LoggingConfig.{field} needs LogFormat `JSON`: Lambda filters log levels only in JSON"
                    ));
                }
                let valid = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
                if !valid.contains(&level.as_str()) {
                    return Err(format!(
                        "LoggingConfig.{field} is `{level}`; Lambda takes one of {}",
                        valid.join(", ")
                    ));
                }
                if field == "SystemLogLevel" {
                    described.system_log_level = Some(level);
                } else {
                    described.application_log_level = Some(level);
                }
            }
            if let Some(group) = logging.log_group {
                described.log_group = Some(group);
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CodeRequest {
    zip_file: Option<String>,
    s3_bucket: Option<String>,
    image_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnvironmentRequest {
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

impl Emulator {
    /// `GetFunction`: the configuration, where its code is (a created function's, at
    /// `/lambdakit/code/` on `host`), its reserved concurrency and tags.
    pub(super) fn get_function(
        &self,
        name: &str,
        qualifier: Option<&str>,
        host: Option<&str>,
    ) -> Response<Body> {
        let (pool, configuration) = match self.described(name, qualifier) {
            Ok(described) => described,
            Err(refusal) => return *refusal,
        };
        let mut code = json!({ "RepositoryType": "S3" });
        if pool.created.is_some()
            && let Some(host) = host
        {
            let file = match pool.version.as_str() {
                "$LATEST" => name.to_owned(),
                version => format!("{name}:{version}"),
            };
            code["Location"] = json!(format!("http://{host}/lambdakit/code/{file}.zip"));
        }
        let mut answer = json!({ "Configuration": configuration, "Code": code });
        let reserved = lock(&self.records)
            .get(name)
            .and_then(|record| record.reserved_concurrency);
        if let Some(reserved) = reserved {
            answer["Concurrency"] = json!({ "ReservedConcurrentExecutions": reserved });
        }
        let tags = lock(&self.records)
            .get(name)
            .map(|record| record.tags.clone())
            .filter(|tags| !tags.is_empty());
        if let Some(tags) = tags {
            answer["Tags"] = json!(tags);
        }
        json_response(StatusCode::OK, &answer)
    }

    /// `GetFunctionConfiguration`.
    pub(super) fn get_configuration(&self, name: &str, qualifier: Option<&str>) -> Response<Body> {
        match self.described(name, qualifier) {
            Ok((_, configuration)) => json_response(StatusCode::OK, &configuration),
            Err(refusal) => *refusal,
        }
    }

    /// `ListFunctions`, a page at a time: `MaxItems` (1 to 10000, 50 by default) after
    /// `Marker`, the `NextMarker` of the page before (the name of its last function).
    pub(super) fn list(&self, marker: Option<&str>, max_items: usize) -> Response<Body> {
        let pools = self.all_pools();
        let after: Vec<_> = pools
            .iter()
            .filter(|pool| marker.is_none_or(|marker| pool.function.name.as_str() > marker))
            .collect();
        let page = &after[..after.len().min(max_items)];
        let functions: Vec<Value> = page.iter().map(|pool| self.configuration(pool)).collect();
        let mut answer = json!({ "Functions": functions });
        if after.len() > page.len()
            && let Some(last) = page.last()
        {
            answer["NextMarker"] = json!(last.function.name);
        }
        json_response(StatusCode::OK, &answer)
    }

    /// A function's configuration, as `FunctionConfiguration` in the Lambda API.
    pub(super) fn configuration(&self, pool: &Pool) -> Value {
        let function = &pool.function;
        let mut configuration = json!({
            "FunctionName": function.name,
            "FunctionArn": pool.arn,
            "MemorySize": function.memory_mb,
            "Timeout": function.timeout.as_secs(),
            "Architectures": [function.architecture],
            "PackageType": "Zip",
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "Version": pool.version,
        });
        let default = Described::default();
        let described = pool
            .created
            .as_ref()
            .map_or(&default, |created| &created.config.described);
        configuration["Description"] = json!("");
        configuration["EphemeralStorage"] = json!({ "Size": described.ephemeral_storage_mb });
        configuration["TracingConfig"] = json!({ "Mode": described.tracing_mode });
        let mut logging = json!({
            "LogFormat": described.log_format,
            "LogGroup": described
                .log_group
                .clone()
                .unwrap_or_else(|| format!("/aws/lambda/{}", function.name)),
        });
        if let Some(level) = &described.application_log_level {
            logging["ApplicationLogLevel"] = json!(level);
        }
        if let Some(level) = &described.system_log_level {
            logging["SystemLogLevel"] = json!(level);
        }
        configuration["LoggingConfig"] = logging;
        if described.per_tenant {
            configuration["TenancyConfig"] = json!({ "TenantIsolationMode": "PER_TENANT" });
        }
        if let Some(managed) = &described.managed_instances {
            let mut config = json!({ "CapacityProviderArn": managed.capacity_provider_arn });
            if let Some(concurrency) = managed.per_execution_environment_max_concurrency {
                config["PerExecutionEnvironmentMaxConcurrency"] = json!(concurrency);
            }
            if let Some(memory) = managed.memory_gib_per_vcpu {
                config["ExecutionEnvironmentMemoryGiBPerVCpu"] = json!(memory);
            }
            configuration["CapacityProviderConfig"] =
                json!({ "LambdaManagedInstancesCapacityProviderConfig": config });
        }
        if !described.layers.is_empty() {
            let layers: Vec<Value> = described
                .layers
                .iter()
                .map(|arn| json!({ "Arn": arn, "CodeSize": self.layer_code_size(arn) }))
                .collect();
            configuration["Layers"] = json!(layers);
        }
        if !function.environment.is_empty() {
            configuration["Environment"] = json!({ "Variables": function.environment });
        }
        match &pool.created {
            Some(Created { config, .. }) => {
                configuration["Runtime"] = json!(config.runtime);
                configuration["CodeSize"] = json!(config.code_size);
                configuration["CodeSha256"] = json!(config.code_sha256);
                configuration["LastModified"] = json!(config.last_modified);
                configuration["RevisionId"] = json!(config.revision_id);
                if let Some(target) = &config.dead_letter_target {
                    configuration["DeadLetterConfig"] = json!({ "TargetArn": target });
                }
                configuration["Description"] = json!(config.description);
                if let Some(role) = &config.role {
                    configuration["Role"] = json!(role);
                }
                if let Some(handler) = &config.handler {
                    configuration["Handler"] = json!(handler);
                }
            }
            None => {
                // Built by serve: an OS-only runtime's bootstrap, its size the binary's.
                configuration["Runtime"] = json!("provided.al2023");
                configuration["Handler"] = json!("bootstrap");
                if let Ok(metadata) = std::fs::metadata(&pool.binary) {
                    configuration["CodeSize"] = json!(metadata.len());
                    if let Ok(modified) = metadata.modified() {
                        configuration["LastModified"] = json!(last_modified(modified));
                    }
                }
            }
        }
        configuration
    }

    /// `CreateFunction`: unpack, check, record, and serve.
    pub(super) async fn create(&self, body: RequestBody) -> Response<Body> {
        let mut request: CreateRequest = match read_request(body, "CreateFunction").await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        let name = function_name(&request.function_name);
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return invalid(&format!(
                "FunctionName `{name}` is not a function name: 1 to 64 letters, digits, `-` and `_`"
            ));
        }
        let settings = match Settings::check(&request) {
            Ok(settings) => settings,
            Err(message) => return invalid(&message),
        };
        let mut described = Described::default();
        if let Err(message) = std::mem::take(&mut request.described).apply(&mut described) {
            return invalid(&message);
        }
        match request.tenancy_config.take() {
            None => {}
            Some(tenancy) if tenancy.tenant_isolation_mode == "PER_TENANT" => {
                described.per_tenant = true;
            }
            Some(tenancy) => {
                return invalid(&format!(
                    "TenancyConfig.TenantIsolationMode is `{}`; Lambda takes `PER_TENANT`",
                    tenancy.tenant_isolation_mode
                ));
            }
        }
        let dead_letter_target = match request
            .dead_letter_config
            .take()
            .map(DeadLetterRequest::target)
        {
            None => None,
            Some(Ok(target)) => target,
            Some(Err(message)) => return invalid(&message),
        };
        let _changing = self.changes.lock().await;
        if self.pool(&name).is_some() {
            return self.exists(&name);
        }
        if let Err(message) = self.check_layers(&described.layers) {
            return invalid(&message);
        }
        if let Some(path) = lock(&self.kept).get(&name) {
            return refused(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                &format!(
                    "the state directory holds a function `{name}` that is not served (`{}`); fix or remove it first",
                    path.display()
                ),
            );
        }
        let dir = self.state.join(&name);
        // The function's directory is made here and is its own: a refusal from here on
        // removes it, so none is left to block the name after a restart.
        if let Err(refusal) = self.make_function_dir(&dir).await {
            return refusal;
        }
        let code = match self
            .unpack_code(&dir, settings.zip, &settings.architecture)
            .await
        {
            Ok(code) => code,
            Err(refusal) => {
                remove_dir(dir).await;
                return refusal;
            }
        };
        let config = Config {
            runtime: settings.runtime,
            role: request.role,
            handler: request.handler,
            description: request.description.unwrap_or_default(),
            memory_mb: settings.memory_mb,
            timeout_seconds: settings.timeout,
            environment: settings.environment,
            architecture: settings.architecture,
            code: code.id,
            code_size: code.size,
            code_sha256: code.sha256,
            last_modified: last_modified(std::time::SystemTime::now()),
            revision_id: crate::emulator::ids::request_id(),
            dead_letter_target,
            described,
        };
        let mut record = Record::new(&name, config);
        record.tags = request.tags;
        let pool = match self.created_pool(&record.latest, &name, None, record.reserved_concurrency)
        {
            Ok(pool) => Arc::new(pool),
            Err(problem) => {
                remove_dir(dir).await;
                return invalid(&problem);
            }
        };
        if let Err(refusal) = self.save(&record).await {
            remove_dir(dir).await;
            return refusal;
        }
        lock(&self.records).insert(name.clone(), record);
        write(&self.pools).insert(name.clone(), Arc::clone(&pool));
        println!("lambdakit: created {name}");
        if request.publish {
            // Answered with version 1's configuration, as AWS answers.
            return self
                .publish_locked(&name, super::versions::PublishRequest::default())
                .await;
        }
        json_response(StatusCode::CREATED, &self.configuration(&pool))
    }

    /// The pool running `config` of the created function `name` (of its version `version`, or
    /// of `$LATEST`).
    pub(super) fn created_pool(
        &self,
        config: &Config,
        name: &str,
        version: Option<u64>,
        reserved_concurrency: Option<u32>,
    ) -> Result<Pool, String> {
        let dir = self.state.join(name);
        let mut function = Function::standalone(name);
        function.memory_mb = config.memory_mb;
        function.timeout = Duration::from_secs(config.timeout_seconds);
        function.environment.clone_from(&config.environment);
        function.architecture = architecture(&config.architecture)?;
        if let Some(reserved) = reserved_concurrency {
            function.concurrency = reserved as usize;
        }
        if config.described.per_tenant {
            function.deploy.tenancy = Some(crate::deploy::settings::Tenancy::PerTenant);
        }
        if let Some(managed) = &config.described.managed_instances {
            use crate::deploy::settings::{CapacityProvider, ManagedInstances};
            function.deploy.managed_instances = Some(ManagedInstances {
                capacity_provider: CapacityProvider::Existing(
                    managed.capacity_provider_arn.clone(),
                ),
                concurrency: managed.per_execution_environment_max_concurrency,
                // Whole GiB, as the settings give it; Lambda takes 2 to 8.
                memory_per_vcpu: managed.memory_gib_per_vcpu.map(|memory| memory as u32),
            });
        }
        let runner = runner(&config.architecture)?;
        let binary = dir.join(&config.code).join("code").join("bootstrap");
        let extensions = self.layer_extensions(&config.described.layers)?;
        let mut pool = Pool::new(
            Served {
                function,
                binary,
                runner,
                extensions,
            },
            &self.region,
            // Code brought by a caller: never the shell's credentials.
            &crate::emulator::guard::created_environment(&self.passed_environment),
            self.cost,
            self.common(),
            Some(Created {
                config: config.clone(),
                dir,
            }),
        );
        if let Some(version) = version {
            pool.arn = format!("{}:{version}", pool.arn);
            pool.version = version.to_string();
        }
        Ok(pool)
    }

    /// Serves the functions an earlier serve created and kept in the state directory;
    /// returns a warning (and a hint) for each that cannot be served, which is left as it is
    /// on disk while the others are served.
    pub fn load_state(&self) -> Vec<String> {
        let (records, broken) = state::load(&self.state);
        let mut warnings = self.load_event_configs();
        // Before the functions, which run their extensions.
        warnings.extend(self.load_layers());
        for broken in broken {
            warnings.push(broken.warning(&self.state));
            lock(&self.kept).insert(broken.name, broken.path);
        }
        for record in records {
            let name = record.name.clone();
            let file = self.state.join(&name).join(state::RECORD);
            if self.pool(&name).is_some() {
                warnings.push(format!(
                    "warning: created function `{name}` is not served: the project has a function of that name\nhint: serve the other project elsewhere, or move `{}` out of the state directory",
                    self.state.join(&name).display()
                ));
                lock(&self.kept).insert(name, file);
                continue;
            }
            match self.created_pool(&record.latest, &name, None, record.reserved_concurrency) {
                Ok(pool) => {
                    write(&self.pools).insert(name.clone(), Arc::new(pool));
                    lock(&self.records).insert(name, record);
                }
                Err(problem) => {
                    warnings.push(format!(
                        "warning: created function `{name}` is not served: {problem}\nhint: its entry `{}` is kept as it is",
                        file.display()
                    ));
                    lock(&self.kept).insert(name, file);
                }
            }
        }
        // Deleted layer versions that only a function now gone still ran.
        if let Err(warning) = self.unused_layer_versions().apply() {
            warnings.push(format!("warning: {warning}"));
        }
        warnings
    }

    /// Makes `dir`, a new function's directory in the state directory; refused when something
    /// is there already (left by hand, since serve started), which is not serve's to remove.
    async fn make_function_dir(&self, dir: &std::path::Path) -> Result<(), Response<Body>> {
        if let Err(error) = tokio::fs::create_dir_all(&self.state).await {
            return Err(service_error(&format!(
                "cannot make the state directory `{}`: {error}",
                self.state.display()
            )));
        }
        match tokio::fs::create_dir(dir).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Err(refused(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                &format!(
                    "the state directory holds `{}` already, which serve did not make; move it away first",
                    dir.display()
                ),
            )),
            Err(error) => Err(service_error(&format!(
                "cannot make `{}`: {error}",
                dir.display()
            ))),
        }
    }

    fn exists(&self, name: &str) -> Response<Body> {
        refused(
            StatusCode::CONFLICT,
            "ResourceConflictException",
            &format!("Function already exist: {name}"),
        )
    }

    /// Keeps `record` and serves its new `$LATEST`: new invocations start instances of it,
    /// the old idle ones stop, and busy ones stop when their invocation ends. `old_code` is
    /// removed once nothing runs it.
    pub(super) async fn replace_latest(&self, record: Record, old_code: &str) -> Response<Body> {
        let name = record.name.clone();
        let pool = match self.created_pool(&record.latest, &name, None, record.reserved_concurrency)
        {
            Ok(pool) => Arc::new(pool),
            Err(problem) => return invalid(&problem),
        };
        if let Err(refusal) = self.save(&record).await {
            return refusal;
        }
        let unused = !record.uses(old_code);
        lock(&self.records).insert(name.clone(), record);
        let old = write(&self.pools).insert(name.clone(), Arc::clone(&pool));
        if let Some(old) = old {
            old.stop_idle().await;
        }
        if unused {
            remove_dir(self.state.join(&name).join(old_code)).await;
        }
        self.sweep_layers().await;
        json_response(StatusCode::OK, &self.configuration(&pool))
    }

    /// `UpdateFunctionCode`: a new zip, checked as CreateFunction checks it.
    pub(super) async fn update_code(&self, name: &str, body: RequestBody) -> Response<Body> {
        let request: UpdateCodeRequest = match read_request(body, "UpdateFunctionCode").await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        if request.image_uri.is_some() {
            return invalid("the local Lambda runs zip packages only, not container images");
        }
        if request.s3_bucket.is_some() {
            return invalid("the local Lambda takes code as ZipFile only, not from S3");
        }
        let zip = match decoded_zip(request.zip_file.as_deref(), "ZipFile") {
            Ok(zip) => zip,
            Err(problem) => return invalid(&problem),
        };
        let _changing = self.changes.lock().await;
        let mut record = match self.record(name, "UpdateFunctionCode") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        if let Err(refusal) = Self::same_revision(request.revision_id.as_deref(), &record.latest) {
            return *refusal;
        }
        let architecture = match request.architectures.as_deref() {
            None => record.latest.architecture.clone(),
            given => match checked_architecture(given) {
                Ok(architecture) => architecture,
                Err(problem) => return invalid(&problem),
            },
        };
        let dir = self.state.join(name);
        let code = match self.unpack_code(&dir, zip, &architecture).await {
            Ok(code) => code,
            Err(refusal) => return refusal,
        };
        if request.dry_run {
            // Checked, and nothing changes.
            remove_dir(dir.join(&code.id)).await;
            let pool = self.pool(name);
            return match pool {
                Some(pool) => json_response(StatusCode::OK, &self.configuration(&pool)),
                None => boxed(self.not_found(name)),
            };
        }
        let old_code = std::mem::replace(&mut record.latest.code, code.id);
        record.latest.code_size = code.size;
        record.latest.code_sha256 = code.sha256;
        record.latest.architecture = architecture;
        record.latest.last_modified = last_modified(std::time::SystemTime::now());
        record.latest.revision_id = crate::emulator::ids::request_id();
        let new_code = record.latest.code.clone();
        let response = self.replace_latest(record, &old_code).await;
        if !response.status().is_success() {
            remove_dir(dir.join(new_code)).await;
            return response;
        }
        println!("lambdakit: updated the code of {name}");
        if request.publish {
            let published = self
                .publish_locked(name, super::versions::PublishRequest::default())
                .await;
            // UpdateFunctionCode answers 200, with the new version's configuration.
            return match published.status() {
                StatusCode::CREATED => {
                    let (mut parts, body) = published.into_parts();
                    parts.status = StatusCode::OK;
                    Response::from_parts(parts, body)
                }
                _ => published,
            };
        }
        response
    }

    /// `UpdateFunctionConfiguration`: what is given changes; the next invocation starts an
    /// instance with it.
    pub(super) async fn update_configuration(
        &self,
        name: &str,
        body: RequestBody,
    ) -> Response<Body> {
        let request: UpdateConfigurationRequest =
            match read_request(body, "UpdateFunctionConfiguration").await {
                Ok(request) => request,
                Err(refusal) => return refusal,
            };
        let _changing = self.changes.lock().await;
        let mut record = match self.record(name, "UpdateFunctionConfiguration") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        if let Err(refusal) = Self::same_revision(request.revision_id.as_deref(), &record.latest) {
            return *refusal;
        }
        let layers_given = request.described.layers.is_some();
        let latest = &mut record.latest;
        let checked = (|| -> Result<(), String> {
            if let Some(runtime) = request.runtime {
                latest.runtime = checked_runtime(runtime)?;
            }
            if let Some(memory) = request.memory_size {
                latest.memory_mb = checked_memory(memory)?;
            }
            if let Some(timeout) = request.timeout {
                latest.timeout_seconds = checked_timeout(timeout)?;
            }
            if let Some(dead_letter) = request.dead_letter_config {
                latest.dead_letter_target = dead_letter.target()?;
            }
            request.described.apply(&mut latest.described)?;
            if layers_given {
                self.check_layers(&latest.described.layers)?;
            }
            Ok(())
        })();
        if let Err(problem) = checked {
            return invalid(&problem);
        }
        if let Some(role) = request.role {
            latest.role = Some(role);
        }
        if let Some(handler) = request.handler {
            latest.handler = Some(handler);
        }
        if let Some(description) = request.description {
            latest.description = description;
        }
        if let Some(environment) = request.environment {
            latest.environment = environment.variables;
        }
        latest.last_modified = last_modified(std::time::SystemTime::now());
        latest.revision_id = crate::emulator::ids::request_id();
        let code = latest.code.clone();
        let response = self.replace_latest(record, &code).await;
        if response.status().is_success() {
            println!("lambdakit: updated the configuration of {name}");
        }
        response
    }

    /// `DeleteFunction`: forget it, stop its instances, remove its code.
    pub(super) async fn delete(&self, name: &str) -> Response<Body> {
        let _changing = self.changes.lock().await;
        let pool = {
            let mut pools = write(&self.pools);
            match pools.get(name) {
                None => return boxed(self.not_found(name)),
                Some(pool) if pool.created.is_none() => {
                    return refused(
                        StatusCode::CONFLICT,
                        "ResourceConflictException",
                        &format!(
                            "`{name}` is a function of the project this serve runs; it cannot be deleted"
                        ),
                    );
                }
                Some(_) => pools.remove(name),
            }
        };
        lock(&self.records).remove(name);
        self.queues.forget(name);
        if let Err(refusal) = self.save_event_configs().await {
            // The function is gone all the same; its configs would be followed again only
            // should a function of its name be created.
            eprintln!(
                "warning: deleting `{name}` left its event invoke configs in the state directory ({})",
                refusal.status()
            );
        }
        for version in self.forget_versions(name) {
            version.stop_idle().await;
        }
        if let Some(pool) = pool {
            // Busy instances stop when their invocation ends and drops the last `Arc`.
            pool.stop_idle().await;
            remove_dir(self.state.join(name)).await;
            println!("lambdakit: deleted {name}");
        }
        self.sweep_layers().await;
        boxed(empty(StatusCode::NO_CONTENT))
    }
}

/// A CreateFunction's settings, checked as Lambda checks them.
#[derive(Debug)]
struct Settings {
    runtime: String,
    memory_mb: u32,
    timeout: u64,
    environment: BTreeMap<String, String>,
    architecture: String,
    zip: Vec<u8>,
}

impl Settings {
    fn check(request: &CreateRequest) -> Result<Self, String> {
        if request.package_type.as_deref() == Some("Image") || request.code.image_uri.is_some() {
            return Err("the local Lambda runs zip packages only, not container images".into());
        }
        let runtime = checked_runtime(request.runtime.clone().ok_or(
            "Runtime is required for a zip package; the local Lambda runs `provided.al2023` and `provided.al2`",
        )?)?;
        let memory_mb = checked_memory(request.memory_size.unwrap_or(128))?;
        let timeout = checked_timeout(request.timeout.unwrap_or(3))?;
        let architecture = checked_architecture(request.architectures.as_deref())?;
        if request.code.s3_bucket.is_some() {
            return Err("the local Lambda takes code as Code.ZipFile only, not from S3".into());
        }
        let zip = decoded_zip(request.code.zip_file.as_deref(), "Code.ZipFile")?;
        Ok(Self {
            runtime,
            memory_mb,
            timeout,
            environment: request
                .environment
                .as_ref()
                .map(|environment| environment.variables.clone())
                .unwrap_or_default(),
            architecture,
            zip,
        })
    }
}

fn checked_runtime(runtime: String) -> Result<String, String> {
    if matches!(
        runtime.as_str(),
        "provided.al2023" | "provided.al2" | "provided"
    ) {
        Ok(runtime)
    } else {
        Err(format!(
            "the runtime parameter of {runtime} is not run by the local Lambda: it runs OS-only runtimes (`provided.al2023`, `provided.al2`)"
        ))
    }
}

fn checked_memory(memory_mb: u32) -> Result<u32, String> {
    if (128..=10_240).contains(&memory_mb) {
        Ok(memory_mb)
    } else {
        Err(format!(
            "MemorySize is {memory_mb}; Lambda takes 128 to 10240 (MB)"
        ))
    }
}

fn checked_timeout(timeout: u64) -> Result<u64, String> {
    if (1..=900).contains(&timeout) {
        Ok(timeout)
    } else {
        Err(format!(
            "Timeout is {timeout}; Lambda takes 1 to 900 (seconds)"
        ))
    }
}

fn checked_architecture(architectures: Option<&[String]>) -> Result<String, String> {
    match architectures {
        None | Some([]) => Ok("x86_64".to_owned()),
        Some([one]) if one == "x86_64" || one == "arm64" => Ok(one.clone()),
        Some(other) => Err(format!(
            "Architectures is {other:?}; Lambda takes one of `x86_64` and `arm64`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_not_run_by_are_kept_checked_as_lambda_checks_them() {
        let request = |json: &str| serde_json::from_str::<DescribedRequest>(json).unwrap();
        let mut described = Described::default();
        request(
            r#"{"Layers":["arn:aws:lambda:us-east-1:1:layer:l:1"],"TracingConfig":{"Mode":"Active"},"EphemeralStorage":{"Size":1024},"LoggingConfig":{"LogFormat":"JSON","ApplicationLogLevel":"WARN"}}"#,
        )
        .apply(&mut described)
        .unwrap();
        assert_eq!(described.layers, ["arn:aws:lambda:us-east-1:1:layer:l:1"]);
        assert_eq!(described.tracing_mode, "Active");
        assert_eq!(described.ephemeral_storage_mb, 1024);
        assert_eq!(described.application_log_level.as_deref(), Some("WARN"));
        // Back to Text: the levels go, as Lambda keeps them only for JSON.
        request(r#"{"LoggingConfig":{"LogFormat":"Text"}}"#)
            .apply(&mut described)
            .unwrap();
        assert_eq!(described.application_log_level, None);
        assert_eq!(described.tracing_mode, "Active");
        for (refused, because) in [
            (
                r#"{"LoggingConfig":{"SystemLogLevel":"INFO"}}"#,
                "needs LogFormat `JSON`",
            ),
            (r#"{"EphemeralStorage":{"Size":100}}"#, "512 to 10240"),
            (
                r#"{"TracingConfig":{"Mode":"On"}}"#,
                "`Active` or `PassThrough`",
            ),
        ] {
            let problem = request(refused).apply(&mut described).unwrap_err();
            assert!(problem.contains(because), "{problem}");
        }
    }

    /// `CreateFunction` of `name` from `zip`, on the emulator at `address`: the status and the
    /// whole answer.
    async fn create_function(address: std::net::SocketAddr, name: &str, zip: &[u8]) -> String {
        use base64::Engine as _;
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let body = json!({
            "FunctionName": name,
            "Runtime": "provided.al2023",
            "Role": "arn:aws:iam::123456789012:role/local",
            "Handler": "bootstrap",
            "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)},
        })
        .to_string();
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(
                format!(
                    "POST /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn a_creation_refused_half_way_leaves_nothing_behind() {
        let root = std::env::temp_dir().join(format!("lambdakit-half-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let state = root.join("state");
        let emulator = Arc::new(Emulator::new(
            Vec::new(),
            "us-east-1",
            &BTreeMap::new(),
            false,
            state.clone(),
        ));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let serving = tokio::spawn(Arc::clone(&emulator).serve(listener));
        let bootstrap = ("bootstrap", "#!/bin/sh\nsleep 1", true);

        // Checked fit, but `lib` cannot be both a file and a directory: unpacking stops.
        let refused = create_function(
            address,
            "half",
            &super::super::code::tests::python_zip(&[
                bootstrap,
                ("lib", "a file", false),
                ("lib/inside", "a file in a directory", false),
            ]),
        )
        .await;
        assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
        assert!(
            refused.contains("InvalidParameterValueException"),
            "{refused}"
        );
        assert!(
            !state.join("half").exists(),
            "the refused creation left `{}`",
            state.join("half").display()
        );
        // A serve restarted on the state directory finds nothing to warn of.
        let restarted = Emulator::new(
            Vec::new(),
            "us-east-1",
            &BTreeMap::new(),
            false,
            state.clone(),
        );
        assert_eq!(restarted.load_state(), Vec::<String>::new());
        // And the name is free.
        let created = create_function(
            address,
            "half",
            &super::super::code::tests::python_zip(&[bootstrap]),
        )
        .await;
        assert!(created.starts_with("HTTP/1.1 201"), "{created}");

        serving.abort();
        emulator.shutdown().await;
        let _ = std::fs::remove_dir_all(&root);
    }
}
