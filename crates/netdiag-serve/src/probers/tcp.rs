//! The `tcp` prober: blackbox's tcp module, answered by netdiag's walk.
//!
//! The target is `host:port`. Address selection is blackbox's (see [`super::http`]'s module
//! doc for how the chosen family restricts the walk). The walk (resolver → dns → route → tcp)
//! gives the connect verdict; with `tls: true` the handshake runs on the walk's kept session and
//! netdiag's tls classifier names a certificate or handshake failure. `query_response` (`expect`,
//! `send`, `labels`, `starttls`) then runs on a fresh plain connection to the chosen address,
//! bounded by the probe's deadline and [`MAX_DIALOGUE_BYTES`]. As in blackbox, an `expect` that
//! reads to the end of the stream is a regex failure, one cut by a read error or the deadline is
//! not; a `starttls` step upgrades the connection with rustls (the module's CA file, else the
//! system's roots) and gives the certificate series, last chain expiry from the verified chains.

use super::common::{
    address_series, choose, prefers_v4, read_ca_file, resolve, system_prober, tls_facts,
    tls_facts_from_der, tls_series, verdict_series_with, verified_chain_expiry, Recorder, TlsFacts,
};
use super::{ProbeOutcome, ProbeRequest};
use crate::config::tcp::{QueryResponse, TcpProbe};
use crate::expo::Registry;
use netdiag_core::cause::Cause;
use netdiag_core::layer::Layer;
use netdiag_core::report::Report;
use netdiag_core::target::{parse_target, Target};
use netdiag_core::walk::{Family, Prober, WalkOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// At most this many bytes are read from the server during `query_response`.
pub const MAX_DIALOGUE_BYTES: usize = 64 * 1024;

/// Runs one `tcp` probe.
pub fn probe(request: &ProbeRequest<'_>) -> ProbeOutcome {
    let started = Instant::now();
    let deadline = started + request.timeout;
    let module = &request.module.tcp;
    let mut out = ProbeOutcome::default();
    let mut lines = vec![format!(
        "Beginning probe probe=tcp timeout_seconds={}",
        request.timeout.as_secs_f64()
    )];
    let mut reg = Registry::new();
    let target = match parse_target(&format!("tcp://{}", request.target)) {
        Ok(t) if t.port.is_some() => t,
        Ok(_) => return refuse(out, lines, "missing port"),
        Err(e) => return refuse(out, lines, &e.to_string()),
    };
    let host = target.host_text();
    lines.push(format!("Resolving target address target={host}"));
    let (lookup, answer) = resolve(&host, request.timeout);
    let chosen = answer.as_ref().ok().and_then(|a| {
        choose(
            a,
            prefers_v4(&module.preferred_ip_protocol),
            module.ip_protocol_fallback,
        )
    });
    address_series(&mut reg, lookup, chosen);
    reg.gauge(
        "probe_failed_due_to_regex",
        "Indicates if probe failed due to regex",
        0.0,
    );
    let family = match chosen {
        Some(ip) if ip.is_ipv4() => Some(Family::V4),
        Some(_) => Some(Family::V6),
        None if answer.is_ok() && !module.ip_protocol_fallback => {
            Some(if prefers_v4(&module.preferred_ip_protocol) {
                Family::V4
            } else {
                Family::V6
            })
        }
        None => None,
    };
    let ca = match read_ca_file(&module.tls_config.ca_file) {
        Ok(ca) => ca,
        Err(e) => return refuse(out, lines, &e),
    };
    let starttls = if module.query_response.iter().any(|q| q.starttls) {
        match StartTls::new(module, &host, ca.clone()) {
            Ok(s) => Some(s),
            Err(e) => return refuse(out, lines, &e),
        }
    } else {
        None
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let mut prober = system_prober(left, left, ca);
    let options = WalkOptions {
        family,
        ..WalkOptions::default()
    };
    lines.push(format!("Dialing TCP target={}", target.authority()));
    let mut recorder = Recorder::new(&mut prober, module.tls_config.insecure_skip_verify);
    let mut report = netdiag_engine::live::run_with(&target, options, &mut recorder);
    let dns_exchanges = std::mem::take(&mut recorder.dns);
    let connected = recorder
        .connects
        .iter()
        .find(|c| {
            matches!(
                c.outcome,
                netdiag_core::observe::ConnectOutcome::Connected { .. }
            ) && chosen.is_none_or(|ip| c.address.ip() == ip)
        })
        .map(|c| c.address);
    let mut failure = report.verdict.layer.map(|l| (l, report.verdict.cause));
    if let (None, Some(address)) = (failure, connected) {
        if module.tls {
            failure = tls_step(
                request,
                module,
                &mut prober,
                address,
                &target,
                &mut report,
                &mut reg,
            );
        }
        if failure.is_none() && !module.query_response.is_empty() {
            let d = dialogue(
                &module.query_response,
                address,
                deadline,
                starttls.as_ref(),
                &mut lines,
            );
            if let Some(facts) = &d.tls {
                tls_series(&mut reg, facts);
            }
            if d.regex_failed {
                reg.gauge(
                    "probe_failed_due_to_regex",
                    "Indicates if probe failed due to regex",
                    1.0,
                );
            }
            if let Some(info) = &d.expect_info {
                let labels: Vec<(&str, &str)> =
                    info.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                reg.gauge_with(
                    "probe_expect_info",
                    "Explicit content matched",
                    &labels,
                    1.0,
                );
            }
            failure = d.failure;
        }
    }
    verdict_series_with(&report, failure, &mut reg);
    super::common::nameserver_series(&mut reg, &dns_exchanges);
    match failure {
        Some((layer, cause)) => lines.push(format!(
            "Probe failed layer={} cause={}",
            layer.name(),
            cause.code()
        )),
        None => lines.push("Probe succeeded".into()),
    }
    out.success = failure.is_none();
    out.metrics = reg;
    out.log = lines;
    out.report = Some(report);
    out
}

fn refuse(mut out: ProbeOutcome, mut lines: Vec<String>, why: &str) -> ProbeOutcome {
    lines.push(format!(
        "Error splitting target address and port err={why:?}"
    ));
    lines.push("Probe failed".into());
    out.log = lines;
    out
}

/// The TLS handshake on the walk's session, judged by netdiag's tls classifier.
fn tls_step(
    request: &ProbeRequest<'_>,
    module: &TcpProbe,
    prober: &mut netdiag_probe::SystemProber,
    address: SocketAddr,
    target: &Target,
    report: &mut Report,
    reg: &mut Registry,
) -> Option<(Layer, Cause)> {
    let sni = if !module.tls_config.server_name.is_empty() {
        Some(module.tls_config.server_name.clone())
    } else if let Some(h) = request.hostname {
        Some(h.to_string())
    } else {
        match &target.host {
            netdiag_core::target::Host::Name(n) => Some(n.clone()),
            netdiag_core::target::Host::Ip(_) => None,
        }
    };
    let observed = prober.tls(address, sni.as_deref());
    let mut facts = tls_facts(&observed, &prober.last_tls_chain_der);
    if let (Some(f), Some(roots)) = (facts.as_mut(), prober.extra_roots_pem.as_deref()) {
        f.last_chain = verified_chain_expiry(&prober.last_tls_chain_der, roots);
    }
    let mut judged = observed.clone();
    if module.tls_config.insecure_skip_verify {
        if let netdiag_core::observe::TlsOutcome::Handshake(s) = &mut judged.outcome {
            s.problem = None;
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let name = sni.clone().unwrap_or_else(|| address.ip().to_string());
    let findings =
        netdiag_core::diagnose::tls::classify(&judged, now, &name, target.port.unwrap_or(0));
    report.layers.extend(findings.rows);
    report.warnings.extend(findings.warnings);
    let verified = findings.failure.is_none();
    if let Some(facts) = facts {
        if verified || request.cert_series_on_failure {
            tls_series(reg, &facts);
        }
    }
    let failure = findings.failure?;
    let remedy = netdiag_core::fix::remedy(failure.cause, &failure.context);
    report.verdict.layer = Some(Layer::Tls);
    report.verdict.cause = failure.cause;
    report.verdict.summary = failure.summary;
    report.verdict.root_cause = failure.root_cause;
    report.verdict.fix = remedy.fix;
    report.verdict.rollback = remedy.rollback;
    report.verdict.prestate = remedy.prestate;
    report.verdict.runbook = remedy.runbook;
    Some((Layer::Tls, failure.cause))
}

/// What a dialogue ended with.
#[derive(Debug, Default)]
struct Dialogue {
    /// The failing layer and cause, if any.
    failure: Option<(Layer, Cause)>,
    /// An `expect` read to the end of the stream without a match (blackbox's
    /// `probe_failed_due_to_regex 1`); a read error or timeout is not a regex failure.
    regex_failed: bool,
    /// `probe_expect_info`'s labels, from the last step with `labels` whose `expect` matched.
    expect_info: Option<Vec<(String, String)>>,
    /// The certificate facts of a `starttls` step's handshake.
    tls: Option<TlsFacts>,
}

impl Dialogue {
    fn failed(cause: Cause, regex_failed: bool) -> Self {
        Dialogue {
            failure: Some((Layer::Tcp, cause)),
            regex_failed,
            ..Dialogue::default()
        }
    }
}

/// One `expect` match: its groups by number and the groups' names.
#[derive(Debug, Clone, Default)]
struct Match {
    groups: Vec<Option<String>>,
    names: Vec<Option<String>>,
}

/// How an `expect` read ended without a match.
#[derive(Debug, PartialEq, Eq)]
enum NoMatch {
    /// The server closed (or the byte limit was reached) with no matching line.
    Eof,
    /// A read error or the deadline.
    ReadError,
}

/// What `starttls` needs: the client configuration (the module's CA file or the system's
/// roots), the name to send and verify, and the CA file for the verified chains.
pub(crate) struct StartTls {
    config: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
    roots_pem: Option<String>,
}

impl StartTls {
    /// The STARTTLS context of a module, `Err` when the CA file cannot be used.
    fn new(module: &TcpProbe, host: &str, roots_pem: Option<String>) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(pem) = &roots_pem {
            use rustls::pki_types::pem::PemObject;
            for der in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).flatten() {
                let _ = roots.add(der);
            }
        } else {
            for der in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(der);
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let text = if module.tls_config.server_name.is_empty() {
            host.trim_matches(['[', ']']).to_string()
        } else {
            module.tls_config.server_name.clone()
        };
        let name = rustls::pki_types::ServerName::try_from(text).map_err(|e| e.to_string())?;
        Ok(StartTls {
            config: Arc::new(config),
            name,
            roots_pem,
        })
    }
}

/// The dialogue's connection: plain until a `starttls` step, TLS after it.
enum Wire {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Wire {
    fn socket(&self) -> &TcpStream {
        match self {
            Wire::Plain(s) => s,
            Wire::Tls(t) => &t.sock,
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(s) => s.read(buf),
            Wire::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write(buf),
            Wire::Tls(t) => t.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Wire::Plain(s) => s.flush(),
            Wire::Tls(t) => t.flush(),
        }
    }
}

/// Line reading over a [`Wire`] that can change under it (Go's `bufio.Scanner`, renewed after
/// STARTTLS): at most [`MAX_DIALOGUE_BYTES`] in all, each read bounded by the deadline.
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
    read: usize,
}

impl Lines {
    /// The next line without its end; `Ok(None)` at the end of the stream or the byte limit.
    fn next<R: Read>(
        &mut self,
        conn: &mut R,
        socket: Option<&TcpStream>,
        deadline: Instant,
    ) -> Result<Option<String>, NoMatch> {
        // Bounded: every turn reads at least one byte of MAX_DIALOGUE_BYTES, or returns.
        loop {
            if let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                return Ok(Some(text_of(&line)));
            }
            let want = MAX_DIALOGUE_BYTES.saturating_sub(self.read).min(4096);
            if want == 0 {
                return Ok(None);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NoMatch::ReadError);
            }
            if let Some(s) = socket {
                let _ = s.set_read_timeout(Some(left));
            }
            let mut buf = [0u8; 4096];
            match conn.read(&mut buf[..want]) {
                Ok(0) if self.pending.is_empty() => return Ok(None),
                Ok(0) => {
                    let line = std::mem::take(&mut self.pending);
                    return Ok(Some(text_of(&line)));
                }
                Ok(n) => {
                    self.read += n;
                    self.pending.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err(NoMatch::ReadError),
            }
        }
    }
}

fn text_of(line: &[u8]) -> String {
    String::from_utf8_lossy(line)
        .trim_end_matches(['\r', '\n'])
        .to_string()
}

/// blackbox's `query_response` on a fresh connection: `expect` reads lines until one matches,
/// `send` writes its text (with `${1}` from the last match) and a newline, `labels` name the
/// match for `probe_expect_info`, `starttls` upgrades the connection (after the step's send).
fn dialogue(
    steps: &[QueryResponse],
    address: SocketAddr,
    deadline: Instant,
    starttls: Option<&StartTls>,
    lines: &mut Vec<String>,
) -> Dialogue {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Dialogue::failed(Cause::TcpTimeout, false);
    }
    let mut wire = match TcpStream::connect_timeout(&address, left) {
        Ok(s) => Wire::Plain(s),
        Err(_) => return Dialogue::failed(Cause::TcpRefused, false),
    };
    let mut reader = Lines::default();
    let mut last: Option<Match> = None;
    let mut out = Dialogue::default();
    for (i, step) in steps.iter().enumerate() {
        if !step.expect.is_empty() {
            let Ok(re) = regex::Regex::new(&step.expect) else {
                return Dialogue::failed(Cause::TcpExpectMismatch, true);
            };
            match expect_line(&mut reader, &mut wire, &re, deadline) {
                Ok(m) => {
                    lines.push(format!("Regexp matched regexp={:?} step={i}", step.expect));
                    if !step.labels.is_empty() {
                        out.expect_info = Some(
                            step.labels
                                .iter()
                                .map(|l| (l.name.clone(), expand(&l.value, Some(&m))))
                                .collect(),
                        );
                    }
                    last = Some(m);
                }
                Err(NoMatch::Eof) => {
                    lines.push(format!(
                        "Regexp did not match regexp={:?} step={i}",
                        step.expect
                    ));
                    out.failure = Some((Layer::Tcp, Cause::TcpExpectMismatch));
                    out.regex_failed = true;
                    return out;
                }
                Err(NoMatch::ReadError) => {
                    lines.push(format!("Error reading from connection step={i}"));
                    out.failure = Some((Layer::Tcp, Cause::TcpTimeout));
                    return out;
                }
            }
        }
        if !step.send.is_empty() {
            let text = expand(&step.send, last.as_ref());
            let _ = wire.socket().set_write_timeout(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            ));
            if wire.write_all(format!("{text}\n").as_bytes()).is_err() || wire.flush().is_err() {
                out.failure = Some((Layer::Tcp, Cause::ConnectionReset));
                return out;
            }
        }
        if step.starttls {
            let Some(ctx) = starttls else {
                out.failure = Some((Layer::Tls, Cause::TlsHandshakeFailure));
                return out;
            };
            match upgrade(wire, ctx, deadline) {
                Ok((tls, facts)) => {
                    lines.push(format!("TLS Handshake (client) succeeded. step={i}"));
                    wire = tls;
                    reader = Lines::default();
                    out.tls = Some(facts);
                }
                Err((e, cause)) => {
                    lines.push(format!("TLS Handshake (client) failed err={e:?} step={i}"));
                    out.failure = Some((Layer::Tls, cause));
                    return out;
                }
            }
        }
    }
    out
}

/// The STARTTLS handshake on the dialogue's connection, bounded by the deadline.
fn upgrade(
    wire: Wire,
    ctx: &StartTls,
    deadline: Instant,
) -> Result<(Wire, TlsFacts), (String, Cause)> {
    let handshake = Cause::TlsHandshakeFailure;
    let Wire::Plain(sock) = wire else {
        return Err((
            "starttls on a connection that is already TLS".into(),
            handshake,
        ));
    };
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let _ = sock.set_read_timeout(Some(left));
    let _ = sock.set_write_timeout(Some(left));
    let conn = rustls::ClientConnection::new(ctx.config.clone(), ctx.name.clone())
        .map_err(|e| (e.to_string(), handshake))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    // Bounded: each turn moves handshake bytes or fails, and every read has the deadline.
    while tls.conn.is_handshaking() {
        if Instant::now() >= deadline {
            return Err(("deadline".into(), Cause::TlsHandshakeFailure));
        }
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            return Err((e.to_string(), starttls_cause(&e)));
        }
    }
    let chain: Vec<Vec<u8>> = tls
        .conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.to_vec()).collect())
        .unwrap_or_default();
    let version = tls
        .conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let mut facts = tls_facts_from_der(&version, &chain, true);
    if let Some(pem) = &ctx.roots_pem {
        facts.last_chain = verified_chain_expiry(&chain, pem);
    }
    Ok((Wire::Tls(Box::new(tls)), facts))
}

/// The cause of a failed STARTTLS handshake: rustls's certificate verdict when it gave one.
fn starttls_cause(e: &std::io::Error) -> Cause {
    use rustls::CertificateError as C;
    let Some(rustls::Error::InvalidCertificate(c)) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return Cause::TlsHandshakeFailure;
    };
    match c {
        C::UnknownIssuer => Cause::TlsUntrustedIssuer,
        C::Expired | C::ExpiredContext { .. } => Cause::TlsCertExpired,
        C::NotValidYet | C::NotValidYetContext { .. } => Cause::TlsCertNotYetValid,
        C::NotValidForName | C::NotValidForNameContext { .. } => Cause::TlsNameMismatch,
        C::Revoked => Cause::TlsCertRevoked,
        _ => Cause::TlsHandshakeFailure,
    }
}

/// Reads lines until one matches; the match's groups.
fn expect_line<R: Wired>(
    reader: &mut Lines,
    conn: &mut R,
    re: &regex::Regex,
    deadline: Instant,
) -> Result<Match, NoMatch> {
    // Bounded by MAX_DIALOGUE_BYTES (the reader's limit) and the deadline.
    loop {
        let socket = conn.tcp().and_then(|s| s.try_clone().ok());
        let Some(text) = reader.next(conn, socket.as_ref(), deadline)? else {
            return Err(NoMatch::Eof);
        };
        if let Some(caps) = re.captures(&text) {
            return Ok(Match {
                groups: caps
                    .iter()
                    .map(|m| m.map(|m| m.as_str().to_string()))
                    .collect(),
                names: re.capture_names().map(|n| n.map(str::to_string)).collect(),
            });
        }
    }
}

/// A readable connection that may have a socket whose read timeout can be set.
trait Wired: Read {
    fn tcp(&self) -> Option<&TcpStream>;
}

impl Wired for Wire {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self.socket())
    }
}

impl Wired for &[u8] {
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }
}

/// Go's `Regexp.Expand`: `$$` is `$`; `${name}` and `$name` (the longest run of letters,
/// digits and `_`) name a group by number or by name; an unknown group is empty.
fn expand(template: &str, m: Option<&Match>) -> String {
    let Ok(re) = regex::Regex::new(r"\$\$|\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)") else {
        return template.to_string();
    };
    re.replace_all(template, |c: &regex::Captures<'_>| {
        let Some(name) = c.get(1).or_else(|| c.get(2)).map(|g| g.as_str()) else {
            return "$".to_string();
        };
        let Some(m) = m else {
            return String::new();
        };
        let index = match name.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => m.names.iter().position(|n| n.as_deref() == Some(name)),
        };
        index
            .and_then(|i| m.groups.get(i))
            .cloned()
            .flatten()
            .unwrap_or_default()
    })
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_is_gos() {
        let g = Match {
            groups: vec![
                Some("SSH-2.0-OpenSSH_6.9p1 Debian-2".to_string()),
                Some("OpenSSH_6.9p1".to_string()),
                Some("Debian-2".to_string()),
            ],
            names: vec![None, Some("version".into()), None],
        };
        assert_eq!(expand("CONFIRM ${1}", Some(&g)), "CONFIRM OpenSSH_6.9p1");
        assert_eq!(expand("X $2 ${9}", Some(&g)), "X Debian-2 ");
        assert_eq!(
            expand("${version}/$version $$1 $1x", Some(&g)),
            "OpenSSH_6.9p1/OpenSSH_6.9p1 $1 "
        );
        assert_eq!(expand("plain", None), "plain");
    }

    #[test]
    fn expect_reads_lines_until_a_match() {
        let data = b"hello\r\nSSH-2.0-OpenSSH_9 x\r\n".to_vec();
        let soon = Instant::now() + Duration::from_secs(1);
        let re = regex::Regex::new("^SSH-2.0-([^ ]+)").unwrap();
        let g = expect_line(&mut Lines::default(), &mut &data[..], &re, soon).unwrap();
        assert_eq!(g.groups[1].as_deref(), Some("OpenSSH_9"));
        assert_eq!(
            expect_line(&mut Lines::default(), &mut &b"nope\n"[..], &re, soon).unwrap_err(),
            NoMatch::Eof
        );
        // A last line without its end still counts; the byte limit ends the read.
        let g = expect_line(&mut Lines::default(), &mut &b"a\nSSH-2.0-z"[..], &re, soon).unwrap();
        assert_eq!(g.groups[1].as_deref(), Some("z"));
        let big = vec![b'x'; MAX_DIALOGUE_BYTES + 10];
        assert_eq!(
            expect_line(&mut Lines::default(), &mut &big[..], &re, soon).unwrap_err(),
            NoMatch::Eof
        );
    }
}
