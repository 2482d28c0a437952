//! `cargo lambdakit serve`: build the functions for this machine and run them on a local
//! Lambda, answering the Invoke API on 127.0.0.1 (no Docker).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::cli::ProjectArgs;
use crate::emulator::Emulator;
use crate::error::CliError;
use crate::project::Project;

/// Variables of this shell that functions get too: credentials and endpoints for the AWS
/// SDK, and what a process needs to find its tools.
const PASSED_THROUGH: [&str; 10] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "HOME",
    "PATH",
    "RUST_BACKTRACE",
];

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which project and package.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Serve only this function (a binary target); default: all of them.
    #[arg(long = "bin", value_name = "NAME")]
    pub function: Option<String>,
    /// The port of the Invoke API (0 picks a free one).
    #[arg(long, default_value_t = 9000)]
    pub port: u16,
    /// The address to listen on; keep loopback unless other machines must reach it.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Print each invocation's estimated cost on Lambda after its REPORT line.
    #[arg(long)]
    pub cost: bool,
}

pub(crate) fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    let project = Project::load(&args.project)?;
    let functions = project.select(args.function.as_deref())?;
    let binaries = project.build_host(&functions, args.project.release)?;
    // Credentials, endpoints (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`) and tools.
    let passed: BTreeMap<String, String> = std::env::vars()
        .filter(|(name, _)| {
            PASSED_THROUGH.contains(&name.as_str()) || name.starts_with("AWS_ENDPOINT_URL_")
        })
        .collect();
    let region = passed_region();
    let functions = functions.into_iter().cloned().zip(binaries).collect();
    let emulator = Arc::new(Emulator::new(functions, &region, &passed, args.cost));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::Emulator {
            message: error.to_string(),
        })?;
    runtime.block_on(async {
        let address = format!("{}:{}", args.bind, args.port);
        let listener = tokio::net::TcpListener::bind((args.bind, args.port))
            .await
            .map_err(|error| CliError::Bind {
                address: address.clone(),
                message: error.to_string(),
            })?;
        let local = listener.local_addr().map_err(|error| CliError::Bind {
            address,
            message: error.to_string(),
        })?;
        let names: Vec<&str> = emulator.function_names().collect();
        println!("lambdakit: serving {} on http://{local}", names.join(", "));
        let endpoint = if args.port == 9000 {
            String::new()
        } else {
            format!(" --endpoint http://{local}")
        };
        println!(
            "lambdakit: try `cargo lambdakit invoke {}{endpoint} --data '{{}}'`",
            names.first().copied().unwrap_or_default()
        );
        let mut terminate = tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        )
        .map_err(|error| CliError::Emulator {
            message: error.to_string(),
        })?;
        tokio::select! {
            () = Arc::clone(&emulator).serve(listener) => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        emulator.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

fn passed_region() -> String {
    #[allow(clippy::disallowed_methods)] // The CLI reads its user's shell, not a Lambda's.
    let region = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION"));
    region.unwrap_or_else(|_| "us-east-1".to_owned())
}
