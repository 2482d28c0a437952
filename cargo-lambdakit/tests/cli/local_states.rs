//! State machines on serve, through its Step Functions API: created, run and read back with
//! `aws-sdk-sfn` and the AWS CLI, their Task states invoking serve's functions; bad requests
//! answered as Step Functions answers them, with serve running on.

use std::time::Duration;

use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::types::StateMachineType;
use serde_json::{Value, json};

use crate::support::Serve;

/// A Step Functions client of the serve at `url` (signed with any credentials: serve on
/// loopback takes them).
pub(crate) async fn client(url: &str) -> aws_sdk_sfn::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(cargo_lambdakit::aws::http_client())
        .endpoint_url(url)
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_sfn::config::Credentials::new(
            "local", "local", None, None, "test",
        ))
        .load()
        .await;
    // As `deploy --local` builds its own: StartSyncExecution's `sync-` host prefix left out.
    cargo_lambdakit::aws::local_sfn(&config)
}

/// The execution `arn` once it has ended (failing after a minute).
pub(crate) async fn ended(sfn: &aws_sdk_sfn::Client, arn: &str) -> DescribeExecutionOutput {
    let started = std::time::Instant::now();
    loop {
        let described = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap();
        if described.status().as_str() != "RUNNING" {
            return described;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "still running: {described:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The function `behave` of the test functions, as a Task's `Resource`.
fn behave(region: &str) -> String {
    format!("arn:aws:lambda:{region}:123456789012:function:behave")
}

/// The error code of a refused call.
fn code<E: aws_sdk_sfn::error::ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn state_machines_run_on_serve_through_the_step_functions_api() {
    // Waits a hundred times faster: the machine's 20 s Wait takes 0.2 s.
    let serve = Serve::start_with(
        "test-functions",
        &["--bin", "behave", "--wait-speed", "100"],
    );
    let url = serve.endpoint();
    let sfn = client(&url).await;
    let role = "arn:aws:iam::123456789012:role/orders-states";

    // The region serve's ARNs name: that of a machine it creates.
    let probe = sfn
        .create_state_machine()
        .name("probe")
        .role_arn(role)
        .definition(r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}"#)
        .send()
        .await
        .unwrap();
    let region = probe
        .state_machine_arn()
        .split(':')
        .nth(3)
        .unwrap()
        .to_owned();

    let definition = json!({
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Task",
                "Resource": behave(&region),
                "Parameters": {"print.$": "$.note"},
                "ResultSelector": {"region.$": "$.region", "arn.$": "$.arn"},
                "ResultPath": "$.checked",
                "Next": "Pause",
            },
            "Pause": {"Type": "Wait", "Seconds": 20, "Next": "Lines"},
            "Lines": {
                "Type": "Map",
                "ItemsPath": "$.lines",
                "MaxConcurrency": 2,
                "ItemProcessor": {"StartAt": "Line", "States": {"Line": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": behave(&region), "Payload": {"print.$": "$.sku"}},
                    "ResultSelector": {"status.$": "$.StatusCode", "sku.$": "$.Payload.requestId"},
                    "End": true,
                }}},
                "ResultPath": "$.lines",
                "Next": "Try",
            },
            "Try": {
                "Type": "Task",
                "Resource": behave(&region),
                "Parameters": {"fail": "not today"},
                "Retry": [{"ErrorEquals": ["AskedToFail"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Done"}],
                "End": true,
            },
            "Done": {"Type": "Pass", "End": true},
        },
    })
    .to_string();
    let created = sfn
        .create_state_machine()
        .name("orders")
        .role_arn(role)
        .definition(&definition)
        .send()
        .await
        .unwrap();
    let machine = created.state_machine_arn().to_owned();
    assert_eq!(
        machine,
        format!("arn:aws:states:{region}:123456789012:stateMachine:orders")
    );
    // The same request again is the same machine.
    let again = sfn
        .create_state_machine()
        .name("orders")
        .role_arn(role)
        .definition(&definition)
        .send()
        .await
        .unwrap();
    assert_eq!(again.state_machine_arn(), machine);
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(described.definition(), definition);
    assert_eq!(described.r#type(), &StateMachineType::Standard);

    let started = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name("first")
        .input(r#"{"note": "checking", "lines": [{"sku": "A"}, {"sku": "B"}, {"sku": "C"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        started.execution_arn(),
        format!("arn:aws:states:{region}:123456789012:execution:orders:first")
    );
    let first = ended(&sfn, started.execution_arn()).await;
    assert_eq!(first.status().as_str(), "SUCCEEDED", "{first:?}");
    let output: Value = serde_json::from_str(first.output().unwrap()).unwrap();
    // The function ran on serve, invoked by its ARN.
    assert_eq!(output["checked"]["region"], region, "{output}");
    assert_eq!(output["checked"]["arn"], behave(&region), "{output}");
    // The Map invoked it once per line, through `lambda:invoke`.
    let lines = output["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3, "{output}");
    assert!(lines.iter().all(|line| line["status"] == 200), "{output}");
    // The failure was retried once, then caught with the function's error.
    assert_eq!(output["caught"]["Error"], "AskedToFail", "{output}");
    let cause: Value = serde_json::from_str(output["caught"]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["errorMessage"], "not today", "{output}");

    // Its history, as GetExecutionHistory reads on AWS.
    let history = sfn
        .get_execution_history()
        .execution_arn(started.execution_arn())
        .max_results(1000)
        .send()
        .await
        .unwrap();
    let kinds: Vec<&str> = history
        .events()
        .iter()
        .map(|event| event.r#type().as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"ExecutionStarted"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"ExecutionSucceeded"), "{kinds:?}");
    assert_eq!(
        kinds
            .iter()
            .filter(|kind| **kind == "LambdaFunctionFailed")
            .count(),
        2,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"WaitStateExited"), "{kinds:?}");
    assert!(kinds.contains(&"MapStateSucceeded"), "{kinds:?}");
    let succeeded = history
        .events()
        .iter()
        .find(|event| event.r#type().as_str() == "LambdaFunctionSucceeded")
        .and_then(|event| event.lambda_function_succeeded_event_details())
        .and_then(|details| details.output())
        .unwrap();
    assert!(succeeded.contains("requestId"), "{succeeded}");

    // Listed, and the name is taken.
    let listed = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = listed.executions().iter().map(|run| run.name()).collect();
    assert_eq!(names, ["first"]);
    let taken = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name("first")
        .input("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&taken), "ExecutionAlreadyExists");

    // Stopped while it waits: ABORTED, with the error and cause given.
    let waits = sfn
        .create_state_machine()
        .name("waits")
        .role_arn(role)
        .definition(r#"{"StartAt": "Long", "States": {"Long": {"Type": "Wait", "Seconds": 36000, "End": true}}}"#)
        .send()
        .await
        .unwrap();
    let waiting = sfn
        .start_execution()
        .state_machine_arn(waits.state_machine_arn())
        .send()
        .await
        .unwrap();
    sfn.stop_execution()
        .execution_arn(waiting.execution_arn())
        .error("Operator")
        .cause("enough")
        .send()
        .await
        .unwrap();
    let stopped = ended(&sfn, waiting.execution_arn()).await;
    assert_eq!(stopped.status().as_str(), "ABORTED");
    assert_eq!(
        (stopped.error(), stopped.cause()),
        (Some("Operator"), Some("enough"))
    );

    // EXPRESS machines run synchronously; a function that crashes fails its execution with
    // Lambda's error, and serve runs on.
    let quick = sfn
        .create_state_machine()
        .name("quick")
        .role_arn(role)
        .r#type(StateMachineType::Express)
        .definition(json!({"StartAt": "Run", "States": {"Run": {"Type": "Task", "Resource": behave(&region), "End": true}}}).to_string())
        .send()
        .await
        .unwrap();
    let crashed = sfn
        .start_sync_execution()
        .state_machine_arn(quick.state_machine_arn())
        .input(r#"{"exit": 3}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(crashed.status().as_str(), "FAILED", "{crashed:?}");
    assert_eq!(crashed.error(), Some("Runtime.ExitError"), "{crashed:?}");
    let ran = sfn
        .start_sync_execution()
        .state_machine_arn(quick.state_machine_arn())
        .input(r#"{"print": "again"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ran.status().as_str(), "SUCCEEDED", "{ran:?}");
    let answered: Value = serde_json::from_str(ran.output().unwrap()).unwrap();
    assert_eq!(answered["arn"], behave(&region));

    // Bad requests, refused as Step Functions refuses them.
    let not_json = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .input("{not json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&not_json), "InvalidExecutionInput");
    let standard_sync = sfn
        .start_sync_execution()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&standard_sync), "StateMachineTypeNotSupported");
    let missing = sfn
        .describe_state_machine()
        .state_machine_arn(format!(
            "arn:aws:states:{region}:123456789012:stateMachine:nowhere"
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "StateMachineDoesNotExist");
    let invalid = sfn
        .create_state_machine()
        .name("broken")
        .role_arn(role)
        .definition(r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&invalid), "InvalidDefinition");
    let message = aws_sdk_sfn::error::ProvideErrorMetadata::message(&invalid).unwrap_or_default();
    assert!(
        message.contains("\"A\"") && message.contains("Next"),
        "{message}"
    );

    // Deleted: gone from the list.
    sfn.delete_state_machine()
        .state_machine_arn(probe.state_machine_arn())
        .send()
        .await
        .unwrap();
    let machines = sfn.list_state_machines().send().await.unwrap();
    let mut names: Vec<&str> = machines
        .state_machines()
        .iter()
        .map(|machine| machine.name())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["orders", "quick", "waits"]);

    // `invoke --state-machine`: the output on stdout, the path on stderr.
    let invoked = crate::support::lambdakit()
        .args(["invoke", "--state-machine", "orders", "--endpoint", &url])
        .args([
            "--data",
            r#"{"note": "from invoke", "lines": [{"sku": "A"}, {"sku": "B"}]}"#,
        ])
        .output()
        .unwrap();
    assert!(invoked.status.success(), "{invoked:?}");
    let output: Value = serde_json::from_slice(&invoked.stdout).unwrap();
    assert_eq!(output["caught"]["Error"], "AskedToFail", "{output}");
    let path = String::from_utf8_lossy(&invoked.stderr);
    let rows: Vec<Vec<&str>> = path
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    let states: Vec<&str> = rows.iter().filter_map(|row| row.get(2).copied()).collect();
    assert_eq!(
        states[..6],
        ["Check", "Pause", "Lines", "Line", "Try", "Done"],
        "{path}"
    );
    assert!(path.contains("×2"), "{path}");
    assert!(path.contains("2 attempts, caught AskedToFail"), "{path}");
    assert!(
        path.lines()
            .any(|line| line.starts_with("SUCCEEDED in ") && line.contains(":execution:orders:")),
        "{path}"
    );
    // An EXPRESS machine whose function crashes: the error, and exit code 1.
    let crashed = crate::support::lambdakit()
        .args(["invoke", "--state-machine", "quick", "--endpoint", &url])
        .args(["--data", r#"{"exit": 3}"#])
        .output()
        .unwrap();
    assert_eq!(crashed.status.code(), Some(1), "{crashed:?}");
    let said = String::from_utf8_lossy(&crashed.stderr);
    assert!(said.contains("error: Runtime.ExitError"), "{said}");
    assert!(said.contains("failed with Runtime.ExitError"), "{said}");
    // A name that is not there: said so, with the closest one.
    let unknown = crate::support::lambdakit()
        .args([
            "invoke",
            "--state-machine",
            "order",
            "--endpoint",
            &url,
            "--data",
            "{}",
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success());
    assert!(
        said.contains("there is no state machine `order` there; did you mean `orders`?"),
        "{said}"
    );

    // The AWS CLI, with the host prefix it would put before serve's address left out.
    if let Some(mut aws) = crate::serve::aws_cli() {
        let synced = aws
            .args([
                "stepfunctions",
                "start-sync-execution",
                "--endpoint-url",
                &url,
            ])
            .args(["--state-machine-arn", quick.state_machine_arn()])
            .args(["--input", r#"{"print": "from the CLI"}"#])
            .env("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
            .env("AWS_DEFAULT_REGION", &region)
            .output()
            .unwrap();
        assert!(synced.status.success(), "{synced:?}");
        let answer: Value = serde_json::from_slice(&synced.stdout).unwrap();
        assert_eq!(answer["status"], "SUCCEEDED", "{answer}");
    }
}
