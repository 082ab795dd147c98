//! The router in process (no sockets): blackbox's status codes and bodies for `/probe`'s
//! request errors, the endpoints' methods, and the own series after a probe.

#![allow(clippy::unwrap_used, missing_docs)] // a test: a failed step is a failed test

use axum::body::Body;
use axum::http::{Request, StatusCode};
use netdiag_serve::server::{router, Options, Shared};
use tower::ServiceExt;

const CONFIG: &str = "modules:\n  http_2xx:\n    prober: http\n  tcp_connect:\n    prober: tcp\n    timeout: 5s\nallow:\n  cidrs: [127.0.0.0/8]\n";

fn app() -> axum::Router {
    let config = netdiag_serve::config::parse(CONFIG).unwrap();
    router(Shared::new(Options::default(), config))
}

async fn call(app: &axum::Router, method: &str, uri: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_errors_and_methods() {
    let app = app();
    assert_eq!(
        call(&app, "GET", "/probe").await,
        (
            StatusCode::BAD_REQUEST,
            "Target parameter is missing\n".into()
        )
    );
    assert_eq!(
        call(&app, "GET", "/probe?module=x&target=127.0.0.1:1").await,
        (StatusCode::BAD_REQUEST, "Unknown module \"x\"\n".into())
    );
    let (status, _) = call(&app, "GET", "/probe?module=tcp_connect&target=192.0.2.1:80").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(&app, "GET", "/probe?target=127.0.0.1:1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("probe_timeout_seconds 119.5\n"), "{body}");
    assert_eq!(
        call(&app, "GET", "/-/reload").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        call(&app, "GET", "/-/healthy").await,
        (StatusCode::OK, "Healthy".into())
    );
    let (_, metrics) = call(&app, "GET", "/metrics").await;
    assert!(
        metrics.contains("netdiag_module_unknown_total 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("netdiag_probe_refused_total{reason=\"not_allowed\"} 1\n"));
    assert!(metrics.contains("netdiag_probes_total{module=\"http_2xx\",result=\"failure\"} 1\n"));
}
