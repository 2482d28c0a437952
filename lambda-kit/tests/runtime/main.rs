//! The runtime end to end: real poll loops against the fake Runtime API of `lambda_kit::testing`,
//! scripted raw servers for malformed answers, and child processes for what touches the process
//! (environment, stdout, exit codes, signals).

// Helpers outside `#[test]` fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod api;
mod aws;
mod aws_config;
mod batch;
mod concurrency;
mod errors;
mod events;
mod extension;
mod extensions;
mod http;
mod idempotency;
mod invocations;
mod logs;
mod malformed;
mod process;
mod streaming;
mod support;
mod trace;
mod triggers;
