//! The `http:` module section.

/// blackbox's http prober settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpProbe {}
