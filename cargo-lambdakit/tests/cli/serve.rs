//! The local Lambda: the Invoke API in front, real function binaries behind it.

use base64::Engine as _;
use serde_json::json;

use crate::support::{Serve, invoke};

#[test]
fn invocations_answer_as_lambda_does() {
    let serve = Serve::start("test-functions");
    let address = serve.address;

    // A cold start, then a warm one on the same instance.
    let first = invoke(
        address,
        "behave",
        &[("X-Amz-Log-Type", "Tail")],
        br#"{"print":"hello logs"}"#,
    );
    assert_eq!(first.status, 200);
    assert_eq!(first.header("X-Amz-Executed-Version"), Some("$LATEST"));
    assert_eq!(first.header("X-Amz-Function-Error"), None);
    let seen = first.json();
    assert_eq!(seen["greeting"], "hello from the config");
    assert_eq!(seen["handler"], "behave");
    // `trust = "amazon-roots"`: the PEM beside the binary serve built, `SSL_CERT_FILE` at it.
    assert!(
        seen["certs"]
            .as_str()
            .is_some_and(|path| path.ends_with("/amazon-root-cas.pem")),
        "{seen}"
    );
    assert_eq!(seen["certificates"], 5, "{seen}");
    assert_eq!(seen["memory"], 256);
    assert_eq!(
        seen["arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:behave"
    );
    assert!(
        seen["trace"].as_str().unwrap().starts_with("Root=1-"),
        "{seen}"
    );
    let remaining = seen["remainingMs"].as_u64().unwrap();
    assert!(
        (1..=1000).contains(&remaining),
        "{remaining} ms left of a 1 s timeout"
    );
    let request_id = seen["requestId"].as_str().unwrap().to_owned();
    assert_eq!(first.header("x-amzn-RequestId"), Some(request_id.as_str()));

    let tail = base64::engine::general_purpose::STANDARD
        .decode(first.header("X-Amz-Log-Result").unwrap())
        .unwrap();
    let tail = String::from_utf8(tail).unwrap();
    let lines: Vec<&str> = tail.lines().collect();
    let start = lines
        .iter()
        .position(|line| *line == format!("START RequestId: {request_id} Version: $LATEST"))
        .unwrap();
    let logged = lines
        .iter()
        .position(|line| line.ends_with(&format!("{request_id}\thello logs")))
        .unwrap();
    let end = lines
        .iter()
        .position(|line| *line == format!("END RequestId: {request_id}"))
        .unwrap();
    let report = lines
        .iter()
        .position(|line| line.starts_with(&format!("REPORT RequestId: {request_id}\tDuration: ")))
        .unwrap();
    assert!(start < logged && logged < end && end < report, "{tail}");
    for field in [
        "\tBilled Duration: ",
        "\tMemory Size: 256 MB\t",
        "\tMax Memory Used: ",
        "\tInit Duration: ",
    ] {
        assert!(lines[report].contains(field), "{}", lines[report]);
    }

    let second = invoke(address, "behave", &[("X-Amz-Log-Type", "Tail")], b"{}");
    assert_eq!(
        second.json()["pid"],
        seen["pid"],
        "the warm instance serves again"
    );
    let tail = base64::engine::general_purpose::STANDARD
        .decode(second.header("X-Amz-Log-Result").unwrap())
        .unwrap();
    assert!(!String::from_utf8(tail).unwrap().contains("Init Duration"));

    assert!(
        serve
            .output()
            .iter()
            .any(|line| line.ends_with("\thello logs")),
        "{:?}",
        serve.output()
    );
}

#[test]
fn function_errors_timeouts_and_crashes_are_reported_like_lambda() {
    let serve = Serve::start("test-functions");
    let address = serve.address;

    let failed = invoke(address, "behave", &[], br#"{"fail":"not today"}"#);
    assert_eq!(failed.status, 200);
    assert_eq!(failed.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert_eq!(
        failed.json(),
        json!({"errorType": "AskedToFail", "errorMessage": "not today"})
    );

    let warm_pid = invoke(address, "behave", &[], b"{}").json()["pid"].clone();
    let timed_out = invoke(address, "behave", &[], br#"{"sleep_ms": 3000}"#);
    assert_eq!(timed_out.header("X-Amz-Function-Error"), Some("Unhandled"));
    let error = timed_out.json();
    assert_eq!(error["errorType"], "Sandbox.Timedout");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Task timed out after 1.00 seconds"),
        "{error}"
    );
    let after_timeout = invoke(address, "behave", &[], b"{}").json()["pid"].clone();
    assert_ne!(after_timeout, warm_pid, "a timed-out instance is replaced");

    let crashed = invoke(address, "behave", &[], br#"{"exit": 3}"#);
    let error = crashed.json();
    assert_eq!(error["errorType"], "Runtime.ExitError");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Runtime exited with error: exit status 3"),
        "{error}"
    );
    let after_crash = invoke(address, "behave", &[], b"{}");
    assert_eq!(after_crash.status, 200);
    assert_ne!(after_crash.json()["pid"], after_timeout);

    let init = invoke(address, "broken-setup", &[], b"{}");
    assert_eq!(init.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert_eq!(
        init.json(),
        json!({"errorType": "MissingTable", "errorMessage": "TABLE_NAME is not set"})
    );
}

#[test]
fn the_invoke_api_answers_invocation_types_and_refusals() {
    let serve = Serve::start("test-functions");
    let address = serve.address;

    let dry = invoke(
        address,
        "behave",
        &[("X-Amz-Invocation-Type", "DryRun")],
        b"{}",
    );
    assert_eq!(dry.status, 204);

    let queued = invoke(
        address,
        "behave",
        &[("X-Amz-Invocation-Type", "Event")],
        br#"{"print":"queued run"}"#,
    );
    assert_eq!(queued.status, 202);
    let ran = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(25));
        serve
            .output()
            .iter()
            .any(|line| line.ends_with("\tqueued run"))
    });
    assert!(ran, "the queued invocation never ran: {:?}", serve.output());

    let missing = invoke(address, "nope", &[], b"{}");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("X-Amzn-ErrorType"),
        Some("ResourceNotFoundException")
    );
    assert!(
        missing.json()["message"]
            .as_str()
            .unwrap()
            .contains("function:nope")
    );

    let by_arn = invoke(
        address,
        "arn:aws:lambda:us-east-1:123456789012:function:behave",
        &[],
        b"{}",
    );
    assert_eq!(by_arn.status, 200);

    let not_json = invoke(address, "behave", &[], b"{oops");
    assert_eq!(not_json.status, 400);
    assert_eq!(
        not_json.header("X-Amzn-ErrorType"),
        Some("InvalidRequestContentException")
    );

    let huge = vec![b' '; 6 * 1024 * 1024 + 1];
    let too_large = invoke(address, "behave", &[], &huge);
    assert_eq!(too_large.status, 413);
    assert_eq!(
        too_large.header("X-Amzn-ErrorType"),
        Some("RequestTooLargeException")
    );
    let queued_too_large = invoke(
        address,
        "behave",
        &[("X-Amz-Invocation-Type", "Event")],
        &vec![b' '; 1024 * 1024 + 1],
    );
    assert_eq!(queued_too_large.status, 413);
    // Since 2025 an asynchronous payload may be up to 1 MB (it was 256 KB).
    let padded = format!(r#"{{"pad":"{}"}}"#, "x".repeat(512 * 1024));
    let queued = invoke(
        address,
        "behave",
        &[("X-Amz-Invocation-Type", "Event")],
        padded.as_bytes(),
    );
    assert_eq!(queued.status, 202);

    let context = base64::engine::general_purpose::STANDARD.encode(br#"{"custom":{"cart":"3"}}"#);
    let with_context = invoke(
        address,
        "behave",
        &[("X-Amz-Client-Context", &context)],
        b"{}",
    );
    assert_eq!(with_context.json()["client"], json!({"cart": "3"}));
}

#[test]
fn concurrent_invocations_start_instances_up_to_the_limit() {
    let serve = Serve::start("test-functions");
    let address = serve.address;
    // `concurrency = 2`: two slow invocations take both instances, a third is refused.
    let slow: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || invoke(address, "behave", &[], br#"{"sleep_ms": 900}"#))
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let refused = invoke(address, "behave", &[], b"{}");
    let pids: Vec<_> = slow
        .into_iter()
        .map(|thread| thread.join().unwrap().json()["pid"].clone())
        .collect();
    assert_ne!(
        pids[0], pids[1],
        "each concurrent invocation has an instance of its own"
    );
    assert_eq!(
        refused.status,
        429,
        "{:?}",
        String::from_utf8_lossy(&refused.body)
    );
    assert_eq!(
        refused.header("X-Amzn-ErrorType"),
        Some("TooManyRequestsException")
    );
}

#[test]
fn functions_on_the_official_runtime_run_unmodified() {
    // Conformance: a function built on `lambda_runtime` (the benchmark's echo subject).
    let serve = Serve::start("bench-lambda-runtime-echo");
    let event = json!({"id": "e-1", "items": [1, 2, 3]});
    let answer = invoke(
        serve.address,
        "bench-lambda-runtime-echo",
        &[("X-Amz-Log-Type", "Tail")],
        event.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("X-Amz-Function-Error"), None);
    assert_eq!(answer.json(), event);
    let tail = base64::engine::general_purpose::STANDARD
        .decode(answer.header("X-Amz-Log-Result").unwrap())
        .unwrap();
    assert!(
        String::from_utf8(tail)
            .unwrap()
            .contains("\tInit Duration: ")
    );
    let again = invoke(serve.address, "bench-lambda-runtime-echo", &[], b"[true]");
    assert_eq!(again.json(), json!([true]));
}

#[test]
fn function_urls_turn_http_requests_into_url_events_and_back() {
    use std::io::{Read, Write};
    let serve = Serve::start("test-functions");
    let request = |raw: &[u8]| {
        let mut stream = std::net::TcpStream::connect(serve.address).unwrap();
        stream.write_all(raw).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let split = answer
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap();
        (
            String::from_utf8_lossy(&answer[..split]).into_owned(),
            answer[split + 4..].to_vec(),
        )
    };

    let body = br#"{"name":"ada"}"#;
    let head = format!(
        "POST /lambda-url/web/items/7?color=red&size=%20L&color=blue HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\
         User-Agent: tests\r\nCookie: a=1; b=2\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (head, answer) = request(&[head.as_bytes(), body].concat());
    assert!(head.starts_with("HTTP/1.1 201"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("x-seen-method: post"),
        "{head}"
    );
    assert!(
        head.contains("set-cookie: session=abc; Path=/") && head.contains("set-cookie: theme=dark"),
        "{head}"
    );
    let seen: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(
        seen,
        json!({
            "path": "/items/7",
            "query": {"color": "red,blue", "size": " L"},
            "rawQuery": "color=red&size=%20L&color=blue",
            "cookies": ["a=1", "b=2"],
            "body": "{\"name\":\"ada\"}",
            "base64": false,
            "agent": "tests",
            "version": "2.0",
        })
    );

    let (head, answer) = request(b"POST /lambda-url/web/echo HTTP/1.1\r\nHost: local\r\nConnection: close\r\nContent-Type: image/png\r\nContent-Length: 3\r\n\r\n\x00\x01\xff");
    assert!(head.starts_with("HTTP/1.1 201"), "{head}");
    let seen: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(
        (seen["body"].as_str(), seen["base64"].as_bool()),
        (Some("AAH/"), Some(true))
    );

    let (head, answer) =
        request(b"GET /lambda-url/web/plain HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200") && head.contains("content-type: application/json"),
        "{head}"
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&answer).unwrap(),
        json!({"just": "data"})
    );

    let (head, answer) =
        request(b"GET /lambda-url/web/bytes HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n");
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    assert_eq!(answer, [0, 1, 2, 255]);

    let (head, _) =
        request(b"GET /lambda-url/web/fail HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 502"), "{head}");

    let (head, _) =
        request(b"GET /lambda-url/nobody/ HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

/// The AWS CLI, or why the test cannot use it: under CI it must be there.
pub(crate) fn aws_cli() -> Option<std::process::Command> {
    if !crate::support::tool(
        crate::support::works("aws", &["--version"]),
        "the AWS CLI",
        "`pip install awscli`",
    ) {
        return None;
    }
    let mut command = std::process::Command::new("aws");
    command
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    Some(command)
}

#[test]
fn the_aws_cli_invokes_local_functions_unmodified() {
    let Some(_) = aws_cli() else { return };
    let serve = Serve::start("test-functions");
    let endpoint = serve.endpoint();
    let out = std::env::temp_dir().join(format!("lambdakit-aws-cli-{}.json", std::process::id()));
    let invoke = |function: &str, extra: &[&str]| {
        let output = aws_cli()
            .unwrap()
            .args([
                "lambda",
                "invoke",
                "--endpoint-url",
                &endpoint,
                "--function-name",
                function,
            ])
            .args(extra)
            .arg(&out)
            .output()
            .unwrap();
        let described =
            serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap_or_default();
        (output, described)
    };

    let (output, described) = invoke(
        "behave",
        &[
            "--payload",
            r#"{"print":"from the aws cli"}"#,
            "--log-type",
            "Tail",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(described["StatusCode"], 200);
    assert_eq!(described["ExecutedVersion"], "$LATEST");
    let logs = base64::engine::general_purpose::STANDARD
        .decode(described["LogResult"].as_str().unwrap())
        .unwrap();
    assert!(
        String::from_utf8(logs)
            .unwrap()
            .contains("\tfrom the aws cli")
    );
    let answer: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(answer["greeting"], "hello from the config");

    let (_, described) = invoke("behave", &["--payload", r#"{"fail":"cli"}"#]);
    assert_eq!(described["FunctionError"], "Unhandled");
    let answer: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        answer,
        json!({"errorType": "AskedToFail", "errorMessage": "cli"})
    );

    let (_, described) = invoke("behave", &["--invocation-type", "Event", "--payload", "{}"]);
    assert_eq!(described["StatusCode"], 202);

    let (output, _) = invoke("nope", &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("(ResourceNotFoundException)") && stderr.contains("function:nope"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&out);
}

#[test]
fn cost_estimates_follow_each_report() {
    let serve = Serve::start_with("test-functions", &["--cost"]);
    let answer = invoke(
        serve.address,
        "behave",
        &[("X-Amz-Log-Type", "Tail")],
        b"{}",
    );
    let tail = base64::engine::general_purpose::STANDARD
        .decode(answer.header("X-Amz-Log-Result").unwrap())
        .unwrap();
    let tail = String::from_utf8(tail).unwrap();
    let cost = tail
        .lines()
        .find(|line| line.starts_with("COST RequestId: "))
        .unwrap_or_else(|| panic!("{tail}"));
    assert!(
        cost.contains("per invocation") && cost.contains("per million (x86_64, us-east-1 prices)"),
        "{cost}"
    );
    let report = tail
        .lines()
        .position(|line| line.starts_with("REPORT"))
        .unwrap();
    assert_eq!(tail.lines().nth(report + 1), Some(cost));
}

#[test]
fn flags_override_the_settings_of_every_function() {
    let serve = Serve::start_with(
        "test-functions",
        &[
            "--bin",
            "behave",
            "--memory",
            "1024",
            "--timeout",
            "2",
            "--env",
            "GREETING=from a flag",
            "--concurrency",
            "1",
        ],
    );
    let address = serve.address;
    let answer = invoke(address, "behave", &[], b"{}").json();
    assert_eq!(answer["memory"], 1024);
    assert_eq!(answer["greeting"], "from a flag");
    // 1.5 s is past the settings' 1 s timeout, within the flag's 2 s.
    let slow = invoke(address, "behave", &[], br#"{"sleep_ms": 1500}"#);
    assert_eq!(
        slow.header("X-Amz-Function-Error"),
        None,
        "{:?}",
        slow.json()
    );
    // One instance at a time: a second invocation while one runs is refused.
    let running =
        std::thread::spawn(move || invoke(address, "behave", &[], br#"{"sleep_ms": 800}"#));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let refused = invoke(address, "behave", &[], b"{}");
    assert_eq!(refused.status, 429);
    assert_eq!(running.join().unwrap().status, 200);
}

#[test]
fn serve_survives_running_out_of_file_descriptors() {
    if !crate::support::works("prlimit", &["--version"]) {
        eprintln!("skipped: no prlimit");
        return;
    }
    let dir = std::env::temp_dir().join(format!("lambdakit-fds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let runtime =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/python/raw_runtime.py");
    let bootstrap = crate::support::executable_script(
        &dir.join("bootstrap"),
        &format!("exec python3 {runtime:?}"),
    );
    // Few file descriptors: the connections below use up the rest, and `accept` fails.
    let mut command = std::process::Command::new("prlimit");
    command
        .arg("--nofile=64:64")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_cargo-lambdakit"))
        .args(["lambdakit", "serve", "--port", "0", "--bootstrap"])
        .arg(format!("raw={}", bootstrap.display()));
    let serve = Serve::spawn(command);
    let held: Vec<_> = (0..100)
        .filter_map(|_| std::net::TcpStream::connect(serve.address).ok())
        .collect();
    serve.errors_with(&["cannot accept a connection"]);
    drop(held);

    let answer = invoke(serve.address, "raw", &[], br#"{"do":"describe"}"#);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
}
