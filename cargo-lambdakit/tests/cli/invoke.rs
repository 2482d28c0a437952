//! `cargo lambdakit invoke` against a running `serve`.

use std::io::Write;
use std::process::Stdio;

use crate::support::{Serve, lambdakit};

#[test]
fn invoke_prints_the_answer_and_the_log_tail_and_sets_the_exit_code() {
    let serve = Serve::start("test-functions");
    let endpoint = serve.endpoint();

    let ok = lambdakit()
        .args([
            "invoke",
            "behave",
            "--endpoint",
            &endpoint,
            "--data",
            r#"{"print":"from the cli"}"#,
        ])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    let answer: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(answer["greeting"], "hello from the config");
    let logs = String::from_utf8_lossy(&ok.stderr);
    assert!(
        logs.contains("\tfrom the cli") && logs.contains("REPORT RequestId: "),
        "{logs}"
    );

    let failed = lambdakit()
        .args([
            "invoke",
            "behave",
            "--endpoint",
            &endpoint,
            "--data",
            r#"{"fail":"bad"}"#,
        ])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&failed.stdout).trim(),
        r#"{"errorType":"AskedToFail","errorMessage":"bad"}"#
    );

    let mut piped = lambdakit()
        .args(["invoke", "behave", "--endpoint", &endpoint])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    piped
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"print":"from stdin"}"#)
        .unwrap();
    let piped = piped.wait_with_output().unwrap();
    assert!(piped.status.success());

    let missing = lambdakit()
        .args(["invoke", "nope", "--endpoint", &endpoint, "--data", "{}"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.starts_with(
            "error: the local Lambda refused the invocation: ResourceNotFoundException"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: `serve` lists the functions it runs"),
        "{stderr}"
    );

    let not_json = lambdakit()
        .args([
            "invoke",
            "behave",
            "--endpoint",
            &endpoint,
            "--data",
            "{oops",
        ])
        .output()
        .unwrap();
    assert_eq!(not_json.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not_json.stderr).contains("it is not JSON"));
}

#[test]
fn invoke_without_a_local_lambda_says_how_to_start_one() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let output = lambdakit()
        .args(["invoke", "behave", "--endpoint", &endpoint, "--data", "{}"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect to"), "{stderr}");
    assert!(
        stderr.contains("hint: start the local emulator with `cargo lambdakit serve`"),
        "{stderr}"
    );
}

#[test]
fn invoke_remote_goes_through_aws_invoke_api_to_the_endpoint() {
    // `serve` answers the Invoke API as AWS does: `--remote` reaches it through the AWS SDK, the
    // credential chain and `AWS_ENDPOINT_URL`, as it would reach AWS.
    let serve = Serve::start("test-functions");
    let scratch = std::env::temp_dir().join(format!("lambdakit-remote-{}", std::process::id()));
    let invoke = |data: &str| {
        lambdakit()
            .args([
                "invoke",
                "behave",
                "--remote",
                "--region",
                "eu-west-1",
                "--data",
                data,
            ])
            .env("AWS_ENDPOINT_URL", serve.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", scratch.join("no-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                scratch.join("no-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    };
    let ok = invoke(r#"{"print":"from afar"}"#);
    assert!(ok.status.success(), "{ok:?}");
    let answer: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(answer["greeting"], "hello from the config");
    let logs = String::from_utf8_lossy(&ok.stderr);
    assert!(
        logs.contains("\tfrom afar") && logs.contains("REPORT RequestId: "),
        "{logs}"
    );

    let failed = invoke(r#"{"fail":"far"}"#);
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    assert_eq!(
        String::from_utf8_lossy(&failed.stdout).trim(),
        r#"{"errorType":"AskedToFail","errorMessage":"far"}"#
    );
}

#[test]
fn invoke_passes_a_cognito_identity_to_the_function() {
    let serve = Serve::start("test-functions");
    let invoke = |identity: &str| {
        lambdakit()
            .args([
                "invoke",
                "behave",
                "--endpoint",
                &serve.endpoint(),
                "--data",
                "{}",
                "--identity",
                identity,
            ])
            .output()
            .unwrap()
    };
    let ok = invoke(
        r#"{"cognitoIdentityId": "eu-west-1:a1b2", "cognitoIdentityPoolId": "eu-west-1:pool"}"#,
    );
    assert!(ok.status.success(), "{ok:?}");
    let answer: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(answer["identity"], "eu-west-1:a1b2");
    let refused = invoke("not json");
    assert_eq!(refused.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("InvalidRequestContentException: the Cognito identity is not a JSON object"),
        "{refused:?}"
    );
}
