//! `examples/device-telemetry`: an IoT Core topic rule's readings checked, stored in DynamoDB
//! and counted in EMF metrics; a bad reading is rejected without failing the invocation, a
//! reading the table does not take fails it, and Lambda retries it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use super::{allows, deploy, role_statements, serve};
use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::{Serve, invoke, lambdakit};

const TABLE: &str = "device-readings";
const RULE: &str = "lambdakit_device_telemetry_0";
const SQL: &str =
    "SELECT *, topic() AS topic, timestamp() AS received_at FROM 'devices/+/telemetry'";

/// The table, keyed as the function writes it: the device, then the time of the reading.
fn create_table(moto: &Moto) {
    moto.aws(&[
        "dynamodb",
        "create-table",
        "--table-name",
        TABLE,
        "--attribute-definitions",
        "AttributeName=device_id,AttributeType=S",
        "AttributeName=read_at,AttributeType=N",
        "--key-schema",
        "AttributeName=device_id,KeyType=HASH",
        "AttributeName=read_at,KeyType=RANGE",
        "--billing-mode",
        "PAY_PER_REQUEST",
    ]);
}

/// Milliseconds since the Unix epoch, now.
fn now() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(now.as_millis()).unwrap()
}

/// `cargo lambdakit invoke device-telemetry --event iot` with `params`: the function's answer.
fn invoke_iot(serve: &Serve, params: &[String]) -> Value {
    let mut command = lambdakit();
    command.args([
        "invoke",
        "device-telemetry",
        "--endpoint",
        &serve.endpoint(),
        "--event",
        "iot",
    ]);
    for param in params {
        command.args(["--param", param]);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The message the topic rule sends for `message` published on `devices/DEVICE/telemetry`,
/// received by IoT Core at `received_at`.
fn rule_event(device: &str, mut message: Value, received_at: u64) -> Vec<u8> {
    message["topic"] = json!(format!("devices/{device}/telemetry"));
    message["received_at"] = json!(received_at);
    message.to_string().into_bytes()
}

/// The EMF documents in serve's output (the function's stdout), once there are `count` of
/// them besides the cold start's.
fn metrics_documents(serve: &Serve, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let documents: Vec<Value> = serve
            .output()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|document| document.get("_aws").is_some())
            .filter(|document| document.get("ColdStart").is_none())
            .collect();
        if documents.len() >= count {
            return documents;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{count} metrics documents: {:#?}",
            serve.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn device_telemetry_stores_good_readings_and_counts_the_rejected_ones() {
    let Some(moto) = Moto::start() else { return };
    create_table(&moto);
    deploy(&moto, "device-telemetry");

    // The topic rule, its SQL as written, invoking the function; IoT may invoke it for it.
    let function_arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:device-telemetry");
    let rule: Value =
        serde_json::from_str(&moto.aws(&["iot", "get-topic-rule", "--rule-name", RULE])).unwrap();
    assert_eq!(rule["rule"]["sql"], SQL, "{rule}");
    assert_eq!(
        rule["rule"]["actions"],
        json!([{"lambda": {"functionArn": function_arn}}]),
        "{rule}"
    );
    let lambda = aws_sdk_lambda::Client::new(&moto.config().await);
    let policy = lambda
        .get_policy()
        .function_name("device-telemetry")
        .send()
        .await
        .unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let rule_arn = format!("arn:aws:iot:{REGION}:{ACCOUNT}:rule/{RULE}");
    let granted = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .any(|statement| {
            statement["Principal"]["Service"] == "iot.amazonaws.com"
                && statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule_arn.as_str()
        });
    assert!(granted, "{policy:#}");
    let statements = role_statements(&moto, "device-telemetry").await;
    assert!(
        allows(
            &statements,
            "dynamodb:PutItem",
            "arn:aws:dynamodb:*:*:table/device-readings"
        ),
        "{statements:#?}"
    );

    let serve = serve(&moto, "device-telemetry", &[]);
    let sent = now();

    // `invoke --event iot` sends the message as the rule would, with its topic.
    let good = json!({"temperature": 21.5, "humidity": 40.5, "timestamp": sent});
    let stored = invoke_iot(
        &serve,
        &[
            "topic=devices/sensor-7/telemetry".into(),
            format!("message={good}"),
        ],
    );
    assert_eq!(
        stored,
        json!({"status": "stored", "device_id": "sensor-7", "read_at": sent})
    );
    // Its default message has no humidity and no timestamp.
    let rejected = invoke_iot(&serve, &["topic=devices/sensor-7/telemetry".into()]);
    assert_eq!(
        rejected,
        json!({"status": "rejected", "reason": "MissingField", "problem": "no `humidity`, `timestamp`"})
    );

    // Readings as the rule sends them, received_at included; the bad ones succeed too.
    let received = sent + 2000;
    let readings = [
        (
            "greenhouse-2",
            json!({"temperature": -3.25, "humidity": 88, "timestamp": sent + 1000, "firmware": "1.4"}),
            None,
        ),
        (
            "greenhouse-2",
            json!({"temperature": 120, "humidity": 50, "timestamp": sent}),
            Some("TemperatureOutOfRange"),
        ),
        (
            "greenhouse-2",
            json!({"temperature": 20, "humidity": 101, "timestamp": sent}),
            Some("HumidityOutOfRange"),
        ),
        (
            "greenhouse-2",
            json!({"temperature": 20, "humidity": 50, "timestamp": received + 600_000}),
            Some("TimestampInFuture"),
        ),
        (
            "green house",
            json!({"temperature": 20, "humidity": 50, "timestamp": sent}),
            Some("BadDeviceId"),
        ),
        (
            "greenhouse-2",
            json!({"temperature": "20", "humidity": 50, "timestamp": sent}),
            Some("NotANumber"),
        ),
    ];
    for (device, message, reason) in &readings {
        let answer = invoke(
            serve.address,
            "device-telemetry",
            &[],
            &rule_event(device, message.clone(), received),
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(
            answer.header("x-amz-function-error").is_none(),
            "{message}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let status = if reason.is_some() {
            "rejected"
        } else {
            "stored"
        };
        assert_eq!(answer.json()["status"], status, "{message}");
        assert_eq!(answer.json()["reason"], json!(reason), "{message}");
    }

    // The good readings are in the table, under their device and time.
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.config().await);
    let scan = dynamodb.scan().table_name(TABLE).send().await.unwrap();
    let mut items: Vec<Vec<(String, String)>> = scan
        .items()
        .iter()
        .map(|item| {
            let mut fields: Vec<(String, String)> = item
                .iter()
                .map(|(name, value)| match value {
                    AttributeValue::S(text) | AttributeValue::N(text) => {
                        (name.clone(), text.clone())
                    }
                    other => panic!("{name}: {other:?}"),
                })
                .collect();
            fields.sort();
            fields
        })
        .collect();
    items.sort();
    let item = |device: &str, read_at: u64, temperature: &str, humidity: &str, received_at: u64| {
        vec![
            ("device_id".to_owned(), device.to_owned()),
            ("humidity".to_owned(), humidity.to_owned()),
            ("read_at".to_owned(), read_at.to_string()),
            ("received_at".to_owned(), received_at.to_string()),
            ("temperature".to_owned(), temperature.to_owned()),
        ]
    };
    let Some(cli_received) = items
        .iter()
        .find(|fields| fields[0].1 == "sensor-7")
        .map(|fields| fields[3].1.parse::<u64>().unwrap())
    else {
        panic!("no reading of sensor-7: {items:?}");
    };
    // Without the rule's `received_at`, the function's clock stood in.
    assert!((sent..sent + 60_000).contains(&cli_received), "{items:?}");
    assert_eq!(
        items,
        [
            item("greenhouse-2", sent + 1000, "-3.25", "88", received),
            item("sensor-7", sent, "21.5", "40.5", cli_received),
        ]
    );

    // Each invocation wrote its metrics to the log: accepted with the values, rejected with
    // the reason as a dimension.
    let documents = metrics_documents(&serve, 8);
    let mut accepted = Vec::new();
    let mut reasons = Vec::new();
    for document in &documents {
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "DeviceTelemetry", "{document}");
        if document.get("ReadingsAccepted").is_some() {
            assert_eq!(directive["Dimensions"], json!([[]]), "{document}");
            accepted.push((
                document["device_id"].clone(),
                document["Temperature"].clone(),
                document["Humidity"].clone(),
            ));
        } else {
            assert_eq!(directive["Dimensions"], json!([["reason"]]), "{document}");
            assert_eq!(document["ReadingsRejected"], 1.0, "{document}");
            reasons.push(document["reason"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        accepted,
        [
            (json!("sensor-7"), json!(21.5), json!(40.5)),
            (json!("greenhouse-2"), json!(-3.25), json!(88.0)),
        ]
    );
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "BadDeviceId",
            "HumidityOutOfRange",
            "MissingField",
            "NotANumber",
            "TemperatureOutOfRange",
            "TimestampInFuture",
        ]
    );
    // And logged why, at WARN.
    let why = "\trejected device=greenhouse-2 reason=HumidityOutOfRange problem=a humidity of 101% is not between 0 and 100%";
    let output = serve.output_with(&[why]);
    let line = output.iter().find(|line| line.ends_with(why)).unwrap();
    assert!(line.starts_with("[WARN]\t"), "{line}");

    // As IoT invokes it, asynchronously: a bad reading runs once and is not tried again; a
    // reading the table does not take (here, no table at all) fails, and Lambda tries it
    // twice more before it gives up on it.
    moto.aws(&["dynamodb", "delete-table", "--table-name", TABLE]);
    let asynchronous = |message: Value| {
        let event = rule_event("greenhouse-3", message, received);
        let answer = invoke(
            serve.address,
            "device-telemetry",
            &[("X-Amz-Invocation-Type", "Event")],
            &event,
        );
        assert_eq!(answer.status, 202, "{answer:?}");
        answer.header("x-amzn-RequestId").unwrap().to_owned()
    };
    let rejected = asynchronous(json!({"temperature": 99, "humidity": 50, "timestamp": sent}));
    let unstored = asynchronous(json!({"temperature": 20, "humidity": 50, "timestamp": sent}));
    serve.errors_with(&[&format!(
        "dropped asynchronous invocation {unstored} of `device-telemetry` after 3 attempts: the last failed with ReadingNotStored"
    )]);
    let output = serve.output();
    let attempts = |id: &str| {
        let start = format!("START RequestId: {id} ");
        output
            .iter()
            .filter(|line| line.starts_with(&start))
            .count()
    };
    assert_eq!(attempts(&unstored), 3, "{output:#?}");
    assert_eq!(attempts(&rejected), 1, "{output:#?}");
}
