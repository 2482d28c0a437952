//! Invocations that outlive their caller: a synchronous one whose caller hangs up runs to its
//! end, and `Event` invocations wait in the function's queue, are retried and then go to
//! their destination, as Lambda's do.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    let mut command = lambdakit();
    command.args(["serve", "--port", "0"]).args(options);
    for (name, path) in functions {
        command
            .arg("--bootstrap")
            .arg(format!("{name}={}", path.display()));
    }
    // Retries come 200 ms, then 400 ms, after a failure, not Lambda's minutes.
    command.env("LAMBDAKIT_ASYNC_RETRY_DELAY_MS", "200");
    Serve::spawn(command)
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
    let serve = serve(&[("failing", &failing)], &[]);
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

    // Tried once, then it would go to SQS, which only AWS delivers to: said so, with its id.
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
    assert!(line.contains(queue) && line.contains("sqs"), "{line}");
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
