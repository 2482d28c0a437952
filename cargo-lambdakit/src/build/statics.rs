//! Static (musl) builds and the C they cannot take: a crate whose build script links a library
//! of the system (OpenSSL, found through pkg-config, say) fails a static build at the link with
//! a page of undefined glibc symbols, or fails its own build script. Here cargo's output is
//! watched: its progress lines are shown as they come, the rest is kept; when the build fails
//! on such a crate the user reads one line naming it, and cargo's whole output is in a file.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::error::CliError;
use crate::status::Style;

/// Runs `command` (a `cargo build` for the static `triple`), keeping cargo's output in `log`.
///
/// # Errors
///
/// [`CliError::NotStatic`] naming the crates that link C from the system, when that is what
/// failed the build; [`CliError::CargoFailed`] (with cargo's output shown) when something else
/// did.
pub fn build(
    command: &mut Command,
    triple: &str,
    log: &Path,
    style: Style,
) -> Result<(), CliError> {
    let failed = |error: std::io::Error| CliError::CargoFailed {
        status: error.to_string(),
    };
    let mut child = command
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(failed)?;
    let stdout = child.stdout.take();
    // cargo's JSON messages come on stdout, its progress and diagnostics on stderr; both are
    // read at once (a full pipe would stall cargo), stdout on a thread this function joins.
    let messages = std::thread::spawn(move || {
        let mut messages = String::new();
        if let Some(stdout) = stdout {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                messages.push_str(&line);
                messages.push('\n');
            }
        }
        messages
    });
    let mut kept = String::new();
    let step = style.start(format!("building for {triple}"));
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if is_progress(&line) {
                // On a terminal the live line shows where cargo is; elsewhere each line.
                match style {
                    Style::Live => step.detail(line.trim()),
                    Style::Plain => step.line(&line),
                }
            }
            kept.push_str(&line);
            kept.push('\n');
        }
    }
    let status = child.wait().map_err(failed)?;
    if status.success() {
        step.finish("built");
    } else {
        drop(step);
    }
    let messages = messages.join().unwrap_or_default();
    let _ = std::fs::create_dir_all(log.parent().unwrap_or(log))
        .and_then(|()| std::fs::write(log, &kept));
    let rest = || {
        kept.lines()
            .filter(|line| !is_progress(line))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if status.success() {
        // Warnings, shown once the build is done.
        let rest = rest();
        if !rest.is_empty() {
            eprintln!("{rest}");
        }
        return Ok(());
    }
    // rustc's words when two crates of one program each set a `#[global_allocator]`.
    if kept.contains("conflicts with global allocator in: lambda_kit") {
        return Err(CliError::TwoAllocators {
            log: log.display().to_string(),
        });
    }
    let culprits = culprits(&messages, &kept);
    if culprits.is_empty() {
        eprintln!("{}", rest());
        return Err(CliError::CargoFailed {
            status: status.to_string(),
        });
    }
    Err(CliError::NotStatic {
        culprits,
        triple: triple.to_owned(),
        log: log.display().to_string(),
    })
}

/// cargo's progress lines: a right-aligned verb (`   Compiling foo v0.1.0`).
fn is_progress(line: &str) -> bool {
    let word = line.trim_start();
    line.len() - word.len() <= 12
        && word.split_once(' ').is_some_and(|(verb, _)| {
            verb.len() > 1
                && verb.starts_with(|c: char| c.is_ascii_uppercase())
                && verb[1..].chars().all(|c| c.is_ascii_lowercase())
        })
}

/// The crates that failed a static build by linking C from the system, and how, from cargo's
/// JSON `messages` and its `stderr`: when the link failed, each crate whose build script asked
/// for a shared library (`cargo:rustc-link-lib=NAME` or `dylib=NAME`); and each crate whose
/// build script itself failed (as OpenSSL's `openssl-sys` does when pkg-config has no OpenSSL
/// for musl).
fn culprits(messages: &str, stderr: &str) -> Vec<(String, String)> {
    let mut culprits = Vec::new();
    let link_failed = stderr.contains("error: linking with `")
        || stderr.contains("could not find native static library");
    if link_failed {
        for message in messages.lines() {
            let Ok(message) = serde_json::from_str::<Value>(message) else {
                continue;
            };
            if message["reason"] != "build-script-executed" {
                continue;
            }
            let shared: Vec<String> = message["linked_libs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(shared_library)
                .map(|name| format!("`{name}`"))
                .collect();
            if let Some(krate) = message["package_id"].as_str().and_then(package_name)
                && !shared.is_empty()
            {
                let libraries = if shared.len() == 1 {
                    "library"
                } else {
                    "libraries"
                };
                culprits.push((
                    krate,
                    format!("links the system {libraries} {}", shared.join(", ")),
                ));
            }
        }
    }
    const FAILED_SCRIPT: &str = "failed to run custom build command for `";
    for line in stderr.lines() {
        if let Some(rest) = line.split_once(FAILED_SCRIPT).map(|(_, rest)| rest)
            && let Some(krate) = rest.split([' ', '`']).next()
        {
            culprits.push((
                krate.to_owned(),
                "failed its build script, which looks for a C library of the system (none is \
                 there for musl)"
                    .to_owned(),
            ));
        }
    }
    culprits
}

/// The library of a `linked_libs` entry (`KIND[:MODIFIERS]=NAME` or `NAME`) when it is a
/// shared one (kind `dylib`, cargo's default), which a static build cannot take.
fn shared_library(entry: &str) -> Option<&str> {
    match entry.split_once('=') {
        None => Some(entry),
        Some((kind, name)) if kind.split(':').next() == Some("dylib") => Some(name),
        Some(_) => None,
    }
}

/// The package's name in a cargo package id: `path+file:///dir#name@1.0.0`,
/// `registry+https://...#name@1.0.0`, or (older cargo) `name 1.0.0 (source)`.
fn package_name(id: &str) -> Option<String> {
    if let Some((_, fragment)) = id.rsplit_once('#') {
        let name = fragment.split('@').next()?;
        // `path+file:///dir/name#1.0.0`: the fragment is only the version.
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            return id.split('#').next()?.rsplit('/').next().map(str::to_owned);
        }
        return Some(name.to_owned());
    }
    id.split(' ').next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_told_from_diagnostics() {
        assert!(is_progress("   Compiling ring v0.17.14"));
        assert!(is_progress(
            "    Finished `release` profile [optimized] target(s) in 1s"
        ));
        assert!(!is_progress(
            "error: linking with `cc` failed: exit status: 1"
        ));
        assert!(!is_progress("  = note: /usr/bin/ld: cannot find -lssl"));
        assert!(!is_progress(
            "          /usr/bin/ld: undefined reference to `__memcpy_chk'"
        ));
    }

    #[test]
    fn the_crates_at_fault_are_named() {
        let messages = concat!(
            r#"{"reason":"build-script-executed","package_id":"path+file:///p/sys#fake-openssl-sys@0.1.0","linked_libs":["ssl","dylib=crypto","static=vendored"]}"#,
            "\n",
            r#"{"reason":"build-script-executed","package_id":"registry+https://r/index#ring@0.17.14","linked_libs":["static=ring_core"]}"#,
            "\n",
        );
        let linker = "error: linking with `cc` failed: exit status: 1\n";
        assert_eq!(
            culprits(messages, linker),
            [(
                "fake-openssl-sys".to_owned(),
                "links the system libraries `ssl`, `crypto`".to_owned()
            )]
        );
        // Another failure (a type error) is not blamed on a crate that links C.
        assert!(culprits(messages, "error[E0308]: mismatched types\n").is_empty());
        let script = "error: failed to run custom build command for `openssl-sys v0.9.104`\n";
        assert_eq!(culprits("", script)[0].0, "openssl-sys");
        assert_eq!(
            package_name("path+file:///p/sys#0.1.0").as_deref(),
            Some("sys")
        );
        assert_eq!(
            package_name("sys 0.1.0 (path+file:///p/sys)").as_deref(),
            Some("sys")
        );
    }
}
