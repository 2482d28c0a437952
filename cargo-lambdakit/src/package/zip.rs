//! Deterministic zip archives, as Lambda takes code: the same files always make the same bytes
//! (fixed timestamps, sorted entries, fixed modes), so an unchanged function has an unchanged
//! `CodeSha256` and deploy can skip its upload.
//!
//! The format is PKWARE's APPNOTE (local headers, central directory, end record; no zip64,
//! which Lambda's 250 MB limit never needs), entries DEFLATE-compressed. [`read`] takes such
//! archives back (stored or DEFLATE entries, as any zip tool writes them), for the local
//! Lambda's CreateFunction.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::Digest as _;

use crate::error::CliError;
use crate::project::Kind;

/// Lambda's limit on a function's unzipped code (AWS "Lambda quotas").
pub const MAX_UNZIPPED_BYTES: u64 = 250 * 1024 * 1024;
/// Lambda's limit on a zip uploaded directly, not through S3 (AWS "Lambda quotas").
pub const MAX_DIRECT_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

/// 1980-01-01 00:00:00, the zip format's first instant, as MS-DOS date and time.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;
/// "Made by" Unix (3), format version 2.0: readers then honour the Unix modes.
const MADE_BY: u16 = (3 << 8) | 20;
const NEEDED: u16 = 20;
const DEFLATE: u16 = 8;

/// One file of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name in the archive, `/`-separated.
    pub name: String,
    /// Its bytes.
    pub data: Vec<u8>,
    /// Executable (mode 0755) or not (0644).
    pub executable: bool,
}

/// A written archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// The archive's bytes.
    pub bytes: Vec<u8>,
    /// The sum of its files' sizes.
    pub unzipped: u64,
}

impl Archive {
    /// Lambda's `CodeSha256`: the archive's SHA-256, base64.
    pub fn code_sha256(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&self.bytes))
    }
}

/// The entries for a function: its `bootstrap` and the `includes` (files, or directories
/// taken whole, each under its own name). Sizes are checked against Lambda's limit before
/// anything is read.
///
/// # Errors
///
/// When a file cannot be read, or the files are over Lambda's unzipped limit.
pub fn entries(bootstrap: &Path, includes: &[PathBuf]) -> Result<Vec<Entry>, CliError> {
    gather(bootstrap, "bootstrap".to_owned(), includes)
}

/// The entries for an extension's layer: its binary as `extensions/NAME` (Lambda starts
/// each executable of `/opt/extensions` as an external extension, AWS "Lambda extensions
/// API"), and the `includes`, as [`entries`] takes them.
///
/// # Errors
///
/// As [`entries`].
pub fn layer_entries(
    binary: &Path,
    name: &str,
    includes: &[PathBuf],
) -> Result<Vec<Entry>, CliError> {
    gather(binary, format!("extensions/{name}"), includes)
}

/// The entries of a `kind` of binary named `name`: [`entries`] for a function,
/// [`layer_entries`] for an extension.
///
/// # Errors
///
/// As [`entries`].
pub fn entries_of(
    kind: Kind,
    binary: &Path,
    name: &str,
    includes: &[PathBuf],
) -> Result<Vec<Entry>, CliError> {
    match kind {
        Kind::Function => entries(binary, includes),
        Kind::Extension => layer_entries(binary, name, includes),
    }
}

/// The file name of a `kind` of binary's zip: `bootstrap.zip`, or a layer's `layer.zip`.
pub fn file_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Function => "bootstrap.zip",
        Kind::Extension => "layer.zip",
    }
}

/// The executable `main` as `main_name`, and the `includes`.
fn gather(main: &Path, main_name: String, includes: &[PathBuf]) -> Result<Vec<Entry>, CliError> {
    let unreadable = |path: &Path, error: std::io::Error| CliError::Config {
        key: path.display().to_string(),
        problem: format!("cannot be read: {error}"),
    };
    // (path, name in the archive, executable, size)
    let mut files = vec![(main.to_path_buf(), main_name, true, 0)];
    for include in includes {
        let base = include.parent().unwrap_or(Path::new(""));
        let mut pending = vec![include.clone()];
        while let Some(path) = pending.pop() {
            if path.is_dir() {
                let listing = std::fs::read_dir(&path).map_err(|error| unreadable(&path, error))?;
                pending.extend(listing.filter_map(Result::ok).map(|entry| entry.path()));
                continue;
            }
            let relative = path.strip_prefix(base).unwrap_or(&path);
            let name: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push((path.clone(), name.join("/"), false, 0));
        }
    }
    let mut total = 0;
    for (path, _, executable, size) in &mut files {
        let metadata = std::fs::metadata(&*path).map_err(|error| unreadable(path, error))?;
        *size = metadata.len();
        *executable |=
            std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o111 != 0;
        total += *size;
    }
    if total > MAX_UNZIPPED_BYTES {
        return Err(too_large(total));
    }
    files
        .into_iter()
        .map(|(path, name, executable, _)| {
            let data = std::fs::read(&path).map_err(|error| unreadable(&path, error))?;
            Ok(Entry {
                name,
                data,
                executable,
            })
        })
        .collect()
}

fn too_large(unzipped: u64) -> CliError {
    CliError::Config {
        key: "the package".into(),
        problem: format!(
            "is {unzipped} bytes unzipped, over Lambda's limit of {MAX_UNZIPPED_BYTES} bytes"
        ),
    }
}

/// Writes `entries` as a zip, sorted by name.
///
/// # Errors
///
/// When two entries have the same name, or the files are over Lambda's unzipped limit.
pub fn write(mut entries: Vec<Entry>) -> Result<Archive, CliError> {
    entries.sort_by(|left, right| left.name.cmp(&right.name));
    if let Some(twice) = entries.windows(2).find(|pair| pair[0].name == pair[1].name) {
        return Err(CliError::Config {
            key: "--include".into(),
            problem: format!("puts `{}` in the archive twice", twice[0].name),
        });
    }
    let unzipped: u64 = entries.iter().map(|entry| entry.data.len() as u64).sum();
    if unzipped > MAX_UNZIPPED_BYTES {
        return Err(too_large(unzipped));
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in &entries {
        let offset = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let compressed = miniz_oxide::deflate::compress_to_vec(&entry.data, 9);
        let crc = crc32fast::hash(&entry.data);
        let name = entry.name.as_bytes();
        let sizes = [compressed.len() as u32, entry.data.len() as u32];

        put32(&mut out, 0x0403_4b50);
        put16(&mut out, NEEDED);
        put16(&mut out, 0);
        put16(&mut out, DEFLATE);
        put16(&mut out, DOS_TIME);
        put16(&mut out, DOS_DATE);
        put32(&mut out, crc);
        put32(&mut out, sizes[0]);
        put32(&mut out, sizes[1]);
        put16(&mut out, name.len() as u16);
        put16(&mut out, 0);
        out.extend_from_slice(name);
        out.extend_from_slice(&compressed);

        let mode: u32 = if entry.executable {
            0o100_755
        } else {
            0o100_644
        };
        put32(&mut central, 0x0201_4b50);
        put16(&mut central, MADE_BY);
        put16(&mut central, NEEDED);
        put16(&mut central, 0);
        put16(&mut central, DEFLATE);
        put16(&mut central, DOS_TIME);
        put16(&mut central, DOS_DATE);
        put32(&mut central, crc);
        put32(&mut central, sizes[0]);
        put32(&mut central, sizes[1]);
        put16(&mut central, name.len() as u16);
        put16(&mut central, 0);
        put16(&mut central, 0);
        put16(&mut central, 0);
        put16(&mut central, 0);
        put32(&mut central, mode << 16);
        put32(&mut central, offset);
        central.extend_from_slice(name);
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    put32(&mut out, 0x0605_4b50);
    put16(&mut out, 0);
    put16(&mut out, 0);
    put16(&mut out, entries.len() as u16);
    put16(&mut out, entries.len() as u16);
    put32(&mut out, central.len() as u32);
    put32(&mut out, central_offset);
    put16(&mut out, 0);
    Ok(Archive {
        bytes: out,
        unzipped,
    })
}

/// Reads the files of a zip (directories and anything but stored or DEFLATE entries left
/// out), refusing names that would land outside the directory they are unpacked into and
/// archives over Lambda's unzipped limit. An entry is executable when the archive was made on
/// Unix with an execute bit in its mode, as Lambda reads it.
///
/// # Errors
///
/// A description of what is wrong with the archive.
pub fn read(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let truncated = || "the zip file is truncated or corrupt".to_owned();
    let u16_at = |offset: usize| {
        bytes
            .get(offset..offset + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or_else(truncated)
    };
    let u32_at = |offset: usize| {
        bytes
            .get(offset..offset + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(truncated)
    };
    // The end record is the last 22 bytes, before a comment of up to 64 KB.
    let lowest = bytes.len().saturating_sub(22 + usize::from(u16::MAX));
    let end = (lowest..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&at| bytes.get(at..at + 4) == Some(&[0x50, 0x4b, 0x05, 0x06]))
        .ok_or_else(|| "it is not a zip file (no end of central directory record)".to_owned())?;
    let count = usize::from(u16_at(end + 10)?);
    let mut at = u32_at(end + 16)? as usize;
    let mut entries = Vec::with_capacity(count);
    let mut unzipped: u64 = 0;
    for _ in 0..count {
        if u32_at(at)? != 0x0201_4b50 {
            return Err(truncated());
        }
        let made_by = u16_at(at + 4)?;
        let method = u16_at(at + 10)?;
        let compressed = u32_at(at + 20)? as usize;
        let size = u64::from(u32_at(at + 24)?);
        let name_len = usize::from(u16_at(at + 28)?);
        let extra_len = usize::from(u16_at(at + 30)?);
        let comment_len = usize::from(u16_at(at + 32)?);
        let mode = u32_at(at + 38)? >> 16;
        let local = u32_at(at + 42)? as usize;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(truncated)?;
        let name = String::from_utf8_lossy(name).into_owned();
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') {
            continue;
        }
        if name.starts_with('/')
            || name.split(['/', '\\']).any(|part| part == "..")
            || name.is_empty()
        {
            return Err(format!(
                "the entry `{name}` would be unpacked outside its directory"
            ));
        }
        unzipped += size;
        if unzipped > MAX_UNZIPPED_BYTES {
            return Err(format!(
                "it is over {MAX_UNZIPPED_BYTES} bytes unzipped, Lambda's limit"
            ));
        }
        if u32_at(local)? != 0x0403_4b50 {
            return Err(truncated());
        }
        let start =
            local + 30 + usize::from(u16_at(local + 26)?) + usize::from(u16_at(local + 28)?);
        let raw = bytes.get(start..start + compressed).ok_or_else(truncated)?;
        let data = match method {
            0 => raw.to_vec(),
            DEFLATE => miniz_oxide::inflate::decompress_to_vec_with_limit(raw, size as usize)
                .map_err(|_| format!("the entry `{name}` does not inflate"))?,
            other => {
                return Err(format!(
                    "the entry `{name}` is compressed with method {other}; only stored and DEFLATE entries are read"
                ));
            }
        };
        if data.len() as u64 != size {
            return Err(format!(
                "the entry `{name}` is not the size its header says"
            ));
        }
        entries.push(Entry {
            name,
            data,
            executable: made_by >> 8 == 3 && mode & 0o111 != 0,
        });
    }
    Ok(entries)
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, data: &[u8], executable: bool) -> Entry {
        Entry {
            name: name.into(),
            data: data.to_vec(),
            executable,
        }
    }

    #[test]
    fn the_same_files_make_the_same_bytes_in_any_order() {
        let first = write(vec![
            entry("bootstrap", b"\x7fELF...", true),
            entry("config/app.json", b"{}", false),
        ])
        .unwrap();
        let second = write(vec![
            entry("config/app.json", b"{}", false),
            entry("bootstrap", b"\x7fELF...", true),
        ])
        .unwrap();
        assert_eq!(first, second);
        assert_eq!(first.code_sha256(), second.code_sha256());
        assert_eq!(first.unzipped, 9);
    }

    #[test]
    fn written_archives_read_back() {
        let written = write(vec![
            entry("bootstrap", &[7; 5000], true),
            entry("config/app.json", b"{}", false),
        ])
        .unwrap();
        let read = read(&written.bytes).unwrap();
        assert_eq!(
            read,
            vec![
                entry("bootstrap", &[7; 5000], true),
                entry("config/app.json", b"{}", false),
            ]
        );
        assert!(super::read(&written.bytes[..written.bytes.len() - 30]).is_err());
        assert!(super::read(b"not a zip").is_err());
        let escaping = write(vec![entry("../bootstrap", b"x", true)]).unwrap();
        assert!(
            super::read(&escaping.bytes)
                .unwrap_err()
                .contains("outside its directory")
        );
    }

    #[test]
    fn a_name_twice_is_refused() {
        let error = write(vec![entry("a", b"1", false), entry("a", b"2", false)]).unwrap_err();
        assert!(
            error.to_string().contains("puts `a` in the archive twice"),
            "{error}"
        );
    }
}
