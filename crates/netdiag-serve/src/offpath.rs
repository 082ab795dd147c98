//! Probes run off the `/probe` request path (scheduled targets, fleet peers and DNS endpoints):
//! one probe within its module's timeout, and the labels that file its series under the entry
//! that asked for it. Shared by [`crate::schedule_run`] and [`crate::fleet::run`].

use crate::expo::Registry;
use crate::probers::{self, ProbeRequest};
use crate::state::Shared;
use std::sync::Arc;
use std::time::Duration;

/// One probe of `target` with the current config's module, within the module's timeout and at
/// most `interval`: its registry, or `probe_success 0` when it could not finish.
pub async fn probe(
    shared: &Arc<Shared>,
    target: &str,
    module_name: &str,
    interval: Duration,
) -> Registry {
    let config = shared.config();
    let failed = || {
        let mut r = Registry::new();
        r.gauge(
            "probe_success",
            "Displays whether or not the probe was a success",
            0.0,
        );
        r
    };
    let Some(module) = config.modules.get(module_name) else {
        return failed();
    };
    let seconds =
        crate::timeout::probe_timeout(module.timeout, None, shared.options.timeout_offset)
            .unwrap_or(0.0);
    let timeout = Duration::try_from_secs_f64(seconds.max(0.0))
        .unwrap_or(Duration::ZERO)
        .min(interval);
    let (t, m, c) = (
        target.to_string(),
        module_name.to_string(),
        Arc::clone(&config),
    );
    let cert_series = shared.options.cert_series_on_failure;
    let task = tokio::task::spawn_blocking(move || {
        let module = c.modules.get(&m)?;
        Some(probers::probe(&ProbeRequest {
            target: &t,
            module_name: &m,
            module,
            hostname: None,
            timeout,
            cert_series_on_failure: cert_series,
        }))
    });
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(Some(outcome))) => outcome.metrics,
        _ => failed(),
    }
}

/// Adds every sample of `registry` to `out` with `extra` labels (which replace any of the same
/// name the probe set).
pub fn add_labelled(out: &mut Registry, registry: &Registry, extra: &[(&str, &str)]) {
    for family in registry.families() {
        for (labels, value) in &family.samples {
            let mut pairs: Vec<(&str, &str)> = labels
                .iter()
                .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            pairs.extend_from_slice(extra);
            out.set(&family.name, &family.help, family.kind, &pairs, *value);
        }
    }
}
