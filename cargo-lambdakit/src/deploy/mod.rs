//! Deploying functions to AWS: each resource (role, function, code, URL, triggers) is read,
//! compared with what the settings ask for, and created, updated or left alone, so that
//! running deploy again converges and a `--dry-run` can show the same plan without changing
//! anything.
//!
//! Ownership: what deploy creates carries the tags `lambdakit:package` and
//! `lambdakit:function` (`lambdakit:state-machine` for state machines and their roles), and
//! `lambdakit:stage` when deployed as a stage (`--stage`) (or, where AWS has no tags, an id
//! starting with `lambdakit-` and the function's name, which ends with the stage's, and for
//! the layer versions of extensions a marker ending their description, see `extension`), and
//! deploy and destroy touch nothing else: nothing of another stage, nor of none.

pub mod api;
mod capacity;
pub mod definition;
pub mod destroy;
pub mod extension;
mod function;
mod local;
mod operation;
mod role;
pub mod settings;
pub mod state_machine;
pub mod template;
mod triggers;

pub use triggers::{Mapped, notification_id, rule_name as schedule_rule_name, source_arn};

use serde_json::{Value, json};

use crate::aws::Aws;
use crate::error::CliError;
use crate::package::zip::Archive;
use crate::project::Function;

/// The tag naming the package a resource was deployed from.
pub const TAG_PACKAGE: &str = "lambdakit:package";
/// The tag naming the binary a resource was deployed for.
pub const TAG_FUNCTION: &str = "lambdakit:function";
/// The tag naming the stage a resource was deployed as (`--stage`); absent without one.
pub const TAG_STAGE: &str = "lambdakit:stage";
/// The prefix of ids and statement ids deploy gives where AWS has no tags.
pub const ID_PREFIX: &str = "lambdakit-";

/// One function to deploy: its settings and its built code.
#[derive(Debug)]
pub struct Unit<'a> {
    /// The function's settings.
    pub function: &'a Function,
    /// Its zip.
    pub code: &'a Archive,
}

/// How to deploy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Read and plan, change nothing.
    pub dry_run: bool,
    /// Take over a function of that name that lambdakit did not create.
    pub adopt: bool,
    /// Move a function to another architecture instead of refusing.
    pub change_architecture: bool,
    /// No progress lines.
    pub quiet: bool,
}

/// What deploy does (or, dry, would do) to one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// It does not exist yet.
    Create,
    /// It differs in these ways.
    Update(Vec<String>),
    /// It is as asked.
    Unchanged,
    /// It is no longer asked for.
    Delete,
}

/// One resource's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What kind: `role`, `function`, `code`, `url`, `alias`, `trigger`, ...
    pub kind: &'static str,
    /// Which one.
    pub name: String,
    /// What happens to it.
    pub action: Action,
}

impl Change {
    fn new(kind: &'static str, name: impl Into<String>, action: Action) -> Self {
        Self {
            kind,
            name: name.into(),
            action,
        }
    }

    /// Whether anything is done to it.
    pub fn changes(&self) -> bool {
        self.action != Action::Unchanged
    }
}

/// What happened to (or, dry, is planned for) one function.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Its name on AWS.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Each resource's action, in the order done.
    pub changes: Vec<Change>,
    /// Its function URL, when it has one (known after it is created).
    pub url: Option<String>,
    /// The version published by this deploy, if any.
    pub version: Option<String>,
    /// What was left out, and why (`deploy --local`: what serve does not run).
    pub notes: Vec<String>,
}

/// Says what deploy is doing on stderr: notes unless quiet, and its long steps (uploading
/// code, waiting for Lambda) as [`crate::status`] shows them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    quiet: bool,
    style: crate::status::Style,
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Self {
        Self {
            quiet,
            style: crate::status::Style::for_stderr(quiet),
        }
    }

    /// Starts a long step, shown until it ends.
    pub(crate) fn step(&self, what: impl Into<String>) -> crate::status::Step {
        self.style.start(what)
    }

    pub(crate) fn note(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }
}

/// Deploys one function: its role, the function, its code, concurrency, version and alias,
/// URL and triggers.
///
/// # Errors
///
/// When AWS refuses a call, or a resource is in the way (not created by lambdakit, another
/// architecture): nothing after it is changed, and deploying again resumes.
pub async fn deploy(aws: &Aws, unit: &Unit<'_>, options: Options) -> Result<Outcome, CliError> {
    let progress = Progress::new(options.quiet || options.dry_run);
    let name = unit.function.aws_name().to_owned();
    progress.note(format_args!("deploying `{name}`"));
    let mut changes = Vec::new();
    let local = aws.local.is_some();
    // serve's Lambda API has no IAM, no S3 and no event sources (see `local`): the function
    // goes without them, with a note for each setting left out.
    let (function, notes) = if local {
        local::adapted(unit.function, &aws.region)
    } else {
        (triggers::resolve(aws, unit.function).await?, Vec::new())
    };
    let unit = &Unit {
        function: &function,
        code: unit.code,
    };
    // What does not depend on another runs at once: the role, the log group and reading the
    // function; then the function; then its asynchronous settings, recursion and triggers.
    let role = async {
        match &function.deploy.role {
            None if local => Ok((local::role(), None)),
            _ => role::ensure(aws, unit, options).await,
        }
    };
    let log_group = async {
        match local {
            // Before the function: Lambda would make a bare one at its first log line.
            false => operation::log_group(aws, unit, options).await,
            true => Ok(None),
        }
    };
    let capacity = async {
        match local {
            false => capacity::ensure(aws, unit, options, progress).await,
            true => Ok((local::capacity_provider(&function, aws), Vec::new())),
        }
    };
    let ((role_arn, role_change), log_group, (capacity, capacity_changes), existing) =
        tokio::try_join!(role, log_group, capacity, function::current(aws, &name))?;
    changes.extend(role_change);
    changes.extend(log_group);
    changes.extend(capacity_changes);
    let placed = (role_arn.as_str(), capacity.as_deref());
    let deployed = function::ensure(aws, unit, existing, placed, options, progress).await?;
    changes.extend(deployed.changes);
    let after = async {
        match local {
            false => {
                let (recursion, triggers) = tokio::try_join!(
                    operation::recursion(aws, unit, options),
                    triggers::ensure(aws, unit, &deployed.arn, options, progress)
                )?;
                Ok(recursion.into_iter().chain(triggers).collect())
            }
            true => Ok(Vec::new()),
        }
    };
    let (invoke_config, after): (_, Vec<Change>) =
        tokio::try_join!(operation::invoke_config(aws, unit, options), after)?;
    changes.extend(invoke_config);
    changes.extend(after);
    Ok(Outcome {
        name,
        arn: deployed.arn,
        changes,
        url: deployed.url,
        version: deployed.version,
        notes,
    })
}

/// The plan or the outcome, as text: one line per resource.
pub fn render(outcome: &Outcome) -> String {
    let mut text = format!("{} ({})\n", outcome.name, outcome.arn);
    for change in &outcome.changes {
        let (mark, detail) = match &change.action {
            Action::Create => ('+', String::new()),
            Action::Update(what) => ('~', format!(": {}", what.join(", "))),
            Action::Unchanged => ('=', String::new()),
            Action::Delete => ('-', String::new()),
        };
        text.push_str(&format!(
            "  {mark} {:<9} {}{detail}\n",
            change.kind, change.name
        ));
    }
    if let Some(url) = &outcome.url {
        text.push_str(&format!("  url: {url}\n"));
    }
    if let Some(version) = &outcome.version {
        text.push_str(&format!("  version: {version}\n"));
    }
    text
}

/// The plan or the outcome, as JSON.
pub fn to_json(outcome: &Outcome) -> Value {
    let changes: Vec<Value> = outcome
        .changes
        .iter()
        .map(|change| {
            let (action, details) = match &change.action {
                Action::Create => ("create", Vec::new()),
                Action::Update(what) => ("update", what.clone()),
                Action::Unchanged => ("unchanged", Vec::new()),
                Action::Delete => ("delete", Vec::new()),
            };
            json!({"kind": change.kind, "name": change.name, "action": action, "details": details})
        })
        .collect();
    json!({
        "name": outcome.name,
        "arn": outcome.arn,
        "changes": changes,
        "url": outcome.url,
        "version": outcome.version,
        "notes": outcome.notes,
    })
}

/// The capacity provider deploy creates for `function`, if any.
fn own_capacity(function: &Function) -> Option<&settings::OwnCapacityProvider> {
    match &function
        .deploy
        .managed_instances
        .as_ref()?
        .capacity_provider
    {
        settings::CapacityProvider::Own(own) => Some(own),
        settings::CapacityProvider::Existing(_) => None,
    }
}

/// What AWS would refuse, found before any call: the checks `deploy` and `template` share,
/// beside those each setting had when the project was read.
///
/// # Errors
///
/// [`CliError::Config`] naming the key and the fix.
pub fn check(functions: &[Function]) -> Result<(), CliError> {
    for function in functions {
        if function.log_level.is_some()
            && function.log_format != Some(crate::project::LogFormat::Json)
        {
            return Err(CliError::Config {
                key: format!(
                    "package.metadata.lambdakit.functions.{}.log_level",
                    function.name
                ),
                problem: "needs `log_format = \"JSON\"`: Lambda filters log levels only in JSON"
                    .into(),
            });
        }
        if let Some(other) = functions.iter().find(|other| {
            own_capacity(other)
                .zip(own_capacity(function))
                .is_some_and(|(theirs, ours)| theirs.name == ours.name && theirs != ours)
        }) {
            return Err(CliError::Config {
                key: format!(
                    "package.metadata.lambdakit.functions.{}.managed_instances",
                    other.name
                ),
                problem: format!(
                    "sets up the capacity provider `{}` otherwise than `{}` does; functions that share one give it the same settings (or put them in `[package.metadata.lambdakit.managed_instances]`)",
                    own_capacity(other).map_or("", |own| own.name.as_str()),
                    function.name
                ),
            });
        }
        if let Some(other) = functions
            .iter()
            .find(|other| other.name != function.name && other.aws_name() == function.aws_name())
        {
            return Err(CliError::Config {
                key: format!("package.metadata.lambdakit.functions.{}.name", other.name),
                problem: format!(
                    "is `{}`, the AWS name of `{}` too; each function needs its own",
                    other.aws_name(),
                    function.name
                ),
            });
        }
    }
    Ok(())
}

/// `name` with `suffix`, cut (with a hash of the whole, so names stay distinct) to AWS's
/// `max` characters.
pub(crate) fn bounded(name: &str, suffix: &str, max: usize) -> String {
    let whole = format!("{name}{suffix}");
    if whole.len() <= max {
        return whole;
    }
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(whole.as_bytes());
    let hash: String = hash
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let keep = max.saturating_sub(suffix.len() + hash.len() + 1);
    format!("{}-{hash}{suffix}", &name[..keep.min(name.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_to_aws_limits_and_stay_distinct() {
        assert_eq!(bounded("orders", "-lambdakit", 64), "orders-lambdakit");
        let long = "f".repeat(60);
        let one = bounded(&long, "-lambdakit", 64);
        let other = bounded(&format!("{long}x"), "-lambdakit", 64);
        assert_eq!(one.len(), 64);
        assert!(one.ends_with("-lambdakit"));
        assert_ne!(one, other);
    }

    #[test]
    fn plans_render_one_line_per_resource() {
        let outcome = Outcome {
            name: "orders".into(),
            arn: "arn:aws:lambda:eu-west-1:123456789012:function:orders".into(),
            changes: vec![
                Change::new("role", "orders-lambdakit", Action::Unchanged),
                Change::new(
                    "function",
                    "orders",
                    Action::Update(vec!["memory 128 → 256 MB".into()]),
                ),
                Change::new("url", "orders", Action::Create),
                Change::new("trigger", "sqs jobs", Action::Delete),
            ],
            url: None,
            version: None,
            notes: Vec::new(),
        };
        assert_eq!(
            render(&outcome),
            "orders (arn:aws:lambda:eu-west-1:123456789012:function:orders)\n  = role      orders-lambdakit\n  ~ function  orders: memory 128 → 256 MB\n  + url       orders\n  - trigger   sqs jobs\n"
        );
        assert_eq!(to_json(&outcome)["changes"][1]["action"], "update");
    }
}
