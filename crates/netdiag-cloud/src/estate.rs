//! The seam between `check` and the providers: every provider's parsed estate answers a
//! [`Query`] through [`Estate`], so `check` and `render` never learn provider details.
//!
//! A query that names something the exports do not contain is the user's mistake (exit 2), not a
//! verdict: that is [`ResolveError`]. Missing data that the *answer* depends on is a verdict
//! (`cloud_unknown`), never an error.

use crate::flow::Query;
use crate::verdict::Evaluation;

/// A provider's estate, loaded from its exports; evaluation is pure (no I/O).
pub trait Estate: Send + Sync {
    /// Evaluates one flow.
    fn evaluate(&self, q: &Query) -> Result<Evaluation, ResolveError>;
}

/// The query cannot be asked of these exports (a usage error, exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// An endpoint id or address is not in the exports.
    #[error("{endpoint}: not found in the exports; {hint}")]
    NotFound {
        /// The endpoint as typed.
        endpoint: String,
        /// What to export or type instead.
        hint: String,
    },
    /// The query makes no sense for this provider (e.g. mixed address families).
    #[error("{0}")]
    Invalid(String),
}
