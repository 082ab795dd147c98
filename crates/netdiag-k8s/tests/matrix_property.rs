//! Property test: the matrix (read back from its JSON, by the rule docs/k8s-matrix.md gives a
//! consumer) agrees pair for pair, port for port, with the naive per-pair evaluator
//! `policy::evaluate`, on random clusters with namespace labels, hostNetwork pods holding node
//! addresses, named ports that differ per pod, ipBlocks with except, namespaceSelectors,
//! matchExpressions, endPort ranges and the odd invalid policy.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_core::render::{Format, Rendered};
use netdiag_k8s::load::Cluster;
use netdiag_k8s::matrix::matrix;
use netdiag_k8s::model::*;
use netdiag_k8s::policy::{evaluate, partition, Endpoint, FlowPort};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};

const NS: [&str; 3] = ["a", "b", "c"];
const NODE_IPS: [&str; 2] = ["192.168.0.1", "192.168.0.2"];

fn labels() -> impl Strategy<Value = Labels> {
    (prop::option::of(0..3usize), prop::option::of(0..2usize)).prop_map(|(app, tier)| {
        let mut l = Labels::new();
        if let Some(a) = app {
            l.insert("app".into(), ["x", "y", "z"][a].into());
        }
        if let Some(t) = tier {
            l.insert("tier".into(), ["front", "back"][t].into());
        }
        l
    })
}

fn selector() -> impl Strategy<Value = LabelSelector> {
    (
        labels(),
        prop::collection::vec((0..2usize, 0..4usize, 0..3usize), 0..2),
    )
        .prop_map(|(ml, exprs)| LabelSelector {
            match_labels: ml,
            match_expressions: exprs
                .into_iter()
                .map(|(key, op, v)| LabelSelectorRequirement {
                    key: ["app", "tier"][key].into(),
                    operator: ["In", "NotIn", "Exists", "DoesNotExist"][op].into(),
                    values: if op < 2 {
                        vec![["x", "front", "z"][v].into()]
                    } else {
                        vec![]
                    },
                })
                .collect(),
        })
}

fn ns_selector() -> impl Strategy<Value = LabelSelector> {
    prop_oneof![
        Just(LabelSelector::default()),
        (0..2usize).prop_map(|t| LabelSelector {
            match_labels: [("team".to_string(), ["red", "blue"][t].to_string())].into(),
            ..Default::default()
        }),
        (0..3usize).prop_map(|n| LabelSelector {
            match_labels: [("kubernetes.io/metadata.name".to_string(), NS[n].to_string())].into(),
            ..Default::default()
        }),
        Just(LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: "team".into(),
                operator: "DoesNotExist".into(),
                values: vec![],
            }],
            ..Default::default()
        }),
    ]
}

fn ip_block() -> impl Strategy<Value = IpBlock> {
    prop_oneof![
        (0..8u8, 29..=31u8).prop_map(|(i, len)| IpBlock {
            cidr: format!("10.0.0.{}/{len}", i * 2),
            except: vec![],
        }),
        (0..8u8).prop_map(|i| IpBlock {
            cidr: "10.0.0.0/28".into(),
            except: vec![format!("10.0.0.{i}/32")],
        }),
        Just(IpBlock {
            cidr: "192.168.0.0/24".into(),
            except: vec!["192.168.0.2/32".into()],
        }),
        Just(IpBlock {
            cidr: "fd00::/64".into(),
            except: vec![],
        }),
        Just(IpBlock {
            cidr: "0.0.0.0/0".into(),
            except: vec!["10.0.0.0/29".into()],
        }),
    ]
}

fn peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        selector().prop_map(|s| Peer {
            pod_selector: Some(s),
            ..Default::default()
        }),
        (selector(), ns_selector()).prop_map(|(p, n)| Peer {
            pod_selector: Some(p),
            namespace_selector: Some(n),
            ..Default::default()
        }),
        ns_selector().prop_map(|n| Peer {
            namespace_selector: Some(n),
            ..Default::default()
        }),
        ip_block().prop_map(|b| Peer {
            ip_block: Some(b),
            ..Default::default()
        }),
    ]
}

fn port() -> impl Strategy<Value = PolicyPort> {
    (prop::option::of(0..3usize), 0..7usize).prop_map(|(proto, p)| PolicyPort {
        protocol: proto.map(|i| ["TCP", "UDP", "SCTP"][i].into()),
        port: match p {
            0 => None,
            1 => Some(IntOrString::Int(80)),
            2 => Some(IntOrString::Str("http".into())),
            3 => Some(IntOrString::Int(8000)),
            4 => Some(IntOrString::Str("dns".into())),
            5 => Some(IntOrString::Int(53)),
            _ => Some(IntOrString::Str("metrics".into())),
        },
        end_port: (p == 3).then_some(8080),
    })
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        prop::option::of(prop::collection::vec(peer(), 0..3)),
        prop::option::of(prop::collection::vec(port(), 0..3)),
    )
        .prop_map(|(peers, ports)| Rule {
            from: peers.clone(),
            to: peers,
            ports,
        })
}

fn policy() -> impl Strategy<Value = NetworkPolicy> {
    (
        0..3usize,
        selector(),
        prop::option::of(prop::collection::vec(rule(), 0..3)),
        prop::option::of(prop::collection::vec(rule(), 0..3)),
        prop::option::of(0..3usize),
        0..20usize,
    )
        .prop_map(|(ns, sel, ingress, egress, types, invalid)| {
            let mut p = NetworkPolicy {
                metadata: ObjectMeta {
                    name: "p".into(),
                    namespace: Some(NS[ns].into()),
                    ..Default::default()
                },
                spec: NetworkPolicySpec {
                    pod_selector: sel,
                    ingress,
                    egress,
                    policy_types: types.map(|t| match t {
                        0 => vec!["Ingress".into()],
                        1 => vec!["Egress".into()],
                        _ => vec!["Ingress".into(), "Egress".into()],
                    }),
                },
            };
            if invalid == 0 {
                // The API server would reject this one: it must not be used.
                p.spec.ingress = Some(vec![Rule {
                    from: Some(vec![Peer::default()]),
                    ..Default::default()
                }]);
            }
            p
        })
}

#[derive(Debug, Clone)]
struct PodSpecGen {
    ns: usize,
    labels: Labels,
    http: Option<u16>,
    dns: bool,
    metrics_udp: bool,
    host_network: bool,
    node: usize,
    ip: usize,
}

fn pod() -> impl Strategy<Value = PodSpecGen> {
    (
        0..3usize,
        labels(),
        prop::option::of(prop_oneof![Just(80u16), Just(8080u16), Just(9090u16)]),
        any::<bool>(),
        any::<bool>(),
        0..6usize,
        0..2usize,
        0..10usize,
    )
        .prop_map(
            |(ns, labels, http, dns, metrics_udp, host, node, ip)| PodSpecGen {
                ns,
                labels,
                http,
                dns,
                metrics_udp,
                host_network: host == 0,
                node,
                ip,
            },
        )
}

fn cluster() -> impl Strategy<Value = Cluster> {
    (
        prop::collection::vec(pod(), 1..=9),
        prop::collection::vec(policy(), 0..=5),
        prop::collection::vec(prop::option::of(0..2usize), 3),
    )
        .prop_map(|(pods, pols, teams)| {
            let mut c = Cluster::default();
            for (i, t) in teams.into_iter().enumerate() {
                let mut labels = Labels::new();
                if let Some(t) = t {
                    labels.insert("team".into(), ["red", "blue"][t].into());
                }
                c.namespaces.push(Namespace {
                    metadata: ObjectMeta {
                        name: NS[i].into(),
                        labels,
                        ..Default::default()
                    },
                });
            }
            for (i, addr) in NODE_IPS.iter().enumerate() {
                c.nodes.push(Node {
                    metadata: ObjectMeta {
                        name: format!("n{i}"),
                        ..Default::default()
                    },
                    status: NodeStatus {
                        addresses: vec![NodeAddress {
                            kind: "InternalIP".into(),
                            address: (*addr).into(),
                        }],
                    },
                });
            }
            for (i, g) in pods.into_iter().enumerate() {
                let mut ports = Vec::new();
                if let Some(h) = g.http {
                    ports.push(ContainerPort {
                        name: Some("http".into()),
                        container_port: h,
                        protocol: None,
                    });
                }
                if g.dns {
                    for proto in ["UDP", "TCP"] {
                        ports.push(ContainerPort {
                            name: Some(if proto == "UDP" { "dns" } else { "dns-tcp" }.into()),
                            container_port: 53,
                            protocol: Some(proto.into()),
                        });
                    }
                }
                ports.push(ContainerPort {
                    name: Some("metrics".into()),
                    container_port: 9100,
                    protocol: g.metrics_udp.then(|| "UDP".into()),
                });
                let (pod_ip, pod_ips) = if g.host_network {
                    (Some(NODE_IPS[g.node].to_string()), vec![])
                } else {
                    match g.ip {
                        0 => (None, vec![]),
                        1 => (
                            Some(format!("10.0.0.{i}")),
                            vec![
                                PodIp {
                                    ip: format!("10.0.0.{i}"),
                                },
                                PodIp {
                                    ip: format!("fd00::{i}"),
                                },
                            ],
                        ),
                        _ => (Some(format!("10.0.0.{i}")), vec![]),
                    }
                };
                c.pods.push(Pod {
                    metadata: ObjectMeta {
                        name: format!("p{i}"),
                        namespace: Some(NS[g.ns].into()),
                        labels: g.labels,
                        ..Default::default()
                    },
                    spec: PodSpec {
                        host_network: g.host_network,
                        node_name: Some(format!("n{}", g.node)),
                        containers: vec![Container {
                            name: "c".into(),
                            ports,
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                    status: PodStatus {
                        pod_ip,
                        pod_ips,
                        ..Default::default()
                    },
                });
            }
            for (i, mut p) in pols.into_iter().enumerate() {
                p.metadata.name = format!("np{i}");
                c.network_policies.push(p);
            }
            c
        })
}

/// The consumer's rule from docs/k8s-matrix.md, applied to the JSON alone.
fn json_verdict(
    v: &serde_json::Value,
    class_of: &HashMap<String, u64>,
    own_node: &BTreeSet<(String, String)>,
    from: &str,
    to: &str,
    port: u64,
    proto: &str,
) -> Option<&'static str> {
    if from == to || own_node.contains(&(from.into(), to.into())) {
        return None;
    }
    let (a, b) = (class_of[from], class_of[to]);
    let ports = v["ports"].as_array().unwrap();
    let k = ports
        .iter()
        .position(|p| p["port"] == port && p["protocol"] == proto)
        .unwrap();
    let row = &v["matrix"][a as usize * ports.len() + k];
    assert_eq!(row["from"], a);
    assert_eq!(row["port"], port);
    let has = |key: &str| {
        row.get(key)
            .and_then(|l| l.as_array())
            .is_some_and(|l| l.iter().any(|x| *x == b))
    };
    let cat = if has("allowed") {
        "allowed"
    } else if has("denied_by_ingress") {
        "ingress"
    } else if has("denied_by_egress") {
        "egress"
    } else if has("denied_by_both") {
        "both"
    } else {
        row["rest"].as_str().unwrap()
    };
    match cat {
        "allowed" => None,
        "ingress" => Some("ingress"),
        "egress" => Some("egress"),
        _ => Some("both"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]
    #[test]
    fn matrix_agrees_with_the_per_pair_evaluator(c in cluster()) {
        let report = matrix(&c);
        let v: serde_json::Value = serde_json::from_str(&report.render(Format::Json)).unwrap();
        prop_assert_eq!(&v["schema"], "netdiag.k8s.matrix/v1");
        let mut class_of = HashMap::new();
        let mut members = 0;
        for cl in v["classes"].as_array().unwrap() {
            for p in cl["pods"].as_array().unwrap() {
                let id = format!("{}/{}", cl["namespace"].as_str().unwrap(), p.as_str().unwrap());
                prop_assert!(class_of.insert(id, cl["id"].as_u64().unwrap()).is_none());
                members += 1;
            }
        }
        prop_assert_eq!(members, c.pods.len());
        let mut own_node = BTreeSet::new();
        for o in v["own_node"].as_array().unwrap() {
            for h in o["address_holders"].as_array().unwrap() {
                for p in o["pods"].as_array().unwrap() {
                    let (h, p) = (h.as_str().unwrap().to_string(), p.as_str().unwrap().to_string());
                    own_node.insert((h.clone(), p.clone()));
                    own_node.insert((p, h));
                }
            }
        }
        let ports: Vec<(u64, String)> = v["ports"].as_array().unwrap().iter()
            .map(|p| (p["port"].as_u64().unwrap(), p["protocol"].as_str().unwrap().to_string()))
            .collect();
        // Every declared container port is reported.
        for p in &c.pods {
            for cp in &p.spec.containers[0].ports {
                let proto = cp.protocol.clone().unwrap_or_else(|| "TCP".into());
                prop_assert!(ports.contains(&(u64::from(cp.container_port), proto)));
            }
        }
        let (valid, invalid) = partition(&c);
        prop_assert_eq!(v["invalid_policies"].as_array().unwrap().len(), invalid.len());
        for a in &c.pods {
            for b in &c.pods {
                let (ia, ib) = (
                    format!("{}/{}", a.metadata.ns(), a.metadata.name),
                    format!("{}/{}", b.metadata.ns(), b.metadata.name),
                );
                for (port, proto) in &ports {
                    let flow = FlowPort { port: *port as u16, protocol: proto.clone() };
                    let r = evaluate(&c, &valid, &Endpoint::Pod(a), &Endpoint::Pod(b), &flow);
                    let want = match (r.egress.allowed, r.ingress.allowed) {
                        (true, true) => None,
                        (true, false) => Some("ingress"),
                        (false, true) => Some("egress"),
                        (false, false) => Some("both"),
                    };
                    let got = json_verdict(&v, &class_of, &own_node, &ia, &ib, *port, proto);
                    prop_assert_eq!(got, want, "{} -> {} {}/{}", ia, ib, port, proto);
                }
            }
        }
    }
}
