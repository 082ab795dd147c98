//! `netdiag k8s check --kubeconfig`: the live read against a fake API server on loopback that
//! serves recorded list responses (`tests/fixtures/k8s_live/*.json`, the shape of
//! `kubectl get --raw /api/v1/pods`: a `PodList` whose items carry no `kind`), one of them split
//! into two pages by a `continue` token.
//!
//! The verdict read live must equal the verdict read from the same objects as a manifest file;
//! the server records every request so the tests can assert that netdiag only ever sends `GET`,
//! and that the bearer token it was given never shows up in netdiag's output. Loopback only; the
//! server (netdiag-testnet's `FakeApiServer`) stops on drop or after its bounded lifetime.
#![allow(clippy::unwrap_used, missing_docs)]

use assert_cmd::Command;
use netdiag_testnet::{api_status, ApiRoutes, FakeApiServer, Pki, Signer, TempDir, Validity};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/k8s_live");
const TOKEN: &str = "netdiag-test-token-4f1c2e9a7b";

/// How the fake API server behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Every list answers.
    Healthy,
    /// `list networkpolicies` is forbidden (403), as for a service account without the rule.
    ForbidNetworkPolicies,
}

/// The fake API server (netdiag-testnet's), answering the recorded lists.
fn start_api(mode: Mode, tls: Option<Arc<rustls::ServerConfig>>) -> FakeApiServer {
    let routes: ApiRoutes = Arc::new(move |path: &str, query: &str| {
        let file = match path {
            "/api/v1/namespaces" => "namespaces.json",
            "/api/v1/pods" if query.contains("continue=") => "pods-page2.json",
            "/api/v1/pods" => "pods-page1.json",
            "/api/v1/nodes" => "nodes.json",
            "/api/v1/services" => "services.json",
            "/apis/discovery.k8s.io/v1/endpointslices" => "endpointslices.json",
            "/apis/networking.k8s.io/v1/networkpolicies" if mode == Mode::ForbidNetworkPolicies => {
                let body = std::fs::read_to_string(
                    Path::new(FIXTURES).join("forbidden-networkpolicies.json"),
                )
                .unwrap();
                return (403, body);
            }
            "/apis/networking.k8s.io/v1/networkpolicies" => "networkpolicies.json",
            _ => return api_status(404, "NotFound", "not found"),
        };
        (
            200,
            std::fs::read_to_string(Path::new(FIXTURES).join(file)).unwrap(),
        )
    });
    FakeApiServer::start(TOKEN, routes, tls).unwrap()
}

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
    let server = start_api(Mode::Healthy, None);
    let dir = TempDir::new("k8s-live").unwrap();
    let config = kubeconfig(&dir, &format!("http://127.0.0.1:{}", server.port()), None);
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
    let server = start_api(Mode::ForbidNetworkPolicies, None);
    let dir = TempDir::new("k8s-live-403").unwrap();
    let config = kubeconfig(&dir, &format!("http://127.0.0.1:{}", server.port()), None);
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
    let server = start_api(Mode::Healthy, None);
    let dir = TempDir::new("k8s-live-401").unwrap();
    let config = kubeconfig(&dir, &format!("http://127.0.0.1:{}", server.port()), None);
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
    let server = start_api(Mode::Healthy, Some(Arc::new(tls)));
    let config = kubeconfig(
        &dir,
        &format!("https://127.0.0.1:{}", server.port()),
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
    let server = start_api(Mode::Healthy, None);
    let dir = TempDir::new("k8s-live-tls-error").unwrap();
    let config = kubeconfig(&dir, &format!("https://127.0.0.1:{}", server.port()), None);
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
    let server = start_api(Mode::Healthy, None);
    let dir = TempDir::new("k8s-live-matrix").unwrap();
    let config = kubeconfig(&dir, &format!("http://127.0.0.1:{}", server.port()), None);
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
