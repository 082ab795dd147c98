//! Classification: observations in, findings out. Pure functions, one module per layer.
//!
//! Each classifier turns the facts a probe recorded into report rows, warnings and at most one
//! [`Failure`]: the cause code, a one-line summary, the root cause with its evidence, and the
//! [`FixContext`] that [`crate::fix`] needs to write a concrete fix. Nothing here does I/O, so
//! every rule is tested on plain data beside the code.

pub mod dns;
pub mod http;
pub mod mtu;
pub mod proxy;
pub mod resolver;
pub mod route;
pub mod tcp;
pub mod tls;
pub mod udp;

use crate::cause::Cause;
use crate::report::{Row, Warning};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What the fix text needs to know about the failure. Every field is optional: a fix template
/// uses what applies and falls back to placeholders a person can fill in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixContext {
    /// The target's host as typed (name or address).
    pub host: String,
    /// The target port.
    pub port: Option<u16>,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    /// The address that failed.
    pub address: Option<IpAddr>,
    /// The nameserver involved.
    pub nameserver: Option<IpAddr>,
    /// The other nameservers (for dns fixes).
    pub other_nameservers: Vec<IpAddr>,
    /// The router or host that sent an ICMP error.
    pub offender: Option<IpAddr>,
    /// The local source address used.
    pub source: Option<IpAddr>,
    /// The outgoing interface.
    pub interface: Option<String>,
    /// The gateway.
    pub gateway: Option<IpAddr>,
    /// The name queried (fully qualified), for dns fixes.
    pub name: Option<String>,
    /// Path of resolv.conf.
    pub resolv_conf: String,
    /// Path of the hosts file.
    pub hosts_file: String,
    /// A line number in the relevant file.
    pub line: Option<usize>,
    /// A listener found on this host.
    pub listener: Option<SocketAddr>,
    /// Inside a Kubernetes pod, when the cluster DNS failed: what to check and the commands.
    pub cluster_dns_hint: Option<(String, Vec<String>)>,
    /// The process owning it.
    pub process: Option<String>,
    /// resolv.conf timeout per try.
    pub dns_timeout: Option<Duration>,
    /// Whether the target address is this host's own.
    pub target_is_local: bool,
    /// The proxy, `host:port`.
    pub proxy: Option<String>,
    /// Where the proxy setting came from.
    pub proxy_source: Option<String>,
    /// A path MTU that works.
    pub mtu: Option<u32>,
    /// TLS versions the server speaks.
    pub tls_versions: Option<String>,
    /// The TLS detail a remedy names: the suite the server chose, the weak key or signature
    /// and the certificate that carries it, the revocation status.
    pub tls_detail: Option<String>,
    /// SANs of the certificate.
    pub sans: Option<String>,
    /// HTTP status.
    pub http_status: Option<u16>,
    /// The URL requested.
    pub url: Option<String>,
    /// A fix command worked out from host facts (kernel state), with its rollback.
    pub host_fix: Option<(String, String)>,
    /// The scoped exception for a blocking rule of this host's firewall.
    pub firewall_fix: Option<crate::firewall::ScopedFix>,
    /// The addresses that time out while others of the name connect (tcp layer).
    pub unreachable: Vec<IpAddr>,
    /// The address getaddrinfo puts first on this host (the one a plain client tries first).
    pub preferred: Option<IpAddr>,
    /// The failed address was synthesized by DNS64: the NAT64 path to name in the fix.
    pub nat64: Option<Nat64Path>,
}

/// A failed connect to a DNS64-synthesized address: which translator, for which server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nat64Path {
    /// The NAT64 prefix, e.g. `64:ff9b::/96`.
    pub prefix: String,
    /// The IPv4 server address embedded in the synthesized one.
    pub v4: Option<std::net::Ipv4Addr>,
    /// The translator: the hop where packets stop, else the route's next hop.
    pub translator: Option<IpAddr>,
    /// Whether this host has a native IPv4 path (an IPv4 address other than loopback).
    pub native_v4: bool,
}

/// The failure a layer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The cause.
    pub cause: Cause,
    /// One sentence a person can act on.
    pub summary: String,
    /// What is wrong and where, with the evidence.
    pub root_cause: String,
    /// Facts for the fix text.
    pub context: FixContext,
}

/// What one layer's classifier concluded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LayerFindings {
    /// Rows for the report.
    pub rows: Vec<Row>,
    /// Warnings.
    pub warnings: Vec<Warning>,
    /// The failure, if the layer failed.
    pub failure: Option<Failure>,
}

/// Milliseconds, rounded, for rows and text.
pub fn ms(d: Duration) -> u64 {
    let micros = d.as_micros();
    u64::try_from(micros.div_ceil(1000)).unwrap_or(u64::MAX)
}

/// A duration for people: `850 ms`, `3.2 s`.
pub fn human(d: Duration) -> String {
    let m = d.as_millis();
    if m < 1000 {
        format!("{} ms", ms(d))
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Text for an errno, e.g. `ECONNREFUSED (Connection refused)`.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        1 => "EPERM",
        13 => "EACCES",
        22 => "EINVAL",
        99 => "EADDRNOTAVAIL",
        101 => "ENETUNREACH",
        103 => "ECONNABORTED",
        104 => "ECONNRESET",
        110 => "ETIMEDOUT",
        111 => "ECONNREFUSED",
        113 => "EHOSTUNREACH",
        _ => "errno",
    }
}
