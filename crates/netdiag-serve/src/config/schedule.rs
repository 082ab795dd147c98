//! The `schedule:` section: targets the prober runs itself, with module and interval.

/// One scheduled target.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledTarget {
    /// The target, as `/probe?target=` takes it.
    pub target: String,
    /// The module name.
    pub module: String,
    /// How often it runs (a Prometheus duration).
    pub interval: String,
}

impl ScheduledTarget {
    /// Checks that the module exists and the interval parses.
    pub fn validate(&self, config: &super::Config) -> Result<(), super::ConfigError> {
        if !config.modules.contains_key(&self.module) {
            return Err(super::ConfigError(format!(
                "schedule: target {:?} names unknown module {:?}",
                self.target, self.module
            )));
        }
        if self.interval()?.is_zero() {
            return Err(super::ConfigError(format!(
                "schedule: target {:?} has interval 0",
                self.target
            )));
        }
        Ok(())
    }

    /// The interval as a duration.
    pub fn interval(&self) -> Result<std::time::Duration, super::ConfigError> {
        super::duration::parse(&self.interval)
    }
}
