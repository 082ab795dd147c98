//! The system prober: the real [`Prober`] behind `netdiag check`.
//!
//! It owns the walk's clock. The whole check gets one deadline (`--timeout`); each layer's
//! probes get a slice of what remains, so a dead nameserver cannot eat the time the TCP probe
//! needs, and the check as a whole never runs past its deadline.
//!
//! Above the transport it keeps one session, like curl: the proxy connection (or CONNECT
//! tunnel), the TLS stream on top of it, and the HTTP request over that, with curl-style phase
//! timings measured from the session's start.

use crate::http::IoTimeout;
use crate::{dns, files, http, kernel, listeners, mtu, proxy, route, tcp, tls, trace, udp};
use netdiag_core::hostfacts::KernelFacts;
use netdiag_core::observe::RouteOutcome;
use netdiag_core::observe::{
    ConnectObservation, DnsExchange, DnsQuestion, HostFacts, HttpObservation, HttpOutcome,
    HttpTimings, MtuObservation, ProxyObservation, ProxySetting, ResolverFiles, RouteObservation,
    TlsObservation, UdpObservation,
};
use netdiag_core::walk::{HttpRequest, Prober};
use std::net::{IpAddr, SocketAddr, TcpStream};
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
    /// Longest active path-MTU probe.
    pub mtu: Duration,
}

/// The stream the session layers share.
enum SessionStream {
    None,
    /// A TCP connection: to the server, to a forward proxy, or a CONNECT tunnel.
    Plain(TcpStream),
    /// TLS on top of one of those.
    Tls(Box<tls::TlsStream>),
}

impl std::fmt::Debug for SessionStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SessionStream::None => "None",
            SessionStream::Plain(_) => "Plain",
            SessionStream::Tls(_) => "Tls",
        })
    }
}

#[derive(Debug)]
struct Session {
    started: Option<Instant>,
    stream: SessionStream,
    /// A second handle on the TCP socket, for the passive path-MTU reading.
    socket: Option<TcpStream>,
    timings: HttpTimings,
    /// The proxy in use and whether it is a CONNECT tunnel (else a forward proxy).
    proxy: Option<(ProxySetting, bool)>,
    /// Connections the tcp layer completed, reused by the session like curl reuses its one.
    spare: Vec<(SocketAddr, TcpStream, Duration)>,
}

/// The prober used by `netdiag check`.
#[derive(Debug)]
pub struct SystemProber {
    paths: ConfigPaths,
    deadline: Instant,
    budgets: Budgets,
    /// Overrides resolver files entirely (used by `netdiag demo`).
    pub files_override: Option<ResolverFiles>,
    /// `--cacert` text: extra trusted roots for the tls layer.
    pub extra_roots_pem: Option<String>,
    /// `--crlfile`: the file's name and its CRLs (DER), checked by the tls layer's verifier.
    pub crls: Option<(String, Vec<Vec<u8>>)>,
    /// Credentials of the proxy URL, sent as `Proxy-Authorization`; never reported.
    pub proxy_credentials: Option<(String, String)>,
    session: Session,
}

impl SystemProber {
    /// A prober whose whole walk ends by `start + timeout`.
    pub fn new(paths: ConfigPaths, timeout: Duration) -> Self {
        let deadline = Instant::now() + timeout;
        // DNS gets at most 40% of the budget per query round (and never more than libc's 5 s),
        // the transport what remains.
        let budgets = Budgets {
            dns_query: (timeout.mul_f64(0.4)).min(Duration::from_secs(5)),
            // A silent connect leaves the rest of the budget to locate the drop hop by hop.
            connect: timeout.mul_f64(0.6),
            udp: timeout.mul_f64(0.5).min(Duration::from_secs(3)),
            mtu: timeout.mul_f64(0.4).min(Duration::from_secs(4)),
        };
        SystemProber {
            paths,
            deadline,
            budgets,
            files_override: None,
            extra_roots_pem: None,
            crls: None,
            proxy_credentials: None,
            session: Session {
                started: None,
                stream: SessionStream::None,
                socket: None,
                timings: HttpTimings::default(),
                proxy: None,
                spare: Vec::new(),
            },
        }
    }

    fn until(&self, cap: Duration) -> Instant {
        // Keep a small reserve so the report is written before the deadline.
        let reserve = Duration::from_millis(50);
        let hard = self.deadline.checked_sub(reserve).unwrap_or(self.deadline);
        (Instant::now() + cap).min(hard)
    }

    /// What a TLS handshake or an HTTP exchange may use: the time left, less a reserve for the
    /// active path-MTU probe that a stall triggers (a black hole shows itself as a stall).
    fn stall_budget(&self) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let reserve = (left.mul_f64(0.3)).min(Duration::from_millis(1500));
        left.saturating_sub(reserve)
    }

    fn session_start(&mut self) -> Instant {
        *self.session.started.get_or_insert_with(Instant::now)
    }

    fn credentials(&self) -> Option<(&str, &str)> {
        self.proxy_credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The session's TCP connection to `address`: the one the tcp layer completed, or a new
    /// one, timed as `connect`.
    fn open(&mut self, address: SocketAddr) -> std::io::Result<TcpStream> {
        if let Some(i) = self
            .session
            .spare
            .iter()
            .position(|(a, _, _)| *a == address)
        {
            let (_, stream, took) = self.session.spare.swap_remove(i);
            self.session.spare.clear();
            self.session.timings.connect = Some(took);
            return Ok(stream);
        }
        let started = self.session_start();
        let left = self
            .until(self.budgets.connect)
            .saturating_duration_since(Instant::now());
        let stream = TcpStream::connect_timeout(&address, left.max(Duration::from_millis(1)))?;
        self.session.timings.connect = Some(started.elapsed());
        Ok(stream)
    }
}

impl SystemProber {
    /// What is left for the locate probe after a silent connect.
    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

impl IoTimeout for tls::TlsStream {
    fn set_io_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.sock.set_read_timeout(Some(timeout))?;
        self.sock.set_write_timeout(Some(timeout))
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
        self.session_start();
        let results = tcp::connect_all_keeping(addresses, self.until(self.budgets.connect));
        let mut observations = Vec::with_capacity(results.len());
        for (observation, stream) in results {
            if let Some(s) = stream {
                self.session
                    .spare
                    .push((observation.address, s, observation.elapsed));
            }
            observations.push(observation);
        }
        observations
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

    fn proxy(
        &mut self,
        setting: &ProxySetting,
        host: &str,
        port: u16,
        tunnel: bool,
    ) -> ProxyObservation {
        let started = self.session_start();
        let deadline = self.until(self.budgets.connect);
        let (observation, stream) = if tunnel {
            proxy::connect_via(setting, self.credentials(), host, port, deadline)
        } else {
            let resolved = proxy::resolve_proxy(&setting.host, setting.port, deadline);
            proxy::connect_proxy(setting, resolved, deadline)
        };
        if let Some(s) = stream {
            self.session.timings.connect = Some(started.elapsed());
            self.session.socket = s.try_clone().ok();
            self.session.stream = SessionStream::Plain(s);
            self.session.proxy = Some((setting.clone(), tunnel));
        }
        observation
    }

    fn tls(&mut self, address: SocketAddr, sni: Option<&str>) -> TlsObservation {
        let started = self.session_start();
        let deadline = self.until(self.stall_budget());
        let stream = match std::mem::replace(&mut self.session.stream, SessionStream::None) {
            SessionStream::Plain(s) => Ok(s),
            _ => self.open(address),
        };
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                return TlsObservation {
                    address,
                    sni: sni.map(String::from),
                    outcome: netdiag_core::observe::TlsOutcome::Closed {
                        detail: format!("cannot connect for the handshake: {e}"),
                    },
                    elapsed: started.elapsed(),
                }
            }
        };
        if self.session.socket.is_none() {
            self.session.socket = stream.try_clone().ok();
        }
        // Like curl: no Nagle delay on the session (a request written in pieces would otherwise
        // wait for the server's delayed ACK, ~40 ms).
        let _ = stream.set_nodelay(true);
        let cfg = tls::TlsConfig {
            sni: sni.map(String::from),
            extra_roots_pem: self.extra_roots_pem.clone(),
            alpn: vec![b"http/1.1".to_vec()],
            crls_der: self
                .crls
                .as_ref()
                .map(|(_, crls)| crls.clone())
                .unwrap_or_default(),
            crl_name: self.crls.as_ref().map(|(name, _)| name.clone()),
        };
        // A fresh connection to the same place, for the legacy-version probe.
        let proxy = self.session.proxy.clone();
        let credentials = self.proxy_credentials.clone();
        let reconnect = move || -> std::io::Result<TcpStream> {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            match &proxy {
                Some((setting, true)) => {
                    let creds = credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
                    let host = cfg_host(sni, address);
                    proxy::connect_via(setting, creds, &host, address.port(), deadline)
                        .1
                        .ok_or_else(|| {
                            std::io::Error::other("the proxy did not open a second tunnel")
                        })
                }
                _ => TcpStream::connect_timeout(&address, left),
            }
        };
        let (observation, established) =
            tls::handshake(stream, address, &cfg, deadline, &reconnect);
        if let Some(s) = established {
            self.session.timings.tls = Some(started.elapsed());
            self.session.stream = SessionStream::Tls(Box::new(s));
        }
        observation
    }

    fn http(&mut self, address: SocketAddr, request: &HttpRequest) -> HttpObservation {
        let started = self.session_start();
        let deadline = self.until(self.stall_budget());
        let forward_proxy = matches!(self.session.proxy, Some((_, false)));
        let credentials = if forward_proxy {
            self.proxy_credentials.clone()
        } else {
            None
        };
        let req = http::HttpRequest {
            url: &request.url,
            address,
            host_header: &request.host_header,
            target: &request.target,
            proxy_credentials: credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        };
        let timings = self.session.timings.clone();
        match std::mem::replace(&mut self.session.stream, SessionStream::None) {
            SessionStream::Tls(mut s) => http::request(&mut *s, &req, started, timings, deadline),
            SessionStream::Plain(mut s) => {
                let _ = s.set_nodelay(true);
                http::request(&mut s, &req, started, timings, deadline)
            }
            SessionStream::None => match self.open(address) {
                Ok(mut s) => {
                    let _ = s.set_nodelay(true);
                    self.session.socket = s.try_clone().ok();
                    let timings = self.session.timings.clone();
                    http::request(&mut s, &req, started, timings, deadline)
                }
                Err(e) => HttpObservation {
                    url: request.url.clone(),
                    address,
                    outcome: HttpOutcome::Error {
                        detail: format!("cannot connect for the request: {e}"),
                    },
                    timings,
                },
            },
        }
    }

    fn kernel_facts(
        &mut self,
        destination: IpAddr,
        route: Option<&RouteOutcome>,
        tcp_port: Option<u16>,
    ) -> KernelFacts {
        let (gateway, source, route_interface) = match route {
            Some(RouteOutcome::Route {
                gateway,
                source,
                interface,
                ..
            }) => (*gateway, *source, interface.clone()),
            _ => (None, None, None),
        };
        let mut facts = kernel::facts(destination, gateway, None);
        if let Some(port) = tcp_port {
            let route_interface =
                route_interface.or_else(|| facts.interface.as_ref().map(|i| i.name.clone()));
            facts.reverse_path = kernel::reverse_path(
                SocketAddr::new(destination, port),
                source,
                route_interface.as_deref(),
                // Leave the rest for locating the drop hop by hop.
                kernel::REVERSE_PATH_PROBE.min(self.remaining() / 2),
            );
        }
        if route.is_none() && facts.interface.is_none() {
            // No route at all. A link that went down takes its routes with it; name the
            // Ethernet-like interfaces that are down as evidence only, since an idle spare
            // (a bridge with no members, an unused NIC) is down for good reasons too.
            if let Ok(entries) = std::fs::read_dir("/sys/class/net") {
                let mut names: Vec<String> = entries
                    .flatten()
                    .take(256)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                for name in names.iter().filter(|n| n.as_str() != "lo") {
                    let ethernet = std::fs::read_to_string(format!("/sys/class/net/{name}/type"))
                        .is_ok_and(|t| t.trim() == "1");
                    if ethernet && kernel::interface_facts(name).is_some_and(|i| i.down()) {
                        facts.notes.push(format!("interface {name} is down: if the route to {destination} went through it, bring it up (ip link set {name} up)"));
                    }
                }
            }
        }
        facts
    }

    fn firewall_sources(&mut self) -> netdiag_core::firewall::FirewallSources {
        crate::firewall::read_rulesets(self.until(Duration::from_secs(2)))
    }

    fn trace(
        &mut self,
        destination: SocketAddr,
        udp: bool,
    ) -> (Vec<netdiag_core::hostfacts::Hop>, bool) {
        let proto = if udp {
            trace::Proto::Udp
        } else {
            trace::Proto::Tcp
        };
        trace::hops(destination, proto, 16, self.until(self.remaining()))
    }

    fn mtu(&mut self, address: SocketAddr, active: bool) -> MtuObservation {
        if active {
            return mtu::probe(address, self.until(self.budgets.mtu));
        }
        match &self.session.socket {
            Some(s) => mtu::passive(s),
            None => MtuObservation {
                address,
                method: "kernel path MTU of the session".into(),
                interface_mtu: None,
                kernel_path_mtu: None,
                probes: Vec::new(),
                unavailable: Some("no open connection to read it from".into()),
            },
        }
    }
}

fn cfg_host(sni: Option<&str>, address: SocketAddr) -> String {
    sni.map(String::from)
        .unwrap_or_else(|| address.ip().to_string())
}
