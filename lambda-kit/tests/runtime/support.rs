//! Helpers shared by the runtime tests.

use std::future::Future;
use std::time::Duration;

/// Fails the test instead of hanging when `future` does not finish in time.
pub(crate) async fn within<F: Future>(seconds: u64, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(seconds), future)
        .await
        .unwrap_or_else(|_| panic!("did not finish within {seconds} s"))
}

/// A configuration pointing at `address`, for servers the tests script by hand.
pub(crate) fn config_for(address: std::net::SocketAddr) -> lambda_kit::Config {
    let api = address.to_string();
    let vars = [
        ("AWS_LAMBDA_RUNTIME_API", api.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", "scripted"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
    ];
    lambda_kit::Config::from_lookup(|name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
    .unwrap()
}
