//! `netdiag mcp --listen ADDR`: the tools over Streamable HTTP at `/mcp` (rmcp's stateless
//! service: every protocol era, no sessions kept). On loopback it may run bare; anywhere else it
//! needs TLS and a credential (a bearer token or basic auth), so that a network-diagnosis tool is
//! never an open relay for probes. TLS and basic auth come from the same web config file as
//! `netdiag serve --web.config.file` (exporter-toolkit's format).

use crate::server::NetdiagServer;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use netdiag_serve::webconfig::{BasicAuth, WebConfig};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;

/// The path the MCP endpoint answers on.
pub const ENDPOINT: &str = "/mcp";

/// Largest request body (inline manifests travel in it).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How the HTTP listener runs.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// `ADDR:PORT`, `[V6]:PORT`, `localhost:PORT` or `:PORT` (loopback).
    pub listen: String,
    /// TLS and basic auth.
    pub web: WebConfig,
    /// A bearer token clients must send (`Authorization: Bearer …`).
    pub bearer: Option<String>,
}

/// Parses `--listen`: a socket address, `localhost:PORT`, or `:PORT` for 127.0.0.1.
pub fn listen_addr(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    let bad = || format!("--listen '{t}': give ADDR:PORT, [IPV6]:PORT, localhost:PORT or :PORT");
    if let Some(port) = t.strip_prefix(':').or_else(|| t.strip_prefix("localhost:")) {
        let port: u16 = port.parse().map_err(|_| bad())?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    t.parse().map_err(|_| bad())
}

/// Checks that a listener off loopback has TLS and a credential.
pub fn check_exposure(addr: SocketAddr, options: &HttpOptions) -> Result<(), String> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    let credential = options.bearer.is_some() || options.web.auth.is_some();
    if options.web.tls.is_none() || !credential {
        return Err(format!(
            "--listen {addr} is not a loopback address: give --web.config.file with tls_server_config, \
             and basic_auth_users in it or --bearer-token-file (netdiag mcp never serves probes to the network unauthenticated)"
        ));
    }
    Ok(())
}

type Body = BoxBody<Bytes, Infallible>;

fn plain(
    status: StatusCode,
    text: &'static str,
    challenge: Option<&'static str>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *response.status_mut() = status;
    if let Some(c) = challenge {
        if let Ok(v) = hyper::header::HeaderValue::from_str(c) {
            response
                .headers_mut()
                .insert(hyper::header::WWW_AUTHENTICATE, v);
        }
    }
    response
}

/// Constant-time equality (the token must not leak through timing).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a request must carry.
#[derive(Debug, Clone)]
struct Credentials {
    bearer: Option<String>,
    basic: Option<Arc<BasicAuth>>,
}

impl Credentials {
    fn required(&self) -> bool {
        self.bearer.is_some() || self.basic.is_some()
    }

    fn challenge(&self) -> &'static str {
        match (&self.bearer, &self.basic) {
            (Some(_), _) => "Bearer",
            _ => "Basic",
        }
    }

    async fn admit(&self, header: Option<&str>) -> bool {
        let Some(header) = header else { return false };
        if let (Some(token), Some(sent)) = (&self.bearer, header.strip_prefix("Bearer ")) {
            return same(token.as_bytes(), sent.trim().as_bytes());
        }
        if let Some(basic) = &self.basic {
            return netdiag_serve::webconfig::admits(basic, Some(header)).await;
        }
        false
    }
}

type Mcp = StreamableHttpService<NetdiagServer, NeverSessionManager>;

async fn handle(
    request: Request<Incoming>,
    mcp: Mcp,
    credentials: Credentials,
) -> Result<Response<Body>, Infallible> {
    use tower::Service;
    if request.uri().path() != ENDPOINT {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "not found: the MCP endpoint is /mcp\n",
            None,
        ));
    }
    if credentials.required() {
        let header = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !credentials.admit(header).await {
            return Ok(plain(
                StatusCode::UNAUTHORIZED,
                "Unauthorized\n",
                Some(credentials.challenge()),
            ));
        }
    }
    let request = match screened(request).await {
        Ok(r) => r,
        Err(refusal) => return Ok(refusal),
    };
    let mut mcp = mcp;
    mcp.call(request).await
}

/// Reads a POST body (at most [`MAX_BODY_BYTES`]) and answers what is not a JSON-RPC message
/// itself, as the transport asks: 400 with the JSON-RPC error (-32700 not JSON, -32600 not a
/// message), 413 when too large. rmcp alone answers a body that is not JSON with a 415 and
/// plain text, which a client cannot match to a JSON-RPC error.
async fn screened(request: Request<Incoming>) -> Result<Request<Full<Bytes>>, Response<Body>> {
    let (parts, body) = request.into_parts();
    let bytes = match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            // The rest of the body is not read: the connection cannot carry another request.
            let mut refusal = plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large (at most 16 MiB)\n",
                None,
            );
            refusal.headers_mut().insert(
                hyper::header::CONNECTION,
                hyper::header::HeaderValue::from_static("close"),
            );
            return Err(refusal);
        }
    };
    if parts.method == hyper::Method::POST {
        if let crate::stdio::Screened::Answer { code, text: error } = crate::stdio::screen(&bytes) {
            // A request that is no JSON-RPC message is the transport's 400; a well-formed
            // request with wrong params is answered like any JSON-RPC error.
            let status = if code == -32602 {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            let mut response = Response::new(Full::new(Bytes::from(error)).boxed());
            *response.status_mut() = status;
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            return Err(response);
        }
    }
    Ok(Request::from_parts(parts, Full::new(bytes)))
}

/// Serves until SIGINT or SIGTERM. The bound address is printed on stderr as
/// `netdiag mcp: listening on ADDR (http|https), endpoint /mcp`.
pub async fn serve(server: NetdiagServer, options: HttpOptions) -> Result<(), String> {
    let addr = listen_addr(&options.listen)?;
    check_exposure(addr, &options)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if options.web.tls.is_some() {
        "https"
    } else {
        "http"
    };
    eprintln!("netdiag mcp: listening on {bound} ({scheme}), endpoint {ENDPOINT}");
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(MAX_BODY_BYTES);
    if !addr.ip().is_loopback() {
        // Off loopback every request is authenticated; the Host check (against DNS rebinding
        // of a local server) would only refuse the names clients use to reach it.
        config = config.disable_allowed_hosts();
    }
    let mcp: Mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let credentials = Credentials {
        bearer: options.bearer.clone(),
        basic: options.web.auth.clone(),
    };
    let tls = options.web.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    tokio::select! {
        () = accept_loop(listener, mcp, credentials, tls) => Ok(()),
        r = stop_signal() => r,
    }
}

async fn stop_signal() -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => Ok(()),
        _ = int.recv() => Ok(()),
    }
}

async fn accept_loop(
    listener: TcpListener,
    mcp: Mcp,
    credentials: Credentials,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    netdiag_serve::listen::serve_http1(listener, tls, move || {
        let (mcp, credentials) = (mcp.clone(), credentials.clone());
        hyper::service::service_fn(move |request| handle(request, mcp.clone(), credentials.clone()))
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_addr(":8765").ok(), "127.0.0.1:8765".parse().ok());
        assert_eq!(listen_addr("localhost:1").ok(), "127.0.0.1:1".parse().ok());
        assert_eq!(listen_addr("[::1]:9").ok(), "[::1]:9".parse().ok());
        for bad in ["", "8765", "host:1", ":x", "1.2.3.4"] {
            assert!(listen_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn off_loopback_needs_tls_and_a_credential() {
        let bare = HttpOptions::default();
        let loopback = listen_addr("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let wide = listen_addr("0.0.0.0:0").unwrap_or_else(|e| panic!("{e}"));
        assert!(check_exposure(loopback, &bare).is_ok());
        let err = check_exposure(wide, &bare).err().unwrap_or_default();
        assert!(
            err.contains("tls_server_config") && err.contains("--bearer-token-file"),
            "{err}"
        );
        let token_only = HttpOptions {
            bearer: Some("t".repeat(32)),
            ..HttpOptions::default()
        };
        assert!(
            check_exposure(wide, &token_only).is_err(),
            "a token without TLS travels in clear"
        );
    }

    #[test]
    fn token_comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
