//! Properties of the Azure fixes and loader on random small estates:
//! every proposed fix, applied, makes the flow allowed and allows no other (source, destination,
//! port) that was denied before, except identical ones (NICs in the same subnet with the same NIC
//! NSG and the same ASGs, the same external address, the same port); and `load` never panics.
#![allow(clippy::unwrap_used, missing_docs)]

use netdiag_cloud::azure;
use netdiag_cloud::doc::Document;
use netdiag_cloud::flow::Query;
use proptest::prelude::*;
use serde_json::{json, Value};

const RG: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network";
const EXTERNAL: [&str; 2] = ["203.0.113.5", "198.51.100.1"];
const PORTS: [u16; 2] = [22, 443];

fn id(kind: &str, name: &str) -> String {
    format!("{RG}/{kind}/{name}")
}

fn subnet_id(i: usize) -> String {
    format!("{RG}/virtualNetworks/vnet/subnets/s{i}")
}

#[derive(Debug, Clone, PartialEq)]
struct NicSpec {
    subnet: usize,
    nsg: Option<&'static str>,
    asgs: Vec<&'static str>,
}

fn nic() -> impl Strategy<Value = NicSpec> {
    (
        0..2usize,
        proptest::option::of(prop_oneof![Just("nsg-a"), Just("nsg-c")]),
        proptest::sample::subsequence(vec!["asg-1", "asg-2"], 0..=2),
    )
        .prop_map(|(subnet, nsg, asgs)| NicSpec { subnet, nsg, asgs })
}

fn side() -> impl Strategy<Value = (Option<&'static str>, Option<&'static str>)> {
    prop_oneof![
        Just((Some("*"), None)),
        Just((Some("VirtualNetwork"), None)),
        Just((Some("Internet"), None)),
        Just((Some("10.1.0.0/24"), None)),
        Just((Some("10.1.0.4/32"), None)),
        Just((Some("203.0.113.0/24"), None)),
        Just((None, Some("asg-1"))),
        Just((None, Some("asg-2"))),
    ]
}

fn rule(i: usize) -> impl Strategy<Value = Value> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0..3u32,
        side(),
        side(),
        prop_oneof![
            Just(json!("*")),
            Just(json!("22")),
            Just(json!("443")),
            Just(json!("20-450")),
            Just(json!(["22", "443"]))
        ],
    )
        .prop_map(move |(inbound, allow, tcp, jitter, src, dst, port)| {
            let mut r = json!({
                "name": format!("r{i}"), "priority": 100 * (i as u32 + 1) + 10 * jitter,
                "direction": if inbound { "Inbound" } else { "Outbound" },
                "access": if allow { "Allow" } else { "Deny" },
                "protocol": if tcp { "Tcp" } else { "*" },
                "sourcePortRange": "*",
            });
            for (key, (prefix, asg)) in [("source", src), ("destination", dst)] {
                if let Some(p) = prefix {
                    r[format!("{key}AddressPrefix")] = json!(p);
                }
                if let Some(a) = asg {
                    r[format!("{key}ApplicationSecurityGroups")] =
                        json!([{"id": id("applicationSecurityGroups", a)}]);
                }
            }
            if port.is_array() {
                r["destinationPortRanges"] = port;
            } else {
                r["destinationPortRange"] = port;
            }
            r
        })
}

fn nsg_rules() -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::vec(0..1usize, 0..=4)
        .prop_flat_map(|v| (0..v.len()).map(rule).collect::<Vec<_>>())
}

fn estate() -> impl Strategy<Value = (Vec<NicSpec>, Vec<Document>)> {
    (
        proptest::collection::vec(nic(), 2..=3),
        [nsg_rules(), nsg_rules(), nsg_rules()],
        [proptest::option::of(prop_oneof![Just("nsg-a"), Just("nsg-b")]), proptest::option::of(prop_oneof![Just("nsg-a"), Just("nsg-b")])],
        any::<bool>(),
    )
        .prop_map(|(nics, rules, subnet_nsgs, arm)| {
            let names = ["nsg-a", "nsg-b", "nsg-c"];
            let nsgs: Vec<Value> = names
                .iter()
                .zip(rules)
                .map(|(n, rules)| {
                    if arm {
                        // The ARM form: fields under `properties`.
                        let rules: Vec<Value> = rules
                            .into_iter()
                            .map(|r| json!({"name": r["name"].clone(), "properties": r}))
                            .collect();
                        json!({"id": id("networkSecurityGroups", n), "name": n,
                               "type": "Microsoft.Network/networkSecurityGroups",
                               "properties": {"securityRules": rules}})
                    } else {
                        json!({"id": id("networkSecurityGroups", n), "name": n, "resourceGroup": "rg",
                               "type": "Microsoft.Network/networkSecurityGroups", "securityRules": rules})
                    }
                })
                .collect();
            let nic_docs: Vec<Value> = nics
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut n = json!({
                        "id": id("networkInterfaces", &format!("nic-{i}")), "name": format!("nic-{i}"),
                        "type": "Microsoft.Network/networkInterfaces",
                        "ipConfigurations": [{"name": "ipconfig1", "privateIPAddress": format!("10.1.{}.{}", s.subnet, i + 4),
                            "subnet": {"id": subnet_id(s.subnet)},
                            "applicationSecurityGroups": s.asgs.iter().map(|a| json!({"id": id("applicationSecurityGroups", a)})).collect::<Vec<_>>()}],
                    });
                    if let Some(g) = s.nsg {
                        n["networkSecurityGroup"] = json!({"id": id("networkSecurityGroups", g)});
                    }
                    n
                })
                .collect();
            let subnets: Vec<Value> = (0..2)
                .map(|i| {
                    let mut s = json!({"id": subnet_id(i), "name": format!("s{i}"), "addressPrefix": format!("10.1.{i}.0/24")});
                    if let Some(g) = subnet_nsgs[i] {
                        s["networkSecurityGroup"] = json!({"id": id("networkSecurityGroups", g)});
                    }
                    s
                })
                .collect();
            let vnet = json!({"id": id("virtualNetworks", "vnet"), "name": "vnet", "type": "Microsoft.Network/virtualNetworks",
                "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}, "subnets": subnets, "virtualNetworkPeerings": []});
            let docs = vec![
                Document { path: "nsgs.json".into(), value: Value::Array(nsgs) },
                Document { path: "nics.json".into(), value: Value::Array(nic_docs) },
                Document { path: "vnet.json".into(), value: vnet },
            ];
            (nics, docs)
        })
}

fn queries(n: usize) -> Vec<(String, String, u16)> {
    let eps: Vec<String> = (0..n)
        .map(|i| format!("nic-{i}"))
        .chain(EXTERNAL.iter().map(|s| s.to_string()))
        .collect();
    let mut out = Vec::new();
    for s in &eps {
        for d in &eps {
            if s != d && (s.starts_with("nic-") || d.starts_with("nic-")) {
                for p in PORTS {
                    out.push((s.clone(), d.clone(), p));
                }
            }
        }
    }
    out
}

fn same_role(nics: &[NicSpec], a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let idx = |s: &str| s.strip_prefix("nic-").and_then(|i| i.parse::<usize>().ok());
    match (idx(a), idx(b)) {
        (Some(i), Some(j)) => {
            let (mut x, mut y) = (nics[i].clone(), nics[j].clone());
            x.asgs.sort();
            y.asgs.sort();
            x == y
        }
        _ => false,
    }
}

fn allowed(e: &azure::Estate, (s, d, p): &(String, String, u16)) -> bool {
    e.evaluate(&Query::parse(s, d, &p.to_string(), "tcp").unwrap())
        .unwrap()
        .verdict
        .allowed
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fixes_allow_the_flow_and_nothing_else((nics, docs) in estate()) {
        let e = azure::load(&docs).unwrap();
        let qs = queries(nics.len());
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
            let changes = e.proposed_changes(&query).unwrap();
            let mut after = e.clone();
            for c in &changes {
                after.apply(c);
            }
            let now = after.evaluate(&query).unwrap();
            prop_assert!(now.verdict.allowed, "fix {:?} did not allow {:?}: {:?}", fix.commands, q, now.verdict);
            for (j, other) in qs.iter().enumerate() {
                if j == i || before[j] || !allowed(&after, other) {
                    continue;
                }
                prop_assert!(
                    other.2 == q.2 && same_role(&nics, &other.0, &q.0) && same_role(&nics, &other.1, &q.1),
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
            Just("Microsoft.Network/networkSecurityGroups".to_string()),
            Just("Microsoft.Network/networkInterfaces".to_string()),
            Just("Microsoft.Network/virtualNetworks".to_string()),
            Just("Microsoft.Network/publicIPAddresses".to_string()),
            Just("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a".to_string()),
            Just("Inbound".to_string()),
            Just("VirtualNetwork".to_string()),
            Just("80-x".to_string()),
            ".{0,8}".prop_map(|s| s),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("type"),
            Just("id"),
            Just("name"),
            Just("properties"),
            Just("securityRules"),
            Just("priority"),
            Just("direction"),
            Just("access"),
            Just("protocol"),
            Just("sourceAddressPrefix"),
            Just("destinationPortRanges"),
            Just("ipConfigurations"),
            Just("privateIPAddress"),
            Just("subnet"),
            Just("subnets"),
            Just("addressSpace"),
            Just("addressPrefixes"),
            Just("virtualNetworkPeerings"),
            Just("networkSecurityGroup"),
            Just("applicationSecurityGroups"),
            Just("ipAddress"),
            Just("ipConfiguration"),
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
        let nic = json!({"type": "Microsoft.Network/networkInterfaces", "id": "/x/providers/Microsoft.Network/networkInterfaces/n", "name": "n",
            "ipConfigurations": [{"privateIPAddress": "10.0.0.1"}]});
        let doc = Document { path: "random.json".into(), value: json!([v.clone(), nic]) };
        if let Ok(e) = azure::load(&[doc]) {
            let _ = e.evaluate(&Query::parse("n", "203.0.113.1", "22", "tcp").unwrap());
            let _ = e.evaluate(&Query::parse("203.0.113.1", "n", "22", "tcp").unwrap());
        }
        let _ = azure::load(&[Document { path: "random.json".into(), value: v }]);
    }

    #[test]
    fn load_never_panics_on_truncated_fixtures(cut in 0usize..40_000, which in 0usize..3) {
        let name = ["nsgs.json", "nics.json", "vnets.json"][which];
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/azure").join(name);
        let text = std::fs::read_to_string(path).unwrap();
        let cut = cut.min(text.len());
        let cut = (0..=cut).rev().find(|c| text.is_char_boundary(*c)).unwrap_or(0);
        match Document::from_str(name, &text[..cut]) {
            Ok(doc) => { let _ = azure::load(&[doc]); }
            Err(err) => prop_assert!(err.to_string().starts_with(name)),
        }
    }
}
