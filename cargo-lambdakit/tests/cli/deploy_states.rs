//! State machines in `Cargo.toml`, deployed to moto and destroyed: the definition reaches
//! Step Functions with the functions' ARNs, the role it runs with may invoke exactly those,
//! redeploying converges, and bad settings or definitions are refused before anything is
//! built or called.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::deploy::{json, stderr};
use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::lambdakit;

/// A package of its own in a scratch directory: two functions that do nothing (moto runs
/// none), `validate` and `load` (with the alias `live`), and the state machine `settings`
/// declares, its definition in `states/FILE`.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(label: &str, settings: &str, definition: (&str, &str)) -> Self {
        let dir =
            std::env::temp_dir().join(format!("lambdakit-states-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/bin")).unwrap();
        std::fs::create_dir_all(dir.join("states")).unwrap();
        for function in ["validate", "load"] {
            std::fs::write(dir.join(format!("src/bin/{function}.rs")), "fn main() {}\n").unwrap();
        }
        let manifest = format!(
            "[package]\nname = \"states-fixture\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n[package.metadata.lambdakit.functions.load]\nalias = \"live\"\n\n{settings}\n"
        );
        std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        let fixture = Self { dir };
        fixture.definition(definition.0, definition.1);
        fixture
    }

    fn definition(&self, file: &str, text: &str) {
        std::fs::write(self.dir.join("states").join(file), text).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = lambdakit();
        command
            .args(args)
            .arg("--manifest-path")
            .arg(self.dir.join("Cargo.toml"));
        command
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join("states").join(file)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const MACHINE: &str = "[[package.metadata.lambdakit.state_machines]]\nname = \"orders-flow\"\ndefinition = \"states/orders.asl.json\"\ntags = { team = \"shop\" }";

fn orders(comment: &str) -> String {
    json!({
        "Comment": comment,
        "StartAt": "Validate",
        "States": {
            "Validate": {"Type": "Task", "Resource": "${function:validate}", "Next": "Lines"},
            "Lines": {
                "Type": "Map",
                "ItemsPath": "$.lines",
                "ItemProcessor": {"StartAt": "Load", "States": {
                    "Load": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": "${function:load}:live", "Payload.$": "$"},
                        "End": true,
                    },
                }},
                "End": true,
            },
        },
    })
    .to_string()
}

fn run(moto: &Moto, fixture: &Fixture, args: &[&str]) -> Output {
    let mut command = fixture.command(args);
    moto.environment(&mut command);
    command.output().unwrap()
}

/// Each state machine's changes, as `kind name action` lines.
fn machine_actions(report: &Value) -> Vec<String> {
    report["state_machines"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|machine| machine["changes"].as_array().unwrap())
        .map(|change| {
            format!(
                "{} {} {}",
                change["kind"].as_str().unwrap(),
                change["name"].as_str().unwrap(),
                change["action"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn a_state_machine_is_deployed_with_its_functions_converges_updates_and_is_destroyed() {
    let Some(moto) = Moto::start() else { return };
    // A second machine, in YAML, that logs and traces.
    let audit = "[[package.metadata.lambdakit.state_machines]]\nname = \"audit\"\ndefinition = \"states/audit.yaml\"\nlogging = { level = \"ALL\", include_execution_data = true }\ntracing = true";
    let fixture = Fixture::new(
        "deploy",
        &format!("{MACHINE}\n\n{audit}"),
        ("orders.asl.json", &orders("v1")),
    );
    fixture.definition(
        "audit.yaml",
        "StartAt: Check\nStates:\n  Check:\n    Type: Task\n    Resource: \"${function:validate}\"\n    End: true\n",
    );
    let function = |name: &str| format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
    let machine_arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:orders-flow");

    let created = json(&run(&moto, &fixture, &["deploy", "--output", "json"]));
    assert_eq!(
        machine_actions(&created),
        [
            "role orders-flow-states-lambdakit create",
            "state-machine orders-flow create",
            "role audit-states-lambdakit create",
            "log-group /aws/vendedlogs/states/audit create",
            "state-machine audit create",
        ],
        "{created}"
    );
    assert_eq!(created["state_machines"][0]["arn"], machine_arn.as_str());

    // Read back: the definition names the functions' ARNs, the role, the type and the tags.
    let config = moto.config().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(&machine_arn)
        .send()
        .await
        .unwrap();
    let definition: Value = serde_json::from_str(described.definition()).unwrap();
    assert_eq!(definition["Comment"], "v1");
    assert_eq!(
        definition["States"]["Validate"]["Resource"],
        function("validate").as_str()
    );
    let load = &definition["States"]["Lines"]["ItemProcessor"]["States"]["Load"];
    assert_eq!(
        load["Parameters"]["FunctionName"],
        format!("{}:live", function("load")).as_str()
    );
    assert_eq!(load["Resource"], "arn:aws:states:::lambda:invoke");
    assert_eq!(
        described.role_arn(),
        format!("arn:aws:iam::{ACCOUNT}:role/orders-flow-states-lambdakit")
    );
    assert_eq!(described.r#type().as_str(), "STANDARD");
    let tags = sfn
        .list_tags_for_resource()
        .resource_arn(&machine_arn)
        .send()
        .await
        .unwrap();
    let mut tags: Vec<(String, String)> = tags
        .tags()
        .iter()
        .map(|tag| {
            (
                tag.key().unwrap().to_owned(),
                tag.value().unwrap().to_owned(),
            )
        })
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            ("lambdakit:package".to_owned(), "states-fixture".to_owned()),
            (
                "lambdakit:state-machine".to_owned(),
                "orders-flow".to_owned()
            ),
            ("team".to_owned(), "shop".to_owned()),
        ]
    );

    // The role: Step Functions assumes it, and it may invoke exactly the functions named.
    let iam = aws_sdk_iam::Client::new(&config);
    let role = iam
        .get_role()
        .role_name("orders-flow-states-lambdakit")
        .send()
        .await
        .unwrap();
    let trust = cargo_lambdakit::percent::decode(
        role.role().unwrap().assume_role_policy_document().unwrap(),
    );
    assert!(trust.contains("states.amazonaws.com"), "{trust}");
    assert!(!trust.contains("lambda.amazonaws.com"), "{trust}");
    let policy = iam
        .get_role_policy()
        .role_name("orders-flow-states-lambdakit")
        .policy_name("lambdakit")
        .send()
        .await
        .unwrap();
    let policy: Value =
        serde_json::from_str(&cargo_lambdakit::percent::decode(policy.policy_document())).unwrap();
    assert_eq!(
        policy["Statement"],
        json!([{
            "Sid": "InvokeFunctions",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [format!("{}:live", function("load")), function("validate")],
        }])
    );
    // The functions it names were deployed by the same run.
    let lambda = aws_sdk_lambda::Client::new(&config);
    for name in ["validate", "load"] {
        lambda
            .get_function()
            .function_name(name)
            .send()
            .await
            .unwrap();
    }

    // The logging and tracing machine: its log group, its configuration, and its role may
    // deliver logs and traces too.
    let audit_arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:audit");
    let audit = sfn
        .describe_state_machine()
        .state_machine_arn(&audit_arn)
        .send()
        .await
        .unwrap();
    let definition: Value = serde_json::from_str(audit.definition()).unwrap();
    assert_eq!(
        definition["States"]["Check"]["Resource"],
        function("validate").as_str()
    );
    let logging = audit.logging_configuration().unwrap();
    assert_eq!(logging.level().map(|level| level.as_str()), Some("ALL"));
    assert!(logging.include_execution_data());
    let group = format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vendedlogs/states/audit:*");
    assert_eq!(
        logging.destinations()[0]
            .cloud_watch_logs_log_group()
            .and_then(|group| group.log_group_arn()),
        Some(group.as_str())
    );
    assert!(audit.tracing_configuration().unwrap().enabled());
    let groups = aws_sdk_cloudwatchlogs::Client::new(&config)
        .describe_log_groups()
        .log_group_name_prefix("/aws/vendedlogs/states/audit")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups().len(), 1, "{groups:?}");
    let policy = iam
        .get_role_policy()
        .role_name("audit-states-lambdakit")
        .policy_name("lambdakit")
        .send()
        .await
        .unwrap();
    let policy: Value =
        serde_json::from_str(&cargo_lambdakit::percent::decode(policy.policy_document())).unwrap();
    let sids: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|statement| statement["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, ["InvokeFunctions", "LogDelivery", "XRay"]);
    assert_eq!(
        policy["Statement"][0]["Resource"],
        json!([function("validate")])
    );

    // Again: nothing changes.
    let again = json(&run(&moto, &fixture, &["deploy", "--output", "json"]));
    assert_eq!(
        machine_actions(&again),
        [
            "role orders-flow-states-lambdakit unchanged",
            "state-machine orders-flow unchanged",
            "role audit-states-lambdakit unchanged",
            "log-group /aws/vendedlogs/states/audit unchanged",
            "state-machine audit unchanged",
        ]
    );
    let text = run(&moto, &fixture, &["deploy"]);
    assert!(text.status.success(), "{text:?}");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!(
            "orders-flow ({machine_arn})\n  = role      orders-flow-states-lambdakit\n  = state-machine orders-flow\n"
        )),
        "{text}"
    );

    // A changed definition: the machine is updated, and the role is left as it is.
    fixture.definition("orders.asl.json", &orders("v2"));
    let plan = run(&moto, &fixture, &["deploy", "--dry-run"]);
    assert!(plan.status.success(), "{plan:?}");
    assert!(
        String::from_utf8_lossy(&plan.stdout)
            .contains("  ~ state-machine orders-flow: definition\n"),
        "{plan:?}"
    );
    let unchanged = sfn
        .describe_state_machine()
        .state_machine_arn(&machine_arn)
        .send()
        .await
        .unwrap();
    assert!(
        unchanged.definition().contains("\"v1\""),
        "a dry run changed it"
    );
    let updated = json(&run(&moto, &fixture, &["deploy", "--output", "json"]));
    assert_eq!(
        machine_actions(&updated),
        [
            "role orders-flow-states-lambdakit unchanged",
            "state-machine orders-flow update",
            "role audit-states-lambdakit unchanged",
            "log-group /aws/vendedlogs/states/audit unchanged",
            "state-machine audit unchanged",
        ]
    );
    assert_eq!(
        updated["state_machines"][0]["changes"][1]["details"],
        json!(["definition"])
    );
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(&machine_arn)
        .send()
        .await
        .unwrap();
    let definition: Value = serde_json::from_str(described.definition()).unwrap();
    assert_eq!(definition["Comment"], "v2");

    // Destroy: dry first, then for real; the machine and its role go, with the functions.
    let plan = run(&moto, &fixture, &["destroy", "--dry-run"]);
    assert!(plan.status.success(), "{plan:?}");
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains(&format!(
            "orders-flow ({machine_arn})\n  - state-machine orders-flow\n  - role      orders-flow-states-lambdakit\n"
        )),
        "{plan}"
    );
    let destroyed = json(&run(&moto, &fixture, &["destroy", "--output", "json"]));
    assert_eq!(
        machine_actions(&destroyed),
        [
            "state-machine audit delete",
            "role audit-states-lambdakit delete",
            "state-machine orders-flow delete",
            "role orders-flow-states-lambdakit delete",
        ]
    );
    let listed = sfn.list_state_machines().send().await.unwrap();
    assert!(listed.state_machines().is_empty(), "{listed:?}");
    let role = iam
        .get_role()
        .role_name("orders-flow-states-lambdakit")
        .send()
        .await;
    assert!(role.is_err(), "the role is left: {role:?}");
    assert!(
        lambda
            .list_functions()
            .send()
            .await
            .unwrap()
            .functions()
            .is_empty()
    );
}

/// `deploy` of `fixture` where nothing may be called: no AWS answers at its endpoint.
fn refused(fixture: &Fixture) -> String {
    let output = fixture
        .command(&["deploy"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", REGION)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let said = stderr(&output);
    assert!(!said.contains("Compiling"), "it built: {said}");
    said
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn bad_state_machines_are_refused_before_anything_is_built_or_called() {
    // A function the package does not have, inside a Map's processor.
    let misnamed = orders("v1").replace("${function:validate}", "${function:validat}");
    let fixture = Fixture::new("misnamed", MACHINE, ("orders.asl.json", &misnamed));
    let said = refused(&fixture);
    assert!(
        said.starts_with(&format!(
            "error: `{}`: the state `Validate` names the function `validat` in `Resource`, which is not a function of the package; did you mean `validate`?\n",
            shown(&fixture.path("orders.asl.json"))
        )),
        "{said}"
    );
    assert!(
        said.contains(
            "hint: write `${function:NAME}` with a function (binary target) of the package: "
        ) && said.contains("`load`")
            && said.contains("`validate`"),
        "{said}"
    );
    let nested = orders("v1").replace("${function:load}:live", "${function:lod}");
    fixture.definition("orders.asl.json", &nested);
    let said = refused(&fixture);
    assert!(
        said.contains("the state `Load` (`States.Lines.ItemProcessor.States.Load`) names the function `lod` in `Parameters.FunctionName`"),
        "{said}"
    );
    let unaliased = orders("v1").replace("${function:load}:live", "${function:load}:prod");
    fixture.definition("orders.asl.json", &unaliased);
    let said = refused(&fixture);
    assert!(
        said.contains("names `load:prod` in `Parameters.FunctionName`: `load` has no alias `prod`; its alias is `live`"),
        "{said}"
    );

    // Amazon States Language that does not hold together: every problem, each with its state
    // and field.
    let broken = orders("v1").replace(r#""Next":"Lines""#, r#""Next":"Line""#);
    assert_ne!(broken, orders("v1"));
    fixture.definition("orders.asl.json", &broken);
    let said = refused(&fixture);
    assert!(
        said.contains("the definition is not valid Amazon States Language:")
            && said.contains(r#"state "Validate": field "Next": no state is named "Line""#)
            && said.contains(r#"state "Lines""#),
        "{said}"
    );
    let fixture = Fixture::new(
        "missing",
        &MACHINE.replace("orders.asl.json", "order.asl.json"),
        ("orders.asl.json", &orders("v1")),
    );
    let said = refused(&fixture);
    assert!(
        said.starts_with("error: `package.metadata.lambdakit.state_machines[0].definition` names `states/order.asl.json`, which does not exist ("),
        "{said}"
    );
    assert!(
        said.contains("hint: fix it in `[package.metadata.lambdakit]`"),
        "{said}"
    );

    // A type Step Functions does not have.
    let fixture = Fixture::new(
        "type",
        &format!("{MACHINE}\ntype = \"FAST\""),
        ("orders.asl.json", &orders("v1")),
    );
    let said = refused(&fixture);
    assert!(
        said.starts_with("error: `package.metadata.lambdakit.state_machines[0].type` must be one of `STANDARD`, `EXPRESS`\n"),
        "{said}"
    );

    // A setting that is not one.
    let fixture = Fixture::new(
        "unknown",
        &format!("{MACHINE}\nlogs = true"),
        ("orders.asl.json", &orders("v1")),
    );
    let said = refused(&fixture);
    assert!(
        said.starts_with("error: `package.metadata.lambdakit.state_machines[0].logs` is not a setting here; the settings are `name`, `definition`, `type`, `logging`, `tracing`, `tags`\n"),
        "{said}"
    );

    // JSON that does not parse: the file, line and column.
    let fixture = Fixture::new(
        "json",
        MACHINE,
        (
            "orders.asl.json",
            "{\n  \"StartAt\": \"A\",\n  \"States\": {\n    \"A\": {\"Type\": \"Pass\" \"End\": true}\n  }\n}\n",
        ),
    );
    let said = refused(&fixture);
    assert!(
        said.starts_with(&format!(
            "error: `{}`: is not valid JSON at line 4, column ",
            shown(&fixture.path("orders.asl.json"))
        )),
        "{said}"
    );
    assert!(
        said.contains("hint: a definition is an Amazon States Language document in JSON"),
        "{said}"
    );

    // YAML that does not parse.
    let fixture = Fixture::new(
        "yaml",
        &MACHINE.replace("orders.asl.json", "orders.asl.yaml"),
        (
            "orders.asl.yaml",
            "StartAt: A\nStates:\n  A:\n    Type: Pass\n   End: true\n",
        ),
    );
    let said = refused(&fixture);
    assert!(
        said.starts_with(&format!(
            "error: `{}`: is not valid YAML at line 5, column ",
            shown(&fixture.path("orders.asl.yaml"))
        )),
        "{said}"
    );
}

#[tokio::test]
async fn deploy_local_creates_the_state_machine_on_serve_where_it_runs_and_destroy_removes_it() {
    let fixture = Fixture::new("local", MACHINE, ("orders.asl.json", &orders("v1")));
    // A serve of no project: only its APIs (and the `--bootstrap` it needs to start).
    let idle = crate::support::executable_script(&fixture.dir.join("idle"), "sleep 600");
    let mut command = lambdakit();
    command
        .args(["serve", "--port", "0", "--bootstrap"])
        .arg(format!("idle={}", idle.display()))
        .arg("--state")
        .arg(fixture.dir.join("serve-state"));
    let mut serve = crate::support::Serve::spawn(command);
    let url = serve.endpoint();
    let deploy = || {
        fixture
            .command(&["deploy", "--local", &url, "--output", "json"])
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .output()
            .unwrap()
    };
    let report = json(&deploy());
    let mut names: Vec<&str> = report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|function| function["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["load", "validate"], "{report}");
    // No role and no log group on serve: only the machine.
    assert_eq!(
        machine_actions(&report),
        ["state-machine orders-flow create"],
        "{report}"
    );
    assert_eq!(
        machine_actions(&json(&deploy())),
        ["state-machine orders-flow unchanged"]
    );

    // Deployed with the functions' ARNs, as on AWS.
    let sfn = crate::local_states::client(&url).await;
    let listed = sfn.list_state_machines().send().await.unwrap();
    let [machine] = listed.state_machines() else {
        panic!("{listed:?}")
    };
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(machine.state_machine_arn())
        .send()
        .await
        .unwrap();
    let region = machine.state_machine_arn().split(':').nth(3).unwrap();
    let definition: Value = serde_json::from_str(described.definition()).unwrap();
    assert_eq!(
        definition["States"]["Validate"]["Resource"],
        format!("arn:aws:lambda:{region}:{ACCOUNT}:function:validate")
    );
    assert_eq!(
        described.role_arn(),
        format!("arn:aws:iam::{ACCOUNT}:role/orders-flow-states-lambdakit")
    );

    // It runs there: `validate` is a program that exits at once, so its Task fails with the
    // error Lambda gives such a function, and the execution with it.
    let started = sfn
        .start_execution()
        .state_machine_arn(machine.state_machine_arn())
        .input(r#"{"lines": [1, 2]}"#)
        .send()
        .await
        .unwrap();
    let ended = crate::local_states::ended(&sfn, started.execution_arn()).await;
    assert_eq!(ended.status().as_str(), "FAILED", "{ended:?}");
    assert_eq!(ended.error(), Some("Runtime.ExitError"), "{ended:?}");

    let destroyed = fixture
        .command(&["destroy", "--local", &url])
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .unwrap();
    assert!(destroyed.status.success(), "{destroyed:?}");
    let listed = sfn.list_state_machines().send().await.unwrap();
    assert!(listed.state_machines().is_empty(), "{listed:?}");
    serve.kill();
}

#[tokio::test]
async fn a_state_machine_lambdakit_did_not_create_is_refused_unless_adopted() {
    let Some(moto) = Moto::start() else { return };
    let fixture = Fixture::new("adopt", MACHINE, ("orders.asl.json", &orders("v1")));
    let sfn = aws_sdk_sfn::Client::new(&moto.config().await);
    let theirs = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}"#;
    let created = sfn
        .create_state_machine()
        .name("orders-flow")
        .definition(theirs)
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/handmade"))
        .send()
        .await
        .unwrap();
    let arn = created.state_machine_arn().to_owned();

    let refused = run(&moto, &fixture, &["deploy"]);
    assert_eq!(refused.status.code(), Some(4), "{refused:?}");
    assert_eq!(
        stderr(&refused).lines().rev().take(2).collect::<Vec<_>>(),
        [
            "hint: pass `--adopt` to take it over, or give yours another `name`",
            "error: the state machine `orders-flow` exists on AWS, and lambdakit did not create it",
        ]
    );
    let untouched = sfn
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(untouched.definition()).unwrap(),
        serde_json::from_str::<Value>(theirs).unwrap()
    );

    let adopted = json(&run(
        &moto,
        &fixture,
        &["deploy", "--adopt", "--output", "json"],
    ));
    let details = &adopted["state_machines"][0]["changes"][1];
    assert_eq!(details["action"], "update", "{adopted}");
    assert_eq!(
        details["details"],
        json!([
            "definition",
            format!("role → arn:aws:iam::{ACCOUNT}:role/orders-flow-states-lambdakit"),
            "tags"
        ])
    );
    let tags = sfn
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|tag| tag.key() == Some("lambdakit:state-machine")
                && tag.value() == Some("orders-flow")),
        "{tags:?}"
    );
}
