//! `examples/hello-http`: a JSON API behind a public function URL.

use aws_sdk_lambda::types::FunctionUrlAuthType;
use serde_json::json;

use super::{deploy, serve};
use crate::moto::Moto;
use crate::support::{get, request};

#[tokio::test]
async fn hello_http_deploys_a_public_url_and_answers_its_routes() {
    let Some(moto) = Moto::start() else { return };
    deploy(&moto, "hello-http");

    let lambda = aws_sdk_lambda::Client::new(&moto.config().await);
    let url = lambda
        .get_function_url_config()
        .function_name("hello-http")
        .send()
        .await
        .unwrap();
    assert_eq!(url.auth_type(), &FunctionUrlAuthType::None);
    let policy = lambda
        .get_policy()
        .function_name("hello-http")
        .send()
        .await
        .unwrap();
    assert!(
        policy
            .policy()
            .unwrap()
            .contains("lambda:InvokeFunctionUrl"),
        "{policy:?}"
    );

    // The HTTP API: its routes, each to the function through one integration.
    let apis: serde_json::Value =
        serde_json::from_str(&moto.aws(&["apigatewayv2", "get-apis"])).unwrap();
    assert_eq!(apis["Items"][0]["Name"], "hello-http", "{apis:#}");
    let api_id = apis["Items"][0]["ApiId"].as_str().unwrap();
    let routes: serde_json::Value =
        serde_json::from_str(&moto.aws(&["apigatewayv2", "get-routes", "--api-id", api_id]))
            .unwrap();
    let mut keys: Vec<&str> = routes["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|route| route["RouteKey"].as_str().unwrap())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["GET /products", "GET /products/{sku}", "POST /quotes"]
    );

    let serve = serve(&moto, "hello-http", &[]);
    // The first steps serve suggests fit an HTTP function: its URL, an HTTP event.
    let url = format!("http://{}/lambda-url/hello-http/", serve.address);
    let hint = serve.output_with(&[&url]);
    assert!(
        hint.iter().any(|line| line.contains("invoke hello-http")
            && line.contains("--event function-url")),
        "{hint:?}"
    );
    let products = get(serve.address, "/lambda-url/hello-http/products");
    assert_eq!(products.status, 200);
    assert_eq!(products.json()[2]["sku"], "cheese");
    assert_eq!(products.header("content-type"), Some("application/json"));

    let quote = request(
        serve.address,
        "POST /lambda-url/hello-http/quotes HTTP/1.1\r\nContent-Type: application/json",
        br#"{"lines": [{"sku": "cheese", "quantity": 2}]}"#,
    );
    assert_eq!(quote.status, 201);
    assert_eq!(quote.json()["total_cents"], 1440);

    let refused = request(
        serve.address,
        "POST /lambda-url/hello-http/quotes HTTP/1.1\r\nContent-Type: application/json",
        br#"{"lines": [{"sku": "cheese", "quantity": 101}]}"#,
    );
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json(),
        json!({"error": "quantity 101 is not between 1 and 100", "at": "lines[0].quantity"})
    );
    assert_eq!(
        get(serve.address, "/lambda-url/hello-http/nowhere").status,
        404
    );

    // The same routes through the HTTP API, at `/` of serve's port, listed at its start.
    serve.output_with(&["API `hello-http`", "GET /products/{sku} -> `hello-http`"]);
    let cheese = get(serve.address, "/products/cheese");
    assert_eq!(cheese.status, 200);
    assert_eq!(cheese.json()["name"], "Comté, 200 g");
    let quote = request(
        serve.address,
        "POST /quotes HTTP/1.1\r\nContent-Type: application/json\r\nOrigin: https://anywhere.example",
        br#"{"lines": [{"sku": "bread", "quantity": 2}]}"#,
    );
    assert_eq!(quote.status, 201);
    assert_eq!(quote.json()["total_cents"], 900);
    assert_eq!(quote.header("access-control-allow-origin"), Some("*"));
    // A path no route has: API Gateway's own 404.
    let nowhere = get(serve.address, "/nowhere");
    assert_eq!(nowhere.status, 404);
    assert_eq!(nowhere.json(), json!({"message": "Not Found"}));
}
