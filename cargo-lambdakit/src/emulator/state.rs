//! What the local Lambda keeps of the functions created through its control plane, so that a
//! `serve --state DIR` restarted on the same directory serves them again.
//!
//! Layout, one directory per function:
//! - `DIR/{name}/function.json`: the function's record (its `$LATEST` configuration, its
//!   published versions and its aliases), written whole to `function.json.tmp` and renamed
//!   over the old one, so a crash leaves the old record or the new one, never half of one.
//! - `DIR/{name}/{code id}/code.zip` and `code/`: one directory per code upload, written in
//!   full before a record names it, and shared by the versions published from it.
//!
//! Every path read from a record is checked to stay inside the state directory: a code
//! directory is one plain name beside the record, and the bootstrap it holds, symbolic links
//! resolved, lies inside the state directory. A tampered record cannot make serve run, serve
//! back or delete files elsewhere.
//!
//! - `DIR/.layers/{layer}/layer.json`: a layer's record (its versions and the highest number
//!   it ever gave, so that a deleted version's number is never given again), and
//!   `DIR/.layers/{layer}/{version}/layer.zip` and `extensions/`: each version's zip and its
//!   extensions unpacked. A deleted version is marked so and its files kept while a function
//!   runs it, as Lambda keeps serving a function with the layer version it has. Function names
//!   cannot start with `.`, so no function's directory can take the name `.layers`.
//!
//! An entry that cannot be read back (no `function.json`, a `function.json` that is not a
//! record, code it names that is gone or outside) is skipped with a warning naming the file, and the
//! other functions are served: serve never removes or overwrites such an entry (a
//! CreateFunction of its name is refused until the user fixes or removes it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The version of the record's layout, written in each record.
const FORMAT: u32 = 1;
/// The name of a function's record in its directory.
pub(super) const RECORD: &str = "function.json";

/// The configuration and code of `$LATEST` or of a published version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Config {
    pub(super) runtime: String,
    pub(super) role: Option<String>,
    pub(super) handler: Option<String>,
    #[serde(default)]
    pub(super) description: String,
    pub(super) memory_mb: u32,
    pub(super) timeout_seconds: u64,
    #[serde(default)]
    pub(super) environment: BTreeMap<String, String>,
    pub(super) architecture: String,
    /// The code directory's name, beside the record.
    pub(super) code: String,
    pub(super) code_size: u64,
    pub(super) code_sha256: String,
    pub(super) last_modified: String,
    pub(super) revision_id: String,
    /// `DeadLetterConfig.TargetArn`: the SQS queue or SNS topic an `Event` invocation that
    /// failed for good goes to when no on-failure destination is set.
    #[serde(default)]
    pub(super) dead_letter_target: Option<String>,
    /// What it is given and reports, but does not run by.
    #[serde(default)]
    pub(super) described: Described,
}

/// Settings the local Lambda keeps and reports as Lambda does (so a deploy reading them back
/// sees what it asked for), and runs by in part or not at all: of the layers it runs the
/// extensions (see `lambda_api::layers`), it samples traces by the caller's header whatever the
/// tracing mode, gives `/tmp` no quota and writes logs to serve's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct Described {
    /// The layers' version ARNs, in order: a later layer's extension of one name wins.
    pub(super) layers: Vec<String>,
    /// `TracingConfig.Mode`: `PassThrough` or `Active`.
    pub(super) tracing_mode: String,
    /// `EphemeralStorage.Size`, in MB.
    pub(super) ephemeral_storage_mb: u32,
    /// `LoggingConfig.LogFormat`: `Text` or `JSON`.
    pub(super) log_format: String,
    /// `LoggingConfig.ApplicationLogLevel`, when given.
    pub(super) application_log_level: Option<String>,
    /// `LoggingConfig.SystemLogLevel`, when given.
    pub(super) system_log_level: Option<String>,
    /// `LoggingConfig.LogGroup`, when given (default: `/aws/lambda/{name}`).
    pub(super) log_group: Option<String>,
    /// `TenancyConfig.TenantIsolationMode` is `PER_TENANT` (set at creation): serve keeps
    /// each instance to one tenant and refuses invocations without one.
    pub(super) per_tenant: bool,
    /// `CapacityProviderConfig`: serve runs the function as Lambda Managed Instances do,
    /// each environment taking several invocations at once (it has no capacity provider).
    pub(super) managed_instances: Option<ManagedInstancesRecord>,
}

/// A function's `CapacityProviderConfig.LambdaManagedInstancesCapacityProviderConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ManagedInstancesRecord {
    pub(super) capacity_provider_arn: String,
    pub(super) per_execution_environment_max_concurrency: Option<u32>,
    pub(super) memory_gib_per_vcpu: Option<f64>,
}

impl Default for Described {
    /// Lambda's defaults.
    fn default() -> Self {
        Self {
            layers: Vec::new(),
            tracing_mode: "PassThrough".into(),
            ephemeral_storage_mb: 512,
            log_format: "Text".into(),
            application_log_level: None,
            system_log_level: None,
            log_group: None,
            per_tenant: false,
            managed_instances: None,
        }
    }
}

/// An alias: a name for one published version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Alias {
    pub(super) version: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) revision_id: String,
}

/// Everything kept of one created function.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    format: u32,
    pub(super) name: String,
    pub(super) latest: Config,
    /// Published versions, by number.
    #[serde(default)]
    pub(super) versions: BTreeMap<u64, Config>,
    #[serde(default)]
    pub(super) aliases: BTreeMap<String, Alias>,
    /// Resource-based policy statements, by qualifier (`""` for the unqualified function).
    #[serde(default)]
    pub(super) policies: BTreeMap<String, Vec<serde_json::Value>>,
    /// Function URL configurations, by qualifier (`""` for the unqualified function).
    #[serde(default)]
    pub(super) urls: BTreeMap<String, super::lambda_api::Url>,
    /// Reserved concurrency (PutFunctionConcurrency): the most instances each of its pools
    /// runs at once; none, the local default.
    #[serde(default)]
    pub(super) reserved_concurrency: Option<u32>,
    /// Its tags (CreateFunction's `Tags`, TagResource, UntagResource).
    #[serde(default)]
    pub(super) tags: BTreeMap<String, String>,
}

impl Record {
    pub(super) fn new(name: &str, latest: Config) -> Self {
        Self {
            format: FORMAT,
            name: name.to_owned(),
            latest,
            versions: BTreeMap::new(),
            aliases: BTreeMap::new(),
            policies: BTreeMap::new(),
            urls: BTreeMap::new(),
            reserved_concurrency: None,
            tags: BTreeMap::new(),
        }
    }

    /// Whether `code` (a code directory's name) is still run by `$LATEST` or a version.
    pub(super) fn uses(&self, code: &str) -> bool {
        self.latest.code == code || self.versions.values().any(|config| config.code == code)
    }

    /// Writes the record into `dir` (the function's directory) atomically.
    pub(super) fn save(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(dir, RECORD, &json)
    }
}

/// The directory, beside the functions', that keeps the layers (see [`LayerRecord`]).
pub(super) const LAYERS: &str = ".layers";
/// The name of a layer's record in its directory.
const LAYER_RECORD: &str = "layer.json";

/// Everything kept of one layer published through the control plane.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LayerRecord {
    format: u32,
    pub(super) name: String,
    /// The highest version number given: the next version is one more, even when this one is
    /// deleted (AWS never gives a version number twice).
    pub(super) last_version: u64,
    /// Its versions, by number, deleted ones kept while a function uses them.
    pub(super) versions: BTreeMap<u64, LayerVersion>,
}

/// One version of a layer: what PublishLayerVersion was given and what its zip is. Its files
/// are in `DIR/.layers/{layer}/{version}/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LayerVersion {
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) compatible_runtimes: Vec<String>,
    #[serde(default)]
    pub(super) compatible_architectures: Vec<String>,
    #[serde(default)]
    pub(super) license_info: Option<String>,
    pub(super) code_sha256: String,
    pub(super) code_size: u64,
    pub(super) created_date: String,
    /// The names of its extensions, in `extensions/`.
    #[serde(default)]
    pub(super) extensions: Vec<String>,
    /// Deleted (DeleteLayerVersion): no longer listed, found or attached, but run by the
    /// functions that had it.
    #[serde(default)]
    pub(super) deleted: bool,
}

impl LayerRecord {
    pub(super) fn new(name: &str) -> Self {
        Self {
            format: FORMAT,
            name: name.to_owned(),
            last_version: 0,
            versions: BTreeMap::new(),
        }
    }

    /// Writes the record into `dir` (the layer's directory) atomically.
    pub(super) fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(dir, LAYER_RECORD, &json)
    }
}

/// The directory of the layer `name` in `state`.
pub(super) fn layer_dir(state: &Path, name: &str) -> PathBuf {
    state.join(LAYERS).join(name)
}

/// Reads back every layer in `state`, and a warning (with a hint) for each entry that cannot
/// be read, which is left as it is.
pub(super) fn load_layers(state: &Path) -> (Vec<LayerRecord>, Vec<String>) {
    let (mut records, mut warnings) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(state.join(LAYERS)) else {
        return (records, warnings);
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let file = dir.join(LAYER_RECORD);
        let name = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let read = std::fs::read(&file)
            .map_err(|error| format!("cannot be read: {error}"))
            .and_then(|json| {
                serde_json::from_slice::<LayerRecord>(&json)
                    .map_err(|error| format!("is not a layer record: {error}"))
            })
            .and_then(|record| {
                if record.format != FORMAT {
                    Err(format!(
                        "has format {}; this serve reads format {FORMAT}",
                        record.format
                    ))
                } else if record.name != name {
                    Err(format!(
                        "is the record of `{}`, not of `{name}` whose directory it is in",
                        record.name
                    ))
                } else if let Some(bad) = record
                    .versions
                    .values()
                    .flat_map(|version| &version.extensions)
                    .find(|extension| !is_plain_name(extension))
                {
                    Err(format!(
                        "names the extension `{bad}`, which is not one file name (a tampered record?)"
                    ))
                } else {
                    Ok(record)
                }
            });
        match read {
            Ok(record) => records.push(record),
            Err(problem) => warnings.push(format!(
                "warning: the layer `{name}` is not served: `{}` {problem}\nhint: fix it, or move `{}` out of the state directory to drop the layer",
                file.display(),
                dir.display()
            )),
        }
    }
    (records, warnings)
}

/// Writes `dir/name` whole: to `name.tmp` (made anew, so that a link planted there is
/// replaced, never followed), then renamed over the old one, so a crash leaves the old file
/// or the new one, never half of one.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let temporary = dir.join(format!("{name}.tmp"));
    match std::fs::remove_file(&temporary) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, dir.join(name))?;
    // The rename itself survives a crash once the directory is synced.
    std::fs::File::open(dir)?.sync_all()
}

/// The file, beside the functions' directories, that keeps the event invoke configs of every
/// function served (created ones and the project's alike). Function names hold no `.`, so no
/// function's directory can take its name.
pub(super) const EVENT_CONFIGS: &str = "event-invoke-configs.json";

/// What [`EVENT_CONFIGS`] holds.
#[derive(Debug, Serialize, Deserialize)]
struct EventConfigs {
    format: u32,
    configs: Vec<EventConfigRecord>,
}

/// One function's event invoke config at one qualifier, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct EventConfigRecord {
    pub(super) function: String,
    pub(super) qualifier: String,
    pub(super) maximum_retry_attempts: u32,
    pub(super) maximum_event_age_seconds: u64,
    pub(super) on_success: Option<String>,
    pub(super) on_failure: Option<String>,
    /// Milliseconds since 1970.
    pub(super) last_modified_millis: u64,
}

/// Writes `configs` into `state` (made if need be), in place of those kept.
pub(super) fn save_event_configs(
    state: &Path,
    configs: Vec<EventConfigRecord>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(state)?;
    let json = serde_json::to_vec_pretty(&EventConfigs {
        format: FORMAT,
        configs,
    })
    .map_err(std::io::Error::other)?;
    write_atomically(state, EVENT_CONFIGS, &json)
}

/// The event invoke configs kept in `state` (none when it has no [`EVENT_CONFIGS`]).
///
/// # Errors
///
/// A warning naming the file, when it is there but cannot be read as configs.
pub(super) fn load_event_configs(state: &Path) -> Result<Vec<EventConfigRecord>, String> {
    let file = state.join(EVENT_CONFIGS);
    let warning = |problem: String| {
        format!(
            "warning: the event invoke configs are not read back: `{}` {problem}\nhint: fix it or remove it; the next change to an event invoke config writes it anew",
            file.display()
        )
    };
    let json = match std::fs::read(&file) {
        Ok(json) => json,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(warning(format!("cannot be read: {error}"))),
    };
    let kept: EventConfigs = serde_json::from_slice(&json)
        .map_err(|error| warning(format!("is not a list of event invoke configs: {error}")))?;
    if kept.format != FORMAT {
        return Err(warning(format!(
            "has format {}; this serve reads format {FORMAT}",
            kept.format
        )));
    }
    Ok(kept.configs)
}

/// A function's entry that could not be read back.
#[derive(Debug)]
pub(super) struct Broken {
    pub(super) name: String,
    /// The file (or directory) at fault.
    pub(super) path: PathBuf,
    pub(super) problem: String,
}

impl Broken {
    /// The warning serve prints on start: what, where, and what to do.
    pub(super) fn warning(&self, dir: &Path) -> String {
        format!(
            "warning: created function `{}` is not served: `{}` {}\nhint: fix it, or move `{}` out of the state directory to drop the function; serve leaves it as it is, and the other functions are served",
            self.name,
            self.path.display(),
            self.problem,
            dir.join(&self.name).display()
        )
    }
}

/// Reads back every function in `state`: the records found whole, and the entries that are not.
pub(super) fn load(state: &Path) -> (Vec<Record>, Vec<Broken>) {
    let (mut records, mut broken) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(state) else {
        // Not made yet: nothing was created.
        return (records, broken);
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == LAYERS {
            continue;
        }
        match read(state, &dir, &name) {
            Ok(record) => records.push(record),
            Err((path, problem)) => broken.push(Broken {
                name,
                path,
                problem,
            }),
        }
    }
    (records, broken)
}

fn read(state: &Path, dir: &Path, name: &str) -> Result<Record, (PathBuf, String)> {
    let file = dir.join(RECORD);
    let json = std::fs::read(&file).map_err(|error| {
        let problem = if error.kind() == std::io::ErrorKind::NotFound {
            "is missing (a CreateFunction stopped before it finished?)".to_owned()
        } else {
            format!("cannot be read: {error}")
        };
        (file.clone(), problem)
    })?;
    let record: Record = serde_json::from_slice(&json)
        .map_err(|error| (file.clone(), format!("is not a function record: {error}")))?;
    if record.format != FORMAT {
        return Err((
            file,
            format!(
                "has format {}; this serve reads format {FORMAT}",
                record.format
            ),
        ));
    }
    if record.name != name {
        return Err((
            file,
            format!(
                "is the record of `{}`, not of `{name}` whose directory it is in",
                record.name
            ),
        ));
    }
    for config in std::iter::once(&record.latest).chain(record.versions.values()) {
        if !is_plain_name(&config.code) {
            return Err((
                file,
                format!(
                    "names the code directory `{}`, which is not one name inside the function's directory (a tampered record?)",
                    config.code
                ),
            ));
        }
        let bootstrap = dir.join(&config.code).join("code").join("bootstrap");
        if !bootstrap.is_file() {
            return Err((
                bootstrap,
                format!("is missing, but `{}` names its code", file.display()),
            ));
        }
        if !inside(state, &bootstrap) {
            return Err((
                bootstrap,
                format!(
                    "lies outside the state directory `{}` once its links are followed",
                    state.display()
                ),
            ));
        }
    }
    Ok(record)
}

/// Whether `name` is one plain path component: not empty, `.` or `..`, and without a
/// separator.
fn is_plain_name(name: &str) -> bool {
    let mut components = Path::new(name).components();
    matches!(
        (components.next(), components.next()),
        (Some(std::path::Component::Normal(_)), None)
    ) && !name.contains('/')
}

/// Whether `path`, its symbolic links followed, lies inside `state`.
fn inside(state: &Path, path: &Path) -> bool {
    match (state.canonicalize(), path.canonicalize()) {
        (Ok(state), Ok(path)) => path.starts_with(state),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(code: &str) -> Config {
        Config {
            runtime: "provided.al2023".into(),
            role: None,
            handler: Some("bootstrap".into()),
            description: String::new(),
            memory_mb: 128,
            timeout_seconds: 3,
            environment: BTreeMap::new(),
            architecture: "x86_64".into(),
            code: code.into(),
            code_size: 1,
            code_sha256: "sha".into(),
            last_modified: "2026-01-01T00:00:00.000+0000".into(),
            revision_id: "r".into(),
            dead_letter_target: None,
            described: Described::default(),
        }
    }

    #[test]
    fn records_are_read_back_and_broken_entries_are_named() {
        let state = std::env::temp_dir().join(format!("lambdakit-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        for name in ["whole", "gone-code", "garbled", "partial"] {
            std::fs::create_dir_all(state.join(name)).unwrap();
        }
        std::fs::create_dir_all(state.join("whole/c1/code")).unwrap();
        std::fs::write(state.join("whole/c1/code/bootstrap"), "#!/bin/sh").unwrap();
        Record::new("whole", config("c1"))
            .save(&state.join("whole"))
            .unwrap();
        Record::new("gone-code", config("c2"))
            .save(&state.join("gone-code"))
            .unwrap();
        std::fs::write(state.join("garbled").join(RECORD), "{\"format\": 1, \"na").unwrap();
        // The layers' directory is not a function's; a layer's record is read back there, and
        // one naming an extension outside its directory is not.
        LayerRecord::new("tools")
            .save(&layer_dir(&state, "tools"))
            .unwrap();
        let mut tampered = LayerRecord::new("tampered");
        tampered.versions.insert(
            1,
            LayerVersion {
                description: String::new(),
                compatible_runtimes: Vec::new(),
                compatible_architectures: Vec::new(),
                license_info: None,
                code_sha256: "sha".into(),
                code_size: 1,
                created_date: "2026-01-01T00:00:00.000+0000".into(),
                extensions: vec!["../../../bin/sh".into()],
                deleted: false,
            },
        );
        tampered.save(&layer_dir(&state, "tampered")).unwrap();
        let (layers, warnings) = load_layers(&state);
        assert_eq!(
            layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["tools"]
        );
        assert!(
            warnings.len() == 1 && warnings[0].contains("the layer `tampered` is not served"),
            "{warnings:?}"
        );

        let (records, broken) = load(&state);
        assert_eq!(
            records.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["whole"]
        );
        let problems: Vec<_> = broken
            .iter()
            .map(|b| (b.name.as_str(), b.path.clone()))
            .collect();
        assert_eq!(
            problems,
            [
                ("garbled", state.join("garbled").join(RECORD)),
                ("gone-code", state.join("gone-code/c2/code/bootstrap")),
                ("partial", state.join("partial").join(RECORD)),
            ]
        );
        assert!(
            broken[0]
                .warning(&state)
                .contains("is not a function record")
        );
        // Nothing was removed.
        assert!(state.join("garbled").join(RECORD).is_file());
        assert!(!state.join("whole").join(format!("{RECORD}.tmp")).exists());
        std::fs::remove_dir_all(&state).unwrap();
    }

    #[test]
    fn event_invoke_configs_are_written_whole_and_read_back() {
        let state = std::env::temp_dir().join(format!("lambdakit-configs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        assert_eq!(load_event_configs(&state), Ok(Vec::new()));
        let config = EventConfigRecord {
            function: "orders".into(),
            qualifier: "$LATEST".into(),
            maximum_retry_attempts: 1,
            maximum_event_age_seconds: 600,
            on_success: None,
            on_failure: Some("arn:aws:sqs:eu-west-1:123456789012:failures".into()),
            last_modified_millis: 1_700_000_000_000,
        };
        // A link planted where the temporary file goes is replaced, not written through.
        std::fs::create_dir_all(&state).unwrap();
        let elsewhere = state.with_extension("elsewhere");
        std::fs::write(&elsewhere, "untouched").unwrap();
        std::os::unix::fs::symlink(&elsewhere, state.join(format!("{EVENT_CONFIGS}.tmp"))).unwrap();
        save_event_configs(&state, vec![config.clone()]).unwrap();
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "untouched");
        assert_eq!(load_event_configs(&state), Ok(vec![config]));
        // Not a function's entry: `load` passes it by.
        let (records, broken) = load(&state);
        assert!(records.is_empty() && broken.is_empty(), "{broken:?}");

        std::fs::write(state.join(EVENT_CONFIGS), "{\"format\": 1, \"con").unwrap();
        let warning = load_event_configs(&state).unwrap_err();
        assert!(warning.contains(EVENT_CONFIGS), "{warning}");
        std::fs::remove_dir_all(&state).unwrap();
        std::fs::remove_file(&elsewhere).unwrap();
    }

    #[test]
    fn a_record_naming_code_outside_the_state_directory_is_not_served() {
        let root = std::env::temp_dir().join(format!("lambdakit-outside-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let state = root.join("state");
        // Code outside the state directory, where `state/{name}/../../x` points.
        std::fs::create_dir_all(root.join("x/code")).unwrap();
        std::fs::write(root.join("x/code/bootstrap"), "#!/bin/sh").unwrap();
        std::fs::create_dir_all(state.join("dotted")).unwrap();
        Record::new("dotted", config("../../x"))
            .save(&state.join("dotted"))
            .unwrap();
        // The same through a symbolic link that looks like a code directory.
        std::fs::create_dir_all(state.join("linked")).unwrap();
        std::os::unix::fs::symlink(root.join("x"), state.join("linked/c1")).unwrap();
        Record::new("linked", config("c1"))
            .save(&state.join("linked"))
            .unwrap();
        // And a version of a whole function, published from tampered code.
        std::fs::create_dir_all(state.join("versioned/c1/code")).unwrap();
        std::fs::write(state.join("versioned/c1/code/bootstrap"), "#!/bin/sh").unwrap();
        let mut versioned = Record::new("versioned", config("c1"));
        versioned.versions.insert(1, config("/tmp"));
        versioned.save(&state.join("versioned")).unwrap();

        let (records, broken) = load(&state);
        assert!(records.is_empty(), "{records:?}");
        let problems: Vec<_> = broken
            .iter()
            .map(|b| (b.name.as_str(), b.problem.clone()))
            .collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].1.contains("`../../x`"), "{problems:?}");
        assert!(
            problems[1].1.contains("outside the state directory"),
            "{problems:?}"
        );
        assert!(problems[2].1.contains("`/tmp`"), "{problems:?}");
        // Nothing was removed, inside or out.
        assert!(root.join("x/code/bootstrap").is_file());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
