//! What the API server's answers mean to a fleet member: which pods are members it can probe,
//! and which endpoints the cluster DNS Service has. Pure: JSON values in, plain data out;
//! anything malformed is skipped, never a panic.

use serde_json::Value;
use std::net::IpAddr;

/// At most this many DNS endpoints are probed (a cluster DNS has 2–10 replicas).
pub const MAX_DNS_ENDPOINTS: usize = 32;

/// A member that can be probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The node it runs on (`spec.nodeName`).
    pub node: String,
    /// The pod's name.
    pub pod: String,
    /// Its pod IP.
    pub ip: IpAddr,
}

/// The members in a PodList's items: running, with a pod IP and a node, not being deleted, and
/// Ready when the pod reports conditions. One per node (the first by pod name) so a rollout's
/// overlap does not count a node twice.
pub fn members_from_pods(items: &[Value]) -> Vec<Member> {
    let mut members: Vec<Member> = items.iter().filter_map(member).collect();
    members.sort_by(|a, b| (&a.node, &a.pod).cmp(&(&b.node, &b.pod)));
    members.dedup_by(|later, first| later.node == first.node);
    members
}

fn member(pod: &Value) -> Option<Member> {
    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return None;
    }
    if pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        return None;
    }
    if let Some(Value::Array(conditions)) = pod.pointer("/status/conditions") {
        let ready = conditions.iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Ready")
                && c.get("status").and_then(Value::as_str) == Some("True")
        });
        if !ready {
            return None;
        }
    }
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str)?;
    crate::fleet::validate_node_name(node).ok()?;
    let pod_name = pod.pointer("/metadata/name").and_then(Value::as_str)?;
    let ip: IpAddr = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)?
        .parse()
        .ok()?;
    Some(Member {
        node: node.to_string(),
        pod: pod_name.to_string(),
        ip,
    })
}

/// One endpoint of the cluster DNS Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEndpoint {
    /// The label value naming it: the backing pod's name (`targetRef.name`), else
    /// `endpoint-N` (never the address).
    pub name: String,
    /// Its address.
    pub ip: IpAddr,
}

/// The ready endpoints in an EndpointSliceList's items (both families; the first address of
/// each endpoint), sorted by name, at most [`MAX_DNS_ENDPOINTS`].
pub fn dns_endpoints(slices: &[Value]) -> Vec<DnsEndpoint> {
    let mut out: Vec<DnsEndpoint> = Vec::new();
    let mut unnamed = 0;
    for slice in slices {
        let Some(Value::Array(endpoints)) = slice.get("endpoints") else {
            continue;
        };
        for endpoint in endpoints {
            let ready = endpoint
                .pointer("/conditions/ready")
                .and_then(Value::as_bool);
            if ready == Some(false) {
                continue;
            }
            let Some(ip) = endpoint
                .pointer("/addresses/0")
                .and_then(Value::as_str)
                .and_then(|a| a.parse::<IpAddr>().ok())
            else {
                continue;
            };
            let name = match endpoint
                .pointer("/targetRef/name")
                .and_then(Value::as_str)
                .filter(|n| label_safe(n))
            {
                Some(n) => n.to_string(),
                None => {
                    unnamed += 1;
                    format!("endpoint-{unnamed}")
                }
            };
            if !out.iter().any(|e| e.ip == ip) {
                out.push(DnsEndpoint { name, ip });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.truncate(MAX_DNS_ENDPOINTS);
    out
}

fn label_safe(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: &str, ip: &str) -> Value {
        json!({"metadata": {"name": name}, "spec": {"nodeName": node},
               "status": {"phase": "Running", "podIP": ip,
                          "conditions": [{"type": "Ready", "status": "True"}]}})
    }

    #[test]
    fn only_running_ready_pods_with_an_ip_are_members_one_per_node() {
        let mut pending = pod("p", "node-4", "10.0.4.2");
        pending["status"]["phase"] = json!("Pending");
        let mut unready = pod("u", "node-5", "10.0.5.2");
        unready["status"]["conditions"][0]["status"] = json!("False");
        let mut going = pod("g", "node-6", "10.0.6.2");
        going["metadata"]["deletionTimestamp"] = json!("2026-12-01T10:00:00Z");
        let items = vec![
            pod("b", "node-2", "10.0.2.2"),
            pod("a", "node-1", "10.0.1.2"),
            pod("a2", "node-1", "10.0.1.3"),
            pending,
            unready,
            going,
            json!({"metadata": {"name": "noip"}, "spec": {"nodeName": "node-7"}, "status": {"phase": "Running"}}),
            json!("garbage"),
            pod("v6", "node-3", "fd00::3"),
        ];
        let got: Vec<(String, String)> = members_from_pods(&items)
            .into_iter()
            .map(|m| (m.node, m.ip.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                ("node-1".to_string(), "10.0.1.2".to_string()),
                ("node-2".into(), "10.0.2.2".into()),
                ("node-3".into(), "fd00::3".into()),
            ]
        );
    }

    #[test]
    fn dns_endpoints_are_named_by_pod_never_by_address() {
        let slices = vec![
            json!({"endpoints": [
                {"addresses": ["10.244.1.5"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "coredns-7db6d8ff4d-x2x9k"}},
                {"addresses": ["10.244.2.9"], "conditions": {"ready": false}, "targetRef": {"name": "coredns-down"}},
                {"addresses": ["10.244.3.3"]},
                {"addresses": ["not-an-ip"]}
            ]}),
            json!({"endpoints": "garbage"}),
        ];
        let got = dns_endpoints(&slices);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, "coredns-7db6d8ff4d-x2x9k");
        assert_eq!(got[1].name, "endpoint-1");
        assert_eq!(got[1].ip.to_string(), "10.244.3.3");
    }

    proptest::proptest! {
        #[test]
        fn any_json_is_members_or_nothing(text in "\\PC{0,300}", node in "\\PC{0,40}", ip in "\\PC{0,40}") {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                let _ = members_from_pods(std::slice::from_ref(&v));
                let _ = dns_endpoints(std::slice::from_ref(&v));
            }
            let p = json!({"metadata": {"name": node.clone()}, "spec": {"nodeName": node.clone()},
                           "status": {"phase": "Running", "podIP": ip.clone()}});
            for m in members_from_pods(&[p]) {
                proptest::prop_assert!(crate::fleet::validate_node_name(&m.node).is_ok());
            }
            let e = json!({"endpoints": [{"addresses": [ip], "targetRef": {"name": node}}]});
            for d in dns_endpoints(&[e]) {
                proptest::prop_assert!(d.name.parse::<IpAddr>().is_err());
            }
        }
    }
}
