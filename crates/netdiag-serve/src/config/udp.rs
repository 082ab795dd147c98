//! The `udp:` module section (netdiag's own prober).

/// netdiag's udp prober settings.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct UdpProbe {}

impl UdpProbe {
    /// Checks what serde cannot: combinations, ranges, regexes, unimplemented fields.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        Ok(())
    }
}
