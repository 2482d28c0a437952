use lambda_kit::testing::{FakeRuntimeApi, Invocation};
use lambda_kit::{Config, Context, Diagnostic, Runtime};

struct Prices {
    cents_per_unit: u64,
}

async fn setup(config: Config) -> Result<Prices, Diagnostic> {
    assert_eq!(config.function_name(), "test-function");
    Ok(Prices { cents_per_unit: 250 })
}

async fn flush() {}

#[lambda_kit::handler(setup = setup, shutdown = flush, main = false)]
async fn price(units: u64, _ctx: Context, prices: &Prices) -> Result<u64, Diagnostic> {
    Ok(units * prices.cents_per_unit)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let id = api.push(Invocation::new(4));
    let runtime = Runtime::new(api.config()).logging(false).on_shutdown(flush);
    let outcomes = api
        .outcomes_while(&[id], runtime.serve_with_state(setup, price))
        .await
        .unwrap();
    assert_eq!(outcomes[0].json::<u64>(), 1000);
}
