//! The live check's options as a person or an agent writes them (text, as typed), validated once
//! into the [`LiveCheck`]s the engine runs.
//!
//! Why here and not in a front-end: `netdiag check` and the MCP tool `target_check` must reject
//! the same inputs with the same messages, so both hand their values to [`resolve`]. The only
//! difference is how an option is called in a message ([`Spelling`]): `--timeout` on the command
//! line, `timeout` in a tool's arguments.

use crate::LiveCheck;
use netdiag_core::target::{parse_target, Host};
use netdiag_core::walk::Family;
use netdiag_probe::files::read_config;
use netdiag_probe::ConfigPaths;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The live check's options, each as typed (`None`: the default).
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The targets.
    pub targets: Vec<String>,
    /// Deadline for the whole check (default 10s).
    pub timeout: Option<String>,
    /// How long an unanswered SYN is waited for (default 3s, at most `timeout`).
    pub connect_timeout: Option<String>,
    /// resolv.conf to read instead of /etc/resolv.conf.
    pub resolv_conf: Option<String>,
    /// The hosts file to read instead of /etc/hosts.
    pub hosts_file: Option<String>,
    /// nsswitch.conf to read instead of /etc/nsswitch.conf.
    pub nsswitch_conf: Option<String>,
    /// A PEM file of extra trust anchors.
    pub cacert: Option<String>,
    /// PEM text of extra trust anchors (a tool argument; the CLI has only the file).
    pub cacert_pem: Option<String>,
    /// A CRL file (PEM or DER).
    pub crlfile: Option<String>,
    /// The TLS server name to send.
    pub sni: Option<String>,
    /// IPv4 only / IPv6 only.
    pub family: Option<Family>,
    /// An HTTP proxy URL that overrides the environment's.
    pub proxy: Option<String>,
    /// Ignore the proxy environment.
    pub no_proxy: bool,
    /// First-byte time above which HTTP is slow (default 2s).
    pub slow: Option<String>,
    /// Probe the path MTU actively.
    pub mtu: bool,
    /// Follow redirects.
    pub follow: bool,
    /// Cloud exports asked about a failed flow.
    pub cloud: Vec<PathBuf>,
    /// Their provider (default: detected).
    pub cloud_provider: Option<String>,
}

/// How options are named in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// Command-line flags: `--timeout`, `-4`.
    Flags,
    /// Tool arguments: `timeout`, `family`.
    Arguments,
}

impl Spelling {
    /// The option's name in this spelling; `flag` is its command-line form.
    pub fn name(self, flag: &str) -> String {
        match self {
            Spelling::Flags => flag.to_string(),
            Spelling::Arguments => match flag {
                "-4" => "family \"ipv4\"".into(),
                "-6" => "family \"ipv6\"".into(),
                _ => flag.trim_start_matches('-').replace('-', "_"),
            },
        }
    }
}

/// The default deadline of a whole check.
pub const DEFAULT_TIMEOUT: &str = "10s";

/// At most this many targets in one run.
pub const MAX_TARGETS: usize = 10_000;

/// Parses a duration such as `10s`, `500ms`, `1.5s`, `2m` or a bare number of seconds (at most
/// an hour).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let value: f64 = number.parse().map_err(|_| {
        format!(
            "invalid duration '{}': use e.g. 10s, 500ms or 2m",
            printable(text)
        )
    })?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" => value * 60.0,
        _ => {
            return Err(format!(
                "invalid duration '{}': unknown unit '{}' (use ms, s or m)",
                printable(text),
                printable(unit)
            ))
        }
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!(
            "invalid duration '{}': it must be greater than zero",
            printable(text)
        ));
    }
    if secs > 3600.0 {
        return Err(format!(
            "invalid duration '{}': at most 1 hour",
            printable(text)
        ));
    }
    Ok(Duration::from_secs_f64(secs))
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

/// A file named by an option must be usable text; a typo is an input error, not a diagnosis.
fn named_file(
    spelling: Spelling,
    flag: &str,
    path: &Option<String>,
    default: &str,
) -> Result<String, String> {
    match path {
        Some(p) => {
            read_config(p).map_err(|e| format!("{} {e}", spelling.name(flag)))?;
            Ok(p.clone())
        }
        None => Ok(default.to_string()),
    }
}

fn duration(spelling: Spelling, flag: &str, text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| format!("{}: {e}", spelling.name(flag)))
}

fn check_pem(spelling: Spelling, flag: &str, file: Option<&str>, text: &str) -> Result<(), String> {
    if text.contains("-----BEGIN CERTIFICATE-----") {
        return Ok(());
    }
    let what = "no PEM certificate (-----BEGIN CERTIFICATE-----) in the";
    Err(match file {
        Some(file) => format!("{} {}: {what} file", spelling.name(flag), printable(file)),
        None => format!("{}: {what} text", spelling.name(flag)),
    })
}

/// Validates every option and target before anything runs: one [`LiveCheck`] per target, in
/// order. `Err` is the one-line message of the first bad input (exit status 2 on the command
/// line, a tool error over MCP).
pub fn resolve(options: &CheckOptions, spelling: Spelling) -> Result<Vec<LiveCheck>, String> {
    let name = |flag: &str| spelling.name(flag);
    if options.targets.is_empty() {
        return Err(match spelling {
            Spelling::Flags => "no target: give TARGET (e.g. https://host/) or --targets FILE",
            Spelling::Arguments => "no target: give target (e.g. https://host/)",
        }
        .into());
    }
    if options.targets.len() > MAX_TARGETS {
        return Err(format!(
            "{} targets: at most {MAX_TARGETS} per run",
            options.targets.len()
        ));
    }
    let timeout_text = options.timeout.as_deref().unwrap_or(DEFAULT_TIMEOUT);
    let timeout = duration(spelling, "--timeout", timeout_text)?;
    let connect_timeout = match &options.connect_timeout {
        Some(text) => {
            let wait = duration(spelling, "--connect-timeout", text)?;
            if wait > timeout {
                return Err(format!(
                    "{} {} is longer than {} {}: raise {} too",
                    name("--connect-timeout"),
                    printable(text),
                    name("--timeout"),
                    printable(timeout_text),
                    name("--timeout")
                ));
            }
            wait
        }
        None => netdiag_probe::prober::DEFAULT_CONNECT_TIMEOUT,
    };
    let defaults = ConfigPaths::default();
    if let Some(path) = &options.resolv_conf {
        let text = read_config(path).map_err(|e| format!("{} {e}", name("--resolv-conf")))?;
        let parsed = netdiag_core::resolvconf::parse_resolv_conf(&text);
        if parsed.content_lines > 0 && parsed.recognised_lines == 0 {
            return Err(format!(
                "{} {}: not a resolv.conf (none of its {} lines is a nameserver, search, domain or options line)",
                name("--resolv-conf"),
                printable(path),
                parsed.content_lines
            ));
        }
    }
    let paths = ConfigPaths {
        resolv_conf: named_file(
            spelling,
            "--resolv-conf",
            &options.resolv_conf,
            &defaults.resolv_conf,
        )?,
        hosts: named_file(
            spelling,
            "--hosts-file",
            &options.hosts_file,
            &defaults.hosts,
        )?,
        nsswitch: named_file(
            spelling,
            "--nsswitch-conf",
            &options.nsswitch_conf,
            &defaults.nsswitch,
        )?,
        gai_conf: defaults.gai_conf.clone(),
    };
    let mut cacert_pem = None;
    if let Some(ca) = &options.cacert {
        let text = read_config(ca).map_err(|e| format!("{} {e}", name("--cacert")))?;
        check_pem(spelling, "--cacert", Some(ca), &text)?;
        cacert_pem = Some(text);
    }
    if let Some(text) = &options.cacert_pem {
        check_pem(spelling, "--cacert-pem", None, text)?;
        cacert_pem = Some(match cacert_pem {
            Some(file) => format!("{file}\n{text}"),
            None => text.clone(),
        });
    }
    let crls = match &options.crlfile {
        Some(file) => {
            let bytes = std::fs::read(file).map_err(|e| {
                format!(
                    "{} {}: cannot read it ({e})",
                    name("--crlfile"),
                    printable(file)
                )
            })?;
            let crls = netdiag_probe::tls::load_crls(&bytes)
                .map_err(|why| format!("{} {}: {why}", name("--crlfile"), printable(file)))?;
            Some((file.clone(), crls))
        }
        None => None,
    };
    if let Some(sni) = &options.sni {
        netdiag_core::target::validate_name(&sni.to_ascii_lowercase())
            .map_err(|why| format!("{} '{}': {why}", name("--sni"), printable(sni)))?;
    }
    let slow = match &options.slow {
        Some(text) => duration(spelling, "--slow", text)?,
        None => netdiag_core::diagnose::http::DEFAULT_SLOW,
    };
    let env: Vec<(String, String)> = netdiag_probe::files::PROXY_VARIABLES
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    let oracle =
        netdiag_cloud::live_flow::resolve(&options.cloud, options.cloud_provider.as_deref())?
            .map(|cloud| Arc::new(cloud) as Arc<dyn netdiag_core::oracle::FlowOracle>);
    let family = options.family;
    let mut checks = Vec::with_capacity(options.targets.len());
    for text in &options.targets {
        let target =
            parse_target(text).map_err(|e| format!("invalid target '{}': {e}", printable(text)))?;
        if let (Some(fam), Host::Ip(ip)) = (family, &target.host) {
            if (fam == Family::V4) != ip.is_ipv4() {
                return Err(format!(
                    "{} conflicts with the target address {ip}",
                    name(if fam == Family::V4 { "-4" } else { "-6" })
                ));
            }
        }
        let proxy = netdiag_core::proxyenv::select(
            target.scheme.name(),
            &target.host_text(),
            target.port.unwrap_or(0),
            &env,
            options.proxy.as_deref(),
            options.no_proxy,
        )
        .map_err(|e| e.to_string())?;
        checks.push(LiveCheck {
            target,
            timeout,
            connect_timeout,
            paths: paths.clone(),
            family,
            cacert_pem: cacert_pem.clone(),
            crls: crls.clone(),
            sni: options.sni.clone(),
            proxy,
            slow,
            probe_mtu: options.mtu,
            follow: options.follow,
            oracle: oracle.clone(),
            hop_guard: None,
        });
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in [
            "", "0s", "-1s", "abc", "10h", "1e9", "99999m", "NaNs", "1..2s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_same_check_is_named_in_either_spelling() {
        let options = CheckOptions {
            targets: vec!["tcp://127.0.0.1:1".into()],
            timeout: Some("1s".into()),
            connect_timeout: Some("5s".into()),
            ..CheckOptions::default()
        };
        let flags = resolve(&options, Spelling::Flags).err().unwrap_or_default();
        let args = resolve(&options, Spelling::Arguments)
            .err()
            .unwrap_or_default();
        assert_eq!(
            flags,
            "--connect-timeout 5s is longer than --timeout 1s: raise --timeout too"
        );
        assert_eq!(
            args,
            "connect_timeout 5s is longer than timeout 1s: raise timeout too"
        );
        let v6 = CheckOptions {
            targets: vec!["127.0.0.1:80".into()],
            family: Some(Family::V6),
            ..CheckOptions::default()
        };
        assert_eq!(
            resolve(&v6, Spelling::Arguments).err().unwrap_or_default(),
            "family \"ipv6\" conflicts with the target address 127.0.0.1"
        );
    }

    #[test]
    fn inline_pem_must_hold_a_certificate() {
        let options = CheckOptions {
            targets: vec!["https://127.0.0.1:1/".into()],
            cacert_pem: Some("not a cert".into()),
            ..CheckOptions::default()
        };
        let err = resolve(&options, Spelling::Arguments)
            .err()
            .unwrap_or_default();
        assert!(err.starts_with("cacert_pem"), "{err}");
    }
}
