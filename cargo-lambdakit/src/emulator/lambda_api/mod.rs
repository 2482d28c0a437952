//! The Lambda API of the local Lambda (REST API version 2015-03-31), so that
//! `aws-sdk-lambda` (or any AWS SDK, or the AWS CLI) creates and runs functions from zips in
//! `serve`, unmodified but for its endpoint.
//!
//! A request is read once into an [`Operation`] (`operation`), and [`Emulator::dispatch`]
//! hands each operation to its handler in one `match`. The handlers live by resource:
//! `invoke` (Invoke and function URL requests), `functions` (create, describe, list, update,
//! delete) and `code` (the zips they bring), `versions` (versions and aliases),
//! `permissions` (resource policies), `urls` (function URL configurations), `concurrency`
//! and `tags`. What they share (AWS's error answers, reading a request body, a created
//! function's record) is here.
//!
//! What exists (the first slice of issue #11):
//! - `CreateFunction` with an inline zip (`Code.ZipFile`) of an OS-only runtime
//!   (`provided.al2023`, `provided.al2`): the zip is unpacked under the state directory, its
//!   `bootstrap` checked (present, executable, an ELF binary of the declared architecture or a
//!   script), and a pool added; the function is then invoked through the Invoke API as the
//!   project's are. arm64 code runs under qemu-user on x86_64, when it is installed.
//! - `GetFunction`, `GetFunctionConfiguration`, `ListFunctions`, `DeleteFunction`. The
//!   project's own functions (and `--bootstrap`s) are listed too, but cannot be deleted or
//!   replaced.
//! - `GetFunction`'s `Code.Location` points at `/lambdakit/code/{name}.zip` on the emulator.
//!
//! - State: with `serve --state DIR`, created functions are kept in `DIR` (see `state`) and
//!   served again by a serve started later on it.
//!
//! - `UpdateFunctionCode` (a zip checked as CreateFunction checks it) and
//!   `UpdateFunctionConfiguration` (runtime, role, handler, description, memory, timeout,
//!   environment, layers; tracing, ephemeral storage and logging are kept and reported, not
//!   run by, so `deploy --local` reads back what it set): `$LATEST` gets a new pool, so the next invocation starts an instance of the
//!   new code or settings, while invocations under way finish on the old one. Both take
//!   `RevisionId` (`PreconditionFailedException` when it is not the function's).
//!
//! - Versions and aliases (`versions`): PublishVersion, ListVersionsByFunction, DeleteFunction
//!   of a version, CreateAlias / GetAlias / UpdateAlias / DeleteAlias / ListAliases, and a
//!   qualifier on Invoke and the Get calls.
//!
//! - Resource policies (`permissions`) and function URL configurations (`urls`).
//! - Reserved concurrency (Put/Get/DeleteFunctionConcurrency): it caps each of the
//!   function's pools (created functions otherwise get the local default, 10), and `0`
//!   throttles it. `ListFunctions` pages with `MaxItems` and `Marker`.
//!
//! - Traces (`traces`, lambdakit's own): `GET /lambdakit/traces` lists the traces serve
//!   keeps, `GET /lambdakit/traces/{id}` answers one, for `cargo lambdakit traces`.
//! - Tags: CreateFunction's `Tags`, `ListTags`, `TagResource`, `UntagResource`, and `Tags` in
//!   GetFunction.
//! - Event invoke configs (`event_config`): Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s),
//!   which the queue of `Event` invocations follows (retries, maximum event age,
//!   destinations), kept in the state directory; and a function's `DeadLetterConfig`.
//!
//! - Layers (`layers`): PublishLayerVersion, GetLayerVersion(ByArn), ListLayerVersions,
//!   ListLayers and DeleteLayerVersion, kept in the state directory; a function's `Layers`
//!   must name versions published here, and their extensions run beside it.
//!
//! Not yet: code from S3 and container images, paging of ListVersionsByFunction and
//! ListAliases.

mod code;
mod concurrency;
mod event_config;
mod functions;
mod invoke;
pub use invoke::TENANT_HEADER;
mod layers;
mod operation;
mod permissions;
mod stream;
mod tags;
mod traces;
mod urls;
mod versions;

use std::path::PathBuf;
use std::time::Duration;

use crate::emulator::RequestBody;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde_json::Value;
use tokio::sync::OwnedRwLockReadGuard;

use crate::emulator::state::{Config, Record};
use crate::emulator::{Body, Emulator, aws_error, boxed, function_arn, lock};

pub(crate) use self::functions::Created;
pub(crate) use self::invoke::read_body;
pub(crate) use self::operation::{Operation, owns_path, unknown_operation};
pub(crate) use self::urls::Url;

/// The service name Lambda API calls are signed for.
pub(crate) const SERVICE: &str = "lambda";

/// The largest CreateFunction request: a 50 MB zip, base64 (AWS "Lambda quotas"), and the
/// JSON around it.
const MAX_REQUEST_BYTES: usize = 70 * 1024 * 1024;

/// A control-plane call refused, as AWS answers it.
fn refused(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    boxed(aws_error(status, error_type, message))
}

fn invalid(message: &str) -> Response<Body> {
    refused(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        message,
    )
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    if let Ok(value) = "application/json".parse() {
        response.headers_mut().insert("content-type", value);
    }
    boxed(response)
}

/// The zip at `path` as a download (`Code.Location`, `Content.Location`), or `None` when it
/// cannot be read.
async fn zip_download(path: PathBuf) -> Option<Response<Body>> {
    let zip = tokio::fs::read(path).await.ok()?;
    let mut response = Response::new(Full::new(Bytes::from(zip)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/zip"),
    );
    Some(boxed(response))
}

/// How long a control-plane request's body may take to arrive, once its headers have: as long
/// as its headers may take (`HEADER_READ_TIMEOUT`), so that a body trickled in cannot hold a
/// connection (and its memory) open.
const BODY_READ_TIMEOUT: Duration = crate::emulator::HEADER_READ_TIMEOUT;

/// Reads a JSON request body of at most [`MAX_REQUEST_BYTES`], within [`BODY_READ_TIMEOUT`].
async fn read_request<T: serde::de::DeserializeOwned>(
    body: RequestBody,
    operation: &str,
) -> Result<T, Response<Body>> {
    read_request_within(body, operation, MAX_REQUEST_BYTES, BODY_READ_TIMEOUT).await
}

/// Reads a JSON request body of at most `limit` bytes, refused at once when its
/// `Content-Length` is over it (none of it is read) and as soon as its count passes it, and
/// refused with `408` when it has not arrived whole within `timeout`.
async fn read_request_within<T: serde::de::DeserializeOwned>(
    body: RequestBody,
    operation: &str,
    limit: usize,
    timeout: Duration,
) -> Result<T, Response<Body>> {
    let too_large = || {
        refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &format!("Request must be smaller than {limit} bytes for the {operation} operation"),
        )
    };
    // hyper's hint is exact for a body of a given `Content-Length`.
    if hyper::body::Body::size_hint(&body).lower() > limit as u64 {
        return Err(too_large());
    }
    let body = match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(error)) if error.is::<LengthLimitError>() => return Err(too_large()),
        Ok(Err(error)) => {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                &format!("the {operation} request's body broke off: {error}"),
            ));
        }
        Err(_) => {
            return Err(refused(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeoutException",
                &format!(
                    "the {operation} request's body did not arrive whole within {} s of its headers; send it at once",
                    timeout.as_secs_f64()
                ),
            ));
        }
    };
    serde_json::from_slice(&body)
        .map_err(|error| invalid(&format!("the {operation} request is not valid: {error}")))
}

/// Reads a signed request's body whole, so that its signature is checked before its
/// operation runs: an Invoke's up to the largest payload (and refused past it as Invoke
/// refuses it; the operation applies its own, smaller, limits after), any other's up to
/// [`MAX_REQUEST_BYTES`].
///
/// # Errors
///
/// `413 RequestTooLargeException` past the limit, `400` for a body that broke off.
pub(crate) async fn read_signed(
    operation: &Operation,
    headers: &http::HeaderMap,
    body: hyper::body::Incoming,
) -> Result<Bytes, Response<Body>> {
    let body = body.boxed_unsync();
    if let Operation::Invoke { .. } | Operation::InvokeWithResponseStream { .. } = operation {
        return invoke::read_body(body, headers, crate::emulator::MAX_SYNC_PAYLOAD)
            .await
            .map_err(boxed);
    }
    match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(body) => Ok(body.to_bytes()),
        Err(_) => Err(refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &format!("Request must be smaller than {MAX_REQUEST_BYTES} bytes"),
        )),
    }
}

fn service_error(message: &str) -> Response<Body> {
    refused(
        StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceException",
        message,
    )
}

/// `LastModified` as the Lambda API writes it.
pub(super) use crate::time::lambda_last_modified as last_modified;

async fn remove_dir(dir: PathBuf) {
    let _ = tokio::fs::remove_dir_all(dir).await;
}

/// The answer AWS gives for a policy or URL configuration that is not there.
fn does_not_exist() -> Response<Body> {
    refused(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
    )
}

impl Emulator {
    /// Answers `operation`: the one place each operation meets its handler. `open` (the gate
    /// held shared, see [`Emulator::hold_invocations`]) is held until the answer is made, and
    /// by an `Event` invocation until it has run.
    pub(crate) async fn dispatch(
        &self,
        operation: Operation,
        parts: &http::request::Parts,
        body: RequestBody,
        open: OwnedRwLockReadGuard<()>,
    ) -> Response<Body> {
        // The address GetFunction's `Code.Location` and function URLs are written with.
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|host| host.to_str().ok());
        let url_host = host.unwrap_or("127.0.0.1:9000");
        match operation {
            Operation::Invoke { name, qualifier } => {
                self.invoke(&name, qualifier.as_deref(), parts, body, open, false)
                    .await
            }
            Operation::InvokeWithResponseStream { name, qualifier } => {
                self.invoke(&name, qualifier.as_deref(), parts, body, open, true)
                    .await
            }
            Operation::InvokeFunctionUrl {
                name,
                qualifier,
                path,
            } => {
                self.function_url(&name, qualifier.as_deref(), parts, &path, body)
                    .await
            }
            Operation::InvokeApi { path } => self.api_request(parts, &path, body).await,
            Operation::Console { path, query } => {
                // A page may listen for long: it holds no rebuild back (its invoke holds the
                // gate as the Invoke API does).
                drop(open);
                self.console(&parts.method, &path, query.as_deref(), body)
                    .await
            }
            Operation::CreateFunction => self.create(body).await,
            Operation::ListFunctions { marker, max_items } => {
                self.list(marker.as_deref(), max_items)
            }
            Operation::GetFunction { name, qualifier } => {
                self.get_function(&name, qualifier.as_deref(), host)
            }
            Operation::GetFunctionConfiguration { name, qualifier } => {
                self.get_configuration(&name, qualifier.as_deref())
            }
            Operation::GetFunctionCode { name, qualifier } => {
                self.code(&name, qualifier.as_deref()).await
            }
            Operation::ListTraces => self.list_traces(),
            Operation::GetTrace { id } => self.get_trace(&id),
            Operation::UpdateFunctionCode { name } => self.update_code(&name, body).await,
            Operation::UpdateFunctionConfiguration { name } => {
                self.update_configuration(&name, body).await
            }
            Operation::DeleteFunction {
                name,
                qualifier: None,
            } => self.delete(&name).await,
            Operation::DeleteFunction {
                name,
                qualifier: Some(version),
            } => self.delete_version(&name, &version).await,
            Operation::PublishVersion { name } => self.publish(&name, body).await,
            Operation::ListVersionsByFunction { name } => self.versions(&name),
            Operation::CreateAlias { name } => self.create_alias(&name, body).await,
            Operation::GetAlias { name, alias } => self.get_alias(&name, &alias),
            Operation::ListAliases {
                name,
                function_version,
            } => self.aliases(&name, function_version.as_deref()),
            Operation::UpdateAlias { name, alias } => self.update_alias(&name, &alias, body).await,
            Operation::DeleteAlias { name, alias } => self.delete_alias(&name, &alias).await,
            Operation::AddPermission { name, qualifier } => {
                self.add_permission(&name, qualifier.as_deref(), body).await
            }
            Operation::GetPolicy { name, qualifier } => self.policy(&name, qualifier.as_deref()),
            Operation::RemovePermission {
                name,
                qualifier,
                statement_id,
            } => {
                self.remove_permission(&name, qualifier.as_deref(), &statement_id)
                    .await
            }
            Operation::CreateFunctionUrlConfig { name, qualifier } => {
                self.put_url((&name, qualifier.as_deref()), url_host, body, true)
                    .await
            }
            Operation::UpdateFunctionUrlConfig { name, qualifier } => {
                self.put_url((&name, qualifier.as_deref()), url_host, body, false)
                    .await
            }
            Operation::GetFunctionUrlConfig { name, qualifier } => {
                self.get_url(&name, qualifier.as_deref(), url_host)
            }
            Operation::DeleteFunctionUrlConfig { name, qualifier } => {
                self.delete_url(&name, qualifier.as_deref()).await
            }
            Operation::PutFunctionConcurrency { name } => {
                self.put_concurrency(&name, Some(body)).await
            }
            Operation::DeleteFunctionConcurrency { name } => {
                self.put_concurrency(&name, None).await
            }
            Operation::GetFunctionConcurrency { name } => self.concurrency(&name),
            Operation::PutFunctionEventInvokeConfig { name, qualifier } => {
                self.put_event_config(&name, qualifier.as_deref(), body, false)
                    .await
            }
            Operation::UpdateFunctionEventInvokeConfig { name, qualifier } => {
                self.put_event_config(&name, qualifier.as_deref(), body, true)
                    .await
            }
            Operation::GetFunctionEventInvokeConfig { name, qualifier } => {
                self.event_config(&name, qualifier.as_deref(), false).await
            }
            Operation::DeleteFunctionEventInvokeConfig { name, qualifier } => {
                self.event_config(&name, qualifier.as_deref(), true).await
            }
            Operation::ListFunctionEventInvokeConfigs {
                name,
                marker,
                max_items,
            } => self.list_event_configs(&name, marker.as_deref(), max_items),
            Operation::PublishLayerVersion { layer } => {
                self.publish_layer(&layer, body, url_host).await
            }
            Operation::GetLayerVersion { layer, version } => {
                self.get_layer_version(&layer, version, url_host)
            }
            Operation::GetLayerVersionByArn { arn } => {
                self.get_layer_version_by_arn(&arn, url_host)
            }
            Operation::ListLayerVersions { layer, list } => self.list_layer_versions(&layer, &list),
            Operation::ListLayers { list } => self.list_layers(&list),
            Operation::DeleteLayerVersion { layer, version } => {
                self.delete_layer_version(&layer, version).await
            }
            Operation::GetLayerVersionCode { layer, version } => {
                self.layer_code(&layer, version).await
            }
            Operation::ListTags { name } => self.tags(&name),
            Operation::TagResource { name } => self.tag(&name, body).await,
            Operation::UntagResource { name, keys } => self.untag(&name, &keys).await,
            Operation::StepFunctions(action) => {
                // Executions take the gate for each of their invocations, as Invoke does:
                // holding it for a whole execution would keep a rebuild waiting on it.
                drop(open);
                self.step_functions(action, body).await
            }
        }
    }

    /// `ResourceNotFoundException`, worded as AWS words it.
    fn not_found(&self, name: &str) -> Response<Full<Bytes>> {
        aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {}", function_arn(&self.region, name)),
        )
    }

    /// Writes `record` into its function's directory.
    async fn save(&self, record: &Record) -> Result<(), Response<Body>> {
        let dir = self.state.join(&record.name);
        let record = record.clone();
        let saved = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            record.save(&dir)
        })
        .await;
        match saved {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(service_error(&format!(
                "the function's record cannot be written into the state directory: {error}"
            ))),
            Err(error) => Err(service_error(&format!(
                "writing the function's record stopped: {error}"
            ))),
        }
    }

    /// The record of the created function `name`, for a call that changes it: not found, or
    /// refused for one of the project's functions.
    fn record(&self, name: &str, operation: &str) -> Result<Record, Box<Response<Body>>> {
        if let Some(record) = lock(&self.records).get(name) {
            return Ok(record.clone());
        }
        match self.pool(name) {
            Some(_) => Err(Box::new(refused(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                &format!(
                    "`{name}` is a function of the project this serve runs; {operation} changes only functions created through the Lambda API (rebuild it, or use `watch`)"
                ),
            ))),
            None => Err(Box::new(boxed(self.not_found(name)))),
        }
    }

    /// `RevisionId` given with a change must be the function's (AWS's optimistic locking).
    fn same_revision(given: Option<&str>, config: &Config) -> Result<(), Box<Response<Body>>> {
        match given {
            Some(given) if given != config.revision_id => Err(Box::new(refused(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            ))),
            _ => Ok(()),
        }
    }

    /// The ARN a qualifier's policy or URL belongs to.
    fn qualified_arn(&self, name: &str, qualifier: Option<&str>) -> String {
        let arn = function_arn(&self.region, name);
        qualifier.map_or(arn.clone(), |qualifier| format!("{arn}:{qualifier}"))
    }

    /// The record of `name` for a change to its policy or URL, its `qualifier` checked: an
    /// alias of it (or `$LATEST`, for a policy).
    fn accessed(
        &self,
        name: &str,
        qualifier: Option<&str>,
        operation: &str,
    ) -> Result<Record, Box<Response<Body>>> {
        let record = self.record(name, operation)?;
        match qualifier {
            None => Ok(record),
            Some(alias) if record.aliases.contains_key(alias) => Ok(record),
            Some(qualifier) => Err(Box::new(refused(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!(
                    "Function not found: {}",
                    self.qualified_arn(name, Some(qualifier))
                ),
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A server answering each request with what [`read_request_within`] makes of its body
    /// (`limit` 1 KiB, `timeout` 300 ms): `200` and the JSON read, or the refusal.
    async fn reader() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let serving = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    |request: http::Request<hyper::body::Incoming>| async {
                        let read: Result<Value, _> = read_request_within(
                            request.into_body().boxed_unsync(),
                            "CreateFunction",
                            1024,
                            Duration::from_millis(300),
                        )
                        .await;
                        Ok::<_, std::convert::Infallible>(match read {
                            Ok(value) => json_response(StatusCode::OK, &value),
                            Err(refusal) => refusal,
                        })
                    },
                );
                connections.spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        (address, serving)
    }

    /// Sends `head` (and the headers ending it), then `body`, and reads the answer to its end.
    async fn send(address: std::net::SocketAddr, head: &str, body: &[u8]) -> String {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(
                format!("POST /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        stream.write_all(body).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_string(&mut answer))
            .await
            .expect("an answer")
            .unwrap();
        answer
    }

    #[tokio::test]
    async fn control_plane_bodies_are_bounded_in_size_and_time() {
        let (address, serving) = reader().await;

        // Within bounds: read.
        let read = send(
            address,
            "Content-Length: 8\r\nConnection: close",
            br#"{"a": 1}"#,
        )
        .await;
        assert!(read.starts_with("HTTP/1.1 200"), "{read}");

        // Declared over the limit: refused with none of it sent.
        let declared = send(address, "Content-Length: 73400320", b"").await;
        assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
        assert!(declared.contains("RequestTooLargeException"), "{declared}");

        // Chunked past the limit: refused there.
        let chunk = format!("{:x}\r\n{}\r\n", 2000, "x".repeat(2000));
        let chunked = send(address, "Transfer-Encoding: chunked", chunk.as_bytes()).await;
        assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");

        // Headers whole, and then the body never comes in full: timed out, and said so.
        let trickled = send(address, "Content-Length: 100", br#"{"a": "#).await;
        assert!(trickled.starts_with("HTTP/1.1 408"), "{trickled}");
        assert!(trickled.contains("RequestTimeoutException"), "{trickled}");
        assert!(
            trickled.contains("did not arrive whole within 0.3 s"),
            "{trickled}"
        );

        serving.abort();
    }
}
