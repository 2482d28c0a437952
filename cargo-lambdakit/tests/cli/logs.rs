//! `cargo lambdakit logs` against moto: log events put into its CloudWatch Logs in Lambda's
//! shapes (START, END and REPORT lines in the text format, a cold start's `Init Duration`, the
//! JSON log format's `platform.*` events and application lines, several instances' streams),
//! read back through the CLI: all of them, `--since`, `--filter`, `--output json`, the summary
//! figures, `--tail` following new events until stopped, and a function that is not there.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::moto::{ACCOUNT, Moto, REGION};

/// The function the events are put for, and its log group.
const FUNCTION: &str = "orders";
const GROUP: &str = "/aws/lambda/orders";
/// Two instances' streams, named as Lambda names them.
const WARM: &str = "2026/12/03/[$LATEST]0123456789abcdef0123456789abcdef";
const JSON_STREAM: &str = "2026/12/03/[$LATEST]fedcba9876543210fedcba9876543210";

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// RFC 3339 in UTC for a time in milliseconds, as the CLI prints it.
fn rfc3339(millis: i64) -> String {
    cargo_lambdakit::logs::time(millis)
}

/// Creates `name` on moto's Lambda (with the role it needs there), so that the CLI finds it.
async fn create_function(moto: &Moto, name: &str) {
    let config = moto.config().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let role = iam
        .create_role()
        .role_name(format!("{name}-role"))
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let archive =
        cargo_lambdakit::package::zip::write(vec![cargo_lambdakit::package::zip::Entry {
            name: "bootstrap".into(),
            data: b"#!/bin/sh\n".to_vec(),
            executable: true,
        }])
        .unwrap();
    aws_sdk_lambda::Client::new(&config)
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role.role().unwrap().arn())
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(archive.bytes.into())
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Puts `events` (milliseconds since the epoch, message) into `stream` of `group`, creating
/// them as needed.
async fn put(moto: &Moto, group: &str, stream: &str, events: &[(i64, &str)]) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.config().await);
    // Each fails only when it exists already.
    let _ = logs.create_log_group().log_group_name(group).send().await;
    let _ = logs
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await;
    let mut request = logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream);
    for (timestamp, message) in events {
        request = request.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(*timestamp)
                .message(*message)
                .build()
                .unwrap(),
        );
    }
    request.send().await.unwrap();
}

/// The report lines of the events put: three invocations in the last ten minutes (two cold
/// starts, one of them in the JSON format), and one two hours ago.
const REPORT_1: &str = "REPORT RequestId: r-1\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tInit Duration: 150.25 ms\t\n";
const REPORT_2: &str = "REPORT RequestId: r-2\tDuration: 40.00 ms\tBilled Duration: 40 ms\tMemory Size: 128 MB\tMax Memory Used: 22 MB\t\nXRAY TraceId: 1-67a1b2c3-0123456789abcdef01234567\tSegmentId: 0123456789abcdef\tSampled: true\t\n";
const REPORT_OLD: &str = "REPORT RequestId: r-0\tDuration: 1000.00 ms\tBilled Duration: 1000 ms\tMemory Size: 128 MB\tMax Memory Used: 90 MB\t\n";

/// A function whose instances wrote in both formats; returns when the recent events start.
async fn function_with_logs(moto: &Moto) -> i64 {
    create_function(moto, FUNCTION).await;
    let now = now_ms();
    let recent = now - 5 * 60_000;
    let old = now - 2 * 3_600_000;
    put(
        moto,
        GROUP,
        WARM,
        &[
            (old, "START RequestId: r-0 Version: $LATEST\n"),
            (old + 1_000, REPORT_OLD),
            (
                recent,
                "INIT_START Runtime Version: provided:al2023.v95\tRuntime Version ARN: arn:aws:lambda:eu-west-1::runtime:0a1b\n",
            ),
            (recent + 100, "START RequestId: r-1 Version: $LATEST\n"),
            (
                recent + 110,
                "[INFO]\t2026-12-03T18:00:00.110Z\tr-1\tpricing order o-1\n",
            ),
            (recent + 120, "END RequestId: r-1\n"),
            (recent + 130, REPORT_1),
            (recent + 60_000, "START RequestId: r-2 Version: $LATEST\n"),
            (
                recent + 60_010,
                "[ERROR]\t2026-12-03T18:01:00.010Z\tr-2\tpayment declined for o-2\n",
            ),
            (recent + 60_040, "END RequestId: r-2\n"),
            (recent + 60_050, REPORT_2),
        ],
    )
    .await;
    put(
        moto,
        GROUP,
        JSON_STREAM,
        &[
            (
                recent + 30_000,
                r#"{"time":"2026-12-03T18:00:30.000Z","type":"platform.start","record":{"requestId":"r-3","version":"$LATEST"}}"#,
            ),
            (
                recent + 30_010,
                r#"{"timestamp":"2026-12-03T18:00:30.010Z","level":"WARN","message":"slow downstream","requestId":"r-3","service":"payments","waited_ms":850}"#,
            ),
            (
                recent + 30_900,
                r#"{"time":"2026-12-03T18:00:30.900Z","type":"platform.report","record":{"requestId":"r-3","metrics":{"durationMs":75.0,"billedDurationMs":76,"memorySizeMB":128,"maxMemoryUsedMB":30,"initDurationMs":90.5},"status":"success"}}"#,
            ),
        ],
    )
    .await;
    recent
}

/// `cargo lambdakit logs ARGS` against `moto`; no project is needed.
fn logs(moto: &Moto, args: &[&str]) -> Output {
    let mut command = crate::support::lambdakit();
    command.arg("logs").args(args);
    moto.environment(&mut command).output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The lines printed, without their time (checked apart) and with the stream shortened.
fn lines(output: &Output) -> Vec<String> {
    stdout(output)
        .lines()
        .map(|line| match line.split_once(' ') {
            Some((time, rest)) if time.ends_with('Z') && time.len() == 24 => rest.to_owned(),
            _ => line.to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn logs_prints_events_with_reports_summarised_since_a_time_and_filtered() {
    let Some(moto) = Moto::start() else { return };
    let recent = function_with_logs(&moto).await;

    // The last ten minutes, by default: both streams, in time order, and the summary.
    let all = logs(&moto, &[FUNCTION]);
    assert_eq!(
        lines(&all),
        [
            "[$LATEST]01234567 INIT_START Runtime Version: provided:al2023.v95\tRuntime Version ARN: arn:aws:lambda:eu-west-1::runtime:0a1b",
            "[$LATEST]01234567 START r-1 ($LATEST)",
            "[$LATEST]01234567 [INFO]\t2026-12-03T18:00:00.110Z\tr-1\tpricing order o-1",
            "[$LATEST]01234567 END r-1",
            "[$LATEST]01234567 REPORT r-1  duration 12.50 ms (billed 13 ms)  memory 20/128 MB  cold start (init 150.25 ms)",
            "[$LATEST]fedcba98 START r-3 ($LATEST)",
            "[$LATEST]fedcba98 WARN slow downstream service=payments waited_ms=850 [r-3]",
            "[$LATEST]fedcba98 REPORT r-3  duration 75.00 ms (billed 76 ms)  memory 30/128 MB  cold start (init 90.50 ms)",
            "[$LATEST]01234567 START r-2 ($LATEST)",
            "[$LATEST]01234567 [ERROR]\t2026-12-03T18:01:00.010Z\tr-2\tpayment declined for o-2",
            "[$LATEST]01234567 END r-2",
            "[$LATEST]01234567 REPORT r-2  duration 40.00 ms (billed 40 ms)  memory 22/128 MB",
            "summary: 12 events from 2 streams; 3 invocations, 2 cold starts (init max 150.25 ms); duration p50 40.00 ms, p99 75.00 ms, max 75.00 ms; billed 129 ms; memory used up to 30/128 MB",
        ]
    );
    // Each line starts with its event's time.
    let text = stdout(&all);
    assert!(
        text.starts_with(&format!("{} [$LATEST]01234567 INIT_START", rfc3339(recent))),
        "{text}"
    );

    // Further back, the old invocation too; by ARN, whose region is the one read.
    let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}");
    let three_hours = lines(&logs(&moto, &[&arn, "--since", "3h"]));
    assert_eq!(three_hours.len(), 15, "{three_hours:#?}");
    assert_eq!(three_hours[0], "[$LATEST]01234567 START r-0 ($LATEST)");
    assert_eq!(
        three_hours.last().unwrap(),
        "summary: 14 events from 2 streams; 4 invocations, 2 cold starts (init max 150.25 ms); duration p50 40.00 ms, p99 1000.00 ms, max 1000.00 ms; billed 1129 ms; memory used up to 90/128 MB"
    );

    // From an RFC 3339 time: only the second text invocation.
    let since = rfc3339(recent + 59_000);
    let later = lines(&logs(&moto, &[FUNCTION, "--since", &since]));
    assert_eq!(later.len(), 5, "{later:#?}");
    assert_eq!(later[0], "[$LATEST]01234567 START r-2 ($LATEST)");
    assert!(
        later[4].starts_with("summary: 4 events from 1 stream; 1 invocation, 0 cold starts;"),
        "{later:#?}"
    );

    // A filter pattern, passed to CloudWatch: the lines that have the term.
    let declined = lines(&logs(
        &moto,
        &[FUNCTION, "--filter", "\"payment declined\""],
    ));
    assert_eq!(
        declined,
        [
            "[$LATEST]01234567 [ERROR]\t2026-12-03T18:01:00.010Z\tr-2\tpayment declined for o-2",
            "summary: 1 event from 1 stream; no REPORT line, so no invocation figures",
        ]
    );
    let nothing = stdout(&logs(
        &moto,
        &[FUNCTION, "--filter", "nowhere", "--since", "1h"],
    ));
    assert!(
        nothing.starts_with("no events in `/aws/lambda/orders` matching `nowhere` since "),
        "{nothing}"
    );
}

#[tokio::test]
async fn logs_output_json_is_one_document_with_what_each_line_says() {
    let Some(moto) = Moto::start() else { return };
    let recent = function_with_logs(&moto).await;
    let output = logs(&moto, &[FUNCTION, "--output", "json", "--since", "30m"]);
    let document: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(document["function"], FUNCTION);
    assert_eq!(document["log_group"], GROUP);
    let events = document["events"].as_array().unwrap();
    assert_eq!(events.len(), 12);
    let kinds: Vec<&str> = events
        .iter()
        .map(|event| event["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "text", "start", "text", "end", "report", "start", "json", "report", "start", "text",
            "end", "report"
        ]
    );
    // Each event keeps its time, stream, id and message as CloudWatch has them.
    assert_eq!(events[0]["timestamp_ms"], recent);
    assert_eq!(events[0]["timestamp"], rfc3339(recent));
    assert_eq!(events[5]["stream"], JSON_STREAM);
    assert!(events.iter().all(|event| event["event_id"].is_string()));
    assert_eq!(events[3]["message"], "END RequestId: r-1");
    // A REPORT line's figures, in both formats.
    let report = &events[4]["report"];
    assert_eq!(report["request_id"], "r-1");
    assert_eq!(report["duration_ms"], 12.5);
    assert_eq!(report["billed_duration_ms"], 13.0);
    assert_eq!(report["memory_size_mb"], 128.0);
    assert_eq!(report["max_memory_used_mb"], 20.0);
    assert_eq!(report["init_duration_ms"], 150.25);
    assert_eq!(report["cold_start"], true);
    assert_eq!(events[7]["report"]["init_duration_ms"], 90.5);
    assert_eq!(events[7]["report"]["status"], "success");
    assert_eq!(events[11]["report"]["cold_start"], false);
    // A JSON application line, read.
    assert_eq!(events[6]["request_id"], "r-3");
    assert_eq!(events[6]["record"]["level"], "WARN");
    assert_eq!(events[6]["record"]["waited_ms"], 850);
    // The summary, computed from the three REPORT lines put.
    let summary = &document["summary"];
    assert_eq!(summary["events"], 12);
    assert_eq!(summary["streams"], 2);
    assert_eq!(summary["invocations"], 3);
    assert_eq!(summary["cold_starts"], 2);
    assert_eq!(summary["duration_ms"]["p50"], 40.0);
    assert_eq!(summary["duration_ms"]["p99"], 75.0);
    assert_eq!(summary["duration_ms"]["max"], 75.0);
    assert_eq!(summary["billed_duration_ms"], 129.0);
    assert_eq!(summary["max_memory_used_mb"], 30.0);
}

/// A `logs --tail` running, its stdout and stderr lines arriving on channels.
struct Tail {
    child: std::process::Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Tail {
    fn start(moto: &Moto, args: &[&str]) -> Self {
        let mut command = crate::support::lambdakit();
        command.args(["logs", FUNCTION, "--tail"]).args(args);
        let mut child = moto
            .environment(&mut command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = |pipe: Box<dyn std::io::Read + Send>| {
            let (sender, receiver) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = sender.send(line);
                }
            });
            receiver
        };
        Self {
            stdout: lines(Box::new(child.stdout.take().unwrap())),
            stderr: lines(Box::new(child.stderr.take().unwrap())),
            child,
        }
    }

    /// The lines of `receiver` up to and including the first that has `text`.
    fn until(receiver: &mpsc::Receiver<String>, text: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = receiver
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no line with `{text}` within 30 s: {seen:#?}"));
            seen.push(line);
            if seen.last().unwrap().contains(text) {
                return seen;
            }
        }
    }

    /// Sends `signal` (`INT`, as Ctrl-C does, or `TERM`), waits for the exit, and returns
    /// the rest of stdout.
    fn stop(mut self, signal: &str) -> (std::process::ExitStatus, Vec<String>) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        (status, self.stdout.iter().collect())
    }
}

#[tokio::test]
async fn logs_tail_prints_new_events_once_until_stopped() {
    let Some(moto) = Moto::start() else { return };
    function_with_logs(&moto).await;
    let tail = Tail::start(&moto, &[]);
    // The first poll's events, then the notice that it follows.
    let mut printed = Tail::until(&tail.stdout, "REPORT r-2");
    assert_eq!(printed.len(), 12, "{printed:#?}");
    Tail::until(
        &tail.stderr,
        "following `/aws/lambda/orders` for new events",
    );
    // An invocation on a new instance, after the tail started.
    let now = now_ms();
    put(
        &moto,
        GROUP,
        "2026/12/03/[$LATEST]00000000111111112222222233333333",
        &[
            (now, "START RequestId: r-4 Version: $LATEST\n"),
            (now + 5, "[INFO]\t2026-12-03T18:10:00.005Z\tr-4\tafter the tail began\n"),
            (
                now + 9,
                "REPORT RequestId: r-4\tDuration: 4.00 ms\tBilled Duration: 4 ms\tMemory Size: 128 MB\tMax Memory Used: 19 MB\tInit Duration: 80.00 ms\t\n",
            ),
        ],
    )
    .await;
    printed.extend(Tail::until(&tail.stdout, "REPORT r-4"));
    // Let a few more polls pass over the same events: none is printed twice.
    std::thread::sleep(Duration::from_secs(5));
    let (status, rest) = tail.stop("INT");
    assert!(status.success(), "{status:?}");
    printed.extend(rest);
    let summary = printed.pop().unwrap();
    assert_eq!(printed.len(), 15, "{printed:#?}");
    let mut unique = printed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), printed.len(), "printed twice: {printed:#?}");
    assert!(printed[12].ends_with("[$LATEST]00000000 START r-4 ($LATEST)"));
    assert!(printed[14].ends_with("cold start (init 80.00 ms)"));
    assert_eq!(
        summary,
        "summary: 15 events from 3 streams; 4 invocations, 3 cold starts (init max 150.25 ms); duration p50 12.50 ms, p99 75.00 ms, max 75.00 ms; billed 133 ms; memory used up to 30/128 MB"
    );

    // SIGTERM stops it as cleanly; in JSON, each event is a line and the summary the last.
    let tail = Tail::start(&moto, &["--output", "json", "--since", "1h"]);
    Tail::until(&tail.stderr, "following");
    let (status, lines) = tail.stop("TERM");
    assert!(status.success(), "{status:?}");
    let lines: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 16);
    assert_eq!(lines[14]["request_id"], "r-4");
    assert_eq!(lines[15]["summary"]["invocations"], 4);
}

#[tokio::test]
async fn a_function_or_log_group_that_is_not_there_is_named() {
    let Some(moto) = Moto::start() else { return };
    create_function(&moto, FUNCTION).await;

    let unknown = logs(&moto, &["ordrs"]);
    assert_eq!(unknown.status.code(), Some(4), "{unknown:?}");
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(
        stderr.lines().next().unwrap(),
        format!("error: there is no Lambda function `ordrs` in `{REGION}`; did you mean `orders`?")
    );
    assert!(
        stderr.contains("\nhint: check the name and the region"),
        "{stderr}"
    );

    // Deployed, never run: no log group yet.
    let never_run = logs(&moto, &[FUNCTION, "--tail"]);
    assert_eq!(never_run.status.code(), Some(4), "{never_run:?}");
    let stderr = String::from_utf8_lossy(&never_run.stderr);
    assert!(
        stderr.starts_with(
            "error: the function `orders` has no log group `/aws/lambda/orders` yet\nhint: Lambda creates it when the function first runs"
        ),
        "{stderr}"
    );
}

#[test]
fn a_since_that_is_neither_a_duration_nor_a_time_names_the_forms() {
    let output = crate::support::lambdakit()
        .args(["logs", FUNCTION, "--since", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for form in [
        "'yesterday'",
        "--since",
        "`10m`",
        "`2d`",
        "RFC 3339",
        "2026-01-31T12:00:00Z",
    ] {
        assert!(stderr.contains(form), "{form}: {stderr}");
    }
}
