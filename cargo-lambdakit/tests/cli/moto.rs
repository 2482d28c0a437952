//! moto in server mode: a local AWS API for the deploy tests, one per test, on a free port of
//! 127.0.0.1, with AWS's managed policies loaded. `cargo lambdakit` and the AWS CLI reach it
//! through `AWS_ENDPOINT_URL`, with test credentials and no profile of the machine's.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::support::{lambdakit, tool, works, workspace};

/// The account and region every test deploys to (moto's default account).
pub(crate) const ACCOUNT: &str = "123456789012";
pub(crate) const REGION: &str = "eu-west-1";

/// A running moto, stopped when dropped.
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
    scratch: PathBuf,
}

impl Moto {
    /// Starts moto, or says why not and returns `None` (outside CI, when it is not installed).
    pub(crate) fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// Starts moto with extra environment variables of its own.
    pub(crate) fn start_with(variables: &[(&str, &str)]) -> Option<Self> {
        let found =
            works("python3", &["-c", "import moto.server, flask"]) && works("aws", &["--version"]);
        if !tool(
            found,
            "moto in server mode, or the AWS CLI",
            "pip install \"moto[server]\" awscli",
        ) {
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let scratch = std::env::temp_dir().join(format!("lambdakit-moto-{port}"));
        std::fs::create_dir_all(&scratch).unwrap();
        let log = std::fs::File::create(scratch.join("moto.log")).unwrap();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .envs(variables.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            scratch,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not listen within a minute: {}",
                std::fs::read_to_string(moto.scratch.join("moto.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// Points `command` at this moto, with test credentials, and away from the machine's own
    /// AWS configuration.
    pub(crate) fn environment<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_CONFIG_FILE", self.scratch.join("no-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.scratch.join("no-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_DEFAULT_REGION")
    }

    /// `cargo lambdakit ARGS` on `tests/functions`, against this moto.
    pub(crate) fn lambdakit(&self, args: &[&str]) -> Output {
        self.command("test-functions", args).output().unwrap()
    }

    /// `cargo lambdakit ARGS` on the workspace's `package`, against this moto, to run as it
    /// is or with more of its own environment.
    pub(crate) fn command(&self, package: &str, args: &[&str]) -> Command {
        self.command_for(&[package], args)
    }

    /// [`Moto::command`] for several packages (`-p` each).
    pub(crate) fn command_for(&self, packages: &[&str], args: &[&str]) -> Command {
        let mut command = lambdakit();
        command.args(args).arg("--locked");
        for package in packages {
            command.args(["-p", package]);
        }
        command
            .arg("--manifest-path")
            .arg(workspace().join("Cargo.toml"));
        self.environment(&mut command);
        command
    }

    /// `aws ARGS` against this moto; panics when it fails.
    pub(crate) fn aws(&self, args: &[&str]) -> String {
        let mut command = Command::new("aws");
        // Older AWS CLIs ignore `AWS_ENDPOINT_URL`: name the endpoint.
        command
            .args(args)
            .args(["--output", "json", "--endpoint-url", &self.endpoint]);
        // The AWS CLI (v1) reads its region from `AWS_DEFAULT_REGION` only.
        let output = self
            .environment(&mut command)
            .env("AWS_DEFAULT_REGION", REGION)
            .output()
            .unwrap();
        assert!(output.status.success(), "aws {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    /// The number of messages in the SQS queue at `url`, visible or in flight.
    pub(crate) fn messages_in(&self, url: &str) -> u64 {
        let attributes = self.aws(&[
            "sqs",
            "get-queue-attributes",
            "--queue-url",
            url,
            "--attribute-names",
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
        ]);
        let attributes: serde_json::Value = serde_json::from_str(&attributes).unwrap();
        [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
        ]
        .iter()
        .map(|name| {
            attributes["Attributes"][name]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
    }

    /// Creates the S3 bucket `name` in the tests' region.
    pub(crate) fn create_bucket(&self, name: &str) {
        self.aws(&[
            "s3api",
            "create-bucket",
            "--bucket",
            name,
            "--create-bucket-configuration",
            &format!("LocationConstraint={REGION}"),
        ]);
    }

    /// Creates the on-demand DynamoDB table `name`, whose partition key is the string `key`,
    /// with `more` of the AWS CLI's options.
    pub(crate) fn create_table(&self, name: &str, key: &str, more: &[&str]) {
        let attribute = format!("AttributeName={key},AttributeType=S");
        let schema = format!("AttributeName={key},KeyType=HASH");
        let mut args = vec![
            "dynamodb",
            "create-table",
            "--table-name",
            name,
            "--attribute-definitions",
            &attribute,
            "--key-schema",
            &schema,
            "--billing-mode",
            "PAY_PER_REQUEST",
        ];
        args.extend(more);
        self.aws(&args);
    }

    /// The SDK's configuration for this moto, to read back what deploy did.
    pub(crate) async fn config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(cargo_lambdakit::aws::http_client())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await
    }

    /// An S3 client of this moto, addressing buckets in the path (`127.0.0.1` has no
    /// per-bucket host names).
    pub(crate) async fn s3(&self) -> aws_sdk_s3::Client {
        let config = self.config().await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        )
    }

    /// The queue, bucket, topic, streams and delivery stream the functions' triggers name, and
    /// the layer one uses.
    pub(crate) fn create_trigger_sources(&self) {
        let layer = self.scratch.join("layer.zip");
        let zipped = Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').writestr('bin/tool', 'tool')",
            ])
            .arg(&layer)
            .status()
            .unwrap();
        assert!(zipped.success());
        self.aws(&[
            "lambda",
            "publish-layer-version",
            "--layer-name",
            "tools",
            "--zip-file",
            &format!("fileb://{}", layer.display()),
        ]);
        self.aws(&[
            "kinesis",
            "create-stream",
            "--stream-name",
            "clicks",
            "--shard-count",
            "1",
        ]);
        self.create_table(
            "orders",
            "id",
            &[
                "--stream-specification",
                "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES",
            ],
        );
        self.aws(&["sqs", "create-queue", "--queue-name", "jobs"]);
        self.aws(&[
            "logs",
            "create-log-group",
            "--log-group-name",
            "/aws/lambda/behave",
        ]);
        self.create_bucket("uploads");
        self.aws(&["sns", "create-topic", "--name", "news"]);
        // A delivery stream to an HTTP endpoint (backed up to the bucket), with a processor of
        // its own that deploy keeps. (Not extended S3: after an update, moto 5.2.1 describes
        // the S3 destination it adds beside one as empty, which the SDK refuses.)
        let s3 = format!(
            r#"{{"RoleARN":"arn:aws:iam::{ACCOUNT}:role/firehose","BucketARN":"arn:aws:s3:::uploads","BufferingHints":{{"SizeInMBs":5,"IntervalInSeconds":300}},"CompressionFormat":"UNCOMPRESSED","EncryptionConfiguration":{{"NoEncryptionConfig":"NoEncryption"}}}}"#
        );
        let destination = format!(
            r#"{{"EndpointConfiguration":{{"Url":"https://ingest.example.com/records"}},"RoleARN":"arn:aws:iam::{ACCOUNT}:role/firehose","S3Configuration":{s3},"ProcessingConfiguration":{{"Enabled":true,"Processors":[{{"Type":"AppendDelimiterToRecord"}}]}}}}"#
        );
        self.aws(&[
            "firehose",
            "create-delivery-stream",
            "--delivery-stream-name",
            "clicks-delivery",
            "--http-endpoint-destination-configuration",
            &destination,
        ]);
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}
