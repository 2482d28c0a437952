//! `cargo lambdakit`: parse the arguments, run, and turn the outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cargo_lambdakit::cli::Cargo::Lambdakit(args) = cargo_lambdakit::cli::Cargo::parse();
    match cargo_lambdakit::run(args) {
        Ok(code) => code,
        Err(error) => error.report(),
    }
}
