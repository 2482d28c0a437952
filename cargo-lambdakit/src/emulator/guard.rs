//! Who may call the local Lambda, and what code brought by a caller gets: serve runs code
//! as its user, so the Lambda API (CreateFunction and Invoke above all) must not answer a
//! stranger.
//!
//! - On loopback (the default), only local callers that are not a web page: a request with
//!   an `Origin` other than serve's own, one a browser marks `Sec-Fetch-Site: cross-site` or
//!   `same-site`, or one whose `Host` is a DNS name other than `localhost` (a page that had
//!   its name re-pointed at 127.0.0.1, DNS rebinding) is refused. The AWS SDKs and CLI send
//!   no `Origin` and a `Host` of `127.0.0.1:PORT` or `localhost:PORT`.
//! - Beyond loopback (`serve --allow-remote`), every Lambda API call also carries serve's
//!   token (and any `Host` is taken: the token is what keeps strangers out).
//! - Function URLs (`/lambda-url/...`) are meant for browsers: no check here, their CORS is
//!   the function's.
//!
//! A function created through the API runs what its caller uploaded: it gets the environment
//! its configuration names and serve's endpoints, never the credentials of serve's shell
//! ([`created_environment`]).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;
use std::net::IpAddr;

use http::{HeaderMap, Response, StatusCode};

use super::lambda_api::Operation;
use super::{Body, aws_error, boxed};

/// The header a token may come in, beside `Authorization: Bearer`.
pub const TOKEN_HEADER: &str = "x-lambdakit-token";

/// Who may reach serve's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    /// Only this machine (serve listens on a loopback address): `Host` must name it.
    #[default]
    Loopback,
    /// Other machines too (`--allow-remote`): any `Host`; the token keeps strangers out.
    Remote,
}

/// The secret every Lambda API call must carry when serve has one.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// 32 random bytes from the kernel, in hex.
    ///
    /// # Errors
    ///
    /// When `/dev/urandom` cannot be read: a token is never made from anything weaker.
    pub fn generate() -> std::io::Result<Self> {
        let mut bytes = [0_u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(Self(
            bytes.iter().map(|byte| format!("{byte:02x}")).collect(),
        ))
    }

    /// A token given by the user (`--token`, `LAMBDAKIT_SERVE_TOKEN`): 16 to 256 letters,
    /// digits, `-`, `_` or `.`, so that it fits a header and an AWS access key id alike.
    ///
    /// # Errors
    ///
    /// What is wrong with it, for the user.
    pub fn new(text: &str) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if !(16..=256).contains(&text.len()) || !text.chars().all(allowed) {
            return Err(
                "is not a token: write 16 to 256 letters, digits, `-`, `_` or `.` (or leave it out, and serve makes one up)"
                    .to_owned(),
            );
        }
        Ok(Self(text.to_owned()))
    }

    /// The token itself, to print or send.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this token, in time that does not depend on where they differ.
    fn matches(&self, given: &str) -> bool {
        let (ours, given) = (self.0.as_bytes(), given.as_bytes());
        ours.len() == given.len()
            && ours
                .iter()
                .zip(given)
                .fold(0_u8, |differ, (a, b)| differ | (a ^ b))
                == 0
    }
}

/// Who serve answers the Lambda API for.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Whether `Host` must name this machine.
    pub reach: Reach,
    /// The token every Lambda API call must carry, if serve has one.
    pub token: Option<Token>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// A web page of another origin sent it.
    Origin(String),
    /// A browser marked it as coming from another site.
    FetchSite(String),
    /// It names a host that is not this machine's.
    Host(String),
    /// It carries no token.
    NoToken,
    /// It carries a token that is not serve's.
    WrongToken(Carrier),
}

/// Where a request carries its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carrier {
    /// `Authorization: Bearer` or `X-Lambdakit-Token`.
    Header,
    /// A SigV4 `Authorization`'s access key id.
    Signature,
}

impl Refusal {
    /// `403` in AWS's error shape, naming why and what to do.
    fn response(&self) -> Response<Body> {
        const CALLERS: &str = "call it from an AWS SDK, the AWS CLI or `cargo lambdakit invoke`; a web page calls a function through its URL (`/lambda-url/NAME/`)";
        const PASS: &str = "send `Authorization: Bearer TOKEN` or `X-Lambdakit-Token: TOKEN`, sign with the token as the access key id (`AWS_ACCESS_KEY_ID=TOKEN` for an AWS SDK or the AWS CLI), or pass `--token TOKEN` (or `LAMBDAKIT_SERVE_TOKEN`) to `cargo lambdakit invoke` and `deploy --local`";
        let (error_type, message) = match self {
            Self::Origin(origin) => (
                "AccessDeniedException",
                format!(
                    "the local Lambda's API does not answer web pages, and this request comes from the origin `{origin}` (its `Origin` header): {CALLERS}"
                ),
            ),
            Self::FetchSite(site) => (
                "AccessDeniedException",
                format!(
                    "the local Lambda's API does not answer web pages, and a browser sent this request from another site (`Sec-Fetch-Site: {site}`): {CALLERS}"
                ),
            ),
            Self::Host(host) => (
                "AccessDeniedException",
                format!(
                    "`Host: {host}` does not name this machine (a page whose name was re-pointed at it would send that): call the local Lambda as `127.0.0.1:PORT` or `localhost:PORT`, or run `serve --allow-remote`, which takes any name and requires its token"
                ),
            ),
            Self::NoToken => (
                "MissingAuthenticationTokenException",
                format!(
                    "this serve requires its token (printed when it started) on every Lambda API call: {PASS}"
                ),
            ),
            Self::WrongToken(carrier) => (
                "UnrecognizedClientException",
                format!(
                    "{} is not this serve's token (it printed it when it started): {PASS}",
                    match carrier {
                        Carrier::Header => "the token given",
                        Carrier::Signature => "the access key id this request is signed with",
                    }
                ),
            ),
        };
        boxed(aws_error(StatusCode::FORBIDDEN, error_type, &message))
    }
}

/// The answer refusing `operation` (`403` in AWS's error shape, saying why), or `None` to let
/// it through: function URLs always pass; the Lambda API (Invoke included) only from callers
/// `access` admits.
pub(crate) fn refusal(
    access: &Access,
    operation: &Operation,
    headers: &HeaderMap,
) -> Option<Response<Body>> {
    if matches!(operation, Operation::InvokeFunctionUrl { .. }) {
        return None;
    }
    check(access, headers)
        .err()
        .map(|refusal| refusal.response())
}

fn check(access: &Access, headers: &HeaderMap) -> Result<(), Refusal> {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let host = text("host");
    if let Some(site) = text("sec-fetch-site") {
        // `same-origin` is serve's own page; `none`, what the user typed or bookmarked.
        if !matches!(site.to_ascii_lowercase().as_str(), "same-origin" | "none") {
            return Err(Refusal::FetchSite(site));
        }
    }
    if let Some(origin) = text("origin") {
        let own = host
            .as_deref()
            .is_some_and(|host| origin.eq_ignore_ascii_case(&format!("http://{host}")));
        if !own {
            return Err(Refusal::Origin(origin));
        }
    }
    if access.reach == Reach::Loopback
        && let Some(host) = host
        && !names_this_machine(&host)
    {
        return Err(Refusal::Host(host));
    }
    if let Some(token) = &access.token {
        let (given, carrier) = given_token(headers).ok_or(Refusal::NoToken)?;
        if !token.matches(&given) {
            return Err(Refusal::WrongToken(carrier));
        }
    }
    Ok(())
}

/// Whether `Host` (`name[:port]`) is an address or `localhost`: no page can make a browser
/// send those for a site of its own, whereas any DNS name may be re-pointed at 127.0.0.1.
/// The port is not checked: a tunnel or a container may forward another one.
fn names_this_machine(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').map_or(bracketed, |(ip, _)| ip),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost")
}

/// The token a request carries: `Authorization: Bearer TOKEN`, `X-Lambdakit-Token: TOKEN`,
/// or the access key id of a SigV4 `Authorization` (`AWS4-HMAC-SHA256 Credential=TOKEN/..`),
/// so that AWS SDKs and the AWS CLI pass it unmodified. The signature itself is not checked:
/// that would need the body hashed before the operation reads it, and the token is the
/// secret either way.
fn given_token(headers: &HeaderMap) -> Option<(String, Carrier)> {
    let header = |token: &str| Some((token.trim().to_owned(), Carrier::Header));
    if let Some(token) = headers.get(TOKEN_HEADER) {
        return header(token.to_str().ok()?);
    }
    let authorization = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = authorization.strip_prefix("Bearer ") {
        return header(token);
    }
    let credential = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")?
        .split(',')
        .find_map(|part| part.trim().strip_prefix("Credential="))?;
    credential
        .split_once('/')
        .map(|(access_key, _)| (access_key.to_owned(), Carrier::Signature))
}

/// The environment a function created through the Lambda API gets from serve's shell: the
/// tools' `PATH` and the endpoints (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), never
/// its credentials, profile or home; and no credentials file or instance metadata for an
/// AWS SDK to find them in. Its configuration's own variables come over these.
pub(crate) fn created_environment(passed: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut environment: BTreeMap<String, String> = passed
        .iter()
        .filter(|(name, _)| *name == "PATH" || name.starts_with("AWS_ENDPOINT_URL"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    for name in ["AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"] {
        environment.insert(name.to_owned(), "/dev/null".to_owned());
    }
    environment.insert("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned());
    environment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    value.parse().expect("a test header value"),
                )
            })
            .collect()
    }

    fn token() -> Token {
        Token::new("0123456789abcdef0123").expect("a valid token")
    }

    #[test]
    fn loopback_takes_sdks_and_refuses_web_pages_and_other_names() {
        let local = Access::default();
        assert_eq!(
            check(&local, &headers(&[("host", "127.0.0.1:9000")])),
            Ok(())
        );
        assert_eq!(
            check(&local, &headers(&[("host", "localhost:9000")])),
            Ok(())
        );
        assert_eq!(check(&local, &headers(&[("host", "[::1]:9000")])), Ok(()));
        assert_eq!(check(&local, &headers(&[])), Ok(()));
        assert_eq!(
            check(
                &local,
                &headers(&[
                    ("host", "127.0.0.1:9000"),
                    ("origin", "http://127.0.0.1:9000")
                ])
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &local,
                &headers(&[
                    ("host", "127.0.0.1:9000"),
                    ("sec-fetch-site", "same-origin")
                ])
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &local,
                &headers(&[
                    ("host", "127.0.0.1:9000"),
                    ("origin", "https://evil.example")
                ])
            ),
            Err(Refusal::Origin("https://evil.example".into()))
        );
        assert_eq!(
            check(
                &local,
                &headers(&[("host", "127.0.0.1:9000"), ("origin", "null")])
            ),
            Err(Refusal::Origin("null".into()))
        );
        // Another port of this machine is another origin.
        assert!(
            check(
                &local,
                &headers(&[
                    ("host", "127.0.0.1:9000"),
                    ("origin", "http://127.0.0.1:3000")
                ])
            )
            .is_err()
        );
        for site in ["cross-site", "same-site"] {
            assert_eq!(
                check(
                    &local,
                    &headers(&[("host", "127.0.0.1:9000"), ("sec-fetch-site", site)])
                ),
                Err(Refusal::FetchSite(site.into()))
            );
        }
        assert_eq!(
            check(&local, &headers(&[("host", "evil.example:9000")])),
            Err(Refusal::Host("evil.example:9000".into()))
        );
        // The rebinding page's own origin is refused too, by its `Host`.
        assert_eq!(
            check(
                &local,
                &headers(&[
                    ("host", "evil.example:9000"),
                    ("origin", "http://evil.example:9000")
                ])
            ),
            Err(Refusal::Host("evil.example:9000".into()))
        );
    }

    #[test]
    fn with_a_token_every_call_carries_it() {
        let remote = Access {
            reach: Reach::Remote,
            token: Some(token()),
        };
        assert_eq!(
            check(&remote, &headers(&[("host", "devbox:9000")])),
            Err(Refusal::NoToken)
        );
        assert_eq!(
            check(
                &remote,
                &headers(&[
                    ("host", "devbox:9000"),
                    ("authorization", "Bearer 0123456789abcdef0124")
                ])
            ),
            Err(Refusal::WrongToken(Carrier::Header))
        );
        assert_eq!(
            check(
                &remote,
                &headers(&[
                    ("host", "devbox:9000"),
                    ("authorization", "Bearer 0123456789abcdef0123")
                ])
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &remote,
                &headers(&[
                    ("host", "devbox:9000"),
                    ("x-lambdakit-token", "0123456789abcdef0123")
                ])
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &remote,
                &headers(&[
                    ("host", "devbox:9000"),
                    (
                        "authorization",
                        "AWS4-HMAC-SHA256 Credential=0123456789abcdef0123/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00"
                    )
                ])
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &remote,
                &headers(&[
                    ("host", "devbox:9000"),
                    (
                        "authorization",
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00"
                    )
                ])
            ),
            Err(Refusal::WrongToken(Carrier::Signature))
        );
        // Web pages stay out, token or not.
        assert!(
            check(
                &remote,
                &headers(&[
                    ("host", "devbox:9000"),
                    ("x-lambdakit-token", "0123456789abcdef0123"),
                    ("origin", "https://evil.example")
                ])
            )
            .is_err()
        );
    }

    #[test]
    fn function_urls_answer_browsers() {
        let url = Operation::InvokeFunctionUrl {
            name: "web".into(),
            qualifier: None,
            path: "/".into(),
        };
        let from_a_page = headers(&[
            ("host", "evil.example:9000"),
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        let remote = Access {
            reach: Reach::Remote,
            token: Some(token()),
        };
        assert!(refusal(&Access::default(), &url, &from_a_page).is_none());
        assert!(refusal(&remote, &url, &from_a_page).is_none());
        let create = Operation::CreateFunction;
        let refused = refusal(&Access::default(), &create, &from_a_page)
            .expect("a page's CreateFunction is refused");
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            refused.headers()["x-amzn-errortype"],
            "AccessDeniedException"
        );
    }

    #[test]
    fn tokens_are_long_random_hex_or_checked() {
        let made = Token::generate().expect("/dev/urandom is readable");
        assert_eq!(made.as_str().len(), 64);
        assert!(made.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(made, Token::generate().expect("/dev/urandom is readable"));
        assert!(Token::new("short").is_err());
        assert!(Token::new("has/a/slash/in/it/0123").is_err());
        assert!(Token::new("has space 0123456789").is_err());
        assert_eq!(format!("{:?}", token()), "Token(..)");
    }

    #[test]
    fn created_functions_get_endpoints_not_credentials() {
        let passed: BTreeMap<String, String> = [
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "session"),
            ("AWS_PROFILE", "work"),
            ("HOME", "/home/dev"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5001"),
            ("PATH", "/usr/bin"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let environment = created_environment(&passed);
        for gone in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "HOME",
        ] {
            assert!(!environment.contains_key(gone), "{gone}");
        }
        assert_eq!(environment["AWS_ENDPOINT_URL"], "http://127.0.0.1:5000");
        assert_eq!(environment["AWS_ENDPOINT_URL_S3"], "http://127.0.0.1:5001");
        assert_eq!(environment["PATH"], "/usr/bin");
        assert_eq!(environment["AWS_SHARED_CREDENTIALS_FILE"], "/dev/null");
    }
}
