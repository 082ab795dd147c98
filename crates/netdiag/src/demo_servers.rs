//! Loopback servers for the demo's http and tls faults: an HTTP server that answers per path
//! (200, 503, slow), and a TLS server whose certificate expired, signed by a throwaway CA the
//! demo trusts like `--cacert`. Certificates are generated at start-up; nothing is written to
//! disk. Every thread stops when its server is dropped, and at the latest after ten minutes.

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the demo's slow path waits before answering.
pub const SLOW_DELAY: Duration = Duration::from_millis(700);

/// A server thread on loopback; stops on drop.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> std::io::Result<Server> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let handle = Arc::new(handle);
    let thread = std::thread::spawn(move || {
        for _ in 0..60_000 {
            if s.load(Ordering::SeqCst) {
                break;
            }
            match listener.accept() {
                Ok((conn, _)) => {
                    let h = handle.clone();
                    let _ = conn.set_nonblocking(false);
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(3)));
                    std::thread::spawn(move || h(conn));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Ok(Server {
        addr,
        stop,
        thread: Some(thread),
    })
}

/// Reads a request head (bounded) and returns its path.
fn read_path(stream: &mut impl Read) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while buf.len() < 16 * 1024 {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if !buf[0].is_ascii_alphabetic() {
            // Not HTTP (e.g. a TLS ClientHello): answer like nginx, at once.
            return Some(String::new());
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace().nth(1).map(String::from)
}

fn respond(stream: &mut impl Write, status: &str, body: &str) {
    let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{body}", body.len());
    let _ = stream.flush();
}

fn answer(stream: &mut (impl Read + Write)) {
    match read_path(stream).as_deref() {
        Some("/broken") => respond(stream, "503 Service Unavailable", "upstream down\n"),
        Some("/slow") => {
            std::thread::sleep(SLOW_DELAY);
            respond(stream, "200 OK", "finally\n");
        }
        Some("") => respond(stream, "400 Bad Request", "not an HTTP request\n"),
        Some(_) => respond(stream, "200 OK", "ok\n"),
        None => {}
    }
}

/// A plain HTTP server: `/` 200, `/broken` 503, `/slow` 200 after [`SLOW_DELAY`].
pub fn http() -> std::io::Result<Server> {
    serve(|mut conn| answer(&mut conn))
}

/// A TLS server whose certificate (for `localhost` and 127.0.0.1) expired in 2020, and the PEM
/// of the CA that signed it.
pub fn expired_tls() -> Result<(Server, String), String> {
    let err = |e: rcgen::Error| format!("cannot generate the demo certificates: {e}");
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "netdiag demo CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "netdiag demo");
    ca.not_before = date_time_ymd(2015, 1, 1);
    ca.not_after = date_time_ymd(2090, 1, 1);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(err)?).map_err(err)?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(err)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = date_time_ymd(2019, 1, 1);
    leaf.not_after = date_time_ymd(2020, 1, 1);
    let leaf_key = KeyPair::generate().map_err(err)?;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca).map_err(err)?;
    let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|e| format!("cannot configure the demo TLS server: {e}"))?;
    let config = Arc::new(config);
    let server = serve(move |conn| {
        let Ok(tls) = ServerConnection::new(config.clone()) else {
            return;
        };
        let mut stream = StreamOwned::new(tls, conn);
        answer(&mut stream);
    })
    .map_err(|e| format!("cannot start the demo TLS server: {e}"))?;
    Ok((server, ca.pem()))
}
