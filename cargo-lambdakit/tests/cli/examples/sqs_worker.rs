//! `examples/sqs-worker`: orders from an SQS queue, poison messages to its dead-letter queue.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use super::{
    allows, assert_batches_of_ten_from, deliver_from_queue, deploy, role_statements, serve,
    take_over_queue,
};
use crate::moto::{ACCOUNT, Moto, REGION};

/// How long a received message stays invisible: short, so that failed messages come back
/// within the test.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(1);

/// The queue `orders`, whose messages go to `orders-dlq` after 2 receives, and the table the
/// function records orders in.
fn create_queues_and_table(moto: &Moto) -> String {
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
    let poison: BTreeSet<&str> = [ids[1].as_str(), ids[3].as_str()].into();

    let serve = serve(&moto, "sqs-worker", &[]);
    serve.output_with(&["try `cargo lambdakit invoke sqs-worker", "--event sqs`"]);
    let mut deliveries = Vec::new();
    for _ in 0..10 {
        match deliver_from_queue(&moto, &serve, "sqs-worker", "orders") {
            Some(delivery) => deliveries.push(delivery),
            None if moto.messages_in(&queue_url) == 0 => break,
            None => {}
        }
        // The failed messages are back once their visibility timeout is over.
        std::thread::sleep(VISIBILITY_TIMEOUT + Duration::from_millis(200));
    }
    assert_eq!(moto.messages_in(&queue_url), 0, "{deliveries:#?}");

    // Each answer named exactly the poison messages of its batch; each good order came once
    // and each poison message twice (`maxReceiveCount`) before the queue gave up on it.
    let mut received = Vec::new();
    for delivery in &deliveries {
        let failed: BTreeSet<&str> = delivery.answer["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|failure| failure["itemIdentifier"].as_str().unwrap())
            .collect();
        let expected: BTreeSet<&str> = delivery
            .message_ids
            .iter()
            .map(String::as_str)
            .filter(|id| poison.contains(id))
            .collect();
        assert_eq!(failed, expected, "{delivery:?}");
        received.extend(delivery.message_ids.iter().map(String::as_str));
    }
    for id in &ids {
        let times = received.iter().filter(|received| *received == id).count();
        let expected = if poison.contains(id.as_str()) { 2 } else { 1 };
        assert_eq!(times, expected, "{id} in {deliveries:#?}");
    }

    // The poison messages wait in the dead-letter queue, untouched.
    let dlq = moto.aws(&["sqs", "get-queue-url", "--queue-name", "orders-dlq"]);
    let dlq: Value = serde_json::from_str(&dlq).unwrap();
    let dead = moto.aws(&[
        "sqs",
        "receive-message",
        "--queue-url",
        dlq["QueueUrl"].as_str().unwrap(),
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
