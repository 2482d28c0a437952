//! `cargo lambdakit new NAME`: a function crate for a chosen event kind, written with
//! `#[lambda_kit::handler]`, with a unit test and a test through the runtime harness, that
//! builds, tests and serves as it is. `new --extension NAME`: an external Lambda extension
//! (`lambda_kit::extension`) with its tests, and a function that runs with it, declared so
//! that `build`, `deploy` and `serve` take both.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};

use crate::error::CliError;

/// What triggers a function `new` writes (`--event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trigger {
    /// A function URL: `aws_lambda_events`' `LambdaFunctionUrlRequest`.
    Http,
    /// An S3 event notification.
    S3,
    /// A batch of SQS messages.
    Sqs,
    /// An EventBridge schedule.
    Schedule,
    /// Any JSON the caller sends.
    #[default]
    Json,
}

impl Trigger {
    const ALL: [Self; 5] = [Self::Http, Self::S3, Self::Sqs, Self::Schedule, Self::Json];

    /// Its name on the command line.
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::S3 => "s3",
            Self::Sqs => "sqs",
            Self::Schedule => "schedule",
            Self::Json => "json",
        }
    }

    /// The example event `invoke --event` sends such a function, if there is one.
    fn example(self) -> Option<&'static str> {
        match self {
            Self::Http => Some("function-url"),
            Self::S3 => Some("s3-put"),
            Self::Sqs => Some("sqs"),
            Self::Schedule => Some("schedule"),
            Self::Json => None,
        }
    }

    /// The `aws_lambda_events` feature its event type needs, if any.
    fn events_feature(self) -> Option<&'static str> {
        match self {
            Self::Http => Some("lambda_function_urls"),
            Self::S3 => Some("s3"),
            Self::Sqs => Some("sqs"),
            Self::Schedule => Some("eventbridge"),
            Self::Json => None,
        }
    }

    /// The function's source.
    fn source(self) -> &'static str {
        match self {
            Self::Http => include_str!("../../templates/new/http.rs"),
            Self::S3 => include_str!("../../templates/new/s3.rs"),
            Self::Sqs => include_str!("../../templates/new/sqs.rs"),
            Self::Schedule => include_str!("../../templates/new/schedule.rs"),
            Self::Json => include_str!("../../templates/new/json.rs"),
        }
    }
}

// By hand rather than derived, as in `prelude.rs`: a derived `ValueEnum` takes the variants'
// docs as help for each value, which changes how `--help` lays out the options.
impl ValueEnum for Trigger {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

/// What `new` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Template {
    /// A function for this trigger.
    Function(Trigger),
    /// An extension, with a function that runs with it.
    Extension,
}

/// Options of `new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The function's (or extension's) name (a crate name: lowercase letters, digits, `-` and
    /// `_`).
    pub name: String,
    /// What triggers it: http, s3, sqs, schedule or json.
    #[arg(long, value_enum, default_value = "json", hide_possible_values = true)]
    pub event: Trigger,
    /// Write a Lambda extension instead (an external one, shipped as a layer), with a function
    /// that runs with it.
    #[arg(long, conflicts_with = "event")]
    pub extension: bool,
    /// Where to create it (default: `./NAME`).
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
}

pub(crate) fn run(args: NewArgs) -> Result<ExitCode, CliError> {
    let what = if args.extension {
        "an extension"
    } else {
        "a function"
    };
    let valid_name = !args.name.is_empty()
        && args.name.starts_with(|c: char| c.is_ascii_lowercase())
        && args
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid_name {
        return Err(CliError::Config {
            key: "NAME".into(),
            problem: format!(
                "is `{}`; {what}'s name starts with a lowercase letter and has only lowercase letters, digits, `-` and `_`",
                args.name
            ),
        });
    }
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        return Err(CliError::Config {
            key: dir.display().to_string(),
            problem: "exists already; choose another name or `--path`".into(),
        });
    }
    if args.extension {
        new_extension(&args.name, &dir)
    } else {
        new_function(&args.name, args.event, &dir)
    }
}

fn new_function(name: &str, trigger: Trigger, dir: &Path) -> Result<ExitCode, CliError> {
    let files = [
        ("Cargo.toml", manifest(name, Template::Function(trigger))),
        ("src/main.rs", trigger.source().to_owned()),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (path, contents) in &files {
        write(&dir.join(path), contents)?;
    }
    println!(
        "created `{name}` ({} function) in {}",
        trigger.as_str(),
        dir.display()
    );
    println!("  cd {} && cargo test", dir.display());
    let event = match trigger.example() {
        Some(example) => format!("--event {example}"),
        None => "--data '{\"name\": \"Ada\"}'".to_owned(),
    };
    println!("  cargo lambdakit serve   # then: cargo lambdakit invoke {name} {event}");
    Ok(ExitCode::SUCCESS)
}

/// An extension `name` (`src/main.rs`) and a function that runs with it, `NAME-greeter`
/// (`src/bin/NAME-greeter.rs`, the JSON function), declared as such in the manifest.
fn new_extension(name: &str, dir: &Path) -> Result<ExitCode, CliError> {
    let function = greeter(name);
    let files = [
        ("Cargo.toml", manifest(name, Template::Extension)),
        (
            "src/main.rs",
            include_str!("../../templates/new/extension.rs").to_owned(),
        ),
        (
            &format!("src/bin/{function}.rs"),
            Trigger::Json.source().to_owned(),
        ),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (path, contents) in &files {
        write(&dir.join(path), contents)?;
    }
    println!(
        "created the extension `{name}`, and the function `{function}` that runs with it, in {}",
        dir.display()
    );
    println!("  cd {} && cargo test", dir.display());
    println!(
        "  cargo lambdakit serve   # then: cargo lambdakit invoke {function} --data '{{\"name\": \"Ada\"}}' (the extension's lines are in serve's output)"
    );
    println!(
        "  cargo lambdakit deploy  # publishes `{name}` as a layer and attaches it to `{function}`"
    );
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, contents: &str) -> Result<(), CliError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .and_then(|()| std::fs::write(path, contents))
        .map_err(|error| CliError::Config {
            key: path.display().to_string(),
            problem: format!("cannot be written: {error}"),
        })
}

/// Where lambda-kit comes from: this checkout when the command was built from one (until
/// lambda-kit is published), else its version.
fn lambda_kit_dependency(features: &str) -> String {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lambda-kit");
    match checkout.canonicalize() {
        Ok(path) => format!("{{ path = {:?}{features} }}", path.display().to_string()),
        Err(_) => format!(
            "{{ version = \"{}\"{features} }}",
            env!("CARGO_PKG_VERSION")
        ),
    }
}

/// The function that runs with the extension `name`.
fn greeter(name: &str) -> String {
    format!("{name}-greeter")
}

/// The package's manifest.
fn manifest(name: &str, template: Template) -> String {
    let (events, runtime, testing, tokio, settings) = match template {
        Template::Function(trigger) => (
            trigger.events_feature(),
            "",
            r#", features = ["testing"]"#,
            "",
            String::new(),
        ),
        Template::Extension => (
            None,
            r#", features = ["extension"]"#,
            r#", features = ["extension", "testing"]"#,
            r#", "time""#,
            format!(
                r#"
# The extension (the binary `{name}`): `build` lays it out as `extensions/{name}` in a layer
# zip, `deploy` publishes it as a layer version, `serve` starts it beside the functions that
# name it.
[package.metadata.lambdakit.extensions.{name}]
description = "Logs each invocation and its report"

# A function that runs with it.
[package.metadata.lambdakit.functions.{function}]
extensions = ["{name}"]
"#,
                function = greeter(name)
            ),
        ),
    };
    let events = events
        .map(|feature| format!("aws_lambda_events = {{ version = \"1.2\", default-features = false, features = [\"{feature}\"] }}\n"))
        .unwrap_or_default();
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
{events}lambda-kit = {runtime}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"
tracing = "0.1"

[dev-dependencies]
lambda-kit = {testing}
tokio = {{ version = "1", features = ["macros", "rt"{tokio}] }}

# Settings for `cargo lambdakit serve`, `build` and `deploy`.
[package.metadata.lambdakit]
memory = 128
timeout = 10
{settings}
[profile.release]
# Small and quick to start; `panic = "unwind"` (the default) lets lambda-kit report panics.
lto = true
codegen-units = 1
strip = true
"#,
        runtime = lambda_kit_dependency(runtime),
        testing = lambda_kit_dependency(testing),
    )
}
