//! The layers of the live walk, in walk order.
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
    pub const ALL: [Layer; 5] = [
        Layer::Resolver,
        Layer::Dns,
        Layer::Route,
        Layer::Tcp,
        Layer::Udp,
    ];
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
