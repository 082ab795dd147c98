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
    /// Delete one route (a stale blackhole route; traffic then follows the covering route).
    DeleteRoute {
        /// The route table changed.
        route_table_id: String,
        /// The deleted route's destination.
        destination: IpNet,
    },
    /// Associate a subnet with a route table (it leaves the main table, or its old table).
    AssociateRouteTable {
        /// The table the subnet is associated with.
        route_table_id: String,
        /// The subnet.
        subnet_id: String,
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
            FixChange::DeleteRoute {
                route_table_id,
                destination,
            } => {
                if let Some(rt) = self.route_tables.get_mut(route_table_id) {
                    rt.routes
                        .retain(|r| r.destination != RouteDestination::Cidr(*destination));
                }
            }
            FixChange::AssociateRouteTable {
                route_table_id,
                subnet_id,
            } => {
                for rt in self.route_tables.values_mut() {
                    rt.subnets.retain(|s| s != subnet_id);
                }
                if let Some(rt) = self.route_tables.get_mut(route_table_id) {
                    rt.subnets.push(subnet_id.clone());
                }
                self.index();
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

/// The `create-route`/`replace-route` argument that names a route's target.
fn target_arg(target: &RouteTarget) -> String {
    match target {
        RouteTarget::Peering(id) => format!("--vpc-peering-connection-id {id}"),
        RouteTarget::Other(id) if id.starts_with("nat-") => format!("--nat-gateway-id {id}"),
        RouteTarget::Other(id) if id.starts_with("eni-") => format!("--network-interface-id {id}"),
        RouteTarget::Other(id) if id.starts_with("tgw-") => format!("--transit-gateway-id {id}"),
        RouteTarget::Other(id) if id.starts_with("i-") => format!("--instance-id {id}"),
        RouteTarget::Other(id) if id.starts_with("vpce-") => format!("--vpc-endpoint-id {id}"),
        RouteTarget::Other(id) => format!("--gateway-id {id}"),
        RouteTarget::Local => "--gateway-id local".into(),
    }
}

fn cidr_flag(dest: &IpNet) -> &'static str {
    if dest.addr().is_ipv4() {
        "--destination-cidr-block"
    } else {
        "--destination-ipv6-cidr-block"
    }
}

/// A subnet on the main table, which lacks the route, while `table` of the same VPC has it:
/// associate the subnet with that table. The subnet then takes every route of `table`, so the
/// main table's routes that `table` lacks are named.
pub(crate) fn associate(
    eni: &Interface,
    main: &RouteTable,
    table: &RouteTable,
    route: &Route,
    dst: &End,
) -> Result<PlannedFix, String> {
    let Some(subnet) = eni.subnet_id.clone() else {
        return Err(format!(
            "{} has no route to {}",
            main.id,
            display_net(&dst.addr)
        ));
    };
    let lost: Vec<String> = main
        .routes
        .iter()
        .filter(|r| {
            r.target != RouteTarget::Local
                && !table.routes.iter().any(|t| t.destination == r.destination)
        })
        .map(|r| match &r.destination {
            RouteDestination::Cidr(n) => format!("{n} via {}", r.target.id()),
            RouteDestination::PrefixList(id) => format!("{id} via {}", r.target.id()),
        })
        .collect();
    let dest = match &route.destination {
        RouteDestination::Cidr(n) => n.to_string(),
        RouteDestination::PrefixList(id) => id.clone(),
    };
    let caveat = if lost.is_empty() {
        format!(
            "{} has every non-local route of {} the subnet uses today",
            table.id, main.id
        )
    } else {
        format!(
            "the subnet then uses only the routes of {}: it loses {} of {}",
            table.id,
            lost.join(", "),
            main.id
        )
    };
    Ok(PlannedFix {
        description: format!(
            "{subnet} has no explicit route table association, so it uses the main table {}, which has no live route to {}; {} of the same VPC routes {dest} via {}. Associate {subnet} with {} (caveat: {caveat}).",
            main.id,
            display_net(&dst.addr),
            table.id,
            route.target.id(),
            table.id
        ),
        commands: vec![format!(
            "aws ec2 associate-route-table --route-table-id {} --subnet-id {subnet}",
            table.id
        )],
        rollback: vec![format!(
            "aws ec2 disassociate-route-table --association-id ASSOCIATION_ID  # the AssociationId the associate call printed (or: aws ec2 describe-route-tables --filters Name=association.subnet-id,Values={subnet} --query 'RouteTables[].Associations[?SubnetId==`{subnet}`].RouteTableAssociationId' --output text); {subnet} then falls back to {} again",
            main.id
        )],
        prestate: vec![format!(
            "aws ec2 describe-route-tables --filters Name=vpc-id,Values={} --output json",
            main.vpc_id.as_deref().unwrap_or("VPC_ID")
        )],
        changes: vec![FixChange::AssociateRouteTable {
            route_table_id: table.id.clone(),
            subnet_id: subnet,
        }],
    })
}

/// A blackhole route more specific than a live route of the same table: delete the stale one,
/// and the traffic follows the covering route (named with its target).
fn delete_stale(rt: &RouteTable, route: &Route, dest: &IpNet, dst: &End) -> Option<PlannedFix> {
    let cover = rt
        .routes
        .iter()
        .filter(|r| r.active && !std::ptr::eq(*r, route))
        .filter_map(|r| match &r.destination {
            RouteDestination::Cidr(n)
                if n.prefix_len() < dest.prefix_len() && n.contains(&dst.addr) =>
            {
                Some((n.prefix_len(), n, r))
            }
            _ => None,
        })
        .max_by_key(|(len, _, _)| *len)?;
    let (_, cover_net, cover_route) = cover;
    let flag = cidr_flag(dest);
    Some(PlannedFix {
        description: format!(
            "Delete the stale route {dest} in {} (its target {} is gone, state blackhole); traffic to {} then follows the covering route {cover_net} via {}. Caveat: all of {dest} then goes to {}: if that prefix must not take that path (or {} is to be recreated), re-point the route instead (`aws ec2 replace-route --route-table-id {} {flag} {dest} --<target>-id ID`).",
            rt.id,
            route.target.id(),
            display_net(&dst.addr),
            cover_route.target.id(),
            cover_route.target.id(),
            route.target.id(),
            rt.id
        ),
        commands: vec![format!(
            "aws ec2 delete-route --route-table-id {} {flag} {dest}",
            rt.id
        )],
        rollback: vec![format!(
            "aws ec2 create-route --route-table-id {} {flag} {dest} {}  # re-creates the route to the old target (AWS accepts it only while that target exists)",
            rt.id,
            target_arg(&route.target)
        )],
        prestate: vec![format!(
            "aws ec2 describe-route-tables --route-table-ids {} --output json",
            rt.id
        )],
        changes: vec![FixChange::DeleteRoute {
            route_table_id: rt.id.clone(),
            destination: *dest,
        }],
    })
}

/// A blackhole route: its target is gone. Re-point it at an active peering connection to the
/// destination's VPC when the exports show one; else, when a live route of the table covers
/// the destination, delete the stale route; otherwise say what to choose.
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
            let old = target_arg(&route.target);
            p.rollback = vec![format!("aws ec2 replace-route --route-table-id {} {flag} {dest} {old}  # restores the (blackhole) target", rt.id)];
            Ok(p)
        }
        Err(_) => delete_stale(rt, route, dest, dst).ok_or_else(|| format!(
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
