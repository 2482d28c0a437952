//! What invokes the function: event source mappings (SQS, DynamoDB and Kinesis streams, Kafka
//! topics of Amazon MSK or self-managed clusters), S3
//! bucket notifications, EventBridge schedules, SNS subscriptions and CloudWatch Logs
//! subscription filters, each with the invoke permission its service needs, and Kinesis Data
//! Firehose transformations (the delivery stream's Lambda processor; Firehose invokes with the
//! stream's role, which needs `lambda:InvokeFunction` on the function), SES receipt rules and
//! IoT Core topic rules.
//!
//! Deploy owns the mappings of the functions it created. Elsewhere it owns only what it
//! marked: notification ids and statement ids starting with `lambdakit-`, and schedule rules
//! named `lambdakit-<function>-<n>` that target the function, and subscription filters named
//! `lambdakit-<function>`, receipt rules named `lambdakit-<function>`, topic rules named
//! `lambdakit_<function>_<n>`, and Lambda processors naming the function on the delivery streams
//! its `lambdakit:firehose` tag records. Other notifications on the same
//! bucket, other subscriptions of the same topic, are left as they are. The function's
//! resource policy records which buckets, topics and rules it granted, so a trigger removed
//! from the settings is found and removed too.

use std::time::Duration;

use aws_sdk_eventbridge::types::{RuleState, Target};
use aws_sdk_firehose::operation::update_destination::builders::UpdateDestinationFluentBuilder;
use aws_sdk_firehose::types::{
    ProcessingConfiguration, Processor, ProcessorParameter, ProcessorParameterName, ProcessorType,
};
use aws_sdk_lambda::types::{
    AmazonManagedKafkaEventSourceConfig, EndPointType, EventSourceMappingConfiguration,
    EventSourcePosition, FunctionResponseType, SelfManagedEventSource,
    SelfManagedKafkaEventSourceConfig, SourceAccessConfiguration, SourceAccessType,
};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput;
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
    NotificationConfigurationFilter, S3KeyFilter,
};
use aws_sdk_ses::types::{InvocationType, LambdaAction, ReceiptAction, ReceiptRule};
use serde_json::Value;

use super::settings::{
    FirehoseTrigger, KafkaCluster, KafkaTrigger, S3Trigger, SesTrigger, StartingPosition,
    StreamTrigger, Word as _,
};
use super::{
    Action, Change, ID_PREFIX, Options, Progress, TAG_FUNCTION, TAG_PACKAGE, TAG_STAGE, Unit,
    bounded,
};
use crate::aws::retry::retry;
use crate::aws::{self, Aws, Place};
use crate::error::CliError;
use crate::project::Function;

mod cognito;
mod iot;

pub(super) use cognito::{remove_from_pool, user_pool_of};
pub(super) use iot::{
    payload as topic_rule_payload, remove_topic_rule, rule_name as topic_rule_name, topic_rule_of,
};

/// A queue named by its ARN, or by its name in this account and region.
pub(super) fn queue_arn(place: &Place<'_>, queue: &str) -> String {
    if queue.starts_with("arn:") {
        queue.to_owned()
    } else {
        place.arn("sqs", queue)
    }
}

/// The function with each trigger's source as an ARN: queue and Kinesis stream names in this
/// account and region, DynamoDB tables by their stream's ARN (asked of DynamoDB).
pub(super) async fn resolve(aws: &Aws, function: &Function) -> Result<Function, CliError> {
    let mut function = function.clone();
    let triggers = &mut function.deploy.triggers;
    for (kind, streams) in [
        (Mapped::Sqs, &mut triggers.sqs),
        (Mapped::Kinesis, &mut triggers.kinesis),
        (Mapped::DynamoDb, &mut triggers.dynamodb),
    ] {
        for stream in streams {
            stream.source = source_arn(aws, kind, stream).await?;
        }
    }
    Ok(function)
}

/// The kinds of event source mapping a function's settings read from a queue or stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapped {
    /// `triggers.sqs`.
    Sqs,
    /// `triggers.kinesis`.
    Kinesis,
    /// `triggers.dynamodb`.
    DynamoDb,
}

impl Mapped {
    /// Its key under `triggers`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Sqs => "sqs",
            Self::Kinesis => "kinesis",
            Self::DynamoDb => "dynamodb",
        }
    }
}

/// The ARN of the queue or stream `trigger` (of `kind`) reads: a queue's or Kinesis stream's
/// name in this account and region, a DynamoDB table's stream (asked of DynamoDB).
///
/// # Errors
///
/// [`CliError::Conflict`] when the table does not exist or has no stream, or the error of
/// DynamoDB's DescribeTable.
pub async fn source_arn(
    aws: &Aws,
    kind: Mapped,
    trigger: &StreamTrigger,
) -> Result<String, CliError> {
    match kind {
        Mapped::Sqs => return Ok(queue_arn(&aws.place(), &trigger.source)),
        Mapped::Kinesis if !trigger.source.starts_with("arn:") => {
            return Ok(aws.arn("kinesis", &format!("stream/{}", trigger.source)));
        }
        Mapped::Kinesis => return Ok(trigger.source.clone()),
        Mapped::DynamoDb => {}
    }
    let Some(table) = &trigger.table else {
        return Ok(trigger.source.clone());
    };
    let described = aws.dynamodb.describe_table().table_name(table).send().await;
    let resource = || format!("the DynamoDB table `{table}`");
    let described = match described {
        Ok(described) => described,
        Err(error) if aws::not_found(&error) => {
            return Err(CliError::Conflict {
                resource: resource(),
                problem: "does not exist".into(),
                hint: "create it first, or fix `table` in the trigger".into(),
            });
        }
        Err(error) => return Err(aws::failed("dynamodb:DescribeTable", error)),
    };
    described
        .table()
        .and_then(|table| table.latest_stream_arn())
        .map(str::to_owned)
        .ok_or_else(|| CliError::Conflict {
            resource: resource(),
            problem: "has no stream".into(),
            hint: "enable its stream (a `StreamSpecification`, such as NEW_AND_OLD_IMAGES)".into(),
        })
}

pub(super) async fn ensure(
    aws: &Aws,
    unit: &Unit<'_>,
    function_arn: &str,
    options: Options,
    progress: Progress,
) -> Result<Vec<Change>, CliError> {
    let name = unit.function.aws_name();
    let (mut changes, statements) =
        tokio::try_join!(mappings(aws, unit, options), statements(aws, name, None))?;
    changes.extend(s3(aws, unit, function_arn, &statements, options).await?);
    changes.extend(schedules(aws, unit, function_arn, &statements, options).await?);
    changes.extend(sns(aws, unit, function_arn, &statements, options).await?);
    changes.extend(logs(aws, unit, function_arn, &statements, options).await?);
    changes.extend(firehose(aws, unit, function_arn, options).await?);
    changes.extend(ses(aws, unit, function_arn, &statements, options).await?);
    changes.extend(iot::ensure(aws, unit, function_arn, &statements, options).await?);
    changes.extend(cognito::ensure(aws, unit, function_arn, &statements, options).await?);
    if changes.iter().any(Change::changes) {
        progress.note(format_args!("triggers of `{name}` are set"));
    }
    Ok(changes)
}

/// A statement of the function's resource policy that deploy added.
#[derive(Debug, Clone)]
pub(super) struct Statement {
    pub(super) sid: String,
    pub(super) source_arn: Option<String>,
}

/// The function's resource-policy statements whose ids start with `lambdakit-`.
pub(super) async fn statements(
    aws: &Aws,
    name: &str,
    qualifier: Option<&str>,
) -> Result<Vec<Statement>, CliError> {
    let policy = match aws
        .lambda
        .get_policy()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_owned))
        .send()
        .await
    {
        Ok(found) => found.policy().unwrap_or_default().to_owned(),
        Err(error) if aws::not_found(&error) => return Ok(Vec::new()),
        Err(error) => return Err(aws::failed("lambda:GetPolicy", error)),
    };
    let policy: Value = serde_json::from_str(&policy).unwrap_or_default();
    Ok(policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|statement| {
            let sid = statement["Sid"]
                .as_str()
                .filter(|sid| sid.starts_with(ID_PREFIX))?;
            let source_arn = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
                .as_str()
                .map(str::to_owned);
            Some(Statement {
                sid: sid.to_owned(),
                source_arn,
            })
        })
        .collect())
}

/// Whether the invoke permission of `principal` names the account beside the source's ARN:
/// a bucket's ARN names no account, and SES's guide asks for the account beside the rule's
/// ARN (AWS "confused deputy"); IoT and Cognito alike.
pub(super) fn names_account(principal: &str) -> bool {
    matches!(
        principal,
        "s3.amazonaws.com"
            | "ses.amazonaws.com"
            | "iot.amazonaws.com"
            | "cognito-idp.amazonaws.com"
    )
}

/// Lets `principal` invoke the function from `source_arn` under `sid`, unless it already may.
pub(super) async fn permit(
    aws: &Aws,
    name: &str,
    sid: &str,
    principal: &str,
    source_arn: &str,
    statements: &[Statement],
) -> Result<(), CliError> {
    let present = statements.iter().any(|statement| {
        statement.sid == sid && statement.source_arn.as_deref() == Some(source_arn)
    });
    if present {
        return Ok(());
    }
    if statements.iter().any(|statement| statement.sid == sid) {
        super::function::remove_permission(aws, name, None, sid).await?;
    }
    let mut request = aws
        .lambda
        .add_permission()
        .function_name(name)
        .statement_id(sid)
        .action("lambda:InvokeFunction")
        .principal(principal)
        .source_arn(source_arn);
    // Say whose bucket, rule or pool may call.
    if names_account(principal) {
        request = request.source_account(&aws.account);
    }
    request
        .send()
        .await
        .map_err(|error| aws::failed("lambda:AddPermission", error))?;
    Ok(())
}

/// A statement id from a prefix and a resource's ARN: readable when it fits, hashed when not.
fn sid(kind: &str, resource: &str) -> String {
    let readable: String = resource
        .rsplit([':', '/'])
        .next()
        .unwrap_or(resource)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    use sha2::Digest as _;
    let hash: String = sha2::Sha256::digest(resource.as_bytes())
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    bounded(
        &format!("{ID_PREFIX}{kind}-{readable}"),
        &format!("-{hash}"),
        100,
    )
}

/// How long creating a mapping that replaces another is retried: Lambda deletes the old one
/// in the background, and refuses its twin (`ResourceConflictException`) until it is gone.
const REPLACE_LIMIT: Duration = Duration::from_secs(120);

/// The event source mappings `function`'s triggers ask for: its queues, streams and Kafka
/// topics, in that order.
pub(super) fn wanted_mappings<'a>(place: &Place<'_>, function: &'a Function) -> Vec<Mapping<'a>> {
    let triggers = &function.deploy.triggers;
    let mut wanted: Vec<Mapping<'_>> = Vec::new();
    for queue in &triggers.sqs {
        wanted.push(Mapping::stream(
            "sqs",
            queue_arn(place, &queue.source),
            queue,
        ));
    }
    for stream in &triggers.dynamodb {
        wanted.push(Mapping::stream("dynamodb", stream.source.clone(), stream));
    }
    for stream in &triggers.kinesis {
        wanted.push(Mapping::stream("kinesis", stream.source.clone(), stream));
    }
    wanted.extend(triggers.kafka.iter().map(Mapping::kafka));
    wanted
}

/// An event source mapping the settings ask for, of any kind, in the terms Lambda's API takes
/// and reports.
#[derive(Debug)]
pub(super) struct Mapping<'a> {
    /// `sqs`, `dynamodb`, `kinesis` or `kafka`.
    kind: &'static str,
    /// The source's ARN (an MSK cluster's too); `None` for a self-managed Kafka cluster.
    arn: Option<String>,
    /// A self-managed Kafka cluster's bootstrap servers.
    servers: &'a [String],
    /// The Kafka topic.
    topic: Option<&'a str>,
    batch_size: i32,
    /// `None`: Lambda's default, neither sent nor compared (Kafka's is 500 ms, which the API's
    /// whole seconds cannot ask for).
    window: Option<i32>,
    /// `None`: not sent (Kafka).
    response_types: Option<Vec<FunctionResponseType>>,
    /// Where reading starts (streams and Kafka). Lambda cannot change it: a mapping starting
    /// elsewhere is replaced.
    position: Option<StartingPosition>,
    /// The Kafka consumer group; `None`: Lambda's default, the mapping's UUID. Lambda cannot
    /// change it either.
    group: Option<&'a str>,
    /// Kafka's source access configurations, `(type, URI)`, sorted.
    access: Vec<(String, String)>,
    /// A stream's error handling; `None` for a queue or Kafka (not sent).
    failures: Option<StreamFailures>,
}

/// How a stream's mapping handles a failed batch, in the API's terms: always sent for a
/// stream, so that a setting taken out goes back to Lambda's default.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StreamFailures {
    bisect: bool,
    /// -1: until the records expire.
    retries: i32,
    /// -1: no limit.
    record_age: i32,
}

impl StreamFailures {
    /// As the settings ask.
    fn of(trigger: &StreamTrigger) -> Self {
        let or_none = |value: Option<u32>| value.map_or(-1, |value| value as i32);
        Self {
            bisect: trigger.bisect_batch_on_function_error,
            retries: or_none(trigger.maximum_retry_attempts),
            record_age: or_none(trigger.maximum_record_age),
        }
    }

    /// As `found` has it (what it does not say is Lambda's default).
    fn found(found: &EventSourceMappingConfiguration) -> Self {
        Self {
            bisect: found.bisect_batch_on_function_error().unwrap_or(false),
            retries: found.maximum_retry_attempts().unwrap_or(-1),
            record_age: found.maximum_record_age_in_seconds().unwrap_or(-1),
        }
    }

    /// What changes from `self` to `wanted`, in the plan's words.
    fn changes(self, wanted: Self) -> Vec<String> {
        let limit = |value: i32, unit: &str| {
            if value < 0 {
                "none".to_owned()
            } else {
                format!("{value}{unit}")
            }
        };
        let mut changes = Vec::new();
        if self.bisect != wanted.bisect {
            changes.push(format!(
                "bisect batch on function error → {}",
                wanted.bisect
            ));
        }
        if self.retries != wanted.retries {
            changes.push(format!(
                "maximum retry attempts {} → {}",
                limit(self.retries, ""),
                limit(wanted.retries, "")
            ));
        }
        if self.record_age != wanted.record_age {
            changes.push(format!(
                "maximum record age {} → {}",
                limit(self.record_age, " s"),
                limit(wanted.record_age, " s")
            ));
        }
        changes
    }
}

impl<'a> Mapping<'a> {
    /// A queue's or stream's mapping.
    fn stream(kind: &'static str, arn: String, trigger: &StreamTrigger) -> Self {
        let response_types = if trigger.report_batch_item_failures {
            vec![FunctionResponseType::ReportBatchItemFailures]
        } else {
            Vec::new()
        };
        let default_batch = if kind == "sqs" { 10 } else { 100 };
        Self {
            kind,
            arn: Some(arn),
            servers: &[],
            topic: None,
            batch_size: trigger.batch_size.unwrap_or(default_batch) as i32,
            window: Some(trigger.batching_window.unwrap_or(0) as i32),
            response_types: Some(response_types),
            position: (kind != "sqs").then(|| trigger.starting_position.unwrap_or_default()),
            group: None,
            access: Vec::new(),
            failures: (kind != "sqs").then(|| StreamFailures::of(trigger)),
        }
    }

    /// A Kafka topic's mapping (AWS "Using Lambda with Amazon MSK", "Using Lambda with
    /// self-managed Apache Kafka"): the batch size defaults to 100, the position to `LATEST`.
    fn kafka(trigger: &'a KafkaTrigger) -> Self {
        let (arn, servers) = match &trigger.cluster {
            KafkaCluster::Msk(arn) => (Some(arn.clone()), &[][..]),
            KafkaCluster::SelfManaged(servers) => (None, servers.as_slice()),
        };
        let mut access: Vec<(String, String)> = trigger
            .auth
            .iter()
            .map(|(auth, secret)| (auth.as_str().to_owned(), secret.clone()))
            .collect();
        access.extend(
            trigger
                .vpc_subnets
                .iter()
                .map(|id| ("VPC_SUBNET".to_owned(), format!("subnet:{id}"))),
        );
        access.extend(trigger.vpc_security_groups.iter().map(|id| {
            (
                "VPC_SECURITY_GROUP".to_owned(),
                format!("security_group:{id}"),
            )
        }));
        access.sort();
        Self {
            kind: "kafka",
            arn,
            servers,
            topic: Some(&trigger.topic),
            batch_size: trigger.batch_size.unwrap_or(100) as i32,
            window: trigger.batching_window.map(|window| window as i32),
            response_types: None,
            position: Some(trigger.starting_position.unwrap_or_default()),
            group: trigger.consumer_group_id.as_deref(),
            access,
            failures: None,
        }
    }

    /// Its kind: `sqs`, `dynamodb`, `kinesis` or `kafka`.
    pub(super) fn kind(&self) -> &'static str {
        self.kind
    }

    /// The properties of an `AWS::Lambda::EventSourceMapping` making it (`template`), but the
    /// function's name: what `create` sends, in CloudFormation's words.
    pub(super) fn properties(&self) -> Value {
        let mut properties = serde_json::json!({"BatchSize": self.batch_size});
        if let Some(arn) = &self.arn {
            properties["EventSourceArn"] = arn.clone().into();
        }
        if let Some(window) = self.window {
            properties["MaximumBatchingWindowInSeconds"] = window.into();
        }
        if let Some(types) = self
            .response_types
            .as_ref()
            .filter(|types| !types.is_empty())
        {
            let types: Vec<&str> = types.iter().map(FunctionResponseType::as_str).collect();
            properties["FunctionResponseTypes"] = serde_json::json!(types);
        }
        if let Some(position) = self.position {
            properties["StartingPosition"] = position.as_str().into();
        }
        // Lambda's defaults are left out, as the settings leave them out.
        if let Some(failures) = self.failures {
            if failures.bisect {
                properties["BisectBatchOnFunctionError"] = true.into();
            }
            if failures.retries >= 0 {
                properties["MaximumRetryAttempts"] = failures.retries.into();
            }
            if failures.record_age >= 0 {
                properties["MaximumRecordAgeInSeconds"] = failures.record_age.into();
            }
        }
        if let Some(topic) = self.topic {
            properties["Topics"] = serde_json::json!([topic]);
        }
        if !self.servers.is_empty() {
            properties["SelfManagedEventSource"] =
                serde_json::json!({"Endpoints": {"KafkaBootstrapServers": self.servers}});
        }
        if let Some(group) = self.group {
            let key = if self.arn.is_some() {
                "AmazonManagedKafkaEventSourceConfig"
            } else {
                "SelfManagedKafkaEventSourceConfig"
            };
            properties[key] = serde_json::json!({"ConsumerGroupId": group});
        }
        if !self.access.is_empty() {
            let access: Vec<Value> = self
                .access
                .iter()
                .map(|(kind, uri)| serde_json::json!({"Type": kind, "URI": uri}))
                .collect();
            properties["SourceAccessConfigurations"] = Value::Array(access);
        }
        properties
    }

    /// What the plan calls it: `sqs ARN`, `kafka CLUSTER topic TOPIC`.
    fn label(&self) -> String {
        let source = self.arn.clone().unwrap_or_else(|| self.servers.join(","));
        match self.topic {
            Some(topic) => format!("{} {source} topic {topic}", self.kind),
            None => format!("{} {source}", self.kind),
        }
    }

    /// Whether `found` reads the same source (and topic), which Lambda cannot change.
    fn is(&self, found: &EventSourceMappingConfiguration) -> bool {
        let source = match &self.arn {
            Some(arn) => found.event_source_arn() == Some(arn.as_str()),
            None => {
                let mut servers = self.servers.to_vec();
                servers.sort();
                found.event_source_arn().is_none() && servers_of(found) == servers
            }
        };
        source && self.topic.is_none_or(|topic| found.topics() == [topic])
    }

    /// How `found` differs: what Lambda updates in place, and what it cannot change (then the
    /// mapping is replaced).
    fn differences(&self, found: &EventSourceMappingConfiguration) -> (Vec<String>, Vec<String>) {
        let mut update = Vec::new();
        if found.batch_size() != Some(self.batch_size) {
            update.push(format!(
                "batch size {} → {}",
                found.batch_size().unwrap_or_default(),
                self.batch_size
            ));
        }
        let window = found.maximum_batching_window_in_seconds().unwrap_or(0);
        if let Some(wanted) = self.window
            && window != wanted
        {
            update.push(format!("batching window {window} → {wanted} s"));
        }
        if let Some(types) = &self.response_types
            && found.function_response_types() != types.as_slice()
        {
            update.push(format!(
                "report batch item failures → {}",
                !types.is_empty()
            ));
        }
        if let Some(wanted) = self.failures {
            update.extend(StreamFailures::found(found).changes(wanted));
        }
        let access = access_of(found);
        if access != self.access {
            let listed = |access: &[(String, String)]| {
                if access.is_empty() {
                    return "none".to_owned();
                }
                access
                    .iter()
                    .map(|(kind, uri)| format!("{kind} {uri}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            update.push(format!(
                "source access {} → {}",
                listed(&access),
                listed(&self.access)
            ));
        }
        let mut replace = Vec::new();
        let cannot = "(replaced: Lambda cannot change it)";
        if let (Some(wanted), Some(position)) = (self.position, found.starting_position())
            && position.as_str() != wanted.as_str()
        {
            replace.push(format!(
                "starting position {} → {} {cannot}",
                position.as_str(),
                wanted.as_str()
            ));
        }
        // Without one asked for, Lambda names the group after the mapping's UUID.
        let group = group_of(found).filter(|group| Some(*group) != found.uuid());
        if group != self.group {
            let named = |group: Option<&str>| group.unwrap_or("default").to_owned();
            replace.push(format!(
                "consumer group {} → {} {cannot}",
                named(group),
                named(self.group)
            ));
        }
        (update, replace)
    }

    fn access_configurations(&self) -> Vec<SourceAccessConfiguration> {
        self.access
            .iter()
            .map(|(kind, uri)| {
                SourceAccessConfiguration::builder()
                    .r#type(SourceAccessType::from(kind.as_str()))
                    .uri(uri)
                    .build()
            })
            .collect()
    }

    /// Creates it; when it replaces a mapping just deleted, retried until Lambda has let go of
    /// that one.
    async fn create(&self, aws: &Aws, function: &str, replacing: bool) -> Result<(), CliError> {
        let request = || {
            let mut request = aws
                .lambda
                .create_event_source_mapping()
                .function_name(function)
                .set_event_source_arn(self.arn.clone())
                .batch_size(self.batch_size)
                .set_maximum_batching_window_in_seconds(self.window)
                .set_function_response_types(self.response_types.clone())
                .set_starting_position(
                    self.position
                        .map(|position| EventSourcePosition::from(position.as_str())),
                )
                .set_topics(self.topic.map(|topic| vec![topic.to_owned()]))
                .set_bisect_batch_on_function_error(self.failures.map(|f| f.bisect))
                .set_maximum_retry_attempts(self.failures.map(|f| f.retries))
                .set_maximum_record_age_in_seconds(self.failures.map(|f| f.record_age));
            if !self.servers.is_empty() {
                request = request.self_managed_event_source(
                    SelfManagedEventSource::builder()
                        .endpoints(EndPointType::KafkaBootstrapServers, self.servers.to_vec())
                        .build(),
                );
            }
            if let Some(group) = self.group {
                request = if self.arn.is_some() {
                    request.amazon_managed_kafka_event_source_config(
                        AmazonManagedKafkaEventSourceConfig::builder()
                            .consumer_group_id(group)
                            .build(),
                    )
                } else {
                    request.self_managed_kafka_event_source_config(
                        SelfManagedKafkaEventSourceConfig::builder()
                            .consumer_group_id(group)
                            .build(),
                    )
                };
            }
            if !self.access.is_empty() {
                request =
                    request.set_source_access_configurations(Some(self.access_configurations()));
            }
            request.send()
        };
        let created = if replacing {
            retry(REPLACE_LIMIT, request, |error| {
                aws::code(error) == Some("ResourceConflictException")
            })
            .await
        } else {
            request().await
        };
        created.map_err(|error| aws::failed("lambda:CreateEventSourceMapping", error))?;
        Ok(())
    }

    /// Updates what Lambda changes in place.
    async fn update(&self, aws: &Aws, uuid: &str) -> Result<(), CliError> {
        let kafka = self.kind == "kafka";
        aws.lambda
            .update_event_source_mapping()
            .uuid(uuid)
            .batch_size(self.batch_size)
            .set_maximum_batching_window_in_seconds(self.window)
            .set_function_response_types(self.response_types.clone())
            .set_source_access_configurations(kafka.then(|| self.access_configurations()))
            .set_bisect_batch_on_function_error(self.failures.map(|f| f.bisect))
            .set_maximum_retry_attempts(self.failures.map(|f| f.retries))
            .set_maximum_record_age_in_seconds(self.failures.map(|f| f.record_age))
            .send()
            .await
            .map_err(|error| aws::failed("lambda:UpdateEventSourceMapping", error))?;
        Ok(())
    }
}

/// A self-managed Kafka mapping's bootstrap servers, sorted.
fn servers_of(found: &EventSourceMappingConfiguration) -> Vec<String> {
    let mut servers = found
        .self_managed_event_source()
        .and_then(|source| source.endpoints())
        .and_then(|endpoints| endpoints.get(&EndPointType::KafkaBootstrapServers))
        .cloned()
        .unwrap_or_default();
    servers.sort();
    servers
}

/// A mapping's source access configurations, `(type, URI)`, sorted.
fn access_of(found: &EventSourceMappingConfiguration) -> Vec<(String, String)> {
    let mut access: Vec<(String, String)> = found
        .source_access_configurations()
        .iter()
        .map(|access| {
            (
                access
                    .r#type()
                    .map_or("", SourceAccessType::as_str)
                    .to_owned(),
                access.uri().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    access.sort();
    access
}

/// A Kafka mapping's consumer group, as Lambda reports it.
fn group_of(found: &EventSourceMappingConfiguration) -> Option<&str> {
    found
        .amazon_managed_kafka_event_source_config()
        .and_then(|config| config.consumer_group_id())
        .or_else(|| {
            found
                .self_managed_kafka_event_source_config()
                .and_then(|config| config.consumer_group_id())
        })
}

/// What the plan calls a mapping found on AWS: `mapping SOURCE`, with ` topic TOPIC` for Kafka.
pub(super) fn described(found: &EventSourceMappingConfiguration) -> String {
    let source = match found.event_source_arn() {
        Some(arn) => arn.to_owned(),
        None => servers_of(found).join(","),
    };
    match found.topics() {
        [] => format!("mapping {source}"),
        topics => format!("mapping {source} topic {}", topics.join(",")),
    }
}

/// SQS queues, DynamoDB and Kinesis streams and Kafka topics: one event source mapping each.
async fn mappings(aws: &Aws, unit: &Unit<'_>, options: Options) -> Result<Vec<Change>, CliError> {
    let name = unit.function.aws_name();
    let wanted = wanted_mappings(&aws.place(), unit.function);
    let mut existing = Vec::new();
    let mut pages = aws
        .lambda
        .list_event_source_mappings()
        .function_name(name)
        .into_paginator()
        .items()
        .send();
    while let Some(mapping) = pages.next().await {
        match mapping {
            Ok(mapping) => existing.push(mapping),
            // A function not created yet (a dry run) has no mappings.
            Err(error) if aws::not_found(&error) => break,
            Err(error) => return Err(aws::failed("lambda:ListEventSourceMappings", error)),
        }
    }
    let mut changes = Vec::new();
    for mapping in &wanted {
        let label = mapping.label();
        let Some(found) = existing.iter().find(|found| mapping.is(found)) else {
            if !options.dry_run {
                mapping.create(aws, name, false).await?;
            }
            changes.push(Change::new("trigger", label, Action::Create));
            continue;
        };
        let (mut differences, replaced) = mapping.differences(found);
        if !options.dry_run {
            let uuid = found.uuid().unwrap_or_default();
            if !replaced.is_empty() {
                delete_mapping(aws, uuid).await?;
                mapping.create(aws, name, true).await?;
            } else if !differences.is_empty() {
                mapping.update(aws, uuid).await?;
            }
        }
        differences.extend(replaced);
        let action = if differences.is_empty() {
            Action::Unchanged
        } else {
            Action::Update(differences)
        };
        changes.push(Change::new("trigger", label, action));
    }
    for found in &existing {
        if wanted.iter().any(|mapping| mapping.is(found)) {
            continue;
        }
        if !options.dry_run {
            delete_mapping(aws, found.uuid().unwrap_or_default()).await?;
        }
        changes.push(Change::new("trigger", described(found), Action::Delete));
    }
    Ok(changes)
}

pub(super) async fn delete_mapping(aws: &Aws, uuid: &str) -> Result<(), CliError> {
    match aws
        .lambda
        .delete_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if aws::not_found(&error) => Ok(()),
        Err(error) => Err(aws::failed("lambda:DeleteEventSourceMapping", error)),
    }
}

/// The notification id deploy gives the `index`th S3 trigger of `function` on a bucket.
pub fn notification_id(function: &str, index: usize) -> String {
    bounded(&format!("{ID_PREFIX}{function}"), &format!("-{index}"), 255)
}

fn notification(
    id: String,
    function_arn: &str,
    trigger: &S3Trigger,
) -> Result<LambdaFunctionConfiguration, CliError> {
    let mut rules = Vec::new();
    if let Some(prefix) = &trigger.prefix {
        rules.push(
            FilterRule::builder()
                .name(FilterRuleName::Prefix)
                .value(prefix)
                .build(),
        );
    }
    if let Some(suffix) = &trigger.suffix {
        rules.push(
            FilterRule::builder()
                .name(FilterRuleName::Suffix)
                .value(suffix)
                .build(),
        );
    }
    let filter = (!rules.is_empty()).then(|| {
        NotificationConfigurationFilter::builder()
            .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
            .build()
    });
    LambdaFunctionConfiguration::builder()
        .id(id)
        .lambda_function_arn(function_arn)
        .set_events(Some(
            trigger
                .events
                .iter()
                .map(|event| Event::from(event.as_str()))
                .collect(),
        ))
        .set_filter(filter)
        .build()
        .map_err(|error| aws::invalid("s3:PutBucketNotificationConfiguration", error))
}

/// The parts of a notification that matter, comparable whatever order S3 returns them in.
fn notification_key(
    config: &LambdaFunctionConfiguration,
) -> (String, String, Vec<String>, Vec<(String, String)>) {
    let mut events: Vec<String> = config
        .events()
        .iter()
        .map(|event| event.as_str().to_owned())
        .collect();
    events.sort();
    let mut rules: Vec<(String, String)> = config
        .filter()
        .and_then(|filter| filter.key())
        .map(|key| {
            key.filter_rules()
                .iter()
                .map(|rule| {
                    (
                        rule.name()
                            .map(|name| name.as_str().to_lowercase())
                            .unwrap_or_default(),
                        rule.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    rules.sort();
    (
        config.id().unwrap_or_default().to_owned(),
        config.lambda_function_arn().to_owned(),
        events,
        rules,
    )
}

/// `wanted`, with what the resource policy's statements whose id starts with `prefix` grant
/// (read from their source ARN by `of`): sorted, once each. What was granted but is no longer
/// wanted is what deploy removes.
fn with_granted(
    mut wanted: Vec<String>,
    statements: &[Statement],
    prefix: &str,
    of: impl Fn(&str) -> Option<&str>,
) -> Vec<String> {
    let granted = statements
        .iter()
        .filter(|statement| statement.sid.starts_with(prefix))
        .filter_map(|statement| statement.source_arn.as_deref().and_then(&of));
    wanted.extend(granted.map(str::to_owned));
    wanted.sort();
    wanted.dedup();
    wanted
}

async fn s3(
    aws: &Aws,
    unit: &Unit<'_>,
    function_arn: &str,
    statements: &[Statement],
    options: Options,
) -> Result<Vec<Change>, CliError> {
    let name = unit.function.aws_name();
    let buckets: Vec<String> = unit
        .function
        .deploy
        .triggers
        .s3
        .iter()
        .map(|trigger| trigger.bucket.clone())
        .collect();
    // Buckets granted before but no longer in the settings: their notifications go.
    let buckets = with_granted(buckets, statements, "lambdakit-s3-", |arn| {
        arn.rsplit(':').next()
    });
    let mut changes = Vec::new();
    for bucket in buckets {
        let mut wanted = Vec::new();
        let triggers = unit
            .function
            .deploy
            .triggers
            .s3
            .iter()
            .filter(|trigger| trigger.bucket == bucket);
        for (index, trigger) in triggers.enumerate() {
            wanted.push(notification(
                notification_id(name, index),
                function_arn,
                trigger,
            )?);
        }
        let current = notifications(aws, &bucket).await?;
        let is_ours = |config: &LambdaFunctionConfiguration| is_ours(config, name, function_arn);
        let mut ours: Vec<_> = current
            .lambda_function_configurations()
            .iter()
            .filter(|c| is_ours(c))
            .map(notification_key)
            .collect();
        let mut theirs: Vec<_> = wanted.iter().map(notification_key).collect();
        ours.sort();
        theirs.sort();
        let label = format!("s3 {bucket}");
        let sid = sid("s3", &format!("arn:{}:s3:::{bucket}", aws.partition));
        let action = match (ours.is_empty(), theirs.is_empty()) {
            _ if ours == theirs => Action::Unchanged,
            (true, false) => Action::Create,
            (false, true) => Action::Delete,
            _ => Action::Update(vec!["events or filters".into()]),
        };
        if !options.dry_run && action != Action::Unchanged {
            let source_arn = format!("arn:{}:s3:::{bucket}", aws.partition);
            if !wanted.is_empty() {
                // S3 checks that it may invoke the function when the notification is put.
                permit(aws, name, &sid, "s3.amazonaws.com", &source_arn, statements).await?;
            }
            put_notifications(aws, &bucket, &current, name, function_arn, &wanted).await?;
            if wanted.is_empty() {
                super::function::remove_permission(aws, name, None, &sid).await?;
            }
        } else if !options.dry_run && !wanted.is_empty() {
            permit(
                aws,
                name,
                &sid,
                "s3.amazonaws.com",
                &format!("arn:{}:s3:::{bucket}", aws.partition),
                statements,
            )
            .await?;
        }
        changes.push(Change::new("trigger", label, action));
    }
    Ok(changes)
}

/// A bucket's notification configuration.
async fn notifications(
    aws: &Aws,
    bucket: &str,
) -> Result<GetBucketNotificationConfigurationOutput, CliError> {
    match aws
        .s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(current) => Ok(current),
        // A success whose body the SDK cannot read: some S3 look-alikes (moto) answer an
        // empty configuration with another root element. Empty it is.
        Err(SdkError::ServiceError(error)) if error.raw().status().is_success() => {
            Ok(GetBucketNotificationConfigurationOutput::builder().build())
        }
        Err(error) => Err(aws::failed("s3:GetBucketNotificationConfiguration", error)),
    }
}

/// The start of the names of `function`'s schedule rules.
fn rule_prefix(function: &str) -> String {
    format!("{ID_PREFIX}{function}-")
}

/// The rules whose names start as `function`'s do (another function's name may share the
/// start: `remove_rule` checks the target).
pub(super) async fn rules_named_for(
    aws: &Aws,
    function: &str,
) -> Result<Vec<aws_sdk_eventbridge::types::Rule>, CliError> {
    let listed = aws
        .events
        .list_rules()
        .name_prefix(rule_prefix(function))
        .send()
        .await
        .map_err(|error| aws::failed("events:ListRules", error))?;
    Ok(listed.rules.unwrap_or_default())
}

/// The description of the schedule rules deploy makes for `function`.
pub(super) fn schedule_description(function: &str) -> String {
    format!("Schedule of the Lambda function `{function}`, by cargo lambdakit")
}

/// The rule deploy names for the `index`th schedule of `function`.
pub fn rule_name(function: &str, index: usize) -> String {
    bounded(&format!("{ID_PREFIX}{function}"), &format!("-{index}"), 64)
}

async fn schedules(
    aws: &Aws,
    unit: &Unit<'_>,
    function_arn: &str,
    statements: &[Statement],
    options: Options,
) -> Result<Vec<Change>, CliError> {
    let name = unit.function.aws_name();
    let schedules = &unit.function.deploy.triggers.schedule;
    let mut changes = Vec::new();
    for (index, schedule) in schedules.iter().enumerate() {
        let rule = rule_name(name, index);
        let current = match aws.events.describe_rule().name(&rule).send().await {
            Ok(found) => Some(found),
            Err(error) if aws::not_found(&error) => None,
            Err(error) => return Err(aws::failed("events:DescribeRule", error)),
        };
        let targets = match &current {
            Some(_) => aws
                .events
                .list_targets_by_rule()
                .rule(&rule)
                .send()
                .await
                .map_err(|error| aws::failed("events:ListTargetsByRule", error))?
                .targets
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let target_ok = targets.iter().any(|target| {
            target.arn() == function_arn && target.input() == schedule.input.as_deref()
        });
        let mut differences = Vec::new();
        if let Some(current) = &current {
            if current.schedule_expression() != Some(schedule.expression.as_str()) {
                differences.push(format!(
                    "{} → {}",
                    current.schedule_expression().unwrap_or("no schedule"),
                    schedule.expression
                ));
            }
            if current.state() != Some(&RuleState::Enabled) {
                differences.push("enabled".into());
            }
            if !target_ok {
                differences.push("target".into());
            }
        }
        let label = format!("schedule {}", schedule.expression);
        let action = match current {
            None => Action::Create,
            Some(_) if differences.is_empty() => Action::Unchanged,
            Some(_) => Action::Update(differences),
        };
        if !options.dry_run && action != Action::Unchanged {
            let tag = |key: &str, value: &str| {
                aws_sdk_eventbridge::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .map_err(|error| aws::invalid("events:PutRule", error))
            };
            let mut put = aws
                .events
                .put_rule()
                .name(&rule)
                .schedule_expression(&schedule.expression)
                .state(RuleState::Enabled)
                .description(schedule_description(name))
                .tags(tag(TAG_PACKAGE, &unit.function.package)?)
                .tags(tag(TAG_FUNCTION, &unit.function.name)?);
            if let Some(stage) = &unit.function.stage {
                put = put.tags(tag(TAG_STAGE, stage)?);
            }
            let put = put
                .send()
                .await
                .map_err(|error| aws::failed("events:PutRule", error))?;
            let target = Target::builder()
                .id("lambdakit")
                .arn(function_arn)
                .set_input(schedule.input.clone())
                .build()
                .map_err(|error| aws::invalid("events:PutTargets", error))?;
            aws.events
                .put_targets()
                .rule(&rule)
                .targets(target)
                .send()
                .await
                .map_err(|error| aws::failed("events:PutTargets", error))?;
            let rule_arn = put
                .rule_arn()
                .map_or_else(|| aws.arn("events", &format!("rule/{rule}")), str::to_owned);
            permit(
                aws,
                name,
                &sid("schedule", &rule_arn),
                "events.amazonaws.com",
                &rule_arn,
                statements,
            )
            .await?;
        }
        changes.push(Change::new("trigger", label, action));
    }
    // Rules of schedules no longer in the settings.
    let prefix = rule_prefix(name);
    for rule in &rules_named_for(aws, name).await? {
        let Some(rule_name_found) = rule.name() else {
            continue;
        };
        let index = rule_name_found
            .strip_prefix(&prefix)
            .and_then(|index| index.parse::<usize>().ok());
        if index.is_some_and(|index| index < schedules.len()) {
            continue;
        }
        let removed = remove_rule(aws, name, rule_name_found, function_arn, options).await?;
        if removed {
            changes.push(Change::new(
                "trigger",
                format!(
                    "schedule {}",
                    rule.schedule_expression().unwrap_or(rule_name_found)
                ),
                Action::Delete,
            ));
        }
    }
    Ok(changes)
}

/// Removes a schedule rule if it targets the function; `false` when it is not the
/// function's (a prefix shared with another function's name).
pub(super) async fn remove_rule(
    aws: &Aws,
    function: &str,
    rule: &str,
    function_arn: &str,
    options: Options,
) -> Result<bool, CliError> {
    let targets = aws
        .events
        .list_targets_by_rule()
        .rule(rule)
        .send()
        .await
        .map_err(|error| aws::failed("events:ListTargetsByRule", error))?
        .targets
        .unwrap_or_default();
    if !targets.iter().any(|target| target.arn() == function_arn) {
        return Ok(false);
    }
    if !options.dry_run {
        let ids: Vec<String> = targets
            .iter()
            .map(|target| target.id().to_owned())
            .collect();
        aws.events
            .remove_targets()
            .rule(rule)
            .set_ids(Some(ids))
            .send()
            .await
            .map_err(|error| aws::failed("events:RemoveTargets", error))?;
        aws.events
            .delete_rule()
            .name(rule)
            .send()
            .await
            .map_err(|error| aws::failed("events:DeleteRule", error))?;
        let rule_arn = aws.arn("events", &format!("rule/{rule}"));
        super::function::remove_permission(aws, function, None, &sid("schedule", &rule_arn))
            .await?;
    }
    Ok(true)
}

async fn sns(
    aws: &Aws,
    unit: &Unit<'_>,
    function_arn: &str,
    statements: &[Statement],
    options: Options,
) -> Result<Vec<Change>, CliError> {
    let name = unit.function.aws_name();
    let wanted: Vec<&str> = unit
        .function
        .deploy
        .triggers
        .sns
        .iter()
        .map(|trigger| trigger.topic.as_str())
        .collect();
    let mut topics: Vec<String> = wanted.iter().map(|topic| (*topic).to_owned()).collect();
    for statement in statements
        .iter()
        .filter(|statement| statement.sid.starts_with("lambdakit-sns-"))
    {
        topics.extend(statement.source_arn.clone());
    }
    topics.sort();
    topics.dedup();
    let mut changes = Vec::new();
    for topic in topics {
        let subscriptions = subscriptions(aws, &topic, function_arn).await?;
        let keep = wanted.contains(&topic.as_str());
        let sid = sid("sns", &topic);
        let label = format!("sns {topic}");
        let action = match (keep, subscriptions.is_empty()) {
            (true, true) => Action::Create,
            (true, false) => Action::Unchanged,
            (false, _) => Action::Delete,
        };
        if !options.dry_run {
            if keep {
                permit(aws, name, &sid, "sns.amazonaws.com", &topic, statements).await?;
                if subscriptions.is_empty() {
                    aws.sns
                        .subscribe()
                        .topic_arn(&topic)
                        .protocol("lambda")
                        .endpoint(function_arn)
                        .send()
                        .await
                        .map_err(|error| aws::failed("sns:Subscribe", error))?;
                }
            } else {
                unsubscribe(aws, &subscriptions).await?;
                super::function::remove_permission(aws, name, None, &sid).await?;
            }
        }
        changes.push(Change::new("trigger", label, action));
    }
    Ok(changes)
}

/// The subscriptions of `topic` that deliver to the function.
pub(super) async fn subscriptions(
    aws: &Aws,
    topic: &str,
    function_arn: &str,
) -> Result<Vec<String>, CliError> {
    let mut found = Vec::new();
    let mut pages = aws
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .into_paginator()
        .items()
        .send();
    while let Some(subscription) = pages.next().await {
        let subscription = match subscription {
            Ok(subscription) => subscription,
            Err(error) if aws::not_found(&error) => break,
            Err(error) => return Err(aws::failed("sns:ListSubscriptionsByTopic", error)),
        };
        if subscription.protocol() == Some("lambda")
            && subscription.endpoint() == Some(function_arn)
        {
            found.extend(subscription.subscription_arn().map(str::to_owned));
        }
    }
    Ok(found)
}

pub(super) async fn unsubscribe(aws: &Aws, subscriptions: &[String]) -> Result<(), CliError> {
    for subscription in subscriptions {
        aws.sns
            .unsubscribe()
            .subscription_arn(subscription)
            .send()
            .await
            .map_err(|error| aws::failed("sns:Unsubscribe", error))?;
    }
    Ok(())
}

/// Whether a bucket's notification is one deploy made for the function.
fn is_ours(config: &LambdaFunctionConfiguration, function: &str, function_arn: &str) -> bool {
    config
        .id()
        .is_some_and(|id| id.starts_with(&format!("{ID_PREFIX}{function}-")))
        && config.lambda_function_arn() == function_arn
}

/// Puts `bucket`'s notification configuration back with the function's own notifications
/// replaced by `ours`, and everything else in it as it was.
async fn put_notifications(
    aws: &Aws,
    bucket: &str,
    current: &GetBucketNotificationConfigurationOutput,
    function: &str,
    function_arn: &str,
    ours: &[LambdaFunctionConfiguration],
) -> Result<(), CliError> {
    let mut lambdas: Vec<LambdaFunctionConfiguration> = current
        .lambda_function_configurations()
        .iter()
        .filter(|config| !is_ours(config, function, function_arn))
        .cloned()
        .collect();
    lambdas.extend(ours.iter().cloned());
    let configuration = NotificationConfiguration::builder()
        .set_topic_configurations(Some(current.topic_configurations().to_vec()))
        .set_queue_configurations(Some(current.queue_configurations().to_vec()))
        .set_lambda_function_configurations(Some(lambdas))
        .set_event_bridge_configuration(current.event_bridge_configuration().cloned())
        .build();
    aws.s3
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(configuration)
        .send()
        .await
        .map_err(|error| aws::failed("s3:PutBucketNotificationConfiguration", error))?;
    Ok(())
}

/// Removes the function's notifications (those deploy marked) from `bucket`, keeping the rest.
pub(super) async fn remove_notifications(
    aws: &Aws,
    bucket: &str,
    function: &str,
    function_arn: &str,
) -> Result<(), CliError> {
    let current = match notifications(aws, bucket).await {
        Err(CliError::Aws {
            code: Some(code), ..
        }) if code == "NoSuchBucket" => return Ok(()),
        current => current?,
    };
    let ours = current
        .lambda_function_configurations()
        .iter()
        .any(|config| is_ours(config, function, function_arn));
    if ours {
        put_notifications(aws, bucket, &current, function, function_arn, &[]).await?;
    }
    Ok(())
}

/// The subscription filter deploy puts on a log group for `function`: one per group.
pub(super) fn filter_name(function: &str) -> String {
    format!("{ID_PREFIX}{function}")
}

/// The ARN a log group's invoke permission names (AWS "Using CloudWatch Logs subscription
/// filters", the Lambda example).
fn log_group_arn(aws: &Aws, group: &str) -> String {
    aws.arn("logs", &format!("log-group:{group}:*"))
}

/// The log group a permission's source ARN names.
pub(super) fn log_group_of(arn: &str) -> Option<&str> {
    let (_, group) = arn.split_once(":log-group:")?;
    Some(group.strip_suffix(":*").unwrap_or(group))
}

/// The pattern and destination of the subscription filter `filter` on `group`; `Ok(None)`
/// without one, `Err` naming the group when it does not exist.
async fn subscription_filter(
    aws: &Aws,
    group: &str,
    filter: &str,
) -> Result<Option<(String, String)>, CliError> {
    let found = aws
        .logs
        .describe_subscription_filters()
        .log_group_name(group)
        .filter_name_prefix(filter)
        .send()
        .await;
    let found = match found {
        Ok(found) => found,
        Err(error) if aws::not_found(&error) => {
            return Err(CliError::Conflict {
                resource: format!("the log group `{group}`"),
                problem: "does not exist".into(),
                hint: "create it first (a function's own is created when it first logs), or fix `group` in the logs trigger".into(),
            });
        }
        Err(error) => return Err(aws::failed("logs:DescribeSubscriptionFilters", error)),
    };
    Ok(found
        .subscription_filters()
        .iter()
        .find(|found| found.filter_name() == Some(filter))
        .map(|found| {
            (
                found.filter_pattern().unwrap_or_default().to_owned(),
                found.destination_arn().unwrap_or_default().to_owned(),
            )
        }))
}

/// Removes the function's subscription filter from `group`, if it is there.
pub(super) async fn remove_filter(aws: &Aws, group: &str, function: &str) -> Result<(), CliError> {
    match aws
        .logs
        .delete_subscription_filter()
        .log_group_name(group)
        .filter_name(filter_name(function))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if aws::not_found(&error) => Ok(()),
        Err(error) => Err(aws::failed("logs:DeleteSubscriptionFilter", error)),
    }
}

/// CloudWatch Logs subscription filters: one per log group, with the permission for
/// `logs.amazonaws.com`; groups the policy names but the settings no longer do lose theirs.
async fn logs(
    aws: &Aws,
    unit: &Unit<'_>,
    function_arn: &str,
    statements: &[Statement],
    options: Options,
) -> Result<Vec<Change>, CliError> {
    let name = unit.function.aws_name();
    let filter = filter_name(name);
    let wanted = &unit.function.deploy.triggers.logs;
    let groups: Vec<String> = wanted.iter().map(|trigger| trigger.group.clone()).collect();
    let groups = with_granted(groups, statements, "lambdakit-logs-", log_group_of);
    let mut changes = Vec::new();
    for group in groups {
        let arn = log_group_arn(aws, &group);
        let sid = sid("logs", &arn);
        let label = format!("logs {group}");
        // The last trigger on a group wins: a group has one filter per function.
        let Some(trigger) = wanted.iter().rev().find(|trigger| trigger.group == group) else {
            if !options.dry_run {
                remove_filter(aws, &group, name).await?;
                super::function::remove_permission(aws, name, None, &sid).await?;
            }
            changes.push(Change::new("trigger", label, Action::Delete));
            continue;
        };
        let action = match subscription_filter(aws, &group, &filter).await? {
            None => Action::Create,
            Some((pattern, destination)) => {
                let mut differences = Vec::new();
                if pattern != trigger.pattern {
                    differences.push(format!("pattern `{pattern}` → `{}`", trigger.pattern));
                }
                if destination != function_arn {
                    differences.push(format!("destination {destination} → {function_arn}"));
                }
                if differences.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update(differences)
                }
            }
        };
        if !options.dry_run {
            // CloudWatch Logs checks that it may invoke the function when the filter is put.
            permit(aws, name, &sid, "logs.amazonaws.com", &arn, statements).await?;
            if action != Action::Unchanged {
                aws.logs
                    .put_subscription_filter()
                    .log_group_name(&group)
                    .filter_name(&filter)
                    .filter_pattern(&trigger.pattern)
                    .destination_arn(function_arn)
                    .send()
                    .await
                    .map_err(|error| aws::failed("logs:PutSubscriptionFilter", error))?;
            }
        }
        changes.push(Change::new("trigger", label, action));
    }
    Ok(changes)
}

/// The function's tag where deploy records the delivery streams whose Lambda processor it
/// set, their names with a space between each: Firehose calls the function with the stream's
/// own role, so no statement of the function's resource policy records them, as it does the
/// other triggers' sources.
pub(super) const TAG_FIREHOSE: &str = "lambdakit:firehose";

/// The delivery streams the function's `lambdakit:firehose` tag names; none for a function
/// not created yet (a dry run).
pub(super) async fn firehose_streams(
    aws: &Aws,
    function_arn: &str,
) -> Result<Vec<String>, CliError> {
    match aws.lambda.list_tags().resource(function_arn).send().await {
        Ok(listed) => Ok(listed
            .tags()
            .and_then(|tags| tags.get(TAG_FIREHOSE))
            .map(|streams| streams.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()),
        Err(error) if aws::not_found(&error) => Ok(Vec::new()),
        Err(error) => Err(aws::failed("lambda:ListTags", error)),
    }
}

/// The kinds of Firehose destination that take processors, each with how DescribeDeliveryStream
/// describes it and how UpdateDestination names it (a plain S3 destination takes none: only
/// its extended form does).
macro_rules! processed_destinations {
    ($($kind:ident: $description:ident, $update:ident, $set:ident;)*) => {
        #[derive(Debug, Clone, Copy)]
        enum DestinationKind {
            $($kind,)*
        }

        /// The destination's kind and processing configuration, if its kind takes processors.
        fn processed(
            described: &aws_sdk_firehose::types::DestinationDescription,
        ) -> Option<(DestinationKind, Option<&ProcessingConfiguration>)> {
            $(if let Some(destination) = described.$description() {
                return Some((DestinationKind::$kind, destination.processing_configuration()));
            })*
            None
        }

        /// `request` updating only the processing configuration of a destination of `kind`.
        fn with_processing(
            request: UpdateDestinationFluentBuilder,
            kind: DestinationKind,
            processing: ProcessingConfiguration,
        ) -> UpdateDestinationFluentBuilder {
            match kind {
                $(DestinationKind::$kind => request.$set(
                    aws_sdk_firehose::types::$update::builder()
                        .processing_configuration(processing)
                        .build(),
                ),)*
            }
        }
    };
}

processed_destinations! {
    ExtendedS3: extended_s3_destination_description, ExtendedS3DestinationUpdate, extended_s3_destination_update;
    Redshift: redshift_destination_description, RedshiftDestinationUpdate, redshift_destination_update;
    Elasticsearch: elasticsearch_destination_description, ElasticsearchDestinationUpdate, elasticsearch_destination_update;
    OpenSearch: amazonopensearchservice_destination_description, AmazonopensearchserviceDestinationUpdate, amazonopensearchservice_destination_update;
    OpenSearchServerless: amazon_open_search_serverless_destination_description, AmazonOpenSearchServerlessDestinationUpdate, amazon_open_search_serverless_destination_update;
    Splunk: splunk_destination_description, SplunkDestinationUpdate, splunk_destination_update;
    HttpEndpoint: http_endpoint_destination_description, HttpEndpointDestinationUpdate, http_endpoint_destination_update;
    Snowflake: snowflake_destination_description, SnowflakeDestinationUpdate, snowflake_destination_update;
    Iceberg: iceberg_destination_description, IcebergDestinationUpdate, iceberg_destination_update;
}

/// A delivery stream's destination as UpdateDestination needs it.
#[derive(Debug)]
struct Destination {
    stream_version: String,
    id: String,
    kind: DestinationKind,
    processors: Vec<Processor>,
}

/// The destination of the delivery stream `stream`; `Ok(None)` when there is no such stream.
async fn destination(aws: &Aws, stream: &str) -> Result<Option<Destination>, CliError> {
    let described = match aws
        .firehose
        .describe_delivery_stream()
        .delivery_stream_name(stream)
        .send()
        .await
    {
        Ok(described) => described,
        Err(error) if aws::not_found(&error) => return Ok(None),
        Err(error) => return Err(aws::failed("firehose:DescribeDeliveryStream", error)),
    };
    let described = described.delivery_stream_description();
    // A delivery stream has one destination.
    let found = described.and_then(|described| described.destinations().first());
    let Some((kind, processing)) = found.and_then(processed) else {
        return Err(CliError::Conflict {
            resource: format!("the delivery stream `{stream}`"),
            problem: "has no destination that takes a Lambda processor".into(),
            hint: "give it an extended S3 (not plain S3), Redshift, OpenSearch, Splunk, HTTP endpoint, Snowflake or Iceberg destination, or remove the firehose trigger".into(),
        });
    };
    Ok(Some(Destination {
        stream_version: described
            .map(|described| described.version_id().to_owned())
            .unwrap_or_default(),
        id: found
            .map(|found| found.destination_id().to_owned())
            .unwrap_or_default(),
        kind,
        processors: processing
            .map(|processing| processing.processors().to_vec())
            .unwrap_or_default(),
    }))
}

/// The value of a processor's parameter `name`.
fn parameter<'a>(processor: &'a Processor, name: &ProcessorParameterName) -> Option<&'a str> {
    processor
        .parameters()
        .iter()
        .find(|parameter| parameter.parameter_name() == name)
        .map(ProcessorParameter::parameter_value)
}

/// The Lambda processor's function, unqualified.
fn processor_function(processor: &Processor) -> Option<&str> {
    if processor.r#type() != &ProcessorType::Lambda {
        return None;
    }
    parameter(processor, &ProcessorParameterName::LambdaArn).map(unqualified)
}

/// A function's ARN without its version or alias:
/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` to its first seven parts.
fn unqualified(arn: &str) -> &str {
    match arn.match_indices(':').nth(6) {
        Some((qualifier, _)) => &arn[..qualifier],
        None => arn,
    }
}

/// Puts the destination's processors back as `processors`, enabled when there is one.
async fn put_processors(
    aws: &Aws,
    stream: &str,
    destination: &Destination,
    processors: Vec<Processor>,
) -> Result<(), CliError> {
    let processing = ProcessingConfiguration::builder()
        .enabled(!processors.is_empty())
        .set_processors(Some(processors))
        .build();
    let request = aws
        .firehose
        .update_destination()
        .delivery_stream_name(stream)
        .current_delivery_stream_version_id(&destination.stream_version)
        .destination_id(&destination.id);
    with_processing(request, destination.kind, processing)
        .send()
        .await
        .map_err(|error| aws::failed("firehose:UpdateDestination", error))?;
    Ok(())
}

/// Removes the function's Lambda processor from the delivery stream `stream`, keeping its
/// other processors; `false` when it has none (or there is no such stream).
pub(super) async fn remove_processor(
    aws: &Aws,
    stream: &str,
    function_arn: &str,
    options: Options,
) -> Result<bool, CliError> {
    let Some(destination) = destination(aws, stream).await? else {
        return Ok(false);
    };
    let (ours, others): (Vec<Processor>, Vec<Processor>) = destination
        .processors
        .iter()
        .cloned()
        .partition(|processor| processor_function(processor) == Some(function_arn));
    if ours.is_empty() {
        return Ok(false);
    }
    if !options.dry_run {
        put_processors(aws, stream, &destination, others).await?;
    }
    Ok(true)
}

/// The Lambda processor a firehose trigger asks for: `current`'s parameters (retries, role,
/// ...) kept, the function and the buffer settings given set.
fn lambda_processor(
    current: Option<&Processor>,
    function_arn: &str,
    trigger: &FirehoseTrigger,
) -> Result<Processor, CliError> {
    let invalid = |error| aws::invalid("firehose:UpdateDestination", error);
    let mut set = vec![(ProcessorParameterName::LambdaArn, function_arn.to_owned())];
    if let Some(size) = trigger.buffer_size {
        set.push((ProcessorParameterName::BufferSizeInMb, size.to_string()));
    }
    if let Some(interval) = trigger.buffer_interval {
        set.push((
            ProcessorParameterName::BufferIntervalInSeconds,
            interval.to_string(),
        ));
    }
    let mut parameters: Vec<ProcessorParameter> = current
        .map(|current| current.parameters().to_vec())
        .unwrap_or_default()
        .into_iter()
        .filter(|kept| !set.iter().any(|(name, _)| kept.parameter_name() == name))
        .collect();
    for (name, value) in set {
        parameters.push(
            ProcessorParameter::builder()
                .parameter_name(name)
                .parameter_value(value)
                .build()
                .map_err(invalid)?,
        );
    }
    Processor::builder()
        .r#type(ProcessorType::Lambda)
        .set_parameters(Some(parameters))
        .build()
        .map_err(invalid)
}

/// Kinesis Data Firehose transformations: the function as the Lambda processor of each
/// delivery stream named, recorded in the function's `lambdakit:firehose` tag; streams the
/// tag names but the settings no longer do lose it.
async fn firehose(
    aws: &Aws,
    unit: &Unit<'_>,
    function_arn: &str,
    options: Options,
) -> Result<Vec<Change>, CliError> {
    let wanted = &unit.function.deploy.triggers.firehose;
    let recorded = firehose_streams(aws, function_arn).await?;
    let mut keep: Vec<String> = wanted
        .iter()
        .map(|trigger| trigger.stream.clone())
        .collect();
    keep.sort();
    keep.dedup();
    let mut streams = keep.clone();
    streams.extend(recorded.iter().cloned());
    streams.sort();
    streams.dedup();
    let mut changes = Vec::new();
    for stream in &streams {
        let label = format!("firehose {stream}");
        // The last trigger on a stream wins: a destination has one Lambda processor.
        let Some(trigger) = wanted
            .iter()
            .rev()
            .find(|trigger| &trigger.stream == stream)
        else {
            if remove_processor(aws, stream, function_arn, options).await? {
                changes.push(Change::new("trigger", label, Action::Delete));
            }
            continue;
        };
        let destination = destination(aws, stream)
            .await?
            .ok_or_else(|| CliError::Conflict {
                resource: format!("the delivery stream `{stream}`"),
                problem: "does not exist".into(),
                hint: "create it first, or fix `stream` in the firehose trigger".into(),
            })?;
        let mut lambdas = destination.processors.iter().filter_map(processor_function);
        if let Some(other) = lambdas.find(|other| *other != function_arn) {
            return Err(CliError::Conflict {
                resource: format!("the delivery stream `{stream}`"),
                problem: format!("already transforms its records with `{other}`"),
                hint: "a destination has one Lambda processor: remove that one, or this firehose trigger".into(),
            });
        }
        let current = destination
            .processors
            .iter()
            .position(|processor| processor_function(processor) == Some(function_arn));
        let processor = lambda_processor(
            current.map(|index| &destination.processors[index]),
            function_arn,
            trigger,
        )?;
        let mut processors = destination.processors.clone();
        let action = match current {
            None => {
                processors.push(processor);
                Action::Create
            }
            Some(index) => {
                let name =
                    |parameter: &ProcessorParameter| parameter.parameter_name().as_str().to_owned();
                let mut differences = Vec::new();
                for wanted in processor.parameters() {
                    let found = parameter(&processors[index], wanted.parameter_name());
                    if found != Some(wanted.parameter_value()) {
                        differences.push(format!(
                            "{} {} → {}",
                            name(wanted),
                            found.unwrap_or("unset"),
                            wanted.parameter_value()
                        ));
                    }
                }
                processors[index] = processor;
                if differences.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update(differences)
                }
            }
        };
        if !options.dry_run && action != Action::Unchanged {
            put_processors(aws, stream, &destination, processors).await?;
        }
        changes.push(Change::new("trigger", label, action));
    }
    if !options.dry_run && keep != recorded {
        if keep.is_empty() {
            aws.lambda
                .untag_resource()
                .resource(function_arn)
                .tag_keys(TAG_FIREHOSE)
                .send()
                .await
                .map_err(|error| aws::failed("lambda:UntagResource", error))?;
        } else {
            aws.lambda
                .tag_resource()
                .resource(function_arn)
                .tags(TAG_FIREHOSE, keep.join(" "))
                .send()
                .await
                .map_err(|error| aws::failed("lambda:TagResource", error))?;
        }
    }
    Ok(changes)
}

/// The receipt rule deploy puts in a rule set for `function`: one per rule set.
pub(super) fn receipt_rule_name(function: &str) -> String {
    bounded(&format!("{ID_PREFIX}{function}"), "", 64)
}

/// The ARN a receipt rule's invoke permission names (AWS "Giving permissions to Amazon SES
/// for email receiving").
fn receipt_rule_arn(aws: &Aws, rule_set: &str, rule: &str) -> String {
    aws.arn(
        "ses",
        &format!("receipt-rule-set/{rule_set}:receipt-rule/{rule}"),
    )
}

/// The rule set and rule a permission's source ARN names.
pub(super) fn receipt_rule_of(arn: &str) -> Option<(&str, &str)> {
    let (_, rest) = arn.split_once(":receipt-rule-set/")?;
    rest.split_once(":receipt-rule/")
}

/// What DescribeReceiptRule found.
enum Receipt {
    NoRuleSet,
    NoRule,
    Rule(ReceiptRule),
}

async fn described_rule(aws: &Aws, rule_set: &str, rule: &str) -> Result<Receipt, CliError> {
    match aws
        .ses
        .describe_receipt_rule()
        .rule_set_name(rule_set)
        .rule_name(rule)
        .send()
        .await
    {
        Ok(found) => Ok(found.rule().cloned().map_or(Receipt::NoRule, Receipt::Rule)),
        Err(error) => match aws::code(&error) {
            Some("RuleSetDoesNotExist") => Ok(Receipt::NoRuleSet),
            Some("RuleDoesNotExist") => Ok(Receipt::NoRule),
            _ => Err(aws::failed("ses:DescribeReceiptRule", error)),
        },
    }
}

/// Removes the receipt rule `rule` from `rule_set`, if it is there.
pub(super) async fn remove_receipt_rule(
    aws: &Aws,
    rule_set: &str,
    rule: &str,
) -> Result<(), CliError> {
    match aws
        .ses
        .delete_receipt_rule()
        .rule_set_name(rule_set)
        .rule_name(rule)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error)
            if matches!(
                aws::code(&error),
                Some("RuleSetDoesNotExist" | "RuleDoesNotExist")
            ) =>
        {
            Ok(())
        }
        Err(error) => Err(aws::failed("ses:DeleteReceiptRule", error)),
    }
}

/// The receipt rule an SES trigger asks for: enabled, for its recipients, with one action,
/// the function's.
fn wanted_rule(
    rule: &str,
    function_arn: &str,
    trigger: &SesTrigger,
) -> Result<ReceiptRule, CliError> {
    let invalid = |error| aws::invalid("ses:CreateReceiptRule", error);
    let action = LambdaAction::builder()
        .function_arn(function_arn)
        .invocation_type(InvocationType::from(trigger.invocation_type.as_str()))
        .build()
        .map_err(invalid)?;
    ReceiptRule::builder()
        .name(rule)
        .enabled(true)
        .set_recipients(Some(trigger.recipients.clone()))
        .actions(ReceiptAction::builder().lambda_action(action).build())
        .build()
        .map_err(invalid)
}

/// How `found` differs from `wanted`, as the plan says it.
fn rule_differences(found: &ReceiptRule, wanted: &ReceiptRule) -> Vec<String> {
    let mut differences = Vec::new();
    if !found.enabled() {
        differences.push("enabled → true".into());
    }
    let sorted = |rule: &ReceiptRule| {
        let mut recipients = rule.recipients().to_vec();
        recipients.sort();
        recipients
    };
    let (was, is) = (sorted(found), sorted(wanted));
    if was != is {
        let listed = |recipients: &[String]| {
            if recipients.is_empty() {
                "every recipient".to_owned()
            } else {
                recipients.join(", ")
            }
        };
        differences.push(format!("recipients {} → {}", listed(&was), listed(&is)));
    }
    let lambda = |rule: &ReceiptRule| -> Vec<(String, String)> {
        rule.actions()
            .iter()
            .map(|action| match action.lambda_action() {
                Some(lambda) => (
                    lambda.function_arn().to_owned(),
                    // SES's default.
                    lambda
                        .invocation_type()
                        .map_or("Event", InvocationType::as_str)
                        .to_owned(),
                ),
                None => (String::new(), "another action".to_owned()),
            })
            .collect()
    };
    let (was, is) = (lambda(found), lambda(wanted));
    if was != is {
        let described = |actions: &[(String, String)]| {
            actions
                .iter()
                .map(|(arn, how)| format!("{arn} ({how})").trim_start().to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        differences.push(format!("actions {} → {}", described(&was), described(&is)));
    }
    differences
}

/// SES receipt rules: one per rule set, named `lambdakit-<function>`, with the permission for
/// `ses.amazonaws.com`; rule sets the policy names but the settings no longer do lose theirs.
async fn ses(
    aws: &Aws,
    unit: &Unit<'_>,
    function_arn: &str,
    statements: &[Statement],
    options: Options,
) -> Result<Vec<Change>, CliError> {
    let name = unit.function.aws_name();
    let rule = receipt_rule_name(name);
    let wanted = &unit.function.deploy.triggers.ses;
    let sets: Vec<String> = wanted
        .iter()
        .map(|trigger| trigger.rule_set.clone())
        .collect();
    let sets = with_granted(sets, statements, "lambdakit-ses-", |arn| {
        receipt_rule_of(arn).map(|(set, _)| set)
    });
    let mut changes = Vec::new();
    for set in sets {
        let arn = receipt_rule_arn(aws, &set, &rule);
        let sid = sid("ses", &arn);
        let label = format!("ses {set}");
        // The last trigger on a rule set wins: a rule set has one rule per function.
        let Some(trigger) = wanted.iter().rev().find(|trigger| trigger.rule_set == set) else {
            if !options.dry_run {
                remove_receipt_rule(aws, &set, &rule).await?;
                super::function::remove_permission(aws, name, None, &sid).await?;
            }
            changes.push(Change::new("trigger", label, Action::Delete));
            continue;
        };
        let desired = wanted_rule(&rule, function_arn, trigger)?;
        let found = described_rule(aws, &set, &rule).await?;
        let action = match &found {
            Receipt::NoRuleSet | Receipt::NoRule => Action::Create,
            Receipt::Rule(found) => {
                let differences = rule_differences(found, &desired);
                if differences.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Update(differences)
                }
            }
        };
        if !options.dry_run {
            // SES checks that it may invoke the function when the rule is put.
            permit(aws, name, &sid, "ses.amazonaws.com", &arn, statements).await?;
            if matches!(found, Receipt::NoRuleSet) {
                aws.ses
                    .create_receipt_rule_set()
                    .rule_set_name(&set)
                    .send()
                    .await
                    .map_err(|error| aws::failed("ses:CreateReceiptRuleSet", error))?;
            }
            match (&found, &action) {
                (Receipt::NoRuleSet | Receipt::NoRule, _) => {
                    aws.ses
                        .create_receipt_rule()
                        .rule_set_name(&set)
                        .rule(desired)
                        .send()
                        .await
                        .map_err(|error| aws::failed("ses:CreateReceiptRule", error))?;
                }
                (Receipt::Rule(_), Action::Update(_)) => {
                    aws.ses
                        .update_receipt_rule()
                        .rule_set_name(&set)
                        .rule(desired)
                        .send()
                        .await
                        .map_err(|error| aws::failed("ses:UpdateReceiptRule", error))?;
                }
                _ => {}
            }
        }
        changes.push(Change::new("trigger", label, action));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::settings::KafkaAuth;
    use crate::package::zip::Archive;

    #[tokio::test]
    async fn a_receipt_rule_no_longer_wanted_is_deleted_with_its_permission() {
        // moto 5.2.1 has no DeleteReceiptRule: a fake answers, and the requests are read.
        let (aws, seen) = super::super::function::tests::aws(|_, path| match path {
            "/" => (
                200,
                None,
                r#"<DeleteReceiptRuleResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><DeleteReceiptRuleResult/></DeleteReceiptRuleResponse>"#,
            ),
            _ => (204, None, ""),
        })
        .await;
        let function = Function::standalone("intake");
        let code = Archive {
            bytes: Vec::new(),
            unzipped: 0,
        };
        let unit = Unit {
            function: &function,
            code: &code,
        };
        let arn = receipt_rule_arn(&aws, "inbound", "lambdakit-intake");
        assert_eq!(receipt_rule_of(&arn), Some(("inbound", "lambdakit-intake")));
        let granted = sid("ses", &arn);
        let statements = [Statement {
            sid: granted.clone(),
            source_arn: Some(arn),
        }];
        let changes = ses(
            &aws,
            &unit,
            "arn:aws:lambda:eu-west-1:123456789012:function:intake",
            &statements,
            Options::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            changes,
            [Change::new("trigger", "ses inbound", Action::Delete)]
        );
        let seen = seen.lock().unwrap();
        assert!(
            seen.iter().any(|line| line.starts_with("POST / ")
                && line.contains("Action=DeleteReceiptRule")
                && line.contains("RuleSetName=inbound")
                && line.contains("RuleName=lambdakit-intake")),
            "{seen:#?}"
        );
        assert!(
            seen.contains(&format!(
                "DELETE /2015-03-31/functions/intake/policy/{granted}"
            )),
            "{seen:#?}"
        );
    }

    const CLUSTER: &str = "arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b1c-1";
    const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-AbCdEf";
    const MAPPINGS: &str = "/2015-03-31/event-source-mappings";

    /// A trigger on the topic `topic` of the MSK cluster, with Lambda's defaults.
    #[test]
    fn a_streams_failure_handling_is_compared_against_lambdas_defaults_and_updated_in_place() {
        let arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks";
        let found = |bisect: Option<bool>, retries: Option<i32>| {
            EventSourceMappingConfiguration::builder()
                .event_source_arn(arn)
                .batch_size(100)
                .maximum_batching_window_in_seconds(0)
                .set_function_response_types(Some(Vec::new()))
                .starting_position(EventSourcePosition::Latest)
                .set_bisect_batch_on_function_error(bisect)
                .set_maximum_retry_attempts(retries)
                .build()
        };
        let mut clicks = StreamTrigger::new(arn);
        // Lambda's defaults: a mapping that does not say, or says them, is the same.
        let wanted = Mapping::stream("kinesis", arn.into(), &clicks);
        assert_eq!(wanted.differences(&found(None, None)), (vec![], vec![]));
        assert_eq!(
            wanted.differences(&found(Some(false), Some(-1))),
            (vec![], vec![])
        );
        assert!(wanted.properties().get("MaximumRetryAttempts").is_none());

        clicks.bisect_batch_on_function_error = true;
        clicks.maximum_retry_attempts = Some(3);
        clicks.maximum_record_age = Some(3600);
        let wanted = Mapping::stream("kinesis", arn.into(), &clicks);
        assert_eq!(
            wanted.differences(&found(Some(false), Some(-1))),
            (
                vec![
                    "bisect batch on function error → true".to_owned(),
                    "maximum retry attempts none → 3".to_owned(),
                    "maximum record age none → 3600 s".to_owned(),
                ],
                vec![]
            )
        );
        let properties = wanted.properties();
        assert_eq!(properties["BisectBatchOnFunctionError"], true);
        assert_eq!(properties["MaximumRetryAttempts"], 3);
        assert_eq!(properties["MaximumRecordAgeInSeconds"], 3600);
        // A queue has none of them.
        let queue = Mapping::stream(
            "sqs",
            "arn:aws:sqs:eu-west-1:123456789012:q".into(),
            &clicks,
        );
        assert!(
            queue
                .properties()
                .get("BisectBatchOnFunctionError")
                .is_none()
        );
    }

    fn msk(topic: &str) -> KafkaTrigger {
        KafkaTrigger::new(KafkaCluster::Msk(CLUSTER.into()), topic)
    }

    /// A trigger on the topic `clicks` of a self-managed cluster in a VPC, signed in to with
    /// SASL/SCRAM.
    fn self_managed() -> KafkaTrigger {
        KafkaTrigger {
            cluster: KafkaCluster::SelfManaged(vec![
                "b-2.example.com:9092".into(),
                "b-1.example.com:9092".into(),
            ]),
            auth: Some((KafkaAuth::SaslScram512, SECRET.into())),
            vpc_subnets: vec!["subnet-0a1b".into()],
            vpc_security_groups: vec!["sg-0c2d".into()],
            ..msk("clicks")
        }
    }

    /// Converges the mappings of `intake`, whose Kafka triggers are `kafka`, against the
    /// fake Lambda API answering with `answers`: the changes, and the requests it received.
    async fn converged(
        kafka: Vec<KafkaTrigger>,
        answers: super::super::function::tests::Answers,
        options: Options,
    ) -> (Vec<Change>, Vec<String>) {
        let (aws, seen) = super::super::function::tests::aws(answers).await;
        let mut function = Function::standalone("intake");
        function.deploy.triggers.kafka = kafka;
        let code = Archive {
            bytes: Vec::new(),
            unzipped: 0,
        };
        let unit = Unit {
            function: &function,
            code: &code,
        };
        let changes = mappings(&aws, &unit, options).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        (changes, seen)
    }

    /// The JSON bodies of the requests `METHOD PATH...` among `seen`.
    fn bodies(seen: &[String], request: &str) -> Vec<Value> {
        seen.iter()
            .filter_map(|line| line.strip_prefix(request))
            .map(|rest| {
                let body = &rest[rest.find(' ').map_or(rest.len(), |space| space + 1)..];
                serde_json::from_str(body).unwrap_or(Value::Null)
            })
            .collect()
    }

    /// Lambda's answers when the function has no mapping yet.
    fn none_yet(method: &str, path: &str) -> (u16, Option<&'static str>, &'static str) {
        match (method, path) {
            ("GET", MAPPINGS) => (200, None, r#"{"EventSourceMappings":[]}"#),
            ("POST", MAPPINGS) => (202, None, r#"{"UUID":"new","State":"Creating"}"#),
            _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
        }
    }

    #[tokio::test]
    async fn kafka_triggers_create_an_msk_mapping_and_a_self_managed_one() {
        let mut orders = msk("orders");
        orders.consumer_group_id = Some("orders-reader".into());
        orders.batching_window = Some(5);
        let wanted = vec![orders, self_managed()];
        let clicks = "kafka b-2.example.com:9092,b-1.example.com:9092 topic clicks";
        let created = [
            Change::new(
                "trigger",
                format!("kafka {CLUSTER} topic orders"),
                Action::Create,
            ),
            Change::new("trigger", clicks, Action::Create),
        ];

        // A dry run plans them, and writes nothing.
        let dry = Options {
            dry_run: true,
            ..Options::default()
        };
        let (changes, seen) = converged(wanted.clone(), none_yet, dry).await;
        assert_eq!(changes, created);
        assert_eq!(seen.len(), 1, "{seen:#?}");
        assert!(seen[0].starts_with("GET /2015-03-31/event-source-mappings?"));

        let (changes, seen) = converged(wanted, none_yet, Options::default()).await;
        assert_eq!(changes, created);
        assert_eq!(
            bodies(&seen, &format!("POST {MAPPINGS}")),
            [
                serde_json::json!({
                    "FunctionName": "intake",
                    "EventSourceArn": CLUSTER,
                    "Topics": ["orders"],
                    "BatchSize": 100,
                    "MaximumBatchingWindowInSeconds": 5,
                    "StartingPosition": "LATEST",
                    "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": "orders-reader"},
                }),
                serde_json::json!({
                    "FunctionName": "intake",
                    "SelfManagedEventSource": {
                        "Endpoints": {
                            "KAFKA_BOOTSTRAP_SERVERS": ["b-2.example.com:9092", "b-1.example.com:9092"]
                        }
                    },
                    "Topics": ["clicks"],
                    "BatchSize": 100,
                    "StartingPosition": "LATEST",
                    "SourceAccessConfigurations": [
                        {"Type": "SASL_SCRAM_512_AUTH", "URI": SECRET},
                        {"Type": "VPC_SECURITY_GROUP", "URI": "security_group:sg-0c2d"},
                        {"Type": "VPC_SUBNET", "URI": "subnet:subnet-0a1b"},
                    ],
                }),
            ]
        );
    }

    #[tokio::test]
    async fn kafka_mappings_as_asked_are_left_alone() {
        // As Lambda reports them: the default group named after the UUID, the default
        // window (500 ms) in whole seconds, the servers and access in another order.
        let answers = |method: &str, path: &str| match (method, path) {
            ("GET", MAPPINGS) => (
                200,
                None,
                r#"{"EventSourceMappings":[
                    {"UUID":"m-1","EventSourceArn":"arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b1c-1","Topics":["orders"],"BatchSize":100,"MaximumBatchingWindowInSeconds":0,"StartingPosition":"LATEST","AmazonManagedKafkaEventSourceConfig":{"ConsumerGroupId":"m-1"},"State":"Enabled"},
                    {"UUID":"m-2","SelfManagedEventSource":{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["b-1.example.com:9092","b-2.example.com:9092"]}},"Topics":["clicks"],"BatchSize":100,"MaximumBatchingWindowInSeconds":0,"StartingPosition":"LATEST","SourceAccessConfigurations":[{"Type":"VPC_SUBNET","URI":"subnet:subnet-0a1b"},{"Type":"SASL_SCRAM_512_AUTH","URI":"arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-AbCdEf"},{"Type":"VPC_SECURITY_GROUP","URI":"security_group:sg-0c2d"}],"State":"Enabled"}
                ]}"#,
            ),
            _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
        };
        let (changes, seen) = converged(
            vec![msk("orders"), self_managed()],
            answers,
            Options::default(),
        )
        .await;
        assert!(
            changes.iter().all(|change| !change.changes()),
            "{changes:#?}"
        );
        assert_eq!(seen.len(), 1, "only the list: {seen:#?}");
    }

    #[tokio::test]
    async fn a_changed_batch_size_window_or_secret_is_updated_in_place() {
        let answers = |method: &str, path: &str| match (method, path) {
            ("GET", MAPPINGS) => (
                200,
                None,
                r#"{"EventSourceMappings":[
                    {"UUID":"m-2","SelfManagedEventSource":{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["b-1.example.com:9092","b-2.example.com:9092"]}},"Topics":["clicks"],"BatchSize":100,"MaximumBatchingWindowInSeconds":0,"StartingPosition":"LATEST","SourceAccessConfigurations":[{"Type":"VPC_SUBNET","URI":"subnet:subnet-0a1b"},{"Type":"VPC_SECURITY_GROUP","URI":"security_group:sg-0c2d"}]}
                ]}"#,
            ),
            ("PUT", "/2015-03-31/event-source-mappings/m-2") => {
                (202, None, r#"{"UUID":"m-2","State":"Updating"}"#)
            }
            _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
        };
        let mut clicks = self_managed();
        clicks.batch_size = Some(500);
        clicks.batching_window = Some(2);
        let (changes, seen) = converged(vec![clicks], answers, Options::default()).await;
        assert_eq!(
            changes,
            [Change::new(
                "trigger",
                "kafka b-2.example.com:9092,b-1.example.com:9092 topic clicks",
                Action::Update(vec![
                    "batch size 100 → 500".into(),
                    "batching window 0 → 2 s".into(),
                    format!(
                        "source access VPC_SECURITY_GROUP security_group:sg-0c2d, VPC_SUBNET subnet:subnet-0a1b → SASL_SCRAM_512_AUTH {SECRET}, VPC_SECURITY_GROUP security_group:sg-0c2d, VPC_SUBNET subnet:subnet-0a1b"
                    ),
                ])
            )]
        );
        assert_eq!(
            bodies(&seen, "PUT /2015-03-31/event-source-mappings/m-2"),
            [serde_json::json!({
                "BatchSize": 500,
                "MaximumBatchingWindowInSeconds": 2,
                "SourceAccessConfigurations": [
                    {"Type": "SASL_SCRAM_512_AUTH", "URI": SECRET},
                    {"Type": "VPC_SECURITY_GROUP", "URI": "security_group:sg-0c2d"},
                    {"Type": "VPC_SUBNET", "URI": "subnet:subnet-0a1b"},
                ],
            })]
        );
        assert!(
            !seen
                .iter()
                .any(|line| line.starts_with("POST ") || line.starts_with("DELETE ")),
            "{seen:#?}"
        );
    }

    #[tokio::test]
    async fn what_lambda_cannot_change_replaces_the_mapping_and_what_is_gone_is_deleted() {
        let answers = |method: &str, path: &str| {
            static CREATES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            match (method, path) {
                ("GET", MAPPINGS) => (
                    200,
                    None,
                    r#"{"EventSourceMappings":[
                        {"UUID":"m-1","EventSourceArn":"arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b1c-1","Topics":["orders"],"BatchSize":100,"StartingPosition":"LATEST","AmazonManagedKafkaEventSourceConfig":{"ConsumerGroupId":"m-1"}},
                        {"UUID":"m-2","EventSourceArn":"arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b1c-1","Topics":["old"],"BatchSize":100,"StartingPosition":"LATEST"},
                        {"UUID":"m-3","SelfManagedEventSource":{"Endpoints":{"KAFKA_BOOTSTRAP_SERVERS":["b-1.example.com:9092"]}},"Topics":["clicks"],"BatchSize":100,"StartingPosition":"LATEST"}
                    ]}"#,
                ),
                ("DELETE", _) => (202, None, r#"{"State":"Deleting"}"#),
                ("POST", MAPPINGS) => {
                    // Lambda holds on to the replaced mapping a while.
                    if CREATES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                        (
                            409,
                            Some("ResourceConflictException"),
                            r#"{"Type":"User","message":"An event source mapping with this topic and cluster already exists."}"#,
                        )
                    } else {
                        (202, None, r#"{"UUID":"new","State":"Creating"}"#)
                    }
                }
                _ => (500, Some("ServiceException"), r#"{"message":"unexpected"}"#),
            }
        };
        let mut orders = msk("orders");
        orders.starting_position = Some(StartingPosition::TrimHorizon);
        orders.consumer_group_id = Some("orders-reader".into());
        let (changes, seen) =
            converged(vec![orders, msk("new")], answers, Options::default()).await;
        assert_eq!(
            changes,
            [
                Change::new(
                    "trigger",
                    format!("kafka {CLUSTER} topic orders"),
                    Action::Update(vec![
                        "starting position LATEST → TRIM_HORIZON (replaced: Lambda cannot change it)".into(),
                        "consumer group default → orders-reader (replaced: Lambda cannot change it)".into(),
                    ])
                ),
                Change::new("trigger", format!("kafka {CLUSTER} topic new"), Action::Create),
                Change::new("trigger", format!("mapping {CLUSTER} topic old"), Action::Delete),
                Change::new(
                    "trigger",
                    "mapping b-1.example.com:9092 topic clicks",
                    Action::Delete
                ),
            ]
        );
        let writes: Vec<String> = seen
            .iter()
            .filter(|line| !line.starts_with("GET "))
            .map(|line| line.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            writes,
            [
                "DELETE /2015-03-31/event-source-mappings/m-1",
                "POST /2015-03-31/event-source-mappings",
                "POST /2015-03-31/event-source-mappings",
                "POST /2015-03-31/event-source-mappings",
                "DELETE /2015-03-31/event-source-mappings/m-2",
                "DELETE /2015-03-31/event-source-mappings/m-3",
            ],
            "the replacement is retried while Lambda still holds the old one"
        );
        let created = bodies(&seen, &format!("POST {MAPPINGS}"));
        assert_eq!(created[1]["StartingPosition"], "TRIM_HORIZON");
        assert_eq!(
            created[1]["AmazonManagedKafkaEventSourceConfig"]["ConsumerGroupId"],
            "orders-reader"
        );
        assert_eq!(created[2]["Topics"], serde_json::json!(["new"]));
    }
}
