//! The walk: a flow's first packet through every base chain of every hook it crosses.
//!
//! Bounded on purpose (jump depth and rule steps), because the input is text we did not write and
//! a loop in it must become "possible", not a hang.

use std::net::IpAddr;

use super::{
    Action, Backend, FirewallVerdict, Flow, FlowHook, Hook, IpFamily, Match, Outcome, Policy,
    Proto, Rule, RuleRef, Ruleset, Table, Test, Uncertain,
};

/// Deepest jump stack followed (the kernel allows 16 for nft and checks loops for iptables).
const MAX_DEPTH: usize = 64;
/// The most rules looked at in one base chain.
const MAX_STEPS: usize = 200_000;

/// Whether a rule matches: known yes/no, or cannot tell (with the matches that could not be
/// evaluated).
enum Tri {
    Yes,
    No,
    Maybe(Vec<String>),
}

/// How one base chain ended.
enum ChainEnd {
    Accept,
    Block(Outcome, RuleRef),
    Policy,
}

/// Walks `flow` through `ruleset` the way the kernel does and says what happens.
///
/// NAT base chains are skipped (they rewrite, they do not filter). Rules that cannot be evaluated
/// are assumed not to match and are reported; when they could change the answer the outcome is
/// [`Outcome::Possible`].
pub fn evaluate(ruleset: &Ruleset, flow: &Flow) -> FirewallVerdict {
    let mut trail = Vec::new();
    let mut uncertain = Vec::new();
    for &hook in flow.hook.path() {
        let mut bases: Vec<(i32, usize, usize)> = Vec::new();
        for (ti, table) in ruleset.tables.iter().enumerate() {
            if !table.carries(flow.family) {
                continue;
            }
            for (ci, chain) in table.chains.iter().enumerate() {
                if let Some(base) = &chain.base {
                    if base.hook == hook {
                        bases.push((base.priority, ti, ci));
                    }
                }
            }
        }
        bases.sort_by_key(|b| b.0);
        for (priority, ti, ci) in bases {
            let Some(table) = ruleset.tables.get(ti) else {
                continue;
            };
            let Some(chain) = table.chains.get(ci) else {
                continue;
            };
            let Some(base) = &chain.base else { continue };
            let name = base_name(table, &chain.name);
            if base.kind == "nat" {
                trail.push(format!(
                    "{name} (nat, priority {priority}): skipped, NAT rewrites and does not filter"
                ));
                continue;
            }
            trail.push(format!("{name} (hook {hook:?}, priority {priority})"));
            match run_base(table, ci, flow, hook, &name, &mut trail, &mut uncertain) {
                ChainEnd::Accept => {}
                ChainEnd::Block(outcome, rule) => {
                    return finish(outcome, Some(rule), &name, trail, uncertain)
                }
                ChainEnd::Policy => {
                    if base.policy == Policy::Drop {
                        let rule = policy_ref(table, ci);
                        trail.push(format!("  end of {}: policy drop", chain.name));
                        return finish(Outcome::Dropped, Some(rule), &name, trail, uncertain);
                    }
                    trail.push(format!("  end of {}: policy accept", chain.name));
                }
            }
        }
    }
    finish(Outcome::Accepted, None, "", trail, uncertain)
}

fn base_name(table: &Table, chain: &str) -> String {
    format!(
        "{} {} {} {}",
        table.backend.as_str(),
        table.family,
        table.name,
        chain
    )
}

fn finish(
    otherwise: Outcome,
    deciding_rule: Option<RuleRef>,
    deciding_base: &str,
    trail: Vec<String>,
    uncertain: Vec<Uncertain>,
) -> FirewallVerdict {
    let blocked = otherwise.is_blocked();
    let relevant: Vec<Uncertain> = uncertain
        .iter()
        .filter(|u| match u.would.as_str() {
            "return" | "continue" => false,
            // An uncertain accept only helps inside the base chain that blocks; other base
            // chains run anyway.
            "accept" => blocked && u.base_chain == deciding_base,
            "drop" => !blocked,
            w if w.starts_with("reject") => !blocked,
            _ => true,
        })
        .cloned()
        .collect();
    let uncertain_blockers = uncertain.into_iter().filter(|u| u.may_block()).collect();
    let outcome = if relevant.is_empty() {
        otherwise
    } else {
        Outcome::Possible {
            uncertain: relevant,
            otherwise: Box::new(otherwise),
        }
    };
    FirewallVerdict {
        outcome,
        deciding_base_chain: deciding_rule.as_ref().map(|_| deciding_base.to_owned()),
        deciding_rule,
        trail,
        uncertain_blockers,
    }
}

pub(super) fn rule_ref(table: &Table, chain: &str, rule: &Rule) -> RuleRef {
    RuleRef {
        backend: table.backend,
        family: table.family.clone(),
        table: table.name.clone(),
        chain: chain.to_owned(),
        position: Some(rule.position),
        handle: rule.handle,
        text: rule.text.clone(),
        packets: rule.counters.map(|c| c.packets),
        bytes: rule.counters.map(|c| c.bytes),
    }
}

fn policy_ref(table: &Table, ci: usize) -> RuleRef {
    let chain = table.chains.get(ci);
    let name = chain.map(|c| c.name.clone()).unwrap_or_default();
    let counters = chain.and_then(|c| c.counters);
    let text = match table.backend {
        Backend::Iptables => format!("-P {name} DROP"),
        Backend::Nft => "policy drop".to_owned(),
    };
    RuleRef {
        backend: table.backend,
        family: table.family.clone(),
        table: table.name.clone(),
        chain: name,
        position: None,
        handle: None,
        text,
        packets: counters.map(|c| c.packets),
        bytes: counters.map(|c| c.bytes),
    }
}

struct Frame {
    chain: usize,
    next: usize,
}

fn run_base(
    table: &Table,
    start: usize,
    flow: &Flow,
    hook: Hook,
    base: &str,
    trail: &mut Vec<String>,
    uncertain: &mut Vec<Uncertain>,
) -> ChainEnd {
    let mut stack = vec![Frame {
        chain: start,
        next: 0,
    }];
    let mut steps = 0usize;
    let give_up = |trail: &mut Vec<String>, uncertain: &mut Vec<Uncertain>, why: &str| {
        trail.push(format!("  gave up: {why}"));
        uncertain.push(Uncertain {
            rule: policy_ref(table, start),
            would: "unknown".into(),
            cannot_evaluate: vec![why.to_owned()],
            base_chain: base.to_owned(),
        });
    };
    loop {
        let Some(frame) = stack.last_mut() else {
            return ChainEnd::Policy;
        };
        let Some(chain) = table.chains.get(frame.chain) else {
            return ChainEnd::Policy;
        };
        let Some(rule) = chain.rules.get(frame.next) else {
            // The end of a called chain is an implicit return.
            stack.pop();
            continue;
        };
        frame.next += 1;
        steps += 1;
        if steps > MAX_STEPS {
            give_up(trail, uncertain, "too many rules on the path (a loop?)");
            return ChainEnd::Policy;
        }
        let reference = || rule_ref(table, &chain.name, rule);
        match rule_matches(&rule.matches, flow, hook) {
            Tri::No => continue,
            Tri::Maybe(reasons) => {
                if rule.action == Action::Continue {
                    continue;
                }
                trail.push(format!(
                    "  {} #{}: {} (cannot evaluate: {})",
                    chain.name,
                    rule.position,
                    rule.text,
                    reasons.join(", ")
                ));
                uncertain.push(Uncertain {
                    rule: reference(),
                    would: rule.action.describe(),
                    cannot_evaluate: reasons,
                    base_chain: base.to_owned(),
                });
                continue;
            }
            Tri::Yes => {}
        }
        if rule.action != Action::Continue {
            trail.push(format!(
                "  {} #{}: {}",
                chain.name, rule.position, rule.text
            ));
        }
        match &rule.action {
            Action::Accept => return ChainEnd::Accept,
            Action::Drop => return ChainEnd::Block(Outcome::Dropped, reference()),
            Action::Reject { with } => {
                return ChainEnd::Block(Outcome::Rejected { with: with.clone() }, reference())
            }
            Action::Continue => {}
            Action::Return => {
                stack.pop();
            }
            Action::Jump(target) | Action::Goto(target) => {
                let Some(idx) = table.chains.iter().position(|c| &c.name == target) else {
                    uncertain.push(Uncertain {
                        rule: reference(),
                        would: rule.action.describe(),
                        cannot_evaluate: vec![format!("chain {target} is not in the dump")],
                        base_chain: base.to_owned(),
                    });
                    continue;
                };
                if matches!(rule.action, Action::Goto(_)) {
                    stack.pop();
                }
                if stack.len() >= MAX_DEPTH {
                    give_up(trail, uncertain, "jumps nested too deep (a loop?)");
                    return ChainEnd::Policy;
                }
                stack.push(Frame {
                    chain: idx,
                    next: 0,
                });
            }
            Action::Unknown(what) => {
                uncertain.push(Uncertain {
                    rule: reference(),
                    would: what.clone(),
                    cannot_evaluate: vec![format!("verdict {what}")],
                    base_chain: base.to_owned(),
                });
            }
        }
    }
}

fn rule_matches(matches: &[Match], flow: &Flow, hook: Hook) -> Tri {
    let mut unknown = Vec::new();
    for m in matches {
        let result = match test(&m.test, flow, hook) {
            Tri::Yes if m.negated => Tri::No,
            Tri::No if m.negated => Tri::Yes,
            Tri::Maybe(r) if m.negated => {
                Tri::Maybe(r.into_iter().map(|r| format!("! {r}")).collect())
            }
            other => other,
        };
        match result {
            Tri::No => return Tri::No,
            Tri::Yes => {}
            Tri::Maybe(r) => unknown.extend(r),
        }
    }
    if unknown.is_empty() {
        Tri::Yes
    } else {
        Tri::Maybe(unknown)
    }
}

fn tri(b: bool) -> Tri {
    if b {
        Tri::Yes
    } else {
        Tri::No
    }
}

fn proto_number(flow: &Flow) -> u8 {
    match (flow.proto, flow.family) {
        (Proto::Tcp, _) => 6,
        (Proto::Udp, _) => 17,
        (Proto::Icmp, IpFamily::V4) => 1,
        (Proto::Icmp, IpFamily::V6) => 58,
    }
}

fn iface_matches(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(
        |p| match p.strip_suffix('+').or_else(|| p.strip_suffix('*')) {
            Some(prefix) => name.starts_with(prefix),
            None => p == name,
        },
    )
}

fn ports(ranges: &[(u16, u16)], port: Option<u16>, flow: &Flow, what: &str) -> Tri {
    if flow.proto == Proto::Icmp {
        return Tri::No;
    }
    match (port, flow.ephemeral) {
        (Some(p), _) => tri(ranges.iter().any(|&(lo, hi)| lo <= p && p <= hi)),
        // This host's own ephemeral port: unknown, but inside the local port range.
        (None, Some((elo, ehi))) => {
            if ranges.iter().any(|&(lo, hi)| lo <= elo && ehi <= hi) {
                Tri::Yes
            } else if ranges.iter().all(|&(lo, hi)| hi < elo || ehi < lo) {
                Tri::No
            } else {
                Tri::Maybe(vec![format!(
                    "{what} port unknown (an ephemeral port in {elo}-{ehi})"
                )])
            }
        }
        (None, None) => Tri::Maybe(vec![format!("{what} port unknown")]),
    }
}

fn addr_in(cidrs: &[super::Cidr], ip: IpAddr) -> bool {
    cidrs.iter().any(|c| c.contains(ip))
}

fn test(t: &Test, flow: &Flow, hook: Hook) -> Tri {
    let local_out = flow.hook == FlowHook::Output;
    match t {
        Test::Family(f) => tri(*f == flow.family),
        Test::Proto(list) => tri(list.iter().any(|&p| p == 0 || p == proto_number(flow))),
        Test::Src(c) => tri(addr_in(c, flow.src)),
        Test::Dst(c) => tri(addr_in(c, flow.dst)),
        Test::Sport(r) => ports(r, flow.sport, flow, "source"),
        Test::Dport(r) => ports(r, flow.dport, flow, "destination"),
        Test::InIface(p) => {
            if local_out {
                // A packet this host sends has no input interface.
                return Tri::No;
            }
            match &flow.iif {
                Some(name) => tri(iface_matches(p, name)),
                None => Tri::Maybe(vec![format!("input interface {} (unknown)", p.join(","))]),
            }
        }
        Test::OutIface(p) => {
            if matches!(hook, Hook::Prerouting | Hook::Input) {
                // Not routed yet, or delivered locally: there is no output interface.
                return Tri::No;
            }
            match &flow.oif {
                Some(name) => tri(iface_matches(p, name)),
                None => Tri::Maybe(vec![format!("output interface {} (unknown)", p.join(","))]),
            }
        }
        Test::CtState(states) => {
            let state = if flow.reply { "established" } else { "new" };
            tri(states.iter().any(|s| s.eq_ignore_ascii_case(state)))
        }
        Test::IcmpType(types) => {
            if flow.proto != Proto::Icmp {
                return Tri::No;
            }
            let echo = match flow.family {
                IpFamily::V4 => "8",
                IpFamily::V6 => "128",
            };
            tri(types.iter().any(|t| {
                let t = t.to_ascii_lowercase();
                let head = t.split('/').next().unwrap_or("");
                t == "any" || head == "echo-request" || head == echo
            }))
        }
        // A reply (SYN-ACK and later) never has SYN alone.
        Test::TcpSyn => tri(flow.proto == Proto::Tcp && !flow.reply),
        Test::Unknown(text) => Tri::Maybe(vec![text.clone()]),
    }
}
