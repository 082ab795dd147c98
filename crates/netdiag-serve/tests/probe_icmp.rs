//! The icmp prober pinging 127.0.0.1 and ::1 through `probers::probe`, blackbox's series
//! checked. As root the datagram socket may be refused by `ping_group_range` and the raw
//! socket is used; unprivileged, with neither allowed, the probe must fail and say why.

#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_serve::config;
use netdiag_serve::probers::{self, ProbeOutcome, ProbeRequest};
use std::time::Duration;

fn run(icmp_yaml: &str, target: &str) -> ProbeOutcome {
    let text = format!("modules:\n  m:\n    prober: icmp\n    icmp:\n{icmp_yaml}");
    let cfg = config::parse(&text).unwrap();
    let req = ProbeRequest {
        target,
        module_name: "m",
        module: &cfg.modules["m"],
        hostname: None,
        timeout: Duration::from_secs(2),
        cert_series_on_failure: true,
    };
    probers::probe(&req)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn check_series(o: &ProbeOutcome, proto: f64) {
    for phase in ["resolve", "setup", "rtt"] {
        assert!(
            o.metrics
                .value("probe_icmp_duration_seconds", &[("phase", phase)])
                .is_some(),
            "{phase}"
        );
    }
    assert_eq!(o.metrics.value("probe_ip_protocol", &[]), Some(proto));
    assert!(o
        .metrics
        .value("probe_dns_lookup_time_seconds", &[])
        .is_some());
    assert!(o.metrics.value("probe_ip_addr_hash", &[]).is_some());
}

fn socket_refused(o: &ProbeOutcome) -> bool {
    o.log
        .iter()
        .any(|l| l.contains("Error opening an ICMP socket"))
}

#[test]
fn pings_loopback_v4_with_hop_limit() {
    let o = run(
        "      preferred_ip_protocol: ip4\n      ttl: 5\n",
        "127.0.0.1",
    );
    check_series(&o, 4.0);
    if !is_root() && socket_refused(&o) {
        let line = o.log.iter().find(|l| l.contains("ICMP socket")).unwrap();
        assert!(
            line.contains("ping_group_range") && line.contains("CAP_NET_RAW"),
            "{line}"
        );
        assert!(!o.success);
        return;
    }
    assert!(o.success, "{:?}", o.log);
    // Loopback: the reply carries the kernel's default TTL (the request's 5 is only the
    // request's).
    let hop = o.metrics.value("probe_icmp_reply_hop_limit", &[]);
    assert!(hop.is_some_and(|h| h > 0.0), "{hop:?} {:?}", o.log);
    assert!(o
        .metrics
        .value("probe_icmp_duration_seconds", &[("phase", "rtt")])
        .is_some_and(|r| r > 0.0));
    assert_eq!(
        o.metrics
            .value("netdiag_layer_success", &[("layer", "route")]),
        Some(1.0)
    );
}

#[test]
fn pings_loopback_v6_and_v4_with_dont_fragment_and_payload() {
    let v6 = run("      payload_size: 200\n", "::1");
    if !socket_refused(&v6) && std::net::UdpSocket::bind("[::1]:0").is_ok() {
        check_series(&v6, 6.0);
        assert!(v6.success, "{:?}", v6.log);
        assert!(v6
            .metrics
            .value("probe_icmp_reply_hop_limit", &[])
            .is_some());
    }
    if is_root() {
        let df = run(
            "      preferred_ip_protocol: ip4\n      dont_fragment: true\n      payload_size: 1000\n",
            "127.0.0.1",
        );
        assert!(df.success, "{:?}", df.log);
    }
}

#[test]
fn unresolvable_target_fails_with_the_resolve_series_at_zero() {
    let o = run("", "name.invalid");
    assert!(!o.success);
    assert_eq!(o.metrics.value("probe_ip_protocol", &[]), Some(0.0));
    assert_eq!(o.metrics.value("probe_ip_addr_hash", &[]), Some(0.0));
    let text = o.metrics.encode();
    assert!(text.contains("probe_icmp_duration_seconds{phase=\"setup\"} 0"));
}

/// Runs `f` on a thread moved into a fresh network namespace (namespaces are per thread on
/// Linux; commands spawned from the thread inherit it), after `setup` commands ran there. The
/// namespace dies with the thread: nothing on the host changes.
#[allow(unsafe_code)]
fn in_fresh_netns<T: Send + 'static>(
    setup: &'static [&'static [&'static str]],
    f: fn() -> T,
) -> Option<T> {
    std::thread::spawn(move || {
        // SAFETY: unshare(2) with CLONE_NEWNET only changes this thread's network namespace;
        // it takes no pointers. Exercised by the two tests below.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        if rc != 0 {
            return None;
        }
        for cmd in setup {
            let ok = std::process::Command::new(cmd[0])
                .args(&cmd[1..])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return None;
            }
        }
        Some(f())
    })
    .join()
    .ok()
    .flatten()
}

fn netns_tests() -> bool {
    is_root() && std::env::var("NETDIAG_NETNS_TESTS").is_ok_and(|v| v == "1")
}

#[test]
fn unprivileged_datagram_socket_where_ping_group_range_allows() {
    if !netns_tests() {
        eprintln!("skipped: needs root and NETDIAG_NETNS_TESTS=1");
        return;
    }
    let o = in_fresh_netns(
        &[
            &["ip", "link", "set", "lo", "up"],
            &["sysctl", "-q", "-w", "net.ipv4.ping_group_range=0 0"],
        ],
        || run("      preferred_ip_protocol: ip4\n", "127.0.0.1"),
    )
    .expect("netns setup");
    assert!(o.success, "{:?}", o.log);
    assert!(
        o.log.iter().any(|l| l.contains("socket=Datagram")),
        "{:?}",
        o.log
    );
    assert!(o.metrics.value("probe_icmp_reply_hop_limit", &[]).is_some());
}

#[test]
fn rejected_echo_names_the_icmp_error() {
    if !netns_tests() {
        eprintln!("skipped: needs root and NETDIAG_NETNS_TESTS=1");
        return;
    }
    let prohibited = in_fresh_netns(
        &[
            &["ip", "link", "set", "lo", "up"],
            &[
                "iptables",
                "-A",
                "INPUT",
                "-p",
                "icmp",
                "--icmp-type",
                "echo-request",
                "-j",
                "REJECT",
                "--reject-with",
                "icmp-admin-prohibited",
            ],
        ],
        || run("      preferred_ip_protocol: ip4\n", "127.0.0.1"),
    )
    .expect("netns setup");
    assert!(!prohibited.success);
    assert!(
        prohibited
            .log
            .iter()
            .any(|l| l.contains("administratively prohibited")),
        "{:?}",
        prohibited.log
    );
    let host = in_fresh_netns(
        &[
            &["ip", "link", "set", "lo", "up"],
            &[
                "iptables",
                "-A",
                "INPUT",
                "-p",
                "icmp",
                "--icmp-type",
                "echo-request",
                "-j",
                "REJECT",
                "--reject-with",
                "icmp-host-unreachable",
            ],
        ],
        || run("      preferred_ip_protocol: ip4\n", "127.0.0.1"),
    )
    .expect("netns setup");
    assert!(!host.success);
    let cause = netdiag_core::cause::Cause::HostUnreachable;
    assert_eq!(
        host.metrics.value(
            "probe_failure_info",
            &[("layer", cause.layer_name()), ("cause", cause.code())]
        ),
        Some(1.0),
        "{:?}",
        host.log
    );
}

/// Set in the child that [`unprivileged_without_ping_group_range_says_why`] starts as nobody.
const CHILD_ENV: &str = "NETDIAG_ICMP_UNPRIVILEGED_CHILD";

#[test]
fn unprivileged_without_ping_group_range_says_why() {
    if std::env::var_os(CHILD_ENV).is_some() {
        // As nobody: the datagram socket is allowed only if nobody's gid is in the range.
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
        let o = run("      preferred_ip_protocol: ip4\n", "127.0.0.1");
        let nums: Vec<u32> = range
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        let allowed = matches!(nums.as_slice(), [lo, hi] if *lo <= 65534 && 65534 <= *hi);
        if allowed {
            assert!(o.success, "{:?}", o.log);
            return;
        }
        assert!(!o.success);
        let line = o
            .log
            .iter()
            .find(|l| l.contains("Error opening an ICMP socket"))
            .unwrap();
        eprintln!("{line}");
        assert!(line.contains("net.ipv4.ping_group_range"), "{line}");
        assert!(line.contains("CAP_NET_RAW"), "{line}");
        assert_eq!(o.metrics.value("probe_success", &[]), Some(0.0));
        return;
    }
    if !netns_tests() {
        eprintln!("skipped: needs root and NETDIAG_NETNS_TESTS=1");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&exe)
        .args([
            "--exact",
            "unprivileged_without_ping_group_range_says_why",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
