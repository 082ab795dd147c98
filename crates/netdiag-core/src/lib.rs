//! netdiag-core: the pure diagnosis core of netdiag.
//!
//! Everything here is plain data and pure functions: the layer model, the cause catalogue,
//! parsers for the resolver configuration, the classification of observations into findings,
//! the walk policy, the verdict with its fix, rollback and runbook, and report rendering.
//! There is no I/O, no clock and no async here: probes pass observations in, reports come out.
//! That is what keeps the diagnosis testable on plain data.

pub mod catalogue;
pub mod cause;
pub mod layer;
pub mod observe;
pub mod oracle;
pub mod proxyenv;
pub mod redact;
pub mod remedy;

pub use cause::Cause;
pub use layer::{Domain, K8sLayer, Layer, Scope};
pub mod diagnose;
pub mod firewall;
pub mod fix;
pub mod gai;
pub mod hostfacts;
pub mod hosts;
pub mod kubedns;
pub mod nat64;
pub mod render;
pub mod report;
pub mod resolvconf;
pub mod search;
pub mod target;
pub mod walk;
