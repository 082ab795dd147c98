//! Loopback tests of the TLS probe against real servers: a rustls server on a thread and
//! `openssl s_server` (for TLS 1.0/1.1 and client-certificate servers, which rustls cannot be),
//! with certificates generated here by rcgen. One test per fault the probe must name; every wait
//! is bounded and every server stops when its handle is dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netdiag_core::observe::{CertProblem, TlsObservation, TlsOutcome, TlsSession};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::*;

const TEST_ORG: &str = "netdiag test PKI";
const GREETING: &[u8] = b"hello from the test server\n";

// ---------------------------------------------------------------------------------------------
// Certificates

struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::OrganizationName, TEST_ORG);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2090, 1, 1);
    params
}

fn pki() -> Pki {
    let root =
        CertifiedIssuer::self_signed(ca_params("netdiag test root"), KeyPair::generate().unwrap())
            .unwrap();
    let intermediate = CertifiedIssuer::signed_by(
        ca_params("netdiag test intermediate"),
        KeyPair::generate().unwrap(),
        &root,
    )
    .unwrap();
    Pki { root, intermediate }
}

/// Validity periods, fixed so the tests do not depend on today's date beyond "2025..2089".
const VALID: (i32, i32) = (2020, 2089);
const EXPIRED: (i32, i32) = (2015, 2020);
const NOT_YET: (i32, i32) = (2089, 2090);

struct Leaf {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A server certificate for `names`, signed by `issuer` (self-signed when `None`).
fn leaf(issuer: Option<&Issuer<'_, KeyPair>>, names: &[&str], years: (i32, i32)) -> Leaf {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "netdiag test service");
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].clone());
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = date_time_ymd(years.0, 1, 1);
    params.not_after = date_time_ymd(years.1, 1, 1);
    let key = KeyPair::generate().unwrap();
    let cert = match issuer {
        Some(issuer) => params.signed_by(&key, issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    Leaf { cert, key }
}

fn private_key(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

// ---------------------------------------------------------------------------------------------
// Servers

/// A loopback listener whose connections are handled one at a time on a thread; stops on drop.
struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start(handler: impl Fn(TcpStream) + Send + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let give_up = Instant::now() + Duration::from_secs(60);
            while !stopping.load(Ordering::Relaxed) && Instant::now() < give_up {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
                        let _ = stream.set_write_timeout(Some(Duration::from_secs(3)));
                        handler(stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TestServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls server sending `chain` (leaf first), stapling `ocsp`, offering `alpn`; after the
/// handshake it writes [`GREETING`] and waits for the client to hang up.
fn rustls_server(
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
    alpn: &[&[u8]],
    ocsp: Vec<u8>,
) -> TestServer {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert_with_ocsp(chain, private_key(key), ocsp)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    serve_tls(config)
}

fn serve_tls(config: ServerConfig) -> TestServer {
    let config = Arc::new(config);
    TestServer::start(move |stream| {
        let Ok(conn) = ServerConnection::new(config.clone()) else {
            return;
        };
        let mut tls = StreamOwned::new(conn, stream);
        if tls.write_all(GREETING).and_then(|()| tls.flush()).is_ok() {
            let mut buf = [0u8; 64];
            let _ = tls.read(&mut buf);
        }
    })
}

/// `openssl s_server` on a loopback port; killed on drop. `None` (with a message on stderr)
/// when it cannot run here, so the caller skips.
struct OpensslServer {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl_server(
    leaf_and_chain_pem: &str,
    key_pem: &str,
    ca_pem: &str,
    args: &[&str],
) -> Option<OpensslServer> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "netdiag-tls-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (leaf_pem, chain_pem) = leaf_and_chain_pem
        .split_once("\n\n")
        .unwrap_or((leaf_and_chain_pem, ""));
    let files = [
        ("cert.pem", leaf_pem),
        ("chain.pem", chain_pem),
        ("key.pem", key_pem),
        ("ca.pem", ca_pem),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let spawned = Command::new("openssl")
        .arg("s_server")
        .args(["-accept", "127.0.0.1:0"])
        .arg("-cert")
        .arg(dir.join("cert.pem"))
        .arg("-cert_chain")
        .arg(dir.join("chain.pem"))
        .arg("-key")
        .arg(dir.join("key.pem"))
        .arg("-CAfile")
        .arg(dir.join("ca.pem"))
        .args(args)
        // A stdin that never ends: s_server quits when its stdin reaches EOF. The pipe lives in
        // `child` until the drop kills the server.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        // Only a missing openssl skips; an openssl that cannot serve is a failure.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: no `openssl` binary to run s_server ({e}); install openssl");
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        }
        Err(e) => panic!("cannot start openssl s_server: {e}"),
    };
    // s_server prints `ACCEPT 127.0.0.1:PORT` once listening; keep draining its output after.
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("ACCEPT ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
    }
    let stderr = child.stderr.take().map(|stderr| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr)
                .take(64 * 1024)
                .read_to_string(&mut text);
            text
        })
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(10))
        .ok()
        .and_then(|a| a.parse().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        let said = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        panic!(
            "`openssl s_server {}` did not start listening: {said}",
            args.join(" ")
        );
    };
    Some(OpensslServer { child, addr, dir })
}

// ---------------------------------------------------------------------------------------------
// Client side

fn cfg(sni: Option<&str>, ca_pem: Option<String>) -> TlsConfig {
    TlsConfig {
        sni: sni.map(str::to_owned),
        extra_roots_pem: ca_pem,
        alpn: vec![b"http/1.1".to_vec()],
        ..TlsConfig::default()
    }
}

fn probe_within(
    addr: SocketAddr,
    cfg: &TlsConfig,
    budget: Duration,
) -> (TlsObservation, Option<TlsStream>) {
    let deadline = Instant::now() + budget;
    let reconnect = move || TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    let stream = reconnect().unwrap();
    let result = handshake(stream, addr, cfg, deadline, &reconnect);
    assert!(
        result.0.elapsed <= budget + Duration::from_millis(200),
        "took {:?}",
        result.0.elapsed
    );
    result
}

fn probe(addr: SocketAddr, cfg: &TlsConfig) -> (TlsObservation, Option<TlsStream>) {
    probe_within(addr, cfg, Duration::from_secs(5))
}

fn session(obs: &TlsObservation) -> &TlsSession {
    match &obs.outcome {
        TlsOutcome::Handshake(session) => session,
        other => panic!("expected a completed handshake, got {other:?}"),
    }
}

/// A chain of leaf + intermediate served by rustls, the root given as --cacert.
fn served_by_rustls(pki: &Pki, leaf: &Leaf, with_intermediate: bool) -> TestServer {
    let mut chain = vec![leaf.cert.der().clone()];
    if with_intermediate {
        chain.push(pki.intermediate.der().clone());
    }
    rustls_server(chain, &leaf.key, &[b"http/1.1"], Vec::new())
}

// ---------------------------------------------------------------------------------------------
// Completed handshakes

#[test]
fn healthy_chain_is_trusted_and_the_stream_is_handed_on() {
    let pki = pki();
    let leaf = leaf(Some(&pki.intermediate), &["localhost", "127.0.0.1"], VALID);
    let chain = vec![leaf.cert.der().clone(), pki.intermediate.der().clone()];
    let server = rustls_server(
        chain,
        &leaf.key,
        &[b"http/1.1"],
        vec![0x30, 0x03, 0x0a, 0x01, 0x00],
    );
    let (obs, stream) = probe(server.addr, &cfg(Some("localhost"), Some(pki.root.pem())));

    assert_eq!(obs.sni.as_deref(), Some("localhost"));
    let s = session(&obs);
    assert_eq!(s.problem, None);
    assert_eq!(s.version, "TLSv1.3");
    assert!(s.cipher.starts_with("TLS13_"), "{}", s.cipher);
    assert_eq!(s.key_exchange.as_deref(), Some("X25519"));
    assert_eq!(s.alpn.as_deref(), Some("http/1.1"));
    assert!(s.ocsp_stapled);
    assert!(!s.client_cert_requested);
    assert_eq!(s.chain.len(), 2);
    assert_eq!(s.chain[0].sans, vec!["localhost", "127.0.0.1"]);
    assert!(
        s.chain[0].subject.contains("CN=localhost"),
        "{}",
        s.chain[0].subject
    );
    assert!(s.chain[0].issuer.contains("CN=netdiag test intermediate"));
    assert_eq!(s.chain[0].key, "EC P-256");
    assert!(!s.chain[0].is_ca && !s.chain[0].self_signed);
    assert!(s.chain[1].is_ca);
    assert_eq!(s.chain[1].issuer_organization.as_deref(), Some(TEST_ORG));
    assert!(
        s.trust_store.ends_with("+ --cacert (1 root)"),
        "{}",
        s.trust_store
    );
    assert!(s.trusted_organizations.contains(&TEST_ORG.to_owned()));
    assert!(s.latency <= obs.elapsed);

    // The connection is good for the HTTP layer: the server's first data arrives on it.
    let mut stream = stream.expect("a verified connection is handed on");
    let mut got = vec![0u8; GREETING.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, GREETING);
}

#[test]
fn tls12_only_server_reports_its_tls12_parameters() {
    let pki = pki();
    let leaf = leaf(Some(&pki.intermediate), &["localhost"], VALID);
    let chain = vec![leaf.cert.der().clone(), pki.intermediate.der().clone()];
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, private_key(&leaf.key))
        .unwrap();
    let server = serve_tls(config);
    trust::preload();
    let (obs, stream) = probe(server.addr, &cfg(Some("localhost"), Some(pki.root.pem())));
    let s = session(&obs);
    assert_eq!(s.version, "TLSv1.2");
    assert_eq!(s.cipher, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
    assert_eq!(s.key_exchange.as_deref(), Some("X25519"));
    assert_eq!(s.alpn, None, "the server offers no ALPN");
    assert!(!s.ocsp_stapled);
    assert_eq!(s.problem, None);
    let mut stream = stream.expect("handed on");
    let mut got = vec![0u8; GREETING.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, GREETING);
}

#[test]
fn ip_target_without_sni_is_verified_against_the_ip() {
    let pki = pki();
    let leaf = leaf(Some(&pki.intermediate), &["localhost", "127.0.0.1"], VALID);
    let server = served_by_rustls(&pki, &leaf, true);
    let (obs, stream) = probe(server.addr, &cfg(None, Some(pki.root.pem())));
    assert_eq!(obs.sni, None, "no SNI is sent for an IP address");
    assert_eq!(session(&obs).problem, None);
    assert!(stream.is_some());
}

#[test]
fn expired_leaf_is_expired_and_not_handed_on() {
    let pki = pki();
    let leaf = leaf(Some(&pki.intermediate), &["localhost"], EXPIRED);
    let server = served_by_rustls(&pki, &leaf, true);
    let (obs, stream) = probe(server.addr, &cfg(Some("localhost"), Some(pki.root.pem())));
    let s = session(&obs);
    assert_eq!(s.problem, Some(CertProblem::Expired));
    assert_eq!(s.chain[0].not_after, 1_577_836_800, "2020-01-01");
    assert!(
        stream.is_none(),
        "an unverified connection is never used for data"
    );
}

#[test]
fn leaf_from_the_future_is_not_yet_valid() {
    let pki = pki();
    let leaf = leaf(Some(&pki.intermediate), &["localhost"], NOT_YET);
    let server = served_by_rustls(&pki, &leaf, true);
    let (obs, _) = probe(server.addr, &cfg(Some("localhost"), Some(pki.root.pem())));
    assert_eq!(session(&obs).problem, Some(CertProblem::NotYetValid));
}

#[test]
fn wrong_san_is_a_name_mismatch_with_the_names_listed() {
    let pki = pki();
    let leaf = leaf(
        Some(&pki.intermediate),
        &["other.example", "www.other.example"],
        VALID,
    );
    let server = served_by_rustls(&pki, &leaf, true);
    let (obs, stream) = probe(server.addr, &cfg(Some("localhost"), Some(pki.root.pem())));
    let s = session(&obs);
    assert_eq!(s.problem, Some(CertProblem::NameMismatch));
    assert_eq!(s.chain[0].sans, vec!["other.example", "www.other.example"]);
    assert!(stream.is_none());
}

#[test]
fn self_signed_leaf_is_an_unknown_issuer() {
    let pki = pki();
    let leaf = leaf(None, &["localhost"], VALID);
    let server = served_by_rustls(&pki, &leaf, false);
    let (obs, _) = probe(server.addr, &cfg(Some("localhost"), Some(pki.root.pem())));
    let s = session(&obs);
    assert_eq!(s.problem, Some(CertProblem::UnknownIssuer));
    assert_eq!(s.chain.len(), 1);
    assert!(s.chain[0].self_signed);
}

#[test]
fn leaf_sent_without_its_intermediate_is_an_unknown_issuer_of_a_trusted_organization() {
    let pki = pki();
    let leaf = leaf(Some(&pki.intermediate), &["localhost"], VALID);
    let server = served_by_rustls(&pki, &leaf, false);
    let (obs, _) = probe(server.addr, &cfg(Some("localhost"), Some(pki.root.pem())));
    let s = session(&obs);
    assert_eq!(s.problem, Some(CertProblem::UnknownIssuer));
    assert_eq!(s.chain.len(), 1);
    assert!(!s.chain[0].self_signed);
    let issuer_org = s.chain[0].issuer_organization.clone().unwrap();
    assert!(
        s.trusted_organizations.contains(&issuer_org),
        "{issuer_org}"
    );
}

#[test]
fn untrusted_root_without_cacert_is_an_unknown_issuer() {
    let pki = pki();
    let leaf = leaf(Some(&pki.intermediate), &["localhost"], VALID);
    let server = served_by_rustls(&pki, &leaf, true);
    let (obs, _) = probe(server.addr, &cfg(Some("localhost"), None));
    let s = session(&obs);
    assert_eq!(s.problem, Some(CertProblem::UnknownIssuer));
    assert!(!s.trust_store.contains("--cacert"), "{}", s.trust_store);
    assert!(!s.trusted_organizations.contains(&TEST_ORG.to_owned()));
}

// ---------------------------------------------------------------------------------------------
// Failed handshakes

#[test]
fn alpn_refused_is_a_failed_handshake_naming_the_alert() {
    let pki = pki();
    let leaf = leaf(Some(&pki.intermediate), &["localhost"], VALID);
    let chain = vec![leaf.cert.der().clone(), pki.intermediate.der().clone()];
    let server = rustls_server(chain, &leaf.key, &[b"h2"], Vec::new());
    let (obs, stream) = probe(server.addr, &cfg(Some("localhost"), Some(pki.root.pem())));
    match &obs.outcome {
        TlsOutcome::Failed { alert, detail } => {
            assert_eq!(
                alert.as_deref(),
                Some("no_application_protocol"),
                "{detail}"
            );
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(stream.is_none());
}

#[test]
fn plaintext_http_on_the_tls_port_is_not_tls() {
    let server = TestServer::start(|mut stream| {
        let mut buf = [0u8; 2048];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let _ = stream.read(&mut buf);
    });
    let (obs, _) = probe(server.addr, &cfg(Some("localhost"), None));
    assert_eq!(
        obs.outcome,
        TlsOutcome::NotTls {
            spoke: "HTTP/1.1 400 Bad Request".to_owned()
        }
    );
}

#[test]
fn ssh_banner_on_the_tls_port_is_not_tls() {
    let server = TestServer::start(|mut stream| {
        let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
        let mut buf = [0u8; 2048];
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
    });
    let (obs, _) = probe(server.addr, &cfg(Some("localhost"), None));
    assert_eq!(
        obs.outcome,
        TlsOutcome::NotTls {
            spoke: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3".to_owned()
        }
    );
}

#[test]
fn server_that_closes_at_once_is_closed() {
    let server = TestServer::start(drop);
    let (obs, stream) = probe(server.addr, &cfg(Some("localhost"), None));
    assert!(
        matches!(obs.outcome, TlsOutcome::Closed { .. }),
        "{:?}",
        obs.outcome
    );
    assert!(stream.is_none());
}

#[test]
fn silent_server_times_out_at_the_deadline() {
    let server = TestServer::start(|mut stream| {
        // Hold the connection open, saying nothing, until the client gives up.
        let mut buf = [0u8; 2048];
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && !matches!(stream.read(&mut buf), Ok(0)) {}
    });
    let budget = Duration::from_millis(300);
    let (obs, _) = probe_within(server.addr, &cfg(Some("localhost"), None), budget);
    assert_eq!(obs.outcome, TlsOutcome::TimedOut);
    assert!(
        obs.elapsed >= budget - Duration::from_millis(50),
        "{:?}",
        obs.elapsed
    );
}

// ---------------------------------------------------------------------------------------------
// openssl s_server: old versions and client certificates

/// The PEM files for an openssl server: leaf and intermediate (a blank line apart), key, root.
fn openssl_files(pki: &Pki) -> (String, String, String) {
    let leaf = leaf(Some(&pki.intermediate), &["localhost", "127.0.0.1"], VALID);
    // s_server takes only the first certificate of `-cert`; the rest goes in `-cert_chain`.
    let files = format!("{}\n{}", leaf.cert.pem(), pki.intermediate.pem());
    (files, leaf.key.serialize_pem(), pki.root.pem())
}

#[test]
fn tls10_only_server_is_legacy_only() {
    let pki = pki();
    let (chain, key, ca) = openssl_files(&pki);
    let Some(server) = openssl_server(
        &chain,
        &key,
        &ca,
        &["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
    ) else {
        return;
    };
    let (obs, stream) = probe(server.addr, &cfg(Some("localhost"), Some(ca)));
    assert_eq!(
        obs.outcome,
        TlsOutcome::LegacyOnly {
            versions: vec!["TLSv1.0".to_owned()]
        }
    );
    assert!(stream.is_none());
}

/// The DER of the first PEM certificate in `pem`.
fn leaf_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

#[test]
fn cbc_only_tls12_server_is_an_unsupported_suite_named_by_code() {
    let pki = pki();
    let (chain, key, ca) = openssl_files(&pki);
    let args = ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA@SECLEVEL=0"];
    let Some(server) = openssl_server(&chain, &key, &ca, &args) else {
        return;
    };
    let (obs, stream) = probe(server.addr, &cfg(Some("localhost"), Some(ca)));
    assert_eq!(
        obs.outcome,
        TlsOutcome::UnsupportedSuite {
            version: "TLSv1.2".to_owned(),
            suite: 0xc00a,
            dh_bits: None,
            leaf: Some(crate::tls::cert::describe(leaf_der(&chain).as_slice())),
        }
    );
    assert!(stream.is_none());
}

#[test]
fn a_certificate_message_over_64k_is_message_too_large() {
    let pki = pki();
    let (chain, key, ca) = openssl_files(&pki);
    let (leaf, intermediate) = chain.split_once("\n\n").unwrap_or((&chain, ""));
    let huge = format!("{leaf}\n\n{}", intermediate.repeat(200));
    let Some(server) = openssl_server(&huge, &key, &ca, &[]) else {
        return;
    };
    let (obs, _) = probe(server.addr, &cfg(Some("localhost"), Some(ca)));
    assert!(
        matches!(
            obs.outcome,
            TlsOutcome::MessageTooLarge { limit: 0xffff, .. }
        ),
        "{:?}",
        obs.outcome
    );
}

#[test]
fn tls10_and_11_server_names_both_versions() {
    let pki = pki();
    let (chain, key, ca) = openssl_files(&pki);
    let args = ["-no_tls1_2", "-no_tls1_3", "-cipher", "DEFAULT@SECLEVEL=0"];
    let Some(server) = openssl_server(&chain, &key, &ca, &args) else {
        return;
    };
    let (obs, _) = probe(server.addr, &cfg(Some("localhost"), Some(ca)));
    assert_eq!(
        obs.outcome,
        TlsOutcome::LegacyOnly {
            versions: vec!["TLSv1.0".to_owned(), "TLSv1.1".to_owned()]
        }
    );
}

#[test]
fn tls11_only_server_is_legacy_only_and_refuses_the_tls10_hello() {
    let pki = pki();
    let (chain, key, ca) = openssl_files(&pki);
    let args = ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"];
    let Some(server) = openssl_server(&chain, &key, &ca, &args) else {
        return;
    };
    let (obs, _) = probe(server.addr, &cfg(Some("localhost"), Some(ca)));
    assert_eq!(
        obs.outcome,
        TlsOutcome::LegacyOnly {
            versions: vec!["TLSv1.1".to_owned()]
        }
    );
}

#[test]
fn hand_built_hello_gets_a_server_hello_from_a_tls10_server() {
    let pki = pki();
    let (chain, key, ca) = openssl_files(&pki);
    let Some(server) = openssl_server(
        &chain,
        &key,
        &ca,
        &["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
    ) else {
        return;
    };
    let addr = server.addr;
    let reconnect = move || TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(5);
    // Without a hint, the survey offers TLS 1.2 with legacy suites; the server picks 1.0.
    let survey = legacy::survey(None, Some("localhost"), deadline, &reconnect);
    assert_eq!(
        survey.legacy_versions,
        vec!["TLSv1.0"],
        "{:?}",
        survey.notes
    );
    assert_eq!(survey.tls12_legacy_suite, None);
    assert!(
        survey.notes[0].contains("a ServerHello for TLSv1.0 with suite 0xc0"),
        "{:?}",
        survey.notes
    );
}

#[test]
fn server_demanding_a_client_certificate_over_tls13() {
    let pki = pki();
    let (chain, key, ca) = openssl_files(&pki);
    let Some(server) = openssl_server(&chain, &key, &ca, &["-Verify", "1"]) else {
        return;
    };
    let (obs, stream) = probe(server.addr, &cfg(Some("localhost"), Some(ca)));
    match &obs.outcome {
        TlsOutcome::ClientCertRequired { detail } => {
            assert!(detail.contains("certificate_required"), "{detail}");
        }
        other => panic!("expected ClientCertRequired, got {other:?}"),
    }
    assert!(stream.is_none());
}

#[test]
fn server_demanding_a_client_certificate_over_tls12() {
    let pki = pki();
    let (chain, key, ca) = openssl_files(&pki);
    let Some(server) = openssl_server(&chain, &key, &ca, &["-Verify", "1", "-tls1_2"]) else {
        return;
    };
    let (obs, _) = probe(server.addr, &cfg(Some("localhost"), Some(ca)));
    match &obs.outcome {
        TlsOutcome::ClientCertRequired { detail } => {
            assert!(detail.contains("handshake_failure"), "{detail}");
        }
        other => panic!("expected ClientCertRequired, got {other:?}"),
    }
}

#[test]
fn server_asking_for_an_optional_client_certificate_completes() {
    let pki = pki();
    let (chain, key, ca) = openssl_files(&pki);
    let Some(server) = openssl_server(&chain, &key, &ca, &["-verify", "1"]) else {
        return;
    };
    let (obs, stream) = probe(server.addr, &cfg(Some("localhost"), Some(ca)));
    let s = session(&obs);
    assert!(s.client_cert_requested);
    assert_eq!(s.problem, None);
    assert!(stream.is_some());
}

// ---------------------------------------------------------------------------------------------
// Pure pieces

#[test]
fn verifier_errors_map_to_certificate_problems() {
    use rustls::CertificateError as E;
    let cases = [
        (E::Expired, CertProblem::Expired),
        (E::NotValidYet, CertProblem::NotYetValid),
        (E::NotValidForName, CertProblem::NameMismatch),
        (E::UnknownIssuer, CertProblem::UnknownIssuer),
        (
            E::Revoked,
            CertProblem::Revoked {
                source: "the CRL crl.pem".to_owned(),
                reason: None,
                revoked_at: None,
            },
        ),
        (
            E::BadSignature,
            CertProblem::Other("a signature in the chain does not verify".to_owned()),
        ),
    ];
    let with_crl = TlsConfig {
        crl_name: Some("crl.pem".to_owned()),
        ..TlsConfig::default()
    };
    for (error, problem) in cases {
        assert_eq!(
            cert_problem(&rustls::Error::InvalidCertificate(error), &with_crl),
            problem
        );
    }
}

#[test]
fn crl_files_load_as_pem_or_der_and_anything_else_is_refused() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(params, key).unwrap();
    let now = rcgen::date_time_ymd(2026, 1, 1);
    let crl = rcgen::CertificateRevocationListParams {
        this_update: now,
        next_update: rcgen::date_time_ymd(2027, 1, 1),
        crl_number: rcgen::SerialNumber::from(vec![1u8]),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&ca)
    .unwrap();
    let der = crl.der().to_vec();
    assert_eq!(load_crls(&der), Ok(vec![der.clone()]));
    let pem = crl.pem().unwrap();
    assert_eq!(
        load_crls(format!("{pem}{pem}").as_bytes()),
        Ok(vec![der.clone(), der])
    );
    assert!(load_crls(b"").is_err());
    assert!(load_crls(b"hello").is_err());
    assert!(load_crls(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    assert!(
        load_crls(ca.pem().as_bytes()).is_err(),
        "a certificate is not a CRL"
    );
}

#[test]
fn webpki_error_names_become_words() {
    assert_eq!(
        webpki_words("CaUsedAsEndEntity"),
        "a CA certificate used as an end-entity certificate"
    );
    assert_eq!(
        webpki_words("UnsupportedCertVersion"),
        "unsupported cert version"
    );
    assert_eq!(webpki_words("odd text (1)"), "odd text (1)");
    assert_eq!(
        webpki_words("TrailingData(\"ServerHello\")"),
        "trailing data (ServerHello)"
    );
    assert_eq!(
        webpki_words("UnsupportedSignatureAlgorithmContext { signature_algorithm_id: [1] }"),
        "unsupported signature algorithm context"
    );
    assert_eq!(
        webpki_words("NoCipherSuitesInCommon"),
        "no cipher suites in common"
    );
}

#[test]
fn an_invalid_sni_is_reported_not_panicked_on() {
    let addr = SocketAddr::from(([127, 0, 0, 1], 9));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let bad = TlsConfig {
        sni: Some("not a name".to_owned()),
        ..TlsConfig::default()
    };
    let (obs, stream) = handshake(
        stream,
        addr,
        &bad,
        Instant::now() + Duration::from_secs(1),
        &|| Err(std::io::ErrorKind::Unsupported.into()),
    );
    assert!(matches!(
        obs.outcome,
        TlsOutcome::Failed { alert: None, .. }
    ));
    assert!(stream.is_none());
}
