//! Invocations: `Invoke` (AWS Lambda API reference, "Invoke") of a function, a version or an
//! alias, and plain HTTP requests to a function's URL, turned into its front's event.
//!
//! An `Event` invocation is answered at once (`202`, with the request id it will run under)
//! and put in its function's queue (`emulator::queue`), which runs it as Lambda's would: when
//! an instance is free, retried after a failure, then sent to a destination. A full queue
//! answers `429`. [`Emulator::shutdown`] stops the queues, so none outlives serve.

use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::emulator::RequestBody;
use bytes::{Bytes, BytesMut};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::sync::OwnedRwLockReadGuard;

use crate::emulator::queue::Event;
use crate::emulator::{
    ACCOUNT, Answer, Body, Call, Emulator, IDENTITY_HEADER, MAX_ASYNC_PAYLOAD, MAX_SYNC_PAYLOAD,
    TRACE_HEADER, Trigger, aws_error, boxed, decode_client_context, empty, ids, respond, too_large,
    too_many_requests, url,
};

/// The largest client context an invocation takes, base64-encoded as `X-Amz-Client-Context`
/// carries it (AWS Invoke API: "up to 3,583 bytes of base64-encoded data").
const MAX_CLIENT_CONTEXT_BYTES: usize = lambda_kit::__server::MAX_CLIENT_CONTEXT_BYTES;

/// The largest request a function URL takes (AWS "Lambda quotas": 6 MB for a function URL's
/// request, as for a synchronous invocation's payload).
const MAX_URL_REQUEST: usize = MAX_SYNC_PAYLOAD;

/// The tenant of an invocation of a per-tenant function (AWS "Invoking Lambda functions with
/// tenant isolation").
pub const TENANT_HEADER: &str = "x-amz-tenant-id";

/// How an invocation runs: `X-Amz-Invocation-Type` (AWS Invoke API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InvocationType {
    /// Run it and answer with what it returns: the default.
    RequestResponse,
    /// Answer `202` at once, and run it after.
    Event,
    /// Check the request and answer `204`, without running it.
    DryRun,
}

impl InvocationType {
    /// The type `X-Amz-Invocation-Type` names, if it is one.
    fn named(name: &str) -> Option<Self> {
        match name {
            "RequestResponse" => Some(Self::RequestResponse),
            "Event" => Some(Self::Event),
            "DryRun" => Some(Self::DryRun),
            _ => None,
        }
    }

    /// The largest payload it takes.
    fn max_payload(self) -> usize {
        match self {
            Self::RequestResponse | Self::DryRun => MAX_SYNC_PAYLOAD,
            Self::Event => MAX_ASYNC_PAYLOAD,
        }
    }
}

impl Emulator {
    /// `Invoke` of `name` at `qualifier`, or with `streamed`, `InvokeWithResponseStream`. An
    /// `Event` invocation lets `open` go once queued: its queue takes the gate again for each
    /// attempt.
    pub(super) async fn invoke(
        &self,
        name: &str,
        qualifier: Option<&str>,
        parts: &http::request::Parts,
        body: RequestBody,
        open: OwnedRwLockReadGuard<()>,
        streamed: bool,
    ) -> Response<Body> {
        let (pool, invoked_arn) = match self.resolve(name, qualifier) {
            Ok(resolved) => resolved,
            Err(refusal) => return *refusal,
        };
        let header = |name: &str| text(parts, name);
        let invocation_type = match header("x-amz-invocation-type") {
            None => InvocationType::RequestResponse,
            Some(name) => match InvocationType::named(&name) {
                Some(invocation_type) => invocation_type,
                None => {
                    return boxed(aws_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameterValueException",
                        &format!(
                            "X-Amz-Invocation-Type is `{name}`; expected RequestResponse, Event or DryRun"
                        ),
                    ));
                }
            },
        };
        if streamed && invocation_type == InvocationType::Event {
            return boxed(aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                "InvokeWithResponseStream takes the invocation types RequestResponse and DryRun; send an `Event` invocation with Invoke",
            ));
        }
        if let Some(encoded) = parts.headers.get("x-amz-client-context")
            && encoded.len() > MAX_CLIENT_CONTEXT_BYTES
        {
            return boxed(aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!(
                    "X-Amz-Client-Context is {} bytes; the client context may be at most {MAX_CLIENT_CONTEXT_BYTES} bytes, base64-encoded",
                    encoded.len()
                ),
            ));
        }
        let client_context =
            match header("x-amz-client-context").map(|encoded| decode_client_context(&encoded)) {
                Some(Ok(json)) => Some(json),
                Some(Err(message)) => {
                    return boxed(aws_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequestContentException",
                        &message,
                    ));
                }
                None => None,
            };
        let identity = header(IDENTITY_HEADER);
        let trace = header(TRACE_HEADER);
        let tenant = header(TENANT_HEADER);
        if let Some(refusal) = pool.refuse_tenant(tenant.as_deref()) {
            return boxed(refusal);
        }
        if let Some(identity) = &identity
            && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(identity).is_err()
        {
            return boxed(aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "the Cognito identity is not a JSON object such as {\"cognitoIdentityId\": \"...\", \"cognitoIdentityPoolId\": \"...\"}",
            ));
        }
        // Read last, once the headers are found fit: the invocation type sets the limit.
        let payload = match read_body(body, &parts.headers, invocation_type.max_payload()).await {
            Ok(payload) => payload,
            Err(refusal) => return boxed(refusal),
        };
        // Lambda takes only JSON payloads (or none).
        if !payload.is_empty()
            && let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload)
        {
            return boxed(aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                &format!("Could not parse request body into json: {error}"),
            ));
        }
        match invocation_type {
            InvocationType::Event => {
                drop(open);
                let request_id = ids::request_id();
                let event = Event {
                    call: Call {
                        request_id: request_id.clone(),
                        payload,
                        client_context,
                        identity,
                        invoked_arn,
                        trace,
                        tenant,
                        trigger: Trigger::Event,
                    },
                    pool,
                    function: name.to_owned(),
                    qualifier: qualifier.unwrap_or("$LATEST").to_owned(),
                    accepted: Instant::now(),
                    attempts: 0,
                };
                let this = self.this.get().cloned().unwrap_or_else(Weak::new);
                match self.queues.push(&this, event) {
                    Ok(()) => {
                        let mut accepted = empty(StatusCode::ACCEPTED);
                        if let Ok(value) = request_id.parse() {
                            accepted.headers_mut().insert("x-amzn-requestid", value);
                        }
                        boxed(accepted)
                    }
                    Err(_full) => boxed(too_many_requests()),
                }
            }
            InvocationType::DryRun => boxed(empty(StatusCode::NO_CONTENT)),
            InvocationType::RequestResponse => {
                let tail = header("x-amz-log-type").is_some_and(|kind| kind == "Tail");
                let trigger = if streamed {
                    Trigger::Stream
                } else {
                    Trigger::Invoke
                };
                let call = Call {
                    client_context,
                    identity,
                    invoked_arn,
                    trace,
                    tenant,
                    ..Call::new(payload, trigger)
                };
                match pool.invoke(call).await {
                    Ok(answer) if streamed => super::stream::respond(answer, tail, &pool.version),
                    Ok(answer) => boxed(respond(&answer.settled().await, tail, &pool.version)),
                    Err(rejection) => boxed(rejection),
                }
            }
        }
    }

    /// A request to the URL of `name` (of its alias `qualifier`),
    /// `/lambda-url/{name}[:{qualifier}]/{path}`.
    pub(super) async fn function_url(
        &self,
        name: &str,
        qualifier: Option<&str>,
        parts: &http::request::Parts,
        path: &str,
        body: RequestBody,
    ) -> Response<Body> {
        let resolved = self
            .has_url(name, qualifier)
            .then(|| self.resolve(name, qualifier).ok())
            .flatten();
        let Some((pool, invoked_arn)) = resolved else {
            let identifier = match qualifier {
                Some(qualifier) => format!("{name}:{qualifier}"),
                None => name.to_owned(),
            };
            return boxed(aws_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!("no function `{identifier}` has a URL here"),
            ));
        };
        let body = match read_body(body, &parts.headers, MAX_URL_REQUEST).await {
            Ok(body) => body,
            Err(refusal) => return boxed(refusal),
        };
        let event = url::event(
            pool.front,
            parts,
            path,
            &body,
            &ids::request_id(),
            (ACCOUNT, &pool.launch.region, &pool.function.name),
        );
        let call = Call {
            invoked_arn,
            trace: text(parts, TRACE_HEADER),
            tenant: text(parts, TENANT_HEADER),
            ..Call::new(Bytes::from(event.to_string()), Trigger::Url)
        };
        match pool.invoke(call).await {
            Ok(Answer::Done(invoked)) => boxed(url::response(pool.front, &invoked.outcome)),
            Ok(Answer::Streaming {
                content_type,
                chunks,
                ..
            }) => url::streamed(content_type.as_deref(), chunks).await,
            Err(rejection) => boxed(rejection),
        }
    }
}

/// The header `name` of a request, as text.
fn text(parts: &http::request::Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// How much of a body over the limit is still read, and dropped, before the refusal is sent:
/// a client that writes its whole request before it reads the answer (AWS SDKs do) then reads
/// the 413 rather than a broken pipe. A body declared larger is refused at once, and one that
/// goes on past it is refused there; the connection is then closed.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;
/// How long the drain waits for more of such a body before it refuses anyway.
const DRAIN_IDLE: Duration = Duration::from_secs(1);

/// Reads a request body of at most `limit` bytes. A `Content-Length` over the limit is refused
/// before any of the body is kept, and a chunked body as soon as its count passes the limit:
/// what is over the limit is never kept, and at most [`DRAIN_BYTES`] of it is read.
pub(crate) async fn read_body(
    mut body: RequestBody,
    headers: &http::HeaderMap,
    limit: usize,
) -> Result<Bytes, Response<Full<Bytes>>> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if let Some(length) = declared
        && length > limit as u64
    {
        if length <= DRAIN_BYTES as u64 {
            drain(&mut body).await;
        }
        return Err(too_large(limit));
    }
    let mut gathered = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                &format!("the request body broke off: {error}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if gathered.len() + data.len() > limit {
            drain(&mut body).await;
            return Err(too_large(limit));
        }
        gathered.extend_from_slice(&data);
    }
    Ok(gathered.freeze())
}

/// Reads and drops what is left of `body`, up to [`DRAIN_BYTES`], while it keeps coming.
async fn drain(body: &mut RequestBody) {
    let mut drained = 0;
    while drained <= DRAIN_BYTES {
        match tokio::time::timeout(DRAIN_IDLE, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                drained += frame.data_ref().map_or(0, Bytes::len);
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use crate::emulator::{Emulator, Served};
    use crate::project::Function;

    use crate::emulator::test_support::{OK, SLEEPING_RUNTIME as SLOW, running};

    #[tokio::test]
    async fn shutdown_stops_the_event_invocations_under_way() {
        let dir = std::env::temp_dir().join(format!("lambdakit-events-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bootstrap = dir.join("bootstrap");
        std::fs::write(&bootstrap, SLOW).unwrap();
        std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
        let pid_file = dir.join("pid");
        let mut function = Function::standalone("slow");
        // Longer than the test waits: only shutdown can stop it in time.
        function.timeout = Duration::from_secs(60);
        function
            .environment
            .insert("PID_FILE".into(), pid_file.display().to_string());
        let served = Served {
            function,
            binary: bootstrap,
            runner: Vec::new(),
            extensions: Vec::new(),
        };
        let emulator = Arc::new(Emulator::new(
            vec![served],
            "us-east-1",
            &BTreeMap::new(),
            false,
            dir.join("state"),
        ));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let serving = tokio::spawn(Arc::clone(&emulator).serve(listener));

        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"POST /2015-03-31/functions/slow/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Invocation-Type: Event\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");

        let mut pid = None;
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(&pid_file) {
                pid = text.trim().parse::<u32>().ok();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pid = pid.expect("the function never took its invocation");
        assert!(running(pid));

        serving.abort();
        tokio::time::timeout(Duration::from_secs(10), emulator.shutdown())
            .await
            .expect("shutdown stops the invocation, it does not wait for it");
        let mut stopped = false;
        for _ in 0..40 {
            if !running(pid) {
                stopped = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            stopped,
            "the Event invocation's function (pid {pid}) still runs after shutdown"
        );
    }

    /// Serves the function `name` running `bootstrap`, on a free port; dropped with the
    /// returned task, whose scratch directory is returned too.
    async fn serve(
        name: &str,
        bootstrap: &str,
    ) -> (
        Arc<Emulator>,
        std::net::SocketAddr,
        tokio::task::JoinHandle<()>,
        std::path::PathBuf,
    ) {
        let dir = std::env::temp_dir().join(format!("lambdakit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let binary = dir.join("bootstrap");
        std::fs::write(&binary, bootstrap).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        let served = Served {
            function: Function::standalone(name),
            binary,
            runner: Vec::new(),
            extensions: Vec::new(),
        };
        let emulator = Arc::new(Emulator::new(
            vec![served],
            "us-east-1",
            &BTreeMap::new(),
            false,
            dir.join("state"),
        ));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let serving = tokio::spawn(Arc::clone(&emulator).serve(listener));
        (emulator, address, serving, dir)
    }

    /// Sends `head` (request line and headers, without the blank line), then `body` from a task
    /// of its own while the answer is read: the answer must come within five seconds, whether
    /// or not the server read the whole body.
    async fn exchange(address: std::net::SocketAddr, head: &str, body: Vec<u8>) -> String {
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        writer
            .write_all(format!("{head}\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await
            .unwrap();
        // Owned by this exchange: it ends when the body is written or the server hangs up.
        let sending = tokio::spawn(async move {
            for piece in body.chunks(64 * 1024) {
                if writer.write_all(piece).await.is_err() {
                    return;
                }
            }
            // Keeps the connection open, unfinished, until the answer was read.
            std::future::pending::<()>().await;
        });
        let mut answer = Vec::new();
        let mut buffer = [0; 4096];
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match reader.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buffer[..n]),
                }
                if answer.windows(4).any(|window| window == b"\r\n\r\n") {
                    break;
                }
            }
        })
        .await;
        sending.abort();
        assert!(read.is_ok(), "no answer within 5 s to `{head}`");
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// `size` bytes of a JSON string, as chunks of a chunked body that does not end.
    fn unfinished_chunked(size: usize) -> Vec<u8> {
        let mut body = Vec::new();
        let piece = vec![b' '; 32 * 1024];
        for _ in 0..size.div_ceil(piece.len()) {
            body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            body.extend_from_slice(&piece);
            body.extend_from_slice(b"\r\n");
        }
        body
    }

    fn assert_too_large(answer: &str) {
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("x-amzn-errortype: requesttoolargeexception"),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused_before_they_are_read() {
        let (emulator, address, serving, dir) = serve("limits", OK).await;
        let invoke = "POST /2015-03-31/functions/limits/invocations HTTP/1.1";

        // A declared length over the limit: refused at once, with nothing read.
        let declared = exchange(
            address,
            &format!("{invoke}\r\nContent-Length: 524288000"),
            Vec::new(),
        )
        .await;
        assert_too_large(&declared);
        // Just over: read and dropped, so that a client writing it all reads the refusal.
        let queued = exchange(
            address,
            &format!("{invoke}\r\nX-Amz-Invocation-Type: Event\r\nContent-Length: 1048577"),
            vec![b' '; 1024 * 1024 + 1],
        )
        .await;
        assert_too_large(&queued);
        // A chunked body: refused as soon as its count passes the limit, though it never ends.
        let chunked = exchange(
            address,
            &format!("{invoke}\r\nTransfer-Encoding: chunked"),
            unfinished_chunked(7 * 1024 * 1024),
        )
        .await;
        assert_too_large(&chunked);
        let queued_chunked = exchange(
            address,
            &format!("{invoke}\r\nX-Amz-Invocation-Type: Event\r\nTransfer-Encoding: chunked"),
            unfinished_chunked(2 * 1024 * 1024),
        )
        .await;
        assert_too_large(&queued_chunked);

        // A function URL's request: the same, at 6 MB.
        let url = "POST /lambda-url/limits/upload HTTP/1.1";
        let declared = exchange(
            address,
            &format!("{url}\r\nContent-Length: 314572800"),
            Vec::new(),
        )
        .await;
        assert_too_large(&declared);
        let chunked = exchange(
            address,
            &format!("{url}\r\nTransfer-Encoding: chunked"),
            unfinished_chunked(7 * 1024 * 1024),
        )
        .await;
        assert_too_large(&chunked);
        // Under the limit, the function runs.
        let small = exchange(
            address,
            &format!("{url}\r\nContent-Length: 5\r\nConnection: close"),
            b"hello".to_vec(),
        )
        .await;
        assert!(small.starts_with("HTTP/1.1 200"), "{small}");

        serving.abort();
        emulator.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A client context whose base64 encoding is `encoded` bytes long (a multiple of 4).
    fn client_context(encoded: usize) -> String {
        use base64::Engine as _;
        let raw = encoded / 4 * 3;
        let json = format!(r#"{{"custom":{{"pad":"{}"}}}}"#, "x".repeat(raw - 23));
        let context = base64::engine::general_purpose::STANDARD.encode(json);
        assert_eq!(context.len(), encoded);
        context
    }

    #[tokio::test]
    async fn a_client_context_over_lambdas_limit_is_refused() {
        let (emulator, address, serving, dir) = serve("context", OK).await;
        let invoke = "POST /2015-03-31/functions/context/invocations HTTP/1.1";
        let over = exchange(
            address,
            &format!(
                "{invoke}\r\nX-Amz-Client-Context: {}\r\nContent-Length: 2\r\nConnection: close",
                client_context(3584)
            ),
            b"{}".to_vec(),
        )
        .await;
        assert!(over.starts_with("HTTP/1.1 400"), "{over}");
        assert!(
            over.to_ascii_lowercase()
                .contains("x-amzn-errortype: invalidparametervalueexception"),
            "{over}"
        );
        let within = exchange(
            address,
            &format!(
                "{invoke}\r\nX-Amz-Client-Context: {}\r\nContent-Length: 2\r\nConnection: close",
                client_context(3580)
            ),
            b"{}".to_vec(),
        )
        .await;
        assert!(within.starts_with("HTTP/1.1 200"), "{within}");
        serving.abort();
        emulator.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
