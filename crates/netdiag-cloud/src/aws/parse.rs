//! Reading `aws ec2 describe-* --output json` exactly as printed. Every shape error names the
//! object path (`SecurityGroups[3].IpPermissions[0].FromPort: expected a number`); nothing here
//! panics on any JSON value (property-tested). Unknown fields are ignored: AWS adds fields.
//!
//! Prefix-list entries: `aws ec2 get-managed-prefix-list-entries --prefix-list-id pl-… --output
//! json` prints `{"Entries": [{"Cidr": …}]}` without the list's id. The id comes from a wrapper
//! key `PrefixListId` next to `Entries` if present, else from the file name: it must start with
//! the id (`pl-0abc.json`, `pl-0abc-entries.json`, `pl-0abc.entries.json`).

use super::model::*;
use crate::doc::{Document, LoadError};
use ipnet::IpNet;
use serde_json::Value;
use std::net::IpAddr;

type Parsed<T> = Result<T, String>;

/// Where in the document a value is (`SecurityGroups[3].IpPermissions[0].FromPort`), built on
/// the stack and formatted only when an error needs it: a large estate has hundreds of thousands
/// of values, and formatting every path up front cost more than parsing them.
#[derive(Clone, Copy)]
enum At<'a> {
    Root,
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, &'a str, usize),
}

static ROOT: At<'static> = At::Root;

impl<'a> At<'a> {
    fn key<'b>(&'b self, key: &'b str) -> At<'b> {
        At::Key(self, key)
    }

    fn idx<'b>(&'b self, key: &'b str, index: usize) -> At<'b> {
        At::Index(self, key, index)
    }
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (parent, key) = match self {
            At::Root => return Ok(()),
            At::Key(p, k) | At::Index(p, k, _) => (p, k),
        };
        if matches!(parent, At::Root) {
            f.write_str(key)?;
        } else {
            write!(f, "{parent}.{key}")?;
        }
        if let At::Index(_, _, i) = self {
            write!(f, "[{i}]")?;
        }
        Ok(())
    }
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v.get(key) {
        None | Some(Value::Null) => None,
        Some(x) => Some(x),
    }
}

fn opt_str<'a>(v: &'a Value, key: &str, at: &At<'_>) -> Parsed<Option<&'a str>> {
    match field(v, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{}: expected a string", at.key(key))),
    }
}

fn req_str<'a>(v: &'a Value, key: &str, at: &At<'_>) -> Parsed<&'a str> {
    opt_str(v, key, at)?.ok_or_else(|| format!("{}: missing", at.key(key)))
}

fn opt_int(v: &Value, key: &str, at: &At<'_>) -> Parsed<Option<i64>> {
    match field(v, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{}: expected an integer", at.key(key))),
        Some(_) => Err(format!("{}: expected a number", at.key(key))),
    }
}

fn opt_bool(v: &Value, key: &str, at: &At<'_>) -> Parsed<Option<bool>> {
    match field(v, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("{}: expected true or false", at.key(key))),
    }
}

fn arr<'a>(v: &'a Value, key: &str, at: &At<'_>) -> Parsed<&'a [Value]> {
    match field(v, key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(format!("{}: expected a list", at.key(key))),
    }
}

fn obj<'a>(v: &'a Value, at: &At<'_>) -> Parsed<&'a Value> {
    if v.is_object() {
        Ok(v)
    } else {
        Err(format!("{at}: expected an object"))
    }
}

fn net(text: &str, at: &At<'_>) -> Parsed<IpNet> {
    text.parse::<IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{at}: {text:?} is not a CIDR block"))
}

fn ip(text: &str, at: &At<'_>) -> Parsed<IpAddr> {
    text.parse()
        .map_err(|_| format!("{at}: {text:?} is not an IP address"))
}

fn opt_net(v: &Value, key: &str, at: &At<'_>) -> Parsed<Option<IpNet>> {
    opt_str(v, key, at)?
        .map(|s| net(s, &at.key(key)))
        .transpose()
}

fn protocol(text: &str, at: &At<'_>) -> Parsed<RuleProtocol> {
    RuleProtocol::parse(text).ok_or_else(|| format!("{at}: {text:?} is not a protocol"))
}

const TOP_LEVEL_KEYS: [&str; 10] = [
    "Reservations",
    "SecurityGroups",
    "NetworkAcls",
    "RouteTables",
    "Subnets",
    "Vpcs",
    "NetworkInterfaces",
    "PrefixLists",
    "Entries",
    "VpcPeeringConnections",
];

/// Does this document look like something `aws ec2 describe-*` prints? (An object whose
/// top-level key is one of the exports read; `Entries` only with `Cidr` items, the
/// prefix-list-entries shape, so that unrelated `Entries` documents are not claimed.)
pub fn recognizes(doc: &Value) -> bool {
    let Some(map) = doc.as_object() else {
        return false;
    };
    map.iter().any(|(k, v)| {
        if k == "Entries" {
            v.as_array().is_some_and(|a| {
                a.is_empty() && map.contains_key("PrefixListId")
                    || a.iter().any(|e| e.get("Cidr").is_some())
            })
        } else {
            TOP_LEVEL_KEYS.contains(&k.as_str()) && v.is_array()
        }
    })
}

/// Reads every document into one estate. Documents that are not AWS exports are an error naming
/// the file (a wrong file in `--resources` should not be silently ignored).
pub fn load(docs: &[Document]) -> Result<Estate, LoadError> {
    let mut estate = Estate::default();
    for d in docs {
        read_document(&mut estate, d).map_err(|why| LoadError::Shape {
            path: d.path.clone(),
            why,
        })?;
    }
    estate.index();
    Ok(estate)
}

fn read_document(estate: &mut Estate, d: &Document) -> Parsed<()> {
    let v = &d.value;
    if !recognizes(v) {
        return Err(format!(
            "not an aws ec2 export (expected a top-level key among {}, as `aws ec2 describe-… --output json` prints)",
            TOP_LEVEL_KEYS.join(", ")
        ));
    }
    for (i, r) in arr(v, "Reservations", &ROOT)?.iter().enumerate() {
        let at = ROOT.idx("Reservations", i);
        obj(r, &at)?;
        for (j, inst) in arr(r, "Instances", &at)?.iter().enumerate() {
            read_instance(estate, inst, &at.idx("Instances", j))?;
        }
    }
    // `null` is absent, as everywhere else (and as the fast path reads it).
    if field(v, "Reservations").is_some() {
        estate.has_inventory = true;
    }
    for (i, e) in arr(v, "NetworkInterfaces", &ROOT)?.iter().enumerate() {
        let eni = read_interface(e, &ROOT.idx("NetworkInterfaces", i), None)?;
        upsert_interface(estate, eni);
    }
    if field(v, "NetworkInterfaces").is_some() {
        estate.has_inventory = true;
    }
    for (i, g) in arr(v, "SecurityGroups", &ROOT)?.iter().enumerate() {
        let sg = read_security_group(g, &ROOT.idx("SecurityGroups", i))?;
        estate.security_groups.insert(sg.id.clone(), sg);
    }
    for (i, a) in arr(v, "NetworkAcls", &ROOT)?.iter().enumerate() {
        let acl = read_acl(a, &ROOT.idx("NetworkAcls", i))?;
        estate.network_acls.insert(acl.id.clone(), acl);
    }
    for (i, t) in arr(v, "RouteTables", &ROOT)?.iter().enumerate() {
        let rt = read_route_table(t, &ROOT.idx("RouteTables", i))?;
        estate.route_tables.insert(rt.id.clone(), rt);
    }
    for (i, s) in arr(v, "Subnets", &ROOT)?.iter().enumerate() {
        let subnet = read_subnet(s, &ROOT.idx("Subnets", i))?;
        estate.subnets.insert(subnet.id.clone(), subnet);
    }
    for (i, x) in arr(v, "Vpcs", &ROOT)?.iter().enumerate() {
        let vpc = read_vpc(x, &ROOT.idx("Vpcs", i))?;
        estate.vpcs.insert(vpc.id.clone(), vpc);
    }
    for (i, p) in arr(v, "PrefixLists", &ROOT)?.iter().enumerate() {
        let at = ROOT.idx("PrefixLists", i);
        obj(p, &at)?;
        let id = req_str(p, "PrefixListId", &at)?.to_string();
        // `describe-prefix-lists` (AWS-managed) prints the CIDRs; `describe-managed-prefix-lists`
        // does not, and entries read from another file must not be forgotten.
        let cidrs = match field(p, "Cidrs") {
            None => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .enumerate()
                    .map(|(j, c)| {
                        let at = at.idx("Cidrs", j);
                        c.as_str()
                            .ok_or_else(|| format!("{at}: expected a string"))
                            .and_then(|s| net(s, &at))
                    })
                    .collect::<Parsed<Vec<_>>>()?,
            ),
            Some(_) => return Err(format!("{}: expected a list", at.key("Cidrs"))),
        };
        let name = opt_str(p, "PrefixListName", &at)?.map(str::to_string);
        let entry = estate.prefix_lists.entry(id.clone()).or_default();
        entry.id = id;
        entry.name = name.or(entry.name.take());
        if cidrs.is_some() {
            entry.entries = cidrs;
        }
    }
    if let Some(entries) = field(v, "Entries") {
        let id = match opt_str(v, "PrefixListId", &ROOT)? {
            Some(id) => id.to_string(),
            None => prefix_list_id_from_file_name(&d.path).ok_or_else(|| {
                "prefix-list entries without an id: name the file after the list (pl-0abc….json) or add \"PrefixListId\" next to \"Entries\"".to_string()
            })?,
        };
        let Value::Array(entries) = entries else {
            return Err("Entries: expected a list".into());
        };
        let mut cidrs = Vec::with_capacity(entries.len());
        for (j, e) in entries.iter().enumerate() {
            let at = ROOT.idx("Entries", j);
            obj(e, &at)?;
            cidrs.push(net(req_str(e, "Cidr", &at)?, &at.key("Cidr"))?);
        }
        let entry = estate.prefix_lists.entry(id.clone()).or_default();
        entry.id = id;
        entry.entries = Some(cidrs);
    }
    for (i, p) in arr(v, "VpcPeeringConnections", &ROOT)?.iter().enumerate() {
        let at = ROOT.idx("VpcPeeringConnections", i);
        obj(p, &at)?;
        let status = match field(p, "Status") {
            Some(s) => opt_str(s, "Code", &at.key("Status"))?
                .unwrap_or("unknown")
                .to_string(),
            None => "unknown".into(),
        };
        let peering = Peering {
            id: req_str(p, "VpcPeeringConnectionId", &at)?.to_string(),
            status,
            requester: read_peering_side(
                field(p, "RequesterVpcInfo"),
                &at.key("RequesterVpcInfo"),
            )?,
            accepter: read_peering_side(field(p, "AccepterVpcInfo"), &at.key("AccepterVpcInfo"))?,
        };
        estate.peerings.insert(peering.id.clone(), peering);
    }
    Ok(())
}

/// One entry of `describe-subnets`: its id, VPC and IPv4/IPv6 CIDRs.
fn read_subnet(s: &Value, at: &At<'_>) -> Parsed<Subnet> {
    obj(s, at)?;
    let mut cidrs = Vec::new();
    if let Some(n) = opt_net(s, "CidrBlock", at)? {
        cidrs.push(n);
    }
    for (j, a) in arr(s, "Ipv6CidrBlockAssociationSet", at)?
        .iter()
        .enumerate()
    {
        if let Some(n) = opt_net(
            a,
            "Ipv6CidrBlock",
            &at.idx("Ipv6CidrBlockAssociationSet", j),
        )? {
            cidrs.push(n);
        }
    }
    Ok(Subnet {
        id: req_str(s, "SubnetId", at)?.to_string(),
        vpc_id: opt_str(s, "VpcId", at)?.map(str::to_string),
        cidrs,
    })
}

/// One entry of `describe-vpcs`: its id and every associated IPv4/IPv6 CIDR.
fn read_vpc(x: &Value, at: &At<'_>) -> Parsed<Vpc> {
    obj(x, at)?;
    let mut cidrs = Vec::new();
    if let Some(n) = opt_net(x, "CidrBlock", at)? {
        cidrs.push(n);
    }
    for (j, a) in arr(x, "CidrBlockAssociationSet", at)?.iter().enumerate() {
        if let Some(n) = opt_net(a, "CidrBlock", &at.idx("CidrBlockAssociationSet", j))? {
            if !cidrs.contains(&n) {
                cidrs.push(n);
            }
        }
    }
    for (j, a) in arr(x, "Ipv6CidrBlockAssociationSet", at)?
        .iter()
        .enumerate()
    {
        if let Some(n) = opt_net(
            a,
            "Ipv6CidrBlock",
            &at.idx("Ipv6CidrBlockAssociationSet", j),
        )? {
            cidrs.push(n);
        }
    }
    Ok(Vpc {
        id: req_str(x, "VpcId", at)?.to_string(),
        cidrs,
    })
}

fn prefix_list_id_from_file_name(path: &std::path::Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("pl-")?;
    let id_len = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    (id_len > 0).then(|| format!("pl-{}", &rest[..id_len]))
}

fn read_peering_side(v: Option<&Value>, at: &At<'_>) -> Parsed<PeeringSide> {
    let Some(v) = v else {
        return Ok(PeeringSide::default());
    };
    obj(v, at)?;
    let mut cidrs = Vec::new();
    if let Some(n) = opt_net(v, "CidrBlock", at)? {
        cidrs.push(n);
    }
    for (j, c) in arr(v, "CidrBlockSet", at)?.iter().enumerate() {
        if let Some(n) = opt_net(c, "CidrBlock", &at.idx("CidrBlockSet", j))? {
            if !cidrs.contains(&n) {
                cidrs.push(n);
            }
        }
    }
    for (j, c) in arr(v, "Ipv6CidrBlockSet", at)?.iter().enumerate() {
        if let Some(n) = opt_net(c, "Ipv6CidrBlock", &at.idx("Ipv6CidrBlockSet", j))? {
            cidrs.push(n);
        }
    }
    Ok(PeeringSide {
        vpc_id: opt_str(v, "VpcId", at)?.map(str::to_string),
        cidrs,
    })
}

/// The same interface may come from describe-instances and describe-network-interfaces; indexing
/// lets the last one read win, so duplicates are harmless.
fn upsert_interface(estate: &mut Estate, eni: Interface) {
    estate.interfaces.push(eni);
}

fn read_instance(estate: &mut Estate, inst: &Value, at: &At<'_>) -> Parsed<()> {
    obj(inst, at)?;
    let instance_id = req_str(inst, "InstanceId", at)?.to_string();
    let interfaces = arr(inst, "NetworkInterfaces", at)?;
    if interfaces.is_empty() {
        // Older or filtered exports: the instance's own fields describe its primary interface.
        let mut eni = Interface {
            id: instance_id.clone(),
            instance_id: Some(instance_id),
            subnet_id: opt_str(inst, "SubnetId", at)?.map(str::to_string),
            vpc_id: opt_str(inst, "VpcId", at)?.map(str::to_string),
            ..Interface::default()
        };
        if let Some(a) = opt_str(inst, "PrivateIpAddress", at)? {
            eni.private_ips.push(ip(a, &at.key("PrivateIpAddress"))?);
        }
        if let Some(a) = opt_str(inst, "PublicIpAddress", at)? {
            eni.public_ips.push(ip(a, &at.key("PublicIpAddress"))?);
        }
        for (k, g) in arr(inst, "SecurityGroups", at)?.iter().enumerate() {
            eni.groups
                .push(req_str(g, "GroupId", &at.idx("SecurityGroups", k))?.to_string());
        }
        upsert_interface(estate, eni);
        return Ok(());
    }
    for (k, e) in interfaces.iter().enumerate() {
        let eni = read_interface(e, &at.idx("NetworkInterfaces", k), Some(&instance_id))?;
        upsert_interface(estate, eni);
    }
    Ok(())
}

fn read_interface(e: &Value, at: &At<'_>, instance_id: Option<&str>) -> Parsed<Interface> {
    obj(e, at)?;
    let mut eni = Interface {
        id: req_str(e, "NetworkInterfaceId", at)?.to_string(),
        instance_id: instance_id.map(str::to_string),
        subnet_id: opt_str(e, "SubnetId", at)?.map(str::to_string),
        vpc_id: opt_str(e, "VpcId", at)?.map(str::to_string),
        ..Interface::default()
    };
    if let Some(att) = field(e, "Attachment") {
        let at = at.key("Attachment");
        obj(att, &at)?;
        if eni.instance_id.is_none() {
            eni.instance_id = opt_str(att, "InstanceId", &at)?.map(str::to_string);
        }
        eni.device_index = opt_int(att, "DeviceIndex", &at)?.unwrap_or(0);
    }
    if let Some(a) = opt_str(e, "PrivateIpAddress", at)? {
        eni.private_ips.push(ip(a, &at.key("PrivateIpAddress"))?);
    }
    for (j, p) in arr(e, "PrivateIpAddresses", at)?.iter().enumerate() {
        let at = at.idx("PrivateIpAddresses", j);
        obj(p, &at)?;
        if let Some(a) = opt_str(p, "PrivateIpAddress", &at)? {
            let a = ip(a, &at.key("PrivateIpAddress"))?;
            if !eni.private_ips.contains(&a) {
                eni.private_ips.push(a);
            }
        }
        if let Some(assoc) = field(p, "Association") {
            if let Some(a) = opt_str(assoc, "PublicIp", &at.key("Association"))? {
                let a = ip(a, &at.key("Association").key("PublicIp"))?;
                if !eni.public_ips.contains(&a) {
                    eni.public_ips.push(a);
                }
            }
        }
    }
    for (j, p) in arr(e, "Ipv6Addresses", at)?.iter().enumerate() {
        let at = at.idx("Ipv6Addresses", j);
        obj(p, &at)?;
        if let Some(a) = opt_str(p, "Ipv6Address", &at)? {
            eni.private_ips.push(ip(a, &at.key("Ipv6Address"))?);
        }
    }
    if let Some(assoc) = field(e, "Association") {
        if let Some(a) = opt_str(assoc, "PublicIp", &at.key("Association"))? {
            let a = ip(a, &at.key("Association").key("PublicIp"))?;
            if !eni.public_ips.contains(&a) {
                eni.public_ips.push(a);
            }
        }
    }
    for (j, g) in arr(e, "Groups", at)?.iter().enumerate() {
        eni.groups
            .push(req_str(g, "GroupId", &at.idx("Groups", j))?.to_string());
    }
    Ok(eni)
}

fn read_security_group(g: &Value, at: &At<'_>) -> Parsed<SecurityGroup> {
    obj(g, at)?;
    Ok(SecurityGroup {
        id: req_str(g, "GroupId", at)?.to_string(),
        name: opt_str(g, "GroupName", at)?.unwrap_or_default().to_string(),
        vpc_id: opt_str(g, "VpcId", at)?.map(str::to_string),
        ingress: read_permissions(g, "IpPermissions", at)?,
        egress: read_permissions(g, "IpPermissionsEgress", at)?,
    })
}

fn read_permissions(g: &Value, key: &str, at: &At<'_>) -> Parsed<Vec<SgRule>> {
    let mut rules = Vec::new();
    for (j, p) in arr(g, key, at)?.iter().enumerate() {
        let at = at.idx(key, j);
        obj(p, &at)?;
        let proto = protocol(req_str(p, "IpProtocol", &at)?, &at.key("IpProtocol"))?;
        let from_port = opt_int(p, "FromPort", &at)?;
        let to_port = opt_int(p, "ToPort", &at)?;
        let mut push = |peer| {
            rules.push(SgRule {
                protocol: proto,
                from_port,
                to_port,
                peer,
            })
        };
        for (k, r) in arr(p, "IpRanges", &at)?.iter().enumerate() {
            let at = at.idx("IpRanges", k);
            push(SgPeer::Cidr(net(
                req_str(r, "CidrIp", &at)?,
                &at.key("CidrIp"),
            )?));
        }
        for (k, r) in arr(p, "Ipv6Ranges", &at)?.iter().enumerate() {
            let at = at.idx("Ipv6Ranges", k);
            push(SgPeer::Cidr(net(
                req_str(r, "CidrIpv6", &at)?,
                &at.key("CidrIpv6"),
            )?));
        }
        for (k, r) in arr(p, "PrefixListIds", &at)?.iter().enumerate() {
            let at = at.idx("PrefixListIds", k);
            push(SgPeer::PrefixList(
                req_str(r, "PrefixListId", &at)?.to_string(),
            ));
        }
        for (k, r) in arr(p, "UserIdGroupPairs", &at)?.iter().enumerate() {
            let at = at.idx("UserIdGroupPairs", k);
            push(SgPeer::Group {
                group_id: req_str(r, "GroupId", &at)?.to_string(),
                peering: opt_str(r, "VpcPeeringConnectionId", &at)?.map(str::to_string),
            });
        }
    }
    Ok(rules)
}

fn read_acl(a: &Value, at: &At<'_>) -> Parsed<NetworkAcl> {
    obj(a, at)?;
    let mut entries = Vec::new();
    for (j, e) in arr(a, "Entries", at)?.iter().enumerate() {
        let at = at.idx("Entries", j);
        obj(e, &at)?;
        let number = opt_int(e, "RuleNumber", &at)?
            .ok_or_else(|| format!("{}: missing", at.key("RuleNumber")))?;
        let number = u32::try_from(number)
            .ok()
            .filter(|n| (1..=32768).contains(n))
            .ok_or_else(|| {
                format!(
                    "{}: {number} is not 1-32768 (32767 and 32768 are the IPv4 and IPv6 `*` rules)",
                    at.key("RuleNumber")
                )
            })?;
        let cidr = match (
            opt_net(e, "CidrBlock", &at)?,
            opt_net(e, "Ipv6CidrBlock", &at)?,
        ) {
            (Some(n), _) | (None, Some(n)) => n,
            (None, None) => return Err(format!("{at}: neither CidrBlock nor Ipv6CidrBlock")),
        };
        let action = req_str(e, "RuleAction", &at)?;
        let allow = match action.to_ascii_lowercase().as_str() {
            "allow" => true,
            "deny" => false,
            _ => {
                return Err(format!(
                    "{}: {action:?} is not allow or deny",
                    at.key("RuleAction")
                ))
            }
        };
        let ports = match field(e, "PortRange") {
            None => None,
            Some(r) => {
                let at = at.key("PortRange");
                obj(r, &at)?;
                let port = |k: &str| -> Parsed<u16> {
                    let n = opt_int(r, k, &at)?.ok_or_else(|| format!("{}: missing", at.key(k)))?;
                    u16::try_from(n).map_err(|_| format!("{}: {n} is not a port", at.key(k)))
                };
                Some((port("From")?, port("To")?))
            }
        };
        let icmp = match field(e, "IcmpTypeCode") {
            None => None,
            Some(r) => {
                let at = at.key("IcmpTypeCode");
                obj(r, &at)?;
                Some((
                    opt_int(r, "Type", &at)?.unwrap_or(-1),
                    opt_int(r, "Code", &at)?.unwrap_or(-1),
                ))
            }
        };
        entries.push(AclEntry {
            number,
            protocol: protocol(req_str(e, "Protocol", &at)?, &at.key("Protocol"))?,
            allow,
            egress: opt_bool(e, "Egress", &at)?.unwrap_or(false),
            cidr,
            ports,
            icmp,
        });
    }
    entries.sort_by_key(|e| e.number);
    let mut subnets = Vec::new();
    for (j, s) in arr(a, "Associations", at)?.iter().enumerate() {
        if let Some(id) = opt_str(s, "SubnetId", &at.idx("Associations", j))? {
            subnets.push(id.to_string());
        }
    }
    Ok(NetworkAcl {
        id: req_str(a, "NetworkAclId", at)?.to_string(),
        vpc_id: opt_str(a, "VpcId", at)?.map(str::to_string),
        is_default: opt_bool(a, "IsDefault", at)?.unwrap_or(false),
        entries,
        subnets,
    })
}

fn read_route_table(t: &Value, at: &At<'_>) -> Parsed<RouteTable> {
    obj(t, at)?;
    let mut rt = RouteTable {
        id: req_str(t, "RouteTableId", at)?.to_string(),
        vpc_id: opt_str(t, "VpcId", at)?.map(str::to_string),
        ..RouteTable::default()
    };
    for (j, a) in arr(t, "Associations", at)?.iter().enumerate() {
        let at = at.idx("Associations", j);
        obj(a, &at)?;
        if opt_bool(a, "Main", &at)?.unwrap_or(false) {
            rt.main = true;
        }
        if let Some(s) = opt_str(a, "SubnetId", &at)? {
            rt.subnets.push(s.to_string());
        }
    }
    for (j, r) in arr(t, "Routes", at)?.iter().enumerate() {
        let at = at.idx("Routes", j);
        obj(r, &at)?;
        let destination = if let Some(n) = opt_net(r, "DestinationCidrBlock", &at)? {
            RouteDestination::Cidr(n)
        } else if let Some(n) = opt_net(r, "DestinationIpv6CidrBlock", &at)? {
            RouteDestination::Cidr(n)
        } else if let Some(p) = opt_str(r, "DestinationPrefixListId", &at)? {
            RouteDestination::PrefixList(p.to_string())
        } else {
            return Err(format!("{at}: no DestinationCidrBlock, DestinationIpv6CidrBlock or DestinationPrefixListId"));
        };
        let target = if let Some(p) = opt_str(r, "VpcPeeringConnectionId", &at)? {
            RouteTarget::Peering(p.to_string())
        } else if opt_str(r, "GatewayId", &at)? == Some("local") {
            RouteTarget::Local
        } else {
            let mut found = None;
            for key in [
                "GatewayId",
                "NatGatewayId",
                "TransitGatewayId",
                "NetworkInterfaceId",
                "InstanceId",
                "EgressOnlyInternetGatewayId",
                "LocalGatewayId",
                "CarrierGatewayId",
                "CoreNetworkArn",
            ] {
                if let Some(id) = opt_str(r, key, &at)? {
                    found = Some(id.to_string());
                    break;
                }
            }
            RouteTarget::Other(found.unwrap_or_else(|| "(no target)".into()))
        };
        let state = opt_str(r, "State", &at)?.unwrap_or("active").to_string();
        let propagated = opt_str(r, "Origin", &at)? == Some("EnableVgwRoutePropagation");
        rt.routes.push(Route {
            destination,
            target,
            active: state == "active",
            state,
            propagated,
        });
    }
    Ok(rt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn doc(name: &str, text: &str) -> Document {
        Document::from_str(name, text).unwrap()
    }

    #[test]
    fn shape_errors_name_the_object_path() {
        let d = doc(
            "sgs.json",
            r#"{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"tcp","FromPort":"443"}]}]}"#,
        );
        let err = load(&[d]).unwrap_err().to_string();
        assert_eq!(
            err,
            "sgs.json: SecurityGroups[0].IpPermissions[0].FromPort: expected a number"
        );
    }

    #[test]
    fn prefix_list_entries_take_the_id_from_the_file_name_or_wrapper() {
        let a = doc(
            "dir/pl-0abc123.entries.json",
            r#"{"Entries":[{"Cidr":"10.9.0.0/16"}]}"#,
        );
        let b = doc(
            "x.json",
            r#"{"PrefixListId":"pl-0def","Entries":[{"Cidr":"10.8.0.0/16"}]}"#,
        );
        let e = load(&[a, b]).unwrap();
        assert_eq!(
            e.prefix_lists["pl-0abc123"].entries.as_ref().unwrap().len(),
            1
        );
        assert!(e.prefix_lists["pl-0def"].entries.is_some());
        let c = doc("entries.json", r#"{"Entries":[{"Cidr":"10.9.0.0/16"}]}"#);
        assert!(load(&[c]).unwrap_err().to_string().contains("PrefixListId"));
    }

    #[test]
    fn recognizes_each_export_shape_and_nothing_else() {
        for key in TOP_LEVEL_KEYS.iter().filter(|k| **k != "Entries") {
            assert!(recognizes(&serde_json::json!({ *key: [] })), "{key}");
        }
        assert!(recognizes(
            &serde_json::json!({"Entries": [{"Cidr": "10.0.0.0/8"}]})
        ));
        assert!(!recognizes(&serde_json::json!({"Entries": [{"x": 1}]})));
        assert!(!recognizes(&serde_json::json!([{"name": "fw"}])));
        assert!(!recognizes(
            &serde_json::json!({"kind": "compute#firewall"})
        ));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("tcp".to_string()),
                Just("-1".to_string()),
                Just("10.0.0.0/8".to_string()),
                Just("sg-1".to_string()),
                ".{0,6}"
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop_oneof![
                Just("SecurityGroups"),
                Just("IpPermissions"),
                Just("IpProtocol"),
                Just("FromPort"),
                Just("ToPort"),
                Just("IpRanges"),
                Just("CidrIp"),
                Just("GroupId"),
                Just("NetworkAcls"),
                Just("Entries"),
                Just("RuleNumber"),
                Just("Protocol"),
                Just("RuleAction"),
                Just("CidrBlock"),
                Just("PortRange"),
                Just("From"),
                Just("To"),
                Just("RouteTables"),
                Just("Routes"),
                Just("Reservations"),
                Just("Instances"),
                Just("NetworkInterfaces"),
                Just("NetworkInterfaceId"),
                Just("InstanceId"),
                Just("PrivateIpAddresses"),
                Just("Cidr"),
                Just("UserIdGroupPairs"),
                Just("Associations"),
                Just("SubnetId"),
                Just("NetworkAclId"),
                Just("RouteTableId"),
                Just("VpcPeeringConnections"),
                Just("PrefixLists"),
                Just("Cidrs")
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys, inner), 0..5).prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest! {
        /// The fast path never disagrees with this parser: on input this parser accepts, it
        /// builds the same estate or steps aside.
        #[test]
        fn the_fast_path_agrees_or_steps_aside(v in arb_json()) {
            let dir = std::env::temp_dir().join(format!("netdiag-aws-agree-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("pl-0rand.json");
            std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
            let fast = super::super::fast::load_files(std::slice::from_ref(&file));
            if let (Some(fast), Ok(generic)) = (fast, load(&[Document { path: file.clone(), value: v }])) {
                prop_assert_eq!(fast, generic);
            }
        }

        #[test]
        fn random_json_never_panics(v in arb_json()) {
            let d = Document { path: "pl-0rand.json".into(), value: v };
            let _ = recognizes(&d.value);
            if let Ok(estate) = load(&[d]) {
                use crate::estate::Estate as _;
                let q = crate::flow::Query::parse("10.0.0.1", "10.0.0.2", "443", "tcp").unwrap();
                let _ = estate.evaluate(&q);
            }
        }
    }
}
