//! The fleet member's loops. Every `interval`, each section (`mesh`, `cluster_dns`) lists what
//! it probes from the API server, then probes all of it at once with its module and replaces its
//! results. A failed listing keeps the last good list (the API server being down must not blind
//! the mesh) and says so in `netdiag_fleet_list_success`.
//!
//! Series (on `/metrics`, next to the scheduled ones), always with `node` from `--fleet.node`:
//! - the probe's own series with `module`, `target="mesh"` and `peer_node` for a peer;
//! - with `module`, `target="<namespace>/<service>"` and `dns_endpoint` (the CoreDNS pod's
//!   name) for a DNS endpoint;
//! - `netdiag_fleet_list_success{list}`, `netdiag_fleet_listed{list}` (members or endpoints
//!   seen) and `netdiag_fleet_probed{list}` (peers or endpoints probed).

use super::members::{dns_endpoints, members_from_pods};
use super::ring::peers;
use super::state::{FleetState, ListStatus, Section};
use super::{READ_ENDPOINTSLICES, READ_PODS};
use crate::config::fleet::{ClusterDnsConfig, FleetConfig, MeshConfig};
use crate::config::ProberKind;
use crate::expo::{Kind, Registry};
use crate::state::Shared;
use netdiag_k8s::live::{list_items, ListRequest, LiveSource};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The longest a listing may take (the API server's answer for one namespace is small).
const LIST_DEADLINE: Duration = Duration::from_secs(10);

/// One thing to probe: its labels and the target text the module takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Labels besides `node`.
    pub labels: Vec<(String, String)>,
    /// The prober's target.
    pub target: String,
}

/// Starts the loops of the current config's `fleet:` section (older generations stop at their
/// next tick) and drops results of sections that are gone.
pub fn restart(shared: &Arc<Shared>) {
    let config = shared.config();
    let generation = shared.generation.load(Ordering::SeqCst);
    let fleet = config.fleet.clone().unwrap_or_default();
    {
        let mut state = lock(shared);
        let keep = |s: &Section| match s {
            Section::Mesh => fleet.mesh.is_some(),
            Section::ClusterDns => fleet.cluster_dns.is_some(),
        };
        state.results.retain(|(s, _), _| keep(s));
        state.lists.retain(|s, _| keep(s));
    }
    let source = source(&fleet);
    if let Some(mesh) = fleet.mesh.clone() {
        match shared.options.node.clone() {
            Some(me) => {
                let kind = config.modules.get(&mesh.module).map(|m| m.prober);
                spawn(
                    shared,
                    generation,
                    Section::Mesh,
                    source.clone(),
                    move |items| plan_mesh(&me, &mesh, kind, items),
                );
            }
            None => eprintln!("netdiag serve: fleet.mesh needs --fleet.node; the mesh is off"),
        }
    }
    if let Some(dns) = fleet.cluster_dns.clone() {
        spawn(
            shared,
            generation,
            Section::ClusterDns,
            source,
            move |items| plan_cluster_dns(&dns, items),
        );
    }
}

fn source(fleet: &FleetConfig) -> LiveSource {
    match &fleet.kubeconfig {
        Some(path) => LiveSource::Kubeconfig {
            path: PathBuf::from(path),
            context: None,
        },
        None => LiveSource::InCluster,
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, FleetState> {
    shared
        .fleet
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a section lists and probes, read from the current config.
#[derive(Debug, Clone)]
struct SectionSpec {
    module: String,
    read: super::ApiRead,
    namespace: String,
    selector: String,
    interval: Duration,
}

impl SectionSpec {
    fn of(fleet: &FleetConfig, section: Section) -> Option<SectionSpec> {
        match section {
            Section::Mesh => {
                let m = fleet.mesh.as_ref()?;
                Some(SectionSpec {
                    module: m.module.clone(),
                    read: READ_PODS,
                    namespace: m.namespace.clone(),
                    selector: m.selector.clone(),
                    interval: m.interval().ok()?,
                })
            }
            Section::ClusterDns => {
                let d = fleet.cluster_dns.as_ref()?;
                Some(SectionSpec {
                    module: d.module.clone(),
                    read: READ_ENDPOINTSLICES,
                    namespace: d.namespace.clone(),
                    selector: format!("kubernetes.io/service-name={}", d.service),
                    interval: d.interval().ok()?,
                })
            }
        }
    }

    fn request(&self) -> ListRequest<'_> {
        ListRequest {
            plural: self.read.resource,
            group: self.read.group,
            namespace: &self.namespace,
            label_selector: &self.selector,
        }
    }
}

fn spawn(
    shared: &Arc<Shared>,
    generation: u64,
    section: Section,
    source: LiveSource,
    plan: impl Fn(&[serde_json::Value]) -> (usize, Vec<Planned>) + Send + 'static,
) {
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let config = shared.config();
        let Some(spec) = config
            .fleet
            .as_ref()
            .and_then(|f| SectionSpec::of(f, section))
        else {
            return;
        };
        let interval = spec.interval;
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(100)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut planned: Vec<Planned> = Vec::new();
        let mut listed_count = 0;
        loop {
            ticker.tick().await;
            if shared.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            let listed = list(&spec, &source).await;
            let ok = listed.is_ok();
            match listed {
                Ok(items) => (listed_count, planned) = plan(&items),
                Err(e) => eprintln!("netdiag serve: fleet: {e}"),
            }
            let module = spec.module.clone();
            let mut set = tokio::task::JoinSet::new();
            for p in planned.clone() {
                let (shared, module) = (Arc::clone(&shared), module.clone());
                set.spawn(async move {
                    let registry =
                        crate::offpath::probe(&shared, &p.target, &module, interval).await;
                    (p.labels, registry)
                });
            }
            let mut results = Vec::new();
            while let Some(done) = set.join_next().await {
                if let Ok(r) = done {
                    results.push(r);
                }
            }
            if shared.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            let mut state = lock(&shared);
            state.results.retain(|(s, _), _| *s != section);
            for (labels, registry) in results {
                state.results.insert((section, labels), registry);
            }
            state.lists.insert(
                section,
                ListStatus {
                    ok,
                    listed: listed_count,
                    probed: planned.len(),
                },
            );
        }
    });
}

async fn list(spec: &SectionSpec, source: &LiveSource) -> Result<Vec<serde_json::Value>, String> {
    let (spec, source) = (spec.clone(), source.clone());
    let deadline = spec.interval.min(LIST_DEADLINE);
    tokio::task::spawn_blocking(move || {
        list_items(&source, &spec.request(), deadline).map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| "the listing stopped".to_string())?
}

/// The mesh's probes: the K ring peers of `me` among the listed members.
/// Returns how many members were listed, and the probes.
pub fn plan_mesh(
    me: &str,
    mesh: &MeshConfig,
    kind: Option<ProberKind>,
    pods: &[serde_json::Value],
) -> (usize, Vec<Planned>) {
    let members = members_from_pods(pods);
    let planned = peers(me, &members, mesh.peers)
        .into_iter()
        .map(|peer| Planned {
            labels: vec![
                ("module".into(), mesh.module.clone()),
                ("peer_node".into(), peer.node.clone()),
                ("target".into(), "mesh".into()),
            ],
            target: peer_target(kind, peer.ip, mesh.port),
        })
        .collect();
    (members.len(), planned)
}

/// The cluster DNS probes: every ready endpoint of the Service. Returns how many endpoints
/// were listed, and the probes.
pub fn plan_cluster_dns(
    dns: &ClusterDnsConfig,
    slices: &[serde_json::Value],
) -> (usize, Vec<Planned>) {
    let planned: Vec<Planned> = dns_endpoints(slices)
        .into_iter()
        .map(|endpoint| Planned {
            labels: vec![
                ("dns_endpoint".into(), endpoint.name),
                ("module".into(), dns.module.clone()),
                ("target".into(), dns.service_label()),
            ],
            target: SocketAddr::new(endpoint.ip, dns.port).to_string(),
        })
        .collect();
    (planned.len(), planned)
}

/// What a peer's address becomes for a module: a URL of the peer's health endpoint for http and
/// netdiag modules, `ip:port` for the others.
pub fn peer_target(kind: Option<ProberKind>, ip: IpAddr, port: u16) -> String {
    let addr = SocketAddr::new(ip, port);
    match kind {
        Some(ProberKind::Http | ProberKind::Netdiag) => format!("http://{addr}/-/healthy"),
        Some(ProberKind::Icmp) => ip.to_string(),
        _ => addr.to_string(),
    }
}

/// Adds the fleet series to `out`.
pub fn encode_into(shared: &Shared, out: &mut Registry) {
    let node = shared.options.node.clone().unwrap_or_default();
    let state = lock(shared);
    for ((_, labels), registry) in &state.results {
        let mut extra: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if !node.is_empty() {
            extra.push(("node", &node));
        }
        crate::offpath::add_labelled(out, registry, &extra);
    }
    for (section, status) in &state.lists {
        let mut labels = vec![("list", section.list_label())];
        if !node.is_empty() {
            labels.push(("node", &node));
        }
        let series = [
            (
                "netdiag_fleet_list_success",
                "Whether the member's last listing from the API server answered",
                if status.ok { 1.0 } else { 0.0 },
            ),
            (
                "netdiag_fleet_listed",
                "Members or endpoints the last good listing gave",
                status.listed as f64,
            ),
            (
                "netdiag_fleet_probed",
                "Peers or endpoints probed each interval",
                status.probed as f64,
            ),
        ];
        for (name, help, value) in series {
            out.set(name, help, Kind::Gauge, &labels, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mesh() -> MeshConfig {
        MeshConfig {
            module: "peer".into(),
            namespace: "netdiag".into(),
            selector: "app.kubernetes.io/name=netdiag".into(),
            port: 9115,
            peers: 2,
            interval: "30s".into(),
        }
    }

    #[test]
    fn mesh_probes_k_peers_by_pod_ip_labelled_by_node_only() {
        let pods: Vec<serde_json::Value> = (1..=4)
            .map(|i| {
                json!({"metadata": {"name": format!("netdiag-{i}")}, "spec": {"nodeName": format!("node-{i}")},
                       "status": {"phase": "Running", "podIP": format!("10.0.{i}.7")}})
            })
            .collect();
        let (listed, planned) = plan_mesh("node-1", &mesh(), Some(ProberKind::Http), &pods);
        assert_eq!(listed, 4);
        assert_eq!(planned.len(), 2);
        for p in &planned {
            assert!(p.target.starts_with("http://10.0.") && p.target.ends_with(":9115/-/healthy"));
            assert!(
                p.labels.iter().all(|(_, v)| !v.contains("10.0.")),
                "{:?}",
                p.labels
            );
            assert!(p
                .labels
                .iter()
                .any(|(k, v)| k == "peer_node" && v != "node-1"));
        }
        assert_eq!(
            peer_target(Some(ProberKind::Tcp), "fd00::1".parse().unwrap(), 9115),
            "[fd00::1]:9115"
        );
    }

    #[test]
    fn cluster_dns_probes_each_endpoint_directly() {
        let dns = ClusterDnsConfig {
            module: "cdns".into(),
            namespace: "kube-system".into(),
            service: "kube-dns".into(),
            port: 53,
            interval: "30s".into(),
        };
        let slices = [json!({"endpoints": [
            {"addresses": ["10.244.0.3"], "targetRef": {"name": "coredns-a"}},
            {"addresses": ["10.244.1.4"], "targetRef": {"name": "coredns-b"}}
        ]})];
        let (_, planned) = plan_cluster_dns(&dns, &slices);
        assert_eq!(
            planned
                .iter()
                .map(|p| p.target.as_str())
                .collect::<Vec<_>>(),
            ["10.244.0.3:53", "10.244.1.4:53"]
        );
        assert!(planned[0]
            .labels
            .contains(&("target".to_string(), "kube-system/kube-dns".to_string())));
    }
}
