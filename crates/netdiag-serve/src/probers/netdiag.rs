//! The `netdiag` prober: the full `netdiag check` walk of the target through the engine, with
//! the module's options in place of check's flags; its series are netdiag's verdict series and
//! `probe_success` (the report itself is kept for the debug output and the status page).
//!
//! The target takes `netdiag check`'s forms (`https://host/`, `host:port`, `tcp://`, `udp://`,
//! `dns://`). The proxy is the module's only: the prober's own environment is never used.

use super::common::verdict_series;
use super::{ProbeOutcome, ProbeRequest};
use crate::expo::Registry;
use netdiag_core::walk::Family;
use netdiag_engine::live::{check_one, LiveCheck};

/// Runs one `netdiag` probe.
pub fn probe(request: &ProbeRequest<'_>) -> ProbeOutcome {
    let mut out = ProbeOutcome::default();
    out.log.push(format!(
        "Beginning probe probe=netdiag timeout_seconds={}",
        request.timeout.as_secs_f64()
    ));
    match check(request) {
        Ok(check) => {
            let report = check_one(&check);
            let mut reg = Registry::new();
            verdict_series(&report, &mut reg);
            out.success = report.healthy();
            out.log.push(match report.verdict.layer {
                None => "Probe succeeded".to_string(),
                Some(layer) => format!(
                    "Probe failed layer={} cause={} summary={:?}",
                    layer.name(),
                    report.verdict.cause.code(),
                    report.verdict.summary
                ),
            });
            out.metrics = reg;
            out.report = Some(report);
        }
        Err(e) => {
            out.log.push(format!("Invalid target or module err={e:?}"));
            out.log.push("Probe failed".into());
        }
    }
    out
}

/// The module and target as a validated [`LiveCheck`].
fn check(request: &ProbeRequest<'_>) -> Result<LiveCheck, String> {
    let module = &request.module.netdiag;
    let target = netdiag_core::target::parse_target(request.target).map_err(|e| e.to_string())?;
    let family = match module.family.as_deref() {
        Some("ip4") => Some(Family::V4),
        Some("ip6") => Some(Family::V6),
        _ => None,
    };
    let cacert_pem = match &module.cacert {
        Some(path) => super::common::read_ca_file(path)?,
        None => None,
    };
    let proxy = netdiag_core::proxyenv::select(
        target.scheme.name(),
        &target.host_text(),
        target.port.unwrap_or(0),
        &[],
        module.proxy.as_deref(),
        false,
    )
    .map_err(|e| e.to_string())?;
    Ok(LiveCheck {
        target,
        timeout: request.timeout,
        connect_timeout: module.connect_timeout().map_err(|e| e.0)?,
        paths: netdiag_probe::ConfigPaths::default(),
        family,
        cacert_pem,
        crls: None,
        sni: module.sni.clone(),
        proxy,
        slow: module.slow().map_err(|e| e.0)?,
        probe_mtu: module.mtu,
        follow: module.follow,
        oracle: None,
        hop_guard: None,
    })
}
