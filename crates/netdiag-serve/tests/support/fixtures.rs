//! Local targets for the probes: a plain HTTP server, an HTTPS server with a self-signed rcgen
//! certificate (rustls), a UDP DNS responder, and a refused port. All on 127.0.0.1, each serving
//! from one thread that stops on drop or after [`LIFETIME`], whichever comes first.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// No fixture serves longer than this, even if a test forgets it.
pub(crate) const LIFETIME: Duration = Duration::from_secs(180);

/// A serving thread stopped (and joined) on drop.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads a request head (bounded) and returns its path.
fn read_request<S: Read>(stream: &mut S) -> Option<String> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") && raw.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&raw);
    head.split_whitespace().nth(1).map(str::to_string)
}

/// `/status/NNN` answers NNN; anything else 200. The body is fixed, so lengths match across runs.
fn respond<S: Write>(stream: &mut S, path: &str) {
    let status: u16 = path
        .strip_prefix("/status/")
        .and_then(|s| s.parse().ok())
        .filter(|s| (200..600).contains(s))
        .unwrap_or(200);
    let body = "netdiag test fixture\n";
    let _ = write!(
        stream,
        "HTTP/1.1 {status} Fixture\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

fn serve_tcp(listener: TcpListener, mut handle: impl FnMut(TcpStream) + Send + 'static) -> Server {
    let addr = listener.local_addr().expect("local addr");
    listener.set_nonblocking(true).expect("nonblocking");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + LIFETIME;
        while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(3)));
                    handle(stream);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Server {
        addr,
        stop,
        thread: Some(thread),
    }
}

/// A plain HTTP/1.1 server.
pub(crate) fn http_server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    serve_tcp(listener, |mut stream| {
        if let Some(path) = read_request(&mut stream) {
            respond(&mut stream, &path);
        }
    })
}

/// An HTTPS server whose certificate is self-signed (rcgen) for `localhost` and 127.0.0.1.
pub(crate) fn https_self_signed() -> Server {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let key =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("rcgen");
    let cert = key.cert.der().clone();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], private)
    .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    serve_tcp(listener, move |stream| {
        let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
            return;
        };
        let mut tls = rustls::StreamOwned::new(conn, stream);
        if let Some(path) = read_request(&mut tls) {
            respond(&mut tls, &path);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    })
}

/// A loopback port with nothing listening (bound, then released: connects are refused).
pub(crate) fn refused_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// What the DNS responder answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DnsMode {
    /// NOERROR; for A (or ANY) queries two A records, 127.0.0.1 and 127.0.0.2, TTL 3600.
    Answer,
    /// REFUSED, no records.
    Refused,
    /// SERVFAIL, no records.
    Servfail,
}

/// A UDP DNS responder on 127.0.0.1 (one question per query, as blackbox sends).
pub(crate) fn dns_server(mode: DnsMode) -> Server {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let addr = socket.local_addr().expect("addr");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + LIFETIME;
        let mut buf = [0u8; 1500];
        while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                continue;
            };
            if let Some(reply) = dns_reply(&buf[..n], mode) {
                let _ = socket.send_to(&reply, peer);
            }
        }
    });
    Server {
        addr,
        stop,
        thread: Some(thread),
    }
}

/// The reply to one query, or `None` for a packet that is not a query.
pub(crate) fn dns_reply(query: &[u8], mode: DnsMode) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    // The question: labels up to the root, then type and class.
    let mut i = 12;
    loop {
        let len = usize::from(*query.get(i)?);
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        i += len + 1;
    }
    let qend = i + 5;
    let question = query.get(12..qend)?;
    let qtype = u16::from_be_bytes([question[question.len() - 4], question[question.len() - 3]]);
    let rcode: u8 = match mode {
        DnsMode::Answer => 0,
        DnsMode::Servfail => 2,
        DnsMode::Refused => 5,
    };
    let answers: &[[u8; 4]] = if mode == DnsMode::Answer && (qtype == 1 || qtype == 255) {
        &[[127, 0, 0, 1], [127, 0, 0, 2]]
    } else {
        &[]
    };
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&query[0..2]);
    out.push(0x80 | (query[2] & 0x01)); // QR, opcode QUERY, RD copied
    out.push(0x80 | rcode); // RA
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&u16::try_from(answers.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for a in answers {
        out.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
        out.extend_from_slice(&3600u32.to_be_bytes());
        out.extend_from_slice(&[0, 4]);
        out.extend_from_slice(a);
    }
    Some(out)
}

/// Unix seconds `n` days from now (a certificate's NotAfter in the tests).
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn days_from_now(n: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    now + n * 86_400
}

/// Certificate parameters valid from 2020 until `not_after` (unix seconds); a CA named
/// "netdiag test root" when `ca`.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn cert_params(not_after: u64, ca: bool) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("no names");
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(not_after);
    if ca {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "netdiag test root");
    }
    p
}
