//! Writes a synthetic but realistic cluster for benchmarking `netdiag k8s matrix` and `check`:
//! nodes, namespaces with team/env labels, ~25 pods per namespace across a few apps and tiers
//! (Deployment-style labels with `pod-template-hash`, the odd canary), CoreDNS in kube-system,
//! an ingress controller, hostNetwork node-exporters holding the node addresses, and per
//! namespace a default deny plus allow rules by app label, namespaceSelector, named ports and
//! ipBlocks, as teams write them.
//!
//! Usage: `gen_cluster OUT.json|OUT.yaml [PODS] [NAMESPACES] [POLICIES] [SEED]`
//! (defaults 5000 200 1000 1). `.json` writes one `kind: List` (as `kubectl get -o json`
//! prints), anything else multi-document YAML. Deterministic for a seed.

use serde_json::{json, Value};
use std::error::Error;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const NODES: usize = 50;

/// A container port: name, number, protocol.
type PortDecl = (&'static str, u16, &'static str);

/// App name, tier, and its container ports.
const APPS: [(&str, &str, &[PortDecl]); 10] = [
    ("frontend", "web", &[("http", 8080, "TCP")]),
    (
        "api",
        "backend",
        &[("http", 9090, "TCP"), ("grpc", 50051, "TCP")],
    ),
    ("worker", "backend", &[]),
    ("db", "data", &[("postgres", 5432, "TCP")]),
    ("cache", "data", &[("redis", 6379, "TCP")]),
    ("queue", "data", &[("amqp", 5672, "TCP")]),
    ("auth", "backend", &[("http", 8443, "TCP")]),
    ("search", "backend", &[("http", 9200, "TCP")]),
    ("billing", "backend", &[("http", 8000, "TCP")]),
    ("reports", "web", &[("http", 3000, "TCP")]),
];

fn pod(
    ns: &str,
    name: &str,
    labels: Value,
    ports: &[(&str, u16, &str)],
    node: usize,
    ip: &str,
    host_network: bool,
) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p, proto)| json!({"name": n, "containerPort": p, "protocol": proto}))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "nodeName": format!("node-{node:02}"),
            "hostNetwork": host_network,
            "containers": [{"name": "main", "image": "registry.example/app:1.0", "ports": ports}]
        },
        "status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    })
}

fn np(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// Policies, round-robin over the templates a team writes, until the budget is spent.
fn policies(ns_apps: &[(String, Vec<usize>)], n_pol: usize, envs: &[&str]) -> Vec<Value> {
    let dns_both = json!([{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]);
    let dns_udp = json!([{"protocol": "UDP", "port": 53}]);
    let mut made = 0;
    let mut out = Vec::new();
    'outer: for round in 0.. {
        for (i, (ns, apps)) in ns_apps.iter().enumerate() {
            if made >= n_pol {
                break 'outer;
            }
            let p = match round {
                0 => np(
                    ns,
                    "default-deny",
                    json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
                ),
                1 => np(
                    ns,
                    "allow-dns",
                    json!({"podSelector": {}, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                                "ports": if i % 7 == 0 { dns_udp.clone() } else { dns_both.clone() }}]}),
                ),
                2 => np(
                    ns,
                    "frontend",
                    json!({"podSelector": {"matchLabels": {"app": "frontend"}},
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                                 "ports": [{"port": "http"}]}],
                    "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "api"}}}], "ports": [{"port": "http"}]}]}),
                ),
                3 => np(
                    ns,
                    "api",
                    json!({"podSelector": {"matchLabels": {"app": "api"}},
                    "ingress": [{"from": [{"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}}],
                                 "ports": [{"port": "http"}, {"port": "grpc"}]}],
                    "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 5432}]},
                               {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}],
                                "ports": [{"port": 443}]}]}),
                ),
                4 => np(
                    ns,
                    "db",
                    json!({"podSelector": {"matchLabels": {"tier": "data"}},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"tier": "backend"}}},
                                          {"namespaceSelector": {"matchLabels": {"team": format!("team{:02}", i / 3)}},
                                           "podSelector": {"matchLabels": {"app": "reports"}}}],
                                 "ports": [{"port": 5432}, {"port": 6379}, {"port": 5672}]}]}),
                ),
                5 => np(
                    ns,
                    "allow-metrics",
                    json!({"podSelector": {},
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"role": "platform"}},
                                           "podSelector": {"matchLabels": {"app": "prometheus"}}},
                                          {"ipBlock": {"cidr": format!("172.16.0.{}/32", 10 + i % NODES)}}],
                                 "ports": [{"port": "metrics"}]}]}),
                ),
                6 => np(
                    ns,
                    "workers",
                    json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["frontend", "api", "db"]}]},
                    "egress": [{"to": [{"podSelector": {}}], "ports": [{"port": 8000, "endPort": 9999}]}]}),
                ),
                // Partners from outside; one namespace in 25 also admits a node's pod range.
                7 => np(
                    ns,
                    "partner-range",
                    json!({"podSelector": {"matchLabels": {"app": "api"}},
                    "ingress": [{"from": [if i % 25 == 0 {
                                    json!({"ipBlock": {"cidr": format!("10.244.{}.0/24", i % NODES), "except": [format!("10.244.{}.0/28", i % NODES)]}})
                                 } else {
                                    json!({"ipBlock": {"cidr": format!("203.0.{}.0/24", i % 256)}})
                                 }],
                                 "ports": [{"port": "http"}]}]}),
                ),
                _ => np(
                    ns,
                    &format!("extra-{round}"),
                    json!({"podSelector": {"matchLabels": {"app": APPS[apps[round % apps.len()]].0}},
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"env": envs[round % 3]}},
                                           "podSelector": {"matchLabels": {"tier": "web"}}}]}]}),
                ),
            };
            out.push(p);
            made += 1;
        }
    }
    out
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args
        .first()
        .ok_or("usage: gen_cluster OUT.json|OUT.yaml [PODS] [NAMESPACES] [POLICIES] [SEED]")?;
    let num = |i: usize, d: usize| -> Result<usize, Box<dyn Error>> {
        Ok(args.get(i).map(|s| s.parse()).transpose()?.unwrap_or(d))
    };
    let (n_pods, n_ns, n_pol, seed) = (num(1, 5000)?, num(2, 200)?, num(3, 1000)?, num(4, 1)?);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed as u64);
    let mut items: Vec<Value> = Vec::new();
    let mut next_ip = [1usize; NODES];
    let mut ip_on = |node: usize| {
        let k = next_ip[node];
        next_ip[node] += 1;
        format!("10.{}.{node}.{}", 244 + k / 254, k % 254 + 1)
    };

    for i in 0..NODES {
        items.push(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("node-{i:02}"), "labels": {"topology.kubernetes.io/zone": format!("zone-{}", i % 3)}},
            "status": {"addresses": [{"type": "InternalIP", "address": format!("172.16.0.{}", i + 10)},
                                     {"type": "Hostname", "address": format!("node-{i:02}")}]}}));
    }

    // Platform namespaces: CoreDNS, the ingress controller, monitoring (hostNetwork exporters).
    let platform = ["kube-system", "ingress-nginx", "monitoring"];
    for ns in platform {
        items.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"role": "platform"}}}));
    }
    let mut pods = 0;
    for r in 0..2 {
        let node = rng.below(NODES);
        items.push(pod(
            "kube-system",
            &format!("coredns-5d78c9869d-{r}"),
            json!({"k8s-app": "kube-dns", "pod-template-hash": "5d78c9869d"}),
            &[
                ("dns", 53, "UDP"),
                ("dns-tcp", 53, "TCP"),
                ("metrics", 9153, "TCP"),
            ],
            node,
            &ip_on(node),
            false,
        ));
        pods += 1;
    }
    for r in 0..3 {
        let node = rng.below(NODES);
        items.push(pod(
            "ingress-nginx",
            &format!("ingress-nginx-controller-7c6b8d-{r}"),
            json!({"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}),
            &[("http", 80, "TCP"), ("https", 443, "TCP")],
            node,
            &ip_on(node),
            false,
        ));
        pods += 1;
    }
    for node in 0..NODES {
        items.push(pod(
            "monitoring",
            &format!("node-exporter-{node:02}"),
            json!({"app": "node-exporter"}),
            &[("metrics", 9100, "TCP")],
            node,
            &format!("172.16.0.{}", node + 10),
            true,
        ));
        pods += 1;
    }
    let node = rng.below(NODES);
    items.push(pod(
        "monitoring",
        "prometheus-0",
        json!({"app": "prometheus"}),
        &[("web", 9090, "TCP")],
        node,
        &ip_on(node),
        false,
    ));
    pods += 1;

    // Team namespaces.
    let teams = n_ns.saturating_sub(platform.len()).max(1);
    let per_ns = n_pods.saturating_sub(pods) / teams;
    let mut extra = n_pods.saturating_sub(pods) % teams;
    let envs = ["prod", "staging", "dev"];
    let mut ns_apps: Vec<(String, Vec<usize>)> = Vec::new();
    for t in 0..teams {
        let ns = format!("team{:02}-{}", t / 3, envs[t % 3]);
        items.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"team": format!("team{:02}", t / 3), "env": envs[t % 3]}}}));
        // 4-6 apps, always frontend, api and db.
        let mut apps = vec![0, 1, 3];
        while apps.len() < 4 + rng.below(3) {
            let a = 2 + rng.below(APPS.len() - 2);
            if !apps.contains(&a) {
                apps.push(a);
            }
        }
        let mut count = per_ns;
        if extra > 0 {
            count += 1;
            extra -= 1;
        }
        for k in 0..count {
            let a = apps[k % apps.len()];
            let (app, tier, ports) = APPS[a];
            let canary = rng.below(10) == 0 && a < 2;
            let version = if canary { "v2" } else { "v1" };
            let hash = format!(
                "{:x}",
                (t * 31 + a * 7 + usize::from(canary) + 1) * 2_654_435_761 % 0xef_ffff + 0x10_0000
            );
            let mut all_ports = ports.to_vec();
            all_ports.push(("metrics", 9100, "TCP"));
            let node = rng.below(NODES);
            let name = format!("{app}-{hash}-{k:03}");
            let mut labels =
                json!({"app": app, "tier": tier, "version": version, "pod-template-hash": hash});
            if app == "db" {
                // A StatefulSet: every pod carries its own name as a label.
                labels["statefulset.kubernetes.io/pod-name"] = json!(name);
            }
            items.push(pod(
                &ns,
                &name,
                labels,
                &all_ports,
                node,
                &ip_on(node),
                false,
            ));
        }
        ns_apps.push((ns, apps));
    }

    let policies = policies(&ns_apps, n_pol, &envs);
    let made = policies.len();
    items.extend(policies);

    let text = if out.ends_with(".json") {
        serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": items}))?
    } else {
        let mut s = String::new();
        for it in &items {
            s.push_str("---\n");
            s.push_str(&serde_saphyr::to_string(it)?);
        }
        s
    };
    std::fs::write(out, text)?;
    eprintln!("{out}: {} objects, {made} policies", items.len());
    Ok(())
}
