//! Who may call a created function, as the Lambda API records it: its resource-based policy
//! (`AddPermission`, `GetPolicy`, `RemovePermission`) and its function URL configuration
//! (`CreateFunctionUrlConfig`, `GetFunctionUrlConfig`, `UpdateFunctionUrlConfig`,
//! `DeleteFunctionUrlConfig`), of the function or of one of its aliases (`Qualifier`).
//!
//! The local Lambda keeps both and answers as AWS does, but enforces neither: a policy is not
//! evaluated, and a URL with `AuthType` `AWS_IAM` takes unsigned requests. A created
//! function's URL is served at `/lambda-url/{name}/` (`/lambda-url/{name}:{alias}/` for an
//! alias's) once it has a URL configuration, as the project's functions always are.

use http::{Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::control::{invalid, json_response, read_request, refused};
use super::state::Record;
use super::{Body, Emulator, boxed, empty, function_arn, lock};

/// A function URL's configuration, as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Url {
    auth_type: String,
    invoke_mode: String,
    cors: Option<Value>,
    creation_time: String,
    last_modified_time: String,
}

/// The AddPermission request body (AWS Lambda API reference, "AddPermission").
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PermissionRequest {
    statement_id: String,
    action: String,
    principal: String,
    source_arn: Option<String>,
    source_account: Option<String>,
    event_source_token: Option<String>,
    #[serde(rename = "PrincipalOrgID")]
    principal_org_id: Option<String>,
    function_url_auth_type: Option<String>,
    invoked_via_function_url: Option<bool>,
    revision_id: Option<String>,
}

/// The Create/UpdateFunctionUrlConfig request body (AWS Lambda API reference).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UrlRequest {
    auth_type: Option<String>,
    invoke_mode: Option<String>,
    cors: Option<Value>,
}

/// The answer AWS gives for a policy or URL configuration that is not there.
fn does_not_exist() -> Response<Body> {
    refused(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
    )
}

/// A time as function URL configurations write it: `2026-01-31T12:00:00.000Z`.
fn url_time() -> String {
    crate::time::rfc3339(std::time::SystemTime::now())
}

/// The problem with a URL's `AuthType` or `InvokeMode`, if any.
fn checked_url(url: &Url) -> Option<String> {
    if !matches!(url.auth_type.as_str(), "NONE" | "AWS_IAM") {
        return Some(format!(
            "AuthType is `{}`; Lambda takes `NONE` or `AWS_IAM`",
            url.auth_type
        ));
    }
    if !matches!(url.invoke_mode.as_str(), "BUFFERED" | "RESPONSE_STREAM") {
        return Some(format!(
            "InvokeMode is `{}`; Lambda takes `BUFFERED` or `RESPONSE_STREAM`",
            url.invoke_mode
        ));
    }
    None
}

impl Emulator {
    /// The ARN a qualifier's policy or URL belongs to.
    fn qualified_arn(&self, name: &str, qualifier: Option<&str>) -> String {
        let arn = function_arn(&self.region, name);
        qualifier.map_or(arn.clone(), |qualifier| format!("{arn}:{qualifier}"))
    }

    /// The record of `name` for a change to its policy or URL, its `qualifier` checked: an
    /// alias of it (or `$LATEST`, for a policy).
    fn accessed(
        &self,
        name: &str,
        qualifier: Option<&str>,
        operation: &str,
    ) -> Result<Record, Box<Response<Body>>> {
        let record = self.record(name, operation)?;
        match qualifier {
            None => Ok(record),
            Some(alias) if record.aliases.contains_key(alias) => Ok(record),
            Some(qualifier) => Err(Box::new(refused(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!(
                    "Function not found: {}",
                    self.qualified_arn(name, Some(qualifier))
                ),
            ))),
        }
    }

    /// `AddPermission`: a statement added to the function's (or alias's) policy.
    pub(super) async fn add_permission(
        &self,
        name: &str,
        qualifier: Option<&str>,
        body: Incoming,
    ) -> Response<Body> {
        let request: PermissionRequest = match read_request(body, "AddPermission").await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        if request.statement_id.is_empty() || request.statement_id.len() > 100 {
            return invalid("StatementId must be 1 to 100 characters");
        }
        if !request.action.starts_with("lambda:") {
            return invalid(&format!(
                "Action `{}` is not a Lambda action (`lambda:InvokeFunction`, say)",
                request.action
            ));
        }
        let _changing = self.changes.lock().await;
        let mut record = match self.accessed(name, qualifier, "AddPermission") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        if let Err(refusal) = Self::same_revision(request.revision_id.as_deref(), &record.latest) {
            return *refusal;
        }
        let statements = record
            .policies
            .entry(qualifier.unwrap_or_default().to_owned())
            .or_default();
        if statements
            .iter()
            .any(|statement| statement["Sid"] == request.statement_id.as_str())
        {
            return refused(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                &format!(
                    "The statement id ({}) provided already exists. Please provide a new statement id, or remove the existing statement.",
                    request.statement_id
                ),
            );
        }
        let statement = self.statement(name, qualifier, &request);
        statements.push(statement.clone());
        if let Err(refusal) = self.save(&record).await {
            return refusal;
        }
        lock(&self.records).insert(name.to_owned(), record);
        json_response(
            StatusCode::CREATED,
            &json!({ "Statement": statement.to_string() }),
        )
    }

    /// The policy statement AddPermission makes of `request` (as AWS writes it: a service
    /// principal under `Service`, an account under `AWS`, conditions for the source).
    fn statement(&self, name: &str, qualifier: Option<&str>, request: &PermissionRequest) -> Value {
        let principal = &request.principal;
        let principal = if principal == "*" {
            json!("*")
        } else if principal.ends_with(".amazonaws.com") {
            json!({ "Service": principal })
        } else if principal.len() == 12 && principal.chars().all(|c| c.is_ascii_digit()) {
            json!({ "AWS": format!("arn:aws:iam::{principal}:root") })
        } else {
            json!({ "AWS": principal })
        };
        let mut statement = json!({
            "Sid": request.statement_id,
            "Effect": "Allow",
            "Principal": principal,
            "Action": request.action,
            "Resource": self.qualified_arn(name, qualifier),
        });
        let mut condition = serde_json::Map::new();
        let mut string_equals = serde_json::Map::new();
        if let Some(arn) = &request.source_arn {
            condition.insert("ArnLike".into(), json!({ "AWS:SourceArn": arn }));
        }
        if let Some(account) = &request.source_account {
            string_equals.insert("AWS:SourceAccount".into(), json!(account));
        }
        if let Some(token) = &request.event_source_token {
            string_equals.insert("lambda:EventSourceToken".into(), json!(token));
        }
        if let Some(organisation) = &request.principal_org_id {
            string_equals.insert("aws:PrincipalOrgID".into(), json!(organisation));
        }
        if let Some(auth_type) = &request.function_url_auth_type {
            string_equals.insert("lambda:FunctionUrlAuthType".into(), json!(auth_type));
        }
        if !string_equals.is_empty() {
            condition.insert("StringEquals".into(), Value::Object(string_equals));
        }
        if request.invoked_via_function_url == Some(true) {
            condition.insert(
                "Bool".into(),
                json!({ "lambda:InvokedViaFunctionUrl": "true" }),
            );
        }
        if !condition.is_empty() {
            statement["Condition"] = Value::Object(condition);
        }
        statement
    }

    /// `GetPolicy`: the policy document, as a JSON string.
    pub(super) fn policy(&self, name: &str, qualifier: Option<&str>) -> Response<Body> {
        let record = lock(&self.records).get(name).cloned();
        let Some(record) = record else {
            return match self.pool(name) {
                Some(_) => does_not_exist(),
                None => boxed(self.not_found(name)),
            };
        };
        match record
            .policies
            .get(qualifier.unwrap_or_default())
            .filter(|statements| !statements.is_empty())
        {
            Some(statements) => {
                let policy = json!({
                    "Version": "2012-10-17",
                    "Id": "default",
                    "Statement": statements,
                });
                json_response(
                    StatusCode::OK,
                    &json!({ "Policy": policy.to_string(), "RevisionId": record.latest.revision_id }),
                )
            }
            None => does_not_exist(),
        }
    }

    /// `RemovePermission`.
    pub(super) async fn remove_permission(
        &self,
        name: &str,
        qualifier: Option<&str>,
        sid: &str,
    ) -> Response<Body> {
        let _changing = self.changes.lock().await;
        let mut record = match self.accessed(name, qualifier, "RemovePermission") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        let statements = record
            .policies
            .entry(qualifier.unwrap_or_default().to_owned())
            .or_default();
        let before = statements.len();
        statements.retain(|statement| statement["Sid"] != sid);
        if statements.len() == before {
            return refused(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!("Statement {sid} is not found in resource policy."),
            );
        }
        if statements.is_empty() {
            record.policies.remove(qualifier.unwrap_or_default());
        }
        if let Err(refusal) = self.save(&record).await {
            return refusal;
        }
        lock(&self.records).insert(name.to_owned(), record);
        boxed(empty(StatusCode::NO_CONTENT))
    }

    /// Where the function URL of `name` (or of its alias `qualifier`) is served.
    fn url_address(host: &str, name: &str, qualifier: Option<&str>) -> String {
        match qualifier {
            Some(alias) => format!("http://{host}/lambda-url/{name}:{alias}/"),
            None => format!("http://{host}/lambda-url/{name}/"),
        }
    }

    fn url_configuration(
        &self,
        host: &str,
        name: &str,
        qualifier: Option<&str>,
        url: &Url,
    ) -> Value {
        let mut configuration = json!({
            "FunctionUrl": Self::url_address(host, name, qualifier),
            "FunctionArn": self.qualified_arn(name, qualifier),
            "AuthType": url.auth_type,
            "InvokeMode": url.invoke_mode,
            "CreationTime": url.creation_time,
            "LastModifiedTime": url.last_modified_time,
        });
        if let Some(cors) = &url.cors {
            configuration["Cors"] = cors.clone();
        }
        configuration
    }

    /// `CreateFunctionUrlConfig` and `UpdateFunctionUrlConfig`.
    pub(super) async fn put_url(
        &self,
        (name, qualifier): (&str, Option<&str>),
        host: &str,
        body: Incoming,
        create: bool,
    ) -> Response<Body> {
        let operation = if create {
            "CreateFunctionUrlConfig"
        } else {
            "UpdateFunctionUrlConfig"
        };
        let request: UrlRequest = match read_request(body, operation).await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        };
        let _changing = self.changes.lock().await;
        let mut record = match self.accessed(name, qualifier, operation) {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        let key = qualifier.unwrap_or_default().to_owned();
        let now = url_time();
        let url = match (record.urls.get(&key).cloned(), create) {
            (Some(_), true) => {
                return refused(
                    StatusCode::CONFLICT,
                    "ResourceConflictException",
                    &format!(
                        "Failed to create function url config for [functionArn = {}]. Error message:  FunctionUrlConfig exists for this Lambda function",
                        self.qualified_arn(name, qualifier)
                    ),
                );
            }
            (None, false) => return does_not_exist(),
            (None, true) => {
                let Some(auth_type) = request.auth_type else {
                    return invalid("AuthType is required: `NONE` or `AWS_IAM`");
                };
                Url {
                    auth_type,
                    invoke_mode: request.invoke_mode.unwrap_or_else(|| "BUFFERED".into()),
                    cors: request.cors,
                    creation_time: now.clone(),
                    last_modified_time: now,
                }
            }
            (Some(mut url), false) => {
                if let Some(auth_type) = request.auth_type {
                    url.auth_type = auth_type;
                }
                if let Some(invoke_mode) = request.invoke_mode {
                    url.invoke_mode = invoke_mode;
                }
                if request.cors.is_some() {
                    url.cors = request.cors;
                }
                url.last_modified_time = now;
                url
            }
        };
        if let Some(problem) = checked_url(&url) {
            return invalid(&problem);
        }
        record.urls.insert(key, url.clone());
        if let Err(refusal) = self.save(&record).await {
            return refusal;
        }
        lock(&self.records).insert(name.to_owned(), record);
        let status = if create {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        json_response(status, &self.url_configuration(host, name, qualifier, &url))
    }

    /// `GetFunctionUrlConfig`: a created function's, or the URL a project's function always has.
    pub(super) fn get_url(
        &self,
        name: &str,
        qualifier: Option<&str>,
        host: &str,
    ) -> Response<Body> {
        let record = lock(&self.records).get(name).cloned();
        match record {
            Some(record) => match record.urls.get(qualifier.unwrap_or_default()) {
                Some(url) => json_response(
                    StatusCode::OK,
                    &self.url_configuration(host, name, qualifier, url),
                ),
                None => does_not_exist(),
            },
            None if self.pool(name).is_some() && qualifier.is_none() => {
                let url = Url {
                    auth_type: "NONE".into(),
                    invoke_mode: "BUFFERED".into(),
                    cors: None,
                    creation_time: String::new(),
                    last_modified_time: String::new(),
                };
                let mut configuration = self.url_configuration(host, name, None, &url);
                if let Some(object) = configuration.as_object_mut() {
                    object.remove("CreationTime");
                    object.remove("LastModifiedTime");
                }
                json_response(StatusCode::OK, &configuration)
            }
            None if self.pool(name).is_some() => does_not_exist(),
            None => boxed(self.not_found(name)),
        }
    }

    /// `DeleteFunctionUrlConfig`: the URL is no longer served.
    pub(super) async fn delete_url(&self, name: &str, qualifier: Option<&str>) -> Response<Body> {
        let _changing = self.changes.lock().await;
        let mut record = match self.accessed(name, qualifier, "DeleteFunctionUrlConfig") {
            Ok(record) => record,
            Err(refusal) => return *refusal,
        };
        if record.urls.remove(qualifier.unwrap_or_default()).is_none() {
            return does_not_exist();
        }
        if let Err(refusal) = self.save(&record).await {
            return refusal;
        }
        lock(&self.records).insert(name.to_owned(), record);
        boxed(empty(StatusCode::NO_CONTENT))
    }

    /// Whether `name` (at `qualifier`) has a URL the local Lambda serves: a project's function
    /// always, a created one once it has a URL configuration.
    pub(super) fn has_url(&self, name: &str, qualifier: Option<&str>) -> bool {
        match lock(&self.records).get(name) {
            Some(record) => record.urls.contains_key(qualifier.unwrap_or_default()),
            None => qualifier.is_none(),
        }
    }
}
