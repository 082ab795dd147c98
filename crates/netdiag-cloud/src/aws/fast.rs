//! The fast path for large estates: deserializes the fields evaluation uses straight from the
//! file's bytes into the model, skipping the generic JSON tree (`Document`), which is most of the
//! time a 2,000-instance estate takes. It never reports an error: any file it cannot read
//! completely (not JSON, not an AWS export, a field of the wrong type) makes it give up, and the
//! caller falls back to [`super::parse`], whose messages name the file and the object path. A
//! test checks that both paths build the same estate from the fixtures.

use super::model::*;
use ipnet::IpNet;
use serde::Deserialize;
use std::borrow::Cow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

type S<'a> = Cow<'a, str>;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Export<'a> {
    #[serde(borrow, default)]
    reservations: Option<Vec<Reservation<'a>>>,
    #[serde(borrow, default)]
    network_interfaces: Option<Vec<Eni<'a>>>,
    #[serde(borrow, default)]
    security_groups: Option<Vec<Sg<'a>>>,
    #[serde(borrow, default)]
    network_acls: Option<Vec<Acl<'a>>>,
    #[serde(borrow, default)]
    route_tables: Option<Vec<Rtb<'a>>>,
    #[serde(borrow, default)]
    subnets: Option<Vec<SubnetJson<'a>>>,
    #[serde(borrow, default)]
    vpcs: Option<Vec<VpcJson<'a>>>,
    #[serde(borrow, default)]
    prefix_lists: Option<Vec<Pl<'a>>>,
    #[serde(borrow, default)]
    entries: Option<Vec<PlEntry<'a>>>,
    #[serde(borrow, default)]
    prefix_list_id: Option<S<'a>>,
    #[serde(borrow, default)]
    vpc_peering_connections: Option<Vec<Pcx<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Reservation<'a> {
    #[serde(borrow, default)]
    instances: Vec<Instance<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Instance<'a> {
    #[serde(borrow)]
    instance_id: S<'a>,
    #[serde(borrow, default)]
    network_interfaces: Vec<Eni<'a>>,
    #[serde(borrow, default)]
    subnet_id: Option<S<'a>>,
    #[serde(borrow, default)]
    vpc_id: Option<S<'a>>,
    #[serde(borrow, default)]
    private_ip_address: Option<S<'a>>,
    #[serde(borrow, default)]
    public_ip_address: Option<S<'a>>,
    #[serde(borrow, default)]
    security_groups: Vec<GroupRef<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupRef<'a> {
    #[serde(borrow)]
    group_id: S<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Eni<'a> {
    #[serde(borrow)]
    network_interface_id: S<'a>,
    #[serde(borrow, default)]
    subnet_id: Option<S<'a>>,
    #[serde(borrow, default)]
    vpc_id: Option<S<'a>>,
    #[serde(borrow, default)]
    attachment: Option<Attachment<'a>>,
    #[serde(borrow, default)]
    private_ip_address: Option<S<'a>>,
    #[serde(borrow, default)]
    private_ip_addresses: Vec<PrivateIp<'a>>,
    #[serde(borrow, default)]
    ipv6_addresses: Vec<Ipv6Addr<'a>>,
    #[serde(borrow, default)]
    association: Option<Assoc<'a>>,
    #[serde(borrow, default)]
    groups: Vec<GroupRef<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Attachment<'a> {
    #[serde(borrow, default)]
    instance_id: Option<S<'a>>,
    #[serde(default)]
    device_index: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrivateIp<'a> {
    #[serde(borrow, default)]
    private_ip_address: Option<S<'a>>,
    #[serde(borrow, default)]
    association: Option<Assoc<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ipv6Addr<'a> {
    #[serde(borrow, default)]
    ipv6_address: Option<S<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Assoc<'a> {
    #[serde(borrow, default)]
    public_ip: Option<S<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Sg<'a> {
    #[serde(borrow)]
    group_id: S<'a>,
    #[serde(borrow, default)]
    group_name: Option<S<'a>>,
    #[serde(borrow, default)]
    vpc_id: Option<S<'a>>,
    #[serde(borrow, default)]
    ip_permissions: Vec<Perm<'a>>,
    #[serde(borrow, default)]
    ip_permissions_egress: Vec<Perm<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Perm<'a> {
    #[serde(borrow)]
    ip_protocol: S<'a>,
    #[serde(default)]
    from_port: Option<i64>,
    #[serde(default)]
    to_port: Option<i64>,
    #[serde(borrow, default)]
    ip_ranges: Vec<CidrIp<'a>>,
    #[serde(borrow, default)]
    ipv6_ranges: Vec<CidrIpv6<'a>>,
    #[serde(borrow, default)]
    prefix_list_ids: Vec<PlRef<'a>>,
    #[serde(borrow, default)]
    user_id_group_pairs: Vec<Pair<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CidrIp<'a> {
    #[serde(borrow)]
    cidr_ip: S<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CidrIpv6<'a> {
    #[serde(borrow)]
    cidr_ipv6: S<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PlRef<'a> {
    #[serde(borrow)]
    prefix_list_id: S<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Pair<'a> {
    #[serde(borrow)]
    group_id: S<'a>,
    #[serde(borrow, default)]
    vpc_peering_connection_id: Option<S<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Acl<'a> {
    #[serde(borrow)]
    network_acl_id: S<'a>,
    #[serde(borrow, default)]
    vpc_id: Option<S<'a>>,
    #[serde(default)]
    is_default: Option<bool>,
    #[serde(borrow, default)]
    entries: Vec<AclEntryJson<'a>>,
    #[serde(borrow, default)]
    associations: Vec<SubnetAssoc<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AclEntryJson<'a> {
    rule_number: i64,
    #[serde(borrow)]
    protocol: S<'a>,
    #[serde(borrow)]
    rule_action: S<'a>,
    #[serde(default)]
    egress: Option<bool>,
    #[serde(borrow, default)]
    cidr_block: Option<S<'a>>,
    #[serde(borrow, default)]
    ipv6_cidr_block: Option<S<'a>>,
    #[serde(default)]
    port_range: Option<PortRange>,
    #[serde(default)]
    icmp_type_code: Option<IcmpTypeCode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PortRange {
    from: i64,
    to: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IcmpTypeCode {
    #[serde(default)]
    r#type: Option<i64>,
    #[serde(default)]
    code: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubnetAssoc<'a> {
    #[serde(borrow, default)]
    subnet_id: Option<S<'a>>,
    #[serde(default)]
    main: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Rtb<'a> {
    #[serde(borrow)]
    route_table_id: S<'a>,
    #[serde(borrow, default)]
    vpc_id: Option<S<'a>>,
    #[serde(borrow, default)]
    associations: Vec<SubnetAssoc<'a>>,
    #[serde(borrow, default)]
    routes: Vec<RouteJson<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RouteJson<'a> {
    #[serde(borrow, default)]
    destination_cidr_block: Option<S<'a>>,
    #[serde(borrow, default)]
    destination_ipv6_cidr_block: Option<S<'a>>,
    #[serde(borrow, default)]
    destination_prefix_list_id: Option<S<'a>>,
    #[serde(borrow, default)]
    vpc_peering_connection_id: Option<S<'a>>,
    #[serde(borrow, default)]
    gateway_id: Option<S<'a>>,
    #[serde(borrow, default)]
    nat_gateway_id: Option<S<'a>>,
    #[serde(borrow, default)]
    transit_gateway_id: Option<S<'a>>,
    #[serde(borrow, default)]
    network_interface_id: Option<S<'a>>,
    #[serde(borrow, default)]
    instance_id: Option<S<'a>>,
    #[serde(borrow, default)]
    egress_only_internet_gateway_id: Option<S<'a>>,
    #[serde(borrow, default)]
    local_gateway_id: Option<S<'a>>,
    #[serde(borrow, default)]
    carrier_gateway_id: Option<S<'a>>,
    #[serde(borrow, default)]
    core_network_arn: Option<S<'a>>,
    #[serde(borrow, default)]
    state: Option<S<'a>>,
    #[serde(borrow, default)]
    origin: Option<S<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SubnetJson<'a> {
    #[serde(borrow)]
    subnet_id: S<'a>,
    #[serde(borrow, default)]
    vpc_id: Option<S<'a>>,
    #[serde(borrow, default)]
    cidr_block: Option<S<'a>>,
    #[serde(borrow, default)]
    ipv6_cidr_block_association_set: Vec<Ipv6Block<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ipv6Block<'a> {
    #[serde(borrow, default)]
    ipv6_cidr_block: Option<S<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct V4Block<'a> {
    #[serde(borrow, default)]
    cidr_block: Option<S<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VpcJson<'a> {
    #[serde(borrow)]
    vpc_id: S<'a>,
    #[serde(borrow, default)]
    cidr_block: Option<S<'a>>,
    #[serde(borrow, default)]
    cidr_block_association_set: Vec<V4Block<'a>>,
    #[serde(borrow, default)]
    ipv6_cidr_block_association_set: Vec<Ipv6Block<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Pl<'a> {
    #[serde(borrow)]
    prefix_list_id: S<'a>,
    #[serde(borrow, default)]
    prefix_list_name: Option<S<'a>>,
    #[serde(borrow, default)]
    cidrs: Option<Vec<S<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PlEntry<'a> {
    #[serde(borrow)]
    cidr: S<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Pcx<'a> {
    #[serde(borrow)]
    vpc_peering_connection_id: S<'a>,
    #[serde(default)]
    status: Option<PcxStatus<'a>>,
    #[serde(borrow, default)]
    requester_vpc_info: Option<PcxSide<'a>>,
    #[serde(borrow, default)]
    accepter_vpc_info: Option<PcxSide<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PcxStatus<'a> {
    #[serde(borrow, default)]
    code: Option<S<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PcxSide<'a> {
    #[serde(borrow, default)]
    vpc_id: Option<S<'a>>,
    #[serde(borrow, default)]
    cidr_block: Option<S<'a>>,
    #[serde(borrow, default)]
    cidr_block_set: Vec<V4Block<'a>>,
    #[serde(borrow, default)]
    ipv6_cidr_block_set: Vec<Ipv6Block<'a>>,
}

fn net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .map(|n| n.trunc())
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

fn own(s: &Option<S<'_>>) -> Option<String> {
    s.as_deref().map(str::to_string)
}

fn push_unique(v: &mut Vec<IpNet>, n: IpNet) {
    if !v.contains(&n) {
        v.push(n);
    }
}

/// Loads every file through the fast path, or `None` when any file needs the generic parser
/// (which then gives the precise error, or handles a shape this path does not).
pub fn load_files(files: &[PathBuf]) -> Option<Estate> {
    let mut estate = Estate::default();
    for f in files {
        let bytes = std::fs::read(f).ok()?;
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
        let export: Export<'_> = serde_json::from_slice(bytes).ok()?;
        add(&mut estate, export, f)?;
    }
    estate.index();
    Some(estate)
}

fn add(estate: &mut Estate, x: Export<'_>, path: &Path) -> Option<()> {
    let any = x.reservations.is_some()
        || x.network_interfaces.is_some()
        || x.security_groups.is_some()
        || x.network_acls.is_some()
        || x.route_tables.is_some()
        || x.subnets.is_some()
        || x.vpcs.is_some()
        || x.prefix_lists.is_some()
        || x.entries.as_ref().is_some_and(|e| !e.is_empty())
        || x.vpc_peering_connections.is_some();
    if !any {
        return None;
    }
    if let Some(rs) = x.reservations {
        estate.has_inventory = true;
        for r in rs {
            for i in r.instances {
                instance(estate, i)?;
            }
        }
    }
    if let Some(es) = x.network_interfaces {
        estate.has_inventory = true;
        for e in es {
            estate.interfaces.push(interface(e, None)?);
        }
    }
    for g in x.security_groups.unwrap_or_default() {
        let sg = SecurityGroup {
            id: g.group_id.to_string(),
            name: g.group_name.as_deref().unwrap_or_default().to_string(),
            vpc_id: own(&g.vpc_id),
            ingress: permissions(g.ip_permissions)?,
            egress: permissions(g.ip_permissions_egress)?,
        };
        estate.security_groups.insert(sg.id.clone(), sg);
    }
    for a in x.network_acls.unwrap_or_default() {
        let acl = network_acl(a)?;
        estate.network_acls.insert(acl.id.clone(), acl);
    }
    for t in x.route_tables.unwrap_or_default() {
        let rt = route_table(t)?;
        estate.route_tables.insert(rt.id.clone(), rt);
    }
    for s in x.subnets.unwrap_or_default() {
        let mut cidrs = Vec::new();
        if let Some(c) = &s.cidr_block {
            cidrs.push(net(c)?);
        }
        for b in &s.ipv6_cidr_block_association_set {
            if let Some(c) = &b.ipv6_cidr_block {
                cidrs.push(net(c)?);
            }
        }
        let subnet = Subnet {
            id: s.subnet_id.to_string(),
            vpc_id: own(&s.vpc_id),
            cidrs,
        };
        estate.subnets.insert(subnet.id.clone(), subnet);
    }
    for v in x.vpcs.unwrap_or_default() {
        let mut cidrs = Vec::new();
        if let Some(c) = &v.cidr_block {
            cidrs.push(net(c)?);
        }
        for b in &v.cidr_block_association_set {
            if let Some(c) = &b.cidr_block {
                push_unique(&mut cidrs, net(c)?);
            }
        }
        for b in &v.ipv6_cidr_block_association_set {
            if let Some(c) = &b.ipv6_cidr_block {
                cidrs.push(net(c)?);
            }
        }
        let vpc = Vpc {
            id: v.vpc_id.to_string(),
            cidrs,
        };
        estate.vpcs.insert(vpc.id.clone(), vpc);
    }
    for p in x.prefix_lists.unwrap_or_default() {
        let cidrs = match &p.cidrs {
            None => None,
            Some(c) => Some(c.iter().map(|s| net(s)).collect::<Option<Vec<_>>>()?),
        };
        let id = p.prefix_list_id.to_string();
        let entry = estate.prefix_lists.entry(id.clone()).or_default();
        entry.id = id;
        entry.name = own(&p.prefix_list_name).or(entry.name.take());
        if cidrs.is_some() {
            entry.entries = cidrs;
        }
    }
    if let Some(entries) = x.entries {
        let id = match &x.prefix_list_id {
            Some(id) => id.to_string(),
            None => {
                let name = path.file_name()?.to_str()?;
                let rest = name.strip_prefix("pl-")?;
                let len = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .count();
                if len == 0 {
                    return None;
                }
                format!("pl-{}", &rest[..len])
            }
        };
        let cidrs = entries
            .iter()
            .map(|e| net(&e.cidr))
            .collect::<Option<Vec<_>>>()?;
        let entry = estate.prefix_lists.entry(id.clone()).or_default();
        entry.id = id;
        entry.entries = Some(cidrs);
    }
    for p in x.vpc_peering_connections.unwrap_or_default() {
        let peering = Peering {
            id: p.vpc_peering_connection_id.to_string(),
            status: p
                .status
                .and_then(|s| own(&s.code))
                .unwrap_or_else(|| "unknown".into()),
            requester: side(p.requester_vpc_info)?,
            accepter: side(p.accepter_vpc_info)?,
        };
        estate.peerings.insert(peering.id.clone(), peering);
    }
    Some(())
}

fn network_acl(a: Acl<'_>) -> Option<NetworkAcl> {
    let mut entries = Vec::with_capacity(a.entries.len());
    for e in a.entries {
        let number = u32::try_from(e.rule_number)
            .ok()
            .filter(|n| (1..=32768).contains(n))?;
        let cidr = match (&e.cidr_block, &e.ipv6_cidr_block) {
            (Some(c), _) | (None, Some(c)) => net(c)?,
            (None, None) => return None,
        };
        let allow = match e.rule_action.to_ascii_lowercase().as_str() {
            "allow" => true,
            "deny" => false,
            _ => return None,
        };
        let ports = match e.port_range {
            None => None,
            Some(p) => Some((u16::try_from(p.from).ok()?, u16::try_from(p.to).ok()?)),
        };
        entries.push(AclEntry {
            number,
            protocol: RuleProtocol::parse(&e.protocol)?,
            allow,
            egress: e.egress.unwrap_or(false),
            cidr,
            ports,
            icmp: e
                .icmp_type_code
                .map(|i| (i.r#type.unwrap_or(-1), i.code.unwrap_or(-1))),
        });
    }
    entries.sort_by_key(|e| e.number);
    Some(NetworkAcl {
        id: a.network_acl_id.to_string(),
        vpc_id: own(&a.vpc_id),
        is_default: a.is_default.unwrap_or(false),
        entries,
        subnets: a
            .associations
            .iter()
            .filter_map(|s| own(&s.subnet_id))
            .collect(),
    })
}

fn route_table(t: Rtb<'_>) -> Option<RouteTable> {
    let mut rt = RouteTable {
        id: t.route_table_id.to_string(),
        vpc_id: own(&t.vpc_id),
        main: t.associations.iter().any(|a| a.main == Some(true)),
        subnets: t
            .associations
            .iter()
            .filter_map(|s| own(&s.subnet_id))
            .collect(),
        routes: Vec::with_capacity(t.routes.len()),
    };
    for r in t.routes {
        let destination = if let Some(c) = &r.destination_cidr_block {
            RouteDestination::Cidr(net(c)?)
        } else if let Some(c) = &r.destination_ipv6_cidr_block {
            RouteDestination::Cidr(net(c)?)
        } else if let Some(p) = &r.destination_prefix_list_id {
            RouteDestination::PrefixList(p.to_string())
        } else {
            return None;
        };
        let target = if let Some(p) = &r.vpc_peering_connection_id {
            RouteTarget::Peering(p.to_string())
        } else if r.gateway_id.as_deref() == Some("local") {
            RouteTarget::Local
        } else {
            RouteTarget::Other(
                [
                    &r.gateway_id,
                    &r.nat_gateway_id,
                    &r.transit_gateway_id,
                    &r.network_interface_id,
                    &r.instance_id,
                    &r.egress_only_internet_gateway_id,
                    &r.local_gateway_id,
                    &r.carrier_gateway_id,
                    &r.core_network_arn,
                ]
                .into_iter()
                .find_map(own)
                .unwrap_or_else(|| "(no target)".into()),
            )
        };
        let state = r.state.as_deref().unwrap_or("active").to_string();
        rt.routes.push(Route {
            destination,
            target,
            active: state == "active",
            state,
            propagated: r.origin.as_deref() == Some("EnableVgwRoutePropagation"),
        });
    }
    Some(rt)
}

fn side(s: Option<PcxSide<'_>>) -> Option<PeeringSide> {
    let Some(s) = s else {
        return Some(PeeringSide::default());
    };
    let mut cidrs = Vec::new();
    if let Some(c) = &s.cidr_block {
        cidrs.push(net(c)?);
    }
    for b in &s.cidr_block_set {
        if let Some(c) = &b.cidr_block {
            push_unique(&mut cidrs, net(c)?);
        }
    }
    for b in &s.ipv6_cidr_block_set {
        if let Some(c) = &b.ipv6_cidr_block {
            cidrs.push(net(c)?);
        }
    }
    Some(PeeringSide {
        vpc_id: own(&s.vpc_id),
        cidrs,
    })
}

fn permissions(perms: Vec<Perm<'_>>) -> Option<Vec<SgRule>> {
    let mut rules = Vec::new();
    for p in perms {
        let protocol = RuleProtocol::parse(&p.ip_protocol)?;
        let rule = |peer| SgRule {
            protocol,
            from_port: p.from_port,
            to_port: p.to_port,
            peer,
        };
        for r in &p.ip_ranges {
            rules.push(rule(SgPeer::Cidr(net(&r.cidr_ip)?)));
        }
        for r in &p.ipv6_ranges {
            rules.push(rule(SgPeer::Cidr(net(&r.cidr_ipv6)?)));
        }
        for r in &p.prefix_list_ids {
            rules.push(rule(SgPeer::PrefixList(r.prefix_list_id.to_string())));
        }
        for r in &p.user_id_group_pairs {
            rules.push(rule(SgPeer::Group {
                group_id: r.group_id.to_string(),
                peering: own(&r.vpc_peering_connection_id),
            }));
        }
    }
    Some(rules)
}

fn instance(estate: &mut Estate, i: Instance<'_>) -> Option<()> {
    let id = i.instance_id.to_string();
    if i.network_interfaces.is_empty() {
        let mut eni = Interface {
            id: id.clone(),
            instance_id: Some(id),
            subnet_id: own(&i.subnet_id),
            vpc_id: own(&i.vpc_id),
            ..Interface::default()
        };
        if let Some(a) = &i.private_ip_address {
            eni.private_ips.push(a.parse().ok()?);
        }
        if let Some(a) = &i.public_ip_address {
            eni.public_ips.push(a.parse().ok()?);
        }
        eni.groups = i
            .security_groups
            .iter()
            .map(|g| g.group_id.to_string())
            .collect();
        estate.interfaces.push(eni);
        return Some(());
    }
    for e in i.network_interfaces {
        estate.interfaces.push(interface(e, Some(&id))?);
    }
    Some(())
}

fn interface(e: Eni<'_>, instance_id: Option<&str>) -> Option<Interface> {
    let mut eni = Interface {
        id: e.network_interface_id.to_string(),
        instance_id: instance_id.map(str::to_string),
        subnet_id: own(&e.subnet_id),
        vpc_id: own(&e.vpc_id),
        ..Interface::default()
    };
    if let Some(att) = &e.attachment {
        if eni.instance_id.is_none() {
            eni.instance_id = own(&att.instance_id);
        }
        eni.device_index = att.device_index.unwrap_or(0);
    }
    if let Some(a) = &e.private_ip_address {
        eni.private_ips.push(a.parse().ok()?);
    }
    for p in &e.private_ip_addresses {
        if let Some(a) = &p.private_ip_address {
            let a: IpAddr = a.parse().ok()?;
            if !eni.private_ips.contains(&a) {
                eni.private_ips.push(a);
            }
        }
        if let Some(a) = p.association.as_ref().and_then(|x| x.public_ip.as_ref()) {
            let a: IpAddr = a.parse().ok()?;
            if !eni.public_ips.contains(&a) {
                eni.public_ips.push(a);
            }
        }
    }
    for p in &e.ipv6_addresses {
        if let Some(a) = &p.ipv6_address {
            eni.private_ips.push(a.parse().ok()?);
        }
    }
    if let Some(a) = e.association.as_ref().and_then(|x| x.public_ip.as_ref()) {
        let a: IpAddr = a.parse().ok()?;
        if !eni.public_ips.contains(&a) {
            eni.public_ips.push(a);
        }
    }
    eni.groups = e.groups.iter().map(|g| g.group_id.to_string()).collect();
    Some(eni)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_builds_the_same_estate_as_the_generic_parser() {
        let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/aws"));
        let files = crate::doc::files(&[dir]).unwrap();
        let fast = load_files(&files).unwrap();
        let docs = crate::doc::load(&files).unwrap();
        let generic = super::super::parse::load(&docs).unwrap();
        assert_eq!(fast, generic);
    }

    #[test]
    fn anything_it_cannot_read_falls_back() {
        let dir = std::env::temp_dir().join(format!("netdiag-aws-fast-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in [
            (
                "a.json",
                r#"{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"tcp","FromPort":"x"}]}]}"#,
            ),
            ("b.json", r#"[{"name":"gcp-rule"}]"#),
            ("c.json", r#"{"kind":"other"}"#),
            ("d.json", "{not json"),
        ] {
            let f = dir.join(name);
            std::fs::write(&f, text).unwrap();
            assert!(load_files(&[f]).is_none(), "{name}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
