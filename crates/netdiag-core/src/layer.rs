//! The layers of the live walk, in walk order, and the domains and layers of the Kubernetes and
//! cloud checks.
//!
//! The names are part of the interface contract (`layer` in the JSON report): never rename one.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One layer of the live walk. Variants are declared in walk order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// Local resolver configuration: resolv.conf, hosts, nsswitch.
    Resolver,
    /// Name resolution, per nameserver.
    Dns,
    /// The kernel's route to each address.
    Route,
    /// The HTTP(S) proxy that applies to the target, and its CONNECT.
    Proxy,
    /// TCP handshake.
    Tcp,
    /// UDP exchange.
    Udp,
    /// Whether full-size packets cross the path.
    Mtu,
    /// The TLS handshake and certificate.
    Tls,
    /// The HTTP exchange.
    Http,
}

impl Layer {
    /// The stable name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Resolver => "resolver",
            Layer::Dns => "dns",
            Layer::Route => "route",
            Layer::Proxy => "proxy",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Mtu => "mtu",
            Layer::Tls => "tls",
            Layer::Http => "http",
        }
    }

    /// What the layer answers, one line, for help text and docs.
    pub fn question(self) -> &'static str {
        match self {
            Layer::Resolver => {
                "Is the local resolver configuration usable? (resolv.conf, hosts, nsswitch)"
            }
            Layer::Dns => {
                "Does the name resolve the way libc would resolve it, per nameserver, and how fast?"
            }
            Layer::Route => {
                "Does the kernel have a route to each address? Which source address and interface?"
            }
            Layer::Tcp => "Does the TCP handshake complete? If not, exactly how did it fail?",
            Layer::Udp => "Does the UDP service answer, or does an ICMP error say why not?",
            Layer::Proxy => {
                "When a proxy applies to this target: is the proxy reachable and does CONNECT work?"
            }
            Layer::Mtu => "Do full-size packets cross the path, or does the path black-hole them?",
            Layer::Tls => "Does the handshake succeed and is the certificate valid for this name?",
            Layer::Http => "Does the server answer with a healthy status in reasonable time?",
        }
    }

    /// All layers in walk order.
    pub const ALL: [Layer; 9] = [
        Layer::Resolver,
        Layer::Dns,
        Layer::Route,
        Layer::Proxy,
        Layer::Tcp,
        Layer::Udp,
        Layer::Mtu,
        Layer::Tls,
        Layer::Http,
    ];
}

/// The product a cause belongs to: the live walk, the Kubernetes check or the cloud check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// `netdiag check`: the live walk from this host.
    Live,
    /// `netdiag k8s check`: the Service path and NetworkPolicy, from manifests or a cluster.
    #[serde(rename = "k8s")]
    Kubernetes,
    /// `netdiag cloud check`: provider firewalls and routes, from exports.
    Cloud,
}

impl Domain {
    /// The stable name (`live`, `k8s`, `cloud`).
    pub fn name(self) -> &'static str {
        match self {
            Domain::Live => "live",
            Domain::Kubernetes => "k8s",
            Domain::Cloud => "cloud",
        }
    }

    /// Every domain, in the order the catalogue lists them.
    pub const ALL: [Domain; 3] = [Domain::Live, Domain::Kubernetes, Domain::Cloud];
}

/// The layers of the Kubernetes check (the `layer` field of its verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum K8sLayer {
    /// The Service: selector, readiness, ports, EndpointSlices.
    Service,
    /// NetworkPolicy isolation and allow rules.
    #[serde(rename = "networkpolicy")]
    NetworkPolicy,
}

impl K8sLayer {
    /// The stable name used in the k8s verdict.
    pub fn name(self) -> &'static str {
        match self {
            K8sLayer::Service => "service",
            K8sLayer::NetworkPolicy => "networkpolicy",
        }
    }
}

/// Where a cause is found: a live layer, a Kubernetes layer, or the cloud check (whose verdict
/// names the provider's own layer, such as `sg` or `nsg-nic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A layer of the live walk.
    Live(Layer),
    /// A layer of the Kubernetes check.
    Kubernetes(K8sLayer),
    /// The cloud check.
    Cloud,
}

impl Scope {
    /// The domain of this scope.
    pub fn domain(self) -> Domain {
        match self {
            Scope::Live(_) => Domain::Live,
            Scope::Kubernetes(_) => Domain::Kubernetes,
            Scope::Cloud => Domain::Cloud,
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for K8sLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
