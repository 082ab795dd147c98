//! The UDP layer probe: one connected UDP socket per address, all at once, each sending a real
//! request where the port's protocol is known, recorded as [`UdpObservation`]s.
//!
//! UDP has no handshake, so the only evidence is what comes back: a datagram, an ICMP error
//! (read through `IP_RECVERR`, with type, code and sender), or silence. Silence is ambiguous for a
//! service that would not answer our probe anyway, which is why each observation says whether a
//! reply was expected (a known protocol was spoken: DNS on 53, NTP on 123).
//!
//! The request is sent once at the start and once more halfway to the deadline (one lost
//! datagram should not look like a dead service). This module must never decide a verdict, never
//! wait past the deadline, never send more than those two datagrams per address, and never
//! interpret the reply beyond its size.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netdiag_core::observe::{IcmpError, UdpObservation, UdpOutcome};
use socket2::{Domain, Protocol, Socket, Type};

use crate::{errno_message, sys};

/// Probes every address concurrently and reports how each ended, in input order.
///
/// Every probe stops at `deadline` at the latest; `elapsed` is measured per address from the
/// moment its socket was created. Outcomes:
/// - `Reply`: a datagram came back from the address (its size; the content is not checked).
/// - `Icmp`: an ICMP/ICMPv6 error came back (port unreachable, admin prohibited, ...).
/// - `Refused`: `ECONNREFUSED` but no ICMP error could be read from the queue.
/// - `NoResponse`: nothing before the deadline, after two sends.
/// - `Error`: a local error (no route, no socket could be created, ...), errno and text.
pub fn probe_all(addrs: &[SocketAddr], deadline: Instant) -> Vec<UdpObservation> {
    let seed = std::collections::hash_map::RandomState::new();
    let mut probes: Vec<Probe> = addrs
        .iter()
        .map(|&address| {
            let mut hasher = seed.build_hasher();
            hasher.write(address.to_string().as_bytes());
            Probe::start(
                address,
                request_for_port(address.port(), hasher.finish()),
                deadline,
            )
        })
        .collect();
    wait_for_all(&mut probes, deadline);
    probes
        .into_iter()
        .map(|probe| {
            let (outcome, elapsed) = match probe.state {
                State::Done { outcome, elapsed } => (outcome, elapsed),
                State::Waiting(sock) => (no_response(&sock), probe.started.elapsed()),
            };
            UdpObservation {
                address: probe.address,
                payload: probe.request.description,
                reply_expected: probe.request.reply_expected,
                outcome,
                elapsed,
            }
        })
        .collect()
}

/// What we send to one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The datagram.
    pub(crate) bytes: Vec<u8>,
    /// What it is, for the observation.
    pub(crate) description: String,
    /// Whether a healthy service answers it.
    pub(crate) reply_expected: bool,
}

/// Picks the request for a port: a protocol-correct request where we know the protocol, else a
/// tiny datagram that only tells us whether an ICMP error comes back. `nonce` makes the DNS
/// ID and NTP transmit timestamp unpredictable.
pub(crate) fn request_for_port(port: u16, nonce: u64) -> Request {
    match port {
        53 => Request {
            // The DNS ID is the nonce's low 16 bits.
            bytes: dns_root_ns_query(nonce as u16),
            description: "DNS query . NS".into(),
            reply_expected: true,
        },
        123 => Request {
            bytes: ntp_client_request(nonce),
            description: "NTP client request".into(),
            reply_expected: true,
        },
        _ => Request {
            bytes: b"\r\n".to_vec(),
            description: "2-byte probe datagram (CR LF)".into(),
            reply_expected: false,
        },
    }
}

/// A DNS query for `. IN NS` (RFC 1035): header with RD and one question, the root name.
pub(crate) fn dns_root_ns_query(id: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(17);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // flags: RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1, AN/NS/AR 0
    q.push(0); // the root name
    q.extend_from_slice(&[0, 2]); // QTYPE NS
    q.extend_from_slice(&[0, 1]); // QCLASS IN
    q
}

/// An NTPv4 client request (RFC 5905): LI 0, VN 4, mode 3; the transmit timestamp carries a
/// nonce, which a server echoes as the origin timestamp.
pub(crate) fn ntp_client_request(nonce: u64) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    p[0] = 0x23;
    p[40..48].copy_from_slice(&nonce.to_be_bytes());
    p
}

struct Probe {
    address: SocketAddr,
    started: Instant,
    request: Request,
    resend_at: Instant,
    resent: bool,
    state: State,
}

enum State {
    /// Sent; waiting for a datagram or an error.
    Waiting(Socket),
    /// The outcome is known and the socket is closed.
    Done {
        outcome: UdpOutcome,
        elapsed: Duration,
    },
}

impl Probe {
    fn start(address: SocketAddr, request: Request, deadline: Instant) -> Probe {
        let started = Instant::now();
        let resend_at = started + deadline.saturating_duration_since(started) / 2;
        let state = match open_and_send(address, &request.bytes) {
            Ok(sock) => State::Waiting(sock),
            Err((sock, err)) => finished(failed(sock.as_ref(), &err), started),
        };
        Probe {
            address,
            started,
            request,
            resend_at,
            resent: false,
            state,
        }
    }

    fn finish(&mut self, outcome: UdpOutcome) {
        self.state = finished(outcome, self.started);
    }
}

fn finished(outcome: UdpOutcome, started: Instant) -> State {
    State::Done {
        outcome,
        elapsed: started.elapsed(),
    }
}

/// Opens a connected socket with `IP_RECVERR` and sends the first request. On failure, returns
/// the socket (when there is one) so its error queue can be read.
fn open_and_send(
    address: SocketAddr,
    bytes: &[u8],
) -> Result<Socket, (Option<Socket>, std::io::Error)> {
    let sock = Socket::new(
        Domain::for_address(address),
        Type::DGRAM.nonblocking(),
        Some(Protocol::UDP),
    )
    .map_err(|e| (None, e))?;
    let steps = sys::enable_recverr(&sock, address.is_ipv6())
        .and_then(|()| sock.connect(&address.into()))
        .and_then(|()| sock.send(bytes));
    match steps {
        Ok(_) => Ok(sock),
        Err(e) => Err((Some(sock), e)),
    }
}

/// Polls all waiting probes until each is settled or the deadline passes, resending once at the
/// halfway point. The last round polls with a zero timeout so a reply at the deadline counts.
fn wait_for_all(probes: &mut [Probe], deadline: Instant) {
    // Each round settles a probe, reaches a resend time or the deadline, or was interrupted.
    let max_rounds = probes.len().saturating_mul(8).saturating_add(1000);
    for _ in 0..max_rounds {
        resend_due(probes);
        let waiting: Vec<usize> = probes
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p.state, State::Waiting(_)))
            .map(|(i, _)| i)
            .collect();
        if waiting.is_empty() {
            return;
        }
        let mut fds: Vec<libc::pollfd> = waiting
            .iter()
            .filter_map(|&i| match &probes[i].state {
                State::Waiting(sock) => Some(libc::pollfd {
                    fd: sock.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                }),
                State::Done { .. } => None,
            })
            .collect();
        let now = Instant::now();
        let next_resend = waiting
            .iter()
            .filter(|&&i| !probes[i].resent)
            .map(|&i| probes[i].resend_at)
            .min();
        let wake = next_resend.map_or(deadline, |t| t.min(deadline));
        let at_deadline = deadline <= now;
        if let Err(e) = sys::poll(&mut fds, wake.saturating_duration_since(now)) {
            // netdiag itself could not wait: record it on every probe still waiting.
            for &i in &waiting {
                probes[i].finish(io_error(&e));
            }
            return;
        }
        for (&i, fd) in waiting.iter().zip(&fds) {
            if fd.revents == 0 {
                continue;
            }
            let probe = &mut probes[i];
            if let State::Waiting(sock) = &probe.state {
                if let Some(outcome) = receive(sock, fd.revents) {
                    probe.finish(outcome);
                }
            }
        }
        if at_deadline {
            return;
        }
    }
}

/// Sends the second (and last) request for every waiting probe whose halfway point has passed.
fn resend_due(probes: &mut [Probe]) {
    let now = Instant::now();
    for probe in probes.iter_mut() {
        if probe.resent || now < probe.resend_at {
            continue;
        }
        probe.resent = true;
        if let State::Waiting(sock) = &probe.state {
            if let Err(e) = sock.send(&probe.request.bytes) {
                let outcome = failed(Some(sock), &e);
                probe.finish(outcome);
            }
        }
    }
}

/// The socket is readable or has an error: a datagram, an error, or (spuriously) nothing.
fn receive(sock: &Socket, revents: libc::c_short) -> Option<UdpOutcome> {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    // MSG_TRUNC: the return value is the datagram's real size even if it did not fit.
    match sock.recv_with_flags(&mut buf, libc::MSG_TRUNC | libc::MSG_DONTWAIT) {
        Ok(bytes) => Some(UdpOutcome::Reply { bytes }),
        Err(e) => match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) => {
                // The pending error may already have been consumed while the ICMP entry is still
                // queued (POLLERR): read it rather than poll again on the same condition.
                if revents & libc::POLLERR != 0 {
                    sys::read_icmp_error(sock)
                        .ok()
                        .flatten()
                        .map(UdpOutcome::Icmp)
                } else {
                    None
                }
            }
            _ => Some(failed(Some(sock), &e)),
        },
    }
}

/// A send or receive failed with `err`; the error queue tells which ICMP error caused it.
fn failed(sock: Option<&Socket>, err: &std::io::Error) -> UdpOutcome {
    let Some(errno) = err.raw_os_error() else {
        return io_error(err);
    };
    let icmp = sock.and_then(|s| sys::read_icmp_error(s).ok().flatten());
    classify_failure(errno, icmp)
}

/// The deadline passed; a queued ICMP error nobody reported still explains the silence.
fn no_response(sock: &Socket) -> UdpOutcome {
    match sys::read_icmp_error(sock) {
        Ok(Some(icmp)) => UdpOutcome::Icmp(icmp),
        _ => UdpOutcome::NoResponse,
    }
}

fn io_error(err: &std::io::Error) -> UdpOutcome {
    match err.raw_os_error() {
        Some(errno) => classify_failure(errno, None),
        None => UdpOutcome::Error {
            errno: 0,
            message: err.to_string(),
        },
    }
}

/// Turns a failed send/receive's errno and the queued ICMP error (if any) into data. The ICMP
/// error wins: several ICMP errors map to the same errno.
fn classify_failure(errno: i32, icmp: Option<IcmpError>) -> UdpOutcome {
    match (icmp, errno) {
        (Some(icmp), _) => UdpOutcome::Icmp(icmp),
        (None, libc::ECONNREFUSED) => UdpOutcome::Refused,
        (None, errno) => UdpOutcome::Error {
            errno,
            message: errno_message(errno),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    fn closed_port(ip: IpAddr) -> Option<SocketAddr> {
        UdpSocket::bind(SocketAddr::new(ip, 0))
            .ok()?
            .local_addr()
            .ok()
    }

    /// A loopback UDP server that counts datagrams and echoes them if asked, for a bounded time.
    fn server(
        echo: bool,
        lifetime: Duration,
    ) -> (SocketAddr, Arc<AtomicUsize>, std::thread::JoinHandle<()>) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        let handle = std::thread::spawn(move || {
            let until = Instant::now() + lifetime;
            let mut buf = [0u8; 2048];
            while Instant::now() < until {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    seen.fetch_add(1, Ordering::SeqCst);
                    if echo {
                        sock.send_to(&buf[..n], from).unwrap();
                    }
                }
            }
        });
        (addr, count, handle)
    }

    fn is_port_unreachable(outcome: &UdpOutcome, from: IpAddr) -> bool {
        match outcome {
            UdpOutcome::Icmp(e) => {
                let (t, c) = if e.v6 { (1, 4) } else { (3, 3) };
                (e.icmp_type, e.code) == (t, c) && e.offender == Some(from)
            }
            UdpOutcome::Refused => true,
            _ => false,
        }
    }

    #[test]
    fn closed_loopback_port_answers_port_unreachable() {
        let addr = closed_port(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        let obs = probe_all(&[addr], soon(1000));
        assert!(
            is_port_unreachable(&obs[0].outcome, addr.ip()),
            "{:?}",
            obs[0].outcome
        );
        assert!(!obs[0].reply_expected);
        assert_eq!(obs[0].payload, "2-byte probe datagram (CR LF)");
        assert!(obs[0].elapsed < Duration::from_millis(500));
    }

    #[test]
    fn closed_ipv6_loopback_port_answers_port_unreachable() {
        let Some(addr) = closed_port(IpAddr::V6(Ipv6Addr::LOCALHOST)) else {
            eprintln!("skipped: ::1 unavailable");
            return;
        };
        let obs = probe_all(&[addr], soon(1000));
        assert!(
            is_port_unreachable(&obs[0].outcome, addr.ip()),
            "{:?}",
            obs[0].outcome
        );
    }

    #[test]
    fn loopback_echo_server_replies() {
        let (addr, count, handle) = server(true, Duration::from_millis(500));
        let obs = probe_all(&[addr], soon(1000));
        assert_eq!(obs[0].outcome, UdpOutcome::Reply { bytes: 2 });
        assert!(obs[0].elapsed < Duration::from_millis(400));
        handle.join().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 1, "no resend after a reply");
    }

    #[test]
    fn silent_server_gets_two_sends_then_no_response_at_the_deadline() {
        let (addr, count, handle) = server(false, Duration::from_millis(600));
        let start = Instant::now();
        let obs = probe_all(&[addr], soon(300));
        assert_eq!(obs[0].outcome, UdpOutcome::NoResponse);
        assert!(
            obs[0].elapsed >= Duration::from_millis(250),
            "{:?}",
            obs[0].elapsed
        );
        assert!(start.elapsed() < Duration::from_millis(600));
        handle.join().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn probes_run_concurrently_and_keep_input_order() {
        let (silent, _, h1) = server(false, Duration::from_millis(600));
        let (echo, _, h2) = server(true, Duration::from_millis(600));
        let closed = closed_port(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        let addrs = [silent, closed, echo, silent];
        let start = Instant::now();
        let obs = probe_all(&addrs, soon(300));
        assert!(
            start.elapsed() < Duration::from_millis(550),
            "{:?}",
            start.elapsed()
        );
        let got: Vec<SocketAddr> = obs.iter().map(|o| o.address).collect();
        assert_eq!(got, addrs);
        assert_eq!(obs[0].outcome, UdpOutcome::NoResponse);
        assert!(is_port_unreachable(&obs[1].outcome, closed.ip()));
        assert_eq!(obs[2].outcome, UdpOutcome::Reply { bytes: 2 });
        assert_eq!(obs[3].outcome, UdpOutcome::NoResponse);
        h1.join().unwrap();
        h2.join().unwrap();
    }

    #[test]
    fn known_ports_get_a_real_request() {
        let dns = request_for_port(53, 0x1234);
        assert!(dns.reply_expected);
        assert_eq!(dns.description, "DNS query . NS");
        assert_eq!(
            dns.bytes,
            [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]
        );

        let ntp = request_for_port(123, 7);
        assert!(ntp.reply_expected);
        assert_eq!(ntp.description, "NTP client request");
        assert_eq!(ntp.bytes.len(), 48);
        assert_eq!(ntp.bytes[0], 0x23);
        assert_eq!(ntp.bytes[47], 7);

        let other = request_for_port(9999, 7);
        assert!(!other.reply_expected);
        assert_eq!(other.bytes, b"\r\n");
    }

    #[test]
    fn failure_classification_table() {
        let icmp = IcmpError {
            v6: false,
            icmp_type: 3,
            code: 13,
            offender: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1))),
            errno: libc::EHOSTUNREACH,
            info: 0,
        };
        assert_eq!(
            classify_failure(libc::EHOSTUNREACH, Some(icmp)),
            UdpOutcome::Icmp(icmp)
        );
        assert_eq!(
            classify_failure(libc::ECONNREFUSED, None),
            UdpOutcome::Refused
        );
        assert_eq!(
            classify_failure(libc::ENETUNREACH, None),
            UdpOutcome::Error {
                errno: libc::ENETUNREACH,
                message: "Network is unreachable".into()
            }
        );
    }

    #[test]
    fn no_addresses_no_observations() {
        assert!(probe_all(&[], soon(10)).is_empty());
    }
}
