//! How a function runs beyond its code: asynchronous invocation settings, its VPC and its log
//! group, deployed to moto and changed between deploys; the same `async` settings followed
//! by `serve`.

use serde_json::Value;

use crate::deploy::json;
use crate::deploy_triggers::{Fixture, changed};
use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::{Serve, invoke, lambdakit, request};

/// The `intake` function's settings with `more` in its table, and its `async` table.
fn settings(more: &str, asynchronous: &str) -> String {
    let function = "[package.metadata.lambdakit.functions.intake]";
    format!(
        "{function}\n{more}\n\n[package.metadata.lambdakit.functions.intake.async]\n{asynchronous}"
    )
}

#[tokio::test]
async fn async_settings_vpc_and_log_retention_are_deployed_converged_and_taken_back() {
    let Some(moto) = Moto::start() else { return };
    let failed = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:failed");
    let fixture = Fixture::new(
        "operation",
        &settings(
            "log_retention = 14\nvpc = { subnets = [\"subnet-0b\", \"subnet-0a\"], security_groups = [\"sg-01\"] }",
            &format!("retries = 0\nmax_event_age = 600\non_failure = \"{failed}\""),
        ),
    );
    let plan =
        String::from_utf8_lossy(&fixture.run(&moto, &["deploy", "--dry-run"]).stdout).into_owned();
    assert!(plan.contains("+ log group /aws/lambda/intake"), "{plan}");
    assert!(plan.contains("+ async     intake"), "{plan}");

    let output = fixture.run(&moto, &["deploy", "--output", "json"]);
    // With `--output json`, the long steps are plain lines on stderr, never on stdout.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("uploading `intake` ("), "{stderr}");
    assert!(stderr.contains("MB): created in "), "{stderr}");
    let deployed = json(&output);
    assert_eq!(
        change(&deployed, "log group", "/aws/lambda/intake").0,
        "create"
    );
    assert_eq!(change(&deployed, "async", "intake").0, "create");

    assert_eq!(log_group(&moto)["retentionInDays"], 14);
    let configuration: Value = serde_json::from_str(&moto.aws(&[
        "lambda",
        "get-function-configuration",
        "--function-name",
        "intake",
    ]))
    .unwrap();
    let mut subnets: Vec<&str> = configuration["VpcConfig"]["SubnetIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    subnets.sort_unstable();
    assert_eq!(subnets, ["subnet-0a", "subnet-0b"]);
    let invoke_config: Value = serde_json::from_str(&moto.aws(&[
        "lambda",
        "get-function-event-invoke-config",
        "--function-name",
        "intake",
    ]))
    .unwrap();
    assert_eq!(invoke_config["MaximumRetryAttempts"], 0);
    assert_eq!(invoke_config["MaximumEventAgeInSeconds"], 600);
    assert_eq!(
        invoke_config["DestinationConfig"]["OnFailure"]["Destination"],
        failed.as_str()
    );
    // The role may reach the destination and make the VPC's network interfaces.
    let policy: Value = serde_json::from_str(&moto.aws(&[
        "iam",
        "get-role-policy",
        "--role-name",
        "intake-lambdakit",
        "--policy-name",
        "lambdakit",
    ]))
    .unwrap();
    let policy = policy["PolicyDocument"].to_string();
    assert!(
        policy.contains("sqs:SendMessage") && policy.contains(&failed),
        "{policy}"
    );
    assert!(policy.contains("ec2:CreateNetworkInterface"), "{policy}");

    let again = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert!(changed(&again).is_empty(), "{again}");

    // Out of the VPC, a longer retention, no event invoke config.
    fixture.settings(&settings("log_retention = 30", ""));
    let updated = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert_eq!(
        change(&updated, "function", "intake"),
        ("update".to_owned(), serde_json::json!(["vpc → none"]))
    );
    assert_eq!(
        change(&updated, "log group", "/aws/lambda/intake"),
        (
            "update".to_owned(),
            serde_json::json!(["retention 14 days → 30 days"])
        )
    );
    assert_eq!(change(&updated, "async", "intake").0, "delete");
    assert_eq!(log_group(&moto)["retentionInDays"], 30);
    let configs: Value = serde_json::from_str(&moto.aws(&[
        "lambda",
        "list-function-event-invoke-configs",
        "--function-name",
        "intake",
    ]))
    .unwrap();
    assert_eq!(configs["FunctionEventInvokeConfigs"], serde_json::json!([]));
}

/// The function's log group, as moto describes it.
fn log_group(moto: &Moto) -> Value {
    let groups: Value = serde_json::from_str(&moto.aws(&[
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        "/aws/lambda/intake",
    ]))
    .unwrap();
    groups["logGroups"][0].clone()
}

/// The action and details of the change of `kind` named `name` in a deploy's report.
fn change(report: &Value, kind: &str, name: &str) -> (String, Value) {
    let change = report["functions"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["kind"] == kind && change["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} `{name}` in {report}"));
    (
        change["action"].as_str().unwrap().to_owned(),
        change["details"].clone(),
    )
}

#[test]
fn serve_follows_a_functions_async_settings() {
    // `intake` exits at once: every attempt fails, and with `retries = 0` there is one.
    let fixture = Fixture::new(
        "serve-async",
        &settings("", "retries = 0\nmax_event_age = 120"),
    );
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--manifest-path"])
        .arg(fixture.dir.join("Cargo.toml"))
        .env("LAMBDAKIT_ASYNC_RETRY_DELAY_MS", "100");
    let serve = Serve::spawn(command);

    let config = request(
        serve.address,
        "GET /2019-09-25/functions/intake/event-invoke-config HTTP/1.1",
        b"",
    );
    assert_eq!(
        config.status,
        200,
        "{}",
        String::from_utf8_lossy(&config.body)
    );
    assert_eq!(config.json()["MaximumRetryAttempts"], 0);
    assert_eq!(config.json()["MaximumEventAgeInSeconds"], 120);

    let answer = invoke(
        serve.address,
        "intake",
        &[("X-Amz-Invocation-Type", "Event")],
        b"{}",
    );
    assert_eq!(answer.status, 202);
    let request_id = answer.header("x-amzn-RequestId").unwrap().to_owned();
    let errors = serve.errors_with(&[&request_id, "dropped"]);
    let dropped: Vec<&String> = errors
        .iter()
        .filter(|line| line.contains(&request_id) && line.contains("dropped"))
        .collect();
    assert_eq!(dropped.len(), 1, "{errors:?}");
    assert!(dropped[0].contains("after 1 attempt"), "{dropped:?}");
}
