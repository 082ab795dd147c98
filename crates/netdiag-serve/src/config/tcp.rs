//! The `tcp:` module section.

/// blackbox's tcp prober settings.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {}

impl TcpProbe {
    /// Checks what serde cannot: combinations, ranges, regexes, unimplemented fields.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        Ok(())
    }
}
