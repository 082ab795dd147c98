//! Google Cloud (Compute Engine VPC): `gcloud compute … --format=json` exports → one estate →
//! the verdict for a flow, the blocking rule (or implied rule), and the narrowest fix.
//!
//! Why a model of its own: GCP decides a packet in layers that the exports describe separately —
//! hierarchical firewall policies (organization, then folders), the network firewall policy and the
//! VPC firewall rules (in the order the network's `networkFirewallPolicyEnforcementOrder` says),
//! then the implied rules; plus routes and platform blocks no rule can change. Each layer is a
//! pure function of the estate; nothing here reads files or the network (the `doc` module did).
//!
//! What the exports cannot tell (an instance's tags when the address is not an exported instance,
//! a policy referenced but not exported, secure-tag bindings) yields `cloud_unknown` naming the
//! read-only command that exports it — never a guess. The model is written down in
//! `docs/cloud-gcp-azure.md`.

mod effective;
mod eval;
mod fix;
mod model;
mod parse;
mod rules;

use crate::doc::{Document, LoadError};
use crate::flow::Query;
use crate::verdict::{Evaluation, Missing};
use ipnet::IpNet;
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;

pub use fix::FixChange;

/// Does this document look like something `gcloud compute … --format=json` prints (an object or
/// a list of objects whose `kind` is `compute#…`, or the `get-effective-firewalls` object with
/// its `firewalls` and `firewallPolicys` lists)?
pub fn recognizes(doc: &Value) -> bool {
    if effective::recognizes(doc) {
        return true;
    }
    let is = |v: &Value| {
        v.get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.starts_with("compute#"))
    };
    match doc {
        Value::Array(a) => a.iter().any(is),
        v => is(v),
    }
}

/// Reads every GCP document (documents of other providers are ignored) into an estate.
/// Errors name the file and the object path.
pub fn load(docs: &[Document]) -> Result<Estate, LoadError> {
    parse::load(docs)
}

/// Direction of a firewall rule, as GCP names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Traffic arriving at the instance (`INGRESS`).
    Ingress,
    /// Traffic leaving the instance (`EGRESS`).
    Egress,
}

impl Direction {
    pub(crate) fn gcloud(self) -> &'static str {
        match self {
            Direction::Ingress => "INGRESS",
            Direction::Egress => "EGRESS",
        }
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Allow,
    Deny,
    /// Firewall policies only: continue with the next level.
    GotoNext,
}

/// One protocol entry of a rule (`allowed[]`/`denied[]` or `layer4Configs[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct L4 {
    /// IANA protocol number; `None` = all protocols.
    pub(crate) proto: Option<u8>,
    /// Port ranges; empty = all ports.
    pub(crate) ports: Vec<(u16, u16)>,
}

/// A VPC firewall rule or a firewall policy rule, in one shape.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// VPC rule name, or `policy/priority N` for policy rules.
    pub(crate) name: String,
    pub(crate) priority: u64,
    pub(crate) direction: Direction,
    pub(crate) action: Action,
    pub(crate) disabled: bool,
    /// Ingress: the source ranges (VPC default 0.0.0.0/0 already filled in when no source is
    /// given). Egress: an optional filter on the instance's address.
    pub(crate) src_ranges: Vec<IpNet>,
    /// Egress: the destination ranges (default filled in). Ingress: optional filter.
    pub(crate) dst_ranges: Vec<IpNet>,
    pub(crate) src_tags: Vec<String>,
    pub(crate) src_sas: Vec<String>,
    pub(crate) target_tags: Vec<String>,
    pub(crate) target_sas: Vec<String>,
    /// Policy rules: the VPC networks (`targetResources`) the rule is limited to; empty = all.
    pub(crate) target_networks: Vec<String>,
    pub(crate) l4: Vec<L4>,
    /// Match conditions that cannot be decided offline (secure tags, FQDNs, geo, address groups).
    pub(crate) unsupported: Vec<Missing>,
    /// VPC rules: the network name. Empty for policy rules.
    pub(crate) network: String,
}

/// One network interface of an instance.
#[derive(Debug, Clone)]
pub(crate) struct Nic {
    pub(crate) ip: Option<IpAddr>,
    pub(crate) network: String,
    pub(crate) subnetwork: Option<String>,
    pub(crate) nat_ips: Vec<IpAddr>,
    pub(crate) ipv6: Vec<IpAddr>,
    /// `aliasIpRanges[].ipCidrRange`: addresses of the instance (containers, pods) that its
    /// ingress rules protect; source tags and service accounts do not match them.
    pub(crate) alias: Vec<IpNet>,
}

/// A Compute Engine instance.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub(crate) name: String,
    pub(crate) zone: String,
    pub(crate) id: Option<String>,
    pub(crate) tags: Vec<String>,
    /// False when the export omitted the `tags` field (a `--format` projection).
    pub(crate) tags_known: bool,
    pub(crate) sas: Vec<String>,
    pub(crate) sas_known: bool,
    pub(crate) nics: Vec<Nic>,
}

/// A VPC network.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    pub(crate) name: String,
    /// Peered network names with an ACTIVE peering.
    pub(crate) active_peers: Vec<String>,
    /// Peerings listed in another state (for the message).
    pub(crate) inactive_peers: Vec<(String, String)>,
    /// Name of the associated global network firewall policy.
    pub(crate) firewall_policy: Option<String>,
    /// `BEFORE_CLASSIC_FIREWALL`: the network policy is evaluated before the VPC rules.
    pub(crate) policy_first: bool,
}

/// What a route delivers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NextHop {
    /// `nextHopGateway` (the default internet gateway).
    Gateway(String),
    /// `nextHopNetwork` (subnet route) or `nextHopPeering` (peering route).
    Local(String),
    /// Instance, IP, ILB, VPN tunnel, Interconnect.
    Other(String),
}

/// A route.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) name: String,
    pub(crate) network: String,
    pub(crate) dest: IpNet,
    pub(crate) priority: u64,
    pub(crate) tags: Vec<String>,
    pub(crate) next_hop: NextHop,
}

/// A hierarchical or network firewall policy.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Short name (network policies) or numeric id (hierarchical).
    pub(crate) name: String,
    /// `displayName`/`shortName` when given, else the name.
    pub(crate) label: String,
    /// Hierarchical: `organizations/…` or `folders/…` nodes the policy is attached to.
    pub(crate) attached: Vec<String>,
    /// Network policy: the networks it is associated with (by `associations`).
    pub(crate) networks: Vec<String>,
    /// Rules sorted by priority.
    pub(crate) rules: Vec<Rule>,
    /// False when the export has the policy but not its rules.
    pub(crate) rules_exported: bool,
    /// From a `get-effective-firewalls` export: listed in evaluation order, so the folder chain
    /// needs no ancestry export.
    pub(crate) effective: bool,
    /// From a `get-effective-firewalls` export: the network it was exported for (`None` when
    /// the export does not say: it then applies to every network).
    pub(crate) scope: Option<String>,
    /// `SYSTEM…` type: managed by a Google service (GKE), not by the tenant.
    pub(crate) system: bool,
    /// `NETWORK_REGIONAL` type: a regional network firewall policy (evaluated after the global one).
    pub(crate) regional: bool,
}

/// Everything the GCP exports say, indexed for one-query-at-a-time evaluation.
#[derive(Debug, Clone, Default)]
pub struct Estate {
    pub(crate) instances: Vec<Instance>,
    /// name, selfLink, `zone/name` and numeric id → instance.
    pub(crate) by_name: HashMap<String, usize>,
    /// Internal and IPv6 addresses → (instance, interface).
    pub(crate) by_ip: HashMap<IpAddr, (usize, usize)>,
    /// External (NAT) addresses → (instance, interface).
    pub(crate) by_nat: HashMap<IpAddr, (usize, usize)>,
    /// VPC firewall rules per network, in evaluation order.
    pub(crate) rules: HashMap<String, Vec<Rule>>,
    pub(crate) networks: HashMap<String, Network>,
    /// Subnet ranges per network.
    pub(crate) subnets: HashMap<String, Vec<IpNet>>,
    pub(crate) routes: HashMap<String, Vec<Route>>,
    pub(crate) routes_exported: bool,
    pub(crate) firewalls_exported: bool,
    /// Hierarchical policies, organization first, then folders in export order.
    pub(crate) hierarchical: Vec<Policy>,
    pub(crate) network_policies: HashMap<String, Policy>,
    /// Networks a `get-effective-firewalls` export covers: its lists are the whole answer there.
    pub(crate) effective_networks: Vec<String>,
    /// "file (what)" lines, for usage errors.
    pub(crate) sources: Vec<String>,
}

impl Estate {
    /// Decides the flow. `Err` is a usage error: an id or address that is in none of the exports
    /// (the message says which exports were searched).
    pub fn evaluate(&self, q: &Query) -> Result<Evaluation, String> {
        self.run(q).map(|(e, _)| e)
    }

    /// The structural changes behind the verdict's fix (empty when allowed, unknown or unfixable).
    pub fn proposed_changes(&self, q: &Query) -> Result<Vec<FixChange>, String> {
        self.run(q).map(|(_, c)| c)
    }

    /// Applies a proposed change to the in-memory estate, as the fix's command would.
    pub fn apply(&mut self, change: &FixChange) {
        fix::apply(self, change);
    }

    /// Sorts rule lists into evaluation order: priority, then deny before allow at equal priority.
    pub(crate) fn sort_rules(rules: &mut [Rule]) {
        rules.sort_by_key(|r| {
            (
                r.priority,
                match r.action {
                    Action::Deny => 0,
                    Action::Allow => 1,
                    Action::GotoNext => 2,
                },
            )
        });
    }
}
