//! JSON Web Tokens as an HTTP API's JWT authorizer checks them (AWS "Controlling access to
//! HTTP APIs with JWT authorizers"): signed with an RSA key of the issuer's key set (RS256,
//! RS384 or RS512: API Gateway takes RSA keys only) named by the token's `kid`, issued by the
//! authorizer's `issuer`, for one of its audiences (`aud`, else `client_id`), within its
//! `exp` and `nbf`; a route's scopes are then looked for in `scope` or `scp`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Map, Value};

/// One key of a JSON Web Key Set: an RSA public key and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    id: Option<String>,
    /// The modulus and exponent, big-endian.
    n: Vec<u8>,
    e: Vec<u8>,
}

/// The RSA keys of a JSON Web Key Set (RFC 7517), `{"keys": [{"kty": "RSA", ...}]}`; keys of
/// other types are left out, as API Gateway cannot use them.
///
/// # Errors
///
/// When it is not a key set, or holds no RSA key.
pub(super) fn key_set(text: &[u8]) -> Result<Vec<Key>, String> {
    let set: Value =
        serde_json::from_slice(text).map_err(|error| format!("is not JSON ({error})"))?;
    let keys = set["keys"]
        .as_array()
        .ok_or("is not a JSON Web Key Set: it has no `keys` list")?;
    let mut rsa = Vec::new();
    for key in keys {
        if key["kty"] != "RSA" {
            continue;
        }
        let part = |name: &str| {
            key[name]
                .as_str()
                .and_then(|text| base64url(text).ok())
                .ok_or_else(|| format!("has an RSA key without a base64url `{name}`"))
        };
        rsa.push(Key {
            id: key["kid"].as_str().map(str::to_owned),
            n: part("n")?,
            e: part("e")?,
        });
    }
    if rsa.is_empty() {
        return Err(
            "holds no RSA key (`\"kty\": \"RSA\"`); API Gateway checks RSA signatures only".into(),
        );
    }
    Ok(rsa)
}

fn base64url(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('='))
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The token is not one the authorizer takes: 401.
    Unauthorized(String),
    /// The token is good, but has none of the route's scopes: 403.
    Forbidden(String),
    /// No key of the set has the token's `kid`: perhaps the set changed, so it is read again.
    UnknownKey(String),
}

/// A token's checked claims and scopes, as `requestContext.authorizer.jwt` carries them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Checked {
    pub(super) claims: Map<String, Value>,
    pub(super) scopes: Option<Vec<String>>,
}

/// What a token must be.
#[derive(Debug, Clone, Copy)]
pub(super) struct Expected<'a> {
    pub(super) issuer: &'a str,
    pub(super) audience: &'a [String],
    /// The route's scopes; a token needs one of them (none: any token).
    pub(super) scopes: &'a [String],
}

/// Checks `token` (with or without `Bearer `) against `keys` and `expected`.
///
/// # Errors
///
/// The refusal, with what was wrong for serve's log (the caller only sees 401 or 403).
pub(super) fn check(token: &str, keys: &[Key], expected: Expected<'_>) -> Result<Checked, Refusal> {
    let unauthorized = |why: &str| Refusal::Unauthorized(why.to_owned());
    let token = token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .unwrap_or(token)
        .trim();
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(unauthorized(
            "the token is not a JWT (three base64url parts)",
        ));
    };
    let decode_json = |part: &str, what: &str| {
        base64url(part)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .filter(Value::is_object)
            .ok_or_else(|| unauthorized(&format!("the token's {what} is not base64url JSON")))
    };
    let header_value = decode_json(header, "header")?;
    let claims = decode_json(payload, "payload")?;
    let signature =
        base64url(signature).map_err(|_| unauthorized("the signature is not base64url"))?;
    let algorithm: &'static ring::signature::RsaParameters = match header_value["alg"].as_str() {
        Some("RS256") => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        Some("RS384") => &ring::signature::RSA_PKCS1_2048_8192_SHA384,
        Some("RS512") => &ring::signature::RSA_PKCS1_2048_8192_SHA512,
        other => {
            return Err(unauthorized(&format!(
                "the token is signed with {}, and JWT authorizers check RS256, RS384 and RS512",
                other.map_or_else(|| "no `alg`".to_owned(), |alg| format!("`{alg}`"))
            )));
        }
    };
    let kid = header_value["kid"].as_str();
    let key = match kid {
        Some(kid) => keys.iter().find(|key| key.id.as_deref() == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    };
    let Some(key) = key else {
        return Err(Refusal::UnknownKey(format!(
            "no key of the issuer's key set has the token's `kid` {}",
            kid.map_or_else(|| "(none)".to_owned(), |kid| format!("`{kid}`"))
        )));
    };
    let signed = &token.as_bytes()[..header.len() + 1 + payload.len()];
    ring::signature::RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    }
    .verify(algorithm, signed, &signature)
    .map_err(|_| unauthorized("the signature does not verify with the issuer's key"))?;

    if claims["iss"].as_str() != Some(expected.issuer) {
        return Err(unauthorized(&format!(
            "the token's issuer (`iss`) is {}, not `{}`",
            claims["iss"], expected.issuer
        )));
    }
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(aud) => vec![aud.as_str()],
        Value::Array(auds) => auds.iter().filter_map(Value::as_str).collect(),
        _ => claims["client_id"].as_str().into_iter().collect(),
    };
    if !audiences
        .iter()
        .any(|aud| expected.audience.iter().any(|allowed| allowed == aud))
    {
        return Err(unauthorized(&format!(
            "the token's audience (`aud`, else `client_id`) is {audiences:?}, none of {:?}",
            expected.audience
        )));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    match claims["exp"].as_f64() {
        Some(exp) if exp > now => {}
        Some(_) => return Err(unauthorized("the token has expired (`exp`)")),
        None => return Err(unauthorized("the token has no `exp`")),
    }
    if claims["nbf"].as_f64().is_some_and(|nbf| nbf > now) {
        return Err(unauthorized("the token is not valid yet (`nbf`)"));
    }
    let scopes: Option<Vec<String>> = match (&claims["scope"], &claims["scp"]) {
        (Value::String(scope), _) | (_, Value::String(scope)) => {
            Some(scope.split_whitespace().map(str::to_owned).collect())
        }
        (_, Value::Array(scopes)) => Some(
            scopes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    };
    if !expected.scopes.is_empty() {
        let held = scopes.as_deref().unwrap_or_default();
        if !expected.scopes.iter().any(|wanted| held.contains(wanted)) {
            return Err(Refusal::Forbidden(format!(
                "the token's scopes ({held:?}) include none of the route's ({:?})",
                expected.scopes
            )));
        }
    }
    let claims = claims
        .as_object()
        .map(|claims| {
            claims
                .iter()
                .map(|(name, value)| (name.clone(), claim_text(value)))
                .collect()
        })
        .unwrap_or_default();
    Ok(Checked { claims, scopes })
}

/// A claim as API Gateway passes it on: text (a list as `[a b]`).
fn claim_text(value: &Value) -> Value {
    match value {
        Value::String(_) => value.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| match item {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect();
            Value::String(format!("[{}]", items.join(" ")))
        }
        other => Value::String(other.to_string()),
    }
}
