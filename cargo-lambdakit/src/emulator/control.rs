//! The Lambda control plane of the local Lambda (REST API version 2015-03-31), so that
//! `aws-sdk-lambda` (or any AWS SDK, or the AWS CLI) creates and runs functions from zips in
//! `serve`, unmodified but for its endpoint.
//!
//! What exists (the first slice of issue #11):
//! - `CreateFunction` with an inline zip (`Code.ZipFile`) of an OS-only runtime
//!   (`provided.al2023`, `provided.al2`): the zip is unpacked under the state directory, its
//!   `bootstrap` checked (present, executable, an ELF binary of the declared architecture or a
//!   script), and a pool added; the function is then invoked through the Invoke API as the
//!   project's are. arm64 code runs under qemu-user on x86_64, when it is installed.
//! - `GetFunction`, `GetFunctionConfiguration`, `ListFunctions`, `DeleteFunction`. The
//!   project's own functions (and `--bootstrap`s) are listed too, but cannot be deleted or
//!   replaced.
//! - `GetFunction`'s `Code.Location` points at `/lambdakit/code/{name}.zip` on the emulator.
//!
//! - State: with `serve --state DIR`, created functions are kept in `DIR` (see `state`) and
//!   served again by a serve started later on it.
//!
//! - `UpdateFunctionCode` (a zip checked as CreateFunction checks it) and
//!   `UpdateFunctionConfiguration` (runtime, role, handler, description, memory, timeout,
//!   environment; layers, tracing, ephemeral storage and logging are kept and reported, not
//!   run by, so `deploy --local` reads back what it set): `$LATEST` gets a new pool, so the next invocation starts an instance of the
//!   new code or settings, while invocations under way finish on the old one. Both take
//!   `RevisionId` (`PreconditionFailedException` when it is not the function's).
//!
//! - Versions and aliases (`versions`): PublishVersion, ListVersionsByFunction, DeleteFunction
//!   of a version, CreateAlias / GetAlias / UpdateAlias / DeleteAlias / ListAliases, and a
//!   qualifier on Invoke and the Get calls.
//!
//! - Resource policies and function URL configurations (`access`).
//! - Reserved concurrency (Put/Get/DeleteFunctionConcurrency): it caps each of the
//!   function's pools (created functions otherwise get the local default, 10), and `0`
//!   throttles it. `ListFunctions` pages with `MaxItems` and `Marker`.
//!
//! - Tags: CreateFunction's `Tags`, `ListTags`, `TagResource`, `UntagResource`, and `Tags` in
//!   GetFunction.
//!
//! Not yet: code from S3 and container images, paging of ListVersionsByFunction and
//! ListAliases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::state::{self, Config, Described, Record};
use super::{Body, Emulator, Pool, Served, aws_error, boxed, empty, function_name, lock, write};
use crate::package::zip::Entry;
use crate::percent::decode as percent_decode;
use crate::platform::Architecture;
use crate::project::Function;
pub(super) use crate::time::lambda_last_modified as last_modified;

/// The largest CreateFunction request: a 50 MB zip, base64 (AWS "Lambda quotas"), and the
/// JSON around it.
const MAX_REQUEST_BYTES: usize = 70 * 1024 * 1024;

/// How a function created through the control plane came to be: the configuration it runs
/// (of `$LATEST` or of a published version) and its directory under the state directory.
#[derive(Debug)]
pub(crate) struct Created {
    config: Config,
    dir: PathBuf,
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
    #[serde(flatten)]
    described: DescribedRequest,
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
/// (layers, tracing, ephemeral storage, logging) or taken and ignored (VPC, ...).
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
    #[serde(flatten)]
    described: DescribedRequest,
}

/// The settings of CreateFunction and UpdateFunctionConfiguration the local Lambda keeps and
/// reports but does not run by (see [`Described`]).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribedRequest {
    layers: Option<Vec<String>>,
    tracing_config: Option<TracingRequest>,
    ephemeral_storage: Option<EphemeralStorageRequest>,
    logging_config: Option<LoggingRequest>,
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

/// The TagResource request body (AWS Lambda API reference, "TagResource").
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagRequest {
    tags: BTreeMap<String, String>,
}

/// The PutFunctionConcurrency request body (AWS Lambda API reference).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConcurrencyRequest {
    reserved_concurrent_executions: u32,
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

/// A control-plane call refused, as AWS answers it.
pub(super) fn refused(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    boxed(aws_error(status, error_type, message))
}

pub(super) fn invalid(message: &str) -> Response<Body> {
    refused(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        message,
    )
}

pub(super) fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    if let Ok(value) = "application/json".parse() {
        response.headers_mut().insert("content-type", value);
    }
    boxed(response)
}

impl Emulator {
    /// Answers a request that is not an invocation nor for a function URL: a control-plane
    /// call, a created function's code, or `UnknownOperationException`.
    pub(super) async fn control(
        &self,
        parts: &http::request::Parts,
        body: Incoming,
    ) -> Response<Body> {
        let path = parts.uri.path();
        if let (Some(name), &Method::GET) = (
            path.strip_prefix("/lambdakit/code/")
                .and_then(|rest| rest.strip_suffix(".zip")),
            &parts.method,
        ) {
            let identifier = percent_decode(name);
            return self
                .code(&function_name(&identifier), qualifier(parts, &identifier))
                .await;
        }
        if let Some((identifier, "url")) = path
            .strip_prefix("/2021-10-31/functions/")
            .and_then(|rest| rest.split_once('/'))
        {
            let identifier = percent_decode(identifier);
            let name = function_name(&identifier);
            let qualifier = qualifier(parts, &identifier);
            let host = parts
                .headers
                .get("host")
                .and_then(|host| host.to_str().ok())
                .unwrap_or("127.0.0.1:9000");
            let qualified = (name.as_str(), qualifier.as_deref());
            return match parts.method {
                Method::POST => self.put_url(qualified, host, body, true).await,
                Method::PUT => self.put_url(qualified, host, body, false).await,
                Method::GET => self.get_url(&name, qualifier.as_deref(), host),
                Method::DELETE => self.delete_url(&name, qualifier.as_deref()).await,
                _ => self.unknown(parts),
            };
        }
        if let Some((identifier, "concurrency")) = path
            .strip_prefix("/2017-10-31/functions/")
            .or_else(|| path.strip_prefix("/2019-09-30/functions/"))
            .and_then(|rest| rest.split_once('/'))
        {
            let name = function_name(&percent_decode(identifier));
            return match (&parts.method, path.starts_with("/2017-10-31/")) {
                (&Method::PUT, true) => self.put_concurrency(&name, Some(body)).await,
                (&Method::DELETE, true) => self.put_concurrency(&name, None).await,
                (&Method::GET, false) => self.concurrency(&name),
                _ => self.unknown(parts),
            };
        }
        if let Some(arn) = path.strip_prefix("/2017-03-31/tags/") {
            let name = function_name(&percent_decode(arn));
            return match parts.method {
                Method::GET => self.tags(&name),
                Method::POST => self.tag(&name, body).await,
                Method::DELETE => {
                    let keys = query_all(parts, "tagKeys");
                    self.untag(&name, &keys).await
                }
                _ => self.unknown(parts),
            };
        }
        let Some(rest) = path.strip_prefix("/2015-03-31/functions") else {
            return self.unknown(parts);
        };
        let rest = rest.trim_start_matches('/');
        let (identifier, below) = rest.split_once('/').unwrap_or((rest, ""));
        let identifier = percent_decode(identifier);
        let name = function_name(&identifier);
        let qualifier = qualifier(parts, &identifier);
        let qualifier = qualifier.as_deref();
        let (below, alias) = match below.split_once('/') {
            Some(("aliases", alias)) => ("aliases/", Some(percent_decode(alias))),
            Some(("policy", sid)) => ("policy/", Some(percent_decode(sid))),
            _ => (below, None),
        };
        match (&parts.method, name.as_str(), below) {
            (&Method::POST, "", "") => self.create(body).await,
            (&Method::GET, "", "") => self.list(parts),
            (&Method::GET, name, "") if !name.is_empty() => match self.described(name, qualifier) {
                Ok((pool, configuration)) => {
                    let mut code = json!({ "RepositoryType": "S3" });
                    if pool.created.is_some()
                        && let Some(host) = parts
                            .headers
                            .get("host")
                            .and_then(|host| host.to_str().ok())
                    {
                        let file = match pool.version.as_str() {
                            "$LATEST" => name.to_owned(),
                            version => format!("{name}:{version}"),
                        };
                        code["Location"] =
                            json!(format!("http://{host}/lambdakit/code/{file}.zip"));
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
                Err(refusal) => *refusal,
            },
            (&Method::GET, name, "configuration") if !name.is_empty() => {
                match self.described(name, qualifier) {
                    Ok((_, configuration)) => json_response(StatusCode::OK, &configuration),
                    Err(refusal) => *refusal,
                }
            }
            (&Method::DELETE, name, "") if !name.is_empty() && qualifier.is_some() => {
                self.delete_version(name, qualifier.unwrap_or_default())
                    .await
            }
            (&Method::POST, name, "versions") if !name.is_empty() => self.publish(name, body).await,
            (&Method::GET, name, "versions") if !name.is_empty() => self.versions(name),
            (&Method::POST, name, "aliases") if !name.is_empty() => {
                self.create_alias(name, body).await
            }
            (&Method::GET, name, "aliases") if !name.is_empty() => {
                self.aliases(name, query(parts, "FunctionVersion").as_deref())
            }
            (&Method::GET, name, "aliases/") if !name.is_empty() => {
                self.get_alias(name, alias.as_deref().unwrap_or_default())
            }
            (&Method::PUT, name, "aliases/") if !name.is_empty() => {
                self.update_alias(name, alias.as_deref().unwrap_or_default(), body)
                    .await
            }
            (&Method::POST, name, "policy") if !name.is_empty() => {
                self.add_permission(name, qualifier, body).await
            }
            (&Method::GET, name, "policy") if !name.is_empty() => self.policy(name, qualifier),
            (&Method::DELETE, name, "policy/") if !name.is_empty() => {
                self.remove_permission(name, qualifier, alias.as_deref().unwrap_or_default())
                    .await
            }
            (&Method::DELETE, name, "aliases/") if !name.is_empty() => {
                self.delete_alias(name, alias.as_deref().unwrap_or_default())
                    .await
            }
            (&Method::DELETE, name, "") if !name.is_empty() => self.delete(name).await,
            (&Method::PUT, name, "code") if !name.is_empty() => self.update_code(name, body).await,
            (&Method::PUT, name, "configuration") if !name.is_empty() => {
                self.update_configuration(name, body).await
            }
            _ => self.unknown(parts),
        }
    }

    /// `ListFunctions`, a page at a time: `MaxItems` (1 to 10000, 50 by default) after
    /// `Marker`, the `NextMarker` of the page before (the name of its last function).
    fn list(&self, parts: &http::request::Parts) -> Response<Body> {
        let max_items = match query(parts, "MaxItems").map(|items| items.parse::<usize>()) {
            None => 50,
            Some(Ok(items)) if (1..=10_000).contains(&items) => items,
            Some(_) => return invalid("MaxItems must be a number from 1 to 10000"),
        };
        let marker = query(parts, "Marker");
        let pools = self.all_pools();
        let after: Vec<_> = pools
            .iter()
            .filter(|pool| {
                marker
                    .as_deref()
                    .is_none_or(|marker| pool.function.name.as_str() > marker)
            })
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

    fn unknown(&self, parts: &http::request::Parts) -> Response<Body> {
        refused(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            &format!(
                "{} {} is not an operation of the local Lambda",
                parts.method,
                parts.uri.path()
            ),
        )
    }

    /// `ResourceNotFoundException`, worded as AWS words it.
    pub(super) fn not_found(&self, name: &str) -> Response<Full<Bytes>> {
        aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!(
                "Function not found: {}",
                super::function_arn(&self.region, name)
            ),
        )
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
        if !described.layers.is_empty() {
            // Layers are reported, not run: the local Lambda has no copy of them.
            let layers: Vec<Value> = described
                .layers
                .iter()
                .map(|arn| json!({ "Arn": arn, "CodeSize": 0 }))
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
    async fn create(&self, body: Incoming) -> Response<Body> {
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
        let _changing = self.changes.lock().await;
        if self.pool(&name).is_some() {
            return self.exists(&name);
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
        let code = match self
            .unpack_code(&dir, settings.zip, &settings.architecture)
            .await
        {
            Ok(code) => code,
            Err(refusal) => return refusal,
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
            revision_id: super::ids::request_id(),
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

    /// Unpacks `zip` into a new code directory of the function's `dir`, once it is found fit
    /// to run as `architecture`.
    async fn unpack_code(
        &self,
        dir: &Path,
        zip: Vec<u8>,
        architecture: &str,
    ) -> Result<Code, Response<Body>> {
        let id = super::ids::request_id();
        let code_dir = dir.join(&id);
        let architecture = architecture.to_owned();
        let unpacked = tokio::task::spawn_blocking(move || {
            let entries = checked(&zip, &architecture)?;
            runner(&architecture)?;
            let unpacked = unpack(&entries, &zip, &code_dir);
            if unpacked.is_err() {
                let _ = std::fs::remove_dir_all(&code_dir);
            }
            unpacked
        })
        .await;
        match unpacked {
            Ok(Ok((size, sha256))) => Ok(Code { id, size, sha256 }),
            Ok(Err(problem)) => Err(invalid(&problem)),
            Err(error) => Err(service_error(&format!(
                "unpacking the code stopped: {error}"
            ))),
        }
    }

    /// Writes `record` into its function's directory.
    pub(super) async fn save(&self, record: &Record) -> Result<(), Response<Body>> {
        let dir = self.state.join(&record.name);
        let record = record.clone();
        let saved = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            record.save(&dir)
        })
        .await;
        match saved {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(service_error(&format!(
                "the function's record cannot be written into the state directory: {error}"
            ))),
            Err(error) => Err(service_error(&format!(
                "writing the function's record stopped: {error}"
            ))),
        }
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
        let runner = runner(&config.architecture)?;
        let binary = dir.join(&config.code).join("code").join("bootstrap");
        let mut pool = Pool::new(
            Served {
                function,
                binary,
                runner,
            },
            &self.region,
            &self.passed_environment,
            self.cost,
            Arc::clone(&self.generation),
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
        let mut warnings = Vec::new();
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
        warnings
    }

    fn exists(&self, name: &str) -> Response<Body> {
        refused(
            StatusCode::CONFLICT,
            "ResourceConflictException",
            &format!("Function already exist: {name}"),
        )
    }

    /// The record of the created function `name`, for a call that changes it: not found, or
    /// refused for one of the project's functions.
    pub(super) fn record(
        &self,
        name: &str,
        operation: &str,
    ) -> Result<Record, Box<Response<Body>>> {
        if let Some(record) = lock(&self.records).get(name) {
            return Ok(record.clone());
        }
        match self.pool(name) {
            Some(_) => Err(Box::new(refused(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                &format!(
                    "`{name}` is a function of the project this serve runs; {operation} changes only functions created through the Lambda API (rebuild it, or use `watch`)"
                ),
            ))),
            None => Err(Box::new(boxed(self.not_found(name)))),
        }
    }

    /// `RevisionId` given with a change must be the function's (AWS's optimistic locking).
    pub(super) fn same_revision(
        given: Option<&str>,
        config: &Config,
    ) -> Result<(), Box<Response<Body>>> {
        match given {
            Some(given) if given != config.revision_id => Err(Box::new(refused(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            ))),
            _ => Ok(()),
        }
    }

    /// Keeps `record` and serves its new `$LATEST`: new invocations start instances of it,
    /// the old idle ones stop, and busy ones stop when their invocation ends. `old_code` is
    /// removed once nothing runs it.
    async fn replace_latest(&self, record: Record, old_code: &str) -> Response<Body> {
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
        json_response(StatusCode::OK, &self.configuration(&pool))
    }

    /// `PutFunctionConcurrency` (a number) and `DeleteFunctionConcurrency` (`None`): the cap
    /// on each of the function's pools; `0` throttles every invocation, as on AWS.
    async fn put_concurrency(&self, name: &str, reserved: Option<Incoming>) -> Response<Body> {
        let reserved = match reserved {
            Some(body) => {
                let request: ConcurrencyRequest =
                    match read_request(body, "PutFunctionConcurrency").await {
                        Ok(request) => request,
                        Err(refusal) => return refusal,
                    };
                if request.reserved_concurrent_executions > 1_000 {
                    return invalid(&format!(
                        "ReservedConcurrentExecutions is {}; the account's limit is 1000",
                        request.reserved_concurrent_executions
                    ));
                }
                Some(request.reserved_concurrent_executions)
            }
            None => None,
        };
        let operation = if reserved.is_some() {
            "PutFunctionConcurrency"
        } else {
            "DeleteFunctionConcurrency"
        };
        let _changing = self.changes.lock().await;
        let mut record = match self.record(name, operation) {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        record.reserved_concurrency = reserved;
        let code = record.latest.code.clone();
        let replaced = self.replace_latest(record, &code).await;
        if !replaced.status().is_success() {
            return replaced;
        }
        // Versions' pools are made again, with the new cap, by their next invocation.
        for version in self.forget_versions(name) {
            version.stop_idle().await;
        }
        match reserved {
            Some(reserved) => json_response(
                StatusCode::OK,
                &json!({ "ReservedConcurrentExecutions": reserved }),
            ),
            None => boxed(empty(StatusCode::NO_CONTENT)),
        }
    }

    /// `GetFunctionConcurrency`: `{}` when none is reserved.
    fn concurrency(&self, name: &str) -> Response<Body> {
        if self.pool(name).is_none() {
            return boxed(self.not_found(name));
        }
        let reserved = lock(&self.records)
            .get(name)
            .and_then(|record| record.reserved_concurrency);
        let answer = match reserved {
            Some(reserved) => json!({ "ReservedConcurrentExecutions": reserved }),
            None => json!({}),
        };
        json_response(StatusCode::OK, &answer)
    }

    /// `ListTags`.
    fn tags(&self, name: &str) -> Response<Body> {
        if self.pool(name).is_none() {
            return boxed(self.not_found(name));
        }
        let tags = lock(&self.records)
            .get(name)
            .map(|record| record.tags.clone())
            .unwrap_or_default();
        json_response(StatusCode::OK, &json!({ "Tags": tags }))
    }

    /// `TagResource`: tags added or changed.
    async fn tag(&self, name: &str, body: Incoming) -> Response<Body> {
        let request: TagRequest = match read_request(body, "TagResource").await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        let _changing = self.changes.lock().await;
        let mut record = match self.record(name, "TagResource") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        record.tags.extend(request.tags);
        if record.tags.len() > 50 {
            return invalid("a function takes at most 50 tags");
        }
        self.save_tags(record).await
    }

    /// `UntagResource`.
    async fn untag(&self, name: &str, keys: &[String]) -> Response<Body> {
        let _changing = self.changes.lock().await;
        let mut record = match self.record(name, "UntagResource") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        record.tags.retain(|key, _| !keys.contains(key));
        self.save_tags(record).await
    }

    async fn save_tags(&self, record: Record) -> Response<Body> {
        if let Err(refusal) = self.save(&record).await {
            return refusal;
        }
        lock(&self.records).insert(record.name.clone(), record);
        boxed(empty(StatusCode::NO_CONTENT))
    }

    /// `UpdateFunctionCode`: a new zip, checked as CreateFunction checks it.
    async fn update_code(&self, name: &str, body: Incoming) -> Response<Body> {
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
        record.latest.revision_id = super::ids::request_id();
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
    async fn update_configuration(&self, name: &str, body: Incoming) -> Response<Body> {
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
            request.described.apply(&mut latest.described)
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
        latest.revision_id = super::ids::request_id();
        let code = latest.code.clone();
        let response = self.replace_latest(record, &code).await;
        if response.status().is_success() {
            println!("lambdakit: updated the configuration of {name}");
        }
        response
    }

    /// `DeleteFunction`: forget it, stop its instances, remove its code.
    async fn delete(&self, name: &str) -> Response<Body> {
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
        for version in self.forget_versions(name) {
            version.stop_idle().await;
        }
        if let Some(pool) = pool {
            // Busy instances stop when their invocation ends and drops the last `Arc`.
            pool.stop_idle().await;
            remove_dir(self.state.join(name)).await;
            println!("lambdakit: deleted {name}");
        }
        boxed(empty(StatusCode::NO_CONTENT))
    }

    /// The zip a function (or a version of it) runs.
    async fn code(&self, name: &str, qualifier: Option<String>) -> Response<Body> {
        let zip = match self.resolve(name, qualifier.as_deref()) {
            Ok((pool, _)) => pool
                .created
                .as_ref()
                .map(|created| created.dir.join(&created.config.code).join("code.zip")),
            Err(refusal) => return *refusal,
        };
        let Some(zip) = zip else {
            return boxed(self.not_found(name));
        };
        match tokio::fs::read(zip).await {
            Ok(zip) => {
                let mut response = Response::new(Full::new(Bytes::from(zip)));
                if let Ok(value) = "application/zip".parse() {
                    response.headers_mut().insert("content-type", value);
                }
                boxed(response)
            }
            Err(_) => boxed(self.not_found(name)),
        }
    }
}

/// A code upload, unpacked.
#[derive(Debug)]
struct Code {
    /// Its directory's name.
    id: String,
    size: u64,
    sha256: String,
}

/// Reads a JSON request body of at most [`MAX_REQUEST_BYTES`].
pub(super) async fn read_request<T: serde::de::DeserializeOwned>(
    body: Incoming,
    operation: &str,
) -> Result<T, Response<Body>> {
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return Err(refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                &format!(
                    "Request must be smaller than {MAX_REQUEST_BYTES} bytes for the {operation} operation"
                ),
            ));
        }
    };
    serde_json::from_slice(&body)
        .map_err(|error| invalid(&format!("the {operation} request is not valid: {error}")))
}

fn service_error(message: &str) -> Response<Body> {
    refused(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceException",
        message,
    )
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

/// The architecture the Lambda API calls `name`.
fn architecture(name: &str) -> Result<Architecture, String> {
    Architecture::named(name)
        .ok_or_else(|| format!("Architectures is `{name}`; Lambda takes `x86_64` or `arm64`"))
}

/// What runs code of `architecture` here (`crate::platform::runner`), in the Lambda API's words.
fn runner(architecture: &str) -> Result<Vec<String>, String> {
    crate::platform::runner(self::architecture(architecture)?).map_err(|cannot| cannot.to_string())
}

/// The zip of a request's `field`, base64 on the wire.
fn decoded_zip(encoded: Option<&str>, field: &str) -> Result<Vec<u8>, String> {
    let encoded = encoded.ok_or_else(|| format!("{field} is required: the function's zip"))?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| format!("{field} is not base64"))
}

/// The files of `zip`, once its `bootstrap` is found fit to run as `architecture`.
fn checked(zip: &[u8], architecture: &str) -> Result<Vec<Entry>, String> {
    let entries = crate::package::zip::read(zip)
        .map_err(|problem| format!("Code.ZipFile cannot be unpacked: {problem}"))?;
    let bootstrap = entries
        .iter()
        .find(|entry| entry.name == "bootstrap")
        .ok_or("the zip has no `bootstrap` at its root: an OS-only runtime starts the function by running it")?;
    if !bootstrap.executable {
        return Err(
            "the zip's `bootstrap` is not executable: zip it with mode 0755 (cargo lambdakit zip does)".into(),
        );
    }
    if bootstrap.data.starts_with(b"\x7fELF") {
        let binary = crate::build::elf::parse(&bootstrap.data)
            .map_err(|problem| format!("the zip's `bootstrap` cannot be read: {problem}"))?;
        if binary.architecture != architecture {
            return Err(format!(
                "the zip's `bootstrap` is built for {}, but Architectures is `{architecture}`",
                binary.architecture
            ));
        }
    } else if !bootstrap.data.starts_with(b"#!") {
        return Err("the zip's `bootstrap` is neither an ELF binary nor a script (`#!`)".into());
    }
    Ok(entries)
}

/// Unpacks `entries` into `dir/code`, keeping their `zip` as `dir/code.zip`; returns the
/// zip's size and its `CodeSha256`.
fn unpack(entries: &[Entry], zip: &[u8], dir: &Path) -> Result<(u64, String), String> {
    let failed = |error: std::io::Error| format!("cannot unpack the code: {error}");
    let code = dir.join("code");
    for entry in entries {
        let path = code.join(&entry.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        std::fs::write(&path, &entry.data).map_err(failed)?;
        let mode = if entry.executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .map_err(failed)?;
    }
    std::fs::write(dir.join("code.zip"), zip).map_err(failed)?;
    let sha = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(zip));
    Ok((zip.len() as u64, sha))
}

pub(super) async fn remove_dir(dir: PathBuf) {
    let _ = tokio::fs::remove_dir_all(dir).await;
}

/// The qualifier a request names: its `Qualifier` query parameter, else the one in its
/// function identifier (`name:qualifier`, or a qualified ARN).
pub(super) fn qualifier(parts: &http::request::Parts, identifier: &str) -> Option<String> {
    query(parts, "Qualifier").or_else(|| {
        let identifier = identifier
            .rsplit_once(":function:")
            .map_or(identifier, |(_, rest)| rest);
        identifier
            .split_once(':')
            .map(|(_, qualifier)| qualifier.to_owned())
    })
}

/// Every value of the query parameter `key` of a request, decoded.
fn query_all(parts: &http::request::Parts, key: &str) -> Vec<String> {
    parts
        .uri
        .query()
        .into_iter()
        .flat_map(|query| query.split('&'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name == key).then(|| percent_decode(&value.replace('+', " ")))
        })
        .collect()
}

/// The query parameter `key` of a request, decoded.
pub(super) fn query(parts: &http::request::Parts, key: &str) -> Option<String> {
    parts.uri.query()?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == key).then(|| percent_decode(&value.replace('+', " ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers_come_from_the_query_or_the_identifier() {
        let parts = |uri: &str| http::Request::get(uri).body(()).unwrap().into_parts().0;
        let plain = parts("/2015-03-31/functions/orders/invocations");
        assert_eq!(qualifier(&plain, "orders"), None);
        assert_eq!(qualifier(&plain, "orders:live").as_deref(), Some("live"));
        assert_eq!(
            qualifier(
                &plain,
                "arn:aws:lambda:us-east-1:123456789012:function:orders:7"
            )
            .as_deref(),
            Some("7")
        );
        assert_eq!(
            qualifier(
                &plain,
                "arn:aws:lambda:us-east-1:123456789012:function:orders"
            ),
            None
        );
        let queried = parts("/2015-03-31/functions/orders?Qualifier=%24LATEST&MaxItems=2");
        assert_eq!(qualifier(&queried, "orders").as_deref(), Some("$LATEST"));
        assert_eq!(query(&queried, "MaxItems").as_deref(), Some("2"));
        assert_eq!(query(&queried, "Marker"), None);
        let keys = parts("/2017-03-31/tags/arn?tagKeys=a&tagKeys=b%20c");
        assert_eq!(query_all(&keys, "tagKeys"), ["a", "b c"]);
    }

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
}
