//! A function's code: the zip CreateFunction and UpdateFunctionCode bring, checked as Lambda
//! checks it (a `bootstrap` at its root, executable, built for the function's architecture)
//! and unpacked under the state directory, what runs it on this machine, and the zip served
//! back where GetFunction's `Code.Location` points.

use std::path::Path;

use base64::Engine as _;
use http::Response;
use sha2::Digest as _;

use super::{invalid, service_error, zip_download};
use crate::emulator::{Body, Emulator, boxed};
use crate::package::zip::Entry;
use crate::platform::Architecture;

impl Emulator {
    /// Unpacks `zip` into a new code directory of the function's `dir`, once it is found fit
    /// to run as `architecture`.
    pub(super) async fn unpack_code(
        &self,
        dir: &Path,
        zip: Vec<u8>,
        architecture: &str,
    ) -> Result<Code, Response<Body>> {
        let id = crate::emulator::ids::request_id();
        let code_dir = dir.join(&id);
        let architecture = architecture.to_owned();
        let unpacked = tokio::task::spawn_blocking(move || {
            let entries = checked(&zip, &architecture)?;
            runner(&architecture)?;
            let unpacked = unpack(&entries, &zip, &code_dir);
            if unpacked.is_err() {
                let _ = std::fs::remove_dir_all(&code_dir);
            }
            unpacked
        })
        .await;
        match unpacked {
            Ok(Ok((size, sha256))) => Ok(Code { id, size, sha256 }),
            Ok(Err(problem)) => Err(invalid(&problem)),
            Err(error) => Err(service_error(&format!(
                "unpacking the code stopped: {error}"
            ))),
        }
    }

    /// The zip a function (or a version of it) runs: what GetFunction's `Code.Location`
    /// names.
    pub(super) async fn code(&self, name: &str, qualifier: Option<&str>) -> Response<Body> {
        let zip = match self.resolve(name, qualifier) {
            Ok((pool, _)) => pool
                .created
                .as_ref()
                .map(|created| created.dir.join(&created.config.code).join("code.zip")),
            Err(refusal) => return *refusal,
        };
        let Some(zip) = zip else {
            return boxed(self.not_found(name));
        };
        match zip_download(zip).await {
            Some(response) => response,
            None => boxed(self.not_found(name)),
        }
    }
}

/// A code upload, unpacked.
#[derive(Debug)]
pub(super) struct Code {
    /// Its directory's name.
    pub(super) id: String,
    pub(super) size: u64,
    pub(super) sha256: String,
}

/// The zip of a request's `field`, base64 on the wire.
pub(super) fn decoded_zip(encoded: Option<&str>, field: &str) -> Result<Vec<u8>, String> {
    let encoded = encoded.ok_or_else(|| format!("{field} is required: the function's zip"))?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| format!("{field} is not base64"))
}

/// What runs code of `architecture` here (`crate::platform::runner`), in the Lambda API's words.
pub(super) fn runner(architecture: &str) -> Result<Vec<String>, String> {
    crate::platform::runner(self::architecture(architecture)?).map_err(|cannot| cannot.to_string())
}

/// The architecture the Lambda API calls `name`.
pub(super) fn architecture(name: &str) -> Result<Architecture, String> {
    Architecture::named(name)
        .ok_or_else(|| format!("Architectures is `{name}`; Lambda takes `x86_64` or `arm64`"))
}

/// The files of `zip`, once its `bootstrap` is found fit to run as `architecture`.
fn checked(zip: &[u8], architecture: &str) -> Result<Vec<Entry>, String> {
    let entries = crate::package::zip::read(zip)
        .map_err(|problem| format!("Code.ZipFile cannot be unpacked: {problem}"))?;
    // Two entries of one name would be checked as the first and unpacked as the last.
    let mut names = std::collections::HashSet::new();
    if let Some(twice) = entries
        .iter()
        .find(|entry| !names.insert(entry.name.as_str()))
    {
        return Err(format!(
            "the zip has more than one entry named `{}`: zip each file once",
            twice.name
        ));
    }
    let bootstrap = entries
        .iter()
        .find(|entry| entry.name == "bootstrap")
        .ok_or("the zip has no `bootstrap` at its root: an OS-only runtime starts the function by running it")?;
    if !bootstrap.executable {
        return Err(
            "the zip's `bootstrap` is not executable: zip it with mode 0755 (cargo lambdakit zip does)".into(),
        );
    }
    if bootstrap.data.starts_with(b"\x7fELF") {
        let binary = crate::build::elf::parse(&bootstrap.data)
            .map_err(|problem| format!("the zip's `bootstrap` cannot be read: {problem}"))?;
        if binary.architecture != architecture {
            return Err(format!(
                "the zip's `bootstrap` is built for {}, but Architectures is `{architecture}`",
                binary.architecture
            ));
        }
    } else if !bootstrap.data.starts_with(b"#!") {
        return Err("the zip's `bootstrap` is neither an ELF binary nor a script (`#!`)".into());
    }
    Ok(entries)
}

/// Unpacks `entries` into `dir/code`, keeping their `zip` as `dir/code.zip`; returns the
/// zip's size and its `CodeSha256`.
fn unpack(entries: &[Entry], zip: &[u8], dir: &Path) -> Result<(u64, String), String> {
    let failed = |error: std::io::Error| format!("cannot unpack the code: {error}");
    let code = dir.join("code");
    for entry in entries {
        let path = code.join(&entry.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        std::fs::write(&path, &entry.data).map_err(failed)?;
        let mode = if entry.executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .map_err(failed)?;
    }
    std::fs::write(dir.join("code.zip"), zip).map_err(failed)?;
    let sha = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(zip));
    Ok((zip.len() as u64, sha))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A zip of `entries` (name, text, executable), written by Python's `zipfile`, which
    /// writes an entry as often as it is given.
    pub(crate) fn python_zip(entries: &[(&str, &str, bool)]) -> Vec<u8> {
        let entries = serde_json::to_string(entries).unwrap();
        let script = r#"
import io, json, sys, warnings, zipfile
warnings.simplefilter("ignore")
out = io.BytesIO()
with zipfile.ZipFile(out, "w") as archive:
    for name, text, executable in json.loads(sys.argv[1]):
        info = zipfile.ZipInfo(name)
        info.external_attr = (0o100755 if executable else 0o100644) << 16
        archive.writestr(info, text)
sys.stdout.buffer.write(out.getvalue())
"#;
        let output = std::process::Command::new("python3")
            .args(["-c", script, &entries])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        output.stdout
    }

    #[test]
    fn a_zip_with_an_entry_twice_is_refused() {
        let zip = python_zip(&[
            ("bootstrap", "#!/bin/sh\necho checked", true),
            ("bootstrap", "not what was checked", false),
        ]);
        let problem = checked(&zip, "x86_64").unwrap_err();
        assert!(
            problem.contains("more than one entry named `bootstrap`"),
            "{problem}"
        );
        let once = python_zip(&[("bootstrap", "#!/bin/sh\necho checked", true)]);
        assert!(checked(&once, "x86_64").is_ok());
    }
}
