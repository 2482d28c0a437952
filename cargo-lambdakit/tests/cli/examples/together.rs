//! The five example pipelines at once, as README's walk-through runs them: one `cargo
//! lambdakit serve` of `hello-http`, `order-pipeline`, `sqs-worker`, `s3-thumbnail` and
//! `nightly-report` with `--event-sources --fire-schedules`, against moto, nothing deployed:
//! the HTTP API's routes answer, the queues are polled, the bucket watched, the schedule fired.

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};

use super::{QUICK_RELEASE, host_arch};
use crate::moto::Moto;
use crate::support::{Serve, get, invoke, wait_until};

/// The packages README's walk-through serves together.
const PIPELINES: [&str; 5] = [
    "hello-http",
    "order-pipeline",
    "sqs-worker",
    "s3-thumbnail",
    "nightly-report",
];

#[tokio::test]
async fn the_five_example_pipelines_run_together_in_one_serve() {
    let Some(moto) = Moto::start() else { return };
    // What the functions read and write, as each example's own test creates it.
    super::order_pipeline::create_resources(&moto);
    let orders_queue = super::sqs_worker::create_queues_and_table(&moto);
    for bucket in ["uploads", "thumbnails", "reports"] {
        moto.create_bucket(bucket);
    }
    moto.create_table("images", "key", &[]);
    moto.aws(&["sns", "create-topic", "--name", "thumbnails"]);

    let mut command =
        moto.command_for(&PIPELINES, &["serve", "--port", "0", "--arch", host_arch()]);
    command
        .args(["--event-sources", "--fire-schedules"])
        .envs(QUICK_RELEASE);
    let serve = Serve::spawn(command);
    serve.output_with(&[
        "GET /products/{sku} -> `hello-http`",
        "`transform` polls the SQS queue",
        "`load` polls the SQS queue",
        "`sqs-worker` polls the SQS queue",
        "`s3-thumbnail` watches the S3 bucket `uploads`",
        "fires `nightly-report`",
    ]);

    // hello-http: a route of the project's HTTP API, at `/`.
    let cheese = get(serve.address, "/products/cheese");
    assert_eq!(cheese.status, 200);
    assert_eq!(cheese.json()["name"], "Comté, 200 g");

    // order-pipeline: validate queues the order; transform and load follow through the queues.
    let order = json!({"id": "o-1", "customer": "ada", "lines": [{"sku": "melon", "quantity": 2}]});
    let accepted = invoke(serve.address, "validate", &[], order.to_string().as_bytes());
    assert!(
        accepted.header("x-amz-function-error").is_none(),
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    // sqs-worker: an order on its queue.
    let work = json!({"id": "w-1", "customer": "c-1", "lines": [{"sku": "apple", "quantity": 3, "unit_cents": 40}]});
    moto.aws(&[
        "sqs",
        "send-message",
        "--queue-url",
        &orders_queue,
        "--message-body",
        &work.to_string(),
    ]);
    // s3-thumbnail: an upload under `images/`.
    let s3 = moto.s3().await;
    s3.put_object()
        .bucket("uploads")
        .key("images/tiny.png")
        .body(ByteStream::from(super::s3_thumbnail::png(64, 32)))
        .send()
        .await
        .unwrap();

    let item = |table: &str, key: &str, id: &str| -> Value {
        let key = json!({ key: {"S": id} }).to_string();
        let found = moto.aws(&["dynamodb", "get-item", "--table-name", table, "--key", &key]);
        serde_json::from_str(&found).unwrap_or(Value::Null)
    };
    wait_until("o-1 loaded by order-pipeline", || {
        item("orders", "id", "o-1")["Item"]["total_cents"]["N"] == "640"
    });
    wait_until("w-1 recorded by sqs-worker", || {
        item("processed-orders", "id", "w-1")["Item"]["total_cents"]["N"] == "120"
    });
    wait_until("the thumbnail of images/tiny.png", || {
        moto.aws(&["s3api", "list-objects-v2", "--bucket", "thumbnails"])
            .contains("images/tiny.png.thumbnail.png")
    });
    wait_until("nightly-report's report", || {
        moto.aws(&["s3api", "list-objects-v2", "--bucket", "reports"])
            .contains("reports/")
    });
}
