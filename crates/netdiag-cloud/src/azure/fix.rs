//! The narrowest NSG rules that let a blocked flow through, on every NSG that blocks it, as a
//! structure ([`FixChange`]) the property test applies, and as `az network nsg rule create`
//! commands with the pre-state capture and the exact rollback.
//!
//! Narrowest means: the flow's protocol and port only; a single address (/32, /128) or the range
//! asked about, never 0.0.0.0/0 or ::/0; an application security group only when every member is
//! configured like the endpoint (same subnet, same NIC NSG, same ASGs); and the highest free
//! priority below the blocking rule, so every rule that outranked it still does.

use super::model::{Block, Ep};
use super::{Addr, Direction, Estate, Rule};
use crate::flow::{Protocol, Query};
use crate::json::last_segment;
use ipnet::IpNet;
use std::fmt::Write as _;

/// One proposed change, structurally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixChange {
    /// `az network nsg rule create` (an Allow rule).
    NsgRule {
        /// Resource group of the NSG.
        resource_group: String,
        /// NSG name.
        nsg: String,
        /// NSG id (for applying to the estate).
        nsg_id: String,
        /// Rule name.
        name: String,
        /// Priority, 100–4096, free in the NSG.
        priority: u32,
        /// Inbound or Outbound.
        direction: Direction,
        /// Protocol of the flow.
        protocol: Protocol,
        /// Destination port (ignored for ICMP).
        port: u16,
        /// `--source-address-prefixes`.
        source_prefixes: Vec<IpNet>,
        /// `--source-asgs` (ASG ids).
        source_asgs: Vec<String>,
        /// `--destination-address-prefixes`.
        destination_prefixes: Vec<IpNet>,
        /// `--destination-asgs` (ASG ids).
        destination_asgs: Vec<String>,
    },
    /// Two steps, when the blocking deny sits where no allow can be placed above it (at 100, or
    /// every priority from 100 up to it taken): move the deny to the next priority, which is free
    /// (so no rule lies in between and every rule keeps its order against it), then add the
    /// allow at the deny's old priority.
    MoveDenyThenAllow {
        /// Resource group of the NSG.
        resource_group: String,
        /// NSG name.
        nsg: String,
        /// NSG id (for applying to the estate).
        nsg_id: String,
        /// The deny rule moved.
        deny: String,
        /// Its priority now.
        from: u32,
        /// Its new priority (`from + 1`, free).
        to: u32,
        /// The allow rule added at `from` (an [`FixChange::NsgRule`]).
        allow: Box<FixChange>,
    },
}

fn proto_arg(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "Tcp",
        Protocol::Udp => "Udp",
        Protocol::Icmp => "Icmp",
    }
}

impl FixChange {
    /// The az command that makes the change (a two-step change: both, joined by `&&`).
    pub fn command(&self) -> String {
        self.commands().join(" && ")
    }

    /// The az commands that make the change, in order.
    pub fn commands(&self) -> Vec<String> {
        match self {
            FixChange::NsgRule { .. } => vec![self.rule_command()],
            FixChange::MoveDenyThenAllow {
                resource_group,
                nsg,
                deny,
                to,
                allow,
                ..
            } => vec![
                format!("az network nsg rule update -g {resource_group} --nsg-name {nsg} -n {deny} --priority {to}"),
                allow.rule_command(),
            ],
        }
    }

    /// The exact undo, in the order to run it.
    pub fn rollbacks(&self) -> Vec<String> {
        match self {
            FixChange::NsgRule { .. } => vec![self.rule_rollback()],
            FixChange::MoveDenyThenAllow {
                resource_group,
                nsg,
                deny,
                from,
                allow,
                ..
            } => vec![
                allow.rule_rollback(),
                format!("az network nsg rule update -g {resource_group} --nsg-name {nsg} -n {deny} --priority {from}"),
            ],
        }
    }

    fn rule_command(&self) -> String {
        let FixChange::NsgRule {
            resource_group,
            nsg,
            name,
            priority,
            direction,
            protocol,
            port,
            source_prefixes,
            source_asgs,
            destination_prefixes,
            destination_asgs,
            ..
        } = self
        else {
            return self.commands().join(" && ");
        };
        let mut c = format!(
            "az network nsg rule create -g {resource_group} --nsg-name {nsg} -n {name} --priority {priority} --direction {} --access Allow --protocol {}",
            direction.az(),
            proto_arg(*protocol)
        );
        // ASGs in the NSG's resource group by name, others by id.
        let asg = |id: &String| {
            if super::parse::resource_group(id)
                .is_some_and(|rg| rg.eq_ignore_ascii_case(resource_group))
            {
                last_segment(id).to_string()
            } else {
                id.clone()
            }
        };
        for (flag, v) in [
            (
                "--source-address-prefixes",
                source_prefixes
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>(),
            ),
            ("--source-asgs", source_asgs.iter().map(asg).collect()),
            (
                "--destination-address-prefixes",
                destination_prefixes.iter().map(|n| n.to_string()).collect(),
            ),
            (
                "--destination-asgs",
                destination_asgs.iter().map(asg).collect(),
            ),
        ] {
            if !v.is_empty() {
                let _ = write!(c, " {flag} {}", v.join(" "));
            }
        }
        match protocol {
            Protocol::Icmp => c.push_str(" --destination-port-ranges '*'"),
            _ => {
                let _ = write!(c, " --destination-port-ranges {port}");
            }
        }
        c
    }

    fn rule_rollback(&self) -> String {
        match self {
            FixChange::NsgRule {
                resource_group,
                nsg,
                name,
                ..
            } => {
                format!("az network nsg rule delete -g {resource_group} --nsg-name {nsg} -n {name}")
            }
            FixChange::MoveDenyThenAllow { .. } => self.rollbacks().join(" && "),
        }
    }

    /// The exact undo (a two-step change: both steps, in undo order, joined by `&&`).
    pub fn rollback(&self) -> String {
        self.rollbacks().join(" && ")
    }

    /// The read-only command that captures the pre-state.
    pub fn prestate(&self) -> String {
        let (FixChange::NsgRule {
            resource_group,
            nsg,
            ..
        }
        | FixChange::MoveDenyThenAllow {
            resource_group,
            nsg,
            ..
        }) = self;
        format!("az network nsg show -g {resource_group} -n {nsg} -o json")
    }

    /// One line for the fix description.
    pub fn describe(&self) -> String {
        match self {
            FixChange::NsgRule {
                nsg,
                name,
                priority,
                direction,
                ..
            } => format!(
                "add {} Allow rule {name} to NSG {nsg} at priority {priority}",
                direction.az().to_ascii_lowercase()
            ),
            FixChange::MoveDenyThenAllow {
                nsg,
                deny,
                from,
                to,
                allow,
                ..
            } => format!(
                "no priority above Deny rule {deny} of NSG {nsg} (at {from}) is free, so two steps: first move {deny} from priority {from} to {to} (free, no rule in between, so every other rule keeps its order against it), then {}",
                allow.describe()
            ),
        }
    }
}

/// An NSG rule name: letters, digits, `-`, `_`, `.`; at most 80 characters.
fn rule_name(parts: &[&str]) -> String {
    let mut s = String::new();
    for ch in parts.join("-").chars() {
        let c = if ch.is_ascii_alphanumeric() || ch == '_' {
            ch.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && s.ends_with('-')) {
            s.push(c);
        }
    }
    s.truncate(80);
    s.trim_end_matches('-').to_string()
}

fn role(e: &Estate, at: (usize, usize)) -> (Option<String>, Option<String>, Vec<String>) {
    let nic = &e.nics[at.0];
    let c = &nic.ipconfigs[at.1];
    let mut asgs = c.asgs.clone();
    asgs.sort();
    (c.subnet.clone(), nic.nsg.clone(), asgs)
}

/// An ASG of the endpoint whose every exported member is configured like it.
fn role_asg(e: &Estate, at: (usize, usize)) -> Option<String> {
    let me = role(e, at);
    let mut asgs = me.2.clone();
    asgs.sort();
    asgs.into_iter().find(|g| {
        e.asg_members
            .get(g)
            .is_some_and(|m| m.iter().all(|o| role(e, *o) == me))
    })
}

fn vnet_of(e: &Estate, at: (usize, usize)) -> Option<usize> {
    let sid = e.nics[at.0].ipconfigs.get(at.1)?.subnet.as_ref()?;
    e.subnets.get(sid)?.vnet
}

enum Sel {
    Asg(String),
    Prefix(IpNet),
}

fn select(e: &Estate, ep: &Ep, same_vnet_as: (usize, usize)) -> Result<Sel, String> {
    crate::verdict::refuse_any(&ep.net)?;
    // ASGs in a rule must be in the VNet of the NICs the NSG filters.
    if let Some(at) = ep.at {
        if at == same_vnet_as
            || (vnet_of(e, at).is_some() && vnet_of(e, at) == vnet_of(e, same_vnet_as))
        {
            if let Some(g) = role_asg(e, at) {
                return Ok(Sel::Asg(g));
            }
        }
    }
    Ok(Sel::Prefix(ep.net))
}

/// The change for one NSG block, or why there is none.
pub(crate) fn for_block(e: &Estate, b: &Block, q: &Query) -> Result<FixChange, String> {
    let Some(i) = b.nsg else {
        return Err(b
            .no_fix
            .clone()
            .unwrap_or_else(|| "no NSG change can help".into()));
    };
    let nsg = &e.nsgs[i];
    let highest = b.priority.saturating_sub(1).min(4096);
    let free = (100..=highest)
        .rev()
        .find(|p| !nsg.rules.iter().any(|r| r.priority == *p));
    let Some(priority) = free else {
        // No allow fits above the deny: move it down one, then put the allow in its place.
        let moved = move_down(nsg, b).map_err(|why| {
            format!(
                "NSG {} has no free priority from 100 to {highest} above {}, and {why}; free one or narrow that rule first.",
                nsg.name, b.rule.resource
            )
        })?;
        let allow = allow_rule(e, b, q, b.priority)?;
        return Ok(FixChange::MoveDenyThenAllow {
            resource_group: nsg.resource_group.clone(),
            nsg: nsg.name.clone(),
            nsg_id: nsg.id.clone(),
            deny: moved.0,
            from: b.priority,
            to: moved.1,
            allow: Box::new(allow),
        });
    };
    allow_rule(e, b, q, priority)
}

/// The blocking deny moved one priority down: its name and the new priority, which must be
/// free in its direction (so no rule lies between the old and the new place) and at most 4096.
fn move_down(nsg: &super::Nsg, b: &Block) -> Result<(String, u32), String> {
    let deny = nsg
        .rules
        .iter()
        .find(|r| r.priority == b.priority && r.direction == b.dir && !r.allow && !r.default)
        .ok_or_else(|| "the blocking rule is not a custom rule of it".to_string())?;
    let to = b.priority + 1;
    if to > 4096 {
        return Err(format!("{} cannot move below 4096", deny.name));
    }
    if let Some(next) = nsg
        .rules
        .iter()
        .find(|r| r.priority == to && r.direction == b.dir)
    {
        return Err(format!(
            "moving {} down would pass {} at {to}, changing their order",
            deny.name, next.name
        ));
    }
    Ok((deny.name.clone(), to))
}

/// The narrowest allow rule for the block, at `priority`.
fn allow_rule(e: &Estate, b: &Block, q: &Query, priority: u32) -> Result<FixChange, String> {
    let Some(i) = b.nsg else {
        return Err("no NSG change can help".into());
    };
    let nsg = &e.nsgs[i];
    let local_ep = Ep {
        net: IpNet::from(
            e.nics[b.local.0].ipconfigs[b.local.1]
                .ip
                .unwrap_or(b.peer.net.addr()),
        ),
        at: Some(b.local),
        label: String::new(),
    };
    let local = select(e, &local_ep, b.local)?;
    let peer = select(e, &b.peer, b.local)?;
    let (src, dst) = match b.dir {
        Direction::Inbound => (peer, local),
        Direction::Outbound => (local, peer),
    };
    let (mut sp, mut sa, mut dp, mut da) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let label = |s: &Sel| match s {
        Sel::Asg(g) => e
            .asg_names
            .get(g)
            .cloned()
            .unwrap_or_else(|| last_segment(g).to_string()),
        Sel::Prefix(n) if n.prefix_len() == n.max_prefix_len() => n.addr().to_string(),
        Sel::Prefix(n) => n.to_string(),
    };
    let (src_label, dst_label) = (label(&src), label(&dst));
    let exported = |g: String| e.asg_ids.get(&g).cloned().unwrap_or(g);
    match src {
        Sel::Asg(g) => sa.push(exported(g)),
        Sel::Prefix(n) => sp.push(n),
    }
    match dst {
        Sel::Asg(g) => da.push(exported(g)),
        Sel::Prefix(n) => dp.push(n),
    }
    let dir = match b.dir {
        Direction::Inbound => "in",
        Direction::Outbound => "out",
    };
    let proto = match q.protocol {
        Protocol::Icmp => "icmp".to_string(),
        p => format!("{p}-{}", q.port),
    };
    Ok(FixChange::NsgRule {
        resource_group: nsg.resource_group.clone(),
        nsg: nsg.name.clone(),
        nsg_id: nsg.id.clone(),
        name: rule_name(&["netdiag-allow", dir, &proto, &src_label, "to", &dst_label]),
        priority,
        direction: b.dir,
        protocol: q.protocol,
        port: q.port,
        source_prefixes: sp,
        source_asgs: sa,
        destination_prefixes: dp,
        destination_asgs: da,
    })
}

pub(crate) fn apply(e: &mut Estate, change: &FixChange) {
    if let FixChange::MoveDenyThenAllow {
        nsg_id,
        deny,
        from,
        to,
        allow,
        ..
    } = change
    {
        if let Some(&i) = e.nsg_by_id.get(&nsg_id.to_ascii_lowercase()) {
            if let Some(r) = e.nsgs[i]
                .rules
                .iter_mut()
                .find(|r| r.name == *deny && r.priority == *from)
            {
                r.priority = *to;
            }
        }
        apply(e, allow);
        return;
    }
    let FixChange::NsgRule {
        nsg_id,
        name,
        priority,
        direction,
        protocol,
        port,
        source_prefixes,
        source_asgs,
        destination_prefixes,
        destination_asgs,
        ..
    } = change.clone()
    else {
        return;
    };
    let Some(&i) = e.nsg_by_id.get(&nsg_id.to_ascii_lowercase()) else {
        return;
    };
    let rule = Rule {
        name,
        priority,
        direction,
        allow: true,
        protocol: Some(protocol.number()),
        src: source_prefixes.into_iter().map(Addr::Net).collect(),
        dst: destination_prefixes.into_iter().map(Addr::Net).collect(),
        src_asgs: source_asgs.iter().map(|g| g.to_ascii_lowercase()).collect(),
        dst_asgs: destination_asgs
            .iter()
            .map(|g| g.to_ascii_lowercase())
            .collect(),
        src_ports: Vec::new(),
        dst_ports: if protocol == Protocol::Icmp {
            Vec::new()
        } else {
            vec![(port, port)]
        },
        default: false,
    };
    let rules = &mut e.nsgs[i].rules;
    rules.push(rule);
    rules.sort_by_key(|r| r.priority);
}

impl crate::verdict::ProposedChange for FixChange {
    fn describe(&self) -> String {
        FixChange::describe(self)
    }
    fn command(&self) -> String {
        FixChange::command(self)
    }
    fn commands(&self) -> Vec<String> {
        FixChange::commands(self)
    }
    fn rollback(&self) -> String {
        FixChange::rollback(self)
    }
    fn rollbacks(&self) -> Vec<String> {
        FixChange::rollbacks(self)
    }
    fn prestate(&self) -> String {
        FixChange::prestate(self)
    }
}
