//! `cargo lambdakit zip`: package functions as Lambda deployment zips, and extensions as
//! layer zips (`extensions/NAME`), byte for byte the same for the same files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::prelude::{Output, ProjectArgs};
use crate::error::CliError;
use crate::package::zip;
use crate::project::{Kind, Project};

/// Options of `zip`.
#[derive(Debug, Args)]
pub struct ZipArgs {
    /// Which project and package (their functions are built in release mode and zipped).
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Only this function or extension (a binary target).
    #[arg(long = "bin", value_name = "NAME")]
    pub function: Option<String>,
    /// Zip this already built binary instead of building.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["function", "packages"])]
    pub binary: Option<PathBuf>,
    /// The function's name, with `--binary` (default: the binary's file name).
    #[arg(long, requires = "binary")]
    pub name: Option<String>,
    /// With `--binary`: it is an extension, zipped as a layer (`extensions/NAME`).
    #[arg(long, requires = "binary")]
    pub extension: bool,
    /// A file or directory to add beside `bootstrap` (repeatable).
    #[arg(long = "include", value_name = "PATH")]
    pub includes: Vec<PathBuf>,
    /// Where the zips go (default: `target/lambda/<function>/bootstrap.zip`, and
    /// `target/lambda/<extension>/layer.zip`).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// `text` (default) or `json`: one JSON document with each zip's path, sizes and CodeSha256.
    #[arg(long = "output", value_name = "FORMAT", default_value = "text")]
    pub output: Output,
}

pub(crate) fn run(args: ZipArgs) -> Result<ExitCode, CliError> {
    let (targets, default_dir) = match &args.binary {
        Some(binary) => {
            let name = match &args.name {
                Some(name) => name.clone(),
                None => binary
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "function".into()),
            };
            let kind = if args.extension {
                Kind::Extension
            } else {
                Kind::Function
            };
            (
                vec![(name, kind, binary.clone())],
                PathBuf::from("target/lambda"),
            )
        }
        None => {
            let project = Project::load(&args.project.load_options())?;
            let selection = project.select_bins(args.function.as_deref())?;
            let bins = selection.bins();
            let binaries = project.build_host(&bins, true)?;
            let names = bins.iter().map(|bin| (bin.name.to_owned(), bin.kind));
            (
                names
                    .zip(binaries)
                    .map(|((name, kind), binary)| (name, kind, binary))
                    .collect(),
                project.target_dir.join("lambda"),
            )
        }
    };
    let out_dir = args.output_dir.clone().unwrap_or(default_dir);
    let mut written = Vec::new();
    for (name, kind, binary) in targets {
        let archive = zip::write(zip::entries_of(kind, &binary, &name, &args.includes)?)?;
        let dir = out_dir.join(&name);
        let path = dir.join(zip::file_name(kind));
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, &archive.bytes))
            .map_err(|error| CliError::Config {
                key: path.display().to_string(),
                problem: format!("cannot be written: {error}"),
            })?;
        if args.output == Output::Text {
            println!(
                "{name}: {} ({} bytes, {} unzipped, CodeSha256 {})",
                path.display(),
                archive.bytes.len(),
                archive.unzipped,
                archive.code_sha256()
            );
            if archive.bytes.len() as u64 > zip::MAX_DIRECT_UPLOAD_BYTES {
                println!(
                    "{name}: over {} bytes zipped: deploy uploads it through S3",
                    zip::MAX_DIRECT_UPLOAD_BYTES
                );
            }
        }
        written.push(json!({
            kind.as_str(): name,
            "kind": kind.as_str(),
            "zip": path,
            "size": archive.bytes.len(),
            "unzipped": archive.unzipped,
            "code_sha256": archive.code_sha256(),
        }));
    }
    if args.output == Output::Json {
        println!("{}", json!({ "zips": written }));
    }
    Ok(ExitCode::SUCCESS)
}
