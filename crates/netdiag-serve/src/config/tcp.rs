//! The `tcp:` module section.

/// blackbox's tcp prober settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TcpProbe {}
