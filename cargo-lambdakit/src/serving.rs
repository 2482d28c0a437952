//! `serve` and `watch` below the command line: build the project's functions (for this
//! machine, or as Lambda runs them for an architecture), run them on the local Lambda until
//! Ctrl-C or SIGTERM, and with watch, rebuild and restart them when their sources change.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::build::{Target, lambda};
use crate::emulator::sources::Sources;
use crate::emulator::{Access, Emulator, LocalApi, Reach, Served, Token};
use crate::error::CliError;
use crate::island::{self, Threads};
use crate::platform::{self, Architecture};
use crate::project::{Function, LoadOptions, Project};

/// Variables of this shell that the project's functions (and `--bootstrap`s) get too:
/// credentials and endpoints for the AWS SDK, and what a process needs to find its tools.
/// Functions created through the Lambda API get only the endpoints and `PATH` of these (see
/// `emulator::guard`).
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

/// How often `watch` looks at the sources.
const WATCH_INTERVAL: Duration = Duration::from_millis(300);

/// What to serve, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The project whose functions to serve; `None` serves only the `bootstraps`.
    pub project: Option<LoadOptions>,
    /// Only this function of the project.
    pub function: Option<String>,
    /// Build in release mode.
    pub release: bool,
    /// Build as `deploy` does for this Lambda architecture (and run it under qemu when it is
    /// not this machine's); `None` is a plain build for this machine.
    pub architecture: Option<Architecture>,
    /// Executables served as functions of these names, beside the project's.
    pub bootstraps: Vec<(String, PathBuf)>,
    /// Layer zips whose extensions run beside every function served.
    pub layers: Vec<PathBuf>,
    /// Where the Invoke API listens (port 0 picks a free one).
    pub address: (IpAddr, u16),
    /// Whether other machines may reach it (then the Lambda API requires a token).
    pub reach: Reach,
    /// The token the Lambda API requires; `None` makes one up for [`Reach::Remote`], and
    /// requires none on loopback.
    pub token: Option<Token>,
    /// Print each invocation's estimated cost.
    pub cost: bool,
    /// Print each sampled invocation's trace as a waterfall once it is complete.
    pub traces: bool,
    /// The front of every function's HTTP requests, over the settings.
    pub http_event: Option<String>,
    /// Memory in MB for every function, over the settings.
    pub memory_mb: Option<u32>,
    /// Timeout for every function, over the settings.
    pub timeout: Option<Duration>,
    /// Instances each function may run at once, over the settings.
    pub concurrency: Option<usize>,
    /// Environment variables for every function, over the settings.
    pub environment: Vec<(String, String)>,
    /// Where functions created through the Lambda API are kept; `None` is a scratch directory.
    pub state: Option<PathBuf>,
    /// How many times faster than real time state machines' waits pass.
    pub wait_speed: f64,
    /// Play the functions' triggers: poll their queues and streams at the AWS endpoint of the
    /// environment, and invoke them as Lambda's event source mappings do.
    pub event_sources: bool,
    /// With `event_sources`, fire every schedule once as serve starts.
    pub fire_schedules: bool,
}

/// Whether sources are watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Serve the functions as built.
    Serve,
    /// Also rebuild and restart them when their packages' sources change.
    Watch,
}

/// A Lambda architecture to build for as `deploy` does, and what runs its binaries here.
#[derive(Debug, Clone)]
struct Arch {
    target: Target,
    runner: Vec<String>,
}

impl Arch {
    /// `architecture`, checked for the tools that build it and the ones that run it here.
    fn check(architecture: Architecture) -> Result<Self, CliError> {
        let options = lambda::Options::default();
        let target = options.target(architecture);
        options.check_tools(&target)?;
        let runner = platform::runner(architecture)?;
        Ok(Self { target, runner })
    }
}

/// How to call a function first, in the way that works for it: what serve's start-up lines
/// suggest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstCall {
    /// An HTTP function: its URL, or an HTTP event.
    Http,
    /// A function of one kind of event: that example event (`invoke --event KIND`).
    Event(&'static str),
    /// Anything else: JSON of its own.
    Json,
}

impl FirstCall {
    /// Told by the function's triggers first, then by a `url` setting or lambda-kit's `http`
    /// feature, then by the one event feature of lambda-kit its package asks for.
    pub fn of(function: &Function, features: &[String]) -> Self {
        let triggers = &function.deploy.triggers;
        let by_trigger = [
            (!triggers.s3.is_empty(), "s3-put"),
            (!triggers.sqs.is_empty(), "sqs"),
            (!triggers.sns.is_empty(), "sns"),
            (!triggers.dynamodb.is_empty(), "dynamodb"),
            (!triggers.kinesis.is_empty(), "kinesis"),
            (!triggers.schedule.is_empty(), "schedule"),
            (!triggers.logs.is_empty(), "logs"),
            (!triggers.firehose.is_empty(), "firehose"),
            (!triggers.ses.is_empty(), "ses"),
            (!triggers.iot.is_empty(), "iot"),
            (!triggers.kafka.is_empty(), "kafka"),
            (!triggers.cognito.is_empty(), "cognito-pre-signup"),
        ];
        if let Some((_, kind)) = by_trigger.iter().find(|(set, _)| *set) {
            return Self::Event(kind);
        }
        let has = |feature: &str| features.iter().any(|asked| asked == feature);
        if function.deploy.url.is_some() || has("http") || has("tower") {
            return Self::Http;
        }
        let by_feature = [
            ("s3", "s3-put"),
            ("sqs", "sqs"),
            ("sns", "sns"),
            ("dynamodb", "dynamodb"),
            ("kinesis", "kinesis"),
            ("eventbridge", "eventbridge"),
            ("schedule", "schedule"),
            ("ses", "ses"),
            ("iot", "iot"),
            ("cognito", "cognito-pre-signup"),
            ("cloudwatch-logs", "logs"),
            ("kafka", "kafka"),
            ("firehose", "firehose"),
        ];
        let mut kinds = by_feature.iter().filter(|(feature, _)| has(feature));
        match (kinds.next(), kinds.next()) {
            (Some((_, kind)), None) => Self::Event(kind),
            _ => Self::Json,
        }
    }

    /// The start-up line for the function `name` on serve's `address`, with `endpoint` (the
    /// `--endpoint`/`--token` options `invoke` needs here, if any).
    pub fn hint(self, name: &str, address: &str, endpoint: &str) -> String {
        match self {
            Self::Http => format!(
                "`{name}` answers HTTP at http://{address}/lambda-url/{name}/ (or `cargo lambdakit invoke {name}{endpoint} --event function-url`)"
            ),
            Self::Event(kind) => {
                format!("try `cargo lambdakit invoke {name}{endpoint} --event {kind}`")
            }
            Self::Json => format!("try `cargo lambdakit invoke {name}{endpoint} --data '{{}}'`"),
        }
    }
}

/// Serves until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// When the project cannot be loaded or built, `--state` cannot be created, or the address
/// cannot be listened on.
pub fn run(options: Options, mode: Mode) -> Result<ExitCode, CliError> {
    let access = access(&options)?;
    let arch = options.architecture.map(Arch::check).transpose()?;
    let (project, mut served) = match &options.project {
        None => (None, Vec::new()),
        Some(load) => {
            let project = Project::load(load)?;
            let functions = project.select(options.function.as_deref())?;
            let Built {
                functions: binaries,
                extensions,
            } = build(&project, &functions, arch.as_ref(), options.release)?;
            let runner = arch
                .as_ref()
                .map(|arch| arch.runner.clone())
                .unwrap_or_default();
            let served: Vec<_> = functions
                .into_iter()
                .cloned()
                .zip(binaries)
                .map(|(function, binary)| {
                    // Each of the function's extensions, as `/opt/extensions/NAME`.
                    let extensions = function
                        .extensions
                        .iter()
                        .filter_map(|name| extensions.get(name).cloned())
                        .collect();
                    Served {
                        function,
                        binary,
                        runner: runner.clone(),
                        extensions,
                    }
                })
                .collect();
            (Some(project), served)
        }
    };
    let names: Vec<String> = served
        .iter()
        .map(|served| served.function.name.clone())
        .collect();
    served.extend(options.bootstraps.iter().map(|(name, path)| Served {
        function: Function::standalone(name),
        binary: path.clone(),
        runner: Vec::new(),
        extensions: Vec::new(),
    }));
    let layers = Layers::unpack(&options.layers)?;
    for Served {
        function,
        extensions,
        ..
    } in &mut served
    {
        crate::emulator::layer::overlay(extensions, &layers.extensions);
        if let Some(front) = &options.http_event {
            function.http_event.clone_from(front);
        }
        if let Some(memory) = options.memory_mb {
            function.memory_mb = memory;
        }
        if let Some(timeout) = options.timeout {
            function.timeout = timeout;
        }
        if let Some(concurrency) = options.concurrency {
            function.concurrency = concurrency;
        }
        function
            .environment
            .extend(options.environment.iter().cloned());
    }
    // Credentials, endpoints (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`) and tools.
    let passed: BTreeMap<String, String> = std::env::vars()
        .filter(|(name, _)| {
            PASSED_THROUGH.contains(&name.as_str()) || name.starts_with("AWS_ENDPOINT_URL_")
        })
        .collect();
    let first_calls: Vec<(String, FirstCall)> = served
        .iter()
        .map(|served| {
            let features = project.as_ref().map_or(&[][..], |project| {
                project.lambda_kit_features_of(&served.function.package)
            });
            (
                served.function.name.clone(),
                FirstCall::of(&served.function, features),
            )
        })
        .collect();
    // What the triggers of the project's functions (not `--bootstrap`s) read.
    let triggered: Vec<Function> = served
        .iter()
        .filter(|served| names.contains(&served.function.name))
        .map(|served| served.function.clone())
        .collect();
    // The project's HTTP API, without the routes it cannot answer (each said why).
    let api = project
        .as_ref()
        .and_then(|project| {
            if let [_, others @ ..] = project.apis.as_slice()
                && !others.is_empty()
            {
                let packages: Vec<&str> = project.apis.iter().map(|api| api.package.as_str()).collect();
                eprintln!(
                    "note: the packages {} each declare an HTTP API, and serve answers one at `/`: it serves `{}`'s (`--package NAME` picks another)",
                    packages.join(", "),
                    packages[0]
                );
            }
            project.apis.first()
        })
        .map(|api| {
            let served: Vec<String> = served.iter().map(|served| served.function.name.clone()).collect();
            let (api, left_out) = LocalApi::new(api, &served);
            for line in left_out {
                eprintln!("{line}");
            }
            api
        });
    let region = crate::local::region();
    let state = State::open(options.state.clone())?;
    let mut emulator = Emulator::new(served, &region, &passed, options.cost, state.dir.clone())
        .with_access(access.clone())
        .with_wait_speed(options.wait_speed);
    if let Some(api) = api {
        emulator = emulator.with_api(api);
    }
    if options.traces {
        emulator = emulator.with_traces_printed();
    }
    let emulator = Arc::new(emulator);
    // A restart on the same `--state` serves what the last one created.
    for warning in emulator.load_state() {
        eprintln!("{warning}");
    }

    let (bind, port) = options.address;
    island::runtime(Threads::PerCore)?.block_on(async {
        let address = format!("{bind}:{port}");
        let listener = tokio::net::TcpListener::bind((bind, port))
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
        if let Some((xray, otlp)) = emulator.trace_addresses() {
            println!(
                "lambdakit: traces: X-Ray daemon on udp://{xray} (AWS_XRAY_DAEMON_ADDRESS), OTLP/HTTP receiver on http://{otlp} (OTEL_EXPORTER_OTLP_ENDPOINT, unless a function sets its own); `cargo lambdakit traces` lists them"
            );
        }
        let mut endpoint = if port == 9000 {
            String::new()
        } else {
            format!(" --endpoint http://{local}")
        };
        if access.reach == Reach::Remote {
            eprintln!(
                "warning: serve takes requests from other machines (`--allow-remote`): whoever reaches http://{local} with the token runs code as you; requests signed with it (AWS SDKs, the AWS CLI) keep it to themselves, but their bodies and answers cross the network in clear text, and so does the token sent as a bearer: use it on a network you trust, or reach a loopback serve through an SSH tunnel instead"
            );
        }
        if let Some(token) = &access.token {
            let shown = if options.token.is_some() {
                "the one given (`--token` or `LAMBDAKIT_SERVE_TOKEN`)"
            } else {
                token.as_str()
            };
            println!(
                "lambdakit: every Lambda and Step Functions API call (not function URLs) must carry the token {shown}: `AWS_ACCESS_KEY_ID=TOKEN AWS_SECRET_ACCESS_KEY=TOKEN` for an AWS SDK or the AWS CLI (serve checks their SigV4 signature), `Authorization: Bearer TOKEN` or `X-Lambdakit-Token: TOKEN`"
            );
            endpoint.push_str(" --token TOKEN");
        }
        for (name, call) in &first_calls {
            println!("lambdakit: {}", call.hint(name, &local.to_string(), &endpoint));
        }
        for line in emulator.describe_api(&local.to_string()) {
            println!("lambdakit: {line}");
        }
        let console_token = match &access.token {
            Some(token) if options.token.is_none() => format!("#token={}", token.as_str()),
            Some(_) => "#token=TOKEN".to_owned(),
            None => String::new(),
        };
        println!(
            "lambdakit: console: http://{local}{}/{console_token}",
            crate::emulator::CONSOLE
        );
        let mut terminate = tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        )
        .map_err(|error| CliError::Emulator {
            message: error.to_string(),
        })?;
        let sources = if options.event_sources {
            Sources::start(Arc::clone(&emulator), triggered, options.fire_schedules)
        } else {
            Sources::default()
        };
        let rebuilds = async {
            match project.filter(|_| mode == Mode::Watch) {
                Some(project) => {
                    rebuild_on_change(
                        Arc::clone(&emulator),
                        project,
                        names,
                        (arch, options.release),
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
        sources.shutdown().await;
        emulator.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Who the Lambda API answers: beyond loopback only with `--allow-remote`, and then with a
/// token (the one given, else one made up); on loopback, a token only when one is given.
fn access(options: &Options) -> Result<Access, CliError> {
    let (bind, _) = options.address;
    if !bind.is_loopback() && options.reach == Reach::Loopback {
        return Err(CliError::Exposure {
            problem: format!(
                "`--bind {bind}` lets other machines reach serve, and whoever reaches its Lambda API can run code as you"
            ),
            hint: "add `--allow-remote` (every Lambda API call must then carry the token serve prints), or keep the default `--bind 127.0.0.1`".into(),
        });
    }
    let token = match (options.reach, &options.token) {
        (_, Some(token)) => Some(token.clone()),
        (Reach::Remote, None) => Some(Token::generate().map_err(|error| CliError::Exposure {
            problem: format!(
                "serve cannot make up a token: reading `/dev/urandom` failed: {error}"
            ),
            hint: "give one with `--token` (or `LAMBDAKIT_SERVE_TOKEN`)".into(),
        })?),
        (Reach::Loopback, None) => None,
    };
    Ok(Access {
        reach: options.reach,
        token,
    })
}

/// The extensions of `--layer` zips, unpacked into a scratch directory removed when serve
/// stops.
#[derive(Debug)]
struct Layers {
    dir: PathBuf,
    extensions: Vec<PathBuf>,
}

impl Layers {
    /// Unpacks each zip's `extensions/NAME` files (executable, directly under `extensions/`)
    /// into a directory of its own; a zip that cannot be read or has none is refused, naming it.
    fn unpack(zips: &[PathBuf]) -> Result<Self, CliError> {
        let dir = std::env::temp_dir().join(format!("lambdakit-layers-{}", std::process::id()));
        let mut layers = Self {
            dir,
            extensions: Vec::new(),
        };
        for (index, zip) in zips.iter().enumerate() {
            let refused = |problem: String| CliError::Config {
                key: "--layer".into(),
                problem: format!("names `{}`, which {problem}", zip.display()),
            };
            let bytes =
                std::fs::read(zip).map_err(|error| refused(format!("cannot be read: {error}")))?;
            let found = crate::emulator::layer::unpack_extensions(
                &bytes,
                &layers.dir.join(index.to_string()),
            )
            .map_err(refused)?;
            if found.is_empty() {
                return Err(refused(
                    "has no `extensions/NAME` executable: serve runs a layer's extensions, and this one has none".into(),
                ));
            }
            crate::emulator::layer::overlay(&mut layers.extensions, &found);
        }
        Ok(layers)
    }
}

impl Drop for Layers {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory created functions' code goes in: the user's (`--state`), kept, or a scratch
/// one, removed when serve stops.
#[derive(Debug)]
struct State {
    dir: PathBuf,
    scratch: bool,
}

impl State {
    fn open(dir: Option<PathBuf>) -> Result<Self, CliError> {
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

/// What [`build`] made: each function's binary, in order, and the extensions they use, by name.
struct Built {
    functions: Vec<PathBuf>,
    extensions: std::collections::BTreeMap<String, PathBuf>,
}

/// Builds `functions` and the extensions they use for this machine, or (release, checked) for
/// `arch`, in one cargo run.
fn build(
    project: &Project,
    functions: &[&Function],
    arch: Option<&Arch>,
    release: bool,
) -> Result<Built, CliError> {
    let mut extensions: Vec<&crate::project::Extension> = Vec::new();
    for name in functions.iter().flat_map(|function| &function.extensions) {
        if let Some(extension) = project.extension(name)
            && !extensions.iter().any(|known| known.name == extension.name)
        {
            extensions.push(extension);
        }
    }
    let bins: Vec<_> = functions
        .iter()
        .map(|function| function.bin())
        .chain(extensions.iter().map(|extension| extension.bin()))
        .collect();
    let mut binaries = match arch {
        None => project.build_host(&bins, release)?,
        Some(arch) => {
            let options = lambda::Options::default();
            let built = lambda::build(project, &bins, &arch.target, &options)?;
            built.into_iter().map(|built| built.bootstrap).collect()
        }
    };
    let built_extensions = binaries.split_off(functions.len().min(binaries.len()));
    // `trust = "amazon-roots"`: the PEM beside the binary, as the zip has it beside
    // `bootstrap`; the instance finds it at `SSL_CERT_FILE`'s `/var/task/..` in its task root.
    for (function, binary) in functions.iter().zip(&binaries) {
        if function.trust == crate::project::Trust::AmazonRoots {
            let pem = binary
                .parent()
                .unwrap_or(binary)
                .join(crate::package::trust::FILE_NAME);
            std::fs::write(&pem, crate::package::trust::PEM).map_err(|error| CliError::Io {
                what: format!("write `{}`", pem.display()),
                message: error.to_string(),
            })?;
        }
    }
    Ok(Built {
        functions: binaries,
        extensions: extensions
            .iter()
            .map(|extension| extension.name.clone())
            .zip(built_extensions)
            .collect(),
    })
}

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
async fn fingerprint(dirs: Vec<PathBuf>) -> u64 {
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

#[cfg(test)]
mod first_calls {
    use super::*;
    use crate::deploy::settings::{IotTrigger, UrlAuth, UrlSettings};

    #[test]
    fn a_function_is_first_called_as_its_trigger_url_or_lambda_kit_feature_says() {
        let features = |names: &[&str]| -> Vec<String> {
            names.iter().map(|name| (*name).to_owned()).collect()
        };
        let plain = Function::standalone("f");
        assert_eq!(FirstCall::of(&plain, &[]), FirstCall::Json);
        assert_eq!(
            FirstCall::of(&plain, &features(&["http", "tower"])),
            FirstCall::Http
        );
        assert_eq!(
            FirstCall::of(&plain, &features(&["sqs", "aws"])),
            FirstCall::Event("sqs")
        );
        // Two event features: no one event fits.
        assert_eq!(
            FirstCall::of(&plain, &features(&["sqs", "sns"])),
            FirstCall::Json
        );
        let mut with_url = Function::standalone("f");
        with_url.deploy.url = Some(UrlSettings {
            auth: UrlAuth::default(),
            invoke_mode: Default::default(),
            cors: None,
        });
        assert_eq!(FirstCall::of(&with_url, &[]), FirstCall::Http);
        let mut triggered = Function::standalone("f");
        triggered.deploy.triggers.iot.push(IotTrigger {
            sql: "SELECT * FROM 'a'".into(),
        });
        assert_eq!(
            FirstCall::of(&triggered, &features(&["http"])),
            FirstCall::Event("iot"),
            "a trigger says more than a feature"
        );
        assert_eq!(
            FirstCall::Http.hint("web", "127.0.0.1:9000", ""),
            "`web` answers HTTP at http://127.0.0.1:9000/lambda-url/web/ (or `cargo lambdakit invoke web --event function-url`)"
        );
    }
}
