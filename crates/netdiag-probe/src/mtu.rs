//! The mtu layer probe: do full-size packets reach the service, and if not, does the path say
//! so (ICMP frag-needed / packet-too-big) or do they vanish (a path-MTU black hole)?
//!
//! Why TCP to the service's own port: it is the one thing known to be reachable at this point
//! of the walk, it needs no privileges, and it works where ICMP echo is blocked (netdiag never
//! pings). For each size under test a fresh connection clamps its MSS (`TCP_MAXSEG` before
//! `connect()`) so that one segment is exactly that many bytes of IP packet, sends one such
//! segment of harmless bytes (CR LF pairs, which HTTP servers skip as empty lines) and watches
//! `TCP_INFO`:
//! - `tcpi_bytes_acked` grows by the payload: the packet arrived, **Passed**.
//! - `tcpi_pmtu` drops below the size: an ICMP frag-needed (or packet-too-big) reached the
//!   kernel, which lowered the path MTU and resent smaller, **TooBig**. The kernel does not queue
//!   that ICMP on a TCP socket's error queue (`tcp_v4_err` consumes it), so the router's address
//!   comes from one DF UDP datagram of the same size to the same address and port
//!   (`IP_PMTUDISC_PROBE`, which ignores the cached path MTU, so the router answers again) read
//!   back through `IP_RECVERR`. Frag-needed is exempt from the kernel's ICMP rate limit.
//! - neither within one retransmission timeout plus two round trips: **Lost**.
//!
//! A binary search between the interface MTU (first, so a healthy path costs one connection)
//! and 1200 bytes (1280 for IPv6) picks the sizes, follows the MTU a router names, and stops
//! after [`MAX_PROBES`] probes or at the deadline. Sizes the service's MSS (or an MSS-clamping
//! middlebox) keeps TCP from ever sending are not tried: TCP to that service cannot black-hole
//! them, and the method text says so.
//!
//! On every http(s) check the live session answers the question first, for free: the HTTP
//! request is padded (a harmless `X-Netdiag-Pad` header, inside the TLS record for https) to
//! fill one segment of the connection's MSS ([`plan_segment`]), so the check's own request is a
//! full-size packet, with no extra packet and no extra round trip. TCP_INFO then says whether
//! it was acknowledged, retransmitted, or shrunk by an ICMP frag-needed that taught the kernel
//! a smaller path MTU ([`segment_result`]). While the response has not begun the walk looks at
//! it ([`segment_state`]): unacknowledged after two retransmissions while the handshake's small
//! segments passed is the stall a black hole makes, and the search above runs at once instead
//! of after the whole deadline. `tcp://` targets stay passive: bytes sent to an unknown service
//! are not harmless.
//!
//! This module must never decide a verdict (the classifier in core does), never send ICMP or
//! use raw sockets, never wait past the deadline, and never leave a connection open: every
//! probe connection is closed with a reset (`SO_LINGER` 0) so neither side keeps retrying.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netdiag_core::observe::{
    IcmpKind, LiveSegment, MtuObservation, MtuProbe, MtuProbeResult, RouteOutcome,
};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::{errno_message, route, sys};

/// The most sizes one [`probe`] sends (each one connection, plus a UDP datagram for a TooBig).
pub const MAX_PROBES: usize = 8;

/// The largest size tried. Only loopback and host-internal links are larger, and there a
/// 64 KiB segment would be split by the receive window, so the size under test would be a lie.
const TOP_CAP: u32 = 9000;
/// The smallest size tried: well below any tunnel overhead, above IPv4's 576 floor.
const FLOOR_V4: u32 = 1200;
/// IPv6's minimum link MTU (RFC 8200): every IPv6 path carries 1280.
const FLOOR_V6: u32 = 1280;
/// The search stops once the largest Passed and the smallest failed size are this close.
const RESOLUTION: u32 = 4;
/// At most this long for a probe connection's handshake (the service accepted one moments ago).
const CONNECT_BUDGET: Duration = Duration::from_secs(2);
/// Bounds on the wait for an acknowledgement: one retransmission timeout plus two round trips.
const MIN_WAIT: Duration = Duration::from_millis(100);
const MAX_WAIT: Duration = Duration::from_secs(2);
/// Linux's smallest retransmission timeout (`TCP_RTO_MIN`).
const RTO_MIN: Duration = Duration::from_millis(200);
/// How often TCP_INFO is read while waiting.
const STEP: Duration = Duration::from_millis(5);
/// Connections opened per [`probe`], counting those whose size the service's MSS ruled out.
const MAX_CONNECTIONS: usize = MAX_PROBES + 4;

/// `tcpi_state` values.
const TCP_CLOSE: u8 = 7;
const TCP_HEADER: u32 = 20;
const TIMESTAMP_OPTION: u32 = 12;

/// Active probe of the path MTU to `requested`, a TCP service that accepted a connection moments
/// ago. Sends at most [`MAX_PROBES`] full-size segments, each on its own connection, and never
/// waits past `deadline`. Failures of the target are data in the observation; `unavailable` is
/// set only when not a single size could be tried.
pub fn probe(requested: SocketAddr, deadline: Instant) -> MtuObservation {
    // A v4-mapped IPv6 address is IPv4 on the wire: IPv4 headers, IPv4 sockets.
    let address = SocketAddr::new(requested.ip().to_canonical(), requested.port());
    let family = Family::of(address);
    let interface_mtu = interface_mtu(address.ip());
    let cached_before = kernel_path_mtu(address);
    let top = interface_mtu
        .or(cached_before)
        .unwrap_or(1500)
        .min(TOP_CAP)
        .max(family.floor);
    let mut notes = Vec::new();
    if let (Some(cached), Some(interface)) = (cached_before, interface_mtu) {
        // IP_MTU never exceeds 65535 (IP_MAX_MTU), even on a 65536-byte loopback.
        if cached < interface.min(65535) {
            notes.push(format!(
                "the kernel already held path MTU {cached} (below the interface's {interface}) \
                 before probing"
            ));
        }
    }
    if interface_mtu.is_some_and(|m| m > TOP_CAP) {
        notes.push(format!("sizes above {TOP_CAP} not tried"));
    }

    let mut search = Search::new(top, family.floor);
    let mut probes = Vec::new();
    let mut stopped: Option<String> = None;
    let mut connections = 0usize;
    while let Some(size) = search.next_size() {
        if probes.len() >= MAX_PROBES || connections >= MAX_CONNECTIONS {
            break;
        }
        if Instant::now() >= deadline {
            stopped = Some("the deadline came before the search ended".to_string());
            break;
        }
        connections += 1;
        match probe_size(address, family, size, deadline) {
            Attempt::Sent(result) => {
                search.record(size, &result);
                probes.push(MtuProbe { size, result });
            }
            Attempt::Capped { largest } => {
                notes.push(format!(
                    "the service (or an MSS-clamping middlebox) allows TCP segments only up to \
                     {largest} bytes of IP packet, so larger sizes were not tried: TCP to it \
                     never sends them"
                ));
                search.cap(largest);
            }
            Attempt::Inconclusive(reason) => {
                stopped = Some(format!("size {size}: {reason}"));
                break;
            }
        }
    }

    let mut method = format!(
        "TCP to {address} with the MSS clamped per size (TCP_MAXSEG), one full-size segment \
         each, acknowledgement and path MTU read from TCP_INFO; the ICMP sender of a too-big \
         size from one DF UDP datagram (IP_PMTUDISC_PROBE) of that size; sizes {}..{top}",
        family.floor
    );
    for note in &notes {
        method.push_str("; ");
        method.push_str(note);
    }
    if let (Some(reason), false) = (&stopped, probes.is_empty()) {
        method.push_str("; stopped early: ");
        method.push_str(reason);
    }
    let unavailable = if probes.is_empty() {
        Some(stopped.unwrap_or_else(|| "no size could be tried".to_string()))
    } else {
        None
    };
    MtuObservation {
        address: requested,
        method,
        interface_mtu,
        kernel_path_mtu: kernel_path_mtu(address),
        probes,
        unavailable,
        live_segment: None,
    }
}

/// Passive: what the kernel knows about an open TCP connection (`IP_MTU`/`IPV6_MTU`, TCP_INFO's
/// `tcpi_pmtu` and `tcpi_snd_mss`) and the outgoing interface's MTU. No packets are sent; the
/// TCP_INFO figures are in `method`, since the observation has no fields of their own for them.
pub fn passive(stream: &TcpStream) -> MtuObservation {
    let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    let sock = SockRef::from(stream);
    let mut obs = MtuObservation {
        address: stream.peer_addr().unwrap_or(unspecified),
        method: PASSIVE_METHOD.to_string(),
        interface_mtu: None,
        kernel_path_mtu: None,
        probes: Vec::new(),
        unavailable: None,
        live_segment: None,
    };
    let peer = match stream.peer_addr() {
        // A v4-mapped peer is IPv4 on the wire (IPv4 headers, IPv4 route).
        Ok(peer) => SocketAddr::new(peer.ip().to_canonical(), peer.port()),
        Err(e) => {
            obs.unavailable = Some(format!("the connection has no peer: {}", describe(&e)));
            return obs;
        }
    };
    // The option level follows the socket's family: a v4-mapped peer on an IPv6 socket still
    // answers IPV6_MTU.
    let v6 = stream.local_addr().map(|a| a.is_ipv6()).unwrap_or(false);
    obs.interface_mtu = interface_mtu(peer.ip());
    match sys::path_mtu(&sock, v6) {
        Ok(mtu) => obs.kernel_path_mtu = Some(mtu),
        Err(e) => obs.unavailable = Some(format!("IP_MTU: {}", describe(&e))),
    }
    match sys::tcp_info(&sock) {
        Ok(info) => {
            let header = Family::of(peer).ip_header + TCP_HEADER + option_len(&info);
            obs.method.push_str(&format!(
                "; TCP_INFO: path MTU {}, send MSS {} (segments of at most {} bytes of IP \
                 packet), {} retransmissions",
                info.pmtu,
                info.snd_mss,
                info.snd_mss.saturating_add(header),
                info.total_retrans
            ));
        }
        Err(e) => {
            obs.unavailable
                .get_or_insert_with(|| format!("TCP_INFO: {}", describe(&e)));
        }
    }
    obs
}

/// How [`passive`] measures.
pub const PASSIVE_METHOD: &str =
    "passive: IP_MTU and TCP_INFO of the open connection, no packets sent";
/// How [`passive`] measures when the session's own request filled a segment first.
pub const SESSION_METHOD: &str =
    "the session's own HTTP request, padded to fill one segment; IP_MTU and TCP_INFO of the open connection, no other packets sent";

/// The most bytes a padded request may have. Servers cap a request head (nginx 8 KiB per line,
/// Apache 8190 bytes per field, older Node.js 8 KiB in all), so on a path whose MSS is larger
/// (loopback, jumbo frames) the request stays below this and the segment is not full-size.
pub const PAD_CAP: u32 = 8000;

/// Retransmissions of an unacknowledged request that make it a stall: one could be chance,
/// two in a row of the same full-size segment, after the handshake's small segments passed,
/// is what a black hole looks like (about 0.6 s on a LAN: RTO, then twice RTO).
const STALL_RETRANSMITS: u32 = 2;
/// One retransmission is enough once the request has been outstanding this long: a connection
/// whose SYN needed a retransmission starts with a 3 s RTO (RFC 6298 5.7), so its second
/// retransmission would come only after 9 s.
const STALL_AFTER_ONE: Duration = Duration::from_millis(1500);

/// Before the HTTP request goes out on the live session: how many bytes fill one segment and
/// what TCP_INFO said of the connection, to compare with afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPlan {
    /// Bytes to write so that they fill one segment (`tcpi_snd_mss`, at most [`PAD_CAP`]).
    pub fill: u32,
    /// Whether `fill` is the whole MSS (false when [`PAD_CAP`] cut it).
    pub full: bool,
    /// The IP packet size of a segment of `fill` bytes.
    pub size: u32,
    retrans_before: u32,
    pmtu_before: u32,
    planned_at: Instant,
}

/// What one look at TCP_INFO during the exchange says of the segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentState {
    /// Still outstanding, not (yet) a stall.
    Waiting,
    /// Acknowledged (or the connection moved on): no need to look again.
    Settled,
    /// Retransmitted while unacknowledged: what TCP_INFO showed.
    Stalled(String),
}

/// Reads TCP_INFO of the session's socket before the request is written. `None` when it cannot
/// be read (then nothing is padded).
pub fn plan_segment(stream: &TcpStream) -> Option<SegmentPlan> {
    let info = sys::tcp_info(&SockRef::from(stream)).ok()?;
    let peer = stream.peer_addr().ok()?;
    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
    if info.snd_mss == 0 {
        return None;
    }
    let fill = info.snd_mss.min(PAD_CAP);
    Some(SegmentPlan {
        fill,
        full: fill == info.snd_mss,
        size: fill + Family::of(peer).ip_header + TCP_HEADER + option_len(&info),
        retrans_before: info.total_retrans,
        pmtu_before: info.pmtu,
        planned_at: Instant::now(),
    })
}

/// One look at the segment while the response has not begun: a stall is the request still
/// unacknowledged after [`STALL_RETRANSMITS`] retransmissions (or one, once it has been
/// outstanding [`STALL_AFTER_ONE`]) with no ICMP having lowered the path MTU (which would mean
/// the kernel adapts, not a black hole).
pub fn segment_state(stream: &TcpStream, plan: &SegmentPlan) -> SegmentState {
    let Ok(info) = sys::tcp_info(&SockRef::from(stream)) else {
        return SegmentState::Settled;
    };
    if info.unacked == 0 || info.state == TCP_CLOSE {
        return SegmentState::Settled;
    }
    let retransmits = info.total_retrans.saturating_sub(plan.retrans_before);
    if info.pmtu != 0 && info.pmtu < plan.pmtu_before {
        return SegmentState::Waiting;
    }
    let outstanding = plan.planned_at.elapsed();
    if retransmits >= STALL_RETRANSMITS || (retransmits >= 1 && outstanding >= STALL_AFTER_ONE) {
        return SegmentState::Stalled(format!(
            "the request's {}-byte segment was retransmitted {retransmits} time(s) and not \
             acknowledged after {} ms (TCP_INFO: {} segment(s) outstanding, path MTU {}, RTO {} \
             ms), while the handshake's small segments passed",
            plan.size,
            outstanding.as_millis(),
            info.unacked,
            info.pmtu,
            info.rto_us / 1000
        ));
    }
    SegmentState::Waiting
}

/// After the exchange: was the segment acknowledged, and what did the kernel learn meanwhile.
/// `bytes` were written for it, carrying `carried`.
pub fn segment_result(
    stream: &TcpStream,
    plan: &SegmentPlan,
    bytes: u32,
    carried: String,
) -> LiveSegment {
    let info = sys::tcp_info(&SockRef::from(stream)).ok();
    let unacked = info.as_ref().map_or(u32::MAX, |i| i.unacked);
    LiveSegment {
        size: plan.size,
        full: plan.full && bytes >= plan.fill,
        carried,
        bytes,
        // Nothing outstanding: everything written, the request included, was acknowledged.
        acked: unacked == 0,
        retransmits: info
            .as_ref()
            .map_or(0, |i| i.total_retrans.saturating_sub(plan.retrans_before)),
        pmtu_before: plan.pmtu_before,
        pmtu_after: info.map_or(plan.pmtu_before, |i| i.pmtu),
    }
}

/// Header sizes that differ between IPv4 and IPv6.
#[derive(Debug, Clone, Copy)]
struct Family {
    v6: bool,
    ip_header: u32,
    floor: u32,
}

impl Family {
    fn of(address: SocketAddr) -> Family {
        if address.is_ipv6() {
            Family {
                v6: true,
                ip_header: 40,
                floor: FLOOR_V6,
            }
        } else {
            Family {
                v6: false,
                ip_header: 20,
                floor: FLOOR_V4,
            }
        }
    }
}

/// What one connection told about one size.
#[derive(Debug)]
enum Attempt {
    /// A segment of the size was sent (or the kernel refused it from its cached path MTU).
    Sent(MtuProbeResult),
    /// The service's MSS keeps TCP below the size; nothing was sent. `largest` is the biggest
    /// IP packet the connection would send.
    Capped { largest: u32 },
    /// Not a size signal: the connection failed, was reset, or the deadline cut the wait short.
    Inconclusive(String),
}

fn probe_size(address: SocketAddr, family: Family, size: u32, deadline: Instant) -> Attempt {
    let clamp = size.saturating_sub(family.ip_header + TCP_HEADER);
    let sock = match connect_clamped(address, clamp, deadline) {
        Ok(sock) => sock,
        Err(reason) => return Attempt::Inconclusive(reason),
    };
    let info = match sys::tcp_info(&sock) {
        Ok(info) => info,
        Err(e) => return Attempt::Inconclusive(format!("TCP_INFO: {}", describe(&e))),
    };
    let wait = ack_wait(&info);
    if info.pmtu != 0 && info.pmtu < size {
        // The kernel already learned (from an earlier ICMP) that this size does not fit; it will
        // not send it. Ask the path again to name the router.
        return Attempt::Sent(too_big(address, family, size, info.pmtu, wait, deadline));
    }
    let header = family.ip_header + TCP_HEADER + option_len(&info);
    let payload = size.saturating_sub(header);
    if info.snd_mss < payload {
        return Attempt::Capped {
            largest: info.snd_mss.saturating_add(header),
        };
    }
    let Ok(payload_len) = usize::try_from(payload) else {
        return Attempt::Inconclusive("size does not fit in memory".to_string());
    };
    let acked_before = info.bytes_acked.unwrap_or(0);
    // CR LF pairs: an HTTP server skips them as empty lines before a request; anything else just
    // sees a few odd bytes before the reset.
    let data: Vec<u8> = b"\r\n".iter().copied().cycle().take(payload_len).collect();
    match sock.send(&data) {
        Ok(n) if n == payload_len => {}
        Ok(n) => return Attempt::Inconclusive(format!("only {n} of {payload_len} bytes queued")),
        Err(e) => return Attempt::Inconclusive(format!("send: {}", describe(&e))),
    }

    let natural = Instant::now() + wait;
    let until = deadline.min(natural);
    let cut_short = deadline < natural;
    let mut last = info;
    let max_steps = wait.as_millis() / STEP.as_millis().max(1) + 2;
    for _ in 0..max_steps {
        match sys::tcp_info(&sock) {
            Ok(info) => last = info,
            Err(e) => return Attempt::Inconclusive(format!("TCP_INFO: {}", describe(&e))),
        }
        if last.pmtu < size || acked(&last, acked_before, payload) || last.state == TCP_CLOSE {
            break;
        }
        let now = Instant::now();
        if now >= until {
            break;
        }
        std::thread::sleep(STEP.min(until - now));
    }

    if last.pmtu != 0 && last.pmtu < size {
        Attempt::Sent(too_big(address, family, size, last.pmtu, wait, deadline))
    } else if acked(&last, acked_before, payload) {
        Attempt::Sent(MtuProbeResult::Passed)
    } else if last.state == TCP_CLOSE {
        Attempt::Inconclusive("the service reset the connection before acknowledging".into())
    } else if cut_short {
        Attempt::Inconclusive("the deadline cut the wait for an acknowledgement short".into())
    } else {
        Attempt::Sent(MtuProbeResult::Lost)
    }
}

/// True once the peer acknowledged all `payload` bytes sent after the handshake.
fn acked(info: &sys::TcpInfo, acked_before: u64, payload: u32) -> bool {
    match info.bytes_acked {
        Some(now) => now.saturating_sub(acked_before) >= u64::from(payload),
        // Kernels before 4.1: nothing outstanding on a connection that is still open.
        None => info.unacked == 0 && info.state != TCP_CLOSE,
    }
}

fn option_len(info: &sys::TcpInfo) -> u32 {
    if info.options & sys::TCPI_OPT_TIMESTAMPS != 0 {
        TIMESTAMP_OPTION
    } else {
        0
    }
}

/// One retransmission timeout plus two round trips: long enough for one retransmission of a
/// segment lost by chance and its acknowledgement, short enough that a black-holed size costs
/// a fraction of a second on a LAN.
///
/// The timeout counted is at most [`RTO_MIN`] plus four round trips (what RFC 6298 gives a
/// fresh sample): a new connection inherits its RTO from the kernel's per-destination TCP
/// metrics, which a handshake that needed a SYN retransmission inflates to seconds, and a
/// retransmission that late would not be waited for anyway.
fn ack_wait(info: &sys::TcpInfo) -> Duration {
    let rto = Duration::from_micros(u64::from(info.rto_us));
    let rtt = Duration::from_micros(u64::from(info.rtt_us));
    (rto.min(RTO_MIN + rtt * 4) + rtt * 2).clamp(MIN_WAIT, MAX_WAIT)
}

/// Opens a TCP connection whose segments carry at most `mss` bytes (before options) and waits
/// for the handshake, at most [`CONNECT_BUDGET`] and never past `deadline`.
fn connect_clamped(address: SocketAddr, mss: u32, deadline: Instant) -> Result<Socket, String> {
    let sock = Socket::new(
        Domain::for_address(address),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )
    .map_err(|e| format!("socket: {}", describe(&e)))?;
    // Before connect(): the MSS we announce in the SYN is what the kernel clamps to.
    sock.set_tcp_mss(mss)
        .map_err(|e| format!("TCP_MAXSEG {mss}: {}", describe(&e)))?;
    sock.set_tcp_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {}", describe(&e)))?;
    // Close with a reset: a black-holed segment must not keep being retransmitted after we left.
    sock.set_linger(Some(Duration::ZERO))
        .map_err(|e| format!("SO_LINGER: {}", describe(&e)))?;
    match sock.connect(&address.into()) {
        Ok(()) => return Ok(sock),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(format!("connect: {}", describe(&e))),
    }
    let until = deadline.min(Instant::now() + CONNECT_BUDGET);
    // Each round either sees the socket ready, reaches `until`, or was interrupted.
    for _ in 0..64 {
        let mut fds = [libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        }];
        let remaining = until.saturating_duration_since(Instant::now());
        let ready =
            sys::poll(&mut fds, remaining).map_err(|e| format!("poll: {}", describe(&e)))?;
        if ready > 0 {
            return match sock.take_error() {
                Ok(None) => Ok(sock),
                Ok(Some(e)) | Err(e) => Err(format!("connect: {}", describe(&e))),
            };
        }
        if remaining.is_zero() {
            break;
        }
    }
    Err("the handshake did not complete in time".to_string())
}

/// A size the path refused: the kernel's path MTU `pmtu` is the fallback MTU; the ICMP sender
/// and the MTU it named come from one DF UDP datagram of the same size.
fn too_big(
    address: SocketAddr,
    family: Family,
    size: u32,
    pmtu: u32,
    wait: Duration,
    deadline: Instant,
) -> MtuProbeResult {
    match icmp_too_big(address, family, size, deadline.min(Instant::now() + wait)) {
        Some((mtu, from)) => MtuProbeResult::TooBig {
            mtu: Some(if mtu == 0 { pmtu } else { mtu }),
            from: Some(from),
        },
        None => MtuProbeResult::TooBig {
            mtu: Some(pmtu),
            from: None,
        },
    }
}

/// Sends one UDP datagram making an IP packet of `size` bytes, DF set and the cached path MTU
/// ignored, to the service's address and port, and waits until `until` for an ICMP
/// frag-needed / packet-too-big: `(mtu it names, its sender)`. Any other ICMP (the service's
/// host answering port-unreachable) or silence gives `None`.
fn icmp_too_big(
    address: SocketAddr,
    family: Family,
    size: u32,
    until: Instant,
) -> Option<(u32, IpAddr)> {
    let sock = Socket::new(
        Domain::for_address(address),
        Type::DGRAM.nonblocking(),
        Some(Protocol::UDP),
    )
    .ok()?;
    sys::enable_recverr(&sock, family.v6).ok()?;
    sys::set_pmtudisc_probe(&sock, family.v6).ok()?;
    sock.connect(&address.into()).ok()?;
    let len = usize::try_from(size.saturating_sub(family.ip_header + 8)).ok()?;
    sock.send(&vec![0u8; len]).ok()?;
    // Each round sees an error entry, reaches `until`, or was interrupted.
    for _ in 0..64 {
        let mut fds = [libc::pollfd {
            fd: sock.as_raw_fd(),
            events: 0,
            revents: 0,
        }];
        let remaining = until.saturating_duration_since(Instant::now());
        sys::poll(&mut fds, remaining).ok()?;
        if let Some(icmp) = sys::read_icmp_error(&sock).ok().flatten() {
            return match (icmp.kind(), icmp.offender) {
                (IcmpKind::FragmentationNeeded, Some(from)) => Some((icmp.info, from)),
                _ => None,
            };
        }
        if remaining.is_zero() {
            break;
        }
    }
    None
}

/// The kernel's current path MTU towards `address` (a connected UDP socket's `IP_MTU`; connecting
/// a UDP socket sends nothing).
fn kernel_path_mtu(address: SocketAddr) -> Option<u32> {
    let sock = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .ok()?;
    sock.connect(&address.into()).ok()?;
    sys::path_mtu(&sock, address.is_ipv6()).ok()
}

/// The MTU of the interface the kernel routes `destination` through (RTM_GETROUTE, then sysfs).
fn interface_mtu(destination: IpAddr) -> Option<u32> {
    let RouteOutcome::Route {
        interface: Some(name),
        ..
    } = route::lookup(destination)
    else {
        return None;
    };
    // The name comes from sysfs or is "ifN"; refuse anything that could leave /sys/class/net.
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return None;
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn describe(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(errno) => errno_message(errno),
        None => err.to_string(),
    }
}

/// Which size to try next: pure, so the search policy is tested without sockets.
///
/// Starts at the top (a healthy path costs one connection), then the floor (if even that fails
/// the problem is not the MTU), then follows the MTU a router named, then bisects between the
/// largest size that passed and the smallest that did not.
#[derive(Debug, Clone)]
struct Search {
    top: u32,
    floor: u32,
    tried: Vec<u32>,
    /// The largest size that passed.
    good: Option<u32>,
    /// The smallest size that did not pass.
    bad: Option<u32>,
    /// An MTU named by a TooBig that has not been tried yet.
    hint: Option<u32>,
    /// The MTU a router named in the latest TooBig.
    named_mtu: Option<u32>,
    /// A size at or above the named MTU passed: the router's word is confirmed, done.
    confirmed: bool,
}

impl Search {
    fn new(top: u32, floor: u32) -> Search {
        Search {
            top: top.max(floor),
            floor,
            tried: Vec::new(),
            good: None,
            bad: None,
            hint: None,
            named_mtu: None,
            confirmed: false,
        }
    }

    /// The service's MSS allows nothing above `largest`: lower the top.
    fn cap(&mut self, largest: u32) {
        self.top = largest.min(self.top);
        if self.bad.is_some_and(|bad| bad > self.top) {
            self.bad = None;
        }
    }

    fn record(&mut self, size: u32, result: &MtuProbeResult) {
        self.tried.push(size);
        match result {
            MtuProbeResult::Passed => {
                self.good = Some(self.good.map_or(size, |g| g.max(size)));
                if self.named_mtu.is_some_and(|m| size >= m) {
                    self.confirmed = true;
                }
            }
            MtuProbeResult::TooBig { mtu, .. } => {
                self.bad = Some(self.bad.map_or(size, |b| b.min(size)));
                if let Some(m) = mtu.filter(|&m| m < size && m >= self.floor) {
                    self.named_mtu = Some(m);
                    self.hint = Some(m);
                }
            }
            MtuProbeResult::Lost => {
                self.bad = Some(self.bad.map_or(size, |b| b.min(size)));
            }
        }
    }

    fn next_size(&mut self) -> Option<u32> {
        let candidate = self.choose()?;
        if self.tried.contains(&candidate) {
            return None;
        }
        Some(candidate)
    }

    fn choose(&mut self) -> Option<u32> {
        if self.tried.is_empty() {
            return Some(self.top);
        }
        let bad = self.bad?;
        if self.confirmed || self.good.is_some_and(|g| g >= bad) {
            // Done, or inconsistent (a smaller size failed where a larger passed): more probes
            // would not make the answer truer.
            return None;
        }
        if let Some(hint) = self.hint.take() {
            if hint < bad && self.good.is_none_or(|g| hint > g) && !self.tried.contains(&hint) {
                return Some(hint);
            }
        }
        match self.good {
            None if bad > self.floor => Some(self.floor),
            None => None,
            Some(good) if bad - good <= RESOLUTION => None,
            Some(good) => Some(good + (bad - good) / 2),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::net::TcpListener;

    /// Drives the search against a path whose behaviour per size is `path`, as `probe` does.
    fn run(mut search: Search, path: impl Fn(u32) -> MtuProbeResult) -> Vec<(u32, MtuProbeResult)> {
        let mut out = Vec::new();
        while let Some(size) = search.next_size() {
            assert!(out.len() < 64, "search does not end: {out:?}");
            let result = path(size);
            search.record(size, &result);
            out.push((size, result));
        }
        out
    }

    fn sizes(steps: &[(u32, MtuProbeResult)]) -> Vec<u32> {
        steps.iter().map(|(s, _)| *s).collect()
    }

    fn router_says(mtu: u32) -> impl Fn(u32) -> MtuProbeResult {
        move |size| {
            if size <= mtu {
                MtuProbeResult::Passed
            } else {
                MtuProbeResult::TooBig {
                    mtu: Some(mtu),
                    from: Some("10.88.0.2".parse().unwrap()),
                }
            }
        }
    }

    fn black_hole_above(mtu: u32) -> impl Fn(u32) -> MtuProbeResult {
        move |size| {
            if size <= mtu {
                MtuProbeResult::Passed
            } else {
                MtuProbeResult::Lost
            }
        }
    }

    #[test]
    fn healthy_full_size_path_costs_one_probe() {
        let steps = run(Search::new(1500, FLOOR_V4), |_| MtuProbeResult::Passed);
        assert_eq!(sizes(&steps), [1500]);
    }

    #[test]
    fn smaller_path_mtu_named_by_a_router_is_confirmed_in_two_probes() {
        let steps = run(Search::new(1500, FLOOR_V4), router_says(1400));
        assert_eq!(sizes(&steps), [1500, 1400]);
        assert_eq!(steps[1].1, MtuProbeResult::Passed);
    }

    #[test]
    fn two_routers_naming_smaller_mtus_are_followed() {
        let path = |size: u32| match size {
            s if s <= 1380 => MtuProbeResult::Passed,
            s if s <= 1450 => MtuProbeResult::TooBig {
                mtu: Some(1380),
                from: None,
            },
            _ => MtuProbeResult::TooBig {
                mtu: Some(1450),
                from: None,
            },
        };
        assert_eq!(
            sizes(&run(Search::new(1500, FLOOR_V4), path)),
            [1500, 1450, 1380]
        );
    }

    #[test]
    fn black_hole_is_bisected_to_within_the_resolution() {
        let steps = run(Search::new(1500, FLOOR_V4), black_hole_above(1420));
        assert_eq!(&sizes(&steps)[..2], [1500, 1200]);
        let good = steps
            .iter()
            .filter(|(_, r)| *r == MtuProbeResult::Passed)
            .map(|(s, _)| *s)
            .max()
            .unwrap();
        let bad = steps
            .iter()
            .filter(|(_, r)| *r == MtuProbeResult::Lost)
            .map(|(s, _)| *s)
            .min()
            .unwrap();
        assert!(
            good <= 1420 && bad > 1420 && bad - good <= RESOLUTION,
            "{steps:?}"
        );
        // What `probe` keeps within MAX_PROBES is still a bracket around the real MTU.
        assert!(steps.len() <= 10, "{steps:?}");
    }

    #[test]
    fn ipv6_black_hole_at_the_minimum_is_bracketed_and_never_searched_below_1280() {
        let steps = run(Search::new(1500, FLOOR_V6), black_hole_above(1280));
        assert_eq!(&sizes(&steps)[..2], [1500, 1280]);
        assert!(steps.iter().all(|(s, _)| *s >= FLOOR_V6), "{steps:?}");
        let good = steps
            .iter()
            .filter(|(_, r)| *r == MtuProbeResult::Passed)
            .map(|(s, _)| *s)
            .max();
        assert_eq!(good, Some(1280), "{steps:?}");
        // Within MAX_PROBES the bracket above 1280 is already narrow.
        let within = &steps[..MAX_PROBES.min(steps.len())];
        let bad = within
            .iter()
            .filter(|(_, r)| *r == MtuProbeResult::Lost)
            .map(|(s, _)| *s)
            .min()
            .unwrap();
        assert!(bad - 1280 <= RESOLUTION, "{within:?}");
    }

    #[test]
    fn ipv6_packet_too_big_naming_less_than_1280_is_not_followed() {
        // RFC 8200 §5: an IPv6 node never has to send less than 1280; a PTB naming less is not
        // a size to try.
        let steps = run(Search::new(1500, FLOOR_V6), |size| {
            if size <= 1280 {
                MtuProbeResult::Passed
            } else {
                MtuProbeResult::TooBig {
                    mtu: Some(1000),
                    from: Some("fd88::2".parse().unwrap()),
                }
            }
        });
        assert_eq!(&sizes(&steps)[..2], [1500, 1280]);
        assert!(steps.iter().all(|(s, _)| *s >= FLOOR_V6), "{steps:?}");
    }

    #[test]
    fn ipv6_nothing_passing_stops_at_1280() {
        let steps = run(Search::new(1500, FLOOR_V6), |_| MtuProbeResult::Lost);
        assert_eq!(sizes(&steps), [1500, 1280]);
    }

    #[test]
    fn nothing_passing_stops_after_the_floor() {
        let steps = run(Search::new(1500, FLOOR_V4), |_| MtuProbeResult::Lost);
        assert_eq!(sizes(&steps), [1500, 1200]);
    }

    #[test]
    fn a_router_naming_an_mtu_that_then_black_holes_falls_back_to_bisecting() {
        // The router says 1400, but 1400 is lost too (a second, silent bottleneck).
        let path = |size: u32| match size {
            s if s <= 1300 => MtuProbeResult::Passed,
            s if s <= 1400 => MtuProbeResult::Lost,
            _ => MtuProbeResult::TooBig {
                mtu: Some(1400),
                from: None,
            },
        };
        let steps = run(Search::new(1500, FLOOR_V4), path);
        assert_eq!(&sizes(&steps)[..3], [1500, 1400, 1200]);
    }

    #[test]
    fn mss_cap_lowers_the_top() {
        let mut search = Search::new(1500, FLOOR_V4);
        assert_eq!(search.next_size(), Some(1500));
        search.cap(1400);
        assert_eq!(search.next_size(), Some(1400));
        search.record(1400, &MtuProbeResult::Passed);
        assert_eq!(search.next_size(), None);
    }

    #[test]
    fn inconsistent_results_stop_the_search() {
        // A pass above a loss is noise (or a path that changed): no size would settle it.
        let mut search = Search::new(1500, FLOOR_V4);
        search.record(1500, &MtuProbeResult::Passed);
        search.record(1400, &MtuProbeResult::Lost);
        assert_eq!(search.next_size(), None);
    }

    /// A listener that never reads: the kernel still acknowledges what fits in its buffer, which
    /// is all the probe needs. Kept open by the returned value.
    fn silent_listener(ip: &str) -> Option<(TcpListener, SocketAddr)> {
        let listener = TcpListener::bind((ip, 0)).ok()?;
        let address = listener.local_addr().ok()?;
        Some((listener, address))
    }

    #[test]
    fn passive_on_a_loopback_connection_reports_the_loopback_mtu() {
        let (_listener, address) = silent_listener("127.0.0.1").unwrap();
        let stream = TcpStream::connect(address).unwrap();
        let obs = passive(&stream);
        let lo = interface_mtu("127.0.0.1".parse().unwrap()).unwrap();
        assert!(lo >= 1500, "{lo}");
        assert_eq!(obs.address, address);
        assert_eq!(obs.interface_mtu, Some(lo));
        // IPv4 caps a route's MTU at 65535 (IP_MAX_MTU), below loopback's 65536.
        assert_eq!(obs.kernel_path_mtu, Some(lo.min(65535)));
        assert_eq!(obs.unavailable, None);
        assert!(obs.probes.is_empty());
        assert!(obs.method.contains("send MSS"), "{}", obs.method);
    }

    #[test]
    fn passive_on_ipv6_loopback_reads_ipv6_mtu() {
        let Some((_listener, address)) = silent_listener("::1") else {
            eprintln!("skipped: ::1 unavailable");
            return;
        };
        let stream = TcpStream::connect(address).unwrap();
        let obs = passive(&stream);
        assert!(obs.kernel_path_mtu.is_some_and(|m| m >= 1280), "{obs:?}");
        assert_eq!(obs.unavailable, None);
    }

    #[test]
    fn probe_on_loopback_passes_the_top_size_in_one_probe() {
        let (_listener, address) = silent_listener("127.0.0.1").unwrap();
        let started = Instant::now();
        let obs = probe(address, Instant::now() + Duration::from_secs(5));
        assert_eq!(obs.unavailable, None, "{obs:?}");
        assert_eq!(
            obs.probes,
            [MtuProbe {
                size: TOP_CAP,
                result: MtuProbeResult::Passed
            }]
        );
        assert!(obs.method.contains("TCP_MAXSEG"), "{}", obs.method);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn every_size_of_the_search_passes_on_loopback_v4_and_v6() {
        for ip in ["127.0.0.1", "::1"] {
            let Some((_listener, address)) = silent_listener(ip) else {
                eprintln!("skipped: {ip} unavailable");
                continue;
            };
            let family = Family::of(address);
            let deadline = Instant::now() + Duration::from_secs(5);
            for size in [family.floor, 1400, 1500, 4000, TOP_CAP] {
                match probe_size(address, family, size, deadline) {
                    Attempt::Sent(MtuProbeResult::Passed) => {}
                    other => panic!("{ip} size {size}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn v4_mapped_address_is_probed_as_ipv4() {
        let (_listener, address) = silent_listener("127.0.0.1").unwrap();
        let IpAddr::V4(v4) = address.ip() else {
            unreachable!()
        };
        let mapped = SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), address.port());
        let obs = probe(mapped, Instant::now() + Duration::from_secs(5));
        assert_eq!(obs.address, mapped);
        assert!(obs.method.contains("sizes 1200.."), "{}", obs.method);
        assert_eq!(obs.unavailable, None);
    }

    #[test]
    fn probe_to_a_closed_port_is_unavailable_not_a_black_hole() {
        let address = {
            let (listener, address) = silent_listener("127.0.0.1").unwrap();
            drop(listener);
            address
        };
        let obs = probe(address, Instant::now() + Duration::from_secs(2));
        assert!(obs.probes.is_empty());
        let reason = obs.unavailable.unwrap();
        assert!(reason.contains("refused"), "{reason}");
    }

    #[test]
    fn probe_respects_a_deadline_already_past() {
        let (_listener, address) = silent_listener("127.0.0.1").unwrap();
        let obs = probe(address, Instant::now());
        assert!(obs.probes.is_empty());
        assert!(obs.unavailable.is_some());
    }

    #[test]
    fn a_padded_request_on_loopback_is_planned_capped_and_acknowledged() {
        use std::io::Write;
        let (listener, address) = silent_listener("127.0.0.1").unwrap();
        let mut stream = TcpStream::connect(address).unwrap();
        let _server = listener.accept().unwrap();
        let plan = plan_segment(&stream).unwrap();
        // Loopback's MSS is far above what a request head may be.
        assert_eq!(plan.fill, PAD_CAP);
        assert!(!plan.full);
        assert!(plan.size >= PAD_CAP + 40, "{plan:?}");
        stream.write_all(&vec![b'x'; PAD_CAP as usize]).unwrap();
        let mut state = segment_state(&stream, &plan);
        for _ in 0..200 {
            if state == SegmentState::Settled {
                break;
            }
            assert_eq!(state, SegmentState::Waiting);
            std::thread::sleep(STEP);
            state = segment_state(&stream, &plan);
        }
        assert_eq!(state, SegmentState::Settled);
        let seg = segment_result(&stream, &plan, PAD_CAP, "test bytes".into());
        assert!(seg.acked, "{seg:?}");
        assert!(!seg.full);
        assert_eq!(seg.retransmits, 0);
        assert_eq!(seg.pmtu_after, seg.pmtu_before);
        assert_eq!((seg.bytes, seg.size), (PAD_CAP, plan.size));
    }

    #[test]
    fn ack_wait_is_bounded() {
        let mut info = sys::parse_tcp_info(&[0u8; 128]).unwrap();
        assert_eq!(ack_wait(&info), MIN_WAIT);
        info.rto_us = 200_000;
        info.rtt_us = 10_000;
        assert_eq!(ack_wait(&info), Duration::from_millis(220));
        // An RTO inherited from inflated TCP metrics is not waited for.
        info.rto_us = 2_676_000;
        assert_eq!(ack_wait(&info), Duration::from_millis(260));
        info.rtt_us = u32::MAX;
        assert_eq!(ack_wait(&info), MAX_WAIT);
    }
}
