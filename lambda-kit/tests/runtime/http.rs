//! `lambda_kit::http`: one `http::Request` from API Gateway REST and HTTP APIs, ALBs and
//! function URLs, and the response in each one's shape, through the real poll loop.

use bytes::Bytes;
use lambda_kit::http::{HttpEvent, HttpResponse, RequestContext, Source, adapt};
use lambda_kit::testing::invoke;
use lambda_kit::{Context, Diagnostic};
use serde_json::{Value, json};

use crate::support::within;

/// Describes the request it got, and answers with two cookies and a header.
async fn describe(
    request: http::Request<Bytes>,
    _ctx: Context,
) -> Result<http::Response<String>, Diagnostic> {
    let context = request
        .extensions()
        .get::<RequestContext>()
        .ok_or("no request context")?;
    let source = match context.source() {
        Source::ApiGatewayRest => "rest",
        Source::ApiGatewayHttp => "http",
        Source::Alb => "alb",
        Source::FunctionUrl => "url",
        _ => "other",
    };
    let header = |name: &str| {
        let values: Vec<&str> = request
            .headers()
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap_or("?"))
            .collect();
        values
    };
    let description = json!({
        "method": request.method().as_str(),
        "uri": request.uri().to_string(),
        "cookie": header("cookie"),
        "accept": header("accept"),
        "body": String::from_utf8_lossy(request.body()),
        "source": source,
        "stage": context.stage(),
        "rawPath": context.raw_path(),
        "id": context.path_parameter("id"),
    });
    let response = http::Response::builder()
        .status(201)
        .header("content-type", "application/json")
        .header("x-trace", "a")
        .header("x-trace", "b")
        .header("set-cookie", "session=abc; HttpOnly")
        .header("set-cookie", "theme=dark")
        .body(description.to_string())
        .map_err(|error| error.to_string())?;
    Ok(response)
}

/// Answers with bytes that are not UTF-8, as an image would be.
async fn png(
    _: http::Request<Bytes>,
    _ctx: Context,
) -> Result<http::Response<Vec<u8>>, Diagnostic> {
    Ok(http::Response::builder()
        .header("content-type", "image/png")
        .body(vec![0x89, b'P', b'N', b'G', 0xff])
        .map_err(|error| error.to_string())?)
}

fn body_of(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn an_http_api_request_loses_its_stage_prefix_and_keeps_cookies_and_query() {
    let event = json!({
        "version": "2.0",
        "routeKey": "POST /orders/{id}",
        "rawPath": "/prod/orders/42",
        "rawQueryString": "tag=a&tag=b&q=x%20y",
        "cookies": ["session=old", "lang=en"],
        "headers": {"accept": "application/json", "content-type": "text/plain"},
        "pathParameters": {"id": "42"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api1", "domainName": "api1.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "POST", "path": "/prod/orders/42", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "curl"},
            "requestId": "r-1", "routeKey": "POST /orders/{id}", "stage": "prod", "time": "23/Nov/2026:09:30:00 +0000", "timeEpoch": 1_795_426_200_000_u64,
        },
        "body": "aGVsbG8gd29ybGQ=",
        "isBase64Encoded": true,
    });
    let outcome = within(10, invoke(adapt(describe), event)).await;
    let response: Value = outcome.json();
    assert_eq!(
        body_of(&response),
        json!({
            "method": "POST", "uri": "/orders/42?tag=a&tag=b&q=x%20y",
            "cookie": ["session=old; lang=en"], "accept": ["application/json"],
            "body": "hello world", "source": "http", "stage": "prod",
            "rawPath": "/prod/orders/42", "id": "42",
        })
    );
    assert_eq!(response["statusCode"], 201);
    assert_eq!(response["isBase64Encoded"], false);
    // Payload 2.0: cookies apart, other repeated headers joined.
    assert_eq!(
        response["cookies"],
        json!(["session=abc; HttpOnly", "theme=dark"])
    );
    assert_eq!(
        response["headers"],
        json!({"content-type": "application/json", "x-trace": "a,b"})
    );
}

#[tokio::test]
async fn a_rest_api_request_reads_multi_value_headers_and_query_parameters() {
    let event = json!({
        "resource": "/orders/{id}",
        "path": "/orders/7",
        "httpMethod": "GET",
        "headers": {"Accept": "text/html", "Cookie": "a=1; b=2"},
        "multiValueHeaders": {"Accept": ["text/html", "application/json"], "Cookie": ["a=1; b=2"]},
        "queryStringParameters": {"q": "x y", "tag": "b"},
        "multiValueQueryStringParameters": {"q": ["x y"], "tag": ["a", "b"]},
        "pathParameters": {"id": "7"},
        "stageVariables": null,
        "requestContext": {"stage": "prod", "path": "/prod/orders/7", "resourcePath": "/orders/{id}", "httpMethod": "GET", "accountId": "123456789012"},
        "body": null,
        "isBase64Encoded": false,
    });
    let outcome = within(10, invoke(adapt(describe), event)).await;
    let response: Value = outcome.json();
    let described = body_of(&response);
    assert_eq!(described["uri"], "/orders/7?q=x%20y&tag=a&tag=b");
    assert_eq!(
        described["accept"],
        json!(["text/html", "application/json"])
    );
    assert_eq!(described["cookie"], json!(["a=1; b=2"]));
    assert_eq!(described["source"], "rest");
    assert_eq!(described["rawPath"], "/orders/7");
    assert_eq!(described["body"], "");
    // Payload 1.0: every header with all its values, cookies included.
    assert_eq!(
        response["multiValueHeaders"],
        json!({
            "content-type": ["application/json"],
            "x-trace": ["a", "b"],
            "set-cookie": ["session=abc; HttpOnly", "theme=dark"],
        })
    );
    assert!(response.get("cookies").is_none());
    assert_eq!(response["statusCode"], 201);
}

#[tokio::test]
async fn alb_requests_are_answered_with_the_header_style_they_came_with() {
    let single = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1"}},
        "httpMethod": "PUT",
        "path": "/items",
        "queryStringParameters": {"name": "a%20b"},
        "headers": {"accept": "*/*", "host": "example.com"},
        "body": "payload",
        "isBase64Encoded": false,
    });
    let response: Value = within(10, invoke(adapt(describe), single)).await.json();
    let described = body_of(&response);
    // ALB passes query parameters as they were sent, still encoded.
    assert_eq!(described["uri"], "/items?name=a%20b");
    assert_eq!(described["source"], "alb");
    assert_eq!(described["body"], "payload");
    assert_eq!(response["statusDescription"], "201 Created");
    assert_eq!(
        response["headers"],
        json!({
            "content-type": "application/json",
            "x-trace": "a,b",
            "set-cookie": "session=abc; HttpOnly",
        })
    );
    assert!(response.get("multiValueHeaders").is_none());

    let multi = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1"}},
        "httpMethod": "GET",
        "path": "/items",
        "multiValueQueryStringParameters": {"id": ["1", "2"]},
        "multiValueHeaders": {"accept": ["*/*"]},
        "body": "",
        "isBase64Encoded": false,
    });
    let response: Value = within(10, invoke(adapt(describe), multi)).await.json();
    assert_eq!(body_of(&response)["uri"], "/items?id=1&id=2");
    assert_eq!(
        response["multiValueHeaders"]["set-cookie"],
        json!(["session=abc; HttpOnly", "theme=dark"])
    );
    assert!(response.get("headers").is_none());
}

#[tokio::test]
async fn function_urls_are_recognised_and_binary_answers_are_base64() {
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/logo.png",
        "rawQueryString": "",
        "headers": {"host": "abcdef.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "domainName": "abcdef.lambda-url.us-east-1.on.aws", "domainPrefix": "abcdef",
            "http": {"method": "GET", "path": "/logo.png", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "curl"},
            "requestId": "r-2", "routeKey": "$default", "stage": "$default", "timeEpoch": 1_795_426_200_000_u64,
        },
        "isBase64Encoded": false,
    });
    let described: Value = within(10, invoke(adapt(describe), event.clone()))
        .await
        .json();
    assert_eq!(body_of(&described)["source"], "url");
    assert_eq!(body_of(&described)["uri"], "/logo.png");

    let response: Value = within(10, invoke(adapt(png), event)).await.json();
    assert_eq!(response["isBase64Encoded"], true);
    assert_eq!(response["body"], "iVBOR/8=");
    assert_eq!(response["statusCode"], 200);
    assert_eq!(response["headers"], json!({"content-type": "image/png"}));
}

#[tokio::test]
async fn an_event_that_is_not_http_is_an_unmarshal_error() {
    let outcome = within(10, invoke(adapt(describe), json!({"Records": []}))).await;
    let report = outcome.error();
    assert_eq!(report.error_type(), "Runtime.UnmarshalError");
    assert!(
        report.error_message().contains(
            "not an HTTP request from API Gateway, an Application Load Balancer or a function URL"
        ),
        "{}",
        report.error_message()
    );
}

#[lambda_kit::handler(main = false)]
async fn greet(event: HttpEvent, _ctx: Context) -> Result<HttpResponse, Diagnostic> {
    event
        .respond(|request| async move {
            match request.uri().query() {
                Some(query) => Ok((http::StatusCode::OK, format!("hello, {query}"))),
                None => Err(Diagnostic::new("NoName", "say who you are")),
            }
        })
        .await
}

#[tokio::test]
async fn handler_functions_take_the_http_event_and_respond() {
    let event = json!({
        "version": "2.0", "rawPath": "/hi", "rawQueryString": "ada", "headers": {},
        "requestContext": {"http": {"method": "GET"}, "stage": "$default"},
        "isBase64Encoded": false,
    });
    let response: Value = within(10, invoke(greet, event)).await.json();
    assert_eq!(
        response,
        json!({
            "statusCode": 200,
            "headers": {"content-type": "text/plain; charset=utf-8"},
            "body": "hello, ada",
            "isBase64Encoded": false,
        })
    );
    let event = json!({
        "version": "2.0", "rawPath": "/hi", "rawQueryString": "", "headers": {},
        "requestContext": {"http": {"method": "GET"}, "stage": "$default"},
        "isBase64Encoded": false,
    });
    let outcome = within(10, invoke(greet, event)).await;
    assert_eq!(outcome.error().error_type(), "NoName");
}

#[tokio::test]
async fn an_http_api_payload_1_request_loses_its_stage_prefix_too() {
    let event = json!({
        "version": "1.0",
        "resource": "/orders",
        "path": "/beta/orders",
        "httpMethod": "DELETE",
        "headers": {"accept": "*/*"},
        "multiValueHeaders": {"accept": ["*/*"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "requestContext": {"stage": "beta", "path": "/beta/orders", "httpMethod": "DELETE"},
        "body": null,
        "isBase64Encoded": false,
    });
    let response: Value = within(10, invoke(adapt(describe), event)).await.json();
    let described = body_of(&response);
    assert_eq!(described["method"], "DELETE");
    assert_eq!(described["uri"], "/orders");
    assert_eq!(described["rawPath"], "/beta/orders");
    assert_eq!(described["source"], "rest");
}

#[tokio::test]
async fn an_axum_router_serves_requests_with_its_routes_and_extractors() {
    use axum::extract::{Extension, Path};
    use axum::routing::{get, post};

    let app = axum::Router::new()
        .route(
            "/orders/{id}",
            get(|Path(id): Path<u32>| async move { format!("order {id}") }),
        )
        .route(
            "/echo",
            post(
                |Extension(ctx): Extension<Context>, body: String| async move {
                    (
                        http::StatusCode::CREATED,
                        [("x-request-id", ctx.request_id().to_owned())],
                        body.to_uppercase(),
                    )
                },
            ),
        );
    let request = |method: &str, path: &str, body: &str| {
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"content-type": "text/plain"},
            "requestContext": {
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "curl"},
                "stage": "$default", "requestId": "r-1", "domainName": "abc.lambda-url.eu-west-1.on.aws",
            },
            "body": body, "isBase64Encoded": false,
        })
    };
    let order = within(
        10,
        invoke(
            lambda_kit::http::service(app.clone()),
            request("GET", "/orders/42", ""),
        ),
    )
    .await;
    let order: Value = order.json();
    assert_eq!(
        (order["statusCode"].clone(), order["body"].clone()),
        (json!(200), json!("order 42"))
    );

    let echoed = within(
        10,
        invoke(
            lambda_kit::http::service(app.clone()),
            request("POST", "/echo", "shout"),
        ),
    )
    .await;
    let echoed: Value = echoed.json();
    assert_eq!(echoed["statusCode"], 201);
    assert_eq!(echoed["body"], "SHOUT");
    // The invocation's Context reached the route through the request's extensions.
    assert!(
        echoed["headers"]["x-request-id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{echoed}"
    );

    let missing = within(
        10,
        invoke(
            lambda_kit::http::service(app),
            request("GET", "/nowhere", ""),
        ),
    )
    .await;
    assert_eq!(missing.json::<Value>()["statusCode"], 404);
}
