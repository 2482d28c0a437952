//! The triggers beyond queues and streams (SES, IoT rules, Cognito user pools, CloudWatch Logs
//! subscriptions, Kafka, Firehose) as handler events, through `#[handler]` and the real poll
//! loop, with the answers each service reads back.

use std::cell::RefCell;
use std::rc::Rc;

use base64::Engine as _;
use lambda_kit::batch::{self, Batch};
use lambda_kit::events::cloudwatch_logs::LogsEvent;
use lambda_kit::events::cognito::{PreSignUp, PreTokenGeneration};
use lambda_kit::events::firehose::{
    KinesisFirehoseEvent, KinesisFirehoseEventRecord, Transformation, TransformationResponse,
};
use lambda_kit::events::iot::TopicMessage;
use lambda_kit::events::kafka::{KafkaEvent, KafkaEventResponse, Record};
use lambda_kit::events::ses::{SimpleEmailDisposition, SimpleEmailEvent};
use lambda_kit::testing::{CapturedLogs, invoke};
use lambda_kit::{Context, Diagnostic, LogFormat, LogLevel};
use serde_json::{Value, json};

use crate::support::within;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A subscription filter's event as CloudWatch Logs sends it: two log events, gzip-compressed
/// and base64-encoded (made with Python's `gzip.compress` and `base64.b64encode`).
const LOGS_DATA: &str = "H4sIAAAAAAACA32PwYrCMBCGXyWEPQppotbVW8Gul12EtjcpS9oMEmiaMImrIr77dlz3tuycBr5/Pua/cQcx6iM01wB8w/i2aIrPj7Kui13JZ4z78whIQKr5YpmvXteZVAQGf9yhPwViQp+jGLTrjBYeDWB8JuqEoB1FVKZyIaVQc3F4eS+asm5a3fWUi6cu9mhDsn58s0Oi8w07cED009r+qMovGNMD3Lg1j4/oONmpQNKO/pCr9XKhcpXRTOxZjbJlVe0rFvTVTRZmoB/sCIbfZ+zXpv6zyb9svUbD4BIskqm9fwPpUJDITAEAAA==";

#[lambda_kit::handler(main = false)]
async fn error_lines(event: LogsEvent, _ctx: Context) -> Result<Value, Diagnostic> {
    let data = event.aws_logs.data;
    let messages: Vec<String> = data
        .log_events
        .into_iter()
        .map(|entry| entry.message)
        .collect();
    Ok(json!({"group": data.log_group, "filters": data.subscription_filters, "messages": messages}))
}

#[tokio::test]
async fn a_logs_subscription_event_arrives_decoded() {
    let outcome = within(
        10,
        invoke(error_lines, json!({"awslogs": {"data": LOGS_DATA}})),
    )
    .await;
    assert_eq!(
        outcome.json::<Value>(),
        json!({
            "group": "/aws/lambda/orders",
            "filters": ["errors"],
            "messages": ["ERROR payment declined", "ERROR card expired"],
        })
    );
}

#[tokio::test]
async fn a_logs_subscription_event_whose_data_is_not_gzip_fails_naming_the_field() {
    let not_gzip = b64(b"{\"logEvents\": []}");
    let outcome = within(
        10,
        invoke(error_lines, json!({"awslogs": {"data": not_gzip}})),
    )
    .await;
    let report = outcome.error();
    assert_eq!(report.error_type(), "Runtime.UnmarshalError", "{report:?}");
    assert!(report.error_message().contains("awslogs"), "{report:?}");
}

fn ses_event(from: &str, subject: &str, spam: &str) -> Value {
    json!({"Records": [{
        "eventSource": "aws:ses", "eventVersion": "1.0",
        "ses": {
            "mail": {
                "timestamp": "2026-11-23T09:30:00.000Z", "source": from,
                "messageId": "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1", "destination": ["orders@example.com"],
                "headersTruncated": false,
                "headers": [{"name": "From", "value": from}, {"name": "Subject", "value": subject}],
                "commonHeaders": {"from": [from], "to": ["orders@example.com"], "subject": subject,
                                  "messageId": "<1@example.com>", "date": "Mon, 23 Nov 2026 09:30:00 +0000",
                                  "returnPath": from}
            },
            "receipt": {
                "timestamp": "2026-11-23T09:30:00.000Z", "processingTimeMillis": 222,
                "recipients": ["orders@example.com"],
                "spamVerdict": {"status": spam}, "virusVerdict": {"status": "PASS"},
                "spfVerdict": {"status": "PASS"}, "dkimVerdict": {"status": "PASS"},
                "dmarcVerdict": {"status": "GRAY"}, "dmarcPolicy": "none",
                "action": {"type": "Lambda", "invocationType": "RequestResponse",
                           "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:intake"}
            }
        }
    }]})
}

/// Stops the rule set for spam, and lets the next rules run otherwise, as a synchronous
/// receipt rule's function answers.
#[lambda_kit::handler(main = false)]
async fn screen_mail(
    event: SimpleEmailEvent,
    _ctx: Context,
) -> Result<SimpleEmailDisposition, Diagnostic> {
    let record = event
        .records
        .into_iter()
        .next()
        .ok_or_else(|| Diagnostic::new("NoRecord", "the event has no record"))?;
    let spam = record.ses.receipt.spam_verdict.status.as_deref() == Some("FAIL");
    tracing::info!(
        from = record.ses.mail.source.as_deref(),
        subject = record.ses.mail.common_headers.subject.as_deref(),
        "mail"
    );
    let mut disposition = SimpleEmailDisposition::default();
    disposition.disposition = if spam { "STOP_RULE_SET" } else { "CONTINUE" }.to_owned();
    Ok(disposition)
}

#[tokio::test]
async fn an_ses_event_reaches_a_handler_and_its_disposition_goes_back() {
    let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Info);
    let outcome = within(
        10,
        invoke(screen_mail, ses_event("ada@example.com", "Order 7", "PASS")),
    )
    .await;
    assert_eq!(outcome.json::<Value>(), json!({"disposition": "CONTINUE"}));
    let line = logs
        .json_lines()
        .into_iter()
        .find(|line| line["message"] == "mail")
        .expect("the handler logged the mail");
    assert_eq!(
        (line["from"].as_str(), line["subject"].as_str()),
        (Some("ada@example.com"), Some("Order 7"))
    );

    let outcome = within(
        10,
        invoke(screen_mail, ses_event("x@spam.example", "WIN", "FAIL")),
    )
    .await;
    assert_eq!(
        outcome.json::<Value>(),
        json!({"disposition": "STOP_RULE_SET"})
    );
}

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Reading {
    device: String,
    celsius: f64,
}

#[lambda_kit::handler(main = false)]
async fn check_reading(event: TopicMessage<Reading>, _ctx: Context) -> Result<Value, Diagnostic> {
    let device_in_topic = event.topic_level(1).unwrap_or_default().to_owned();
    if device_in_topic != event.message.device {
        return Err(Diagnostic::new(
            "DeviceMismatch",
            format!(
                "`{}` published on `{device_in_topic}`'s topic",
                event.message.device
            ),
        ));
    }
    Ok(json!({"device": event.message.device, "fahrenheit": event.message.celsius * 1.8 + 32.0}))
}

#[tokio::test]
async fn an_iot_rule_message_reaches_a_handler_as_its_own_type_with_its_topic() {
    // `SELECT *, topic() AS topic FROM 'sensors/+/telemetry'`: the device's message and the topic.
    let event = json!({"device": "d-7", "celsius": 20.0, "topic": "sensors/d-7/telemetry"});
    let outcome = within(10, invoke(check_reading, event)).await;
    assert_eq!(
        outcome.json::<Value>(),
        json!({"device": "d-7", "fahrenheit": 68.0})
    );

    let event = json!({"device": "d-8", "celsius": 20.0, "topic": "sensors/d-7/telemetry"});
    let outcome = within(10, invoke(check_reading, event)).await;
    assert_eq!(outcome.error().error_type(), "DeviceMismatch");

    let outcome = within(
        10,
        invoke(
            check_reading,
            json!({"device": "d-7", "topic": "sensors/d-7/telemetry"}),
        ),
    )
    .await;
    let report = outcome.error();
    assert_eq!(report.error_type(), "Runtime.UnmarshalError", "{report:?}");
    assert!(report.error_message().contains("celsius"), "{report:?}");
}

fn pre_sign_up(email: &str) -> Value {
    json!({
        "version": "1", "triggerSource": "PreSignUp_SignUp", "region": "us-east-1",
        "userPoolId": "us-east-1_Ab12Cd34", "userName": "ada",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "client-1"},
        "request": {"userAttributes": {"email": email, "name": "Ada"}, "validationData": null},
        "response": {"autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false},
        "somethingNewer": {"kept": true}
    })
}

/// Confirms staff at once, lets others confirm by code, and refuses disposable addresses.
#[lambda_kit::handler(main = false)]
async fn admit(event: PreSignUp, _ctx: Context) -> Result<PreSignUp, Diagnostic> {
    match event.email() {
        Some(email) if email.ends_with("@example.com") => Ok(event.auto_verify_email()),
        Some(email) if email.ends_with("@mailinator.test") => Err(Diagnostic::new(
            "DisposableEmail",
            "sign up with an address you keep",
        )),
        _ => Ok(event),
    }
}

#[tokio::test]
async fn a_pre_sign_up_trigger_answers_with_the_pools_document_and_its_response_set() {
    let outcome = within(10, invoke(admit, pre_sign_up("ada@example.com"))).await;
    let mut expected = pre_sign_up("ada@example.com");
    expected["response"] =
        json!({"autoConfirmUser": true, "autoVerifyEmail": true, "autoVerifyPhone": false});
    // A null map comes back empty: the pool reads `response` only.
    expected["request"]["validationData"] = json!({});
    expected["request"]["clientMetadata"] = json!({});
    assert_eq!(outcome.json::<Value>(), expected);

    let outcome = within(10, invoke(admit, pre_sign_up("bob@elsewhere.test"))).await;
    assert_eq!(
        outcome.json::<Value>()["response"],
        json!({"autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false})
    );

    let outcome = within(10, invoke(admit, pre_sign_up("eve@mailinator.test"))).await;
    let report = outcome.error();
    assert_eq!(report.error_type(), "DisposableEmail");
    assert_eq!(report.error_message(), "sign up with an address you keep");
}

fn pre_token(tier: Option<&str>) -> Value {
    let mut attributes =
        json!({"sub": "5f1b", "email": "ada@example.com", "email_verified": "true"});
    if let Some(tier) = tier {
        attributes["custom:tier"] = json!(tier);
    }
    json!({
        "version": "1", "triggerSource": "TokenGeneration_Authentication", "region": "us-east-1",
        "userPoolId": "us-east-1_Ab12Cd34", "userName": "ada",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "client-1"},
        "request": {
            "userAttributes": attributes,
            "groupConfiguration": {"groupsToOverride": ["admins"], "iamRolesToOverride": [], "preferredRole": null}
        },
        "response": {"claimsOverrideDetails": null}
    })
}

/// Adds the customer's tier as a claim and hides the email from the token; customers without a
/// tier get the token unchanged.
#[lambda_kit::handler(main = false)]
async fn tier_claim(
    event: PreTokenGeneration,
    _ctx: Context,
) -> Result<PreTokenGeneration, Diagnostic> {
    match event.user_attribute("custom:tier").map(str::to_owned) {
        Some(tier) => Ok(event.add_claim("tier", tier).suppress_claim("email")),
        None => Ok(event),
    }
}

#[tokio::test]
async fn a_pre_token_trigger_adds_and_suppresses_claims_and_leaves_the_groups_alone() {
    let outcome = within(10, invoke(tier_claim, pre_token(Some("gold")))).await;
    let answer = outcome.json::<Value>();
    assert_eq!(
        answer["response"],
        json!({"claimsOverrideDetails": {
            "claimsToAddOrOverride": {"tier": "gold"},
            "claimsToSuppress": ["email"],
        }}),
        "no `groupOverrideDetails`: sent empty, it would take the user out of `admins`"
    );
    let sent = pre_token(Some("gold"));
    assert_eq!(
        answer["request"]["groupConfiguration"],
        sent["request"]["groupConfiguration"]
    );
    assert_eq!(
        answer["request"]["userAttributes"],
        sent["request"]["userAttributes"]
    );

    let outcome = within(10, invoke(tier_claim, pre_token(None))).await;
    assert_eq!(
        outcome.json::<Value>()["response"],
        json!({"claimsOverrideDetails": null})
    );
}

fn kafka_record(topic: &str, partition: i64, offset: i64, value: &str) -> Value {
    json!({
        "topic": topic, "partition": partition, "offset": offset,
        "timestamp": 1_795_426_200_000_i64 + offset, "timestampType": "CREATE_TIME",
        "key": b64(format!("k-{offset}").as_bytes()), "value": value,
        "headers": [{"source": [119, 101, 98]}]
    })
}

#[derive(serde::Deserialize)]
struct Payment {
    cents: u64,
}

#[tokio::test]
async fn a_kafka_batch_reports_each_partitions_first_failure_and_goes_on_with_the_others() {
    let good = |cents: u64| b64(format!("{{\"cents\": {cents}}}").as_bytes());
    let event = json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/payments/abcd-1",
        "bootstrapServers": "b-1.payments.example:9098",
        "records": {
            // Out of offset order on purpose: each partition is processed in offset order.
            "payments-0": [
                kafka_record("payments", 0, 12, &good(3)),
                kafka_record("payments", 0, 10, &good(1)),
                kafka_record("payments", 0, 11, &b64(b"{\"cents\": \"two\"}")),
            ],
            "payments-1": [kafka_record("payments", 1, 20, &good(4)), kafka_record("payments", 1, 21, &good(5))],
            "payments-2": [kafka_record("payments", 2, 30, "not base64!"), kafka_record("payments", 2, 31, &good(6))],
        }
    });
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let handler = {
        let seen = Rc::clone(&seen);
        move |event: KafkaEvent, _ctx: Context| {
            let seen = Rc::clone(&seen);
            async move {
                let response = batch::kafka(event, |record: Record| {
                    let seen = Rc::clone(&seen);
                    async move {
                        assert_eq!(record.header("source"), Some(&b"web"[..]));
                        assert_eq!(
                            record.key(),
                            Some(format!("k-{}", record.offset()).as_bytes())
                        );
                        let payment: Payment = record.value()?;
                        seen.borrow_mut().push(format!(
                            "{}@{}={}",
                            record.partition(),
                            record.offset(),
                            payment.cents
                        ));
                        Ok::<_, Diagnostic>(())
                    }
                })
                .await;
                Ok::<KafkaEventResponse, Diagnostic>(response)
            }
        }
    };
    let logs = CapturedLogs::start(LogFormat::Json, LogLevel::Info);
    let outcome = within(10, invoke(handler, event)).await;
    assert_eq!(*seen.borrow(), ["0@10=1", "1@20=4", "1@21=5"]);
    assert_eq!(
        outcome.json::<Value>(),
        json!({"batchItemFailures": [
            {"itemIdentifier": {"partition": "payments-0", "offset": 11}},
            {"itemIdentifier": {"partition": "payments-2", "offset": 30}},
        ]})
    );
    let failed: Vec<String> = logs
        .json_lines()
        .into_iter()
        .filter(|line| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("record failed"))
        })
        .map(|line| line["item_identifier"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(failed, ["payments-0@11", "payments-2@30"]);
}

fn firehose_event(payloads: &[&str]) -> Value {
    let records: Vec<Value> = payloads
        .iter()
        .enumerate()
        .map(|(index, payload)| {
            json!({
                "recordId": format!("4960{index}"),
                "approximateArrivalTimestamp": 1_795_426_200_000_i64,
                "data": b64(payload.as_bytes()),
            })
        })
        .collect();
    json!({
        "invocationId": "invoked-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/clicks",
        "region": "us-east-1",
        "records": records,
    })
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Click {
    page: String,
    bot: bool,
}

async fn clean_click(record: KinesisFirehoseEventRecord) -> Result<Transformation, Diagnostic> {
    let click: Click = serde_json::from_slice(&record.data)
        .map_err(|error| Diagnostic::new("NotAClick", error.to_string()))?;
    if click.bot {
        return Ok(Transformation::Dropped);
    }
    Transformation::json_line(&json!({"page": click.page.to_uppercase()}))
}

#[lambda_kit::handler(main = false)]
async fn clean_clicks(
    event: KinesisFirehoseEvent,
    _ctx: Context,
) -> Result<TransformationResponse, Diagnostic> {
    Ok(Batch::new()
        .concurrency(2)
        .firehose(event, clean_click)
        .await)
}

#[tokio::test]
async fn a_firehose_transformation_answers_every_record_with_its_result_and_data() {
    let event = firehose_event(&[
        r#"{"page": "/home", "bot": false}"#,
        r#"{"page": "/home", "bot": true}"#,
        "garbage",
        r#"{"page": "/cart", "bot": false}"#,
    ]);
    let outcome = within(10, invoke(clean_clicks, event)).await;
    // The shape Firehose reads (AWS "Transform source data in Amazon Data Firehose").
    assert_eq!(
        outcome.json::<Value>(),
        json!({"records": [
            {"recordId": "49600", "result": "Ok", "data": b64(b"{\"page\":\"/HOME\"}\n")},
            {"recordId": "49601", "result": "Dropped", "data": b64(br#"{"page": "/home", "bot": true}"#)},
            {"recordId": "49602", "result": "ProcessingFailed", "data": b64(b"garbage")},
            {"recordId": "49603", "result": "Ok", "data": b64(b"{\"page\":\"/CART\"}\n")},
        ]})
    );
}
