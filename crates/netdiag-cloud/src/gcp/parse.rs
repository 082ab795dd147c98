//! `gcloud compute … --format=json` → [`Estate`]. Objects are told apart by their `kind`
//! (`compute#firewall`, `compute#instance`, `compute#network`, `compute#subnetwork`,
//! `compute#route`, `compute#firewallPolicy`); other kinds are ignored. The one export without a
//! `kind`, `get-effective-firewalls`, is read by [`super::effective`]. Field names are the API's
//! (camelCase), exactly as gcloud prints them.

use super::rules::{firewall, policy_rule};
use super::{Estate, Instance, Network, NextHop, Nic, Policy, Route};
use crate::doc::{Document, LoadError};
use crate::json::{arr, get, items, join, last_segment, opt_str, opt_u64, req_str, str_list};
use ipnet::IpNet;
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;

pub(super) fn load(docs: &[Document]) -> Result<Estate, LoadError> {
    let mut e = Estate::default();
    let mut hier: Vec<(u8, Policy)> = Vec::new();
    let mut effective = Vec::new();
    for d in docs {
        if !super::recognizes(&d.value) {
            continue;
        }
        let shape = |why: String| LoadError::Shape {
            path: d.path.clone(),
            why,
        };
        if super::effective::recognizes(&d.value) {
            let eff = super::effective::parse(&d.value).map_err(shape)?;
            e.sources
                .push(format!("{} ({})", d.path.display(), eff.summary()));
            effective.push(eff);
            continue;
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (at, item) in items(&d.value) {
            if !item.is_object() {
                return Err(shape(format!(
                    "{}: expected an object, found {}",
                    if at.is_empty() { "top level" } else { &at },
                    crate::json::kind(item)
                )));
            }
            let Some(kind) = item.get("kind").and_then(Value::as_str) else {
                continue;
            };
            match kind {
                "compute#firewall" => {
                    let r = firewall(item, &at).map_err(shape)?;
                    e.rules.entry(r.network.clone()).or_default().push(r);
                    e.firewalls_exported = true;
                    *counts.entry("firewall rules").or_default() += 1;
                }
                "compute#instance" => {
                    let i = instance(item, &at).map_err(shape)?;
                    add_instance(&mut e, i, item);
                    *counts.entry("instances").or_default() += 1;
                }
                "compute#network" => {
                    let n = network(item, &at).map_err(shape)?;
                    e.networks.insert(n.name.clone(), n);
                    *counts.entry("networks").or_default() += 1;
                }
                "compute#subnetwork" => {
                    let (net, ranges) = subnetwork(item, &at).map_err(shape)?;
                    e.subnets.entry(net).or_default().extend(ranges);
                    *counts.entry("subnetworks").or_default() += 1;
                }
                "compute#route" => {
                    let r = route(item, &at).map_err(shape)?;
                    e.routes.entry(r.network.clone()).or_default().push(r);
                    e.routes_exported = true;
                    *counts.entry("routes").or_default() += 1;
                }
                "compute#firewallPolicy" => {
                    let (level, p) = policy(item, &at).map_err(shape)?;
                    match level {
                        Some(level) => {
                            hier.push((level, p));
                            *counts.entry("hierarchical firewall policies").or_default() += 1;
                        }
                        None => {
                            e.network_policies.insert(p.name.clone(), p);
                            *counts.entry("network firewall policies").or_default() += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        let mut what: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        what.sort();
        e.sources
            .push(format!("{} ({})", d.path.display(), what.join(", ")));
    }
    // Organization policies first, then folders; the folder chain order is the export order.
    hier.sort_by_key(|(level, _)| *level);
    e.hierarchical = hier.into_iter().map(|(_, p)| p).collect();
    super::effective::merge(&mut e, effective);
    for rules in e.rules.values_mut() {
        Estate::sort_rules(rules);
    }
    Ok(e)
}

fn add_instance(e: &mut Estate, i: Instance, item: &Value) {
    let idx = e.instances.len();
    e.by_name.insert(i.name.clone(), idx);
    e.by_name.insert(format!("{}/{}", i.zone, i.name), idx);
    if let Some(id) = &i.id {
        e.by_name.insert(id.clone(), idx);
    }
    if let Some(link) = item.get("selfLink").and_then(Value::as_str) {
        e.by_name.insert(link.to_string(), idx);
    }
    for (n, nic) in i.nics.iter().enumerate() {
        if let Some(ip) = nic.ip {
            e.by_ip.insert(ip, (idx, n));
        }
        for ip in &nic.ipv6 {
            e.by_ip.insert(*ip, (idx, n));
        }
        for ip in &nic.nat_ips {
            e.by_nat.insert(*ip, (idx, n));
        }
    }
    e.instances.push(i);
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

fn instance(item: &Value, at: &str) -> Result<Instance, String> {
    let name = req_str(item, "name", at)?;
    let zone = opt_str(item, "zone", at)?
        .map(|z| last_segment(&z).to_string())
        .unwrap_or_default();
    let id = match get(item, "id") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    // A full export (it has machineType) prints `tags` and `serviceAccounts` whenever there are
    // any; a projection (`--format="json(name,…)"`) may have dropped them.
    let full = item.get("machineType").is_some();
    let tags_at = join(at, "tags");
    let (tags, tags_known) = match get(item, "tags") {
        Some(t) => (str_list(t, "items", &tags_at)?, true),
        None => (Vec::new(), full),
    };
    let mut sas = Vec::new();
    for (i, sa) in arr(item, "serviceAccounts", at)?.iter().enumerate() {
        if let Some(email) = opt_str(sa, "email", &format!("{at}.serviceAccounts[{i}]"))? {
            sas.push(email);
        }
    }
    let sas_known = full || get(item, "serviceAccounts").is_some();
    let mut nics = Vec::new();
    for (i, n) in arr(item, "networkInterfaces", at)?.iter().enumerate() {
        let here = format!("{}[{i}]", join(at, "networkInterfaces"));
        let mut nat_ips = Vec::new();
        for (j, ac) in arr(n, "accessConfigs", &here)?.iter().enumerate() {
            if let Some(ip) = ip_field(ac, "natIP", &format!("{here}.accessConfigs[{j}]"))? {
                nat_ips.push(ip);
            }
        }
        let mut ipv6 = Vec::new();
        if let Some(ip) = ip_field(n, "ipv6Address", &here)? {
            ipv6.push(ip);
        }
        for (j, ac) in arr(n, "ipv6AccessConfigs", &here)?.iter().enumerate() {
            if let Some(ip) = ip_field(
                ac,
                "externalIpv6",
                &format!("{here}.ipv6AccessConfigs[{j}]"),
            )? {
                nat_ips.push(ip);
            }
        }
        let mut alias = Vec::new();
        for (j, a) in arr(n, "aliasIpRanges", &here)?.iter().enumerate() {
            let at_alias = format!("{here}.aliasIpRanges[{j}]");
            if let Some(r) = opt_str(a, "ipCidrRange", &at_alias)? {
                alias.push(
                    crate::json::parse_net(&r).ok_or_else(|| {
                        format!("{at_alias}.ipCidrRange: {r:?} is not an IP range")
                    })?,
                );
            }
        }
        nics.push(Nic {
            alias,
            ip: ip_field(n, "networkIP", &here)?,
            network: opt_str(n, "network", &here)?
                .map(|u| last_segment(&u).to_string())
                .unwrap_or_else(|| "default".into()),
            subnetwork: opt_str(n, "subnetwork", &here)?.map(|u| last_segment(&u).to_string()),
            nat_ips,
            ipv6,
        });
    }
    Ok(Instance {
        name,
        zone,
        id,
        tags,
        tags_known,
        sas,
        sas_known,
        nics,
    })
}

fn network(item: &Value, at: &str) -> Result<Network, String> {
    let name = req_str(item, "name", at)?;
    let mut active_peers = Vec::new();
    let mut inactive_peers = Vec::new();
    for (i, p) in arr(item, "peerings", at)?.iter().enumerate() {
        let here = format!("{}[{i}]", join(at, "peerings"));
        let peer = last_segment(&req_str(p, "network", &here)?).to_string();
        let state = opt_str(p, "state", &here)?.unwrap_or_else(|| "ACTIVE".into());
        if state.eq_ignore_ascii_case("ACTIVE") {
            active_peers.push(peer);
        } else {
            inactive_peers.push((peer, state));
        }
    }
    let order = opt_str(item, "networkFirewallPolicyEnforcementOrder", at)?;
    Ok(Network {
        name,
        active_peers,
        inactive_peers,
        firewall_policy: opt_str(item, "firewallPolicy", at)?.map(|u| last_segment(&u).to_string()),
        policy_first: order.is_some_and(|o| o.eq_ignore_ascii_case("BEFORE_CLASSIC_FIREWALL")),
    })
}

fn subnetwork(item: &Value, at: &str) -> Result<(String, Vec<IpNet>), String> {
    let net = last_segment(&req_str(item, "network", at)?).to_string();
    let mut ranges = Vec::new();
    for key in ["ipCidrRange", "ipv6CidrRange", "internalIpv6Prefix"] {
        if let Some(r) = opt_str(item, key, at)? {
            ranges.push(
                crate::json::parse_net(&r)
                    .ok_or_else(|| format!("{}: {r:?} is not an IP range", join(at, key)))?,
            );
        }
    }
    for (i, s) in arr(item, "secondaryIpRanges", at)?.iter().enumerate() {
        let here = format!("{}[{i}]", join(at, "secondaryIpRanges"));
        if let Some(r) = opt_str(s, "ipCidrRange", &here)? {
            ranges.push(
                crate::json::parse_net(&r)
                    .ok_or_else(|| format!("{here}.ipCidrRange: {r:?} is not an IP range"))?,
            );
        }
    }
    Ok((net, ranges))
}

fn route(item: &Value, at: &str) -> Result<Route, String> {
    let name = req_str(item, "name", at)?;
    let network = last_segment(&req_str(item, "network", at)?).to_string();
    let d = req_str(item, "destRange", at)?;
    let dest = crate::json::parse_net(&d)
        .ok_or_else(|| format!("{}: {d:?} is not an IP range", join(at, "destRange")))?;
    let hop = |k: &str| opt_str(item, k, at);
    let next_hop = if let Some(g) = hop("nextHopGateway")? {
        NextHop::Gateway(last_segment(&g).to_string())
    } else if let Some(n) = hop("nextHopNetwork")? {
        NextHop::Local(format!("network {}", last_segment(&n)))
    } else if let Some(p) = hop("nextHopPeering")? {
        NextHop::Local(format!("peering {p}"))
    } else {
        let mut other = None;
        for k in [
            "nextHopInstance",
            "nextHopIp",
            "nextHopIlb",
            "nextHopVpnTunnel",
            "nextHopInterconnectAttachment",
            "nextHopHub",
        ] {
            if let Some(v) = hop(k)? {
                other = Some(format!("{k} {}", last_segment(&v)));
                break;
            }
        }
        NextHop::Other(other.unwrap_or_else(|| "unknown next hop".into()))
    };
    Ok(Route {
        name,
        network,
        dest,
        priority: opt_u64(item, "priority", at)?.unwrap_or(1000),
        tags: str_list(item, "tags", at)?,
        next_hop,
    })
}

/// A firewall policy; `Some(level)` for hierarchical ones (0 organization, 1 folder).
fn policy(item: &Value, at: &str) -> Result<(Option<u8>, Policy), String> {
    let name = req_str(item, "name", at)?;
    let label = opt_str(item, "shortName", at)?
        .or(opt_str(item, "displayName", at)?)
        .unwrap_or_else(|| name.clone());
    let parent = opt_str(item, "parent", at)?;
    let mut targets = Vec::new();
    for (i, a) in arr(item, "associations", at)?.iter().enumerate() {
        let here = format!("{}[{i}]", join(at, "associations"));
        if let Some(t) = opt_str(a, "attachmentTarget", &here)? {
            targets.push(t);
        }
    }
    let level = parent.as_deref().and_then(|p| {
        if p.starts_with("organizations/") {
            Some(0)
        } else if p.starts_with("folders/") {
            Some(1)
        } else {
            None
        }
    });
    let rule_list = get(item, "rules");
    let tuples = opt_u64(item, "ruleTupleCount", at)?.unwrap_or(0);
    let rules_exported = rule_list.is_some()
        && !(tuples > 0
            && rule_list
                .and_then(Value::as_array)
                .is_some_and(|a| a.is_empty()));
    let mut rules = Vec::new();
    for (i, r) in arr(item, "rules", at)?.iter().enumerate() {
        rules.push(policy_rule(
            r,
            &format!("{}[{i}]", join(at, "rules")),
            &label,
        )?);
    }
    Estate::sort_rules(&mut rules);
    let mut p = Policy {
        name,
        label,
        attached: Vec::new(),
        networks: Vec::new(),
        rules,
        rules_exported,
        effective: false,
        scope: None,
        system: false,
        regional: false,
    };
    if level.is_some() {
        // Attached where the associations say; a policy export without the field is taken to
        // apply at its parent.
        p.attached = if get(item, "associations").is_some() {
            targets
        } else {
            parent.into_iter().collect()
        };
    } else {
        p.networks = targets
            .iter()
            .map(|t| last_segment(t).to_string())
            .collect();
    }
    Ok((level, p))
}
