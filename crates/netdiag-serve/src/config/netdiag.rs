//! The `netdiag:` module section: the full walk, with `netdiag check`'s options.

/// netdiag's walk prober settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetdiagProbe {}
