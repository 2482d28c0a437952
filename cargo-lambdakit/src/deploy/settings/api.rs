//! The project's HTTP API, `[package.metadata.lambdakit.api]`: routes (`"GET /products/{sku}"`,
//! `$default`) to the package's functions, CORS, stage variables and authorizers (JWT, or a
//! function of the package), as an API Gateway HTTP API has them (AWS "Working with routes
//! for HTTP APIs", "Controlling access to HTTP APIs with JWT authorizers", "Working with AWS
//! Lambda authorizers for HTTP APIs").
//!
//! Reading refuses what no API could be (an unknown key, a malformed route key); what names
//! something of the package (a route's function, its authorizer) or clashes with another route
//! is a [`Problem`] of that route, found by [`problems`]: deploy and template refuse it, serve
//! leaves that route out and serves the rest.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{At, Cors, Word, cors, quoted};
use crate::error::CliError;

/// Where the API's settings are.
pub const AT: &str = "package.metadata.lambdakit.api";

/// The settings of the API's table.
pub const KEYS: [&str; 5] = ["name", "routes", "cors", "stage_variables", "authorizers"];

/// `[package.metadata.lambdakit.api]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiSettings {
    /// The API's name on AWS; the package's when not given.
    pub name: Option<String>,
    /// The routes, in the order written.
    pub routes: Vec<Route>,
    /// CORS, answered by the API itself.
    pub cors: Option<Cors>,
    /// The `$default` stage's variables, `stageVariables` of each event.
    pub stage_variables: BTreeMap<String, String>,
    /// The authorizers, by name.
    pub authorizers: BTreeMap<String, Authorizer>,
}

/// A route's method: one of HTTP's, or `ANY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// Every method (`ANY`).
    Any,
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `HEAD`.
    Head,
    /// `OPTIONS`.
    Options,
}

impl Word for Method {
    const ALL: &'static [Self] = &[
        Self::Any,
        Self::Get,
        Self::Post,
        Self::Put,
        Self::Patch,
        Self::Delete,
        Self::Head,
        Self::Options,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Any => "ANY",
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
            Self::Options => "OPTIONS",
        }
    }
}

/// One segment of a route's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A segment that must be as written.
    Literal(String),
    /// `{name}`: any one segment, as the path parameter `name`.
    Parameter(String),
    /// `{name+}`, last: the rest of the path, one segment or more, as `name`.
    Greedy(String),
}

/// What a route answers: `$default` (whatever no other route does), or a method on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    /// `$default`.
    Default,
    /// `METHOD /path`.
    Path {
        /// The method, or `ANY`.
        method: Method,
        /// The path's segments (none for `/`).
        segments: Vec<Segment>,
    },
}

impl RouteKey {
    /// Reads a route key as API Gateway writes it: `$default`, or `METHOD /path` with
    /// `{name}` segments and a last `{name+}`.
    ///
    /// # Errors
    ///
    /// What is wrong with it, and the form it should have.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "$default" {
            return Ok(Self::Default);
        }
        let form = "a route is `$default` or `METHOD /path`, such as `GET /products/{sku}` or `ANY /files/{path+}`";
        let Some((method, path)) = text.split_once(' ') else {
            return Err(format!("is not a route: {form}"));
        };
        let method = Method::named(method).ok_or_else(|| {
            format!(
                "has the method `{method}`; a route's {}",
                Method::expected()
            )
        })?;
        let Some(rest) = path.strip_prefix('/') else {
            return Err(format!(
                "has the path `{path}`, which must start with `/`: {form}"
            ));
        };
        let mut segments = Vec::new();
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        for (index, part) in parts.iter().enumerate() {
            let segment = match part
                .strip_prefix('{')
                .and_then(|inner| inner.strip_suffix('}'))
            {
                Some(inner) => {
                    let (name, greedy) = match inner.strip_suffix('+') {
                        Some(name) => (name, true),
                        None => (inner, false),
                    };
                    let valid = !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if !valid {
                        return Err(format!(
                            "has the segment `{part}`; a path parameter is `{{name}}` (or a last `{{name+}}`) of letters, digits, `_` or `-`"
                        ));
                    }
                    if greedy && index + 1 != parts.len() {
                        return Err(format!(
                            "has `{part}` before the end; a greedy `{{name+}}` must be the path's last segment"
                        ));
                    }
                    if greedy {
                        Segment::Greedy(name.to_owned())
                    } else {
                        Segment::Parameter(name.to_owned())
                    }
                }
                None if part.is_empty() => {
                    return Err(format!(
                        "has the path `{path}`, with an empty segment (`//` or a trailing `/`)"
                    ));
                }
                None if part.contains(['{', '}', ' ']) => {
                    return Err(format!(
                        "has the segment `{part}`; a segment is text, or a whole `{{name}}`"
                    ));
                }
                None => Segment::Literal((*part).to_owned()),
            };
            segments.push(segment);
        }
        if let Some(Segment::Literal(first)) = segments.first()
            && crate::emulator::owns_path(&format!("/{first}"))
        {
            return Err(format!(
                "starts with `/{first}`, which serve's Lambda API answers on the same port (`/lambda-url/`, `/lambdakit/` and the dated `/2015-03-31/`-like paths are its own); choose another path"
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        for segment in &segments {
            if let Segment::Parameter(name) | Segment::Greedy(name) = segment {
                if names.contains(&name.as_str()) {
                    return Err(format!("names the path parameter `{name}` twice"));
                }
                names.push(name);
            }
        }
        Ok(Self::Path { method, segments })
    }

    /// The key as API Gateway writes it: `GET /products/{sku}`.
    pub fn text(&self) -> String {
        match self {
            Self::Default => "$default".into(),
            Self::Path { method, segments } => {
                let mut path = String::new();
                for segment in segments {
                    path.push('/');
                    match segment {
                        Segment::Literal(text) => path.push_str(text),
                        Segment::Parameter(name) => path.push_str(&format!("{{{name}}}")),
                        Segment::Greedy(name) => path.push_str(&format!("{{{name}+}}")),
                    }
                }
                if path.is_empty() {
                    path.push('/');
                }
                format!("{} {path}", method.as_str())
            }
        }
    }

    /// What two keys that answer the same requests share: the key with its parameters'
    /// names left out.
    fn shape(&self) -> String {
        match self {
            Self::Default => "$default".into(),
            Self::Path { method, segments } => {
                let path: Vec<&str> = segments
                    .iter()
                    .map(|segment| match segment {
                        Segment::Literal(text) => text.as_str(),
                        Segment::Parameter(_) => "{}",
                        Segment::Greedy(_) => "{+}",
                    })
                    .collect();
                format!("{} /{}", method.as_str(), path.join("/"))
            }
        }
    }
}

/// One route: what it answers, the function behind it, and who may call it.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Its key.
    pub key: RouteKey,
    /// Where its setting is: `package.metadata.lambdakit.api.routes."GET /orders"`.
    pub at: String,
    /// The package's function it invokes (its binary target's name).
    pub function: String,
    /// The authorizer that checks its callers, by name; anyone may call it without one.
    pub authorizer: Option<String>,
    /// The scopes a JWT authorizer requires of the token (any one of them).
    pub scopes: Vec<String>,
}

/// Whether an authorizer checks a JWT or asks a function, `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizerType {
    /// A JSON Web Token from an OpenID Connect or OAuth 2.0 issuer (`jwt`).
    Jwt,
    /// A function of the package decides (`lambda`).
    Lambda,
}

impl Word for AuthorizerType {
    const ALL: &'static [Self] = &[Self::Jwt, Self::Lambda];

    fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Lambda => "lambda",
        }
    }
}

/// Where serve reads a JWT issuer's keys (a JSON Web Key Set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jwks {
    /// A file, relative to the package's directory.
    File(String),
    /// An `http://` URL on this machine (`127.0.0.1`, `localhost`, `[::1]`).
    Url(String),
}

/// One authorizer, `[package.metadata.lambdakit.api.authorizers.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorizer {
    /// Where its table is, for errors.
    pub at: String,
    /// What the caller's identity is read from (`$request.header.Authorization`, ...).
    pub identity_source: Vec<String>,
    /// A JWT's checks, or the function that decides.
    pub kind: AuthorizerKind,
}

/// What an authorizer checks with.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizerKind {
    /// A JWT issued by `issuer` for one of `audience`, signed with a key of `jwks`.
    Jwt {
        /// The token's `iss`.
        issuer: String,
        /// The token's `aud` (or `client_id`) must be one of these.
        audience: Vec<String>,
        /// Where serve reads the issuer's keys (on AWS, API Gateway reads the issuer's own).
        jwks: Jwks,
    },
    /// A function of the package, sent payload 2.0 authorizer requests.
    Lambda {
        /// Its binary target's name.
        function: String,
        /// How long an answer is kept, by identity, in seconds (0: never).
        ttl: u32,
        /// Whether it answers `{"isAuthorized": ..}` (else an IAM policy).
        simple_responses: bool,
    },
}

/// `Authorization`, where both kinds of authorizer read the identity by default.
pub const DEFAULT_IDENTITY_SOURCE: &str = "$request.header.Authorization";

/// Reads `[package.metadata.lambdakit.api]` (the value at `at`).
///
/// # Errors
///
/// When a setting is not one an API has, or malformed: the error names its key.
pub fn api(value: &Value, at: &str) -> Result<ApiSettings, CliError> {
    let here = At { value, key: at };
    let mut api = ApiSettings::default();
    for (key, value) in here.table(&KEYS)? {
        let path = format!("{at}.{key}");
        let at = At { value, key: &path };
        match key.as_str() {
            "name" => {
                let name = at.non_empty()?;
                // API Gateway's API names: up to 128 characters; these fit tags and
                // messages alike.
                let valid = name.len() <= 128
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !valid {
                    return Err(at.invalid("must be 1 to 128 letters, digits, `-`, `_` or `.`"));
                }
                api.name = Some(name);
            }
            "routes" => api.routes = routes(at)?,
            "cors" => api.cors = Some(cors(at)?),
            "stage_variables" => {
                let variables = at.string_map()?;
                // API Gateway's stage variables: names of letters, digits and `_`, values
                // of up to 2048 characters.
                for (name, value) in &variables {
                    let key = format!("{path}.{name}");
                    let invalid = |problem: &str| CliError::Config {
                        key: key.clone(),
                        problem: problem.into(),
                    };
                    if name.is_empty()
                        || name.len() > 64
                        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(invalid(
                            "is not a stage variable's name: up to 64 letters, digits or `_`",
                        ));
                    }
                    if value.chars().count() > 2048 {
                        return Err(invalid("is longer than 2048 characters"));
                    }
                }
                api.stage_variables = variables;
            }
            _ => {
                let table = at
                    .value
                    .as_object()
                    .ok_or_else(|| at.invalid("must be a table of authorizers, by name"))?;
                for (name, value) in table {
                    let key = format!("{path}.{name}");
                    let valid = (1..=128).contains(&name.len())
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    let here = At { value, key: &key };
                    if !valid {
                        return Err(here.invalid(
                            "is not an authorizer's name: 1 to 128 letters, digits, `-` or `_`",
                        ));
                    }
                    api.authorizers.insert(name.clone(), authorizer(here)?);
                }
            }
        }
    }
    for route in &api.routes {
        if route.authorizer.is_none() && !route.scopes.is_empty() {
            return Err(CliError::Config {
                key: format!("{}.scopes", route.at),
                problem:
                    "needs an `authorizer`: scopes are what a JWT authorizer requires of the token"
                        .into(),
            });
        }
    }
    if api.routes.is_empty() {
        return Err(here.invalid(
            "has no `routes`: add `[package.metadata.lambdakit.api.routes]` with lines such as `\"GET /products/{sku}\" = \"catalog\"`",
        ));
    }
    Ok(api)
}

fn routes(here: At<'_>) -> Result<Vec<Route>, CliError> {
    let table = here
        .value
        .as_object()
        .ok_or_else(|| here.invalid("must be a table of routes: `\"GET /orders\" = \"orders\"`"))?;
    let mut routes = Vec::new();
    for (text, value) in table {
        let at = format!("{}.\"{text}\"", here.key);
        let key = RouteKey::parse(text).map_err(|problem| CliError::Config {
            key: at.clone(),
            problem,
        })?;
        let here = At { value, key: &at };
        let mut route = Route {
            key,
            at: at.clone(),
            function: String::new(),
            authorizer: None,
            scopes: Vec::new(),
        };
        if value.is_string() {
            route.function = here.non_empty()?;
        } else {
            for (key, value) in here.table(&["function", "authorizer", "scopes"])? {
                let path = format!("{at}.{key}");
                let at = At { value, key: &path };
                match key.as_str() {
                    "function" => route.function = at.non_empty()?,
                    "authorizer" => route.authorizer = Some(at.non_empty()?),
                    _ => route.scopes = at.strings()?,
                }
            }
            if route.function.is_empty() {
                return Err(here.invalid(
                    "needs a `function`: the name of the package's function that answers it",
                ));
            }
        }
        routes.push(route);
    }
    Ok(routes)
}

fn authorizer(here: At<'_>) -> Result<Authorizer, CliError> {
    let keys = [
        "type",
        "identity_source",
        "issuer",
        "audience",
        "jwks",
        "function",
        "ttl",
        "simple_responses",
    ];
    let table = here.table(&keys)?;
    let of = |key: &str| {
        table
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| *value)
    };
    let path = |key: &str| format!("{}.{key}", here.key);
    let kind_path = path("type");
    let kind: AuthorizerType = match of("type") {
        Some(value) => At {
            value,
            key: &kind_path,
        }
        .word()?,
        None => {
            return Err(here.invalid(
                "needs a `type`: `jwt` (a token from an issuer) or `lambda` (a function decides)",
            ));
        }
    };
    // The keys of the other kind are refused by name.
    let own: &[&str] = match kind {
        AuthorizerType::Jwt => &["type", "identity_source", "issuer", "audience", "jwks"],
        AuthorizerType::Lambda => &[
            "type",
            "identity_source",
            "function",
            "ttl",
            "simple_responses",
        ],
    };
    if let Some((key, _)) = table.iter().find(|(key, _)| !own.contains(&key.as_str())) {
        return Err(CliError::Config {
            key: path(key),
            problem: format!(
                "is not a setting of a `{}` authorizer; its settings are {}",
                kind.as_str(),
                quoted(own)
            ),
        });
    }
    let identity_path = path("identity_source");
    let identity_source = match of("identity_source") {
        None => vec![DEFAULT_IDENTITY_SOURCE.to_owned()],
        Some(value) => {
            let at = At {
                value,
                key: &identity_path,
            };
            let sources = if value.is_string() {
                vec![at.string()?]
            } else {
                at.strings()?
            };
            let prefixes = [
                "$request.header.",
                "$request.querystring.",
                "$context.",
                "$stageVariables.",
            ];
            if let Some(bad) = sources.iter().find(|source| {
                !prefixes.iter().any(|prefix| {
                    source
                        .strip_prefix(prefix)
                        .is_some_and(|name| !name.is_empty())
                })
            }) {
                return Err(at.invalid(format!(
                    "has `{bad}`; an identity source is one of {}, followed by a name, such as `$request.header.Authorization`",
                    quoted(&prefixes)
                )));
            }
            if kind == AuthorizerType::Jwt && sources.len() != 1 {
                return Err(at.invalid(
                    "must name one source for a JWT authorizer: where the token is, such as `$request.header.Authorization`",
                ));
            }
            sources
        }
    };
    let kind = match kind {
        AuthorizerType::Jwt => {
            let issuer_path = path("issuer");
            let issuer = of("issuer")
                .map(|value| {
                    At {
                        value,
                        key: &issuer_path,
                    }
                    .non_empty()
                })
                .transpose()?
                .ok_or_else(|| {
                    here.invalid("needs an `issuer`: the URL its tokens carry as `iss`, such as `https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_aBcDeF123`")
                })?;
            let audience_path = path("audience");
            let audience = match of("audience") {
                Some(value) => At {
                    value,
                    key: &audience_path,
                }
                .strings()?,
                None => Vec::new(),
            };
            if audience.is_empty() {
                return Err(here.invalid(
                    "needs an `audience`: the `aud` (or `client_id`) values its tokens may carry, such as [\"my-app-client-id\"]",
                ));
            }
            let jwks_path = path("jwks");
            let jwks = of("jwks")
                .map(|value| jwks(At {
                    value,
                    key: &jwks_path,
                }))
                .transpose()?
                .ok_or_else(|| {
                    here.invalid("needs `jwks`: where serve reads the issuer's keys, a JSON Web Key Set file (relative to the package) or an `http://127.0.0.1:PORT/...` URL; on AWS, API Gateway reads the issuer's own")
                })?;
            AuthorizerKind::Jwt {
                issuer,
                audience,
                jwks,
            }
        }
        AuthorizerType::Lambda => {
            let function_path = path("function");
            let function = of("function")
                .map(|value| {
                    At {
                        value,
                        key: &function_path,
                    }
                    .non_empty()
                })
                .transpose()?
                .ok_or_else(|| {
                    here.invalid(
                        "needs a `function`: the name of the package's function that decides",
                    )
                })?;
            let ttl_path = path("ttl");
            let ttl = of("ttl")
                .map(|value| {
                    At {
                        value,
                        key: &ttl_path,
                    }
                    .number(0..=3600, "seconds")
                })
                .transpose()?
                .unwrap_or(0);
            let simple_path = path("simple_responses");
            let simple_responses = of("simple_responses")
                .map(|value| {
                    At {
                        value,
                        key: &simple_path,
                    }
                    .bool()
                })
                .transpose()?
                .unwrap_or(true);
            if ttl > 0 && identity_source.is_empty() {
                return Err(CliError::Config {
                    key: identity_path,
                    problem: "must name a source when `ttl` is above 0: answers are kept by the caller's identity".into(),
                });
            }
            AuthorizerKind::Lambda {
                function,
                ttl,
                simple_responses,
            }
        }
    };
    Ok(Authorizer {
        at: here.key.to_owned(),
        identity_source,
        kind,
    })
}

fn jwks(at: At<'_>) -> Result<Jwks, CliError> {
    let text = at.non_empty()?;
    if let Some(rest) = text.strip_prefix("http://") {
        let host = rest.split('/').next().unwrap_or_default();
        let host = match host.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => host,
        };
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(at.invalid(format!(
                "is `{text}`, not on this machine: serve reads keys only from a file or an `http://127.0.0.1:PORT/...` URL (save the issuer's keys to a file for serve; on AWS, API Gateway reads the issuer's own)"
            )));
        }
        return Ok(Jwks::Url(text));
    }
    if text.contains("://") {
        return Err(at.invalid(format!(
            "is `{text}`: serve reads keys only from a file or an `http://127.0.0.1:PORT/...` URL (save the issuer's keys to a file for serve; on AWS, API Gateway reads the issuer's own)"
        )));
    }
    Ok(Jwks::File(text))
}

/// Why a route cannot be served or deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// It answers what an earlier route answers: the earlier one does.
    Clash,
    /// It names a function or an authorizer the package does not have.
    Missing,
}

/// What keeps one route from being served or deployed: it names what the package does not
/// have, or answers what an earlier route does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The index of the route in [`ApiSettings::routes`].
    pub route: usize,
    /// Which kind of problem.
    pub fault: Fault,
    /// The setting at fault.
    pub key: String,
    /// What is wrong, and the fix.
    pub problem: String,
}

impl Problem {
    /// The problem as the error deploy and template stop at.
    pub fn error(&self) -> CliError {
        CliError::Config {
            key: self.key.clone(),
            problem: self.problem.clone(),
        }
    }
}

/// The problems of `api`'s routes, whose package has the functions `functions`.
pub fn problems(api: &ApiSettings, functions: &[&str]) -> Vec<Problem> {
    let known = |name: &str| functions.contains(&name);
    let listed = quoted(functions);
    let mut problems = Vec::new();
    for (index, route) in api.routes.iter().enumerate() {
        let problem = |key: String, problem: String| Problem {
            route: index,
            fault: Fault::Missing,
            key,
            problem,
        };
        if let Some(earlier) = api.routes[..index]
            .iter()
            .find(|earlier| earlier.key.shape() == route.key.shape())
        {
            problems.push(Problem {
                fault: Fault::Clash,
                ..problem(
                    route.at.clone(),
                    format!(
                        "answers the same requests as the route `{}` (a path parameter's name does not tell routes apart); keep one",
                        earlier.key.text()
                    ),
                )
            });
            continue;
        }
        if !known(&route.function) {
            let key = if route_is_plain(route) {
                route.at.clone()
            } else {
                format!("{}.function", route.at)
            };
            problems.push(problem(
                key,
                format!(
                    "names the function `{}`, which the package does not have (its functions: {listed}){}",
                    route.function,
                    crate::suggest::did_you_mean(&route.function, functions.iter().copied())
                ),
            ));
            continue;
        }
        let Some(name) = &route.authorizer else {
            continue;
        };
        let Some(authorizer) = api.authorizers.get(name) else {
            let names: Vec<&str> = api.authorizers.keys().map(String::as_str).collect();
            let declared = if names.is_empty() {
                "it declares none: `[package.metadata.lambdakit.api.authorizers.NAME]`".to_owned()
            } else {
                format!("its authorizers are {}", quoted(&names))
            };
            problems.push(problem(
                format!("{}.authorizer", route.at),
                format!(
                    "names the authorizer `{name}`, which the API does not declare ({declared}){}",
                    crate::suggest::did_you_mean(name, names.iter().copied())
                ),
            ));
            continue;
        };
        match &authorizer.kind {
            AuthorizerKind::Lambda { function, .. } if !known(function) => {
                problems.push(problem(
                    format!("{}.function", authorizer.at),
                    format!(
                        "names the function `{function}`, which the package does not have (its functions: {listed}){}",
                        crate::suggest::did_you_mean(function, functions.iter().copied())
                    ),
                ));
            }
            AuthorizerKind::Lambda { .. } if !route.scopes.is_empty() => {
                problems.push(problem(
                    format!("{}.scopes", route.at),
                    format!(
                        "are checked by JWT authorizers only, and `{name}` is a `lambda` authorizer: leave them out"
                    ),
                ));
            }
            _ => {}
        }
    }
    problems
}

/// Whether the route was written as `"KEY" = "function"` rather than a table.
fn route_is_plain(route: &Route) -> bool {
    route.authorizer.is_none() && route.scopes.is_empty()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(value: Value) -> Result<ApiSettings, (String, String)> {
        api(&value, AT).map_err(|error| match error {
            CliError::Config { key, problem } => (key, problem),
            other => panic!("expected a config error, got {other:?}"),
        })
    }

    #[test]
    fn routes_authorizers_and_cors_are_read() {
        let api = read(json!({
            "routes": {
                "GET /products/{sku}": "catalog",
                "POST /orders": {"function": "orders", "authorizer": "users", "scopes": ["orders:write"]},
                "ANY /files/{path+}": {"function": "catalog", "authorizer": "gate"},
                "$default": "catalog",
            },
            "cors": {"allow_origins": ["https://shop.example"], "max_age": 300},
            "stage_variables": {"table": "orders-dev"},
            "authorizers": {
                "users": {"type": "jwt", "issuer": "https://issuer.example", "audience": ["shop"], "jwks": "jwks.json"},
                "gate": {"type": "lambda", "function": "gate", "ttl": 60, "identity_source": ["$request.header.X-Api-Key"]},
            },
        }))
        .unwrap();
        assert_eq!(api.routes.len(), 4);
        let keys: Vec<String> = api.routes.iter().map(|route| route.key.text()).collect();
        assert!(keys.contains(&"GET /products/{sku}".to_owned()), "{keys:?}");
        assert!(keys.contains(&"ANY /files/{path+}".to_owned()), "{keys:?}");
        assert!(keys.contains(&"$default".to_owned()), "{keys:?}");
        let orders = api
            .routes
            .iter()
            .find(|route| route.function == "orders")
            .unwrap();
        assert_eq!(orders.authorizer.as_deref(), Some("users"));
        assert_eq!(orders.scopes, ["orders:write"]);
        assert_eq!(api.stage_variables["table"], "orders-dev");
        assert_eq!(
            api.authorizers["users"].identity_source,
            [DEFAULT_IDENTITY_SOURCE]
        );
        assert_eq!(
            api.authorizers["gate"].kind,
            AuthorizerKind::Lambda {
                function: "gate".into(),
                ttl: 60,
                simple_responses: true
            }
        );
        assert_eq!(problems(&api, &["catalog", "orders", "gate"]), Vec::new());
    }

    #[test]
    fn bad_settings_name_the_key_and_the_fix() {
        let routes = |routes: Value| json!({"routes": routes});
        for (value, key, says) in [
            (
                routes(json!({"get /x": "a"})),
                "package.metadata.lambdakit.api.routes.\"get /x\"",
                "has the method `get`; a route's must be one of `ANY`",
            ),
            (
                routes(json!({"GET x": "a"})),
                "package.metadata.lambdakit.api.routes.\"GET x\"",
                "must start with `/`",
            ),
            (
                routes(json!({"GET /{a+}/b": "a"})),
                "package.metadata.lambdakit.api.routes.\"GET /{a+}/b\"",
                "must be the path's last segment",
            ),
            (
                routes(json!({"GET /2015-03-31/functions": "a"})),
                "package.metadata.lambdakit.api.routes.\"GET /2015-03-31/functions\"",
                "serve's Lambda API answers on the same port",
            ),
            (
                routes(json!({"GET /x": {"fn": "a"}})),
                "package.metadata.lambdakit.api.routes.\"GET /x\".fn",
                "the settings are `function`, `authorizer`, `scopes`",
            ),
            (
                routes(json!({"GET /x": {"function": "a", "scopes": ["s"]}})),
                "package.metadata.lambdakit.api.routes.\"GET /x\".scopes",
                "needs an `authorizer`",
            ),
            (json!({}), AT, "has no `routes`"),
            (
                json!({"routes": {"GET /x": "a"}, "authorizers": {"u": {"type": "oauth"}}}),
                "package.metadata.lambdakit.api.authorizers.u.type",
                "must be one of `jwt`, `lambda`",
            ),
            (
                json!({"routes": {"GET /x": "a"}, "authorizers": {"u": {"type": "jwt", "issuer": "i", "audience": ["a"], "jwks": "https://issuer.example/keys"}}}),
                "package.metadata.lambdakit.api.authorizers.u.jwks",
                "serve reads keys only from a file or an `http://127.0.0.1:PORT/...` URL",
            ),
            (
                json!({"routes": {"GET /x": "a"}, "authorizers": {"u": {"type": "jwt", "issuer": "i", "audience": ["a"], "jwks": "http://example.com/keys"}}}),
                "package.metadata.lambdakit.api.authorizers.u.jwks",
                "not on this machine",
            ),
            (
                json!({"routes": {"GET /x": "a"}, "authorizers": {"u": {"type": "jwt", "issuer": "i", "jwks": "k.json"}}}),
                "package.metadata.lambdakit.api.authorizers.u",
                "needs an `audience`",
            ),
            (
                json!({"routes": {"GET /x": "a"}, "authorizers": {"u": {"type": "lambda", "function": "g", "issuer": "i"}}}),
                "package.metadata.lambdakit.api.authorizers.u.issuer",
                "is not a setting of a `lambda` authorizer",
            ),
            (
                json!({"routes": {"GET /x": "a"}, "authorizers": {"u": {"type": "lambda", "function": "g", "identity_source": "Authorization"}}}),
                "package.metadata.lambdakit.api.authorizers.u.identity_source",
                "an identity source is one of `$request.header.`",
            ),
            (
                json!({"routes": {"GET /x": "a"}, "stage_variables": {"a-b": "x"}}),
                "package.metadata.lambdakit.api.stage_variables.a-b",
                "is not a stage variable's name",
            ),
            (
                json!({"routes": {"GET /x": "a"}, "rotes": {}}),
                "package.metadata.lambdakit.api.rotes",
                "is not a setting here",
            ),
        ] {
            let (said_key, said) = read(value.clone()).expect_err(&value.to_string());
            assert_eq!(said_key, key, "{value}: {said}");
            assert!(said.contains(says), "{value}: {said}");
        }
    }

    #[test]
    fn routes_naming_what_is_not_there_or_clashing_are_problems_of_their_own() {
        let api = read(json!({
            "routes": {
                "GET /products/{sku}": "catalog",
                "GET /products/{id}": "catalog",
                "POST /orders": "ordres",
                "DELETE /orders/{id}": {"function": "orders", "authorizer": "admins"},
                "PUT /orders/{id}": {"function": "orders", "authorizer": "gate"},
                "GET /health": "catalog",
            },
            "authorizers": {"gate": {"type": "lambda", "function": "gatekeeper"}},
        }))
        .unwrap();
        let problems = problems(&api, &["catalog", "orders", "gate"]);
        let said: Vec<(String, String)> = problems
            .iter()
            .map(|problem| (problem.key.clone(), problem.problem.clone()))
            .collect();
        assert_eq!(problems.len(), 4, "{said:#?}");
        let find = |key: &str| {
            said.iter()
                .find(|(said, _)| said == key)
                .unwrap_or_else(|| panic!("no problem at {key}: {said:#?}"))
                .1
                .clone()
        };
        let at = "package.metadata.lambdakit.api.routes";
        // serde_json's map is sorted, so `{id}` comes before `{sku}`: the later one clashes.
        assert!(find(&format!("{at}.\"GET /products/{{sku}}\"")).contains("`GET /products/{id}`"));
        let faults: Vec<Fault> = problems.iter().map(|problem| problem.fault).collect();
        assert_eq!(
            faults
                .iter()
                .filter(|fault| **fault == Fault::Clash)
                .count(),
            1,
            "{said:#?}"
        );
        let misspelt = find(&format!("{at}.\"POST /orders\""));
        assert!(misspelt.contains("`ordres`"), "{misspelt}");
        assert!(misspelt.contains("did you mean `orders`"), "{misspelt}");
        assert!(
            find(&format!("{at}.\"DELETE /orders/{{id}}\".authorizer"))
                .contains("its authorizers are `gate`")
        );
        assert!(
            find("package.metadata.lambdakit.api.authorizers.gate.function")
                .contains("`gatekeeper`")
        );
        // The good route has none.
        let health = api
            .routes
            .iter()
            .position(|route| route.key.text() == "GET /health")
            .unwrap();
        assert!(problems.iter().all(|problem| problem.route != health));
    }
}
