//! The API's authorizers, as API Gateway runs an HTTP API's (AWS "Controlling access to HTTP
//! APIs with JWT authorizers", "Working with AWS Lambda authorizers for HTTP APIs"):
//!
//! - A request missing an identity source is refused with 401 before anything is asked.
//! - A JWT authorizer checks the token against the issuer's keys (`jwt`): 401 when it is not
//!   good, 403 when it has none of the route's scopes; its claims and scopes go into
//!   `requestContext.authorizer.jwt`.
//! - A Lambda authorizer is a function of the package, sent a payload 2.0 authorizer request;
//!   it answers `{"isAuthorized", "context"}` (simple responses) or an IAM policy for the
//!   route's ARN. Its answer is kept for `ttl` seconds by the identity sources' values; a
//!   refusal is 403, a failure (an error, a timeout) 500 with a line in serve's log naming the
//!   authorizer; its context goes into `requestContext.authorizer.lambda`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

use super::{LocalRoute, jwt, message};
use crate::deploy::settings::api::{Authorizer, AuthorizerKind, Jwks};
use crate::emulator::Emulator;
use crate::emulator::instance::Outcome;

/// What an authorizer made of a request.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Let through, with `requestContext.authorizer`.
    Allow(Value),
    /// Refused (or failed) with this answer.
    Deny(Response<Full<Bytes>>),
}

/// The API's authorizers, by name.
#[derive(Debug, Default)]
pub(super) struct Authorizers {
    by_name: BTreeMap<String, Local>,
}

#[derive(Debug)]
struct Local {
    settings: Authorizer,
    /// A JWT authorizer's key set file, relative paths made the package's.
    jwks_file: Option<PathBuf>,
    /// A JWT authorizer's keys, read at its first request and again for an unknown `kid`.
    keys: tokio::sync::Mutex<Option<Vec<jwt::Key>>>,
    /// A Lambda authorizer's answers, by the identity sources' values, and when each expires.
    answers: Mutex<BTreeMap<Vec<String>, (Instant, Value)>>,
}

fn unauthorized() -> Verdict {
    Verdict::Deny(message(StatusCode::UNAUTHORIZED, "Unauthorized"))
}

fn forbidden() -> Verdict {
    Verdict::Deny(message(StatusCode::FORBIDDEN, "Forbidden"))
}

fn failed() -> Verdict {
    Verdict::Deny(message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
    ))
}

impl Authorizers {
    /// The authorizers `settings` declares; key set files are relative to `dir`.
    pub(super) fn new(settings: &BTreeMap<String, Authorizer>, dir: &Path) -> Self {
        let by_name = settings
            .iter()
            .map(|(name, settings)| {
                let jwks_file = match &settings.kind {
                    AuthorizerKind::Jwt {
                        jwks: Jwks::File(file),
                        ..
                    } => Some(dir.join(file)),
                    _ => None,
                };
                let local = Local {
                    settings: settings.clone(),
                    jwks_file,
                    keys: tokio::sync::Mutex::default(),
                    answers: Mutex::default(),
                };
                (name.clone(), local)
            })
            .collect();
        Self { by_name }
    }

    /// Whether the authorizer `name` lets the request of `event` (to `route`, whose ARN is
    /// `route_arn`) through.
    pub(super) async fn check(
        &self,
        emulator: &Emulator,
        name: &str,
        route: &LocalRoute,
        event: &Value,
        route_arn: &str,
    ) -> Verdict {
        let Some(local) = self.by_name.get(name) else {
            // `problems` refused routes naming an authorizer the API does not declare.
            return failed();
        };
        // The request, as serve's log lines about it name it: `GET /private`.
        let asked = format!(
            "{} {}",
            event["requestContext"]["http"]["method"]
                .as_str()
                .unwrap_or_default(),
            event["rawPath"].as_str().unwrap_or_default()
        );
        let mut identity = Vec::new();
        for source in &local.settings.identity_source {
            match identity_value(source, event) {
                Some(value) if !value.is_empty() => identity.push(value),
                _ => return unauthorized(),
            }
        }
        match &local.settings.kind {
            AuthorizerKind::Jwt {
                issuer,
                audience,
                jwks,
            } => {
                let expected = jwt::Expected {
                    issuer,
                    audience,
                    scopes: &route.scopes,
                };
                let token = identity.first().map(String::as_str).unwrap_or_default();
                local.check_jwt(name, &asked, jwks, token, expected).await
            }
            AuthorizerKind::Lambda {
                function,
                ttl,
                simple_responses,
            } => {
                let cached = (*ttl > 0 && !identity.is_empty())
                    .then(|| {
                        let mut answers = crate::emulator::lock(&local.answers);
                        answers.retain(|_, (expires, _)| *expires > Instant::now());
                        answers.get(&identity).map(|(_, answer)| answer.clone())
                    })
                    .flatten();
                let answer = match cached {
                    Some(answer) => answer,
                    None => {
                        let request = request(event, &identity, route_arn);
                        let answer = match emulator.invoke_for_api(function, &request, None).await {
                            Ok(Outcome::Response(body)) => {
                                match serde_json::from_slice::<Value>(&body) {
                                    Ok(answer) if answer.is_object() => answer,
                                    _ => {
                                        println!(
                                            "lambdakit: {asked}: API authorizer `{name}` (function `{function}`) answered what is not a JSON object: {}; the request is answered 500",
                                            String::from_utf8_lossy(&body)
                                        );
                                        return failed();
                                    }
                                }
                            }
                            Ok(Outcome::Error(body)) => {
                                let error: Value =
                                    serde_json::from_slice(&body).unwrap_or(Value::Null);
                                println!(
                                    "lambdakit: {asked}: API authorizer `{name}` (function `{function}`) failed: {}: {}; the request is answered 500",
                                    error["errorType"].as_str().unwrap_or("error"),
                                    error["errorMessage"].as_str().unwrap_or_default()
                                );
                                return failed();
                            }
                            Err(refusal) => {
                                println!(
                                    "lambdakit: {asked}: API authorizer `{name}` (function `{function}`) could not be invoked ({}); the request is answered 500",
                                    refusal.status()
                                );
                                return failed();
                            }
                        };
                        if *ttl > 0 && !identity.is_empty() {
                            crate::emulator::lock(&local.answers).insert(
                                identity,
                                (
                                    Instant::now() + Duration::from_secs(u64::from(*ttl)),
                                    answer.clone(),
                                ),
                            );
                        }
                        answer
                    }
                };
                let allowed = if *simple_responses {
                    answer["isAuthorized"].as_bool()
                } else {
                    policy_allows(&answer["policyDocument"], route_arn)
                };
                match allowed {
                    Some(true) => {
                        let context = match &answer["context"] {
                            Value::Object(context) => Value::Object(context.clone()),
                            _ => json!({}),
                        };
                        Verdict::Allow(json!({ "lambda": context }))
                    }
                    Some(false) => forbidden(),
                    None => {
                        let wanted = if *simple_responses {
                            "`{\"isAuthorized\": true|false, \"context\": {..}}` (simple responses)"
                        } else {
                            "an IAM policy, `{\"principalId\": .., \"policyDocument\": {..}, \"context\": {..}}` (`simple_responses = false`)"
                        };
                        println!(
                            "lambdakit: {asked}: API authorizer `{name}` (function `{function}`) answered {answer}, not {wanted}; the request is answered 500"
                        );
                        failed()
                    }
                }
            }
        }
    }
}

impl Local {
    async fn check_jwt(
        &self,
        name: &str,
        asked: &str,
        jwks: &Jwks,
        token: &str,
        expected: jwt::Expected<'_>,
    ) -> Verdict {
        let mut keys = self.keys.lock().await;
        for attempt in 0..2 {
            if keys.is_none() || attempt == 1 {
                match self.read_keys(jwks).await {
                    Ok(read) => *keys = Some(read),
                    Err(problem) => {
                        println!(
                            "lambdakit: {asked}: API authorizer `{name}` cannot read its keys: `{}.jwks` {problem}; the request is answered 500",
                            self.settings.at
                        );
                        return failed();
                    }
                }
            }
            let known = keys.as_deref().unwrap_or_default();
            match jwt::check(token, known, expected) {
                Ok(checked) => {
                    return Verdict::Allow(json!({
                        "jwt": {"claims": checked.claims, "scopes": checked.scopes},
                    }));
                }
                Err(jwt::Refusal::UnknownKey(why)) if attempt == 1 => {
                    println!("lambdakit: {asked}: API authorizer `{name}` refused a token: {why}");
                    return unauthorized();
                }
                Err(jwt::Refusal::UnknownKey(_)) => {}
                Err(jwt::Refusal::Unauthorized(why)) => {
                    println!("lambdakit: {asked}: API authorizer `{name}` refused a token: {why}");
                    return unauthorized();
                }
                Err(jwt::Refusal::Forbidden(why)) => {
                    println!("lambdakit: {asked}: API authorizer `{name}` refused a token: {why}");
                    return forbidden();
                }
            }
        }
        unauthorized()
    }

    /// The key set, from its file or its loopback URL.
    async fn read_keys(&self, jwks: &Jwks) -> Result<Vec<jwt::Key>, String> {
        let (text, what) = match (jwks, &self.jwks_file) {
            (Jwks::File(file), Some(path)) => {
                let text = tokio::fs::read(path).await.map_err(|error| {
                    format!(
                        "names `{file}`, which cannot be read ({}: {error}); the path is relative to the package's directory",
                        path.display()
                    )
                })?;
                (text, format!("names `{file}`, which"))
            }
            (Jwks::Url(url), _) => {
                let rest = url.strip_prefix("http://").unwrap_or(url);
                let (authority, path) = rest
                    .split_once('/')
                    .map_or((rest, "/".to_owned()), |(authority, path)| {
                        (authority, format!("/{path}"))
                    });
                let authority = authority.replace("localhost", "127.0.0.1");
                let request = http::Request::get(path)
                    .header(http::header::HOST, authority.as_str())
                    .body(http_body_util::Empty::new())
                    .map_err(|error| {
                        format!("is `{url}`, which is not a URL serve can ask: {error}")
                    })?;
                let (status, _, body) = crate::spans::get(&authority, request)
                    .await
                    .map_err(|error| format!("is `{url}`, which cannot be read: {error}"))?;
                if !status.is_success() {
                    return Err(format!("is `{url}`, which answered {status}"));
                }
                (body.to_vec(), format!("is `{url}`, which"))
            }
            (Jwks::File(file), None) => return Err(format!("names `{file}`, which is not known")),
        };
        jwt::key_set(&text).map_err(|problem| format!("{what} {problem}"))
    }
}

/// The value of an identity source (`$request.header.NAME`, ...) in `event`.
fn identity_value(source: &str, event: &Value) -> Option<String> {
    let text = |value: &Value| value.as_str().map(str::to_owned);
    if let Some(name) = source.strip_prefix("$request.header.") {
        return text(&event["headers"][name.to_ascii_lowercase()]);
    }
    if let Some(name) = source.strip_prefix("$request.querystring.") {
        return text(&event["queryStringParameters"][name]);
    }
    if let Some(name) = source.strip_prefix("$stageVariables.") {
        return text(&event["stageVariables"][name]);
    }
    let path = source.strip_prefix("$context.")?;
    let value = path
        .split('.')
        .try_fold(&event["requestContext"], |value, key| value.get(key))?;
    match value {
        Value::String(value) => Some(value.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The payload 2.0 authorizer request for the request of `event` (AWS "Working with AWS
/// Lambda authorizers for HTTP APIs", "Payload format version").
fn request(event: &Value, identity: &[String], route_arn: &str) -> Value {
    let mut request = event.clone();
    if let Some(object) = request.as_object_mut() {
        object.remove("body");
        object.remove("isBase64Encoded");
        object.insert("version".into(), json!("2.0"));
        object.insert("type".into(), json!("REQUEST"));
        object.insert("routeArn".into(), json!(route_arn));
        object.insert("identitySource".into(), json!(identity));
    }
    request
}

/// Whether the IAM policy `policy` allows `execute-api:Invoke` on `arn`: `Some(true)` when a
/// statement allows it and none denies it, `None` when `policy` is not a policy.
fn policy_allows(policy: &Value, arn: &str) -> Option<bool> {
    let statements = match &policy["Statement"] {
        Value::Array(statements) => statements.clone(),
        statement @ Value::Object(_) => vec![statement.clone()],
        _ => return None,
    };
    let list = |value: &Value| -> Vec<String> {
        match value {
            Value::String(text) => vec![text.clone()],
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut allowed = false;
    for statement in &statements {
        let applies = list(&statement["Action"])
            .iter()
            .any(|action| wildcard(action, "execute-api:Invoke"))
            && list(&statement["Resource"])
                .iter()
                .any(|resource| wildcard(resource, arn));
        if !applies {
            continue;
        }
        match statement["Effect"].as_str() {
            Some("Deny") => return Some(false),
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    Some(allowed)
}

/// Whether `pattern` (`*` any run, `?` any one character, as IAM matches) matches `text`.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_allow_what_a_statement_allows_and_none_denies() {
        let arn = "arn:aws:execute-api:eu-west-1:123456789012:abc/$default/GET/orders";
        let allow = json!({"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:eu-west-1:123456789012:abc/*/GET/*"},
        ]});
        assert_eq!(policy_allows(&allow, arn), Some(true));
        let other_route = json!({"Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ["arn:aws:execute-api:*:*:abc/*/POST/*"]},
        ]});
        assert_eq!(policy_allows(&other_route, arn), Some(false));
        let denied = json!({"Statement": [
            {"Action": "execute-api:*", "Effect": "Allow", "Resource": "*"},
            {"Action": ["execute-api:Invoke"], "Effect": "Deny", "Resource": arn},
        ]});
        assert_eq!(policy_allows(&denied, arn), Some(false));
        assert_eq!(policy_allows(&json!(null), arn), None);
    }

    /// A loopback server answering every request with `status` and `body`, once per
    /// connection, for as long as the handle lives.
    async fn server(
        status: u16,
        body: &'static str,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = vec![0; 4096];
                let _ = stream.read(&mut head).await;
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        (address, task)
    }

    fn jwt_authorizer(jwks: Jwks) -> Local {
        Local {
            settings: Authorizer {
                at: "package.metadata.lambdakit.api.authorizers.users".into(),
                identity_source: vec![crate::deploy::settings::api::DEFAULT_IDENTITY_SOURCE.into()],
                kind: AuthorizerKind::Jwt {
                    issuer: "https://issuer.test".into(),
                    audience: vec!["shop".into()],
                    jwks,
                },
            },
            jwks_file: None,
            keys: tokio::sync::Mutex::default(),
            answers: Mutex::default(),
        }
    }

    #[tokio::test]
    async fn key_sets_are_read_from_a_loopback_url() {
        let set = r#"{"keys": [{"kty": "EC", "kid": "e"}, {"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]}"#;
        let (address, task) = server(200, set).await;
        let jwks = Jwks::Url(format!(
            "http://localhost:{}/.well-known/jwks.json",
            address.port()
        ));
        let keys = jwt_authorizer(jwks.clone()).read_keys(&jwks).await.unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
        task.abort();

        let (address, task) = server(404, "no").await;
        let jwks = Jwks::Url(format!("http://127.0.0.1:{}/keys", address.port()));
        let said = jwt_authorizer(jwks.clone())
            .read_keys(&jwks)
            .await
            .unwrap_err();
        assert!(said.contains("answered 404"), "{said}");
        task.abort();

        let (address, task) = server(200, r#"{"keys": []}"#).await;
        let jwks = Jwks::Url(format!("http://127.0.0.1:{}/keys", address.port()));
        let said = jwt_authorizer(jwks.clone())
            .read_keys(&jwks)
            .await
            .unwrap_err();
        assert!(said.contains("holds no RSA key"), "{said}");
        task.abort();
    }

    #[test]
    fn identity_sources_are_read_from_the_request() {
        let event = json!({
            "headers": {"x-api-key": "k1"},
            "queryStringParameters": {"token": "t"},
            "stageVariables": {"env": "dev"},
            "requestContext": {"http": {"sourceIp": "127.0.0.1"}},
        });
        assert_eq!(
            identity_value("$request.header.X-Api-Key", &event).as_deref(),
            Some("k1")
        );
        assert_eq!(
            identity_value("$request.querystring.token", &event).as_deref(),
            Some("t")
        );
        assert_eq!(
            identity_value("$stageVariables.env", &event).as_deref(),
            Some("dev")
        );
        assert_eq!(
            identity_value("$context.http.sourceIp", &event).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            identity_value("$request.header.Authorization", &event),
            None
        );
    }
}
