//! `cargo lambdakit`: build, run locally and deploy Rust Lambda functions.
//!
//! The binary is a thin `main`; everything it does is here, so tests can drive it too.

// A command-line tool: what it prints on stdout is its output (the functions' logs included).
#![allow(clippy::print_stdout)]

pub mod aws;
pub mod build;
pub mod cli;
pub mod commands;
pub mod deploy;
pub mod emulator;
pub mod error;
pub mod events;
pub mod package;
pub mod project;

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
