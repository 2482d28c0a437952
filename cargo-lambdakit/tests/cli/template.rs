//! `cargo lambdakit template`: the templates of the examples and of fixture packages pass
//! cfn-lint in both formats (CloudFormation and SAM) and both syntaxes, what they hold is what
//! deploy makes (read back from a stack moto's CloudFormation created, beside what deploy made
//! on another moto), what they cannot hold is said, and bad settings are refused as deploy
//! refuses them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::deploy::stderr;
use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::{lambdakit, tool, works, workspace};

/// `cargo lambdakit template ARGS` on the workspace's `package`.
fn template(package: &str, args: &[&str]) -> Output {
    lambdakit()
        .arg("template")
        .args(args)
        .args(["--locked", "-p", package, "--manifest-path"])
        .arg(workspace().join("Cargo.toml"))
        .output()
        .unwrap()
}

/// The template of `package` in `format`, as JSON.
fn template_of(package: &str, format: &str) -> Value {
    let output = template(package, &["--format", format]);
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A package of no code (its binaries are empty), for the settings the examples do not
/// use: an extension's layer, SES, Cognito, IoT and DynamoDB triggers, a named role, a state
/// machine with logging; `extra` is added to the function `mail`'s settings.
fn fixture(name: &str, extra: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(dir.join("src/bin")).unwrap();
    std::fs::create_dir_all(dir.join("states")).unwrap();
    let manifest = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[workspace]

[package.metadata.lambdakit.extensions.watcher]

[package.metadata.lambdakit.functions.mail]
extensions = ["watcher"]
alias = "live"
tracing = "Active"
log_retention = 30
log_kms_key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
recursive_loop = "Allow"
vpc = {{ subnets = ["subnet-0a1b2c3d4e5f60718"], security_groups = ["sg-0123456789abcdef0"] }}
{extra}

[package.metadata.lambdakit.functions.mail.async]
retries = 0
max_event_age = 3600
on_failure = "arn:aws:sqs:eu-west-1:123456789012:failed"
dead_letter = "arn:aws:sqs:eu-west-1:123456789012:dlq"

[[package.metadata.lambdakit.functions.mail.triggers.kafka]]
cluster = "arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b1c-1"
topic = "orders"
consumer_group_id = "mail"
auth = "SASL_SCRAM_512_AUTH"
secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-AbCdEf"

[[package.metadata.lambdakit.functions.mail.triggers.kafka]]
bootstrap_servers = ["b-1.example.com:9092"]
topic = "clicks"
batching_window = 5
vpc_subnets = ["subnet-0a1b2c3d4e5f60718"]
vpc_security_groups = ["sg-0123456789abcdef0"]

[[package.metadata.lambdakit.functions.mail.triggers.ses]]
rule_set = "inbound"
recipients = ["orders@example.com"]

[[package.metadata.lambdakit.functions.mail.triggers.cognito]]
user_pool = "eu-west-1_aBcDeF123"
triggers = ["pre-sign-up", "post-confirmation"]

[[package.metadata.lambdakit.functions.mail.triggers.iot]]
sql = "SELECT * FROM 'devices/+/telemetry'"

[[package.metadata.lambdakit.functions.mail.triggers.dynamodb]]
table = "orders"

[package.metadata.lambdakit.functions.shared-role]
role = "arn:aws:iam::123456789012:role/existing"
architecture = "arm64"
tenancy = "per-tenant"

[package.metadata.lambdakit.stages.prod]
memory = 1024
env_file = "prod.env"

[package.metadata.lambdakit.api]
stage_variables = {{ table = "orders" }}
cors = {{ allow_origins = ["https://shop.example"], allow_methods = ["GET", "POST"], max_age = 300 }}

[package.metadata.lambdakit.api.routes]
"GET /mail/{{id}}" = "mail"
"POST /mail" = {{ function = "mail", authorizer = "users", scopes = ["mail:send"] }}
"$default" = {{ function = "mail", authorizer = "gate" }}

[package.metadata.lambdakit.api.authorizers.users]
type = "jwt"
issuer = "https://issuer.example"
audience = ["shop"]
jwks = "jwks.json"

[package.metadata.lambdakit.api.authorizers.gate]
type = "lambda"
function = "shared-role"
identity_source = ["$request.header.X-Api-Key"]
ttl = 60

[[package.metadata.lambdakit.state_machines]]
name = "flow"
definition = "states/flow.asl.json"
logging = {{ level = "ERROR" }}
tracing = true
"#
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("prod.env"), "API_KEY=s3cret\n").unwrap();
    for bin in ["mail", "watcher", "shared-role"] {
        std::fs::write(dir.join(format!("src/bin/{bin}.rs")), "fn main() {}\n").unwrap();
    }
    std::fs::write(
        dir.join("states/flow.asl.json"),
        r#"{"StartAt": "Mail", "States": {"Mail": {"Type": "Task", "Resource": "${function:mail}", "End": true}}}"#,
    )
    .unwrap();
    dir
}

/// Whether cfn-lint is here (under CI it must be).
fn cfn_lint() -> bool {
    tool(
        works("cfn-lint", &["--version"]),
        "cfn-lint",
        "pip install cfn-lint",
    )
}

/// Runs cfn-lint on `file`, and fails on any error it finds (warnings are its exit code's bit
/// 4, errors bit 2, and 1 a failure to run).
fn assert_lints_clean(file: &Path) {
    let output = Command::new("cfn-lint").arg(file).output().unwrap();
    let code = output.status.code().unwrap_or(1);
    assert!(
        code & 2 == 0 && code != 1,
        "cfn-lint {} exited {code}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn templates_of_the_examples_and_fixtures_pass_cfn_lint_in_both_formats() {
    if !cfn_lint() {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("templates");
    std::fs::create_dir_all(&dir).unwrap();
    let packages = [
        "order-pipeline",
        "sqs-worker",
        "hello-http",
        "device-telemetry",
        "test-functions",
        "test-api",
    ];
    for package in packages {
        for (format, file) in [("cloudformation", "json"), ("sam", "yaml")] {
            let file = dir.join(format!("{package}-{format}.{file}"));
            let output = lambdakit()
                .args(["template", "--format", format, "--output"])
                .arg(&file)
                .args(["--locked", "-p", package, "--manifest-path"])
                .arg(workspace().join("Cargo.toml"))
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
            assert_lints_clean(&file);
        }
    }
    let fixture = fixture("template-fixture", "");
    for (format, syntax, stage) in [
        ("cloudformation", "yaml", "prod"),
        ("sam", "json", "prod"),
        ("cloudformation", "json", ""),
    ] {
        let file = dir.join(format!("fixture-{format}-{stage}.{syntax}"));
        let mut command = lambdakit();
        command.args(["template", "--format", format, "--syntax", syntax]);
        if !stage.is_empty() {
            command.args(["--stage", stage]);
        }
        let output = command
            .arg("-o")
            .arg(&file)
            .arg("--manifest-path")
            .arg(fixture.join("Cargo.toml"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        assert_lints_clean(&file);
    }
}

/// The resource `id` of `document`, and its properties.
fn resource<'a>(document: &'a Value, id: &str) -> &'a Value {
    let found = &document["Resources"][id];
    assert!(found.is_object(), "no `{id}` in {document:#}");
    found
}

#[test]
fn the_template_holds_what_deploy_makes_and_says_what_it_cannot() {
    let output = template("test-functions", &[]);
    assert!(output.status.success(), "{output:?}");
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    let notes = stderr(&output);

    let behave = &resource(&document, "BehaveFunction")["Properties"];
    assert_eq!(behave["Runtime"], "provided.al2023");
    assert_eq!(behave["Handler"], "bootstrap");
    assert_eq!(behave["MemorySize"], 256);
    assert_eq!(behave["Timeout"], 1);
    assert_eq!(behave["Description"], "Misbehaves on request");
    assert_eq!(
        behave["Environment"]["Variables"]["GREETING"],
        "hello from the config"
    );
    assert_eq!(behave["Code"]["S3Bucket"]["Ref"], "BehaveCodeBucket");
    assert_eq!(behave["Role"]["Fn::GetAtt"][0], "BehaveRole");
    let tags = behave["Tags"].as_array().unwrap();
    for (key, value) in [
        ("team", "runtime"),
        ("lambdakit:package", "test-functions"),
        ("lambdakit:function", "behave"),
    ] {
        assert!(
            tags.iter()
                .any(|tag| tag["Key"] == key && tag["Value"] == value),
            "{tags:?}"
        );
    }

    // The role deploy creates, with the policy deploy writes (the queue's ARN in the stack's
    // account and region).
    let role = &resource(&document, "BehaveRole")["Properties"];
    assert_eq!(role["RoleName"], "behave-lambdakit");
    let statements = role["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    let sqs = statements
        .iter()
        .find(|statement| statement["Sid"] == "Sqs")
        .unwrap();
    assert_eq!(
        sqs["Resource"][0]["Fn::Sub"],
        "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:jobs"
    );

    let mapping = &resource(&document, "BehaveSqsMapping")["Properties"];
    assert_eq!(mapping["BatchSize"], 5);
    assert_eq!(
        mapping["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    let schedule = &resource(&document, "BehaveSchedule0")["Properties"];
    assert_eq!(schedule["ScheduleExpression"], "rate(1 hour)");
    assert_eq!(schedule["Name"], "lambdakit-behave-0");
    assert_eq!(
        resource(&document, "BehaveSchedule0Permission")["Properties"]["Principal"],
        "events.amazonaws.com"
    );
    assert_eq!(
        resource(&document, "BehaveNewsSubscription")["Properties"]["Protocol"],
        "lambda"
    );
    let filter = resource(&document, "TriggersAwsLambdaBehaveSubscriptionFilter");
    assert_eq!(filter["Properties"]["FilterName"], "lambdakit-triggers");
    assert_eq!(filter["DependsOn"], "TriggersAwsLambdaBehaveLogsPermission");
    let kinesis = &resource(&document, "BrokenSetupKinesisMapping")["Properties"];
    assert_eq!(kinesis["StartingPosition"], "TRIM_HORIZON");
    assert_eq!(kinesis["BisectBatchOnFunctionError"], true);
    assert_eq!(kinesis["MaximumRetryAttempts"], 3);
    assert_eq!(kinesis["MaximumRecordAgeInSeconds"], 3600);
    // A table's stream is a parameter: a template cannot look it up.
    let dynamodb = &resource(&document, "BrokenSetupDynamodbMapping")["Properties"];
    // Lambda's defaults are left to Lambda.
    assert!(dynamodb.get("MaximumRetryAttempts").is_none(), "{dynamodb}");
    assert_eq!(
        dynamodb["EventSourceArn"]["Ref"],
        "BrokenSetupOrdersStreamArn"
    );
    assert!(document["Parameters"]["BrokenSetupOrdersStreamArn"].is_object());

    // `web`: its alias over a version, the URL on the alias, public, with both permissions.
    let web = &resource(&document, "WebFunction")["Properties"];
    assert_eq!(web["TracingConfig"]["Mode"], "Active");
    assert_eq!(web["EphemeralStorage"]["Size"], 1024);
    assert_eq!(web["ReservedConcurrentExecutions"], 3);
    assert_eq!(
        resource(&document, "WebAlias")["Properties"]["Name"],
        "live"
    );
    let url = &resource(&document, "WebUrl")["Properties"];
    assert_eq!(url["AuthType"], "NONE");
    assert_eq!(url["TargetFunctionArn"]["Ref"], "WebAlias");
    assert_eq!(url["Cors"]["AllowMethods"][1], "POST");
    assert_eq!(
        resource(&document, "WebUrlInvokePermission")["Properties"]["InvokedViaFunctionUrl"],
        true
    );
    assert_eq!(
        resource(&document, "HttpFunction")["Properties"]["Layers"][0],
        "arn:aws:lambda:eu-west-1:123456789012:layer:tools:1"
    );

    // What a template cannot set is said on stderr and in the Metadata, never dropped.
    let listed = document["Metadata"]["LambdaKit"]["NotInTemplate"]
        .as_array()
        .unwrap();
    for what in ["S3 bucket `uploads`", "delivery stream `clicks-delivery`"] {
        assert!(notes.contains(what), "{notes}");
        assert!(
            listed
                .iter()
                .any(|note| note.as_str().unwrap().contains(what)),
            "{listed:?}"
        );
    }
    // The bucket's permission is there.
    assert_eq!(
        resource(&document, "BehaveUploadsS3Permission")["Properties"]["Principal"],
        "s3.amazonaws.com"
    );

    // SAM: the function publishes through its alias, and its URL is SAM's.
    let sam = template_of("test-functions", "sam");
    let web = resource(&sam, "WebFunction");
    assert_eq!(web["Type"], "AWS::Serverless::Function");
    assert_eq!(web["Properties"]["AutoPublishAlias"], "live");
    assert_eq!(web["Properties"]["FunctionUrlConfig"]["AuthType"], "NONE");
    assert_eq!(web["Properties"]["Tags"]["lambdakit:function"], "web");
    assert!(sam["Resources"].get("WebVersion").is_none());
}

#[test]
fn fixtures_layers_triggers_and_state_machines_are_in_the_template() {
    let fixture = fixture("template-contents", "");
    let output = lambdakit()
        .args(["template", "--manifest-path"])
        .arg(fixture.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    let notes = stderr(&output);

    let layer = &resource(&document, "WatcherLayer")["Properties"];
    assert_eq!(layer["LayerName"], "watcher");
    let mail = &resource(&document, "MailFunction")["Properties"];
    assert_eq!(mail["Layers"][0]["Ref"], "WatcherLayer");
    assert_eq!(
        resource(&document, "SharedRoleFunction")["Properties"]["Role"],
        "arn:aws:iam::123456789012:role/existing"
    );
    assert!(document["Resources"].get("SharedRoleRole").is_none());
    let rule = &resource(&document, "MailTopicRule0")["Properties"];
    assert_eq!(rule["RuleName"], "lambdakit_mail_0");
    assert_eq!(rule["TopicRulePayload"]["AwsIotSqlVersion"], "2016-03-23");
    assert_eq!(
        rule["TopicRulePayload"]["Actions"][0]["Lambda"]["FunctionArn"]["Fn::GetAtt"][0],
        "MailFunction"
    );
    let receipt = &resource(&document, "MailInboundReceiptRule")["Properties"];
    assert_eq!(receipt["Rule"]["Name"], "lambdakit-mail");
    assert_eq!(
        resource(&document, "MailEuWest1ABcDeF123CognitoPermission")["Properties"]["SourceAccount"]
            ["Ref"],
        "AWS::AccountId"
    );
    assert!(
        notes.contains("Cognito user pool `eu-west-1_aBcDeF123`"),
        "{notes}"
    );
    assert!(notes.contains("rule set `inbound`"), "{notes}");

    // The settings of the functions' operation: async, VPC, log group, recursion, Kafka.
    assert_eq!(
        mail["DeadLetterConfig"]["TargetArn"],
        "arn:aws:sqs:eu-west-1:123456789012:dlq"
    );
    assert_eq!(
        mail["VpcConfig"]["SubnetIds"][0],
        "subnet-0a1b2c3d4e5f60718"
    );
    assert_eq!(mail["RecursiveLoop"], "Allow");
    let invoke = &resource(&document, "MailEventInvokeConfig");
    assert_eq!(invoke["Properties"]["Qualifier"], "live");
    assert_eq!(invoke["Properties"]["MaximumRetryAttempts"], 0);
    assert_eq!(
        invoke["Properties"]["DestinationConfig"]["OnFailure"]["Destination"],
        "arn:aws:sqs:eu-west-1:123456789012:failed"
    );
    let group = &resource(&document, "MailLogGroup")["Properties"];
    assert_eq!(group["LogGroupName"], "/aws/lambda/mail");
    assert_eq!(group["RetentionInDays"], 30);
    assert_eq!(
        resource(&document, "MailFunction")["DependsOn"],
        "MailLogGroup"
    );
    let msk = &resource(&document, "MailKafkaMapping")["Properties"];
    assert_eq!(msk["Topics"][0], "orders");
    assert_eq!(
        msk["AmazonManagedKafkaEventSourceConfig"]["ConsumerGroupId"],
        "mail"
    );
    assert_eq!(
        msk["SourceAccessConfigurations"][0]["Type"],
        "SASL_SCRAM_512_AUTH"
    );
    let brokers = &resource(&document, "Mail2KafkaMapping")["Properties"];
    assert_eq!(
        brokers["SelfManagedEventSource"]["Endpoints"]["KafkaBootstrapServers"][0],
        "b-1.example.com:9092"
    );
    assert_eq!(brokers["MaximumBatchingWindowInSeconds"], 5);
    assert!(brokers.get("EventSourceArn").is_none());

    let machine = &resource(&document, "FlowStateMachine")["Properties"];
    assert_eq!(
        machine["Definition"]["States"]["Mail"]["Resource"],
        "${MailFunctionArn}"
    );
    assert_eq!(
        machine["DefinitionSubstitutions"]["MailFunctionArn"]["Fn::GetAtt"][0],
        "MailFunction"
    );
    assert_eq!(machine["LoggingConfiguration"]["Level"], "ERROR");
    let role = &resource(&document, "FlowStateMachineRole")["Properties"];
    assert_eq!(role["RoleName"], "flow-states-lambdakit");
    let invoke = &role["Policies"][0]["PolicyDocument"]["Statement"][0];
    assert_eq!(invoke["Resource"][0]["Fn::GetAtt"][0], "MailFunction");
}

#[test]
fn the_http_api_is_in_the_template_as_deploy_makes_it() {
    let fixture = fixture("template-api", "");
    let output = lambdakit()
        .args(["template", "--manifest-path"])
        .arg(fixture.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();

    let api = &resource(&document, "TemplateApiHttpApi")["Properties"];
    assert_eq!(api["Name"], "template-api");
    assert_eq!(api["ProtocolType"], "HTTP");
    assert_eq!(api["Tags"]["lambdakit:package"], "template-api");
    assert_eq!(
        api["CorsConfiguration"]["AllowOrigins"][0],
        "https://shop.example"
    );
    assert_eq!(api["CorsConfiguration"]["MaxAge"], 300);
    let integration = &resource(&document, "TemplateApiMailIntegration")["Properties"];
    assert_eq!(integration["ApiId"]["Ref"], "TemplateApiHttpApi");
    assert_eq!(integration["IntegrationType"], "AWS_PROXY");
    assert_eq!(integration["PayloadFormatVersion"], "2.0");
    assert_eq!(
        integration["IntegrationUri"]["Fn::GetAtt"][0],
        "MailFunction"
    );
    let users = &resource(&document, "TemplateApiUsersAuthorizer")["Properties"];
    assert_eq!(users["AuthorizerType"], "JWT");
    assert_eq!(
        users["JwtConfiguration"]["Issuer"],
        "https://issuer.example"
    );
    assert_eq!(users["JwtConfiguration"]["Audience"][0], "shop");
    let gate = &resource(&document, "TemplateApiGateAuthorizer")["Properties"];
    assert_eq!(gate["AuthorizerType"], "REQUEST");
    assert_eq!(gate["AuthorizerResultTtlInSeconds"], 60);
    assert_eq!(gate["EnableSimpleResponses"], true);
    let uri = gate["AuthorizerUri"]["Fn::Sub"].as_str().unwrap();
    assert!(
        uri.contains("${SharedRoleFunction.Arn}") && uri.ends_with("/invocations"),
        "{uri}"
    );
    let post = &resource(&document, "TemplateApiPOSTMailRoute")["Properties"];
    assert_eq!(post["RouteKey"], "POST /mail");
    assert_eq!(
        post["Target"]["Fn::Sub"],
        "integrations/${TemplateApiMailIntegration}"
    );
    assert_eq!(post["AuthorizationType"], "JWT");
    assert_eq!(post["AuthorizerId"]["Ref"], "TemplateApiUsersAuthorizer");
    assert_eq!(post["AuthorizationScopes"][0], "mail:send");
    let fallback = &resource(&document, "TemplateApiDefaultRoute")["Properties"];
    assert_eq!(fallback["RouteKey"], "$default");
    assert_eq!(fallback["AuthorizationType"], "CUSTOM");
    let stage = &resource(&document, "TemplateApiStage")["Properties"];
    assert_eq!(stage["StageName"], "$default");
    assert_eq!(stage["AutoDeploy"], true);
    assert_eq!(stage["StageVariables"]["table"], "orders");
    for (permission, function) in [
        ("TemplateApiMailApiPermission", "MailFunction"),
        ("TemplateApiSharedRoleApiPermission", "SharedRoleFunction"),
    ] {
        let permission = &resource(&document, permission)["Properties"];
        assert_eq!(permission["Principal"], "apigateway.amazonaws.com");
        assert_eq!(permission["FunctionName"]["Fn::GetAtt"][0], function);
        let source = permission["SourceArn"]["Fn::Sub"].as_str().unwrap();
        assert!(source.ends_with(":${TemplateApiHttpApi}/*"), "{source}");
    }
    assert_eq!(
        document["Outputs"]["TemplateApiHttpApiEndpoint"]["Value"]["Fn::GetAtt"],
        serde_json::json!(["TemplateApiHttpApi", "ApiEndpoint"])
    );
}

#[test]
fn a_stage_is_named_and_tagged_as_deploy_names_it_and_its_env_file_stays_out() {
    let fixture = fixture("template-stage", "");
    let output = lambdakit()
        .args(["template", "--stage", "prod", "--manifest-path"])
        .arg(fixture.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    let document: Value = serde_json::from_str(&text).unwrap();
    let mail = &resource(&document, "MailProdFunction")["Properties"];
    assert_eq!(mail["FunctionName"], "mail-prod");
    assert_eq!(mail["MemorySize"], 1024);
    let tags = mail["Tags"].as_array().unwrap();
    assert!(
        tags.iter()
            .any(|tag| tag["Key"] == "lambdakit:stage" && tag["Value"] == "prod"),
        "{tags:?}"
    );
    let secret = &mail["Environment"]["Variables"]["API_KEY"]["Ref"];
    let parameter = &document["Parameters"][secret.as_str().unwrap()];
    assert_eq!(parameter["NoEcho"], true, "{parameter}");
    assert_eq!(
        resource(&document, "MailProdRole")["Properties"]["RoleName"],
        "mail-prod-lambdakit"
    );
    assert_eq!(
        resource(&document, "SharedRoleProdFunction")["Properties"]["TenancyConfig"]["TenantIsolationMode"],
        "PER_TENANT"
    );
}

#[test]
fn bad_settings_are_refused_as_deploy_refuses_them() {
    let fixture = fixture("template-refused", "log_level = \"DEBUG\"");
    let output = lambdakit()
        .args(["template", "--manifest-path"])
        .arg(fixture.join("Cargo.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = stderr(&output);
    assert!(
        stderr.starts_with("error: `package.metadata.lambdakit.functions.mail.log_level` needs `log_format = \"JSON\"`"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

/// The function `name`'s configuration, role policy, tags and event source mappings, as
/// the Lambda and IAM APIs of `moto` read them, with what differs between two deployments
/// (ids, times) left out.
async fn deployed(moto: &Moto, name: &str) -> Value {
    let config = moto.config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let found = lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .unwrap();
    let iam = aws_sdk_iam::Client::new(&config);
    let role = found.role().unwrap().rsplit('/').next().unwrap().to_owned();
    let policy = iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("lambdakit")
        .send()
        .await
        .unwrap();
    let policy = cargo_lambdakit::percent::decode(policy.policy_document());
    // moto's CloudFormation keeps a role's inline policy as the Python dict it parsed, and
    // IAM answers with its `repr`: single quotes where JSON has double ones.
    let policy: Value = serde_json::from_str(&policy)
        .or_else(|_| serde_json::from_str(&policy.replace('\'', "\"")))
        .unwrap_or_else(|error| panic!("{error}: {policy}"));
    let tags = lambda
        .list_tags()
        .resource(found.function_arn().unwrap())
        .send()
        .await
        .unwrap();
    let tags: std::collections::BTreeMap<String, String> = tags
        .tags()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        // CloudFormation adds its own.
        .filter(|(key, _)| !key.starts_with("aws:"))
        .collect();
    let mappings: Vec<Value> = lambda
        .list_event_source_mappings()
        .function_name(name)
        .send()
        .await
        .unwrap()
        .event_source_mappings()
        .iter()
        .map(|mapping| {
            serde_json::json!({
                "source": mapping.event_source_arn(),
                "batch": mapping.batch_size(),
                "window": mapping.maximum_batching_window_in_seconds(),
                "responses": mapping.function_response_types().iter().map(|kind| kind.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "runtime": found.runtime().map(|runtime| runtime.as_str()),
        "handler": found.handler(),
        "role": found.role(),
        "memory": found.memory_size(),
        "timeout": found.timeout(),
        "description": found.description(),
        "environment": found.environment().and_then(|environment| environment.variables()).map(|variables| variables.iter().collect::<std::collections::BTreeMap<_, _>>()),
        "architectures": found.architectures().iter().map(|architecture| architecture.as_str()).collect::<Vec<_>>(),
        "tracing": found.tracing_config().and_then(|tracing| tracing.mode()).map(|mode| mode.as_str()),
        "ephemeral": found.ephemeral_storage().map(|storage| storage.size()),
        "code": found.code_sha256(),
        "policy": policy,
        "tags": tags,
        "mappings": mappings,
    })
}

#[tokio::test]
async fn a_stack_of_the_template_makes_what_deploy_makes() {
    let Some(by_deploy) = Moto::start() else {
        return;
    };
    let Some(by_stack) = Moto::start() else {
        return;
    };
    for moto in [&by_deploy, &by_stack] {
        moto.aws(&["sqs", "create-queue", "--queue-name", "orders"]);
        moto.create_table("processed-orders", "id", &[]);
    }
    // Deploy builds the zip the stack is made from (for this machine's architecture).
    crate::examples::deploy(&by_deploy, "sqs-worker");
    let arch = crate::examples::host_arch();
    let zip = workspace().join(match arch {
        "x86_64" => "target/lambda/sqs-worker/bootstrap.zip".to_owned(),
        other => format!("target/lambda/{other}/sqs-worker/bootstrap.zip"),
    });
    assert!(zip.is_file(), "{} was not built", zip.display());

    by_stack.aws(&["s3", "mb", "s3://code"]);
    by_stack.aws(&[
        "s3",
        "cp",
        zip.to_str().unwrap(),
        "s3://code/sqs-worker.zip",
    ]);
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sqs-worker-stack.yaml");
    let output = lambdakit()
        .args(["template", "--locked", "-p", "sqs-worker", "-o"])
        .arg(&file)
        .arg("--manifest-path")
        .arg(workspace().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    if arch != "x86_64" {
        // The settings say nothing of the architecture: deploy's `--arch` chose it.
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replace("\"x86_64\"", &format!("\"{arch}\""))).unwrap();
    }
    let body = format!("file://{}", file.display());
    by_stack.aws(&[
        "cloudformation",
        "create-stack",
        "--stack-name",
        "sqs-worker",
        "--template-body",
        &body,
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--parameters",
        "ParameterKey=SqsWorkerCodeBucket,ParameterValue=code",
        "ParameterKey=SqsWorkerCodeKey,ParameterValue=sqs-worker.zip",
    ]);
    let stack: Value = serde_json::from_str(&by_stack.aws(&[
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        "sqs-worker",
    ]))
    .unwrap();
    assert_eq!(
        stack["Stacks"][0]["StackStatus"], "CREATE_COMPLETE",
        "{stack:#}"
    );
    let resources: Value = serde_json::from_str(&by_stack.aws(&[
        "cloudformation",
        "list-stack-resources",
        "--stack-name",
        "sqs-worker",
    ]))
    .unwrap();
    let mut kinds: Vec<&str> = resources["StackResourceSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|resource| resource["ResourceType"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "AWS::IAM::Role",
            "AWS::Lambda::EventSourceMapping",
            "AWS::Lambda::Function"
        ]
    );

    // moto's CloudFormation creates functions from their Code, Handler, Role, Runtime,
    // Description, MemorySize, Timeout, Environment and concurrency only (its
    // `create_from_cloudformation_json`): the tags, architecture, tracing, storage and logging
    // are checked in the template itself (`the_template_holds_what_deploy_makes_...`).
    let mut made = deployed(&by_stack, "sqs-worker").await;
    let mut expected = deployed(&by_deploy, "sqs-worker").await;
    assert_eq!(expected["tags"]["lambdakit:function"], "sqs-worker");
    for what in [&mut made, &mut expected] {
        what.as_object_mut().unwrap().remove("tags");
    }
    assert_eq!(made, expected);
    assert_eq!(
        made["role"],
        format!("arn:aws:iam::{ACCOUNT}:role/sqs-worker-lambdakit")
    );
    assert_eq!(
        made["mappings"][0]["source"],
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:orders")
    );
}
