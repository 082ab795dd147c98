//! The remaining http conformance rows of prober-anchors.md §2 (P3, P5, P9, P12, P13, P16, P18,
//! P19, P22), each against a local fixture on 127.0.0.1 with `probers::probe` called directly.
//!
//! Why a separate file: tests/probe_http.rs holds the first rows; these pin the values the real
//! blackbox_exporter 0.23 gave for the same module and fixture (run by hand on loopback, the
//! numbers are written in each test). Every server thread is bounded in connections and time.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use netdiag_core::cause::Cause;
use netdiag_serve::config::{parse, Module};
use netdiag_serve::probers::{probe, ProbeOutcome, ProbeRequest};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::fixtures::{cert_params, days_from_now};

/// Reads one request: the head, then `Content-Length` bytes of body (bounded).
fn read_request(s: &mut impl Read) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while buf.len() < 16384 && !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => return buf,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(65536);
    let mut body = vec![0u8; length];
    if s.read_exact(&mut body).is_ok() {
        buf.extend_from_slice(&body);
    }
    buf
}

/// Serves up to `max` connections for at most 20 s; `answer(path)` gives the raw response and
/// every raw request is sent on the returned channel.
fn serve(
    max: usize,
    answer: impl Fn(&str) -> Vec<u8> + Send + 'static,
) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(60);
        let mut served = 0;
        while served < max && Instant::now() < until {
            match listener.accept() {
                Ok((mut s, _)) => {
                    served += 1;
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let raw = String::from_utf8_lossy(&read_request(&mut s)).into_owned();
                    let path = raw.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let _ = s.write_all(&answer(&path));
                    let _ = tx.send(raw);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (addr, rx)
}

fn response(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r.extend_from_slice(b"\r\n0\r\n\r\n");
    r
}

fn module(yaml: &str) -> Module {
    let text = format!(
        "modules:\n  m:\n    prober: http\n    http:\n      preferred_ip_protocol: ip4\n{yaml}"
    );
    parse(&text).unwrap().modules["m"].clone()
}

fn run(m: &Module, target: &str) -> ProbeOutcome {
    probe(&ProbeRequest {
        target,
        module_name: "m",
        module: m,
        hostname: None,
        timeout: Duration::from_secs(5),
        cert_series_on_failure: true,
    })
}

fn v(o: &ProbeOutcome, name: &str) -> Option<f64> {
    o.metrics.value(name, &[])
}

fn cause(o: &ProbeOutcome, layer: &str, c: Cause) -> bool {
    o.metrics.value(
        "probe_failure_info",
        &[("layer", layer), ("cause", c.code())],
    ) == Some(1.0)
}

/// (probe_success, content_length, uncompressed_body_length) as the outcome says.
fn lengths(o: &ProbeOutcome) -> (bool, Option<f64>, Option<f64>) {
    (
        o.success,
        v(o, "probe_http_content_length"),
        v(o, "probe_http_uncompressed_body_length"),
    )
}

#[test]
fn p3_content_length_for_every_encoding_and_404() {
    let body = [b'x'; 110];
    // blackbox 0.23, no `compression` set: both lengths are the raw 110 bytes for every encoding.
    for enc in ["identity", "none", "xxx", "br", "gzip", "deflate"] {
        let (addr, _) = serve(1, move |_| {
            response("200 OK", &format!("Content-Encoding: {enc}\r\n"), &body)
        });
        let o = run(&module(""), &format!("http://{addr}/"));
        assert_eq!(
            lengths(&o),
            (true, Some(110.0), Some(110.0)),
            "{enc}: {:?}",
            o.log
        );
    }
    // A 404 fails and still counts its body (110 / 110, success 0).
    let (addr, _) = serve(1, move |_| response("404 Not Found", "", &body));
    let o = run(&module(""), &format!("http://{addr}/"));
    assert_eq!(lengths(&o), (false, Some(110.0), Some(110.0)));
    assert!(cause(&o, "http", Cause::Http4xx), "{}", o.metrics.encode());
    // Chunked: Go's ContentLength is -1, the body length the decoded 110.
    let (addr, _) = serve(1, move |_| chunked(&body));
    let o = run(&module(""), &format!("http://{addr}/"));
    assert_eq!(lengths(&o), (true, Some(-1.0), Some(110.0)), "{:?}", o.log);
    // Read to close (no length at all): -1 / 110.
    let (addr, _) = serve(1, move |_| {
        let mut r = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        r.extend_from_slice(&body);
        r
    });
    let o = run(&module(""), &format!("http://{addr}/"));
    assert_eq!(lengths(&o), (true, Some(-1.0), Some(110.0)), "{:?}", o.log);
}

#[test]
fn p5_body_size_limit() {
    // blackbox 0.23 with `body_size_limit: 128B`: 127 and 128 pass; 129 fails with the
    // uncompressed length stopped at 128 (content_length still the header's 129, -1 chunked).
    for (n, chunk, want) in [
        (127usize, false, (true, Some(127.0), Some(127.0))),
        (128, false, (true, Some(128.0), Some(128.0))),
        (129, false, (false, Some(129.0), Some(128.0))),
        (129, true, (false, Some(-1.0), Some(128.0))),
    ] {
        let (addr, _) = serve(1, move |_| {
            let body = vec![b'y'; n];
            if chunk {
                chunked(&body)
            } else {
                response("200 OK", "", &body)
            }
        });
        let m = module("      body_size_limit: 128B\n");
        let o = run(&m, &format!("http://{addr}/"));
        assert_eq!(lengths(&o), want, "{n} chunked={chunk}: {:?}", o.log);
        if !want.0 {
            assert!(
                cause(&o, "http", Cause::HttpBodyTooLarge),
                "{}",
                o.metrics.encode()
            );
        }
    }
}

#[test]
fn p5_body_size_limit_units_parse_as_blackboxs() {
    for (text, bytes) in [
        ("128", 128u64),
        ("128B", 128),
        ("1KB", 1024),
        ("1KiB", 1024),
        ("2MB", 2 << 20),
        ("1GiB", 1 << 30),
    ] {
        let m = module(&format!("      body_size_limit: {text}\n"));
        assert_eq!(m.http.body_size_limit, bytes, "{text}");
    }
    for bad in ["12Q", "-1", "KB", "1MBB", "''"] {
        let text =
            format!("modules:\n  m:\n    prober: http\n    http:\n      body_size_limit: {bad}\n");
        assert!(parse(&text).is_err(), "{bad}");
    }
}

#[test]
fn p9_post_with_body_and_p13_headers_sent_as_given() {
    let (addr, rx) = serve(1, |_| response("200 OK", "", b"ok"));
    let m = module(
        "      method: POST\n      body: hello body\n      headers:\n        Host: h.example\n        User-Agent: ua/1\n        Accept-Language: en-US\n",
    );
    let o = run(&m, &format!("http://{addr}/x"));
    assert!(o.success, "{:?}", o.log);
    let raw = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("POST /x HTTP/1.1\r\n"), "{head}");
    assert_eq!(body, "hello body");
    let lower = head.to_ascii_lowercase();
    for line in [
        "host: h.example",
        "user-agent: ua/1",
        "accept-language: en-US",
        "content-length: 10",
    ] {
        assert!(
            lower.contains(&line.to_ascii_lowercase()),
            "{line} missing in {head}"
        );
    }
    assert_eq!(lower.matches("user-agent:").count(), 1, "{head}");
}

#[test]
fn p9_body_file() {
    let dir = std::env::temp_dir().join(format!("netdiag-c1-body-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("body.json");
    std::fs::write(&file, "{\"a\":1}").unwrap();
    let (addr, rx) = serve(1, |_| response("200 OK", "", b"ok"));
    let m = module(&format!(
        "      method: POST\n      body_file: '{}'\n",
        file.display()
    ));
    let o = run(&m, &format!("http://{addr}/"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.success, "{:?}", o.log);
    let raw = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(raw.starts_with("POST / HTTP/1.1\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\n{\"a\":1}"), "{raw}");
}

#[test]
fn p12_header_matchers() {
    let cookies = "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Type: text/plain\r\n";
    // (matcher yaml, probe_success) — the vectors of TestFailIfHeader(Not)MatchesRegexp, checked
    // against blackbox 0.23 for the multi-valued and missing cases.
    for (yaml, pass) in [
        ("fail_if_header_matches: [{header: Content-Type, regexp: 'text/plain'}]", false),
        ("fail_if_header_matches: [{header: Content-Type, regexp: 'application/json'}]", true),
        ("fail_if_header_matches: [{header: content-type, regexp: 'text/.*'}]", false),
        ("fail_if_header_matches: [{header: Set-Cookie, regexp: 'b=.*'}]", false),
        ("fail_if_header_matches: [{header: Set-Cookie, regexp: 'c=.*'}]", true),
        ("fail_if_header_matches: [{header: X-Nope, regexp: 'b=.*'}]", false),
        ("fail_if_header_matches: [{header: X-Nope, regexp: 'b=.*', allow_missing: true}]", true),
        ("fail_if_header_not_matches: [{header: Content-Type, regexp: 'text/plain'}]", true),
        ("fail_if_header_not_matches: [{header: Content-Type, regexp: 'application/json'}]", false),
        ("fail_if_header_not_matches: [{header: Set-Cookie, regexp: 'b=.*'}]", true),
        ("fail_if_header_not_matches: [{header: Set-Cookie, regexp: 'a=.*'}]", true),
        ("fail_if_header_not_matches: [{header: Set-Cookie, regexp: 'c=.*'}]", false),
        ("fail_if_header_not_matches: [{header: X-Nope, regexp: 'b=.*'}]", false),
        ("fail_if_header_not_matches: [{header: X-Nope, regexp: 'b=.*', allow_missing: true}]", true),
        (
            "fail_if_header_not_matches: [{header: Set-Cookie, regexp: 'a=.*'}, {header: Content-Type, regexp: 'json'}]",
            false,
        ),
    ] {
        let (addr, _) = serve(1, move |_| response("200 OK", cookies, b"ok"));
        let o = run(&module(&format!("      {yaml}\n")), &format!("http://{addr}/"));
        assert_eq!(o.success, pass, "{yaml}: {:?}", o.log);
        let regex = if pass { 0.0 } else { 1.0 };
        assert_eq!(v(&o, "probe_failed_due_to_regex"), Some(regex), "{yaml}");
        assert_eq!(v(&o, "probe_http_status_code"), Some(200.0), "{yaml}");
        if !pass {
            assert!(
                cause(&o, "http", Cause::HttpBodyMismatch),
                "{yaml}: {}",
                o.metrics.encode()
            );
        }
    }
}

#[test]
fn p13_default_user_agent_is_netdiags() {
    let (addr, rx) = serve(1, |_| response("200 OK", "", b"ok"));
    let o = run(&module(""), &format!("http://{addr}/"));
    assert!(o.success, "{:?}", o.log);
    let raw = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(raw.starts_with("GET / HTTP/1.1\r\n"), "{raw}");
    let ua = format!("user-agent: netdiag/{}", env!("CARGO_PKG_VERSION"));
    assert!(raw.to_ascii_lowercase().contains(&ua), "{raw}");
    assert!(
        raw.to_ascii_lowercase().contains(&format!("host: {addr}")),
        "{raw}"
    );
}

#[test]
fn p16_tls_config_is_ignored_for_plain_http() {
    let (addr, _) = serve(1, |_| response("200 OK", "", b"ok"));
    let m = module("      tls_config: {insecure_skip_verify: true, server_name: other.example}\n");
    let o = run(&m, &format!("http://{addr}/"));
    assert!(o.success, "{:?}", o.log);
    assert_eq!(v(&o, "probe_http_ssl"), Some(0.0));
    let tls_phase = o
        .metrics
        .value("probe_http_duration_seconds", &[("phase", "tls")]);
    assert_eq!(tls_phase, Some(0.0));
}

fn tls_server(max: usize) -> SocketAddr {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let der = rustls::pki_types::CertificateDer::from(cert.der().to_vec());
    tls_server_with(max, vec![der], &key)
}

/// [`tls_server`] serving `chain` (leaf first) signed for `key`.
fn tls_server_with(
    max: usize,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: &rcgen::KeyPair,
) -> SocketAddr {
    let pk = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key.serialize_der(),
    ));
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, pk)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(20);
        let mut served = 0;
        while served < max && Instant::now() < until {
            match listener.accept() {
                Ok((s, _)) => {
                    served += 1;
                    let config = config.clone();
                    std::thread::spawn(move || {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        let mut tls = rustls::StreamOwned::new(conn, s);
                        if read_request(&mut tls).is_empty() {
                            return;
                        }
                        // A little server time so `processing` is measurably > 0.
                        std::thread::sleep(Duration::from_millis(20));
                        let _ = tls.write_all(&response("200 OK", "", b"secure"));
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    addr
}

/// blackbox's two expiries differ: `probe_ssl_earliest_cert_expiry` is the earliest NotAfter of
/// what the server sent (an extra, older copy of the root), `probe_ssl_last_chain_expiry_…` the
/// best chain that verifies against ca_file (leaf → root, valued at the leaf's NotAfter).
#[test]
fn p20_earliest_is_served_and_last_chain_is_best_verified() {
    let (root_at, older_at, leaf_at) = (days_from_now(3), days_from_now(1), days_from_now(2));
    let root_key = rcgen::KeyPair::generate().unwrap();
    let root = cert_params(root_at, true).self_signed(&root_key).unwrap();
    let older = cert_params(older_at, true).self_signed(&root_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf_params = cert_params(leaf_at, false);
    leaf_params.subject_alt_names = vec![rcgen::SanType::DnsName("localhost".try_into().unwrap())];
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let issuer = rcgen::Issuer::new(cert_params(root_at, true), &root_key);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let chain = vec![
        rustls::pki_types::CertificateDer::from(leaf.der().to_vec()),
        rustls::pki_types::CertificateDer::from(older.der().to_vec()),
    ];
    let addr = tls_server_with(2, chain, &leaf_key);
    let dir = std::env::temp_dir().join(format!("netdiag-serve-p20-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, format!("{}{}", root.pem(), older.pem())).unwrap();
    let m = module(&format!(
        "      tls_config: {{ca_file: '{}'}}\n",
        ca.display()
    ));
    let o = run(&m, &format!("https://localhost:{}/", addr.port()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.success, "{:?} {}", o.log, o.metrics.encode());
    assert_eq!(
        v(&o, "probe_ssl_earliest_cert_expiry"),
        Some(older_at as f64)
    );
    assert_eq!(
        v(&o, "probe_ssl_last_chain_expiry_timestamp_seconds"),
        Some(leaf_at as f64)
    );
}

#[test]
fn p18_https_phases() {
    let addr = tls_server(4);
    let m = module("      tls_config: {insecure_skip_verify: true}\n");
    let o = run(&m, &format!("https://localhost:{}/", addr.port()));
    assert!(o.success, "{:?}", o.log);
    assert_eq!(v(&o, "probe_http_ssl"), Some(1.0));
    let phase = |p: &str| {
        o.metrics
            .value("probe_http_duration_seconds", &[("phase", p)])
    };
    for p in ["resolve", "connect", "tls", "processing", "transfer"] {
        assert!(
            phase(p).is_some_and(|x| x >= 0.0),
            "{p}: {}",
            o.metrics.encode()
        );
    }
    assert!(phase("tls").unwrap() > 0.0, "{}", o.metrics.encode());
    assert!(phase("processing").unwrap() > 0.0, "{}", o.metrics.encode());
    let families = o.metrics.families();
    let durations = families
        .iter()
        .find(|f| f.name == "probe_http_duration_seconds")
        .unwrap();
    assert_eq!(durations.samples.len(), 5);
    // netdiag's own per-layer times come on top.
    for layer in ["tcp", "tls", "http"] {
        let got = o
            .metrics
            .value("netdiag_layer_duration_seconds", &[("layer", layer)]);
        assert!(got.is_some(), "{layer}: {}", o.metrics.encode());
    }
}

#[test]
fn p19_skip_resolve_phase_with_proxy() {
    // blackbox 0.23 through a proxy: with `skip_resolve_phase_with_proxy` the target is not
    // resolved locally, so there is no `resolve` phase, no probe_dns_lookup_time_seconds and no
    // probe_ip_* series; without it all three are there. (`localhost`: the hosts file answers,
    // no DNS traffic leaves the machine.)
    for skip in [true, false] {
        let (proxy, rx) = serve(1, |_| response("200 OK", "", b"ok"));
        let m = module(&format!(
            "      proxy_url: http://{proxy}\n      skip_resolve_phase_with_proxy: {skip}\n"
        ));
        let o = run(&m, "http://localhost:1/x");
        assert!(o.success, "skip={skip}: {:?}", o.log);
        let raw = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            raw.starts_with("GET http://localhost:1/x HTTP/1.1\r\n"),
            "{raw}"
        );
        let resolve = o
            .metrics
            .value("probe_http_duration_seconds", &[("phase", "resolve")]);
        assert_eq!(resolve.is_some(), !skip, "{}", o.metrics.encode());
        for name in [
            "probe_dns_lookup_time_seconds",
            "probe_ip_protocol",
            "probe_ip_addr_hash",
        ] {
            assert_eq!(v(&o, name).is_some(), !skip, "{name} skip={skip}");
        }
        for phase in ["connect", "tls", "processing", "transfer"] {
            let got = o
                .metrics
                .value("probe_http_duration_seconds", &[("phase", phase)]);
            assert!(got.is_some(), "{phase} skip={skip}");
        }
    }
}

#[test]
fn p22_cookie_set_on_a_redirect_is_sent_on_the_next_hop() {
    let (addr, rx) = serve(2, |path| {
        if path == "/next" {
            response("200 OK", "", b"ok")
        } else {
            response(
                "302 Found",
                "Set-Cookie: sess=abc; Path=/\r\nSet-Cookie: other=1; HttpOnly\r\nLocation: /next\r\n",
                b"",
            )
        }
    });
    let o = run(&module(""), &format!("http://{addr}/start"));
    assert!(o.success, "{:?}", o.log);
    assert_eq!(v(&o, "probe_http_redirects"), Some(1.0));
    let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        !first.to_ascii_lowercase().contains("\r\ncookie:"),
        "{first}"
    );
    let second = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(second.starts_with("GET /next HTTP/1.1\r\n"), "{second}");
    assert!(
        second.contains("\r\nCookie: sess=abc; other=1\r\n"),
        "{second}"
    );
    // Go's client also names the page it came from.
    assert!(
        second.contains(&format!("\r\nReferer: http://{addr}/start\r\n")),
        "{second}"
    );
}

// --- differential: the same rows asked of blackbox 0.23 and of netdiag serve ---------------------

mod support;

/// The rows' modules, valid for both exporters.
const ROW_MODULES: &str = "modules:
  plain:
    prober: http
    timeout: 5s
    http: {preferred_ip_protocol: ip4}
  limit:
    prober: http
    timeout: 5s
    http: {preferred_ip_protocol: ip4, body_size_limit: 128B}
  post:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      method: POST
      body: hello body
      headers: {Accept-Language: en-US}
  cookie_matches:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_header_matches: [{header: Set-Cookie, regexp: 'b=.*'}]
  cookie_not_matches:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_header_not_matches: [{header: Set-Cookie, regexp: 'b=.*'}]
  missing_allowed:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_header_not_matches: [{header: X-Nope, regexp: 'b', allow_missing: true}]
  missing:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_header_matches: [{header: X-Nope, regexp: 'b'}]
  tls_on_plain:
    prober: http
    timeout: 5s
    http: {preferred_ip_protocol: ip4, tls_config: {insecure_skip_verify: true}}
";

/// One fixture for every row, by path; serves up to 400 connections for at most 120 s.
fn row_fixture() -> SocketAddr {
    let (addr, _) = serve(400, |path| {
        let body = [b'x'; 110];
        if let Some(enc) = path.strip_prefix("/enc/") {
            return response("200 OK", &format!("Content-Encoding: {enc}\r\n"), &body);
        }
        if let Some(n) = path.strip_prefix("/len/").and_then(|n| n.parse().ok()) {
            return response("200 OK", "", &vec![b'y'; n]);
        }
        if let Some(n) = path.strip_prefix("/chunked/").and_then(|n| n.parse().ok()) {
            return chunked(&vec![b'y'; n]);
        }
        match path {
            "/404" => response("404 Not Found", "", &body),
            "/cookies" => response("200 OK", "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n", b"ok"),
            "/redirect" => response(
                "302 Found",
                "Set-Cookie: sess=abc; Path=/\r\nLocation: /next\r\n",
                b"",
            ),
            _ => response("200 OK", "", b"ok"),
        }
    });
    addr
}

#[test]
fn the_rows_answer_like_blackbox() {
    require_bin!(support::BLACKBOX);
    let fixture = row_fixture();
    let dir = support::TempDir::new("rows-diff");
    // P19: the fixture is also the forward proxy (it answers any absolute-form request).
    let config = format!(
        "{ROW_MODULES}  proxy_skip:
    prober: http
    timeout: 5s
    http: {{preferred_ip_protocol: ip4, proxy_url: 'http://{fixture}', skip_resolve_phase_with_proxy: true}}
  proxy:
    prober: http
    timeout: 5s
    http: {{preferred_ip_protocol: ip4, proxy_url: 'http://{fixture}'}}
"
    );
    let blackbox = support::Exporter::Blackbox.start(&config, &dir);
    let netdiag = support::Exporter::netdiag().start(&config, &dir);
    let mut cases: Vec<(&str, String)> = Vec::new();
    for enc in ["identity", "none", "xxx", "br", "gzip", "deflate"] {
        cases.push(("plain", format!("/enc/{enc}")));
    }
    for path in ["/404", "/chunked/110", "/redirect"] {
        cases.push(("plain", path.to_string()));
    }
    for path in ["/len/127", "/len/128", "/len/129", "/chunked/129"] {
        cases.push(("limit", path.to_string()));
    }
    for module in [
        "cookie_matches",
        "cookie_not_matches",
        "missing_allowed",
        "missing",
    ] {
        cases.push((module, "/cookies".to_string()));
    }
    cases.push(("post", "/x".to_string()));
    cases.push(("tls_on_plain", "/x".to_string()));
    let mut failures = Vec::new();
    let proxied = "http://localhost:1/x";
    for (module, path) in cases.iter().chain(&[
        ("proxy_skip", proxied.to_string()),
        ("proxy", proxied.to_string()),
    ]) {
        let target = if path.starts_with("http://") {
            path.clone()
        } else {
            format!("http://{fixture}{path}")
        };
        let reference = blackbox.probe_samples(&target, module);
        let candidate = netdiag.probe_samples(&target, module);
        for d in support::compare(&reference, &candidate, support::DELIBERATE) {
            failures.push(format!("{module} {path}: {d}"));
        }
        // The reference is what the rows above pin (the comparison is over real answers).
        let known = match (*module, path.as_str()) {
            ("limit", "/len/129") => Some((0.0, 129.0, 128.0)),
            ("limit", "/chunked/129") => Some((0.0, -1.0, 128.0)),
            ("plain", "/404") => Some((0.0, 110.0, 110.0)),
            ("plain", "/enc/gzip") => Some((1.0, 110.0, 110.0)),
            ("proxy_skip", _) => Some((1.0, 2.0, 2.0)),
            _ => None,
        };
        if let Some((success, length, body)) = known {
            let got = (
                support::value(&reference, "probe_success"),
                support::value(&reference, "probe_http_content_length"),
                support::value(&reference, "probe_http_uncompressed_body_length"),
            );
            assert_eq!(
                got,
                (Some(success), Some(length), Some(body)),
                "{module} {path}"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
