//! Conformance tests for the NetworkPolicy engine, one per rule of the API reference, each a small
//! cluster written as the manifests a person would apply.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_k8s::load::Cluster;
use netdiag_k8s::policy::{evaluate, partition, Endpoint, FlowPort, FlowResult};
use std::path::Path;

/// Pods: shop/web (app=web, port http=8080/TCP, dns=53/UDP), shop/api (app=api),
/// other/client (app=client), host/agent (hostNetwork). Namespaces shop (team=a), other (team=b).
const BASE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other, labels: {team: b}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web, tier: front}}
spec:
  nodeName: n1
  containers:
  - name: c
    ports:
    - {name: http, containerPort: 8080}
    - {name: dns, containerPort: 53, protocol: UDP}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec: {nodeName: n1, containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: other, labels: {app: client}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {podIP: 10.0.1.5}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: shop, labels: {app: agent}}
spec: {hostNetwork: true, nodeName: n2, containers: [{name: c}]}
status: {podIP: 192.168.0.2}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}
"#;

fn cluster(policies: &str) -> Cluster {
    let mut c = Cluster::default();
    c.load_str(Path::new("base.yaml"), BASE).unwrap();
    c.load_str(Path::new("policies.yaml"), policies).unwrap();
    c
}

fn ep<'a>(c: &'a Cluster, s: &str) -> Endpoint<'a> {
    if let Ok(ip) = s.parse() {
        return Endpoint::Ip(ip);
    }
    let (ns, name) = s.split_once('/').unwrap();
    Endpoint::Pod(
        c.pods
            .iter()
            .find(|p| p.metadata.ns() == ns && p.metadata.name == name)
            .unwrap(),
    )
}

fn flow(c: &Cluster, src: &str, dst: &str, port: u16, proto: &str) -> FlowResult {
    let (ok, _) = partition(c);
    let flow = FlowPort {
        port,
        protocol: proto.into(),
    };
    evaluate(c, &ok, &ep(c, src), &ep(c, dst), &flow)
}

fn allowed(policies: &str, src: &str, dst: &str, port: u16) -> bool {
    flow(&cluster(policies), src, dst, port, "TCP").allowed()
}

fn np(ns: &str, name: &str, spec: &str) -> String {
    format!("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n")
}

const DENY_INGRESS_WEB: &str = "{podSelector: {matchLabels: {app: web}}}";

#[test]
fn no_policy_means_not_isolated() {
    assert!(allowed("", "other/client", "shop/web", 8080));
}

#[test]
fn policy_without_rules_isolates_ingress_by_default() {
    let r = flow(
        &cluster(&np("shop", "deny", DENY_INGRESS_WEB)),
        "other/client",
        "shop/web",
        8080,
        "TCP",
    );
    assert!(!r.allowed());
    assert!(!r.ingress.allowed && r.egress.allowed);
    assert_eq!(r.ingress.isolating, vec!["shop/deny"]);
}

#[test]
fn isolation_only_by_policies_in_the_pods_own_namespace() {
    // A deny-all in `other` selecting `app: web` does nothing to shop/web.
    assert!(allowed(
        &np("other", "deny", DENY_INGRESS_WEB),
        "other/client",
        "shop/web",
        8080
    ));
}

#[test]
fn policy_selects_only_matching_pods() {
    assert!(allowed(
        &np("shop", "deny", DENY_INGRESS_WEB),
        "other/client",
        "shop/api",
        9090
    ));
}

#[test]
fn egress_is_isolated_only_when_egress_rules_exist_or_type_is_explicit() {
    // Defaulted types with an empty egress list: Ingress only.
    let p = np("other", "p", "{podSelector: {}, ingress: [{}], egress: []}");
    assert!(allowed(&p, "other/client", "shop/web", 8080));
    // Explicit Egress with no rules: egress isolated.
    let p = np("other", "p", "{podSelector: {}, policyTypes: [Egress]}");
    let r = flow(&cluster(&p), "other/client", "shop/web", 8080, "TCP");
    assert!(!r.egress.allowed && r.ingress.allowed);
    // Non-empty egress without policyTypes: Egress is isolated too.
    let p = np(
        "other",
        "p",
        "{podSelector: {}, egress: [{ports: [{port: 53, protocol: UDP}]}]}",
    );
    assert!(!allowed(&p, "other/client", "shop/web", 8080));
}

#[test]
fn explicit_types_ignore_the_other_directions_rules() {
    // policyTypes [Egress]: its ingress rules neither isolate nor allow.
    let p = np("shop", "p", "{podSelector: {matchLabels: {app: web}}, policyTypes: [Egress], ingress: [{from: [{podSelector: {}}]}]}");
    assert!(allowed(&p, "other/client", "shop/web", 8080));
}

#[test]
fn allows_are_a_union_across_policies() {
    let p = np("shop", "deny", DENY_INGRESS_WEB)
        + &np("shop", "allow", "{podSelector: {matchLabels: {tier: front}}, ingress: [{from: [{namespaceSelector: {}}]}]}");
    let r = flow(&cluster(&p), "other/client", "shop/web", 8080, "TCP");
    assert!(r.allowed());
    assert_eq!(r.ingress.isolating, vec!["shop/deny", "shop/allow"]);
    assert_eq!(r.ingress.allowing, vec!["shop/allow"]);
}

#[test]
fn pod_selector_alone_is_namespace_local() {
    let p = np("shop", "p", "{podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]}");
    assert!(!allowed(&p, "other/client", "shop/web", 8080));
    let p = np("shop", "p", "{podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: api}}}]}]}");
    assert!(allowed(&p, "shop/api", "shop/web", 8080));
}

#[test]
fn selectors_in_one_peer_are_anded_peers_are_ored() {
    let anded = np("shop", "p", "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {app: nope}}}]}]}");
    assert!(!allowed(&anded, "other/client", "shop/web", 8080));
    let ored = np("shop", "p", "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {team: b}}}, {podSelector: {matchLabels: {app: nope}}}]}]}");
    assert!(allowed(&ored, "other/client", "shop/web", 8080));
}

#[test]
fn empty_namespace_selector_means_all_namespaces() {
    let p = np(
        "shop",
        "p",
        "{podSelector: {}, ingress: [{from: [{namespaceSelector: {}}]}]}",
    );
    assert!(allowed(&p, "other/client", "shop/web", 8080));
    // ...but not addresses outside the cluster.
    assert!(!allowed(&p, "203.0.113.9", "shop/web", 8080));
}

#[test]
fn implicit_namespace_name_label() {
    let p = np("shop", "p", "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: other}}}]}]}");
    assert!(allowed(&p, "other/client", "shop/web", 8080));
}

#[test]
fn match_labels_and_match_expressions_are_anded() {
    let p = np("shop", "p", "{podSelector: {matchLabels: {app: web}, matchExpressions: [{key: tier, operator: In, values: [back]}]}}");
    // The selector does not select web (tier=front), so web is not isolated.
    assert!(allowed(&p, "other/client", "shop/web", 8080));
}

#[test]
fn match_expression_operators() {
    let cases = [
        ("{key: tier, operator: In, values: [front]}", false),
        ("{key: tier, operator: In, values: [back]}", true),
        ("{key: tier, operator: NotIn, values: [back]}", false),
        ("{key: missing, operator: NotIn, values: [x]}", false), // NotIn is true when the key is missing
        ("{key: tier, operator: Exists}", false),
        ("{key: tier, operator: DoesNotExist}", true),
        ("{key: missing, operator: DoesNotExist}", false),
    ];
    for (expr, want_allowed) in cases {
        let p = np(
            "shop",
            "p",
            &format!("{{podSelector: {{matchExpressions: [{expr}]}}}}"),
        );
        assert_eq!(
            allowed(&p, "other/client", "shop/web", 8080),
            want_allowed,
            "{expr}"
        );
    }
}

#[test]
fn ip_block_with_except() {
    let p = np("shop", "p", "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}}]}]}");
    assert!(allowed(&p, "203.0.113.9", "shop/web", 8080));
    assert!(!allowed(&p, "203.0.113.200", "shop/web", 8080));
}

#[test]
fn ipv4_block_never_matches_ipv6() {
    let p = np(
        "shop",
        "p",
        "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}}]}]}",
    );
    assert!(allowed(&p, "203.0.113.9", "shop/web", 8080));
    assert!(!allowed(&p, "2001:db8::1", "shop/web", 8080));
}

#[test]
fn ports_protocol_defaults_to_tcp() {
    let p = np(
        "shop",
        "p",
        "{podSelector: {}, ingress: [{ports: [{port: 53}]}]}",
    );
    let c = cluster(&p);
    assert!(flow(&c, "other/client", "shop/web", 53, "TCP").allowed());
    assert!(!flow(&c, "other/client", "shop/web", 53, "UDP").allowed());
}

#[test]
fn missing_ports_means_all_ports_and_empty_port_means_all_tcp_ports() {
    let c = cluster(&np(
        "shop",
        "p",
        "{podSelector: {}, ingress: [{from: [{namespaceSelector: {}}]}]}",
    ));
    assert!(flow(&c, "other/client", "shop/web", 1, "UDP").allowed());
    let c = cluster(&np(
        "shop",
        "p",
        "{podSelector: {}, ingress: [{ports: [{}]}]}",
    ));
    assert!(flow(&c, "other/client", "shop/web", 65535, "TCP").allowed());
    assert!(!flow(&c, "other/client", "shop/web", 53, "UDP").allowed());
}

#[test]
fn end_port_ranges_are_inclusive() {
    let p = np(
        "shop",
        "p",
        "{podSelector: {}, ingress: [{ports: [{port: 8000, endPort: 8080}]}]}",
    );
    assert!(allowed(&p, "other/client", "shop/web", 8080));
    assert!(allowed(&p, "other/client", "shop/web", 8000));
    assert!(!allowed(&p, "other/client", "shop/web", 8081));
}

#[test]
fn named_ports_resolve_on_the_destination_pod_with_protocol() {
    let p = np(
        "shop",
        "p",
        "{podSelector: {}, ingress: [{ports: [{port: http}]}]}",
    );
    let c = cluster(&p);
    // `http` is 8080 on web but 9090 on api.
    assert!(flow(&c, "other/client", "shop/web", 8080, "TCP").allowed());
    assert!(!flow(&c, "other/client", "shop/web", 9090, "TCP").allowed());
    assert!(flow(&c, "other/client", "shop/api", 9090, "TCP").allowed());
    // `dns` is declared UDP: a TCP named port `dns` does not resolve.
    let c = cluster(&np(
        "shop",
        "p",
        "{podSelector: {}, ingress: [{ports: [{port: dns}]}]}",
    ));
    assert!(!flow(&c, "other/client", "shop/web", 53, "TCP").allowed());
    let c = cluster(&np(
        "shop",
        "p",
        "{podSelector: {}, ingress: [{ports: [{port: dns, protocol: UDP}]}]}",
    ));
    assert!(flow(&c, "other/client", "shop/web", 53, "UDP").allowed());
}

#[test]
fn egress_named_port_resolves_on_the_destination() {
    let p = np(
        "other",
        "p",
        "{podSelector: {}, egress: [{ports: [{port: http}]}]}",
    );
    assert!(allowed(&p, "other/client", "shop/web", 8080));
    assert!(!allowed(&p, "other/client", "shop/web", 9090));
}

#[test]
fn connection_needs_egress_and_ingress() {
    let p = np("other", "e", "{podSelector: {}, policyTypes: [Egress]}")
        + &np("shop", "i", DENY_INGRESS_WEB);
    let r = flow(&cluster(&p), "other/client", "shop/web", 8080, "TCP");
    assert!(!r.egress.allowed && !r.ingress.allowed);
    let p = np(
        "other",
        "e",
        "{podSelector: {}, policyTypes: [Egress], egress: [{}]}",
    ) + &np("shop", "i", DENY_INGRESS_WEB);
    let r = flow(&cluster(&p), "other/client", "shop/web", 8080, "TCP");
    assert!(r.egress.allowed && !r.ingress.allowed && !r.allowed());
}

#[test]
fn pod_to_itself_is_always_allowed() {
    let p = np(
        "shop",
        "p",
        "{podSelector: {}, policyTypes: [Ingress, Egress]}",
    );
    assert!(allowed(&p, "shop/web", "shop/web", 8080));
}

#[test]
fn pod_and_its_own_node_are_always_allowed() {
    let p = np(
        "shop",
        "p",
        "{podSelector: {}, policyTypes: [Ingress, Egress]}",
    );
    assert!(allowed(&p, "192.168.0.1", "shop/web", 8080));
    assert!(!allowed(&p, "192.168.0.9", "shop/web", 8080));
}

#[test]
fn host_network_pods_are_not_policy_subjects() {
    let p = np(
        "shop",
        "p",
        "{podSelector: {}, policyTypes: [Ingress, Egress]}",
    );
    let r = flow(&cluster(&p), "other/client", "shop/agent", 8080, "TCP");
    assert!(r.allowed());
    assert!(r.exemptions.iter().any(|e| e.contains("host network")));
}

#[test]
fn invalid_policies_are_listed_and_not_used() {
    let bad = [
        ("{podSelector: {}, ingress: [{ports: [{port: http, endPort: 9000}]}]}", "named port"),
        ("{podSelector: {}, ingress: [{ports: [{port: 9000, endPort: 8000}]}]}", "less than"),
        ("{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}", "combined"),
        ("{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/24]}}]}]}", "not inside"),
        ("{podSelector: {matchExpressions: [{key: a, operator: In}]}}", "no values"),
        ("{podSelector: {matchExpressions: [{key: a, operator: NotIn, values: []}]}}", "no values"),
        ("{podSelector: {}, ingress: [{ports: [{port: '8080'}]}]}", "not a valid port name"),
    ];
    for (spec, why) in bad {
        let c = cluster(&np("shop", "bad", spec));
        let (ok, invalid) = partition(&c);
        assert!(ok.is_empty(), "{spec}");
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].policy, "shop/bad");
        assert!(
            invalid[0].reason.contains(why),
            "{spec}: {}",
            invalid[0].reason
        );
        // Not used: the deny-like invalid policy does not isolate web.
        assert!(flow(&c, "other/client", "shop/web", 8080, "TCP").allowed());
    }
}

#[test]
fn ip_block_matches_pod_ips_in_this_model() {
    let p = np(
        "shop",
        "p",
        "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.1.0/24}}]}]}",
    );
    assert!(allowed(&p, "other/client", "shop/web", 8080));
    assert!(!allowed(&p, "shop/api", "shop/web", 8080));
}

// The pitfalls users reported (issue 5), each as the cluster that bit them.

#[test]
fn egress_allowing_only_udp_53_breaks_dns_over_tcp() {
    // Resolvers fall back to TCP for large answers (and DNSSEC, AXFR): a DNS allow needs both.
    let udp_only = np(
        "other",
        "dns",
        "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {matchLabels: {team: a}}}], ports: [{protocol: UDP, port: 53}]}]}",
    );
    let c = cluster(&udp_only);
    assert!(flow(&c, "other/client", "shop/web", 53, "UDP").allowed());
    let tcp = flow(&c, "other/client", "shop/web", 53, "TCP");
    assert!(!tcp.egress.allowed && tcp.ingress.allowed);
    let both = np(
        "other",
        "dns",
        "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{namespaceSelector: {matchLabels: {team: a}}}], ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}]}",
    );
    let c = cluster(&both);
    assert!(flow(&c, "other/client", "shop/web", 53, "UDP").allowed());
    assert!(flow(&c, "other/client", "shop/web", 53, "TCP").allowed());
}

#[test]
fn named_port_with_different_numbers_per_pod_is_resolved_per_destination() {
    // `http` is 8080 on web and 9090 on api: one rule opens a different number on each, and
    // never the other's number.
    let p = np(
        "shop",
        "p",
        "{podSelector: {}, ingress: [{from: [{namespaceSelector: {}}], ports: [{port: http}]}]}",
    );
    let c = cluster(&p);
    assert!(flow(&c, "other/client", "shop/web", 8080, "TCP").allowed());
    assert!(flow(&c, "other/client", "shop/api", 9090, "TCP").allowed());
    assert!(!flow(&c, "other/client", "shop/web", 9090, "TCP").allowed());
    assert!(!flow(&c, "other/client", "shop/api", 8080, "TCP").allowed());
    // The matrix says the same, class by class.
    let m = netdiag_k8s::matrix::matrix(&c);
    let class = |name: &str| {
        m.classes
            .iter()
            .find(|k| k.pods.iter().any(|p| p == name))
            .unwrap()
            .id
    };
    let (client, web, api) = (class("client"), class("web"), class("api"));
    let cell = |to: u32, port: u16| {
        let k = netdiag_k8s::matrix::PortKey {
            port,
            protocol: "TCP".into(),
        };
        m.row(client, &k).unwrap().verdict(to)
    };
    use netdiag_k8s::matrix::Rest;
    assert_eq!(cell(web, 8080), Rest::Allowed);
    assert_eq!(cell(api, 9090), Rest::Allowed);
    assert_eq!(cell(web, 9090), Rest::Ingress);
    assert_eq!(cell(api, 8080), Rest::Ingress);
}

#[test]
fn egress_named_port_is_resolved_on_the_destination_not_the_source() {
    // client declares no `http` port; the egress rule still opens web's 8080 and api's 9090.
    let p = np(
        "other",
        "p",
        "{podSelector: {}, egress: [{to: [{namespaceSelector: {}}], ports: [{port: http}]}]}",
    );
    assert!(allowed(&p, "other/client", "shop/web", 8080));
    assert!(allowed(&p, "other/client", "shop/api", 9090));
    assert!(!allowed(&p, "other/client", "shop/web", 9090));
}

#[test]
fn a_deny_all_in_another_namespace_isolates_nothing_here() {
    // Written in `other` "for shop": it selects pods of `other` only.
    let p = np(
        "other",
        "deny-shop",
        "{podSelector: {}, policyTypes: [Ingress, Egress]}",
    );
    let c = cluster(&p);
    let r = flow(&c, "shop/api", "shop/web", 8080, "TCP");
    assert!(r.allowed() && r.ingress.isolating.is_empty() && r.egress.isolating.is_empty());
    // ... while it does isolate `other`'s own client.
    assert!(!flow(&c, "shop/web", "other/client", 80, "TCP").allowed());
}
