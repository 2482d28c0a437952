//! Checking AWS Signature Version 4 (the `Authorization: AWS4-HMAC-SHA256 ...` header every
//! AWS SDK and the AWS CLI sign Lambda API calls with), so that beyond loopback a signed
//! request is taken only when it was signed with a secret serve accepts, and its method, path,
//! query, signed headers and body are the ones signed.
//!
//! The steps are AWS's ("Create a signed AWS API request", AWS IAM User Guide): the canonical
//! request (method, URI path normalized and encoded twice as for every service but S3, query
//! sorted, signed headers trimmed, the body's SHA-256), the string to sign with the credential
//! scope, the signing key derived from the secret, date, region and service, and the HMAC.
//! The unit tests run AWS's published test vectors (`aws-sig-v4-test-suite`) through it.
//!
//! What is not taken, each with a clear refusal: presigned URLs (query-string SigV4), which
//! an SDK makes for S3 and never for Lambda; `x-amz-content-sha256: UNSIGNED-PAYLOAD` (and the
//! streaming forms), which AWS allows only over TLS: serve speaks plain HTTP, where an unsigned
//! body could be swapped on the way (a CreateFunction's zip above all); the `Date` header in
//! place of `X-Amz-Date` (no SDK sends it, and the date must be signed for the 15 minutes to
//! mean anything).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit as _, Mac as _};
use http::HeaderMap;
use sha2::{Digest as _, Sha256};

/// The one algorithm taken: SigV4 with HMAC-SHA256 (SigV4a signs with ECDSA, for multi-region
/// endpoints a local Lambda does not have).
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far `X-Amz-Date` may be from serve's clock, either way (AWS: 15 minutes).
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// The header carrying the body's SHA-256 (S3 requires it; other services take it).
const CONTENT_SHA256: &str = "x-amz-content-sha256";
/// The header the date is signed in.
const AMZ_DATE: &str = "x-amz-date";

/// A SigV4 `Authorization` header, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authorization {
    /// The access key id of the credential it was signed with.
    pub(crate) access_key_id: String,
    /// The credential scope: `YYYYMMDD`, region, service.
    date: String,
    region: String,
    service: String,
    /// The headers signed, lowercase, as the signer listed them.
    signed_headers: Vec<String>,
    /// The signature, hex.
    signature: String,
}

/// Why a signed request is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The `Authorization` header is not SigV4 as AWS writes it: what is wrong with it.
    Malformed(String),
    /// A presigned URL (the signature in the query string).
    Presigned,
    /// Signed for another service (the first) than the API called (the second).
    Service(String, &'static str),
    /// `X-Amz-Date` is missing, unreadable, unsigned, or not the scope's date: what is wrong.
    Date(String),
    /// `X-Amz-Date` is more than [`CLOCK_SKEW`] away from serve's clock.
    Expired {
        /// The request's `X-Amz-Date`.
        signed: String,
    },
    /// `x-amz-content-sha256` says the body is not signed (its value).
    UnsignedPayload(String),
    /// `x-amz-content-sha256` is not the body's SHA-256.
    PayloadMismatch,
    /// The signature is not the one the request and the secret make.
    Mismatch,
}

impl Failure {
    /// What is wrong and how to put it right, for the caller.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::Malformed(what) => format!(
                "the `Authorization` header is not AWS Signature Version 4: {what}; sign with an AWS SDK or the AWS CLI"
            ),
            Self::Presigned => "presigned URLs (SigV4 in the query string) are not taken by the local Lambda: sign the `Authorization` header (AWS SDKs and the AWS CLI do)".to_owned(),
            Self::Service(signed, expected) => format!(
                "the request is signed for the service `{signed}`; the API it calls is `{expected}`: sign it with a client of that service"
            ),
            Self::Date(what) => format!(
                "{what}: AWS SDKs and the AWS CLI sign the date in `X-Amz-Date`"
            ),
            Self::Expired { signed } => format!(
                "Signature expired: `X-Amz-Date: {signed}` is more than {} minutes away from this machine's clock (UTC): sign the request again, and check the clocks of both machines",
                CLOCK_SKEW.as_secs() / 60
            ),
            Self::UnsignedPayload(value) => format!(
                "`x-amz-content-sha256: {value}` leaves the body unsigned, which serve (plain HTTP) does not take: sign the body (every AWS SDK does for Lambda)"
            ),
            Self::PayloadMismatch => "The provided `x-amz-content-sha256` header does not match what was computed: the body is not the one signed (changed on the way?); send it again".to_owned(),
            Self::Mismatch => "The request signature we calculated does not match the signature you provided: the request changed after it was signed, or it was signed with another secret; sign with the token serve printed as both the access key id and the secret access key (`AWS_ACCESS_KEY_ID=TOKEN AWS_SECRET_ACCESS_KEY=TOKEN`)".to_owned(),
        }
    }
}

impl Authorization {
    /// Reads `Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request,
    /// SignedHeaders=a;b, Signature=HEX`; `None` when it is not SigV4 at all (a bearer token).
    ///
    /// # Errors
    ///
    /// [`Failure::Malformed`] for a SigV4 header missing a part or with one out of shape.
    pub(crate) fn parse(value: &str) -> Option<Result<Self, Failure>> {
        let rest = value.trim().strip_prefix(ALGORITHM)?;
        if !rest.starts_with(' ') {
            return None;
        }
        Some(Self::parse_parts(rest))
    }

    fn parse_parts(rest: &str) -> Result<Self, Failure> {
        let malformed = |what: &str| Failure::Malformed(what.to_owned());
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (name, value) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| malformed("its parts are `Name=value`, separated by commas"))?;
            match name {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed_headers = Some(value),
                "Signature" => signature = Some(value),
                other => {
                    return Err(Failure::Malformed(format!(
                        "it has an unknown part `{other}`; expected `Credential`, `SignedHeaders` and `Signature`"
                    )));
                }
            }
        }
        let credential = credential.ok_or_else(|| malformed("it has no `Credential`"))?;
        let signed_headers =
            signed_headers.ok_or_else(|| malformed("it has no `SignedHeaders`"))?;
        let signature = signature.ok_or_else(|| malformed("it has no `Signature`"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
            return Err(malformed(
                "its `Credential` is not `ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request`",
            ));
        };
        if access_key_id.is_empty() || region.is_empty() || service.is_empty() {
            return Err(malformed("its `Credential` has an empty part"));
        }
        if date.len() != 8 || !date.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(malformed("the date of its `Credential` is not `YYYYMMDD`"));
        }
        let signed_headers: Vec<String> = signed_headers.split(';').map(str::to_owned).collect();
        if signed_headers
            .iter()
            .any(|name| name.is_empty() || *name != name.to_ascii_lowercase())
        {
            return Err(malformed(
                "its `SignedHeaders` are not lowercase names separated by `;`",
            ));
        }
        if signature.len() != 64 || !signature.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(malformed("its `Signature` is not 64 hex digits"));
        }
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            signed_headers,
            signature: signature.to_ascii_lowercase(),
        })
    }

    /// What can be checked before the body is read: the service is `service`, `Host` and
    /// `X-Amz-Date` are signed, and the date is the scope's and within [`CLOCK_SKEW`] of
    /// `now`. The region is not held to serve's: it is signed all the same, and a client
    /// learns serve's region by listing its functions (`deploy --local` does), signed for
    /// its own.
    ///
    /// # Errors
    ///
    /// The [`Failure`] found.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        expected: &'static str,
        now: SystemTime,
    ) -> Result<(), Failure> {
        if self.service != expected {
            return Err(Failure::Service(self.service.clone(), expected));
        }
        let signed = |name: &str| self.signed_headers.iter().any(|signed| signed == name);
        if !signed("host") {
            return Err(Failure::Malformed(
                "its `SignedHeaders` leave out `host`, which AWS requires".to_owned(),
            ));
        }
        let date = headers
            .get(AMZ_DATE)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| Failure::Date("the request has no `X-Amz-Date`".to_owned()))?;
        if !signed(AMZ_DATE) {
            return Err(Failure::Date(
                "`X-Amz-Date` is not among the `SignedHeaders`".to_owned(),
            ));
        }
        let when = crate::time::parse_amz_date(date).ok_or_else(|| {
            Failure::Date(format!("`X-Amz-Date: {date}` is not `YYYYMMDDTHHMMSSZ`"))
        })?;
        if !date.starts_with(&self.date) {
            return Err(Failure::Date(format!(
                "`X-Amz-Date: {date}` is not of the day of the credential scope, `{}`",
                self.date
            )));
        }
        let apart = match now.duration_since(when) {
            Ok(behind) => behind,
            Err(ahead) => ahead.duration(),
        };
        if apart > CLOCK_SKEW {
            return Err(Failure::Expired {
                signed: date.to_owned(),
            });
        }
        Ok(())
    }

    /// Whether the request (`method`, the path and query as they came, `headers`, `body`)
    /// was signed with `secret`, as this header says.
    ///
    /// # Errors
    ///
    /// [`Failure::UnsignedPayload`] and [`Failure::PayloadMismatch`] for a body
    /// `x-amz-content-sha256` does not vouch for, [`Failure::Malformed`] for a signed header
    /// the request does not have, [`Failure::Mismatch`] for a signature that is not the one.
    pub(crate) fn verify(
        &self,
        request: &Signed<'_>,
        secret: &str,
        body: &[u8],
    ) -> Result<(), Failure> {
        let computed = hex(&Sha256::digest(body));
        let payload_hash = match request.headers.get(CONTENT_SHA256) {
            None => computed,
            Some(value) => {
                let value = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
                if value == "UNSIGNED-PAYLOAD" || value.starts_with("STREAMING-") {
                    return Err(Failure::UnsignedPayload(value));
                }
                if !value.eq_ignore_ascii_case(&computed) {
                    return Err(Failure::PayloadMismatch);
                }
                value
            }
        };
        let canonical = self.canonical_request(request, &payload_hash)?;
        let date = request
            .headers
            .get(AMZ_DATE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .unwrap_or_default();
        let scope = format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        );
        let string_to_sign = format!(
            "{ALGORITHM}\n{date}\n{scope}\n{}",
            hex(&Sha256::digest(&canonical))
        );
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), self.date.as_bytes());
        for part in [self.region.as_str(), self.service.as_str(), "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let mut mac = new_mac(&key);
        mac.update(string_to_sign.as_bytes());
        let given = unhex(&self.signature).ok_or(Failure::Mismatch)?;
        // In constant time: how much of a forged signature matches tells nothing.
        mac.verify_slice(&given).map_err(|_| Failure::Mismatch)
    }

    /// AWS's canonical request, as bytes (a header value may be any bytes).
    fn canonical_request(
        &self,
        request: &Signed<'_>,
        payload_hash: &str,
    ) -> Result<Vec<u8>, Failure> {
        let mut canonical = Vec::new();
        canonical.extend_from_slice(request.method.as_bytes());
        canonical.push(b'\n');
        canonical.extend_from_slice(canonical_path(request.path).as_bytes());
        canonical.push(b'\n');
        canonical.extend_from_slice(canonical_query(request.query).as_bytes());
        canonical.push(b'\n');
        for name in &self.signed_headers {
            let mut values = request.headers.get_all(name.as_str()).iter().peekable();
            if values.peek().is_none() {
                return Err(Failure::Malformed(format!(
                    "it signs the header `{name}`, which the request does not have"
                )));
            }
            canonical.extend_from_slice(name.as_bytes());
            canonical.push(b':');
            for (n, value) in values.enumerate() {
                if n > 0 {
                    canonical.push(b',');
                }
                canonical.extend(trimmed(value.as_bytes()));
            }
            canonical.push(b'\n');
        }
        canonical.push(b'\n');
        canonical.extend_from_slice(self.signed_headers.join(";").as_bytes());
        canonical.push(b'\n');
        canonical.extend_from_slice(payload_hash.as_bytes());
        Ok(canonical)
    }
}

/// A request, as its signature covers it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signed<'a> {
    /// `GET`, `POST`, ...
    pub(crate) method: &'a str,
    /// The path as it came, still percent-encoded.
    pub(crate) path: &'a str,
    /// The query as it came (without `?`), or empty.
    pub(crate) query: &'a str,
    /// All its headers.
    pub(crate) headers: &'a HeaderMap,
}

/// Whether `query` carries a presigned URL's signature.
pub(crate) fn presigned(query: &str) -> bool {
    query.split('&').any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        matches!(
            crate::percent::decode(name).as_str(),
            "X-Amz-Signature" | "X-Amz-Credential"
        )
    })
}

/// The path with `.`, `..` and empty segments resolved (RFC 3986), each segment encoded again:
/// every service but S3 signs the path encoded twice.
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    let mut canonical = String::from("/");
    canonical.push_str(
        &segments
            .iter()
            .map(|segment| encode(segment.as_bytes()))
            .collect::<Vec<_>>()
            .join("/"),
    );
    let ends_in_slash = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if ends_in_slash && !segments.is_empty() {
        canonical.push('/');
    }
    canonical
}

/// The query's parameters decoded, encoded as SigV4 encodes, and sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                encode(&crate::percent::decode_bytes(name)),
                encode(&crate::percent::decode_bytes(value)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// SigV4's URI encoding: every byte but the unreserved ones (`A-Z a-z 0-9 - _ . ~`) as `%XX`.
fn encode(bytes: &[u8]) -> String {
    crate::percent::encode(bytes, b"")
}

/// A header value with its ends trimmed and runs of spaces made one.
fn trimmed(value: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let start = value
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|byte| !byte.is_ascii_whitespace())
        .map_or(start, |last| last + 1);
    let value = &value[start..end.max(start)];
    value
        .iter()
        .enumerate()
        .filter(|(n, byte)| !(**byte == b' ' && *n > 0 && value[n - 1] == b' '))
        .map(|(_, byte)| *byte)
}

fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = new_mac(key);
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|at| {
            text.get(at..at + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's SigV4 test suite (`aws-sig-v4-test-suite`, as aws-sigv4 ships it): each vector's
    /// signed request; all signed with [`SECRET`] at [`SIGNED_AT`] for `service`, bodies
    /// unsigned-but-hashed as the suite's `sign_body: false` means (the empty body's hash).
    const VECTORS: &[(&str, &str)] = &[
        (
            "get-vanilla",
            "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "get-vanilla-query-order-key-case",
            "GET /?Param2=value2&Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        (
            "get-vanilla-utf8-query",
            "GET /?\u{1234}=bar HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        ),
        (
            "get-vanilla-query-unreserved",
            "GET /?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        ),
        (
            "get-header-value-trim",
            "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1: value1\nMy-Header2: \"a   b   c\"\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        ),
        (
            "get-header-key-duplicate",
            "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value2\nMy-Header1:value2\nMy-Header1:value1\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        ),
        (
            "get-header-value-order",
            "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value4\nMy-Header1:value1\nMy-Header1:value3\nMy-Header1:value2\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
        ),
        (
            "get-space-normalized",
            "GET /example space/ HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
        ),
        (
            "get-slashes-normalized",
            "GET //example// HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
        ),
        (
            "get-relative-relative-normalized",
            "GET /example1/example2/../.. HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "get-utf8",
            "GET /\u{1234} HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
        ),
        (
            "get-vanilla-with-session-token",
            "GET / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Security-Token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
        ),
        (
            "post-vanilla-query",
            "POST /?Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        ),
        (
            "post-x-www-form-urlencoded",
            "POST / HTTP/1.1\nContent-Type:application/x-www-form-urlencoded\nHost:example.amazonaws.com\nContent-Length:13\nX-Amz-Date:20150830T123600Z\nx-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nAuthorization:AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b\n\nParam1=value1",
        ),
    ];
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 2015-08-30T12:36:00Z.
    const SIGNED_AT: u64 = 1_440_938_160;

    /// A vector's request: method, path, query, headers, `Authorization` and body.
    struct Vector {
        method: String,
        path: String,
        query: String,
        headers: HeaderMap,
        authorization: Authorization,
        body: Vec<u8>,
    }

    fn read(text: &str) -> Vector {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let request_line = lines.next().unwrap();
        let (method, rest) = request_line.split_once(' ').unwrap();
        let target = rest
            .rsplit_once(" HTTP/1.1")
            .map_or(rest, |(target, _)| target);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers = HeaderMap::new();
        let mut authorization = None;
        for line in lines {
            let (name, value) = line.split_once(':').unwrap();
            if name == "Authorization" {
                authorization = Some(Authorization::parse(value).unwrap().unwrap());
                continue;
            }
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        Vector {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            authorization: authorization.unwrap(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn verify(vector: &Vector, secret: &str) -> Result<(), Failure> {
        let signed = Signed {
            method: &vector.method,
            path: &vector.path,
            query: &vector.query,
            headers: &vector.headers,
        };
        vector
            .authorization
            .check(&vector.headers, "service", at(SIGNED_AT))?;
        vector.authorization.verify(&signed, SECRET, &vector.body)?;
        vector.authorization.verify(&signed, secret, &vector.body)
    }

    #[test]
    fn awss_test_vectors_verify() {
        for (name, text) in VECTORS {
            let vector = read(text);
            assert_eq!(verify(&vector, SECRET), Ok(()), "{name}");
        }
    }

    #[test]
    fn a_change_to_anything_signed_fails() {
        for (name, text) in VECTORS {
            // Another secret.
            assert_eq!(
                verify(&read(text), "another secret"),
                Err(Failure::Mismatch),
                "{name}"
            );
            // Another method, path or query.
            let mut vector = read(text);
            vector.method = "PUT".into();
            assert_eq!(verify(&vector, SECRET), Err(Failure::Mismatch), "{name}");
            let mut vector = read(text);
            vector.path.push('x');
            assert_eq!(verify(&vector, SECRET), Err(Failure::Mismatch), "{name}");
            let mut vector = read(text);
            vector.query.push_str("&Param3=value3");
            assert_eq!(verify(&vector, SECRET), Err(Failure::Mismatch), "{name}");
            // A signed header's value.
            let mut vector = read(text);
            vector
                .headers
                .insert("host", "other.example".parse().unwrap());
            assert_eq!(verify(&vector, SECRET), Err(Failure::Mismatch), "{name}");
            // The body: its hash is signed, whether or not a header states it.
            let mut vector = read(text);
            vector.body.push(b'!');
            let failure = verify(&vector, SECRET).unwrap_err();
            assert!(
                matches!(failure, Failure::Mismatch | Failure::PayloadMismatch),
                "{name}: {failure:?}"
            );
        }
    }

    #[test]
    fn dates_must_be_signed_and_recent() {
        let vector = read(VECTORS[0].1);
        let check = |now| {
            vector
                .authorization
                .check(&vector.headers, "service", at(now))
        };
        let skew = CLOCK_SKEW.as_secs();
        assert_eq!(check(SIGNED_AT + skew), Ok(()));
        assert_eq!(check(SIGNED_AT - skew), Ok(()));
        for now in [SIGNED_AT + skew + 1, SIGNED_AT - skew - 1] {
            assert_eq!(
                check(now),
                Err(Failure::Expired {
                    signed: "20150830T123600Z".into()
                })
            );
        }
        assert_eq!(
            vector
                .authorization
                .check(&vector.headers, "lambda", at(SIGNED_AT)),
            Err(Failure::Service("service".into(), "lambda"))
        );
        let mut unsigned_date = vector.authorization.clone();
        unsigned_date.signed_headers = vec!["host".into()];
        assert!(matches!(
            unsigned_date.check(&vector.headers, "service", at(SIGNED_AT)),
            Err(Failure::Date(_))
        ));
        let mut no_host = vector.authorization.clone();
        no_host.signed_headers = vec!["x-amz-date".into()];
        assert!(matches!(
            no_host.check(&vector.headers, "service", at(SIGNED_AT)),
            Err(Failure::Malformed(_))
        ));
        let mut other_day = vector.headers.clone();
        other_day.insert("x-amz-date", "20150831T000000Z".parse().unwrap());
        assert!(matches!(
            vector
                .authorization
                .check(&other_day, "service", at(SIGNED_AT)),
            Err(Failure::Date(_))
        ));
    }

    #[test]
    fn unsigned_and_misstated_bodies_are_refused() {
        let vector = read(VECTORS.last().unwrap().1);
        let signed = |headers| Signed {
            method: "POST",
            path: "/",
            query: "",
            headers,
        };
        let mut unsigned = vector.headers.clone();
        unsigned.insert(CONTENT_SHA256, "UNSIGNED-PAYLOAD".parse().unwrap());
        assert_eq!(
            vector
                .authorization
                .verify(&signed(&unsigned), SECRET, &vector.body),
            Err(Failure::UnsignedPayload("UNSIGNED-PAYLOAD".into()))
        );
        assert_eq!(
            vector
                .authorization
                .verify(&signed(&vector.headers), SECRET, b"Param1=value2"),
            Err(Failure::PayloadMismatch)
        );
    }

    #[test]
    fn authorization_headers_are_read_or_refused() {
        assert_eq!(Authorization::parse("Bearer abc"), None);
        assert_eq!(Authorization::parse("AWS4-HMAC-SHA256x"), None);
        for wrong in [
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/lambda/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/lambda, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/2015083/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/lambda/aws4_request, SignedHeaders=Host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=zz",
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31, Extra=1",
        ] {
            assert!(
                matches!(
                    Authorization::parse(wrong),
                    Some(Err(Failure::Malformed(_)))
                ),
                "{wrong}"
            );
        }
        assert!(presigned(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"
        ));
        assert!(presigned("Qualifier=live&X-Amz-Credential=AKID%2F20150830"));
        assert!(!presigned("Qualifier=live"));
        assert!(!presigned(""));
    }

    #[test]
    fn paths_are_encoded_twice_and_queries_sorted() {
        // AWS's `double-url-encode` vector: an ARN in Invoke's path, its `:` sent as `%3A`.
        assert_eq!(
            canonical_path(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-west-2%3A892717189312%3Afunction%3Amy-rusty-fun/invocations"
            ),
            "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-west-2%253A892717189312%253Afunction%253Amy-rusty-fun/invocations"
        );
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path("/a/./b/../c/"), "/a/c/");
        assert_eq!(
            canonical_query("Qualifier=%24LATEST&A=b%20c&A=a"),
            "A=a&A=b%20c&Qualifier=%24LATEST"
        );
        assert_eq!(canonical_query(""), "");
    }
}
