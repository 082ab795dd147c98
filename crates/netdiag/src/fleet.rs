//! `netdiag fleet report`: the fleet verdict read back from Prometheus, which collected what
//! every `netdiag serve` member of the DaemonSet probed from its node. The analysis lives in
//! `netdiag_serve::fleet`; this is flags and printing.

use crate::format::FormatArg;
use clap::{Args, Subcommand};
use std::time::Duration;

/// `netdiag fleet`.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: FleetCommand,
}

/// `netdiag fleet` subcommands.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Which nodes fail which layer and why, from the members' series in Prometheus.
    Report(ReportArgs),
}

/// `netdiag fleet report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The Prometheus server that scrapes the members: http[s]://[user:password@]host[:port][/prefix].
    #[arg(long, value_name = "URL")]
    pub prometheus: String,
    /// How far back to look, a Prometheus duration (15m, 1h, 1h30m, 2d).
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub since: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Extra label matchers for every query, e.g. job="netdiag" (when several fleets or
    /// clusters share the Prometheus).
    #[arg(long, value_name = "MATCHERS", default_value = "")]
    pub selector: String,
    /// Each query's deadline.
    #[arg(long, value_name = "DURATION", default_value = "20s")]
    pub timeout: String,
}

/// Runs the subcommand: the output and the exit status (0 healthy, 1 failing, 2 bad input, 3
/// Prometheus could not give a verdict), or a usage error.
pub fn run(args: &FleetArgs) -> Result<(String, i32), String> {
    let FleetCommand::Report(args) = &args.command;
    // A Prometheus duration, as Prometheus users write a range (`[1h]`).
    let since = netdiag_serve::config::duration::parse(&args.since)
        .map_err(|e| format!("--since: {e}; use e.g. 15m, 1h or 2d"))?;
    if since < Duration::from_secs(60) || since > Duration::from_secs(31 * 24 * 3600) {
        return Err("--since: give 1m to 31d".into());
    }
    let deadline = netdiag_serve::config::duration::parse(&args.timeout)
        .map_err(|e| format!("--timeout: {e}; use e.g. 20s"))?;
    let prometheus = netdiag_serve::fleet::promapi::PrometheusUrl::parse(&args.prometheus)?;
    netdiag_serve::fleet::validate_selector(&args.selector)?;
    let request = netdiag_serve::fleet::ReportRequest {
        prometheus,
        since,
        selector: args.selector.clone(),
        deadline: deadline.max(Duration::from_millis(100)),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    match netdiag_serve::fleet::read_report(&request, now) {
        Ok(report) => {
            let text = match args.format {
                FormatArg::Table => netdiag_serve::fleet::report::render_table(&report),
                FormatArg::Markdown => netdiag_serve::fleet::report::render_markdown(&report),
                FormatArg::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
            };
            Ok((text, i32::from(report.exit_code())))
        }
        Err(e) => {
            eprintln!("netdiag: {e}");
            Ok((String::new(), 3))
        }
    }
}
