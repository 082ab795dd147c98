//! `netdiag check`: resolve the flags into a validated configuration, run the walk with the
//! system prober, render the report.

use crate::cli::{parse_duration, CheckArgs};
use netdiag_core::render::Format;
use netdiag_core::target::parse_target;
use netdiag_core::walk::Family;
use netdiag_engine::LiveCheck;
use netdiag_probe::files::read_config;
use netdiag_probe::ConfigPaths;
use std::sync::Arc;

/// A bad flag or input: exit status 2 with this one-line message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

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
/// Resolves the flags once into the validated checks the engine runs (one per target), and the
/// output format.
pub fn resolve(args: &CheckArgs) -> Result<(Format, Vec<LiveCheck>), InputError> {
    let texts = target_texts(args)?;
    let timeout =
        parse_duration(&args.timeout).map_err(|e| InputError(format!("--timeout: {e}")))?;
    let connect_timeout = match &args.connect_timeout {
        Some(text) => {
            let wait =
                parse_duration(text).map_err(|e| InputError(format!("--connect-timeout: {e}")))?;
            if wait > timeout {
                return Err(InputError(format!(
                    "--connect-timeout {text} is longer than --timeout {}: raise --timeout too",
                    args.timeout
                )));
            }
            wait
        }
        None => netdiag_probe::prober::DEFAULT_CONNECT_TIMEOUT,
    };
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
        gai_conf: defaults.gai_conf.clone(),
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
    let crls = match &args.crlfile {
        Some(file) => {
            let bytes = std::fs::read(file)
                .map_err(|e| InputError(format!("--crlfile {file}: cannot read it ({e})")))?;
            let crls = netdiag_probe::tls::load_crls(&bytes)
                .map_err(|why| InputError(format!("--crlfile {file}: {why}")))?;
            Some((file.clone(), crls))
        }
        None => None,
    };
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
    let oracle = netdiag_cloud::live_flow::resolve(&args.cloud, args.cloud_provider.as_deref())
        .map_err(InputError)?
        .map(|cloud| Arc::new(cloud) as Arc<dyn netdiag_core::oracle::FlowOracle>);
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
        configs.push(LiveCheck {
            target,
            timeout,
            connect_timeout,
            paths: paths.clone(),
            family,
            cacert_pem: cacert_pem.clone(),
            crls: crls.clone(),
            sni: args.sni.clone(),
            proxy,
            slow,
            probe_mtu: args.mtu,
            follow: args.follow,
            oracle: oracle.clone(),
        });
    }
    Ok((Format::from(args.format), configs))
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

/// `netdiag check`: the engine's request for the validated checks.
pub fn request(checks: Vec<LiveCheck>, evidence: Option<&str>) -> netdiag_engine::Request {
    netdiag_engine::Request::Live {
        checks,
        evidence: evidence.map(std::path::PathBuf::from),
    }
}
