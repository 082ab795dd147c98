//! `netdiag k8s check --kubeconfig`: the live read against a fake API server on loopback that
//! serves recorded list responses (`tests/fixtures/k8s_live/*.json`, the shape of
//! `kubectl get --raw /api/v1/pods`: a `PodList` whose items carry no `kind`), one of them split
//! into two pages by a `continue` token.
//!
//! The verdict read live must equal the verdict read from the same objects as a manifest file;
//! the server records every request so the tests can assert that netdiag only ever sends `GET`,
//! and that the bearer token it was given never shows up in netdiag's output. Loopback only; the
//! server thread stops on drop or, at the latest, after [`SERVER_LIFETIME`].
#![allow(clippy::unwrap_used, missing_docs)]

use assert_cmd::Command;
use netdiag_testnet::{Pki, Signer, TempDir, Validity};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/k8s_live");
const TOKEN: &str = "netdiag-test-token-4f1c2e9a7b";
const SERVER_LIFETIME: Duration = Duration::from_secs(60);
const MAX_CONNECTIONS: usize = 500;
const MAX_HEAD: usize = 64 * 1024;

/// How the fake API server behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Every list answers.
    Healthy,
    /// `list networkpolicies` is forbidden (403), as for a service account without the rule.
    ForbidNetworkPolicies,
}

struct ApiServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    fn start(mode: Mode, tls: Option<Arc<rustls::ServerConfig>>) -> ApiServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut served = 0;
            while !halt.load(Ordering::Relaxed)
                && start.elapsed() < SERVER_LIFETIME
                && served < MAX_CONNECTIONS
            {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        serve(stream, mode, tls.clone(), &log);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ApiServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request per connection (`Connection: close`), every read bounded by a timeout.
fn serve(
    stream: TcpStream,
    mode: Mode,
    tls: Option<Arc<rustls::ServerConfig>>,
    log: &Mutex<Vec<String>>,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    match tls {
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(config) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            exchange(&mut tls, mode, log);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        None => {
            let mut plain = stream;
            exchange(&mut plain, mode, log);
        }
    }
}

fn exchange(stream: &mut impl ReadWrite, mode: Mode, log: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default().to_string();
    let authorized = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("authorization") && v.trim() == format!("Bearer {TOKEN}")
        })
    });
    log.lock().unwrap().push(request_line.clone());
    let target = request_line.split(' ').nth(1).unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (code, file) = if !authorized {
        (401, "unauthorized.json")
    } else {
        match path {
            "/api/v1/namespaces" => (200, "namespaces.json"),
            "/api/v1/pods" if query.contains("continue=") => (200, "pods-page2.json"),
            "/api/v1/pods" => (200, "pods-page1.json"),
            "/api/v1/nodes" => (200, "nodes.json"),
            "/api/v1/services" => (200, "services.json"),
            "/apis/discovery.k8s.io/v1/endpointslices" => (200, "endpointslices.json"),
            "/apis/networking.k8s.io/v1/networkpolicies" if mode == Mode::ForbidNetworkPolicies => {
                (403, "forbidden-networkpolicies.json")
            }
            "/apis/networking.k8s.io/v1/networkpolicies" => (200, "networkpolicies.json"),
            _ => (404, ""),
        }
    };
    let body = if file.is_empty() {
        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#
            .to_string()
    } else {
        std::fs::read_to_string(Path::new(FIXTURES).join(file)).unwrap()
    };
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        _ => "Not Found",
    };
    let response = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A kubeconfig with two contexts on the same server: `live` (the default) with the right token
/// and `stale` with a wrong one.
fn kubeconfig(dir: &TempDir, server: &str, ca: Option<&Path>) -> PathBuf {
    let ca = ca
        .map(|p| format!("\n    certificate-authority: {}", p.display()))
        .unwrap_or_default();
    dir.write(
        "kubeconfig",
        &format!(
            "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {server}{ca}
users:
- name: reader
  user:
    token: {TOKEN}
- name: stale
  user:
    token: expired-token-0000
contexts:
- name: live
  context: {{cluster: fake, user: reader}}
- name: stale
  context: {{cluster: fake, user: stale}}
current-context: live
"
        ),
    )
    .unwrap()
}

/// The recorded responses turned into one `kind: List` manifest, each item given the `kind` and
/// `apiVersion` of its list: the same objects as `kubectl get -o json` would print them.
fn equivalent_manifests(dir: &TempDir) -> PathBuf {
    let mut items = Vec::new();
    for file in [
        "namespaces.json",
        "pods-page1.json",
        "pods-page2.json",
        "nodes.json",
        "services.json",
        "endpointslices.json",
        "networkpolicies.json",
    ] {
        let list: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(Path::new(FIXTURES).join(file)).unwrap())
                .unwrap();
        let kind = list["kind"].as_str().unwrap().trim_end_matches("List");
        for mut item in list["items"].as_array().unwrap().clone() {
            item["kind"] = kind.into();
            item["apiVersion"] = list["apiVersion"].clone();
            items.push(item);
        }
    }
    let manifest = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    dir.write("cluster.json", &manifest.to_string()).unwrap()
}

fn netdiag(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("netdiag")
        .unwrap()
        .args(["k8s", "check"])
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The flows compared live vs. manifests: denied (ns a is not a frontend), allowed (ns c is),
/// through the Service, and by port name.
const FLOWS: [[&str; 3]; 4] = [
    ["a/client", "b/web", "80"],
    ["c/shop", "b/web", "80"],
    ["a/client", "service:b/web", "80"],
    ["c/shop", "b/web", "http"],
];

#[test]
fn live_verdict_equals_the_manifest_verdict_and_only_gets_are_sent() {
    let server = ApiServer::start(Mode::Healthy, None);
    let dir = TempDir::new("k8s-live").unwrap();
    let config = kubeconfig(&dir, &format!("http://127.0.0.1:{}", server.port), None);
    let manifests = equivalent_manifests(&dir);
    let mut codes = Vec::new();
    for [from, to, port] in FLOWS {
        for format in ["json", "table"] {
            let flow = [
                "--from", from, "--to", to, "--port", port, "--format", format,
            ];
            let live = netdiag(&[&["--kubeconfig", config.to_str().unwrap()][..], &flow].concat());
            let offline =
                netdiag(&[&["--manifests", manifests.to_str().unwrap()][..], &flow].concat());
            let ((live_out, live_err), (off_out, off_err)) = (text(&live), text(&offline));
            assert_eq!(
                live.status.code(),
                offline.status.code(),
                "{from} -> {to}:{port}: live stderr {live_err}, manifests stderr {off_err}"
            );
            assert_eq!(live_out, off_out, "{from} -> {to}:{port} ({format})");
            assert!(!live_out.contains(TOKEN) && !live_err.contains(TOKEN));
            codes.push(live.status.code());
        }
    }
    // The flows really differ (a denial and an allow), so equality above is not vacuous.
    assert_eq!(
        codes,
        [1, 1, 0, 0, 1, 1, 0, 0].map(Some).to_vec(),
        "exit codes per flow"
    );
    let requests = server.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert!(r.starts_with("GET "), "a non-GET request was sent: {r}");
        assert!(r.contains("limit=500"), "unpaginated list: {r}");
    }
    // Both pages of pods were read, with the server's continue token, on every run.
    let continued = requests
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/pods?") && r.contains("continue=eyJ2Ijo"))
        .count();
    assert_eq!(continued, FLOWS.len() * 2, "{requests:#?}");
    assert_eq!(requests.len(), FLOWS.len() * 2 * 7, "{requests:#?}");
}

#[test]
fn forbidden_list_names_the_resource_and_the_rbac_rule() {
    let server = ApiServer::start(Mode::ForbidNetworkPolicies, None);
    let dir = TempDir::new("k8s-live-403").unwrap();
    let config = kubeconfig(&dir, &format!("http://127.0.0.1:{}", server.port), None);
    let out = netdiag(&[
        "--kubeconfig",
        config.to_str().unwrap(),
        "--from",
        "a/client",
        "--to",
        "b/web",
        "--port",
        "80",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(
            "cannot list networkpolicies at cluster scope: 403 Forbidden; needs list on networking.k8s.io/networkpolicies"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("system:serviceaccount:a:netdiag"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN));
}

#[test]
fn rejected_credentials_are_a_401_naming_the_context() {
    let server = ApiServer::start(Mode::Healthy, None);
    let dir = TempDir::new("k8s-live-401").unwrap();
    let config = kubeconfig(&dir, &format!("http://127.0.0.1:{}", server.port), None);
    let out = netdiag(&[
        "--kubeconfig",
        config.to_str().unwrap(),
        "--context",
        "stale",
        "--from",
        "a/client",
        "--to",
        "b/web",
        "--port",
        "80",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot list namespaces: 401 Unauthorized") && stderr.contains("\"stale\""),
        "{stderr}"
    );
    assert!(!stderr.contains("expired-token-0000") && !stderr.contains(TOKEN));
}

#[test]
fn tls_api_server_with_the_kubeconfig_ca_is_read_with_ring() {
    let dir = TempDir::new("k8s-live-tls").unwrap();
    let pki = Pki::new(dir.path()).unwrap();
    let leaf = pki
        .leaf(
            "apiserver",
            &["127.0.0.1"],
            Validity::Current,
            Signer::Intermediate,
        )
        .unwrap();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&leaf.full_chain)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&leaf.key).unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let server = ApiServer::start(Mode::Healthy, Some(Arc::new(tls)));
    let config = kubeconfig(
        &dir,
        &format!("https://127.0.0.1:{}", server.port),
        Some(pki.root_pem()),
    );
    let out = netdiag(&[
        "--kubeconfig",
        config.to_str().unwrap(),
        "--from",
        "a/client",
        "--to",
        "b/web",
        "--port",
        "80",
        "--format",
        "json",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["verdict"]["cause"], "netpol_ingress_denied", "{stdout}");
    assert!(server.requests().iter().all(|r| r.starts_with("GET ")));
}

#[test]
fn tls_error_is_one_line_exit_2_not_a_crypto_provider_panic() {
    // A plain-HTTP server behind an https:// URL: the TLS handshake fails.
    let server = ApiServer::start(Mode::Healthy, None);
    let dir = TempDir::new("k8s-live-tls-error").unwrap();
    let config = kubeconfig(&dir, &format!("https://127.0.0.1:{}", server.port), None);
    let out = netdiag(&[
        "--kubeconfig",
        config.to_str().unwrap(),
        "--from",
        "a/client",
        "--to",
        "b/web",
        "--port",
        "80",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr
            .starts_with("netdiag: cannot list namespaces from the API server https://127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("CryptoProvider") && !stderr.contains("internal error"),
        "{stderr}"
    );
}

#[test]
fn bad_kubeconfigs_and_unreachable_servers_are_one_line_exit_2() {
    let dir = TempDir::new("k8s-live-bad").unwrap();
    // A port nothing listens on (bound, then released): connection refused on loopback.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = kubeconfig(&dir, &format!("http://127.0.0.1:{port}"), None);
    // A syntax error on the line that holds the token: the message must not quote it.
    let broken = dir
        .write(
            "broken",
            &format!("users:\n- name: u\n  user: {{token: {TOKEN}]\n"),
        )
        .unwrap();
    let flow = ["--from", "a/client", "--to", "b/web", "--port", "80"];
    let cases: [(Vec<&str>, &str); 5] = [
        (
            vec!["--kubeconfig", config.to_str().unwrap()],
            "Connection refused",
        ),
        (
            vec![
                "--kubeconfig",
                config.to_str().unwrap(),
                "--context",
                "nope",
            ],
            "no context \"nope\" (contexts: live, stale)",
        ),
        (vec!["--kubeconfig", broken.to_str().unwrap()], "kubeconfig"),
        (
            vec!["--kubeconfig", "/nonexistent/kubeconfig"],
            "/nonexistent/kubeconfig",
        ),
        (vec![], "give --manifests PATH... or --kubeconfig FILE"),
    ];
    for (source, expected) in cases {
        let mut cmd = Command::cargo_bin("netdiag").unwrap();
        cmd.args(["k8s", "check"]).args(&source).args(flow);
        // Not in a pod, whatever the machine running the tests is.
        cmd.env_remove("KUBERNETES_SERVICE_HOST");
        let out = cmd.timeout(Duration::from_secs(60)).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{source:?}: {stderr}");
        assert!(stdout.is_empty(), "{source:?}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{source:?}: {stderr}");
        assert!(stderr.contains(expected), "{source:?}: {stderr}");
        assert!(!stderr.contains(TOKEN), "{source:?}: {stderr}");
    }
}

#[test]
fn live_matrix_equals_the_manifest_matrix() {
    let server = ApiServer::start(Mode::Healthy, None);
    let dir = TempDir::new("k8s-live-matrix").unwrap();
    let config = kubeconfig(&dir, &format!("http://127.0.0.1:{}", server.port), None);
    let manifests = equivalent_manifests(&dir);
    let run = |source: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_netdiag"))
            .args(["k8s", "matrix", "--format", "json"])
            .args(source)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let live = run(&["--kubeconfig", config.to_str().unwrap()]);
    let offline = run(&["--manifests", manifests.to_str().unwrap()]);
    assert_eq!(live, offline);
    assert!(live.contains("netdiag.k8s.matrix/v1"));
    assert!(server.requests().iter().all(|r| r.starts_with("GET ")));
}
