//! Microsoft Azure network security groups: `az network nsg|nic|vnet|asg … -o json` exports →
//! one estate → the verdict for a flow, the blocking NSG rule, and the narrowest fix on every
//! NSG that blocks.
//!
//! Why a model of its own: Azure filters a flow twice on each side — outbound through the source
//! NIC's NSG then its subnet's NSG, inbound through the destination subnet's NSG then its NIC's
//! NSG — and every NSG on the way must allow. Rules are matched by priority (first match
//! decides), with the six default rules always present. Service tags (`VirtualNetwork`,
//! `Internet`, `AzureLoadBalancer`) and application security groups are resolved from the VNet
//! and NIC exports; what those exports lack (ASG membership of an unexported address, peered
//! spaces, gateway-learned prefixes, other service tags' prefixes) yields `cloud_unknown`
//! naming the read-only command that exports it. Both the CLI's flattened objects and the ARM
//! form (fields under `properties`) are read. Pure: no I/O here. The model is written down in
//! `docs/cloud-gcp-azure.md`.

mod eval;
mod fix;
mod model;
mod parse;

use crate::doc::{Document, LoadError};
use crate::flow::Query;
use crate::verdict::Evaluation;
use ipnet::IpNet;
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;

pub use fix::FixChange;

/// Does this document look like something `az network … -o json` prints (an object or a list of
/// objects whose `type` — or failing that, `id` — is a `Microsoft.Network/…` resource)?
pub fn recognizes(doc: &Value) -> bool {
    let is = |v: &Value| {
        v.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("microsoft.network/"))
            || v.get("id").and_then(Value::as_str).is_some_and(|id| {
                id.to_ascii_lowercase()
                    .contains("/providers/microsoft.network/")
            })
    };
    match doc {
        Value::Array(a) => a.iter().any(is),
        v => is(v),
    }
}

/// Reads every Azure document (documents of other providers are ignored) into an estate.
/// Errors name the file and the object path.
pub fn load(docs: &[Document]) -> Result<Estate, LoadError> {
    parse::load(docs)
}

/// Direction of an NSG rule, as Azure names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `Inbound`: arriving at the NIC.
    Inbound,
    /// `Outbound`: leaving the NIC.
    Outbound,
}

impl Direction {
    pub(crate) fn az(self) -> &'static str {
        match self {
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
        }
    }
}

/// An address condition of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Addr {
    /// `*` / `Any`.
    Any,
    /// A CIDR or address.
    Net(IpNet),
    /// `VirtualNetwork`: the VNet's space, connected peerings' spaces, gateway-learned prefixes.
    VirtualNetwork,
    /// `Internet`: outside the `VirtualNetwork` space.
    Internet,
    /// `AzureLoadBalancer`: 168.63.129.16.
    AzureLoadBalancer,
    /// Any other service tag (prefixes published by Microsoft, not in the exports).
    Tag(String),
}

/// A security rule (custom or default).
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) priority: u32,
    pub(crate) direction: Direction,
    pub(crate) allow: bool,
    /// IANA protocol number; `None` = `*`.
    pub(crate) protocol: Option<u8>,
    pub(crate) src: Vec<Addr>,
    pub(crate) dst: Vec<Addr>,
    /// Lowercase ASG ids.
    pub(crate) src_asgs: Vec<String>,
    pub(crate) dst_asgs: Vec<String>,
    /// Empty = any.
    pub(crate) src_ports: Vec<(u16, u16)>,
    pub(crate) dst_ports: Vec<(u16, u16)>,
    pub(crate) default: bool,
}

/// A network security group.
#[derive(Debug, Clone)]
pub(crate) struct Nsg {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) resource_group: String,
    /// Custom rules, by priority.
    pub(crate) rules: Vec<Rule>,
}

/// One IP configuration of a NIC.
#[derive(Debug, Clone)]
pub(crate) struct IpConfig {
    /// Lowercase id (`…/networkInterfaces/NIC/ipConfigurations/NAME`), when exported.
    pub(crate) id: Option<String>,
    pub(crate) ip: Option<IpAddr>,
    /// Lowercase subnet id.
    pub(crate) subnet: Option<String>,
    /// Lowercase ASG ids.
    pub(crate) asgs: Vec<String>,
}

/// A network interface.
#[derive(Debug, Clone)]
pub(crate) struct Nic {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) ipconfigs: Vec<IpConfig>,
    /// Lowercase id of the NIC's own NSG.
    pub(crate) nsg: Option<String>,
}

/// A subnet of a VNet.
#[derive(Debug, Clone)]
pub(crate) struct Subnet {
    pub(crate) id: String,
    pub(crate) prefixes: Vec<IpNet>,
    /// Lowercase NSG id.
    pub(crate) nsg: Option<String>,
    /// Index of the VNet, when the subnet came with its VNet.
    pub(crate) vnet: Option<usize>,
}

/// A virtual network.
#[derive(Debug, Clone)]
pub(crate) struct Vnet {
    pub(crate) name: String,
    pub(crate) prefixes: Vec<IpNet>,
    /// Remote spaces of peerings in state `Connected` that allow virtual network access.
    pub(crate) peered: Vec<IpNet>,
    /// Lowercase ids of connected peered VNets.
    pub(crate) peers: Vec<String>,
    /// False when the export has no `virtualNetworkPeerings` field at all.
    pub(crate) peerings_exported: bool,
    /// A `GatewaySubnet` or a peering that uses remote gateways: on-premises prefixes may be
    /// part of `VirtualNetwork`.
    pub(crate) gateway: bool,
    pub(crate) id: String,
}

/// Everything the Azure exports say, indexed for one-query-at-a-time evaluation.
#[derive(Debug, Clone, Default)]
pub struct Estate {
    pub(crate) nsgs: Vec<Nsg>,
    /// Lowercase id → NSG.
    pub(crate) nsg_by_id: HashMap<String, usize>,
    /// NSGs' own `subnets[].id` (lowercase) → NSG, for subnets whose VNet is not exported.
    pub(crate) nsg_of_subnet: HashMap<String, usize>,
    pub(crate) nics: Vec<Nic>,
    /// Lowercase id, name and VM id → NIC (names may repeat across resource groups).
    pub(crate) nic_by_key: HashMap<String, Vec<usize>>,
    /// Private addresses → (NIC, IP configuration).
    pub(crate) nic_by_ip: HashMap<IpAddr, (usize, usize)>,
    /// Public addresses (from `az network public-ip` exports) → (NIC, IP configuration).
    pub(crate) nic_by_public_ip: HashMap<IpAddr, (usize, usize)>,
    pub(crate) vnets: Vec<Vnet>,
    /// Lowercase subnet id → subnet.
    pub(crate) subnets: HashMap<String, Subnet>,
    /// Lowercase ASG id → name (from ASG exports and references).
    pub(crate) asg_names: HashMap<String, String>,
    /// Lowercase ASG id → the id as exported (for commands).
    pub(crate) asg_ids: HashMap<String, String>,
    /// Lowercase ASG id → member IP configurations.
    pub(crate) asg_members: HashMap<String, Vec<(usize, usize)>>,
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
}
