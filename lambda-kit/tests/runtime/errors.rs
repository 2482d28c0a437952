//! Failed invocations and failed set-up, as Lambda is told about them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;

use lambda_kit::testing::{FakeRuntimeApi, Invocation, invoke};
use lambda_kit::{Context, Diagnostic, Runtime};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::support::within;

#[derive(Debug)]
enum OrderError {
    OutOfStock(String),
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfStock(sku) => write!(f, "{sku} is out of stock"),
        }
    }
}

impl std::error::Error for OrderError {}

impl From<OrderError> for Diagnostic {
    fn from(error: OrderError) -> Self {
        Diagnostic::new("OrderRejected", error.to_string())
    }
}

#[tokio::test]
async fn user_errors_report_the_error_type_the_user_chose() {
    async fn reject(sku: String, _: Context) -> Result<(), OrderError> {
        Err(OrderError::OutOfStock(sku))
    }
    let outcome = within(10, invoke(reject, "sku-9")).await;
    let report = outcome.error();
    assert_eq!(report.error_type_header(), Some("OrderRejected"));
    assert_eq!(report.error_type(), "OrderRejected");
    assert_eq!(report.error_message(), "sku-9 is out of stock");
}

#[tokio::test]
async fn boxed_errors_are_named_by_their_type_never_a_rust_path() {
    async fn fail(
        input: String,
        _: Context,
    ) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
        if input == "order" {
            Err(OrderError::OutOfStock("sku-1".into()))?;
        }
        Ok(input.parse::<u32>()?)
    }
    let api = FakeRuntimeApi::start().await.unwrap();
    let outcomes = within(
        10,
        api.run(
            api.config(),
            fail,
            [Invocation::new("order"), Invocation::new("x1")],
        ),
    )
    .await
    .unwrap();
    assert_eq!(outcomes[0].error().error_type(), "OutOfStock");
    assert_eq!(outcomes[1].error().error_type(), "ParseIntError");
    assert_eq!(
        outcomes[1].error().error_message(),
        "invalid digit found in string"
    );
    for outcome in &outcomes {
        let error_type = outcome.error().error_type();
        assert!(
            !error_type.contains("::") && !error_type.contains('<'),
            "{error_type}"
        );
    }
}

#[tokio::test]
async fn causes_become_the_stack_trace() {
    #[derive(Debug)]
    struct LoadFailed(std::io::Error);
    impl fmt::Display for LoadFailed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("could not load the order")
        }
    }
    impl std::error::Error for LoadFailed {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    async fn load(_: Value, _: Context) -> Result<(), Diagnostic> {
        Err(Diagnostic::from_error(&LoadFailed(std::io::Error::other(
            "table is gone",
        ))))
    }
    let outcome = within(10, invoke(load, json!({}))).await;
    let report = outcome.error();
    assert_eq!(report.error_type(), "LoadFailed");
    assert_eq!(report.stack_trace(), ["caused by: table is gone"]);
}

#[tokio::test]
async fn undecodable_events_are_unmarshal_errors_naming_the_path() {
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Cart {
        items: Vec<Item>,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Item {
        quantity: u32,
    }
    async fn count(cart: Cart, _: Context) -> Result<usize, Infallible> {
        Ok(cart.items.len())
    }
    let api = FakeRuntimeApi::start().await.unwrap();
    let invocations = [
        Invocation::new(json!({"items": [{"quantity": 1}, {"quantity": -2}]})),
        Invocation::raw("{\"items\": ["),
        Invocation::new(json!({"items": []})),
    ];
    let outcomes = within(10, api.run(api.config(), count, invocations))
        .await
        .unwrap();
    let report = outcomes[0].error();
    assert_eq!(report.error_type_header(), Some("Runtime.UnmarshalError"));
    assert_eq!(report.error_type(), "Runtime.UnmarshalError");
    assert!(
        report
            .error_message()
            .contains("`Cart`: at `items[1].quantity`: invalid value: integer `-2`"),
        "{}",
        report.error_message()
    );
    assert!(
        outcomes[1]
            .error()
            .error_message()
            .contains("EOF while parsing"),
        "{}",
        outcomes[1].error().error_message()
    );
    assert_eq!(outcomes[2].json::<usize>(), 0);
}

#[tokio::test]
async fn unserialisable_responses_are_marshal_errors() {
    async fn pairs(_: Value, _: Context) -> Result<BTreeMap<(u8, u8), u8>, Infallible> {
        Ok(BTreeMap::from([((1, 2), 3)]))
    }
    let outcome = within(10, invoke(pairs, json!({}))).await;
    assert_eq!(outcome.error().error_type(), "Runtime.MarshalError");
}

#[tokio::test]
async fn panics_are_reported_and_the_next_invocation_is_served() {
    async fn fragile(n: u32, _: Context) -> Result<u32, Infallible> {
        if n == 0 {
            panic!("division by zero requested");
        }
        Ok(100 / n)
    }
    let api = FakeRuntimeApi::start().await.unwrap();
    let invocations = [Invocation::new(0), Invocation::new(4)];
    let outcomes = within(10, api.run(api.config(), fragile, invocations))
        .await
        .unwrap();
    assert_eq!(outcomes[0].error().error_type(), "Panic");
    assert_eq!(
        outcomes[0].error().error_message(),
        "division by zero requested"
    );
    assert_eq!(outcomes[1].json::<u32>(), 25);
}

#[tokio::test]
async fn responses_over_six_megabytes_are_errors_not_sent() {
    async fn blob(size: usize, _: Context) -> Result<String, Infallible> {
        Ok("x".repeat(size))
    }
    let api = FakeRuntimeApi::start().await.unwrap();
    // A JSON string of n bytes is n + 2 bytes with its quotes. The limit is 6 MB and 100 bytes,
    // as Lambda's Runtime API counts it.
    let limit = 6 * 1024 * 1024 + 100;
    let invocations = [Invocation::new(limit - 1), Invocation::new(limit - 2)];
    let outcomes = within(20, api.run(api.config(), blob, invocations))
        .await
        .unwrap();
    let report = outcomes[0].error();
    assert_eq!(report.error_type(), "Function.ResponseSizeTooLarge");
    assert!(
        report
            .error_message()
            .contains(&format!("{} bytes", limit + 1)),
        "{}",
        report.error_message()
    );
    assert_eq!(outcomes[1].response().len(), limit);
}

#[tokio::test]
async fn failed_setup_is_an_init_error() {
    async fn unreachable_handler(_: Value, _: Context, _: &()) -> Result<(), Infallible> {
        unreachable!("setup failed, so no invocation is served")
    }
    let api = FakeRuntimeApi::start().await.unwrap();
    let setup =
        |_| async { Err::<(), _>(Diagnostic::new("ConfigMissing", "TABLE_NAME is not set")) };
    let runtime = Runtime::new(api.config()).logging(false);
    let error = within(10, runtime.serve_with_state(setup, unreachable_handler))
        .await
        .unwrap_err();
    assert!(error.is_init(), "{error:?}");
    assert_eq!(
        error.to_string(),
        "function setup failed with ConfigMissing: TABLE_NAME is not set"
    );
    let reports = api.init_errors();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].error_type_header(), Some("ConfigMissing"));
    assert_eq!(reports[0].error_message(), "TABLE_NAME is not set");
}

#[tokio::test]
async fn a_panicking_setup_is_an_init_error_too() {
    async fn unreachable_handler(_: Value, _: Context, _: &u8) -> Result<(), Infallible> {
        unreachable!("setup failed, so no invocation is served")
    }
    let api = FakeRuntimeApi::start().await.unwrap();
    let setup = |_| async { panic!("no credentials") };
    let runtime = Runtime::new(api.config()).logging(false);
    let result: Result<(), lambda_kit::Error> = within(
        10,
        runtime.serve_with_state::<u8, _, _, Diagnostic, _, _>(setup, unreachable_handler),
    )
    .await;
    assert!(result.unwrap_err().is_init());
    assert_eq!(api.init_errors()[0].error_type(), "Panic");
    assert_eq!(api.init_errors()[0].error_message(), "no credentials");
}
