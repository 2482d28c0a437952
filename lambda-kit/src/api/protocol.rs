//! The Lambda Runtime API's wire contract, spelled once: paths, header and trailer names, limits
//! and the shape of its error answers. The runtime's client (`endpoints.rs`) and the server that
//! `lambda_kit::testing` and `cargo lambdakit serve` run (`server.rs`) both speak from here.
//!
//! The contract is AWS's "Using the Lambda runtime API for custom runtimes" (version 2018-06-01)
//! and "Response streaming for custom runtimes"; where the documentation is silent (status codes
//! and error types of refused requests), the behaviour of Lambda's own Runtime API server, as its
//! published emulator shows it, is the reference.

/// Writes a piece of a path once as a macro, so that the constants built of it are one spelling.
macro_rules! version {
    () => {
        "2018-06-01"
    };
}
macro_rules! runtime {
    () => {
        "/runtime/"
    };
}

/// The API's version, the first segment of its paths (after the prefix `AWS_LAMBDA_RUNTIME_API`
/// may carry).
pub(crate) const VERSION: &str = version!();
/// Between the version and a route.
pub(crate) const RUNTIME: &str = runtime!();
/// The prefix of every Runtime API path the server answers.
#[cfg(feature = "__server")]
pub(crate) const PREFIX: &str = concat!("/", version!(), runtime!());
/// `GET`: waits for the next invocation.
pub(crate) const NEXT: &str = "invocation/next";
/// `POST`: the function could not start.
pub(crate) const INIT_ERROR: &str = "init/error";
/// Before a request id: `invocation/{id}/response`, `invocation/{id}/error`.
pub(crate) const INVOCATION: &str = "invocation/";
/// After a request id: the invocation's result.
pub(crate) const RESPONSE: &str = "/response";
/// After a request id: the invocation failed.
pub(crate) const ERROR: &str = "/error";

/// Writes a header name once as a macro, so that the constant and the `Trailer` list that names
/// it are one spelling.
macro_rules! error_type_trailer {
    () => {
        "lambda-runtime-function-error-type"
    };
}
#[cfg(any(feature = "streaming", feature = "__server"))]
macro_rules! error_body_trailer {
    () => {
        "lambda-runtime-function-error-body"
    };
}

/// Header names, in lower case (HTTP compares them ignoring case).
pub(crate) mod header {
    /// `/next`: the invocation's request id.
    pub(crate) const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
    /// `/next`: the deadline, in milliseconds since the Unix epoch.
    pub(crate) const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
    /// `/next`: the ARN the function was invoked by, qualified or not.
    pub(crate) const FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
    /// `/next`: the X-Ray trace header.
    pub(crate) const TRACE_ID: &str = "lambda-runtime-trace-id";
    /// `/next`: the mobile client context, JSON.
    pub(crate) const CLIENT_CONTEXT: &str = "lambda-runtime-client-context";
    /// `/next`: the Cognito identity, JSON.
    pub(crate) const COGNITO_IDENTITY: &str = "lambda-runtime-cognito-identity";
    /// `/next`: the tenant of a tenant-isolated function.
    pub(crate) const TENANT_ID: &str = "lambda-runtime-aws-tenant-id";
    /// `/error` and `/init/error` headers, and a failed stream's trailer: the error's type.
    pub(crate) const FUNCTION_ERROR_TYPE: &str = error_type_trailer!();
    /// A failed stream's trailer: the error document, in base64.
    #[cfg(any(feature = "streaming", feature = "__server"))]
    pub(crate) const FUNCTION_ERROR_BODY: &str = error_body_trailer!();
    /// `/response`: `streaming` for a streamed response.
    #[cfg(any(feature = "streaming", feature = "__server"))]
    pub(crate) const RESPONSE_MODE: &str = "lambda-runtime-function-response-mode";
    /// The `Trailer` header's value of a streamed response: both error trailers, declared up
    /// front, since a stream cannot know whether it will fail.
    #[cfg(feature = "streaming")]
    pub(crate) const ERROR_TRAILERS: &str =
        concat!(error_type_trailer!(), ", ", error_body_trailer!());
}

/// The value of [`header::RESPONSE_MODE`] that streams a response.
#[cfg(any(feature = "streaming", feature = "__server"))]
pub(crate) const STREAMING: &str = "streaming";

/// The largest buffered response the Runtime API takes: 6 MB and a margin of 100 bytes, as
/// Lambda's own server counts it. A larger `/response` is refused with 413, and the invocation
/// fails with `Function.ResponseSizeTooLarge`.
pub(crate) const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;

/// The most a function may stream in one response (AWS "Response streaming for Lambda
/// functions": 200 MB since July 2025).
#[cfg(any(feature = "streaming", feature = "__server"))]
pub(crate) const MAX_STREAMED_RESPONSE_BYTES: usize = 200 * 1024 * 1024;

/// The longest request id the server takes in a path. Lambda's ids are UUIDs (36 bytes); this
/// leaves room for ids a test chooses, and refuses, with a message, ids no server handed out.
#[cfg(feature = "__server")]
pub(crate) const MAX_REQUEST_ID_BYTES: usize = 128;

/// The largest header section (names, values and their separators) a request to the Runtime
/// API may have: 1 MiB, so that the X-Ray error cause AWS's runtimes send with `/error`
/// (`Lambda-Runtime-Function-XRay-Error-Cause`, which they keep under 1 MiB) is taken.
#[cfg(feature = "__server")]
pub(crate) const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// The largest client context an invocation may carry, base64-encoded as the Invoke API's
/// `X-Amz-Client-Context` takes it (AWS Invoke API, `ClientContext`: "up to 3,583 bytes of
/// base64-encoded data"); `/next` hands it out decoded, in [`header::CLIENT_CONTEXT`].
#[cfg(feature = "__server")]
pub(crate) const MAX_CLIENT_CONTEXT_BYTES: usize = 3583;

/// The error type an invocation fails with when its response is over the limit, as the caller
/// sees it.
pub(crate) const RESPONSE_SIZE_TOO_LARGE: &str = "Function.ResponseSizeTooLarge";

/// The error type the runtime reports when the handler's error type cannot be a header value.
pub(crate) const INVALID_ERROR_TYPE: &str = "InvalidErrorType";

/// Lambda's error document, `{"errorMessage", "errorType"}`: the body of every refused
/// Runtime API request, and of the errors Lambda reports for a function (timeouts, crashes).
#[cfg(feature = "__server")]
pub(crate) fn error_document(error_type: &str, message: &str) -> String {
    serde_json::json!({ "errorMessage": message, "errorType": error_type }).to_string()
}

/// The message of [`RESPONSE_SIZE_TOO_LARGE`], for a buffered response of any size over the
/// limit.
#[cfg(feature = "__server")]
pub(crate) fn response_too_large_message() -> String {
    format!(
        "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
    )
}

/// The Extensions API (version 2020-01-01), on the Runtime API's address: extensions register
/// during init, then each asks for its next lifecycle event (AWS "Lambda Extensions API").
#[cfg_attr(not(feature = "extension"), allow(dead_code))]
pub(crate) mod extensions {
    /// The API's version, the first segment of its paths.
    pub(crate) const VERSION: &str = "2020-01-01";
    /// Between the version and a route.
    pub(crate) const EXTENSION: &str = "/extension/";
    /// `POST`: registers an extension for events; answers its identifier.
    pub(crate) const REGISTER: &str = "register";
    /// `GET`: waits for the extension's next event.
    pub(crate) const NEXT: &str = "event/next";
    /// `POST`: the extension could not start; the init phase fails.
    pub(crate) const INIT_ERROR: &str = "init/error";
    /// `POST`: the extension failed and is about to exit.
    pub(crate) const EXIT_ERROR: &str = "exit/error";

    /// Header names, in lower case.
    pub(crate) mod header {
        /// `register`: the extension's name; an external extension's is its file name.
        pub(crate) const NAME: &str = "lambda-extension-name";
        /// The identifier `register` answers with, sent with every later request.
        pub(crate) const IDENTIFIER: &str = "lambda-extension-identifier";
        /// `register`: features the extension accepts, comma separated.
        pub(crate) const ACCEPT_FEATURE: &str = "lambda-extension-accept-feature";
        /// `init/error`, `exit/error`: the error's type.
        pub(crate) const ERROR_TYPE: &str = "lambda-extension-function-error-type";
        /// `event/next`: an identifier of the event handed out.
        #[cfg(feature = "__server")]
        #[allow(dead_code)] // Until the server's Extensions API routes use it.
        pub(crate) const EVENT_IDENTIFIER: &str = "lambda-extension-event-identifier";
    }

    /// The feature of [`header::ACCEPT_FEATURE`] that adds the account id to `register`'s answer.
    pub(crate) const ACCOUNT_ID_FEATURE: &str = "accountId";

    /// The event types an extension registers for, and `eventType` of the events it gets.
    pub(crate) const INVOKE: &str = "INVOKE";
    /// See [`INVOKE`].
    pub(crate) const SHUTDOWN: &str = "SHUTDOWN";

    /// The `type` of an event's `tracing`: the X-Ray trace header's name.
    #[cfg(feature = "__server")]
    pub(crate) const TRACE_TYPE: &str = "X-Amzn-Trace-Id";

    /// The `shutdownReason` of a `SHUTDOWN` event: the instance retires.
    #[cfg(feature = "__server")]
    pub(crate) const SPINDOWN: &str = "spindown";
    /// See [`SPINDOWN`]: an invocation ran out of time.
    #[cfg(feature = "__server")]
    pub(crate) const TIMEOUT: &str = "timeout";
    /// See [`SPINDOWN`]: the runtime or an extension failed.
    #[cfg(feature = "__server")]
    pub(crate) const FAILURE: &str = "failure";

    /// Error types of refused Extensions API requests, as Lambda names them.
    #[cfg(feature = "__server")]
    #[allow(dead_code)] // Until the server's Extensions API routes use them all.
    pub(crate) mod error_type {
        /// `register` without a name.
        pub(crate) const INVALID_NAME: &str = "Extension.InvalidExtensionName";
        /// `register` after the init phase ended.
        pub(crate) const REGISTRATION_CLOSED: &str = "Extension.RegistrationClosed";
        /// A request without [`super::header::IDENTIFIER`].
        pub(crate) const MISSING_IDENTIFIER: &str = "Extension.MissingExtensionIdentifier";
        /// An identifier that is not a UUID.
        pub(crate) const INVALID_IDENTIFIER: &str = "Extension.InvalidExtensionIdentifier";
        /// `init/error` or `exit/error` without [`super::header::ERROR_TYPE`].
        pub(crate) const MISSING_HEADER: &str = "Extension.MissingHeader";
        /// How the init phase fails when an extension posted to `init/error`.
        pub(crate) const INIT_ERROR: &str = "Extension.InitError";
        /// An identifier no extension was given.
        pub(crate) const UNKNOWN_IDENTIFIER: &str = "Extension.UnknownExtensionIdentifier";
        /// A name registered twice, or a request its state does not allow.
        pub(crate) const INVALID_STATE: &str = "Extension.InvalidExtensionState";
        /// An event type that is not one, or `SHUTDOWN` for an internal extension.
        pub(crate) const INVALID_EVENT_TYPE: &str = "Extension.InvalidEventType";
        /// More extensions than Lambda runs.
        pub(crate) const TOO_MANY: &str = "Extension.TooManyExtensions";
        /// A body that is not the JSON the route takes.
        pub(crate) const INVALID_REQUEST_FORMAT: &str = "InvalidRequestFormat";
        /// How an invocation or init fails when an extension crashed (Lambda's `Extension.Crash`).
        pub(crate) const CRASH: &str = "Extension.Crash";
    }

    /// The most extensions a function may have (AWS quotas: 10).
    #[cfg(feature = "__server")]
    #[allow(dead_code)] // Until the server's Extensions API routes use it.
    pub(crate) const MAX_EXTENSIONS: usize = 10;
}

/// The Telemetry API (version 2022-07-01): an extension subscribes to the function's platform
/// events and log lines, and Lambda posts them to the extension in batches (AWS "Lambda
/// Telemetry API").
#[cfg_attr(not(feature = "extension"), allow(dead_code))]
pub(crate) mod telemetry {
    /// The API's version and route: `PUT /2022-07-01/telemetry` subscribes.
    pub(crate) const PATH: &str = "/2022-07-01/telemetry";
    /// The schema version of the subscriptions this side makes and takes.
    pub(crate) const SCHEMA_VERSION: &str = "2022-12-13";
    /// The destination's protocol.
    pub(crate) const HTTP: &str = "HTTP";
    /// The host name a destination must have: the execution environment itself.
    pub(crate) const SANDBOX_HOST: &str = "sandbox.localdomain";

    /// The schema versions a subscription may name (AWS "Lambda Telemetry API reference").
    #[cfg(feature = "__server")]
    pub(crate) const SCHEMA_VERSIONS: [&str; 3] = ["2022-07-01", SCHEMA_VERSION, "2025-01-29"];
    /// The error type of a refused subscription (400).
    #[cfg(feature = "__server")]
    pub(crate) const VALIDATION_ERROR: &str = "ValidationError";

    /// Bounds and defaults of a subscription's buffering (`maxItems`, `maxBytes`, `timeoutMs`).
    pub(crate) const MAX_ITEMS: (u32, u32, u32) = (25, 10_000, 1_000);
    /// See [`MAX_ITEMS`]: (least, most, default).
    pub(crate) const MAX_BYTES: (u32, u32, u32) = (262_144, 1_048_576, 262_144);
    /// See [`MAX_ITEMS`]: (least, most, default), in milliseconds.
    pub(crate) const TIMEOUT_MS: (u32, u32, u32) = (25, 30_000, 1_000);

    /// How many batches' worth of events (`maxItems`, `maxBytes`) a subscription holds in
    /// memory, the batch being delivered included; what comes beyond is dropped. AWS "Lambda
    /// Telemetry API" bounds the buffer ("Lambda might drop records to keep memory utilization
    /// bounded") and tells subscribers to expect payloads of up to `2 * maxBytes` and metadata.
    #[cfg(feature = "__server")]
    pub(crate) const BUFFERED_BATCHES: usize = 2;
    /// The `reason` of the `platform.logsDropped` event that reports dropped events, as
    /// Lambda words it (AWS "Lambda Logs API", platform logs).
    #[cfg(feature = "__server")]
    pub(crate) const LOGS_DROPPED_REASON: &str =
        "Consumer seems to have fallen behind as it has not acknowledged receipt of logs.";
}

#[cfg(all(test, feature = "__server"))]
mod tests {
    use super::*;

    #[test]
    fn error_documents_have_lambdas_two_fields() {
        let document: serde_json::Value =
            serde_json::from_str(&error_document("InvalidRequestID", "Invalid request ID"))
                .unwrap();
        assert_eq!(
            document,
            serde_json::json!({"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
        );
    }
}
