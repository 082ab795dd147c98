//! End-to-end tests of the binary on loopback only: exit codes, JSON shape, bad input, the
//! demo and the cause catalogue. They need no root and send nothing off this host.

use assert_cmd::Command;
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

fn netdiag() -> Command {
    Command::cargo_bin("netdiag").expect("binary")
}

/// A resolv.conf pointing at loopback, so no test ever asks a real nameserver.
fn loopback_resolv_conf(dir: &std::path::Path) -> String {
    let p = dir.join("resolv.conf");
    std::fs::write(&p, "nameserver 127.0.0.1\n").expect("write");
    p.to_string_lossy().into_owned()
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("netdiag-it-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("dir");
    d
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn healthy_loopback_tcp_is_exit_0_with_contract_json() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let dir = tempdir("healthy");
    let out = netdiag()
        .args([
            "check",
            &format!("tcp://127.0.0.1:{port}"),
            "--format",
            "json",
            "--resolv-conf",
            &loopback_resolv_conf(&dir),
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = json_of(&out);
    assert_eq!(v["schema"], "netdiag.report/v1");
    assert_eq!(v["target"]["scheme"], "tcp");
    assert_eq!(v["target"]["host"], "127.0.0.1");
    assert_eq!(v["target"]["port"], port);
    assert!(v["verdict"]["layer"].is_null());
    assert_eq!(v["verdict"]["cause"], "ok");
    let layers: Vec<&str> = v["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["layer"].as_str())
        .collect();
    for l in ["resolver", "dns", "route", "tcp"] {
        assert!(layers.contains(&l), "{layers:?}");
    }
    for row in v["layers"].as_array().expect("layers") {
        for key in [
            "layer",
            "test",
            "result",
            "evidence",
            "verdict",
            "cause",
            "duration_ms",
        ] {
            assert!(row.get(key).is_some(), "row lacks {key}: {row}");
        }
    }
}

#[test]
fn refused_loopback_port_is_tcp_refused() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempdir("refused");
    let out = netdiag()
        .args([
            "check",
            &format!("127.0.0.1:{port}"),
            "--format",
            "json",
            "--resolv-conf",
            &loopback_resolv_conf(&dir),
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let v = json_of(&out);
    assert_eq!(v["verdict"]["layer"], "tcp");
    assert_eq!(v["verdict"]["cause"], "tcp_refused");
    assert!(v["verdict"]["fix"]["commands"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
    assert!(v["verdict"]["rollback"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
    assert!(v["verdict"]["runbook"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
}

#[test]
fn closed_udp_port_is_port_unreachable() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempdir("udp");
    let out = netdiag()
        .args([
            "check",
            &format!("udp://127.0.0.1:{port}"),
            "--format",
            "json",
            "--resolv-conf",
            &loopback_resolv_conf(&dir),
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["verdict"]["cause"], "udp_port_unreachable");
}

#[test]
fn silent_port_times_out_within_the_timeout() {
    // A full accept queue makes the kernel drop further SYNs: a DROP without root.
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    sock.listen(0).expect("listen");
    let listener: TcpListener = sock.into();
    let addr = listener.local_addr().expect("addr");
    let _fill: Vec<_> = (0..3)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        })
        .collect();
    let dir = tempdir("silent");
    let start = Instant::now();
    let out = netdiag()
        .args([
            "check",
            &format!("tcp://{addr}"),
            "--timeout",
            "1s",
            "--format",
            "json",
            "--resolv-conf",
            &loopback_resolv_conf(&dir),
        ])
        .output()
        .expect("run");
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["verdict"]["cause"], "tcp_timeout");
    assert!(
        took < Duration::from_millis(1900),
        "took {took:?} with --timeout 1s"
    );
}

#[test]
fn connect_timeout_bounds_the_wait_for_a_silent_port_and_bad_values_exit_2() {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    sock.listen(0).expect("listen");
    let listener: TcpListener = sock.into();
    let addr = listener.local_addr().expect("addr");
    let _fill: Vec<_> = (0..3)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        })
        .collect();
    let dir = tempdir("connect-timeout");
    let start = Instant::now();
    let out = netdiag()
        .args([
            "check",
            &format!("tcp://{addr}"),
            "--connect-timeout",
            "500ms",
            "--format",
            "json",
            "--resolv-conf",
            &loopback_resolv_conf(&dir),
        ])
        .output()
        .expect("run");
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["verdict"]["cause"], "tcp_timeout");
    assert!(took < Duration::from_millis(1500), "took {took:?}");

    assert_bad_input(&["check", "127.0.0.1:80", "--connect-timeout", "0s"]);
    assert_bad_input(&["check", "127.0.0.1:80", "--connect-timeout", "later"]);
    assert_bad_input(&[
        "check",
        "127.0.0.1:80",
        "--connect-timeout",
        "20s",
        "--timeout",
        "10s",
    ]);
}

#[test]
fn formats_render() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempdir("formats");
    let rc = loopback_resolv_conf(&dir);
    let table = netdiag()
        .args(["check", &format!("127.0.0.1:{port}"), "--resolv-conf", &rc])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&table.stdout);
    for col in [
        "Layer", "Test", "Result", "Evidence", "Verdict", "FIX", "ROLLBACK",
    ] {
        assert!(text.contains(col), "table lacks {col}: {text}");
    }
    let md = netdiag()
        .args([
            "check",
            &format!("127.0.0.1:{port}"),
            "--format",
            "markdown",
            "--resolv-conf",
            &rc,
        ])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&md.stdout)
        .contains("| Layer | Test | Result | Evidence | Verdict |"));
}

/// Bad input: exit 2, one line on stderr, nothing on stdout.
fn assert_bad_input(args: &[&str]) {
    let out = netdiag().args(args).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(!stderr.trim().is_empty(), "{args:?}: no message");
}

#[test]
fn bad_targets_exit_2_with_one_line() {
    let long = "a".repeat(10_000);
    for target in [
        "tcp://host:99999",
        "tcp://host:0",
        "http://[::1",
        "",
        "ho st",
        "ftp://host/",
        "tcp://host",
        "münchen.example",
        "\u{202e}evil.example",
        "a..b",
        long.as_str(),
        "999.1.1.1:80",
        "host:port",
    ] {
        let out = netdiag().args(["check", target]).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "target {target:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{target:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn bad_flags_and_files_exit_2() {
    let dir = tempdir("badfiles");
    let binary = dir.join("binary");
    std::fs::write(&binary, [0u8, 1, 2, 255, 254, 0]).expect("write");
    let huge = dir.join("huge");
    std::fs::write(&huge, "nameserver 127.0.0.1\n".repeat(60_000)).expect("write");
    let garbage = dir.join("garbage");
    std::fs::write(&garbage, "hello world\n}{ not a resolver config\n").expect("write");
    let bin = binary.to_string_lossy();
    let big = huge.to_string_lossy();
    let junk = garbage.to_string_lossy();
    assert_bad_input(&[
        "check",
        "127.0.0.1:80",
        "--resolv-conf",
        "/nonexistent/resolv.conf",
    ]);
    assert_bad_input(&["check", "127.0.0.1:80", "--resolv-conf", &bin]);
    assert_bad_input(&["check", "127.0.0.1:80", "--resolv-conf", &big]);
    assert_bad_input(&["check", "127.0.0.1:80", "--resolv-conf", &junk]);
    assert_bad_input(&[
        "check",
        "127.0.0.1:80",
        "--hosts-file",
        "/nonexistent/hosts",
    ]);
    assert_bad_input(&["check", "127.0.0.1:80", "--timeout", "0s"]);
    assert_bad_input(&["check", "127.0.0.1:80", "--timeout", "soon"]);
    assert_bad_input(&["check", "127.0.0.1:80", "--format", "xml"]);
    assert_bad_input(&["check", "127.0.0.1:80", "--cacert", "/nonexistent/ca.pem"]);
    assert_bad_input(&["check", "127.0.0.1:80", "--crlfile", "/nonexistent/crl.pem"]);
    let dir = tempdir("badcrl");
    let not_a_crl = dir.join("not-a-crl.pem");
    std::fs::write(
        &not_a_crl,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let garbage = dir.join("garbage.der");
    std::fs::write(&garbage, [0x30, 0x03, 0x02, 0x01]).unwrap();
    for file in [&not_a_crl, &garbage] {
        assert_bad_input(&["check", "127.0.0.1:80", "--crlfile", file.to_str().unwrap()]);
    }
    assert_bad_input(&["check", "127.0.0.1:80", "-4", "-6"]);
    assert_bad_input(&["check", "[::1]:80", "-4"]);
    assert_bad_input(&["check", "127.0.0.1:80", "--no-such-flag"]);
    assert_bad_input(&["check"]);
    assert_bad_input(&["frobnicate"]);
}

#[test]
fn demo_runs_without_root_or_network_and_self_checks() {
    let out = netdiag()
        .arg("demo")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("each diagnosed as expected"), "{text}");
    let json = netdiag()
        .args(["demo", "--format", "json"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert!(v.as_array().is_some_and(|a| a.len() >= 8));
}

#[test]
fn causes_lists_the_catalogue_and_docs_match() {
    let out = netdiag().arg("causes").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    for code in [
        "resolver_config_invalid",
        "dns_nameserver_unreachable",
        "net_unreachable",
        "tcp_admin_prohibited",
        "listener_bound_to_loopback",
        "udp_no_response",
    ] {
        assert!(text.contains(code), "{code} missing");
    }
    let md = netdiag()
        .args(["causes", "--format", "markdown"])
        .output()
        .expect("run");
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/causes.md"))
            .expect("docs/causes.md");
    assert_eq!(
        String::from_utf8_lossy(&md.stdout),
        docs,
        "docs/causes.md is stale: run `netdiag causes --format markdown > docs/causes.md`"
    );
}

#[test]
fn several_targets_one_document_and_worst_exit_code() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let open = listener.local_addr().expect("addr").port();
    let closed = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempdir("multi");
    let list = dir.join("targets");
    std::fs::write(
        &list,
        format!("# comment\ntcp://127.0.0.1:{open}\n\n127.0.0.1:{closed}   # closed\n"),
    )
    .expect("write");
    let out = netdiag()
        .args([
            "check",
            &format!("tcp://127.0.0.1:{open}"),
            "--targets",
            &list.to_string_lossy(),
            "--format",
            "json",
            "--resolv-conf",
            &loopback_resolv_conf(&dir),
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let v = json_of(&out);
    assert_eq!(v["schema"], "netdiag.reports/v1");
    assert_eq!(v["summary"]["total"], 3);
    assert_eq!(v["summary"]["failed"], 1);
    assert_eq!(v["reports"][2]["verdict"]["cause"], "tcp_refused");
    assert_eq!(v["reports"][0]["verdict"]["cause"], "ok");
    // One bad target in the list stops everything before any probe: exit 2.
    assert_bad_input(&[
        "check",
        &format!("tcp://127.0.0.1:{open}"),
        "tcp://bad:99999",
    ]);
}

/// A tiny HTTP server: `/a` redirects to `/b`, `/b` answers 503. Serves `n` requests, then stops.
fn redirecting_server(n: usize) -> u16 {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 2048];
            let len = conn.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..len]);
            let reply = if head.starts_with("GET /a ") {
                "HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            } else {
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    port
}

#[test]
fn redirects_are_reported_and_followed_only_with_l() {
    let dir = tempdir("redirect");
    let rc = loopback_resolv_conf(&dir);
    let port = redirecting_server(3);
    let url = format!("http://127.0.0.1:{port}/a");
    let out = netdiag()
        .args(["check", &url, "--format", "json", "--resolv-conf", &rc])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let v = json_of(&out);
    assert_eq!(v["redirect"], "/b");
    assert!(v["warnings"]
        .as_array()
        .is_some_and(|w| w.iter().any(|w| w["cause"] == "http_redirect")));
    let out = netdiag()
        .args([
            "check",
            "-L",
            &url,
            "--format",
            "json",
            "--resolv-conf",
            &rc,
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let v = json_of(&out);
    assert_eq!(v["verdict"]["cause"], "http_5xx");
    assert_eq!(
        v["followed"][0],
        format!("{url} -> http://127.0.0.1:{port}/b")
    );
}
