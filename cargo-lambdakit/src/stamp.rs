//! Whether a file changed since it was last looked at, without reading it: its modification
//! time and length, as cargo's own fingerprints judge sources. Used by what `deploy` skips when
//! nothing changed: `cargo metadata` ([`crate::project`]) and the build
//! ([`crate::build::lambda`]).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A file's (or directory's) modification time in nanoseconds since the epoch and its length;
/// `None` when it is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    path: PathBuf,
    seen: Option<(u128, u64)>,
}

impl Stamp {
    /// `path` as it is now.
    pub fn of(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            seen: std::fs::metadata(path).ok().as_ref().and_then(seen),
        }
    }

    /// The path stamped.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file is as it was stamped (missing then and now counts).
    pub fn is_current(&self) -> bool {
        *self == Self::of(&self.path)
    }

    /// Whether the file opened as `file` is as this stamp saw it: what is read through it
    /// then is what was stamped, even when the path is replaced meanwhile.
    pub fn matches(&self, file: &std::fs::File) -> bool {
        file.metadata().ok().as_ref().and_then(seen) == self.seen
    }

    /// Whether it was changed at or after `time`, or is missing.
    pub fn changed_since(&self, time: SystemTime) -> bool {
        let since = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        self.seen.is_none_or(|(modified, _)| modified >= since)
    }
}

fn seen(metadata: &std::fs::Metadata) -> Option<(u128, u64)> {
    let modified = metadata.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some((modified.as_nanos(), metadata.len()))
}
