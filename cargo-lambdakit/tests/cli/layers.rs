//! The CLI's layering, kept by a test: `cli.rs` (the top-level parser) above `commands/`, one
//! thin module per subcommand plus the flags they share (`commands/prelude.rs`), and everything
//! else below them. A module below `commands/` never names `crate::commands` or `crate::cli`;
//! a command never names another command (only the prelude); and no command names `cli`.
//!
//! The check reads the sources as text: `use` paths and inline paths alike, braced groups
//! (`use crate::{cli, project}`) included; lines that are only comments are skipped.

use std::path::{Path, PathBuf};

/// Files above the commands, which may name them: the binary, the library's root and the
/// top-level parser.
const ABOVE: [&str; 3] = ["main.rs", "lib.rs", "cli.rs"];
/// The one module beside the commands that each of them may use.
const PRELUDE: &str = "prelude";

#[test]
fn no_module_reaches_up_or_across_the_command_layer() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.iter().any(|file| file.ends_with("commands/mod.rs")),
        "no `commands/mod.rs` under {}",
        src.display()
    );
    let commands = command_names(&files, &src);
    let mut found = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        found.extend(violations(relative, &text, &commands));
    }
    assert!(
        found.is_empty(),
        "the CLI's layers are crossed (see README.md, \"Layout and conventions\"):\n{}",
        found.join("\n")
    );
}

/// The check itself, on sources that cross each line: it must find every one.
#[test]
fn the_check_finds_each_kind_of_crossing() {
    let commands = vec!["build".to_owned(), "deploy".to_owned(), "serve".to_owned()];
    let cases: [(&str, &str, usize); 9] = [
        ("project.rs", "use crate::cli::ProjectArgs;\n", 1),
        (
            "emulator/control.rs",
            "    let s = crate::commands::serve::X;\n",
            1,
        ),
        (
            "aws/mod.rs",
            "use crate::{\n    cli,\n    error::CliError,\n};\n",
            1,
        ),
        (
            "commands/deploy.rs",
            "        crate::commands::build::warn(&p);\n",
            1,
        ),
        (
            "commands/serve.rs",
            "value_parser = super::deploy::parse\n",
            1,
        ),
        (
            "commands/destroy.rs",
            "use super::{deploy, prelude::ScopeArgs};\n",
            1,
        ),
        ("commands/zip.rs", "use crate::cli::ProjectArgs;\n", 1),
        // What is allowed: the prelude, a command's own tests, comments, lookalike names.
        (
            "commands/zip.rs",
            "use super::prelude::*;\nuse crate::commands::prelude::Output;\n// crate::commands::build\nuse crate::client;\n",
            0,
        ),
        (
            "commands/mod.rs",
            "pub(crate) mod build;\nuse crate::commands::build::BuildArgs;\n",
            0,
        ),
    ];
    for (path, text, expected) in cases {
        let found = violations(Path::new(path), text, &commands);
        assert_eq!(found.len(), expected, "{path}: {text:?} gave {found:?}");
    }
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
    files.sort();
}

/// The subcommands' modules: `commands/*.rs` but `mod.rs` and the prelude.
fn command_names(files: &[PathBuf], src: &Path) -> Vec<String> {
    files
        .iter()
        .filter_map(|file| {
            let relative = file.strip_prefix(src).ok()?;
            let mut parts = relative.iter();
            (parts.next()? == "commands").then_some(())?;
            let name = Path::new(parts.next()?).file_stem()?.to_str()?.to_owned();
            (parts.next().is_none() && name != "mod" && name != PRELUDE).then_some(name)
        })
        .collect()
}

/// Each crossing in `text`, the source of `relative` (a path under `src/`), as `file:line:
/// what`.
fn violations(relative: &Path, text: &str, commands: &[String]) -> Vec<String> {
    let relative_text = relative.to_string_lossy().replace('\\', "/");
    let in_commands = relative.starts_with("commands");
    let own_command = in_commands
        .then(|| relative.file_stem().and_then(|stem| stem.to_str()))
        .flatten()
        .filter(|stem| *stem != "mod" && *stem != PRELUDE);
    let above = ABOVE.contains(&relative_text.as_str());
    let mut found = Vec::new();
    for (line, path) in paths(text) {
        let segments: Vec<&str> = path.split("::").map(str::trim).collect();
        let problem = match segments.as_slice() {
            ["crate", "cli", ..] if !above => {
                Some("names `crate::cli`, the layer above".to_owned())
            }
            ["crate", "commands", rest @ ..] if !above && !in_commands => Some(format!(
                "names `crate::commands{}`, the layer above",
                rest.first()
                    .map(|next| format!("::{next}"))
                    .unwrap_or_default()
            )),
            ["crate", "commands", other, ..] | ["super", other, ..]
                if own_command.is_some_and(|own| own != *other)
                    && commands.iter().any(|command| command == other) =>
            {
                Some(format!(
                    "names the command `{other}`: share flags through `commands/{PRELUDE}.rs` and logic through a module below `commands/`"
                ))
            }
            _ => None,
        };
        if let Some(problem) = problem {
            found.push(format!("src/{relative_text}:{line}: `{path}` {problem}"));
        }
    }
    found
}

/// Every path starting with `crate::` or `super::` in `text`, with the line it starts on;
/// braced groups are expanded one level deep (`crate::{cli, x::y}` gives `crate::cli` and
/// `crate::x::y`), which is as deep as a crossing needs looking at.
fn paths(text: &str) -> Vec<(usize, String)> {
    // Comment lines aside, with their line numbers kept.
    let code: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .collect();
    let mut found = Vec::new();
    for (at, &(line, content)) in code.iter().enumerate() {
        for root in ["crate::", "super::"] {
            let mut from = 0;
            while let Some(offset) = content[from..].find(root) {
                let start = from + offset;
                from = start + root.len();
                let before = content[..start].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let rest = &content[from..];
                let head = root.trim_end_matches("::");
                if let Some(opened) = rest.strip_prefix('{') {
                    // The group may run over several lines: gather it up to its `}`.
                    let mut group = opened.to_owned();
                    let mut next = at + 1;
                    while !group.contains('}') && next < code.len() {
                        group.push(' ');
                        group.push_str(code[next].1);
                        next += 1;
                    }
                    let group = group.split('}').next().unwrap_or_default();
                    for item in group.split(',') {
                        let item: String = item
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | ' '))
                            .collect();
                        let item = item.trim();
                        if !item.is_empty() {
                            found.push((line, format!("{head}::{item}")));
                        }
                    }
                } else {
                    let path: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | ':'))
                        .collect();
                    found.push((line, format!("{head}::{}", path.trim_end_matches(':'))));
                }
            }
        }
    }
    found
}
