//! `netdiag fleet report`'s command line: bad input is one line and exit 2, a Prometheus that
//! cannot be read is exit 3 naming it, credentials in the URL never show. Loopback only (a closed
//! port on 127.0.0.1 for the unreachable server).
#![allow(clippy::unwrap_used, missing_docs)]

use assert_cmd::Command;

fn fleet(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("netdiag")
        .unwrap()
        .args(["fleet", "report"])
        .args(args)
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let cases: [&[&str]; 8] = [
        &["--prometheus", "prometheus:9090"],
        &["--prometheus", "http://"],
        &["--prometheus", "http://127.0.0.1:9090/?x=1"],
        &["--prometheus", "http://127.0.0.1:9090", "--since", "soon"],
        &["--prometheus", "http://127.0.0.1:9090", "--since", "1s"],
        &[
            "--prometheus",
            "http://127.0.0.1:9090",
            "--selector",
            "job}",
        ],
        &["--prometheus", "http://127.0.0.1:9090", "--format", "xml"],
        &[
            "--prometheus",
            "http://127.0.0.1:9090",
            "--selector",
            "job=\"a\"\n",
        ],
    ];
    for args in cases {
        let (code, stdout, stderr) = fleet(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(!stderr.trim().is_empty(), "{args:?}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn since_takes_prometheus_durations() {
    // Accepted durations get as far as Prometheus (a closed port: exit 3); refused ones are 2.
    let url = format!("http://127.0.0.1:{}", closed_port());
    for since in ["15m", "1h", "1h30m", "2d"] {
        let (code, _, stderr) = fleet(&["--prometheus", &url, "--since", since]);
        assert_eq!(code, 3, "{since}: {stderr}");
    }
    for since in ["15", "1x", "32d", "30s"] {
        let (code, _, stderr) = fleet(&["--prometheus", &url, "--since", since]);
        assert_eq!(code, 2, "{since}: {stderr}");
    }
}

#[test]
fn an_unreachable_prometheus_is_exit_3_named_without_credentials() {
    let url = format!("http://ops:hunter2@127.0.0.1:{}", closed_port());
    let (code, stdout, stderr) = fleet(&["--prometheus", &url, "--timeout", "3s"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("cannot read Prometheus at http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
