//! The project's HTTP API on serve's port: a request to any path that is not the Lambda API's
//! own (`/2015-03-31/...` and the other dated paths, `/lambda-url/...`, `/lambdakit/...`, or
//! a Step Functions call) is matched against the routes of `[package.metadata.lambdakit.api]`
//! as API Gateway matches an HTTP API's (AWS "Working with routes for HTTP APIs": the most
//! specific route, then `$default`), checked by the route's authorizer, and sent to the
//! route's function as a payload 2.0 event with its `routeKey`, path parameters, stage
//! variables and the authorizer's context. CORS, when configured, is the API's: it answers
//! preflight requests itself and sets the CORS headers of every response.
//!
//! Like function URLs, the API is meant for browsers and other machines' clients alike, so
//! `guard` lets its requests through unchecked; its authorizers are its own guard.

mod authorizer;
mod jwt;

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method as HttpMethod, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

use self::authorizer::{Authorizers, Verdict};
use super::instance::Outcome;
use super::{Body, Call, Emulator, RequestBody, Trigger, boxed, ids, url};
use crate::deploy::settings::Cors;
use crate::deploy::settings::Word as _;
use crate::deploy::settings::api::{AuthorizerKind, Fault, Method, RouteKey, Segment};
use crate::local::ACCOUNT;
use crate::percent::decode as percent_decode;
use crate::project::Api;

/// The largest request the API takes (AWS "Amazon API Gateway quotas": 10 MB for an HTTP
/// API's payload; Lambda's 6 MB invocation payload is the lower bound that matters).
const MAX_REQUEST: usize = super::MAX_SYNC_PAYLOAD;

/// The stage serve answers as: the `$default` stage, which has no path prefix.
const STAGE: &str = "$default";

/// One route, as serve answers it.
#[derive(Debug, Clone)]
struct LocalRoute {
    key: RouteKey,
    function: String,
    authorizer: Option<String>,
    scopes: Vec<String>,
    /// Why serve cannot answer it, when it cannot: it answers 500.
    unavailable: Option<String>,
}

/// The project's HTTP API, as serve answers it.
#[derive(Debug)]
pub struct LocalApi {
    name: String,
    /// A stable made-up id, as `requestContext.apiId` carries it.
    id: String,
    routes: Vec<LocalRoute>,
    cors: Option<Cors>,
    stage_variables: BTreeMap<String, String>,
    authorizers: Authorizers,
}

impl LocalApi {
    /// The API `api` declares, as serve answers it when it runs `served`. A route that clashes
    /// with an earlier one is left out (the earlier one answers its requests); one that names
    /// a function or authorizer the package does not have, or a function serve does not run,
    /// is kept but answers 500, its reason in serve's log, so that its requests never reach
    /// another route's function (nor one without its authorizer). The lines returned say each,
    /// naming the setting and the fix.
    pub fn new(api: &Api, served: &[String]) -> (Self, Vec<String>) {
        let mut said = Vec::new();
        let mut routes = Vec::new();
        let is_served = |name: &str| served.iter().any(|served| served == name);
        for (index, route) in api.settings.routes.iter().enumerate() {
            let key = route.key.text();
            let mut unavailable = None;
            for problem in api.problems.iter().filter(|problem| problem.route == index) {
                let consequence = match problem.fault {
                    Fault::Clash => "serve leaves it out".to_owned(),
                    Fault::Missing => {
                        format!("serve answers the route `{key}` with 500 and serves the rest")
                    }
                };
                said.push(format!("error: {}; {consequence}", problem.error()));
                unavailable.get_or_insert(problem.error().to_string());
            }
            if api
                .problems
                .iter()
                .any(|problem| problem.route == index && problem.fault == Fault::Clash)
            {
                continue;
            }
            let authorizer_function = route
                .authorizer
                .as_ref()
                .and_then(|name| api.settings.authorizers.get(name))
                .and_then(|authorizer| match &authorizer.kind {
                    AuthorizerKind::Lambda { function, .. } => Some(function.as_str()),
                    AuthorizerKind::Jwt { .. } => None,
                });
            if unavailable.is_none()
                && let Some(missing) = std::iter::once(route.function.as_str())
                    .chain(authorizer_function)
                    .find(|function| !is_served(function))
            {
                let reason = format!(
                    "the route `{key}` needs the function `{missing}`, which this serve does not run (it serves {})",
                    served.join(", ")
                );
                said.push(format!("note: {reason}; serve answers it with 500"));
                unavailable = Some(reason);
            }
            routes.push(LocalRoute {
                key: route.key.clone(),
                function: route.function.clone(),
                authorizer: route.authorizer.clone(),
                scopes: route.scopes.clone(),
                unavailable,
            });
        }
        let name = api.aws_name();
        let api = Self {
            id: url::api_id(&name),
            name,
            routes,
            cors: api.settings.cors.clone(),
            stage_variables: api.settings.stage_variables.clone(),
            authorizers: Authorizers::new(&api.settings.authorizers, &api.dir),
        };
        (api, said)
    }

    /// The route keys that go to `function`.
    pub(crate) fn routes_of(&self, function: &str) -> Vec<String> {
        self.routes
            .iter()
            .filter(|route| route.function == function)
            .map(|route| route.key.text())
            .collect()
    }

    /// What serve says about it at its start: one line per route, with its address.
    fn describe(&self, address: &str) -> Vec<String> {
        let mut lines = vec![format!(
            "API `{}` at http://{address}/ ({} route{}):",
            self.name,
            self.routes.len(),
            if self.routes.len() == 1 { "" } else { "s" }
        )];
        for route in &self.routes {
            let guarded = route
                .authorizer
                .as_ref()
                .map(|name| format!(", authorizer `{name}`"))
                .unwrap_or_default();
            let unavailable = if route.unavailable.is_some() {
                " (not served: answers 500)"
            } else {
                ""
            };
            lines.push(format!(
                "  {} -> `{}`{guarded}{unavailable}",
                route.key.text(),
                route.function
            ));
        }
        lines
    }

    /// The route that answers `method` on `path`, and its path parameters: the most specific
    /// (a segment as written before a `{name}`, that before a `{name+}`; a method before
    /// `ANY`), else `$default`.
    fn route(
        &self,
        method: &HttpMethod,
        path: &str,
    ) -> Option<(&LocalRoute, Vec<(String, String)>)> {
        let segments: Vec<&str> = match path.strip_prefix('/') {
            Some("") | None => Vec::new(),
            Some(rest) => rest.split('/').collect(),
        };
        let mut best: Option<(Rank, &LocalRoute, Parameters)> = None;
        for route in &self.routes {
            let RouteKey::Path {
                method: wanted,
                segments: pattern,
            } = &route.key
            else {
                continue;
            };
            let method_rank = match wanted {
                Method::Any => 1,
                wanted if wanted.as_str() == method.as_str() => 0,
                _ => continue,
            };
            let Some((mut rank, parameters)) = matched(pattern, &segments) else {
                continue;
            };
            rank.push(method_rank);
            if best.as_ref().is_none_or(|(best, ..)| rank < *best) {
                best = Some((rank, route, parameters));
            }
        }
        best.map(|(_, route, parameters)| (route, parameters))
            .or_else(|| {
                self.routes
                    .iter()
                    .find(|route| route.key == RouteKey::Default)
                    .map(|route| (route, Vec::new()))
            })
    }
}

/// How specific a match is, segment by segment (lower is more specific), then its method.
type Rank = Vec<u8>;
/// A route's path parameters, by name.
type Parameters = Vec<(String, String)>;

/// Whether `pattern` matches the request path's `segments`: the rank of each segment matched
/// (0 as written, 1 a parameter, 2 greedy) and the path parameters, decoded.
fn matched(pattern: &[Segment], segments: &[&str]) -> Option<(Rank, Parameters)> {
    let mut rank = Vec::new();
    let mut parameters = Vec::new();
    for (index, segment) in pattern.iter().enumerate() {
        match segment {
            Segment::Greedy(name) => {
                let rest = segments.get(index..).filter(|rest| !rest.is_empty())?;
                parameters.push((name.clone(), percent_decode(&rest.join("/"))));
                rank.push(2);
                return Some((rank, parameters));
            }
            Segment::Literal(text) => {
                if segments.get(index) != Some(&text.as_str()) {
                    return None;
                }
                rank.push(0);
            }
            Segment::Parameter(name) => {
                let value = segments.get(index).filter(|value| !value.is_empty())?;
                parameters.push((name.clone(), percent_decode(value)));
                rank.push(1);
            }
        }
    }
    (pattern.len() == segments.len()).then_some((rank, parameters))
}

/// A response with API Gateway's JSON message body: `{"message":"Not Found"}`.
fn message(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(
        json!({ "message": text }).to_string(),
    )));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// The CORS headers of `cors` for a request from `origin`, when the origin is allowed.
fn cors_headers(cors: &Cors, origin: &str, headers: &mut HeaderMap) {
    let any = cors.allow_origins.iter().any(|allowed| allowed == "*");
    let listed = cors.allow_origins.iter().any(|allowed| allowed == origin);
    if !any && !listed {
        return;
    }
    // With credentials a browser refuses `*`: the origin itself is sent back.
    let allowed = if any && !cors.allow_credentials && !listed {
        "*"
    } else {
        origin
    };
    if let Ok(value) = HeaderValue::from_str(allowed) {
        headers.insert("access-control-allow-origin", value);
    }
    if allowed != "*" {
        headers.append("vary", HeaderValue::from_static("Origin"));
    }
    if cors.allow_credentials {
        headers.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
    }
    if !cors.expose_headers.is_empty()
        && let Ok(value) = HeaderValue::from_str(&cors.expose_headers.join(","))
    {
        headers.insert("access-control-expose-headers", value);
    }
}

/// API Gateway's answer to a CORS preflight request (AWS "Configuring CORS for an HTTP
/// API"): 204, with the allowed methods, headers and max age for an allowed origin, and no
/// CORS headers for another.
fn preflight(cors: &Cors, origin: &str, request: &HeaderMap) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    cors_headers(cors, origin, headers);
    if !headers.contains_key("access-control-allow-origin") {
        return response;
    }
    let asked = |name: &str| {
        request
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let list = |allowed: &[String], asked: String| {
        if allowed.iter().any(|item| item == "*") {
            asked
        } else {
            allowed.join(",")
        }
    };
    let methods = list(&cors.allow_methods, asked("access-control-request-method"));
    let allowed_headers = list(&cors.allow_headers, asked("access-control-request-headers"));
    for (name, value) in [
        ("access-control-allow-methods", methods),
        ("access-control-allow-headers", allowed_headers),
        (
            "access-control-max-age",
            cors.max_age.map(|age| age.to_string()).unwrap_or_default(),
        ),
    ] {
        if !value.is_empty()
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            headers.insert(name, value);
        }
    }
    response
}

impl Emulator {
    /// This emulator, answering `api` at `/` of its port.
    #[must_use]
    pub fn with_api(mut self, api: LocalApi) -> Self {
        self.api = Some(api);
        self
    }

    /// What serve says about its HTTP API at its start (nothing without one): one line per
    /// route, with `address`, where it listens.
    pub fn describe_api(&self, address: &str) -> Vec<String> {
        self.api
            .as_ref()
            .map(|api| api.describe(address))
            .unwrap_or_default()
    }

    /// A request to the project's HTTP API: `path` is the request's path.
    pub(super) async fn api_request(
        &self,
        parts: &http::request::Parts,
        path: &str,
        body: RequestBody,
    ) -> Response<Body> {
        let Some(api) = &self.api else {
            return super::lambda_api::unknown_operation(&parts.method, path);
        };
        let origin = parts
            .headers
            .get(http::header::ORIGIN)
            .and_then(|origin| origin.to_str().ok());
        let mut response = match (&api.cors, origin) {
            (Some(cors), Some(origin))
                if parts.method == HttpMethod::OPTIONS
                    && parts.headers.contains_key("access-control-request-method") =>
            {
                return boxed(preflight(cors, origin, &parts.headers));
            }
            _ => self.api_answer(api, parts, path, body).await,
        };
        if let Some(cors) = &api.cors {
            // API Gateway drops the integration's CORS headers for its own.
            let headers = response.headers_mut();
            let theirs: Vec<_> = headers
                .keys()
                .filter(|name| name.as_str().starts_with("access-control-"))
                .cloned()
                .collect();
            for name in theirs {
                headers.remove(name);
            }
            if let Some(origin) = origin {
                cors_headers(cors, origin, headers);
            }
        }
        boxed(response)
    }

    async fn api_answer(
        &self,
        api: &LocalApi,
        parts: &http::request::Parts,
        path: &str,
        body: RequestBody,
    ) -> Response<Full<Bytes>> {
        let Some((route, parameters)) = api.route(&parts.method, path) else {
            return message(StatusCode::NOT_FOUND, "Not Found");
        };
        if let Some(reason) = &route.unavailable {
            println!(
                "lambdakit: API route `{}` answered {} {path} with 500: {reason}",
                route.key.text(),
                parts.method
            );
            return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
        let body = match super::lambda_api::read_body(body, &parts.headers, MAX_REQUEST).await {
            Ok(body) => body,
            Err(refusal) if refusal.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
            }
            Err(refusal) => return refusal,
        };
        let request_id = ids::request_id();
        let mut event = url::event_v2(parts, path, &body, &request_id, ACCOUNT);
        let route_key = route.key.text();
        event["routeKey"] = json!(route_key);
        event["requestContext"]["routeKey"] = json!(route_key);
        url::of_http_api(&mut event, &api.id, &self.region);
        if !parameters.is_empty() {
            let parameters: BTreeMap<_, _> = parameters.into_iter().collect();
            event["pathParameters"] = json!(parameters);
        }
        if !api.stage_variables.is_empty() {
            event["stageVariables"] = json!(api.stage_variables);
        }
        if let Some(name) = &route.authorizer {
            // The request's ARN, as IAM policies name it: the stage, the method and the path
            // requested.
            let arn = format!(
                "arn:aws:execute-api:{}:{ACCOUNT}:{}/{STAGE}/{}{path}",
                self.region, api.id, parts.method
            );
            match api.authorizers.check(self, name, route, &event, &arn).await {
                Verdict::Allow(context) => event["requestContext"]["authorizer"] = context,
                Verdict::Deny(response) => return response,
            }
        }
        self.api_invoke(&route.function, event, parts).await
    }

    /// Invokes `function` with `event` and answers as an HTTP API's Lambda proxy integration
    /// does (AWS "Working with AWS Lambda proxy integrations for HTTP APIs").
    async fn api_invoke(
        &self,
        function: &str,
        event: Value,
        parts: &http::request::Parts,
    ) -> Response<Full<Bytes>> {
        let trace = parts
            .headers
            .get(super::TRACE_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        match self.invoke_for_api(function, &event, trace).await {
            Ok(outcome) => url::response(url::Front::HttpApi, &outcome),
            Err(refusal) => refusal,
        }
    }

    /// Invokes the project's function `function` with `event` (continuing the caller's X-Ray
    /// `trace`, if any), its answer read whole.
    async fn invoke_for_api(
        &self,
        function: &str,
        event: &Value,
        trace: Option<String>,
    ) -> Result<Outcome, Response<Full<Bytes>>> {
        let (pool, invoked_arn) = self.resolve(function, None).map_err(|_| {
            // `LocalApi::new` kept only the routes of served functions.
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        })?;
        let call = Call {
            invoked_arn,
            trace,
            ..Call::new(Bytes::from(event.to_string()), Trigger::Api)
        };
        let answer = pool.invoke(call).await?;
        Ok(answer.settled().await.outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(routes: &[(&str, &str)]) -> LocalApi {
        LocalApi {
            name: "shop".into(),
            id: "abc".into(),
            routes: routes
                .iter()
                .map(|(key, function)| LocalRoute {
                    key: RouteKey::parse(key).unwrap(),
                    function: (*function).into(),
                    authorizer: None,
                    scopes: Vec::new(),
                    unavailable: None,
                })
                .collect(),
            cors: None,
            stage_variables: BTreeMap::new(),
            authorizers: Authorizers::default(),
        }
    }

    #[test]
    fn the_most_specific_route_answers_then_default() {
        let api = api(&[
            ("GET /products/{sku}", "by_sku"),
            ("GET /products/new", "new"),
            ("ANY /products/{sku}", "any_sku"),
            ("ANY /files/{path+}", "files"),
            ("GET /", "root"),
            ("$default", "fallback"),
        ]);
        let answer = |method: HttpMethod, path: &str| {
            let (route, parameters) = api.route(&method, path).unwrap();
            (route.function.clone(), parameters)
        };
        assert_eq!(
            answer(HttpMethod::GET, "/products/a%20b"),
            ("by_sku".into(), vec![("sku".into(), "a b".into())])
        );
        assert_eq!(answer(HttpMethod::GET, "/products/new").0, "new");
        assert_eq!(answer(HttpMethod::DELETE, "/products/1").0, "any_sku");
        assert_eq!(
            answer(HttpMethod::PUT, "/files/a/b/c.txt"),
            ("files".into(), vec![("path".into(), "a/b/c.txt".into())])
        );
        assert_eq!(answer(HttpMethod::GET, "/").0, "root");
        assert_eq!(answer(HttpMethod::POST, "/").0, "fallback");
        assert_eq!(answer(HttpMethod::GET, "/files").0, "fallback");
        assert_eq!(answer(HttpMethod::GET, "/products/1/more").0, "fallback");
        let without_default = self::api(&[("GET /a", "a")]);
        assert!(without_default.route(&HttpMethod::GET, "/b").is_none());
    }

    #[test]
    fn preflights_answer_allowed_origins_only() {
        let cors = Cors {
            allow_origins: vec!["https://shop.example".into()],
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["*".into()],
            max_age: Some(300),
            ..Cors::default()
        };
        let mut request = HeaderMap::new();
        request.insert(
            "access-control-request-headers",
            HeaderValue::from_static("authorization"),
        );
        let allowed = preflight(&cors, "https://shop.example", &request);
        assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
        let headers = allowed.headers();
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://shop.example"
        );
        assert_eq!(headers["access-control-allow-methods"], "GET,POST");
        assert_eq!(headers["access-control-allow-headers"], "authorization");
        assert_eq!(headers["access-control-max-age"], "300");
        let refused = preflight(&cors, "https://evil.example", &request);
        assert!(
            !refused
                .headers()
                .contains_key("access-control-allow-origin")
        );
    }
}
