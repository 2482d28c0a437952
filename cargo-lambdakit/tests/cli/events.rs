//! The example events read as the AWS event types that functions use (aws_lambda_events), and
//! reach a function through `invoke --event`.

use std::collections::BTreeMap;

use aws_lambda_events::event as aws;
use cargo_lambdakit::events::{KINDS, example};
use serde::de::DeserializeOwned;

use crate::support::{Serve, lambdakit};

fn read<T: DeserializeOwned>(kind: &str, params: &[(&str, &str)]) -> T {
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|&(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let event = example(kind, &params).unwrap();
    serde_json::from_value(event.clone()).unwrap_or_else(|error| {
        panic!("`{kind}` does not read as its AWS type: {error}\n{event:#}")
    })
}

#[test]
fn every_example_reads_as_its_aws_event_type() {
    let v1: aws::apigw::ApiGatewayProxyRequest = read(
        "apigw-v1",
        &[
            ("method", "POST"),
            ("path", "/orders"),
            ("query", "a=1&a=2"),
            ("body", "{}"),
        ],
    );
    assert_eq!(v1.http_method, http::Method::POST);
    assert_eq!(v1.path.as_deref(), Some("/orders"));
    assert_eq!(
        v1.multi_value_query_string_parameters.all("a"),
        Some(vec!["1", "2"])
    );
    let v2: aws::apigw::ApiGatewayV2httpRequest =
        read("apigw-v2", &[("path", "/items"), ("query", "q=x")]);
    assert_eq!(v2.raw_path.as_deref(), Some("/items"));
    assert_eq!(v2.query_string_parameters.first("q"), Some("x"));
    let url: aws::lambda_function_urls::LambdaFunctionUrlRequest =
        read("function-url", &[("method", "PUT"), ("body", "hi")]);
    assert_eq!(url.request_context.http.method.as_deref(), Some("PUT"));
    assert_eq!(url.body.as_deref(), Some("hi"));
    let alb: aws::alb::AlbTargetGroupRequest = read("alb", &[("path", "/health")]);
    assert_eq!(alb.path.as_deref(), Some("/health"));
    let put: aws::s3::S3Event = read(
        "s3-put",
        &[("bucket", "photos"), ("key", "cat.png"), ("size", "42")],
    );
    let record = &put.records[0];
    assert_eq!(record.event_name.as_deref(), Some("ObjectCreated:Put"));
    assert_eq!(
        (
            record.s3.bucket.name.as_deref(),
            record.s3.object.key.as_deref(),
            record.s3.object.size
        ),
        (Some("photos"), Some("cat.png"), Some(42))
    );
    let delete: aws::s3::S3Event = read("s3-delete", &[]);
    assert_eq!(
        delete.records[0].event_name.as_deref(),
        Some("ObjectRemoved:Delete")
    );
    let sqs: aws::sqs::SqsEvent = read("sqs", &[("body", "order 7"), ("queue", "orders")]);
    assert_eq!(sqs.records[0].body.as_deref(), Some("order 7"));
    assert_eq!(
        sqs.records[0].event_source_arn.as_deref(),
        Some("arn:aws:sqs:us-east-1:123456789012:orders")
    );
    let sns: aws::sns::SnsEvent = read("sns", &[("message", "ping")]);
    assert_eq!(sns.records[0].sns.message, "ping");
    let bridge: aws::eventbridge::EventBridgeEvent<serde_json::Value> =
        read("eventbridge", &[("detail", r#"{"id": 7}"#)]);
    assert_eq!(bridge.detail, serde_json::json!({"id": 7}));
    let schedule: aws::cloudwatch_events::CloudWatchEvent<serde_json::Value> =
        read("schedule", &[("rule", "nightly")]);
    assert_eq!(schedule.detail_type.as_deref(), Some("Scheduled Event"));
    assert_eq!(
        schedule.resources,
        ["arn:aws:events:us-east-1:123456789012:rule/nightly"]
    );
    for event_name in ["INSERT", "MODIFY", "REMOVE"] {
        let stream: aws::dynamodb::Event =
            read("dynamodb", &[("event-name", event_name), ("id", "o-1")]);
        assert_eq!(stream.records[0].event_name, event_name);
    }
    let kinesis: aws::kinesis::KinesisEvent = read("kinesis", &[("data", "raw bytes")]);
    assert_eq!(kinesis.records[0].kinesis.data.0, b"raw bytes");

    let ses: aws::ses::SimpleEmailEvent = read(
        "ses",
        &[
            ("from", "ada@example.com"),
            ("recipient", "orders@example.com"),
        ],
    );
    assert_eq!(
        ses.records[0].ses.mail.source.as_deref(),
        Some("ada@example.com")
    );
    assert_eq!(
        ses.records[0].ses.receipt.recipients,
        ["orders@example.com"]
    );
    let iot: serde_json::Value = read("iot", &[("topic", "a/b"), ("message", r#"{"on": true}"#)]);
    assert_eq!(iot, serde_json::json!({"on": true, "topic": "a/b"}));
    let signup: aws::cognito::CognitoEventUserPoolsPreSignup =
        read("cognito-pre-signup", &[("email", "ada@example.com")]);
    assert_eq!(
        signup
            .request
            .user_attributes
            .get("email")
            .map(String::as_str),
        Some("ada@example.com")
    );
    let token: aws::cognito::CognitoEventUserPoolsPreTokenGen =
        read("cognito-pre-token", &[("username", "ada")]);
    assert_eq!(
        token.cognito_event_user_pools_header.user_name.as_deref(),
        Some("ada")
    );
    // `LogsEvent` reads from text only (its data's visitor borrows the key).
    let logs = example(
        "logs",
        &BTreeMap::from([("message".to_owned(), "boom".to_owned())]),
    )
    .unwrap();
    let logs: aws::cloudwatch_logs::LogsEvent = serde_json::from_str(&logs.to_string()).unwrap();
    assert_eq!(logs.aws_logs.data.log_events[0].message, "boom");
    let kafka: aws::kafka::KafkaEvent = read("kafka", &[("topic", "t"), ("partition", "3")]);
    assert_eq!(kafka.records["t-3"][0].partition, 3);
    let firehose: aws::firehose::KinesisFirehoseEvent =
        read("firehose", &[("data", "x"), ("records", "3")]);
    assert_eq!(firehose.records.len(), 3);
    assert_eq!(firehose.records[2].data.0, b"x");

    // Every kind is covered above.
    assert_eq!(KINDS.len(), 19);
}

#[test]
fn unknown_kinds_and_parameters_are_named_with_the_valid_ones() {
    let none = BTreeMap::new();
    let error = example("s3-upload", &none).unwrap_err().to_string();
    assert!(
        error.contains("`s3-upload`") && error.contains("s3-put, s3-delete"),
        "{error}"
    );
    let params = BTreeMap::from([("bukket".to_owned(), "x".to_owned())]);
    let error = example("s3-put", &params).unwrap_err().to_string();
    assert!(
        error.contains(
            "`--param bukket` is not a parameter of `s3-put`; its parameters are bucket, key, size"
        ),
        "{error}"
    );
}

#[test]
fn malformed_trigger_parameters_are_named_with_the_fix() {
    let error = |kind: &str, name: &str, value: &str| {
        let params = BTreeMap::from([(name.to_owned(), value.to_owned())]);
        example(kind, &params).unwrap_err().to_string()
    };
    let message = error("iot", "message", "[1, 2]");
    assert!(
        message.contains("`--param message` is not a JSON object") && message.contains("message={"),
        "{message}"
    );
    let message = error("kafka", "partition", "first");
    assert!(
        message.contains("`--param partition` is `first`"),
        "{message}"
    );
    let message = error("firehose", "records", "0");
    assert!(
        message.contains("expected a count from 1 to 500"),
        "{message}"
    );
}

/// Each trigger's example event, sent by `invoke --event`, as the function read it with its
/// `lambda_kit::events` type.
#[test]
fn trigger_examples_reach_a_function_as_its_lambda_kit_types() {
    let serve = Serve::start_with("test-functions", &["--bin", "triggers"]);
    let invoke = |kind: &str, params: &[&str]| -> serde_json::Value {
        let mut command = lambdakit();
        command.args([
            "invoke",
            "triggers",
            "--endpoint",
            &serve.endpoint(),
            "--event",
            kind,
        ]);
        for param in params {
            command.args(["--param", param]);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{kind}: {output:?}");
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("{kind}: {error}: {output:?}"))
    };
    use serde_json::json;

    let ses = invoke(
        "ses",
        &[
            "from=ada@example.com",
            "subject=Order 7",
            "recipient=orders@example.com",
        ],
    );
    assert_eq!(
        ses,
        json!({"kind": "ses", "from": "ada@example.com", "subject": "Order 7", "recipients": ["orders@example.com"]})
    );
    let iot = invoke(
        "iot",
        &[
            "topic=sensors/d-7/telemetry",
            r#"message={"celsius": 21.5}"#,
        ],
    );
    assert_eq!(
        iot,
        json!({"kind": "iot", "topic": "sensors/d-7/telemetry", "message": {"celsius": 21.5}})
    );
    let signup = invoke(
        "cognito-pre-signup",
        &["username=ada", "email=ada@example.com"],
    );
    assert_eq!(signup["userName"], "ada");
    assert_eq!(signup["response"]["autoConfirmUser"], true, "{signup}");
    let signup = invoke("cognito-pre-signup", &["email=bob@elsewhere.test"]);
    assert_eq!(signup["response"]["autoConfirmUser"], false, "{signup}");
    let token = invoke("cognito-pre-token", &["username=ada"]);
    assert_eq!(
        token["response"],
        json!({"claimsOverrideDetails": {"claimsToAddOrOverride": {"greeting": "hello ada"}}})
    );
    let logs = invoke(
        "logs",
        &[
            "group=/aws/lambda/orders",
            "stream=s-1",
            "message=ERROR declined",
        ],
    );
    assert_eq!(
        logs,
        json!({"kind": "logs", "group": "/aws/lambda/orders", "stream": "s-1", "messages": ["ERROR declined"]})
    );
    let kafka = invoke(
        "kafka",
        &[
            "topic=payments",
            "partition=2",
            "key=k-1",
            r#"value={"cents": 5}"#,
        ],
    );
    assert_eq!(
        kafka,
        json!({"kind": "kafka", "records": [{
            "topic": "payments", "partition": 2, "key": "k-1", "value": r#"{"cents": 5}"#, "source": "lambdakit"
        }]})
    );
    let firehose = invoke("firehose", &["data=click", "records=2"]);
    assert_eq!(firehose["data"], json!(["click", "click"]));
    let results: Vec<&str> = firehose["response"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["Ok", "Ok"]);
    assert_eq!(
        firehose["response"]["records"][0]["data"], "Q0xJQ0s=",
        "CLICK, base64-encoded"
    );
}

#[test]
fn invoke_sends_an_example_event() {
    let serve = Serve::start("test-functions");
    let output = lambdakit()
        .args([
            "invoke",
            "web",
            "--endpoint",
            &serve.endpoint(),
            "--event",
            "function-url",
            "--param",
            "path=/from/example",
            "--param",
            "method=POST",
            "--param",
            "body=payload",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let body: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (body["path"].as_str(), body["body"].as_str()),
        (Some("/from/example"), Some("payload"))
    );
}

#[test]
fn batch_handlers_report_failed_records_and_metrics_through_serve() {
    let serve = crate::support::Serve::start_with("test-functions", &["--bin", "batch"]);
    let record = |id: &str, body: &str| {
        serde_json::json!({
            "messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:jobs", "awsRegion": "eu-west-1",
        })
    };
    let event = serde_json::json!({"Records": [record("m-1", "ship"), record("m-2", "fail"), record("m-3", "ship")]});
    let answer = crate::support::invoke(serve.address, "batch", &[], event.to_string().as_bytes());
    assert_eq!(answer.header("X-Amz-Function-Error"), None, "{answer:?}");
    assert_eq!(
        answer.json(),
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]})
    );

    // The built-in example event, through `invoke`.
    let output = crate::support::lambdakit()
        .args([
            "invoke",
            "batch",
            "--endpoint",
            &serve.endpoint(),
            "--event",
            "sqs",
            "--param",
            "body=fail",
        ])
        .output()
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        answer["batchItemFailures"].as_array().map(Vec::len),
        Some(1),
        "{answer}"
    );

    // The metrics: one EMF document per invocation on the function's stdout.
    let metrics: Vec<serde_json::Value> = serve
        .output()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line.get("_aws").is_some() && line.get("Processed").is_some())
        .collect();
    assert!(
        metrics.iter().any(
            |document| document["Processed"] == serde_json::json!([1.0, 1.0])
                || document["Processed"] == 2.0
        ),
        "{metrics:#?}"
    );
    assert_eq!(
        metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "lambdakit-tests"
    );
}

#[test]
fn an_idempotent_operation_runs_once_per_key_on_a_warm_instance() {
    let serve = crate::support::Serve::start_with("test-functions", &["--bin", "behave"]);
    let runs = |body: &str| {
        let answer = crate::support::invoke(serve.address, "behave", &[], body.as_bytes());
        assert_eq!(answer.header("X-Amz-Function-Error"), None, "{answer:?}");
        answer.json()["runs"].clone()
    };
    assert_eq!(runs(r#"{"once": "order-1"}"#), 1);
    // The same key again: the stored answer, the operation not run again.
    assert_eq!(runs(r#"{"once": "order-1"}"#), 1);
    assert_eq!(runs(r#"{"once": "order-2"}"#), 2);
    assert_eq!(runs(r#"{"once": "order-1"}"#), 1);
}
