//! The status page end to end: the real `netdiag serve` probes a refused and a healthy loopback
//! port through `/probe`, then headless Chromium loads `http://127.0.0.1:PORT/` and the probe
//! page, and the test checks what a person sees (the red tcp/udp cell, the cause in text).
//!
//! Loopback only: the server binds 127.0.0.1:0, the targets are listeners this test opens (and
//! one it closes again, so its port refuses). Every wait is bounded; the server is killed on drop.

#![allow(clippy::unwrap_used)] // a test: a failed step is a failed test

use netdiag_core::cause::Cause;
use netdiag_testnet::{Chromium, Screenshot, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `netdiag serve` on 127.0.0.1:0, killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(config: &std::path::Path) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netdiag"))
            .arg("serve")
            .arg(format!("--config.file={}", config.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Reads until the server exits (the pipe closes), so it never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // `netdiag serve: listening on 127.0.0.1:PORT (http)`
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(text) => text.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("netdiag serve printed no `listening on ADDR` within 20 s");
            }
        };
        Serve { child, addr }
    }

    /// GET `path`, HTTP/1.0 (the server closes the connection), body as text.
    fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1."), "{response}");
        response
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fail_red(rgb: [u8; 3]) -> Option<()> {
    let red = [0xd1, 0x24, 0x2f];
    rgb.iter()
        .zip(red)
        .all(|(a, b)| a.abs_diff(b) <= 6)
        .then_some(())
}

fn has_red_cell(shot: &Screenshot) -> bool {
    (0..shot.height).any(|y| !shot.runs(y, 60, fail_red).is_empty())
}

#[test]
fn status_page_of_a_running_server_in_chromium() {
    let Some(browser) = Chromium::find().unwrap() else {
        assert!(std::env::var_os("CI").is_none(), "CI must install chromium");
        eprintln!("skipped: /usr/bin/chromium is not installed");
        return;
    };
    let dir = TempDir::new("serve-page").unwrap();
    let config = dir
        .write(
            "blackbox.yml",
            "modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 5s\n",
        )
        .unwrap();
    // The kernel completes handshakes into the backlog: a listener nobody accepts on is healthy.
    let healthy = TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let serve = Serve::start(&config);
    let ok = serve.get(&format!(
        "/probe?target={}&module=tcp_connect",
        healthy.local_addr().unwrap()
    ));
    assert!(ok.contains("probe_success 1"), "{ok}");
    let bad = serve.get(&format!("/probe?target={refused}&module=tcp_connect"));
    assert!(bad.contains("probe_success 0"), "{bad}");

    let index = format!("http://{}/", serve.addr);
    let dom = browser.dump_dom(&index).unwrap();
    let code = Cause::TcpRefused.code();
    assert!(dom.contains(&format!("tcp · {code}")), "{dom}");
    assert!(dom.contains("title=\"tcp/udp: fail\">FAIL</td>"), "{dom}");
    assert!(dom.contains("title=\"tcp/udp: pass\">pass</td>"), "{dom}");
    let shot = browser
        .screenshot(&index, &dir.path().join("index.png"))
        .unwrap();
    assert!(shot.file_bytes > 10_000 && shot.distinct_colours() > 20);
    assert!(has_red_cell(&shot), "no red cell on the live index");

    // The newest row is the refused probe; its link opens the full report.
    let at = dom.find("href=\"probe/").unwrap() + "href=\"".len();
    let link = &dom[at..at + dom[at..].find('"').unwrap()];
    let page = format!("http://{}/{link}", serve.addr);
    let dom = browser.dump_dom(&page).unwrap();
    assert!(
        dom.contains(&format!(
            "FAILED at the tcp layer: <span class=\"cause\">{code}</span>"
        )),
        "{dom}"
    );
    assert!(dom.contains("<pre class=\"debug\">"), "{dom}");
    let shot = browser
        .screenshot(&page, &dir.path().join("probe.png"))
        .unwrap();
    assert!(has_red_cell(&shot), "no red verdict line on the probe page");
}
