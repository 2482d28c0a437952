//! What Lambda cares about in a bootstrap binary, read from its ELF headers: the machine it
//! is for, its program interpreter, and the newest glibc symbol version it needs (from the
//! `.gnu.version_r` section, the "version needs" table of the System V ABI's GNU extension).

use std::path::Path;

/// The facts read from a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    /// `x86_64`, `arm64`, or the raw `e_machine` number of anything else.
    pub architecture: String,
    /// The dynamic loader it asks for (`PT_INTERP`), none when static.
    pub interpreter: Option<String>,
    /// The newest `GLIBC_x.y` it needs, as (major, minor).
    pub max_glibc: Option<(u32, u32)>,
}

/// Reads `path`.
///
/// # Errors
///
/// When the file cannot be read or is not a 64-bit little-endian ELF file.
pub fn inspect(path: &Path) -> Result<Binary, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("cannot read it: {error}"))?;
    parse(&bytes)
}

/// [`inspect`] of bytes already read.
pub(crate) fn parse(bytes: &[u8]) -> Result<Binary, String> {
    if bytes.get(..4) != Some(b"\x7fELF") || bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("it is not a 64-bit little-endian ELF binary".into());
    }
    let u16_at = |offset: usize| {
        bytes
            .get(offset..offset + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |offset: usize| {
        bytes
            .get(offset..offset + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |offset: usize| {
        bytes
            .get(offset..offset + 8)
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    };
    let truncated = || "its headers are truncated".to_owned();
    let architecture = match u16_at(18).ok_or_else(truncated)? {
        62 => "x86_64".to_owned(),
        183 => "arm64".to_owned(),
        other => format!("machine {other}"),
    };
    let (ph_offset, sh_offset) = (
        u64_at(32).ok_or_else(truncated)? as usize,
        u64_at(40).ok_or_else(truncated)? as usize,
    );
    let (ph_size, ph_count) = (
        u16_at(54).ok_or_else(truncated)? as usize,
        u16_at(56).ok_or_else(truncated)? as usize,
    );
    let (sh_size, sh_count) = (
        u16_at(58).ok_or_else(truncated)? as usize,
        u16_at(60).ok_or_else(truncated)? as usize,
    );

    let mut interpreter = None;
    for index in 0..ph_count {
        let header = ph_offset + index * ph_size;
        // PT_INTERP
        if u32_at(header) == Some(3) {
            let (offset, size) = (
                u64_at(header + 8).ok_or_else(truncated)? as usize,
                u64_at(header + 32).ok_or_else(truncated)? as usize,
            );
            let path = bytes.get(offset..offset + size).ok_or_else(truncated)?;
            interpreter = Some(
                String::from_utf8_lossy(path)
                    .trim_end_matches('\0')
                    .to_owned(),
            );
        }
    }

    // Section headers: (type, offset, size, link).
    let sections: Vec<(u32, usize, usize, usize)> = (0..sh_count)
        .filter_map(|index| {
            let header = sh_offset + index * sh_size;
            Some((
                u32_at(header + 4)?,
                u64_at(header + 24)? as usize,
                u64_at(header + 32)? as usize,
                u32_at(header + 40)? as usize,
            ))
        })
        .collect();
    let mut max_glibc = None;
    // SHT_GNU_verneed; its `sh_link` is the string table the names are in.
    for &(_, offset, _, link) in sections.iter().filter(|section| section.0 == 0x6fff_fffe) {
        let strings = sections
            .get(link)
            .map(|section| section.1)
            .ok_or_else(truncated)?;
        let mut need = offset;
        loop {
            // Elf64_Verneed: version, count, file, aux, next.
            let count = u16_at(need + 2).ok_or_else(truncated)? as usize;
            let mut aux = need + u32_at(need + 8).ok_or_else(truncated)? as usize;
            for _ in 0..count {
                // Elf64_Vernaux: hash, flags, other, name, next.
                let name = strings + u32_at(aux + 8).ok_or_else(truncated)? as usize;
                let end = bytes
                    .get(name..)
                    .and_then(|rest| rest.iter().position(|&byte| byte == 0))
                    .ok_or_else(truncated)?;
                let version = String::from_utf8_lossy(&bytes[name..name + end]);
                if let Some(number) = version.strip_prefix("GLIBC_") {
                    let mut parts = number.split('.').map(|part| part.parse::<u32>().ok());
                    if let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) {
                        max_glibc = max_glibc.max(Some((major, minor)));
                    }
                }
                let next = u32_at(aux + 12).ok_or_else(truncated)? as usize;
                if next == 0 {
                    break;
                }
                aux += next;
            }
            let next = u32_at(need + 12).ok_or_else(truncated)? as usize;
            if next == 0 {
                break;
            }
            need += next;
        }
    }
    Ok(Binary {
        architecture,
        interpreter,
        max_glibc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_read() {
        let binary = inspect(&std::env::current_exe().unwrap()).unwrap();
        assert_eq!(binary.architecture, "x86_64");
        assert_eq!(
            binary.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        // binutils' own reading of the version needs, for comparison.
        let readelf = std::process::Command::new("readelf")
            .arg("-V")
            .arg(std::env::current_exe().unwrap())
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&readelf.stdout);
        let newest = listed
            .split(|c: char| c.is_whitespace())
            .filter_map(|word| word.strip_prefix("GLIBC_"))
            .filter_map(|version| version.split_once('.'))
            .filter_map(|(major, minor)| {
                Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
            })
            .max();
        assert!(newest.is_some(), "{listed}");
        assert_eq!(binary.max_glibc, newest);
    }

    #[test]
    fn other_files_are_refused() {
        assert_eq!(
            parse(b"#!/bin/sh\n").unwrap_err(),
            "it is not a 64-bit little-endian ELF binary"
        );
        assert_eq!(
            parse(b"\x7fELF\x02\x01").unwrap_err(),
            "its headers are truncated"
        );
    }
}
