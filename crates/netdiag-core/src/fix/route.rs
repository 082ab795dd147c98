//! Remedies of the routing causes of this host and of routers on the path.

use super::{or, runbook, Remedy, Words};
use crate::diagnose::FixContext;
use crate::report::Fix;

/// The remedy of `NoRoute`.
pub(super) fn no_route(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, .. } = w;
    let dev = or(ctx.interface.clone(), "DEV");
    Remedy {
        fix: Fix {
            description: format!("Add a route to {addr} (or a default route) through the right gateway, or bring the interface up; check for unreachable/prohibit/blackhole routes and policy rules."),
            commands: vec![
                format!("ip route get {addr}"),
                "ip rule show; ip route show table all | grep -E 'unreachable|prohibit|blackhole|default'".to_string(),
                format!("ip route add {addr}/32 via <GATEWAY_IP> dev {dev}   # or: ip route add default via <GATEWAY_IP>"),
            ],
         manifests: Vec::new() },
        prestate: vec!["ip route show table all > /tmp/routes.before; ip rule show > /tmp/rules.before".to_string()],
        rollback: vec![format!("ip route del {addr}/32")],
        runbook: runbook(
            "'Network is unreachable' immediately",
            &[&format!("ip route get {addr}"), "ip link show"],
            "no route on this host: add the route or default gateway, or bring the link up.",
        ),
    }
}

/// The remedy of `NetUnreachable`.
pub(super) fn net_unreachable(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    let router = or(ctx.offender, "ROUTER_IP");
    Remedy {
        fix: Fix {
            description: format!("Router {router} has no route to {addr}: add the route on {router} (or fix the route advertisement: VPN, peering, transit gateway). Nothing is wrong on this host."),
            commands: vec![
                format!("# on {router}: ip route get {addr}"),
                format!("# on {router}: ip route add <DESTINATION_CIDR> via <NEXT_HOP>"),
                format!("traceroute -T -p {port} -n {addr}"),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("# on {router}: ip route show table all > /tmp/routes.before")],
        rollback: vec![format!("# on {router}: ip route del <DESTINATION_CIDR> via <NEXT_HOP>")],
        runbook: runbook(
            "ICMP network unreachable from a router",
            &[&format!("traceroute -n {addr}"), &format!("ip route get {addr}")],
            "the router that sent the ICMP error lacks a route; fix routing there.",
        ),
    }
}
