//! One function per Extensions API path, and the Telemetry API's subscription, each speaking in
//! typed values (AWS "Lambda Extensions API", version 2020-01-01; "Lambda Telemetry API",
//! version 2022-07-01). Both live on the Runtime API's address; each extension talks to them
//! over a connection of its own, since `event/next` holds its connection until an event comes.

use bytes::Bytes;
use serde::Deserialize;

use super::client::{Client, Head, Request};
use super::protocol::{extensions, telemetry};
#[cfg(feature = "extension")]
use crate::Diagnostic;
use crate::Error;
use crate::config::RuntimeApi;

/// The Extensions API's paths, built once from the configured prefix.
#[derive(Debug)]
#[cfg_attr(not(feature = "extension"), allow(dead_code))]
pub(crate) struct Endpoints {
    register: String,
    next: String,
    init_error: String,
    exit_error: String,
    telemetry: String,
}

impl Endpoints {
    pub(crate) fn new(api: &RuntimeApi) -> Self {
        // The prefix was checked as part of a URL path when the configuration was read.
        let extension = |route: &str| {
            format!(
                "{}/{}{}{route}",
                api.prefix,
                extensions::VERSION,
                extensions::EXTENSION
            )
        };
        Self {
            register: extension(extensions::REGISTER),
            next: extension(extensions::NEXT),
            init_error: extension(extensions::INIT_ERROR),
            exit_error: extension(extensions::EXIT_ERROR),
            telemetry: format!("{}{}", api.prefix, telemetry::PATH),
        }
    }
}

/// What `register` answered: the extension's identifier and what Lambda says of the function.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "extension"), allow(dead_code))]
pub(crate) struct Registration {
    pub(crate) identifier: String,
    pub(crate) function_name: String,
    pub(crate) function_version: String,
    pub(crate) handler: String,
    pub(crate) account_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegisterAnswer {
    #[serde(default)]
    function_name: String,
    #[serde(default)]
    function_version: String,
    #[serde(default)]
    handler: String,
    #[serde(default)]
    account_id: Option<String>,
}

/// `POST /extension/register`: registers `name` for `events` (`INVOKE`, `SHUTDOWN`).
pub(crate) async fn register(
    client: &mut Client,
    endpoints: &Endpoints,
    name: &str,
    events: &[&str],
    account_id: bool,
) -> Result<Registration, Error> {
    let body = serde_json::json!({ "events": events }).to_string();
    let mut headers: Vec<(&'static str, &[u8])> = vec![
        ("Content-Type", b"application/json"),
        (extensions::header::NAME, name.as_bytes()),
    ];
    if account_id {
        headers.push((
            extensions::header::ACCEPT_FEATURE,
            extensions::ACCOUNT_ID_FEATURE.as_bytes(),
        ));
    }
    let request = Request {
        method: "POST",
        path: &[endpoints.register.as_str()],
        headers: &headers,
    };
    let head = client.send(&request, body.as_bytes()).await?;
    let answer = client.body(&head).await?;
    if head.status != 200 {
        return Err(refused(
            &format!("registering extension `{name}`"),
            &head,
            &answer,
        ));
    }
    let identifier = header(&head, extensions::header::IDENTIFIER).ok_or_else(|| {
        Error::protocol(format!(
            "`{}` answered without `{}`",
            extensions::REGISTER,
            extensions::header::IDENTIFIER
        ))
    })?;
    let RegisterAnswer {
        function_name,
        function_version,
        handler,
        account_id,
    } = serde_json::from_slice(&answer).map_err(|error| {
        Error::protocol(format!(
            "`{}` answered a body that is not its JSON: {error}",
            extensions::REGISTER
        ))
    })?;
    Ok(Registration {
        identifier,
        function_name,
        function_version,
        handler,
        account_id,
    })
}

/// An event `event/next` handed out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(not(feature = "extension"), allow(dead_code))]
#[serde(tag = "eventType", rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Event {
    /// An invocation began.
    #[serde(rename_all = "camelCase")]
    Invoke {
        request_id: String,
        deadline_ms: u64,
        #[serde(default)]
        invoked_function_arn: String,
        #[serde(default)]
        tracing: Option<Tracing>,
    },
    /// The execution environment is shutting down.
    #[serde(rename_all = "camelCase")]
    Shutdown {
        shutdown_reason: String,
        deadline_ms: u64,
    },
}

/// The trace an `INVOKE` event carries.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(not(feature = "extension"), allow(dead_code))]
pub(crate) struct Tracing {
    /// `Root=...;Parent=...;Sampled=...`.
    pub(crate) value: String,
}

/// `GET /extension/event/next`: waits for the extension's next event.
pub(crate) async fn next(
    client: &mut Client,
    endpoints: &Endpoints,
    identifier: &str,
) -> Result<Event, Error> {
    let request = Request {
        method: "GET",
        path: &[endpoints.next.as_str()],
        headers: &[(extensions::header::IDENTIFIER, identifier.as_bytes())],
    };
    let head = client.send(&request, &[]).await?;
    let body = client.body(&head).await?;
    if head.status != 200 {
        return Err(refused("asking for the next event", &head, &body));
    }
    serde_json::from_slice(&body).map_err(|error| {
        Error::protocol(format!(
            "`{}` handed out an event that is not one: {error}",
            extensions::NEXT
        ))
    })
}

/// `POST /extension/init/error`: the extension could not start.
#[cfg(feature = "extension")]
pub(crate) async fn init_error(
    client: &mut Client,
    endpoints: &Endpoints,
    identifier: &str,
    diagnostic: &Diagnostic,
) -> Result<(), Error> {
    post_error(
        client,
        &endpoints.init_error,
        identifier,
        diagnostic,
        extensions::INIT_ERROR,
    )
    .await
}

/// `POST /extension/exit/error`: the extension failed and exits.
#[cfg(feature = "extension")]
pub(crate) async fn exit_error(
    client: &mut Client,
    endpoints: &Endpoints,
    identifier: &str,
    diagnostic: &Diagnostic,
) -> Result<(), Error> {
    post_error(
        client,
        &endpoints.exit_error,
        identifier,
        diagnostic,
        extensions::EXIT_ERROR,
    )
    .await
}

#[cfg(feature = "extension")]
async fn post_error(
    client: &mut Client,
    path: &str,
    identifier: &str,
    diagnostic: &Diagnostic,
    name: &str,
) -> Result<(), Error> {
    let request = Request {
        method: "POST",
        path: &[path],
        headers: &[
            ("Content-Type", b"application/json"),
            (extensions::header::IDENTIFIER, identifier.as_bytes()),
            (
                extensions::header::ERROR_TYPE,
                diagnostic.error_type().as_bytes(),
            ),
        ],
    };
    let head = client.send(&request, &diagnostic.to_json()).await?;
    let body = client.body(&head).await?;
    if head.status != 202 {
        return Err(refused(&format!("posting to `{name}`"), &head, &body));
    }
    Ok(())
}

/// `PUT /telemetry`: subscribes the extension with `subscription`, the request's JSON.
#[cfg(feature = "extension")]
pub(crate) async fn subscribe(
    client: &mut Client,
    endpoints: &Endpoints,
    identifier: &str,
    subscription: &[u8],
) -> Result<(), Error> {
    let request = Request {
        method: "PUT",
        path: &[endpoints.telemetry.as_str()],
        headers: &[
            ("Content-Type", b"application/json"),
            (extensions::header::IDENTIFIER, identifier.as_bytes()),
        ],
    };
    let head = client.send(&request, subscription).await?;
    let body = client.body(&head).await?;
    if head.status != 200 {
        return Err(refused("subscribing to the Telemetry API", &head, &body));
    }
    Ok(())
}

/// A header's value, as text.
fn header(head: &Head, name: &str) -> Option<String> {
    head.fields()
        .find(|(field, _)| field.eq_ignore_ascii_case(name.as_bytes()))
        .and_then(|(_, value)| String::from_utf8(value.to_vec()).ok())
}

/// The error for an answer other than the one expected, with Lambda's message in it.
fn refused(what: &str, head: &Head, body: &Bytes) -> Error {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Refusal {
        error_type: String,
        error_message: String,
    }
    let status = http::StatusCode::from_u16(head.status)
        .map_or_else(|_| head.status.to_string(), |status| status.to_string());
    match serde_json::from_slice::<Refusal>(body) {
        Ok(Refusal {
            error_type,
            error_message,
        }) => Error::protocol(format!(
            "{what}: Lambda answered {status}, {error_type}: {error_message}"
        )),
        Err(_) => Error::protocol(format!(
            "{what}: Lambda answered {status} with `{}`",
            String::from_utf8_lossy(body)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_lambda_writes_them() {
        let invoke: Event = serde_json::from_str(
            r#"{"eventType":"INVOKE","deadlineMs":1700000000000,"requestId":"r-1",
                "invokedFunctionArn":"arn:aws:lambda:us-east-1:123456789012:function:f",
                "tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-5f3-0c0;Sampled=1"}}"#,
        )
        .unwrap();
        assert_eq!(
            invoke,
            Event::Invoke {
                request_id: "r-1".into(),
                deadline_ms: 1_700_000_000_000,
                invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
                tracing: Some(Tracing {
                    value: "Root=1-5f3-0c0;Sampled=1".into()
                }),
            }
        );
        let shutdown: Event = serde_json::from_str(
            r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":42}"#,
        )
        .unwrap();
        assert_eq!(
            shutdown,
            Event::Shutdown {
                shutdown_reason: "spindown".into(),
                deadline_ms: 42
            }
        );
    }

    #[test]
    fn paths_carry_the_prefix_and_each_apis_version() {
        let api = RuntimeApi {
            authority: "127.0.0.1:9001".into(),
            base_path: "/fn/orders/2018-06-01".into(),
            prefix: "/fn/orders".into(),
        };
        let endpoints = Endpoints::new(&api);
        assert_eq!(
            endpoints.register,
            "/fn/orders/2020-01-01/extension/register"
        );
        assert_eq!(endpoints.next, "/fn/orders/2020-01-01/extension/event/next");
        assert_eq!(endpoints.telemetry, "/fn/orders/2022-07-01/telemetry");
    }
}
