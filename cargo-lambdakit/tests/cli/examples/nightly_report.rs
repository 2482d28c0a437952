//! `examples/nightly-report`: a `cron(...)` schedule that totals a day's orders into S3.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::{Value, json};

use super::{allows, deploy, role_statements, serve};
use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::{Answer, Serve, invoke, wait_until};

/// The event EventBridge sends for a schedule rule, at `time`.
fn scheduled_event(time: &str) -> Vec<u8> {
    json!({
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time,
        "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/lambdakit-nightly-report-0")],
        "detail": {}
    })
    .to_string()
    .into_bytes()
}

fn run_at(serve: &Serve, time: &str) -> Answer {
    let answer = invoke(serve.address, "nightly-report", &[], &scheduled_event(time));
    assert_eq!(answer.status, 200, "{answer:?}");
    answer
}

async fn report(s3: &aws_sdk_s3::Client, key: &str) -> Value {
    let object = s3
        .get_object()
        .bucket("reports")
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(object.content_type(), Some("application/json"));
    let body = object.body.collect().await.unwrap().into_bytes();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn nightly_report_runs_on_its_schedule_and_writes_the_day_before() {
    let Some(moto) = Moto::start() else { return };
    moto.create_table("orders", "id", &[]);
    deploy(&moto, "nightly-report");

    // The role scans the table and writes reports, as the settings grant, and no more.
    let statements = role_statements(&moto, "nightly-report").await;
    assert!(
        allows(
            &statements,
            "dynamodb:Scan",
            "arn:aws:dynamodb:*:*:table/orders"
        ),
        "{statements:#?}"
    );
    assert!(
        allows(
            &statements,
            "s3:PutObject",
            "arn:aws:s3:::reports/reports/*"
        ),
        "{statements:#?}"
    );
    assert_eq!(statements.len(), 3, "{statements:#?}");

    // The rule, its cron expression, and the function as its target.
    let config = moto.config().await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let rules = events
        .list_rules()
        .name_prefix("lambdakit-nightly-report")
        .send()
        .await
        .unwrap();
    let [rule] = rules.rules() else {
        panic!("one rule: {rules:?}");
    };
    assert_eq!(rule.schedule_expression(), Some("cron(30 2 * * ? *)"));
    assert_eq!(rule.state().map(|state| state.as_str()), Some("ENABLED"));
    let targets = events
        .list_targets_by_rule()
        .rule(rule.name().unwrap())
        .send()
        .await
        .unwrap();
    let [target] = targets.targets() else {
        panic!("one target: {targets:?}");
    };
    assert_eq!(
        target.arn(),
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:nightly-report")
    );
    assert_eq!(target.input(), None, "EventBridge's own scheduled event");

    let serve = serve(&moto, "nightly-report", &[]);

    // No bucket yet: the run fails, and says so.
    let failed = run_at(&serve, "2026-11-21T02:30:00Z");
    assert!(
        failed.header("x-amz-function-error").is_some(),
        "{failed:?}"
    );
    let error = failed.json();
    assert_eq!(error["errorType"], "ReportNotWritten", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("cannot write s3://reports/reports/2026-11-20.json: ")
            && message.contains("NoSuchBucket"),
        "{message}"
    );

    moto.create_bucket("reports");
    let s3 = moto.s3().await;

    // An empty table: a report of nothing.
    let empty = run_at(&serve, "2026-11-22T02:30:00Z");
    assert!(empty.header("x-amz-function-error").is_none(), "{empty:?}");
    assert_eq!(
        empty.json(),
        json!({"report": "s3://reports/reports/2026-11-21.json", "orders": 0, "revenue_cents": 0})
    );
    assert_eq!(
        report(&s3, "reports/2026-11-21.json").await,
        json!({
            "day": "2026-11-21",
            "generated_at": "2026-11-22T02:30:00Z",
            "orders": 0,
            "revenue_cents": 0,
            "customers": {}
        })
    );

    // Orders over three days, more than one page of the scan on the day reported.
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut requests = Vec::new();
    for number in 0..260_u64 {
        let day = match number % 13 {
            0 => "2026-11-21",
            1 => "2026-11-23",
            _ => "2026-11-22",
        };
        let customer = format!("c-{}", number % 7);
        let total_cents = 100 + number * 3;
        if day == "2026-11-22" {
            let totals = expected.entry(customer.clone()).or_default();
            totals.0 += 1;
            totals.1 += total_cents;
        }
        let item = [
            ("id", AttributeValue::S(format!("o-{number}"))),
            ("customer", AttributeValue::S(customer)),
            ("total_cents", AttributeValue::N(total_cents.to_string())),
            (
                "placed_at",
                AttributeValue::S(format!("{day}T{:02}:15:00Z", number % 24)),
            ),
        ];
        let put = PutRequest::builder()
            .set_item(Some(
                item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ))
            .build()
            .unwrap();
        requests.push(WriteRequest::builder().put_request(put).build());
    }
    for batch in requests.chunks(25) {
        let written = dynamodb
            .batch_write_item()
            .request_items("orders", batch.to_vec())
            .send()
            .await
            .unwrap();
        assert!(
            written
                .unprocessed_items()
                .is_none_or(|left| left.is_empty())
        );
    }
    let orders: u64 = expected.values().map(|totals| totals.0).sum();
    let revenue: u64 = expected.values().map(|totals| totals.1).sum();
    assert!(orders > 200, "more than two pages of 100: {orders}");

    let written = run_at(&serve, "2026-11-23T02:30:00Z");
    assert!(
        written.header("x-amz-function-error").is_none(),
        "{written:?}"
    );
    assert_eq!(
        written.json(),
        json!({"report": "s3://reports/reports/2026-11-22.json", "orders": orders, "revenue_cents": revenue})
    );
    let customers: serde_json::Map<String, Value> = expected
        .iter()
        .map(|(customer, (orders, revenue))| {
            (
                customer.clone(),
                json!({"orders": orders, "revenue_cents": revenue}),
            )
        })
        .collect();
    assert_eq!(
        report(&s3, "reports/2026-11-22.json").await,
        json!({
            "day": "2026-11-22",
            "generated_at": "2026-11-23T02:30:00Z",
            "orders": orders,
            "revenue_cents": revenue,
            "customers": customers
        })
    );
    // The report of the empty day is still there, untouched.
    assert_eq!(report(&s3, "reports/2026-11-21.json").await["orders"], 0);

    // The schedule itself, played by serve: `--fire-schedules` fires it as serve starts, with
    // EventBridge's event of now, and the report of yesterday (UTC) is written.
    drop(serve);
    let day = |ago: u64| {
        let time = std::time::SystemTime::now() - std::time::Duration::from_secs(ago * 86_400);
        cargo_lambdakit::time::rfc3339(time)[..10].to_owned()
    };
    // Yesterday, or today when serve starts after midnight.
    let (yesterday, today) = (day(1), day(0));
    let scheduler = super::serve(
        &moto,
        "nightly-report",
        &["--event-sources", "--fire-schedules"],
    );
    scheduler.output_with(&["`cron(30 2 * * ? *)` fires `nightly-report`"]);
    let reported = |day: &str| {
        moto.aws(&["s3api", "list-objects-v2", "--bucket", "reports"])
            .contains(&format!("reports/{day}.json"))
    };
    wait_until("yesterday's report", || {
        reported(&yesterday) || reported(&today)
    });
    let key = if reported(&yesterday) {
        yesterday
    } else {
        today
    };
    let scheduled = report(&s3, &format!("reports/{key}.json")).await;
    assert_eq!(scheduled["day"], key.as_str());
    assert!(scheduled["orders"].is_u64(), "{scheduled}");
}
