//! `cargo lambdakit serve`: build the functions for this machine and run them on a local
//! Lambda, answering the Invoke API on 127.0.0.1 (no Docker).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::cli::ProjectArgs;
use crate::emulator::{Emulator, Served};
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
    /// Also serve an executable as the function NAME: a bootstrap of any runtime (a script
    /// starting a Python runtime client, say). With only these, no cargo project is needed.
    #[arg(long = "bootstrap", value_name = "NAME=PATH")]
    pub bootstraps: Vec<String>,
    /// The front of every function's HTTP requests, over `http_event` in the settings:
    /// `function-url`, `apigw-http` (HTTP API), `apigw-rest` (REST API) or `alb`.
    #[arg(long, value_name = "FRONT", value_parser = ["function-url", "apigw-http", "apigw-rest", "alb"])]
    pub http_event: Option<String>,
    /// Build the functions as `deploy` does (release, for Lambda's glibc, checked) for this
    /// Lambda architecture, and serve the very binaries Lambda would run: `arm64` runs under
    /// `qemu-aarch64` on an x86_64 machine (slower). Without it, a plain build for this machine.
    #[arg(long = "arch", value_name = "ARCH", value_parser = ["x86_64", "arm64"])]
    pub architecture: Option<String>,
    /// Memory in MB for every function, over the settings.
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u32).range(128..=10_240))]
    pub memory: Option<u32>,
    /// Timeout in seconds for every function, over the settings.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=900))]
    pub timeout: Option<u64>,
    /// Instances each function may run at once, over the settings.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub concurrency: Option<u64>,
    /// An environment variable for every function, over the settings (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = crate::commands::deploy::parse_variable)]
    pub environment: Vec<(String, String)>,
    /// Where functions created through the Lambda API (CreateFunction) are kept, their
    /// configuration and code, so that a serve started again on it serves them again; default:
    /// a scratch directory, removed when serve stops. An entry that cannot be read back is
    /// skipped with a warning and left as it is.
    #[arg(long = "state", value_name = "DIR")]
    pub state: Option<std::path::PathBuf>,
}

/// `serve`, and with `watch`, rebuild-and-restart when the sources change.
pub(crate) fn run(args: ServeArgs, watch: bool) -> Result<ExitCode, CliError> {
    let bootstraps = bootstraps(&args.bootstraps)?;
    let arch = args.architecture.as_deref().map(Arch::check).transpose()?;
    let only_bootstraps = !bootstraps.is_empty()
        && args.project.package.is_none()
        && args.project.manifest_path.is_none()
        && args.function.is_none();
    let (project, mut served) = if only_bootstraps {
        (None, Vec::new())
    } else {
        let project = Project::load(&args.project)?;
        let functions = project.select(args.function.as_deref())?;
        let binaries = build(&project, &functions, arch.as_ref(), args.project.release)?;
        let runner = arch.as_ref().map(Arch::runner).unwrap_or_default();
        let served: Vec<_> = functions
            .into_iter()
            .cloned()
            .zip(binaries)
            .map(|(function, binary)| Served {
                function,
                binary,
                runner: runner.clone(),
            })
            .collect();
        (Some(project), served)
    };
    let names: Vec<String> = served
        .iter()
        .map(|served| served.function.name.clone())
        .collect();
    served.extend(bootstraps);
    for Served { function, .. } in &mut served {
        if let Some(front) = &args.http_event {
            function.http_event.clone_from(front);
        }
        if let Some(memory) = args.memory {
            function.memory_mb = memory;
        }
        if let Some(timeout) = args.timeout {
            function.timeout = std::time::Duration::from_secs(timeout);
        }
        if let Some(concurrency) = args.concurrency {
            function.concurrency = concurrency as usize;
        }
        function
            .environment
            .extend(args.environment.iter().cloned());
    }
    // Credentials, endpoints (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`) and tools.
    let passed: BTreeMap<String, String> = std::env::vars()
        .filter(|(name, _)| {
            PASSED_THROUGH.contains(&name.as_str()) || name.starts_with("AWS_ENDPOINT_URL_")
        })
        .collect();
    let region = passed_region();
    let state = State::open(args.state.clone())?;
    let emulator = Arc::new(Emulator::new(
        served,
        &region,
        &passed,
        args.cost,
        state.dir.clone(),
    ));
    // A restart on the same `--state` serves what the last one created.
    for warning in emulator.load_state() {
        eprintln!("{warning}");
    }

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
        let served = emulator.function_names();
        println!("lambdakit: serving {} on http://{local}", served.join(", "));
        let endpoint = if args.port == 9000 {
            String::new()
        } else {
            format!(" --endpoint http://{local}")
        };
        println!(
            "lambdakit: try `cargo lambdakit invoke {}{endpoint} --data '{{}}'`",
            served.first().map(String::as_str).unwrap_or_default()
        );
        let mut terminate = tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        )
        .map_err(|error| CliError::Emulator {
            message: error.to_string(),
        })?;
        let rebuilds = async {
            match project.filter(|_| watch) {
                Some(project) => {
                    rebuild_on_change(
                        Arc::clone(&emulator),
                        project,
                        names,
                        (arch, args.project.release),
                    )
                    .await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = Arc::clone(&emulator).serve(listener) => {}
            () = rebuilds => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        emulator.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// The directory created functions' code goes in: the user's (`--state`), kept, or a scratch
/// one, removed when serve stops.
#[derive(Debug)]
struct State {
    dir: std::path::PathBuf,
    scratch: bool,
}

impl State {
    fn open(dir: Option<std::path::PathBuf>) -> Result<Self, CliError> {
        let Some(dir) = dir else {
            // Made by the first CreateFunction, if any comes.
            return Ok(Self {
                dir: std::env::temp_dir().join(format!("lambdakit-serve-{}", std::process::id())),
                scratch: true,
            });
        };
        std::fs::create_dir_all(&dir).map_err(|error| CliError::Config {
            key: "--state".into(),
            problem: format!(
                "names `{}`, which cannot be created: {error}",
                dir.display()
            ),
        })?;
        Ok(Self {
            dir,
            scratch: false,
        })
    }
}

impl Drop for State {
    fn drop(&mut self) {
        if self.scratch {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A Lambda architecture, built for as `deploy` builds, and run under qemu when it is not this
/// machine's.
#[derive(Debug, Clone)]
struct Arch {
    target: crate::build::Target,
}

/// Where Debian's `libc6-arm64-cross` puts the arm64 sysroot, qemu's `-L` prefix.
pub(crate) const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";

impl Arch {
    /// The architecture named `name`, checked for its tools.
    fn check(name: &str) -> Result<Self, CliError> {
        let options = crate::build::lambda::Options::default();
        let target = options.target(name)?;
        options.check_tools(&target)?;
        if target.is_host() {
            return Ok(Self { target });
        }
        let qemu = std::process::Command::new("qemu-aarch64")
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        if !qemu || !std::path::Path::new(ARM64_SYSROOT).is_dir() {
            return Err(CliError::Missing {
                what: format!("qemu-aarch64 with the arm64 sysroot in `{ARM64_SYSROOT}`"),
                install: "apt-get install qemu-user libc6-arm64-cross".into(),
            });
        }
        Ok(Self { target })
    }

    /// What runs the binaries: nothing in between on this machine's architecture, qemu on
    /// another.
    fn runner(&self) -> Vec<String> {
        if self.target.is_host() {
            return Vec::new();
        }
        vec!["qemu-aarch64".into(), "-L".into(), ARM64_SYSROOT.into()]
    }
}

/// Builds `functions` for this machine, or (release, checked) for `arch`.
fn build(
    project: &Project,
    functions: &[&crate::project::Function],
    arch: Option<&Arch>,
    release: bool,
) -> Result<Vec<std::path::PathBuf>, CliError> {
    match arch {
        None => project.build_host(functions, release),
        Some(arch) => {
            let options = crate::build::lambda::Options::default();
            let built = crate::build::lambda::build(project, functions, &arch.target, &options)?;
            Ok(built.into_iter().map(|built| built.bootstrap).collect())
        }
    }
}

/// `NAME=PATH` pairs into functions with Lambda's default settings.
fn bootstraps(pairs: &[String]) -> Result<Vec<Served>, CliError> {
    pairs
        .iter()
        .map(|pair| {
            let (name, path) = pair
                .split_once('=')
                .filter(|(name, path)| !name.is_empty() && !path.is_empty())
                .ok_or_else(|| CliError::Config {
                    key: "--bootstrap".into(),
                    problem: format!("is `{pair}`; write it `NAME=PATH`"),
                })?;
            let path = std::path::PathBuf::from(path);
            if !path.is_file() {
                return Err(CliError::Config {
                    key: "--bootstrap".into(),
                    problem: format!("names `{}`, which is not a file", path.display()),
                });
            }
            Ok(Served {
                function: crate::project::Function::standalone(name),
                binary: path,
                runner: Vec::new(),
            })
        })
        .collect()
}

/// The region serve's ARNs name: the shell's `AWS_REGION` (or `AWS_DEFAULT_REGION`), else
/// `us-east-1`.
pub(crate) fn passed_region() -> String {
    #[allow(clippy::disallowed_methods)] // The CLI reads its user's shell, not a Lambda's.
    let region = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION"));
    region.unwrap_or_else(|_| "us-east-1".to_owned())
}

/// How often `watch` looks at the sources.
const WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(300);

/// Rebuilds when a source file of the functions' packages changes, holding invocations while
/// cargo runs; after a good build, every function starts afresh; after a failed one, the last
/// build keeps serving.
async fn rebuild_on_change(
    emulator: Arc<Emulator>,
    project: Project,
    names: Vec<String>,
    (arch, release): (Option<Arch>, bool),
) {
    let project = Arc::new(project);
    let dirs = project.package_dirs.clone();
    let mut seen = fingerprint(dirs.clone()).await;
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        let now = fingerprint(dirs.clone()).await;
        if now == seen {
            continue;
        }
        seen = now;
        println!("lambdakit: sources changed, rebuilding (invocations wait)");
        let _held = emulator.hold_invocations().await;
        let building = Arc::clone(&project);
        let names = names.clone();
        let arch = arch.clone();
        let built = tokio::task::spawn_blocking(move || {
            let functions: Vec<_> = building
                .functions
                .iter()
                .filter(|function| names.contains(&function.name))
                .collect();
            build(&building, &functions, arch.as_ref(), release)
        })
        .await;
        match built {
            Ok(Ok(_)) => {
                emulator.restart().await;
                println!("lambdakit: rebuilt; the next invocations start the new build");
            }
            Ok(Err(error)) => println!("lambdakit: {error}; still serving the last build"),
            Err(error) => {
                println!("lambdakit: the rebuild stopped ({error}); still serving the last build")
            }
        }
    }
}

/// A digest of every file's path, size and modification time under `dirs` (`target` and
/// hidden directories aside).
async fn fingerprint(dirs: Vec<std::path::PathBuf>) -> u64 {
    tokio::task::spawn_blocking(move || {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut pending = dirs;
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
            entries.sort_by_key(std::fs::DirEntry::file_name);
            for entry in entries {
                let name = entry.file_name();
                let Ok(metadata) = entry.metadata() else {
                    continue;
                };
                if metadata.is_dir() {
                    if name != "target" && !name.to_string_lossy().starts_with('.') {
                        pending.push(entry.path());
                    }
                    continue;
                }
                entry.path().hash(&mut hasher);
                metadata.len().hash(&mut hasher);
                metadata.modified().ok().hash(&mut hasher);
            }
        }
        hasher.finish()
    })
    .await
    .unwrap_or_default()
}
