//! The `icmp` prober: one echo request to one address, as blackbox_exporter's `ProbeICMP`.
//!
//! Sockets, in blackbox's order: an unprivileged ICMP datagram socket (`SOCK_DGRAM`,
//! `IPPROTO_ICMP[V6]`), which the kernel allows when the process's group is inside
//! `net.ipv4.ping_group_range`; else a raw socket, which needs CAP_NET_RAW. `dont_fragment`
//! on IPv4 asks for the raw socket first (blackbox sets DF only there). When neither opens,
//! the probe fails and the log says which of the two was refused and why (the range and the
//! gid, the missing capability): an unprivileged prober answers and says so.
//!
//! The reply's TTL / hop limit comes from `IP_RECVTTL` / `IPV6_RECVHOPLIMIT`
//! (`probe_icmp_reply_hop_limit`, present only when it could be read, as in blackbox).
//!
//! netdiag's addition: an ICMP error instead of a reply (network or host unreachable,
//! administratively prohibited, time exceeded) is named in the log with its type, code and
//! sender, and `probe_failure_info` carries the contract code when one means it
//! (`net_unreachable`, `host_unreachable`, `no_route` for the kernel's own refusal).

use super::dns::addr;
use super::{ProbeOutcome, ProbeRequest};
use crate::config::icmp::IcmpProbe;
use crate::expo::Registry;
use netdiag_core::cause::Cause;
use netdiag_core::observe::{IcmpError, IcmpKind};
use netdiag_probe::sys;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The layer whose success this prober reports.
const LAYER: &str = "route";
/// blackbox's default payload.
const PAYLOAD: &[u8] = b"Prometheus Blackbox Exporter";
/// The most packets read while waiting for our reply (a raw socket sees every ICMP packet).
const MAX_PACKETS: usize = 256;

/// Which socket carried the echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocketKind {
    /// Unprivileged ICMP datagram socket: no IP header, the kernel picks the identifier.
    Datagram,
    /// Raw socket: IPv4 packets arrive with their IP header.
    Raw,
}

/// Runs one `icmp` probe.
pub fn probe(request: &ProbeRequest<'_>) -> ProbeOutcome {
    let cfg = &request.module.icmp;
    let deadline = Instant::now() + request.timeout;
    let mut out = ProbeOutcome::default();
    for phase in ["resolve", "setup", "rtt"] {
        set_phase(&mut out.metrics, phase, Duration::ZERO);
    }
    let started = Instant::now();
    let (passed, cause) = run(request.target, cfg, deadline, &mut out);
    addr::verdict(&mut out.metrics, LAYER, passed, cause, started.elapsed());
    out.success = passed;
    out
}

fn set_phase(m: &mut Registry, phase: &str, d: Duration) {
    m.gauge_with(
        "probe_icmp_duration_seconds",
        "Duration of icmp request by phase",
        &[("phase", phase)],
        d.as_secs_f64(),
    );
}

fn run(
    target: &str,
    cfg: &IcmpProbe,
    deadline: Instant,
    out: &mut ProbeOutcome,
) -> (bool, Option<Cause>) {
    let host = target.trim().trim_start_matches('[').trim_end_matches(']');
    let resolved = addr::resolve(
        host,
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
    let setup_started = Instant::now();
    let opened = open(ip, cfg);
    set_phase(&mut out.metrics, "setup", setup_started.elapsed());
    let (sock, kind) = match opened {
        Ok(s) => s,
        Err(why) => {
            out.log.push(format!("Error opening an ICMP socket: {why}"));
            return (false, None);
        }
    };
    let id = echo_id();
    let seq = echo_seq();
    let payload = payload(cfg.payload_size);
    let packet = echo_request(ip.is_ipv6(), id, seq, &payload);
    out.log.push(format!(
        "Creating ICMP packet seq={seq} id={id} socket={kind:?} ttl={}",
        cfg.ttl
    ));
    let sent = Instant::now();
    if let Err(e) = sock.send(&packet) {
        out.log.push(format!("Error writing to socket: {e}"));
        return (false, local_cause(&sock, &e, &mut out.log));
    }
    match wait_reply(&sock, kind, ip, id, seq, &payload, deadline) {
        Ok(hop) => {
            set_phase(&mut out.metrics, "rtt", sent.elapsed());
            if let Some(h) = hop {
                out.metrics.gauge(
                    "probe_icmp_reply_hop_limit",
                    "Replied packet hop limit (TTL for ipv4)",
                    f64::from(h),
                );
            }
            out.log.push("Found matching reply packet".to_string());
            (true, None)
        }
        Err(Waited::Icmp(err)) => {
            out.log.push(describe(&err));
            (false, icmp_cause(&err))
        }
        Err(Waited::Io(e)) => {
            out.log.push(format!("Error reading from socket: {e}"));
            (false, local_cause(&sock, &e, &mut out.log))
        }
        Err(Waited::Timeout) => {
            out.log
                .push("Timeout reading from socket: no echo reply before the deadline".to_string());
            (false, None)
        }
    }
}

/// The contract code an ICMP error means, when one does.
pub(crate) fn icmp_cause(err: &IcmpError) -> Option<Cause> {
    match err.kind() {
        IcmpKind::NetUnreachable => Some(Cause::NetUnreachable),
        IcmpKind::HostUnreachable => Some(Cause::HostUnreachable),
        _ => None,
    }
}

/// One log line naming an ICMP error.
pub(crate) fn describe(err: &IcmpError) -> String {
    let what = match err.kind() {
        IcmpKind::NetUnreachable => "network unreachable",
        IcmpKind::HostUnreachable => "host unreachable",
        IcmpKind::ProtocolUnreachable => "protocol unreachable",
        IcmpKind::PortUnreachable => "port unreachable",
        IcmpKind::AdminProhibited => "administratively prohibited (a filter rejects the echo)",
        IcmpKind::FragmentationNeeded => "fragmentation needed / packet too big",
        IcmpKind::TimeExceeded => "time exceeded (the TTL ran out on the way)",
        IcmpKind::Other => "other ICMP error",
    };
    let from = err
        .offender
        .map_or_else(String::new, |a| format!(" from {a}"));
    format!(
        "ICMP{} error instead of an echo reply: {what} (type {} code {}){from}",
        if err.v6 { "v6" } else { "" },
        err.icmp_type,
        err.code
    )
}

/// A send/receive error: a queued ICMP error when there is one, else the kernel's own refusal.
fn local_cause(sock: &Socket, e: &io::Error, log: &mut Vec<String>) -> Option<Cause> {
    if let Ok(Some(err)) = sys::read_icmp_error(sock) {
        log.push(describe(&err));
        return icmp_cause(&err);
    }
    match e.raw_os_error() {
        Some(libc::ENETUNREACH | libc::EHOSTUNREACH) => Some(Cause::NoRoute),
        _ => None,
    }
}

/// Why no socket: the ping_group_range for the datagram socket, CAP_NET_RAW for the raw one.
fn open(ip: IpAddr, cfg: &IcmpProbe) -> Result<(Socket, SocketKind), String> {
    let v6 = ip.is_ipv6();
    let order = if cfg.dont_fragment && !v6 {
        [SocketKind::Raw, SocketKind::Datagram]
    } else {
        [SocketKind::Datagram, SocketKind::Raw]
    };
    let mut refusals = Vec::new();
    for kind in order {
        match open_kind(ip, kind, cfg) {
            Ok(s) => return Ok((s, kind)),
            Err(e) => refusals.push(refusal(kind, &e)),
        }
    }
    Err(refusals.join("; "))
}

fn refusal(kind: SocketKind, e: &io::Error) -> String {
    match kind {
        SocketKind::Datagram => {
            let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|_| "unreadable".to_string());
            let gid = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("Gid:"))
                        .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
                })
                .unwrap_or_else(|| "?".to_string());
            format!(
                "unprivileged ICMP socket refused ({e}): gid {gid} is not within net.ipv4.ping_group_range ({range})"
            )
        }
        SocketKind::Raw => format!("raw ICMP socket refused ({e}): the process lacks CAP_NET_RAW"),
    }
}

fn open_kind(ip: IpAddr, kind: SocketKind, cfg: &IcmpProbe) -> io::Result<Socket> {
    let v6 = ip.is_ipv6();
    let (domain, proto) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let ty = match kind {
        SocketKind::Datagram => Type::DGRAM,
        SocketKind::Raw => Type::RAW,
    };
    let sock = Socket::new(domain, ty, Some(proto))?;
    if let Some(src) = &cfg.source_ip_address {
        let src: IpAddr = src
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "source_ip_address"))?;
        sock.bind(&SockAddr::from(SocketAddr::new(src, 0)))?;
    }
    if let Ok(ttl) = u32::try_from(cfg.ttl) {
        if ttl > 0 && v6 {
            sock.set_unicast_hops_v6(ttl)?;
        } else if ttl > 0 {
            sock.set_ttl_v4(ttl)?;
        }
    }
    if cfg.dont_fragment && !v6 {
        sys::set_dont_fragment_v4(&sock)?;
    }
    sys::enable_recv_hop_limit(&sock, v6)?;
    sys::enable_recverr(&sock, v6)?;
    sock.connect(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    Ok(sock)
}

fn echo_id() -> u16 {
    (std::process::id() & 0xffff) as u16
}

fn echo_seq() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static SEQ: AtomicU16 = AtomicU16::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    SEQ.fetch_add(1, Ordering::Relaxed) ^ ((nanos >> 10) as u16 & 0x7f00)
}

/// blackbox's payload: its name, or `payload_size` bytes starting with it.
pub(crate) fn payload(size: i64) -> Vec<u8> {
    let Ok(size) = usize::try_from(size) else {
        return PAYLOAD.to_vec();
    };
    if size == 0 {
        return PAYLOAD.to_vec();
    }
    let mut p = vec![0u8; size];
    let n = PAYLOAD.len().min(size);
    p[..n].copy_from_slice(&PAYLOAD[..n]);
    p
}

/// The Internet checksum (RFC 1071).
pub(crate) fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request (ICMP type 8, ICMPv6 type 128). The v6 checksum is the kernel's.
pub(crate) fn echo_request(v6: bool, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// What one received packet is, relative to our echo.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Packet {
    /// Our echo reply, with the TTL from the IPv4 header when the packet had one.
    Reply(Option<u8>),
    /// An ICMP error quoting our echo.
    Error(IcmpError),
    /// Someone else's.
    Other,
}

/// Classifies a received packet. `ip_header`: IPv4 raw sockets deliver the IP header.
/// `match_id`: false on datagram sockets (the kernel rewrote the identifier).
pub(crate) fn classify(
    data: &[u8],
    v6: bool,
    ip_header: bool,
    match_id: bool,
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Packet {
    let (icmp, ttl) = if ip_header {
        let Some(first) = data.first() else {
            return Packet::Other;
        };
        let ihl = usize::from(first & 0x0f) * 4;
        (data.get(ihl..).unwrap_or_default(), data.get(8).copied())
    } else {
        (data, None)
    };
    let (Some(&ty), Some(&code)) = (icmp.first(), icmp.get(1)) else {
        return Packet::Other;
    };
    let ours = |echo: &[u8], check_payload: bool| {
        let got_id = echo.get(4..6).map(|b| u16::from_be_bytes([b[0], b[1]]));
        let got_seq = echo.get(6..8).map(|b| u16::from_be_bytes([b[0], b[1]]));
        (!match_id || got_id == Some(id))
            && got_seq == Some(seq)
            && (!check_payload || echo.get(8..) == Some(payload))
    };
    let reply_type = if v6 { 129 } else { 0 };
    if ty == reply_type {
        return if ours(icmp, true) {
            Packet::Reply(ttl)
        } else {
            Packet::Other
        };
    }
    let is_error = if v6 {
        matches!(ty, 1..=3)
    } else {
        matches!(ty, 3 | 11 | 12)
    };
    if !is_error {
        return Packet::Other;
    }
    // The quoted packet: the original IP header, then at least 8 bytes of our echo.
    let quoted = icmp.get(8..).unwrap_or_default();
    let inner_len = if v6 {
        40
    } else {
        quoted.first().map_or(20, |b| usize::from(b & 0x0f) * 4)
    };
    let echo = quoted.get(inner_len..).unwrap_or_default();
    let request_type = if v6 { 128 } else { 8 };
    if echo.first() == Some(&request_type) && ours(echo, false) {
        let sender = if v6 {
            None
        } else {
            data.get(12..16)
                .filter(|_| ip_header)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(IpAddr::from)
        };
        return Packet::Error(IcmpError {
            v6,
            icmp_type: ty,
            code,
            offender: sender,
            errno: 0,
            info: 0,
        });
    }
    Packet::Other
}

enum Waited {
    Icmp(IcmpError),
    Io(io::Error),
    Timeout,
}

fn wait_reply(
    sock: &Socket,
    kind: SocketKind,
    ip: IpAddr,
    id: u16,
    seq: u16,
    payload: &[u8],
    deadline: Instant,
) -> Result<Option<u8>, Waited> {
    let v6 = ip.is_ipv6();
    let ip_header = kind == SocketKind::Raw && !v6;
    let mut buf = vec![0u8; payload.len() + 512];
    for _ in 0..MAX_PACKETS {
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Err(Waited::Timeout);
        }
        sock.set_read_timeout(Some(left)).map_err(Waited::Io)?;
        match sys::recv_with_hop_limit(sock, &mut buf) {
            Ok((n, hop)) => {
                let data = buf.get(..n).unwrap_or_default();
                match classify(
                    data,
                    v6,
                    ip_header,
                    kind == SocketKind::Raw,
                    id,
                    seq,
                    payload,
                ) {
                    Packet::Reply(ttl) => return Ok(hop.or(ttl)),
                    Packet::Error(err) => return Err(Waited::Icmp(err)),
                    Packet::Other => {}
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Waited::Timeout)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                if let Ok(Some(err)) = sys::read_icmp_error(sock) {
                    return Err(Waited::Icmp(err));
                }
                return Err(Waited::Io(e));
            }
        }
    }
    Err(Waited::Timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn echo_request_checksums_to_zero() {
        let p = echo_request(false, 0x1234, 7, PAYLOAD);
        assert_eq!(p[0], 8);
        assert_eq!(checksum(&p), 0);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(echo_request(true, 1, 2, b"x")[0], 128);
    }

    #[test]
    fn payload_is_blackboxs() {
        assert_eq!(payload(0), PAYLOAD);
        assert_eq!(payload(4), b"Prom");
        let p = payload(40);
        assert_eq!(p.len(), 40);
        assert!(p.starts_with(PAYLOAD));
    }

    fn ipv4(ttl: u8, src: [u8; 4], body: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, ttl, 1, 0, 0];
        h.extend_from_slice(&src);
        h.extend_from_slice(&[127, 0, 0, 1]);
        h.extend_from_slice(body);
        h
    }

    #[test]
    fn replies_and_errors_are_told_apart() {
        let mut reply = echo_request(false, 9, 5, b"pay");
        reply[0] = 0;
        let pkt = ipv4(61, [10, 0, 0, 1], &reply);
        assert_eq!(
            classify(&pkt, false, true, true, 9, 5, b"pay"),
            Packet::Reply(Some(61))
        );
        assert_eq!(
            classify(&pkt, false, true, true, 9, 6, b"pay"),
            Packet::Other
        );
        assert_eq!(
            classify(&reply, false, false, false, 1, 5, b"pay"),
            Packet::Reply(None)
        );
        // Host unreachable from 10.0.0.254 quoting our echo.
        let quoted = ipv4(64, [127, 0, 0, 1], &echo_request(false, 9, 5, b"pay")[..8]);
        let mut err = vec![3, 13, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&quoted);
        let pkt = ipv4(64, [10, 0, 0, 254], &err);
        let Packet::Error(e) = classify(&pkt, false, true, true, 9, 5, b"pay") else {
            panic!("not an error");
        };
        assert_eq!(e.kind(), IcmpKind::AdminProhibited);
        assert_eq!(e.offender, Some(IpAddr::from([10, 0, 0, 254])));
        assert!(icmp_cause(&e).is_none());
        assert!(describe(&e).contains("administratively prohibited"));
        let net = IcmpError { code: 0, ..e };
        assert_eq!(icmp_cause(&net), Some(Cause::NetUnreachable));
    }

    proptest! {
        #[test]
        fn classify_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>(), hdr in any::<bool>()) {
            let _ = classify(&data, v6, hdr, true, 1, 1, b"x");
        }
    }
}
