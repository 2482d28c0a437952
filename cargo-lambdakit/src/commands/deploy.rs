//! `cargo lambdakit deploy`: build the functions for Lambda and create or update them on AWS,
//! with their roles, URLs and triggers and the layers of the extensions they use, as
//! `[package.metadata.lambdakit]` describes them, then the package's state machines (unless
//! `--bin` picks functions) and its HTTP API; with `--local`, in the Lambda API of a `cargo lambdakit serve`
//! instead, which runs no state machines yet.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::prelude::{LibcArgs, Output, ScopeArgs, parse_variable};
use crate::aws::Aws;
use crate::build::{LinkerChoice, lambda};
use crate::deploy::{self, Options, Unit, extension, state_machine};
use crate::error::CliError;
use crate::island::{self, Threads};
use crate::platform::{Architecture, Runtime};
use crate::project::{Function, Project};

/// Options of `deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Which functions, and where.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// The function's name on AWS (one function only; default: `name`, else the binary's).
    #[arg(long, value_name = "NAME", requires = "function")]
    pub name: Option<String>,
    /// Lambda's architecture, over the settings: `x86_64` or `arm64`.
    #[arg(long = "arch", value_name = "ARCH")]
    pub architecture: Option<Architecture>,
    /// Memory in MB, over the settings.
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u32).range(128..=10_240))]
    pub memory: Option<u32>,
    /// Timeout in seconds, over the settings.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=900))]
    pub timeout: Option<u64>,
    /// An environment variable, over the settings (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_variable)]
    pub environment: Vec<(String, String)>,
    /// The execution role's name or ARN (default: one deploy creates per function).
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// The runtime whose glibc the binaries must run on, over the settings.
    #[arg(long)]
    pub runtime: Option<Runtime>,
    /// The C library: `musl` (static) or `glibc`.
    #[command(flatten)]
    pub libc: LibcArgs,
    /// What links: `auto`, `gcc` or `zig` (see `cargo lambdakit build --help`).
    #[arg(long, default_value = "auto")]
    pub linker: LinkerChoice,
    /// Upload code through this S3 bucket instead of inline, over the settings.
    #[arg(long, value_name = "BUCKET")]
    pub upload_bucket: Option<String>,
    /// Print what would be created, updated or left, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take over functions of the same name that lambdakit did not create.
    #[arg(long)]
    pub adopt: bool,
    /// Move functions deployed on another architecture to this one.
    #[arg(long)]
    pub change_architecture: bool,
    /// `text` (default) or `json`: one JSON document with each function's changes.
    #[arg(long = "output", value_name = "FORMAT", default_value = "text")]
    pub output: Output,
    /// No progress lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

pub(crate) fn run(args: DeployArgs) -> Result<ExitCode, CliError> {
    let project = Project::load(&args.scope.load_options())?;
    let functions: Vec<Function> = project
        .select(args.scope.function.as_deref())?
        .into_iter()
        .map(|function| overridden(function.clone(), &args))
        .collect();
    deploy::check(&functions)?;
    // The APIs go with the whole package, as the state machines do; checked before any build.
    let apis: Vec<_> = match &args.scope.function {
        Some(_) => Vec::new(),
        None => project.apis.iter().collect(),
    };
    for api in &apis {
        api.check()?;
    }

    // On serve (`--local`) as on AWS: serve's Lambda API publishes layer versions and runs
    // their extensions.
    let layers = extension::needed(&project, &functions)?;

    // Build everything first: nothing reaches AWS unless every function and extension built
    // and checked.
    let mut bins: Vec<_> = functions
        .iter()
        .map(|function| {
            let runtime = function.deploy.runtime.unwrap_or_default();
            (function.bin(), function.architecture, runtime)
        })
        .collect();
    bins.extend(
        layers
            .iter()
            .map(|layer| (layer.extension.bin(), layer.architecture, layer.runtime)),
    );
    let mut built = lambda::build_each(
        &project,
        &bins,
        args.libc.libc(),
        args.linker,
        args.libc.allocator,
        crate::status::Style::for_stderr(args.quiet || args.output == Output::Json),
    )?;
    let extension_builds = built.split_off(functions.len());

    let options = Options {
        dry_run: args.dry_run,
        adopt: args.adopt,
        change_architecture: args.change_architecture,
        quiet: args.quiet || args.output == Output::Json,
    };
    let started = std::time::Instant::now();
    let stage = args.scope.stage.as_deref();
    if let (Some(stage), Output::Text) = (stage, args.output) {
        println!("stage `{stage}`");
    }
    // The state machines go with the whole package, after its functions.
    let machines: Vec<_> = match &args.scope.function {
        Some(_) => Vec::new(),
        None => project.state_machines.iter().collect(),
    };
    let (layer_outcomes, outcomes, machine_outcomes, api_outcomes) = island::runtime(Threads::One)?
        .block_on(async {
            let aws = Aws::connect_or_local(
                &args.scope.source(),
                args.scope.local.as_deref(),
                args.scope.token.as_deref(),
            )
            .await?;
            // The extensions' layers first: the functions attach their versions.
            let mut published = extension::Published::new();
            let mut layer_outcomes = Vec::new();
            for (needed, output) in layers.iter().zip(&extension_builds) {
                let layer = extension::Layer {
                    needed: *needed,
                    archive: &output.archive,
                    runtimes: extension::runtimes(output.max_glibc),
                };
                let (outcome, arn) = extension::ensure(&aws, &layer, options).await?;
                if args.output == Output::Text {
                    print!("{}", deploy::render(&outcome));
                }
                published.insert((needed.extension.name.clone(), needed.architecture), arn);
                layer_outcomes.push(outcome);
            }
            let mut outcomes = Vec::new();
            for (function, output) in functions.iter().zip(&built) {
                let function = extension::attached(function, &published);
                let unit = Unit {
                    function: &function,
                    code: &output.archive,
                };
                let outcome = deploy::deploy(&aws, &unit, options).await?;
                if args.output == Output::Text {
                    if !args.quiet {
                        for note in &outcome.notes {
                            eprintln!("{note}");
                        }
                    }
                    print!("{}", deploy::render(&outcome));
                }
                outcomes.push(outcome);
            }
            let mut machine_outcomes = Vec::new();
            for machine in &machines {
                let functions: Vec<&Function> = project
                    .functions
                    .iter()
                    .filter(|function| function.package == machine.package)
                    .collect();
                let outcome = state_machine::deploy(&aws, machine, &functions, options).await?;
                if args.output == Output::Text {
                    print!("{}", deploy::render(&outcome));
                }
                machine_outcomes.push(outcome);
            }
            // The APIs last: they invoke the functions, which are deployed by now.
            let mut api_outcomes = Vec::new();
            for api in &apis {
                let own: Vec<&Function> = functions
                    .iter()
                    .filter(|function| function.package == api.package)
                    .collect();
                let outcome = deploy::api::deploy(&aws, api, &own, options).await?;
                if args.output == Output::Text {
                    if !args.quiet {
                        for note in &outcome.notes {
                            eprintln!("{note}");
                        }
                    }
                    if !outcome.changes.is_empty() {
                        print!("{}", deploy::render(&outcome));
                    }
                }
                api_outcomes.push(outcome);
            }
            Ok::<_, CliError>((layer_outcomes, outcomes, machine_outcomes, api_outcomes))
        })?;
    if args.output == Output::Json {
        let functions: Vec<_> = outcomes.iter().map(deploy::to_json).collect();
        let layers: Vec<_> = layer_outcomes.iter().map(deploy::to_json).collect();
        let machines: Vec<_> = machine_outcomes.iter().map(deploy::to_json).collect();
        let apis: Vec<_> = api_outcomes.iter().map(deploy::to_json).collect();
        let mut document = json!({"dry_run": args.dry_run, "layers": layers, "functions": functions, "state_machines": machines, "apis": apis});
        if let Some(stage) = stage {
            document["stage"] = json!(stage);
        }
        println!("{document}");
    } else if args.dry_run {
        println!("dry run: nothing was changed");
    } else if !args.quiet {
        eprintln!("deployed in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(ExitCode::SUCCESS)
}

/// The function with the command line's settings over its metadata.
fn overridden(mut function: Function, args: &DeployArgs) -> Function {
    if let Some(architecture) = args.architecture {
        function.architecture = architecture;
    }
    if let Some(memory) = args.memory {
        function.memory_mb = memory;
    }
    if let Some(timeout) = args.timeout {
        function.timeout = Duration::from_secs(timeout);
    }
    function
        .environment
        .extend(args.environment.iter().cloned());
    if args.role.is_some() {
        function.deploy.role.clone_from(&args.role);
    }
    if args.runtime.is_some() {
        function.deploy.runtime = args.runtime;
    }
    if args.upload_bucket.is_some() {
        function
            .deploy
            .upload_bucket
            .clone_from(&args.upload_bucket);
    }
    if args.name.is_some() {
        function.deploy.name.clone_from(&args.name);
    }
    function
}
