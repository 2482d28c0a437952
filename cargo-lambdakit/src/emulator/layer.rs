//! What the local Lambda runs of a layer: its extensions, the executables directly under
//! `extensions/` in its zip, which Lambda starts from `/opt/extensions/NAME` (AWS "Lambda
//! extensions API"). The rest of a layer (libraries, data) has no place to go without an
//! `/opt`, and is left in the zip.
//!
//! The one home of this unpacking, for `serve --layer ZIP` and for the layer versions
//! published to the Lambda API (`lambda_api::layers`) alike.

use std::path::{Path, PathBuf};

/// Unpacks the extensions of the layer zip `zip` into `dir/extensions/` (made if need be), and
/// returns their paths, in the zip's order; a layer of libraries alone has none.
///
/// # Errors
///
/// A description of what is wrong (worded to follow the zip's name): not a zip, an
/// extension without its executable bit, or a file that cannot be written.
pub(crate) fn unpack_extensions(zip: &[u8], dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = crate::package::zip::read(zip)
        .map_err(|problem| format!("is not a zip serve can read: {problem}"))?;
    let opt = dir.join("extensions");
    let mut extensions: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let Some(name) = entry.name.strip_prefix("extensions/") else {
            continue;
        };
        // One plain file name, nothing that could climb out of the directory.
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            continue;
        }
        if !entry.executable {
            return Err(format!(
                "has `extensions/{name}` without the executable bit: zip it with mode 0755 (cargo lambdakit zip does)"
            ));
        }
        let path = opt.join(name);
        let written = std::fs::create_dir_all(&opt)
            .and_then(|()| std::fs::write(&path, &entry.data))
            .and_then(|()| {
                std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            });
        written.map_err(|error| format!("cannot be unpacked: {error}"))?;
        overlay(&mut extensions, std::slice::from_ref(&path));
    }
    Ok(extensions)
}

/// Adds the extensions of a later layer to `extensions`: a file of the same name replaces the
/// earlier one, as a later layer's does in Lambda's `/opt`.
pub(crate) fn overlay(extensions: &mut Vec<PathBuf>, later: &[PathBuf]) {
    for extension in later {
        extensions.retain(|known| known.file_name() != extension.file_name());
        extensions.push(extension.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip of `entries` (name, text, executable).
    fn zip(entries: &[(&str, &str, bool)]) -> Vec<u8> {
        let entries = entries
            .iter()
            .map(|&(name, text, executable)| crate::package::zip::Entry {
                name: name.into(),
                data: text.into(),
                executable,
            })
            .collect();
        crate::package::zip::write(entries).unwrap().bytes
    }

    #[test]
    fn a_later_layers_extension_of_one_name_wins() {
        let mut extensions = vec![PathBuf::from("/a/0/extensions/x"), PathBuf::from("/a/0/y")];
        overlay(
            &mut extensions,
            &[PathBuf::from("/a/1/extensions/x"), PathBuf::from("/a/1/z")],
        );
        assert_eq!(
            extensions,
            [
                PathBuf::from("/a/0/y"),
                PathBuf::from("/a/1/extensions/x"),
                PathBuf::from("/a/1/z"),
            ]
        );
    }

    #[test]
    fn extensions_are_unpacked_and_the_rest_is_left() {
        let dir = std::env::temp_dir().join(format!("lambdakit-layer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let layer = zip(&[
            ("extensions/watch", "#!/bin/sh\nexit 0", true),
            ("extensions/deeper/not", "#!/bin/sh", true),
            ("lib/helper.py", "x = 1", false),
        ]);
        let extensions = unpack_extensions(&layer, &dir).unwrap();
        assert_eq!(extensions, [dir.join("extensions/watch")]);
        assert!(!dir.join("lib").exists());
        let libraries = zip(&[("lib/x", "x", false)]);
        assert_eq!(
            unpack_extensions(&libraries, &dir.join("other")),
            Ok(Vec::new())
        );
        let plain = zip(&[("extensions/plain", "#!/bin/sh", false)]);
        let problem = unpack_extensions(&plain, &dir.join("plain")).unwrap_err();
        assert!(problem.contains("without the executable bit"), "{problem}");
        assert!(
            unpack_extensions(b"not a zip", &dir)
                .unwrap_err()
                .starts_with("is not a zip")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
