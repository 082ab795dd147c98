//! The AWS path for one flow, in the order a packet meets it:
//! source SG egress → source subnet NACL outbound → source route table → destination subnet NACL
//! inbound → destination SG ingress, then the reply through the stateless NACLs (and the return
//! route when the ends are in different VPCs). Security groups are stateful, so their replies are
//! implied; NACLs are not.
//!
//! Every step is evaluated (not only up to the first block) so that the fix covers every block
//! and the table shows the whole path; the verdict names the first block in path order.
//! Pure functions over the parsed estate: no I/O, no clock.

use super::fix::{self, FixChange, PlannedFix};
use super::model::*;
use crate::estate::ResolveError;
use crate::flow::{display_net, EndpointRef, Protocol, Query};
use crate::verdict::{
    Cause, CloudLayer, Evaluation, Fix, Missing, RuleRef, Side, Step, StepResult, Verdict,
};
use ipnet::IpNet;
use serde_json::json;

/// The Linux ephemeral port range (`net.ipv4.ip_local_port_range` default). The client's port is
/// unknown, so a reply is proven allowed only when the whole range is.
pub const EPHEMERAL: (u16, u16) = (32768, 60999);

/// Evaluation plus the structural form of the proposed fix (for `apply` and property tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// What `check` reports.
    pub evaluation: Evaluation,
    /// The fix as changes to the estate (empty when allowed or when a fix is not structural, e.g.
    /// a route whose new target cannot be determined).
    pub changes: Vec<FixChange>,
}

/// An address as one side sees it: known, or unknown with what would tell it.
#[derive(Debug, Clone)]
pub(crate) enum Seen {
    Known(IpNet),
    Unknown(Missing),
}

enum Match {
    Yes,
    No(String),
    Unknown(Missing),
}

/// Does a rule's protocol/port part match a flow (ports for tcp/udp, type/code for ICMP)?
pub(crate) fn proto_port_match(
    protocol: RuleProtocol,
    from: Option<i64>,
    to: Option<i64>,
    flow: FlowSpec,
    icmp: (i64, i64),
) -> bool {
    match (protocol, flow.protocol) {
        (RuleProtocol::All, _) => true,
        (RuleProtocol::Tcp, Protocol::Tcp) | (RuleProtocol::Udp, Protocol::Udp) => {
            let port = i64::from(flow.port);
            match (from, to) {
                (Some(f), Some(t)) => (f == -1 && t == -1) || (f <= port && port <= t),
                _ => true,
            }
        }
        (RuleProtocol::Icmp, Protocol::Icmp) if !flow.ipv6 => icmp_match(from, to, icmp),
        (RuleProtocol::Icmpv6, Protocol::Icmp) if flow.ipv6 => icmp_match(from, to, icmp),
        _ => false,
    }
}

fn icmp_match(ty: Option<i64>, code: Option<i64>, icmp: (i64, i64)) -> bool {
    let ty = ty.unwrap_or(-1);
    let code = code.unwrap_or(-1);
    (ty == -1 || ty == icmp.0) && (code == -1 || code == icmp.1)
}

fn same_protocol(protocol: RuleProtocol, flow: FlowSpec) -> bool {
    matches!(
        (protocol, flow.protocol),
        (RuleProtocol::All, _)
            | (RuleProtocol::Tcp, Protocol::Tcp)
            | (RuleProtocol::Udp, Protocol::Udp)
            | (RuleProtocol::Icmp, Protocol::Icmp)
            | (RuleProtocol::Icmpv6, Protocol::Icmp)
    )
}

/// The rule as a person reads it: `tcp 443`, `tcp 1024-65535`, `all`, `icmp type 8 code -1`.
pub(crate) fn describe_ports(protocol: RuleProtocol, from: Option<i64>, to: Option<i64>) -> String {
    match protocol {
        RuleProtocol::All => "all".into(),
        RuleProtocol::Icmp | RuleProtocol::Icmpv6 => match (from, to) {
            (None | Some(-1), None | Some(-1)) => protocol.label(),
            (f, t) => format!(
                "{} type {} code {}",
                protocol.label(),
                f.unwrap_or(-1),
                t.unwrap_or(-1)
            ),
        },
        _ => match (from, to) {
            (Some(f), Some(t)) if f == t => format!("{} {f}", protocol.label()),
            (Some(-1), Some(-1)) | (None, _) | (_, None) => {
                format!("{} all ports", protocol.label())
            }
            (Some(f), Some(t)) => format!("{} {f}-{t}", protocol.label()),
        },
    }
}

fn covers(rule: &IpNet, addr: &IpNet) -> bool {
    rule.contains(addr)
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

pub(crate) fn export_interface(addr: &str) -> String {
    format!(
        "aws ec2 describe-network-interfaces --filters Name=addresses.private-ip-address,Values={addr} --output json"
    )
}

/// A blocked step, with its fix.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) layer: CloudLayer,
    pub(crate) side: Side,
    pub(crate) cause: Cause,
    pub(crate) blocking: RuleRef,
    pub(crate) would_allow: Option<RuleRef>,
    pub(crate) fix: Result<PlannedFix, String>,
}

/// Where a [`Walk::deny`] blocks: the step's fields and the block's cause.
struct Denied {
    layer: CloudLayer,
    side: Side,
    cause: Cause,
    resource: String,
    test: String,
    /// The rule as the step shows it.
    rule: String,
    /// The rule as the block names it, when it says more than the step (default: `rule`).
    blocking: Option<String>,
    evidence: Vec<String>,
}

/// Everything the path walk accumulates.
#[derive(Default)]
pub(crate) struct Walk {
    pub(crate) steps: Vec<Step>,
    pub(crate) blocks: Vec<Block>,
    pub(crate) missing: Vec<Missing>,
    pub(crate) first_unknown_layer: Option<CloudLayer>,
    /// Network ACL rule numbers the fixes planned so far use: (ACL, egress, number). One ACL is
    /// often associated with both subnets, and two entries cannot share a number.
    pub(crate) acl_numbers: Vec<(String, bool, u32)>,
}

impl Walk {
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        layer: CloudLayer,
        side: Side,
        resource: &str,
        test: String,
        result: StepResult,
        rule: Option<String>,
        evidence: Vec<String>,
    ) {
        self.steps.push(Step {
            layer,
            side,
            resource: resource.to_string(),
            test,
            result,
            rule,
            evidence,
        });
    }

    /// Numbers already planned in one direction of one ACL.
    fn taken(&self, acl: &str, egress: bool) -> Vec<u32> {
        self.acl_numbers
            .iter()
            .filter(|(a, e, _)| a == acl && *e == egress)
            .map(|(_, _, n)| *n)
            .collect()
    }

    /// Records the rule numbers a planned fix uses.
    fn reserve(&mut self, fix: &Result<PlannedFix, String>) {
        for c in fix.iter().flat_map(|p| &p.changes) {
            if let FixChange::NetworkAclEntry { acl_id, entry } = c {
                self.acl_numbers
                    .push((acl_id.clone(), entry.egress, entry.number));
            }
        }
    }

    /// The repeated step-then-block pattern: a `Deny` step at `resource` and the block it
    /// records, with its fix (or why there is none).
    fn deny(&mut self, at: Denied, fix: Result<PlannedFix, String>) {
        self.step(
            at.layer,
            at.side,
            &at.resource,
            at.test,
            StepResult::Deny,
            Some(at.rule.clone()),
            at.evidence,
        );
        self.blocks.push(Block {
            layer: at.layer,
            side: at.side,
            cause: at.cause,
            blocking: RuleRef {
                resource: at.resource,
                rule: at.blocking.unwrap_or(at.rule),
            },
            would_allow: None,
            fix,
        });
    }

    fn unknown(&mut self, layer: CloudLayer, missing: Vec<Missing>) {
        if self.first_unknown_layer.is_none() {
            self.first_unknown_layer = Some(layer);
        }
        for m in missing {
            if !self.missing.contains(&m) {
                self.missing.push(m);
            }
        }
    }
}

/// How a security-group rule's peer sees the other end.
pub(crate) struct PeerView<'a> {
    /// The other end's address as this side sees it.
    pub(crate) seen: Seen,
    /// The other end's groups, when it is an exported interface reached by private address.
    pub(crate) groups: Option<&'a [String]>,
    /// Why group references cannot match (the flow uses a public address), if so.
    pub(crate) public_reason: Option<String>,
    /// The flow is IPv6 (an unknown address is still of the flow's family).
    pub(crate) ipv6: bool,
}

impl Estate {
    /// Resolves the query's ends and walks the path.
    pub fn diagnose(&self, q: &Query) -> Result<Diagnosis, ResolveError> {
        let mut src = self.resolve(&q.src, "--from", None)?;
        let mut dst = self.resolve(&q.dst, "--to", None)?;
        // An id stands for the interface: take its address in the other end's family.
        if src.addr.addr().is_ipv4() != dst.addr.addr().is_ipv4() {
            if matches!(q.src, EndpointRef::Id(_)) {
                src = self.resolve(&q.src, "--from", Some(dst.addr.addr().is_ipv6()))?;
            } else if matches!(q.dst, EndpointRef::Id(_)) {
                dst = self.resolve(&q.dst, "--to", Some(src.addr.addr().is_ipv6()))?;
            }
        }
        if src.interface.is_none() && dst.interface.is_none() {
            return Err(ResolveError::NotFound {
                endpoint: format!("{} and {}", q.src, q.dst),
                hint: "at least one end must be an instance, network interface or address in the exports (add `aws ec2 describe-instances --output json` or `aws ec2 describe-network-interfaces --output json`)".into(),
            });
        }
        if src.addr.addr().is_ipv4() != dst.addr.addr().is_ipv4() {
            return Err(ResolveError::Invalid(format!(
                "{} is {} but {} is {}: a flow stays in one address family",
                q.src,
                family(&src.addr),
                q.dst,
                family(&dst.addr)
            )));
        }
        let flow = FlowSpec {
            protocol: q.protocol,
            port: q.port,
            ipv6: dst.addr.addr().is_ipv6(),
        };
        let mut walk = Walk::default();
        self.walk(&src, &dst, flow, &mut walk);
        let (verdict, changes) =
            crate::verdict::admitted(conclude(&src, &dst, flow, walk.blocks.clone(), &walk));
        let flow_json = json!({
            "src": q.src.to_string(),
            "dst": q.dst.to_string(),
            "port": q.port,
            "protocol": q.protocol,
            "src_resolved": self.end_json(&src),
            "dst_resolved": self.end_json(&dst),
            "reply_ports_model": format!("client ephemeral ports {}-{} (Linux default); fixes open 1024-65535", EPHEMERAL.0, EPHEMERAL.1),
        });
        Ok(Diagnosis {
            evaluation: Evaluation {
                flow: flow_json,
                path: walk.steps,
                verdict,
            },
            changes,
        })
    }

    fn end_json(&self, end: &End) -> serde_json::Value {
        match end.interface.and_then(|i| self.interfaces.get(i)) {
            None => json!({"address": end.addr.to_string(), "in_exports": false}),
            Some(eni) => json!({
                "address": end.addr.addr().to_string(),
                "in_exports": true,
                "interface": eni.id,
                "instance": eni.instance_id,
                "subnet": eni.subnet_id,
                "vpc": self.vpc_of(eni),
                "security_groups": eni.groups,
                "via_public_ip": end.via_public,
            }),
        }
    }

    pub(crate) fn vpc_of(&self, eni: &Interface) -> Option<String> {
        eni.vpc_id.clone().or_else(|| {
            eni.subnet_id
                .as_ref()
                .and_then(|s| self.subnets.get(s))
                .and_then(|s| s.vpc_id.clone())
        })
    }

    /// `ipv6`: for an id, the address family wanted (else IPv4 when it has one).
    fn resolve(
        &self,
        r: &EndpointRef,
        flag: &str,
        ipv6: Option<bool>,
    ) -> Result<End, ResolveError> {
        match r {
            EndpointRef::Ip(ip) => {
                if let Some(&i) = self.interface_by_private_ip.get(ip) {
                    Ok(End {
                        typed: r.to_string(),
                        interface: Some(i),
                        addr: IpNet::from(*ip),
                        via_public: false,
                    })
                } else if let Some(&i) = self.interface_by_public_ip.get(ip) {
                    Ok(End {
                        typed: r.to_string(),
                        interface: Some(i),
                        addr: IpNet::from(*ip),
                        via_public: true,
                    })
                } else {
                    Ok(End {
                        typed: r.to_string(),
                        interface: None,
                        addr: IpNet::from(*ip),
                        via_public: false,
                    })
                }
            }
            EndpointRef::Cidr(net) => Ok(End {
                typed: r.to_string(),
                interface: None,
                addr: *net,
                via_public: false,
            }),
            EndpointRef::Id(id) => {
                let index = if id.starts_with("i-") {
                    self.interfaces_by_instance
                        .get(id)
                        .and_then(|v| v.first().copied())
                } else {
                    self.interface_by_id.get(id).copied()
                };
                let Some(i) = index else {
                    let export = if id.starts_with("i-") {
                        format!("aws ec2 describe-instances --instance-ids {id} --output json")
                    } else if id.starts_with("eni-") {
                        format!("aws ec2 describe-network-interfaces --network-interface-ids {id} --output json")
                    } else {
                        return Err(ResolveError::NotFound {
                            endpoint: format!("{flag} {id}"),
                            hint: "give an IP address, a CIDR, an instance id (i-…) or a network interface id (eni-…)".into(),
                        });
                    };
                    return Err(ResolveError::NotFound {
                        endpoint: format!("{flag} {id}"),
                        hint: format!("export it with `{export}`"),
                    });
                };
                let ip = self
                    .interfaces
                    .get(i)
                    .and_then(|e| {
                        e.private_ips
                            .iter()
                            .find(|a| a.is_ipv6() == ipv6.unwrap_or(false))
                            .or(e.private_ips.first())
                    })
                    .copied()
                    .ok_or_else(|| ResolveError::NotFound {
                        endpoint: format!("{flag} {id}"),
                        hint: "the export lists no private address for it".into(),
                    })?;
                Ok(End {
                    typed: r.to_string(),
                    interface: Some(i),
                    addr: IpNet::from(ip),
                    via_public: false,
                })
            }
        }
    }

    fn iface(&self, end: &End) -> Option<&Interface> {
        end.interface.and_then(|i| self.interfaces.get(i))
    }

    /// The source address as the destination sees it. Through a public address the source is
    /// seen by its own public address; without one it leaves through a NAT gateway whose
    /// address the exports do not hold.
    fn source_as_seen(&self, src: &End, dst: &End) -> Seen {
        if !dst.via_public {
            return Seen::Known(src.addr);
        }
        match self.iface(src) {
            None => Seen::Known(src.addr),
            Some(eni) => match eni
                .public_ips
                .iter()
                .find(|a| a.is_ipv4() == src.addr.addr().is_ipv4())
            {
                Some(p) => Seen::Known(IpNet::from(*p)),
                None => Seen::Unknown(Missing {
                    what: format!(
                        "the public address {} uses to reach {} (it has none of its own: a NAT gateway's Elastic IP, if any)",
                        eni.id, dst.addr.addr()
                    ),
                    export: format!(
                        "aws ec2 describe-nat-gateways --filter Name=vpc-id,Values={} --output json",
                        self.vpc_of(eni).unwrap_or_else(|| "VPC_ID".into())
                    ),
                }),
            },
        }
    }

    /// Both ends are exported interfaces in the same (known) VPC.
    fn same_vpc(&self, src_eni: Option<&Interface>, dst_eni: Option<&Interface>) -> bool {
        match (src_eni, dst_eni) {
            (Some(a), Some(b)) => {
                let (va, vb) = (self.vpc_of(a), self.vpc_of(b));
                va.is_some() && va == vb
            }
            _ => false,
        }
    }

    fn walk(&self, src: &End, dst: &End, flow: FlowSpec, walk: &mut Walk) {
        let src_eni = self.iface(src);
        let dst_eni = self.iface(dst);
        let src_seen = self.source_as_seen(src, dst);
        let same_subnet = !dst.via_public
            && match (src_eni, dst_eni) {
                (Some(a), Some(b)) => a.subnet_id.is_some() && a.subnet_id == b.subnet_id,
                _ => false,
            };
        let same_vpc = self.same_vpc(src_eni, dst_eni);
        let ctx = fix::Context {
            dst,
            src_eni,
            dst_eni,
            src_seen: match &src_seen {
                Seen::Known(n) => Some(*n),
                Seen::Unknown(_) => None,
            },
            same_vpc,
            flow,
        };

        // 1. Source security groups, egress.
        match src_eni {
            Some(eni) => {
                let view = PeerView {
                    seen: Seen::Known(dst.addr),
                    groups: dst_eni.filter(|_| !dst.via_public).map(|e| e.groups.as_slice()),
                    public_reason: dst.via_public.then(|| {
                        format!(
                            "{} is a public address: group references match private addresses only",
                            dst.addr.addr()
                        )
                    }),
                    ipv6: flow.ipv6,
                };
                self.sg_step(eni, false, &view, flow, walk, &ctx);
            }
            None => walk.step(
                CloudLayer::SgEgress,
                Side::SourceEgress,
                &src.typed,
                format!("egress {} to {}", flow.label(), display_net(&dst.addr)),
                StepResult::Skip,
                None,
                vec!["the source is not an interface in the exports; its own firewall is not evaluated".into()],
            ),
        }

        // 2. Source subnet NACL, outbound.
        if let Some(eni) = src_eni {
            if same_subnet {
                skip_same_subnet(walk, eni, Side::SourceEgress, "outbound");
            } else {
                self.acl_step(
                    eni,
                    true,
                    &Seen::Known(dst.addr),
                    flow,
                    Side::SourceEgress,
                    walk,
                    &ctx,
                );
            }
        }

        // 3. Route from the source subnet.
        let mut destination_unknown = false;
        match src_eni {
            Some(eni) => {
                let peer_vpc_unexported = self.route_step(eni, dst, Side::Path, walk);
                destination_unknown = peer_vpc_unexported && dst_eni.is_none();
            }
            None => walk.step(
                CloudLayer::Route,
                Side::Path,
                &src.typed,
                format!("route to {}", display_net(&dst.addr)),
                StepResult::Skip,
                None,
                vec![
                    "the source is outside the exports; the path into the VPC is not evaluated"
                        .into(),
                ],
            ),
        }

        // 4-5. Destination subnet NACL inbound, destination security groups ingress.
        match dst_eni {
            Some(eni) => {
                if same_subnet {
                    skip_same_subnet(walk, eni, Side::DestinationIngress, "inbound");
                } else {
                    self.acl_step(
                        eni,
                        false,
                        &src_seen,
                        flow,
                        Side::DestinationIngress,
                        walk,
                        &ctx,
                    );
                }
                let view = PeerView {
                    seen: src_seen.clone(),
                    groups: src_eni.filter(|_| !dst.via_public).map(|e| e.groups.as_slice()),
                    public_reason: dst.via_public.then(|| {
                        format!(
                            "the flow reaches {} by its public address: group references match private addresses only",
                            dst.addr.addr()
                        )
                    }),
                    ipv6: flow.ipv6,
                };
                self.sg_step(eni, true, &view, flow, walk, &ctx);
            }
            None if destination_unknown => peered_destination_unknown(dst, flow, walk),
            None => walk.step(
                CloudLayer::Sg,
                Side::DestinationIngress,
                &dst.typed,
                format!("ingress {} at {}", flow.label(), display_net(&dst.addr)),
                StepResult::Skip,
                None,
                vec![
                    "the destination is outside the exports; its firewall is not evaluated".into(),
                ],
            ),
        }

        // 6. The reply through the stateless NACLs.
        if let Some(eni) = dst_eni {
            if same_subnet {
                skip_same_subnet(walk, eni, Side::Reply, "reply outbound");
            } else {
                self.reply_acl_step(eni, true, &src_seen, flow, walk, &ctx);
            }
        }
        if let Some(eni) = src_eni {
            if !same_subnet {
                self.reply_acl_step(eni, false, &Seen::Known(dst.addr), flow, walk, &ctx);
            }
        }
        // 7. The return route from the destination's subnet: when the ends are in different VPCs
        // (peering needs both routes), when the source is outside the exports (on premises, the
        // internet), and when the flow arrived by a public address through the internet gateway,
        // the reply must leave by an internet gateway too (through a NAT gateway it would come
        // from another address, and the client drops it).
        if let Some(d) = dst_eni {
            let needed = match src_eni {
                Some(_) => !same_vpc || dst.via_public,
                None => true,
            };
            if let (true, Seen::Known(back_addr)) = (needed, &src_seen) {
                let back = End {
                    typed: src.typed.clone(),
                    interface: src.interface,
                    addr: *back_addr,
                    via_public: false,
                };
                let arrived_public = dst.via_public.then(|| dst.addr.addr());
                self.route_step_via(d, &back, Side::Reply, walk, arrived_public);
            }
        }
    }

    fn sg_step(
        &self,
        eni: &Interface,
        ingress: bool,
        view: &PeerView<'_>,
        flow: FlowSpec,
        walk: &mut Walk,
        ctx: &fix::Context<'_>,
    ) {
        let (layer, side, dir, prep) = if ingress {
            (CloudLayer::Sg, Side::DestinationIngress, "ingress", "from")
        } else {
            (CloudLayer::SgEgress, Side::SourceEgress, "egress", "to")
        };
        let peer_text = match &view.seen {
            Seen::Known(n) => display_net(n),
            Seen::Unknown(_) => "an unknown public address".into(),
        };
        let test = format!("{dir} {} {prep} {peer_text}", flow.label());
        let resource = eni.groups.join(", ");
        let mut evidence = vec![format!(
            "{} has {} security group(s): {} (rules are a union)",
            eni.id,
            eni.groups.len(),
            if eni.groups.is_empty() {
                "none".into()
            } else {
                eni.groups.join(", ")
            }
        )];
        let mut missing = Vec::new();
        let mut nearest: Option<(u8, RuleRef)> = None;
        let icmp = flow.icmp_request();
        for gid in &eni.groups {
            let Some(sg) = self.security_groups.get(gid) else {
                missing.push(Missing {
                    what: format!("security group {gid} (attached to {})", eni.id),
                    export: format!(
                        "aws ec2 describe-security-groups --group-ids {gid} --output json"
                    ),
                });
                continue;
            };
            let rules = if ingress { &sg.ingress } else { &sg.egress };
            for rule in rules {
                let ports_ok =
                    proto_port_match(rule.protocol, rule.from_port, rule.to_port, flow, icmp);
                let desc = format!(
                    "{dir} {} {prep} {}",
                    describe_ports(rule.protocol, rule.from_port, rule.to_port),
                    describe_peer(&rule.peer)
                );
                let peer = self.sg_peer_match(&rule.peer, view);
                match (ports_ok, peer) {
                    (true, Match::Yes) => {
                        evidence.push(format!("{gid}: {desc} matches"));
                        walk.step(
                            layer,
                            side,
                            &resource,
                            test,
                            StepResult::Allow,
                            Some(format!("{gid}: {desc}")),
                            evidence,
                        );
                        return;
                    }
                    (true, Match::Unknown(m)) => {
                        evidence.push(format!("{gid}: {desc} may match: {}", m.what));
                        missing.push(m);
                    }
                    (true, Match::No(why)) => {
                        let rank = 2;
                        if nearest.as_ref().is_none_or(|(r, _)| *r > rank) {
                            nearest = Some((
                                rank,
                                RuleRef {
                                    resource: gid.clone(),
                                    rule: format!("{desc}: the protocol and port match, but {why}"),
                                },
                            ));
                        }
                    }
                    (false, Match::Yes) => {
                        let rank = if same_protocol(rule.protocol, flow) {
                            0
                        } else {
                            1
                        };
                        if nearest.as_ref().is_none_or(|(r, _)| *r > rank) {
                            nearest = Some((
                                rank,
                                RuleRef {
                                    resource: gid.clone(),
                                    rule: format!(
                                        "{desc}: the peer matches, but not {}",
                                        flow.label()
                                    ),
                                },
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        if !missing.is_empty() {
            walk.step(
                layer,
                side,
                &resource,
                test,
                StepResult::Unknown,
                None,
                evidence,
            );
            walk.unknown(layer, missing);
            return;
        }
        let target_group = nearest
            .as_ref()
            .map(|(_, r)| r.resource.clone())
            .or_else(|| eni.groups.first().cloned());
        let rule_text = format!(
            "no {dir} rule in {} allows {} {prep} {peer_text}",
            if eni.groups.is_empty() {
                "(no groups)".to_string()
            } else {
                eni.groups.join(", ")
            },
            flow.label()
        );
        if let Some((_, near)) = &nearest {
            evidence.push(format!("nearest miss: {}: {}", near.resource, near.rule));
        }
        let fix = match &target_group {
            Some(g) => fix::security_group(ctx, g, ingress),
            None => Err(format!("{} has no security group to add a rule to", eni.id)),
        };
        walk.step(
            layer,
            side,
            &resource,
            test,
            StepResult::Deny,
            Some(rule_text.clone()),
            evidence,
        );
        walk.blocks.push(Block {
            layer,
            side,
            cause: Cause::CloudNoAllowRule,
            blocking: RuleRef {
                resource: target_group.unwrap_or_else(|| eni.id.clone()),
                rule: rule_text,
            },
            would_allow: nearest.map(|(_, r)| r),
            fix,
        });
    }

    fn sg_peer_match(&self, peer: &SgPeer, view: &PeerView<'_>) -> Match {
        match peer {
            SgPeer::Cidr(net) if net.addr().is_ipv6() != view.ipv6 => Match::No(format!(
                "{net} is {}, the flow {}",
                family(net),
                if view.ipv6 { "IPv6" } else { "IPv4" }
            )),
            SgPeer::Cidr(net) => match &view.seen {
                Seen::Known(a) if covers(net, a) => Match::Yes,
                Seen::Known(a) => Match::No(format!("{} does not contain {}", net, display_net(a))),
                Seen::Unknown(_) if net.prefix_len() == 0 => Match::Yes,
                Seen::Unknown(m) => Match::Unknown(m.clone()),
            },
            SgPeer::PrefixList(id) => {
                let list = self.prefix_lists.get(id);
                match (list.and_then(|l| l.entries.as_ref()), &view.seen) {
                    (Some(entries), Seen::Known(a)) => {
                        if entries.iter().any(|e| covers(e, a)) {
                            Match::Yes
                        } else {
                            Match::No(format!("no entry of prefix list {id} contains {}", display_net(a)))
                        }
                    }
                    (Some(_), Seen::Unknown(m)) => Match::Unknown(m.clone()),
                    (None, _) => Match::Unknown(Missing {
                        what: format!("the entries of prefix list {id}"),
                        export: format!(
                            "aws ec2 get-managed-prefix-list-entries --prefix-list-id {id} --output json > {id}.json"
                        ),
                    }),
                }
            }
            SgPeer::Group { group_id, peering } => {
                if let Some(why) = &view.public_reason {
                    return Match::No(why.clone());
                }
                if let Some(groups) = view.groups {
                    return if groups.iter().any(|g| g == group_id) {
                        Match::Yes
                    } else {
                        Match::No(format!("the peer is not a member of {group_id}"))
                    };
                }
                let Seen::Known(a) = &view.seen else {
                    return Match::No("group references match private addresses only".into());
                };
                let addr = a.addr();
                let inside_known_network = self.vpc_ranges(None).any(|c| overlaps(c, a))
                    || self.peerings.values().any(|p| {
                        p.requester
                            .cidrs
                            .iter()
                            .chain(&p.accepter.cidrs)
                            .any(|c| overlaps(c, a))
                    });
                // "Outside every VPC" means something only when the group's VPC ranges are known
                // (describe-vpcs, describe-subnets, or its route tables' local routes).
                let group_vpc = self
                    .security_groups
                    .get(group_id)
                    .and_then(|g| g.vpc_id.as_deref());
                let ranges_known = self.vpc_ranges(group_vpc).next().is_some();
                if peering.is_some() || inside_known_network || !self.has_inventory || !ranges_known
                {
                    Match::Unknown(Missing {
                        what: format!(
                            "whether {addr} is a member of {group_id}{}",
                            peering
                                .as_ref()
                                .map(|p| format!(" (a group across peering {p})"))
                                .unwrap_or_default()
                        ),
                        export: export_interface(&addr.to_string()),
                    })
                } else {
                    Match::No(format!(
                        "{addr} is outside every exported VPC, so it is not a member of {group_id}"
                    ))
                }
            }
        }
    }

    /// The address ranges of one VPC (or of every VPC), as far as the exports show them:
    /// `describe-vpcs`, `describe-subnets`, and the local routes of the route tables.
    fn vpc_ranges<'s>(&'s self, vpc: Option<&'s str>) -> impl Iterator<Item = &'s IpNet> + 's {
        let of = move |v: &Option<String>| vpc.is_none_or(|x| v.as_deref() == Some(x));
        let vpcs = self
            .vpcs
            .values()
            .filter(move |v| vpc.is_none_or(|x| v.id == x))
            .flat_map(|v| &v.cidrs);
        let subnets = self
            .subnets
            .values()
            .filter(move |s| of(&s.vpc_id))
            .flat_map(|s| &s.cidrs);
        let local = self
            .route_tables
            .values()
            .filter(move |t| of(&t.vpc_id))
            .flat_map(|t| &t.routes)
            .filter_map(|r| match (&r.destination, &r.target) {
                (RouteDestination::Cidr(n), RouteTarget::Local) => Some(n),
                _ => None,
            });
        vpcs.chain(subnets).chain(local)
    }

    pub(crate) fn acl_of(&self, eni: &Interface) -> Result<(&NetworkAcl, &'static str), Missing> {
        let subnet = eni.subnet_id.clone().unwrap_or_default();
        if let Some(acl) = self
            .acl_by_subnet
            .get(&subnet)
            .and_then(|a| self.network_acls.get(a))
        {
            return Ok((
                acl,
                if acl.is_default {
                    "the VPC's default network ACL"
                } else {
                    "explicit association"
                },
            ));
        }
        if let Some(acl) = self
            .vpc_of(eni)
            .and_then(|v| self.default_acl_by_vpc.get(&v))
            .and_then(|a| self.network_acls.get(a))
        {
            return Ok((
                acl,
                "the VPC's default network ACL (no explicit association)",
            ));
        }
        Err(Missing {
            what: format!("the network ACL of {}", if subnet.is_empty() { &eni.id } else { &subnet }),
            export: format!(
                "aws ec2 describe-network-acls --filters Name=association.subnet-id,Values={} --output json",
                if subnet.is_empty() { "SUBNET_ID" } else { &subnet }
            ),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn acl_step(
        &self,
        eni: &Interface,
        egress: bool,
        peer: &Seen,
        flow: FlowSpec,
        side: Side,
        walk: &mut Walk,
        ctx: &fix::Context<'_>,
    ) {
        let subnet = eni.subnet_id.clone().unwrap_or_else(|| eni.id.clone());
        let (dir, prep) = if egress {
            ("outbound", "to")
        } else {
            ("inbound", "from")
        };
        let peer_text = match peer {
            Seen::Known(n) => display_net(n),
            Seen::Unknown(_) => "an unknown public address".into(),
        };
        let test = format!("{dir} {} {prep} {peer_text} ({subnet})", flow.label());
        let (acl, how) = match self.acl_of(eni) {
            Ok(x) => x,
            Err(m) => {
                walk.step(
                    CloudLayer::Nacl,
                    side,
                    &subnet,
                    test,
                    StepResult::Unknown,
                    None,
                    vec![m.what.clone()],
                );
                walk.unknown(CloudLayer::Nacl, vec![m]);
                return;
            }
        };
        let mut evidence = vec![format!(
            "{} applies to {subnet} ({how}); lowest rule number wins",
            acl.id
        )];
        let icmp = flow.icmp_request();
        for e in acl
            .entries
            .iter()
            .filter(|e| e.egress == egress && e.cidr.addr().is_ipv6() == flow.ipv6)
        {
            if !acl_proto_match(e, flow, icmp, None) {
                continue;
            }
            let hit = match peer {
                // A deny over part of a range blocks the range.
                Seen::Known(a) => covers(&e.cidr, a) || (overlaps(&e.cidr, a) && !e.allow),
                Seen::Unknown(m) => {
                    if e.cidr.prefix_len() == 0 {
                        true
                    } else {
                        evidence.push(format!(
                            "#{} {}: may match; {}",
                            e.number,
                            describe_entry(e),
                            m.what
                        ));
                        walk.step(
                            CloudLayer::Nacl,
                            side,
                            &acl.id,
                            test,
                            StepResult::Unknown,
                            None,
                            evidence,
                        );
                        walk.unknown(CloudLayer::Nacl, vec![m.clone()]);
                        return;
                    }
                }
            };
            if !hit {
                continue;
            }
            let rule = format!("#{} {}", e.number, describe_entry(e));
            if e.allow {
                evidence.push(format!("{rule} matches first"));
                walk.step(
                    CloudLayer::Nacl,
                    side,
                    &acl.id,
                    test,
                    StepResult::Allow,
                    Some(rule),
                    evidence,
                );
                return;
            }
            evidence.push(format!("{rule} matches first"));
            let would = acl
                .entries
                .iter()
                .filter(|x| x.egress == egress && x.allow && x.number > e.number)
                .find(|x| {
                    acl_proto_match(x, flow, icmp, None)
                        && matches!(peer, Seen::Known(a) if covers(&x.cidr, a))
                })
                .map(|x| RuleRef {
                    resource: acl.id.clone(),
                    rule: format!(
                        "#{} {}: would allow it, but #{} is evaluated first (lowest number wins)",
                        x.number,
                        describe_entry(x),
                        e.number
                    ),
                });
            let cause = if e.number >= 32767 {
                Cause::CloudNoAllowRule
            } else {
                Cause::CloudDenyRule
            };
            forward_denied(
                walk,
                ctx,
                (acl, egress, e.number),
                (side, cause),
                test,
                (rule, would),
                evidence,
            );
            return;
        }
        let rule = format!("#* deny all (no {dir} entry matches)");
        evidence.push(rule.clone());
        forward_denied(
            walk,
            ctx,
            (acl, egress, 32767),
            (side, Cause::CloudNoAllowRule),
            test,
            (rule, None),
            evidence,
        );
    }

    /// The reply leg through one NACL: `egress` is the destination subnet sending the reply,
    /// otherwise the source subnet receiving it. For TCP/UDP the reply goes to the client's
    /// ephemeral port, unknown, so every port of [`EPHEMERAL`] must be allowed.
    fn reply_acl_step(
        &self,
        eni: &Interface,
        egress: bool,
        peer: &Seen,
        flow: FlowSpec,
        walk: &mut Walk,
        ctx: &fix::Context<'_>,
    ) {
        let subnet = eni.subnet_id.clone().unwrap_or_else(|| eni.id.clone());
        let test = reply_test(&subnet, egress, peer, flow);
        let (acl, how) = match self.acl_of(eni) {
            Ok(x) => x,
            Err(m) => {
                walk.step(
                    CloudLayer::Nacl,
                    Side::Reply,
                    &subnet,
                    test,
                    StepResult::Unknown,
                    None,
                    vec![m.what.clone()],
                );
                walk.unknown(CloudLayer::Nacl, vec![m]);
                return;
            }
        };
        let mut evidence = vec![format!(
            "{} applies to {subnet} ({how}); NACLs are stateless, so the reply needs its own allow",
            acl.id
        )];
        if flow.protocol != Protocol::Icmp {
            evidence.push(format!(
                "model: the client's ephemeral port is unknown; the reply is allowed only if all of {}-{} (Linux default) is",
                EPHEMERAL.0, EPHEMERAL.1
            ));
        }
        let icmp = flow.icmp_reply();
        // Undecided port intervals; ICMP uses one pseudo-interval.
        let mut open: Vec<(u16, u16)> = vec![if flow.protocol == Protocol::Icmp {
            (0, 0)
        } else {
            EPHEMERAL
        }];
        let mut allowed_by: Vec<String> = Vec::new();
        for e in acl
            .entries
            .iter()
            .filter(|e| e.egress == egress && e.cidr.addr().is_ipv6() == flow.ipv6)
        {
            if open.is_empty() {
                break;
            }
            if !acl_proto_match(e, flow, icmp, Some(())) {
                continue;
            }
            let applies = match peer {
                Seen::Known(a) => covers(&e.cidr, a) || (!e.allow && overlaps(&e.cidr, a)),
                Seen::Unknown(m) => {
                    if e.cidr.prefix_len() == 0 {
                        true
                    } else {
                        evidence.push(format!(
                            "#{} {}: may match; {}",
                            e.number,
                            describe_entry(e),
                            m.what
                        ));
                        walk.step(
                            CloudLayer::Nacl,
                            Side::Reply,
                            &acl.id,
                            test,
                            StepResult::Unknown,
                            None,
                            evidence,
                        );
                        walk.unknown(CloudLayer::Nacl, vec![m.clone()]);
                        return;
                    }
                }
            };
            if !applies {
                continue;
            }
            let range = match (e.protocol, flow.protocol) {
                (RuleProtocol::All, _) | (_, Protocol::Icmp) => (0u16, u16::MAX),
                _ => e.ports.unwrap_or((0, u16::MAX)),
            };
            let (hit, rest) = split(&open, range);
            if hit.is_empty() {
                continue;
            }
            let rule = format!("#{} {}", e.number, describe_entry(e));
            if e.allow {
                allowed_by.push(rule);
                open = rest;
                continue;
            }
            evidence.push(format!("{rule} denies {}", describe_intervals(&hit, flow)));
            if !allowed_by.is_empty() {
                evidence.push(format!("allowed before it: {}", allowed_by.join("; ")));
            }
            let blocking = format!(
                "{rule} (blocks the reply: {})",
                describe_intervals(&hit, flow)
            );
            reply_denied(
                walk,
                ctx,
                (acl, egress, e.number),
                test,
                (rule, blocking),
                evidence,
            );
            return;
        }
        if open.is_empty() {
            evidence.push(format!("allowed by {}", allowed_by.join("; ")));
            walk.step(
                CloudLayer::Nacl,
                Side::Reply,
                &acl.id,
                test,
                StepResult::Allow,
                allowed_by.last().cloned(),
                evidence,
            );
            return;
        }
        let rule = "#* deny all".to_string();
        evidence.push(format!(
            "no entry allows {}",
            describe_intervals(&open, flow)
        ));
        if !allowed_by.is_empty() {
            evidence.push(format!("allowed only in part by {}", allowed_by.join("; ")));
        }
        let blocking = format!(
            "{rule} (no entry allows the reply to {})",
            describe_intervals(&open, flow)
        );
        reply_denied(
            walk,
            ctx,
            (acl, egress, 32767),
            test,
            (rule, blocking),
            evidence,
        );
    }

    pub(crate) fn route_table_of(
        &self,
        eni: &Interface,
    ) -> Result<(&RouteTable, &'static str), Missing> {
        let subnet = eni.subnet_id.clone().unwrap_or_default();
        if let Some(rt) = self
            .route_table_by_subnet
            .get(&subnet)
            .and_then(|r| self.route_tables.get(r))
        {
            return Ok((rt, "explicit subnet association"));
        }
        if let Some(rt) = self
            .vpc_of(eni)
            .and_then(|v| self.main_route_table_by_vpc.get(&v))
            .and_then(|r| self.route_tables.get(r))
        {
            return Ok((rt, MAIN_TABLE));
        }
        Err(Missing {
            what: format!(
                "the route table of {}",
                if subnet.is_empty() { &eni.id } else { &subnet }
            ),
            export: format!(
                "aws ec2 describe-route-tables --filters Name=vpc-id,Values={} --output json",
                self.vpc_of(eni).unwrap_or_else(|| "VPC_ID".into())
            ),
        })
    }

    /// A subnet on the main table that lacks a route for `dst`: another table of the VPC whose
    /// longest match for `dst` is a live route (for an address outside the VPC from an
    /// interface without a public address, a NAT gateway's route is preferred and an internet
    /// gateway's is no candidate: it would not carry the flow).
    fn table_with_route<'a>(
        &'a self,
        eni: &Interface,
        main: &RouteTable,
        dst: &End,
    ) -> Option<(&'a RouteTable, &'a Route)> {
        eni.subnet_id.as_ref()?;
        let public = !eni.public_ips.is_empty();
        let mut tables: Vec<&RouteTable> = self
            .route_tables
            .values()
            .filter(|t| t.id != main.id && t.vpc_id.is_some() && t.vpc_id == main.vpc_id)
            .collect();
        tables.sort_by(|a, b| a.id.cmp(&b.id));
        tables
            .into_iter()
            .filter_map(|t| {
                let (best, unknown) = self.longest_match(t, dst);
                let (len, _, r) = best?;
                let target = r.target.id();
                let usable = r.active
                    && unknown.is_empty()
                    && r.target != RouteTarget::Local
                    && (public || !target.starts_with("igw-"));
                let rank = u8::from(!public && target.starts_with("nat-"));
                usable.then_some(((rank, len), t, r))
            })
            .max_by_key(|(k, _, _)| *k)
            .map(|(_, t, r)| (t, r))
    }

    /// The route table's longest match for `dst`. For the same prefix a static route beats a
    /// prefix-list route, which beats a propagated one; also the prefix lists whose entries are
    /// not exported.
    fn longest_match<'a>(
        &self,
        rt: &'a RouteTable,
        dst: &End,
    ) -> (Option<(u8, u8, &'a Route)>, Vec<String>) {
        // Longest prefix first; for the same prefix a static route beats a prefix-list route,
        // which beats a propagated one (VPC user guide, "How route priority works").
        let mut best: Option<(u8, u8, &'a Route)> = None;
        let mut unknown_lists = Vec::new();
        for r in &rt.routes {
            let len = match &r.destination {
                RouteDestination::Cidr(n) => covers(n, &dst.addr).then_some(n.prefix_len()),
                RouteDestination::PrefixList(id) => {
                    match self.prefix_lists.get(id).and_then(|l| l.entries.as_ref()) {
                        Some(entries) => entries
                            .iter()
                            .filter(|e| covers(e, &dst.addr))
                            .map(|e| e.prefix_len())
                            .max(),
                        None => {
                            unknown_lists.push(id.clone());
                            None
                        }
                    }
                }
            };
            if let Some(len) = len {
                let rank = match (&r.destination, r.propagated) {
                    (_, true) => 0,
                    (RouteDestination::PrefixList(_), false) => 1,
                    (RouteDestination::Cidr(_), false) => 2,
                };
                if best.is_none_or(|(l, k, _)| (len, rank) > (l, k)) {
                    best = Some((len, rank, r));
                }
            }
        }
        (best, unknown_lists)
    }

    /// The route step when the longest match points into a peering connection.
    fn peering_route_step(
        &self,
        eni: &Interface,
        dst: &End,
        side: Side,
        walk: &mut Walk,
        (rt, pcx, rule, test): (&RouteTable, &String, String, String),
        mut evidence: Vec<String>,
    ) -> bool {
        if let Some(p) = self.peerings.get(pcx) {
            if p.status != "active" {
                let fix = Err(format!("peering connection {pcx} is {}: accept it (`aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id {pcx}`) or point the route at an active one", p.status));
                walk.step(
                    CloudLayer::Route,
                    side,
                    &rt.id,
                    test,
                    StepResult::Deny,
                    Some(rule.clone()),
                    evidence,
                );
                walk.blocks.push(Block {
                    layer: CloudLayer::Route,
                    side,
                    cause: Cause::CloudBlackholeRoute,
                    blocking: RuleRef {
                        resource: pcx.clone(),
                        rule: format!("{rule}: peering status {}", p.status),
                    },
                    would_allow: None,
                    fix,
                });
                return false;
            }
            let own_vpc = self.vpc_of(eni);
            let far = if p.requester.vpc_id == own_vpc {
                &p.accepter
            } else {
                &p.requester
            };
            if !far.cidrs.is_empty() && !far.cidrs.iter().any(|c| covers(c, &dst.addr)) {
                let rule = format!(
                    "{rule}: {pcx} leads to {} ({}), which does not contain {}",
                    far.vpc_id.clone().unwrap_or_default(),
                    far.cidrs
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    display_net(&dst.addr)
                );
                walk.step(
                    CloudLayer::Route,
                    side,
                    &rt.id,
                    test,
                    StepResult::Deny,
                    Some(rule.clone()),
                    evidence,
                );
                walk.blocks.push(Block { layer: CloudLayer::Route, side, cause: Cause::CloudNoRoute, blocking: RuleRef { resource: rt.id.clone(), rule }, would_allow: None, fix: Err("traffic sent into a peering connection must be for the peer VPC's ranges; route this destination elsewhere".into()) });
                return false;
            }
            evidence.push(format!("{pcx} is active"));
        } else {
            evidence.push(format!(
                "{pcx} is not exported; the route's state (active) is trusted"
            ));
        }
        walk.step(
            CloudLayer::Route,
            side,
            &rt.id,
            test,
            StepResult::Allow,
            Some(rule),
            evidence,
        );
        true
    }

    /// The reply of a flow that arrived through an internet gateway at `public` must leave by an
    /// internet gateway; true (and the block recorded) when the matched route sends it elsewhere.
    fn misrouted_public_reply(
        &self,
        eni: &Interface,
        dst: &End,
        side: Side,
        walk: &mut Walk,
        (rt, route, rule, test, public): (&RouteTable, &Route, &str, &str, std::net::IpAddr),
        evidence: &mut Vec<String>,
    ) -> bool {
        if route.target.id().starts_with("igw-") {
            return false;
        }
        let subnet = eni.subnet_id.clone().unwrap_or_else(|| eni.id.clone());
        let rule = format!(
            "{rule}: the request reached {public} through the internet gateway, but the reply to {} leaves by {}, not by an internet gateway",
            display_net(&dst.addr),
            route.target.id()
        );
        evidence.push(
            "a public (Elastic) address works only when the reply goes back through the internet gateway; through a NAT gateway it leaves from another address and the client drops it".into(),
        );
        walk.step(
            CloudLayer::Route,
            side,
            &rt.id,
            test.to_string(),
            StepResult::Deny,
            Some(rule.clone()),
            std::mem::take(evidence),
        );
        walk.blocks.push(Block {
            layer: CloudLayer::Route,
            side,
            cause: Cause::CloudNoRoute,
            blocking: RuleRef {
                resource: rt.id.clone(),
                rule,
            },
            would_allow: None,
            fix: Err(format!(
                "{subnet} does not route replies to the internet through an internet gateway: reach {} by its private address (through a load balancer or the NAT's VPC), move it to a public subnet, or route {} through the VPC's internet gateway in {} (`aws ec2 create-route --route-table-id {} --destination-cidr-block {} --gateway-id IGW_ID`)",
                eni.id,
                display_net(&dst.addr),
                rt.id,
                rt.id,
                dst.addr
            )),
        });
        true
    }

    /// Returns whether the route leads into a peered VPC whose inventory is not exported.
    fn route_step(&self, eni: &Interface, dst: &End, side: Side, walk: &mut Walk) -> bool {
        self.route_step_via(eni, dst, side, walk, None)
    }

    /// [`Self::route_step`]; `arrived_public`: the reply of a flow that arrived through an
    /// internet gateway at this public address, which must leave by an internet gateway.
    fn route_step_via(
        &self,
        eni: &Interface,
        dst: &End,
        side: Side,
        walk: &mut Walk,
        arrived_public: Option<std::net::IpAddr>,
    ) -> bool {
        let subnet = eni.subnet_id.clone().unwrap_or_else(|| eni.id.clone());
        let test = format!("route from {subnet} to {}", display_net(&dst.addr));
        let (rt, how) = match self.route_table_of(eni) {
            Ok(x) => x,
            Err(m) => {
                walk.step(
                    CloudLayer::Route,
                    side,
                    &subnet,
                    test,
                    StepResult::Unknown,
                    None,
                    vec![m.what.clone()],
                );
                walk.unknown(CloudLayer::Route, vec![m]);
                return false;
            }
        };
        let mut evidence = vec![format!(
            "{} applies to {subnet} ({how}); longest prefix wins",
            rt.id
        )];
        let (best, unknown_lists) = self.longest_match(rt, dst);
        let max_len = dst.addr.max_prefix_len();
        if !unknown_lists.is_empty() && best.is_none_or(|(l, _, _)| l < max_len) {
            let missing: Vec<Missing> = unknown_lists
                .iter()
                .map(|id| Missing {
                    what: format!("the entries of prefix list {id} (a route destination in {})", rt.id),
                    export: format!("aws ec2 get-managed-prefix-list-entries --prefix-list-id {id} --output json > {id}.json"),
                })
                .collect();
            evidence.push(format!(
                "routes to prefix lists {} may be more specific",
                unknown_lists.join(", ")
            ));
            walk.step(
                CloudLayer::Route,
                side,
                &rt.id,
                test,
                StepResult::Unknown,
                None,
                evidence,
            );
            walk.unknown(CloudLayer::Route, missing);
            return false;
        }
        let Some((len, _, route)) = best else {
            let rule = format!("no route matches {}", display_net(&dst.addr));
            evidence.push(format!(
                "routes: {}",
                rt.routes
                    .iter()
                    .map(describe_route)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            let fix = match (how, self.table_with_route(eni, rt, dst)) {
                (MAIN_TABLE, Some((other, route))) => fix::associate(eni, rt, other, route, dst),
                _ => fix::no_route(self, rt, dst),
            };
            walk.deny(
                Denied {
                    layer: CloudLayer::Route,
                    side,
                    cause: Cause::CloudNoRoute,
                    resource: rt.id.clone(),
                    test,
                    rule,
                    blocking: None,
                    evidence,
                },
                fix,
            );
            return false;
        };
        let rule = describe_route(route);
        evidence.push(format!("{rule} is the longest match (/{len})"));
        if !route.active {
            // No re-point or covering route: a subnet on the main table can move to a table of
            // the VPC whose route for `dst` is live.
            let fix = fix::blackhole(self, rt, route, dst).or_else(|why| {
                match (how, self.table_with_route(eni, rt, dst)) {
                    (MAIN_TABLE, Some((other, live))) => fix::associate(eni, rt, other, live, dst),
                    _ => Err(why),
                }
            });
            walk.deny(
                Denied {
                    layer: CloudLayer::Route,
                    side,
                    cause: Cause::CloudBlackholeRoute,
                    resource: rt.id.clone(),
                    test,
                    blocking: Some(format!(
                        "{rule}: state {} (its target is gone)",
                        route.state
                    )),
                    rule,
                    evidence,
                },
                fix,
            );
            return false;
        }
        if let RouteTarget::Peering(pcx) = &route.target {
            return self.peering_route_step(eni, dst, side, walk, (rt, pcx, rule, test), evidence);
        }
        if let Some(public) = arrived_public {
            if self.misrouted_public_reply(
                eni,
                dst,
                side,
                walk,
                (rt, route, &rule, &test, public),
                &mut evidence,
            ) {
                return false;
            }
        }
        if route.target != RouteTarget::Local {
            evidence.push(format!(
                "leaves the VPC via {}; what lies beyond it is not evaluated",
                route.target.id()
            ));
        }
        walk.step(
            CloudLayer::Route,
            side,
            &rt.id,
            test,
            StepResult::Allow,
            Some(rule),
            evidence,
        );
        false
    }
}

/// How [`Estate::route_table_of`] names the main-table fallback.
const MAIN_TABLE: &str = "the VPC's main route table (no explicit association)";

/// Records a forward-leg NACL deny by `rule` (`below`: the entry the fix goes above): step, fix, block.
fn forward_denied(
    walk: &mut Walk,
    ctx: &fix::Context<'_>,
    (acl, egress, below): (&NetworkAcl, bool, u32),
    (side, cause): (Side, Cause),
    test: String,
    (rule, would_allow): (String, Option<RuleRef>),
    evidence: Vec<String>,
) {
    let fix = fix::acl_forward(ctx, acl, egress, below, &walk.taken(&acl.id, egress));
    walk.reserve(&fix);
    walk.step(
        CloudLayer::Nacl,
        side,
        &acl.id,
        test,
        StepResult::Deny,
        Some(rule.clone()),
        evidence,
    );
    walk.blocks.push(Block {
        layer: CloudLayer::Nacl,
        side,
        cause,
        blocking: RuleRef {
            resource: acl.id.clone(),
            rule,
        },
        would_allow,
        fix,
    });
}

/// Records a NACL entry (`below`: the entry the fix goes above) that blocks the reply: the step
/// shows `rule`, the block names `blocking`.
fn reply_denied(
    walk: &mut Walk,
    ctx: &fix::Context<'_>,
    (acl, egress, below): (&NetworkAcl, bool, u32),
    test: String,
    (rule, blocking): (String, String),
    evidence: Vec<String>,
) {
    let fix = fix::acl_reply(ctx, acl, egress, below, &walk.taken(&acl.id, egress));
    walk.reserve(&fix);
    walk.step(
        CloudLayer::Nacl,
        Side::Reply,
        &acl.id,
        test,
        StepResult::Deny,
        Some(rule),
        evidence,
    );
    walk.blocks.push(Block {
        layer: CloudLayer::Nacl,
        side: Side::Reply,
        cause: Cause::CloudNaclReturnBlocked,
        blocking: RuleRef {
            resource: acl.id.clone(),
            rule: blocking,
        },
        would_allow: None,
        fix,
    });
}

/// What a reply NACL step tests, e.g. `reply inbound tcp 32768-60999 from 10.0.1.5 (subnet-1)`.
fn reply_test(subnet: &str, egress: bool, peer: &Seen, flow: FlowSpec) -> String {
    let (dir, prep) = if egress {
        ("reply outbound", "to")
    } else {
        ("reply inbound", "from")
    };
    let peer_text = match peer {
        Seen::Known(n) => display_net(n),
        Seen::Unknown(_) => "an unknown public address".into(),
    };
    let what = match flow.protocol {
        Protocol::Icmp => format!("icmp echo reply (type {})", flow.icmp_reply().0),
        p => format!("{p} {}-{}", EPHEMERAL.0, EPHEMERAL.1),
    };
    format!("{dir} {what} {prep} {peer_text} ({subnet})")
}

/// The destination is in a peered VPC that the exports do not cover: its NACL and groups are
/// unknown.
fn peered_destination_unknown(dst: &End, flow: FlowSpec, walk: &mut Walk) {
    let a = dst.addr.addr().to_string();
    walk.step(
        CloudLayer::Sg,
        Side::DestinationIngress,
        &dst.typed,
        format!("ingress {} at {}", flow.label(), display_net(&dst.addr)),
        StepResult::Unknown,
        None,
        vec!["the destination is in a peered VPC that the exports do not cover".into()],
    );
    walk.unknown(
        CloudLayer::Sg,
        vec![
            Missing {
                what: format!("the network interface with address {a} in the peered VPC"),
                export: export_interface(&a),
            },
            Missing {
                what: "the peered VPC's security groups and network ACLs".into(),
                export: "aws ec2 describe-security-groups --output json; aws ec2 describe-network-acls --output json (run in the peer account/region)".into(),
            },
        ],
    );
}

fn skip_same_subnet(walk: &mut Walk, eni: &Interface, side: Side, dir: &str) {
    let subnet = eni.subnet_id.clone().unwrap_or_default();
    walk.step(
        CloudLayer::Nacl,
        side,
        &subnet,
        format!("{dir} network ACL of {subnet}"),
        StepResult::Skip,
        None,
        vec![
            "both ends are in the same subnet: network ACLs apply only at the subnet boundary"
                .into(),
        ],
    );
}

/// Protocol and port/type match of a NACL entry. `reply` set: ports are checked by the caller
/// over ranges, so only the protocol (and ICMP type) is checked here.
fn acl_proto_match(e: &AclEntry, flow: FlowSpec, icmp: (i64, i64), reply: Option<()>) -> bool {
    match (e.protocol, flow.protocol) {
        (RuleProtocol::All, _) => true,
        (RuleProtocol::Tcp, Protocol::Tcp) | (RuleProtocol::Udp, Protocol::Udp) => {
            if reply.is_some() {
                return true;
            }
            e.ports
                .is_none_or(|(f, t)| f <= flow.port && flow.port <= t)
        }
        (RuleProtocol::Icmp, Protocol::Icmp) if !flow.ipv6 => e
            .icmp
            .is_none_or(|(t, c)| (t == -1 || t == icmp.0) && (c == -1 || c == icmp.1)),
        (RuleProtocol::Icmpv6, Protocol::Icmp) if flow.ipv6 => e
            .icmp
            .is_none_or(|(t, c)| (t == -1 || t == icmp.0) && (c == -1 || c == icmp.1)),
        _ => false,
    }
}

/// Port intervals, inclusive.
type Intervals = Vec<(u16, u16)>;

/// Splits undecided intervals into the part inside `range` and the rest.
fn split(open: &[(u16, u16)], range: (u16, u16)) -> (Intervals, Intervals) {
    let (mut hit, mut rest) = (Vec::new(), Vec::new());
    for &(a, b) in open {
        let (lo, hi) = (a.max(range.0), b.min(range.1));
        if lo > hi {
            rest.push((a, b));
            continue;
        }
        hit.push((lo, hi));
        if a < lo {
            rest.push((a, lo - 1));
        }
        if hi < b {
            rest.push((hi + 1, b));
        }
    }
    (hit, rest)
}

fn describe_intervals(v: &[(u16, u16)], flow: FlowSpec) -> String {
    if flow.protocol == Protocol::Icmp {
        return format!("icmp echo reply (type {})", flow.icmp_reply().0);
    }
    v.iter()
        .map(|(a, b)| {
            if a == b {
                format!("{} {a}", flow.protocol)
            } else {
                format!("{} {a}-{b}", flow.protocol)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn family(n: &IpNet) -> &'static str {
    if n.addr().is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

pub(crate) fn describe_peer(p: &SgPeer) -> String {
    match p {
        SgPeer::Cidr(n) => n.to_string(),
        SgPeer::PrefixList(id) => format!("prefix list {id}"),
        SgPeer::Group {
            group_id,
            peering: None,
        } => format!("members of {group_id}"),
        SgPeer::Group {
            group_id,
            peering: Some(p),
        } => format!("members of {group_id} (via {p})"),
    }
}

fn describe_route(r: &Route) -> String {
    let dest = match &r.destination {
        RouteDestination::Cidr(n) => n.to_string(),
        RouteDestination::PrefixList(id) => id.clone(),
    };
    format!("{dest} -> {} ({})", r.target.id(), r.state)
}

/// Turns the walk into the verdict and the combined fix.
fn conclude(
    src: &End,
    dst: &End,
    flow: FlowSpec,
    blocks: Vec<Block>,
    walk: &Walk,
) -> (Verdict, Vec<FixChange>) {
    let what = format!("{} from {} to {}", flow.label(), src.typed, dst.typed);
    let Some(first) = blocks.first() else {
        if !walk.missing.is_empty() {
            let v = Verdict::unknown(
                walk.first_unknown_layer,
                walk.missing.clone(),
                format!(
                    "{what}: cannot be decided from the exports; export what `unknown` lists and run again"
                ),
            );
            return (v, Vec::new());
        }
        return (
            Verdict::allowed(format!(
                "{what} is allowed by every security group, network ACL and route on the path"
            )),
            Vec::new(),
        );
    };
    let where_ = match first.side {
        Side::SourceEgress => "leaving the source",
        Side::Path => "on the way",
        Side::DestinationIngress => "arriving at the destination",
        Side::Reply => "on the reply",
    };
    let mut v = Verdict::blocked(
        first.layer,
        first.cause,
        first.side,
        first.blocking.clone(),
        format!(
            "{what} is blocked {where_} by {} ({}){}",
            first.blocking.resource,
            first.blocking.rule,
            if blocks.len() > 1 {
                format!(
                    "; {} more block(s) on the path, all fixed below",
                    blocks.len() - 1
                )
            } else {
                String::new()
            }
        ),
    );
    v.would_allow = first.would_allow.clone();
    v.unknown = walk.missing.clone();
    let mut fix = Fix::default();
    let mut changes = Vec::new();
    let mut descriptions = Vec::new();
    let mut no_fix = Vec::new();
    let mut rollback_groups = Vec::new();
    for b in &blocks {
        match &b.fix {
            Ok(p) => {
                descriptions.push(p.description.clone());
                fix.commands.extend(p.commands.iter().cloned());
                rollback_groups.push(p.rollback.clone());
                for c in &p.prestate {
                    if !v.prestate.contains(c) {
                        v.prestate.push(c.clone());
                    }
                }
                changes.extend(p.changes.iter().cloned());
            }
            Err(why) => no_fix.push(why.clone()),
        }
    }
    // Undo in reverse order of application.
    for group in rollback_groups.into_iter().rev() {
        v.rollback.extend(group);
    }
    if !no_fix.is_empty() {
        v.no_fix_reason = Some(no_fix.join("; "));
    }
    if !fix.commands.is_empty() || !descriptions.is_empty() {
        fix.description = descriptions.join(" ");
        v.fix = Some(fix);
    }
    (v, changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: u16) -> FlowSpec {
        FlowSpec {
            protocol: Protocol::Tcp,
            port,
            ipv6: false,
        }
    }

    #[test]
    fn split_keeps_what_a_range_does_not_decide() {
        assert_eq!(
            split(&[(32768, 60999)], (1024, 49151)),
            (vec![(32768, 49151)], vec![(49152, 60999)])
        );
        assert_eq!(split(&[(10, 20)], (30, 40)), (vec![], vec![(10, 20)]));
        assert_eq!(
            split(&[(10, 20)], (12, 15)),
            (vec![(12, 15)], vec![(10, 11), (16, 20)])
        );
    }

    #[test]
    fn protocol_and_port_matching() {
        let icmp = (8, 0);
        assert!(proto_port_match(
            RuleProtocol::All,
            None,
            None,
            tcp(1),
            icmp
        ));
        assert!(proto_port_match(
            RuleProtocol::Tcp,
            Some(440),
            Some(450),
            tcp(443),
            icmp
        ));
        assert!(!proto_port_match(
            RuleProtocol::Udp,
            Some(443),
            Some(443),
            tcp(443),
            icmp
        ));
        assert!(!proto_port_match(
            RuleProtocol::Tcp,
            Some(80),
            Some(80),
            tcp(443),
            icmp
        ));
        let ping = FlowSpec {
            protocol: Protocol::Icmp,
            port: 0,
            ipv6: false,
        };
        assert!(proto_port_match(
            RuleProtocol::Icmp,
            Some(-1),
            Some(-1),
            ping,
            icmp
        ));
        assert!(proto_port_match(
            RuleProtocol::Icmp,
            Some(8),
            Some(0),
            ping,
            icmp
        ));
        assert!(!proto_port_match(
            RuleProtocol::Icmp,
            Some(0),
            Some(-1),
            ping,
            icmp
        ));
        assert!(!proto_port_match(
            RuleProtocol::Icmpv6,
            Some(-1),
            Some(-1),
            ping,
            icmp
        ));
    }

    #[test]
    fn people_read_rules_in_aws_terms() {
        assert_eq!(
            describe_ports(RuleProtocol::Tcp, Some(443), Some(443)),
            "tcp 443"
        );
        assert_eq!(describe_ports(RuleProtocol::All, None, None), "all");
        assert_eq!(
            describe_ports(RuleProtocol::Icmp, Some(8), Some(-1)),
            "icmp type 8 code -1"
        );
        let e = AclEntry {
            number: 100,
            protocol: RuleProtocol::Tcp,
            allow: false,
            egress: false,
            cidr: "10.0.0.0/8".parse().unwrap(),
            ports: Some((0, 65535)),
            icmp: None,
        };
        assert_eq!(describe_entry(&e), "deny tcp 0-65535 from 10.0.0.0/8");
    }
}
