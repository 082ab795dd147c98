//! The HTTP server: blackbox_exporter's endpoints with blackbox's semantics (`/probe`,
//! `/metrics`, `/-/reload`, `/-/healthy`, `/config`, `/`, `/logs`), netdiag's `/api/v1/probes`
//! (the history as JSON, [`crate::api`]), plus netdiag's safety:
//! an allow-list (403), bounded concurrency with a bounded queue (503), and a hard deadline on
//! every probe (the answer is `probe_success 0` when the prober overruns; the server never hangs
//! on a probe).
//!
//! Why axum on tokio with probes on blocking threads: the probers are synchronous (the walk owns
//! its deadlines); the server only has to multiplex many slow scrapes, bound them, and give up on
//! a probe at its deadline without waiting for it.

use crate::config::{self, Config};
use crate::expo::CONTENT_TYPE;
use crate::page::PageEntry;
use crate::probers::{self, ProbeOutcome, ProbeRequest};
use crate::selfmetrics::RefusalReason;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::state::{lock, unix_now, Options, Shared};

/// The router with every endpoint.
pub fn router(shared: Arc<Shared>) -> Router {
    let router = Router::new()
        .route("/probe", get(probe_handler))
        .route("/probe/{id}", get(probe_page_handler))
        .route("/metrics", get(metrics_handler))
        .route("/-/reload", post(reload_handler))
        .route("/-/healthy", get(|| async { "Healthy" }))
        .route("/config", get(config_handler))
        .route("/logs", get(logs_handler))
        .route("/api/v1/probes", get(probes_handler))
        .route("/", get(index_handler));
    let router = match shared.options.web_config.auth.clone() {
        Some(auth) => router.layer(axum::middleware::from_fn(move |req, next| {
            crate::webconfig::require(Arc::clone(&auth), req, next)
        })),
        None => router,
    };
    router.with_state(shared)
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Go's `http.Error`: the message and a newline, as text/plain.
fn http_error(status: StatusCode, message: &str) -> Response {
    text(status, format!("{message}\n"))
}

/// Percent-decodes once more (Go's `url.QueryUnescape`); an invalid escape keeps the text.
pub fn unescape_once(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => return s.to_string(),
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// What one `/probe` asked for, checked.
struct Asked {
    target: String,
    module_name: String,
    hostname: Option<String>,
    debug: bool,
    timeout: Duration,
    config: Arc<Config>,
}

fn check_request(
    shared: &Shared,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Asked, Box<Response>> {
    let config = shared.config();
    let module_name = params
        .get("module")
        .filter(|m| !m.is_empty())
        .cloned()
        .unwrap_or_else(|| "http_2xx".to_string());
    let Some(module) = config.modules.get(&module_name) else {
        shared.metrics.module_unknown();
        return Err(Box::new(http_error(
            StatusCode::BAD_REQUEST,
            &format!("Unknown module {module_name:?}"),
        )));
    };
    let header = headers
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .map(|v| v.to_str().unwrap_or("invalid"));
    let seconds =
        crate::timeout::probe_timeout(module.timeout, header, shared.options.timeout_offset)
            .map_err(|e| Box::new(http_error(StatusCode::INTERNAL_SERVER_ERROR, &e)))?;
    let target = params
        .get("target")
        .map(|t| unescape_once(t))
        .unwrap_or_default();
    if target.is_empty() {
        return Err(Box::new(http_error(
            StatusCode::BAD_REQUEST,
            "Target parameter is missing",
        )));
    }
    let hostname = params.get("hostname").filter(|h| !h.is_empty()).cloned();
    if let (Some(hostname), crate::config::ProberKind::Http) = (&hostname, module.prober) {
        host_conflict(module, hostname)
            .map_err(|e| Box::new(http_error(StatusCode::BAD_REQUEST, &e)))?;
    }
    Ok(Asked {
        target,
        module_name,
        hostname,
        debug: params.get("debug").is_some_and(|d| d == "true"),
        timeout: Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::ZERO),
        config,
    })
}

/// blackbox's `setHTTPHost`: a `hostname` parameter that disagrees with a `Host` header the
/// module sets is a 400, never a silent choice of one of them.
fn host_conflict(module: &crate::config::Module, hostname: &str) -> Result<(), String> {
    for (name, value) in &module.http.headers {
        if name.eq_ignore_ascii_case("host") && value != hostname {
            return Err(format!(
                "host header defined both in module configuration ({value}) and with URL-parameter 'hostname' ({hostname})"
            ));
        }
    }
    Ok(())
}

async fn probe_handler(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let asked = match check_request(&shared, &params, &headers) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let started = Instant::now();
    if let Err(why) = allowed(&shared, &asked).await {
        shared.metrics.refused(RefusalReason::NotAllowed);
        return http_error(StatusCode::FORBIDDEN, &why);
    }
    let remaining = asked.timeout.saturating_sub(started.elapsed());
    let outcome = match run_bounded(&shared, &asked, remaining).await {
        Some(o) => o,
        None => {
            shared.metrics.refused(RefusalReason::Overloaded);
            return http_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many probes in flight; try again later",
            );
        }
    };
    let entry = entry_for(&asked, &outcome, started);
    let debug_text = entry.debug_text.clone();
    shared.remember(entry);
    if asked.debug {
        return text(StatusCode::OK, debug_text);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        outcome.metrics.encode(),
    )
        .into_response()
}

/// The allow-list check: names before resolution, then their addresses (see `config::allow`).
async fn allowed(shared: &Shared, asked: &Asked) -> Result<(), String> {
    let Some(list) = asked.config.allow.clone() else {
        return Ok(());
    };
    let _ = shared;
    let host = match list.check_static(&asked.target) {
        Err(r) => return Err(r.0),
        Ok(None) => return Ok(()),
        Ok(Some(host)) => host,
    };
    let lookup = tokio::net::lookup_host((host.as_str(), 0));
    let addrs: Vec<std::net::IpAddr> = match tokio::time::timeout(asked.timeout, lookup).await {
        Ok(Ok(it)) => it.map(|a| a.ip()).collect(),
        _ => Vec::new(),
    };
    list.check_addresses(&asked.target, &addrs).map_err(|r| r.0)
}

/// Runs the probe on a blocking thread once a slot is free, within `deadline`. `None` when
/// every slot and the queue are full (or the deadline passed while queued).
async fn run_bounded(
    shared: &Arc<Shared>,
    asked: &Asked,
    deadline: Duration,
) -> Option<ProbeOutcome> {
    let started = Instant::now();
    let permit = match Arc::clone(&shared.slots).try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            if shared.waiting.fetch_add(1, Ordering::SeqCst) >= shared.options.queue {
                shared.waiting.fetch_sub(1, Ordering::SeqCst);
                return None;
            }
            let waited =
                tokio::time::timeout(deadline, Arc::clone(&shared.slots).acquire_owned()).await;
            shared.waiting.fetch_sub(1, Ordering::SeqCst);
            match waited {
                Ok(Ok(p)) => p,
                _ => return None,
            }
        }
    };
    let remaining = deadline.saturating_sub(started.elapsed());
    Some(run_probe(shared, asked, remaining, permit).await)
}

/// How long past its deadline a prober may take to hand back its answer before the server
/// answers for it (`probe_success 0`, "overran its deadline").
const PROBER_GRACE: Duration = Duration::from_millis(250);

/// One probe under its deadline; the slot is released when the blocking thread really ends.
async fn run_probe(
    shared: &Arc<Shared>,
    asked: &Asked,
    deadline: Duration,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> ProbeOutcome {
    let started = Instant::now();
    shared.metrics.started();
    let config = Arc::clone(&asked.config);
    let (target, module_name, hostname) = (
        asked.target.clone(),
        asked.module_name.clone(),
        asked.hostname.clone(),
    );
    let full_timeout = asked.timeout;
    let cert_series = shared.options.cert_series_on_failure;
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let module = config.modules.get(&module_name)?;
        let request = ProbeRequest {
            target: &target,
            module_name: &module_name,
            module,
            hostname: hostname.as_deref(),
            timeout: full_timeout,
            cert_series_on_failure: cert_series,
        };
        Some(probers::probe(&request))
    });
    // The probers end by the deadline themselves and answer with what they saw (blackbox's
    // probers do the same under their context's deadline); the server's own timer is only the
    // backstop, so it allows them a moment to return their answer.
    let outcome = match tokio::time::timeout(deadline + PROBER_GRACE, task).await {
        Ok(Ok(Some(o))) => o,
        Ok(Ok(None)) => overrun(asked, started, "module vanished during a reload"),
        Ok(Err(_)) => overrun(asked, started, "the prober failed internally"),
        Err(_) => overrun(asked, started, "the probe overran its deadline"),
    };
    shared.metrics.finished(
        &asked.module_name,
        outcome.success,
        started.elapsed().as_secs_f64(),
    );
    outcome
}

/// The answer when a prober did not answer in time: blackbox's three series, failed.
fn overrun(asked: &Asked, started: Instant, why: &str) -> ProbeOutcome {
    let mut outcome = ProbeOutcome {
        log: vec![format!(
            "level=error module={} target={} msg=\"{why}\" timeout_seconds={}",
            asked.module_name,
            asked.target,
            asked.timeout.as_secs_f64()
        )],
        ..ProbeOutcome::default()
    };
    let m = &mut outcome.metrics;
    m.gauge(
        "probe_success",
        "Displays whether or not the probe was a success",
        0.0,
    );
    m.gauge(
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
        started.elapsed().as_secs_f64(),
    );
    m.gauge(
        "probe_timeout_seconds",
        "Returns how long the probe has to complete in seconds",
        asked.timeout.as_secs_f64(),
    );
    outcome
}

/// blackbox's debug text plus netdiag's fourth section.
pub fn debug_text(outcome: &ProbeOutcome, module_yaml: &str) -> String {
    let mut out = String::from("Logs for the probe:\n");
    for line in &outcome.log {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("\n\n\nMetrics that would have been returned:\n");
    out.push_str(&outcome.metrics.encode());
    out.push_str("\n\n\nModule configuration:\n");
    out.push_str(module_yaml);
    out.push_str("\n\n\nReport:\n");
    match &outcome.report {
        Some(r) => {
            let table = netdiag_core::render::render(r, netdiag_core::render::Format::Table);
            out.push_str(&netdiag_core::redact::redact(&table).text);
        }
        None => out.push_str("(this prober does not walk the layers: no report)\n"),
    }
    out
}

fn entry_for(asked: &Asked, outcome: &ProbeOutcome, started: Instant) -> PageEntry {
    let yaml = asked
        .config
        .modules
        .get(&asked.module_name)
        .map(config::Module::to_redacted_yaml)
        .unwrap_or_default();
    PageEntry {
        id: 0,
        started_at: rfc3339(unix_now() - started.elapsed().as_secs_f64()),
        target: asked.target.clone(),
        module: asked.module_name.clone(),
        success: outcome.success,
        duration_seconds: started.elapsed().as_secs_f64(),
        report: outcome.report.clone(),
        debug_text: debug_text(outcome, &yaml),
    }
}

/// `2026-12-02T05:30:00Z` from Unix seconds (UTC, civil-from-days).
pub fn rfc3339(unix: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let secs = unix.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn metrics_handler(State(shared): State<Arc<Shared>>) -> Response {
    let mut body = shared.metrics.encode();
    body.push_str(&crate::schedule_run::encode(&shared));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body,
    )
        .into_response()
}

async fn reload_handler(State(shared): State<Arc<Shared>>) -> Response {
    let s = Arc::clone(&shared);
    let result = tokio::task::spawn_blocking(move || s.reload())
        .await
        .unwrap_or_else(|_| Err("reload failed internally".into()));
    match result {
        Ok(()) => {
            crate::schedule_run::restart(&shared);
            text(StatusCode::OK, String::new())
        }
        Err(e) => http_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("failed to reload config: {e}"),
        ),
    }
}

async fn config_handler(State(shared): State<Arc<Shared>>) -> Response {
    text(StatusCode::OK, shared.config().to_redacted_yaml())
}

fn html(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn index_handler(State(shared): State<Arc<Shared>>) -> Response {
    let entries = shared.history().entries();
    html(crate::page::index(&entries))
}

async fn probe_page_handler(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let entry = id
        .parse::<u64>()
        .ok()
        .and_then(|id| shared.history().get(id));
    match entry {
        Some(e) => html(crate::page::probe_page(&e)),
        None => http_error(StatusCode::NOT_FOUND, "Probe not found"),
    }
}

/// `/api/v1/probes?target=T&module=M&failed=true&limit=N`: the history as `netdiag.probes/v1`.
async fn probes_handler(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match crate::api::ProbeFilter::from_query(&params) {
        Ok(filter) => {
            let doc = crate::api::probes_document(&shared.history().entries(), &filter);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                doc.to_string(),
            )
                .into_response()
        }
        Err(why) => http_error(StatusCode::BAD_REQUEST, &why),
    }
}

/// blackbox's `/logs?id=N` or `/logs?target=T[&module=M]`: the debug text of a past probe.
async fn logs_handler(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let history = shared.history();
    let entry = if let Some(id) = params.get("id") {
        match id.parse::<u64>() {
            Ok(id) => history.get(id),
            Err(_) => {
                return http_error(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid probe id: {id:?}"),
                )
            }
        }
    } else if let Some(target) = params.get("target") {
        history.latest_for(target, params.get("module").map(String::as_str))
    } else {
        None
    };
    match entry {
        Some(e) => text(StatusCode::OK, e.debug_text),
        None => http_error(StatusCode::NOT_FOUND, "Probe not found"),
    }
}

/// Resolves a listen address: blackbox's `:9115` means every interface.
pub fn listen_addr(text: &str) -> Result<Vec<SocketAddr>, String> {
    let bad = || format!("--web.listen-address {text:?} is not HOST:PORT");
    if let Some(port) = text.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| bad())?;
        return Ok(vec![SocketAddr::from(([0, 0, 0, 0], port))]);
    }
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host == "localhost" {
        return Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]);
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_once() {
        assert_eq!(
            unescape_once("http://127.0.0.1%3A80"),
            "http://127.0.0.1:80"
        );
        assert_eq!(unescape_once("a%2"), "a%2");
        assert_eq!(unescape_once("plain"), "plain");
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_addr(":9115").unwrap()[0].port(), 9115);
        assert_eq!(
            listen_addr("127.0.0.1:0").unwrap()[0],
            "127.0.0.1:0".parse().unwrap()
        );
        assert!(listen_addr("nope").is_err());
        assert!(listen_addr("[::1]:80").is_ok());
    }

    fn shared(concurrency: usize, queue: usize) -> Arc<Shared> {
        let config = config::parse("modules:\n  tcp_connect:\n    prober: tcp\n").unwrap();
        let options = Options {
            concurrency,
            queue,
            ..Options::default()
        };
        Shared::new(options, config)
    }

    fn asked(shared: &Shared, timeout: Duration) -> Asked {
        Asked {
            target: "127.0.0.1:1".into(),
            module_name: "tcp_connect".into(),
            hostname: None,
            debug: false,
            timeout,
            config: shared.config(),
        }
    }

    #[test]
    fn no_free_slot_and_a_full_queue_is_refused_and_a_queued_probe_waits() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = shared(1, 0);
            let held = Arc::clone(&s.slots).try_acquire_owned().unwrap();
            let a = asked(&s, Duration::from_secs(1));
            assert!(run_bounded(&s, &a, Duration::from_secs(1)).await.is_none());
            drop(held);
            assert!(run_bounded(&s, &a, Duration::from_secs(1)).await.is_some());

            // With a queue, a probe waits for the slot; past its deadline it is refused.
            let s = shared(1, 4);
            let held = Arc::clone(&s.slots).try_acquire_owned().unwrap();
            let a = asked(&s, Duration::from_millis(100));
            let t = Instant::now();
            assert!(run_bounded(&s, &a, Duration::from_millis(100))
                .await
                .is_none());
            assert!(t.elapsed() < Duration::from_millis(500));
            let s2 = Arc::clone(&s);
            let release = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                drop(held);
            });
            let a = asked(&s2, Duration::from_secs(2));
            assert!(run_bounded(&s2, &a, Duration::from_secs(2)).await.is_some());
            release.await.unwrap();
            assert_eq!(s2.waiting.load(Ordering::SeqCst), 0);
            assert_eq!(s2.metrics.in_flight(), 0);
        });
    }

    #[test]
    fn an_overrun_is_a_failed_probe_with_the_three_series() {
        let s = shared(1, 0);
        let a = asked(&s, Duration::from_millis(500));
        let o = overrun(&a, Instant::now(), "the probe overran its deadline");
        assert!(!o.success);
        assert_eq!(o.metrics.value("probe_success", &[]), Some(0.0));
        assert_eq!(o.metrics.value("probe_timeout_seconds", &[]), Some(0.5));
        let text = debug_text(&o, "prober: tcp\n");
        assert!(text.contains("overran its deadline"));
        assert!(text.contains("\n\n\nReport:\n"));
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_189_400.0), "2026-12-02T05:30:00Z");
    }
}
