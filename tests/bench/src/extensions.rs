//! `bench extensions`: what extensions cost the lambda-kit echo function, in instructions
//! under callgrind. Three builds of it: as it is (no hook, no extension: the runtime must
//! register nothing and open nothing), with a shutdown hook (the internal extension
//! `lambda-kit-shutdown`, registered for no events) and with an internal extension registered
//! for `INVOKE`; and, with `--baseline REV`, the echo function built from a commit before
//! lambda-kit had extensions.
//!
//! These run against `lambda_kit::testing`'s Runtime API server, the one `cargo lambdakit
//! serve` runs, rather than the fake of the main report: it answers the Extensions API as
//! Lambda does (an invocation is complete once the runtime answered and every `INVOKE`
//! extension asked for its next event), and the protocol is spelled only there. Every subject
//! of the table, the baseline too, runs against it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lambda_kit::testing::{FakeRuntimeApi, Invocation, Outcome};
use lambda_kit_bench::{EVENT, Error, Subject};

/// The markers of the extensions section in BENCHMARKS.md, which the runtime report keeps.
pub(crate) const START: &str = "<!-- extensions:start -->";
pub(crate) const END: &str = "<!-- extensions:end -->";

/// The three builds of the echo function, as it is first.
const SUBJECTS: [Subject; 3] = [
    Subject {
        label: "lambda-kit",
        package: "bench-lambda-kit-echo",
    },
    Subject {
        label: "with `on_shutdown`",
        package: "bench-lambda-kit-echo-shutdown",
    },
    Subject {
        label: "with an `INVOKE` extension",
        package: "bench-lambda-kit-echo-extension",
    },
];

/// What `bench extensions` was asked for.
pub(crate) struct Options {
    /// Invocations under callgrind (less a run with none).
    pub(crate) invocations: usize,
    /// A commit whose echo function is the baseline.
    pub(crate) baseline: Option<String>,
    /// Build with the dev profile: the test suite's quick run.
    pub(crate) dev: bool,
}

/// One column of the table.
struct Column {
    label: String,
    per_invocation: u64,
    init: u64,
    /// Extensions the subject registered.
    registered: usize,
    /// Connections the subject opened to the API.
    connections: usize,
}

/// Builds and measures the subjects; returns the section for BENCHMARKS.md.
pub(crate) fn bench(options: &Options) -> Result<String, Error> {
    let mut binaries = Vec::new();
    // The baseline first: it is built in the same target directory, and the current echo
    // function is built again after it.
    if let Some(rev) = &options.baseline {
        eprintln!("building the echo function at {rev} ...");
        let binary = build_at(rev, options.dev)?;
        binaries.push((format!("lambda-kit at `{rev}`, before extensions"), binary));
    }
    for subject in SUBJECTS {
        eprintln!("building {} ...", subject.package);
        binaries.push((
            subject.label.to_owned(),
            lambda_kit_bench::build(&subject, !options.dev)?,
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut columns = Vec::new();
    for (label, binary) in binaries {
        eprintln!("counting {label} ...");
        let init = count(&runtime, &binary, 0)?;
        let all = count(&runtime, &binary, options.invocations)?;
        if (init.registered, init.connections) != (all.registered, all.connections) {
            return Err(format!(
                "{label} registered {} extensions on {} connections in init, and {} on {} in all: \
                 it did something for an invocation it should have done once",
                init.registered, init.connections, all.registered, all.connections
            )
            .into());
        }
        columns.push(Column {
            label,
            per_invocation: all.instructions.saturating_sub(init.instructions)
                / options.invocations.max(1) as u64,
            init: init.instructions,
            registered: all.registered,
            connections: all.connections,
        });
    }
    let plain = columns
        .iter()
        .position(|column| column.label == SUBJECTS[0].label)
        .ok_or("the echo function was not measured")?;
    if (columns[plain].registered, columns[plain].connections) != (0, 1) {
        return Err(format!(
            "the echo function without extensions registered {} extensions on {} connections; \
             it must register none on its one connection",
            columns[plain].registered, columns[plain].connections
        )
        .into());
    }
    Ok(report(options, &columns, plain))
}

/// What one callgrind run of a subject saw.
struct Count {
    instructions: u64,
    registered: usize,
    connections: usize,
}

/// Runs `binary` under callgrind against a fresh server for `invocations` invocations of
/// [`EVENT`], each checked and waited for until complete, and stops it.
fn count(
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    invocations: usize,
) -> Result<Count, Error> {
    let api = runtime.block_on(FakeRuntimeApi::start())?;
    let out_file = std::env::temp_dir().join(format!(
        "lambda-kit-bench-extensions-{}.{invocations}.callgrind",
        std::process::id()
    ));
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(binary);
    let mut child = lambda_kit_bench::spawn(command, api.address()).map_err(|error| {
        format!("cannot start valgrind ({error}); install it with `apt-get install valgrind`")
    })?;
    let limit = Duration::from_secs(120 + invocations as u64 / 10);
    let driven = runtime.block_on(async {
        tokio::time::timeout(limit, drive(&api, invocations))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "`{}` did not get through {invocations} invocations within {} s",
                    binary.display(),
                    limit.as_secs()
                )
                .into())
            })
    });
    // Stopped either way; the server is still up while it exits.
    let stopped = lambda_kit_bench::stop(&mut child);
    driven?;
    stopped?;
    let instructions = lambda_kit_bench::callgrind_total(&out_file)?;
    let _ = std::fs::remove_file(&out_file);
    Ok(Count {
        instructions,
        registered: api.extensions().len(),
        connections: api.connections(),
    })
}

/// Waits for init to end, then hands out `invocations` invocations one at a time, each
/// answered with the event and complete before the next.
async fn drive(api: &FakeRuntimeApi, invocations: usize) -> Result<(), Error> {
    api.started()
        .await
        .map_err(|report| format!("init failed: {report:?}"))?;
    let event: serde_json::Value = serde_json::from_str(EVENT)?;
    for index in 0..invocations {
        // Lambda sends a fresh trace header with every invocation, as the main report's fake does.
        let request_id = api.push(Invocation::new(&event).trace_id(&format!(
            "Root=1-5759e988-{index:024x};Parent=53995c3f42cd8ad8;Sampled=0"
        )));
        match api.outcome(&request_id).await {
            Outcome::Response(body)
                if serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .as_ref()
                    == Some(&event) => {}
            other => return Err(format!("invocation {index} was answered with {other:?}").into()),
        }
        if !api.completed(&request_id).await {
            return Err(format!("invocation {index} never completed").into());
        }
    }
    Ok(())
}

/// Builds the echo function as it was at `rev`, in a git worktree of its own (removed after),
/// with this workspace's target directory, and keeps a copy of its binary.
fn build_at(rev: &str, dev: bool) -> Result<PathBuf, Error> {
    let root = lambda_kit_bench::workspace_root();
    let checkout =
        std::env::temp_dir().join(format!("lambda-kit-bench-baseline-{}", std::process::id()));
    let git = |args: &[&str]| -> Result<(), Error> {
        let status = Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`git {}` failed with {status}", args.join(" ")).into())
        }
    };
    let checkout_arg = checkout.display().to_string();
    git(&["worktree", "add", "--quiet", "--detach", &checkout_arg, rev])?;
    let built = (|| -> Result<PathBuf, Error> {
        let target = lambda_kit_bench::target_dir();
        let mut command = Command::new(lambda_kit_bench::cargo());
        command
            .current_dir(&checkout)
            .env("CARGO_TARGET_DIR", &target)
            .args(["build", "--locked", "--quiet", "-p", SUBJECTS[0].package]);
        if !dev {
            command.arg("--release");
        }
        let status = command.status()?;
        if !status.success() {
            return Err(format!(
                "`cargo build` of the echo function at {rev} failed with {status}"
            )
            .into());
        }
        let binary = target
            .join(if dev { "debug" } else { "release" })
            .join(SUBJECTS[0].package);
        let kept = std::env::temp_dir().join(format!(
            "lambda-kit-bench-baseline-{}-{}",
            std::process::id(),
            SUBJECTS[0].package
        ));
        std::fs::copy(&binary, &kept)?;
        Ok(kept)
    })();
    let removed = git(&["worktree", "remove", "--force", &checkout_arg]);
    let built = built?;
    removed?;
    Ok(built)
}

/// The section: the table, what it shows, and how to rerun it.
fn report(options: &Options, columns: &[Column], plain: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{START}\n## Extensions\n");
    let _ =
        writeln!(
        out,
        "The lambda-kit echo function as it is, with a shutdown hook (`Runtime::on_shutdown`, for \
         which the runtime registers the internal extension `lambda-kit-shutdown` for no events, \
         so that Lambda sends SIGTERM), and with an internal extension registered for `INVOKE` \
         (`Runtime::extension(Extension::new(\"x\").on_invoke(..))`, a hook that returns at \
         once){}. Each runs under callgrind against `lambda_kit::testing`'s Runtime API server, \
         the one `cargo lambdakit serve` runs, whose Extensions API holds an invocation until \
         every `INVOKE` extension has asked for its next event; {} invocations, each complete \
         before the next, less a run with none (init). The counts are not those of the table \
         above, whose fake Runtime API answers differently (and has no Extensions API).\n",
        options.baseline.as_ref().map_or(String::new(), |rev| format!(
            ", beside the same echo function built from `{rev}`, the commit before lambda-kit \
             had extensions"
        )),
        options.invocations
    );
    let _ = writeln!(
        out,
        "| | {} |\n|---|{}",
        columns
            .iter()
            .map(|column| column.label.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(columns.len())
    );
    let mut line = |name: &str, value: &dyn Fn(&Column) -> String| {
        let _ = writeln!(
            out,
            "| {name} | {} |",
            columns.iter().map(value).collect::<Vec<_>>().join(" | ")
        );
    };
    let base = columns[plain].per_invocation;
    line("instructions / invocation", &|column| {
        column.per_invocation.to_string()
    });
    line("instructions / invocation, above lambda-kit's", &|column| {
        format!("{:+}", column.per_invocation as i64 - base as i64)
    });
    line("instructions, init", &|column| column.init.to_string());
    line("extensions registered", &|column| {
        column.registered.to_string()
    });
    line("connections to the Runtime API", &|column| {
        column.connections.to_string()
    });
    let share = |column: &Column| {
        let above = column.per_invocation as f64 - base as f64;
        format!(
            "{above:+.0} instructions ({:+.1}%)",
            100.0 * above / (base.max(1) as f64)
        )
    };
    let _ = writeln!(
        out,
        "\nThe function without a hook or an extension registers nothing and opens one \
         connection (the run fails otherwise); built without the `extension` feature, it \
         runs none of its code. Per invocation, the shutdown hook's extension costs {}: it \
         waits on its own connection and is polled only when that connection or SIGTERM wakes \
         it, not at each of the poll loop's wakes. An `INVOKE` extension costs {}: its own \
         `event/next` request and answer per invocation, and its hook's future.\n\n\
         Rerun: `cargo run --release --locked -p lambda-kit-bench -- extensions{} --write` \
         (needs valgrind; `--baseline REV` builds the echo function of REV in a git worktree).\n{END}",
        share(&columns[plain + 1]),
        share(&columns[plain + 2]),
        options
            .baseline
            .as_ref()
            .map_or(String::new(), |rev| format!(" --baseline {rev}"))
    );
    out
}
