//! `netdiag demo`: the first run on a fresh machine. Needs no root and no network.
//!
//! It starts throwaway faults on loopback (a healthy listener, a closed port, a port whose accept
//! queue is full so SYNs are dropped, a small DNS server answering NXDOMAIN, SERVFAIL and a
//! DNSSEC-style failure, a nameserver that never answers, a closed UDP port), runs the real walk
//! against each and shows the reports. Every scenario states the cause it expects, so the demo
//! doubles as a smoke test: it exits 0 only when every diagnosis matched.
//!
//! Port 53 needs root, so the demo's DNS server listens on a high port of 127.77.0.1 and the demo
//! prober maps the nameserver's port 53 to it; everything else is the production prober.

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{rdata::A, RData, Record, RecordType};
use netdiag_core::hostfacts::KernelFacts;
use netdiag_core::observe::RouteOutcome;
use netdiag_core::observe::{
    ConfigFile, ConnectObservation, DnsExchange, DnsQuestion, HostFacts, ResolverFiles,
    RouteObservation, UdpObservation,
};
use netdiag_core::observe::{
    HttpObservation, MtuObservation, ProxyObservation, ProxySetting, TlsObservation,
};
use netdiag_core::render::{render, Format};
use netdiag_core::report::Report;
use netdiag_core::target::parse_target;
use netdiag_core::walk::{HttpRequest, Prober, WalkOptions};
use netdiag_core::Cause;
use netdiag_engine::run_with;
use netdiag_probe::{ConfigPaths, SystemProber};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DEMO_DNS: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 1);
const DEAD_DNS: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 2);

/// A prober that reads an in-memory resolver configuration and sends DNS to the demo server's
/// real ports.
struct DemoProber {
    inner: SystemProber,
    files: ResolverFiles,
    dns_ports: Vec<(IpAddr, u16)>,
}

impl Prober for DemoProber {
    fn resolver_files(&mut self) -> ResolverFiles {
        self.files.clone()
    }
    fn query(&mut self, questions: &[DnsQuestion]) -> Vec<DnsExchange> {
        let mapped: Vec<DnsQuestion> = questions
            .iter()
            .map(|q| {
                let mut q = q.clone();
                if let Some((_, port)) = self.dns_ports.iter().find(|(ip, _)| *ip == q.server.ip())
                {
                    q.server.set_port(*port);
                }
                q
            })
            .collect();
        // Report the address as resolv.conf names it.
        self.inner
            .query(&mapped)
            .into_iter()
            .zip(questions)
            .map(|(mut e, q)| {
                e.question.server = q.server;
                e
            })
            .collect()
    }
    fn routes(&mut self, d: &[IpAddr]) -> Vec<RouteObservation> {
        self.inner.routes(d)
    }
    fn connect(&mut self, a: &[SocketAddr]) -> Vec<ConnectObservation> {
        self.inner.connect(a)
    }
    fn udp(&mut self, a: &[SocketAddr]) -> Vec<UdpObservation> {
        self.inner.udp(a)
    }
    fn host_facts(&mut self, port: u16) -> HostFacts {
        self.inner.host_facts(port)
    }
    fn proxy(
        &mut self,
        setting: &ProxySetting,
        host: &str,
        port: u16,
        tunnel: bool,
    ) -> ProxyObservation {
        self.inner.proxy(setting, host, port, tunnel)
    }
    fn tls(&mut self, address: SocketAddr, sni: Option<&str>) -> TlsObservation {
        self.inner.tls(address, sni)
    }
    fn http(&mut self, address: SocketAddr, request: &HttpRequest) -> HttpObservation {
        self.inner.http(address, request)
    }
    fn mtu(&mut self, address: SocketAddr, active: bool) -> MtuObservation {
        self.inner.mtu(address, active)
    }
    fn kernel_facts(
        &mut self,
        destination: IpAddr,
        route: Option<&RouteOutcome>,
        tcp_port: Option<u16>,
    ) -> KernelFacts {
        self.inner.kernel_facts(destination, route, tcp_port)
    }
    fn trace(
        &mut self,
        destination: SocketAddr,
        udp: bool,
    ) -> (Vec<netdiag_core::hostfacts::Hop>, bool) {
        self.inner.trace(destination, udp)
    }
    fn firewall_sources(&mut self) -> netdiag_core::firewall::FirewallSources {
        self.inner.firewall_sources()
    }
}

/// The loopback fixtures, removed when dropped.
struct Fixtures {
    stop: Arc<AtomicBool>,
    healthy_port: u16,
    closed_port: u16,
    silent_port: u16,
    closed_udp_port: u16,
    dns_port: u16,
    dead_dns_port: u16,
    _healthy: TcpListener,
    _silent: TcpListener,
    _silent_fillers: Vec<TcpStream>,
    _dead_dns: UdpSocket,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn free_port<T>(
    bind: impl Fn(SocketAddr) -> std::io::Result<T>,
    port_of: impl Fn(&T) -> std::io::Result<SocketAddr>,
) -> std::io::Result<u16> {
    let sock = bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    Ok(port_of(&sock)?.port())
}

fn start_fixtures() -> std::io::Result<Fixtures> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();

    // Healthy: a listener that accepts and closes.
    let healthy = TcpListener::bind("127.0.0.1:0")?;
    let healthy_port = healthy.local_addr()?.port();
    healthy.set_nonblocking(true)?;
    let accept_from = healthy.try_clone()?;
    let s = stop.clone();
    threads.push(std::thread::spawn(move || {
        // Bounded: stops when the demo ends, and at most after 10 minutes.
        for _ in 0..60_000 {
            if s.load(Ordering::SeqCst) {
                break;
            }
            match accept_from.accept() {
                Ok((conn, _)) => drop(conn),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }));

    // Refused: a port that was free a moment ago.
    let closed_port = free_port(TcpListener::bind, |l| l.local_addr())?;
    let closed_udp_port = free_port(UdpSocket::bind, |u| u.local_addr())?;

    // Silent: backlog 0 and a full accept queue, so the kernel drops further SYNs.
    let silent_sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    silent_sock.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    silent_sock.listen(0)?;
    let silent: TcpListener = silent_sock.into();
    let silent_addr = silent.local_addr()?;
    let mut fillers = Vec::new();
    for _ in 0..3 {
        if let Ok(c) = TcpStream::connect_timeout(&silent_addr, Duration::from_millis(200)) {
            fillers.push(c);
        }
    }

    // DNS: one server that answers, one that never does.
    let dns = UdpSocket::bind(SocketAddr::from((DEMO_DNS, 0)))?;
    let dns_port = dns.local_addr()?.port();
    dns.set_read_timeout(Some(Duration::from_millis(100)))?;
    let s = stop.clone();
    threads.push(std::thread::spawn(move || {
        serve_dns(&dns, &s, healthy_port)
    }));
    let dead = UdpSocket::bind(SocketAddr::from((DEAD_DNS, 0)))?;
    let dead_dns_port = dead.local_addr()?.port();

    Ok(Fixtures {
        stop,
        healthy_port,
        closed_port,
        silent_port: silent_addr.port(),
        closed_udp_port,
        dns_port,
        dead_dns_port,
        _healthy: healthy,
        _silent: silent,
        _silent_fillers: fillers,
        _dead_dns: dead,
        threads,
    })
}

/// The demo zone: `ok.demo` → 127.0.0.1, `missing.demo` NXDOMAIN, `broken.demo` SERVFAIL,
/// `bogus.demo` SERVFAIL unless the CD bit is set (how a validating resolver reports DNSSEC).
fn answer(query: &Message) -> Message {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.checking_disabled = query.metadata.checking_disabled;
    let Some(q) = query.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply;
    };
    reply.add_query(q.clone());
    let name = q.name().to_ascii().to_ascii_lowercase();
    let localhost_a = |reply: &mut Message| {
        if q.query_type() == RecordType::A {
            reply.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::A(A(Ipv4Addr::LOCALHOST)),
            ));
        }
    };
    match name.trim_end_matches('.') {
        "ok.demo" => localhost_a(&mut reply),
        "bogus.demo" if query.metadata.checking_disabled => localhost_a(&mut reply),
        "bogus.demo" | "broken.demo" => reply.metadata.response_code = ResponseCode::ServFail,
        _ => reply.metadata.response_code = ResponseCode::NXDomain,
    }
    reply
}

fn serve_dns(socket: &UdpSocket, stop: &AtomicBool, _healthy_port: u16) {
    let mut buf = [0u8; 1500];
    for _ in 0..60_000 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let Ok(query) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if query.metadata.message_type != MessageType::Query {
            continue;
        }
        if let Ok(bytes) = answer(&query).to_vec() {
            let _ = socket.send_to(&bytes, from);
        }
    }
}

struct Scenario {
    title: &'static str,
    target: String,
    resolv_conf: String,
    timeout: Duration,
    expect: Cause,
    /// `--slow` for this scenario.
    slow: Option<Duration>,
    /// Trust the demo CA (`--cacert`).
    demo_ca: bool,
}

impl Scenario {
    fn new(
        title: &'static str,
        target: String,
        resolv_conf: &str,
        timeout: Duration,
        expect: Cause,
    ) -> Scenario {
        Scenario {
            title,
            target,
            resolv_conf: resolv_conf.to_string(),
            timeout,
            expect,
            slow: None,
            demo_ca: false,
        }
    }
}

fn files(resolv_conf: &str) -> ResolverFiles {
    ResolverFiles {
        resolv_conf: ConfigFile {
            path: "demo/resolv.conf".into(),
            content: Ok(resolv_conf.to_string()),
        },
        hosts: ConfigFile {
            path: "demo/hosts".into(),
            content: Ok("127.0.0.1 localhost\n".into()),
        },
        nsswitch: ConfigFile {
            path: "demo/nsswitch.conf".into(),
            content: Ok("hosts: files dns\n".into()),
        },
        proxy_env: Vec::new(),
        gai_conf: None,
        env: Default::default(),
    }
}

/// The demo's faults, each with the cause it must be diagnosed as.
fn scenarios(fx: &Fixtures, hp: u16, tp: u16) -> Vec<Scenario> {
    let good = format!("nameserver {DEMO_DNS}\noptions timeout:2 attempts:1\n");
    let dead_first =
        format!("nameserver {DEAD_DNS}\nnameserver {DEMO_DNS}\noptions timeout:2 attempts:1\n");
    let t = Duration::from_secs(3);
    vec![
        Scenario::new(
            "a healthy TCP service",
            format!("tcp://ok.demo:{}", fx.healthy_port),
            &good,
            t,
            Cause::Ok,
        ),
        Scenario::new(
            "nothing listens on the port",
            format!("tcp://127.0.0.1:{}", fx.closed_port),
            &good,
            t,
            Cause::TcpRefused,
        ),
        Scenario::new(
            "SYNs silently dropped (a full accept queue stands in for a firewall DROP)",
            format!("127.0.0.1:{}", fx.silent_port),
            &good,
            Duration::from_millis(1500),
            Cause::TcpTimeout,
        ),
        Scenario::new(
            "the name does not exist",
            format!("tcp://missing.demo:{}", fx.healthy_port),
            &good,
            t,
            Cause::DnsNxdomain,
        ),
        Scenario::new(
            "the nameserver cannot resolve the name",
            "broken.demo".into(),
            &good,
            t,
            Cause::DnsServfail,
        ),
        Scenario::new(
            "DNSSEC validation fails (SERVFAIL, but an answer with CD set)",
            "bogus.demo".into(),
            &good,
            t,
            Cause::DnsDnssecFailure,
        ),
        Scenario::new(
            "a dead first nameserver makes every lookup slow",
            format!("tcp://ok.demo:{}", fx.healthy_port),
            &dead_first,
            Duration::from_secs(2),
            Cause::DnsNameserverUnreachable,
        ),
        Scenario::new(
            "nothing listens on the UDP port",
            format!("udp://127.0.0.1:{}", fx.closed_udp_port),
            &good,
            t,
            Cause::UdpPortUnreachable,
        ),
        Scenario::new(
            "no nameserver configured",
            "ok.demo".into(),
            "search demo\n",
            t,
            Cause::ResolverNoNameservers,
        ),
        Scenario::new(
            "a healthy web service",
            format!("http://ok.demo:{hp}/"),
            &good,
            t,
            Cause::Ok,
        ),
        Scenario::new(
            "the network is fine, the service answers 503",
            format!("http://ok.demo:{hp}/broken"),
            &good,
            t,
            Cause::Http5xx,
        ),
        Scenario {
            slow: Some(Duration::from_millis(300)),
            ..Scenario::new(
                "the first byte is slow (threshold 300 ms here)",
                format!("http://127.0.0.1:{hp}/slow"),
                &good,
                t,
                Cause::HttpSlow,
            )
        },
        Scenario::new(
            "https:// to a port that speaks plain HTTP",
            format!("https://127.0.0.1:{hp}/"),
            &good,
            t,
            Cause::TlsNotTls,
        ),
        Scenario {
            demo_ca: true,
            ..Scenario::new(
                "the certificate expired (issuer trusted via --cacert)",
                format!("https://localhost:{tp}/"),
                &good,
                t,
                Cause::TlsCertExpired,
            )
        },
    ]
}

/// Runs the demo; returns the rendered output and the exit status.
pub fn run(format: Format) -> (String, i32) {
    let fx = match start_fixtures() {
        Ok(f) => f,
        Err(e) => {
            return (
                format!("netdiag demo: cannot start loopback fixtures: {e}\n"),
                3,
            )
        }
    };
    let http = match crate::demo_servers::http() {
        Ok(h) => h,
        Err(e) => {
            return (
                format!("netdiag demo: cannot start the loopback HTTP server: {e}\n"),
                3,
            )
        }
    };
    let (tls, demo_ca) = match crate::demo_servers::expired_tls() {
        Ok(t) => t,
        Err(e) => return (format!("netdiag demo: {e}\n"), 3),
    };
    let scenarios = scenarios(&fx, http.addr.port(), tls.addr.port());

    let total = scenarios.len();
    let mut out = String::new();
    let mut reports: Vec<Report> = Vec::new();
    let mut mismatches = Vec::new();
    if format == Format::Table || format == Format::Markdown {
        out.push_str(&format!(
            "netdiag demo: {total} throwaway faults on loopback, no root and no network needed.\nThe demo DNS server answers on {DEMO_DNS}; {DEAD_DNS} is a nameserver that never answers.\n\n"
        ));
    }
    for (i, sc) in scenarios.iter().enumerate() {
        let Ok(target) = parse_target(&sc.target) else {
            mismatches.push(format!("{}: bad demo target {}", sc.title, sc.target));
            continue;
        };
        let mut inner = SystemProber::new(ConfigPaths::default(), sc.timeout);
        if sc.demo_ca {
            inner.extra_roots_pem = Some(demo_ca.clone());
        }
        let mut prober = DemoProber {
            inner,
            files: files(&sc.resolv_conf),
            dns_ports: vec![
                (IpAddr::V4(DEMO_DNS), fx.dns_port),
                (IpAddr::V4(DEAD_DNS), fx.dead_dns_port),
            ],
        };
        let options = WalkOptions {
            slow: sc.slow,
            ..WalkOptions::default()
        };
        let report = run_with(&target, options, &mut prober);
        let ok = report.verdict.cause == sc.expect;
        if !ok {
            mismatches.push(format!(
                "{}: expected {}, got {}",
                sc.title, sc.expect, report.verdict.cause
            ));
        }
        match format {
            Format::Json => {}
            Format::Table => out.push_str(&format!(
                "=== {}/{total}: {} (expect {}) ===\n{}\n",
                i + 1,
                sc.title,
                sc.expect,
                render(&report, Format::Table)
            )),
            Format::Markdown => out.push_str(&format!(
                "# {}/{total}: {} (expect `{}`)\n\n{}\n",
                i + 1,
                sc.title,
                sc.expect,
                render(&report, Format::Markdown)
            )),
        }
        reports.push(report);
    }
    drop(fx);
    drop(http);
    drop(tls);
    if format == Format::Json {
        out = serde_json::to_string_pretty(&reports).unwrap_or_default();
        out.push('\n');
        return (out, if mismatches.is_empty() { 0 } else { 3 });
    }
    if mismatches.is_empty() {
        out.push_str(&format!(
            "demo: {total} scenarios, each diagnosed as expected.\n"
        ));
        (out, 0)
    } else {
        out.push_str(&format!(
            "demo: {} of {total} scenarios were NOT diagnosed as expected:\n",
            mismatches.len()
        ));
        for m in &mismatches {
            out.push_str(&format!("  {m}\n"));
        }
        (out, 3)
    }
}
