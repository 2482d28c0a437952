//! One module per subcommand; this one only dispatches.

pub(crate) mod build;
pub(crate) mod deploy;
pub(crate) mod destroy;
pub(crate) mod invoke;
pub(crate) mod new;
pub(crate) mod serve;
pub(crate) mod zip;

use std::process::ExitCode;

pub use build::BuildArgs;
pub use deploy::DeployArgs;
pub use destroy::DestroyArgs;
pub use invoke::InvokeArgs;
pub use new::NewArgs;
pub use serve::ServeArgs;
pub use zip::ZipArgs;

use crate::cli::Command;
use crate::error::CliError;

pub(crate) fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Build(args) => build::run(args),
        Command::Serve(args) => serve::run(args, false),
        Command::Watch(args) => serve::run(args, true),
        Command::Invoke(args) => invoke::run(args),
        Command::New(args) => new::run(args),
        Command::Zip(args) => zip::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Destroy(args) => destroy::run(args),
    }
}
