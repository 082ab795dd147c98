//! `az network nsg|nic|vnet|asg|public-ip … -o json` → [`Estate`]. Objects are told apart by
//! `type` (or, when a projection dropped it, by the shape of `id`); other types are ignored.
//! The CLI prints resources flattened; ARM templates and `az resource show` nest the same fields
//! under `properties` — both are read, by lifting `properties` into the object first.

use super::{Addr, Direction, Estate, IpConfig, Nic, Nsg, Rule, Subnet, Vnet};
use crate::doc::{Document, LoadError};
use crate::json::{
    arr, get, items, join, kind, last_segment, opt_bool, opt_str, opt_u64, parse_net,
    parse_port_range, req_str, str_list,
};
use ipnet::IpNet;
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;

/// The object with its `properties` lifted to the top (fields already at the top win).
pub(super) fn flat(v: &Value) -> Value {
    let mut out = v.clone();
    if let (Some(obj), Some(Value::Object(props))) = (out.as_object_mut(), v.get("properties")) {
        obj.remove("properties");
        for (k, x) in props {
            obj.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
    out
}

/// `networksecuritygroups`, `networkinterfaces`, `virtualnetworks`, `virtualnetworks/subnets`,
/// `applicationsecuritygroups`, `publicipaddresses`, … (lowercase, without the namespace).
fn resource_type(v: &Value) -> Option<String> {
    if let Some(t) = v.get("type").and_then(Value::as_str) {
        let t = t.to_ascii_lowercase();
        return t.strip_prefix("microsoft.network/").map(str::to_string);
    }
    let id = v.get("id").and_then(Value::as_str)?.to_ascii_lowercase();
    let (_, rest) = id.split_once("/providers/microsoft.network/")?;
    let segs: Vec<&str> = rest.split('/').collect();
    let mut t = segs.first()?.to_string();
    let mut i = 2;
    while i < segs.len() {
        t = format!("{t}/{}", segs[i]);
        i += 2;
    }
    Some(t)
}

/// The resource group named in an ARM id (`/subscriptions/…/resourceGroups/RG/providers/…`).
pub(crate) fn resource_group(id: &str) -> Option<String> {
    let mut parts = id.split('/');
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case("resourceGroups") {
            return parts.next().map(str::to_string);
        }
    }
    None
}

fn ref_id(obj: &Value, key: &str, at: &str) -> Result<Option<String>, String> {
    match get(obj, key) {
        None => Ok(None),
        Some(r) => opt_str(r, "id", &join(at, key)).map(|o| o.map(|s| s.to_ascii_lowercase())),
    }
}

fn ref_ids(obj: &Value, key: &str, at: &str) -> Result<Vec<String>, String> {
    Ok(ref_ids_as_exported(obj, key, at)?
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect())
}

fn ref_ids_as_exported(obj: &Value, key: &str, at: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, r) in arr(obj, key, at)?.iter().enumerate() {
        if let Some(id) = opt_str(r, "id", &format!("{}[{i}]", join(at, key)))? {
            out.push(id);
        }
    }
    Ok(out)
}

/// Remembers ASG ids as exported (commands print them) and returns them lowercased.
fn asg_refs(
    obj: &Value,
    key: &str,
    at: &str,
    ids: &mut HashMap<String, String>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for id in ref_ids_as_exported(obj, key, at)? {
        let low = id.to_ascii_lowercase();
        ids.entry(low.clone()).or_insert(id);
        out.push(low);
    }
    Ok(out)
}

pub(super) fn load(docs: &[Document]) -> Result<Estate, LoadError> {
    let mut e = Estate::default();
    let mut public_ips: Vec<(IpAddr, String)> = Vec::new();
    for d in docs {
        if !super::recognizes(&d.value) {
            continue;
        }
        let shape = |why: String| LoadError::Shape {
            path: d.path.clone(),
            why,
        };
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (at, raw) in items(&d.value) {
            if !raw.is_object() {
                return Err(shape(format!(
                    "{}: expected an object, found {}",
                    if at.is_empty() { "top level" } else { &at },
                    kind(raw)
                )));
            }
            let item = flat(raw);
            let Some(ty) = resource_type(&item) else {
                continue;
            };
            match ty.as_str() {
                "networksecuritygroups" => {
                    parse_nsg(&mut e, &item, &at).map_err(shape)?;
                    *counts.entry("NSGs").or_default() += 1;
                }
                "networkinterfaces" => {
                    parse_nic(&mut e, &item, &at).map_err(shape)?;
                    *counts.entry("NICs").or_default() += 1;
                }
                "virtualnetworks" => {
                    parse_vnet(&mut e, &item, &at).map_err(shape)?;
                    *counts.entry("VNets").or_default() += 1;
                }
                "virtualnetworks/subnets" => {
                    let s = parse_subnet(&item, &at, None).map_err(shape)?;
                    let key = s.id.to_ascii_lowercase();
                    // A subnet that came with its VNet is the better record.
                    if e.subnets.get(&key).is_none_or(|old| old.vnet.is_none()) {
                        e.subnets.insert(key, s);
                    }
                    *counts.entry("subnets").or_default() += 1;
                }
                "applicationsecuritygroups" => {
                    let id = req_str(&item, "id", &at).map_err(shape)?;
                    let name = req_str(&item, "name", &at).map_err(shape)?;
                    e.asg_names.insert(id.to_ascii_lowercase(), name);
                    e.asg_ids.insert(id.to_ascii_lowercase(), id.clone());
                    e.asg_members.entry(id.to_ascii_lowercase()).or_default();
                    *counts.entry("ASGs").or_default() += 1;
                }
                "publicipaddresses" => {
                    let ip = opt_str(&item, "ipAddress", &at).map_err(shape)?;
                    let conf = ref_id(&item, "ipConfiguration", &at).map_err(shape)?;
                    if let (Some(ip), Some(conf)) = (ip, conf) {
                        let ip: IpAddr = ip.parse().map_err(|_| {
                            shape(format!(
                                "{}: {ip:?} is not an IP address",
                                join(&at, "ipAddress")
                            ))
                        })?;
                        public_ips.push((ip, conf));
                    }
                    *counts.entry("public IPs").or_default() += 1;
                }
                _ => {}
            }
        }
        let mut what: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        what.sort();
        e.sources
            .push(format!("{} ({})", d.path.display(), what.join(", ")));
    }
    // Public addresses point at an IP configuration: …/networkInterfaces/NIC/ipConfigurations/NAME.
    for (ip, conf) in public_ips {
        if let Some((nic_id, name)) = conf.split_once("/ipconfigurations/") {
            if let Some(&n) = e.nic_by_key.get(nic_id).and_then(|v| v.first()) {
                // The configuration the address is attached to (ids are lowercase here); an
                // export without ipConfigurations[].id falls back to the first one.
                let i = e.nics[n]
                    .ipconfigs
                    .iter()
                    .position(|c| {
                        c.id.as_deref()
                            .is_some_and(|id| id == conf || last_segment(id) == last_segment(name))
                    })
                    .unwrap_or(0);
                e.nic_by_public_ip.insert(ip, (n, i));
            }
        }
    }
    for nsg in &mut e.nsgs {
        nsg.rules.sort_by_key(|r| r.priority);
    }
    Ok(e)
}

fn parse_nsg(e: &mut Estate, item: &Value, at: &str) -> Result<(), String> {
    let name = req_str(item, "name", at)?;
    let id = opt_str(item, "id", at)?.unwrap_or_else(|| name.clone());
    let resource_group = opt_str(item, "resourceGroup", at)?
        .or_else(|| resource_group(&id))
        .unwrap_or_else(|| "RESOURCE_GROUP".into());
    let mut rules = Vec::new();
    for (i, r) in arr(item, "securityRules", at)?.iter().enumerate() {
        let here = format!("{}[{i}]", join(at, "securityRules"));
        if !r.is_object() {
            return Err(format!("{here}: expected an object, found {}", kind(r)));
        }
        rules.push(parse_rule(
            &flat(r),
            &here,
            &mut e.asg_names,
            &mut e.asg_ids,
        )?);
    }
    let idx = e.nsgs.len();
    for s in ref_ids(item, "subnets", at)? {
        e.nsg_of_subnet.insert(s, idx);
    }
    e.nsg_by_id.insert(id.to_ascii_lowercase(), idx);
    e.nsgs.push(Nsg {
        id,
        name,
        resource_group,
        rules,
    });
    Ok(())
}

fn protocol(text: &str) -> Option<Option<u8>> {
    Some(match text.to_ascii_lowercase().as_str() {
        "*" | "any" | "all" => None,
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "esp" => Some(50),
        "ah" => Some(51),
        _ => return None,
    })
}

pub(crate) fn addr(text: &str) -> Option<Addr> {
    let t = text.trim();
    Some(match t.to_ascii_lowercase().as_str() {
        // `0.0.0.0/0` and `::/0` are prefixes of one address family; only `*`/`Any` match both.
        "*" | "any" => Addr::Any,
        "virtualnetwork" => Addr::VirtualNetwork,
        "internet" => Addr::Internet,
        "azureloadbalancer" => Addr::AzureLoadBalancer,
        _ => match parse_net(t) {
            Some(n) => Addr::Net(n),
            None if t.is_empty()
                || t.starts_with(|c: char| c.is_ascii_digit())
                || t.contains(':') =>
            {
                return None
            }
            None => Addr::Tag(t.to_string()),
        },
    })
}

/// `x` and `xs` (e.g. `sourceAddressPrefix` and `sourceAddressPrefixes`) together.
fn both(obj: &Value, one: &str, many: &str, at: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    if let Some(s) = opt_str(obj, one, at)? {
        if !s.is_empty() {
            out.push((join(at, one), s));
        }
    }
    for (i, s) in str_list(obj, many, at)?.into_iter().enumerate() {
        out.push((format!("{}[{i}]", join(at, many)), s));
    }
    Ok(out)
}

fn ports(obj: &Value, one: &str, many: &str, at: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut out = Vec::new();
    for (path, p) in both(obj, one, many, at)? {
        if p.trim() == "*" {
            return Ok(Vec::new());
        }
        out.push(
            parse_port_range(&p).ok_or_else(|| format!("{path}: {p:?} is not a port or range"))?,
        );
    }
    Ok(out)
}

fn addrs(obj: &Value, one: &str, many: &str, at: &str) -> Result<Vec<Addr>, String> {
    both(obj, one, many, at)?
        .into_iter()
        .map(|(path, s)| {
            addr(&s).ok_or_else(|| format!("{path}: {s:?} is not an address prefix or service tag"))
        })
        .collect()
}

fn parse_rule(
    r: &Value,
    at: &str,
    asg_names: &mut HashMap<String, String>,
    asg_ids: &mut HashMap<String, String>,
) -> Result<Rule, String> {
    let name = req_str(r, "name", at)?;
    let priority =
        opt_u64(r, "priority", at)?.ok_or_else(|| format!("{}: missing", join(at, "priority")))?;
    if !(100..=65535).contains(&priority) {
        return Err(format!(
            "{}: {priority} is not a priority (100-4096)",
            join(at, "priority")
        ));
    }
    let direction = match req_str(r, "direction", at)?.to_ascii_lowercase().as_str() {
        "inbound" => Direction::Inbound,
        "outbound" => Direction::Outbound,
        other => {
            return Err(format!(
                "{}: {other:?} is not Inbound or Outbound",
                join(at, "direction")
            ))
        }
    };
    let allow = match req_str(r, "access", at)?.to_ascii_lowercase().as_str() {
        "allow" => true,
        "deny" => false,
        other => {
            return Err(format!(
                "{}: {other:?} is not Allow or Deny",
                join(at, "access")
            ))
        }
    };
    let p = req_str(r, "protocol", at)?;
    let protocol = protocol(&p).ok_or_else(|| {
        format!(
            "{}: {p:?} is not Tcp, Udp, Icmp, Esp, Ah or *",
            join(at, "protocol")
        )
    })?;
    let src_asgs = asg_refs(r, "sourceApplicationSecurityGroups", at, asg_ids)?;
    let dst_asgs = asg_refs(r, "destinationApplicationSecurityGroups", at, asg_ids)?;
    for id in src_asgs.iter().chain(&dst_asgs) {
        asg_names
            .entry(id.clone())
            .or_insert_with(|| last_segment(id).to_string());
    }
    let src = addrs(r, "sourceAddressPrefix", "sourceAddressPrefixes", at)?;
    let dst = addrs(
        r,
        "destinationAddressPrefix",
        "destinationAddressPrefixes",
        at,
    )?;
    if src.is_empty() && src_asgs.is_empty() {
        return Err(format!(
            "{at}: rule {name:?} has no source address prefix or application security group"
        ));
    }
    if dst.is_empty() && dst_asgs.is_empty() {
        return Err(format!(
            "{at}: rule {name:?} has no destination address prefix or application security group"
        ));
    }
    Ok(Rule {
        name,
        priority: priority as u32,
        direction,
        allow,
        protocol,
        src,
        dst,
        src_asgs,
        dst_asgs,
        src_ports: ports(r, "sourcePortRange", "sourcePortRanges", at)?,
        dst_ports: ports(r, "destinationPortRange", "destinationPortRanges", at)?,
        default: false,
    })
}

fn ip_field(obj: &Value, key: &str, at: &str) -> Result<Option<IpAddr>, String> {
    match opt_str(obj, key, at)? {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("{}: {s:?} is not an IP address", join(at, key))),
    }
}

fn parse_nic(e: &mut Estate, item: &Value, at: &str) -> Result<(), String> {
    let name = req_str(item, "name", at)?;
    let id = opt_str(item, "id", at)?.unwrap_or_else(|| name.clone());
    let idx = e.nics.len();
    let mut ipconfigs = Vec::new();
    for (i, c) in arr(item, "ipConfigurations", at)?.iter().enumerate() {
        let here = format!("{}[{i}]", join(at, "ipConfigurations"));
        if !c.is_object() {
            return Err(format!("{here}: expected an object, found {}", kind(c)));
        }
        let c = flat(c);
        let ip = ip_field(&c, "privateIPAddress", &here)?;
        let asgs = asg_refs(&c, "applicationSecurityGroups", &here, &mut e.asg_ids)?;
        for a in &asgs {
            e.asg_members.entry(a.clone()).or_default().push((idx, i));
            e.asg_names
                .entry(a.clone())
                .or_insert_with(|| last_segment(a).to_string());
        }
        if let Some(ip) = ip {
            e.nic_by_ip.insert(ip, (idx, i));
        }
        ipconfigs.push(IpConfig {
            id: opt_str(&c, "id", &here)?.map(|s| s.to_ascii_lowercase()),
            ip,
            subnet: ref_id(&c, "subnet", &here)?,
            asgs,
        });
    }
    let mut keys = vec![id.to_ascii_lowercase(), name.to_ascii_lowercase()];
    if let Some(vm) = ref_id(item, "virtualMachine", at)? {
        keys.push(last_segment(&vm).to_string());
        keys.push(vm);
    }
    for k in keys {
        let v = e.nic_by_key.entry(k).or_default();
        if !v.contains(&idx) {
            v.push(idx);
        }
    }
    e.nics.push(Nic {
        id,
        name,
        ipconfigs,
        nsg: ref_id(item, "networkSecurityGroup", at)?,
    });
    Ok(())
}

fn prefixes(obj: &Value, one: &str, many: &str, at: &str) -> Result<Vec<IpNet>, String> {
    both(obj, one, many, at)?
        .into_iter()
        .map(|(path, s)| parse_net(&s).ok_or_else(|| format!("{path}: {s:?} is not an IP range")))
        .collect()
}

fn parse_subnet(s: &Value, at: &str, vnet: Option<usize>) -> Result<Subnet, String> {
    let id = req_str(s, "id", at)?;
    Ok(Subnet {
        id,
        prefixes: prefixes(s, "addressPrefix", "addressPrefixes", at)?,
        nsg: ref_id(s, "networkSecurityGroup", at)?,
        vnet,
    })
}

fn parse_vnet(e: &mut Estate, item: &Value, at: &str) -> Result<(), String> {
    let name = req_str(item, "name", at)?;
    let id = opt_str(item, "id", at)?.unwrap_or_else(|| name.clone());
    let idx = e.vnets.len();
    let space = get(item, "addressSpace").cloned().unwrap_or(Value::Null);
    let vnet_prefixes = prefixes(&space, "", "addressPrefixes", &join(at, "addressSpace"))?;
    let mut gateway = false;
    for (i, s) in arr(item, "subnets", at)?.iter().enumerate() {
        let here = format!("{}[{i}]", join(at, "subnets"));
        if !s.is_object() {
            return Err(format!("{here}: expected an object, found {}", kind(s)));
        }
        let s = flat(s);
        if opt_str(&s, "name", &here)?.is_some_and(|n| n.eq_ignore_ascii_case("GatewaySubnet")) {
            gateway = true;
        }
        let sub = parse_subnet(&s, &here, Some(idx))?;
        e.subnets.insert(sub.id.to_ascii_lowercase(), sub);
    }
    let mut peered = Vec::new();
    let mut peers = Vec::new();
    for (i, p) in arr(item, "virtualNetworkPeerings", at)?.iter().enumerate() {
        let here = format!("{}[{i}]", join(at, "virtualNetworkPeerings"));
        if !p.is_object() {
            return Err(format!("{here}: expected an object, found {}", kind(p)));
        }
        let p = flat(p);
        let state = opt_str(&p, "peeringState", &here)?.unwrap_or_default();
        let access = opt_bool(&p, "allowVirtualNetworkAccess", &here)?.unwrap_or(true);
        if opt_bool(&p, "useRemoteGateways", &here)?.unwrap_or(false) {
            gateway = true;
        }
        if state.eq_ignore_ascii_case("Connected") && access {
            for key in ["remoteAddressSpace", "remoteVirtualNetworkAddressSpace"] {
                if let Some(space) = get(&p, key) {
                    peered.extend(prefixes(space, "", "addressPrefixes", &join(&here, key))?);
                    break;
                }
            }
            if let Some(r) = ref_id(&p, "remoteVirtualNetwork", &here)? {
                peers.push(r);
            }
        }
    }
    e.vnets.push(Vnet {
        name,
        prefixes: vnet_prefixes,
        peered,
        peers,
        peerings_exported: get(item, "virtualNetworkPeerings").is_some(),
        gateway,
        id,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arm_properties_are_lifted() {
        let v = flat(&json!({"name": "r", "properties": {"priority": 100, "name": "ignored"}}));
        assert_eq!(v, json!({"name": "r", "priority": 100}));
    }

    #[test]
    fn types_from_type_or_id() {
        assert_eq!(
            resource_type(&json!({"type": "Microsoft.Network/networkSecurityGroups"})).as_deref(),
            Some("networksecuritygroups")
        );
        assert_eq!(
            resource_type(&json!({"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"})).as_deref(),
            Some("virtualnetworks/subnets")
        );
        assert_eq!(
            resource_type(&json!({"type": "Microsoft.Compute/virtualMachines"})),
            None
        );
        assert_eq!(
            resource_group(
                "/subscriptions/s/resourceGroups/rg-Prod/providers/Microsoft.Network/x/y"
            )
            .as_deref(),
            Some("rg-Prod")
        );
        assert_eq!(resource_group("/nope"), None);
    }

    #[test]
    fn address_prefixes_and_service_tags() {
        assert_eq!(addr("*"), Some(Addr::Any));
        assert_eq!(addr("Any"), Some(Addr::Any));
        assert_eq!(addr("virtualnetwork"), Some(Addr::VirtualNetwork));
        assert_eq!(addr("Internet"), Some(Addr::Internet));
        assert_eq!(addr("AzureLoadBalancer"), Some(Addr::AzureLoadBalancer));
        assert_eq!(
            addr("10.1.2.3"),
            Some(Addr::Net("10.1.2.3/32".parse().unwrap()))
        );
        assert_eq!(
            addr("Storage.WestEurope"),
            Some(Addr::Tag("Storage.WestEurope".into()))
        );
        assert_eq!(
            addr("0.0.0.0/0"),
            Some(Addr::Net("0.0.0.0/0".parse().unwrap()))
        );
        assert_eq!(addr("::/0"), Some(Addr::Net("::/0".parse().unwrap())));
        assert_eq!(addr("10.0.0.0/33"), None);
        assert_eq!(addr(""), None);
    }
}
