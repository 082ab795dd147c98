//! The Service path: `service:ns/name` + port -> the pod IPs and target port kube-proxy forwards
//! to, or the reason it forwards nowhere. NetworkPolicy then applies to each backend pod at the
//! target port (policies never see the Service's port or ClusterIP).
//!
//! Model: a selector Service forwards to pods in its namespace whose labels include the selector,
//! that have an IP and are Ready (or all of them with `publishNotReadyAddresses`); a pod without
//! any status conditions (hand-written manifests) counts as ready. A selector-less Service forwards
//! to the addresses of the EndpointSlices labelled `kubernetes.io/service-name`.

use crate::load::Cluster;
use crate::model::{IntOrString, Labels, Pod, Service, ServicePort};
use crate::policy::{pod_ips, protocol_of, resolve_named_port};
use netdiag_core::Cause;
use std::net::IpAddr;

/// Why a Service forwards nowhere (a contract §2 cause with its explanation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFailure {
    /// The cause (`svc_*`).
    pub cause: Cause,
    /// One sentence: what is wrong, with the evidence.
    pub summary: String,
    /// What to do.
    pub fix: String,
    /// `ip:port` where kube-proxy still sends the traffic, when it sends it somewhere (a
    /// targetPort mismatch forwards to a port nothing declares); empty when it forwards nowhere.
    pub forwarded_to: Vec<String>,
}

/// Where a Service forwards a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarding<'a> {
    /// Backend pods (selector Services, or EndpointSlice addresses that are pods) with the port.
    pub backends: Vec<(&'a Pod, u16)>,
    /// EndpointSlice addresses that are no pod's, with the port.
    pub external: Vec<(std::net::IpAddr, u16)>,
    /// `ip:port` of every backend, as kube-proxy would program it.
    pub forwarded_to: Vec<String>,
    /// How the Service was read (headless, terminating fallback...).
    pub notes: Vec<String>,
}

/// Succeeded/Failed pods are never endpoints (the EndpointSlice controller skips them).
fn is_terminal(p: &Pod) -> bool {
    matches!(p.status.phase.as_deref(), Some("Succeeded" | "Failed"))
}

/// The pod's Ready condition (EndpointSlice `serving`); a pod without conditions counts as ready.
fn is_serving(p: &Pod) -> bool {
    let c = &p.status.conditions;
    c.is_empty() || c.iter().any(|c| c.kind == "Ready" && c.status == "True")
}

/// Ready, and not being deleted (the controller marks a terminating pod `ready: false`).
fn is_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none() && is_serving(p)
}

/// The address families kube-proxy programs for the Service: `spec.ipFamilies`, else the family
/// of `clusterIP`; `None` when the manifests do not say (every address is kept).
fn families(svc: &Service) -> Option<(bool, bool)> {
    let f = &svc.spec.ip_families;
    if !f.is_empty() {
        return Some((f.iter().any(|x| x == "IPv4"), f.iter().any(|x| x == "IPv6")));
    }
    let ip: IpAddr = svc.spec.cluster_ip.as_deref()?.parse().ok()?;
    Some((ip.is_ipv4(), ip.is_ipv6()))
}

fn family_ok(f: Option<(bool, bool)>, ip: &IpAddr) -> bool {
    f.is_none_or(|(v4, v6)| if ip.is_ipv4() { v4 } else { v6 })
}

/// Service and EndpointSlice port names: unset and `""` are the same (kubectl prints `name: ""`).
fn port_name(n: &Option<String>) -> &str {
    n.as_deref().unwrap_or("")
}

fn ip_port(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Finds the Service port the client uses; `Err` is bad input (no such port at all).
fn service_port<'s>(
    svc: &'s Service,
    port: &str,
    protocol: &str,
) -> Result<Result<&'s ServicePort, ServiceFailure>, String> {
    let by_port = |sp: &&ServicePort| match port.parse::<u16>() {
        Ok(n) => sp.port == n,
        Err(_) => sp.name.as_deref() == Some(port),
    };
    if let Some(sp) = svc
        .spec
        .ports
        .iter()
        .filter(by_port)
        .find(|sp| protocol_of(&sp.protocol) == protocol)
    {
        return Ok(Ok(sp));
    }
    let id = format!("{}/{}", svc.metadata.ns(), svc.metadata.name);
    if let Some(sp) = svc.spec.ports.iter().find(by_port) {
        return Ok(Err(ServiceFailure {
            cause: Cause::SvcWrongProtocol,
            summary: format!(
                "service {id} exposes port {} as {}, not {protocol}",
                sp.port,
                protocol_of(&sp.protocol)
            ),
            fix: format!(
                "connect with {} or add a {protocol} port to the Service",
                protocol_of(&sp.protocol)
            ),
            forwarded_to: Vec::new(),
        }));
    }
    let have: Vec<String> = svc
        .spec
        .ports
        .iter()
        .map(|p| format!("{}/{}", p.port, protocol_of(&p.protocol)))
        .collect();
    Err(format!(
        "service {id} has no port {port:?} (it exposes: {})",
        if have.is_empty() {
            "none".into()
        } else {
            have.join(", ")
        }
    ))
}

fn nearest_pods(c: &Cluster, svc: &Service, selector: &Labels) -> String {
    // Nearest: most selector pairs matched, then most selector keys present, then the longest
    // common prefix of the values (app=db vs app=database), then the Service's own namespace.
    let score = |p: &Pod| {
        let l = &p.metadata.labels;
        let pairs = selector
            .iter()
            .filter(|(k, v)| l.get(*k) == Some(*v))
            .count();
        let keys = selector.keys().filter(|k| l.contains_key(*k)).count();
        let prefix: usize = selector
            .iter()
            .filter_map(|(k, v)| {
                l.get(k)
                    .map(|h| h.chars().zip(v.chars()).take_while(|(a, b)| a == b).count())
            })
            .sum();
        (pairs, keys, prefix, p.metadata.ns() == svc.metadata.ns())
    };
    let mut ranked: Vec<&Pod> = c.pods.iter().filter(|p| score(p).1 > 0).collect();
    ranked.sort_by_key(|p| std::cmp::Reverse(score(p)));
    let near: Vec<String> = ranked
        .into_iter()
        .take(3)
        .map(|p| {
            let diff: Vec<String> = selector
                .iter()
                .filter(|(k, v)| p.metadata.labels.get(*k) != Some(*v))
                .map(|(k, v)| match p.metadata.labels.get(k) {
                    Some(have) => format!("{k}={have} (selector wants {v})"),
                    None => format!("no label {k} (selector wants {v})"),
                })
                .collect();
            let other_ns = if p.metadata.ns() != svc.metadata.ns() {
                " (in another namespace: a Service only selects pods in its own)"
            } else {
                ""
            };
            format!(
                "{}/{}: {}{other_ns}",
                p.metadata.ns(),
                p.metadata.name,
                diff.join(", ")
            )
        })
        .collect();
    if near.is_empty() {
        "no pod carries any of the selector's labels".into()
    } else {
        format!("nearest pods: {}", near.join("; "))
    }
}

/// The Service port a selector-less Service is asked about, as its EndpointSlices name it.
struct SlicePort<'n> {
    /// The Service port's name (`""` when unnamed); `None` for a headless number.
    name: Option<&'n str>,
    /// A headless Service's port, used as is.
    direct: Option<u16>,
    /// The Service port's number (for the failure's text).
    number: u16,
    /// TCP, UDP or SCTP.
    protocol: &'n str,
}

/// Where a Service without a selector forwards: the addresses of its EndpointSlices.
fn slice_forwarding<'a>(
    c: &'a Cluster,
    svc: &Service,
    wanted: &SlicePort<'_>,
    notes: Vec<String>,
) -> Result<Forwarding<'a>, ServiceFailure> {
    let (ns, name) = (svc.metadata.ns(), svc.metadata.name.as_str());
    let id = format!("{ns}/{name}");
    let fams = families(svc);
    let mut fw = Forwarding {
        backends: Vec::new(),
        external: Vec::new(),
        forwarded_to: Vec::new(),
        notes,
    };
    // kube-proxy uses the ready endpoints (`ready: null` counts as ready); when there are
    // none, the serving and terminating ones. publishNotReadyAddresses is read by the
    // EndpointSlice controller, not by kube-proxy, so it does not apply to hand-made slices.
    let mut ready: Vec<(&str, u16)> = Vec::new();
    let mut terminating: Vec<(&str, u16)> = Vec::new();
    for es in c.endpoint_slices.iter().filter(|e| {
        e.metadata.ns() == ns
            && e.metadata
                .labels
                .get("kubernetes.io/service-name")
                .map(String::as_str)
                == Some(name)
    }) {
        let p = match (wanted.name, wanted.direct) {
            (_, Some(n)) => Some(n),
            (Some(name), None) => es
                .ports
                .iter()
                .find(|p| port_name(&p.name) == name && protocol_of(&p.protocol) == wanted.protocol)
                .and_then(|p| p.port),
            (None, None) => None,
        };
        let Some(p) = p else {
            continue;
        };
        for ep in &es.endpoints {
            let k = &ep.conditions;
            let list = if k.ready != Some(false) {
                &mut ready
            } else if k.serving != Some(false) && k.terminating == Some(true) {
                &mut terminating
            } else {
                continue;
            };
            list.extend(ep.addresses.iter().map(|a| (a.as_str(), p)));
        }
    }
    if ready.is_empty() && !terminating.is_empty() {
        fw.notes.push(format!(
            "service {id} has no ready endpoint: kube-proxy falls back to the serving, terminating ones"
        ));
        ready = terminating;
    }
    for (a, p) in ready {
        // Only IP addresses are programmed (kube-proxy ignores FQDN slices).
        let Ok(ip) = a.parse::<IpAddr>() else {
            continue;
        };
        if !family_ok(fams, &ip) {
            continue;
        }
        fw.forwarded_to.push(ip_port(a, p));
        match c
            .pods
            .iter()
            .filter(|pod| pod_ips(pod).contains(&ip))
            .min_by_key(|pod| (is_terminal(pod), pod.spec.host_network))
        {
            Some(pod) => fw.backends.push((pod, p)),
            None => fw.external.push((ip, p)),
        }
    }
    if fw.forwarded_to.is_empty() {
        return Err(ServiceFailure {
            cause: Cause::SvcNoEndpointsSelectorMismatch,
            summary: format!("service {id} has no selector and no ready EndpointSlice address for port {}", wanted.number),
            fix: format!("create an EndpointSlice labelled kubernetes.io/service-name={name} in {ns}, or give the Service a selector"),
            forwarded_to: Vec::new(),
        });
    }
    Ok(fw)
}

/// The pods a selector Service forwards to: the ready ones (or all, with
/// publishNotReadyAddresses), else the serving, terminating ones; a [`ServiceFailure`] when the
/// selector matches no pod or none can take traffic.
fn ready_pods<'a>(
    c: &'a Cluster,
    svc: &Service,
    selector: &Labels,
    notes: &mut Vec<String>,
) -> Result<Vec<&'a Pod>, ServiceFailure> {
    let ns = svc.metadata.ns();
    let id = format!("{ns}/{}", svc.metadata.name);
    let fams = families(svc);
    let ips_of = |p: &Pod| -> Vec<IpAddr> {
        pod_ips(p)
            .into_iter()
            .filter(|ip| family_ok(fams, ip))
            .collect()
    };
    let selected: Vec<&Pod> = c
        .pods
        .iter()
        .filter(|p| {
            p.metadata.ns() == ns
                && selector
                    .iter()
                    .all(|(k, v)| p.metadata.labels.get(k) == Some(v))
        })
        .collect();
    if selected.is_empty() {
        let sel: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        return Err(ServiceFailure {
            cause: Cause::SvcNoEndpointsSelectorMismatch,
            summary: format!(
                "service {id} selects {} but no pod in {ns} has those labels; {}",
                sel.join(","),
                nearest_pods(c, svc, selector)
            ),
            fix: "make the Service's selector match the pods' labels, or label the pods as the selector says"
                .into(),
            forwarded_to: Vec::new(),
        });
    }
    let usable: Vec<&Pod> = selected
        .iter()
        .copied()
        .filter(|p| !is_terminal(p) && !ips_of(p).is_empty())
        .collect();
    let mut ready: Vec<&Pod> = usable
        .iter()
        .copied()
        .filter(|p| svc.spec.publish_not_ready_addresses || is_ready(p))
        .collect();
    if ready.is_empty() {
        // KEP-1669: with no ready endpoint, kube-proxy uses the serving, terminating ones.
        ready = usable
            .iter()
            .copied()
            .filter(|p| p.metadata.deletion_timestamp.is_some() && is_serving(p))
            .collect();
        if !ready.is_empty() {
            notes.push(format!(
                "service {id} has no ready endpoint: kube-proxy falls back to the serving, terminating pods"
            ));
        }
    }
    if ready.is_empty() {
        let names: Vec<String> = selected
            .iter()
            .map(|p| format!("{}/{}", p.metadata.ns(), p.metadata.name))
            .collect();
        return Err(ServiceFailure {
            cause: Cause::SvcPodsNotReady,
            summary: format!("service {id} selects {} but none is Ready with an IP, so it has no endpoints", names.join(", ")),
            fix: "look at the pods' readiness probes (kubectl describe pod); publishNotReadyAddresses: true forwards to unready pods".into(),
            forwarded_to: Vec::new(),
        });
    }
    Ok(ready)
}

/// Resolves `ns/name` and the client's port. `Err` is bad input (no such Service or port).
pub fn resolve<'a>(
    c: &'a Cluster,
    ns_name: &str,
    port: &str,
    protocol: &str,
) -> Result<Result<Forwarding<'a>, ServiceFailure>, String> {
    let (ns, name) = ns_name
        .split_once('/')
        .ok_or_else(|| format!("service:{ns_name}: expected service:namespace/name"))?;
    let svc = c
        .services
        .iter()
        .find(|s| s.metadata.ns() == ns && s.metadata.name == name)
        .ok_or_else(|| format!("service {ns}/{name} is not in the manifests"))?;
    let id = format!("{ns}/{name}");
    if svc.spec.kind.as_deref() == Some("ExternalName") {
        return Ok(Err(ServiceFailure {
            cause: Cause::SvcExternalnameMisread,
            summary: format!(
                "service {id} is type ExternalName: its DNS name is a CNAME to {}, nothing proxies or forwards ports",
                svc.spec.external_name.as_deref().unwrap_or("(empty)")
            ),
            fix: "connect to the external name's own port, or use a ClusterIP Service with a selector or EndpointSlices".into(),
            forwarded_to: Vec::new(),
        }));
    }
    let headless = svc.spec.cluster_ip.as_deref() == Some("None");
    let mut notes = Vec::new();
    // A headless Service is not proxied: DNS answers with the endpoints' addresses and the client
    // connects to them on the port it uses, with no translation to targetPort. (A port name is
    // still read through the Service's port, as its SRV record is.)
    let direct = match port.parse::<u16>() {
        Ok(n) if headless => Some(n),
        _ => None,
    };
    let (sp_name, sp_port, target) = match direct {
        Some(n) => {
            notes.push(format!(
                "service {id} is headless (clusterIP: None): nothing proxies it; DNS returns the pod addresses and the client connects to them on port {n} directly"
            ));
            (None, n, IntOrString::Int(i64::from(n)))
        }
        None => {
            let sp = match service_port(svc, port, protocol)? {
                Ok(sp) => sp,
                Err(f) => return Ok(Err(f)),
            };
            if headless {
                notes.push(format!(
                    "service {id} is headless (clusterIP: None): nothing proxies it; DNS returns the pod addresses"
                ));
            }
            (
                Some(port_name(&sp.name).to_string()),
                sp.port,
                sp.target_port
                    .clone()
                    .unwrap_or(IntOrString::Int(i64::from(sp.port))),
            )
        }
    };
    let fams = families(svc);
    let ips_of = |p: &Pod| -> Vec<IpAddr> {
        pod_ips(p)
            .into_iter()
            .filter(|ip| family_ok(fams, ip))
            .collect()
    };
    let selector = svc.spec.selector.clone().unwrap_or_default();
    if selector.is_empty() {
        let wanted = SlicePort {
            name: sp_name.as_deref(),
            direct,
            number: sp_port,
            protocol,
        };
        return Ok(slice_forwarding(c, svc, &wanted, notes));
    }
    let ready = match ready_pods(c, svc, &selector, &mut notes) {
        Ok(ready) => ready,
        Err(f) => return Ok(Err(f)),
    };
    let mut fw = Forwarding {
        backends: Vec::new(),
        external: Vec::new(),
        forwarded_to: Vec::new(),
        notes,
    };
    let mut missing = Vec::new();
    for p in ready {
        let port = match &target {
            IntOrString::Int(n) => u16::try_from(*n).ok(),
            IntOrString::Str(s) => resolve_named_port(p, s, protocol),
        };
        match port {
            Some(port) => {
                for ip in ips_of(p) {
                    fw.forwarded_to.push(ip_port(&ip.to_string(), port));
                }
                fw.backends.push((p, port));
            }
            None => missing.push(format!("{}/{}", p.metadata.ns(), p.metadata.name)),
        }
    }
    if fw.backends.is_empty() {
        return Ok(Err(ServiceFailure {
            cause: Cause::SvcNamedTargetportMissing,
            summary: format!(
                "service {id} targets port {}/{protocol}, which no container of {} declares by that name and protocol",
                match &target {
                    IntOrString::Int(n) => n.to_string(),
                    IntOrString::Str(s) => format!("{s:?}"),
                },
                missing.join(", ")
            ),
            fix: "name the container port as the Service's targetPort (same protocol), or use the number".into(),
            forwarded_to: Vec::new(),
        }));
    }
    if let (IntOrString::Int(n), None) = (&target, direct) {
        let declared = fw.backends.iter().any(|(p, port)| {
            p.spec
                .containers
                .iter()
                .chain(p.spec.init_containers.iter().filter(|c| c.is_sidecar()))
                .flat_map(|c| &c.ports)
                .any(|cp| cp.container_port == *port && protocol_of(&cp.protocol) == protocol)
        });
        let any_declared = fw.backends.iter().any(|(p, _)| {
            p.spec
                .containers
                .iter()
                .chain(p.spec.init_containers.iter().filter(|c| c.is_sidecar()))
                .any(|c| !c.ports.is_empty())
        });
        if !declared && any_declared {
            return Ok(Err(ServiceFailure {
                cause: Cause::SvcTargetportMismatch,
                summary: format!(
                    "service {id} forwards to targetPort {n}/{protocol} ({}), which no container of its pods declares: kube-proxy sends the traffic there and nothing declared listens",
                    fw.forwarded_to.join(", ")
                ),
                fix: "set targetPort to the port the container listens on".into(),
                forwarded_to: fw.forwarded_to.clone(),
            }));
        }
    }
    Ok(Ok(fw))
}
