//! `lambda_kit::extension` against the fake Runtime API's Extensions and Telemetry APIs: an
//! external extension beside a runtime (INVOKE, telemetry batches, SHUTDOWN), internal ones in
//! the runtime, the shutdown hook's own internal extension, and the errors an extension
//! reports.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use lambda_kit::extension::telemetry::{Record, Stream};
use lambda_kit::extension::{Extension, ShutdownReason as Reason, Subscription};
use lambda_kit::testing::{
    ExtensionKind, FakeRuntimeApi, Function, Invocation, Phase, ShutdownReason,
};
use lambda_kit::{Context, Diagnostic, Runtime};

use crate::support::within;

async fn echo(event: serde_json::Value, _ctx: Context) -> Result<serde_json::Value, Diagnostic> {
    Ok(event)
}

/// The runtime serving `echo`, without its logger (tests share the process).
fn runtime(api: &FakeRuntimeApi) -> Runtime {
    Runtime::new(api.config()).logging(false)
}

#[tokio::test]
async fn an_external_extension_hears_of_invocations_gets_telemetry_and_shuts_down() {
    let api = FakeRuntimeApi::start_for(Function::new("orders").external_extensions(["shipper"]))
        .await
        .unwrap();
    let invoked = Rc::new(RefCell::new(Vec::new()));
    let batches = Rc::new(RefCell::new(Vec::new()));
    let shut = Rc::new(RefCell::new(None));
    let extension = {
        let (invoked, batches, shut) = (invoked.clone(), batches.clone(), shut.clone());
        Extension::new("shipper")
            .on_invoke(move |invoke| {
                invoked.borrow_mut().push(invoke.request_id().to_owned());
                async { Ok::<_, Diagnostic>(()) }
            })
            .telemetry(
                Subscription::new([Stream::Platform, Stream::Function])
                    .timeout(Duration::from_millis(25)),
                move |batch| {
                    batches.borrow_mut().extend(batch);
                    async {}
                },
            )
            .on_shutdown(move |shutdown| {
                *shut.borrow_mut() = Some(shutdown.reason().clone());
                async {}
            })
            .serve(api.config())
    };
    let driver = async {
        within(10, api.started()).await.unwrap();
        let request_id = api.push(Invocation::new(serde_json::json!({"n": 1})));
        let outcome = within(10, api.outcome(&request_id)).await;
        assert_eq!(
            outcome.json::<serde_json::Value>(),
            serde_json::json!({"n": 1})
        );
        assert!(within(10, api.completed(&request_id)).await);
        api.emit(Record::Function(serde_json::Value::String("hello".into())));
        // Give the 25 ms buffer time to post before the shutdown.
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The extension's run ends after SHUTDOWN instead of asking again, as external ones
        // exit: the connection its client kept open closes, and the server is done waiting for
        // it long before the deadline.
        let shutdown = within(
            10,
            api.shutdown(ShutdownReason::Spindown, Duration::from_secs(5)),
        )
        .await;
        assert!(
            shutdown.unfinished().is_empty(),
            "waited out the deadline for {:?}",
            shutdown.unfinished()
        );
        request_id
    };
    let (extension, request_id) = tokio::select! {
        (extension, request_id) = async { tokio::join!(extension, driver) } => (extension, request_id),
        result = runtime(&api).serve(echo) => panic!("the runtime ended: {result:?}"),
    };
    extension.unwrap();
    assert_eq!(*invoked.borrow(), [request_id]);
    assert_eq!(*shut.borrow(), Some(Reason::Spindown));
    let batches = batches.borrow();
    let kinds: Vec<&str> = batches.iter().map(|event| event.record.kind()).collect();
    assert!(kinds.contains(&"platform.start"), "{kinds:?}");
    assert!(
        batches
            .iter()
            .any(|event| matches!(&event.record, Record::Function(line) if line == "hello")),
        "{kinds:?}"
    );
    let registered = api.extensions();
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].kind(), ExtensionKind::External);
    assert!(registered[0].invoke() && registered[0].shutdown());
}

#[tokio::test]
async fn the_shutdown_hook_registers_an_internal_extension_so_lambda_sends_sigterm() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let runtime = runtime(&api).on_shutdown(|| async {});
    let driver = async {
        within(10, api.started()).await.unwrap();
        let request_id = api.push(Invocation::new(serde_json::json!("hi")));
        within(10, api.outcome(&request_id)).await;
        // Registered for no events, it never holds an invocation up.
        assert!(within(10, api.completed(&request_id)).await);
    };
    tokio::select! {
        () = driver => {}
        result = runtime.serve(echo) => panic!("the runtime ended: {result:?}"),
    }
    let registered = api.extensions();
    assert_eq!(registered.len(), 1, "{registered:?}");
    assert_eq!(registered[0].name(), "lambda-kit-shutdown");
    assert_eq!(registered[0].kind(), ExtensionKind::Internal);
    assert!(!registered[0].invoke() && !registered[0].shutdown());
}

#[tokio::test]
async fn a_runtime_without_a_hook_or_extensions_registers_nothing() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let driver = async {
        within(10, api.started()).await.unwrap();
        let request_id = api.push(Invocation::new(serde_json::json!("hi")));
        within(10, api.outcome(&request_id)).await;
    };
    tokio::select! {
        () = driver => {}
        result = runtime(&api).serve(echo) => panic!("the runtime ended: {result:?}"),
    }
    assert!(api.extensions().is_empty());
    // The runtime's one connection: nothing was opened for extensions.
    assert_eq!(api.connections(), 1);
}

#[tokio::test]
async fn an_internal_extension_runs_beside_the_handler_and_holds_each_invocation_until_done() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let audit = {
        let seen = seen.clone();
        Extension::new("audit").on_invoke(move |invoke| {
            let seen = seen.clone();
            async move {
                // Slower than the handler: the invocation is complete only after this.
                tokio::time::sleep(Duration::from_millis(50)).await;
                seen.borrow_mut().push(invoke.request_id().to_owned());
                Ok::<_, Diagnostic>(())
            }
        })
    };
    let runtime = runtime(&api).extension(audit);
    let driver = async {
        within(10, api.started()).await.unwrap();
        let mut ids = Vec::new();
        for n in 0..3 {
            let request_id = api.push(Invocation::new(serde_json::json!(n)));
            within(10, api.outcome(&request_id)).await;
            assert!(within(10, api.completed(&request_id)).await);
            assert_eq!(seen.borrow().last(), Some(&request_id));
            ids.push(request_id);
        }
        ids
    };
    let ids = tokio::select! {
        ids = driver => ids,
        result = runtime.serve(echo) => panic!("the runtime ended: {result:?}"),
    };
    assert_eq!(*seen.borrow(), ids);
    let registered = api.extensions();
    assert_eq!(registered.len(), 1, "{registered:?}");
    assert_eq!(registered[0].kind(), ExtensionKind::Internal);
}

#[tokio::test]
async fn an_internal_extension_with_a_shutdown_hook_fails_the_start_naming_the_fix() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let extension = Extension::new("audit").on_shutdown(|_| async {});
    let error = within(10, runtime(&api).extension(extension).serve(echo))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("`audit`") && message.contains("on_shutdown"),
        "{message}"
    );
    assert!(api.extensions().is_empty());
}

#[tokio::test]
async fn a_failing_invoke_hook_is_reported_to_exit_error_and_ends_the_extension() {
    let api = FakeRuntimeApi::start_for(Function::default().external_extensions(["strict"]))
        .await
        .unwrap();
    let extension = Extension::new("strict")
        .on_invoke(|_| async { Err(Diagnostic::new("Strict.Refused", "not today")) })
        .serve(api.config());
    let driver = async {
        within(10, api.started()).await.unwrap();
        api.push(Invocation::new(serde_json::json!(1)));
        std::future::pending::<()>().await;
    };
    let result = tokio::select! {
        result = extension => result,
        () = driver => unreachable!(),
        result = runtime(&api).serve(echo) => panic!("the runtime ended: {result:?}"),
    };
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("Strict.Refused") && message.contains("not today"),
        "{message}"
    );
    let errors = api.extension_errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].name(), "strict");
    assert_eq!(errors[0].phase(), Phase::Exit);
    assert_eq!(
        errors[0].report().error_type_header(),
        Some("Strict.Refused")
    );
}

#[tokio::test]
async fn a_failing_init_hook_fails_the_execution_environments_init() {
    let api = FakeRuntimeApi::start_for(Function::default().external_extensions(["picky"]))
        .await
        .unwrap();
    let result = within(
        10,
        Extension::new("picky")
            .on_invoke(|_| async { Ok::<_, Diagnostic>(()) })
            .on_init(|registered| async move {
                assert_eq!(registered.function_name, "test-function");
                Err(Diagnostic::new("Picky.Config", "BUCKET is not set"))
            })
            .serve(api.config()),
    )
    .await;
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("BUCKET is not set")
    );
    let failure = within(10, api.started()).await.unwrap_err();
    assert_eq!(failure.error_type(), "Extension.InitError");
    assert!(
        failure.error_message().contains("`picky`")
            && failure.error_message().contains("Picky.Config"),
        "{failure:?}"
    );
}

#[tokio::test]
async fn a_subscription_out_of_lambdas_bounds_is_refused_before_registering() {
    let api = FakeRuntimeApi::start().await.unwrap();
    let result = Extension::new("eager")
        .telemetry(
            Subscription::new([Stream::Platform]).max_items(5),
            |_| async {},
        )
        .serve(api.config())
        .await;
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("`maxItems` is 5") && message.contains("25 to 10000"),
        "{message}"
    );
    assert!(api.extensions().is_empty());
}
