//! The narrowest change that lets the flow through, as `aws ec2` commands (with the read-only
//! pre-state capture and the exact rollback) and as a structural [`FixChange`] that
//! [`Estate::apply`] applies to the model, so tests can prove that a fix works and opens nothing
//! else. A fix never opens `0.0.0.0/0` or `::/0`: when the only candidate is a whole address
//! family, there is no fix, and the verdict says why.

use super::model::*;
use crate::flow::{display_net, Protocol};
use ipnet::IpNet;
use netdiag_core::remedy::admit_peer;

/// A change to the estate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixChange {
    /// Add one rule to a security group.
    SecurityGroupRule {
        /// The group changed.
        group_id: String,
        /// Ingress (`IpPermissions`) or egress (`IpPermissionsEgress`).
        ingress: bool,
        /// The rule added.
        rule: SgRule,
    },
    /// Add one network ACL entry.
    NetworkAclEntry {
        /// The ACL changed.
        acl_id: String,
        /// The entry added.
        entry: AclEntry,
    },
}

impl Estate {
    /// Applies a proposed change to the model (what the fix's commands would do to the account).
    pub fn apply(&mut self, change: &FixChange) {
        match change {
            FixChange::SecurityGroupRule {
                group_id,
                ingress,
                rule,
            } => {
                if let Some(sg) = self.security_groups.get_mut(group_id) {
                    if *ingress {
                        sg.ingress.push(rule.clone());
                    } else {
                        sg.egress.push(rule.clone());
                    }
                }
            }
            FixChange::NetworkAclEntry { acl_id, entry } => {
                if let Some(acl) = self.network_acls.get_mut(acl_id) {
                    acl.entries.push(entry.clone());
                    acl.entries.sort_by_key(|e| e.number);
                }
            }
        }
    }
}

/// One block's fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedFix {
    pub(crate) description: String,
    pub(crate) commands: Vec<String>,
    pub(crate) rollback: Vec<String>,
    pub(crate) prestate: Vec<String>,
    pub(crate) changes: Vec<FixChange>,
}

/// What the fix generator needs to know about the flow.
pub(crate) struct Context<'a> {
    pub(crate) dst: &'a End,
    pub(crate) src_eni: Option<&'a Interface>,
    pub(crate) dst_eni: Option<&'a Interface>,
    /// The source address as the destination sees it (`None`: behind an unknown NAT).
    pub(crate) src_seen: Option<IpNet>,
    pub(crate) same_vpc: bool,
    pub(crate) flow: FlowSpec,
}

/// Core's one world guard ([`admit_peer`]) on the peer a rule would allow, with the AWS wording.
fn never_everything(net: &IpNet, role: &str) -> Result<(), String> {
    admit_peer(&net.to_string()).map_err(|_| {
        format!(
            "the {role} is {net}: netdiag never proposes opening a whole address family; name a narrower range"
        )
    })
}

fn rule_protocol(flow: FlowSpec) -> RuleProtocol {
    match flow.protocol {
        Protocol::Tcp => RuleProtocol::Tcp,
        Protocol::Udp => RuleProtocol::Udp,
        Protocol::Icmp if flow.ipv6 => RuleProtocol::Icmpv6,
        Protocol::Icmp => RuleProtocol::Icmp,
    }
}

/// `IpProtocol=tcp,FromPort=443,ToPort=443,<peer>`.
fn ip_permissions(rule: &SgRule, description: Option<&str>) -> String {
    let desc = description
        .map(|d| format!(",Description={d}"))
        .unwrap_or_default();
    let peer = match &rule.peer {
        SgPeer::Group { group_id, .. } => {
            format!("UserIdGroupPairs=[{{GroupId={group_id}{desc}}}]")
        }
        SgPeer::Cidr(n) if n.addr().is_ipv4() => format!("IpRanges=[{{CidrIp={n}{desc}}}]"),
        SgPeer::Cidr(n) => format!("Ipv6Ranges=[{{CidrIpv6={n}{desc}}}]"),
        SgPeer::PrefixList(id) => format!("PrefixListIds=[{{PrefixListId={id}{desc}}}]"),
    };
    format!(
        "'IpProtocol={},FromPort={},ToPort={},{peer}'",
        rule.protocol.sg_name(),
        rule.from_port.unwrap_or(-1),
        rule.to_port.unwrap_or(-1)
    )
}

/// A security-group rule for the flow: ingress on the destination's group (from the source's
/// group when both are in one VPC and the flow uses private addresses, else from the source's
/// address as /32 or /128), or egress on the source's group (to the destination's group or
/// address, likewise).
pub(crate) fn security_group(
    ctx: &Context<'_>,
    group_id: &str,
    ingress: bool,
) -> Result<PlannedFix, String> {
    let flow = ctx.flow;
    let (peer_eni, peer_addr, role) = if ingress {
        (ctx.src_eni, ctx.src_seen, "source")
    } else {
        (ctx.dst_eni, Some(ctx.dst.addr), "destination")
    };
    let peer = match peer_eni.and_then(|e| e.groups.first()) {
        Some(g) if ctx.same_vpc && !ctx.dst.via_public => SgPeer::Group {
            group_id: g.clone(),
            peering: None,
        },
        _ => {
            let addr = peer_addr.ok_or_else(|| {
                "the address the destination sees is unknown (the source reaches it through a NAT gateway); export the NAT gateway and run again".to_string()
            })?;
            never_everything(&addr, role)?;
            SgPeer::Cidr(addr)
        }
    };
    let (from_port, to_port) = match flow.protocol {
        Protocol::Icmp => {
            let (t, c) = flow.icmp_request();
            (Some(t), Some(c))
        }
        _ => (Some(i64::from(flow.port)), Some(i64::from(flow.port))),
    };
    let rule = SgRule {
        protocol: rule_protocol(flow),
        from_port,
        to_port,
        peer,
    };
    let who = match &rule.peer {
        SgPeer::Group { group_id, .. } => format!("members of {group_id}"),
        SgPeer::Cidr(n) => display_net(n),
        SgPeer::PrefixList(id) => id.clone(),
    };
    let (verb, dir, prep) = if ingress {
        ("authorize-security-group-ingress", "ingress", "from")
    } else {
        ("authorize-security-group-egress", "egress", "to")
    };
    let label = flow.label().replace(['(', ')'], "").replace('/', " ");
    let note = format!("netdiag {label} {prep} {}", who.replace(' ', "-"));
    let command = format!(
        "aws ec2 {verb} --group-id {group_id} --ip-permissions {}",
        ip_permissions(&rule, Some(&note))
    );
    let revoke = format!(
        "aws ec2 {} --group-id {group_id} --ip-permissions {}",
        if ingress {
            "revoke-security-group-ingress"
        } else {
            "revoke-security-group-egress"
        },
        ip_permissions(&rule, None)
    );
    Ok(PlannedFix {
        description: format!(
            "Add one {dir} rule to {group_id}: {} {prep} {who} only{}.",
            flow.label(),
            if matches!(rule.peer, SgPeer::Group { .. }) {
                " (a group reference: both ends are in one VPC, so it follows the instances instead of their addresses)"
            } else {
                ""
            }
        ),
        commands: vec![command],
        rollback: vec![revoke],
        prestate: vec![format!(
            "aws ec2 describe-security-groups --group-ids {group_id} --output json"
        )],
        changes: vec![FixChange::SecurityGroupRule {
            group_id: group_id.to_string(),
            ingress,
            rule,
        }],
    })
}

/// A free rule number below `below` in one direction of an ACL: the highest free multiple of 10,
/// else the highest free number (so the new entry sits just before the blocking one).
/// `taken` holds the numbers other fixes of the same verdict already use in this ACL and
/// direction (one ACL is often associated with both ends' subnets).
fn free_rule_number(acl: &NetworkAcl, egress: bool, below: u32, taken: &[u32]) -> Option<u32> {
    let used = |n: u32| {
        taken.contains(&n)
            || acl
                .entries
                .iter()
                .any(|e| e.egress == egress && e.number == n)
    };
    // 1-32766 are the numbers a user may create; 32767 and 32768 are the `*` entries.
    let top = below.saturating_sub(1).min(32766);
    (1..=top)
        .rev()
        .filter(|n| n % 10 == 0)
        .find(|n| !used(*n))
        .or_else(|| (1..=top).rev().find(|n| !used(*n)))
}

#[allow(clippy::too_many_arguments)]
fn acl_entry_fix(
    acl: &NetworkAcl,
    egress: bool,
    below: u32,
    ports: Option<(u16, u16)>,
    icmp: Option<(i64, i64)>,
    protocol: RuleProtocol,
    cidr: IpNet,
    why: &str,
    taken: &[u32],
) -> Result<PlannedFix, String> {
    let Some(number) = free_rule_number(acl, egress, below, taken) else {
        return Err(format!(
            "{} has no free {} rule number below #{below}: replace #{below} (`aws ec2 replace-network-acl-entry`) or renumber",
            acl.id,
            if egress { "egress" } else { "ingress" }
        ));
    };
    let dir_flag = if egress { "--egress" } else { "--ingress" };
    let mut cmd = format!(
        "aws ec2 create-network-acl-entry --network-acl-id {} {dir_flag} --rule-number {number} --protocol {}",
        acl.id,
        protocol.acl_number()
    );
    if let Some((f, t)) = ports {
        cmd.push_str(&format!(" --port-range From={f},To={t}"));
    }
    if let Some((t, c)) = icmp {
        cmd.push_str(&format!(" --icmp-type-code Type={t},Code={c}"));
    }
    if cidr.addr().is_ipv4() {
        cmd.push_str(&format!(" --cidr-block {cidr}"));
    } else {
        cmd.push_str(&format!(" --ipv6-cidr-block {cidr}"));
    }
    cmd.push_str(" --rule-action allow");
    let entry = AclEntry {
        number,
        protocol,
        allow: true,
        egress,
        cidr,
        ports,
        icmp,
    };
    Ok(PlannedFix {
        description: format!(
            "Add {} entry #{number} to {} ({}), numbered below #{below} so it is evaluated first: {why}.",
            if egress { "egress" } else { "ingress" },
            acl.id,
            describe_entry(&entry),
        ),
        commands: vec![cmd],
        rollback: vec![format!(
            "aws ec2 delete-network-acl-entry --network-acl-id {} {dir_flag} --rule-number {number}",
            acl.id
        )],
        prestate: vec![format!("aws ec2 describe-network-acls --network-acl-ids {} --output json", acl.id)],
        changes: vec![FixChange::NetworkAclEntry { acl_id: acl.id.clone(), entry }],
    })
}

/// The forward leg through a NACL: the flow's port (or ICMP type) to/from the other end's /32.
pub(crate) fn acl_forward(
    ctx: &Context<'_>,
    acl: &NetworkAcl,
    egress: bool,
    below: u32,
    taken: &[u32],
) -> Result<PlannedFix, String> {
    let flow = ctx.flow;
    let cidr = if egress {
        ctx.dst.addr
    } else {
        ctx.src_seen.ok_or_else(|| "the address the destination sees is unknown (NAT); export the NAT gateway and run again".to_string())?
    };
    never_everything(&cidr, if egress { "destination" } else { "source" })?;
    let (ports, icmp) = match flow.protocol {
        Protocol::Icmp => (None, Some(flow.icmp_request())),
        _ => (Some((flow.port, flow.port)), None),
    };
    acl_entry_fix(
        acl,
        egress,
        below,
        ports,
        icmp,
        rule_protocol(flow),
        cidr,
        &format!(
            "{} {} {}",
            flow.label(),
            if egress { "to" } else { "from" },
            display_net(&cidr)
        ),
        taken,
    )
}

/// The reply leg: ports 1024-65535 (every client's ephemeral range) to/from the other end.
pub(crate) fn acl_reply(
    ctx: &Context<'_>,
    acl: &NetworkAcl,
    egress: bool,
    below: u32,
    taken: &[u32],
) -> Result<PlannedFix, String> {
    let flow = ctx.flow;
    // `egress`: the destination subnet sends the reply to the client; else the source subnet
    // receives it from the server.
    let cidr = if egress {
        ctx.src_seen.ok_or_else(|| "the client's address as the destination sees it is unknown (NAT); export the NAT gateway and run again".to_string())?
    } else {
        ctx.dst.addr
    };
    never_everything(&cidr, if egress { "source" } else { "destination" })?;
    let (ports, icmp) = match flow.protocol {
        Protocol::Icmp => (None, Some(flow.icmp_reply())),
        _ => (Some((1024, 65535)), None),
    };
    acl_entry_fix(
        acl,
        egress,
        below,
        ports,
        icmp,
        rule_protocol(flow),
        cidr,
        &format!(
            "the reply {} {} on the client's ephemeral ports (1024-65535 covers every OS's range; being stateless, the entry also admits new flows on those ports between this subnet and that address, which security groups still guard)",
            if egress { "to" } else { "from" },
            display_net(&cidr)
        ),
        taken,
    )
}

/// No route: a peering connection already joining the two VPCs is the target if there is one.
pub(crate) fn no_route(estate: &Estate, rt: &RouteTable, dst: &End) -> Result<PlannedFix, String> {
    let own_vpc = rt.vpc_id.clone();
    let dst_vpc = estate
        .interface_by_private_ip
        .get(&dst.addr.addr())
        .and_then(|i| estate.interfaces.get(*i))
        .and_then(|e| estate.vpc_of(e));
    let peering = estate.peerings.values().find(|p| {
        p.status == "active"
            && ((p.requester.vpc_id == own_vpc
                && (p.accepter.vpc_id == dst_vpc && dst_vpc.is_some()
                    || p.accepter.cidrs.iter().any(|c| c.contains(&dst.addr))))
                || (p.accepter.vpc_id == own_vpc
                    && (p.requester.vpc_id == dst_vpc && dst_vpc.is_some()
                        || p.requester.cidrs.iter().any(|c| c.contains(&dst.addr)))))
    });
    let Some(p) = peering else {
        return Err(format!(
            "{} has no route to {} and the exports show no target for one (a peering connection, transit gateway or gateway); add a route to the right target with `aws ec2 create-route --route-table-id {} --destination-cidr-block CIDR --<target>-id ID`",
            rt.id,
            display_net(&dst.addr),
            rt.id
        ));
    };
    let far = if p.requester.vpc_id == own_vpc {
        &p.accepter
    } else {
        &p.requester
    };
    let dest = far
        .cidrs
        .iter()
        .find(|c| c.contains(&dst.addr))
        .copied()
        .unwrap_or(dst.addr);
    never_everything(&dest, "destination")?;
    let flag = if dest.addr().is_ipv4() {
        "--destination-cidr-block"
    } else {
        "--destination-ipv6-cidr-block"
    };
    Ok(PlannedFix {
        description: format!(
            "Route {dest} in {} through the active peering connection {}.",
            rt.id, p.id
        ),
        commands: vec![format!(
            "aws ec2 create-route --route-table-id {} {flag} {dest} --vpc-peering-connection-id {}",
            rt.id, p.id
        )],
        rollback: vec![format!(
            "aws ec2 delete-route --route-table-id {} {flag} {dest}",
            rt.id
        )],
        prestate: vec![format!(
            "aws ec2 describe-route-tables --route-table-ids {} --output json",
            rt.id
        )],
        changes: Vec::new(),
    })
}

/// A blackhole route: its target is gone. Re-point it at an active peering connection to the
/// destination's VPC when the exports show one; otherwise say what to choose.
pub(crate) fn blackhole(
    estate: &Estate,
    rt: &RouteTable,
    route: &Route,
    dst: &End,
) -> Result<PlannedFix, String> {
    let RouteDestination::Cidr(dest) = &route.destination else {
        return Err(format!("the route to {} in {} is a blackhole; re-point it with `aws ec2 replace-route --route-table-id {} --destination-prefix-list-id … --<target>-id ID`", route.target.id(), rt.id, rt.id));
    };
    let flag = if dest.addr().is_ipv4() {
        "--destination-cidr-block"
    } else {
        "--destination-ipv6-cidr-block"
    };
    match no_route(estate, rt, dst) {
        Ok(mut p) => {
            let pcx = p.commands.first().and_then(|c| c.split_whitespace().last()).unwrap_or_default().to_string();
            p.description = format!("Re-point the blackhole route {dest} in {} (target {} is gone) at the active peering connection {pcx}.", rt.id, route.target.id());
            p.commands = vec![format!("aws ec2 replace-route --route-table-id {} {flag} {dest} --vpc-peering-connection-id {pcx}", rt.id)];
            let old = match &route.target {
                RouteTarget::Peering(id) => format!("--vpc-peering-connection-id {id}"),
                RouteTarget::Other(id) if id.starts_with("nat-") => format!("--nat-gateway-id {id}"),
                RouteTarget::Other(id) if id.starts_with("eni-") => format!("--network-interface-id {id}"),
                RouteTarget::Other(id) if id.starts_with("tgw-") => format!("--transit-gateway-id {id}"),
                RouteTarget::Other(id) if id.starts_with("i-") => format!("--instance-id {id}"),
                RouteTarget::Other(id) => format!("--gateway-id {id}"),
                RouteTarget::Local => "--gateway-id local".into(),
            };
            p.rollback = vec![format!("aws ec2 replace-route --route-table-id {} {flag} {dest} {old}  # restores the (blackhole) target", rt.id)];
            Ok(p)
        }
        Err(_) => Err(format!(
            "the route {dest} in {} points at {}, which no longer exists (state blackhole); recreate that target or re-point the route: `aws ec2 replace-route --route-table-id {} {flag} {dest} --<nat-gateway|transit-gateway|vpc-peering-connection|network-interface>-id ID`",
            rt.id,
            route.target.id(),
            rt.id
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(numbers: &[u32]) -> NetworkAcl {
        NetworkAcl {
            id: "acl-1".into(),
            entries: numbers
                .iter()
                .map(|n| AclEntry {
                    number: *n,
                    protocol: RuleProtocol::All,
                    allow: false,
                    egress: false,
                    cidr: "10.0.0.0/8".parse().unwrap(),
                    ports: None,
                    icmp: None,
                })
                .collect(),
            ..NetworkAcl::default()
        }
    }

    #[test]
    fn rule_numbers_go_just_below_the_blocking_entry() {
        assert_eq!(free_rule_number(&acl(&[100]), false, 100, &[]), Some(90));
        assert_eq!(
            free_rule_number(&acl(&[90, 100]), false, 100, &[]),
            Some(80)
        );
        assert_eq!(free_rule_number(&acl(&[3, 5]), false, 5, &[]), Some(4));
        assert_eq!(free_rule_number(&acl(&[1, 2]), false, 2, &[]), None);
        assert_eq!(free_rule_number(&acl(&[1]), false, 1, &[]), None);
        // Egress numbers are their own space.
        assert_eq!(free_rule_number(&acl(&[90, 100]), true, 100, &[]), Some(90));
        // Numbers another fix of the same verdict takes are not free.
        assert_eq!(
            free_rule_number(&acl(&[]), true, 32767, &[32760]),
            Some(32750)
        );
        // Never 32767 or above, even below the IPv6 `*` entry.
        assert_eq!(free_rule_number(&acl(&[]), true, 32768, &[]), Some(32760));
    }

    #[test]
    fn never_opens_a_whole_family() {
        assert!(never_everything(&"0.0.0.0/0".parse().unwrap(), "source").is_err());
        assert!(never_everything(&"::/0".parse().unwrap(), "source").is_err());
        assert!(never_everything(&"10.0.0.0/8".parse().unwrap(), "source").is_ok());
    }
}
