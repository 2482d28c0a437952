//! One module per subcommand; this one only dispatches.

pub(crate) mod invoke;
pub(crate) mod serve;

use std::process::ExitCode;

pub use invoke::InvokeArgs;
pub use serve::ServeArgs;

use crate::cli::Command;
use crate::error::CliError;

pub(crate) fn run(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Serve(args) => serve::run(args, false),
        Command::Watch(args) => serve::run(args, true),
        Command::Invoke(args) => invoke::run(args),
    }
}
