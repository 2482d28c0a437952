//! Lambda's platforms, as the words the settings and flags take: the architectures (`x86_64`,
//! `arm64`) and the OS-only runtimes Rust functions run on (`provided.al2023`,
//! `provided.al2`); and the one answer to "how does this machine run a binary of that
//! architecture": directly, or under `qemu-aarch64` with the arm64 sysroot.
//!
//! clap's `ValueEnum` for these lives in `commands/prelude.rs`, so no clap type reaches here.

use std::fmt;

use crate::error::CliError;

/// A Lambda architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Architecture {
    /// `x86_64`, Lambda's default.
    #[default]
    X86_64,
    /// `arm64` (Graviton).
    Arm64,
}

impl Architecture {
    /// Every architecture, in the order messages list them.
    pub const ALL: [Self; 2] = [Self::X86_64, Self::Arm64];

    /// Lambda's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }

    /// The architecture Lambda calls `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|known| known.as_str() == name)
    }

    /// This machine's, when Lambda has it.
    pub fn host() -> Option<Self> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Self::X86_64),
            "aarch64" => Some(Self::Arm64),
            _ => None,
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Architecture {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// An OS-only Lambda runtime, which Rust functions run on: what matters of it is its glibc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Runtime {
    /// `provided.al2023` (Amazon Linux 2023), the default.
    #[default]
    ProvidedAl2023,
    /// `provided.al2` (Amazon Linux 2).
    ProvidedAl2,
}

impl Runtime {
    /// Every runtime, in the order messages list them.
    pub const ALL: [Self; 2] = [Self::ProvidedAl2023, Self::ProvidedAl2];

    /// Lambda's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProvidedAl2023 => "provided.al2023",
            Self::ProvidedAl2 => "provided.al2",
        }
    }

    /// The runtime Lambda calls `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|known| known.as_str() == name)
    }

    /// The glibc it has (AWS "Lambda runtimes").
    pub fn glibc(self) -> (u32, u32) {
        match self {
            Self::ProvidedAl2023 => (2, 34),
            Self::ProvidedAl2 => (2, 26),
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Runtime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Where Debian's `libc6-arm64-cross` puts the arm64 sysroot, qemu's `-L` prefix.
pub const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// What runs a binary of `architecture` here: nothing in between for this machine's own, and
/// `qemu-aarch64 -L SYSROOT` for arm64 on another machine when qemu-user and the arm64
/// sysroot are installed. The first element is the program, the rest its arguments; the
/// binary and its own arguments go after them.
///
/// # Errors
///
/// [`Unrunnable`] when this machine cannot run it, saying what to install.
pub fn runner(architecture: Architecture) -> Result<Vec<String>, Unrunnable> {
    let host = Architecture::host();
    if host == Some(architecture) {
        return Ok(Vec::new());
    }
    let qemu = std::process::Command::new("qemu-aarch64")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if architecture == Architecture::Arm64 && qemu && std::path::Path::new(ARM64_SYSROOT).is_dir() {
        return Ok(vec![
            "qemu-aarch64".into(),
            "-L".into(),
            ARM64_SYSROOT.into(),
        ]);
    }
    Err(Unrunnable { architecture })
}

/// This machine cannot run a binary of `architecture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unrunnable {
    /// The architecture asked for.
    pub architecture: Architecture,
}

/// The packages that run arm64 binaries on x86_64.
const QEMU_PACKAGES: &str = "apt-get install qemu-user libc6-arm64-cross";

impl fmt::Display for Unrunnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this machine ({}) cannot run {} code: the local Lambda runs arm64 under qemu-aarch64 with the arm64 sysroot in `{ARM64_SYSROOT}` ({QEMU_PACKAGES})",
            std::env::consts::ARCH,
            self.architecture
        )
    }
}

impl std::error::Error for Unrunnable {}

impl From<Unrunnable> for CliError {
    fn from(unrunnable: Unrunnable) -> Self {
        match unrunnable.architecture {
            Architecture::Arm64 => CliError::Missing {
                what: format!("qemu-aarch64 with the arm64 sysroot in `{ARM64_SYSROOT}`"),
                install: QEMU_PACKAGES.into(),
            },
            other => CliError::Config {
                key: "--arch".into(),
                problem: format!(
                    "is `{other}`, which this machine ({}) cannot run; the local Lambda runs only arm64 under qemu",
                    std::env::consts::ARCH
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for architecture in Architecture::ALL {
            assert_eq!(
                Architecture::named(architecture.as_str()),
                Some(architecture)
            );
        }
        for runtime in Runtime::ALL {
            assert_eq!(Runtime::named(runtime.as_str()), Some(runtime));
        }
        assert_eq!(Architecture::named("x86"), None);
        assert_eq!(Runtime::named("provided"), None);
    }

    #[test]
    fn this_machine_runs_its_own_architecture_directly() {
        if let Some(host) = Architecture::host() {
            assert_eq!(runner(host), Ok(Vec::new()));
        }
    }
}
