//! The `allow:` section: which targets `/probe` may reach (CIDRs, host patterns, ports).

/// The allow-list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AllowList {}
