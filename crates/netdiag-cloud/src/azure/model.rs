//! The evaluation's shared vocabulary: a resolved end of the flow and a definite block in the
//! terms the fix needs. [`super::eval`] produces these; [`super::fix`] reads them.

use super::Direction;
use crate::verdict::{Cause, CloudLayer, RuleRef, Side};
use ipnet::IpNet;

/// One end of the flow, resolved against the estate.
#[derive(Debug, Clone)]
pub(crate) struct Ep {
    /// The (private) address, or the range the user gave.
    pub(crate) net: IpNet,
    /// The NIC and IP configuration, when the address is an exported NIC's.
    pub(crate) at: Option<(usize, usize)>,
    pub(crate) label: String,
}

/// A definite block by one NSG (or the path).
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) layer: CloudLayer,
    pub(crate) cause: Cause,
    pub(crate) side: Side,
    pub(crate) rule: RuleRef,
    /// The NSG that blocks (None: not an NSG block; there is no fix).
    pub(crate) nsg: Option<usize>,
    pub(crate) priority: u32,
    pub(crate) dir: Direction,
    /// The NIC where the NSG applies, and the other end.
    pub(crate) local: (usize, usize),
    pub(crate) peer: Ep,
    pub(crate) would_allow: Option<RuleRef>,
    pub(crate) no_fix: Option<String>,
}
