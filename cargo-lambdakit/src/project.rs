//! The project's functions and extensions: its binary targets, as `cargo metadata` lists
//! them, with the settings of `[package.metadata.lambdakit]`, and their host build. A binary
//! target is a function unless `[package.metadata.lambdakit.extensions.NAME]` declares it an
//! extension, which deploy publishes as a layer for the functions that name it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::deploy::settings::{self as deploy_settings, DeploySettings, Word};
use crate::error::CliError;
use crate::platform::Architecture;

mod metadata;

/// Which project to load, and how: what `--manifest-path`, `--package` and `--locked` say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The project's Cargo.toml; default: cargo's search from the current directory.
    pub manifest_path: Option<PathBuf>,
    /// Only these packages' functions; all of them when empty.
    pub packages: Vec<String>,
    /// Require Cargo.lock to be up to date (cargo's `--locked`).
    pub locked: bool,
    /// The stage whose settings (`[package.metadata.lambdakit.stages.NAME]`) go over the
    /// others, and whose name the functions' and state machines' names end with.
    pub stage: Option<String>,
}

/// How a function writes its logs, `log_format` (Lambda's `LoggingConfig.LogFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Plain lines, Lambda's default.
    Text,
    /// One JSON object per line, which Lambda can filter by level.
    Json,
}

impl Word for LogFormat {
    const ALL: &'static [Self] = &[Self::Text, Self::Json];

    /// Lambda's spelling: `Text` or `JSON`.
    fn as_str(self) -> &'static str {
        match self {
            Self::Text => "Text",
            Self::Json => "JSON",
        }
    }
}

/// Which roots a function's TLS trusts, `trust`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trust {
    /// `system` (default): the runtime's bundle, as the function's TLS library reads it.
    #[default]
    System,
    /// `amazon-roots`: only Amazon's root CAs, from a PEM in the zip that `SSL_CERT_FILE`
    /// points at. Quicker to load, and refuses every server but AWS's.
    AmazonRoots,
}

impl Word for Trust {
    const ALL: &'static [Self] = &[Self::System, Self::AmazonRoots];

    /// Its spelling in the settings.
    fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::AmazonRoots => "amazon-roots",
        }
    }
}

/// The least severe log lines a function keeps, `log_level` (`AWS_LAMBDA_LOG_LEVEL`, and
/// Lambda's `ApplicationLogLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `TRACE`.
    Trace,
    /// `DEBUG`.
    Debug,
    /// `INFO`.
    Info,
    /// `WARN`.
    Warn,
    /// `ERROR`.
    Error,
    /// `FATAL`.
    Fatal,
}

impl Word for LogLevel {
    const ALL: &'static [Self] = &[
        Self::Trace,
        Self::Debug,
        Self::Info,
        Self::Warn,
        Self::Error,
        Self::Fatal,
    ];

    /// Lambda's spelling, such as `WARN`.
    fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
        }
    }
}

/// One Lambda function: a binary target and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// The binary target's name, which is the function's name.
    pub name: String,
    /// The package it is in.
    pub package: String,
    /// Memory in MB (128 to 10240), `memory` in the metadata.
    pub memory_mb: u32,
    /// Timeout (1 to 900 s), `timeout` in the metadata.
    pub timeout: Duration,
    /// Environment variables, `environment` in the metadata.
    pub environment: BTreeMap<String, String>,
    /// Instances that may run at once, `concurrency` in the metadata (local default 10).
    pub concurrency: usize,
    /// `Text` or `JSON`, `log_format`.
    pub log_format: Option<LogFormat>,
    /// `AWS_LAMBDA_LOG_LEVEL`, `log_level`.
    pub log_level: Option<LogLevel>,
    /// `x86_64` (default) or `arm64`, `architecture`.
    pub architecture: Architecture,
    /// The front `serve` puts before it for plain HTTP requests, `http_event`:
    /// `function-url` (default), `apigw-http`, `apigw-rest` or `alb`.
    pub http_event: String,
    /// The project's extensions it runs with (their binary targets' names), `extensions`.
    pub extensions: Vec<String>,
    /// Which roots its TLS trusts, `trust`: with `amazon-roots`, its zip holds their PEM and
    /// `environment` has `SSL_CERT_FILE` at it.
    pub trust: Trust,
    /// What `deploy` makes of it on AWS.
    pub deploy: DeploySettings,
    /// The stage it is deployed as (`--stage`): its settings are laid over the others, and
    /// deploy tags what it creates with it.
    pub stage: Option<String>,
    /// The variables of `environment` whose values come from an `env_file`: printed by name
    /// only, never by value.
    pub from_env_file: BTreeSet<String>,
}

/// One Lambda extension: a binary target that `[package.metadata.lambdakit.extensions.NAME]`
/// declares, which Lambda starts from a layer as `/opt/extensions/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The binary target's name, which is its name under `extensions/` in the layer.
    pub name: String,
    /// The package it is in.
    pub package: String,
    /// The layer's name on AWS, `layer_name` (default: the extension's name); see
    /// [`Extension::layer_name`].
    pub layer: String,
    /// `description`, of each layer version.
    pub description: Option<String>,
    /// The architectures it may be built for, `compatible_architectures` (default: both).
    pub architectures: Vec<Architecture>,
}

impl Extension {
    /// Its layer's name for `architecture`: `layer_name` for x86_64 and `layer_name-arm64` for
    /// arm64 (as `target/lambda/arm64/` sits beside `target/lambda/`), so that the two builds,
    /// one binary each, never take turns as one layer's newest version.
    pub fn layer_name(&self, architecture: Architecture) -> String {
        match architecture {
            Architecture::X86_64 => self.layer.clone(),
            Architecture::Arm64 => format!("{}-arm64", self.layer),
        }
    }

    /// Where its settings are, for errors.
    pub fn settings_key(&self) -> String {
        format!("package.metadata.lambdakit.extensions.{}", self.name)
    }
}

/// One Step Functions state machine, `[[package.metadata.lambdakit.state_machines]]`, whose
/// definition names the package's functions as `${function:NAME}`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateMachine {
    /// The package it is declared in (its functions are the ones it may name).
    pub package: String,
    /// Where its settings are, for errors: `package.metadata.lambdakit.state_machines[0]`.
    pub key: String,
    /// Its settings.
    pub settings: crate::deploy::settings::StateMachineSettings,
    /// Its definition's file.
    pub file: PathBuf,
    /// The definition as the file has it, `${function:NAME}` references and all.
    pub definition: Value,
    /// The functions it names, each checked to be the package's.
    pub references: Vec<crate::deploy::definition::Reference>,
    /// The stage it is deployed as: its name (`settings.name`) ends with `-STAGE`.
    pub stage: Option<String>,
}

/// The package's HTTP API, `[package.metadata.lambdakit.api]`: one per package, served by
/// `serve` at `/` of its port and deployed as an API Gateway HTTP API.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    /// The package it is declared in (its functions are the ones its routes may name).
    pub package: String,
    /// The package's directory, which a `jwks` file is relative to.
    pub dir: PathBuf,
    /// Its settings.
    pub settings: crate::deploy::settings::api::ApiSettings,
    /// What keeps some of its routes from being served or deployed (see
    /// [`crate::deploy::settings::api::problems`]).
    pub problems: Vec<crate::deploy::settings::api::Problem>,
    /// The stage it is deployed as: its AWS name ends with `-STAGE`.
    pub stage: Option<String>,
}

impl Api {
    /// Its name on AWS: `name`, else the package's, and `-STAGE` for a stage.
    pub fn aws_name(&self) -> String {
        let name = self.settings.name.as_deref().unwrap_or(&self.package);
        match &self.stage {
            Some(stage) => format!("{name}-{stage}"),
            None => name.to_owned(),
        }
    }

    /// Its first problem, as the error deploy and template stop at.
    ///
    /// # Errors
    ///
    /// When a route names what the package does not have, or clashes with another.
    pub fn check(&self) -> Result<(), CliError> {
        match self.problems.first() {
            Some(problem) => Err(problem.error()),
            None => Ok(()),
        }
    }
}

/// What a binary target is to Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A function: its binary is the `bootstrap` of the function's zip.
    Function,
    /// An extension: its binary is `extensions/NAME` in a layer's zip.
    Extension,
}

impl Kind {
    /// `function` or `extension`, as messages and `--output json` say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Function => "function",
            Self::Extension => "extension",
        }
    }
}

/// A binary target to build: its package, its name and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin<'a> {
    /// The package.
    pub package: &'a str,
    /// The binary target.
    pub name: &'a str,
    /// A function or an extension.
    pub kind: Kind,
}

impl Function {
    /// Its binary target.
    pub fn bin(&self) -> Bin<'_> {
        Bin {
            package: &self.package,
            name: &self.name,
            kind: Kind::Function,
        }
    }
}

impl Extension {
    /// Its binary target.
    pub fn bin(&self) -> Bin<'_> {
        Bin {
            package: &self.package,
            name: &self.name,
            kind: Kind::Extension,
        }
    }
}

/// What `--bin` selects: functions, extensions, or (without it) all of both.
#[derive(Debug, Default)]
pub struct Selection<'a> {
    /// The functions.
    pub functions: Vec<&'a Function>,
    /// The extensions.
    pub extensions: Vec<&'a Extension>,
}

impl Selection<'_> {
    /// Every selected binary target, functions first.
    pub fn bins(&self) -> Vec<Bin<'_>> {
        self.functions
            .iter()
            .map(|function| function.bin())
            .chain(self.extensions.iter().map(|extension| extension.bin()))
            .collect()
    }
}

/// The project as `cargo metadata` describes it.
#[derive(Debug)]
pub struct Project {
    /// Every function, in package and target order.
    pub functions: Vec<Function>,
    /// The extensions of the selected packages, and those their functions name, in package
    /// and name order.
    pub extensions: Vec<Extension>,
    /// Where cargo puts what it builds.
    pub target_dir: PathBuf,
    /// The state machines of the selected packages.
    pub state_machines: Vec<StateMachine>,
    /// The HTTP APIs of the selected packages.
    pub apis: Vec<Api>,
    /// The directories of the packages the functions are in, for `watch`.
    pub package_dirs: Vec<PathBuf>,
    /// The workspace's root manifest, where its profiles are.
    pub root_manifest: PathBuf,
    /// Every member's manifest and the workspace's lock: what a build reads besides sources.
    pub manifests: Vec<PathBuf>,
    /// Each package that depends on lambda-kit, and the name it depends on it by.
    lambda_kit_dependencies: BTreeMap<String, String>,
    /// The features of lambda-kit each of those packages asks for.
    lambda_kit_features: BTreeMap<String, Vec<String>>,
    manifest_path: Option<PathBuf>,
    locked: bool,
}

/// The settings of both tables; the package's ends with its `state_machines` and
/// `functions`. `extensions` is the package's extension tables there, and the list of
/// extensions a function uses in a function's table.
const KEYS: [&str; 13] = [
    "memory",
    "timeout",
    "environment",
    "concurrency",
    "log_format",
    "log_level",
    "architecture",
    "http_event",
    "extensions",
    "trust",
    "api",
    "state_machines",
    "functions",
];

/// The settings of an extension's table.
const EXTENSION_KEYS: [&str; 3] = ["layer_name", "description", "compatible_architectures"];

impl Project {
    /// Reads the project (and, with `--package`, only that package's functions).
    ///
    /// # Errors
    ///
    /// When `cargo metadata` fails, the package is unknown, or a setting is invalid.
    pub fn load(args: &LoadOptions) -> Result<Self, CliError> {
        let metadata = metadata::read(args.manifest_path.as_deref(), args.locked)?;
        let target_dir = PathBuf::from(metadata["target_directory"].as_str().unwrap_or("target"));
        let root_manifest =
            PathBuf::from(metadata["workspace_root"].as_str().unwrap_or(".")).join("Cargo.toml");
        let members: Vec<&Value> = metadata["packages"]
            .as_array()
            .map(|packages| packages.iter().collect())
            .unwrap_or_default();
        let known = |wanted: &str| members.iter().any(|package| package["name"] == wanted);
        if let Some(wanted) = args.packages.iter().find(|wanted| !known(wanted)) {
            let available: Vec<String> = members
                .iter()
                .filter_map(|package| package["name"].as_str().map(str::to_owned))
                .collect();
            return Err(CliError::Config {
                key: "--package".into(),
                problem: format!(
                    "names `{wanted}`, which is not a package here (packages: {})",
                    join(&available)
                ),
            });
        }
        // Every member's extensions: a function may name one of another package.
        let mut declared: Vec<Extension> = Vec::new();
        for package in &members {
            for extension in extensions_of(package)? {
                if let Some(other) = declared.iter().find(|other| other.name == extension.name) {
                    return Err(CliError::Config {
                        key: extension.settings_key(),
                        problem: format!(
                            "is declared by the packages `{}` and `{}`; functions name an extension by its binary's name, so each needs its own",
                            other.package, extension.package
                        ),
                    });
                }
                declared.push(extension);
            }
        }
        let on_lambda_kit: Vec<(String, &Value)> = members
            .iter()
            .filter_map(|package| {
                let dependency = package["dependencies"]
                    .as_array()?
                    .iter()
                    .find(|dependency| {
                        dependency["name"] == "lambda-kit" && dependency["kind"].is_null()
                    })?;
                Some((package["name"].as_str()?.to_owned(), dependency))
            })
            .collect();
        let lambda_kit_dependencies = on_lambda_kit
            .iter()
            .filter_map(|(package, dependency)| {
                let key = dependency["rename"]
                    .as_str()
                    .or(dependency["name"].as_str())?;
                Some((package.clone(), key.to_owned()))
            })
            .collect();
        let lambda_kit_features = on_lambda_kit
            .iter()
            .map(|(package, dependency)| {
                let features = dependency["features"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                (package.clone(), features)
            })
            .collect();
        let manifests = members
            .iter()
            .filter_map(|package| package["manifest_path"].as_str().map(PathBuf::from))
            .chain(root_manifest.parent().map(|root| root.join("Cargo.lock")))
            .collect();
        let mut functions = Vec::new();
        let mut state_machines = Vec::new();
        let mut apis = Vec::new();
        let mut package_dirs = Vec::new();
        for package in members {
            let name = package["name"].as_str().unwrap_or_default();
            if !args.packages.is_empty() && !args.packages.iter().any(|wanted| wanted == name) {
                continue;
            }
            let dir = package["manifest_path"]
                .as_str()
                .and_then(|path| PathBuf::from(path).parent().map(PathBuf::from));
            if let Some(dir) = &dir {
                package_dirs.push(dir.clone());
            }
            let first = functions.len();
            let settings = &package["metadata"]["lambdakit"];
            let package_defaults =
                settings_of(settings, "package.metadata.lambdakit", Table::Package)?;
            let dir = dir.unwrap_or_default();
            let targets = bins(package);
            let stage = stage_of(settings, name, &targets, args.stage.as_deref(), &dir)?;
            for bin in targets {
                let overrides = &settings["functions"][bin];
                let at = format!("package.metadata.lambdakit.functions.{bin}");
                if declared
                    .iter()
                    .any(|extension| extension.package == name && extension.name == bin)
                {
                    if !overrides.is_null() {
                        return Err(CliError::Config {
                            key: at,
                            problem: format!(
                                "configures `{bin}`, which `[package.metadata.lambdakit.extensions.{bin}]` declares an extension, not a function"
                            ),
                        });
                    }
                    continue;
                }
                let own = settings_of(overrides, &at, Table::Function)?;
                let mut function = own.apply(package_defaults.apply(Function::defaults(bin, name)));
                if let Some(stage) = &stage {
                    function = stage.apply(function);
                }
                deploy_settings::check(&function.deploy, &at)?;
                check_extensions_known(&function, &declared, &at)?;
                functions.push(function);
            }
            let own: Vec<&Function> = functions[first..].iter().collect();
            let mut machines = state_machines_of(name, settings, &dir, &own)?;
            if let Some(stage) = &stage {
                for machine in &mut machines {
                    machine.settings.name = format!("{}-{}", machine.settings.name, stage.name);
                    machine.stage = Some(stage.name.clone());
                }
            }
            state_machines.extend(machines);
            let declared = &settings["api"];
            if !declared.is_null() {
                let api_settings =
                    crate::deploy::settings::api::api(declared, crate::deploy::settings::api::AT)?;
                let names: Vec<&str> = functions[first..]
                    .iter()
                    .map(|function| function.name.as_str())
                    .collect();
                let problems = crate::deploy::settings::api::problems(&api_settings, &names);
                apis.push(Api {
                    package: name.to_owned(),
                    dir: dir.clone(),
                    settings: api_settings,
                    problems,
                    stage: stage.as_ref().map(|stage| stage.name.clone()),
                });
            }
        }
        let selected = |package: &str| {
            args.packages.is_empty() || args.packages.iter().any(|wanted| wanted == package)
        };
        let extensions = declared
            .into_iter()
            .filter(|extension| {
                selected(&extension.package)
                    || functions
                        .iter()
                        .any(|function| function.extensions.contains(&extension.name))
            })
            .collect();
        Ok(Self {
            functions,
            extensions,
            target_dir,
            state_machines,
            apis,
            package_dirs,
            manifests,
            root_manifest,
            lambda_kit_dependencies,
            lambda_kit_features,
            manifest_path: args.manifest_path.clone(),
            locked: args.locked,
        })
    }

    /// The function named `name`, or the only one when `name` is `None`.
    ///
    /// # Errors
    ///
    /// When there is no such function, or several and none was named.
    pub fn select(&self, name: Option<&str>) -> Result<Vec<&Function>, CliError> {
        let available = || {
            self.functions
                .iter()
                .map(|function| function.name.clone())
                .collect()
        };
        match name {
            Some(name) => match self.functions.iter().find(|function| function.name == name) {
                Some(function) => Ok(vec![function]),
                None => Err(CliError::NoFunction {
                    wanted: Some(name.to_owned()),
                    available: available(),
                }),
            },
            None if self.functions.is_empty() => Err(CliError::NoFunction {
                wanted: None,
                available: available(),
            }),
            None => Ok(self.functions.iter().collect()),
        }
    }

    /// What `--bin NAME` names, a function or an extension; without it, every function and
    /// extension.
    ///
    /// # Errors
    ///
    /// When there is no function or extension of that name, or none at all.
    pub fn select_bins(&self, name: Option<&str>) -> Result<Selection<'_>, CliError> {
        let extension = name.and_then(|name| {
            self.extensions
                .iter()
                .find(|extension| extension.name == name)
        });
        if let Some(extension) = extension {
            return Ok(Selection {
                functions: Vec::new(),
                extensions: vec![extension],
            });
        }
        if name.is_none() && self.functions.is_empty() && !self.extensions.is_empty() {
            return Ok(Selection {
                functions: Vec::new(),
                extensions: self.extensions.iter().collect(),
            });
        }
        let functions = self.select(name)?;
        let extensions = match name {
            Some(_) => Vec::new(),
            None => self.extensions.iter().collect(),
        };
        Ok(Selection {
            functions,
            extensions,
        })
    }

    /// The extension named `name`.
    pub fn extension(&self, name: &str) -> Option<&Extension> {
        self.extensions
            .iter()
            .find(|extension| extension.name == name)
    }

    /// The `--manifest-path` the project was read from, if one was given.
    pub fn manifest_path(&self) -> Option<&std::path::Path> {
        self.manifest_path.as_deref()
    }

    /// Builds `bins` for this machine, showing cargo's progress, and returns each binary.
    ///
    /// # Errors
    ///
    /// When `cargo build` fails.
    pub fn build_host(&self, bins: &[Bin<'_>], release: bool) -> Result<Vec<PathBuf>, CliError> {
        self.build(bins, release, None, &[], &[], crate::status::Style::Plain)
    }

    /// The name `package` depends on lambda-kit by (its key in `[dependencies]`), if it does.
    pub fn lambda_kit_dependency(&self, package: &str) -> Option<&str> {
        self.lambda_kit_dependencies
            .get(package)
            .map(String::as_str)
    }

    /// The features of lambda-kit `package` asks for (none when it does not depend on it).
    pub fn lambda_kit_features_of(&self, package: &str) -> &[String] {
        self.lambda_kit_features
            .get(package)
            .map_or(&[], Vec::as_slice)
    }

    /// `feature` of lambda-kit for the packages of `bins` that depend on it, as cargo's
    /// `--features` takes it (`lambda-kit/talc`).
    pub fn lambda_kit_features(&self, bins: &[Bin<'_>], feature: &str) -> Vec<String> {
        let mut features: Vec<String> = bins
            .iter()
            .filter_map(|bin| self.lambda_kit_dependency(bin.package))
            .map(|dependency| format!("{dependency}/{feature}"))
            .collect();
        features.sort_unstable();
        features.dedup();
        features
    }

    /// The `trust` of the function that is `bin` (`system` for an extension).
    pub fn trust_of(&self, bin: &Bin<'_>) -> Trust {
        self.functions
            .iter()
            .find(|function| function.name == bin.name && function.package == bin.package)
            .map_or(Trust::System, |function| function.trust)
    }

    /// Builds `bins` for `target` (this machine's when `None`, or when it is this machine's),
    /// showing cargo's progress, and returns each binary.
    ///
    /// Each package is built by a `cargo build` of its own: built together, cargo would give
    /// every package's dependencies the features any of them asks for, and a function would not
    /// be the binary its package alone makes (the one deploy ships from `-p` of that package,
    /// whose build a later one reuses).
    ///
    /// # Errors
    ///
    /// When `cargo build` fails.
    pub fn build(
        &self,
        bins: &[Bin<'_>],
        release: bool,
        target: Option<(&crate::build::Target, &crate::build::Linker)>,
        profile: &[(String, String)],
        features: &[String],
        status: crate::status::Style,
    ) -> Result<Vec<PathBuf>, CliError> {
        let targeted = target.filter(|(target, linker)| target.needs_target_flag(linker));
        let mut packages: Vec<&str> = Vec::new();
        for bin in bins {
            if !packages.contains(&bin.package) {
                packages.push(bin.package);
            }
        }
        for package in packages {
            let mut command = Command::new(cargo());
            command.arg("build");
            if self.locked {
                command.arg("--locked");
            }
            if let Some(path) = &self.manifest_path {
                command.arg("--manifest-path").arg(path);
            }
            if release {
                command.arg("--release").envs(profile.iter().cloned());
            }
            if let Some((target, linker)) = targeted {
                command
                    .args(["--target", target.triple])
                    .envs(target.linker_variables(linker));
            }
            command.args(["-p", package]);
            for bin in bins.iter().filter(|bin| bin.package == package) {
                command.args(["--bin", bin.name]);
            }
            if !features.is_empty() {
                command.arg("--features").arg(features.join(","));
            }
            match targeted {
                // A static build: a C library from the system fails it at the link, after a
                // wall of linker output; cargo's output is kept and the crate at fault named
                // instead.
                Some((target, _)) if target.interpreter.is_none() => {
                    let log = self
                        .target_dir
                        .join("lambdakit")
                        .join(format!("build-{}.log", target.triple));
                    crate::build::statics::build(&mut command, target.triple, &log, status)?;
                }
                _ => {
                    let status = command.status().map_err(|error| CliError::CargoFailed {
                        status: error.to_string(),
                    })?;
                    if !status.success() {
                        return Err(CliError::CargoFailed {
                            status: status.to_string(),
                        });
                    }
                }
            }
        }
        let out_dir = self.binary_dir(release, targeted.map(|(target, _)| target.triple));
        Ok(bins.iter().map(|bin| out_dir.join(bin.name)).collect())
    }

    /// Where cargo puts the binaries of a build (`release` or not) for `triple` (`None`: a
    /// build without `--target`).
    pub fn binary_dir(&self, release: bool, triple: Option<&str>) -> PathBuf {
        let profile = if release { "release" } else { "debug" };
        match triple {
            Some(triple) => self.target_dir.join(triple).join(profile),
            None => self.target_dir.join(profile),
        }
    }

    /// What the cargo commands run for the project are told besides the build: the manifest
    /// and `--locked`.
    pub fn cargo_arguments(&self) -> (Option<&Path>, bool) {
        (self.manifest_path.as_deref(), self.locked)
    }
}

impl Function {
    /// A function that is an executable of its own rather than a binary target: Lambda's
    /// default settings.
    pub fn standalone(name: &str) -> Self {
        Self::defaults(name, "")
    }

    fn defaults(name: &str, package: &str) -> Self {
        Self {
            name: name.to_owned(),
            package: package.to_owned(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            environment: BTreeMap::new(),
            concurrency: 10,
            log_format: None,
            log_level: None,
            architecture: Architecture::X86_64,
            http_event: "function-url".to_owned(),
            extensions: Vec::new(),
            trust: Trust::System,
            deploy: DeploySettings::default(),
            stage: None,
            from_env_file: BTreeSet::new(),
        }
    }

    /// Its name on AWS: `name` in the metadata, else the binary's.
    pub fn aws_name(&self) -> &str {
        self.deploy.name.as_deref().unwrap_or(&self.name)
    }
}

/// Settings read from one table; `None` leaves the value as it was.
#[derive(Default)]
struct Settings {
    memory_mb: Option<u32>,
    timeout: Option<Duration>,
    environment: BTreeMap<String, String>,
    concurrency: Option<usize>,
    log_format: Option<LogFormat>,
    log_level: Option<LogLevel>,
    architecture: Option<Architecture>,
    http_event: Option<String>,
    extensions: Option<Vec<String>>,
    trust: Option<Trust>,
    deploy: DeploySettings,
}

impl Settings {
    fn apply(&self, mut function: Function) -> Function {
        if let Some(memory) = self.memory_mb {
            function.memory_mb = memory;
        }
        if let Some(timeout) = self.timeout {
            function.timeout = timeout;
        }
        function.environment.extend(self.environment.clone());
        if let Some(concurrency) = self.concurrency {
            function.concurrency = concurrency;
        }
        if self.log_format.is_some() {
            function.log_format = self.log_format;
        }
        if self.log_level.is_some() {
            function.log_level = self.log_level;
        }
        if let Some(architecture) = self.architecture {
            function.architecture = architecture;
        }
        if let Some(front) = &self.http_event {
            function.http_event.clone_from(front);
        }
        if let Some(trust) = self.trust {
            let shipped = crate::package::trust::lambda_path();
            let variable = crate::package::trust::VARIABLE;
            match trust {
                // The function's own `SSL_CERT_FILE`, if it sets one, wins.
                Trust::AmazonRoots => {
                    function
                        .environment
                        .entry(variable.to_owned())
                        .or_insert(shipped);
                }
                Trust::System => {
                    if function.environment.get(variable) == Some(&shipped) {
                        function.environment.remove(variable);
                    }
                }
            }
            function.trust = trust;
        }
        if let Some(extensions) = &self.extensions {
            function.extensions.clone_from(extensions);
        }
        function.deploy.merge(&self.deploy);
        function
    }
}

/// A setting whose `value` is one of `W`'s words; `invalid` makes the error naming the key.
fn word<W: Word>(value: &Value, invalid: &dyn Fn(&str) -> CliError) -> Result<W, CliError> {
    value
        .as_str()
        .and_then(W::named)
        .ok_or_else(|| invalid(&W::expected()))
}

/// Which table settings are read from: each takes the function's settings, and some more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    /// `[package.metadata.lambdakit]`: also its extensions, state machines, functions' tables
    /// and stages, read beside.
    Package,
    /// `[package.metadata.lambdakit.functions.NAME]`.
    Function,
    /// `[package.metadata.lambdakit.stages.NAME]`: also its `env_file` and functions' tables,
    /// read beside; not `extensions`, which is the package's declarations at its level.
    Stage,
    /// `[package.metadata.lambdakit.stages.NAME.functions.NAME]`: also its `env_file`.
    StageFunction,
}

impl Table {
    /// The keys it takes beside deploy's, for the message naming an unknown one.
    fn keys(self) -> Vec<&'static str> {
        let function = &KEYS[..KEYS.len() - 3];
        match self {
            Self::Package => KEYS.iter().copied().chain(["stages"]).collect(),
            Self::Function => function.to_vec(),
            Self::Stage => function
                .iter()
                .copied()
                .filter(|key| *key != "extensions")
                .chain(["env_file", "functions"])
                .collect(),
            Self::StageFunction => function.iter().copied().chain(["env_file"]).collect(),
        }
    }
}

fn settings_of(table: &Value, at: &str, level: Table) -> Result<Settings, CliError> {
    let mut settings = Settings::default();
    let Some(table) = table.as_object() else {
        if table.is_null() {
            return Ok(settings);
        }
        return Err(CliError::Config {
            key: at.to_owned(),
            problem: "must be a table".into(),
        });
    };
    for (key, value) in table {
        let name = format!("{at}.{key}");
        let invalid = |problem: &str| CliError::Config {
            key: name.clone(),
            problem: problem.to_owned(),
        };
        match key.as_str() {
            "memory" => {
                let memory = value.as_u64().filter(|mb| (128..=10_240).contains(mb));
                settings.memory_mb = Some(
                    memory.ok_or_else(|| invalid("must be a number of MB from 128 to 10240"))?
                        as u32,
                );
            }
            "timeout" => {
                let seconds = value.as_u64().filter(|seconds| (1..=900).contains(seconds));
                settings.timeout =
                    Some(Duration::from_secs(seconds.ok_or_else(|| {
                        invalid("must be a number of seconds from 1 to 900")
                    })?));
            }
            "concurrency" => {
                let instances = value.as_u64().filter(|n| (1..=1000).contains(n));
                settings.concurrency = Some(
                    instances
                        .ok_or_else(|| invalid("must be a number of instances from 1 to 1000"))?
                        as usize,
                );
            }
            "environment" => {
                let variables = value
                    .as_object()
                    .ok_or_else(|| invalid("must be a table of strings"))?;
                for (variable, value) in variables {
                    let value = value.as_str().ok_or_else(|| CliError::Config {
                        key: format!("{name}.{variable}"),
                        problem: "must be a string".into(),
                    })?;
                    settings
                        .environment
                        .insert(variable.clone(), value.to_owned());
                }
            }
            "trust" => settings.trust = Some(word(value, &invalid)?),
            "log_format" => settings.log_format = Some(word(value, &invalid)?),
            "log_level" => settings.log_level = Some(word(value, &invalid)?),
            "architecture" => settings.architecture = Some(word(value, &invalid)?),
            "http_event" => {
                let fronts = ["function-url", "apigw-http", "apigw-rest", "alb"];
                let front = value.as_str().filter(|front| fronts.contains(front));
                settings.http_event = Some(
                    front
                        .ok_or_else(|| {
                            invalid("must be `function-url`, `apigw-http`, `apigw-rest` or `alb`")
                        })?
                        .to_owned(),
                );
            }
            // The package's extension tables, read by `extensions_of`, and its state
            // machines, read by `state_machines_of`, and its API, read by `Project::load`.
            "extensions" | "functions" | "state_machines" | "stages" | "api"
                if level == Table::Package => {}
            // Read beside, by `stage_of`.
            "functions" if level == Table::Stage => {}
            "env_file" if matches!(level, Table::Stage | Table::StageFunction) => {}
            "extensions" if level == Table::Stage => {
                return Err(invalid(
                    "is not a setting of a stage: a stage names a function's extensions in its `functions.NAME` table",
                ));
            }
            "extensions" => {
                let names = value
                    .as_array()
                    .and_then(|names| names.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| {
                        invalid("must be a list of the names of the project's extensions")
                    })?;
                if let Some(twice) = names
                    .iter()
                    .enumerate()
                    .find(|(at, name)| names[..*at].contains(name))
                    .map(|(_, name)| name)
                {
                    return Err(invalid(&format!("names `{twice}` twice")));
                }
                settings.extensions = Some(names.into_iter().map(str::to_owned).collect());
            }
            _ if deploy_settings::read(&mut settings.deploy, key, value, at)? => {}
            _ => {
                let own = level.keys();
                let valid: Vec<String> = own
                    .iter()
                    .chain(&deploy_settings::KEYS)
                    .map(|key| (*key).to_owned())
                    .collect();
                return Err(CliError::Config {
                    key: name,
                    problem: format!(
                        "is not a setting{}; the settings are {}",
                        crate::suggest::did_you_mean(key, valid.iter().map(String::as_str)),
                        join(&valid)
                    ),
                });
            }
        }
    }
    Ok(settings)
}

/// A stage of one package: its settings, its functions' and its env files' variables, laid
/// over a function's own settings.
#[derive(Default)]
struct Stage {
    /// Its name.
    name: String,
    /// `[package.metadata.lambdakit.stages.NAME]`.
    settings: Settings,
    /// Its `env_file`'s variables.
    variables: Vec<(String, String)>,
    /// `[package.metadata.lambdakit.stages.NAME.functions.BIN]`, and its `env_file`'s
    /// variables, by binary target.
    functions: BTreeMap<String, (Settings, Vec<(String, String)>)>,
}

impl Stage {
    /// `function` (with its package's and its own settings) as this stage deploys it: the
    /// stage's settings, then its function's, then the env files' variables, which win over
    /// any `environment` (the file holds the stage's real values; the settings' are often
    /// serve's stand-ins). Its name ends with `-STAGE` unless the stage names it.
    fn apply(&self, function: Function) -> Function {
        let base = function.aws_name().to_owned();
        let own = self.functions.get(&function.name);
        let mut function = self.settings.apply(function);
        if let Some((settings, _)) = own {
            function = settings.apply(function);
        }
        let named = self.settings.deploy.name.is_some()
            || own.is_some_and(|(settings, _)| settings.deploy.name.is_some());
        if !named {
            function.deploy.name = Some(format!("{base}-{}", self.name));
        }
        let files = self
            .variables
            .iter()
            .chain(own.into_iter().flat_map(|(_, variables)| variables));
        for (variable, value) in files {
            function.environment.insert(variable.clone(), value.clone());
            function.from_env_file.insert(variable.clone());
        }
        function.stage = Some(self.name.clone());
        function
    }
}

/// Whether `name` may be a stage's: it ends the names of functions, roles and state machines
/// on AWS, so letters, digits, `-` and `_`, at most 32.
pub fn valid_stage(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Checks every stage of a package (its settings at `settings`, its binary targets
/// `targets`, its directory `dir`), and reads the stage `wanted` with its env files.
///
/// # Errors
///
/// A stage's setting that is not one, a function table naming no binary target, and for
/// `wanted`: a stage the package does not define, an env file that is missing or malformed.
fn stage_of(
    settings: &Value,
    package: &str,
    targets: &[&str],
    wanted: Option<&str>,
    dir: &std::path::Path,
) -> Result<Option<Stage>, CliError> {
    let at = "package.metadata.lambdakit.stages";
    let tables = match &settings["stages"] {
        Value::Null => serde_json::Map::new(),
        Value::Object(tables) => tables.clone(),
        _ => {
            return Err(CliError::Config {
                key: at.into(),
                problem:
                    "must be a table of stages, `[package.metadata.lambdakit.stages.NAME]` for each"
                        .into(),
            });
        }
    };
    let mut found = None;
    for (name, table) in &tables {
        let key = format!("{at}.{name}");
        if !valid_stage(name) {
            return Err(CliError::Config {
                key,
                problem: "names a stage with other than letters, digits, `-` and `_`, or more than 32: the stage ends the names of what deploy creates".into(),
            });
        }
        let read = wanted == Some(name.as_str());
        let mut stage = Stage {
            name: name.clone(),
            settings: settings_of(table, &key, Table::Stage)?,
            variables: env_file(table, &key, dir, read)?,
            functions: BTreeMap::new(),
        };
        let functions = match &table["functions"] {
            Value::Null => serde_json::Map::new(),
            Value::Object(functions) => functions.clone(),
            _ => {
                return Err(CliError::Config {
                    key: format!("{key}.functions"),
                    problem: "must be a table of functions, `[package.metadata.lambdakit.stages.NAME.functions.BIN]` for each".into(),
                });
            }
        };
        for (bin, table) in &functions {
            let key = format!("{key}.functions.{bin}");
            if !targets.contains(&bin.as_str()) {
                let listed: Vec<String> = targets.iter().map(|bin| (*bin).to_owned()).collect();
                return Err(CliError::Config {
                    problem: format!(
                        "names no binary target of `{package}`{} (the binary targets are {})",
                        crate::suggest::did_you_mean(bin, targets.iter().copied()),
                        join(&listed)
                    ),
                    key,
                });
            }
            let own = settings_of(table, &key, Table::StageFunction)?;
            let variables = env_file(table, &key, dir, read)?;
            stage.functions.insert(bin.clone(), (own, variables));
        }
        if read {
            found = Some(stage);
        }
    }
    match wanted {
        Some(wanted) if found.is_none() && !targets.is_empty() => {
            let names: Vec<&str> = tables.keys().map(String::as_str).collect();
            let listed: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
            Err(CliError::Config {
                key: "--stage".into(),
                problem: if names.is_empty() {
                    format!(
                        "names `{wanted}`, but the package `{package}` defines no stage: add `[{at}.{wanted}]` (empty, or with the settings that differ)"
                    )
                } else {
                    format!(
                        "names `{wanted}`, which is not a stage of the package `{package}`{} (its stages are {}); add `[{at}.{wanted}]` to define it",
                        crate::suggest::did_you_mean(wanted, names.iter().copied()),
                        join(&listed)
                    )
                },
            })
        }
        _ => Ok(found),
    }
}

/// The variables of the `env_file` a stage's `table` (at `key`) names, read from the package's
/// directory `dir` when `read` (else only checked to be a path).
fn env_file(
    table: &Value,
    key: &str,
    dir: &std::path::Path,
    read: bool,
) -> Result<Vec<(String, String)>, CliError> {
    let key = format!("{key}.env_file");
    let path = match &table["env_file"] {
        Value::Null => return Ok(Vec::new()),
        Value::String(path) if !path.is_empty() => path,
        _ => {
            return Err(CliError::Config {
                key,
                problem: "must be the path of a `.env` file, relative to the package's directory, such as `\"stages/prod.env\"`".into(),
            });
        }
    };
    if !read {
        return Ok(Vec::new());
    }
    let file = dir.join(path);
    let text = std::fs::read_to_string(&file).map_err(|error| CliError::Config {
        key: key.clone(),
        problem: if error.kind() == std::io::ErrorKind::NotFound {
            format!(
                "names `{path}`, which does not exist (`{}`); the path is relative to the package's directory",
                file.display()
            )
        } else {
            format!("names `{}`, which cannot be read: {error}", file.display())
        },
    })?;
    crate::dotenv::parse(&text).map_err(|malformed| CliError::EnvFile {
        file: format!("{}:{}", file.display(), malformed.line),
        problem: malformed.problem,
    })
}

/// The binary targets of a package in `cargo metadata`, in target order.
fn bins(package: &Value) -> Vec<&str> {
    package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|target| {
            target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bin"))
        })
        .filter_map(|target| target["name"].as_str())
        .collect()
}

/// The extensions `[package.metadata.lambdakit.extensions.NAME]` declares in `package`, each
/// checked to be one of its binary targets.
fn extensions_of(package: &Value) -> Result<Vec<Extension>, CliError> {
    let at = "package.metadata.lambdakit.extensions";
    let tables = &package["metadata"]["lambdakit"]["extensions"];
    if tables.is_null() {
        return Ok(Vec::new());
    }
    let Some(tables) = tables.as_object() else {
        return Err(CliError::Config {
            key: at.into(),
            problem: "must be a table of extensions, `[package.metadata.lambdakit.extensions.NAME]` for each binary target that is one; a function names those it uses with `extensions = [...]` in `[package.metadata.lambdakit.functions.NAME]`".into(),
        });
    };
    let package_name = package["name"].as_str().unwrap_or_default();
    let targets = bins(package);
    let mut extensions = Vec::new();
    for (name, table) in tables {
        let key = format!("{at}.{name}");
        if !targets.contains(&name.as_str()) {
            let listed: Vec<String> = targets.iter().map(|bin| (*bin).to_owned()).collect();
            return Err(CliError::Config {
                problem: format!(
                    "names no binary target of `{package_name}`: an extension is a binary target (`src/bin/{name}.rs`, or a `[[bin]]`){} (the binary targets are {})",
                    crate::suggest::did_you_mean(name, targets.iter().copied()),
                    if listed.is_empty() {
                        "none".to_owned()
                    } else {
                        join(&listed)
                    }
                ),
                key,
            });
        }
        let mut extension = Extension {
            name: name.clone(),
            package: package_name.to_owned(),
            layer: name.clone(),
            description: None,
            architectures: Architecture::ALL.to_vec(),
        };
        let table = match table {
            Value::Object(table) => table.clone(),
            // `[package.metadata.lambdakit.extensions]` with `NAME = {}` or `NAME = true`.
            Value::Bool(true) => serde_json::Map::new(),
            _ => {
                return Err(CliError::Config {
                    key,
                    problem: "must be a table (`layer_name`, `description`, `compatible_architectures`), or `true`".into(),
                });
            }
        };
        for (setting, value) in &table {
            let key = format!("{key}.{setting}");
            let invalid = |problem: String| CliError::Config {
                key: key.clone(),
                problem,
            };
            match setting.as_str() {
                "layer_name" => {
                    let layer = value.as_str().filter(|layer| {
                        (1..=128).contains(&layer.len())
                            && layer
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    });
                    extension.layer = layer
                        .ok_or_else(|| {
                            invalid(
                                "must be 1 to 128 letters, digits, `-` or `_` (Lambda's layer names)"
                                    .into(),
                            )
                        })?
                        .to_owned();
                }
                "description" => {
                    let description = value
                        .as_str()
                        .ok_or_else(|| invalid("must be a string".into()))?;
                    extension.description = Some(description.to_owned());
                }
                "compatible_architectures" => {
                    let architectures = value
                        .as_array()
                        .and_then(|names| {
                            names
                                .iter()
                                .map(|name| name.as_str().and_then(Architecture::named))
                                .collect::<Option<Vec<_>>>()
                        })
                        .filter(|architectures| !architectures.is_empty())
                        .ok_or_else(|| {
                            invalid("must be a list of one or both of `x86_64` and `arm64`".into())
                        })?;
                    extension.architectures = Architecture::ALL
                        .into_iter()
                        .filter(|architecture| architectures.contains(architecture))
                        .collect();
                }
                _ => {
                    let valid: Vec<String> =
                        EXTENSION_KEYS.iter().map(|key| (*key).to_owned()).collect();
                    return Err(invalid(format!(
                        "is not a setting of an extension{}; the settings are {}",
                        crate::suggest::did_you_mean(setting, EXTENSION_KEYS),
                        join(&valid)
                    )));
                }
            }
        }
        let described = crate::deploy::extension::layer_description(&extension);
        let over = described
            .chars()
            .count()
            .saturating_sub(crate::deploy::extension::MAX_DESCRIPTION);
        if over > 0 {
            let allowed = extension
                .description
                .as_deref()
                .map_or(0, |description| description.chars().count())
                .saturating_sub(over);
            return Err(CliError::Config {
                key: format!("{key}.description"),
                problem: format!(
                    "must be at most {allowed} characters: deploy adds `{}` to say the layer is lambdakit's, and Lambda takes {} in all",
                    crate::deploy::extension::marker(&extension),
                    crate::deploy::extension::MAX_DESCRIPTION
                ),
            });
        }
        extensions.push(extension);
    }
    Ok(extensions)
}

/// The state machines the package `package` (its settings at `settings`, its directory `dir`)
/// declares, their definitions read and their references checked against `functions`, the
/// package's.
fn state_machines_of(
    package: &str,
    settings: &Value,
    dir: &std::path::Path,
    functions: &[&Function],
) -> Result<Vec<StateMachine>, CliError> {
    let at = "package.metadata.lambdakit.state_machines";
    let declared = &settings["state_machines"];
    if declared.is_null() {
        return Ok(Vec::new());
    }
    let mut machines = Vec::new();
    for (index, machine) in deploy_settings::state_machines(declared, at)?
        .into_iter()
        .enumerate()
    {
        let key = format!("{at}[{index}]");
        let file = dir.join(&machine.definition);
        let text = std::fs::read_to_string(&file).map_err(|error| CliError::Config {
            key: format!("{key}.definition"),
            problem: if error.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "names `{}`, which does not exist (`{}`); the path is relative to the package's directory",
                    machine.definition,
                    file.display()
                )
            } else {
                format!("names `{}`, which cannot be read: {error}", file.display())
            },
        })?;
        let definition = crate::deploy::definition::parse(&file, &text)?;
        let references = crate::deploy::definition::references(&file, &definition, functions)?;
        check_states(&file, &definition, functions)?;
        machines.push(StateMachine {
            package: package.to_owned(),
            key,
            settings: machine,
            file,
            definition,
            references,
            stage: None,
        });
    }
    Ok(machines)
}

/// Checks the Amazon States Language of `definition` (the file `file`) whole, its function
/// references standing for the functions' ARNs: every problem at once, each naming its state
/// and field.
fn check_states(
    file: &std::path::Path,
    definition: &Value,
    functions: &[&Function],
) -> Result<(), CliError> {
    let stand_in = |name: &str| format!("arn:aws:lambda:us-east-1:000000000000:function:{name}");
    let (resolved, _) = crate::deploy::definition::resolve(definition, functions, &stand_in);
    crate::states::validate(&resolved)
        .map(drop)
        .map_err(|invalid| CliError::Definition {
            file: file.display().to_string(),
            problem: format!("the definition is not valid Amazon States Language:\n{invalid}"),
            hint: "mend each state and field named; the Amazon States Language specification \
                   has every state's fields"
                .to_owned(),
        })
}

/// Checks that the extensions `function` names are the project's.
fn check_extensions_known(
    function: &Function,
    declared: &[Extension],
    at: &str,
) -> Result<(), CliError> {
    let known = || declared.iter().map(|extension| extension.name.as_str());
    let Some(unknown) = function
        .extensions
        .iter()
        .find(|name| !known().any(|known| known == name.as_str()))
    else {
        return Ok(());
    };
    let problem = if declared.is_empty() {
        format!(
            "names `{unknown}`, but the project declares no extension: declare it with `[package.metadata.lambdakit.extensions.{unknown}]`"
        )
    } else {
        let listed: Vec<String> = known().map(str::to_owned).collect();
        format!(
            "names `{unknown}`, which is not an extension of the project{} (the extensions are {})",
            crate::suggest::did_you_mean(unknown, known()),
            join(&listed)
        )
    };
    Err(CliError::Config {
        key: format!("{at}.extensions"),
        problem,
    })
}

fn join(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The cargo that runs us (cargo sets `CARGO` for its subcommands), else `cargo` on PATH.
pub(crate) fn cargo() -> PathBuf {
    #[allow(clippy::disallowed_methods)] // The CLI reads cargo's variable, not a Lambda's.
    let cargo = std::env::var_os("CARGO");
    cargo.map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn settings_apply_over_the_defaults() {
        let table = json!({"memory": 512, "timeout": 30, "environment": {"A": "1"}, "architecture": "arm64", "log_format": "JSON"});
        let function = settings_of(&table, "package.metadata.lambdakit", Table::Package)
            .unwrap()
            .apply(Function::defaults("f", "p"));
        assert_eq!(function.memory_mb, 512);
        assert_eq!(function.timeout, Duration::from_secs(30));
        assert_eq!(function.environment.get("A").map(String::as_str), Some("1"));
        assert_eq!(function.architecture, Architecture::Arm64);
        assert_eq!(function.log_format, Some(LogFormat::Json));
        assert_eq!(function.concurrency, 10);
    }

    #[test]
    fn amazon_roots_set_ssl_cert_file_unless_the_function_does() {
        let trusting = |table: serde_json::Value| {
            settings_of(&table, "package.metadata.lambdakit", Table::Package)
                .unwrap()
                .apply(Function::defaults("f", "p"))
        };
        let function = trusting(json!({"trust": "amazon-roots"}));
        assert_eq!(function.trust, Trust::AmazonRoots);
        assert_eq!(
            function
                .environment
                .get("SSL_CERT_FILE")
                .map(String::as_str),
            Some("/var/task/amazon-root-cas.pem")
        );
        let own = trusting(
            json!({"trust": "amazon-roots", "environment": {"SSL_CERT_FILE": "/opt/mine.pem"}}),
        );
        assert_eq!(
            own.environment.get("SSL_CERT_FILE").map(String::as_str),
            Some("/opt/mine.pem")
        );
        // A function's `system` undoes its package's `amazon-roots`.
        let undone = settings_of(&json!({"trust": "system"}), "f", Table::Function)
            .unwrap()
            .apply(function);
        assert_eq!(undone.trust, Trust::System);
        assert!(!undone.environment.contains_key("SSL_CERT_FILE"));
        assert_eq!(Function::defaults("f", "p").trust, Trust::System);
        let error = settings_of(
            &json!({"trust": "amazon"}),
            "package.metadata.lambdakit",
            Table::Package,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.contains("must be one of `system`, `amazon-roots`"),
            "{error}"
        );
    }

    #[test]
    fn extensions_are_declared_by_the_package_and_named_by_functions() {
        let package = json!({
            "name": "shop",
            "targets": [
                {"name": "shop", "kind": ["bin"]},
                {"name": "telemetry-shipper", "kind": ["bin"]},
                {"name": "shop", "kind": ["lib"]},
            ],
            "metadata": {"lambdakit": {"extensions": {
                "telemetry-shipper": {"layer_name": "shipper", "compatible_architectures": ["arm64"]},
            }}},
        });
        let declared = extensions_of(&package).unwrap();
        assert_eq!(
            declared,
            [Extension {
                name: "telemetry-shipper".into(),
                package: "shop".into(),
                layer: "shipper".into(),
                description: None,
                architectures: vec![Architecture::Arm64],
            }]
        );
        assert_eq!(declared[0].layer_name(Architecture::X86_64), "shipper");
        assert_eq!(declared[0].layer_name(Architecture::Arm64), "shipper-arm64");

        let at = "package.metadata.lambdakit.functions.shop";
        let function = settings_of(
            &json!({"extensions": ["telemetry-shipper"]}),
            at,
            Table::Function,
        )
        .unwrap()
        .apply(Function::defaults("shop", "shop"));
        assert_eq!(function.extensions, ["telemetry-shipper"]);
        assert!(check_extensions_known(&function, &declared, at).is_ok());
        for (table, says) in [
            (json!({"extensions": "telemetry-shipper"}), "must be a list"),
            (json!({"extensions": ["a", "a"]}), "names `a` twice"),
        ] {
            let Err(CliError::Config { key, problem }) = settings_of(&table, at, Table::Function)
            else {
                panic!("{table} was accepted");
            };
            assert_eq!(key, format!("{at}.extensions"));
            assert!(problem.contains(says), "{problem}");
        }

        let long = json!({
            "name": "shop",
            "targets": [{"name": "x", "kind": ["bin"]}],
            "metadata": {"lambdakit": {"extensions": {"x": {"description": "d".repeat(250)}}}},
        });
        let Err(CliError::Config { key, problem }) = extensions_of(&long) else {
            panic!("a description over Lambda's limit was accepted");
        };
        assert_eq!(key, "package.metadata.lambdakit.extensions.x.description");
        assert!(
            problem.starts_with("must be at most 209 characters: deploy adds `[lambdakit:package=shop lambdakit:extension=x]`"),
            "{problem}"
        );
    }

    #[test]
    fn bad_settings_name_the_key_and_what_is_allowed() {
        let cases = [
            (
                json!({"memory": 64}),
                "package.metadata.lambdakit.memory",
                "from 128 to 10240",
            ),
            (
                json!({"timeout": 901}),
                "package.metadata.lambdakit.timeout",
                "from 1 to 900",
            ),
            (
                json!({"architecture": "x86"}),
                "package.metadata.lambdakit.architecture",
                "must be one of `x86_64`, `arm64`",
            ),
            (
                json!({"environment": {"A": 1}}),
                "package.metadata.lambdakit.environment.A",
                "must be a string",
            ),
            (
                json!({"memmory": 256}),
                "package.metadata.lambdakit.memmory",
                "the settings are `memory`",
            ),
        ];
        for (table, key, problem) in cases {
            let Err(CliError::Config {
                key: found,
                problem: said,
            }) = settings_of(&table, "package.metadata.lambdakit", Table::Package)
            else {
                panic!("{table} was accepted");
            };
            assert_eq!(found, key);
            assert!(said.contains(problem), "{said}");
        }
        let per_function = settings_of(
            &json!({"functions": {}}),
            "package.metadata.lambdakit.functions.f",
            Table::Function,
        );
        assert!(matches!(per_function, Err(CliError::Config { .. })));
    }

    /// A scratch package directory with `files`, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str, files: &[(&str, &str)]) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("lambdakit-stage-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            for (path, text) in files {
                let path = dir.join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The functions `a` and `b` of `settings` as the stage `stage` deploys them.
    fn staged(settings: &Value, stage: &str, dir: &std::path::Path) -> Vec<Function> {
        let package = settings_of(settings, "package.metadata.lambdakit", Table::Package).unwrap();
        let stage = stage_of(settings, "shop", &["a", "b"], Some(stage), dir)
            .unwrap()
            .unwrap();
        ["a", "b"]
            .map(|bin| {
                let own = settings_of(
                    &settings["functions"][bin],
                    "package.metadata.lambdakit.functions.x",
                    Table::Function,
                )
                .unwrap();
                stage.apply(own.apply(package.apply(Function::defaults(bin, "shop"))))
            })
            .into()
    }

    #[test]
    fn a_stage_goes_over_the_package_and_the_function_and_its_env_files_over_all() {
        let scratch = Scratch::new(
            "overlay",
            &[
                (
                    "stages/prod.env",
                    "export API_KEY='prod-secret'\nSHARED=file\n",
                ),
                ("stages/prod-b.env", "SHARED=b-file\n"),
            ],
        );
        let settings = json!({
            "memory": 128,
            "environment": {"SHARED": "package", "LEVEL": "package"},
            "tags": {"team": "shop"},
            "functions": {"a": {"memory": 256, "name": "orders"}, "b": {"timeout": 10}},
            "stages": {
                "prod": {
                    "memory": 512,
                    "environment": {"LEVEL": "prod", "SHARED": "stage"},
                    "tags": {"cost": "prod"},
                    "env_file": "stages/prod.env",
                    "functions": {"b": {"memory": 1024, "name": "bee", "env_file": "stages/prod-b.env"}},
                },
                "dev": {"env_file": "stages/missing.env"},
            },
        });
        let [a, b] = <[Function; 2]>::try_from(staged(&settings, "prod", &scratch.0)).unwrap();
        // The function's own `name`, then the stage's; the stage's memory over both tables.
        assert_eq!(a.aws_name(), "orders-prod");
        assert_eq!(a.memory_mb, 512);
        assert_eq!(b.aws_name(), "bee");
        assert_eq!(b.memory_mb, 1024);
        assert_eq!(b.timeout, Duration::from_secs(10));
        assert_eq!(a.stage.as_deref(), Some("prod"));
        assert_eq!(
            a.deploy.tags,
            BTreeMap::from([
                ("team".into(), "shop".into()),
                ("cost".into(), "prod".into())
            ])
        );
        let value = |function: &Function, name: &str| function.environment[name].clone();
        assert_eq!(value(&a, "LEVEL"), "prod");
        assert_eq!(value(&a, "SHARED"), "file");
        assert_eq!(value(&a, "API_KEY"), "prod-secret");
        assert_eq!(value(&b, "SHARED"), "b-file");
        assert_eq!(
            a.from_env_file,
            BTreeSet::from(["API_KEY".to_owned(), "SHARED".to_owned()])
        );
        assert!(!b.from_env_file.contains("LEVEL"));
        // Another stage's env file (`dev`'s is missing) is read only when that stage is
        // deployed; without a stage, none is.
        assert!(
            stage_of(&settings, "shop", &["a", "b"], None, &scratch.0)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_stages_are_refused_with_the_key_and_the_fix() {
        let scratch = Scratch::new(
            "errors",
            &[
                ("bad-line.env", "# ok\nAPI_KEY secret\n"),
                ("bad-name.env", "\n\nmy-key=1\n"),
            ],
        );
        let with = |stages: Value| json!({"stages": stages});
        let config = [
            (
                with(json!({"dev": {}, "prod": {}})),
                "prd",
                "--stage",
                "names `prd`, which is not a stage of the package `shop`; did you mean `prod`? (its stages are `dev`, `prod`)",
            ),
            (
                json!({}),
                "dev",
                "--stage",
                "the package `shop` defines no stage",
            ),
            (
                with(json!({"dev": {"memmory": 256}})),
                "dev",
                "package.metadata.lambdakit.stages.dev.memmory",
                "is not a setting; did you mean `memory`?; the settings are `memory`",
            ),
            (
                with(json!({"dev": {"functions": {"a": {"timout": 5}}}})),
                "dev",
                "package.metadata.lambdakit.stages.dev.functions.a.timout",
                "did you mean `timeout`?",
            ),
            (
                with(json!({"dev": {"functions": {"c": {}}}})),
                "dev",
                "package.metadata.lambdakit.stages.dev.functions.c",
                "names no binary target of `shop`",
            ),
            (
                with(json!({"dev": {"extensions": ["x"]}})),
                "dev",
                "package.metadata.lambdakit.stages.dev.extensions",
                "its `functions.NAME` table",
            ),
            (
                with(json!({"dev": {"env_file": 1}})),
                "dev",
                "package.metadata.lambdakit.stages.dev.env_file",
                "must be the path of a `.env` file",
            ),
            (
                with(json!({"dev": {"env_file": "nowhere.env"}})),
                "dev",
                "package.metadata.lambdakit.stages.dev.env_file",
                "names `nowhere.env`, which does not exist",
            ),
            (
                with(json!({"dev": {"functions": {"a": {"env_file": "gone.env"}}}})),
                "dev",
                "package.metadata.lambdakit.stages.dev.functions.a.env_file",
                "which does not exist",
            ),
            (
                with(json!({"dev": {"memory": 64}})),
                "dev",
                "package.metadata.lambdakit.stages.dev.memory",
                "from 128 to 10240",
            ),
            (
                with(json!({"dev ops": {}})),
                "dev",
                "package.metadata.lambdakit.stages.dev ops",
                "letters, digits, `-` and `_`",
            ),
            (
                json!({"stages": ["dev"]}),
                "dev",
                "package.metadata.lambdakit.stages",
                "must be a table of stages",
            ),
        ];
        for (settings, stage, at, says) in config {
            let Err(CliError::Config { key, problem }) =
                stage_of(&settings, "shop", &["a", "b"], Some(stage), &scratch.0)
            else {
                panic!("{settings} was accepted");
            };
            assert_eq!(key, at, "{settings}");
            assert!(problem.contains(says), "{settings}: {problem}");
        }
        let files = [
            ("bad-line.env", "bad-line.env:2", "has no `=`"),
            (
                "bad-name.env",
                "bad-name.env:3",
                "`my-key` is not a variable name",
            ),
        ];
        for (name, at, says) in files {
            let settings = with(json!({"dev": {"env_file": name}}));
            let Err(CliError::EnvFile { file, problem }) =
                stage_of(&settings, "shop", &["a"], Some("dev"), &scratch.0)
            else {
                panic!("{name} was accepted");
            };
            assert!(file.ends_with(at), "{file}");
            assert!(problem.contains(says), "{problem}");
        }
        // A package without functions needs no stage.
        assert!(
            stage_of(&json!({}), "tools", &[], Some("dev"), &scratch.0)
                .unwrap()
                .is_none()
        );
    }
}
