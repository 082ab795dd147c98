//! The `allow:` section: which targets `/probe` may reach (CIDRs, host patterns, ports).

/// The allow-list.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AllowList {}

impl AllowList {
    /// Checks the CIDRs and patterns.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        Ok(())
    }
}
