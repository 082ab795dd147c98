//! Small servers that run on threads inside a namespace.
//!
//! Why threads and not `socat`/`python`: a thread binds its socket before it reports ready, so a
//! test never races a server that is still starting, and there is no extra tool to install. A
//! thread enters a namespace with `setns(CLONE_NEWNET)`, which affects that thread only; sockets
//! it creates belong to the namespace. Each server polls a stop flag at least every 50 ms, so
//! stopping it (on `Testnet` drop) is bounded.

use crate::{Error, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a server may take to bind and report ready.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a server looks at its stop flag.
pub(crate) const TICK: Duration = Duration::from_millis(50);

/// A held connection is dropped after this long, so a forgotten client cannot pile them up.
const HOLD_LIMIT: Duration = Duration::from_secs(30);

/// Moves the calling thread into the named network namespace.
fn enter(ns_file: &File) -> io::Result<()> {
    nix::sched::setns(ns_file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(io::Error::from)
}

fn open_ns(ns: &str) -> Result<File> {
    let path = format!("/run/netns/{ns}");
    File::open(&path).map_err(|e| Error::io(format!("open {path}"), e))
}

/// Runs `f` on a new thread inside namespace `ns` and returns its result, waiting at most
/// `timeout` (the closure must bound its own waits; this is the safety net).
pub(crate) fn in_netns<T, F>(ns: &str, what: &str, timeout: Duration, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let file = open_ns(ns)?;
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(format!("netns-{what}"))
        .spawn(move || {
            let _ = tx.send(enter(&file).and_then(|()| f()));
        })
        .map_err(|e| Error::io(format!("spawn thread for {what}"), e))?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result.map_err(|e| Error::io(format!("{what} in {ns}"), e)),
        Err(_) => Err(Error::Timeout {
            what: format!("{what} in {ns}"),
            timeout,
        }),
    }
}

/// A running server thread; [`ServerHandle::stop`] ends it.
#[derive(Debug)]
pub(crate) struct ServerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// Asks the server to stop and waits for it (it notices within one tick).
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts `body` on a thread inside `ns`. `body` binds its sockets, then calls `ready` and
/// serves until the flag is set. Returns once the sockets are bound, or with the bind error.
pub(crate) fn start<F>(ns: &str, what: &str, body: F) -> Result<ServerHandle>
where
    F: FnOnce(&AtomicBool, &dyn Fn(io::Result<()>)) + Send + 'static,
{
    let file = open_ns(ns)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<io::Result<()>>();
    let flag = Arc::clone(&stop);
    let thread = thread::Builder::new()
        .name(format!("netns-{what}"))
        .spawn(move || {
            if let Err(e) = enter(&file) {
                let _ = tx.send(Err(e));
                return;
            }
            let ready = |r: io::Result<()>| {
                let _ = tx.send(r);
            };
            body(&flag, &ready);
        })
        .map_err(|e| Error::io(format!("spawn thread for {what}"), e))?;
    let handle = ServerHandle {
        stop,
        thread: Some(thread),
    };
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            handle.stop();
            Err(Error::io(format!("start {what} in {ns}"), e))
        }
        Err(_) => {
            handle.stop();
            Err(Error::Timeout {
                what: format!("start {what} in {ns}"),
                timeout: START_TIMEOUT,
            })
        }
    }
}

/// Waits until `fd` is readable or one tick passed.
pub(crate) fn wait_readable(fd: &impl AsFd) {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let tick = u16::try_from(TICK.as_millis()).unwrap_or(u16::MAX);
    let _ = nix::poll::poll(&mut fds, PollTimeout::from(tick));
}

/// What a TCP test listener does with a connection it accepts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TcpMode {
    /// Keep it open until the peer closes: a healthy service.
    Hold,
    /// Close it with SO_LINGER 0, which sends RST: a service that resets every connection.
    Reset,
}

pub(crate) fn tcp(ns: &str, addr: SocketAddr, mode: TcpMode) -> Result<ServerHandle> {
    start(ns, &format!("tcp-{addr}"), move |stop, ready| {
        let listener = match TcpListener::bind(addr).and_then(|l| {
            l.set_nonblocking(true)?;
            Ok(l)
        }) {
            Ok(l) => l,
            Err(e) => return ready(Err(e)),
        };
        ready(Ok(()));
        let mut held: Vec<(TcpStream, Instant)> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            wait_readable(&listener);
            while let Ok((stream, _)) = listener.accept() {
                match mode {
                    TcpMode::Reset => {
                        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                        drop(stream);
                    }
                    TcpMode::Hold => {
                        if stream.set_nonblocking(true).is_ok() {
                            held.push((stream, Instant::now()));
                        }
                    }
                }
            }
            held.retain_mut(|(stream, since)| {
                let mut buf = [0u8; 512];
                since.elapsed() < HOLD_LIMIT
                    && match stream.read(&mut buf) {
                        Ok(0) => false,
                        Ok(_) => true,
                        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
                    }
            });
        }
    })
}

pub(crate) fn udp_echo(ns: &str, addr: SocketAddr) -> Result<ServerHandle> {
    start(ns, &format!("udp-echo-{addr}"), move |stop, ready| {
        let socket = match UdpSocket::bind(addr).and_then(|s| {
            s.set_read_timeout(Some(TICK))?;
            Ok(s)
        }) {
            Ok(s) => s,
            Err(e) => return ready(Err(e)),
        };
        ready(Ok(()));
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, peer)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&buf[..n], peer);
            }
        }
    })
}

/// A UDP relay that delays every reply: queries go upstream at once, replies are held until
/// `delay` after the query arrived. Matching is by DNS message id, which is enough for a test.
pub(crate) fn slow_dns(
    ns: &str,
    listen: SocketAddr,
    upstream: SocketAddr,
    delay: Duration,
) -> Result<ServerHandle> {
    start(ns, &format!("slow-dns-{listen}"), move |stop, ready| {
        let bound = UdpSocket::bind(listen).and_then(|front| {
            front.set_read_timeout(Some(Duration::from_millis(5)))?;
            let local: SocketAddr = if upstream.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let back = UdpSocket::bind(local)?;
            back.connect(upstream)?;
            back.set_nonblocking(true)?;
            Ok((front, back))
        });
        let (front, back) = match bound {
            Ok(pair) => pair,
            Err(e) => return ready(Err(e)),
        };
        ready(Ok(()));
        let mut waiting: HashMap<[u8; 2], (SocketAddr, Instant)> = HashMap::new();
        let mut outbox: Vec<(Instant, SocketAddr, Vec<u8>)> = Vec::new();
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, client)) = front.recv_from(&mut buf) {
                if n >= 2 && back.send(&buf[..n]).is_ok() {
                    waiting.insert([buf[0], buf[1]], (client, Instant::now() + delay));
                }
            }
            while let Ok(n) = back.recv(&mut buf) {
                if n >= 2 {
                    if let Some((client, due)) = waiting.remove(&[buf[0], buf[1]]) {
                        outbox.push((due, client, buf[..n].to_vec()));
                    }
                }
            }
            let now = Instant::now();
            outbox.retain(|(due, client, reply)| {
                if *due <= now {
                    let _ = front.send_to(reply, client);
                    false
                } else {
                    true
                }
            });
            // Forget queries whose reply never came, so the map stays small.
            waiting.retain(|_, (_, due)| *due + HOLD_LIMIT > now);
        }
    })
}

/// What a [`udp_responder`] handler answers to one datagram: a reply, after an optional delay,
/// or silence.
pub type UdpHandler = Arc<dyn Fn(&[u8]) -> Option<(Duration, Vec<u8>)> + Send + Sync>;

/// A UDP server that hands every datagram to `handler` and sends back what it returns, after
/// the delay it names (bounded by [`HOLD_LIMIT`]); `None` is silence. A scripted nameserver
/// for tests that need per-name rcodes no real server gives on demand.
pub(crate) fn udp_responder(
    ns: &str,
    listen: SocketAddr,
    handler: UdpHandler,
) -> Result<ServerHandle> {
    start(
        ns,
        &format!("udp-responder-{listen}"),
        move |stop, ready| {
            let socket = match UdpSocket::bind(listen).and_then(|s| {
                s.set_read_timeout(Some(Duration::from_millis(5)))
                    .map(|()| s)
            }) {
                Ok(s) => s,
                Err(e) => return ready(Err(e)),
            };
            ready(Ok(()));
            let mut outbox: Vec<(Instant, SocketAddr, Vec<u8>)> = Vec::new();
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, client)) = socket.recv_from(&mut buf) {
                    if let Some((delay, reply)) = handler(&buf[..n]) {
                        outbox.push((Instant::now() + delay.min(HOLD_LIMIT), client, reply));
                    }
                }
                let now = Instant::now();
                outbox.retain(|(due, client, reply)| {
                    if *due <= now {
                        let _ = socket.send_to(reply, client);
                        false
                    } else {
                        true
                    }
                });
            }
        },
    )
}
