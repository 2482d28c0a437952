//! `bench states`: a 10,000-item inline Map of Pass states, run by `cargo_lambdakit::states`
//! (the interpreter `serve` runs state machines with) and, side by side in the same run, by
//! moto's interpreter of the States Language (ported from LocalStack's), the peer the
//! conformance tests compare with.
//!
//! Ours: `states::run` on a multi-threaded tokio runtime, from the call to the outcome, with
//! the definition validated once beforehand. moto's: from `StartExecution` to the first
//! `DescribeExecution` that no longer says `RUNNING` (polled every 20 ms), on a moto reset
//! before each execution (moto cannot start a second execution of a machine that has run
//! once). Each run's output is checked: the 10,000 items, in order.

use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cargo_lambdakit::states::{
    self, BoxFuture, Execution, History, Identity, InvokeError, Invoker, Options, Outcome, Stop,
};
use lambda_kit_bench::Error;
use serde_json::{Value, json};

use crate::moto::Moto;

/// The markers of the state machine section in BENCHMARKS.md.
pub(crate) const START: &str = "<!-- states:start -->";
pub(crate) const END: &str = "<!-- states:end -->";

/// The target for ours.
const TARGET: Duration = Duration::from_secs(1);

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";

/// A Map over `$.items`, each item through one Pass state, all at once (no `MaxConcurrency`).
fn definition() -> Value {
    json!({
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": true}}},
            "End": true
        }}
    })
}

fn input(items: usize) -> Value {
    json!({"items": (0..items).collect::<Vec<_>>()})
}

/// Whether `output` is what the Map makes of [`input`]: the items as they were.
fn check_output(who: &str, output: &Value, items: usize) -> Result<(), Error> {
    let expected = input(items);
    if output != &expected["items"] {
        let shown: String = output.to_string().chars().take(200).collect();
        return Err(format!("{who}: the Map's output is not its {items} items: {shown}").into());
    }
    Ok(())
}

/// No function runs in this definition.
struct NoFunctions;

impl Invoker for NoFunctions {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        _: Value,
    ) -> BoxFuture<'a, Result<Value, InvokeError>> {
        Box::pin(async move {
            Err(InvokeError::Service {
                error: "Lambda.ResourceNotFoundException".into(),
                cause: format!("no function {function} in a benchmark"),
            })
        })
    }
}

fn ours(runs: usize, items: usize) -> Result<Vec<Duration>, Error> {
    let machine = Arc::new(
        states::validate(&definition()).map_err(|invalid| format!("the definition: {invalid}"))?,
    );
    let input = input(items);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let name = format!("run-{run}");
        let execution = Execution {
            identity: Identity {
                execution_arn: format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:map:{name}"),
                name,
                state_machine_arn: format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:map"),
                state_machine_name: "map".into(),
                role_arn: format!("arn:aws:iam::{ACCOUNT}:role/states"),
                start_time: SystemTime::now(),
            },
            invoker: Arc::new(NoFunctions),
            options: Options { wait_speed: 1.0 },
            history: History::new(),
            stop: Stop::new(),
        };
        let input = input.clone();
        let machine = Arc::clone(&machine);
        let started = Instant::now();
        let outcome = runtime.block_on(states::run(machine, input, execution));
        times.push(started.elapsed());
        match outcome {
            Outcome::Succeeded { output } => check_output("ours", &output, items)?,
            other => return Err(format!("ours: the execution ended {other:?}").into()),
        }
    }
    Ok(times)
}

/// A POST of `body` to moto, as Step Functions' JSON protocol when `target` is given: its
/// status and JSON answer.
fn post(
    moto: &Moto,
    path: &str,
    target: Option<&str>,
    body: &Value,
) -> Result<(u16, Value), Error> {
    let address = moto.endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.to_string();
    let target = target.map_or_else(String::new, |target| {
        format!(
            "X-Amz-Target: AWSStepFunctions.{target}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        )
    });
    // moto reads the region from the credential scope.
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=bench/20260101/{REGION}/states/aws4_request, SignedHeaders=host, Signature=0"
    );
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAuthorization: {authorization}\r\n{target}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    // Werkzeug may keep the connection open after `Connection: close`: stop at the
    // `Content-Length` it announces.
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 65536];
    let (head, rest) = loop {
        let read = stream.read(&mut buffer)?;
        bytes.extend_from_slice(&buffer[..read]);
        if let Some(at) = bytes.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..at]).into_owned();
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            let body_so_far = bytes.len() - at - 4;
            if read == 0 || length.is_some_and(|length| body_so_far >= length) {
                break (head, bytes[at + 4..].to_vec());
            }
        } else if read == 0 {
            return Err(format!("moto closed the connection before answering {path}").into());
        }
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("moto's answer to {path} has no status: {head}"))?;
    let json = serde_json::from_slice(&rest).unwrap_or(Value::Null);
    Ok((status, json))
}

fn call(moto: &Moto, target: &str, body: Value) -> Result<Value, Error> {
    let (status, answer) = post(moto, "/", Some(target), &body)?;
    if status != 200 {
        return Err(format!("moto answered {target} with {status}: {answer}").into());
    }
    Ok(answer)
}

fn moto(moto: &Moto, runs: usize, items: usize) -> Result<Vec<Duration>, Error> {
    let definition = definition().to_string();
    let input = input(items).to_string();
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        for (path, body) in [
            ("/moto-api/reset", json!({})),
            (
                "/moto-api/config",
                json!({"stepfunctions": {"execute_state_machine": true}}),
            ),
        ] {
            let (status, answer) = post(moto, path, None, &body)?;
            if !(200..300).contains(&status) {
                return Err(format!("moto answered {path} with {status}: {answer}").into());
            }
        }
        let machine = call(
            moto,
            "CreateStateMachine",
            json!({"name": "map", "definition": definition,
                   "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/states")}),
        )?;
        let started = Instant::now();
        let execution = call(
            moto,
            "StartExecution",
            json!({"stateMachineArn": machine["stateMachineArn"], "name": format!("run-{run}"), "input": input}),
        )?;
        let described = loop {
            let described = call(
                moto,
                "DescribeExecution",
                json!({"executionArn": execution["executionArn"]}),
            )?;
            if described["status"] != "RUNNING" {
                break described;
            }
            if started.elapsed() > Duration::from_secs(600) {
                return Err("moto's execution still runs after 10 minutes".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        times.push(started.elapsed());
        if described["status"] != "SUCCEEDED" {
            return Err(format!("moto's execution ended {described}").into());
        }
        let output = described["output"].as_str().unwrap_or("null");
        check_output("moto", &serde_json::from_str(output)?, items)?;
    }
    Ok(times)
}

/// The version of the moto `python3` runs.
fn moto_version() -> Result<String, Error> {
    let output = std::process::Command::new("python3")
        .args(["-c", "import moto; print(moto.__version__)"])
        .output()?;
    if !output.status.success() {
        return Err("cannot read moto's version".into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn shown(time: Duration) -> String {
    if time < Duration::from_secs(1) {
        format!("{:.0} ms", time.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", time.as_secs_f64())
    }
}

/// Runs both `runs` times on `items` items and returns the BENCHMARKS.md section.
pub(crate) fn bench(runs: usize, items: usize) -> Result<String, Error> {
    if runs == 0 || items == 0 {
        return Err("`bench states` needs at least one run of at least one item".into());
    }
    eprintln!("{items}-item Map, ours, {runs} runs ...");
    let ours = ours(runs, items)?;
    eprintln!("{items}-item Map, moto, {runs} runs ...");
    let moto = moto(&Moto::start()?, runs, items)?;
    let version = moto_version()?;
    let (ours, moto) = (median(ours), median(moto));
    let measured = match runs {
        1 => "One run each".to_owned(),
        runs => format!("Median of {runs} runs each"),
    };
    let mut section = String::new();
    writeln!(section, "{START}")?;
    writeln!(section, "## State machines: a {items}-item Map")?;
    writeln!(section)?;
    writeln!(
        section,
        "An inline Map of Pass states over {items} items (`ItemsPath`, no `MaxConcurrency`), run by `cargo_lambdakit::states` (the interpreter of `serve`, on a multi-threaded tokio runtime, from `states::run` to its outcome) and by moto's interpreter (ported from LocalStack's; from `StartExecution` to a `DescribeExecution` that is no longer `RUNNING`, polled every 20 ms). {measured}, in one run of the benchmark; every output checked."
    )?;
    writeln!(section)?;
    let wall = if runs == 1 { "wall" } else { "wall (median)" };
    writeln!(section, "| | {wall} |")?;
    writeln!(section, "|---|---|")?;
    writeln!(
        section,
        "| lambda-kit (`cargo_lambdakit::states`) | {} |",
        shown(ours)
    )?;
    writeln!(
        section,
        "| moto {version} (LocalStack's interpreter) | {} |",
        shown(moto)
    )?;
    writeln!(section)?;
    let verdict = if ours < TARGET { "under" } else { "over" };
    let ratio = moto.as_secs_f64() / ours.as_secs_f64();
    let against = if ratio >= 1.0 {
        format!("{ratio:.0}x faster than moto's")
    } else {
        format!("{:.1}x slower than moto's", 1.0 / ratio)
    };
    writeln!(
        section,
        "Ours is {verdict} the issue's target of a second, and {against}."
    )?;
    writeln!(section)?;
    writeln!(
        section,
        "Rerun: `cargo run --release --locked -p lambda-kit-bench --features states -- states --write` (needs moto)."
    )?;
    write!(section, "{END}")?;
    Ok(section)
}
