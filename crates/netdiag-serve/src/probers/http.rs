//! The `http` prober.

use super::{ProbeOutcome, ProbeRequest};

/// Runs one `http` probe.
pub fn probe(request: &ProbeRequest<'_>) -> ProbeOutcome {
    let _ = request;
    ProbeOutcome::default()
}
