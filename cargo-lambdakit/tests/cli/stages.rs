//! `--stage`: one package deployed to moto as `dev` and as `prod`, each with its own settings,
//! names, roles and tags, and its env file's values never printed; destroying one leaves the
//! other whole. And the mistakes in stages and env files, refused before any build or AWS call.

use std::process::Output;

use serde_json::Value;
use sha2::Digest as _;

use crate::deploy::json;
use crate::deploy_triggers::{Fixture, changed};
use crate::moto::{Moto, REGION};
use crate::support::lambdakit;

const SETTINGS: &str = r#"[package.metadata.lambdakit]
memory = 128
environment = { MODE = "local", API_KEY = "stand-in" }

[package.metadata.lambdakit.stages.dev]
memory = 256
env_file = "stages/dev.env"

[package.metadata.lambdakit.stages.prod]
memory = 512
environment = { MODE = "live" }
env_file = "stages/prod.env"
"#;

const DEV_SECRET: &str = "dev-secret-4b1d";
const PROD_SECRET: &str = "prod-secret-9f3e";

fn fixture(label: &str) -> Fixture {
    let fixture = Fixture::new(label, SETTINGS);
    std::fs::create_dir_all(fixture.dir.join("stages")).unwrap();
    env_file(&fixture, "dev", &format!("API_KEY={DEV_SECRET}\n"));
    env_file(
        &fixture,
        "prod",
        &format!("# prod's\nexport API_KEY=\"{PROD_SECRET}\"\n"),
    );
    fixture
}

fn env_file(fixture: &Fixture, stage: &str, text: &str) {
    std::fs::write(fixture.dir.join(format!("stages/{stage}.env")), text).unwrap();
}

/// Asserts that neither stdout nor stderr holds a secret.
fn no_secret(output: &Output) {
    for secret in [DEV_SECRET, PROD_SECRET, "prod-secret-rotated"] {
        for stream in [&output.stdout, &output.stderr] {
            assert!(
                !String::from_utf8_lossy(stream).contains(secret),
                "{secret} printed: {output:?}"
            );
        }
    }
}

fn hash(value: &str) -> String {
    sha2::Sha256::digest(value.as_bytes())
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[tokio::test]
async fn two_stages_deploy_and_destroy_apart() {
    let Some(moto) = Moto::start() else { return };
    let fixture = fixture("apart");

    let dev = fixture.run(&moto, &["deploy", "--stage", "dev", "--output", "json"]);
    no_secret(&dev);
    let dev = json(&dev);
    assert_eq!(dev["stage"], "dev");
    assert_eq!(dev["functions"][0]["name"], "intake-dev");
    let prod = fixture.run(&moto, &["deploy", "--stage", "prod"]);
    no_secret(&prod);
    assert!(prod.status.success(), "{prod:?}");
    let plan = String::from_utf8_lossy(&prod.stdout);
    assert!(plan.starts_with("stage `prod`\n"), "{plan}");
    assert!(plan.contains("+ role      intake-prod-lambdakit"), "{plan}");

    // Each its own function, memory, environment, role and tags.
    let config = moto.config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    for (stage, memory, mode, secret) in [
        ("dev", 256, "local", DEV_SECRET),
        ("prod", 512, "live", PROD_SECRET),
    ] {
        let name = format!("intake-{stage}");
        let found = lambda
            .get_function()
            .function_name(&name)
            .send()
            .await
            .unwrap();
        let configuration = found.configuration().unwrap();
        assert_eq!(configuration.memory_size(), Some(memory));
        let variables = configuration
            .environment()
            .and_then(|environment| environment.variables())
            .unwrap();
        assert_eq!(variables["MODE"], mode);
        // The env file's value over the settings' stand-in.
        assert_eq!(variables["API_KEY"], secret);
        assert!(
            configuration
                .role()
                .unwrap()
                .ends_with(&format!(":role/{name}-lambdakit")),
            "{configuration:?}"
        );
        let tags = found.tags().unwrap();
        assert_eq!(tags["lambdakit:stage"], stage);
        assert_eq!(tags["lambdakit:function"], "intake");
        assert_eq!(tags["lambdakit:package"], "triggers-fixture");
        let role = iam
            .get_role()
            .role_name(format!("{name}-lambdakit"))
            .send()
            .await
            .unwrap();
        let role = role.role().unwrap();
        assert!(
            role.tags()
                .iter()
                .any(|tag| tag.key() == "lambdakit:stage" && tag.value() == stage),
            "{role:?}"
        );
    }

    // Deploying a stage again changes nothing.
    let again = json(&fixture.run(&moto, &["deploy", "--stage", "dev", "--output", "json"]));
    assert!(changed(&again).is_empty(), "{again}");

    // A changed secret shows as its name and a hash, never its value.
    env_file(&fixture, "prod", "API_KEY=prod-secret-rotated\n");
    let plan = fixture.run(&moto, &["deploy", "--stage", "prod", "--dry-run"]);
    no_secret(&plan);
    assert!(plan.status.success(), "{plan:?}");
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains(&format!(
            "environment `API_KEY` (set, {})",
            hash("prod-secret-rotated")
        )),
        "{plan}"
    );

    // Without a stage, nothing of either is deployed; destroying `dev` leaves `prod` whole.
    let none = fixture.run(&moto, &["destroy", "--dry-run"]);
    assert!(
        String::from_utf8_lossy(&none.stdout).contains("nothing is deployed"),
        "{none:?}"
    );
    let destroyed = fixture.run(&moto, &["destroy", "--stage", "dev", "--output", "json"]);
    let destroyed = json(&destroyed);
    assert_eq!(destroyed["stage"], "dev");
    let names: Vec<&Value> = destroyed["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|function| &function["name"])
        .collect();
    assert_eq!(names, ["intake-dev"], "{destroyed}");
    assert!(
        lambda
            .get_function()
            .function_name("intake-dev")
            .send()
            .await
            .is_err()
    );
    assert!(
        iam.get_role()
            .role_name("intake-dev-lambdakit")
            .send()
            .await
            .is_err()
    );
    lambda
        .get_function()
        .function_name("intake-prod")
        .send()
        .await
        .unwrap();
    iam.get_role()
        .role_name("intake-prod-lambdakit")
        .send()
        .await
        .unwrap();
    env_file(&fixture, "prod", &format!("API_KEY={PROD_SECRET}\n"));
    let prod = json(&fixture.run(&moto, &["deploy", "--stage", "prod", "--output", "json"]));
    assert!(changed(&prod).is_empty(), "{prod}");
}

/// `cargo lambdakit ARGS` on the fixture with AWS at an address nothing answers: a mistake
/// must be found before any call.
fn offline(fixture: &Fixture, args: &[&str]) -> Output {
    let mut command = lambdakit();
    command
        .args(args)
        .arg("--manifest-path")
        .arg(fixture.dir.join("Cargo.toml"))
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    command.output().unwrap()
}

#[test]
fn mistakes_in_stages_and_env_files_are_refused_before_any_build_or_aws_call() {
    let fixture = fixture("mistakes");
    let refused = |args: &[&str], says: &[&str]| {
        let output = offline(&fixture, args);
        no_secret(&output);
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for said in says {
            assert!(stderr.contains(said), "{said}: {stderr}");
        }
        assert!(stderr.contains("\nhint: "), "{stderr}");
        // Nothing was built.
        assert!(!fixture.dir.join("target").exists(), "{stderr}");
    };
    for command in ["deploy", "destroy"] {
        refused(
            &[command, "--stage", "prd"],
            &[
                "error: `--stage` names `prd`, which is not a stage of the package `triggers-fixture`; did you mean `prod`? (its stages are `dev`, `prod`)",
            ],
        );
    }
    let clap = offline(&fixture, &["deploy", "--stage", "dev ops"]);
    assert_eq!(clap.status.code(), Some(2), "{clap:?}");
    assert!(
        String::from_utf8_lossy(&clap.stderr)
            .contains("`dev ops` is not a stage's name: 1 to 32 letters, digits, `-` or `_`"),
        "{clap:?}"
    );

    fixture.settings(&format!(
        "{SETTINGS}\n[package.metadata.lambdakit.stages.qa]\nmemmory = 256\n"
    ));
    refused(
        &["deploy", "--stage", "dev"],
        &[
            "error: `package.metadata.lambdakit.stages.qa.memmory` is not a setting; did you mean `memory`?",
        ],
    );

    fixture.settings(&SETTINGS.replace("stages/dev.env", "stages/absent.env"));
    refused(
        &["deploy", "--stage", "dev"],
        &[
            "error: `package.metadata.lambdakit.stages.dev.env_file` names `stages/absent.env`, which does not exist",
            "relative to the package's directory",
        ],
    );
    fixture.settings(SETTINGS);
    env_file(&fixture, "dev", &format!("# dev\nAPI_KEY {DEV_SECRET}\n"));
    refused(
        &["deploy", "--stage", "dev"],
        &[
            "stages/dev.env:2`: has no `=`",
            "hint: write each line as `NAME=value`",
        ],
    );
    env_file(&fixture, "dev", &format!("\nAPI-KEY={DEV_SECRET}\n"));
    refused(
        &["deploy", "--stage", "dev"],
        &["stages/dev.env:2`: `API-KEY` is not a variable name Lambda takes"],
    );
}
