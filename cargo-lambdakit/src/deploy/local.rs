//! `deploy --local`: what of a function's settings `cargo lambdakit serve` takes. Its Lambda API
//! creates, configures, publishes, aliases and gives URLs and reserved concurrency to
//! functions, and publishes the layer versions of the project's extensions, as AWS does, so
//! those go through deploy's own code paths; what lives in other services (IAM roles, S3
//! uploads, event sources, layers of other accounts or regions) or what serve does not
//! emulate (provisioned concurrency) is left out, each with a note saying so.

use super::settings::Word as _;
use crate::local::ACCOUNT;
use crate::project::Function;

/// The execution role of functions deployed locally without a `role`: serve takes any role,
/// and runs no IAM.
pub(super) fn role() -> String {
    crate::local::role_arn("lambdakit-local")
}

/// The capacity provider `function` names in `managed_instances`, as serve is told it: serve
/// creates none (its environments are processes of its own), so the ARN is the one a deploy to
/// AWS would give it.
pub(super) fn capacity_provider(function: &Function, aws: &crate::aws::Aws) -> Option<String> {
    use super::settings::CapacityProvider;
    let managed = function.deploy.managed_instances.as_ref()?;
    Some(match &managed.capacity_provider {
        CapacityProvider::Existing(arn) => arn.clone(),
        CapacityProvider::Own(own) => aws.arn("lambda", &format!("capacity-provider:{}", own.name)),
    })
}

/// The function as serve (whose ARNs name `region`) takes it, and a note for each setting
/// left out.
pub(super) fn adapted(function: &Function, region: &str) -> (Function, Vec<String>) {
    let mut function = function.clone();
    let name = function.aws_name().to_owned();
    let mut notes = Vec::new();
    let deploy = &mut function.deploy;
    if let Some(layers) = &mut deploy.layers {
        // serve has only the layer versions published to it, all in its account and region.
        let served = format!("arn:aws:lambda:{region}:{ACCOUNT}:layer:");
        let (kept, elsewhere): (Vec<String>, Vec<String>) = std::mem::take(layers)
            .into_iter()
            .partition(|arn| arn.starts_with(&served));
        *layers = kept;
        if !elsewhere.is_empty() {
            let arns: Vec<String> = elsewhere.iter().map(|arn| format!("`{arn}`")).collect();
            let were = if arns.len() == 1 { "was" } else { "were" };
            notes.push(format!(
                "note: `{name}`: serve has only the layers published to it; {} {were} not attached",
                listed(&arns)
            ));
        }
    }
    if let Some(bucket) = deploy.upload_bucket.take() {
        notes.push(format!(
            "note: `{name}`: serve takes code inline; `upload_bucket` (`{bucket}`) is not used"
        ));
    }
    if let Some(instances) = deploy.provisioned_concurrency.take() {
        notes.push(format!(
            "note: `{name}`: serve runs no provisioned concurrency; {instances} instances were not provisioned"
        ));
    }
    if let Some(vpc) = deploy.vpc.take() {
        notes.push(format!(
            "note: `{name}`: serve runs functions on this machine's network; `vpc` (`{}`) is not used",
            vpc.subnets.join(" ")
        ));
    }
    if let Some(managed) = &deploy.managed_instances
        && let super::settings::CapacityProvider::Own(own) = &managed.capacity_provider
    {
        notes.push(format!(
            "note: `{name}`: serve creates no capacity provider (`{}`): it runs the function's environments itself, each taking its `concurrency` invocations at once",
            own.name
        ));
    }
    let retention = deploy.log_retention.take().is_some();
    let key = deploy.log_kms_key.take().is_some();
    if retention || key {
        notes.push(format!(
            "note: `{name}`: serve prints logs and keeps no log group; `log_retention` and `log_kms_key` are not used"
        ));
    }
    if let Some(setting) = deploy.recursive_loop.take() {
        notes.push(format!(
            "note: `{name}`: serve detects no recursive loops; `recursive_loop = \"{}\"` is not used",
            setting.as_str()
        ));
    }
    let triggers = std::mem::take(&mut deploy.triggers);
    let mut skipped: Vec<String> = Vec::new();
    skipped.extend(
        triggers
            .sqs
            .iter()
            .map(|queue| format!("the sqs trigger on `{}`", queue.source)),
    );
    skipped.extend(
        triggers
            .kinesis
            .iter()
            .map(|stream| format!("the kinesis trigger on `{}`", stream.source)),
    );
    skipped.extend(triggers.dynamodb.iter().map(|stream| {
        format!(
            "the dynamodb trigger on `{}`",
            stream.table.as_deref().unwrap_or(&stream.source)
        )
    }));
    skipped.extend(
        triggers
            .s3
            .iter()
            .map(|bucket| format!("the s3 trigger on `{}`", bucket.bucket)),
    );
    skipped.extend(
        triggers
            .schedule
            .iter()
            .map(|schedule| format!("the schedule `{}`", schedule.expression)),
    );
    skipped.extend(
        triggers
            .sns
            .iter()
            .map(|topic| format!("the sns trigger on `{}`", topic.topic)),
    );
    skipped.extend(
        triggers
            .logs
            .iter()
            .map(|logs| format!("the logs trigger on `{}`", logs.group)),
    );
    skipped.extend(
        triggers
            .firehose
            .iter()
            .map(|firehose| format!("the firehose trigger on `{}`", firehose.stream)),
    );
    skipped.extend(
        triggers
            .ses
            .iter()
            .map(|ses| format!("the ses trigger in `{}`", ses.rule_set)),
    );
    skipped.extend(
        triggers
            .iot
            .iter()
            .map(|iot| format!("the iot trigger `{}`", iot.sql)),
    );
    skipped.extend(
        triggers
            .cognito
            .iter()
            .map(|cognito| format!("the cognito trigger of `{}`", cognito.user_pool)),
    );
    skipped.extend(
        triggers
            .kafka
            .iter()
            .map(|kafka| format!("the kafka trigger on `{}`", kafka.topic)),
    );
    if !skipped.is_empty() {
        let were = if skipped.len() == 1 { "was" } else { "were" };
        notes.push(format!(
            "note: `{name}`: serve runs no event sources; {} {were} not set up",
            listed(&skipped)
        ));
    }
    (function, notes)
}

/// `a`, `a and b`, `a, b and c`.
fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::settings::{KafkaCluster, KafkaTrigger, ScheduleTrigger, StreamTrigger};

    #[test]
    fn what_serve_does_not_run_is_left_out_with_a_note() {
        let mut function = Function::standalone("sqs-worker");
        function.deploy.name = Some("orders-worker".into());
        function.deploy.upload_bucket = Some("artifacts".into());
        function.deploy.provisioned_concurrency = Some(2);
        function
            .deploy
            .triggers
            .sqs
            .push(StreamTrigger::new("orders"));
        function.deploy.triggers.schedule.push(ScheduleTrigger {
            expression: "rate(1 hour)".into(),
            input: None,
        });
        function.deploy.triggers.kafka.push(KafkaTrigger::new(
            KafkaCluster::SelfManaged(vec!["b-1.example.com:9092".into()]),
            "clicks",
        ));
        function.deploy.layers = Some(vec![
            "arn:aws:lambda:eu-west-1:123456789012:layer:tools:1".into(),
            "arn:aws:lambda:eu-central-1:123456789012:layer:shipper:2".into(),
            "arn:aws:lambda:eu-central-1:464622532012:layer:Datadog-Extension:60".into(),
        ]);
        let (function, notes) = adapted(&function, "eu-central-1");
        assert!(function.deploy.triggers.is_empty());
        assert_eq!(
            function.deploy.layers,
            Some(vec![
                "arn:aws:lambda:eu-central-1:123456789012:layer:shipper:2".into()
            ])
        );
        assert_eq!(function.deploy.upload_bucket, None);
        assert_eq!(function.deploy.provisioned_concurrency, None);
        assert_eq!(
            notes,
            [
                "note: `orders-worker`: serve has only the layers published to it; `arn:aws:lambda:eu-west-1:123456789012:layer:tools:1` and `arn:aws:lambda:eu-central-1:464622532012:layer:Datadog-Extension:60` were not attached",
                "note: `orders-worker`: serve takes code inline; `upload_bucket` (`artifacts`) is not used",
                "note: `orders-worker`: serve runs no provisioned concurrency; 2 instances were not provisioned",
                "note: `orders-worker`: serve runs no event sources; the sqs trigger on `orders`, the schedule `rate(1 hour)` and the kafka trigger on `clicks` were not set up",
            ]
        );
        let (_, none) = adapted(&Function::standalone("plain"), "eu-central-1");
        assert!(none.is_empty());
    }
}
