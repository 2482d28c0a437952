//! What `serve` exposes, tried as an attacker would (issue #17): a web page the developer
//! visits, a page that re-points its name at 127.0.0.1 (DNS rebinding), another machine, and
//! code uploaded through the Lambda API reaching for the developer's AWS keys.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_lambda::error::ProvideErrorMetadata as _;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
use base64::Engine as _;
use cargo_lambdakit::package::zip::{self, Entry};

use crate::support::{
    Answer, Serve, executable_script, lambdakit, read_answer, tool, works, workspace,
};

/// A runtime in shell: answers each invocation with its environment (`env`'s lines).
const ANSWERS_ITS_ENVIRONMENT: &str = r#"api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while :; do
  id=$(/usr/bin/curl -sS -D - -o /dev/null "$api/next" | /usr/bin/tr -d '\r' | /usr/bin/sed -n 's/^lambda-runtime-aws-request-id: //Ip')
  /usr/bin/env | /usr/bin/curl -sS -o /dev/null -X POST --data-binary @- "$api/$id/response"
done"#;

/// `head` (the request line), then `headers` (with `Host: address` unless they name one),
/// then `body`.
fn send(address: SocketAddr, head: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!(
        "{head}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    read_answer(stream)
}

fn invoke(address: SocketAddr, name: &str, headers: &[(&str, &str)]) -> Answer {
    send(
        address,
        &format!("POST /2015-03-31/functions/{name}/invocations HTTP/1.1"),
        headers,
        b"{}",
    )
}

/// The refusal's AWS error type and message.
fn refusal(answer: &Answer) -> (String, String) {
    assert_eq!(
        answer.status,
        403,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let message = answer.json()["message"].as_str().unwrap().to_owned();
    let error_type = answer.header("x-amzn-errortype").unwrap().to_owned();
    (error_type, message)
}

/// A CreateFunction request of `name`, whose zip's bootstrap is the shell `script`.
fn create_request(name: &str, script: &str) -> Vec<u8> {
    let zip = zip::write(vec![Entry {
        name: "bootstrap".into(),
        data: format!("#!/bin/sh\n{script}\n").into_bytes(),
        executable: true,
    }])
    .unwrap()
    .bytes;
    serde_json::json!({
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Role": "arn:aws:iam::123456789012:role/lambda",
        "Handler": "bootstrap",
        "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)},
    })
    .to_string()
    .into_bytes()
}

#[test]
fn web_pages_and_rebound_names_cannot_reach_the_lambda_api() {
    let scratch = Scratch::new("pages");
    let serve = Serve::spawn(scratch.serve("guarded", "127.0.0.1", &[]));
    let address = serve.address;
    let create = create_request("planted", "exit 0");

    // A page's "simple" request (no preflight): text/plain, its own origin.
    let answer = send(
        address,
        "POST /2015-03-31/functions HTTP/1.1",
        &[
            ("Content-Type", "text/plain"),
            ("Origin", "https://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        &create,
    );
    let (error_type, message) = refusal(&answer);
    assert_eq!(error_type, "AccessDeniedException");
    assert!(message.contains("does not answer web pages"), "{message}");
    let answer = send(
        address,
        "POST /2015-03-31/functions HTTP/1.1",
        &[
            ("Content-Type", "text/plain"),
            ("Origin", "https://evil.example"),
        ],
        &create,
    );
    let (_, message) = refusal(&answer);
    assert!(message.contains("`https://evil.example`"), "{message}");
    // Nothing was created.
    let answer = send(
        address,
        "GET /2015-03-31/functions/planted HTTP/1.1",
        &[],
        b"",
    );
    assert_eq!(answer.status, 404);

    // Invoke, from a page of another origin, another site of this machine, or under a name
    // re-pointed at 127.0.0.1.
    let foreign = format!("http://127.0.0.1:{}", address.port() + 1);
    let rebound = format!("evil.example:{}", address.port());
    for (headers, why) in [
        (vec![("Origin", "https://evil.example")], "`Origin`"),
        (vec![("Origin", "null")], "`Origin`"),
        (vec![("Origin", foreign.as_str())], "`Origin`"),
        (
            vec![("Sec-Fetch-Site", "cross-site")],
            "`Sec-Fetch-Site: cross-site`",
        ),
        (
            vec![("Sec-Fetch-Site", "same-site")],
            "`Sec-Fetch-Site: same-site`",
        ),
        (vec![("Host", rebound.as_str())], "`Host: evil.example:"),
        (
            vec![
                ("Host", rebound.as_str()),
                ("Origin", &format!("http://{rebound}")),
            ],
            "`Host: evil.example:",
        ),
    ] {
        let (error_type, message) = refusal(&invoke(address, "guarded", &headers));
        assert_eq!(error_type, "AccessDeniedException");
        assert!(message.contains(why), "{headers:?}: {message}");
    }

    // What the SDKs, the CLI and serve's own pages send is answered.
    let own = format!("http://{address}");
    let localhost = format!("localhost:{}", address.port());
    for headers in [
        vec![],
        vec![("Origin", own.as_str())],
        vec![("Sec-Fetch-Site", "same-origin")],
        vec![("Sec-Fetch-Site", "none")],
        vec![("Host", localhost.as_str())],
    ] {
        let answer = invoke(address, "guarded", &headers);
        assert_eq!(
            answer.status,
            200,
            "{headers:?}: {}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    // A caller that is not a page creates functions as before.
    let answer = send(
        address,
        "POST /2015-03-31/functions HTTP/1.1",
        &[("Content-Type", "application/json")],
        &create,
    );
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );

    // Function URLs are for browsers: they answer pages of any origin.
    let answer = send(
        address,
        "GET /lambda-url/guarded/ HTTP/1.1",
        &[
            ("Host", rebound.as_str()),
            ("Origin", "https://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        b"",
    );
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
}

/// Runs `command` to its end, within `limit` (a serve that starts instead of refusing is
/// killed, and the test fails).
fn finished(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// A directory of the test's, removed with it: the bootstrap, and `--state` (`serve` is
/// stopped with a kill, which leaves it no time to remove a scratch state of its own).
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("lambdakit-exposure-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// `serve --port 0 --bind BIND OPTIONS` of one function, `name`, answering with its
    /// environment.
    fn serve(&self, name: &str, bind: &str, options: &[&str]) -> Command {
        let bootstrap = executable_script(&self.0.join("bootstrap"), ANSWERS_ITS_ENVIRONMENT);
        let mut command = lambdakit();
        command
            .args(["serve", "--port", "0", "--bind", bind, "--state"])
            .arg(self.0.join("state"))
            .arg("--bootstrap")
            .arg(format!("{name}={}", bootstrap.display()))
            .args(options)
            .env_remove("LAMBDAKIT_SERVE_TOKEN");
        command
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An `aws-sdk-lambda` client of `endpoint` signing with the access key id `key` and the
/// secret access key `secret`.
fn client(endpoint: &str, key: &str, secret: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key, secret, None, None, "tests"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

#[tokio::test]
async fn beyond_loopback_takes_a_flag_and_then_a_token() {
    // Not without saying so.
    let scratch = Scratch::new("remote");
    let output = finished(
        scratch.serve("remote", "0.0.0.0", &[]),
        Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: `--bind 0.0.0.0` lets other machines reach serve"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: add `--allow-remote`"), "{stderr}");

    let serve = Serve::spawn(scratch.serve("remote", "0.0.0.0", &["--allow-remote"]));
    serve.errors_with(&["warning: serve takes requests from other machines"]);
    let printed = serve.output_with(&["must carry the token"]).join("\n");
    let token = printed
        .split("must carry the token ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap()
        .to_owned();
    assert_eq!(token.len(), 64, "{printed}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{printed}");
    let address = SocketAddr::from(([127, 0, 0, 1], serve.address.port()));
    let endpoint = format!("http://{address}");

    let (error_type, message) = refusal(&invoke(address, "remote", &[]));
    assert_eq!(error_type, "MissingAuthenticationTokenException");
    assert!(message.contains("`X-Lambdakit-Token: TOKEN`"), "{message}");
    let (error_type, _) = refusal(&invoke(
        address,
        "remote",
        &[("Authorization", "Bearer 0000000000000000000000000000")],
    ));
    assert_eq!(error_type, "UnrecognizedClientException");
    let bearer = format!("Bearer {token}");
    let named = format!("devbox.example:{}", address.port());
    for headers in [
        vec![("Authorization", bearer.as_str())],
        vec![("X-Lambdakit-Token", token.as_str())],
        // Other machines reach it by their names for it.
        vec![
            ("X-Lambdakit-Token", token.as_str()),
            ("Host", named.as_str()),
        ],
    ] {
        let answer = invoke(address, "remote", &headers);
        assert_eq!(
            answer.status,
            200,
            "{headers:?}: {}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    // A page stays out, token or not.
    let (error_type, _) = refusal(&invoke(
        address,
        "remote",
        &[
            ("X-Lambdakit-Token", token.as_str()),
            ("Origin", "https://evil.example"),
        ],
    ));
    assert_eq!(error_type, "AccessDeniedException");
    // Function URLs need no token.
    let answer = send(address, "GET /lambda-url/remote/ HTTP/1.1", &[], b"");
    assert_eq!(answer.status, 200);

    // AWS SDKs sign with it as their access key id and secret.
    let refused = client(&endpoint, "test", "test")
        .list_functions()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.as_service_error().and_then(|error| error.code()),
        Some("UnrecognizedClientException"),
        "{refused:?}"
    );
    let listed = client(&endpoint, &token, &token)
        .list_functions()
        .send()
        .await
        .unwrap();
    assert_eq!(listed.functions().len(), 1);

    // `invoke` and `destroy --local` (as `deploy --local`) take it as `--token` or from the
    // environment.
    let invoked = |token: Option<&str>, from_env: bool| {
        let mut command = lambdakit();
        command
            .args(["invoke", "remote", "--data", "{}", "--endpoint", &endpoint])
            .env_remove("LAMBDAKIT_SERVE_TOKEN");
        match (token, from_env) {
            (Some(token), false) => command.args(["--token", token]),
            (Some(token), true) => command.env("LAMBDAKIT_SERVE_TOKEN", token),
            (None, _) => &mut command,
        };
        command.output().unwrap()
    };
    let output = invoked(None, false);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("MissingAuthenticationTokenException"),
        "{stderr}"
    );
    assert!(stderr.contains("`--token TOKEN`"), "{stderr}");
    for from_env in [false, true] {
        let output = invoked(Some(&token), from_env);
        assert!(output.status.success(), "{output:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("AWS_LAMBDA_FUNCTION_NAME=remote"),
            "{output:?}"
        );
    }
    let destroyed = |token: Option<&str>| {
        let mut command = lambdakit();
        command
            .args(["destroy", "-p", "test-functions", "--manifest-path"])
            .arg(workspace().join("Cargo.toml"))
            .args(["--local", &endpoint])
            .env_remove("LAMBDAKIT_SERVE_TOKEN");
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        command.output().unwrap()
    };
    let output = destroyed(None);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("requires its token, and none was given"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: pass the token"), "{stderr}");
    let output = destroyed(Some(&token));
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("nothing is deployed"),
        "{output:?}"
    );
}

#[test]
fn a_token_given_on_loopback_is_required_there() {
    let token = "given-token-0123456789";
    let scratch = Scratch::new("given");
    let serve = Serve::spawn(scratch.serve("remote", "127.0.0.1", &["--token", token]));
    let printed = serve.output_with(&["must carry the token"]).join("\n");
    assert!(
        !printed.contains(token),
        "a given token is not echoed: {printed}"
    );
    let (error_type, _) = refusal(&invoke(serve.address, "remote", &[]));
    assert_eq!(error_type, "MissingAuthenticationTokenException");
    let answer = invoke(serve.address, "remote", &[("X-Lambdakit-Token", token)]);
    assert_eq!(answer.status, 200);

    let output = finished(
        scratch.serve("remote", "127.0.0.1", &["--token", "short"]),
        Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("is not a token"),
        "{output:?}"
    );
}

#[tokio::test]
async fn functions_created_through_the_api_never_get_the_shells_credentials() {
    let scratch = Scratch::new("credentials");
    let mut command = scratch.serve("project", "127.0.0.1", &[]);
    command
        .env("AWS_ACCESS_KEY_ID", "AKIDOFTHESHELL")
        .env("AWS_SECRET_ACCESS_KEY", "secret-of-the-shell")
        .env("AWS_SESSION_TOKEN", "session-of-the-shell")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
        .env("AWS_REGION", "eu-west-1");
    let serve = Serve::spawn(command);
    let lambda = crate::sdk::client(&serve.endpoint());
    let zip = zip::write(vec![Entry {
        name: "bootstrap".into(),
        data: format!("#!/bin/sh\n{ANSWERS_ITS_ENVIRONMENT}\n").into_bytes(),
        executable: true,
    }])
    .unwrap()
    .bytes;
    lambda
        .create_function()
        .function_name("uploaded")
        .runtime(Runtime::Providedal2023)
        .role("arn:aws:iam::123456789012:role/lambda")
        .handler("bootstrap")
        .environment(
            Environment::builder()
                .variables("GREETING", "hello")
                .build(),
        )
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
        .send()
        .await
        .unwrap();
    let environment = |name: &str| {
        let answer = invoke(serve.address, name, &[]);
        assert_eq!(answer.status, 200);
        String::from_utf8(answer.body).unwrap()
    };

    let uploaded = environment("uploaded");
    for secret in [
        "AKIDOFTHESHELL",
        "secret-of-the-shell",
        "session-of-the-shell",
    ] {
        assert!(!uploaded.contains(secret), "{uploaded}");
    }
    for line in [
        "GREETING=hello",
        "AWS_ENDPOINT_URL=http://127.0.0.1:4566",
        "AWS_REGION=eu-west-1",
        "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
    ] {
        assert!(
            uploaded.lines().any(|seen| seen == line),
            "{line}: {uploaded}"
        );
    }

    // The project's functions (here a `--bootstrap`) keep the shell's, as documented.
    let project = environment("project");
    for line in [
        "AWS_ACCESS_KEY_ID=AKIDOFTHESHELL",
        "AWS_SECRET_ACCESS_KEY=secret-of-the-shell",
        "AWS_SESSION_TOKEN=session-of-the-shell",
    ] {
        assert!(
            project.lines().any(|seen| seen == line),
            "{line}: {project}"
        );
    }
}

/// `method path` with `body`, signed by aws-sigv4 (the AWS SDKs' signer) for `lambda` with the
/// credential `key`/`secret` at `time`: the headers to send it with.
fn signed_headers(
    address: SocketAddr,
    (method, path): (&str, &str),
    body: &[u8],
    (key, secret): (&str, &str),
    time: SystemTime,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = Credentials::new(key, secret, None, None, "tests").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = address.to_string();
    let content_type = [
        ("host", host.as_str()),
        ("content-type", "application/json"),
    ];
    let signable = SignableRequest::new(
        method,
        format!("http://{address}{path}"),
        content_type.into_iter(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (headers, _) = instructions.into_parts();
    headers
        .into_iter()
        .map(|header| (header.name().to_owned(), header.value().to_owned()))
        .chain([("Content-Type".to_owned(), "application/json".to_owned())])
        .collect()
}

/// `send` with owned headers.
fn send_signed(
    address: SocketAddr,
    (method, path): (&str, &str),
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    send(
        address,
        &format!("{method} {path} HTTP/1.1"),
        &headers,
        body,
    )
}

#[tokio::test]
async fn beyond_loopback_signatures_are_verified() {
    let token = "signing-token-0123456789";
    let scratch = Scratch::new("signed");
    // `--allow-remote` on a loopback address: serve takes any `Host` and requires its token,
    // as beyond loopback, while the test stays on loopback.
    let serve =
        Serve::spawn(scratch.serve("remote", "127.0.0.1", &["--allow-remote", "--token", token]));
    let address = serve.address;
    let endpoint = serve.endpoint();

    // An AWS SDK with the token as key id and secret: taken, the body signed and checked.
    let lambda = client(&endpoint, token, token);
    let invoked = lambda
        .invoke()
        .function_name("remote")
        .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"n": 1}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(invoked.status_code(), 200);
    assert!(
        String::from_utf8_lossy(invoked.payload().unwrap().as_ref())
            .contains("AWS_LAMBDA_FUNCTION_NAME=remote")
    );
    // With another secret: refused.
    let refused = client(&endpoint, token, "guessed-secret")
        .list_functions()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.as_service_error().and_then(|error| error.code()),
        Some("InvalidSignatureException"),
        "{refused:?}"
    );

    // A CreateFunction signed, then its body changed on the way (the zip swapped): refused,
    // and nothing is created.
    let ours = (token, token);
    let create = ("POST", "/2015-03-31/functions");
    let honest = create_request("tampered", "exit 0");
    let swapped = create_request("tampered", "touch /tmp/owned; exit 0");
    let headers = signed_headers(address, create, &honest, ours, SystemTime::now());
    let (error_type, message) = refusal(&send_signed(address, create, &headers, &swapped));
    assert_eq!(error_type, "InvalidSignatureException");
    assert!(message.contains("does not match"), "{message}");
    assert!(message.contains("AWS_SECRET_ACCESS_KEY=TOKEN"), "{message}");
    let answer = send(
        address,
        "GET /2015-03-31/functions/tampered HTTP/1.1",
        &[("X-Lambdakit-Token", token)],
        b"",
    );
    assert_eq!(answer.status, 404);
    // An invocation with its payload changed: refused before it runs.
    let invoke_path = ("POST", "/2015-03-31/functions/remote/invocations");
    let headers = signed_headers(address, invoke_path, br#"{"n":1}"#, ours, SystemTime::now());
    let (error_type, _) = refusal(&send_signed(address, invoke_path, &headers, br#"{"n":2}"#));
    assert_eq!(error_type, "InvalidSignatureException");
    // The same request unchanged is taken: the refusals above were the changes'.
    let answer = send_signed(address, invoke_path, &headers, br#"{"n":1}"#);
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    // Signed 20 minutes ago (a replay, or a clock off by as much): refused.
    let stale = SystemTime::now() - Duration::from_secs(20 * 60);
    let headers = signed_headers(address, invoke_path, b"{}", ours, stale);
    let (error_type, message) = refusal(&send_signed(address, invoke_path, &headers, b"{}"));
    assert_eq!(error_type, "InvalidSignatureException");
    assert!(message.starts_with("Signature expired"), "{message}");
    // Another key id, well signed: not a credential serve knows.
    let headers = signed_headers(
        address,
        invoke_path,
        b"{}",
        ("AKIDEXAMPLE", token),
        SystemTime::now(),
    );
    let (error_type, _) = refusal(&send_signed(address, invoke_path, &headers, b"{}"));
    assert_eq!(error_type, "UnrecognizedClientException");

    // The AWS CLI, as the README shows it.
    if !tool(
        works("aws", &["--version"]),
        "the AWS CLI",
        "pip install awscli",
    ) {
        return;
    }
    let aws = |secret: &str, args: &[&str]| {
        Command::new("aws")
            .args(args)
            .args(["--endpoint-url", &endpoint])
            .env("AWS_ACCESS_KEY_ID", token)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap()
    };
    let out = scratch.0.join("answer.json");
    let out = out.to_str().unwrap();
    // `fileb://` sends the file's bytes as they are in AWS CLI v1 and v2 alike.
    let payload = scratch.0.join("payload.json");
    std::fs::write(&payload, r#"{"from": "the cli"}"#).unwrap();
    let payload = format!("fileb://{}", payload.display());
    let invoke_args = [
        "lambda",
        "invoke",
        "--function-name",
        "remote",
        "--payload",
        &payload,
        out,
    ];
    let output = aws(token, &invoke_args);
    assert!(output.status.success(), "{output:?}");
    assert!(
        std::fs::read_to_string(out)
            .unwrap()
            .contains("AWS_LAMBDA_FUNCTION_NAME=remote")
    );
    let output = aws("guessed-secret", &invoke_args);
    assert!(!output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("InvalidSignatureException"),
        "{output:?}"
    );
}
