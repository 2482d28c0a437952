//! The local console in a real browser: headless Chromium, driven through ChromeDriver by
//! Selenium (`python/console_check.py`), opens `/_lambdakit/` on a running serve and finds the
//! functions, the invocations (a failed one marked in words), an invocation's event, log lines
//! and trace waterfall, an invocation made from the page, and a state machine's execution drawn
//! as a graph of its states with their outcomes. Screenshots of each view are kept in
//! `target/console-screenshots/`. A request from another site's page is refused.

use serde_json::{Value, json};

use crate::support::{Serve, get, invoke, lambdakit, request, tool, wait_until, works, workspace};

/// Whether the browser and its driver are here (see `support::tool`).
fn browser() -> bool {
    let browser = works("chromium", &["--version"]) && works("chromedriver", &["--version"]);
    let selenium = works("python3", &["-c", "import selenium"]);
    tool(
        browser && selenium,
        "Chromium, ChromeDriver and Selenium",
        "apt-get install chromium chromium-driver; python3 -m pip install selenium",
    )
}

/// Runs the browser check `script` with `args`: what it found.
fn check_in_browser(script: &str, args: &[&str]) -> Value {
    let checked = std::process::Command::new("python3")
        .arg(
            workspace()
                .join("cargo-lambdakit/tests/cli/python")
                .join(script),
        )
        .args(args)
        .output()
        .unwrap();
    let found: Value = serde_json::from_slice(&checked.stdout).unwrap_or_else(|_| {
        panic!(
            "the browser check said nothing readable: {}",
            String::from_utf8_lossy(&checked.stderr)
        )
    });
    assert_eq!(found["ok"], true, "{found:#}");
    found
}

/// Where the browser checks keep their screenshots.
fn screenshots() -> std::path::PathBuf {
    workspace().join("target/console-screenshots")
}

#[tokio::test]
async fn the_console_shows_invocations_traces_and_executions_and_invokes_from_the_page() {
    if !browser() {
        return;
    }
    let serve = Serve::start("test-functions");
    let said = invoke(
        serve.address,
        "behave",
        &[],
        br#"{"print": "hello console", "span": true}"#,
    );
    assert_eq!(said.status, 200);
    let said_id = said.header("x-amzn-requestid").unwrap().to_owned();
    let failed = invoke(serve.address, "behave", &[], br#"{"fail": "Broken"}"#);
    assert_eq!(failed.header("x-amz-function-error"), Some("Unhandled"));
    let failed_id = failed.header("x-amzn-requestid").unwrap().to_owned();
    checkout(&serve).await;

    // The console's JSON is the journal's: newest first.
    let page = get(serve.address, "/_lambdakit/api/invocations?limit=1").json();
    assert_eq!(page["invocations"][0]["trigger"], "state-machine");
    assert_eq!(page["invocations"][0]["outcome"], "error");
    assert_eq!(page["kept"], 3, "with the state machine's Task");
    // The function's one instance, warm again.
    let functions = get(serve.address, "/_lambdakit/api/functions").json();
    let behave = functions["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|function| function["name"] == "behave")
        .unwrap();
    assert_eq!(
        behave["instances"],
        json!({"alive": 1, "idle": 1, "starting": 0, "busy": 0}),
        "{behave}"
    );
    assert_eq!(behave["in_flight"], 0);
    // Another site's page may not read it.
    let refused = request(
        serve.address,
        "GET /_lambdakit/api/invocations HTTP/1.1\r\nOrigin: https://elsewhere.example",
        b"",
    );
    assert_eq!(
        refused.status,
        403,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );

    // The function's own span reaches serve after its answer: wait for it in the trace the
    // journal names.
    let detail = get(
        serve.address,
        &format!("/_lambdakit/api/invocations/{said_id}"),
    )
    .json();
    let trace_id = detail["trace_id"]
        .as_str()
        .expect("the invocation was traced");
    wait_until("the function's span in its trace", || {
        get(serve.address, &format!("/_lambdakit/api/traces/{trace_id}"))
            .json()
            .to_string()
            .contains("handle orders")
    });

    sdk_call_in(&serve, trace_id);

    let shots = screenshots();
    let found = check_in_browser(
        "console_check.py",
        &[
            &format!("http://{}/_lambdakit/", serve.address),
            shots.to_str().unwrap(),
            &said_id,
            &failed_id,
        ],
    );
    assert!(
        found["functions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|name| name == "behave"),
        "{found:#}"
    );
    assert_eq!(found["rows"], 3, "{found:#}");
    assert!(
        found["failed_outcome"]
            .as_str()
            .unwrap()
            .starts_with("Error: "),
        "{found:#}"
    );
    assert!(
        found["detail_event"]
            .as_str()
            .unwrap()
            .contains("hello console"),
        "{found:#}"
    );
    let logs = found["detail_logs"].as_str().unwrap();
    assert!(logs.contains("hello console"), "{logs}");
    assert!(
        logs.contains(&format!("REPORT RequestId: {said_id}")),
        "{logs}"
    );
    let waterfall: Vec<&str> = found["waterfall"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item.as_str().unwrap())
        .collect();
    assert!(
        waterfall.iter().any(|item| item.starts_with("behave")),
        "the function's segment: {waterfall:?}"
    );
    assert!(
        waterfall.iter().any(|item| item.contains("handle orders")),
        "the function's own span: {waterfall:?}"
    );
    assert!(
        waterfall
            .iter()
            .any(|item| item.starts_with("S3 [S3-REQ-1]") && item.contains("error: NoSuchKey")),
        "the SDK call with its request id and error: {waterfall:?}"
    );
    assert_eq!(found["invoked_trigger"], "console", "{found:#}");
    assert_eq!(
        found["states"],
        json!({"Charge": "↪ caught (AskedToFail)", "Ship": "– not run", "Refund": "✓ succeeded"}),
        "{found:#}"
    );
    let nodes = &found["nodes"];
    assert!(
        nodes["Charge"].as_str().unwrap().contains("caught"),
        "{nodes}"
    );
    assert!(
        nodes["Refund"].as_str().unwrap().contains("succeeded"),
        "{nodes}"
    );
    let events = found["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|event| event.as_str().unwrap().ends_with("FunctionFailed")),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap(), "ExecutionSucceeded");
    for view in ["invocations", "detail", "invoked", "execution"] {
        assert!(
            shots.join(format!("{view}.png")).is_file(),
            "no screenshot of {view}"
        );
    }
}

/// A STANDARD state machine `checkout` on serve whose Task (`behave`, asked to fail) is caught
/// and recovered from, run once to its end.
async fn checkout(serve: &Serve) {
    let sfn = crate::local_states::client(&serve.endpoint()).await;
    let region = "us-east-1";
    let behave = format!("arn:aws:lambda:{region}:123456789012:function:behave");
    let definition = json!({
        "StartAt": "Charge",
        "States": {
            "Charge": {
                "Type": "Task",
                "Resource": behave,
                "Parameters": {"fail": "card declined"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Refund"}],
                "Next": "Ship",
            },
            "Ship": {"Type": "Pass", "End": true},
            "Refund": {"Type": "Pass", "End": true},
        },
    });
    let machine = sfn
        .create_state_machine()
        .name("checkout")
        .role_arn("arn:aws:iam::123456789012:role/checkout")
        .definition(definition.to_string())
        .send()
        .await
        .unwrap();
    let started = sfn
        .start_execution()
        .state_machine_arn(machine.state_machine_arn())
        .input(r#"{"order": "o-1"}"#)
        .send()
        .await
        .unwrap();
    let ended = crate::local_states::ended(&sfn, started.execution_arn()).await;
    assert_eq!(ended.status().as_str(), "SUCCEEDED", "{ended:?}");
}

/// With a token, the console's page loads without it and reads with it (given in the
/// address's `#token=`, which never reaches serve); its data refuses a request without the
/// token. 150 invocations: a page of 100, an older one of 50, and back.
#[test]
fn with_a_token_the_console_reads_with_the_token_from_its_address_and_pages_back() {
    if !browser() {
        return;
    }
    let token = "console-token-0123456789";
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--locked", "-p", "test-functions"])
        .args(["--bin", "behave", "--token", token, "--manifest-path"])
        .arg(workspace().join("Cargo.toml"))
        .env("LAMBDAKIT_ASYNC_RETRY_DELAY_MS", "50");
    let serve = Serve::spawn(command);
    for _ in 0..150 {
        let answer = invoke(
            serve.address,
            "behave",
            &[("x-lambdakit-token", token)],
            b"{}",
        );
        assert_eq!(answer.status, 200);
    }
    serve.output_with(&["console: http://", "/_lambdakit/#token=TOKEN"]);
    let page = get(serve.address, "/_lambdakit/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-security-policy")
            .is_some_and(|policy| policy.contains("default-src 'self'")),
        "{:?}",
        page.headers
    );
    let unread = get(serve.address, "/_lambdakit/api/invocations");
    assert_eq!(
        unread.status,
        403,
        "{}",
        String::from_utf8_lossy(&unread.body)
    );

    let found = check_in_browser(
        "console_pages.py",
        &[
            &format!("http://{}/_lambdakit/#token={token}", serve.address),
            screenshots().to_str().unwrap(),
        ],
    );
    assert!(
        !found["address"].as_str().unwrap().contains(token),
        "the token stays out of the address once read: {found:#}"
    );
    assert_eq!(found["kept"], "(150 kept)", "{found:#}");
    assert_eq!(found["first_page"], 100, "{found:#}");
    assert_eq!(found["second_page"], 50, "{found:#}");
    assert_eq!(found["older_disabled"], true, "{found:#}");
    assert_eq!(found["back"], 100, "{found:#}");

    // An `Event` invocation that fails three times is counted among the function's failed
    // events, beside its queue.
    let accepted = invoke(
        serve.address,
        "behave",
        &[
            ("x-lambdakit-token", token),
            ("X-Amz-Invocation-Type", "Event"),
        ],
        br#"{"fail": "always"}"#,
    );
    assert_eq!(accepted.status, 202);
    let functions = || {
        let read = request(
            serve.address,
            &format!("GET /_lambdakit/api/functions HTTP/1.1\r\nX-Lambdakit-Token: {token}"),
            b"",
        );
        read.json()["functions"][0].clone()
    };
    wait_until("the failed event counted", || {
        functions()["failed_events"] == 1
    });
    assert_eq!(functions()["queued"], 0);
}

/// Sends serve's X-Ray daemon a failed S3 call under the function segment of `trace_id`, as
/// the X-Ray SDK sends a subsegment (UDP, its JSON header line first), and waits until the
/// trace holds it.
fn sdk_call_in(serve: &Serve, trace_id: &str) {
    let output = serve.output_with(&["X-Ray daemon on udp://"]);
    let line = output
        .iter()
        .find(|line| line.contains("X-Ray daemon on udp://"))
        .unwrap();
    let daemon = line
        .split("udp://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let trace_path = format!("/_lambdakit/api/traces/{trace_id}");
    let trace = get(serve.address, &trace_path).json();
    let segment = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|span| span["name"] == "behave")
        .unwrap_or_else(|| panic!("no function segment in {trace}"));
    let start = segment["start_time"].as_f64().unwrap();
    let document = json!({
        "type": "subsegment", "name": "S3", "id": "5e5e5e5e5e5e5e5e",
        "trace_id": trace["xray_trace_id"], "parent_id": segment["span_id"],
        "namespace": "aws", "start_time": start + 0.0002, "end_time": start + 0.0006,
        "aws": {"operation": "GetObject", "request_id": "S3-REQ-1"},
        "error": true,
        "cause": {"exceptions": [{"type": "NoSuchKey", "message": "The specified key does not exist."}]},
    });
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let datagram = format!("{{\"format\": \"json\", \"version\": 1}}\n{document}");
    socket.send_to(datagram.as_bytes(), &daemon).unwrap();
    wait_until("the SDK call in the trace", || {
        get(serve.address, &trace_path)
            .json()
            .to_string()
            .contains("S3-REQ-1")
    });
}
