//! A Lambda extension. Lambda starts it beside its function (from a layer, as
//! `/opt/extensions/NAME`), tells it of each invocation and of the shutdown, and posts it the
//! function's platform telemetry in batches. It logs each of these; its lines reach the
//! function's log group on Lambda, and `cargo lambdakit serve`'s output locally.

use std::time::{Duration, SystemTime};

use lambda_kit::Diagnostic;
use lambda_kit::extension::telemetry::{Event, Record, Stream};
use lambda_kit::extension::{Extension, ShutdownReason, Subscription};

/// The extension's name, which Lambda requires to be its file name: the binary's.
const NAME: &str = env!("CARGO_BIN_NAME");

fn main() -> Result<(), lambda_kit::Error> {
    extension(|line| println!("{line}")).run()
}

/// The extension, writing its lines with `log`.
fn extension(log: impl Fn(String) + Clone + 'static) -> Extension {
    let (on_invoke, on_batch) = (log.clone(), log.clone());
    Extension::new(NAME)
        .on_invoke(move |invoke| {
            let left = invoke
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            on_invoke(invoked(invoke.request_id(), left));
            // The invocation is complete for Lambda once this returns: keep it short.
            async { Ok::<_, Diagnostic>(()) }
        })
        .telemetry(
            // Lambda posts what it buffered every second by default; 100 ms sends each
            // report sooner, in more posts.
            Subscription::new([Stream::Platform]).timeout(Duration::from_millis(100)),
            move |batch| {
                for line in reports(&batch) {
                    on_batch(line);
                }
                async {}
            },
        )
        .on_shutdown(move |shutdown| {
            log(shutting_down(shutdown.reason()));
            async {}
        })
}

/// The line for an invocation that began, with `left` before it times out.
fn invoked(request_id: &str, left: Duration) -> String {
    format!("{NAME}: INVOKE {request_id} ({} ms left)", left.as_millis())
}

/// A line for each invocation's report in `batch` (`platform.report`); the other platform
/// events are not logged.
fn reports(batch: &[Event]) -> Vec<String> {
    batch
        .iter()
        .filter_map(|event| match &event.record {
            Record::Report(report) => Some(format!(
                "{NAME}: REPORT {} {}: {} ms, billed {} ms, {} of {} MB",
                report.request_id,
                report.status,
                report.metrics.duration_ms,
                report.metrics.billed_duration_ms,
                report.metrics.max_memory_used_mb,
                report.metrics.memory_size_mb,
            )),
            _ => None,
        })
        .collect()
}

/// The line for the shutdown, with Lambda's reason.
fn shutting_down(reason: &ShutdownReason) -> String {
    let reason = match reason {
        ShutdownReason::Spindown => "spindown",
        ShutdownReason::Timeout => "timeout",
        ShutdownReason::Failure => "failure",
        ShutdownReason::Other(reason) => reason,
        // A reason a later lambda-kit knows.
        _ => "unknown",
    };
    format!("{NAME}: SHUTDOWN ({reason})")
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::future::Future;
    use std::rc::Rc;

    use lambda_kit::extension::telemetry::{Report, ReportMetrics};
    use lambda_kit::testing::{FakeRuntimeApi, Function, Invocation, ShutdownReason as Reason};
    use lambda_kit::{Context, Runtime};

    use super::*;

    fn batch() -> Vec<Event> {
        serde_json::from_value(serde_json::json!([
            {"time": "2026-12-03T10:15:00.040Z", "type": "platform.start",
             "record": {"requestId": "r-1"}},
            {"time": "2026-12-03T10:15:00.050Z", "type": "platform.report",
             "record": {"requestId": "r-1", "status": "success",
                        "metrics": {"durationMs": 9.5, "billedDurationMs": 10,
                                    "memorySizeMB": 128, "maxMemoryUsedMB": 20}}}
        ]))
        .unwrap()
    }

    #[test]
    fn logs_each_report_and_nothing_else() {
        assert_eq!(
            reports(&batch()),
            [format!(
                "{NAME}: REPORT r-1 success: 9.5 ms, billed 10 ms, 20 of 128 MB"
            )]
        );
        assert!(reports(&batch()[..1]).is_empty());
    }

    #[test]
    fn names_the_invocation_and_the_time_it_has() {
        assert_eq!(
            invoked("r-1", Duration::from_millis(2999)),
            format!("{NAME}: INVOKE r-1 (2999 ms left)")
        );
        assert_eq!(
            shutting_down(&ShutdownReason::Timeout),
            format!("{NAME}: SHUTDOWN (timeout)")
        );
    }

    async fn echo(
        event: serde_json::Value,
        _ctx: Context,
    ) -> Result<serde_json::Value, Diagnostic> {
        Ok(event)
    }

    /// `future`, or a failed test after a minute rather than a hung one.
    async fn patiently<T>(future: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(60), future)
            .await
            .expect("the fake Runtime API did not get there within a minute")
    }

    #[tokio::test]
    async fn beside_a_function_logs_its_invocation_its_report_and_the_shutdown() {
        let api = FakeRuntimeApi::start_for(Function::new("greeter").external_extensions([NAME]))
            .await
            .unwrap();
        let lines = Rc::new(RefCell::new(Vec::<String>::new()));
        let log = {
            let lines = Rc::clone(&lines);
            move |line| lines.borrow_mut().push(line)
        };
        let driver = async {
            patiently(api.started()).await.unwrap();
            let request_id = api.push(Invocation::new(serde_json::json!({"name": "Ada"})));
            patiently(api.outcome(&request_id)).await;
            assert!(patiently(api.completed(&request_id)).await);
            // What Lambda's platform posts once the invocation is complete.
            let metrics = ReportMetrics::new(9.5, 10, 128, 20, None);
            api.emit(Record::Report(Report::new(
                &request_id,
                "success",
                None,
                metrics,
            )));
            patiently(async {
                while !lines.borrow().iter().any(|line| line.contains("REPORT")) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            patiently(api.shutdown(Reason::Spindown, Duration::from_secs(2))).await;
            request_id
        };
        let function = Runtime::new(api.config()).logging(false).serve(echo);
        let (served, request_id) = tokio::select! {
            both = async { tokio::join!(extension(log).serve(api.config()), driver) } => both,
            result = function => panic!("the function's runtime ended: {result:?}"),
        };
        served.unwrap();
        let lines = lines.borrow();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].starts_with(&format!("{NAME}: INVOKE {request_id} (")),
            "{lines:?}"
        );
        assert_eq!(
            lines[1],
            format!("{NAME}: REPORT {request_id} success: 9.5 ms, billed 10 ms, 20 of 128 MB")
        );
        assert_eq!(lines[2], format!("{NAME}: SHUTDOWN (spindown)"));
    }
}
