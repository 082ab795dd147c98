//! `gcloud compute networks get-effective-firewalls NETWORK --format=json`: one object,
//! `{"firewalls": [...], "firewallPolicys": [...]}`, with no `kind` of its own.
//!
//! Why it matters: it is the one export that lists, for one network, every hierarchical policy
//! of the project's organization and folders in the order they are evaluated (organization
//! first, then each folder down the chain), the network firewall policies and the VPC rules.
//! Without its policy half a hierarchical deny above a VPC allow would read as allowed. Policy
//! entries carry `type` (`HIERARCHY`, `NETWORK`, `NETWORK_REGIONAL`, `SYSTEM_GLOBAL`,
//! `SYSTEM_REGIONAL`), `name`, `shortName` (or the deprecated `displayName`) and `rules` in the
//! `firewallPolicyRule` shape; the firewalls are `compute#firewall` objects.
//!
//! What the export is for: the network named by its VPC rules (`firewalls[].network`). When it
//! lists none, the estate's only network is taken; failing that, the policies apply everywhere.

use super::rules::{firewall, policy_rule};
use super::{Estate, Policy, Rule};
use crate::json::{arr, join, last_segment, opt_str, req_str};
use serde_json::Value;

/// The `get-effective-firewalls` shape: an object with `firewallPolicys`, or with `firewalls`
/// holding `compute#firewall` objects. The misspelt plural is GCP's own and no other
/// provider's.
pub(super) fn recognizes(doc: &Value) -> bool {
    let Value::Object(o) = doc else { return false };
    if o.contains_key("kind") {
        return false;
    }
    o.get("firewallPolicys").is_some_and(Value::is_array)
        || o.get("firewalls")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|f| {
                    f.get("kind")
                        .and_then(Value::as_str)
                        .is_some_and(|k| k == "compute#firewall")
                })
            })
}

/// Which level a listed policy is evaluated at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Hierarchy,
    System,
    Network,
    Regional,
}

/// One parsed export.
#[derive(Debug)]
pub(super) struct Effective {
    network: Option<String>,
    rules: Vec<Rule>,
    policies: Vec<(Level, Policy)>,
}

impl Effective {
    /// "3 firewall rules, 2 hierarchical firewall policies, …" for the sources line.
    pub(super) fn summary(&self) -> String {
        let count = |l: Level| self.policies.iter().filter(|(x, _)| *x == l).count();
        let mut what = vec![format!("{} firewall rules", self.rules.len())];
        for (l, name) in [
            (Level::Hierarchy, "hierarchical firewall policies"),
            (Level::System, "system firewall policies"),
            (Level::Network, "network firewall policies"),
            (Level::Regional, "regional network firewall policies"),
        ] {
            let n = count(l);
            if n > 0 {
                what.push(format!("{n} {name}"));
            }
        }
        format!(
            "effective firewalls of network {}: {}",
            self.network.as_deref().unwrap_or("(not named)"),
            what.join(", ")
        )
    }
}

fn level(item: &Value, at: &str) -> Result<Level, String> {
    let t = req_str(item, "type", at)?;
    match t.to_ascii_uppercase().as_str() {
        "HIERARCHY" => Ok(Level::Hierarchy),
        "NETWORK" => Ok(Level::Network),
        "NETWORK_REGIONAL" => Ok(Level::Regional),
        s if s.starts_with("SYSTEM") => Ok(Level::System),
        _ => Err(format!(
            "{}: {t:?} is not HIERARCHY, NETWORK, NETWORK_REGIONAL, SYSTEM_GLOBAL or SYSTEM_REGIONAL",
            join(at, "type")
        )),
    }
}

fn policy(item: &Value, at: &str) -> Result<(Level, Policy), String> {
    if !item.is_object() {
        return Err(format!("{at}: expected an object"));
    }
    let level = level(item, at)?;
    let name = req_str(item, "name", at)?;
    let label = opt_str(item, "shortName", at)?
        .or(opt_str(item, "displayName", at)?)
        .unwrap_or_else(|| name.clone());
    let mut rules = Vec::new();
    for (i, r) in arr(item, "rules", at)?.iter().enumerate() {
        rules.push(policy_rule(
            r,
            &format!("{}[{i}]", join(at, "rules")),
            &label,
        )?);
    }
    Estate::sort_rules(&mut rules);
    let attached = match level {
        Level::Hierarchy => vec!["the project's organization or a folder above it".to_string()],
        Level::System => {
            vec!["Google (a system policy a Google service such as GKE manages)".to_string()]
        }
        Level::Network | Level::Regional => Vec::new(),
    };
    Ok((
        level,
        Policy {
            name,
            label,
            attached,
            networks: Vec::new(),
            rules,
            rules_exported: true,
            effective: true,
            scope: None,
            system: level == Level::System,
            regional: level == Level::Regional,
        },
    ))
}

/// Reads one export (not yet merged: the network may only be known from other files).
pub(super) fn parse(doc: &Value) -> Result<Effective, String> {
    let mut rules = Vec::new();
    let mut network: Option<String> = None;
    for (i, f) in arr(doc, "firewalls", "")?.iter().enumerate() {
        let at = format!("firewalls[{i}]");
        if !f.is_object() {
            return Err(format!("{at}: expected an object"));
        }
        let r = firewall(f, &at)?;
        match &network {
            Some(n) if *n != r.network => {
                return Err(format!(
                    "{at}.network: {:?}, but earlier rules are of network {n:?}; an effective-firewalls export is for one network",
                    r.network
                ))
            }
            Some(_) => {}
            None => network = Some(r.network.clone()),
        }
        rules.push(r);
    }
    let mut policies = Vec::new();
    for (i, p) in arr(doc, "firewallPolicys", "")?.iter().enumerate() {
        policies.push(policy(p, &format!("firewallPolicys[{i}]"))?);
    }
    Ok(Effective {
        network: network.map(|n| last_segment(&n).to_string()),
        rules,
        policies,
    })
}

/// Puts the exports into the estate: for the network each covers, its VPC rules replace any
/// other export's and its hierarchical policies (organization, then folders, as listed; then the
/// system policies) are the ones evaluated there; its network policies are associated with it.
pub(super) fn merge(e: &mut Estate, effs: Vec<Effective>) {
    let only_network = || {
        let mut nets: Vec<&String> = e.networks.keys().collect();
        if nets.is_empty() {
            nets = e
                .instances
                .iter()
                .flat_map(|i| i.nics.iter().map(|n| &n.network))
                .collect();
        }
        nets.sort();
        nets.dedup();
        match nets.as_slice() {
            [one] => Some((*one).clone()),
            _ => None,
        }
    };
    let mut hier_eff: Vec<Policy> = Vec::new();
    let mut system: Vec<Policy> = Vec::new();
    for eff in effs {
        let network = eff.network.clone().or_else(only_network);
        if let Some(n) = &network {
            if e.effective_networks.contains(n) {
                // The same network exported twice: the first export answers.
                continue;
            }
            e.rules.insert(n.clone(), eff.rules);
            e.firewalls_exported = true;
            e.effective_networks.push(n.clone());
        }
        // Otherwise no VPC rules are listed and the network cannot be told: the export says
        // nothing about any network's VPC rules, and its policies apply everywhere.
        for (level, mut p) in eff.policies {
            p.scope = network.clone();
            match level {
                Level::Hierarchy => hier_eff.push(p),
                Level::System => system.push(p),
                Level::Network | Level::Regional => {
                    let entry = e.network_policies.entry(p.name.clone());
                    let kept = entry.or_insert_with(|| p.clone());
                    kept.rules = p.rules;
                    kept.rules_exported = true;
                    kept.regional = p.regional;
                    kept.label = p.label;
                    if let Some(n) = &network {
                        if !kept.networks.contains(n) {
                            kept.networks.push(n.clone());
                        }
                    }
                }
            }
        }
    }
    // Other exports' hierarchical policies stay for the networks this export does not cover
    // (the evaluation skips them where an effective export answers).
    e.hierarchical.extend(hier_eff);
    e.hierarchical.extend(system);
}
