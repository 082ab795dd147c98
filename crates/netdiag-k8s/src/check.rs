//! `netdiag k8s check`: resolve SRC, DST and PORT against the manifests, evaluate the flow, build
//! the contract §2 verdict with its minimal fix, and render it as JSON, a table or Markdown
//! (through [`netdiag_core::render::Rendered`], the one renderer family).
//!
//! Bad input (an unknown pod, a port name no container declares) is a [`CheckError`]; a denied
//! flow is data in the [`CheckReport`], never an error.

use crate::fix::minimal_fix;
use crate::load::Cluster;
use crate::policy::{
    evaluate, partition, resolve_named_port, Endpoint, FlowPort, FlowResult, InvalidPolicy,
};
use netdiag_core::render::{md_cell, pretty_json, Rendered};
use netdiag_core::{Cause, K8sLayer};
use serde::Serialize;
use serde_json::json;
use std::net::IpAddr;

/// Report schema name.
pub const SCHEMA: &str = "netdiag.k8s.check/v1";

/// What to check, as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    /// `namespace/pod` or an IP.
    pub from: String,
    /// `namespace/pod`, `service:namespace/name` or an IP.
    pub to: String,
    /// A number, or a port name resolved on the destination pod.
    pub port: String,
    /// TCP, UDP or SCTP.
    pub protocol: String,
}

/// Input that cannot be checked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckError {
    /// SRC/DST is neither `namespace/pod` nor an IP.
    #[error("{0:?} is not namespace/pod or an IP address")]
    BadEndpoint(String),
    /// No such pod in the manifests.
    #[error("pod {0} is not in the manifests (is the Pod object, or its namespace, missing?)")]
    NoSuchPod(String),
    /// `service:` as the source.
    #[error("{0}: a Service can only be a destination; give the client pod as namespace/pod")]
    ServiceSource(String),
    /// No such Service, or no such Service port.
    #[error("{0}")]
    Service(String),
    /// A port that is neither a number nor a name declared on the destination.
    #[error("port {port:?}: {why}")]
    BadPort {
        /// The port as given.
        port: String,
        /// What is wrong.
        why: String,
    },
    /// Protocol other than TCP/UDP/SCTP.
    #[error("protocol {0:?}: use TCP, UDP or SCTP")]
    BadProtocol(String),
}

/// Which side's NetworkPolicy denies the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeniedBy {
    /// The destination's ingress.
    Ingress,
    /// The source's egress.
    Egress,
    /// Both.
    Both,
}

impl DeniedBy {
    /// The stable name (`ingress`, `egress`, `both`).
    pub fn name(self) -> &'static str {
        match self {
            DeniedBy::Ingress => "ingress",
            DeniedBy::Egress => "egress",
            DeniedBy::Both => "both",
        }
    }
}

/// Policies per direction.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PerDirection {
    /// Destination ingress.
    pub ingress: Vec<String>,
    /// Source egress.
    pub egress: Vec<String>,
}

/// The fix.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Fix {
    /// What to do.
    pub description: String,
    /// Complete NetworkPolicy objects to apply.
    pub manifests: Vec<serde_json::Value>,
}

/// The verdict, exactly the contract's fields plus `summary`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    /// `null`, `"service"` or `"networkpolicy"`.
    pub layer: Option<K8sLayer>,
    /// `ok`, a `svc_*` cause, `netpol_ingress_denied`, `netpol_egress_denied`,
    /// `netpol_both_denied`.
    pub cause: Cause,
    /// Whether the flow is allowed.
    pub allowed: bool,
    /// `null`, `ingress`, `egress` or `both`.
    pub denied_by: Option<DeniedBy>,
    /// One sentence a person can act on.
    pub summary: String,
    /// Isolating policies.
    pub isolating_policies: PerDirection,
    /// Allowing policies.
    pub allowing_policies: PerDirection,
    /// The minimal fix.
    pub fix: Fix,
    /// How to undo the fix.
    pub rollback: Vec<String>,
    /// For a Service destination: where kube-proxy sends the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_to: Option<Vec<String>>,
}

/// The whole `k8s check` report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckReport {
    /// `netdiag.k8s.check/v1`.
    pub schema: &'static str,
    /// The flow as resolved.
    pub flow: serde_json::Value,
    /// The verdict.
    pub verdict: Verdict,
    /// Policies the API server would reject; not used.
    pub invalid_policies: Vec<InvalidPolicy>,
    /// Model notes and exemptions (self, own node, host network), and loader notes.
    pub notes: Vec<String>,
}

impl CheckReport {
    /// Exit status: 0 allowed, 1 denied.
    pub fn exit_code(&self) -> i32 {
        if self.verdict.allowed {
            0
        } else {
            1
        }
    }
}

fn endpoint<'a>(c: &'a Cluster, s: &str) -> Result<Endpoint<'a>, CheckError> {
    if s.starts_with("service:") {
        return Err(CheckError::ServiceSource(s.to_string()));
    }
    if let Ok(ip) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        // An address that belongs to a pod is that pod; pod IPs are reused, so a running pod is
        // preferred over a Succeeded/Failed one whose status still lists the address, and a
        // pod-network pod over host-network pods (which all share their node's address).
        let rank = |p: &crate::model::Pod| {
            let terminal = matches!(p.status.phase.as_deref(), Some("Succeeded" | "Failed"));
            (terminal, p.spec.host_network)
        };
        return Ok(c
            .pods
            .iter()
            .filter(|p| crate::policy::pod_ips(p).contains(&ip))
            .min_by_key(|p| rank(p))
            .map_or(Endpoint::Ip(ip), Endpoint::Pod));
    }
    let Some((ns, name)) = s.split_once('/') else {
        return Err(CheckError::BadEndpoint(s.to_string()));
    };
    if ns.is_empty() || name.is_empty() || name.contains('/') {
        return Err(CheckError::BadEndpoint(s.to_string()));
    }
    c.pods
        .iter()
        .find(|p| p.metadata.ns() == ns && p.metadata.name == name)
        .map(Endpoint::Pod)
        .ok_or_else(|| CheckError::NoSuchPod(s.to_string()))
}

/// `ns/name` of the Service whose `clusterIP` is `to`, when `to` is an address no pod has.
fn cluster_ip_service(c: &Cluster, to: &str) -> Option<String> {
    let ip: IpAddr = to
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    if c.pods
        .iter()
        .any(|p| crate::policy::pod_ips(p).contains(&ip))
    {
        return None;
    }
    c.services
        .iter()
        .find(|s| {
            s.spec
                .cluster_ip
                .as_deref()
                .into_iter()
                .chain(s.spec.cluster_ips.iter().map(String::as_str))
                .any(|a| a.parse::<IpAddr>().ok() == Some(ip))
        })
        .map(|s| format!("{}/{}", s.metadata.ns(), s.metadata.name))
}

fn describe(e: &Endpoint<'_>) -> String {
    match e {
        Endpoint::Pod(p) => format!("{}/{}", p.metadata.ns(), p.metadata.name),
        Endpoint::Ip(ip) => ip.to_string(),
    }
}

/// A pod or address destination and its port (a number, or a name the destination pod declares).
fn direct_destination<'a>(
    c: &'a Cluster,
    req: &CheckRequest,
    protocol: &str,
) -> Result<(Endpoint<'a>, u16), CheckError> {
    let dst = endpoint(c, &req.to)?;
    let port = match req.port.parse::<u16>() {
        Ok(0) => {
            return Err(CheckError::BadPort {
                port: req.port.clone(),
                why: "must be 1-65535".into(),
            })
        }
        Ok(n) => n,
        Err(_) => match &dst {
            Endpoint::Pod(p) => {
                resolve_named_port(p, &req.port, protocol).ok_or_else(|| CheckError::BadPort {
                    port: req.port.clone(),
                    why: format!(
                        "no container of {} declares a {protocol} port with this name",
                        describe(&dst)
                    ),
                })?
            }
            Endpoint::Ip(_) => {
                return Err(CheckError::BadPort {
                    port: req.port.clone(),
                    why: "a port name needs a pod destination to resolve on".into(),
                })
            }
        },
    };
    Ok((dst, port))
}

/// The verdict's one sentence for a NetworkPolicy verdict.
fn summary_text(
    s: &str,
    d: &str,
    port: u16,
    protocol: &str,
    denied_by: Option<DeniedBy>,
    result: &FlowResult,
) -> String {
    match denied_by {
        None => format!("{s} -> {d} {port}/{protocol} is allowed by NetworkPolicy."),
        Some(dir) => {
            let which = match dir {
                DeniedBy::Ingress => format!(
                    "{d} is ingress-isolated by {} and no policy allows this flow",
                    result.ingress.isolating.join(", ")
                ),
                DeniedBy::Egress => format!(
                    "{s} is egress-isolated by {} and no policy allows this flow",
                    result.egress.isolating.join(", ")
                ),
                DeniedBy::Both => format!(
                    "{s} is egress-isolated by {} and {d} ingress-isolated by {}; neither side allows this flow",
                    result.egress.isolating.join(", "),
                    result.ingress.isolating.join(", ")
                ),
            };
            format!("{s} -> {d} {port}/{protocol} is denied: {which}.")
        }
    }
}

/// Runs the check.
pub fn check(c: &Cluster, req: &CheckRequest) -> Result<CheckReport, CheckError> {
    let protocol = req.protocol.to_ascii_uppercase();
    if !matches!(protocol.as_str(), "TCP" | "UDP" | "SCTP") {
        return Err(CheckError::BadProtocol(req.protocol.clone()));
    }
    let src = endpoint(c, &req.from)?;
    let (valid, invalid) = partition(c);
    let mut forwarded_to = None;
    let mut svc_notes: Vec<String> = Vec::new();
    let mut via = String::new();
    // A Service's ClusterIP is no pod's and no outside address: kube-proxy rewrites it to a
    // backend before NetworkPolicy sees the packet, so it is checked as that Service.
    let cluster_ip_svc = cluster_ip_service(c, &req.to);
    if let Some(svc) = &cluster_ip_svc {
        svc_notes.push(format!(
            "{} is the ClusterIP of service {svc}: NetworkPolicy sees the backend pod it is forwarded to, so the flow is checked as service:{svc}",
            req.to
        ));
    }
    let svc_target = cluster_ip_svc
        .as_deref()
        .or_else(|| req.to.strip_prefix("service:"));
    let (dst, port) = if let Some(svc) = svc_target {
        via = format!(" (via service:{svc})");
        match crate::service::resolve(c, svc, &req.port, &protocol).map_err(CheckError::Service)? {
            Err(f) => {
                let mut r = service_failure(c, &src, req, f, invalid);
                r.notes.extend(svc_notes);
                return Ok(r);
            }
            Ok(fw) => {
                forwarded_to = Some(fw.forwarded_to.clone());
                svc_notes.extend(fw.notes.iter().cloned());
                // kube-proxy may pick any backend: the flow works when one admits it; when none
                // does, the first backend is the one reported (and fixed).
                let flow_to = |port: u16| FlowPort {
                    port,
                    protocol: protocol.clone(),
                };
                let mut candidates: Vec<(Endpoint<'_>, u16)> = fw
                    .backends
                    .iter()
                    .map(|(p, port)| (Endpoint::Pod(p), *port))
                    .chain(
                        fw.external
                            .iter()
                            .map(|(ip, port)| (Endpoint::Ip(*ip), *port)),
                    )
                    .collect();
                if candidates.is_empty() {
                    return Err(CheckError::Service(format!(
                        "{}: no backend address to evaluate",
                        req.to
                    )));
                }
                let pick = candidates
                    .iter()
                    .position(|(d, port)| evaluate(c, &valid, &src, d, &flow_to(*port)).allowed())
                    .unwrap_or(0);
                candidates.swap_remove(pick)
            }
        }
    } else {
        direct_destination(c, req, &protocol)?
    };
    let flow = FlowPort {
        port,
        protocol: protocol.clone(),
    };
    let result = evaluate(c, &valid, &src, &dst, &flow);
    let (cause, denied_by) = match (result.egress.allowed, result.ingress.allowed) {
        (true, true) => (Cause::Ok, None),
        (true, false) => (Cause::NetpolIngressDenied, Some(DeniedBy::Ingress)),
        (false, true) => (Cause::NetpolEgressDenied, Some(DeniedBy::Egress)),
        (false, false) => (Cause::NetpolBothDenied, Some(DeniedBy::Both)),
    };
    let allowed = result.allowed();
    // The guard's refusal, when the fix would open access to everyone: no fix is printed and
    // the fix description says why.
    let (fixes, refused) = if allowed {
        (Vec::new(), None)
    } else {
        match minimal_fix(c, &src, &dst, &flow, &result) {
            Ok(fixes) => (fixes, None),
            Err(e) => (Vec::new(), Some(e)),
        }
    };
    let (s, d) = (describe(&src), format!("{}{via}", describe(&dst)));
    let summary = summary_text(&s, &d, port, &protocol, denied_by, &result);
    let description = if let Some(e) = &refused {
        format!("No NetworkPolicy fix is proposed: {e}.")
    } else if fixes.is_empty() {
        String::new()
    } else {
        format!(
            "Apply (kubectl apply -f) {} NetworkPolicy object(s) that allow only {s} -> {d} on {port}/{protocol}; they add no isolation.",
            fixes.len()
        )
    };
    let mut notes: Vec<String> = c.notes.clone();
    notes.extend(svc_notes);
    notes.extend(result.exemptions.iter().cloned());
    Ok(CheckReport {
        schema: SCHEMA,
        flow: json!({"from": s, "to": d, "port": port, "protocol": protocol}),
        verdict: Verdict {
            layer: (!allowed).then_some(K8sLayer::NetworkPolicy),
            cause,
            allowed,
            denied_by,
            summary,
            isolating_policies: PerDirection {
                ingress: result.ingress.isolating.clone(),
                egress: result.egress.isolating.clone(),
            },
            allowing_policies: PerDirection {
                ingress: result.ingress.allowing.clone(),
                egress: result.egress.allowing.clone(),
            },
            fix: Fix {
                description,
                manifests: fixes.iter().map(|f| f.manifest()).collect(),
            },
            rollback: fixes.iter().map(|f| f.rollback.clone()).collect(),
            forwarded_to,
        },
        invalid_policies: invalid,
        notes,
    })
}

/// The report when the Service forwards nowhere: layer `service`, no policy involved.
fn service_failure(
    c: &Cluster,
    src: &Endpoint<'_>,
    req: &CheckRequest,
    f: crate::service::ServiceFailure,
    invalid: Vec<InvalidPolicy>,
) -> CheckReport {
    CheckReport {
        schema: SCHEMA,
        flow: json!({"from": describe(src), "to": req.to, "port": req.port.parse::<u16>().map_or(json!(req.port), |n| json!(n)), "protocol": req.protocol.to_ascii_uppercase()}),
        verdict: Verdict {
            layer: Some(K8sLayer::Service),
            cause: f.cause,
            allowed: false,
            denied_by: None,
            summary: format!("{}.", f.summary),
            isolating_policies: PerDirection::default(),
            allowing_policies: PerDirection::default(),
            fix: Fix {
                description: f.fix,
                manifests: Vec::new(),
            },
            rollback: Vec::new(),
            forwarded_to: Some(f.forwarded_to),
        },
        invalid_policies: invalid,
        notes: c.notes.clone(),
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

fn yaml(m: &serde_json::Value) -> String {
    serde_saphyr::to_string(m).unwrap_or_else(|_| m.to_string())
}

/// `FROM -> TO PORT/PROTOCOL` of the resolved flow.
fn flow_text(r: &CheckReport) -> String {
    format!(
        "{} -> {} {}/{}",
        r.flow["from"].as_str().unwrap_or(""),
        r.flow["to"].as_str().unwrap_or(""),
        r.flow["port"],
        r.flow["protocol"].as_str().unwrap_or("")
    )
}

/// The report in every format of the one renderer family: JSON (`netdiag.k8s.check/v1`,
/// pretty), a table of `key value` lines plus the fix, or Markdown.
impl Rendered for CheckReport {
    fn json(&self) -> String {
        let mut s = pretty_json(self);
        s.push('\n');
        s
    }

    fn table(&self) -> String {
        let (r, v) = (self, &self.verdict);
        let rows = [
            ("flow", flow_text(r)),
            (
                "verdict",
                format!(
                    "{} ({})",
                    if v.allowed { "allowed" } else { "denied" },
                    v.cause
                ),
            ),
            ("egress isolating", list(&v.isolating_policies.egress)),
            ("egress allowing", list(&v.allowing_policies.egress)),
            ("ingress isolating", list(&v.isolating_policies.ingress)),
            ("ingress allowing", list(&v.allowing_policies.ingress)),
        ];
        let mut s = String::new();
        for (k, val) in rows {
            s.push_str(&format!("{k:<18} {val}\n"));
        }
        if let Some(f) = &v.forwarded_to {
            s.push_str(&format!("{:<18} {}\n", "forwarded to", list(f)));
        }
        for i in &r.invalid_policies {
            s.push_str(&format!(
                "{:<18} {}: {}\n",
                "invalid policy", i.policy, i.reason
            ));
        }
        for n in &r.notes {
            s.push_str(&format!("{:<18} {n}\n", "note"));
        }
        s.push_str(&format!("\n{}\n", v.summary));
        if v.fix.manifests.is_empty() && !v.fix.description.is_empty() {
            s.push_str(&format!("\nFix: {}\n", v.fix.description));
        }
        if !v.fix.manifests.is_empty() {
            s.push_str(&format!("\nFix: {}\n", v.fix.description));
            for m in &v.fix.manifests {
                s.push_str("---\n");
                s.push_str(&yaml(m));
            }
            s.push_str("\nRollback:\n");
            for c in &v.rollback {
                s.push_str(&format!("  {c}\n"));
            }
        }
        s
    }

    fn markdown(&self) -> String {
        let (r, v) = (self, &self.verdict);
        let mut s = format!(
            "## netdiag k8s check: {}\n\n**{}** (`{}`): {}\n\n| direction | isolating | allowing |\n|---|---|---|\n| egress | {} | {} |\n| ingress | {} | {} |\n",
            flow_text(r),
            if v.allowed { "Allowed" } else { "Denied" },
            v.cause,
            v.summary,
            md_cell(&list(&v.isolating_policies.egress)),
            md_cell(&list(&v.allowing_policies.egress)),
            md_cell(&list(&v.isolating_policies.ingress)),
            md_cell(&list(&v.allowing_policies.ingress)),
        );
        if !r.invalid_policies.is_empty() {
            s.push_str("\n### Invalid policies (not used)\n\n");
            for i in &r.invalid_policies {
                s.push_str(&format!("- `{}`: {}\n", i.policy, i.reason));
            }
        }
        if !r.notes.is_empty() {
            s.push_str("\n### Notes\n\n");
            for n in &r.notes {
                s.push_str(&format!("- {n}\n"));
            }
        }
        if !v.fix.manifests.is_empty() {
            s.push_str(&format!("\n### Fix\n\n{}\n\n```yaml\n", v.fix.description));
            for m in &v.fix.manifests {
                s.push_str("---\n");
                s.push_str(&yaml(m));
            }
            s.push_str("```\n\n### Rollback\n\n```sh\n");
            for c in &v.rollback {
                s.push_str(&format!("{c}\n"));
            }
            s.push_str("```\n");
        }
        s
    }
}
