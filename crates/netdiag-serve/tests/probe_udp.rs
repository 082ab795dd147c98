//! The udp prober against a loopback echo responder, a closed port and a silent socket.

#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_core::cause::Cause;
use netdiag_serve::config;
use netdiag_serve::probers::{self, ProbeOutcome, ProbeRequest};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn run(udp_yaml: &str, target: &str, timeout: Duration) -> ProbeOutcome {
    let text = format!("modules:\n  m:\n    prober: udp\n    udp:\n{udp_yaml}");
    let cfg = config::parse(&text).unwrap();
    let req = ProbeRequest {
        target,
        module_name: "m",
        module: &cfg.modules["m"],
        hostname: None,
        timeout,
        cert_series_on_failure: true,
    };
    probers::probe(&req)
}

fn cause(o: &ProbeOutcome, c: Cause) -> Option<f64> {
    o.metrics.value(
        "probe_failure_info",
        &[("layer", c.layer_name()), ("cause", c.code())],
    )
}

#[test]
fn echo_reply_expect_closed_and_silent() {
    let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
    echo.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let target = echo.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        for _ in 0..2 {
            if let Ok((n, peer)) = echo.recv_from(&mut buf) {
                let mut reply = b"pong:".to_vec();
                reply.extend_from_slice(&buf[..n]);
                let _ = echo.send_to(&reply, peer);
            }
        }
    });
    let ok = run(
        "      preferred_ip_protocol: ip4\n      query: ping\n      expect: '^pong:ping$'\n",
        &target,
        Duration::from_secs(2),
    );
    assert!(ok.success, "{:?}", ok.log);
    assert_eq!(ok.metrics.value("probe_udp_reply_bytes", &[]), Some(9.0));
    assert_eq!(
        ok.metrics.value("probe_failed_due_to_regex", &[]),
        Some(0.0)
    );
    let mismatch = run(
        "      preferred_ip_protocol: ip4\n      query_hex: '00ff'\n      expect: '^nope'\n",
        &target,
        Duration::from_secs(2),
    );
    assert!(!mismatch.success);
    assert_eq!(
        mismatch.metrics.value("probe_failed_due_to_regex", &[]),
        Some(1.0)
    );
    server.join().unwrap();

    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().to_string()
    };
    let o = run("      query: x\n", &closed, Duration::from_secs(2));
    assert!(!o.success);
    assert_eq!(
        cause(&o, Cause::UdpPortUnreachable),
        Some(1.0),
        "{:?}",
        o.log
    );

    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let o = run(
        "      query: x\n",
        &silent.local_addr().unwrap().to_string(),
        Duration::from_millis(300),
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!o.success);
    assert_eq!(cause(&o, Cause::UdpNoResponse), Some(1.0), "{:?}", o.log);

    let bad = run("      query: x\n", "127.0.0.1", Duration::from_secs(1));
    assert!(!bad.success);
    assert!(bad.log.iter().any(|l| l.contains("host:port")));
}
