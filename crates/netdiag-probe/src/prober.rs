//! The system prober: the real [`Prober`] behind `netdiag check`.
//!
//! It owns the walk's clock. The whole check gets one deadline (`--timeout`); each layer's
//! probes get a slice of what remains, so a dead nameserver cannot eat the time the TCP probe
//! needs, and the check as a whole never runs past its deadline.

use crate::{dns, files, listeners, route, tcp, udp};
use netdiag_core::observe::{
    ConnectObservation, DnsExchange, DnsQuestion, HostFacts, ResolverFiles, RouteObservation,
    UdpObservation,
};
use netdiag_core::walk::Prober;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Where the resolver configuration is read from.
#[derive(Debug, Clone)]
pub struct ConfigPaths {
    /// resolv.conf.
    pub resolv_conf: String,
    /// The hosts file.
    pub hosts: String,
    /// nsswitch.conf.
    pub nsswitch: String,
}

impl Default for ConfigPaths {
    fn default() -> Self {
        ConfigPaths {
            resolv_conf: "/etc/resolv.conf".into(),
            hosts: "/etc/hosts".into(),
            nsswitch: "/etc/nsswitch.conf".into(),
        }
    }
}

/// Per-probe caps, so one slow layer leaves time for the next.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Longest wait for one DNS answer.
    pub dns_query: Duration,
    /// Longest wait for a TCP handshake.
    pub connect: Duration,
    /// Longest wait for a UDP reply.
    pub udp: Duration,
}

/// The prober used by `netdiag check`.
#[derive(Debug)]
pub struct SystemProber {
    paths: ConfigPaths,
    deadline: Instant,
    budgets: Budgets,
    /// Overrides resolver files entirely (used by `netdiag demo`).
    pub files_override: Option<ResolverFiles>,
}

impl SystemProber {
    /// A prober whose whole walk ends by `start + timeout`.
    pub fn new(paths: ConfigPaths, timeout: Duration) -> Self {
        let deadline = Instant::now() + timeout;
        // DNS gets at most 40% of the budget per query round (and never more than libc's 5 s),
        // the transport what remains.
        let budgets = Budgets {
            dns_query: (timeout.mul_f64(0.4)).min(Duration::from_secs(5)),
            connect: timeout,
            udp: timeout.mul_f64(0.5).min(Duration::from_secs(3)),
        };
        SystemProber {
            paths,
            deadline,
            budgets,
            files_override: None,
        }
    }

    fn until(&self, cap: Duration) -> Instant {
        // Keep a small reserve so the report is written before the deadline.
        let reserve = Duration::from_millis(50);
        let hard = self.deadline.checked_sub(reserve).unwrap_or(self.deadline);
        (Instant::now() + cap).min(hard)
    }
}

impl Prober for SystemProber {
    fn resolver_files(&mut self) -> ResolverFiles {
        match &self.files_override {
            Some(f) => f.clone(),
            None => files::resolver_files(
                &self.paths.resolv_conf,
                &self.paths.hosts,
                &self.paths.nsswitch,
            ),
        }
    }

    fn query(&mut self, questions: &[DnsQuestion]) -> Vec<DnsExchange> {
        dns::query_all(questions, self.until(self.budgets.dns_query))
    }

    fn routes(&mut self, destinations: &[IpAddr]) -> Vec<RouteObservation> {
        route::lookup_all(destinations)
    }

    fn connect(&mut self, addresses: &[SocketAddr]) -> Vec<ConnectObservation> {
        tcp::connect_all(addresses, self.until(self.budgets.connect))
    }

    fn udp(&mut self, addresses: &[SocketAddr]) -> Vec<UdpObservation> {
        udp::probe_all(addresses, self.until(self.budgets.udp))
    }

    fn host_facts(&mut self, port: u16) -> HostFacts {
        match listeners::tcp_listeners(port) {
            Ok(listeners) => HostFacts {
                listeners,
                listeners_unavailable: None,
            },
            Err(why) => HostFacts {
                listeners: Vec::new(),
                listeners_unavailable: Some(why),
            },
        }
    }
}
