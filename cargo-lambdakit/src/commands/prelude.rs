//! What several commands share of the command line (cargo's `command_prelude`): the flag
//! groups they flatten in (which project, which functions where, serve's and watch's options),
//! the words they take as enums, and the parsers of `NAME=VALUE` flags. A command imports
//! this and nothing of another command; the logic they share lives below `commands/`.
//!
//! The enums of the layers below (`Architecture`, `Runtime`, `Libc`, `LinkerChoice`, the
//! template's `Format` and `Syntax`) get their clap
//! `ValueEnum` here, so that clap stops at this layer.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};

use crate::build::{Allocator, Libc, LinkerChoice};
use crate::deploy::template::{Format, Syntax};
use crate::emulator::{Reach, Token};
use crate::error::CliError;
use crate::platform::{Architecture, Runtime};
use crate::project::LoadOptions;
use crate::serving;

/// Which project, package and functions.
#[derive(Debug, Args, Clone, Default)]
pub struct ProjectArgs {
    /// The project's Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Only this package's functions (repeatable: `-p orders -p billing`).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub packages: Vec<String>,
    /// Build in release mode.
    #[arg(long)]
    pub release: bool,
    /// Require Cargo.lock to be up to date (cargo's `--locked`).
    #[arg(long)]
    pub locked: bool,
}

impl ProjectArgs {
    /// How to load the project these flags name.
    pub(crate) fn load_options(&self) -> LoadOptions {
        LoadOptions {
            manifest_path: self.manifest_path.clone(),
            packages: self.packages.clone(),
            locked: self.locked,
            stage: None,
        }
    }
}

/// Which functions `deploy` and `destroy` act on, and where: on AWS, or in a local `serve`.
#[derive(Debug, Args, Clone, Default)]
pub struct ScopeArgs {
    /// The project's Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Only this package's functions (repeatable: `-p orders -p billing`).
    #[arg(short = 'p', long = "package", value_name = "NAME")]
    pub packages: Vec<String>,
    /// Require Cargo.lock to be up to date (cargo's `--locked`).
    #[arg(long)]
    pub locked: bool,
    /// Only this function (a binary target); default: all of them.
    #[arg(long = "bin", value_name = "NAME")]
    pub function: Option<String>,
    /// The AWS region (default: the environment's or profile's).
    #[arg(long)]
    pub region: Option<String>,
    /// The AWS profile (default: `AWS_PROFILE`, else `default`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Act on the Lambda API of a `cargo lambdakit serve` at URL instead of AWS (default URL:
    /// http://127.0.0.1:9000), with no AWS credentials, and nothing of IAM, S3 or triggers.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = crate::local::DEFAULT_URL, conflicts_with = "profile")]
    pub local: Option<String>,
    /// With `--local`: the token of a serve that requires one (`serve --allow-remote`).
    #[arg(long, value_name = "TOKEN", env = TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
    /// The stage: `[package.metadata.lambdakit.stages.NAME]` over the settings, and the
    /// functions, roles and state machines of that stage only (named `NAME-STAGE`, tagged
    /// `lambdakit:stage`), apart from other stages'.
    #[arg(long, value_name = "NAME", value_parser = parse_stage)]
    pub stage: Option<String>,
}

impl ScopeArgs {
    /// How to load the project (deploy builds in release mode; destroy builds nothing).
    pub(crate) fn load_options(&self) -> LoadOptions {
        LoadOptions {
            manifest_path: self.manifest_path.clone(),
            packages: self.packages.clone(),
            locked: self.locked,
            stage: self.stage.clone(),
        }
    }

    /// Where the AWS configuration comes from, beside the environment.
    pub(crate) fn source(&self) -> crate::aws::Source {
        crate::aws::Source {
            region: self.region.clone(),
            profile: self.profile.clone(),
        }
    }
}

/// Which AWS account and region, for the commands that read from AWS and need no project
/// (`logs`).
#[derive(Debug, Args, Clone, Default)]
pub struct AwsArgs {
    /// The AWS region (default: the environment's or profile's).
    #[arg(long)]
    pub region: Option<String>,
    /// The AWS profile (default: `AWS_PROFILE`, else `default`).
    #[arg(long)]
    pub profile: Option<String>,
}

impl AwsArgs {
    /// Where the AWS configuration comes from, beside the environment.
    pub(crate) fn source(&self) -> crate::aws::Source {
        crate::aws::Source {
            region: self.region.clone(),
            profile: self.profile.clone(),
        }
    }
}

/// Options of `serve` and `watch`, which serve alike (watch rebuilds too).
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
    /// The address to listen on; an address beyond loopback (`0.0.0.0`, say) needs
    /// `--allow-remote`.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Let other machines reach serve (`--bind` beyond loopback): every Lambda API call (not
    /// function URLs) must then carry a token, printed at start. Whoever has it runs code as you.
    #[arg(long)]
    pub allow_remote: bool,
    /// The token the Lambda API requires (default with `--allow-remote`: one made up at
    /// start); given without `--allow-remote`, it is required on loopback too.
    #[arg(long, value_name = "TOKEN", env = TOKEN_ENV, hide_env_values = true, value_parser = parse_token)]
    pub token: Option<Token>,
    /// Print each invocation's estimated cost on Lambda after its REPORT line.
    #[arg(long)]
    pub cost: bool,
    /// Print each invocation's trace as a waterfall once its spans are in: Lambda's function
    /// segment and what the function sent to the local X-Ray daemon or OTLP receiver (every
    /// invocation is sampled, unless its caller sent `Sampled=0`).
    #[arg(long)]
    pub traces: bool,
    /// Also serve an executable as the function NAME: a bootstrap of any runtime (a script
    /// starting a Python runtime client, say). With only these, no cargo project is needed.
    #[arg(long = "bootstrap", value_name = "NAME=PATH")]
    pub bootstraps: Vec<String>,
    /// A layer zip whose extensions (`extensions/NAME`) run beside every function served, as
    /// Lambda runs a function's layers' extensions (repeatable; a later layer's file of the
    /// same name wins, as on Lambda).
    #[arg(long = "layer", value_name = "ZIP")]
    pub layers: Vec<std::path::PathBuf>,
    /// The front of every function's HTTP requests, over `http_event` in the settings:
    /// `function-url`, `apigw-http` (HTTP API), `apigw-rest` (REST API) or `alb`.
    #[arg(long, value_name = "FRONT", value_parser = ["function-url", "apigw-http", "apigw-rest", "alb"])]
    pub http_event: Option<String>,
    /// Build the functions as `deploy` does (release, for Lambda's glibc, checked) for this
    /// Lambda architecture, and serve the very binaries Lambda would run: `arm64` runs under
    /// `qemu-aarch64` on an x86_64 machine (slower). Without it, a plain build for this machine.
    #[arg(long = "arch", value_name = "ARCH")]
    pub architecture: Option<Architecture>,
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
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_variable)]
    pub environment: Vec<(String, String)>,
    /// Where functions created through the Lambda API (CreateFunction) are kept, their
    /// configuration and code, so that a serve started again on it serves them again; default:
    /// a scratch directory, removed when serve stops. An entry that cannot be read back is
    /// skipped with a warning and left as it is.
    #[arg(long = "state", value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// How many times faster than real time state machines' Wait states and retry intervals
    /// pass (Step Functions API); timeouts stay in real time.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = parse_speed)]
    pub wait_speed: f64,
    /// Play the functions' triggers as Lambda does: poll their SQS queues and Kinesis and
    /// DynamoDB streams at the AWS endpoint of the environment (`AWS_ENDPOINT_URL`, profile,
    /// region: a mock such as moto or LocalStack, or an account) and invoke the functions with
    /// what comes; fire their schedules (`rate`, `cron`, in UTC).
    #[arg(long)]
    pub event_sources: bool,
    /// With `--event-sources`: also fire every schedule once as serve starts (a nightly `cron`
    /// at work without waiting for the night). To fire one at any time, `cargo lambdakit
    /// invoke NAME --event schedule` sends the same event.
    #[arg(long, requires = "event_sources")]
    pub fire_schedules: bool,
}

/// `--wait-speed`: a factor of at least 1.
fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed.is_finite() && speed >= 1.0 => Ok(speed),
        _ => Err(format!(
            "`{text}` is not a speed-up: give a factor of at least 1, such as 10 (waits pass ten times faster)"
        )),
    }
}

impl ServeArgs {
    /// What to serve, checked: the `--bootstrap` pairs name files.
    ///
    /// # Errors
    ///
    /// [`CliError::Config`] for a `--bootstrap` that is not `NAME=PATH` of a file.
    pub(crate) fn options(&self) -> Result<serving::Options, CliError> {
        let bootstraps = bootstraps(&self.bootstraps)?;
        // With only `--bootstrap`s, and nothing naming a project, no cargo project is needed.
        let only_bootstraps = !bootstraps.is_empty()
            && self.project.packages.is_empty()
            && self.project.manifest_path.is_none()
            && self.function.is_none();
        Ok(serving::Options {
            project: (!only_bootstraps).then(|| self.project.load_options()),
            function: self.function.clone(),
            release: self.project.release,
            architecture: self.architecture,
            bootstraps,
            layers: self.layers.clone(),
            address: (self.bind, self.port),
            reach: if self.allow_remote {
                Reach::Remote
            } else {
                Reach::Loopback
            },
            token: self.token.clone(),
            cost: self.cost,
            traces: self.traces,
            http_event: self.http_event.clone(),
            memory_mb: self.memory,
            timeout: self.timeout.map(Duration::from_secs),
            concurrency: self.concurrency.map(|instances| instances as usize),
            environment: self.environment.clone(),
            state: self.state.clone(),
            wait_speed: self.wait_speed,
            event_sources: self.event_sources,
            fire_schedules: self.fire_schedules,
        })
    }
}

/// What a command prints: `--output text` (for people, the default) or `--output json` (one
/// document, for scripts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

// By hand rather than derived: a derived `ValueEnum` takes the variants' docs as help for
// each value, which changes how `--help` lays out every option of the command.
impl ValueEnum for Output {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Text, Self::Json]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            Self::Text => "text",
            Self::Json => "json",
        }))
    }
}

impl ValueEnum for Format {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

impl ValueEnum for Syntax {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

impl ValueEnum for Architecture {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

impl ValueEnum for Runtime {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

impl ValueEnum for Allocator {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

impl ValueEnum for Libc {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

/// `--libc`, and the older `--musl` (hidden) that means `--libc musl`: the C library `build`
/// and `deploy` link.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct LibcArgs {
    /// `musl` (static; the default for `provided.al2023`) or `glibc` (the default for
    /// `provided.al2`; for C dependencies that cannot be linked statically).
    #[arg(long, value_name = "LIBC", hide_possible_values = true)]
    pub libc: Option<Libc>,
    /// Same as `--libc musl`.
    #[arg(long, hide = true, conflicts_with = "libc")]
    pub musl: bool,
    /// The allocator of a static build: `talc` (lambda-kit's `talc` feature, for the packages
    /// that depend on lambda-kit) or `system` (musl's, or the crate's own `#[global_allocator]`).
    #[arg(long, default_value = "talc", hide_possible_values = true)]
    pub allocator: Allocator,
}

impl LibcArgs {
    /// The C library asked for; `None`: the runtime's default.
    pub(crate) fn libc(self) -> Option<Libc> {
        self.libc.or(self.musl.then_some(Libc::Musl))
    }
}

impl ValueEnum for LinkerChoice {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

/// Where `serve`, `invoke`, `traces` and `deploy --local` read a serve's token when `--token` is not
/// given.
pub(crate) const TOKEN_ENV: &str = "LAMBDAKIT_SERVE_TOKEN";

/// `serve --token TOKEN`.
fn parse_token(text: &str) -> Result<Token, String> {
    Token::new(text)
}

/// `--stage NAME`: a name that may end AWS names.
pub(crate) fn parse_stage(text: &str) -> Result<String, String> {
    if crate::project::valid_stage(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a stage's name: 1 to 32 letters, digits, `-` or `_`"
        ))
    }
}

/// `--env NAME=VALUE`.
pub(crate) fn parse_variable(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

/// `--bootstrap NAME=PATH` pairs, each naming a file.
fn bootstraps(pairs: &[String]) -> Result<Vec<(String, PathBuf)>, CliError> {
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
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(CliError::Config {
                    key: "--bootstrap".into(),
                    problem: format!("names `{}`, which is not a file", path.display()),
                });
            }
            Ok((name.to_owned(), path))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_name_equals_value() {
        assert_eq!(
            parse_variable("A=b=c"),
            Ok(("A".to_owned(), "b=c".to_owned()))
        );
        assert_eq!(parse_variable("A="), Ok(("A".to_owned(), String::new())));
        assert!(parse_variable("=b").is_err());
        assert!(parse_variable("A").is_err());
    }

    /// The names a value enum takes on the command line.
    fn names<T: ValueEnum>() -> Vec<String> {
        T::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .map(|value| value.get_name().to_owned())
            .collect()
    }

    #[test]
    fn the_enums_take_lambdas_spellings() {
        assert_eq!(names::<Architecture>(), ["x86_64", "arm64"]);
        assert_eq!(names::<Runtime>(), ["provided.al2023", "provided.al2"]);
        assert_eq!(names::<LinkerChoice>(), ["auto", "gcc", "zig"]);
        assert_eq!(names::<Libc>(), ["glibc", "musl"]);
        assert_eq!(names::<Output>(), ["text", "json"]);
        assert_eq!(names::<Format>(), ["cloudformation", "sam"]);
        assert_eq!(names::<Syntax>(), ["json", "yaml"]);
        assert_eq!(Output::from_str("json", false), Ok(Output::Json));
    }
}
