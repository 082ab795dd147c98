//! The `fleet:` section: what a fleet member (one `netdiag serve` per Kubernetes node, a
//! DaemonSet) checks beyond its `schedule:` targets.
//!
//! - `mesh`: K peer members, chosen on a hash ring over the members listed from the API server,
//!   each probed pod IP to pod IP with a module of this file. A broken node, or a broken pair,
//!   shows without N² probes.
//! - `cluster_dns`: the cluster DNS Service's every endpoint (each CoreDNS pod), probed directly
//!   with a `dns` module, so one bad CoreDNS replica is not hidden behind the Service's address.
//!
//! The member's own node name comes from `--fleet.node` (the DaemonSet passes the downward API's
//! `spec.nodeName`); it labels every scheduled series `node`.

use super::{duration, Config, ConfigError, ProberKind};
use std::time::Duration;

/// The most peers a member probes (kubenurse's and goldpinger's defaults are 10).
pub const MAX_PEERS: usize = 100;

/// The `fleet:` section.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// A kubeconfig to list members and endpoints with; absent: the pod's service account.
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// The peer mesh.
    #[serde(default)]
    pub mesh: Option<MeshConfig>,
    /// The cluster DNS endpoints.
    #[serde(default)]
    pub cluster_dns: Option<ClusterDnsConfig>,
}

/// `fleet.mesh`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MeshConfig {
    /// The module each peer is probed with (target `POD_IP:port`).
    pub module: String,
    /// The members' namespace.
    pub namespace: String,
    /// The label selector that lists the members (`key=value[,key=value]`).
    pub selector: String,
    /// The port probed on each peer (the members' own listener).
    #[serde(default = "default_port")]
    pub port: u16,
    /// How many peers each member probes (K).
    #[serde(default = "default_peers")]
    pub peers: usize,
    /// How often each peer is probed, and how often the member list is read.
    #[serde(default = "default_interval")]
    pub interval: String,
}

/// `fleet.cluster_dns`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterDnsConfig {
    /// A `dns` module (its `query_name` is asked of every endpoint).
    pub module: String,
    /// The DNS Service's namespace.
    #[serde(default = "default_dns_namespace")]
    pub namespace: String,
    /// The DNS Service's name (its EndpointSlices carry `kubernetes.io/service-name`).
    #[serde(default = "default_dns_service")]
    pub service: String,
    /// The port asked on each endpoint.
    #[serde(default = "default_dns_port")]
    pub port: u16,
    /// How often.
    #[serde(default = "default_interval")]
    pub interval: String,
}

fn default_port() -> u16 {
    9115
}
fn default_peers() -> usize {
    10
}
fn default_interval() -> String {
    "30s".into()
}
fn default_dns_namespace() -> String {
    "kube-system".into()
}
fn default_dns_service() -> String {
    "kube-dns".into()
}
fn default_dns_port() -> u16 {
    53
}

impl MeshConfig {
    /// The interval as a duration.
    pub fn interval(&self) -> Result<Duration, ConfigError> {
        duration::parse(&self.interval)
    }
}

impl ClusterDnsConfig {
    /// The interval as a duration.
    pub fn interval(&self) -> Result<Duration, ConfigError> {
        duration::parse(&self.interval)
    }

    /// The Service as `namespace/name`: the `target` label of its series.
    pub fn service_label(&self) -> String {
        format!("{}/{}", self.namespace, self.service)
    }
}

impl FleetConfig {
    /// Checks module names and kinds, intervals, K and the selector.
    pub fn validate(&self, config: &Config) -> Result<(), ConfigError> {
        let module = |section: &str, name: &str| {
            config
                .modules
                .get(name)
                .ok_or_else(|| ConfigError(format!("fleet.{section}: unknown module {name:?}")))
        };
        if let Some(mesh) = &self.mesh {
            module("mesh", &mesh.module)?;
            if mesh.peers == 0 || mesh.peers > MAX_PEERS {
                return Err(ConfigError(format!(
                    "fleet.mesh.peers is {}; give 1 to {MAX_PEERS}",
                    mesh.peers
                )));
            }
            if mesh.interval()?.is_zero() {
                return Err(ConfigError("fleet.mesh.interval is 0".into()));
            }
            validate_selector(&mesh.selector)?;
            validate_name("fleet.mesh.namespace", &mesh.namespace)?;
        }
        if let Some(dns) = &self.cluster_dns {
            let m = module("cluster_dns", &dns.module)?;
            if m.prober != ProberKind::Dns {
                return Err(ConfigError(format!(
                    "fleet.cluster_dns.module {:?} is a {} module; it must be a dns module",
                    dns.module,
                    m.prober.name()
                )));
            }
            if dns.interval()?.is_zero() {
                return Err(ConfigError("fleet.cluster_dns.interval is 0".into()));
            }
            validate_name("fleet.cluster_dns.namespace", &dns.namespace)?;
            validate_name("fleet.cluster_dns.service", &dns.service)?;
        }
        Ok(())
    }
}

/// A DNS-1123 label (namespace and Service names), so it can go into an API path as is.
fn validate_name(what: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "{what} {name:?} is not a Kubernetes name (lowercase letters, digits and '-')"
        )))
    }
}

/// An equality label selector, `key=value[,key=value]`, of label characters only.
fn validate_selector(selector: &str) -> Result<(), ConfigError> {
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
    };
    let ok = !selector.is_empty()
        && selector.split(',').all(|pair| {
            pair.split_once('=')
                .is_some_and(|(k, v)| label(k.trim()) && label(v.trim()))
        });
    if ok {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "fleet.mesh.selector {selector:?} is not a label selector such as app.kubernetes.io/name=netdiag"
        )))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    const MODULES: &str = "modules:\n  peer:\n    prober: tcp\n  cdns:\n    prober: dns\n    dns:\n      query_name: kubernetes.default.svc.cluster.local\n";

    #[test]
    fn a_full_section_parses_with_defaults() {
        let c = parse(&format!(
            "{MODULES}fleet:\n  mesh:\n    module: peer\n    namespace: netdiag\n    selector: app.kubernetes.io/name=netdiag\n  cluster_dns:\n    module: cdns\n"
        ))
        .unwrap();
        let f = c.fleet.unwrap();
        let mesh = f.mesh.unwrap();
        assert_eq!(
            (mesh.port, mesh.peers, mesh.interval.as_str()),
            (9115, 10, "30s")
        );
        let dns = f.cluster_dns.unwrap();
        assert_eq!(dns.service_label(), "kube-system/kube-dns");
        assert_eq!(dns.port, 53);
    }

    #[test]
    fn mistakes_are_one_line_errors_naming_the_field() {
        let cases = [
            ("fleet:\n  mesh:\n    module: nosuch\n    namespace: n\n    selector: a=b\n", "unknown module"),
            ("fleet:\n  mesh:\n    module: peer\n    namespace: n\n    selector: a=b\n    peers: 0\n", "peers"),
            ("fleet:\n  mesh:\n    module: peer\n    namespace: n\n    selector: 'a=b;rm'\n", "selector"),
            ("fleet:\n  mesh:\n    module: peer\n    namespace: N/x\n    selector: a=b\n", "namespace"),
            ("fleet:\n  cluster_dns:\n    module: peer\n", "must be a dns module"),
            ("fleet:\n  cluster_dns:\n    module: cdns\n    interval: 0s\n", "interval"),
            ("fleet:\n  bogus: 1\n", "bogus"),
        ];
        for (section, want) in cases {
            let e = parse(&format!("{MODULES}{section}")).unwrap_err();
            assert!(e.0.contains(want), "{section}: {e}");
            assert!(!e.0.contains('\n'), "{e}");
        }
    }
}
