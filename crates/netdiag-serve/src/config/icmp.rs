//! The `icmp:` module section.

/// blackbox's icmp prober settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IcmpProbe {}
