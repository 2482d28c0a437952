//! `cargo lambdakit new`: every kind of function it writes builds, passes its own tests, and
//! serves.

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
    // One workspace for the five, on this workspace's Cargo.lock and target directory, so
    // that the dependencies are already built and nothing is fetched.
    let members: Vec<String> = KINDS.iter().map(|kind| format!("\"fn-{kind}\"")).collect();
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
    assert_eq!(passed, KINDS.len(), "{stdout}");

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
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("the kinds are http, s3, sqs, schedule, json")
    );
    assert!(!dir.exists());
}
