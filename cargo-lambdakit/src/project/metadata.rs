//! `cargo metadata`, remembered. Starting cargo to describe a workspace costs more than the
//! rest of a `deploy` that has nothing to change, so its answer is kept in the target
//! directory (`target/lambdakit/metadata-<key>.json`) with the stamps of everything it was
//! read from: the manifests and the lock, the directories cargo looks in for targets and
//! members, and cargo's configuration files. The next run with the same command line, working
//! directory and cargo environment takes it when no stamp changed, and asks cargo otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

use crate::error::CliError;
use crate::stamp::Stamp;

/// The environment that changes what `cargo metadata` answers (the target directory, the
/// toolchain).
const READ_BY_METADATA: [&str; 5] = [
    "CARGO",
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTUP_TOOLCHAIN",
];

/// Where a package's targets are found without being declared (cargo's auto-discovery).
const DISCOVERED_IN: [&str; 6] = ["", "src", "src/bin", "examples", "tests", "benches"];

#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    stamps: Vec<Stamp>,
    metadata: Value,
}

/// What `cargo metadata --format-version 1 --no-deps` answers for `manifest_path` (`None`: the
/// working directory's package) with `--locked` or not.
///
/// # Errors
///
/// When cargo cannot be started, fails, or answers something other than JSON.
pub(super) fn read(manifest_path: Option<&Path>, locked: bool) -> Result<Value, CliError> {
    let start = std::env::current_dir().unwrap_or_default();
    let key = key(&start, manifest_path, locked);
    let file = format!("metadata-{key}.json");
    if let Some(metadata) = places(&start, manifest_path)
        .iter()
        .find_map(|place| kept(&place.join(&file)))
    {
        return Ok(metadata);
    }
    let metadata = ask_cargo(manifest_path, locked)?;
    // Kept only in a target directory that exists: making one changes the workspace's
    // directory, a stamp of the answer, and a command that stops at a mistake in the settings
    // leaves no target directory behind.
    let target_dir = metadata["target_directory"].as_str().map(PathBuf::from);
    if let Some(target_dir) = target_dir.filter(|dir| dir.is_dir()) {
        let kept = Kept {
            stamps: witnesses(&metadata, &start),
            metadata,
        };
        let path = target_dir.join("lambdakit").join(file);
        // Not kept, the next run asks cargo again: nothing is lost.
        if let Ok(json) = serde_json::to_vec(&kept) {
            let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))
                .and_then(|()| std::fs::write(&path, json));
        }
        return Ok(kept.metadata);
    }
    Ok(metadata)
}

fn ask_cargo(manifest_path: Option<&Path>, locked: bool) -> Result<Value, CliError> {
    let mut command = Command::new(super::cargo());
    command.args(["metadata", "--format-version", "1", "--no-deps"]);
    if locked {
        command.arg("--locked");
    }
    if let Some(path) = manifest_path {
        command.arg("--manifest-path").arg(path);
    }
    let output = command.output().map_err(|error| CliError::Metadata {
        message: error.to_string(),
    })?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        return Err(CliError::Metadata { message });
    }
    serde_json::from_slice(&output.stdout).map_err(|error| CliError::Metadata {
        message: error.to_string(),
    })
}

/// The kept answer at `path`, when every stamp it was read from is current.
fn kept(path: &Path) -> Option<Value> {
    let kept: Kept = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    kept.stamps
        .iter()
        .all(Stamp::is_current)
        .then_some(kept.metadata)
}

/// A digest of what the answer depends on besides files: the command line, the working
/// directory and cargo's environment.
fn key(start: &Path, manifest_path: Option<&Path>, locked: bool) -> String {
    let mut digest = sha2::Sha256::new();
    digest.update(env!("CARGO_PKG_VERSION"));
    digest.update(start.as_os_str().as_encoded_bytes());
    digest.update([0]);
    if let Some(path) = manifest_path {
        digest.update(path.as_os_str().as_encoded_bytes());
    }
    digest.update([0, u8::from(locked)]);
    for name in READ_BY_METADATA {
        #[allow(clippy::disallowed_methods)] // cargo's own variables, as cargo reads them.
        let value = std::env::var_os(name).unwrap_or_default();
        digest.update(value.as_encoded_bytes());
        digest.update([0]);
    }
    digest.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Where a kept answer may be: the target directory cargo's variables name, else
/// `target/lambdakit` beside the manifest or any directory above it (where a workspace's
/// target directory is unless configured elsewhere, in which case the answer is just not
/// found and cargo asked).
fn places(start: &Path, manifest_path: Option<&Path>) -> Vec<PathBuf> {
    let variable = ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"]
        .into_iter()
        .find_map(|name| {
            #[allow(clippy::disallowed_methods)] // cargo's own variables, as cargo reads them.
            std::env::var_os(name)
        });
    if let Some(target_dir) = variable {
        return vec![start.join(target_dir).join("lambdakit")];
    }
    let from = match manifest_path {
        Some(path) => start.join(path).parent().map(Path::to_owned),
        None => Some(start.to_owned()),
    };
    from.iter()
        .flat_map(|from| from.ancestors())
        .map(|dir| dir.join("target/lambdakit"))
        .collect()
}

/// The stamps of everything `metadata` was read from.
fn witnesses(metadata: &Value, start: &Path) -> Vec<Stamp> {
    let mut paths: Vec<PathBuf> = Vec::new();
    if let Some(root) = metadata["workspace_root"].as_str().map(Path::new) {
        paths.extend([
            root.to_owned(),
            root.join("Cargo.toml"),
            root.join("Cargo.lock"),
        ]);
    }
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let Some(manifest) = package["manifest_path"].as_str().map(Path::new) else {
            continue;
        };
        paths.push(manifest.to_owned());
        if let Some(dir) = manifest.parent() {
            // A member added beside it (`members = ["crates/*"]`) changes its parent.
            paths.extend(dir.parent().map(Path::to_owned));
            paths.extend(DISCOVERED_IN.iter().map(|under| dir.join(under)));
        }
    }
    // cargo's configuration, where `build.target-dir` may be set.
    let cargo_home = {
        #[allow(clippy::disallowed_methods)] // cargo's own variables, as cargo reads them.
        let home = std::env::var_os("CARGO_HOME");
        home.map(PathBuf::from)
    };
    for dir in start
        .ancestors()
        .map(|dir| dir.join(".cargo"))
        .chain(cargo_home)
    {
        paths.extend([dir.join("config.toml"), dir.join("config")]);
    }
    paths.sort();
    paths.dedup();
    paths.iter().map(|path| Stamp::of(path)).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_kept_answer_is_taken_until_what_it_was_read_from_changes() {
        let root = std::env::temp_dir().join(format!("lambdakit-metadata-{}", std::process::id()));
        let package = root.join("orders");
        std::fs::create_dir_all(package.join("src")).unwrap();
        std::fs::write(root.join("Cargo.toml"), "[workspace]").unwrap();
        std::fs::write(package.join("Cargo.toml"), "[package]").unwrap();
        let metadata = json!({
            "workspace_root": root,
            "target_directory": root.join("target"),
            "packages": [{"name": "orders", "manifest_path": package.join("Cargo.toml")}],
        });
        let kept = Kept {
            stamps: witnesses(&metadata, &root),
            metadata: metadata.clone(),
        };
        // Beside the workspace, not in it: writing it there would change the root's stamp.
        let file = root.with_extension("json");
        std::fs::write(&file, serde_json::to_vec(&kept).unwrap()).unwrap();
        assert_eq!(super::kept(&file), Some(metadata.clone()));

        // A new binary target, found by cargo without a manifest change.
        std::fs::create_dir_all(package.join("src/bin")).unwrap();
        assert_eq!(super::kept(&file), None, "src/bin appeared");

        let kept = Kept {
            stamps: witnesses(&metadata, &root),
            metadata: metadata.clone(),
        };
        std::fs::write(&file, serde_json::to_vec(&kept).unwrap()).unwrap();
        assert!(super::kept(&file).is_some());
        std::fs::write(package.join("Cargo.toml"), "[package]\nname = \"orders\"").unwrap();
        assert_eq!(super::kept(&file), None, "a manifest changed");
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn the_key_follows_the_command_line_and_cargo_environment() {
        let start = Path::new("/work/app");
        let plain = key(start, None, false);
        assert_eq!(plain, key(start, None, false));
        assert_ne!(plain, key(start, None, true));
        assert_ne!(plain, key(Path::new("/work/other"), None, false));
        assert_ne!(plain, key(start, Some(Path::new("a/Cargo.toml")), false));
    }
}
