//! Successful invocations: events in, responses out, context filled in.

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use lambda_kit::testing::{FakeRuntimeApi, Invocation, invoke};
use lambda_kit::{Context, Diagnostic, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::support::within;

#[derive(Deserialize)]
struct Order {
    id: String,
    quantity: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Receipt {
    id: String,
    total: u32,
}

async fn price(order: Order, _ctx: Context) -> Result<Receipt, Infallible> {
    Ok(Receipt {
        id: order.id,
        total: order.quantity * 3,
    })
}

#[tokio::test]
async fn typed_event_in_typed_response_out() {
    let outcome = within(10, invoke(price, json!({"id": "o-1", "quantity": 4}))).await;
    assert_eq!(
        outcome.json::<Receipt>(),
        Receipt {
            id: "o-1".into(),
            total: 12
        }
    );
}

#[tokio::test]
async fn unit_responses_are_null() {
    async fn ignore(_: Value, _: Context) -> Result<(), Infallible> {
        Ok(())
    }
    let outcome = within(10, invoke(ignore, json!({}))).await;
    assert_eq!(outcome.response().as_ref(), b"null");
}

#[tokio::test]
async fn the_context_carries_every_invocation_header() {
    async fn describe(_: Value, ctx: Context) -> Result<Value, Infallible> {
        let client = ctx.client_context().map(|client| {
            json!({
                "installation": client.client().installation_id(),
                "title": client.client().app_title(),
                "custom": client.custom(),
                "env": client.env(),
            })
        });
        let identity = ctx
            .identity()
            .map(|identity| json!([identity.identity_id(), identity.identity_pool_id()]));
        Ok(json!({
            "requestId": ctx.request_id(),
            "arn": ctx.invoked_function_arn(),
            "trace": ctx.xray_trace_id(),
            "tenant": ctx.tenant_id(),
            "remainingMs": ctx.remaining_time().as_millis() as u64,
            "client": client,
            "identity": identity,
            "function": ctx.config().function_name(),
            "memory": ctx.config().memory_size_mb(),
            "logGroup": ctx.config().log_group(),
        }))
    }
    let api = FakeRuntimeApi::start().await.unwrap();
    let invocation = Invocation::new(json!({}))
        .request_id("8476a536-e9f4-11e8-9739-2dfe598c3fcd")
        .timeout(Duration::from_secs(30))
        .trace_id("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        .tenant_id("tenant-7")
        .client_context(r#"{"client":{"installation_id":"inst-1","app_title":"Shop"},"custom":{"cart":"3"},"env":{"platform":"Android"}}"#)
        .identity(r#"{"cognitoIdentityId":"us-east-1:abc","cognitoIdentityPoolId":"us-east-1:pool"}"#);
    let outcomes = within(10, api.run(api.config(), describe, [invocation]))
        .await
        .unwrap();
    let seen: Value = outcomes[0].json();
    assert_eq!(seen["requestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
    assert_eq!(
        seen["arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    );
    assert_eq!(
        seen["trace"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    );
    assert_eq!(seen["tenant"], "tenant-7");
    let remaining = seen["remainingMs"].as_u64().unwrap();
    assert!(
        (20_000..=30_000).contains(&remaining),
        "{remaining} ms left of 30 s"
    );
    assert_eq!(
        seen["client"],
        json!({"installation": "inst-1", "title": "Shop", "custom": {"cart": "3"}, "env": {"platform": "Android"}})
    );
    assert_eq!(seen["identity"], json!(["us-east-1:abc", "us-east-1:pool"]));
    assert_eq!(seen["function"], "test-function");
    assert_eq!(seen["memory"], 128);
    assert_eq!(seen["logGroup"], "/aws/lambda/test-function");
}

#[tokio::test]
async fn one_connection_serves_every_invocation() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let invocations =
        (0..25).map(|n| Invocation::new(json!({"id": format!("o-{n}"), "quantity": n})));
    let outcomes = within(20, api.run(api.config(), price, invocations))
        .await
        .unwrap();
    for (n, outcome) in outcomes.iter().enumerate() {
        assert_eq!(outcome.json::<Receipt>().total, n as u32 * 3);
    }
    assert_eq!(api.connections(), 1);
}

#[tokio::test]
async fn setup_runs_once_and_handlers_borrow_its_state() {
    struct State {
        greeting: String,
        calls: Cell<u32>,
    }
    async fn greet(name: String, _ctx: Context, state: &State) -> Result<String, Diagnostic> {
        state.calls.set(state.calls.get() + 1);
        Ok(format!(
            "{}, {name} (call {})",
            state.greeting,
            state.calls.get()
        ))
    }
    let setups = Rc::new(Cell::new(0));
    let api = FakeRuntimeApi::start().await.unwrap();
    let ids: Vec<String> = ["Ada", "Grace"]
        .iter()
        .map(|name| api.push(Invocation::new(name)))
        .collect();
    let counted = Rc::clone(&setups);
    let setup = move |config: lambda_kit::Config| async move {
        counted.set(counted.get() + 1);
        Ok::<_, Diagnostic>(State {
            greeting: format!("hello from {}", config.function_name()),
            calls: Cell::new(0),
        })
    };
    let runtime = Runtime::new(api.config()).logging(false);
    let outcomes = within(
        10,
        api.outcomes_while(&ids, runtime.serve_with_state(setup, greet)),
    )
    .await
    .unwrap();
    let outcomes: Vec<String> = outcomes.iter().map(|outcome| outcome.json()).collect();
    assert_eq!(
        outcomes,
        [
            "hello from test-function, Ada (call 1)",
            "hello from test-function, Grace (call 2)"
        ]
    );
    assert_eq!(setups.get(), 1);
}

#[tokio::test]
async fn closures_are_handlers_too() {
    let factor = 7;
    let outcome = within(
        10,
        invoke(
            move |n: u64, _ctx: Context| async move { Ok::<_, Infallible>(n * factor) },
            6,
        ),
    )
    .await;
    assert_eq!(outcome.json::<u64>(), 42);
}
