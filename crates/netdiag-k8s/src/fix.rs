//! The minimal fix: complete NetworkPolicy objects that allow exactly one denied flow.
//!
//! Rules it must never break: it never creates new isolation (an ingress-only fix has
//! `policyTypes: [Ingress]`, an egress-only fix `[Egress]`, and it only selects pods that are
//! already isolated in that direction: the selector is *exact* (matchLabels for every label of the
//! pod, plus `DoesNotExist` for every other label key used in that namespace), and a pod with the
//! same labels is selected by the same isolating policies. A plain matchLabels would also select
//! pods with extra labels, which a `DoesNotExist`/`NotIn` selector may have left unisolated); it never opens other ports or protocols; it names a pod peer by its
//! namespace (`kubernetes.io/metadata.name`) AND its labels, never by an ipBlock, since pod IPs
//! change. The exception is a host-network pod, whose traffic carries the node's address: only an
//! ipBlock can name it.

use crate::load::Cluster;
use crate::model::{
    IntOrString, IpBlock, LabelSelector, LabelSelectorRequirement, Labels, NetworkPolicy,
    NetworkPolicySpec, ObjectMeta, Peer, Pod, PolicyPort, Rule,
};
use crate::policy::{
    isolates, partition, selects, Direction, Endpoint, FlowPort, FlowResult, NAMESPACE_NAME_LABEL,
};
use netdiag_core::remedy::{admit_peer, admit_text, OpensTheWorld};
use std::net::IpAddr;

/// A generated policy and the command that removes it again.
#[derive(Debug, Clone, PartialEq)]
pub struct FixPolicy {
    /// The policy.
    pub policy: NetworkPolicy,
    /// `kubectl delete networkpolicy -n NS NAME`.
    pub rollback: String,
}

impl FixPolicy {
    /// The complete manifest, with `apiVersion` and `kind`.
    pub fn manifest(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
        });
        if let (Some(obj), Ok(serde_json::Value::Object(rest))) =
            (v.as_object_mut(), serde_json::to_value(&self.policy))
        {
            obj.extend(rest);
        }
        v
    }
}

fn endpoint_slug(e: &Endpoint<'_>) -> String {
    match e {
        Endpoint::Pod(p) => p.metadata.name.clone(),
        Endpoint::Ip(ip) => ip.to_string(),
    }
}

/// FNV-1a, 32 bits: a hash that is stable across Rust versions and runs.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Labels that change on every rollout (Deployment, StatefulSet/DaemonSet revisions): a fix that
/// pins them stops working at the next rollout.
const VOLATILE_LABELS: [&str; 2] = ["pod-template-hash", "controller-revision-hash"];

/// A DNS-1123 subdomain name of at most 63 characters (safe for every kubectl output). A longer
/// name is cut and ends in a hash of the whole, so that two flows never share a name (applying
/// the second fix would replace the first).
fn policy_name(src: &Endpoint<'_>, dst: &Endpoint<'_>, flow: &FlowPort, dir: &str) -> String {
    let raw = format!(
        "netdiag-allow-{}-{}-to-{}-{}-{}",
        dir,
        endpoint_slug(src),
        endpoint_slug(dst),
        flow.protocol,
        flow.port
    )
    .to_ascii_lowercase();
    let s: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if s.len() <= 63 {
        return s.trim_end_matches('-').to_string();
    }
    let mut head = s;
    head.truncate(54);
    format!("{}-{:08x}", head.trim_end_matches('-'), fnv1a(&raw))
}

fn host_cidr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    }
}

/// A selector that selects, among the pods in the manifests, exactly those in `pod`'s namespace
/// with the same labels; with `stable`, ignoring the rollout-revision labels.
fn exact_selector(c: &Cluster, pod: &Pod, stable: bool) -> LabelSelector {
    let keep = |k: &str| !stable || !VOLATILE_LABELS.contains(&k);
    let own: Labels = pod
        .metadata
        .labels
        .iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut absent: Vec<&String> = c
        .pods
        .iter()
        .filter(|p| p.metadata.ns() == pod.metadata.ns())
        .flat_map(|p| p.metadata.labels.keys())
        .filter(|k| !own.contains_key(*k) && keep(k))
        .collect();
    absent.sort();
    absent.dedup();
    LabelSelector {
        match_labels: own,
        match_expressions: absent
            .into_iter()
            .map(|k| LabelSelectorRequirement {
                key: k.clone(),
                operator: "DoesNotExist".into(),
                values: Vec::new(),
            })
            .collect(),
    }
}

/// The fix's `podSelector`: without the rollout-revision labels when that selects, among the
/// pods in the manifests, only pods already isolated in this direction (so no new isolation);
/// else the exact selector.
fn subject_selector(c: &Cluster, pod: &Pod, ingress: bool) -> LabelSelector {
    let dir = if ingress {
        Direction::Ingress
    } else {
        Direction::Egress
    };
    let stable = exact_selector(c, pod, true);
    let (valid, _) = partition(c);
    let safe = c
        .pods
        .iter()
        .filter(|p| p.metadata.ns() == pod.metadata.ns() && selects(&stable, &p.metadata.labels))
        .all(|p| !p.spec.host_network && valid.iter().any(|np| isolates(np, p, dir)));
    if safe {
        stable
    } else {
        exact_selector(c, pod, false)
    }
}

/// One `ipBlock` peer, through the guard: a cidr that opens the world is refused, never written.
fn ip_block_peer(cidr: String) -> Result<Peer, OpensTheWorld> {
    admit_peer(&cidr)?;
    Ok(Peer {
        ip_block: Some(IpBlock {
            cidr,
            except: Vec::new(),
        }),
        ..Default::default()
    })
}

fn peers_for(c: &Cluster, e: &Endpoint<'_>) -> Result<Vec<Peer>, OpensTheWorld> {
    match e {
        Endpoint::Pod(p) if !p.spec.host_network => {
            let mut ns = Labels::new();
            ns.insert(NAMESPACE_NAME_LABEL.into(), p.metadata.ns().into());
            Ok(vec![Peer {
                namespace_selector: Some(LabelSelector {
                    match_labels: ns,
                    ..Default::default()
                }),
                pod_selector: Some(exact_selector(c, p, true)),
                ip_block: None,
            }])
        }
        _ => e
            .ips()
            .into_iter()
            .map(|ip| ip_block_peer(host_cidr(ip)))
            .collect(),
    }
}

fn one(
    c: &Cluster,
    subject: &Endpoint<'_>,
    peer: &Endpoint<'_>,
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    flow: &FlowPort,
    ingress: bool,
) -> Result<Option<FixPolicy>, OpensTheWorld> {
    let Endpoint::Pod(pod) = subject else {
        return Ok(None); // an address outside the cluster is never isolated
    };
    let peers = peers_for(c, peer)?;
    if peers.is_empty() {
        // An empty peer list would mean "everyone": no fix rather than a wide-open one.
        return Ok(None);
    }
    let rule = Rule {
        from: ingress.then(|| peers.clone()),
        to: (!ingress).then(|| peers.clone()),
        ports: Some(vec![PolicyPort {
            protocol: Some(flow.protocol.clone()),
            port: Some(IntOrString::Int(i64::from(flow.port))),
            end_port: None,
        }]),
    };
    let dir = if ingress { "Ingress" } else { "Egress" };
    let name = policy_name(src, dst, flow, if ingress { "in" } else { "out" });
    let ns = pod.metadata.ns().to_string();
    let mut labels = Labels::new();
    labels.insert("app.kubernetes.io/managed-by".into(), "netdiag".into());
    let policy = NetworkPolicy {
        metadata: ObjectMeta {
            name: name.clone(),
            namespace: Some(ns.clone()),
            labels,
            ..Default::default()
        },
        spec: NetworkPolicySpec {
            pod_selector: subject_selector(c, pod, ingress),
            ingress: ingress.then(|| vec![rule.clone()]),
            egress: (!ingress).then(|| vec![rule]),
            policy_types: Some(vec![dir.to_string()]),
        },
    };
    let fix = FixPolicy {
        policy,
        rollback: format!("kubectl delete networkpolicy -n {ns} {name}"),
    };
    // The finished manifest goes through the guard as well, as it would be printed.
    admit_text(&fix.manifest().to_string())?;
    Ok(Some(fix))
}

/// The policies that allow exactly `src -> dst:flow`, one per denying direction.
///
/// `Err` is the guard's refusal ([`admit_peer`] on every ipBlock cidr, [`admit_text`] on every
/// finished manifest): a fix that would open access to everyone is never returned.
pub fn minimal_fix(
    c: &Cluster,
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    flow: &FlowPort,
    result: &FlowResult,
) -> Result<Vec<FixPolicy>, OpensTheWorld> {
    let mut out = Vec::new();
    if !result.egress.allowed {
        out.extend(one(c, src, dst, src, dst, flow, false)?);
    }
    if !result.ingress.allowed {
        out.extend(one(c, dst, src, src, dst, flow, true)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_block_peers_go_through_the_guard() {
        for world in ["0.0.0.0/0", "::/0", "0/0"] {
            assert!(ip_block_peer(world.to_string()).is_err(), "{world}");
        }
        let peer = ip_block_peer(host_cidr(IpAddr::from([192, 0, 2, 7]))).expect("a host cidr");
        assert_eq!(
            peer.ip_block.map(|b| b.cidr).as_deref(),
            Some("192.0.2.7/32")
        );
    }
}
