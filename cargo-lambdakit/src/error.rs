//! The mistakes a user can fix, each with one line of what is wrong and a hint of what to do.

use std::fmt;
use std::process::ExitCode;

/// Exit codes, as scripts see them.
pub mod exit_codes {
    /// The command did what was asked.
    pub const OK: u8 = 0;
    /// The invoked function failed (`invoke`): its error was printed.
    pub const FUNCTION_ERROR: u8 = 1;
    /// A mistake in the command line, the project or its configuration.
    pub const USAGE: u8 = 2;
    /// `cargo build` failed; its output has been shown.
    pub const BUILD_FAILED: u8 = 3;
    /// Something outside the project failed: a port, a process, the local emulator, AWS.
    pub const ENVIRONMENT: u8 = 4;
}

/// What went wrong, in terms the user can act on.
#[derive(Debug)]
#[non_exhaustive]
pub enum CliError {
    /// `cargo metadata` could not describe the project.
    Metadata {
        /// Cargo's own words.
        message: String,
    },
    /// No binary target of that name, or none at all.
    NoFunction {
        /// The name asked for.
        wanted: Option<String>,
        /// The functions there are.
        available: Vec<String>,
    },
    /// A setting or option is wrong.
    Config {
        /// Where: the setting's path or the option.
        key: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
    /// `cargo build` failed; its output has been shown.
    CargoFailed {
        /// How it ended.
        status: String,
    },
    /// A static (musl) build failed on a C library that cannot be linked into it.
    NotStatic {
        /// Each crate at fault, and why: `links the system library `ssl``.
        culprits: Vec<(String, String)>,
        /// The Rust target it was built for.
        triple: String,
        /// Where cargo's full output is.
        log: String,
    },
    /// A static build gave lambda-kit's talc to a crate that sets a `#[global_allocator]` of
    /// its own.
    TwoAllocators {
        /// Where cargo's full output is.
        log: String,
    },
    /// The local emulator could not listen.
    Bind {
        /// The address asked for.
        address: String,
        /// Why not.
        message: String,
    },
    /// A request to the local emulator failed.
    Emulator {
        /// What happened.
        message: String,
    },
    /// A tool the command needs is not installed.
    Missing {
        /// What is missing.
        what: String,
        /// The command that installs it.
        install: String,
    },
    /// A built binary would not run on Lambda as configured.
    Binary {
        /// The function.
        function: String,
        /// What is wrong with it.
        problem: String,
        /// What to do.
        hint: String,
    },
    /// The local Lambda refused the invocation.
    Rejected {
        /// The AWS error type, such as `ResourceNotFoundException`.
        error_type: String,
        /// Its message.
        message: String,
    },
    /// The local Lambda keeps no trace of this id (`cargo lambdakit traces ID`).
    NoTrace {
        /// The id asked for.
        id: String,
    },
    /// The local Lambda refused `cargo lambdakit traces` (a missing token, say).
    TracesRefused {
        /// The AWS error type, such as `MissingAuthenticationTokenException`.
        error_type: String,
        /// Its message.
        message: String,
    },
    /// Reading a payload failed.
    Payload {
        /// Where it was read from.
        source: String,
        /// Why it failed.
        message: String,
    },
    /// The AWS region or credentials are missing.
    AwsSetup {
        /// What is missing.
        problem: String,
        /// Where to set it.
        hint: String,
    },
    /// An AWS call failed.
    Aws {
        /// The call, as IAM names it (`lambda:CreateFunction`).
        operation: String,
        /// AWS's error code, when AWS answered.
        code: Option<String>,
        /// AWS's message, or why AWS could not be reached.
        message: String,
    },
    /// Serving as asked would let strangers run code as the user.
    Exposure {
        /// What would be exposed, and to whom.
        problem: String,
        /// The safe way to do it.
        hint: String,
    },
    /// What the command reads on AWS is not there (a function, its log group).
    Absent {
        /// What is missing, and where it was looked for.
        problem: String,
        /// What to do.
        hint: String,
    },
    /// Reading or writing outside AWS failed: the output, a signal.
    Io {
        /// What could not be done, such as `write the output`.
        what: String,
        /// Why.
        message: String,
    },
    /// A state machine's definition file cannot be used as it is.
    Definition {
        /// The file.
        file: String,
        /// What is wrong, and where in it.
        problem: String,
        /// What to do.
        hint: String,
    },
    /// A stage's env file (`env_file`) has a line that is not a variable.
    EnvFile {
        /// The file and the line: `/path/stages/prod.env:3`.
        file: String,
        /// What is wrong with the line (never its value).
        problem: String,
    },
    /// Deploying would change something it must not on its own.
    Conflict {
        /// The resource.
        resource: String,
        /// What is in the way.
        problem: String,
        /// What to do.
        hint: String,
    },
}

impl CliError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Metadata { .. } => {
                Some("run it inside a cargo project, or pass `--manifest-path`".into())
            }
            Self::NoFunction { available, .. } if available.is_empty() => Some(
                "a function is a binary target: add `src/main.rs` with a `#[lambda_kit::handler]`"
                    .into(),
            ),
            Self::NoFunction { available, .. } => {
                Some(format!("the functions here are: {}", available.join(", ")))
            }
            Self::Config { .. } => {
                Some("fix it in `[package.metadata.lambdakit]` of Cargo.toml".into())
            }
            Self::CargoFailed { .. } => None,
            Self::NotStatic { log, .. } => Some(format!(
                "use the crate's pure-Rust alternative (the `rustls` features of your HTTP and AWS \
                 crates rather than OpenSSL or native-tls), or link glibc with `--libc glibc`; \
                 cargo's output is in `{log}`"
            )),
            Self::TwoAllocators { log } => Some(format!(
                "build with `--allocator system` to keep your crate's allocator; cargo's output \
                 is in `{log}`"
            )),
            Self::Bind { .. } => Some("choose another port with `--port`".into()),
            Self::Emulator { .. } => Some(
                "start the local emulator with `cargo lambdakit serve`, or pass `--endpoint`"
                    .into(),
            ),
            Self::Missing { install, .. } => Some(format!("install it with `{install}`")),
            Self::Binary { hint, .. } => Some(hint.clone()),
            Self::Rejected { error_type, .. } if error_type == "ResourceNotFoundException" => {
                Some("`serve` lists the functions it runs when it starts".into())
            }
            Self::Rejected { error_type, .. } if error_type == "TooManyRequestsException" => Some(
                "every instance is busy: raise `concurrency` in `[package.metadata.lambdakit]`"
                    .into(),
            ),
            Self::Rejected { .. } => None,
            Self::TracesRefused { .. } => Some(
                "a serve started with `--token` or `--allow-remote` takes its token from `traces --token` (or `LAMBDAKIT_SERVE_TOKEN`)".into(),
            ),
            Self::NoTrace { .. } => Some(
                "`cargo lambdakit traces` lists the ones serve keeps: the last 1000 traces of sampled invocations".into(),
            ),
            Self::Payload { .. } => {
                Some("pass the event as `--data JSON`, `--data-file PATH` or on stdin".into())
            }
            Self::Io { .. } => None,
            Self::EnvFile { .. } => Some(
                "write each line as `NAME=value` (`export ` before it, and single or double \
                 quotes around the value, allowed), a `#` comment, or nothing"
                    .into(),
            ),
            Self::AwsSetup { hint, .. }
            | Self::Absent { hint, .. }
            | Self::Conflict { hint, .. }
            | Self::Definition { hint, .. }
            | Self::Exposure { hint, .. } => Some(hint.clone()),
            Self::Aws { operation, code, .. } => match code.as_deref() {
                Some(code) if code.starts_with("AccessDenied") || code == "AuthorizationError" => {
                    Some(format!(
                        "the credentials' identity needs the IAM permission `{operation}`"
                    ))
                }
                Some(
                    "ExpiredToken" | "ExpiredTokenException" | "InvalidClientTokenId"
                    | "UnrecognizedClientException" | "SignatureDoesNotMatch"
                    | "InvalidSignatureException",
                ) => Some(
                    "the AWS credentials are invalid or expired: renew them (`aws sso login`, `aws configure`)"
                        .into(),
                ),
                Some(_) => None,
                None => Some("check the network, and `AWS_ENDPOINT_URL` if it is set".into()),
            },
        }
    }

    /// The process's exit code for it.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::CargoFailed { .. } | Self::NotStatic { .. } | Self::TwoAllocators { .. } => {
                exit_codes::BUILD_FAILED
            }
            Self::Bind { .. }
            | Self::Emulator { .. }
            | Self::Rejected { .. }
            | Self::TracesRefused { .. }
            | Self::AwsSetup { .. }
            | Self::Aws { .. }
            | Self::Absent { .. }
            | Self::Io { .. }
            | Self::Conflict { .. } => exit_codes::ENVIRONMENT,
            _ => exit_codes::USAGE,
        }
    }

    /// Prints `error:` and `hint:` to stderr and returns the exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("error: {self}");
        if let Some(hint) = self.hint() {
            eprintln!("hint: {hint}");
        }
        ExitCode::from(self.exit_code())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Metadata { message } => write!(
                f,
                "cannot read the project with `cargo metadata`: {message}"
            ),
            Self::NoFunction {
                wanted: Some(name), ..
            } => write!(f, "there is no function `{name}`"),
            Self::NoFunction { wanted: None, .. } => {
                f.write_str("this project has no function (binary target)")
            }
            Self::Config { key, problem } => write!(f, "`{key}` {problem}"),
            Self::CargoFailed { status } => write!(f, "`cargo build` failed ({status})"),
            Self::TwoAllocators { .. } => f.write_str(
                "a static build gives functions on lambda-kit talc as their allocator (its `talc` \
                 feature), and this crate sets a `#[global_allocator]` of its own",
            ),
            Self::NotStatic {
                culprits, triple, ..
            } => {
                write!(
                    f,
                    "a static build for `{triple}` cannot link C from the system: "
                )?;
                for (index, (krate, why)) in culprits.iter().enumerate() {
                    if index > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "`{krate}` {why}")?;
                }
                Ok(())
            }
            Self::Bind { address, message } => write!(f, "cannot listen on `{address}`: {message}"),
            Self::Emulator { message } => write!(f, "the local Lambda did not answer: {message}"),
            Self::Missing { what, .. } => write!(f, "{what} is not installed"),
            Self::Binary {
                function, problem, ..
            } => write!(f, "`{function}` would not run on Lambda: {problem}"),
            Self::Rejected {
                error_type,
                message,
            } => write!(
                f,
                "the local Lambda refused the invocation: {error_type}: {message}"
            ),
            Self::Payload { source, message } => {
                write!(f, "cannot read the payload from {source}: {message}")
            }
            Self::NoTrace { id } => write!(f, "serve keeps no trace `{id}`"),
            Self::TracesRefused {
                error_type,
                message,
            } => write!(
                f,
                "serve refused to show its traces: {error_type}: {message}"
            ),
            Self::AwsSetup { problem, .. }
            | Self::Exposure { problem, .. }
            | Self::Absent { problem, .. } => f.write_str(problem),
            Self::Io { what, message } => write!(f, "cannot {what}: {message}"),
            Self::Aws {
                operation,
                code: Some(code),
                message,
            } => write!(f, "AWS refused `{operation}`: {code}: {message}"),
            Self::Aws {
                operation, message, ..
            } => write!(f, "`{operation}` did not reach AWS: {message}"),
            Self::Conflict {
                resource, problem, ..
            } => write!(f, "{resource} {problem}"),
            Self::Definition { file, problem, .. } | Self::EnvFile { file, problem } => {
                write!(f, "`{file}`: {problem}")
            }
        }
    }
}

impl std::error::Error for CliError {}
