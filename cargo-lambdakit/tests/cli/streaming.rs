//! Response streaming on the local Lambda: a runtime that streams (chunked `/response`, the
//! streaming mode header, error trailers) reaches a function URL client part by part, and the
//! Invoke API gets the whole answer, or the error its trailers carry.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{Serve, invoke, tool, works};

fn serve() -> Option<Serve> {
    if !tool(
        works("python3", &["--version"]),
        "python3",
        "apt-get install python3",
    ) {
        return None;
    }
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/python/streaming.py");
    Some(Serve::script(
        "stream",
        &format!("exec python3 {}", script.display()),
    ))
}

/// A function URL request whose response is read as it comes: the head, then one chunk at a
/// time.
struct Streamed {
    reader: BufReader<TcpStream>,
    status: u16,
    head: String,
}

impl Streamed {
    fn get(serve: &Serve, path: &str) -> Self {
        Self::get_function(serve, "stream", path)
    }

    fn get_function(serve: &Serve, function: &str, path: &str) -> Self {
        let stream = TcpStream::connect(serve.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        write!(
            writer,
            "GET /lambda-url/{function}{path} HTTP/1.1\r\nHost: {}\r\n\r\n",
            serve.address
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Self {
            reader,
            status,
            head,
        }
    }

    /// The next chunk of the chunked body; `None` at its proper end; `Err` when the
    /// connection breaks off before it.
    fn chunk(&mut self) -> Result<Option<Vec<u8>>, String> {
        let mut size = String::new();
        match self.reader.read_line(&mut size) {
            Ok(0) => return Err("the connection closed before the last chunk".into()),
            Ok(_) => {}
            Err(error) => return Err(error.to_string()),
        }
        let size = usize::from_str_radix(size.trim(), 16)
            .map_err(|_| format!("bad chunk size {size:?}"))?;
        let mut data = vec![0; size + 2];
        self.reader
            .read_exact(&mut data)
            .map_err(|error| error.to_string())?;
        data.truncate(size);
        Ok((size > 0).then_some(data))
    }
}

#[test]
fn a_function_url_streams_the_answer_as_the_function_writes_it() {
    let Some(serve) = serve() else { return };
    let gate = std::env::temp_dir().join(format!("lambdakit-gate-{}", std::process::id()));
    let _ = std::fs::remove_file(&gate);
    let mut response = Streamed::get(&serve, &format!("/ok?gate={}", gate.display()));
    assert_eq!(response.status, 201, "{}", response.head);
    let head = response.head.to_lowercase();
    assert!(
        head.contains("x-streamed: yes") && head.contains("set-cookie: flavour=oat"),
        "{head}"
    );
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    // The first part arrives while the function still waits for the gate.
    assert_eq!(response.chunk().unwrap().unwrap(), b"first\n");
    std::fs::write(&gate, b"").unwrap();
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().unwrap() {
        rest.extend(chunk);
    }
    assert_eq!(rest, b"second\n");
    let _ = std::fs::remove_file(&gate);
}

#[test]
fn a_failed_stream_breaks_the_response_off_and_the_invoke_api_reports_the_error() {
    let Some(serve) = serve() else { return };
    let mut response = Streamed::get(&serve, "/fail");
    assert_eq!(response.status, 201);
    let mut parts = Vec::new();
    let ended = loop {
        match response.chunk() {
            Ok(Some(chunk)) => parts.extend(chunk),
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    assert_eq!(parts, b"first\nsecond\n");
    assert!(ended.is_err(), "a failed stream ended like a complete one");

    // Through the Invoke API, the same function's failure is the error of its trailers.
    let event = br#"{"rawPath": "/fail", "queryStringParameters": {}}"#;
    let answer = invoke(serve.address, "stream", &[], event);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(
        answer.json(),
        serde_json::json!({"errorType": "Broke", "errorMessage": "mid-stream"})
    );
    let answer = invoke(serve.address, "stream", &[], br#"{"rawPath": "/ok"}"#);
    assert_eq!(answer.header("x-amz-function-error"), None);
    assert!(
        answer.body.ends_with(b"\0\0\0\0\0\0\0\0first\nsecond\n"),
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    let logs = serve.output().join("\n");
    assert!(
        logs.contains("END RequestId: ") && logs.contains("REPORT RequestId: "),
        "{logs}"
    );
}

#[test]
fn a_lambda_kit_function_streams_through_the_local_function_url() {
    let serve = Serve::start("live-report");
    let mut response = Streamed::get_function(&serve, "live-report", "/");
    assert_eq!(response.status, 200, "{}", response.head);
    let head = response.head.to_lowercase();
    assert!(
        head.contains("content-type: text/csv") && head.contains("set-cookie: report=seen"),
        "{head}"
    );
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().unwrap() {
        body.extend(chunk);
    }
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "region,sales\neu-west-1,9000\nus-east-1,9000\nap-southeast-2,14000\n"
    );

    // A region that fails mid-way: the lines before it arrive, then the response breaks off.
    let mut response = Streamed::get_function(&serve, "live-report", "/?also=nowhere");
    let mut body = Vec::new();
    let ended = loop {
        match response.chunk() {
            Ok(Some(chunk)) => body.extend(chunk),
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    assert!(ended.is_err(), "a failed stream ended like a complete one");
    assert!(
        String::from_utf8(body)
            .unwrap()
            .ends_with("ap-southeast-2,14000\n")
    );
}

/// `InvokeWithResponseStream` through aws-sdk-lambda's event stream reader: the parts (as
/// `PayloadChunk`s) and the completion, in order.
async fn stream_invoke(
    serve: &Serve,
    event: &[u8],
    gate: Option<&std::path::Path>,
) -> (
    String,
    Vec<Vec<u8>>,
    aws_sdk_lambda::types::InvokeWithResponseStreamCompleteEvent,
) {
    use aws_sdk_lambda::types::InvokeWithResponseStreamResponseEvent as Event;
    let client = crate::sdk::client(&serve.endpoint());
    let mut answer = client
        .invoke_with_response_stream()
        .function_name("stream")
        .log_type(aws_sdk_lambda::types::LogType::Tail)
        .payload(aws_sdk_lambda::primitives::Blob::new(event))
        .send()
        .await
        .unwrap();
    let content_type = answer
        .response_stream_content_type()
        .unwrap_or_default()
        .to_owned();
    let mut parts = Vec::new();
    loop {
        match answer.event_stream.recv().await.unwrap() {
            Some(Event::PayloadChunk(chunk)) => {
                parts.push(chunk.payload().unwrap().as_ref().to_vec());
                // The first part arrives while the function waits for the gate.
                if let Some(gate) = gate {
                    std::fs::write(gate, b"").unwrap();
                }
            }
            Some(Event::InvokeComplete(complete)) => return (content_type, parts, complete),
            other => panic!("unexpected event {other:?}"),
        }
    }
}

#[tokio::test]
async fn invoke_with_response_stream_sends_each_part_as_it_comes_then_the_outcome() {
    let Some(serve) = serve() else { return };
    let gate = std::env::temp_dir().join(format!("lambdakit-gate-sdk-{}", std::process::id()));
    let _ = std::fs::remove_file(&gate);
    let event = format!(
        r#"{{"rawPath": "/ok", "queryStringParameters": {{"gate": "{}"}}}}"#,
        gate.display()
    );
    let (content_type, parts, complete) =
        stream_invoke(&serve, event.as_bytes(), Some(&gate)).await;
    let _ = std::fs::remove_file(&gate);
    assert_eq!(
        content_type,
        "application/vnd.awslambda.http-integration-response"
    );
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert!(parts[0].ends_with(b"\0\0\0\0\0\0\0\0first\n"), "{parts:?}");
    assert_eq!(parts[1], b"second\n");
    assert_eq!(complete.error_code(), None);
    let logs = complete.log_result().unwrap();
    let logs = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, logs).unwrap(),
    )
    .unwrap();
    assert!(logs.contains("REPORT RequestId: "), "{logs}");

    // A stream that fails: the parts before, then the error its trailers carry.
    let (_, parts, complete) = stream_invoke(&serve, br#"{"rawPath": "/fail"}"#, None).await;
    assert!(parts.concat().ends_with(b"first\nsecond\n"), "{parts:?}");
    assert_eq!(complete.error_code(), Some("Broke"));
    assert_eq!(complete.error_details(), Some("mid-stream"));

    // boto3 reads the same stream.
    let script = r#"
import base64, json, sys, boto3
client = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
answer = client.invoke_with_response_stream(FunctionName="stream", Payload=b'{"rawPath": "/fail"}')
events = [list(event.keys())[0] for event in answer["EventStream"]]
print(json.dumps(events))
"#;
    let boto3 = std::process::Command::new("python3")
        .args(["-c", script, &serve.endpoint()])
        .output()
        .unwrap();
    assert!(boto3.status.success(), "{boto3:?}");
    let events: Vec<String> = serde_json::from_slice(&boto3.stdout).unwrap();
    assert_eq!(
        events.last().map(String::as_str),
        Some("InvokeComplete"),
        "{events:?}"
    );
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|event| event == "PayloadChunk")
    );
}
