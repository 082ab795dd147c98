//! An HTTP/1.1 server (plain or over TLS) that misbehaves on request: a status of the test's
//! choosing, a slow first byte, a large body, silence after the request, or a reset.
//!
//! Why our own and not `python -m http.server` or `openssl s_server -www`: the faults are about
//! *when* and *how* a server answers (after 2.5 s, never, with an RST after reading the request),
//! which no stock server does on demand. It runs on threads inside a namespace like the other
//! harness servers, binds before it reports ready, and every wait in it is bounded.
//!
//! Each accepted connection gets its own thread, so a client that holds one connection (netdiag's
//! TLS inspection, say) never blocks the next. One request per connection (`Connection: close`).

use crate::servers::{start, wait_readable, ServerHandle, TICK};
use crate::{Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A connection is given up after this long, whatever it is doing.
const CONNECTION_LIMIT: Duration = Duration::from_secs(30);

/// The longest request head read before the connection is dropped.
const MAX_HEAD: usize = 64 * 1024;

/// What the server does once it has read a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Behaviour {
    /// Answer with the configured status, headers and body.
    Respond,
    /// Never answer; hold the connection until the client closes it.
    Silent,
    /// Reset the connection (close with SO_LINGER 0).
    Reset,
}

/// How an [`HttpServer`] answers. Build one, then start it with [`crate::Node::http`].
///
/// ```
/// use netdiag_testnet::HttpServer;
/// use std::time::Duration;
/// let slow = HttpServer::status(200).first_byte_after(Duration::from_millis(2500));
/// let gone = HttpServer::status(404);
/// let moved = HttpServer::status(301).header("Location", "http://10.77.2.2:8080/new");
/// let hangs = HttpServer::silent();
/// ```
#[derive(Debug, Clone)]
pub struct HttpServer {
    behaviour: Behaviour,
    status: u16,
    headers: Vec<(String, String)>,
    body_len: usize,
    first_byte_delay: Duration,
    tls: Option<(PathBuf, PathBuf)>,
}

impl HttpServer {
    /// Answers every request with `code` and a short body.
    pub fn status(code: u16) -> Self {
        HttpServer {
            behaviour: Behaviour::Respond,
            status: code,
            headers: Vec::new(),
            body_len: 64,
            first_byte_delay: Duration::ZERO,
            tls: None,
        }
    }

    /// Reads the request and never answers (the connection stays open until the client leaves).
    pub fn silent() -> Self {
        HttpServer {
            behaviour: Behaviour::Silent,
            ..HttpServer::status(200)
        }
    }

    /// Reads the request, then resets the connection (SO_LINGER 0): a backend that crashes
    /// while handling the request.
    pub fn reset_after_request() -> Self {
        HttpServer {
            behaviour: Behaviour::Reset,
            ..HttpServer::status(200)
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The body's size in bytes (filler text). Above about 3 KB the server sends full-size
    /// segments, which is what a path-MTU scenario needs.
    pub fn body_size(mut self, bytes: usize) -> Self {
        self.body_len = bytes;
        self
    }

    /// Sends the first byte of the response only this long after the request arrived.
    pub fn first_byte_after(mut self, delay: Duration) -> Self {
        self.first_byte_delay = delay;
        self
    }

    /// Serves over TLS (rustls, TLS 1.2 and 1.3, ALPN `http/1.1`) with the certificates in
    /// `chain_pem` (leaf first) and the private key in `key_pem`.
    pub fn tls(mut self, chain_pem: &Path, key_pem: &Path) -> Self {
        self.tls = Some((chain_pem.to_path_buf(), key_pem.to_path_buf()));
        self
    }

    fn response_head(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nServer: netdiag-testnet\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.body_len
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    fn body(&self) -> Vec<u8> {
        const LINE: &[u8] = b"netdiag-testnet filler line, 64 bytes long, to make a body.....\n";
        LINE.iter().copied().cycle().take(self.body_len).collect()
    }

    fn server_config(&self) -> Result<Option<Arc<ServerConfig>>> {
        let Some((chain, key)) = &self.tls else {
            return Ok(None);
        };
        let setup =
            |what: &str, e: &dyn std::fmt::Display| Error::Setup(format!("TLS server {what}: {e}"));
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(chain)
            .and_then(|it| it.collect())
            .map_err(|e| setup(&format!("certificates {}", chain.display()), &e))?;
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| setup(&format!("key {}", key.display()), &e))?;
        // One explicit provider: the process never has to pick between two (which panics).
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| setup("protocol versions", &e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| setup("certificate", &e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Arc::new(config)))
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

pub(crate) fn serve(ns: &str, addr: SocketAddr, spec: HttpServer) -> Result<ServerHandle> {
    let tls = spec.server_config()?;
    let what = if tls.is_some() { "https" } else { "http" };
    start(ns, &format!("{what}-{addr}"), move |stop, ready| {
        let listener = match TcpListener::bind(addr).and_then(|l| {
            l.set_nonblocking(true)?;
            Ok(l)
        }) {
            Ok(l) => l,
            Err(e) => return ready(Err(e)),
        };
        ready(Ok(()));
        let spec = Arc::new(spec);
        let done = Arc::new(AtomicBool::new(false));
        let mut handlers: Vec<JoinHandle<()>> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            wait_readable(&listener);
            while let Ok((stream, _)) = listener.accept() {
                let (spec, tls, done) = (Arc::clone(&spec), tls.clone(), Arc::clone(&done));
                if let Ok(h) = thread::Builder::new()
                    .name("netns-http-conn".into())
                    .spawn(move || handle(stream, &spec, tls, &done))
                {
                    handlers.push(h);
                }
            }
            handlers.retain(|h| !h.is_finished());
        }
        done.store(true, Ordering::Relaxed);
        for h in handlers {
            let _ = h.join();
        }
    })
}

/// One connection, plain or TLS, whose reads and writes give up at each tick so the handler can
/// notice the stop flag and its deadline.
enum Conn {
    Plain(TcpStream),
    Tls(Box<ServerConnection>, TcpStream),
}

fn is_tick(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) | Conn::Tls(_, s) => s,
        }
    }

    /// Reads some plaintext; a tick without data is `WouldBlock`.
    fn read_some(&mut self, buf: &mut [u8], until: &dyn Fn() -> bool) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(tls, s) => loop {
                match tls.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if tls.read_tls(s)? == 0 {
                    return Ok(0);
                }
                let processed = tls.process_new_packets();
                // Handshake messages, or the alert that explains a failure, go out either way.
                flush_tls(tls, s, until)?;
                if let Err(e) = processed {
                    return Err(io::Error::other(e));
                }
            },
        }
    }

    /// Writes all of `data`, giving up when `until()` says so.
    fn write_all(&mut self, mut data: &[u8], until: &dyn Fn() -> bool) -> io::Result<()> {
        while !data.is_empty() {
            if until() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match self {
                Conn::Plain(s) => match s.write(data) {
                    Ok(n) => data = &data[n..],
                    Err(e) if is_tick(&e) => {}
                    Err(e) => return Err(e),
                },
                Conn::Tls(tls, s) => {
                    let n = tls.writer().write(data)?;
                    data = &data[n..];
                    flush_tls(tls, s, until)?;
                }
            }
        }
        if let Conn::Tls(tls, s) = self {
            flush_tls(tls, s, until)?;
        }
        Ok(())
    }

    /// A clean end: close_notify for TLS, then FIN.
    fn finish(&mut self, until: &dyn Fn() -> bool) {
        if let Conn::Tls(tls, s) = self {
            tls.send_close_notify();
            let _ = flush_tls(tls, s, until);
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Write);
    }
}

fn flush_tls(
    tls: &mut ServerConnection,
    s: &mut TcpStream,
    until: &dyn Fn() -> bool,
) -> io::Result<()> {
    while tls.wants_write() {
        if until() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        match tls.write_tls(s) {
            Ok(_) => {}
            Err(e) if is_tick(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Where the request head ends, ignoring the empty lines a client may send first (RFC 9112
/// §2.2; netdiag's path-MTU probe sends nothing else).
fn head_complete(buf: &[u8]) -> bool {
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    buf[start..].windows(4).any(|w| w == b"\r\n\r\n")
}

/// Whether what arrived so far can still be an HTTP request: a method token (upper-case letters)
/// then a space. A TLS ClientHello (first byte 0x16) cannot; a real server answers such bytes
/// with 400 at once instead of waiting for a blank line that never comes.
fn could_be_http(buf: &[u8]) -> bool {
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    let method_len = rest.iter().take_while(|b| b.is_ascii_uppercase()).count();
    method_len == rest.len() || (method_len > 0 && rest[method_len] == b' ')
}

fn handle(stream: TcpStream, spec: &HttpServer, tls: Option<Arc<ServerConfig>>, done: &AtomicBool) {
    let deadline = Instant::now() + CONNECTION_LIMIT;
    let until = || done.load(Ordering::Relaxed) || Instant::now() >= deadline;
    if stream.set_read_timeout(Some(TICK)).is_err() || stream.set_write_timeout(Some(TICK)).is_err()
    {
        return;
    }
    let _ = stream.set_nodelay(true);
    let mut conn = match tls {
        Some(config) => match ServerConnection::new(config) {
            Ok(c) => Conn::Tls(Box::new(c), stream),
            Err(_) => return,
        },
        None => Conn::Plain(stream),
    };
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head_complete(&head) {
        if until() || head.len() > MAX_HEAD {
            return;
        }
        if !could_be_http(&head) {
            let bad = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            if conn.write_all(bad, &until).is_ok() {
                conn.finish(&until);
            }
            return;
        }
        match conn.read_some(&mut buf, &until) {
            Ok(0) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if is_tick(&e) => {}
            Err(_) => return,
        }
    }
    match spec.behaviour {
        Behaviour::Reset => {
            let _ = socket2::SockRef::from(conn.tcp()).set_linger(Some(Duration::ZERO));
        }
        Behaviour::Silent => drain(&mut conn, &until),
        Behaviour::Respond => {
            let due = Instant::now() + spec.first_byte_delay;
            while Instant::now() < due {
                if until() {
                    return;
                }
                thread::sleep(TICK.min(due.saturating_duration_since(Instant::now())));
            }
            let mut response = spec.response_head();
            response.extend(spec.body());
            if conn.write_all(&response, &until).is_ok() {
                conn.finish(&until);
                // Read what the client still sends until it closes, so our close is a FIN and
                // not an RST for unread data.
                let soon = Instant::now() + Duration::from_secs(2);
                drain(&mut conn, &|| until() || Instant::now() >= soon);
            }
        }
    }
}

/// Reads and discards until the client closes, fails, or `until()`.
fn drain(conn: &mut Conn, until: &dyn Fn() -> bool) {
    let mut buf = [0u8; 4096];
    while !until() {
        match conn.read_some(&mut buf, until) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if is_tick(&e) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_ends_at_the_first_blank_line_after_leading_empty_lines() {
        assert!(!head_complete(b"\r\n\r\n\r\n"));
        assert!(!head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(head_complete(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    }

    #[test]
    fn a_tls_client_hello_is_not_http() {
        assert!(could_be_http(b""));
        assert!(could_be_http(b"\r\nGE"));
        assert!(could_be_http(b"GET / HTTP/1.1\r\n"));
        assert!(!could_be_http(b"\x16\x03\x01\x02\x00\x01"));
        assert!(!could_be_http(b"get / HTTP/1.1\r\n"));
    }

    #[test]
    fn response_has_length_and_extra_headers() {
        let spec = HttpServer::status(301)
            .header("Location", "/new")
            .body_size(10);
        let head = String::from_utf8(spec.response_head()).unwrap_or_default();
        assert!(
            head.starts_with("HTTP/1.1 301 Moved Permanently\r\n"),
            "{head}"
        );
        assert!(head.contains("Content-Length: 10\r\n"), "{head}");
        assert!(head.ends_with("Location: /new\r\n\r\n"), "{head}");
        assert_eq!(spec.body().len(), 10);
    }
}
