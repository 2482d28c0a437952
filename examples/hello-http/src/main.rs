//! A JSON API behind a function URL: a product catalogue to read and order quotes to ask for.
//! Requests that are not right get a 400 whose JSON body says what is wrong and where.
//!
//! The routes are an axum `Router`, served on Lambda by `lambda_kit::http::service`: the same
//! router runs behind a function URL, an API Gateway or an ALB, and in `cargo lambdakit serve`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

fn main() -> Result<(), lambda_kit::Error> {
    lambda_kit::run(lambda_kit::http::service(app()))
}

fn app() -> Router {
    Router::new()
        .route("/products", get(products))
        .route("/products/{sku}", get(product))
        .route("/quotes", post(quote))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Product {
    sku: &'static str,
    name: &'static str,
    price_cents: u64,
}

/// The catalogue, compiled in: a real API would read it from a table once per cold start.
const CATALOGUE: &[Product] = &[
    Product {
        sku: "apple",
        name: "Apple",
        price_cents: 40,
    },
    Product {
        sku: "bread",
        name: "Sourdough loaf",
        price_cents: 450,
    },
    Product {
        sku: "cheese",
        name: "Comté, 200 g",
        price_cents: 720,
    },
];

/// The most of one product a quote may hold.
const MAX_QUANTITY: u32 = 100;

async fn products() -> Json<&'static [Product]> {
    Json(CATALOGUE)
}

async fn product(Path(sku): Path<String>) -> Result<Json<Product>, ApiError> {
    find(&sku).map(Json).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("no product `{sku}`")).at("sku")
    })
}

fn find(sku: &str) -> Option<Product> {
    CATALOGUE.iter().find(|product| product.sku == sku).copied()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuoteRequest {
    lines: Vec<Line>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    sku: String,
    quantity: u32,
}

#[derive(Debug, Serialize)]
struct Quote {
    lines: Vec<QuotedLine>,
    total_cents: u64,
}

#[derive(Debug, Serialize)]
struct QuotedLine {
    sku: &'static str,
    quantity: u32,
    cents: u64,
}

/// `POST /quotes`: prices `{"lines": [{"sku": "apple", "quantity": 3}, ...]}`.
///
/// The body is taken as bytes and decoded here, rather than by axum's `Json` extractor, so
/// that every bad request gets this API's error shape, with the JSON path of the mistake.
async fn quote(body: Bytes) -> Result<(StatusCode, Json<Quote>), ApiError> {
    let request: QuoteRequest = decode(&body)?;
    if request.lines.is_empty() {
        return Err(ApiError::invalid("a quote needs at least one line").at("lines"));
    }
    let mut lines = Vec::with_capacity(request.lines.len());
    for (index, line) in request.lines.iter().enumerate() {
        let product = find(&line.sku).ok_or_else(|| {
            ApiError::invalid(format!("no product `{}`", line.sku))
                .at(format!("lines[{index}].sku"))
        })?;
        if !(1..=MAX_QUANTITY).contains(&line.quantity) {
            return Err(ApiError::invalid(format!(
                "quantity {} is not between 1 and {MAX_QUANTITY}",
                line.quantity
            ))
            .at(format!("lines[{index}].quantity")));
        }
        lines.push(QuotedLine {
            sku: product.sku,
            quantity: line.quantity,
            cents: product.price_cents * u64::from(line.quantity),
        });
    }
    let total_cents = lines.iter().map(|line| line.cents).sum();
    Ok((StatusCode::CREATED, Json(Quote { lines, total_cents })))
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut decoder = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut decoder).map_err(|error| {
        let path = error.path().to_string();
        let error = ApiError::invalid(error.into_inner().to_string());
        if path == "." { error } else { error.at(path) }
    })
}

/// An answer other than success: its status, and `{"error": ..., "at": ...}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    at: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            at: None,
        }
    }

    /// A request that asks for something this API cannot do: 400.
    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// Where in the request the mistake is.
    fn at(mut self, at: impl Into<String>) -> Self {
        self.at = Some(at.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            at: Option<String>,
        }
        let body = Body {
            error: self.message,
            at: self.at,
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use lambda_kit::testing::invoke;
    use serde_json::{Value, json};

    use super::app;

    /// A function URL's event for `method path` with `body`, and the response it gets.
    async fn call(method: &str, path: &str, body: &str) -> (u16, Value) {
        let event = json!({
            "version": "2.0",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
                "domainName": "abc.lambda-url.eu-west-1.on.aws",
                "requestId": "r-1",
                "timeEpoch": 0
            },
            "body": body,
            "isBase64Encoded": false
        });
        let response: Value = invoke(lambda_kit::http::service(app()), event).await.json();
        let status = response["statusCode"].as_u64().unwrap_or_default() as u16;
        let body = response["body"].as_str().unwrap_or_default();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn a_quote_is_priced_from_the_catalogue() {
        let (status, quote) = call(
            "POST",
            "/quotes",
            r#"{"lines": [{"sku": "apple", "quantity": 3}, {"sku": "bread", "quantity": 1}]}"#,
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(quote["total_cents"], 570);
        assert_eq!(quote["lines"][0]["cents"], 120);
    }

    #[tokio::test]
    async fn bad_quotes_are_400s_that_say_where() {
        for (body, error, at) in [
            (
                r#"{"lines": []}"#,
                "a quote needs at least one line",
                "lines",
            ),
            (
                r#"{"lines": [{"sku": "pear", "quantity": 1}]}"#,
                "no product `pear`",
                "lines[0].sku",
            ),
            (
                r#"{"lines": [{"sku": "apple", "quantity": 0}]}"#,
                "quantity 0 is not between 1 and 100",
                "lines[0].quantity",
            ),
        ] {
            let (status, answer) = call("POST", "/quotes", body).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(answer, json!({"error": error, "at": at}), "{body}");
        }
        let (status, answer) = call("POST", "/quotes", r#"{"lines": [{"sku": 7}]}"#).await;
        assert_eq!(status, 400);
        assert_eq!(answer["at"], "lines[0].sku");
        let (status, _) = call("POST", "/quotes", "not json").await;
        assert_eq!(status, 400);
    }

    #[tokio::test]
    async fn products_are_listed_and_found_by_sku() {
        let (status, products) = call("GET", "/products", "").await;
        assert_eq!(status, 200);
        assert_eq!(products.as_array().map(Vec::len), Some(3));
        let (status, product) = call("GET", "/products/cheese", "").await;
        assert_eq!((status, &product["price_cents"]), (200, &json!(720)));
        let (status, missing) = call("GET", "/products/pear", "").await;
        assert_eq!(status, 404);
        assert_eq!(missing, json!({"error": "no product `pear`", "at": "sku"}));
    }
}
