//! The AWS estate as evaluation needs it: every resource indexed by id once, so one query costs
//! hash look-ups and a scan of the few rules that apply, never a scan of the estate.

use crate::flow::Protocol;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;

/// An `IpProtocol` (security groups) or `Protocol` (network ACLs) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleProtocol {
    /// `-1`: every protocol, every port.
    All,
    /// `tcp` / `6`.
    Tcp,
    /// `udp` / `17`.
    Udp,
    /// `icmp` / `1` (ports are ICMP type and code).
    Icmp,
    /// `icmpv6` / `58`.
    Icmpv6,
    /// Any other IANA number (never matches a tcp/udp/icmp flow).
    Other(u8),
}

impl RuleProtocol {
    /// Parses what the AWS CLI prints: a name or a number as text.
    pub fn parse(text: &str) -> Option<RuleProtocol> {
        Some(match text.to_ascii_lowercase().as_str() {
            "-1" | "all" => RuleProtocol::All,
            "tcp" | "6" => RuleProtocol::Tcp,
            "udp" | "17" => RuleProtocol::Udp,
            "icmp" | "1" => RuleProtocol::Icmp,
            "icmpv6" | "58" => RuleProtocol::Icmpv6,
            other => RuleProtocol::Other(other.parse().ok()?),
        })
    }

    /// The security-group spelling (`IpProtocol=`).
    pub fn sg_name(self) -> String {
        match self {
            RuleProtocol::All => "-1".into(),
            RuleProtocol::Tcp => "tcp".into(),
            RuleProtocol::Udp => "udp".into(),
            RuleProtocol::Icmp => "icmp".into(),
            RuleProtocol::Icmpv6 => "icmpv6".into(),
            RuleProtocol::Other(n) => n.to_string(),
        }
    }

    /// The network-ACL spelling (`--protocol`).
    pub fn acl_number(self) -> String {
        match self {
            RuleProtocol::All => "-1".into(),
            RuleProtocol::Tcp => "6".into(),
            RuleProtocol::Udp => "17".into(),
            RuleProtocol::Icmp => "1".into(),
            RuleProtocol::Icmpv6 => "58".into(),
            RuleProtocol::Other(n) => n.to_string(),
        }
    }

    /// For people: `all`, `tcp`, …
    pub fn label(self) -> String {
        match self {
            RuleProtocol::All => "all".into(),
            other => other.sg_name(),
        }
    }
}

/// Who a security-group rule admits (one entry of `IpRanges`, `Ipv6Ranges`, `PrefixListIds` or
/// `UserIdGroupPairs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SgPeer {
    /// `CidrIp` / `CidrIpv6`.
    Cidr(IpNet),
    /// `PrefixListId`.
    PrefixList(String),
    /// `GroupId` (the members' private addresses), possibly across a peering connection.
    Group {
        /// The referenced group.
        group_id: String,
        /// `VpcPeeringConnectionId`, when the group lives in a peered VPC.
        peering: Option<String>,
    },
}

/// One peer of one `IpPermissions[]` entry, flattened (AWS groups several peers under one
/// protocol/port range; evaluation and fixes think in single rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgRule {
    /// Protocol.
    pub protocol: RuleProtocol,
    /// `FromPort` (ICMP: type; -1 all). `None` when absent (protocol -1).
    pub from_port: Option<i64>,
    /// `ToPort` (ICMP: code; -1 all).
    pub to_port: Option<i64>,
    /// Who.
    pub peer: SgPeer,
}

/// A security group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityGroup {
    /// `GroupId`.
    pub id: String,
    /// `GroupName`.
    pub name: String,
    /// `VpcId`.
    pub vpc_id: Option<String>,
    /// `IpPermissions`, flattened.
    pub ingress: Vec<SgRule>,
    /// `IpPermissionsEgress`, flattened.
    pub egress: Vec<SgRule>,
}

/// One network ACL entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    /// `RuleNumber` (lowest match wins; 32767 is the `*` default).
    pub number: u32,
    /// `Protocol`.
    pub protocol: RuleProtocol,
    /// `RuleAction == allow`.
    pub allow: bool,
    /// `Egress`.
    pub egress: bool,
    /// `CidrBlock` or `Ipv6CidrBlock`.
    pub cidr: IpNet,
    /// `PortRange` (tcp/udp).
    pub ports: Option<(u16, u16)>,
    /// `IcmpTypeCode` (type, code), -1 = any.
    pub icmp: Option<(i64, i64)>,
}

/// A network ACL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkAcl {
    /// `NetworkAclId`.
    pub id: String,
    /// `VpcId`.
    pub vpc_id: Option<String>,
    /// `IsDefault`: applies to every subnet of the VPC without an explicit association.
    pub is_default: bool,
    /// Entries sorted by rule number.
    pub entries: Vec<AclEntry>,
    /// `Associations[].SubnetId`.
    pub subnets: Vec<String>,
}

/// What a route points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// `GatewayId: local` (inside the VPC).
    Local,
    /// `VpcPeeringConnectionId`.
    Peering(String),
    /// Any other target (`igw-…`, `nat-…`, `tgw-…`, `eni-…`, `vgw-…`, …), kept as its id.
    Other(String),
}

impl RouteTarget {
    /// The id as AWS prints it.
    pub fn id(&self) -> &str {
        match self {
            RouteTarget::Local => "local",
            RouteTarget::Peering(id) | RouteTarget::Other(id) => id,
        }
    }
}

/// A route's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDestination {
    /// `DestinationCidrBlock` / `DestinationIpv6CidrBlock`.
    Cidr(IpNet),
    /// `DestinationPrefixListId`.
    PrefixList(String),
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination.
    pub destination: RouteDestination,
    /// Target.
    pub target: RouteTarget,
    /// `State == active` (absent counts as active: `local` routes always are).
    pub active: bool,
    /// `State` as printed.
    pub state: String,
    /// `Origin == EnableVgwRoutePropagation`: a propagated route, which loses to a static or
    /// prefix-list route for the same prefix.
    pub propagated: bool,
}

/// A route table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    /// `RouteTableId`.
    pub id: String,
    /// `VpcId`.
    pub vpc_id: Option<String>,
    /// An association with `Main: true`.
    pub main: bool,
    /// `Associations[].SubnetId`.
    pub subnets: Vec<String>,
    /// `Routes`.
    pub routes: Vec<Route>,
}

/// A subnet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subnet {
    /// `SubnetId`.
    pub id: String,
    /// `VpcId`.
    pub vpc_id: Option<String>,
    /// `CidrBlock` and the associated IPv6 blocks.
    pub cidrs: Vec<IpNet>,
}

/// A VPC.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vpc {
    /// `VpcId`.
    pub id: String,
    /// `CidrBlock`, `CidrBlockAssociationSet`, `Ipv6CidrBlockAssociationSet`.
    pub cidrs: Vec<IpNet>,
}

/// A network interface (from `describe-network-interfaces`, or from an instance's
/// `NetworkInterfaces`, or synthesised from an instance's top-level fields).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interface {
    /// `NetworkInterfaceId` (or the instance id when the export has no interfaces).
    pub id: String,
    /// `Attachment.InstanceId`.
    pub instance_id: Option<String>,
    /// `Attachment.DeviceIndex` (0 = primary).
    pub device_index: i64,
    /// `SubnetId`.
    pub subnet_id: Option<String>,
    /// `VpcId`.
    pub vpc_id: Option<String>,
    /// `PrivateIpAddresses[].PrivateIpAddress` and `Ipv6Addresses[].Ipv6Address`.
    pub private_ips: Vec<IpAddr>,
    /// `Association.PublicIp` (and per-address associations).
    pub public_ips: Vec<IpAddr>,
    /// `Groups[].GroupId`.
    pub groups: Vec<String>,
}

/// A managed or AWS-managed prefix list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrefixList {
    /// `PrefixListId`.
    pub id: String,
    /// `PrefixListName`.
    pub name: Option<String>,
    /// The CIDRs, when an export gave them (`get-managed-prefix-list-entries`, or the `Cidrs`
    /// of `describe-prefix-lists`).
    pub entries: Option<Vec<IpNet>>,
}

/// One side of a peering connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeeringSide {
    /// `VpcId`.
    pub vpc_id: Option<String>,
    /// `CidrBlock`, `CidrBlockSet`, `Ipv6CidrBlockSet`.
    pub cidrs: Vec<IpNet>,
}

/// A VPC peering connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Peering {
    /// `VpcPeeringConnectionId`.
    pub id: String,
    /// `Status.Code` (`active`, `pending-acceptance`, `deleted`, …).
    pub status: String,
    /// `RequesterVpcInfo`.
    pub requester: PeeringSide,
    /// `AccepterVpcInfo`.
    pub accepter: PeeringSide,
}

/// Everything loaded from the exports, indexed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Estate {
    /// Interfaces, addressed by index.
    pub interfaces: Vec<Interface>,
    /// Interface id → index.
    pub interface_by_id: HashMap<String, usize>,
    /// Private address → interface index.
    pub interface_by_private_ip: HashMap<IpAddr, usize>,
    /// Public/Elastic address → interface index.
    pub interface_by_public_ip: HashMap<IpAddr, usize>,
    /// Instance id → its interfaces (primary first).
    pub interfaces_by_instance: HashMap<String, Vec<usize>>,
    /// Security groups by id.
    pub security_groups: HashMap<String, SecurityGroup>,
    /// Network ACLs by id.
    pub network_acls: HashMap<String, NetworkAcl>,
    /// Subnet id → its explicitly associated network ACL.
    pub acl_by_subnet: HashMap<String, String>,
    /// VPC id → its default network ACL.
    pub default_acl_by_vpc: HashMap<String, String>,
    /// Route tables by id.
    pub route_tables: HashMap<String, RouteTable>,
    /// Subnet id → explicitly associated route table.
    pub route_table_by_subnet: HashMap<String, String>,
    /// VPC id → main route table.
    pub main_route_table_by_vpc: HashMap<String, String>,
    /// Subnets by id.
    pub subnets: HashMap<String, Subnet>,
    /// VPCs by id.
    pub vpcs: HashMap<String, Vpc>,
    /// Prefix lists by id.
    pub prefix_lists: HashMap<String, PrefixList>,
    /// Peering connections by id.
    pub peerings: HashMap<String, Peering>,
    /// Whether any interface inventory (instances or network interfaces) was exported.
    pub has_inventory: bool,
}

impl Estate {
    /// Builds the derived indexes after every document has been read.
    pub(crate) fn index(&mut self) {
        self.interface_by_id.clear();
        self.interface_by_private_ip.clear();
        self.interface_by_public_ip.clear();
        self.interfaces_by_instance.clear();
        for (i, eni) in self.interfaces.iter().enumerate() {
            self.interface_by_id.insert(eni.id.clone(), i);
            for ip in &eni.private_ips {
                self.interface_by_private_ip.insert(*ip, i);
            }
            for ip in &eni.public_ips {
                self.interface_by_public_ip.insert(*ip, i);
            }
            if let Some(inst) = &eni.instance_id {
                self.interfaces_by_instance
                    .entry(inst.clone())
                    .or_default()
                    .push(i);
            }
        }
        for list in self.interfaces_by_instance.values_mut() {
            let interfaces = &self.interfaces;
            list.sort_by_key(|i| interfaces.get(*i).map_or(i64::MAX, |e| e.device_index));
        }
        self.acl_by_subnet.clear();
        self.default_acl_by_vpc.clear();
        for acl in self.network_acls.values() {
            for s in &acl.subnets {
                self.acl_by_subnet.insert(s.clone(), acl.id.clone());
            }
            if acl.is_default {
                if let Some(vpc) = &acl.vpc_id {
                    self.default_acl_by_vpc.insert(vpc.clone(), acl.id.clone());
                }
            }
        }
        self.route_table_by_subnet.clear();
        self.main_route_table_by_vpc.clear();
        for rt in self.route_tables.values() {
            for s in &rt.subnets {
                self.route_table_by_subnet.insert(s.clone(), rt.id.clone());
            }
            if rt.main {
                if let Some(vpc) = &rt.vpc_id {
                    self.main_route_table_by_vpc
                        .insert(vpc.clone(), rt.id.clone());
                }
            }
        }
    }
}

/// One end of the flow, resolved.
#[derive(Debug, Clone)]
pub(crate) struct End {
    /// As typed.
    pub(crate) typed: String,
    /// The interface, when the end is in the exports.
    pub(crate) interface: Option<usize>,
    /// The address (a single address as /32 or /128, or the user's range).
    pub(crate) addr: IpNet,
    /// The address is the interface's public/Elastic IP.
    pub(crate) via_public: bool,
}

/// The flow's protocol details as rules match them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowSpec {
    pub(crate) protocol: Protocol,
    pub(crate) port: u16,
    pub(crate) ipv6: bool,
}

impl FlowSpec {
    /// ICMP flows are evaluated as an echo request (IPv4 type 8, ICMPv6 type 128), code 0.
    pub(crate) fn icmp_request(self) -> (i64, i64) {
        if self.ipv6 {
            (128, 0)
        } else {
            (8, 0)
        }
    }

    pub(crate) fn icmp_reply(self) -> (i64, i64) {
        if self.ipv6 {
            (129, 0)
        } else {
            (0, 0)
        }
    }

    pub(crate) fn label(self) -> String {
        match self.protocol {
            Protocol::Icmp => {
                let (t, _) = self.icmp_request();
                format!("icmp echo (type {t})")
            }
            p => format!("{p}/{}", self.port),
        }
    }
}

pub(crate) fn describe_entry(e: &AclEntry) -> String {
    let ports = match (e.protocol, e.ports, e.icmp) {
        (RuleProtocol::All, _, _) => "all".to_string(),
        (RuleProtocol::Tcp | RuleProtocol::Udp, Some((f, t)), _) if f == t => {
            format!("{} {f}", e.protocol.label())
        }
        (RuleProtocol::Tcp | RuleProtocol::Udp, Some((f, t)), _) => {
            format!("{} {f}-{t}", e.protocol.label())
        }
        (RuleProtocol::Icmp | RuleProtocol::Icmpv6, _, Some((t, c))) => {
            format!("{} type {t} code {c}", e.protocol.label())
        }
        (p, _, _) => p.label(),
    };
    format!(
        "{} {ports} {} {}",
        if e.allow { "allow" } else { "deny" },
        if e.egress { "to" } else { "from" },
        e.cidr
    )
}
