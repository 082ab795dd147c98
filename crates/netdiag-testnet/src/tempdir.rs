//! A temporary directory removed on drop, for resolv.conf, hosts files and server configs.
//!
//! Hand-written (a dozen lines) rather than a dependency: the harness needs nothing more than a
//! unique directory that disappears, and the name carries the process id so a leak is traceable.

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

/// A unique directory under the system temp dir, removed (with its content) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// Creates `$TMPDIR/netdiag-testnet-<pid>-<seq>-<tag>`.
    pub fn new(tag: &str) -> Result<Self> {
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "netdiag-testnet-{}-{seq}-{tag}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        Ok(TempDir { path, keep: false })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` inside the directory and returns the file's path.
    pub fn write(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let file = self.path.join(name);
        std::fs::write(&file, contents)
            .map_err(|e| Error::io(format!("write {}", file.display()), e))?;
        Ok(file)
    }

    /// Keeps the directory after drop (for debugging a failing scenario).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
