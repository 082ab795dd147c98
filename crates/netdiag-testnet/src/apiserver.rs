//! A fake Kubernetes API server on loopback for live-read tests: it answers recorded list
//! responses chosen by a routing function, checks the bearer token, and records every request
//! line so a test can assert that netdiag only ever sends the `GET`s it should.
//!
//! One request per connection (`Connection: close`), every read and write bounded by a timeout,
//! plain HTTP or TLS; the server thread stops on drop or, at the latest, after
//! [`API_SERVER_LIFETIME`] or 2000 connections.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest a fake API server runs.
pub const API_SERVER_LIFETIME: Duration = Duration::from_secs(120);
/// The most connections it accepts.
const API_SERVER_MAX_CONNECTIONS: usize = 2000;
const MAX_HEAD: usize = 64 * 1024;

/// An answer: status code and JSON body.
pub type ApiAnswer = (u16, String);

/// Chooses the answer for an authorized request's path and query.
pub type ApiRoutes = Arc<dyn Fn(&str, &str) -> ApiAnswer + Send + Sync>;

/// The fake API server; stops on drop.
pub struct FakeApiServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeApiServer {
    /// Starts it on 127.0.0.1: requests without `Authorization: Bearer {token}` get 401, the
    /// others the answer of `routes`.
    pub fn start(
        token: &str,
        routes: ApiRoutes,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<FakeApiServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt) = (requests.clone(), stop.clone());
        let token = token.to_string();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut served = 0;
            while !halt.load(Ordering::Relaxed)
                && start.elapsed() < API_SERVER_LIFETIME
                && served < API_SERVER_MAX_CONNECTIONS
            {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        serve(stream, &token, &routes, tls.clone(), &log);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(FakeApiServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        })
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request line so far (`GET /api/v1/pods?limit=500 HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A Kubernetes `Status` body for an error answer.
pub fn api_status(code: u16, reason: &str, message: &str) -> ApiAnswer {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (code, body.to_string())
}

fn serve(
    stream: TcpStream,
    token: &str,
    routes: &ApiRoutes,
    tls: Option<Arc<rustls::ServerConfig>>,
    log: &Mutex<Vec<String>>,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    match tls {
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(config) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            exchange(&mut tls, token, routes, log);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        None => {
            let mut plain = stream;
            exchange(&mut plain, token, routes, log);
        }
    }
}

fn exchange<S: Read + Write>(
    stream: &mut S,
    token: &str,
    routes: &ApiRoutes,
    log: &Mutex<Vec<String>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default().to_string();
    let authorized = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("authorization") && v.trim() == format!("Bearer {token}")
        })
    });
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(request_line.clone());
    let target = request_line.split(' ').nth(1).unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (code, body) = if authorized {
        routes(path, query)
    } else {
        api_status(401, "Unauthorized", "Unauthorized")
    };
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Error",
    };
    let response = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}
