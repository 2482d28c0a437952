//! `cargo lambdakit watch`: `serve`, rebuilding the functions and restarting them when their
//! packages' sources change (invocations wait while cargo runs; a failed build keeps the last
//! one serving).

use std::process::ExitCode;

use super::prelude::ServeArgs;
use crate::error::CliError;
use crate::serving::{self, Mode};

pub(crate) fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    serving::run(args.options()?, Mode::Watch)
}
