//! `netdiag k8s`: the command-line face of netdiag-k8s. Parses flags into a dumb struct and hands
//! them to the library; no policy logic lives here.

use clap::{Args, Subcommand, ValueEnum};
use netdiag_k8s::check::{check, render, CheckRequest, Format};
use netdiag_k8s::load::Cluster;
use std::path::PathBuf;

/// `netdiag k8s`.
#[derive(Debug, Args)]
pub struct K8sArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: K8sCommand,
}

/// `netdiag k8s` subcommands.
#[derive(Debug, Subcommand)]
pub enum K8sCommand {
    /// Is SRC -> DST:PORT allowed by NetworkPolicy? Names the isolating policies and proposes the minimal fix.
    Check(K8sCheckArgs),
    /// Every pod-to-pod verdict on every declared or policy-named port, with pods grouped into equivalence classes.
    Matrix(K8sMatrixArgs),
}

/// Protocols a NetworkPolicy port can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum ProtocolArg {
    /// TCP.
    #[value(alias = "tcp")]
    Tcp,
    /// UDP.
    #[value(alias = "udp")]
    Udp,
    /// SCTP.
    #[value(alias = "sctp")]
    Sctp,
}

/// Output formats for `k8s check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum K8sFormatArg {
    /// A table.
    Table,
    /// JSON, schema netdiag.k8s.check/v1.
    Json,
    /// Markdown.
    #[value(alias = "md")]
    Markdown,
}

/// `netdiag k8s check`.
#[derive(Debug, Args)]
pub struct K8sCheckArgs {
    /// Manifest files or directories (.yaml, .yml, .json; multi-document YAML and kind: List).
    #[arg(long, required = true, num_args = 1..)]
    pub manifests: Vec<PathBuf>,
    /// Source: namespace/pod or an IP address.
    #[arg(long)]
    pub from: String,
    /// Destination: namespace/pod, service:namespace/name, or an IP address.
    #[arg(long)]
    pub to: String,
    /// Destination port: a number or a port name (resolved on the destination pod; for a Service, its port or port name).
    #[arg(long)]
    pub port: String,
    /// Protocol.
    #[arg(long, value_enum, default_value = "TCP")]
    pub protocol: ProtocolArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: K8sFormatArg,
}

/// `netdiag k8s matrix`.
#[derive(Debug, Args)]
pub struct K8sMatrixArgs {
    /// Manifest files or directories (.yaml, .yml, .json; multi-document YAML and kind: List).
    #[arg(long, required = true, num_args = 1..)]
    pub manifests: Vec<PathBuf>,
    /// Output format (json: schema netdiag.k8s.matrix/v1, compact).
    #[arg(long, value_enum, default_value = "table")]
    pub format: K8sFormatArg,
}

/// Runs `netdiag k8s matrix`: always exit 0 once the manifests load.
fn run_matrix(a: &K8sMatrixArgs) -> Result<(String, i32), String> {
    let cluster = Cluster::load(&a.manifests).map_err(|e| e.to_string())?;
    let report = netdiag_k8s::matrix::matrix(&cluster);
    let format = match a.format {
        K8sFormatArg::Table => Format::Table,
        K8sFormatArg::Json => Format::Json,
        K8sFormatArg::Markdown => Format::Markdown,
    };
    Ok((netdiag_k8s::matrix::render(&report, format), 0))
}

/// Runs `netdiag k8s ...`: `Ok((output, exit code))` (0 allowed, 1 denied); `Err` is bad input
/// (the caller prints it and exits 2).
pub fn run(args: &K8sArgs) -> Result<(String, i32), String> {
    match &args.command {
        K8sCommand::Check(a) => {
            let cluster = Cluster::load(&a.manifests).map_err(|e| e.to_string())?;
            let protocol = match a.protocol {
                ProtocolArg::Tcp => "TCP",
                ProtocolArg::Udp => "UDP",
                ProtocolArg::Sctp => "SCTP",
            };
            let req = CheckRequest {
                from: a.from.clone(),
                to: a.to.clone(),
                port: a.port.clone(),
                protocol: protocol.into(),
            };
            let report = check(&cluster, &req).map_err(|e| e.to_string())?;
            let format = match a.format {
                K8sFormatArg::Table => Format::Table,
                K8sFormatArg::Json => Format::Json,
                K8sFormatArg::Markdown => Format::Markdown,
            };
            Ok((render(&report, format), report.exit_code()))
        }
        K8sCommand::Matrix(a) => run_matrix(a),
    }
}
