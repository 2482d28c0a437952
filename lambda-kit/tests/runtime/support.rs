//! Helpers shared by the runtime tests.

use std::future::Future;
use std::time::Duration;

/// Fails the test instead of hanging when `future` does not finish in time.
pub(crate) async fn within<F: Future>(seconds: u64, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(seconds), future)
        .await
        .unwrap_or_else(|_| panic!("did not finish within {seconds} s"))
}

/// A configuration pointing at `address`, for servers the tests script by hand.
pub(crate) fn config_for(address: std::net::SocketAddr) -> lambda_kit::Config {
    let api = address.to_string();
    let vars = [
        ("AWS_LAMBDA_RUNTIME_API", api.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", "scripted"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
    ];
    lambda_kit::Config::from_lookup(|name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
    .unwrap()
}

/// Whether a tool the test needs is there. Under CI (`CI=true`) it must be; elsewhere the test
/// is skipped, saying what is missing and how to install it.
pub(crate) fn tool(found: bool, what: &str, install: &str) -> bool {
    #[allow(clippy::disallowed_methods)] // The test's own environment.
    let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
    assert!(found || !in_ci, "{what} is missing: {install}");
    if !found {
        eprintln!("skipping: {what} is missing ({install})");
    }
    found
}

/// moto in server mode on a free port of 127.0.0.1: a local AWS, stopped when dropped.
pub(crate) struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Moto {
    /// Starts moto, or says why not and returns `None` (outside CI, when it is not installed).
    pub(crate) fn start() -> Option<Self> {
        use std::process::{Command, Stdio};

        let found = Command::new("python3")
            .args(["-c", "import moto.server, flask"])
            .output()
            .is_ok_and(|output| output.status.success());
        if !tool(found, "moto in server mode", "pip install \"moto[server]\"") {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not listen within a minute"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// Where moto listens, as `http://127.0.0.1:PORT`.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A DynamoDB client for this moto, with test credentials and a plain HTTP client.
    pub(crate) fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(self.dynamodb_config().build())
    }

    /// [`dynamodb`](Self::dynamodb) with `interceptor` on every request.
    pub(crate) fn dynamodb_with(
        &self,
        interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static,
    ) -> aws_sdk_dynamodb::Client {
        let config = self.dynamodb_config().interceptor(interceptor).build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    fn dynamodb_config(&self) -> aws_sdk_dynamodb::config::Builder {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};

        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
