//! `cargo lambdakit new NAME`: a function crate for a chosen event kind, written with
//! `#[lambda_kit::handler]`, with a unit test and a test through the runtime harness, that
//! builds, tests and serves as it is.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::error::CliError;

/// The kinds of function `new` writes, with the example event `invoke --event` sends them.
pub(crate) const KINDS: [(&str, &str); 5] = [
    ("http", "function-url"),
    ("s3", "s3-put"),
    ("sqs", "sqs"),
    ("schedule", "schedule"),
    ("json", ""),
];

/// Options of `new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The function's name (a crate name: lowercase letters, digits, `-` and `_`).
    pub name: String,
    /// What triggers it: http, s3, sqs, schedule or json.
    #[arg(long, default_value = "json")]
    pub event: String,
    /// Where to create it (default: `./NAME`).
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
}

pub(crate) fn run(args: NewArgs) -> Result<ExitCode, CliError> {
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
                "is `{}`; a function's name starts with a lowercase letter and has only lowercase letters, digits, `-` and `_`",
                args.name
            ),
        });
    }
    let Some(&(kind, example)) = KINDS.iter().find(|(kind, _)| *kind == args.event) else {
        let kinds: Vec<&str> = KINDS.iter().map(|(kind, _)| *kind).collect();
        return Err(CliError::Config {
            key: "--event".into(),
            problem: format!("is `{}`; the kinds are {}", args.event, kinds.join(", ")),
        });
    };
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
    let files = [
        ("Cargo.toml", manifest(&args.name, kind)),
        ("src/main.rs", source(kind).to_owned()),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (path, contents) in &files {
        write(&dir.join(path), contents)?;
    }
    println!(
        "created `{}` ({kind} function) in {}",
        args.name,
        dir.display()
    );
    println!("  cd {} && cargo test", dir.display());
    let event = if example.is_empty() {
        "--data '{\"name\": \"Ada\"}'".to_owned()
    } else {
        format!("--event {example}")
    };
    println!(
        "  cargo lambdakit serve   # then: cargo lambdakit invoke {} {event}",
        args.name
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

fn manifest(name: &str, kind: &str) -> String {
    let events = match kind {
        "http" => Some("lambda_function_urls"),
        "s3" => Some("s3"),
        "sqs" => Some("sqs"),
        "schedule" => Some("eventbridge"),
        _ => None,
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
tokio = {{ version = "1", features = ["macros", "rt"] }}

# Settings for `cargo lambdakit serve`, `build` and `deploy`.
[package.metadata.lambdakit]
memory = 128
timeout = 10

[profile.release]
# Small and quick to start; `panic = "unwind"` (the default) lets lambda-kit report panics.
lto = true
codegen-units = 1
strip = true
"#,
        runtime = lambda_kit_dependency(""),
        testing = lambda_kit_dependency(r#", features = ["testing"]"#),
    )
}

fn source(kind: &str) -> &'static str {
    match kind {
        "http" => include_str!("../../templates/new/http.rs"),
        "s3" => include_str!("../../templates/new/s3.rs"),
        "sqs" => include_str!("../../templates/new/sqs.rs"),
        "schedule" => include_str!("../../templates/new/schedule.rs"),
        _ => include_str!("../../templates/new/json.rs"),
    }
}
