//! Lambda's triggers, played locally (`serve --event-sources`): what Lambda's event source
//! mappings do with the functions' SQS queues (`sqs`), and Kinesis and DynamoDB streams
//! (`stream`), what S3's event notifications do with their buckets (`s3`, watched by listing
//! them), and what EventBridge does with their schedules (`schedule`, which needs no AWS),
//! against the AWS endpoint serve's environment configures (`AWS_ENDPOINT_URL`,
//! profile, region: a mock such as moto or LocalStack, or a real account).
//!
//! Each trigger is one poller, a task of [`Sources`], which serve stops with the rest. A
//! poller invokes its function as a mapping does, synchronously, through the emulator's own
//! pools (`Emulator::invoke_batch`): the invocation waits for a free instance, and its logs,
//! REPORT line and trace are those of any invocation. A trigger whose source cannot be found
//! is named in one error (the function and the setting) and left out; the others run.

mod s3;
mod schedule;
mod sqs;
mod stream;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::Value;
use tokio::task::JoinSet;

use super::instance::Outcome;
use super::{Call, Emulator, Trigger, lock};
use crate::aws::{Aws, Source};
use crate::deploy::Mapped;
use crate::error::CliError;
use crate::local::ACCOUNT;
use crate::project::Function;

/// The pollers of every trigger, stopped by [`Sources::shutdown`].
#[derive(Debug, Default)]
pub struct Sources {
    tasks: Mutex<JoinSet<()>>,
}

impl Sources {
    /// Starts polling the queues and streams of `functions`' triggers for `emulator`, in a task
    /// of its own: the AWS configuration is loaded and each source looked up while serve
    /// already answers.
    /// With `fire_now`, every schedule also fires once as serve starts.
    pub fn start(emulator: Arc<Emulator>, functions: Vec<Function>, fire_now: bool) -> Self {
        let sources = Self::default();
        lock(&sources.tasks).spawn(run(emulator, functions, fire_now));
        sources
    }

    /// Stops every poller (a batch being delivered is left to the queue's visibility timeout,
    /// as when Lambda's poller stops).
    pub async fn shutdown(&self) {
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        tasks.shutdown().await;
    }
}

/// Starts the schedules, connects to AWS, opens each trigger's source, and runs the pollers
/// of those found.
async fn run(emulator: Arc<Emulator>, functions: Vec<Function>, fire_now: bool) {
    let mut pollers = JoinSet::new();
    // Schedules need nothing of AWS: their rules' ARNs are in serve's region and account.
    for function in &functions {
        for (index, trigger) in function.deploy.triggers.schedule.iter().enumerate() {
            let at = Setting::new(function, "schedule", index, "expression");
            let rule = crate::deploy::schedule_rule_name(function.aws_name(), index);
            let rule_arn = format!("arn:aws:events:{}:{ACCOUNT}:rule/{rule}", emulator.region);
            match schedule::Timer::new(&at, trigger, (rule_arn, &emulator.region, ACCOUNT)) {
                Ok(timer) => {
                    println!(
                        "lambdakit: event source: `{}` fires `{}` ({at})",
                        timer.expression, function.name
                    );
                    pollers.spawn(timer.run(Arc::clone(&emulator), fire_now));
                }
                Err(problem) => eprintln!("error: {at} cannot be read: {problem}; it is left out"),
            }
        }
    }
    let aws = match Aws::connect(&Source::default()).await {
        Ok(aws) => aws,
        Err(error) => {
            refuse("serve's queues, streams and buckets are not polled", &error);
            while pollers.join_next().await.is_some() {}
            return;
        }
    };
    for function in &functions {
        for (index, trigger) in function.deploy.triggers.sqs.iter().enumerate() {
            let at = Setting::new(function, "sqs", index, "queue");
            match sqs::Queue::open(&aws, &at, trigger).await {
                Ok(queue) => {
                    println!(
                        "lambdakit: event source: `{}` polls the SQS queue {} ({at})",
                        function.name, queue.arn
                    );
                    pollers.spawn(queue.poll(Arc::clone(&emulator), aws.sqs.clone()));
                }
                Err(error) => refuse(&format!("{at} is left out"), &error),
            }
        }
    }
    for function in &functions {
        for (index, trigger) in function.deploy.triggers.s3.iter().enumerate() {
            let at = Setting::new(function, "s3", index, "bucket");
            match s3::Bucket::open(&aws, &at, index, trigger).await {
                Ok(bucket) => {
                    println!(
                        "lambdakit: event source: `{}` watches the S3 bucket `{}` ({at})",
                        function.name, bucket.name
                    );
                    pollers.spawn(bucket.watch(Arc::clone(&emulator), aws.s3.clone()));
                }
                Err(error) => refuse(&format!("{at} is left out"), &error),
            }
        }
    }
    for function in &functions {
        let triggers = &function.deploy.triggers;
        let streams = [
            (Mapped::Kinesis, &triggers.kinesis),
            (Mapped::DynamoDb, &triggers.dynamodb),
        ];
        for (kind, triggers) in streams {
            for (index, trigger) in triggers.iter().enumerate() {
                let key = if trigger.table.is_some() {
                    "table"
                } else {
                    "stream"
                };
                let at = Setting::new(function, kind.key(), index, key);
                match stream::Stream::open(&aws, kind, &at, trigger).await {
                    Ok(stream) => {
                        println!(
                            "lambdakit: event source: `{}` reads the stream {} ({at})",
                            function.name, stream.arn
                        );
                        pollers.spawn(stream.poll(Arc::clone(&emulator), aws.signed.clone()));
                    }
                    Err(error) => refuse(&format!("{at} is left out"), &error),
                }
            }
        }
    }
    if pollers.is_empty() {
        println!("lambdakit: event sources: no trigger of the functions served to poll");
    }
    // The pollers never end by themselves; they stop when this task is stopped.
    while pollers.join_next().await.is_some() {}
}

/// Prints `error` (and its hint) as serve's own, saying what became of the trigger.
fn refuse(what: &str, error: &CliError) {
    eprintln!("error: {error}; {what}");
    if let Some(hint) = error.hint() {
        eprintln!("hint: {hint}");
    }
}

/// Where a trigger is in the settings, for messages: the function, the trigger's kind and
/// index, and the key naming its source.
#[derive(Debug, Clone)]
pub(crate) struct Setting {
    function: String,
    path: String,
}

impl Setting {
    fn new(function: &Function, kind: &str, index: usize, key: &str) -> Self {
        Self {
            function: function.name.clone(),
            path: format!("triggers.{kind}[{index}].{key}"),
        }
    }
}

impl Setting {
    /// The error of a source (`resource`: "the SQS queue `jobs`") that does not exist at the
    /// endpoint serve calls: it names this setting, and how to `create` it when known.
    fn missing(&self, resource: &str, create: Option<&str>) -> CliError {
        let create = create
            .map(|create| format!(" (`{create}`)"))
            .unwrap_or_default();
        CliError::Conflict {
            resource: format!("{resource} ({self})"),
            problem:
                "does not exist at the AWS endpoint serve calls (`AWS_ENDPOINT_URL`, else AWS)"
                    .into(),
            hint: format!(
                "create it{create}, or fix `{}`; serve goes on without this trigger",
                self.path
            ),
        }
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` of the function `{}`", self.path, self.function)
    }
}

/// Invokes `function` asynchronously with `event`, as `what` (a schedule, an S3 object's
/// event) of the trigger `at` does, saying so.
fn fire(
    emulator: &Arc<Emulator>,
    (what, trigger): (&str, Trigger),
    function: &str,
    at: &Setting,
    event: &Value,
) {
    println!("lambdakit: {what} fires `{function}` ({at})");
    if let Err(problem) = emulator.invoke_event(function, event, trigger) {
        eprintln!("lambdakit: {what} did not fire `{function}` ({at}): {problem}");
    }
}

/// Whether a poller's calls to its source fail: an outage is said once, and so is its end.
#[derive(Debug, Default)]
struct Outage(bool);

impl Outage {
    /// A call to `source` answered.
    fn over(&mut self, source: &str) {
        if std::mem::take(&mut self.0) {
            eprintln!("lambdakit: {source} answers again");
        }
    }

    /// A call to `source` (read for `at`) failed with `error`; `doing` says what the call was
    /// for: "receive from", "list", "read".
    fn failed(&mut self, doing: &str, source: &str, at: &Setting, error: &dyn std::fmt::Display) {
        if !std::mem::replace(&mut self.0, true) {
            eprintln!("lambdakit: cannot {doing} {source} ({at}): {error}; trying again");
        }
    }
}

/// What a batch's invocation came to.
#[derive(Debug)]
pub(crate) enum Delivered {
    /// The function answered: its response, as JSON when it is JSON.
    Answered(Value),
    /// It failed (an error, a timeout, a crash): its error type and message.
    Failed(String),
}

/// The items a partial batch response (`{"batchItemFailures": [{"itemIdentifier": ID}]}`)
/// names, among `ids` (SQS message ids, or stream records' sequence numbers); a response without `batchItemFailures` (or `null`) names none.
///
/// # Errors
///
/// What is wrong with it, when it names an id that is not in the batch, or an empty one, or
/// is not in that shape: Lambda then counts the whole batch failed.
pub(crate) fn reported_failures<'a>(
    answer: &Value,
    ids: &[&'a str],
) -> Result<BTreeSet<&'a str>, String> {
    let failures = match answer.get("batchItemFailures") {
        None | Some(Value::Null) => return Ok(BTreeSet::new()),
        Some(Value::Array(failures)) => failures,
        Some(_) => return Err("a `batchItemFailures` that is not a list".into()),
    };
    let mut failed = BTreeSet::new();
    for failure in failures {
        let id = failure["itemIdentifier"].as_str().unwrap_or_default();
        match ids.iter().find(|known| **known == id) {
            Some(known) => failed.insert(*known),
            None => {
                return Err(format!(
                    "the `itemIdentifier` `{id}`, which is not an item of the batch"
                ));
            }
        };
    }
    Ok(failed)
}

impl Emulator {
    /// Invokes `function` asynchronously with `event`, as EventBridge and S3 do (`trigger`):
    /// it joins the function's queue of `Event` invocations (with its retries and
    /// destinations).
    ///
    /// # Errors
    ///
    /// Why the queue did not take it.
    pub(crate) fn invoke_event(
        self: &Arc<Self>,
        function: &str,
        event: &Value,
        trigger: Trigger,
    ) -> Result<(), String> {
        let this = self.this.get_or_init(|| Arc::downgrade(self));
        let pool = self
            .pool(function)
            .ok_or("the function is no longer served")?;
        let event = super::queue::Event {
            call: Call::new(Bytes::from(event.to_string()), trigger),
            pool,
            function: function.to_owned(),
            qualifier: "$LATEST".to_owned(),
            accepted: std::time::Instant::now(),
            attempts: 0,
        };
        self.queues
            .push(this, event)
            .map_err(|_| "its queue of asynchronous invocations is full".to_owned())
    }

    /// Invokes `function` with `event`, synchronously, as an event source mapping does: when
    /// every instance it may run is busy, it waits for one (a mapping's poller waits, rather
    /// than being throttled). `None` when the function is no longer served.
    pub(crate) async fn invoke_batch(&self, function: &str, event: &Value) -> Option<Delivered> {
        let payload = Bytes::from(event.to_string());
        let answer = loop {
            let pool = self.pool(function)?;
            // A rebuild holds new invocations (see `Emulator::hold_invocations`).
            let open = Arc::clone(&self.gate).read_owned().await;
            if let Some(claim) = pool.claim(None) {
                let call = Call::new(payload.clone(), Trigger::Poller);
                let invoked = pool.start(claim, call).await.settled().await;
                drop(open);
                break invoked;
            }
            drop(open);
            super::queue::freed(Some(&pool)).await;
        };
        Some(match answer.outcome {
            Outcome::Response(body) => Delivered::Answered(
                serde_json::from_slice(&body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into())),
            ),
            Outcome::Error(body) => {
                let error: Value = serde_json::from_slice(&body).unwrap_or_default();
                Delivered::Failed(format!(
                    "{}: {}",
                    error["errorType"].as_str().unwrap_or("Unknown"),
                    error["errorMessage"].as_str().unwrap_or_default()
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_batch_response_names_messages_of_the_batch_or_fails_it_whole() {
        let ids = ["a", "b", "c"];
        let failed = |answer: Value| reported_failures(&answer, &ids);
        assert_eq!(failed(serde_json::json!(null)).unwrap(), BTreeSet::new());
        assert_eq!(
            failed(serde_json::json!({"batchItemFailures": []})).unwrap(),
            BTreeSet::new()
        );
        assert_eq!(
            failed(serde_json::json!({"batchItemFailures": [{"itemIdentifier": "b"}]})).unwrap(),
            BTreeSet::from(["b"])
        );
        assert!(
            failed(serde_json::json!({"batchItemFailures": [{"itemIdentifier": "z"}]})).is_err()
        );
        assert!(failed(serde_json::json!({"batchItemFailures": [{}]})).is_err());
        assert!(failed(serde_json::json!({"batchItemFailures": "b"})).is_err());
    }
}
