//! The route probe: asks the kernel which route it would use for an address (RTM_GETROUTE),
//! exactly what `ip route get ADDR` prints. Works unprivileged.
//!
//! It never changes routes. A netlink error such as ENETUNREACH is an observation ("no route"),
//! not a failure of netdiag.

use netdiag_core::observe::{InterfaceAddress, RouteKind, RouteObservation, RouteOutcome};
use netlink_packet_core::{
    NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable,
    NLM_F_REQUEST,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::IpAddr;
use std::time::Duration;

/// This host's interface addresses with their prefix lengths (an RTM_GETADDR dump of both
/// families, what `ip addr` lists), for getaddrinfo's sorting and AI_ADDRCONFIG. Works
/// unprivileged. The address is IFA_ADDRESS (glibc's `__check_pf` takes it over IFA_LOCAL).
pub fn interface_addresses() -> Result<Vec<InterfaceAddress>, String> {
    use netlink_packet_route::address::{AddressAttribute, AddressMessage};
    let socket = netlink_request(
        NETLINK_ROUTE,
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        NLM_F_REQUEST | netlink_packet_core::NLM_F_DUMP,
        Duration::from_millis(500),
    )?;
    let mut out = Vec::new();
    read_dump(
        &socket,
        "address dump",
        256,
        Duration::from_secs(2),
        |m: RouteNetlinkMessage| {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                let mut address = None;
                let mut local = None;
                for attr in &a.attributes {
                    match attr {
                        AddressAttribute::Address(ip) => address = Some(*ip),
                        AddressAttribute::Local(ip) => local = Some(*ip),
                        _ => {}
                    }
                }
                if let Some(ip) = address.or(local) {
                    out.push(InterfaceAddress {
                        address: ip,
                        prefix_len: a.header.prefix_len,
                        ifindex: a.header.index,
                    });
                }
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// Looks up the route for each destination.
pub fn lookup_all(destinations: &[IpAddr]) -> Vec<RouteObservation> {
    destinations
        .iter()
        .map(|d| RouteObservation {
            destination: *d,
            outcome: lookup(*d),
        })
        .collect()
}

/// Looks up the route for one destination.
pub fn lookup(destination: IpAddr) -> RouteOutcome {
    match ask_kernel(destination) {
        Ok(outcome) => outcome,
        Err(reason) => RouteOutcome::Unavailable { reason },
    }
}

/// Opens a netlink socket of `protocol`, sends one request with `flags` and returns the socket
/// for the replies, which then arrive within `timeout` per receive. Shared by the route lookup,
/// the neighbour dump (`kernel.rs`) and the listener dump (`listeners.rs`, NETLINK_SOCK_DIAG).
pub(crate) fn netlink_request<M: NetlinkSerializable>(
    protocol: isize,
    message: M,
    flags: u16,
    timeout: Duration,
) -> Result<Socket, String> {
    let mut socket = Socket::new(protocol).map_err(|e| format!("netlink socket: {e}"))?;
    socket
        .bind_auto()
        .map_err(|e| format!("netlink bind: {e}"))?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(|e| format!("netlink connect: {e}"))?;
    set_receive_timeout(&socket, timeout);
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = 1;
    let mut request = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
    request.finalize();
    let mut buf = vec![0u8; request.buffer_len()];
    request.serialize(&mut buf);
    socket
        .send(&buf, 0)
        .map_err(|e| format!("netlink send: {e}"))?;
    Ok(socket)
}

fn route_query(destination: IpAddr) -> RouteMessage {
    let mut message = RouteMessage::default();
    message.header.address_family = match destination {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    message.header.destination_prefix_length = if destination.is_ipv4() { 32 } else { 128 };
    message
        .attributes
        .push(RouteAttribute::Destination(RouteAddress::from(destination)));
    message
}

/// Asks the kernel how it would route a packet from `from` to `to` (an address of this host)
/// arriving on the interface with index `iif`: `ip route get TO from FROM iif IF`. This runs the
/// kernel's input checks, reverse-path filtering included, so a packet that rp_filter would drop
/// comes back as `NoRoute` (EINVAL or EXDEV). Unprivileged.
pub fn lookup_input(from: IpAddr, to: IpAddr, iif: u32) -> RouteOutcome {
    let mut message = route_query(to);
    message.header.source_prefix_length = if from.is_ipv4() { 32 } else { 128 };
    message
        .attributes
        .push(RouteAttribute::Source(RouteAddress::from(from)));
    message.attributes.push(RouteAttribute::Iif(iif));
    match send_query(message) {
        Ok(outcome) => outcome,
        Err(reason) => RouteOutcome::Unavailable { reason },
    }
}

/// Reads the replies to a dump request until NLMSG_DONE, handing each inner message to `each`
/// (which may stop the dump with an error). Bounded by `max_datagrams` and `budget`; `what`
/// names the dump in errors. A netlink error with a code ends the dump with that errno.
pub(crate) fn read_dump<M: NetlinkDeserializable>(
    socket: &Socket,
    what: &str,
    max_datagrams: usize,
    budget: Duration,
    mut each: impl FnMut(M) -> Result<(), String>,
) -> Result<(), String> {
    let started = std::time::Instant::now();
    for _ in 0..max_datagrams {
        if started.elapsed() > budget {
            return Err(format!(
                "{what}: no end of dump within {} s",
                budget.as_secs()
            ));
        }
        let (reply, _) = socket
            .recv_from_full()
            .map_err(|e| format!("netlink receive: {e}"))?;
        let mut offset = 0;
        while offset < reply.len() {
            let Some(rest) = reply.get(offset..) else {
                break;
            };
            let msg = NetlinkMessage::<M>::deserialize(rest)
                .map_err(|e| format!("netlink decode: {e}"))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(err) => {
                    if let Some(code) = err.code {
                        return Err(format!("{what}: {}", crate::errno_message(-code.get())));
                    }
                }
                NetlinkPayload::InnerMessage(m) => each(m)?,
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset = offset.saturating_add(len);
        }
    }
    Err(format!("{what}: too many messages"))
}

fn ask_kernel(destination: IpAddr) -> Result<RouteOutcome, String> {
    send_query(route_query(destination))
}

fn send_query(message: RouteMessage) -> Result<RouteOutcome, String> {
    let socket = netlink_request(
        NETLINK_ROUTE,
        RouteNetlinkMessage::GetRoute(message),
        NLM_F_REQUEST,
        Duration::from_secs(2),
    )?;

    let (reply, _) = socket
        .recv_from_full()
        .map_err(|e| format!("netlink receive: {e}"))?;
    let mut offset = 0;
    // A reply to a non-dump request is one message (or an error); bound the loop anyway.
    for _ in 0..16 {
        if offset >= reply.len() {
            break;
        }
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[offset..])
            .map_err(|e| format!("netlink decode: {e}"))?;
        let len = msg.header.length as usize;
        match msg.payload {
            NetlinkPayload::Error(err) => {
                if let Some(code) = err.code {
                    let errno = -code.get();
                    return Ok(RouteOutcome::NoRoute {
                        errno,
                        message: crate::errno_message(errno),
                    });
                }
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(route)) => {
                return Ok(describe(&route))
            }
            _ => {}
        }
        if len == 0 {
            break;
        }
        offset += len;
    }
    Err("the kernel sent no route message".to_string())
}

fn set_receive_timeout(socket: &Socket, timeout: Duration) {
    let sock = socket2::SockRef::from(socket);
    let _ = sock.set_read_timeout(Some(timeout));
}

fn describe(route: &RouteMessage) -> RouteOutcome {
    let kind = match route.header.kind {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::Local => RouteKind::Local,
        RouteType::Broadcast => RouteKind::Broadcast,
        RouteType::Multicast => RouteKind::Multicast,
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
        other => RouteKind::Other(u8::from(other)),
    };
    let mut gateway = None;
    let mut interface = None;
    let mut source = None;
    let mut table = Some(u32::from(route.header.table));
    for attr in &route.attributes {
        match attr {
            RouteAttribute::Gateway(a) => gateway = ip_of(a),
            RouteAttribute::PrefSource(a) => source = ip_of(a),
            RouteAttribute::Oif(index) => interface = Some(interface_name(*index)),
            RouteAttribute::Table(t) => table = Some(*t),
            _ => {}
        }
    }
    RouteOutcome::Route {
        kind,
        gateway,
        interface,
        source,
        table,
    }
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The interface name for an index, from sysfs (no unsafe `if_indextoname` needed).
pub fn interface_name(index: u32) -> String {
    if let Ok(entries) = std::fs::read_dir("/sys/class/net") {
        for entry in entries.flatten().take(4096) {
            let path = entry.path().join("ifindex");
            if let Ok(text) = std::fs::read_to_string(&path) {
                if text.trim().parse::<u32>().ok() == Some(index) {
                    return entry.file_name().to_string_lossy().into_owned();
                }
            }
        }
    }
    format!("if{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_addresses_list_loopback() {
        let list = interface_addresses().expect("address dump");
        assert!(
            list.iter()
                .any(|a| a.address == IpAddr::from([127, 0, 0, 1]) && a.prefix_len == 8),
            "{list:?}"
        );
    }

    #[test]
    fn loopback_is_local() {
        match lookup("127.0.0.1".parse().unwrap()) {
            RouteOutcome::Route {
                kind, interface, ..
            } => {
                assert_eq!(kind, RouteKind::Local);
                assert_eq!(interface.as_deref(), Some("lo"));
            }
            RouteOutcome::Unavailable { reason } => eprintln!("netlink unavailable here: {reason}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
