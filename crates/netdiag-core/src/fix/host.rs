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
    // IPv6's reverse-path filter is a firewall rule, not a sysctl: check and save the ruleset.
    let ipv6_rule = cause == Cause::RpFilterStrictAsymmetric
        && (fix.starts_with("ip6tables ") || fix.starts_with("nft "));
    let check: &[&str] = if ipv6_rule {
        &[
            "ip6tables-save -c -t raw; ip6tables-save -c -t mangle",
            "nft -a list ruleset | grep 'fib saddr'",
            "ip -6 route get SOURCE",
        ]
    } else {
        check
    };
    let mut prestate = vec!["sysctl -a 2>/dev/null | grep -E 'rp_filter|conntrack_max' > /tmp/sysctl.before; ip -d link > /tmp/links.before; ip neigh > /tmp/neigh.before".to_string()];
    if ipv6_rule {
        prestate.push("ip6tables-save -c > /var/tmp/netdiag-ip6tables.before; nft -a list ruleset > /var/tmp/netdiag-nft.before".to_string());
    }
    Remedy {
        fix: Fix {
            description: cause.meaning().to_string(),
            commands: vec![fix],
            manifests: Vec::new(),
        },
        prestate,
        rollback: vec![rollback],
        runbook: runbook(symptom, check, cause.meaning()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_rpfilter_rule_fix_saves_and_checks_the_ruleset() {
        let ctx = FixContext {
            host_fix: Some((
                "ip6tables -t raw -I PREROUTING 1 -s fd77:2::2/128 -j ACCEPT".into(),
                "ip6tables -t raw -D PREROUTING -s fd77:2::2/128 -j ACCEPT".into(),
            )),
            ..Default::default()
        };
        let r = super::super::remedy(Cause::RpFilterStrictAsymmetric, &ctx);
        assert!(
            r.prestate.iter().any(|p| p.contains("ip6tables-save -c >")),
            "{:?}",
            r.prestate
        );
        assert!(
            r.runbook.contains("ip -6 route get SOURCE"),
            "{}",
            r.runbook
        );
        let v4 = FixContext {
            host_fix: Some((
                "sysctl -w net.ipv4.conf.eth1.rp_filter=2".into(),
                "sysctl -w net.ipv4.conf.eth1.rp_filter=1".into(),
            )),
            ..Default::default()
        };
        let r = super::super::remedy(Cause::RpFilterStrictAsymmetric, &v4);
        assert_eq!(r.prestate.len(), 1, "{:?}", r.prestate);
        assert!(
            r.runbook.contains("sysctl net.ipv4.conf.all.rp_filter"),
            "{}",
            r.runbook
        );
    }
}
