//! `cargo lambdakit build`: build functions in release mode for Lambda's x86_64 or arm64,
//! check that each binary will run on the chosen runtime, and lay them out (with their zips)
//! as other Lambda tools read them: `target/lambda/<function>/bootstrap`, and
//! `target/lambda/arm64/<function>/bootstrap` for arm64, so the two never overwrite each other.

use std::process::{Command, ExitCode};

use clap::Args;
use serde_json::json;

use crate::build::lambda;
use crate::cli::ProjectArgs;
use crate::error::CliError;
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
    /// Build static binaries on musl, which need no glibc at all.
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
    let options = lambda::Options {
        runtime: args.runtime.clone(),
        musl: args.musl,
        linker: args.linker.clone(),
    };
    let names = if args.architectures.is_empty() {
        vec!["x86_64".to_owned()]
    } else {
        args.architectures.clone()
    };
    let targets = names
        .iter()
        .map(|name| options.target(name))
        .collect::<Result<Vec<_>, _>>()?;
    for target in &targets {
        options.check_tools(target)?;
    }
    let project = Project::load(&args.project)?;
    let functions = project.select(args.function.as_deref())?;
    warn_about_openssl(&project, &functions);
    let mut report = Vec::new();
    for target in &targets {
        for built in lambda::build(&project, &functions, target, &options)? {
            let needs = built
                .max_glibc
                .map(|(major, minor)| format!("{major}.{minor}"));
            if args.output == "text" {
                println!(
                    "{} ({}): {} ({} bytes, {}); {} ({} bytes)",
                    built.function,
                    built.architecture,
                    built.bootstrap.display(),
                    built.archive.unzipped,
                    needs.as_deref().map_or_else(
                        || "static, no glibc".to_owned(),
                        |glibc| format!("needs glibc {glibc}")
                    ),
                    built.zip.display(),
                    built.archive.bytes.len()
                );
            }
            report.push(json!({
                "function": built.function,
                "architecture": built.architecture,
                "runtime": args.runtime,
                "bootstrap": built.bootstrap,
                "zip": built.zip,
                "size": built.archive.unzipped,
                "zip_size": built.archive.bytes.len(),
                "code_sha256": built.archive.code_sha256(),
                "max_glibc": needs,
            }));
        }
    }
    if args.output == "json" {
        println!("{}", json!({ "builds": report }));
    }
    Ok(ExitCode::SUCCESS)
}

/// `openssl-sys` is the usual reason a cross build fails: say so before it does.
pub(crate) fn warn_about_openssl(project: &Project, functions: &[&crate::project::Function]) {
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
