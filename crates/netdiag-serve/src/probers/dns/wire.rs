//! One DNS exchange on the wire: a connected UDP socket (so an ICMP port unreachable surfaces as
//! `ECONNREFUSED` at once) or a TCP connection with the two-byte length prefix. Timings follow
//! miekg's client: `connect` is the dial, `request` the write and the read.
//!
//! Bounded: every wait ends at the probe's deadline, at most [`MAX_DATAGRAMS`] stray datagrams
//! are read and skipped, and a TCP answer is at most 65535 bytes by its framing.

use hickory_proto::op::{Message, MessageType};
use netdiag_core::cause::Cause;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// The most datagrams read while waiting for the one answering our id.
pub(crate) const MAX_DATAGRAMS: usize = 64;

/// Why no answer came, and the contract code when one fits.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) detail: String,
    pub(crate) cause: Option<Cause>,
}

/// The result of one exchange with its phase timings.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) connect: Duration,
    pub(crate) request: Duration,
    pub(crate) result: Result<Message, Failure>,
}

/// A fresh query id.
pub(crate) fn next_id() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0x5bd1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = nanos ^ COUNTER.fetch_add(0x9e37, Ordering::Relaxed);
    (mixed ^ (mixed >> 16)) as u16
}

/// What an I/O error on the exchange means for the verdict.
pub(crate) fn classify(e: &io::Error) -> Option<Cause> {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Some(Cause::DnsTimeout),
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable => Some(Cause::DnsNameserverUnreachable),
        _ => match e.raw_os_error() {
            Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ECONNREFUSED | libc::EACCES) => {
                Some(Cause::DnsNameserverUnreachable)
            }
            _ => None,
        },
    }
}

fn failure(what: &str, e: &io::Error) -> Failure {
    let cause = classify(e);
    let detail = match cause {
        Some(Cause::DnsTimeout) => format!("{what}: no answer before the deadline"),
        _ => format!("{what}: {e}"),
    };
    Failure { detail, cause }
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(1) {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline reached"));
    }
    Ok(left)
}

fn source_addr(source: Option<&str>, server: SocketAddr) -> Result<Option<SocketAddr>, Failure> {
    let Some(src) = source else { return Ok(None) };
    let ip: IpAddr = src.parse().map_err(|_| Failure {
        detail: format!("source_ip_address {src:?} is not an IP address"),
        cause: None,
    })?;
    if ip.is_ipv4() != server.is_ipv4() {
        return Err(Failure {
            detail: format!("source_ip_address {ip} is not of the server's address family"),
            cause: None,
        });
    }
    Ok(Some(SocketAddr::new(ip, 0)))
}

/// Parses an answer: ours only (id and QR), else `None` (skipped).
fn parse_answer(bytes: &[u8], id: u16) -> Option<Result<Message, Failure>> {
    match Message::from_vec(bytes) {
        Ok(msg) if msg.metadata.id == id && msg.metadata.message_type == MessageType::Response => {
            Some(Ok(msg))
        }
        Ok(_) => None,
        Err(e) => Some(Err(Failure {
            detail: format!("undecodable DNS answer: {e}"),
            cause: None,
        })),
    }
}

/// Sends `query` to `server` and waits for the answer with the same id.
pub(crate) fn exchange(
    server: SocketAddr,
    tcp: bool,
    source: Option<&str>,
    query: &[u8],
    id: u16,
    deadline: Instant,
) -> Exchange {
    let started = Instant::now();
    let mut ex = Exchange {
        connect: Duration::ZERO,
        request: Duration::ZERO,
        result: Err(Failure {
            detail: String::new(),
            cause: None,
        }),
    };
    let source = match source_addr(source, server) {
        Ok(s) => s,
        Err(f) => {
            ex.result = Err(f);
            return ex;
        }
    };
    if tcp {
        match tcp_connect(server, source, deadline) {
            Ok(stream) => {
                ex.connect = started.elapsed();
                let t = Instant::now();
                ex.result = tcp_exchange(stream, query, id, deadline);
                ex.request = t.elapsed();
            }
            Err(e) => {
                ex.connect = started.elapsed();
                ex.result = Err(failure("connecting over TCP", &e));
            }
        }
    } else {
        match udp_connect(server, source) {
            Ok(sock) => {
                ex.connect = started.elapsed();
                let t = Instant::now();
                ex.result = udp_exchange(&sock, query, id, deadline);
                ex.request = t.elapsed();
            }
            Err(e) => {
                ex.connect = started.elapsed();
                ex.result = Err(failure("opening the UDP socket", &e));
            }
        }
    }
    ex
}

fn udp_connect(server: SocketAddr, source: Option<SocketAddr>) -> io::Result<UdpSocket> {
    let local = source.unwrap_or_else(|| match server {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    });
    let sock = UdpSocket::bind(local)?;
    sock.connect(server)?;
    Ok(sock)
}

fn udp_exchange(
    sock: &UdpSocket,
    query: &[u8],
    id: u16,
    deadline: Instant,
) -> Result<Message, Failure> {
    sock.send(query)
        .map_err(|e| failure("sending the query", &e))?;
    let mut buf = vec![0u8; 65535];
    for _ in 0..MAX_DATAGRAMS {
        let left = remaining(deadline).map_err(|e| failure("waiting for the answer", &e))?;
        sock.set_read_timeout(Some(left))
            .map_err(|e| failure("waiting for the answer", &e))?;
        let n = sock
            .recv(&mut buf)
            .map_err(|e| failure("waiting for the answer", &e))?;
        if let Some(answer) = parse_answer(buf.get(..n).unwrap_or_default(), id) {
            return answer;
        }
    }
    Err(Failure {
        detail: format!("{MAX_DATAGRAMS} datagrams without our answer"),
        cause: None,
    })
}

fn tcp_connect(
    server: SocketAddr,
    source: Option<SocketAddr>,
    deadline: Instant,
) -> io::Result<TcpStream> {
    let sock = Socket::new(
        Domain::for_address(server),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if let Some(src) = source {
        sock.bind(&SockAddr::from(src))?;
    }
    sock.connect_timeout(&SockAddr::from(server), remaining(deadline)?)?;
    Ok(sock.into())
}

fn tcp_exchange(
    mut stream: TcpStream,
    query: &[u8],
    id: u16,
    deadline: Instant,
) -> Result<Message, Failure> {
    let len = u16::try_from(query.len()).map_err(|_| Failure {
        detail: "query longer than 65535 bytes".to_string(),
        cause: None,
    })?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    let io = |what: &'static str| move |e: io::Error| failure(what, &e);
    let left = remaining(deadline).map_err(io("sending the query"))?;
    stream
        .set_write_timeout(Some(left))
        .map_err(io("sending the query"))?;
    stream.write_all(&framed).map_err(io("sending the query"))?;
    let mut read_exact = |buf: &mut [u8]| -> io::Result<()> {
        let left = remaining(deadline)?;
        stream.set_read_timeout(Some(left))?;
        stream.read_exact(buf)
    };
    let mut len = [0u8; 2];
    read_exact(&mut len).map_err(io("reading the answer"))?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    read_exact(&mut body).map_err(io("reading the answer"))?;
    parse_answer(&body, id).unwrap_or_else(|| {
        Err(Failure {
            detail: "the TCP answer is not for our query (id mismatch)".to_string(),
            cause: None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_contract_codes() {
        let to = io::Error::from(io::ErrorKind::WouldBlock);
        assert_eq!(classify(&to), Some(Cause::DnsTimeout));
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(classify(&refused), Some(Cause::DnsNameserverUnreachable));
        let other = io::Error::from_raw_os_error(libc::EINVAL);
        assert_eq!(classify(&other), None);
    }

    #[test]
    fn stray_answers_are_skipped() {
        let msg = Message::new(9, MessageType::Response, hickory_proto::op::OpCode::Query);
        let bytes = msg.to_vec().unwrap();
        assert!(parse_answer(&bytes, 10).is_none());
        assert!(matches!(parse_answer(&bytes, 9), Some(Ok(_))));
        assert!(matches!(parse_answer(&[1, 2, 3], 9), Some(Err(_))));
    }
}
