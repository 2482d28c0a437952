//! `bench static`: the echo function and a function that sets up its AWS clients the usual way,
//! each built three ways (glibc, musl, musl with the `talc` feature's allocator) for both of
//! Lambda's architectures, measured side by side in one run; the figures `cargo lambdakit
//! build`'s default for `provided.al2023` was chosen by.
//!
//! x86_64 builds run under callgrind (instructions) and on their own (wall-clock init). arm64
//! builds cannot run under valgrind on this machine: they run under qemu-user with a plugin of
//! this harness (`tests/bench/qemu/count.c`) that counts the guest's instructions, which is as
//! exact a count as callgrind's and does not move with the emulator's speed.

// A tool, not a Lambda function: it reads cargo's variables.
#![allow(clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lambda_kit_bench::Error;

/// The markers of this section in BENCHMARKS.md.
pub(crate) const START: &str = "<!-- static:start -->";
pub(crate) const END: &str = "<!-- static:end -->";

/// What `bench static` measures with.
pub(crate) struct Options {
    /// Invocations per instruction count (less a run with none, for init).
    pub(crate) invocations: usize,
    /// Process starts per build for the wall-clock init median (x86_64).
    pub(crate) starts: usize,
}

/// How a subject is linked, and with which allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Build {
    Glibc,
    Musl,
    MuslTalc,
}

impl Build {
    const ALL: [Self; 3] = [Self::Glibc, Self::Musl, Self::MuslTalc];

    fn label(self) -> &'static str {
        match self {
            Self::Glibc => "glibc",
            Self::Musl => "musl (static)",
            Self::MuslTalc => "musl + talc (static)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arch {
    X86_64,
    Arm64,
}

impl Arch {
    fn triple(self, build: Build) -> &'static str {
        match (self, build) {
            (Self::X86_64, Build::Glibc) => "x86_64-unknown-linux-gnu",
            (Self::X86_64, _) => "x86_64-unknown-linux-musl",
            (Self::Arm64, Build::Glibc) => "aarch64-unknown-linux-gnu",
            (Self::Arm64, _) => "aarch64-unknown-linux-musl",
        }
    }
}

/// The two subjects: the plain echo, and the echo with S3 and DynamoDB clients set up.
const SUBJECTS: [(&str, &str); 2] = [
    ("echo", "bench-lambda-kit-echo"),
    ("usual SDK set-up", "bench-lambda-kit-sdk-usual"),
];

/// Lambda sets the execution role's credentials in every function's environment; the SDK's
/// credential chain finds them there (their values are never checked: no call is made).
const CREDENTIALS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "ASIABENCHBENCHBENCH0"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "bench/secret/key/bench/secret/key/000000",
    ),
    ("AWS_SESSION_TOKEN", "bench-session-token"),
];

/// Debian's aarch64 glibc, the loader and libraries a dynamically linked arm64 build needs
/// under qemu-user.
const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

fn build(package: &str, arch: Arch, build: Build) -> Result<PathBuf, Error> {
    let triple = arch.triple(build);
    let mut command = Command::new(lambda_kit_bench::cargo());
    command.current_dir(lambda_kit_bench::workspace_root()).args([
        "build",
        "--release",
        "--locked",
        "--quiet",
        "-p",
        package,
        "--target",
        triple,
    ]);
    if build == Build::MuslTalc {
        command.args(["--features", "lambda-kit/talc"]);
    }
    // The C of a dependency (ring's) is compiled for the target by the compiler that links
    // it: cc-rs would look for `x86_64-linux-musl-gcc` or `aarch64-linux-musl-gcc`, which no
    // Debian package installs; Rust's musl targets bring their own libc, so gcc does.
    let gcc = match arch {
        Arch::X86_64 => "cc",
        Arch::Arm64 => "aarch64-linux-gnu-gcc",
    };
    command
        .env(
            format!("CARGO_TARGET_{}_LINKER", triple.to_uppercase().replace('-', "_")),
            gcc,
        )
        .env(format!("CC_{}", triple.replace('-', "_")), gcc);
    eprintln!("building {package} for {triple} ({}) ...", build.label());
    let status = command.status()?;
    if !status.success() {
        return Err(format!(
            "`cargo build -p {package} --target {triple}` failed with {status}; arm64 needs \
             `apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross` and every target \
             `rustup target add {triple}`"
        )
        .into());
    }
    Ok(lambda_kit_bench::target_dir()
        .join(triple)
        .join("release")
        .join(package))
}

/// Builds the qemu plugin that counts instructions, once, into the target directory.
fn qemu_plugin() -> Result<PathBuf, Error> {
    let source = lambda_kit_bench::workspace_root().join("tests/bench/qemu/count.c");
    let plugin = lambda_kit_bench::target_dir().join("bench-qemu-count.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&plugin)
        .arg(&source)
        .status()?;
    if !status.success() {
        return Err(format!("cc could not build `{}`", source.display()).into());
    }
    Ok(plugin)
}

/// Guest instructions of `binary` (arm64) under qemu-user, serving `invocations`.
fn qemu_instructions(
    plugin: &Path,
    binary: &Path,
    build: Build,
    vars: &[(&str, &str)],
    invocations: usize,
) -> Result<u64, Error> {
    let out = std::env::temp_dir().join(format!(
        "lambda-kit-bench-{}.qemu-count",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&out);
    let mut command = Command::new("qemu-aarch64");
    if build == Build::Glibc {
        command.args(["-L", ARM64_SYSROOT]);
    }
    command
        .arg("-plugin")
        .arg(format!("{},out={}", plugin.display(), out.display()))
        .arg(binary);
    lambda_kit_bench::drive(
        command,
        vars,
        invocations,
        Duration::from_secs(120 + invocations as u64 / 10),
    )
    .map_err(|error| {
        format!("under qemu-aarch64: {error} (is qemu-user installed? `apt-get install qemu-user`)")
    })?;
    let count = std::fs::read(&out)
        .map_err(|error| format!("the qemu plugin wrote no `{}`: {error}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let count: [u8; 8] = count
        .get(..8)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("the qemu plugin's count is not eight bytes")?;
    Ok(u64::from_le_bytes(count))
}

/// What one build of one subject measured.
#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    per_invocation: u64,
    init: u64,
    /// x86_64 only: the median of the process starts, spawn to first `/next`.
    init_wall: Option<Duration>,
    binary: u64,
}

fn per_invocation(total: u64, init: u64, invocations: usize) -> u64 {
    total.saturating_sub(init) / invocations.max(1) as u64
}

fn median(mut times: Vec<Duration>) -> Option<Duration> {
    times.sort_unstable();
    times.get(times.len() / 2).copied()
}

/// Builds and measures everything, and returns the BENCHMARKS.md section.
pub(crate) fn bench(options: &Options) -> Result<String, Error> {
    let pem = lambda_kit_bench::workspace_root().join("lambda-kit/src/aws/amazon-root-cas.pem");
    let pem = pem.to_string_lossy().into_owned();
    let with_pem: Vec<(&str, &str)> = CREDENTIALS
        .iter()
        .copied()
        .chain([("SSL_CERT_FILE", pem.as_str())])
        .collect();
    let plugin = qemu_plugin()?;
    // Each build is measured as soon as it is built, arm64's echo first: a missing tool shows
    // before the long builds rather than after them.
    let mut binaries = Vec::new();
    let mut figures = Vec::new();
    for arch in [Arch::Arm64, Arch::X86_64] {
        for (_, package) in SUBJECTS {
            for variant in Build::ALL {
                let binary = build(package, arch, variant)?;
                eprintln!("measuring {package} {arch:?} {} ...", variant.label());
                let (init, total) = match arch {
                    Arch::X86_64 => (
                        lambda_kit_bench::callgrind_with(&binary, &CREDENTIALS, 0)?,
                        lambda_kit_bench::callgrind_with(
                            &binary,
                            &CREDENTIALS,
                            options.invocations,
                        )?,
                    ),
                    Arch::Arm64 => (
                        qemu_instructions(&plugin, &binary, variant, &CREDENTIALS, 0)?,
                        qemu_instructions(
                            &plugin,
                            &binary,
                            variant,
                            &CREDENTIALS,
                            options.invocations,
                        )?,
                    ),
                };
                eprintln!("  init {init}, total {total}");
                figures.push(Figures {
                    per_invocation: per_invocation(total, init, options.invocations),
                    init,
                    init_wall: None,
                    binary: std::fs::metadata(&binary)?.len(),
                });
                binaries.push((arch, package, variant, binary));
            }
        }
    }
    // Wall-clock init of the x86_64 builds: the starts take the builds in turn, so that a
    // change in the machine's load falls on all of them alike.
    let x86: Vec<usize> = (0..binaries.len())
        .filter(|&index| binaries[index].0 == Arch::X86_64)
        .collect();
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); binaries.len()];
    for _ in 0..options.starts {
        for &index in &x86 {
            let command = Command::new(&binaries[index].3);
            times[index].push(lambda_kit_bench::drive(
                command,
                &CREDENTIALS,
                0,
                Duration::from_secs(30),
            )?);
        }
    }
    for (index, times) in times.into_iter().enumerate() {
        figures[index].init_wall = median(times);
    }
    // The trust store: the SDK subject's init with `SSL_CERT_FILE` at Amazon's root CAs.
    let mut trusted = Vec::new();
    for (arch, package, variant, binary) in &binaries {
        if *arch == Arch::X86_64 && *package == SUBJECTS[1].1 {
            eprintln!("measuring {package} {} with SSL_CERT_FILE ...", variant.label());
            trusted.push(lambda_kit_bench::callgrind_with(binary, &with_pem, 0)?);
        }
    }
    let measured: Vec<_> = binaries
        .iter()
        .zip(figures)
        .map(|((arch, package, variant, _), figures)| ((*arch, *package, *variant), figures))
        .collect();
    Ok(report(options, &measured, &trusted))
}

/// Each build's figures, by architecture, subject (package) and build.
type Measured<'a> = [((Arch, &'a str, Build), Figures)];

fn report(options: &Options, measured: &Measured<'_>, trusted: &[u64]) -> String {
    let at = |arch: usize, subject: usize, build: usize| {
        let key = (
            [Arch::X86_64, Arch::Arm64][arch],
            SUBJECTS[subject].1,
            Build::ALL[build],
        );
        measured
            .iter()
            .find(|(measured, _)| *measured == key)
            .map(|(_, figures)| *figures)
            .unwrap_or_default()
    };
    let mut out = String::new();
    let _ = writeln!(out, "{START}");
    let _ = writeln!(out, "## Static or glibc\n");
    let _ = writeln!(
        out,
        "The lambda-kit echo function, and the same echo whose setup builds its AWS clients the \
         usual way (`aws_config::defaults(BehaviorVersion::latest()).load().await`, an S3 and a \
         DynamoDB client, no call; `tests/bench/subjects/lambda-kit-sdk-usual`), each built with \
         the workspace's release profile for glibc, for musl (a static binary), and for musl \
         with lambda-kit's `talc` feature (talc, a pure-Rust allocator, in place of musl's), for \
         both architectures, in one run. The Lambda environment is set as Lambda sets it, the \
         execution role's credentials included; the fake Runtime API is the one of the first \
         table. x86_64: instructions under callgrind, {} invocations less a run with none \
         (init), and the median wall-clock init of {} process starts (spawn to first `/next`). \
         arm64: the same instruction counts, counted by a qemu-user plugin of this harness \
         (`tests/bench/qemu/count.c`), since valgrind cannot run arm64 binaries here; glibc \
         builds run with Debian's aarch64 glibc. Counts of the two architectures are of \
         different instruction sets: compare within a table.\n",
        options.invocations, options.starts
    );
    let header = |out: &mut String| {
        let _ = writeln!(
            out,
            "| | {} | {} | {} |",
            Build::Glibc.label(),
            Build::Musl.label(),
            Build::MuslTalc.label()
        );
        let _ = writeln!(out, "|---|---|---|---|");
    };
    let row = |out: &mut String, label: &str, cells: [String; 3]| {
        let _ = writeln!(out, "| {label} | {} | {} | {} |", cells[0], cells[1], cells[2]);
    };
    for (arch, name) in [(0, "x86_64"), (1, "arm64")] {
        let _ = writeln!(out, "### {name}\n");
        header(&mut out);
        for (subject, (label, _)) in SUBJECTS.iter().enumerate() {
            let cells = |f: &dyn Fn(Figures) -> String| {
                [0, 1, 2].map(|build| f(at(arch, subject, build)))
            };
            row(
                &mut out,
                &format!("{label}: instructions / invocation"),
                cells(&|figures| figures.per_invocation.to_string()),
            );
            row(
                &mut out,
                &format!("{label}: instructions, init"),
                cells(&|figures| figures.init.to_string()),
            );
            if arch == 0 {
                row(
                    &mut out,
                    &format!("{label}: init, spawn to first /next (ms)"),
                    cells(&|figures| {
                        figures.init_wall.map_or_else(
                            || "-".to_owned(),
                            |time| format!("{:.2}", time.as_secs_f64() * 1000.0),
                        )
                    }),
                );
            }
            row(
                &mut out,
                &format!("{label}: binary (bytes)"),
                cells(&|figures| figures.binary.to_string()),
            );
        }
        if arch == 0 && trusted.len() == 3 {
            row(
                &mut out,
                "usual SDK set-up, `SSL_CERT_FILE` at Amazon's root CAs: instructions, init",
                [0, 1, 2].map(|build| trusted[build].to_string()),
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "Rerun: `cargo run --release --locked -p lambda-kit-bench -- static --write` (needs \
         valgrind, qemu-user, `gcc-aarch64-linux-gnu libc6-dev-arm64-cross`, and the Rust \
         targets `x86_64-unknown-linux-musl aarch64-unknown-linux-gnu aarch64-unknown-linux-musl`)."
    );
    let _ = writeln!(out, "{END}");
    out
}
