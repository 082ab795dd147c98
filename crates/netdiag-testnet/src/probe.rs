//! Independent checks that a fault is really in place, before netdiag is asked about it.
//!
//! A namespace test that fails should say whether the bench or netdiag is wrong. So tests first
//! probe the fault with plain std sockets (errno only, no ICMP decoding: that is netdiag's job),
//! and only then assert netdiag's diagnosis. These probes must stay simple enough to be obviously
//! right; they are not a second implementation of netdiag.

use crate::servers::in_netns;
use crate::Result;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// Extra time, beyond the probe's own deadline, before the harness gives up on the probe thread.
const SLACK: Duration = Duration::from_secs(2);

/// What a plain `connect()` (and optionally a first `read()`) saw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpConnect {
    /// The handshake completed (and, if asked, the server did not reset the connection).
    Established,
    /// The handshake completed, then the first read got ECONNRESET.
    Reset,
    /// ECONNREFUSED: a RST answered the SYN.
    Refused,
    /// No answer within the deadline.
    TimedOut,
    /// EHOSTUNREACH: an ICMP host-unreachable or admin-prohibited came back, or ARP failed.
    HostUnreachable,
    /// ENETUNREACH: no route here, or an ICMP net-unreachable came back.
    NetUnreachable,
    /// Any other error, with its text.
    Failed(String),
}

impl From<io::Error> for TcpConnect {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => TcpConnect::Refused,
            io::ErrorKind::ConnectionReset => TcpConnect::Reset,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => TcpConnect::TimedOut,
            io::ErrorKind::HostUnreachable => TcpConnect::HostUnreachable,
            io::ErrorKind::NetworkUnreachable => TcpConnect::NetUnreachable,
            _ => TcpConnect::Failed(e.to_string()),
        }
    }
}

pub(crate) fn tcp_connect(
    ns: &str,
    addr: SocketAddr,
    timeout: Duration,
    read_for: Option<Duration>,
) -> Result<TcpConnect> {
    let bound = timeout + read_for.unwrap_or_default() + SLACK;
    in_netns(ns, &format!("tcp-connect-{addr}"), bound, move || {
        let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => s,
            Err(e) => return Ok(TcpConnect::from(e)),
        };
        let Some(read_for) = read_for else {
            return Ok(TcpConnect::Established);
        };
        stream.set_read_timeout(Some(read_for))?;
        let mut buf = [0u8; 64];
        Ok(match stream.read(&mut buf) {
            // Data, an orderly close, or silence: the connection was not reset.
            Ok(_) => TcpConnect::Established,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                TcpConnect::Established
            }
            Err(e) => TcpConnect::from(e),
        })
    })
}

/// Opens `count` TCP connections to `addr` from inside `ns` and returns them open: established
/// flows that fill a connection-tracking table with assured entries. Stops at the first failure.
pub(crate) fn open_tcp(
    ns: &str,
    addr: SocketAddr,
    count: usize,
    timeout: Duration,
) -> Result<Vec<TcpStream>> {
    let bound = timeout + SLACK;
    in_netns(ns, &format!("open-tcp-{addr}"), bound, move || {
        let started = std::time::Instant::now();
        let mut streams = Vec::with_capacity(count);
        for _ in 0..count.min(10_000) {
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "opening connections",
                ));
            }
            streams.push(TcpStream::connect_timeout(&addr, left)?);
        }
        Ok(streams)
    })
}

/// What one UDP request saw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UdpExchange {
    /// A datagram came back.
    Reply(Vec<u8>),
    /// ECONNREFUSED on the connected socket: an ICMP port-unreachable came back.
    PortUnreachable,
    /// Nothing came back within the deadline.
    NoResponse,
    /// Any other error, with its text.
    Failed(String),
}

pub(crate) fn udp_exchange(
    ns: &str,
    addr: SocketAddr,
    payload: Vec<u8>,
    timeout: Duration,
) -> Result<UdpExchange> {
    in_netns(ns, &format!("udp-{addr}"), timeout + SLACK, move || {
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(addr)?;
        socket.set_read_timeout(Some(timeout))?;
        if let Err(e) = socket.send(&payload) {
            return Ok(classify_udp(e));
        }
        let mut buf = vec![0u8; 4096];
        Ok(match socket.recv(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                UdpExchange::Reply(buf)
            }
            Err(e) => classify_udp(e),
        })
    })
}

fn classify_udp(e: io::Error) -> UdpExchange {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => UdpExchange::PortUnreachable,
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => UdpExchange::NoResponse,
        _ => UdpExchange::Failed(e.to_string()),
    }
}

/// A minimal DNS query (id 0x4e44, RD set, class IN) for a UDP probe's payload. `qtype` is the
/// numeric type (1 = A, 28 = AAAA). Labels longer than 63 bytes are cut, which is harmless for
/// a test payload.
pub fn dns_query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0x4e, 0x44, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        q.push(bytes.len() as u8);
        q.extend_from_slice(bytes);
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_query_encodes_labels_type_and_class() {
        let q = dns_query("ok.test.", 28);
        assert_eq!(&q[..4], &[0x4e, 0x44, 0x01, 0x00]);
        assert_eq!(&q[12..], b"\x02ok\x04test\x00\x00\x1c\x00\x01");
    }

    #[test]
    fn errno_maps_to_connect_outcome() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(TcpConnect::from(refused), TcpConnect::Refused);
        let unreachable = io::Error::from_raw_os_error(113); // EHOSTUNREACH
        assert_eq!(TcpConnect::from(unreachable), TcpConnect::HostUnreachable);
    }
}
