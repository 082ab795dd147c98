//! The TLS layer probe: one handshake over an already-connected stream (plain TCP or a proxy
//! tunnel), recorded as a [`TlsObservation`].
//!
//! What it tells apart, each from first-hand evidence:
//! - a completed handshake, with version, suite, group, ALPN, OCSP staple, the chain as sent and
//!   the verifier's verdict on it, recorded rather than enforced, so an expired or untrusted
//!   certificate is still described in full (`inspect`);
//! - plaintext where TLS was expected: the first bytes the server sent are kept (a recording
//!   reader under rustls) and shown, e.g. `HTTP/1.1 400 Bad Request` or `SSH-2.0-…`;
//! - a server that speaks only TLS 1.0/1.1, which rustls cannot speak: a hand-built ClientHello
//!   on fresh connections names the versions it does speak (`legacy`);
//! - a TLS 1.2 server with no suite rustls implements: the same hand-built ClientHello learns the
//!   suite it chose, its DHE group size and its certificate (`legacy`, `wire`);
//! - what the stapled OCSP response says, which rustls hands over unchecked (`ocsp`), and the
//!   verdict of a `--crlfile` CRL (checked by webpki);
//! - the chain of a handshake that failed after the certificate arrived (a key too weak for
//!   the handshake signature), and a Certificate message over rustls's size limit;
//! - a server that demands a client certificate (it sent a CertificateRequest, we sent none, and
//!   it aborted: during the handshake for TLS 1.2, on the first read after it for TLS 1.3);
//! - other handshake failures with the alert, resets and closes, and the deadline.
//!
//! Trust is the system store plus `--cacert` (`trust`). Crypto is ring only, passed to every
//! builder, so no process-level provider is ever needed (STACK.md pitfall 3).
//!
//! This module must never decide a verdict (that is `netdiag_core`'s job), never wait past the
//! deadline, never send application data, and never hand on a connection whose certificate
//! failed verification: the inspecting configuration is for inspection only.

mod cert;
mod inspect;
mod legacy;
mod ocsp;
mod trust;
mod wire;

#[cfg(test)]
mod tests;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netdiag_core::observe::{CertProblem, TlsObservation, TlsOutcome, TlsSession};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, ClientConnection, InvalidMessage, ProtocolVersion};

use inspect::{RecordingClientAuth, RecordingVerifier};
use wire::FirstRecord;

/// What the TLS layer needs besides the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// The name to send as SNI and to verify the certificate against: the target's host name,
    /// or `--sni`. `None` (an IP-address target without `--sni`) verifies against the address's
    /// IP and sends no SNI; an IP literal here does the same for that IP.
    pub sni: Option<String>,
    /// Extra trusted roots: the text of the `--cacert` file (PEM, any number of certificates).
    pub extra_roots_pem: Option<String>,
    /// ALPN protocols to offer, in order of preference, e.g. `[b"h2", b"http/1.1"]`.
    pub alpn: Vec<Vec<u8>>,
    /// Certificate revocation lists to check the chain against (`--crlfile`), DER.
    pub crls_der: Vec<Vec<u8>>,
    /// The name of the CRL file, for the evidence.
    pub crl_name: Option<String>,
    /// Keep the session even when the certificate failed verification (`netdiag serve` with
    /// `insecure_skip_verify`); the verdict on the certificate is recorded either way.
    pub keep_unverified: bool,
}

/// An established TLS connection for the HTTP layer. Its socket keeps the read/write timeouts of
/// the handshake's deadline; the HTTP layer sets its own.
pub type TlsStream = rustls::StreamOwned<ClientConnection, TcpStream>;

/// Starts reading the system trust store in the background. Optional: call it when a walk that
/// will reach the TLS layer begins (while DNS and TCP run), so the first [`handshake`] does not
/// wait for the store; without it, the first handshake reads the store itself (once per process).
pub fn preload_trust_store() {
    trust::preload();
}

/// Reads the CRLs of a `--crlfile`: PEM (`-----BEGIN X509 CRL-----`, any number) or one DER
/// CRL. Each must parse as a CRL, so a wrong file is an input error, not a silent no-op.
pub fn load_crls(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateRevocationListDer;
    // DER opens with a SEQUENCE tag; PEM with text.
    let ders: Vec<Vec<u8>> = if bytes.first() == Some(&0x30) {
        vec![bytes.to_vec()]
    } else {
        CertificateRevocationListDer::pem_slice_iter(bytes)
            .map(|crl| crl.map(|c| c.as_ref().to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("not a PEM CRL file ({e})"))?
    };
    if ders.is_empty() {
        return Err("no CRL (-----BEGIN X509 CRL----- or DER) in the file".to_owned());
    }
    for der in &ders {
        use x509_parser::prelude::FromDer;
        x509_parser::revocation_list::CertificateRevocationList::from_der(der)
            .map_err(|e| format!("not a valid CRL ({e})"))?;
    }
    Ok(ders)
}

/// How many of the server's first bytes are kept to show what it spoke.
const FIRST_BYTES_KEPT: usize = 1024;
/// A bound on read/process passes of one handshake (a real one takes a handful).
const MAX_HANDSHAKE_PASSES: usize = 1000;
/// How long to wait, after a TLS 1.3 handshake in which the server asked for a client
/// certificate, for its verdict on our empty one: a few handshake times, within these bounds.
const CLIENT_AUTH_VERDICT_MIN: Duration = Duration::from_millis(200);
const CLIENT_AUTH_VERDICT_MAX: Duration = Duration::from_secs(1);

/// Runs a TLS handshake over `stream` (already connected to `address`) and records how it went.
///
/// Returns the observation and, only when the handshake completed *and* the certificate passed
/// verification, the established stream for the HTTP layer. Every wait ends at `deadline`.
/// `reconnect` opens a fresh connection to the same place (through the same proxy, if any); it
/// is called at most twice, only after a failed handshake, for the legacy-version probe, and
/// should itself respect the deadline.
///
/// Outcomes (the core maps each to a cause):
/// - `Handshake`: completed; `problem` is the verifier's verdict on chain and name (`None` =
///   trusted and valid for the name); `client_cert_requested` when the server asked for one and
///   went on without it.
/// - `NotTls`: the server's first bytes are not a TLS record; `spoke` is their first line.
/// - `LegacyOnly`: the server only chose versions below TLS 1.2 (named, oldest first).
/// - `ClientCertRequired`: the server asked for a client certificate, got none and aborted
///   (alert `certificate_required`, `handshake_failure` or `bad_certificate`, or a close).
/// - `Failed`: any other handshake failure; `alert` is the alert the server sent, if any.
/// - `Closed`: the server closed or reset the connection during the handshake.
/// - `TimedOut`: the deadline passed first.
pub fn handshake(
    stream: TcpStream,
    address: SocketAddr,
    cfg: &TlsConfig,
    deadline: Instant,
    reconnect: &dyn Fn() -> io::Result<TcpStream>,
) -> (TlsObservation, Option<TlsStream>) {
    let started = Instant::now();
    let (outcome, sni, established) = run(stream, address, cfg, deadline, reconnect);
    let observation = TlsObservation {
        address,
        sni,
        outcome,
        elapsed: started.elapsed(),
    };
    (observation, established)
}

fn run(
    stream: TcpStream,
    address: SocketAddr,
    cfg: &TlsConfig,
    deadline: Instant,
    reconnect: &dyn Fn() -> io::Result<TcpStream>,
) -> (TlsOutcome, Option<String>, Option<TlsStream>) {
    let (server_name, sni) = match server_name(cfg, address) {
        Ok(named) => named,
        Err(detail) => return (failed(None, detail), cfg.sni.clone(), None),
    };
    let trust = trust::build(cfg.extra_roots_pem.as_deref());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(trust.roots);
    let crls = cfg
        .crls_der
        .iter()
        .map(|der| rustls::pki_types::CertificateRevocationListDer::from(der.clone()));
    // A CRL file covers the issuers it covers: check the server's own certificate against it
    // and do not fail the chain for CAs it says nothing about.
    let inner = match WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .with_crls(crls)
        .only_check_end_entity_revocation()
        .allow_unknown_revocation_status()
        .build()
    {
        Ok(inner) => inner,
        Err(e) => return (setup_failed(e), sni, None),
    };
    let verifier = Arc::new(RecordingVerifier::new(inner));
    let client_auth = Arc::new(RecordingClientAuth::default());
    let builder =
        match ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
            Ok(builder) => builder,
            Err(e) => return (setup_failed(e), sni, None),
        };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_client_cert_resolver(client_auth.clone());
    config.alpn_protocols = cfg.alpn.clone();
    let mut conn = match ClientConnection::new(Arc::new(config), server_name) {
        Ok(conn) => conn,
        Err(e) => return (setup_failed(e), sni, None),
    };

    let mut io = Recording::new(stream);
    // The handshake's own time, without the setup above (the trust store may be read first).
    let handshake_started = Instant::now();
    let mut result = drive(&mut conn, &mut io, deadline);
    let latency = handshake_started.elapsed();
    if result.is_ok()
        && client_auth.requested()
        && conn.protocol_version() == Some(ProtocolVersion::TLSv1_3)
    {
        // TLS 1.3 ends the handshake on our side before the server has judged our (empty)
        // certificate; its verdict comes as the next record.
        let window = (latency * 3).clamp(CLIENT_AUTH_VERDICT_MIN, CLIENT_AUTH_VERDICT_MAX);
        result =
            await_client_auth_verdict(&mut conn, &mut io, deadline.min(Instant::now() + window));
    }

    if let Err(stop) = result {
        let presented = verifier.take();
        let what = Failure {
            stop,
            first: &io.first,
            received: io.received,
            cert_requested: client_auth.requested(),
            chain: presented
                .chain
                .iter()
                .map(|der| cert::describe(der))
                .collect(),
            problem: presented
                .verdict
                .and_then(|v| v.err())
                .map(|e| cert_problem(&e, cfg)),
        };
        return (
            classify(what, sni.as_deref(), deadline, reconnect),
            sni,
            None,
        );
    }

    let presented = verifier.take();
    let chain_der = if presented.chain.is_empty() {
        conn.peer_certificates()
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    } else {
        presented.chain
    };
    let problem = match &presented.verdict {
        Some(Ok(())) => None,
        Some(Err(e)) => Some(cert_problem(e, cfg)),
        None => Some(CertProblem::Other(
            "the server's certificate was never verified".to_owned(),
        )),
    };
    let session = TlsSession {
        version: conn
            .protocol_version()
            .map(protocol_name)
            .unwrap_or_default(),
        cipher: conn
            .negotiated_cipher_suite()
            .map(|suite| {
                let code = suite.suite();
                code.as_str()
                    .map_or_else(|| format!("0x{:04x}", u16::from(code)), str::to_owned)
            })
            .unwrap_or_default(),
        key_exchange: conn.negotiated_key_exchange_group().map(|group| {
            let name = group.name();
            name.as_str()
                .map_or_else(|| format!("0x{:04x}", u16::from(name)), str::to_owned)
        }),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        chain: chain_der.iter().map(|der| cert::describe(der)).collect(),
        problem,
        trust_store: trust.description,
        trusted_organizations: trust.organizations,
        ocsp_stapled: !presented.ocsp.is_empty(),
        ocsp_status: (!presented.ocsp.is_empty())
            .then(|| ocsp::status_of(&presented.ocsp, chain_der.first().map(|c| c.as_ref()))),
        client_cert_requested: client_auth.requested(),
        latency,
    };
    // Only a connection whose certificate passed is good for real data.
    let established = if session.problem.is_none() || cfg.keep_unverified {
        let stream = io.stream;
        let _ = arm(&stream, deadline);
        Some(TlsStream::new(conn, stream))
    } else {
        None
    };
    (TlsOutcome::Handshake(session), sni, established)
}

/// The name to verify against, and the SNI actually sent (DNS names only).
fn server_name(
    cfg: &TlsConfig,
    address: SocketAddr,
) -> Result<(ServerName<'static>, Option<String>), String> {
    match &cfg.sni {
        None => Ok((ServerName::IpAddress(address.ip().into()), None)),
        Some(name) => match ServerName::try_from(name.clone()) {
            Ok(server_name @ ServerName::DnsName(_)) => Ok((server_name, Some(name.clone()))),
            Ok(server_name) => Ok((server_name, None)),
            Err(_) => Err(format!(
                "the server name '{}' is neither a DNS name nor an IP address, so it can be \
                 neither sent as SNI nor verified",
                name.escape_debug()
            )),
        },
    }
}

/// Why the handshake loop stopped early.
#[derive(Debug)]
enum Stop {
    TimedOut,
    Eof,
    Io(io::Error),
    Tls(rustls::Error),
    TooLong,
}

fn io_stop(e: io::Error) -> Stop {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Stop::TimedOut,
        _ => Stop::Io(e),
    }
}

/// Moves handshake bytes until the handshake completes, fails, or the deadline passes.
fn drive(conn: &mut ClientConnection, io: &mut Recording, deadline: Instant) -> Result<(), Stop> {
    for _ in 0..MAX_HANDSHAKE_PASSES {
        flush(conn, io, deadline)?;
        if !conn.is_handshaking() {
            return Ok(());
        }
        read_and_process(conn, io, deadline)?;
    }
    Err(Stop::TooLong)
}

fn flush(conn: &mut ClientConnection, io: &mut Recording, deadline: Instant) -> Result<(), Stop> {
    // Bounded: each pass writes at least one byte of a finite queue, or stops.
    while conn.wants_write() {
        arm(&io.stream, deadline).map_err(io_stop)?;
        match conn.write_tls(io) {
            Ok(0) => return Err(Stop::Eof),
            Ok(_) => {}
            Err(e) => return Err(io_stop(e)),
        }
    }
    Ok(())
}

fn read_and_process(
    conn: &mut ClientConnection,
    io: &mut Recording,
    until: Instant,
) -> Result<(), Stop> {
    arm(&io.stream, until).map_err(io_stop)?;
    match conn.read_tls(io) {
        Ok(0) => return Err(Stop::Eof),
        Ok(_) => {}
        Err(e) => return Err(io_stop(e)),
    }
    if let Err(e) = conn.process_new_packets() {
        // rustls queued an alert saying why; telling the server is a courtesy, not a wait.
        let _ = flush(conn, io, until);
        return Err(Stop::Tls(e));
    }
    Ok(())
}

/// After a TLS 1.3 handshake with a CertificateRequest: reads until `until` for the server's
/// verdict. Silence or any record that is not an alert (a session ticket, data) means the server
/// went on without a certificate.
fn await_client_auth_verdict(
    conn: &mut ClientConnection,
    io: &mut Recording,
    until: Instant,
) -> Result<(), Stop> {
    flush(conn, io, until).or_else(ignore_timeout)?;
    read_and_process(conn, io, until).or_else(ignore_timeout)
}

fn ignore_timeout(stop: Stop) -> Result<(), Stop> {
    match stop {
        Stop::TimedOut => Ok(()),
        other => Err(other),
    }
}

/// Sets the socket's read and write timeouts to what is left until `until`.
fn arm(stream: &TcpStream, until: Instant) -> io::Result<()> {
    let left = until.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    stream.set_read_timeout(Some(left))?;
    stream.set_write_timeout(Some(left))
}

/// The facts a failed handshake leaves.
struct Failure<'a> {
    stop: Stop,
    /// The server's first bytes.
    first: &'a [u8],
    /// How many bytes the server sent in all.
    received: u64,
    /// Whether a CertificateRequest arrived.
    cert_requested: bool,
    /// The chain the server sent, when it got that far.
    chain: Vec<netdiag_core::observe::CertificateInfo>,
    /// The verifier's verdict on that chain, when it failed.
    problem: Option<CertProblem>,
}

/// The largest handshake message rustls accepts (its `MAX_HANDSHAKE_SIZE`).
const MAX_HANDSHAKE_MESSAGE: usize = 0xffff;

fn classify(
    failure: Failure<'_>,
    sni: Option<&str>,
    deadline: Instant,
    reconnect: &dyn Fn() -> io::Result<TcpStream>,
) -> TlsOutcome {
    let first = wire::first_record(failure.first);
    if first == FirstRecord::NotTls {
        return TlsOutcome::NotTls {
            spoke: wire::printable_summary(failure.first),
        };
    }
    let alert = match &failure.stop {
        Stop::Tls(rustls::Error::AlertReceived(description)) => Some(u8::from(*description)),
        _ => None,
    };
    if failure.cert_requested {
        if let Some(detail) = client_cert_refusal(&failure.stop, alert) {
            return TlsOutcome::ClientCertRequired { detail };
        }
    }
    if matches!(failure.stop, Stop::TimedOut) {
        return TlsOutcome::TimedOut;
    }
    if let Stop::Tls(rustls::Error::InvalidMessage(
        InvalidMessage::HandshakePayloadTooLarge | InvalidMessage::CertificatePayloadTooLarge,
    )) = &failure.stop
    {
        return TlsOutcome::MessageTooLarge {
            limit: MAX_HANDSHAKE_MESSAGE,
            detail: format!(
                "after {} bytes from the server, a handshake message announced itself larger than rustls's limit of {MAX_HANDSHAKE_MESSAGE} bytes",
                failure.received
            ),
        };
    }
    if !failure.chain.is_empty() {
        if let Stop::Tls(e) = &failure.stop {
            return TlsOutcome::FailedAfterCertificate {
                chain: failure.chain,
                problem: failure.problem,
                alert: alert.map(wire::alert_name),
                detail: tls_error_text(e),
            };
        }
    }

    // Did the server skip TLS 1.2/1.3? Either it chose an older version in its ServerHello, or
    // it refused before any ServerHello (an alert such as protocol_version, or a close).
    let mut notes = Vec::new();
    let known_max = match first {
        FirstRecord::ServerHello { version, .. } if version < 0x0303 => Some(version),
        _ => None,
    };
    let refused_before_hello = !matches!(first, FirstRecord::ServerHello { .. });
    if known_max.is_some() || refused_before_hello {
        let survey = legacy::survey(known_max, sni, deadline, reconnect);
        if !survey.legacy_versions.is_empty() {
            return TlsOutcome::LegacyOnly {
                versions: survey.legacy_versions,
            };
        }
        if let Some(suite) = survey.tls12_legacy_suite {
            return TlsOutcome::UnsupportedSuite {
                version: wire::version_name(0x0303),
                suite,
                dh_bits: survey.tls12_dh_bits,
                leaf: survey.tls12_leaf.as_deref().map(cert::describe),
            };
        }
        notes.extend(survey.notes);
    }
    let with_notes = |detail: String| {
        if notes.is_empty() {
            detail
        } else {
            format!("{detail} (legacy probe: {})", notes.join("; "))
        }
    };
    match failure.stop {
        Stop::Eof => TlsOutcome::Closed {
            detail: with_notes(closed_detail("closed", failure.received)),
        },
        Stop::Io(e) if is_reset(&e) => TlsOutcome::Closed {
            detail: with_notes(closed_detail("reset", failure.received)),
        },
        Stop::Io(e) => failed(None, with_notes(format!("socket error: {e}"))),
        Stop::Tls(e) => failed(alert.map(wire::alert_name), with_notes(tls_error_text(&e))),
        Stop::TooLong => failed(
            None,
            format!("the handshake did not finish in {MAX_HANDSHAKE_PASSES} reads"),
        ),
        Stop::TimedOut => TlsOutcome::TimedOut,
    }
}

/// When the server asked for a client certificate: does the way it ended say "we needed one"?
fn client_cert_refusal(stop: &Stop, alert: Option<u8>) -> Option<String> {
    const ASKED: &str = "the server asked for a client certificate (CertificateRequest), none \
                         was sent, and it";
    match (stop, alert) {
        (Stop::Tls(_), Some(code @ (116 | 40 | 42))) => Some(format!(
            "{ASKED} answered with alert {}",
            wire::alert_name(code)
        )),
        (Stop::Eof, _) => Some(format!("{ASKED} closed the connection")),
        (Stop::Io(e), _) if is_reset(e) => Some(format!("{ASKED} reset the connection")),
        _ => None,
    }
}

fn closed_detail(how: &str, received: u64) -> String {
    if received == 0 {
        format!("the server {how} the connection without answering the ClientHello")
    } else {
        format!("the server {how} the connection after sending {received} bytes of the handshake")
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// rustls's error in words: its `Display` shows several inner values as debug text.
fn tls_error_text(e: &rustls::Error) -> String {
    match e {
        rustls::Error::AlertReceived(description) => format!(
            "the server sent alert {}",
            wire::alert_name(u8::from(*description))
        ),
        rustls::Error::InvalidCertificate(cert_error) => format!(
            "the server's certificate was refused: {}",
            certificate_error_text(cert_error)
        ),
        rustls::Error::PeerIncompatible(why) => format!(
            "the server is incompatible with this client: {}",
            webpki_words(&format!("{why:?}"))
        ),
        rustls::Error::PeerMisbehaved(why) => format!(
            "the server broke the protocol: {}",
            webpki_words(&format!("{why:?}"))
        ),
        rustls::Error::InvalidMessage(why) => format!(
            "the server sent an invalid message: {}",
            webpki_words(&format!("{why:?}"))
        ),
        other => other.to_string(),
    }
}

fn failed(alert: Option<String>, detail: String) -> TlsOutcome {
    TlsOutcome::Failed { alert, detail }
}

fn setup_failed(e: impl std::fmt::Display) -> TlsOutcome {
    failed(
        None,
        format!("netdiag could not set up its TLS client: {e}"),
    )
}

/// The verifier's error as a certificate problem, in words (never debug text).
fn cert_problem(e: &rustls::Error, cfg: &TlsConfig) -> CertProblem {
    let rustls::Error::InvalidCertificate(cert_error) = e else {
        return CertProblem::Other(e.to_string());
    };
    match cert_error {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => CertProblem::Expired,
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            CertProblem::NotYetValid
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            CertProblem::NameMismatch
        }
        CertificateError::UnknownIssuer => CertProblem::UnknownIssuer,
        CertificateError::Revoked => CertProblem::Revoked {
            source: match &cfg.crl_name {
                Some(name) => format!("the CRL {name}"),
                None => "a CRL".to_owned(),
            },
            reason: None,
            revoked_at: None,
        },
        other => CertProblem::Other(certificate_error_text(other)),
    }
}

/// What rustls's certificate errors mean, for the ones its `Display` shows as debug text.
fn certificate_error_text(e: &CertificateError) -> String {
    let text = match e {
        CertificateError::BadEncoding => "a certificate is not valid DER",
        CertificateError::BadSignature => "a signature in the chain does not verify",
        #[allow(deprecated)]
        CertificateError::UnsupportedSignatureAlgorithm
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. } => {
            "a certificate is signed with an algorithm the verifier does not accept"
        }
        CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "a certificate's key cannot be used with its issuer's signature algorithm (or is too small)"
        }
        CertificateError::UnknownRevocationStatus => {
            "the CRL does not cover this certificate's issuer, so its revocation status is unknown"
        }
        CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => "the CRL has expired",
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "the certificate is not for server authentication (extended key usage)"
        }
        CertificateError::ApplicationVerificationFailure => "the application refused it",
        CertificateError::Other(other) => return webpki_words(&other.to_string()),
        other => return webpki_words(&other.to_string()),
    };
    text.to_owned()
}

/// webpki's and rustls's errors print as their variant names (`CaUsedAsEndEntity`,
/// `TrailingData("ServerHello")`): the common ones in words, the rest split into words with
/// their inner value kept plainly, so no identifier or debug text reaches a sentence.
fn webpki_words(name: &str) -> String {
    let named = match name {
        "CaUsedAsEndEntity" => "a CA certificate used as an end-entity certificate",
        "EndEntityUsedAsCa" => "an end-entity certificate used as a CA",
        "PathLenConstraintViolated" => "the chain is longer than a CA's pathLen allows",
        "MaximumPathDepthExceeded" | "MaximumPathBuildCallsExceeded" => {
            "the chain is too long to verify"
        }
        "RequiredEkuNotFound" => {
            "the certificate is not for server authentication (extended key usage)"
        }
        _ => "",
    };
    if !named.is_empty() {
        return named.to_owned();
    }
    let head_end = name.find(['(', ' ', '{']).unwrap_or(name.len());
    let (head, rest) = name.split_at(head_end);
    let identifier = head.starts_with(|c: char| c.is_ascii_uppercase())
        && head.chars().all(|c| c.is_ascii_alphanumeric())
        && (rest.is_empty() || rest.starts_with('(') || rest.starts_with(" {"));
    if !identifier {
        return name.to_owned();
    }
    let mut words = String::new();
    for (i, c) in head.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'));
    if let Some(inner) = inner {
        let plain = inner.replace('"', "");
        if !plain.is_empty() {
            words.push_str(&format!(" ({plain})"));
        }
    }
    words
}

fn protocol_name(version: ProtocolVersion) -> String {
    match version {
        ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        other => wire::version_name(u16::from(other)),
    }
}

/// The socket, keeping the first bytes the server sent so a non-TLS answer can be shown.
struct Recording {
    stream: TcpStream,
    first: Vec<u8>,
    received: u64,
}

impl Recording {
    fn new(stream: TcpStream) -> Recording {
        Recording {
            stream,
            first: Vec::new(),
            received: 0,
        }
    }
}

impl Read for Recording {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        let room = FIRST_BYTES_KEPT.saturating_sub(self.first.len());
        self.first.extend_from_slice(&buf[..n.min(room)]);
        self.received += n as u64;
        Ok(n)
    }
}

impl Write for Recording {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
