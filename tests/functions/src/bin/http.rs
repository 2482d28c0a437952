//! Answers HTTP requests through lambda-kit's HTTP adapter, whichever front sends them: tells
//! what it received, as JSON, and sets a header and a cookie; `/binary` answers raw bytes.

use bytes::Bytes;
use lambda_kit::http::{HttpEvent, HttpResponse, RequestContext};
use lambda_kit::{Context, Diagnostic};
use serde_json::json;

#[lambda_kit::handler]
async fn http(event: HttpEvent, _ctx: Context) -> Result<HttpResponse, Diagnostic> {
    event.respond(answer).await
}

async fn answer(request: http::Request<Bytes>) -> Result<http::Response<Bytes>, Diagnostic> {
    if request.uri().path() == "/binary" {
        return http::Response::builder()
            .header("content-type", "application/octet-stream")
            .body(Bytes::from_static(&[0, 1, 2, 255]))
            .map_err(|error| Diagnostic::new("Response", error.to_string()));
    }
    let context = request.extensions().get::<RequestContext>();
    let header = |name: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect::<Vec<_>>()
    };
    let seen = json!({
        "method": request.method().as_str(),
        "path": request.uri().path(),
        "query": request.uri().query(),
        "cookie": header("cookie"),
        "custom": header("x-custom"),
        "body": String::from_utf8_lossy(request.body()),
        "body_bytes": request.body().len(),
        "source": context.map(|context| format!("{:?}", context.source())),
    });
    http::Response::builder()
        .status(201)
        .header("content-type", "application/json")
        .header("x-answered", "yes")
        .header("set-cookie", "session=abc; Path=/")
        .header("set-cookie", "theme=dark")
        .body(Bytes::from(seen.to_string()))
        .map_err(|error| Diagnostic::new("Response", error.to_string()))
}
