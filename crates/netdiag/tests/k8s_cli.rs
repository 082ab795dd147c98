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

fn matrix(args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("netdiag")
        .unwrap()
        .args(["k8s", "matrix"])
        .args(args)
        .assert()
}

#[test]
fn matrix_json_names_classes_ports_and_cells() {
    let out = matrix(&["--manifests", FIXTURES, "--format", "json"]).code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["schema"], "netdiag.k8s.matrix/v1");
    let class = |pod: &str| {
        v["classes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["pods"].as_array().unwrap().iter().any(|p| p == pod))
            .unwrap()["id"]
            .clone()
    };
    let (frontend, api, db) = (class("frontend"), class("api"), class("db"));
    let row = |port: u64| {
        v["matrix"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["from"] == frontend && r["port"] == port && r["protocol"] == "TCP")
            .unwrap()
            .clone()
    };
    // web/frontend -> shop/api on its named port http (8080) is allowed, shop/db is not.
    let r = row(8080);
    assert!(r["allowed"].as_array().unwrap().contains(&api));
    assert!(!r["allowed"].as_array().unwrap().contains(&db));
    assert_eq!(r["rest"], "both");
    assert_eq!(v["invalid_policies"][0]["policy"], "shop/broken-range");
}

#[test]
fn matrix_table_has_a_legend_and_marks() {
    matrix(&["--manifests", FIXTURES])
        .code(0)
        .stdout(predicates::str::contains("Classes:"))
        .stdout(predicates::str::contains("TCP/8080"))
        .stdout(predicates::str::contains("✓"))
        .stdout(predicates::str::contains("frontend"));
    matrix(&["--manifests", FIXTURES, "--format", "markdown"])
        .code(0)
        .stdout(predicates::str::contains("### TCP/8080"));
}

#[test]
fn matrix_bad_input_exits_2_with_one_line() {
    let out = matrix(&["--manifests", "/nonexistent/cluster.yaml"]).code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/cluster.yaml"));
}

#[test]
fn an_endless_manifest_is_bad_input_not_a_hang() {
    let out = k8s(&[
        "--manifests",
        "/dev/zero",
        "--from",
        "a/b",
        "--to",
        "c/d",
        "--port",
        "80",
    ])
    .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/dev/zero"), "{err}");
}
