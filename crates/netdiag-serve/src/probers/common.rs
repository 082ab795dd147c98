//! What every prober shares: address selection as blackbox does it (`preferred_ip_protocol`,
//! `ip_protocol_fallback`, `probe_ip_addr_hash`), and netdiag's verdict series from a report.
//!
//! Why the verdict series look like this: the cause label is one of the contract's fixed codes
//! and the layer one of the fixed layer names, so the series' cardinality is bounded (no
//! addresses, no free text: blackbox's maintainers refuse unbounded labels, #740/#1484).

use crate::expo::Registry;
use netdiag_core::cause::Cause;
use netdiag_core::layer::Layer;
use netdiag_core::report::{Report, RowVerdict};
use std::net::IpAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// HELP of `probe_failure_info`.
pub const FAILURE_INFO_HELP: &str =
    "netdiag: the layer that failed and the stable cause code (present only when the probe failed)";

/// netdiag's series from the walk's report: `probe_failure_info{layer,cause} 1` when the walk
/// failed, `netdiag_layer_success{layer}` (1 pass or warn, 0 fail; skipped layers absent) and
/// `netdiag_layer_duration_seconds{layer}` (the layer's rows summed).
pub fn verdict_series(report: &Report, registry: &mut Registry) {
    let failure = report.verdict.layer.map(|l| (l, report.verdict.cause));
    verdict_series_with(report, failure, registry);
}

/// [`verdict_series`] with the failure the prober decided (a module's expectations can fail a
/// probe the walk passed, or pass a status the walk called a failure).
pub fn verdict_series_with(
    report: &Report,
    failure: Option<(Layer, Cause)>,
    registry: &mut Registry,
) {
    if let Some((layer, cause)) = failure {
        registry.gauge_with(
            "probe_failure_info",
            FAILURE_INFO_HELP,
            &[("layer", layer.name()), ("cause", cause.code())],
            1.0,
        );
    }
    let mut layers: Vec<(Layer, bool, u64)> = Vec::new();
    for row in &report.layers {
        if row.verdict == RowVerdict::Skip {
            continue;
        }
        let mut ok = row.verdict != RowVerdict::Fail;
        if failure.is_none() && row.layer == Layer::Http {
            // The module accepted what the walk's http row refused (a listed 404).
            ok = true;
        }
        match layers.iter_mut().find(|(l, _, _)| *l == row.layer) {
            Some(entry) => {
                entry.1 &= ok;
                entry.2 = entry.2.saturating_add(row.duration_ms);
            }
            None => layers.push((row.layer, ok, row.duration_ms)),
        }
    }
    if let Some((layer, _)) = failure {
        if let Some(entry) = layers.iter_mut().find(|(l, _, _)| *l == layer) {
            entry.1 = false;
        }
    }
    for (layer, ok, ms) in layers {
        registry.gauge_with(
            "netdiag_layer_success",
            "netdiag: whether the layer passed (1 pass or warn, 0 fail); skipped layers are absent",
            &[("layer", layer.name())],
            if ok { 1.0 } else { 0.0 },
        );
        registry.gauge_with(
            "netdiag_layer_duration_seconds",
            "netdiag: how long the layer's tests took, in seconds",
            &[("layer", layer.name())],
            ms as f64 / 1000.0,
        );
    }
}

/// blackbox's `probe_ip_addr_hash`: FNV-32a over the 4-byte form of an IPv4 address, otherwise
/// the 16-byte form.
pub fn ip_hash(ip: IpAddr) -> u32 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        },
    };
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Whether `preferred_ip_protocol` asks for IPv4 (`ip4`, `tcp4`, ...); anything else is ip6.
pub fn prefers_v4(preferred: &str) -> bool {
    preferred.ends_with('4')
}

/// blackbox's choice among resolved addresses: the first of the preferred family; with the
/// fallback, otherwise the last of the other family (chooseProtocol's order).
pub fn choose(addresses: &[IpAddr], prefer_v4: bool, fallback: bool) -> Option<IpAddr> {
    let preferred = |ip: &&IpAddr| ip.is_ipv4() == prefer_v4;
    if let Some(ip) = addresses.iter().find(preferred) {
        return Some(*ip);
    }
    if fallback {
        return addresses.iter().rev().find(|ip| !preferred(ip)).copied();
    }
    None
}

/// The three series of every resolving prober, all present even when resolution failed.
pub fn address_series(registry: &mut Registry, lookup: Duration, ip: Option<IpAddr>) {
    registry.gauge(
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds",
        lookup.as_secs_f64(),
    );
    let (protocol, hash) = match ip {
        Some(ip) => (if ip.is_ipv4() { 4.0 } else { 6.0 }, f64::from(ip_hash(ip))),
        None => (0.0, 0.0),
    };
    registry.gauge(
        "probe_ip_protocol",
        "Specifies whether probe ip protocol is IP4 or IP6",
        protocol,
    );
    // Registered before resolving, as blackbox does: present (0) when resolution failed.
    registry.gauge(
        "probe_ip_addr_hash",
        "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
        hash,
    );
}

/// Resolves `host` with the system resolver (getaddrinfo, as blackbox's Go resolver reads the
/// same files), in a thread so that the probe's deadline bounds it. An IP literal is itself.
pub fn resolve(host: &str, deadline: Duration) -> (Duration, Result<Vec<IpAddr>, String>) {
    let started = Instant::now();
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return (started.elapsed(), Ok(vec![ip]));
    }
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    let spawned = std::thread::Builder::new()
        .name("serve-resolve".into())
        .spawn(move || {
            use std::net::ToSocketAddrs;
            let answer = (name.as_str(), 0u16)
                .to_socket_addrs()
                .map(|it| it.map(|a| a.ip()).collect::<Vec<_>>())
                .map_err(|e| e.to_string());
            let _ = tx.send(answer);
        });
    if let Err(e) = spawned {
        return (started.elapsed(), Err(e.to_string()));
    }
    let answer = match rx.recv_timeout(deadline) {
        Ok(answer) => answer,
        Err(_) => Err(format!("no answer within {} ms", deadline.as_millis())),
    };
    (started.elapsed(), answer)
}

/// The walk's observations as the probes made them, kept while the walk runs: the numbers
/// blackbox's series need (phase times, status, version, chain) come from these, so the walk,
/// its report and `netdiag check`'s output stay untouched.
///
/// With `skip_verify` (`insecure_skip_verify`), a completed handshake is handed to the walk
/// without the verifier's finding, so the walk goes on to HTTP as blackbox does; the recorded
/// observation keeps the finding (the series then say no chain was verified).
pub struct Recorder<'p> {
    /// The system prober doing the work.
    pub inner: &'p mut netdiag_probe::SystemProber,
    /// Accept any certificate.
    pub skip_verify: bool,
    /// Every connect attempt.
    pub connects: Vec<netdiag_core::observe::ConnectObservation>,
    /// Every TLS observation, as observed.
    pub tls: Vec<netdiag_core::observe::TlsObservation>,
    /// Every HTTP exchange.
    pub http: Vec<netdiag_core::observe::HttpObservation>,
    /// Every DNS question the walk asked, per nameserver, with its outcome.
    pub dns: Vec<netdiag_core::observe::DnsExchange>,
}

impl<'p> Recorder<'p> {
    /// A recorder around `inner`.
    pub fn new(inner: &'p mut netdiag_probe::SystemProber, skip_verify: bool) -> Self {
        Recorder {
            inner,
            skip_verify,
            connects: Vec::new(),
            tls: Vec::new(),
            http: Vec::new(),
            dns: Vec::new(),
        }
    }
}

/// netdiag's per-nameserver facts from the walk's own questions (bounded: resolv.conf holds at
/// most three nameservers, glibc's MAXNS): `netdiag_dns_nameserver_up{nameserver}` (1 when the
/// server answered any question, whatever the rcode; 0 when it stayed silent or was
/// unreachable) and `netdiag_dns_nameserver_response_seconds{nameserver}` (its slowest answer,
/// or how long it was waited for). A dead first nameserver, the reason "everything is slow",
/// shows here even when the probe succeeded through the second one.
pub fn nameserver_series(
    registry: &mut Registry,
    exchanges: &[netdiag_core::observe::DnsExchange],
) {
    use netdiag_core::observe::DnsOutcome;
    let mut servers: Vec<(std::net::SocketAddr, bool, Duration)> = Vec::new();
    for exchange in exchanges {
        let (answered, took) = match &exchange.outcome {
            DnsOutcome::Response { latency, .. } => (true, *latency),
            DnsOutcome::Timeout { waited } => (false, *waited),
            _ => (false, Duration::ZERO),
        };
        let server = exchange.question.server;
        match servers.iter_mut().find(|(s, _, _)| *s == server) {
            Some(entry) => {
                entry.1 |= answered;
                entry.2 = entry.2.max(took);
            }
            None => servers.push((server, answered, took)),
        }
    }
    for (server, answered, took) in servers.into_iter().take(MAX_NAMESERVER_SERIES) {
        let label = if server.port() == 53 {
            server.ip().to_string()
        } else {
            server.to_string()
        };
        registry.gauge_with(
            "netdiag_dns_nameserver_up",
            "netdiag: whether this nameserver of the prober's resolv.conf answered the walk's questions (1) or stayed silent or unreachable (0)",
            &[("nameserver", label.as_str())],
            if answered { 1.0 } else { 0.0 },
        );
        registry.gauge_with(
            "netdiag_dns_nameserver_response_seconds",
            "netdiag: the slowest answer of this nameserver, or how long it was waited for, in seconds",
            &[("nameserver", label.as_str())],
            took.as_secs_f64(),
        );
    }
}

/// At most this many nameservers get series (glibc reads three; the cap keeps a bad
/// resolv.conf from growing the label set).
const MAX_NAMESERVER_SERIES: usize = 3;

mod recorder_impl {
    use super::Recorder;
    use netdiag_core::hostfacts::{Hop, KernelFacts};
    use netdiag_core::observe::{
        ConnectObservation, DnsExchange, DnsQuestion, HostFacts, HttpObservation, InterfaceAddress,
        MtuObservation, ProxyObservation, ProxySetting, ResolverFiles, RouteObservation,
        RouteOutcome, TlsObservation, TlsOutcome, UdpObservation,
    };
    use netdiag_core::walk::{HttpRequest, Prober};
    use std::net::{IpAddr, SocketAddr};

    impl Prober for Recorder<'_> {
        fn resolver_files(&mut self) -> ResolverFiles {
            self.inner.resolver_files()
        }
        fn query(&mut self, questions: &[DnsQuestion]) -> Vec<DnsExchange> {
            let seen = self.inner.query(questions);
            self.dns.extend(seen.iter().cloned());
            seen
        }
        fn routes(&mut self, destinations: &[IpAddr]) -> Vec<RouteObservation> {
            self.inner.routes(destinations)
        }
        fn connect(&mut self, addresses: &[SocketAddr]) -> Vec<ConnectObservation> {
            let seen = self.inner.connect(addresses);
            self.connects.extend(seen.iter().cloned());
            seen
        }
        fn udp(&mut self, addresses: &[SocketAddr]) -> Vec<UdpObservation> {
            self.inner.udp(addresses)
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
            let seen = self.inner.tls(address, sni);
            self.tls.push(seen.clone());
            let mut handed = seen;
            if self.skip_verify {
                if let TlsOutcome::Handshake(session) = &mut handed.outcome {
                    session.problem = None;
                }
            }
            handed
        }
        fn http(&mut self, address: SocketAddr, request: &HttpRequest) -> HttpObservation {
            let seen = self.inner.http(address, request);
            self.http.push(seen.clone());
            seen
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
        fn trace(&mut self, destination: SocketAddr, udp: bool) -> (Vec<Hop>, bool) {
            self.inner.trace(destination, udp)
        }
        fn firewall_sources(&mut self) -> netdiag_core::firewall::FirewallSources {
            self.inner.firewall_sources()
        }
        fn interface_addresses(&mut self) -> Option<Vec<InterfaceAddress>> {
            self.inner.interface_addresses()
        }
    }
}

/// Go's zero time in Unix seconds: blackbox's `probe_ssl_last_chain_expiry_timestamp_seconds`
/// when no chain was verified.
pub const GO_ZERO_TIME: f64 = -62_135_596_800.0;

/// What the TLS series need from one handshake.
#[derive(Debug, Clone, Default)]
pub struct TlsFacts {
    /// `TLS 1.3` (blackbox's label value).
    pub version: String,
    /// NotAfter of each served certificate, leaf first.
    pub not_after: Vec<i64>,
    /// The chain verified (and was not merely accepted by `insecure_skip_verify`).
    pub verified: bool,
    /// Leaf subject, issuer, SANs joined with ",".
    pub leaf: Option<(String, String, String)>,
    /// SHA-256 of the leaf's DER, lower-case hex.
    pub fingerprint: String,
    /// blackbox's last chain expiry when the verified chains are known (see
    /// [`verified_chain_expiry`]); `None` falls back to the served chain's earliest NotAfter.
    pub last_chain: Option<i64>,
}

/// The TLS facts of a recorded observation (`None` when no certificate arrived).
pub fn tls_facts(
    observation: &netdiag_core::observe::TlsObservation,
    chain_der: &[Vec<u8>],
) -> Option<TlsFacts> {
    use netdiag_core::observe::TlsOutcome;
    let (version, chain, verified) = match &observation.outcome {
        TlsOutcome::Handshake(s) => (s.version.clone(), &s.chain, s.problem.is_none()),
        TlsOutcome::FailedAfterCertificate { chain, .. } => (String::new(), chain, false),
        _ => return None,
    };
    let fingerprint = chain_der
        .first()
        .map(|der| {
            ring::digest::digest(&ring::digest::SHA256, der)
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .unwrap_or_default();
    Some(TlsFacts {
        version: version.replace("TLSv", "TLS "),
        not_after: chain.iter().map(|c| c.not_after).collect(),
        verified,
        leaf: chain.first().map(|c| {
            let (subject, issuer) = chain_der
                .first()
                .and_then(|der| go_names(der))
                .unwrap_or_else(|| (c.subject.clone(), c.issuer.clone()));
            (subject, issuer, go_dns_names(&c.sans))
        }),
        fingerprint,
        last_chain: None,
    })
}

/// The TLS facts of a handshake the serve prober made itself (the tcp prober's STARTTLS):
/// the negotiated version as rustls names it (`TLSv1_3`), the served chain, whether it verified.
pub fn tls_facts_from_der(version: &str, chain_der: &[Vec<u8>], verified: bool) -> TlsFacts {
    let parsed: Vec<_> = chain_der.iter().filter_map(|d| parse_der(d)).collect();
    let fingerprint = chain_der
        .first()
        .map(|der| {
            ring::digest::digest(&ring::digest::SHA256, der)
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .unwrap_or_default();
    let leaf = parsed.first().map(|c| {
        let sans: Vec<String> = c
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|ext| {
                ext.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        (go_name(c.subject()), go_name(c.issuer()), sans.join(","))
    });
    TlsFacts {
        version: version.replace("TLSv1_", "TLS 1.").replace("TLSv", "TLS "),
        not_after: parsed
            .iter()
            .map(|c| c.validity().not_after.timestamp())
            .collect(),
        verified,
        leaf,
        fingerprint,
        last_chain: None,
    }
}

/// At most this many certificates in one verified chain (Go's chain building is bounded too).
const MAX_CHAIN_DEPTH: usize = 8;

/// blackbox's `probe_ssl_last_chain_expiry_timestamp_seconds` from the chains Go's
/// `x509.Verify` would build: every path from the served leaf through served intermediates to
/// a trust anchor of `roots_pem` (issuer name equal, signature valid, each certificate inside
/// its validity), each path valued at its earliest NotAfter, the latest of those. `None` when
/// no path ends in `roots_pem` (the trust came from the system store, or nothing verified).
pub fn verified_chain_expiry(chain_der: &[Vec<u8>], roots_pem: &str) -> Option<i64> {
    use x509_parser::certificate::X509Certificate;
    let root_ders: Vec<Vec<u8>> = x509_parser::pem::Pem::iter_from_buffer(roots_pem.as_bytes())
        .filter_map(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
        .collect();
    let roots: Vec<X509Certificate<'_>> = root_ders
        .iter()
        .filter_map(|d| parse_der(d))
        .filter(|c| c.validity().is_valid())
        .collect();
    let served: Vec<X509Certificate<'_>> = chain_der.iter().filter_map(|d| parse_der(d)).collect();
    let leaf = served.first()?;
    if served.len() != chain_der.len() || !leaf.validity().is_valid() {
        return None;
    }
    let mut best = None;
    let mut used = vec![0usize];
    chain_paths(
        &served,
        &roots,
        leaf,
        leaf.validity().not_after.timestamp(),
        &mut used,
        &mut best,
    );
    best
}

fn parse_der(der: &[u8]) -> Option<x509_parser::certificate::X509Certificate<'_>> {
    use x509_parser::prelude::FromDer;
    x509_parser::certificate::X509Certificate::from_der(der)
        .ok()
        .map(|(_, c)| c)
}

/// `child` is signed by `parent` the way chain building needs it.
fn issued_by(
    child: &x509_parser::certificate::X509Certificate<'_>,
    parent: &x509_parser::certificate::X509Certificate<'_>,
) -> bool {
    child.issuer().as_raw() == parent.subject().as_raw()
        && child.verify_signature(Some(parent.public_key())).is_ok()
}

/// The depth-first part of [`verified_chain_expiry`]; `used` holds the served certificates on
/// the path (by index), so no certificate repeats and the depth is bounded.
fn chain_paths(
    served: &[x509_parser::certificate::X509Certificate<'_>],
    roots: &[x509_parser::certificate::X509Certificate<'_>],
    node: &x509_parser::certificate::X509Certificate<'_>,
    earliest: i64,
    used: &mut Vec<usize>,
    best: &mut Option<i64>,
) {
    for root in roots {
        if root.as_raw() != node.as_raw() && issued_by(node, root) {
            let value = earliest.min(root.validity().not_after.timestamp());
            *best = Some(best.map_or(value, |b: i64| b.max(value)));
        }
    }
    if used.len() >= MAX_CHAIN_DEPTH {
        return;
    }
    for (i, next) in served.iter().enumerate().skip(1) {
        if used.contains(&i) || !next.validity().is_valid() || !issued_by(node, next) {
            continue;
        }
        used.push(i);
        let value = earliest.min(next.validity().not_after.timestamp());
        chain_paths(served, roots, next, value, used, best);
        used.pop();
    }
}

/// blackbox's `subjectalternative`: Go's `strings.Join(cert.DNSNames, ",")`, so the IP
/// addresses of the SAN extension are left out.
fn go_dns_names(sans: &[String]) -> String {
    sans.iter()
        .filter(|s| s.parse::<std::net::IpAddr>().is_err())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// The leaf's subject and issuer as Go's `pkix.Name.String()` writes them (what blackbox puts
/// in `probe_ssl_last_chain_info`): RFC 4514, most specific RDN first, no blanks after commas,
/// `CN=leaf,O=Org,C=US`.
fn go_names(der: &[u8]) -> Option<(String, String)> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    Some((go_name(cert.subject()), go_name(cert.issuer())))
}

fn go_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let oid = atv.attr_type().to_id_string();
                    let value = atv.as_str().map(rfc4514_escape);
                    match (go_attribute_name(&oid), value) {
                        (Some(short), Ok(v)) => format!("{short}={v}"),
                        _ => {
                            let raw = atv.attr_value();
                            let hex: String = raw.data.iter().map(|b| format!("{b:02x}")).collect();
                            format!("{oid}=#{hex}")
                        }
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// The attribute types Go's crypto/x509/pkix names; every other type is written as its OID.
fn go_attribute_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.6" => "C",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.3" => "CN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.17" => "POSTALCODE",
        _ => return None,
    })
}

/// RFC 4514 escaping as Go's `escape` does it: `,+"\<>;` always, `#` or a blank at the start,
/// a blank at the end.
fn rfc4514_escape(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len());
    for (i, &c) in chars.iter().enumerate() {
        let edge_blank = c == ' ' && (i == 0 || i + 1 == chars.len());
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || edge_blank
            || (i == 0 && c == '#')
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// blackbox's `probe_ssl_*` and `probe_tls_version_info` series for one handshake.
pub fn tls_series(registry: &mut Registry, facts: &TlsFacts) {
    if let Some(earliest) = facts.not_after.iter().min() {
        registry.gauge(
            "probe_ssl_earliest_cert_expiry",
            "Returns last SSL chain expiry in unixtime",
            *earliest as f64,
        );
    }
    let last_chain = match (facts.verified, facts.not_after.iter().min()) {
        (true, Some(min)) => facts.last_chain.unwrap_or(*min) as f64,
        _ => GO_ZERO_TIME,
    };
    registry.gauge(
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        "Returns last SSL chain expiry in timestamp",
        last_chain,
    );
    if let Some((subject, issuer, sans)) = &facts.leaf {
        registry.gauge_with(
            "probe_ssl_last_chain_info",
            "Contains SSL leaf certificate information",
            &[
                ("fingerprint_sha256", facts.fingerprint.as_str()),
                ("subject", subject),
                ("issuer", issuer),
                ("subjectalternative", sans),
            ],
            1.0,
        );
    }
    if !facts.version.is_empty() {
        registry.gauge_with(
            "probe_tls_version_info",
            "Returns the TLS version used or NaN when unknown",
            &[("version", facts.version.as_str())],
            1.0,
        );
    }
}

/// A system prober for one serve probe: the probe's deadline, the module's trust anchors, and
/// unverified sessions kept (the walk still stops at a failed certificate unless the module
/// skips verification).
pub fn system_prober(
    timeout: Duration,
    connect_timeout: Duration,
    extra_roots_pem: Option<String>,
) -> netdiag_probe::SystemProber {
    let mut prober =
        netdiag_probe::SystemProber::new(netdiag_probe::ConfigPaths::default(), timeout);
    prober.set_connect_timeout(connect_timeout.min(timeout));
    prober.extra_roots_pem = extra_roots_pem;
    prober.keep_unverified_tls = true;
    prober
}

/// Reads a `ca_file` (PEM, at most 1 MiB).
pub fn read_ca_file(path: &str) -> Result<Option<String>, String> {
    if path.is_empty() {
        return Ok(None);
    }
    let meta = std::fs::metadata(path).map_err(|e| format!("ca_file {path}: {e}"))?;
    if meta.len() > 1024 * 1024 {
        return Err(format!("ca_file {path} is larger than 1 MiB"));
    }
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(|e| format!("ca_file {path}: {e}"))
}

/// A healthy report with no rows (tests of the probers' judgement).
#[cfg(test)]
pub(crate) fn healthy_report() -> Report {
    tests::report(Vec::new(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netdiag_core::report::{Row, TargetInfo, Verdict};

    #[test]
    fn ip_hash_is_fnv32a_of_the_address_bytes() {
        // FNV-1a 32 of [127,0,0,1] and of 16 bytes of ::1, computed independently.
        assert_eq!(ip_hash("127.0.0.1".parse().unwrap()), fnv(&[127, 0, 0, 1]));
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(ip_hash("::1".parse().unwrap()), fnv(&v6));
        assert_eq!(fnv(b""), 0x811c_9dc5);
        assert_eq!(fnv(b"a"), 0xe40c_292c);
    }

    fn fnv(bytes: &[u8]) -> u32 {
        bytes.iter().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(16_777_619)
        })
    }

    #[test]
    fn choose_follows_blackbox() {
        let v4a: IpAddr = "192.0.2.1".parse().unwrap();
        let v4b: IpAddr = "192.0.2.2".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(choose(&[v4a, v6], false, true), Some(v6));
        assert_eq!(choose(&[v4a, v4b], false, true), Some(v4b));
        assert_eq!(choose(&[v4a, v4b], false, false), None);
        assert_eq!(choose(&[v6, v4a, v4b], true, true), Some(v4a));
        assert!(prefers_v4("ip4") && !prefers_v4("ip6") && !prefers_v4(""));
    }

    pub(super) fn report(rows: Vec<Row>, failed: Option<(Layer, Cause)>) -> Report {
        Report {
            schema: netdiag_core::report::SCHEMA,
            target: TargetInfo {
                input: "x".into(),
                scheme: "http".into(),
                host: "x".into(),
                port: None,
            },
            started_at: String::new(),
            duration_ms: 0,
            layers: rows,
            verdict: Verdict {
                layer: failed.map(|f| f.0),
                cause: failed.map_or(Cause::Ok, |f| f.1),
                summary: String::new(),
                root_cause: String::new(),
                fix: Default::default(),
                rollback: Vec::new(),
                prestate: Vec::new(),
                runbook: String::new(),
            },
            warnings: Vec::new(),
            redirect: None,
            followed: Vec::new(),
            failed_flow: None,
            cloud: None,
        }
    }

    #[test]
    fn verdict_series_by_scenario() {
        let rows = vec![
            Row::new(Layer::Dns, "", "", RowVerdict::Pass, Cause::Ok).with_duration_ms(3),
            Row::new(Layer::Tcp, "", "", RowVerdict::Fail, Cause::TcpRefused),
            Row::new(Layer::Http, "", "", RowVerdict::Skip, Cause::Ok),
        ];
        let mut reg = Registry::new();
        verdict_series(
            &report(rows.clone(), Some((Layer::Tcp, Cause::TcpRefused))),
            &mut reg,
        );
        let code = Cause::TcpRefused.code();
        assert_eq!(
            reg.value("probe_failure_info", &[("layer", "tcp"), ("cause", code)]),
            Some(1.0)
        );
        assert_eq!(
            reg.value("netdiag_layer_success", &[("layer", "dns")]),
            Some(1.0)
        );
        assert_eq!(
            reg.value("netdiag_layer_success", &[("layer", "tcp")]),
            Some(0.0)
        );
        assert_eq!(
            reg.value("netdiag_layer_success", &[("layer", "http")]),
            None
        );
        assert_eq!(
            reg.value("netdiag_layer_duration_seconds", &[("layer", "dns")]),
            Some(0.003)
        );
        let mut healthy = Registry::new();
        verdict_series(&report(rows[..1].to_vec(), None), &mut healthy);
        assert!(healthy
            .families()
            .iter()
            .all(|f| f.name != "probe_failure_info"));
    }
}

#[cfg(test)]
mod go_name_tests {
    use super::*;

    #[test]
    fn names_are_written_like_go_pkix() {
        let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(std::net::IpAddr::from([
                127, 0, 0, 1,
            ])));
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::OrganizationName, "Acme, Inc");
        dn.push(rcgen::DnType::CommonName, "leaf");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (subject, issuer) = go_names(cert.der()).unwrap();
        assert_eq!(subject, "CN=leaf,O=Acme\\, Inc,C=US");
        assert_eq!(issuer, subject);
        assert_eq!(
            go_dns_names(&["a.example".into(), "127.0.0.1".into(), "::1".into()]),
            "a.example"
        );
        assert_eq!(rfc4514_escape(" #x "), "\\ #x\\ ");
        assert_eq!(rfc4514_escape("#x"), "\\#x");
    }
}

#[cfg(test)]
mod nameserver_tests {
    use super::*;
    use netdiag_core::observe::{DnsExchange, DnsOutcome, DnsQuestion, RecordType};

    fn exchange(server: &str, outcome: DnsOutcome) -> DnsExchange {
        DnsExchange {
            question: DnsQuestion {
                name: "a.example.".into(),
                record_type: RecordType::A,
                server: server.parse().unwrap(),
                checking_disabled: false,
            },
            outcome,
        }
    }

    #[test]
    fn a_silent_first_nameserver_is_down_while_the_second_answers() {
        let answered = DnsOutcome::Response {
            rcode: netdiag_core::observe::Rcode::NoError,
            addresses: vec![],
            cnames: vec![],
            unused_answers: 0,
            authentic_data: false,
            via_tcp: false,
            latency: Duration::from_millis(4),
        };
        let silent = DnsOutcome::Timeout {
            waited: Duration::from_secs(1),
        };
        let mut reg = Registry::new();
        nameserver_series(
            &mut reg,
            &[
                exchange("10.0.0.2:53", silent.clone()),
                exchange("10.0.0.3:53", answered.clone()),
                exchange("10.0.0.2:53", silent),
                exchange("127.0.0.1:5353", answered),
            ],
        );
        let up = |ns: &str| reg.value("netdiag_dns_nameserver_up", &[("nameserver", ns)]);
        assert_eq!(up("10.0.0.2"), Some(0.0));
        assert_eq!(up("10.0.0.3"), Some(1.0));
        assert_eq!(up("127.0.0.1:5353"), Some(1.0));
        assert_eq!(
            reg.value(
                "netdiag_dns_nameserver_response_seconds",
                &[("nameserver", "10.0.0.2")]
            ),
            Some(1.0)
        );
    }
}
