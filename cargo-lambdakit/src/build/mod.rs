//! Building functions for Lambda: the targets, the checks that a build will run there, and
//! what must be installed for a cross build.

pub mod elf;
pub mod lambda;
pub mod profile;
mod record;
pub mod statics;

use std::path::Path;
use std::process::Command;

use crate::error::CliError;
use crate::platform::{Architecture, Runtime};
use crate::project::{Bin, Project, cargo};

/// A Lambda architecture and how to build for it from this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Lambda's architecture.
    pub architecture: Architecture,
    /// The Rust target triple.
    pub triple: &'static str,
    /// The dynamic loader its binaries must ask for; none for static (musl) binaries.
    pub interpreter: Option<&'static str>,
    /// The cross linker, when this machine is not of this architecture.
    cross_linker: &'static str,
    /// Debian's packages that provide the cross linker and libc.
    cross_packages: &'static str,
}

/// The architectures Lambda runs, linked against glibc.
pub const TARGETS: [Target; 2] = [
    Target {
        architecture: Architecture::X86_64,
        triple: "x86_64-unknown-linux-gnu",
        interpreter: Some("/lib64/ld-linux-x86-64.so.2"),
        cross_linker: "x86_64-linux-gnu-gcc",
        cross_packages: "gcc-x86-64-linux-gnu libc6-dev-amd64-cross",
    },
    Target {
        architecture: Architecture::Arm64,
        triple: "aarch64-unknown-linux-gnu",
        interpreter: Some("/lib/ld-linux-aarch64.so.1"),
        cross_linker: "aarch64-linux-gnu-gcc",
        cross_packages: "gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
    },
];

/// Static binaries on musl: they run on any runtime, glibc or not. Rust's musl targets bring
/// their own libc and start files, so any linker for the architecture links them: the host's
/// `cc` for x86_64, Debian's cross gcc for arm64.
pub const MUSL: [Target; 2] = [
    Target {
        architecture: Architecture::X86_64,
        triple: "x86_64-unknown-linux-musl",
        interpreter: None,
        cross_linker: "cc",
        cross_packages: "gcc",
    },
    Target {
        architecture: Architecture::Arm64,
        triple: "aarch64-unknown-linux-musl",
        interpreter: None,
        cross_linker: "aarch64-linux-gnu-gcc",
        cross_packages: "gcc-aarch64-linux-gnu",
    },
];

impl Target {
    /// The glibc target for a Lambda architecture.
    pub fn glibc(architecture: Architecture) -> Self {
        match architecture {
            Architecture::X86_64 => TARGETS[0],
            Architecture::Arm64 => TARGETS[1],
        }
    }

    /// The static musl target for a Lambda architecture.
    pub fn musl(architecture: Architecture) -> Self {
        match architecture {
            Architecture::X86_64 => MUSL[0],
            Architecture::Arm64 => MUSL[1],
        }
    }

    fn is_musl(&self) -> bool {
        self.interpreter.is_none()
    }

    /// Whether this machine runs it natively.
    pub fn is_host(&self) -> bool {
        Architecture::host() == Some(self.architecture)
    }

    /// Checks that Rust can build for this target, naming what to install when it cannot.
    ///
    /// # Errors
    ///
    /// When the Rust target is not installed.
    pub fn check_rust_target(&self) -> Result<(), CliError> {
        let libdir = Command::new("rustc")
            .args(["--print", "target-libdir", "--target", self.triple])
            .output();
        let installed = libdir
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .and_then(|dir| std::fs::read_dir(dir).ok())
            .is_some_and(|mut entries| {
                entries.any(|entry| {
                    entry.is_ok_and(|entry| {
                        entry.file_name().to_string_lossy().starts_with("libstd-")
                    })
                })
            });
        if installed {
            Ok(())
        } else {
            Err(CliError::Missing {
                what: format!("the Rust target `{}`", self.triple),
                install: format!("rustup target add {}", self.triple),
            })
        }
    }

    /// Checks that the apt cross linker for this target is installed.
    ///
    /// # Errors
    ///
    /// When it is not, with the packages to install.
    pub fn check_cross_linker(&self) -> Result<(), CliError> {
        let linker = Command::new(self.cross_linker).arg("--version").output();
        if linker.is_ok_and(|output| output.status.success()) {
            Ok(())
        } else {
            Err(CliError::Missing {
                what: format!("the cross linker `{}`", self.cross_linker),
                install: format!("apt-get install {}", self.cross_packages),
            })
        }
    }

    /// The environment variables that make cargo link this target with `linker`, and build
    /// C code for it with the same compiler.
    ///
    /// A musl build always names its C compiler: cc-rs would otherwise look for
    /// `x86_64-linux-musl-gcc` or `aarch64-linux-musl-gcc`, which no Debian package installs,
    /// and fail the build of any crate with C in it (ring's). Rust's musl targets bring their
    /// own libc and start files, so the host's gcc (or Debian's cross gcc) compiles and links
    /// for them.
    pub fn linker_variables(&self, linker: &Linker) -> Vec<(String, std::ffi::OsString)> {
        if matches!(linker, Linker::System) && !self.needs_cross_linker() && !self.is_musl() {
            return Vec::new();
        }
        let program: std::ffi::OsString = match linker {
            Linker::System => self.cross_linker.into(),
            Linker::Zig(wrapper) => wrapper.clone().into(),
        };
        let mut variables = vec![(
            format!(
                "CARGO_TARGET_{}_LINKER",
                self.triple.to_uppercase().replace('-', "_")
            ),
            program.clone(),
        )];
        if matches!(linker, Linker::Zig(_)) || self.is_musl() {
            variables.push((format!("CC_{}", self.triple.replace('-', "_")), program));
        }
        variables
    }

    /// Whether building for it with `linker` needs `--target` (rather than a plain host build).
    pub fn needs_target_flag(&self, linker: &Linker) -> bool {
        self.needs_target_flag_with(matches!(linker, Linker::Zig(_)))
    }

    /// Whether building for it needs `--target`, when zig links (`zig`) or not.
    pub fn needs_target_flag_with(&self, zig: bool) -> bool {
        !self.is_host() || self.is_musl() || zig
    }

    /// Whether a gcc-linked build needs Debian's cross gcc.
    pub fn needs_cross_linker(&self) -> bool {
        !self.is_host()
    }
}

/// Which C library a build links: glibc, dynamically, or musl, statically (`--libc`).
///
/// A static musl binary has no loader to run and no shared library to map at start: the
/// echo function's init is well under half a glibc build's (BENCHMARKS.md, "Static or glibc"),
/// and it runs on every runtime. So it is the default for `provided.al2023`. glibc is a flag
/// away, for C dependencies that cannot be linked statically; `provided.al2` keeps glibc
/// (2.26, through zig) by default, as a function built for it always has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libc {
    /// glibc, dynamically linked: the runtime's own.
    Glibc,
    /// musl, statically linked: a binary that needs no C library on the runtime.
    Musl,
}

impl Libc {
    /// Every choice, in the order help lists them.
    pub const ALL: [Self; 2] = [Self::Glibc, Self::Musl];

    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Glibc => "glibc",
            Self::Musl => "musl",
        }
    }

    /// What `build` and `deploy` link for `runtime` when `--libc` is not given: musl for
    /// `provided.al2023`, glibc for `provided.al2`.
    pub fn default_for(runtime: Runtime) -> Self {
        match runtime {
            Runtime::ProvidedAl2023 => Self::Musl,
            Runtime::ProvidedAl2 => Self::Glibc,
        }
    }
}

/// The allocator of a static build of a function on lambda-kit (`--allocator`).
///
/// musl's own allocator is small and careful rather than quick: the echo function spends about
/// a sixth of its instructions per invocation in it. talc, a pure-Rust allocator (lambda-kit's
/// `talc` feature), takes back most of that (BENCHMARKS.md, "Static or glibc"), so a static
/// build turns the feature on for each package that depends on lambda-kit. A glibc build keeps
/// glibc's allocator either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allocator {
    /// talc, through lambda-kit's `talc` feature, in a static build.
    #[default]
    Talc,
    /// Rust's default: the C library's `malloc`, or the crate's own `#[global_allocator]`.
    System,
}

impl Allocator {
    /// Every choice, in the order help lists them.
    pub const ALL: [Self; 2] = [Self::Talc, Self::System];

    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Talc => "talc",
            Self::System => "system",
        }
    }
}

/// What the user chose to link with (`--linker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkerChoice {
    /// zig for a runtime whose glibc is older than 2.34 (`provided.al2`), else gcc.
    #[default]
    Auto,
    /// The host's gcc, or Debian's cross gcc: links against the build machine's glibc.
    Gcc,
    /// zig (PyPI `ziglang`): links against the runtime's glibc.
    Zig,
}

impl LinkerChoice {
    /// Every choice, in the order help lists them.
    pub const ALL: [Self; 3] = [Self::Auto, Self::Gcc, Self::Zig];

    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Gcc => "gcc",
            Self::Zig => "zig",
        }
    }
}

/// What links a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linker {
    /// The host's C compiler, or Debian's cross gcc for the other architecture: links against
    /// the build machine's glibc.
    System,
    /// zig (PyPI `ziglang`), through this wrapper script: links against a chosen glibc.
    Zig(std::path::PathBuf),
}

/// Writes (once) a wrapper that links for `target` against glibc `glibc` with zig, under
/// `dir`, and returns it.
///
/// # Errors
///
/// When zig is not installed, or the wrapper cannot be written.
pub fn zig_linker(dir: &Path, target: &Target, glibc: (u32, u32)) -> Result<Linker, CliError> {
    let zig = Command::new("python3")
        .args(["-m", "ziglang", "version"])
        .output();
    if !zig.is_ok_and(|output| output.status.success()) {
        return Err(CliError::Missing {
            what: "zig (for builds pinned to an older glibc)".into(),
            install: "pip install ziglang".into(),
        });
    }
    let arch = match target.architecture {
        Architecture::Arm64 => "aarch64",
        Architecture::X86_64 => "x86_64",
    };
    let zig_target = format!("{arch}-linux-gnu.{}.{}", glibc.0, glibc.1);
    let wrapper = dir.join(&zig_target).join("cc");
    let script = format!(
        "#!/bin/sh\n# Written by cargo lambdakit: links for {zig_target} with zig.\nexec python3 -m ziglang cc -target {zig_target} \"$@\"\n"
    );
    let written = std::fs::create_dir_all(wrapper.parent().unwrap_or(dir))
        .and_then(|()| std::fs::write(&wrapper, script))
        .and_then(|()| {
            std::fs::set_permissions(
                &wrapper,
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
        });
    written.map_err(|error| CliError::Config {
        key: wrapper.display().to_string(),
        problem: format!("cannot be written: {error}"),
    })?;
    Ok(Linker::Zig(wrapper))
}

/// Checks that `binary`, built for `target`, will run on `runtime`.
///
/// # Errors
///
/// When it is for another architecture, asks for another loader, or needs a newer glibc than
/// the runtime has: each names the problem and what to do.
pub fn check_binary(
    function: &str,
    binary: &Path,
    target: &Target,
    runtime: Runtime,
) -> Result<elf::Binary, CliError> {
    let bad = |problem: String, hint: String| CliError::Binary {
        function: function.to_owned(),
        problem,
        hint,
    };
    let facts = elf::inspect(binary).map_err(|problem| {
        bad(
            problem,
            "build it again with `cargo lambdakit build`".into(),
        )
    })?;
    if facts.architecture != target.architecture.as_str() {
        return Err(bad(
            format!(
                "it is built for {}, not {}",
                facts.architecture, target.architecture
            ),
            format!(
                "build it with `--arch {}`, or deploy it as an {} function",
                target.architecture, facts.architecture
            ),
        ));
    }
    if facts.interpreter.as_deref() != target.interpreter {
        let asked = facts.interpreter.as_deref().map_or_else(
            || "no loader (a static binary)".to_owned(),
            |loader| format!("the loader `{loader}`"),
        );
        let expected = target.interpreter.map_or_else(
            || "a static binary".to_owned(),
            |loader| format!("`{loader}`"),
        );
        return Err(bad(
            format!(
                "it asks for {asked}, where Lambda's {} runtime takes {expected}",
                target.architecture
            ),
            "build it with `cargo lambdakit build` (`--libc musl`, static, or `--libc glibc`)"
                .into(),
        ));
    }
    let (major, minor) = runtime.glibc();
    if let Some((need_major, need_minor)) =
        facts.max_glibc.filter(|&needed| needed > (major, minor))
    {
        return Err(bad(
            format!(
                "it needs GLIBC_{need_major}.{need_minor}, newer than the glibc {major}.{minor} of `{runtime}`"
            ),
            format!(
                "target `provided.al2023`, or build against glibc {major}.{minor} or older (an older build machine or toolchain)"
            ),
        ));
    }
    Ok(facts)
}

/// `openssl-sys` is the usual reason a cross build fails: says so on stderr, for each package
/// of `bins` that depends on it, before the build does.
pub fn warn_about_openssl(project: &Project, bins: &[Bin<'_>]) {
    let mut packages: Vec<&str> = bins.iter().map(|bin| bin.package).collect();
    packages.sort_unstable();
    packages.dedup();
    for package in packages {
        let mut command = Command::new(cargo());
        command.args([
            "tree",
            "--quiet",
            "-e",
            "normal",
            "-p",
            package,
            "-i",
            "openssl-sys",
        ]);
        if let Some(path) = project.manifest_path() {
            command.arg("--manifest-path").arg(path);
        }
        let found = command
            .output()
            .is_ok_and(|output| output.status.success() && !output.stdout.is_empty());
        if found {
            eprintln!(
                "warning: `{package}` depends on `openssl-sys`, which needs OpenSSL built for the target and often breaks cross builds\nhint: use the rustls features of your HTTP and AWS crates instead"
            );
        }
    }
}
