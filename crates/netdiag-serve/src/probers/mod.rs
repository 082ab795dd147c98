//! One module and one target → a [`ProbeOutcome`]: the probe's metrics, its log lines, and the
//! netdiag report the verdict came from.
//!
//! Synchronous on purpose: the walk is blocking I/O with its own deadlines; the server runs each
//! probe on a blocking thread and bounds how many run at once.
//!
//! Every prober emits blackbox's series with blackbox's presence rules, then netdiag's
//! additions from the report ([`common::verdict_series`]): `probe_failure_info{layer,cause}`,
//! `netdiag_layer_success{layer}`, `netdiag_layer_duration_seconds{layer}`.

pub mod common;
pub mod dns;
pub mod http;
pub mod icmp;
pub mod netdiag;
pub mod tcp;
pub mod udp;

use crate::config::{Module, ProberKind};
use crate::expo::Registry;
use netdiag_core::report::Report;
use std::time::Duration;

/// One `/probe` request, validated by the server.
#[derive(Debug, Clone)]
pub struct ProbeRequest<'a> {
    /// The `target` parameter, unescaped once.
    pub target: &'a str,
    /// The module's name (for logs).
    pub module_name: &'a str,
    /// The module.
    pub module: &'a Module,
    /// The `hostname` parameter (http: the Host header; tcp: the TLS server name).
    pub hostname: Option<&'a str>,
    /// The probe's deadline ([`crate::timeout::probe_timeout`]).
    pub timeout: Duration,
    /// Emit the `probe_ssl_*` series even when verification failed (netdiag's default; `false`
    /// behaves exactly like blackbox, which omits them: blackbox #1119).
    pub cert_series_on_failure: bool,
}

/// What a probe found.
#[derive(Debug, Clone, Default)]
pub struct ProbeOutcome {
    /// `probe_success`.
    pub success: bool,
    /// Every series of this probe, `probe_success`/`probe_duration_seconds` included.
    pub metrics: Registry,
    /// Log lines for `debug=true` (blackbox's first section), secrets never included.
    pub log: Vec<String>,
    /// The netdiag report, when the prober walked (http, tcp, netdiag, udp).
    pub report: Option<Report>,
}

/// Runs the module's prober against the target and adds the three series every probe has:
/// `probe_success`, `probe_duration_seconds` and `probe_timeout_seconds`.
pub fn probe(request: &ProbeRequest<'_>) -> ProbeOutcome {
    let started = std::time::Instant::now();
    let mut outcome = match request.module.prober {
        ProberKind::Http => http::probe(request),
        ProberKind::Tcp => tcp::probe(request),
        ProberKind::Dns => dns::probe(request),
        ProberKind::Icmp => icmp::probe(request),
        ProberKind::Udp => udp::probe(request),
        ProberKind::Netdiag => netdiag::probe(request),
    };
    let elapsed = started.elapsed().as_secs_f64();
    outcome.metrics.gauge(
        "probe_success",
        "Displays whether or not the probe was a success",
        if outcome.success { 1.0 } else { 0.0 },
    );
    outcome.metrics.gauge(
        "probe_duration_seconds",
        "Returns how long the probe took to complete in seconds",
        elapsed,
    );
    outcome.metrics.gauge(
        "probe_timeout_seconds",
        "Returns how long the probe has to complete in seconds",
        request.timeout.as_secs_f64(),
    );
    outcome
}
