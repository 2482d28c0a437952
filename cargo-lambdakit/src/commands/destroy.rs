//! `cargo lambdakit destroy`: remove what deploy created for the project's functions (found by
//! their `lambdakit:` tags), the layer versions it published for their extensions, and (for
//! whole packages) their HTTP APIs, their state machines and those machines' roles, and
//! nothing else. With
//! `--stage`, only what was deployed as that stage, and no layers (every stage's functions
//! use their versions); without it, only what was deployed without a stage.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::prelude::{Output, ScopeArgs};
use crate::aws::Aws;
use crate::deploy::{self, Options, destroy};
use crate::error::CliError;
use crate::island::{self, Threads};
use crate::project::Project;

/// Options of `destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Which functions, and where.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Print what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// `text` (default) or `json`.
    #[arg(long = "output", value_name = "FORMAT", default_value = "text")]
    pub output: Output,
}

pub(crate) fn run(args: DestroyArgs) -> Result<ExitCode, CliError> {
    let project = Project::load(&args.scope.load_options())?;
    let selected = project.select_bins(args.scope.function.as_deref())?;
    let mut packages: Vec<String> = selected
        .bins()
        .iter()
        .map(|bin| bin.package.to_owned())
        .collect();
    packages.sort();
    packages.dedup();
    let only: Option<Vec<String>> = args.scope.function.clone().map(|function| vec![function]);
    let options = Options {
        dry_run: args.dry_run,
        ..Options::default()
    };
    let stage = args.scope.stage.as_deref();
    if let (Some(stage), Output::Text) = (stage, args.output) {
        println!("stage `{stage}`");
    }
    // The AWS names of each package's functions, whose API permissions go with the API.
    let package_functions: Vec<(String, String)> = project
        .functions
        .iter()
        .map(|function| (function.package.clone(), function.aws_name().to_owned()))
        .collect();
    let (apis, machines, outcomes, layers, capacity) =
        island::runtime(Threads::One)?.block_on(async {
            let aws = Aws::connect_or_local(
                &args.scope.source(),
                args.scope.local.as_deref(),
                args.scope.token.as_deref(),
            )
            .await?;
            // The APIs and state machines first, as they call the functions; they go only with
            // the whole package.
            let apis = match only.as_deref() {
                None => destroy::apis(&aws, &packages, &package_functions, stage, options).await?,
                Some(_) => Vec::new(),
            };
            if args.output == Output::Text {
                for outcome in &apis {
                    print!("{}", deploy::render(outcome));
                }
            }
            let machines = match only.as_deref() {
                None => destroy::state_machines(&aws, &packages, stage, options).await?,
                Some(_) => Vec::new(),
            };
            if args.output == Output::Text {
                for outcome in &machines {
                    print!("{}", deploy::render(outcome));
                }
            }
            let mut outcomes = Vec::new();
            for function in destroy::deployed(&aws, &packages, only.as_deref(), stage).await? {
                let outcome = destroy::destroy(&aws, &function, stage, options).await?;
                if args.output == Output::Text {
                    print!("{}", deploy::render(&outcome));
                }
                outcomes.push(outcome);
            }
            // Other functions may still use the layers: they go only with the whole package,
            // and not with one stage, as every stage's functions use them.
            let layers = match (only.as_deref(), stage) {
                (None, None) => destroy::layers(&aws, &packages, options).await?,
                _ => Vec::new(),
            };
            // Capacity providers the same way, after the functions that ran on them.
            let capacity = match (only.as_deref(), stage) {
                (None, None) => {
                    let functions: Vec<_> = project
                        .functions
                        .iter()
                        .filter(|function| packages.contains(&function.package))
                        .collect();
                    destroy::capacity_providers(&aws, &functions, options).await?
                }
                _ => Vec::new(),
            };
            if args.output == Output::Text {
                for outcome in layers.iter().chain(&capacity) {
                    print!("{}", deploy::render(outcome));
                }
            }
            Ok::<_, CliError>((apis, machines, outcomes, layers, capacity))
        })?;
    if args.output == Output::Json {
        let functions: Vec<_> = outcomes.iter().map(deploy::to_json).collect();
        let layers: Vec<_> = layers.iter().map(deploy::to_json).collect();
        let capacity: Vec<_> = capacity.iter().map(deploy::to_json).collect();
        let machines: Vec<_> = machines.iter().map(deploy::to_json).collect();
        let apis: Vec<_> = apis.iter().map(deploy::to_json).collect();
        let mut document = json!({"dry_run": args.dry_run, "functions": functions, "layers": layers, "state_machines": machines, "apis": apis, "capacity_providers": capacity});
        if let Some(stage) = stage {
            document["stage"] = json!(stage);
        }
        println!("{document}");
    } else if outcomes.is_empty()
        && layers.is_empty()
        && machines.is_empty()
        && apis.is_empty()
        && capacity.is_empty()
    {
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
