//! One build for Lambda, as `build` and `deploy` both need it: cargo for the target, the
//! binary checked against the runtime, laid out and zipped: a function as `bootstrap` in
//! `bootstrap.zip`, an extension as `extensions/NAME` in the layer's `layer.zip`.

use std::path::PathBuf;
use std::time::SystemTime;

use super::record::{self, Recipe};
use super::{Allocator, Libc, Linker, LinkerChoice, Target, check_binary, zig_linker};
use crate::error::CliError;
use crate::package::trust;
use crate::package::zip::{self, Archive};
use crate::platform::{Architecture, Runtime};
use crate::project::{Bin, Kind, Project, Trust};

/// How to build: for which runtime, statically or not, linked by what.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Whose glibc the binaries must run on.
    pub runtime: Runtime,
    /// The C library; `None`: the runtime's default ([`Libc::default_for`]).
    pub libc: Option<Libc>,
    /// What links them.
    pub linker: LinkerChoice,
    /// The allocator of a static build.
    pub allocator: Allocator,
    /// How cargo's progress is shown.
    pub status: crate::status::Style,
}

/// A function or extension built for Lambda.
#[derive(Debug)]
pub struct Built {
    /// The function's or extension's (binary target's) name.
    pub function: String,
    /// A function or an extension.
    pub kind: Kind,
    /// Its architecture.
    pub architecture: Architecture,
    /// `target/lambda/[arm64/]<function>/bootstrap`, or for an extension
    /// `target/lambda/[arm64/]<extension>/extensions/<extension>`: what the zip holds.
    pub bootstrap: PathBuf,
    /// Its zip, `bootstrap.zip` or (an extension's layer) `layer.zip`, in the same directory.
    pub zip: PathBuf,
    /// The zip's bytes.
    pub archive: Archive,
    /// The newest glibc symbol version it needs; `None` for a static binary.
    pub max_glibc: Option<(u32, u32)>,
    /// Its allocator: talc only in a static build of a package that depends on lambda-kit.
    pub allocator: Allocator,
}

impl Options {
    /// The target for `architecture` with these options.
    pub fn target(&self, architecture: Architecture) -> Target {
        match self.libc() {
            Libc::Musl => Target::musl(architecture),
            Libc::Glibc => Target::glibc(architecture),
        }
    }

    /// The C library these options build with.
    pub fn libc(&self) -> Libc {
        self.libc.unwrap_or_else(|| Libc::default_for(self.runtime))
    }

    /// Whether zig links (for a glibc older than the build machine's).
    fn zig(&self) -> bool {
        match self.linker {
            LinkerChoice::Zig => true,
            LinkerChoice::Gcc => false,
            // A static musl binary needs no glibc, so gcc does.
            LinkerChoice::Auto => self.runtime.glibc() < (2, 34) && self.libc() == Libc::Glibc,
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

/// Builds each of `bins` for its own architecture and runtime (one cargo run for each pair),
/// with `libc` (`None`: each runtime's default), `linker` and `allocator` as given, after
/// checking that the tools for every pair are installed; returns the builds in the order of
/// `bins`.
///
/// # Errors
///
/// As [`Options::check_tools`] and [`build`].
pub fn build_each(
    project: &Project,
    bins: &[(Bin<'_>, Architecture, Runtime)],
    libc: Option<Libc>,
    linker: LinkerChoice,
    allocator: Allocator,
    status: crate::status::Style,
) -> Result<Vec<Built>, CliError> {
    let mut groups: std::collections::BTreeMap<(Architecture, Runtime), Vec<usize>> =
        std::collections::BTreeMap::new();
    for (index, (_, architecture, runtime)) in bins.iter().enumerate() {
        groups
            .entry((*architecture, *runtime))
            .or_default()
            .push(index);
    }
    let plans: Vec<_> = groups
        .into_iter()
        .map(|((architecture, runtime), indices)| {
            let options = Options {
                runtime,
                libc,
                linker,
                allocator,
                status,
            };
            (options.target(architecture), options, indices)
        })
        .collect();
    let mut built: Vec<Option<Built>> = bins.iter().map(|_| None).collect();
    // What no input changed of since its last build is taken as it is; the rest is built.
    let mut to_build = Vec::new();
    for (target, options, indices) in plans {
        let group: Vec<Bin<'_>> = indices.iter().map(|&index| bins[index].0).collect();
        match reuse(project, &group, &target, &options) {
            Some(reused) => {
                eprintln!(
                    "building for {}: up to date (nothing it reads changed since its last build)",
                    target.triple
                );
                for (&index, output) in indices.iter().zip(reused) {
                    built[index] = Some(output);
                }
            }
            None => to_build.push((target, options, indices)),
        }
    }
    for (target, options, _) in &to_build {
        options.check_tools(target)?;
    }
    for (target, options, indices) in &to_build {
        let group: Vec<Bin<'_>> = indices.iter().map(|&index| bins[index].0).collect();
        super::warn_about_openssl(project, &group);
        for (&index, output) in indices.iter().zip(build(project, &group, target, options)?) {
            built[index] = Some(output);
        }
    }
    Ok(built.into_iter().flatten().collect())
}

/// Writes `bytes` to `path` whole or not at all (through a file beside it, renamed over it), so
/// that a deploy reading the zip meanwhile reads the old one or the new one.
fn replace(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    std::fs::write(&partial, bytes).and_then(|()| std::fs::rename(&partial, path))
}

/// Where a build of `bin` for `architecture` is laid out: `target/lambda/[arm64/]<bin>`,
/// its `bootstrap` (an extension's `extensions/<bin>`) and its zip.
fn layout(project: &Project, bin: &Bin<'_>, architecture: Architecture) -> (PathBuf, PathBuf) {
    let layout = match architecture {
        Architecture::X86_64 => project.target_dir.join("lambda").join(bin.name),
        other => project
            .target_dir
            .join("lambda")
            .join(other.as_str())
            .join(bin.name),
    };
    let bootstrap = match bin.kind {
        Kind::Function => layout.join("bootstrap"),
        Kind::Extension => layout.join("extensions").join(bin.name),
    };
    (bootstrap, layout.join(zip::file_name(bin.kind)))
}

/// What decides the output of building `bin` besides its sources.
/// `profile` is the release profile's tuning the build runs with (read once per build).
fn recipe(
    project: &Project,
    bin: &Bin<'_>,
    target: &Target,
    options: &Options,
    profile: &[(String, String)],
) -> Recipe {
    Recipe::of(&(
        (bin.package, bin.name, bin.kind == Kind::Function),
        target.triple,
        (
            options.runtime.as_str(),
            options.zig(),
            options.allocator.as_str(),
        ),
        (profile, project.lambda_kit_features_of(bin.package)),
        project.trust_of(bin) == Trust::AmazonRoots,
        project.cargo_arguments(),
    ))
}

/// The builds of `bins`, when none of their inputs changed since each was last built: nothing
/// is run.
fn reuse(
    project: &Project,
    bins: &[Bin<'_>],
    target: &Target,
    options: &Options,
) -> Option<Vec<Built>> {
    let binaries = project.binary_dir(
        true,
        target
            .needs_target_flag_with(options.zig())
            .then_some(target.triple),
    );
    let tuning = super::profile::tuning(&project.root_manifest);
    bins.iter()
        .map(|bin| {
            let (bootstrap, zip) = layout(project, bin, target.architecture);
            let binary = binaries.join(bin.name);
            let outputs = record::Outputs {
                binary: &binary,
                bootstrap: &bootstrap,
                zip: &zip,
            };
            let path = record::path_of(&project.target_dir, target.triple, bin.name);
            let recipe = recipe(project, bin, target, options, &tuning.variables);
            let reused = record::reuse(&path, &recipe, &outputs)?;
            Some(Built {
                function: bin.name.to_owned(),
                kind: bin.kind,
                architecture: target.architecture,
                bootstrap,
                zip,
                archive: reused.archive,
                max_glibc: reused.max_glibc,
                allocator: reused.allocator,
            })
        })
        .collect()
}

/// Builds `bins` in release mode for `target`, checks each binary will run on the runtime,
/// and writes it and its zip under `target/lambda`; a function whose `trust` is
/// `amazon-roots` gets Amazon's root CAs in its zip, beside `bootstrap`.
///
/// # Errors
///
/// When cargo fails, a binary would not run on Lambda, or an output cannot be written.
pub fn build(
    project: &Project,
    bins: &[Bin<'_>],
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
    // talc for the packages on lambda-kit, in a static build; what a package sets itself (its
    // own `#[global_allocator]`) fails the build with the fix named.
    let talc = target.interpreter.is_none() && options.allocator == Allocator::Talc;
    let features = if talc {
        project.lambda_kit_features(bins, "talc")
    } else {
        Vec::new()
    };
    let records: Vec<(PathBuf, Recipe)> = bins
        .iter()
        .map(|bin| {
            let path = record::path_of(&project.target_dir, target.triple, bin.name);
            record::forget(&path);
            (
                path,
                recipe(project, bin, target, options, &tuning.variables),
            )
        })
        .collect();
    let started = SystemTime::now();
    let binaries = project.build(
        bins,
        true,
        Some((target, &linker)),
        &tuning.variables,
        &features,
        options.status,
    )?;
    let mut built = Vec::with_capacity(bins.len());
    for ((bin, binary), (record, recipe)) in bins.iter().zip(binaries).zip(records) {
        let facts = check_binary(bin.name, &binary, target, options.runtime)?;
        let (bootstrap, zip_path) = layout(project, bin, target.architecture);
        let mut entries = zip::entries_of(bin.kind, &binary, bin.name, &[])?;
        if bin.kind == Kind::Function && project.trust_of(bin) == Trust::AmazonRoots {
            entries.push(trust::entry());
        }
        let archive = zip::write(entries)?;
        let written = bootstrap
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::copy(&binary, &bootstrap))
            .and_then(|_| replace(&zip_path, &archive.bytes));
        written.map_err(|error| CliError::Config {
            key: zip_path.parent().unwrap_or(&zip_path).display().to_string(),
            problem: format!("cannot be written: {error}"),
        })?;
        let allocator = if talc && project.lambda_kit_dependency(bin.package).is_some() {
            Allocator::Talc
        } else {
            Allocator::System
        };
        let outputs = record::Outputs {
            binary: &binary,
            bootstrap: &bootstrap,
            zip: &zip_path,
        };
        record::keep(
            &record,
            &recipe,
            started,
            &project.manifests,
            &outputs,
            (&archive, facts.max_glibc, allocator),
        );
        built.push(Built {
            function: bin.name.to_owned(),
            kind: bin.kind,
            architecture: target.architecture,
            bootstrap,
            zip: zip_path,
            archive,
            max_glibc: facts.max_glibc,
            allocator,
        });
    }
    Ok(built)
}
