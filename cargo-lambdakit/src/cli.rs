//! The top-level parser: `cargo` runs `cargo-lambdakit lambdakit ARGS`, and this takes the
//! `lambdakit` word and hands the subcommand to `commands`.
//!
//! It sits above `commands/` and imports it, never the other way: the subcommand enum lives in
//! `commands/mod.rs` beside the dispatch `match` it feeds, and the flags commands share in
//! `commands/prelude.rs`, so that a command needs nothing from here. (Folding this into
//! `commands` would work too; kept apart, `main.rs` and the library's `run` name only this
//! outer shape, as nextest's `dispatch/app.rs` does.)

use clap::{Args, Parser};

use crate::commands::Command;

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

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// clap's own checks of every subcommand (names that `conflicts_with` and `requires` refer
    /// to exist, no two flags share a name), which it otherwise makes only when a subcommand
    /// is parsed in a debug build.
    #[test]
    fn every_subcommand_is_well_formed() {
        super::Cargo::command().debug_assert();
    }
}
