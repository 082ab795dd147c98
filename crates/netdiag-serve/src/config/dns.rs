//! The `dns:` module section.

/// blackbox's dns prober settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DnsProbe {}
