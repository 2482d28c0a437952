//! `cargo lambdakit template`: write what `deploy` would create for the package as a
//! CloudFormation or SAM template (the functions, their roles, URLs and triggers, the layers
//! of their extensions and the package's state machines), for the teams whose changes to AWS
//! go through CloudFormation. The zips are parameters: `build` or `zip` makes them, and they
//! are uploaded to S3 before the stack is created.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::prelude::parse_stage;
use crate::deploy::template::{self, Format, Syntax};
use crate::error::CliError;
use crate::project::{Function, LoadOptions, Project};

/// Options of `template`.
#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// The project's Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Only this package's functions (repeatable: `-p orders -p billing`).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub packages: Vec<String>,
    /// Require Cargo.lock to be up to date (cargo's `--locked`).
    #[arg(long)]
    pub locked: bool,
    /// The stage, as `deploy --stage`: `[package.metadata.lambdakit.stages.NAME]` over the
    /// settings, and the names and tags of that stage.
    #[arg(long, value_name = "NAME", value_parser = parse_stage)]
    pub stage: Option<String>,
    /// Only this function (a binary target), without the state machines; default: all.
    #[arg(long = "bin", value_name = "NAME")]
    pub function: Option<String>,
    /// `cloudformation` (plain resources) or `sam` (the SAM transform, whose
    /// `AutoPublishAlias` publishes a version on each change, as deploy does).
    #[arg(long, value_name = "FORMAT", default_value = "cloudformation")]
    pub format: Format,
    /// `json` or `yaml` (default: `yaml` for an `--output` ending in `.yaml` or `.yml`, else
    /// `json`).
    #[arg(long, value_name = "SYNTAX")]
    pub syntax: Option<Syntax>,
    /// Write the template to FILE instead of stdout.
    #[arg(short, long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub(crate) fn run(args: TemplateArgs) -> Result<ExitCode, CliError> {
    let project = Project::load(&LoadOptions {
        manifest_path: args.manifest_path.clone(),
        packages: args.packages.clone(),
        locked: args.locked,
        stage: args.stage.clone(),
    })?;
    let functions: Vec<Function> = project
        .select(args.function.as_deref())?
        .into_iter()
        .cloned()
        .collect();
    // As deploy: the state machines go with the whole package.
    let machines: Vec<_> = match &args.function {
        Some(_) => Vec::new(),
        None => project.state_machines.iter().collect(),
    };
    // The APIs too.
    let apis: Vec<_> = match &args.function {
        Some(_) => Vec::new(),
        None => project.apis.iter().collect(),
    };
    let template = template::template(&project, &functions, &machines, &apis, args.format)?;
    for note in &template.notes {
        eprintln!("note: not in the template: {note}");
    }
    let yaml_file = args.output.as_ref().is_some_and(|file| {
        file.extension()
            .is_some_and(|extension| extension == "yaml" || extension == "yml")
    });
    let syntax = args.syntax.unwrap_or(if yaml_file {
        Syntax::Yaml
    } else {
        Syntax::Json
    });
    let text = template::render(&template.document, syntax);
    match &args.output {
        Some(file) => std::fs::write(file, text).map_err(|error| CliError::Io {
            what: format!("write `{}`", file.display()),
            message: error.to_string(),
        })?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
