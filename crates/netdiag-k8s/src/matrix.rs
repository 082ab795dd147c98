//! `netdiag k8s matrix`: which pod can reach which, on every port that matters, for the whole
//! cluster at once, agreeing pair for pair with [`crate::policy::evaluate`].
//!
//! Why equivalence classes: 5,000 pods make 25 million pairs per port, but pods from one
//! Deployment look the same to every policy. Two pods are in one class when NetworkPolicy cannot
//! tell them apart: same namespace (hence the same namespace labels), same values of the label
//! keys some policy selector looks at (other labels, such as `pod-template-hash`, cannot matter),
//! same hostNetwork flag, the same resolution of every named port a policy mentions
//! (`name`/protocol → number, first declaring container as in [`resolve_named_port`]) and the same
//! *ipBlock signature*: the set of the policies' distinct ipBlocks (cidr plus except list) that
//! match one of the pod's addresses. Evaluating one representative pair of classes then answers
//! for every pair of their pods.
//!
//! What classes cannot express is kept beside them, exactly, never approximated:
//! - a pod's traffic to itself is always allowed (a class cell speaks of two *different* pods);
//! - traffic between a pod and its own node's addresses is always allowed: when a pod (usually a
//!   hostNetwork one) holds an address of node N, every pod scheduled on N reaches it and is
//!   reached by it, whatever the cell says. These are listed per node (`own_node`).
//!
//! So the rule a consumer applies is: `a -> b` on a port is allowed iff `a` is `b`, or the pair is
//! in an `own_node` entry, or the cell (class of `a`, class of `b`, port) is allowed.
//!
//! Ports reported: every (port, protocol) a container or init container declares (which covers
//! every named port, resolved per destination), plus every number a valid policy names (`port`
//! and `endPort`). A port outside that set has no declared listener and no policy names it; only
//! protocol-wide rules and the inside of `port`..`endPort` ranges decide it (ask `k8s check`).
//!
//! Computation, with bitsets over classes: for each valid policy, the classes it isolates and,
//! per rule, the peer classes; then per class and port, the classes its egress allows and the
//! classes its ingress admits; a cell is egress AND ingress. Pure: no I/O, no clock.

use crate::load::Cluster;
use crate::model::{IntOrString, IpBlock, Labels, NetworkPolicy, Peer, Pod, Rule};
use crate::policy::{
    effective_types, ip_block_matches, namespace_labels, partition, pod_ips, protocol_of,
    resolve_named_port, selects, InvalidPolicy,
};
use netdiag_core::render::{md_cell, Rendered};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// Report schema name.
pub const SCHEMA: &str = "netdiag.k8s.matrix/v1";

/// A fixed-size set of class indices.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Bits(Vec<u64>);

impl Bits {
    fn empty(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }

    fn full(n: usize) -> Bits {
        let mut b = Bits::empty(n);
        for i in 0..n {
            b.set(i);
        }
        b
    }

    fn set(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn or(&mut self, o: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a |= b;
        }
    }

    fn or_and(&mut self, x: &Bits, y: &Bits) {
        for ((a, b), c) in self.0.iter_mut().zip(&x.0).zip(&y.0) {
            *a |= b & c;
        }
    }
}

/// One (port, protocol) the matrix reports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PortKey {
    /// The number.
    pub port: u16,
    /// TCP, UDP or SCTP.
    pub protocol: String,
}

/// One equivalence class of pods.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Class {
    /// Index in `classes`, used by the matrix rows.
    pub id: u32,
    /// The namespace of every pod in the class.
    pub namespace: String,
    /// The labels all its pods share (the ones policies look at are always among them).
    pub labels: Labels,
    /// Host-network pods: never isolated, seen by peers only through ipBlocks.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub host_network: bool,
    /// The named ports policies mention, as they resolve on these pods (`name/PROTOCOL` → port).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub named_ports: BTreeMap<String, u16>,
    /// Indices into `ip_blocks` that match these pods' addresses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_blocks: Vec<u32>,
    /// Pod names (in `namespace`), sorted.
    pub pods: Vec<String>,
}

/// The verdict for the destination classes of one row that are not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rest {
    /// Allowed.
    Allowed,
    /// Denied by the destination's ingress only.
    Ingress,
    /// Denied by the source's egress only.
    Egress,
    /// Denied by both.
    Both,
}

/// One row: source class `from` to every class on one port. Every destination class id is in
/// exactly one of the four lists (each sorted) or, when in none, has the verdict `rest`. The list of the `rest`
/// category is always empty (the most common verdict is the one left out).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Source class id.
    pub from: u32,
    /// Port.
    pub port: u16,
    /// Protocol.
    pub protocol: String,
    /// Verdict of the destination classes not listed.
    pub rest: Rest,
    /// Allowed destination classes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<u32>,
    /// Destination classes denied by their ingress only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied_by_ingress: Vec<u32>,
    /// Destination classes denied by the source's egress only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied_by_egress: Vec<u32>,
    /// Destination classes denied by both.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied_by_both: Vec<u32>,
}

impl Row {
    /// The verdict for destination class `to`: allowed, or which side denies.
    pub fn verdict(&self, to: u32) -> Rest {
        if self.allowed.binary_search(&to).is_ok() {
            Rest::Allowed
        } else if self.denied_by_ingress.binary_search(&to).is_ok() {
            Rest::Ingress
        } else if self.denied_by_egress.binary_search(&to).is_ok() {
            Rest::Egress
        } else if self.denied_by_both.binary_search(&to).is_ok() {
            Rest::Both
        } else {
            self.rest
        }
    }
}

/// Pods on `node` and the pods holding one of `node`'s addresses: always allowed both ways.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnNode {
    /// The node name.
    pub node: String,
    /// Pods (`ns/name`) whose address is one of the node's.
    pub address_holders: Vec<String>,
    /// Pods (`ns/name`) scheduled on the node.
    pub pods: Vec<String>,
}

/// Counts for a reader.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Pods.
    pub pods: usize,
    /// Classes.
    pub classes: usize,
    /// Reported ports.
    pub ports: usize,
    /// Valid policies used.
    pub policies: usize,
    /// Class cells (classes² × ports).
    pub cells: usize,
    /// Allowed class cells.
    pub allowed_cells: usize,
}

/// The whole matrix report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixReport {
    /// `netdiag.k8s.matrix/v1`.
    pub schema: &'static str,
    /// Counts.
    pub stats: Stats,
    /// The equivalence classes.
    pub classes: Vec<Class>,
    /// The reported ports, sorted by number then protocol.
    pub ports: Vec<PortKey>,
    /// The distinct ipBlocks of the valid policies (class signatures index this list).
    pub ip_blocks: Vec<IpBlock>,
    /// One row per source class and port (source-major, ports in `ports` order).
    pub matrix: Vec<Row>,
    /// Always-allowed pairs beyond a pod and itself.
    pub own_node: Vec<OwnNode>,
    /// Policies the API server would reject; not used.
    pub invalid_policies: Vec<InvalidPolicy>,
    /// Loader notes and duplicate pods.
    pub notes: Vec<String>,
}

impl MatrixReport {
    /// The row of `from` on `port`.
    pub fn row(&self, from: u32, port: &PortKey) -> Option<&Row> {
        let k = self.ports.iter().position(|p| p == port)?;
        self.matrix.get(from as usize * self.ports.len() + k)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ClassKey {
    ns: String,
    labels: Labels,
    host_network: bool,
    named: Vec<Option<u16>>,
    ip_sig: Bits,
}

/// How a rule's `ports` treat one reported port: every destination, or those where one of these
/// named ports resolves to it.
enum PortMatch {
    All,
    Named(Vec<usize>),
}

struct Engine {
    classes: Vec<ClassKey>,
    n: usize,
    by_ns: BTreeMap<String, Vec<usize>>,
    ns_labels: HashMap<String, Labels>,
    named: Vec<(String, String)>,
    blocks: Vec<IpBlock>,
    /// (named-port index, number) → classes where it resolves to the number.
    resolves_to: HashMap<(usize, u16), Bits>,
}

impl Engine {
    fn peer_classes(&self, policy_ns: &str, peer: &Peer) -> Bits {
        let mut b = Bits::empty(self.n);
        if let Some(block) = &peer.ip_block {
            if let Some(i) = self.blocks.iter().position(|x| x == block) {
                for (c, k) in self.classes.iter().enumerate() {
                    if k.ip_sig.get(i) {
                        b.set(c);
                    }
                }
            }
            return b;
        }
        for (ns, members) in &self.by_ns {
            let ns_ok = match &peer.namespace_selector {
                Some(s) => self.ns_labels.get(ns).is_some_and(|l| selects(s, l)),
                None => ns == policy_ns,
            };
            if !ns_ok {
                continue;
            }
            for &c in members {
                let k = &self.classes[c];
                if !k.host_network
                    && peer
                        .pod_selector
                        .as_ref()
                        .is_none_or(|s| selects(s, &k.labels))
                {
                    b.set(c);
                }
            }
        }
        b
    }

    fn rule_peers(&self, policy_ns: &str, peers: &Option<Vec<Peer>>) -> Bits {
        match peers {
            Some(v) if !v.is_empty() => {
                let mut b = Bits::empty(self.n);
                for p in v {
                    b.or(&self.peer_classes(policy_ns, p));
                }
                b
            }
            _ => Bits::full(self.n),
        }
    }

    fn port_match(&self, r: &Rule, k: &PortKey) -> PortMatch {
        let Some(ports) = r.ports.as_ref().filter(|v| !v.is_empty()) else {
            return PortMatch::All;
        };
        let mut names = Vec::new();
        for pp in ports {
            if protocol_of(&pp.protocol) != k.protocol {
                continue;
            }
            match &pp.port {
                None => return PortMatch::All,
                Some(IntOrString::Int(n)) => {
                    let end = pp.end_port.map_or(*n, i64::from);
                    if (*n..=end).contains(&i64::from(k.port)) {
                        return PortMatch::All;
                    }
                }
                Some(IntOrString::Str(name)) => {
                    if let Some(i) = self
                        .named
                        .iter()
                        .position(|(nm, pr)| nm == name && *pr == k.protocol)
                    {
                        names.push(i);
                    }
                }
            }
        }
        PortMatch::Named(names)
    }

    /// Does the rule's port list admit port `k` towards destination class `dst`?
    fn port_ok(&self, m: &PortMatch, k: &PortKey, dst: usize) -> bool {
        match m {
            PortMatch::All => true,
            PortMatch::Named(v) => v
                .iter()
                .any(|&i| self.classes[dst].named.get(i) == Some(&Some(k.port))),
        }
    }
}

/// The pod label keys some selector of the valid policies looks at: the only labels that can
/// tell two pods apart (`pod-template-hash` or `statefulset.kubernetes.io/pod-name` usually are
/// not among them, and must not split a Deployment or a StatefulSet into classes of one).
fn selector_label_keys(policies: &[&NetworkPolicy]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut add = |s: &crate::model::LabelSelector| {
        keys.extend(s.match_labels.keys().cloned());
        keys.extend(s.match_expressions.iter().map(|e| e.key.clone()));
    };
    for p in policies {
        add(&p.spec.pod_selector);
        for r in p.spec.ingress.iter().chain(&p.spec.egress).flatten() {
            for peer in r.from.iter().chain(&r.to).flatten() {
                if let Some(s) = &peer.pod_selector {
                    add(s);
                }
            }
        }
    }
    keys
}

/// Collects the named ports and ipBlocks the valid policies mention, and their numeric ports.
fn policy_facts(
    policies: &[&NetworkPolicy],
) -> (Vec<(String, String)>, Vec<IpBlock>, BTreeSet<PortKey>) {
    let mut named = BTreeSet::new();
    let mut blocks: Vec<IpBlock> = Vec::new();
    let mut ports = BTreeSet::new();
    for p in policies {
        for r in p.spec.ingress.iter().chain(&p.spec.egress).flatten() {
            for peer in r.from.iter().chain(&r.to).flatten() {
                if let Some(b) = &peer.ip_block {
                    if !blocks.contains(b) {
                        blocks.push(b.clone());
                    }
                }
            }
            for pp in r.ports.iter().flatten() {
                let protocol = protocol_of(&pp.protocol).to_string();
                match &pp.port {
                    Some(IntOrString::Str(n)) => {
                        named.insert((n.clone(), protocol));
                    }
                    Some(IntOrString::Int(n)) => {
                        for x in [Some(*n), pp.end_port.map(i64::from)].into_iter().flatten() {
                            if let Ok(port) = u16::try_from(x) {
                                ports.insert(PortKey {
                                    port,
                                    protocol: protocol.clone(),
                                });
                            }
                        }
                    }
                    None => {}
                }
            }
        }
    }
    (named.into_iter().collect(), blocks, ports)
}

/// Computes the matrix for every pod of the cluster under its valid policies.
pub fn matrix(c: &Cluster) -> MatrixReport {
    let (valid, invalid) = partition(c);
    let mut notes = c.notes.clone();

    let pods = unique_pods(c, &mut notes);

    let (named, blocks, mut port_set) = policy_facts(&valid);
    let label_keys = selector_label_keys(&valid);
    for p in &pods {
        for cp in p.spec.containers.iter().chain(&p.spec.init_containers) {
            for x in &cp.ports {
                if x.container_port != 0 {
                    port_set.insert(PortKey {
                        port: x.container_port,
                        protocol: protocol_of(&x.protocol).to_string(),
                    });
                }
            }
        }
    }
    let ports: Vec<PortKey> = port_set.into_iter().collect();

    let (keys, members, ips_of) = equivalence_classes(&pods, &named, &blocks, &label_keys);
    let n = keys.len();

    let mut by_ns: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        by_ns.entry(k.ns.clone()).or_default().push(i);
    }
    let ns_labels = by_ns
        .keys()
        .map(|ns| (ns.clone(), namespace_labels(c, ns)))
        .collect();
    let mut resolves_to: HashMap<(usize, u16), Bits> = HashMap::new();
    for (ci, k) in keys.iter().enumerate() {
        for (i, r) in k.named.iter().enumerate() {
            if let Some(num) = r {
                resolves_to
                    .entry((i, *num))
                    .or_insert_with(|| Bits::empty(n))
                    .set(ci);
            }
        }
    }
    let eng = Engine {
        classes: keys,
        n,
        by_ns,
        ns_labels,
        named,
        blocks,
        resolves_to,
    };

    // Per policy: isolated classes per direction, and per rule the peer classes.
    let mut iso_in: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut iso_eg: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut in_peers: Vec<Vec<Bits>> = Vec::with_capacity(valid.len());
    let mut eg_peers: Vec<Vec<Bits>> = Vec::with_capacity(valid.len());
    for (pi, p) in valid.iter().enumerate() {
        let ns = p.metadata.ns();
        let (ing, eg) = effective_types(p);
        for &ci in eng.by_ns.get(ns).map(Vec::as_slice).unwrap_or_default() {
            let k = &eng.classes[ci];
            if !k.host_network && selects(&p.spec.pod_selector, &k.labels) {
                if ing {
                    iso_in[ci].push(pi);
                }
                if eg {
                    iso_eg[ci].push(pi);
                }
            }
        }
        in_peers.push(
            p.spec
                .ingress
                .iter()
                .flatten()
                .map(|r| eng.rule_peers(ns, &r.from))
                .collect(),
        );
        eg_peers.push(
            p.spec
                .egress
                .iter()
                .flatten()
                .map(|r| eng.rule_peers(ns, &r.to))
                .collect(),
        );
    }

    let nk = ports.len();
    let w = n.div_ceil(64);
    let isolation = Isolation {
        iso_in: &iso_in,
        iso_eg: &iso_eg,
        in_peers: &in_peers,
        eg_peers: &eg_peers,
    };
    let (egress, ingress) = direction_rows(&eng, &valid, &ports, &isolation);
    let admits = transpose_ingress(&ingress, &iso_in, nk, w);
    drop(ingress);

    let (rows, allowed_cells) = row_verdicts(&egress, &admits, &ports, n, w);

    let own_node = own_node_exemptions(c, &pods, &ips_of);

    let classes = class_list(&eng, &members, &pods);

    MatrixReport {
        schema: SCHEMA,
        stats: Stats {
            pods: pods.len(),
            classes: n,
            ports: nk,
            policies: valid.len(),
            cells: n * n * nk,
            allowed_cells,
        },
        classes,
        ports,
        ip_blocks: eng.blocks,
        matrix: rows,
        own_node,
        invalid_policies: invalid,
        notes,
    }
}

/// Own-node exemptions: per node, the pods holding one of its addresses and the pods on it.
fn own_node_exemptions(c: &Cluster, pods: &[&Pod], ips_of: &[Vec<IpAddr>]) -> Vec<OwnNode> {
    let mut node_addrs: BTreeMap<&str, Vec<IpAddr>> = BTreeMap::new();
    for nd in &c.nodes {
        node_addrs
            .entry(nd.metadata.name.as_str())
            .or_default()
            .extend(
                nd.status
                    .addresses
                    .iter()
                    .filter_map(|a| a.address.parse::<IpAddr>().ok()),
            );
    }
    let id = |p: usize| format!("{}/{}", pods[p].metadata.ns(), pods[p].metadata.name);
    let mut own_node = Vec::new();
    for (node, addrs) in &node_addrs {
        let holders: Vec<usize> = (0..pods.len())
            .filter(|&p| ips_of[p].iter().any(|ip| addrs.contains(ip)))
            .collect();
        if holders.is_empty() {
            continue;
        }
        let on: Vec<usize> = (0..pods.len())
            .filter(|&p| pods[p].spec.node_name.as_deref() == Some(node))
            .collect();
        if on.is_empty() {
            continue;
        }
        let mut address_holders: Vec<String> = holders.into_iter().map(id).collect();
        let mut on: Vec<String> = on.into_iter().map(id).collect();
        address_holders.sort();
        on.sort();
        own_node.push(OwnNode {
            node: node.to_string(),
            address_holders,
            pods: on,
        });
    }
    own_node
}

/// The classes as reported: namespace, shared labels, named ports, ipBlocks and pod names.
fn class_list(eng: &Engine, members: &[Vec<usize>], pods: &[&Pod]) -> Vec<Class> {
    eng.classes
        .iter()
        .zip(members)
        .enumerate()
        .map(|(i, (k, m))| {
            let mut names: Vec<String> = m.iter().map(|&p| pods[p].metadata.name.clone()).collect();
            names.sort();
            Class {
                id: i as u32,
                namespace: k.ns.clone(),
                labels: shared_labels(m.iter().map(|&p| &pods[p].metadata.labels)),
                host_network: k.host_network,
                named_ports: eng
                    .named
                    .iter()
                    .zip(&k.named)
                    .filter_map(|((nm, pr), r)| r.map(|x| (format!("{nm}/{pr}"), x)))
                    .collect(),
                ip_blocks: (0..eng.blocks.len())
                    .filter(|&b| k.ip_sig.get(b))
                    .map(|b| b as u32)
                    .collect(),
                pods: names,
            }
        })
        .collect()
}

/// The rows, source-major, and the number of allowed cells. The most common verdict of a row is
/// left out as `rest`.
fn row_verdicts(
    egress: &[u64],
    admits: &[u64],
    ports: &[PortKey],
    n: usize,
    w: usize,
) -> (Vec<Row>, usize) {
    let nk = ports.len();
    let last_mask = match n % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    };
    let mut rows = Vec::with_capacity(n * nk);
    let mut allowed_cells = 0;
    for a in 0..n {
        for (ki, k) in ports.iter().enumerate() {
            let row = (ki * n + a) * w;
            let (eg, adm) = (&egress[row..row + w], &admits[row..row + w]);
            // Category masks: allowed, denied by ingress, by egress, by both.
            let masks = |j: usize| {
                let (e, i) = (eg[j], adm[j]);
                let m = if j + 1 == w { last_mask } else { u64::MAX };
                [e & i & m, e & !i & m, !e & i & m, !e & !i & m]
            };
            let mut counts = [0usize; 4];
            for j in 0..w {
                for (c, m) in counts.iter_mut().zip(masks(j)) {
                    *c += m.count_ones() as usize;
                }
            }
            allowed_cells += counts[0];
            let rest = (0..4).max_by_key(|&i| (counts[i], 4 - i)).unwrap_or(0);
            let mut lists: [Vec<u32>; 4] = Default::default();
            for (c, l) in lists.iter_mut().enumerate() {
                if c != rest {
                    l.reserve_exact(counts[c]);
                }
            }
            for j in 0..w {
                for (c, m) in masks(j).into_iter().enumerate() {
                    if c == rest {
                        continue;
                    }
                    let mut m = m;
                    while m != 0 {
                        lists[c].push((j * 64) as u32 + m.trailing_zeros());
                        m &= m - 1;
                    }
                }
            }
            let [allowed, denied_by_ingress, denied_by_egress, denied_by_both] = lists;
            rows.push(Row {
                from: a as u32,
                port: k.port,
                protocol: k.protocol.clone(),
                rest: [Rest::Allowed, Rest::Ingress, Rest::Egress, Rest::Both][rest],
                allowed,
                denied_by_ingress,
                denied_by_egress,
                denied_by_both,
            });
        }
    }
    (rows, allowed_cells)
}

/// Transpose ingress so that row (k, a) holds the classes whose ingress admits a: the cells
/// of a row are then whole-word operations. Classes not isolated for ingress admit everyone
/// on every port: they start every row, and only isolated classes are transposed bit by bit
/// (a cluster without policies would otherwise cost classes² × ports steps).
fn transpose_ingress(ingress: &[u64], iso_in: &[Vec<usize>], nk: usize, w: usize) -> Vec<u64> {
    let n = iso_in.len();
    let mut open = Bits::empty(n);
    for (b, iso) in iso_in.iter().enumerate() {
        if iso.is_empty() {
            open.set(b);
        }
    }
    let mut admits: Vec<u64> = Vec::with_capacity(nk * n * w);
    for _ in 0..nk * n {
        admits.extend_from_slice(&open.0);
    }
    for ki in 0..nk {
        for b in (0..n).filter(|&b| !open.get(b)) {
            let row = (ki * n + b) * w;
            for (j, &word) in ingress[row..row + w].iter().enumerate() {
                let mut word = word;
                while word != 0 {
                    let a = j * 64 + word.trailing_zeros() as usize;
                    word &= word - 1;
                    admits[(ki * n + a) * w + b / 64] |= 1 << (b % 64);
                }
            }
        }
    }
    admits
}

/// One pod per namespace/name, as `k8s check` resolves it (the first).
fn unique_pods<'a>(c: &'a Cluster, notes: &mut Vec<String>) -> Vec<&'a Pod> {
    let mut seen = BTreeSet::new();
    let mut pods = Vec::new();
    for p in &c.pods {
        if seen.insert((p.metadata.ns(), p.metadata.name.as_str())) {
            pods.push(p);
        } else {
            notes.push(format!(
                "pod {}/{} appears more than once; the first is used",
                p.metadata.ns(),
                p.metadata.name
            ));
        }
    }
    pods
}

/// The equivalence classes: their keys in order, the pods of each (indices into `pods`), and
/// every pod's addresses.
fn equivalence_classes(
    pods: &[&Pod],
    named: &[(String, String)],
    blocks: &[IpBlock],
    label_keys: &BTreeSet<String>,
) -> (Vec<ClassKey>, Vec<Vec<usize>>, Vec<Vec<IpAddr>>) {
    let mut groups: BTreeMap<ClassKey, Vec<usize>> = BTreeMap::new();
    let mut ips_of: Vec<Vec<IpAddr>> = Vec::with_capacity(pods.len());
    for (i, p) in pods.iter().enumerate() {
        let ips = pod_ips(p);
        let mut ip_sig = Bits::empty(blocks.len());
        for (b, block) in blocks.iter().enumerate() {
            if ip_block_matches(block, &ips) {
                ip_sig.set(b);
            }
        }
        let key = ClassKey {
            ns: p.metadata.ns().to_string(),
            labels: p
                .metadata
                .labels
                .iter()
                .filter(|(k, _)| label_keys.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            host_network: p.spec.host_network,
            named: named
                .iter()
                .map(|(n, pr)| resolve_named_port(p, n, pr))
                .collect(),
            ip_sig,
        };
        groups.entry(key).or_default().push(i);
        ips_of.push(ips);
    }
    let (keys, members) = groups.into_iter().unzip();
    (keys, members, ips_of)
}

/// Per valid policy (by index): the classes it isolates per direction, and per rule the peer
/// classes.
struct Isolation<'a> {
    iso_in: &'a [Vec<usize>],
    iso_eg: &'a [Vec<usize>],
    in_peers: &'a [Vec<Bits>],
    eg_peers: &'a [Vec<Bits>],
}

/// Flat bit matrices, one row of `w` words per (port, class): egress row (k, a) holds the
/// classes a may send to on port k, ingress row (k, b) the classes b admits. Flat storage keeps
/// the column reads of the row loop below in cache (a Vec per row made it 20x slower).
fn direction_rows(
    eng: &Engine,
    valid: &[&NetworkPolicy],
    ports: &[PortKey],
    isolation: &Isolation<'_>,
) -> (Vec<u64>, Vec<u64>) {
    let Isolation {
        iso_in,
        iso_eg,
        in_peers,
        eg_peers,
    } = *isolation;
    let (n, nk) = (eng.n, ports.len());
    let w = n.div_ceil(64);
    let mut egress: Vec<u64> = Vec::with_capacity(nk * n * w);
    let mut ingress: Vec<u64> = Vec::with_capacity(nk * n * w);
    let full = Bits::full(n);
    for k in ports {
        // The port match of every rule for this port, computed once.
        let rule_ports = |dir_in: bool| -> Vec<Vec<PortMatch>> {
            valid
                .iter()
                .map(|p| {
                    let rules = if dir_in {
                        &p.spec.ingress
                    } else {
                        &p.spec.egress
                    };
                    rules
                        .iter()
                        .flatten()
                        .map(|r| eng.port_match(r, k))
                        .collect()
                })
                .collect()
        };
        let (pm_in, pm_eg) = (rule_ports(true), rule_ports(false));
        for iso in iso_eg.iter() {
            if iso.is_empty() {
                egress.extend_from_slice(&full.0);
                continue;
            }
            let mut to = Bits::empty(n);
            for &pi in iso {
                for (peers, m) in eg_peers[pi].iter().zip(&pm_eg[pi]) {
                    match m {
                        PortMatch::All => to.or(peers),
                        PortMatch::Named(v) => {
                            for &i in v {
                                if let Some(r) = eng.resolves_to.get(&(i, k.port)) {
                                    to.or_and(peers, r);
                                }
                            }
                        }
                    }
                }
            }
            egress.extend_from_slice(&to.0);
        }
        for (b, iso) in iso_in.iter().enumerate() {
            if iso.is_empty() {
                ingress.extend_from_slice(&full.0);
                continue;
            }
            let mut from = Bits::empty(n);
            for &pi in iso {
                for (peers, m) in in_peers[pi].iter().zip(&pm_in[pi]) {
                    if eng.port_ok(m, k, b) {
                        from.or(peers);
                    }
                }
            }
            ingress.extend_from_slice(&from.0);
        }
    }
    (egress, ingress)
}

/// The labels every one of these pods carries with the same value.
fn shared_labels<'a>(mut all: impl Iterator<Item = &'a Labels>) -> Labels {
    let mut shared = all.next().cloned().unwrap_or_default();
    for l in all {
        shared.retain(|k, v| l.get(k) == Some(v));
    }
    shared
}

fn labels_text(l: &Labels) -> String {
    if l.is_empty() {
        return "-".into();
    }
    l.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn class_text(c: &Class) -> String {
    let mut s = format!("{} {}", c.namespace, labels_text(&c.labels));
    if c.host_network {
        s.push_str(" hostNetwork");
    }
    for (k, v) in &c.named_ports {
        s.push_str(&format!(" {k}={v}"));
    }
    if !c.ip_blocks.is_empty() {
        let b: Vec<String> = c.ip_blocks.iter().map(|b| format!("#{b}")).collect();
        s.push_str(&format!(" ipBlocks={}", b.join(",")));
    }
    s
}

/// The report in every format of the one renderer family: JSON (compact, one line: a large
/// cluster's matrix is big), a table, or Markdown.
impl Rendered for MatrixReport {
    fn json(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }

    fn table(&self) -> String {
        render_table(self)
    }

    fn markdown(&self) -> String {
        render_markdown(self)
    }
}

fn mark(row: Option<&Row>, from: &Class, to: u32) -> &'static str {
    if from.id == to && from.pods.len() == 1 {
        return "·"; // the only pair is the pod and itself: always allowed
    }
    match row.map(|r| r.verdict(to)) {
        Some(Rest::Allowed) => "✓",
        _ => "✗",
    }
}

fn footer(r: &MatrixReport, s: &mut String, bullet: &str) {
    s.push_str(&format!(
        "{bullet}A pod's traffic to itself is always allowed (a cell speaks of two different pods).\n"
    ));
    for o in &r.own_node {
        s.push_str(&format!(
            "{bullet}Always allowed both ways (own node {}): {} <-> every pod on {} ({} pods)\n",
            o.node,
            o.address_holders.join(", "),
            o.node,
            o.pods.len()
        ));
    }
    for i in &r.invalid_policies {
        s.push_str(&format!(
            "{bullet}invalid policy {} (not used): {}\n",
            i.policy, i.reason
        ));
    }
    for n in &r.notes {
        s.push_str(&format!("{bullet}note: {n}\n"));
    }
}

fn render_table(r: &MatrixReport) -> String {
    let st = &r.stats;
    let mut s = format!(
        "netdiag k8s matrix: {} pods in {} classes, {} ports, {} valid policies (rows: from, columns: to; ✓ allowed, ✗ denied, · a lone pod and itself)\n\nClasses:\n",
        st.pods, st.classes, st.ports, st.policies
    );
    let w = r.classes.len().saturating_sub(1).to_string().len().max(2);
    for c in &r.classes {
        s.push_str(&format!(
            "  {:>w$}  {}: {}\n",
            c.id,
            class_text(c),
            c.pods.join(", ")
        ));
    }
    for (bi, b) in r.ip_blocks.iter().enumerate() {
        let except = if b.except.is_empty() {
            String::new()
        } else {
            format!(" except {}", b.except.join(", "))
        };
        s.push_str(&format!("  ipBlock #{bi}: {}{except}\n", b.cidr));
    }
    for k in &r.ports {
        s.push_str(&format!("\n{}/{}\n{:>w$} ", k.protocol, k.port, ""));
        for c in &r.classes {
            s.push_str(&format!(" {:>w$}", c.id));
        }
        s.push('\n');
        // One push per cell: a 1,000-class table has millions of them.
        let pad = " ".repeat(w);
        for a in &r.classes {
            let row = r.row(a.id, k);
            s.push_str(&format!("{:>w$} ", a.id));
            for b in &r.classes {
                s.push_str(&pad);
                s.push_str(mark(row, a, b.id));
            }
            s.push('\n');
        }
    }
    s.push('\n');
    footer(r, &mut s, "");
    s
}

fn render_markdown(r: &MatrixReport) -> String {
    let st = &r.stats;
    let mut s = format!(
        "## netdiag k8s matrix\n\n{} pods in {} classes, {} ports, {} valid policies. Rows: from, columns: to; ✓ allowed, ✗ denied, · a lone pod and itself.\n\n| class | namespace | labels | pods |\n|---|---|---|---|\n",
        st.pods, st.classes, st.ports, st.policies
    );
    for c in &r.classes {
        let mut l = labels_text(&c.labels);
        if c.host_network {
            l.push_str(" (hostNetwork)");
        }
        s.push_str(&format!(
            "| {} | {} | `{}` | {} |\n",
            c.id,
            md_cell(&c.namespace),
            l,
            md_cell(&c.pods.join(", "))
        ));
    }
    for k in &r.ports {
        s.push_str(&format!(
            "\n### {}/{}\n\n| from \\ to |",
            k.protocol, k.port
        ));
        for c in &r.classes {
            s.push_str(&format!(" {} |", c.id));
        }
        s.push_str("\n|---|");
        for _ in &r.classes {
            s.push_str("---|");
        }
        s.push('\n');
        for a in &r.classes {
            let row = r.row(a.id, k);
            s.push_str(&format!("| **{}** |", a.id));
            for b in &r.classes {
                s.push_str(&format!(" {} |", mark(row, a, b.id)));
            }
            s.push('\n');
        }
    }
    s.push_str("\n### Notes\n\n");
    footer(r, &mut s, "- ");
    s
}
