//! Properties of the GCP fixes and loader on random small estates:
//! every proposed fix, applied, makes the flow allowed and allows no other (source, destination,
//! port) that was denied before, except identical ones (instances with the same network tags and
//! service accounts, the same external address, the same port); and `load` never panics.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_cloud::doc::Document;
use netdiag_cloud::flow::Query;
use netdiag_cloud::gcp;
use proptest::prelude::*;
use serde_json::{json, Value};

const NET: &str = "https://www.googleapis.com/compute/v1/projects/p/global/networks/net";
const EXTERNAL: [&str; 2] = ["203.0.113.5", "198.51.100.1"];
const PORTS: [u16; 2] = [22, 443];

#[derive(Debug, Clone)]
struct Vm {
    tags: Vec<&'static str>,
    sa: Option<&'static str>,
}

fn vm() -> impl Strategy<Value = Vm> {
    (
        proptest::sample::subsequence(vec!["a", "b"], 0..=2),
        proptest::option::of(prop_oneof![
            Just("sa1@p.iam.gserviceaccount.com"),
            Just("sa2@p.iam.gserviceaccount.com")
        ]),
    )
        .prop_map(|(tags, sa)| Vm { tags, sa })
}

fn ports() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!([{"IPProtocol": "tcp", "ports": ["22"]}])),
        Just(json!([{"IPProtocol": "tcp", "ports": ["443"]}])),
        Just(json!([{"IPProtocol": "tcp", "ports": ["20-450"]}])),
        Just(json!([{"IPProtocol": "all"}])),
    ]
}

fn firewall_rule(i: usize) -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(100u32), Just(500), Just(1000)],
        ports(),
        0..7usize,
        0..5usize,
        proptest::bool::weighted(0.15),
    )
        .prop_map(
            move |(ingress, allow, priority, l4, src, target, disabled)| {
                let mut r = json!({
                    "kind": "compute#firewall", "name": format!("r{i}"), "network": NET,
                    "direction": if ingress { "INGRESS" } else { "EGRESS" },
                    "priority": priority, "disabled": disabled,
                });
                r[if allow { "allowed" } else { "denied" }] = l4;
                let peer_key = if ingress {
                    "sourceRanges"
                } else {
                    "destinationRanges"
                };
                let uses_sa = matches!(target, 3 | 4);
                match src {
                    0 => r[peer_key] = json!(["10.0.0.1/32"]),
                    1 => r[peer_key] = json!(["10.0.0.0/24"]),
                    2 => r[peer_key] = json!(["0.0.0.0/0"]),
                    3 => r[peer_key] = json!(["203.0.113.0/24"]),
                    4 if ingress && !uses_sa => r["sourceTags"] = json!(["a"]),
                    5 if ingress && uses_sa => {
                        r["sourceServiceAccounts"] = json!(["sa1@p.iam.gserviceaccount.com"])
                    }
                    _ => {}
                }
                match target {
                    1 => r["targetTags"] = json!(["a"]),
                    2 => r["targetTags"] = json!(["b"]),
                    3 => r["targetServiceAccounts"] = json!(["sa1@p.iam.gserviceaccount.com"]),
                    4 => r["targetServiceAccounts"] = json!(["sa2@p.iam.gserviceaccount.com"]),
                    _ => {}
                }
                r
            },
        )
}

fn policy_rule(priority: u32) -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        0..3usize,
        0..3usize,
        prop_oneof![Just("22"), Just("443")],
    )
        .prop_map(move |(ingress, action, range, port)| {
            let range = ["10.0.0.0/24", "0.0.0.0/0", "203.0.113.5/32"][range];
            let mut m = json!({"layer4Configs": [{"ipProtocol": "tcp", "ports": [port]}]});
            m[if ingress {
                "srcIpRanges"
            } else {
                "destIpRanges"
            }] = json!([range]);
            let action = ["allow", "deny", "goto_next"][action];
            json!({
                "priority": priority, "direction": if ingress { "INGRESS" } else { "EGRESS" },
                "action": action, "match": m,
            })
        })
}

fn estate() -> impl Strategy<Value = (Vec<Vm>, Vec<Document>)> {
    (
        proptest::collection::vec(vm(), 2..=3),
        proptest::collection::vec(0..1usize, 0..=5).prop_flat_map(|v| {
            (0..v.len()).map(firewall_rule).collect::<Vec<_>>()
        }),
        proptest::option::of(proptest::collection::vec(policy_rule(10), 0..=1)),
        proptest::option::of((any::<bool>(), proptest::collection::vec(policy_rule(1000), 0..=2))),
        any::<bool>(),
    )
        .prop_map(|(vms, rules, hier, netpol, default_route)| {
            let instances: Vec<Value> = vms
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let mut inst = json!({
                        "kind": "compute#instance", "name": format!("vm-{i}"), "machineType": "e2-small",
                        "zone": "projects/p/zones/z", "tags": {"items": v.tags},
                        "networkInterfaces": [{"network": NET, "networkIP": format!("10.0.0.{}", i + 1)}],
                    });
                    if let Some(sa) = v.sa {
                        inst["serviceAccounts"] = json!([{"email": sa}]);
                    }
                    inst
                })
                .collect();
            let mut network = json!({"kind": "compute#network", "name": "net", "selfLink": NET});
            let mut docs = vec![
                Document { path: "instances.json".into(), value: Value::Array(instances) },
                // One unrelated rule, so the export is never an empty `[]` (which no provider
                // can be recognised from).
                Document { path: "fw.json".into(), value: json!(rules.into_iter().chain([json!({
                    "kind": "compute#firewall", "name": "unrelated", "network": NET,
                    "allowed": [{"IPProtocol": "udp", "ports": ["9999"]}], "sourceRanges": ["10.9.0.0/16"]})]).collect::<Vec<_>>()) },
            ];
            let mut routes = vec![json!({"kind": "compute#route", "name": "subnet", "network": NET,
                "destRange": "10.0.0.0/24", "nextHopNetwork": NET, "priority": 0})];
            if default_route {
                routes.push(json!({"kind": "compute#route", "name": "default", "network": NET,
                    "destRange": "0.0.0.0/0", "nextHopGateway": "projects/p/global/gateways/default-internet-gateway",
                    "priority": 1000}));
            }
            docs.push(Document { path: "routes.json".into(), value: json!(routes) });
            if let Some(h) = hier {
                docs.push(Document { path: "hier.json".into(), value: json!([{
                    "kind": "compute#firewallPolicy", "name": "900", "shortName": "org",
                    "parent": "organizations/1", "rules": h }]) });
            }
            if let Some((first, rules)) = netpol {
                let mut rules = rules;
                for (i, r) in rules.iter_mut().enumerate() {
                    r["priority"] = json!(1000 + i as u64 * 10);
                }
                network["firewallPolicy"] = json!("projects/p/global/firewallPolicies/np");
                if first {
                    network["networkFirewallPolicyEnforcementOrder"] = json!("BEFORE_CLASSIC_FIREWALL");
                }
                docs.push(Document { path: "np.json".into(), value: json!({
                    "kind": "compute#firewallPolicy", "name": "np", "rules": rules,
                    "associations": [{"attachmentTarget": NET}] }) });
            }
            docs.push(Document { path: "networks.json".into(), value: json!([network]) });
            (vms, docs)
        })
}

fn endpoints(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("vm-{i}"))
        .chain(EXTERNAL.iter().map(|s| s.to_string()))
        .collect()
}

fn queries(n: usize) -> Vec<(String, String, u16)> {
    let eps = endpoints(n);
    let mut out = Vec::new();
    for s in &eps {
        for d in &eps {
            if s != d && (s.starts_with("vm-") || d.starts_with("vm-")) {
                for p in PORTS {
                    out.push((s.clone(), d.clone(), p));
                }
            }
        }
    }
    out
}

fn same_role(vms: &[Vm], a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let idx = |s: &str| s.strip_prefix("vm-").and_then(|i| i.parse::<usize>().ok());
    match (idx(a), idx(b)) {
        (Some(i), Some(j)) => {
            let (mut ta, mut tb) = (vms[i].tags.clone(), vms[j].tags.clone());
            ta.sort();
            tb.sort();
            ta == tb && vms[i].sa == vms[j].sa
        }
        _ => false,
    }
}

fn allowed(e: &gcp::Estate, (s, d, p): &(String, String, u16)) -> bool {
    let q = Query::parse(s, d, &p.to_string(), "tcp").unwrap();
    e.evaluate(&q).unwrap().verdict.allowed
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fixes_allow_the_flow_and_nothing_else((vms, docs) in estate()) {
        let e = gcp::load(&docs).unwrap();
        let qs = queries(vms.len());
        let before: Vec<bool> = qs.iter().map(|q| allowed(&e, q)).collect();
        for (i, q) in qs.iter().enumerate() {
            if before[i] {
                continue;
            }
            let query = Query::parse(&q.0, &q.1, &q.2.to_string(), "tcp").unwrap();
            let ev = e.evaluate(&query).unwrap();
            let Some(fix) = &ev.verdict.fix else {
                prop_assert!(ev.verdict.no_fix_reason.is_some() || !ev.verdict.unknown.is_empty(), "{:?}", ev.verdict);
                continue;
            };
            if !ev.verdict.unknown.is_empty() {
                continue;
            }
            for c in &fix.commands {
                prop_assert!(!c.contains("0.0.0.0/0") && !c.contains("::/0"), "{}", c);
            }
            prop_assert_eq!(fix.commands.len(), ev.verdict.rollback.len());
            let changes = e.proposed_changes(&query).unwrap();
            prop_assert!(!changes.is_empty());
            let mut after = e.clone();
            for c in &changes {
                after.apply(c);
            }
            let now = after.evaluate(&query).unwrap();
            prop_assert!(now.verdict.allowed, "fix {:?} did not allow {:?}: {:?}", fix.commands, q, now.verdict);
            // A route cannot filter ports: it opens the path to its destination for every
            // instance it applies to (those carrying its tags, all when untagged).
            let route_scope = |other: &(String, String, u16)| {
                changes.iter().any(|c| match c {
                    gcp::FixChange::Route { destination_range, tags, .. } => {
                        other.1.parse::<std::net::IpAddr>().is_ok_and(|ip| destination_range.contains(&ip))
                            && (tags.is_empty() || other.0.strip_prefix("vm-").and_then(|i| i.parse::<usize>().ok())
                                .is_some_and(|i| vms[i].tags.iter().any(|t| tags.iter().any(|x| x == t))))
                    }
                    _ => false,
                })
            };
            for (j, other) in qs.iter().enumerate() {
                if j == i || before[j] || !allowed(&after, other) || route_scope(other) {
                    continue;
                }
                prop_assert!(
                    other.2 == q.2 && same_role(&vms, &other.0, &q.0) && same_role(&vms, &other.1, &q.1),
                    "fix {:?} for {:?} also opened {:?}", fix.commands, q, other
                );
            }
        }
    }
}

fn json_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("compute#firewall".to_string()),
            Just("compute#instance".to_string()),
            Just("compute#firewallPolicy".to_string()),
            Just("compute#route".to_string()),
            Just("compute#network".to_string()),
            Just("10.0.0.0/8".to_string()),
            Just("80-x".to_string()),
            ".{0,8}".prop_map(|s| s),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("kind"),
            Just("name"),
            Just("network"),
            Just("allowed"),
            Just("denied"),
            Just("IPProtocol"),
            Just("ports"),
            Just("sourceRanges"),
            Just("priority"),
            Just("networkInterfaces"),
            Just("networkIP"),
            Just("tags"),
            Just("items"),
            Just("rules"),
            Just("match"),
            Just("parent"),
            Just("destRange"),
            Just("action"),
            Just("layer4Configs"),
            Just("ipProtocol"),
            Just("serviceAccounts"),
            Just("peerings"),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn load_never_panics_on_random_json(v in json_tree()) {
        let doc = Document { path: "random.json".into(), value: json!([v.clone(), {"kind": "compute#instance", "name": "x"}]) };
        if let Ok(e) = gcp::load(&[doc]) {
            let _ = e.evaluate(&Query::parse("x", "10.0.0.1", "22", "tcp").unwrap());
        }
        // The get-effective-firewalls shape, recognised without a `kind`.
        for key in ["firewallPolicys", "firewalls"] {
            let doc = Document { path: "effective.json".into(), value: json!({key: [v.clone()]}) };
            let inst = Document { path: "i.json".into(), value: json!([{"kind": "compute#instance", "name": "x", "networkInterfaces": [{"networkIP": "10.0.0.2"}]}]) };
            if let Ok(e) = gcp::load(&[doc, inst]) {
                let _ = e.evaluate(&Query::parse("x", "10.0.0.1", "22", "tcp").unwrap());
                let _ = e.evaluate(&Query::parse("10.0.0.1", "x", "22", "tcp").unwrap());
            }
        }
        let doc = Document { path: "random.json".into(), value: v };
        let _ = gcp::load(&[doc]);
    }

    #[test]
    fn load_never_panics_on_truncated_fixtures(cut in 0usize..20_000, which in 0usize..5) {
        let name = ["instances.json", "firewall-rules.json", "hierarchical-policies.json", "routes.json", "effective-firewalls-prod.json"][which];
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gcp").join(name);
        let text = std::fs::read_to_string(path).unwrap();
        let cut = cut.min(text.len());
        let cut = (0..=cut).rev().find(|c| text.is_char_boundary(*c)).unwrap_or(0);
        match Document::from_str(name, &text[..cut]) {
            Ok(doc) => { let _ = gcp::load(&[doc]); }
            Err(err) => prop_assert!(err.to_string().starts_with(name)),
        }
    }
}

/// The same estate as one `gcloud compute networks get-effective-firewalls net` export: the VPC
/// rules, the organization policy (`HIERARCHY`) and the network policy (`NETWORK`), without
/// `kind` on the policies and without the policies' `parent`/`associations`.
fn as_effective(docs: &[Document]) -> Vec<Document> {
    let mut firewalls = Vec::new();
    let mut policies = Vec::new();
    let mut out = Vec::new();
    for d in docs {
        match d.path.to_str() {
            Some("fw.json") => firewalls.extend(d.value.as_array().cloned().unwrap_or_default()),
            Some("hier.json") => {
                for p in d.value.as_array().cloned().unwrap_or_default() {
                    policies.insert(0, json!({"type": "HIERARCHY", "name": p["name"], "shortName": p["shortName"], "rules": p["rules"]}));
                }
            }
            Some("np.json") => policies.push(
                json!({"type": "NETWORK", "name": d.value["name"], "rules": d.value["rules"]}),
            ),
            _ => out.push(d.clone()),
        }
    }
    out.push(Document {
        path: "effective.json".into(),
        value: json!({"firewalls": firewalls, "firewallPolicys": policies}),
    });
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Differential: the effective export answers every flow exactly as the separate exports do
    /// (verdict, cause, blocking rule, fix commands).
    #[test]
    fn the_effective_export_answers_as_the_separate_exports((vms, docs) in estate()) {
        let separate = gcp::load(&docs).unwrap();
        let effective = gcp::load(&as_effective(&docs)).unwrap();
        for (s, d, p) in queries(vms.len()) {
            let q = Query::parse(&s, &d, &p.to_string(), "tcp").unwrap();
            let a = separate.evaluate(&q).unwrap().verdict;
            let b = effective.evaluate(&q).unwrap().verdict;
            prop_assert_eq!(a.allowed, b.allowed, "{} -> {}:{}", s, d, p);
            prop_assert_eq!(a.cause, b.cause, "{} -> {}:{}", s, d, p);
            prop_assert_eq!(&a.blocking, &b.blocking, "{} -> {}:{}", s, d, p);
            prop_assert_eq!(a.fix.map(|f| f.commands), b.fix.map(|f| f.commands), "{} -> {}:{}", s, d, p);
        }
    }
}
