//! The HTTP front: a plain HTTP request to `/lambda-url/{function}/{path}` becomes the event
//! of the front the function is configured behind (a function URL by default; an API Gateway
//! HTTP API, REST API or an Application Load Balancer), and the function's answer becomes the
//! HTTP response, by each one's rules (AWS "Lambda function URLs: request and response
//! payloads", "Working with AWS Lambda proxy integrations for HTTP APIs", "Set up Lambda proxy
//! integrations in API Gateway", "Lambda functions as targets for Application Load Balancers").

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt as _;
use http_body_util::Full;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::instance::{Chunk, Outcome};
use super::{Body, boxed};
use crate::percent::decode as percent_decode;

/// The front a function's HTTP requests come through: `http_event` in the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Front {
    /// A function URL (payload format 2.0): the default.
    FunctionUrl,
    /// An API Gateway HTTP API (payload format 2.0).
    HttpApi,
    /// An API Gateway REST API (payload format 1.0).
    RestApi,
    /// An Application Load Balancer target group.
    Alb,
}

impl Front {
    /// The front named `name` in the settings.
    pub(crate) fn named(name: &str) -> Option<Self> {
        match name {
            "function-url" => Some(Self::FunctionUrl),
            "apigw-http" => Some(Self::HttpApi),
            "apigw-rest" => Some(Self::RestApi),
            "alb" => Some(Self::Alb),
            _ => None,
        }
    }
}

/// The request as the fronts all need it.
struct Incoming<'a> {
    parts: &'a Parts,
    path: &'a str,
    raw_query: &'a str,
    /// Each header's values, in the order they came (names are lowercase).
    headers: BTreeMap<String, Vec<String>>,
    /// The body, and whether it is base64 (not text).
    body: Option<(String, bool)>,
}

impl<'a> Incoming<'a> {
    fn read(parts: &'a Parts, path: &'a str, body: &Bytes) -> Self {
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in &parts.headers {
            headers
                .entry(name.as_str().to_owned())
                .or_default()
                .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
        let body = (!body.is_empty()).then(|| {
            let content_type = headers
                .get("content-type")
                .and_then(|values| values.first())
                .map(String::as_str)
                .unwrap_or_default();
            match std::str::from_utf8(body)
                .ok()
                .filter(|_| is_text(content_type))
            {
                Some(text) => (text.to_owned(), false),
                None => (base64::engine::general_purpose::STANDARD.encode(body), true),
            }
        });
        Self {
            parts,
            path,
            raw_query: parts.uri.query().unwrap_or_default(),
            headers,
            body,
        }
    }

    /// The query's `(name, value)` pairs, percent-decoded or not.
    fn query(&self, decode: bool) -> Vec<(String, String)> {
        self.raw_query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                if decode {
                    (percent_decode(key), percent_decode(value))
                } else {
                    (key.to_owned(), value.to_owned())
                }
            })
            .collect()
    }

    /// Each header's last value, as payload 1.0 and ALBs give it.
    fn last_values(&self) -> BTreeMap<&str, &str> {
        self.headers
            .iter()
            .filter_map(|(name, values)| Some((name.as_str(), values.last()?.as_str())))
            .collect()
    }
}

/// The event for a request to a function behind `front`, whose path below the function's URL
/// is `path`.
pub(crate) fn event(
    front: Front,
    parts: &Parts,
    path: &str,
    body: &Bytes,
    request_id: &str,
    (account, region, function): (&str, &str, &str),
) -> Value {
    let request = Incoming::read(parts, path, body);
    match front {
        Front::FunctionUrl => {
            let mut event = event_v2(parts, path, body, request_id, account);
            // A function URL's id is 32 characters; any stable one does locally.
            let id = url_id(function);
            let domain = format!("{id}.lambda-url.{region}.on.aws");
            event["requestContext"]["apiId"] = json!(id);
            event["requestContext"]["domainPrefix"] = json!(id);
            event["requestContext"]["domainName"] = json!(domain);
            event
        }
        Front::HttpApi => {
            let mut event = event_v2(parts, path, body, request_id, account);
            of_http_api(&mut event, &api_id(function), region);
            event
        }
        Front::RestApi => event_v1(&request, request_id, account),
        Front::Alb => event_alb(&request, account, region, function),
    }
}

/// Makes a payload 2.0 `event` one of the HTTP API `id` in `region` (its id and domain).
pub(crate) fn of_http_api(event: &mut Value, id: &str, region: &str) {
    let context = &mut event["requestContext"];
    context["apiId"] = json!(id);
    context["domainPrefix"] = json!(id);
    context["domainName"] = json!(format!("{id}.execute-api.{region}.amazonaws.com"));
}

/// A stable made-up id for an HTTP API named `name`: ten lowercase letters and digits, as
/// API Gateway's API ids are.
pub(crate) fn api_id(name: &str) -> String {
    url_id(name)[..10].to_owned()
}

/// A stable made-up id for `function`'s URL or API, lowercase letters and digits.
fn url_id(function: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(function.as_bytes())
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// An API Gateway REST API's proxy event (payload format 1.0), on a stage named `local`.
fn event_v1(request: &Incoming<'_>, request_id: &str, account: &str) -> Value {
    let mut single: BTreeMap<String, String> = BTreeMap::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in request.query(true) {
        single.insert(name.clone(), value.clone());
        multi.entry(name).or_default().push(value);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let proxy = request.path.trim_start_matches('/');
    let user_agent = request
        .last_values()
        .get("user-agent")
        .map(|agent| (*agent).to_owned());
    json!({
        "resource": "/{proxy+}",
        "path": request.path,
        "httpMethod": request.parts.method.as_str(),
        "headers": request.last_values(),
        "multiValueHeaders": request.headers,
        "queryStringParameters": if single.is_empty() { Value::Null } else { json!(single) },
        "multiValueQueryStringParameters": if multi.is_empty() { Value::Null } else { json!(multi) },
        "pathParameters": if proxy.is_empty() { Value::Null } else { json!({"proxy": proxy}) },
        "stageVariables": null,
        "requestContext": {
            "accountId": account,
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "extendedRequestId": request_id,
            "httpMethod": request.parts.method.as_str(),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": user_agent},
            "path": format!("/local{}", request.path),
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTimeEpoch": now.as_millis() as u64,
            "resourceId": "local",
            "resourcePath": "/{proxy+}",
            "stage": "local",
        },
        "body": request.body.as_ref().map(|(body, _)| body.as_str()),
        "isBase64Encoded": request.body.as_ref().is_some_and(|(_, base64)| *base64),
    })
}

/// An Application Load Balancer's event, with single-value headers (the target group's
/// default): the query string as sent, not decoded.
fn event_alb(request: &Incoming<'_>, account: &str, region: &str, function: &str) -> Value {
    let query: BTreeMap<String, String> = request.query(false).into_iter().collect();
    json!({
        "requestContext": {
            "elb": {
                "targetGroupArn": format!("arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{function}/{}", &url_id(function)[..16]),
            },
        },
        "httpMethod": request.parts.method.as_str(),
        "path": request.path,
        "queryStringParameters": query,
        "headers": request.last_values(),
        "body": request.body.as_ref().map_or("", |(body, _)| body.as_str()),
        "isBase64Encoded": request.body.as_ref().is_some_and(|(_, base64)| *base64),
    })
}

/// The payload 2.0 event of function URLs and HTTP APIs.
pub(crate) fn event_v2(
    parts: &Parts,
    path: &str,
    body: &Bytes,
    request_id: &str,
    account: &str,
) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(|cookie| cookie.trim().to_owned())
                    .filter(|cookie| !cookie.is_empty()),
            );
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = parts.uri.query().unwrap_or_default();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw_query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        query
            .entry(percent_decode(key))
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&percent_decode(value));
            })
            .or_insert_with(|| percent_decode(value));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": account,
            "apiId": "local",
            "domainName": headers.get("host").cloned().unwrap_or_default(),
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": false,
    });
    let object = event
        .as_object_mut()
        .map(|object| object as &mut Map<String, Value>);
    if let Some(object) = object {
        if !cookies.is_empty() {
            object.insert("cookies".into(), json!(cookies));
        }
        if !query.is_empty() {
            object.insert("queryStringParameters".into(), json!(query));
        }
        if !body.is_empty() {
            let content_type = headers
                .get("content-type")
                .map(String::as_str)
                .unwrap_or_default();
            match std::str::from_utf8(body)
                .ok()
                .filter(|_| is_text(content_type))
            {
                Some(text) => {
                    object.insert("body".into(), json!(text));
                }
                None => {
                    object.insert(
                        "body".into(),
                        json!(base64::engine::general_purpose::STANDARD.encode(body)),
                    );
                    object.insert("isBase64Encoded".into(), json!(true));
                }
            }
        }
    }
    event
}

/// The HTTP response for the function's answer: a `{"statusCode", ...}` object is taken
/// apart; any other JSON is returned as it is, as `application/json` with status 200; a
/// failed invocation is what each front answers: a 502 from a function URL, a 500 from an
/// HTTP API (AWS "Troubleshooting issues with HTTP API Lambda integrations").
pub(crate) fn response(front: Front, outcome: &Outcome) -> Response<Full<Bytes>> {
    // What each front answers when the function fails or answers in the wrong shape.
    let failed = || match front {
        Front::FunctionUrl => plain(
            StatusCode::BAD_GATEWAY,
            r#"{"Message":"Internal Server Error"}"#,
        ),
        Front::HttpApi => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"message":"Internal Server Error"}"#,
        ),
        Front::RestApi => plain(
            StatusCode::BAD_GATEWAY,
            r#"{"message": "Internal server error"}"#,
        ),
        Front::Alb => plain(StatusCode::BAD_GATEWAY, "502 Bad Gateway"),
    };
    let body = match outcome {
        Outcome::Response(body) => body,
        Outcome::Error(_) => return failed(),
    };
    let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let status = answer.get("statusCode").and_then(Value::as_u64);
    if status.is_none() && matches!(front, Front::RestApi | Front::Alb) {
        // Payload 1.0 and ALBs take only the proxy shape.
        return failed();
    }
    let Some(status) = status else {
        let mut response = Response::new(Full::new(body.clone()));
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        return response;
    };
    let Ok(status) = u16::try_from(status)
        .map_err(|_| ())
        .and_then(|status| StatusCode::from_u16(status).map_err(|_| ()))
    else {
        return failed();
    };
    let text = answer
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let bytes = if answer.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(bytes) => Bytes::from(bytes),
            Err(_) => return failed(),
        }
    } else {
        Bytes::from(text.to_owned())
    };
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    set_headers(response.headers_mut(), &answer);
    response
}

/// The `headers`, `multiValueHeaders` (payload 1.0, ALBs) and `cookies` (payload 2.0, as
/// `Set-Cookie`) of a function's HTTP answer.
fn set_headers(headers: &mut http::HeaderMap, answer: &Value) {
    for (name, values) in answer
        .get("multiValueHeaders")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Ok(name) = http::HeaderName::try_from(name.as_str()) else {
            continue;
        };
        for value in values.as_array().into_iter().flatten() {
            if let Some(Ok(value)) = value.as_str().map(HeaderValue::from_str) {
                headers.append(name.clone(), value);
            }
        }
    }
    for (name, value) in answer
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let (Ok(name), Some(Ok(value))) = (
            http::HeaderName::try_from(name.as_str()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            // Where both give a header, `multiValueHeaders` wins, as API Gateway merges them.
            if !headers.contains_key(&name) {
                headers.insert(name, value);
            }
        }
    }
    for cookie in answer
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(Ok(cookie)) = cookie.as_str().map(HeaderValue::from_str) {
            headers.append(http::header::SET_COOKIE, cookie);
        }
    }
}

/// The content type of a streamed answer for an HTTP integration (function URLs in
/// `RESPONSE_STREAM` mode), and the eight NUL bytes that end its JSON prelude (AWS "Response
/// streaming for custom runtimes").
const INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";
const DELIMITER: [u8; 8] = [0; 8];
/// How long a prelude may get before the answer is taken as malformed.
const MAX_PRELUDE: usize = 64 * 1024;

/// The HTTP response to a streamed answer, its body passed on as the function writes it. For
/// the HTTP integration type, a JSON prelude (`statusCode`, `headers`, `cookies`) comes first;
/// any other stream is the body itself, with the content type the function gave.
pub(crate) async fn streamed(
    content_type: Option<&str>,
    mut chunks: mpsc::Receiver<Chunk>,
) -> Response<Body> {
    if content_type != Some(INTEGRATION) {
        let mut response = Response::new(
            ChunkBody {
                first: None,
                chunks,
                failure: None,
            }
            .boxed_unsync(),
        );
        let content_type = content_type.unwrap_or("application/octet-stream");
        if let Ok(value) = HeaderValue::from_str(content_type) {
            response.headers_mut().insert("content-type", value);
        }
        return response;
    }
    let bad_gateway = || {
        boxed(plain(
            StatusCode::BAD_GATEWAY,
            r#"{"Message":"Internal Server Error"}"#,
        ))
    };
    let mut prelude = Vec::new();
    let rest = loop {
        match chunks.recv().await {
            Some(Chunk::Data(data)) => {
                prelude.extend_from_slice(&data);
                if let Some(at) = prelude
                    .windows(DELIMITER.len())
                    .position(|window| window == DELIMITER)
                {
                    let rest = prelude.split_off(at + DELIMITER.len());
                    prelude.truncate(at);
                    break rest;
                }
                if prelude.len() > MAX_PRELUDE {
                    return bad_gateway();
                }
            }
            Some(Chunk::Failed(_)) | None => return bad_gateway(),
        }
    };
    let Ok(prelude) = serde_json::from_slice::<Value>(&prelude) else {
        return bad_gateway();
    };
    let status = prelude
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|status| u16::try_from(status).ok())
        .and_then(|status| StatusCode::from_u16(status).ok())
        .unwrap_or(StatusCode::OK);
    let first = (!rest.is_empty()).then(|| Bytes::from(rest));
    let mut response = Response::new(
        ChunkBody {
            first,
            chunks,
            failure: None,
        }
        .boxed_unsync(),
    );
    *response.status_mut() = status;
    set_headers(response.headers_mut(), &prelude);
    response
}

/// A streamed answer's chunks as an HTTP body; a failed stream ends it with an error, which
/// breaks the connection off as Lambda does.
struct ChunkBody {
    first: Option<Bytes>,
    chunks: mpsc::Receiver<Chunk>,
    /// The stream's failure, held back one poll: hyper breaks the connection off at a body
    /// error without writing what it has buffered, so the data before it is flushed first
    /// (hyper flushes when the body is pending).
    failure: Option<std::io::Error>,
}

impl hyper::body::Body for ChunkBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(hyper::body::Frame::data(first))));
        }
        if let Some(failure) = self.failure.take() {
            return Poll::Ready(Some(Err(failure)));
        }
        match self.chunks.poll_recv(context) {
            Poll::Ready(Some(Chunk::Data(data))) => {
                Poll::Ready(Some(Ok(hyper::body::Frame::data(data))))
            }
            Poll::Ready(Some(Chunk::Failed(error))) => {
                self.failure = Some(std::io::Error::other(
                    String::from_utf8_lossy(&error).into_owned(),
                ));
                context.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// Content types a function URL passes as text; the rest are base64-encoded.
fn is_text(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media.is_empty()
        || media.starts_with("text/")
        || [
            "application/json",
            "application/javascript",
            "application/xml",
            "application/x-www-form-urlencoded",
        ]
        .contains(&media.as_str())
        || media.ends_with("+json")
        || media.ends_with("+xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_content_types_are_recognised() {
        assert!(is_text("application/json; charset=utf-8"));
        assert!(is_text("text/html"));
        assert!(is_text("application/vnd.api+json"));
        assert!(!is_text("image/png"));
        assert!(!is_text("application/octet-stream"));
    }
}
