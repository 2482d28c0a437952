//! `cargo lambdakit invoke`: invoke a function on the local Lambda through the Invoke API (or,
//! with `--remote`, a deployed one through AWS's), print its answer, and its log tail on
//! stderr; the exit code says whether it failed. With `--state-machine`, run a state machine
//! instead (see `executions`): its output on stdout, the path it took on stderr.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use aws_sdk_lambda::types::InvocationType;
use base64::Engine as _;
use bytes::Bytes;
use clap::Args;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use super::prelude::TOKEN_ENV;
use crate::error::{CliError, exit_codes};
use crate::island::{self, Threads};

/// Options of `invoke`.
#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The function to invoke (with `--state-machine`, the state machine to run).
    pub name: String,
    /// Run the state machine NAME (deployed on serve, or with `--remote` on AWS) with the
    /// event as its input, print its output, and the states it went through on stderr.
    #[arg(long, conflicts_with_all = ["asynchronous", "identity", "qualifier"])]
    pub state_machine: bool,
    /// The event, as JSON.
    #[arg(long, conflicts_with = "data_file")]
    pub data: Option<String>,
    /// A file holding the event.
    #[arg(long, value_name = "PATH", conflicts_with = "event")]
    pub data_file: Option<PathBuf>,
    /// A built-in example event: apigw-v1, apigw-v2, function-url, alb, s3-put, s3-delete,
    /// sqs, sns, eventbridge, schedule, dynamodb, kinesis, ses, iot, cognito-pre-signup,
    /// cognito-pre-token, logs, kafka, firehose.
    #[arg(long, value_name = "KIND", conflicts_with = "data")]
    pub event: Option<String>,
    /// A parameter of the example event, such as `--param bucket=photos` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", requires = "event")]
    pub params: Vec<String>,
    /// The local Lambda's address.
    #[arg(long, default_value = crate::local::DEFAULT_URL)]
    pub endpoint: String,
    /// The token of a serve that requires one (`serve --allow-remote`); local invocations only.
    #[arg(long, value_name = "TOKEN", env = TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
    /// The tenant of a function with tenant isolation (`tenancy = "per-tenant"`): its
    /// invocations run only in that tenant's instances.
    #[arg(long, value_name = "ID", value_parser = tenant)]
    pub tenant: Option<String>,
    /// Invoke asynchronously (`Event`): queue it and return at once.
    #[arg(long = "async")]
    pub asynchronous: bool,
    /// A Cognito identity for the function's context, as JSON (`{"cognitoIdentityId": ..,
    /// "cognitoIdentityPoolId": ..}`); local invocations only.
    #[arg(long, value_name = "JSON", conflicts_with = "remote")]
    pub identity: Option<String>,
    /// Invoke the function deployed on AWS (the standard credential and region chain, and
    /// `AWS_ENDPOINT_URL`), not the local one.
    #[arg(long, conflicts_with = "endpoint")]
    pub remote: bool,
    /// With `--remote`: a version or alias.
    #[arg(long, requires = "remote")]
    pub qualifier: Option<String>,
    /// With `--remote`: the AWS region.
    #[arg(long, requires = "remote")]
    pub region: Option<String>,
    /// With `--remote`: the AWS profile.
    #[arg(long, requires = "remote")]
    pub profile: Option<String>,
}

/// A tenant id, checked as Lambda checks it.
fn tenant(id: &str) -> Result<String, String> {
    crate::deploy::settings::tenant_id(id)
        .map(|()| id.to_owned())
        .map_err(|problem| format!("`{id}` {problem}"))
}

impl InvokeArgs {
    /// `Event` with `--async`, else `RequestResponse`: the Invoke API's words, for the local
    /// Lambda's header and AWS's SDK alike.
    fn invocation_type(&self) -> InvocationType {
        if self.asynchronous {
            InvocationType::Event
        } else {
            InvocationType::RequestResponse
        }
    }
}

pub(crate) fn run(args: InvokeArgs) -> Result<ExitCode, CliError> {
    let payload = payload(&args)?;
    if args.state_machine {
        return state_machine(&args, &payload);
    }
    if args.remote {
        return remote(&args, payload);
    }
    let authority = args
        .endpoint
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|authority| !authority.is_empty() && !authority.contains('/'))
        .ok_or_else(|| CliError::Config {
            key: "--endpoint".into(),
            problem: format!("is `{}`; expected `http://host:port`", args.endpoint),
        })?
        .to_owned();
    let request = Request::post(format!("/2015-03-31/functions/{}/invocations", args.name))
        .header("host", &authority)
        .header("x-amz-invocation-type", args.invocation_type().as_str())
        .header("x-amz-log-type", "Tail")
        .header("content-type", "application/json");
    let request = match &args.identity {
        Some(identity) => request.header("x-lambdakit-cognito-identity", identity),
        None => request,
    };
    let request = match &args.token {
        Some(token) => request.header(crate::emulator::TOKEN_HEADER, token),
        None => request,
    };
    let request = match &args.tenant {
        Some(tenant) => request.header(crate::emulator::TENANT_HEADER, tenant),
        None => request,
    };
    let request = request
        .body(Full::new(payload))
        .map_err(|error| CliError::Config {
            key: "NAME".into(),
            problem: error.to_string(),
        })?;
    let (status, headers, body) =
        island::runtime(Threads::One)?.block_on(send(&authority, request))?;

    if !status.is_success() {
        let error_type = headers
            .get("x-amzn-errortype")
            .and_then(|value| value.to_str().ok());
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|body| body["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        return Err(CliError::Rejected {
            error_type: error_type.map_or_else(|| status.to_string(), str::to_owned),
            message,
        });
    }
    let logs = headers
        .get("x-amz-log-result")
        .and_then(|value| value.to_str().ok());
    Ok(answer(
        &body,
        logs,
        headers.contains_key("x-amz-function-error"),
    ))
}

/// Invokes the deployed function through AWS's Invoke API.
fn remote(args: &InvokeArgs, payload: Bytes) -> Result<ExitCode, CliError> {
    let source = crate::aws::Source {
        region: args.region.clone(),
        profile: args.profile.clone(),
    };
    let output = island::runtime(Threads::One)?.block_on(async {
        let config = crate::aws::load(&source).await?;
        aws_sdk_lambda::Client::new(&config)
            .invoke()
            .function_name(&args.name)
            .set_qualifier(args.qualifier.clone())
            .set_tenant_id(args.tenant.clone())
            .invocation_type(args.invocation_type())
            .log_type(aws_sdk_lambda::types::LogType::Tail)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_vec()))
            .send()
            .await
            .map_err(|error| crate::aws::failed("lambda:InvokeFunction", error))
    })?;
    let body = output
        .payload()
        .map(|payload| payload.as_ref())
        .unwrap_or_default();
    Ok(answer(
        body,
        output.log_result(),
        output.function_error().is_some(),
    ))
}

/// Runs the state machine `args.name` with `input`, on serve or (`--remote`) on AWS.
fn state_machine(args: &InvokeArgs, input: &[u8]) -> Result<ExitCode, CliError> {
    let source = crate::aws::Source {
        region: args.region.clone(),
        profile: args.profile.clone(),
    };
    let input = String::from_utf8_lossy(input);
    let ended = island::runtime(Threads::One)?.block_on(async {
        let local = (!args.remote).then_some(args.endpoint.as_str());
        let aws = crate::aws::Aws::connect_or_local(&source, local, args.token.as_deref()).await?;
        crate::executions::run(&aws, &args.name, &input).await
    })?;
    let mut stderr = std::io::stderr().lock();
    if let Some(timeline) = &ended.timeline {
        let _ = stderr.write_all(timeline.render().as_bytes());
    }
    let took = ended
        .timeline
        .as_ref()
        .map(|timeline| format!(" in {:.0} ms", timeline.total_ms))
        .unwrap_or_default();
    let _ = writeln!(stderr, "{}{took}: {}", ended.status, ended.arn);
    if let Some((error, cause)) = &ended.error {
        let _ = writeln!(stderr, "error: {error}: {cause}");
    }
    drop(stderr);
    let output = ended.output.as_deref().unwrap_or_default();
    Ok(answer(output.as_bytes(), None, !ended.succeeded()))
}

/// Prints an invocation's log tail (base64, as the Invoke API returns it) on stderr and its
/// answer on stdout, and returns the exit code: 1 when the function failed.
fn answer(body: &[u8], logs: Option<&str>, failed: bool) -> ExitCode {
    let logs = logs.and_then(|logs| base64::engine::general_purpose::STANDARD.decode(logs).ok());
    if let Some(logs) = logs {
        let _ = std::io::stderr().write_all(&logs);
    }
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error of ours.
    let _ = stdout.write_all(body).and_then(|()| {
        if body.is_empty() {
            Ok(())
        } else {
            stdout.write_all(b"\n")
        }
    });
    if failed {
        return ExitCode::from(exit_codes::FUNCTION_ERROR);
    }
    ExitCode::SUCCESS
}

fn payload(args: &InvokeArgs) -> Result<Bytes, CliError> {
    if let Some(kind) = &args.event {
        let mut params = std::collections::BTreeMap::new();
        for param in &args.params {
            let (name, value) = param.split_once('=').ok_or_else(|| CliError::Config {
                key: "--param".into(),
                problem: format!("is `{param}`; write it `NAME=VALUE`"),
            })?;
            params.insert(name.to_owned(), value.to_owned());
        }
        let event = crate::events::example(kind, &params)?;
        return Ok(Bytes::from(event.to_string()));
    }
    let bytes = match (&args.data, &args.data_file) {
        (Some(data), _) => data.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path).map_err(|error| CliError::Payload {
            source: format!("`{}`", path.display()),
            message: error.to_string(),
        })?,
        (None, None) => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(CliError::Payload {
                    source: "the command line".into(),
                    message: "no event was given".into(),
                });
            }
            let mut bytes = Vec::new();
            stdin
                .read_to_end(&mut bytes)
                .map_err(|error| CliError::Payload {
                    source: "stdin".into(),
                    message: error.to_string(),
                })?;
            bytes
        }
    };
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".to_vec()
    } else {
        bytes
    };
    serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|error| CliError::Payload {
        source: "the event".into(),
        message: format!("it is not JSON: {error}"),
    })?;
    Ok(Bytes::from(bytes))
}

async fn send(
    authority: &str,
    request: Request<Full<Bytes>>,
) -> Result<(http::StatusCode, http::HeaderMap, Bytes), CliError> {
    let unreachable = |message: String| CliError::Emulator { message };
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|error| unreachable(format!("cannot connect to `{authority}`: {error}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| unreachable(error.to_string()))?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| unreachable(error.to_string()));
    let answer = match response {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|error| unreachable(error.to_string()))?
                .to_bytes();
            Ok((parts.status, parts.headers, body))
        }
        Err(error) => Err(error),
    };
    driver.abort();
    answer
}
