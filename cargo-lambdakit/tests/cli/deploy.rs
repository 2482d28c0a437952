//! `cargo lambdakit deploy` and `destroy` against moto: what they create is read back through
//! the AWS API, redeploying converges, and destroy leaves nothing of theirs behind.

use std::process::Output;

use aws_sdk_lambda::types::FunctionUrlAuthType;
use serde_json::Value;

use crate::moto::{ACCOUNT, Moto, REGION};

pub(crate) fn json(output: &Output) -> Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Each function's changes, as `kind name action` lines.
pub(crate) fn actions(report: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for function in report["functions"].as_array().unwrap() {
        for change in function["changes"].as_array().unwrap() {
            lines.push(format!(
                "{} {} {} {}",
                function["name"].as_str().unwrap(),
                change["kind"].as_str().unwrap(),
                change["name"].as_str().unwrap(),
                change["action"].as_str().unwrap()
            ));
        }
    }
    lines
}

#[tokio::test]
async fn deploy_creates_converges_updates_and_destroy_removes_only_its_own() {
    let Some(moto) = Moto::start() else { return };
    moto.create_trigger_sources();
    // Someone else's notification on the bucket deploy adds its own to.
    let theirs = format!(
        r#"{{"TopicConfigurations":[{{"Id":"theirs","TopicArn":"arn:aws:sns:{REGION}:{ACCOUNT}:news","Events":["s3:ObjectRemoved:*"]}}]}}"#
    );
    moto.aws(&[
        "s3api",
        "put-bucket-notification-configuration",
        "--bucket",
        "uploads",
        "--notification-configuration",
        &theirs,
    ]);

    let created = json(&moto.lambdakit(&["deploy", "--output", "json"]));
    let lines = actions(&created);
    for expected in [
        "behave role behave-lambdakit create",
        "behave function behave create",
        &format!("behave trigger sqs arn:aws:sqs:{REGION}:{ACCOUNT}:jobs create"),
        "behave trigger s3 uploads create",
        "behave trigger schedule rate(1 hour) create",
        &format!("behave trigger sns arn:aws:sns:{REGION}:{ACCOUNT}:news create"),
        "broken-setup function broken-setup create",
        &format!(
            "broken-setup trigger kinesis arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/clicks create"
        ),
        "web concurrency reserved 3 create",
        "web version 1 create",
        "web alias live create",
        "web url web create",
        "triggers trigger logs /aws/lambda/behave create",
        "triggers trigger firehose clicks-delivery create",
    ] {
        assert!(
            lines.iter().any(|line| line == expected),
            "{expected} not in {lines:#?}"
        );
    }
    let web = created["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|function| function["name"] == "web")
        .unwrap();
    assert_eq!(web["version"], "1");
    assert!(
        web["url"]
            .as_str()
            .is_some_and(|url| url.starts_with("http")),
        "{web}"
    );

    let config = moto.config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let behave = lambda
        .get_function()
        .function_name("behave")
        .send()
        .await
        .unwrap();
    let configuration = behave.configuration().unwrap();
    assert_eq!(configuration.memory_size(), Some(256));
    assert_eq!(configuration.timeout(), Some(1));
    assert_eq!(configuration.handler(), Some("bootstrap"));
    assert_eq!(
        configuration.runtime().map(|runtime| runtime.as_str()),
        Some("provided.al2023")
    );
    assert_eq!(configuration.description(), Some("Misbehaves on request"));
    assert_eq!(
        configuration
            .environment()
            .and_then(|environment| environment.variables())
            .and_then(|variables| variables.get("GREETING"))
            .map(String::as_str),
        Some("hello from the config")
    );
    // `trust = "amazon-roots"`: `SSL_CERT_FILE` at the PEM the zip holds, where Lambda puts it.
    assert_eq!(
        configuration
            .environment()
            .and_then(|environment| environment.variables())
            .and_then(|variables| variables.get("SSL_CERT_FILE"))
            .map(String::as_str),
        Some("/var/task/amazon-root-cas.pem")
    );
    assert_eq!(
        configuration.role(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/behave-lambdakit").as_str())
    );
    let tags = behave.tags().unwrap();
    assert_eq!(
        tags.get("lambdakit:package").map(String::as_str),
        Some("test-functions")
    );
    assert_eq!(
        tags.get("lambdakit:function").map(String::as_str),
        Some("behave")
    );
    assert_eq!(tags.get("team").map(String::as_str), Some("runtime"));
    let local_sha = created_code_sha(&moto);
    assert_eq!(configuration.code_sha256(), Some(local_sha.as_str()));
    let last_modified = configuration.last_modified().unwrap().to_owned();

    // The role: Lambda may assume it; it may write its logs and read its queue.
    let iam = aws_sdk_iam::Client::new(&config);
    let policy = iam
        .get_role_policy()
        .role_name("behave-lambdakit")
        .policy_name("lambdakit")
        .send()
        .await
        .unwrap();
    let policy = cargo_lambdakit::percent::decode(policy.policy_document());
    assert!(
        policy.contains("logs:PutLogEvents") && policy.contains("sqs:ReceiveMessage"),
        "{policy}"
    );
    assert!(
        policy.contains(&format!("arn:aws:sqs:{REGION}:{ACCOUNT}:jobs")),
        "{policy}"
    );

    // The triggers, as their services report them.
    let mappings = lambda
        .list_event_source_mappings()
        .function_name("behave")
        .send()
        .await
        .unwrap();
    let mapping = &mappings.event_source_mappings()[0];
    assert_eq!(
        mapping.event_source_arn(),
        Some(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:jobs").as_str())
    );
    assert_eq!(mapping.batch_size(), Some(5));
    assert_eq!(mapping.function_response_types().len(), 1);
    let s3 = moto.s3().await;
    let notifications = s3
        .get_bucket_notification_configuration()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
    assert_eq!(
        notifications.topic_configurations().len(),
        1,
        "someone else's notification is kept"
    );
    let ours = &notifications.lambda_function_configurations()[0];
    assert!(ours.lambda_function_arn().ends_with(":function:behave"));
    assert!(ours.id().unwrap().starts_with("lambdakit-behave-"));
    let events = aws_sdk_eventbridge::Client::new(&config);
    let targets = events
        .list_targets_by_rule()
        .rule("lambdakit-behave-0")
        .send()
        .await
        .unwrap();
    let target = &targets.targets()[0];
    assert!(target.arn().ends_with(":function:behave"));
    assert_eq!(target.input(), Some(r#"{"job":"hourly"}"#));
    let rule = events
        .describe_rule()
        .name("lambdakit-behave-0")
        .send()
        .await
        .unwrap();
    assert_eq!(rule.schedule_expression(), Some("rate(1 hour)"));
    let sns = aws_sdk_sns::Client::new(&config);
    let topic = format!("arn:aws:sns:{REGION}:{ACCOUNT}:news");
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    assert!(subscriptions.subscriptions().iter().any(|subscription| {
        subscription.protocol() == Some("lambda")
            && subscription
                .endpoint()
                .is_some_and(|endpoint| endpoint.ends_with(":function:behave"))
    }));
    let policy = lambda
        .get_policy()
        .function_name("behave")
        .send()
        .await
        .unwrap();
    let policy = policy.policy().unwrap();
    for principal in [
        "s3.amazonaws.com",
        "events.amazonaws.com",
        "sns.amazonaws.com",
    ] {
        assert!(
            policy.contains(principal),
            "{principal} may not invoke: {policy}"
        );
    }

    // The log subscription: a filter deploy names, and the permission for CloudWatch Logs.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let filters = logs
        .describe_subscription_filters()
        .log_group_name("/aws/lambda/behave")
        .send()
        .await
        .unwrap();
    let filter = &filters.subscription_filters()[0];
    assert_eq!(filter.filter_name(), Some("lambdakit-triggers"));
    assert_eq!(filter.filter_pattern(), Some("ERROR"));
    assert!(
        filter
            .destination_arn()
            .is_some_and(|arn| arn.ends_with(":function:triggers")),
        "{filter:?}"
    );
    let policy = lambda
        .get_policy()
        .function_name("triggers")
        .send()
        .await
        .unwrap();
    let policy = policy.policy().unwrap();
    assert!(
        policy.contains("logs.amazonaws.com")
            && policy.contains(&format!(
                "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/behave:*"
            )),
        "CloudWatch Logs may not invoke: {policy}"
    );

    // The delivery stream: the function as its Lambda processor, beside the processor it had,
    // and recorded in the function's tag.
    let firehose = aws_sdk_firehose::Client::new(&config);
    let triggers_arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:triggers");
    assert_eq!(
        processors(&firehose).await,
        (
            true,
            vec![
                vec!["AppendDelimiterToRecord".to_owned()],
                vec![
                    "Lambda".to_owned(),
                    format!("LambdaArn={triggers_arn}"),
                    "BufferIntervalInSeconds=60".to_owned(),
                ],
            ]
        )
    );
    let tags = lambda
        .list_tags()
        .resource(&triggers_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags()
            .and_then(|tags| tags.get("lambdakit:firehose"))
            .map(String::as_str),
        Some("clicks-delivery")
    );

    // The streams: Kinesis by name, DynamoDB by its table, each read by the function's role.
    let table = aws_sdk_dynamodb::Client::new(&config)
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .unwrap();
    let orders_stream = table
        .table()
        .unwrap()
        .latest_stream_arn()
        .unwrap()
        .to_owned();
    let mappings = lambda
        .list_event_source_mappings()
        .function_name("broken-setup")
        .send()
        .await
        .unwrap();
    let mut sources: Vec<(&str, Option<i32>)> = mappings
        .event_source_mappings()
        .iter()
        .map(|mapping| (mapping.event_source_arn().unwrap(), mapping.batch_size()))
        .collect();
    sources.sort();
    let clicks = format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/clicks");
    assert_eq!(
        sources,
        [
            (orders_stream.as_str(), Some(50)),
            (clicks.as_str(), Some(100))
        ]
    );
    // Kinesis's failures as its trigger asks; DynamoDB's as Lambda's defaults.
    let failures: Vec<(Option<bool>, Option<i32>, Option<i32>)> = sources
        .iter()
        .map(|(source, _)| {
            let mapping = mappings
                .event_source_mappings()
                .iter()
                .find(|mapping| mapping.event_source_arn() == Some(*source))
                .unwrap();
            (
                mapping.bisect_batch_on_function_error(),
                mapping.maximum_retry_attempts(),
                mapping.maximum_record_age_in_seconds(),
            )
        })
        .collect();
    assert_eq!(
        failures,
        [
            (Some(false), Some(-1), Some(-1)),
            (Some(true), Some(3), Some(3600))
        ]
    );
    let policy = iam
        .get_role_policy()
        .role_name("broken-setup-lambdakit")
        .policy_name("lambdakit")
        .send()
        .await
        .unwrap();
    let policy = cargo_lambdakit::percent::decode(policy.policy_document());
    assert!(
        policy.contains("dynamodb:GetRecords") && policy.contains(&orders_stream),
        "{policy}"
    );
    assert!(
        policy.contains("kinesis:GetRecords") && policy.contains(&clicks),
        "{policy}"
    );

    let http = lambda
        .get_function_configuration()
        .function_name("http")
        .send()
        .await
        .unwrap();
    let layers: Vec<&str> = http
        .layers()
        .iter()
        .filter_map(|layer| layer.arn())
        .collect();
    assert_eq!(
        layers,
        [format!("arn:aws:lambda:{REGION}:{ACCOUNT}:layer:tools:1")]
    );

    // The web function: tracing, storage, its alias, reserved concurrency and public URL.
    let web = lambda
        .get_function_configuration()
        .function_name("web")
        .send()
        .await
        .unwrap();
    assert_eq!(
        web.tracing_config()
            .and_then(|tracing| tracing.mode())
            .map(|mode| mode.as_str()),
        Some("Active")
    );
    assert_eq!(
        web.ephemeral_storage().map(|storage| storage.size()),
        Some(1024)
    );
    let policy = iam
        .get_role_policy()
        .role_name("web-lambdakit")
        .policy_name("lambdakit")
        .send()
        .await
        .unwrap();
    // Active tracing: the role may send X-Ray what Lambda's daemon relays, as the Lambda
    // console grants it ("Visualize Lambda function invocations using AWS X-Ray").
    let policy: Value =
        serde_json::from_str(&cargo_lambdakit::percent::decode(policy.policy_document())).unwrap();
    let xray = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|statement| statement["Sid"] == "XRay")
        .unwrap_or_else(|| panic!("no X-Ray statement: {policy}"));
    assert_eq!(xray["Effect"], "Allow");
    assert_eq!(
        xray["Action"],
        serde_json::json!(["xray:PutTraceSegments", "xray:PutTelemetryRecords"])
    );
    assert_eq!(xray["Resource"], serde_json::json!(["*"]));
    // A function without tracing gets no X-Ray permission.
    let untraced = iam
        .get_role_policy()
        .role_name("behave-lambdakit")
        .policy_name("lambdakit")
        .send()
        .await
        .unwrap();
    assert!(
        !cargo_lambdakit::percent::decode(untraced.policy_document()).contains("xray:"),
        "{untraced:?}"
    );
    let alias = lambda
        .get_alias()
        .function_name("web")
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(alias.function_version(), Some("1"));
    let concurrency = lambda
        .get_function_concurrency()
        .function_name("web")
        .send()
        .await
        .unwrap();
    assert_eq!(concurrency.reserved_concurrent_executions(), Some(3));
    let url = lambda
        .get_function_url_config()
        .function_name("web")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(url.auth_type(), &FunctionUrlAuthType::None);
    assert_eq!(
        url.cors().map(|cors| cors.allow_methods().to_vec()),
        Some(vec!["GET".to_owned(), "POST".to_owned()])
    );
    let web_policy = lambda
        .get_policy()
        .function_name("web")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert!(
        web_policy
            .policy()
            .unwrap()
            .contains("lambda:InvokeFunctionUrl")
    );

    // Deploying again changes nothing, and uploads no code.
    let again = json(&moto.lambdakit(&["deploy", "--output", "json"]));
    let changed: Vec<String> = actions(&again)
        .into_iter()
        .filter(|line| !line.ends_with(" unchanged"))
        .collect();
    assert!(changed.is_empty(), "a second deploy changed {changed:#?}");

    // A processor changed behind deploy's back is put back as the settings say.
    let described = firehose
        .describe_delivery_stream()
        .delivery_stream_name("clicks-delivery")
        .send()
        .await
        .unwrap();
    let described = described.delivery_stream_description().unwrap();
    let parameter = |name: &str, value: &str| {
        aws_sdk_firehose::types::ProcessorParameter::builder()
            .parameter_name(name.into())
            .parameter_value(value)
            .build()
            .unwrap()
    };
    let processing = aws_sdk_firehose::types::ProcessingConfiguration::builder()
        .enabled(true)
        .processors(
            aws_sdk_firehose::types::Processor::builder()
                .r#type(aws_sdk_firehose::types::ProcessorType::Lambda)
                .parameters(parameter("LambdaArn", &triggers_arn))
                .parameters(parameter("BufferIntervalInSeconds", "300"))
                .build()
                .unwrap(),
        )
        .build();
    firehose
        .update_destination()
        .delivery_stream_name("clicks-delivery")
        .current_delivery_stream_version_id(described.version_id())
        .destination_id(described.destinations()[0].destination_id())
        .http_endpoint_destination_update(
            aws_sdk_firehose::types::HttpEndpointDestinationUpdate::builder()
                .processing_configuration(processing)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mended = json(&moto.lambdakit(&["deploy", "--bin", "triggers", "--output", "json"]));
    let firehose_change = mended["functions"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["name"] == "firehose clicks-delivery")
        .unwrap();
    assert_eq!(firehose_change["action"], "update", "{mended}");
    assert_eq!(
        firehose_change["details"],
        serde_json::json!(["BufferIntervalInSeconds 300 → 60"])
    );
    assert_eq!(
        processors(&firehose).await.1,
        [vec![
            "Lambda".to_owned(),
            format!("LambdaArn={triggers_arn}"),
            "BufferIntervalInSeconds=60".to_owned(),
        ]]
    );
    let behave = lambda
        .get_function_configuration()
        .function_name("behave")
        .send()
        .await
        .unwrap();
    assert_eq!(behave.last_modified(), Some(last_modified.as_str()));

    // A setting changed on the command line: the configuration is updated, the code is not.
    let updated = json(&moto.lambdakit(&[
        "deploy", "--bin", "behave", "--memory", "512", "--output", "json",
    ]));
    let lines = actions(&updated);
    assert!(
        lines.contains(&"behave function behave update".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"behave code behave unchanged".to_owned()),
        "{lines:#?}"
    );
    assert_eq!(
        updated["functions"][0]["changes"][1]["details"][0],
        "memory 256 MB → 512 MB"
    );
    let behave = lambda
        .get_function_configuration()
        .function_name("behave")
        .send()
        .await
        .unwrap();
    assert_eq!(behave.memory_size(), Some(512));

    // Destroy, dry: a plan, and everything still there.
    let plan = moto.lambdakit(&["destroy", "--dry-run"]);
    assert!(plan.status.success(), "{plan:?}");
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains("- function  behave") && plan.contains("- role      behave-lambdakit"),
        "{plan}"
    );
    assert!(plan.ends_with("dry run: nothing was removed\n"), "{plan}");
    assert_eq!(
        lambda
            .list_functions()
            .send()
            .await
            .unwrap()
            .functions()
            .len(),
        6
    );

    let destroyed = json(&moto.lambdakit(&["destroy", "--output", "json"]));
    assert_eq!(destroyed["functions"].as_array().unwrap().len(), 6);
    assert!(
        lambda
            .list_functions()
            .send()
            .await
            .unwrap()
            .functions()
            .is_empty()
    );
    let roles = iam.list_roles().send().await.unwrap();
    assert!(
        !roles
            .roles()
            .iter()
            .any(|role| role.role_name().ends_with("-lambdakit")),
        "roles are left"
    );
    let mappings = lambda.list_event_source_mappings().send().await.unwrap();
    assert!(
        mappings.event_source_mappings().is_empty(),
        "mappings are left"
    );
    let notifications = s3
        .get_bucket_notification_configuration()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
    assert!(notifications.lambda_function_configurations().is_empty());
    assert_eq!(
        notifications.topic_configurations().len(),
        1,
        "someone else's notification is kept"
    );
    let rules = events.list_rules().send().await.unwrap();
    assert!(rules.rules().is_empty(), "rules are left");
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    assert!(
        subscriptions.subscriptions().is_empty(),
        "subscriptions are left"
    );
    let filters = logs
        .describe_subscription_filters()
        .log_group_name("/aws/lambda/behave")
        .send()
        .await
        .unwrap();
    assert!(
        filters.subscription_filters().is_empty(),
        "subscription filters are left"
    );
    assert_eq!(
        processors(&firehose).await,
        (false, Vec::new()),
        "the Lambda processor is left"
    );
    let nothing = moto.lambdakit(&["destroy"]);
    assert!(
        String::from_utf8_lossy(&nothing.stdout)
            .contains("nothing is deployed from `test-functions`")
    );
}

/// Whether the delivery stream `clicks-delivery` processes records, and its processors: each
/// its type, then its parameters as `name=value`.
async fn processors(firehose: &aws_sdk_firehose::Client) -> (bool, Vec<Vec<String>>) {
    let described = firehose
        .describe_delivery_stream()
        .delivery_stream_name("clicks-delivery")
        .send()
        .await
        .unwrap();
    let destination = &described
        .delivery_stream_description()
        .unwrap()
        .destinations()[0];
    let processing = destination
        .http_endpoint_destination_description()
        .unwrap()
        .processing_configuration()
        .unwrap();
    let processors = processing
        .processors()
        .iter()
        .map(|processor| {
            let mut described = vec![processor.r#type().as_str().to_owned()];
            described.extend(processor.parameters().iter().map(|parameter| {
                format!(
                    "{}={}",
                    parameter.parameter_name().as_str(),
                    parameter.parameter_value()
                )
            }));
            described
        })
        .collect();
    (processing.enabled().unwrap_or(false), processors)
}

/// The CodeSha256 `build` gives the function `behave` (the same binary deploy built).
fn created_code_sha(moto: &Moto) -> String {
    let report = json(&moto.lambdakit(&["build", "--bin", "behave", "--output", "json"]));
    report["builds"][0]["code_sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A redeploy with nothing changed runs no cargo at all: `cargo metadata`'s answer and the
/// build are both taken from the last run while nothing they read changed; a touched source
/// builds again (and, its code the same, changes nothing on AWS).
#[test]
fn an_unchanged_project_is_deployed_again_without_running_cargo() {
    let Some(moto) = Moto::start() else { return };
    // Its own package: no other test builds it with other options, which would rebuild it.
    let package = "bench-lambda-kit-echo";
    let scratch = std::env::temp_dir().join(format!("lambdakit-no-cargo-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let calls = scratch.join("cargo-calls");
    let cargo = scratch.join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nexec cargo \"$@\"\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let deploy = |what: &str| {
        let _ = std::fs::remove_file(&calls);
        let output = moto
            .command(package, &["deploy", "--output", "json"])
            .env("CARGO", &cargo)
            .output()
            .unwrap();
        let report = json(&output);
        let ran = std::fs::read_to_string(&calls).unwrap_or_default();
        eprintln!(
            "{what}: cargo {:?}\n{}",
            ran.lines().collect::<Vec<_>>(),
            stderr(&output)
        );
        (actions(&report), ran, stderr(&output))
    };
    let (created, ran, _) = deploy("first");
    assert!(
        created.contains(&format!("{package} function {package} create")),
        "{created:#?}"
    );
    assert!(ran.lines().any(|call| call == "build"), "{ran}");

    let (again, ran, log) = deploy("again");
    assert!(
        again.iter().all(|line| line.ends_with(" unchanged")),
        "{again:#?}"
    );
    assert_eq!(ran, "", "an unchanged redeploy ran cargo");
    assert!(log.contains("up to date"), "{log}");

    // A source touched (content the same): cargo builds, the code on AWS stays.
    let main = crate::support::workspace().join("tests/bench/subjects/lambda-kit-echo/src/main.rs");
    std::fs::File::options()
        .append(true)
        .open(&main)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    let (touched, ran, _) = deploy("touched");
    assert!(
        touched.iter().all(|line| line.ends_with(" unchanged")),
        "{touched:#?}"
    );
    assert!(ran.lines().any(|call| call == "build"), "{ran}");
    assert!(
        !ran.lines().any(|call| call == "metadata"),
        "metadata is still kept: {ran}"
    );
    let (_, ran, _) = deploy("after the build");
    assert_eq!(ran, "", "the new build is kept too");
    std::fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn a_dry_run_prints_the_plan_and_changes_nothing() {
    let Some(moto) = Moto::start() else { return };
    moto.create_trigger_sources();
    let output = moto.lambdakit(&["deploy", "--dry-run"]);
    assert!(output.status.success(), "{output:?}");
    let table = moto.aws(&["dynamodb", "describe-table", "--table-name", "orders"]);
    let table: Value = serde_json::from_str(&table).unwrap();
    let orders_stream = table["Table"]["LatestStreamArn"].as_str().unwrap();
    let arn = |name: &str| format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}");
    let expected = format!(
        "batch ({})
  + role      batch-lambdakit
  + function  batch
behave ({})
  + role      behave-lambdakit
  + function  behave
  + trigger   sqs arn:aws:sqs:{REGION}:{ACCOUNT}:jobs
  + trigger   s3 uploads
  + trigger   schedule rate(1 hour)
  + trigger   sns arn:aws:sns:{REGION}:{ACCOUNT}:news
broken-setup ({})
  + role      broken-setup-lambdakit
  + function  broken-setup
  + trigger   dynamodb {orders_stream}
  + trigger   kinesis arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/clicks
http ({})
  + role      http-lambdakit
  + function  http
triggers ({})
  + role      triggers-lambdakit
  + function  triggers
  + trigger   logs /aws/lambda/behave
  + trigger   firehose clicks-delivery
web ({})
  + role      web-lambdakit
  + function  web
  + concurrency reserved 3
  + version   next
  + alias     live
  + url       web
dry run: nothing was changed
",
        arn("batch"),
        arn("behave"),
        arn("broken-setup"),
        arn("http"),
        arn("triggers"),
        arn("web")
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
    let functions = moto.aws(&["lambda", "list-functions"]);
    assert!(!functions.contains("FunctionName"), "{functions}");
    let roles = moto.aws(&["iam", "list-roles"]);
    assert!(!roles.contains("-lambdakit"), "{roles}");
}

#[tokio::test]
async fn code_goes_through_s3_when_a_bucket_is_given() {
    let Some(moto) = Moto::start() else { return };
    moto.create_trigger_sources();
    moto.create_bucket("code");
    let output = moto.lambdakit(&["deploy", "--bin", "broken-setup", "--upload-bucket", "code"]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stderr(&output).contains("to s3://code/lambdakit/broken-setup/"),
        "{}",
        stderr(&output)
    );
    let config = moto.config().await;
    let s3 = moto.s3().await;
    let objects = s3.list_objects_v2().bucket("code").send().await.unwrap();
    let key = objects.contents()[0].key().unwrap();
    assert!(
        key.starts_with("lambdakit/broken-setup/") && key.ends_with(".zip"),
        "{key}"
    );
    let lambda = aws_sdk_lambda::Client::new(&config);
    let function = lambda
        .get_function_configuration()
        .function_name("broken-setup")
        .send()
        .await
        .unwrap();
    assert!(function.code_size() > 0);
}

#[tokio::test]
async fn functions_in_the_way_are_refused_with_a_way_out() {
    let Some(moto) = Moto::start() else { return };
    moto.create_trigger_sources();
    let config = moto.config().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let role = iam
        .create_role()
        .role_name("handmade")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    let role = role.role().unwrap().arn().to_owned();
    let lambda = aws_sdk_lambda::Client::new(&config);
    let zip =
        std::fs::read(crate::support::workspace().join("target/lambda/broken-setup/bootstrap.zip"))
            .or_else(|_| {
                // Not built yet: build it.
                let output = moto.lambdakit(&["build", "--bin", "broken-setup"]);
                assert!(output.status.success(), "{output:?}");
                std::fs::read(
                    crate::support::workspace().join("target/lambda/broken-setup/bootstrap.zip"),
                )
            })
            .unwrap();
    let create = |architecture: &str, tagged: bool| {
        let mut request = lambda
            .create_function()
            .function_name("broken-setup")
            .runtime(aws_sdk_lambda::types::Runtime::from("provided.al2023"))
            .handler("bootstrap")
            .role(&role)
            .architectures(aws_sdk_lambda::types::Architecture::from(architecture))
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_sdk_lambda::primitives::Blob::new(zip.clone()))
                    .build(),
            );
        if tagged {
            request = request
                .tags("lambdakit:package", "test-functions")
                .tags("lambdakit:function", "broken-setup");
        }
        request.send()
    };

    // A function lambdakit did not create.
    create("x86_64", false).await.unwrap();
    let refused = moto.lambdakit(&["deploy", "--bin", "broken-setup"]);
    assert_eq!(refused.status.code(), Some(4));
    assert_eq!(
        stderr(&refused).lines().rev().take(2).collect::<Vec<_>>(),
        [
            "hint: pass `--adopt` to take it over, or give yours another `name`",
            "error: the function `broken-setup` exists on AWS, and lambdakit did not create it",
        ]
    );
    let adopted = moto.lambdakit(&["deploy", "--bin", "broken-setup", "--adopt"]);
    assert!(adopted.status.success(), "{adopted:?}");
    let tags = lambda
        .get_function()
        .function_name("broken-setup")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags()
            .and_then(|tags| tags.get("lambdakit:function"))
            .map(String::as_str),
        Some("broken-setup")
    );
    lambda
        .delete_function()
        .function_name("broken-setup")
        .send()
        .await
        .unwrap();

    // A function of another architecture.
    create("arm64", true).await.unwrap();
    let refused = moto.lambdakit(&["deploy", "--bin", "broken-setup"]);
    assert_eq!(refused.status.code(), Some(4));
    let said = stderr(&refused);
    assert!(
        said.contains(
            "error: the function `broken-setup` runs on arm64 on AWS, but is built for x86_64 here"
        ),
        "{said}"
    );
    assert!(
        said.contains("or pass `--change-architecture` to move it"),
        "{said}"
    );
}

#[test]
fn missing_region_or_credentials_are_named_with_where_to_set_them() {
    let Some(moto) = Moto::start() else { return };
    let run = |remove: &[&str]| {
        let mut command = moto.command("test-functions", &["deploy", "--bin", "behave"]);
        for variable in remove {
            command.env_remove(variable);
        }
        command.output().unwrap()
    };
    let output = run(&["AWS_REGION"]);
    assert_eq!(output.status.code(), Some(4));
    let said = stderr(&output);
    assert!(
        said.contains("error: no AWS region is configured\nhint: set `AWS_REGION`"),
        "{said}"
    );
    let output = run(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
    assert_eq!(output.status.code(), Some(4));
    let said = stderr(&output);
    assert!(
        said.contains("error: no AWS credentials were found"),
        "{said}"
    );
    assert!(
        said.contains("hint: set `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`"),
        "{said}"
    );
}

#[tokio::test]
async fn access_denied_names_the_permission_needed() {
    // moto checks IAM permissions after its first few requests: those create a user with none.
    let Some(moto) = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "2")]) else {
        return;
    };
    let iam = aws_sdk_iam::Client::new(&moto.config().await);
    iam.create_user().user_name("nobody").send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name("nobody")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    let output = moto
        .command("test-functions", &["deploy", "--bin", "behave"])
        .env("AWS_ACCESS_KEY_ID", key.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", key.secret_access_key())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    let said = stderr(&output);
    assert!(said.contains("error: AWS refused `"), "{said}");
    assert!(
        said.contains("hint: the credentials' identity needs the IAM permission `"),
        "{said}"
    );
}

#[test]
fn a_binary_for_another_glibc_is_refused_before_any_aws_call() {
    // No AWS at all: the check comes first.
    let mut command = crate::support::lambdakit();
    command.args([
        "deploy",
        "--locked",
        "-p",
        "test-functions",
        "--bin",
        "behave",
        "--runtime",
        "provided.al2",
        "--linker",
        "gcc",
        "--manifest-path",
    ]);
    command.arg(crate::support::workspace().join("Cargo.toml"));
    command
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", REGION);
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let said = stderr(&output);
    assert!(
        said.contains("error: `behave` would not run on Lambda: it needs GLIBC_2."),
        "{said}"
    );
    assert!(
        said.contains("newer than the glibc 2.26 of `provided.al2`"),
        "{said}"
    );
}

#[test]
fn a_deploy_stopped_half_way_completes_on_the_next_run() {
    let Some(moto) = Moto::start() else { return };
    moto.create_trigger_sources();
    moto.aws(&["s3api", "delete-bucket", "--bucket", "uploads"]);
    // The bucket's trigger fails after the role, the function and the queue's mapping exist.
    let stopped = moto.lambdakit(&["deploy", "--bin", "behave"]);
    assert_eq!(stopped.status.code(), Some(4), "{stopped:?}");
    assert!(
        stderr(&stopped)
            .contains("error: AWS refused `s3:GetBucketNotificationConfiguration`: NoSuchBucket"),
        "{}",
        stderr(&stopped)
    );
    moto.create_bucket("uploads");
    let resumed = json(&moto.lambdakit(&["deploy", "--bin", "behave", "--output", "json"]));
    assert_eq!(
        actions(&resumed),
        [
            "behave role behave-lambdakit unchanged".to_owned(),
            "behave function behave unchanged".to_owned(),
            "behave code behave unchanged".to_owned(),
            format!("behave trigger sqs arn:aws:sqs:{REGION}:{ACCOUNT}:jobs unchanged"),
            "behave trigger s3 uploads create".to_owned(),
            "behave trigger schedule rate(1 hour) create".to_owned(),
            format!("behave trigger sns arn:aws:sns:{REGION}:{ACCOUNT}:news create"),
        ]
    );
}

#[test]
fn bad_settings_are_refused_before_anything_is_built_or_called() {
    let dir = std::env::temp_dir().join(format!("lambdakit-bad-settings-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    let cases = [
        (
            "memory = 64",
            "error: `package.metadata.lambdakit.memory` must be a number of MB from 128 to 10240",
        ),
        (
            "[[package.metadata.lambdakit.triggers.schedule]]\nexpression = \"cron(0 12 * * *)\"",
            "error: `package.metadata.lambdakit.triggers.schedule[0].expression` is `cron(0 12 * * *)`, with 5 fields; cron takes 6",
        ),
        (
            "timeout = 901",
            "error: `package.metadata.lambdakit.timeout` must be a number of seconds from 1 to 900",
        ),
        (
            "rol = \"x\"",
            "error: `package.metadata.lambdakit.rol` is not a setting; did you mean `role`?; the settings are `memory`",
        ),
    ];
    for (settings, expected) in cases {
        let manifest = format!(
            "[package]\nname = \"bad-settings\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[package.metadata.lambdakit]\n{settings}\n"
        );
        std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        let output = crate::support::lambdakit()
            .args(["deploy", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            // Nothing may reach AWS: there is none here.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{settings}: {output:?}");
        let said = stderr(&output);
        assert!(said.starts_with(expected), "{settings}: {said}");
        assert!(
            said.contains("hint: fix it in `[package.metadata.lambdakit]`"),
            "{said}"
        );
        assert!(!said.contains("Compiling"), "{settings}: it built: {said}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
