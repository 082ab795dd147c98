//! `netdiag serve` as a process: blackbox's HTTP surface (prober-anchors.md §2 H1–H9, C1),
//! netdiag's safety (allow-list 403, overload 503, basic auth, TLS), reloads (HTTP and SIGHUP),
//! `promtool check metrics`, and a load test. The server binds 127.0.0.1:0 and prints
//! `listening on ADDR`; every request goes to loopback, every wait is bounded, and the process
//! is killed on drop.
//!
//! Tests that need a real prober (the probers are other work on this crate) are ignored with the
//! reason; the rest assert only what the server itself decides.

#![allow(clippy::unwrap_used, missing_docs)] // a test: a failed step is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CONFIG: &str = "modules:
  http_2xx:
    prober: http
  tcp_connect:
    prober: tcp
    timeout: 5s
  t0:
    prober: tcp
  t20:
    prober: tcp
    timeout: 20s
  t5:
    prober: tcp
    timeout: 5s
  t10:
    prober: tcp
    timeout: 10s
  t9_5:
    prober: tcp
    timeout: 9500ms
  http_host:
    prober: http
    timeout: 2s
    http:
      headers:
        host: other.example
";

/// A running `netdiag serve`, killed on drop, with its temporary directory.
struct Server {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "netdiag-serve-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn netdiag() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netdiag"))
}

impl Server {
    fn start(name: &str, config: &str, extra: &[&str]) -> Server {
        Server::start_with(name, config, |_| {
            extra.iter().map(|s| (*s).to_string()).collect()
        })
    }

    /// Starts with extra args computed from the directory (for files written there).
    fn start_with(name: &str, config: &str, extra: impl FnOnce(&Path) -> Vec<String>) -> Server {
        let dir = temp_dir(name);
        std::fs::write(dir.join("blackbox.yml"), config).unwrap();
        let extra = extra(&dir);
        let mut child = netdiag()
            .arg("serve")
            .arg("--config.file")
            .arg(dir.join("blackbox.yml"))
            .args(["--web.listen-address", "127.0.0.1:0"])
            .args(&extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no `listening on` line within 20 s"));
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                break addr.parse().unwrap();
            }
        };
        Server {
            child,
            addr,
            dir,
            stderr: rx,
        }
    }

    fn get(&self, path: &str) -> Reply {
        http(self.addr, "GET", path, &[])
    }

    fn metrics(&self) -> String {
        self.get("/metrics").body
    }
}

/// One HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: String,
    body: String,
}

/// HTTP/1.1 with `Connection: close` over a plain socket (bounded by a 15 s read timeout).
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// The value of an unlabelled or exactly-labelled sample in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn h1_missing_target_is_400() {
    let s = Server::start("h1", CONFIG, &[]);
    let r = s.get("/probe?module=tcp_connect");
    assert_eq!(r.status, 400);
    assert_eq!(r.body, "Target parameter is missing\n");
}

#[test]
fn h2_unknown_module_is_400_and_counted_under_both_names() {
    let s = Server::start("h2", CONFIG, &[]);
    let r = s.get("/probe?module=nosuch&target=127.0.0.1:1");
    assert_eq!(r.status, 400);
    assert_eq!(r.body, "Unknown module \"nosuch\"\n");
    let m = s.metrics();
    assert_eq!(
        sample(&m, "blackbox_module_unknown_total"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(sample(&m, "netdiag_module_unknown_total"), Some(1.0));
}

#[test]
fn h3_no_module_runs_http_2xx() {
    let s = Server::start("h3", CONFIG, &[]);
    let r = s.get("/probe?target=127.0.0.1:1");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r
        .headers
        .contains("content-type: text/plain; version=0.0.4"));
    assert!(sample(&r.body, "probe_success").is_some(), "{}", r.body);
    let m = s.metrics();
    assert!(
        m.contains("netdiag_probes_total{module=\"http_2xx\",result="),
        "{m}"
    );
}

#[test]
fn h5_timeout_vectors_and_a_bad_header() {
    // (module, header, offset, want): blackbox's TestTimeoutIsSetCorrectly.
    let cases: &[(&str, &str, &str, f64)] = &[
        ("t0", "15", "0.5", 14.5),
        ("t0", "15", "0", 15.0),
        ("t20", "15", "0.5", 14.5),
        ("t20", "15", "0", 15.0),
        ("t5", "15", "0", 5.0),
        ("t5", "15", "0.5", 5.0),
        ("t10", "", "0.5", 10.0),
        ("t10", "10", "0.5", 9.5),
        ("t9_5", "", "0.5", 9.5),
        ("t9_5", "", "1", 9.5),
        ("t0", "", "0.5", 119.5),
        ("t0", "", "0", 120.0),
    ];
    for offset in ["0", "0.5", "1"] {
        let s = Server::start("h5", CONFIG, &["--timeout-offset", offset]);
        for &(module, header, _, want) in cases.iter().filter(|c| c.2 == offset) {
            let headers: Vec<(&str, &str)> = if header.is_empty() {
                vec![]
            } else {
                vec![("X-Prometheus-Scrape-Timeout-Seconds", header)]
            };
            let r = http(
                s.addr,
                "GET",
                &format!("/probe?module={module}&target=127.0.0.1:1"),
                &headers,
            );
            assert_eq!(r.status, 200);
            assert_eq!(
                sample(&r.body, "probe_timeout_seconds"),
                Some(want),
                "module {module} header {header:?} offset {offset}"
            );
        }
        if offset == "0.5" {
            let r = http(
                s.addr,
                "GET",
                "/probe?module=t0&target=127.0.0.1:1",
                &[("X-Prometheus-Scrape-Timeout-Seconds", "abc")],
            );
            assert_eq!(r.status, 500, "{r:?}");
            assert!(r.body.contains("Failed to parse timeout"), "{}", r.body);
        }
    }
}

#[test]
fn h8_the_target_is_unescaped_once() {
    let s = Server::start("h8", CONFIG, &[]);
    for raw in [
        "http://127.0.0.1%253A9", // double-encoded ':'
        "http%3A%2F%2F127.0.0.1%3A9",
    ] {
        let r = s.get(&format!("/probe?module=tcp_connect&target={raw}"));
        assert_eq!(r.status, 200);
        // The history keeps the decoded target: /logs finds it under its plain form.
        let logs = s.get("/logs?target=http://127.0.0.1:9&module=tcp_connect");
        assert_eq!(logs.status, 200, "{raw}: {logs:?}");
        assert!(logs.body.starts_with("Logs for the probe:\n"));
    }
}

/// H7: a listener records the Host header it got; the `hostname` parameter sets it, and one
/// that disagrees with the module's own Host header is a 400 (blackbox's setHTTPHost).
#[test]
fn h7_hostname_sets_the_host_header_and_a_conflict_is_400() {
    let s = Server::start("h7", CONFIG, &[]);
    let conflict = s.get("/probe?module=http_host&target=http://127.0.0.1:9/&hostname=foo.example");
    assert_eq!(conflict.status, 400, "{conflict:?}");
    assert!(conflict.body.contains("other.example") && conflict.body.contains("foo.example"));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut host = String::new();
            for _ in 0..64 {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line
                    .strip_prefix("Host: ")
                    .or_else(|| line.strip_prefix("host: "))
                {
                    host = v.trim().to_string();
                }
            }
            let _ = std::io::Write::write_all(
                &mut &stream,
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
            );
            let _ = tx.send(host);
        }
    });
    let r = s.get(&format!(
        "/probe?module=http_2xx&target=http://127.0.0.1:{port}/&hostname=foo.example"
    ));
    assert_eq!(r.status, 200);
    let host = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(host, "foo.example");
    assert!(r.body.contains("probe_success 1"), "{}", r.body);
}

#[test]
fn debug_has_blackbox_sections_and_a_report_section() {
    let s = Server::start("debug", CONFIG, &[]);
    let r = s.get("/probe?module=tcp_connect&target=127.0.0.1:1&debug=true");
    assert_eq!(r.status, 200);
    assert!(r
        .headers
        .contains("content-type: text/plain; charset=utf-8"));
    let b = &r.body;
    let logs = b.find("Logs for the probe:\n").unwrap();
    let metrics = b
        .find("\n\n\nMetrics that would have been returned:\n")
        .unwrap();
    let module = b.find("\n\n\nModule configuration:\n").unwrap();
    let report = b.find("\n\n\nReport:\n").unwrap();
    assert!(logs < metrics && metrics < module && module < report, "{b}");
    assert!(b.contains("# TYPE probe_success gauge"));
    // The history has it, with an id /logs and /probe/{id} answer for.
    let index = s.get("/");
    assert_eq!(index.status, 200);
    assert!(index.body.contains("probe/0"), "{}", index.body);
    assert_eq!(s.get("/logs?id=0").body, r.body);
    assert_eq!(s.get("/probe/0").status, 200);
    assert_eq!(s.get("/probe/999").status, 404);
    assert_eq!(s.get("/logs?id=x").status, 400);
}

#[test]
fn h9_reload_good_bad_and_get() {
    let s = Server::start("h9", CONFIG, &[]);
    let path = s.dir.join("blackbox.yml");
    assert_eq!(http(s.addr, "GET", "/-/reload", &[]).status, 405);
    std::fs::write(&path, format!("{CONFIG}  extra:\n    prober: tcp\n")).unwrap();
    assert_eq!(http(s.addr, "POST", "/-/reload", &[]).status, 200);
    assert_eq!(s.get("/probe?module=extra&target=127.0.0.1:1").status, 200);
    let m = s.metrics();
    assert_eq!(
        sample(&m, "blackbox_exporter_config_last_reload_successful"),
        Some(1.0)
    );
    std::fs::write(
        &path,
        "modules:\n  m:\n    prober: tcp\n    invalid_extra_field: 1\n",
    )
    .unwrap();
    let r = http(s.addr, "POST", "/-/reload", &[]);
    assert_eq!(r.status, 500);
    assert!(
        r.body.starts_with("failed to reload config: "),
        "{}",
        r.body
    );
    assert!(r.body.contains("invalid_extra_field"), "{}", r.body);
    assert_eq!(r.body.lines().count(), 1);
    // The old config stays.
    assert_eq!(s.get("/probe?module=extra&target=127.0.0.1:1").status, 200);
    let m = s.metrics();
    assert_eq!(
        sample(&m, "netdiag_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(
        sample(&m, "blackbox_exporter_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(s.get("/-/healthy").body, "Healthy");
    assert_eq!(s.get("/config").status, 200);
}

#[test]
fn sighup_reloads() {
    let s = Server::start("hup", CONFIG, &[]);
    std::fs::write(
        s.dir.join("blackbox.yml"),
        format!("{CONFIG}  after_hup:\n    prober: tcp\n"),
    )
    .unwrap();
    assert_eq!(
        s.get("/probe?module=after_hup&target=127.0.0.1:1").status,
        400
    );
    let pid = s.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if s.get("/probe?module=after_hup&target=127.0.0.1:1").status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let said: Vec<String> = s.stderr.try_iter().collect();
    assert!(said.iter().any(|l| l.contains("reloaded")), "{said:?}");
}

#[test]
fn c1_bad_config_at_start_is_exit_2_with_one_line() {
    let dir = temp_dir("c1");
    let cases = [
        (
            "unknown.yml",
            "modules:\n  m:\n    prober: http\n    invalid_extra_field: 1\n",
            "invalid_extra_field",
        ),
        (
            "prober.yml",
            "modules:\n  m:\n    prober: nosuch\n",
            "nosuch",
        ),
        ("yaml.yml", "modules: [\n", "error parsing config file"),
        (
            "allow.yml",
            "allow:\n  cidrs: [10.0.0.0/99]\n",
            "10.0.0.0/99",
        ),
        (
            "schedule.yml",
            "schedule:\n  - target: a:1\n    module: none\n    interval: 10s\n",
            "unknown module",
        ),
    ];
    for (file, text, needle) in cases {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        for check in [true, false] {
            let mut cmd = netdiag();
            cmd.arg("serve").arg("--config.file").arg(&path);
            cmd.args(["--web.listen-address", "127.0.0.1:0"]);
            if check {
                cmd.arg("--config.check");
            }
            let out = cmd.output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{file}: {err}");
            assert_eq!(err.lines().count(), 1, "{file}: {err}");
            assert!(err.contains(needle), "{file}: {err}");
        }
    }
    let good = dir.join("good.yml");
    std::fs::write(&good, CONFIG).unwrap();
    let out = netdiag()
        .args(["serve", "--config.check", "--config.file"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let missing = netdiag()
        .args(["serve", "--config.check", "--config.file"])
        .arg(dir.join("missing.yml"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let bad_listen = netdiag()
        .args([
            "serve",
            "--config.check",
            "--web.listen-address",
            "nope",
            "--config.file",
        ])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(bad_listen.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn targets_outside_the_allow_list_are_403_and_counted() {
    let config = format!("{CONFIG}allow:\n  cidrs: [127.0.0.0/8]\n  hosts: ['*.allowed.test']\n");
    let s = Server::start("allow", &config, &[]);
    assert_eq!(
        s.get("/probe?module=tcp_connect&target=127.0.0.1:9").status,
        200
    );
    for outside in ["10.1.2.3:80", "evil.example:80", "http://[::2]/"] {
        let r = s.get(&format!("/probe?module=tcp_connect&target={outside}"));
        assert_eq!(r.status, 403, "{outside}: {r:?}");
    }
    let m = s.metrics();
    assert_eq!(
        sample(&m, "netdiag_probe_refused_total{reason=\"not_allowed\"}"),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "netdiag_probe_refused_total{reason=\"overloaded\"}"),
        Some(0.0)
    );
}

#[test]
fn metrics_pass_promtool() {
    let s = Server::start("promtool", CONFIG, &[]);
    for q in [
        "/probe?module=tcp_connect&target=127.0.0.1:1",
        "/probe?module=t5&target=127.0.0.1:1",
        "/probe?module=nosuch&target=x",
    ] {
        let _ = s.get(q);
    }
    let m = s.metrics();
    for series in [
        "netdiag_build_info{version=",
        "netdiag_config_last_reload_success_timestamp_seconds ",
        "netdiag_probes_in_flight 0",
        "netdiag_probe_duration_seconds_bucket{module=\"t5\",le=\"+Inf\"} 1",
        "netdiag_probe_duration_seconds_count{module=\"tcp_connect\"} 1",
    ] {
        assert!(m.contains(series), "{series} missing:\n{m}");
    }
    for text in [
        m,
        s.get("/probe?module=tcp_connect&target=127.0.0.1:1").body,
    ] {
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool (Debian package prometheus) must be installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A bcrypt hash of `secret` (cost 4), made with the bcrypt crate.
const SECRET_HASH: &str = "$2b$04$0zQhjo8y32uGmQb52DkkcOp0EC.sQV.1wi7BYfmS8BFFHSjyqrbW2";

#[test]
fn basic_auth_401_without_and_200_with() {
    let s = Server::start_with("auth", CONFIG, |dir| {
        let web = dir.join("web.yml");
        std::fs::write(
            &web,
            format!("basic_auth_users:\n  alice: '{SECRET_HASH}'\n"),
        )
        .unwrap();
        vec!["--web.config.file".into(), web.display().to_string()]
    });
    let r = s.get("/metrics");
    assert_eq!(r.status, 401);
    assert!(
        r.headers.contains("www-authenticate: basic"),
        "{}",
        r.headers
    );
    // alice:secret and alice:wrong.
    let ok = http(
        s.addr,
        "GET",
        "/metrics",
        &[("Authorization", "Basic YWxpY2U6c2VjcmV0")],
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    let bad = http(
        s.addr,
        "GET",
        "/metrics",
        &[("Authorization", "Basic YWxpY2U6d3Jvbmc=")],
    );
    assert_eq!(bad.status, 401);
    let probe = http(
        s.addr,
        "GET",
        "/probe?module=tcp_connect&target=127.0.0.1:1",
        &[("Authorization", "Basic YWxpY2U6c2VjcmV0")],
    );
    assert_eq!(probe.status, 200);
}

#[test]
fn tls_with_curl_cacert() {
    let s = Server::start_with("tls", CONFIG, |dir| {
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=netdiag-serve-test",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
        let web = dir.join("web.yml");
        std::fs::write(
            &web,
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
        )
        .unwrap();
        vec!["--web.config.file".into(), web.display().to_string()]
    });
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(s.dir.join("cert.pem"))
        .arg(format!("https://{}/-/healthy", s.addr))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Healthy");
    // Without the CA, curl refuses; plain HTTP gets no HTTP answer.
    let untrusted = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("https://{}/-/healthy", s.addr))
        .output()
        .unwrap();
    assert!(!untrusted.status.success());
    assert_eq!(http(s.addr, "GET", "/-/healthy", &[]).status, 0);
}

#[test]
fn web_config_with_an_unimplemented_key_is_exit_2() {
    let dir = temp_dir("webbad");
    std::fs::write(dir.join("bb.yml"), CONFIG).unwrap();
    std::fs::write(
        dir.join("web.yml"),
        "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n",
    )
    .unwrap();
    let out = netdiag()
        .args(["serve", "--config.check", "--config.file"])
        .arg(dir.join("bb.yml"))
        .arg("--web.config.file")
        .arg(dir.join("web.yml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("client_auth_type is not implemented by netdiag"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// 200 concurrent `/probe` requests on loopback: a healthy listener, a closed port, and (with
/// the allow-list) refused targets. Every answer arrives within its deadline; RSS and timings
/// are printed.
#[test]
fn load_200_concurrent_probes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let healthy = listener.local_addr().unwrap();
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let config = format!("{CONFIG}allow:\n  cidrs: [127.0.0.0/8]\n");
    let s = Server::start(
        "load",
        &config,
        &["--probe.concurrency", "32", "--probe.queue", "512"],
    );
    let rss_before = rss_kib(s.child.id());
    let started = Instant::now();
    let addr = s.addr;
    let handles: Vec<_> = (0..200)
        .map(|i| {
            let target = match i % 3 {
                0 => healthy.to_string(),
                1 => closed.to_string(),
                _ => "10.9.9.9:80".to_string(),
            };
            std::thread::spawn(move || {
                let t = Instant::now();
                let r = http(
                    addr,
                    "GET",
                    &format!("/probe?module=tcp_connect&target={target}"),
                    &[("X-Prometheus-Scrape-Timeout-Seconds", "3")],
                );
                (i, r.status, t.elapsed())
            })
        })
        .collect();
    let mut times = Vec::new();
    for h in handles {
        let (i, status, took) = h.join().unwrap();
        let want = if i % 3 == 2 { 403 } else { 200 };
        assert_eq!(status, want, "request {i}");
        // Deadline: 3 s header - 0.5 s offset, and the module's 5 s: 2.5 s, plus slack.
        assert!(
            took < Duration::from_millis(3500),
            "request {i} took {took:?}"
        );
        times.push(took);
    }
    times.sort();
    let total = started.elapsed();
    let rss_after = rss_kib(s.child.id());
    eprintln!(
        "load: 200 requests in {total:?}; p50 {:?}, p99 {:?}, max {:?}; RSS {rss_before} KiB -> {rss_after} KiB",
        times[100], times[197], times[199]
    );
    let m = s.metrics();
    assert_eq!(sample(&m, "netdiag_probes_in_flight"), Some(0.0), "{m}");
    assert_eq!(
        sample(&m, "netdiag_probe_refused_total{reason=\"not_allowed\"}"),
        Some(66.0)
    );
    drop(listener);
}

/// A TCP listener that accepts and never answers (a slow HTTP server), closed on drop.
fn silent_http() -> (SocketAddr, std::thread::JoinHandle<()>, mpsc::Sender<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    let (tx, rx) = mpsc::channel::<()>();
    let h = std::thread::spawn(move || {
        let mut held = Vec::new();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until && rx.try_recv().is_err() {
            if let Ok((c, _)) = l.accept() {
                held.push(c);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    (addr, h, tx)
}

#[test]
fn h4_scrape_header_1s_offset_half_against_a_slow_server() {
    let (slow, h, stop) = silent_http();
    let s = Server::start("h4", CONFIG, &[]);
    let t = Instant::now();
    let r = http(
        s.addr,
        "GET",
        &format!("/probe?module=http_2xx&target=http://{slow}/"),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "1")],
    );
    let took = t.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(sample(&r.body, "probe_timeout_seconds"), Some(0.5));
    assert_eq!(sample(&r.body, "probe_success"), Some(0.0));
    assert!(took < Duration::from_millis(900), "{took:?}");
    let _ = stop.send(());
    let _ = h.join();
}

#[test]
fn overload_is_503_with_a_tiny_concurrency_limit() {
    let (slow, h, stop) = silent_http();
    let s = Server::start(
        "overload",
        CONFIG,
        &["--probe.concurrency", "1", "--probe.queue", "0"],
    );
    let addr = s.addr;
    let path = format!("/probe?module=http_2xx&target=http://{slow}/");
    let p = path.clone();
    let first = std::thread::spawn(move || {
        http(
            addr,
            "GET",
            &p,
            &[("X-Prometheus-Scrape-Timeout-Seconds", "3")],
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let second = http(
        addr,
        "GET",
        &path,
        &[("X-Prometheus-Scrape-Timeout-Seconds", "3")],
    );
    assert_eq!(second.status, 503, "{second:?}");
    assert_eq!(first.join().unwrap().status, 200);
    let m = s.metrics();
    assert_eq!(
        sample(&m, "netdiag_probe_refused_total{reason=\"overloaded\"}"),
        Some(1.0)
    );
    let _ = stop.send(());
    let _ = h.join();
}

#[test]
fn tcp_connect_to_a_local_listener_succeeds() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = l.local_addr().unwrap();
    let s = Server::start("tcpok", CONFIG, &[]);
    let r = s.get(&format!("/probe?module=tcp_connect&target={target}"));
    assert_eq!(sample(&r.body, "probe_success"), Some(1.0), "{}", r.body);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = s.get(&format!("/probe?module=tcp_connect&target={closed}"));
    assert_eq!(sample(&r.body, "probe_success"), Some(0.0));
    assert!(r.body.contains("probe_failure_info{"), "{}", r.body);
}

#[test]
fn scheduled_targets_appear_on_metrics_with_target_and_module() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = l.local_addr().unwrap();
    let config = format!(
        "{CONFIG}schedule:\n  - target: '{target}'\n    module: tcp_connect\n    interval: 1s\n"
    );
    let s = Server::start("sched", &config, &[]);
    let want = format!("probe_success{{module=\"tcp_connect\",target=\"{target}\"}} 1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.metrics().contains(&want) {
        assert!(Instant::now() < deadline, "{want} not on /metrics");
        std::thread::sleep(Duration::from_millis(100));
    }
}
