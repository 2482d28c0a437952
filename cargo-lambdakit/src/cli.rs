//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Cargo runs `cargo-lambdakit lambdakit ARGS`: the outer enum takes the `lambdakit` word.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo", version, styles = clap::builder::Styles::plain())]
pub enum Cargo {
    /// Build, run locally and deploy Rust Lambda functions.
    Lambdakit(Lambdakit),
}

/// `cargo lambdakit`.
#[derive(Debug, Args)]
#[command(version, about = "Build, run locally and deploy Rust Lambda functions")]
pub struct Lambdakit {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a function crate for an event kind (http, s3, sqs, schedule, json).
    New(crate::commands::NewArgs),
    /// Build functions for Lambda (x86_64 or arm64), checked against the runtime's glibc, with their zips.
    Build(crate::commands::BuildArgs),
    /// Run the project's functions on a local Lambda, without Docker.
    Serve(crate::commands::ServeArgs),
    /// `serve`, rebuilding and restarting the functions when their sources change.
    Watch(crate::commands::ServeArgs),
    /// Invoke a function on the local Lambda and print its answer.
    Invoke(crate::commands::InvokeArgs),
    /// Package functions as Lambda deployment zips (deterministic: same files, same bytes).
    Zip(crate::commands::ZipArgs),
    /// Build functions and create or update them on AWS, with their roles, URLs and triggers.
    Deploy(crate::commands::DeployArgs),
    /// Remove what `deploy` created for the project's functions, and nothing else.
    Destroy(crate::commands::DestroyArgs),
}

/// Which project, package and functions.
#[derive(Debug, Args, Clone, Default)]
pub struct ProjectArgs {
    /// The project's Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Only this package's functions.
    #[arg(short, long, value_name = "NAME")]
    pub package: Option<String>,
    /// Build in release mode.
    #[arg(long)]
    pub release: bool,
    /// Require Cargo.lock to be up to date (cargo's `--locked`).
    #[arg(long)]
    pub locked: bool,
}

/// Which functions `deploy` and `destroy` act on, and where: on AWS, or in a local `serve`.
#[derive(Debug, Args, Clone, Default)]
pub struct ScopeArgs {
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
    /// Act on the Lambda API of a `cargo lambdakit serve` at URL instead of AWS (default URL:
    /// http://127.0.0.1:9000), with no AWS credentials, and nothing of IAM, S3 or triggers.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = crate::aws::DEFAULT_LOCAL_URL, conflicts_with = "profile")]
    pub local: Option<String>,
}

impl ScopeArgs {
    /// The project to load (in release mode, which deploy builds in; destroy builds nothing).
    pub(crate) fn project(&self) -> ProjectArgs {
        ProjectArgs {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
            release: true,
            locked: self.locked,
        }
    }

    /// Where the AWS configuration comes from, beside the environment.
    pub(crate) fn source(&self) -> crate::aws::Source {
        crate::aws::Source {
            region: self.region.clone(),
            profile: self.profile.clone(),
        }
    }
}
