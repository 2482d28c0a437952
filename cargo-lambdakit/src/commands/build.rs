//! `cargo lambdakit build`: build functions in release mode for Lambda's x86_64 or arm64,
//! check that each binary will run on the chosen runtime, and lay them out (with their zips)
//! as other Lambda tools read them: `target/lambda/<function>/bootstrap`, and
//! `target/lambda/arm64/<function>/bootstrap` for arm64, so the two never overwrite each other;
//! an extension as its layer holds it, `target/lambda/[arm64/]<extension>/extensions/<extension>`,
//! beside its `layer.zip`.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::prelude::{LibcArgs, Output, ProjectArgs};
use crate::build::{self, LinkerChoice, lambda};
use crate::error::CliError;
use crate::platform::{Architecture, Runtime};
use crate::project::{Kind, Project};

/// Options of `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Which project and package.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Only this function or extension (a binary target); default: all of them.
    #[arg(long = "bin", value_name = "NAME")]
    pub function: Option<String>,
    /// Lambda's architecture: `x86_64` or `arm64` (repeatable; default `x86_64`).
    #[arg(long = "arch", value_name = "ARCH", hide_possible_values = true)]
    pub architectures: Vec<Architecture>,
    /// The runtime whose glibc the binaries must run on.
    #[arg(long, default_value = "provided.al2023", hide_possible_values = true)]
    pub runtime: Runtime,
    /// The C library: `musl` (static) or `glibc`.
    #[command(flatten)]
    pub libc: LibcArgs,
    /// What links: `gcc` (the host's, or Debian's cross gcc: the build machine's glibc), `zig`
    /// (PyPI `ziglang`: the runtime's glibc), or `auto`: zig for `provided.al2`, else gcc.
    #[arg(long, default_value = "auto")]
    pub linker: LinkerChoice,
    /// `text` (default) or `json`: one JSON document with each build's paths, sizes and CodeSha256.
    #[arg(long = "output", value_name = "FORMAT", default_value = "text")]
    pub output: Output,
}

pub(crate) fn run(args: BuildArgs) -> Result<ExitCode, CliError> {
    let options = lambda::Options {
        runtime: args.runtime,
        libc: args.libc.libc(),
        linker: args.linker,
        allocator: args.libc.allocator,
        status: crate::status::Style::for_stderr(args.output == Output::Json),
    };
    let architectures = if args.architectures.is_empty() {
        vec![Architecture::X86_64]
    } else {
        args.architectures.clone()
    };
    let targets: Vec<_> = architectures
        .into_iter()
        .map(|architecture| options.target(architecture))
        .collect();
    for target in &targets {
        options.check_tools(target)?;
    }
    let project = Project::load(&args.project.load_options())?;
    let selection = project.select_bins(args.function.as_deref())?;
    let bins = selection.bins();
    build::warn_about_openssl(&project, &bins);
    let mut report = Vec::new();
    for target in &targets {
        for built in lambda::build(&project, &bins, target, &options)? {
            let needs = built
                .max_glibc
                .map(|(major, minor)| format!("{major}.{minor}"));
            let kind = built.kind.as_str();
            if args.output == Output::Text {
                let marked = match built.kind {
                    Kind::Function => String::new(),
                    Kind::Extension => format!(", {kind}"),
                };
                println!(
                    "{} ({}{marked}): {} ({} bytes, {}); {} ({} bytes)",
                    built.function,
                    built.architecture,
                    built.bootstrap.display(),
                    built.archive.unzipped,
                    needs.as_deref().map_or_else(
                        || format!("static, no glibc, {} allocator", built.allocator.as_str()),
                        |glibc| format!("needs glibc {glibc}")
                    ),
                    built.zip.display(),
                    built.archive.bytes.len()
                );
            }
            report.push(json!({
                kind: built.function,
                "kind": kind,
                "architecture": built.architecture,
                "runtime": args.runtime,
                "bootstrap": built.bootstrap,
                "zip": built.zip,
                "size": built.archive.unzipped,
                "zip_size": built.archive.bytes.len(),
                "code_sha256": built.archive.code_sha256(),
                "max_glibc": needs,
                "allocator": built.allocator.as_str(),
            }));
        }
    }
    if args.output == Output::Json {
        println!("{}", json!({ "builds": report }));
    }
    Ok(ExitCode::SUCCESS)
}
