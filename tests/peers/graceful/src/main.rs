//! The official runtime's graceful shutdown, written as its users write it: an echo function on
//! `lambda_runtime` whose `spawn_graceful_shutdown_handler` registers an internal extension so
//! that Lambda (and `cargo lambdakit serve`) sends SIGTERM at shutdown. Its hook prints a line.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::spawn_graceful_shutdown_handler(|| async {
        eprintln!("graceful: the shutdown hook ran");
    })
    .await;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
