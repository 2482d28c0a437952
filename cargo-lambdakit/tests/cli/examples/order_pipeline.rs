//! `examples/order-pipeline`: validate → SQS → transform → SQS → load → DynamoDB, each step
//! idempotent on the order id; and the same pipeline as the state machine `order-flow`.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use super::{
    allows, assert_batches_of_ten_from, deploy, role_statements, serve, take_over_queue,
    triggers_of,
};
use crate::moto::{ACCOUNT, Moto, REGION};
use crate::support::{Serve, invoke, wait_until};

fn queue_url(moto: &Moto, queue: &str) -> String {
    let url: Value =
        serde_json::from_str(&moto.aws(&["sqs", "get-queue-url", "--queue-name", queue])).unwrap();
    url["QueueUrl"].as_str().unwrap().to_owned()
}

/// How many messages the two queues hold, waiting or being processed: none once the
/// functions took them all.
fn queued(moto: &Moto) -> u64 {
    ["orders-validated", "orders-priced"]
        .map(|queue| moto.messages_in(&queue_url(moto, queue)))
        .iter()
        .sum()
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

/// How many lines of serve's output say `what` of the order `order` (the functions' log
/// lines: `priced`, `loaded`).
fn logged(serve: &Serve, what: &str, order: &str) -> usize {
    let order = format!("order={order}");
    serve
        .output()
        .iter()
        .filter(|line| line.contains(what) && line.contains(&order))
        .count()
}

/// The number attribute `name` of the item `id` of the table `orders`, read with the AWS CLI
/// (`None` while there is no such item).
fn stored(moto: &Moto, id: &str, name: &str) -> Option<u64> {
    let key = json!({"id": {"S": id}}).to_string();
    let found = moto.aws(&[
        "dynamodb",
        "get-item",
        "--table-name",
        "orders",
        "--key",
        &key,
    ]);
    let found: Value = serde_json::from_str(&found).unwrap_or(Value::Null);
    found["Item"][name]["N"].as_str()?.parse().ok()
}

#[tokio::test]
async fn order_pipeline_validates_prices_and_loads_orders_once_each() {
    let Some(moto) = Moto::start() else { return };
    create_resources(&moto);

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
    // moto would run the mappings itself; serve plays them.
    take_over_queue(&moto, "orders-validated");
    take_over_queue(&moto, "orders-priced");

    let serve = serve(&moto, "order-pipeline", &["--event-sources"]);
    serve.output_with(&[
        "`transform` polls the SQS queue",
        "`load` polls the SQS queue",
    ]);
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

    // transform prices it and queues it for load, which writes it: through the queues'
    // event sources, each once.
    wait_until("o-1 loaded", || {
        stored(&moto, "o-1", "total_cents").is_some()
    });
    wait_until("the queues empty", || queued(&moto) == 0);
    assert_eq!(logged(&serve, "priced", "o-1"), 1);
    assert_eq!(logged(&serve, "loaded", "o-1"), 1);
    assert_eq!(logged(&serve, "loaded", "o-9"), 0);

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
    wait_until("o-2 added to ada's totals", || {
        stored(&moto, "customer#ada", "order_count") == Some(2)
    });
    let totals = item("customer#ada").await;
    assert_eq!(totals["total_cents"], number(1480));

    // SQS delivers the first order's messages again (as validate and transform sent them):
    // each step answers from its record, without sending or adding anything.
    redeliver(&moto, "orders-validated", &order.to_string());
    let priced = json!({
        "id": "o-1",
        "customer": "ada",
        "lines": [
            {"sku": "melon", "quantity": 2, "unit_cents": 320, "cents": 640},
            {"sku": "apple", "quantity": 3, "unit_cents": 40, "cents": 120},
        ],
        "total_cents": 760,
    });
    redeliver(&moto, "orders-priced", &priced.to_string());
    wait_until("both redelivered messages taken", || queued(&moto) == 0);
    assert_eq!(
        logged(&serve, "priced", "o-1"),
        1,
        "transform sent it twice"
    );
    assert_eq!(logged(&serve, "loaded", "o-1"), 1, "load added it twice");
    let totals = item("customer#ada").await;
    assert_eq!(totals["order_count"], number(2), "load added it twice");
    assert_eq!(totals["total_cents"], number(1480));
}

/// Creates what the package's functions use: the queues and the tables.
pub(super) fn create_resources(moto: &Moto) {
    for queue in ["orders-validated", "orders-priced"] {
        moto.aws(&["sqs", "create-queue", "--queue-name", queue]);
    }
    for table in ["orders", "order-idempotency"] {
        moto.create_table(table, "id", &[]);
    }
}

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// The execution of `machine` on `serve` that `input` starts, once it has ended.
async fn execute(
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
    name: &str,
    input: &Value,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    let started = sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    crate::local_states::ended(sfn, started.execution_arn()).await
}

/// The functions an execution's Task states invoked, in the order they were scheduled, and
/// the errors of those that failed.
async fn invoked(sfn: &aws_sdk_sfn::Client, execution: &str) -> (Vec<String>, Vec<String>) {
    let history = sfn
        .get_execution_history()
        .execution_arn(execution)
        .send()
        .await
        .unwrap();
    let mut functions = Vec::new();
    let mut errors = Vec::new();
    for event in history.events() {
        if let Some(scheduled) = event.lambda_function_scheduled_event_details() {
            let name = scheduled.resource().rsplit(':').next().unwrap();
            functions.push(name.to_owned());
        }
        if let Some(failed) = event.lambda_function_failed_event_details() {
            errors.push(failed.error().unwrap_or_default().to_owned());
        }
    }
    (functions, errors)
}

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The key of `order_id`'s record among load's idempotency records, as
/// `order_pipeline::idempotency` makes it: the step's prefix and the SHA-256 of the id as
/// JSON.
fn load_record_key(order_id: &str) -> String {
    format!(
        "order-pipeline.load#{}",
        sha256_hex(&json!(order_id).to_string())
    )
}

/// The order o-2 as store-order holds it (priced, the members of each object in order), whose
/// SHA-256 its idempotency record keeps to tell a repeat from another order of the same id.
const HELD_ORDER: &str = r#"{"customer":"bob","id":"o-2","lines":[{"cents":720,"quantity":1,"sku":"cheese","unit_cents":720}],"total_cents":720}"#;

#[tokio::test]
async fn order_pipeline_runs_as_a_state_machine_deployed_to_moto_and_run_on_serve() {
    let Some(moto) = Moto::start() else { return };
    create_resources(&moto);
    deploy(&moto, "order-pipeline");

    // The machine, its references turned into the functions' ARNs.
    let config = moto.config().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let machine_arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:order-flow");
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(&machine_arn)
        .send()
        .await
        .unwrap();
    let definition: Value = serde_json::from_str(described.definition()).unwrap();
    let states = &definition["States"];
    assert_eq!(states["Validate"]["Resource"], function_arn("check-order"));
    assert_eq!(
        states["Transform"]["ItemProcessor"]["States"]["PriceLine"]["Resource"],
        function_arn("price-line")
    );
    assert_eq!(states["Load"]["Resource"], function_arn("store-order"));
    assert_eq!(
        states["Reject"]["Resource"],
        function_arn("record-rejection")
    );
    assert_eq!(
        states["Load"]["Retry"][1]["ErrorEquals"],
        json!(["IdempotencyAlreadyInProgress"])
    );
    assert_eq!(
        described.role_arn(),
        format!("arn:aws:iam::{ACCOUNT}:role/order-flow-states-lambdakit")
    );

    // Its role may invoke the four functions it names, and nothing else.
    let iam = aws_sdk_iam::Client::new(&config);
    let policy = iam
        .get_role_policy()
        .role_name("order-flow-states-lambdakit")
        .policy_name("lambdakit")
        .send()
        .await
        .unwrap();
    let policy: Value =
        serde_json::from_str(&cargo_lambdakit::percent::decode(policy.policy_document())).unwrap();
    let mut steps: Vec<String> = [
        "check-order",
        "price-line",
        "record-rejection",
        "store-order",
    ]
    .map(function_arn)
    .to_vec();
    steps.sort();
    assert_eq!(
        policy["Statement"],
        json!([{
            "Sid": "InvokeFunctions",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": steps,
        }])
    );
    // The steps may write what they write.
    for function in ["store-order", "record-rejection"] {
        let statements = role_statements(&moto, function).await;
        assert!(
            allows(
                &statements,
                "dynamodb:PutItem",
                "arn:aws:dynamodb:*:*:table/orders"
            ),
            "{function}: {statements:#?}"
        );
    }

    // On serve, its functions' AWS calls going to moto: the machine as deploy made it.
    let serve = serve(&moto, "order-pipeline", &[]);
    let local = crate::local_states::client(&serve.endpoint()).await;
    let created = local
        .create_state_machine()
        .name("order-flow")
        .role_arn(described.role_arn())
        .definition(described.definition())
        .send()
        .await
        .unwrap();
    let machine = created.state_machine_arn();
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let item = |id: String| {
        let request = dynamodb
            .get_item()
            .table_name("orders")
            .key("id", AttributeValue::S(id))
            .send();
        async move { request.await.unwrap().item }
    };
    let number = |value: u64| AttributeValue::N(value.to_string());

    // A good order: each line priced by the Map, the order loaded.
    let order = json!({
        "id": "o-1",
        "customer": "ada",
        "lines": [{"sku": "melon", "quantity": 2}, {"sku": "apple", "quantity": 3}]
    });
    let ended = execute(&local, machine, "o-1", &order).await;
    assert_eq!(ended.status().as_str(), "SUCCEEDED", "{ended:?}");
    let output: Value = serde_json::from_str(ended.output().unwrap()).unwrap();
    assert_eq!(
        output["lines"],
        json!([
            {"sku": "melon", "quantity": 2, "unit_cents": 320, "cents": 640},
            {"sku": "apple", "quantity": 3, "unit_cents": 40, "cents": 120},
        ])
    );
    assert_eq!(
        output["loaded"],
        json!({"order_id": "o-1", "total_cents": 760})
    );
    let (functions, errors) = invoked(&local, ended.execution_arn()).await;
    assert_eq!(
        functions,
        ["check-order", "price-line", "price-line", "store-order"]
    );
    assert!(errors.is_empty(), "{errors:?}");
    let loaded = item("o-1".into()).await.unwrap();
    assert_eq!(loaded["total_cents"], number(760));
    assert_eq!(loaded["lines"].as_l().unwrap().len(), 2);
    let totals = item("customer#ada".into()).await.unwrap();
    assert_eq!(totals["order_count"], number(1));

    // A bad order: caught, recorded, and the execution fails saying why.
    let bad = json!({"id": "o-9", "customer": "ada", "lines": [{"sku": "kiwi", "quantity": 1}]});
    let ended = execute(&local, machine, "o-9", &bad).await;
    assert_eq!(ended.status().as_str(), "FAILED", "{ended:?}");
    assert_eq!(ended.error(), Some("OrderRejected"));
    assert_eq!(ended.cause(), Some("lines[0]: `kiwi` is not for sale"));
    let (functions, _) = invoked(&local, ended.execution_arn()).await;
    assert_eq!(functions, ["check-order", "record-rejection"]);
    let rejection = item(format!("rejection#{}", ended.execution_arn()))
        .await
        .expect("the rejection is recorded");
    assert_eq!(rejection["order_id"], AttributeValue::S("o-9".into()));
    assert_eq!(rejection["error"], AttributeValue::S("InvalidOrder".into()));
    assert_eq!(
        serde_json::from_str::<Value>(rejection["order"].as_s().unwrap()).unwrap(),
        bad
    );
    assert!(
        item("o-9".into()).await.is_none(),
        "a rejected order was loaded"
    );

    // An order another attempt still holds (its record in progress for 4 more seconds, as a
    // timed-out attempt leaves it): Load fails with IdempotencyAlreadyInProgress, the Retry
    // waits it out, and the order is loaded once.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    dynamodb
        .put_item()
        .table_name("order-idempotency")
        .item("id", AttributeValue::S(load_record_key("o-2")))
        .item("status", AttributeValue::S("INPROGRESS".into()))
        .item("validation", AttributeValue::S(sha256_hex(HELD_ORDER)))
        .item("expiration", number(now.as_secs() + 3600))
        .item(
            "in_progress_expiration",
            number(u64::try_from(now.as_millis()).unwrap() + 4000),
        )
        .send()
        .await
        .unwrap();
    let held = json!({"id": "o-2", "customer": "bob", "lines": [{"sku": "cheese", "quantity": 1}]});
    let ended = execute(&local, machine, "o-2", &held).await;
    assert_eq!(
        ended.status().as_str(),
        "SUCCEEDED",
        "{:?}: {:?}",
        ended.error(),
        ended.cause()
    );
    let (functions, errors) = invoked(&local, ended.execution_arn()).await;
    assert_eq!(functions[..2], ["check-order", "price-line"]);
    assert!(
        !errors.is_empty()
            && errors
                .iter()
                .all(|error| error == "IdempotencyAlreadyInProgress"),
        "{errors:?}"
    );
    assert_eq!(functions.len(), 2 + errors.len() + 1, "{functions:?}");
    let totals = item("customer#bob".into()).await.unwrap();
    assert_eq!(totals["order_count"], number(1));
    assert_eq!(totals["total_cents"], number(720));
}
