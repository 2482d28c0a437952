//! `cargo lambdakit deploy --local` and `destroy --local`: deploy's own code paths against the
//! Lambda API of a `serve`, which then runs what was deployed.

use std::path::PathBuf;
use std::process::{Command, Output};

use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;

use crate::deploy::{actions, json, stderr};
use crate::sdk::client;
use crate::support::{Serve, executable_script, get, lambdakit, workspace};

/// A `serve` of no project, only the Lambda API (and a `--bootstrap` it needs to start), with
/// its created functions kept in a directory of the test's.
struct Local {
    serve: Serve,
    dir: PathBuf,
}

impl Local {
    fn start(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("lambdakit-local-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bootstrap = executable_script(&dir.join("idle"), "sleep 600");
        let mut command = lambdakit();
        command
            .args(["serve", "--port", "0", "--bootstrap"])
            .arg(format!("idle={}", bootstrap.display()))
            .arg("--state")
            .arg(dir.join("state"))
            // Its ARNs name the region of its own shell, which deploy's need not share.
            .env("AWS_REGION", "eu-central-1");
        let serve = Serve::spawn(command);
        Self { serve, dir }
    }

    fn url(&self) -> String {
        self.serve.endpoint()
    }

    /// `cargo lambdakit SUBCOMMAND --local URL ARGS` on `tests/functions`.
    fn run(&self, subcommand: &str, args: &[&str]) -> Output {
        command(subcommand, &self.url(), args).output().unwrap()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.serve.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn command(subcommand: &str, url: &str, args: &[&str]) -> Command {
    let mut command = lambdakit();
    command
        .args([subcommand, "--local", url])
        .args(args)
        .args(["--locked", "-p", "test-functions", "--manifest-path"])
        .arg(workspace().join("Cargo.toml"))
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    command
}

/// What `behave` answers to `{}`, invoked through serve's Invoke API.
async fn behave(lambda: &aws_sdk_lambda::Client) -> Value {
    let answer = lambda
        .invoke()
        .function_name("behave")
        .payload(Blob::new(b"{}".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.function_error(), None, "{answer:?}");
    serde_json::from_slice(answer.payload().unwrap().as_ref()).unwrap()
}

#[tokio::test]
async fn deployed_into_serve_it_runs_converges_and_updates_then_is_destroyed() {
    let local = Local::start("behave");
    let lambda = client(&local.url());

    let created = local.run("deploy", &["--bin", "behave"]);
    assert!(created.status.success(), "{created:?}");
    // No role is made, and the triggers serve cannot run are named, not set up.
    assert_eq!(
        String::from_utf8_lossy(&created.stdout),
        // In serve's region, not the shell's.
        "behave (arn:aws:lambda:eu-central-1:123456789012:function:behave)\n  + function  behave\n"
    );
    assert!(
        stderr(&created).contains("note: `behave`: serve runs no event sources; the sqs trigger on `jobs`, the s3 trigger on `uploads`, the schedule `rate(1 hour)` and the sns trigger on `arn:aws:sns:eu-west-1:123456789012:news` were not set up"),
        "{}",
        stderr(&created)
    );
    let answer = behave(&lambda).await;
    assert_eq!(answer["greeting"], "hello from the config");
    assert_eq!(answer["memory"], 256);
    // `trust = "amazon-roots"`: deploy sends `SSL_CERT_FILE=/var/task/..`, and the instance
    // finds the PEM from the zip at its task root.
    assert!(
        answer["certs"].as_str().is_some_and(
            |path| path.ends_with("/amazon-root-cas.pem") && !path.starts_with("/var/task")
        ),
        "{answer}"
    );
    assert_eq!(answer["certificates"], 5, "{answer}");
    let function = lambda
        .get_function()
        .function_name("behave")
        .send()
        .await
        .unwrap();
    let configuration = function.configuration().unwrap();
    assert_eq!(configuration.description(), Some("Misbehaves on request"));
    assert_eq!(
        configuration.role(),
        Some("arn:aws:iam::123456789012:role/lambdakit-local")
    );
    let tags = function.tags().unwrap();
    assert_eq!(tags.get("team").map(String::as_str), Some("runtime"));
    assert_eq!(
        tags.get("lambdakit:function").map(String::as_str),
        Some("behave")
    );

    // Nothing changed: nothing to do.
    let again = json(&local.run("deploy", &["--bin", "behave", "--output", "json"]));
    // In JSON, the notes are in the document.
    assert!(
        again["functions"][0]["notes"][0]
            .as_str()
            .is_some_and(|note| note.starts_with("note: `behave`: serve runs no event sources;")),
        "{again:#}"
    );
    assert_eq!(
        actions(&again),
        [
            "behave function behave unchanged",
            "behave code behave unchanged"
        ],
        "{again:#}"
    );

    let updated = json(&local.run(
        "deploy",
        &["--bin", "behave", "--memory", "512", "--output", "json"],
    ));
    assert_eq!(
        actions(&updated),
        [
            "behave function behave update",
            "behave code behave unchanged"
        ]
    );
    assert_eq!(
        updated["functions"][0]["changes"][0]["details"],
        serde_json::json!(["memory 256 MB → 512 MB"])
    );
    assert_eq!(behave(&lambda).await["memory"], 512);

    // A dry run prints the plan and changes nothing.
    let dry = local.run(
        "deploy",
        &["--bin", "behave", "--memory", "1024", "--dry-run"],
    );
    assert!(dry.status.success(), "{dry:?}");
    let plan = String::from_utf8_lossy(&dry.stdout);
    assert!(
        plan.contains("~ function  behave: memory 512 MB → 1024 MB")
            && plan.contains("= code      behave")
            && plan.contains("dry run: nothing was changed"),
        "{plan}"
    );
    assert_eq!(behave(&lambda).await["memory"], 512);

    let destroyed = json(&local.run("destroy", &["--bin", "behave", "--output", "json"]));
    assert_eq!(actions(&destroyed), ["behave function behave delete"]);
    let gone = lambda
        .get_function()
        .function_name("behave")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&gone),
        Some("ResourceNotFoundException")
    );
}

#[tokio::test]
async fn an_alias_its_url_and_reserved_concurrency_are_deployed_into_serve() {
    let local = Local::start("web");
    let lambda = client(&local.url());

    let report = json(&local.run("deploy", &["--bin", "web", "--output", "json"]));
    assert_eq!(
        actions(&report),
        [
            "web function web create",
            "web concurrency reserved 3 create",
            "web version 1 create",
            "web alias live create",
            "web url web create",
        ],
        "{report:#}"
    );
    let url = report["functions"][0]["url"].as_str().unwrap();
    assert_eq!(url, format!("{}/lambda-url/web:live/", local.url()));
    // The URL is public (`auth = "NONE"`) and answers through the alias.
    let answer = get(local.serve.address, "/lambda-url/web:live/hello?x=1");
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.json()["path"], "/hello");

    let configuration = lambda
        .get_function_configuration()
        .function_name("web")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(configuration.version(), Some("1"));
    assert_eq!(
        configuration
            .tracing_config()
            .and_then(|tracing| tracing.mode())
            .map(|mode| mode.as_str()),
        Some("Active")
    );
    assert_eq!(
        configuration
            .ephemeral_storage()
            .map(|storage| storage.size()),
        Some(1024)
    );

    let again = json(&local.run("deploy", &["--bin", "web", "--output", "json"]));
    assert_eq!(
        actions(&again),
        [
            "web function web unchanged",
            "web code web unchanged",
            "web concurrency reserved 3 unchanged",
            "web alias live unchanged",
            "web url web unchanged",
        ],
        "{again:#}"
    );
}

#[test]
fn a_serve_not_running_is_named_with_how_to_start_it() {
    // A port nothing listens on: taken from the system, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let output = command("destroy", &url, &[]).output().unwrap();
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains(&format!(
            "error: nothing answers at `{url}`: `cargo lambdakit serve` is not running there"
        )) && error.contains("hint: start it with `cargo lambdakit serve`"),
        "{error}"
    );
}
