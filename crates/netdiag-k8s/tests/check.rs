//! `k8s check` over the fixture manifests: the contract §2 verdict, the renderings, bad input.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_core::render::{Format, Rendered};
use netdiag_core::{Cause, K8sLayer};
use netdiag_k8s::check::{check, CheckError, CheckRequest, DeniedBy};
use netdiag_k8s::load::{Cluster, LoadError};
use std::path::PathBuf;

fn fixtures() -> Cluster {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    Cluster::load(&[dir]).unwrap()
}

fn req(from: &str, to: &str, port: &str, protocol: &str) -> CheckRequest {
    CheckRequest {
        from: from.into(),
        to: to.into(),
        port: port.into(),
        protocol: protocol.into(),
    }
}

#[test]
fn directory_load_reads_yaml_json_and_lists() {
    let c = fixtures();
    assert_eq!(c.pods.len(), 4);
    assert_eq!(c.services.len(), 8);
    assert_eq!(c.endpoint_slices.len(), 1);
    assert_eq!(c.namespaces.len(), 2);
    assert_eq!(c.network_policies.len(), 4);
    assert!(c.notes.iter().any(|n| n.contains("Deployment shop/api")));
}

#[test]
fn allowed_flow_json_matches_the_contract() {
    let r = check(&fixtures(), &req("web/frontend", "shop/api", "http", "TCP")).unwrap();
    assert_eq!(r.exit_code(), 0);
    let v: serde_json::Value = serde_json::from_str(&r.render(Format::Json)).unwrap();
    let verdict = &v["verdict"];
    assert!(verdict["layer"].is_null());
    assert_eq!(verdict["cause"], "ok");
    assert_eq!(verdict["allowed"], true);
    assert!(verdict["denied_by"].is_null());
    assert_eq!(
        verdict["isolating_policies"]["ingress"],
        serde_json::json!(["shop/default-deny", "shop/api-from-web"])
    );
    assert_eq!(
        verdict["allowing_policies"]["ingress"],
        serde_json::json!(["shop/api-from-web"])
    );
    assert_eq!(
        verdict["allowing_policies"]["egress"],
        serde_json::json!(["web/frontend-egress"])
    );
    assert_eq!(verdict["fix"]["manifests"], serde_json::json!([]));
    assert_eq!(verdict["rollback"], serde_json::json!([]));
    assert_eq!(v["invalid_policies"][0]["policy"], "shop/broken-range");
    assert_eq!(v["flow"]["port"], 8080);
}

#[test]
fn both_denied_gets_two_fixes_and_two_rollbacks() {
    let r = check(&fixtures(), &req("web/frontend", "shop/db", "pg", "TCP")).unwrap();
    assert_eq!(r.exit_code(), 1);
    let v = &r.verdict;
    assert_eq!(
        (
            v.layer.map(K8sLayer::name),
            v.cause.code(),
            v.denied_by.map(DeniedBy::name)
        ),
        (Some("networkpolicy"), "netpol_both_denied", Some("both"))
    );
    assert_eq!(v.fix.manifests.len(), 2);
    assert_eq!(
        v.fix.manifests[0]["spec"]["policyTypes"],
        serde_json::json!(["Egress"])
    );
    assert_eq!(
        v.fix.manifests[1]["spec"]["policyTypes"],
        serde_json::json!(["Ingress"])
    );
    let from = &v.fix.manifests[1]["spec"]["ingress"][0]["from"][0];
    assert_eq!(
        from["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "web"
    );
    assert_eq!(from["podSelector"]["matchLabels"]["app"], "frontend");
    assert!(from.get("ipBlock").is_none());
    assert_eq!(
        v.fix.manifests[1]["spec"]["ingress"][0]["ports"],
        serde_json::json!([{"port": 5432, "protocol": "TCP"}])
    );
    assert_eq!(
        v.rollback[1],
        "kubectl delete networkpolicy -n shop netdiag-allow-in-frontend-to-db-tcp-5432"
    );
}

#[test]
fn ingress_only_denial_from_an_outside_address() {
    let r = check(&fixtures(), &req("203.0.113.7", "shop/api", "8080", "TCP")).unwrap();
    assert_eq!(r.verdict.cause.code(), "netpol_ingress_denied");
    assert_eq!(r.verdict.fix.manifests.len(), 1);
    let from = &r.verdict.fix.manifests[0]["spec"]["ingress"][0]["from"][0];
    assert_eq!(from["ipBlock"]["cidr"], "203.0.113.7/32");
}

#[test]
fn egress_only_denial() {
    let r = check(
        &fixtures(),
        &req("web/frontend", "203.0.113.7", "443", "TCP"),
    )
    .unwrap();
    assert_eq!(r.verdict.cause.code(), "netpol_egress_denied");
    assert_eq!(r.verdict.denied_by.map(DeniedBy::name), Some("egress"));
    assert_eq!(r.verdict.fix.manifests[0]["metadata"]["namespace"], "web");
}

#[test]
fn a_pod_ip_is_that_pod() {
    let r = check(
        &fixtures(),
        &req("10.244.1.10", "10.244.1.20", "8080", "TCP"),
    )
    .unwrap();
    assert_eq!(r.flow["from"], "web/frontend");
    assert!(r.verdict.allowed);
}

#[test]
fn table_and_markdown_name_the_policies_and_the_fix() {
    let r = check(&fixtures(), &req("web/frontend", "shop/db", "5432", "TCP")).unwrap();
    let t = r.render(Format::Table);
    assert!(
        t.contains("netpol_both_denied")
            && t.contains("shop/default-deny")
            && t.contains("kubectl delete networkpolicy")
    );
    let m = r.render(Format::Markdown);
    assert!(m.contains("| ingress | shop/default-deny | - |") && m.contains("```yaml"));
}

#[test]
fn bad_input_is_an_error() {
    let c = fixtures();
    assert_eq!(
        check(&c, &req("web/nope", "shop/db", "80", "TCP")).unwrap_err(),
        CheckError::NoSuchPod("web/nope".into())
    );
    assert!(matches!(
        check(&c, &req("service:shop/api", "shop/db", "80", "TCP")),
        Err(CheckError::ServiceSource(_))
    ));
    assert!(matches!(
        check(&c, &req("web/frontend", "service:shop/nope", "80", "TCP")),
        Err(CheckError::Service(_))
    ));
    let e = check(&c, &req("web/frontend", "service:shop/api", "81", "TCP"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("exposes: 80/TCP"), "{e}");
    assert!(matches!(
        check(&c, &req("web/frontend", "shop/db", "nope", "TCP")),
        Err(CheckError::BadPort { .. })
    ));
    assert!(matches!(
        check(&c, &req("web/frontend", "shop/db", "pg", "UDP")),
        Err(CheckError::BadPort { .. })
    ));
    assert!(matches!(
        check(&c, &req("frontend", "shop/db", "80", "TCP")),
        Err(CheckError::BadEndpoint(_))
    ));
    assert!(matches!(
        check(&c, &req("web/frontend", "shop/db", "80", "ICMP")),
        Err(CheckError::BadProtocol(_))
    ));
}

#[test]
fn huge_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("netdiag-k8s-huge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("huge.yaml");
    std::fs::File::create(&f)
        .unwrap()
        .set_len(65 * 1024 * 1024)
        .unwrap(); // sparse
    let e = Cluster::load(std::slice::from_ref(&f)).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(e, LoadError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("huge.yaml"));
}

fn service_cause(
    to: &str,
    port: &str,
    protocol: &str,
) -> (&'static str, Option<&'static str>, String) {
    let r = check(&fixtures(), &req("web/frontend", to, port, protocol)).unwrap();
    (
        r.verdict.cause.code(),
        r.verdict.layer.map(K8sLayer::name),
        r.verdict.summary,
    )
}

#[test]
fn service_forwards_to_the_named_target_port_and_policy_applies_there() {
    let r = check(
        &fixtures(),
        &req("web/frontend", "service:shop/api", "web", "TCP"),
    )
    .unwrap();
    assert!(r.verdict.allowed, "{}", r.verdict.summary);
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["10.244.1.20:8080".to_string()])
    );
    assert_eq!(r.flow["port"], 8080);
    let v: serde_json::Value = serde_json::from_str(&r.render(Format::Json)).unwrap();
    assert_eq!(
        v["verdict"]["forwarded_to"],
        serde_json::json!(["10.244.1.20:8080"])
    );
}

#[test]
fn service_causes() {
    let (cause, layer, summary) = service_cause("service:shop/db", "5432", "TCP");
    assert_eq!(
        (cause, layer),
        ("svc_no_endpoints_selector_mismatch", Some("service"))
    );
    assert!(
        summary.contains("shop/db: app=db (selector wants database)"),
        "{summary}"
    );
    assert_eq!(
        service_cause("service:shop/payments", "443", "TCP").0,
        "svc_externalname_misread"
    );
    assert_eq!(
        service_cause("service:shop/api-grpc", "9000", "TCP").0,
        "svc_named_targetport_missing"
    );
    assert_eq!(
        service_cause("service:shop/api-wrong-port", "80", "TCP").0,
        "svc_targetport_mismatch"
    );
    assert_eq!(
        service_cause("service:shop/dns", "53", "TCP").0,
        "svc_wrong_protocol"
    );
    assert_eq!(
        service_cause("service:shop/worker", "80", "TCP").0,
        "svc_pods_not_ready"
    );
}

/// A targetPort mismatch still forwards: kube-proxy sends the connection to pod:targetPort,
/// where nothing declared listens. The user must see that address, not an empty list.
#[test]
fn targetport_mismatch_still_names_where_kube_proxy_forwards() {
    let r = check(
        &fixtures(),
        &req("web/frontend", "service:shop/api-wrong-port", "80", "TCP"),
    )
    .unwrap();
    assert_eq!(r.verdict.cause, Cause::SvcTargetportMismatch);
    let to = r.verdict.forwarded_to.clone().unwrap_or_default();
    assert!(!to.is_empty(), "forwarded_to is empty");
    assert!(
        to.iter().all(|a| r.verdict.summary.contains(a.as_str())),
        "{} / {to:?}",
        r.verdict.summary
    );
    let v: serde_json::Value = serde_json::from_str(&r.render(Format::Json)).unwrap();
    assert_eq!(v["verdict"]["forwarded_to"], serde_json::json!(to));
    assert!(r.render(Format::Table).contains(to[0].as_str()));
}

#[test]
fn selectorless_service_uses_its_endpoint_slices_and_policy_still_applies() {
    let r = check(
        &fixtures(),
        &req("web/frontend", "service:shop/legacy", "5432", "TCP"),
    )
    .unwrap();
    // The unready 10.9.9.9 is not forwarded to; 10.244.2.30 is the db pod, which default-deny isolates.
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["10.244.2.30:5432".to_string()])
    );
    assert_eq!(r.verdict.cause.code(), "netpol_both_denied");
    assert_eq!(r.verdict.fix.manifests.len(), 2);
}
