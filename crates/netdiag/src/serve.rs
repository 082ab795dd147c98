//! `netdiag serve`: blackbox_exporter's command line, spelled exactly as blackbox spells it
//! (`--config.file`, `--web.listen-address`, `--timeout-offset`, `--history.limit`,
//! `--web.config.file`, `--config.check`), so a unit file or a container's args keep working when
//! the binary changes. netdiag's additions: `--probe.concurrency`, `--probe.queue`,
//! `--no-cert-series-on-failure` and `--fleet.node`.

use clap::Args;
use netdiag_serve::server::{Options, Shared};
use std::path::PathBuf;

/// `netdiag serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// blackbox.yml: the modules (and netdiag's `allow:` and `schedule:` sections).
    #[arg(
        long = "config.file",
        value_name = "FILE",
        default_value = "blackbox.yml"
    )]
    pub config_file: PathBuf,
    /// Address to listen on (repeatable); `:9115` means every interface.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = ":9115"
    )]
    pub listen: Vec<String>,
    /// Seconds subtracted from Prometheus' scrape timeout to get the probe's timeout.
    #[arg(long = "timeout-offset", value_name = "SECONDS", default_value_t = 0.5)]
    pub timeout_offset: f64,
    /// How many recent probes the status page keeps.
    #[arg(long = "history.limit", value_name = "N", default_value_t = 100)]
    pub history_limit: usize,
    /// exporter-toolkit web config: TLS (tls_server_config) and basic auth (basic_auth_users).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// Check the config file (and the web config) and exit: 0 valid, 2 not.
    #[arg(long = "config.check")]
    pub config_check: bool,
    /// Probes running at once; beyond that they wait in the queue.
    #[arg(long = "probe.concurrency", value_name = "N", default_value_t = 64)]
    pub concurrency: usize,
    /// Probes waiting for a slot; beyond that the answer is 503.
    #[arg(long = "probe.queue", value_name = "N", default_value_t = 256)]
    pub queue: usize,
    /// Omit probe_ssl_* series when certificate verification failed, exactly like blackbox
    /// (netdiag keeps them by default so expiry stays visible).
    #[arg(long = "no-cert-series-on-failure")]
    pub no_cert_series_on_failure: bool,
    /// Fleet mode: this member's Kubernetes node name (the DaemonSet passes
    /// `$(NODE_NAME)` from the downward API). Labels every scheduled and fleet series `node`.
    #[arg(long = "fleet.node", value_name = "NAME")]
    pub fleet_node: Option<String>,
}

/// Runs the subcommand; returns the exit status (0 stopped cleanly or config valid, 2 bad
/// input).
pub fn run(args: &ServeArgs) -> u8 {
    match start(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("netdiag: {e}");
            2
        }
    }
}

fn start(args: &ServeArgs) -> Result<(), String> {
    if !args.timeout_offset.is_finite() || args.timeout_offset < 0.0 {
        return Err("--timeout-offset must be a number of seconds, at least 0".into());
    }
    if args.concurrency == 0 {
        return Err("--probe.concurrency must be at least 1".into());
    }
    if let Some(node) = &args.fleet_node {
        netdiag_serve::fleet::validate_node_name(node)?;
    }
    let config = netdiag_serve::config::load(&args.config_file).map_err(|e| e.0)?;
    let mesh = config.fleet.as_ref().is_some_and(|f| f.mesh.is_some());
    if mesh && args.fleet_node.is_none() {
        return Err(format!(
            "{}: fleet.mesh needs --fleet.node NAME (the member's own node, to walk the ring from)",
            args.config_file.display()
        ));
    }
    let web_config = match &args.web_config {
        Some(path) => netdiag_serve::webconfig::load(path)?,
        None => netdiag_serve::webconfig::WebConfig::default(),
    };
    for addr in &args.listen {
        netdiag_serve::server::listen_addr(addr)?;
    }
    if args.config_check {
        eprintln!(
            "netdiag serve: config file {} is valid ({} modules)",
            args.config_file.display(),
            config.modules.len()
        );
        return Ok(());
    }
    let options = Options {
        config_file: args.config_file.clone(),
        listen: args.listen.clone(),
        timeout_offset: args.timeout_offset,
        history_limit: args.history_limit,
        web_config,
        cert_series_on_failure: !args.no_cert_series_on_failure,
        concurrency: args.concurrency,
        queue: args.queue,
        node: args.fleet_node.clone(),
    };
    netdiag_serve::listen::run(Shared::new(options, config))
}
