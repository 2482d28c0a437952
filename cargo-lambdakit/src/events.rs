//! Example events, made offline in the shapes AWS services send (the sample events of AWS's
//! Lambda documentation), with the values that matter set by parameters: `invoke --event
//! s3-put --param bucket=photos --param key=cat.png`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::CliError;
use crate::local::ACCOUNT;

/// The example events there are, with the parameters each takes and their defaults.
pub const KINDS: [(&str, &[(&str, &str)]); 19] = [
    ("apigw-v1", HTTP),
    ("apigw-v2", HTTP),
    ("function-url", HTTP),
    ("alb", HTTP),
    (
        "s3-put",
        &[
            ("bucket", "example-bucket"),
            ("key", "example.txt"),
            ("size", "1024"),
        ],
    ),
    (
        "s3-delete",
        &[("bucket", "example-bucket"), ("key", "example.txt")],
    ),
    (
        "sqs",
        &[("queue", "example-queue"), ("body", "Hello from SQS!")],
    ),
    (
        "sns",
        &[
            ("topic", "example-topic"),
            ("subject", "Example"),
            ("message", "Hello from SNS!"),
        ],
    ),
    (
        "eventbridge",
        &[
            ("source", "com.example.orders"),
            ("detail-type", "Order Placed"),
            ("detail", "{}"),
        ],
    ),
    ("schedule", &[("rule", "example-schedule")]),
    (
        "dynamodb",
        &[
            ("table", "example-table"),
            ("event-name", "INSERT"),
            ("id", "item-1"),
        ],
    ),
    (
        "kinesis",
        &[
            ("stream", "example-stream"),
            ("partition-key", "key-1"),
            ("data", "Hello from Kinesis!"),
        ],
    ),
    (
        "ses",
        &[
            ("from", "sender@example.com"),
            ("subject", "Hello from SES!"),
            ("recipient", "recipient@example.com"),
        ],
    ),
    (
        "iot",
        &[
            ("topic", "devices/device-1/telemetry"),
            ("message", r#"{"device": "device-1", "temperature": 21.5}"#),
        ],
    ),
    (
        "cognito-pre-signup",
        &[("username", "example-user"), ("email", "user@example.com")],
    ),
    (
        "cognito-pre-token",
        &[("username", "example-user"), ("email", "user@example.com")],
    ),
    (
        "logs",
        &[
            ("group", "/aws/lambda/example-function"),
            (
                "stream",
                "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef",
            ),
            ("message", "ERROR something failed"),
        ],
    ),
    (
        "kafka",
        &[
            ("topic", "example-topic"),
            ("key", "key-1"),
            ("value", "Hello from Kafka!"),
            ("partition", "0"),
        ],
    ),
    (
        "firehose",
        &[("data", "Hello from Firehose!"), ("records", "1")],
    ),
];

const HTTP: &[(&str, &str)] = &[
    ("method", "GET"),
    ("path", "/"),
    ("query", ""),
    ("body", ""),
];

const REGION: &str = "us-east-1";
/// Example events are reproducible: they carry a fixed time.
const TIME: &str = "2026-01-01T12:00:00.000Z";
const TIME_EPOCH_MS: u64 = 1_767_268_800_000;

/// The example event `kind` with `params` set over the defaults.
///
/// # Errors
///
/// When `kind` or a parameter is unknown, or a value is malformed.
pub fn example(kind: &str, params: &BTreeMap<String, String>) -> Result<Value, CliError> {
    let Some((_, defaults)) = KINDS.iter().find(|(name, _)| *name == kind) else {
        let kinds: Vec<&str> = KINDS.iter().map(|(name, _)| *name).collect();
        return Err(CliError::Config {
            key: "--event".into(),
            problem: format!("is `{kind}`; the example events are {}", kinds.join(", ")),
        });
    };
    let mut values: BTreeMap<&str, String> = defaults
        .iter()
        .map(|&(name, value)| (name, value.to_owned()))
        .collect();
    for (name, value) in params {
        let Some(slot) = values.get_mut(name.as_str()) else {
            let names: Vec<&str> = defaults.iter().map(|(name, _)| *name).collect();
            return Err(CliError::Config {
                key: format!("--param {name}"),
                problem: format!(
                    "is not a parameter of `{kind}`; its parameters are {}",
                    names.join(", ")
                ),
            });
        };
        value.clone_into(slot);
    }
    let get = |name: &str| values.get(name).cloned().unwrap_or_default();
    Ok(match kind {
        "apigw-v1" => apigw_v1(&get("method"), &get("path"), &get("query"), &get("body")),
        "apigw-v2" => http_v2(
            &get("method"),
            &get("path"),
            &get("query"),
            &get("body"),
            "1234567890.execute-api.us-east-1.amazonaws.com",
        ),
        "function-url" => http_v2(
            &get("method"),
            &get("path"),
            &get("query"),
            &get("body"),
            "abcdefghij.lambda-url.us-east-1.on.aws",
        ),
        "alb" => alb(&get("method"), &get("path"), &get("query"), &get("body")),
        "s3-put" => {
            let size: u64 = get("size").parse().map_err(|_| CliError::Config {
                key: "--param size".into(),
                problem: format!("is `{}`, not a number of bytes", get("size")),
            })?;
            s3("ObjectCreated:Put", &get("bucket"), &get("key"), Some(size))
        }
        "s3-delete" => s3("ObjectRemoved:Delete", &get("bucket"), &get("key"), None),
        "sqs" => sqs(&get("queue"), &get("body")),
        "sns" => sns(&get("topic"), &get("subject"), &get("message")),
        "eventbridge" => {
            let detail: Value =
                serde_json::from_str(&get("detail")).map_err(|error| CliError::Config {
                    key: "--param detail".into(),
                    problem: format!("is not JSON: {error}"),
                })?;
            eventbridge(&get("source"), &get("detail-type"), detail, vec![])
        }
        "schedule" => eventbridge(
            "aws.events",
            "Scheduled Event",
            json!({}),
            vec![format!(
                "arn:aws:events:{REGION}:{ACCOUNT}:rule/{}",
                get("rule")
            )],
        ),
        "dynamodb" => {
            let event_name = get("event-name");
            if !["INSERT", "MODIFY", "REMOVE"].contains(&event_name.as_str()) {
                return Err(CliError::Config {
                    key: "--param event-name".into(),
                    problem: format!("is `{event_name}`; expected INSERT, MODIFY or REMOVE"),
                });
            }
            dynamodb(&get("table"), &event_name, &get("id"))
        }
        "kinesis" => kinesis(&get("stream"), &get("partition-key"), &get("data")),
        "ses" => ses(&get("from"), &get("subject"), &get("recipient")),
        "iot" => {
            let message: Value =
                serde_json::from_str(&get("message")).map_err(|error| CliError::Config {
                    key: "--param message".into(),
                    problem: format!("is not JSON: {error}"),
                })?;
            let Value::Object(mut message) = message else {
                return Err(CliError::Config {
                    key: "--param message".into(),
                    problem: "is not a JSON object; a topic rule's `SELECT *` sends the device's JSON object, e.g. `message={\"on\": true}`".into(),
                });
            };
            // As `SELECT *, topic() AS topic FROM '...'` sends it.
            message.insert("topic".into(), json!(get("topic")));
            Value::Object(message)
        }
        "cognito-pre-signup" => cognito_pre_signup(&get("username"), &get("email")),
        "cognito-pre-token" => cognito_pre_token(&get("username"), &get("email")),
        "logs" => logs(&get("group"), &get("stream"), &get("message")),
        "kafka" => {
            let partition: u32 = get("partition").parse().map_err(|_| CliError::Config {
                key: "--param partition".into(),
                problem: format!("is `{}`, not a partition number", get("partition")),
            })?;
            kafka(&get("topic"), partition, &get("key"), &get("value"))
        }
        "firehose" => {
            let records: usize = get("records")
                .parse()
                .ok()
                .filter(|count| (1..=500).contains(count))
                .ok_or_else(|| CliError::Config {
                    key: "--param records".into(),
                    problem: format!("is `{}`; expected a count from 1 to 500", get("records")),
                })?;
            firehose(&get("data"), records)
        }
        _ => unreachable!("every kind in KINDS has a maker"),
    })
}

fn query_map(query: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        map.entry(key.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    map
}

fn single(map: &BTreeMap<String, Vec<String>>) -> Value {
    if map.is_empty() {
        return Value::Null;
    }
    json!(
        map.iter()
            .map(|(key, values)| (key.clone(), values.last().cloned().unwrap_or_default()))
            .collect::<BTreeMap<_, _>>()
    )
}

fn body_value(body: &str) -> Value {
    if body.is_empty() {
        Value::Null
    } else {
        json!(body)
    }
}

fn apigw_v1(method: &str, path: &str, query: &str, body: &str) -> Value {
    let queries = query_map(query);
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"accept": "*/*", "host": "1234567890.execute-api.us-east-1.amazonaws.com", "user-agent": "lambdakit"},
        "multiValueHeaders": {"accept": ["*/*"], "host": ["1234567890.execute-api.us-east-1.amazonaws.com"], "user-agent": ["lambdakit"]},
        "queryStringParameters": single(&queries),
        "multiValueQueryStringParameters": if queries.is_empty() { Value::Null } else { json!(queries) },
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": ACCOUNT,
            "resourceId": "abc123",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "lambdakit"},
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "apiId": "1234567890",
            "path": format!("/prod{path}"),
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": TIME_EPOCH_MS,
        },
        "body": body_value(body),
        "isBase64Encoded": false,
    })
}

fn http_v2(method: &str, path: &str, query: &str, body: &str, domain: &str) -> Value {
    let queries = query_map(query);
    let joined: BTreeMap<String, String> = queries
        .iter()
        .map(|(key, values)| (key.clone(), values.join(",")))
        .collect();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"accept": "*/*", "host": domain, "user-agent": "lambdakit"},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": domain.split('.').next().unwrap_or(domain),
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap_or(domain),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "lambdakit"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:12:00:00 +0000",
            "timeEpoch": TIME_EPOCH_MS,
        },
        "isBase64Encoded": false,
    });
    if !joined.is_empty() {
        event["queryStringParameters"] = json!(joined);
    }
    if !body.is_empty() {
        event["body"] = json!(body);
    }
    event
}

fn alb(method: &str, path: &str, query: &str, body: &str) -> Value {
    json!({
        "requestContext": {"elb": {"targetGroupArn": format!("arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/lambda-target/0123456789abcdef")}},
        "httpMethod": method,
        "path": path,
        "queryStringParameters": single(&query_map(query)).as_object().cloned().unwrap_or_default(),
        "headers": {"accept": "*/*", "host": "lambda-alb-123578498.us-east-1.elb.amazonaws.com", "user-agent": "lambdakit"},
        "body": body,
        "isBase64Encoded": false,
    })
}

fn s3(event_name: &str, bucket: &str, key: &str, size: Option<u64>) -> Value {
    json!({"Records": [s3_record(&S3Notice {
        event_name,
        time: TIME,
        region: REGION,
        bucket,
        key,
        object: size.map(|size| (size, "0123456789abcdef0123456789abcdef")),
        sequencer: "0A1B2C3D4E5F678901",
        configuration_id: "lambdakit-example",
    })]})
}

/// A change to an S3 object, as S3's event notifications tell a function of it (AWS "Event
/// message structure", version 2.1).
#[derive(Debug)]
pub(crate) struct S3Notice<'a> {
    /// `ObjectCreated:Put`, `ObjectRemoved:Delete`, ..
    pub(crate) event_name: &'a str,
    /// RFC 3339, with milliseconds.
    pub(crate) time: &'a str,
    pub(crate) region: &'a str,
    pub(crate) bucket: &'a str,
    /// The key as stored (the record has it URL-encoded, as S3 sends it).
    pub(crate) key: &'a str,
    /// A created object's size and ETag (without its quotes); `None` for a removed one.
    pub(crate) object: Option<(u64, &'a str)>,
    /// Orders the events of one key: a later event's is greater (as hexadecimal text of one
    /// length).
    pub(crate) sequencer: &'a str,
    /// The notification's id in the bucket's configuration.
    pub(crate) configuration_id: &'a str,
}

/// One record of an S3 event.
pub(crate) fn s3_record(notice: &S3Notice<'_>) -> Value {
    let mut object = json!({
        "key": crate::percent::encode_s3_key(notice.key),
        "sequencer": notice.sequencer,
    });
    if let Some((size, etag)) = notice.object {
        object["size"] = json!(size);
        object["eTag"] = json!(etag);
    }
    let bucket = notice.bucket;
    json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": notice.region,
        "eventTime": notice.time,
        "eventName": notice.event_name,
        "userIdentity": {"principalId": "EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": notice.configuration_id,
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": object,
        },
    })
}

fn sqs(queue: &str, body: &str) -> Value {
    let attributes = json!({
        "ApproximateReceiveCount": "1",
        "SentTimestamp": TIME_EPOCH_MS.to_string(),
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": TIME_EPOCH_MS.to_string(),
    });
    json!({"Records": [sqs_record(&SqsMessage {
        id: "059f36b4-87a3-44ab-83d2-661975830a7d",
        receipt_handle: "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        body,
        attributes,
        message_attributes: json!({}),
        md5_of_body: "e4e68fb7bd0e697a0ae8f1bb342846b3",
        queue_arn: &format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"),
        region: REGION,
    })]})
}

/// An SQS message as Lambda's event source mapping hands it to a function, in the SQS event's
/// words (AWS "Using Lambda with Amazon SQS", example event).
#[derive(Debug)]
pub(crate) struct SqsMessage<'a> {
    pub(crate) id: &'a str,
    pub(crate) receipt_handle: &'a str,
    pub(crate) body: &'a str,
    /// The system attributes, by name (`ApproximateReceiveCount`, `MessageGroupId`, ..).
    pub(crate) attributes: Value,
    /// The message attributes, by name, each as [`sqs_attribute`] spells it.
    pub(crate) message_attributes: Value,
    pub(crate) md5_of_body: &'a str,
    pub(crate) queue_arn: &'a str,
    pub(crate) region: &'a str,
}

/// One record of an SQS event.
pub(crate) fn sqs_record(message: &SqsMessage<'_>) -> Value {
    json!({
        "messageId": message.id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": message.attributes,
        "messageAttributes": message.message_attributes,
        "md5OfBody": message.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": message.queue_arn,
        "awsRegion": message.region,
    })
}

/// A message attribute as the SQS event spells it: camel case, with list fields of its own,
/// binary values in base64.
pub(crate) fn sqs_attribute(data_type: &str, string: Option<&str>, binary: Option<&[u8]>) -> Value {
    let mut attribute = json!({
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": data_type,
    });
    if let Some(string) = string {
        attribute["stringValue"] = json!(string);
    }
    if let Some(binary) = binary {
        attribute["binaryValue"] = json!(base64::engine::general_purpose::STANDARD.encode(binary));
    }
    attribute
}

fn sns(topic: &str, subject: &str, message: &str) -> Value {
    let topic_arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{topic}");
    json!({"Records": [{
        "EventVersion": "1.0",
        "EventSubscriptionArn": format!("{topic_arn}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"),
        "EventSource": "aws:sns",
        "Sns": {
            "SignatureVersion": "1",
            "Timestamp": TIME,
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
            "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "Message": message,
            "MessageAttributes": {},
            "Type": "Notification",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "TopicArn": topic_arn,
            "Subject": subject,
        },
    }]})
}

fn eventbridge(source: &str, detail_type: &str, detail: Value, resources: Vec<String>) -> Value {
    eventbridge_event(&EventBridgeEvent {
        id: "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        time: "2026-01-01T12:00:00Z",
        region: REGION,
        account: ACCOUNT,
        source,
        detail_type,
        detail,
        resources,
    })
}

/// An event EventBridge sends a rule's target (AWS "Amazon EventBridge events"); a schedule's
/// is of `aws.events`, `Scheduled Event`, with the rule's ARN in `resources`.
#[derive(Debug)]
pub(crate) struct EventBridgeEvent<'a> {
    pub(crate) id: &'a str,
    /// RFC 3339, in whole seconds.
    pub(crate) time: &'a str,
    pub(crate) region: &'a str,
    pub(crate) account: &'a str,
    pub(crate) source: &'a str,
    pub(crate) detail_type: &'a str,
    pub(crate) detail: Value,
    pub(crate) resources: Vec<String>,
}

/// The event, as its target gets it.
pub(crate) fn eventbridge_event(event: &EventBridgeEvent<'_>) -> Value {
    json!({
        "version": "0",
        "id": event.id,
        "detail-type": event.detail_type,
        "source": event.source,
        "account": event.account,
        "time": event.time,
        "region": event.region,
        "resources": event.resources,
        "detail": event.detail,
    })
}

fn dynamodb(table: &str, event_name: &str, id: &str) -> Value {
    let keys = json!({"id": {"S": id}});
    let image = json!({"id": {"S": id}, "status": {"S": "new"}, "quantity": {"N": "1"}});
    let mut record = json!({
        "ApproximateCreationDateTime": TIME_EPOCH_MS / 1000,
        "Keys": keys,
        "SequenceNumber": "111",
        "SizeBytes": 26,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if event_name != "REMOVE" {
        record["NewImage"] = image.clone();
    }
    if event_name != "INSERT" {
        record["OldImage"] = image;
    }
    let stream =
        format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/stream/2026-01-01T12:00:00.000");
    json!({"Records": [dynamodb_record(
        json!({
            "eventID": "c4ca4238a0b923820dcc509a6f75849b",
            "eventName": event_name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": REGION,
            "dynamodb": record,
        }),
        &stream,
    )]})
}

/// A DynamoDB stream record (as the stream's GetRecords has it: `eventID`, `eventName`,
/// `dynamodb`, ..) as a record of the event Lambda hands a function: with the stream's ARN.
pub(crate) fn dynamodb_record(mut record: Value, stream_arn: &str) -> Value {
    record["eventSourceARN"] = json!(stream_arn);
    record
}

fn kinesis(stream: &str, partition_key: &str, data: &str) -> Value {
    json!({"Records": [kinesis_record(&KinesisRecord {
        shard: "shardId-000000000006",
        partition_key,
        sequence_number: "49590338271490256608559692538361571095921575989136588898",
        data: &base64::engine::general_purpose::STANDARD.encode(data),
        arrival: TIME_EPOCH_MS as f64 / 1000.0,
        stream_arn: &format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}"),
        role_arn: &format!("arn:aws:iam::{ACCOUNT}:role/lambda-role"),
        region: REGION,
    })]})
}

/// A Kinesis record as Lambda's event source mapping hands it to a function (AWS "Using
/// Lambda with Kinesis Data Streams", example event).
#[derive(Debug)]
pub(crate) struct KinesisRecord<'a> {
    pub(crate) shard: &'a str,
    pub(crate) partition_key: &'a str,
    pub(crate) sequence_number: &'a str,
    /// The data, in base64 (as GetRecords answers it).
    pub(crate) data: &'a str,
    /// When it arrived, in seconds since the epoch.
    pub(crate) arrival: f64,
    pub(crate) stream_arn: &'a str,
    /// The role the mapping reads with (`invokeIdentityArn`).
    pub(crate) role_arn: &'a str,
    pub(crate) region: &'a str,
}

/// One record of a Kinesis event.
pub(crate) fn kinesis_record(record: &KinesisRecord<'_>) -> Value {
    json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record.partition_key,
            "sequenceNumber": record.sequence_number,
            "data": record.data,
            "approximateArrivalTimestamp": record.arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("{}:{}", record.shard, record.sequence_number),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": record.role_arn,
        "awsRegion": record.region,
        "eventSourceARN": record.stream_arn,
    })
}

fn ses(from: &str, subject: &str, recipient: &str) -> Value {
    let verdict = json!({"status": "PASS"});
    json!({"Records": [{
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": {
                "timestamp": TIME,
                "source": from,
                "messageId": "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1",
                "destination": [recipient],
                "headersTruncated": false,
                "headers": [
                    {"name": "Return-Path", "value": format!("<{from}>")},
                    {"name": "From", "value": from},
                    {"name": "To", "value": recipient},
                    {"name": "Subject", "value": subject},
                    {"name": "Date", "value": "Thu, 1 Jan 2026 12:00:00 +0000"},
                    {"name": "Message-ID", "value": "<0123456789@example.com>"},
                ],
                "commonHeaders": {
                    "returnPath": from,
                    "from": [from],
                    "date": "Thu, 1 Jan 2026 12:00:00 +0000",
                    "to": [recipient],
                    "messageId": "<0123456789@example.com>",
                    "subject": subject,
                },
            },
            "receipt": {
                "timestamp": TIME,
                "processingTimeMillis": 222,
                "recipients": [recipient],
                "spamVerdict": verdict,
                "virusVerdict": verdict,
                "spfVerdict": verdict,
                "dkimVerdict": verdict,
                "dmarcVerdict": verdict,
                "dmarcPolicy": "none",
                "action": {
                    "type": "Lambda",
                    "invocationType": "Event",
                    "functionArn": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:example-function"),
                },
            },
        },
    }]})
}

/// What every user pool trigger's event starts with.
fn cognito_header(trigger_source: &str, username: &str) -> Value {
    json!({
        "version": "1",
        "triggerSource": trigger_source,
        "region": REGION,
        "userPoolId": "us-east-1_EXAMPLE",
        "userName": username,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "example-client-id"},
    })
}

fn cognito_pre_signup(username: &str, email: &str) -> Value {
    let mut event = cognito_header("PreSignUp_SignUp", username);
    event["request"] = json!({"userAttributes": {"email": email}, "validationData": null});
    event["response"] =
        json!({"autoConfirmUser": false, "autoVerifyEmail": false, "autoVerifyPhone": false});
    event
}

fn cognito_pre_token(username: &str, email: &str) -> Value {
    let mut event = cognito_header("TokenGeneration_Authentication", username);
    event["request"] = json!({
        "userAttributes": {
            "sub": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
            "email": email,
            "email_verified": "true",
            "cognito:user_status": "CONFIRMED",
        },
        "groupConfiguration": {"groupsToOverride": [], "iamRolesToOverride": [], "preferredRole": null},
    });
    event["response"] = json!({"claimsOverrideDetails": null});
    event
}

/// A subscription filter's event: the log events' JSON gzip-compressed, then base64-encoded, as
/// CloudWatch Logs sends it.
fn logs(group: &str, stream: &str, message: &str) -> Value {
    let data = json!({
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": group,
        "logStream": stream,
        "subscriptionFilters": ["example-filter"],
        "logEvents": [{
            "id": "31953106606966983378809025079804211143289615424298221568",
            "timestamp": TIME_EPOCH_MS,
            "message": message,
        }],
    });
    let gzipped = gzip(data.to_string().as_bytes());
    json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(gzipped)}})
}

/// A gzip member (RFC 1952) holding `data`: no name, no time, so the same data makes the same
/// bytes.
fn gzip(data: &[u8]) -> Vec<u8> {
    // Magic, deflate, no flags, no modification time, no extra flags, unknown OS.
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
    out.extend(crc32fast::hash(data).to_le_bytes());
    // ISIZE is the length modulo 2^32 (RFC 1952, 2.3.1).
    out.extend((data.len() as u32).to_le_bytes());
    out
}

fn kafka(topic: &str, partition: u32, key: &str, value: &str) -> Value {
    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": format!("arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/example-cluster/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111-1"),
        "bootstrapServers": "b-1.example-cluster.abcdef.c1.kafka.us-east-1.amazonaws.com:9098,b-2.example-cluster.abcdef.c1.kafka.us-east-1.amazonaws.com:9098",
        "records": {
            format!("{topic}-{partition}"): [{
                "topic": topic,
                "partition": partition,
                "offset": 15,
                "timestamp": TIME_EPOCH_MS,
                "timestampType": "CREATE_TIME",
                "key": encode(key),
                "value": encode(value),
                "headers": [{"source": b"lambdakit".to_vec()}],
            }],
        },
    })
}

fn firehose(data: &str, records: usize) -> Value {
    let records: Vec<Value> = (0..records)
        .map(|index| {
            json!({
                "recordId": format!("49546986683135544286507457936321625675700192471156785154{index:03}"),
                "approximateArrivalTimestamp": TIME_EPOCH_MS,
                "data": base64::engine::general_purpose::STANDARD.encode(data),
            })
        })
        .collect();
    json!({
        "invocationId": "invocationIdExample",
        "deliveryStreamArn": format!("arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/example-stream"),
        "region": REGION,
        "records": records,
    })
}
