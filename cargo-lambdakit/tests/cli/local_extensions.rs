//! Extensions in `cargo lambdakit serve`, as Lambda runs them: a project of its own (functions
//! `ext-greeter`, `ext-crashy` and `ext-stuck`, and an external extension `ext-watcher`
//! written with `lambda_kit::extension`, which each of them names in its `extensions`) served
//! and invoked. The extension hears INVOKE and holds the invocation (its time is in REPORT), gets
//! the function's log lines and `platform.report` from the Telemetry API, and SHUTDOWN when
//! serve stops, as the function's shutdown hook gets SIGTERM; an extension that exits fails the
//! invocation with `Extension.Crash`, and one that never registers fails init. Beside them: the
//! official `lambda_extension` and `lambda_runtime` crates as peers (`tests/peers`), and
//! layers' extensions (`serve --layer`) that exit at once or never ask for an event.
//!
//! Layers too: a layer zip given to `serve --layer`, and layer versions published to serve's
//! Lambda API (by the AWS SDK, and by `deploy --local` for the project's extension), whose
//! extensions run in the functions that name them.
//!
//! The project is written once, to a directory under the test target's scratch directory,
//! and built into the workspace's target directory with the workspace's `Cargo.lock`, so that
//! the tests share one build and most of it is the workspace's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Serve, executable_script, invoke, lambdakit, workspace};

/// How long the extension holds each of `ext-greeter`'s invocations in its INVOKE hook.
const HOLD_MS: u64 = 300;

/// The extension: logs each INVOKE with its request id and holds it `WATCHER_SLEEP_MS`; exits
/// on INVOKE with `WATCHER_MODE=crash`; never registers with `WATCHER_MODE=silent`; writes each
/// telemetry event as a line of `$OUT/telemetry.jsonl` and the SHUTDOWN reason to
/// `$OUT/extension-shutdown`.
const WATCHER: &str = r#"use std::io::Write as _;
use std::time::Duration;

use lambda_kit::extension::telemetry::Stream;
use lambda_kit::extension::{Extension, Subscription};

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn append(file: &str, line: &str) {
    let path = std::path::Path::new(&setting("OUT")).join(file);
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
    writeln!(file, "{line}").unwrap();
}

fn main() -> Result<(), lambda_kit::Error> {
    let mode = setting("WATCHER_MODE");
    if mode == "silent" {
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    }
    let hold = Duration::from_millis(setting("WATCHER_SLEEP_MS").parse().unwrap_or(0));
    Extension::new("ext-watcher")
        .on_invoke(move |invoke| {
            let mode = mode.clone();
            async move {
                eprintln!("ext-watcher: INVOKE {}", invoke.request_id());
                if mode == "crash" {
                    std::process::exit(3);
                }
                tokio::time::sleep(hold).await;
                Ok::<_, lambda_kit::Diagnostic>(())
            }
        })
        .telemetry(
            Subscription::new([Stream::Platform, Stream::Function])
                .timeout(Duration::from_millis(100)),
            |batch| async move {
                for event in batch {
                    append("telemetry.jsonl", &serde_json::to_string(&event).unwrap());
                }
            },
        )
        .on_shutdown(|shutdown| async move {
            append("extension-shutdown", &format!("{:?}", shutdown.reason()));
        })
        .run()
}
"#;

/// A function with a shutdown hook: greets, logs a line naming the request, and writes
/// `$OUT/function-shutdown` when SIGTERM comes.
const GREETER: &str = r#"use lambda_kit::{Context, Diagnostic};

async fn shutdown() {
    let out = std::env::var("OUT").unwrap_or_default();
    std::fs::write(std::path::Path::new(&out).join("function-shutdown"), "SIGTERM\n").unwrap();
}

#[lambda_kit::handler(shutdown = shutdown)]
async fn handler(event: serde_json::Value, ctx: Context) -> Result<String, Diagnostic> {
    println!("ext-greeter: greeting {} for {}", event["name"], ctx.request_id());
    Ok(format!("Hello, {}!", event["name"].as_str().unwrap_or("you")))
}
"#;

/// A function that answers its event (its extension is what misbehaves).
const ECHO: &str = r#"#[lambda_kit::handler]
async fn handler(event: serde_json::Value) -> Result<serde_json::Value, std::convert::Infallible> {
    Ok(event)
}
"#;

/// The project's directory, written (where it differs) and returned.
fn project() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("local-extensions");
    let lambda_kit = workspace().join("lambda-kit");
    let manifest = format!(
        r#"[package]
name = "local-extensions"
version = "0.1.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
lambda-kit = {{ path = "{}", features = ["extension"] }}
serde_json = "1"
tokio = {{ version = "1", features = ["rt", "macros", "time"] }}

[package.metadata.lambdakit]
timeout = 20

[package.metadata.lambdakit.extensions.ext-watcher]

[package.metadata.lambdakit.functions.ext-greeter]
extensions = ["ext-watcher"]
environment = {{ WATCHER_SLEEP_MS = "{HOLD_MS}" }}

[package.metadata.lambdakit.functions.ext-crashy]
extensions = ["ext-watcher"]
environment = {{ WATCHER_MODE = "crash" }}

[package.metadata.lambdakit.functions.ext-stuck]
extensions = ["ext-watcher"]
environment = {{ WATCHER_MODE = "silent" }}
"#,
        lambda_kit.display()
    );
    let files = [
        ("Cargo.toml", manifest.as_str()),
        ("src/bin/ext-watcher.rs", WATCHER),
        ("src/bin/ext-greeter.rs", GREETER),
        ("src/bin/ext-crashy.rs", ECHO),
        ("src/bin/ext-stuck.rs", ECHO),
    ];
    for (file, text) in files {
        write_if_changed(&dir.join(file), text.as_bytes());
    }
    // The workspace's versions of every dependency: nothing to resolve, little to build.
    if !dir.join("Cargo.lock").exists() {
        let lock = std::fs::read(workspace().join("Cargo.lock")).unwrap();
        write_if_changed(&dir.join("Cargo.lock"), &lock);
    }
    dir
}

/// Writes `text` to `path` unless it holds it already (an unchanged source keeps cargo's
/// build fresh), through a rename, as the tests write the project at the same time.
fn write_if_changed(path: &Path, text: &[u8]) {
    if std::fs::read(path).is_ok_and(|old| old == text) {
        return;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let scratch = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&scratch, text).unwrap();
    std::fs::rename(&scratch, path).unwrap();
}

/// A directory of the test's own for what the function and the extension write (`OUT`).
fn scratch(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("lambdakit-extlocal-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `serve` of the project, its functions and extension writing to `out`.
fn serve(out: &Path) -> Serve {
    let mut command = lambdakit();
    command
        .arg("serve")
        .arg("--manifest-path")
        .arg(project().join("Cargo.toml"))
        .args(["--port", "0", "--env"])
        .arg(format!("OUT={}", out.display()))
        // One build for the workspace and this project: the target directory the tests run from.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap(),
        )
        .env("CARGO_NET_OFFLINE", "true");
    Serve::spawn(command)
}

/// The text of `path` once `done` says it is complete; fails after a minute.
fn file_when(path: &Path, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if done(&text) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} never came to be complete: {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The REPORT line of `request_id` in `lines`, its figures by name (`Duration`, ...).
fn report_of(lines: &[String], request_id: &str) -> Vec<(String, f64)> {
    let prefix = format!("REPORT RequestId: {request_id}\t");
    let line = lines
        .iter()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no REPORT of {request_id} in {lines:#?}"));
    line.split('\t')
        .map(|field| {
            let (name, value) = field.split_once(": ").unwrap();
            let number = value.split_once(' ').map_or(value, |(number, _)| number);
            (name.to_owned(), number.parse().unwrap())
        })
        .collect()
}

fn figure(report: &[(String, f64)], name: &str) -> f64 {
    report
        .iter()
        .find(|(key, _)| key == name)
        .unwrap_or_else(|| panic!("no {name} in {report:?}"))
        .1
}

/// The telemetry events of `type` the extension wrote, whose record's `requestId` is `id`.
fn events_of(telemetry: &str, kind: &str, request_id: &str) -> Vec<Value> {
    telemetry
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["type"] == kind && event["record"]["requestId"] == request_id)
        .collect()
}

/// Sends SIGTERM to `serve`, as Ctrl-C or a service manager stops it.
fn stop(serve: &Serve) {
    let status = Command::new("kill")
        .args(["-TERM", &serve.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn an_extension_hears_each_invocation_holds_it_gets_its_telemetry_and_its_shutdown() {
    let out = scratch("lifecycle");
    let serve = serve(&out);
    let mut ids = Vec::new();
    for name in ["Ada", "Grace"] {
        let body = format!(r#"{{"name": "{name}"}}"#);
        let answer = invoke(serve.address, "ext-greeter", &[], body.as_bytes());
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.json(), format!("Hello, {name}!"));
        ids.push(answer.header("x-amzn-requestid").unwrap().to_owned());
    }

    // The extension heard INVOKE with each request id, and held each invocation: its time is in
    // REPORT's duration.
    let heard: Vec<String> = ids
        .iter()
        .map(|id| format!("ext-watcher: INVOKE {id}"))
        .collect();
    let reports: Vec<String> = ids
        .iter()
        .map(|id| format!("REPORT RequestId: {id}\t"))
        .collect();
    let wanted: Vec<&str> = heard.iter().chain(&reports).map(String::as_str).collect();
    let lines = serve.output_with(&wanted);
    for id in &ids {
        let report = report_of(&lines, id);
        assert!(
            figure(&report, "Duration") >= HOLD_MS as f64,
            "the extension held {id} {HOLD_MS} ms: {report:?}"
        );
    }

    // Telemetry: the function's lines, and a `platform.report` per request with REPORT's figures.
    let telemetry_file = out.join("telemetry.jsonl");
    let telemetry = file_when(&telemetry_file, |text| {
        ids.iter().all(|id| {
            text.contains(id.as_str()) && !events_of(text, "platform.report", id).is_empty()
        })
    });
    for (id, name) in ids.iter().zip(["Ada", "Grace"]) {
        let line = format!("ext-greeter: greeting \"{name}\" for {id}");
        assert!(
            telemetry.lines().any(|event| {
                let event: Value = serde_json::from_str(event).unwrap();
                event["type"] == "function"
                    && event["record"]
                        .as_str()
                        .is_some_and(|record| record.contains(&line))
            }),
            "no `function` event with {line:?} in {telemetry}"
        );
        let [platform] = events_of(&telemetry, "platform.report", id)
            .try_into()
            .unwrap();
        let metrics = &platform["record"]["metrics"];
        let report = report_of(&lines, id);
        assert_eq!(platform["record"]["status"], "success");
        for (key, name) in [
            ("durationMs", "Duration"),
            ("billedDurationMs", "Billed Duration"),
            ("memorySizeMB", "Memory Size"),
            ("maxMemoryUsedMB", "Max Memory Used"),
        ] {
            assert_eq!(
                metrics[key].as_f64(),
                Some(figure(&report, name)),
                "{key} of {id}: {platform} against {report:?}"
            );
        }
    }
    let first = report_of(&lines, &ids[0]);
    assert_eq!(
        metrics_of(&telemetry, &ids[0])["initDurationMs"].as_f64(),
        Some(figure(&first, "Init Duration")),
    );

    // Stopped, serve retires the instance: SHUTDOWN (spindown) to the extension, and SIGTERM to
    // the runtime, which runs its hook (the runtime's internal extension is why it gets one).
    stop(&serve);
    let reason = file_when(&out.join("extension-shutdown"), |text| !text.is_empty());
    assert_eq!(reason, "Spindown\n");
    let hooked = file_when(&out.join("function-shutdown"), |text| !text.is_empty());
    assert_eq!(hooked, "SIGTERM\n");
    drop(serve);
    let _ = std::fs::remove_dir_all(&out);
}

/// The `metrics` of the `platform.report` of `request_id`.
fn metrics_of(telemetry: &str, request_id: &str) -> Value {
    events_of(telemetry, "platform.report", request_id)[0]["record"]["metrics"].clone()
}

#[test]
fn an_extension_that_exits_fails_the_invocation_and_serve_serves_on() {
    let out = scratch("crash");
    let serve = serve(&out);
    let crashed = invoke(serve.address, "ext-crashy", &[], br#"{"n": 1}"#);
    assert_eq!(crashed.status, 200, "{crashed:?}");
    assert_eq!(crashed.header("x-amz-function-error"), Some("Unhandled"));
    let error = crashed.json();
    assert_eq!(error["errorType"], "Extension.Crash", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .is_some_and(|message| message.contains("ext-watcher")),
        "the message names the extension: {error}"
    );

    // The other functions, and this one again with a new instance.
    let greeted = invoke(serve.address, "ext-greeter", &[], br#"{"name": "Linus"}"#);
    assert_eq!(greeted.status, 200, "{greeted:?}");
    assert_eq!(greeted.json(), "Hello, Linus!");
    let again = invoke(serve.address, "ext-crashy", &[], br#"{"n": 2}"#);
    assert_eq!(again.json()["errorType"], "Extension.Crash");
    drop(serve);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_extension_that_never_registers_fails_init_naming_it() {
    let out = scratch("stuck");
    let serve = serve(&out);
    let stuck = invoke(serve.address, "ext-stuck", &[], br#"{"n": 1}"#);
    assert_eq!(stuck.status, 200, "{stuck:?}");
    assert_eq!(stuck.header("x-amz-function-error"), Some("Unhandled"));
    let error = stuck.json();
    assert_eq!(error["errorType"], "Runtime.InitTimeout", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .is_some_and(|message| message.contains("`ext-watcher` did not register")),
        "the message names the extension: {error}"
    );
    serve.output_with(&["INIT_REPORT Status: error\tErrorType: Runtime.InitTimeout"]);
    let greeted = invoke(serve.address, "ext-greeter", &[], br#"{"name": "Ken"}"#);
    assert_eq!(greeted.json(), "Hello, Ken!");
    drop(serve);
    let _ = std::fs::remove_dir_all(&out);
}

/// The official runtime's `spawn_graceful_shutdown_handler` registers an internal extension
/// (for no events) so that Lambda sends SIGTERM at shutdown: in serve too, unmodified.
#[test]
fn the_official_runtimes_graceful_shutdown_gets_its_sigterm() {
    let serve = Serve::start("peer-graceful");
    let answer = invoke(serve.address, "graceful", &[], br#"{"n": 7}"#);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json(), serde_json::json!({"n": 7}));
    stop(&serve);
    // The instance retires with Lambda's shutdown phase: SIGTERM, then the hook's line.
    serve.output_with(&[
        "[runtime] SIGTERM received",
        "graceful: the shutdown hook ran",
    ]);
}

/// The official `lambda_extension` crate, unmodified, as an external extension in serve
/// (`tests/peers/extension`): it registers, hears INVOKE with the request id, gets its
/// subscription's telemetry (parsed by the crate's own types, so a batch in another shape fails
/// it) and SHUTDOWN when serve stops.
#[test]
fn the_official_extension_crate_gets_its_events_and_telemetry() {
    // The crate listens on a port it is told: one of this test's own.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let setting = format!("PEER_TELEMETRY_PORT={port}");
    let serve = Serve::start_with("peer-extension", &["--env", &setting]);
    let answer = invoke(serve.address, "peer-echo", &[], br#"{"n": 5}"#);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json(), serde_json::json!({"n": 5}));
    let id = answer.header("x-amzn-requestid").unwrap().to_owned();
    let lines = serve.output_with(&[
        r#"TELEMETRY PlatformTelemetrySubscription { name: "peer-telemetry", state: "Subscribed", types: ["platform", "function"] }"#,
        &format!("peer-telemetry: INVOKE {id}"),
        &format!("peer-telemetry: TELEMETRY platform.start {id}"),
        &format!("peer-telemetry: TELEMETRY function peer-echo: echoing {id}"),
        &format!("peer-telemetry: TELEMETRY platform.runtimeDone {id} Success"),
        &format!("peer-telemetry: TELEMETRY platform.report {id} "),
    ]);
    // `platform.report` has the REPORT line's billed duration.
    let report = report_of(&lines, &id);
    let billed = format!("billedDurationMs={}", figure(&report, "Billed Duration"));
    assert!(
        lines
            .iter()
            .any(|line| line.contains(&format!("platform.report {id} ")) && line.ends_with(&billed)),
        "no platform.report with {billed}: {lines:#?}"
    );
    stop(&serve);
    serve.output_with(&["peer-telemetry: SHUTDOWN spindown"]);
}

/// `serve --layer ZIP` runs the layer's `extensions/NAME` beside every function served: here a
/// Python extension on the raw Extensions API, beside a Python runtime.
#[test]
fn a_layer_zips_extensions_run_beside_the_functions() {
    let dir = scratch("layer");
    std::fs::create_dir_all(&dir).unwrap();
    let python = workspace().join("cargo-lambdakit/tests/cli/python");
    let extension = std::fs::read_to_string(python.join("layer_extension.py")).unwrap();
    let zip = layer_zip(&dir, &[("extensions/py-ext", &extension)]);
    let (serve, bootstrap) = serve_python_with_layer(&dir, &zip);
    let answer = invoke(serve.address, "ok", &[], b"{}");
    assert_eq!(answer.status, 200, "{answer:?}");
    let request_id = answer
        .header("x-amzn-RequestId")
        .unwrap_or_default()
        .to_owned();
    serve.output_with(&[&format!("py-ext: INVOKE {request_id}")]);
    stop(&serve);
    serve.output_with(&["py-ext: SHUTDOWN spindown"]);
    drop(serve);

    // A zip without extensions is refused, naming it and what serve runs of a layer.
    let empty = dir.join("empty.zip");
    let zipped = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nzipfile.ZipFile(sys.argv[1], 'w').writestr('lib/x', 'x')",
        ])
        .arg(&empty)
        .status()
        .unwrap();
    assert!(zipped.success());
    let refused = lambdakit()
        .args(["serve", "--port", "0", "--bootstrap"])
        .arg(format!("ok={}", bootstrap.display()))
        .arg("--layer")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--layer") && stderr.contains("no `extensions/NAME` executable"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `dir/layer.zip` with `files` (name, text), each executable, and a README: written with
/// Python's zipfile, so the test does not write a zip with the code under test.
fn layer_zip(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let zip = dir.join("layer.zip");
    let mut command = Command::new("python3");
    command
        .args([
            "-c",
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w') as z:\n\
             \x20   for name, text in zip(sys.argv[2::2], sys.argv[3::2]):\n\
             \x20       info = zipfile.ZipInfo(name)\n\
             \x20       info.external_attr = 0o100755 << 16\n\
             \x20       z.writestr(info, text)\n\
             \x20   z.writestr('README', 'not an extension')\n",
        ])
        .arg(&zip);
    for (name, text) in files {
        command.args([name, text]);
    }
    assert!(command.status().unwrap().success());
    zip
}

/// `serve` of a Python runtime as function `ok`, with `--layer zip`; and its bootstrap.
fn serve_python_with_layer(dir: &Path, zip: &Path) -> (Serve, PathBuf) {
    let python = workspace().join("cargo-lambdakit/tests/cli/python");
    let bootstrap = executable_script(
        &dir.join("bootstrap"),
        &format!(
            "#!/bin/sh\nexec /usr/bin/python3 {}\n",
            python.join("ok_runtime.py").display()
        ),
    );
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--bootstrap"])
        .arg(format!("ok={}", bootstrap.display()))
        .arg("--layer")
        .arg(zip);
    (Serve::spawn(command), bootstrap)
}

/// An extension that exits at once, before the runtime is started in the instance's process
/// group (its first process's, the extension's): init fails with Lambda's `Extension.Crash`
/// naming it, and the next invocation tries a new instance.
#[test]
fn an_extension_that_exits_at_once_fails_init_naming_it() {
    let dir = scratch("quitter");
    let zip = layer_zip(
        &dir,
        &[(
            "extensions/quitter",
            "#!/bin/sh\necho quitter: leaving\nexit 3\n",
        )],
    );
    let (serve, _) = serve_python_with_layer(&dir, &zip);
    for _ in 0..2 {
        let answer = invoke(serve.address, "ok", &[], b"{}");
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.header("x-amz-function-error"), Some("Unhandled"));
        let error = answer.json();
        assert_eq!(error["errorType"], "Extension.Crash", "{error}");
        assert_eq!(
            error["errorMessage"], "extension `quitter` exited during init: exit status 3",
            "{error}"
        );
    }
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A zip of `entries` (name, text, executable), written by Python's `zipfile`, so that the tests
/// do not write zips with the code under test.
fn python_zip(entries: &[(&str, &str, bool)]) -> Vec<u8> {
    let script = "import io, json, sys, zipfile\n\
                  out = io.BytesIO()\n\
                  with zipfile.ZipFile(out, 'w') as z:\n\
                  \x20   for name, text, executable in json.loads(sys.argv[1]):\n\
                  \x20       info = zipfile.ZipInfo(name)\n\
                  \x20       info.external_attr = (0o100755 if executable else 0o100644) << 16\n\
                  \x20       z.writestr(info, text)\n\
                  sys.stdout.buffer.write(out.getvalue())\n";
    let output = Command::new("python3")
        .args(["-c", script, &serde_json::to_string(entries).unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    output.stdout
}

/// A `serve` of no project, only the Lambda API (and a `--bootstrap` it needs to start), keeping
/// what it is given in `state`.
fn serve_state(dir: &Path, state: &Path) -> Serve {
    let idle = executable_script(&dir.join("idle"), "sleep 600");
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--bootstrap"])
        .arg(format!("idle={}", idle.display()))
        .arg("--state")
        .arg(state)
        .env("AWS_REGION", "us-east-1");
    Serve::spawn(command)
}

/// The error code of a refused SDK call.
fn code_of<E: aws_sdk_lambda::error::ProvideErrorMetadata>(error: &E) -> (String, String) {
    (
        error.code().unwrap_or_default().to_owned(),
        error.message().unwrap_or_default().to_owned(),
    )
}

/// Invokes `name` and waits until the layer's extension heard the invocation.
fn invoked_and_heard(serve: &Serve, name: &str) {
    let answer = invoke(serve.address, name, &[], b"{}");
    assert_eq!(answer.status, 200, "{answer:?}");
    let request_id = answer.header("x-amzn-RequestId").unwrap().to_owned();
    serve.output_with(&[&format!("py-ext: INVOKE {request_id}")]);
}

/// A layer published through serve's Lambda API (PublishLayerVersion with the AWS SDK) runs its
/// extension in the functions whose `Layers` name it: a Python extension on the raw Extensions
/// API hears INVOKE and SHUTDOWN. Versions count up and are never given twice, an unknown
/// version is refused as AWS refuses it, a deleted version keeps running in the function that
/// has it, and all of it survives a restart on the same `--state`.
#[tokio::test]
async fn layers_published_to_serve_run_their_extensions_in_the_functions_naming_them() {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{Architecture, FunctionCode, LayerVersionContentInput, Runtime};
    use base64::Engine as _;
    use sha2::Digest as _;

    let dir = scratch("published");
    let state = dir.join("state");
    let python = workspace().join("cargo-lambdakit/tests/cli/python");
    let read = |file: &str| std::fs::read_to_string(python.join(file)).unwrap();
    let layer = python_zip(&[
        ("extensions/py-ext", &read("layer_extension.py"), true),
        ("python/helper.py", "HELP = 1\n", false),
    ]);
    let code = python_zip(&[("bootstrap", &read("ok_runtime.py"), true)]);
    let serve = serve_state(&dir, &state);
    let lambda = crate::sdk::client(&serve.endpoint());
    let publish = || {
        lambda
            .publish_layer_version()
            .layer_name("py-ext")
            .description("a Python extension")
            .compatible_runtimes(Runtime::Providedal2023)
            .compatible_architectures(Architecture::X8664)
            .content(
                LayerVersionContentInput::builder()
                    .zip_file(Blob::new(layer.clone()))
                    .build(),
            )
            .send()
    };

    let first = publish().await.unwrap();
    assert_eq!(first.version(), 1);
    let v1 = first.layer_version_arn().unwrap().to_owned();
    assert_eq!(
        v1, "arn:aws:lambda:us-east-1:123456789012:layer:py-ext:1",
        "{first:?}"
    );
    assert_eq!(
        first.layer_arn(),
        Some("arn:aws:lambda:us-east-1:123456789012:layer:py-ext")
    );
    let content = first.content().unwrap();
    assert_eq!(content.code_size(), layer.len() as i64);
    assert_eq!(
        content.code_sha256(),
        Some(
            base64::engine::general_purpose::STANDARD
                .encode(sha2::Sha256::digest(&layer))
                .as_str()
        )
    );
    let location = content.location().unwrap();
    let path = location.split_once(&serve.endpoint()).unwrap().1;
    let downloaded = crate::support::get(serve.address, path);
    assert_eq!(downloaded.status, 200, "{downloaded:?}");
    assert_eq!(downloaded.body, layer, "Content.Location serves the zip");

    // Version 2, deleted: the next is 3, never 2 again, and 2 is found no more.
    assert_eq!(publish().await.unwrap().version(), 2);
    lambda
        .delete_layer_version()
        .layer_name("py-ext")
        .version_number(2)
        .send()
        .await
        .unwrap();
    let gone = lambda
        .get_layer_version()
        .layer_name("py-ext")
        .version_number(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        gone.raw_response().map(|raw| raw.status().as_u16()),
        Some(404)
    );
    assert_eq!(
        code_of(&gone.into_service_error()),
        (
            "ResourceNotFoundException".into(),
            "The resource you requested does not exist.".into()
        )
    );
    let third = publish().await.unwrap();
    assert_eq!(third.version(), 3);
    let v3 = third.layer_version_arn().unwrap().to_owned();

    // What is not a zip is refused.
    let refused = lambda
        .publish_layer_version()
        .layer_name("py-ext")
        .content(
            LayerVersionContentInput::builder()
                .zip_file(Blob::new(b"not a zip".to_vec()))
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let (error, message) = code_of(&refused);
    assert_eq!(error, "InvalidParameterValueException", "{message}");
    assert!(
        message.contains("Content.ZipFile is not a zip"),
        "{message}"
    );

    // A function naming a version serve does not have is refused, naming it, as AWS does.
    let create = |layers: Vec<String>| {
        lambda
            .create_function()
            .function_name("layered")
            .runtime(Runtime::Providedal2023)
            .role("arn:aws:iam::123456789012:role/local")
            .handler("bootstrap")
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(code.clone()))
                    .build(),
            )
            .set_layers(Some(layers))
            .send()
    };
    let v2 = format!("{}:2", v1.rsplit_once(':').unwrap().0);
    for unknown in [
        v2.clone(),
        "arn:aws:lambda:us-east-1:123456789012:layer:elsewhere:1".to_owned(),
    ] {
        let refused = create(vec![unknown.clone()])
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(
            code_of(&refused),
            (
                "InvalidParameterValueException".into(),
                format!("Layer version {unknown} does not exist.")
            )
        );
    }

    create(vec![v1.clone()]).await.unwrap();
    let function = lambda
        .get_function()
        .function_name("layered")
        .send()
        .await
        .unwrap();
    let layers: Vec<(Option<&str>, i64)> = function
        .configuration()
        .unwrap()
        .layers()
        .iter()
        .map(|layer| (layer.arn(), layer.code_size()))
        .collect();
    assert_eq!(layers, [(Some(v1.as_str()), layer.len() as i64)]);
    invoked_and_heard(&serve, "layered");

    let versions: Vec<i64> = lambda
        .list_layer_versions()
        .layer_name("py-ext")
        .send()
        .await
        .unwrap()
        .layer_versions()
        .iter()
        .map(|version| version.version())
        .collect();
    assert_eq!(versions, [3, 1], "newest first, the deleted one left out");
    let listed = lambda.list_layers().send().await.unwrap();
    let latest: Vec<(Option<&str>, Option<i64>)> = listed
        .layers()
        .iter()
        .map(|layer| {
            (
                layer.layer_name(),
                layer
                    .latest_matching_version()
                    .map(|version| version.version()),
            )
        })
        .collect();
    assert_eq!(latest, [(Some("py-ext"), Some(3))]);
    let found = lambda
        .get_layer_version_by_arn()
        .arn(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(found.description(), Some("a Python extension"));

    // Deleted while the function runs it: the function keeps it, through a restart too.
    lambda
        .delete_layer_version()
        .layer_name("py-ext")
        .version_number(1)
        .send()
        .await
        .unwrap();
    invoked_and_heard(&serve, "layered");
    stop(&serve);
    serve.output_with(&["py-ext: SHUTDOWN spindown"]);
    drop(serve);

    let serve = serve_state(&dir, &state);
    let lambda = crate::sdk::client(&serve.endpoint());
    let versions: Vec<i64> = lambda
        .list_layer_versions()
        .layer_name("py-ext")
        .send()
        .await
        .unwrap()
        .layer_versions()
        .iter()
        .map(|version| version.version())
        .collect();
    assert_eq!(versions, [3], "kept in --state");
    invoked_and_heard(&serve, "layered");

    // Moved to version 3: the deleted version 1, now run by nothing, is gone.
    let kept = state.join(".layers/py-ext/1");
    assert!(kept.is_dir(), "{} is kept while used", kept.display());
    lambda
        .update_function_configuration()
        .function_name("layered")
        .layers(&v3)
        .send()
        .await
        .unwrap();
    assert!(!kept.exists(), "{} outlived its last user", kept.display());
    invoked_and_heard(&serve, "layered");
    let next = lambda
        .publish_layer_version()
        .layer_name("py-ext")
        .content(
            LayerVersionContentInput::builder()
                .zip_file(Blob::new(layer.clone()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(next.version(), 4, "numbers go on after a restart");
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An extension that registers and never asks for its first event holds init up: the
/// timeout's message names it and says what it did not do.
#[test]
fn an_extension_that_never_asks_for_an_event_is_named_by_the_init_timeout() {
    let dir = scratch("idler");
    let idler = "#!/usr/bin/python3\n\
                 import json, os, time, urllib.request\n\
                 api = os.environ['AWS_LAMBDA_RUNTIME_API']\n\
                 register = urllib.request.Request(\n\
                 \x20   f'http://{api}/2020-01-01/extension/register',\n\
                 \x20   data=json.dumps({'events': ['INVOKE']}).encode(),\n\
                 \x20   headers={'Lambda-Extension-Name': 'idler'}, method='POST')\n\
                 urllib.request.urlopen(register).read()\n\
                 print('idler: registered', flush=True)\n\
                 time.sleep(600)\n";
    let zip = layer_zip(&dir, &[("extensions/idler", idler)]);
    let (serve, _) = serve_python_with_layer(&dir, &zip);
    let answer = invoke(serve.address, "ok", &[], b"{}");
    assert_eq!(answer.status, 200, "{answer:?}");
    let error = answer.json();
    assert_eq!(error["errorType"], "Runtime.InitTimeout", "{error}");
    assert_eq!(
        error["errorMessage"],
        "extension `idler` registered but did not ask for its first event \
         (GET /2020-01-01/extension/event/next) within 10 s of starting",
        "{error}"
    );
    serve.output_with(&["idler: registered"]);
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `deploy --local` publishes the project's extension as a layer version on serve and attaches
/// it, as deploy does on AWS; serve runs it beside the function; `destroy --local` deletes it.
#[tokio::test]
async fn deploy_local_publishes_the_extension_serve_runs_it_and_destroy_removes_it() {
    let out = scratch("deploy-local");
    let serve = serve_state(&out, &out.join("state"));
    let lambda = crate::sdk::client(&serve.endpoint());
    let run = |subcommand: &str, args: &[&str]| {
        let output = lambdakit()
            .args([subcommand, "--local", &serve.endpoint()])
            .args(args)
            .args(["--output", "json", "--manifest-path"])
            .arg(project().join("Cargo.toml"))
            .env(
                "CARGO_TARGET_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap(),
            )
            .env("CARGO_NET_OFFLINE", "true")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let env = format!("OUT={}", out.display());

    let deployed = run("deploy", &["--bin", "ext-greeter", "--env", &env]);
    let layer = &deployed["layers"][0];
    assert_eq!(layer["changes"][0]["name"], "ext-watcher", "{deployed:#}");
    assert_eq!(layer["changes"][0]["action"], "create", "{deployed:#}");
    assert_eq!(layer["version"], "1", "{deployed:#}");
    let notes = &deployed["functions"][0]["notes"];
    assert_eq!(notes, &serde_json::json!([]), "nothing left out");
    let function = lambda
        .get_function()
        .function_name("ext-greeter")
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = function
        .configuration()
        .unwrap()
        .layers()
        .iter()
        .filter_map(|layer| layer.arn())
        .collect();
    assert_eq!(
        arns,
        ["arn:aws:lambda:us-east-1:123456789012:layer:ext-watcher:1"]
    );

    let answer = invoke(serve.address, "ext-greeter", &[], br#"{"name": "Ada"}"#);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json(), "Hello, Ada!");
    let request_id = answer.header("x-amzn-RequestId").unwrap();
    serve.output_with(&[&format!("ext-watcher: INVOKE {request_id}")]);

    // Nothing changed: the layer is attached as it is.
    let again = run("deploy", &["--bin", "ext-greeter", "--env", &env]);
    assert_eq!(
        again["layers"][0]["changes"][0]["action"], "unchanged",
        "{again:#}"
    );

    let destroyed = run("destroy", &[]);
    assert_eq!(
        destroyed["layers"][0]["changes"][0]["name"], "ext-watcher:1",
        "{destroyed:#}"
    );
    assert_eq!(destroyed["layers"][0]["changes"][0]["action"], "delete");
    let left = lambda
        .list_layer_versions()
        .layer_name("ext-watcher")
        .send()
        .await
        .unwrap();
    assert!(left.layer_versions().is_empty(), "{left:?}");
    drop(serve);
    let _ = std::fs::remove_dir_all(&out);
}
