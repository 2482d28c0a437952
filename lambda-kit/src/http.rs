//! HTTP handlers: an `http::Request` in, anything that becomes an `http::Response` out, for
//! API Gateway REST APIs (payload 1.0), HTTP APIs (payload 2.0), Application Load Balancers and
//! function URLs, told apart by the payload.
//!
//! Each front sends the request and expects the response in a JSON shape of its own; this
//! module reads all four into one [`::http::Request<Bytes>`] and writes the answer back in the
//! shape the request came in:
//!
//! - the path never carries an HTTP API's stage prefix (`/prod/orders` on stage `prod` is
//!   `/orders`; [`RequestContext::raw_path`] keeps the original), and REST APIs' `path` has none;
//! - query strings keep every value of repeated parameters;
//! - cookies arrive as one `Cookie` header, and `Set-Cookie` headers of the response go back
//!   as the `cookies` (payload 2.0) or as repeated headers (payload 1.0, ALB);
//! - bodies sent base64-encoded are decoded; response bodies that are not UTF-8 text (by
//!   `Content-Type`) are sent base64-encoded, as binary media needs;
//! - the request context, the stage and the path parameters are in a [`RequestContext`]
//!   extension.
//!
//! A function URL in `RESPONSE_STREAM` mode sends the same event; to stream the answer, return
//! a `lambda_kit::streaming::StreamResponse` made from an `http::Response` (feature
//! `streaming`).
//!
//! ```no_run
//! use bytes::Bytes;
//! use lambda_kit::Context;
//!
//! async fn hello(request: http::Request<Bytes>, _ctx: Context) -> Result<String, std::convert::Infallible> {
//!     let name = request.uri().query().unwrap_or("world");
//!     Ok(format!("hello, {name}"))
//! }
//!
//! fn main() -> Result<(), lambda_kit::Error> {
//!     lambda_kit::run(lambda_kit::http::adapt(hello))
//! }
//! ```
//!
//! With `#[lambda_kit::handler]`, take the [`HttpEvent`] and [`respond`](HttpEvent::respond):
//!
//! ```no_run
//! use lambda_kit::http::{HttpEvent, HttpResponse};
//! use lambda_kit::{Context, Diagnostic};
//!
//! #[lambda_kit::handler]
//! async fn handler(event: HttpEvent, _ctx: Context) -> Result<HttpResponse, Diagnostic> {
//!     event
//!         .respond(|request| async move {
//!             Ok::<_, Diagnostic>((http::StatusCode::CREATED, format!("{} done", request.uri().path())))
//!         })
//!         .await
//! }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use ::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use ::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::Context;

/// Which front sent the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// An API Gateway REST API, or an HTTP API with payload format 1.0.
    ApiGatewayRest,
    /// An API Gateway HTTP API with payload format 2.0.
    ApiGatewayHttp,
    /// An Application Load Balancer target group.
    Alb,
    /// A Lambda function URL, recognised by its `*.lambda-url.*` domain name. A payload 2.0
    /// request from another domain reads as [`ApiGatewayHttp`](Self::ApiGatewayHttp), which
    /// is answered in the same shape.
    FunctionUrl,
}

/// The response shapes: function URLs answer as HTTP APIs do (payload 2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Payload 1.0: `multiValueHeaders`.
    V1,
    /// Payload 2.0: `headers` and `cookies`.
    V2,
    /// ALB: `statusDescription`, and `multiValueHeaders` when the request had them.
    Alb { multi_value: bool },
}

/// What the front said about the request beyond the request itself: an extension of every
/// request this module makes.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use lambda_kit::http::RequestContext;
///
/// fn order_id(request: &http::Request<Bytes>) -> Option<&str> {
///     request.extensions().get::<RequestContext>()?.path_parameter("id")
/// }
/// ```
#[derive(Debug, Clone)]
pub struct RequestContext {
    source: Source,
    stage: Option<String>,
    raw_path: String,
    path_parameters: HashMap<String, String>,
    json: Value,
}

impl RequestContext {
    /// The front that sent the request.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(context: &lambda_kit::http::RequestContext) {
    /// if context.source() == lambda_kit::http::Source::Alb { /* ... */ }
    /// # }
    /// ```
    pub fn source(&self) -> Source {
        self.source
    }

    /// The API Gateway stage (`prod`, `$default`), when the front has stages.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(context: &lambda_kit::http::RequestContext) {
    /// let stage = context.stage().unwrap_or("$default");
    /// # let _ = stage;
    /// # }
    /// ```
    pub fn stage(&self) -> Option<&str> {
        self.stage.as_deref()
    }

    /// The path as the front sent it, stage prefix included where it had one.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(context: &lambda_kit::http::RequestContext) {
    /// tracing::info!(path = context.raw_path(), "as sent");
    /// # }
    /// ```
    pub fn raw_path(&self) -> &str {
        &self.raw_path
    }

    /// The value API Gateway matched for a path parameter (`{id}` in the route).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(context: &lambda_kit::http::RequestContext) {
    /// let id = context.path_parameter("id");
    /// # let _ = id;
    /// # }
    /// ```
    pub fn path_parameter(&self, name: &str) -> Option<&str> {
        self.path_parameters.get(name).map(String::as_str)
    }

    /// The event's `requestContext` as JSON: account, API id, identity, authorizer and so on.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(context: &lambda_kit::http::RequestContext) {
    /// let account = context.json()["accountId"].as_str();
    /// # let _ = account;
    /// # }
    /// ```
    pub fn json(&self) -> &Value {
        &self.json
    }
}

/// An HTTP request from any of the four fronts, read from its event; a handler's event type.
///
/// # Examples
///
/// ```
/// use lambda_kit::http::HttpEvent;
///
/// let event: HttpEvent = serde_json::from_str(r#"{
///     "version": "2.0", "rawPath": "/prod/orders", "rawQueryString": "page=2",
///     "cookies": ["session=abc"], "headers": {"accept": "application/json"},
///     "requestContext": {"http": {"method": "GET"}, "stage": "prod"},
///     "isBase64Encoded": false
/// }"#)?;
/// let request = event.request();
/// assert_eq!(request.uri(), "/orders?page=2");
/// assert_eq!(request.headers()["cookie"], "session=abc");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug)]
pub struct HttpEvent {
    request: ::http::Request<Bytes>,
    format: Format,
}

impl HttpEvent {
    /// The request.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(event: &lambda_kit::http::HttpEvent) {
    /// let method = event.request().method();
    /// # let _ = method;
    /// # }
    /// ```
    pub fn request(&self) -> &::http::Request<Bytes> {
        &self.request
    }

    /// Runs `handler` on the request and writes its answer in the shape the front expects.
    ///
    /// # Errors
    ///
    /// Returns the handler's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use lambda_kit::http::HttpEvent;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let event: HttpEvent = serde_json::from_str(r#"{
    ///     "httpMethod": "GET", "path": "/hello", "headers": {},
    ///     "requestContext": {"stage": "prod"}, "isBase64Encoded": false
    /// }"#)?;
    /// let response = event
    ///     .respond(|request| async move { Ok::<_, std::convert::Infallible>(request.uri().path().to_owned()) })
    ///     .await?;
    /// let json = serde_json::to_value(&response)?;
    /// assert_eq!(json["statusCode"], 200);
    /// assert_eq!(json["body"], "/hello");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn respond<F, Fut, R, E>(self, handler: F) -> Result<HttpResponse, E>
    where
        F: FnOnce(::http::Request<Bytes>) -> Fut,
        Fut: Future<Output = Result<R, E>>,
        R: IntoResponse,
    {
        let format = self.format;
        let response = handler(self.request).await?;
        Ok(HttpResponse::new(format, response.into_response()))
    }
}

impl<'de> Deserialize<'de> for HttpEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let event = Value::deserialize(deserializer)?;
        read_event(event).map_err(D::Error::custom)
    }
}

/// Serves HTTP requests with `handler`: the adapter between [`lambda_kit::run`](crate::run)
/// and an `async fn(http::Request<Bytes>, Context) -> Result<impl IntoResponse, E>`.
///
/// The handler's future must be `'static` (own what it uses, as an `async fn` taking its
/// arguments by value does).
///
/// # Examples
///
/// ```no_run
/// use bytes::Bytes;
/// use lambda_kit::{Context, Diagnostic};
///
/// async fn echo(request: http::Request<Bytes>, _ctx: Context) -> Result<http::Response<Bytes>, Diagnostic> {
///     let (parts, body) = request.into_parts();
///     let mut response = http::Response::new(body);
///     if let Some(kind) = parts.headers.get(http::header::CONTENT_TYPE) {
///         response.headers_mut().insert(http::header::CONTENT_TYPE, kind.clone());
///     }
///     Ok(response)
/// }
///
/// fn main() -> Result<(), lambda_kit::Error> {
///     lambda_kit::run(lambda_kit::http::adapt(echo))
/// }
/// ```
pub fn adapt<F, Fut, R, E>(handler: F) -> impl Fn(HttpEvent, Context) -> HttpFuture<E>
where
    F: Fn(::http::Request<Bytes>, Context) -> Fut,
    Fut: Future<Output = Result<R, E>> + 'static,
    R: IntoResponse,
{
    move |event: HttpEvent, ctx: Context| {
        let format = event.format;
        let response = handler(event.request, ctx);
        HttpFuture(Box::pin(async move {
            Ok(HttpResponse::new(format, response.await?.into_response()))
        }))
    }
}

/// Serves HTTP requests with a tower `Service`, such as an axum `Router`: each request goes
/// to the service as an `http::Request` (the invocation's [`Context`] in its extensions), and
/// its response body is gathered and answered in the front's shape.
///
/// The service is cloned for each invocation, as tower services are; a service error (and a
/// response body that fails) becomes the invocation's error, `ServiceError`.
///
/// # Examples
///
/// ```no_run
/// use axum::Router;
/// use axum::routing::get;
///
/// fn main() -> Result<(), lambda_kit::Error> {
///     let app = Router::new().route("/orders/{id}", get(|| async { "an order" }));
///     lambda_kit::run(lambda_kit::http::service(app))
/// }
/// ```
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub fn service<S, RB>(service: S) -> impl Fn(HttpEvent, Context) -> HttpFuture<crate::Diagnostic>
where
    S: tower_service::Service<::http::Request<Body>, Response = ::http::Response<RB>>
        + Clone
        + 'static,
    S::Error: fmt::Display,
    S::Future: 'static,
    RB: http_body::Body + 'static,
    RB::Error: fmt::Display,
{
    use http_body_util::BodyExt as _;

    let failed =
        |error: &dyn fmt::Display| crate::Diagnostic::new("ServiceError", error.to_string());
    move |event: HttpEvent, ctx: Context| {
        let format = event.format;
        let mut service = service.clone();
        let (mut parts, body) = event.request.into_parts();
        parts.extensions.insert(ctx);
        let request = ::http::Request::from_parts(parts, Body(Some(body)));
        HttpFuture(Box::pin(async move {
            std::future::poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(|error| failed(&error))?;
            let response = service
                .call(request)
                .await
                .map_err(|error| failed(&error))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|error| failed(&error))?
                .to_bytes();
            Ok(HttpResponse::new(
                format,
                ::http::Response::from_parts(parts, body),
            ))
        }))
    }
}

/// The body of a request handed to a tower [`service`]: the whole body, in one frame (API
/// Gateway, ALBs and function URLs deliver it whole).
///
/// # Examples
///
/// ```
/// use http_body_util::BodyExt as _;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let body = lambda_kit::http::Body::from(bytes::Bytes::from_static(b"hello"));
/// let bytes = body.collect().await.unwrap().to_bytes();
/// assert_eq!(bytes, "hello");
/// # }
/// ```
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[derive(Debug, Default)]
pub struct Body(Option<Bytes>);

#[cfg(feature = "tower")]
impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self(Some(bytes))
    }
}

#[cfg(feature = "tower")]
impl http_body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let data = self.0.take().filter(|bytes| !bytes.is_empty());
        std::task::Poll::Ready(data.map(|bytes| Ok(http_body::Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.as_ref().map_or(0, |bytes| bytes.len() as u64))
    }
}

/// The future of an [`adapt`]ed handler.
pub struct HttpFuture<E>(Pin<Box<dyn Future<Output = Result<HttpResponse, E>>>>);

impl<E> fmt::Debug for HttpFuture<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HttpFuture")
    }
}

impl<E> Future for HttpFuture<E> {
    type Output = Result<HttpResponse, E>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// What an HTTP handler may answer with.
///
/// Implemented for `http::Response<B>` of any body that converts into [`Bytes`], for bodies
/// alone (`String`, `&'static str`, `Vec<u8>`, `Bytes`: status 200), for a [`StatusCode`]
/// alone (empty body) and for `(StatusCode, body)`.
///
/// # Examples
///
/// ```
/// use lambda_kit::http::IntoResponse;
///
/// let response = (http::StatusCode::NOT_FOUND, "no such order").into_response();
/// assert_eq!(response.status(), 404);
/// assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
/// ```
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> ::http::Response<Bytes>;
}

impl<B: Into<Bytes>> IntoResponse for ::http::Response<B> {
    fn into_response(self) -> ::http::Response<Bytes> {
        self.map(Into::into)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> ::http::Response<Bytes> {
        let mut response = ::http::Response::new(Bytes::new());
        *response.status_mut() = self;
        response
    }
}

impl<B: IntoResponse> IntoResponse for (StatusCode, B) {
    fn into_response(self) -> ::http::Response<Bytes> {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

fn typed(body: Bytes, content_type: &'static str) -> ::http::Response<Bytes> {
    let mut response = ::http::Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

impl IntoResponse for String {
    fn into_response(self) -> ::http::Response<Bytes> {
        typed(Bytes::from(self), "text/plain; charset=utf-8")
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> ::http::Response<Bytes> {
        typed(
            Bytes::from_static(self.as_bytes()),
            "text/plain; charset=utf-8",
        )
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> ::http::Response<Bytes> {
        typed(Bytes::from(self), "application/octet-stream")
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> ::http::Response<Bytes> {
        typed(self, "application/octet-stream")
    }
}

/// An HTTP response in the JSON shape the front that sent the request expects; a handler's
/// response type.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let event: lambda_kit::http::HttpEvent = serde_json::from_str(r#"{
///     "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1"}},
///     "httpMethod": "GET", "path": "/", "headers": {}, "body": "", "isBase64Encoded": false
/// }"#)?;
/// let response = event.respond(|_| async { Ok::<_, std::convert::Infallible>(http::StatusCode::NO_CONTENT) }).await?;
/// assert_eq!(serde_json::to_value(&response)?["statusDescription"], "204 No Content");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HttpResponse {
    json: Value,
}

impl Serialize for HttpResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

impl HttpResponse {
    fn new(format: Format, response: ::http::Response<Bytes>) -> Self {
        let (parts, body) = response.into_parts();
        let text = is_text(&parts.headers) && std::str::from_utf8(&body).is_ok();
        let body = if text {
            String::from_utf8_lossy(&body).into_owned()
        } else {
            BASE64.encode(&body)
        };
        let status = parts.status.as_u16();
        let mut json = Map::new();
        json.insert("statusCode".to_owned(), json!(status));
        match format {
            Format::V1 | Format::Alb { multi_value: true } => {
                json.insert(
                    "multiValueHeaders".to_owned(),
                    Value::Object(multi_value_headers(&parts.headers)),
                );
            }
            Format::Alb { multi_value: false } => {
                let mut headers = joined_headers(&parts.headers);
                // One value per name, and cookies cannot be joined: only the first
                // `Set-Cookie` can go (AWS "Lambda functions as targets": turn on multi-value
                // headers on the target group to send several).
                let mut cookies = parts.headers.get_all(SET_COOKIE).iter();
                if let Some(first) = cookies.next() {
                    headers.insert(SET_COOKIE.as_str().to_owned(), json!(lossy(first)));
                    let dropped = cookies.count();
                    if dropped > 0 {
                        tracing::warn!(
                            dropped,
                            "the ALB target group sends single-value headers: only the first `Set-Cookie` is sent"
                        );
                    }
                }
                json.insert("headers".to_owned(), Value::Object(headers));
            }
            Format::V2 => {
                json.insert(
                    "headers".to_owned(),
                    Value::Object(joined_headers(&parts.headers)),
                );
                let cookies: Vec<String> = parts
                    .headers
                    .get_all(SET_COOKIE)
                    .iter()
                    .map(lossy)
                    .collect();
                if !cookies.is_empty() {
                    json.insert("cookies".to_owned(), json!(cookies));
                }
            }
        }
        if let Format::Alb { .. } = format {
            let description = match parts.status.canonical_reason() {
                Some(reason) => format!("{status} {reason}"),
                None => status.to_string(),
            };
            json.insert("statusDescription".to_owned(), json!(description));
        }
        json.insert("body".to_owned(), json!(body));
        json.insert("isBase64Encoded".to_owned(), json!(!text));
        Self {
            json: Value::Object(json),
        }
    }
}

fn lossy(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// Every header but `Set-Cookie`, repeated values joined with commas (RFC 9110, 5.3).
fn joined_headers(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys().filter(|name| **name != SET_COOKIE) {
        let values: Vec<String> = headers.get_all(name).iter().map(lossy).collect();
        out.insert(name.as_str().to_owned(), json!(values.join(",")));
    }
    out
}

fn multi_value_headers(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        let values: Vec<String> = headers.get_all(name).iter().map(lossy).collect();
        out.insert(name.as_str().to_owned(), json!(values));
    }
    out
}

/// Whether a body of this `Content-Type` is sent as text; no type counts as text.
fn is_text(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
        )
}

/// Reads any of the four event shapes into a request.
fn read_event(mut event: Value) -> Result<HttpEvent, String> {
    let context = event
        .get_mut("requestContext")
        .map(Value::take)
        .unwrap_or(Value::Null);
    let is_v2 = event["version"] == "2.0" && context.get("http").is_some();
    let (source, format) = if context.get("elb").is_some() {
        let multi_value = event.get("multiValueHeaders").is_some_and(Value::is_object);
        (Source::Alb, Format::Alb { multi_value })
    } else if is_v2 {
        let function_url = context["domainName"]
            .as_str()
            .is_some_and(|domain| domain.contains(".lambda-url."));
        let source = if function_url {
            Source::FunctionUrl
        } else {
            Source::ApiGatewayHttp
        };
        (source, Format::V2)
    } else if event.get("httpMethod").is_some() {
        (Source::ApiGatewayRest, Format::V1)
    } else {
        return Err(
            "the event is not an HTTP request from API Gateway, an Application Load Balancer or a function URL"
                .to_owned(),
        );
    };

    let text = |value: &Value| value.as_str().map(str::to_owned);
    let method = if is_v2 {
        text(&context["http"]["method"])
    } else {
        text(&event["httpMethod"])
    }
    .ok_or("the event has no HTTP method")?;
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("`{method}` is not an HTTP method"))?;
    let stage = text(&context["stage"]);

    let (raw_path, path, query) = if is_v2 {
        let raw_path = text(&event["rawPath"]).unwrap_or_else(|| "/".to_owned());
        let path = strip_stage(&raw_path, stage.as_deref()).to_owned();
        (
            raw_path,
            path,
            text(&event["rawQueryString"]).unwrap_or_default(),
        )
    } else {
        let raw_path = text(&event["path"]).unwrap_or_else(|| "/".to_owned());
        // A REST API's `path` has no stage; an HTTP API's payload 1.0 (`"version": "1.0"`)
        // keeps it, as its payload 2.0 does.
        let path = if event["version"] == "1.0" {
            strip_stage(&raw_path, stage.as_deref()).to_owned()
        } else {
            raw_path.clone()
        };
        // API Gateway decodes the query parameters it passes on; an ALB passes them as sent.
        let encode = source == Source::ApiGatewayRest;
        let query = query_string(&event, encode);
        (raw_path, path, query)
    };
    let mut uri = path.clone();
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&query);
    }

    let mut request = ::http::Request::builder()
        .method(method)
        .uri(&uri)
        .body(Bytes::new())
        .map_err(|error| format!("`{uri}` is not a request path: {error}"))?;
    let headers = request.headers_mut();
    match event.get("multiValueHeaders").and_then(Value::as_object) {
        Some(multi) if !multi.is_empty() || event.get("headers").is_none_or(Value::is_null) => {
            for (name, values) in multi {
                for value in values.as_array().into_iter().flatten() {
                    append_header(headers, name, value);
                }
            }
        }
        _ => {
            for (name, value) in event["headers"].as_object().into_iter().flatten() {
                append_header(headers, name, value);
            }
        }
    }
    if let Some(cookies) = event["cookies"].as_array() {
        let cookies: Vec<&str> = cookies.iter().filter_map(Value::as_str).collect();
        if !cookies.is_empty() {
            let joined = cookies.join("; ");
            let value = HeaderValue::from_str(&joined)
                .map_err(|_| "the event's cookies cannot be sent in a `Cookie` header")?;
            headers.insert(COOKIE, value);
        }
    }

    let body = match event["body"].as_str() {
        None => Bytes::new(),
        Some(body) if event["isBase64Encoded"] == true => Bytes::from(
            BASE64
                .decode(body)
                .map_err(|error| format!("the body is marked base64 but is not: {error}"))?,
        ),
        Some(body) => Bytes::from(body.to_owned()),
    };
    *request.body_mut() = body;

    let path_parameters = event["pathParameters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
        .collect();
    request.extensions_mut().insert(RequestContext {
        source,
        stage,
        raw_path,
        path_parameters,
        json: context,
    });
    Ok(HttpEvent { request, format })
}

/// `/prod/orders` on stage `prod` is `/orders`; the `$default` stage has no prefix.
fn strip_stage<'a>(path: &'a str, stage: Option<&str>) -> &'a str {
    let Some(stage) = stage.filter(|stage| *stage != "$default" && !stage.is_empty()) else {
        return path;
    };
    match path
        .strip_prefix('/')
        .and_then(|rest| rest.strip_prefix(stage))
    {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

fn append_header(headers: &mut HeaderMap, name: &str, value: &Value) {
    let Some(value) = value.as_str() else { return };
    match (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        (Ok(name), Ok(value)) => {
            headers.append(name, value);
        }
        _ => tracing::warn!(
            header = name,
            "dropped a request header that is not valid HTTP"
        ),
    }
}

/// The query string from `multiValueQueryStringParameters` (else `queryStringParameters`).
fn query_string(event: &Value, encode: bool) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    match event["multiValueQueryStringParameters"].as_object() {
        Some(multi) => {
            for (name, values) in multi {
                for value in values.as_array().into_iter().flatten() {
                    if let Some(value) = value.as_str() {
                        pairs.push((name, value));
                    }
                }
            }
        }
        None => {
            for (name, value) in event["queryStringParameters"]
                .as_object()
                .into_iter()
                .flatten()
            {
                if let Some(value) = value.as_str() {
                    pairs.push((name, value));
                }
            }
        }
    }
    let mut query = String::new();
    for (name, value) in pairs {
        if !query.is_empty() {
            query.push('&');
        }
        if encode {
            percent_encode(&mut query, name);
            query.push('=');
            percent_encode(&mut query, value);
        } else {
            query.push_str(name);
            query.push('=');
            query.push_str(value);
        }
    }
    query
}

/// Appends `text` with everything but RFC 3986's unreserved characters percent-encoded.
fn percent_encode(out: &mut String, text: &str) {
    use std::fmt::Write as _;
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_prefixes_are_stripped_only_when_they_are_the_stage() {
        assert_eq!(strip_stage("/prod/orders", Some("prod")), "/orders");
        assert_eq!(strip_stage("/prod", Some("prod")), "/");
        assert_eq!(strip_stage("/production/x", Some("prod")), "/production/x");
        assert_eq!(strip_stage("/orders", Some("$default")), "/orders");
        assert_eq!(strip_stage("/orders", None), "/orders");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        let mut out = String::new();
        percent_encode(&mut out, "a b&c=d/é~");
        assert_eq!(out, "a%20b%26c%3Dd%2F%C3%A9~");
    }

    #[test]
    fn text_types_are_sent_as_text() {
        let mut headers = HeaderMap::new();
        assert!(is_text(&headers));
        for (kind, text) in [
            ("text/html; charset=utf-8", true),
            ("application/json", true),
            ("application/problem+json", true),
            ("image/png", false),
            ("application/octet-stream", false),
        ] {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
            assert_eq!(is_text(&headers), text, "{kind}");
        }
    }
}
