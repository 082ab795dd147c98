//! A fleet member against a fake API server that serves recorded answers
//! (`tests/fixtures/fleet/`, a 12-node cluster's netdiag pods and kube-dns EndpointSlice, its
//! addresses replaced by loopback ones): `netdiag serve --fleet.node node-01` lists its members,
//! walks the ring to its K=3 peers, probes each pod IP to pod IP, probes every ready CoreDNS
//! endpoint directly, and exports it all with `node`/`peer_node`/`dns_endpoint` labels and no
//! address. The API server sees only `GET` lists of exactly what the ClusterRole grants; a 403 on
//! the endpoints shows as `netdiag_fleet_list_success{list="endpointslices"} 0` while the mesh
//! keeps running.
//!
//! Every probe goes to 127.0.1.x / 127.0.2.x on this machine; every server stops on drop.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record};
use netdiag_serve::fleet::members::members_from_pods;
use netdiag_serve::fleet::ring::peers;
use netdiag_serve::fleet::API_READS;
use netdiag_testnet::{api_status, ApiRoutes, FakeApiServer};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{Exporter, Sample, TempDir};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fleet");
const TOKEN: &str = "fleet-member-token-9d2c41";
const ME: &str = "node-01";
const K: usize = 3;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap()
}

fn decode(query: &str) -> String {
    let mut out = Vec::new();
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&query[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn api(forbid_endpointslices: bool) -> FakeApiServer {
    let routes: ApiRoutes = Arc::new(move |path: &str, query: &str| {
        let query = decode(query);
        match path {
            "/api/v1/namespaces/netdiag/pods"
                if query.contains("labelSelector=app.kubernetes.io/name=netdiag") =>
            {
                (200, fixture("pods.json"))
            }
            "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices"
                if forbid_endpointslices =>
            {
                api_status(403, "Forbidden", "endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:netdiag:netdiag\" cannot list resource \"endpointslices\" in API group \"discovery.k8s.io\" in the namespace \"kube-system\"")
            }
            "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices"
                if query.contains("labelSelector=kubernetes.io/service-name=kube-dns") =>
            {
                (200, fixture("endpointslices.json"))
            }
            _ => api_status(404, "NotFound", "not found"),
        }
    });
    FakeApiServer::start(TOKEN, routes, None).unwrap()
}

/// Answers every A question with 10.96.0.1 on `addr` (UDP) until dropped.
struct DnsResponder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsResponder {
    fn start(addr: &str) -> DnsResponder {
        let sock = UdpSocket::bind(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut buf = [0u8; 1500];
            while !halt.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(90) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut answer = Message::new(
                    query.metadata.id,
                    MessageType::Response,
                    query.metadata.op_code,
                );
                answer.metadata.recursion_desired = query.metadata.recursion_desired;
                answer.metadata.recursion_available = true;
                for q in &query.queries {
                    answer.add_query(q.clone());
                    answer.add_answer(Record::from_rdata(
                        q.name().clone(),
                        30,
                        RData::A(A("10.96.0.1".parse().unwrap())),
                    ));
                }
                if let Ok(bytes) = answer.to_vec() {
                    let _ = sock.send_to(&bytes, from);
                }
            }
        });
        DnsResponder {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A port free on 127.0.0.1 (and, in practice, on the other loopback addresses).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn member_config(dir: &TempDir, api_port: u16, peer_port: u16, dns_port: u16) -> String {
    let kubeconfig = dir.write(
        "kubeconfig",
        &format!(
            "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://127.0.0.1:{api_port}
users:
- name: member
  user:
    token: {TOKEN}
contexts:
- name: fake
  context: {{cluster: fake, user: member}}
current-context: fake
"
        ),
    );
    format!(
        "modules:
  peer:
    prober: tcp
    timeout: 2s
  cluster_dns:
    prober: dns
    timeout: 2s
    dns:
      query_name: kubernetes.default.svc.cluster.local
      query_type: A
      transport_protocol: udp
      preferred_ip_protocol: ip4
fleet:
  kubeconfig: {}
  mesh:
    module: peer
    namespace: netdiag
    selector: app.kubernetes.io/name=netdiag
    port: {peer_port}
    peers: {K}
    interval: 1s
  cluster_dns:
    module: cluster_dns
    port: {dns_port}
    interval: 1s
",
        kubeconfig.display()
    )
}

fn metrics(member: &support::RunningExporter) -> Vec<Sample> {
    let r = support::get(member.addr, "/metrics").unwrap();
    assert_eq!(r.status, 200);
    support::parse_exposition(&r.body).unwrap()
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
        .map(|s| s.value)
}

#[test]
fn a_member_probes_its_ring_peers_and_every_dns_endpoint() {
    // The ring's choice on the recorded members, computed by the library itself.
    let pods: serde_json::Value = serde_json::from_str(&fixture("pods.json")).unwrap();
    let members = members_from_pods(pods["items"].as_array().unwrap());
    assert_eq!(
        members.len(),
        9,
        "node-10..12 are Pending, unready, terminating"
    );
    let chosen: Vec<String> = peers(ME, &members, K)
        .iter()
        .map(|m| m.node.clone())
        .collect();
    assert_eq!(chosen.len(), K);
    let ip_of = |node: &str| members.iter().find(|m| m.node == node).unwrap().ip;

    // The first two chosen peers listen, the third does not (refused).
    let peer_port = free_port();
    let _up: Vec<TcpListener> = chosen[..2]
        .iter()
        .map(|n| TcpListener::bind((ip_of(n), peer_port)).unwrap())
        .collect();
    let dns_port = free_port();
    let _dns = DnsResponder::start(&format!("127.0.2.1:{dns_port}"));

    let server = api(false);
    let dir = TempDir::new("fleet-mesh");
    let config = member_config(&dir, server.port(), peer_port, dns_port);
    let member = Exporter::netdiag().start_with(&config, &dir, &["--fleet.node", ME]);

    let samples = support::wait_for(Duration::from_secs(20), || {
        let s = metrics(&member);
        let mesh = s
            .iter()
            .filter(|x| x.name == "probe_success" && x.label("target") == Some("mesh"))
            .count();
        let dns = s
            .iter()
            .filter(|x| x.name == "probe_success" && x.label("dns_endpoint").is_some())
            .count();
        (mesh == K && dns == 2).then_some(s)
    })
    .unwrap_or_else(|| panic!("no mesh and DNS series\n{}", member.log_tail()));

    for (i, peer) in chosen.iter().enumerate() {
        let labels = [
            ("node", ME),
            ("peer_node", peer.as_str()),
            ("module", "peer"),
        ];
        let want = if i < 2 { 1.0 } else { 0.0 };
        assert_eq!(
            value(&samples, "probe_success", &labels),
            Some(want),
            "{peer}"
        );
    }
    let down = [("peer_node", chosen[2].as_str()), ("target", "mesh")];
    let cause = samples
        .iter()
        .find(|s| s.name == "probe_failure_info" && down.iter().all(|(k, v)| s.label(k) == Some(v)))
        .unwrap_or_else(|| panic!("no probe_failure_info for the down peer: {samples:?}"));
    assert_eq!(
        (cause.label("layer"), cause.label("cause")),
        (Some("tcp"), Some("tcp_refused"))
    );

    let dns = |endpoint: &str| {
        value(
            &samples,
            "probe_success",
            &[
                ("dns_endpoint", endpoint),
                ("target", "kube-system/kube-dns"),
                ("node", ME),
            ],
        )
    };
    assert_eq!(dns("coredns-5d78c9869d-4bq7x"), Some(1.0));
    assert_eq!(dns("coredns-5d78c9869d-mz8lr"), Some(0.0));
    assert_eq!(
        dns("coredns-5d78c9869d-zz9k1"),
        None,
        "not ready: not probed"
    );

    for list in ["pods", "endpointslices"] {
        assert_eq!(
            value(&samples, "netdiag_fleet_list_success", &[("list", list)]),
            Some(1.0)
        );
    }
    assert_eq!(
        value(&samples, "netdiag_fleet_listed", &[("list", "pods")]),
        Some(9.0)
    );
    assert_eq!(
        value(&samples, "netdiag_fleet_probed", &[("list", "pods")]),
        Some(K as f64)
    );

    // No label carries an address: the series count stays bounded by the fleet, not its churn.
    for s in &samples {
        for (k, v) in &s.labels {
            assert!(
                !v.starts_with("127.") && !v.contains(&format!(":{peer_port}")),
                "{} has an address in {k}={v}",
                s.name
            );
        }
    }

    // What the member asked of the API server: only GET lists, only what API_READS grants.
    let requests = server.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert!(r.starts_with("GET "), "{r}");
        let path = r.split(' ').nth(1).unwrap().split('?').next().unwrap();
        let granted = API_READS.iter().any(|read| {
            let prefix = if read.group.is_empty() {
                "/api/v1/namespaces/".to_string()
            } else {
                format!("/apis/{}/v1/namespaces/", read.group)
            };
            path.starts_with(&prefix) && path.ends_with(&format!("/{}", read.resource))
        });
        assert!(granted, "{r} is not covered by API_READS");
    }
}

#[test]
fn a_forbidden_listing_is_a_series_not_a_blind_member() {
    let server = api(true);
    let dir = TempDir::new("fleet-forbidden");
    let config = member_config(&dir, server.port(), free_port(), free_port());
    let member = Exporter::netdiag().start_with(&config, &dir, &["--fleet.node", ME]);
    let samples = support::wait_for(Duration::from_secs(20), || {
        let s = metrics(&member);
        let listed = value(
            &s,
            "netdiag_fleet_list_success",
            &[("list", "endpointslices")],
        );
        let mesh = value(&s, "netdiag_fleet_list_success", &[("list", "pods")]);
        (listed.is_some() && mesh.is_some()).then_some(s)
    })
    .unwrap_or_else(|| panic!("no listing series\n{}", member.log_tail()));
    assert_eq!(
        value(
            &samples,
            "netdiag_fleet_list_success",
            &[("list", "endpointslices")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&samples, "netdiag_fleet_list_success", &[("list", "pods")]),
        Some(1.0)
    );
    let log = member.log_tail();
    assert!(
        log.contains("403") && log.contains("discovery.k8s.io/endpointslices"),
        "the log names the missing RBAC rule:\n{log}"
    );
}
