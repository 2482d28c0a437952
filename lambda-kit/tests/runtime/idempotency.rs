//! Idempotent handlers: the same flows against the in-memory store and against DynamoDB (moto
//! in server mode), and through the runtime loop with concurrent invocations.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_kit::idempotency::{
    DynamoDbStore, Idempotency, IdempotencyError, MemoryStore, Record, Status, Store,
};
use lambda_kit::testing::{ContextBuilder, FakeRuntimeApi, Invocation};
use lambda_kit::{Context, Diagnostic, Runtime};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::support::{Moto, within};

/// Reads a store's records back, to check what the flows left in it.
trait Inspect: Store + Clone {
    async fn stored(&self, key: &str) -> Option<Record>;
}

impl Inspect for MemoryStore {
    async fn stored(&self, key: &str) -> Option<Record> {
        self.get(key)
    }
}

impl Inspect for DynamoDbStore {
    async fn stored(&self, key: &str) -> Option<Record> {
        self.get(key).await.unwrap()
    }
}

/// A clock the test moves forward by hand.
#[derive(Clone, Default)]
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }

    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    /// A context whose deadline is `timeout` after this clock's now.
    fn context(&self, timeout: Duration) -> Context {
        let offset = Duration::from_secs(self.0.load(Ordering::SeqCst));
        ContextBuilder::new().timeout(offset + timeout).build()
    }

    fn attach<S: Store>(&self, idempotency: Idempotency<S>) -> Idempotency<S> {
        let clock = self.clone();
        idempotency.clock(move || clock.now())
    }
}

/// The handler under test: counts its runs and answers with the run's number.
#[derive(Default)]
struct Charges {
    runs: Cell<u64>,
    /// Wakes whoever waits for a held handler to start.
    started: Notify,
    /// Lets a held handler go on.
    release: Notify,
}

impl Charges {
    async fn charge(&self, event: Value) -> Result<Value, Diagnostic> {
        self.runs.set(self.runs.get() + 1);
        let run = self.runs.get();
        if event["hold"] == true {
            self.started.notify_waiters();
            self.release.notified().await;
        }
        if event["fail"] == true {
            return Err(Diagnostic::new("CardDeclined", "the card was declined"));
        }
        Ok(json!({"order": event["order"], "run": run}))
    }

    /// `run` on `event`, and on `AlreadyInProgress` the release of the invocation holding it.
    async fn run<S: Store>(
        &self,
        idempotency: &Idempotency<S>,
        event: Value,
        ctx: &Context,
    ) -> Result<Value, IdempotencyError<Diagnostic>> {
        let result = idempotency
            .run(event, ctx, |event| self.charge(event))
            .await;
        if let Err(IdempotencyError::AlreadyInProgress { .. }) = &result {
            self.release.notify_one();
        }
        result
    }
}

fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Every flow of `Idempotency::run`, against `store`.
async fn flows<S: Inspect>(store: S) {
    let clock = Clock::default();
    let charges = Charges::default();
    // Invocations have a minute each, by the test's clock.
    let ctx = || clock.context(Duration::from_secs(60));
    let idempotency = clock.attach(Idempotency::new(store.clone()).key("/order"));
    let key = |event: &Value| idempotency.record_key(event, &ctx()).unwrap().unwrap();

    // The first event runs the handler; a repeat, even with other fields around the key,
    // gets the stored response without running it.
    let first = json!({"order": "o-1", "note": "first"});
    let response = charges
        .run(&idempotency, first.clone(), &ctx())
        .await
        .unwrap();
    assert_eq!(response, json!({"order": "o-1", "run": 1}));
    let record = store.stored(&key(&first)).await.unwrap();
    assert_eq!(record.status(), Status::Completed);
    assert_eq!(record.response(), Some(r#"{"order":"o-1","run":1}"#));
    let expected_expiry = epoch_seconds(clock.now()) + 3600;
    assert!(
        (expected_expiry - 10..=expected_expiry).contains(&record.expiration()),
        "{record:?}"
    );
    for repeat in [first.clone(), json!({"note": "second", "order": "o-1"})] {
        let response = charges.run(&idempotency, repeat, &ctx()).await.unwrap();
        assert_eq!(response, json!({"order": "o-1", "run": 1}));
    }
    assert_eq!(charges.runs.get(), 1);

    // Another key runs.
    let response = charges
        .run(&idempotency, json!({"order": "o-2"}), &ctx())
        .await
        .unwrap();
    assert_eq!(response, json!({"order": "o-2", "run": 2}));

    // Past the expiry, the first event runs again.
    clock.advance(Duration::from_secs(3601));
    let response = charges
        .run(&idempotency, first.clone(), &ctx())
        .await
        .unwrap();
    assert_eq!(response, json!({"order": "o-1", "run": 3}));

    // A failed run leaves no record, so its retry runs.
    let failing = json!({"order": "o-3", "fail": true});
    let error = charges
        .run(&idempotency, failing.clone(), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, IdempotencyError::Handler(diagnostic) if diagnostic.error_type() == "CardDeclined"),
        "{error:?}"
    );
    assert_eq!(store.stored(&key(&failing)).await, None);
    let response = charges
        .run(&idempotency, json!({"order": "o-3"}), &ctx())
        .await
        .unwrap();
    assert_eq!(response, json!({"order": "o-3", "run": 5}));

    // Two invocations at once: one runs, the other is told the event is in progress. Each
    // holds the handler until the other is turned away, so without the protection both
    // would wait forever.
    let held = json!({"order": "o-4", "hold": true});
    let (one, other) = (ctx(), ctx());
    let (a, b) = within(20, async {
        tokio::join!(
            charges.run(&idempotency, held.clone(), &one),
            charges.run(&idempotency, held.clone(), &other),
        )
    })
    .await;
    let (done, refused) = if a.is_ok() { (a, b) } else { (b, a) };
    assert_eq!(done.unwrap(), json!({"order": "o-4", "run": 6}));
    let refused = Diagnostic::from(refused.unwrap_err());
    assert_eq!(refused.error_type(), "IdempotencyAlreadyInProgress");
    assert!(refused.error_message().contains(&key(&held)), "{refused}");
    assert_eq!(charges.runs.get(), 6);

    // An invocation that never finished (timed out, crashed) blocks its key until its
    // deadline, and no longer.
    let short = clock.context(Duration::from_secs(30));
    let stuck = json!({"order": "o-5", "hold": true});
    let started = charges.started.notified();
    tokio::pin!(started);
    started.as_mut().enable();
    tokio::select! {
        result = charges.run(&idempotency, stuck.clone(), &short) => {
            panic!("the held handler returned: {result:?}")
        }
        () = within(20, started) => {}
    }
    let record = store.stored(&key(&stuck)).await.unwrap();
    assert_eq!(record.status(), Status::InProgress);
    let deadline = short.deadline().duration_since(UNIX_EPOCH).unwrap();
    assert_eq!(
        record.in_progress_expiration(),
        Some(deadline.as_millis() as u64)
    );
    let retry = json!({"order": "o-5"});
    let error = charges
        .run(&idempotency, retry.clone(), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(error, IdempotencyError::AlreadyInProgress { .. }),
        "{error:?}"
    );
    // The release above found no one waiting; take it back.
    charges.release.notified().await;
    clock.advance(Duration::from_secs(31));
    let response = charges.run(&idempotency, retry, &ctx()).await.unwrap();
    assert_eq!(response, json!({"order": "o-5", "run": 8}));

    // With validation, the same key with another amount is refused; the same amount replays.
    let validated = clock.attach(
        Idempotency::new(store.clone())
            .key("/order")
            .validate("/amount")
            .expires_after(Duration::from_secs(600)),
    );
    let paid = json!({"order": "o-6", "amount": 10});
    let response = charges.run(&validated, paid.clone(), &ctx()).await.unwrap();
    assert_eq!(response, json!({"order": "o-6", "run": 9}));
    let record = store.stored(&key(&paid)).await.unwrap();
    assert_eq!(record.validation().map(str::len), Some(64));
    let expected_expiry = epoch_seconds(clock.now()) + 600;
    assert!(
        (expected_expiry - 10..=expected_expiry).contains(&record.expiration()),
        "{record:?}"
    );
    let error = charges
        .run(&validated, json!({"order": "o-6", "amount": 11}), &ctx())
        .await
        .unwrap_err();
    assert_eq!(
        Diagnostic::from(error).error_type(),
        "IdempotencyPayloadMismatch"
    );
    let response = charges
        .run(&validated, json!({"amount": 10, "order": "o-6"}), &ctx())
        .await
        .unwrap();
    assert_eq!(response, json!({"order": "o-6", "run": 9}));

    // Events without a key run every time, unless a key is required.
    for _ in 0..2 {
        charges
            .run(&idempotency, json!({"id": "no-order"}), &ctx())
            .await
            .unwrap();
    }
    assert_eq!(charges.runs.get(), 11);
    let strict = Idempotency::new(store.clone()).key("/order").require_key();
    let error = charges
        .run(&strict, json!({"order": null}), &ctx())
        .await
        .unwrap_err();
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type(), "IdempotencyKeyMissing");
    assert_eq!(
        diagnostic.error_message(),
        "the event has no idempotency key at `/order`"
    );
    assert_eq!(charges.runs.get(), 11);
}

#[tokio::test]
async fn the_memory_store_runs_each_event_once() {
    flows(MemoryStore::new()).await;
}

#[tokio::test]
async fn the_dynamodb_store_runs_each_event_once() {
    let Some(moto) = Moto::start() else { return };
    let client = moto.dynamodb();
    create_table(&client, "idempotency").await;
    flows(DynamoDbStore::new(client.clone(), "idempotency")).await;

    // The item is in Powertools' layout.
    let ctx = ContextBuilder::new().build();
    let idempotency = Idempotency::new(DynamoDbStore::new(client.clone(), "idempotency"));
    let key = idempotency
        .record_key(&json!({"order": "layout"}), &ctx)
        .unwrap()
        .unwrap();
    idempotency
        .run(json!({"order": "layout"}), &ctx, |_| async {
            Ok::<_, Diagnostic>(json!(["shipped"]))
        })
        .await
        .unwrap();
    let item = client
        .get_item()
        .table_name("idempotency")
        .key("id", aws_sdk_dynamodb::types::AttributeValue::S(key))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["data", "expiration", "id", "status"]);
    assert_eq!(item["status"].as_s().unwrap(), "COMPLETED");
    assert_eq!(item["data"].as_s().unwrap(), r#"["shipped"]"#);
    assert!(item["expiration"].as_n().unwrap().parse::<u64>().is_ok());
}

#[tokio::test]
async fn the_dynamodb_store_reads_the_blocking_item_when_the_failed_write_does_not_return_it() {
    let Some(moto) = Moto::start() else { return };
    let requests = Arc::new(AtomicU64::new(0));
    let client = moto.dynamodb_with(WithoutOldItems {
        requests: Arc::clone(&requests),
    });
    create_table(&client, "idempotency").await;
    flows(DynamoDbStore::new(client.clone(), "idempotency")).await;

    // A repeat takes a write that fails and a read of the item that blocked it.
    let store = DynamoDbStore::new(client, "idempotency");
    let ctx = ContextBuilder::new().build();
    let idempotency = Idempotency::new(store);
    let event = json!({"order": "fallback"});
    for _ in 0..2 {
        let before = requests.load(Ordering::SeqCst);
        let answer = idempotency
            .run(event.clone(), &ctx, |_| async {
                Ok::<_, Diagnostic>(json!(1))
            })
            .await
            .unwrap();
        assert_eq!(answer, json!(1));
        let made = requests.load(Ordering::SeqCst) - before;
        // The first run writes twice (in progress, completed); the repeat writes and reads.
        assert_eq!(made, 2);
    }
}

/// Leaves `ReturnValuesOnConditionCheckFailure` out of every request, as DynamoDB-compatible
/// services that predate it do, and counts the requests.
#[derive(Debug)]
struct WithoutOldItems {
    requests: Arc<AtomicU64>,
}

impl aws_sdk_dynamodb::config::Intercept for WithoutOldItems {
    fn name(&self) -> &'static str {
        "WithoutOldItems"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut<
            '_,
        >,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let request = context.request_mut();
        let Some(body) = request.body().bytes() else {
            return Ok(());
        };
        let mut input: Value = serde_json::from_slice(body)?;
        let removed = input
            .as_object_mut()
            .and_then(|input| input.remove("ReturnValuesOnConditionCheckFailure"));
        if removed.is_some() {
            let body = serde_json::to_vec(&input)?;
            request
                .headers_mut()
                .insert("content-length", body.len().to_string());
            *request.body_mut() = body.into();
        }
        Ok(())
    }
}

#[tokio::test]
async fn dynamodb_errors_name_the_table_and_keep_the_cause() {
    let Some(moto) = Moto::start() else { return };
    let store = DynamoDbStore::new(moto.dynamodb(), "missing");
    let ctx = ContextBuilder::new().build();
    let idempotency = Idempotency::new(store);
    let ran = Cell::new(false);
    let error = idempotency
        .run(json!({"order": "o-1"}), &ctx, |_| async {
            ran.set(true);
            Ok::<_, Diagnostic>(json!(null))
        })
        .await
        .unwrap_err();
    assert!(!ran.get());
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type(), "IdempotencyStoreError");
    assert_eq!(
        diagnostic.stack_trace()[0],
        "caused by: cannot write the idempotency record to `missing`"
    );
    let causes = diagnostic.stack_trace().join("\n");
    assert!(causes.contains("ResourceNotFoundException"), "{causes}");
}

pub(crate) async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// The state of a function whose payments are idempotent.
struct Payments {
    idempotency: Idempotency<MemoryStore>,
    charges: Rc<Charges>,
}

async fn pay(event: Value, ctx: Context, payments: &'static Payments) -> Result<Value, Diagnostic> {
    Ok(payments
        .charges
        .run(&payments.idempotency, event, &ctx)
        .await?)
}

/// Serves `invocations` with `pay`, its records in `store`, `max_concurrency` at a time.
async fn serve(
    store: &MemoryStore,
    charges: &Rc<Charges>,
    max_concurrency: &str,
    invocations: Vec<Invocation>,
) -> Vec<lambda_kit::testing::Outcome> {
    let api = FakeRuntimeApi::start().await.unwrap();
    let config = api
        .config_with(&[("AWS_LAMBDA_MAX_CONCURRENCY", max_concurrency)])
        .unwrap();
    let ids: Vec<String> = invocations
        .into_iter()
        .map(|invocation| api.push(invocation))
        .collect();
    let payments = Payments {
        idempotency: Idempotency::new(store.clone()).key("/order"),
        charges: Rc::clone(charges),
    };
    let runtime = Runtime::new(config)
        .logging(false)
        .serve_with_state(|_| async { Ok::<_, Diagnostic>(payments) }, pay);
    within(20, api.outcomes_while(&ids, runtime)).await.unwrap()
}

#[tokio::test]
async fn repeated_invocations_get_the_stored_response_through_the_runtime() {
    let store = MemoryStore::new();
    let charges = Rc::new(Charges::default());
    let outcomes = serve(
        &store,
        &charges,
        "1",
        vec![
            Invocation::new(json!({"order": "o-1"})),
            Invocation::new(json!({"order": "o-1", "retry": 1})),
            Invocation::new(json!({"order": "o-2"})),
            Invocation::new(json!({"order": "o-3", "fail": true})),
            Invocation::new(json!({"order": "o-3"})),
        ],
    )
    .await;
    let responses: Vec<Value> = outcomes[..3].iter().map(|outcome| outcome.json()).collect();
    assert_eq!(
        responses,
        [
            json!({"order": "o-1", "run": 1}),
            json!({"order": "o-1", "run": 1}),
            json!({"order": "o-2", "run": 2}),
        ]
    );
    assert_eq!(outcomes[3].error().error_type(), "CardDeclined");
    assert_eq!(
        outcomes[4].json::<Value>(),
        json!({"order": "o-3", "run": 4})
    );
    assert_eq!(charges.runs.get(), 4);
}

#[tokio::test]
async fn concurrent_invocations_of_one_event_run_it_once() {
    let store = MemoryStore::new();
    let charges = Rc::new(Charges::default());
    let event = json!({"order": "o-1", "hold": true});
    let outcomes = serve(
        &store,
        &charges,
        "2",
        vec![Invocation::new(&event), Invocation::new(&event)],
    )
    .await;
    let (done, refused) = match &outcomes[..] {
        [lambda_kit::testing::Outcome::Response(_), refused] => (&outcomes[0], refused),
        [refused, done] => (done, refused),
        _ => unreachable!("two invocations were pushed"),
    };
    assert_eq!(done.json::<Value>(), json!({"order": "o-1", "run": 1}));
    let report = refused.error();
    assert_eq!(report.error_type(), "IdempotencyAlreadyInProgress");
    assert_eq!(
        report.error_type_header(),
        Some("IdempotencyAlreadyInProgress")
    );
    assert_eq!(charges.runs.get(), 1);

    // Once done, a retry gets the stored response.
    let outcomes = serve(&store, &charges, "1", vec![Invocation::new(&event)]).await;
    assert_eq!(
        outcomes[0].json::<Value>(),
        json!({"order": "o-1", "run": 1})
    );
    assert_eq!(charges.runs.get(), 1);
}
