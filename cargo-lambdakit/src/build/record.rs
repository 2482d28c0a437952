//! Reusing a Lambda build. After each build, a record under `target/lambdakit/builds` keeps
//! what went in — the recipe (a digest of the options, the cargo command's settings and the
//! environment cargo and the linkers read) and the stamp (modification time and length) of
//! every file the binary's dep-info names, of the manifests and of the lock — and what came
//! out: the binary, `bootstrap` and the zip. A later `deploy` whose recipe and stamps all
//! match takes the zip from disk without running cargo, rustc or the zip again; anything else
//! builds as before. A record is written only when no input changed while cargo ran, and
//! removed before each build, so a failed build leaves none behind.
//!
//! What a record cannot see, it does not promise: a new toolchain alone does not rebuild (the
//! sources, and so the code, are those of the last build); `cargo lambdakit build` always runs
//! cargo and writes a new record.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::Allocator;
use crate::package::zip::Archive;
use crate::stamp::Stamp;

/// A digest of everything besides the sources that decides a build's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Recipe(String);

/// The environment cargo, rustc, build scripts and linkers read for a build, by prefix.
const READ_BY_BUILDS: [&str; 12] = [
    "CARGO",
    "RUST",
    "CC",
    "CXX",
    "CFLAGS",
    "CXXFLAGS",
    "LDFLAGS",
    "AR",
    "PKG_CONFIG",
    "TARGET_",
    "HOST_",
    "ZIG",
];

/// Variables of those that change from run to run, or with how much is printed, without
/// changing the build.
const NOT_READ: [&str; 6] = [
    "CARGO_MAKEFLAGS",
    "CARGO_TERM_PROGRESS_WHEN",
    "CARGO_TERM_COLOR",
    "RUST_BACKTRACE",
    "RUST_LIB_BACKTRACE",
    "RUST_LOG",
];

impl Recipe {
    /// The digest of `parts` (the build's options, as JSON) and of the environment.
    pub(super) fn of(parts: &impl Serialize) -> Self {
        let mut digest = sha2::Sha256::new();
        digest.update(env!("CARGO_PKG_VERSION"));
        digest.update(serde_json::to_vec(parts).unwrap_or_default());
        let mut variables: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .filter(|(name, _)| {
                READ_BY_BUILDS.iter().any(|prefix| name.starts_with(prefix))
                    && !NOT_READ.contains(&name.as_str())
            })
            .collect();
        variables.sort();
        for (name, value) in variables {
            digest.update(name);
            digest.update([0]);
            digest.update(value);
            digest.update([0]);
        }
        Self(hex(&digest.finalize()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What one build of one binary took and made.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    recipe: String,
    inputs: Vec<Stamp>,
    outputs: Vec<Stamp>,
    unzipped: u64,
    max_glibc: Option<(u32, u32)>,
    talc: bool,
}

/// A build's outputs as a record keeps them.
#[derive(Debug)]
pub(super) struct Outputs<'a> {
    /// cargo's binary, in `target/<triple>/release`.
    pub(super) binary: &'a Path,
    /// Its copy the zip holds.
    pub(super) bootstrap: &'a Path,
    /// The zip.
    pub(super) zip: &'a Path,
}

/// What a reused build gives back.
#[derive(Debug)]
pub(super) struct Reused {
    pub(super) archive: Archive,
    pub(super) max_glibc: Option<(u32, u32)>,
    pub(super) allocator: Allocator,
}

/// Where the record of `name`'s build for `triple` is kept.
pub(super) fn path_of(target_dir: &Path, triple: &str, name: &str) -> PathBuf {
    target_dir
        .join("lambdakit/builds")
        .join(triple)
        .join(format!("{name}.json"))
}

/// The build `record` describes, when its recipe is `recipe`, no input or output changed since,
/// and its zip can be read.
pub(super) fn reuse(record: &Path, recipe: &Recipe, outputs: &Outputs<'_>) -> Option<Reused> {
    let record: Record = serde_json::from_slice(&std::fs::read(record).ok()?).ok()?;
    let expected = [outputs.binary, outputs.bootstrap, outputs.zip];
    let same_outputs = record.outputs.len() == expected.len()
        && record
            .outputs
            .iter()
            .zip(expected)
            .all(|(stamp, path)| stamp.path() == path);
    if record.recipe != recipe.0
        || !same_outputs
        || !record
            .inputs
            .iter()
            .chain(&record.outputs)
            .all(Stamp::is_current)
    {
        return None;
    }
    // Read through the file whose stamp is checked: another build replacing the zip meanwhile
    // cannot slip other bytes in.
    let mut zip = std::fs::File::open(outputs.zip).ok()?;
    if !record
        .outputs
        .last()
        .is_some_and(|stamp| stamp.matches(&zip))
    {
        return None;
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut zip, &mut bytes).ok()?;
    Some(Reused {
        archive: Archive {
            bytes,
            unzipped: record.unzipped,
        },
        max_glibc: record.max_glibc,
        allocator: if record.talc {
            Allocator::Talc
        } else {
            Allocator::System
        },
    })
}

/// Removes `record` before a build, so that a build that fails leaves none.
pub(super) fn forget(record: &Path) {
    let _ = std::fs::remove_file(record);
}

/// Writes `record` for a build that started at `started`: its inputs are the files the
/// binary's dep-info names and `also` (the manifests and the lock). Nothing is written when an
/// input changed while cargo ran: the next build must look again.
pub(super) fn keep(
    record: &Path,
    recipe: &Recipe,
    started: SystemTime,
    also: &[PathBuf],
    outputs: &Outputs<'_>,
    built: (&Archive, Option<(u32, u32)>, Allocator),
) {
    let Some(sources) = dep_info(outputs.binary) else {
        return;
    };
    let inputs: Vec<Stamp> = sources
        .iter()
        .chain(also)
        .map(|path| Stamp::of(path))
        .collect();
    if inputs.iter().any(|stamp| stamp.changed_since(started)) {
        return;
    }
    let (archive, max_glibc, allocator) = built;
    let kept = Record {
        recipe: recipe.0.clone(),
        inputs,
        outputs: [outputs.binary, outputs.bootstrap, outputs.zip]
            .into_iter()
            .map(Stamp::of)
            .collect(),
        unzipped: archive.unzipped,
        max_glibc,
        talc: allocator == Allocator::Talc,
    };
    // A record that cannot be written costs the next deploy a cargo run, nothing more.
    if let (Some(directory), Ok(json)) = (record.parent(), serde_json::to_vec(&kept)) {
        let _ = std::fs::create_dir_all(directory).and_then(|()| std::fs::write(record, json));
    }
}

/// The files cargo's dep-info for `binary` (`<binary>.d` beside it) names: every source file
/// of the package and its path dependencies, and what their build scripts watch.
fn dep_info(binary: &Path) -> Option<Vec<PathBuf>> {
    let mut path = binary.as_os_str().to_owned();
    path.push(".d");
    let text = std::fs::read_to_string(PathBuf::from(path)).ok()?;
    parse_dep_info(&text)
}

/// The prerequisites of the one rule in a Makefile-style dep-info file, with `\ ` and `\\`
/// unescaped.
fn parse_dep_info(text: &str) -> Option<Vec<PathBuf>> {
    let (_, prerequisites) = text.lines().next()?.split_once(": ")?;
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut characters = prerequisites.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => current.extend(characters.next()),
            ' ' => {
                if !current.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            other => current.push(other),
        }
    }
    if !current.is_empty() {
        paths.push(PathBuf::from(current));
    }
    Some(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_info_unescapes_spaces_and_backslashes() {
        let text =
            "/t/release/echo: /p/src/main.rs /p/my\\ dir/lib.rs /p/a\\\\b.rs\n\n/p/src/main.rs:\n";
        assert_eq!(
            parse_dep_info(text).unwrap(),
            [
                PathBuf::from("/p/src/main.rs"),
                PathBuf::from("/p/my dir/lib.rs"),
                PathBuf::from("/p/a\\b.rs"),
            ]
        );
    }

    #[test]
    fn a_record_is_reused_until_an_input_or_output_changes() {
        let directory =
            std::env::temp_dir().join(format!("lambdakit-record-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let at = |name: &str| directory.join(name);
        for name in [
            "main.rs",
            "echo",
            "bootstrap",
            "bootstrap.zip",
            "Cargo.lock",
        ] {
            std::fs::write(at(name), name).unwrap();
        }
        std::fs::write(
            at("echo.d"),
            format!("{}: {}\n", at("echo").display(), at("main.rs").display()),
        )
        .unwrap();
        let (binary, bootstrap, zip) = (at("echo"), at("bootstrap"), at("bootstrap.zip"));
        let outputs = Outputs {
            binary: &binary,
            bootstrap: &bootstrap,
            zip: &zip,
        };
        let recipe = Recipe::of(&("x86_64-unknown-linux-musl", "talc"));
        let record = at("record.json");
        let archive = Archive {
            bytes: b"bootstrap.zip".to_vec(),
            unzipped: 9,
        };
        let built = (&archive, None, Allocator::Talc);
        let lock = [at("Cargo.lock")];
        keep(&record, &recipe, SystemTime::now(), &lock, &outputs, built);
        let reused = reuse(&record, &recipe, &outputs).expect("an unchanged build is reused");
        assert_eq!(reused.archive.bytes, archive.bytes);
        assert_eq!(
            (reused.archive.unzipped, reused.allocator),
            (9, Allocator::Talc)
        );

        let other = Recipe::of(&("x86_64-unknown-linux-musl", "system"));
        assert!(
            reuse(&record, &other, &outputs).is_none(),
            "another recipe builds"
        );
        std::fs::write(at("main.rs"), "fn main() { changed() }").unwrap();
        assert!(
            reuse(&record, &recipe, &outputs).is_none(),
            "a changed source builds"
        );

        keep(&record, &recipe, SystemTime::now(), &lock, &outputs, built);
        assert!(reuse(&record, &recipe, &outputs).is_some());
        std::fs::remove_file(at("bootstrap.zip")).unwrap();
        assert!(
            reuse(&record, &recipe, &outputs).is_none(),
            "a missing zip builds"
        );

        std::fs::write(at("bootstrap.zip"), "zip").unwrap();
        forget(&record);
        assert!(
            reuse(&record, &recipe, &outputs).is_none(),
            "no record, no reuse"
        );
        // An input changed while cargo ran (after the build started): no record.
        let an_hour_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
        keep(&record, &recipe, an_hour_ago, &lock, &outputs, built);
        assert!(!record.exists());
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
