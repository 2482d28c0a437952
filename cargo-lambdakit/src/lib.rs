//! `cargo lambdakit`: build, run locally and deploy Rust Lambda functions.
//!
//! The binary is a thin `main`; everything it does is here, so tests can drive it too.

// A command-line tool: what it prints on stdout is its output (the functions' logs included).
#![allow(clippy::print_stdout)]

// The layers, top down: `cli` (the top-level parser) and `commands` (one thin module per
// subcommand, with the flags they share in `commands::prelude`); then what they call:
// `serving`, `deploy`, `logs`, `build`, `package`, `emulator`, `aws`, `project`, `events`;
// and at the bottom, small shared pieces: `platform`, `local`, `island`, `time`, `percent`,
// `suggest`, `error`.
// Nothing below `commands` imports `commands` or `cli` (`tests/cli/layers.rs` checks).
pub mod aws;
pub mod build;
pub mod cli;
pub mod commands;
pub mod deploy;
pub mod dotenv;
pub mod emulator;
pub mod error;
pub mod events;
pub mod executions;
pub mod island;
pub mod local;
pub mod logs;
pub mod package;
pub mod percent;
pub mod platform;
pub mod project;
pub mod serving;
pub mod spans;
pub mod stamp;
pub mod states;
pub mod status;
pub mod suggest;
pub mod time;

use std::process::ExitCode;

pub use error::CliError;

/// Runs `cargo lambdakit` with parsed arguments.
///
/// # Errors
///
/// A [`CliError`] the user can act on; `main` prints it with its hint.
pub fn run(args: cli::Lambdakit) -> Result<ExitCode, CliError> {
    commands::run(args.command)
}
