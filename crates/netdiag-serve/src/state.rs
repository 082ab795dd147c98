//! The server's shared state: options, the config in use (swapped whole on reload), own
//! metrics, history, probe slots and scheduled results. Its own module so that the HTTP
//! handlers ([`crate::server`]) and the scheduler ([`crate::schedule_run`]) share it without
//! depending on each other.

use crate::config::{self, Config};
use crate::expo::Registry;
use crate::history::History;
use crate::page::PageEntry;
use crate::selfmetrics::SelfMetrics;
use crate::webconfig::WebConfig;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::Semaphore;

/// What `netdiag serve` was started with.
#[derive(Debug, Clone)]
pub struct Options {
    /// blackbox.yml.
    pub config_file: PathBuf,
    /// Listen addresses (`:9115`, `127.0.0.1:0`, `[::1]:9115`).
    pub listen: Vec<String>,
    /// Subtracted from the scrape's timeout.
    pub timeout_offset: f64,
    /// Recent probes kept for the status page.
    pub history_limit: usize,
    /// exporter-toolkit web config (TLS, basic auth).
    pub web_config: WebConfig,
    /// Emit `probe_ssl_*` when verification failed (`false`: exactly blackbox).
    pub cert_series_on_failure: bool,
    /// Probes running at once.
    pub concurrency: usize,
    /// Probes waiting for a slot; beyond that 503.
    pub queue: usize,
    /// The fleet member's node name (`--fleet.node`): the `node` label of scheduled and fleet
    /// series, and the member the mesh ring is walked from.
    pub node: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            config_file: PathBuf::from("blackbox.yml"),
            listen: vec![":9115".into()],
            timeout_offset: 0.5,
            history_limit: 100,
            web_config: WebConfig::default(),
            cert_series_on_failure: true,
            concurrency: 64,
            queue: 256,
            node: None,
        }
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// The options.
    pub options: Options,
    config: RwLock<Arc<Config>>,
    /// Bumped on every successful reload (the scheduler restarts on a change).
    pub generation: AtomicU64,
    /// Own series.
    pub metrics: SelfMetrics,
    history: Mutex<History>,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) waiting: AtomicUsize,
    /// Latest scheduled results by (target, module).
    pub scheduled: Mutex<BTreeMap<(String, String), Registry>>,
    /// The fleet member's results and listing status.
    pub fleet: Mutex<crate::fleet::state::FleetState>,
}

impl Shared {
    /// State around a loaded config.
    pub fn new(options: Options, config: Config) -> Arc<Shared> {
        let shared = Arc::new(Shared {
            history: Mutex::new(History::new(options.history_limit)),
            slots: Arc::new(Semaphore::new(options.concurrency.max(1))),
            options,
            config: RwLock::new(Arc::new(config)),
            generation: AtomicU64::new(0),
            metrics: SelfMetrics::default(),
            waiting: AtomicUsize::new(0),
            scheduled: Mutex::new(BTreeMap::new()),
            fleet: Mutex::new(crate::fleet::state::FleetState::default()),
        });
        shared.metrics.reloaded(true, unix_now());
        shared
    }

    /// The config in use.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(
            &self
                .config
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Reloads the config file; a bad file keeps the old config.
    pub fn reload(&self) -> Result<(), String> {
        match config::load(&self.options.config_file) {
            Ok(c) => {
                *self
                    .config
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(c);
                self.generation.fetch_add(1, Ordering::SeqCst);
                self.metrics.reloaded(true, unix_now());
                Ok(())
            }
            Err(e) => {
                self.metrics.reloaded(false, unix_now());
                Err(e.0)
            }
        }
    }

    /// The history (status page, `/logs`).
    pub fn history(&self) -> std::sync::MutexGuard<'_, History> {
        lock(&self.history)
    }

    /// Records a finished probe in the history.
    pub fn remember(&self, entry: PageEntry) -> u64 {
        lock(&self.history).add(entry)
    }
}

/// Locks, ignoring poisoning (every holder leaves the data consistent).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Seconds since the epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
