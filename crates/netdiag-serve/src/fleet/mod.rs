//! Fleet mode: one `netdiag serve` per Kubernetes node (a DaemonSet), each probing its
//! scheduled targets, its K ring peers and every cluster DNS endpoint from its own node, with
//! Prometheus collecting the results and `netdiag fleet report` reading them back.
//!
//! Why this shape (see `shared/research/prober-anchors.md` §4): every member runs its own schedule
//! and exports on `/metrics`, so Prometheus's pull model reaches all of them with one scrape job;
//! no aggregation server of our own. Series carry `node` (and `peer_node` for the mesh) and the
//! bounded verdict labels `layer`/`cause`; never an address or free text, so the series count is
//! members × (targets + K + DNS endpoints), not N².
//!
//! - [`members`]: the API answers (a PodList, an EndpointSliceList) → members and endpoints. Pure.
//! - [`ring`]: which K members a member probes. Pure and deterministic.
//! - [`run`]: the loops that list, choose and probe, and the series they export; [`state`]:
//!   what they leave for `/metrics`.

pub mod members;
pub mod promapi;
pub mod report;
pub mod ring;
pub mod run;
pub mod state;

/// One kind a member reads from the API server: exactly what its ClusterRole must grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRead {
    /// The API group (`""` is the core group).
    pub group: &'static str,
    /// The resource, plural.
    pub resource: &'static str,
    /// The verbs used.
    pub verbs: &'static [&'static str],
}

/// The member's peers (`fleet.mesh`).
pub const READ_PODS: ApiRead = ApiRead {
    group: "",
    resource: "pods",
    verbs: &["list"],
};

/// The cluster DNS endpoints (`fleet.cluster_dns`).
pub const READ_ENDPOINTSLICES: ApiRead = ApiRead {
    group: "discovery.k8s.io",
    resource: "endpointslices",
    verbs: &["list"],
};

/// Everything a member reads: the shipped ClusterRole grants exactly this (a test checks).
pub const API_READS: [ApiRead; 2] = [READ_PODS, READ_ENDPOINTSLICES];

/// Checks a `--fleet.node` value: a Kubernetes node name (DNS-1123 subdomain), since it becomes
/// the `node` label of every series.
pub fn validate_node_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .split('.')
            .all(|part| !part.is_empty() && !part.starts_with('-') && !part.ends_with('-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--fleet.node {name:?} is not a Kubernetes node name (lowercase letters, digits, '-' and '.')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        for good in ["node-1", "ip-10-0-1-5.eu-west-1.compute.internal", "a"] {
            assert!(validate_node_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Node", "-a", "a..b", "a b", "nöde", &"x".repeat(254)] {
            assert!(validate_node_name(bad).is_err(), "{bad}");
        }
    }
}

/// What `netdiag fleet report` asks of Prometheus.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    /// The Prometheus server.
    pub prometheus: promapi::PrometheusUrl,
    /// How far back.
    pub since: std::time::Duration,
    /// Extra label matchers for every query (`job="netdiag"`), without braces.
    pub selector: String,
    /// Each query's deadline.
    pub deadline: std::time::Duration,
}

/// Checks `--selector`: label matchers such as `job="netdiag",namespace="netdiag"`, which go
/// inside a PromQL selector's braces.
pub fn validate_selector(selector: &str) -> Result<(), String> {
    let ok = selector.is_empty()
        || (!selector.contains(['{', '}', '\n', '\r'])
            && selector.split(',').all(|m| {
                let m = m.trim();
                ["=~", "!~", "!=", "="].iter().any(|op| {
                    m.split_once(op).is_some_and(|(name, value)| {
                        let name = name.trim();
                        let value = value.trim();
                        !name.is_empty()
                            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                            && value.len() >= 2
                            && value.starts_with('"')
                            && value.ends_with('"')
                    })
                })
            }));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--selector {selector:?}: give label matchers such as job=\"netdiag\" (comma-separated, no braces)"
        ))
    }
}

/// Reads the fleet's series for the window ending `now` (unix seconds) and builds the verdict.
pub fn read_report(request: &ReportRequest, now: f64) -> Result<report::FleetReport, String> {
    let since = request.since.as_secs_f64().max(60.0);
    let start = now - since;
    // About 100 points per series, whole seconds, at least 15 s. Each point covers its whole
    // step (min/max over it), so a failure shorter than a step still shows, whatever the
    // members' intervals are.
    let step = (since / 100.0).clamp(15.0, 300.0).round();
    let extra = if request.selector.is_empty() {
        String::new()
    } else {
        format!(",{}", request.selector)
    };
    let sel = format!("node!=\"\"{extra}");
    let window = format!("{}s", since.round());
    let identity = "node, target, module, peer_node, dns_endpoint";
    // What each member checks (one small instant series per check, whatever its health); the
    // points only of checks that failed at some time in the window (a healthy fleet's answer
    // stays small at 1,000 nodes); the verdicts (present only while failing); the listings
    // that failed the whole window.
    let checks = format!(
        "count by ({identity}, instance, pod) (count_over_time(probe_success{{{sel}}}[{window}]))"
    );
    let success = format!(
        "min_over_time(probe_success{{{sel}}}[{step}s]) and on ({identity}) (min_over_time(probe_success{{{sel}}}[{window}] @ end()) < 1)"
    );
    let failure_info = format!("max_over_time(probe_failure_info{{{sel}}}[{step}s])");
    let lists = format!("max_over_time(netdiag_fleet_list_success{{{sel}}}[{window}]) == 0");
    fn range(query: &str, start: f64, end: f64, step: f64) -> promapi::Query<'_> {
        promapi::Query::Range {
            query,
            start,
            end,
            step,
        }
    }
    let queries = [
        promapi::Query::Instant {
            query: &checks,
            time: now,
        },
        range(&success, start, now, step),
        range(&failure_info, start, now, step),
        promapi::Query::Instant {
            query: &lists,
            time: now,
        },
    ];
    let mut answers = promapi::run_queries(&request.prometheus, &queries, request.deadline)?;
    let lists = answers.pop().unwrap_or_default();
    let failure_info = answers.pop().unwrap_or_default();
    let success = answers.pop().unwrap_or_default();
    let checks = answers.pop().unwrap_or_default();
    if checks.is_empty() {
        return Err(format!(
            "Prometheus at {} has no probe_success series with a node label{} in the last {} s: is the fleet's scrape job running (see deploy/prometheus/fleet-scrape.yml)?",
            request.prometheus.display(),
            if request.selector.is_empty() {
                String::new()
            } else {
                format!(" matching {}", request.selector)
            },
            request.since.as_secs()
        ));
    }
    Ok(report::analyse(
        &checks,
        &success,
        &failure_info,
        &lists,
        start,
        now,
    ))
}
