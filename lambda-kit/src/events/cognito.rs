//! Amazon Cognito user pool triggers: the event each trigger sends, and the answer the pool
//! expects back.
//!
//! A user pool invokes its trigger functions synchronously with one JSON document per trigger
//! (`triggerSource`, `userName`, `request`, `response`) and reads the same document back, with
//! `response` filled in (AWS "Customizing user pool workflows with Lambda triggers"). To refuse
//! (a sign-up, a sign-in) the function returns an error: the pool shows its message to the user.
//!
//! [`PreSignUp`] and [`PreTokenGeneration`] are lambda-kit's own: they keep every field the
//! pool sent, whatever the trigger's version, and answer with what the handler set and nothing
//! more. That matters for pre token generation, where a `groupOverrideDetails` the handler did
//! not mean to send (as a struct with default fields writes it) replaces the user's groups in
//! the token with none. The other triggers' types come from `aws_lambda_events`.
//!
//! ```no_run
//! use lambda_kit::events::cognito::PreSignUp;
//! use lambda_kit::{Context, Diagnostic};
//!
//! #[lambda_kit::handler]
//! async fn handler(event: PreSignUp, _ctx: Context) -> Result<PreSignUp, Diagnostic> {
//!     match event.email() {
//!         Some(email) if email.ends_with("@example.com") => Ok(event.auto_confirm().auto_verify_email()),
//!         Some(_) => Ok(event),
//!         None => Err(Diagnostic::new("NoEmail", "an email address is needed to sign up")),
//!     }
//! }
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[doc(inline)]
pub use aws_lambda_events::cognito::{
    CognitoEventUserPoolsCallerContext, CognitoEventUserPoolsCreateAuthChallenge,
    CognitoEventUserPoolsCustomMessage, CognitoEventUserPoolsDefineAuthChallenge,
    CognitoEventUserPoolsMigrateUser, CognitoEventUserPoolsPostAuthentication,
    CognitoEventUserPoolsPostConfirmation, CognitoEventUserPoolsPreAuthentication,
    CognitoEventUserPoolsPreTokenGenV2, CognitoEventUserPoolsVerifyAuthChallenge,
};

/// What every user pool trigger's event starts with.
///
/// # Examples
///
/// ```
/// let event: lambda_kit::events::cognito::PreSignUp = serde_json::from_str(r#"{
///     "version": "1", "triggerSource": "PreSignUp_SignUp", "region": "us-east-1",
///     "userPoolId": "us-east-1_Ab12", "userName": "ada",
///     "callerContext": {"awsSdkVersion": "aws-sdk-js-3", "clientId": "client-1"},
///     "request": {"userAttributes": {"email": "ada@example.com"}},
///     "response": {"autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false}
/// }"#)?;
/// assert_eq!(event.header.user_pool_id, "us-east-1_Ab12");
/// assert_eq!(event.header.caller_context.client_id, "client-1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Header {
    /// The event's version (`"1"`).
    #[serde(default)]
    pub version: String,
    /// Which trigger and why: `PreSignUp_SignUp`, `TokenGeneration_Authentication`, ...
    #[serde(default)]
    pub trigger_source: String,
    /// The pool's region.
    #[serde(default)]
    pub region: String,
    /// The pool's id.
    #[serde(default)]
    pub user_pool_id: String,
    /// The user's name in the pool.
    #[serde(default)]
    pub user_name: String,
    /// The SDK and app client the request came from.
    #[serde(default)]
    pub caller_context: CallerContext,
}

/// The SDK and app client a user pool request came from.
///
/// # Examples
///
/// ```
/// let context: lambda_kit::events::cognito::CallerContext =
///     serde_json::from_str(r#"{"awsSdkVersion": "aws-sdk-js-3", "clientId": "client-1"}"#)?;
/// assert_eq!(context.client_id, "client-1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CallerContext {
    /// The SDK's version.
    #[serde(default)]
    pub aws_sdk_version: String,
    /// The app client's id.
    #[serde(default)]
    pub client_id: String,
}

/// The pre sign-up trigger (`PreSignUp_SignUp`, `PreSignUp_AdminCreateUser`,
/// `PreSignUp_ExternalProvider`): accept a sign-up, confirm the user at once, mark their email
/// or phone verified, or refuse with an error.
///
/// Return the event itself: it serializes as the pool sent it, with `response` as set here.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::cognito::PreSignUp;
///
/// let event: PreSignUp = serde_json::from_str(r#"{
///     "version": "1", "triggerSource": "PreSignUp_SignUp", "region": "us-east-1",
///     "userPoolId": "us-east-1_Ab12", "userName": "ada",
///     "callerContext": {"awsSdkVersion": "aws-sdk-js-3", "clientId": "client-1"},
///     "request": {"userAttributes": {"email": "ada@example.com"}, "validationData": null},
///     "response": {"autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false}
/// }"#)?;
/// assert_eq!(event.email(), Some("ada@example.com"));
///
/// let answer = serde_json::to_value(event.auto_confirm().auto_verify_email())?;
/// assert_eq!(answer["response"]["autoConfirmUser"], true);
/// assert_eq!(answer["response"]["autoVerifyEmail"], true);
/// assert_eq!(answer["response"]["autoVerifyPhone"], false);
/// assert_eq!(answer["userName"], "ada");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct PreSignUp {
    /// The trigger, the pool and the user.
    #[serde(flatten)]
    pub header: Header,
    /// What the user signed up with.
    pub request: PreSignUpRequest,
    /// What the pool does with the sign-up; set through [`auto_confirm`](Self::auto_confirm) and
    /// the like.
    #[serde(default)]
    pub response: PreSignUpResponse,
    /// Whatever else the pool sent, sent back as it came.
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// What a user signed up with.
///
/// # Examples
///
/// ```
/// let request: lambda_kit::events::cognito::PreSignUpRequest =
///     serde_json::from_str(r#"{"userAttributes": {"email": "ada@example.com"}, "clientMetadata": null}"#)?;
/// assert_eq!(request.user_attributes["email"], "ada@example.com");
/// assert!(request.client_metadata.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PreSignUpRequest {
    /// The user's attributes: `email`, `phone_number`, `custom:...`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub user_attributes: HashMap<String, String>,
    /// The sign-up request's validation data, which the pool does not store.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub validation_data: HashMap<String, String>,
    /// The app's client metadata.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub client_metadata: HashMap<String, String>,
}

/// What the pool does with a sign-up.
///
/// # Examples
///
/// ```
/// let response = lambda_kit::events::cognito::PreSignUpResponse::default();
/// assert!(!response.auto_confirm_user);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PreSignUpResponse {
    /// Confirm the user without a confirmation code.
    #[serde(default)]
    pub auto_confirm_user: bool,
    /// Mark the user's email verified (needs `auto_confirm_user`).
    #[serde(default)]
    pub auto_verify_email: bool,
    /// Mark the user's phone number verified (needs `auto_confirm_user`).
    #[serde(default)]
    pub auto_verify_phone: bool,
}

impl PreSignUp {
    /// A user attribute, such as `email` or `custom:team`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let event: lambda_kit::events::cognito::PreSignUp = serde_json::from_str(r#"{"request": {"userAttributes": {"custom:team": "ops"}}}"#).unwrap();
    /// assert_eq!(event.user_attribute("custom:team"), Some("ops"));
    /// ```
    pub fn user_attribute(&self, name: &str) -> Option<&str> {
        self.request.user_attributes.get(name).map(String::as_str)
    }

    /// The `email` the user signed up with.
    ///
    /// # Examples
    ///
    /// ```
    /// # let event: lambda_kit::events::cognito::PreSignUp = serde_json::from_str(r#"{"request": {"userAttributes": {}}}"#).unwrap();
    /// assert_eq!(event.email(), None);
    /// ```
    pub fn email(&self) -> Option<&str> {
        self.user_attribute("email")
    }

    /// Confirms the user without a confirmation code.
    ///
    /// # Examples
    ///
    /// ```
    /// # let event: lambda_kit::events::cognito::PreSignUp = serde_json::from_str(r#"{"request": {}}"#).unwrap();
    /// assert!(event.auto_confirm().response.auto_confirm_user);
    /// ```
    #[must_use]
    pub fn auto_confirm(mut self) -> Self {
        self.response.auto_confirm_user = true;
        self
    }

    /// Confirms the user and marks their email verified (Cognito needs both together).
    ///
    /// # Examples
    ///
    /// ```
    /// # let event: lambda_kit::events::cognito::PreSignUp = serde_json::from_str(r#"{"request": {}}"#).unwrap();
    /// let event = event.auto_verify_email();
    /// assert!(event.response.auto_confirm_user && event.response.auto_verify_email);
    /// ```
    #[must_use]
    pub fn auto_verify_email(mut self) -> Self {
        self.response.auto_confirm_user = true;
        self.response.auto_verify_email = true;
        self
    }

    /// Confirms the user and marks their phone number verified.
    ///
    /// # Examples
    ///
    /// ```
    /// # let event: lambda_kit::events::cognito::PreSignUp = serde_json::from_str(r#"{"request": {}}"#).unwrap();
    /// assert!(event.auto_verify_phone().response.auto_verify_phone);
    /// ```
    #[must_use]
    pub fn auto_verify_phone(mut self) -> Self {
        self.response.auto_confirm_user = true;
        self.response.auto_verify_phone = true;
        self
    }
}

/// The pre token generation trigger (version 1, `TokenGeneration_*`): claims to add to or
/// override in the ID token, claims to suppress, and the groups the token names.
///
/// Return the event itself. Its `response` holds only what was set: with nothing set, the
/// pool issues the token unchanged.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::cognito::PreTokenGeneration;
///
/// let event: PreTokenGeneration = serde_json::from_str(r#"{
///     "version": "1", "triggerSource": "TokenGeneration_Authentication", "region": "us-east-1",
///     "userPoolId": "us-east-1_Ab12", "userName": "ada",
///     "callerContext": {"awsSdkVersion": "aws-sdk-js-3", "clientId": "client-1"},
///     "request": {
///         "userAttributes": {"email": "ada@example.com", "custom:tier": "gold"},
///         "groupConfiguration": {"groupsToOverride": ["admins"], "iamRolesToOverride": [], "preferredRole": null}
///     },
///     "response": {"claimsOverrideDetails": null}
/// }"#)?;
/// assert_eq!(event.request.group_configuration.groups_to_override, ["admins"]);
///
/// let tier = event.user_attribute("custom:tier").unwrap_or("free").to_owned();
/// let answer = serde_json::to_value(event.add_claim("tier", tier).suppress_claim("email"))?;
/// let details = &answer["response"]["claimsOverrideDetails"];
/// assert_eq!(details["claimsToAddOrOverride"]["tier"], "gold");
/// assert_eq!(details["claimsToSuppress"][0], "email");
/// assert!(details.get("groupOverrideDetails").is_none(), "the user's groups stay as they are");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct PreTokenGeneration {
    /// The trigger, the pool and the user.
    #[serde(flatten)]
    pub header: Header,
    /// The user's attributes and groups.
    pub request: PreTokenGenerationRequest,
    /// What to change in the token; set through [`add_claim`](Self::add_claim) and the like.
    #[serde(default)]
    pub response: PreTokenGenerationResponse,
    /// Whatever else the pool sent, sent back as it came.
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// The user a token is generated for.
///
/// # Examples
///
/// ```
/// let request: lambda_kit::events::cognito::PreTokenGenerationRequest =
///     serde_json::from_str(r#"{"userAttributes": {"sub": "5f1b"}, "groupConfiguration": null}"#)?;
/// assert_eq!(request.user_attributes["sub"], "5f1b");
/// assert!(request.group_configuration.groups_to_override.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PreTokenGenerationRequest {
    /// The user's attributes.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub user_attributes: HashMap<String, String>,
    /// The user's groups and IAM roles.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub group_configuration: GroupConfiguration,
    /// The app's client metadata.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub client_metadata: HashMap<String, String>,
}

/// A user's groups and IAM roles, as the pool sends them and as a trigger overrides them.
///
/// # Examples
///
/// ```
/// let groups = lambda_kit::events::cognito::GroupConfiguration::default();
/// assert!(groups.preferred_role.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct GroupConfiguration {
    /// The groups (`cognito:groups` in the token).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub groups_to_override: Vec<String>,
    /// The groups' IAM roles (`cognito:roles`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub iam_roles_to_override: Vec<String>,
    /// The preferred IAM role (`cognito:preferred_role`).
    #[serde(default)]
    pub preferred_role: Option<String>,
}

/// What a pre token generation trigger changes in the token.
///
/// # Examples
///
/// ```
/// let response = lambda_kit::events::cognito::PreTokenGenerationResponse::default();
/// assert_eq!(serde_json::to_value(&response)?, serde_json::json!({"claimsOverrideDetails": null}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PreTokenGenerationResponse {
    /// The changes; `None` (JSON `null`) leaves the token as it is.
    #[serde(default)]
    pub claims_override_details: Option<ClaimsOverrideDetails>,
}

/// Claims to add or override, claims to suppress, and the groups to name instead of the user's.
///
/// # Examples
///
/// ```
/// let details = lambda_kit::events::cognito::ClaimsOverrideDetails::default();
/// assert_eq!(serde_json::to_value(&details)?, serde_json::json!({}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ClaimsOverrideDetails {
    /// Claims added to the ID token, or replacing ones it has.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub claims_to_add_or_override: HashMap<String, String>,
    /// Claims taken out of the ID token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_to_suppress: Vec<String>,
    /// The groups and roles the token names instead of the user's; absent, they stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_override_details: Option<GroupConfiguration>,
}

impl PreTokenGeneration {
    /// A user attribute, such as `email` or `custom:tier`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let event: lambda_kit::events::cognito::PreTokenGeneration = serde_json::from_str(r#"{"request": {"userAttributes": {"custom:tier": "gold"}}}"#).unwrap();
    /// assert_eq!(event.user_attribute("custom:tier"), Some("gold"));
    /// ```
    pub fn user_attribute(&self, name: &str) -> Option<&str> {
        self.request.user_attributes.get(name).map(String::as_str)
    }

    fn details(&mut self) -> &mut ClaimsOverrideDetails {
        self.response
            .claims_override_details
            .get_or_insert_with(ClaimsOverrideDetails::default)
    }

    /// Adds a claim to the ID token, or replaces the one of that name.
    ///
    /// # Examples
    ///
    /// ```
    /// # let event: lambda_kit::events::cognito::PreTokenGeneration = serde_json::from_str(r#"{"request": {}}"#).unwrap();
    /// let event = event.add_claim("tier", "gold");
    /// # assert_eq!(event.response.claims_override_details.unwrap().claims_to_add_or_override["tier"], "gold");
    /// ```
    #[must_use]
    pub fn add_claim(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.details()
            .claims_to_add_or_override
            .insert(name.into(), value.into());
        self
    }

    /// Takes a claim out of the ID token.
    ///
    /// # Examples
    ///
    /// ```
    /// # let event: lambda_kit::events::cognito::PreTokenGeneration = serde_json::from_str(r#"{"request": {}}"#).unwrap();
    /// let event = event.suppress_claim("email");
    /// # assert_eq!(event.response.claims_override_details.unwrap().claims_to_suppress, ["email"]);
    /// ```
    #[must_use]
    pub fn suppress_claim(mut self, name: impl Into<String>) -> Self {
        self.details().claims_to_suppress.push(name.into());
        self
    }

    /// Names these groups in the token (`cognito:groups`) instead of the user's.
    ///
    /// # Examples
    ///
    /// ```
    /// # let event: lambda_kit::events::cognito::PreTokenGeneration = serde_json::from_str(r#"{"request": {}}"#).unwrap();
    /// let event = event.override_groups(["readers"]);
    /// let answer = serde_json::to_value(&event).unwrap();
    /// assert_eq!(answer["response"]["claimsOverrideDetails"]["groupOverrideDetails"]["groupsToOverride"][0], "readers");
    /// ```
    #[must_use]
    pub fn override_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let groups = groups.into_iter().map(Into::into).collect();
        self.details()
            .group_override_details
            .get_or_insert_with(GroupConfiguration::default)
            .groups_to_override = groups;
        self
    }
}

/// Reads JSON `null` as the type's empty value: the pool sends `null` for maps it has nothing in.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
