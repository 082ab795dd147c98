//! The decision for one flow: every NSG on the path, in Azure's order (outbound: source NIC's
//! NSG, then its subnet's; inbound: destination subnet's NSG, then its NIC's), each deciding by
//! its first matching rule. Every NSG is evaluated even after one blocks, because the fix must
//! open all of them. Pure: the estate in, steps and a verdict out.

use super::fix::{self, FixChange};
use super::model::{Block, Ep};
use super::{Addr, Direction, Estate, Rule};
use crate::flow::{display_net, EndpointRef, Protocol, Query};
use crate::json::{is_public, last_segment};
use crate::verdict::{
    conclude_blocks, BlockFacts, Cause, CloudLayer, ConcludeText, Evaluation, Missing, RuleRef,
    Side, Step, StepResult, Verdict,
};
use ipnet::IpNet;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};

/// `AzureLoadBalancer`: the platform's health-probe source.
const AZURE_LB: IpAddr = IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16));

enum Outcome {
    Allow,
    Deny(Box<Block>),
    Unknown(Vec<Missing>),
}

enum Tri {
    Yes,
    Partial,
    No(Option<String>),
    Unknown(Vec<Missing>),
}

/// The `VirtualNetwork` service tag as seen from one NIC.
struct Space {
    nets: Vec<IpNet>,
    peerings_known: bool,
    gateway: bool,
    vnet_id: String,
}

struct Ctx<'a> {
    dir: Direction,
    local: &'a Ep,
    peer: &'a Ep,
    space: Option<Space>,
    /// The local subnet's prefixes: inside `VirtualNetwork` even when the VNet is not exported.
    subnet_prefixes: Vec<IpNet>,
    /// Where to export the VNet when it is missing.
    vnet_export: String,
    nic_id: String,
    proto: Protocol,
    port: u16,
}

pub(crate) fn defaults(dir: Direction) -> Vec<Rule> {
    let rule = |name: &str, priority, allow, src: Addr, dst: Addr| Rule {
        name: name.to_string(),
        priority,
        direction: dir,
        allow,
        protocol: None,
        src: vec![src],
        dst: vec![dst],
        src_asgs: Vec::new(),
        dst_asgs: Vec::new(),
        src_ports: Vec::new(),
        dst_ports: Vec::new(),
        default: true,
    };
    match dir {
        Direction::Inbound => vec![
            rule(
                "AllowVnetInBound",
                65000,
                true,
                Addr::VirtualNetwork,
                Addr::VirtualNetwork,
            ),
            rule(
                "AllowAzureLoadBalancerInBound",
                65001,
                true,
                Addr::AzureLoadBalancer,
                Addr::Any,
            ),
            rule("DenyAllInBound", 65500, false, Addr::Any, Addr::Any),
        ],
        Direction::Outbound => vec![
            rule(
                "AllowVnetOutBound",
                65000,
                true,
                Addr::VirtualNetwork,
                Addr::VirtualNetwork,
            ),
            rule(
                "AllowInternetOutBound",
                65001,
                true,
                Addr::Any,
                Addr::Internet,
            ),
            rule("DenyAllOutBound", 65500, false, Addr::Any, Addr::Any),
        ],
    }
}

fn addr_text(a: &Addr) -> String {
    match a {
        Addr::Any => "*".into(),
        Addr::Net(n) => n.to_string(),
        Addr::VirtualNetwork => "VirtualNetwork".into(),
        Addr::Internet => "Internet".into(),
        Addr::AzureLoadBalancer => "AzureLoadBalancer".into(),
        Addr::Tag(t) => t.clone(),
    }
}

fn ports_text(p: &[(u16, u16)]) -> String {
    if p.is_empty() {
        return "*".into();
    }
    p.iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn protocol_name(p: Option<u8>) -> String {
    match p {
        None => "*".into(),
        Some(6) => "Tcp".into(),
        Some(17) => "Udp".into(),
        Some(1) => "Icmp".into(),
        Some(50) => "Esp".into(),
        Some(51) => "Ah".into(),
        Some(n) => n.to_string(),
    }
}

impl Estate {
    fn asg_label(&self, id: &str) -> String {
        self.asg_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| last_segment(id).to_string())
    }

    pub(crate) fn describe_rule(&self, r: &Rule) -> String {
        let side = |addrs: &[Addr], asgs: &[String]| {
            let mut v: Vec<String> = addrs.iter().map(addr_text).collect();
            v.extend(asgs.iter().map(|a| format!("asg:{}", self.asg_label(a))));
            v.join(",")
        };
        format!(
            "priority {} {} {} {} from {} (ports {}) to {} ports {}{}",
            r.priority,
            r.direction.az(),
            if r.allow { "Allow" } else { "Deny" },
            protocol_name(r.protocol),
            side(&r.src, &r.src_asgs),
            ports_text(&r.src_ports),
            side(&r.dst, &r.dst_asgs),
            ports_text(&r.dst_ports),
            if r.default { " (default rule)" } else { "" }
        )
    }

    fn searched(&self) -> String {
        if self.sources.is_empty() {
            "no Azure exports were given".into()
        } else {
            format!("searched: {}", self.sources.join("; "))
        }
    }

    fn nic_label(&self, at: (usize, usize)) -> String {
        let nic = &self.nics[at.0];
        match nic.ipconfigs.get(at.1).and_then(|c| c.ip) {
            Some(ip) => format!("{} ({ip})", nic.name),
            None => nic.name.clone(),
        }
    }

    fn resolve(&self, e: &EndpointRef, flag: &str) -> Result<Ep, String> {
        let mut ep = match e {
            EndpointRef::Id(id) => {
                let key = id.to_ascii_lowercase();
                let found = self
                    .nic_by_key
                    .get(&key)
                    .or_else(|| self.nic_by_key.get(last_segment(&key)));
                let n = match found.map(Vec::as_slice) {
                    Some([one]) => *one,
                    Some([_, ..]) => {
                        return Err(format!(
                            "{flag} {id}: several NICs have that name; give the NIC's full id"
                        ))
                    }
                    _ => {
                        return Err(format!(
                            "{flag} {id}: no NIC has that id or name, and no VM has that id ({}); export it with az network nic list -o json",
                            self.searched()
                        ))
                    }
                };
                let nic = &self.nics[n];
                let Some((i, ip)) = nic
                    .ipconfigs
                    .iter()
                    .enumerate()
                    .find_map(|(i, c)| c.ip.map(|ip| (i, ip)))
                else {
                    return Err(format!(
                        "{flag} {id}: NIC {} has no private IP address in the export",
                        nic.name
                    ));
                };
                Ep {
                    net: IpNet::from(ip),
                    at: Some((n, i)),
                    label: String::new(),
                }
            }
            EndpointRef::Ip(ip) => match self.nic_by_ip.get(ip) {
                Some(&at) => Ep {
                    net: IpNet::from(*ip),
                    at: Some(at),
                    label: String::new(),
                },
                // A public address reaches the NSGs as the NIC's private address.
                None => match self.nic_by_public_ip.get(ip) {
                    Some(&(n, i)) => {
                        let private = self.nics[n].ipconfigs.get(i).and_then(|c| c.ip);
                        Ep {
                            net: IpNet::from(private.unwrap_or(*ip)),
                            at: Some((n, i)),
                            label: String::new(),
                        }
                    }
                    None => Ep {
                        net: IpNet::from(*ip),
                        at: None,
                        label: String::new(),
                    },
                },
            },
            EndpointRef::Cidr(net) => Ep {
                net: *net,
                at: None,
                label: String::new(),
            },
        };
        ep.label = match ep.at {
            Some(at) => self.nic_label(at),
            None => e.to_string(),
        };
        Ok(ep)
    }

    fn vnet_of(&self, at: (usize, usize)) -> Option<usize> {
        let sid = self.nics[at.0].ipconfigs.get(at.1)?.subnet.as_ref()?;
        self.subnets.get(sid)?.vnet
    }

    fn space(&self, at: (usize, usize)) -> Option<Space> {
        let v = &self.vnets[self.vnet_of(at)?];
        Some(Space {
            nets: v.prefixes.iter().chain(&v.peered).copied().collect(),
            peerings_known: v.peerings_exported,
            gateway: v.gateway,
            vnet_id: v.id.to_ascii_lowercase(),
        })
    }

    fn in_vnet(&self, net: &IpNet, c: &Ctx<'_>) -> Tri {
        let Some(space) = &c.space else {
            if c.subnet_prefixes.iter().any(|p| p.contains(net)) {
                return Tri::Yes;
            }
            return Tri::Unknown(vec![Missing {
                what: format!(
                    "address space of the VNet of NIC {} (the VirtualNetwork service tag)",
                    c.nic_id
                ),
                export: c.vnet_export.clone(),
            }]);
        };
        match range_tri(&space.nets, net) {
            Tri::No(_) if !space.peerings_known => Tri::Unknown(vec![Missing {
                what: "peerings of the VNet (their spaces are part of the VirtualNetwork service tag)".into(),
                export: format!("az network vnet show --ids {} -o json", space.vnet_id),
            }]),
            Tri::No(_) if space.gateway && !is_public(net.addr()) => Tri::Unknown(vec![Missing {
                what: format!("prefixes the VNet gateway learns from on-premises (part of the VirtualNetwork service tag; is {net} one?)"),
                export: format!("az network nic show-effective-route-table --ids {} -o json", c.nic_id),
            }]),
            t => t,
        }
    }

    fn addr_tri(&self, a: &Addr, ep: &Ep, c: &Ctx<'_>) -> Tri {
        match a {
            Addr::Any => Tri::Yes,
            Addr::Net(n) => range_tri(std::slice::from_ref(n), &ep.net),
            Addr::VirtualNetwork => self.in_vnet(&ep.net, c),
            Addr::Internet => match self.in_vnet(&ep.net, c) {
                Tri::Yes => Tri::No(None),
                Tri::No(_) => Tri::Yes,
                t => t,
            },
            Addr::AzureLoadBalancer => range_tri(&[IpNet::from(AZURE_LB)], &ep.net),
            // Other service tags hold Microsoft's public prefixes.
            Addr::Tag(t) if is_public(ep.net.addr()) => Tri::Unknown(vec![Missing {
                what: format!("prefixes of service tag {t}"),
                export: "az network list-service-tags --location LOCATION -o json".into(),
            }]),
            Addr::Tag(_) => Tri::No(None),
        }
    }

    fn side_tri(&self, addrs: &[Addr], asgs: &[String], ep: &Ep, c: &Ctx<'_>) -> Tri {
        let mut partial = false;
        let mut unknown = Vec::new();
        for a in addrs {
            match self.addr_tri(a, ep, c) {
                Tri::Yes => return Tri::Yes,
                Tri::Partial => partial = true,
                Tri::Unknown(m) => unknown.extend(m),
                Tri::No(_) => {}
            }
        }
        for g in asgs {
            match ep.at {
                Some((n, i)) if self.nics[n].ipconfigs[i].asgs.contains(g) => return Tri::Yes,
                Some(_) => {}
                None if !is_public(ep.net.addr()) => unknown.push(Missing {
                    what: format!(
                        "whether {} is a NIC in application security group {}",
                        display_net(&ep.net),
                        self.asg_label(g)
                    ),
                    export: "az network nic list -o json".into(),
                }),
                None => {}
            }
        }
        if partial {
            Tri::Partial
        } else if !unknown.is_empty() {
            Tri::Unknown(unknown)
        } else {
            Tri::No(None)
        }
    }

    fn rule_match(&self, r: &Rule, c: &Ctx<'_>) -> Tri {
        let num = match c.proto {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Icmp => 1,
        };
        if r.direction != c.dir || r.protocol.is_some_and(|p| p != num) {
            return Tri::No(None);
        }
        if c.proto != Protocol::Icmp
            && !r.dst_ports.is_empty()
            && !r
                .dst_ports
                .iter()
                .any(|(a, b)| *a <= c.port && c.port <= *b)
        {
            return Tri::No(None);
        }
        let (src, dst) = match c.dir {
            Direction::Inbound => (c.peer, c.local),
            Direction::Outbound => (c.local, c.peer),
        };
        let mut fails = Vec::new();
        let mut unknown = Vec::new();
        let mut partial = false;
        // The client's source port is ephemeral: a rule limited to some source ports matches
        // only some connections (a deny blocks some, an allow cannot be relied on).
        if !r.src_ports.is_empty() && !r.src_ports.iter().any(|(a, b)| *a <= 1024 && *b == 65535) {
            if r.allow {
                fails.push(format!(
                    "it only matches source ports {} and the client's source port is ephemeral",
                    ports_text(&r.src_ports)
                ));
            } else {
                partial = true;
            }
        }
        for (name, addrs, asgs, ep) in [
            ("source", &r.src, &r.src_asgs, src),
            ("destination", &r.dst, &r.dst_asgs, dst),
        ] {
            match self.side_tri(addrs, asgs, ep, c) {
                Tri::Yes => {}
                Tri::Partial => partial = true,
                Tri::Unknown(m) => unknown.extend(m),
                Tri::No(_) => {
                    let mut what: Vec<String> = addrs.iter().map(addr_text).collect();
                    what.extend(asgs.iter().map(|a| format!("asg:{}", self.asg_label(a))));
                    fails.push(format!(
                        "its {name} [{}] does not match {}",
                        what.join(","),
                        ep.label
                    ));
                }
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

    /// One NSG's decision.
    fn nsg_decide(&self, nsg: usize, c: &Ctx<'_>) -> (Result<Rule, Vec<Missing>>, Option<RuleRef>) {
        let n = &self.nsgs[nsg];
        let defaults = defaults(c.dir);
        let mut pending: Vec<(bool, Vec<Missing>)> = Vec::new();
        let mut near: Option<RuleRef> = None;
        for r in n.rules.iter().chain(&defaults) {
            let hit = match self.rule_match(r, c) {
                Tri::Yes => true,
                Tri::Partial => !r.allow,
                Tri::Unknown(m) => {
                    pending.push((r.allow, m));
                    false
                }
                Tri::No(Some(why)) if r.allow && !r.default && near.is_none() => {
                    near = Some(RuleRef {
                        resource: format!("{}/{}", n.name, r.name),
                        rule: format!("{}: does not apply because {why}", self.describe_rule(r)),
                    });
                    false
                }
                Tri::No(_) => false,
            };
            if hit {
                let conflicting: Vec<Missing> = pending
                    .into_iter()
                    .filter(|(a, _)| *a != r.allow)
                    .flat_map(|(_, m)| m)
                    .collect();
                if !conflicting.is_empty() {
                    let mut out: Vec<Missing> = Vec::new();
                    for m in conflicting {
                        if !out.contains(&m) {
                            out.push(m);
                        }
                    }
                    return (Err(out), near);
                }
                return (Ok(r.clone()), near);
            }
        }
        // DenyAll always matches; only reached when it was partial for an allow (impossible).
        (Err(Vec::new()), near)
    }

    /// The NSGs of one side, in Azure's order, each with its layer: `Err` when it cannot be known.
    fn nsgs_on(
        &self,
        at: (usize, usize),
        dir: Direction,
    ) -> Vec<(CloudLayer, String, Result<Option<usize>, Missing>)> {
        let nic = &self.nics[at.0];
        let nic_nsg = (
            CloudLayer::NsgNic,
            format!("NIC {}", nic.name),
            match &nic.nsg {
                None => Ok(None),
                Some(id) => self
                    .nsg_by_id
                    .get(id)
                    .map(|i| Some(*i))
                    .ok_or_else(|| Missing {
                        what: format!("NSG {} on NIC {}", last_segment(id), nic.name),
                        export: format!("az network nsg show --ids {id} -o json"),
                    }),
            },
        );
        let subnet = nic.ipconfigs.get(at.1).and_then(|c| c.subnet.clone());
        let subnet_nsg = (
            CloudLayer::NsgSubnet,
            format!(
                "subnet {}",
                subnet.as_deref().map(last_segment).unwrap_or("?")
            ),
            match &subnet {
                None => Err(Missing {
                    what: format!("the subnet of NIC {}", nic.name),
                    export: format!("az network nic show --ids {} -o json", nic.id),
                }),
                Some(sid) => match self.subnets.get(sid) {
                    // Either export may name the association (the VNet's subnet or the NSG's
                    // `subnets`); they agree in a consistent export.
                    Some(s) => match &s.nsg {
                        None => Ok(self.nsg_of_subnet.get(sid).copied()),
                        Some(id) => {
                            self.nsg_by_id
                                .get(id)
                                .map(|i| Some(*i))
                                .ok_or_else(|| Missing {
                                    what: format!(
                                        "NSG {} on subnet {}",
                                        last_segment(id),
                                        last_segment(sid)
                                    ),
                                    export: format!("az network nsg show --ids {id} -o json"),
                                })
                        }
                    },
                    None => self
                        .nsg_of_subnet
                        .get(sid)
                        .map(|i| Some(*i))
                        .ok_or_else(|| Missing {
                            what: format!("whether subnet {} has an NSG", last_segment(sid)),
                            export: format!("az network vnet subnet show --ids {sid} -o json"),
                        }),
                },
            },
        );
        match dir {
            Direction::Outbound => vec![nic_nsg, subnet_nsg],
            Direction::Inbound => vec![subnet_nsg, nic_nsg],
        }
    }

    fn side_outcomes(
        &self,
        dir: Direction,
        local: &Ep,
        peer: &Ep,
        q: &Query,
        steps: &mut Vec<Step>,
    ) -> Vec<Outcome> {
        let Some(at) = local.at else {
            return Vec::new();
        };
        let nic = &self.nics[at.0];
        let vnet_export = match nic.ipconfigs.get(at.1).and_then(|c| c.subnet.as_ref()) {
            Some(sid) => match sid.split_once("/subnets/") {
                Some((vnet, _)) => format!("az network vnet show --ids {vnet} -o json"),
                None => format!("az network vnet subnet show --ids {sid} -o json"),
            },
            None => format!("az network nic show --ids {} -o json", nic.id),
        };
        let c = Ctx {
            dir,
            local,
            peer,
            space: self.space(at),
            subnet_prefixes: nic
                .ipconfigs
                .get(at.1)
                .and_then(|c| c.subnet.as_ref())
                .and_then(|sid| self.subnets.get(sid))
                .map(|s| s.prefixes.clone())
                .unwrap_or_default(),
            vnet_export,
            nic_id: nic.id.clone(),
            proto: q.protocol,
            port: q.port,
        };
        let side = match dir {
            Direction::Inbound => Side::DestinationIngress,
            Direction::Outbound => Side::SourceEgress,
        };
        let test = format!(
            "{} {} {} {} at {}",
            dir.az().to_ascii_lowercase(),
            flow_proto(q),
            if dir == Direction::Inbound {
                "from"
            } else {
                "to"
            },
            peer.label,
            local.label
        );
        let mut out = Vec::new();
        for (layer, place, nsg) in self.nsgs_on(at, dir) {
            let step =
                |resource: String, result, rule: Option<String>, evidence: Vec<String>| Step {
                    layer,
                    side,
                    resource,
                    test: test.clone(),
                    result,
                    rule,
                    evidence,
                };
            match nsg {
                Ok(None) => steps.push(step(
                    place.clone(),
                    StepResult::Skip,
                    None,
                    vec![format!("no NSG on {place}")],
                )),
                Err(m) => {
                    steps.push(step(
                        place.clone(),
                        StepResult::Unknown,
                        None,
                        vec![m.what.clone()],
                    ));
                    out.push(Outcome::Unknown(vec![m]));
                }
                Ok(Some(i)) => {
                    let n = &self.nsgs[i];
                    match self.nsg_decide(i, &c) {
                        (Err(m), _) => {
                            steps.push(step(
                                n.name.clone(),
                                StepResult::Unknown,
                                None,
                                m.iter().map(|x| x.what.clone()).collect(),
                            ));
                            out.push(Outcome::Unknown(m));
                        }
                        (Ok(r), _) if r.allow => {
                            steps.push(step(
                                n.name.clone(),
                                StepResult::Allow,
                                Some(self.describe_rule(&r)),
                                vec![format!("{place}")],
                            ));
                            out.push(Outcome::Allow);
                        }
                        (Ok(r), near) => {
                            steps.push(step(
                                n.name.clone(),
                                StepResult::Deny,
                                Some(self.describe_rule(&r)),
                                vec![format!("{place}")],
                            ));
                            out.push(Outcome::Deny(Box::new(Block {
                                layer,
                                cause: if r.default {
                                    Cause::CloudNoAllowRule
                                } else {
                                    Cause::CloudDenyRule
                                },
                                side,
                                rule: RuleRef {
                                    resource: format!("{}/{}", n.name, r.name),
                                    rule: self.describe_rule(&r),
                                },
                                nsg: Some(i),
                                priority: r.priority,
                                dir,
                                local: at,
                                peer: peer.clone(),
                                would_allow: near,
                                no_fix: None,
                            })));
                        }
                    }
                }
            }
        }
        out
    }

    /// Two NICs in different VNets need a connected peering.
    fn path_outcome(&self, src: &Ep, dst: &Ep, steps: &mut Vec<Step>) -> Option<Outcome> {
        let (s, d) = (src.at?, dst.at?);
        let (sv, dv) = (self.vnet_of(s)?, self.vnet_of(d)?);
        if sv == dv {
            return None;
        }
        let (a, b) = (&self.vnets[sv], &self.vnets[dv]);
        let step = |result, rule: String| Step {
            layer: CloudLayer::Route,
            side: Side::Path,
            resource: format!("vnet {}", a.name),
            test: format!("path from VNet {} to VNet {}", a.name, b.name),
            result,
            rule: Some(rule),
            evidence: vec![],
        };
        if a.peers.contains(&b.id.to_ascii_lowercase()) {
            steps.push(step(
                StepResult::Allow,
                format!("peering to {} is Connected", b.name),
            ));
            return Some(Outcome::Allow);
        }
        if !a.peerings_exported {
            steps.push(step(StepResult::Unknown, "peerings not exported".into()));
            return Some(Outcome::Unknown(vec![Missing {
                what: format!("peerings of VNet {}", a.name),
                export: format!("az network vnet show --ids {} -o json", a.id),
            }]));
        }
        let why = format!(
            "VNet {} has no connected peering to VNet {}",
            a.name, b.name
        );
        steps.push(step(StepResult::Deny, why.clone()));
        Some(Outcome::Deny(Box::new(Block {
            layer: CloudLayer::Route,
            cause: Cause::CloudNoRoute,
            side: Side::Path,
            rule: RuleRef { resource: format!("vnet {}", a.name), rule: why.clone() },
            nsg: None,
            priority: 0,
            dir: Direction::Outbound,
            local: s,
            peer: dst.clone(),
            would_allow: None,
            no_fix: Some(format!("{why}; no NSG rule can connect two VNets. Connecting them is VNet peering (az network vnet peering create), a decision for the owners of both VNets.")),
        })))
    }

    pub(crate) fn run(&self, q: &Query) -> Result<(Evaluation, Vec<FixChange>), String> {
        let src = self.resolve(&q.src, "--from")?;
        let dst = self.resolve(&q.dst, "--to")?;
        if src.at.is_none() && dst.at.is_none() {
            return Err(format!(
                "neither {} nor {} is a NIC (by id, name, VM id or private/public address) in the exports ({}); give at least one NIC",
                q.src, q.dst, self.searched()
            ));
        }
        if src.net.addr().is_ipv4() != dst.net.addr().is_ipv4() {
            return Err(format!(
                "{} and {} are not the same address family",
                q.src, q.dst
            ));
        }
        let flow = json!({
            "src": q.src.to_string(), "dst": q.dst.to_string(), "port": q.port, "protocol": q.protocol,
            "src_resolved": self.ep_json(&src), "dst_resolved": self.ep_json(&dst),
            "model": "azure: outbound source NIC NSG → source subnet NSG → (VNet peering) → destination subnet NSG → destination NIC NSG; first matching rule by priority; default rules always present",
        });
        let mut steps = Vec::new();
        // A NIC reached through its public address from another NIC: the packet leaves the
        // VNet. Outbound NSGs see the public destination; inbound NSGs see the source's public
        // address (or an outbound SNAT address the exports do not hold).
        let dst_public = match (&q.dst, src.at) {
            (EndpointRef::Ip(ip), Some(_))
                if !self.nic_by_ip.contains_key(ip) && self.nic_by_public_ip.contains_key(ip) =>
            {
                Some(*ip)
            }
            _ => None,
        };
        let out_peer = match dst_public {
            Some(ip) => Ep {
                net: IpNet::from(ip),
                at: None,
                label: format!("{} (public {ip})", dst.label),
            },
            None => dst.clone(),
        };
        let mut outcomes = self.side_outcomes(Direction::Outbound, &src, &out_peer, q, &mut steps);
        let in_peer = match (dst_public, src.at) {
            (Some(_), Some(at)) => {
                let v4 = src.net.addr().is_ipv4();
                let public = self
                    .nic_by_public_ip
                    .iter()
                    .filter(|(ip, on)| **on == at && ip.is_ipv4() == v4)
                    .map(|(ip, _)| *ip)
                    .min();
                match public {
                    Some(ip) => Some(Ep {
                        net: IpNet::from(ip),
                        at: None,
                        label: format!("{} (public {ip})", src.label),
                    }),
                    None => {
                        let what = format!(
                            "the public address {} leaves from (no public IP on that IP configuration: a NAT gateway, load balancer outbound rule or default outbound access picks it)",
                            src.label
                        );
                        steps.push(Step {
                            layer: CloudLayer::NsgSubnet,
                            side: Side::DestinationIngress,
                            resource: dst.label.clone(),
                            test: format!("inbound {} from {}", flow_proto(q), src.label),
                            result: StepResult::Unknown,
                            rule: None,
                            evidence: vec![what.clone()],
                        });
                        outcomes.push(Outcome::Unknown(vec![Missing {
                            what,
                            export: format!(
                                "az network nic show-effective-route-table --ids {} -o json; az network nat gateway list -o json",
                                self.nics[at.0].id
                            ),
                        }]));
                        None
                    }
                }
            }
            _ => {
                if let Some(o) = self.path_outcome(&src, &dst, &mut steps) {
                    outcomes.push(o);
                }
                Some(src.clone())
            }
        };
        if let Some(peer) = in_peer {
            outcomes.extend(self.side_outcomes(Direction::Inbound, &dst, &peer, q, &mut steps));
        }
        let (verdict, changes) = crate::verdict::admitted(self.conclude(q, &src, &dst, outcomes));
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
            Some((n, i)) => {
                let nic = &self.nics[n];
                let c = &nic.ipconfigs[i];
                json!({"nic": nic.id, "ip": e.net.addr().to_string(), "subnet": c.subnet,
                       "nsg": nic.nsg, "asgs": c.asgs.iter().map(|a| self.asg_label(a)).collect::<Vec<_>>()})
            }
            None => json!({"address": e.net.to_string(), "external": is_public(e.net.addr())}),
        }
    }

    fn conclude(
        &self,
        q: &Query,
        src: &Ep,
        dst: &Ep,
        outcomes: Vec<Outcome>,
    ) -> (Verdict, Vec<FixChange>) {
        let mut blocks = Vec::new();
        let mut missing = Vec::new();
        for o in outcomes {
            match o {
                Outcome::Allow => {}
                Outcome::Deny(b) => blocks.push(*b),
                Outcome::Unknown(m) => missing.extend(m),
            }
        }
        let flow = format!("{} from {} to {}", flow_proto(q), src.label, dst.label);
        conclude_blocks(
            &flow,
            &blocks,
            missing,
            ConcludeText {
                allowed: format!("{flow} is allowed by every NSG on the path"),
                several_blocks: Some(
                    " Every NSG that blocks gets a rule, so the flow is allowed end to end.",
                ),
                undecided: "NSGs",
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

fn flow_proto(q: &Query) -> String {
    match q.protocol {
        Protocol::Icmp => "icmp".into(),
        p => format!("{p}/{}", q.port),
    }
}

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
