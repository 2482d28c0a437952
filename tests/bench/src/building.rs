//! `bench build`: a cold release build of the echo function by `cargo lambdakit build` (the
//! lambda-kit subject) and by `cargo lambda build` (the lambda_runtime subject), each in a
//! target directory of its own, so every dependency is compiled; and the zips they make.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lambda_kit_bench::Error;

/// The markers of the build section in BENCHMARKS.md, which the runtime report keeps.
pub(crate) const START: &str = "<!-- build:start -->";
pub(crate) const END: &str = "<!-- build:end -->";

fn timed(command: &mut Command, what: &str) -> Result<Duration, Error> {
    let started = Instant::now();
    let status = command.status()?;
    if !status.success() {
        return Err(format!("{what} failed with {status}").into());
    }
    Ok(started.elapsed())
}

fn zip_size(path: &Path) -> Result<u64, Error> {
    Ok(std::fs::metadata(path)
        .map_err(|error| format!("no zip at `{}`: {error}", path.display()))?
        .len())
}

/// Builds both cold, in fresh target directories under the system's temp directory, and
/// returns the BENCHMARKS.md section.
pub(crate) fn bench() -> Result<String, Error> {
    let root = lambda_kit_bench::workspace_root();
    eprintln!("building cargo-lambdakit ...");
    let status = Command::new("cargo")
        .args(["build", "--release", "--locked", "-p", "cargo-lambdakit"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        return Err("building cargo-lambdakit failed".into());
    }
    let scratch =
        std::env::temp_dir().join(format!("lambdakit-bench-build-{}", std::process::id()));
    let ours_dir = scratch.join("ours");
    let peer_dir = scratch.join("peer");
    eprintln!("cold build with cargo lambdakit ...");
    let ours = timed(
        Command::new(root.join("target/release/cargo-lambdakit"))
            .args([
                "lambdakit",
                "build",
                "--locked",
                "-p",
                "bench-lambda-kit-echo",
            ])
            .env("CARGO_TARGET_DIR", &ours_dir)
            .current_dir(&root),
        "cargo lambdakit build",
    )?;
    let ours_zip = zip_size(&ours_dir.join("lambda/bench-lambda-kit-echo/bootstrap.zip"))?;
    eprintln!("cold build with cargo lambda ...");
    let peer = timed(
        Command::new("cargo")
            .args(["lambda", "build", "--release", "--output-format", "zip"])
            .env("CARGO_TARGET_DIR", &peer_dir)
            .current_dir(root.join("tests/bench/subjects/lambda-runtime-echo")),
        "cargo lambda build",
    )
    .map_err(|error| {
        format!("{error}; install cargo-lambda with `pip install cargo-lambda ziglang`")
    })?;
    let peer_zip = zip_size(&peer_dir.join("lambda/bench-lambda-runtime-echo/bootstrap.zip"))?;
    let _ = std::fs::remove_dir_all(&scratch);
    let seconds = |time: Duration| time.as_secs_f64();
    let mut out = String::new();
    let _ = writeln!(out, "{START}");
    let _ = writeln!(out, "## Building\n");
    let _ = writeln!(
        out,
        "A cold release build (every dependency compiled, in a fresh target directory) of the echo \
         function: `cargo lambdakit build` of the lambda-kit one (the workspace's profile: LTO, \
         one codegen unit, stripped) and `cargo lambda build --release --output-format zip` of the \
         lambda_runtime one (zig as the linker). One build each, on a machine other work shares: \
         the times move with its load.\n"
    );
    let _ = writeln!(out, "| | cargo lambdakit | cargo lambda | ratio |");
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(
        out,
        "| cold build (s) | {:.1} | {:.1} | {:.2}x |",
        seconds(ours),
        seconds(peer),
        seconds(ours) / seconds(peer)
    );
    let _ = writeln!(
        out,
        "| zip (bytes) | {ours_zip} | {peer_zip} | {:.2}x |",
        ours_zip as f64 / peer_zip as f64
    );
    let _ = writeln!(
        out,
        "\nRerun: `cargo run --release --locked -p lambda-kit-bench -- build --write` (needs \
         `pip install cargo-lambda ziglang`)."
    );
    let _ = writeln!(out, "{END}");
    Ok(out)
}
