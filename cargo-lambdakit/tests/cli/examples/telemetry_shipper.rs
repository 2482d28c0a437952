//! `examples/telemetry-shipper`: an external extension, published as a layer and attached to
//! `shipped-greeter`, ships the function's log lines and a `platform.report` per invocation
//! to S3, one object of JSON lines per telemetry batch.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{allows, deploy, role_statements, serve};
use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::invoke;

const BUCKET: &str = "lambda-telemetry";

/// Every JSON line of every object under `telemetry/shipped-greeter/` in the bucket.
async fn shipped(s3: &aws_sdk_s3::Client) -> Vec<Value> {
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("telemetry/shipped-greeter/")
        .send()
        .await
        .unwrap();
    let mut events = Vec::new();
    for object in listed.contents() {
        let key = object.key().unwrap();
        assert!(key.ends_with(".jsonl"), "{key}");
        let body = s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        for line in String::from_utf8(body.to_vec()).unwrap().lines() {
            events.push(serde_json::from_str(line).unwrap());
        }
    }
    events
}

/// Whether `events` hold the function's log line for `request_id` and its `platform.report`.
fn has_both(events: &[Value], request_id: &str) -> bool {
    let logged = events.iter().any(|event| {
        event["type"] == "function"
            && event["record"].to_string().contains("greeting")
            && event["record"].to_string().contains(request_id)
    });
    let reported = events.iter().any(|event| {
        event["type"] == "platform.report"
            && event["record"]["requestId"] == request_id
            && event["record"]["status"] == "success"
    });
    logged && reported
}

#[tokio::test]
async fn telemetry_shipper_is_published_attached_and_ships_each_invocation_to_s3() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket(BUCKET);
    deploy(&moto, "telemetry-shipper");

    // The extension is a layer version of its own, attached to the function.
    let config = moto.config().await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    let function = lambda
        .get_function_configuration()
        .function_name("shipped-greeter")
        .send()
        .await
        .unwrap();
    let layer = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:layer:telemetry-shipper:1");
    let attached: Vec<&str> = function
        .layers()
        .iter()
        .filter_map(|layer| layer.arn())
        .collect();
    assert_eq!(attached, [layer.as_str()]);
    assert_eq!(
        function
            .environment()
            .and_then(|environment| environment.variables())
            .and_then(|variables| variables.get("TELEMETRY_BUCKET"))
            .map(String::as_str),
        Some(BUCKET)
    );
    let published = lambda
        .get_layer_version()
        .layer_name("telemetry-shipper")
        .version_number(1)
        .send()
        .await
        .unwrap();
    assert!(
        published
            .description()
            .is_some_and(|description| description.ends_with(
                "[lambdakit:package=telemetry-shipper lambdakit:extension=telemetry-shipper]"
            )),
        "{published:?}"
    );
    let statements = role_statements(&moto, "shipped-greeter").await;
    assert!(
        allows(
            &statements,
            "s3:PutObject",
            "arn:aws:s3:::lambda-telemetry/telemetry/*"
        ),
        "{statements:#?}"
    );

    // Served, with the extension beside the function, its S3 calls going to moto.
    let serve = serve(&moto, "telemetry-shipper", &["--bin", "shipped-greeter"]);
    let mut ids = Vec::new();
    for name in ["Ada", "Grace", "Edsger"] {
        let body = format!(r#"{{"name": "{name}"}}"#);
        let answer = invoke(serve.address, "shipped-greeter", &[], body.as_bytes());
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.json(), format!("Hello, {name}!"));
        ids.push(answer.header("x-amzn-requestid").unwrap().to_owned());
    }

    // Batches leave 100 ms after their first event; a put to moto takes a moment more.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let started = Instant::now();
    let events = loop {
        let events = shipped(&s3).await;
        if ids.iter().all(|id| has_both(&events, id)) {
            break events;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not every invocation of {ids:?} was shipped: {events:#?}\n{:#?}",
            serve.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Only what the shipper keeps: the function's lines and the reports, one report each.
    for event in &events {
        assert!(
            event["type"] == "function" || event["type"] == "platform.report",
            "{event}"
        );
    }
    for id in &ids {
        let reports = events
            .iter()
            .filter(|event| {
                event["type"] == "platform.report" && event["record"]["requestId"] == id.as_str()
            })
            .count();
        assert_eq!(reports, 1, "{id}: {events:#?}");
    }
}
