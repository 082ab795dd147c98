//! `netdiag k8s check` end to end: exit codes 0 (allowed), 1 (denied), 2 (bad input).
#![allow(clippy::unwrap_used, missing_docs)]

use assert_cmd::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../netdiag-k8s/tests/fixtures");

fn k8s(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("netdiag")
        .unwrap()
        .args(["k8s", "check", "--manifests", FIXTURES])
        .args(args)
        .assert()
}

#[test]
fn allowed_exits_0() {
    k8s(&[
        "--from",
        "web/frontend",
        "--to",
        "shop/api",
        "--port",
        "http",
    ])
    .code(0);
}

#[test]
fn denied_exits_1_with_json_verdict() {
    let out = k8s(&[
        "--from",
        "web/frontend",
        "--to",
        "shop/db",
        "--port",
        "5432",
        "--format",
        "json",
    ])
    .code(1);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["verdict"]["cause"], "netpol_both_denied");
}

#[test]
fn unknown_pod_exits_2_with_one_line() {
    let out = k8s(&["--from", "web/ghost", "--to", "shop/db", "--port", "5432"]).code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("web/ghost"));
}

#[test]
fn service_destination_is_followed_to_its_pods() {
    k8s(&[
        "--from",
        "web/frontend",
        "--to",
        "service:shop/api",
        "--port",
        "80",
    ])
    .code(0)
    .stdout(predicates::str::contains("10.244.1.20:8080"));
    k8s(&[
        "--from",
        "web/frontend",
        "--to",
        "service:shop/db",
        "--port",
        "5432",
    ])
    .code(1)
    .stdout(predicates::str::contains(
        "svc_no_endpoints_selector_mismatch",
    ));
}
