//! Versions and aliases of the functions created through the control plane (AWS "Lambda
//! function versions", "Lambda function aliases"): `PublishVersion` snapshots `$LATEST`'s
//! code and configuration as version 1, 2, ...; an alias names one version; and a
//! qualifier (`Qualifier=`, `name:qualifier`, or a qualified ARN) picks what Invoke and the
//! Get calls see. Each version runs in a pool of its own, made by its first use.
//!
//! Not here: weighted aliases (`RoutingConfig`), provisioned concurrency.

use std::sync::Arc;

use crate::emulator::RequestBody;
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{invalid, json_response, last_modified, read_request, refused, remove_dir};
use crate::emulator::state::{Alias, Config, Record};
use crate::emulator::{Body, Emulator, Pool, boxed, empty, function_arn, lock, read, write};

/// The PublishVersion request body (AWS Lambda API reference, "PublishVersion").
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct PublishRequest {
    code_sha256: Option<String>,
    description: Option<String>,
    revision_id: Option<String>,
}

/// The CreateAlias request body (AWS Lambda API reference, "CreateAlias").
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateAliasRequest {
    name: String,
    function_version: String,
    description: Option<String>,
    routing_config: Option<Value>,
}

/// The UpdateAlias request body (AWS Lambda API reference, "UpdateAlias").
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateAliasRequest {
    function_version: Option<String>,
    description: Option<String>,
    revision_id: Option<String>,
    routing_config: Option<Value>,
}

type Refusal = Box<Response<Body>>;

/// `ResourceNotFoundException` for the qualified function `name:qualifier`.
fn no_such(region: &str, name: &str, qualifier: &str) -> Refusal {
    Box::new(refused(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        &format!(
            "Function not found: {}:{qualifier}",
            function_arn(region, name)
        ),
    ))
}

/// Whether `config` would publish as nothing new after `last`: same code, same settings.
fn same(config: &Config, last: &Config) -> bool {
    config.code_sha256 == last.code_sha256
        && config.runtime == last.runtime
        && config.role == last.role
        && config.handler == last.handler
        && config.memory_mb == last.memory_mb
        && config.timeout_seconds == last.timeout_seconds
        && config.environment == last.environment
        && config.architecture == last.architecture
        && config.described == last.described
}

impl Emulator {
    /// The pool serving `name` at `qualifier` (none, `$LATEST`, a version number or an
    /// alias), and the ARN its invocations are made through, when it is not the pool's own.
    pub(in crate::emulator) fn resolve(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(Arc<Pool>, Option<String>), Refusal> {
        let Some(latest) = self.pool(name) else {
            return Err(Box::new(boxed(self.not_found(name))));
        };
        let qualifier = match qualifier {
            None => return Ok((latest, None)),
            Some("$LATEST") => {
                let arn = format!("{}:$LATEST", latest.arn);
                return Ok((latest, Some(arn)));
            }
            Some(qualifier) => qualifier,
        };
        let record = lock(&self.records).get(name).cloned();
        let Some(record) = record else {
            // The project's functions have `$LATEST` only.
            return Err(no_such(&self.region, name, qualifier));
        };
        if let Ok(number) = qualifier.parse::<u64>() {
            let pool = self.version_pool(&record, number)?;
            return Ok((pool, None));
        }
        let Some(alias) = record.aliases.get(qualifier) else {
            return Err(no_such(&self.region, name, qualifier));
        };
        let arn = format!("{}:{qualifier}", function_arn(&self.region, name));
        let pool = match alias.version.parse::<u64>() {
            Ok(number) => self.version_pool(&record, number)?,
            Err(_) => latest,
        };
        Ok((pool, Some(arn)))
    }

    /// The pool of version `number` of `record`'s function, made on its first use.
    fn version_pool(&self, record: &Record, number: u64) -> Result<Arc<Pool>, Refusal> {
        let key = (record.name.clone(), number);
        if let Some(pool) = read(&self.versions).get(&key) {
            return Ok(Arc::clone(pool));
        }
        let Some(config) = record.versions.get(&number) else {
            return Err(no_such(&self.region, &record.name, &number.to_string()));
        };
        let pool = self
            .created_pool(
                config,
                &record.name,
                Some(number),
                record.reserved_concurrency,
            )
            .map_err(|problem| Box::new(invalid(&problem)))?;
        Ok(Arc::clone(
            write(&self.versions).entry(key).or_insert(Arc::new(pool)),
        ))
    }

    /// What GetFunctionConfiguration answers for `name` at `qualifier`: an alias's is its
    /// version's, under the alias's ARN.
    pub(super) fn described(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(Arc<Pool>, Value), Refusal> {
        let (pool, arn) = self.resolve(name, qualifier)?;
        let mut configuration = self.configuration(&pool);
        if let Some(arn) = arn.filter(|_| qualifier != Some("$LATEST")) {
            configuration["FunctionArn"] = json!(arn);
        }
        Ok((pool, configuration))
    }

    /// `PublishVersion`: `$LATEST` as it is now, numbered; nothing new when it is what the last
    /// version is (AWS then answers with that version).
    pub(super) async fn publish(&self, name: &str, body: RequestBody) -> Response<Body> {
        let request: PublishRequest = match read_request(body, "PublishVersion").await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        let _changing = self.changes.lock().await;
        self.publish_locked(name, request).await
    }

    /// Publishes `$LATEST` of `name` (with [`Emulator::changes`] held): PublishVersion's
    /// work, and that of `Publish` on CreateFunction and UpdateFunctionCode.
    pub(super) async fn publish_locked(
        &self,
        name: &str,
        request: PublishRequest,
    ) -> Response<Body> {
        let mut record = match self.record(name, "PublishVersion") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        if let Err(refusal) = Self::same_revision(request.revision_id.as_deref(), &record.latest) {
            return *refusal;
        }
        if let Some(sha) = &request.code_sha256
            && *sha != record.latest.code_sha256
        {
            return invalid(&format!(
                "CodeSha256 ({sha}) is different from current CodeSha256 in $LATEST ({}). Please try again with the CodeSha256 in $LATEST.",
                record.latest.code_sha256
            ));
        }
        let last = record.versions.last_key_value().map(|(number, _)| *number);
        let number = match last {
            Some(last) if same(&record.latest, &record.versions[&last]) => last,
            _ => {
                let number = last.unwrap_or(0) + 1;
                let mut config = record.latest.clone();
                if let Some(description) = request.description {
                    config.description = description;
                }
                config.last_modified = last_modified(std::time::SystemTime::now());
                config.revision_id = crate::emulator::ids::request_id();
                record.versions.insert(number, config);
                if let Err(refusal) = self.save(&record).await {
                    return refusal;
                }
                lock(&self.records).insert(name.to_owned(), record.clone());
                println!("lambdakit: published version {number} of {name}");
                number
            }
        };
        match self.version_pool(&record, number) {
            Ok(pool) => json_response(StatusCode::CREATED, &self.configuration(&pool)),
            Err(refusal) => *refusal,
        }
    }

    /// `ListVersionsByFunction`: `$LATEST`, then the versions in order.
    pub(super) fn versions(&self, name: &str) -> Response<Body> {
        let Some(latest) = self.pool(name) else {
            return boxed(self.not_found(name));
        };
        let mut versions = vec![self.configuration(&latest)];
        let record = lock(&self.records).get(name).cloned();
        for number in record.iter().flat_map(|record| record.versions.keys()) {
            if let Some(record) = &record {
                match self.version_pool(record, *number) {
                    Ok(pool) => versions.push(self.configuration(&pool)),
                    Err(refusal) => return *refusal,
                }
            }
        }
        json_response(StatusCode::OK, &json!({ "Versions": versions }))
    }

    /// `DeleteFunction` with a version: that version goes, unless an alias names it.
    pub(super) async fn delete_version(&self, name: &str, qualifier: &str) -> Response<Body> {
        let _changing = self.changes.lock().await;
        let Ok(number) = qualifier.parse::<u64>() else {
            return invalid(&format!(
                "{qualifier} is not a version: DeleteFunction takes a version number as its Qualifier ($LATEST goes only with the whole function)"
            ));
        };
        let mut record = match self.record(name, "DeleteFunction") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        let Some(config) = record.versions.remove(&number) else {
            return *no_such(&self.region, name, qualifier);
        };
        let naming: Vec<&str> = record
            .aliases
            .iter()
            .filter(|(_, alias)| alias.version == qualifier)
            .map(|(alias, _)| alias.as_str())
            .collect();
        if !naming.is_empty() {
            return refused(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                &format!(
                    "Unable to delete version because the following aliases reference it: [{}]",
                    naming.join(", ")
                ),
            );
        }
        if let Err(refusal) = self.save(&record).await {
            return refusal;
        }
        let unused = !record.uses(&config.code);
        lock(&self.records).insert(name.to_owned(), record);
        let pool = write(&self.versions).remove(&(name.to_owned(), number));
        if let Some(pool) = pool {
            pool.stop_idle().await;
        }
        if unused {
            remove_dir(self.state.join(name).join(&config.code)).await;
        }
        self.sweep_layers().await;
        boxed(empty(StatusCode::NO_CONTENT))
    }

    /// Every version pool of `name`, taken out of service (its function is deleted).
    pub(super) fn forget_versions(&self, name: &str) -> Vec<Arc<Pool>> {
        let mut versions = write(&self.versions);
        let numbers: Vec<_> = versions
            .keys()
            .filter(|(function, _)| function == name)
            .cloned()
            .collect();
        numbers
            .into_iter()
            .filter_map(|key| versions.remove(&key))
            .collect()
    }

    fn alias_arn(&self, name: &str, alias: &str) -> String {
        format!("{}:{alias}", function_arn(&self.region, name))
    }

    /// `AliasConfiguration` in the Lambda API.
    fn alias_configuration(&self, name: &str, alias: &str, config: &Alias) -> Value {
        json!({
            "AliasArn": self.alias_arn(name, alias),
            "Name": alias,
            "FunctionVersion": config.version,
            "Description": config.description,
            "RevisionId": config.revision_id,
        })
    }

    fn no_alias(&self, name: &str, alias: &str) -> Response<Body> {
        refused(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Cannot find alias arn: {}", self.alias_arn(name, alias)),
        )
    }

    /// An alias's version must be `$LATEST` or a published one.
    fn published(&self, record: &Record, version: &str) -> Result<(), Refusal> {
        match version.parse::<u64>() {
            Ok(number) if record.versions.contains_key(&number) => Ok(()),
            Err(_) if version == "$LATEST" => Ok(()),
            _ => Err(no_such(&self.region, &record.name, version)),
        }
    }

    /// `CreateAlias`.
    pub(super) async fn create_alias(&self, name: &str, body: RequestBody) -> Response<Body> {
        let request: CreateAliasRequest = match read_request(body, "CreateAlias").await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        if request.routing_config.is_some() {
            return invalid("the local Lambda does not split an alias's traffic (RoutingConfig)");
        }
        let alias = request.name;
        if alias.is_empty()
            || alias.len() > 128
            || alias.chars().all(|c| c.is_ascii_digit())
            || !alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return invalid(&format!(
                "Name `{alias}` is not an alias name: 1 to 128 letters, digits, `-` and `_`, not all digits"
            ));
        }
        let _changing = self.changes.lock().await;
        let mut record = match self.record(name, "CreateAlias") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        if let Err(refusal) = self.published(&record, &request.function_version) {
            return *refusal;
        }
        if record.aliases.contains_key(&alias) {
            return refused(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                &format!("Alias already exists: {}", self.alias_arn(name, &alias)),
            );
        }
        let config = Alias {
            version: request.function_version,
            description: request.description.unwrap_or_default(),
            revision_id: crate::emulator::ids::request_id(),
        };
        record.aliases.insert(alias.clone(), config.clone());
        if let Err(refusal) = self.save(&record).await {
            return refusal;
        }
        lock(&self.records).insert(name.to_owned(), record);
        json_response(
            StatusCode::CREATED,
            &self.alias_configuration(name, &alias, &config),
        )
    }

    /// `GetAlias`.
    pub(super) fn get_alias(&self, name: &str, alias: &str) -> Response<Body> {
        let record = lock(&self.records).get(name).cloned();
        match record.as_ref().and_then(|record| record.aliases.get(alias)) {
            Some(config) => json_response(
                StatusCode::OK,
                &self.alias_configuration(name, alias, config),
            ),
            None if self.pool(name).is_none() => boxed(self.not_found(name)),
            None => self.no_alias(name, alias),
        }
    }

    /// `ListAliases`, of one version when `FunctionVersion` is given.
    pub(super) fn aliases(&self, name: &str, version: Option<&str>) -> Response<Body> {
        if self.pool(name).is_none() {
            return boxed(self.not_found(name));
        }
        let record = lock(&self.records).get(name).cloned();
        let aliases: Vec<Value> = record
            .iter()
            .flat_map(|record| record.aliases.iter())
            .filter(|(_, config)| version.is_none_or(|version| config.version == version))
            .map(|(alias, config)| self.alias_configuration(name, alias, config))
            .collect();
        json_response(StatusCode::OK, &json!({ "Aliases": aliases }))
    }

    /// `UpdateAlias`: another version, or description.
    pub(super) async fn update_alias(
        &self,
        name: &str,
        alias: &str,
        body: RequestBody,
    ) -> Response<Body> {
        let request: UpdateAliasRequest = match read_request(body, "UpdateAlias").await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        if request.routing_config.is_some() {
            return invalid("the local Lambda does not split an alias's traffic (RoutingConfig)");
        }
        let _changing = self.changes.lock().await;
        let mut record = match self.record(name, "UpdateAlias") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        let Some(mut config) = record.aliases.get(alias).cloned() else {
            return self.no_alias(name, alias);
        };
        if request
            .revision_id
            .as_ref()
            .is_some_and(|given| *given != config.revision_id)
        {
            return refused(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            );
        }
        if let Some(version) = request.function_version {
            if let Err(refusal) = self.published(&record, &version) {
                return *refusal;
            }
            config.version = version;
        }
        if let Some(description) = request.description {
            config.description = description;
        }
        config.revision_id = crate::emulator::ids::request_id();
        record.aliases.insert(alias.to_owned(), config.clone());
        if let Err(refusal) = self.save(&record).await {
            return refusal;
        }
        lock(&self.records).insert(name.to_owned(), record);
        json_response(
            StatusCode::OK,
            &self.alias_configuration(name, alias, &config),
        )
    }

    /// `DeleteAlias`.
    pub(super) async fn delete_alias(&self, name: &str, alias: &str) -> Response<Body> {
        let _changing = self.changes.lock().await;
        let mut record = match self.record(name, "DeleteAlias") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        if record.aliases.remove(alias).is_none() {
            return self.no_alias(name, alias);
        }
        // Its URL and policy go with it, so that an alias made again of that name starts bare.
        record.urls.remove(alias);
        record.policies.remove(alias);
        if let Err(refusal) = self.save(&record).await {
            return refusal;
        }
        lock(&self.records).insert(name.to_owned(), record);
        boxed(empty(StatusCode::NO_CONTENT))
    }
}
