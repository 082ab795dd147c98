//! Address selection as blackbox does it (utils.go `chooseProtocol`), and netdiag's verdict
//! series, for the probers without a netdiag report (dns, icmp, udp).
//!
//! Private to these probers until the shared `probers/common.rs` versions land (the lead
//! dedupes): the series names and labels are the same.

use crate::expo::Registry;
use netdiag_core::cause::Cause;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// FNV-32a over the address bytes (4 for IPv4, 16 for IPv6), as blackbox's `probe_ip_addr_hash`.
pub(crate) fn ip_hash(ip: IpAddr) -> u32 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        },
    };
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn is_v4(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
    }
}

/// Picks one address from a lookup result as blackbox does: the first of the preferred family,
/// otherwise (with fallback) the last of the other one.
pub(crate) fn pick(addrs: &[IpAddr], prefer_v4: bool, fallback: bool) -> Option<IpAddr> {
    if let Some(ip) = addrs.iter().find(|ip| is_v4(ip) == prefer_v4) {
        return Some(*ip);
    }
    if fallback {
        return addrs.last().copied();
    }
    None
}

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
    let prefer_v4 = preferred == "ip4";
    log.push(format!(
        "Resolving target address target={host} ip_protocol={preferred}"
    ));
    let result = lookup(host, deadline).and_then(|addrs| {
        pick(&addrs, prefer_v4, fallback).ok_or_else(|| {
            format!("no {preferred} address for {host} (ip_protocol_fallback is false)")
        })
    });
    let took = started.elapsed();
    metrics.gauge(
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds",
        took.as_secs_f64(),
    );
    let (proto, hash) = match &result {
        Ok(ip) => (if is_v4(ip) { 4.0 } else { 6.0 }, f64::from(ip_hash(*ip))),
        Err(_) => (0.0, 0.0),
    };
    metrics.gauge(
        "probe_ip_protocol",
        "Specifies whether probe ip protocol is IP4 or IP6",
        proto,
    );
    metrics.gauge(
        "probe_ip_addr_hash",
        "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
        hash,
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv32a_matches_blackbox() {
        // FNV-32a of the empty input is the offset basis; of 127.0.0.1 computed by hand.
        let mut h: u32 = 0x811c_9dc5;
        for b in [127u8, 0, 0, 1] {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        assert_eq!(ip_hash("127.0.0.1".parse().unwrap()), h);
        assert_eq!(
            ip_hash("::ffff:127.0.0.1".parse().unwrap()),
            ip_hash("127.0.0.1".parse().unwrap())
        );
        assert_ne!(ip_hash("::1".parse().unwrap()), h);
    }

    #[test]
    fn pick_follows_choose_protocol() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v4b: IpAddr = "192.0.2.2".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(pick(&[v4, v6], false, true), Some(v6));
        assert_eq!(pick(&[v4, v4b], false, true), Some(v4b));
        assert_eq!(pick(&[v4, v4b], false, false), None);
        assert_eq!(pick(&[v6, v4], true, true), Some(v4));
        assert_eq!(pick(&[], true, true), None);
    }
}
