//! Property: on random small estates (three subnets, a few security groups and network ACLs
//! with random rules), every proposed fix, applied to the model, makes the flow allowed and
//! allows no other (source, destination, port, protocol) that was denied before, except pairs
//! identical in the respects the change is about (same source or a source the change names by
//! subnet or group; same destination or one the change names by subnet or group; the same
//! protocol; the same port unless the change is a reply entry, which opens ephemeral ports).
#![allow(clippy::unwrap_used, missing_docs)]

use ipnet::IpNet;
use netdiag_cloud::aws::model::*;
use netdiag_cloud::aws::{Estate, FixChange};
use netdiag_cloud::flow::Query;
use proptest::prelude::*;
use std::net::IpAddr;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Clone>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize].clone()
    }
}

const PORTS: [u16; 3] = [22, 443, 8080];
const GROUPS: [&str; 3] = ["sg-a", "sg-b", "sg-c"];

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn random_peer_net(r: &mut Rng, ips: &[IpAddr]) -> IpNet {
    match r.below(4) {
        0 => net("10.0.0.0/16"),
        1 => net(&format!("10.0.{}.0/24", r.below(3))),
        _ => IpNet::from(r.pick(ips)),
    }
}

fn random_estate(seed: u64) -> (Estate, Vec<IpAddr>) {
    let mut r = Rng(seed | 1);
    let mut e = Estate::default();
    e.vpcs.insert(
        "vpc-p".into(),
        Vpc {
            id: "vpc-p".into(),
            cidrs: vec![net("10.0.0.0/16")],
        },
    );
    for s in 0..3 {
        let id = format!("subnet-{s}");
        e.subnets.insert(
            id.clone(),
            Subnet {
                id,
                vpc_id: Some("vpc-p".into()),
                cidrs: vec![net(&format!("10.0.{s}.0/24"))],
            },
        );
    }
    let n = 3 + r.below(3) as usize;
    let mut ips = Vec::new();
    for k in 0..n {
        let s = r.below(3);
        let ip: IpAddr = format!("10.0.{s}.{}", 10 + k).parse().unwrap();
        ips.push(ip);
        let mut groups: Vec<String> = GROUPS
            .iter()
            .filter(|_| r.below(2) == 0)
            .map(|g| g.to_string())
            .collect();
        if groups.is_empty() {
            groups.push(r.pick(&GROUPS).to_string());
        }
        e.interfaces.push(Interface {
            id: format!("eni-{k}"),
            instance_id: Some(format!("i-{k}")),
            device_index: 0,
            subnet_id: Some(format!("subnet-{s}")),
            vpc_id: Some("vpc-p".into()),
            private_ips: vec![ip],
            public_ips: vec![],
            groups,
        });
    }
    e.has_inventory = true;
    let protos = [RuleProtocol::Tcp, RuleProtocol::Udp, RuleProtocol::All];
    for g in GROUPS {
        let mut sg = SecurityGroup {
            id: g.into(),
            name: g.into(),
            vpc_id: Some("vpc-p".into()),
            ..Default::default()
        };
        for ingress in [true, false] {
            for _ in 0..r.below(4) {
                let protocol = r.pick(&protos);
                let port = i64::from(r.pick(&PORTS));
                let (from, to) = if r.below(3) == 0 {
                    (port - 20, port + 20)
                } else {
                    (port, port)
                };
                let peer = if r.below(3) == 0 {
                    SgPeer::Group {
                        group_id: r.pick(&GROUPS).to_string(),
                        peering: None,
                    }
                } else {
                    SgPeer::Cidr(random_peer_net(&mut r, &ips))
                };
                let rule = SgRule {
                    protocol,
                    from_port: Some(from),
                    to_port: Some(to),
                    peer,
                };
                if ingress {
                    sg.ingress.push(rule)
                } else {
                    sg.egress.push(rule)
                }
            }
        }
        e.security_groups.insert(g.into(), sg);
    }
    for s in 0..3 {
        let id = format!("acl-{s}");
        let mut acl = NetworkAcl {
            id: id.clone(),
            vpc_id: Some("vpc-p".into()),
            is_default: false,
            entries: vec![],
            subnets: vec![format!("subnet-{s}")],
        };
        for egress in [true, false] {
            let mut numbers = vec![50u32, 100, 150, 200, 250];
            for _ in 0..r.below(5) {
                let number = numbers.remove(r.below(numbers.len() as u64) as usize);
                let protocol = r.pick(&[RuleProtocol::Tcp, RuleProtocol::Udp, RuleProtocol::All]);
                let ports = match r.below(3) {
                    0 => Some((1024, 65535)),
                    1 => Some((0, 65535)),
                    _ => {
                        let p = r.pick(&PORTS);
                        Some((p, p))
                    }
                };
                acl.entries.push(AclEntry {
                    number,
                    protocol,
                    allow: r.below(3) != 0,
                    egress,
                    cidr: random_peer_net(&mut r, &ips),
                    ports,
                    icmp: None,
                });
            }
            acl.entries.push(AclEntry {
                number: 32767,
                protocol: RuleProtocol::All,
                allow: false,
                egress,
                cidr: net("0.0.0.0/0"),
                ports: None,
                icmp: None,
            });
        }
        acl.entries.sort_by_key(|x| x.number);
        e.network_acls.insert(id, acl);
    }
    e.route_tables.insert(
        "rtb-main".into(),
        RouteTable {
            id: "rtb-main".into(),
            vpc_id: Some("vpc-p".into()),
            main: true,
            subnets: vec![],
            routes: vec![Route {
                destination: RouteDestination::Cidr(net("10.0.0.0/16")),
                target: RouteTarget::Local,
                active: true,
                state: "active".into(),
                propagated: false,
            }],
        },
    );
    reindex(&mut e);
    (e, ips)
}

/// The estate's indexes are built by `load`; rebuild them the same way for a hand-made estate.
fn reindex(e: &mut Estate) {
    for (i, eni) in e.interfaces.iter().enumerate() {
        e.interface_by_id.insert(eni.id.clone(), i);
        for ip in &eni.private_ips {
            e.interface_by_private_ip.insert(*ip, i);
        }
        e.interfaces_by_instance
            .insert(eni.instance_id.clone().unwrap(), vec![i]);
    }
    for acl in e.network_acls.values() {
        for s in &acl.subnets {
            e.acl_by_subnet.insert(s.clone(), acl.id.clone());
        }
    }
    e.main_route_table_by_vpc
        .insert("vpc-p".into(), "rtb-main".into());
}

fn allowed(e: &Estate, a: IpAddr, b: IpAddr, port: u16, proto: &str) -> bool {
    let q = Query::parse(&a.to_string(), &b.to_string(), &port.to_string(), proto).unwrap();
    e.diagnose(&q).unwrap().evaluation.verdict.allowed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn fixes_allow_the_flow_and_nothing_unrelated(seed in any::<u64>(), pick in any::<(u8, u8, u8, bool)>()) {
        let (estate, ips) = random_estate(seed);
        let src = ips[pick.0 as usize % ips.len()];
        let dst = ips[pick.1 as usize % ips.len()];
        prop_assume!(src != dst);
        let port = PORTS[pick.2 as usize % PORTS.len()];
        let proto = if pick.3 { "tcp" } else { "udp" };
        let q = Query::parse(&src.to_string(), &dst.to_string(), &port.to_string(), proto).unwrap();
        let d = estate.diagnose(&q).unwrap();
        let v = &d.evaluation.verdict;
        prop_assume!(!v.allowed && v.no_fix_reason.is_none());
        for c in v.fix.iter().flat_map(|f| &f.commands) {
            prop_assert!(!c.contains("0.0.0.0/0") && !c.contains("::/0"), "{}", c);
        }
        let mut fixed = estate.clone();
        for c in &d.changes {
            fixed.apply(c);
        }
        prop_assert!(allowed(&fixed, src, dst, port, proto), "fix did not work: {:#?}\n{:#?}", v, fixed.diagnose(&q).unwrap().evaluation.verdict);

        let eni = |ip: IpAddr| &estate.interfaces[estate.interface_by_private_ip[&ip]];
        let (se, de) = (eni(src), eni(dst));
        let mut src_groups: Vec<&str> = Vec::new(); // groups whose members the change admits as sources
        let mut dst_groups: Vec<&str> = Vec::new(); // groups whose members the change admits as destinations
        let mut reply_entry = false;
        // (subnet of the ACL, the entry's range): a stateless reply entry cannot tell a reply
        // from a new flow, so it also admits new flows between that subnet and that range.
        let mut reply_scopes: Vec<(String, IpNet)> = Vec::new();
        for c in &d.changes {
            match c {
                FixChange::SecurityGroupRule { group_id, ingress: true, rule } => {
                    dst_groups.push(group_id);
                    if let SgPeer::Group { group_id, .. } = &rule.peer { src_groups.push(group_id) }
                }
                FixChange::SecurityGroupRule { group_id, ingress: false, rule } => {
                    src_groups.push(group_id);
                    if let SgPeer::Group { group_id, .. } = &rule.peer { dst_groups.push(group_id) }
                }
                FixChange::NetworkAclEntry { acl_id, entry } => {
                    if entry.ports == Some((1024, 65535)) {
                        reply_entry = true;
                        reply_scopes.push((estate.network_acls[acl_id].subnets[0].clone(), entry.cidr));
                    }
                }
                // Route changes admit nothing a filter denies; the generated estates have no
                // stale routes or unassociated tables.
                FixChange::DeleteRoute { .. } | FixChange::AssociateRouteTable { .. } => {}
            }
        }
        for &a in &ips {
            for &b in &ips {
                if a == b { continue }
                for p in PORTS {
                    for pr in ["tcp", "udp"] {
                        if allowed(&estate, a, b, p, pr) || !allowed(&fixed, a, b, p, pr) { continue }
                        let (ae, be) = (eni(a), eni(b));
                        let same_src = a == src || ae.subnet_id == se.subnet_id || ae.groups.iter().any(|g| src_groups.contains(&g.as_str()));
                        let same_dst = b == dst || be.subnet_id == de.subnet_id || be.groups.iter().any(|g| dst_groups.contains(&g.as_str()));
                        let same_port = p == port || reply_entry;
                        let reply_scope = reply_scopes.iter().any(|(subnet, cidr)| {
                            (ae.subnet_id.as_deref() == Some(subnet.as_str()) && cidr.contains(&b))
                                || (be.subnet_id.as_deref() == Some(subnet.as_str()) && cidr.contains(&a))
                        });
                        prop_assert!(pr == proto && ((same_port && same_src && same_dst) || reply_scope),
                            "the fix for {} -> {} {}/{} also opened {} -> {} {}/{}: {:#?}", src, dst, proto, port, a, b, pr, p, d.changes);
                    }
                }
            }
        }
    }
}
