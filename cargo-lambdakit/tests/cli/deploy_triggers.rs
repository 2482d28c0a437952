//! Triggers whose settings the tests change between deploys, each on a package of its own
//! deployed to moto: the resource reads back with the function's ARN and the permission its
//! service needs, a second deploy changes nothing, a changed setting updates it, and destroy
//! removes it.

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use crate::deploy::{actions, json};
use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::lambdakit;

/// A package of its own in a scratch directory with one function that does nothing (moto
/// runs none), `intake`, whose settings a test rewrites between deploys.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(label: &str, settings: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("lambdakit-triggers-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/bin")).unwrap();
        std::fs::write(dir.join("src/bin/intake.rs"), "fn main() {}\n").unwrap();
        let fixture = Self { dir };
        fixture.settings(settings);
        fixture
    }

    /// Rewrites the manifest with `settings` for `intake`.
    fn settings(&self, settings: &str) {
        let manifest = format!(
            "[package]\nname = \"triggers-fixture\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n{settings}\n"
        );
        std::fs::write(self.dir.join("Cargo.toml"), manifest).unwrap();
    }

    fn run(&self, moto: &Moto, args: &[&str]) -> Output {
        let mut command = lambdakit();
        command
            .args(args)
            .arg("--manifest-path")
            .arg(self.dir.join("Cargo.toml"));
        moto.environment(&mut command);
        command.output().unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const INTAKE: &str = "arn:aws:lambda:eu-west-1:123456789012:function:intake";

/// The change to the trigger named `name` in a deploy's report: its action and details.
fn trigger(report: &Value, name: &str) -> (String, Value) {
    let change = report["functions"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["kind"] == "trigger" && change["name"] == name)
        .unwrap_or_else(|| panic!("no trigger `{name}` in {report}"));
    (
        change["action"].as_str().unwrap().to_owned(),
        change["details"].clone(),
    )
}

/// The function's resource policy, as moto holds it.
async fn policy(moto: &Moto) -> Value {
    let config = moto.config().await;
    let policy = aws_sdk_lambda::Client::new(&config)
        .get_policy()
        .function_name("intake")
        .send()
        .await
        .unwrap();
    serde_json::from_str(policy.policy().unwrap()).unwrap()
}

/// The statement of `policy` that lets `principal` invoke the function.
fn statement<'a>(policy: &'a Value, principal: &str) -> &'a Value {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|statement| statement["Principal"]["Service"] == principal)
        .unwrap_or_else(|| panic!("{principal} may not invoke: {policy}"))
}

/// Every change of a report that is not `unchanged`.
fn changed(report: &Value) -> Vec<String> {
    actions(report)
        .into_iter()
        .filter(|line| !line.ends_with(" unchanged"))
        .collect()
}

#[tokio::test]
async fn an_ses_receipt_rule_hands_mail_to_the_function_and_follows_its_settings() {
    let Some(moto) = Moto::start() else { return };
    let fixture = Fixture::new(
        "ses",
        "[[package.metadata.lambdakit.functions.intake.triggers.ses]]\nrule_set = \"inbound\"\nrecipients = [\"orders@example.com\"]",
    );
    let created = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert_eq!(trigger(&created, "ses inbound").0, "create");

    // The rule set, created; the rule in it, with the function's action; SES may invoke.
    let config = moto.config().await;
    let ses = aws_sdk_ses::Client::new(&config);
    let rule = ses
        .describe_receipt_rule()
        .rule_set_name("inbound")
        .rule_name("lambdakit-intake")
        .send()
        .await
        .unwrap();
    let rule = rule.rule().unwrap();
    assert!(rule.enabled());
    assert_eq!(rule.recipients(), ["orders@example.com"]);
    let lambda = rule.actions()[0].lambda_action().unwrap();
    assert_eq!(lambda.function_arn(), INTAKE);
    assert_eq!(
        lambda.invocation_type().map(|how| how.as_str()),
        Some("Event")
    );
    let policy = policy(&moto).await;
    let granted = statement(&policy, "ses.amazonaws.com");
    assert_eq!(
        granted["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!(
            "arn:aws:ses:{REGION}:{ACCOUNT}:receipt-rule-set/inbound:receipt-rule/lambdakit-intake"
        )
    );
    assert_eq!(
        granted["Condition"]["StringEquals"]["AWS:SourceAccount"],
        ACCOUNT
    );

    let again = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert!(changed(&again).is_empty(), "{again}");

    // More recipients, and SES waits for the function's answer.
    fixture.settings(
        "[[package.metadata.lambdakit.functions.intake.triggers.ses]]\nrule_set = \"inbound\"\nrecipients = [\"orders@example.com\", \"example.org\"]\ninvocation_type = \"RequestResponse\"",
    );
    let updated = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert_eq!(
        trigger(&updated, "ses inbound"),
        (
            "update".to_owned(),
            serde_json::json!([
                "recipients orders@example.com → example.org, orders@example.com",
                format!("actions {INTAKE} (Event) → {INTAKE} (RequestResponse)")
            ])
        )
    );
    let rule = ses
        .describe_receipt_rule()
        .rule_set_name("inbound")
        .rule_name("lambdakit-intake")
        .send()
        .await
        .unwrap();
    let rule = rule.rule().unwrap();
    assert_eq!(rule.recipients(), ["orders@example.com", "example.org"]);
    assert_eq!(
        rule.actions()[0]
            .lambda_action()
            .and_then(|lambda| lambda.invocation_type())
            .map(|how| how.as_str()),
        Some("RequestResponse")
    );

    // Destroy finds the rule from the permission (moto 5.2.1 has no DeleteReceiptRule: the
    // removal itself is `triggers::tests`' to prove).
    let plan = fixture.run(&moto, &["destroy", "--dry-run"]);
    assert!(plan.status.success(), "{plan:?}");
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.contains("- trigger   ses inbound"), "{plan}");
}

#[tokio::test]
async fn a_kafka_trigger_is_planned_and_its_mistakes_are_refused_before_any_aws_call() {
    // moto 5.2.1 maps only SQS, DynamoDB and Kinesis sources: the plan is read here, and
    // creating, converging and removing Kafka mappings is `triggers::tests`' to prove.
    let Some(moto) = Moto::start() else { return };
    let cluster = format!("arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/shop/0b1c-1");
    let fixture = Fixture::new(
        "kafka",
        &format!(
            "[[package.metadata.lambdakit.functions.intake.triggers.kafka]]\ncluster = \"{cluster}\"\ntopic = \"orders\"\nbatch_size = 500\n\n[[package.metadata.lambdakit.functions.intake.triggers.kafka]]\nbootstrap_servers = [\"b-1.example.com:9092\", \"b-2.example.com:9092\"]\ntopic = \"clicks\"\nauth = \"SASL_SCRAM_512_AUTH\"\nsecret = \"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:kafka-AbCdEf\""
        ),
    );
    let plan = json(&fixture.run(&moto, &["deploy", "--dry-run", "--output", "json"]));
    let orders = format!("kafka {cluster} topic orders");
    assert_eq!(trigger(&plan, &orders).0, "create");
    let clicks = "kafka b-1.example.com:9092,b-2.example.com:9092 topic clicks";
    assert_eq!(trigger(&plan, clicks).0, "create");
    let text = fixture.run(&moto, &["deploy", "--dry-run"]);
    assert!(text.status.success(), "{text:?}");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("+ trigger   {orders}\n"))
            && text.contains(&format!("+ trigger   {clicks}\n")),
        "{text}"
    );
    let config = moto.config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let functions = lambda.list_functions().send().await.unwrap();
    assert!(
        functions.functions().is_empty(),
        "a dry run created {functions:?}"
    );

    for (settings, key, says) in [
        (
            format!(
                "cluster = \"{cluster}\"\nbootstrap_servers = [\"b-1.example.com:9092\"]\ntopic = \"orders\""
            ),
            "`package.metadata.lambdakit.functions.intake.triggers.kafka[0]` names both a `cluster` and `bootstrap_servers`",
            "keep `cluster` for an Amazon MSK cluster",
        ),
        (
            format!("cluster = \"{cluster}\"\ntopic = \"orders\"\nbatch_size = 20000"),
            "`package.metadata.lambdakit.functions.intake.triggers.kafka[0].batch_size`",
            "from 1 to 10000",
        ),
        (
            "bootstrap_servers = [\"b-1.example.com:9092\"]\ntopic = \"clicks\"\nauth = \"SASL_SCRAM_512_AUTH\"\nsecret = \"kafka-credentials\"".to_owned(),
            "`package.metadata.lambdakit.functions.intake.triggers.kafka[0].secret`",
            "must be a Secrets Manager secret's ARN",
        ),
    ] {
        fixture.settings(&format!(
            "[[package.metadata.lambdakit.functions.intake.triggers.kafka]]\n{settings}"
        ));
        let refused = fixture.run(&moto, &["deploy", "--dry-run"]);
        assert!(!refused.status.success(), "{refused:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains(key) && stderr.contains(says),
            "{settings}: {stderr}"
        );
    }
}

#[tokio::test]
async fn a_changed_logs_filter_pattern_is_put_on_the_deployed_filter() {
    let Some(moto) = Moto::start() else { return };
    moto.aws(&["logs", "create-log-group", "--log-group-name", "app"]);
    let fixture = Fixture::new(
        "logs",
        "[[package.metadata.lambdakit.functions.intake.triggers.logs]]\ngroup = \"app\"\npattern = \"ERROR\"",
    );
    let created = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert_eq!(trigger(&created, "logs app").0, "create");

    fixture.settings(
        "[[package.metadata.lambdakit.functions.intake.triggers.logs]]\ngroup = \"app\"\npattern = \"?ERROR ?WARN\"",
    );
    let updated = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert_eq!(
        trigger(&updated, "logs app"),
        (
            "update".to_owned(),
            serde_json::json!(["pattern `ERROR` → `?ERROR ?WARN`"])
        )
    );
    let config = moto.config().await;
    let filters = aws_sdk_cloudwatchlogs::Client::new(&config)
        .describe_subscription_filters()
        .log_group_name("app")
        .send()
        .await
        .unwrap();
    let filters: Vec<(Option<&str>, Option<&str>, Option<&str>)> = filters
        .subscription_filters()
        .iter()
        .map(|filter| {
            (
                filter.filter_name(),
                filter.filter_pattern(),
                filter.destination_arn(),
            )
        })
        .collect();
    assert_eq!(
        filters,
        [(Some("lambdakit-intake"), Some("?ERROR ?WARN"), Some(INTAKE))],
        "the filter is replaced in place, not added beside"
    );
    let again = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert!(changed(&again).is_empty(), "{again}");
}
