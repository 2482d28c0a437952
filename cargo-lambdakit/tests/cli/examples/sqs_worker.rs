//! `examples/sqs-worker`: orders from an SQS queue, poison messages to its dead-letter queue.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use super::{allows, assert_batches_of_ten_from, deploy, role_statements, serve, take_over_queue};
use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::wait_until;

/// How long a received message stays invisible: short, so that failed messages come back
/// within the test.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(1);

/// The queue `orders`, whose messages go to `orders-dlq` after 2 receives, and the table the
/// function records orders in.
pub(super) fn create_queues_and_table(moto: &Moto) -> String {
    moto.aws(&["sqs", "create-queue", "--queue-name", "orders-dlq"]);
    let redrive = json!({
        "deadLetterTargetArn": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:orders-dlq"),
        "maxReceiveCount": "2",
    });
    let attributes = json!({
        "VisibilityTimeout": VISIBILITY_TIMEOUT.as_secs().to_string(),
        "RedrivePolicy": redrive.to_string(),
    });
    let created = moto.aws(&[
        "sqs",
        "create-queue",
        "--queue-name",
        "orders",
        "--attributes",
        &attributes.to_string(),
    ]);
    moto.create_table("processed-orders", "id", &[]);
    let created: Value = serde_json::from_str(&created).unwrap();
    created["QueueUrl"].as_str().unwrap().to_owned()
}

/// Sends `bodies` to the queue in one batch; their message ids, in order.
fn send(moto: &Moto, queue_url: &str, bodies: &[String]) -> Vec<String> {
    let entries: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(index, body)| json!({"Id": format!("e{index}"), "MessageBody": body}))
        .collect();
    let sent = moto.aws(&[
        "sqs",
        "send-message-batch",
        "--queue-url",
        queue_url,
        "--entries",
        &Value::from(entries).to_string(),
    ]);
    let sent: Value = serde_json::from_str(&sent).unwrap();
    assert!(
        sent["Failed"].as_array().is_none_or(Vec::is_empty),
        "{sent}"
    );
    let successful = sent["Successful"].as_array().unwrap();
    (0..bodies.len())
        .map(|index| {
            let entry = successful
                .iter()
                .find(|entry| entry["Id"] == format!("e{index}"))
                .unwrap();
            entry["MessageId"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn sqs_worker_records_good_orders_and_leaves_poison_messages_to_the_dead_letter_queue() {
    let Some(moto) = Moto::start() else { return };
    let queue_url = create_queues_and_table(&moto);
    deploy(&moto, "sqs-worker");

    assert_batches_of_ten_from(&moto, "sqs-worker", "orders").await;

    // The role reads the queue, and writes to the table, as the settings grant.
    let statements = role_statements(&moto, "sqs-worker").await;
    assert!(
        allows(
            &statements,
            "sqs:ReceiveMessage",
            &format!("arn:aws:sqs:{REGION}:{ACCOUNT}:orders")
        ),
        "{statements:#?}"
    );
    assert!(
        allows(
            &statements,
            "dynamodb:PutItem",
            "arn:aws:dynamodb:*:*:table/processed-orders"
        ),
        "{statements:#?}"
    );

    take_over_queue(&moto, "orders");

    let order = |id: &str, quantity: u32, unit_cents: u64| {
        json!({"id": id, "customer": "c-1", "lines": [{"sku": "apple", "quantity": quantity, "unit_cents": unit_cents}]})
            .to_string()
    };
    let bodies = [
        order("o-1", 3, 40),
        "{not json".to_owned(),
        order("o-2", 2, 450),
        // Fails its checks on every receive: a quantity of 0.
        order("o-3", 0, 40),
        order("o-4", 1, 720),
    ];
    let ids = send(&moto, &queue_url, &bodies);

    // serve plays the queue's event source mapping: batches, partial batch responses, and the
    // queue's redrive of what failed twice.
    let serve = serve(&moto, "sqs-worker", &["--event-sources"]);
    serve.output_with(&[&format!(
        "`sqs-worker` polls the SQS queue arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
    )]);
    let dlq = moto.aws(&["sqs", "get-queue-url", "--queue-name", "orders-dlq"]);
    let dlq: Value = serde_json::from_str(&dlq).unwrap();
    let dlq = dlq["QueueUrl"].as_str().unwrap();
    wait_until("the poison messages in the dead-letter queue", || {
        moto.messages_in(dlq) == 2
    });
    wait_until("`orders` empty", || moto.messages_in(&queue_url) == 0);

    // The poison messages wait in the dead-letter queue, untouched.
    let dead = moto.aws(&[
        "sqs",
        "receive-message",
        "--queue-url",
        dlq,
        "--max-number-of-messages",
        "10",
    ]);
    let dead: Value = serde_json::from_str(&dead).unwrap();
    let dead: BTreeSet<(&str, &str)> = dead["Messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| {
            (
                message["MessageId"].as_str().unwrap(),
                message["Body"].as_str().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<(&str, &str)> = [
        (ids[1].as_str(), bodies[1].as_str()),
        (ids[3].as_str(), bodies[3].as_str()),
    ]
    .into();
    assert_eq!(dead, expected);

    // The good orders are in the table, totalled, with the message each came in.
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.config().await);
    let scan = dynamodb
        .scan()
        .table_name("processed-orders")
        .send()
        .await
        .unwrap();
    let mut recorded: Vec<(String, String, String, String)> = scan
        .items()
        .iter()
        .map(|item| {
            let text = |name: &str| match &item[name] {
                AttributeValue::S(text) | AttributeValue::N(text) => text.clone(),
                other => panic!("{name}: {other:?}"),
            };
            (
                text("id"),
                text("items"),
                text("total_cents"),
                text("message_id"),
            )
        })
        .collect();
    recorded.sort();
    let row = |id: &str, items: &str, total: &str, message: &str| {
        (
            id.to_owned(),
            items.to_owned(),
            total.to_owned(),
            message.to_owned(),
        )
    };
    assert_eq!(
        recorded,
        [
            row("o-1", "3", "120", &ids[0]),
            row("o-2", "2", "900", &ids[2]),
            row("o-4", "1", "720", &ids[4]),
        ]
    );
}
