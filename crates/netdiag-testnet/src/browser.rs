//! A real browser for page tests: Debian's headless Chromium, bounded in time, with a fresh
//! profile per run.
//!
//! Why a real browser rather than an HTML parser: the status page's claim is about what a person
//! sees (a red cell where the failing layer is, the cause in text, an injected `<script>` shown as
//! text). Only a browser's parser and renderer check that. Chromium runs with `--dump-dom` (the
//! DOM after parsing and any script) and `--screenshot` (the pixels), each run killed after
//! [`Chromium::TIMEOUT`], its profile in a [`TempDir`] removed on drop. Pages are loaded from
//! `file://` or loopback only.
//!
//! One browser at a time per test process ([`ONE_AT_A_TIME`]): Chromium is several processes,
//! and three of them at once on a small, busy CI machine starve each other past the deadline. A
//! run that still times out (a starved machine, not a broken page) is tried once more, so every
//! step is bounded by twice the timeout.

use crate::process::{display, run_bounded};
use crate::{Error, Result, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// Held while a browser runs: tests of one process share the machine, one browser at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How many bounded runs a step may take (the second only after a timeout).
const ATTEMPTS: usize = 2;

/// Where Debian installs the browser.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Headless Chromium with a throwaway profile.
#[derive(Debug)]
pub struct Chromium {
    program: PathBuf,
    profile: TempDir,
}

/// A decoded screenshot: 8-bit RGBA pixels, row by row.
#[derive(Debug, Clone)]
pub struct Screenshot {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGBA, `width * height * 4` bytes.
    pub rgba: Vec<u8>,
    /// The PNG file's size in bytes.
    pub file_bytes: u64,
}

impl Chromium {
    /// How long one browser run may take before it is killed.
    pub const TIMEOUT: Duration = Duration::from_secs(30);

    /// The browser, or `None` when it is not installed (a developer's machine; CI installs it).
    pub fn find() -> Result<Option<Chromium>> {
        let program = PathBuf::from(CHROMIUM);
        if !program.exists() {
            return Ok(None);
        }
        Ok(Some(Chromium {
            program,
            profile: TempDir::new("chromium")?,
        }))
    }

    fn command(&self, extra: &[&str], url: &str) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-component-update",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", self.profile.path().display()))
        .args(extra)
        .arg(url)
        // No session bus here: say so instead of letting Chromium look for one.
        .env("DBUS_SESSION_BUS_ADDRESS", "disabled:");
        cmd
    }

    /// Runs the browser with `extra` on `url`: one at a time, each run killed after
    /// [`Chromium::TIMEOUT`], tried again once when it timed out.
    fn run(&self, extra: &[&str], url: &str) -> Result<(String, crate::process::Finished)> {
        // A test that panicked while holding the lock leaves nothing to protect: take it anyway.
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let mut attempt = 1;
        loop {
            let cmd = self.command(extra, url);
            let line = display(&cmd);
            match run_bounded(cmd, Self::TIMEOUT) {
                Err(Error::Timeout { .. }) if attempt < ATTEMPTS => attempt += 1,
                Err(e) => return Err(e),
                Ok(done) => return Ok((line, done)),
            }
        }
    }

    /// The DOM after Chromium parsed the page (and ran any script it has).
    pub fn dump_dom(&self, url: &str) -> Result<String> {
        let (line, done) = self.run(&["--dump-dom"], url)?;
        if !done.status.success() || done.stdout.trim().is_empty() {
            return Err(Error::Command {
                command: line,
                status: done.status.to_string(),
                stderr: tail(&done.stderr),
            });
        }
        Ok(done.stdout)
    }

    /// A 1280×900 screenshot of the page, written to `png` and decoded.
    pub fn screenshot(&self, url: &str, png: &Path) -> Result<Screenshot> {
        let flag = format!("--screenshot={}", png.display());
        let (line, done) = self.run(&[flag.as_str()], url)?;
        if !done.status.success() || !png.exists() {
            return Err(Error::Command {
                command: line,
                status: done.status.to_string(),
                stderr: tail(&done.stderr),
            });
        }
        Screenshot::read(png)
    }
}

/// The last lines of Chromium's chatty stderr, for an error message.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

impl Screenshot {
    /// Decodes a PNG file into RGBA.
    pub fn read(path: &Path) -> Result<Screenshot> {
        let what = || format!("decode {}", path.display());
        let file_bytes = std::fs::metadata(path)
            .map_err(|e| Error::io(what(), e))?
            .len();
        let file = std::fs::File::open(path).map_err(|e| Error::io(what(), e))?;
        let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
        // Expand palettes and low bit depths to 8-bit channels, whatever Chromium wrote.
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(|e| png_error(what(), e))?;
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| Error::io(what(), std::io::Error::other("image too large")))?;
        let mut buf = vec![0; size];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| png_error(what(), e))?;
        buf.truncate(info.buffer_size());
        let rgba = match info.color_type {
            png::ColorType::Rgba => buf,
            png::ColorType::Rgb => buf
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            png::ColorType::GrayscaleAlpha => buf
                .chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
            _ => buf.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        };
        Ok(Screenshot {
            width: info.width,
            height: info.height,
            rgba,
            file_bytes,
        })
    }

    /// The pixel at (x, y) as RGB, `None` outside the image.
    pub fn rgb(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = ((y as usize) * (self.width as usize) + x as usize) * 4;
        let p = self.rgba.get(i..i + 3)?;
        Some([p[0], p[1], p[2]])
    }

    /// Every pixel for which `matches` holds, as (x, y).
    pub fn find(&self, matches: impl Fn([u8; 3]) -> bool) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for y in 0..self.height {
            for x in 0..self.width {
                if self.rgb(x, y).is_some_and(&matches) {
                    out.push((x, y));
                }
            }
        }
        out
    }

    /// Runs of one class at least `min` pixels long along row `y`, left to right, as
    /// (class, first x, end x): how a test reads a row of coloured cells.
    pub fn runs<T: Copy + PartialEq>(
        &self,
        y: u32,
        min: u32,
        classify: impl Fn([u8; 3]) -> Option<T>,
    ) -> Vec<(T, u32, u32)> {
        let mut out = Vec::new();
        let mut current: Option<(T, u32)> = None;
        for x in 0..=self.width {
            let class = self.rgb(x, y).and_then(&classify);
            match (current, class) {
                (Some((c, _)), Some(k)) if c == k => {}
                (cur, class) => {
                    if let Some((c, start)) = cur {
                        if x - start >= min {
                            out.push((c, start, x));
                        }
                    }
                    current = class.map(|k| (k, x));
                }
            }
        }
        out
    }

    /// How many distinct colours the image has (a blank or broken render has one or two).
    pub fn distinct_colours(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        for p in self.rgba.chunks_exact(4) {
            seen.insert([p[0], p[1], p[2]]);
        }
        seen.len()
    }
}

fn png_error(what: String, e: png::DecodingError) -> Error {
    Error::io(what, std::io::Error::other(e.to_string()))
}
