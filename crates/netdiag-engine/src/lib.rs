//! netdiag's one library entry point: the front-ends (the CLI, the Prometheus prober, the MCP
//! server) hand in a validated request and get a report back, so that every one of them gives
//! the same verdict for the same question.
//!
//! The diagnosis model (causes, verdicts, remedies, rendering) is netdiag-core's; the I/O is the
//! probes' and the adapters'. This crate only wires them: it must never parse flags (that is the
//! front-end's job) nor decide a verdict (that is core's).
//!
//! The public interface is:
//! - [`live`]: [`LiveCheck`] → [`run`](live::run) → [`LiveReports`], and [`check_one`] for
//!   one target (the prober's unit of work).
//! - [`cloud`]: [`CloudRequest`] → [`check`](cloud::check) → [`CloudAnswer`].
//! - [`k8s`]: [`ClusterInput`] + a flow → [`check`](k8s::check), or the [`matrix`](k8s::matrix).

pub mod cloud;
pub mod k8s;
pub mod live;

pub use k8s::ClusterInput;

pub use cloud::{CloudAnswer, CloudRequest};

pub use live::{check_all, check_one, run_with, LiveCheck, LiveError, LiveReports};
