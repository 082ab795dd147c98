//! The decision for one flow: which layers the packet meets, in GCP's order, and what each says.
//!
//! Order per leg (egress at the source instance, ingress at the destination instance):
//! hierarchical policies (organization, then folders: `allow`/`deny` decide, `goto_next` passes
//! down), then the network firewall policy and the VPC rules in the network's enforcement order
//! (default: VPC rules first), then the implied rules. Between the legs: platform blocks and
//! routes. Pure: the estate in, steps and a verdict out.

use super::fix;
use super::model::{Block, BlockKind, Ep, LegCtx};
use super::{Action, Direction, Estate, Instance, NextHop, Nic, Policy, Route, Rule, L4};
use crate::flow::{display_net, EndpointRef, Protocol, Query};
use crate::json::is_public;
use crate::verdict::{
    conclude_blocks, BlockFacts, Cause, CloudLayer, ConcludeText, Evaluation, Missing, RuleRef,
    Side, Step, StepResult, Verdict,
};
use ipnet::IpNet;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};

/// The metadata server: always reachable from instances, never filtered.
const METADATA: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254));

enum Leg {
    Allow,
    Deny(Box<Block>),
    Unknown(Vec<Missing>),
}

/// Does a rule match? `No(Some(why))` when exactly one condition failed (a near miss worth
/// reporting as `would_allow`).
enum Tri {
    Yes,
    /// The peer range overlaps the rule's ranges without being inside them.
    Partial,
    No(Option<String>),
    Unknown(Vec<Missing>),
}

struct Ctx<'a> {
    dir: Direction,
    inst: &'a Instance,
    nic: &'a Nic,
    local_ip: IpAddr,
    peer: &'a Ep,
    /// Ingress: the source instance, when the packet comes from its primary internal address
    /// in the same network (the only case where source tags and service accounts match).
    peer_inst: Option<&'a Instance>,
    proto: Protocol,
    port: u16,
}

struct Walk<'r> {
    hit: Option<&'r Rule>,
    pending: Vec<(Action, Vec<Missing>)>,
    would: Option<RuleRef>,
}

/// One firewall leg being walked: what every step and block of it shares, and the undecidable
/// rules and would-allow rule seen so far.
struct FwLeg<'a> {
    lc: &'a LegCtx,
    side: Side,
    /// The VPC firewall layer of this direction.
    layer: CloudLayer,
    test: String,
    pending: Vec<(Action, Vec<Missing>)>,
    would: Option<RuleRef>,
    steps: &'a mut Vec<Step>,
}

impl FwLeg<'_> {
    fn step(
        &mut self,
        layer: CloudLayer,
        resource: &str,
        result: StepResult,
        rule: Option<String>,
        evidence: Vec<String>,
    ) {
        self.steps.push(Step {
            layer,
            side: self.side,
            resource: resource.to_string(),
            test: self.test.clone(),
            result,
            rule,
            evidence,
        });
    }

    fn absorb(&mut self, pending: Vec<(Action, Vec<Missing>)>, would: Option<RuleRef>) {
        self.pending.extend(pending);
        self.would = self.would.take().or(would);
    }

    fn block(
        &self,
        layer: CloudLayer,
        cause: Cause,
        resource: &str,
        rule: String,
        kind: BlockKind,
    ) -> Leg {
        Leg::Deny(Box::new(Block {
            layer,
            cause,
            side: self.side,
            rule: RuleRef {
                resource: resource.to_string(),
                rule,
            },
            kind,
            would_allow: self.would.clone(),
            leg: self.lc.clone(),
        }))
    }

    fn settle(&mut self, leg: Leg, decided: Action) -> Leg {
        settle(leg, decided, std::mem::take(&mut self.pending))
    }

    /// The implied rules: deny all ingress, allow all egress.
    fn implied(mut self) -> Leg {
        let layer = self.layer;
        match self.lc.dir {
            Direction::Ingress => {
                let rule = "priority 65535 INGRESS deny all from 0.0.0.0/0 (implied)".to_string();
                self.step(
                    layer,
                    "implied-deny-ingress",
                    StepResult::Deny,
                    Some(rule.clone()),
                    vec![],
                );
                let leg = self.block(
                    layer,
                    Cause::CloudNoAllowRule,
                    "implied-deny-ingress",
                    rule,
                    BlockKind::Implied,
                );
                self.settle(leg, Action::Deny)
            }
            Direction::Egress => {
                self.step(
                    layer,
                    "implied-allow-egress",
                    StepResult::Allow,
                    Some("priority 65535 EGRESS allow all to 0.0.0.0/0 (implied)".into()),
                    vec![],
                );
                self.settle(Leg::Allow, Action::Allow)
            }
        }
    }
}

fn list(v: &[String]) -> String {
    v.join(", ")
}

fn nets(v: &[IpNet]) -> String {
    v.iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn describe_rule(r: &Rule) -> String {
    let action = match r.action {
        Action::Allow => "allow",
        Action::Deny => "deny",
        Action::GotoNext => "goto_next",
    };
    let l4: Vec<String> = r.l4.iter().map(l4_text).collect();
    let mut s = format!(
        "priority {} {} {} {}",
        r.priority,
        r.direction.gcloud(),
        action,
        l4.join(",")
    );
    if !r.src_ranges.is_empty() {
        s += &format!(" from {}", nets(&r.src_ranges));
    }
    if !r.src_tags.is_empty() {
        s += &format!(" source-tags {}", list(&r.src_tags));
    }
    if !r.src_sas.is_empty() {
        s += &format!(" source-service-accounts {}", list(&r.src_sas));
    }
    if !r.dst_ranges.is_empty() {
        s += &format!(" to {}", nets(&r.dst_ranges));
    }
    if !r.target_tags.is_empty() {
        s += &format!(" target-tags {}", list(&r.target_tags));
    }
    if !r.target_sas.is_empty() {
        s += &format!(" target-service-accounts {}", list(&r.target_sas));
    }
    if r.disabled {
        s += " (disabled)";
    }
    s
}

fn l4_text(e: &L4) -> String {
    let p = match e.proto {
        None => "all".to_string(),
        Some(6) => "tcp".into(),
        Some(17) => "udp".into(),
        Some(1) => "icmp".into(),
        Some(n) => n.to_string(),
    };
    if e.ports.is_empty() {
        p
    } else {
        let ports: Vec<String> = e
            .ports
            .iter()
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        format!("{p}:{}", ports.join(","))
    }
}

fn l4_matches(l4: &[L4], proto: Protocol, port: u16, v6: bool) -> bool {
    let num = match proto {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Icmp if v6 => 58,
        Protocol::Icmp => 1,
    };
    // `icmp` (1) is ICMPv4 only; ICMPv6 is protocol 58 (`ipv6-icmp`): neither matches the other
    // address family's pings.
    l4.iter().any(|e| {
        e.proto.is_none_or(|p| p == num)
            && (proto == Protocol::Icmp
                || e.ports.is_empty()
                || e.ports.iter().any(|(a, b)| *a <= port && port <= *b))
    })
}

/// Inside (Yes), overlapping (Partial) or outside (No) the ranges.
fn range_tri(ranges: &[IpNet], peer: &IpNet) -> Tri {
    if ranges.iter().any(|r| r.contains(peer)) {
        Tri::Yes
    } else if ranges
        .iter()
        .any(|r| r.contains(&peer.network()) || peer.contains(&r.network()))
    {
        Tri::Partial
    } else {
        Tri::No(None)
    }
}

fn protocol_label(q: &Query) -> String {
    match q.protocol {
        Protocol::Icmp => "icmp".into(),
        p => format!("{p}/{}", q.port),
    }
}

impl Estate {
    pub(crate) fn instance_label(&self, at: (usize, usize)) -> String {
        let i = &self.instances[at.0];
        match i.nics.get(at.1).and_then(|n| n.ip) {
            Some(ip) => format!("{} ({ip})", i.name),
            None => i.name.clone(),
        }
    }

    fn searched(&self) -> String {
        if self.sources.is_empty() {
            "no GCP exports were given".into()
        } else {
            format!("searched: {}", self.sources.join("; "))
        }
    }

    fn resolve(&self, e: &EndpointRef, flag: &str) -> Result<Ep, String> {
        let ep = |net: IpNet, at: Option<(usize, usize)>| Ep {
            net,
            at,
            maybe_instance: at.is_none() && !is_public(net.addr()),
            label: String::new(),
            external: false,
        };
        let mut out = match e {
            EndpointRef::Id(id) => {
                let idx = self
                    .by_name
                    .get(id.as_str())
                    .or_else(|| self.by_name.get(crate::json::last_segment(id)))
                    .copied()
                    .ok_or_else(|| {
                        format!(
                            "{flag} {id}: no Compute Engine instance has that name, id or self link ({}); export it with gcloud compute instances list --format=json",
                            self.searched()
                        )
                    })?;
                let inst = &self.instances[idx];
                let nic = inst
                    .nics
                    .first()
                    .and_then(|n| n.ip.or(n.ipv6.first().copied()));
                let Some(ip) = nic else {
                    return Err(format!(
                        "{flag} {id}: instance {} has no network interface address in the export",
                        inst.name
                    ));
                };
                ep(IpNet::from(ip), Some((idx, 0)))
            }
            EndpointRef::Ip(ip) => {
                let at = self.by_ip.get(ip).or_else(|| self.by_nat.get(ip)).copied();
                match at {
                    // An external address is translated to the interface's internal address
                    // before the firewall sees it.
                    Some((i, n)) => {
                        let nic = &self.instances[i].nics[n];
                        let external = !self.by_ip.contains_key(ip);
                        // As a destination, the firewall sees the internal address; as a source
                        // the packet carries the external one.
                        let seen = match (external, flag) {
                            (true, "--to") => nic.ip.unwrap_or(*ip),
                            _ => *ip,
                        };
                        let mut e = ep(IpNet::from(seen), Some((i, n)));
                        e.external = external;
                        e
                    }
                    // An address of an alias IP range is the instance's (its ingress rules
                    // protect it), but not its primary address.
                    None => match self.alias_of(*ip) {
                        Some(at) => {
                            let mut e = ep(IpNet::from(*ip), Some(at));
                            e.maybe_instance = false;
                            e
                        }
                        None => ep(IpNet::from(*ip), None),
                    },
                }
            }
            EndpointRef::Cidr(net) => ep(*net, None),
        };
        out.label = match out.at {
            Some(at) if self.is_alias(at, out.net.addr()) => format!(
                "{} (alias IP {})",
                self.instances[at.0].name,
                out.net.addr()
            ),
            Some(at) => self.instance_label(at),
            None => e.to_string(),
        };
        Ok(out)
    }

    /// The source of a connection to an external address, as the destination sees it: the
    /// source interface's own external address (tags and service accounts do not match it), or
    /// unknown when it has none (Cloud NAT chooses it).
    fn external_source(&self, s: (usize, usize), src: &Ep) -> Result<Ep, Missing> {
        let inst = &self.instances[s.0];
        let v4 = src.net.addr().is_ipv4();
        match inst.nics[s.1]
            .nat_ips
            .iter()
            .find(|ip| ip.is_ipv4() == v4)
        {
            Some(ip) => Ok(Ep {
                net: IpNet::from(*ip),
                at: None,
                maybe_instance: false,
                label: format!("{} (external {ip})", inst.name),
                external: true,
            }),
            None => Err(Missing {
                what: format!(
                    "the external address {} uses to reach an external address (it has no access config: Cloud NAT, if any, picks it)",
                    inst.name
                ),
                export: "gcloud compute routers get-status ROUTER --region=REGION --format=json (natStatus[].autoAllocatedNatIps / userAllocatedNatIps)".into(),
            }),
        }
    }

    /// The interface whose alias IP ranges hold the address.
    fn alias_of(&self, ip: IpAddr) -> Option<(usize, usize)> {
        self.instances.iter().enumerate().find_map(|(i, inst)| {
            inst.nics
                .iter()
                .position(|n| n.alias.iter().any(|r| r.contains(&ip)))
                .map(|n| (i, n))
        })
    }

    /// Is the address one of the interface's alias IPs (not its primary or IPv6 address)?
    fn is_alias(&self, at: (usize, usize), ip: IpAddr) -> bool {
        let nic = &self.instances[at.0].nics[at.1];
        nic.ip != Some(ip) && !nic.ipv6.contains(&ip) && nic.alias.iter().any(|r| r.contains(&ip))
    }

    /// A private destination that is no exported instance but lies inside a VPC network (an
    /// exported subnet range, or a route to a network/peering): an instance the export lacks or
    /// an internal load balancer, whose ingress rules apply.
    fn inside_vpc(&self, src_net: &str, dst: &IpNet) -> bool {
        let overlaps = |r: &IpNet| r.contains(&dst.network()) || dst.contains(&r.network());
        self.subnets.values().flatten().any(overlaps)
            || self.routes.get(src_net).into_iter().flatten().any(|r| {
                matches!(r.next_hop, NextHop::Local(_))
                    && overlaps(&r.dest)
                    && r.dest.prefix_len() > 0
            })
    }

    /// The source as the destination's firewall sees it.
    fn peer_at_dst(&self, src: &Ep, dst_net: &str) -> Ep {
        // Source tags and service accounts match an instance's primary internal IPv4 address;
        // an IPv6 (or external) source is just an address.
        if src.net.addr().is_ipv6() || src.external {
            return Ep {
                at: None,
                maybe_instance: false,
                ..src.clone()
            };
        }
        if let Some((si, sn)) = src.at {
            let inst = &self.instances[si];
            // An alias IP is just an address to the destination's rules.
            if self.is_alias((si, sn), src.net.addr()) {
                return Ep {
                    at: None,
                    maybe_instance: false,
                    ..src.clone()
                };
            }
            if let Some(k) = inst.nics.iter().position(|n| n.network == dst_net) {
                if let Some(ip) = inst.nics[k].ip {
                    return Ep {
                        net: IpNet::from(ip),
                        at: Some((si, k)),
                        maybe_instance: false,
                        label: self.instance_label((si, k)),
                        external: false,
                    };
                }
            }
            return Ep {
                at: None,
                maybe_instance: false,
                ..src.clone()
            };
        }
        src.clone()
    }

    fn rule_match(&self, r: &Rule, c: &Ctx<'_>) -> Tri {
        if r.direction != c.dir
            || (!r.network.is_empty() && r.network != c.nic.network)
            || (!r.target_networks.is_empty() && !r.target_networks.contains(&c.nic.network))
            || !l4_matches(&r.l4, c.proto, c.port, c.local_ip.is_ipv6())
        {
            return Tri::No(None);
        }
        if !r.unsupported.is_empty() {
            return Tri::Unknown(r.unsupported.clone());
        }
        let mut fails: Vec<String> = Vec::new();
        let mut unknown: Vec<Missing> = Vec::new();
        let mut partial = false;
        let describe_inst = |i: &Instance| Missing {
            what: format!("network tags and service account of instance {}", i.name),
            export: format!(
                "gcloud compute instances describe {} --zone={} --format=json",
                i.name,
                if i.zone.is_empty() { "ZONE" } else { &i.zone }
            ),
        };
        // Target.
        if !r.target_tags.is_empty() {
            if !c.inst.tags_known {
                unknown.push(describe_inst(c.inst));
            } else if !r.target_tags.iter().any(|t| c.inst.tags.contains(t)) {
                fails.push(format!(
                    "it targets tags [{}] and {} carries [{}]",
                    list(&r.target_tags),
                    c.inst.name,
                    list(&c.inst.tags)
                ));
            }
        }
        if !r.target_sas.is_empty() {
            if !c.inst.sas_known {
                unknown.push(describe_inst(c.inst));
            } else if !r.target_sas.iter().any(|t| c.inst.sas.contains(t)) {
                fails.push(format!(
                    "it targets service accounts [{}] and {} runs as [{}]",
                    list(&r.target_sas),
                    c.inst.name,
                    list(&c.inst.sas)
                ));
            }
        }
        // The instance's own address (ingress destination ranges, egress source ranges).
        let (peer_ranges, local_filter, local_key) = match c.dir {
            Direction::Ingress => (&r.src_ranges, &r.dst_ranges, "destination"),
            Direction::Egress => (&r.dst_ranges, &r.src_ranges, "source"),
        };
        if !local_filter.is_empty() && !local_filter.iter().any(|n| n.contains(&c.local_ip)) {
            fails.push(format!(
                "its {local_key} ranges [{}] do not include {}",
                nets(local_filter),
                c.local_ip
            ));
        }
        // The peer.
        let mut peer = range_tri(peer_ranges, &c.peer.net);
        if c.dir == Direction::Ingress
            && !matches!(peer, Tri::Yes)
            && (!r.src_tags.is_empty() || !r.src_sas.is_empty())
        {
            match c.peer_inst {
                Some(pi) => {
                    let tags =
                        !r.src_tags.is_empty() && r.src_tags.iter().any(|t| pi.tags.contains(t));
                    let sas = !r.src_sas.is_empty() && r.src_sas.iter().any(|t| pi.sas.contains(t));
                    if tags || sas {
                        peer = Tri::Yes;
                    } else if (!r.src_tags.is_empty() && !pi.tags_known)
                        || (!r.src_sas.is_empty() && !pi.sas_known)
                    {
                        unknown.push(describe_inst(pi));
                        peer = Tri::Unknown(Vec::new());
                    }
                }
                None if c.peer.maybe_instance => {
                    unknown.push(Missing {
                        what: format!(
                            "whether {} is an instance with the source tags or service accounts of rule {}",
                            display_net(&c.peer.net), r.name
                        ),
                        export: "gcloud compute instances list --format=json".into(),
                    });
                    peer = Tri::Unknown(Vec::new());
                }
                None => {}
            }
        }
        match peer {
            Tri::Yes | Tri::Unknown(_) => {}
            Tri::Partial => partial = true,
            Tri::No(_) => {
                let mut what = Vec::new();
                if !peer_ranges.is_empty() {
                    what.push(format!(
                        "its {} ranges [{}]",
                        if c.dir == Direction::Ingress {
                            "source"
                        } else {
                            "destination"
                        },
                        nets(peer_ranges)
                    ));
                }
                if !r.src_tags.is_empty() && c.dir == Direction::Ingress {
                    what.push(format!("source tags [{}]", list(&r.src_tags)));
                }
                if !r.src_sas.is_empty() && c.dir == Direction::Ingress {
                    what.push(format!("source service accounts [{}]", list(&r.src_sas)));
                }
                fails.push(format!(
                    "{} do not match {}",
                    what.join(" and "),
                    c.peer.label
                ));
            }
        }
        if !fails.is_empty() {
            return Tri::No((fails.len() == 1).then(|| fails.remove(0)));
        }
        if !unknown.is_empty() {
            return Tri::Unknown(unknown);
        }
        if partial {
            Tri::Partial
        } else {
            Tri::Yes
        }
    }

    fn walk<'r>(&self, rules: &'r [Rule], c: &Ctx<'_>) -> Walk<'r> {
        let mut w = Walk {
            hit: None,
            pending: Vec::new(),
            would: None,
        };
        let mut near: Option<RuleRef> = None;
        for r in rules {
            let t = self.rule_match(r, c);
            if r.disabled {
                if r.action == Action::Allow && matches!(t, Tri::Yes) && w.would.is_none() {
                    w.would = Some(RuleRef {
                        resource: r.name.clone(),
                        rule: format!("{}: would allow the flow but is disabled", describe_rule(r)),
                    });
                }
                continue;
            }
            match t {
                Tri::Yes => {
                    w.hit = Some(r);
                    break;
                }
                // A range only partly inside a deny is (partly) denied; partly inside an allow
                // is not allowed as a whole.
                Tri::Partial if r.action == Action::Deny => {
                    w.hit = Some(r);
                    break;
                }
                Tri::Partial => {}
                Tri::Unknown(m) => w.pending.push((r.action, m)),
                Tri::No(Some(why)) if r.action == Action::Allow && near.is_none() => {
                    near = Some(RuleRef {
                        resource: r.name.clone(),
                        rule: format!("{}: does not apply because {why}", describe_rule(r)),
                    });
                }
                Tri::No(_) => {}
            }
        }
        if w.would.is_none() {
            w.would = near;
        }
        w
    }

    /// Is this hierarchical policy evaluated for the interface's network? A policy from a
    /// `get-effective-firewalls` export applies to the network it was exported for; where such
    /// an export exists, it is the whole list, so other exports' policies are not consulted.
    fn applies_here(&self, p: &Policy, c: &Ctx<'_>) -> bool {
        match (&p.effective, &p.scope) {
            (true, Some(n)) => *n == c.nic.network,
            (true, None) => true,
            (false, _) => !self.effective_networks.contains(&c.nic.network),
        }
    }

    /// Folder policies are taken in export order, but the exports do not say which folder is
    /// above which: when another folder's policy would decide this flow the other way, the
    /// answer depends on that order. (A `get-effective-firewalls` export lists them in
    /// evaluation order: no conflict there.)
    fn folder_conflict(&self, p: &super::Policy, action: Action, c: &Ctx<'_>) -> Option<Missing> {
        let folder = |q: &super::Policy| q.attached.iter().any(|a| a.starts_with("folders/"));
        if action == Action::GotoNext || !folder(p) || p.effective {
            return None;
        }
        let other = self.hierarchical.iter().find(|q| {
            folder(q)
                && self.applies_here(q, c)
                && q.attached != p.attached
                && self
                    .walk(&q.rules, c)
                    .hit
                    .is_some_and(|r| r.action != Action::GotoNext && r.action != action)
        })?;
        Some(Missing {
            what: format!(
                "which of {} and {} is higher in the project's folder chain (their policies {} and {} decide this flow differently)",
                list(&p.attached),
                list(&other.attached),
                p.label,
                other.label
            ),
            // The effective export lists the chain in evaluation order, and netdiag reads it.
            export: format!(
                "gcloud compute networks get-effective-firewalls {} --format=json",
                c.nic.network
            ),
        })
    }

    fn firewall_leg(&self, lc: &LegCtx, q: &Query, steps: &mut Vec<Step>) -> Leg {
        let inst = &self.instances[lc.local.0];
        let nic = &inst.nics[lc.local.1];
        let local_ip = lc.local_ip;
        let peer_inst = match (lc.dir, lc.peer.at) {
            (Direction::Ingress, Some((pi, pn))) => {
                let p = &self.instances[pi];
                let pnic = &p.nics[pn];
                (pnic.network == nic.network && pnic.ip == Some(lc.peer.net.addr())).then_some(p)
            }
            _ => None,
        };
        let c = Ctx {
            dir: lc.dir,
            inst,
            nic,
            local_ip,
            peer: &lc.peer,
            peer_inst,
            proto: q.protocol,
            port: q.port,
        };
        let (side, layer, verb) = match lc.dir {
            Direction::Ingress => (Side::DestinationIngress, CloudLayer::Firewall, "from"),
            Direction::Egress => (Side::SourceEgress, CloudLayer::FirewallEgress, "to"),
        };
        let test = format!(
            "{} {} {verb} {} at {}",
            lc.dir.gcloud().to_ascii_lowercase(),
            protocol_label(q),
            lc.peer.label,
            self.instance_label(lc.local)
        );
        let mut fw = FwLeg {
            lc,
            side,
            layer,
            test,
            pending: Vec::new(),
            would: None,
            steps,
        };
        // 1. Hierarchical policies.
        if let Some(leg) = self.hierarchical_layers(&c, &mut fw) {
            return leg;
        }
        // 2. Network firewall policy and VPC rules, in the network's enforcement order.
        if let Some(leg) = self.network_layers(nic, &c, &mut fw) {
            return leg;
        }
        // 3. Implied rules.
        fw.implied()
    }

    /// The hierarchical policies, organization first: `Some` when one decides (or cannot be
    /// read), `None` when evaluation continues at the network level.
    fn hierarchical_layers(&self, c: &Ctx<'_>, fw: &mut FwLeg<'_>) -> Option<Leg> {
        for p in self.hierarchical.iter().filter(|p| self.applies_here(p, c)) {
            let res = format!("firewall-policy {} ({})", p.label, list(&p.attached));
            if p.attached.is_empty() {
                fw.step(
                    CloudLayer::HierarchicalPolicy,
                    &res,
                    StepResult::Skip,
                    None,
                    vec!["not associated with any organization or folder".into()],
                );
                continue;
            }
            if !p.rules_exported {
                fw.step(
                    CloudLayer::HierarchicalPolicy,
                    &res,
                    StepResult::Unknown,
                    None,
                    vec![],
                );
                return Some(Leg::Unknown(vec![Missing {
                    what: format!(
                        "rules of hierarchical firewall policy {} ({})",
                        p.label,
                        list(&p.attached)
                    ),
                    export: format!(
                        "gcloud compute firewall-policies describe {} --format=json",
                        p.name
                    ),
                }]));
            }
            let w = self.walk(&p.rules, c);
            fw.absorb(w.pending, w.would);
            if let Some(m) = w.hit.and_then(|r| self.folder_conflict(p, r.action, c)) {
                fw.step(
                    CloudLayer::HierarchicalPolicy,
                    &res,
                    StepResult::Unknown,
                    None,
                    vec![m.what.clone()],
                );
                return Some(Leg::Unknown(vec![m]));
            }
            match w.hit {
                Some(r) if r.action == Action::Allow => {
                    fw.step(
                        CloudLayer::HierarchicalPolicy,
                        &res,
                        StepResult::Allow,
                        Some(describe_rule(r)),
                        vec![],
                    );
                    return Some(fw.settle(Leg::Allow, Action::Allow));
                }
                Some(r) if r.action == Action::Deny => {
                    fw.step(
                        CloudLayer::HierarchicalPolicy,
                        &res,
                        StepResult::Deny,
                        Some(describe_rule(r)),
                        vec![],
                    );
                    let leg = fw.block(
                        CloudLayer::HierarchicalPolicy,
                        Cause::CloudDenyRule,
                        &r.name,
                        describe_rule(r),
                        BlockKind::Hier {
                            policy: p.label.clone(),
                            attached: p.attached.clone(),
                            system: p.system,
                            id: p.name.clone(),
                            priority: r.priority,
                        },
                    );
                    return Some(fw.settle(leg, Action::Deny));
                }
                Some(r) => fw.step(
                    CloudLayer::HierarchicalPolicy,
                    &res,
                    StepResult::Skip,
                    Some(describe_rule(r)),
                    vec!["goto_next: evaluation continues at the next level".into()],
                ),
                None => fw.step(
                    CloudLayer::HierarchicalPolicy,
                    &res,
                    StepResult::Skip,
                    None,
                    vec!["no rule matches; evaluation continues at the next level".into()],
                ),
            }
        }
        None
    }

    /// The network firewall policy and the VPC rules, in the network's enforcement order:
    /// `Some` when one decides (or cannot be read), `None` when the implied rules decide.
    fn network_layers(&self, nic: &Nic, c: &Ctx<'_>, fw: &mut FwLeg<'_>) -> Option<Leg> {
        let net = self.networks.get(&nic.network);
        let referenced = net.and_then(|n| n.firewall_policy.clone());
        let policy = referenced
            .as_ref()
            .and_then(|name| self.network_policies.get(name))
            .or_else(|| {
                self.network_policies
                    .values()
                    .find(|p| !p.regional && p.networks.contains(&nic.network))
            });
        if let Some(name) = referenced.as_ref().or(policy.map(|p| &p.name)) {
            if policy.is_none_or(|p| !p.rules_exported) {
                fw.step(
                    CloudLayer::HierarchicalPolicy,
                    name,
                    StepResult::Unknown,
                    None,
                    vec![],
                );
                return Some(Leg::Unknown(vec![Missing {
                    what: format!("network firewall policy {name} associated with network {}", nic.network),
                    export: format!("gcloud compute network-firewall-policies describe {name} --global --format=json"),
                }]));
            }
        }
        let policy_first = net.is_some_and(|n| n.policy_first);
        // The global network policy, then the regional ones (from a regional
        // get-effective-firewalls export), as one layer in the enforcement order.
        let mut policies: Vec<&Policy> = policy.into_iter().collect();
        let mut regional: Vec<&Policy> = self
            .network_policies
            .values()
            .filter(|p| p.regional && p.networks.contains(&nic.network))
            .collect();
        regional.sort_by(|a, b| a.name.cmp(&b.name));
        policies.extend(regional);
        let order: [bool; 2] = if policy_first {
            [true, false]
        } else {
            [false, true]
        };
        for is_policy in order {
            if is_policy {
                for p in &policies {
                    let decided = self.network_policy_layer(p, policy_first, c, fw);
                    if decided.is_some() {
                        return decided;
                    }
                }
            } else if let Some(leg) = self.vpc_rules_layer(nic, c, fw) {
                return Some(leg);
            }
        }
        None
    }

    fn network_policy_layer(
        &self,
        p: &Policy,
        policy_first: bool,
        c: &Ctx<'_>,
        fw: &mut FwLeg<'_>,
    ) -> Option<Leg> {
        let res = format!("network-firewall-policy {}", p.label);
        let w = self.walk(&p.rules, c);
        fw.absorb(w.pending, w.would);
        match w.hit {
            Some(r) if r.action == Action::Allow => {
                fw.step(
                    CloudLayer::HierarchicalPolicy,
                    &res,
                    StepResult::Allow,
                    Some(describe_rule(r)),
                    vec![],
                );
                Some(fw.settle(Leg::Allow, Action::Allow))
            }
            Some(r) if r.action == Action::Deny => {
                fw.step(
                    CloudLayer::HierarchicalPolicy,
                    &res,
                    StepResult::Deny,
                    Some(describe_rule(r)),
                    vec![],
                );
                let leg = fw.block(
                    CloudLayer::HierarchicalPolicy,
                    Cause::CloudDenyRule,
                    &r.name,
                    describe_rule(r),
                    BlockKind::NetPolicy {
                        policy: p.name.clone(),
                        priority: r.priority,
                        first: policy_first,
                    },
                );
                Some(fw.settle(leg, Action::Deny))
            }
            _ => {
                fw.step(
                    CloudLayer::HierarchicalPolicy,
                    &res,
                    StepResult::Skip,
                    None,
                    vec!["no allow or deny rule matches".into()],
                );
                None
            }
        }
    }

    fn vpc_rules_layer(&self, nic: &Nic, c: &Ctx<'_>, fw: &mut FwLeg<'_>) -> Option<Leg> {
        let layer = fw.layer;
        let res = format!("network {} firewall rules", nic.network);
        if !self.firewalls_exported {
            fw.step(layer, &res, StepResult::Unknown, None, vec![]);
            return Some(Leg::Unknown(vec![Missing {
                what: format!("VPC firewall rules of network {}", nic.network),
                export: format!(
                    "gcloud compute firewall-rules list --filter=\"network:{}\" --format=json",
                    nic.network
                ),
            }]));
        }
        let rules = self
            .rules
            .get(&nic.network)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let w = self.walk(rules, c);
        fw.absorb(w.pending, w.would);
        match w.hit {
            Some(r) if r.action == Action::Allow => {
                fw.step(
                    layer,
                    &r.name,
                    StepResult::Allow,
                    Some(describe_rule(r)),
                    vec![],
                );
                Some(fw.settle(Leg::Allow, Action::Allow))
            }
            Some(r) => {
                fw.step(
                    layer,
                    &r.name,
                    StepResult::Deny,
                    Some(describe_rule(r)),
                    vec![],
                );
                let leg = fw.block(
                    layer,
                    Cause::CloudDenyRule,
                    &r.name,
                    describe_rule(r),
                    BlockKind::Vpc {
                        priority: r.priority,
                    },
                );
                Some(fw.settle(leg, Action::Deny))
            }
            None => {
                fw.step(
                    layer,
                    &res,
                    StepResult::Skip,
                    None,
                    vec!["no enabled rule matches".into()],
                );
                None
            }
        }
    }

    /// The route of network `net` that `inst` uses for `dst`: longest prefix, then lowest priority value.
    fn best_route(&self, net: &str, inst: &Instance, dst: &IpNet) -> Option<&Route> {
        self.routes
            .get(net)
            .into_iter()
            .flatten()
            .filter(|r| r.tags.is_empty() || r.tags.iter().any(|t| inst.tags.contains(t)))
            .filter(|r| r.dest.contains(dst))
            .max_by_key(|r| (r.dest.prefix_len(), std::cmp::Reverse(r.priority)))
    }

    fn route_leg(&self, src: (usize, usize), dst: &Ep, steps: &mut Vec<Step>) -> Leg {
        let inst = &self.instances[src.0];
        let net = &inst.nics[src.1].network;
        let test = format!("route from network {net} to {}", dst.label);
        let step = |resource: String, result, rule: Option<String>, evidence: Vec<String>| Step {
            layer: CloudLayer::Route,
            side: Side::Path,
            resource,
            test: test.clone(),
            result,
            rule,
            evidence,
        };
        let lc = LegCtx {
            dir: Direction::Egress,
            local: src,
            local_ip: self.instances[src.0].nics[src.1]
                .ip
                .unwrap_or(dst.net.addr()),
            peer: dst.clone(),
        };
        let blocked = |resource: String, rule: String, kind| {
            Leg::Deny(Box::new(Block {
                layer: CloudLayer::Route,
                cause: Cause::CloudNoRoute,
                side: Side::Path,
                rule: RuleRef { resource, rule },
                kind,
                would_allow: None,
                leg: lc.clone(),
            }))
        };
        if let Some((di, dn)) = dst.at {
            let dnet = &self.instances[di].nics[dn].network;
            if dnet == net {
                steps.push(step(
                    format!("network {net}"),
                    StepResult::Allow,
                    Some("subnet routes (system-generated, cannot be removed)".into()),
                    vec![],
                ));
                return Leg::Allow;
            }
            return match self.networks.get(net) {
                Some(n) if n.active_peers.contains(dnet) => {
                    steps.push(step(
                        format!("network {net}"),
                        StepResult::Allow,
                        Some(format!("peering to {dnet} is ACTIVE")),
                        vec![],
                    ));
                    Leg::Allow
                }
                Some(n) => {
                    let why = match n.inactive_peers.iter().find(|(p, _)| p == dnet) {
                        Some((_, state)) => format!("peering to {dnet} is {state}"),
                        None => format!("network {net} has no peering to {dnet}"),
                    };
                    steps.push(step(
                        format!("network {net}"),
                        StepResult::Deny,
                        Some(why.clone()),
                        vec![],
                    ));
                    blocked(
                        format!("network {net}"),
                        why.clone(),
                        BlockKind::NotPeered(why),
                    )
                }
                None => {
                    steps.push(step(
                        format!("network {net}"),
                        StepResult::Unknown,
                        None,
                        vec![],
                    ));
                    Leg::Unknown(vec![Missing {
                        what: format!(
                            "peerings of network {net} (the destination is in network {dnet})"
                        ),
                        export: format!("gcloud compute networks describe {net} --format=json"),
                    }])
                }
            };
        }
        if !self.routes_exported {
            if self
                .subnets
                .get(net)
                .is_some_and(|s| s.iter().any(|r| r.contains(&dst.net)))
            {
                steps.push(step(
                    format!("network {net}"),
                    StepResult::Allow,
                    Some("subnet route".into()),
                    vec![],
                ));
                return Leg::Allow;
            }
            steps.push(step(
                format!("network {net}"),
                StepResult::Unknown,
                None,
                vec![],
            ));
            return Leg::Unknown(vec![Missing {
                what: format!("routes of network {net}"),
                export: format!(
                    "gcloud compute routes list --filter=\"network:{net}\" --format=json"
                ),
            }]);
        }
        match self.best_route(net, inst, &dst.net) {
            Some(r) => {
                let hop = match &r.next_hop {
                    NextHop::Gateway(g) => format!("next hop gateway {g}"),
                    NextHop::Local(l) => format!("next hop {l}"),
                    NextHop::Other(o) => o.clone(),
                };
                steps.push(step(
                    r.name.clone(),
                    StepResult::Allow,
                    Some(format!("{} priority {} {hop}", r.dest, r.priority)),
                    vec![],
                ));
                Leg::Allow
            }
            None => {
                let rule = format!("no route in network {net} covers {}", dst.net);
                steps.push(step(
                    format!("network {net}"),
                    StepResult::Deny,
                    Some(rule.clone()),
                    vec![],
                ));
                blocked(
                    format!("network {net}"),
                    rule,
                    BlockKind::NoRoute {
                        network: net.clone(),
                    },
                )
            }
        }
    }

    pub(crate) fn run(&self, q: &Query) -> Result<(Evaluation, Vec<fix::FixChange>), String> {
        let src = self.resolve(&q.src, "--from")?;
        let dst = self.resolve(&q.dst, "--to")?;
        if src.at.is_none() && dst.at.is_none() {
            return Err(format!(
                "neither {} nor {} is a Compute Engine instance address or name in the exports ({}); give at least one instance (its name or an address from networkInterfaces[].networkIP/accessConfigs[].natIP)",
                q.src, q.dst, self.searched()
            ));
        }
        if src.net.addr().is_ipv4() != dst.net.addr().is_ipv4() {
            return Err(format!(
                "{} and {} are not the same address family",
                q.src, q.dst
            ));
        }
        let mut flow = json!({
            "src": q.src.to_string(), "dst": q.dst.to_string(),
            "port": q.port, "protocol": q.protocol,
            "src_resolved": self.ep_json(&src), "dst_resolved": self.ep_json(&dst),
        });
        let mut steps = Vec::new();
        if dst.net == IpNet::from(METADATA) || src.net == IpNet::from(METADATA) {
            steps.push(Step {
                layer: CloudLayer::Platform,
                side: Side::Path,
                resource: "metadata server".into(),
                test: format!("{} {} ↔ 169.254.169.254", protocol_label(q), src.label),
                result: StepResult::Allow,
                rule: Some("traffic to and from the metadata server is always allowed".into()),
                evidence: vec![],
            });
            let v = Verdict::allowed("the metadata server 169.254.169.254 is always reachable from instances; firewall rules do not apply");
            return Ok((
                Evaluation {
                    flow,
                    path: steps,
                    verdict: v,
                },
                Vec::new(),
            ));
        }
        let mut legs: Vec<Leg> = Vec::new();
        // The destination named by its external address: the packet leaves the VPC. The
        // source's egress rules and routes see that external address; the destination's ingress
        // rules see the source's external address (below).
        let dst_out = match (&q.dst, dst.external) {
            (EndpointRef::Ip(ip), true) => Ep {
                net: IpNet::from(*ip),
                at: None,
                maybe_instance: false,
                label: format!("{} (external {ip})", dst.label),
                external: true,
            },
            _ => dst.clone(),
        };
        if let Some(s) = src.at {
            // Egress rules see the interface's own address, also when the user named the
            // instance by its external address.
            let src_ip = if src.external {
                self.instances[s.0].nics[s.1].ip.unwrap_or(src.net.addr())
            } else {
                src.net.addr()
            };
            let lc = LegCtx {
                dir: Direction::Egress,
                local: s,
                local_ip: src_ip,
                peer: dst_out.clone(),
            };
            legs.push(self.firewall_leg(&lc, q, &mut steps));
            let external = (dst.at.is_none() && is_public(dst.net.addr())) || dst.external;
            if q.protocol == Protocol::Tcp && q.port == 25 && external {
                legs.push(smtp_blocked(lc.clone(), &dst.label, &mut steps));
            }
            legs.push(self.route_leg(s, &dst_out, &mut steps));
        }
        if let Some(d) = dst.at {
            let dnet = self.instances[d.0].nics[d.1].network.clone();
            let peer = match src.at {
                Some(s) if dst.external && !src.external => self.external_source(s, &src),
                _ => Ok(self.peer_at_dst(&src, &dnet)),
            };
            match peer {
                Ok(peer) => {
                    let lc = LegCtx {
                        dir: Direction::Ingress,
                        local: d,
                        local_ip: dst.net.addr(),
                        peer,
                    };
                    legs.push(self.firewall_leg(&lc, q, &mut steps));
                }
                Err(m) => {
                    steps.push(Step {
                        layer: CloudLayer::Firewall,
                        side: Side::DestinationIngress,
                        resource: dst.label.clone(),
                        test: format!("ingress {} from {}", protocol_label(q), src.label),
                        result: StepResult::Unknown,
                        rule: None,
                        evidence: vec![m.what.clone()],
                    });
                    legs.push(Leg::Unknown(vec![m]));
                }
            }
        } else if let Some(s) = src.at.filter(|_| dst.maybe_instance) {
            let snet = self.instances[s.0].nics[s.1].network.clone();
            if self.inside_vpc(&snet, &dst.net) {
                let what = format!(
                    "ingress firewall at {}: it is inside the VPC's ranges but no exported instance has that address (an instance missing from the export, or an internal load balancer's backends)",
                    dst.label
                );
                steps.push(Step {
                    layer: CloudLayer::Firewall,
                    side: Side::DestinationIngress,
                    resource: dst.label.clone(),
                    test: format!("ingress {} from {}", protocol_label(q), src.label),
                    result: StepResult::Unknown,
                    rule: None,
                    evidence: vec![what.clone()],
                });
                legs.push(Leg::Unknown(vec![Missing {
                    what,
                    export: "gcloud compute instances list --format=json".into(),
                }]));
            }
        }
        let (verdict, changes) = crate::verdict::admitted(self.conclude(q, &src, &dst, legs));
        if let Some(obj) = flow.as_object_mut() {
            obj.insert("model".into(), json!("gcp: hierarchical policies → network policy/VPC rules (enforcement order) → implied rules; egress at source, routes, ingress at destination"));
        }
        Ok((
            Evaluation {
                flow,
                path: steps,
                verdict,
            },
            changes,
        ))
    }

    fn ep_json(&self, e: &Ep) -> serde_json::Value {
        match e.at {
            Some((i, n)) => {
                let inst = &self.instances[i];
                let nic = &inst.nics[n];
                json!({"instance": inst.name, "zone": inst.zone, "ip": e.net.addr().to_string(),
                       "network": nic.network, "subnetwork": nic.subnetwork,
                       "tags": inst.tags, "service_accounts": inst.sas})
            }
            None => json!({"address": e.net.to_string(), "external": is_public(e.net.addr())}),
        }
    }

    fn conclude(
        &self,
        q: &Query,
        src: &Ep,
        dst: &Ep,
        legs: Vec<Leg>,
    ) -> (Verdict, Vec<fix::FixChange>) {
        let mut blocks = Vec::new();
        let mut missing = Vec::new();
        for l in legs {
            match l {
                Leg::Allow => {}
                Leg::Deny(b) => blocks.push(*b),
                Leg::Unknown(m) => missing.extend(m),
            }
        }
        let flow = format!("{} from {} to {}", protocol_label(q), src.label, dst.label);
        conclude_blocks(
            &flow,
            &blocks,
            missing,
            ConcludeText {
                allowed: format!("{flow} is allowed"),
                several_blocks: None,
                undecided: "layers",
            },
            |b: &Block| BlockFacts {
                layer: b.layer,
                cause: b.cause,
                side: b.side,
                rule: &b.rule,
                would_allow: b.would_allow.as_ref(),
            },
            |b| fix::for_block(self, b, q),
        )
    }
}

/// The platform's block of egress to TCP port 25 on external addresses, as a step and a leg.
fn smtp_blocked(leg: LegCtx, dst_label: &str, steps: &mut Vec<Step>) -> Leg {
    let rule = "egress tcp/25 to external addresses is always blocked".to_string();
    steps.push(Step {
        layer: CloudLayer::Platform,
        side: Side::SourceEgress,
        resource: "google-cloud-platform".into(),
        test: format!("tcp/25 to external {dst_label}"),
        result: StepResult::Deny,
        rule: Some(rule.clone()),
        evidence: vec![],
    });
    Leg::Deny(Box::new(Block {
        layer: CloudLayer::Platform,
        cause: Cause::CloudPlatformBlock,
        side: Side::SourceEgress,
        rule: RuleRef { resource: "google-cloud-platform".into(), rule },
        kind: BlockKind::Platform("Google Cloud blocks egress to TCP port 25 on external addresses for every project; no firewall rule or route lifts it. Send mail through a relay on port 587 or 465 (e.g. Google Workspace SMTP relay or a mail provider); see the Compute Engine documentation \"Sending email from an instance\"".into()),
        would_allow: None,
        leg,
    }))
}

/// A decision stands only if no undecidable rule before it could have decided otherwise.
fn settle(leg: Leg, decided: Action, pending: Vec<(Action, Vec<Missing>)>) -> Leg {
    let conflicting: Vec<Missing> = pending
        .into_iter()
        .filter(|(a, _)| *a != decided)
        .flat_map(|(_, m)| m)
        .collect();
    if conflicting.is_empty() {
        leg
    } else {
        let mut out: Vec<Missing> = Vec::new();
        for m in conflicting {
            if !out.contains(&m) {
                out.push(m);
            }
        }
        Leg::Unknown(out)
    }
}
