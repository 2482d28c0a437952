//! `serve`'s HTTP front as each AWS front: the same plain HTTP request reaches a function built
//! on lambda-kit's HTTP adapter as a function URL, HTTP API, REST API or ALB event, and its
//! answer comes back as the same HTTP response.

use serde_json::Value;

use crate::support::{Serve, request};

#[test]
fn every_front_carries_requests_and_answers_through_the_http_adapter() {
    for (front, source) in [
        ("function-url", "FunctionUrl"),
        ("apigw-http", "ApiGatewayHttp"),
        ("apigw-rest", "ApiGatewayRest"),
        ("alb", "Alb"),
    ] {
        let serve = Serve::start_with("test-functions", &["--bin", "http", "--http-event", front]);
        let answer = request(
            serve.address,
            "POST /lambda-url/http/orders/42?tag=a&tag=b%20c HTTP/1.1\r\nCookie: k=v; j=w\r\nX-Custom: one\r\nContent-Type: text/plain",
            b"hello",
        );
        assert_eq!(answer.status, 201, "{front}: {answer:?}");
        assert_eq!(answer.header("x-answered"), Some("yes"), "{front}");
        let cookies: Vec<&str> = answer
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, value)| value.as_str())
            .collect();
        if front == "alb" {
            // Single-value headers (the target group's default) carry one value per name.
            assert_eq!(cookies.len(), 1, "{front}: {cookies:?}");
        } else {
            assert_eq!(cookies, ["session=abc; Path=/", "theme=dark"], "{front}");
        }
        let seen: Value = answer.json();
        assert_eq!(seen["source"], source, "{front}: {seen}");
        assert_eq!(seen["method"], "POST", "{front}");
        assert_eq!(
            seen["path"], "/orders/42",
            "{front}: no stage, no function prefix"
        );
        assert_eq!(seen["body"], "hello", "{front}");
        assert_eq!(seen["custom"], serde_json::json!(["one"]), "{front}");
        let cookie = seen["cookie"].to_string();
        assert!(
            cookie.contains("k=v") && cookie.contains("j=w"),
            "{front}: {cookie}"
        );
        let query = seen["query"].as_str().unwrap_or_default();
        assert!(query.contains("tag=b"), "{front}: {query}");
        // An ALB's single-value parameters keep the last value of a repeated one, as on AWS.
        assert_eq!(query.contains("tag=a"), front != "alb", "{front}: {query}");

        let binary = request(
            serve.address,
            "PUT /lambda-url/http/upload HTTP/1.1\r\nContent-Type: application/octet-stream",
            &[0, 159, 146, 150],
        );
        assert_eq!(
            binary.json()["body_bytes"],
            4,
            "{front}: binary bodies arrive whole"
        );
        let bytes = request(serve.address, "GET /lambda-url/http/binary HTTP/1.1", b"");
        assert_eq!(bytes.status, 200, "{front}");
        assert_eq!(
            bytes.body,
            [0, 1, 2, 255],
            "{front}: binary answers come back whole"
        );
    }
}
