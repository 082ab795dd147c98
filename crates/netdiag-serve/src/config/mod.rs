//! blackbox.yml, read strictly: every key blackbox_exporter knows is accepted where netdiag
//! implements it, a key it knows but netdiag does not implement is an error naming the key, and
//! an unknown key is an error naming it (blackbox decodes with `KnownFields(true)`). netdiag's
//! own sections (`allow`, `schedule`, `fleet`) and module kinds (`prober: netdiag`, `prober: udp`) are
//! additions, never changes.
//!
//! Pure: text in, [`Config`] or a one-line [`ConfigError`] out. `load` is the only I/O.

pub mod allow;
pub mod dns;
pub mod duration;
pub mod fleet;
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
    /// What a fleet member checks beyond `schedule` (peers, cluster DNS endpoints).
    pub fleet: Option<fleet::FleetConfig>,
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
    #[serde(default)]
    fleet: Option<fleet::FleetConfig>,
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
        fleet: raw.fleet,
    };
    for s in &config.schedule {
        s.validate(&config)?;
    }
    if let Some(a) = &config.allow {
        a.validate()?;
    }
    if let Some(f) = &config.fleet {
        f.validate(&config)?;
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
        let modules: serde_json::Map<String, serde_json::Value> = self
            .modules
            .iter()
            .map(|(name, m)| (name.clone(), m.redacted_value()))
            .collect();
        let mut root = serde_json::Map::new();
        root.insert("modules".into(), serde_json::Value::Object(modules));
        serde_saphyr::to_string(&serde_json::Value::Object(root)).unwrap_or_default()
    }
}

/// Keys whose non-empty values are secrets (blackbox's `Secret` fields).
const SECRET_KEYS: [&str; 3] = ["password", "bearer_token", "proxy_url"];

fn redact_value(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let secret = SECRET_KEYS.contains(&k.as_str())
                    && val.as_str().is_some_and(|s| !s.is_empty());
                if secret && k != "proxy_url" {
                    *val = serde_json::Value::String("<secret>".into());
                } else if secret {
                    // A proxy URL is shown without its credentials.
                    let text = val.as_str().unwrap_or_default();
                    if let Some((scheme, rest)) = text.split_once("://") {
                        if let Some((_, host)) = rest.rsplit_once('@') {
                            *val = serde_json::Value::String(format!("{scheme}://<secret>@{host}"));
                        }
                    }
                } else {
                    redact_value(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

impl Module {
    fn redacted_value(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("prober".into(), self.prober.name().into());
        let timeout = self
            .timeout
            .map(|t| format!("{}ms", t.as_millis()))
            .unwrap_or_else(|| "0s".into());
        map.insert("timeout".into(), timeout.into());
        let section = match self.prober {
            ProberKind::Http => serde_json::to_value(&self.http),
            ProberKind::Tcp => serde_json::to_value(&self.tcp),
            ProberKind::Dns => serde_json::to_value(&self.dns),
            ProberKind::Icmp => serde_json::to_value(&self.icmp),
            ProberKind::Udp => serde_json::to_value(&self.udp),
            ProberKind::Netdiag => serde_json::to_value(&self.netdiag),
        };
        if let Ok(mut value) = section {
            redact_value(&mut value);
            map.insert(self.prober.name().into(), value);
        }
        serde_json::Value::Object(map)
    }

    /// The module as YAML, secrets shown as `<secret>` (debug output's third section).
    pub fn to_redacted_yaml(&self) -> String {
        serde_saphyr::to_string(&self.redacted_value()).unwrap_or_default()
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
    fn redacted_yaml_hides_secrets_and_fills_defaults() {
        let c = parse("modules:\n  m:\n    prober: http\n    http:\n      bearer_token: s3cr3t\n  n:\n    prober: http\n    http:\n      basic_auth: {username: u, password: hunter2}\n").unwrap();
        for yaml in [c.to_redacted_yaml(), c.modules["n"].to_redacted_yaml()] {
            assert!(
                !yaml.contains("s3cr3t") && !yaml.contains("hunter2"),
                "{yaml}"
            );
            assert!(
                yaml.contains("<secret>") && yaml.contains("preferred_ip_protocol"),
                "{yaml}"
            );
        }
        let again = parse(&c.to_redacted_yaml());
        assert!(again.is_ok(), "{again:?}");
    }

    #[test]
    fn a_minimal_module_parses() {
        let c = parse("modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 5s\n").unwrap();
        let m = &c.modules["tcp_connect"];
        assert_eq!(m.prober, ProberKind::Tcp);
        assert_eq!(m.timeout, Some(Duration::from_secs(5)));
    }
}
