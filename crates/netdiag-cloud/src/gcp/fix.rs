//! The narrowest change that lets a blocked flow through, as a structure ([`FixChange`]) so that a
//! property test can apply it to the estate, and as the gcloud commands a person runs (with the
//! read-only pre-state capture and the exact rollback).
//!
//! Narrowest means: exactly the flow's protocol and port; a single address (/32, /128) or the
//! range the user asked about, never 0.0.0.0/0 or ::/0; a network tag or service account only
//! when every instance carrying it is configured like the endpoint (same tags and service
//! accounts), so the change opens nothing for instances that play another role; and the lowest
//! precedence that still outranks the blocking rule (its priority minus one), so every
//! more-specific deny keeps working.

use super::model::{Block, BlockKind, Ep, LegCtx};
use super::{Action, Direction, Estate, Instance, NextHop, Route, Rule, L4};
use crate::flow::{Protocol, Query};
use crate::json::is_public;
use crate::verdict::refuse_any;
use ipnet::IpNet;
use std::fmt::Write as _;

/// One proposed change, structurally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixChange {
    /// `gcloud compute firewall-rules create` (an allow rule).
    FirewallRule {
        /// Rule name.
        name: String,
        /// VPC network name.
        network: String,
        /// INGRESS or EGRESS.
        direction: Direction,
        /// Priority (lower wins).
        priority: u64,
        /// Protocol of the flow.
        protocol: Protocol,
        /// Destination port (ignored for ICMP).
        port: u16,
        /// `--source-ranges`.
        source_ranges: Vec<IpNet>,
        /// `--source-tags`.
        source_tags: Vec<String>,
        /// `--source-service-accounts`.
        source_service_accounts: Vec<String>,
        /// `--destination-ranges`.
        destination_ranges: Vec<IpNet>,
        /// `--target-tags`.
        target_tags: Vec<String>,
        /// `--target-service-accounts`.
        target_service_accounts: Vec<String>,
    },
    /// `gcloud compute network-firewall-policies rules create` (an allow rule in a global network
    /// firewall policy evaluated before the VPC rules).
    PolicyRule {
        /// Policy name.
        policy: String,
        /// Rule priority, unique in the policy.
        priority: u64,
        /// INGRESS or EGRESS.
        direction: Direction,
        /// Protocol of the flow.
        protocol: Protocol,
        /// Destination port (ignored for ICMP).
        port: u16,
        /// `--src-ip-ranges`.
        src_ip_ranges: Vec<IpNet>,
        /// `--dest-ip-ranges`.
        dest_ip_ranges: Vec<IpNet>,
        /// `--target-service-accounts`.
        target_service_accounts: Vec<String>,
    },
    /// `gcloud compute routes create` to the default internet gateway. A route cannot filter
    /// ports: it opens the path for every port, to instances carrying `tags` (all instances of
    /// the network when empty); the firewall still filters.
    Route {
        /// Route name.
        name: String,
        /// VPC network name.
        network: String,
        /// The destination: the address (or the range asked about).
        destination_range: IpNet,
        /// Route priority.
        priority: u64,
        /// `--tags`: the instances the route applies to.
        tags: Vec<String>,
    },
}

/// `--rules` / `--layer4-configs`: `tcp:443`, `icmp`, or `58` (ICMPv6: GCP's `icmp` is ICMPv4
/// only).
fn rules_arg(protocol: Protocol, port: u16, v6: bool) -> String {
    match protocol {
        Protocol::Icmp if v6 => "58".into(),
        Protocol::Icmp => "icmp".into(),
        p => format!("{p}:{port}"),
    }
}

/// Is the change about IPv6? Every fix names the flow's peer (or the local address) by range
/// on at least one side, except tag/service-account-only rules, which match IPv4 only.
fn is_v6(ranges: &[&[IpNet]]) -> bool {
    ranges
        .iter()
        .any(|rs| rs.iter().any(|r| matches!(r, IpNet::V6(_))))
}

fn csv<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl FixChange {
    /// The gcloud command that makes the change.
    pub fn command(&self) -> String {
        match self {
            FixChange::FirewallRule {
                name,
                network,
                direction,
                priority,
                protocol,
                port,
                source_ranges,
                source_tags,
                source_service_accounts,
                destination_ranges,
                target_tags,
                target_service_accounts,
            } => {
                let mut c = format!(
                    "gcloud compute firewall-rules create {name} --network={network} --direction={} --priority={priority} --action=ALLOW --rules={}",
                    direction.gcloud(),
                    rules_arg(
                        *protocol,
                        *port,
                        is_v6(&[source_ranges, destination_ranges])
                    )
                );
                for (flag, v) in [
                    ("--source-ranges", csv(source_ranges)),
                    ("--source-tags", csv(source_tags)),
                    ("--source-service-accounts", csv(source_service_accounts)),
                    ("--destination-ranges", csv(destination_ranges)),
                    ("--target-tags", csv(target_tags)),
                    ("--target-service-accounts", csv(target_service_accounts)),
                ] {
                    if !v.is_empty() {
                        let _ = write!(c, " {flag}={v}");
                    }
                }
                c
            }
            FixChange::PolicyRule {
                policy,
                priority,
                direction,
                protocol,
                port,
                src_ip_ranges,
                dest_ip_ranges,
                target_service_accounts,
            } => {
                let mut c = format!(
                    "gcloud compute network-firewall-policies rules create {priority} --firewall-policy={policy} --global-firewall-policy --direction={} --action=allow --layer4-configs={}",
                    direction.gcloud(),
                    rules_arg(
                        *protocol,
                        *port,
                        is_v6(&[src_ip_ranges, dest_ip_ranges])
                    )
                );
                for (flag, v) in [
                    ("--src-ip-ranges", csv(src_ip_ranges)),
                    ("--dest-ip-ranges", csv(dest_ip_ranges)),
                    ("--target-service-accounts", csv(target_service_accounts)),
                ] {
                    if !v.is_empty() {
                        let _ = write!(c, " {flag}={v}");
                    }
                }
                c
            }
            FixChange::Route {
                name,
                network,
                destination_range,
                priority,
                tags,
            } => {
                let mut c = format!(
                    "gcloud compute routes create {name} --network={network} --destination-range={destination_range} --next-hop-gateway=default-internet-gateway --priority={priority}"
                );
                if !tags.is_empty() {
                    let _ = write!(c, " --tags={}", csv(tags));
                }
                c
            }
        }
    }

    /// The exact undo.
    pub fn rollback(&self) -> String {
        match self {
            FixChange::FirewallRule { name, .. } => {
                format!("gcloud compute firewall-rules delete {name} --quiet")
            }
            FixChange::PolicyRule {
                policy, priority, ..
            } => format!(
                "gcloud compute network-firewall-policies rules delete {priority} --firewall-policy={policy} --global-firewall-policy"
            ),
            FixChange::Route { name, .. } => format!("gcloud compute routes delete {name} --quiet"),
        }
    }

    /// The read-only command that captures the pre-state.
    pub fn prestate(&self) -> String {
        match self {
            FixChange::FirewallRule { network, .. } => format!(
                "gcloud compute firewall-rules list --filter=\"network:{network}\" --format=json"
            ),
            FixChange::PolicyRule { policy, .. } => format!(
                "gcloud compute network-firewall-policies describe {policy} --global --format=json"
            ),
            FixChange::Route { network, .. } => {
                format!("gcloud compute routes list --filter=\"network:{network}\" --format=json")
            }
        }
    }

    /// One line for the fix description.
    pub fn describe(&self) -> String {
        match self {
            FixChange::FirewallRule {
                name,
                network,
                direction,
                priority,
                ..
            } => format!(
                "add {} allow rule {name} in network {network} at priority {priority}",
                direction.gcloud().to_ascii_lowercase()
            ),
            FixChange::PolicyRule {
                policy, priority, ..
            } => format!(
                "add an allow rule at priority {priority} to network firewall policy {policy}"
            ),
            FixChange::Route {
                name,
                destination_range,
                ..
            } => {
                format!("add route {name} for {destination_range} via the default internet gateway")
            }
        }
    }
}

/// A GCP resource name: lowercase letters, digits and hyphens, at most 63 characters.
fn resource_name(parts: &[&str]) -> String {
    let mut s = String::new();
    for ch in parts.join("-").chars() {
        let c = if ch.is_ascii_alphanumeric() {
            ch.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && s.ends_with('-')) {
            s.push(c);
        }
    }
    s.truncate(63);
    s.trim_end_matches('-').to_string()
}

fn same_role(a: &Instance, b: &Instance) -> bool {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v
    };
    a.tags_known
        && b.tags_known
        && a.sas_known
        && b.sas_known
        && sorted(&a.tags) == sorted(&b.tags)
        && sorted(&a.sas) == sorted(&b.sas)
}

fn in_network(i: &Instance, network: &str) -> bool {
    i.nics.iter().any(|n| n.network == network)
}

/// A network tag of the instance that only same-role instances in the network carry.
fn role_tag(e: &Estate, idx: usize, network: &str) -> Option<String> {
    let inst = &e.instances[idx];
    let mut tags = inst.tags.clone();
    tags.sort();
    tags.into_iter().find(|t| {
        e.instances
            .iter()
            .filter(|o| in_network(o, network) && o.tags.contains(t))
            .all(|o| same_role(o, inst))
    })
}

/// A service account of the instance that only same-role instances in the network run as.
fn role_sa(e: &Estate, idx: usize, network: &str) -> Option<String> {
    let inst = &e.instances[idx];
    inst.sas
        .iter()
        .find(|sa| {
            e.instances
                .iter()
                .filter(|o| in_network(o, network) && o.sas.contains(sa))
                .all(|o| same_role(o, inst))
        })
        .cloned()
}

enum Sel {
    Tag(String),
    Sa(String),
    Range(IpNet),
}

fn label_of(e: &Estate, ep: &Ep) -> String {
    match ep.at {
        Some((i, _)) => e.instances[i].name.clone(),
        None => ep.net.to_string(),
    }
}

/// The change for one block, or why there is none.
pub(crate) fn for_block(e: &Estate, b: &Block, q: &Query) -> Result<FixChange, String> {
    match &b.kind {
        BlockKind::Hier {
            policy,
            system: true,
            priority,
            ..
        } => Err(format!(
            "The deny (priority {priority}) is in system firewall policy {policy}, which a Google service (such as GKE) manages; neither the project nor the organization edits it. Change the service's configuration that asks for it, or route the flow another way."
        )),
        BlockKind::Hier {
            policy,
            attached,
            id,
            priority,
            ..
        } => Err(format!(
            "The deny (priority {priority}) is in hierarchical firewall policy {policy} attached to {}; nothing inside the project can override it. Ask the administrators of {} (role roles/compute.orgFirewallPolicyAdmin) for an allow or goto_next rule above priority {priority} for this flow{}.",
            attached.join(", "),
            attached.join(", "),
            if attached.iter().any(|a| a.contains('/')) {
                String::new()
            } else {
                format!(
                    " (`gcloud compute firewall-policies describe {id} --format=\"value(parent)\"` names the organization or folder)"
                )
            }
        )),
        BlockKind::Platform(why) => Err(why.clone()),
        BlockKind::NotPeered(why) => Err(format!(
            "{why}; no firewall rule can connect two networks. Connecting them is VPC Network Peering (gcloud compute networks peerings create), a decision for the owners of both networks."
        )),
        BlockKind::NoRoute { network } => {
            let dst = b.leg.peer.net;
            if is_public(dst.addr()) && dst.prefix_len() > 0 {
                let label = if dst.prefix_len() == dst.max_prefix_len() {
                    dst.addr().to_string()
                } else {
                    dst.to_string()
                };
                Ok(FixChange::Route {
                    name: resource_name(&["netdiag-route-to", &label]),
                    network: network.clone(),
                    destination_range: dst,
                    priority: 1000,
                    tags: role_tag(e, b.leg.local.0, network).into_iter().collect(),
                })
            } else {
                Err(format!(
                    "No route in network {network} reaches {dst}; a private destination outside the VPC needs Cloud VPN, Interconnect or peering routes, which the network team owns."
                ))
            }
        }
        BlockKind::Vpc { priority } => {
            if *priority == 0 {
                return Err(format!(
                    "Deny rule {} has priority 0, which no rule can outrank; narrow or delete it (gcloud compute firewall-rules update {} …) after checking why it exists.",
                    b.rule.resource, b.rule.resource
                ));
            }
            vpc_rule(e, &b.leg, q, priority - 1)
        }
        // The implied rules have priority 65535; the VPC rules are evaluated before a network
        // policy enforced after them, so any priority outranks both. 65534 is the lowest
        // precedence, overriding nothing else.
        BlockKind::Implied
        | BlockKind::NetPolicy {
            first: false, ..
        } => vpc_rule(e, &b.leg, q, 65534),
        BlockKind::NetPolicy {
            policy,
            priority,
            first: true,
        } => {
            if e.network_policies.get(policy).is_some_and(|p| p.regional) {
                return Err(format!(
                    "The deny at priority {priority} is in regional network firewall policy {policy}, evaluated before the VPC rules; add an allow rule above it in that policy (gcloud compute network-firewall-policies rules create PRIORITY --firewall-policy={policy} --firewall-policy-region=REGION --action=allow …) or ask its owners to narrow the deny."
                ));
            }
            let used: Vec<u64> = e
                .network_policies
                .get(policy)
                .map(|p| p.rules.iter().map(|r| r.priority).collect())
                .unwrap_or_default();
            let free = (0..*priority).rev().find(|p| !used.contains(p)).ok_or_else(|| {
                format!(
                    "Network firewall policy {policy} has no free priority above the deny at {priority}; it is evaluated before the VPC rules, so its owners must narrow that deny."
                )
            })?;
            policy_rule(e, &b.leg, q, policy, free)
        }
    }
}

fn vpc_rule(e: &Estate, leg: &LegCtx, q: &Query, priority: u64) -> Result<FixChange, String> {
    let inst = &e.instances[leg.local.0];
    let nic = &inst.nics[leg.local.1];
    let network = nic.network.clone();
    let local_ip = IpNet::from(leg.local_ip);
    refuse_any(&leg.peer.net)?;
    let target = role_tag(e, leg.local.0, &network)
        .map(Sel::Tag)
        .or_else(|| role_sa(e, leg.local.0, &network).map(Sel::Sa))
        .unwrap_or(Sel::Range(local_ip));
    let mut source_ranges = Vec::new();
    let mut source_tags = Vec::new();
    let mut source_service_accounts = Vec::new();
    let mut destination_ranges = Vec::new();
    let mut target_tags = Vec::new();
    let mut target_service_accounts = Vec::new();
    match &target {
        Sel::Tag(t) => target_tags.push(t.clone()),
        Sel::Sa(s) => target_service_accounts.push(s.clone()),
        Sel::Range(r) => match leg.dir {
            Direction::Ingress => destination_ranges.push(*r),
            Direction::Egress => source_ranges.push(*r),
        },
    }
    match leg.dir {
        Direction::Egress => destination_ranges.push(leg.peer.net),
        Direction::Ingress => {
            // Source tags and service accounts match only an instance's primary internal
            // address in the same network; tags and service accounts cannot mix in one rule.
            let peer_inst = leg.peer.at.filter(|(pi, pn)| {
                let n = &e.instances[*pi].nics[*pn];
                n.network == network && n.ip == Some(leg.peer.net.addr())
            });
            let src = peer_inst.and_then(|(pi, _)| match &target {
                Sel::Tag(_) => role_tag(e, pi, &network).map(Sel::Tag),
                Sel::Sa(_) => role_sa(e, pi, &network).map(Sel::Sa),
                Sel::Range(_) => role_tag(e, pi, &network)
                    .map(Sel::Tag)
                    .or_else(|| role_sa(e, pi, &network).map(Sel::Sa)),
            });
            match src {
                Some(Sel::Tag(t)) => source_tags.push(t),
                Some(Sel::Sa(s)) => source_service_accounts.push(s),
                _ => source_ranges.push(leg.peer.net),
            }
        }
    }
    let (dir, from, to) = match leg.dir {
        Direction::Ingress => ("in", label_of(e, &leg.peer), inst.name.clone()),
        Direction::Egress => ("out", inst.name.clone(), label_of(e, &leg.peer)),
    };
    let proto = rules_arg(q.protocol, q.port, leg.local_ip.is_ipv6());
    Ok(FixChange::FirewallRule {
        name: resource_name(&["netdiag-allow", dir, &proto, &from, "to", &to]),
        network,
        direction: leg.dir,
        priority,
        protocol: q.protocol,
        port: q.port,
        source_ranges,
        source_tags,
        source_service_accounts,
        destination_ranges,
        target_tags,
        target_service_accounts,
    })
}

fn policy_rule(
    e: &Estate,
    leg: &LegCtx,
    q: &Query,
    policy: &str,
    priority: u64,
) -> Result<FixChange, String> {
    let inst = &e.instances[leg.local.0];
    let nic = &inst.nics[leg.local.1];
    let local_ip = IpNet::from(leg.local_ip);
    refuse_any(&leg.peer.net)?;
    let sa = role_sa(e, leg.local.0, &nic.network);
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    match leg.dir {
        Direction::Ingress => {
            src.push(leg.peer.net);
            if sa.is_none() {
                dst.push(local_ip);
            }
        }
        Direction::Egress => {
            dst.push(leg.peer.net);
            if sa.is_none() {
                src.push(local_ip);
            }
        }
    }
    Ok(FixChange::PolicyRule {
        policy: policy.to_string(),
        priority,
        direction: leg.dir,
        protocol: q.protocol,
        port: q.port,
        src_ip_ranges: src,
        dest_ip_ranges: dst,
        target_service_accounts: sa.into_iter().collect(),
    })
}

fn l4_of(protocol: Protocol, port: u16, v6: bool) -> Vec<L4> {
    vec![L4 {
        proto: Some(if protocol == Protocol::Icmp && v6 {
            58
        } else {
            protocol.number()
        }),
        ports: if protocol == Protocol::Icmp {
            Vec::new()
        } else {
            vec![(port, port)]
        },
    }]
}

pub(crate) fn apply(e: &mut Estate, change: &FixChange) {
    match change.clone() {
        FixChange::FirewallRule {
            name,
            network,
            direction,
            priority,
            protocol,
            port,
            source_ranges,
            source_tags,
            source_service_accounts,
            destination_ranges,
            target_tags,
            target_service_accounts,
        } => {
            let rules = e.rules.entry(network.clone()).or_default();
            rules.push(Rule {
                name,
                priority,
                direction,
                action: Action::Allow,
                disabled: false,
                l4: l4_of(
                    protocol,
                    port,
                    is_v6(&[&source_ranges, &destination_ranges]),
                ),
                src_ranges: source_ranges,
                dst_ranges: destination_ranges,
                src_tags: source_tags,
                src_sas: source_service_accounts,
                target_tags,
                target_sas: target_service_accounts,
                target_networks: Vec::new(),
                unsupported: Vec::new(),
                network,
            });
            Estate::sort_rules(rules);
            e.firewalls_exported = true;
        }
        FixChange::PolicyRule {
            policy,
            priority,
            direction,
            protocol,
            port,
            src_ip_ranges,
            dest_ip_ranges,
            target_service_accounts,
        } => {
            if let Some(p) = e.network_policies.get_mut(&policy) {
                let v6 = is_v6(&[&src_ip_ranges, &dest_ip_ranges]);
                let any = |v: Vec<IpNet>| {
                    if v.is_empty() {
                        vec![
                            IpNet::V4(ipnet::Ipv4Net::default()),
                            IpNet::V6(ipnet::Ipv6Net::default()),
                        ]
                    } else {
                        v
                    }
                };
                let (src_ranges, dst_ranges) = match direction {
                    Direction::Ingress => (any(src_ip_ranges), dest_ip_ranges),
                    Direction::Egress => (src_ip_ranges, any(dest_ip_ranges)),
                };
                p.rules.push(Rule {
                    name: format!("{}/priority {priority}", p.label),
                    priority,
                    direction,
                    action: Action::Allow,
                    disabled: false,
                    src_ranges,
                    dst_ranges,
                    src_tags: Vec::new(),
                    src_sas: Vec::new(),
                    target_tags: Vec::new(),
                    target_sas: target_service_accounts,
                    target_networks: Vec::new(),
                    l4: l4_of(protocol, port, v6),
                    unsupported: Vec::new(),
                    network: String::new(),
                });
                Estate::sort_rules(&mut p.rules);
            }
        }
        FixChange::Route {
            name,
            network,
            destination_range,
            priority,
            tags,
        } => {
            e.routes.entry(network.clone()).or_default().push(Route {
                name,
                network,
                dest: destination_range,
                priority,
                tags,
                next_hop: NextHop::Gateway("default-internet-gateway".into()),
            });
            e.routes_exported = true;
        }
    }
}

impl crate::verdict::ProposedChange for FixChange {
    fn describe(&self) -> String {
        FixChange::describe(self)
    }
    fn command(&self) -> String {
        FixChange::command(self)
    }
    fn rollback(&self) -> String {
        FixChange::rollback(self)
    }
    fn prestate(&self) -> String {
        FixChange::prestate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_are_valid_gcp_names() {
        assert_eq!(
            resource_name(&["netdiag-allow", "in", "tcp:443", "10.0.1.5", "to", "web-1"]),
            "netdiag-allow-in-tcp-443-10-0-1-5-to-web-1"
        );
        let long = resource_name(&["netdiag-allow", &"x".repeat(100), "2001:db8::1"]);
        assert!(long.len() <= 63 && !long.ends_with('-'));
        assert!(resource_name(&["a--b", "C"]) == "a-b-c");
    }

    #[test]
    fn commands_render_every_selector() {
        let c = FixChange::FirewallRule {
            name: "n".into(),
            network: "prod".into(),
            direction: Direction::Egress,
            priority: 999,
            protocol: Protocol::Udp,
            port: 53,
            source_ranges: vec!["10.0.1.5/32".parse().unwrap()],
            source_tags: vec![],
            source_service_accounts: vec![],
            destination_ranges: vec!["198.51.100.7/32".parse().unwrap()],
            target_tags: vec![],
            target_service_accounts: vec![],
        };
        assert_eq!(c.command(), "gcloud compute firewall-rules create n --network=prod --direction=EGRESS --priority=999 --action=ALLOW --rules=udp:53 --source-ranges=10.0.1.5/32 --destination-ranges=198.51.100.7/32");
        assert_eq!(
            c.rollback(),
            "gcloud compute firewall-rules delete n --quiet"
        );
    }
}
