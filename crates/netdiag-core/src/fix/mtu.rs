//! Remedies of the path MTU causes (`mtu_*`).

use super::{or, runbook, Remedy, Words};
use crate::diagnose::FixContext;
use crate::report::Fix;

/// The remedy of `MtuBlackhole`, `MtuPathReduced`.
pub(super) fn path_mtu(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, .. } = w;
    let dev = or(ctx.interface.clone(), "DEV");
    let mtu = ctx
        .mtu
        .map(|m| m.to_string())
        .unwrap_or_else(|| "MTU".to_string());
    let mss = ctx
        .mtu
        .map(|m| m.saturating_sub(40).to_string())
        .unwrap_or_else(|| "MSS".to_string());
    Remedy {
        fix: Fix {
            description: format!(
                "Packets above {mtu} bytes are lost on the path to {addr} without an ICMP 'fragmentation needed'. Lower the interface MTU to {mtu}, or clamp TCP MSS to {mss} on the router/tunnel, and let ICMP type 3 code 4 (ICMPv6 type 2) through the firewalls on the path."
            ),
            commands: vec![
                format!("ip link set dev {dev} mtu {mtu}"),
                format!("iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -d {addr} -j TCPMSS --set-mss {mss}   # on the router or tunnel endpoint"),
                "iptables -I INPUT -p icmp --icmp-type fragmentation-needed -j ACCEPT   # on firewalls that drop it".to_string(),
                format!("tracepath -n {addr}   # shows where the MTU drops"),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("ip link show dev {dev} | grep -o 'mtu [0-9]*' > /tmp/mtu.before"), "iptables-save -t mangle > /tmp/mangle.before".to_string()],
        rollback: vec![
            format!("ip link set dev {dev} mtu $(awk '{{print $2}}' /tmp/mtu.before)"),
            format!("iptables -t mangle -D FORWARD -p tcp --tcp-flags SYN,RST SYN -d {addr} -j TCPMSS --set-mss {mss}"),
        ],
        runbook: runbook(
            "Small requests work, large ones hang (after a VPN/CNI/tunnel change)",
            &[&format!("ping -M do -s 1472 {addr}; ping -M do -s 1372 {addr}"), &format!("tracepath -n {addr}")],
            "a tunnel lowered the path MTU and ICMP frag-needed is dropped: lower the MTU or clamp MSS (VXLAN 1450, WireGuard 1420, IPsec ~1436).",
        ),
    }
}
