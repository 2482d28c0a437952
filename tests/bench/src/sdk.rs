//! `bench sdk`: the cold start of a function that builds AWS SDK clients, with
//! `lambda_kit::aws` (`bench-lambda-kit-sdk`) and with the usual set-up on `lambda_runtime`
//! (`bench-lambda-runtime-sdk`, `aws_config::defaults(BehaviorVersion::latest()).load()`).
//! Both build an S3 and a DynamoDB client in their set-up and make one call of each per
//! invocation, against moto on 127.0.0.1, with the execution role's credentials and
//! `AWS_ENDPOINT_URL` in their environment as Lambda would set them.
//!
//! In one run, for each: the instructions of init (exec to the first `/next`, under callgrind),
//! the instructions of the first invocation (a run with one, less init), and init's wall-clock
//! time (the median of 25 starts without valgrind). Like `bench traces`, these run against
//! `lambda_kit::testing`'s Runtime API server.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use lambda_kit::testing::{FakeRuntimeApi, Invocation, Outcome};
use lambda_kit_bench::{EVENT, Error, Subject};

use crate::moto::Moto;

/// The markers of the SDK section in BENCHMARKS.md.
pub(crate) const START: &str = "<!-- sdk:start -->";
pub(crate) const END: &str = "<!-- sdk:end -->";

const OURS: Subject = Subject {
    label: "lambda-kit, `lambda_kit::aws::config()`",
    package: "bench-lambda-kit-sdk",
};
const PEER: Subject = Subject {
    label: "lambda_runtime 1.5, `aws_config::defaults(..).load()`",
    package: "bench-lambda-runtime-sdk",
};

/// What `bench sdk` was asked for.
pub(crate) struct Options {
    /// Process starts for the wall-clock median.
    pub(crate) starts: usize,
    pub(crate) dev: bool,
}

struct Column {
    label: &'static str,
    init: u64,
    first_call: u64,
    init_wall: Duration,
}

impl Moto {
    /// The environment Lambda gives a function with an execution role, its endpoint moto.
    fn vars(&self) -> [(&str, &str); 4] {
        [
            ("AWS_ACCESS_KEY_ID", "ASIABENCHROLE"),
            ("AWS_SECRET_ACCESS_KEY", "bench-secret"),
            ("AWS_SESSION_TOKEN", "bench-session-token"),
            ("AWS_ENDPOINT_URL", &self.endpoint),
        ]
    }
}

/// Builds and measures; returns the section for BENCHMARKS.md.
pub(crate) fn bench(options: &Options) -> Result<String, Error> {
    let moto = Moto::start()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut columns = Vec::new();
    for subject in [OURS, PEER] {
        eprintln!("building {} ...", subject.package);
        let binary = lambda_kit_bench::build(&subject, !options.dev)?;
        eprintln!("counting {} ...", subject.label);
        let init = runtime.block_on(count(&binary, &moto, 0))?;
        let one = runtime.block_on(count(&binary, &moto, 1))?;
        eprintln!("timing {} starts of {} ...", options.starts, subject.label);
        let init_wall = runtime.block_on(init_wall(&binary, &moto, options.starts))?;
        columns.push(Column {
            label: subject.label,
            init,
            first_call: one.saturating_sub(init),
            init_wall,
        });
    }
    Ok(report(options, &columns))
}

/// Starts `binary` with moto's environment, against `api`.
fn spawn(command: Command, api: &FakeRuntimeApi, moto: &Moto) -> Result<Child, Error> {
    lambda_kit_bench::spawn_with(command, api.address(), &moto.vars())
}

/// Runs `binary` under callgrind for `invocations` invocations and counts its instructions.
async fn count(binary: &Path, moto: &Moto, invocations: usize) -> Result<u64, Error> {
    let api = FakeRuntimeApi::start().await?;
    let out_file = std::env::temp_dir().join(format!(
        "lambda-kit-bench-sdk-{}.{invocations}.callgrind",
        std::process::id()
    ));
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(binary);
    let mut child = spawn(command, &api, moto).map_err(|error| {
        format!("cannot start valgrind ({error}); install it with `apt-get install valgrind`")
    })?;
    let limit = Duration::from_secs(300);
    let driven = tokio::time::timeout(limit, drive(&api, invocations))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{} did not finish within {} s",
                binary.display(),
                limit.as_secs()
            )
            .into())
        });
    let stopped = lambda_kit_bench::stop(&mut child);
    driven?;
    stopped?;
    let instructions = lambda_kit_bench::callgrind_total(&out_file)?;
    let _ = std::fs::remove_file(&out_file);
    Ok(instructions)
}

/// Waits for the first `/next`, then hands out `invocations` invocations one at a time, each
/// answered with both calls' results and complete before the next.
async fn drive(api: &FakeRuntimeApi, invocations: usize) -> Result<(), Error> {
    api.started()
        .await
        .map_err(|report| format!("init failed: {report:?}"))?;
    let event: serde_json::Value = serde_json::from_str(EVENT)?;
    for index in 0..invocations {
        let request_id = api.push(Invocation::new(&event));
        match api.outcome(&request_id).await {
            Outcome::Response(body)
                if serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|answer| {
                    answer["buckets"].is_u64() && answer["tables"].is_u64()
                }) => {}
            other => return Err(format!("invocation {index} was answered with {other:?}").into()),
        }
        if !api.completed(&request_id).await {
            return Err(format!("invocation {index} never completed").into());
        }
    }
    Ok(())
}

/// The median time from spawn to the first `/next` over `starts` starts.
async fn init_wall(binary: &Path, moto: &Moto, starts: usize) -> Result<Duration, Error> {
    let mut times = Vec::with_capacity(starts);
    for _ in 0..starts {
        let api = FakeRuntimeApi::start().await?;
        let spawned = Instant::now();
        let mut child = spawn(Command::new(binary), &api, moto)?;
        let started = tokio::time::timeout(Duration::from_secs(30), api.started()).await;
        let elapsed = spawned.elapsed();
        let stopped = lambda_kit_bench::stop(&mut child);
        match started {
            Ok(Ok(())) => times.push(elapsed),
            Ok(Err(report)) => return Err(format!("init failed: {report:?}").into()),
            Err(_) => return Err(format!("{} did not start within 30 s", binary.display()).into()),
        }
        stopped?;
    }
    times.sort();
    Ok(times.get(times.len() / 2).copied().unwrap_or_default())
}

fn millions(instructions: u64) -> String {
    format!("{:.2}M", instructions as f64 / 1e6)
}

fn report(options: &Options, columns: &[Column]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{START}\n## AWS SDK cold start\n");
    let _ = writeln!(
        out,
        "A function that builds an S3 and a DynamoDB client in its set-up and makes one call of \
         each per invocation (`ListBuckets`, `ListTables`) against moto on 127.0.0.1, with the \
         execution role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, \
         `AWS_SESSION_TOKEN`), `AWS_REGION` and `AWS_ENDPOINT_URL` in its environment: on \
         lambda-kit with `lambda_kit::aws::config()`, and on lambda_runtime 1.5 with the usual \
         `aws_config::defaults(BehaviorVersion::latest()).load()` and the SDK's HTTPS client on \
         rustls with ring and its default trust store (the system's roots). Init: exec to the \
         first `/next`, under callgrind (instructions) and without (the median of {} starts). \
         First call: a run with one invocation, less init. Against `lambda_kit::testing`'s \
         Runtime API server.\n",
        options.starts
    );
    let _ = writeln!(
        out,
        "| | init, instructions | init, wall (median) | first call, instructions |\n|---|---|---|---|"
    );
    for column in columns {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} ms | {} |",
            column.label,
            millions(column.init),
            column.init_wall.as_secs_f64() * 1e3,
            millions(column.first_call),
        );
    }
    if let [ours, peer] = columns {
        let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
        let _ = writeln!(
            out,
            "\n- init, instructions: {:.2}x of lambda_runtime's (the issue's target: at most 0.15x)\n\
             - init, wall: {:.2}x\n\
             - init and first call together, instructions: {:.2}x",
            ratio(ours.init, peer.init),
            ours.init_wall.as_secs_f64() / peer.init_wall.as_secs_f64().max(1e-9),
            ratio(ours.init + ours.first_call, peer.init + peer.first_call),
        );
    }
    let _ = writeln!(
        out,
        "\nlambda_runtime's set-up spends its init loading the system's root certificates \
         (triggered by the credential chain's STS client, then once more per client), which \
         `lambda_kit::aws` replaces with Amazon's five root CAs and the environment's \
         credentials as they are. Its HTTPS connector is built on the first call, once for both \
         clients: part of what init saves shows up there.\n\n\
         Rerun: `cargo run --release --locked -p lambda-kit-bench -- sdk --write` (needs \
         valgrind and moto).\n{END}"
    );
    out
}
