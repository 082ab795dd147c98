//! The fix for one blocked flow: an ACCEPT for exactly that flow, placed before the rule that
//! blocks it, with the exact command that removes it again and the one that saves the state first.
//!
//! Scoped on purpose: host addresses only (/32, /128), one protocol, one destination port, never
//! 0.0.0.0/0 or ::/0. Printed for a person to run; nothing here applies anything.

use super::{Backend, FirewallVerdict, Flow, IpFamily, Outcome, Proto, RuleRef};

/// Commands to let one flow through, to undo that, and to save the state before.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScopedFix {
    /// Commands that insert the ACCEPT rules, in order.
    pub fix: Vec<String>,
    /// Commands that delete exactly those rules.
    pub rollback: Vec<String>,
    /// Commands that save the ruleset before the change.
    pub prestate: Vec<String>,
}

/// The fix for `verdict` on `flow`: empty when the flow is accepted.
///
/// One ACCEPT goes before the first rule that blocks (or might block) in each base chain on the
/// path: an ACCEPT ends that base chain's traversal, so it also covers later blocking rules of the
/// same base chain. A chain policy is answered by appending the ACCEPT to that chain.
pub fn scoped_fix(verdict: &FirewallVerdict, flow: &Flow) -> ScopedFix {
    let blocked = match &verdict.outcome {
        Outcome::Accepted => false,
        Outcome::Dropped | Outcome::Rejected { .. } => true,
        Outcome::Possible { otherwise, .. } => otherwise.is_blocked(),
    };
    let mut points: Vec<(&str, &RuleRef)> = Vec::new();
    for u in &verdict.uncertain_blockers {
        if u.rule.is_policy() || points.iter().any(|(b, _)| *b == u.base_chain) {
            continue;
        }
        points.push((&u.base_chain, &u.rule));
    }
    if blocked {
        if let (Some(rule), Some(base)) = (&verdict.deciding_rule, &verdict.deciding_base_chain) {
            if !points.iter().any(|(b, _)| b == base) {
                points.push((base, rule));
            }
        }
    }
    let mut out = ScopedFix::default();
    for (_, rule) in points {
        let (fix, rollback, prestate) = match rule.backend {
            Backend::Iptables => iptables_fix(rule, flow),
            Backend::Nft => nft_fix(rule, flow),
        };
        out.fix.push(fix);
        out.rollback.push(rollback);
        if !out.prestate.contains(&prestate) {
            out.prestate.push(prestate);
        }
    }
    // Undo in reverse order of doing.
    out.rollback.reverse();
    out
}

fn host_prefix(flow: &Flow, addr: std::net::IpAddr) -> String {
    match flow.family {
        IpFamily::V4 => format!("{addr}/32"),
        IpFamily::V6 => format!("{addr}/128"),
    }
}

fn comment(flow: &Flow) -> String {
    let proto = match flow.proto {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
        Proto::Icmp => "icmp",
    };
    let port = match (flow.reply, flow.sport, flow.dport) {
        (true, Some(p), _) => format!("-from-{p}"),
        (_, _, Some(p)) => format!("-{p}"),
        _ => String::new(),
    };
    format!("netdiag-allow-{proto}-{}-{}{port}", flow.src, flow.dst)
}

fn iptables_fix(rule: &RuleRef, flow: &Flow) -> (String, String, String) {
    let (cmd, save) = match flow.family {
        IpFamily::V4 => ("iptables", "iptables-save"),
        IpFamily::V6 => ("ip6tables", "ip6tables-save"),
    };
    let proto = match (flow.proto, flow.family) {
        (Proto::Tcp, _) => "-p tcp".to_owned(),
        (Proto::Udp, _) => "-p udp".to_owned(),
        (Proto::Icmp, IpFamily::V4) => "-p icmp --icmp-type echo-request".to_owned(),
        (Proto::Icmp, IpFamily::V6) => "-p ipv6-icmp --icmpv6-type echo-request".to_owned(),
    };
    let port = match (flow.proto, flow.reply, flow.sport, flow.dport) {
        // A reply is allowed as part of the connection only, never as a new flow.
        (Proto::Tcp | Proto::Udp, true, Some(p), _) => {
            format!(" --sport {p} -m conntrack --ctstate ESTABLISHED")
        }
        (Proto::Tcp | Proto::Udp, false, _, Some(p)) => format!(" --dport {p}"),
        _ => String::new(),
    };
    let spec = format!(
        "-s {} -d {} {proto}{port} -m comment --comment {} -j ACCEPT",
        host_prefix(flow, flow.src),
        host_prefix(flow, flow.dst),
        comment(flow)
    );
    let place = match rule.position {
        Some(n) => format!("-I {} {n}", rule.chain),
        None => format!("-A {}", rule.chain),
    };
    (
        format!("{cmd} -t {} {place} {spec}", rule.table),
        format!("{cmd} -t {} -D {} {spec}", rule.table, rule.chain),
        format!("{save} -c > /var/tmp/netdiag-{cmd}.before"),
    )
}

fn nft_fix(rule: &RuleRef, flow: &Flow) -> (String, String, String) {
    let l3 = match flow.family {
        IpFamily::V4 => "ip",
        IpFamily::V6 => "ip6",
    };
    let l4 = match (flow.proto, flow.family, flow.dport) {
        _ if flow.reply && flow.sport.is_some() => {
            let p = flow.sport.unwrap_or_default();
            let l4 = if flow.proto == Proto::Udp {
                "udp"
            } else {
                "tcp"
            };
            format!(" {l4} sport {p} ct state established")
        }
        (Proto::Tcp, _, Some(p)) => format!(" tcp dport {p}"),
        (Proto::Udp, _, Some(p)) => format!(" udp dport {p}"),
        (Proto::Tcp, _, None) => " meta l4proto tcp".to_owned(),
        (Proto::Udp, _, None) => " meta l4proto udp".to_owned(),
        (Proto::Icmp, IpFamily::V4, _) => " icmp type echo-request".to_owned(),
        (Proto::Icmp, IpFamily::V6, _) => " icmpv6 type echo-request".to_owned(),
    };
    let tag = comment(flow);
    let body = format!(
        "{l3} saddr {} {l3} daddr {}{l4} counter accept comment \"{tag}\"",
        flow.src, flow.dst
    );
    let chain = format!("{} {} {}", rule.family, rule.table, rule.chain);
    let fix = match (rule.position, rule.handle) {
        (Some(_), Some(h)) => format!("nft 'insert rule {chain} position {h} {body}'"),
        _ => format!("nft 'add rule {chain} {body}'"),
    };
    let rollback = format!(
        "nft delete rule {chain} handle $(nft -a list chain {chain} | awk '/comment \"{tag}\"/ {{print $NF}}')"
    );
    (
        fix,
        rollback,
        "nft -a list ruleset > /var/tmp/netdiag-nft.before".to_owned(),
    )
}
