//! Listening: plain or TLS (rustls) HTTP/1.1 on every `--web.listen-address`, SIGHUP reloads,
//! SIGINT/SIGTERM stop. Each bound address is printed on stderr as `listening on ADDR` so that
//! tests (and people) using port 0 can find it.

use crate::server::{self, Shared};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long a client has to send its request headers or finish a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the server until SIGINT/SIGTERM. Errors (a listen address that cannot be bound) are
/// one line.
pub fn run(shared: Arc<Shared>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(shared.options.concurrency.max(1) + 16)
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(shared))
}

async fn serve(shared: Arc<Shared>) -> Result<(), String> {
    let mut listeners = Vec::new();
    for text in &shared.options.listen {
        for addr in server::listen_addr(text)? {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let bound = l.local_addr().map_err(|e| e.to_string())?;
            let scheme = if shared.options.web_config.tls.is_some() {
                "https"
            } else {
                "http"
            };
            eprintln!("netdiag serve: listening on {bound} ({scheme})");
            listeners.push(l);
        }
    }
    let app = server::router(Arc::clone(&shared));
    let tls = shared
        .options
        .web_config
        .tls
        .clone()
        .map(tokio_rustls::TlsAcceptor::from);
    for l in listeners {
        tokio::spawn(accept_loop(l, app.clone(), tls.clone()));
    }
    crate::schedule_run::restart(&shared);
    wait_for_signals(&shared).await
}

async fn wait_for_signals(shared: &Arc<Shared>) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let s = Arc::clone(shared);
                let result = tokio::task::spawn_blocking(move || s.reload()).await;
                match result {
                    Ok(Ok(())) => {
                        eprintln!("netdiag serve: config reloaded (SIGHUP)");
                        crate::schedule_run::restart(shared);
                    }
                    Ok(Err(e)) => eprintln!("netdiag serve: failed to reload config: {e}"),
                    Err(_) => eprintln!("netdiag serve: failed to reload config"),
                }
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    serve_http1(listener, tls, move || {
        hyper_util::service::TowerToHyperService::new(app.clone())
    })
    .await;
}

/// Accepts connections forever and serves each with HTTP/1.1 (over TLS when `tls` is given):
/// a bounded TLS handshake and header read, a back-off when accepting fails (out of
/// descriptors, mostly). `service` makes the service of one connection. Shared by `netdiag
/// serve` and `netdiag mcp --listen`.
pub async fn serve_http1<F, S, B>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    service: F,
) where
    F: Fn() -> S,
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<B>,
        > + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service();
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT);
            match tls {
                Some(acceptor) => {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        let _ = builder.serve_connection(TokioIo::new(s), service).await;
                    }
                }
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}
