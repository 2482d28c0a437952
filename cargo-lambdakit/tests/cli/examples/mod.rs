//! The example pipelines of `examples/`, end to end: each is deployed with `cargo lambdakit
//! deploy` to moto, its triggers read back, and then run in `cargo lambdakit serve
//! --event-sources` with its AWS calls going to the same moto, driven by its triggers as serve
//! plays them (queues polled, buckets watched, schedules fired).

mod device_telemetry;
mod hello_http;
mod nightly_report;
mod order_pipeline;
mod s3_thumbnail;
mod sqs_worker;
mod telemetry_shipper;
mod together;

use std::process::Output;

use crate::moto::Moto;
use crate::support::Serve;

/// Release settings that build the examples as quickly as a debug build. These tests check
/// what deploy and serve do with the binaries, not how fast the binaries run, and the AWS SDK
/// takes many minutes to build with the Lambda profile (fat LTO, one codegen unit).
pub(crate) const QUICK_RELEASE: [(&str, &str); 3] = [
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0"),
    ("CARGO_PROFILE_RELEASE_LTO", "false"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256"),
];

/// This machine's architecture, as Lambda names it.
pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}

/// `cargo lambdakit deploy` of the example `package` to `moto`; panics when it fails.
pub(crate) fn deploy(moto: &Moto, package: &str) -> Output {
    let output = moto
        .command(package, &["deploy", "--arch", host_arch()])
        .envs(QUICK_RELEASE)
        .output()
        .unwrap();
    assert!(output.status.success(), "deploy {package}: {output:?}");
    output
}

/// `cargo lambdakit serve` of the example `package`: the binaries `deploy` built, their AWS
/// calls going to `moto`.
pub(crate) fn serve(moto: &Moto, package: &str, options: &[&str]) -> Serve {
    let mut command = moto.command(package, &["serve", "--port", "0", "--arch", host_arch()]);
    command.args(options).envs(QUICK_RELEASE);
    Serve::spawn(command)
}

/// The event source mappings deploy made for `function`.
pub(crate) async fn triggers_of(
    moto: &Moto,
    function: &str,
) -> Vec<aws_sdk_lambda::types::EventSourceMappingConfiguration> {
    let lambda = aws_sdk_lambda::Client::new(&moto.config().await);
    let listed = lambda
        .list_event_source_mappings()
        .function_name(function)
        .send()
        .await
        .unwrap();
    listed.event_source_mappings().to_vec()
}

/// Checks that `function` has one trigger, on `queue`, in batches of 10 with partial batch
/// responses.
pub(crate) async fn assert_batches_of_ten_from(moto: &Moto, function: &str, queue: &str) {
    let found = triggers_of(moto, function).await;
    let [mapping] = found.as_slice() else {
        panic!("one event source mapping of {function}: {found:?}");
    };
    assert_eq!(mapping.event_source_arn(), Some(queue_arn(queue).as_str()));
    assert_eq!(mapping.batch_size(), Some(10));
    assert_eq!(
        mapping.function_response_types(),
        [aws_sdk_lambda::types::FunctionResponseType::ReportBatchItemFailures]
    );
}

/// The statements of the policy deploy put on the role it created for `function`.
pub(crate) async fn role_statements(moto: &Moto, function: &str) -> Vec<serde_json::Value> {
    let iam = aws_sdk_iam::Client::new(&moto.config().await);
    let policy = iam
        .get_role_policy()
        .role_name(format!("{function}-lambdakit"))
        .policy_name("lambdakit")
        .send()
        .await
        .unwrap();
    let policy = cargo_lambdakit::percent::decode(policy.policy_document());
    let policy: serde_json::Value = serde_json::from_str(&policy).unwrap();
    policy["Statement"].as_array().unwrap().clone()
}

/// Whether `statements` allow `action` on `resource`, as written in a statement.
pub(crate) fn allows(statements: &[serde_json::Value], action: &str, resource: &str) -> bool {
    statements.iter().any(|statement| {
        statement["Effect"] == "Allow"
            && statement["Action"]
                .as_array()
                .is_some_and(|actions| actions.iter().any(|a| a == action))
            && statement["Resource"]
                .as_array()
                .is_some_and(|resources| resources.iter().any(|r| r == resource))
    })
}

/// The ARN of the SQS queue `queue` in moto.
fn queue_arn(queue: &str) -> String {
    format!(
        "arn:aws:sqs:{}:{}:{queue}",
        crate::moto::REGION,
        crate::moto::ACCOUNT
    )
}

/// The event source mappings of the SQS queue `queue`, as `aws lambda
/// list-event-source-mappings` lists them.
fn mappings_of(moto: &Moto, queue: &str) -> Vec<serde_json::Value> {
    let listed = moto.aws(&[
        "lambda",
        "list-event-source-mappings",
        "--event-source-arn",
        &queue_arn(queue),
    ]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    listed["EventSourceMappings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Turns off the event source mappings deploy made for `queue`, so that `serve
/// --event-sources` alone plays them; call it after deploy, before serve starts.
///
/// moto runs an enabled SQS mapping itself, each time a message is sent: it receives a batch
/// and invokes the function in docker. Without docker every such invocation fails, and each
/// counts a receive of every message in the batch, so that a redrive policy moves messages to
/// the dead-letter queue before the function under test ever gets them.
pub(crate) fn take_over_queue(moto: &Moto, queue: &str) {
    for mapping in mappings_of(moto, queue) {
        let uuid = mapping["UUID"].as_str().unwrap();
        moto.aws(&[
            "lambda",
            "update-event-source-mapping",
            "--uuid",
            uuid,
            "--no-enabled",
        ]);
    }
}
