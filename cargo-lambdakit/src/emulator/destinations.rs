//! Where an asynchronous invocation's record, or its event, goes when it leaves its queue
//! (`queue`) for AWS: an SQS queue (SendMessage), an SNS topic (Publish), an EventBridge bus
//! (PutEvents) or an S3 bucket (PutObject), as Lambda delivers them (AWS "Capturing records of
//! Lambda asynchronous invocations"). Destinations that are Lambda functions stay with the
//! queue: they are functions this serve runs.
//!
//! The clients act with serve's own AWS configuration (its environment: `AWS_ENDPOINT_URL`,
//! region, credentials, profile), never a function's, and are built once, when the first
//! delivery to AWS is made: a serve whose events never leave it never loads an AWS
//! configuration. Each call goes to the region its ARN names.
//!
//! A delivery runs in a task [`Destinations`] owns, so the queue goes on while AWS answers;
//! each ends within the SDK's timeouts ([`OPERATION_TIMEOUT`]), and one that fails prints one
//! line on stderr naming the invocation, the destination and AWS's error. Nothing is dropped
//! without a line: [`Destinations::shutdown`] waits for the deliveries under way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use bytes::Bytes;
use serde_json::Value;
use tokio::task::JoinSet;

use super::lock;

/// How long one delivery may take, its retries included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one attempt of it may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a function's error message a dead-letter message carries (AWS "Dead-letter
/// queue message attributes": "the first 1 KB of the error message").
const DEAD_LETTER_MESSAGE_BYTES: usize = 1024;

/// The service an asynchronous invocation's destination (or dead-letter queue) is of, by its
/// ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// A function; this serve runs it (see `queue`).
    Lambda,
    Sqs,
    Sns,
    EventBridge,
    S3,
}

impl Service {
    /// What AWS calls it, for messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Lambda => "Lambda",
            Self::Sqs => "SQS",
            Self::Sns => "SNS",
            Self::EventBridge => "EventBridge",
            Self::S3 => "S3",
        }
    }
}

/// The parts of a destination's ARN, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arn {
    pub(crate) service: Service,
    region: String,
    account: String,
    /// The queue's or topic's name, the bus's `event-bus/NAME`, the bucket's name, or the
    /// function's `function:NAME[:QUALIFIER]`.
    resource: String,
}

impl Arn {
    /// `arn` read as a destination.
    ///
    /// # Errors
    ///
    /// Says why it is not one Lambda takes.
    pub(crate) fn parse(arn: &str) -> Result<Self, String> {
        let not = || {
            format!(
                "`{arn}` is not the ARN of a Lambda function, an SQS queue, an SNS topic, an EventBridge event bus or an S3 bucket"
            )
        };
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(_partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(not());
        };
        let service = match service {
            "lambda" if resource.starts_with("function:") => Service::Lambda,
            "sqs" => Service::Sqs,
            "sns" => Service::Sns,
            "events" if resource.starts_with("event-bus/") => Service::EventBridge,
            "s3" => Service::S3,
            _ => return Err(not()),
        };
        if resource.is_empty() {
            return Err(not());
        }
        Ok(Self {
            service,
            region: region.to_owned(),
            account: account.to_owned(),
            resource: resource.to_owned(),
        })
    }
}

/// What goes to a destination.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// The invocation record (`queue::record`), to an on-success or on-failure destination.
    Record {
        record: Value,
        success: bool,
        /// The function's name (S3 keys name it) and the ARN it was invoked by (EventBridge's
        /// `resources` name it).
        function: String,
        function_arn: String,
    },
    /// The event as it came, to the function's dead-letter queue, with Lambda's attributes.
    DeadLetter {
        payload: Bytes,
        request_id: String,
        /// The HTTP status of the last attempt (`ErrorCode`).
        status: u16,
        /// The last error's message (`ErrorMessage`), of which the first KB is sent.
        error_message: String,
    },
}

/// The SDK clients deliveries use, made once.
#[derive(Debug)]
struct Clients {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    events: aws_sdk_eventbridge::Client,
    s3: aws_sdk_s3::Client,
}

impl Clients {
    /// serve's AWS configuration (its environment, with `region` when it names none).
    async fn load(region: &str) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(OPERATION_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .http_client(crate::aws::http_client())
            .timeout_config(timeouts)
            .load()
            .await;
        let config = match config.region() {
            Some(_) => config,
            None => config
                .to_builder()
                .region(aws_config::Region::new(region.to_owned()))
                .build(),
        };
        // A custom endpoint (a local mock, a proxy) has no per-bucket host names.
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self {
            sqs: aws_sdk_sqs::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3),
        }
    }
}

#[derive(Debug)]
struct Inner {
    /// The region of serve's ARNs, for a configuration that names none.
    region: String,
    clients: tokio::sync::OnceCell<Clients>,
}

/// The deliveries to AWS, and the clients they use.
#[derive(Debug)]
pub(crate) struct Destinations {
    inner: Arc<Inner>,
    /// The deliveries under way.
    deliveries: Mutex<JoinSet<()>>,
}

impl Destinations {
    pub(crate) fn new(region: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                region: region.to_owned(),
                clients: tokio::sync::OnceCell::new(),
            }),
            deliveries: Mutex::default(),
        }
    }

    /// Sends `delivery` to `arn` (of SQS, SNS, EventBridge or S3) in a task of its own; when
    /// AWS refuses it, or cannot be reached, prints one line: `what` (the invocation, as
    /// `asynchronous invocation ID of `NAME` after N attempts`), the destination and the error.
    pub(crate) fn deliver(&self, arn: Arn, destination: String, delivery: Delivery, what: String) {
        let inner = Arc::clone(&self.inner);
        let mut deliveries = lock(&self.deliveries);
        while deliveries.try_join_next().is_some() {}
        deliveries.spawn(async move {
            let clients = inner
                .clients
                .get_or_init(|| Clients::load(&inner.region))
                .await;
            if let Err(error) = send(clients, &arn, &destination, delivery).await {
                eprintln!(
                    "lambdakit: dropped {what}: its {} destination {destination} did not take it: {error}",
                    arn.service.as_str()
                );
            }
        });
    }

    /// Waits for the deliveries under way (each ends within [`OPERATION_TIMEOUT`]).
    pub(crate) async fn shutdown(&self) {
        let mut deliveries = std::mem::take(&mut *lock(&self.deliveries));
        while deliveries.join_next().await.is_some() {}
    }
}

/// One delivery, as Lambda makes it.
async fn send(
    clients: &Clients,
    arn: &Arn,
    destination: &str,
    delivery: Delivery,
) -> Result<(), String> {
    let region = aws_config::Region::new(arn.region.clone());
    match (arn.service, delivery) {
        (Service::Sqs, delivery) => {
            let url = clients
                .sqs
                .get_queue_url()
                .queue_name(&arn.resource)
                .queue_owner_aws_account_id(&arn.account)
                .customize()
                .config_override(aws_sdk_sqs::config::Builder::default().region(region.clone()))
                .send()
                .await
                .map_err(|error| aws_error("sqs:GetQueueUrl", &error))?
                .queue_url()
                .map(str::to_owned)
                .ok_or("sqs:GetQueueUrl answered no QueueUrl")?;
            let mut message = clients.sqs.send_message().queue_url(url);
            match delivery {
                Delivery::Record { record, .. } => {
                    message = message.message_body(record.to_string());
                }
                Delivery::DeadLetter {
                    payload,
                    request_id,
                    status,
                    error_message,
                } => {
                    let attribute = |kind: &str, value| {
                        aws_sdk_sqs::types::MessageAttributeValue::builder()
                            .data_type(kind)
                            .string_value(value)
                            .build()
                    };
                    let (body, attributes) =
                        dead_letter(&payload, request_id, status, &error_message, attribute)?;
                    message = message
                        .message_body(body)
                        .set_message_attributes(Some(attributes));
                }
            }
            message
                .customize()
                .config_override(aws_sdk_sqs::config::Builder::default().region(region))
                .send()
                .await
                .map_err(|error| aws_error("sqs:SendMessage", &error))?;
        }
        (Service::Sns, delivery) => {
            let mut publish = clients.sns.publish().topic_arn(destination);
            match delivery {
                Delivery::Record { record, .. } => publish = publish.message(record.to_string()),
                Delivery::DeadLetter {
                    payload,
                    request_id,
                    status,
                    error_message,
                } => {
                    let attribute = |kind: &str, value| {
                        aws_sdk_sns::types::MessageAttributeValue::builder()
                            .data_type(kind)
                            .string_value(value)
                            .build()
                    };
                    let (body, attributes) =
                        dead_letter(&payload, request_id, status, &error_message, attribute)?;
                    publish = publish
                        .message(body)
                        .set_message_attributes(Some(attributes));
                }
            }
            publish
                .customize()
                .config_override(aws_sdk_sns::config::Builder::default().region(region))
                .send()
                .await
                .map_err(|error| aws_error("sns:Publish", &error))?;
        }
        (
            Service::EventBridge,
            Delivery::Record {
                record,
                success,
                function_arn,
                ..
            },
        ) => {
            // AWS's guide now says `aws.lambda`; the events Lambda puts on a bus carry
            // `lambda`, which the rules written for them (and AWS CDK's docs) match.
            let detail_type = if success {
                "Lambda Function Invocation Result - Success"
            } else {
                "Lambda Function Invocation Result - Failure"
            };
            let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source("lambda")
                .detail_type(detail_type)
                .detail(record.to_string())
                .event_bus_name(destination)
                .resources(destination)
                .resources(function_arn)
                .build();
            let put = clients
                .events
                .put_events()
                .entries(entry)
                .customize()
                .config_override(aws_sdk_eventbridge::config::Builder::default().region(region))
                .send()
                .await
                .map_err(|error| aws_error("events:PutEvents", &error))?;
            if put.failed_entry_count() > 0 {
                let failed = put.entries().first();
                return Err(format!(
                    "events:PutEvents failed the event: {}: {}",
                    failed.and_then(|entry| entry.error_code()).unwrap_or("?"),
                    failed
                        .and_then(|entry| entry.error_message())
                        .unwrap_or_default()
                ));
            }
        }
        (
            Service::S3,
            Delivery::Record {
                record, function, ..
            },
        ) => {
            let key = s3_key(&function, SystemTime::now(), &super::ids::request_id());
            clients
                .s3
                .put_object()
                .bucket(&arn.resource)
                .key(key)
                .content_type("application/json")
                .body(aws_sdk_s3::primitives::ByteStream::from(
                    record.to_string().into_bytes(),
                ))
                .customize()
                .config_override(aws_sdk_s3::config::Builder::default().region(region))
                .send()
                .await
                .map_err(|error| aws_error("s3:PutObject", &error))?;
        }
        (service, _) => {
            // Refused when the config or the function was set (see `event_config` and
            // `functions`); said here rather than lost should one get through.
            return Err(format!(
                "{} does not take this (dead-letter queues are SQS queues or SNS topics; S3 takes failures only)",
                service.as_str()
            ));
        }
    }
    Ok(())
}

/// The key Lambda writes a record under in an S3 destination:
/// `aws/lambda/async/{function}/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-{uuid}` (AWS "Capturing records
/// of Lambda asynchronous invocations").
fn s3_key(function: &str, now: SystemTime, uuid: &str) -> String {
    let (year, month, day) = crate::time::date(now);
    // `2026-01-31T12:00:00.000Z` to `2026-01-31T12.00.00`.
    let stamp = crate::time::rfc3339(now);
    let stamp = stamp.get(..19).unwrap_or(&stamp).replace(':', ".");
    format!("aws/lambda/async/{function}/{year:04}/{month:02}/{day:02}/{stamp}-{uuid}")
}

/// A dead letter as SQS and SNS carry it: the event as the body, and Lambda's attributes
/// (`RequestID`, `ErrorCode`, `ErrorMessage`), each made by `attribute` from its data type and
/// value, as the service's SDK types them.
fn dead_letter<V, E: std::fmt::Display>(
    payload: &Bytes,
    request_id: String,
    status: u16,
    error_message: &str,
    attribute: impl Fn(&str, String) -> Result<V, E>,
) -> Result<(String, HashMap<String, V>), String> {
    let attributes = [
        ("RequestID", "String", request_id),
        ("ErrorCode", "Number", status.to_string()),
        ("ErrorMessage", "String", first_kilobyte(error_message)),
    ]
    .into_iter()
    .map(|(name, kind, value)| match attribute(kind, value) {
        Ok(value) => Ok((name.to_owned(), value)),
        Err(error) => Err(format!("message attribute {name}: {error}")),
    })
    .collect::<Result<_, _>>()?;
    Ok((String::from_utf8_lossy(payload).into_owned(), attributes))
}

/// At most the first KB of `text`, cut at a character's boundary.
fn first_kilobyte(text: &str) -> String {
    let mut end = text.len().min(DEAD_LETTER_MESSAGE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// `operation` failed: AWS's code and message, or why it was not answered.
fn aws_error<E, R>(operation: &str, error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => format!(
            "{operation} answered {}: {}",
            service.err().code().unwrap_or("an error"),
            service.err().message().unwrap_or_default()
        ),
        _ => format!("{operation} failed: {}", DisplayErrorContext(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_read_from_their_arns() {
        let queue = Arn::parse("arn:aws:sqs:eu-west-1:123456789012:failures").unwrap();
        assert_eq!(queue.service, Service::Sqs);
        assert_eq!(
            (
                queue.region.as_str(),
                queue.account.as_str(),
                queue.resource.as_str()
            ),
            ("eu-west-1", "123456789012", "failures")
        );
        assert_eq!(
            Arn::parse("arn:aws:events:eu-west-1:123456789012:event-bus/default")
                .unwrap()
                .service,
            Service::EventBridge
        );
        let bucket = Arn::parse("arn:aws:s3:::records").unwrap();
        assert_eq!(
            (bucket.service, bucket.resource.as_str()),
            (Service::S3, "records")
        );
        assert_eq!(
            Arn::parse("arn:aws:lambda:us-east-1:123456789012:function:catcher:live")
                .unwrap()
                .service,
            Service::Lambda
        );
        for not in [
            "somewhere",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/t",
            "arn:aws:events:eu-west-1:123456789012:rule/r",
            "arn:aws:sqs:eu-west-1:123456789012:",
        ] {
            assert!(Arn::parse(not).is_err(), "{not}");
        }
    }

    #[test]
    fn s3_keys_follow_lambdas_layout() {
        // 2026-01-31T12:34:56.789Z
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_769_862_896_789);
        assert_eq!(
            s3_key("orders", now, "0f0e"),
            "aws/lambda/async/orders/2026/01/31/2026-01-31T12.34.56-0f0e"
        );
    }

    #[test]
    fn dead_letter_messages_keep_the_first_kilobyte() {
        assert_eq!(first_kilobyte("short"), "short");
        let long = "é".repeat(1000);
        let kept = first_kilobyte(&long);
        assert!(kept.len() <= DEAD_LETTER_MESSAGE_BYTES && kept.len() >= 1022);
        assert!(long.starts_with(&kept));
    }
}
