//! The http prober against local fixtures on 127.0.0.1: plain `std::net` servers and a rustls
//! server with an rcgen certificate, each conformance row of prober-anchors.md §2 a test
//! (`probers::probe` called directly). Every server thread is bounded in time and connections.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use netdiag_core::cause::Cause;
use netdiag_serve::config::{parse, Module};
use netdiag_serve::probers::{probe, ProbeOutcome, ProbeRequest};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Serves up to `max` connections for at most 20 s; `answer(path)` gives the raw response.
fn serve(max: usize, answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(20);
        let mut served = 0;
        while served < max && Instant::now() < until {
            match listener.accept() {
                Ok((mut s, _)) => {
                    served += 1;
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let head = read_head(&mut s);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let _ = s.write_all(&answer(&path));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    addr
}

fn read_head(s: &mut impl Read) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while buf.len() < 16384 && !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn ok(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn module(yaml: &str) -> Module {
    let text = format!("modules:\n  m:\n    prober: http\n    http:\n{yaml}");
    parse(&text).unwrap().modules["m"].clone()
}

fn run(m: &Module, target: &str) -> ProbeOutcome {
    run_with(m, target, true)
}

fn run_with(m: &Module, target: &str, cert_series: bool) -> ProbeOutcome {
    probe(&ProbeRequest {
        target,
        module_name: "m",
        module: m,
        hostname: None,
        timeout: Duration::from_secs(5),
        cert_series_on_failure: cert_series,
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

fn no_failure_info(o: &ProbeOutcome) -> bool {
    o.metrics
        .families()
        .iter()
        .all(|f| f.name != "probe_failure_info")
}

const IPV4: &str = "      preferred_ip_protocol: ip4\n";

#[test]
fn p1_status_codes() {
    for (status, codes, pass) in [
        ("200 OK", "", true),
        ("201 Created", "", true),
        ("299 X", "", true),
        ("300 X", "", false),
        ("404 Not Found", "", false),
        (
            "404 Not Found",
            "      valid_status_codes: [200, 404]\n",
            true,
        ),
        ("200 OK", "      valid_status_codes: [404]\n", false),
    ] {
        let addr = serve(1, move |_| ok(status, "x"));
        let o = run(
            &module(&format!("{IPV4}{codes}")),
            &format!("http://{addr}/"),
        );
        assert_eq!(o.success, pass, "{status} {codes}: {:?}", o.log);
        let code: f64 = status[..3].parse().unwrap();
        assert_eq!(v(&o, "probe_http_status_code"), Some(code));
        assert_eq!(no_failure_info(&o), pass, "{status} {codes}");
        if status.starts_with("404") && !pass {
            assert!(
                cause(&o, "http", Cause::Http4xx),
                "{:?}",
                o.metrics.encode()
            );
        }
    }
}

#[test]
fn p2_http_version_mismatch() {
    let addr = serve(1, |_| ok("200 OK", "x"));
    let m = module(&format!(
        "{IPV4}      valid_http_versions: [\"HTTP/2.0\"]\n"
    ));
    let o = run(&m, &format!("http://{addr}/"));
    assert!(!o.success);
    assert_eq!(v(&o, "probe_http_version"), Some(1.1));
    assert!(cause(&o, "http", Cause::HttpVersionMismatch));
}

#[test]
fn p6_p7_redirects() {
    let addr = serve(2, |path| {
        if path == "/" {
            b"HTTP/1.1 302 Found\r\nLocation: /noredirect\r\nContent-Length: 0\r\n\r\n".to_vec()
        } else {
            ok("200 OK", "done")
        }
    });
    let o = run(&module(IPV4), &format!("http://{addr}/"));
    assert!(o.success, "{:?}", o.log);
    assert_eq!(v(&o, "probe_http_redirects"), Some(1.0));
    let addr = serve(1, |_| {
        b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n".to_vec()
    });
    let m = module(&format!(
        "{IPV4}      follow_redirects: false\n      valid_status_codes: [302]\n"
    ));
    let o = run(&m, &format!("http://{addr}/"));
    assert!(o.success, "{:?}", o.log);
    assert_eq!(v(&o, "probe_http_redirects"), Some(0.0));
}

#[test]
fn p8_redirect_limit() {
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    let addr = serve(20, move |path| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let n: u32 = path.trim_start_matches('/').parse().unwrap_or(0);
        format!(
            "HTTP/1.1 302 Found\r\nLocation: /{}\r\nContent-Length: 0\r\n\r\n",
            n + 1
        )
        .into_bytes()
    });
    let m = Module {
        timeout: None,
        ..module(IPV4)
    };
    let o = probe(&ProbeRequest {
        target: &format!("http://{addr}/"),
        module_name: "m",
        module: &m,
        hostname: None,
        timeout: Duration::from_secs(15),
        cert_series_on_failure: true,
    });
    assert!(!o.success);
    assert_eq!(v(&o, "probe_http_redirects"), Some(11.0));
    assert_eq!(v(&o, "probe_http_status_code"), Some(302.0));
    assert!(cause(&o, "http", Cause::HttpRedirectLoop));
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        11,
        "the 12th hop is never requested"
    );
}

#[test]
fn p10_fail_if_not_ssl() {
    let addr = serve(1, |_| ok("200 OK", "x"));
    let o = run(
        &module(&format!("{IPV4}      fail_if_not_ssl: true\n")),
        &format!("http://{addr}/"),
    );
    assert!(!o.success);
    assert_eq!(v(&o, "probe_http_ssl"), Some(0.0));
    assert!(cause(&o, "http", Cause::HttpNotTls));
}

#[test]
fn p11_body_regexes() {
    for (cfg, pass) in [
        (
            "      fail_if_body_matches_regexp: ['could not connect']\n",
            false,
        ),
        (
            "      fail_if_body_matches_regexp: ['nothing like this']\n",
            true,
        ),
        (
            "      fail_if_body_not_matches_regexp: ['Download the latest']\n",
            true,
        ),
        (
            "      fail_if_body_not_matches_regexp: ['Download the latest', 'nope']\n",
            false,
        ),
    ] {
        let addr = serve(1, |_| {
            ok("200 OK", "Download the latest version; could not connect")
        });
        let o = run(&module(&format!("{IPV4}{cfg}")), &format!("http://{addr}/"));
        assert_eq!(o.success, pass, "{cfg}");
        assert_eq!(
            v(&o, "probe_failed_due_to_regex"),
            Some(if pass { 0.0 } else { 1.0 })
        );
        assert_eq!(v(&o, "probe_http_content_length"), Some(46.0));
        if !pass {
            assert!(cause(&o, "http", Cause::HttpBodyMismatch));
        }
    }
}

#[test]
fn p20_schemes() {
    for target in ["HTTP://{a}/", "{a}", "HtTp://{a}"] {
        let addr = serve(1, |_| ok("200 OK", "x"));
        let t = target.replace("{a}", &addr.to_string());
        let o = run(&module(IPV4), &t);
        assert!(o.success, "{t}: {:?}", o.log);
    }
    let o = run(&module(IPV4), "invalid://127.0.0.1/");
    assert!(!o.success);
    assert!(
        v(&o, "probe_ip_protocol").is_none(),
        "no resolve series for a bad URL"
    );
}

#[test]
fn p21_connection_refused() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = run(&module(IPV4), &format!("http://127.0.0.1:{port}/"));
    assert!(!o.success);
    for name in [
        "probe_http_status_code",
        "probe_http_version",
        "probe_http_content_length",
        "probe_http_ssl",
    ] {
        assert_eq!(v(&o, name), Some(0.0), "{name}");
    }
    for phase in ["connect", "tls", "processing", "transfer", "resolve"] {
        assert!(o
            .metrics
            .value("probe_http_duration_seconds", &[("phase", phase)])
            .is_some());
    }
    assert_eq!(v(&o, "probe_ip_protocol"), Some(4.0));
    assert!(
        cause(&o, "tcp", Cause::TcpRefused),
        "{}",
        o.metrics.encode()
    );
}

// --- TLS ---------------------------------------------------------------------------------------

fn tls_server(max: usize) -> (SocketAddr, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = params.self_signed(&key).unwrap();
    let pem = cert.pem();
    let der = rustls::pki_types::CertificateDer::from(cert.der().to_vec());
    let pk = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key.serialize_der(),
    ));
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![der], pk)
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
                        let head = read_head(&mut tls);
                        if head.is_empty() {
                            return;
                        }
                        let _ = tls.write_all(&ok("200 OK", "secure"));
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (addr, pem)
}

#[test]
fn p14_self_signed_fails_with_cert_series_by_default() {
    let (addr, _) = tls_server(8);
    let target = format!("https://localhost:{}/", addr.port());
    let o = run(&module(IPV4), &target);
    assert!(!o.success);
    assert_eq!(v(&o, "probe_http_ssl"), Some(0.0));
    assert!(
        cause(&o, "tls", Cause::TlsSelfSigned),
        "{}",
        o.metrics.encode()
    );
    assert!(v(&o, "probe_ssl_earliest_cert_expiry").is_some());
    let o = run_with(&module(IPV4), &target, false);
    assert!(
        o.metrics
            .families()
            .iter()
            .all(|f| !f.name.starts_with("probe_ssl_")),
        "blackbox's behaviour when asked"
    );
}

#[test]
fn p15_insecure_skip_verify() {
    let (addr, _) = tls_server(4);
    let m = module(&format!(
        "{IPV4}      tls_config: {{insecure_skip_verify: true}}\n"
    ));
    let o = run(&m, &format!("https://localhost:{}/", addr.port()));
    assert!(o.success, "{:?} {}", o.log, o.metrics.encode());
    assert_eq!(v(&o, "probe_http_ssl"), Some(1.0));
    assert_eq!(
        o.metrics
            .value("probe_tls_version_info", &[("version", "TLS 1.3")]),
        Some(1.0)
    );
    assert_eq!(
        v(&o, "probe_ssl_last_chain_expiry_timestamp_seconds"),
        Some(-62_135_596_800.0)
    );
    let info = o
        .metrics
        .families()
        .iter()
        .find(|f| f.name == "probe_ssl_last_chain_info")
        .expect("chain info");
    let labels = &info.samples[0].0;
    let fp = labels
        .iter()
        .find(|(k, _)| k == "fingerprint_sha256")
        .unwrap();
    assert_eq!(fp.1.len(), 64);
    assert!(labels
        .iter()
        .any(|(k, v)| k == "subjectalternative" && v == "localhost"));
}

#[test]
fn p17_ca_file_and_name() {
    let (addr, pem) = tls_server(8);
    let dir = std::env::temp_dir().join(format!("netdiag-serve-p17-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let m = module(&format!(
        "{IPV4}      tls_config: {{ca_file: '{}'}}\n",
        ca.display()
    ));
    let o = run(&m, &format!("https://localhost:{}/", addr.port()));
    let o_ip = run(&m, &format!("https://127.0.0.1:{}/", addr.port()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.success, "{:?} {}", o.log, o.metrics.encode());
    assert!(v(&o, "probe_ssl_last_chain_expiry_timestamp_seconds").unwrap() > 0.0);
    assert!(!o_ip.success);
    assert!(
        cause(&o_ip, "tls", Cause::TlsNameMismatch),
        "{}",
        o_ip.metrics.encode()
    );
}

#[test]
fn exposition_passes_promtool() {
    let addr = serve(1, |_| ok("200 OK", "x"));
    let o = run(&module(IPV4), &format!("http://{addr}/"));
    let text = o.metrics.encode();
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not installed; skipped");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}{}",
        text,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn netdiag_prober_exports_the_walk() {
    let m = parse("modules:\n  n:\n    prober: netdiag\n")
        .unwrap()
        .modules["n"]
        .clone();
    let addr = serve(1, |_| ok("200 OK", "x"));
    let o = run(&m, &format!("http://{addr}/"));
    assert!(o.success, "{:?}", o.log);
    assert_eq!(
        o.metrics
            .value("netdiag_layer_success", &[("layer", "http")]),
        Some(1.0)
    );
    assert!(no_failure_info(&o));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = run(&m, &format!("http://127.0.0.1:{port}/"));
    assert!(!o.success);
    assert!(cause(&o, "tcp", Cause::TcpRefused));
    assert!(o.report.is_some());
}
