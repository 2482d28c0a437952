//! `cargo lambdakit build`: build functions in release mode for Lambda's x86_64 or arm64,
//! check that each binary will run on the chosen runtime, and lay them out (with their zips)
//! as other Lambda tools read them: `target/lambda/<function>/bootstrap`, and
//! `target/lambda/arm64/<function>/bootstrap` for arm64, so the two never overwrite each other.

use std::process::{Command, ExitCode};

use clap::Args;
use serde_json::json;

use crate::build::{Linker, Target, check_binary, runtime_glibc, zig_linker};
use crate::cli::ProjectArgs;
use crate::error::CliError;
use crate::package::zip;
use crate::project::{Project, cargo};

/// Options of `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Which project and package.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Only this function (a binary target); default: all of them.
    #[arg(long = "bin", value_name = "NAME")]
    pub function: Option<String>,
    /// Lambda's architecture: `x86_64` or `arm64` (repeatable; default `x86_64`).
    #[arg(long = "arch", value_name = "ARCH")]
    pub architectures: Vec<String>,
    /// The runtime whose glibc the binaries must run on.
    #[arg(long, default_value = "provided.al2023")]
    pub runtime: String,
    /// Build static binaries on musl (x86_64), which need no glibc at all.
    #[arg(long)]
    pub musl: bool,
    /// What links: `gcc` (the host's, or Debian's cross gcc: the build machine's glibc), `zig`
    /// (PyPI `ziglang`: the runtime's glibc), or `auto`: zig for `provided.al2`, else gcc.
    #[arg(long, default_value = "auto", value_parser = ["auto", "gcc", "zig"])]
    pub linker: String,
    /// `text` (default) or `json`: one JSON document with each build's paths, sizes and CodeSha256.
    #[arg(long = "output", value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}

pub(crate) fn run(args: BuildArgs) -> Result<ExitCode, CliError> {
    let glibc = runtime_glibc(&args.runtime)?;
    let names = if args.architectures.is_empty() {
        vec!["x86_64".to_owned()]
    } else {
        args.architectures.clone()
    };
    let targets = names
        .iter()
        .map(|name| {
            if args.musl {
                Target::musl(name)
            } else {
                Target::named(name)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let zig = match args.linker.as_str() {
        "zig" => true,
        "gcc" => false,
        // A static musl binary needs no glibc, so gcc does.
        _ => glibc < (2, 34) && !args.musl,
    };
    for target in &targets {
        if target.needs_target_flag(&Linker::System) || zig {
            target.check_rust_target()?;
        }
        if target.needs_cross_linker() && !zig {
            target.check_cross_linker()?;
        }
    }
    let project = Project::load(&args.project)?;
    let functions = project.select(args.function.as_deref())?;
    warn_about_openssl(&project, &functions);
    let mut built = Vec::new();
    for target in &targets {
        let linker = if zig {
            zig_linker(&project.target_dir.join("lambdakit/zig"), target, glibc)?
        } else {
            Linker::System
        };
        let binaries = project.build(&functions, true, Some((target, &linker)))?;
        for (function, binary) in functions.iter().zip(binaries) {
            let facts = check_binary(&function.name, &binary, target, &args.runtime)?;
            let layout = match target.architecture {
                "x86_64" => project.target_dir.join("lambda").join(&function.name),
                other => project
                    .target_dir
                    .join("lambda")
                    .join(other)
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
            let needs = facts
                .max_glibc
                .map(|(major, minor)| format!("{major}.{minor}"));
            if args.output == "text" {
                println!(
                    "{} ({}): {} ({} bytes, {}); {} ({} bytes)",
                    function.name,
                    target.architecture,
                    bootstrap.display(),
                    archive.unzipped,
                    needs.as_deref().map_or_else(
                        || "static, no glibc".to_owned(),
                        |glibc| format!("needs glibc {glibc}")
                    ),
                    zip_path.display(),
                    archive.bytes.len()
                );
            }
            built.push(json!({
                "function": function.name,
                "architecture": target.architecture,
                "runtime": args.runtime,
                "bootstrap": bootstrap,
                "zip": zip_path,
                "size": archive.unzipped,
                "zip_size": archive.bytes.len(),
                "code_sha256": archive.code_sha256(),
                "max_glibc": needs,
            }));
        }
    }
    if args.output == "json" {
        println!("{}", json!({ "builds": built }));
    }
    Ok(ExitCode::SUCCESS)
}

/// `openssl-sys` is the usual reason a cross build fails: say so before it does.
fn warn_about_openssl(project: &Project, functions: &[&crate::project::Function]) {
    let mut packages: Vec<&str> = functions
        .iter()
        .map(|function| function.package.as_str())
        .collect();
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
