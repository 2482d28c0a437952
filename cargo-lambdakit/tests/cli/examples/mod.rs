//! The example pipelines of `examples/`, end to end: each is deployed with `cargo lambdakit
//! deploy` to moto, its triggers read back, and then run in `cargo lambdakit serve` with its
//! AWS calls going to the same moto, driven by the events its triggers would send.

mod hello_http;

use std::process::Output;

use crate::moto::Moto;
use crate::support::Serve;

/// Release settings that build the examples as quickly as a debug build. These tests check
/// what deploy and serve do with the binaries, not how fast the binaries run, and the AWS SDK
/// takes many minutes to build with the Lambda profile (fat LTO, one codegen unit).
const QUICK_RELEASE: [(&str, &str); 3] = [
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0"),
    ("CARGO_PROFILE_RELEASE_LTO", "false"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256"),
];

/// This machine's architecture, as Lambda names it.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}

/// `cargo lambdakit deploy` of the example `package` to `moto`; panics when it fails.
pub(crate) fn deploy(moto: &Moto, package: &str) -> Output {
    let output = moto
        .command(package, &["deploy", "--arch", host_arch()])
        .envs(QUICK_RELEASE)
        .output()
        .unwrap();
    assert!(output.status.success(), "deploy {package}: {output:?}");
    output
}

/// `cargo lambdakit serve` of the example `package`: the binaries `deploy` built, their AWS
/// calls going to `moto`.
pub(crate) fn serve(moto: &Moto, package: &str, options: &[&str]) -> Serve {
    let mut command = moto.command(package, &["serve", "--port", "0", "--arch", host_arch()]);
    command.args(options).envs(QUICK_RELEASE);
    Serve::spawn(command)
}
