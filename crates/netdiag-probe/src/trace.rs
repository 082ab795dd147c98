//! "Where on the path": TTL-limited probes on the flow's own protocol and port, without root.
//!
//! Why: a timeout says only that something dropped the flow. Sending the same flow (a TCP SYN
//! or a UDP datagram to the same port) with TTL 1, 2, 3... shows how far it still gets: every
//! router whose TTL expires answers ICMP time-exceeded, and the last one that answers is where
//! the trail goes cold. A firewall that drops one port usually still lets ICMP out, so this
//! often works where ICMP traceroute's answer would not be about the flow at all.
//!
//! How, unprivileged: one ordinary non-blocking socket per TTL with `IP_TTL` (or
//! `IPV6_UNICAST_HOPS`) and `IP_RECVERR` set *before* `connect()`/`send()`; the router's
//! time-exceeded lands on that socket's error queue with the router's address
//! (`SO_EE_OFFENDER`), and for TCP also aborts the connect. Reaching the destination shows as
//! a completed handshake or a reset (TCP), or a reply or port unreachable (UDP). All TTLs are
//! sent at once and share one deadline, so a trace costs one deadline, not one per hop.
//!
//! Limits: Linux rate-limits ICMP errors per destination host (`net.ipv4.icmp_ratelimit`, a
//! token bucket of about six back-to-back, then one per second), so tracing the same path
//! repeatedly within a second can make a router look silent; the TCP SYN retransmission after
//! one second gives each silent hop a natural second chance within a deadline above a second.
//! A drop in a router's FORWARD chain looks like a drop at the next hop, because the router
//! decrements the TTL and answers time-exceeded before its filter runs.
//!
//! This module must never decide a verdict, wait past the deadline, or send application data;
//! a connection that does complete is closed at once.

use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use netdiag_core::hostfacts::{summarize, Hop, PathTrace};
use netdiag_core::observe::{IcmpError, IcmpKind};
use socket2::{Domain, Protocol, Socket, Type};

use crate::sys;

/// The transport of the flow being traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// A TCP connect (SYN) to the port.
    Tcp,
    /// A UDP datagram (empty) to the port.
    Udp,
}

/// The highest TTL ever sent, whatever the caller asks.
pub const MAX_HOPS: u8 = 64;

/// Traces where a flow to `destination` stops, sending TTL 1..=`max_hops` at once and waiting
/// for answers until `deadline` (or until the destination answered and every lower TTL is
/// settled).
pub fn locate(destination: SocketAddr, proto: Proto, max_hops: u8, deadline: Instant) -> PathTrace {
    let (hops, reached) = hops(destination, proto, max_hops, deadline);
    summarize(hops, reached)
}

/// The observation half of [`locate`]: who answered at each TTL (up to the first terminal
/// answer), and whether the destination itself answered. Concludes nothing.
pub fn hops(
    destination: SocketAddr,
    proto: Proto,
    max_hops: u8,
    deadline: Instant,
) -> (Vec<Hop>, bool) {
    hops_until(
        destination,
        proto,
        max_hops,
        deadline,
        &AtomicBool::new(false),
    )
}

/// How often a running trace looks at its stop flag.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// [`hops`] that also ends (with what it has) within [`STOP_CHECK`] of `stop` being set: for a
/// trace started speculatively alongside a connect that then completes, so it neither sends
/// nor waits for longer than the connect needed.
pub fn hops_until(
    destination: SocketAddr,
    proto: Proto,
    max_hops: u8,
    deadline: Instant,
    stop: &AtomicBool,
) -> (Vec<Hop>, bool) {
    let max_hops = max_hops.clamp(1, MAX_HOPS);
    let mut probes: Vec<Probe> = (1..=max_hops)
        .map(|ttl| Probe::start(destination, proto, ttl))
        .collect();
    wait(&mut probes, destination.ip(), proto, deadline, stop);

    let reached = probes.iter().any(|p| p.reached);
    // Past the destination or a router's rejection, higher TTLs only repeat that answer.
    let last = probes.iter().find(|p| p.terminal()).map(|p| p.ttl);
    let hops = probes
        .iter()
        .filter(|p| last.is_none_or(|r| p.ttl <= r))
        .map(|p| Hop {
            ttl: p.ttl,
            responder: p.responder,
            icmp: p.icmp,
            rtt: p.rtt,
        })
        .collect();
    (hops, reached)
}

struct Probe {
    ttl: u8,
    started: Instant,
    /// `None` once settled (the socket is closed as soon as its answer is known).
    socket: Option<Socket>,
    responder: Option<IpAddr>,
    icmp: Option<IcmpError>,
    rtt: Option<Duration>,
    reached: bool,
}

impl Probe {
    fn start(destination: SocketAddr, proto: Proto, ttl: u8) -> Probe {
        let started = Instant::now();
        let socket = open(destination, proto, ttl).ok();
        Probe {
            ttl,
            started,
            socket,
            responder: None,
            icmp: None,
            rtt: None,
            reached: false,
        }
    }

    /// Reached the destination, or a router rejected the flow (not merely TTL expiry).
    fn terminal(&self) -> bool {
        self.reached
            || self
                .icmp
                .is_some_and(|i| i.kind() != IcmpKind::TimeExceeded)
    }

    fn settle(&mut self, responder: Option<IpAddr>, icmp: Option<IcmpError>, reached: bool) {
        self.socket = None;
        self.rtt = Some(self.started.elapsed());
        self.responder = responder;
        self.icmp = icmp;
        self.reached = reached;
    }
}

/// One socket for one TTL; `None`-like failures (no route, no socket) leave the hop silent.
fn open(destination: SocketAddr, proto: Proto, ttl: u8) -> std::io::Result<Socket> {
    let (kind, protocol) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let sock = Socket::new(
        Domain::for_address(destination),
        kind.nonblocking(),
        Some(protocol),
    )?;
    if destination.is_ipv6() {
        sock.set_unicast_hops_v6(u32::from(ttl))?;
    } else {
        sock.set_ttl_v4(u32::from(ttl))?;
    }
    // Before connect()/send(): only errors for packets sent afterwards are queued.
    sys::enable_recverr(&sock, destination.is_ipv6())?;
    match sock.connect(&destination.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    if proto == Proto::Udp {
        sock.send(&[])?;
    }
    Ok(sock)
}

fn wait(
    probes: &mut [Probe],
    destination: IpAddr,
    proto: Proto,
    deadline: Instant,
    stop: &AtomicBool,
) {
    let events = match proto {
        Proto::Tcp => libc::POLLOUT,
        Proto::Udp => libc::POLLIN,
    };
    // Each round settles a probe, reaches the deadline or a stop check, or was interrupted;
    // bound it anyway.
    let checks = deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        / STOP_CHECK.as_millis();
    let max_rounds = probes
        .len()
        .saturating_mul(8)
        .saturating_add(1000)
        .saturating_add(usize::try_from(checks).unwrap_or(usize::MAX));
    for _ in 0..max_rounds {
        if done(probes) || stop.load(Ordering::Relaxed) {
            return;
        }
        let pending: Vec<usize> = (0..probes.len())
            .filter(|&i| probes[i].socket.is_some())
            .collect();
        let mut fds: Vec<libc::pollfd> = pending
            .iter()
            .filter_map(|&i| probes[i].socket.as_ref())
            .map(|s| libc::pollfd {
                fd: s.as_raw_fd(),
                events,
                revents: 0,
            })
            .collect();
        let remaining = deadline.saturating_duration_since(Instant::now());
        if sys::poll(&mut fds, remaining.min(STOP_CHECK)).is_err() {
            return;
        }
        for (&i, fd) in pending.iter().zip(&fds) {
            if fd.revents != 0 {
                examine(&mut probes[i], destination, proto);
            }
        }
        if Instant::now() >= deadline {
            return;
        }
    }
}

/// Finished when nothing is pending, or when a probe got a final answer (the destination, or
/// a rejection) and every lower TTL has settled (higher TTLs would only repeat it).
fn done(probes: &[Probe]) -> bool {
    match probes.iter().position(Probe::terminal) {
        Some(r) => probes[..r].iter().all(|p| p.socket.is_none()),
        None => probes.iter().all(|p| p.socket.is_none()),
    }
}

fn examine(probe: &mut Probe, destination: IpAddr, proto: Proto) {
    let Some(sock) = &probe.socket else {
        return;
    };
    // SO_ERROR first: reading the error queue clears it.
    let pending = sock.take_error().ok().flatten();
    let icmp = sys::read_icmp_error(sock).ok().flatten();
    if let Some(icmp) = icmp {
        // A TCP socket retransmits its SYN; an ICMP for the retransmission of a probe already
        // settled is gone with the socket, so one answer per TTL is all we read.
        let from_destination = icmp.offender == Some(destination);
        let reached = from_destination || icmp.kind() == IcmpKind::PortUnreachable;
        probe.settle(icmp.offender, Some(icmp), reached);
        return;
    }
    match proto {
        Proto::Tcp => match pending.and_then(|e| e.raw_os_error()) {
            // Handshake complete, or a reset from the destination.
            None | Some(libc::ECONNREFUSED) | Some(libc::ECONNRESET) => {
                probe.settle(Some(destination), None, true);
            }
            // A local error (no route, ...): nothing on the path answered this TTL.
            Some(_) => probe.socket = None,
        },
        Proto::Udp => {
            let mut buf = [MaybeUninit::<u8>::uninit(); 64];
            match sock.recv(&mut buf) {
                Ok(_) => probe.settle(Some(destination), None, true),
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                    probe.settle(Some(destination), None, true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => probe.socket = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_listener_is_reached_at_hop_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let trace = locate(
            target,
            Proto::Tcp,
            4,
            Instant::now() + Duration::from_secs(2),
        );
        assert!(trace.reached, "{trace:?}");
        assert_eq!(trace.hops.len(), 1);
        assert_eq!(trace.hops[0].responder, Some(target.ip()));
        assert_eq!(trace.first_silent, None);
    }

    #[test]
    fn a_stopped_trace_returns_at_once_with_what_it_has() {
        // A bound UDP socket that never replies: the trace would wait for its deadline.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = silent.local_addr().unwrap();
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        let (_hops, reached) = std::thread::scope(|scope| {
            let trace = scope.spawn(|| {
                hops_until(
                    target,
                    Proto::Udp,
                    4,
                    Instant::now() + Duration::from_secs(5),
                    &stop,
                )
            });
            std::thread::sleep(Duration::from_millis(100));
            stop.store(true, Ordering::Relaxed);
            trace.join().unwrap()
        });
        assert!(!reached);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_millis(600), "{took:?}");
    }

    #[test]
    fn closed_loopback_ports_are_reached_for_tcp_and_udp() {
        // Bind, note the port, close: nothing listens there any more.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let target = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(2);
        let udp = locate(target, Proto::Udp, 3, deadline);
        assert!(udp.reached, "{udp:?}");
        let tcp = locate(target, Proto::Tcp, 3, deadline);
        assert!(tcp.reached, "{tcp:?}");
        assert!(Instant::now() < deadline, "settled before the deadline");
    }
}
