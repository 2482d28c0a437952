//! Deploying the package's HTTP API as an API Gateway HTTP API (API Gateway V2, through
//! [`crate::aws::signed`]): the API (its CORS), one Lambda proxy integration (payload 2.0) per
//! function its routes name, its authorizers, its routes, the `$default` stage (deployed
//! automatically, with the stage variables) and the permissions that let API Gateway invoke
//! the functions. Each is read, compared and created, updated or deleted, as the rest of
//! deploy does; routes, integrations and authorizers no longer asked for are deleted.
//!
//! The API is found by its name and owned through its tags (`lambdakit:package`,
//! `lambdakit:api`, `lambdakit:stage`); the permissions carry the statement id
//! `lambdakit-api-{API id}`.

use std::collections::BTreeMap;

use http::Method;
use serde_json::{Map, Value, json};

use super::settings::api::AuthorizerKind;
use super::{Action, Change, Options, Outcome, Progress, TAG_PACKAGE, TAG_STAGE};
use crate::aws::signed::{Api as Service, Rest};
use crate::aws::{Aws, Place};
use crate::error::CliError;
use crate::project::{Api, Function};

/// The tag naming the API a resource was deployed as (its name before any stage).
pub const TAG_API: &str = "lambdakit:api";

/// The stage deploy creates: API Gateway's `$default`, served at the API's root.
const STAGE: &str = "$default";

/// The statement id of the permission letting the API with the id `api_id` invoke a function.
pub(super) fn statement_id(api_id: &str) -> String {
    format!("{}api-{api_id}", super::ID_PREFIX)
}

/// The tags the API carries: lambdakit's.
pub(super) fn tags(api: &Api) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    tags.insert(TAG_PACKAGE.to_owned(), api.package.clone());
    tags.insert(
        TAG_API.to_owned(),
        api.settings
            .name
            .clone()
            .unwrap_or_else(|| api.package.clone()),
    );
    if let Some(stage) = &api.stage {
        tags.insert(TAG_STAGE.to_owned(), stage.clone());
    }
    tags
}

/// The API's CORS configuration as API Gateway takes it, if any.
pub(super) fn cors(api: &Api) -> Option<Value> {
    let cors = api.settings.cors.as_ref()?;
    let mut configuration = Map::new();
    let lists = [
        ("allowOrigins", &cors.allow_origins),
        ("allowMethods", &cors.allow_methods),
        ("allowHeaders", &cors.allow_headers),
        ("exposeHeaders", &cors.expose_headers),
    ];
    for (name, list) in lists {
        if !list.is_empty() {
            configuration.insert(name.into(), json!(list));
        }
    }
    if cors.allow_credentials {
        configuration.insert("allowCredentials".into(), json!(true));
    }
    if let Some(age) = cors.max_age {
        configuration.insert("maxAge".into(), json!(age));
    }
    Some(Value::Object(configuration))
}

/// What deploy (and `template`) makes of the API's settings, with the functions' ARNs
/// resolved. Bodies are API Gateway V2's, camel-cased (CloudFormation's are the same
/// pascal-cased).
#[derive(Debug)]
pub(super) struct Desired {
    /// The AWS name and ARN of each function the API invokes (its routes' and its Lambda
    /// authorizers'), by binary name.
    pub(super) functions: BTreeMap<String, (String, String)>,
    /// The functions with an integration (those of routes), by binary name.
    pub(super) integrated: Vec<String>,
    /// Each authorizer's body, by name.
    pub(super) authorizers: BTreeMap<String, Value>,
}

/// The API's integrations and authorizers, `arn_of` giving each function's ARN, in `place`.
///
/// # Errors
///
/// When a route or authorizer names a function not among `functions`.
pub(super) fn desired(
    place: Place<'_>,
    arn_of: &dyn Fn(&Function) -> String,
    api: &Api,
    functions: &[&Function],
) -> Result<Desired, CliError> {
    let mut wanted = BTreeMap::new();
    let mut resolve = |name: &str, at: &str| -> Result<String, CliError> {
        let function = functions
            .iter()
            .find(|function| function.name == name)
            .ok_or_else(|| CliError::Config {
                key: at.to_owned(),
                problem: format!(
                    "names the function `{name}`, which is not deployed with the API (deploy the whole package: leave out `--bin`)"
                ),
            })?;
        let arn = arn_of(function);
        wanted.insert(
            name.to_owned(),
            (function.aws_name().to_owned(), arn.clone()),
        );
        Ok(arn)
    };
    let mut integrated = Vec::new();
    for route in &api.settings.routes {
        resolve(&route.function, &route.at)?;
        if !integrated.contains(&route.function) {
            integrated.push(route.function.clone());
        }
    }
    let mut authorizers = BTreeMap::new();
    for (name, authorizer) in &api.settings.authorizers {
        let mut body = json!({
            "name": name,
            "identitySource": authorizer.identity_source,
        });
        match &authorizer.kind {
            AuthorizerKind::Jwt {
                issuer, audience, ..
            } => {
                body["authorizerType"] = json!("JWT");
                body["jwtConfiguration"] = json!({"issuer": issuer, "audience": audience});
            }
            AuthorizerKind::Lambda {
                function,
                ttl,
                simple_responses,
            } => {
                let arn = resolve(function, &format!("{}.function", authorizer.at))?;
                body["authorizerType"] = json!("REQUEST");
                // AWS "Working with AWS Lambda authorizers for HTTP APIs": the function's
                // invocation URI, as API Gateway's Lambda integrations name it.
                body["authorizerUri"] = json!(format!(
                    "arn:{}:apigateway:{}:lambda:path/2015-03-31/functions/{arn}/invocations",
                    place.partition, place.region
                ));
                body["authorizerPayloadFormatVersion"] = json!("2.0");
                body["enableSimpleResponses"] = json!(simple_responses);
                body["authorizerResultTtlInSeconds"] = json!(ttl);
            }
        }
        authorizers.insert(name.clone(), body);
    }
    Ok(Desired {
        functions: wanted,
        integrated,
        authorizers,
    })
}

/// The body of a Lambda proxy integration (payload 2.0) of the function `arn`.
pub(super) fn integration(arn: &str) -> Value {
    json!({
        "integrationType": "AWS_PROXY",
        "integrationUri": arn,
        "payloadFormatVersion": "2.0",
    })
}

/// The body of `route`, whose function's integration has the id `integration_id` and whose
/// authorizer (if any) `authorizer_id`.
pub(super) fn route(
    api: &Api,
    route: &super::settings::api::Route,
    integration_id: &str,
    authorizer_id: &str,
) -> Value {
    let mut body = json!({
        "routeKey": route.key.text(),
        "target": format!("integrations/{integration_id}"),
        "authorizationType": "NONE",
    });
    if let Some(authorizer) = &route.authorizer {
        let jwt = matches!(
            api.settings
                .authorizers
                .get(authorizer)
                .map(|authorizer| &authorizer.kind),
            Some(AuthorizerKind::Jwt { .. })
        );
        body["authorizationType"] = json!(if jwt { "JWT" } else { "CUSTOM" });
        body["authorizerId"] = json!(authorizer_id);
        if !route.scopes.is_empty() {
            body["authorizationScopes"] = json!(route.scopes);
        }
    }
    body
}

/// The body of the `$default` stage: deployed automatically, with the stage variables.
pub(super) fn stage(api: &Api) -> Value {
    json!({
        "stageName": STAGE,
        "autoDeploy": true,
        "stageVariables": api.settings.stage_variables,
    })
}

/// The differences between `desired` and `current` in the fields `desired` sets, by name: an
/// empty list or table is as good as one left out.
fn differences(desired: &Value, current: &Value) -> Vec<String> {
    let empty = |value: &Value| match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    };
    desired
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, value)| {
            let now = &current[name.as_str()];
            !(*value == now || (empty(value) && empty(now)))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Calls API Gateway V2.
async fn call(
    aws: &Aws,
    method: Method,
    path: &str,
    body: Option<&Value>,
    operation: &str,
) -> Result<Value, CliError> {
    aws.signed
        .rest(Service::ApiGatewayV2, Rest { method, path, body })
        .await
        .map_err(|failure| failure.into_error(operation))
}

/// Every item of a listing (`GET /v2/apis`, `/routes`, ...), page after page.
async fn items(aws: &Aws, path: &str, operation: &str) -> Result<Vec<Value>, CliError> {
    let mut items = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page_path = match &next {
            Some(token) => format!(
                "{path}?nextToken={}",
                crate::percent::encode(token.as_bytes(), b"")
            ),
            None => path.to_owned(),
        };
        let page = call(aws, Method::GET, &page_path, None, operation).await?;
        items.extend(page["items"].as_array().into_iter().flatten().cloned());
        match page["nextToken"].as_str() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => return Ok(items),
        }
    }
}

/// The API named `name`, if there is one: `(id, endpoint, tags)`.
async fn find(aws: &Aws, name: &str) -> Result<Option<Value>, CliError> {
    Ok(items(aws, "/v2/apis", "apigateway:GET")
        .await?
        .into_iter()
        .find(|api| api["name"] == name))
}

/// Whether the API's tags say it is this package's, as this stage.
fn ours(api: &Api, found: &Value) -> bool {
    let tag = |name: &str| found["tags"][name].as_str();
    tag(TAG_PACKAGE) == Some(api.package.as_str())
        && tag(TAG_API).is_some()
        && tag(TAG_STAGE) == api.stage.as_deref()
}

/// The API's ARN as API Gateway's tagging names it.
pub(super) fn resource_arn(aws: &Aws, id: &str) -> String {
    format!(
        "arn:{}:apigateway:{}::/apis/{id}",
        aws.partition, aws.region
    )
}

/// Deploys the package's HTTP API, whose routes invoke `functions` (its package's, already
/// deployed).
///
/// # Errors
///
/// When AWS refuses a call, or an API of its name is in the way (not created by lambdakit,
/// and no `--adopt`): nothing after it is changed, and deploying again resumes.
pub async fn deploy(
    aws: &Aws,
    api: &Api,
    functions: &[&Function],
    options: Options,
) -> Result<Outcome, CliError> {
    let progress = Progress::new(options.quiet || options.dry_run);
    let name = api.aws_name();
    if aws.local.is_some() {
        return Ok(Outcome {
            name: name.clone(),
            arn: String::new(),
            changes: Vec::new(),
            url: None,
            version: None,
            notes: vec![format!(
                "note: serve's Lambda API has no API Gateway: the HTTP API `{name}` is not deployed there; `cargo lambdakit serve` answers its routes itself"
            )],
        });
    }
    progress.note(format_args!("deploying the HTTP API `{name}`"));
    api.check()?;
    let arn_of =
        |function: &Function| aws.arn("lambda", &format!("function:{}", function.aws_name()));
    let desired = desired(aws.place(), &arn_of, api, functions)?;
    let mut changes = Vec::new();
    let tags = tags(api);
    let cors = cors(api);

    // The API.
    let found = find(aws, &name).await?;
    let (id, endpoint) = match found {
        None => {
            changes.push(Change::new("http-api", name.clone(), Action::Create));
            if options.dry_run {
                // Nothing of it exists yet: everything else is created too.
                return Ok(planned_from_nothing(aws, api, &desired, name, changes));
            }
            let mut body = json!({"name": name, "protocolType": "HTTP", "tags": tags});
            if let Some(cors) = &cors {
                body["corsConfiguration"] = cors.clone();
            }
            let created = call(
                aws,
                Method::POST,
                "/v2/apis",
                Some(&body),
                "apigateway:POST",
            )
            .await?;
            let id = created["apiId"].as_str().unwrap_or_default().to_owned();
            (id, created["apiEndpoint"].as_str().map(str::to_owned))
        }
        Some(found) => {
            if !ours(api, &found) {
                let owner = found["tags"][TAG_PACKAGE].as_str();
                match owner {
                    Some(package)
                        if package != api.package
                            || found["tags"][TAG_STAGE].as_str() != api.stage.as_deref() =>
                    {
                        return Err(CliError::Conflict {
                            resource: format!("the HTTP API `{name}`"),
                            problem: format!(
                                "was deployed from the package `{package}`, or as another stage"
                            ),
                            hint: format!(
                                "give one of them another `name` in `{}`",
                                super::settings::api::AT
                            ),
                        });
                    }
                    _ if options.adopt => {}
                    _ => {
                        return Err(CliError::Conflict {
                            resource: format!("the HTTP API `{name}`"),
                            problem: "exists on AWS, and lambdakit did not create it".into(),
                            hint: format!(
                                "pass `--adopt` to take it over, or give yours another `name` in `{}`",
                                super::settings::api::AT
                            ),
                        });
                    }
                }
            }
            let id = found["apiId"].as_str().unwrap_or_default().to_owned();
            let mut differ = Vec::new();
            let current_cors = &found["corsConfiguration"];
            match &cors {
                Some(cors)
                    if !differences(cors, current_cors).is_empty() || current_cors.is_null() =>
                {
                    differ.push("cors".to_owned());
                    if !options.dry_run {
                        let body = json!({"corsConfiguration": cors});
                        call(
                            aws,
                            Method::PATCH,
                            &format!("/v2/apis/{id}"),
                            Some(&body),
                            "apigateway:PATCH",
                        )
                        .await?;
                    }
                }
                None if !current_cors.is_null() => {
                    differ.push("cors".to_owned());
                    if !options.dry_run {
                        call(
                            aws,
                            Method::DELETE,
                            &format!("/v2/apis/{id}/cors"),
                            None,
                            "apigateway:DELETE",
                        )
                        .await?;
                    }
                }
                _ => {}
            }
            let missing_tags = tags
                .iter()
                .any(|(key, value)| found["tags"][key].as_str() != Some(value));
            if missing_tags {
                differ.push("tags".to_owned());
                if !options.dry_run {
                    let path = format!(
                        "/v2/tags/{}",
                        crate::percent::encode(resource_arn(aws, &id).as_bytes(), b"")
                    );
                    call(
                        aws,
                        Method::POST,
                        &path,
                        Some(&json!({"tags": tags})),
                        "apigateway:TagResource",
                    )
                    .await?;
                }
            }
            let action = if differ.is_empty() {
                Action::Unchanged
            } else {
                Action::Update(differ)
            };
            changes.push(Change::new("http-api", name.clone(), action));
            (id, found["apiEndpoint"].as_str().map(str::to_owned))
        }
    };
    let base = format!("/v2/apis/{id}");

    // One integration per function.
    let current = items(
        aws,
        &format!("{base}/{}", INTEGRATIONS.collection),
        "apigateway:GET",
    )
    .await?;
    let mut integration_ids: BTreeMap<String, String> = BTreeMap::new();
    for binary in &desired.integrated {
        let (aws_name, arn) = &desired.functions[binary];
        let existing = current.iter().find(|item| item["integrationUri"] == *arn);
        let (integration_id, action) = converge(
            aws,
            &base,
            INTEGRATIONS,
            existing,
            &integration(arn),
            Vec::new(),
            options,
        )
        .await?;
        changes.push(Change::new("integration", aws_name.clone(), action));
        integration_ids.insert(binary.clone(), integration_id);
    }

    // The routes as they are, before any change.
    let routes_now = items(
        aws,
        &format!("{base}/{}", ROUTES.collection),
        "apigateway:GET",
    )
    .await?;
    // The authorizers, listed when the API has or had any (declared, or named by a route as
    // it is): an authorizer no route names grants nothing, and one left by an interrupted
    // deploy goes with the next one that lists them.
    let lists_authorizers = !desired.authorizers.is_empty()
        || routes_now.iter().any(|item| {
            item["authorizationType"]
                .as_str()
                .is_some_and(|kind| kind != "NONE")
        });
    let authorizers_now = || async {
        if lists_authorizers {
            items(
                aws,
                &format!("{base}/{}", AUTHORIZERS.collection),
                "apigateway:GET",
            )
            .await
        } else {
            Ok(Vec::new())
        }
    };
    let current = authorizers_now().await?;
    let mut authorizer_ids: BTreeMap<String, String> = BTreeMap::new();
    for (authorizer, body) in &desired.authorizers {
        let existing = current.iter().find(|item| item["name"] == *authorizer);
        let (authorizer_id, action) =
            converge(aws, &base, AUTHORIZERS, existing, body, Vec::new(), options).await?;
        changes.push(Change::new("authorizer", authorizer.clone(), action));
        authorizer_ids.insert(authorizer.clone(), authorizer_id);
    }

    // The routes; those no longer declared are deleted.
    for route in &api.settings.routes {
        let key = route.key.text();
        let body = self::route(
            api,
            route,
            integration_ids
                .get(&route.function)
                .map_or("", String::as_str),
            route
                .authorizer
                .as_ref()
                .and_then(|authorizer| authorizer_ids.get(authorizer))
                .map_or("", String::as_str),
        );
        let existing = routes_now.iter().find(|item| item["routeKey"] == *key);
        // A route that loses its authorizer keeps no authorizer id or scopes.
        let lost_authorizer = existing
            .is_some_and(|item| route.authorizer.is_none() && item["authorizationType"] != "NONE");
        let extra = if lost_authorizer {
            vec!["authorizationType".to_owned()]
        } else {
            Vec::new()
        };
        let (_, action) = converge(aws, &base, ROUTES, existing, &body, extra, options).await?;
        changes.push(Change::new("route", key, action));
    }
    let declared: Vec<String> = api
        .settings
        .routes
        .iter()
        .map(|route| route.key.text())
        .collect();
    for item in &routes_now {
        let key = item["routeKey"].as_str().unwrap_or_default();
        if !declared.iter().any(|declared| declared == key) {
            remove(aws, &base, ROUTES, item, options).await?;
            changes.push(Change::new("route", key, Action::Delete));
        }
    }
    // Authorizers and integrations no routes use any more, once no route uses them.
    for item in &authorizers_now().await? {
        let authorizer = item["name"].as_str().unwrap_or_default();
        if !desired.authorizers.contains_key(authorizer) {
            remove(aws, &base, AUTHORIZERS, item, options).await?;
            changes.push(Change::new("authorizer", authorizer, Action::Delete));
        }
    }
    for item in &items(
        aws,
        &format!("{base}/{}", INTEGRATIONS.collection),
        "apigateway:GET",
    )
    .await?
    {
        let integration_id = item["integrationId"].as_str().unwrap_or_default();
        if !integration_ids.values().any(|id| id == integration_id) {
            remove(aws, &base, INTEGRATIONS, item, options).await?;
            let uri = item["integrationUri"].as_str().unwrap_or(integration_id);
            let function = uri.rsplit(':').next().unwrap_or(uri);
            changes.push(Change::new("integration", function, Action::Delete));
        }
    }

    // The `$default` stage, deployed automatically.
    let current = items(
        aws,
        &format!("{base}/{}", STAGES.collection),
        "apigateway:GET",
    )
    .await?;
    let existing = current.iter().find(|item| item["stageName"] == STAGE);
    let (_, action) = converge(
        aws,
        &base,
        STAGES,
        existing,
        &stage(api),
        Vec::new(),
        options,
    )
    .await?;
    changes.push(Change::new("stage", STAGE, action));

    // Each function the API invokes lets API Gateway invoke it, from this API only; the
    // package's other functions do not.
    let sid = statement_id(&id);
    let source_arn = aws.arn("execute-api", &format!("{id}/*"));
    for function in functions {
        let wanted = desired.functions.contains_key(&function.name);
        let aws_name = function.aws_name();
        let statements = super::triggers::statements(aws, aws_name, None).await?;
        let has = statements.iter().any(|statement| {
            statement.sid == sid && statement.source_arn.as_deref() == Some(source_arn.as_str())
        });
        let action = match (wanted, has) {
            (true, true) => Action::Unchanged,
            (true, false) => {
                if !options.dry_run {
                    super::triggers::permit(
                        aws,
                        aws_name,
                        &sid,
                        "apigateway.amazonaws.com",
                        &source_arn,
                        &statements,
                    )
                    .await?;
                }
                Action::Create
            }
            (false, true) => {
                if !options.dry_run {
                    super::function::remove_permission(aws, aws_name, None, &sid).await?;
                }
                Action::Delete
            }
            (false, false) => continue,
        };
        changes.push(Change::new("permission", aws_name, action));
    }
    if changes.iter().any(Change::changes) {
        progress.note(format_args!("the HTTP API `{name}` is set"));
    }
    Ok(Outcome {
        name,
        arn: resource_arn(aws, &id),
        changes,
        url: endpoint.map(|endpoint| format!("{endpoint}/")),
        version: None,
        notes: Vec::new(),
    })
}

/// A collection of the API's parts: its path below the API's, and the field of a part's id.
#[derive(Debug, Clone, Copy)]
struct Part {
    collection: &'static str,
    id: &'static str,
}

const INTEGRATIONS: Part = Part {
    collection: "integrations",
    id: "integrationId",
};
const AUTHORIZERS: Part = Part {
    collection: "authorizers",
    id: "authorizerId",
};
const ROUTES: Part = Part {
    collection: "routes",
    id: "routeId",
};
const STAGES: Part = Part {
    collection: "stages",
    id: "stageName",
};

/// Creates the part `body` of `part` (below the API at `base`), or updates `existing` where
/// it differs from `body` (or in the fields `extra` names); its id and what was done (dry:
/// would be done, `(new)` for the id of what would be created).
async fn converge(
    aws: &Aws,
    base: &str,
    part: Part,
    existing: Option<&Value>,
    body: &Value,
    extra: Vec<String>,
    options: Options,
) -> Result<(String, Action), CliError> {
    let collection = format!("{base}/{}", part.collection);
    let Some(item) = existing else {
        if options.dry_run {
            return Ok(("(new)".to_owned(), Action::Create));
        }
        let created = call(
            aws,
            Method::POST,
            &collection,
            Some(body),
            "apigateway:POST",
        )
        .await?;
        let id = created[part.id].as_str().unwrap_or_default().to_owned();
        return Ok((id, Action::Create));
    };
    let id = item[part.id].as_str().unwrap_or_default().to_owned();
    let mut differ = differences(body, item);
    for field in extra {
        if !differ.contains(&field) {
            differ.push(field);
        }
    }
    if differ.is_empty() {
        return Ok((id, Action::Unchanged));
    }
    if !options.dry_run {
        let path = format!(
            "{collection}/{}",
            crate::percent::encode(id.as_bytes(), b"")
        );
        call(aws, Method::PATCH, &path, Some(body), "apigateway:PATCH").await?;
    }
    Ok((id, Action::Update(differ)))
}

/// Deletes the part `item` of `part` (below the API at `base`), unless dry.
async fn remove(
    aws: &Aws,
    base: &str,
    part: Part,
    item: &Value,
    options: Options,
) -> Result<(), CliError> {
    if options.dry_run {
        return Ok(());
    }
    let id = item[part.id].as_str().unwrap_or_default();
    let path = format!(
        "{base}/{}/{}",
        part.collection,
        crate::percent::encode(id.as_bytes(), b"")
    );
    call(aws, Method::DELETE, &path, None, "apigateway:DELETE").await?;
    Ok(())
}

/// The plan of a dry run for an API that does not exist yet: everything is created.
fn planned_from_nothing(
    aws: &Aws,
    api: &Api,
    desired: &Desired,
    name: String,
    mut changes: Vec<Change>,
) -> Outcome {
    for binary in &desired.integrated {
        let (aws_name, _) = &desired.functions[binary];
        changes.push(Change::new("integration", aws_name.clone(), Action::Create));
    }
    for authorizer in desired.authorizers.keys() {
        changes.push(Change::new(
            "authorizer",
            authorizer.clone(),
            Action::Create,
        ));
    }
    for route in &api.settings.routes {
        changes.push(Change::new("route", route.key.text(), Action::Create));
    }
    changes.push(Change::new("stage", STAGE, Action::Create));
    for (aws_name, _) in desired.functions.values() {
        changes.push(Change::new("permission", aws_name.clone(), Action::Create));
    }
    Outcome {
        name,
        arn: resource_arn(aws, "(new)"),
        changes,
        url: None,
        version: None,
        notes: Vec::new(),
    }
}

/// The APIs deployed from `packages` as `stage` (none: without one): `(id, name, package)`
/// each.
///
/// # Errors
///
/// When API Gateway refuses the listing.
pub async fn deployed(
    aws: &Aws,
    packages: &[String],
    stage: Option<&str>,
) -> Result<Vec<(String, String, String)>, CliError> {
    if aws.local.is_some() {
        return Ok(Vec::new());
    }
    Ok(items(aws, "/v2/apis", "apigateway:GET")
        .await?
        .into_iter()
        .filter(|found| {
            let tag = |name: &str| found["tags"][name].as_str();
            tag(TAG_PACKAGE).is_some_and(|package| packages.iter().any(|wanted| wanted == package))
                && tag(TAG_API).is_some()
                && tag(TAG_STAGE) == stage
        })
        .map(|found| {
            let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
            (
                text(&found["apiId"]),
                text(&found["name"]),
                text(&found["tags"][TAG_PACKAGE]),
            )
        })
        .collect())
}

/// Deletes the API `id` (its routes, integrations, authorizers and stages go with it) and the
/// permissions it had on the functions named `functions` (their AWS names).
///
/// # Errors
///
/// When AWS refuses a call.
pub async fn delete(aws: &Aws, id: &str, functions: &[String]) -> Result<(), CliError> {
    let sid = statement_id(id);
    for function in functions {
        super::function::remove_permission(aws, function, None, &sid).await?;
    }
    match call(
        aws,
        Method::DELETE,
        &format!("/v2/apis/{id}"),
        None,
        "apigateway:DELETE",
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(CliError::Aws {
            code: Some(code), ..
        }) if code == "NotFoundException" => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_fields_that_differ_and_take_empty_as_absent() {
        let desired =
            json!({"routeKey": "GET /a", "authorizationType": "NONE", "authorizationScopes": []});
        let current = json!({"routeKey": "GET /a", "authorizationType": "JWT", "routeId": "x"});
        assert_eq!(differences(&desired, &current), ["authorizationType"]);
        assert!(
            differences(
                &desired,
                &json!({"routeKey": "GET /a", "authorizationType": "NONE"})
            )
            .is_empty()
        );
    }

    #[test]
    fn route_keys_are_written_as_api_gateway_reads_them() {
        use crate::deploy::settings::api::RouteKey;
        for key in [
            "GET /products/{sku}",
            "ANY /files/{path+}",
            "$default",
            "POST /",
        ] {
            assert_eq!(RouteKey::parse(key).unwrap().text(), key);
        }
    }
}
