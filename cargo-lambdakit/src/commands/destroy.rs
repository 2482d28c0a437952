//! `cargo lambdakit destroy`: remove what deploy created for the project's functions (found by
//! their `lambdakit:` tags), and nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::aws::{DEFAULT_LOCAL_URL, Source};
use crate::cli::ProjectArgs;
use crate::deploy::{self, Options, destroy};
use crate::error::CliError;
use crate::project::Project;

/// Options of `destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The project's Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Only this package's functions.
    #[arg(short, long, value_name = "NAME")]
    pub package: Option<String>,
    /// Require Cargo.lock to be up to date (cargo's `--locked`).
    #[arg(long)]
    pub locked: bool,
    /// Only this function (a binary target); default: all of them.
    #[arg(long = "bin", value_name = "NAME")]
    pub function: Option<String>,
    /// The AWS region (default: the environment's or profile's).
    #[arg(long)]
    pub region: Option<String>,
    /// The AWS profile (default: `AWS_PROFILE`, else `default`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Remove from the Lambda API of a `cargo lambdakit serve` at URL instead of AWS (default
    /// URL: http://127.0.0.1:9000).
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = DEFAULT_LOCAL_URL, conflicts_with = "profile")]
    pub local: Option<String>,
    /// Print what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `text` (default) or `json`.
    #[arg(long = "output", value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}

pub(crate) fn run(args: DestroyArgs) -> Result<ExitCode, CliError> {
    let project = Project::load(&ProjectArgs {
        manifest_path: args.manifest_path.clone(),
        package: args.package.clone(),
        release: false,
        locked: args.locked,
    })?;
    let selected = project.select(args.function.as_deref())?;
    let mut packages: Vec<String> = selected
        .iter()
        .map(|function| function.package.clone())
        .collect();
    packages.sort();
    packages.dedup();
    let only: Option<Vec<String>> = args.function.clone().map(|function| vec![function]);
    let options = Options {
        dry_run: args.dry_run,
        ..Options::default()
    };
    let source = Source {
        region: args.region.clone(),
        profile: args.profile.clone(),
    };
    let outcomes = super::deploy::runtime()?.block_on(async {
        let aws = super::deploy::connect(&source, args.local.as_deref()).await?;
        let mut outcomes = Vec::new();
        for function in destroy::deployed(&aws, &packages, only.as_deref()).await? {
            let outcome = destroy::destroy(&aws, &function, options).await?;
            if args.output == "text" {
                print!("{}", deploy::render(&outcome));
            }
            outcomes.push(outcome);
        }
        Ok::<_, CliError>(outcomes)
    })?;
    if args.output == "json" {
        let functions: Vec<_> = outcomes.iter().map(deploy::to_json).collect();
        println!(
            "{}",
            json!({"dry_run": args.dry_run, "functions": functions})
        );
    } else if outcomes.is_empty() {
        println!(
            "nothing is deployed from {}",
            packages
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    } else if args.dry_run {
        println!("dry run: nothing was removed");
    }
    Ok(ExitCode::SUCCESS)
}
