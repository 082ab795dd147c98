//! The `schedule:` section at run time: the server probes each scheduled target every interval
//! itself and `/metrics` exports the latest result of each, with `target` and `module` labels
//! added to every series. The series are bounded by the config (one result per entry); a reload
//! restarts the loops and drops results of entries that are gone.

use crate::expo::Registry;
use crate::state::Shared;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Starts one loop per scheduled target of the current config (loops of an older generation
/// stop at their next tick).
pub fn restart(shared: &Arc<Shared>) {
    let config = shared.config();
    let generation = shared.generation.load(Ordering::SeqCst);
    {
        let mut results = shared
            .scheduled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        results.retain(|(t, m), _| {
            config
                .schedule
                .iter()
                .any(|s| &s.target == t && &s.module == m)
        });
    }
    for entry in &config.schedule {
        let Ok(interval) = entry.interval() else {
            continue;
        };
        let shared = Arc::clone(shared);
        let (target, module) = (entry.target.clone(), entry.module.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(100)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if shared.generation.load(Ordering::SeqCst) != generation {
                    return;
                }
                run_once(&shared, &target, &module, interval).await;
            }
        });
    }
    crate::fleet::run::restart(shared);
}

async fn run_once(shared: &Arc<Shared>, target: &str, module_name: &str, interval: Duration) {
    let registry = crate::offpath::probe(shared, target, module_name, interval).await;
    shared
        .scheduled
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert((target.to_string(), module_name.to_string()), registry);
}

/// The latest scheduled results, every series labelled with its `target` and `module`.
pub fn encode(shared: &Shared) -> String {
    let node = shared.options.node.as_deref();
    let mut out = Registry::new();
    {
        let results = shared
            .scheduled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for ((target, module), registry) in results.iter() {
            let mut labels = vec![("target", target.as_str()), ("module", module.as_str())];
            labels.extend(node.map(|n| ("node", n)));
            crate::offpath::add_labelled(&mut out, registry, &labels);
        }
    }
    crate::fleet::run::encode_into(shared, &mut out);
    out.encode()
}

/// Merges per-target registries into one, adding `target` and `module` to every sample.
pub fn labelled(results: &std::collections::BTreeMap<(String, String), Registry>) -> Registry {
    let mut out = Registry::new();
    for ((target, module), registry) in results {
        crate::offpath::add_labelled(
            &mut out,
            registry,
            &[("target", target), ("module", module)],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_gets_target_and_module() {
        let mut a = Registry::new();
        a.gauge("probe_success", "h", 1.0);
        a.gauge_with("netdiag_layer_success", "h", &[("layer", "tcp")], 1.0);
        let mut b = Registry::new();
        b.gauge("probe_success", "h", 0.0);
        let mut m = std::collections::BTreeMap::new();
        m.insert(("127.0.0.1:1".to_string(), "tcp".to_string()), a);
        m.insert(("127.0.0.1:2".to_string(), "tcp".to_string()), b);
        let text = labelled(&m).encode();
        assert!(
            text.contains("probe_success{module=\"tcp\",target=\"127.0.0.1:1\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("probe_success{module=\"tcp\",target=\"127.0.0.1:2\"} 0\n"));
        assert!(text.contains(
            "netdiag_layer_success{layer=\"tcp\",module=\"tcp\",target=\"127.0.0.1:1\"} 1\n"
        ));
        assert_eq!(text.matches("# TYPE probe_success").count(), 1);
    }
}
