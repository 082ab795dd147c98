//! The evidence bundle: the report plus the host's pre-state, written as a directory or a
//! `.tar.gz`, with every secret redacted.
//!
//! Why: the person who fixes a "can't connect" is rarely the one who ran netdiag. They need the
//! report and the state it was diagnosed against (resolver files, addresses, routes, rules,
//! neighbours, listeners, firewall, conntrack, sysctls), captured at that moment, in one artefact
//! they can attach to a ticket. Hence three rules:
//! - **Never abort on a source.** A missing file or a failing command (iptables-save as a normal
//!   user, nft not installed) becomes a file holding the error text: the absence is evidence too.
//!   Only netdiag's own failures (bad destination, cannot write) are a [`BundleError`].
//! - **Everything is bounded.** Each command has a timeout (the child is killed) and a stdout
//!   cap; nothing runs past the caller's deadline.
//! - **Nothing secret leaves.** Every text file goes through [`netdiag_core::redact`] before it
//!   is written; `MANIFEST.txt` says how many secrets were removed per file, never their values.
//!   The pcap (when captured) cannot be redacted and the manifest says so.

mod capture;
mod run;

pub use capture::{
    capture_filter, start_capture, Capture, CaptureError, CaptureOutcome, SNAP_LENGTH,
};

use netdiag_core::redact::redact;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The proxy variables `environment.txt` keeps (any case). Other variables are never written:
/// the environment is the likeliest place for unrelated credentials.
const PROXY_VARIABLES: [&str; 5] = [
    "http_proxy",
    "https_proxy",
    "ftp_proxy",
    "all_proxy",
    "no_proxy",
];

/// What to put in the bundle and how long each source may take.
#[derive(Debug, Clone)]
pub struct BundleOptions {
    /// resolv.conf to copy.
    pub resolv_conf: PathBuf,
    /// hosts file to copy.
    pub hosts: PathBuf,
    /// nsswitch.conf to copy.
    pub nsswitch: PathBuf,
    /// The root of procfs (`/proc`), for conntrack and sysctl values.
    pub proc_root: PathBuf,
    /// Environment variables; only the proxy variables among them are written.
    pub environment: Vec<(String, String)>,
    /// Per-command timeout (also bounded by the deadline).
    pub command_timeout: Duration,
    /// Bytes of stdout (or of a file) kept per source.
    pub max_output: usize,
    /// A finished packet capture to include, when the caller ran one.
    pub capture: Option<CaptureOutcome>,
}

impl Default for BundleOptions {
    /// System paths, this process's environment, 5 s per command, 4 MiB per source, no capture.
    fn default() -> Self {
        BundleOptions {
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            hosts: PathBuf::from("/etc/hosts"),
            nsswitch: PathBuf::from("/etc/nsswitch.conf"),
            proc_root: PathBuf::from("/proc"),
            // vars_os: `vars()` panics on a variable that is not UTF-8.
            environment: std::env::vars_os()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                })
                .collect(),
            command_timeout: Duration::from_secs(5),
            max_output: 4 * 1024 * 1024,
            capture: None,
        }
    }
}

/// One file of the bundle, as listed in `MANIFEST.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// File name inside the bundle.
    pub name: String,
    /// Size in bytes, as written (after redaction).
    pub size: usize,
    /// Where it came from: a command line, a path, or `netdiag`.
    pub source: String,
    /// What was redacted, e.g. `none` or `2 (key-value 1, url-password 1)`.
    pub redactions: String,
    /// Number of secrets removed.
    pub redaction_count: usize,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSummary {
    /// The directory or archive written.
    pub path: PathBuf,
    /// Every file, `MANIFEST.txt` last.
    pub files: Vec<ManifestEntry>,
    /// Secrets removed across all files.
    pub redactions: usize,
}

/// Why no bundle could be written. Each message is one line naming the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The destination is neither a directory nor a `.tar.gz`/`.tgz` path.
    #[error("--evidence {0}: unsupported archive type; give a directory or a path ending in .tar.gz or .tgz")]
    UnsupportedFormat(PathBuf),
    /// The destination exists and would be overwritten.
    #[error("--evidence {0}: already exists{1}; choose a new path")]
    Exists(PathBuf, &'static str),
    /// Writing failed.
    #[error("--evidence {path}: cannot write: {source}")]
    Write {
        /// The path being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Where the bundle goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Destination {
    Directory(PathBuf),
    TarGz(PathBuf),
}

fn destination(dest: &Path) -> Result<Destination, BundleError> {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        return Ok(Destination::TarGz(dest.to_path_buf()));
    }
    let archive_like = [
        ".tar", ".gz", ".zip", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".xz", ".bz2",
        ".7z", ".tar.zst", ".zst",
    ];
    if archive_like.iter().any(|ext| name.ends_with(ext)) {
        return Err(BundleError::UnsupportedFormat(dest.to_path_buf()));
    }
    Ok(Destination::Directory(dest.to_path_buf()))
}

/// A file before redaction.
struct Entry {
    name: &'static str,
    source: String,
    content: Content,
}

enum Content {
    Text(String),
    /// Binary data that cannot be redacted (the pcap).
    Binary(Vec<u8>),
}

/// Writes the bundle to `dest` (a new or empty directory, or a new `.tar.gz`/`.tgz` file).
///
/// `report_json` and `report_markdown` are the rendered report. Every source is collected
/// before `deadline`; a source that cannot be read becomes a file with the reason.
pub fn write_bundle(
    dest: &Path,
    report_json: &str,
    report_markdown: &str,
    opts: &BundleOptions,
    deadline: Instant,
) -> Result<BundleSummary, BundleError> {
    let target = destination(dest)?;
    // Refuse before collecting: a wrong path should fail fast, not after 20 s of commands.
    match &target {
        Destination::Directory(dir) => prepare_directory(dir)?,
        Destination::TarGz(file) if file.exists() => {
            return Err(BundleError::Exists(file.clone(), ""))
        }
        Destination::TarGz(_) => {}
    }
    let entries = collect(report_json, report_markdown, opts, deadline);
    let (files, manifest_entries) = finalize(entries);
    let redactions = manifest_entries.iter().map(|e| e.redaction_count).sum();
    match &target {
        Destination::Directory(dir) => write_directory(dir, &files)?,
        Destination::TarGz(file) => write_tar_gz(file, &files)?,
    }
    Ok(BundleSummary {
        path: dest.to_path_buf(),
        files: manifest_entries,
        redactions,
    })
}

fn prepare_directory(dir: &Path) -> Result<(), BundleError> {
    let write_err = |source| BundleError::Write {
        path: dir.to_path_buf(),
        source,
    };
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(BundleError::Exists(
            dir.to_path_buf(),
            " and is not a directory",
        )),
        Ok(_) => {
            let mut items = fs::read_dir(dir).map_err(write_err)?;
            if items.next().is_some() {
                return Err(BundleError::Exists(dir.to_path_buf(), " and is not empty"));
            }
            Ok(())
        }
        // 0700: the bundle holds firewall rules and listeners; it is for the responder only.
        Err(_) => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(write_err),
    }
}

/// Redacts every text entry and appends `MANIFEST.txt`.
fn finalize(entries: Vec<Entry>) -> (Vec<(String, Vec<u8>)>, Vec<ManifestEntry>) {
    let mut files = Vec::with_capacity(entries.len() + 1);
    let mut manifest = Vec::with_capacity(entries.len() + 1);
    for entry in entries {
        let (bytes, redactions, count) = match entry.content {
            Content::Text(text) => {
                let r = redact(&text);
                let summary = r.summary();
                let total = r.total();
                (r.text.into_bytes(), summary, total)
            }
            Content::Binary(bytes) => (
                bytes,
                "not redacted (binary; may hold credentials sent in clear)".to_string(),
                0,
            ),
        };
        manifest.push(ManifestEntry {
            name: entry.name.to_string(),
            size: bytes.len(),
            source: redact(&entry.source).text,
            redactions,
            redaction_count: count,
        });
        files.push((entry.name.to_string(), bytes));
    }
    let text = render_manifest(&manifest);
    manifest.push(ManifestEntry {
        name: "MANIFEST.txt".to_string(),
        size: text.len(),
        source: "netdiag".to_string(),
        redactions: "none".to_string(),
        redaction_count: 0,
    });
    files.push(("MANIFEST.txt".to_string(), text.into_bytes()));
    (files, manifest)
}

/// `MANIFEST.txt`: one line per file with its size, source and redaction count.
fn render_manifest(entries: &[ManifestEntry]) -> String {
    let mut out = String::from(
        "netdiag evidence bundle\n\
         Secrets (Authorization headers, passwords, tokens, URL passwords, bearer tokens, \
         private keys, AWS key ids) were replaced by *** before writing; counts below, never values.\n\n",
    );
    let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    for e in entries {
        let _ = writeln!(
            out,
            "{:width$}  {:>9} bytes  redacted: {}  from: {}",
            e.name, e.size, e.redactions, e.source
        );
    }
    out
}

fn collect(json: &str, markdown: &str, opts: &BundleOptions, deadline: Instant) -> Vec<Entry> {
    let cmd_deadline = || (Instant::now() + opts.command_timeout).min(deadline);
    let commands = |name: &'static str, argvs: &[&[&str]]| {
        let mut text = String::new();
        for argv in argvs {
            text.push_str(&run::run(argv, opts.max_output, cmd_deadline()).text);
            text.push('\n');
        }
        let source = argvs
            .iter()
            .map(|a| a.join(" "))
            .collect::<Vec<_>>()
            .join("; ");
        Entry {
            name,
            source,
            content: Content::Text(text),
        }
    };
    let copy = |name: &'static str, path: &Path| Entry {
        name,
        source: path.display().to_string(),
        content: Content::Text(read_capped(path, opts.max_output)),
    };

    let mut entries = vec![
        Entry {
            name: "report.json",
            source: "netdiag report (JSON)".to_string(),
            content: Content::Text(json.to_string()),
        },
        Entry {
            name: "report.md",
            source: "netdiag report (Markdown)".to_string(),
            content: Content::Text(markdown.to_string()),
        },
        copy("resolv.conf", &opts.resolv_conf),
        copy("hosts", &opts.hosts),
        copy("nsswitch.conf", &opts.nsswitch),
        commands("addresses.txt", &[&["ip", "-d", "addr"]]),
        commands(
            "routes.txt",
            &[
                &["ip", "route", "show", "table", "all"],
                &["ip", "-6", "route", "show", "table", "all"],
            ],
        ),
        commands("rules.txt", &[&["ip", "rule"], &["ip", "-6", "rule"]]),
        commands("neighbours.txt", &[&["ip", "neigh"]]),
        commands("listeners.txt", &[&["ss", "-tulpen"]]),
        commands(
            "firewall-iptables.txt",
            &[&["iptables-save"], &["ip6tables-save"]],
        ),
        commands("firewall-nft.txt", &[&["nft", "list", "ruleset"]]),
    ];
    entries.push(conntrack(opts));
    entries.push(sysctls(opts));
    entries.push(environment(&opts.environment));
    if let Some(capture) = &opts.capture {
        entries.push(Entry {
            name: "capture.txt",
            source: "tcpdump".to_string(),
            content: Content::Text(capture.note.clone()),
        });
        if let Some(pcap) = &capture.pcap {
            entries.push(Entry {
                name: "capture.pcap",
                source: "tcpdump".to_string(),
                content: Content::Binary(pcap.clone()),
            });
        }
    }
    entries
}

fn read_capped(path: &Path, cap: usize) -> String {
    match fs::read(path) {
        Ok(bytes) if bytes.len() > cap => format!(
            "{}\n[truncated at {cap} bytes]\n",
            String::from_utf8_lossy(&bytes[..cap])
        ),
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("error: cannot read {}: {e}\n", path.display()),
    }
}

/// `name = value` for a procfs file, or the error in its place.
fn proc_value(opts: &BundleOptions, relative: &str) -> String {
    let path = opts.proc_root.join(relative);
    match fs::read_to_string(&path) {
        Ok(v) => v.trim().to_string(),
        Err(e) => format!("unavailable ({}: {e})", path.display()),
    }
}

fn conntrack(opts: &BundleOptions) -> Entry {
    let mut text = String::new();
    for key in [
        "nf_conntrack_count",
        "nf_conntrack_max",
        "nf_conntrack_buckets",
    ] {
        let _ = writeln!(
            text,
            "{key} = {}",
            proc_value(opts, &format!("sys/net/netfilter/{key}"))
        );
    }
    text.push_str("\n# net/stat/nf_conntrack (per CPU, hexadecimal; drop and early_drop count table-full drops)\n");
    text.push_str(&read_capped(
        &opts.proc_root.join("net/stat/nf_conntrack"),
        opts.max_output,
    ));
    Entry {
        name: "conntrack.txt",
        source: format!(
            "{0}/sys/net/netfilter/nf_conntrack_{{count,max,buckets}}; {0}/net/stat/nf_conntrack",
            opts.proc_root.display()
        ),
        content: Content::Text(text),
    }
}

/// The sysctls behind the causes netdiag knows about: reverse-path filtering, forwarding,
/// conntrack size, path MTU behaviour, the local port range and connect retries.
fn sysctls(opts: &BundleOptions) -> Entry {
    let mut names: Vec<String> = [
        "net.ipv4.ip_forward",
        "net.ipv6.conf.all.forwarding",
        "net.ipv4.conf.all.rp_filter",
        "net.ipv4.conf.default.rp_filter",
        "net.netfilter.nf_conntrack_max",
        "net.ipv4.tcp_mtu_probing",
        "net.ipv4.ip_no_pmtu_disc",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syn_retries",
        "net.ipv4.ping_group_range",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // rp_filter is per interface and the effective value is max(all, interface).
    if let Ok(dir) = fs::read_dir(opts.proc_root.join("sys/net/ipv4/conf")) {
        let mut ifaces: Vec<String> = dir
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "all" && n != "default")
            .collect();
        ifaces.sort();
        names.extend(
            ifaces
                .iter()
                .map(|i| format!("net.ipv4.conf.{i}.rp_filter")),
        );
    }
    let mut text = String::new();
    for name in &names {
        // Interface names may contain dots (vlan eth0.100): only the fixed parts are separators.
        let relative = match name.strip_prefix("net.ipv4.conf.") {
            Some(rest) => match rest.rsplit_once('.') {
                Some((iface, key)) => format!("sys/net/ipv4/conf/{iface}/{key}"),
                None => format!("sys/{}", name.replace('.', "/")),
            },
            None => format!("sys/{}", name.replace('.', "/")),
        };
        let _ = writeln!(text, "{name} = {}", proc_value(opts, &relative));
    }
    Entry {
        name: "sysctl.txt",
        source: format!("{}/sys/net/…", opts.proc_root.display()),
        content: Content::Text(text),
    }
}

fn environment(vars: &[(String, String)]) -> Entry {
    let mut kept: Vec<&(String, String)> = vars
        .iter()
        .filter(|(k, _)| PROXY_VARIABLES.contains(&k.to_ascii_lowercase().as_str()))
        .collect();
    kept.sort();
    let mut text = String::from("# proxy variables only; other variables are never written\n");
    if kept.is_empty() {
        text.push_str("(none set)\n");
    }
    for (k, v) in kept {
        let _ = writeln!(text, "{k}={v}");
    }
    Entry {
        name: "environment.txt",
        source: "process environment (proxy variables)".to_string(),
        content: Content::Text(text),
    }
}

fn write_directory(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), BundleError> {
    for (name, bytes) in files {
        let path = dir.join(name);
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(bytes));
        written.map_err(|source| BundleError::Write { path, source })?;
    }
    Ok(())
}

/// The archive holds one top-level directory named after the file (`x.tar.gz` → `x/…`), so
/// extracting it never scatters files into the current directory.
fn write_tar_gz(file: &Path, files: &[(String, Vec<u8>)]) -> Result<(), BundleError> {
    let write_err = |source| BundleError::Write {
        path: file.to_path_buf(),
        source,
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".tar.gz")
        .or_else(|| name.strip_suffix(".tgz"))
        .or_else(|| name.strip_suffix(".TAR.GZ"))
        .or_else(|| name.strip_suffix(".TGZ"))
        .filter(|s| !s.is_empty())
        .unwrap_or("netdiag-evidence")
        .to_string();
    let mtime = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    let out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(write_err)?;
    let result = (|| {
        let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let mut dir = tar::Header::new_ustar();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o700);
        dir.set_size(0);
        dir.set_mtime(mtime);
        tar.append_data(&mut dir, format!("{stem}/"), std::io::empty())?;
        for (name, bytes) in files {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o600);
            header.set_size(bytes.len() as u64);
            header.set_mtime(mtime);
            tar.append_data(&mut header, format!("{stem}/{name}"), bytes.as_slice())?;
        }
        tar.into_inner()?.finish()?.sync_all()
    })();
    if let Err(source) = result {
        // A half-written archive is worse than none: it looks like evidence.
        let _ = fs::remove_file(file);
        return Err(write_err(source));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_kinds() {
        assert_eq!(
            destination(Path::new("/tmp/e.tar.gz")).unwrap(),
            Destination::TarGz("/tmp/e.tar.gz".into())
        );
        assert_eq!(
            destination(Path::new("e.TGZ")).unwrap(),
            Destination::TarGz("e.TGZ".into())
        );
        assert_eq!(
            destination(Path::new("/tmp/evidence")).unwrap(),
            Destination::Directory("/tmp/evidence".into())
        );
        for bad in ["e.zip", "e.tar", "e.tar.xz", "e.gz"] {
            let err = destination(Path::new(bad)).unwrap_err().to_string();
            assert!(err.contains("unsupported archive type"), "{bad}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn manifest_lists_sizes_sources_and_counts_not_values() {
        let entries = vec![
            Entry {
                name: "environment.txt",
                source: "env".to_string(),
                content: Content::Text("https_proxy=http://bob:hunter2@proxy:3128\n".to_string()),
            },
            Entry {
                name: "capture.pcap",
                source: "tcpdump".to_string(),
                content: Content::Binary(vec![1, 2, 3]),
            },
        ];
        let (files, manifest) = finalize(entries);
        assert_eq!(files.len(), 3);
        assert_eq!(manifest[0].redaction_count, 1);
        assert_eq!(manifest[0].redactions, "1 (url-password 1)");
        assert_eq!(manifest[0].size, files[0].1.len());
        assert_eq!(manifest[1].size, 3);
        assert_eq!(manifest[2].name, "MANIFEST.txt");
        let text = String::from_utf8(files[2].1.clone()).unwrap();
        assert!(text.contains("environment.txt"), "{text}");
        assert!(
            text.contains("redacted: 1 (url-password 1)  from: env"),
            "{text}"
        );
        assert!(
            text.contains("capture.pcap") && text.contains("not redacted"),
            "{text}"
        );
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn environment_keeps_only_proxy_variables() {
        let vars = vec![
            ("HTTPS_PROXY".to_string(), "http://p:3128".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "x".to_string()),
            ("no_proxy".to_string(), "localhost".to_string()),
        ];
        let Content::Text(text) = environment(&vars).content else {
            panic!("text expected")
        };
        assert!(text.contains("HTTPS_PROXY=http://p:3128"));
        assert!(text.contains("no_proxy=localhost"));
        assert!(!text.contains("AWS"));
    }
}
