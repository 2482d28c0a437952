//! Streamed responses on the wire: chunked, sent as produced, with Lambda's error trailers
//! and the function URL prelude.

use std::cell::Cell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};

use base64::Engine as _;
use bytes::Bytes;
use lambda_kit::streaming::{Stream, StreamResponse};
use lambda_kit::testing::{FakeRuntimeApi, Invocation, Outcome, invoke};
use lambda_kit::{Context, Diagnostic};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::support::within;

/// A stream of prepared items, for handlers that stream what they already have.
struct Items(VecDeque<Result<Bytes, Diagnostic>>);

impl Items {
    fn new(items: impl IntoIterator<Item = Result<&'static str, Diagnostic>>) -> Self {
        Self(
            items
                .into_iter()
                .map(|item| item.map(Bytes::from))
                .collect(),
        )
    }
}

impl Stream for Items {
    type Item = Result<Bytes, Diagnostic>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.pop_front())
    }
}

fn header<'a>(outcome: &'a Outcome, name: &str) -> Option<&'a str> {
    outcome
        .streamed()
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

#[tokio::test]
async fn chunks_are_sent_as_they_are_produced() {
    // The handler writes its second chunk only once the test has read the first one from the
    // Runtime API: a runtime that buffered the body would never send the first, and the test
    // would time out.
    let (go, wait) = oneshot::channel::<()>();
    let wait = Rc::new(Cell::new(Some(wait)));
    let handler = move |_: Value, _: Context| {
        let wait = wait.take();
        async move {
            Ok::<_, Diagnostic>(StreamResponse::from_writer(|mut body| async move {
                body.write("first ").await;
                if let Some(wait) = wait {
                    wait.await.map_err(|_| Diagnostic::new("Test", "no go"))?;
                }
                body.write("second ").await;
                body.write("third").await;
                Ok::<_, Diagnostic>(())
            }))
        }
    };
    let api = FakeRuntimeApi::start().await.unwrap();
    let invocation = Invocation::new(json!({})).request_id("stream-1");
    let (outcomes, ()) = within(10, async {
        tokio::join!(api.run(api.config(), handler, [invocation]), async {
            let first = api.next_chunk("stream-1").await;
            assert_eq!(first.as_deref(), Some(&b"first "[..]));
            go.send(()).unwrap();
        })
    })
    .await;
    let outcome = &outcomes.unwrap()[0];
    let streamed = outcome.streamed();
    assert_eq!(streamed.chunks(), ["first ", "second ", "third"]);
    assert_eq!(outcome.response(), "first second third");
    assert!(streamed.is_complete());
    assert!(streamed.trailers().is_none());
    assert!(streamed.error().is_none());
    assert_eq!(
        header(outcome, "lambda-runtime-function-response-mode"),
        Some("streaming")
    );
    assert_eq!(header(outcome, "transfer-encoding"), Some("chunked"));
    assert_eq!(
        header(outcome, "trailer"),
        Some("lambda-runtime-function-error-type, lambda-runtime-function-error-body")
    );
    assert_eq!(header(outcome, "content-length"), None);
    assert_eq!(streamed.content_type(), Some("application/octet-stream"));
}

#[tokio::test]
async fn a_stream_is_sent_item_by_item_with_its_content_type() {
    async fn lines(_: Value, _: Context) -> Result<StreamResponse, Diagnostic> {
        Ok(
            StreamResponse::new(Items::new([Ok("{\"n\":1}\n"), Ok(""), Ok("{\"n\":2}\n")]))
                .content_type(http::HeaderValue::from_static("application/x-ndjson")),
        )
    }
    let outcome = within(10, invoke(lines, json!({}))).await;
    let streamed = outcome.streamed();
    // The empty item is not sent: an empty chunk would end the body.
    assert_eq!(streamed.chunks(), ["{\"n\":1}\n", "{\"n\":2}\n"]);
    assert_eq!(streamed.content_type(), Some("application/x-ndjson"));
}

#[tokio::test]
async fn an_error_mid_stream_ends_it_with_the_error_trailers() {
    // The same handler streams twice on one connection: the failed stream ended cleanly.
    async fn flaky(fail: bool, _: Context) -> Result<StreamResponse, Diagnostic> {
        let second = if fail {
            Err(Diagnostic::new("UpstreamClosed", "the upstream went away"))
        } else {
            Ok("rest")
        };
        Ok(StreamResponse::new(Items::new([
            Ok("partial "),
            second,
            Ok("never sent"),
        ])))
    }
    let api = FakeRuntimeApi::start().await.unwrap();
    let outcomes = within(
        10,
        api.run(
            api.config(),
            flaky,
            [Invocation::new(true), Invocation::new(false)],
        ),
    )
    .await
    .unwrap();

    let failed = outcomes[0].streamed();
    assert_eq!(failed.chunks(), ["partial "]);
    assert!(failed.is_complete());
    let trailers = failed.trailers().unwrap();
    assert_eq!(trailers.len(), 2, "{trailers:?}");
    assert_eq!(
        trailers["lambda-runtime-function-error-type"],
        "UpstreamClosed"
    );
    let document = base64::engine::general_purpose::STANDARD
        .decode(trailers["lambda-runtime-function-error-body"].as_bytes())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&document).unwrap(),
        json!({"errorType": "UpstreamClosed", "errorMessage": "the upstream went away"})
    );
    let report = outcomes[0].error();
    assert_eq!(report.error_type_header(), Some("UpstreamClosed"));
    assert_eq!(report.error_message(), "the upstream went away");

    assert_eq!(outcomes[1].response(), "partial restnever sent");
    assert_eq!(api.connections(), 1);
}

#[tokio::test]
async fn a_writer_error_is_sent_after_what_it_wrote() {
    async fn handler(_: Value, _: Context) -> Result<StreamResponse, Diagnostic> {
        Ok(StreamResponse::from_writer(|mut body| async move {
            body.write("header\n").await;
            body.write("row 1\n").await;
            Err(Diagnostic::new("QueryFailed", "row 2 is unreadable"))
        }))
    }
    let outcome = within(10, invoke(handler, json!({}))).await;
    assert_eq!(outcome.streamed().chunks(), ["header\n", "row 1\n"]);
    assert_eq!(outcome.error().error_type_header(), Some("QueryFailed"));
    assert_eq!(outcome.error().error_type(), "QueryFailed");
    assert_eq!(outcome.error().error_message(), "row 2 is unreadable");
}

#[tokio::test]
async fn a_panic_mid_stream_is_reported_in_the_trailers_and_the_runtime_goes_on() {
    async fn handler(explode: bool, _: Context) -> Result<StreamResponse, Diagnostic> {
        Ok(StreamResponse::from_writer(move |mut body| async move {
            body.write("before").await;
            assert!(!explode, "the body exploded");
            body.write(" after").await;
            Ok::<_, Diagnostic>(())
        }))
    }
    let api = FakeRuntimeApi::start().await.unwrap();
    let outcomes = within(
        10,
        api.run(
            api.config(),
            handler,
            [Invocation::new(true), Invocation::new(false)],
        ),
    )
    .await
    .unwrap();
    assert_eq!(outcomes[0].streamed().chunks(), ["before"]);
    let report = outcomes[0].error();
    assert_eq!(report.error_type_header(), Some("Panic"));
    assert_eq!(report.error_type(), "Panic");
    assert_eq!(report.error_message(), "the body exploded");
    assert_eq!(outcomes[1].response(), "before after");
}

#[tokio::test]
async fn an_error_before_the_body_goes_to_the_error_endpoint() {
    async fn handler(_: Value, _: Context) -> Result<StreamResponse, Diagnostic> {
        Err(Diagnostic::new("NotFound", "no such report"))
    }
    let outcome = within(10, invoke(handler, json!({}))).await;
    let Outcome::Error(report) = &outcome else {
        panic!("expected a report to `/error`, got {outcome:?}");
    };
    assert_eq!(report.error_type(), "NotFound");
}

#[tokio::test]
async fn function_url_responses_start_with_the_prelude_and_eight_nuls() {
    async fn page(_: Value, _: Context) -> Result<StreamResponse, Diagnostic> {
        let body = StreamResponse::new(Items::new([Ok("<p>"), Ok("hello</p>")]));
        let response = http::Response::builder()
            .status(http::StatusCode::CREATED)
            .header("content-type", "text/html")
            .header("x-trace", "a")
            .header("x-trace", "b")
            .header("set-cookie", "session=1; Secure")
            .header("set-cookie", "theme=dark")
            .body(body)
            .map_err(|error| Diagnostic::new("BadResponse", error.to_string()))?;
        Ok(StreamResponse::from(response))
    }
    let outcome = within(10, invoke(page, json!({}))).await;
    let streamed = outcome.streamed();
    assert_eq!(
        streamed.content_type(),
        Some("application/vnd.awslambda.http-integration-response")
    );
    let mut expected = br#"{"statusCode":201,"headers":{"content-type":"text/html","x-trace":"a,b"},"cookies":["session=1; Secure","theme=dark"]}"#.to_vec();
    expected.extend_from_slice(&[0; 8]);
    expected.extend_from_slice(b"<p>hello</p>");
    assert_eq!(streamed.body().as_ref(), expected.as_slice());
    // The prelude is sent ahead of the body, as a chunk of its own.
    assert_eq!(streamed.chunks().len(), 3);
    assert_eq!(streamed.http_body(), Some(&b"<p>hello</p>"[..]));
    assert_eq!(streamed.http_prelude().unwrap()["statusCode"], 201);
}

#[tokio::test]
async fn a_function_url_response_without_cookies_has_an_empty_list() {
    async fn empty(_: Value, _: Context) -> Result<StreamResponse, Diagnostic> {
        let body = StreamResponse::new(Items::new([]));
        Ok(StreamResponse::from(http::Response::new(body)))
    }
    let outcome = within(10, invoke(empty, json!({}))).await;
    let mut expected = br#"{"statusCode":200,"headers":{},"cookies":[]}"#.to_vec();
    expected.extend_from_slice(&[0; 8]);
    assert_eq!(outcome.streamed().body().as_ref(), expected.as_slice());
}

#[tokio::test]
async fn streams_are_not_held_to_the_buffered_limit() {
    // 8 MiB, past the 6 MB of a buffered response, in 64 KiB chunks.
    async fn large(_: Value, _: Context) -> Result<StreamResponse, Diagnostic> {
        Ok(StreamResponse::from_writer(|mut body| async move {
            for n in 0..128u8 {
                body.write(vec![n; 64 * 1024]).await;
            }
            Ok::<_, Diagnostic>(())
        }))
    }
    let outcome = within(30, invoke(large, json!({}))).await;
    let body = outcome.response();
    assert_eq!(body.len(), 8 * 1024 * 1024);
    assert!(
        body.chunks(64 * 1024)
            .enumerate()
            .all(|(n, chunk)| chunk.iter().all(|byte| usize::from(*byte) == n))
    );
}

#[tokio::test]
async fn a_stream_over_its_limit_is_cut_before_the_limit_with_an_error() {
    async fn unbounded(_: Value, _: Context) -> Result<StreamResponse, Diagnostic> {
        let body = StreamResponse::from_writer(|mut body| async move {
            loop {
                body.write(vec![b'x'; 40 * 1024]).await;
            }
            #[allow(unreachable_code)]
            Ok::<_, Diagnostic>(())
        });
        Ok(body.max_bytes(100 * 1024))
    }
    let outcome = within(10, invoke(unbounded, json!({}))).await;
    let streamed = outcome.streamed();
    // Two chunks (80 KiB) fit; the third would cross 100 KiB and is not sent.
    assert_eq!(streamed.body().len(), 80 * 1024);
    assert!(streamed.is_complete());
    let report = outcome.error();
    assert_eq!(report.error_type(), "Function.ResponseSizeTooLarge");
    assert!(
        report
            .error_message()
            .contains("over its limit of 102400 bytes"),
        "{}",
        report.error_message()
    );
}

#[tokio::test]
async fn buffered_responses_are_still_sent_whole() {
    async fn plain(n: u32, _: Context) -> Result<u32, Diagnostic> {
        Ok(n + 1)
    }
    let api = FakeRuntimeApi::start().await.unwrap();
    let outcomes = within(
        10,
        api.run(
            api.config(),
            plain,
            [Invocation::new(1).request_id("plain-1")],
        ),
    )
    .await
    .unwrap();
    assert!(
        matches!(&outcomes[0], Outcome::Response(body) if body == "2"),
        "{:?}",
        outcomes[0]
    );
    // A buffered response ends the chunk feed without a chunk.
    assert_eq!(within(10, api.next_chunk("plain-1")).await, None);
}

/// The raw bytes of one request, read by a scripted server: the head, and the body up to the
/// end of its chunked encoding.
async fn read_chunked(stream: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
    use tokio::io::AsyncReadExt;

    let mut buffer = Vec::new();
    let mut chunk = [0; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        let read = stream.read(&mut chunk).await.unwrap();
        assert_ne!(read, 0, "the runtime closed the connection mid-request");
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
    let mut body = buffer[head_end..].to_vec();
    // The tests' chunks hold no CR or LF, so the body ends at the first empty line after a
    // last chunk (`0`).
    while !(body.starts_with(b"0\r\n") || body.windows(5).any(|window| window == b"\r\n0\r\n"))
        || !body.ends_with(b"\r\n\r\n")
    {
        let read = stream.read(&mut chunk).await.unwrap();
        assert_ne!(read, 0, "the runtime closed the connection mid-body");
        body.extend_from_slice(&chunk[..read]);
    }
    (head, body)
}

/// Reads a request without a body (`/next`).
async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;

    let mut buffer = Vec::new();
    let mut chunk = [0; 1024];
    while !buffer.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut chunk).await.unwrap();
        assert_ne!(read, 0, "the runtime closed the connection");
        buffer.extend_from_slice(&chunk[..read]);
    }
    String::from_utf8(buffer).unwrap()
}

fn scripted_invocation(request_id: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: {request_id}\r\n\
         Lambda-Runtime-Deadline-Ms: 4102444800000\r\nContent-Length: 2\r\n\r\n{{}}"
    )
    .into_bytes()
}

const BROKEN: &[u8] =
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 14\r\n\r\nstate is gone!";

#[tokio::test]
async fn on_the_wire_the_stream_is_chunked_and_ends_with_the_trailers() {
    use tokio::io::AsyncWriteExt;

    async fn failing(_: Value, _: Context) -> Result<StreamResponse, Diagnostic> {
        Ok(StreamResponse::new(Items::new([
            Ok("first"),
            Ok("second"),
            Err(Diagnostic::new("Boom", "it broke")),
        ])))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime =
        lambda_kit::Runtime::new(crate::support::config_for(listener.local_addr().unwrap()))
            .logging(false);
    let script = async {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_head(&mut stream).await;
        stream
            .write_all(&scripted_invocation("req-wire"))
            .await
            .unwrap();
        let posted = read_chunked(&mut stream).await;
        stream
            .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        let next = read_head(&mut stream).await;
        stream.write_all(BROKEN).await.unwrap();
        (posted, next)
    };
    let (stopped, ((head, body), next)) =
        within(10, async { tokio::join!(runtime.serve(failing), script) }).await;
    assert!(stopped.unwrap_err().is_protocol());
    assert!(
        next.starts_with("GET /2018-06-01/runtime/invocation/next "),
        "{next}"
    );

    let lines: Vec<String> = head.lines().map(str::to_ascii_lowercase).collect();
    assert_eq!(
        lines[0],
        "post /2018-06-01/runtime/invocation/req-wire/response http/1.1"
    );
    for expected in [
        "lambda-runtime-function-response-mode: streaming",
        "transfer-encoding: chunked",
        "trailer: lambda-runtime-function-error-type, lambda-runtime-function-error-body",
        "content-type: application/octet-stream",
    ] {
        assert!(
            lines.iter().any(|line| line == expected),
            "{expected}: {head}"
        );
    }
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    let error_body = base64::engine::general_purpose::STANDARD
        .encode(br#"{"errorType":"Boom","errorMessage":"it broke"}"#);
    let expected = format!(
        "5\r\nfirst\r\n6\r\nsecond\r\n0\r\nlambda-runtime-function-error-type: Boom\r\n\
         lambda-runtime-function-error-body: {error_body}\r\n\r\n"
    );
    assert_eq!(String::from_utf8(body).unwrap(), expected);
}

#[tokio::test]
async fn a_stream_refused_early_is_abandoned_and_the_runtime_goes_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A body that never ends: only the Runtime API's early answer can stop it.
    async fn endless(_: Value, _: Context) -> Result<StreamResponse, Diagnostic> {
        Ok(StreamResponse::from_writer(|mut body| async move {
            loop {
                body.write("more").await;
            }
            #[allow(unreachable_code)]
            Ok::<_, Diagnostic>(())
        }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime =
        lambda_kit::Runtime::new(crate::support::config_for(listener.local_addr().unwrap()))
            .logging(false);
    let script = async {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_head(&mut stream).await;
        stream
            .write_all(&scripted_invocation("req-early"))
            .await
            .unwrap();
        // Some of the body, then a refusal, as Lambda answers a report it will not take.
        let mut chunk = [0; 1024];
        let read = stream.read(&mut chunk).await.unwrap();
        assert!(read > 0);
        let refused = br#"{"errorType":"InvalidRequestID","errorMessage":"no"}"#;
        let head = format!(
            "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            refused.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(refused).await.unwrap();
        drop(stream);
        let (mut stream, _) = listener.accept().await.unwrap();
        let next = read_head(&mut stream).await;
        stream.write_all(BROKEN).await.unwrap();
        next
    };
    let (stopped, next) = within(10, async { tokio::join!(runtime.serve(endless), script) }).await;
    assert!(
        next.starts_with("GET /2018-06-01/runtime/invocation/next "),
        "{next}"
    );
    assert!(stopped.unwrap_err().is_protocol());
}
