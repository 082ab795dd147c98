//! The system prober: the real [`Prober`] behind `netdiag check`.
//!
//! It owns the walk's clock. The whole check gets one deadline (`--timeout`); each layer's
//! probes get a slice of what remains, so a dead nameserver cannot eat the time the TCP probe
//! needs, and the check as a whole never runs past its deadline.
//!
//! A probe waits as long as its evidence needs, not as long as the budget allows: an
//! unanswered SYN is judged after its retransmissions at 1 s and 3 s (`--connect-timeout`), and
//! the hop-by-hop trace a timeout calls for runs beside that wait instead of after it.
//!
//! Above the transport it keeps one session, like curl: the proxy connection (or CONNECT
//! tunnel), the TLS stream on top of it, and the HTTP request over that, with curl-style phase
//! timings measured from the session's start.

use crate::http::IoTimeout;
use crate::{dns, files, http, kernel, listeners, mtu, proxy, route, tcp, tls, trace, udp};
use netdiag_core::hostfacts::KernelFacts;
use netdiag_core::observe::RouteOutcome;
use netdiag_core::observe::{
    ConnectObservation, ConnectOutcome, DnsExchange, DnsQuestion, HostFacts, HttpObservation,
    HttpOutcome, HttpTimings, LiveSegment, MtuObservation, ProxyObservation, ProxySetting,
    ResolverFiles, RouteObservation, TlsObservation, UdpObservation,
};
use netdiag_core::walk::{HttpRequest, Prober};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    /// gai.conf (getaddrinfo's address sorting tables).
    pub gai_conf: String,
}

impl Default for ConfigPaths {
    fn default() -> Self {
        ConfigPaths {
            resolv_conf: "/etc/resolv.conf".into(),
            hosts: "/etc/hosts".into(),
            nsswitch: "/etc/nsswitch.conf".into(),
            gai_conf: "/etc/gai.conf".into(),
        }
    }
}

/// Default `--connect-timeout`: the SYN and the kernel's retransmissions of it at 1 s and 3 s.
/// A SYN that none of those three got answered is dropped, not slow: waiting longer only
/// delays the verdict (the next retransmission would be at 7 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Added to the connect wait: time for the answer to the SYN retransmitted at its end, and for
/// the ICMP host unreachable of a router whose ARP for the target gives up at that same moment
/// (Linux: 3 probes 1 s apart, so about 3 s after the first SYN reached it).
pub const CONNECT_GRACE: Duration = Duration::from_millis(300);

/// The most addresses traced speculatively alongside one connect.
const MAX_EARLY_TRACES: usize = 4;

/// Per-probe caps, so one slow layer leaves time for the next.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Longest wait for one DNS answer.
    pub dns_query: Duration,
    /// Longest wait for a TCP handshake (the tcp layer, and a session's own connect).
    pub connect: Duration,
    /// Longest wait for the proxy: its connect and, for a tunnel, its answer to CONNECT.
    pub proxy: Duration,
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
    /// The full-size segment the HTTP request put on the session, for the mtu layer.
    live_segment: Option<LiveSegment>,
}

/// The prober used by `netdiag check`.
#[derive(Debug)]
pub struct SystemProber {
    paths: ConfigPaths,
    timeout: Duration,
    deadline: Instant,
    budgets: Budgets,
    /// Hop-by-hop traces started while a connect was still unanswered, for the addresses that
    /// then timed out: `trace` joins them instead of starting over.
    early_traces: Vec<EarlyTrace>,
    /// Growth of the reverse-path drop counter while the last connect waited on retransmitted
    /// SYNs, and for how long (see [`kernel::reverse_path`]).
    rp_during_connect: Option<(u64, Duration)>,
    /// Overrides resolver files entirely (used by `netdiag demo`).
    pub files_override: Option<ResolverFiles>,
    /// Overrides the resolver environment (LOCALDOMAIN, RES_OPTIONS, HOSTALIASES, host name)
    /// that is otherwise read from this process (used by the glibc differential test).
    pub env_override: Option<netdiag_core::observe::ResolverEnv>,
    /// `--cacert` text: extra trusted roots for the tls layer.
    pub extra_roots_pem: Option<String>,
    /// `--crlfile`: the file's name and its CRLs (DER), checked by the tls layer's verifier.
    pub crls: Option<(String, Vec<Vec<u8>>)>,
    /// Credentials of the proxy URL, sent as `Proxy-Authorization`; never reported.
    pub proxy_credentials: Option<(String, String)>,
    /// `netdiag serve`'s http module: method, headers and body of the request, and how much of
    /// the response to keep in [`SystemProber::last_http_capture`]. `None` for `netdiag check`.
    pub http_extras: Option<http::Extras>,
    /// The last response's headers and first body bytes (only when `http_extras` is set).
    pub last_http_capture: Option<http::Capture>,
    /// Keep a TLS session whose certificate failed verification (`insecure_skip_verify`; the
    /// walk stops at the tls layer anyway unless its caller accepted the certificate).
    pub keep_unverified_tls: bool,
    /// The DER chain the server sent in the last handshake that established a session.
    pub last_tls_chain_der: Vec<Vec<u8>>,
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
            connect: connect_budget(timeout, DEFAULT_CONNECT_TIMEOUT),
            proxy: timeout.mul_f64(0.6),
            udp: timeout.mul_f64(0.5).min(Duration::from_secs(3)),
            mtu: timeout.mul_f64(0.4).min(Duration::from_secs(4)),
        };
        SystemProber {
            paths,
            timeout,
            deadline,
            budgets,
            early_traces: Vec::new(),
            rp_during_connect: None,
            files_override: None,
            env_override: None,
            extra_roots_pem: None,
            crls: None,
            proxy_credentials: None,
            http_extras: None,
            last_http_capture: None,
            keep_unverified_tls: false,
            last_tls_chain_der: Vec::new(),
            session: Session {
                started: None,
                stream: SessionStream::None,
                socket: None,
                timings: HttpTimings::default(),
                proxy: None,
                spare: Vec::new(),
                live_segment: None,
            },
        }
    }

    /// `--connect-timeout`: how long an unanswered SYN is waited for (plus [`CONNECT_GRACE`]),
    /// never more than three quarters of the whole check's timeout, so the follow-ups that a
    /// timeout triggers still fit.
    pub fn set_connect_timeout(&mut self, wait: Duration) {
        self.budgets.connect = connect_budget(self.timeout, wait);
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
            None => {
                let mut files = files::resolver_files(
                    &self.paths.resolv_conf,
                    &self.paths.hosts,
                    &self.paths.nsswitch,
                );
                files.gai_conf = Some(files::config_file(&self.paths.gai_conf));
                if let Some(env) = &self.env_override {
                    files.env = env.clone();
                }
                files
            }
        }
    }

    fn query(&mut self, questions: &[DnsQuestion]) -> Vec<DnsExchange> {
        dns::query_all(questions, self.until(self.budgets.dns_query))
    }

    fn routes(&mut self, destinations: &[IpAddr]) -> Vec<RouteObservation> {
        route::lookup_all(destinations)
    }

    fn interface_addresses(&mut self) -> Option<Vec<netdiag_core::observe::InterfaceAddress>> {
        route::interface_addresses().ok()
    }

    fn connect(&mut self, addresses: &[SocketAddr]) -> Vec<ConnectObservation> {
        self.session_start();
        let deadline = self.until(self.budgets.connect);
        // When the first SYN retransmission is due and an attempt is still unanswered, the
        // hop-by-hop trace a timeout needs starts beside it and ends with it, so the "dropped
        // after hop N" evidence is ready with the verdict. A connect that completes first
        // never starts one; one that completes later stops it. The reverse-path filter's drop
        // counter is marked at that moment too: the replies to the retransmitted SYNs count
        // there if the filter discards them.
        let mut started: Vec<EarlyTrace> = Vec::new();
        let mut rp_mark: Option<(u64, Instant)> = None;
        let mut start = |pending: &[SocketAddr]| {
            rp_mark = kernel::reverse_path_drops().map(|n| (n, Instant::now()));
            started.extend(
                pending
                    .iter()
                    .take(MAX_EARLY_TRACES)
                    .filter_map(|&a| EarlyTrace::start(a, deadline)),
            );
        };
        let early = tcp::Early {
            after: tcp::FIRST_SYN_RETRANSMIT,
            start: &mut start,
        };
        let results = tcp::connect_all_keeping_early(addresses, deadline, Some(early));
        self.rp_during_connect = rp_mark.and_then(|(before, at)| {
            kernel::reverse_path_drops().map(|now| (now.saturating_sub(before), at.elapsed()))
        });
        for t in started {
            let timed_out = results
                .iter()
                .any(|(o, _)| o.address == t.destination && o.outcome == ConnectOutcome::TimedOut);
            if timed_out {
                self.early_traces.push(t);
            } else {
                t.stop.store(true, Ordering::Relaxed);
            }
        }
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
        let deadline = self.until(self.budgets.proxy);
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
            keep_unverified: self.keep_unverified_tls,
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
            self.last_tls_chain_der = s
                .conn
                .peer_certificates()
                .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect())
                .unwrap_or_default();
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
        let mut stream = match std::mem::replace(&mut self.session.stream, SessionStream::None) {
            SessionStream::None => match self.open(address) {
                Ok(s) => {
                    self.session.socket = s.try_clone().ok();
                    SessionStream::Plain(s)
                }
                Err(e) => {
                    return HttpObservation {
                        url: request.url.clone(),
                        address,
                        outcome: HttpOutcome::Error {
                            detail: format!("cannot connect for the request: {e}"),
                        },
                        timings: self.session.timings.clone(),
                        first_byte_limit: None,
                        request_stalled: None,
                    }
                }
            },
            other => other,
        };
        // It is slow from `slow` on; past twice that, waiting longer only delays the verdict.
        // The request itself gets at least `slow` (a slow handshake must not leave it none).
        let first_byte_by = (started + request.slow * 2).max(Instant::now() + request.slow);
        // The full-size segment on the live session: only direct, where the walk's mtu layer
        // reads it (through a proxy it would measure the path to the proxy).
        let socket = match self.session.proxy {
            None => self.session.socket.as_ref(),
            Some(_) => None,
        };
        let timings = self.session.timings.clone();
        let extras = self.http_extras.as_ref();
        let mut capture = http::Capture::default();
        let keep = extras.map(|_| &mut capture);
        let (observation, segment) = match &mut stream {
            SessionStream::Tls(s) => {
                let overhead = tls_record_overhead(&s.conn);
                let on = SessionIo {
                    socket,
                    overhead,
                    carried: "the HTTP request in one TLS record",
                    extras,
                    capture: keep,
                };
                on.exchange(&mut **s, &req, started, timings, deadline, first_byte_by)
            }
            SessionStream::Plain(s) => {
                let _ = s.set_nodelay(true);
                let on = SessionIo {
                    socket,
                    overhead: 0,
                    carried: "the HTTP request",
                    extras,
                    capture: keep,
                };
                on.exchange(s, &req, started, timings, deadline, first_byte_by)
            }
            SessionStream::None => return no_session(address, request),
        };
        let kept = extras.is_some();
        self.last_http_capture = kept.then_some(capture);
        self.session.live_segment = segment;
        observation
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
                self.rp_during_connect,
            );
            let budget = kernel::REVERSE_PATH_PROBE.min(self.remaining() / 2);
            facts.rpfilter_rules = kernel::rpfilter_rules(
                &mut facts,
                SocketAddr::new(destination, port),
                route_interface.as_deref(),
                budget,
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
            let early = self
                .early_traces
                .iter()
                .position(|t| t.destination == destination);
            if let Some(i) = early {
                let t = self.early_traces.swap_remove(i);
                if let Ok(found) = t.handle.join() {
                    return found;
                }
            }
            trace::Proto::Tcp
        };
        trace::hops(destination, proto, TRACE_HOPS, self.until(self.remaining()))
    }

    fn mtu(&mut self, address: SocketAddr, active: bool) -> MtuObservation {
        let mut observation = if active {
            mtu::probe(address, self.until(self.budgets.mtu))
        } else {
            match &self.session.socket {
                Some(s) => mtu::passive(s),
                None => MtuObservation {
                    address,
                    method: "kernel path MTU of the session".into(),
                    interface_mtu: None,
                    kernel_path_mtu: None,
                    probes: Vec::new(),
                    unavailable: Some("no open connection to read it from".into()),
                    live_segment: None,
                },
            }
        };
        observation.live_segment = self.session.live_segment.clone();
        if !active && observation.live_segment.is_some() {
            observation.method =
                observation
                    .method
                    .replacen(mtu::PASSIVE_METHOD, mtu::SESSION_METHOD, 1);
        }
        observation
    }
}

/// What rustls adds to each application-data record: the 5-byte header, then for TLS 1.3 the
/// inner content type and a 16-byte AEAD tag; for TLS 1.2 the tag, and AES-GCM's 8-byte
/// explicit nonce (ChaCha20-Poly1305 has none). rustls implements no other record protection.
fn tls_record_overhead(conn: &rustls::ClientConnection) -> u32 {
    match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => 5 + 1 + 16,
        _ => match conn.negotiated_cipher_suite() {
            Some(suite) if format!("{:?}", suite.suite()).contains("CHACHA20") => 5 + 16,
            _ => 5 + 8 + 16,
        },
    }
}

fn no_session(address: SocketAddr, request: &HttpRequest) -> HttpObservation {
    HttpObservation {
        url: request.url.clone(),
        address,
        outcome: HttpOutcome::Error {
            detail: "no session to send the request on".into(),
        },
        timings: HttpTimings::default(),
        first_byte_limit: None,
        request_stalled: None,
    }
}

/// The session's TCP socket (when the request's segment is to be watched) and what the stream
/// on it adds to the bytes written, for the padded request.
struct SessionIo<'a> {
    socket: Option<&'a TcpStream>,
    overhead: u32,
    carried: &'static str,
    extras: Option<&'a http::Extras>,
    capture: Option<&'a mut http::Capture>,
}

impl SessionIo<'_> {
    /// The request padded so that its bytes on the wire fill one segment, its acknowledgement
    /// watched while the response has not begun; then what TCP_INFO says of that segment.
    fn exchange<S: std::io::Read + std::io::Write + IoTimeout>(
        self,
        stream: &mut S,
        req: &http::HttpRequest<'_>,
        started: Instant,
        timings: HttpTimings,
        deadline: Instant,
        first_byte_by: Instant,
    ) -> (HttpObservation, Option<LiveSegment>) {
        let plan = self.socket.and_then(mtu::plan_segment);
        let pad_to = plan.and_then(|p| usize::try_from(p.fill.saturating_sub(self.overhead)).ok());
        let mut look = || match (self.socket, &plan) {
            (Some(socket), Some(plan)) => match mtu::segment_state(socket, plan) {
                mtu::SegmentState::Waiting => http::Look::Waiting,
                mtu::SegmentState::Settled => http::Look::Settled,
                mtu::SegmentState::Stalled(why) => http::Look::Stalled(why),
            },
            _ => http::Look::Settled,
        };
        let watch: Option<&mut dyn FnMut() -> http::Look> = match plan {
            Some(_) => Some(&mut look),
            None => None,
        };
        let session = http::Session {
            pad_to,
            first_byte_by: Some(first_byte_by),
            watch,
            extras: self.extras,
            capture: self.capture,
        };
        let (observation, sent) =
            http::request_with(stream, req, started, timings, deadline, session);
        let segment = match (self.socket, plan, u32::try_from(sent)) {
            (Some(socket), Some(plan), Ok(sent)) if sent > 0 => {
                let padded = pad_to.is_some_and(|p| sent as usize <= p.max(1) + 32);
                let carried = if padded {
                    format!("{}, padded (X-Netdiag-Pad) to {sent} bytes", self.carried)
                } else {
                    format!("{}, {sent} bytes", self.carried)
                };
                Some(mtu::segment_result(
                    socket,
                    &plan,
                    sent + self.overhead,
                    carried,
                ))
            }
            _ => None,
        };
        (observation, segment)
    }
}

/// How many TTLs a trace sends.
const TRACE_HOPS: u8 = 16;

/// The tcp layer's wait for a handshake: `wait` plus the grace, within the check's timeout.
fn connect_budget(timeout: Duration, wait: Duration) -> Duration {
    wait.saturating_add(CONNECT_GRACE)
        .min(timeout.mul_f64(0.75))
}

/// A TCP trace running in its own thread beside the connect to `destination`.
#[derive(Debug)]
struct EarlyTrace {
    destination: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(Vec<netdiag_core::hostfacts::Hop>, bool)>,
}

impl EarlyTrace {
    /// Starts the trace, to end by `deadline` (the connect's); `None` when no thread could be
    /// started (the walk then traces after the connect, as without an early start).
    fn start(destination: SocketAddr, deadline: Instant) -> Option<EarlyTrace> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("netdiag-trace".into())
            .spawn(move || {
                trace::hops_until(destination, trace::Proto::Tcp, TRACE_HOPS, deadline, &flag)
            })
            .ok()?;
        Some(EarlyTrace {
            destination,
            stop,
            handle,
        })
    }
}

impl Drop for SystemProber {
    fn drop(&mut self) {
        // Traces nobody asked for (the walk stopped on another cause) end at once.
        for t in &self.early_traces {
            t.stop.store(true, Ordering::Relaxed);
        }
    }
}

fn cfg_host(sni: Option<&str>, address: SocketAddr) -> String {
    sni.map(String::from)
        .unwrap_or_else(|| address.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connect_wait_is_the_retransmission_schedule_within_the_timeout() {
        let secs = Duration::from_secs;
        // Default: the SYN, its retransmissions at 1 s and 3 s, and a grace for the last.
        assert_eq!(
            connect_budget(secs(10), DEFAULT_CONNECT_TIMEOUT),
            Duration::from_millis(3300)
        );
        // A short --timeout keeps a quarter for the follow-ups a timeout triggers.
        assert_eq!(
            connect_budget(secs(3), DEFAULT_CONNECT_TIMEOUT),
            Duration::from_millis(2250)
        );
        assert_eq!(
            connect_budget(secs(20), secs(8)),
            Duration::from_millis(8300)
        );
        let mut p = SystemProber::new(ConfigPaths::default(), secs(10));
        assert_eq!(p.budgets.connect, Duration::from_millis(3300));
        p.set_connect_timeout(secs(5));
        assert_eq!(p.budgets.connect, Duration::from_millis(5300));
        // The proxy keeps its own, unchanged share.
        assert_eq!(p.budgets.proxy, secs(6));
    }
}
