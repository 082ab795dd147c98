//! The `http:` module section.

/// blackbox's http prober settings.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {}

impl HttpProbe {
    /// Checks what serde cannot: combinations, ranges, regexes, unimplemented fields.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        Ok(())
    }
}
