//! One module per subcommand, each thin: its flags and a `run` that calls the layers below
//! (`build/`, `package/`, `deploy/`, `logs/`, `serving`, `aws/`, `project`). Flags several
//! commands share live beside them in `prelude`; no command imports another. This module holds
//! the subcommand enum and the dispatch; `cli.rs` above it is only the top-level parser.

pub(crate) mod build;
pub(crate) mod deploy;
pub(crate) mod destroy;
pub(crate) mod invoke;
pub(crate) mod logs;
pub(crate) mod new;
pub(crate) mod prelude;
pub(crate) mod serve;
pub(crate) mod template;
pub(crate) mod traces;
pub(crate) mod watch;
pub(crate) mod zip;

use std::process::ExitCode;

use clap::Subcommand;

pub use build::BuildArgs;
pub use deploy::DeployArgs;
pub use destroy::DestroyArgs;
pub use invoke::InvokeArgs;
pub use logs::LogsArgs;
pub use new::NewArgs;
pub use prelude::{AwsArgs, Output, ProjectArgs, ScopeArgs, ServeArgs};
pub use template::TemplateArgs;
pub use traces::TracesArgs;
pub use zip::ZipArgs;

use crate::error::CliError;

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a function crate for an event kind (http, s3, sqs, schedule, json), or an
    /// extension with a function that runs with it (`--extension`).
    New(NewArgs),
    /// Build functions for Lambda (x86_64 or arm64), checked against the runtime's glibc, with their zips.
    Build(BuildArgs),
    /// Run the project's functions on a local Lambda, without Docker.
    Serve(ServeArgs),
    /// `serve`, rebuilding and restarting the functions when their sources change.
    Watch(ServeArgs),
    /// Invoke a function on the local Lambda and print its answer.
    Invoke(InvokeArgs),
    /// List the traces a running `serve` keeps (with `--remote`, the ones AWS X-Ray has), or
    /// print one as a waterfall.
    Traces(TracesArgs),
    /// Package functions as Lambda deployment zips (deterministic: same files, same bytes).
    Zip(ZipArgs),
    /// Build functions and create or update them on AWS, with their roles, URLs and triggers.
    Deploy(DeployArgs),
    /// Remove what `deploy` created for the project's functions, and nothing else.
    Destroy(DestroyArgs),
    /// Write what `deploy` would create as a CloudFormation or SAM template, the zips as
    /// parameters.
    Template(TemplateArgs),
    /// Read a deployed function's logs from CloudWatch Logs, its REPORT lines summarised.
    Logs(LogsArgs),
}

pub(crate) fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Build(args) => build::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Invoke(args) => invoke::run(args),
        Command::Traces(args) => traces::run(args),
        Command::New(args) => new::run(args),
        Command::Zip(args) => zip::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Destroy(args) => destroy::run(args),
        Command::Template(args) => template::run(args),
        Command::Logs(args) => logs::run(args),
    }
}
