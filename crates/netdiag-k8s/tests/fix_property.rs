//! Property test of the minimal fix on small random clusters (up to 6 pods, 4 policies): applying
//! the fix makes the flow allowed, the fix is valid, it never turns an allowed pair into a denied
//! one (no new isolation), and it only changes pairs whose source and destination carry the same
//! namespace and (a superset of) the same labels as the flow's ends.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_k8s::fix::minimal_fix;
use netdiag_k8s::load::Cluster;
use netdiag_k8s::model::*;
use netdiag_k8s::policy::{evaluate, partition, validate, Endpoint, FlowPort};
use proptest::prelude::*;

const NS: [&str; 2] = ["a", "b"];

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
    (labels(), prop::option::of((0..4usize, 0..3usize))).prop_map(|(ml, expr)| LabelSelector {
        match_labels: ml,
        match_expressions: expr
            .map(|(op, v)| LabelSelectorRequirement {
                key: "app".into(),
                operator: ["In", "NotIn", "Exists", "DoesNotExist"][op].into(),
                values: if op < 2 {
                    vec![["x", "y", "z"][v].into()]
                } else {
                    vec![]
                },
            })
            .into_iter()
            .collect(),
    })
}

fn peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        selector().prop_map(|s| Peer {
            pod_selector: Some(s),
            ..Default::default()
        }),
        (selector(), selector()).prop_map(|(p, n)| Peer {
            pod_selector: Some(p),
            namespace_selector: Some(n),
            ..Default::default()
        }),
        (0..8u8).prop_map(|i| Peer {
            ip_block: Some(IpBlock {
                cidr: format!("10.0.0.{i}/31"),
                except: vec![]
            }),
            ..Default::default()
        }),
    ]
}

fn port() -> impl Strategy<Value = PolicyPort> {
    (prop::option::of(0..2usize), 0..4usize).prop_map(|(proto, p)| PolicyPort {
        protocol: proto.map(|i| ["TCP", "UDP"][i].into()),
        port: match p {
            0 => None,
            1 => Some(IntOrString::Int(80)),
            2 => Some(IntOrString::Str("http".into())),
            _ => Some(IntOrString::Int(8000)),
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
        0..2usize,
        selector(),
        prop::option::of(prop::collection::vec(rule(), 0..3)),
        prop::option::of(prop::collection::vec(rule(), 0..3)),
        prop::option::of(0..3usize),
    )
        .prop_map(|(ns, sel, ingress, egress, types)| NetworkPolicy {
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
        })
}

fn pod() -> impl Strategy<Value = (usize, Labels, u16)> {
    (0..2usize, labels(), prop_oneof![Just(80u16), Just(8080u16)])
}

fn cluster() -> impl Strategy<Value = Cluster> {
    (
        prop::collection::vec(pod(), 1..=6),
        prop::collection::vec(policy(), 0..=4),
    )
        .prop_map(|(pods, pols)| {
            let mut c = Cluster::default();
            for (i, (ns, labels, http)) in pods.into_iter().enumerate() {
                c.pods.push(Pod {
                    metadata: ObjectMeta {
                        name: format!("p{i}"),
                        namespace: Some(NS[ns].into()),
                        labels,
                        ..Default::default()
                    },
                    spec: PodSpec {
                        containers: vec![Container {
                            name: "c".into(),
                            ports: vec![ContainerPort {
                                name: Some("http".into()),
                                container_port: http,
                                protocol: None,
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                    status: PodStatus {
                        pod_ip: Some(format!("10.0.0.{i}")),
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

fn superset(big: &Labels, small: &Labels) -> bool {
    small.iter().all(|(k, v)| big.get(k) == Some(v))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]
    #[test]
    fn applying_the_fix_allows_exactly_the_flow(
        c in cluster(), s in 0..6usize, d in 0..6usize,
        port in prop_oneof![Just(80u16), Just(8080u16), Just(53u16)],
        proto in prop_oneof![Just("TCP"), Just("UDP")],
    ) {
        let (s, d) = (s % c.pods.len(), d % c.pods.len());
        let flow = FlowPort { port, protocol: proto.into() };
        let (valid, _) = partition(&c);
        let (src, dst) = (Endpoint::Pod(&c.pods[s]), Endpoint::Pod(&c.pods[d]));
        let before = evaluate(&c, &valid, &src, &dst, &flow);
        let fixes = minimal_fix(&c, &src, &dst, &flow, &before).expect("no fix opens the world");
        prop_assert_eq!(before.allowed(), fixes.is_empty());
        let mut fixed = c.clone();
        for f in &fixes {
            prop_assert_eq!(validate(&f.policy), Ok(()));
            fixed.network_policies.push(f.policy.clone());
        }
        let (valid_after, _) = partition(&fixed);
        let after = evaluate(&fixed, &valid_after, &Endpoint::Pod(&fixed.pods[s]), &Endpoint::Pod(&fixed.pods[d]), &flow);
        prop_assert!(after.allowed());
        // No other pair changes, except pairs that look exactly like this flow to a selector.
        for (i, a) in c.pods.iter().enumerate() {
            for (j, b) in c.pods.iter().enumerate() {
                for p in [80u16, 8080, 53] {
                    for pr in ["TCP", "UDP"] {
                        let fl = FlowPort { port: p, protocol: pr.into() };
                        let was = evaluate(&c, &valid, &Endpoint::Pod(a), &Endpoint::Pod(b), &fl).allowed();
                        let now = evaluate(&fixed, &valid_after, &Endpoint::Pod(&fixed.pods[i]), &Endpoint::Pod(&fixed.pods[j]), &fl).allowed();
                        prop_assert!(!was || now, "fix denied a previously allowed pair p{}->p{}", i, j);
                        if was != now {
                            let like = a.metadata.ns() == c.pods[s].metadata.ns()
                                && b.metadata.ns() == c.pods[d].metadata.ns()
                                && superset(&a.metadata.labels, &c.pods[s].metadata.labels)
                                && superset(&b.metadata.labels, &c.pods[d].metadata.labels)
                                && p == port && pr == proto;
                            prop_assert!(like, "fix changed unrelated pair p{}->p{} {}/{}", i, j, p, pr);
                        }
                    }
                }
            }
        }
    }
}
