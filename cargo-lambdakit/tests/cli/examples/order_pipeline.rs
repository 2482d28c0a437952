//! `examples/order-pipeline`: validate → SQS → transform → SQS → load → DynamoDB, each step
//! idempotent on the order id.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use super::{
    allows, assert_batches_of_ten_from, deliver_from_queue, deploy, role_statements, serve,
    take_over_queue, triggers_of,
};
use crate::moto::Moto;
use crate::support::{Serve, invoke};

fn queue_url(moto: &Moto, queue: &str) -> String {
    let url: Value =
        serde_json::from_str(&moto.aws(&["sqs", "get-queue-url", "--queue-name", queue])).unwrap();
    url["QueueUrl"].as_str().unwrap().to_owned()
}

/// How many messages `queue` holds that a receive would get.
fn waiting(moto: &Moto, queue: &str) -> u64 {
    let attributes = moto.aws(&[
        "sqs",
        "get-queue-attributes",
        "--queue-url",
        &queue_url(moto, queue),
        "--attribute-names",
        "ApproximateNumberOfMessages",
    ]);
    let attributes: Value = serde_json::from_str(&attributes).unwrap();
    attributes["Attributes"]["ApproximateNumberOfMessages"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The bodies of the messages on `queue`, read without hiding them from the next receive.
fn peek(moto: &Moto, queue: &str) -> Vec<String> {
    let received = moto.aws(&[
        "sqs",
        "receive-message",
        "--queue-url",
        &queue_url(moto, queue),
        "--max-number-of-messages",
        "10",
        "--visibility-timeout",
        "0",
    ]);
    let received: Value = serde_json::from_str(&received).unwrap_or(Value::Null);
    received["Messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|message| message["Body"].as_str().unwrap().to_owned())
        .collect()
}

/// Sends `body` to `queue` again, as SQS does when it delivers a message twice.
fn redeliver(moto: &Moto, queue: &str, body: &str) {
    moto.aws(&[
        "sqs",
        "send-message",
        "--queue-url",
        &queue_url(moto, queue),
        "--message-body",
        body,
    ]);
}

/// Delivers the one message waiting on `queue` to `function`, which must take it.
fn deliver_one(moto: &Moto, serve: &Serve, function: &str, queue: &str) {
    let delivery = deliver_from_queue(moto, serve, function, queue)
        .unwrap_or_else(|| panic!("nothing on {queue} for {function}"));
    assert_eq!(delivery.message_ids.len(), 1, "{delivery:?}");
    assert_eq!(
        delivery.answer,
        json!({"batchItemFailures": []}),
        "{function} failed the message"
    );
}

#[tokio::test]
async fn order_pipeline_validates_prices_and_loads_orders_once_each() {
    let Some(moto) = Moto::start() else { return };
    for queue in ["orders-validated", "orders-priced"] {
        moto.aws(&["sqs", "create-queue", "--queue-name", queue]);
    }
    for table in ["orders", "order-idempotency"] {
        moto.create_table(table, "id", &[]);
    }

    deploy(&moto, "order-pipeline");
    assert_batches_of_ten_from(&moto, "transform", "orders-validated").await;
    assert_batches_of_ten_from(&moto, "load", "orders-priced").await;
    assert!(triggers_of(&moto, "validate").await.is_empty());

    // Each role may do what its step does, as the settings grant.
    for (function, action, resource) in [
        (
            "validate",
            "sqs:SendMessage",
            "arn:aws:sqs:*:*:orders-validated",
        ),
        (
            "transform",
            "sqs:SendMessage",
            "arn:aws:sqs:*:*:orders-priced",
        ),
        (
            "load",
            "dynamodb:UpdateItem",
            "arn:aws:dynamodb:*:*:table/orders",
        ),
        (
            "load",
            "dynamodb:PutItem",
            "arn:aws:dynamodb:*:*:table/order-idempotency",
        ),
    ] {
        let statements = role_statements(&moto, function).await;
        assert!(
            allows(&statements, action, resource),
            "{function}: {statements:#?}"
        );
    }
    // This test plays the queues' event source mappings itself.
    take_over_queue(&moto, "orders-validated");
    take_over_queue(&moto, "orders-priced");

    let serve = serve(&moto, "order-pipeline", &[]);
    let validate =
        |order: &Value| invoke(serve.address, "validate", &[], order.to_string().as_bytes());

    // A good order is queued; a caller's retry of it gets the same answer and queues nothing.
    let order = json!({
        "id": "o-1",
        "customer": "ada",
        "lines": [{"sku": "melon", "quantity": 2}, {"sku": "apple", "quantity": 3}]
    });
    let accepted = validate(&order);
    assert!(
        accepted.header("x-amz-function-error").is_none(),
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    let accepted = accepted.json();
    assert_eq!(accepted["order_id"], "o-1");
    assert!(
        accepted["message_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(validate(&order).json(), accepted);
    // A bad order is refused with a reason, and nothing is queued.
    let refused = validate(&json!({
        "id": "o-9", "customer": "ada", "lines": [{"sku": "kiwi", "quantity": 1}]
    }));
    assert_eq!(refused.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(refused.json()["errorType"], "InvalidOrder");
    assert_eq!(
        refused.json()["errorMessage"],
        "lines[0]: `kiwi` is not for sale"
    );
    let validated = peek(&moto, "orders-validated");
    assert_eq!(validated.len(), 1, "{validated:?}");
    let validated = validated[0].clone();
    assert_eq!(serde_json::from_str::<Value>(&validated).unwrap(), order);

    // transform prices it and queues it for load, which writes it.
    deliver_one(&moto, &serve, "transform", "orders-validated");
    let priced = peek(&moto, "orders-priced");
    assert_eq!(priced.len(), 1, "{priced:?}");
    let priced = priced[0].clone();
    let priced_order: Value = serde_json::from_str(&priced).unwrap();
    assert_eq!(priced_order["total_cents"], 760);
    assert_eq!(priced_order["lines"][0]["cents"], 640);
    deliver_one(&moto, &serve, "load", "orders-priced");

    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.config().await);
    let item = |id: &str| {
        let request = dynamodb
            .get_item()
            .table_name("orders")
            .key("id", AttributeValue::S(id.to_owned()))
            .send();
        async move { request.await.unwrap().item.unwrap() }
    };
    let number = |value: u64| AttributeValue::N(value.to_string());
    let loaded = item("o-1").await;
    assert_eq!(loaded["customer"], AttributeValue::S("ada".into()));
    assert_eq!(loaded["total_cents"], number(760));
    assert_eq!(loaded["lines"].as_l().unwrap().len(), 2);
    let totals = item("customer#ada").await;
    assert_eq!(totals["order_count"], number(1));
    assert_eq!(totals["total_cents"], number(760));

    // Another order of the same customer adds to the totals.
    let other =
        json!({"id": "o-2", "customer": "ada", "lines": [{"sku": "cheese", "quantity": 1}]});
    assert_eq!(validate(&other).json()["order_id"], "o-2");
    deliver_one(&moto, &serve, "transform", "orders-validated");
    deliver_one(&moto, &serve, "load", "orders-priced");
    let totals = item("customer#ada").await;
    assert_eq!(totals["order_count"], number(2));
    assert_eq!(totals["total_cents"], number(1480));

    // SQS delivers the first order's messages again: each step answers from its record,
    // without sending or adding anything.
    redeliver(&moto, "orders-validated", &validated);
    deliver_one(&moto, &serve, "transform", "orders-validated");
    assert_eq!(
        waiting(&moto, "orders-priced"),
        0,
        "transform sent it twice"
    );
    redeliver(&moto, "orders-priced", &priced);
    deliver_one(&moto, &serve, "load", "orders-priced");
    let totals = item("customer#ada").await;
    assert_eq!(totals["order_count"], number(2), "load added it twice");
    assert_eq!(totals["total_cents"], number(1480));
    assert_eq!(waiting(&moto, "orders-validated"), 0);
    assert_eq!(waiting(&moto, "orders-priced"), 0);
}
