//! `cargo lambdakit` as its users run it: the built binary, against real function binaries.

// Helpers outside `#[test]` fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod api;
mod asynchronous;
mod build;
mod conformance;
mod console;
mod control;
mod deploy;
mod deploy_api;
mod deploy_operation;
mod deploy_states;
mod deploy_triggers;
mod events;
mod examples;
mod exposure;
mod extensions;
mod fronts;
mod help;
mod invoke;
mod layers;
mod local;
mod local_extensions;
mod local_states;
mod logs;
mod managed;
mod moto;
mod new;
mod sdk;
mod serve;
mod soak;
mod sources;
mod stages;
mod states;
mod streaming;
mod support;
mod template;
mod tenancy;
mod traces;
mod watch;
mod zip;
