//! Review regressions of the Kubernetes engine: one test per rule found wrong or untested, each
//! citing the API behaviour it checks.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_k8s::check::{check, CheckRequest, DeniedBy};
use netdiag_k8s::load::Cluster;
use netdiag_k8s::policy::{evaluate, partition, validate, Endpoint, FlowPort};
use std::path::Path;

fn load(yaml: &str) -> Cluster {
    let mut c = Cluster::default();
    c.load_str(Path::new("r.yaml"), yaml).unwrap();
    c
}

fn req(from: &str, to: &str, port: &str, protocol: &str) -> CheckRequest {
    CheckRequest {
        from: from.into(),
        to: to.into(),
        port: port.into(),
        protocol: protocol.into(),
    }
}

fn pod<'a>(c: &'a Cluster, ns: &str, name: &str) -> Endpoint<'a> {
    Endpoint::Pod(
        c.pods
            .iter()
            .find(|p| p.metadata.ns() == ns && p.metadata.name == name)
            .unwrap(),
    )
}

const TWO_PODS: &str = r#"
kind: Pod
metadata: {name: a, namespace: ns, labels: {app: a}}
status: {podIP: 10.0.0.1}
---
kind: Pod
metadata: {name: b, namespace: ns, labels: {app: b}}
status: {podIP: 10.0.0.2}
"#;

// ---- policy.rs ----------------------------------------------------------------------------

/// The API server defaults `policyTypes` when it is empty (`len == 0`), not only when it is
/// missing: `policyTypes: []` is Ingress (+ Egress iff egress rules). It used to isolate nothing.
#[test]
fn explicitly_empty_policy_types_are_defaulted_like_missing_ones() {
    let c = load(&format!(
        "{TWO_PODS}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny, namespace: ns}}\nspec: {{podSelector: {{matchLabels: {{app: b}}}}, policyTypes: []}}\n"
    ));
    let (ok, bad) = partition(&c);
    assert!(bad.is_empty());
    let f = FlowPort {
        port: 80,
        protocol: "TCP".into(),
    };
    let r = evaluate(&c, &ok, &pod(&c, "ns", "a"), &pod(&c, "ns", "b"), &f);
    assert!(!r.ingress.allowed, "policyTypes: [] defaults to [Ingress]");
    assert!(r.egress.allowed);
    assert_eq!(r.ingress.isolating, vec!["ns/deny"]);
}

/// `policyTypes: []` with egress rules defaults to [Ingress, Egress].
#[test]
fn explicitly_empty_policy_types_with_egress_rules_isolate_egress() {
    let c = load(&format!(
        "{TWO_PODS}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: eg, namespace: ns}}\nspec: {{podSelector: {{matchLabels: {{app: a}}}}, policyTypes: [], egress: [{{to: [{{ipBlock: {{cidr: 192.0.2.0/24}}}}]}}]}}\n"
    ));
    let (ok, _) = partition(&c);
    let f = FlowPort {
        port: 80,
        protocol: "TCP".into(),
    };
    let r = evaluate(&c, &ok, &pod(&c, "ns", "a"), &pod(&c, "ns", "b"), &f);
    assert!(!r.egress.allowed);
}

/// IPBlock validation: each `except` must be a *strict* subset of `cidr` (the API server rejects
/// `except` equal to `cidr`).
#[test]
fn ip_block_except_equal_to_cidr_is_invalid() {
    let c = load(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: ns}\nspec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]}]}\n",
    );
    let err = validate(&c.network_policies[0]).unwrap_err();
    assert!(err.contains("except"), "{err}");
    // A strict subset is fine.
    let c = load(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: ns}\nspec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]}]}\n",
    );
    validate(&c.network_policies[0]).unwrap();
}

/// The API server accepts at most two policyTypes.
#[test]
fn more_than_two_policy_types_is_invalid() {
    let c = load(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: ns}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress, Ingress]}\n",
    );
    assert!(validate(&c.network_policies[0]).is_err());
}

/// `except` is not a deny against other peers: another peer that admits the address wins.
#[test]
fn ip_block_except_is_not_a_deny_against_other_peers() {
    let c = load(&format!(
        "{TWO_PODS}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: ns}}\nspec: {{podSelector: {{matchLabels: {{app: b}}}}, ingress: [{{from: [{{ipBlock: {{cidr: 10.0.0.0/24, except: [10.0.0.1/32]}}}}, {{podSelector: {{matchLabels: {{app: a}}}}}}]}}]}}\n"
    ));
    let (ok, _) = partition(&c);
    let f = FlowPort {
        port: 80,
        protocol: "TCP".into(),
    };
    assert!(evaluate(&c, &ok, &pod(&c, "ns", "a"), &pod(&c, "ns", "b"), &f).allowed());
}

// ---- named ports / sidecars ---------------------------------------------------------------

const SIDECAR: &str = r#"
kind: Pod
metadata: {name: client, namespace: ns, labels: {app: client}}
status: {podIP: 10.0.0.9}
---
kind: Pod
metadata: {name: srv, namespace: ns, labels: {app: srv}}
spec:
  containers: [{name: main}]
  initContainers:
  - {name: setup, ports: [{name: setup, containerPort: 7000}]}
  - {name: proxy, restartPolicy: Always, ports: [{name: proxy, containerPort: 15001}]}
status: {podIP: 10.0.0.2}
---
kind: Service
metadata: {name: setup, namespace: ns}
spec: {selector: {app: srv}, ports: [{port: 80, targetPort: setup}]}
---
kind: Service
metadata: {name: proxy, namespace: ns}
spec: {selector: {app: srv}, ports: [{port: 80, targetPort: proxy}]}
"#;

/// A named targetPort resolves on containers and on sidecars (init containers with
/// `restartPolicy: Always`), not on plain init containers, which have exited by then
/// (podutil.FindPort).
#[test]
fn named_target_port_resolves_on_sidecars_but_not_plain_init_containers() {
    let c = load(SIDECAR);
    let r = check(&c, &req("ns/client", "service:ns/proxy", "80", "TCP")).unwrap();
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["10.0.0.2:15001".to_string()])
    );
    let r = check(&c, &req("ns/client", "service:ns/setup", "80", "TCP")).unwrap();
    assert_eq!(r.verdict.cause.code(), "svc_named_targetport_missing");
}

// ---- service.rs ---------------------------------------------------------------------------

fn svc_cluster(pods: &str) -> Cluster {
    load(&format!(
        "kind: Pod\nmetadata: {{name: client, namespace: ns}}\nstatus: {{podIP: 10.0.0.9}}\n---\nkind: Service\nmetadata: {{name: s, namespace: ns}}\nspec: {{selector: {{app: srv}}, ports: [{{port: 80, targetPort: 8080}}]}}\n{pods}"
    ))
}

/// Pods in phase Succeeded/Failed are never endpoints (the EndpointSlice controller skips
/// terminal pods), even with publishNotReadyAddresses.
#[test]
fn terminal_pods_are_not_endpoints() {
    let c = svc_cluster(
        "---\nkind: Pod\nmetadata: {name: done, namespace: ns, labels: {app: srv}}\nstatus: {phase: Succeeded, podIP: 10.0.0.3}\n---\nkind: Pod\nmetadata: {name: dead, namespace: ns, labels: {app: srv}}\nstatus: {phase: Failed, podIP: 10.0.0.4}\n---\nkind: Pod\nmetadata: {name: live, namespace: ns, labels: {app: srv}}\nstatus: {phase: Running, podIP: 10.0.0.5}\n",
    );
    let r = check(&c, &req("ns/client", "service:ns/s", "80", "TCP")).unwrap();
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["10.0.0.5:8080".to_string()])
    );
    let c = svc_cluster(
        "---\nkind: Pod\nmetadata: {name: done, namespace: ns, labels: {app: srv}}\nstatus: {phase: Succeeded, podIP: 10.0.0.3}\n",
    );
    let r = check(&c, &req("ns/client", "service:ns/s", "80", "TCP")).unwrap();
    assert_eq!(r.verdict.cause.code(), "svc_pods_not_ready");
}

/// A pod being deleted (`metadata.deletionTimestamp`) is not ready: not an endpoint unless the
/// Service publishes not-ready addresses.
#[test]
fn terminating_pods_are_not_endpoints() {
    let c = svc_cluster(
        "---\nkind: Pod\nmetadata: {name: going, namespace: ns, labels: {app: srv}, deletionTimestamp: '2026-11-23T10:00:00Z'}\nstatus: {phase: Running, podIP: 10.0.0.3, conditions: [{type: Ready, status: 'True'}]}\n---\nkind: Pod\nmetadata: {name: live, namespace: ns, labels: {app: srv}}\nstatus: {phase: Running, podIP: 10.0.0.5}\n",
    );
    let r = check(&c, &req("ns/client", "service:ns/s", "80", "TCP")).unwrap();
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["10.0.0.5:8080".to_string()])
    );
}

/// kubectl prints an unnamed EndpointSlice port as `name: ""`; it matches the Service's unnamed
/// port.
#[test]
fn endpoint_slice_port_with_empty_name_matches_an_unnamed_service_port() {
    let c = load(
        r#"
kind: Pod
metadata: {name: client, namespace: ns}
status: {podIP: 10.0.0.9}
---
kind: Service
metadata: {name: ext, namespace: ns}
spec: {ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, namespace: ns, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
ports: [{name: "", port: 8080, protocol: TCP}]
endpoints: [{addresses: [192.0.2.10], conditions: {ready: true}}]
"#,
    );
    let r = check(&c, &req("ns/client", "service:ns/ext", "80", "TCP")).unwrap();
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["192.0.2.10:8080".to_string()])
    );
    assert!(r.verdict.allowed);
}

/// kube-proxy forwards only to `ready` endpoints of a hand-made EndpointSlice
/// (publishNotReadyAddresses is read by the EndpointSlice controller, not by kube-proxy); when
/// none is ready it falls back to endpoints that are serving and terminating.
#[test]
fn manual_endpoint_slices_use_ready_then_serving_terminating() {
    let base = r#"
kind: Pod
metadata: {name: client, namespace: ns}
status: {podIP: 10.0.0.9}
---
kind: Service
metadata: {name: ext, namespace: ns}
spec: {publishNotReadyAddresses: true, ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, namespace: ns, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
ports: [{port: 80}]
"#;
    let c = load(&format!(
        "{base}endpoints: [{{addresses: [192.0.2.10], conditions: {{ready: false}}}}, {{addresses: [192.0.2.11]}}]\n"
    ));
    let r = check(&c, &req("ns/client", "service:ns/ext", "80", "TCP")).unwrap();
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["192.0.2.11:80".to_string()])
    );
    let c = load(&format!(
        "{base}endpoints: [{{addresses: [192.0.2.10], conditions: {{ready: false, serving: true, terminating: true}}}}, {{addresses: [192.0.2.12], conditions: {{ready: false, serving: false}}}}]\n"
    ));
    let r = check(&c, &req("ns/client", "service:ns/ext", "80", "TCP")).unwrap();
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["192.0.2.10:80".to_string()])
    );
}

/// A headless Service (`clusterIP: None`) is not proxied: DNS returns the pod IPs and the client
/// connects to them on the port it uses, with no port translation to targetPort.
#[test]
fn headless_service_is_not_port_translated() {
    let c = load(
        r#"
kind: Pod
metadata: {name: client, namespace: ns}
status: {podIP: 10.0.0.9}
---
kind: Pod
metadata: {name: db, namespace: ns, labels: {app: db}}
spec: {containers: [{name: c, ports: [{containerPort: 5432}]}]}
status: {podIP: 10.0.0.5}
---
kind: Service
metadata: {name: db, namespace: ns}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432, targetPort: 6000}]}
"#,
    );
    let r = check(&c, &req("ns/client", "service:ns/db", "5432", "TCP")).unwrap();
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["10.0.0.5:5432".to_string()])
    );
    assert!(
        r.notes.iter().any(|n| n.contains("headless")),
        "{:?}",
        r.notes
    );
}

// ---- fix.rs -------------------------------------------------------------------------------

/// Long pod names: the policy name is cut to 63 characters; two different flows must still get
/// different names (else applying the second fix replaces the first).
#[test]
fn truncated_fix_names_stay_distinct_per_flow() {
    let long = "a-very-long-deployment-name-for-the-frontend-service-7d9f8b6c5d-x2k4j";
    let c = load(&format!(
        "kind: Pod\nmetadata: {{name: {long}, namespace: ns, labels: {{app: a}}}}\nstatus: {{podIP: 10.0.0.1}}\n---\nkind: Pod\nmetadata: {{name: {long}-b, namespace: ns, labels: {{app: b}}}}\nstatus: {{podIP: 10.0.0.2}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny, namespace: ns}}\nspec: {{podSelector: {{}}}}\n"
    ));
    let a = format!("ns/{long}");
    let b = format!("ns/{long}-b");
    let r1 = check(&c, &req(&a, &b, "80", "TCP")).unwrap();
    let r2 = check(&c, &req(&a, &b, "443", "TCP")).unwrap();
    let n1 = r1.verdict.fix.manifests[0]["metadata"]["name"].clone();
    let n2 = r2.verdict.fix.manifests[0]["metadata"]["name"].clone();
    for n in [&n1, &n2] {
        let s = n.as_str().unwrap();
        assert!(s.len() <= 63, "{s}");
        assert!(
            s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !s.starts_with('-')
                && !s.ends_with('-'),
            "{s}"
        );
    }
    assert_ne!(n1, n2);
}

/// The fix selects the destination by its workload labels, not by `pod-template-hash`, which
/// changes on every rollout (the fix would silently stop working), when dropping it selects no
/// pod that is not already isolated.
#[test]
fn fix_does_not_pin_pod_template_hash() {
    let c = load(
        r#"
kind: Pod
metadata: {name: web-7d9f8b6c5d-x2k4j, namespace: ns, labels: {app: web, pod-template-hash: 7d9f8b6c5d}}
status: {podIP: 10.0.0.1}
---
kind: Pod
metadata: {name: api-5c6b7d8f9-abcde, namespace: ns, labels: {app: api, pod-template-hash: 5c6b7d8f9}}
status: {podIP: 10.0.0.2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: ns}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"#,
    );
    let r = check(
        &c,
        &req(
            "ns/web-7d9f8b6c5d-x2k4j",
            "ns/api-5c6b7d8f9-abcde",
            "80",
            "TCP",
        ),
    )
    .unwrap();
    assert_eq!(r.verdict.fix.manifests.len(), 2);
    let text = serde_json::to_string(&r.verdict.fix.manifests).unwrap();
    assert!(!text.contains("pod-template-hash"), "{text}");
    // And the fix still works and stays exact.
    let mut c2 = c.clone();
    for m in &r.verdict.fix.manifests {
        c2.load_str(Path::new("fix.json"), &m.to_string()).unwrap();
    }
    let r2 = check(
        &c2,
        &req(
            "ns/web-7d9f8b6c5d-x2k4j",
            "ns/api-5c6b7d8f9-abcde",
            "80",
            "TCP",
        ),
    )
    .unwrap();
    assert!(r2.verdict.allowed);
    let r3 = check(
        &c2,
        &req(
            "ns/web-7d9f8b6c5d-x2k4j",
            "ns/api-5c6b7d8f9-abcde",
            "81",
            "TCP",
        ),
    )
    .unwrap();
    assert!(!r3.verdict.allowed);
}

/// A pod that is not ingress-isolated gets no ingress fix (it would newly isolate it).
#[test]
fn fix_only_for_the_denying_direction() {
    let c = load(&format!(
        "{TWO_PODS}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny-eg, namespace: ns}}\nspec: {{podSelector: {{matchLabels: {{app: a}}}}, policyTypes: [Egress]}}\n"
    ));
    let r = check(&c, &req("ns/a", "ns/b", "80", "TCP")).unwrap();
    assert_eq!(r.verdict.denied_by.map(DeniedBy::name), Some("egress"));
    assert_eq!(r.verdict.fix.manifests.len(), 1);
    assert_eq!(
        r.verdict.fix.manifests[0]["spec"]["policyTypes"],
        serde_json::json!(["Egress"])
    );
    assert!(r.verdict.fix.manifests[0]["spec"].get("ingress").is_none());
}

/// When every selected pod is terminating, kube-proxy (KEP-1669) falls back to the ones still
/// serving (Ready); it does not report "no endpoints".
#[test]
fn all_terminating_pods_fall_back_to_the_serving_ones() {
    let c = svc_cluster(
        "---\nkind: Pod\nmetadata: {name: going, namespace: ns, labels: {app: srv}, deletionTimestamp: '2026-11-23T10:00:00Z'}\nstatus: {phase: Running, podIP: 10.0.0.3, conditions: [{type: Ready, status: 'True'}]}\n---\nkind: Pod\nmetadata: {name: gone, namespace: ns, labels: {app: srv}, deletionTimestamp: '2026-11-23T10:00:00Z'}\nstatus: {phase: Running, podIP: 10.0.0.4, conditions: [{type: Ready, status: 'False'}]}\n",
    );
    let r = check(&c, &req("ns/client", "service:ns/s", "80", "TCP")).unwrap();
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["10.0.0.3:8080".to_string()])
    );
    assert!(
        r.notes.iter().any(|n| n.contains("terminating")),
        "{:?}",
        r.notes
    );
}

/// A single-stack Service forwards only to endpoint addresses of its own family
/// (`spec.ipFamilies`, else the family of `clusterIP`).
#[test]
fn single_stack_service_forwards_to_its_family_only() {
    let yaml = |spec: &str| {
        format!(
            "kind: Pod\nmetadata: {{name: client, namespace: ns}}\nstatus: {{podIP: 10.0.0.9}}\n---\nkind: Pod\nmetadata: {{name: srv, namespace: ns, labels: {{app: srv}}}}\nstatus: {{podIP: 10.0.0.5, podIPs: [{{ip: 10.0.0.5}}, {{ip: 'fd00::5'}}]}}\n---\nkind: Service\nmetadata: {{name: s, namespace: ns}}\nspec: {{selector: {{app: srv}}, ports: [{{port: 80}}], {spec}}}\n"
        )
    };
    for spec in ["ipFamilies: [IPv4]", "clusterIP: 10.96.0.10"] {
        let r = check(
            &load(&yaml(spec)),
            &req("ns/client", "service:ns/s", "80", "TCP"),
        )
        .unwrap();
        assert_eq!(
            r.verdict.forwarded_to,
            Some(vec!["10.0.0.5:80".to_string()]),
            "{spec}"
        );
    }
    let r = check(
        &load(&yaml("ipFamilies: [IPv4, IPv6]")),
        &req("ns/client", "service:ns/s", "80", "TCP"),
    )
    .unwrap();
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["10.0.0.5:80".to_string(), "[fd00::5]:80".to_string()])
    );
}

/// An address given as SRC/DST names the running pod that has it, not a Succeeded/Failed pod
/// whose stale status still lists the same (since reused) IP.
#[test]
fn an_ip_names_the_live_pod_not_a_terminal_one() {
    let c = load(
        r#"
kind: Pod
metadata: {name: old, namespace: ns, labels: {app: old}}
status: {phase: Succeeded, podIP: 10.0.0.5}
---
kind: Pod
metadata: {name: new, namespace: ns, labels: {app: new}}
status: {phase: Running, podIP: 10.0.0.5}
---
kind: Pod
metadata: {name: client, namespace: ns}
status: {podIP: 10.0.0.9}
"#,
    );
    let r = check(&c, &req("ns/client", "10.0.0.5", "80", "TCP")).unwrap();
    assert_eq!(r.flow["to"], "ns/new");
}

// ---- rules that had no test ---------------------------------------------------------------

fn flow_allowed(c: &Cluster, src: Endpoint<'_>, dst: Endpoint<'_>, port: u16, proto: &str) -> bool {
    let (ok, _) = partition(c);
    let f = FlowPort {
        port,
        protocol: proto.into(),
    };
    evaluate(c, &ok, &src, &dst, &f).allowed()
}

fn with_policy(spec: &str) -> Cluster {
    load(&format!(
        "{TWO_PODS}---\nkind: Pod\nmetadata: {{name: c, namespace: other, labels: {{app: a}}}}\nstatus: {{podIP: 10.0.1.1}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: ns}}\nspec: {spec}\n"
    ))
}

/// An explicitly empty `from: []` / `ports: []` means all sources / all ports.
#[test]
fn explicitly_empty_from_and_ports_mean_everything() {
    let c = with_policy("{podSelector: {matchLabels: {app: b}}, ingress: [{from: [], ports: []}]}");
    assert!(flow_allowed(
        &c,
        pod(&c, "other", "c"),
        pod(&c, "ns", "b"),
        9999,
        "UDP"
    ));
    assert!(flow_allowed(
        &c,
        Endpoint::Ip("203.0.113.1".parse().unwrap()),
        pod(&c, "ns", "b"),
        1,
        "SCTP"
    ));
}

/// `policyTypes: [Ingress]` ignores egress rules (the pod is not egress-isolated).
#[test]
fn explicit_ingress_type_ignores_egress_rules() {
    let c = with_policy(
        "{podSelector: {matchLabels: {app: a}}, policyTypes: [Ingress], ingress: [{}], egress: [{to: [{ipBlock: {cidr: 192.0.2.0/24}}]}]}",
    );
    assert!(flow_allowed(
        &c,
        pod(&c, "ns", "a"),
        pod(&c, "ns", "b"),
        80,
        "TCP"
    ));
}

/// A podSelector peer alone selects pods in the policy's namespace only, even when a pod in
/// another namespace has the labels.
#[test]
fn pod_selector_peer_alone_is_the_policys_namespace() {
    let c = with_policy(
        "{podSelector: {matchLabels: {app: b}}, ingress: [{from: [{podSelector: {matchLabels: {app: a}}}]}]}",
    );
    assert!(flow_allowed(
        &c,
        pod(&c, "ns", "a"),
        pod(&c, "ns", "b"),
        80,
        "TCP"
    ));
    assert!(!flow_allowed(
        &c,
        pod(&c, "other", "c"),
        pod(&c, "ns", "b"),
        80,
        "TCP"
    ));
}

/// SCTP is a protocol of its own: a TCP allow does not admit it, an SCTP allow does.
#[test]
fn sctp_is_matched_by_protocol() {
    let c = with_policy("{podSelector: {matchLabels: {app: b}}, ingress: [{ports: [{port: 80}]}]}");
    assert!(!flow_allowed(
        &c,
        pod(&c, "ns", "a"),
        pod(&c, "ns", "b"),
        80,
        "SCTP"
    ));
    let c = with_policy(
        "{podSelector: {matchLabels: {app: b}}, ingress: [{ports: [{protocol: SCTP, port: 80}]}]}",
    );
    assert!(flow_allowed(
        &c,
        pod(&c, "ns", "a"),
        pod(&c, "ns", "b"),
        80,
        "SCTP"
    ));
}

/// Bad CIDRs and lower-case protocols are rejected by the API server: listed, not used.
#[test]
fn bad_cidr_and_protocol_case_are_invalid() {
    for spec in [
        "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/33}}]}]}",
        "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0}}]}]}",
        "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: ['fd00::/64']}}]}]}",
        "{podSelector: {}, ingress: [{ports: [{protocol: tcp, port: 80}]}]}",
        "{podSelector: {}, ingress: [{ports: [{port: 80, endPort: 70000}]}]}",
        "{podSelector: {}, ingress: [{ports: [{endPort: 90}]}]}",
    ] {
        let c = with_policy(spec);
        let (ok, bad) = partition(&c);
        assert!(ok.is_empty() && bad.len() == 1, "{spec}");
    }
}

/// A hostNetwork pod as a peer is seen by its (node) address: an ipBlock admits it, a pod
/// selector that matches its labels does not.
#[test]
fn host_network_peer_is_matched_by_ip_only() {
    let base = "kind: Pod\nmetadata: {name: h, namespace: ns, labels: {app: a}}\nspec: {hostNetwork: true, nodeName: n9}\nstatus: {podIP: 192.168.9.9}\n---\nkind: Pod\nmetadata: {name: b, namespace: ns, labels: {app: b}}\nspec: {nodeName: n1}\nstatus: {podIP: 10.0.0.2}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: ns}\n";
    let c = load(&format!(
        "{base}spec: {{podSelector: {{matchLabels: {{app: b}}}}, ingress: [{{from: [{{podSelector: {{matchLabels: {{app: a}}}}}}]}}]}}\n"
    ));
    assert!(!flow_allowed(
        &c,
        pod(&c, "ns", "h"),
        pod(&c, "ns", "b"),
        80,
        "TCP"
    ));
    let c = load(&format!(
        "{base}spec: {{podSelector: {{matchLabels: {{app: b}}}}, ingress: [{{from: [{{ipBlock: {{cidr: 192.168.9.0/24}}}}]}}]}}\n"
    ));
    assert!(flow_allowed(
        &c,
        pod(&c, "ns", "h"),
        pod(&c, "ns", "b"),
        80,
        "TCP"
    ));
}

/// The fix manifest is a complete, valid NetworkPolicy: apiVersion/kind, a DNS-1123 name, the
/// destination namespace, exact port and protocol, a namespace+pod peer (never an ipBlock for a
/// pod), and a delete command as rollback.
#[test]
fn fix_manifest_is_complete_and_exact() {
    let c = with_policy("{podSelector: {matchLabels: {app: b}}}");
    let r = check(&c, &req("other/c", "ns/b", "8443", "UDP")).unwrap();
    let m = &r.verdict.fix.manifests[0];
    assert_eq!(m["apiVersion"], "networking.k8s.io/v1");
    assert_eq!(m["kind"], "NetworkPolicy");
    assert_eq!(m["metadata"]["namespace"], "ns");
    let rule = &m["spec"]["ingress"][0];
    assert_eq!(
        rule["ports"],
        serde_json::json!([{"protocol": "UDP", "port": 8443}])
    );
    let peer = &rule["from"][0];
    assert!(peer.get("ipBlock").is_none());
    assert_eq!(
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "other"
    );
    assert_eq!(peer["podSelector"]["matchLabels"]["app"], "a");
    let name = m["metadata"]["name"].as_str().unwrap();
    assert_eq!(
        r.verdict.rollback,
        vec![format!("kubectl delete networkpolicy -n ns {name}")]
    );
    // The manifest parses back into a policy the API server would accept.
    let mut c2 = c.clone();
    c2.load_str(Path::new("fix.json"), &m.to_string()).unwrap();
    assert!(partition(&c2).1.is_empty());
}

/// `--to` a Service's ClusterIP is the Service, not an outside address: NetworkPolicy sees the
/// backend pod after kube-proxy's DNAT (an ipBlock for the ClusterIP would not work).
#[test]
fn cluster_ip_destination_is_checked_as_the_service() {
    let c = load(
        r#"
kind: Pod
metadata: {name: client, namespace: ns, labels: {app: client}}
status: {podIP: 10.0.0.9}
---
kind: Pod
metadata: {name: db, namespace: ns, labels: {app: db}}
status: {podIP: 10.0.0.5}
---
kind: Service
metadata: {name: db, namespace: ns}
spec: {clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10], selector: {app: db}, ports: [{port: 5432, targetPort: 15432}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: ns}
spec: {podSelector: {matchLabels: {app: client}}, policyTypes: [Egress], egress: [{to: [{podSelector: {matchLabels: {app: db}}}], ports: [{port: 15432}]}]}
"#,
    );
    let r = check(&c, &req("ns/client", "10.96.0.10", "5432", "TCP")).unwrap();
    assert!(r.verdict.allowed, "{:?}", r.verdict);
    assert_eq!(
        r.verdict.forwarded_to,
        Some(vec!["10.0.0.5:15432".to_string()])
    );
    assert!(
        r.notes.iter().any(|n| n.contains("ClusterIP")),
        "{:?}",
        r.notes
    );
}

/// Label selectors with keys or values the API server rejects make the policy invalid (listed,
/// not used), rather than a selector that silently matches nothing.
#[test]
fn invalid_selector_keys_and_values_make_the_policy_invalid() {
    for spec in [
        "{podSelector: {matchLabels: {'app name': x}}}",
        "{podSelector: {matchLabels: {app: 'a b'}}}",
        "{podSelector: {matchExpressions: [{key: '', operator: Exists}]}}",
        "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {'Example.COM/x': 'z'}}}]}]}",
        "{podSelector: {}, ingress: [{from: [{podSelector: {matchExpressions: [{key: app, operator: In, values: ['-x']}]}}]}]}",
    ] {
        let c = with_policy(spec);
        let (ok, bad) = partition(&c);
        assert!(ok.is_empty() && bad.len() == 1, "{spec}");
    }
    for spec in [
        "{podSelector: {matchLabels: {app.kubernetes.io/name: web, 'example.com/tier': ''}}}",
        "{podSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [a_b.c-d]}]}}",
    ] {
        let c = with_policy(spec);
        assert!(partition(&c).1.is_empty(), "{spec}");
    }
}

/// The fix generator goes through the one world-opening guard: a manifest whose text would carry
/// a CIDR of everything (here a label key of the destination's namespace, copied into the exact
/// selector's `DoesNotExist` list) is refused, not printed, and the verdict says why.
#[test]
fn a_fix_whose_manifest_would_open_the_world_is_refused() {
    let c = load(
        r#"
kind: Pod
metadata: {name: a, namespace: ns, labels: {app: a}}
status: {podIP: 10.0.0.1}
---
kind: Pod
metadata: {name: b, namespace: ns, labels: {app: b}}
status: {podIP: 10.0.0.2}
---
kind: Pod
metadata: {name: odd, namespace: ns, labels: {"0.0.0.0/0": x}}
status: {podIP: 10.0.0.3}
---
kind: NetworkPolicy
metadata: {name: deny, namespace: ns}
spec: {podSelector: {matchLabels: {app: b}}, policyTypes: [Ingress]}
"#,
    );
    let r = check(&c, &req("ns/a", "ns/b", "80", "TCP")).unwrap();
    assert_eq!(r.verdict.cause.code(), "netpol_ingress_denied");
    assert!(r.verdict.fix.manifests.is_empty());
    assert!(r.verdict.rollback.is_empty());
    assert!(
        r.verdict
            .fix
            .description
            .contains("never proposes opening 0.0.0.0/0"),
        "{}",
        r.verdict.fix.description
    );
}
