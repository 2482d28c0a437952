//! Invocations that outlive their caller: a synchronous one whose caller hangs up runs to its
//! end, and `Event` invocations wait in the function's queue, are retried and then go to
//! their destination, as Lambda's do.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    DeadLetterConfig, DestinationConfig, Environment, FunctionCode, OnFailure, OnSuccess, Runtime,
};
use cargo_lambdakit::package::zip::{self, Entry};
use serde_json::Value;

use crate::moto::{ACCOUNT, Moto, REGION};
use crate::sdk::client;
use crate::support::{Serve, executable_script, invoke, lambdakit, request};

/// A runtime on the Runtime API's wire format alone. Each invocation is appended (its request
/// id and event, one JSON line) to the event's `record` file, or else to `$RECORD`; then it
/// sleeps the event's `sleep` seconds, and fails when the event says `fail`.
const RUNTIME: &str = r#"
import json, os, time, urllib.request
base = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(base + "next") as answer:
        request_id = answer.headers["lambda-runtime-aws-request-id"]
        event = json.loads(answer.read() or b"{}")
    path = event.get("record") or os.environ.get("RECORD")
    if path:
        with open(path, "a") as file:
            file.write(json.dumps({"requestId": request_id, "event": event}) + "\n")
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        body, kind = json.dumps({"errorType": "Failed", "errorMessage": "asked to fail"}), "error"
    else:
        body, kind = json.dumps({"ok": True}), "response"
    urllib.request.urlopen(urllib.request.Request(base + request_id + "/" + kind, data=body.encode(), method="POST")).read()
"#;

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lambdakit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("runtime.py"), RUNTIME).unwrap();
        Self(dir)
    }

    /// A bootstrap running [`RUNTIME`], recording into `record` unless the event names a file.
    fn bootstrap(&self, name: &str, record: &Path) -> PathBuf {
        executable_script(
            &self.0.join(name),
            &format!(
                "export RECORD={record:?}\nexec python3 {:?}",
                self.0.join("runtime.py")
            ),
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `serve --port 0` of the `--bootstrap`s `functions` (name and path), with `options`.
fn serve(functions: &[(&str, &Path)], options: &[&str]) -> Serve {
    Serve::spawn(serve_command(functions, options))
}

/// The command [`serve`] runs, for a test to add to.
fn serve_command(functions: &[(&str, &Path)], options: &[&str]) -> Command {
    let mut command = lambdakit();
    command.args(["serve", "--port", "0"]).args(options);
    for (name, path) in functions {
        command
            .arg("--bootstrap")
            .arg(format!("{name}={}", path.display()));
    }
    // Retries come 200 ms, then 400 ms, after a failure, not Lambda's minutes.
    command.env("LAMBDAKIT_ASYNC_RETRY_DELAY_MS", "200");
    command
}

/// Points `command`'s AWS at an endpoint nothing answers (port 1 of 127.0.0.1), with test
/// credentials and none of the machine's configuration.
fn unreachable_aws(command: &mut Command) -> &mut Command {
    command
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
}

/// The JSON lines of `path` (none when it is not there yet).
fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Waits up to `within` for `done` to hold of what `serve` printed, and returns the output.
fn output_until(serve: &Serve, within: Duration, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let started = Instant::now();
    loop {
        let output = serve.output();
        if done(&output) {
            return output;
        }
        assert!(
            started.elapsed() < within,
            "serve's output did not come to what the test waits for:\n{}",
            output.join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count(lines: &[String], prefix: &str) -> usize {
    lines.iter().filter(|line| line.starts_with(prefix)).count()
}

#[test]
fn a_caller_hanging_up_leaves_its_invocation_running_to_its_end() {
    let scratch = Scratch::new("hang-up");
    let record = scratch.0.join("record");
    let slow = scratch.bootstrap("slow", &record);
    let serve = serve(&[("slow", &slow)], &["--concurrency", "2"]);

    // Two callers send an invocation that takes a second, and hang up while it runs.
    let callers: Vec<TcpStream> = (0..2)
        .map(|_| {
            let body = br#"{"sleep": 1}"#;
            let mut stream = TcpStream::connect(serve.address).unwrap();
            write!(
                stream,
                "POST /2015-03-31/functions/slow/invocations HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
                serve.address,
                body.len()
            )
            .unwrap();
            stream.write_all(body).unwrap();
            stream
        })
        .collect();
    let started = Instant::now();
    while records(&record).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the invocations never began"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(callers);

    // Both run to their end and are reported, as Lambda reports them.
    let output = output_until(&serve, Duration::from_secs(20), |output| {
        count(output, "END RequestId: ") == 2 && count(output, "REPORT RequestId: ") == 2
    });
    for started in records(&record) {
        let id = started["requestId"].as_str().unwrap();
        assert!(
            output.contains(&format!("END RequestId: {id}")),
            "{id}: {output:?}"
        );
    }
    // Their instances are back in the pool: the next invocation runs on one of them.
    let answer = invoke(serve.address, "slow", &[], b"{}");
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["ok"], true);
    let output = output_until(&serve, Duration::from_secs(20), |output| {
        count(output, "REPORT RequestId: ") == 3
    });
    let last = output
        .iter()
        .rfind(|line| line.starts_with("REPORT RequestId: "))
        .unwrap();
    assert!(!last.contains("Init Duration"), "a cold start: {last}");
}

#[test]
fn every_event_invocation_runs_once_waiting_for_a_free_instance() {
    let scratch = Scratch::new("queued");
    let record = scratch.0.join("record");
    let busy = scratch.bootstrap("busy", &record);
    let serve = serve(&[("busy", &busy)], &["--concurrency", "1"]);

    let mut accepted = Vec::new();
    for id in 0..200 {
        let answer = invoke(
            serve.address,
            "busy",
            &[("X-Amz-Invocation-Type", "Event")],
            format!(r#"{{"id": {id}}}"#).as_bytes(),
        );
        assert_eq!(
            answer.status,
            202,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        accepted.push(answer.header("x-amzn-RequestId").unwrap().to_owned());
    }

    let started = Instant::now();
    while records(&record).len() < 200 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} of 200 events ran",
            records(&record).len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // None runs twice, nor after the 200th.
    std::thread::sleep(Duration::from_millis(500));
    let ran = records(&record);
    let mut ids: Vec<u64> = ran
        .iter()
        .map(|run| run["event"]["id"].as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..200).collect::<Vec<_>>());
    // Each ran under the request id its 202 carried.
    let mut ran_as: Vec<&str> = ran
        .iter()
        .map(|run| run["requestId"].as_str().unwrap())
        .collect();
    ran_as.sort_unstable();
    accepted.sort_unstable();
    assert_eq!(ran_as, accepted);
    let errors = serve.errors();
    assert!(
        !errors.iter().any(|line| line.contains("dropped")),
        "{errors:?}"
    );
}

#[test]
fn a_failing_event_is_tried_three_times_then_goes_to_its_destination() {
    let scratch = Scratch::new("destination");
    let attempts = scratch.0.join("attempts");
    let delivered = scratch.0.join("delivered");
    let failing = scratch.bootstrap("failing", &attempts);
    let catcher = scratch.bootstrap("catcher", &delivered);
    let serve = serve(&[("catcher", &catcher), ("failing", &failing)], &[]);

    let destination = "arn:aws:lambda:us-east-1:123456789012:function:catcher";
    let config = request(
        serve.address,
        "PUT /2019-09-25/functions/failing/event-invoke-config HTTP/1.1",
        format!(r#"{{"DestinationConfig": {{"OnFailure": {{"Destination": "{destination}"}}}}}}"#)
            .as_bytes(),
    );
    assert_eq!(
        config.status,
        200,
        "{}",
        String::from_utf8_lossy(&config.body)
    );
    assert_eq!(config.json()["MaximumRetryAttempts"], 2);
    assert_eq!(
        config.json()["DestinationConfig"]["OnFailure"]["Destination"],
        destination
    );

    let answer = invoke(
        serve.address,
        "failing",
        &[("X-Amz-Invocation-Type", "Event")],
        br#"{"fail": true, "order": 7}"#,
    );
    assert_eq!(answer.status, 202);
    let request_id = answer.header("x-amzn-RequestId").unwrap().to_owned();

    let started = Instant::now();
    while records(&delivered).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the destination got nothing; attempts: {:?}",
            records(&attempts)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let tried = records(&attempts);
    assert_eq!(tried.len(), 3, "{tried:?}");
    assert!(
        tried
            .iter()
            .all(|attempt| attempt["requestId"] == request_id)
    );

    let record = &records(&delivered)[0]["event"];
    assert_eq!(record["version"], "1.0");
    assert!(record["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(record["requestContext"]["requestId"], request_id);
    assert_eq!(
        record["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:failing:$LATEST"
    );
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["requestPayload"]["order"], 7);
    assert_eq!(record["responseContext"]["statusCode"], 200);
    assert_eq!(record["responseContext"]["executedVersion"], "$LATEST");
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responsePayload"]["errorType"], "Failed");

    // Without a destination, and with one retry, it is dropped with one line naming it.
    let config = request(
        serve.address,
        "PUT /2019-09-25/functions/failing/event-invoke-config HTTP/1.1",
        br#"{"MaximumRetryAttempts": 1}"#,
    );
    assert_eq!(config.status, 200);
    let answer = invoke(
        serve.address,
        "failing",
        &[("X-Amz-Invocation-Type", "Event")],
        br#"{"fail": true}"#,
    );
    let request_id = answer.header("x-amzn-RequestId").unwrap().to_owned();
    let errors = serve.errors_with(&[&request_id]);
    let dropped: Vec<_> = errors
        .iter()
        .filter(|line| line.contains(&request_id))
        .collect();
    assert_eq!(dropped.len(), 1, "{errors:?}");
    assert!(dropped[0].contains("dropped"), "{dropped:?}");
    assert!(dropped[0].contains("2 attempts"), "{dropped:?}");
    assert_eq!(
        records(&attempts)
            .iter()
            .filter(|attempt| attempt["requestId"] == request_id.as_str())
            .count(),
        2
    );
}

#[test]
fn a_full_queue_refuses_the_event_with_429() {
    let scratch = Scratch::new("full");
    let record = scratch.0.join("record");
    let slow = scratch.bootstrap("slow", &record);
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--concurrency", "1", "--bootstrap"])
        .arg(format!("slow={}", slow.display()))
        .env("LAMBDAKIT_ASYNC_QUEUE_SIZE", "3");
    let serve = Serve::spawn(command);

    let statuses: Vec<u16> = (0..5)
        .map(|_| {
            invoke(
                serve.address,
                "slow",
                &[("X-Amz-Invocation-Type", "Event")],
                br#"{"sleep": 2}"#,
            )
            .status
        })
        .collect();
    assert_eq!(statuses, [202, 202, 202, 429, 429]);
    let refused = invoke(
        serve.address,
        "slow",
        &[("X-Amz-Invocation-Type", "Event")],
        br#"{"sleep": 2}"#,
    );
    assert_eq!(
        refused.header("x-amzn-ErrorType"),
        Some("TooManyRequestsException")
    );
}

#[test]
fn event_invoke_configs_are_checked_kept_and_followed() {
    let scratch = Scratch::new("configs");
    let attempts = scratch.0.join("attempts");
    let failing = scratch.bootstrap("failing", &attempts);
    let mut command = serve_command(&[("failing", &failing)], &[]);
    unreachable_aws(&mut command);
    let serve = Serve::spawn(command);
    let path = "/2019-09-25/functions/failing/event-invoke-config";
    let call = |method: &str, body: &str| {
        request(
            serve.address,
            &format!("{method} {path} HTTP/1.1"),
            body.as_bytes(),
        )
    };

    let none = call("GET", "");
    assert_eq!(none.status, 404);
    assert_eq!(
        none.header("x-amzn-ErrorType"),
        Some("ResourceNotFoundException")
    );
    for refused in [
        r#"{"MaximumRetryAttempts": 3}"#,
        r#"{"MaximumEventAgeInSeconds": 30}"#,
        r#"{"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:123456789012:function:failing"}}}"#,
        r#"{"DestinationConfig": {"OnFailure": {"Destination": "somewhere"}}}"#,
    ] {
        let answer = call("PUT", refused);
        assert_eq!(answer.status, 400, "{refused}");
        assert_eq!(
            answer.header("x-amzn-ErrorType"),
            Some("InvalidParameterValueException")
        );
    }
    // An update needs a config to update.
    assert_eq!(call("POST", r#"{"MaximumRetryAttempts": 0}"#).status, 404);

    let queue = "arn:aws:sqs:us-east-1:123456789012:failures";
    let put = call(
        "PUT",
        &format!(
            r#"{{"MaximumEventAgeInSeconds": 600, "DestinationConfig": {{"OnFailure": {{"Destination": "{queue}"}}}}}}"#
        ),
    );
    assert_eq!(put.status, 200);
    let updated = call("POST", r#"{"MaximumRetryAttempts": 0}"#).json();
    assert_eq!(updated["MaximumRetryAttempts"], 0);
    assert_eq!(updated["MaximumEventAgeInSeconds"], 600);
    assert_eq!(
        updated["DestinationConfig"]["OnFailure"]["Destination"],
        queue
    );
    assert_eq!(
        updated["FunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:failing:$LATEST"
    );
    assert_eq!(call("GET", "").json()["MaximumRetryAttempts"], 0);

    // Tried once, then it goes to SQS, whose endpoint does not answer: one line says so,
    // naming the invocation, the queue and the error.
    let answer = invoke(
        serve.address,
        "failing",
        &[("X-Amz-Invocation-Type", "Event")],
        br#"{"fail": true}"#,
    );
    assert_eq!(answer.status, 202);
    let request_id = answer.header("x-amzn-RequestId").unwrap().to_owned();
    let errors = serve.errors_with(&[&request_id]);
    let line = errors
        .iter()
        .find(|line| line.contains(&request_id))
        .unwrap();
    assert!(line.contains("after 1 attempt:"), "{line}");
    assert!(line.contains(queue), "{line}");
    assert!(line.contains("sqs:GetQueueUrl failed"), "{line}");
    assert_eq!(records(&attempts).len(), 1);

    assert_eq!(call("DELETE", "").status, 204);
    assert_eq!(call("GET", "").status, 404);
    assert_eq!(call("DELETE", "").status, 404);
    let elsewhere = request(
        serve.address,
        "GET /2019-09-25/functions/nobody/event-invoke-config HTTP/1.1",
        b"",
    );
    assert_eq!(elsewhere.status, 404);
}

/// A zip whose `bootstrap` runs [`RUNTIME`] from `scratch`, for CreateFunction.
fn runtime_zip(scratch: &Scratch) -> Vec<u8> {
    zip::write(vec![Entry {
        name: "bootstrap".into(),
        data: format!(
            "#!/bin/sh\nexec python3 {:?}\n",
            scratch.0.join("runtime.py")
        )
        .into_bytes(),
        executable: true,
    }])
    .unwrap()
    .bytes
}

/// Creates the function `name` from [`runtime_zip`] on `lambda`, recording into `record`, with
/// `dead_letter` as its dead-letter queue, if any.
async fn create_function(
    lambda: &aws_sdk_lambda::Client,
    scratch: &Scratch,
    name: &str,
    record: &Path,
    dead_letter: Option<&str>,
) {
    let mut create = lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .role(format!("arn:aws:iam::{ACCOUNT}:role/lambda"))
        .handler("bootstrap")
        .environment(
            Environment::builder()
                .variables("RECORD", record.to_str().unwrap())
                .build(),
        )
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(runtime_zip(scratch)))
                .build(),
        );
    if let Some(target) = dead_letter {
        create = create.dead_letter_config(DeadLetterConfig::builder().target_arn(target).build());
    }
    let created = create.send().await.unwrap();
    assert_eq!(
        created
            .dead_letter_config()
            .and_then(|config| config.target_arn()),
        dead_letter
    );
}

/// An `Event` invocation of `name` with `event`: its request id.
fn invoke_event(serve: &Serve, name: &str, event: &[u8]) -> String {
    let answer = invoke(
        serve.address,
        name,
        &[("X-Amz-Invocation-Type", "Event")],
        event,
    );
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.header("x-amzn-RequestId").unwrap().to_owned()
}

/// The messages of the SQS queue at `url` (received, so hidden from the next receive for its
/// visibility timeout); waits up to a minute for the first.
fn received(moto: &Moto, url: &str, serve: &Serve) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let output = moto.aws(&[
            "sqs",
            "receive-message",
            "--queue-url",
            url,
            "--max-number-of-messages",
            "10",
            "--message-attribute-names",
            "All",
            "--wait-time-seconds",
            "1",
        ]);
        if !output.trim().is_empty() {
            let messages: Value = serde_json::from_str(&output).unwrap();
            if let Some(messages) = messages["Messages"].as_array().filter(|m| !m.is_empty()) {
                return messages.clone();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing reached {url}; serve's stderr: {:?}",
            serve.errors()
        );
    }
}

/// No (more) message is in the SQS queue at `url`.
fn drained(moto: &Moto, url: &str) -> bool {
    moto.aws(&[
        "sqs",
        "receive-message",
        "--queue-url",
        url,
        "--wait-time-seconds",
        "1",
    ])
    .trim()
    .is_empty()
}

/// Checks that `record` is Lambda's record of the invocation `request_id` of `function`.
fn assert_record(record: &Value, request_id: &str, function: &str, condition: &str) {
    assert_eq!(record["version"], "1.0", "{record}");
    assert!(
        record["timestamp"].as_str().unwrap().ends_with('Z'),
        "{record}"
    );
    assert_eq!(
        record["requestContext"]["requestId"], request_id,
        "{record}"
    );
    assert_eq!(
        record["requestContext"]["functionArn"],
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}:$LATEST"),
        "{record}"
    );
    assert_eq!(record["requestContext"]["condition"], condition, "{record}");
    assert_eq!(record["responseContext"]["statusCode"], 200, "{record}");
    assert_eq!(
        record["responseContext"]["executedVersion"], "$LATEST",
        "{record}"
    );
}

#[tokio::test]
async fn records_and_dead_letters_reach_sqs_sns_eventbridge_and_s3() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let json = |output: String| serde_json::from_str::<Value>(&output).unwrap();
    let queue = |name: &str| {
        json(moto.aws(&["sqs", "create-queue", "--queue-name", name]))["QueueUrl"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let queue_arn = |name: &str| format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}");
    let failures = queue("failures");
    let from_sns = queue("from-sns");
    let from_events = queue("from-events");
    let dead_letters = queue("dead-letters");
    let topic = json(moto.aws(&["sns", "create-topic", "--name", "failed"]))["TopicArn"]
        .as_str()
        .unwrap()
        .to_owned();
    moto.aws(&[
        "sns",
        "subscribe",
        "--topic-arn",
        &topic,
        "--protocol",
        "sqs",
        "--notification-endpoint",
        &queue_arn("from-sns"),
    ]);
    moto.aws(&[
        "events",
        "put-rule",
        "--name",
        "lambda-results",
        "--event-pattern",
        r#"{"source": ["lambda"]}"#,
    ]);
    moto.aws(&[
        "events",
        "put-targets",
        "--rule",
        "lambda-results",
        "--targets",
        &format!("Id=queue,Arn={}", queue_arn("from-events")),
    ]);
    moto.create_bucket("records");

    let scratch = Scratch::new("aws-destinations");
    let attempts = scratch.0.join("attempts");
    let bootstrap = scratch.bootstrap("bootstrap", &attempts);
    let names = ["to-sqs", "to-sns", "to-events", "to-s3"];
    let functions: Vec<(&str, &Path)> = names
        .iter()
        .map(|name| (*name, bootstrap.as_path()))
        .collect();
    let mut command = serve_command(&functions, &[]);
    moto.environment(&mut command);
    let serve = Serve::spawn(command);
    let lambda = client(&serve.endpoint());

    let bus = format!("arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default");
    for (name, on_failure, on_success, retries) in [
        ("to-sqs", Some(queue_arn("failures")), None, 2),
        ("to-sns", Some(topic.clone()), None, 0),
        ("to-events", None, Some(bus.clone()), 0),
        ("to-s3", Some("arn:aws:s3:::records".to_owned()), None, 0),
    ] {
        let mut destinations = DestinationConfig::builder();
        if let Some(arn) = on_failure {
            destinations = destinations.on_failure(OnFailure::builder().destination(arn).build());
        }
        if let Some(arn) = on_success {
            destinations = destinations.on_success(OnSuccess::builder().destination(arn).build());
        }
        lambda
            .put_function_event_invoke_config()
            .function_name(name)
            .maximum_retry_attempts(retries)
            .destination_config(destinations.build())
            .send()
            .await
            .unwrap();
    }
    // S3 takes failures only, as on Lambda.
    let refused = lambda
        .put_function_event_invoke_config()
        .function_name("to-s3")
        .destination_config(
            DestinationConfig::builder()
                .on_success(
                    OnSuccess::builder()
                        .destination("arn:aws:s3:::records")
                        .build(),
                )
                .build(),
        )
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");

    // SQS: after the retries, exactly one record, naming the request.
    let to_sqs = invoke_event(&serve, "to-sqs", br#"{"fail": true, "order": 7}"#);
    let messages = received(&moto, &failures, &serve);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let record: Value = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
    assert_record(&record, &to_sqs, "to-sqs", "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["requestPayload"]["order"], 7);
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responsePayload"]["errorType"], "Failed");
    let tried = records(&attempts)
        .iter()
        .filter(|attempt| attempt["requestId"] == to_sqs.as_str())
        .count();
    assert_eq!(tried, 3);
    assert!(
        drained(&moto, &failures),
        "a second record reached the queue"
    );

    // SNS, read through the queue subscribed to the topic.
    let to_sns = invoke_event(&serve, "to-sns", br#"{"fail": true}"#);
    let messages = received(&moto, &from_sns, &serve);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let notification: Value = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(notification["TopicArn"], topic.as_str());
    let record: Value = serde_json::from_str(notification["Message"].as_str().unwrap()).unwrap();
    assert_record(&record, &to_sns, "to-sns", "RetriesExhausted");

    // EventBridge, on success, read through a rule's queue.
    let to_events = invoke_event(&serve, "to-events", br#"{"n": 1}"#);
    let messages = received(&moto, &from_events, &serve);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let event: Value = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(event["source"], "lambda", "{event}");
    assert_eq!(
        event["detail-type"], "Lambda Function Invocation Result - Success",
        "{event}"
    );
    assert_record(&event["detail"], &to_events, "to-events", "Success");
    assert_eq!(event["detail"]["responsePayload"]["ok"], true);

    // S3: one object under Lambda's prefix for the function.
    let to_s3 = invoke_event(&serve, "to-s3", br#"{"fail": true}"#);
    let prefix = "aws/lambda/async/to-s3/";
    let started = Instant::now();
    let key = loop {
        let listed = json(moto.aws(&[
            "s3api",
            "list-objects-v2",
            "--bucket",
            "records",
            "--prefix",
            prefix,
        ]));
        if let Some(objects) = listed["Contents"].as_array() {
            assert_eq!(objects.len(), 1, "{listed}");
            break objects[0]["Key"].as_str().unwrap().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no record in the bucket; serve's stderr: {:?}",
            serve.errors()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // aws/lambda/async/to-s3/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-UUID
    let rest: Vec<&str> = key[prefix.len()..].split('/').collect();
    assert_eq!(rest.len(), 4, "{key}");
    assert!(
        rest[3].starts_with(&format!("{}-{}-{}T", rest[0], rest[1], rest[2])),
        "{key}"
    );
    let object = scratch.0.join("object.json");
    moto.aws(&[
        "s3api",
        "get-object",
        "--bucket",
        "records",
        "--key",
        &key,
        object.to_str().unwrap(),
    ]);
    let record: Value = serde_json::from_slice(&std::fs::read(&object).unwrap()).unwrap();
    assert_record(&record, &to_s3, "to-s3", "RetriesExhausted");

    // A function with a dead-letter queue and no on-failure destination: the event as it came,
    // with Lambda's attributes.
    let dead_record = scratch.0.join("dead-attempts");
    create_function(
        &lambda,
        &scratch,
        "dead",
        &dead_record,
        Some(&queue_arn("dead-letters")),
    )
    .await;
    let described = lambda
        .get_function_configuration()
        .function_name("dead")
        .send()
        .await
        .unwrap();
    assert_eq!(
        described
            .dead_letter_config()
            .and_then(|config| config.target_arn()),
        Some(queue_arn("dead-letters").as_str())
    );
    lambda
        .put_function_event_invoke_config()
        .function_name("dead")
        .maximum_retry_attempts(1)
        .send()
        .await
        .unwrap();
    let dead = invoke_event(&serve, "dead", br#"{"fail": true, "order": 9}"#);
    let messages = received(&moto, &dead_letters, &serve);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let body: Value = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"fail": true, "order": 9}));
    let attributes = &messages[0]["MessageAttributes"];
    assert_eq!(
        attributes["RequestID"]["StringValue"],
        dead.as_str(),
        "{attributes}"
    );
    assert_eq!(attributes["RequestID"]["DataType"], "String");
    assert_eq!(
        attributes["ErrorCode"]["StringValue"], "200",
        "{attributes}"
    );
    assert_eq!(attributes["ErrorCode"]["DataType"], "Number");
    assert_eq!(attributes["ErrorMessage"]["StringValue"], "asked to fail");
    assert_eq!(records(&dead_record).len(), 2);

    // Taken off the dead-letter queue, it goes nowhere: said so.
    lambda
        .update_function_configuration()
        .function_name("dead")
        .dead_letter_config(DeadLetterConfig::builder().target_arn("").build())
        .send()
        .await
        .unwrap();
    let dropped = invoke_event(&serve, "dead", br#"{"fail": true}"#);
    let errors = serve.errors_with(&[&dropped]);
    let line = errors.iter().find(|line| line.contains(&dropped)).unwrap();
    assert!(
        line.contains("dead-letter queue (DeadLetterConfig)"),
        "{line}"
    );
    assert!(drained(&moto, &dead_letters));
    // A dead-letter queue is a queue or a topic.
    let refused = lambda
        .update_function_configuration()
        .function_name("dead")
        .dead_letter_config(DeadLetterConfig::builder().target_arn(&bus).build())
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");

    // Nothing was reported lost.
    let errors = serve.errors();
    for delivered in [&to_sqs, &to_sns, &to_events, &to_s3, &dead] {
        assert!(
            !errors.iter().any(|line| line.contains(delivered.as_str())),
            "{delivered}: {errors:?}"
        );
    }
}

#[tokio::test]
async fn event_invoke_configs_outlive_a_restart_and_list_a_page_at_a_time() {
    let scratch = Scratch::new("kept-configs");
    let state = scratch.0.join("state");
    let state_option = ["--state", state.to_str().unwrap()];
    // serve needs a function of its own to start without a project.
    let idle = scratch.bootstrap("idle", &scratch.0.join("idle"));
    let serve = serve(&[("idle", &idle)], &state_option);
    let lambda = client(&serve.endpoint());
    create_function(&lambda, &scratch, "kept", &scratch.0.join("record"), None).await;
    lambda
        .publish_version()
        .function_name("kept")
        .send()
        .await
        .unwrap();
    let queue = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:failures");
    for (qualifier, retries) in [("$LATEST", 0), ("1", 1)] {
        lambda
            .put_function_event_invoke_config()
            .function_name("kept")
            .qualifier(qualifier)
            .maximum_retry_attempts(retries)
            .maximum_event_age_in_seconds(600)
            .destination_config(
                DestinationConfig::builder()
                    .on_failure(OnFailure::builder().destination(&queue).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    drop(serve);

    let serve = self::serve(&[("idle", &idle)], &state_option);
    let lambda = client(&serve.endpoint());
    let first = lambda
        .list_function_event_invoke_configs()
        .function_name("kept")
        .max_items(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.function_event_invoke_configs().len(), 1);
    let marker = first.next_marker().expect("a second page").to_owned();
    let second = lambda
        .list_function_event_invoke_configs()
        .function_name("kept")
        .marker(marker)
        .max_items(1)
        .send()
        .await
        .unwrap();
    assert_eq!(second.next_marker(), None);
    let listed: Vec<_> = first
        .function_event_invoke_configs()
        .iter()
        .chain(second.function_event_invoke_configs())
        .map(|config| {
            (
                config
                    .function_arn()
                    .unwrap()
                    .rsplit(':')
                    .next()
                    .unwrap()
                    .to_owned(),
                config.maximum_retry_attempts(),
                config.maximum_event_age_in_seconds(),
                config
                    .destination_config()
                    .and_then(|destinations| destinations.on_failure())
                    .and_then(|on_failure| on_failure.destination())
                    .map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                "$LATEST".to_owned(),
                Some(0),
                Some(600),
                Some(queue.clone())
            ),
            ("1".to_owned(), Some(1), Some(600), Some(queue.clone())),
        ]
    );
    let all = lambda
        .list_function_event_invoke_configs()
        .function_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(all.function_event_invoke_configs().len(), 2);
    assert_eq!(all.next_marker(), None);

    // Deleted with its function: a restart finds none.
    lambda
        .delete_function()
        .function_name("kept")
        .send()
        .await
        .unwrap();
    drop(serve);
    let serve = self::serve(&[("idle", &idle)], &state_option);
    let lambda = client(&serve.endpoint());
    create_function(&lambda, &scratch, "kept", &scratch.0.join("record"), None).await;
    let none = lambda
        .list_function_event_invoke_configs()
        .function_name("kept")
        .send()
        .await
        .unwrap();
    assert!(none.function_event_invoke_configs().is_empty());
}
