//! The rule objects both GCP loaders read: a VPC firewall rule (`compute#firewall`, from
//! `firewall-rules list` or the `firewalls` half of `get-effective-firewalls`) and a firewall
//! policy rule (`firewallPolicyRule`, from `firewall-policies describe` or the `firewallPolicys`
//! half). Apart from [`super::parse`] so that [`super::effective`] can use them without a
//! module cycle.

use super::{Action, Direction, Rule, L4};
use crate::json::{
    arr, get, join, last_segment, net_list, opt_bool, opt_str, opt_u64, parse_port_range, req_str,
    str_list,
};
use crate::verdict::Missing;
use ipnet::IpNet;
use serde_json::Value;

fn protocol_number(text: &str) -> Result<Option<u8>, ()> {
    Ok(Some(match text.to_ascii_lowercase().as_str() {
        "all" => return Ok(None),
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "esp" => 50,
        "ah" => 51,
        "sctp" => 132,
        "ipip" => 4,
        "icmpv6" | "ipv6-icmp" => 58,
        other => other.parse::<u8>().map_err(|_| ())?,
    }))
}

fn l4_list(list: &[Value], at: &str, proto_key: &str) -> Result<Vec<L4>, String> {
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let here = format!("{at}[{i}]");
        if !entry.is_object() {
            return Err(format!("{here}: expected an object"));
        }
        let p = req_str(entry, proto_key, &here)?;
        let proto = protocol_number(&p).map_err(|_| {
            format!(
                "{}: {p:?} is not a protocol (tcp, udp, icmp, esp, ah, sctp, ipip, all or a number)",
                join(&here, proto_key)
            )
        })?;
        let mut ports = Vec::new();
        for (j, port) in str_list(entry, "ports", &here)?.iter().enumerate() {
            ports
                .push(parse_port_range(port).ok_or_else(|| {
                    format!("{here}.ports[{j}]: {port:?} is not a port or range")
                })?);
        }
        out.push(L4 { proto, ports });
    }
    Ok(out)
}

fn direction(obj: &Value, at: &str) -> Result<Direction, String> {
    match opt_str(obj, "direction", at)?.as_deref() {
        None => Ok(Direction::Ingress),
        Some(d) if d.eq_ignore_ascii_case("INGRESS") => Ok(Direction::Ingress),
        Some(d) if d.eq_ignore_ascii_case("EGRESS") => Ok(Direction::Egress),
        Some(d) => Err(format!(
            "{}: {d:?} is not INGRESS or EGRESS",
            join(at, "direction")
        )),
    }
}

fn any_v4() -> IpNet {
    IpNet::V4(ipnet::Ipv4Net::default())
}

fn any_v6() -> IpNet {
    IpNet::V6(ipnet::Ipv6Net::default())
}

pub(super) fn firewall(item: &Value, at: &str) -> Result<Rule, String> {
    let name = req_str(item, "name", at)?;
    let network = last_segment(&req_str(item, "network", at)?).to_string();
    let direction = direction(item, at)?;
    let priority = opt_u64(item, "priority", at)?.unwrap_or(1000);
    if priority > 65535 {
        return Err(format!(
            "{}: {priority} is not a priority (0-65535)",
            join(at, "priority")
        ));
    }
    let allowed = arr(item, "allowed", at)?;
    let denied = arr(item, "denied", at)?;
    let (action, l4) = match (allowed.is_empty(), denied.is_empty()) {
        (false, true) => (
            Action::Allow,
            l4_list(allowed, &join(at, "allowed"), "IPProtocol")?,
        ),
        (true, false) => (
            Action::Deny,
            l4_list(denied, &join(at, "denied"), "IPProtocol")?,
        ),
        (true, true) => {
            return Err(format!(
                "{at}: rule {name:?} has neither allowed nor denied"
            ))
        }
        (false, false) => return Err(format!("{at}: rule {name:?} has both allowed and denied")),
    };
    let mut src_ranges = net_list(item, "sourceRanges", at)?;
    let mut dst_ranges = net_list(item, "destinationRanges", at)?;
    let src_tags = str_list(item, "sourceTags", at)?;
    let src_sas = str_list(item, "sourceServiceAccounts", at)?;
    let target_tags = str_list(item, "targetTags", at)?;
    let target_sas = str_list(item, "targetServiceAccounts", at)?;
    // The API's defaults: an ingress rule with no source applies to 0.0.0.0/0; an egress rule
    // with no destination to 0.0.0.0/0.
    match direction {
        Direction::Ingress
            if src_ranges.is_empty() && src_tags.is_empty() && src_sas.is_empty() =>
        {
            src_ranges.push(any_v4())
        }
        Direction::Egress if dst_ranges.is_empty() => dst_ranges.push(any_v4()),
        _ => {}
    }
    Ok(Rule {
        name,
        priority,
        direction,
        action,
        disabled: opt_bool(item, "disabled", at)?.unwrap_or(false),
        src_ranges,
        dst_ranges,
        src_tags,
        src_sas,
        target_tags,
        target_sas,
        target_networks: Vec::new(),
        l4,
        unsupported: Vec::new(),
        network,
    })
}

pub(super) fn policy_rule(r: &Value, at: &str, policy: &str) -> Result<Rule, String> {
    if !r.is_object() {
        return Err(format!("{at}: expected an object"));
    }
    let priority = opt_u64(r, "priority", at)?.ok_or_else(|| format!("{at}.priority: missing"))?;
    let action = match req_str(r, "action", at)?.to_ascii_lowercase().as_str() {
        "allow" | "apply_security_profile_group" => Action::Allow,
        "deny" => Action::Deny,
        "goto_next" => Action::GotoNext,
        other => {
            return Err(format!(
                "{at}.action: {other:?} is not allow, deny or goto_next"
            ))
        }
    };
    let direction = direction(r, at)?;
    let m = get(r, "match").cloned().unwrap_or(Value::Null);
    let mat = join(at, "match");
    let mut src_ranges = net_list(&m, "srcIpRanges", &mat)?;
    let mut dst_ranges = net_list(&m, "destIpRanges", &mat)?;
    let l4 = l4_list(
        arr(&m, "layer4Configs", &mat)?,
        &join(&mat, "layer4Configs"),
        "ipProtocol",
    )?;
    let l4 = if l4.is_empty() {
        vec![L4 {
            proto: None,
            ports: Vec::new(),
        }]
    } else {
        l4
    };
    let name = format!("{policy}/priority {priority}");
    let mut unsupported = Vec::new();
    for key in [
        "srcSecureTags",
        "srcFqdns",
        "destFqdns",
        "srcRegionCodes",
        "destRegionCodes",
        "srcThreatIntelligences",
        "destThreatIntelligences",
        "srcAddressGroups",
        "destAddressGroups",
        "srcNetworks",
        "srcNetworkScope",
        "destNetworkScope",
    ] {
        if get(&m, key).is_some_and(|v| !v.as_array().is_some_and(|a| a.is_empty())) {
            unsupported.push(Missing {
                what: format!("rule {name} matches on {key}, which the exports cannot evaluate"),
                export: "gcloud compute networks get-effective-firewalls NETWORK --format=json (and check the flow with Connectivity Tests: gcloud network-management connectivity-tests create)".into(),
            });
        }
    }
    if !arr(r, "targetSecureTags", at)?.is_empty() {
        unsupported.push(Missing {
            what: format!("secure tag bindings of the instance (rule {name} targets secure tags)"),
            export: "gcloud resource-manager tags bindings list --parent=//compute.googleapis.com/projects/PROJECT/zones/ZONE/instances/INSTANCE_ID --effective --format=json".into(),
        });
    }
    // Policy rules with no address condition match every address of that side.
    let has_src = !src_ranges.is_empty() || !unsupported.is_empty();
    match direction {
        Direction::Ingress if !has_src => src_ranges.extend([any_v4(), any_v6()]),
        Direction::Egress if dst_ranges.is_empty() => dst_ranges.extend([any_v4(), any_v6()]),
        _ => {}
    }
    Ok(Rule {
        name,
        priority,
        direction,
        action,
        disabled: opt_bool(r, "disabled", at)?.unwrap_or(false),
        src_ranges,
        dst_ranges,
        src_tags: Vec::new(),
        src_sas: Vec::new(),
        target_tags: Vec::new(),
        target_sas: str_list(r, "targetServiceAccounts", at)?,
        target_networks: str_list(r, "targetResources", at)?
            .iter()
            .map(|t| last_segment(t).to_string())
            .collect(),
        l4,
        unsupported,
        network: String::new(),
    })
}
