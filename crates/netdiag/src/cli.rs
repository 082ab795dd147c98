//! Command-line arguments, parsed into a dumb struct first and resolved into a validated
//! configuration second (see `check::CheckConfig`), so no flag logic leaks into the walk.

use crate::format::FormatArg;
use clap::{Args, Parser, Subcommand};

/// netdiag: walks the network layers for a target that "can't connect" and names the first
/// failing layer, its cause, the evidence, and the fix.
#[derive(Debug, Parser)]
#[command(name = "netdiag", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "Exit status: 0 healthy (warnings allowed), 1 a layer failed, 2 usage error or bad input, 3 internal error.";

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Walk resolver -> dns -> route -> proxy -> tcp/udp -> mtu -> tls -> http for TARGET and stop at the first failing layer.
    Check(Box<CheckArgs>),
    /// Print the cause catalogue (every cause code with its layer and meaning), or one cause explained with its typical fix.
    Causes(CausesArgs),
    /// Start throwaway faults on loopback (no root, no network) and show how netdiag reports them.
    Demo(DemoArgs),
    /// Kubernetes: is a pod-to-pod flow allowed by NetworkPolicy, and the minimal fix.
    K8s(crate::k8s::K8sArgs),
    /// Cloud firewalls (offline exports): is a flow allowed by AWS security groups, network ACLs and routes, and the narrowest fix.
    Cloud(crate::cloud::CloudArgs),
    /// Run as a Prometheus prober that drops in for blackbox_exporter (same flags, blackbox.yml, /probe and metrics) and says why a probe failed.
    Serve(crate::serve::ServeArgs),
    /// Fleet mode (a DaemonSet of `serve` members): `fleet report` says which nodes fail which layer and why, from Prometheus.
    Fleet(crate::fleet::FleetArgs),
    /// Serve the diagnoses as MCP tools for AI agents (stdio, or Streamable HTTP with --listen), read-only by construction.
    Mcp(Box<crate::mcp::McpArgs>),
}

/// `netdiag check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// One or more targets: https://host[:port][/path], http://..., tcp://host:port,
    /// udp://host:port, host:port or host. Several targets are checked concurrently.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Read more targets from FILE, one per line (`#` starts a comment).
    #[arg(long = "targets", value_name = "FILE")]
    pub targets_file: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Extra CA certificate(s) to trust, PEM (used by the tls layer).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<String>,
    /// A certificate revocation list (PEM or DER) to check the server's certificate against.
    #[arg(long, value_name = "FILE")]
    pub crlfile: Option<String>,
    /// Deadline for the whole check, e.g. 10s, 500ms, 2m.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub timeout: String,
    /// How long an unanswered TCP SYN is waited for before it is `tcp_timeout` (default 3s:
    /// the SYN and the kernel's retransmissions at 1 s and 3 s; at most --timeout). The
    /// hop-by-hop trace that locates the drop runs during this wait.
    #[arg(long, value_name = "DURATION")]
    pub connect_timeout: Option<String>,
    /// Read this file instead of /etc/resolv.conf.
    #[arg(long, value_name = "FILE")]
    pub resolv_conf: Option<String>,
    /// Read this file instead of /etc/hosts.
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<String>,
    /// Read this file instead of /etc/nsswitch.conf.
    #[arg(long, value_name = "FILE")]
    pub nsswitch_conf: Option<String>,
    /// Ignore proxy environment variables.
    #[arg(long)]
    pub no_proxy: bool,
    /// Use this HTTP proxy for http(s) targets (overrides https_proxy/http_proxy/all_proxy).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// First-byte time above which HTTP is reported as slow (default 2s).
    #[arg(long, value_name = "DURATION")]
    pub slow: Option<String>,
    /// Follow HTTP redirects (at most 5), checking every hop; without it a redirect is reported.
    #[arg(short = 'L', long = "location")]
    pub follow: bool,
    /// Probe the path MTU actively even when nothing stalled (sends a few full-size segments).
    #[arg(long)]
    pub mtu: bool,
    /// Write an evidence bundle (report, resolver files, addresses, routes, rules, neighbours,
    /// listeners, firewall, conntrack, and a bounded packet capture when privileged) to DIR or
    /// FILE.tar.gz. Secrets are redacted.
    #[arg(long, value_name = "DIR|FILE.tar.gz")]
    pub evidence: Option<String>,
    /// IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Server name to send in TLS SNI (used by the tls layer).
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// After a tcp/udp failure (silence, admin-prohibited, unreachable), ask the cloud firewalls
    /// about the same flow from these exports: files or directories of `aws ec2 describe-*`,
    /// `gcloud compute ... --format=json` or `az network ... -o json` output. Put it after the
    /// targets (it takes every following argument).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub cloud: Vec<std::path::PathBuf>,
    /// The provider of the --cloud exports (default: detected from them).
    #[arg(long, value_name = "aws|gcp|azure", requires = "cloud")]
    pub cloud_provider: Option<String>,
}

/// `netdiag causes`.
#[derive(Debug, Args)]
pub struct CausesArgs {
    /// Explain this cause (e.g. tcp_refused): its meaning, typical fix, pre-state, rollback and runbook.
    #[arg(value_name = "CAUSE")]
    pub cause: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
}

/// `netdiag demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output format for the reports.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
