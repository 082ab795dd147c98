//! Remedies of the TCP connect causes, ICMP prohibitions and unreachables, listeners.

use super::{or, runbook, Remedy, Words};
use crate::diagnose::FixContext;
use crate::report::Fix;
use std::net::IpAddr;

/// The remedy of `TcpRefused` when the refusal comes from a firewall (an ICMP offender is known).
pub(super) fn refused_by_firewall(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words {
        addr,
        port,
        proto,
        src,
        ..
    } = w;
    let fw = or(ctx.offender, "FIREWALL_IP");
    Remedy {
        fix: Fix {
            description: format!("A REJECT rule at {fw} answers for {addr}:{port} with ICMP port unreachable: allow {proto}/{port} from {src} to {addr} there. The service itself was never reached."),
            commands: vec![
                format!("# on {fw}: iptables -S | grep -w REJECT; nft list ruleset | grep -w reject"),
                format!("# on {fw}: iptables -I FORWARD -p {proto} -s {src}/32 -d {addr}/32 --dport {port} -j ACCEPT   # INPUT if {fw} is {addr}"),
                format!("# nftables: nft insert rule inet filter forward ip saddr {src} ip daddr {addr} {proto} dport {port} accept"),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("# on {fw}: iptables-save > /tmp/iptables.before; nft list ruleset > /tmp/nft.before")],
        rollback: vec![format!("# on {fw}: iptables -D FORWARD -p {proto} -s {src}/32 -d {addr}/32 --dport {port} -j ACCEPT")],
        runbook: runbook(
            "'Connection refused', but the service is running",
            &[&format!("nc -vz {addr} {port}"), &format!("tcpdump -ni any 'icmp and host {addr}'")],
            "an ICMP port unreachable for TCP comes from a firewall REJECT rule, not from the server (a closed port answers with a RST).",
        ),
    }
}

/// The remedy of `TcpRefused`.
pub(super) fn refused(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words {
        addr, port, proto, ..
    } = w;
    Remedy {
        fix: Fix {
            description: if ctx.address.is_some_and(|a| a.is_loopback()) {
                format!("Nothing accepts {proto}/{port} on {addr}: start the service (or check its port), or remove the REJECT rule if a firewall answered.")
            } else {
                format!("Nothing accepts {proto}/{port} on {addr}: start the service, or make it listen on {addr}:{port} (not only on 127.0.0.1), or remove the REJECT rule if a firewall answered.")
            },
            commands: vec![
                format!("ss -ltnp 'sport = :{port}'   # on {addr}: is anything listening, and on which address?"),
                format!("systemctl status <service>   # on {addr}"),
                format!("iptables -S | grep -w {port}; nft list ruleset | grep -w {port}   # a REJECT rule?"),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("ss -ltnp > /tmp/listeners.before   # on {addr}")],
        rollback: vec!["systemctl stop <service>   # if you started it only to test".to_string()],
        runbook: runbook(
            "'Connection refused' at once",
            &[&format!("ss -ltnp 'sport = :{port}'"), &format!("nc -vz {addr} {port}")],
            "a RST means the host is up and nothing listens on the port (or a REJECT rule answers): start or rebind the service.",
        ),
    }
}

/// The remedy of `TcpTimeout`.
pub(super) fn timeout(w: Words<'_>) -> Remedy {
    let Words {
        addr,
        port,
        proto,
        src,
        ..
    } = w;
    Remedy {
        fix: Fix {
            description: format!("The SYN to {addr}:{port} is dropped silently: find the DROP rule (host firewall on {addr}, security group, NACL, router) and allow {proto}/{port} from {src} only."),
            commands: vec![
                format!("traceroute -T -p {port} -n {addr}   # where the path goes quiet"),
                format!("tcpdump -ni any 'host {addr} and port {port}'   # on {addr}: does the SYN arrive?"),
                format!("iptables -I INPUT -p {proto} -s {src}/32 --dport {port} -j ACCEPT   # on {addr}, if its own firewall drops it"),
                format!("nft insert rule inet filter input ip saddr {src} {proto} dport {port} accept   # nftables equivalent"),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("iptables-save > /tmp/iptables.before; nft list ruleset > /tmp/nft.before   # on {addr}")],
        rollback: vec![
            format!("iptables -D INPUT -p {proto} -s {src}/32 --dport {port} -j ACCEPT"),
            "nft -a list chain inet filter input; nft delete rule inet filter input handle <HANDLE>".to_string(),
        ],
        runbook: runbook(
            "Connection hangs, then 'timed out'",
            &[&format!("nc -vz -w 3 {addr} {port}"), &format!("traceroute -T -p {port} {addr}")],
            "silence is a DROP (firewall, security group) or a dead host; find where the SYN stops and allow it there for this source only.",
        ),
    }
}

/// The remedy of `TcpAdminProhibited`, `UdpAdminProhibited`.
pub(super) fn admin_prohibited(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words {
        addr,
        port,
        proto,
        src,
        ..
    } = w;
    let router = or(ctx.offender, "FIREWALL_IP");
    Remedy {
        fix: Fix {
            description: format!("A REJECT rule at {router} (ICMP admin prohibited) blocks {proto}/{port} to {addr}: allow this flow there, from {src} to {addr} only. The server may be perfectly healthy."),
            commands: vec![
                format!("# on {router}: iptables -S | grep -E 'REJECT.*(admin|prohib)'; nft list ruleset | grep -E 'reject'"),
                format!("# on {router}: iptables -I FORWARD -p {proto} -s {src}/32 -d {addr}/32 --dport {port} -j ACCEPT"),
                format!("# nftables: nft insert rule inet filter forward ip saddr {src} ip daddr {addr} {proto} dport {port} accept"),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("# on {router}: iptables-save > /tmp/iptables.before; nft list ruleset > /tmp/nft.before")],
        rollback: vec![format!("# on {router}: iptables -D FORWARD -p {proto} -s {src}/32 -d {addr}/32 --dport {port} -j ACCEPT")],
        runbook: runbook(
            "ICMP 'administratively prohibited'",
            &[&format!("nc -vz {addr} {port}"), "netdiag check tcp://HOST:PORT   # names the router that rejects"],
            "a firewall rejects on purpose; the ICMP sender is the firewall to change, not the server.",
        ),
    }
}

/// The remedy of `HostUnreachable`.
pub(super) fn host_unreachable(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, .. } = w;
    let router = or(ctx.offender, "ROUTER_IP");
    Remedy {
        fix: Fix {
            description: format!("{router} cannot deliver to {addr}: check that the host is up and owns {addr} (ARP/ND on its subnet), or remove a REJECT --reject-with icmp-host-unreachable rule at {router}."),
            commands: vec![
                format!("# on {router}: ip neigh show {addr}   # FAILED/INCOMPLETE means no ARP answer"),
                format!("# on {router}: iptables -S | grep host-unreach"),
                format!("ip route get {addr}"),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("# on {router}: ip neigh show > /tmp/neigh.before")],
        rollback: vec!["none needed for a read-only check; undo any rule you removed with iptables-restore < /tmp/iptables.before".to_string()],
        runbook: runbook(
            "'No route to host'",
            &[&format!("ip neigh show {addr}"), &format!("traceroute -n {addr}")],
            "the last router cannot reach the host (down, wrong IP, no ARP) or rejects with host-unreachable.",
        ),
    }
}

/// The remedy of `TcpReset`.
pub(super) fn reset(w: Words<'_>) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("{addr}:{port} accepts and then resets: check the service's logs (connection limits, TCP wrappers, a crashed worker) and any middlebox that resets flows."),
            commands: vec![
                format!("tcpdump -ni any 'host {addr} and port {port} and tcp[tcpflags] & tcp-rst != 0'"),
                format!("ss -tnp 'dport = :{port}'"),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("ss -tnp > /tmp/sockets.before   # on {addr}")],
        rollback: vec!["restart only the service you changed".to_string()],
        runbook: runbook("'Connection reset by peer' right after connecting", &[&format!("curl -v telnet://{addr}:{port}")], "the listener accepts then closes with RST: the application or a middlebox rejects the client."),
    }
}

/// The remedy of `ListenerBoundToLoopback`.
pub(super) fn listener_bound_to_loopback(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    let listener = or(ctx.listener, "127.0.0.1:PORT");
    let process = ctx
        .process
        .clone()
        .unwrap_or_else(|| "the service".to_string());
    Remedy {
        fix: Fix {
            description: format!("{process} listens on {listener} only; make it listen on {addr}:{port} (or 0.0.0.0 / [::] plus a firewall rule scoped to its clients) and restart it."),
            commands: vec![
                format!("ss -ltnp 'sport = :{port}'"),
                "# change the bind address in the service's configuration, e.g. listen/bind/host = 0.0.0.0 (nginx: listen 0.0.0.0:PORT; redis: bind; postgres: listen_addresses)".to_string(),
                "systemctl restart <service>".to_string(),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("ss -ltnp > /tmp/listeners.before"), "cp -a <service config> <service config>.bak".to_string()],
        rollback: vec!["restore the configuration from the .bak copy and restart the service".to_string()],
        runbook: runbook(
            "Works on the server with curl localhost, refused from anywhere else",
            &[&format!("ss -ltnp 'sport = :{port}'")],
            "the service is bound to 127.0.0.1/::1; bind it to the external address.",
        ),
    }
}

/// The dead addresses as a list, `TARGET_IP` when the context has none.
fn dead_list(w: &Words<'_>, ctx: &FixContext) -> String {
    if ctx.unreachable.is_empty() {
        return w.addr.clone();
    }
    let all: Vec<String> = ctx.unreachable.iter().map(ToString::to_string).collect();
    all.join(", ")
}

/// The remedy of `AddressFamilyBroken`: restore the family's path or stop publishing it; the
/// client's `-4`/`-6` or gai.conf precedence is the stop-gap, with its rollback.
pub(super) fn address_family_broken(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let dead = dead_list(&w, ctx);
    let Words { port, proto, .. } = w;
    let host = ctx.host.as_str();
    let v6 = ctx
        .unreachable
        .first()
        .or(ctx.address.as_ref())
        .is_some_and(IpAddr::is_ipv6);
    let (fam, rr, other_flag, other) = if v6 {
        ("IPv6", "AAAA", "-4", "IPv4")
    } else {
        ("IPv4", "A", "-6", "IPv6")
    };
    let first = or(ctx.preferred, "the first address");
    let (gai_line, gai_undo) = if v6 {
        (
            "grep -q '^precedence ::ffff:0:0/96  *100' /etc/gai.conf || echo 'precedence ::ffff:0:0/96  100   # netdiag: prefer IPv4' >> /etc/gai.conf".to_string(),
            "sed -i '/# netdiag: prefer IPv4/d' /etc/gai.conf".to_string(),
        )
    } else {
        (
            "# IPv6 already comes first in glibc's default table; remove any 'precedence ::ffff:0:0/96 100' line from /etc/gai.conf".to_string(),
            "cp -a /etc/gai.conf.bak.<timestamp> /etc/gai.conf".to_string(),
        )
    };
    Remedy {
        fix: Fix {
            description: format!("{fam} to {host} is silently dropped ({dead} time out on {proto}/{port}) while {other} connects; getaddrinfo puts {first} first here, so clients without Happy Eyeballs stall for their connect timeout (measured with bench/dualstack.sh: a client with no timeout of its own, such as Python's socket.create_connection, waits the kernel's SYN retries, about 130 s; curl's Happy Eyeballs falls back in 0.2 s). Restore the {fam} path (route, firewall, security group) or stop publishing the {rr} record; as a stop-gap make clients use {other} ({other_flag}, or gai.conf precedence)."),
            commands: vec![
                format!("ip -{} route get {}   # the {fam} route this host uses", if v6 { 6 } else { 4 }, ctx.unreachable.first().or(ctx.address.as_ref()).map_or_else(|| "TARGET_IP".to_string(), ToString::to_string)),
                format!("tcpdump -ni any '{} and port {port}'   # on the server: does the SYN arrive?", if v6 { "ip6" } else { "ip" }),
                format!("# on the firewall / security group of {dead}: allow {proto}/{port} over {fam}"),
                format!("# or in the zone of {host}: remove the {rr} record(s) {dead} until {fam} works"),
                format!("curl {other_flag} -v http://{host}:{port}/   # stop-gap on a client: force {other}"),
                gai_line,
            ],
            manifests: Vec::new(),
        },
        prestate: vec!["cp -a /etc/gai.conf /etc/gai.conf.bak.$(date +%s) 2>/dev/null || true".to_string()],
        rollback: vec![gai_undo, format!("# re-add the {rr} record(s) {dead} once {fam} is restored")],
        runbook: runbook(
            &format!("Connections to {host} hang for seconds, then work ({fam} broken, {other} fine)"),
            &[&format!("nc -{} -vz -w 3 {host} {port}", if v6 { 6 } else { 4 }), &format!("nc {other_flag} -vz -w 3 {host} {port}"), &format!("getent ahosts {host}   # the order clients try")],
            "one family's path drops the SYN: fix that path or withdraw its records; forcing the other family on clients is a stop-gap to undo afterwards.",
        ),
    }
}

/// The remedy of `SomeAddressesUnreachable`: take the dead backends out of the pool (DNS) or
/// bring them back; clients that pick one stall for their connect timeout.
pub(super) fn some_addresses_unreachable(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let dead = dead_list(&w, ctx);
    let Words {
        port, proto, src, ..
    } = w;
    let host = ctx.host.as_str();
    Remedy {
        fix: Fix {
            description: format!("{dead} of {host} time out on {proto}/{port} while the other addresses connect: a dead backend or a drop on its path. Clients that pick it (round-robin order, connection pools, rotating resolvers) stall for their connect timeout. Remove it from the name's records (or the load balancer's pool) or bring it back; allow {proto}/{port} from {src} if a firewall drops it."),
            commands: vec![
                format!("getent ahosts {host}   # every address clients may pick"),
                format!("nc -vz -w 3 {}  {port}   # each dead address", ctx.unreachable.first().or(ctx.address.as_ref()).map_or_else(|| "TARGET_IP".to_string(), ToString::to_string)),
                format!("# in the zone of {host}: remove the record(s) {dead} (or mark the backend down in the pool)"),
            ],
            manifests: Vec::new(),
        },
        prestate: vec![format!("dig +short {host} > /tmp/{host}.records.before")],
        rollback: vec![format!("# re-add the record(s) {dead} listed in /tmp/{host}.records.before once they answer")],
        runbook: runbook(
            &format!("Some connections to {host} hang, others are instant"),
            &[&format!("for a in $(getent ahosts {host} | awk '{{print $1}}' | sort -u); do nc -vz -w 3 $a {port}; done")],
            "a dead member of a round-robin pool stalls whichever client picks it; withdraw it from DNS or the pool until it answers.",
        ),
    }
}

/// The remedy of `Nat64TranslatorUnreachable`: the translator for the prefix, not the server;
/// the native IPv4 path (`-4`) as the stop-gap when this host has one.
pub(super) fn nat64_translator_unreachable(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words {
        addr, port, proto, ..
    } = w;
    let host = ctx.host.as_str();
    let nat = ctx.nat64.clone().unwrap_or_default();
    let prefix = if nat.prefix.is_empty() {
        "64:ff9b::/96".to_string()
    } else {
        nat.prefix.clone()
    };
    let v4 = or(nat.v4, "the A record's address");
    let translator = or(nat.translator, "the NAT64 translator");
    let mut commands = vec![
        format!("ip -6 route get {addr}   # the next hop this host uses for {prefix}: the translator or the way to it"),
        format!("# on the translator {translator}: is NAT64 running for {prefix} (tayga, jool, the cloud NAT gateway) and does it forward {proto}/{port} to {v4}?"),
        format!("# on the translator {translator}: ip6tables -S FORWARD; nft list ruleset   # a drop of {prefix}"),
        format!("ping -c 2 -W 2 {v4}   # from the translator: does the IPv4 server answer?"),
    ];
    let mut description = format!("{addr} is not {host}'s own address: DNS64 synthesized it from {v4} inside the NAT64 prefix {prefix}, and the NAT64 translator for {prefix} ({translator}) does not forward the SYN. Fix the translator (running, its IPv4 side routed, its firewall passing {proto}/{port}); the server {v4} is not the suspect.");
    let mut rollback = vec![format!(
        "# nothing to undo on this host; revert a translator change the same way it was made"
    )];
    if nat.native_v4 {
        description.push_str(&format!(
            " This host also has IPv4: as a stop-gap reach {v4} natively (-4)."
        ));
        commands.push(format!(
            "curl -4 -v http://{host}:{port}/   # stop-gap: the native IPv4 path to {v4}"
        ));
        rollback.push("# stop passing -4 once the translator forwards again".to_string());
    }
    Remedy {
        fix: Fix {
            description,
            commands,
            manifests: Vec::new(),
        },
        prestate: vec![format!("ip -6 route show {prefix}")],
        rollback,
        runbook: runbook(
            &format!("Connections to {host} hang on an IPv6-only network; the name has only an A record"),
            &[&format!("getent ahosts {host}   # AAAA inside {prefix}: synthesized by DNS64"), &format!("dig AAAA {}   # the prefix the network announces (RFC 7050)", crate::nat64::DISCOVERY_NAME), &format!("traceroute -6 -T -p {port} {addr}   # where packets stop")],
            "the NAT64 translator (or the path to it) drops: fix the translator, not the IPv4 server.",
        ),
    }
}
