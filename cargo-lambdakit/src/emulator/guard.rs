//! Who may call the local Lambda, and what code brought by a caller gets: serve runs code
//! as its user, so the Lambda API (CreateFunction and Invoke above all) must not answer a
//! stranger.
//!
//! - On loopback (the default), only local callers that are not a web page: a request with
//!   an `Origin` other than serve's own, one a browser marks `Sec-Fetch-Site: cross-site` or
//!   `same-site`, or one whose `Host` is a DNS name other than `localhost` (a page that had
//!   its name re-pointed at 127.0.0.1, DNS rebinding) is refused. The AWS SDKs and CLI send
//!   no `Origin` and a `Host` of `127.0.0.1:PORT` or `localhost:PORT`.
//! - Beyond loopback (`serve --allow-remote`, or with `--token` on loopback), every Lambda API
//!   call also carries serve's token (and any `Host` is taken: the token is what keeps
//!   strangers out): as `Authorization: Bearer TOKEN` or `X-Lambdakit-Token: TOKEN`, or as
//!   a SigV4 signature made with the token as both the access key id and the secret access
//!   key, which AWS SDKs and the AWS CLI make unmodified. A signature is checked in full
//!   (`sigv4`): the key id and date before the body is read ([`admit`]), the signature over
//!   method, path, query, signed headers and body once it is ([`Pending::verify`]), and
//!   nothing runs before both pass. Signed, the token itself never crosses the network.
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
use std::time::SystemTime;

use http::{HeaderMap, Response, StatusCode};

use super::lambda_api::Operation;
use super::sigv4::{self, Authorization, Failure};
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
    /// Its SigV4 signature is malformed, stale or does not verify.
    Signature(Failure),
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
        const PASS: &str = "sign with the token as both the access key id and the secret access key (`AWS_ACCESS_KEY_ID=TOKEN AWS_SECRET_ACCESS_KEY=TOKEN` for an AWS SDK or the AWS CLI), send `Authorization: Bearer TOKEN` or `X-Lambdakit-Token: TOKEN`, or pass `--token TOKEN` (or `LAMBDAKIT_SERVE_TOKEN`) to `cargo lambdakit invoke`, `traces` and `deploy --local`";
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
            Self::Signature(failure) => ("InvalidSignatureException", failure.message()),
        };
        boxed(aws_error(StatusCode::FORBIDDEN, error_type, &message))
    }
}

/// What a request let through still owes before it is run.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Nothing: it may run.
    Open,
    /// Its SigV4 signature, to check over its body once read (and before anything runs).
    Signed(Pending),
}

/// A SigV4-signed request's signature, its key id and date found good, still to be checked
/// over the whole request.
#[derive(Debug)]
pub(crate) struct Pending {
    authorization: Authorization,
    /// The secret access key of the key id it is signed with.
    secret: Token,
}

impl Pending {
    /// `403 InvalidSignatureException` (saying why) unless the request of `parts` with `body`
    /// is the one signed.
    pub(crate) fn verify(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<(), Box<Response<Body>>> {
        let signed = sigv4::Signed {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
        };
        self.authorization
            .verify(&signed, self.secret.as_str(), body)
            .map_err(|failure| Box::new(Refusal::Signature(failure).response()))
    }
}

/// Whether `operation` may go on: function URLs always; the Lambda API (Invoke included)
/// only from callers `access` admits, a signed one once its signature is verified.
///
/// # Errors
///
/// The answer refusing it: `403` in AWS's error shape, saying why.
pub(crate) fn admit(
    access: &Access,
    operation: &Operation,
    parts: &http::request::Parts,
) -> Result<Admission, Box<Response<Body>>> {
    if matches!(
        operation,
        Operation::InvokeFunctionUrl { .. } | Operation::InvokeApi { .. }
    ) {
        return Ok(Admission::Open);
    }
    // The console's page, script and style hold no data: they are what a browser loads before
    // it can send the token (from the address's `#token=`), which every request for data
    // carries. Another site's page and another host name are refused as for the API.
    if let Operation::Console { path, .. } = operation
        && super::console::is_asset(path)
    {
        let without_token = Access {
            reach: access.reach,
            token: None,
        };
        return check(
            &without_token,
            &parts.headers,
            parts.uri.query().unwrap_or_default(),
            operation.signing_service(),
            SystemTime::now(),
        )
        .map_err(|refusal| Box::new(refusal.response()));
    }
    check(
        access,
        &parts.headers,
        parts.uri.query().unwrap_or_default(),
        operation.signing_service(),
        SystemTime::now(),
    )
    .map_err(|refusal| Box::new(refusal.response()))
}

/// Whether `access` admits a request with `headers` and `query`, signed (if it is) for
/// `service`.
fn check(
    access: &Access,
    headers: &HeaderMap,
    query: &str,
    service: &'static str,
    now: SystemTime,
) -> Result<Admission, Refusal> {
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
    match &access.token {
        Some(token) => given(token, headers, (query, service), now),
        None => Ok(Admission::Open),
    }
}

/// Whether a request carries `token`: `X-Lambdakit-Token: TOKEN`, `Authorization: Bearer
/// TOKEN`, or a SigV4 `Authorization` whose access key id is the token (its signature, made
/// with the token as the secret, is what [`Pending::verify`] checks).
fn given(
    token: &Token,
    headers: &HeaderMap,
    (query, service): (&str, &'static str),
    now: SystemTime,
) -> Result<Admission, Refusal> {
    let bearer = |given: &str| {
        if token.matches(given.trim()) {
            Ok(Admission::Open)
        } else {
            Err(Refusal::WrongToken(Carrier::Header))
        }
    };
    if let Some(given) = headers.get(TOKEN_HEADER) {
        return bearer(&String::from_utf8_lossy(given.as_bytes()));
    }
    let Some(authorization) = headers.get(http::header::AUTHORIZATION) else {
        if sigv4::presigned(query) {
            return Err(Refusal::Signature(Failure::Presigned));
        }
        return Err(Refusal::NoToken);
    };
    let authorization = String::from_utf8_lossy(authorization.as_bytes());
    if let Some(given) = authorization.strip_prefix("Bearer ") {
        return bearer(given);
    }
    let authorization = match Authorization::parse(&authorization) {
        Some(parsed) => parsed.map_err(Refusal::Signature)?,
        // Some other scheme: no token in it.
        None => return Err(Refusal::NoToken),
    };
    if !token.matches(&authorization.access_key_id) {
        return Err(Refusal::WrongToken(Carrier::Signature));
    }
    authorization
        .check(headers, service, now)
        .map_err(Refusal::Signature)?;
    Ok(Admission::Signed(Pending {
        authorization,
        secret: token.clone(),
    }))
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
    use std::time::Duration;

    use super::*;

    /// The service Lambda API calls are signed for.
    const SERVICE: &str = crate::emulator::lambda_api::SERVICE;

    /// [`super::check`] of a request with no query, now, for a request that owes nothing more.
    fn check(access: &Access, headers: &HeaderMap) -> Result<(), Refusal> {
        super::check(access, headers, "", SERVICE, SystemTime::now())
            .map(|admission| assert!(matches!(admission, Admission::Open), "{admission:?}"))
    }

    /// A request to `uri` with `body`, signed by aws-sigv4 (the SDKs' signer) with the
    /// credential `key`/`secret` at `time`: its parts and body.
    fn signed(
        uri: &str,
        body: &[u8],
        (key, secret): (&str, &str),
        time: SystemTime,
    ) -> (http::request::Parts, Vec<u8>) {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let identity =
            aws_credential_types::Credentials::new(key, secret, None, None, "test").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name(SERVICE)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .expect("complete signing parameters")
            .into();
        let mut request = http::Request::post(uri)
            .header("host", "devbox:9000")
            .header("content-type", "application/json")
            .body(body.to_vec())
            .expect("a test request");
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_owned()))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            uri,
            headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
            SignableBody::Bytes(body),
        )
        .expect("a signable request");
        let (instructions, _) = sign(signable, &params)
            .expect("the request signs")
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);
        let (parts, body) = request.into_parts();
        (parts, body)
    }

    /// Whether `access` takes the request of `parts` with `body` at `now`, as serve's
    /// `route` asks: headers first, then the signature over the body.
    fn taken(
        access: &Access,
        parts: &http::request::Parts,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let query = parts.uri.query().unwrap_or_default();
        match super::check(access, &parts.headers, query, SERVICE, now)? {
            Admission::Open => Ok(()),
            Admission::Signed(pending) => pending
                .authorization
                .verify(
                    &sigv4::Signed {
                        method: parts.method.as_str(),
                        path: parts.uri.path(),
                        query,
                        headers: &parts.headers,
                    },
                    pending.secret.as_str(),
                    body,
                )
                .map_err(Refusal::Signature),
        }
    }

    #[test]
    fn signatures_made_with_the_token_verify_and_others_do_not() {
        let remote = Access {
            reach: Reach::Remote,
            token: Some(token()),
        };
        let now = SystemTime::now();
        let ours = ("0123456789abcdef0123", "0123456789abcdef0123");
        let uri = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Ahello/invocations?Qualifier=%24LATEST";
        let (parts, body) = signed(uri, b"{\"n\": 1}", ours, now);
        assert_eq!(taken(&remote, &parts, &body, now), Ok(()));
        // Another body than the one signed.
        assert_eq!(
            taken(&remote, &parts, b"{\"n\": 2}", now),
            Err(Refusal::Signature(Failure::Mismatch))
        );
        // Another path, query or method.
        for changed in [
            "/2015-03-31/functions/other/invocations?Qualifier=%24LATEST",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Ahello/invocations?Qualifier=live",
        ] {
            let mut parts = parts.clone();
            parts.uri = changed.parse().expect("a test uri");
            assert_eq!(
                taken(&remote, &parts, &body, now),
                Err(Refusal::Signature(Failure::Mismatch)),
                "{changed}"
            );
        }
        let mut put = parts.clone();
        put.method = http::Method::PUT;
        assert_eq!(
            taken(&remote, &put, &body, now),
            Err(Refusal::Signature(Failure::Mismatch))
        );
        // The token as the key id, with another secret.
        let (parts, body) = signed(uri, b"{}", ("0123456789abcdef0123", "guessed"), now);
        assert_eq!(
            taken(&remote, &parts, &body, now),
            Err(Refusal::Signature(Failure::Mismatch))
        );
        // Another key id, signed well.
        let (parts, body) = signed(uri, b"{}", ("AKIDEXAMPLE", "0123456789abcdef0123"), now);
        assert_eq!(
            taken(&remote, &parts, &body, now),
            Err(Refusal::WrongToken(Carrier::Signature))
        );
        // Signed 16 minutes ago, or ahead.
        for skewed in [
            now - Duration::from_secs(16 * 60),
            now + Duration::from_secs(16 * 60),
        ] {
            let (parts, body) = signed(uri, b"{}", ours, skewed);
            assert!(matches!(
                taken(&remote, &parts, &body, now),
                Err(Refusal::Signature(Failure::Expired { .. }))
            ));
        }
        // A presigned URL is named as such.
        let presigned = headers(&[("host", "devbox:9000")]);
        assert_eq!(
            super::check(
                &remote,
                &presigned,
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00",
                SERVICE,
                now
            )
            .map(|_| ()),
            Err(Refusal::Signature(Failure::Presigned))
        );
        // Without a token, serve checks no signature (loopback's default): any one passes.
        let (parts, body) = signed(uri, b"{}", ("AKIDEXAMPLE", "anything"), now);
        let open = Access {
            reach: Reach::Remote,
            token: None,
        };
        assert_eq!(taken(&open, &parts, &body, now), Ok(()));
    }

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
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                    )
                ])
            ),
            Err(Refusal::WrongToken(Carrier::Signature))
        );
        assert!(matches!(
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
            Err(Refusal::Signature(Failure::Malformed(_)))
        ));
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
        let (mut from_a_page, ()) = http::Request::post("/").body(()).unwrap().into_parts();
        from_a_page.headers = headers(&[
            ("host", "evil.example:9000"),
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        let remote = Access {
            reach: Reach::Remote,
            token: Some(token()),
        };
        for access in [&Access::default(), &remote] {
            assert!(matches!(
                admit(access, &url, &from_a_page),
                Ok(Admission::Open)
            ));
        }
        let create = Operation::CreateFunction;
        let refused = admit(&Access::default(), &create, &from_a_page)
            .expect_err("a page's CreateFunction is refused");
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
