//! The deploy settings of `[package.metadata.lambdakit]`: what a function is on AWS beyond its
//! local settings (name, role, URL, triggers, ...), each checked here, before any AWS call,
//! with the key's full path and the valid values in the message.

pub mod api;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::CliError;

/// What deploy makes of a function, beside the settings `serve` uses too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploySettings {
    /// The function's name on AWS, `name` (default: the binary's name).
    pub name: Option<String>,
    /// `provided.al2023` (default) or `provided.al2`, `runtime`.
    pub runtime: Option<crate::platform::Runtime>,
    /// `description`.
    pub description: Option<String>,
    /// The execution role's name or ARN, `role`; deploy creates one when it is absent.
    pub role: Option<String>,
    /// `tags`, added to lambdakit's own.
    pub tags: BTreeMap<String, String>,
    /// Layer version ARNs, `layers`.
    pub layers: Option<Vec<String>>,
    /// X-Ray tracing, `tracing`.
    pub tracing: Option<Tracing>,
    /// Reserved concurrency, `reserved_concurrency`.
    pub reserved_concurrency: Option<u32>,
    /// Provisioned concurrency on the alias, `provisioned_concurrency`.
    pub provisioned_concurrency: Option<u32>,
    /// `/tmp` size in MB (512 to 10240), `ephemeral_storage`.
    pub ephemeral_storage: Option<u32>,
    /// Publish a version when code or configuration changes, `publish`.
    pub publish: Option<bool>,
    /// An alias pointing at the newest published version, `alias` (implies `publish`).
    pub alias: Option<String>,
    /// A function URL, `url`.
    pub url: Option<UrlSettings>,
    /// Upload code through this S3 bucket instead of inline, `upload_bucket`.
    pub upload_bucket: Option<String>,
    /// What invokes the function, `triggers`.
    pub triggers: Triggers,
    /// What the function's code may do on AWS, granted on the role deploy creates,
    /// `permissions`.
    pub permissions: Vec<Permission>,
    /// What becomes of asynchronous (`Event`) invocations, `async`.
    pub asynchronous: Option<AsyncSettings>,
    /// The VPC the function reaches, `vpc`.
    pub vpc: Option<VpcSettings>,
    /// Days the function's log group keeps events, `log_retention` (deploy creates the group).
    pub log_retention: Option<u32>,
    /// The KMS key the function's log group is encrypted with, `log_kms_key`.
    pub log_kms_key: Option<String>,
    /// What Lambda does when it finds the function in a recursive loop, `recursive_loop`.
    pub recursive_loop: Option<RecursiveLoop>,
    /// Whether each tenant gets execution environments of its own, `tenancy`.
    pub tenancy: Option<Tenancy>,
    /// Lambda Managed Instances: the capacity provider the function runs on, and how many
    /// invocations each of its environments takes at once, `managed_instances`.
    pub managed_instances: Option<ManagedInstances>,
}

/// `managed_instances = { capacity_provider, subnets, security_groups, ... }`: the function
/// runs on EC2 instances of a capacity provider (Lambda Managed Instances), each execution
/// environment taking several invocations at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedInstances {
    /// The capacity provider: one deploy creates and converges, or an existing one's ARN.
    pub capacity_provider: CapacityProvider,
    /// How many invocations an execution environment takes at once
    /// (`PerExecutionEnvironmentMaxConcurrency`, 1 to 1600; Lambda's default per runtime).
    pub concurrency: Option<u32>,
    /// GiB of memory per vCPU of an execution environment
    /// (`ExecutionEnvironmentMemoryGiBPerVCpu`, 2 to 8).
    pub memory_per_vcpu: Option<u32>,
}

/// Which capacity provider a function runs on.
#[derive(Debug, Clone, PartialEq)]
pub enum CapacityProvider {
    /// One deploy creates (with its operator role, unless one is named) and converges.
    Own(OwnCapacityProvider),
    /// An existing capacity provider's ARN, left as it is.
    Existing(String),
}

/// The settings of a capacity provider deploy creates.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnCapacityProvider {
    /// Its name, `capacity_provider`.
    pub name: String,
    /// The subnets its instances go in, `subnets`.
    pub subnets: Vec<String>,
    /// Their security groups, `security_groups`.
    pub security_groups: Vec<String>,
    /// The role Lambda manages the instances with (name or ARN), `operator_role`; deploy
    /// creates one with `AWSLambdaManagedEC2ResourceOperator` when absent.
    pub operator_role: Option<String>,
    /// The instance types it may launch, `instance_types` (any, when empty).
    pub instance_types: Vec<String>,
    /// The most vCPUs it scales to, `max_vcpus`.
    pub max_vcpus: Option<u32>,
}

/// How a function's execution environments are shared, `tenancy` (Lambda's `TenancyConfig`,
/// fixed when the function is created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tenancy {
    /// Any invocation may run in any environment (Lambda's default).
    #[default]
    Shared,
    /// Every invocation names its tenant, and runs only in that tenant's environments
    /// (`TenantIsolationMode: PER_TENANT`).
    PerTenant,
}

impl Word for Tenancy {
    const ALL: &'static [Self] = &[Self::Shared, Self::PerTenant];

    fn as_str(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::PerTenant => "per-tenant",
        }
    }
}

/// The longest tenant id Lambda takes (Invoke's `TenantId`).
pub const MAX_TENANT_ID: usize = 256;

/// Checks a tenant id as Lambda's Invoke does: 1 to 256 letters, digits, spaces or
/// `._:/=+-@`.
///
/// # Errors
///
/// What is wrong with it.
pub fn tenant_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_TENANT_ID {
        return Err(format!(
            "is {} bytes; a tenant id is 1 to {MAX_TENANT_ID}",
            id.len()
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || " ._:/=+-@".contains(*c)))
    {
        return Err(format!(
            "has `{bad}`; a tenant id takes letters, digits, spaces and `._:/=+-@`"
        ));
    }
    Ok(())
}

/// `async = { retries, max_event_age, on_success, on_failure, dead_letter }`: Lambda's
/// event invoke config and dead-letter queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AsyncSettings {
    /// Retries after a failed attempt, 0 to 2 (`MaximumRetryAttempts`; Lambda's default 2).
    pub retries: Option<u32>,
    /// Seconds an event may wait, 60 to 21600 (`MaximumEventAgeInSeconds`; default 21600).
    pub max_event_age: Option<u32>,
    /// Where a successful invocation's record goes: an SQS queue, SNS topic, EventBridge bus or
    /// Lambda function, by ARN.
    pub on_success: Option<String>,
    /// Where a failed one's record goes: those, or an S3 bucket.
    pub on_failure: Option<String>,
    /// The SQS queue or SNS topic a failed event itself goes to (`DeadLetterConfig`).
    pub dead_letter: Option<String>,
}

impl AsyncSettings {
    /// Whether it asks for an event invoke config (anything but the dead-letter queue).
    pub fn invoke_config(&self) -> bool {
        self.retries.is_some()
            || self.max_event_age.is_some()
            || self.on_success.is_some()
            || self.on_failure.is_some()
    }
}

/// The service of an `async` destination or dead-letter queue, by its ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// An SQS queue.
    Sqs,
    /// An SNS topic.
    Sns,
    /// An EventBridge event bus.
    EventBridge,
    /// An S3 bucket (on failure only).
    S3,
    /// A Lambda function.
    Lambda,
}

impl Destination {
    /// The service of `arn`, an ARN `async` accepted (what is none of the others is a
    /// function's).
    pub fn of(arn: &str) -> Self {
        match arn.split(':').nth(2) {
            Some("sqs") => Self::Sqs,
            Some("sns") => Self::Sns,
            Some("events") => Self::EventBridge,
            Some("s3") => Self::S3,
            _ => Self::Lambda,
        }
    }

    /// Its name as Lambda's and SAM's destination types spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqs => "SQS",
            Self::Sns => "SNS",
            Self::EventBridge => "EventBridge",
            Self::S3 => "S3",
            Self::Lambda => "Lambda",
        }
    }
}

/// `vpc = { subnets, security_groups, ipv6_dual_stack }`.
#[derive(Debug, Clone, PartialEq)]
pub struct VpcSettings {
    /// Subnet ids, `subnet-...`.
    pub subnets: Vec<String>,
    /// Security group ids, `sg-...`.
    pub security_groups: Vec<String>,
    /// IPv6 traffic on dual-stack subnets (`Ipv6AllowedForDualStack`).
    pub ipv6_dual_stack: bool,
}

/// What Lambda does with a recursive loop it detects (`RecursiveLoop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecursiveLoop {
    /// Stops the loop after about 16 invocations (`Terminate`, Lambda's default).
    #[default]
    Terminate,
    /// Lets it run (`Allow`), for functions meant to call themselves.
    Allow,
}

impl Word for RecursiveLoop {
    const ALL: &'static [Self] = &[Self::Terminate, Self::Allow];

    fn as_str(self) -> &'static str {
        match self {
            Self::Terminate => "Terminate",
            Self::Allow => "Allow",
        }
    }
}

/// The days CloudWatch Logs can keep events for (`PutRetentionPolicy`'s `retentionInDays`).
pub const LOG_RETENTION_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// `[[permissions]] actions = ["dynamodb:PutItem"], resources = ["arn:aws:dynamodb:*:*:table/t"]`:
/// one statement of the execution role's policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Permission {
    /// IAM actions, `service:Action`, wildcards allowed.
    pub actions: Vec<String>,
    /// Resource ARNs (wildcards allowed) or `*`.
    pub resources: Vec<String>,
}

impl DeploySettings {
    /// Lays `other` (a function's own table) over these (its package's): its values win, its
    /// tags and triggers add to these.
    pub fn merge(&mut self, other: &Self) {
        fn over<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
        over(&mut self.name, &other.name);
        over(&mut self.runtime, &other.runtime);
        over(&mut self.description, &other.description);
        over(&mut self.role, &other.role);
        self.tags.extend(other.tags.clone());
        over(&mut self.layers, &other.layers);
        over(&mut self.tracing, &other.tracing);
        over(&mut self.reserved_concurrency, &other.reserved_concurrency);
        over(
            &mut self.provisioned_concurrency,
            &other.provisioned_concurrency,
        );
        over(&mut self.ephemeral_storage, &other.ephemeral_storage);
        over(&mut self.publish, &other.publish);
        over(&mut self.alias, &other.alias);
        over(&mut self.url, &other.url);
        over(&mut self.upload_bucket, &other.upload_bucket);
        over(&mut self.asynchronous, &other.asynchronous);
        over(&mut self.vpc, &other.vpc);
        over(&mut self.log_retention, &other.log_retention);
        over(&mut self.log_kms_key, &other.log_kms_key);
        over(&mut self.recursive_loop, &other.recursive_loop);
        over(&mut self.tenancy, &other.tenancy);
        over(&mut self.managed_instances, &other.managed_instances);
        let triggers = &mut self.triggers;
        triggers.s3.extend(other.triggers.s3.iter().cloned());
        triggers.sqs.extend(other.triggers.sqs.iter().cloned());
        triggers
            .dynamodb
            .extend(other.triggers.dynamodb.iter().cloned());
        triggers
            .kinesis
            .extend(other.triggers.kinesis.iter().cloned());
        triggers
            .schedule
            .extend(other.triggers.schedule.iter().cloned());
        triggers.sns.extend(other.triggers.sns.iter().cloned());
        triggers.logs.extend(other.triggers.logs.iter().cloned());
        triggers
            .firehose
            .extend(other.triggers.firehose.iter().cloned());
        triggers.ses.extend(other.triggers.ses.iter().cloned());
        triggers.kafka.extend(other.triggers.kafka.iter().cloned());
        triggers.iot.extend(other.triggers.iot.iter().cloned());
        triggers
            .cognito
            .extend(other.triggers.cognito.iter().cloned());
        self.permissions.extend(other.permissions.iter().cloned());
    }
}

/// A setting whose value is one of a few words, each Lambda's own spelling of it.
pub trait Word: Copy + 'static {
    /// Every value, in the order messages list them.
    const ALL: &'static [Self];

    /// The word, as the settings and Lambda's API spell it.
    fn as_str(self) -> &'static str;

    /// The value spelled `name`.
    fn named(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|word| word.as_str() == name)
    }

    /// What a setting of this kind must be, for its error: "must be one of `A`, `B`".
    fn expected() -> String {
        let words: Vec<&str> = Self::ALL.iter().map(|word| word.as_str()).collect();
        format!("must be one of {}", quoted(&words))
    }
}

/// X-Ray tracing of a function, `tracing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tracing {
    /// Lambda samples and records invocations (`Active`); the role may write to X-Ray.
    Active,
    /// Lambda records only what a caller's trace header asks for (`PassThrough`, the default).
    #[default]
    PassThrough,
}

impl Word for Tracing {
    const ALL: &'static [Self] = &[Self::Active, Self::PassThrough];

    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::PassThrough => "PassThrough",
        }
    }
}

/// Who may call a function URL, `url.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UrlAuth {
    /// Callers sign with IAM credentials (`AWS_IAM`, the default).
    #[default]
    AwsIam,
    /// Anyone (`NONE`).
    None,
}

impl Word for UrlAuth {
    const ALL: &'static [Self] = &[Self::AwsIam, Self::None];

    fn as_str(self) -> &'static str {
        match self {
            Self::AwsIam => "AWS_IAM",
            Self::None => "NONE",
        }
    }
}

/// How a function URL answers, `url.invoke_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvokeMode {
    /// The whole response at once (`BUFFERED`, the default).
    #[default]
    Buffered,
    /// Streamed as the function writes it (`RESPONSE_STREAM`).
    ResponseStream,
}

impl Word for InvokeMode {
    const ALL: &'static [Self] = &[Self::Buffered, Self::ResponseStream];

    fn as_str(self) -> &'static str {
        match self {
            Self::Buffered => "BUFFERED",
            Self::ResponseStream => "RESPONSE_STREAM",
        }
    }
}

/// Where a stream trigger starts reading, `starting_position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartingPosition {
    /// Records written from now on (`LATEST`, the default).
    #[default]
    Latest,
    /// The oldest record the stream keeps (`TRIM_HORIZON`).
    TrimHorizon,
}

impl Word for StartingPosition {
    const ALL: &'static [Self] = &[Self::Latest, Self::TrimHorizon];

    fn as_str(self) -> &'static str {
        match self {
            Self::Latest => "LATEST",
            Self::TrimHorizon => "TRIM_HORIZON",
        }
    }
}

impl Word for crate::platform::Runtime {
    const ALL: &'static [Self] = &Self::ALL;

    fn as_str(self) -> &'static str {
        Self::as_str(self)
    }
}

impl Word for crate::platform::Architecture {
    const ALL: &'static [Self] = &Self::ALL;

    fn as_str(self) -> &'static str {
        Self::as_str(self)
    }
}

/// `url = { auth = "AWS_IAM", invoke_mode = "BUFFERED", cors = { ... } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlSettings {
    /// Who may call it.
    pub auth: UrlAuth,
    /// Buffered or streamed.
    pub invoke_mode: InvokeMode,
    /// CORS, when configured.
    pub cors: Option<Cors>,
}

/// A function URL's CORS settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cors {
    /// `allow_origins`.
    pub allow_origins: Vec<String>,
    /// `allow_methods`.
    pub allow_methods: Vec<String>,
    /// `allow_headers`.
    pub allow_headers: Vec<String>,
    /// `expose_headers`.
    pub expose_headers: Vec<String>,
    /// `allow_credentials`.
    pub allow_credentials: bool,
    /// `max_age` in seconds (0 to 86400).
    pub max_age: Option<u32>,
}

/// The triggers of a function.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Triggers {
    /// `[[triggers.s3]]`.
    pub s3: Vec<S3Trigger>,
    /// `[[triggers.sqs]]`.
    pub sqs: Vec<StreamTrigger>,
    /// `[[triggers.dynamodb]]`.
    pub dynamodb: Vec<StreamTrigger>,
    /// `[[triggers.kinesis]]`.
    pub kinesis: Vec<StreamTrigger>,
    /// `[[triggers.schedule]]`.
    pub schedule: Vec<ScheduleTrigger>,
    /// `[[triggers.sns]]`.
    pub sns: Vec<SnsTrigger>,
    /// `[[triggers.logs]]`.
    pub logs: Vec<LogsTrigger>,
    /// `[[triggers.firehose]]`.
    pub firehose: Vec<FirehoseTrigger>,
    /// `[[triggers.ses]]`.
    pub ses: Vec<SesTrigger>,
    /// `[[triggers.kafka]]`.
    pub kafka: Vec<KafkaTrigger>,
    /// `[[triggers.iot]]`.
    pub iot: Vec<IotTrigger>,
    /// `[[triggers.cognito]]`.
    pub cognito: Vec<CognitoTrigger>,
}

impl Triggers {
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.s3.is_empty()
            && self.sqs.is_empty()
            && self.dynamodb.is_empty()
            && self.kinesis.is_empty()
            && self.schedule.is_empty()
            && self.sns.is_empty()
            && self.logs.is_empty()
            && self.firehose.is_empty()
            && self.ses.is_empty()
            && self.kafka.is_empty()
            && self.iot.is_empty()
            && self.cognito.is_empty()
    }
}

/// S3 bucket notifications to the function.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Trigger {
    /// The bucket's name.
    pub bucket: String,
    /// S3 event types (default `s3:ObjectCreated:*`).
    pub events: Vec<String>,
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Only keys ending with this.
    pub suffix: Option<String>,
}

/// An event source mapping: an SQS queue, or a DynamoDB or Kinesis stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamTrigger {
    /// The queue's or stream's ARN, or (SQS, Kinesis) its name; empty while `table` is not
    /// resolved yet.
    pub source: String,
    /// A DynamoDB table whose stream this is (deploy asks DynamoDB for the stream's ARN).
    pub table: Option<String>,
    /// Records per batch.
    pub batch_size: Option<u32>,
    /// Seconds to gather a batch.
    pub batching_window: Option<u32>,
    /// Whether the function reports partial batch failures (`ReportBatchItemFailures`).
    pub report_batch_item_failures: bool,
    /// For streams: where reading starts.
    pub starting_position: Option<StartingPosition>,
    /// For streams: whether a failed batch is split in two, each half retried apart
    /// (`BisectBatchOnFunctionError`).
    pub bisect_batch_on_function_error: bool,
    /// For streams: how many times a failed batch is retried (0 to 10000); `None`: Lambda's
    /// default, until its records expire.
    pub maximum_retry_attempts: Option<u32>,
    /// For streams: the age in seconds (60 to 604800) past which records are not handed to
    /// the function; `None`: Lambda's default, no limit.
    pub maximum_record_age: Option<u32>,
}

impl StreamTrigger {
    /// A trigger of `source` with Lambda's defaults for everything else.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            table: None,
            batch_size: None,
            batching_window: None,
            report_batch_item_failures: false,
            starting_position: None,
            bisect_batch_on_function_error: false,
            maximum_retry_attempts: None,
            maximum_record_age: None,
        }
    }
}

/// An EventBridge schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleTrigger {
    /// `rate(...)` or `cron(...)`.
    pub expression: String,
    /// The event the function gets, as JSON (default: EventBridge's scheduled event).
    pub input: Option<String>,
}

/// An SNS subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsTrigger {
    /// The topic's ARN.
    pub topic: String,
}

/// A CloudWatch Logs subscription filter sending a log group's matching events to the function.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsTrigger {
    /// The log group's name.
    pub group: String,
    /// The filter pattern (empty: every event).
    pub pattern: String,
}

/// A Kinesis Data Firehose delivery stream whose records the function transforms: its
/// destination's Lambda processor.
#[derive(Debug, Clone, PartialEq)]
pub struct FirehoseTrigger {
    /// The delivery stream's name.
    pub stream: String,
    /// MB of records per invocation, `buffer_size` (Firehose's `BufferSizeInMBs`, 1 to 3;
    /// Firehose's default when absent).
    pub buffer_size: Option<u32>,
    /// Seconds to gather them, `buffer_interval` (`BufferIntervalInSeconds`, 60 to 900).
    pub buffer_interval: Option<u32>,
}

/// How SES calls the function, a receipt rule's `invocation_type` (SES's `InvocationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SesInvocation {
    /// SES goes on without waiting (`Event`, the default).
    #[default]
    Event,
    /// SES waits for the function's answer, which can stop the rule set (`RequestResponse`).
    RequestResponse,
}

impl Word for SesInvocation {
    const ALL: &'static [Self] = &[Self::Event, Self::RequestResponse];

    fn as_str(self) -> &'static str {
        match self {
            Self::Event => "Event",
            Self::RequestResponse => "RequestResponse",
        }
    }
}

/// An SES receipt rule that hands received mail to the function.
#[derive(Debug, Clone, PartialEq)]
pub struct SesTrigger {
    /// The receipt rule set's name; deploy creates it when it does not exist.
    pub rule_set: String,
    /// The addresses and domains the rule takes mail for (none: every recipient of the
    /// account's verified domains).
    pub recipients: Vec<String>,
    /// How SES calls the function.
    pub invocation_type: SesInvocation,
}

/// The Kafka cluster a Kafka trigger reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KafkaCluster {
    /// An Amazon MSK cluster, by its ARN, `cluster` (the mapping's `EventSourceArn`).
    Msk(String),
    /// A self-managed cluster, by its bootstrap servers (`host:port`), `bootstrap_servers`
    /// (the mapping's `SelfManagedEventSource`).
    SelfManaged(Vec<String>),
}

/// How Lambda signs in to a Kafka cluster, `auth` (the type of the mapping's source access
/// configuration that names the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaAuth {
    /// SASL/PLAIN with a user name and password (`BASIC_AUTH`; self-managed clusters only).
    Basic,
    /// SASL/SCRAM-SHA-256 (`SASL_SCRAM_256_AUTH`; self-managed clusters only).
    SaslScram256,
    /// SASL/SCRAM-SHA-512 (`SASL_SCRAM_512_AUTH`).
    SaslScram512,
    /// Mutual TLS with a client certificate (`CLIENT_CERTIFICATE_TLS_AUTH`).
    ClientCertificateTls,
}

impl Word for KafkaAuth {
    const ALL: &'static [Self] = &[
        Self::Basic,
        Self::SaslScram256,
        Self::SaslScram512,
        Self::ClientCertificateTls,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "BASIC_AUTH",
            Self::SaslScram256 => "SASL_SCRAM_256_AUTH",
            Self::SaslScram512 => "SASL_SCRAM_512_AUTH",
            Self::ClientCertificateTls => "CLIENT_CERTIFICATE_TLS_AUTH",
        }
    }
}

/// A Kafka topic read by an event source mapping (AWS "Using Lambda with Amazon MSK" and
/// "Using Lambda with self-managed Apache Kafka").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaTrigger {
    /// The cluster.
    pub cluster: KafkaCluster,
    /// The topic (a mapping reads exactly one).
    pub topic: String,
    /// Records per batch (Lambda's default: 100).
    pub batch_size: Option<u32>,
    /// Seconds to gather a batch (Lambda's default: 500 ms, which cannot be asked for in
    /// seconds: absent, the window is left as it is).
    pub batching_window: Option<u32>,
    /// Where reading starts (default `LATEST`).
    pub starting_position: Option<StartingPosition>,
    /// The Kafka consumer group Lambda joins (Lambda's default: the mapping's UUID).
    pub consumer_group_id: Option<String>,
    /// How Lambda signs in, and the Secrets Manager secret's ARN holding the credentials.
    pub auth: Option<(KafkaAuth, String)>,
    /// The subnets Lambda reaches a self-managed cluster in a VPC through (`subnet-...`).
    pub vpc_subnets: Vec<String>,
    /// Their security groups (`sg-...`).
    pub vpc_security_groups: Vec<String>,
}

impl KafkaTrigger {
    /// A trigger on `topic` of `cluster`, with Lambda's defaults for everything else.
    pub fn new(cluster: KafkaCluster, topic: impl Into<String>) -> Self {
        Self {
            cluster,
            topic: topic.into(),
            batch_size: None,
            batching_window: None,
            starting_position: None,
            consumer_group_id: None,
            auth: None,
            vpc_subnets: Vec::new(),
            vpc_security_groups: Vec::new(),
        }
    }
}

/// An IoT Core topic rule whose SQL picks the messages the function gets.
#[derive(Debug, Clone, PartialEq)]
pub struct IotTrigger {
    /// The rule's SQL, such as `SELECT * FROM 'devices/+/telemetry'` (IoT SQL 2016-03-23).
    pub sql: String,
}

/// A point of a Cognito user pool's flows that calls a function: a key of the pool's
/// `LambdaConfig` (Cognito's "Lambda triggers").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolTrigger {
    /// Before a user signs up (`PreSignUp`): accept, confirm or verify.
    PreSignUp,
    /// The text of verification and invitation messages (`CustomMessage`).
    CustomMessage,
    /// After a user is confirmed (`PostConfirmation`).
    PostConfirmation,
    /// Before a user signs in (`PreAuthentication`).
    PreAuthentication,
    /// After a user signed in (`PostAuthentication`).
    PostAuthentication,
    /// Custom authentication: which challenge comes next (`DefineAuthChallenge`).
    DefineAuthChallenge,
    /// Custom authentication: the challenge (`CreateAuthChallenge`).
    CreateAuthChallenge,
    /// Custom authentication: the answer checked (`VerifyAuthChallengeResponse`).
    VerifyAuthChallengeResponse,
    /// The claims of the tokens issued (`PreTokenGeneration`).
    PreTokenGeneration,
    /// A user signing in who is not in the pool yet, looked up elsewhere (`UserMigration`).
    UserMigration,
}

impl Word for PoolTrigger {
    const ALL: &'static [Self] = &[
        Self::PreSignUp,
        Self::CustomMessage,
        Self::PostConfirmation,
        Self::PreAuthentication,
        Self::PostAuthentication,
        Self::DefineAuthChallenge,
        Self::CreateAuthChallenge,
        Self::VerifyAuthChallengeResponse,
        Self::PreTokenGeneration,
        Self::UserMigration,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::PreSignUp => "pre-sign-up",
            Self::CustomMessage => "custom-message",
            Self::PostConfirmation => "post-confirmation",
            Self::PreAuthentication => "pre-authentication",
            Self::PostAuthentication => "post-authentication",
            Self::DefineAuthChallenge => "define-auth-challenge",
            Self::CreateAuthChallenge => "create-auth-challenge",
            Self::VerifyAuthChallengeResponse => "verify-auth-challenge-response",
            Self::PreTokenGeneration => "pre-token-generation",
            Self::UserMigration => "user-migration",
        }
    }
}

impl PoolTrigger {
    /// Its key in the pool's `LambdaConfig`.
    pub fn key(self) -> &'static str {
        match self {
            Self::PreSignUp => "PreSignUp",
            Self::CustomMessage => "CustomMessage",
            Self::PostConfirmation => "PostConfirmation",
            Self::PreAuthentication => "PreAuthentication",
            Self::PostAuthentication => "PostAuthentication",
            Self::DefineAuthChallenge => "DefineAuthChallenge",
            Self::CreateAuthChallenge => "CreateAuthChallenge",
            Self::VerifyAuthChallengeResponse => "VerifyAuthChallengeResponse",
            Self::PreTokenGeneration => "PreTokenGeneration",
            Self::UserMigration => "UserMigration",
        }
    }
}

/// The version of the pre token generation event, `pre_token_version` (Cognito's
/// `LambdaVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenEventVersion {
    /// ID token claims and groups (`V1_0`, the default; `lambda_kit::events::cognito::PreTokenGeneration`).
    #[default]
    V1,
    /// Access tokens too (`V2_0`; the pool's Essentials or Plus tier).
    V2,
    /// Access tokens of machine-to-machine clients too (`V3_0`; Essentials or Plus).
    V3,
}

impl Word for TokenEventVersion {
    const ALL: &'static [Self] = &[Self::V1, Self::V2, Self::V3];

    fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "V1_0",
            Self::V2 => "V2_0",
            Self::V3 => "V3_0",
        }
    }
}

/// A Cognito user pool that calls the function at the chosen points of its flows.
#[derive(Debug, Clone, PartialEq)]
pub struct CognitoTrigger {
    /// The pool's id, such as `eu-west-1_aBcDeF123` (its region, `_`, its name).
    pub user_pool: String,
    /// The points that call the function, `triggers`.
    pub triggers: Vec<PoolTrigger>,
    /// The pre token generation event's version.
    pub token_version: TokenEventVersion,
}

/// A state machine's kind, `type` (Step Functions' `StateMachineType`); AWS cannot change
/// it on an existing machine, so deploy replaces one whose type changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MachineType {
    /// Exactly-once executions of up to a year, with their history kept (`STANDARD`, the
    /// default).
    #[default]
    Standard,
    /// At-least-once executions of up to five minutes, for high volumes (`EXPRESS`).
    Express,
}

impl Word for MachineType {
    const ALL: &'static [Self] = &[Self::Standard, Self::Express];

    fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "STANDARD",
            Self::Express => "EXPRESS",
        }
    }
}

/// Which execution events a state machine logs, `logging.level` (Step Functions'
/// `LogLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutionLogLevel {
    /// Every event (`ALL`).
    All,
    /// Failures and errors (`ERROR`).
    Error,
    /// Failed executions only (`FATAL`).
    Fatal,
    /// Nothing (`OFF`, the default).
    #[default]
    Off,
}

impl Word for ExecutionLogLevel {
    const ALL: &'static [Self] = &[Self::All, Self::Error, Self::Fatal, Self::Off];

    fn as_str(self) -> &'static str {
        match self {
            Self::All => "ALL",
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
            Self::Off => "OFF",
        }
    }
}

/// `logging = { level = "ERROR", include_execution_data = true, log_group = "..." }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineLogging {
    /// Which events are logged.
    pub level: ExecutionLogLevel,
    /// Whether the events carry the states' input and output.
    pub include_execution_data: bool,
    /// The CloudWatch Logs group's name; deploy creates it when it does not exist (default:
    /// `/aws/vendedlogs/states/NAME`).
    pub log_group: Option<String>,
}

/// One `[[package.metadata.lambdakit.state_machines]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMachineSettings {
    /// Its name on AWS, `name`.
    pub name: String,
    /// Its definition's file, relative to the package, as written: `definition`.
    pub definition: String,
    /// `type`.
    pub machine_type: MachineType,
    /// `logging`.
    pub logging: MachineLogging,
    /// X-Ray tracing of its executions, `tracing`.
    pub tracing: bool,
    /// `tags`, added to lambdakit's own.
    pub tags: BTreeMap<String, String>,
}

/// The settings of a state machine's table.
pub const STATE_MACHINE_KEYS: [&str; 6] =
    ["name", "definition", "type", "logging", "tracing", "tags"];

/// The state machines of `[[package.metadata.lambdakit.state_machines]]` (the value at `at`),
/// each checked; names must differ.
///
/// # Errors
///
/// When one is invalid: the error names the key (`at[0].type`) and what is allowed.
pub fn state_machines(value: &Value, at: &str) -> Result<Vec<StateMachineSettings>, CliError> {
    let list = At { value, key: at };
    let mut machines: Vec<StateMachineSettings> = Vec::new();
    for (index, value) in list.tables()?.into_iter().enumerate() {
        let path = format!("{at}[{index}]");
        let machine = state_machine(At { value, key: &path })?;
        if machines.iter().any(|other| other.name == machine.name) {
            return Err(CliError::Config {
                key: format!("{path}.name"),
                problem: format!(
                    "is `{}`, the name of another state machine of the package; each needs its own",
                    machine.name
                ),
            });
        }
        machines.push(machine);
    }
    Ok(machines)
}

fn state_machine(here: At<'_>) -> Result<StateMachineSettings, CliError> {
    let mut name = None;
    let mut definition = None;
    let mut machine = StateMachineSettings {
        name: String::new(),
        definition: String::new(),
        machine_type: MachineType::default(),
        logging: MachineLogging::default(),
        tracing: false,
        tags: BTreeMap::new(),
    };
    for (key, value) in here.table(&STATE_MACHINE_KEYS)? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "name" => {
                let text = at.non_empty()?;
                // Step Functions' names: 1 to 80 characters, and these are safe in ARNs
                // and log group names alike.
                let valid = text.len() <= 80
                    && text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !valid {
                    return Err(at.invalid(
                        "must be 1 to 80 letters, digits, `-` or `_` (Step Functions' state machine names)",
                    ));
                }
                name = Some(text);
            }
            "definition" => {
                let file = at.non_empty()?;
                let known = [".json", ".yaml", ".yml"];
                if !known.iter().any(|extension| file.ends_with(extension)) {
                    return Err(at.invalid(format!(
                        "is `{file}`: a definition is Amazon States Language in a `.json`, `.yaml` or `.yml` file"
                    )));
                }
                definition = Some(file);
            }
            "type" => machine.machine_type = at.word()?,
            "logging" => machine.logging = logging(at)?,
            "tracing" => machine.tracing = at.bool()?,
            _ => {
                let tags = at.string_map()?;
                if let Some(reserved) = tags.keys().find(|tag| tag.starts_with("lambdakit:")) {
                    return Err(CliError::Config {
                        key: format!("{path}.{reserved}"),
                        problem:
                            "uses the `lambdakit:` prefix, which deploy keeps for its own tags"
                                .into(),
                    });
                }
                machine.tags = tags;
            }
        }
    }
    machine.name = name.ok_or_else(|| here.invalid("needs a `name`"))?;
    machine.definition = definition.ok_or_else(|| {
        here.invalid("needs a `definition`: the path of its Amazon States Language file, such as `states/orders.asl.json`")
    })?;
    Ok(machine)
}

fn logging(here: At<'_>) -> Result<MachineLogging, CliError> {
    let mut logging = MachineLogging::default();
    for (key, value) in here.table(&["level", "include_execution_data", "log_group"])? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "level" => logging.level = at.word()?,
            "include_execution_data" => logging.include_execution_data = at.bool()?,
            _ => {
                let group = at.non_empty()?;
                // CloudWatch Logs' log group names.
                let valid = group.len() <= 512
                    && group.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#')
                    });
                if !valid {
                    return Err(at.invalid(
                        "must be a log group's name: up to 512 letters, digits, `.`, `-`, `_`, `/` or `#`, such as `/aws/vendedlogs/states/orders`",
                    ));
                }
                logging.log_group = Some(group);
            }
        }
    }
    Ok(logging)
}

/// The deploy keys, for the "the settings are ..." list.
pub const KEYS: [&str; 23] = [
    "name",
    "runtime",
    "description",
    "role",
    "tags",
    "layers",
    "tracing",
    "reserved_concurrency",
    "provisioned_concurrency",
    "ephemeral_storage",
    "publish",
    "alias",
    "url",
    "upload_bucket",
    "async",
    "vpc",
    "log_retention",
    "log_kms_key",
    "recursive_loop",
    "tenancy",
    "managed_instances",
    "triggers",
    "permissions",
];

/// A value and where it is, for errors that name the key.
#[derive(Clone, Copy)]
struct At<'a> {
    value: &'a Value,
    key: &'a str,
}

impl<'a> At<'a> {
    fn invalid(&self, problem: impl Into<String>) -> CliError {
        CliError::Config {
            key: self.key.to_owned(),
            problem: problem.into(),
        }
    }

    fn string(self) -> Result<String, CliError> {
        self.value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.invalid("must be a string"))
    }

    fn non_empty(self) -> Result<String, CliError> {
        let text = self.string()?;
        if text.is_empty() {
            return Err(self.invalid("must not be empty"));
        }
        Ok(text)
    }

    fn word<W: Word>(self) -> Result<W, CliError> {
        self.value
            .as_str()
            .and_then(W::named)
            .ok_or_else(|| self.invalid(W::expected()))
    }

    fn number(self, range: std::ops::RangeInclusive<u32>, unit: &str) -> Result<u32, CliError> {
        self.value
            .as_u64()
            .and_then(|number| u32::try_from(number).ok())
            .filter(|number| range.contains(number))
            .ok_or_else(|| {
                self.invalid(format!(
                    "must be a number of {unit} from {} to {}",
                    range.start(),
                    range.end()
                ))
            })
    }

    fn bool(self) -> Result<bool, CliError> {
        self.value
            .as_bool()
            .ok_or_else(|| self.invalid("must be `true` or `false`"))
    }

    fn strings(self) -> Result<Vec<String>, CliError> {
        let items = self
            .value
            .as_array()
            .ok_or_else(|| self.invalid("must be a list of strings"))?;
        items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.invalid("must be a list of strings"))
    }

    fn string_map(self) -> Result<BTreeMap<String, String>, CliError> {
        let table = self
            .value
            .as_object()
            .ok_or_else(|| self.invalid("must be a table of strings"))?;
        table
            .iter()
            .map(|(name, value)| match value.as_str() {
                Some(value) => Ok((name.clone(), value.to_owned())),
                None => Err(CliError::Config {
                    key: format!("{}.{name}", self.key),
                    problem: "must be a string".into(),
                }),
            })
            .collect()
    }

    /// The table's entries, refusing keys outside `allowed`.
    fn table(self, allowed: &[&str]) -> Result<Vec<(String, &'a Value)>, CliError> {
        let table = self
            .value
            .as_object()
            .ok_or_else(|| self.invalid("must be a table"))?;
        table
            .iter()
            .map(|(name, value)| {
                if allowed.contains(&name.as_str()) {
                    Ok((name.clone(), value))
                } else {
                    Err(CliError::Config {
                        key: format!("{}.{name}", self.key),
                        problem: format!(
                            "is not a setting here; the settings are {}",
                            quoted(allowed)
                        ),
                    })
                }
            })
            .collect()
    }

    /// The tables of an array of tables (`[[...]]`).
    fn tables(self) -> Result<Vec<&'a Value>, CliError> {
        self.value
            .as_array()
            .map(|items| items.iter().collect())
            .ok_or_else(|| self.invalid("must be a list of tables (`[[...]]` in TOML)"))
    }
}

/// Reads the deploy key `key` of the table at `at` into `settings`; `Ok(false)` when `key` is
/// not a deploy key.
///
/// # Errors
///
/// When its value is invalid: the error names `at.key` and what is allowed.
pub fn read(
    settings: &mut DeploySettings,
    key: &str,
    value: &Value,
    at: &str,
) -> Result<bool, CliError> {
    let path = format!("{at}.{key}");
    let here = At { value, key: &path };
    match key {
        "name" => {
            let name = here.non_empty()?;
            let valid = name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(here.invalid(
                    "must be 1 to 64 letters, digits, `-` or `_` (Lambda's function names)",
                ));
            }
            settings.name = Some(name);
        }
        "runtime" => settings.runtime = Some(here.word()?),
        "description" => {
            let description = here.string()?;
            if description.chars().count() > 256 {
                return Err(here.invalid("must be at most 256 characters"));
            }
            settings.description = Some(description);
        }
        "role" => settings.role = Some(here.non_empty()?),
        "tags" => {
            let tags = here.string_map()?;
            if let Some(reserved) = tags.keys().find(|tag| tag.starts_with("lambdakit:")) {
                return Err(CliError::Config {
                    key: format!("{path}.{reserved}"),
                    problem: "uses the `lambdakit:` prefix, which deploy keeps for its own tags"
                        .into(),
                });
            }
            settings.tags.extend(tags);
        }
        "layers" => {
            let layers = here.strings()?;
            if layers.len() > 5 {
                return Err(here.invalid("has more than 5 layers, Lambda's limit"));
            }
            if let Some(layer) = layers.iter().find(|layer| !layer.starts_with("arn:")) {
                return Err(here.invalid(format!(
                    "has `{layer}`, which is not a layer version ARN (`arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION`)"
                )));
            }
            settings.layers = Some(layers);
        }
        "tracing" => settings.tracing = Some(here.word()?),
        "reserved_concurrency" => {
            settings.reserved_concurrency = Some(here.number(0..=1000, "executions")?);
        }
        "provisioned_concurrency" => {
            settings.provisioned_concurrency = Some(here.number(1..=1000, "instances")?);
        }
        "ephemeral_storage" => settings.ephemeral_storage = Some(here.number(512..=10_240, "MB")?),
        "publish" => settings.publish = Some(here.bool()?),
        "alias" => {
            let alias = here.non_empty()?;
            let valid = alias.len() <= 128
                && !alias.chars().all(|c| c.is_ascii_digit())
                && alias
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(here.invalid(
                    "must be up to 128 letters, digits, `-` or `_`, and not only digits (those name versions)",
                ));
            }
            settings.alias = Some(alias);
        }
        "url" => settings.url = Some(url(here)?),
        "upload_bucket" => settings.upload_bucket = Some(here.non_empty()?),
        "async" => settings.asynchronous = Some(asynchronous(here)?),
        "vpc" => settings.vpc = Some(vpc(here)?),
        "log_retention" => {
            let days = here.number(1..=3653, "days")?;
            if !LOG_RETENTION_DAYS.contains(&days) {
                let allowed: Vec<String> =
                    LOG_RETENTION_DAYS.iter().map(ToString::to_string).collect();
                return Err(here.invalid(format!(
                    "is {days} days, which CloudWatch Logs does not keep; it keeps {}",
                    allowed.join(", ")
                )));
            }
            settings.log_retention = Some(days);
        }
        "log_kms_key" => {
            let key = here.non_empty()?;
            if !arn_of(&key, &["kms"]) || !key.contains(":key/") {
                return Err(here.invalid(
                    "must be a KMS key's ARN, `arn:aws:kms:REGION:ACCOUNT:key/ID` (CloudWatch Logs takes no alias)",
                ));
            }
            settings.log_kms_key = Some(key);
        }
        "recursive_loop" => settings.recursive_loop = Some(here.word()?),
        "tenancy" => settings.tenancy = Some(here.word()?),
        "managed_instances" => settings.managed_instances = Some(managed_instances(here)?),
        "triggers" => settings.triggers = triggers(here)?,
        "permissions" => {
            for (index, value) in here.tables()?.into_iter().enumerate() {
                let path = format!("{path}[{index}]");
                settings
                    .permissions
                    .push(permission(At { value, key: &path })?);
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Checks what single keys cannot: settings that need each other.
///
/// # Errors
///
/// When `provisioned_concurrency` has no `alias` to live on.
pub fn check(settings: &DeploySettings, at: &str) -> Result<(), CliError> {
    if let Some(role) = &settings.role
        && !settings.permissions.is_empty()
    {
        return Err(CliError::Config {
            key: format!("{at}.permissions"),
            problem: format!(
                "are granted on the role deploy creates, but `role` names `{role}`: grant them on that role, or leave `role` out"
            ),
        });
    }
    if settings.provisioned_concurrency.is_some() && settings.alias.is_none() {
        return Err(CliError::Config {
            key: format!("{at}.provisioned_concurrency"),
            problem: "needs an `alias`: Lambda provisions concurrency on an alias or version"
                .into(),
        });
    }
    Ok(())
}

/// An ARN's parts after `arn:`: partition, service, region, account and resource.
fn arn_parts(arn: &str) -> Option<[&str; 5]> {
    match arn.splitn(6, ':').collect::<Vec<_>>().as_slice() {
        ["arn", partition, service, region, account, resource] => {
            Some([partition, service, region, account, resource])
        }
        _ => None,
    }
}

/// Whether `arn` is an ARN of one of `services` (an S3 bucket's names no region or account).
fn arn_of(arn: &str, services: &[&str]) -> bool {
    arn_parts(arn).is_some_and(|[partition, service, _, _, resource]| {
        !partition.is_empty() && services.contains(&service) && !resource.is_empty()
    })
}

fn asynchronous(here: At<'_>) -> Result<AsyncSettings, CliError> {
    let mut settings = AsyncSettings::default();
    let keys = [
        "retries",
        "max_event_age",
        "on_success",
        "on_failure",
        "dead_letter",
    ];
    for (key, value) in here.table(&keys)? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "retries" => settings.retries = Some(at.number(0..=2, "retries")?),
            "max_event_age" => settings.max_event_age = Some(at.number(60..=21_600, "seconds")?),
            "dead_letter" => {
                let arn = at.non_empty()?;
                if !arn_of(&arn, &["sqs", "sns"]) {
                    return Err(at.invalid(format!(
                        "is `{arn}`; a dead-letter queue is the ARN of an SQS queue or an SNS topic (`arn:aws:sqs:REGION:ACCOUNT:NAME`)"
                    )));
                }
                settings.dead_letter = Some(arn);
            }
            _ => {
                let arn = at.non_empty()?;
                let failure = key == "on_failure";
                let services: &[&str] = if failure {
                    &["sqs", "sns", "events", "lambda", "s3"]
                } else {
                    &["sqs", "sns", "events", "lambda"]
                };
                if !arn_of(&arn, services) {
                    let also = if failure { ", or an S3 bucket" } else { "" };
                    return Err(at.invalid(format!(
                        "is `{arn}`; a destination is the ARN of an SQS queue, an SNS topic, an EventBridge bus or a Lambda function{also}"
                    )));
                }
                if failure {
                    settings.on_failure = Some(arn);
                } else {
                    settings.on_success = Some(arn);
                }
            }
        }
    }
    Ok(settings)
}

fn managed_instances(here: At<'_>) -> Result<ManagedInstances, CliError> {
    const KEYS: [&str; 8] = [
        "capacity_provider",
        "subnets",
        "security_groups",
        "operator_role",
        "instance_types",
        "max_vcpus",
        "concurrency",
        "memory_per_vcpu",
    ];
    let entries = here.table(&KEYS)?;
    let at = |wanted: &str| {
        entries
            .iter()
            .find(|(key, _)| key == wanted)
            .map(|(key, value)| (format!("{}.{key}", here.key), *value))
    };
    let Some((path, value)) = at("capacity_provider") else {
        return Err(here.invalid(
            "needs `capacity_provider`: the name of one deploy creates (with `subnets` and `security_groups`), or an existing one's ARN",
        ));
    };
    let named = At { value, key: &path }.non_empty()?;
    let capacity_provider = if named.starts_with("arn:") {
        let is_provider = arn_parts(&named).is_some_and(|[_, service, _, _, resource]| {
            service == "lambda" && resource.starts_with("capacity-provider:")
        });
        if !is_provider {
            return Err(CliError::Config {
                key: path,
                problem: format!(
                    "is `{named}`, which is not a capacity provider's ARN (`arn:aws:lambda:REGION:ACCOUNT:capacity-provider:NAME`)"
                ),
            });
        }
        if let Some((key, _)) = entries.iter().find(|(key, _)| {
            !matches!(
                key.as_str(),
                "capacity_provider" | "concurrency" | "memory_per_vcpu"
            )
        }) {
            return Err(CliError::Config {
                key: format!("{}.{key}", here.key),
                problem: "sets up a capacity provider deploy creates, but `capacity_provider` names an existing one by its ARN: set it up there, or give a name instead".into(),
            });
        }
        CapacityProvider::Existing(named)
    } else {
        let valid = named.len() <= 64
            && named
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || "-_".contains(character));
        if !valid {
            return Err(CliError::Config {
                key: path,
                problem: format!(
                    "is `{named}`: a capacity provider's name is up to 64 letters, digits, `-` or `_` (or give an existing one's ARN)"
                ),
            });
        }
        let network = match (at("subnets"), at("security_groups")) {
            (Some(subnets), Some(security_groups)) => {
                let mut table = serde_json::Map::new();
                table.insert("subnets".into(), subnets.1.clone());
                table.insert("security_groups".into(), security_groups.1.clone());
                vpc(At {
                    value: &Value::Object(table),
                    key: here.key,
                })?
            }
            _ => {
                return Err(here.invalid(format!(
                    "needs `subnets` and `security_groups`: the capacity provider `{named}` deploy creates launches its instances there"
                )));
            }
        };
        let mut own = OwnCapacityProvider {
            name: named,
            subnets: network.subnets,
            security_groups: network.security_groups,
            operator_role: None,
            instance_types: Vec::new(),
            max_vcpus: None,
        };
        if let Some((path, value)) = at("operator_role") {
            own.operator_role = Some(At { value, key: &path }.non_empty()?);
        }
        if let Some((path, value)) = at("instance_types") {
            own.instance_types = At { value, key: &path }.strings()?;
        }
        if let Some((path, value)) = at("max_vcpus") {
            own.max_vcpus = Some(At { value, key: &path }.number(2..=15_000, "vCPUs")?);
        }
        CapacityProvider::Own(own)
    };
    let mut settings = ManagedInstances {
        capacity_provider,
        concurrency: None,
        memory_per_vcpu: None,
    };
    if let Some((path, value)) = at("concurrency") {
        settings.concurrency = Some(At { value, key: &path }.number(1..=1600, "invocations")?);
    }
    if let Some((path, value)) = at("memory_per_vcpu") {
        settings.memory_per_vcpu = Some(At { value, key: &path }.number(2..=8, "GiB")?);
    }
    Ok(settings)
}

fn vpc(here: At<'_>) -> Result<VpcSettings, CliError> {
    let mut vpc = VpcSettings {
        subnets: Vec::new(),
        security_groups: Vec::new(),
        ipv6_dual_stack: false,
    };
    for (key, value) in here.table(&["subnets", "security_groups", "ipv6_dual_stack"])? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "subnets" | "security_groups" => {
                let (prefix, limit) = if key == "subnets" {
                    ("subnet-", 16)
                } else {
                    ("sg-", 5)
                };
                let ids = at.strings()?;
                if let Some(bad) = ids.iter().find(|id| !is_id(id, prefix)) {
                    return Err(at.invalid(format!(
                        "has `{bad}`, which is not an id of the form `{prefix}0123456789abcdef0`"
                    )));
                }
                if ids.len() > limit {
                    return Err(at.invalid(format!("has more than {limit}, Lambda's limit")));
                }
                if key == "subnets" {
                    vpc.subnets = ids;
                } else {
                    vpc.security_groups = ids;
                }
            }
            _ => vpc.ipv6_dual_stack = at.bool()?,
        }
    }
    if vpc.subnets.is_empty() {
        return Err(here.invalid(
            "needs `subnets`, the ids of the subnets the function's network interfaces go in (two or more, in different availability zones, for availability)",
        ));
    }
    if vpc.security_groups.is_empty() {
        return Err(here.invalid(
            "needs `security_groups` beside its `subnets`: Lambda puts the function's network interfaces in the VPC with at least one, such as `security_groups = [\"sg-0123456789abcdef0\"]`",
        ));
    }
    Ok(vpc)
}

fn url(here: At<'_>) -> Result<UrlSettings, CliError> {
    let mut url = UrlSettings {
        auth: UrlAuth::default(),
        invoke_mode: InvokeMode::default(),
        cors: None,
    };
    if here.value.as_bool() == Some(true) {
        return Ok(url);
    }
    for (key, value) in here.table(&["auth", "invoke_mode", "cors"])? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "auth" => url.auth = at.word()?,
            "invoke_mode" => url.invoke_mode = at.word()?,
            _ => url.cors = Some(cors(at)?),
        }
    }
    Ok(url)
}

fn cors(here: At<'_>) -> Result<Cors, CliError> {
    let mut cors = Cors::default();
    let keys = [
        "allow_origins",
        "allow_methods",
        "allow_headers",
        "expose_headers",
        "allow_credentials",
        "max_age",
    ];
    for (key, value) in here.table(&keys)? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "allow_origins" => cors.allow_origins = at.strings()?,
            "allow_methods" => cors.allow_methods = at.strings()?,
            "allow_headers" => cors.allow_headers = at.strings()?,
            "expose_headers" => cors.expose_headers = at.strings()?,
            "allow_credentials" => cors.allow_credentials = at.bool()?,
            _ => cors.max_age = Some(at.number(0..=86_400, "seconds")?),
        }
    }
    Ok(cors)
}

fn permission(here: At<'_>) -> Result<Permission, CliError> {
    let mut permission = Permission {
        actions: Vec::new(),
        resources: Vec::new(),
    };
    for (key, value) in here.table(&["actions", "resources"])? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        let items = at.strings()?;
        if items.is_empty() {
            return Err(at.invalid("must name at least one"));
        }
        if key == "actions" {
            // `service:Action`, the action part possibly with wildcards: `s3:Get*`.
            let valid = |action: &str| {
                action.split_once(':').is_some_and(|(service, name)| {
                    !service.is_empty()
                        && service
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                        && !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
                })
            };
            if let Some(action) = items.iter().find(|action| !valid(action)) {
                return Err(at.invalid(format!(
                    "has `{action}`, which is not an IAM action (`service:Action`, such as `dynamodb:PutItem` or `s3:Get*`)"
                )));
            }
            permission.actions = items;
        } else {
            if let Some(resource) = items
                .iter()
                .find(|resource| *resource != "*" && !resource.starts_with("arn:"))
            {
                return Err(at.invalid(format!(
                    "has `{resource}`, which is not an ARN (such as `arn:aws:dynamodb:*:*:table/orders` or `arn:aws:s3:::bucket/*`) or `*`"
                )));
            }
            permission.resources = items;
        }
    }
    for (key, missing) in [
        ("actions", permission.actions.is_empty()),
        ("resources", permission.resources.is_empty()),
    ] {
        if missing {
            return Err(here.invalid(format!("needs `{key}`")));
        }
    }
    Ok(permission)
}

fn triggers(here: At<'_>) -> Result<Triggers, CliError> {
    let mut triggers = Triggers::default();
    let kinds = [
        "s3", "sqs", "dynamodb", "kinesis", "schedule", "sns", "logs", "firehose", "ses", "iot",
        "cognito", "kafka",
    ];
    for (kind, list) in here.table(&kinds)? {
        let path = format!("{}.{kind}", here.key);
        let list = At {
            value: list,
            key: &path,
        };
        for (index, value) in list.tables()?.into_iter().enumerate() {
            let path = format!("{path}[{index}]");
            let at = At { value, key: &path };
            match kind.as_str() {
                "s3" => triggers.s3.push(s3(at)?),
                "sqs" => triggers.sqs.push(stream(at, "sqs")?),
                "dynamodb" => triggers.dynamodb.push(stream(at, "dynamodb")?),
                "kinesis" => triggers.kinesis.push(stream(at, "kinesis")?),
                "schedule" => triggers.schedule.push(schedule(at)?),
                "logs" => triggers.logs.push(logs(at)?),
                "firehose" => {
                    let trigger = firehose(at)?;
                    // A destination has one Lambda processor.
                    if triggers.firehose.iter().any(|t| t.stream == trigger.stream) {
                        return Err(at.invalid(format!(
                            "names the delivery stream `{}` again; a stream has one Lambda processor, so keep one of these triggers",
                            trigger.stream
                        )));
                    }
                    triggers.firehose.push(trigger);
                }
                "ses" => {
                    let trigger = ses(at)?;
                    // Deploy puts one rule per function in a rule set.
                    if triggers.ses.iter().any(|t| t.rule_set == trigger.rule_set) {
                        return Err(at.invalid(format!(
                            "names the rule set `{}` again; the function has one rule in a rule set, so put all its recipients in one trigger",
                            trigger.rule_set
                        )));
                    }
                    triggers.ses.push(trigger);
                }
                "kafka" => {
                    let trigger = kafka(at)?;
                    // Lambda maps a topic of a cluster to a function once.
                    let again = triggers
                        .kafka
                        .iter()
                        .any(|t| t.cluster == trigger.cluster && t.topic == trigger.topic);
                    if again {
                        return Err(at.invalid(format!(
                            "reads the topic `{}` of the same cluster again; a function has one mapping per topic of a cluster, so keep one of these triggers",
                            trigger.topic
                        )));
                    }
                    triggers.kafka.push(trigger);
                }
                "iot" => triggers.iot.push(iot(at)?),
                "cognito" => {
                    let trigger = cognito(at)?;
                    // Deploy converges a pool's whole `LambdaConfig` for the function at once.
                    if triggers
                        .cognito
                        .iter()
                        .any(|t| t.user_pool == trigger.user_pool)
                    {
                        return Err(at.invalid(format!(
                            "names the user pool `{}` again; list all its triggers in one entry",
                            trigger.user_pool
                        )));
                    }
                    triggers.cognito.push(trigger);
                }
                _ => triggers.sns.push(sns(at)?),
            }
        }
    }
    // Deploy records the streams it set in one function tag (see `deploy::triggers`).
    let streams: usize = triggers.firehose.iter().map(|t| t.stream.len() + 1).sum();
    if streams > 257 {
        return Err(CliError::Config {
            key: format!("{}.firehose", here.key),
            problem: "names more delivery streams than deploy can record: their names, with a space between each, must fit in 256 characters (a Lambda tag's value)".into(),
        });
    }
    Ok(triggers)
}

fn s3(here: At<'_>) -> Result<S3Trigger, CliError> {
    let mut trigger = S3Trigger {
        bucket: String::new(),
        events: vec!["s3:ObjectCreated:*".into()],
        prefix: None,
        suffix: None,
    };
    for (key, value) in here.table(&["bucket", "events", "prefix", "suffix"])? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "bucket" => trigger.bucket = at.non_empty()?,
            "events" => {
                let events = at.strings()?;
                if let Some(event) = events.iter().find(|event| !event.starts_with("s3:")) {
                    return Err(at.invalid(format!(
                        "has `{event}`, which is not an S3 event type (such as `s3:ObjectCreated:*` or `s3:ObjectRemoved:Delete`)"
                    )));
                }
                if events.is_empty() {
                    return Err(at.invalid("must name at least one S3 event type"));
                }
                trigger.events = events;
            }
            "prefix" => trigger.prefix = Some(at.string()?),
            _ => trigger.suffix = Some(at.string()?),
        }
    }
    if trigger.bucket.is_empty() {
        return Err(here.invalid("needs a `bucket`"));
    }
    Ok(trigger)
}

fn stream(here: At<'_>, kind: &str) -> Result<StreamTrigger, CliError> {
    let mut trigger = StreamTrigger::new(String::new());
    let is_stream = kind != "sqs";
    let mut keys = vec![
        if is_stream { "stream" } else { "queue" },
        "batch_size",
        "batching_window",
        "report_batch_item_failures",
    ];
    if is_stream {
        keys.extend([
            "starting_position",
            "bisect_batch_on_function_error",
            "maximum_retry_attempts",
            "maximum_record_age",
        ]);
    }
    if kind == "dynamodb" {
        keys.push("table");
    }
    for (key, value) in here.table(&keys)? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "batch_size" => trigger.batch_size = Some(at.number(1..=10_000, "records")?),
            "batching_window" => trigger.batching_window = Some(at.number(0..=300, "seconds")?),
            "report_batch_item_failures" => trigger.report_batch_item_failures = at.bool()?,
            "starting_position" => trigger.starting_position = Some(at.word()?),
            "bisect_batch_on_function_error" => {
                trigger.bisect_batch_on_function_error = at.bool()?;
            }
            "maximum_retry_attempts" => {
                trigger.maximum_retry_attempts = Some(at.number(0..=10_000, "retries")?);
            }
            "maximum_record_age" => {
                trigger.maximum_record_age = Some(at.number(60..=604_800, "seconds")?);
            }
            "table" => trigger.table = Some(at.non_empty()?),
            _ => {
                let source = at.non_empty()?;
                // A DynamoDB stream's ARN ends in a label AWS chooses: only `table` names it.
                if kind == "dynamodb" && !source.starts_with("arn:") {
                    return Err(at.invalid(
                        "must be the stream's ARN; to name the table instead, use `table`",
                    ));
                }
                trigger.source = source;
            }
        }
    }
    match (trigger.source.is_empty(), &trigger.table) {
        (true, None) if kind == "dynamodb" => {
            return Err(here.invalid("needs a `table` (or the `stream` ARN)"));
        }
        (true, None) => {
            return Err(here.invalid(format!("needs a `{}`", keys[0])));
        }
        (false, Some(_)) => {
            return Err(here.invalid("names both a `stream` and a `table`; keep one"));
        }
        _ => {}
    }
    // SQS takes at most 10 records per batch unless it may wait to gather them.
    let sqs_limit = !is_stream && trigger.batching_window.unwrap_or(0) == 0;
    if sqs_limit && trigger.batch_size.is_some_and(|size| size > 10) {
        return Err(CliError::Config {
            key: format!("{}.batch_size", here.key),
            problem:
                "is over 10, which SQS allows only with a `batching_window` of 1 second or more"
                    .into(),
        });
    }
    Ok(trigger)
}

fn schedule(here: At<'_>) -> Result<ScheduleTrigger, CliError> {
    let mut trigger = ScheduleTrigger {
        expression: String::new(),
        input: None,
    };
    for (key, value) in here.table(&["expression", "input"])? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "expression" => {
                let expression = at.string()?;
                schedule_expression(&expression).map_err(|problem| at.invalid(problem))?;
                trigger.expression = expression;
            }
            _ => {
                // The input is the event itself: any JSON value, passed as its text.
                trigger.input = Some(value.to_string());
            }
        }
    }
    if trigger.expression.is_empty() {
        return Err(here
            .invalid("needs an `expression`, such as `rate(5 minutes)` or `cron(0 12 * * ? *)`"));
    }
    Ok(trigger)
}

fn sns(here: At<'_>) -> Result<SnsTrigger, CliError> {
    let mut topic = None;
    for (_, value) in here.table(&["topic"])? {
        let path = format!("{}.topic", here.key);
        let at = At { value, key: &path };
        let arn = at.non_empty()?;
        if !arn.starts_with("arn:") {
            return Err(at.invalid("must be the topic's ARN (`arn:aws:sns:REGION:ACCOUNT:NAME`)"));
        }
        topic = Some(arn);
    }
    let topic = topic.ok_or_else(|| here.invalid("needs a `topic`"))?;
    Ok(SnsTrigger { topic })
}

fn logs(here: At<'_>) -> Result<LogsTrigger, CliError> {
    let mut trigger = LogsTrigger {
        group: String::new(),
        pattern: String::new(),
    };
    for (key, value) in here.table(&["group", "pattern"])? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "group" => {
                let group = at.non_empty()?;
                if group.starts_with("arn:") {
                    return Err(at.invalid(
                        "must be the log group's name (such as `/aws/lambda/orders`), not its ARN",
                    ));
                }
                trigger.group = group;
            }
            _ => trigger.pattern = at.string()?,
        }
    }
    if trigger.group.is_empty() {
        return Err(here.invalid("needs a `group`, the log group's name"));
    }
    Ok(trigger)
}

fn firehose(here: At<'_>) -> Result<FirehoseTrigger, CliError> {
    let mut trigger = FirehoseTrigger {
        stream: String::new(),
        buffer_size: None,
        buffer_interval: None,
    };
    for (key, value) in here.table(&["stream", "buffer_size", "buffer_interval"])? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "stream" => {
                let stream = at.non_empty()?;
                // Firehose's delivery stream names.
                let valid = stream.len() <= 64
                    && stream
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
                if !valid {
                    return Err(at.invalid(
                        "must be the delivery stream's name (not its ARN): up to 64 letters, digits, `_`, `.` or `-`",
                    ));
                }
                trigger.stream = stream;
            }
            "buffer_size" => trigger.buffer_size = Some(at.number(1..=3, "MB")?),
            _ => trigger.buffer_interval = Some(at.number(60..=900, "seconds")?),
        }
    }
    if trigger.stream.is_empty() {
        return Err(here.invalid("needs a `stream`, the delivery stream's name"));
    }
    Ok(trigger)
}

fn ses(here: At<'_>) -> Result<SesTrigger, CliError> {
    let mut trigger = SesTrigger {
        rule_set: String::new(),
        recipients: Vec::new(),
        invocation_type: SesInvocation::default(),
    };
    for (key, value) in here.table(&["rule_set", "recipients", "invocation_type"])? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "rule_set" => {
                let name = at.non_empty()?;
                // SES's rule set names.
                let valid = name.len() <= 64
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    && name.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && name.ends_with(|c: char| c.is_ascii_alphanumeric());
                if !valid {
                    return Err(at.invalid(
                        "must be a receipt rule set's name: up to 64 letters, digits, `_`, `-` or `.`, starting and ending with a letter or digit",
                    ));
                }
                trigger.rule_set = name;
            }
            "recipients" => {
                let recipients = at.strings()?;
                if let Some(bad) = recipients.iter().find(|recipient| {
                    recipient.is_empty() || recipient.contains(char::is_whitespace)
                }) {
                    return Err(at.invalid(format!(
                        "has `{bad}`, which is not an address or domain (such as `orders@example.com` or `example.com`)"
                    )));
                }
                if recipients.len() > 100 {
                    return Err(at.invalid("has more than 100 recipients, SES's limit for a rule"));
                }
                trigger.recipients = recipients;
            }
            _ => trigger.invocation_type = at.word()?,
        }
    }
    if trigger.rule_set.is_empty() {
        return Err(here.invalid("needs a `rule_set`, the receipt rule set's name"));
    }
    Ok(trigger)
}

/// The settings of a `[[triggers.kafka]]` table.
const KAFKA_KEYS: [&str; 11] = [
    "cluster",
    "bootstrap_servers",
    "topic",
    "batch_size",
    "batching_window",
    "starting_position",
    "consumer_group_id",
    "auth",
    "secret",
    "vpc_subnets",
    "vpc_security_groups",
];

fn kafka(here: At<'_>) -> Result<KafkaTrigger, CliError> {
    let mut trigger = KafkaTrigger::new(KafkaCluster::SelfManaged(Vec::new()), "");
    let (mut cluster, mut servers, mut auth, mut secret) = (None, None, None, None);
    for (key, value) in here.table(&KAFKA_KEYS)? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "cluster" => {
                let arn = at.non_empty()?;
                if !is_arn(&arn, "kafka", "cluster/") {
                    return Err(at.invalid(
                        "must be an Amazon MSK cluster's ARN (`arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID`); for a self-managed cluster, use `bootstrap_servers`",
                    ));
                }
                cluster = Some(arn);
            }
            "bootstrap_servers" => {
                let brokers = at.strings()?;
                // Lambda's `KAFKA_BOOTSTRAP_SERVERS`: 1 to 10 `host:port`.
                if brokers.is_empty() || brokers.len() > 10 {
                    return Err(at.invalid(
                        "must name 1 to 10 brokers (Lambda's limit), such as `[\"b-1.example.com:9092\"]`",
                    ));
                }
                if let Some(bad) = brokers.iter().find(|broker| !is_broker(broker)) {
                    return Err(at.invalid(format!(
                        "has `{bad}`, which is not a broker's `host:port` (such as `b-1.example.com:9092`)"
                    )));
                }
                servers = Some(brokers);
            }
            "topic" => {
                let topic = at.string()?;
                if topic.is_empty() {
                    return Err(at.invalid("must not be empty: name the one Kafka topic it reads"));
                }
                // Kafka's topic names, as Lambda's `Topics` takes them.
                let valid = topic.len() <= 249
                    && !topic.starts_with('.')
                    && topic
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
                if !valid {
                    return Err(at.invalid(
                        "must be a Kafka topic's name: up to 249 letters, digits, `.`, `_` or `-`, not starting with `.`",
                    ));
                }
                trigger.topic = topic;
            }
            "batch_size" => trigger.batch_size = Some(at.number(1..=10_000, "records")?),
            "batching_window" => trigger.batching_window = Some(at.number(0..=300, "seconds")?),
            "starting_position" => trigger.starting_position = Some(at.word()?),
            "consumer_group_id" => {
                let group = at.non_empty()?;
                // Lambda's `ConsumerGroupId`.
                let valid = group.len() <= 200
                    && group.chars().all(|c| {
                        c.is_ascii_alphanumeric()
                            || matches!(c, '-' | '/' | '*' | ':' | '_' | '+' | '=' | '.' | '@')
                    });
                if !valid {
                    return Err(at.invalid(
                        "must be up to 200 letters, digits, or `-/*:_+=.@` (Lambda's consumer group ids)",
                    ));
                }
                trigger.consumer_group_id = Some(group);
            }
            "auth" => auth = Some(at.word::<KafkaAuth>()?),
            "secret" => {
                let arn = at.non_empty()?;
                if !is_arn(&arn, "secretsmanager", "secret:") {
                    return Err(at.invalid(
                        "must be a Secrets Manager secret's ARN (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME`)",
                    ));
                }
                secret = Some(arn);
            }
            "vpc_subnets" => trigger.vpc_subnets = ids(at, "subnet-", "a subnet's id")?,
            _ => trigger.vpc_security_groups = ids(at, "sg-", "a security group's id")?,
        }
    }
    trigger.cluster = match (cluster, servers) {
        (Some(arn), None) => KafkaCluster::Msk(arn),
        (None, Some(servers)) => KafkaCluster::SelfManaged(servers),
        (Some(_), Some(_)) => {
            return Err(here.invalid(
                "names both a `cluster` and `bootstrap_servers`; keep `cluster` for an Amazon MSK cluster, or `bootstrap_servers` for a self-managed one",
            ));
        }
        (None, None) => {
            return Err(here.invalid(
                "needs a `cluster` (an Amazon MSK cluster's ARN) or `bootstrap_servers` (a self-managed cluster's brokers)",
            ));
        }
    };
    if trigger.topic.is_empty() {
        return Err(here.invalid("needs a `topic`, the one Kafka topic it reads"));
    }
    let field = |key: &str, problem: String| CliError::Config {
        key: format!("{}.{key}", here.key),
        problem,
    };
    trigger.auth = match (auth, secret) {
        (Some(auth), Some(secret)) => Some((auth, secret)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(field(
                "auth",
                "needs a `secret`: the ARN of the Secrets Manager secret holding the credentials"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(field(
                "secret",
                format!(
                    "needs an `auth`, how Lambda signs in with it: {}",
                    KafkaAuth::expected()
                ),
            ));
        }
    };
    if matches!(trigger.cluster, KafkaCluster::Msk(_)) {
        if let Some((auth @ (KafkaAuth::Basic | KafkaAuth::SaslScram256), _)) = trigger.auth {
            return Err(field(
                "auth",
                format!(
                    "is `{}`, which Amazon MSK does not offer: use `SASL_SCRAM_512_AUTH` or `CLIENT_CERTIFICATE_TLS_AUTH`, or no `auth` for IAM or unauthenticated access",
                    auth.as_str()
                ),
            ));
        }
        for (key, ids) in [
            ("vpc_subnets", &trigger.vpc_subnets),
            ("vpc_security_groups", &trigger.vpc_security_groups),
        ] {
            if !ids.is_empty() {
                return Err(field(
                    key,
                    "is for self-managed clusters: Lambda reaches an MSK cluster through the cluster's own subnets and security groups".into(),
                ));
            }
        }
    }
    match (
        trigger.vpc_subnets.is_empty(),
        trigger.vpc_security_groups.is_empty(),
    ) {
        (false, true) => Err(field(
            "vpc_subnets",
            "needs `vpc_security_groups` too: Lambda reaches a cluster in a VPC through both"
                .into(),
        )),
        (true, false) => Err(field(
            "vpc_security_groups",
            "needs `vpc_subnets` too: Lambda reaches a cluster in a VPC through both".into(),
        )),
        _ => Ok(trigger),
    }
}

/// Whether `arn` is an ARN of `service` whose resource starts with `resource`:
/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
fn is_arn(arn: &str, service: &str, resource: &str) -> bool {
    arn_parts(arn).is_some_and(|[partition, found, region, account, rest]| {
        partition.starts_with("aws")
            && found == service
            && !region.is_empty()
            && account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit())
            && rest.len() > resource.len()
            && rest.starts_with(resource)
    })
}

/// Whether `broker` is a `host:port` Lambda takes among a cluster's bootstrap servers.
fn is_broker(broker: &str) -> bool {
    let Some((host, port)) = broker.rsplit_once(':') else {
        return false;
    };
    let label = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    host.split('.').all(label) && port.len() <= 5 && port.parse::<u16>().is_ok_and(|port| port > 0)
}

/// Whether `id` is an AWS resource id starting with `prefix` (`subnet-0a1b`, `sg-0c2d`).
fn is_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A list of AWS resource ids starting with `prefix` (`subnet-`, `sg-`), at least one.
fn ids(at: At<'_>, prefix: &str, what: &str) -> Result<Vec<String>, CliError> {
    let ids = at.strings()?;
    if ids.is_empty() {
        return Err(at.invalid(format!("must name at least one (`{prefix}...`)")));
    }
    if let Some(bad) = ids.iter().find(|id| !is_id(id, prefix)) {
        return Err(at.invalid(format!("has `{bad}`, which is not {what} (`{prefix}...`)")));
    }
    Ok(ids)
}

fn iot(here: At<'_>) -> Result<IotTrigger, CliError> {
    let mut sql = None;
    for (_, value) in here.table(&["sql"])? {
        let path = format!("{}.sql", here.key);
        let at = At { value, key: &path };
        let text = at.non_empty()?;
        let select = text
            .get(..7)
            .is_some_and(|start| start.eq_ignore_ascii_case("SELECT "));
        if !select {
            return Err(at.invalid(
                "must be an IoT SQL statement, such as `SELECT * FROM 'devices/+/telemetry'`",
            ));
        }
        sql = Some(text);
    }
    let sql = sql.ok_or_else(|| {
        here.invalid("needs a `sql`, such as `SELECT * FROM 'devices/+/telemetry'`")
    })?;
    Ok(IotTrigger { sql })
}

fn cognito(here: At<'_>) -> Result<CognitoTrigger, CliError> {
    let mut trigger = CognitoTrigger {
        user_pool: String::new(),
        triggers: Vec::new(),
        token_version: TokenEventVersion::default(),
    };
    for (key, value) in here.table(&["user_pool", "triggers", "pre_token_version"])? {
        let path = format!("{}.{key}", here.key);
        let at = At { value, key: &path };
        match key.as_str() {
            "user_pool" => {
                let id = at.non_empty()?;
                // Cognito's `UserPoolId`: `[\w-]+_[0-9a-zA-Z]+`, at most 55 characters.
                let valid = id.len() <= 55
                    && id.split_once('_').is_some_and(|(region, name)| {
                        !region.is_empty()
                            && region
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-')
                            && !name.is_empty()
                            && name.chars().all(|c| c.is_ascii_alphanumeric())
                    });
                if !valid {
                    return Err(at.invalid(
                        "must be a user pool's id, its region, `_` and letters and digits, such as `eu-west-1_aBcDeF123` (`aws cognito-idp list-user-pools --max-results 10` lists them)",
                    ));
                }
                trigger.user_pool = id;
            }
            "triggers" => {
                let names = at.strings()?;
                for name in &names {
                    let Some(point) = PoolTrigger::named(name) else {
                        return Err(
                            at.invalid(format!("has `{name}`, which {}", PoolTrigger::expected()))
                        );
                    };
                    if trigger.triggers.contains(&point) {
                        return Err(at.invalid(format!("has `{name}` twice")));
                    }
                    trigger.triggers.push(point);
                }
            }
            _ => trigger.token_version = at.word()?,
        }
    }
    if trigger.user_pool.is_empty() {
        return Err(
            here.invalid("needs a `user_pool`, the id of the pool, such as `eu-west-1_aBcDeF123`")
        );
    }
    if trigger.triggers.is_empty() {
        return Err(here.invalid(format!(
            "needs `triggers`, the points of the pool's flows that call the function, such as [\"pre-sign-up\"]; each {}",
            PoolTrigger::expected()
        )));
    }
    Ok(trigger)
}

/// Checks an EventBridge schedule expression (AWS "Schedule expressions for rules"):
/// `rate(N unit)` or `cron(minutes hours day-of-month month day-of-week year)`.
///
/// # Errors
///
/// What is wrong with it, and the form it should have.
pub fn schedule_expression(expression: &str) -> Result<(), String> {
    if let Some(rate) = expression
        .strip_prefix("rate(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        let (value, unit) = rate.split_once(' ').unwrap_or((rate, ""));
        let value: u32 = value
            .parse()
            .ok()
            .filter(|value| *value > 0)
            .ok_or_else(|| {
                format!("is `{expression}`, whose rate is not a positive whole number")
            })?;
        let singular = ["minute", "hour", "day"];
        let plural = ["minutes", "hours", "days"];
        let units = if value == 1 { &singular } else { &plural };
        if !units.contains(&unit) {
            return Err(format!(
                "is `{expression}`; the unit of `rate({value} ...)` must be one of {}",
                quoted(units)
            ));
        }
        return Ok(());
    }
    if let Some(cron) = expression
        .strip_prefix("cron(")
        .and_then(|rest| rest.strip_suffix(')'))
    {
        let fields: Vec<&str> = cron.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "is `{expression}`, with {} fields; cron takes 6: minutes hours day-of-month month day-of-week year, such as `cron(0 12 * * ? *)`",
                fields.len()
            ));
        }
        let names = [
            ("minutes", 0, 59),
            ("hours", 0, 23),
            ("day-of-month", 1, 31),
            ("month", 1, 12),
            ("day-of-week", 1, 7),
            ("year", 1970, 2199),
        ];
        for (field, (name, low, high)) in fields.iter().zip(names) {
            cron_field(field, name, low, high)
                .map_err(|problem| format!("is `{expression}`: {problem}"))?;
        }
        if (fields[2] == "?") == (fields[4] == "?") {
            return Err(format!(
                "is `{expression}`: exactly one of day-of-month and day-of-week must be `?`"
            ));
        }
        return Ok(());
    }
    Err(format!(
        "is `{expression}`; a schedule is `rate(N unit)` or `cron(minutes hours day-of-month month day-of-week year)`"
    ))
}

fn cron_field(field: &str, name: &str, low: u32, high: u32) -> Result<(), String> {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    if field == "*" || (field == "?" && (name == "day-of-month" || name == "day-of-week")) {
        return Ok(());
    }
    let value_ok = |value: &str| -> bool {
        let named = match name {
            "month" => MONTHS.contains(&value),
            "day-of-week" => DAYS.contains(&value),
            _ => false,
        };
        // `L` (last) and `W` (weekday) and `#` (nth weekday) are EventBridge's extras.
        let special = match name {
            "day-of-month" => {
                value == "L"
                    || value == "LW"
                    || value.strip_suffix('W').is_some_and(|day| {
                        day.parse::<u32>().is_ok_and(|day| (1..=31).contains(&day))
                    })
            }
            "day-of-week" => {
                value
                    .strip_suffix('L')
                    .is_some_and(|day| day.parse::<u32>().is_ok_and(|day| (1..=7).contains(&day)))
                    || value.split_once('#').is_some_and(|(day, nth)| {
                        day.parse::<u32>().is_ok_and(|day| (1..=7).contains(&day))
                            && nth.parse::<u32>().is_ok_and(|nth| (1..=5).contains(&nth))
                    })
            }
            _ => false,
        };
        named
            || special
            || value
                .parse::<u32>()
                .is_ok_and(|number| (low..=high).contains(&number))
    };
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (part, None),
        };
        if step.is_some_and(|step| step.parse::<u32>().map_or(true, |step| step == 0)) {
            return Err(format!("the {name} field `{field}` has a bad step"));
        }
        let ok = range == "*"
            || match range.split_once('-') {
                Some((from, to)) => value_ok(from) && value_ok(to),
                None => value_ok(range),
            };
        if !ok {
            return Err(format!(
                "the {name} field `{field}` is not valid ({name} run from {low} to {high})"
            ));
        }
    }
    Ok(())
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read_one(key: &str, value: Value) -> Result<DeploySettings, CliError> {
        let mut settings = DeploySettings::default();
        assert!(read(&mut settings, key, &value, "m")?);
        Ok(settings)
    }

    fn problem(key: &str, value: Value) -> (String, String) {
        match read_one(key, value) {
            Err(CliError::Config { key, problem }) => (key, problem),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn schedules_are_checked_like_eventbridge_does() {
        for good in [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(2 days)",
            "cron(0 12 * * ? *)",
            "cron(15 10 ? * 6L 2026-2030)",
            "cron(0/15 8-17 ? * MON-FRI *)",
            "cron(0 8 1 JAN,JUL ? *)",
            "cron(0 9 ? * 2#1 *)",
        ] {
            assert_eq!(schedule_expression(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("rate(1 minutes)", "must be one of `minute`"),
            ("rate(0 hours)", "not a positive whole number"),
            ("rate(5 weeks)", "must be one of `minutes`"),
            ("cron(0 12 * * *)", "with 5 fields; cron takes 6"),
            (
                "cron(0 12 * * * *)",
                "exactly one of day-of-month and day-of-week",
            ),
            ("cron(61 12 * * ? *)", "minutes field `61`"),
            ("cron(0 25 * * ? *)", "hours field `25`"),
            ("cron(0 0/0 * * ? *)", "bad step"),
            ("every day", "a schedule is `rate(N unit)`"),
        ] {
            let said = schedule_expression(bad).expect_err(bad);
            assert!(said.contains(says), "{bad}: {said}");
        }
    }

    #[test]
    fn triggers_are_read_with_their_defaults() {
        let settings = read_one(
            "triggers",
            json!({
                "s3": [{"bucket": "uploads", "suffix": ".png"}],
                "sqs": [{"queue": "orders", "batch_size": 5, "report_batch_item_failures": true}],
                "schedule": [{"expression": "rate(1 hour)", "input": {"job": "nightly"}}],
                "sns": [{"topic": "arn:aws:sns:eu-west-1:123456789012:news"}],
                "kinesis": [{"stream": "arn:aws:kinesis:eu-west-1:123456789012:stream/s", "starting_position": "TRIM_HORIZON"}],
                "logs": [{"group": "/aws/lambda/orders"}, {"group": "app", "pattern": "ERROR"}],
                "firehose": [{"stream": "clicks", "buffer_interval": 120}],
                "ses": [{"rule_set": "inbound", "recipients": ["orders@example.com", "example.org"]}],
                "iot": [{"sql": "SELECT * FROM 'devices/+/telemetry'"}],
                "cognito": [{"user_pool": "eu-west-1_aBc123", "triggers": ["pre-sign-up", "pre-token-generation"]}],
            }),
        )
        .unwrap();
        let triggers = settings.triggers;
        assert_eq!(
            (
                triggers.logs[0].group.as_str(),
                triggers.logs[0].pattern.as_str()
            ),
            ("/aws/lambda/orders", ""),
            "no pattern: every event"
        );
        assert_eq!(triggers.logs[1].pattern, "ERROR");
        assert_eq!(
            triggers.firehose,
            [FirehoseTrigger {
                stream: "clicks".into(),
                buffer_size: None,
                buffer_interval: Some(120),
            }]
        );
        assert_eq!(
            triggers.ses,
            [SesTrigger {
                rule_set: "inbound".into(),
                recipients: vec!["orders@example.com".into(), "example.org".into()],
                invocation_type: SesInvocation::Event,
            }],
            "SES calls without waiting unless asked"
        );
        assert_eq!(triggers.iot[0].sql, "SELECT * FROM 'devices/+/telemetry'");
        assert_eq!(
            triggers.cognito,
            [CognitoTrigger {
                user_pool: "eu-west-1_aBc123".into(),
                triggers: vec![PoolTrigger::PreSignUp, PoolTrigger::PreTokenGeneration],
                token_version: TokenEventVersion::V1,
            }],
            "the version lambda-kit's typed event reads, unless asked"
        );
        assert_eq!(triggers.s3[0].events, ["s3:ObjectCreated:*"]);
        assert_eq!(triggers.s3[0].suffix.as_deref(), Some(".png"));
        assert_eq!(triggers.sqs[0].source, "orders");
        assert!(triggers.sqs[0].report_batch_item_failures);
        assert_eq!(
            triggers.schedule[0].input.as_deref(),
            Some(r#"{"job":"nightly"}"#)
        );
        assert_eq!(
            triggers.kinesis[0].starting_position,
            Some(StartingPosition::TrimHorizon)
        );
        assert_eq!(triggers.sns.len(), 1);
        assert!(triggers.dynamodb.is_empty());
    }

    #[test]
    fn kafka_triggers_read_an_msk_or_a_self_managed_cluster() {
        let msk = "arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e-1";
        let secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-AbCdEf";
        let settings = read_one(
            "triggers",
            json!({"kafka": [
                {"cluster": msk, "topic": "orders"},
                {
                    "bootstrap_servers": ["b-1.example.com:9092", "b-2.example.com:9092"],
                    "topic": "clicks",
                    "batch_size": 500,
                    "batching_window": 5,
                    "starting_position": "TRIM_HORIZON",
                    "consumer_group_id": "clicks-reader",
                    "auth": "SASL_SCRAM_256_AUTH",
                    "secret": secret,
                    "vpc_subnets": ["subnet-0a1b"],
                    "vpc_security_groups": ["sg-0c2d"],
                },
            ]}),
        )
        .unwrap();
        let kafka = settings.triggers.kafka;
        assert_eq!(
            kafka[0],
            KafkaTrigger {
                cluster: KafkaCluster::Msk(msk.into()),
                topic: "orders".into(),
                batch_size: None,
                batching_window: None,
                starting_position: None,
                consumer_group_id: None,
                auth: None,
                vpc_subnets: Vec::new(),
                vpc_security_groups: Vec::new(),
            },
            "Lambda's defaults stay Lambda's"
        );
        assert_eq!(
            kafka[1],
            KafkaTrigger {
                cluster: KafkaCluster::SelfManaged(vec![
                    "b-1.example.com:9092".into(),
                    "b-2.example.com:9092".into()
                ]),
                topic: "clicks".into(),
                batch_size: Some(500),
                batching_window: Some(5),
                starting_position: Some(StartingPosition::TrimHorizon),
                consumer_group_id: Some("clicks-reader".into()),
                auth: Some((KafkaAuth::SaslScram256, secret.into())),
                vpc_subnets: vec!["subnet-0a1b".into()],
                vpc_security_groups: vec!["sg-0c2d".into()],
            }
        );
        let mut merged = DeploySettings::default();
        merged.merge(
            &read_one(
                "triggers",
                json!({"kafka": [{"cluster": msk, "topic": "t"}]}),
            )
            .unwrap(),
        );
        assert!(!merged.triggers.is_empty());
        assert_eq!(merged.triggers.kafka.len(), 1);
    }

    #[test]
    fn a_streams_failure_handling_is_read_and_bad_values_are_named() {
        let stream = "arn:aws:kinesis:eu-west-1:123456789012:stream/s";
        let settings = read_one(
            "triggers",
            json!({"kinesis": [{
                "stream": stream,
                "bisect_batch_on_function_error": true,
                "maximum_retry_attempts": 0,
                "maximum_record_age": 60,
            }]}),
        )
        .unwrap();
        let kinesis = &settings.triggers.kinesis[0];
        assert!(kinesis.bisect_batch_on_function_error);
        assert_eq!(kinesis.maximum_retry_attempts, Some(0));
        assert_eq!(kinesis.maximum_record_age, Some(60));
        let refused = |trigger: Value| read_one("triggers", trigger).unwrap_err().to_string();
        let age = refused(json!({"kinesis": [{"stream": stream, "maximum_record_age": 59}]}));
        assert!(
            age.contains("m.triggers.kinesis[0].maximum_record_age")
                && age.contains("from 60 to 604800"),
            "{age}"
        );
        let retries =
            refused(json!({"dynamodb": [{"table": "t", "maximum_retry_attempts": 10_001}]}));
        assert!(retries.contains("from 0 to 10000"), "{retries}");
        // A queue's mapping has none of them.
        let queue =
            refused(json!({"sqs": [{"queue": "q", "bisect_batch_on_function_error": true}]}));
        assert!(
            queue.contains("m.triggers.sqs[0].bisect_batch_on_function_error"),
            "{queue}"
        );
    }

    #[test]
    fn bad_kafka_triggers_name_the_key_and_the_fix() {
        let msk = "arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b1c2d3e";
        let secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-AbCdEf";
        let brokers = json!(["b-1.example.com:9092"]);
        let cases = [
            (
                json!({"cluster": msk, "bootstrap_servers": brokers, "topic": "t"}),
                "m.triggers.kafka[0]",
                "names both a `cluster` and `bootstrap_servers`; keep `cluster`",
            ),
            (
                json!({"topic": "t"}),
                "m.triggers.kafka[0]",
                "needs a `cluster` (an Amazon MSK cluster's ARN) or `bootstrap_servers`",
            ),
            (
                json!({"cluster": msk}),
                "m.triggers.kafka[0]",
                "needs a `topic`",
            ),
            (
                json!({"cluster": msk, "topic": ""}),
                "m.triggers.kafka[0].topic",
                "must not be empty: name the one Kafka topic",
            ),
            (
                json!({"cluster": msk, "topic": ["a", "b"]}),
                "m.triggers.kafka[0].topic",
                "must be a string",
            ),
            (
                json!({"cluster": msk, "topic": "a topic"}),
                "m.triggers.kafka[0].topic",
                "Kafka topic's name",
            ),
            (
                json!({"cluster": msk, "topic": "t", "batch_size": 10_001}),
                "m.triggers.kafka[0].batch_size",
                "from 1 to 10000",
            ),
            (
                json!({"cluster": msk, "topic": "t", "batch_size": 0}),
                "m.triggers.kafka[0].batch_size",
                "from 1 to 10000",
            ),
            (
                json!({"cluster": msk, "topic": "t", "batching_window": 301}),
                "m.triggers.kafka[0].batching_window",
                "from 0 to 300",
            ),
            (
                json!({"cluster": msk, "topic": "t", "starting_position": "AT_TIMESTAMP"}),
                "m.triggers.kafka[0].starting_position",
                "must be one of `LATEST`, `TRIM_HORIZON`",
            ),
            (
                json!({"cluster": "shop", "topic": "t"}),
                "m.triggers.kafka[0].cluster",
                "for a self-managed cluster, use `bootstrap_servers`",
            ),
            (
                json!({"cluster": "arn:aws:kinesis:eu-west-1:123456789012:stream/s", "topic": "t"}),
                "m.triggers.kafka[0].cluster",
                "Amazon MSK cluster's ARN",
            ),
            (
                json!({"bootstrap_servers": [], "topic": "t"}),
                "m.triggers.kafka[0].bootstrap_servers",
                "1 to 10 brokers",
            ),
            (
                json!({"bootstrap_servers": ["b-1.example.com"], "topic": "t"}),
                "m.triggers.kafka[0].bootstrap_servers",
                "not a broker's `host:port`",
            ),
            (
                json!({"cluster": msk, "topic": "t", "consumer_group_id": "a group"}),
                "m.triggers.kafka[0].consumer_group_id",
                "consumer group ids",
            ),
            (
                json!({"bootstrap_servers": brokers, "topic": "t", "auth": "SASL_SCRAM_512_AUTH", "secret": "kafka-credentials"}),
                "m.triggers.kafka[0].secret",
                "Secrets Manager secret's ARN",
            ),
            (
                json!({"bootstrap_servers": brokers, "topic": "t", "auth": "SASL_SCRAM_512_AUTH", "secret": "arn:aws:kms:eu-west-1:123456789012:key/k"}),
                "m.triggers.kafka[0].secret",
                "Secrets Manager secret's ARN",
            ),
            (
                json!({"bootstrap_servers": brokers, "topic": "t", "auth": "SCRAM"}),
                "m.triggers.kafka[0].auth",
                "must be one of `BASIC_AUTH`, `SASL_SCRAM_256_AUTH`, `SASL_SCRAM_512_AUTH`, `CLIENT_CERTIFICATE_TLS_AUTH`",
            ),
            (
                json!({"bootstrap_servers": brokers, "topic": "t", "auth": "BASIC_AUTH"}),
                "m.triggers.kafka[0].auth",
                "needs a `secret`",
            ),
            (
                json!({"bootstrap_servers": brokers, "topic": "t", "secret": secret}),
                "m.triggers.kafka[0].secret",
                "needs an `auth`",
            ),
            (
                json!({"cluster": msk, "topic": "t", "auth": "BASIC_AUTH", "secret": secret}),
                "m.triggers.kafka[0].auth",
                "Amazon MSK does not offer",
            ),
            (
                json!({"cluster": msk, "topic": "t", "vpc_subnets": ["subnet-1"], "vpc_security_groups": ["sg-1"]}),
                "m.triggers.kafka[0].vpc_subnets",
                "is for self-managed clusters",
            ),
            (
                json!({"bootstrap_servers": brokers, "topic": "t", "vpc_subnets": ["subnet-1"]}),
                "m.triggers.kafka[0].vpc_subnets",
                "needs `vpc_security_groups` too",
            ),
            (
                json!({"bootstrap_servers": brokers, "topic": "t", "vpc_subnets": ["subnet-1"], "vpc_security_groups": ["default"]}),
                "m.triggers.kafka[0].vpc_security_groups",
                "not a security group's id (`sg-...`)",
            ),
            (
                json!({"bootstrap_servers": brokers, "topic": "t", "topics": ["u"]}),
                "m.triggers.kafka[0].topics",
                "the settings are `cluster`, `bootstrap_servers`, `topic`",
            ),
        ];
        for (table, at, says) in cases {
            let (found, said) = problem("triggers", json!({"kafka": [table]}));
            assert_eq!(found, at, "{table}");
            assert!(said.contains(says), "{table}: {said}");
        }
        let (found, said) = problem(
            "triggers",
            json!({"kafka": [{"cluster": msk, "topic": "t"}, {"cluster": msk, "topic": "t", "batch_size": 5}]}),
        );
        assert_eq!(found, "m.triggers.kafka[1]");
        assert!(
            said.contains("one mapping per topic of a cluster"),
            "{said}"
        );
    }

    #[test]
    fn permissions_add_up_and_need_the_role_deploy_creates() {
        let package = read_one(
            "permissions",
            json!([{"actions": ["dynamodb:PutItem"], "resources": ["arn:aws:dynamodb:*:*:table/orders"]}]),
        )
        .unwrap();
        let mut function = read_one(
            "permissions",
            json!([{"actions": ["s3:Get*", "s3:ListBucket"], "resources": ["arn:aws:s3:::in", "arn:aws:s3:::in/*"]}]),
        )
        .unwrap();
        let mut merged = package.clone();
        merged.merge(&function);
        assert_eq!(merged.permissions.len(), 2);
        assert_eq!(merged.permissions[1].actions, ["s3:Get*", "s3:ListBucket"]);
        assert!(check(&merged, "m").is_ok());

        function.role = Some("shared-role".into());
        merged.merge(&function);
        match check(&merged, "m") {
            Err(CliError::Config { key, problem }) => {
                assert_eq!(key, "m.permissions");
                assert!(problem.contains("`role` names `shared-role`"), "{problem}");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn bad_values_name_the_key_and_what_is_allowed() {
        let cases = [
            ("name", json!("has space"), "m.name", "letters, digits"),
            (
                "ephemeral_storage",
                json!(256),
                "m.ephemeral_storage",
                "from 512 to 10240",
            ),
            (
                "async",
                json!({"on_failure": "failed-orders"}),
                "m.async.on_failure",
                "a destination is the ARN of an SQS queue",
            ),
            (
                "async",
                json!({"on_success": "arn:aws:s3:::records"}),
                "m.async.on_success",
                "an EventBridge bus or a Lambda function",
            ),
            (
                "async",
                json!({"dead_letter": "arn:aws:events:eu-west-1:1:event-bus/default"}),
                "m.async.dead_letter",
                "the ARN of an SQS queue or an SNS topic",
            ),
            (
                "async",
                json!({"retries": 3}),
                "m.async.retries",
                "from 0 to 2",
            ),
            (
                "vpc",
                json!({"subnets": ["subnet-0a"]}),
                "m.vpc",
                "needs `security_groups` beside its `subnets`",
            ),
            (
                "vpc",
                json!({"subnets": ["0a"], "security_groups": ["sg-1"]}),
                "m.vpc.subnets",
                "`subnet-0123456789abcdef0`",
            ),
            (
                "log_retention",
                json!(10),
                "m.log_retention",
                "1, 3, 5, 7, 14",
            ),
            (
                "log_kms_key",
                json!("alias/logs"),
                "m.log_kms_key",
                "must be a KMS key's ARN",
            ),
            (
                "tenancy",
                json!("isolated"),
                "m.tenancy",
                "`shared`, `per-tenant`",
            ),
            (
                "recursive_loop",
                json!("Stop"),
                "m.recursive_loop",
                "`Terminate`, `Allow`",
            ),
            (
                "managed_instances",
                json!({"concurrency": 4}),
                "m.managed_instances",
                "needs `capacity_provider`",
            ),
            (
                "managed_instances",
                json!({"capacity_provider": "fleet", "subnets": ["subnet-0a"]}),
                "m.managed_instances",
                "needs `subnets` and `security_groups`",
            ),
            (
                "managed_instances",
                json!({"capacity_provider": "arn:aws:lambda:eu-west-1:123456789012:function:f"}),
                "m.managed_instances.capacity_provider",
                "not a capacity provider's ARN",
            ),
            (
                "managed_instances",
                json!({"capacity_provider": "arn:aws:lambda:eu-west-1:123456789012:capacity-provider:f", "max_vcpus": 8}),
                "m.managed_instances.max_vcpus",
                "names an existing one by its ARN",
            ),
            (
                "managed_instances",
                json!({"capacity_provider": "fleet", "subnets": ["subnet-0a"], "security_groups": ["sg-01"], "concurrency": 2000}),
                "m.managed_instances.concurrency",
                "from 1 to 1600",
            ),
            (
                "managed_instances",
                json!({"capacity_provider": "fleet", "subnets": ["subnet-0a"], "security_groups": ["sg-01"], "memory_per_vcpu": 16}),
                "m.managed_instances.memory_per_vcpu",
                "from 2 to 8",
            ),
            (
                "tracing",
                json!("On"),
                "m.tracing",
                "`Active`, `PassThrough`",
            ),
            (
                "url",
                json!({"auth": "PUBLIC"}),
                "m.url.auth",
                "`AWS_IAM`, `NONE`",
            ),
            (
                "url",
                json!({"cors": {"max_age": -1}}),
                "m.url.cors.max_age",
                "from 0 to 86400",
            ),
            (
                "url",
                json!({"mode": "x"}),
                "m.url.mode",
                "the settings are `auth`",
            ),
            (
                "tags",
                json!({"lambdakit:package": "x"}),
                "m.tags.lambdakit:package",
                "`lambdakit:` prefix",
            ),
            (
                "layers",
                json!(["mylayer"]),
                "m.layers",
                "not a layer version ARN",
            ),
            ("alias", json!("12"), "m.alias", "not only digits"),
            (
                "permissions",
                json!([{"actions": ["PutItem"], "resources": ["*"]}]),
                "m.permissions[0].actions",
                "not an IAM action",
            ),
            (
                "permissions",
                json!([{"actions": ["s3:Get*"], "resources": ["my-bucket"]}]),
                "m.permissions[0].resources",
                "not an ARN",
            ),
            (
                "permissions",
                json!([{"actions": ["s3:GetObject"]}]),
                "m.permissions[0]",
                "needs `resources`",
            ),
            (
                "permissions",
                json!([{"actions": [], "resources": ["*"]}]),
                "m.permissions[0].actions",
                "at least one",
            ),
            (
                "permissions",
                json!([{"actions": ["s3:GetObject"], "resources": ["*"], "effect": "Deny"}]),
                "m.permissions[0].effect",
                "the settings are `actions`, `resources`",
            ),
            (
                "triggers",
                json!({"sqs": {"queue": "q"}}),
                "m.triggers.sqs",
                "list of tables",
            ),
            (
                "triggers",
                json!({"sqs": [{"queue": "q", "batch_size": 50}]}),
                "m.triggers.sqs[0].batch_size",
                "`batching_window`",
            ),
            (
                "triggers",
                json!({"schedule": [{"expression": "cron(0 12 * * *)"}]}),
                "m.triggers.schedule[0].expression",
                "cron takes 6",
            ),
            (
                "triggers",
                json!({"s3": [{"events": ["s3:ObjectCreated:*"]}]}),
                "m.triggers.s3[0]",
                "needs a `bucket`",
            ),
            (
                "triggers",
                json!({"dynamodb": [{"stream": "table"}]}),
                "m.triggers.dynamodb[0].stream",
                "use `table`",
            ),
            (
                "triggers",
                json!({"dynamodb": [{"batch_size": 5}]}),
                "m.triggers.dynamodb[0]",
                "needs a `table`",
            ),
            (
                "triggers",
                json!({"dynamodb": [{"table": "t", "stream": "arn:x"}]}),
                "m.triggers.dynamodb[0]",
                "keep one",
            ),
            (
                "triggers",
                json!({"sns": [{"topic": "news"}]}),
                "m.triggers.sns[0].topic",
                "topic's ARN",
            ),
            (
                "triggers",
                json!({"logs": [{"pattern": "ERROR"}]}),
                "m.triggers.logs[0]",
                "needs a `group`",
            ),
            (
                "triggers",
                json!({"logs": [{"group": "arn:aws:logs:eu-west-1:123456789012:log-group:app"}]}),
                "m.triggers.logs[0].group",
                "not its ARN",
            ),
            (
                "triggers",
                json!({"firehose": [{"buffer_size": 1}]}),
                "m.triggers.firehose[0]",
                "needs a `stream`",
            ),
            (
                "triggers",
                json!({"firehose": [{"stream": "arn:aws:firehose:eu-west-1:123456789012:deliverystream/clicks"}]}),
                "m.triggers.firehose[0].stream",
                "not its ARN",
            ),
            (
                "triggers",
                json!({"firehose": [{"stream": "clicks", "buffer_size": 5}]}),
                "m.triggers.firehose[0].buffer_size",
                "from 1 to 3",
            ),
            (
                "triggers",
                json!({"firehose": [{"stream": "clicks"}, {"stream": "clicks"}]}),
                "m.triggers.firehose[1]",
                "one Lambda processor",
            ),
            (
                "triggers",
                json!({"ses": [{"recipients": ["orders@example.com"]}]}),
                "m.triggers.ses[0]",
                "needs a `rule_set`",
            ),
            (
                "triggers",
                json!({"ses": [{"rule_set": "-inbound"}]}),
                "m.triggers.ses[0].rule_set",
                "starting and ending with a letter or digit",
            ),
            (
                "triggers",
                json!({"ses": [{"rule_set": "inbound", "invocation_type": "event"}]}),
                "m.triggers.ses[0].invocation_type",
                "must be one of `Event`, `RequestResponse`",
            ),
            (
                "triggers",
                json!({"ses": [{"rule_set": "inbound", "recipients": ["orders @example.com"]}]}),
                "m.triggers.ses[0].recipients",
                "not an address or domain",
            ),
            (
                "triggers",
                json!({"ses": [{"rule_set": "inbound"}, {"rule_set": "inbound"}]}),
                "m.triggers.ses[1]",
                "put all its recipients in one trigger",
            ),
            (
                "triggers",
                json!({"iot": [{}]}),
                "m.triggers.iot[0]",
                "needs a `sql`",
            ),
            (
                "triggers",
                json!({"iot": [{"sql": "devices/+/telemetry"}]}),
                "m.triggers.iot[0].sql",
                "must be an IoT SQL statement",
            ),
            (
                "triggers",
                json!({"cognito": [{"user_pool": "my-pool", "triggers": ["pre-sign-up"]}]}),
                "m.triggers.cognito[0].user_pool",
                "such as `eu-west-1_aBcDeF123`",
            ),
            (
                "triggers",
                json!({"cognito": [{"user_pool": "eu-west-1_a", "triggers": ["pre-signup"]}]}),
                "m.triggers.cognito[0].triggers",
                "has `pre-signup`, which must be one of `pre-sign-up`",
            ),
            (
                "triggers",
                json!({"cognito": [{"user_pool": "eu-west-1_a"}]}),
                "m.triggers.cognito[0]",
                "needs `triggers`",
            ),
            (
                "triggers",
                json!({"cognito": [
                    {"user_pool": "eu-west-1_a", "triggers": ["pre-sign-up"]},
                    {"user_pool": "eu-west-1_a", "triggers": ["user-migration"]},
                ]}),
                "m.triggers.cognito[1]",
                "list all its triggers in one entry",
            ),
            (
                "triggers",
                json!({"cognito": [{"user_pool": "eu-west-1_a", "triggers": ["pre-sign-up"], "pre_token_version": "2"}]}),
                "m.triggers.cognito[0].pre_token_version",
                "`V1_0`, `V2_0`, `V3_0`",
            ),
            (
                "triggers",
                json!({"mq": []}),
                "m.triggers.mq",
                "the settings are `s3`",
            ),
        ];
        for (key, value, at, says) in cases {
            let (found, said) = problem(key, value.clone());
            assert_eq!(found, at, "{key} = {value}");
            assert!(said.contains(says), "{key} = {value}: {said}");
        }
        let mut settings = read_one("provisioned_concurrency", json!(2)).unwrap();
        let Err(CliError::Config { key, problem }) = check(&settings, "m") else {
            panic!("provisioned concurrency without an alias was accepted");
        };
        assert_eq!(key, "m.provisioned_concurrency");
        assert!(problem.contains("needs an `alias`"));
        settings.alias = Some("live".into());
        assert!(check(&settings, "m").is_ok());
    }

    #[test]
    fn state_machines_are_read_with_their_defaults() {
        let at = "package.metadata.lambdakit.state_machines";
        let machines = state_machines(
            &json!([
                {"name": "orders", "definition": "states/orders.asl.json"},
                {
                    "name": "nightly",
                    "definition": "states/nightly.yaml",
                    "type": "EXPRESS",
                    "logging": {"level": "ERROR", "include_execution_data": true, "log_group": "/aws/vendedlogs/states/nightly"},
                    "tracing": true,
                    "tags": {"team": "shop"},
                },
            ]),
            at,
        )
        .unwrap();
        assert_eq!(machines[0].machine_type, MachineType::Standard);
        assert_eq!(machines[0].logging.level, ExecutionLogLevel::Off);
        assert!(!machines[0].tracing);
        let nightly = &machines[1];
        assert_eq!(nightly.definition, "states/nightly.yaml");
        assert_eq!(nightly.machine_type, MachineType::Express);
        assert_eq!(
            nightly.logging,
            MachineLogging {
                level: ExecutionLogLevel::Error,
                include_execution_data: true,
                log_group: Some("/aws/vendedlogs/states/nightly".into()),
            }
        );
        assert!(nightly.tracing);
        assert_eq!(nightly.tags.get("team").map(String::as_str), Some("shop"));
    }

    #[test]
    fn bad_state_machine_settings_name_the_key_and_the_fix() {
        let at = "m";
        let good = || json!({"name": "orders", "definition": "orders.json"});
        let with = |key: &str, value: Value| {
            let mut table = good();
            table[key] = value;
            json!([table])
        };
        let cases = [
            (
                with("type", json!("Standard")),
                "m[0].type",
                "must be one of `STANDARD`, `EXPRESS`",
            ),
            (
                with("name", json!("has space")),
                "m[0].name",
                "1 to 80 letters",
            ),
            (
                with("definition", json!("orders.txt")),
                "m[0].definition",
                "`.json`, `.yaml` or `.yml`",
            ),
            (
                with("logging", json!({"level": "INFO"})),
                "m[0].logging.level",
                "`ALL`, `ERROR`, `FATAL`, `OFF`",
            ),
            (
                with("logging", json!({"group": "x"})),
                "m[0].logging.group",
                "the settings are `level`",
            ),
            (
                with("logging", json!({"log_group": "a b"})),
                "m[0].logging.log_group",
                "log group's name",
            ),
            (
                with("tracing", json!("Active")),
                "m[0].tracing",
                "`true` or `false`",
            ),
            (
                with("tags", json!({"lambdakit:x": "y"})),
                "m[0].tags.lambdakit:x",
                "`lambdakit:` prefix",
            ),
            (
                with("definitions", json!("x.json")),
                "m[0].definitions",
                "the settings are `name`, `definition`",
            ),
            (json!([{"definition": "x.json"}]), "m[0]", "needs a `name`"),
            (json!([{"name": "x"}]), "m[0]", "needs a `definition`"),
            (json!({"name": "x"}), "m", "list of tables"),
            (
                json!([good(), good()]),
                "m[1].name",
                "another state machine",
            ),
        ];
        for (value, key, says) in cases {
            let Err(CliError::Config {
                key: found,
                problem,
            }) = state_machines(&value, at)
            else {
                panic!("{value} was accepted");
            };
            assert_eq!(found, key, "{value}");
            assert!(problem.contains(says), "{value}: {problem}");
        }
    }

    #[test]
    fn other_keys_are_left_to_the_caller() {
        let mut settings = DeploySettings::default();
        assert!(!read(&mut settings, "memory", &json!(128), "m").unwrap());
    }
}
