//! Bad answers from the Runtime API: each gets a clear error and defined behaviour, never a
//! panic or a hang.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use lambda_kit::testing::{FakeRuntimeApi, Invocation};
use lambda_kit::{Context, Runtime};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{config_for, within};

async fn echo(event: Value, _: Context) -> Result<Value, Infallible> {
    Ok(event)
}

#[tokio::test]
async fn an_invocation_without_a_request_id_stops_the_runtime() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let invocation = Invocation::new(1).without_header("lambda-runtime-aws-request-id");
    let error = within(10, api.run(api.config(), echo, [invocation]))
        .await
        .unwrap_err();
    assert!(error.is_protocol(), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("without a `Lambda-Runtime-Aws-Request-Id` header"),
        "{error}"
    );
}

#[tokio::test]
async fn bad_invocation_headers_fail_that_invocation_only() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let invocations = [
        Invocation::new(1).header("lambda-runtime-deadline-ms", "soon"),
        Invocation::new(2).without_header("lambda-runtime-deadline-ms"),
        Invocation::new(3).client_context("{not json"),
        Invocation::new(4),
    ];
    let outcomes = within(10, api.run(api.config(), echo, invocations))
        .await
        .unwrap();
    let expected = [
        "the `Lambda-Runtime-Deadline-Ms` header is `soon`, not a number of milliseconds",
        "the `Lambda-Runtime-Deadline-Ms` header is missing",
        "the `Lambda-Runtime-Client-Context` header is not valid JSON",
    ];
    for (outcome, message) in outcomes.iter().zip(expected) {
        let report = outcome.error();
        assert_eq!(report.error_type(), "Runtime.InvalidInvocation");
        assert!(
            report.error_message().starts_with(message),
            "{}",
            report.error_message()
        );
    }
    assert_eq!(outcomes[3].json::<u32>(), 4);
}

#[tokio::test]
async fn an_unreachable_runtime_api_fails_start_up() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let runtime = Runtime::new(config_for(address)).logging(false);
    let error = within(10, runtime.serve(echo)).await.unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(
        format!("{error:?}").contains(&format!("`{address}`")),
        "{error:?}"
    );
}

/// One HTTP/1.1 request as a scripted server reads it.
struct RawRequest {
    head: String,
    body: Vec<u8>,
}

impl RawRequest {
    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }
}

async fn read_request(stream: &mut TcpStream) -> RawRequest {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0; 4096];
        let read = stream.read(&mut chunk).await.unwrap();
        assert_ne!(read, 0, "the runtime closed the connection mid-request");
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
    let length = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|value| value.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0; 4096];
        let read = stream.read(&mut chunk).await.unwrap();
        assert_ne!(read, 0, "the runtime closed the connection mid-body");
        body.extend_from_slice(&chunk[..read]);
    }
    RawRequest { head, body }
}

const ACCEPTED: &[u8] = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
const BROKEN: &[u8] =
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 14\r\n\r\nstate is gone!";

fn invocation(request_id: &str, body: &str, declared_length: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: {request_id}\r\nLambda-Runtime-Deadline-Ms: 4102444800000\r\n\
         Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:scripted\r\n\
         Content-Length: {declared_length}\r\n\r\n{body}"
    )
    .into_bytes()
}

/// Runs the runtime against a server that `script` plays by hand on a fresh listener, and
/// returns how the runtime stopped and what the script returned.
async fn against<S, F>(script: S) -> (Result<(), lambda_kit::Error>, F::Output)
where
    S: FnOnce(TcpListener) -> F,
    F: Future,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let runtime = Runtime::new(config_for(address)).logging(false);
    within(10, async {
        tokio::join!(runtime.serve(echo), script(listener))
    })
    .await
}

#[tokio::test]
async fn a_truncated_event_is_reported_and_the_runtime_goes_on() {
    let (stopped, report) = against(|listener| async move {
        let (mut first, _) = listener.accept().await.unwrap();
        assert!(
            read_request(&mut first)
                .await
                .request_line()
                .contains("/invocation/next")
        );
        first
            .write_all(&invocation("req-cut", "{\"half", 100))
            .await
            .unwrap();
        drop(first);
        let (mut second, _) = listener.accept().await.unwrap();
        let report = read_request(&mut second).await;
        second.write_all(ACCEPTED).await.unwrap();
        assert!(
            read_request(&mut second)
                .await
                .request_line()
                .contains("/invocation/next")
        );
        second.write_all(BROKEN).await.unwrap();
        report
    })
    .await;
    assert_eq!(
        report.request_line(),
        "POST /2018-06-01/runtime/invocation/req-cut/error HTTP/1.1"
    );
    assert!(
        report
            .head
            .to_ascii_lowercase()
            .contains("lambda-runtime-function-error-type: runtime.invalidinvocation"),
        "{}",
        report.head
    );
    let body: Value = serde_json::from_slice(&report.body).unwrap();
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("the event body could not be read"),
        "{body}"
    );
    let error = stopped.unwrap_err();
    assert!(
        error.is_protocol() && error.to_string().contains("500"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_connection_reset_while_waiting_is_asked_again() {
    let (stopped, response) = against(|listener| async move {
        let (mut first, _) = listener.accept().await.unwrap();
        assert!(
            read_request(&mut first)
                .await
                .request_line()
                .contains("/invocation/next")
        );
        drop(first);
        let (mut second, _) = listener.accept().await.unwrap();
        assert!(
            read_request(&mut second)
                .await
                .request_line()
                .contains("/invocation/next")
        );
        second
            .write_all(&invocation("req-again", "[1,2]", 5))
            .await
            .unwrap();
        let response = read_request(&mut second).await;
        second.write_all(ACCEPTED).await.unwrap();
        read_request(&mut second).await;
        second.write_all(BROKEN).await.unwrap();
        response
    })
    .await;
    assert_eq!(
        response.request_line(),
        "POST /2018-06-01/runtime/invocation/req-again/response HTTP/1.1"
    );
    assert_eq!(response.body, b"[1,2]");
    assert!(stopped.unwrap_err().is_protocol());
}

#[tokio::test]
async fn a_refused_report_is_logged_and_the_runtime_goes_on() {
    let (stopped, next) = against(|listener| async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_request(&mut stream).await;
        stream
            .write_all(&invocation("req-late", "1", 1))
            .await
            .unwrap();
        read_request(&mut stream).await;
        let refused = br#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#;
        let head = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\n\r\n",
            refused.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(refused).await.unwrap();
        let next = read_request(&mut stream).await;
        stream.write_all(BROKEN).await.unwrap();
        next
    })
    .await;
    assert!(
        next.request_line()
            .starts_with("GET /2018-06-01/runtime/invocation/next"),
        "{}",
        next.head
    );
    assert!(stopped.unwrap_err().is_protocol());
}

#[tokio::test]
async fn a_connection_reset_after_a_report_moves_on_to_the_next_invocation() {
    let (stopped, (report, next)) = against(|listener| async move {
        let (mut first, _) = listener.accept().await.unwrap();
        read_request(&mut first).await;
        first
            .write_all(&invocation("req-lost", "7", 1))
            .await
            .unwrap();
        let report = read_request(&mut first).await;
        drop(first);
        let (mut second, _) = listener.accept().await.unwrap();
        let next = read_request(&mut second).await;
        second.write_all(BROKEN).await.unwrap();
        (report, next)
    })
    .await;
    assert_eq!(
        report.request_line(),
        "POST /2018-06-01/runtime/invocation/req-lost/response HTTP/1.1"
    );
    assert!(
        next.request_line()
            .starts_with("GET /2018-06-01/runtime/invocation/next"),
        "{}",
        next.head
    );
    assert!(stopped.unwrap_err().is_protocol());
}
