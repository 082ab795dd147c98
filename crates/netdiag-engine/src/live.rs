//! The live check: one target (or many, concurrently) walked with the system prober, redirects
//! followed on request, the flow oracle asked about a failure, an evidence bundle written when
//! asked. Front-ends hand in a validated [`LiveCheck`]; flag parsing stays theirs.
//!
//! Never decides a verdict: the walk in netdiag-core does, from the probes' observations.

use netdiag_core::oracle::FlowOracle;
use netdiag_core::proxyenv::Proxy;
use netdiag_core::render::{render, render_many, Format, Rendered};
use netdiag_core::report::{rfc3339_utc, Report};
use netdiag_core::target::{Host, Scheme, Target};
use netdiag_core::walk::{walk, Family, Prober, WalkOptions};
use netdiag_probe::{ConfigPaths, SystemProber};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Everything one live check needs, validated by the front-end.
#[derive(Debug, Clone)]
pub struct LiveCheck {
    /// The target.
    pub target: Target,
    /// Deadline for the whole check.
    pub timeout: Duration,
    /// How long an unanswered SYN is waited for (`--connect-timeout`).
    pub connect_timeout: Duration,
    /// Config file paths (resolv.conf, hosts, nsswitch).
    pub paths: ConfigPaths,
    /// `-4` / `-6`.
    pub family: Option<Family>,
    /// Extra trust anchors (`--cacert`), PEM text.
    pub cacert_pem: Option<String>,
    /// `--crlfile`: the file's name and its CRLs (DER).
    pub crls: Option<(String, Vec<Vec<u8>>)>,
    /// The TLS server name to send (`--sni`).
    pub sni: Option<String>,
    /// The proxy that applies (from the environment or a flag), with its credentials.
    pub proxy: Option<Proxy>,
    /// An HTTP answer slower than this is `http_slow`.
    pub slow: Duration,
    /// Search the path MTU actively even on a healthy session.
    pub probe_mtu: bool,
    /// Follow redirects (`-L`).
    pub follow: bool,
    /// Asked about a failed flow after the walk (the cloud exports of `--cloud`).
    pub oracle: Option<Arc<dyn FlowOracle>>,
    /// Asked before a redirect is followed (`-L`): the MCP server's `--allow-targets`, so a
    /// redirect cannot take a check somewhere the operator did not allow. `None`: every hop.
    pub hop_guard: Option<Arc<dyn HopGuard>>,
}

/// Decides whether a redirect's new target may be walked.
pub trait HopGuard: Send + Sync + std::fmt::Debug {
    /// `Err` says why not (it is recorded in the report's `followed`).
    fn permits(&self, target: &Target) -> Result<(), String>;
}

/// The reports of one run: one target's report, or the summary of many.
#[derive(Debug, Clone)]
pub struct LiveReports {
    /// One report per target, in input order.
    pub reports: Vec<Report>,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// How long the whole run took.
    pub duration_ms: u64,
}

impl LiveReports {
    /// The contract's exit status: 0 when every target is healthy, else 1.
    pub fn exit_code(&self) -> i32 {
        if self.reports.iter().all(Report::healthy) {
            0
        } else {
            1
        }
    }
}

impl Rendered for LiveReports {
    fn table(&self) -> String {
        self.render(Format::Table)
    }
    fn json(&self) -> String {
        self.render(Format::Json)
    }
    fn markdown(&self) -> String {
        self.render(Format::Markdown)
    }
    fn render(&self, format: Format) -> String {
        match self.reports.as_slice() {
            [one] => render(one, format),
            many => render_many(many, format, &self.started_at, self.duration_ms),
        }
    }
}

/// Runs the walk with any prober and fills in the clock fields (the core has no clock).
pub fn run_with(target: &Target, options: WalkOptions, prober: &mut dyn Prober) -> Report {
    let started = Instant::now();
    let now = unix_now();
    let options = WalkOptions {
        started_at: rfc3339_utc(now),
        now_unix: i64::try_from(now).unwrap_or(i64::MAX),
        ..options
    };
    let mut report = walk(target, &options, prober);
    report.duration_ms = elapsed_ms(started);
    report
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// At most this many redirects are followed with `-L`.
pub const MAX_REDIRECTS: usize = 5;

/// Walks one target, following redirects when asked: every hop is walked in full, and the last
/// report records the chain in `followed`.
pub fn check_one(check: &LiveCheck) -> Report {
    let mut report = check_single(check);
    if !check.follow {
        return report;
    }
    let mut followed = Vec::new();
    let mut current = check.target.clone();
    for _ in 0..MAX_REDIRECTS {
        let Some(next) = report.redirect.as_deref().and_then(|l| current.redirect(l)) else {
            break;
        };
        if let Some(Err(why)) = check.hop_guard.as_ref().map(|g| g.permits(&next)) {
            followed.push(format!(
                "{} -> {} (not followed: {why})",
                current.input, next.input
            ));
            break;
        }
        followed.push(format!("{} -> {}", current.input, next.input));
        let hop = LiveCheck {
            target: next.clone(),
            ..check.clone()
        };
        report = check_single(&hop);
        current = next;
    }
    report.followed = followed;
    report
}

/// Walks one target with the system prober, then asks the oracle about a failure.
fn check_single(check: &LiveCheck) -> Report {
    if check.target.scheme == Scheme::Https {
        // Reading the system trust store takes milliseconds; do it while DNS and TCP run.
        netdiag_probe::tls::preload_trust_store();
    }
    let mut prober = SystemProber::new(check.paths.clone(), check.timeout);
    prober.set_connect_timeout(check.connect_timeout);
    prober.extra_roots_pem = check.cacert_pem.clone();
    prober.crls = check.crls.clone();
    prober.proxy_credentials = check
        .proxy
        .as_ref()
        .and_then(|p| p.credentials.as_ref())
        .map(|c| (c.user.clone(), c.password.clone()));
    let options = WalkOptions {
        family: check.family,
        proxy: check.proxy.as_ref().map(|p| p.setting.clone()),
        sni: check.sni.clone(),
        slow: Some(check.slow),
        probe_mtu: check.probe_mtu,
        ..WalkOptions::default()
    };
    let mut report = run_with(&check.target, options, &mut prober);
    if let Some(oracle) = &check.oracle {
        oracle.explain(&mut report);
    }
    report
}

/// At most this many targets are walked at once.
pub const MAX_CONCURRENT: usize = 256;

/// Walks every target, at most [`MAX_CONCURRENT`] at a time, keeping the input order. Each
/// walk owns its deadline, so the whole run takes about as long as the slowest target.
pub fn check_all(checks: &[LiveCheck]) -> Vec<Report> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    if let [one] = checks {
        return vec![check_one(one)];
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Report>>> = Mutex::new(vec![None; checks.len()]);
    netdiag_probe::listeners::share_inventory_between_checks();
    let workers = checks.len().clamp(1, MAX_CONCURRENT);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(check) = checks.get(i) else { break };
                let report = check_one(check);
                if let Ok(mut r) = results.lock() {
                    r[i] = Some(report);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// Why a live run could not be done as asked (exit 2 at the front-end).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The evidence destination or its capture cannot be used.
    #[error("--evidence {path}: {why}")]
    Evidence {
        /// The destination as given.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// The bundle or its capture could not be made.
    #[error("--evidence: {0}")]
    Bundle(String),
}

fn evidence_error(path: &str, why: impl std::fmt::Display) -> LiveError {
    LiveError::Evidence {
        path: path.to_string(),
        why: why.to_string(),
    }
}

/// Runs the checks (one, or many concurrently) and, with `evidence`, writes the bundle
/// (report, pre-state, bounded capture; secrets redacted) to that path.
pub fn run(checks: &[LiveCheck], evidence: Option<&Path>) -> Result<LiveReports, LiveError> {
    let capture = match (evidence, checks.first()) {
        (Some(dest), Some(first)) => Some(start_capture(dest, checks, first.timeout)?),
        _ => None,
    };
    let started = Instant::now();
    let started_at = rfc3339_utc(unix_now());
    let reports = check_all(checks);
    let run = LiveReports {
        reports,
        started_at,
        duration_ms: elapsed_ms(started),
    };
    if let (Some(dest), Some((capture, _dir)), Some(first)) = (evidence, capture, checks.first()) {
        let options = netdiag_probe::bundle::BundleOptions {
            resolv_conf: first.paths.resolv_conf.clone().into(),
            hosts: first.paths.hosts.clone().into(),
            nsswitch: first.paths.nsswitch.clone().into(),
            capture: capture.finish().ok(),
            ..netdiag_probe::bundle::BundleOptions::default()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let summary = netdiag_probe::bundle::write_bundle(
            dest,
            &run.render(Format::Json),
            &run.render(Format::Markdown),
            &options,
            deadline,
        )
        .map_err(|e| LiveError::Bundle(e.to_string()))?;
        eprintln!(
            "netdiag: evidence bundle written to {} ({} files)",
            summary.path.display(),
            summary.files.len()
        );
    }
    Ok(run)
}

/// Starts the bounded packet capture for the evidence bundle (its file goes to a private
/// temporary directory; the bundle copies the pcap). The destination is checked first, so a
/// wrong path fails before any probe.
fn start_capture(
    dest: &Path,
    checks: &[LiveCheck],
    timeout: Duration,
) -> Result<(netdiag_probe::bundle::Capture, TempDir), LiveError> {
    let shown = dest.display().to_string();
    let lower = shown.to_ascii_lowercase();
    if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        if dest.exists() {
            return Err(evidence_error(
                &shown,
                "already exists; netdiag never overwrites a bundle",
            ));
        }
    } else if dest.is_file() || dest.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(evidence_error(
            &shown,
            "exists and is not an empty directory",
        ));
    }
    let dir = TempDir::new()
        .map_err(|e| LiveError::Bundle(format!("cannot create a temporary directory: {e}")))?;
    let ports: Vec<String> = checks
        .iter()
        .filter_map(|c| c.target.port)
        .map(|p| format!("port {p}"))
        .collect();
    let mut filter = if ports.is_empty() {
        "port 53".to_string()
    } else {
        ports.join(" or ")
    };
    if checks
        .iter()
        .any(|c| matches!(c.target.host, Host::Name(_)))
    {
        filter = format!("{filter} or port 53");
    }
    let deadline = Instant::now() + timeout + Duration::from_secs(2);
    Ok((
        netdiag_probe::bundle::start_capture(&dir.0, &filter, 200, deadline),
        dir,
    ))
}

/// A private temporary directory for the capture, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("netdiag-capture-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
