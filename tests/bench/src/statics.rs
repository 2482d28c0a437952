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
    /// Whether to build and measure the SDK subject for arm64 too (three more builds of the
    /// AWS SDK, the longest part of the run).
    pub(crate) arm64_sdk: bool,
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

/// lambda_runtime's echo, the peer the default build's echo is compared with.
const PEER: &str = "bench-lambda-runtime-echo";

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
    command
        .current_dir(lambda_kit_bench::workspace_root())
        .args([
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
            format!(
                "CARGO_TARGET_{}_LINKER",
                triple.to_uppercase().replace('-', "_")
            ),
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
    // musl and musl + talc build to the same path: each build is kept under a name of its own.
    let built = lambda_kit_bench::target_dir()
        .join(triple)
        .join("release")
        .join(package);
    let kept = lambda_kit_bench::target_dir()
        .join("bench-static")
        .join(format!("{package}-{triple}-{build:?}"));
    std::fs::create_dir_all(kept.parent().unwrap_or(&kept))?;
    std::fs::copy(&built, &kept)?;
    Ok(kept)
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
    // Each build is measured as soon as it is built, the echo's first: a missing tool shows
    // before the long builds rather than after them.
    let mut binaries = Vec::new();
    let mut figures = Vec::new();
    let (echo, sdk) = (SUBJECTS[0].1, SUBJECTS[1].1);
    let groups = [
        (Arch::Arm64, echo),
        (Arch::X86_64, echo),
        (Arch::X86_64, sdk),
        (Arch::Arm64, sdk),
    ];
    for (arch, package) in groups
        .into_iter()
        .filter(|&group| options.arm64_sdk || group != (Arch::Arm64, sdk))
    {
        {
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
    // lambda_runtime's echo, x86_64, built as its users build it (glibc) and static: the
    // peer of the first table, for the ratio of `build`'s default build to it.
    for variant in [Build::Glibc, Build::Musl] {
        let binary = build(PEER, Arch::X86_64, variant)?;
        eprintln!("measuring {PEER} X86_64 {} ...", variant.label());
        let init = lambda_kit_bench::callgrind_with(&binary, &CREDENTIALS, 0)?;
        let total = lambda_kit_bench::callgrind_with(&binary, &CREDENTIALS, options.invocations)?;
        figures.push(Figures {
            per_invocation: per_invocation(total, init, options.invocations),
            init,
            init_wall: None,
            binary: std::fs::metadata(&binary)?.len(),
        });
        binaries.push((Arch::X86_64, PEER, variant, binary));
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
            eprintln!(
                "measuring {package} {} with SSL_CERT_FILE ...",
                variant.label()
            );
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

/// Why `cargo lambdakit build` links what it links by default, from this run's figures: `at`
/// gives the figures of (architecture, subject, build) by index, as in [`report`].
fn reasoning(at: &dyn Fn(usize, usize, usize) -> Option<Figures>, trusted: &[u64]) -> String {
    let ratio = |ours: u64, theirs: u64| ours as f64 / theirs.max(1) as f64;
    let mut out = String::from(
        "### Why static is the default

",
    );
    let (Some(glibc), Some(musl), Some(talc)) = (at(0, 0, 0), at(0, 0, 1), at(0, 0, 2)) else {
        return out;
    };
    let _ = write!(
        out,
        "- **Init, the echo function.** A static build runs no loader and maps no shared \
         library: on x86_64 its init is {:.2}x glibc's in instructions ({:.2}x with talc)",
        ratio(musl.init, glibc.init),
        ratio(talc.init, glibc.init),
    );
    if let (Some(g), Some(m)) = (glibc.init_wall, musl.init_wall) {
        let _ = write!(
            out,
            ", {:.2} ms against {:.2} ms from spawn to the first `/next`",
            m.as_secs_f64() * 1000.0,
            g.as_secs_f64() * 1000.0
        );
    }
    if let (Some(g), Some(m)) = (at(1, 0, 0), at(1, 0, 1)) {
        let _ = write!(out, "; on arm64 {:.2}x", ratio(m.init, g.init));
    }
    let _ = writeln!(
        out,
        ". The kernel's work of mapping and relocating the shared libraries is not in the \
         instruction counts, only in the wall-clock figure."
    );
    let _ = writeln!(
        out,
        "- **Per invocation.** musl's allocator costs {:+} instructions an invocation on x86_64 \
         ({:+.1}%), talc {:+} ({:+.1}%): the echo function allocates a few times per event.",
        musl.per_invocation as i64 - glibc.per_invocation as i64,
        (ratio(musl.per_invocation, glibc.per_invocation) - 1.0) * 100.0,
        talc.per_invocation as i64 - glibc.per_invocation as i64,
        (ratio(talc.per_invocation, glibc.per_invocation) - 1.0) * 100.0,
    );
    if let (Some(g), Some(m), Some(t)) = (at(0, 1, 0), at(0, 1, 1), at(0, 1, 2)) {
        let _ = write!(
            out,
            "- **Init, the usual SDK set-up.** Loading the system's root certificates allocates \
             heavily, {}: musl's init is {:.2}x glibc's in instructions, talc's {:.2}x",
            if m.init > g.init {
                "and there glibc's allocator is quicker"
            } else {
                "and musl's allocator keeps up with glibc's there"
            },
            ratio(m.init, g.init),
            ratio(t.init, g.init)
        );
        if let (Some(gw), Some(mw), Some(tw)) = (g.init_wall, m.init_wall, t.init_wall) {
            let _ = write!(
                out,
                " (wall-clock: {:.2} ms, {:.2} ms and {:.2} ms)",
                gw.as_secs_f64() * 1000.0,
                mw.as_secs_f64() * 1000.0,
                tw.as_secs_f64() * 1000.0
            );
        }
        let _ = write!(out, ".");
        if let [tg, tm, tt] = trusted {
            let _ = write!(
                out,
                " With `trust = \"amazon-roots\"` (`SSL_CERT_FILE` at Amazon's five roots) \
                 that work is gone and init falls to {:.2}x of the usual set-up's on glibc \
                 ({tg} instructions); musl's is then {:.2}x glibc's, talc's {:.2}x.",
                ratio(*tg, g.init),
                ratio(*tm, *tg),
                ratio(*tt, *tg),
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "\n`cargo lambdakit build` (and `deploy`) link musl statically for `provided.al2023`, \
         with talc as the allocator of every package on lambda-kit (its `talc` feature): a \
         static build starts a function with little allocation at init in a fraction of \
         glibc's time, and runs on any runtime; talc {}. A function whose init allocates \
         heavily (the SDK's usual set-up without `trust = \"amazon-roots\"`) is the case where \
         glibc's allocator wins back more than the loader costs: `--libc glibc` is one flag \
         away, as for C dependencies that cannot be linked statically, and `--allocator \
         system` keeps musl's allocator (or a crate's own). `provided.al2` keeps glibc 2.26 \
         (through zig) by default, as before.\n",
        if talc.per_invocation < musl.per_invocation {
            format!(
                "costs {} instructions an invocation fewer than musl's allocator here",
                musl.per_invocation - talc.per_invocation
            )
        } else {
            "is no cheaper per invocation than musl's allocator here".to_owned()
        }
    );
    out
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
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} |",
            cells[0], cells[1], cells[2]
        );
    };
    for (arch, name) in [(0, "x86_64"), (1, "arm64")] {
        let _ = writeln!(out, "### {name}\n");
        header(&mut out);
        for (subject, (label, _)) in SUBJECTS.iter().enumerate() {
            let cells = |f: &dyn Fn(Figures) -> String| {
                [0, 1, 2].map(|build| {
                    at(arch, subject, build).map_or_else(|| "not measured".to_owned(), f)
                })
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
        if arch == 0 {
            peer_table(&mut out, measured);
        }
    }
    let _ = writeln!(out, "{}", reasoning(&at, trusted));
    let _ = writeln!(
        out,
        "Rerun: `cargo run --release --locked -p lambda-kit-bench -- static --write` (needs \
         valgrind, qemu-user, `gcc-aarch64-linux-gnu libc6-dev-arm64-cross`, and the Rust \
         targets `x86_64-unknown-linux-musl aarch64-unknown-linux-gnu aarch64-unknown-linux-musl`)."
    );
    let _ = writeln!(out, "{END}");
    out
}

/// The echo of `build`'s default (musl with talc) against lambda_runtime's, glibc as its users build it
/// and static as lambda-kit's default is.
fn peer_table(out: &mut String, measured: &Measured<'_>) {
    let find = |package: &str, build: Build| {
        measured
            .iter()
            .find(|(key, _)| *key == (Arch::X86_64, package, build))
            .map(|(_, figures)| *figures)
    };
    let (Some(ours), Some(glibc), Some(musl)) = (
        find(SUBJECTS[0].1, Build::MuslTalc),
        find(PEER, Build::Glibc),
        find(PEER, Build::Musl),
    ) else {
        return;
    };
    let ratio = |ours: u64, theirs: u64| format!("{:.2}x", ours as f64 / theirs.max(1) as f64);
    let wall = |figures: Figures| {
        figures.init_wall.map_or_else(
            || "-".to_owned(),
            |time| format!("{:.2}", time.as_secs_f64() * 1000.0),
        )
    };
    let _ = writeln!(
        out,
        "### The default build against lambda_runtime (x86_64)\n"
    );
    let _ = writeln!(
        out,
        "lambda-kit's echo as `cargo lambdakit build` links it for `provided.al2023` (musl, \
         static, with talc), against lambda_runtime's echo linked with glibc (as `cargo build` and \
         `cargo lambda build` link it) and with musl, in this run.\n"
    );
    let _ = writeln!(
        out,
        "| | lambda-kit, musl + talc | lambda_runtime, glibc | ratio | lambda_runtime, musl | ratio | target |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| instructions, init | {} | {} | {} | {} | {} | ≤ 0.5x |",
        ours.init,
        glibc.init,
        ratio(ours.init, glibc.init),
        musl.init,
        ratio(ours.init, musl.init)
    );
    let _ = writeln!(
        out,
        "| instructions / invocation | {} | {} | {} | {} | {} | ≤ 0.2x |",
        ours.per_invocation,
        glibc.per_invocation,
        ratio(ours.per_invocation, glibc.per_invocation),
        musl.per_invocation,
        ratio(ours.per_invocation, musl.per_invocation)
    );
    let _ = writeln!(
        out,
        "| init, spawn to first /next (ms) | {} | {} | | {} | | |\n",
        wall(ours),
        wall(glibc),
        wall(musl)
    );
}
