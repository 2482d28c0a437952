//! Invocations: `Invoke` (AWS Lambda API reference, "Invoke") of a function, a version or an
//! alias, and plain HTTP requests to a function's URL, turned into its front's event.
//!
//! An `Event` invocation is answered at once and run after, as Lambda's queue would run it, in
//! a task the emulator owns ([`Emulator::events`]): [`Emulator::shutdown`] stops those still
//! under way, so none outlives serve.

use std::future::Future;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::OwnedRwLockReadGuard;

use crate::emulator::{
    ACCOUNT, Answer, Body, Emulator, IDENTITY_HEADER, MAX_ASYNC_PAYLOAD, MAX_SYNC_PAYLOAD,
    TRACE_HEADER, aws_error, boxed, decode_client_context, empty, ids, lock, respond, too_large,
    url,
};

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
    /// `Invoke` of `name` at `qualifier`. An `Event` invocation keeps `open` until it has run.
    pub(super) async fn invoke(
        &self,
        name: &str,
        qualifier: Option<&str>,
        parts: &http::request::Parts,
        body: Incoming,
        open: OwnedRwLockReadGuard<()>,
    ) -> Response<Body> {
        let (pool, invoked_arn) = match self.resolve(name, qualifier) {
            Ok(resolved) => resolved,
            Err(refusal) => return *refusal,
        };
        let payload = body
            .collect()
            .await
            .map(|body| body.to_bytes())
            .unwrap_or_default();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
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
        if let Some(identity) = &identity
            && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(identity).is_err()
        {
            return boxed(aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                "the Cognito identity is not a JSON object such as {\"cognitoIdentityId\": \"...\", \"cognitoIdentityPoolId\": \"...\"}",
            ));
        }
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
        let limit = invocation_type.max_payload();
        if payload.len() > limit {
            return boxed(too_large(limit));
        }
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
                // Run it after answering, as Lambda's queue would; its logs still show.
                self.queue(async move {
                    let _open = open;
                    if let Ok(answer) = pool
                        .invoke(payload, client_context, identity, invoked_arn, trace)
                        .await
                    {
                        answer.settled().await;
                    }
                });
                boxed(empty(StatusCode::ACCEPTED))
            }
            InvocationType::DryRun => boxed(empty(StatusCode::NO_CONTENT)),
            InvocationType::RequestResponse => {
                let tail = header("x-amz-log-type").is_some_and(|kind| kind == "Tail");
                boxed(
                    match pool
                        .invoke(payload, client_context, identity, invoked_arn, trace)
                        .await
                    {
                        Ok(answer) => respond(&answer.settled().await, tail, &pool.version),
                        Err(rejection) => rejection,
                    },
                )
            }
        }
    }

    /// Runs an `Event` invocation in [`Emulator::events`], reaping those that have ended.
    fn queue(&self, invocation: impl Future<Output = ()> + Send + 'static) {
        let mut events = lock(&self.events);
        while events.try_join_next().is_some() {}
        events.spawn(invocation);
    }

    /// A request to the URL of `name` (of its alias `qualifier`),
    /// `/lambda-url/{name}[:{qualifier}]/{path}`.
    pub(super) async fn function_url(
        &self,
        name: &str,
        qualifier: Option<&str>,
        parts: &http::request::Parts,
        path: &str,
        body: Incoming,
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
        let body = body
            .collect()
            .await
            .map(|body| body.to_bytes())
            .unwrap_or_default();
        let event = url::event(
            pool.front,
            parts,
            path,
            &body,
            &ids::request_id(),
            (ACCOUNT, &pool.launch.region, &pool.function.name),
        );
        match pool
            .invoke(
                Bytes::from(event.to_string()),
                None,
                None,
                invoked_arn,
                parts
                    .headers
                    .get(TRACE_HEADER)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned),
            )
            .await
        {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use crate::emulator::{Emulator, Served};
    use crate::project::Function;

    /// A function that takes its invocation, writes its pid to `$PID_FILE` and sleeps on it
    /// for a minute.
    const SLOW: &str = r#"#!/usr/bin/python3
import os, time, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next").read()
pid_file = os.environ["PID_FILE"]
with open(pid_file + ".tmp", "w") as file:
    file.write(str(os.getpid()))
os.rename(pid_file + ".tmp", pid_file)
time.sleep(60)
"#;

    /// Whether the process `pid` runs (a zombie has ended: only its reaping is left).
    fn running(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
                .is_some_and(|state| !matches!(state, 'Z' | 'X'))
        })
    }

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
}
