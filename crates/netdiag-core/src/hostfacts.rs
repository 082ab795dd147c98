//! Host-side kernel state and "where on the path": the facts, and what they mean.
//!
//! Why this exists: a connect that times out says nothing about *why*. The kernel often knows:
//! its connection-tracking table is full and drops new flows, strict reverse-path filtering
//! discards replies that arrive on the "wrong" interface, the next hop never answered ARP/ND,
//! or the interface is simply down. And TTL-limited probes on the flow's own port show how far
//! along the path packets still get. The probe side (`netdiag-probe`'s `kernel` and `trace`
//! modules) records these as plain data; this module turns them into findings and sentences.
//!
//! It must never do I/O: the parsers take the text the kernel wrote, the classifiers take the
//! facts, and the table tests below are the specification.

use std::net::IpAddr;
use std::time::Duration;

use crate::cause::Cause;
use crate::observe::{IcmpError, IcmpKind};

/// Everything the kernel told us about the host side of one destination.
///
/// Each part is `None` when it could not be read; `notes` says why (module not loaded, no such
/// interface, netlink unavailable), so a missing fact is visible and never silently "healthy".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelFacts {
    /// Connection tracking, when the `nf_conntrack` module is loaded.
    pub conntrack: Option<ConntrackFacts>,
    /// Reverse-path filtering on the interface replies arrive on.
    pub rp_filter: Option<RpFilterFacts>,
    /// The neighbour (ARP/NDP) entry for the next hop.
    pub neighbour: Option<NeighbourFacts>,
    /// The state of the interface the route uses.
    pub interface: Option<InterfaceFacts>,
    /// Replies dropped by reverse-path filtering, measured during a repeat probe, when some
    /// other interface filters strictly (the arrival interface is not known to a socket).
    pub reverse_path: Option<ReversePathFacts>,
    /// IPv6's counterpart of rp_filter: reverse-path filter rules of the firewall, with their
    /// counters before and after a repeat probe.
    pub rpfilter_rules: Option<RpFilterRuleFacts>,
    /// Why a part is missing, one line each.
    pub notes: Vec<String>,
}

/// Connection-tracking table fill and drop counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConntrackFacts {
    /// `net.netfilter.nf_conntrack_count`: entries in this network namespace.
    pub count: u64,
    /// `net.netfilter.nf_conntrack_max`: the table limit.
    pub max: u64,
    /// Drop counters summed over CPUs (`/proc/net/stat/nf_conntrack`), when readable.
    pub drops: Option<ConntrackDrops>,
    /// How much the summed drops grew between two readings, when the caller took two
    /// (see [`ConntrackFacts::with_earlier`]). Growth is direct evidence of ongoing loss.
    pub drops_increase: Option<u64>,
}

/// The conntrack drop counters that mean "a new flow was refused an entry".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConntrackDrops {
    /// `drop`: a new entry could not be allocated (table full, no early drop possible).
    pub drop: u64,
    /// `early_drop`: an unassured entry was evicted to make room.
    pub early_drop: u64,
    /// `insert_failed`: an entry could not be inserted (e.g. a clash).
    pub insert_failed: u64,
}

impl ConntrackDrops {
    /// The sum of the three counters (saturating).
    pub fn total(&self) -> u64 {
        self.drop
            .saturating_add(self.early_drop)
            .saturating_add(self.insert_failed)
    }
}

impl ConntrackFacts {
    /// Records how much the drop counters grew since `earlier` (a reading taken before).
    pub fn with_earlier(mut self, earlier: &ConntrackFacts) -> ConntrackFacts {
        if let (Some(now), Some(then)) = (self.drops, earlier.drops) {
            self.drops_increase = Some(now.total().saturating_sub(then.total()));
        }
        self
    }

    /// True when the table is at least 98 % full.
    pub fn nearly_full(&self) -> bool {
        self.max > 0 && u128::from(self.count) * 100 >= u128::from(self.max) * 98
    }
}

/// Parses `/proc/net/stat/nf_conntrack`: a header line of column names, then one line of
/// hexadecimal counters per CPU. Sums `drop`, `early_drop` and `insert_failed` over CPUs.
///
/// `None` when the header lacks all three columns. Malformed cells count as zero: a counter we
/// cannot read must not hide the ones we can.
pub fn parse_conntrack_stat(text: &str) -> Option<ConntrackDrops> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (drop, early, failed) = (
        column("drop"),
        column("early_drop"),
        column("insert_failed"),
    );
    if drop.is_none() && early.is_none() && failed.is_none() {
        return None;
    }
    let mut out = ConntrackDrops::default();
    // One line per possible CPU; bound the walk anyway.
    for line in lines.take(4096) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let cell = |index: Option<usize>| {
            index
                .and_then(|i| cells.get(i))
                .and_then(|c| u64::from_str_radix(c, 16).ok())
                .unwrap_or(0)
        };
        out.drop = out.drop.saturating_add(cell(drop));
        out.early_drop = out.early_drop.saturating_add(cell(early));
        out.insert_failed = out.insert_failed.saturating_add(cell(failed));
    }
    Some(out)
}

/// Reverse-path filtering for the interface replies from the destination arrive on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpFilterFacts {
    /// The interface packets from the destination arrive on.
    pub interface: String,
    /// `net.ipv4.conf.all.rp_filter`.
    pub all: u8,
    /// `net.ipv4.conf.<interface>.rp_filter`, when readable.
    pub on_interface: Option<u8>,
    /// The interface the kernel's route back to the destination leaves by.
    pub route_interface: Option<String>,
}

impl RpFilterFacts {
    /// The value the kernel applies: the larger of `all` and the interface's own.
    pub fn effective(&self) -> u8 {
        self.all.max(self.on_interface.unwrap_or(0))
    }

    /// True when the route back leaves by another interface than the one packets arrive on.
    pub fn asymmetric(&self) -> bool {
        self.route_interface
            .as_deref()
            .is_some_and(|route| route != self.interface)
    }
}

/// Reverse-path filtering measured rather than inferred: which interfaces other than the route's
/// filter strictly, which of them the kernel's own input-route check says would drop packets from
/// the destination, and how many packets the filter actually dropped while we repeated the probe.
///
/// Why: a socket never learns on which interface a reply arrived, so "strict rp_filter with an
/// asymmetric route" cannot be seen from the connect alone. The kernel's `IPReversePathFilter`
/// counter (`/proc/net/netstat`, per namespace) growing while only our probe runs is first-hand
/// evidence that replies came back and were discarded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReversePathFacts {
    /// The interface the route to the destination leaves by.
    pub route_interface: Option<String>,
    /// Other interfaces whose effective rp_filter (max of `all` and their own) is 1 (strict).
    pub strict_interfaces: Vec<String>,
    /// Of those, the ones where `ip route get SOURCE from DESTINATION iif IF` is rejected: a
    /// packet from the destination arriving there would be dropped.
    pub rejecting_interfaces: Vec<String>,
    /// `net.ipv4.conf.all.rp_filter`.
    pub all: u8,
    /// Growth of `TcpExt: IPReversePathFilter` during the repeat probe; `None` if unreadable.
    pub drops_during_probe: Option<u64>,
    /// How long the repeat probe ran.
    pub probe_duration: Duration,
}

/// IPv6 reverse-path filter rules (`-m rpfilter --invert -j DROP`, `fib saddr . iif oif missing
/// drop`) read before and after repeating the connect that went unanswered.
///
/// Why: IPv6 has no rp_filter sysctl and no `IPReversePathFilter` counter; the rule's own packet
/// counter growing while only our probe runs is the first-hand evidence that replies came back
/// and the rule discarded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpFilterRuleFacts {
    /// The peer whose replies are filtered (the destination).
    pub peer: IpAddr,
    /// The destination's TCP port (the replies' source port).
    pub port: u16,
    /// The interface the route to the destination leaves by.
    pub route_interface: Option<String>,
    /// The rules before the repeat probe.
    pub before: Vec<crate::firewall::RuleRef>,
    /// The same rules after it.
    pub after: Vec<crate::firewall::RuleRef>,
    /// How long the repeat probe ran.
    pub probe_duration: Duration,
}

impl RpFilterRuleFacts {
    /// Each rule whose packet counter grew, with its counter before and after.
    pub fn grown(&self) -> Vec<(&crate::firewall::RuleRef, u64, u64)> {
        self.after
            .iter()
            .filter_map(|now| {
                let then = self
                    .before
                    .iter()
                    .find(|b| crate::firewall::rpfilter::same_rule(b, now))?;
                let (a, b) = (then.packets?, now.packets?);
                (b > a).then_some((now, a, b))
            })
            .collect()
    }
}

/// The finding for IPv6 reverse-path filter rules whose counter grew during the repeat probe.
fn rpfilter_rule_finding(r: &RpFilterRuleFacts) -> Option<HostFinding> {
    let grown = r.grown();
    let (rule, from, to) = *grown.first()?;
    let route = r.route_interface.as_deref().unwrap_or("another interface");
    let (exception, undo) = crate::firewall::rpfilter::exception_for(rule, r.peer, r.port);
    Some(HostFinding {
        code: Cause::RpFilterStrictAsymmetric,
        severity: Severity::Fail,
        text: format!(
            "the IPv6 reverse-path filter rule ({rule}) dropped {} packet(s) from {} while the probe was repeated (counter {from} -> {to} in {}): replies arrive on an interface the route back (via {route}) does not use, so the rule discards them",
            to - from,
            r.peer,
            crate::diagnose::human(r.probe_duration)
        ),
        fix: format!(
            "{exception} (a scoped exception before the rule; or make the routing symmetric: route {} out of the interface its replies arrive on, see ip -6 route get {})",
            r.peer, r.peer
        ),
        rollback: undo,
    })
}

/// Reads one counter from `/proc/net/netstat` or `/proc/net/snmp` text: pairs of lines, a header
/// `Prefix: Name1 Name2 …` followed by `Prefix: 1 2 …`. `None` when absent or malformed.
pub fn parse_netstat_counter(text: &str, prefix: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines().take(256);
    while let Some(header) = lines.next() {
        let values = lines.next()?;
        let mut h = header.split_whitespace();
        let mut v = values.split_whitespace();
        if h.next() != Some(prefix) || v.next() != Some(prefix) {
            continue;
        }
        let column = h.position(|n| n == name)?;
        return v.nth(column)?.parse().ok();
    }
    None
}

/// The kernel's neighbour-cache state (`NUD_*`), as `ip neigh` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourState {
    /// Confirmed recently.
    Reachable,
    /// Known, not confirmed recently; will be re-checked on use.
    Stale,
    /// Waiting for upper-layer confirmation before probing.
    Delay,
    /// Being probed with unicast ARP/NS.
    Probe,
    /// Resolution is in progress (no answer yet).
    Incomplete,
    /// Resolution failed: nobody answered ARP/NS.
    Failed,
    /// Static entry.
    Permanent,
    /// No resolution needed (point-to-point, loopback).
    Noarp,
    /// No entry at all.
    Absent,
    /// Any other value.
    Other(u16),
}

impl NeighbourState {
    /// The name `ip neigh` uses.
    pub fn name(&self) -> String {
        match self {
            NeighbourState::Reachable => "REACHABLE".into(),
            NeighbourState::Stale => "STALE".into(),
            NeighbourState::Delay => "DELAY".into(),
            NeighbourState::Probe => "PROBE".into(),
            NeighbourState::Incomplete => "INCOMPLETE".into(),
            NeighbourState::Failed => "FAILED".into(),
            NeighbourState::Permanent => "PERMANENT".into(),
            NeighbourState::Noarp => "NOARP".into(),
            NeighbourState::Absent => "no entry".into(),
            NeighbourState::Other(v) => format!("state {v:#x}"),
        }
    }
}

/// The neighbour entry for the next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourFacts {
    /// The next hop: the gateway, or the destination when directly connected.
    pub address: IpAddr,
    /// The interface.
    pub interface: String,
    /// The entry's state.
    pub state: NeighbourState,
    /// The link-layer address, when known (e.g. `02:00:00:00:00:01`).
    pub lladdr: Option<String>,
}

/// An interface's state from sysfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceFacts {
    /// The name.
    pub name: String,
    /// `operstate` (`up`, `down`, `lowerlayerdown`, `unknown`, ...).
    pub operstate: String,
    /// `carrier` (None when the interface is administratively down: the kernel refuses to say).
    pub carrier: Option<bool>,
    /// `IFF_UP` from `flags`: administratively up.
    pub admin_up: bool,
    /// The MTU.
    pub mtu: Option<u32>,
}

/// `IFF_UP` in `/sys/class/net/<if>/flags`.
pub const IFF_UP: u32 = 0x1;

/// Parses the hexadecimal `flags` file (`0x1003`) into "administratively up".
pub fn parse_admin_up(flags: &str) -> Option<bool> {
    let text = flags.trim();
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    u32::from_str_radix(digits, 16)
        .ok()
        .map(|f| f & IFF_UP != 0)
}

impl InterfaceFacts {
    /// True when the interface cannot carry traffic: administratively down, no carrier, or
    /// an operational state of `down`/`lowerlayerdown`/`notpresent`.
    pub fn down(&self) -> bool {
        !self.admin_up
            || self.carrier == Some(false)
            || matches!(
                self.operstate.as_str(),
                "down" | "lowerlayerdown" | "notpresent"
            )
    }
}

/// How bad a host finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// It explains a failure: it is the cause when the walk stops here.
    Fail,
    /// Worth knowing; may contribute.
    Warn,
}

/// One conclusion from the kernel facts, with its fix and rollback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFinding {
    /// The cause: `conntrack_table_full`, `rp_filter_strict_asymmetric`, `neighbor_failed`,
    /// `interface_down`.
    pub code: Cause,
    /// Fail or warn.
    pub severity: Severity,
    /// One line: what the kernel state is and why it breaks the flow.
    pub text: String,
    /// A concrete command that fixes it.
    pub fix: String,
    /// The command that undoes the fix.
    pub rollback: String,
}

/// Turns kernel facts into findings, most fundamental first (interface, neighbour, rp_filter,
/// conntrack): a down interface explains a failed neighbour, not the other way round.
pub fn classify(facts: &KernelFacts) -> Vec<HostFinding> {
    let mut out = Vec::new();
    if let Some(link) = facts.interface.as_ref().filter(|i| i.down()) {
        let why = if !link.admin_up {
            "administratively down".to_string()
        } else if link.carrier == Some(false) {
            "up but has no carrier (cable, peer or veth end down)".to_string()
        } else {
            format!("operationally {}", link.operstate)
        };
        out.push(HostFinding {
            code: Cause::InterfaceDown,
            severity: Severity::Fail,
            text: format!("interface {} is {why}: nothing leaves by it", link.name),
            fix: format!("ip link set {} up", link.name),
            rollback: format!("ip link set {} down", link.name),
        });
    }
    if let Some(n) = &facts.neighbour {
        if matches!(n.state, NeighbourState::Failed | NeighbourState::Incomplete) {
            let protocol = if n.address.is_ipv4() {
                "ARP"
            } else {
                "neighbour solicitation"
            };
            out.push(HostFinding {
                code: Cause::NeighborFailed,
                severity: Severity::Fail,
                text: format!(
                    "the next hop {} on {} is {}: nobody answered {protocol}, so packets to it are dropped before they leave",
                    n.address,
                    n.interface,
                    n.state.name()
                ),
                fix: format!(
                    "check that {} is up and owns {} (on it: ip addr; here: ip neigh show dev {}), then ip neigh flush dev {} to {}",
                    n.address, n.address, n.interface, n.interface, n.address
                ),
                rollback: "none needed (the flush only clears a cache entry)".to_string(),
            });
        }
    }
    if let Some(rp) = &facts.rp_filter {
        if rp.effective() == 1 && rp.asymmetric() {
            let route = rp.route_interface.as_deref().unwrap_or("?");
            let old = rp.on_interface.unwrap_or(rp.all);
            let mut fix = format!("sysctl -w net.ipv4.conf.{}.rp_filter=2", rp.interface);
            let mut rollback = format!("sysctl -w net.ipv4.conf.{}.rp_filter={old}", rp.interface);
            if rp.all == 1 {
                fix = format!("sysctl -w net.ipv4.conf.all.rp_filter=2 && {fix}");
                rollback = format!("{rollback} && sysctl -w net.ipv4.conf.all.rp_filter=1");
            }
            out.push(HostFinding {
                code: Cause::RpFilterStrictAsymmetric,
                severity: Severity::Fail,
                text: format!(
                    "strict rp_filter (1) on {} with an asymmetric route: packets from the destination arrive on {} but the route back leaves by {route}, so the kernel drops them",
                    rp.interface, rp.interface
                ),
                fix,
                rollback,
            });
        }
    }
    if let Some(rpf) = &facts.reverse_path {
        let already = out
            .iter()
            .any(|h| h.code == Cause::RpFilterStrictAsymmetric);
        if let (Some(drops), false) = (rpf.drops_during_probe.filter(|d| *d > 0), already) {
            let arrival = if rpf.rejecting_interfaces.is_empty() {
                &rpf.strict_interfaces
            } else {
                &rpf.rejecting_interfaces
            };
            let names = arrival.join(" or ");
            let route = rpf
                .route_interface
                .as_deref()
                .unwrap_or("another interface");
            let set = |value: u8| {
                let mut parts: Vec<String> = arrival
                    .iter()
                    .map(|i| format!("sysctl -w net.ipv4.conf.{i}.rp_filter={value}"))
                    .collect();
                if rpf.all == 1 {
                    parts.insert(0, format!("sysctl -w net.ipv4.conf.all.rp_filter={value}"));
                }
                parts.join(" && ")
            };
            out.push(HostFinding {
                code: Cause::RpFilterStrictAsymmetric,
                severity: Severity::Fail,
                text: format!(
                    "strict reverse-path filtering dropped {drops} packet(s) from the destination while the probe was repeated (IPReversePathFilter +{drops} in {}): replies arrive on {names}, but the route back leaves by {route}, so the kernel discards them",
                    crate::diagnose::human(rpf.probe_duration)
                ),
                fix: format!(
                    "{} (loose mode; or make the routing symmetric so replies come back on {route})",
                    set(2)
                ),
                rollback: set(1),
            });
        }
    }
    if let Some(h) = facts
        .rpfilter_rules
        .as_ref()
        .and_then(rpfilter_rule_finding)
    {
        if !out
            .iter()
            .any(|o| o.code == Cause::RpFilterStrictAsymmetric)
        {
            out.push(h);
        }
    }
    if let Some(ct) = &facts.conntrack {
        let growing = ct.drops_increase.filter(|d| *d > 0);
        if ct.nearly_full() || growing.is_some() {
            let mut text = format!(
                "the connection-tracking table holds {} of {} entries",
                ct.count, ct.max
            );
            if let Some(d) = growing {
                text.push_str(&format!(" and dropped {d} new flows while we watched"));
            }
            text.push_str(": new connections are dropped before any rule sees them");
            let bigger = ct.max.saturating_mul(2).max(65536);
            out.push(HostFinding {
                code: Cause::ConntrackTableFull,
                severity: Severity::Fail,
                text,
                fix: format!(
                    "sysctl -w net.netfilter.nf_conntrack_max={bigger} (and find who opens so many flows: conntrack -L | head)"
                ),
                rollback: format!("sysctl -w net.netfilter.nf_conntrack_max={}", ct.max),
            });
        }
    }
    out
}

/// One TTL-limited probe and what came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// The TTL (hop limit) the probe left with.
    pub ttl: u8,
    /// Who answered: a router (time exceeded or unreachable) or the destination itself.
    pub responder: Option<IpAddr>,
    /// The ICMP error, when the answer was one.
    pub icmp: Option<IcmpError>,
    /// Time from sending to the answer.
    pub rtt: Option<Duration>,
}

/// The result of a "where on the path" trace for one flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathTrace {
    /// One entry per TTL sent, in TTL order, up to the hop that reached the destination.
    pub hops: Vec<Hop>,
    /// True when a probe reached the destination (handshake, reset, reply or port unreachable).
    pub reached: bool,
    /// The highest TTL that drew an answer before the destination, with the responder.
    pub last_responding: Option<(u8, IpAddr)>,
    /// The first TTL after `last_responding` that drew no answer.
    pub first_silent: Option<u8>,
}

/// Fills `last_responding` and `first_silent` from the hops (pure, so both sides agree).
pub fn summarize(hops: Vec<Hop>, reached: bool) -> PathTrace {
    let last_responding = hops
        .iter()
        .rev()
        .find_map(|h| h.responder.map(|r| (h.ttl, r)));
    let after = last_responding.map_or(0, |(ttl, _)| ttl);
    let first_silent = if reached {
        None
    } else {
        hops.iter()
            .find(|h| h.ttl > after && h.responder.is_none())
            .map(|h| h.ttl)
    };
    PathTrace {
        hops,
        reached,
        last_responding,
        first_silent,
    }
}

/// One sentence saying where on the path the flow stops, e.g.
/// "dropped after 10.77.1.1 (hop 1); hop 2 and beyond silent".
pub fn describe_path(trace: &PathTrace) -> String {
    // A router that rejected outright is the most specific thing the path can say.
    let rejection = trace.hops.iter().find(|h| {
        h.icmp.is_some_and(|i| {
            i.kind() != IcmpKind::TimeExceeded && i.kind() != IcmpKind::PortUnreachable
        })
    });
    if let Some(hop) = rejection {
        if let (Some(icmp), Some(who)) = (hop.icmp, hop.responder) {
            return format!("rejected by {who} (hop {}): {}", hop.ttl, icmp.describe());
        }
    }
    if trace.reached {
        let hops = trace.hops.last().map_or(0, |h| h.ttl);
        return format!("the destination answers at hop {hops}: the path itself delivers");
    }
    match (trace.last_responding, trace.first_silent) {
        (Some((ttl, who)), Some(silent)) => {
            format!("dropped after {who} (hop {ttl}); hop {silent} and beyond silent")
        }
        (Some((ttl, who)), None) => format!("dropped after {who} (hop {ttl})"),
        (None, _) => {
            "no hop answered, not even the first router: dropped on this host or at the first hop (or ICMP is filtered or rate-limited)".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STAT: &str = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 0000000a 00000001 00000000  00000000 00000000 00000000 00000000\n\
00000010  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000010 00000000 00000000  00000000 00000000 00000000 00000000\n";

    #[test]
    fn reverse_path_fix_names_the_rejecting_interface_and_all() {
        let facts = KernelFacts {
            reverse_path: Some(ReversePathFacts {
                route_interface: Some("eth0".into()),
                strict_interfaces: vec!["eth1".into(), "eth2".into()],
                rejecting_interfaces: vec!["eth1".into()],
                all: 1,
                drops_during_probe: Some(3),
                probe_duration: Duration::from_millis(1200),
            }),
            ..Default::default()
        };
        let found = classify(&facts);
        let h = &found[0];
        assert!(h.text.contains("IPReversePathFilter +3"), "{}", h.text);
        assert!(h.text.contains("arrive on eth1"), "{}", h.text);
        assert!(h.text.contains("leaves by eth0"), "{}", h.text);
        assert_eq!(
            h.fix,
            "sysctl -w net.ipv4.conf.all.rp_filter=2 && sysctl -w net.ipv4.conf.eth1.rp_filter=2 (loose mode; or make the routing symmetric so replies come back on eth0)"
        );
        assert_eq!(
            h.rollback,
            "sysctl -w net.ipv4.conf.all.rp_filter=1 && sysctl -w net.ipv4.conf.eth1.rp_filter=1"
        );
    }

    #[test]
    fn netstat_counter_is_read_by_column_name() {
        let text = "TcpExt: SyncookiesSent IPReversePathFilter\nTcpExt: 0 7\nIpExt: InNoRoutes\nIpExt: 3\n";
        assert_eq!(
            parse_netstat_counter(text, "TcpExt:", "IPReversePathFilter"),
            Some(7)
        );
        assert_eq!(parse_netstat_counter(text, "IpExt:", "InNoRoutes"), Some(3));
        assert_eq!(parse_netstat_counter(text, "IpExt:", "Nope"), None);
        assert_eq!(parse_netstat_counter("TcpExt: A\n", "TcpExt:", "A"), None);
        assert_eq!(
            parse_netstat_counter("TcpExt: A\nTcpExt: x\n", "TcpExt:", "A"),
            None
        );
        assert_eq!(parse_netstat_counter("", "TcpExt:", "A"), None);
    }

    proptest::proptest! {
        #[test]
        fn netstat_parser_never_panics(text in "(?s).{0,400}") {
            let _ = parse_netstat_counter(&text, "TcpExt:", "IPReversePathFilter");
        }
    }

    #[test]
    fn conntrack_stat_sums_hex_drop_columns_over_cpus() {
        let drops = parse_conntrack_stat(STAT).unwrap();
        assert_eq!(
            drops,
            ConntrackDrops {
                drop: 0x1a,
                early_drop: 1,
                insert_failed: 3
            }
        );
        assert_eq!(drops.total(), 30);
    }

    #[test]
    fn conntrack_stat_without_drop_columns_is_none_and_garbage_cells_count_zero() {
        assert_eq!(parse_conntrack_stat(""), None);
        assert_eq!(parse_conntrack_stat("entries found\n1 2\n"), None);
        let drops = parse_conntrack_stat("drop early_drop\nzz 2\n3\n").unwrap();
        assert_eq!((drops.drop, drops.early_drop), (3, 2));
    }

    #[test]
    fn admin_up_comes_from_the_flags_bit() {
        assert_eq!(parse_admin_up("0x1003\n"), Some(true));
        assert_eq!(parse_admin_up("0x1002"), Some(false));
        assert_eq!(parse_admin_up("junk"), None);
    }

    fn link(admin_up: bool, carrier: Option<bool>, operstate: &str) -> InterfaceFacts {
        InterfaceFacts {
            name: "eth0".into(),
            operstate: operstate.into(),
            carrier,
            admin_up,
            mtu: Some(1500),
        }
    }

    fn codes(facts: &KernelFacts) -> Vec<&'static str> {
        classify(facts).iter().map(|f| f.code.code()).collect()
    }

    // One table of cases reads best as one table; splitting it would only scatter the cases.
    #[allow(clippy::too_many_lines)]
    #[test]
    fn classification_table() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let neighbour = |state| NeighbourFacts {
            address: ip,
            interface: "eth0".into(),
            state,
            lladdr: None,
        };
        let rp = |all, on, route: Option<&str>| RpFilterFacts {
            interface: "eth0".into(),
            all,
            on_interface: on,
            route_interface: route.map(str::to_string),
        };
        let ct = |count, max, increase| ConntrackFacts {
            count,
            max,
            drops: None,
            drops_increase: increase,
        };
        let cases: Vec<(&str, KernelFacts, Vec<&str>)> = vec![
            ("nothing known", KernelFacts::default(), vec![]),
            (
                "healthy link",
                KernelFacts {
                    interface: Some(link(true, Some(true), "up")),
                    ..Default::default()
                },
                vec![],
            ),
            (
                "veth with unknown operstate is fine",
                KernelFacts {
                    interface: Some(link(true, Some(true), "unknown")),
                    ..Default::default()
                },
                vec![],
            ),
            (
                "admin down",
                KernelFacts {
                    interface: Some(link(false, None, "down")),
                    ..Default::default()
                },
                vec!["interface_down"],
            ),
            (
                "no carrier",
                KernelFacts {
                    interface: Some(link(true, Some(false), "lowerlayerdown")),
                    ..Default::default()
                },
                vec!["interface_down"],
            ),
            (
                "failed neighbour",
                KernelFacts {
                    neighbour: Some(neighbour(NeighbourState::Failed)),
                    ..Default::default()
                },
                vec!["neighbor_failed"],
            ),
            (
                "incomplete neighbour",
                KernelFacts {
                    neighbour: Some(neighbour(NeighbourState::Incomplete)),
                    ..Default::default()
                },
                vec!["neighbor_failed"],
            ),
            (
                "stale neighbour is fine",
                KernelFacts {
                    neighbour: Some(neighbour(NeighbourState::Stale)),
                    ..Default::default()
                },
                vec![],
            ),
            (
                "strict rp_filter, asymmetric",
                KernelFacts {
                    rp_filter: Some(rp(0, Some(1), Some("eth1"))),
                    ..Default::default()
                },
                vec!["rp_filter_strict_asymmetric"],
            ),
            (
                "strict rp_filter via all, asymmetric",
                KernelFacts {
                    rp_filter: Some(rp(1, Some(0), Some("eth1"))),
                    ..Default::default()
                },
                vec!["rp_filter_strict_asymmetric"],
            ),
            (
                "loose rp_filter wins over strict all (max)",
                KernelFacts {
                    rp_filter: Some(rp(1, Some(2), Some("eth1"))),
                    ..Default::default()
                },
                vec![],
            ),
            (
                "strict rp_filter, symmetric",
                KernelFacts {
                    rp_filter: Some(rp(1, Some(1), Some("eth0"))),
                    ..Default::default()
                },
                vec![],
            ),
            (
                "reverse-path drops measured on a strict interface",
                KernelFacts {
                    reverse_path: Some(ReversePathFacts {
                        route_interface: Some("eth0".into()),
                        strict_interfaces: vec!["eth1".into(), "eth2".into()],
                        rejecting_interfaces: vec!["eth1".into()],
                        all: 1,
                        drops_during_probe: Some(2),
                        probe_duration: Duration::from_secs(1),
                    }),
                    ..Default::default()
                },
                vec!["rp_filter_strict_asymmetric"],
            ),
            (
                "strict interface but no drops: not the cause",
                KernelFacts {
                    reverse_path: Some(ReversePathFacts {
                        strict_interfaces: vec!["eth1".into()],
                        drops_during_probe: Some(0),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                vec![],
            ),
            (
                "conntrack at 98 %",
                KernelFacts {
                    conntrack: Some(ct(98, 100, None)),
                    ..Default::default()
                },
                vec!["conntrack_table_full"],
            ),
            (
                "conntrack at 97 %",
                KernelFacts {
                    conntrack: Some(ct(97, 100, Some(0))),
                    ..Default::default()
                },
                vec![],
            ),
            (
                "conntrack drops growing",
                KernelFacts {
                    conntrack: Some(ct(10, 100, Some(4))),
                    ..Default::default()
                },
                vec!["conntrack_table_full"],
            ),
            (
                "max zero is not full",
                KernelFacts {
                    conntrack: Some(ct(0, 0, None)),
                    ..Default::default()
                },
                vec![],
            ),
            (
                "interface first, then neighbour",
                KernelFacts {
                    interface: Some(link(false, None, "down")),
                    neighbour: Some(neighbour(NeighbourState::Failed)),
                    ..Default::default()
                },
                vec!["interface_down", "neighbor_failed"],
            ),
        ];
        for (name, facts, want) in cases {
            assert_eq!(codes(&facts), want, "{name}");
        }
    }

    #[test]
    fn fixes_carry_the_old_value_as_rollback() {
        let facts = KernelFacts {
            conntrack: Some(ConntrackFacts {
                count: 64,
                max: 64,
                drops: None,
                drops_increase: None,
            }),
            rp_filter: Some(RpFilterFacts {
                interface: "veth1".into(),
                all: 0,
                on_interface: Some(1),
                route_interface: Some("veth0".into()),
            }),
            ..Default::default()
        };
        let found = classify(&facts);
        let rp = &found[0];
        assert!(rp
            .text
            .starts_with("strict rp_filter (1) on veth1 with an asymmetric route"));
        assert_eq!(rp.fix, "sysctl -w net.ipv4.conf.veth1.rp_filter=2");
        assert_eq!(rp.rollback, "sysctl -w net.ipv4.conf.veth1.rp_filter=1");
        let ct = &found[1];
        assert!(ct
            .fix
            .starts_with("sysctl -w net.netfilter.nf_conntrack_max=65536"));
        assert_eq!(ct.rollback, "sysctl -w net.netfilter.nf_conntrack_max=64");
    }

    #[test]
    fn drops_increase_needs_two_readings() {
        let drops = |d| ConntrackDrops {
            drop: d,
            early_drop: 0,
            insert_failed: 0,
        };
        let before = ConntrackFacts {
            count: 1,
            max: 10,
            drops: Some(drops(5)),
            drops_increase: None,
        };
        let after = ConntrackFacts {
            drops: Some(drops(9)),
            ..before
        }
        .with_earlier(&before);
        assert_eq!(after.drops_increase, Some(4));
        let unknown = ConntrackFacts {
            drops: None,
            ..before
        }
        .with_earlier(&before);
        assert_eq!(unknown.drops_increase, None);
    }

    fn time_exceeded(from: [u8; 4]) -> IcmpError {
        IcmpError {
            v6: false,
            icmp_type: 11,
            code: 0,
            offender: Some(IpAddr::from(from)),
            errno: 113,
            info: 0,
        }
    }

    fn hop(ttl: u8, icmp: Option<IcmpError>) -> Hop {
        Hop {
            ttl,
            responder: icmp.and_then(|i| i.offender),
            icmp,
            rtt: icmp.map(|_| Duration::from_millis(1)),
        }
    }

    #[test]
    fn path_sentences() {
        let dropped = summarize(
            vec![
                hop(1, Some(time_exceeded([10, 77, 1, 1]))),
                hop(2, None),
                hop(3, None),
            ],
            false,
        );
        assert_eq!(
            dropped.last_responding,
            Some((1, "10.77.1.1".parse().unwrap()))
        );
        assert_eq!(dropped.first_silent, Some(2));
        assert_eq!(
            describe_path(&dropped),
            "dropped after 10.77.1.1 (hop 1); hop 2 and beyond silent"
        );

        let silent = summarize(vec![hop(1, None), hop(2, None)], false);
        assert_eq!(
            (silent.last_responding, silent.first_silent),
            (None, Some(1))
        );
        assert!(describe_path(&silent).starts_with("no hop answered"));

        let mut prohibited = time_exceeded([10, 77, 1, 1]);
        prohibited.icmp_type = 3;
        prohibited.code = 13;
        let rejected = summarize(
            vec![
                hop(1, Some(time_exceeded([10, 77, 1, 1]))),
                hop(2, Some(prohibited)),
            ],
            false,
        );
        assert!(
            describe_path(&rejected)
                .starts_with("rejected by 10.77.1.1 (hop 2): ICMP type 3 code 13"),
            "{}",
            describe_path(&rejected)
        );

        let reached = summarize(
            vec![
                hop(1, Some(time_exceeded([10, 77, 1, 1]))),
                Hop {
                    ttl: 2,
                    responder: Some("10.77.2.2".parse().unwrap()),
                    icmp: None,
                    rtt: None,
                },
            ],
            true,
        );
        assert_eq!(reached.first_silent, None);
        assert_eq!(
            describe_path(&reached),
            "the destination answers at hop 2: the path itself delivers"
        );
    }

    proptest! {
        #[test]
        fn conntrack_stat_parser_never_panics(text in "\\PC*") {
            let _ = parse_conntrack_stat(&text);
            let _ = parse_admin_up(&text);
        }

        #[test]
        fn conntrack_stat_parser_never_panics_on_shaped_input(
            cells in proptest::collection::vec("[0-9a-fA-Fxz ]{0,10}", 0..40)
        ) {
            let text = format!("entries drop early_drop insert_failed\n{}", cells.join("\n"));
            prop_assert!(parse_conntrack_stat(&text).is_some());
        }
    }
}

#[cfg(test)]
mod rpfilter_rule_tests {
    use super::*;
    use crate::firewall::{parse_iptables_save, rpfilter::rpfilter_drop_rules, IpFamily};

    fn rules(packets: u64) -> Vec<crate::firewall::RuleRef> {
        let save = format!(
            "*raw\n:PREROUTING ACCEPT [0:0]\n[{packets}:{}] -A PREROUTING -m rpfilter --invert -j DROP\nCOMMIT\n",
            packets * 80
        );
        rpfilter_drop_rules(&parse_iptables_save(&save, IpFamily::V6).unwrap())
    }

    fn facts(before: u64, after: u64) -> KernelFacts {
        KernelFacts {
            rpfilter_rules: Some(RpFilterRuleFacts {
                peer: "fd77:2::2".parse().unwrap(),
                port: 8080,
                route_interface: Some("eth0".into()),
                before: rules(before),
                after: rules(after),
                probe_duration: Duration::from_millis(400),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_growing_rpfilter_rule_counter_is_the_cause_naming_the_rule() {
        let found = classify(&facts(2, 4));
        assert_eq!(found.len(), 1, "{found:?}");
        let h = &found[0];
        assert_eq!(
            (h.code, h.severity),
            (Cause::RpFilterStrictAsymmetric, Severity::Fail)
        );
        assert!(
            h.text
                .contains("(iptables ip6 raw PREROUTING rule 1: -A PREROUTING -m rpfilter --invert -j DROP [4 packets, 320 bytes])"),
            "{}",
            h.text
        );
        assert!(
            h.text.contains("dropped 2 packet(s) from fd77:2::2"),
            "{}",
            h.text
        );
        assert!(h.text.contains("counter 2 -> 4"), "{}", h.text);
        assert!(
            h.fix.starts_with(
                "ip6tables -t raw -I PREROUTING 1 -s fd77:2::2/128 -p tcp --sport 8080"
            ),
            "{}",
            h.fix
        );
        assert!(h.fix.contains("make the routing symmetric"), "{}", h.fix);
        assert!(h
            .rollback
            .starts_with("ip6tables -t raw -D PREROUTING -s fd77:2::2/128"));
    }

    #[test]
    fn a_still_counter_or_no_counter_is_no_finding() {
        assert!(classify(&facts(3, 3)).is_empty());
        let mut f = facts(0, 1);
        if let Some(r) = f.rpfilter_rules.as_mut() {
            for rule in r.before.iter_mut() {
                rule.packets = None;
            }
        }
        assert!(classify(&f).is_empty());
        let mut other = facts(0, 1);
        if let Some(r) = other.rpfilter_rules.as_mut() {
            r.before.clear();
        }
        assert!(classify(&other).is_empty());
    }
}
