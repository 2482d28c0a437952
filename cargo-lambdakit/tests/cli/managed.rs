//! Lambda Managed Instances in serve: a function with `managed_instances` runs as one process
//! taking `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once; past that its environment refuses
//! more (`429`), a timeout fails only its invocation, each invocation's log tail holds its own
//! lines, and REPORT says how many ran at once.

use base64::Engine as _;
use serde_json::Value;

use crate::deploy::{actions, json};
use crate::deploy_triggers::Fixture;
use crate::support::{Answer, Serve, executable_script, invoke, lambdakit, wait_until};

/// A runtime on the Runtime API's wire format and std alone (it builds in a moment), with
/// `AWS_LAMBDA_MAX_CONCURRENCY` workers, each asking for invocations in a thread of its own.
/// `{"gather": true}` waits until that many invocations are in the process at once (then
/// writes `$MARKERS/all-in`), and until `$MARKERS/release` exists; `{"stall": true}` never
/// answers; anything else is answered at once. Each answer names the process and the most
/// invocations it saw at once, and each invocation logs a line with its request id.
const RUNTIME: &str = r##"
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static MOST: AtomicUsize = AtomicUsize::new(0);

fn main() {
    let workers: usize = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .map_or(1, |value| value.parse().unwrap());
    let threads: Vec<_> = (0..workers).map(|_| std::thread::spawn(work)).collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

fn work() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap();
    let markers = std::env::var("MARKERS").unwrap();
    let workers: usize = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .map_or(1, |value| value.parse().unwrap());
    loop {
        let mut next = TcpStream::connect(&api).unwrap();
        write!(next, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n").unwrap();
        let mut reader = BufReader::new(next);
        let (mut id, mut length) = (String::new(), 0);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(": ") {
                match name.to_ascii_lowercase().as_str() {
                    "lambda-runtime-aws-request-id" => id = value.to_owned(),
                    "content-length" => length = value.parse().unwrap(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body = String::from_utf8(body).unwrap();
        let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
        MOST.fetch_max(now, Ordering::SeqCst);
        println!("{id} working on {body}");
        if body.contains("\"stall\"") {
            std::thread::sleep(Duration::from_secs(3600));
        }
        if body.contains("\"gather\"") {
            let started = Instant::now();
            while MOST.load(Ordering::SeqCst) < workers && started.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::fs::write(Path::new(&markers).join("all-in"), "").unwrap();
            while !Path::new(&markers).join("release").exists() && started.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let answer = format!(
            r#"{{"pid": {}, "most": {}, "workers": {workers}}}"#,
            std::process::id(),
            MOST.load(Ordering::SeqCst)
        );
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        let mut post = TcpStream::connect(&api).unwrap();
        write!(
            post,
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: {api}\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
        let mut status = String::new();
        BufReader::new(post).read_line(&mut status).unwrap();
    }
}
"##;

/// Invokes `fleet` with `body`, asking for its log tail.
fn call(serve: &Serve, body: &str) -> Answer {
    invoke(
        serve.address,
        "fleet",
        &[("X-Amz-Log-Type", "Tail")],
        body.as_bytes(),
    )
}

/// The log tail of an answer.
fn tail(answer: &Answer) -> String {
    let encoded = answer
        .header("x-amz-log-result")
        .expect("the answer has a log tail");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

/// A fixture package of its own (`label`) whose one function, `fleet`, is [`RUNTIME`], and the
/// directory of its markers.
fn fleet(label: &str) -> (Fixture, std::path::PathBuf) {
    let fixture = Fixture::new(label, "");
    std::fs::remove_file(fixture.dir.join("src/bin/intake.rs")).unwrap();
    std::fs::write(fixture.dir.join("src/bin/fleet.rs"), RUNTIME).unwrap();
    let markers = fixture.dir.join("markers");
    std::fs::create_dir_all(&markers).unwrap();
    (fixture, markers)
}

#[test]
fn a_managed_instances_function_takes_its_concurrency_in_one_process() {
    let (fixture, markers) = fleet("managed");
    // One environment (`concurrency = 1`) that takes four invocations at once, each given
    // a second.
    fixture.settings(&format!(
        "[package.metadata.lambdakit.functions.fleet]\nconcurrency = 1\ntimeout = 1\nenvironment = {{ MARKERS = \"{}\" }}\nmanaged_instances = {{ capacity_provider = \"arn:aws:lambda:us-east-1:123456789012:capacity-provider:fleet\", concurrency = 4 }}",
        markers.display()
    ));
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--manifest-path"])
        .arg(fixture.dir.join("Cargo.toml"));
    let serve = Serve::spawn(command);

    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| call(&serve, r#"{"gather": true}"#)))
            .collect();
        // Four in the process at once: a fifth finds no place, as on Lambda.
        wait_until("four invocations in the process at once", || {
            markers.join("all-in").exists()
        });
        let refused = call(&serve, "{}");
        assert_eq!(
            refused.status,
            429,
            "{}",
            String::from_utf8_lossy(&refused.body)
        );
        assert_eq!(
            refused.header("x-amzn-errortype"),
            Some("TooManyRequestsException")
        );
        std::fs::write(markers.join("release"), "").unwrap();
        calls.into_iter().map(|call| call.join().unwrap()).collect()
    });
    let pids: Vec<Value> = answers
        .iter()
        .map(|answer| answer.json()["pid"].clone())
        .collect();
    for answer in &answers {
        let body = answer.json();
        assert_eq!(answer.status, 200, "{body}");
        assert_eq!(body["workers"], 4, "AWS_LAMBDA_MAX_CONCURRENCY: {body}");
        assert_eq!(body["most"], 4, "not four at once: {body}");
        assert_eq!(body["pid"], pids[0], "not one process: {pids:?}");
        let tail = tail(answer);
        let request_id = answer.header("x-amzn-requestid").unwrap();
        assert_eq!(
            tail.lines()
                .filter(|line| line.contains("working on"))
                .count(),
            1,
            "each invocation's log holds its own line only:\n{tail}"
        );
        assert!(tail.contains(&format!("{request_id} working on")), "{tail}");
        let report = tail
            .lines()
            .find(|line| line.starts_with("REPORT"))
            .unwrap_or_else(|| panic!("no REPORT in\n{tail}"));
        assert!(report.contains(request_id), "{report}");
        assert!(report.ends_with("\tConcurrency: 4 of 4"), "{report}");
    }

    // A timeout fails its invocation; the environment and its process go on.
    let stalled = call(&serve, r#"{"stall": true}"#);
    assert_eq!(
        stalled.header("x-amz-function-error"),
        Some("Unhandled"),
        "{}",
        String::from_utf8_lossy(&stalled.body)
    );
    assert_eq!(stalled.json()["errorType"], "Sandbox.Timedout");
    let after = call(&serve, "{}");
    assert_eq!(after.status, 200);
    assert_eq!(
        after.json()["pid"],
        pids[0],
        "the timeout ended the environment"
    );
}

/// `deploy --local` gives serve's CreateFunction the function's `CapacityProviderConfig` (with
/// the ARN a deploy to AWS would give its capacity provider, which serve does not create); serve
/// reports it, a second deploy finds nothing to change, and the function takes its concurrency
/// in one process.
#[tokio::test]
async fn deploy_local_gives_serve_a_managed_instances_function() {
    let (fixture, markers) = fleet("managed-local");
    fixture.settings(&format!(
        "[package.metadata.lambdakit.functions.fleet]\nenvironment = {{ MARKERS = \"{}\" }}\nmanaged_instances = {{ capacity_provider = \"fleet\", subnets = [\"subnet-0a1b\"], security_groups = [\"sg-0e4f\"], concurrency = 3 }}",
        markers.display()
    ));
    let state = fixture.dir.join("serve-state");
    std::fs::create_dir_all(&state).unwrap();
    // serve of no project: the Lambda API alone (with a `--bootstrap` it needs to start).
    let idle = executable_script(&fixture.dir.join("idle"), "sleep 600");
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--bootstrap"])
        .arg(format!("idle={}", idle.display()))
        .arg("--state")
        .arg(&state);
    let serve = Serve::spawn(command);
    let deploy = || {
        lambdakit()
            .args(["deploy", "--local", &serve.endpoint(), "--output", "json"])
            .arg("--manifest-path")
            .arg(fixture.dir.join("Cargo.toml"))
            .output()
            .unwrap()
    };
    let first = json(&deploy());
    assert!(
        first["functions"][0]["notes"][0]
            .as_str()
            .unwrap()
            .contains("serve creates no capacity provider (`fleet`)"),
        "{first}"
    );

    let lambda = crate::sdk::client(&serve.endpoint());
    let found = lambda
        .get_function()
        .function_name("fleet")
        .send()
        .await
        .unwrap();
    let managed = found
        .configuration()
        .and_then(|configuration| configuration.capacity_provider_config())
        .and_then(|config| config.lambda_managed_instances_capacity_provider_config())
        .expect("serve reports the capacity provider config");
    assert!(
        managed
            .capacity_provider_arn()
            .ends_with(":123456789012:capacity-provider:fleet"),
        "{managed:?}"
    );
    assert_eq!(managed.per_execution_environment_max_concurrency(), Some(3));
    let again = json(&deploy());
    let updates: Vec<String> = actions(&again)
        .into_iter()
        .filter(|line| !line.ends_with(" unchanged"))
        .collect();
    assert!(updates.is_empty(), "the second deploy changes {updates:?}");

    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| call(&serve, r#"{"gather": true}"#)))
            .collect();
        wait_until("three invocations in the process at once", || {
            markers.join("all-in").exists()
        });
        std::fs::write(markers.join("release"), "").unwrap();
        calls.into_iter().map(|call| call.join().unwrap()).collect()
    });
    for answer in &answers {
        let body = answer.json();
        assert_eq!(body["most"], 3, "{body}");
        assert_eq!(body["pid"], answers[0].json()["pid"], "not one process");
    }
}
