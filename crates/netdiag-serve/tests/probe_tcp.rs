//! The tcp prober against local fixtures on 127.0.0.1 (conformance rows T1, T2, T10 and an
//! expect/send dialogue), `probers::probe` called directly. Server threads are bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use netdiag_core::cause::Cause;
use netdiag_serve::config::{parse, Module};
use netdiag_serve::probers::{probe, ProbeOutcome, ProbeRequest};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

fn module(yaml: &str) -> Module {
    let text = format!(
        "modules:\n  m:\n    prober: tcp\n    tcp:\n      preferred_ip_protocol: ip4\n{yaml}"
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

fn cause(o: &ProbeOutcome, layer: &str, c: Cause) -> bool {
    o.metrics.value(
        "probe_failure_info",
        &[("layer", layer), ("cause", c.code())],
    ) == Some(1.0)
}

/// Accepts up to `max` connections for at most 20 s, handing each to `handle`.
fn serve(max: usize, handle: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(20);
        let mut served = 0;
        while served < max && Instant::now() < until {
            match listener.accept() {
                Ok((s, _)) => {
                    served += 1;
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let h = handle.clone();
                    std::thread::spawn(move || h(s));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    addr
}

#[test]
fn t1_connect_and_port_zero() {
    let addr = serve(4, |_s| {});
    let o = run(&module(""), &addr.to_string());
    assert!(o.success, "{:?}", o.log);
    assert_eq!(o.metrics.value("probe_ip_protocol", &[]), Some(4.0));
    assert!(!run(&module(""), "127.0.0.1:0").success);
    assert!(!run(&module(""), "127.0.0.1").success);
}

#[test]
fn t10_refused() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = run(&module(""), &format!("127.0.0.1:{port}"));
    assert!(!o.success);
    for name in [
        "probe_dns_lookup_time_seconds",
        "probe_ip_protocol",
        "probe_ip_addr_hash",
    ] {
        assert!(o.metrics.value(name, &[]).is_some(), "{name}");
    }
    assert_eq!(o.metrics.value("probe_failed_due_to_regex", &[]), Some(0.0));
    assert!(
        cause(&o, "tcp", Cause::TcpRefused),
        "{}",
        o.metrics.encode()
    );
}

#[test]
fn dialogue_expect_and_send() {
    let (tx, rx) = mpsc::channel::<String>();
    let tx = std::sync::Mutex::new(tx);
    let addr = serve(4, move |mut s| {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_6.9p1 Debian-2\r\n");
        let mut line = String::new();
        let _ = BufReader::new(&s).read_line(&mut line);
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(line);
        }
    });
    let m = module(
        "      query_response:\n        - expect: '^SSH-2.0-([^ -]+)(?: (.*))?$'\n        - send: 'CONFIRM ${1}'\n",
    );
    let o = run(&m, &addr.to_string());
    assert!(o.success, "{:?}", o.log);
    // Each connection reports the line it read: the walk's own connect reports "" when it
    // closes, the dialogue's reports what was sent. They may arrive in either order.
    let until = Instant::now() + Duration::from_secs(5);
    let mut got: Vec<String> = Vec::new();
    while !got.iter().any(|l| l == "CONFIRM OpenSSH_6.9p1\n") {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => got.push(line),
            Err(_) => break,
        }
    }
    assert!(
        got.iter().any(|l| l == "CONFIRM OpenSSH_6.9p1\n"),
        "{got:?}"
    );
    // A line that never matches (server closing vs. the deadline) is probe_tcp_rows.rs's T5
    // and T9: their servers' timing is deterministic, this fixture's 5 s read timeout is not.
}

#[test]
fn t2_tls_with_ca_file() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = params.self_signed(&key).unwrap();
    let not_after = params.not_after.unix_timestamp();
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
    let addr = serve(12, move |s| {
        let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
            return;
        };
        let mut tls = rustls::StreamOwned::new(conn, s);
        let _ = tls.write_all(b"hello\n");
        let _ = tls.flush();
        std::thread::sleep(Duration::from_millis(200));
    });
    let dir = std::env::temp_dir().join(format!("netdiag-serve-t2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let tls = format!(
        "      tls: true\n      tls_config: {{ca_file: '{}'",
        ca.display()
    );
    let by_ip = run(
        &module(&format!("{tls}}}\n")),
        &format!("127.0.0.1:{}", addr.port()),
    );
    let by_name = run(
        &module(&format!("{tls}}}\n")),
        &format!("localhost:{}", addr.port()),
    );
    let by_sni = run(
        &module(&format!("{tls}, server_name: localhost}}\n")),
        &format!("127.0.0.1:{}", addr.port()),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!by_ip.success);
    assert!(
        cause(&by_ip, "tls", Cause::TlsNameMismatch),
        "{}",
        by_ip.metrics.encode()
    );
    for o in [&by_name, &by_sni] {
        assert!(o.success, "{:?} {}", o.log, o.metrics.encode());
        assert_eq!(
            o.metrics
                .value("probe_tls_version_info", &[("version", "TLS 1.3")]),
            Some(1.0)
        );
        assert_eq!(
            o.metrics.value("probe_ssl_earliest_cert_expiry", &[]),
            Some(not_after as f64)
        );
    }
}
