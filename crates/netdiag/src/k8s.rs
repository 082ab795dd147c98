//! `netdiag k8s`: the command-line face of netdiag-k8s. Parses flags into a dumb struct and hands
//! them to the library; no policy logic lives here. [`ClusterSource`] is shared by every `k8s`
//! subcommand, so the manifests/kubeconfig/in-cluster choice is made once.

use clap::{Args, Subcommand, ValueEnum};
use netdiag_core::render::Format;
use netdiag_engine::k8s::ClusterInput;
use netdiag_k8s::check::CheckRequest;
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

impl ClusterSource {
    /// The engine's view of the flags.
    fn input(&self) -> ClusterInput {
        ClusterInput {
            manifests: self.manifests.clone(),
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            inline: Vec::new(),
        }
    }
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
    pub format: crate::format::FormatArg,
}

/// `netdiag k8s matrix`.
#[derive(Debug, Args)]
pub struct K8sMatrixArgs {
    /// Where the objects come from.
    #[command(flatten)]
    pub source: ClusterSource,
    /// Output format (json: schema netdiag.k8s.matrix/v1, compact).
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::format::FormatArg,
}

/// `netdiag k8s ...` as the engine's request, with the output format. `Err` is bad input (the
/// caller prints it and exits 2).
pub fn request(args: &K8sArgs) -> Result<(netdiag_engine::Request, Format), String> {
    match &args.command {
        K8sCommand::Check(a) => {
            let protocol = match a.protocol {
                ProtocolArg::Tcp => "TCP",
                ProtocolArg::Udp => "UDP",
                ProtocolArg::Sctp => "SCTP",
            };
            let flow = CheckRequest {
                from: a.from.clone(),
                to: a.to.clone(),
                port: a.port.clone(),
                protocol: protocol.into(),
            };
            let cluster = a.source.input();
            Ok((
                netdiag_engine::Request::Kubernetes { cluster, flow },
                a.format.into(),
            ))
        }
        K8sCommand::Matrix(a) => Ok((
            netdiag_engine::Request::KubernetesMatrix {
                cluster: a.source.input(),
            },
            a.format.into(),
        )),
    }
}
