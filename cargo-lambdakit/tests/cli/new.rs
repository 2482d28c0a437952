//! `cargo lambdakit new`: every kind of function it writes, and an extension with its
//! function, builds, passes its own tests, and serves.

use std::process::Command;

use crate::support::{Serve, lambdakit, workspace};

const KINDS: [&str; 5] = ["http", "s3", "sqs", "schedule", "json"];

#[test]
fn every_kind_builds_passes_its_tests_and_serves() {
    let dir = std::env::temp_dir().join(format!("lambdakit-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for kind in KINDS {
        let output = lambdakit()
            .args(["new", &format!("fn-{kind}"), "--event", kind, "--path"])
            .arg(dir.join(format!("fn-{kind}")))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("cargo test"));
    }
    let output = lambdakit()
        .args(["new", "--extension", "ext-log", "--path"])
        .arg(dir.join("ext-log"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("the function `ext-log-greeter`") && stdout.contains("cargo test"),
        "{stdout}"
    );
    // One workspace for the six, on this workspace's Cargo.lock and target directory, so
    // that the dependencies are already built and nothing is fetched.
    let members: Vec<String> = KINDS
        .iter()
        .map(|kind| format!("\"fn-{kind}\""))
        .chain(["\"ext-log\"".to_owned()])
        .collect();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n",
            members.join(", ")
        ),
    )
    .unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    #[allow(clippy::disallowed_methods)] // The test's own environment: cargo's path.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["test", "--offline", "--workspace", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", workspace().join("target"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let passed = stdout
        .lines()
        .filter(|line| line.starts_with("test result: ok.") && !line.contains(" 0 passed"))
        .count();
    // One test binary per function, and the extension's two: its own and its function's.
    assert_eq!(passed, KINDS.len() + 2, "{stdout}");
    for test in [
        "logs_each_report_and_nothing_else",
        "beside_a_function_logs_its_invocation_its_report_and_the_shutdown",
    ] {
        assert!(
            stdout.contains(&format!("test tests::{test} ... ok")),
            "{stdout}"
        );
    }

    // And one of them served, invoked with the matching example event.
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "-p", "fn-s3", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", workspace().join("target"));
    let serve = Serve::spawn(command);
    let output = lambdakit()
        .args([
            "invoke",
            "fn-s3",
            "--endpoint",
            &serve.endpoint(),
            "--event",
            "s3-put",
            "--param",
            "bucket=photos",
            "--param",
            "key=cat.png",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        r#"["s3://photos/cat.png"]"#
    );
    drop(serve);

    // And the extension served beside its function: it hears of the invocation and gets its
    // report from the Telemetry API.
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "-p", "ext-log", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", workspace().join("target"));
    let serve = Serve::spawn(command);
    let output = lambdakit()
        .args([
            "invoke",
            "ext-log-greeter",
            "--endpoint",
            &serve.endpoint(),
            "--data",
            r#"{"name": "Ada"}"#,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("Hello, Ada!"),
        "{output:?}"
    );
    let lines = serve.output_with(&["ext-log: INVOKE ", "ext-log: REPORT "]);
    let report = lines
        .iter()
        .find(|line| line.contains("ext-log: REPORT "))
        .unwrap();
    assert!(report.contains(" success: "), "{report}");
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_names_and_kinds_are_refused_before_anything_is_written() {
    let dir = std::env::temp_dir().join(format!("lambdakit-new-bad-{}", std::process::id()));
    let output = lambdakit()
        .args(["new", "Bad Name", "--path"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("a function's name starts with a lowercase letter")
    );
    let output = lambdakit()
        .args(["new", "fine", "--event", "kafka", "--path"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value 'kafka' for '--event <EVENT>'")
            && stderr.contains("[possible values: http, s3, sqs, schedule, json]"),
        "{stderr}"
    );
    let output = lambdakit()
        .args(["new", "fine", "--extension", "--event", "s3", "--path"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("the argument '--extension' cannot be used with '--event <EVENT>'")
    );
    let output = lambdakit()
        .args(["new", "--extension", "Bad", "--path"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("an extension's name starts with a lowercase letter")
    );
    assert!(!dir.exists());
}
