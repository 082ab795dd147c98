//! `netdiag check`: resolve the flags into a validated configuration, run the walk with the
//! system prober, render the report.

use crate::cli::{parse_duration, CheckArgs, FormatArg};
use netdiag_core::render::{render, Format};
use netdiag_core::report::{rfc3339_utc, Report};
use netdiag_core::target::{parse_target, Target};
use netdiag_core::walk::{walk, Family, Prober, WalkOptions};
use netdiag_probe::files::read_config;
use netdiag_probe::{ConfigPaths, SystemProber};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A bad flag or input: exit status 2 with this one-line message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Everything `check` needs, validated.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// The target.
    pub target: Target,
    /// Output format.
    pub format: Format,
    /// Deadline for the whole check.
    pub timeout: Duration,
    /// Config file paths.
    pub paths: ConfigPaths,
    /// -4 / -6.
    pub family: Option<Family>,
    /// `--cacert` PEM text.
    pub cacert_pem: Option<String>,
    /// `--sni`.
    pub sni: Option<String>,
    /// The proxy that applies (from the environment or `--proxy`), with its credentials.
    pub proxy: Option<netdiag_core::proxyenv::Proxy>,
    /// `--slow`.
    pub slow: Duration,
    /// `--mtu`.
    pub probe_mtu: bool,
    /// `-L`.
    pub follow: bool,
    /// `--cloud`: exports to ask about a failed flow.
    pub cloud: Option<netdiag_cloud::live_flow::CloudInput>,
}

/// Maps the CLI format onto the renderer's.
pub fn format_of(f: FormatArg) -> Format {
    match f {
        FormatArg::Table => Format::Table,
        FormatArg::Json => Format::Json,
        FormatArg::Markdown => Format::Markdown,
    }
}

fn named_file(flag: &str, path: &Option<String>, default: &str) -> Result<String, InputError> {
    match path {
        Some(p) => {
            // A file the user named must be usable text; a typo is an input error, not a diagnosis.
            read_config(p).map_err(|e| InputError(format!("{flag} {e}")))?;
            Ok(p.clone())
        }
        None => Ok(default.to_string()),
    }
}

/// At most this many targets in one run.
pub const MAX_TARGETS: usize = 10_000;

/// The targets named on the command line and in `--targets FILE` (one per line, `#` comments).
fn target_texts(args: &CheckArgs) -> Result<Vec<String>, InputError> {
    let mut texts: Vec<String> = args.targets.clone();
    if let Some(path) = &args.targets_file {
        let text = read_config(path).map_err(|e| InputError(format!("--targets {e}")))?;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                texts.push(line.to_string());
            }
        }
    }
    if texts.is_empty() {
        return Err(InputError(
            "no target: give TARGET (e.g. https://host/) or --targets FILE".into(),
        ));
    }
    if texts.len() > MAX_TARGETS {
        return Err(InputError(format!(
            "{} targets: at most {MAX_TARGETS} per run",
            texts.len()
        )));
    }
    Ok(texts)
}

/// Validates the arguments: one configuration per target, all checked before anything runs.
pub fn resolve(args: &CheckArgs) -> Result<Vec<CheckConfig>, InputError> {
    let texts = target_texts(args)?;
    let timeout =
        parse_duration(&args.timeout).map_err(|e| InputError(format!("--timeout: {e}")))?;
    let defaults = ConfigPaths::default();
    if let Some(path) = &args.resolv_conf {
        let text = read_config(path).map_err(|e| InputError(format!("--resolv-conf {e}")))?;
        let parsed = netdiag_core::resolvconf::parse_resolv_conf(&text);
        if parsed.content_lines > 0 && parsed.recognised_lines == 0 {
            return Err(InputError(format!(
                "--resolv-conf {path}: not a resolv.conf (none of its {} lines is a nameserver, search, domain or options line)",
                parsed.content_lines
            )));
        }
    }
    let paths = ConfigPaths {
        resolv_conf: named_file("--resolv-conf", &args.resolv_conf, &defaults.resolv_conf)?,
        hosts: named_file("--hosts-file", &args.hosts_file, &defaults.hosts)?,
        nsswitch: named_file("--nsswitch-conf", &args.nsswitch_conf, &defaults.nsswitch)?,
    };
    let mut cacert_pem = None;
    if let Some(ca) = &args.cacert {
        let text = read_config(ca).map_err(|e| InputError(format!("--cacert {e}")))?;
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            return Err(InputError(format!(
                "--cacert {ca}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file"
            )));
        }
        cacert_pem = Some(text);
    }
    if let Some(sni) = &args.sni {
        netdiag_core::target::validate_name(&sni.to_ascii_lowercase())
            .map_err(|why| InputError(format!("--sni '{}': {why}", printable(sni))))?;
    }
    let family = match (args.ipv4, args.ipv6) {
        (true, _) => Some(Family::V4),
        (_, true) => Some(Family::V6),
        _ => None,
    };
    let slow = match &args.slow {
        Some(text) => parse_duration(text).map_err(|e| InputError(format!("--slow: {e}")))?,
        None => netdiag_core::diagnose::http::DEFAULT_SLOW,
    };
    let env: Vec<(String, String)> = netdiag_probe::files::PROXY_VARIABLES
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    let cloud = netdiag_cloud::live_flow::resolve(&args.cloud, args.cloud_provider.as_deref())
        .map_err(InputError)?;
    let mut configs = Vec::with_capacity(texts.len());
    for text in &texts {
        let target = parse_target(text)
            .map_err(|e| InputError(format!("invalid target '{}': {e}", printable(text))))?;
        if let (Some(fam), netdiag_core::target::Host::Ip(ip)) = (family, &target.host) {
            if (fam == Family::V4) != ip.is_ipv4() {
                return Err(InputError(format!(
                    "{} conflicts with the target address {ip}",
                    if fam == Family::V4 { "-4" } else { "-6" }
                )));
            }
        }
        let proxy = netdiag_core::proxyenv::select(
            target.scheme.name(),
            &target.host_text(),
            target.port.unwrap_or(0),
            &env,
            args.proxy.as_deref(),
            args.no_proxy,
        )
        .map_err(|e| InputError(e.to_string()))?;
        configs.push(CheckConfig {
            target,
            format: format_of(args.format),
            timeout,
            paths: paths.clone(),
            family,
            cacert_pem: cacert_pem.clone(),
            sni: args.sni.clone(),
            proxy,
            slow,
            probe_mtu: args.mtu,
            follow: args.follow,
            cloud: cloud.clone(),
        });
    }
    Ok(configs)
}

/// Shortens and cleans user text for an error message.
pub fn printable(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(100)
        .collect();
    if s.chars().count() > 100 {
        format!("{cleaned}...")
    } else {
        cleaned
    }
}

/// Runs the walk with any prober and fills in the clock fields.
pub fn run_with(target: &Target, options: WalkOptions, prober: &mut dyn Prober) -> Report {
    let started = Instant::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let options = WalkOptions {
        started_at: rfc3339_utc(now),
        now_unix: i64::try_from(now).unwrap_or(i64::MAX),
        ..options
    };
    let mut report = walk(target, &options, prober);
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

/// At most this many redirects are followed with `-L`.
pub const MAX_REDIRECTS: usize = 5;

/// Resolves a `Location` against the URL it came from (absolute, scheme-relative or a path).
fn redirect_target(from: &Target, location: &str) -> Option<Target> {
    let loc = location.trim();
    let url = if loc.contains("://") {
        loc.to_string()
    } else if let Some(rest) = loc.strip_prefix("//") {
        format!("{}://{rest}", from.scheme.name())
    } else if loc.starts_with('/') {
        format!("{}://{}{loc}", from.scheme.name(), from.authority())
    } else {
        let base = from.path.clone().unwrap_or_else(|| "/".into());
        let dir = base.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        format!("{}://{}{dir}/{loc}", from.scheme.name(), from.authority())
    };
    parse_target(&url).ok().filter(|t| {
        matches!(
            t.scheme,
            netdiag_core::target::Scheme::Http | netdiag_core::target::Scheme::Https
        )
    })
}

/// Walks one target, following redirects with `-L`: every hop is walked in full, and the last
/// report records the chain in `followed`.
pub fn check_one(config: &CheckConfig) -> Report {
    let mut report = check_single(config);
    if !config.follow {
        return report;
    }
    let mut followed = Vec::new();
    let mut current = config.target.clone();
    for _ in 0..MAX_REDIRECTS {
        let Some(next) = report
            .redirect
            .as_deref()
            .and_then(|l| redirect_target(&current, l))
        else {
            break;
        };
        followed.push(format!("{} -> {}", current.input, next.input));
        let hop = CheckConfig {
            target: next.clone(),
            ..config.clone()
        };
        report = check_single(&hop);
        current = next;
    }
    report.followed = followed;
    report
}

/// Walks one target with the system prober.
fn check_single(config: &CheckConfig) -> Report {
    if config.target.scheme == netdiag_core::target::Scheme::Https {
        // Reading the system trust store takes milliseconds; do it while DNS and TCP run.
        netdiag_probe::tls::preload_trust_store();
    }
    let mut prober = SystemProber::new(config.paths.clone(), config.timeout);
    prober.extra_roots_pem = config.cacert_pem.clone();
    prober.proxy_credentials = config
        .proxy
        .as_ref()
        .and_then(|p| p.credentials.as_ref())
        .map(|c| (c.user.clone(), c.password.clone()));
    let options = WalkOptions {
        family: config.family,
        proxy: config.proxy.as_ref().map(|p| p.setting.clone()),
        sni: config.sni.clone(),
        slow: Some(config.slow),
        probe_mtu: config.probe_mtu,
        ..WalkOptions::default()
    };
    let mut report = run_with(&config.target, options, &mut prober);
    if let Some(cloud) = &config.cloud {
        netdiag_cloud::live_flow::add(&mut report, cloud);
    }
    report
}

/// At most this many targets are walked at once.
pub const MAX_CONCURRENT: usize = 256;

/// Walks every target, at most [`MAX_CONCURRENT`] at a time, keeping the input order. Each
/// walk owns its deadline, so the whole run takes about as long as the slowest target.
pub fn check_all(configs: &[CheckConfig]) -> Vec<Report> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Report>>> = Mutex::new(vec![None; configs.len()]);
    netdiag_probe::listeners::share_inventory_between_checks();
    let workers = configs.len().clamp(1, MAX_CONCURRENT);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(config) = configs.get(i) else { break };
                let report = check_one(config);
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

/// `netdiag check`: returns the rendered output and the exit status.
pub fn run(configs: &[CheckConfig], evidence: Option<&str>) -> Result<(String, i32), InputError> {
    let Some(first) = configs.first() else {
        return Ok((String::new(), 2));
    };
    let capture = match evidence {
        Some(dest) => Some(start_capture(dest, configs, first.timeout)?),
        None => None,
    };
    let started = Instant::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let reports = if configs.len() == 1 {
        vec![check_one(first)]
    } else {
        check_all(configs)
    };
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let code = if reports.iter().all(|r| r.healthy()) {
        0
    } else {
        1
    };
    let render_as = |format| match reports.as_slice() {
        [one] => render(one, format),
        many => netdiag_core::render::render_many(many, format, &rfc3339_utc(now), duration_ms),
    };
    if let (Some(dest), Some((capture, _dir))) = (evidence, capture) {
        let outcome = capture.finish().ok();
        let options = netdiag_probe::bundle::BundleOptions {
            resolv_conf: first.paths.resolv_conf.clone().into(),
            hosts: first.paths.hosts.clone().into(),
            nsswitch: first.paths.nsswitch.clone().into(),
            capture: outcome,
            ..netdiag_probe::bundle::BundleOptions::default()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let summary = netdiag_probe::bundle::write_bundle(
            std::path::Path::new(dest),
            &render_as(Format::Json),
            &render_as(Format::Markdown),
            &options,
            deadline,
        )
        .map_err(|e| InputError(format!("--evidence: {e}")))?;
        eprintln!(
            "netdiag: evidence bundle written to {} ({} files)",
            summary.path.display(),
            summary.files.len()
        );
    }
    Ok((render_as(first.format), code))
}

/// Starts the bounded packet capture for `--evidence` (its file goes to a private temporary
/// directory; the bundle copies the pcap). The destination is checked first, so a wrong path
/// fails before any probe.
fn start_capture(
    dest: &str,
    configs: &[CheckConfig],
    timeout: Duration,
) -> Result<(netdiag_probe::bundle::Capture, TempDir), InputError> {
    let lower = dest.to_ascii_lowercase();
    let path = std::path::Path::new(dest);
    if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        if path.exists() {
            return Err(InputError(format!(
                "--evidence {dest}: already exists; netdiag never overwrites a bundle"
            )));
        }
    } else if path.is_file() || path.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(InputError(format!(
            "--evidence {dest}: exists and is not an empty directory"
        )));
    }
    let dir = TempDir::new().map_err(|e| {
        InputError(format!(
            "--evidence: cannot create a temporary directory: {e}"
        ))
    })?;
    let ports: Vec<String> = configs
        .iter()
        .filter_map(|c| c.target.port)
        .map(|p| format!("port {p}"))
        .collect();
    let mut filter = if ports.is_empty() {
        "port 53".to_string()
    } else {
        ports.join(" or ")
    };
    if configs
        .iter()
        .any(|c| matches!(c.target.host, netdiag_core::target::Host::Name(_)))
    {
        filter = format!("{filter} or port 53");
    }
    let deadline = Instant::now() + timeout + Duration::from_secs(2);
    Ok((
        netdiag_probe::bundle::start_capture(&dir.0, &filter, 200, deadline),
        dir,
    ))
}

/// A private temporary directory, removed on drop.
struct TempDir(std::path::PathBuf);

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
