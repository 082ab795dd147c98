//! The tcp prober's remaining conformance rows of prober-anchors.md §2 (T3, T4, T5, T6, T8, T9),
//! each against a local fixture on loopback, `probers::probe` called directly, with
//! blackbox's own test scenarios (TestTCPConnectionWithTLSAndVerifiedCertificateChain,
//! …QueryResponseStartTLS,
//! …QueryResponseIRC, …QueryResponseMatching/TestProbeExpectInfo, TestTCPConnectionProtocol,
//! TestPrometheusTimeoutTCP). Server threads are bounded in connections and time.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use netdiag_core::cause::Cause;
use netdiag_serve::config::{parse, Module};
use netdiag_serve::probers::common::choose;
use netdiag_serve::probers::{probe, ProbeOutcome, ProbeRequest};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use support::fixtures::{cert_params, days_from_now};

mod support;

fn module(yaml: &str) -> Module {
    let text = format!("modules:\n  m:\n    prober: tcp\n    tcp:\n{yaml}");
    parse(&text).unwrap().modules["m"].clone()
}

fn run_for(m: &Module, target: &str, timeout: Duration) -> ProbeOutcome {
    probe(&ProbeRequest {
        target,
        module_name: "m",
        module: m,
        hostname: None,
        timeout,
        cert_series_on_failure: true,
    })
}

fn run(m: &Module, target: &str) -> ProbeOutcome {
    run_for(m, target, Duration::from_secs(5))
}

fn cause(o: &ProbeOutcome, c: Cause) -> bool {
    o.metrics.value(
        "probe_failure_info",
        &[("layer", "tcp"), ("cause", c.code())],
    ) == Some(1.0)
}

/// Accepts up to `max` connections on `listeners` for at most 20 s, handing each to `handle`.
fn serve_on(
    listeners: Vec<TcpListener>,
    max: usize,
    handle: impl Fn(TcpStream) + Send + Sync + 'static,
) {
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(20);
        let mut served = 0;
        while served < max && Instant::now() < until {
            let mut idle = true;
            for l in &listeners {
                if let Ok((s, _)) = l.accept() {
                    idle = false;
                    served += 1;
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let h = handle.clone();
                    std::thread::spawn(move || h(s));
                }
            }
            if idle {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
}

fn serve(max: usize, handle: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    serve_on(vec![listener], max, handle);
    addr
}

/// Reads one line (bounded by the stream's read timeout).
fn read_line(s: &TcpStream) -> String {
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line
}

const IRC: &str = "      query_response:\n        - send: 'NICK prober'\n        - send: 'USER prober prober prober :prober'\n        - expect: '^:[^ ]+ 001'\n";

#[test]
fn t5_irc_welcome_and_error() {
    for (answer, ok) in [
        (
            ":ircd.localhost 001 prober :Welcome to IRC prober\r\n",
            true,
        ),
        ("ERROR: Your IP address has been blacklisted.\r\n", false),
    ] {
        let addr = serve(4, move |mut s| {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut nick = String::new();
            let mut user = String::new();
            let _ = r.read_line(&mut nick);
            let _ = r.read_line(&mut user);
            if nick.starts_with("NICK ") && user.starts_with("USER ") {
                let _ = s.write_all(answer.as_bytes());
            }
        });
        let o = run(&module(IRC), &addr.to_string());
        assert_eq!(o.success, ok, "{:?}", o.log);
        let regex = if ok { 0.0 } else { 1.0 };
        assert_eq!(
            o.metrics.value("probe_failed_due_to_regex", &[]),
            Some(regex)
        );
        assert_eq!(cause(&o, Cause::TcpExpectMismatch), !ok);
    }
}

#[test]
fn t6_ssh_banner_confirm_and_expect_info() {
    let (tx, rx) = mpsc::channel::<String>();
    let tx = Mutex::new(tx);
    let addr = serve(4, move |mut s| {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_6.9p1 Debian-2\r\n");
        let line = read_line(&s);
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(line);
        }
    });
    let m = module(concat!(
        "      query_response:\n",
        "        - expect: '^SSH-2.0-([^ -]+)(?: (.*))?$'\n",
        "          labels:\n",
        "            - {name: ssh_version, value: '${1}'}\n",
        "            - {name: ssh_comments, value: '${2}'}\n",
        "        - send: 'CONFIRM ${1}'\n",
    ));
    let o = run(&m, &addr.to_string());
    assert!(o.success, "{:?}", o.log);
    // The walk's own connection sends nothing (an empty line); the dialogue's sends CONFIRM.
    let got: Vec<String> = (0..2)
        .filter_map(|_| rx.recv_timeout(Duration::from_secs(2)).ok())
        .collect();
    assert!(
        got.iter().any(|l| l == "CONFIRM OpenSSH_6.9p1\n"),
        "{got:?}"
    );
    let labels = [
        ("ssh_version", "OpenSSH_6.9p1"),
        ("ssh_comments", "Debian-2"),
    ];
    let text = o.metrics.encode();
    assert_eq!(
        o.metrics.value("probe_expect_info", &labels),
        Some(1.0),
        "{text}"
    );
    // Go's client sorts a series' labels by name.
    assert!(
        text.contains(
            "probe_expect_info{ssh_comments=\"Debian-2\",ssh_version=\"OpenSSH_6.9p1\"} 1\n"
        ),
        "{text}"
    );
    // No labels, no series.
    let m = module("      query_response:\n        - expect: '^SSH-2.0-'\n");
    let o = run(&m, &addr.to_string());
    assert!(o.success && !o.metrics.encode().contains("probe_expect_info"));
}

/// A listener on 127.0.0.1 and on ::1 with the same port.
fn dual_stack() -> Option<(Vec<TcpListener>, u16)> {
    for _ in 0..20 {
        let v4 = TcpListener::bind("127.0.0.1:0").ok()?;
        let port = v4.local_addr().ok()?.port();
        if let Ok(v6) = TcpListener::bind(("::1", port)) {
            v4.set_nonblocking(true).ok()?;
            v6.set_nonblocking(true).ok()?;
            return Some((vec![v4, v6], port));
        }
    }
    None
}

#[test]
fn t8_dual_stack_protocol_choice() {
    // blackbox's choice on a dual-stack answer (this machine's localhost is 127.0.0.1 only, so
    // the name's answer is given here as data): ip4 → 4, ip6 → 6, unset (ip6) → 6.
    let both: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    for (preferred, family) in [("ip4", 4), ("ip6", 6), ("", 6)] {
        let m = module(&if preferred.is_empty() {
            "      ip_protocol_fallback: true\n".to_string()
        } else {
            format!("      preferred_ip_protocol: {preferred}\n")
        });
        let prefer_v4 = m.tcp.preferred_ip_protocol == "ip4";
        let ip = choose(&both, prefer_v4, m.tcp.ip_protocol_fallback).unwrap();
        assert_eq!(if ip.is_ipv4() { 4 } else { 6 }, family, "{preferred}");
    }
    // And live, a server on both loopbacks: each family connects and is reported.
    let Some((listeners, port)) = dual_stack() else {
        eprintln!("skipped: no ::1 here");
        return;
    };
    serve_on(listeners, 8, |_s| {});
    for (target, family) in [
        (format!("127.0.0.1:{port}"), 4.0),
        (format!("[::1]:{port}"), 6.0),
    ] {
        for preferred in ["ip4", "ip6"] {
            let m = module(&format!("      preferred_ip_protocol: {preferred}\n"));
            let o = run(&m, &target);
            assert!(o.success, "{target} {preferred} {:?}", o.log);
            assert_eq!(o.metrics.value("probe_ip_protocol", &[]), Some(family));
        }
    }
}

#[test]
fn t9_expect_but_silent_close_fails() {
    let addr = serve(4, drop);
    let m = module("      query_response:\n        - expect: 'SSH-2.0-(OpenSSH_6.9p1) Debian-2'\n");
    let started = Instant::now();
    let o = run_for(&m, &addr.to_string(), Duration::from_secs(2));
    assert!(!o.success, "{:?}", o.log);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        cause(&o, Cause::TcpExpectMismatch),
        "{}",
        o.metrics.encode()
    );
    assert_eq!(o.metrics.value("probe_failed_due_to_regex", &[]), Some(1.0));
    // A server that stays silent and open: the deadline ends the read, not a regex failure.
    let addr = serve(4, |s| {
        let _ = read_line(&s);
    });
    let o = run_for(&m, &addr.to_string(), Duration::from_secs(1));
    assert!(!o.success);
    assert!(cause(&o, Cause::TcpTimeout), "{}", o.metrics.encode());
    assert_eq!(o.metrics.value("probe_failed_due_to_regex", &[]), Some(0.0));
}

#[test]
fn t3_earliest_is_served_and_last_chain_is_best_verified() {
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
    let pk = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        leaf_key.serialize_der(),
    ));
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, pk)
            .unwrap(),
    );
    let addr = serve(8, move |s| {
        let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
            return;
        };
        let mut tls = rustls::StreamOwned::new(conn, s);
        let _ = tls.write_all(b"hello\n");
        let _ = tls.flush();
        std::thread::sleep(Duration::from_millis(200));
    });
    let dir = std::env::temp_dir().join(format!("netdiag-serve-t3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, format!("{}{}", root.pem(), older.pem())).unwrap();
    let m = module(&format!(
        "      preferred_ip_protocol: ip4\n      tls: true\n      tls_config: {{ca_file: '{}'}}\n",
        ca.display()
    ));
    let o = run(&m, &format!("localhost:{}", addr.port()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.success, "{:?} {}", o.log, o.metrics.encode());
    assert_eq!(
        o.metrics.value("probe_ssl_earliest_cert_expiry", &[]),
        Some(older_at as f64)
    );
    assert_eq!(
        o.metrics
            .value("probe_ssl_last_chain_expiry_timestamp_seconds", &[]),
        Some(leaf_at as f64)
    );
}

/// A self-signed `localhost` certificate: its PEM, its NotAfter and a server configuration.
fn localhost_tls() -> (String, i64, Arc<rustls::ServerConfig>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = params.self_signed(&key).unwrap();
    let der = rustls::pki_types::CertificateDer::from(cert.der().to_vec());
    let pk = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![der], pk)
        .unwrap();
    (
        cert.pem(),
        params.not_after.unix_timestamp(),
        Arc::new(config),
    )
}

/// blackbox's SMTP pseudo-server: banner, EHLO, STARTTLS, then EHLO and QUIT over TLS.
fn smtp(mut s: TcpStream, config: &Arc<rustls::ServerConfig>) {
    let _ = s.write_all(b"220 ESMTP StartTLS pseudo-server\r\n");
    if !read_line(&s).starts_with("EHLO") {
        return;
    }
    let _ = s.write_all(b"250-STARTTLS\r\n");
    if !read_line(&s).starts_with("STARTTLS") {
        return;
    }
    let _ = s.write_all(b"220\r\n");
    let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, s);
    let mut r = BufReader::new(&mut tls);
    let mut line = String::new();
    let _ = r.read_line(&mut line);
    if line.starts_with("EHLO") {
        let _ = tls.write_all(b"250-AUTH\r\n250 OK\r\n");
        let _ = tls.flush();
        let mut quit = String::new();
        let _ = BufReader::new(&mut tls).read_line(&mut quit);
    }
}

const SMTP: &str = concat!(
    "      query_response:\n",
    "        - expect: '^220.*ESMTP.*$'\n",
    "        - send: 'EHLO tls.prober'\n",
    "        - expect: '^250-STARTTLS'\n",
    "        - send: 'STARTTLS'\n",
    "        - expect: '^220'\n",
    "        - starttls: true\n",
    "        - send: 'EHLO tls.prober'\n",
    "        - expect: '^250-AUTH'\n",
    "        - send: 'QUIT'\n",
);

#[test]
fn t4_smtp_starttls() {
    let (pem, not_after, config) = localhost_tls();
    let addr = serve(8, move |s| smtp(s, &config));
    let dir = std::env::temp_dir().join(format!("netdiag-serve-t4-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let m = module(&format!(
        "      preferred_ip_protocol: ip4\n      tls_config: {{ca_file: '{}'}}\n{SMTP}",
        ca.display()
    ));
    let o = run(&m, &format!("localhost:{}", addr.port()));
    // Another CA: the handshake fails at tls, naming the untrusted issuer.
    let (other, _, _) = localhost_tls();
    std::fs::write(&ca, other).unwrap();
    let bad = run(&m, &format!("localhost:{}", addr.port()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(o.success, "{:?} {}", o.log, o.metrics.encode());
    assert_eq!(
        o.metrics.value("probe_ssl_earliest_cert_expiry", &[]),
        Some(not_after as f64)
    );
    assert_eq!(
        o.metrics
            .value("probe_ssl_last_chain_expiry_timestamp_seconds", &[]),
        Some(not_after as f64)
    );
    assert_eq!(
        o.metrics
            .value("probe_tls_version_info", &[("version", "TLS 1.3")]),
        Some(1.0),
        "{}",
        o.metrics.encode()
    );
    assert!(!bad.success);
    assert_eq!(
        bad.metrics.value(
            "probe_failure_info",
            &[
                ("layer", "tls"),
                ("cause", Cause::TlsHandshakeFailure.code())
            ]
        ),
        Some(1.0),
        "{}",
        bad.metrics.encode()
    );
}
