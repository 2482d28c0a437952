//! `cargo lambdakit serve`: build the functions for this machine and run them on a local
//! Lambda, answering the Invoke API on 127.0.0.1 (no Docker).

use std::process::ExitCode;

use super::prelude::ServeArgs;
use crate::error::CliError;
use crate::serving::{self, Mode};

pub(crate) fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    serving::run(args.options()?, Mode::Serve)
}
