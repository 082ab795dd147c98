//! The NetworkPolicy engine, written from the API reference (networking.k8s.io/v1), pure.
//!
//! Model, including where implementations differ:
//! - A pod is isolated for a direction only by policies in its own namespace whose `podSelector`
//!   selects it and whose effective `policyTypes` include that direction. Allows are a union.
//! - A connection needs the source's egress AND the destination's ingress. A pod to itself, and a
//!   pod to or from its own node's addresses, are always allowed.
//! - hostNetwork pods are not policy subjects (never isolated). As peers they are seen by their IP
//!   only (ipBlock), never by pod/namespace selectors, since their traffic carries the node's
//!   identity. Implementations differ here; this is the conservative reading.
//! - ipBlock is matched against pod IPs too (the reference leaves this to the implementation;
//!   most CNIs match it).
//! - Policies the API server would reject are reported by [`validate`] and never evaluated.

use crate::load::Cluster;
use crate::model::{
    IntOrString, IpBlock, LabelSelector, Labels, NetworkPolicy, Peer, Pod, PolicyPort, Rule,
};
use std::net::IpAddr;

/// The label every namespace carries implicitly (since Kubernetes 1.21).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A direction of policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Traffic into the selected pod.
    Ingress,
    /// Traffic out of the selected pod.
    Egress,
}

/// One end of a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint<'a> {
    /// A pod from the manifests.
    Pod(&'a Pod),
    /// An address that is no pod's.
    Ip(IpAddr),
}

impl Endpoint<'_> {
    /// The addresses of this endpoint.
    pub fn ips(&self) -> Vec<IpAddr> {
        match self {
            Endpoint::Pod(p) => pod_ips(p),
            Endpoint::Ip(ip) => vec![*ip],
        }
    }
}

/// All addresses of a pod (`podIP` and `podIPs`).
pub fn pod_ips(p: &Pod) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = p
        .status
        .pod_ip
        .iter()
        .chain(p.status.pod_ips.iter().map(|i| &i.ip))
        .filter_map(|s| s.parse().ok())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The protocol of a port, with the API's TCP default.
pub fn protocol_of(p: &Option<String>) -> &str {
    p.as_deref().unwrap_or("TCP")
}

/// Does the selector select these labels? Empty selects everything; matchLabels AND
/// matchExpressions. Assumes the selector is valid (see [`validate`]).
pub fn selects(sel: &LabelSelector, labels: &Labels) -> bool {
    sel.match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && sel.match_expressions.iter().all(|r| {
            let val = labels.get(&r.key);
            match r.operator.as_str() {
                "In" => val.is_some_and(|v| r.values.contains(v)),
                "NotIn" => val.is_none_or(|v| !r.values.contains(v)),
                "Exists" => val.is_some(),
                "DoesNotExist" => val.is_none(),
                _ => false,
            }
        })
}

/// A namespace's labels, including the implicit `kubernetes.io/metadata.name`.
pub fn namespace_labels(c: &Cluster, ns: &str) -> Labels {
    let mut l = c
        .namespaces
        .iter()
        .find(|n| n.metadata.name == ns)
        .map(|n| n.metadata.labels.clone())
        .unwrap_or_default();
    l.insert(NAMESPACE_NAME_LABEL.to_string(), ns.to_string());
    l
}

/// A parsed CIDR.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::/n`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Is `ip` inside? IPv4 never matches IPv6 and vice versa.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, u32) {
            match ip {
                IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
                IpAddr::V6(v) => (u128::from(v), 128),
            }
        }
        if self.addr.is_ipv4() != ip.is_ipv4() {
            return false;
        }
        let (a, width) = bits(self.addr);
        let (b, _) = bits(ip);
        let shift = width - u32::from(self.prefix);
        a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
    }

    /// Is `other` a strict subset of this CIDR (what the API server requires of `except`)?
    fn strictly_covers(&self, other: &Cidr) -> bool {
        other.prefix > self.prefix && self.contains(other.addr)
    }
}

/// A policy the API server would reject.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InvalidPolicy {
    /// `ns/name`.
    pub policy: String,
    /// Why the API server would reject it.
    pub reason: String,
}

/// `ns/name` of a policy.
pub fn policy_id(p: &NetworkPolicy) -> String {
    format!("{}/{}", p.metadata.ns(), p.metadata.name)
}

/// The name part of a label key, and a non-empty label value: at most 63 of `[A-Za-z0-9-_.]`,
/// starting and ending alphanumeric.
fn is_label_name(n: &str) -> bool {
    (1..=63).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A label key: `[prefix/]name`, the prefix a DNS-1123 subdomain.
fn is_label_key(k: &str) -> bool {
    match k.split_once('/') {
        None => is_label_name(k),
        Some((prefix, name)) => {
            (1..=253).contains(&prefix.len())
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
                && prefix.starts_with(|c: char| c.is_ascii_alphanumeric())
                && prefix.ends_with(|c: char| c.is_ascii_alphanumeric())
                && is_label_name(name)
        }
    }
}

fn is_label_value(v: &str) -> bool {
    v.is_empty() || is_label_name(v)
}

fn validate_selector(s: &LabelSelector, at: &str) -> Result<(), String> {
    for (k, v) in &s.match_labels {
        if !is_label_key(k) {
            return Err(format!(
                "{at}: matchLabels key {k:?} is not a valid label key"
            ));
        }
        if !is_label_value(v) {
            return Err(format!(
                "{at}: matchLabels value {v:?} of {k:?} is not a valid label value"
            ));
        }
    }
    for r in &s.match_expressions {
        if !is_label_key(&r.key) {
            return Err(format!(
                "{at}: matchExpressions key {:?} is not a valid label key",
                r.key
            ));
        }
        if let Some(v) = r.values.iter().find(|v| !is_label_value(v)) {
            return Err(format!(
                "{at}: matchExpressions value {v:?} of {:?} is not a valid label value",
                r.key
            ));
        }
        match r.operator.as_str() {
            "In" | "NotIn" if r.values.is_empty() => {
                return Err(format!(
                    "{at}: matchExpressions key {:?} operator {} has no values",
                    r.key, r.operator
                ))
            }
            "Exists" | "DoesNotExist" if !r.values.is_empty() => {
                return Err(format!(
                    "{at}: matchExpressions key {:?} operator {} must have no values",
                    r.key, r.operator
                ))
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => return Err(format!("{at}: unknown matchExpressions operator {other:?}")),
        }
    }
    Ok(())
}

/// IANA_SVC_NAME, as the API server checks it: a quoted number such as `"80"` is not a name.
fn is_port_name(n: &str) -> bool {
    (1..=15).contains(&n.len())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && n.chars().any(|c| c.is_ascii_lowercase())
        && !n.starts_with('-')
        && !n.ends_with('-')
        && !n.contains("--")
}

fn validate_port(p: &PolicyPort, at: &str) -> Result<(), String> {
    match protocol_of(&p.protocol) {
        "TCP" | "UDP" | "SCTP" => {}
        other => return Err(format!("{at}: unsupported protocol {other:?}")),
    }
    match (&p.port, p.end_port) {
        (Some(IntOrString::Str(name)), Some(_)) => Err(format!(
            "{at}: endPort cannot be used with the named port {name:?}"
        )),
        (None, Some(_)) => Err(format!("{at}: endPort requires port")),
        (Some(IntOrString::Int(n)), end) => {
            if !(1..=65535).contains(n) {
                return Err(format!("{at}: port {n} is outside 1-65535"));
            }
            match end {
                Some(e) if i64::from(e) < *n => {
                    Err(format!("{at}: endPort {e} is less than port {n}"))
                }
                Some(e) if e > 65535 => Err(format!("{at}: endPort {e} is outside 1-65535")),
                _ => Ok(()),
            }
        }
        (Some(IntOrString::Str(name)), None) if !is_port_name(name) => Err(format!(
            "{at}: {name:?} is not a valid port name (IANA_SVC_NAME: 1-15 of a-z, 0-9, '-', with a letter)"
        )),
        _ => Ok(()),
    }
}

fn validate_peer(p: &Peer, at: &str) -> Result<(), String> {
    if let Some(b) = &p.ip_block {
        if p.pod_selector.is_some() || p.namespace_selector.is_some() {
            return Err(format!(
                "{at}: ipBlock cannot be combined with podSelector or namespaceSelector in one peer"
            ));
        }
        let cidr = Cidr::parse(&b.cidr)
            .ok_or_else(|| format!("{at}: ipBlock cidr {:?} is not a CIDR", b.cidr))?;
        for e in &b.except {
            let ec = Cidr::parse(e)
                .ok_or_else(|| format!("{at}: ipBlock except {e:?} is not a CIDR"))?;
            if !cidr.strictly_covers(&ec) {
                return Err(format!(
                    "{at}: ipBlock except {e} is not inside cidr {} (it must be a strict subset)",
                    b.cidr
                ));
            }
        }
    } else if p.pod_selector.is_none() && p.namespace_selector.is_none() {
        return Err(format!(
            "{at}: a peer needs podSelector, namespaceSelector or ipBlock"
        ));
    }
    if let Some(s) = &p.pod_selector {
        validate_selector(s, &format!("{at}.podSelector"))?;
    }
    if let Some(s) = &p.namespace_selector {
        validate_selector(s, &format!("{at}.namespaceSelector"))?;
    }
    Ok(())
}

/// Checks what the API server checks; `Err` is the first reason it would reject the policy.
pub fn validate(p: &NetworkPolicy) -> Result<(), String> {
    validate_selector(&p.spec.pod_selector, "spec.podSelector")?;
    if p.spec.policy_types.as_ref().is_some_and(|t| t.len() > 2) {
        return Err("spec.policyTypes: may not specify more than two policyTypes".into());
    }
    for t in p.spec.policy_types.iter().flatten() {
        if t != "Ingress" && t != "Egress" {
            return Err(format!("spec.policyTypes: unknown type {t:?}"));
        }
    }
    for (dir, rules) in [("ingress", &p.spec.ingress), ("egress", &p.spec.egress)] {
        for (i, r) in rules.iter().flatten().enumerate() {
            let peers = if dir == "ingress" { &r.from } else { &r.to };
            for (j, peer) in peers.iter().flatten().enumerate() {
                let key = if dir == "ingress" { "from" } else { "to" };
                validate_peer(peer, &format!("spec.{dir}[{i}].{key}[{j}]"))?;
            }
            for (j, port) in r.ports.iter().flatten().enumerate() {
                validate_port(port, &format!("spec.{dir}[{i}].ports[{j}]"))?;
            }
        }
    }
    Ok(())
}

/// Splits policies into the valid ones and the ones the API server would reject.
pub fn partition(c: &Cluster) -> (Vec<&NetworkPolicy>, Vec<InvalidPolicy>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for p in &c.network_policies {
        match validate(p) {
            Ok(()) => ok.push(p),
            Err(reason) => bad.push(InvalidPolicy {
                policy: policy_id(p),
                reason,
            }),
        }
    }
    (ok, bad)
}

/// The effective policy types: explicit when given; else Ingress always, and Egress iff the
/// policy has at least one egress rule. Like the API server's defaulting, an explicitly empty
/// `policyTypes: []` counts as not given.
pub fn effective_types(p: &NetworkPolicy) -> (bool, bool) {
    match &p.spec.policy_types {
        Some(t) if !t.is_empty() => (
            t.iter().any(|x| x == "Ingress"),
            t.iter().any(|x| x == "Egress"),
        ),
        _ => (true, p.spec.egress.as_ref().is_some_and(|e| !e.is_empty())),
    }
}

/// Does policy `p` isolate `pod` in `dir`?
pub fn isolates(p: &NetworkPolicy, pod: &Pod, dir: Direction) -> bool {
    if pod.spec.host_network || p.metadata.ns() != pod.metadata.ns() {
        return false;
    }
    let (ing, eg) = effective_types(p);
    let applies = match dir {
        Direction::Ingress => ing,
        Direction::Egress => eg,
    };
    applies && selects(&p.spec.pod_selector, &pod.metadata.labels)
}

fn peer_matches(c: &Cluster, policy_ns: &str, peer: &Peer, other: &Endpoint<'_>) -> bool {
    if let Some(b) = &peer.ip_block {
        return ip_block_matches(b, &other.ips());
    }
    let Endpoint::Pod(pod) = other else {
        return false; // selectors only ever select pods
    };
    if pod.spec.host_network {
        return false;
    }
    let ns_ok = match &peer.namespace_selector {
        Some(s) => selects(s, &namespace_labels(c, pod.metadata.ns())),
        None => pod.metadata.ns() == policy_ns,
    };
    ns_ok
        && peer
            .pod_selector
            .as_ref()
            .is_none_or(|s| selects(s, &pod.metadata.labels))
}

pub(crate) fn ip_block_matches(b: &IpBlock, ips: &[IpAddr]) -> bool {
    let Some(cidr) = Cidr::parse(&b.cidr) else {
        return false;
    };
    ips.iter().any(|ip| {
        cidr.contains(*ip)
            && !b
                .except
                .iter()
                .filter_map(|e| Cidr::parse(e))
                .any(|e| e.contains(*ip))
    })
}

/// The flow's destination port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowPort {
    /// The number.
    pub port: u16,
    /// TCP, UDP or SCTP.
    pub protocol: String,
}

/// Resolves a named port on a pod's containers (and sidecars: init containers with
/// `restartPolicy: Always`) with the protocol, as kube's `podutil.FindPort` does. Plain init
/// containers have exited before the pod runs, so their ports do not count.
pub fn resolve_named_port(pod: &Pod, name: &str, protocol: &str) -> Option<u16> {
    pod.spec
        .containers
        .iter()
        .chain(pod.spec.init_containers.iter().filter(|c| c.is_sidecar()))
        .flat_map(|c| &c.ports)
        .find(|p| p.name.as_deref() == Some(name) && protocol_of(&p.protocol) == protocol)
        .map(|p| p.container_port)
}

fn port_matches(pp: &PolicyPort, flow: &FlowPort, dst: &Endpoint<'_>) -> bool {
    if protocol_of(&pp.protocol) != flow.protocol {
        return false;
    }
    match &pp.port {
        None => true,
        Some(IntOrString::Int(n)) => {
            let end = pp.end_port.map_or(*n, i64::from);
            (*n..=end).contains(&i64::from(flow.port))
        }
        Some(IntOrString::Str(name)) => match dst {
            Endpoint::Pod(p) => resolve_named_port(p, name, &flow.protocol) == Some(flow.port),
            Endpoint::Ip(_) => false,
        },
    }
}

fn rule_allows(
    c: &Cluster,
    policy_ns: &str,
    rule: &Rule,
    dir: Direction,
    peer: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    flow: &FlowPort,
) -> bool {
    let peers = match dir {
        Direction::Ingress => &rule.from,
        Direction::Egress => &rule.to,
    };
    let peer_ok = match peers {
        None => true,
        Some(v) if v.is_empty() => true,
        Some(v) => v.iter().any(|p| peer_matches(c, policy_ns, p, peer)),
    };
    let port_ok = match &rule.ports {
        None => true,
        Some(v) if v.is_empty() => true,
        Some(v) => v.iter().any(|p| port_matches(p, flow, dst)),
    };
    peer_ok && port_ok
}

/// Does policy `p` allow this flow in `dir`? (`subject` is the selected pod; `peer` the other end.)
pub fn policy_allows(
    c: &Cluster,
    p: &NetworkPolicy,
    dir: Direction,
    peer: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    flow: &FlowPort,
) -> bool {
    let rules = match dir {
        Direction::Ingress => &p.spec.ingress,
        Direction::Egress => &p.spec.egress,
    };
    rules
        .iter()
        .flatten()
        .any(|r| rule_allows(c, p.metadata.ns(), r, dir, peer, dst, flow))
}

/// The outcome of one direction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectionResult {
    /// Allowed in this direction.
    pub allowed: bool,
    /// Policies isolating the subject in this direction (`ns/name`).
    pub isolating: Vec<String>,
    /// Those of them that allow the flow.
    pub allowing: Vec<String>,
}

/// The outcome of a flow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowResult {
    /// Source egress.
    pub egress: DirectionResult,
    /// Destination ingress.
    pub ingress: DirectionResult,
    /// Why the flow is allowed without consulting policies, if it is (self, own node, host network).
    pub exemptions: Vec<String>,
}

impl FlowResult {
    /// Egress AND ingress.
    pub fn allowed(&self) -> bool {
        self.egress.allowed && self.ingress.allowed
    }
}

fn direction(
    c: &Cluster,
    policies: &[&NetworkPolicy],
    subject: &Endpoint<'_>,
    dir: Direction,
    peer: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    flow: &FlowPort,
) -> DirectionResult {
    let Endpoint::Pod(pod) = subject else {
        return DirectionResult {
            allowed: true,
            ..Default::default()
        };
    };
    let mut r = DirectionResult::default();
    for p in policies.iter().filter(|p| isolates(p, pod, dir)) {
        r.isolating.push(policy_id(p));
        if policy_allows(c, p, dir, peer, dst, flow) {
            r.allowing.push(policy_id(p));
        }
    }
    r.allowed = r.isolating.is_empty() || !r.allowing.is_empty();
    r
}

fn node_ips(c: &Cluster, pod: &Pod) -> Vec<IpAddr> {
    let Some(node) = pod.spec.node_name.as_deref() else {
        return Vec::new();
    };
    c.nodes
        .iter()
        .filter(|n| n.metadata.name == node)
        .flat_map(|n| &n.status.addresses)
        .filter_map(|a| a.address.parse().ok())
        .collect()
}

/// Evaluates `src -> dst:flow` under the valid `policies`.
pub fn evaluate(
    c: &Cluster,
    policies: &[&NetworkPolicy],
    src: &Endpoint<'_>,
    dst: &Endpoint<'_>,
    flow: &FlowPort,
) -> FlowResult {
    let mut exemptions = Vec::new();
    if let (Endpoint::Pod(a), Endpoint::Pod(b)) = (src, dst) {
        if a.metadata.ns() == b.metadata.ns() && a.metadata.name == b.metadata.name {
            exemptions.push("a pod's traffic to itself is always allowed".to_string());
        }
    }
    for (pod, other) in [(src, dst), (dst, src)] {
        if let Endpoint::Pod(p) = pod {
            let nips = node_ips(c, p);
            if other.ips().iter().any(|ip| nips.contains(ip)) {
                exemptions.push(format!(
                    "traffic between pod {}/{} and its own node is always allowed",
                    p.metadata.ns(),
                    p.metadata.name
                ));
            }
            if p.spec.host_network {
                exemptions.push(format!(
                    "pod {}/{} uses the host network: NetworkPolicy does not apply to it",
                    p.metadata.ns(),
                    p.metadata.name
                ));
            }
        }
    }
    if exemptions.iter().any(|e| !e.contains("host network")) {
        let ok = DirectionResult {
            allowed: true,
            ..Default::default()
        };
        return FlowResult {
            egress: ok.clone(),
            ingress: ok,
            exemptions,
        };
    }
    FlowResult {
        egress: direction(c, policies, src, Direction::Egress, dst, dst, flow),
        ingress: direction(c, policies, dst, Direction::Ingress, src, dst, flow),
        exemptions,
    }
}
