//! Lambda's release profile for projects that have not chosen one: what makes a function small
//! and quick to start (link-time optimisation, one codegen unit, stripped symbols), applied
//! through cargo's `CARGO_PROFILE_RELEASE_*` variables for each key the project's own
//! `[profile.release]` leaves unset, so that what the project sets always wins. `panic` stays
//! `unwind`: lambda-kit reports a handler's panic as the invocation's error only then.

use std::path::Path;

/// The keys and the values Lambda builds get when the project does not set them.
const LAMBDA: [(&str, &str, &str); 3] = [
    ("lto", "CARGO_PROFILE_RELEASE_LTO", "true"),
    ("codegen-units", "CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"),
    ("strip", "CARGO_PROFILE_RELEASE_STRIP", "symbols"),
];

/// What a release build for Lambda adds to the project's profile.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// The variables to set, `(name, value)`.
    pub variables: Vec<(String, String)>,
    /// The keys they set, for the user to read.
    pub keys: Vec<&'static str>,
    /// Whether the project aborts on panic, which keeps lambda-kit from reporting panics.
    pub aborts: bool,
}

/// The tuning for the workspace whose root manifest is `manifest` (`[profile.release]` is read
/// from there, where cargo reads it).
pub fn tuning(manifest: &Path) -> Tuning {
    let release = std::fs::read_to_string(manifest)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|table| table.get("profile")?.get("release")?.as_table().cloned())
        .unwrap_or_default();
    // What the environment already sets is the user's choice too.
    #[allow(clippy::disallowed_methods)] // cargo's own variables, as cargo reads them.
    let set_outside = |variable: &str| std::env::var_os(variable).is_some();
    let mut tuning = Tuning::default();
    for (key, variable, value) in LAMBDA {
        if !release.contains_key(key) && !set_outside(variable) {
            tuning
                .variables
                .push((variable.to_owned(), value.to_owned()));
            tuning.keys.push(key);
        }
    }
    tuning.aborts = release.get("panic").and_then(toml::Value::as_str) == Some("abort");
    tuning
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuned(manifest: &str) -> Tuning {
        let dir = std::env::temp_dir().join(format!(
            "lambdakit-profile-{}-{}",
            std::process::id(),
            manifest.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("Cargo.toml");
        std::fs::write(&path, manifest).unwrap();
        let tuning = tuning(&path);
        let _ = std::fs::remove_dir_all(&dir);
        tuning
    }

    #[test]
    fn only_what_the_project_leaves_unset_is_tuned() {
        let none = tuned("[package]\nname = \"a\"\n");
        assert_eq!(none.keys, ["lto", "codegen-units", "strip"]);
        assert!(
            none.variables
                .contains(&("CARGO_PROFILE_RELEASE_LTO".into(), "true".into()))
        );
        assert!(!none.aborts);
        let some = tuned(
            "[package]\nname = \"a\"\n\n[profile.release]\nstrip = false\npanic = \"abort\"\n",
        );
        assert_eq!(some.keys, ["lto", "codegen-units"]);
        assert!(some.aborts);
        let all = tuned("[profile.release]\nlto = \"thin\"\ncodegen-units = 4\nstrip = true\n");
        assert!(all.variables.is_empty());
    }
}
