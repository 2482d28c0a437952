//! `bench`: builds every subject in release mode, measures each, prints the table and, with
//! `--write`, rewrites `BENCHMARKS.md`.
//!
//! ```text
//! cargo run --release --locked -p lambda-kit-bench -- [--invocations N] [--callgrind N] [--write]
//!     [--dev] [--no-cargo-lambda]
//! cargo run --release --locked -p lambda-kit-bench -- profile BINARY INVOCATIONS OUT_FILE
//! cargo run --release --locked -p lambda-kit-bench -- deploy [--rounds N] [--write]
//! cargo run --release --locked -p lambda-kit-bench -- build [--write]
//! cargo run --release --locked -p lambda-kit-bench -- extensions [--invocations N]
//!     [--baseline REV] [--dev] [--write]
//! cargo run --release --locked -p lambda-kit-bench -- traces [--invocations N] [--dev] [--write]
//! cargo run --release --locked -p lambda-kit-bench -- sdk [--starts N] [--dev] [--write]
//! cargo run --release --locked -p lambda-kit-bench -- static [--invocations N] [--starts N]
//!     [--no-arm64-sdk] [--write]
//! cargo run --release --locked -p lambda-kit-bench --features states -- states [--runs N]
//!     [--items N] [--write]
//! ```

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use lambda_kit_bench::{Error, SUBJECTS, Subject};

mod building;
mod deploy;
mod extensions;
mod moto;
mod sdk;
#[cfg(feature = "states")]
mod states;
mod statics;
mod traces;

struct Options {
    invocations: usize,
    callgrind: usize,
    write: bool,
    /// Build the subjects with the dev profile: the test suite's quick smoke run.
    dev: bool,
    cargo_lambda: bool,
}

struct Row {
    subject: Subject,
    stats: lambda_kit_bench::RunStats,
    instructions: Option<(u64, u64)>,
    binary_size: u64,
    zip_size: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [command, binary, invocations, out_file] if command == "profile" => {
            profile(binary, invocations, out_file)
        }
        [command, rest @ ..] if command == "deploy" => bench_deploy(rest),
        [command, rest @ ..] if command == "build" => bench_build(rest),
        [command, rest @ ..] if command == "extensions" => bench_extensions(rest),
        [command, rest @ ..] if command == "traces" => bench_traces(rest),
        [command, rest @ ..] if command == "sdk" => bench_sdk(rest),
        [command, rest @ ..] if command == "static" => bench_static(rest),
        [command, rest @ ..] if command == "states" => bench_states(rest),
        _ => parse(args.into_iter()).and_then(|options| bench(&options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `bench profile BINARY INVOCATIONS OUT_FILE`: one callgrind run kept for `callgrind_annotate`.
fn profile(binary: &str, invocations: &str, out_file: &str) -> Result<(), Error> {
    let invocations = invocations
        .parse()
        .map_err(|_| format!("`{invocations}` is not a number of invocations"))?;
    let total = lambda_kit_bench::profile(binary.as_ref(), invocations, out_file.as_ref())?;
    eprintln!("{total} instructions; profile in {out_file}");
    Ok(())
}

/// `bench build [--write]`: cold build times and zips against `cargo lambda build`.
fn bench_build(args: &[String]) -> Result<(), Error> {
    let write = match args {
        [] => false,
        [flag] if flag == "--write" => true,
        _ => return Err("`bench build` takes only `--write`".into()),
    };
    publish_section(&building::bench()?, write, (building::START, building::END))
}

/// `bench states [--runs N] [--items N] [--write]`: a Map of Pass states over many items, on
/// our States Language interpreter and on moto's.
fn bench_states(args: &[String]) -> Result<(), Error> {
    let mut runs = 5;
    let mut items = 10_000;
    let mut write = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, Error> {
            args.next()
                .and_then(|value| value.parse().ok())
                .ok_or_else(|| format!("`{name}` needs a number").into())
        };
        match arg.as_str() {
            "--runs" => runs = number("--runs")?,
            "--items" => items = number("--items")?,
            "--write" => write = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected `--runs N`, `--items N` or `--write`"
                )
                .into());
            }
        }
    }
    #[cfg(feature = "states")]
    return publish_section(
        &states::bench(runs, items)?,
        write,
        (states::START, states::END),
    );
    #[cfg(not(feature = "states"))]
    {
        let _ = (runs, items, write);
        Err("`bench states` is built with the `states` feature: `cargo run --release --locked -p lambda-kit-bench --features states -- states`".into())
    }
}

/// `bench deploy [--rounds N] [--write]`: deploy times against `cargo lambda deploy`.
fn bench_deploy(args: &[String]) -> Result<(), Error> {
    let mut rounds = 5;
    let mut write = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|value| value.parse().ok())
                    .ok_or("`--rounds` needs a number")?;
            }
            "--write" => write = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected `--rounds N` or `--write`"
                )
                .into());
            }
        }
    }
    publish_section(&deploy::bench(rounds)?, write, (deploy::START, deploy::END))
}

/// `bench extensions [--invocations N] [--baseline REV] [--dev] [--write]`: what extensions
/// cost the echo function, in instructions.
fn bench_extensions(args: &[String]) -> Result<(), Error> {
    let mut options = extensions::Options {
        invocations: 200,
        baseline: None,
        dev: false,
    };
    let mut write = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--invocations" => {
                options.invocations = args
                    .next()
                    .and_then(|value| value.parse().ok())
                    .ok_or("`--invocations` needs a number")?;
            }
            "--baseline" => {
                options.baseline = Some(
                    args.next()
                        .ok_or("`--baseline` needs a commit (`REV`)")?
                        .clone(),
                );
            }
            "--dev" => options.dev = true,
            "--write" => write = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected `--invocations N`, `--baseline REV`, \
                     `--dev` or `--write`"
                )
                .into());
            }
        }
    }
    publish_section(
        &extensions::bench(&options)?,
        write,
        (extensions::START, extensions::END),
    )
}

/// `bench traces [--invocations N] [--dev] [--write]`: what the `trace` feature costs the echo
/// function, in instructions.
fn bench_traces(args: &[String]) -> Result<(), Error> {
    let mut options = traces::Options {
        invocations: 200,
        dev: false,
    };
    let mut write = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--invocations" => {
                options.invocations = args
                    .next()
                    .and_then(|value| value.parse().ok())
                    .ok_or("`--invocations` needs a number")?;
            }
            "--dev" => options.dev = true,
            "--write" => write = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected `--invocations N`, `--dev` or `--write`"
                )
                .into());
            }
        }
    }
    publish_section(
        &traces::bench(&options)?,
        write,
        (traces::START, traces::END),
    )
}

/// `bench sdk [--starts N] [--dev] [--write]`: the cold start of an S3 and DynamoDB function,
/// with `lambda_kit::aws` and with the usual set-up on lambda_runtime.
fn bench_sdk(args: &[String]) -> Result<(), Error> {
    let mut options = sdk::Options {
        starts: 25,
        dev: false,
    };
    let mut write = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--starts" => {
                options.starts = args
                    .next()
                    .and_then(|value| value.parse().ok())
                    .filter(|starts| *starts > 0)
                    .ok_or("`--starts` needs a number above 0")?;
            }
            "--dev" => options.dev = true,
            "--write" => write = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected `--starts N`, `--dev` or `--write`"
                )
                .into());
            }
        }
    }
    publish_section(&sdk::bench(&options)?, write, (sdk::START, sdk::END))
}

/// `bench static [--invocations N] [--starts N] [--write]`: glibc against static musl builds,
/// with musl's allocator and with talc, for both architectures.
fn bench_static(args: &[String]) -> Result<(), Error> {
    let mut options = statics::Options {
        invocations: 200,
        starts: 25,
        arm64_sdk: true,
    };
    let mut write = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, Error> {
            args.next()
                .and_then(|value| value.parse().ok())
                .ok_or_else(|| format!("`{name}` needs a number").into())
        };
        match arg.as_str() {
            "--invocations" => options.invocations = number("--invocations")?,
            "--starts" => options.starts = number("--starts")?,
            "--no-arm64-sdk" => options.arm64_sdk = false,
            "--write" => write = true,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected `--invocations N`, `--starts N`, \
                     `--no-arm64-sdk` or `--write`"
                )
                .into());
            }
        }
    }
    publish_section(
        &statics::bench(&options)?,
        write,
        (statics::START, statics::END),
    )
}

/// Prints a section of the report, and with `write`, puts it in BENCHMARKS.md between
/// `markers`, in place of what was there.
fn publish_section(section: &str, write: bool, markers: (&str, &str)) -> Result<(), Error> {
    #[allow(clippy::print_stdout)] // The report is this program's output.
    {
        println!("{section}");
    }
    if write {
        let path = lambda_kit_bench::workspace_root().join("BENCHMARKS.md");
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, deploy::replace_section(&current, section, markers))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, Error> {
    let mut options = Options {
        invocations: 20_000,
        callgrind: 200,
        write: false,
        dev: false,
        cargo_lambda: true,
    };
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, Error> {
            let value = args
                .next()
                .ok_or_else(|| format!("`{name}` needs a number"))?;
            value
                .parse()
                .map_err(|_| format!("`{name}` needs a number, not `{value}`").into())
        };
        match arg.as_str() {
            "--invocations" => options.invocations = number("--invocations")?,
            "--callgrind" => options.callgrind = number("--callgrind")?,
            "--write" => options.write = true,
            "--dev" => options.dev = true,
            "--no-cargo-lambda" => options.cargo_lambda = false,
            other => {
                return Err(format!(
                    "unknown argument `{other}`; expected `--invocations N`, `--callgrind N`, \
                     `--write`, `--dev` or `--no-cargo-lambda`"
                )
                .into());
            }
        }
    }
    Ok(options)
}

/// How many times each subject's wall-clock figures are measured; the median round is kept.
const WALL_CLOCK_ROUNDS: usize = 5;

fn bench(options: &Options) -> Result<(), Error> {
    let mut built = Vec::new();
    for subject in SUBJECTS {
        eprintln!("building {} ...", subject.label);
        let binary = lambda_kit_bench::build(&subject, !options.dev)?;
        // One warm-up run so that every subject starts from the same page cache.
        lambda_kit_bench::run(&binary, 100.min(options.invocations))?;
        built.push((subject, binary));
    }
    // The rounds take the subjects in turn, so that a change in the machine's load (other
    // builds share it) falls on all of them alike rather than on whichever ran then.
    let mut rounds: Vec<Vec<lambda_kit_bench::RunStats>> =
        built.iter().map(|_| Vec::new()).collect();
    for round in 1..=WALL_CLOCK_ROUNDS {
        for ((subject, binary), runs) in built.iter().zip(&mut rounds) {
            eprintln!(
                "measuring {} (round {round} of {WALL_CLOCK_ROUNDS}) ...",
                subject.label
            );
            runs.push(lambda_kit_bench::run(binary, options.invocations)?);
        }
    }
    let mut rows = Vec::new();
    for ((subject, binary), mut runs) in built.into_iter().zip(rounds) {
        // The round with the median throughput, whole, so that its figures belong together.
        runs.sort_by(|a, b| a.throughput.total_cmp(&b.throughput));
        let stats = runs.swap_remove(runs.len() / 2);
        let instructions = if options.callgrind > 0 {
            Some(lambda_kit_bench::instruction_profile(
                &binary,
                options.callgrind,
            )?)
        } else {
            None
        };
        eprintln!(
            "  {}: {}",
            subject.label,
            lambda_kit_bench::describe(&stats)
        );
        rows.push(Row {
            subject,
            stats,
            instructions,
            binary_size: std::fs::metadata(&binary)?.len(),
            zip_size: lambda_kit_bench::zip_size(&binary)?,
        });
    }
    let cargo_lambda = if options.cargo_lambda {
        cargo_lambda_zip()
    } else {
        Err("skipped (`--no-cargo-lambda`)".to_owned())
    };
    let report = report(options, &rows, &cargo_lambda);
    #[allow(clippy::print_stdout)] // The report is this program's output.
    {
        println!("{report}");
    }
    if options.write {
        let path = lambda_kit_bench::workspace_root().join("BENCHMARKS.md");
        // The deploy figures come from `bench deploy`: keep them.
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        let mut report = report;
        for markers in [
            (deploy::START, deploy::END),
            (building::START, building::END),
            (extensions::START, extensions::END),
            (traces::START, traces::END),
            (statics::START, statics::END),
        ] {
            if let Some(section) = deploy::section_of(&current, markers) {
                report = deploy::replace_section(&report, &format!("{section}\n"), markers);
            }
        }
        std::fs::write(&path, report)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The zip `cargo lambda build` makes of the lambda_runtime subject, or why there is none.
fn cargo_lambda_zip() -> Result<u64, String> {
    let root = lambda_kit_bench::workspace_root();
    let package = root.join("tests/bench/subjects/lambda-runtime-echo");
    let status = Command::new("cargo")
        .current_dir(&package)
        .args(["lambda", "build", "--release", "--output-format", "zip"])
        .status()
        .map_err(|error| format!("cannot run `cargo lambda` ({error}); install it with `pip install cargo-lambda ziglang`"))?;
    if !status.success() {
        return Err(format!("`cargo lambda build` failed with {status}"));
    }
    let zip: PathBuf = root.join("target/lambda/bench-lambda-runtime-echo/bootstrap.zip");
    std::fs::metadata(&zip)
        .map(|metadata| metadata.len())
        .map_err(|error| format!("`cargo lambda build` made no `{}`: {error}", zip.display()))
}

fn report(options: &Options, rows: &[Row], cargo_lambda: &Result<u64, String>) -> String {
    let ours = &rows[0];
    let peer = &rows[1];
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "An echo function (a {}-byte JSON event in, the same out) on each runtime, built with the \
         workspace's release profile in the same run, driven by the fake Runtime API of \
         `tests/bench` on 127.0.0.1. Instructions are counted by `valgrind --tool=callgrind` and do \
         not move with the machine's load; the wall-clock figures do. Each subject installs its \
         runtime's logger as its documentation shows (lambda-kit's own; \
         `lambda_runtime::tracing::init_default_subscriber`). `cargo lambda build` adds \
         `panic = \"abort\"` and `target-cpu=haswell` to the workspace profile for its zip.\n",
        lambda_kit_bench::EVENT.len()
    );
    let _ = writeln!(
        out,
        "Rerun (writes this file; needs valgrind, and `pip install cargo-lambda ziglang` for the \
         zip comparison):\n\n```sh\ncargo run --release --locked -p lambda-kit-bench -- --write\n```\n\n\
         Profile one subject: `bench profile BINARY INVOCATIONS OUT_FILE`, then \
         `callgrind_annotate OUT_FILE` (build the subject with `CARGO_PROFILE_RELEASE_STRIP=false` \
         and `CARGO_PROFILE_RELEASE_DEBUG=line-tables-only` for symbols).\n"
    );
    let _ = writeln!(
        out,
        "| | {} |",
        rows.iter()
            .map(|row| row.subject.label)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(rows.len()));
    let mut line = |name: &str, value: &dyn Fn(&Row) -> String| {
        let _ = writeln!(
            out,
            "| {name} | {} |",
            rows.iter().map(value).collect::<Vec<_>>().join(" | ")
        );
    };
    line("instructions / invocation", &|row| {
        row.instructions
            .map_or("–".into(), |(per, _)| per.to_string())
    });
    line("instructions, init", &|row| {
        row.instructions
            .map_or("–".into(), |(_, init)| init.to_string())
    });
    line("throughput (inv/s)", &|row| {
        format!("{:.0}", row.stats.throughput)
    });
    line("latency p50 (µs)", &|row| {
        row.stats.latency_p50.as_micros().to_string()
    });
    line("latency p99 (µs)", &|row| {
        row.stats.latency_p99.as_micros().to_string()
    });
    line("CPU time / invocation (µs)", &|row| {
        format!("{:.1}", row.stats.cpu_per_invocation.as_secs_f64() * 1e6)
    });
    line("voluntary context switches / invocation", &|row| {
        format!("{:.2}", row.stats.context_switches_per_invocation)
    });
    line("init, spawn to first /next (ms)", &|row| {
        format!("{:.1}", row.stats.init.as_secs_f64() * 1e3)
    });
    line("peak RSS (KiB)", &|row| row.stats.peak_rss_kib.to_string());
    line("binary (bytes)", &|row| row.binary_size.to_string());
    line("zip, deflate -9 (bytes)", &|row| row.zip_size.to_string());

    let ceiling = &rows[2];
    let _ = writeln!(out, "\n## lambda-kit against lambda_runtime\n");
    let _ = writeln!(out, "| figure | ratio | target | met |\n|---|---|---|---|");
    let mut target = |figure: &str, value: f64, shown: String, goal: &str, met: bool| {
        let verdict = if value.is_nan() {
            "–"
        } else if met {
            "yes"
        } else {
            "no"
        };
        let _ = writeln!(out, "| {figure} | {shown} | {goal} | {verdict} |");
    };
    if let (Some((ours_per, ours_init)), Some((peer_per, peer_init))) =
        (ours.instructions, peer.instructions)
    {
        let per = ratio(ours_per as f64, peer_per as f64);
        target(
            "instructions / invocation",
            per,
            format!("{per:.2}x"),
            "≤ 0.2x",
            per <= 0.2,
        );
        let init = ratio(ours_init as f64, peer_init as f64);
        target(
            "instructions, init",
            init,
            format!("{init:.2}x"),
            "≤ 0.5x",
            init <= 0.5,
        );
        if let Some((_, floor)) = ceiling.instructions {
            let above = ratio(
                ours_init.saturating_sub(floor) as f64,
                peer_init.saturating_sub(floor) as f64,
            );
            target(
                "instructions, init above the raw client's (process start and connect)",
                above,
                format!("{above:.2}x"),
                "≤ 0.5x",
                above <= 0.5,
            );
        }
    }
    let throughput = ratio(ours.stats.throughput, peer.stats.throughput);
    target(
        "throughput",
        throughput,
        format!("{throughput:.2}x"),
        "≥ 1.5x",
        throughput >= 1.5,
    );
    let switches = ours.stats.context_switches_per_invocation;
    target(
        "context switches / invocation",
        switches,
        format!("{switches:.2}"),
        "≤ 3",
        switches <= 3.0,
    );
    let rss = ratio(
        ours.stats.peak_rss_kib as f64,
        peer.stats.peak_rss_kib as f64,
    );
    target("peak RSS", rss, format!("{rss:.2}x"), "≤ 1x", rss <= 1.0);
    match cargo_lambda {
        Ok(size) => {
            let zip = ratio(ours.zip_size as f64, *size as f64);
            target(
                &format!("zip against `cargo lambda build` of lambda_runtime ({size} bytes)"),
                zip,
                format!("{zip:.2}x"),
                "≤ 0.6x",
                zip <= 0.6,
            );
        }
        Err(why) => {
            let _ = writeln!(out, "\n`cargo lambda build` zip: not measured: {why}.");
        }
    }
    let _ = writeln!(
        out,
        "\n### The floors\n\n\
         - **Init.** Starting any dynamically linked Rust program (the loader, libc, std) and \
         connecting costs about what the raw client's init shows{}; half of lambda_runtime's init \
         is below that, so the ≤ 0.5x init target is out of reach for a dynamically linked \
         binary. What a runtime adds above that floor is compared in the row after it. The \
         subjects here are glibc builds, as `cargo build --release` makes them for this machine, \
         so that every runtime is measured alike. A static musl build, `cargo lambdakit build`'s \
         default for `provided.al2023`, has no loader to run and lowers the floor for every \
         runtime, for a little more per invocation than glibc: \"Static or glibc\" below has \
         lambda-kit's figures for both, measured side by side.\n\
         - **Throughput.** {}\n\
         - **Instructions per invocation.** {}",
        ceiling
            .instructions
            .map_or(String::new(), |(_, init)| format!(" ({init} instructions)")),
        throughput_floor(ours, peer, ceiling),
        instructions_floor(ours, ceiling),
    );
    let _ = writeln!(out, "\n## This run\n");
    let _ = writeln!(
        out,
        "- wall-clock figures: {} invocations a round, {WALL_CLOCK_ROUNDS} rounds taking the \
         subjects in turn, each subject's round with the median throughput shown; {} \
         invocations under callgrind (less a run with none, for init)",
        options.invocations, options.callgrind
    );
    for (what, command) in [
        ("machine", "uname -srm"),
        ("cores", "nproc"),
        ("rustc", "rustc --version"),
        ("valgrind", "valgrind --version"),
        ("cargo-lambda", "cargo lambda --version"),
    ] {
        let mut parts = command.split(' ');
        let program = parts.next().unwrap_or_default();
        let output = Command::new(program).args(parts).output();
        let text = output
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_else(|| "not installed".into());
        let _ = writeln!(out, "- {what}: {text}");
    }
    if let Some(model) = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                line.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
    {
        let _ = writeln!(out, "- CPU: {model}");
    }
    out
}

/// The throughput paragraph of "The floors", from this run's figures.
fn throughput_floor(ours: &Row, peer: &Row, ceiling: &Row) -> String {
    let ceiling_ratio = ratio(ceiling.stats.throughput, peer.stats.throughput);
    let ours_ratio = ratio(ours.stats.throughput, peer.stats.throughput);
    let mut text = format!(
        "One invocation at a time is a ping-pong with the fake API, so the raw client's \
         throughput is the ceiling: {ceiling_ratio:.2}x lambda_runtime's in this run, with \
         lambda-kit at {:.0}% of it ({ours_ratio:.2}x lambda_runtime's).",
        100.0 * ratio(ours.stats.throughput, ceiling.stats.throughput),
    );
    if ours_ratio < 1.5 {
        text.push_str(&format!(
            " The ≥ 1.5x target needs lambda-kit within {:.0}% of that ceiling; it is not met \
             in this run.",
            100.0 * 1.5 / ceiling_ratio
        ));
    }
    text.push_str(
        " Wall-clock figures move with the machine's load (other builds share it); the \
         instruction counts do not.",
    );
    text
}

/// The instructions paragraph of "The floors", from this run's figures.
fn instructions_floor(ours: &Row, ceiling: &Row) -> String {
    let above = match (ours.instructions, ceiling.instructions) {
        (Some((ours, _)), Some((ceiling, _))) => {
            format!(" ({} instructions here)", ours.saturating_sub(ceiling))
        }
        _ => String::new(),
    };
    format!(
        "Both runtimes decode the event into a `serde_json::Value` and encode it again, about \
         7,000 instructions of the figures above; the raw client echoes the bytes and parses \
         only the two headers it needs, so it is a floor no runtime with a typed handler \
         reaches. lambda-kit speaks HTTP/1.1 to the Runtime API with a client of its own: each \
         request is written with one `write`, and each answer is parsed where it was read, its \
         header values and the event being slices of that buffer, with no connection task to \
         hand requests to. Parsing a head notes where each header line ends and where its colon \
         is, so reading the fields searches for neither again, and the header values the \
         invocation keeps (its request id, ARN and trace id) are checked once, as they are \
         read, and shared with the buffer. What lambda-kit adds above the raw client{above} is \
         that JSON, then the invocation's `Context`, the request id its log lines carry, the \
         trace id in `_X_AMZN_TRACE_ID`, the panic guard around the handler, and the tokio \
         runtime that waits on the socket."
    )
}

/// `ours / theirs`, or NaN when there is nothing to compare with.
fn ratio(ours: f64, theirs: f64) -> f64 {
    if theirs > 0.0 {
        ours / theirs
    } else {
        f64::NAN
    }
}
