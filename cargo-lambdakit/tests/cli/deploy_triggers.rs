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
pub(crate) struct Fixture {
    pub(crate) dir: PathBuf,
}

impl Fixture {
    pub(crate) fn new(label: &str, settings: &str) -> Self {
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
    pub(crate) fn settings(&self, settings: &str) {
        let manifest = format!(
            "[package]\nname = \"triggers-fixture\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n{settings}\n"
        );
        std::fs::write(self.dir.join("Cargo.toml"), manifest).unwrap();
    }

    pub(crate) fn run(&self, moto: &Moto, args: &[&str]) -> Output {
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

pub(crate) const INTAKE: &str = "arn:aws:lambda:eu-west-1:123456789012:function:intake";

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
pub(crate) fn changed(report: &Value) -> Vec<String> {
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
async fn an_iot_topic_rule_sends_messages_to_the_function_and_follows_its_settings() {
    let Some(moto) = Moto::start() else { return };
    let table = "[[package.metadata.lambdakit.functions.intake.triggers.iot]]";
    let fixture = Fixture::new(
        "iot",
        &format!("{table}\nsql = \"SELECT * FROM 'devices/+/telemetry'\""),
    );
    let plan = fixture.run(&moto, &["deploy", "--dry-run"]);
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains("+ trigger   iot lambdakit_intake_0"),
        "{plan}"
    );
    let created = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert_eq!(trigger(&created, "iot lambdakit_intake_0").0, "create");

    // The rule, with its SQL and the function as its action; IoT may invoke for that rule.
    let rule = |name: &str| -> Value {
        let found = moto.aws(&["iot", "get-topic-rule", "--rule-name", name]);
        serde_json::from_str::<Value>(&found).unwrap()["rule"].take()
    };
    let rules = || -> Vec<String> {
        let listed: Value = serde_json::from_str(&moto.aws(&["iot", "list-topic-rules"])).unwrap();
        listed["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| rule["ruleName"].as_str().unwrap().to_owned())
            .collect()
    };
    let found = rule("lambdakit_intake_0");
    assert_eq!(found["sql"], "SELECT * FROM 'devices/+/telemetry'");
    assert_eq!(found["awsIotSqlVersion"], "2016-03-23");
    assert_eq!(found["actions"][0]["lambda"]["functionArn"], INTAKE);
    let rule_arn =
        |index: usize| format!("arn:aws:iot:{REGION}:{ACCOUNT}:rule/lambdakit_intake_{index}");
    let policy_now = policy(&moto).await;
    let granted = statement(&policy_now, "iot.amazonaws.com");
    assert_eq!(
        granted["Condition"]["ArnLike"]["AWS:SourceArn"],
        rule_arn(0)
    );

    let again = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert!(changed(&again).is_empty(), "{again}");

    // A changed SQL replaces the rule; a second trigger adds one.
    let hot = "SELECT temperature FROM 'devices/+/telemetry' WHERE temperature > 40";
    fixture.settings(&format!(
        "{table}\nsql = \"{hot}\"\n\n{table}\nsql = \"SELECT * FROM 'devices/+/alarms'\""
    ));
    let updated = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert_eq!(
        trigger(&updated, "iot lambdakit_intake_0"),
        (
            "update".to_owned(),
            serde_json::json!([format!(
                "sql `SELECT * FROM 'devices/+/telemetry'` → `{hot}`"
            )])
        )
    );
    assert_eq!(trigger(&updated, "iot lambdakit_intake_1").0, "create");
    assert_eq!(rule("lambdakit_intake_0")["sql"], hot);
    assert_eq!(rules(), ["lambdakit_intake_0", "lambdakit_intake_1"]);

    // The second trigger taken out: its rule and its permission go.
    fixture.settings(&format!("{table}\nsql = \"{hot}\""));
    let removed = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert_eq!(trigger(&removed, "iot lambdakit_intake_1").0, "delete");
    assert_eq!(rules(), ["lambdakit_intake_0"]);
    assert!(
        !policy(&moto).await.to_string().contains(&rule_arn(1)),
        "the permission for the removed rule is left"
    );

    let destroyed = fixture.run(&moto, &["destroy", "--output", "json"]);
    assert!(destroyed.status.success(), "{destroyed:?}");
    assert!(rules().is_empty(), "{:?}", rules());
}

#[tokio::test]
async fn a_cognito_user_pool_calls_the_function_and_keeps_its_other_settings() {
    let Some(moto) = Moto::start() else { return };
    let other = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:audit");
    let created = moto.aws(&[
        "cognito-idp",
        "create-user-pool",
        "--pool-name",
        "customers",
        "--policies",
        r#"{"PasswordPolicy": {"MinimumLength": 12}}"#,
        "--user-pool-tags",
        "team=identity",
        "--lambda-config",
        &format!(r#"{{"PostAuthentication": "{other}"}}"#),
    ]);
    let created: Value = serde_json::from_str(&created).unwrap();
    let pool = created["UserPool"]["Id"].as_str().unwrap().to_owned();
    let describe = || -> Value {
        let described = moto.aws(&["cognito-idp", "describe-user-pool", "--user-pool-id", &pool]);
        serde_json::from_str::<Value>(&described).unwrap()["UserPool"].take()
    };
    let table = "[[package.metadata.lambdakit.functions.intake.triggers.cognito]]";
    let settings = |triggers: &str| {
        format!(
            "{table}\nuser_pool = \"{pool}\"\ntriggers = {triggers}\npre_token_version = \"V2_0\""
        )
    };
    let fixture = Fixture::new(
        "cognito",
        &settings(r#"["pre-sign-up", "pre-token-generation"]"#),
    );
    let label = format!("cognito {pool}");

    let plan = fixture.run(&moto, &["deploy", "--dry-run"]);
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.contains(&format!("+ trigger   {label}")), "{plan}");

    let deployed = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert_eq!(trigger(&deployed, &label).0, "create");
    // The function in the keys asked; what the pool had besides, untouched (UpdateUserPool
    // resets whatever its request leaves out).
    let described = describe();
    let config = &described["LambdaConfig"];
    assert_eq!(config["PreSignUp"], INTAKE);
    assert_eq!(config["PreTokenGenerationConfig"]["LambdaArn"], INTAKE);
    assert_eq!(config["PreTokenGenerationConfig"]["LambdaVersion"], "V2_0");
    assert_eq!(config["PostAuthentication"], other.as_str());
    assert_eq!(described["Policies"]["PasswordPolicy"]["MinimumLength"], 12);
    assert_eq!(described["UserPoolTags"]["team"], "identity");
    let granted = statement(&policy(&moto).await, "cognito-idp.amazonaws.com").clone();
    assert_eq!(
        granted["Condition"]["ArnLike"]["AWS:SourceArn"],
        format!("arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{pool}")
    );

    let again = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert!(changed(&again).is_empty(), "{again}");

    fixture.settings(&settings(r#"["pre-sign-up"]"#));
    let updated = json(&fixture.run(&moto, &["deploy", "--output", "json"]));
    assert_eq!(
        trigger(&updated, &label),
        (
            "update".to_owned(),
            serde_json::json!(["pre-token-generation removed"])
        )
    );
    assert!(describe()["LambdaConfig"]["PreTokenGenerationConfig"].is_null());

    // A key another function holds is not taken over.
    fixture.settings(&settings(r#"["pre-sign-up", "post-authentication"]"#));
    let refused = fixture.run(&moto, &["deploy"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(stderr.contains("calls another function"), "{stderr}");
    assert!(stderr.contains(&other), "{stderr}");
    assert_eq!(
        describe()["LambdaConfig"]["PostAuthentication"],
        other.as_str()
    );

    let destroyed = fixture.run(&moto, &["destroy", "--output", "json"]);
    assert!(destroyed.status.success(), "{destroyed:?}");
    let config = describe()["LambdaConfig"].take();
    assert!(config["PreSignUp"].is_null(), "{config}");
    assert_eq!(config["PostAuthentication"], other.as_str());
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
