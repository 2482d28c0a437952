//! Invocations: `Invoke` (AWS Lambda API reference, "Invoke") of a function, a version or an
//! alias, and plain HTTP requests to a function's URL, turned into its front's event.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::OwnedRwLockReadGuard;

use crate::emulator::{
    ACCOUNT, Answer, Body, Emulator, IDENTITY_HEADER, MAX_ASYNC_PAYLOAD, MAX_SYNC_PAYLOAD,
    aws_error, boxed, decode_client_context, empty, ids, respond, too_large, url,
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
                tokio::spawn(async move {
                    let _open = open;
                    if let Ok(answer) = pool
                        .invoke(payload, client_context, identity, invoked_arn)
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
                        .invoke(payload, client_context, identity, invoked_arn)
                        .await
                    {
                        Ok(answer) => respond(&answer.settled().await, tail, &pool.version),
                        Err(rejection) => rejection,
                    },
                )
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
            .invoke(Bytes::from(event.to_string()), None, None, invoked_arn)
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
