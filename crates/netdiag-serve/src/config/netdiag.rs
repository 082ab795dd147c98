//! The `netdiag:` module section: the full walk, with `netdiag check`'s options.

/// netdiag's walk prober settings.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetdiagProbe {}

impl NetdiagProbe {
    /// Checks what serde cannot: combinations, ranges, regexes, unimplemented fields.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        Ok(())
    }
}
