//! `netdiag k8s`: the command-line face of netdiag-k8s. Parses flags into a dumb struct and hands
//! them to the library; no policy logic lives here. [`ClusterSource`] and [`load_cluster`] are
//! shared by every `k8s` subcommand, so the manifests/kubeconfig/in-cluster choice is made once.

use clap::{Args, Subcommand, ValueEnum};
use netdiag_core::render::Rendered;
use netdiag_k8s::check::{check, CheckRequest};
use netdiag_k8s::live::{load_live, LiveSource, DEFAULT_DEADLINE};
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

/// Where the cluster's objects come from: manifests, or a live API server (kubeconfig, or the
/// pod's service account when neither flag is given and netdiag runs in a pod).
#[derive(Debug, Args)]
pub struct ClusterSource {
    /// Manifest files or directories (.yaml, .yml, .json; multi-document YAML and kind: List).
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with = "kubeconfig")]
    pub manifests: Vec<PathBuf>,
    /// Read the objects from the live cluster of this kubeconfig (read-only: get/list).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current-context).
    #[arg(long, value_name = "NAME", requires = "kubeconfig")]
    pub context: Option<String>,
}

/// Loads the cluster from `--manifests`, `--kubeconfig` or, inside a pod, the service account.
/// `Err` is a one-line message for exit status 2.
pub fn load_cluster(source: &ClusterSource) -> Result<Cluster, String> {
    if !source.manifests.is_empty() {
        return Cluster::load(&source.manifests).map_err(|e| e.to_string());
    }
    let live = match &source.kubeconfig {
        Some(path) => LiveSource::Kubeconfig {
            path: path.clone(),
            context: source.context.clone(),
        },
        None => LiveSource::in_cluster().ok_or(
            "no cluster to read: give --manifests PATH... or --kubeconfig FILE \
             (inside a pod, the service account is used when neither is given)",
        )?,
    };
    load_live(&live, DEFAULT_DEADLINE).map_err(|e| e.to_string())
}

/// `netdiag k8s check`.
#[derive(Debug, Args)]
pub struct K8sCheckArgs {
    /// Where the objects come from.
    #[command(flatten)]
    pub source: ClusterSource,
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
    pub format: crate::cli::FormatArg,
}

/// `netdiag k8s matrix`.
#[derive(Debug, Args)]
pub struct K8sMatrixArgs {
    /// Where the objects come from.
    #[command(flatten)]
    pub source: ClusterSource,
    /// Output format (json: schema netdiag.k8s.matrix/v1, compact).
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::cli::FormatArg,
}

/// Runs `netdiag k8s matrix`: always exit 0 once the manifests load.
fn run_matrix(a: &K8sMatrixArgs) -> Result<(String, i32), String> {
    let cluster = load_cluster(&a.source)?;
    let report = netdiag_k8s::matrix::matrix(&cluster);
    Ok((report.render(a.format.into()), 0))
}

/// Runs `netdiag k8s ...`: `Ok((output, exit code))` (0 allowed, 1 denied); `Err` is bad input
/// (the caller prints it and exits 2).
pub fn run(args: &K8sArgs) -> Result<(String, i32), String> {
    match &args.command {
        K8sCommand::Check(a) => {
            let cluster = load_cluster(&a.source)?;
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
            Ok((report.render(a.format.into()), report.exit_code()))
        }
        K8sCommand::Matrix(a) => run_matrix(a),
    }
}
