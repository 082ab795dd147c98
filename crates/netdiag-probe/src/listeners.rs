//! This host's side of a connection: which TCP sockets listen on a port (and which process owns
//! them), and which addresses are this host's own.
//!
//! Listening sockets come from the kernel's socket-diagnostics netlink interface
//! (`NETLINK_SOCK_DIAG`, what `ss -ltn` uses), asked for LISTEN sockets only, so a busy host's
//! thousands of connections are never read; `/proc/net/tcp{,6}` is the fallback when sock_diag
//! is unavailable (an old kernel, a sandbox without it). Owners come from `/proc/[pid]/fd/*` and
//! `/proc/[pid]/comm`, this host's addresses from `/proc/net/fib_trie` and `/proc/net/if_inet6`.
//! The text formats are decoded by pure functions that are unit- and property-tested. This module
//! never connects anywhere, never requires privileges (a process we may not inspect is simply not
//! named), and never scans without a bound.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netdiag_core::observe::Listener;

/// The TCP state code for LISTEN in `/proc/net/tcp` (`st` column).
const TCP_LISTEN: u8 = 0x0A;
/// The most lines read from one `/proc/net/*` file.
const MAX_LINES: usize = 1 << 20;
/// The most processes inspected when looking for a socket's owner.
const MAX_PIDS: usize = 4096;
/// The most descriptors inspected per process.
const MAX_FDS_PER_PID: usize = 65536;

/// The TCP sockets in LISTEN state on `port` in this network namespace, IPv4 first, with the
/// owning process (`comm (pid N)`) when `/proc` lets us see it.
///
/// `Err` means the inventory itself could not be read (no `/proc/net/tcp`), which is different
/// from "nothing listens". A missing `/proc/net/tcp6` (IPv6 disabled) is not an error.
pub fn tcp_listeners(port: u16) -> Result<Vec<Listener>, String> {
    let entries = listening_sockets()?;
    let listening: Vec<ProcTcpEntry> = entries
        .into_iter()
        .filter(|e| e.state == TCP_LISTEN && e.local.port() == port)
        .collect();
    let wanted: HashSet<u64> = listening
        .iter()
        .map(|e| e.inode)
        .filter(|&i| i != 0)
        .collect();
    let owners = socket_owners(&wanted);
    Ok(listening
        .into_iter()
        .map(|e| Listener {
            local: e.local,
            process: owners.get(&e.inode).cloned(),
        })
        .collect())
}

/// This host's own addresses in this network namespace: IPv4 from the local routes in
/// `/proc/net/fib_trie` (`/32 host LOCAL`), IPv6 from `/proc/net/if_inet6`.
///
/// Best effort: an unreadable file contributes nothing. Note that all of 127.0.0.0/8 is local
/// although only 127.0.0.1 is listed; callers should treat loopback addresses as local anyway.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/proc/net/fib_trie") {
        out.extend(parse_fib_trie_local(&text).into_iter().map(IpAddr::V4));
    }
    if let Ok(text) = std::fs::read_to_string("/proc/net/if_inet6") {
        out.extend(text.lines().filter_map(parse_if_inet6_line).map(IpAddr::V6));
    }
    let mut seen = HashSet::new();
    out.retain(|a| seen.insert(*a));
    out
}

static SHARED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets concurrent checks in this process share one read of the socket tables per second.
/// Called by the multi-target run (`netdiag check --targets`): the kernel generates the whole
/// table for every reader, so 200 targets reading it at once queue behind each other. A single
/// check always reads fresh.
pub fn share_inventory_between_checks() {
    SHARED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Every listening TCP socket (shared between checks, see [`share_inventory_between_checks`]).
fn listening_sockets() -> Result<Vec<ProcTcpEntry>, String> {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    type Cached = Option<(Instant, Vec<ProcTcpEntry>)>;
    static CACHE: Mutex<Cached> = Mutex::new(None);
    if !SHARED.load(std::sync::atomic::Ordering::SeqCst) {
        return read_listeners();
    }
    let mut cache = CACHE
        .lock()
        .map_err(|_| "listener cache poisoned".to_string())?;
    if let Some((at, entries)) = cache.as_ref() {
        if at.elapsed() < Duration::from_secs(1) {
            return Ok(entries.clone());
        }
    }
    let entries = read_listeners()?;
    *cache = Some((Instant::now(), entries.clone()));
    Ok(entries)
}

/// LISTEN sockets from sock_diag, or from `/proc/net/tcp{,6}` when sock_diag is unavailable.
fn read_listeners() -> Result<Vec<ProcTcpEntry>, String> {
    if let Ok(entries) = sock_diag_listeners() {
        return Ok(entries);
    }
    let mut entries = read_table("/proc/net/tcp", true)?;
    entries.extend(read_table("/proc/net/tcp6", false)?);
    entries.retain(|e| e.state == TCP_LISTEN);
    Ok(entries)
}

/// Dumps the TCP sockets in LISTEN state, IPv4 then IPv6, through `NETLINK_SOCK_DIAG`.
pub(crate) fn sock_diag_listeners() -> Result<Vec<ProcTcpEntry>, String> {
    let mut out = sock_diag_dump(false)?;
    // IPv6 may be disabled; that is not a failure of the inventory.
    if let Ok(v6) = sock_diag_dump(true) {
        out.extend(v6);
    }
    Ok(out)
}

fn sock_diag_dump(v6: bool) -> Result<Vec<ProcTcpEntry>, String> {
    use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST};
    use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
    use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
    use netlink_packet_sock_diag::SockDiagMessage;
    use netlink_sys::protocols::NETLINK_SOCK_DIAG;
    use std::time::Duration;

    let socket = crate::route::netlink_request(
        NETLINK_SOCK_DIAG,
        SockDiagMessage::InetRequest(InetRequest {
            family: if v6 { AF_INET6 } else { AF_INET },
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::LISTEN,
            socket_id: if v6 {
                SocketId::new_v6()
            } else {
                SocketId::new_v4()
            },
        }),
        NLM_F_REQUEST | NLM_F_DUMP,
        Duration::from_millis(500),
    )?;
    let mut out = Vec::new();
    crate::route::read_dump(
        &socket,
        "sock_diag",
        4096,
        Duration::from_secs(2),
        |m: SockDiagMessage| {
            if let SockDiagMessage::InetResponse(r) = m {
                let id = &r.header.socket_id;
                out.push(ProcTcpEntry {
                    local: SocketAddr::new(id.source_address, id.source_port),
                    state: r.header.state,
                    inode: u64::from(r.header.inode),
                });
                if out.len() > MAX_LINES {
                    return Err("sock_diag: too many listeners".to_string());
                }
            }
            Ok(())
        },
    )?;
    Ok(out)
}

fn read_table(path: &str, required: bool) -> Result<Vec<ProcTcpEntry>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {path}: {e}")),
    };
    let mut entries = Vec::new();
    // One large read per call: the kernel regenerates the table from the start on every
    // read, so small reads make a busy host's table quadratic to read.
    for line in BufReader::new(file).lines().take(MAX_LINES) {
        let line = line.map_err(|e| format!("cannot read {path}: {e}"))?;
        entries.extend(parse_proc_net_tcp_line(&line));
    }
    Ok(entries)
}

/// One socket line of `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcTcpEntry {
    /// The local address and port.
    pub(crate) local: SocketAddr,
    /// The TCP state (`st`), e.g. 0x0A for LISTEN.
    pub(crate) state: u8,
    /// The socket inode, the key to find the owning process.
    pub(crate) inode: u64,
}

/// Parses one line of `/proc/net/tcp{,6}`; the header and malformed lines give `None`.
///
/// Columns: `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...`.
/// Addresses are the kernel's in-memory (network order) bytes printed as 32-bit words in host
/// byte order: 127.0.0.1 is `0100007F` on a little-endian host. Ports are plain hex numbers.
pub(crate) fn parse_proc_net_tcp_line(line: &str) -> Option<ProcTcpEntry> {
    let fields: Vec<&str> = line.split_whitespace().take(10).collect();
    let [slot, local, _remote, state, _queues, _timer, _retransmits, _uid, _timeout, inode] =
        fields.as_slice()
    else {
        return None;
    };
    if !slot.ends_with(':') {
        return None;
    }
    let (address, port) = local.split_once(':')?;
    let ip = parse_proc_ip(address)?;
    let port = parse_hex_u16(port)?;
    let state = u8::from_str_radix(state, 16).ok()?;
    let inode = inode.parse().ok()?;
    Some(ProcTcpEntry {
        local: SocketAddr::new(ip, port),
        state,
        inode,
    })
}

fn parse_hex_u16(text: &str) -> Option<u16> {
    if text.len() != 4 {
        return None;
    }
    u16::from_str_radix(text, 16).ok()
}

/// 8 hex digits (IPv4) or 32 (IPv6), each 32-bit word in host byte order.
fn parse_proc_ip(text: &str) -> Option<IpAddr> {
    if !text.is_ascii() {
        return None;
    }
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = text.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    match text.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

/// One line of `/proc/net/if_inet6`: the address as 32 hex digits in network order, then
/// ifindex, prefix length, scope, flags and the interface name.
pub(crate) fn parse_if_inet6_line(line: &str) -> Option<Ipv6Addr> {
    let hex = line.split_whitespace().next()?;
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
}

/// The host (`/32 host LOCAL`) entries of `/proc/net/fib_trie`: each such line follows the
/// `|-- a.b.c.d` leaf line that names the address. Deduplicated (the trie lists tables twice).
pub(crate) fn parse_fib_trie_local(text: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut leaf: Option<Ipv4Addr> = None;
    for line in text.lines().take(MAX_LINES) {
        let line = line.trim();
        if let Some(address) = line.strip_prefix("|-- ") {
            leaf = address.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(address) = leaf {
                if !out.contains(&address) {
                    out.push(address);
                }
            }
        } else if !line.starts_with('/') {
            // A new table or inner node: the previous leaf's prefix lines are over.
            leaf = None;
        }
    }
    out
}

/// Maps socket inodes to `comm (pid N)` by scanning `/proc/[pid]/fd`, bounded by [`MAX_PIDS`]
/// and [`MAX_FDS_PER_PID`]. Processes we may not inspect are skipped.
fn socket_owners(wanted: &HashSet<u64>) -> HashMap<u64, String> {
    let mut found = HashMap::new();
    if wanted.is_empty() {
        return found;
    }
    let Ok(proc_dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    let pids = proc_dir
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .take(MAX_PIDS);
    for pid in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.filter_map(Result::ok).take(MAX_FDS_PER_PID) {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = target.to_str().and_then(socket_inode) else {
                continue;
            };
            if wanted.contains(&inode) && !found.contains_key(&inode) {
                found.insert(inode, process_name(pid));
            }
        }
        if found.len() == wanted.len() {
            break;
        }
    }
    found
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

fn process_name(pid: u32) -> String {
    match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) if !comm.trim().is_empty() => format!("{} (pid {pid})", comm.trim()),
        _ => format!("pid {pid}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use std::net::TcpListener;

    #[cfg(target_endian = "little")]
    #[test]
    fn parses_an_ipv4_listener_line() {
        let line = "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 000000008cb2b993 100 0 0 10 0";
        assert_eq!(
            parse_proc_net_tcp_line(line),
            Some(ProcTcpEntry {
                local: "127.0.0.1:3306".parse().unwrap(),
                state: 0x0A,
                inode: 12345,
            })
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn parses_ipv6_words_in_host_byte_order() {
        let loopback = "  1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0";
        let entry = parse_proc_net_tcp_line(loopback).unwrap();
        assert_eq!(entry.local, "[::1]:8080".parse().unwrap());

        // 2001:db8::1 and a v4-mapped ::ffff:192.0.2.10 (established, state 01)
        let doc = "  2: B80D0120000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 0 0 0 0 0 1";
        assert_eq!(
            parse_proc_net_tcp_line(doc).unwrap().local,
            "[2001:db8::1]:80".parse().unwrap()
        );
        let mapped = "  3: 0000000000000000FFFF00000A0200C0:01BB 00000000000000000000000000000000:0000 01 0 0 0 0 0 2";
        let entry = parse_proc_net_tcp_line(mapped).unwrap();
        assert_eq!(entry.local, "[::ffff:192.0.2.10]:443".parse().unwrap());
        assert_eq!(entry.state, 1);
    }

    #[test]
    fn header_and_garbage_lines_are_skipped() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
        assert_eq!(parse_proc_net_tcp_line(header), None);
        assert_eq!(parse_proc_net_tcp_line(""), None);
        assert_eq!(
            parse_proc_net_tcp_line("0: 0100007:0CEA 0:0 0A 0 0 0 0 0 1"),
            None,
            "7 hex digits"
        );
        assert_eq!(
            parse_proc_net_tcp_line("0: 0100007F:CEA 0:0 0A 0 0 0 0 0 1"),
            None,
            "3 hex digit port"
        );
    }

    #[test]
    fn finds_our_own_loopback_listener_and_names_this_process() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let found = tcp_listeners(addr.port()).unwrap();
        let ours = found.iter().find(|l| l.local == addr).unwrap();
        let pid = std::process::id();
        let process = ours.process.as_deref().unwrap();
        assert!(process.ends_with(&format!("(pid {pid})")), "{process}");
    }

    #[test]
    fn sock_diag_and_proc_agree_on_our_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let Ok(diag) = sock_diag_listeners() else {
            eprintln!("sock_diag unavailable here; /proc is the fallback");
            return;
        };
        let from_diag: Vec<_> = diag.iter().filter(|e| e.local.port() == port).collect();
        assert_eq!(from_diag.len(), 1, "{diag:?}");
        assert_eq!(from_diag[0].local.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(from_diag[0].state, TCP_LISTEN);
        let proc_entries = read_table("/proc/net/tcp", true).unwrap();
        let from_proc = proc_entries
            .iter()
            .find(|e| e.local.port() == port && e.state == TCP_LISTEN)
            .unwrap();
        assert_eq!(from_proc.inode, from_diag[0].inode);
    }

    #[test]
    fn a_bound_but_not_listening_port_has_no_listener() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        assert!(tcp_listeners(port).unwrap().is_empty());
    }

    #[test]
    fn ipv6_listener_is_found() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            eprintln!("skipped: ::1 unavailable");
            return;
        };
        let addr = listener.local_addr().unwrap();
        let found = tcp_listeners(addr.port()).unwrap();
        assert!(found.iter().any(|l| l.local == addr), "{found:?}");
    }

    #[test]
    fn fib_trie_local_hosts() {
        let text = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     |-- 192.0.2.2
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 192.0.2.2
        /32 host LOCAL
";
        assert_eq!(
            parse_fib_trie_local(text),
            [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(192, 0, 2, 2)]
        );
    }

    #[test]
    fn if_inet6_lines() {
        assert_eq!(
            parse_if_inet6_line("00000000000000000000000000000001 01 80 10 80       lo"),
            Some(Ipv6Addr::LOCALHOST)
        );
        assert_eq!(
            parse_if_inet6_line("fe8000000000000000fc00fffe000001 04 40 20 80     eth0"),
            Some("fe80::fc:ff:fe00:1".parse().unwrap())
        );
        assert_eq!(parse_if_inet6_line("zz"), None);
    }

    #[test]
    fn this_host_has_its_loopback_addresses() {
        let local = local_addresses();
        assert!(
            local.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{local:?}"
        );
    }

    proptest! {
        #[test]
        fn proc_net_tcp_parser_never_panics(line in "\\PC{0,200}") {
            let _ = parse_proc_net_tcp_line(&line);
            let _ = parse_if_inet6_line(&line);
            let _ = parse_fib_trie_local(&line);
        }

        #[test]
        fn proc_net_tcp_parser_never_panics_on_near_valid_lines(
            slot in "[0-9]{1,4}:?",
            address in "[0-9A-Fa-fé]{0,33}",
            port in "[0-9A-F]{0,5}",
            state in "[0-9A-Z]{0,3}",
            inode in "[0-9]{0,22}",
        ) {
            let line = format!("{slot} {address}:{port} 00000000:0000 {state} 0:0 0:0 0 0 0 {inode} 1");
            let _ = parse_proc_net_tcp_line(&line);
        }

        #[test]
        fn ipv4_addresses_round_trip(ip in any::<u32>(), port in any::<u16>(), inode in any::<u64>()) {
            let ip = Ipv4Addr::from(ip);
            let hex = format!("{:08X}", u32::from_ne_bytes(ip.octets()));
            let line = format!("0: {hex}:{port:04X} 00000000:0000 0A 0:0 0:0 0 0 0 {inode}");
            let entry = parse_proc_net_tcp_line(&line).unwrap();
            prop_assert_eq!(entry.local, SocketAddr::new(IpAddr::V4(ip), port));
            prop_assert_eq!(entry.inode, inode);
        }
    }
}
