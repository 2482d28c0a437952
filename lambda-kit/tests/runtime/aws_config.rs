//! `lambda_kit::aws`: S3 and DynamoDB calls against moto from Lambda-like environments, the
//! trust store against a local HTTPS server whose certificate comes from a test CA, and the
//! standard chain (a profile file) in a child process with no credentials in its environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::idempotency::create_table;
use crate::support::{Moto, tool, within};

/// What Lambda sets for a function's execution role, with endpoints from `endpoints`.
fn lambda_env<'a>(endpoints: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut vars = vec![
        ("AWS_REGION", "eu-west-1"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "ASIALAMBDAROLE"),
        ("AWS_SECRET_ACCESS_KEY", "role-secret"),
        ("AWS_SESSION_TOKEN", "role-session-token"),
        ("AWS_LAMBDA_FUNCTION_NAME", "sdk"),
    ];
    vars.extend_from_slice(endpoints);
    vars
}

/// One bucket and one table, written and read back through clients of `config`.
async fn s3_and_dynamodb_round_trip(config: &aws_types::SdkConfig, name: &str) {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    );
    // Outside us-east-1, a bucket is created in the client's region only when it says so.
    let region = config.region().unwrap().as_ref();
    let location = CreateBucketConfiguration::builder()
        .location_constraint(BucketLocationConstraint::from(region))
        .build();
    let created = s3
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(location);
    created.send().await.unwrap();
    s3.put_object()
        .bucket(name)
        .key("greeting")
        .body(ByteStream::from_static(b"hello from lambda_kit::aws"))
        .send()
        .await
        .unwrap();
    let object = s3.get_object().bucket(name).key("greeting").send().await;
    let body = object.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"hello from lambda_kit::aws");

    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    create_table(&dynamodb, name).await;
    dynamodb
        .put_item()
        .table_name(name)
        .item("id", AttributeValue::S("order-1".into()))
        .item("quantity", AttributeValue::N("3".into()))
        .send()
        .await
        .unwrap();
    let item = dynamodb
        .get_item()
        .table_name(name)
        .key("id", AttributeValue::S("order-1".into()))
        .send()
        .await
        .unwrap();
    let quantity = item.item().and_then(|item| item.get("quantity"));
    assert_eq!(quantity, Some(&AttributeValue::N("3".into())));
}

#[tokio::test]
async fn s3_and_dynamodb_work_from_lambdas_environment_through_aws_endpoint_url() {
    let Some(moto) = Moto::start() else { return };
    let vars = lambda_env(&[("AWS_ENDPOINT_URL", moto.endpoint())]);
    let config = lambda_kit::aws::Builder::new()
        .environment(vars)
        .load()
        .await;

    assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
    let credentials = config.credentials_provider().unwrap();
    let credentials =
        aws_credential_types::provider::ProvideCredentials::provide_credentials(&credentials)
            .await
            .unwrap();
    assert_eq!(credentials.access_key_id(), "ASIALAMBDAROLE");
    assert_eq!(credentials.session_token(), Some("role-session-token"));
    within(60, s3_and_dynamodb_round_trip(&config, "global-endpoint")).await;
}

#[tokio::test]
async fn per_service_endpoint_variables_win_over_aws_endpoint_url() {
    let Some(moto) = Moto::start() else { return };
    // Nothing listens on port 1: a call that used the global endpoint would fail.
    let vars = lambda_env(&[
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ("AWS_ENDPOINT_URL_S3", moto.endpoint()),
        ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint()),
    ]);
    let config = lambda_kit::aws::Builder::new()
        .environment(vars)
        .load()
        .await;
    within(60, s3_and_dynamodb_round_trip(&config, "service-endpoints")).await;
}

/// A scratch directory of this test's own, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lambda-kit-aws-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "openssl {args:?}: {output:?}");
}

/// A test CA (`ca.pem`) and a certificate it issued for `localhost` and `127.0.0.1`
/// (`server.pem`, `server.key`), or `None` when `openssl` is missing outside CI.
fn test_ca(dir: &Path) -> Option<()> {
    let found = Command::new("openssl").arg("version").output().is_ok();
    if !tool(found, "the openssl CLI", "apt-get install openssl") {
        return None;
    }
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req", "-x509", "-days", "2", "-keyout", "ca.key", "-out", "ca.pem",
    ];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&[
        "-subj",
        "/CN=lambda-kit test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    let mut request = vec!["req", "-keyout", "server.key", "-out", "server.csr"];
    request.extend_from_slice(&ec);
    request.extend_from_slice(&["-subj", "/CN=localhost"]);
    openssl(dir, &request);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    Some(())
}

/// Python's `http.server` behind `ssl`, answering every GET with an empty S3 bucket list.
const HTTPS_SERVER: &str = r#"
import http.server, ssl, sys
BODY = (b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b'<Owner><ID>test</ID></Owner><Buckets></Buckets></ListAllMyBucketsResult>')
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The HTTPS server above, stopped when dropped.
struct HttpsServer {
    child: std::process::Child,
    port: u16,
}

impl HttpsServer {
    fn start(dir: &Path) -> Self {
        use std::io::BufRead;

        let mut child = Command::new("python3")
            .args(["-c", HTTPS_SERVER])
            .arg(dir.join("server.pem"))
            .arg(dir.join("server.key"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("port: {line:?}"));
        Self { child, port }
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// S3's `ListBuckets` against `endpoint` with `builder`'s configuration, without retries.
async fn list_buckets(
    builder: lambda_kit::aws::Builder,
    endpoint: &str,
) -> Result<usize, SdkError<aws_sdk_s3::operation::list_buckets::ListBucketsError>> {
    let config = builder
        .environment(lambda_env(&[("AWS_ENDPOINT_URL", endpoint)]))
        .load()
        .await;
    let config = aws_sdk_s3::config::Builder::from(&config)
        .retry_config(RetryConfig::disabled())
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    let listed = within(30, s3.list_buckets().send()).await?;
    Ok(listed.buckets().len())
}

#[tokio::test]
async fn a_server_of_a_private_ca_is_refused_unless_its_root_is_added() {
    let python = Command::new("python3").arg("--version").output().is_ok();
    if !tool(python, "python3", "apt-get install python3") {
        return;
    }
    let dir = scratch("private-ca");
    if test_ca(&dir).is_none() {
        return;
    }
    let server = HttpsServer::start(&dir);
    let endpoint = format!("https://localhost:{}", server.port);

    // Amazon's roots alone: the handshake fails on the certificate.
    let refused = list_buckets(lambda_kit::aws::Builder::new(), &endpoint).await;
    let error = refused.expect_err("a certificate of a private CA is refused by default");
    assert!(matches!(error, SdkError::DispatchFailure(_)), "{error:?}");
    let chain = format!("{:?}", aws_sdk_s3::error::DisplayErrorContext(&error));
    assert!(chain.contains("UnknownIssuer"), "{chain}");

    // With the test CA added, the same request goes through.
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    let trusting = lambda_kit::aws::Builder::new()
        .root_certificates_pem(ca)
        .unwrap();
    assert_eq!(list_buckets(trusting, &endpoint).await.unwrap(), 0);

    // The system's roots do not hold the test CA either.
    let system = lambda_kit::aws::Builder::new().system_roots();
    assert!(list_buckets(system, &endpoint).await.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn root_certificates_that_are_not_pem_certificates_are_refused() {
    let key_only = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let error = lambda_kit::aws::Builder::new()
        .root_certificates_pem(key_only)
        .unwrap_err();
    assert!(error.is_certificates());
    assert!(error.to_string().contains("BEGIN CERTIFICATE"), "{error}");
}

/// Names the child function a child process is started for; the others return at once.
const CHILD_VAR: &str = "LAMBDA_KIT_TEST_AWS_CHILD";

#[tokio::test]
#[ignore = "started as a child process by `without_credentials_in_the_environment_the_standard_chain_is_used`"]
async fn child_prints_the_configurations_credentials() {
    #[allow(clippy::disallowed_methods)] // The test reads its own environment.
    let wanted = std::env::var(CHILD_VAR);
    if wanted.as_deref() != Ok("child_prints_the_configurations_credentials") {
        return;
    }
    let config = lambda_kit::aws::config().await;
    let provider = config.credentials_provider().unwrap();
    let credentials =
        aws_credential_types::provider::ProvideCredentials::provide_credentials(&provider)
            .await
            .unwrap();
    println!("access key: {}", credentials.access_key_id());
    println!("region: {:?}", config.region().map(|r| r.to_string()));
    // The configuration works, too: moto, through `AWS_ENDPOINT_URL`.
    let s3 = aws_sdk_s3::Client::new(&config);
    let listed = s3.list_buckets().send().await.unwrap();
    println!("buckets: {}", listed.buckets().len());
}

fn run_child(vars: Vec<(String, String)>) -> String {
    let name = "child_prints_the_configurations_credentials";
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            &format!("aws_config::{name}"),
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env_clear()
        .envs(vars)
        .env(CHILD_VAR, name)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{output:?}");
    stdout
}

#[tokio::test]
async fn without_credentials_in_the_environment_the_standard_chain_is_used() {
    let Some(moto) = Moto::start() else { return };
    let dir = scratch("profile");
    let credentials = dir.join("credentials");
    std::fs::write(
        &credentials,
        "[default]\naws_access_key_id = FROMPROFILE\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    let config = dir.join("config");
    std::fs::write(&config, "[default]\nregion = ap-south-1\n").unwrap();
    let home = dir.to_str().unwrap();
    let profile_vars = [
        ("HOME", home),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        // No instance metadata service here: do not wait for it.
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let owned = |vars: &[(&str, &str)]| -> Vec<(String, String)> {
        let owned = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        owned.collect()
    };
    let child = tokio::task::spawn_blocking({
        let vars = owned(&profile_vars);
        move || run_child(vars)
    });
    let output = within(120, child).await.unwrap();
    assert!(output.contains("access key: FROMPROFILE"), "{output}");
    assert!(output.contains("region: Some(\"ap-south-1\")"), "{output}");
    assert!(output.contains("buckets: 0"), "{output}");

    // The same process environment with Lambda's variables takes them, not the profile.
    let mut lambda_vars = profile_vars.to_vec();
    lambda_vars.extend(lambda_env(&[]));
    let child = tokio::task::spawn_blocking({
        let vars = owned(&lambda_vars);
        move || run_child(vars)
    });
    let output = within(120, child).await.unwrap();
    assert!(output.contains("access key: ASIALAMBDAROLE"), "{output}");
    assert!(output.contains("region: Some(\"eu-west-1\")"), "{output}");
    let _ = std::fs::remove_dir_all(&dir);
}
