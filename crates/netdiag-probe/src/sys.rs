//! The few socket calls that socket2 does not cover, and the only module allowed `unsafe`.
//!
//! What lives here: `IP_RECVERR`/`IPV6_RECVERR` (so the kernel queues ICMP errors on a socket),
//! reading one entry of that error queue with `recvmsg(MSG_ERRQUEUE)`, `poll(2)`, and for the
//! path-MTU probe `IP_MTU`/`IPV6_MTU` (the kernel's path MTU for a connected socket),
//! `IP_MTU_DISCOVER`/`IPV6_MTU_DISCOVER = *_PMTUDISC_PROBE` (DF set, cached path MTU ignored)
//! and `TCP_INFO` (copied as bytes, decoded by the pure [`parse_tcp_info`]).
//!
//! Each `unsafe` block is one system call on a borrowed, open descriptor with buffers that
//! outlive the call; everything the kernel hands back is copied into byte slices first and then
//! decoded by safe, pure functions (`parse_control`, `parse_extended_err`) that are
//! property-tested. This module must never grow logic: no classification, no waiting policy,
//! no verdicts. It turns kernel structures into [`IcmpError`] values and nothing more.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use netdiag_core::observe::IcmpError;
use socket2::Socket;

/// Asks the kernel to queue ICMP errors for this socket (`IP_RECVERR`, `IPV6_RECVERR`).
///
/// Must be called before `connect()`/`send()`: errors that arrive earlier are not queued. For an
/// IPv6 socket both options are set, because an `AF_INET6` socket can carry v4-mapped traffic
/// whose ICMP errors are governed by `IP_RECVERR`; a kernel that rejects the IPv4 option on an
/// IPv6 socket (`ENOPROTOOPT`) is tolerated, since pure IPv6 traffic does not need it.
pub fn enable_recverr(sock: &Socket, v6: bool) -> io::Result<()> {
    if v6 {
        set_int_option(sock, libc::SOL_IPV6, libc::IPV6_RECVERR, 1)?;
        match set_int_option(sock, libc::SOL_IP, libc::IP_RECVERR, 1) {
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(()),
            other => other,
        }
    } else {
        set_int_option(sock, libc::SOL_IP, libc::IP_RECVERR, 1)
    }
}

/// Reads queued error entries (`recvmsg(MSG_ERRQUEUE | MSG_DONTWAIT)`) until one carries an ICMP
/// or ICMPv6 error, and returns it.
///
/// Entries of other origins (local errors, timestamps) are consumed and skipped; at most
/// [`MAX_ERRQUEUE_ENTRIES`] entries are read per call. `Ok(None)` means no ICMP error was queued.
/// Never blocks. Note that reading the queue clears the socket's pending error (`SO_ERROR`), so
/// read `SO_ERROR` first.
pub fn read_icmp_error(sock: &Socket) -> io::Result<Option<IcmpError>> {
    for _ in 0..MAX_ERRQUEUE_ENTRIES {
        match read_error_entry(sock)? {
            ErrEntry::Empty => return Ok(None),
            ErrEntry::Icmp(err) => return Ok(Some(err)),
            ErrEntry::Other => {}
        }
    }
    Ok(None)
}

/// The most error-queue entries one [`read_icmp_error`] call consumes.
pub const MAX_ERRQUEUE_ENTRIES: usize = 32;

/// `poll(2)` over `fds`, waiting at most `timeout` (rounded up to whole milliseconds so that a
/// sub-millisecond remainder does not turn into a busy loop). Returns the number of ready
/// descriptors; an interrupted call (`EINTR`) counts as "none ready", so callers simply re-check
/// their deadline.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<usize> {
    let millis = timeout.as_micros().div_ceil(1000);
    let millis = libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX);
    let nfds = libc::nfds_t::try_from(fds.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors"))?;
    // SAFETY: `fds` is a valid, exclusively borrowed slice of `pollfd` with exactly `nfds`
    // elements for the duration of the call; poll only writes `revents` inside it.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), nfds, millis) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(err);
    }
    Ok(usize::try_from(rc).unwrap_or(0))
}

/// The path MTU the kernel holds for a connected socket (`IP_MTU`, or `IPV6_MTU` when `v6`):
/// the route's MTU lowered by any path MTU learned from ICMP and still cached.
pub(crate) fn path_mtu(sock: &Socket, v6: bool) -> io::Result<u32> {
    let value = if v6 {
        get_int_option(sock, libc::SOL_IPV6, libc::IPV6_MTU)?
    } else {
        get_int_option(sock, libc::SOL_IP, libc::IP_MTU)?
    };
    u32::try_from(value).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative MTU"))
}

/// Sets `IP_MTU_DISCOVER` (or `IPV6_MTU_DISCOVER`) to `*_PMTUDISC_PROBE`: packets leave with DF
/// (IPv6 never fragments in transit anyway) at the size asked for, even above a path MTU the
/// kernel has cached, so a router on the path answers again with its frag-needed/packet-too-big.
pub(crate) fn set_pmtudisc_probe(sock: &Socket, v6: bool) -> io::Result<()> {
    if v6 {
        set_int_option(
            sock,
            libc::SOL_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_PROBE,
        )
    } else {
        set_int_option(
            sock,
            libc::SOL_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_PROBE,
        )
    }
}

/// The fields of `struct tcp_info` (linux/tcp.h) the path-MTU probe reads.
///
/// Fields past the first 104 bytes (2.6 era) are `None` when the kernel's struct is shorter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpInfo {
    /// `tcpi_state`: 1 = ESTABLISHED, 7 = CLOSE (e.g. after a reset), 8 = CLOSE_WAIT.
    pub(crate) state: u8,
    /// `tcpi_options`: bit 0 = timestamps negotiated (12 option bytes in every segment).
    pub(crate) options: u8,
    /// `tcpi_rto`, microseconds.
    pub(crate) rto_us: u32,
    /// `tcpi_snd_mss`: payload bytes per segment, after TCP options.
    pub(crate) snd_mss: u32,
    /// `tcpi_unacked`: segments sent and not yet acknowledged.
    pub(crate) unacked: u32,
    /// `tcpi_pmtu`: the path MTU the connection uses (lowered by ICMP frag-needed).
    pub(crate) pmtu: u32,
    /// `tcpi_rtt`: smoothed round-trip time, microseconds.
    pub(crate) rtt_us: u32,
    /// `tcpi_total_retrans`.
    pub(crate) total_retrans: u32,
    /// `tcpi_bytes_acked` (Linux 4.1+): bytes acknowledged by the peer, the SYN counting as one.
    pub(crate) bytes_acked: Option<u64>,
}

/// `tcpi_options` bit for negotiated timestamps.
pub(crate) const TCPI_OPT_TIMESTAMPS: u8 = 1;

/// Reads `TCP_INFO` into a byte buffer and decodes it with [`parse_tcp_info`].
pub(crate) fn tcp_info(sock: &Socket) -> io::Result<TcpInfo> {
    let mut buf = [0u8; 256];
    let mut len = libc::socklen_t::try_from(buf.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "buffer size"))?;
    // SAFETY: the descriptor is open for as long as `sock` is borrowed; `optval` points to a
    // live, writable stack buffer of exactly `len` bytes; the kernel writes at most `len` bytes
    // and stores the length it wrote in `len`.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let used = usize::try_from(len).unwrap_or(0).min(buf.len());
    parse_tcp_info(&buf[..used])
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "TCP_INFO too short"))
}

/// Decodes the bytes the kernel wrote for `TCP_INFO`, trusting only the length it reported.
/// Offsets follow linux/tcp.h, which only ever appends fields. `None` when even the original
/// fields are missing.
pub(crate) fn parse_tcp_info(buf: &[u8]) -> Option<TcpInfo> {
    Some(TcpInfo {
        state: *buf.first()?,
        options: *buf.get(5)?,
        rto_us: ne_u32(buf, 8)?,
        snd_mss: ne_u32(buf, 16)?,
        unacked: ne_u32(buf, 24)?,
        pmtu: ne_u32(buf, 60)?,
        rtt_us: ne_u32(buf, 68)?,
        total_retrans: ne_u32(buf, 100)?,
        bytes_acked: ne_u64(buf, 120),
    })
}

fn get_int_option(sock: &Socket, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option size"))?;
    // SAFETY: the descriptor is open for as long as `sock` is borrowed; `optval` points to a
    // live `c_int` on our stack and `optlen` to its size; getsockopt writes at most that much.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            level,
            name,
            std::ptr::from_mut(&mut value).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(value)
    }
}

fn set_int_option(
    sock: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option size"))?;
    // SAFETY: the descriptor is open for as long as `sock` is borrowed; `optval` points to a
    // live `c_int` on our stack and `optlen` is exactly its size; setsockopt only reads it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast::<libc::c_void>(),
            len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Asks the kernel to attach the received packet's TTL (IPv4, `IP_RECVTTL`) or hop limit
/// (IPv6, `IPV6_RECVHOPLIMIT`) to every datagram as a control message (`netdiag serve`'s icmp
/// prober reports it as `probe_icmp_reply_hop_limit`).
pub fn enable_recv_hop_limit(sock: &Socket, v6: bool) -> io::Result<()> {
    if v6 {
        set_int_option(sock, libc::SOL_IPV6, libc::IPV6_RECVHOPLIMIT, 1)
    } else {
        set_int_option(sock, libc::SOL_IP, libc::IP_RECVTTL, 1)
    }
}

/// Sets the DF bit on every IPv4 packet of this socket (`IP_MTU_DISCOVER = IP_PMTUDISC_DO`).
pub fn set_dont_fragment_v4(sock: &Socket) -> io::Result<()> {
    set_int_option(
        sock,
        libc::SOL_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_DO,
    )
}

/// Receives one datagram (blocking as the socket's read timeout allows) and, when
/// [`enable_recv_hop_limit`] was set, the TTL / hop limit it arrived with.
pub fn recv_with_hop_limit(sock: &Socket, buf: &mut [u8]) -> io::Result<(usize, Option<u8>)> {
    let mut control = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast::<libc::c_void>(),
        iov_len: buf.len(),
    };
    // SAFETY: `msghdr` is a plain C struct for which all-zero bytes are a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast::<libc::c_void>();
    msg.msg_controllen = control.len() as _;
    // SAFETY: the descriptor is open while `sock` is borrowed; `msg` points to `iov` (over
    // `buf`) and `control`, live buffers whose lengths are given exactly; the kernel writes only
    // within them and updates the lengths.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let used = (msg.msg_controllen as usize).min(control.len());
    let n = usize::try_from(n).unwrap_or(0).min(buf.len());
    Ok((n, hop_limit_from_control(&control[..used])))
}

/// The `IP_TTL` / `IPV6_HOPLIMIT` control message's value, if present and in range.
pub(crate) fn hop_limit_from_control(control: &[u8]) -> Option<u8> {
    parse_control(control)
        .into_iter()
        .find_map(|(level, kind, data)| {
            let hop = (level == libc::SOL_IP && kind == libc::IP_TTL)
                || (level == libc::SOL_IPV6 && kind == libc::IPV6_HOPLIMIT);
            hop.then(|| ne_i32(data, 0))
                .flatten()
                .and_then(|v| u8::try_from(v).ok())
        })
}

/// One error-queue entry, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrEntry {
    /// The queue was empty.
    Empty,
    /// An ICMP or ICMPv6 error.
    Icmp(IcmpError),
    /// An entry of another origin (local error, timestamp, zerocopy), or one we could not decode.
    Other,
}

fn read_error_entry(sock: &Socket) -> io::Result<ErrEntry> {
    // The payload is a copy of the offending packet; we only want the control message, so a
    // small buffer is enough (the kernel truncates and sets MSG_TRUNC, which is harmless).
    let mut payload = [0u8; 64];
    // Room for `sock_extended_err` + `sockaddr_in6` and any other cmsg the socket enabled.
    let mut control = [0u8; 512];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast::<libc::c_void>(),
        iov_len: payload.len(),
    };
    // SAFETY: `msghdr` is a plain C struct for which all-zero bytes are a valid value (null
    // pointers, zero lengths).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast::<libc::c_void>();
    msg.msg_controllen = control.len() as _;

    for _ in 0..3 {
        // SAFETY: the descriptor is open while `sock` is borrowed; `msg` points to `iov`,
        // `payload` and `control`, all live stack buffers whose lengths are given exactly; the
        // kernel writes only within them and updates the lengths. MSG_DONTWAIT: never blocks.
        let n = unsafe {
            libc::recvmsg(
                sock.as_raw_fd(),
                &mut msg,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            // `msg_controllen` is `size_t` on glibc and `socklen_t` on musl.
            let used = (msg.msg_controllen as usize).min(control.len());
            return Ok(decode_control(&control[..used]));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(ErrEntry::Empty),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
    Ok(ErrEntry::Empty)
}

/// Finds the `IP_RECVERR`/`IPV6_RECVERR` control message in a control buffer and decodes it.
fn decode_control(control: &[u8]) -> ErrEntry {
    for (level, kind, data) in parse_control(control) {
        let recverr = (level == libc::SOL_IP && kind == libc::IP_RECVERR)
            || (level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR);
        if recverr {
            return parse_extended_err(data);
        }
    }
    ErrEntry::Other
}

const WORD: usize = std::mem::size_of::<usize>();

const fn cmsg_align(len: usize) -> usize {
    (len + WORD - 1) & !(WORD - 1)
}

/// The kernel's `struct cmsghdr` header length: `size_t cmsg_len; int level; int type;`, aligned.
const CMSG_HEADER: usize = cmsg_align(WORD + 8);

/// The most control messages [`parse_control`] returns.
const MAX_CMSGS: usize = 16;

/// Splits a control buffer as the kernel wrote it into `(level, type, data)` triples.
///
/// Pure and bounds-checked: a malformed buffer ends the walk instead of panicking.
pub(crate) fn parse_control(buf: &[u8]) -> Vec<(i32, i32, &[u8])> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    while out.len() < MAX_CMSGS {
        let Some(header) = offset
            .checked_add(CMSG_HEADER)
            .and_then(|end| buf.get(offset..end))
        else {
            break;
        };
        let (len_bytes, rest) = header.split_at(WORD);
        let Ok(len_bytes) = <[u8; WORD]>::try_from(len_bytes) else {
            break;
        };
        let cmsg_len = usize::from_ne_bytes(len_bytes);
        let (Some(level), Some(kind)) = (ne_i32(rest, 0), ne_i32(rest, 4)) else {
            break;
        };
        if cmsg_len < CMSG_HEADER {
            break;
        }
        let Some(data) = offset
            .checked_add(cmsg_len)
            .and_then(|end| buf.get(offset + CMSG_HEADER..end))
        else {
            break;
        };
        out.push((level, kind, data));
        let Some(next) = offset.checked_add(cmsg_align(cmsg_len)) else {
            break;
        };
        offset = next;
    }
    out
}

/// Size of `struct sock_extended_err`: errno u32, origin/type/code/pad u8, info u32, data u32.
const EXTENDED_ERR_LEN: usize = 16;

/// Decodes `struct sock_extended_err` plus the offender `sockaddr` right after it
/// (`SO_EE_OFFENDER`). Only ICMP (2) and ICMPv6 (3) origins give an [`IcmpError`].
pub(crate) fn parse_extended_err(data: &[u8]) -> ErrEntry {
    let (Some(errno), Some(info)) = (ne_u32(data, 0), ne_u32(data, 8)) else {
        return ErrEntry::Other;
    };
    let (Some(&origin), Some(&icmp_type), Some(&code)) = (data.get(4), data.get(5), data.get(6))
    else {
        return ErrEntry::Other;
    };
    let v6 = match origin {
        libc::SO_EE_ORIGIN_ICMP => false,
        libc::SO_EE_ORIGIN_ICMP6 => true,
        _ => return ErrEntry::Other,
    };
    let offender = data.get(EXTENDED_ERR_LEN..).and_then(parse_sockaddr_ip);
    ErrEntry::Icmp(IcmpError {
        v6,
        icmp_type,
        code,
        offender,
        errno: i32::try_from(errno).unwrap_or(i32::MAX),
        info,
    })
}

/// The address in a `sockaddr_in`/`sockaddr_in6`; `AF_UNSPEC` or anything short means none.
/// A v4-mapped IPv6 address (ICMP for v4 traffic on an IPv6 socket) is returned as IPv4.
fn parse_sockaddr_ip(sa: &[u8]) -> Option<IpAddr> {
    let family = sa.get(0..2)?;
    let family = i32::from(u16::from_ne_bytes([family[0], family[1]]));
    if family == libc::AF_INET {
        let octets: [u8; 4] = sa.get(4..8)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(octets)))
    } else if family == libc::AF_INET6 {
        let octets: [u8; 16] = sa.get(8..24)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(octets)).to_canonical())
    } else {
        None
    }
}

fn ne_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_ne_bytes(bytes))
}

fn ne_u64(buf: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = buf.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_ne_bytes(bytes))
}

fn ne_i32(buf: &[u8], at: usize) -> Option<i32> {
    let bytes: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(i32::from_ne_bytes(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use socket2::{Domain, Protocol, Type};
    use std::net::{SocketAddr, UdpSocket};
    use std::time::Instant;

    /// A loopback port with nothing bound to it (bind, read the port, release it).
    fn closed_udp_port(ip: IpAddr) -> Option<SocketAddr> {
        let s = UdpSocket::bind(SocketAddr::new(ip, 0)).ok()?;
        s.local_addr().ok()
    }

    /// Sends one datagram to a closed loopback port and waits (bounded) for the queued error.
    fn icmp_from_closed_port(ip: IpAddr) -> Option<IcmpError> {
        let target = closed_udp_port(ip)?;
        let sock = Socket::new(
            Domain::for_address(target),
            Type::DGRAM,
            Some(Protocol::UDP),
        )
        .unwrap();
        enable_recverr(&sock, target.is_ipv6()).unwrap();
        sock.connect(&target.into()).unwrap();
        sock.send(b"x").unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let mut fds = [libc::pollfd {
                fd: sock.as_raw_fd(),
                events: 0,
                revents: 0,
            }];
            poll(&mut fds, Duration::from_millis(100)).unwrap();
            if let Some(err) = read_icmp_error(&sock).unwrap() {
                return Some(err);
            }
        }
        None
    }

    #[test]
    fn closed_loopback_udp_port_queues_icmp_port_unreachable_v4() {
        let err = icmp_from_closed_port(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        assert!(!err.v6);
        assert_eq!((err.icmp_type, err.code), (3, 3));
        assert_eq!(err.errno, libc::ECONNREFUSED);
        assert_eq!(err.offender, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn closed_loopback_udp_port_queues_icmpv6_port_unreachable() {
        if closed_udp_port(IpAddr::V6(Ipv6Addr::LOCALHOST)).is_none() {
            eprintln!("skipped: ::1 unavailable");
            return;
        }
        let err = icmp_from_closed_port(IpAddr::V6(Ipv6Addr::LOCALHOST)).unwrap();
        assert!(err.v6);
        assert_eq!((err.icmp_type, err.code), (1, 4));
        assert_eq!(err.errno, libc::ECONNREFUSED);
        assert_eq!(err.offender, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    }

    #[test]
    fn received_datagrams_carry_their_hop_limit() {
        for (ip, v6) in [
            (IpAddr::V4(Ipv4Addr::LOCALHOST), false),
            (IpAddr::V6(Ipv6Addr::LOCALHOST), true),
        ] {
            let Ok(rx) = UdpSocket::bind(SocketAddr::new(ip, 0)) else {
                continue;
            };
            let rx = Socket::from(rx);
            enable_recv_hop_limit(&rx, v6).unwrap();
            rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let to = rx.local_addr().unwrap().as_socket().unwrap();
            let tx = UdpSocket::bind(SocketAddr::new(ip, 0)).unwrap();
            let tx = Socket::from(tx);
            if v6 {
                tx.set_unicast_hops_v6(7).unwrap();
            } else {
                tx.set_ttl_v4(7).unwrap();
            }
            tx.send_to(b"hop", &to.into()).unwrap();
            let mut buf = [0u8; 16];
            let (n, hop) = recv_with_hop_limit(&rx, &mut buf).unwrap();
            assert_eq!(&buf[..n], b"hop");
            assert_eq!(hop, Some(7), "v6={v6}");
        }
    }

    #[test]
    fn empty_error_queue_reads_as_none() {
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        enable_recverr(&sock, false).unwrap();
        assert_eq!(read_icmp_error(&sock).unwrap(), None);
    }

    #[test]
    fn recverr_is_set_on_tcp_v4_and_both_levels_on_v6() {
        let v4 = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        enable_recverr(&v4, false).unwrap();
        assert_eq!(
            get_int_option(&v4, libc::SOL_IP, libc::IP_RECVERR).unwrap(),
            1
        );

        let Ok(v6) = Socket::new(Domain::IPV6, Type::STREAM, None) else {
            eprintln!("skipped: no IPv6");
            return;
        };
        enable_recverr(&v6, true).unwrap();
        assert_eq!(
            get_int_option(&v6, libc::SOL_IPV6, libc::IPV6_RECVERR).unwrap(),
            1
        );
        assert_eq!(
            get_int_option(&v6, libc::SOL_IP, libc::IP_RECVERR).unwrap(),
            1
        );
    }

    #[test]
    fn poll_times_out_with_nothing_ready_and_sees_a_readable_socket() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut fds = [libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let start = Instant::now();
        assert_eq!(poll(&mut fds, Duration::from_millis(20)).unwrap(), 0);
        assert!(start.elapsed() >= Duration::from_millis(15));
        a.send_to(b"x", a.local_addr().unwrap()).unwrap();
        assert_eq!(poll(&mut fds, Duration::from_secs(2)).unwrap(), 1);
        assert_ne!(fds[0].revents & libc::POLLIN, 0);
    }

    #[test]
    fn our_cmsg_header_length_matches_libc() {
        // SAFETY: CMSG_LEN is pure arithmetic on its argument.
        let libc_len = unsafe { libc::CMSG_LEN(0) } as usize;
        assert_eq!(CMSG_HEADER, libc_len);
    }

    /// Builds a control buffer the way the kernel does.
    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let len = CMSG_HEADER + data.len();
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&level.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.resize(CMSG_HEADER, 0);
        out.extend_from_slice(data);
        out.resize(cmsg_align(len), 0);
        out
    }

    fn extended_err(origin: u8, icmp_type: u8, code: u8, errno: u32, info: u32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&errno.to_ne_bytes());
        out.extend_from_slice(&[origin, icmp_type, code, 0]);
        out.extend_from_slice(&info.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out
    }

    fn sockaddr_in(ip: [u8; 4]) -> Vec<u8> {
        let mut out = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&ip);
        out.resize(16, 0);
        out
    }

    fn sockaddr_in6(ip: Ipv6Addr) -> Vec<u8> {
        let mut out = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        out.extend_from_slice(&[0; 6]);
        out.extend_from_slice(&ip.octets());
        out.resize(28, 0);
        out
    }

    #[test]
    fn frag_needed_from_a_router_keeps_the_mtu_and_offender() {
        let mut data = extended_err(2, 3, 4, libc::EMSGSIZE as u32, 1400);
        data.extend(sockaddr_in([10, 0, 1, 1]));
        let buf = cmsg(libc::SOL_IP, libc::IP_RECVERR, &data);
        assert_eq!(
            decode_control(&buf),
            ErrEntry::Icmp(IcmpError {
                v6: false,
                icmp_type: 3,
                code: 4,
                offender: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1))),
                errno: libc::EMSGSIZE,
                info: 1400,
            })
        );
    }

    #[test]
    fn v4_error_on_an_ipv6_socket_reports_the_offender_as_ipv4() {
        let mut data = extended_err(2, 3, 13, libc::EHOSTUNREACH as u32, 0);
        data.extend(sockaddr_in6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()));
        let mut buf = cmsg(libc::SOL_IP, libc::IP_TTL, &[64, 0, 0, 0]);
        buf.extend(cmsg(libc::SOL_IPV6, libc::IPV6_RECVERR, &data));
        let ErrEntry::Icmp(err) = decode_control(&buf) else {
            panic!("expected an ICMP entry");
        };
        assert!(!err.v6);
        assert_eq!(err.offender, Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
    }

    #[test]
    fn local_origin_and_unspecified_offender_are_not_icmp() {
        let mut data = extended_err(1, 0, 0, libc::EMSGSIZE as u32, 1500);
        data.extend([0u8; 16]);
        assert_eq!(
            decode_control(&cmsg(libc::SOL_IP, libc::IP_RECVERR, &data)),
            ErrEntry::Other
        );

        let mut data = extended_err(3, 1, 4, libc::ECONNREFUSED as u32, 0);
        data.extend([0u8; 28]);
        let ErrEntry::Icmp(err) = parse_extended_err(&data) else {
            panic!("expected an ICMP entry");
        };
        assert_eq!(err.offender, None);
        assert!(err.v6);
    }

    #[test]
    fn truncated_control_buffers_decode_to_other() {
        let mut data = extended_err(2, 3, 3, 111, 0);
        data.extend(sockaddr_in([127, 0, 0, 1]));
        let buf = cmsg(libc::SOL_IP, libc::IP_RECVERR, &data);
        for cut in 0..buf.len() {
            // Cutting into the data makes the cmsg length overrun the buffer: nothing decodes.
            assert_eq!(decode_control(&buf[..cut]), ErrEntry::Other, "cut at {cut}");
        }
    }

    #[test]
    fn path_mtu_of_a_connected_loopback_socket_is_the_loopback_mtu() {
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        let target: SocketAddr = "127.0.0.1:9".parse().unwrap();
        sock.connect(&target.into()).unwrap();
        let mtu = path_mtu(&sock, false).unwrap();
        let lo: u32 = std::fs::read_to_string("/sys/class/net/lo/mtu")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(mtu);
        // IPv4 caps a route's MTU at 65535 (IP_MAX_MTU), below loopback's 65536.
        assert_eq!(mtu, lo.min(65535));
        // An unconnected socket has no route, hence no path MTU.
        let unconnected = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        assert!(path_mtu(&unconnected, false).is_err());
    }

    #[test]
    fn pmtudisc_probe_is_set_on_v4_and_v6() {
        let v4 = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        set_pmtudisc_probe(&v4, false).unwrap();
        assert_eq!(
            get_int_option(&v4, libc::SOL_IP, libc::IP_MTU_DISCOVER).unwrap(),
            libc::IP_PMTUDISC_PROBE
        );
        let Ok(v6) = Socket::new(Domain::IPV6, Type::DGRAM, None) else {
            eprintln!("skipped: no IPv6");
            return;
        };
        set_pmtudisc_probe(&v6, true).unwrap();
        assert_eq!(
            get_int_option(&v6, libc::SOL_IPV6, libc::IPV6_MTU_DISCOVER).unwrap(),
            libc::IPV6_PMTUDISC_PROBE
        );
    }

    #[test]
    fn tcp_info_of_a_loopback_connection_counts_the_acked_bytes() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        sock.connect(&target.into()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let info = tcp_info(&sock).unwrap();
        assert_eq!(info.state, 1, "ESTABLISHED");
        assert!(info.snd_mss > 0 && info.pmtu >= 1280, "{info:?}");
        assert_eq!(info.bytes_acked, Some(1), "the SYN counts as one byte");
        sock.send(b"hello").unwrap();
        let mut buf = [0u8; 5];
        peer.read_exact(&mut buf).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut info = tcp_info(&sock).unwrap();
        while info.bytes_acked != Some(6) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            info = tcp_info(&sock).unwrap();
        }
        assert_eq!(info.bytes_acked, Some(6));
        assert_eq!(info.unacked, 0);
    }

    #[test]
    fn short_tcp_info_keeps_the_old_fields_and_drops_the_new() {
        let mut buf = vec![0u8; 104];
        buf[0] = 1;
        buf[5] = TCPI_OPT_TIMESTAMPS;
        buf[16..20].copy_from_slice(&1448u32.to_ne_bytes());
        buf[60..64].copy_from_slice(&1500u32.to_ne_bytes());
        let info = parse_tcp_info(&buf).unwrap();
        assert_eq!((info.state, info.snd_mss, info.pmtu), (1, 1448, 1500));
        assert_eq!(info.bytes_acked, None);
        buf.resize(128, 0);
        buf[120..128].copy_from_slice(&7u64.to_ne_bytes());
        assert_eq!(parse_tcp_info(&buf).unwrap().bytes_acked, Some(7));
        assert_eq!(parse_tcp_info(&buf[..103]), None);
    }

    proptest! {
        #[test]
        fn control_parsing_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_control(&buf);
            let _ = parse_extended_err(&buf);
            prop_assert!(parse_control(&buf).len() <= MAX_CMSGS);
            let _ = parse_tcp_info(&buf);
        }
    }
}
