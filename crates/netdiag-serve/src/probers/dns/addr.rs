//! Address selection as blackbox does it (utils.go `chooseProtocol`), and netdiag's verdict
//! series, for the probers without a netdiag report (dns, icmp, udp).
//!
//! The address choice and the three resolve series are `probers/common.rs`'s, shared with the
//! walking probers; this adds the log lines and the deadline-bounded lookup these probers use.

use crate::expo::Registry;
use netdiag_core::cause::Cause;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::super::common::{address_series, choose, prefers_v4};

/// The longest a name lookup may take when the probe's deadline is further away.
const MAX_LOOKUP: Duration = Duration::from_secs(30);

fn lookup(host: &str, deadline: Instant) -> Result<Vec<IpAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_string();
    // getaddrinfo has no timeout: ask on a thread and stop waiting at the deadline.
    std::thread::spawn(move || {
        let r = (name.as_str(), 0u16)
            .to_socket_addrs()
            .map(|it| it.map(|sa: SocketAddr| sa.ip()).collect::<Vec<_>>());
        let _ = tx.send(r);
    });
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .min(MAX_LOOKUP);
    match rx.recv_timeout(wait) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(format!("no address for {host}")),
        Ok(Err(e)) => Err(format!("error resolving {host}: {e}")),
        Err(_) => Err(format!(
            "resolving {host} did not finish before the deadline"
        )),
    }
}

/// Resolves `host` with blackbox's rules and records `probe_dns_lookup_time_seconds`,
/// `probe_ip_protocol` and `probe_ip_addr_hash` (all three present, 0 when resolution failed,
/// as blackbox registers them before resolving). Returns the address and the lookup time.
pub(crate) fn resolve(
    host: &str,
    preferred: &str,
    fallback: bool,
    deadline: Instant,
    metrics: &mut Registry,
    log: &mut Vec<String>,
) -> Result<(IpAddr, Duration), String> {
    let started = Instant::now();
    let prefer_v4 = prefers_v4(preferred);
    log.push(format!(
        "Resolving target address target={host} ip_protocol={preferred}"
    ));
    let result = lookup(host, deadline).and_then(|addrs| {
        choose(&addrs, prefer_v4, fallback).ok_or_else(|| {
            format!("no {preferred} address for {host} (ip_protocol_fallback is false)")
        })
    });
    let took = started.elapsed();
    address_series(metrics, took, result.as_ref().ok().copied());
    match result {
        Ok(ip) => {
            log.push(format!("Resolved target address target={host} ip={ip}"));
            Ok((ip, took))
        }
        Err(e) => {
            log.push(format!("Error resolving address: {e}"));
            Err(e)
        }
    }
}

/// netdiag's series for one layer: `netdiag_layer_success{layer}`,
/// `netdiag_layer_duration_seconds{layer}`, and on failure with a known cause
/// `probe_failure_info{layer,cause} 1` (its layer is the cause's own, as in the contract).
pub(crate) fn verdict(
    metrics: &mut Registry,
    layer: &str,
    passed: bool,
    cause: Option<Cause>,
    took: Duration,
) {
    metrics.gauge_with(
        "netdiag_layer_success",
        "Whether netdiag found this layer working (1) or failing (0); skipped layers are absent",
        &[("layer", layer)],
        if passed { 1.0 } else { 0.0 },
    );
    metrics.gauge_with(
        "netdiag_layer_duration_seconds",
        "How long netdiag spent on this layer in seconds",
        &[("layer", layer)],
        took.as_secs_f64(),
    );
    if let (false, Some(cause)) = (passed, cause) {
        metrics.gauge_with(
            "probe_failure_info",
            "The layer where the probe failed and netdiag's cause code for it",
            &[("layer", cause.layer_name()), ("cause", cause.code())],
            1.0,
        );
    }
}
