//! The `udp:` module section (netdiag's own prober).

/// netdiag's udp prober settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UdpProbe {}
