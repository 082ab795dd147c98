//! Regressions of the fix generator, one per bug found.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_k8s::check::{check, CheckRequest};
use netdiag_k8s::load::Cluster;
use netdiag_k8s::policy::{evaluate, partition, Endpoint, FlowPort};
use std::path::Path;

/// Found by the property test: the destination has no labels, so a plain `matchLabels: {}` fix
/// selected every pod in the namespace and newly isolated `other`, which the deny policy had left
/// alone through `DoesNotExist`.
#[test]
fn fix_for_an_unlabelled_pod_does_not_isolate_its_labelled_neighbours() {
    let yaml = r#"
kind: Pod
metadata: {name: dst, namespace: a}
status: {podIP: 10.0.0.1}
---
kind: Pod
metadata: {name: other, namespace: a, labels: {app: other}}
status: {podIP: 10.0.0.2}
---
kind: Pod
metadata: {name: src, namespace: a, labels: {app: client}}
status: {podIP: 10.0.0.3}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-unlabelled, namespace: a}
spec: {podSelector: {matchExpressions: [{key: app, operator: DoesNotExist}]}}
"#;
    let mut c = Cluster::default();
    c.load_str(Path::new("r.yaml"), yaml).unwrap();
    let req = CheckRequest {
        from: "a/src".into(),
        to: "a/dst".into(),
        port: "80".into(),
        protocol: "TCP".into(),
    };
    let r = check(&c, &req).unwrap();
    assert_eq!(r.verdict.cause.code(), "netpol_ingress_denied");
    let m = &r.verdict.fix.manifests[0];
    assert_eq!(
        m["spec"]["podSelector"]["matchExpressions"][0],
        serde_json::json!({"key": "app", "operator": "DoesNotExist"})
    );
    let text = serde_json::to_string(m).unwrap();
    c.load_str(Path::new("fix.json"), &text).unwrap();
    let (valid, _) = partition(&c);
    let flow = FlowPort {
        port: 81,
        protocol: "TCP".into(),
    };
    let other = Endpoint::Pod(&c.pods[1]);
    let src = Endpoint::Pod(&c.pods[2]);
    assert!(
        evaluate(&c, &valid, &src, &other, &flow).allowed(),
        "`other` must stay unisolated"
    );
    assert!(check(&c, &req).unwrap().verdict.allowed);
}
