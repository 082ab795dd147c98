//! The `dns:` module section.

/// blackbox's dns prober settings.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsProbe {}

impl DnsProbe {
    /// Checks what serde cannot: combinations, ranges, regexes, unimplemented fields.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        Ok(())
    }
}
