//! The execution role: the one named in the settings, or one deploy creates per function with
//! least privilege: its own log group, plus what each trigger needs to be read, plus the
//! `permissions` its settings grant the function's code.

use serde_json::{Value, json};

use super::settings::{Destination, KafkaCluster, KafkaTrigger, Tracing};
use super::{Action, Change, Options, TAG_FUNCTION, TAG_PACKAGE, TAG_STAGE, Unit, bounded};
use crate::aws::{self, Aws, Place};
use crate::error::CliError;
use crate::project::Function;

/// The inline policy's name on the roles deploy creates.
pub(super) const POLICY: &str = "lambdakit";

/// The role deploy creates for the function named `function` on AWS.
pub(super) fn created_name(function: &str) -> String {
    bounded(function, "-lambdakit", 64)
}

/// Whether a role's `tags` carry each of `wanted`, and the stage `stage` (no stage tag when
/// `None`): whether it is the one deploy created for that function or state machine of that
/// stage, and not another stage's.
pub(super) fn tagged(
    tags: &[aws_sdk_iam::types::Tag],
    wanted: &[(&str, &str)],
    stage: Option<&str>,
) -> bool {
    let value = |key: &str| {
        tags.iter()
            .find(|tag| tag.key() == key)
            .map(aws_sdk_iam::types::Tag::value)
    };
    wanted
        .iter()
        .all(|(key, wanted)| value(key) == Some(*wanted))
        && value(TAG_STAGE) == stage
}

/// The ARN of the role a `role` setting names (by ARN, or by name in this account).
pub(super) fn arn(aws: &Aws, role: &str) -> String {
    if role.starts_with("arn:") {
        role.to_owned()
    } else {
        aws.role_arn(role)
    }
}

/// Makes sure the function's role exists with the policy it needs, and returns its ARN.
pub(super) async fn ensure(
    aws: &Aws,
    unit: &Unit<'_>,
    options: Options,
) -> Result<(String, Option<Change>), CliError> {
    if let Some(role) = &unit.function.deploy.role {
        return Ok((arn(aws, role), None));
    }
    let function = unit.function.aws_name();
    let name = created_name(function);
    let arn = aws.role_arn(&name);
    let policy = policy(&aws.place(), unit.function);
    let existing = match aws.iam.get_role().role_name(&name).send().await {
        Ok(found) => found.role,
        Err(error) if aws::not_found(&error) => None,
        Err(error) => return Err(aws::failed("iam:GetRole", error)),
    };
    let Some(existing) = existing else {
        if !options.dry_run {
            create(aws, unit, &name, &policy).await?;
        }
        return Ok((arn, Some(Change::new("role", name, Action::Create))));
    };
    let wanted = [
        (TAG_PACKAGE, unit.function.package.as_str()),
        (TAG_FUNCTION, unit.function.name.as_str()),
    ];
    if !tagged(existing.tags(), &wanted, unit.function.stage.as_deref()) {
        return Err(CliError::Conflict {
            resource: format!("the IAM role `{name}`"),
            problem: format!("exists, and lambdakit did not create it for `{function}`"),
            hint: format!(
                "to use it as it is, set `role = \"{name}\"`; else give the function another `name`"
            ),
        });
    }
    let current = inline_policy(aws, &name).await?;
    if current.as_ref() == Some(&policy) {
        return Ok((
            existing.arn().to_owned(),
            Some(Change::new("role", name, Action::Unchanged)),
        ));
    }
    if !options.dry_run {
        put_policy(aws, &name, &policy).await?;
    }
    let change = Change::new("role", name, Action::Update(vec!["policy".into()]));
    Ok((existing.arn().to_owned(), Some(change)))
}

/// The trust policy of a role deploy creates: `service` (such as `lambda.amazonaws.com`) may
/// assume it.
pub(super) fn trust(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
        }],
    })
}

/// The description of the role deploy creates for the function named `function` on AWS.
pub(super) fn description(function: &str) -> String {
    format!("Execution role of the Lambda function `{function}`, created by cargo lambdakit")
}

async fn create(aws: &Aws, unit: &Unit<'_>, name: &str, policy: &Value) -> Result<(), CliError> {
    let trust = trust("lambda.amazonaws.com");
    let tag = |key: &str, value: &str| {
        aws_sdk_iam::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(|error| CliError::Aws {
                operation: "iam:CreateRole".into(),
                code: None,
                message: error.to_string(),
            })
    };
    let mut request = aws
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .description(description(unit.function.aws_name()))
        .tags(tag(TAG_PACKAGE, &unit.function.package)?)
        .tags(tag(TAG_FUNCTION, &unit.function.name)?);
    if let Some(stage) = &unit.function.stage {
        request = request.tags(tag(TAG_STAGE, stage)?);
    }
    request
        .send()
        .await
        .map_err(|error| aws::failed("iam:CreateRole", error))?;
    put_policy(aws, name, policy).await
}

async fn put_policy(aws: &Aws, role: &str, policy: &Value) -> Result<(), CliError> {
    aws.iam
        .put_role_policy()
        .role_name(role)
        .policy_name(POLICY)
        .policy_document(policy.to_string())
        .send()
        .await
        .map_err(|error| aws::failed("iam:PutRolePolicy", error))?;
    Ok(())
}

/// The least the function needs: writing its own logs, reading the queues, streams and Kafka
/// topics that trigger it, and X-Ray when tracing is active; and what its settings'
/// `permissions` grant.
pub(super) fn policy(place: &Place<'_>, function: &Function) -> Value {
    let settings = &function.deploy;
    let function = function.aws_name();
    let log_group = place.arn("logs", &format!("log-group:/aws/lambda/{function}"));
    let mut statements = vec![json!({
        "Sid": "Logs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [log_group.clone(), format!("{log_group}:*")],
    })];
    let triggers = &settings.triggers;
    let mut add = |sid: &str, actions: &[&str], resources: Vec<String>| {
        if !resources.is_empty() {
            statements.push(json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": actions,
                "Resource": resources,
            }));
        }
    };
    add(
        "Sqs",
        &[
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ChangeMessageVisibility",
        ],
        triggers
            .sqs
            .iter()
            .map(|queue| super::triggers::queue_arn(place, &queue.source))
            .collect(),
    );
    add(
        "DynamoDbStreams",
        &[
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        ],
        triggers
            .dynamodb
            .iter()
            .map(|stream| stream.source.clone())
            .collect(),
    );
    add(
        "KinesisStreams",
        &[
            "kinesis:DescribeStream",
            "kinesis:DescribeStreamSummary",
            "kinesis:GetRecords",
            "kinesis:GetShardIterator",
            "kinesis:ListShards",
            "kinesis:ListStreams",
            "kinesis:SubscribeToShard",
        ],
        triggers
            .kinesis
            .iter()
            .map(|stream| stream.source.clone())
            .collect(),
    );
    // Lambda sends asynchronous invocations' records and failed events with the function's
    // role (AWS "Adding a destination", "Dead-letter queues").
    if let Some(asynchronous) = &settings.asynchronous {
        let targets = [
            &asynchronous.on_success,
            &asynchronous.on_failure,
            &asynchronous.dead_letter,
        ];
        for (index, arn) in targets.into_iter().flatten().enumerate() {
            let (actions, resources) = delivery(arn);
            add(&format!("Destination{index}"), actions, resources);
        }
    }
    if settings.vpc.is_some() {
        // The network interfaces Lambda makes in the VPC (the actions of AWS's
        // `AWSLambdaVPCAccessExecutionRole`); EC2 scopes none of them to a resource.
        add(
            "Vpc",
            &[
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            vec!["*".into()],
        );
    }
    kafka(&triggers.kafka, &mut add);
    if settings.tracing == Some(Tracing::Active) {
        add(
            "XRay",
            &["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            vec!["*".into()],
        );
    }
    // What the settings grant the function's own code, as they are written.
    for (index, permission) in settings.permissions.iter().enumerate() {
        statements.push(json!({
            "Sid": format!("Granted{index}"),
            "Effect": "Allow",
            "Action": permission.actions,
            "Resource": permission.resources,
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// What the role needs to deliver to a destination or dead-letter queue, by its ARN's service.
fn delivery(arn: &str) -> (&'static [&'static str], Vec<String>) {
    match Destination::of(arn) {
        Destination::Sqs => (&["sqs:SendMessage"], vec![arn.to_owned()]),
        Destination::Sns => (&["sns:Publish"], vec![arn.to_owned()]),
        Destination::EventBridge => (&["events:PutEvents"], vec![arn.to_owned()]),
        Destination::S3 => (
            &["s3:PutObject", "s3:ListBucket"],
            vec![arn.to_owned(), format!("{arn}/*")],
        ),
        Destination::Lambda => (&["lambda:InvokeFunction"], vec![arn.to_owned()]),
    }
}

/// What Lambda needs of the execution role to read Kafka topics (AWS "Configuring Lambda
/// execution role permissions" for Amazon MSK and for self-managed Apache Kafka): describing
/// the MSK clusters and their brokers; reading a topic with IAM access control where no secret
/// is named (Lambda then signs in with the role); the network interfaces it puts in the
/// cluster's VPC (an MSK cluster's, or the subnets a self-managed trigger names); and the
/// secrets holding the credentials.
fn kafka(triggers: &[KafkaTrigger], add: &mut impl FnMut(&str, &[&str], Vec<String>)) {
    let mut clusters = Vec::new();
    let mut iam = Vec::new();
    let mut network = false;
    let mut secrets = Vec::new();
    for trigger in triggers {
        match &trigger.cluster {
            KafkaCluster::Msk(cluster) => {
                clusters.push(cluster.clone());
                network = true;
                if trigger.auth.is_none() {
                    // `...:cluster/NAME/UUID` → `...:topic/NAME/UUID/TOPIC` and
                    // `...:group/NAME/UUID/GROUP` (any group: Lambda's default is named after
                    // the mapping's UUID).
                    let within = |kind: &str, name: &str| {
                        format!(
                            "{}/{name}",
                            cluster.replacen(":cluster/", &format!(":{kind}/"), 1)
                        )
                    };
                    iam.push(cluster.clone());
                    iam.push(within("topic", &trigger.topic));
                    iam.push(within(
                        "group",
                        trigger.consumer_group_id.as_deref().unwrap_or("*"),
                    ));
                }
            }
            KafkaCluster::SelfManaged(_) => network |= !trigger.vpc_subnets.is_empty(),
        }
        secrets.extend(trigger.auth.iter().map(|(_, secret)| secret.clone()));
    }
    let mut add = |sid: &str, actions: &[&str], mut resources: Vec<String>| {
        resources.sort();
        resources.dedup();
        add(sid, actions, resources);
    };
    add(
        "KafkaClusters",
        &["kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"],
        clusters,
    );
    add(
        "KafkaIamAccess",
        &[
            "kafka-cluster:Connect",
            "kafka-cluster:DescribeClusterDynamicConfiguration",
            "kafka-cluster:DescribeTopic",
            "kafka-cluster:ReadData",
            "kafka-cluster:DescribeGroup",
            "kafka-cluster:AlterGroup",
        ],
        iam,
    );
    // EC2's Describe actions take no resource: Lambda's managed policies grant these on `*`.
    add(
        "KafkaNetwork",
        &[
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeVpcs",
            "ec2:DeleteNetworkInterface",
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
        ],
        if network {
            vec!["*".into()]
        } else {
            Vec::new()
        },
    );
    add("KafkaSecrets", &["secretsmanager:GetSecretValue"], secrets);
}

/// A role deploy creates for another service than Lambda (Step Functions): its name, the
/// service that assumes it, its description, the tags that make it deploy's, and its policy.
pub(super) struct Wanted<'a> {
    pub(super) name: String,
    pub(super) service: &'a str,
    pub(super) description: String,
    pub(super) tags: [(&'a str, &'a str); 2],
    /// The stage it is created for: tagged `lambdakit:stage`, and told apart by it.
    pub(super) stage: Option<&'a str>,
    /// Its inline policy; `None` when it may do nothing (IAM takes no empty policy).
    pub(super) policy: Option<Value>,
    /// AWS managed policies attached to it, by ARN.
    pub(super) managed: &'a [String],
    /// What the user may do when a role of that name is in the way.
    pub(super) hint: String,
}

/// Makes sure the role `wanted` describes exists, with its policy, and returns its ARN.
///
/// # Errors
///
/// When AWS refuses a call, or a role of that name exists without `wanted`'s tags.
pub(super) async fn ensure_wanted(
    aws: &Aws,
    wanted: &Wanted<'_>,
    options: Options,
) -> Result<(String, Change), CliError> {
    let name = &wanted.name;
    let existing = match aws.iam.get_role().role_name(name).send().await {
        Ok(found) => found.role,
        Err(error) if aws::not_found(&error) => None,
        Err(error) => return Err(aws::failed("iam:GetRole", error)),
    };
    let Some(existing) = existing else {
        if !options.dry_run {
            let trust = trust(wanted.service);
            let mut request = aws
                .iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust.to_string())
                .description(&wanted.description);
            let stage = wanted.stage.map(|stage| (TAG_STAGE, stage));
            for (key, value) in wanted.tags.into_iter().chain(stage) {
                let tag = aws_sdk_iam::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .map_err(|error| aws::invalid("iam:CreateRole", error))?;
                request = request.tags(tag);
            }
            request
                .send()
                .await
                .map_err(|error| aws::failed("iam:CreateRole", error))?;
            if let Some(policy) = &wanted.policy {
                put_policy(aws, name, policy).await?;
            }
            attach(aws, name, wanted.managed).await?;
        }
        return Ok((
            aws.role_arn(name),
            Change::new("role", name.clone(), Action::Create),
        ));
    };
    if !tagged(existing.tags(), &wanted.tags, wanted.stage) {
        return Err(CliError::Conflict {
            resource: format!("the IAM role `{name}`"),
            problem: "exists, and lambdakit did not create it".into(),
            hint: wanted.hint.clone(),
        });
    }
    let (current, attached) = tokio::try_join!(
        inline_policy(aws, name),
        attached(aws, name, wanted.managed)
    )?;
    let detached: Vec<String> = wanted
        .managed
        .iter()
        .filter(|arn| !attached.contains(arn))
        .cloned()
        .collect();
    let arn = existing.arn().to_owned();
    if !detached.is_empty() {
        if !options.dry_run {
            attach(aws, name, &detached).await?;
        }
        if current == wanted.policy {
            let change = Change::new("role", name.clone(), Action::Update(detached));
            return Ok((arn, change));
        }
    }
    if current == wanted.policy {
        return Ok((arn, Change::new("role", name.clone(), Action::Unchanged)));
    }
    if !options.dry_run {
        match &wanted.policy {
            Some(policy) => put_policy(aws, name, policy).await?,
            None => {
                aws.iam
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(POLICY)
                    .send()
                    .await
                    .map_err(|error| aws::failed("iam:DeleteRolePolicy", error))?;
            }
        }
    }
    let change = Change::new("role", name.clone(), Action::Update(vec!["policy".into()]));
    Ok((arn, change))
}

/// Attaches the managed policies `arns` to the role `name`.
async fn attach(aws: &Aws, name: &str, arns: &[String]) -> Result<(), CliError> {
    for arn in arns {
        aws.iam
            .attach_role_policy()
            .role_name(name)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|error| aws::failed("iam:AttachRolePolicy", error))?;
    }
    Ok(())
}

/// Which of the managed policies `wanted` the role `name` has attached (no call for none).
async fn attached(aws: &Aws, name: &str, wanted: &[String]) -> Result<Vec<String>, CliError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let listed = aws
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(|error| aws::failed("iam:ListAttachedRolePolicies", error))?;
    Ok(listed
        .attached_policies()
        .iter()
        .filter_map(|policy| policy.policy_arn().map(str::to_owned))
        .collect())
}

/// The role `name`'s inline policy that deploy writes, if it has one that parses.
async fn inline_policy(aws: &Aws, name: &str) -> Result<Option<Value>, CliError> {
    match aws
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name(POLICY)
        .send()
        .await
    {
        Ok(found) => Ok(serde_json::from_str::<Value>(&crate::percent::decode(
            found.policy_document(),
        ))
        .ok()),
        Err(error) if aws::not_found(&error) => Ok(None),
        Err(error) => Err(aws::failed("iam:GetRolePolicy", error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::settings::KafkaAuth;
    use crate::project::Function;

    #[tokio::test]
    async fn the_role_may_read_the_kafka_topics_that_trigger_the_function() {
        let (aws, seen) = super::super::function::tests::aws(|_, _| {
            (500, Some("ServiceException"), r#"{"message":"unexpected"}"#)
        })
        .await;
        let cluster = "arn:aws:kafka:eu-west-1:123456789012:cluster/shop/0b1c-1";
        let secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka-AbCdEf";
        let msk = |topic: &str| KafkaTrigger::new(KafkaCluster::Msk(cluster.into()), topic);
        let mut function = Function::standalone("intake");
        let statement = |function: &Function, sid: &str| {
            policy(&aws.place(), function)["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|statement| statement["Sid"] == sid)
                .cloned()
        };

        // A self-managed cluster on the internet: nothing beyond the function's logs.
        function.deploy.triggers.kafka = vec![KafkaTrigger {
            cluster: KafkaCluster::SelfManaged(vec!["b-1.example.com:9092".into()]),
            ..msk("clicks")
        }];
        for sid in [
            "KafkaClusters",
            "KafkaIamAccess",
            "KafkaNetwork",
            "KafkaSecrets",
        ] {
            assert_eq!(statement(&function, sid), None, "{sid}");
        }

        // In a VPC, signed in to with a secret: the network interfaces, and that secret.
        function.deploy.triggers.kafka[0].auth = Some((KafkaAuth::SaslScram512, secret.into()));
        function.deploy.triggers.kafka[0].vpc_subnets = vec!["subnet-0a1b".into()];
        function.deploy.triggers.kafka[0].vpc_security_groups = vec!["sg-0c2d".into()];
        assert_eq!(
            statement(&function, "KafkaSecrets").unwrap(),
            json!({
                "Sid": "KafkaSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [secret],
            })
        );
        assert_eq!(
            statement(&function, "KafkaNetwork").unwrap()["Resource"],
            json!(["*"])
        );
        assert_eq!(statement(&function, "KafkaClusters"), None);

        // MSK, twice on one cluster, once with IAM access: the cluster described, its
        // network, and with IAM the topic read and the group joined.
        let mut grouped = msk("orders");
        grouped.consumer_group_id = Some("orders-reader".into());
        let mut scram = msk("audit");
        scram.auth = Some((KafkaAuth::SaslScram512, secret.into()));
        function.deploy.triggers.kafka = vec![grouped, scram];
        assert_eq!(
            statement(&function, "KafkaClusters").unwrap(),
            json!({
                "Sid": "KafkaClusters",
                "Effect": "Allow",
                "Action": ["kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"],
                "Resource": [cluster],
            })
        );
        assert_eq!(
            statement(&function, "KafkaIamAccess").unwrap()["Resource"],
            json!([
                cluster,
                "arn:aws:kafka:eu-west-1:123456789012:group/shop/0b1c-1/orders-reader",
                "arn:aws:kafka:eu-west-1:123456789012:topic/shop/0b1c-1/orders",
            ])
        );
        let network = statement(&function, "KafkaNetwork").unwrap();
        assert!(
            network["Action"]
                .as_array()
                .unwrap()
                .contains(&json!("ec2:CreateNetworkInterface")),
            "{network}"
        );
        assert_eq!(
            statement(&function, "KafkaSecrets").unwrap()["Resource"],
            json!([secret])
        );
        assert!(seen.lock().unwrap().is_empty(), "no AWS call");
    }
}
