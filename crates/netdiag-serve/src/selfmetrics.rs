//! The server's own series on `/metrics`: build info, reload state, unknown modules (under
//! netdiag's names and blackbox's, so existing alerts keep working), probes by module and result,
//! probes in flight, a duration histogram by module, and refusals by reason.
//!
//! Why hand-written: a few counters and one histogram do not need a metrics crate, and they
//! share [`crate::expo`]'s exposition (and so its `promtool check metrics` conformance).

use crate::expo::{format_value, Kind, Registry};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Histogram bucket bounds in seconds (Prometheus' defaults, extended to blackbox's 120 s).
pub const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Why a probe was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RefusalReason {
    /// The target is outside the allow-list (403).
    NotAllowed,
    /// Every probe slot and the queue are taken (503).
    Overloaded,
}

impl RefusalReason {
    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            RefusalReason::NotAllowed => "not_allowed",
            RefusalReason::Overloaded => "overloaded",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Inner {
    reload_ok: bool,
    reload_timestamp: f64,
    module_unknown: u64,
    probes: BTreeMap<(String, &'static str), u64>,
    in_flight: u64,
    durations: BTreeMap<String, Histogram>,
    refused: BTreeMap<RefusalReason, u64>,
}

/// The server's counters (one per process, shared by every request).
#[derive(Debug, Default)]
pub struct SelfMetrics {
    inner: Mutex<Inner>,
}

impl SelfMetrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Records a (re)load: success and, when successful, its time.
    pub fn reloaded(&self, ok: bool, unix_seconds: f64) {
        self.with(|m| {
            m.reload_ok = ok;
            if ok {
                m.reload_timestamp = unix_seconds;
            }
        });
    }

    /// A `/probe` named an unknown module.
    pub fn module_unknown(&self) {
        self.with(|m| m.module_unknown += 1);
    }

    /// A probe was refused.
    pub fn refused(&self, reason: RefusalReason) {
        self.with(|m| *m.refused.entry(reason).or_default() += 1);
    }

    /// A probe started.
    pub fn started(&self) {
        self.with(|m| m.in_flight += 1);
    }

    /// A probe ended.
    pub fn finished(&self, module: &str, success: bool, seconds: f64) {
        self.with(|m| {
            m.in_flight = m.in_flight.saturating_sub(1);
            let result = if success { "success" } else { "failure" };
            *m.probes.entry((module.to_string(), result)).or_default() += 1;
            let h = m.durations.entry(module.to_string()).or_default();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        });
    }

    /// Probes running now.
    pub fn in_flight(&self) -> u64 {
        self.with(|m| m.in_flight)
    }

    /// The exposition of every own series.
    pub fn encode(&self) -> String {
        let (mut reg, hist) = self.with(|m| (registry(m), histogram_text(&m.durations)));
        reg.gauge_with(
            "netdiag_build_info",
            "A metric with a constant '1' value labeled by version from which netdiag was built",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        let mut text = reg.encode();
        text.push_str(&hist);
        text
    }
}

fn registry(m: &Inner) -> Registry {
    let mut r = Registry::new();
    let ok = if m.reload_ok { 1.0 } else { 0.0 };
    for prefix in ["netdiag", "blackbox_exporter"] {
        r.gauge(
            &format!("{prefix}_config_last_reload_successful"),
            "Blackbox exporter config loaded successfully.",
            ok,
        );
        r.gauge(
            &format!("{prefix}_config_last_reload_success_timestamp_seconds"),
            "Timestamp of the last successful configuration reload.",
            m.reload_timestamp,
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let f = |v: u64| v as f64;
    for name in [
        "netdiag_module_unknown_total",
        "blackbox_module_unknown_total",
    ] {
        r.set(
            name,
            "Count of unknown modules requested by probes",
            Kind::Counter,
            &[],
            f(m.module_unknown),
        );
    }
    let help = "Probes run, by module and result";
    for ((module, result), n) in &m.probes {
        r.set(
            "netdiag_probes_total",
            help,
            Kind::Counter,
            &[("module", module), ("result", result)],
            f(*n),
        );
    }
    r.gauge(
        "netdiag_probes_in_flight",
        "Probes running now",
        f(m.in_flight),
    );
    for reason in [RefusalReason::NotAllowed, RefusalReason::Overloaded] {
        r.set(
            "netdiag_probe_refused_total",
            "Probes refused, by reason (not_allowed: outside the allow-list; overloaded: no free slot)",
            Kind::Counter,
            &[("reason", reason.label())],
            f(m.refused.get(&reason).copied().unwrap_or(0)),
        );
    }
    r
}

fn histogram_text(durations: &BTreeMap<String, Histogram>) -> String {
    let name = "netdiag_probe_duration_seconds";
    let mut out = String::new();
    let _ = writeln!(out, "# HELP {name} How long probes took, by module");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (module, h) in durations {
        let module = module
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('"', "\\\"");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{module=\"{module}\",le=\"{}\"}} {}",
                format_value(*bound),
                h.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{module=\"{module}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "{name}_sum{{module=\"{module}\"}} {}",
            format_value(h.sum)
        );
        let _ = writeln!(out, "{name}_count{{module=\"{module}\"}} {}", h.count);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_histogram() {
        let m = SelfMetrics::default();
        m.reloaded(true, 1.7e9);
        m.module_unknown();
        m.started();
        m.finished("tcp_connect", true, 0.2);
        m.refused(RefusalReason::Overloaded);
        let text = m.encode();
        assert!(text.contains("blackbox_module_unknown_total 1\n"), "{text}");
        assert!(text.contains("netdiag_module_unknown_total 1\n"));
        assert!(
            text.contains("netdiag_probes_total{module=\"tcp_connect\",result=\"success\"} 1\n")
        );
        assert!(text.contains("netdiag_probes_in_flight 0\n"));
        assert!(text.contains("netdiag_probe_refused_total{reason=\"overloaded\"} 1\n"));
        assert!(text.contains(
            "netdiag_probe_duration_seconds_bucket{module=\"tcp_connect\",le=\"0.25\"} 1\n"
        ));
        assert!(text.contains(
            "netdiag_probe_duration_seconds_bucket{module=\"tcp_connect\",le=\"0.1\"} 0\n"
        ));
        assert!(text.contains("netdiag_config_last_reload_successful 1\n"));
        assert!(text.contains("netdiag_build_info{version=\""));
    }
}
