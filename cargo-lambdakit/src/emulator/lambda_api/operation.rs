//! What a request to the local Lambda asks for, read once from its method, path and query
//! into an [`Operation`]: the path split, its labels percent-decoded, the function's name
//! taken out of a name, a `name:qualifier` or an ARN, and the qualifier out of the
//! `Qualifier` parameter or the identifier. Handlers take an operation's fields and never
//! look at the path again; what no operation has is refused here, as AWS refuses it.
//!
//! The paths are AWS's (AWS Lambda API reference, each operation's "Request Syntax"), but for
//! lambdakit's own: `/lambda-url/{name}/...` (a function's URL),
//! `/lambdakit/code/{name}.zip` (where GetFunction's `Code.Location` points),
//! `/lambdakit/layer/{layer}/{version}.zip` (where GetLayerVersion's `Content.Location` points)
//! and `/lambdakit/traces[/{id}]` (the traces serve keeps, for `cargo lambdakit traces`).

use http::{HeaderMap, Method, Response, StatusCode, Uri};

use super::refused;
use crate::emulator::states_api::{Action, TARGET_HEADER};
use crate::emulator::{Body, function_name, function_qualifier};

/// A request the local Lambda answers, as its method, path and query name it (AWS's names).
/// `name` is a function's name; `qualifier` a version, an alias or `$LATEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Operation {
    /// `POST /2015-03-31/functions/{FunctionName}/invocations`.
    Invoke {
        name: String,
        qualifier: Option<String>,
    },
    /// `POST /2021-11-15/functions/{FunctionName}/response-streaming-invocations`.
    InvokeWithResponseStream {
        name: String,
        qualifier: Option<String>,
    },
    /// Any method on `/lambda-url/{name}[:{alias}]/{path}`: an HTTP request to a function's
    /// URL, not a Lambda API call.
    InvokeFunctionUrl {
        name: String,
        qualifier: Option<String>,
        /// The path below the function's URL, from its `/`.
        path: String,
    },
    /// Any method on `/_lambdakit[/...]`: the local console (lambdakit's own, see `console`).
    Console {
        /// The request's path.
        path: String,
        query: Option<String>,
    },
    /// Any method on a path of none of serve's own APIs (see [`owns_path`]): a request to the
    /// project's HTTP API, not a Lambda API call.
    InvokeApi {
        /// The request's path.
        path: String,
    },
    /// `POST /2015-03-31/functions`.
    CreateFunction,
    /// `GET /2015-03-31/functions?Marker=..&MaxItems=..`.
    ListFunctions {
        marker: Option<String>,
        /// 1 to 10000, 50 when not given.
        max_items: usize,
    },
    /// `GET /2015-03-31/functions/{FunctionName}`.
    GetFunction {
        name: String,
        qualifier: Option<String>,
    },
    /// `GET /2015-03-31/functions/{FunctionName}/configuration`.
    GetFunctionConfiguration {
        name: String,
        qualifier: Option<String>,
    },
    /// `GET /lambdakit/code/{FunctionName}.zip`: the zip GetFunction's `Code.Location` names.
    GetFunctionCode {
        name: String,
        qualifier: Option<String>,
    },
    /// `GET /lambdakit/traces`: the traces serve keeps, newest first (lambdakit's own).
    ListTraces,
    /// `GET /lambdakit/traces/{id}`: one of them, its id in hex or as X-Ray writes it.
    GetTrace { id: String },
    /// `PUT /2015-03-31/functions/{FunctionName}/code`.
    UpdateFunctionCode { name: String },
    /// `PUT /2015-03-31/functions/{FunctionName}/configuration`.
    UpdateFunctionConfiguration { name: String },
    /// `DELETE /2015-03-31/functions/{FunctionName}`: the function, or with a qualifier one
    /// of its versions.
    DeleteFunction {
        name: String,
        qualifier: Option<String>,
    },
    /// `POST /2015-03-31/functions/{FunctionName}/versions`.
    PublishVersion { name: String },
    /// `GET /2015-03-31/functions/{FunctionName}/versions`.
    ListVersionsByFunction { name: String },
    /// `POST /2015-03-31/functions/{FunctionName}/aliases`.
    CreateAlias { name: String },
    /// `GET /2015-03-31/functions/{FunctionName}/aliases/{Name}`.
    GetAlias { name: String, alias: String },
    /// `GET /2015-03-31/functions/{FunctionName}/aliases?FunctionVersion=..`.
    ListAliases {
        name: String,
        function_version: Option<String>,
    },
    /// `PUT /2015-03-31/functions/{FunctionName}/aliases/{Name}`.
    UpdateAlias { name: String, alias: String },
    /// `DELETE /2015-03-31/functions/{FunctionName}/aliases/{Name}`.
    DeleteAlias { name: String, alias: String },
    /// `POST /2015-03-31/functions/{FunctionName}/policy`.
    AddPermission {
        name: String,
        qualifier: Option<String>,
    },
    /// `GET /2015-03-31/functions/{FunctionName}/policy`.
    GetPolicy {
        name: String,
        qualifier: Option<String>,
    },
    /// `DELETE /2015-03-31/functions/{FunctionName}/policy/{StatementId}`.
    RemovePermission {
        name: String,
        qualifier: Option<String>,
        statement_id: String,
    },
    /// `POST /2021-10-31/functions/{FunctionName}/url`.
    CreateFunctionUrlConfig {
        name: String,
        qualifier: Option<String>,
    },
    /// `GET /2021-10-31/functions/{FunctionName}/url`.
    GetFunctionUrlConfig {
        name: String,
        qualifier: Option<String>,
    },
    /// `PUT /2021-10-31/functions/{FunctionName}/url`.
    UpdateFunctionUrlConfig {
        name: String,
        qualifier: Option<String>,
    },
    /// `DELETE /2021-10-31/functions/{FunctionName}/url`.
    DeleteFunctionUrlConfig {
        name: String,
        qualifier: Option<String>,
    },
    /// `PUT /2017-10-31/functions/{FunctionName}/concurrency`.
    PutFunctionConcurrency { name: String },
    /// `GET /2019-09-30/functions/{FunctionName}/concurrency`.
    GetFunctionConcurrency { name: String },
    /// `DELETE /2017-10-31/functions/{FunctionName}/concurrency`.
    DeleteFunctionConcurrency { name: String },
    /// `PUT /2019-09-25/functions/{FunctionName}/event-invoke-config`.
    PutFunctionEventInvokeConfig {
        name: String,
        qualifier: Option<String>,
    },
    /// `POST /2019-09-25/functions/{FunctionName}/event-invoke-config`.
    UpdateFunctionEventInvokeConfig {
        name: String,
        qualifier: Option<String>,
    },
    /// `GET /2019-09-25/functions/{FunctionName}/event-invoke-config`.
    GetFunctionEventInvokeConfig {
        name: String,
        qualifier: Option<String>,
    },
    /// `DELETE /2019-09-25/functions/{FunctionName}/event-invoke-config`.
    DeleteFunctionEventInvokeConfig {
        name: String,
        qualifier: Option<String>,
    },
    /// `GET /2019-09-25/functions/{FunctionName}/event-invoke-config/list?Marker=..&MaxItems=..`.
    ListFunctionEventInvokeConfigs {
        name: String,
        marker: Option<String>,
        /// 1 to 50, 50 when not given.
        max_items: usize,
    },
    /// `GET /2017-03-31/tags/{ARN}`.
    ListTags { name: String },
    /// `POST /2018-10-31/layers/{LayerName}/versions`.
    PublishLayerVersion { layer: String },
    /// `GET /2018-10-31/layers/{LayerName}/versions/{VersionNumber}`.
    GetLayerVersion { layer: String, version: u64 },
    /// `GET /2018-10-31/layers?find=LayerVersion&Arn=..`.
    GetLayerVersionByArn { arn: String },
    /// `GET /2018-10-31/layers/{LayerName}/versions?CompatibleRuntime=..&CompatibleArchitecture=..&Marker=..&MaxItems=..`.
    ListLayerVersions { layer: String, list: LayerList },
    /// `GET /2018-10-31/layers?CompatibleRuntime=..&CompatibleArchitecture=..&Marker=..&MaxItems=..`.
    ListLayers { list: LayerList },
    /// `DELETE /2018-10-31/layers/{LayerName}/versions/{VersionNumber}`.
    DeleteLayerVersion { layer: String, version: u64 },
    /// `GET /lambdakit/layer/{LayerName}/{VersionNumber}.zip`: the zip GetLayerVersion's
    /// `Content.Location` names.
    GetLayerVersionCode { layer: String, version: u64 },
    /// `POST /2017-03-31/tags/{ARN}`.
    TagResource { name: String },
    /// `DELETE /2017-03-31/tags/{ARN}?tagKeys=..&tagKeys=..`.
    UntagResource { name: String, keys: Vec<String> },
    /// `POST /` with `X-Amz-Target: AWSStepFunctions.{Action}`: the Step Functions API (see
    /// `states_api`).
    StepFunctions(Action),
}

/// What ListLayers and ListLayerVersions list: the versions compatible with a runtime and an
/// architecture (any, when not given), a page of at most `max_items` after `marker`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LayerList {
    pub(crate) compatible_runtime: Option<String>,
    pub(crate) compatible_architecture: Option<String>,
    pub(crate) marker: Option<String>,
    /// 1 to 50, 50 when not given.
    pub(crate) max_items: usize,
}

impl LayerList {
    fn parse(query: Option<&str>) -> Result<Self, Refusal> {
        Ok(Self {
            compatible_runtime: query_value(query, "CompatibleRuntime"),
            compatible_architecture: query_value(query, "CompatibleArchitecture"),
            marker: query_value(query, "Marker"),
            max_items: max_items(query, 50, 50)?,
        })
    }
}

/// A request no operation answers, refused before any handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No operation has this method and path: `UnknownOperationException`.
    UnknownOperation { method: Method, path: String },
    /// A query parameter out of its range: `InvalidParameterValueException`.
    InvalidParameter(String),
    /// `X-Amz-Target` names no action of an API serve has.
    UnknownTarget(String),
}

impl Refusal {
    /// The answer AWS gives.
    pub(crate) fn response(&self) -> Response<Body> {
        match self {
            Self::UnknownOperation { method, path } => refused(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                &format!("{method} {path} is not an operation of the local Lambda"),
            ),
            Self::InvalidParameter(message) => super::invalid(message),
            Self::UnknownTarget(target) => crate::emulator::states_api::unknown_target(target),
        }
    }
}

impl Operation {
    /// The service name its requests are signed for.
    pub(crate) fn signing_service(&self) -> &'static str {
        match self {
            Self::StepFunctions(_) => crate::emulator::states_api::SERVICE,
            _ => super::SERVICE,
        }
    }

    /// The operation `method` on `uri` asks for (with, for the APIs of the AWS JSON protocol,
    /// the action its `X-Amz-Target` header names).
    ///
    /// # Errors
    ///
    /// [`Refusal::UnknownOperation`] for a method and path no operation has,
    /// [`Refusal::UnknownTarget`] for an `X-Amz-Target` no API of serve's answers, and
    /// [`Refusal::InvalidParameter`] for a `MaxItems` out of range.
    pub(crate) fn parse(method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<Self, Refusal> {
        let path = uri.path();
        let query = uri.query();
        let unknown = || Refusal::UnknownOperation {
            method: method.clone(),
            path: path.to_owned(),
        };
        if let Some(target) = headers.get(TARGET_HEADER) {
            let target = String::from_utf8_lossy(target.as_bytes());
            if path != "/" || method != Method::POST {
                return Err(unknown());
            }
            return Action::targeted(&target)
                .map(Self::StepFunctions)
                .ok_or_else(|| Refusal::UnknownTarget(target.into_owned()));
        }
        if !owns_path(path) {
            return Ok(Self::InvokeApi {
                path: path.to_owned(),
            });
        }
        if path == crate::emulator::console::ROOT
            || path.starts_with(&format!("{}/", crate::emulator::console::ROOT))
        {
            return Ok(Self::Console {
                path: path.to_owned(),
                query: query.map(str::to_owned),
            });
        }
        // `name`, `name:qualifier` or an ARN, decoded: the function's name and qualifier.
        let function = |identifier: &str| {
            let identifier = decode(identifier);
            (function_name(&identifier), qualifier(query, &identifier))
        };
        if let Some(rest) = path.strip_prefix("/lambda-url/") {
            let (identifier, below) = rest
                .split_once('/')
                .map_or((rest, String::from("/")), |(identifier, below)| {
                    (identifier, format!("/{below}"))
                });
            let identifier = decode(identifier);
            let (name, qualifier) = match identifier.split_once(':') {
                Some((name, qualifier)) => (name.to_owned(), Some(qualifier.to_owned())),
                None => (identifier, None),
            };
            return Ok(Self::InvokeFunctionUrl {
                name,
                qualifier,
                path: below,
            });
        }
        if let Some(identifier) = path
            .strip_prefix("/2015-03-31/functions/")
            .and_then(|rest| rest.strip_suffix("/invocations"))
        {
            if method != Method::POST {
                return Err(unknown());
            }
            let (name, qualifier) = function(identifier);
            return Ok(Self::Invoke { name, qualifier });
        }
        if let Some(identifier) = path
            .strip_prefix("/2021-11-15/functions/")
            .and_then(|rest| rest.strip_suffix("/response-streaming-invocations"))
        {
            if method != Method::POST {
                return Err(unknown());
            }
            let (name, qualifier) = function(identifier);
            return Ok(Self::InvokeWithResponseStream { name, qualifier });
        }
        if let Some(identifier) = path
            .strip_prefix("/lambdakit/code/")
            .and_then(|rest| rest.strip_suffix(".zip"))
        {
            if method != Method::GET {
                return Err(unknown());
            }
            let (name, qualifier) = function(identifier);
            return Ok(Self::GetFunctionCode { name, qualifier });
        }
        if let Some(rest) = path
            .strip_prefix("/lambdakit/layer/")
            .and_then(|rest| rest.strip_suffix(".zip"))
        {
            let Some((layer, version)) = rest.split_once('/') else {
                return Err(unknown());
            };
            if method != Method::GET {
                return Err(unknown());
            }
            return Ok(Self::GetLayerVersionCode {
                layer: layer_name(layer),
                version: version_number(version)?,
            });
        }
        if path == "/2018-10-31/layers" || path == "/2018-10-31/layers/" {
            if method != Method::GET {
                return Err(unknown());
            }
            if query_value(query, "find").as_deref() == Some("LayerVersion") {
                let arn = query_value(query, "Arn").ok_or_else(|| {
                    Refusal::InvalidParameter(
                        "Arn is required to find a layer version: its version ARN".into(),
                    )
                })?;
                return Ok(Self::GetLayerVersionByArn { arn });
            }
            return Ok(Self::ListLayers {
                list: LayerList::parse(query)?,
            });
        }
        if let Some(rest) = path.strip_prefix("/2018-10-31/layers/") {
            let (layer, below) = rest.split_once('/').ok_or_else(unknown)?;
            let layer = layer_name(layer);
            let (below, version) = match below.split_once('/') {
                Some(("versions", version)) => ("versions", Some(version_number(version)?)),
                Some(_) => return Err(unknown()),
                None => (below, None),
            };
            return match (method, below, version) {
                (&Method::POST, "versions", None) => Ok(Self::PublishLayerVersion { layer }),
                (&Method::GET, "versions", None) => Ok(Self::ListLayerVersions {
                    layer,
                    list: LayerList::parse(query)?,
                }),
                (&Method::GET, "versions", Some(version)) => {
                    Ok(Self::GetLayerVersion { layer, version })
                }
                (&Method::DELETE, "versions", Some(version)) => {
                    Ok(Self::DeleteLayerVersion { layer, version })
                }
                _ => Err(unknown()),
            };
        }
        if let Some(rest) = path.strip_prefix("/lambdakit/traces") {
            if method != Method::GET {
                return Err(unknown());
            }
            return match rest.strip_prefix('/') {
                None if rest.is_empty() => Ok(Self::ListTraces),
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    Ok(Self::GetTrace { id: decode(id) })
                }
                _ => Err(unknown()),
            };
        }
        if let Some(rest) = path.strip_prefix("/2021-10-31/functions/") {
            let Some((identifier, "url")) = rest.split_once('/') else {
                return Err(unknown());
            };
            let (name, qualifier) = function(identifier);
            return match *method {
                Method::POST => Ok(Self::CreateFunctionUrlConfig { name, qualifier }),
                Method::PUT => Ok(Self::UpdateFunctionUrlConfig { name, qualifier }),
                Method::GET => Ok(Self::GetFunctionUrlConfig { name, qualifier }),
                Method::DELETE => Ok(Self::DeleteFunctionUrlConfig { name, qualifier }),
                _ => Err(unknown()),
            };
        }
        if let Some(rest) = path.strip_prefix("/2019-09-25/functions/") {
            if let Some((identifier, "event-invoke-config/list")) = rest.split_once('/') {
                if method != Method::GET {
                    return Err(unknown());
                }
                let name = function_name(&decode(identifier));
                return Ok(Self::ListFunctionEventInvokeConfigs {
                    name,
                    marker: query_value(query, "Marker"),
                    max_items: max_items(query, 50, 50)?,
                });
            }
            let Some((identifier, "event-invoke-config")) = rest.split_once('/') else {
                return Err(unknown());
            };
            let (name, qualifier) = function(identifier);
            return match *method {
                Method::PUT => Ok(Self::PutFunctionEventInvokeConfig { name, qualifier }),
                Method::POST => Ok(Self::UpdateFunctionEventInvokeConfig { name, qualifier }),
                Method::GET => Ok(Self::GetFunctionEventInvokeConfig { name, qualifier }),
                Method::DELETE => Ok(Self::DeleteFunctionEventInvokeConfig { name, qualifier }),
                _ => Err(unknown()),
            };
        }
        // PutFunctionConcurrency and DeleteFunctionConcurrency are of 2017-10-31,
        // GetFunctionConcurrency of 2019-09-30.
        for (version, of_2017) in [
            ("/2017-10-31/functions/", true),
            ("/2019-09-30/functions/", false),
        ] {
            let Some(rest) = path.strip_prefix(version) else {
                continue;
            };
            let Some((identifier, "concurrency")) = rest.split_once('/') else {
                return Err(unknown());
            };
            let name = function_name(&decode(identifier));
            return match (method, of_2017) {
                (&Method::PUT, true) => Ok(Self::PutFunctionConcurrency { name }),
                (&Method::DELETE, true) => Ok(Self::DeleteFunctionConcurrency { name }),
                (&Method::GET, false) => Ok(Self::GetFunctionConcurrency { name }),
                _ => Err(unknown()),
            };
        }
        if let Some(arn) = path.strip_prefix("/2017-03-31/tags/") {
            let name = function_name(&decode(arn));
            return match *method {
                Method::GET => Ok(Self::ListTags { name }),
                Method::POST => Ok(Self::TagResource { name }),
                Method::DELETE => Ok(Self::UntagResource {
                    name,
                    keys: query_all(query, "tagKeys"),
                }),
                _ => Err(unknown()),
            };
        }
        let rest = match path.strip_prefix("/2015-03-31/functions") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
            _ => return Err(unknown()),
        };
        let (identifier, below) = rest.split_once('/').unwrap_or((rest, ""));
        let (name, qualifier) = function(identifier);
        if name.is_empty() {
            return match (method, below) {
                (&Method::POST, "") => Ok(Self::CreateFunction),
                (&Method::GET, "") => list_functions(query),
                _ => Err(unknown()),
            };
        }
        // An alias's name or a statement id below `aliases/` or `policy/`.
        let (below, label) = match below.split_once('/') {
            Some((kind @ ("aliases" | "policy"), label)) => (kind, Some(decode(label))),
            Some(_) => return Err(unknown()),
            None => (below, None),
        };
        match (method, below, label) {
            (&Method::GET, "", None) => Ok(Self::GetFunction { name, qualifier }),
            (&Method::DELETE, "", None) => Ok(Self::DeleteFunction { name, qualifier }),
            (&Method::GET, "configuration", None) => {
                Ok(Self::GetFunctionConfiguration { name, qualifier })
            }
            (&Method::PUT, "configuration", None) => Ok(Self::UpdateFunctionConfiguration { name }),
            (&Method::PUT, "code", None) => Ok(Self::UpdateFunctionCode { name }),
            (&Method::POST, "versions", None) => Ok(Self::PublishVersion { name }),
            (&Method::GET, "versions", None) => Ok(Self::ListVersionsByFunction { name }),
            (&Method::POST, "aliases", None) => Ok(Self::CreateAlias { name }),
            (&Method::GET, "aliases", None) => Ok(Self::ListAliases {
                name,
                function_version: query_value(query, "FunctionVersion"),
            }),
            (&Method::GET, "aliases", Some(alias)) => Ok(Self::GetAlias { name, alias }),
            (&Method::PUT, "aliases", Some(alias)) => Ok(Self::UpdateAlias { name, alias }),
            (&Method::DELETE, "aliases", Some(alias)) => Ok(Self::DeleteAlias { name, alias }),
            (&Method::POST, "policy", None) => Ok(Self::AddPermission { name, qualifier }),
            (&Method::GET, "policy", None) => Ok(Self::GetPolicy { name, qualifier }),
            (&Method::DELETE, "policy", Some(statement_id)) => Ok(Self::RemovePermission {
                name,
                qualifier,
                statement_id,
            }),
            _ => Err(unknown()),
        }
    }
}

/// Whether serve's own APIs answer `path` (a request with an `X-Amz-Target` aside): those
/// whose first segment is a Lambda API version (`2015-03-31`, any `YYYY-MM-DD`), `lambda-url`
/// (function URLs) or `lambdakit` (lambdakit's own). Every other path is the project's HTTP
/// API's.
pub(crate) fn owns_path(path: &str) -> bool {
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let dated = first.len() == 10
        && first.char_indices().all(|(at, c)| match at {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    dated
        || first == "lambda-url"
        || first == "lambdakit"
        || Some(first) == crate::emulator::console::ROOT.strip_prefix('/')
}

/// The refusal of a method and path no operation has, when the project has no HTTP API.
pub(crate) fn unknown_operation(method: &Method, path: &str) -> Response<Body> {
    Refusal::UnknownOperation {
        method: method.clone(),
        path: path.to_owned(),
    }
    .response()
}

/// `ListFunctions`, a page at a time: `MaxItems` (1 to 10000, 50 by default) after
/// `Marker`, the `NextMarker` of the page before.
fn list_functions(query: Option<&str>) -> Result<Operation, Refusal> {
    Ok(Operation::ListFunctions {
        marker: query_value(query, "Marker"),
        max_items: max_items(query, 50, 10_000)?,
    })
}

/// A layer's name, from a `LayerName` label: its name, or its ARN (AWS takes either).
fn layer_name(label: &str) -> String {
    let label = decode(label);
    match label.rsplit_once(":layer:") {
        Some((_, name)) => name.split(':').next().unwrap_or_default().to_owned(),
        None => label,
    }
}

/// A `VersionNumber` label: a layer version's number.
fn version_number(label: &str) -> Result<u64, Refusal> {
    decode(label).parse().map_err(|_| {
        Refusal::InvalidParameter(format!(
            "VersionNumber `{}` is not a layer version's number",
            decode(label)
        ))
    })
}

/// A list's `MaxItems`: `default` when not given, else a number from 1 to `most`.
fn max_items(query: Option<&str>, default: usize, most: usize) -> Result<usize, Refusal> {
    match query_value(query, "MaxItems").map(|items| items.parse::<usize>()) {
        None => Ok(default),
        Some(Ok(items)) if (1..=most).contains(&items) => Ok(items),
        Some(_) => Err(Refusal::InvalidParameter(format!(
            "MaxItems must be a number from 1 to {most}"
        ))),
    }
}

/// The qualifier a request names: its `Qualifier` query parameter, else the one in its
/// function identifier (`name:qualifier`, or a qualified ARN).
fn qualifier(query: Option<&str>, identifier: &str) -> Option<String> {
    query_value(query, "Qualifier").or_else(|| function_qualifier(identifier))
}

/// Every value of the parameter `key` of a request's `query`, decoded.
fn query_all(query: Option<&str>, key: &str) -> Vec<String> {
    query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name == key).then(|| decode(&value.replace('+', " ")))
        })
        .collect()
}

/// The parameter `key` of a request's `query`, decoded.
fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query_all(query, key).into_iter().next()
}

/// How the Lambda API's path labels and query values are decoded: every one goes through
/// this name.
fn decode(text: &str) -> String {
    crate::percent::decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(method: &str, uri: &str) -> Result<Operation, Refusal> {
        Operation::parse(
            &method.parse().unwrap(),
            &uri.parse().unwrap(),
            &HeaderMap::new(),
        )
    }

    fn owned(text: &str) -> String {
        text.to_owned()
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn each_method_and_path_is_one_operation() {
        use Operation::*;
        let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aorders";
        let layer_arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Alayer%3Ashipper";
        let table = [
            (
                "POST",
                owned("/2015-03-31/functions/orders/invocations"),
                Invoke {
                    name: owned("orders"),
                    qualifier: None,
                },
            ),
            (
                "POST",
                owned("/2021-11-15/functions/orders%3Alive/response-streaming-invocations"),
                InvokeWithResponseStream {
                    name: owned("orders"),
                    qualifier: some("live"),
                },
            ),
            (
                "POST",
                owned("/2015-03-31/functions/orders%3Alive/invocations"),
                Invoke {
                    name: owned("orders"),
                    qualifier: some("live"),
                },
            ),
            (
                "POST",
                format!("/2015-03-31/functions/{arn}%3A7/invocations"),
                Invoke {
                    name: owned("orders"),
                    qualifier: some("7"),
                },
            ),
            (
                "POST",
                owned("/2015-03-31/functions/orders/invocations?Qualifier=%24LATEST"),
                Invoke {
                    name: owned("orders"),
                    qualifier: some("$LATEST"),
                },
            ),
            (
                "DELETE",
                owned("/lambda-url/web:live/a/b?x=1"),
                InvokeFunctionUrl {
                    name: owned("web"),
                    qualifier: some("live"),
                    path: owned("/a/b"),
                },
            ),
            (
                "GET",
                owned("/lambda-url/web"),
                InvokeFunctionUrl {
                    name: owned("web"),
                    qualifier: None,
                    path: owned("/"),
                },
            ),
            ("POST", owned("/2015-03-31/functions"), CreateFunction),
            ("POST", owned("/2015-03-31/functions/"), CreateFunction),
            (
                "GET",
                owned("/2015-03-31/functions/?MaxItems=2&Marker=b%20c"),
                ListFunctions {
                    marker: some("b c"),
                    max_items: 2,
                },
            ),
            (
                "GET",
                owned("/2015-03-31/functions"),
                ListFunctions {
                    marker: None,
                    max_items: 50,
                },
            ),
            (
                "GET",
                format!("/2015-03-31/functions/{arn}"),
                GetFunction {
                    name: owned("orders"),
                    qualifier: None,
                },
            ),
            (
                "GET",
                owned("/2015-03-31/functions/orders/configuration?Qualifier=live"),
                GetFunctionConfiguration {
                    name: owned("orders"),
                    qualifier: some("live"),
                },
            ),
            ("GET", owned("/lambdakit/traces"), ListTraces),
            (
                "GET",
                owned("/lambdakit/traces/1-5759e988-bd862e3fe1be46a994272793"),
                GetTrace {
                    id: owned("1-5759e988-bd862e3fe1be46a994272793"),
                },
            ),
            (
                "GET",
                owned("/lambdakit/code/orders%3A3.zip"),
                GetFunctionCode {
                    name: owned("orders"),
                    qualifier: some("3"),
                },
            ),
            (
                "PUT",
                owned("/2015-03-31/functions/orders/code"),
                UpdateFunctionCode {
                    name: owned("orders"),
                },
            ),
            (
                "PUT",
                owned("/2015-03-31/functions/orders/configuration"),
                UpdateFunctionConfiguration {
                    name: owned("orders"),
                },
            ),
            (
                "DELETE",
                owned("/2015-03-31/functions/orders"),
                DeleteFunction {
                    name: owned("orders"),
                    qualifier: None,
                },
            ),
            (
                "DELETE",
                owned("/2015-03-31/functions/orders?Qualifier=2"),
                DeleteFunction {
                    name: owned("orders"),
                    qualifier: some("2"),
                },
            ),
            (
                "POST",
                owned("/2015-03-31/functions/orders/versions"),
                PublishVersion {
                    name: owned("orders"),
                },
            ),
            (
                "GET",
                owned("/2015-03-31/functions/orders/versions"),
                ListVersionsByFunction {
                    name: owned("orders"),
                },
            ),
            (
                "POST",
                owned("/2015-03-31/functions/orders/aliases"),
                CreateAlias {
                    name: owned("orders"),
                },
            ),
            (
                "GET",
                owned("/2015-03-31/functions/orders/aliases?FunctionVersion=1"),
                ListAliases {
                    name: owned("orders"),
                    function_version: some("1"),
                },
            ),
            (
                "GET",
                owned("/2015-03-31/functions/orders/aliases/live"),
                GetAlias {
                    name: owned("orders"),
                    alias: owned("live"),
                },
            ),
            (
                "PUT",
                owned("/2015-03-31/functions/orders/aliases/live"),
                UpdateAlias {
                    name: owned("orders"),
                    alias: owned("live"),
                },
            ),
            (
                "DELETE",
                owned("/2015-03-31/functions/orders/aliases/live"),
                DeleteAlias {
                    name: owned("orders"),
                    alias: owned("live"),
                },
            ),
            (
                "POST",
                owned("/2015-03-31/functions/orders/policy?Qualifier=live"),
                AddPermission {
                    name: owned("orders"),
                    qualifier: some("live"),
                },
            ),
            (
                "GET",
                owned("/2015-03-31/functions/orders/policy"),
                GetPolicy {
                    name: owned("orders"),
                    qualifier: None,
                },
            ),
            (
                "DELETE",
                owned("/2015-03-31/functions/orders%3Alive/policy/from%2Ds3"),
                RemovePermission {
                    name: owned("orders"),
                    qualifier: some("live"),
                    statement_id: owned("from-s3"),
                },
            ),
            (
                "POST",
                owned("/2021-10-31/functions/orders/url?Qualifier=live"),
                CreateFunctionUrlConfig {
                    name: owned("orders"),
                    qualifier: some("live"),
                },
            ),
            (
                "GET",
                owned("/2021-10-31/functions/orders/url"),
                GetFunctionUrlConfig {
                    name: owned("orders"),
                    qualifier: None,
                },
            ),
            (
                "PUT",
                owned("/2021-10-31/functions/orders/url"),
                UpdateFunctionUrlConfig {
                    name: owned("orders"),
                    qualifier: None,
                },
            ),
            (
                "DELETE",
                owned("/2021-10-31/functions/orders/url"),
                DeleteFunctionUrlConfig {
                    name: owned("orders"),
                    qualifier: None,
                },
            ),
            (
                "PUT",
                owned("/2017-10-31/functions/orders/concurrency"),
                PutFunctionConcurrency {
                    name: owned("orders"),
                },
            ),
            (
                "DELETE",
                owned("/2017-10-31/functions/orders/concurrency"),
                DeleteFunctionConcurrency {
                    name: owned("orders"),
                },
            ),
            (
                "GET",
                owned("/2019-09-30/functions/orders/concurrency"),
                GetFunctionConcurrency {
                    name: owned("orders"),
                },
            ),
            (
                "GET",
                format!("/2017-03-31/tags/{arn}"),
                ListTags {
                    name: owned("orders"),
                },
            ),
            (
                "POST",
                format!("/2017-03-31/tags/{arn}"),
                TagResource {
                    name: owned("orders"),
                },
            ),
            (
                "DELETE",
                format!("/2017-03-31/tags/{arn}?tagKeys=a&tagKeys=b%20c&other=d"),
                UntagResource {
                    name: owned("orders"),
                    keys: vec![owned("a"), owned("b c")],
                },
            ),
            (
                "PUT",
                owned("/2019-09-25/functions/orders/event-invoke-config"),
                PutFunctionEventInvokeConfig {
                    name: owned("orders"),
                    qualifier: None,
                },
            ),
            (
                "POST",
                owned("/2019-09-25/functions/orders/event-invoke-config?Qualifier=live"),
                UpdateFunctionEventInvokeConfig {
                    name: owned("orders"),
                    qualifier: some("live"),
                },
            ),
            (
                "GET",
                format!("/2019-09-25/functions/{arn}:3/event-invoke-config"),
                GetFunctionEventInvokeConfig {
                    name: owned("orders"),
                    qualifier: some("3"),
                },
            ),
            (
                "DELETE",
                owned("/2019-09-25/functions/orders/event-invoke-config"),
                DeleteFunctionEventInvokeConfig {
                    name: owned("orders"),
                    qualifier: None,
                },
            ),
            (
                "POST",
                owned("/2018-10-31/layers/shipper/versions"),
                PublishLayerVersion {
                    layer: owned("shipper"),
                },
            ),
            (
                "GET",
                owned("/2018-10-31/layers/shipper/versions/3"),
                GetLayerVersion {
                    layer: owned("shipper"),
                    version: 3,
                },
            ),
            (
                "GET",
                format!("/2018-10-31/layers/{layer_arn}/versions/3"),
                GetLayerVersion {
                    layer: owned("shipper"),
                    version: 3,
                },
            ),
            (
                "GET",
                format!("/2018-10-31/layers?find=LayerVersion&Arn={layer_arn}%3A3"),
                GetLayerVersionByArn {
                    arn: owned("arn:aws:lambda:us-east-1:123456789012:layer:shipper:3"),
                },
            ),
            (
                "GET",
                owned(
                    "/2018-10-31/layers/shipper/versions?CompatibleRuntime=provided.al2023&Marker=4&MaxItems=2",
                ),
                ListLayerVersions {
                    layer: owned("shipper"),
                    list: LayerList {
                        compatible_runtime: some("provided.al2023"),
                        compatible_architecture: None,
                        marker: some("4"),
                        max_items: 2,
                    },
                },
            ),
            (
                "GET",
                owned("/2018-10-31/layers?CompatibleArchitecture=arm64"),
                ListLayers {
                    list: LayerList {
                        compatible_runtime: None,
                        compatible_architecture: some("arm64"),
                        marker: None,
                        max_items: 50,
                    },
                },
            ),
            (
                "DELETE",
                owned("/2018-10-31/layers/shipper/versions/3"),
                DeleteLayerVersion {
                    layer: owned("shipper"),
                    version: 3,
                },
            ),
            (
                "GET",
                owned("/lambdakit/layer/shipper/3.zip"),
                GetLayerVersionCode {
                    layer: owned("shipper"),
                    version: 3,
                },
            ),
        ];
        for (method, uri, operation) in table {
            assert_eq!(parse(method, &uri), Ok(operation), "{method} {uri}");
        }
    }

    #[test]
    fn what_no_operation_has_is_refused_as_aws_refuses_it() {
        let unknown = [
            ("GET", "/2015-03-31/functions/orders/invocations"),
            ("POST", "/lambdakit/code/orders.zip"),
            ("POST", "/lambdakit/traces"),
            ("GET", "/lambdakit/traces/"),
            ("GET", "/lambdakit/traces/a/b"),
            ("GET", "/lambdakit/tracesx"),
            ("PATCH", "/2015-03-31/functions/orders"),
            ("DELETE", "/2015-03-31/functions"),
            ("POST", "/2015-03-31/functions/orders/code"),
            ("PUT", "/2015-03-31/functions/orders/aliases"),
            ("POST", "/2015-03-31/functions/orders/aliases/live"),
            ("GET", "/2015-03-31/functions/orders/policy/sid"),
            ("GET", "/2015-03-31/functions/orders/versions/1"),
            ("GET", "/2015-03-31/functions/orders/other"),
            ("GET", "/2015-03-31/functionsorders"),
            ("PATCH", "/2021-10-31/functions/orders/url"),
            ("GET", "/2021-10-31/functions/orders/other"),
            ("GET", "/2017-10-31/functions/orders/concurrency"),
            ("PUT", "/2019-09-30/functions/orders/concurrency"),
            ("PUT", "/2017-03-31/tags/orders"),
            ("PATCH", "/2019-09-25/functions/orders/event-invoke-config"),
            (
                "POST",
                "/2019-09-25/functions/orders/event-invoke-config/list",
            ),
            ("POST", "/2018-10-31/layers"),
            ("PUT", "/2018-10-31/layers/shipper/versions"),
            ("POST", "/2018-10-31/layers/shipper/versions/3"),
            ("GET", "/2018-10-31/layers/shipper"),
            ("GET", "/2018-10-31/layers/shipper/other"),
            ("DELETE", "/lambdakit/layer/shipper/3.zip"),
        ];
        let next = lambda_kit::__server::next_invocation_path();
        for (method, path) in unknown.into_iter().chain([("GET", next.as_str())]) {
            let refusal = parse(method, path).unwrap_err();
            assert_eq!(
                refusal,
                Refusal::UnknownOperation {
                    method: method.parse().unwrap(),
                    path: path.to_owned(),
                },
            );
            let response = refusal.response();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(
                response.headers()["x-amzn-errortype"],
                "UnknownOperationException"
            );
        }
        // Every other path is the project's HTTP API's (refused as above when it has none).
        for path in [
            "/",
            "/products/1",
            "/2015-03-31x/functions",
            "/lambda-urls/a",
        ] {
            assert_eq!(
                parse("GET", path),
                Ok(Operation::InvokeApi {
                    path: path.to_owned()
                }),
                "{path}"
            );
        }
        assert_eq!(
            unknown_operation(&Method::GET, "/").status(),
            StatusCode::NOT_FOUND
        );
        // ListFunctionEventInvokeConfigs pages by up to 50.
        assert_eq!(
            parse(
                "GET",
                "/2019-09-25/functions/orders/event-invoke-config/list?Marker=1&MaxItems=2"
            ),
            Ok(Operation::ListFunctionEventInvokeConfigs {
                name: "orders".into(),
                marker: Some("1".into()),
                max_items: 2,
            })
        );
        assert_eq!(
            parse(
                "GET",
                "/2019-09-25/functions/orders/event-invoke-config/list?MaxItems=51"
            ),
            Err(Refusal::InvalidParameter(
                "MaxItems must be a number from 1 to 50".into()
            ))
        );
        assert_eq!(
            parse("GET", "/2018-10-31/layers/shipper/versions/latest"),
            Err(Refusal::InvalidParameter(
                "VersionNumber `latest` is not a layer version's number".into()
            ))
        );
        assert_eq!(
            parse("GET", "/2018-10-31/layers?MaxItems=51"),
            Err(Refusal::InvalidParameter(
                "MaxItems must be a number from 1 to 50".into()
            ))
        );
        for max_items in ["0", "10001", "many"] {
            let refusal = parse(
                "GET",
                &format!("/2015-03-31/functions?MaxItems={max_items}"),
            )
            .unwrap_err();
            assert_eq!(
                refusal,
                Refusal::InvalidParameter("MaxItems must be a number from 1 to 10000".into())
            );
            assert_eq!(refusal.response().status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn qualifiers_come_from_the_query_or_the_identifier() {
        assert_eq!(qualifier(None, "orders"), None);
        assert_eq!(qualifier(None, "orders:live").as_deref(), Some("live"));
        assert_eq!(
            qualifier(
                None,
                "arn:aws:lambda:us-east-1:123456789012:function:orders:7"
            )
            .as_deref(),
            Some("7")
        );
        assert_eq!(
            qualifier(
                None,
                "arn:aws:lambda:us-east-1:123456789012:function:orders"
            ),
            None
        );
        let queried = Some("Qualifier=%24LATEST&MaxItems=2");
        assert_eq!(qualifier(queried, "orders").as_deref(), Some("$LATEST"));
        assert_eq!(query_value(queried, "MaxItems").as_deref(), Some("2"));
        assert_eq!(query_value(queried, "Marker"), None);
        assert_eq!(
            query_all(Some("tagKeys=a&tagKeys=b%20c"), "tagKeys"),
            ["a", "b c"]
        );
    }
}
