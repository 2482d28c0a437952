//! The Runtime API server's rules, each tested once, with raw HTTP against `FakeRuntimeApi`
//! (the server `cargo lambdakit serve` runs too): what `/next` hands out, and how every report
//! is taken or refused, in Lambda's status codes and `{"errorMessage", "errorType"}` bodies.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_kit::testing::{FakeRuntimeApi, Invocation};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::within;

/// The Runtime API's largest buffered response, as Lambda's server counts it.
const LIMIT: usize = 6 * 1024 * 1024 + 100;

/// An answer read off the wire.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a refusal: its status, and Lambda's error document with `error_type`.
    #[track_caller]
    pub(crate) fn assert_refused(&self, status: u16, error_type: &str) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let document = self.json();
        assert_eq!(document["errorType"], error_type, "{document}");
        assert!(
            document["errorMessage"]
                .as_str()
                .is_some_and(|message| !message.is_empty()),
            "{document}"
        );
        assert_eq!(
            document.as_object().map(|fields| fields.len()),
            Some(2),
            "{document}"
        );
    }
}

/// Sends one request (closing the connection after it) and reads the answer.
pub(crate) async fn send(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("transfer-encoding"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let end = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap();
    let head = String::from_utf8(answer[..end].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head,
        body: answer[end + 4..].to_vec(),
    }
}

pub(crate) async fn next(address: SocketAddr) -> Answer {
    within(
        5,
        send(
            address,
            "GET",
            "/2018-06-01/runtime/invocation/next",
            &[],
            b"",
        ),
    )
    .await
}

pub(crate) async fn report(
    address: SocketAddr,
    request_id: &str,
    verb: &str,
    body: &[u8],
) -> Answer {
    let path = format!("/2018-06-01/runtime/invocation/{request_id}/{verb}");
    send(address, "POST", &path, &[], body).await
}

#[tokio::test]
async fn next_hands_out_the_event_with_its_headers() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let id = api.push(
        Invocation::new(json!({"n": 1}))
            .timeout(Duration::from_secs(30))
            .trace_id("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
            .client_context(r#"{"custom":{"k":"v"}}"#)
            .identity(r#"{"cognitoIdentityId":"i"}"#)
            .tenant_id("blue"),
    );
    let handed = next(api.address()).await;
    assert_eq!(handed.status, 200);
    assert_eq!(handed.json(), json!({"n": 1}));
    assert_eq!(
        handed.header("Lambda-Runtime-Aws-Request-Id"),
        Some(id.as_str())
    );
    assert_eq!(handed.header("Content-Type"), Some("application/json"));
    assert_eq!(
        handed.header("Lambda-Runtime-Invoked-Function-Arn"),
        Some("arn:aws:lambda:us-east-1:123456789012:function:test-function")
    );
    assert_eq!(
        handed.header("Lambda-Runtime-Trace-Id"),
        Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    );
    assert_eq!(
        handed.header("Lambda-Runtime-Client-Context"),
        Some(r#"{"custom":{"k":"v"}}"#)
    );
    assert_eq!(
        handed.header("Lambda-Runtime-Cognito-Identity"),
        Some(r#"{"cognitoIdentityId":"i"}"#)
    );
    assert_eq!(handed.header("Lambda-Runtime-Aws-Tenant-Id"), Some("blue"));
    // The deadline counts from the hand-out.
    let deadline: u128 = handed
        .header("Lambda-Runtime-Deadline-Ms")
        .unwrap()
        .parse()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(
        (now + 28_000..=now + 30_000).contains(&deadline),
        "{deadline} vs {now}"
    );
}

#[tokio::test]
async fn a_response_is_taken_once_and_a_second_is_an_invalid_state_transition() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let id = api.push(Invocation::new(1));
    next(api.address()).await;
    let taken = report(api.address(), &id, "response", b"\"done\"").await;
    assert_eq!((taken.status, taken.json()), (202, json!({"status": "OK"})));
    assert_eq!(api.outcome(&id).await.response(), "\"done\"");

    report(api.address(), &id, "response", b"\"again\"")
        .await
        .assert_refused(403, "InvalidStateTransition");
    report(api.address(), &id, "error", b"{}")
        .await
        .assert_refused(403, "InvalidStateTransition");
}

#[tokio::test]
async fn a_report_for_an_id_not_handed_out_is_an_invalid_request_id() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let queued = api.push(Invocation::new(1));
    report(api.address(), "never-queued", "response", b"1")
        .await
        .assert_refused(400, "InvalidRequestID");
    // Queued, but `/next` has not handed it out yet.
    report(api.address(), &queued, "response", b"1")
        .await
        .assert_refused(400, "InvalidRequestID");
    report(api.address(), &queued, "error", b"{}")
        .await
        .assert_refused(400, "InvalidRequestID");
    // Once handed out, it can be answered.
    next(api.address()).await;
    assert_eq!(
        report(api.address(), &queued, "response", b"1")
            .await
            .status,
        202
    );
}

#[tokio::test]
async fn a_response_over_the_limit_is_refused_and_fails_the_invocation() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let fits = api.push(Invocation::new(1));
    let over = api.push(Invocation::new(2));
    next(api.address()).await;
    assert_eq!(
        report(api.address(), &fits, "response", &vec![b'x'; LIMIT])
            .await
            .status,
        202
    );
    assert_eq!(api.outcome(&fits).await.response().len(), LIMIT);

    next(api.address()).await;
    let refused = report(api.address(), &over, "response", &vec![b'x'; LIMIT + 1]).await;
    refused.assert_refused(413, "RequestEntityTooLarge");
    assert_eq!(
        refused.json()["errorMessage"],
        "Exceeded maximum allowed payload size (6291556 bytes)."
    );
    let outcome = api.outcome(&over).await;
    assert_eq!(
        outcome.error().error_type(),
        "Function.ResponseSizeTooLarge"
    );
    assert_eq!(
        outcome.error().error_message(),
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    );
    // The invocation is over: the runtime cannot report on it again.
    report(api.address(), &over, "error", b"{}")
        .await
        .assert_refused(403, "InvalidStateTransition");
}

#[tokio::test]
async fn an_error_report_keeps_its_type_header_and_body() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let id = api.push(Invocation::new(1));
    next(api.address()).await;
    let path = format!("/2018-06-01/runtime/invocation/{id}/error");
    let body = br#"{"errorMessage":"no stock","errorType":"OutOfStock","stackTrace":["at a"]}"#;
    let taken = send(
        api.address(),
        "POST",
        &path,
        &[("Lambda-Runtime-Function-Error-Type", "OutOfStock")],
        body,
    )
    .await;
    assert_eq!(taken.status, 202);
    let outcome = api.outcome(&id).await;
    let error = outcome.error();
    assert_eq!(error.error_type_header(), Some("OutOfStock"));
    assert_eq!(
        (error.error_type(), error.error_message()),
        ("OutOfStock", "no stock")
    );
    assert_eq!(error.stack_trace(), ["at a"]);
    assert_eq!(error.body(), &body[..]);
}

#[tokio::test]
async fn an_init_error_is_recorded_with_its_type() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let taken = send(
        api.address(),
        "POST",
        "/2018-06-01/runtime/init/error",
        &[("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")],
        br#"{"errorMessage":"no table","errorType":"Runtime.ConfigError"}"#,
    )
    .await;
    assert_eq!(taken.status, 202);
    let reports = api.init_errors();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].error_type_header(), Some("Runtime.ConfigError"));
    assert_eq!(reports[0].error_message(), "no table");
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_refused_in_lambdas_shape() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let address = api.address();
    for path in [
        "/2018-06-01/runtime/invocation/id/result",
        "/2018-06-01/runtime/invocation//response",
        "/2018-06-01/runtime/nothing",
        "/2020-01-01/extension/unknown",
        "/2022-07-01/logs",
        "/",
    ] {
        send(address, "POST", path, &[], b"{}")
            .await
            .assert_refused(404, "InvalidRequest");
    }
    send(
        address,
        "POST",
        "/2018-06-01/runtime/invocation/next",
        &[],
        b"",
    )
    .await
    .assert_refused(405, "InvalidRequest");
    send(address, "GET", "/2018-06-01/runtime/init/error", &[], b"")
        .await
        .assert_refused(405, "InvalidRequest");
    send(
        address,
        "GET",
        "/2018-06-01/runtime/invocation/id/response",
        &[],
        b"",
    )
    .await
    .assert_refused(405, "InvalidRequest");
}

/// A streamed `/response` in HTTP/1.1 chunks, with `trailers` after the last.
fn chunked(chunks: &[&[u8]], trailers: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for chunk in chunks {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("0\r\n{trailers}\r\n").as_bytes());
    body
}

#[tokio::test]
async fn a_streamed_response_is_taken_in_any_case_of_its_mode_and_ends_with_its_trailers() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let id = api.push(Invocation::new(1));
    next(api.address()).await;
    let path = format!("/2018-06-01/runtime/invocation/{id}/response");
    let trailers = "Lambda-Runtime-Function-Error-Type: Broke\r\n\
                    Lambda-Runtime-Function-Error-Body: eyJlcnJvck1lc3NhZ2UiOiJoYWxmIiwiZXJyb3JUeXBlIjoiQnJva2UifQ==\r\n";
    let taken = send(
        api.address(),
        "POST",
        &path,
        &[
            ("LAMBDA-Runtime-Function-Response-Mode", "Streaming"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked(&[b"one ", b"two"], trailers),
    )
    .await;
    assert_eq!(taken.status, 202);
    let outcome = api.outcome(&id).await;
    let streamed = outcome.streamed();
    assert_eq!(streamed.body(), "one two");
    assert!(streamed.is_complete());
    let error = streamed.error().unwrap();
    assert_eq!(error.error_type_header(), Some("Broke"));
    assert_eq!(
        (error.error_type(), error.error_message()),
        ("Broke", "half")
    );
    report(api.address(), &id, "response", b"1")
        .await
        .assert_refused(403, "InvalidStateTransition");
}

#[tokio::test]
async fn a_response_mode_other_than_streaming_is_refused() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let id = api.push(Invocation::new(1));
    next(api.address()).await;
    let path = format!("/2018-06-01/runtime/invocation/{id}/response");
    send(
        api.address(),
        "POST",
        &path,
        &[("Lambda-Runtime-Function-Response-Mode", "trickle")],
        b"1",
    )
    .await
    .assert_refused(400, "InvalidFunctionResponseMode");
    // Refused before it was taken: the invocation can still be answered.
    assert_eq!(
        report(api.address(), &id, "response", b"1").await.status,
        202
    );
}

#[tokio::test]
async fn a_request_id_over_the_limit_is_refused_naming_the_limit() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let refused = report(api.address(), &"a".repeat(129), "response", b"1").await;
    refused.assert_refused(400, "InvalidRequestID");
    let message = refused.json()["errorMessage"].to_string();
    assert!(
        message.contains("129 bytes") && message.contains("128"),
        "{message}"
    );
    // At the limit, an id is looked up as any other.
    let at_limit = api.push(Invocation::new(1).request_id(&"b".repeat(128)));
    next(api.address()).await;
    assert_eq!(
        report(api.address(), &at_limit, "response", b"1")
            .await
            .status,
        202
    );
}

#[tokio::test]
async fn headers_up_to_a_mebibyte_are_taken_and_larger_ones_refused_in_lambdas_shape() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let id = api.push(Invocation::new(1));
    next(api.address()).await;
    let path = format!("/2018-06-01/runtime/invocation/{id}/error");
    // AWS's runtimes send an X-Ray error cause of up to 1 MiB with `/error`.
    let cause = format!(
        r#"{{"paths":[],"exceptions":[{{"message":"{}"}}]}}"#,
        "x".repeat(600 * 1024)
    );
    let taken = within(
        10,
        send(
            api.address(),
            "POST",
            &path,
            &[
                ("Lambda-Runtime-Function-Error-Type", "Big"),
                ("Lambda-Runtime-Function-XRay-Error-Cause", &cause),
            ],
            br#"{"errorMessage":"big","errorType":"Big"}"#,
        ),
    )
    .await;
    assert_eq!(
        taken.status,
        202,
        "{}",
        String::from_utf8_lossy(&taken.body)
    );
    assert_eq!(api.outcome(&id).await.error().error_type(), "Big");

    let id = api.push(Invocation::new(2));
    next(api.address()).await;
    let path = format!("/2018-06-01/runtime/invocation/{id}/error");
    let over = "y".repeat(1024 * 1024 + 1024);
    let refused = within(
        10,
        send(
            api.address(),
            "POST",
            &path,
            &[("Lambda-Runtime-Function-XRay-Error-Cause", &over)],
            b"{}",
        ),
    )
    .await;
    refused.assert_refused(431, "RequestHeaderFieldsTooLarge");
    // Refused before it was taken: the invocation can still be reported on.
    assert_eq!(
        report(api.address(), &id, "response", b"2").await.status,
        202
    );
}
