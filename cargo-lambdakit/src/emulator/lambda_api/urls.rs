//! A created function's function URL configuration, as the Lambda API records it
//! (`CreateFunctionUrlConfig`, `GetFunctionUrlConfig`, `UpdateFunctionUrlConfig`,
//! `DeleteFunctionUrlConfig`), of the function or of one of its aliases (`Qualifier`).
//!
//! The local Lambda keeps it and answers as AWS does, but does not enforce it: a URL with
//! `AuthType` `AWS_IAM` takes unsigned requests. A created function's URL is served at
//! `/lambda-url/{name}/` (`/lambda-url/{name}:{alias}/` for an alias's) once it has a URL
//! configuration, as the project's functions always are.

use crate::emulator::RequestBody;
use http::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{does_not_exist, invalid, json_response, read_request, refused};
use crate::emulator::{Body, Emulator, boxed, empty, lock};

/// A function URL's configuration, as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Url {
    auth_type: String,
    invoke_mode: String,
    cors: Option<Value>,
    creation_time: String,
    last_modified_time: String,
}

/// The Create/UpdateFunctionUrlConfig request body (AWS Lambda API reference).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UrlRequest {
    auth_type: Option<String>,
    invoke_mode: Option<String>,
    cors: Option<Value>,
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
        body: RequestBody,
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
