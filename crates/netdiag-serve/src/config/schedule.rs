//! The `schedule:` section: targets the prober runs itself, with module and interval.

/// One scheduled target.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledTarget {
    /// The target, as `/probe?target=` takes it.
    pub target: String,
    /// The module name.
    pub module: String,
    /// How often it runs.
    pub interval: std::time::Duration,
}
