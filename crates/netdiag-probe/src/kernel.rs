//! The kernel-state probe: reads what the host's kernel knows about one destination's path
//! (conntrack fill and drops, reverse-path filtering, the next hop's neighbour entry, the
//! interface's state) into [`KernelFacts`].
//!
//! Why: a timeout that the kernel itself causes (a full conntrack table, strict rp_filter with
//! an asymmetric route, a next hop that never answered ARP, a down link) looks exactly like a
//! remote drop from the socket's point of view. The kernel exposes each of these without
//! privileges: `/proc/sys`, `/proc/net/stat`, sysfs and an RTM_GETNEIGH dump.
//!
//! It must never change anything (no sysctl writes, no neighbour flushes), never block past
//! its netlink timeout, and never decide a verdict: [`netdiag_core::hostfacts::classify`] does.
//! A part that cannot be read is `None` with a note, never an error.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use netdiag_core::hostfacts::{
    parse_admin_up, parse_conntrack_stat, parse_netstat_counter, ConntrackFacts, InterfaceFacts,
    KernelFacts, NeighbourFacts, NeighbourState, ReversePathFacts, RpFilterFacts,
    RpFilterRuleFacts,
};
use netdiag_core::observe::{RouteKind, RouteOutcome};
use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState as NudState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

/// How long the neighbour dump may take in total.
const NETLINK_BUDGET: Duration = Duration::from_secs(2);

/// Reads the kernel's state for traffic to `destination`.
///
/// `gateway` and `interface` override what the kernel's route lookup says (pass `None` to use
/// the route). `interface` is the interface packets *from* the destination arrive on; when it
/// differs from the interface of the route back, the route is asymmetric for rp_filter.
pub fn facts(destination: IpAddr, gateway: Option<IpAddr>, interface: Option<&str>) -> KernelFacts {
    let mut facts = KernelFacts::default();
    let (route_interface, route_gateway, local) = match crate::route::lookup(destination) {
        RouteOutcome::Route {
            kind,
            gateway,
            interface,
            ..
        } => (interface, gateway, kind == RouteKind::Local),
        RouteOutcome::NoRoute { message, .. } => {
            facts
                .notes
                .push(format!("no route to {destination}: {message}"));
            (None, None, false)
        }
        RouteOutcome::Unavailable { reason } => {
            facts
                .notes
                .push(format!("route lookup unavailable: {reason}"));
            (None, None, false)
        }
    };
    let arrival = interface
        .map(str::to_string)
        .or_else(|| route_interface.clone());

    match conntrack(Path::new("/proc")) {
        Ok(ct) => facts.conntrack = Some(ct),
        Err(note) => facts.notes.push(note),
    }

    if let Some(name) = &arrival {
        if destination.is_ipv4() {
            facts.rp_filter = rp_filter(name, route_interface.clone());
            if facts.rp_filter.is_none() {
                facts.notes.push(format!("rp_filter of {name} unreadable"));
            }
        }
        match interface_facts(name) {
            Some(link) => facts.interface = Some(link),
            None => facts
                .notes
                .push(format!("no interface {name} in /sys/class/net")),
        }
    }

    // The neighbour that matters is on the interface the packets leave by.
    let out_interface = interface.map(str::to_string).or(route_interface);
    if let (Some(name), false) = (&out_interface, local) {
        let next_hop = gateway.or(route_gateway).unwrap_or(destination);
        match neighbour(next_hop, name) {
            Ok(n) => facts.neighbour = Some(n),
            Err(note) => facts.notes.push(note),
        }
    }
    facts
}

/// Reads conntrack count, max and drop counters under `proc` (normally `/proc`).
///
/// The count and drops are per network namespace; the max is global on kernels that keep it
/// read-only outside the initial namespace.
pub fn conntrack(proc: &Path) -> Result<ConntrackFacts, String> {
    let sys = proc.join("sys/net/netfilter");
    let read_number = |name: &str| -> Result<u64, String> {
        let text = std::fs::read_to_string(sys.join(name)).map_err(|e| {
            format!("conntrack not available ({name}: {e}; is the nf_conntrack module loaded?)")
        })?;
        text.trim()
            .parse()
            .map_err(|_| format!("conntrack: {name} is not a number: {:?}", text.trim()))
    };
    let count = read_number("nf_conntrack_count")?;
    let max = read_number("nf_conntrack_max")?;
    let drops = std::fs::read_to_string(proc.join("net/stat/nf_conntrack"))
        .ok()
        .and_then(|text| parse_conntrack_stat(&text));
    Ok(ConntrackFacts {
        count,
        max,
        drops,
        drops_increase: None,
    })
}

fn read_small(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_string())
}

fn valid_interface_name(name: &str) -> bool {
    // IFNAMSIZ is 16 including the NUL; no path separators may reach a sysfs path.
    !name.is_empty() && name.len() < 16 && !name.contains('/') && name != "." && name != ".."
}

fn rp_filter(interface: &str, route_interface: Option<String>) -> Option<RpFilterFacts> {
    if !valid_interface_name(interface) {
        return None;
    }
    let conf = Path::new("/proc/sys/net/ipv4/conf");
    let value = |name: &str| {
        read_small(&conf.join(name).join("rp_filter"))?
            .parse::<u8>()
            .ok()
    };
    Some(RpFilterFacts {
        interface: interface.to_string(),
        all: value("all")?,
        on_interface: value(interface),
        route_interface,
    })
}

/// How long the repeat probe for reverse-path drops may run: one SYN and its retransmission.
pub const REVERSE_PATH_PROBE: Duration = Duration::from_millis(1300);

/// Measures reverse-path filtering for TCP to `destination` from `source` (this host's address).
///
/// Only when some interface other than `route_interface` filters strictly (effective
/// rp_filter 1) does it do anything costly: it asks the kernel's input-route check which of those
/// interfaces would drop packets from the destination, then repeats the connect for at most
/// `budget` while watching `TcpExt: IPReversePathFilter` grow. The connection attempt is the same
/// one the walk already made; nothing is changed. `None` for IPv6 (no rp_filter) or when no other
/// interface filters strictly.
///
/// `during_connect` is what the counter did while the walk's own connect went unanswered (its
/// growth and how long that was watched, across SYN retransmissions): when it did not grow,
/// none of those SYNs' replies was dropped by the filter, so repeating the connect could only
/// say the same, and is skipped.
pub fn reverse_path(
    destination: std::net::SocketAddr,
    source: Option<IpAddr>,
    route_interface: Option<&str>,
    budget: Duration,
    during_connect: Option<(u64, Duration)>,
) -> Option<ReversePathFacts> {
    if !destination.is_ipv4() {
        return None;
    }
    let conf = Path::new("/proc/sys/net/ipv4/conf");
    let all: u8 = read_small(&conf.join("all/rp_filter"))?.parse().ok()?;
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .flatten()
        .take(256)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lo" && Some(n.as_str()) != route_interface && valid_interface_name(n))
        .collect();
    names.sort();
    let strict: Vec<String> = names
        .into_iter()
        .filter(|n| {
            let own: u8 = read_small(&conf.join(n).join("rp_filter"))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            all.max(own) == 1 && interface_facts(n).is_some_and(|i| !i.down())
        })
        .collect();
    if strict.is_empty() {
        return None;
    }
    let source = source.or_else(|| match crate::route::lookup(destination.ip()) {
        RouteOutcome::Route { source, .. } => source,
        _ => None,
    });
    let rejecting = match source {
        Some(local) => strict
            .iter()
            .filter(|n| {
                read_small(&Path::new("/sys/class/net").join(n.as_str()).join("ifindex"))
                    .and_then(|t| t.parse::<u32>().ok())
                    .is_some_and(|index| {
                        matches!(
                            crate::route::lookup_input(destination.ip(), local, index),
                            RouteOutcome::NoRoute { .. }
                        )
                    })
            })
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    if let Some((0, watched)) = during_connect {
        return Some(ReversePathFacts {
            route_interface: route_interface.map(str::to_string),
            strict_interfaces: strict,
            rejecting_interfaces: rejecting,
            all,
            drops_during_probe: Some(0),
            probe_duration: watched,
        });
    }
    let counter = reverse_path_drops;
    let started = Instant::now();
    let drops = counter().map(|before| {
        let socket = repeat_connect(destination);
        let mut grown = 0;
        // Poll the counter; stop as soon as it grows or the budget is spent. Bounded by time.
        while started.elapsed() < budget {
            std::thread::sleep(Duration::from_millis(50));
            grown = counter().map_or(0, |now| now.saturating_sub(before));
            if grown > 0 {
                break;
            }
        }
        drop(socket);
        grown
    });
    Some(ReversePathFacts {
        route_interface: route_interface.map(str::to_string),
        strict_interfaces: strict,
        rejecting_interfaces: rejecting,
        all,
        drops_during_probe: drops,
        probe_duration: started.elapsed(),
    })
}

/// IPv6's reverse-path filter: the firewall's rpfilter rules (`-m rpfilter --invert -j DROP`,
/// `fib saddr . iif oif missing drop`) read, the connect to `destination` repeated for at most
/// `budget` while their packet counters are re-read, and both readings kept.
///
/// `None` for IPv4 (the sysctl path covers it) or when there is no such rule; a firewall that
/// cannot be read (no CAP_NET_ADMIN) is a note in `facts`. Nothing is changed.
pub fn rpfilter_rules(
    facts: &mut KernelFacts,
    destination: std::net::SocketAddr,
    route_interface: Option<&str>,
    budget: Duration,
) -> Option<RpFilterRuleFacts> {
    use netdiag_core::firewall::rpfilter::rpfilter_rules_of;
    if destination.is_ipv4() {
        return None;
    }
    let read = |deadline: Instant| rpfilter_rules_of(&crate::firewall::read_rulesets(deadline));
    let before = match read(Instant::now() + Duration::from_secs(2)) {
        Ok(rules) => rules,
        Err(why) => {
            facts
                .notes
                .push(format!("IPv6 reverse-path filter rules not read: {why}"));
            return None;
        }
    };
    if before.is_empty() {
        return None;
    }
    for r in before.iter().filter(|r| r.packets.is_none()) {
        facts.notes.push(format!(
            "reverse-path filter rule without a counter (its drops cannot be measured): {r}"
        ));
    }
    let started = Instant::now();
    let socket = repeat_connect(destination);
    let mut after = before.clone();
    // Re-read until a counter grows or the budget is spent; each reading runs the tools once.
    for _ in 0..16 {
        if started.elapsed() >= budget {
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
        // A reading never outlasts the budget: the tools are killed at its end.
        if let Ok(now) = read(started + budget) {
            after = now;
        }
        let facts_now = RpFilterRuleFacts {
            peer: destination.ip(),
            port: destination.port(),
            route_interface: None,
            before: before.clone(),
            after: after.clone(),
            probe_duration: Duration::ZERO,
        };
        if !facts_now.grown().is_empty() {
            break;
        }
    }
    drop(socket);
    Some(RpFilterRuleFacts {
        peer: destination.ip(),
        port: destination.port(),
        route_interface: route_interface.map(str::to_string),
        before,
        after,
        probe_duration: started.elapsed(),
    })
}

/// `TcpExt: IPReversePathFilter`: packets this host's reverse-path filter dropped so far
/// (`None` when /proc/net/netstat is unreadable).
pub fn reverse_path_drops() -> Option<u64> {
    std::fs::read_to_string("/proc/net/netstat")
        .ok()
        .and_then(|t| parse_netstat_counter(&t, "TcpExt:", "IPReversePathFilter"))
}

/// Starts a nonblocking TCP connect to `destination` and returns the socket (kept open while the
/// caller watches counters). Errors are irrelevant here: only the kernel's counters are read.
fn repeat_connect(destination: std::net::SocketAddr) -> Option<socket2::Socket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(destination),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .ok()?;
    socket.set_nonblocking(true).ok()?;
    let _ = socket.connect(&destination.into());
    Some(socket)
}

/// Reads `operstate`, `carrier`, `flags` and `mtu` of one interface from sysfs.
pub fn interface_facts(name: &str) -> Option<InterfaceFacts> {
    if !valid_interface_name(name) {
        return None;
    }
    let dir = Path::new("/sys/class/net").join(name);
    let operstate = read_small(&dir.join("operstate"))?;
    // Reading `carrier` of an administratively down interface fails with EINVAL: unknown.
    let carrier = read_small(&dir.join("carrier")).and_then(|c| match c.as_str() {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    });
    let admin_up = read_small(&dir.join("flags"))
        .and_then(|f| parse_admin_up(&f))
        .unwrap_or(false);
    let mtu = read_small(&dir.join("mtu")).and_then(|m| m.parse().ok());
    Some(InterfaceFacts {
        name: name.to_string(),
        operstate,
        carrier,
        admin_up,
        mtu,
    })
}

/// The neighbour entry for `address` on `interface`, from an RTM_GETNEIGH dump (what
/// `ip neigh show to ADDR dev IF` prints). No entry at all is [`NeighbourState::Absent`].
pub fn neighbour(address: IpAddr, interface: &str) -> Result<NeighbourFacts, String> {
    if !valid_interface_name(interface) {
        return Err(format!("neighbour: invalid interface name {interface:?}"));
    }
    let index: u32 = read_small(&Path::new("/sys/class/net").join(interface).join("ifindex"))
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("neighbour: no interface {interface}"))?;
    let entries = dump_neighbours(address.is_ipv4())?;
    let found = entries
        .into_iter()
        .find(|(ifindex, addr, _, _)| *ifindex == index && *addr == address);
    let (state, lladdr) = match found {
        Some((_, _, state, lladdr)) => (state, lladdr),
        None => (NeighbourState::Absent, None),
    };
    Ok(NeighbourFacts {
        address,
        interface: interface.to_string(),
        state,
        lladdr,
    })
}

type NeighbourEntry = (u32, IpAddr, NeighbourState, Option<String>);

fn dump_neighbours(v4: bool) -> Result<Vec<NeighbourEntry>, String> {
    let mut message = NeighbourMessage::default();
    message.header.family = if v4 {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let socket = crate::route::netlink_request(
        netlink_sys::protocols::NETLINK_ROUTE,
        RouteNetlinkMessage::GetNeighbour(message),
        NLM_F_REQUEST | NLM_F_DUMP,
        Duration::from_millis(500),
    )?;
    let mut out = Vec::new();
    crate::route::read_dump(
        &socket,
        "neighbour dump",
        1024,
        NETLINK_BUDGET,
        |m: RouteNetlinkMessage| {
            if let RouteNetlinkMessage::NewNeighbour(n) = m {
                out.extend(entry_of(&n));
            }
            Ok(())
        },
    )?;
    Ok(out)
}

fn entry_of(n: &NeighbourMessage) -> Option<NeighbourEntry> {
    let mut address = None;
    let mut lladdr = None;
    for attr in &n.attributes {
        match attr {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                address = Some(IpAddr::V4(*a));
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                address = Some(IpAddr::V6(*a));
            }
            NeighbourAttribute::LinkLayerAddress(bytes) => {
                lladdr = Some(
                    bytes
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                );
            }
            _ => {}
        }
    }
    Some((n.header.ifindex, address?, state_of(n.header.state), lladdr))
}

fn state_of(state: NudState) -> NeighbourState {
    match state {
        NudState::Incomplete => NeighbourState::Incomplete,
        NudState::Reachable => NeighbourState::Reachable,
        NudState::Stale => NeighbourState::Stale,
        NudState::Delay => NeighbourState::Delay,
        NudState::Probe => NeighbourState::Probe,
        NudState::Failed => NeighbourState::Failed,
        NudState::Noarp => NeighbourState::Noarp,
        NudState::Permanent => NeighbourState::Permanent,
        NudState::None => NeighbourState::Absent,
        other => NeighbourState::Other(u16::from(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_facts_read_without_privileges() {
        let facts = facts("127.0.0.1".parse().unwrap(), None, None);
        // Loopback is a local route: no neighbour entry is looked up.
        assert_eq!(facts.neighbour, None);
        if let Some(link) = &facts.interface {
            assert_eq!(link.name, "lo");
            assert!(link.admin_up, "{link:?}");
        }
    }

    #[test]
    fn conntrack_reads_a_fake_proc_tree() {
        let dir = std::env::temp_dir().join(format!("ndtks-proc-{}", std::process::id()));
        let sys = dir.join("sys/net/netfilter");
        std::fs::create_dir_all(&sys).unwrap();
        std::fs::create_dir_all(dir.join("net/stat")).unwrap();
        std::fs::write(sys.join("nf_conntrack_count"), "63\n").unwrap();
        std::fs::write(sys.join("nf_conntrack_max"), "64\n").unwrap();
        std::fs::write(
            dir.join("net/stat/nf_conntrack"),
            "entries insert_failed drop early_drop\n0000003f 00000000 00000005 00000000\n",
        )
        .unwrap();
        let ct = conntrack(&dir).unwrap();
        assert_eq!((ct.count, ct.max), (63, 64));
        assert_eq!(ct.drops.map(|d| d.total()), Some(5));
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = conntrack(&dir).unwrap_err();
        assert!(missing.contains("nf_conntrack module"), "{missing}");
    }

    #[test]
    fn interface_names_never_escape_sysfs() {
        assert_eq!(interface_facts("../../etc"), None);
        assert_eq!(interface_facts(""), None);
        assert!(neighbour("10.0.0.1".parse().unwrap(), "a/b").is_err());
    }
}
