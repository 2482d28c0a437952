//! `cargo lambdakit watch`: a change to the sources rebuilds and restarts the function while
//! invocations wait, and a broken build leaves the last good one serving.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{Serve, invoke, lambdakit, workspace};

fn write_function(dir: &Path, answer: &str) {
    let source = format!(
        "#[lambda_kit::handler]\nasync fn handler(_event: serde_json::Value) -> Result<&'static str, std::convert::Infallible> {{\n    Ok(\"{answer}\")\n}}\n"
    );
    std::fs::write(dir.join("src/main.rs"), source).unwrap();
}

#[test]
fn a_source_change_rebuilds_and_restarts_the_function() {
    // A project of its own, outside the workspace, on the workspace's Cargo.lock and target
    // directory, so that only the function itself compiles.
    let dir = std::env::temp_dir().join(format!("lambdakit-watch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        "[package]\nname = \"watched\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\nlambda-kit = {{ path = {:?} }}\nserde_json = \"1\"\n\n[workspace]\n",
        workspace().join("lambda-kit")
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    write_function(&dir, "first build");

    let mut command = lambdakit();
    command
        .arg("watch")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .args(["--port", "0"])
        .env("CARGO_TARGET_DIR", workspace().join("target"));
    let serve = Serve::spawn(command);
    let answer = |serve: &Serve| {
        let answer = invoke(serve.address, "watched", &[], b"{}");
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(
            answer.header("X-Amz-Function-Error"),
            None,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        answer.json().as_str().unwrap().to_owned()
    };
    assert_eq!(answer(&serve), "first build");

    let wait_for = |serve: &Serve, wanted: &str| {
        let started = Instant::now();
        loop {
            let seen = answer(serve);
            if seen == wanted {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(240),
                "still `{seen}`, not `{wanted}`"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // mtimes have a coarse grain on some file systems: make the change visible.
    std::thread::sleep(Duration::from_millis(1100));
    write_function(&dir, "second build");
    wait_for(&serve, "second build");

    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(dir.join("src/main.rs"), "this is not rust").unwrap();
    let started = Instant::now();
    while !serve
        .output()
        .iter()
        .any(|line| line.contains("still serving the last build"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "{:?}",
            serve.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(answer(&serve), "second build");

    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}
