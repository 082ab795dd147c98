//! Remedies of the UDP causes.

use super::{runbook, Remedy, Words};
use crate::report::Fix;

/// The remedy of `UdpPortUnreachable`.
pub(super) fn port_unreachable(w: Words<'_>) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("Nothing listens on udp/{port} at {addr}: start the service or make it listen on {addr}."),
            commands: vec![format!("ss -lunp 'sport = :{port}'   # on {addr}")],
         manifests: Vec::new() },
        prestate: vec![format!("ss -lunp > /tmp/udp-listeners.before   # on {addr}")],
        rollback: vec!["stop the service again if it was started only to test".to_string()],
        runbook: runbook("UDP service gets no answers; ICMP port unreachable", &[&format!("ss -lunp 'sport = :{port}'")], "start or rebind the UDP service."),
    }
}

/// The remedy of `UdpNoResponse`.
pub(super) fn no_response(w: Words<'_>) -> Remedy {
    let Words {
        addr, port, src, ..
    } = w;
    Remedy {
        fix: Fix {
            description: format!("No reply and no ICMP error from {addr}:{port}: check that the service runs, and that udp/{port} is allowed both ways (firewalls often drop UDP silently; replies need their own allow on stateless filters)."),
            commands: vec![
                format!("tcpdump -ni any 'host {addr} and udp port {port}'   # on {addr}: does the datagram arrive, does a reply leave?"),
                format!("iptables -I INPUT -p udp -s {src}/32 --dport {port} -j ACCEPT   # on {addr}, if its own firewall drops it"),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("iptables-save > /tmp/iptables.before   # on {addr}")],
        rollback: vec![format!("iptables -D INPUT -p udp -s {src}/32 --dport {port} -j ACCEPT")],
        runbook: runbook("UDP request gets nothing back", &[&format!("tcpdump -ni any udp port {port}")], "a silent drop on the way or a dead service."),
    }
}
