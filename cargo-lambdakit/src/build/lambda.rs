//! One build for Lambda, as `build` and `deploy` both need it: cargo for the target, the
//! binary checked against the runtime, laid out as `bootstrap` and zipped.

use std::path::PathBuf;

use super::{Linker, LinkerChoice, Target, check_binary, zig_linker};
use crate::error::CliError;
use crate::package::zip::{self, Archive};
use crate::platform::{Architecture, Runtime};
use crate::project::{Function, Project};

/// How to build: for which runtime, statically or not, linked by what.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Whose glibc the binaries must run on.
    pub runtime: Runtime,
    /// Static musl binaries, which need no glibc at all.
    pub musl: bool,
    /// What links them.
    pub linker: LinkerChoice,
}

/// A function built for Lambda.
#[derive(Debug)]
pub struct Built {
    /// The function (binary target) name.
    pub function: String,
    /// Its architecture.
    pub architecture: Architecture,
    /// `target/lambda/[arm64/]<function>/bootstrap`.
    pub bootstrap: PathBuf,
    /// Its zip, beside it.
    pub zip: PathBuf,
    /// The zip's bytes.
    pub archive: Archive,
    /// The newest glibc symbol version it needs; `None` for a static binary.
    pub max_glibc: Option<(u32, u32)>,
}

impl Options {
    /// The target for `architecture` with these options.
    pub fn target(&self, architecture: Architecture) -> Target {
        if self.musl {
            Target::musl(architecture)
        } else {
            Target::glibc(architecture)
        }
    }

    /// Whether zig links (for a glibc older than the build machine's).
    fn zig(&self) -> bool {
        match self.linker {
            LinkerChoice::Zig => true,
            LinkerChoice::Gcc => false,
            // A static musl binary needs no glibc, so gcc does.
            LinkerChoice::Auto => self.runtime.glibc() < (2, 34) && !self.musl,
        }
    }

    /// Checks, before anything is built, that what building for `target` needs is installed.
    ///
    /// # Errors
    ///
    /// [`CliError::Missing`] naming the install command.
    pub fn check_tools(&self, target: &Target) -> Result<(), CliError> {
        let zig = self.zig();
        if target.needs_target_flag(&Linker::System) || zig {
            target.check_rust_target()?;
        }
        if target.needs_cross_linker() && !zig {
            target.check_cross_linker()?;
        }
        Ok(())
    }
}

/// Builds `functions` in release mode for `target`, checks each binary will run on the
/// runtime, and writes its `bootstrap` and zip under `target/lambda`.
///
/// # Errors
///
/// When cargo fails, a binary would not run on Lambda, or an output cannot be written.
pub fn build(
    project: &Project,
    functions: &[&Function],
    target: &Target,
    options: &Options,
) -> Result<Vec<Built>, CliError> {
    let glibc = options.runtime.glibc();
    let linker = if options.zig() {
        zig_linker(&project.target_dir.join("lambdakit/zig"), target, glibc)?
    } else {
        Linker::System
    };
    let tuning = super::profile::tuning(&project.root_manifest);
    if !tuning.keys.is_empty() {
        eprintln!(
            "note: building with Lambda's release profile for what `[profile.release]` leaves unset: {}",
            tuning.keys.join(", ")
        );
    }
    if tuning.aborts {
        eprintln!(
            "warning: `[profile.release]` has `panic = \"abort\"`: a panicking handler ends its process instead of reporting the invocation's error\nhint: remove it to keep the default, `panic = \"unwind\"`"
        );
    }
    let binaries = project.build(functions, true, Some((target, &linker)), &tuning.variables)?;
    let mut built = Vec::with_capacity(functions.len());
    for (function, binary) in functions.iter().zip(binaries) {
        let facts = check_binary(&function.name, &binary, target, options.runtime)?;
        let layout = match target.architecture {
            Architecture::X86_64 => project.target_dir.join("lambda").join(&function.name),
            other => project
                .target_dir
                .join("lambda")
                .join(other.as_str())
                .join(&function.name),
        };
        let bootstrap = layout.join("bootstrap");
        let archive = zip::write(zip::entries(&binary, &[])?)?;
        let zip_path = layout.join("bootstrap.zip");
        std::fs::create_dir_all(&layout)
            .and_then(|()| std::fs::copy(&binary, &bootstrap))
            .and_then(|_| std::fs::write(&zip_path, &archive.bytes))
            .map_err(|error| CliError::Config {
                key: layout.display().to_string(),
                problem: format!("cannot be written: {error}"),
            })?;
        built.push(Built {
            function: function.name.clone(),
            architecture: target.architecture,
            bootstrap,
            zip: zip_path,
            archive,
            max_glibc: facts.max_glibc,
        });
    }
    Ok(built)
}
