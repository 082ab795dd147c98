//! `netdiag serve`: a Prometheus prober that a blackbox_exporter user switches to by changing the
//! binary, and that then says *why* a probe failed.
//!
//! Why it is shaped this way: blackbox_exporter's surface (`/probe?target=&module=`, blackbox.yml,
//! its metric names and the situations in which each series is present) is what dashboards and
//! alert rules already depend on, so it is copied exactly (see
//! `shared/research/prober-anchors.md`). What netdiag adds is the verdict of the same walk that
//! `netdiag check` runs ([`netdiag_engine`]), exported as bounded series:
//! `probe_failure_info{layer,cause}`, `netdiag_layer_success{layer}` and
//! `netdiag_layer_duration_seconds{layer}`.
//!
//! Layout:
//! - [`config`]: blackbox.yml, strictly (an unknown key or an unimplemented field is an error
//!   naming it), plus netdiag's own sections (allow-list, scheduled targets).
//! - [`timeout`]: blackbox's timeout rule (module timeout, scrape-timeout header, offset).
//! - [`expo`]: one probe's registry and its text exposition.
//! - [`probers`]: one module + one target → a [`probers::ProbeOutcome`] (metrics, log, report).
//! - [`server`], [`listen`]: the HTTP server (blackbox's endpoints, allow-list, bounded
//!   concurrency); [`history`] and [`page`]: the status page; [`selfmetrics`]: `/metrics`;
//!   [`webconfig`]: TLS and basic auth; [`schedule_run`]: targets the server probes itself;
//!   [`fleet`]: fleet members and the fleet report; [`offpath`]: probes off the request path.

pub mod api;
pub mod config;
pub mod expo;
pub mod fleet;
pub mod history;
pub mod listen;
pub mod offpath;
pub mod page;
pub mod probers;
pub mod schedule_run;
pub mod selfmetrics;
pub mod server;
pub mod state;
pub mod timeout;
pub mod webconfig;
