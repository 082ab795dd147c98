//! The `udp` prober (netdiag's own): one datagram to `host:port` on a connected socket with
//! `IP_RECVERR`, one datagram back, optionally matched against `expect`.
//!
//! Series: the three resolve series, `probe_udp_duration_seconds{phase=resolve|rtt}`
//! (pre-created), `probe_udp_reply_bytes` (0 without a reply) and `probe_failed_due_to_regex`
//! (named as in blackbox's tcp prober), then netdiag's verdict for layer `udp`: silence is
//! `udp_no_response`, an ICMP port unreachable `udp_port_unreachable`, admin prohibited
//! `udp_admin_prohibited`, host / network unreachable `host_unreachable` / `net_unreachable`.
//! Silence is only a failure by the deadline: a UDP service may legitimately not answer a
//! probe it does not understand, so pick a `query` the service answers.

use super::dns::{addr, split_target};
use super::{ProbeOutcome, ProbeRequest};
use crate::config::udp::UdpProbe;
use crate::expo::Registry;
use netdiag_core::cause::Cause;
use netdiag_core::observe::{IcmpError, IcmpKind};
use netdiag_probe::sys;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const LAYER: &str = "udp";

/// Runs one `udp` probe.
pub fn probe(request: &ProbeRequest<'_>) -> ProbeOutcome {
    let cfg = &request.module.udp;
    let deadline = Instant::now() + request.timeout;
    let mut out = ProbeOutcome::default();
    for phase in ["resolve", "rtt"] {
        set_phase(&mut out.metrics, phase, Duration::ZERO);
    }
    set_reply(&mut out.metrics, 0, false);
    let started = Instant::now();
    let (passed, cause) = run(request.target, cfg, deadline, &mut out);
    addr::verdict(&mut out.metrics, LAYER, passed, cause, started.elapsed());
    out.success = passed;
    out
}

fn set_phase(m: &mut Registry, phase: &str, d: Duration) {
    m.gauge_with(
        "probe_udp_duration_seconds",
        "Duration of the udp exchange by phase",
        &[("phase", phase)],
        d.as_secs_f64(),
    );
}

fn set_reply(m: &mut Registry, bytes: usize, regex_failed: bool) {
    m.gauge(
        "probe_udp_reply_bytes",
        "Length of the reply datagram in bytes (0 without a reply)",
        bytes as f64,
    );
    m.gauge(
        "probe_failed_due_to_regex",
        "Indicates if probe failed due to regex",
        if regex_failed { 1.0 } else { 0.0 },
    );
}

/// The contract code for an ICMP error on a UDP exchange.
pub(crate) fn icmp_cause(err: &IcmpError) -> Option<Cause> {
    match err.kind() {
        IcmpKind::PortUnreachable => Some(Cause::UdpPortUnreachable),
        IcmpKind::AdminProhibited => Some(Cause::UdpAdminProhibited),
        IcmpKind::HostUnreachable => Some(Cause::HostUnreachable),
        IcmpKind::NetUnreachable => Some(Cause::NetUnreachable),
        _ => None,
    }
}

fn run(
    target: &str,
    cfg: &UdpProbe,
    deadline: Instant,
    out: &mut ProbeOutcome,
) -> (bool, Option<Cause>) {
    let (host, port) = match split_target(target, 0) {
        Ok((_, 0)) => {
            out.log.push(format!(
                "Error parsing target {target:?}: a udp target needs host:port"
            ));
            return (false, None);
        }
        Ok(hp) => hp,
        Err(e) => {
            out.log.push(format!("Error parsing target: {e}"));
            return (false, None);
        }
    };
    let resolved = addr::resolve(
        &host,
        &cfg.preferred_ip_protocol,
        cfg.ip_protocol_fallback,
        deadline,
        &mut out.metrics,
        &mut out.log,
    );
    let Ok((ip, lookup)) = resolved else {
        return (false, None);
    };
    set_phase(&mut out.metrics, "resolve", lookup);
    let server = SocketAddr::new(ip, port);
    let sock = match open(server, cfg.source_ip_address.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            out.log.push(format!("Error opening the UDP socket: {e}"));
            return (false, None);
        }
    };
    let query = cfg.datagram();
    out.log
        .push(format!("Sending {} bytes to {server}", query.len()));
    let sent = Instant::now();
    let reply = sock.send(&query).and_then(|_| receive(&sock, deadline));
    set_phase(&mut out.metrics, "rtt", sent.elapsed());
    let reply = match reply {
        Ok(r) => r,
        Err(e) => return failed(&sock, &e, &mut out.log),
    };
    out.log.push(format!("Got a {}-byte reply", reply.len()));
    let matched = cfg
        .expect
        .as_deref()
        .is_none_or(|re| regex::bytes::Regex::new(re).is_ok_and(|r| r.is_match(&reply)));
    set_reply(&mut out.metrics, reply.len(), !matched);
    if !matched {
        out.log.push(format!(
            "The reply did not match expect {:?}",
            cfg.expect.as_deref().unwrap_or_default()
        ));
        return (false, None);
    }
    (true, None)
}

fn failed(sock: &Socket, e: &io::Error, log: &mut Vec<String>) -> (bool, Option<Cause>) {
    if let Ok(Some(err)) = sys::read_icmp_error(sock) {
        log.push(super::icmp::describe(&err).replace("echo reply", "answer"));
        return (false, icmp_cause(&err));
    }
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            log.push("No reply before the deadline".to_string());
            (false, Some(Cause::UdpNoResponse))
        }
        io::ErrorKind::ConnectionRefused => {
            log.push("ICMP port unreachable: nothing listens on the port".to_string());
            (false, Some(Cause::UdpPortUnreachable))
        }
        _ => {
            log.push(format!("Error on the UDP exchange: {e}"));
            let cause = match e.raw_os_error() {
                Some(libc::ENETUNREACH | libc::EHOSTUNREACH) => Some(Cause::NoRoute),
                _ => None,
            };
            (false, cause)
        }
    }
}

fn open(server: SocketAddr, source: Option<&str>) -> io::Result<Socket> {
    let sock = Socket::new(
        Domain::for_address(server),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if let Some(src) = source {
        let ip: IpAddr = src
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "source_ip_address"))?;
        sock.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    sys::enable_recverr(&sock, server.is_ipv6())?;
    sock.connect(&SockAddr::from(server))?;
    Ok(sock)
}

/// The largest reply read.
const MAX_REPLY: usize = 65_535;

fn receive(sock: &Socket, deadline: Instant) -> io::Result<Vec<u8>> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        return Err(io::Error::from(io::ErrorKind::TimedOut));
    }
    sock.set_read_timeout(Some(left))?;
    let mut buf = vec![0u8; MAX_REPLY];
    let (n, _) = sys::recv_with_hop_limit(sock, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_errors_map_to_udp_codes() {
        let e = |t, c| IcmpError {
            v6: false,
            icmp_type: t,
            code: c,
            offender: None,
            errno: 0,
            info: 0,
        };
        assert_eq!(icmp_cause(&e(3, 3)), Some(Cause::UdpPortUnreachable));
        assert_eq!(icmp_cause(&e(3, 13)), Some(Cause::UdpAdminProhibited));
        assert_eq!(icmp_cause(&e(3, 1)), Some(Cause::HostUnreachable));
        assert_eq!(icmp_cause(&e(11, 0)), None);
    }
}
