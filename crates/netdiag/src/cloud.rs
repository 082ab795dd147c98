//! `netdiag cloud`: the command-line face of netdiag-cloud. Parses flags into a dumb struct and
//! hands them to the library; no firewall logic lives here.

use clap::{Args, Subcommand, ValueEnum};
use netdiag_cloud::doc::Provider;
use netdiag_cloud::flow::Query;
use netdiag_core::render::Format;
use std::path::PathBuf;

/// `netdiag cloud`.
#[derive(Debug, Args)]
pub struct CloudArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CloudCommand,
}

/// `netdiag cloud` subcommands.
#[derive(Debug, Subcommand)]
pub enum CloudCommand {
    /// Is SRC -> DST:PORT allowed by the cloud firewalls (AWS SGs/NACLs/routes, GCP firewall rules and policies, Azure NSGs)? Names the blocking rule and the narrowest fix.
    Check(CloudCheckArgs),
}

/// Providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// Amazon Web Services.
    Aws,
    /// Google Cloud.
    Gcp,
    /// Microsoft Azure.
    Azure,
}

/// Protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CloudProtocolArg {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (evaluated as an echo request; --port is ignored).
    Icmp,
}

/// `netdiag cloud check`.
#[derive(Debug, Args)]
pub struct CloudCheckArgs {
    /// The provider; detected from the files when omitted.
    #[arg(long, value_enum)]
    pub provider: Option<ProviderArg>,
    /// Exports as the provider's CLI printed them (files or directories of .json).
    #[arg(long, required = true, num_args = 1..)]
    pub resources: Vec<PathBuf>,
    /// Source: an IP address, a CIDR, an instance id (i-…) or a network interface id (eni-…).
    #[arg(long)]
    pub from: String,
    /// Destination: an IP address (private or public), a CIDR, an instance or interface id.
    #[arg(long)]
    pub to: String,
    /// Destination port (ignored for icmp).
    #[arg(long, default_value = "0")]
    pub port: String,
    /// Protocol.
    #[arg(long, value_enum, default_value = "tcp")]
    pub protocol: CloudProtocolArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::format::FormatArg,
}

/// `netdiag cloud ...` as the engine's request, with the output format. `Err` is bad input (the
/// caller prints it and exits 2).
pub fn request(args: &CloudArgs) -> Result<(netdiag_engine::Request, Format), String> {
    match &args.command {
        CloudCommand::Check(a) => {
            let protocol = match a.protocol {
                CloudProtocolArg::Tcp => "tcp",
                CloudProtocolArg::Udp => "udp",
                CloudProtocolArg::Icmp => "icmp",
            };
            let query =
                Query::parse(&a.from, &a.to, &a.port, protocol).map_err(|e| e.to_string())?;
            let provider = a.provider.map(|p| match p {
                ProviderArg::Aws => Provider::Aws,
                ProviderArg::Gcp => Provider::Gcp,
                ProviderArg::Azure => Provider::Azure,
            });
            let request = netdiag_engine::CloudRequest {
                provider,
                resources: a.resources.clone(),
                inline: Vec::new(),
                query,
            };
            Ok((netdiag_engine::Request::Cloud(request), a.format.into()))
        }
    }
}
