//! The evaluation's shared vocabulary: a resolved end of the flow, the leg it is evaluated on,
//! and a definite block in the terms the fix needs. [`super::eval`] produces these;
//! [`super::fix`] reads them.

use super::Direction;
use crate::verdict::{Cause, CloudLayer, RuleRef, Side};
use ipnet::IpNet;
use std::net::IpAddr;

/// One end of the flow, resolved against the estate.
#[derive(Debug, Clone)]
pub(crate) struct Ep {
    /// The address (a /32 or /128) or the range the user gave.
    pub(crate) net: IpNet,
    /// The instance and interface, when the address is an exported instance's.
    pub(crate) at: Option<(usize, usize)>,
    /// A private address that is no exported instance: it may be an instance the export lacks.
    pub(crate) maybe_instance: bool,
    /// How to name it in messages.
    pub(crate) label: String,
    /// Named by an instance's external address: the packet uses the external path.
    pub(crate) external: bool,
}

/// Where a leg is evaluated: at which instance interface, in which direction, against which peer.
#[derive(Debug, Clone)]
pub(crate) struct LegCtx {
    pub(crate) dir: Direction,
    pub(crate) local: (usize, usize),
    /// The instance's address the flow uses (IPv4 or IPv6).
    pub(crate) local_ip: IpAddr,
    pub(crate) peer: Ep,
}

/// Why a leg is blocked, in the terms the fix needs.
#[derive(Debug, Clone)]
pub(crate) enum BlockKind {
    /// A VPC firewall deny rule.
    Vpc { priority: u64 },
    /// `implied-deny-ingress`.
    Implied,
    /// A network firewall policy deny rule.
    NetPolicy {
        policy: String,
        priority: u64,
        first: bool,
    },
    /// A hierarchical policy deny rule (no tenant fix).
    Hier {
        policy: String,
        attached: Vec<String>,
        /// A system policy (Google-managed): not even the organization edits it.
        system: bool,
        /// The policy's `name` (a numeric id for hierarchical policies).
        id: String,
        /// The deny rule's priority.
        priority: u64,
    },
    /// A platform block (no fix).
    Platform(String),
    /// No route for the destination.
    NoRoute { network: String },
    /// Different networks, not peered (no firewall fix).
    NotPeered(String),
}

/// A definite block on one leg.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) layer: CloudLayer,
    pub(crate) cause: Cause,
    pub(crate) side: Side,
    pub(crate) rule: RuleRef,
    pub(crate) kind: BlockKind,
    pub(crate) would_allow: Option<RuleRef>,
    pub(crate) leg: LegCtx,
}
