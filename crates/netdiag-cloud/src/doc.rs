//! Reading `--resources`: files or directories of JSON exactly as the provider's CLI printed it.
//! No provider knowledge here (detection lives in [`crate::check::detect`], the one place that
//! knows every provider). Every error names the file.

pub use crate::provider::Provider;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Largest single export read (a big estate's `describe-instances` is tens of MiB).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// Most files read from directories, so a wrong path (`/`) ends quickly with an error.
pub const MAX_FILES: usize = 10_000;

/// One parsed export.
#[derive(Debug, Clone)]
pub struct Document {
    /// Where it came from (for messages).
    pub path: PathBuf,
    /// The JSON as printed.
    pub value: Value,
}

impl Document {
    /// A document from JSON text (tests and callers that already hold the text).
    pub fn from_str(path: impl Into<PathBuf>, text: &str) -> Result<Document, LoadError> {
        let path = path.into();
        let value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
            LoadError::Json {
                path: path.clone(),
                line: e.line(),
                column: e.column(),
                why: e.to_string(),
            }
        })?;
        Ok(Document { path, value })
    }
}

/// A file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Cannot read.
    #[error("{}: {why}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        why: String,
    },
    /// Not JSON.
    #[error("{}:{line}:{column}: not valid JSON ({why}); give the CLI's JSON output unchanged (e.g. --output json / --format=json)", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's message.
        why: String,
    },
    /// Too big or too many.
    #[error("{}: {why}", path.display())]
    Limit {
        /// The file or directory.
        path: PathBuf,
        /// Which limit.
        why: String,
    },
    /// JSON, but not an export this provider understands (or a field has the wrong type).
    #[error("{}: {why}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the object (e.g. `SecurityGroups[3].IpPermissions[0].FromPort: expected a number`).
        why: String,
    },
    /// No provider given and none recognised.
    #[error("cannot tell the provider from the files; give --provider aws|gcp|azure")]
    UnknownProvider,
    /// Files from more than one provider.
    #[error("the files mix providers ({0}); check one provider at a time or give --provider")]
    MixedProviders(String),
}

/// Reads every path: a file, or a directory whose `.json` files are read (sorted, recursively).
pub fn load(paths: &[PathBuf]) -> Result<Vec<Document>, LoadError> {
    read_all(&files(paths)?)
}

/// The files `load` would read: each path, or a directory's `.json` files (sorted, recursively).
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files, 0)?;
    }
    Ok(files)
}

/// Parses the files on up to four threads, keeping their order: JSON parsing is most of the time a
/// large estate takes (a 2,000-instance `describe-instances` is megabytes), and the files are
/// independent. The first error in file order is reported.
fn read_all(files: &[PathBuf]) -> Result<Vec<Document>, LoadError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(files.len().max(1));
    if threads <= 1 {
        return files.iter().map(|f| read(f)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<Result<Document, LoadError>>> = Vec::new();
    slots.resize_with(files.len(), || None);
    let parsed: Vec<Vec<(usize, Result<Document, LoadError>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(f) = files.get(i) else { break };
                        out.push((i, read(f)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for (i, r) in parsed.into_iter().flatten() {
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(r);
        }
    }
    slots
        .into_iter()
        .zip(files)
        .map(|(slot, f)| {
            slot.unwrap_or_else(|| {
                Err(LoadError::Io {
                    path: f.clone(),
                    why: "the reader thread failed".into(),
                })
            })
        })
        .collect()
}

fn collect(path: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    if depth > 8 {
        return Err(LoadError::Limit {
            path: path.to_path_buf(),
            why: "directories nested more than 8 deep".into(),
        });
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| LoadError::Io {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            collect(&e, out, depth + 1)?;
        } else if e
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("json"))
        {
            out.push(e);
        }
        if out.len() > MAX_FILES {
            return Err(LoadError::Limit {
                path: path.to_path_buf(),
                why: format!("more than {MAX_FILES} files"),
            });
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Document, LoadError> {
    let io = |e: std::io::Error| LoadError::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(LoadError::Limit {
            path: path.to_path_buf(),
            why: format!("{len} bytes; at most {MAX_FILE_BYTES} are read"),
        });
    }
    // Bounded even when the size is not known up front (/dev/stdin, a FIFO, /dev/zero).
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(path).map_err(io)?, MAX_FILE_BYTES + 1),
        &mut bytes,
    )
    .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(LoadError::Limit {
            path: path.to_path_buf(),
            why: format!("more than {MAX_FILE_BYTES} bytes; not a CLI export"),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| LoadError::Json {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        why: format!("not UTF-8 at byte {}", e.utf8_error().valid_up_to()),
    })?;
    Document::from_str(path, &text)
}
