//! The fleet verdict: what every member's series in a time window say together. Pure: the
//! series Prometheus returned in, a [`FleetReport`] out; rendering as a table, Markdown or JSON.
//!
//! Why this shape: a single member's failure is already explained by its `probe_failure_info`
//! (the walk's layer and cause). What only the fleet view can say is the *pattern*: one node
//! fails where every other passes (look at that node), every node fails (look at the target),
//! a node that 9 of its 10 mesh peers cannot reach (the node or its CNI), a member that cannot
//! reach most of its peers (its own egress). And a failure that comes and goes is a different
//! problem from one that is steady, so they are reported apart.

use super::promapi::Series;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The JSON schema name.
pub const SCHEMA: &str = "netdiag.fleet/v1";

/// The `target` label of mesh series.
pub const MESH_TARGET: &str = "mesh";

/// Labels that identify a check (everything else, such as `instance`, `pod` or `job`, is where
/// Prometheus found it).
const IDENTITY: [&str; 5] = ["node", "target", "module", "peer_node", "dns_endpoint"];

/// How a failing check behaved in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Failing at the end of the window, without a success since it began failing.
    Failing,
    /// Went between success and failure more than once.
    Flapping,
    /// Failed in the window, passing at its end.
    Recovered,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Failing => "failing",
            State::Flapping => "flapping",
            State::Recovered => "recovered",
        }
    }
}

/// One (node, check) that failed in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The member's node.
    pub node: String,
    /// The `target` label (`mesh` for peers, `namespace/service` for DNS endpoints).
    pub target: String,
    /// The module.
    pub module: String,
    /// The peer's node, for mesh checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_node: Option<String>,
    /// The DNS endpoint's pod, for cluster DNS checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_endpoint: Option<String>,
    /// How it behaved.
    pub state: State,
    /// The failing layer (the last one reported), `unknown` when no verdict series exists.
    pub layer: String,
    /// The cause code, `probe_failed` when no verdict series exists.
    pub cause: String,
    /// When the current (or last) failing run began, RFC 3339.
    pub since: String,
    /// Failed points / all points in the window.
    pub failed_points: usize,
    /// All points.
    pub points: usize,
    /// Success↔failure changes.
    pub transitions: usize,
    /// Where Prometheus scraped it (`instance`), for the detail command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The member's pod, when the scrape config adds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip)]
    since_unix: f64,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Every node reporting the target fails it.
    EveryNode,
    /// Exactly one node fails where others pass.
    OneNode,
    /// Some nodes fail.
    SomeNodes,
    /// Most members that probe a node cannot reach it.
    MeshUnreachable,
    /// A member cannot reach most of its peers.
    MeshIsolated,
    /// One member cannot reach one peer.
    MeshPair,
    /// One node fails several checks that pass elsewhere.
    NodeSuspect,
}

/// One named pattern.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Which pattern.
    pub pattern: Pattern,
    /// Failing, flapping or recovered.
    pub state: State,
    /// The layer.
    pub layer: String,
    /// The cause code.
    pub cause: String,
    /// The target label.
    pub target: String,
    /// The module.
    pub module: String,
    /// The nodes it names (failing members; for `mesh_unreachable` the unreachable node).
    pub nodes: Vec<String>,
    /// Out of how many (reporting nodes, or peers).
    pub of: usize,
    /// When it began, RFC 3339.
    pub since: String,
    /// One line, as a person would say it.
    pub summary: String,
    /// A command that shows one member's full report of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The fleet verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The window's start, RFC 3339.
    pub from: String,
    /// The window's end, RFC 3339.
    pub to: String,
    /// Nodes with at least one series in the window.
    pub nodes: usize,
    /// (node, check) pairs seen.
    pub checks: usize,
    /// No check failing or flapping at the end of the window.
    pub healthy: bool,
    /// The patterns, most severe first.
    pub findings: Vec<Finding>,
    /// Every failing (node, check), for the detail.
    pub failures: Vec<Failure>,
    /// Members whose listing of peers or endpoints failed through the window.
    pub list_failures: Vec<String>,
}

impl FleetReport {
    /// The exit status, as for `check`: 0 healthy (recoveries are warnings), 1 failing.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.healthy)
    }
}

type Key = [Option<String>; 5];

#[derive(Default)]
struct Check {
    points: Vec<(f64, f64)>,
    verdicts: Vec<(f64, String, String)>,
    instance: Option<String>,
    pod: Option<String>,
}

fn key(labels: &BTreeMap<String, String>) -> Option<Key> {
    let k = IDENTITY.map(|name| labels.get(name).cloned());
    (k[0].is_some() && k[1].is_some()).then_some(k)
}

/// Builds the verdict over `[from, to]` (unix seconds) from: `reporting`, one series per check
/// that reported in the window (its points are not used; empty: the checks of `success`);
/// `success`, the `probe_success` points of (at least) every check that failed; the
/// `probe_failure_info` points; and the listings that failed (`netdiag_fleet_list_success`,
/// all points 0).
pub fn analyse(
    reporting: &[Series],
    success: &[Series],
    failure_info: &[Series],
    list_success: &[Series],
    from: f64,
    to: f64,
) -> FleetReport {
    let mut checks: BTreeMap<Key, Check> = BTreeMap::new();
    for s in reporting {
        let Some(k) = key(&s.labels) else { continue };
        let c = checks.entry(k).or_default();
        c.instance = c
            .instance
            .take()
            .or_else(|| s.labels.get("instance").cloned());
        c.pod = c.pod.take().or_else(|| s.labels.get("pod").cloned());
    }
    for s in success {
        let Some(k) = key(&s.labels) else { continue };
        let c = checks.entry(k).or_default();
        c.points.extend_from_slice(&s.points);
        c.instance = c
            .instance
            .take()
            .or_else(|| s.labels.get("instance").cloned());
        c.pod = c.pod.take().or_else(|| s.labels.get("pod").cloned());
    }
    for s in failure_info {
        let Some(k) = key(&s.labels) else { continue };
        let (Some(layer), Some(cause)) = (s.labels.get("layer"), s.labels.get("cause")) else {
            continue;
        };
        if let Some(c) = checks.get_mut(&k) {
            for &(ts, v) in &s.points {
                if v > 0.0 {
                    c.verdicts.push((ts, layer.clone(), cause.clone()));
                }
            }
        }
    }
    let node_count = checks
        .keys()
        .filter_map(|k| k[0].as_deref())
        .collect::<BTreeSet<_>>()
        .len();
    let mut failures: Vec<Failure> = checks
        .iter_mut()
        .filter_map(|(k, c)| failure(k, c))
        .collect();
    failures.sort_by(|a, b| {
        (
            a.state,
            &a.target,
            &a.module,
            &a.node,
            &a.peer_node,
            &a.dns_endpoint,
        )
            .cmp(&(
                b.state,
                &b.target,
                &b.module,
                &b.node,
                &b.peer_node,
                &b.dns_endpoint,
            ))
    });
    let mut findings = mesh_findings(&checks, &failures);
    findings.extend(target_findings(&checks, &failures));
    findings.extend(node_suspects(&findings));
    findings.sort_by_key(|f| (f.state, f.pattern));
    let healthy = failures.iter().all(|f| f.state == State::Recovered);
    let list_failures = list_success
        .iter()
        .filter(|s| !s.points.is_empty() && s.points.iter().all(|&(_, v)| v == 0.0))
        .filter_map(|s| {
            let node = s.labels.get("node")?;
            let list = s.labels.get("list").map(String::as_str).unwrap_or("objects");
            Some(format!(
                "{node} could not list {list} from the API server in the whole window: its mesh or DNS endpoint list is stale (check the ServiceAccount's ClusterRole and the API server from that node)"
            ))
        })
        .collect();
    FleetReport {
        schema: SCHEMA,
        from: time(from),
        to: time(to),
        nodes: node_count,
        checks: checks.len(),
        healthy,
        findings,
        failures,
        list_failures,
    }
}

fn time(unix: f64) -> String {
    netdiag_core::report::rfc3339_utc(if unix.is_finite() && unix > 0.0 {
        unix as u64
    } else {
        0
    })
}

/// `HH:MM` (UTC) of an RFC 3339 time, for sentences.
fn clock(rfc3339: &str) -> &str {
    rfc3339.get(11..16).unwrap_or(rfc3339)
}

fn failure(k: &Key, c: &mut Check) -> Option<Failure> {
    c.points
        .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    c.points.dedup_by(|b, a| a.0 == b.0);
    let failed = |v: f64| v < 0.5;
    let failed_points = c.points.iter().filter(|p| failed(p.1)).count();
    if failed_points == 0 {
        return None;
    }
    let transitions = c
        .points
        .windows(2)
        .filter(|w| failed(w[0].1) != failed(w[1].1))
        .count();
    let last_failed = c.points.last().is_some_and(|p| failed(p.1));
    let state = if transitions >= 2 {
        State::Flapping
    } else if last_failed {
        State::Failing
    } else {
        State::Recovered
    };
    // The start of the last failing run.
    let mut since = 0.0;
    let mut in_run = false;
    for &(ts, v) in &c.points {
        if failed(v) && !in_run {
            since = ts;
        }
        in_run = failed(v);
    }
    c.verdicts
        .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let (layer, cause) = c
        .verdicts
        .last()
        .map(|(_, l, c)| (l.clone(), c.clone()))
        .unwrap_or_else(|| ("unknown".into(), "probe_failed".into()));
    let [node, target, module, peer_node, dns_endpoint] = k.clone();
    Some(Failure {
        node: node.unwrap_or_default(),
        target: target.unwrap_or_default(),
        module: module.unwrap_or_default(),
        peer_node,
        dns_endpoint,
        state,
        layer,
        cause,
        since: time(since),
        failed_points,
        points: c.points.len(),
        transitions,
        instance: c.instance.clone(),
        pod: c.pod.clone(),
        since_unix: since,
    })
}

/// The worst state among failures (failing before flapping before recovered).
fn worst(fs: &[&Failure]) -> State {
    fs.iter().map(|f| f.state).min().unwrap_or(State::Recovered)
}

/// The most common (layer, cause) among failures, ties broken by name.
fn common_cause(fs: &[&Failure]) -> (String, String) {
    let mut count: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for f in fs {
        *count.entry((&f.layer, &f.cause)).or_default() += 1;
    }
    count
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|((l, c), _)| (l.to_string(), c.to_string()))
        .unwrap_or_default()
}

fn earliest(fs: &[&Failure]) -> String {
    fs.iter()
        .min_by(|a, b| {
            a.since_unix
                .partial_cmp(&b.since_unix)
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .map(|f| f.since.clone())
        .unwrap_or_default()
}

fn names(nodes: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = nodes
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if nodes.len() > SHOWN {
        text.push_str(&format!(" and {} more", nodes.len() - SHOWN));
    }
    text
}

fn state_words(state: State, since: &str) -> String {
    match state {
        State::Failing => format!("since {}", clock(since)),
        State::Flapping => "on and off".into(),
        State::Recovered => format!("from {} (passing again)", clock(since)),
    }
}

/// The command that shows one member's full report of a check.
fn detail(f: &Failure) -> Option<String> {
    if f.target == MESH_TARGET {
        let peer = f.peer_node.as_deref()?;
        let pod = f.pod.as_deref().unwrap_or("<the netdiag pod on that node>");
        return Some(format!(
            "kubectl -n netdiag exec {pod} -- /usr/local/bin/netdiag check tcp://$(kubectl -n netdiag get pod -l app.kubernetes.io/name=netdiag --field-selector spec.nodeName={peer} -o jsonpath='{{.items[0].status.podIP}}'):9115"
        ));
    }
    if f.dns_endpoint.is_some() {
        let pod = f.pod.as_deref().unwrap_or("<the netdiag pod on that node>");
        return Some(format!(
            "kubectl -n netdiag logs {pod} | grep -i dns   # the member's last probe of that endpoint; or curl its /probe?debug=true"
        ));
    }
    // `:/[]` stay readable in a target such as db:5432 or [fd00::1]:443.
    let query = format!(
        "module={}&target={}&debug=true",
        super::promapi::percent_encode(&f.module, b":/[]"),
        super::promapi::percent_encode(&f.target, b":/[]")
    );
    match (&f.instance, &f.pod) {
        (Some(instance), _) => Some(format!("curl -s 'http://{instance}/probe?{query}'")),
        (None, Some(pod)) => Some(format!(
            "kubectl -n netdiag port-forward pod/{pod} 9115 & curl -s 'http://127.0.0.1:9115/probe?{query}'"
        )),
        (None, None) => None,
    }
}

/// Findings about ordinary targets and DNS endpoints.
fn target_findings(checks: &BTreeMap<Key, Check>, failures: &[Failure]) -> Vec<Finding> {
    // Which nodes report each (target, module, dns_endpoint).
    let mut reporting: BTreeMap<(&str, &str, Option<&str>), BTreeSet<&str>> = BTreeMap::new();
    for k in checks.keys() {
        if k[1].as_deref() == Some(MESH_TARGET) {
            continue;
        }
        let (Some(node), Some(target)) = (k[0].as_deref(), k[1].as_deref()) else {
            continue;
        };
        reporting
            .entry((target, k[2].as_deref().unwrap_or(""), k[4].as_deref()))
            .or_default()
            .insert(node);
    }
    // (target, module, dns_endpoint, layer, cause, failing now) → the failures.
    type Group<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, &'a str, bool);
    let mut groups: BTreeMap<Group<'_>, Vec<&Failure>> = BTreeMap::new();
    for f in failures.iter().filter(|f| f.target != MESH_TARGET) {
        let now = f.state != State::Recovered;
        groups
            .entry((
                &f.target,
                &f.module,
                f.dns_endpoint.as_deref(),
                &f.layer,
                &f.cause,
                now,
            ))
            .or_default()
            .push(f);
    }
    let mut out = Vec::new();
    for ((target, module, endpoint, layer, cause, _), fs) in groups {
        let of = reporting
            .get(&(target, module, endpoint))
            .map(BTreeSet::len)
            .unwrap_or(fs.len());
        let nodes: Vec<String> = fs.iter().map(|f| f.node.clone()).collect();
        let state = worst(&fs);
        let since = earliest(&fs);
        let what = match endpoint {
            Some(e) => format!("{cause} to {target} through its endpoint {e}"),
            None => format!("{cause} to {target}"),
        };
        let when = state_words(state, &since);
        let (pattern, summary) = if nodes.len() == of && of > 1 {
            (
                Pattern::EveryNode,
                format!("every node ({of}) fails {what} {when}: the target or the path to it, not the nodes"),
            )
        } else if nodes.len() == 1 && of > 1 {
            (
                Pattern::OneNode,
                format!(
                    "only {} fails {what} {when}; the other {} nodes pass: look at that node",
                    nodes[0],
                    of - 1
                ),
            )
        } else if nodes.len() == 1 {
            (
                Pattern::OneNode,
                format!(
                    "{} fails {what} {when} (the only node reporting it)",
                    nodes[0]
                ),
            )
        } else {
            (
                Pattern::SomeNodes,
                format!(
                    "{} of {of} nodes fail {what} {when}: {}",
                    nodes.len(),
                    names(&nodes)
                ),
            )
        };
        out.push(Finding {
            pattern,
            state,
            layer: layer.to_string(),
            cause: cause.to_string(),
            target: target.to_string(),
            module: module.to_string(),
            nodes,
            of,
            since,
            summary,
            detail: fs.first().and_then(|f| detail(f)),
        });
    }
    out
}

/// Findings about the peer mesh: unreachable nodes, isolated members, broken pairs.
fn mesh_findings(checks: &BTreeMap<Key, Check>, failures: &[Failure]) -> Vec<Finding> {
    let mesh: Vec<&Failure> = failures
        .iter()
        .filter(|f| f.target == MESH_TARGET && f.state != State::Recovered && f.peer_node.is_some())
        .collect();
    let mut probers_of: BTreeMap<&str, usize> = BTreeMap::new();
    for k in checks.keys() {
        if k[1].as_deref() != Some(MESH_TARGET) {
            continue;
        }
        if let (Some(_), Some(peer)) = (k[0].as_deref(), k[3].as_deref()) {
            *probers_of.entry(peer).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    let mut explained: BTreeSet<(&str, &str)> = BTreeSet::new();
    // A node most of its probers cannot reach.
    let mut by_peer: BTreeMap<&str, Vec<&Failure>> = BTreeMap::new();
    for f in &mesh {
        if let Some(p) = f.peer_node.as_deref() {
            by_peer.entry(p).or_default().push(f);
        }
    }
    for (peer, fs) in &by_peer {
        let of = probers_of.get(peer).copied().unwrap_or(fs.len());
        if fs.len() >= 2 && fs.len() * 2 > of {
            out.push(group_finding(Pattern::MeshUnreachable, peer, fs, of, |cause, when| {
                format!(
                    "mesh: {peer} unreachable from {} of {of} peers ({cause}) {when}: the node, its CNI or its netdiag pod",
                    fs.len()
                )
            }));
            for f in fs {
                explained.insert((&f.node, peer));
            }
        }
    }
    let unreachable: BTreeSet<String> = out.iter().flat_map(|f| f.nodes.first()).cloned().collect();
    // Peers already named unreachable do not count against the members that probe them.
    let mut reachable_peers_of: BTreeMap<&str, usize> = BTreeMap::new();
    for k in checks.keys() {
        if k[1].as_deref() != Some(MESH_TARGET) {
            continue;
        }
        if let (Some(node), Some(peer)) = (k[0].as_deref(), k[3].as_deref()) {
            if !unreachable.contains(peer) {
                *reachable_peers_of.entry(node).or_default() += 1;
            }
        }
    }
    // A member that cannot reach most of its (otherwise reachable) peers.
    let mut by_node: BTreeMap<&str, Vec<&Failure>> = BTreeMap::new();
    for f in &mesh {
        if !explained.contains(&(f.node.as_str(), f.peer_node.as_deref().unwrap_or(""))) {
            by_node.entry(&f.node).or_default().push(f);
        }
    }
    for (node, fs) in &by_node {
        let of = reachable_peers_of
            .get(node)
            .copied()
            .unwrap_or(0)
            .max(fs.len());
        if fs.len() >= 2 && fs.len() * 2 > of {
            out.push(group_finding(Pattern::MeshIsolated, node, fs, of, |cause, when| {
                format!(
                    "mesh: {node} cannot reach {} of {of} peers ({cause}) {when}: that node's own egress",
                    fs.len()
                )
            }));
            for f in fs {
                explained.insert((&f.node, f.peer_node.as_deref().unwrap_or("")));
            }
        }
    }
    // What is left: single broken pairs.
    for f in &mesh {
        let peer = f.peer_node.as_deref().unwrap_or("");
        if explained.contains(&(f.node.as_str(), peer)) {
            continue;
        }
        out.push(Finding {
            pattern: Pattern::MeshPair,
            state: f.state,
            summary: format!(
                "mesh: {} cannot reach {peer} ({}) {}; both reach their other peers",
                f.node,
                f.cause,
                state_words(f.state, &f.since)
            ),
            layer: f.layer.clone(),
            cause: f.cause.clone(),
            target: MESH_TARGET.into(),
            module: f.module.clone(),
            nodes: vec![f.node.clone(), peer.to_string()],
            of: 1,
            since: f.since.clone(),
            detail: detail(f),
        });
    }
    out
}

/// A mesh finding about one node from a group of failures: the common cause, the worst state,
/// the earliest start; `describe(cause, when)` writes the sentence.
fn group_finding(
    pattern: Pattern,
    node: &str,
    fs: &[&Failure],
    of: usize,
    describe: impl Fn(&str, &str) -> String,
) -> Finding {
    let (layer, cause) = common_cause(fs);
    let state = worst(fs);
    let since = earliest(fs);
    Finding {
        pattern,
        state,
        summary: describe(&cause, &state_words(state, &since)),
        layer,
        cause,
        target: MESH_TARGET.into(),
        module: fs.first().map(|f| f.module.clone()).unwrap_or_default(),
        nodes: vec![node.to_string()],
        of,
        since,
        detail: fs.first().and_then(|f| detail(f)),
    }
}

/// A node that is alone in failing two or more different checks.
fn node_suspects(findings: &[Finding]) -> Vec<Finding> {
    let mut alone: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        if f.pattern == Pattern::OneNode && f.of > 1 && f.state != State::Recovered {
            if let Some(n) = f.nodes.first() {
                alone.entry(n).or_default().push(f);
            }
        }
    }
    alone
        .into_iter()
        .filter(|(_, fs)| fs.len() >= 2)
        .map(|(node, fs)| {
            let causes: BTreeSet<&str> = fs.iter().map(|f| f.cause.as_str()).collect();
            let state = fs.iter().map(|f| f.state).min().unwrap_or(State::Failing);
            Finding {
                pattern: Pattern::NodeSuspect,
                state,
                layer: fs[0].layer.clone(),
                cause: fs[0].cause.clone(),
                target: String::new(),
                module: String::new(),
                nodes: vec![node.to_string()],
                of: fs.len(),
                since: fs.iter().map(|f| f.since.clone()).min().unwrap_or_default(),
                summary: format!(
                    "{node} alone fails {} checks that pass on every other node ({}): the node itself (its resolver, routes or firewall)",
                    fs.len(),
                    causes.into_iter().collect::<Vec<_>>().join(", ")
                ),
                detail: None,
            }
        })
        .collect()
}

/// The report as a table: the findings, then every failing (node, check).
pub fn render_table(r: &FleetReport) -> String {
    let mut out = format!(
        "netdiag fleet report  {} .. {}  ({} nodes, {} checks)\n\n",
        r.from, r.to, r.nodes, r.checks
    );
    if r.findings.is_empty() {
        out.push_str("Every check passed on every node in the window.\n");
    }
    for f in &r.findings {
        out.push_str(&format!(
            "{:<9} {:<5} {}\n",
            f.state.name().to_uppercase(),
            f.layer,
            f.summary
        ));
        if let Some(d) = &f.detail {
            out.push_str(&format!("          detail: {d}\n"));
        }
    }
    for l in &r.list_failures {
        out.push_str(&format!("WARNING   {l}\n"));
    }
    if !r.failures.is_empty() {
        let rows: Vec<[String; 6]> = r
            .failures
            .iter()
            .map(|f| {
                [
                    f.node.clone(),
                    check_name(f),
                    f.state.name().into(),
                    f.layer.clone(),
                    f.cause.clone(),
                    format!(
                        "{} ({}/{} points failed)",
                        f.since, f.failed_points, f.points
                    ),
                ]
            })
            .collect();
        let head = ["Node", "Check", "State", "Layer", "Cause", "Since"];
        let widths: Vec<usize> = (0..6)
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([head[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        out.push('\n');
        let line = |cells: &[&str]| {
            let mut l = String::new();
            for (i, c) in cells.iter().enumerate() {
                l.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
            l.trim_end().to_string() + "\n"
        };
        out.push_str(&line(&head));
        for row in &rows {
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            out.push_str(&line(&cells));
        }
    }
    out.push_str(&format!(
        "\nverdict: {}\n",
        if r.healthy {
            "healthy".to_string()
        } else {
            let n = r
                .failures
                .iter()
                .filter(|f| f.state != State::Recovered)
                .count();
            format!("{n} failing (node, check) pairs")
        }
    ));
    out
}

fn check_name(f: &Failure) -> String {
    match (&f.peer_node, &f.dns_endpoint) {
        (Some(p), _) => format!("mesh -> {p} ({})", f.module),
        (None, Some(e)) => format!("{} via {e} ({})", f.target, f.module),
        _ => format!("{} ({})", f.target, f.module),
    }
}

/// The report as Markdown.
pub fn render_markdown(r: &FleetReport) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "# netdiag fleet report\n\n{} .. {}: {} nodes, {} checks. **{}**\n\n",
        r.from,
        r.to,
        r.nodes,
        r.checks,
        if r.healthy { "Healthy" } else { "Failing" }
    );
    if !r.findings.is_empty() {
        out.push_str("## Findings\n\n| State | Layer | Cause | Finding |\n|---|---|---|---|\n");
        for f in &r.findings {
            out.push_str(&format!(
                "| {} | {} | `{}` | {} |\n",
                f.state.name(),
                cell(&f.layer),
                cell(&f.cause),
                cell(&f.summary)
            ));
        }
        out.push('\n');
    }
    for l in &r.list_failures {
        out.push_str(&format!("- warning: {}\n", cell(l)));
    }
    if !r.failures.is_empty() {
        out.push_str("## Failing checks\n\n| Node | Check | State | Layer | Cause | Since |\n|---|---|---|---|---|---|\n");
        for f in &r.failures {
            out.push_str(&format!(
                "| {} | {} | {} | {} | `{}` | {} |\n",
                cell(&f.node),
                cell(&check_name(f)),
                f.state.name(),
                cell(&f.layer),
                cell(&f.cause),
                cell(&f.since)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1_764_583_200.0; // 2025-12-01T10:00:00Z

    fn series(labels: &[(&str, &str)], values: &[f64]) -> Series {
        Series {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            points: values
                .iter()
                .enumerate()
                .map(|(i, v)| (T0 + 30.0 * i as f64, *v))
                .collect(),
        }
    }

    fn target(node: &str, target: &str, values: &[f64]) -> Series {
        series(
            &[
                ("node", node),
                ("target", target),
                ("module", "tcp"),
                ("instance", "10.0.0.1:9115"),
            ],
            values,
        )
    }

    fn verdict(node: &str, target: &str, layer: &str, cause: &str, values: &[f64]) -> Series {
        series(
            &[
                ("node", node),
                ("target", target),
                ("module", "tcp"),
                ("layer", layer),
                ("cause", cause),
            ],
            values,
        )
    }

    fn mesh(node: &str, peer: &str, values: &[f64]) -> Series {
        series(
            &[
                ("node", node),
                ("target", "mesh"),
                ("module", "peer"),
                ("peer_node", peer),
            ],
            values,
        )
    }

    const OK: [f64; 4] = [1.0; 4];
    const DOWN_AT_2: [f64; 4] = [1.0, 1.0, 0.0, 0.0];

    #[test]
    fn only_one_node_fails_names_that_node_and_the_cause() {
        let success = vec![
            target("node-1", "db:5432", &OK),
            target("node-2", "db:5432", &OK),
            target("node-3", "db:5432", &DOWN_AT_2),
        ];
        let info = vec![verdict(
            "node-3",
            "db:5432",
            "tcp",
            "tcp_timeout",
            &[0.0, 0.0, 1.0, 1.0],
        )];
        let r = analyse(&[], &success, &info, &[], T0, T0 + 90.0);
        assert!(!r.healthy);
        assert_eq!(r.exit_code(), 1);
        assert_eq!((r.nodes, r.checks), (3, 3));
        assert_eq!(r.findings.len(), 1);
        let f = &r.findings[0];
        assert_eq!((f.pattern, f.state), (Pattern::OneNode, State::Failing));
        assert_eq!((f.layer.as_str(), f.cause.as_str()), ("tcp", "tcp_timeout"));
        assert_eq!(f.nodes, ["node-3"]);
        assert!(
            f.summary
                .starts_with("only node-3 fails tcp_timeout to db:5432 since 10:01"),
            "{}",
            f.summary
        );
        assert_eq!(
            f.detail.as_deref(),
            Some("curl -s 'http://10.0.0.1:9115/probe?module=tcp&target=db:5432&debug=true'")
        );
        let table = render_table(&r);
        assert!(
            table.contains("FAILING")
                && table.contains("node-3")
                && table.contains("verdict: 1 failing"),
            "{table}"
        );
    }

    #[test]
    fn every_node_failing_points_at_the_target_and_flapping_is_apart() {
        let success = vec![
            target("node-1", "db:5432", &DOWN_AT_2),
            target("node-2", "db:5432", &DOWN_AT_2),
            target("node-1", "cache:6379", &[1.0, 0.0, 1.0, 0.0]),
            target("node-2", "cache:6379", &OK),
        ];
        let info = vec![
            verdict(
                "node-1",
                "db:5432",
                "tcp",
                "tcp_refused",
                &[0.0, 0.0, 1.0, 1.0],
            ),
            verdict(
                "node-2",
                "db:5432",
                "tcp",
                "tcp_refused",
                &[0.0, 0.0, 1.0, 1.0],
            ),
        ];
        let r = analyse(&[], &success, &info, &[], T0, T0 + 90.0);
        let every = r
            .findings
            .iter()
            .find(|f| f.pattern == Pattern::EveryNode)
            .unwrap();
        assert!(
            every
                .summary
                .starts_with("every node (2) fails tcp_refused to db:5432 since 10:01"),
            "{}",
            every.summary
        );
        let flap = r
            .findings
            .iter()
            .find(|f| f.state == State::Flapping)
            .unwrap();
        assert_eq!(flap.target, "cache:6379");
        assert_eq!(
            (flap.layer.as_str(), flap.cause.as_str()),
            ("unknown", "probe_failed")
        );
        assert!(flap.summary.contains("on and off"), "{}", flap.summary);
        assert!(r.findings[0].state <= r.findings[r.findings.len() - 1].state);
    }

    #[test]
    fn recovered_only_is_healthy_with_a_warning() {
        let success = vec![target("node-1", "db:5432", &[0.0, 1.0, 1.0, 1.0])];
        let r = analyse(&[], &success, &[], &[], T0, T0 + 90.0);
        assert!(r.healthy);
        assert_eq!(r.exit_code(), 0);
        assert_eq!(r.findings[0].state, State::Recovered);
        assert!(render_markdown(&r).contains("| recovered |"));
    }

    #[test]
    fn mesh_names_the_unreachable_node_not_its_probers() {
        let mut success = Vec::new();
        // 11 nodes, each probes the next 10 (a full ring); node-7 is unreachable from everyone.
        let nodes: Vec<String> = (0..11).map(|i| format!("node-{i}")).collect();
        for n in &nodes {
            for p in nodes.iter().filter(|p| *p != n) {
                let v: &[f64] = if p == "node-7" { &DOWN_AT_2 } else { &OK };
                success.push(mesh(n, p, v));
            }
        }
        // One pair is broken on its own: node-1 → node-2.
        success.retain(|s| !(s.labels["node"] == "node-1" && s.labels["peer_node"] == "node-2"));
        success.push(mesh("node-1", "node-2", &DOWN_AT_2));
        let r = analyse(&[], &success, &[], &[], T0, T0 + 90.0);
        let unreachable: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.pattern == Pattern::MeshUnreachable)
            .collect();
        assert_eq!(unreachable.len(), 1, "{:#?}", r.findings);
        assert_eq!(unreachable[0].nodes, ["node-7"]);
        assert!(
            unreachable[0]
                .summary
                .starts_with("mesh: node-7 unreachable from 10 of 10 peers"),
            "{}",
            unreachable[0].summary
        );
        assert!(
            r.findings
                .iter()
                .all(|f| f.pattern != Pattern::MeshIsolated),
            "{:#?}",
            r.findings
        );
        let pair: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.pattern == Pattern::MeshPair)
            .collect();
        assert_eq!(pair.len(), 1);
        assert_eq!(pair[0].nodes, ["node-1", "node-2"]);
    }

    #[test]
    fn a_member_that_reaches_nobody_is_isolated() {
        let mut success = Vec::new();
        for i in 0..5 {
            for j in 0..5 {
                if i != j {
                    let v: &[f64] = if i == 3 { &DOWN_AT_2 } else { &OK };
                    success.push(mesh(&format!("node-{i}"), &format!("node-{j}"), v));
                }
            }
        }
        let r = analyse(&[], &success, &[], &[], T0, T0 + 90.0);
        assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
        assert_eq!(r.findings[0].pattern, Pattern::MeshIsolated);
        assert!(r.findings[0]
            .summary
            .starts_with("mesh: node-3 cannot reach 4 of 4 peers"));
    }

    #[test]
    fn a_node_alone_in_several_failures_is_named_as_the_suspect() {
        let success = vec![
            target("node-1", "db:5432", &OK),
            target("node-2", "db:5432", &DOWN_AT_2),
            target("node-1", "api:443", &OK),
            target("node-2", "api:443", &DOWN_AT_2),
        ];
        let info = vec![
            verdict(
                "node-2",
                "db:5432",
                "dns",
                "dns_nameserver_unreachable",
                &[0.0, 0.0, 1.0, 1.0],
            ),
            verdict(
                "node-2",
                "api:443",
                "dns",
                "dns_nameserver_unreachable",
                &[0.0, 0.0, 1.0, 1.0],
            ),
        ];
        let r = analyse(&[], &success, &info, &[], T0, T0 + 90.0);
        let suspect = r
            .findings
            .iter()
            .find(|f| f.pattern == Pattern::NodeSuspect)
            .unwrap();
        assert_eq!(suspect.nodes, ["node-2"]);
        assert!(suspect.summary.contains("dns_nameserver_unreachable"));
    }

    #[test]
    fn reporting_checks_count_even_when_only_failures_carry_points() {
        // What read_report asks for at scale: every check once, points only for failing ones.
        let reporting: Vec<Series> = (1..=10)
            .map(|i| target(&format!("node-{i}"), "db:5432", &[1.0]))
            .collect();
        let success = vec![target("node-4", "db:5432", &DOWN_AT_2)];
        let r = analyse(&reporting, &success, &[], &[], T0, T0 + 90.0);
        assert_eq!((r.nodes, r.checks), (10, 10));
        assert_eq!(r.findings[0].pattern, Pattern::OneNode);
        assert!(
            r.findings[0].summary.contains("the other 9 nodes pass"),
            "{}",
            r.findings[0].summary
        );
    }

    #[test]
    fn garbage_series_are_ignored_and_a_listing_failure_is_a_warning() {
        let success = vec![
            series(&[("target", "x")], &[0.0]),
            Series::default(),
            target("node-1", "db:5432", &OK),
        ];
        let lists = vec![series(&[("node", "node-1"), ("list", "pods")], &[0.0, 0.0])];
        let r = analyse(&[], &success, &[], &lists, T0, T0 + 90.0);
        assert!(r.healthy);
        assert_eq!(r.checks, 1);
        assert_eq!(r.list_failures.len(), 1);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["schema"], SCHEMA);
    }
}
