//! The live walk meets the cloud (`netdiag check --cloud PATH…`): when the walk ends in silence or an ICMP refusal at the tcp or
//! udp layer, ask the cloud firewalls (from the provider CLI's exports) about exactly the flow
//! that failed, and add their answer to the report.
//!
//! Why here and not in the core walk: the exports are files and the estate is loaded on demand,
//! which is I/O; the walk stays pure and the cloud engine stays unaware of live checks. The
//! verdict keeps the live cause (`tcp_timeout` is what was observed); the cloud answer adds the
//! blocking rule to the root cause and its narrow fix, pre-state and rollback in front of the
//! generic ones.

use crate::check::{load_estate_from_paths, report as cloud_report};
use crate::doc::Provider;
use crate::estate::Estate;
use crate::flow::{EndpointRef, Protocol, Query};
use crate::verdict::{CloudReport, StepResult};
use netdiag_core::cause::Cause;
use netdiag_core::remedy::{GenericRollback, Remedy};
use netdiag_core::report::{Report, Row, RowVerdict};
use std::path::PathBuf;
use std::sync::Arc;

/// The `--cloud` exports, loaded once (when the flags are checked) and shared by every target.
#[derive(Clone)]
pub struct CloudInput {
    /// The provider, given or detected.
    pub provider: Provider,
    /// The estate the exports describe.
    pub estate: Arc<dyn Estate>,
}

impl std::fmt::Debug for CloudInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CloudInput({} estate)", self.provider)
    }
}

impl netdiag_core::oracle::FlowOracle for CloudInput {
    fn explain(&self, report: &mut Report) {
        add(report, self);
    }
}

/// Checks the flags and that the exports load (bad files are input errors, before any probe).
pub fn resolve(paths: &[PathBuf], provider: Option<&str>) -> Result<Option<CloudInput>, String> {
    if paths.is_empty() {
        return Ok(None);
    }
    let provider = match provider {
        None => None,
        Some(p) => Some(
            Provider::parse(p)
                .ok_or_else(|| format!("--cloud-provider {p:?}: use aws, gcp or azure"))?,
        ),
    };
    let (provider, estate) =
        load_estate_from_paths(provider, paths).map_err(|e| format!("--cloud: {e}"))?;
    Ok(Some(CloudInput {
        provider,
        estate: Arc::from(estate),
    }))
}

/// Adds the cloud answer for the failed flow to `report` (a row, the `cloud` field, and the fix
/// when the cloud blocks it). Does nothing for a healthy report or another failure.
pub fn add(report: &mut Report, cloud: &CloudInput) {
    // Nothing came back, or a firewall answered with an ICMP refusal (core's follow-up table).
    if !report.verdict.cause.follow_ups().cloud {
        return;
    }
    let Some(flow) = report.failed_flow.clone() else {
        return;
    };
    let layer = report
        .verdict
        .layer
        .unwrap_or(netdiag_core::layer::Layer::Tcp);
    let proto = if flow.protocol == "udp" {
        Protocol::Udp
    } else {
        Protocol::Tcp
    };
    let port = flow.port.unwrap_or(0);
    let Some(source) = flow.source else {
        push_row(
            report,
            Row::new(
                layer,
                format!("cloud firewalls for {proto} to {}:{port}", flow.destination),
                "not asked: this host's source address is unknown".to_string(),
                RowVerdict::Warn,
                Cause::Ok,
            ),
        );
        return;
    };
    let test = format!(
        "cloud firewalls for {proto} {source} -> {}:{port}",
        flow.destination
    );
    let query = Query {
        src: EndpointRef::Ip(source),
        dst: EndpointRef::Ip(flow.destination),
        port,
        protocol: proto,
    };
    let evaluated = cloud
        .estate
        .evaluate(&query)
        .map(|ev| cloud_report(cloud.provider, ev))
        .map_err(|e| e.to_string());
    let rep = match evaluated {
        Ok(rep) => rep,
        Err(e) => {
            push_row(
                report,
                Row::new(
                    layer,
                    test,
                    "not answered from the exports".to_string(),
                    RowVerdict::Warn,
                    Cause::Ok,
                )
                .with_evidence(vec![
                    e,
                    "from outside the cloud, ask with the instance's own address: netdiag cloud check --from IP --to IP --port PORT".to_string(),
                ]),
            );
            return;
        }
    };
    let row = Row::new(
        layer,
        format!("{test} ({})", rep.provider),
        rep.verdict.summary.clone(),
        match (rep.verdict.allowed, rep.verdict.cause) {
            (true, _) => RowVerdict::Pass,
            (false, Cause::CloudUnknown) => RowVerdict::Warn,
            (false, _) => RowVerdict::Fail,
        },
        report.verdict.cause,
    )
    .with_evidence(evidence(&rep));
    push_row(report, row);
    let v = &rep.verdict;
    if !v.allowed && v.cause != Cause::CloudUnknown {
        let verdict = &mut report.verdict;
        let blocking = v
            .blocking
            .as_ref()
            .map(|b| format!("{}: {}", b.resource, b.rule))
            .unwrap_or_default();
        verdict.root_cause = format!(
            "{} The {} firewall blocks this flow ({} {}, {blocking}).",
            verdict.root_cause,
            rep.provider,
            v.layer.map(|l| l.name()).unwrap_or("cloud"),
            v.cause.code()
        );
        verdict.summary = format!("{} Cloud: {}.", verdict.summary, v.summary);
        match &v.fix {
            Some(fix) => put_cloud_remedy_first(verdict, fix, &v.prestate, &v.rollback),
            None => {
                if let Some(why) = &v.no_fix_reason {
                    verdict.fix.description = format!(
                        "No change in the exported scope helps: {why} {}",
                        verdict.fix.description
                    );
                }
            }
        }
    }
    report.cloud = serde_json::to_value(&rep).ok();
}

fn evidence(rep: &CloudReport) -> Vec<String> {
    let mut ev: Vec<String> = rep
        .path
        .iter()
        .filter(|s| s.result != StepResult::Skip)
        .take(12)
        .map(|s| {
            let result = match s.result {
                StepResult::Allow => "allow",
                StepResult::Deny => "deny",
                StepResult::Unknown => "unknown",
                StepResult::Skip => "skip",
            };
            match &s.rule {
                Some(rule) => format!("{} {}: {result} ({rule})", s.layer.name(), s.resource),
                None => format!("{} {}: {result}", s.layer.name(), s.resource),
            }
        })
        .collect();
    ev.extend(
        rep.verdict
            .unknown
            .iter()
            .map(|m| format!("missing: {} (export: {})", m.what, m.export)),
    );
    ev
}

/// The cloud's fix, pre-state and rollback go in front of the live verdict's generic ones
/// (description "{cloud} {live}"; the generic rollback stays after the cloud's).
fn put_cloud_remedy_first(
    verdict: &mut netdiag_core::report::Verdict,
    fix: &netdiag_core::report::Fix,
    prestate: &[String],
    rollback: &[String],
) {
    let mut remedy = Remedy {
        fix: std::mem::take(&mut verdict.fix),
        prestate: std::mem::take(&mut verdict.prestate),
        rollback: std::mem::take(&mut verdict.rollback),
        runbook: String::new(),
    };
    remedy.put_first(
        Remedy {
            fix: fix.clone(),
            prestate: prestate.to_vec(),
            rollback: rollback.to_vec(),
            runbook: String::new(),
        },
        GenericRollback::Keep,
    );
    verdict.fix = remedy.fix;
    verdict.prestate = remedy.prestate;
    verdict.rollback = remedy.rollback;
}

/// Inserts `row` after the last row of its layer, before the skipped later layers.
fn push_row(report: &mut Report, row: Row) {
    let at = report
        .layers
        .iter()
        .rposition(|r| r.layer == row.layer)
        .map_or(report.layers.len(), |i| i + 1);
    report.layers.insert(at, row);
}
