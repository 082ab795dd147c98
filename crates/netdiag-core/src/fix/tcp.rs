//! Remedies of the TCP connect causes, ICMP prohibitions and unreachables, listeners.

use super::{or, runbook, Remedy, Words};
use crate::diagnose::FixContext;
use crate::report::Fix;

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
