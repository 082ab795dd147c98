//! The TCP layer probe: one non-blocking connect per address, all at once, each with the
//! same deadline, recorded as [`ConnectObservation`]s.
//!
//! How: a socket2 non-blocking socket with `IP_RECVERR` set *before* `connect()` (so an ICMP
//! error answering the SYN is queued with its type, code and sender, and fails the connect
//! promptly), then one `poll()` loop over all pending sockets until the deadline, then `SO_ERROR`
//! and the error queue. A completed handshake gets one non-blocking `recv(MSG_PEEK)` to catch a
//! reset that already arrived; it never waits, so a healthy check is as fast as `nc -z`.
//!
//! This module must never decide a verdict (a refused port is an observation, not an error),
//! never wait past the deadline, never send application data, and never keep a socket open
//! after its outcome is known.

use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netdiag_core::observe::{ConnectObservation, ConnectOutcome, IcmpError};
use socket2::{Domain, Protocol, Socket, Type};

use crate::{errno_message, sys};

/// Connects to every address concurrently and reports how each attempt ended, in input order.
///
/// Every attempt stops at `deadline` at the latest; `elapsed` is measured per address from the
/// moment its socket was created. Outcomes:
/// - `Connected`: the handshake completed (`SO_ERROR` 0); `reset_after_connect` is true when a
///   reset had already arrived when we looked (an immediate, non-waiting peek), or when the
///   pending error was `ECONNRESET` (only possible after the handshake).
/// - `Refused`: `ECONNREFUSED` with no ICMP error queued, i.e. a RST answered the SYN.
/// - `Icmp`: an ICMP/ICMPv6 error was queued for the attempt (whatever errno it mapped to), also
///   when the attempt then ran into the deadline.
/// - `TimedOut`: nothing decisive before the deadline (or the kernel gave up, `ETIMEDOUT`).
/// - `Error`: any other errno, typically from the local stack (no route, prohibit route,
///   no socket could be created).
pub fn connect_all(addrs: &[SocketAddr], deadline: Instant) -> Vec<ConnectObservation> {
    connect_all_keeping(addrs, deadline)
        .into_iter()
        .map(|(observation, _)| observation)
        .collect()
}

/// Like [`connect_all`], and hands back every connection that completed cleanly (blocking mode,
/// no timeouts set), so the layers above can use the very connection the tcp layer tested,
/// as curl would, instead of opening a second one.
pub fn connect_all_keeping(
    addrs: &[SocketAddr],
    deadline: Instant,
) -> Vec<(ConnectObservation, Option<std::net::TcpStream>)> {
    connect_all_keeping_early(addrs, deadline, None)
}

/// The kernel's first SYN retransmission (Linux's initial RTO, `TCP_TIMEOUT_INIT`): an attempt
/// still pending then has lost its first SYN or its answer.
pub const FIRST_SYN_RETRANSMIT: Duration = Duration::from_secs(1);

/// A follow-up to start while the attempts are still running: once `after` has passed since
/// the attempts began, `start` is called (at most once) with the addresses still pending, so
/// evidence that a timeout will need (the hop-by-hop trace) is gathered during the wait
/// instead of after it. It must return at once (start a thread, do not probe inline).
pub struct Early<'a> {
    /// When to call `start`, from the start of the attempts.
    pub after: Duration,
    /// Called with the pending addresses.
    pub start: &'a mut dyn FnMut(&[SocketAddr]),
}

/// [`connect_all_keeping`] with an [`Early`] follow-up.
pub fn connect_all_keeping_early(
    addrs: &[SocketAddr],
    deadline: Instant,
    early: Option<Early<'_>>,
) -> Vec<(ConnectObservation, Option<std::net::TcpStream>)> {
    let mut attempts: Vec<Attempt> = addrs
        .iter()
        .map(|&address| Attempt::start(address))
        .collect();
    wait_for_all(&mut attempts, deadline, early);
    attempts
        .into_iter()
        .map(|attempt| {
            let (outcome, elapsed) = match attempt.state {
                State::Done { outcome, elapsed } => (outcome, elapsed),
                State::Pending(sock) => (timed_out(&sock), attempt.started.elapsed()),
            };
            let kept = attempt
                .kept
                .filter(|sock| sock.set_nonblocking(false).is_ok())
                .map(std::net::TcpStream::from);
            let observation = ConnectObservation {
                address: attempt.address,
                outcome,
                elapsed,
            };
            (observation, kept)
        })
        .collect()
}

struct Attempt {
    address: SocketAddr,
    started: Instant,
    state: State,
    /// The socket of a clean, completed handshake, kept for the caller.
    kept: Option<Socket>,
}

enum State {
    /// `connect()` returned `EINPROGRESS`; waiting for writability.
    Pending(Socket),
    /// The outcome is known and the socket is closed.
    Done {
        outcome: ConnectOutcome,
        elapsed: Duration,
    },
}

impl Attempt {
    fn start(address: SocketAddr) -> Attempt {
        let started = Instant::now();
        let mut kept = None;
        let state = match open(address) {
            Err(e) => State::Done {
                outcome: io_error(&e),
                elapsed: started.elapsed(),
            },
            Ok(sock) => match sock.connect(&address.into()) {
                Ok(()) => {
                    let outcome = connected(&sock, started.elapsed());
                    if is_clean(&outcome) {
                        kept = Some(sock);
                    }
                    finished(outcome, started)
                }
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => State::Pending(sock),
                Err(e) => finished(failed(&sock, &e), started),
            },
        };
        Attempt {
            address,
            started,
            state,
            kept,
        }
    }
}

fn is_clean(outcome: &ConnectOutcome) -> bool {
    matches!(
        outcome,
        ConnectOutcome::Connected {
            reset_after_connect: false,
            ..
        }
    )
}

fn finished(outcome: ConnectOutcome, started: Instant) -> State {
    State::Done {
        outcome,
        elapsed: started.elapsed(),
    }
}

fn open(address: SocketAddr) -> std::io::Result<Socket> {
    let sock = Socket::new(
        Domain::for_address(address),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    // Before connect(): an ICMP error for the SYN is only queued if this is already set.
    sys::enable_recverr(&sock, address.is_ipv6())?;
    Ok(sock)
}

/// Polls all pending attempts until each is settled or the deadline passes. The last round
/// polls with a zero timeout, so a handshake that completed right at the deadline still counts.
fn wait_for_all(attempts: &mut [Attempt], deadline: Instant, mut early: Option<Early<'_>>) {
    let began = Instant::now();
    // Each round settles at least one attempt, reaches the deadline or the early follow-up's
    // moment (once), or was interrupted.
    let max_rounds = attempts.len().saturating_mul(4).saturating_add(1000);
    for _ in 0..max_rounds {
        let pending: Vec<usize> = attempts
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a.state, State::Pending(_)))
            .map(|(i, _)| i)
            .collect();
        if pending.is_empty() {
            return;
        }
        let early_at = early.as_ref().map(|e| began + e.after);
        if early_at.is_some_and(|at| Instant::now() >= at) {
            if let Some(e) = early.take() {
                let addresses: Vec<SocketAddr> =
                    pending.iter().map(|&i| attempts[i].address).collect();
                (e.start)(&addresses);
            }
        }
        let mut fds: Vec<libc::pollfd> = pending
            .iter()
            .filter_map(|&i| match &attempts[i].state {
                State::Pending(sock) => Some(libc::pollfd {
                    fd: sock.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                }),
                State::Done { .. } => None,
            })
            .collect();
        let remaining = deadline.saturating_duration_since(Instant::now());
        let wait = match early.as_ref().map(|e| began + e.after) {
            Some(at) => remaining.min(at.saturating_duration_since(Instant::now())),
            None => remaining,
        };
        if let Err(e) = sys::poll(&mut fds, wait) {
            // netdiag itself could not wait: record it on every attempt still pending.
            for &i in &pending {
                let started = attempts[i].started;
                attempts[i].state = finished(io_error(&e), started);
            }
            return;
        }
        for (&i, fd) in pending.iter().zip(&fds) {
            if fd.revents == 0 {
                continue;
            }
            let attempt = &mut attempts[i];
            if let State::Pending(sock) = &attempt.state {
                if let Some(outcome) = settle(sock, attempt.started.elapsed()) {
                    let clean = is_clean(&outcome);
                    let done = finished(outcome, attempt.started);
                    if let State::Pending(sock) = std::mem::replace(&mut attempt.state, done) {
                        if clean {
                            attempt.kept = Some(sock);
                        }
                    }
                }
            }
        }
        if remaining.is_zero() {
            return;
        }
    }
}

/// The socket became writable or reported an error: the handshake is over one way or another.
///
/// `None` means the attempt is still in SYN_SENT: poll also wakes for an ICMP error queued as a
/// *soft* error (it arrived while the kernel held the socket, so `SO_ERROR` stays clear and the
/// connect would only fail after the next SYN retransmission). That queued error is first-hand
/// evidence already, so it settles the attempt; anything else keeps it pending.
fn settle(sock: &Socket, handshake: Duration) -> Option<ConnectOutcome> {
    match sock.take_error() {
        Ok(None) if sock.peer_addr().is_ok() => Some(connected(sock, handshake)),
        Ok(None) => match sys::read_icmp_error(sock) {
            Ok(Some(icmp)) => Some(ConnectOutcome::Icmp(icmp)),
            _ => None,
        },
        Ok(Some(e)) => Some(failed(sock, &e)),
        Err(e) => Some(io_error(&e)),
    }
}

fn connected(sock: &Socket, handshake: Duration) -> ConnectOutcome {
    ConnectOutcome::Connected {
        local: local_address(sock),
        reset_after_connect: reset_within_grace(sock, reset_grace(handshake)),
    }
}

fn local_address(sock: &Socket) -> Option<SocketAddr> {
    sock.local_addr().ok().and_then(|a| a.as_socket())
}

/// How long to watch a fresh connection for a RST: a few handshake round trips, so a peer (or a
/// middlebox) that resets right after accepting is caught, while a healthy check stays within a
/// fraction of a millisecond of `nc -z` on loopback.
fn reset_grace(handshake: Duration) -> Duration {
    (handshake * 3).clamp(Duration::from_micros(100), Duration::from_millis(20))
}

/// Peeks (never reads) until `grace` has passed: `ECONNRESET` means the peer reset right after
/// the handshake. Data or an orderly close mean no reset; so does silence until the end of grace.
fn reset_within_grace(sock: &Socket, grace: Duration) -> bool {
    let until = Instant::now() + grace;
    let step = (grace / 10).max(Duration::from_micros(40));
    // Bounded in time by `until`, and in count.
    for _ in 0..100_000 {
        let mut byte = [MaybeUninit::<u8>::uninit(); 1];
        match sock.recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => return false,
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        if grace <= Duration::from_millis(2) {
            // A few hundred microseconds: yielding is more precise than any sleep here (timer
            // slack and coarse sandbox timers turn a 40 µs sleep into a millisecond).
            std::thread::yield_now();
        } else {
            std::thread::sleep(step.min(until - now));
        }
    }
    false
}

/// The attempt failed with `err`; read `SO_ERROR` first (done by the caller), then the queue.
fn failed(sock: &Socket, err: &std::io::Error) -> ConnectOutcome {
    let Some(errno) = err.raw_os_error() else {
        return io_error(err);
    };
    let icmp = sys::read_icmp_error(sock).ok().flatten();
    classify_failure(errno, icmp, local_address(sock))
}

/// The deadline passed. An ICMP error may still have been queued (as a soft error the kernel
/// did not act on); it explains the silence better than "timed out".
fn timed_out(sock: &Socket) -> ConnectOutcome {
    match sys::read_icmp_error(sock) {
        Ok(Some(icmp)) => ConnectOutcome::Icmp(icmp),
        _ => ConnectOutcome::TimedOut,
    }
}

/// A local error as an observation (also used by the proxy probe's own connect).
pub(crate) fn io_error(err: &std::io::Error) -> ConnectOutcome {
    match err.raw_os_error() {
        Some(errno) => ConnectOutcome::Error {
            errno,
            message: errno_message(errno),
        },
        None => ConnectOutcome::Error {
            errno: 0,
            message: err.to_string(),
        },
    }
}

/// Turns a failed connect's errno and the queued ICMP error (if any) into data.
///
/// A queued ICMP error wins over the errno: the kernel maps several ICMP errors to the same errno
/// (time exceeded and host unreachable are both `EHOSTUNREACH`), so the type/code is the fact.
/// `ECONNRESET` can only happen after the handshake, so it is a connection that was reset.
fn classify_failure(
    errno: i32,
    icmp: Option<IcmpError>,
    local: Option<SocketAddr>,
) -> ConnectOutcome {
    match (icmp, errno) {
        (Some(icmp), _) => ConnectOutcome::Icmp(icmp),
        (None, libc::ECONNREFUSED) => ConnectOutcome::Refused,
        (None, libc::ETIMEDOUT) => ConnectOutcome::TimedOut,
        (None, libc::ECONNRESET) => ConnectOutcome::Connected {
            local,
            reset_after_connect: true,
        },
        (None, errno) => ConnectOutcome::Error {
            errno,
            message: errno_message(errno),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    /// A loopback port that is bound but not listening: a SYN to it is answered with a RST.
    fn bound_not_listening() -> (Socket, SocketAddr) {
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        sock.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        let addr = sock.local_addr().unwrap().as_socket().unwrap();
        (sock, addr)
    }

    /// A loopback listener with `listen(0)` whose accept queue is already full.
    fn full_backlog_listener() -> (Socket, SocketAddr) {
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        sock.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        sock.listen(0).unwrap();
        let addr = sock.local_addr().unwrap().as_socket().unwrap();
        // Connections nobody accepts stay in the queue even after the client closes.
        for _ in 0..4 {
            let obs = connect_all(&[addr], soon(200));
            if obs[0].outcome == ConnectOutcome::TimedOut {
                break;
            }
        }
        (sock, addr)
    }

    #[test]
    fn loopback_listener_is_connected_with_a_local_address() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let obs = connect_all(&[addr], soon(2000));
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].address, addr);
        let ConnectOutcome::Connected { local, .. } = obs[0].outcome else {
            panic!("expected Connected, got {:?}", obs[0].outcome);
        };
        assert_eq!(local.unwrap().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(obs[0].elapsed < Duration::from_secs(1));
    }

    #[test]
    fn ipv6_loopback_listener_is_connected() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            eprintln!("skipped: ::1 unavailable");
            return;
        };
        let addr = listener.local_addr().unwrap();
        let obs = connect_all(&[addr], soon(2000));
        assert!(
            matches!(obs[0].outcome, ConnectOutcome::Connected { local: Some(l), .. } if l.ip() == IpAddr::V6(Ipv6Addr::LOCALHOST)),
            "{:?}",
            obs[0].outcome
        );
    }

    #[test]
    fn closed_loopback_port_is_refused() {
        let (_sock, addr) = bound_not_listening();
        let obs = connect_all(&[addr], soon(2000));
        assert_eq!(obs[0].outcome, ConnectOutcome::Refused);
        assert!(obs[0].elapsed < Duration::from_secs(1));
    }

    #[test]
    fn full_accept_queue_times_out_at_the_deadline() {
        let (_listener, addr) = full_backlog_listener();
        let start = Instant::now();
        let obs = connect_all(&[addr], soon(300));
        assert_eq!(obs[0].outcome, ConnectOutcome::TimedOut);
        assert!(
            obs[0].elapsed >= Duration::from_millis(250),
            "{:?}",
            obs[0].elapsed
        );
        assert!(start.elapsed() < Duration::from_millis(1000));
    }

    #[test]
    fn attempts_run_concurrently_and_keep_input_order() {
        let (_listener, silent) = full_backlog_listener();
        let (_closed, refused) = bound_not_listening();
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let open_addr = open.local_addr().unwrap();
        let addrs = [silent, refused, open_addr, silent];
        let start = Instant::now();
        let obs = connect_all(&addrs, soon(400));
        // Two silent attempts in parallel: about one deadline, not two.
        assert!(
            start.elapsed() < Duration::from_millis(700),
            "{:?}",
            start.elapsed()
        );
        let got: Vec<SocketAddr> = obs.iter().map(|o| o.address).collect();
        assert_eq!(got, addrs);
        assert_eq!(obs[0].outcome, ConnectOutcome::TimedOut);
        assert_eq!(obs[1].outcome, ConnectOutcome::Refused);
        assert!(matches!(obs[2].outcome, ConnectOutcome::Connected { .. }));
        assert_eq!(obs[3].outcome, ConnectOutcome::TimedOut);
        // The refused and connected attempts did not wait for the silent ones.
        assert!(obs[1].elapsed < Duration::from_millis(200));
        assert!(obs[2].elapsed < Duration::from_millis(200));
    }

    #[test]
    fn early_follow_up_gets_only_the_addresses_still_pending() {
        let (_listener, silent) = full_backlog_listener();
        let (_closed, refused) = bound_not_listening();
        let mut seen: Vec<(Duration, Vec<SocketAddr>)> = Vec::new();
        let began = Instant::now();
        let mut start = |pending: &[SocketAddr]| seen.push((began.elapsed(), pending.to_vec()));
        let early = Early {
            after: Duration::from_millis(100),
            start: &mut start,
        };
        let obs = connect_all_keeping_early(&[refused, silent], soon(400), Some(early));
        assert_eq!(obs[0].0.outcome, ConnectOutcome::Refused);
        assert_eq!(obs[1].0.outcome, ConnectOutcome::TimedOut);
        assert_eq!(seen.len(), 1, "called once");
        assert_eq!(seen[0].1, vec![silent]);
        assert!(seen[0].0 >= Duration::from_millis(100), "{:?}", seen[0].0);
        assert!(seen[0].0 < Duration::from_millis(350), "{:?}", seen[0].0);
    }

    #[test]
    fn early_follow_up_is_not_started_for_a_connect_that_settles_first() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut calls = 0;
        let mut start = |_: &[SocketAddr]| calls += 1;
        let early = Early {
            after: Duration::from_millis(200),
            start: &mut start,
        };
        let started = Instant::now();
        let obs = connect_all_keeping_early(&[addr], soon(2000), Some(early));
        assert!(matches!(obs[0].0.outcome, ConnectOutcome::Connected { .. }));
        assert!(obs[0].1.is_some(), "the connection is kept");
        assert!(started.elapsed() < Duration::from_millis(200));
        assert_eq!(calls, 0);
    }

    #[test]
    fn no_addresses_no_observations() {
        assert!(connect_all(&[], soon(10)).is_empty());
    }

    #[test]
    fn server_that_resets_right_after_accept_still_counts_as_connected() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for _ in 0..200 {
                if let Ok((stream, _)) = listener.accept() {
                    let sock = socket2::SockRef::from(&stream);
                    sock.set_linger(Some(Duration::ZERO)).unwrap();
                    return; // dropping `stream` sends a RST
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let obs = connect_all(&[addr], soon(2000));
        server.join().unwrap();
        // Whether the RST is seen depends on scheduling (the handshake completes in the kernel
        // before accept); only the handshake itself is certain.
        assert!(
            matches!(obs[0].outcome, ConnectOutcome::Connected { .. }),
            "{:?}",
            obs[0].outcome
        );
    }

    fn icmp(icmp_type: u8, code: u8, errno: i32) -> IcmpError {
        IcmpError {
            v6: false,
            icmp_type,
            code,
            offender: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1))),
            errno,
            info: 0,
        }
    }

    #[test]
    fn failure_classification_table() {
        use libc::*;
        let local = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 40000)));
        let cases: Vec<(&str, i32, Option<IcmpError>, ConnectOutcome)> = vec![
            (
                "rst answered the syn",
                ECONNREFUSED,
                None,
                ConnectOutcome::Refused,
            ),
            (
                "icmp port unreachable also maps to ECONNREFUSED",
                ECONNREFUSED,
                Some(icmp(3, 3, ECONNREFUSED)),
                ConnectOutcome::Icmp(icmp(3, 3, ECONNREFUSED)),
            ),
            (
                "admin prohibited",
                EHOSTUNREACH,
                Some(icmp(3, 13, EHOSTUNREACH)),
                ConnectOutcome::Icmp(icmp(3, 13, EHOSTUNREACH)),
            ),
            (
                "time exceeded shares EHOSTUNREACH, told apart by the type",
                EHOSTUNREACH,
                Some(icmp(11, 0, EHOSTUNREACH)),
                ConnectOutcome::Icmp(icmp(11, 0, EHOSTUNREACH)),
            ),
            (
                "kernel gave up on SYN retries",
                ETIMEDOUT,
                None,
                ConnectOutcome::TimedOut,
            ),
            (
                "reset after the handshake",
                ECONNRESET,
                None,
                ConnectOutcome::Connected {
                    local,
                    reset_after_connect: true,
                },
            ),
            (
                "local no route",
                ENETUNREACH,
                None,
                ConnectOutcome::Error {
                    errno: ENETUNREACH,
                    message: "Network is unreachable".into(),
                },
            ),
            (
                "local prohibit route",
                EACCES,
                None,
                ConnectOutcome::Error {
                    errno: EACCES,
                    message: "Permission denied".into(),
                },
            ),
        ];
        for (name, errno, icmp, want) in cases {
            assert_eq!(classify_failure(errno, icmp, local), want, "{name}");
        }
    }
}
