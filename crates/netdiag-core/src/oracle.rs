//! The seam between a live walk and what knows more than the host can see: a [`FlowOracle`]
//! is asked about the exact flow that failed, after the walk, and adds its answer to the report.
//!
//! The cloud adapter implements it from the provider's exports (`netdiag check --cloud`): a
//! silent drop on the wire becomes "security group sg-… has no rule for 10.0.1.4 → 22". Core
//! defines the seam so the walk's report stays the one model and no front-end carries verdict
//! glue; it never knows which oracle it holds.

use crate::report::Report;

/// Something that can explain a failed flow better than the live walk could.
///
/// An implementation reads `report.failed_flow` and `report.verdict.cause` (see
/// [`crate::Cause::follow_ups`] for the causes worth asking about), and may add a row, the
/// report's `cloud` document, and a narrower fix put first with
/// [`crate::remedy::Remedy::put_first`]. It must keep the live cause: what was observed stays
/// the verdict; the oracle says where.
pub trait FlowOracle: Send + Sync + std::fmt::Debug {
    /// Adds this oracle's answer about the report's failed flow, if it has one.
    fn explain(&self, report: &mut Report);
}
