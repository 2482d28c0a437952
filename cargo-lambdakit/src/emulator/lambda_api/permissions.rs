//! Who may call a created function, as the Lambda API records it: its resource-based policy
//! (`AddPermission`, `GetPolicy`, `RemovePermission`), of the function or of one of its
//! aliases (`Qualifier`).
//!
//! The local Lambda keeps it and answers as AWS does, but does not enforce it: a policy is not
//! evaluated.

use crate::emulator::RequestBody;
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{does_not_exist, invalid, json_response, read_request, refused};
use crate::emulator::{Body, Emulator, boxed, empty, lock};

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

impl Emulator {
    /// `AddPermission`: a statement added to the function's (or alias's) policy.
    pub(super) async fn add_permission(
        &self,
        name: &str,
        qualifier: Option<&str>,
        body: RequestBody,
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
}
