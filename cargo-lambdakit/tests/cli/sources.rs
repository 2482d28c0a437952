//! `serve --event-sources`: the triggers of `tests/sources`' function played against moto, as
//! Lambda's event source mappings play them. The function prints a line per record it
//! processed (`sources: KIND ...`), in order; the tests read them, and what is left on moto.

use serde_json::{Value, json};
use std::collections::BTreeSet;

use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::{Serve, wait_until};

/// `serve --event-sources` of `tests/sources`, against `moto`.
fn serve(moto: &Moto) -> Serve {
    let mut command = moto.command("test-sources", &["serve", "--port", "0", "--event-sources"]);
    command.env("RUST_LOG", "info");
    Serve::spawn(command)
}

/// Creates the queue `name` with `attributes`; its URL.
fn create_queue(moto: &Moto, name: &str, attributes: &Value) -> String {
    let created = moto.aws(&[
        "sqs",
        "create-queue",
        "--queue-name",
        name,
        "--attributes",
        &attributes.to_string(),
    ]);
    let created: Value = serde_json::from_str(&created).unwrap();
    created["QueueUrl"].as_str().unwrap().to_owned()
}

/// Sends `bodies` to the queue at `url` in one batch, in order, each of FIFO group `group`
/// when given.
fn send(moto: &Moto, url: &str, bodies: &[&str], group: Option<&str>) {
    let entries: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(index, body)| {
            let mut entry = json!({"Id": format!("e{index}"), "MessageBody": body});
            if let Some(group) = group {
                entry["MessageGroupId"] = json!(group);
                entry["MessageDeduplicationId"] = json!(format!("{group}-{index}-{body}"));
            }
            entry
        })
        .collect();
    moto.aws(&[
        "sqs",
        "send-message-batch",
        "--queue-url",
        url,
        "--entries",
        &Value::from(entries).to_string(),
    ]);
}

/// The bodies of the messages received from `url` now (made invisible for a minute, so that
/// a later call gets the others).
fn receive(moto: &Moto, url: &str) -> Vec<String> {
    let received = moto.aws(&[
        "sqs",
        "receive-message",
        "--queue-url",
        url,
        "--max-number-of-messages",
        "10",
        "--visibility-timeout",
        "60",
    ]);
    let received: Value = serde_json::from_str(&received).unwrap_or(Value::Null);
    received["Messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|message| message["Body"].as_str().unwrap().to_owned())
        .collect()
}

/// The lines the function printed for records of `queue`: `BODY group=G receives=N`.
fn delivered(serve: &Serve, queue: &str) -> Vec<String> {
    let prefix = format!("sources: sqs {queue} ");
    serve
        .output()
        .iter()
        .filter_map(|line| line.split_once(&prefix).map(|(_, rest)| rest.to_owned()))
        .collect()
}

#[test]
fn sqs_batches_are_deleted_when_done_and_redriven_to_the_dead_letter_queue_when_not() {
    let Some(moto) = Moto::start() else { return };
    let dlq = create_queue(&moto, "jobs-dlq", &json!({}));
    let redrive = json!({
        "deadLetterTargetArn": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:jobs-dlq"),
        "maxReceiveCount": "2",
    });
    let jobs = create_queue(
        &moto,
        "jobs",
        &json!({"VisibilityTimeout": "1", "RedrivePolicy": redrive.to_string()}),
    );
    let fifo = create_queue(
        &moto,
        "jobs.fifo",
        &json!({"FifoQueue": "true", "VisibilityTimeout": "1"}),
    );
    // The function's third queue, `plain`, is not created.

    let serve = serve(&moto);
    let errors = serve.errors_with(&["`triggers.sqs[2].queue` of the function `sources`"]);
    let refused = errors
        .iter()
        .find(|line| line.contains("`triggers.sqs[2].queue`"))
        .unwrap();
    assert!(
        refused.starts_with("error: the SQS queue `plain`") && refused.contains("does not exist"),
        "{refused}"
    );
    serve.errors_with(&["hint: create it (`aws sqs create-queue --queue-name plain`)"]);
    serve.output_with(&[
        "`sources` polls the SQS queue arn:aws:sqs:eu-west-1:123456789012:jobs.fifo",
    ]);

    // A partial batch response: `fail` stays, and after its second receive goes to the
    // dead-letter queue; the others are deleted after one delivery.
    send(&moto, &jobs, &["a", "fail", "b"], None);
    let mut dead = BTreeSet::new();
    wait_until("`fail` in the dead-letter queue", || {
        dead.extend(receive(&moto, &dlq));
        dead.contains("fail")
    });
    wait_until("`jobs` empty", || moto.messages_in(&jobs) == 0);
    let lines = delivered(&serve, "jobs");
    for body in ["a", "b"] {
        let times = lines
            .iter()
            .filter(|line| line.starts_with(&format!("{body} ")))
            .count();
        assert_eq!(times, 1, "{body} delivered once: {lines:#?}");
    }
    assert!(
        lines.contains(&"fail group=- receives=1".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"fail group=- receives=2".to_owned()),
        "{lines:#?}"
    );

    // A function error fails the whole batch: nothing is deleted, and the queue redrives it.
    send(&moto, &jobs, &["crash"], None);
    wait_until("`crash` in the dead-letter queue", || {
        dead.extend(receive(&moto, &dlq));
        dead.contains("crash")
    });
    serve.errors_with(&[
        "`sources` failed a batch of 1 from arn:aws:sqs:eu-west-1:123456789012:jobs (AskedToCrash",
    ]);
    let crashes: Vec<String> = delivered(&serve, "jobs")
        .into_iter()
        .filter(|line| line.starts_with("crash "))
        .collect();
    assert_eq!(
        crashes,
        ["crash group=- receives=1", "crash group=- receives=2"]
    );

    // FIFO: each group in order, `flaky` again after it failed once. (That a failed message
    // keeps the rest of its group behind it is `kept`'s unit test: moto hands a group's
    // messages back out of order once several of them time out together.)
    send(&moto, &fifo, &["g1", "g2", "flaky"], Some("g"));
    send(&moto, &fifo, &["h1", "h2"], Some("h"));
    wait_until("`jobs.fifo` empty", || moto.messages_in(&fifo) == 0);
    let lines = delivered(&serve, "jobs.fifo");
    let of_group = |group: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|line| line.contains(&format!(" group={group} ")))
            .cloned()
            .collect()
    };
    assert_eq!(
        of_group("g"),
        [
            "g1 group=g receives=1",
            "g2 group=g receives=1",
            "flaky group=g receives=1",
            "flaky group=g receives=2",
        ]
    );
    assert_eq!(
        of_group("h"),
        ["h1 group=h receives=1", "h2 group=h receives=1"]
    );
    // The function's own lines came through serve's log, as any invocation's do.
    assert!(
        serve
            .output()
            .iter()
            .any(|line| line.starts_with("REPORT RequestId:"))
    );
}

/// The lines the function printed for records of `kind` (`kinesis`, `dynamodb`).
fn printed(serve: &Serve, kind: &str) -> Vec<String> {
    let prefix = format!("sources: {kind} ");
    serve
        .output()
        .iter()
        .filter_map(|line| line.split_once(&prefix).map(|(_, rest)| rest.to_owned()))
        .collect()
}

/// `lines` with each one's repeats left out: the order in which they first came.
fn first_seen(lines: &[String]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in lines {
        if !seen.contains(line) {
            seen.push(line.clone());
        }
    }
    seen
}

#[test]
fn stream_records_come_in_order_and_failed_batches_are_retried_from_their_checkpoint() {
    let Some(moto) = Moto::start() else { return };
    moto.aws(&[
        "kinesis",
        "create-stream",
        "--stream-name",
        "clicks",
        "--shard-count",
        "1",
    ]);
    moto.create_table(
        "orders",
        "id",
        &[
            "--stream-specification",
            "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES",
        ],
    );
    // Written before serve starts: read from `TRIM_HORIZON`. (The AWS CLI v1 takes blobs as
    // their text.)
    let entries =
        json!(["a", "flaky", "b"].map(|data| { json!({"Data": data, "PartitionKey": "k"}) }));
    moto.aws(&[
        "kinesis",
        "put-records",
        "--stream-name",
        "clicks",
        "--records",
        &entries.to_string(),
    ]);

    let serve = serve(&moto);
    serve.output_with(&[
        "`sources` reads the stream arn:aws:kinesis:eu-west-1:123456789012:stream/clicks",
        "`sources` reads the stream arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/",
    ]);

    // Kinesis: `flaky` is reported failed once; the batch is retried from it, so `a` is not
    // delivered again.
    wait_until("`b` from Kinesis", || {
        printed(&serve, "kinesis").contains(&"b".to_owned())
    });
    assert_eq!(printed(&serve, "kinesis"), ["a", "flaky", "flaky", "b"]);

    // DynamoDB: `flaky` fails its whole batch once, which is retried, in order.
    for id in ["x1", "flaky", "x2"] {
        let item = json!({"id": {"S": id}});
        moto.aws(&[
            "dynamodb",
            "put-item",
            "--table-name",
            "orders",
            "--item",
            &item.to_string(),
        ]);
    }
    wait_until("`x2` from DynamoDB", || {
        printed(&serve, "dynamodb").contains(&"INSERT x2".to_owned())
    });
    let lines = printed(&serve, "dynamodb");
    assert_eq!(
        first_seen(&lines),
        ["INSERT x1", "INSERT flaky", "INSERT x2"],
        "{lines:#?}"
    );
    let flaky = lines.iter().filter(|line| *line == "INSERT flaky").count();
    assert_eq!(flaky, 2, "{lines:#?}");
    serve.errors_with(&["`sources` failed (AskedToCrash: `flaky` fails once) on a batch"]);
}

#[test]
fn a_failed_stream_batch_is_bisected_and_a_record_that_keeps_failing_is_skipped_after_its_retries()
{
    let Some(moto) = Moto::start() else { return };
    // Only `bisected` (batches of 4, bisected on error, 1 retry): the other streams are left
    // out.
    moto.aws(&[
        "kinesis",
        "create-stream",
        "--stream-name",
        "bisected",
        "--shard-count",
        "1",
    ]);
    let entries =
        json!(["a", "b", "crash", "c", "d"].map(|data| json!({"Data": data, "PartitionKey": "k"})));
    moto.aws(&[
        "kinesis",
        "put-records",
        "--stream-name",
        "bisected",
        "--records",
        &entries.to_string(),
    ]);

    let serve = serve(&moto);
    wait_until("`d` from Kinesis", || {
        printed(&serve, "kinesis").contains(&"d".to_owned())
    });
    // [a b crash c] fails: split into [a b], done, and [crash c], which fails: split into
    // [crash], which fails, is retried once, fails again and is skipped; then [c], and the
    // next batch, [d].
    assert_eq!(
        printed(&serve, "kinesis"),
        [
            "a", "b", "crash", "a", "b", "crash", "crash", "crash", "c", "d"
        ]
    );
    let errors = serve.errors_with(&["(`maximum_retry_attempts`); skipping its records"]);
    let splits: Vec<&String> = errors
        .iter()
        .filter(|line| line.contains("splitting it in two"))
        .collect();
    assert_eq!(splits.len(), 2, "{errors:#?}");
    assert!(
        splits[0].contains("on a batch of 4 from arn:aws:kinesis:"),
        "{errors:#?}"
    );
    let skipped: Vec<&String> = errors
        .iter()
        .filter(|line| line.contains("skipping its records"))
        .collect();
    assert_eq!(skipped.len(), 1, "{errors:#?}");
    assert!(skipped[0].contains("on a batch of 1 from"), "{errors:#?}");
}

/// Writes `body` to `key` in the bucket `photos`, with the AWS CLI.
fn put_photo(moto: &Moto, key: &str, body: &str) {
    let file = std::env::temp_dir().join(format!("lambdakit-sources-{}", std::process::id()));
    std::fs::write(&file, body).unwrap();
    moto.aws(&[
        "s3api",
        "put-object",
        "--bucket",
        "photos",
        "--key",
        key,
        "--body",
        file.to_str().unwrap(),
    ]);
    std::fs::remove_file(file).unwrap();
}

/// The ETag S3 gives an object of one part: its MD5, in hex.
fn etag(body: &str) -> String {
    use md5::Digest as _;
    md5::Md5::digest(body.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn s3_objects_created_changed_and_removed_fire_notifications_that_match_the_filter() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("photos");
    // There before serve: fires only when it changes.
    put_photo(&moto, "in/old.png", "old");
    put_photo(&moto, "in/kept.png", "kept");
    // The function's second bucket, `missing`, is not created.

    let serve = serve(&moto);
    let errors = serve.errors_with(&["`triggers.s3[1].bucket` of the function `sources`"]);
    let refused = errors
        .iter()
        .find(|line| line.contains("`triggers.s3[1].bucket`"))
        .unwrap();
    assert!(
        refused.starts_with("error: the S3 bucket `missing`") && refused.contains("does not exist"),
        "{refused}"
    );
    serve.errors_with(&["hint: create it (`aws s3api create-bucket --bucket missing`)"]);
    serve.output_with(&["`sources` watches the S3 bucket `photos` (`triggers.s3[0].bucket`"]);

    put_photo(&moto, "in/my photo.png", "a new photo");
    put_photo(&moto, "in/old.png", "changed");
    // Outside the prefix, or without the suffix: no event.
    put_photo(&moto, "out/other.png", "other");
    put_photo(&moto, "in/notes.txt", "notes");
    let created = [
        // S3 sends keys URL-encoded.
        format!(
            "ObjectCreated:Put photos in/my+photo.png size=11 etag={}",
            etag("a new photo")
        ),
        format!(
            "ObjectCreated:Put photos in/old.png size=7 etag={}",
            etag("changed")
        ),
    ];
    wait_until("both puts delivered", || {
        let lines = printed(&serve, "s3");
        created.iter().all(|line| lines.contains(line))
    });
    moto.aws(&[
        "s3api",
        "delete-object",
        "--bucket",
        "photos",
        "--key",
        "in/my photo.png",
    ]);
    let removed = "ObjectRemoved:Delete photos in/my+photo.png size=- etag=-".to_owned();
    wait_until("the delete delivered", || {
        printed(&serve, "s3").contains(&removed)
    });
    let mut lines = printed(&serve, "s3");
    lines.sort();
    let mut expected = created.to_vec();
    expected.push(removed);
    expected.sort();
    assert_eq!(lines, expected);
    serve.output_with(&["lambdakit: s3://photos/in/old.png (ObjectCreated:Put) fires `sources`"]);
}

#[test]
fn schedules_fire_at_once_with_fire_schedules_and_without_aws() {
    // No AWS at all: schedules need none, and serve says the queues, streams and buckets are
    // not polled.
    let mut command = crate::support::lambdakit();
    command
        .args([
            "serve",
            "--port",
            "0",
            "--event-sources",
            "--fire-schedules",
        ])
        .args(["--locked", "-p", "test-sources", "--manifest-path"])
        .arg(crate::support::workspace().join("Cargo.toml"))
        .env("AWS_REGION", REGION)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    let serve = Serve::spawn(command);
    let rule = format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/lambdakit-sources-0");
    serve.output_with(&[
        "lambdakit: event source: `rate(1 day)` fires `sources`",
        &format!("sources: schedule Scheduled Event {rule}"),
    ]);
    serve.errors_with(&["serve's queues, streams and buckets are not polled"]);
}
