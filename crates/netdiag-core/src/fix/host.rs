//! Remedies of the host facts: interface, neighbour, rp_filter, conntrack.

use super::{runbook, Remedy, Words};
use crate::cause::Cause;
use crate::diagnose::FixContext;
use crate::report::Fix;

/// The remedy of `InterfaceDown`, `NeighborFailed`, `RpFilterStrictAsymmetric`, `ConntrackTableFull`.
pub(super) fn host_fact(_w: Words<'_>, ctx: &FixContext, cause: Cause) -> Remedy {
    let (fix, rollback) = ctx
        .host_fix
        .clone()
        .unwrap_or_else(|| ("see the evidence".to_string(), "none".to_string()));
    let (symptom, check): (&str, &[&str]) = match cause {
        Cause::InterfaceDown => ("Network is unreachable / everything times out on one path", &["ip -br link", "ip route get TARGET"]),
        Cause::NeighborFailed => ("No route to host on a directly connected subnet", &["ip neigh show", "arping -I DEV TARGET"]),
        Cause::RpFilterStrictAsymmetric => ("Replies never arrive although the server answers", &["sysctl net.ipv4.conf.all.rp_filter", "ip route get SOURCE"]),
        _ => ("New connections time out under load; 'nf_conntrack: table full, dropping packet' in dmesg", &["cat /proc/sys/net/netfilter/nf_conntrack_count /proc/sys/net/netfilter/nf_conntrack_max", "dmesg | grep conntrack"]),
    };
    Remedy {
        fix: Fix { description: cause.meaning().to_string(), commands: vec![fix] , manifests: Vec::new() },
        prestate: vec!["sysctl -a 2>/dev/null | grep -E 'rp_filter|conntrack_max' > /tmp/sysctl.before; ip -d link > /tmp/links.before; ip neigh > /tmp/neigh.before".to_string()],
        rollback: vec![rollback],
        runbook: runbook(symptom, check, cause.meaning()),
    }
}
