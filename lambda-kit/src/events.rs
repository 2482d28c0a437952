//! The events AWS services send to Lambda, as typed structs, one Cargo feature per service.
//!
//! The types come from the `aws_lambda_events` crate, which already tracks the services'
//! payloads; this module picks what a handler of each kind needs and gates it behind a feature
//! of ours (`sqs`, `s3`, `apigw`, ...), so a function compiles only the events it takes and its
//! `Cargo.toml` does not have to name, or agree with us on the version of, another crate.
//! The features are additive: turn on as many as the function handles.
//!
//! Every event type is a `serde` type, so a handler takes it as its event directly:
//!
//! ```no_run
//! use lambda_kit::events::s3::S3Event;
//! use lambda_kit::{Context, Diagnostic};
//!
//! #[lambda_kit::handler]
//! async fn handler(event: S3Event, _ctx: Context) -> Result<(), Diagnostic> {
//!     for record in event.records {
//!         let key = record.s3.object.key.unwrap_or_default();
//!         tracing::info!(%key, "new object");
//!     }
//!     Ok(())
//! }
//! ```
//!
//! The structs are `#[non_exhaustive]`: read their public fields, and build them in tests by
//! deserializing the JSON the service sends (`cargo lambdakit invoke --event KIND` prints one).

/// Amazon SQS: the event of an SQS event source mapping, and its partial batch response.
///
/// [`SqsBatchResponse`](sqs::SqsBatchResponse) lists the messages that failed, so that only those are retried (the
/// mapping needs `ReportBatchItemFailures`); [`batch::sqs`](crate::batch::sqs) builds it for you.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::sqs::SqsEvent;
///
/// let event: SqsEvent = serde_json::from_str(r#"{"Records": [
///     {"messageId": "m-1", "body": "hello", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders"}
/// ]}"#)?;
/// assert_eq!(event.records[0].body.as_deref(), Some("hello"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "sqs")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqs")))]
pub mod sqs {
    #[doc(inline)]
    pub use aws_lambda_events::sqs::{
        BatchItemFailure, SqsBatchResponse, SqsEvent, SqsEventObj, SqsMessage, SqsMessageAttribute,
        SqsMessageObj,
    };
}

/// Amazon SNS: the notification event, with the message and its attributes.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::sns::SnsEvent;
///
/// let event: SnsEvent = serde_json::from_str(r#"{"Records": [{
///     "EventVersion": "1.0", "EventSource": "aws:sns",
///     "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:alerts:5f1b",
///     "Sns": {
///         "Type": "Notification", "MessageId": "n-1",
///         "TopicArn": "arn:aws:sns:us-east-1:123456789012:alerts",
///         "Message": "disk full", "Timestamp": "2026-11-23T09:30:00.000Z",
///         "SignatureVersion": "1", "Signature": "", "SigningCertUrl": "", "UnsubscribeUrl": "",
///         "MessageAttributes": {}
///     }
/// }]}"#)?;
/// assert_eq!(event.records[0].sns.message, "disk full");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "sns")]
#[cfg_attr(docsrs, doc(cfg(feature = "sns")))]
pub mod sns {
    #[doc(inline)]
    pub use aws_lambda_events::sns::{
        MessageAttribute, SnsEvent, SnsEventObj, SnsMessage, SnsMessageObj, SnsRecord, SnsRecordObj,
    };
}

/// Amazon S3: event notifications for objects created, removed, restored and so on.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::s3::S3Event;
///
/// let event: S3Event = serde_json::from_str(r#"{"Records": [{
///     "eventName": "ObjectCreated:Put", "eventTime": "2026-11-23T09:30:00.000Z",
///     "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"}, "requestParameters": {},
///     "s3": {"bucket": {"name": "photos"}, "object": {"key": "cat.png", "size": 1024}}
/// }]}"#)?;
/// let record = &event.records[0];
/// assert_eq!(record.s3.bucket.name.as_deref(), Some("photos"));
/// assert_eq!(record.s3.object.key.as_deref(), Some("cat.png"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "s3")]
#[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
pub mod s3 {
    #[doc(inline)]
    pub use aws_lambda_events::s3::{
        S3Bucket, S3Entity, S3Event, S3EventRecord, S3Object, S3RequestParameters, S3UserIdentity,
    };
}

/// Amazon DynamoDB Streams: change records, and the partial batch response.
///
/// The event type is named [`Event`](dynamodb::Event) as in `aws_lambda_events`; each
/// [`EventRecord`](dynamodb::EventRecord) holds the change in its `change` field
/// ([`StreamRecord`](dynamodb::StreamRecord): keys, images, sequence number).
/// [`batch::dynamodb`](crate::batch::dynamodb) builds the [`DynamoDbEventResponse`](dynamodb::DynamoDbEventResponse).
///
/// # Examples
///
/// ```
/// use lambda_kit::events::dynamodb::Event;
///
/// let event: Event = serde_json::from_str(r#"{"Records": [{
///     "eventID": "e-1", "eventName": "INSERT", "awsRegion": "us-east-1",
///     "dynamodb": {"SequenceNumber": "111", "SizeBytes": 26, "Keys": {"id": {"S": "o-1"}}}
/// }]}"#)?;
/// assert_eq!(event.records[0].change.sequence_number.as_deref(), Some("111"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "dynamodb")]
#[cfg_attr(docsrs, doc(cfg(feature = "dynamodb")))]
pub mod dynamodb {
    #[doc(inline)]
    pub use aws_lambda_events::dynamodb::{
        Event, EventRecord, OperationType, StreamRecord, StreamViewType, UserIdentity,
    };
    #[doc(inline)]
    pub use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
}

/// Amazon Kinesis Data Streams: records (their data already base64-decoded), and the partial
/// batch response.
///
/// [`batch::kinesis`](crate::batch::kinesis) builds the [`KinesisEventResponse`](kinesis::KinesisEventResponse).
///
/// # Examples
///
/// ```
/// use lambda_kit::events::kinesis::KinesisEvent;
///
/// let event: KinesisEvent = serde_json::from_str(r#"{"Records": [{
///     "eventSource": "aws:kinesis", "eventID": "shardId-000:1",
///     "kinesis": {
///         "partitionKey": "p", "sequenceNumber": "4954", "data": "aGVsbG8=",
///         "approximateArrivalTimestamp": 1795426200.123
///     }
/// }]}"#)?;
/// assert_eq!(&event.records[0].kinesis.data[..], b"hello");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "kinesis")]
#[cfg_attr(docsrs, doc(cfg(feature = "kinesis")))]
pub mod kinesis {
    #[doc(inline)]
    pub use aws_lambda_events::kinesis::{
        KinesisEncryptionType, KinesisEvent, KinesisEventRecord, KinesisRecord,
    };
    #[doc(inline)]
    pub use aws_lambda_events::streams::{KinesisBatchItemFailure, KinesisEventResponse};
}

/// Amazon EventBridge: an event from a bus rule, with its `detail` as your own type.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::eventbridge::EventBridgeEvent;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct OrderPlaced {
///     order: String,
/// }
///
/// let event: EventBridgeEvent<OrderPlaced> = serde_json::from_str(r#"{
///     "detail-type": "OrderPlaced", "source": "shop", "detail": {"order": "o-1"}
/// }"#)?;
/// assert_eq!(event.detail.order, "o-1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "eventbridge")]
#[cfg_attr(docsrs, doc(cfg(feature = "eventbridge")))]
pub mod eventbridge {
    #[doc(inline)]
    pub use aws_lambda_events::eventbridge::EventBridgeEvent;
}

/// Scheduled events: what an EventBridge (CloudWatch Events) schedule rule sends, with
/// `detail-type` `Scheduled Event`.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::schedule::CloudWatchEvent;
///
/// let event: CloudWatchEvent = serde_json::from_str(r#"{
///     "version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events",
///     "account": "123456789012", "time": "2026-11-23T09:30:00Z", "region": "us-east-1",
///     "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly"], "detail": {}
/// }"#)?;
/// assert_eq!(event.detail_type.as_deref(), Some("Scheduled Event"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "schedule")]
#[cfg_attr(docsrs, doc(cfg(feature = "schedule")))]
pub mod schedule {
    #[doc(inline)]
    pub use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
}

/// Amazon API Gateway: REST API (payload 1.0) and HTTP API (payload 2.0) proxy events and
/// responses, WebSocket events, and authorizer requests and responses.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::apigw::ApiGatewayV2httpRequest;
///
/// let request: ApiGatewayV2httpRequest = serde_json::from_str(r#"{
///     "version": "2.0", "routeKey": "GET /orders", "rawPath": "/orders", "rawQueryString": "",
///     "headers": {"accept": "application/json"},
///     "requestContext": {"http": {"method": "GET", "path": "/orders"}, "stage": "$default"},
///     "isBase64Encoded": false
/// }"#)?;
/// assert_eq!(request.raw_path.as_deref(), Some("/orders"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "apigw")]
#[cfg_attr(docsrs, doc(cfg(feature = "apigw")))]
pub mod apigw {
    #[doc(inline)]
    pub use aws_lambda_events::apigw::{
        ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequest,
        ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
        ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayProxyResponse,
        ApiGatewayRequestAuthorizer, ApiGatewayRequestIdentity,
        ApiGatewayV2CustomAuthorizerIamPolicyResponse, ApiGatewayV2CustomAuthorizerSimpleResponse,
        ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest,
        ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
        ApiGatewayV2httpResponse, ApiGatewayWebsocketProxyRequest,
        ApiGatewayWebsocketProxyRequestContext,
    };
}

/// Application Load Balancer: the request a target group sends, and the response it expects.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::alb::AlbTargetGroupRequest;
///
/// let request: AlbTargetGroupRequest = serde_json::from_str(r#"{
///     "httpMethod": "GET", "path": "/health", "queryStringParameters": {},
///     "headers": {"host": "example.com"}, "isBase64Encoded": false, "body": "",
///     "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1"}}
/// }"#)?;
/// assert_eq!(request.path.as_deref(), Some("/health"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "alb")]
#[cfg_attr(docsrs, doc(cfg(feature = "alb")))]
pub mod alb {
    #[doc(inline)]
    pub use aws_lambda_events::alb::{
        AlbTargetGroupRequest, AlbTargetGroupRequestContext, AlbTargetGroupResponse, ElbContext,
    };
}

/// Lambda function URLs: the request (payload 2.0) and the response.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::function_url::LambdaFunctionUrlRequest;
///
/// let request: LambdaFunctionUrlRequest = serde_json::from_str(r#"{
///     "version": "2.0", "rawPath": "/hello", "rawQueryString": "name=ada",
///     "headers": {"host": "abc.lambda-url.us-east-1.on.aws"},
///     "requestContext": {"http": {"method": "GET", "path": "/hello"}, "timeEpoch": 1795426200123},
///     "isBase64Encoded": false
/// }"#)?;
/// assert_eq!(request.raw_query_string.as_deref(), Some("name=ada"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "function-url")]
#[cfg_attr(docsrs, doc(cfg(feature = "function-url")))]
pub mod function_url {
    #[doc(inline)]
    pub use aws_lambda_events::lambda_function_urls::{
        LambdaFunctionUrlRequest, LambdaFunctionUrlRequestContext,
        LambdaFunctionUrlRequestContextAuthorizerDescription,
        LambdaFunctionUrlRequestContextAuthorizerIamDescription,
        LambdaFunctionUrlRequestContextHttpDescription, LambdaFunctionUrlResponse,
    };
}

/// Amazon SES: the event of a receipt rule's Lambda action, with the mail's headers, its
/// receipt (recipients, the action) and the spam, virus, SPF, DKIM and DMARC verdicts.
///
/// A rule that invokes the function synchronously (`RequestResponse`) reads a
/// [`SimpleEmailDisposition`](ses::SimpleEmailDisposition) back: `CONTINUE`, `STOP_RULE` or
/// `STOP_RULE_SET` (AWS "Invoke Lambda function action" in the SES developer guide). The
/// message's body is not in the event; a rule stores it with an S3 action before the Lambda one.
///
/// # Examples
///
/// ```
/// use lambda_kit::events::ses::SimpleEmailEvent;
///
/// let event: SimpleEmailEvent = serde_json::from_str(r#"{"Records": [{
///     "eventSource": "aws:ses", "eventVersion": "1.0",
///     "ses": {
///         "mail": {
///             "timestamp": "2026-11-23T09:30:00.000Z", "source": "ada@example.com",
///             "messageId": "o3vrnil0e2ic", "destination": ["orders@example.com"],
///             "headersTruncated": false, "headers": [{"name": "Subject", "value": "Order 7"}],
///             "commonHeaders": {"from": ["Ada <ada@example.com>"], "to": ["orders@example.com"], "subject": "Order 7"}
///         },
///         "receipt": {
///             "timestamp": "2026-11-23T09:30:00.000Z", "processingTimeMillis": 12,
///             "recipients": ["orders@example.com"],
///             "spamVerdict": {"status": "PASS"}, "virusVerdict": {"status": "PASS"},
///             "spfVerdict": {"status": "PASS"}, "dkimVerdict": {"status": "PASS"},
///             "dmarcVerdict": {"status": "PASS"},
///             "action": {"type": "Lambda", "invocationType": "Event",
///                        "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:intake"}
///         }
///     }
/// }]}"#)?;
/// let mail = &event.records[0].ses.mail;
/// assert_eq!(mail.source.as_deref(), Some("ada@example.com"));
/// assert_eq!(mail.common_headers.subject.as_deref(), Some("Order 7"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "ses")]
#[cfg_attr(docsrs, doc(cfg(feature = "ses")))]
pub mod ses {
    #[doc(inline)]
    pub use aws_lambda_events::ses::{
        SimpleEmailCommonHeaders, SimpleEmailDisposition, SimpleEmailDispositionValue,
        SimpleEmailEvent, SimpleEmailHeader, SimpleEmailMessage, SimpleEmailReceipt,
        SimpleEmailReceiptAction, SimpleEmailRecord, SimpleEmailService, SimpleEmailVerdict,
    };
}

#[cfg(feature = "iot")]
#[cfg_attr(docsrs, doc(cfg(feature = "iot")))]
pub mod iot;

#[cfg(feature = "cognito")]
#[cfg_attr(docsrs, doc(cfg(feature = "cognito")))]
pub mod cognito;

/// Amazon CloudWatch Logs: the event of a subscription filter, its data already decoded.
///
/// CloudWatch Logs sends the matching log events gzip-compressed and base64-encoded in
/// `awslogs.data`; [`LogsEvent`](cloudwatch_logs::LogsEvent) decodes them when it is
/// deserialized, so `event.aws_logs.data` is the [`LogData`](cloudwatch_logs::LogData): the
/// log group and stream, the filters that matched and the [`LogEntry`](cloudwatch_logs::LogEntry)s.
///
/// When a filter is created, CloudWatch Logs sends one event whose `message_type` is
/// `CONTROL_MESSAGE` to check that the function can be reached; skip it. Data events have
/// `DATA_MESSAGE` (AWS "Using CloudWatch Logs subscription filters").
///
/// # Examples
///
/// ```
/// use lambda_kit::events::cloudwatch_logs::LogsEvent;
///
/// // What CloudWatch Logs sends: its log events' JSON, gzip-compressed and base64-encoded.
/// // (Read from text or bytes, as the runtime does: `AwsLogs` cannot be read from a `Value`.)
/// let event: LogsEvent = serde_json::from_str(r#"{"awslogs": {"data":
///     "H4sIAAAAAAACAzVPXQuCMBT9KzF6DOZmWvkmtHopAvUtJKa7yMA52VYS0X/vWnSfLufjnnNfxID3soPqOQLJyD6v8ttZlGV+FGRF7DSAQ5jxeJ2km+0uYhzh3nZHZ+8jMlROnvbSNEpS6xQ4/+PL4EAaFPCIp5QxymN6XZ7ySpRVLZsWVf7e+NbpMWg7HHQfZm92JeCcxa3+nhEPGMIMv4hWcxH0BY2dgzQYzza7ZM1THs2z+v+COlEUl2IxyqdB/0JB2+sBFHnX7w+xMPhB8gAAAA=="}}"#)?;
/// let data = &event.aws_logs.data;
/// assert_eq!(data.log_group, "/aws/lambda/orders");
/// assert_eq!(data.log_events[0].message, "ERROR payment declined");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg(feature = "cloudwatch-logs")]
#[cfg_attr(docsrs, doc(cfg(feature = "cloudwatch-logs")))]
pub mod cloudwatch_logs {
    #[doc(inline)]
    pub use aws_lambda_events::cloudwatch_logs::{AwsLogs, LogData, LogEntry, LogsEvent};
}

#[cfg(feature = "kafka")]
#[cfg_attr(docsrs, doc(cfg(feature = "kafka")))]
pub mod kafka;

#[cfg(feature = "firehose")]
#[cfg_attr(docsrs, doc(cfg(feature = "firehose")))]
pub mod firehose;
