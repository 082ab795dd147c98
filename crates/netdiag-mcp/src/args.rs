//! The tools' arguments, as an agent sends them. Each struct is the tool's `inputSchema`
//! (schemars, from these types and their doc comments) and what the call's JSON is parsed into;
//! unknown fields are refused, so a misspelt option is an error rather than silently ignored.
//! The values are handed, as typed, to the same validation the CLI's flags go through.

use netdiag_core::walk::Family;
use netdiag_engine::options::CheckOptions;
use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;

/// IPv4 or IPv6 only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FamilyArg {
    /// IPv4 only (`-4`).
    Ipv4,
    /// IPv6 only (`-6`).
    Ipv6,
}

/// Declares a live tool's arguments: its own fields, then the `netdiag check` options that make
/// sense for an agent (serde's `flatten` cannot be combined with `deny_unknown_fields`, so the
/// fields are written out here, once), and `check_options`, which hands them as typed to the
/// engine's validation ([`CheckOptions`], the CLI's too).
macro_rules! live_arguments {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Deadline for the whole check, e.g. "10s", "500ms", "1m" (default 10s, at most the
            /// server's --max-timeout).
            #[serde(default)]
            pub timeout: Option<String>,
            /// How long an unanswered TCP SYN is waited for before it is tcp_timeout (default 3s; at most
            /// timeout).
            #[serde(default)]
            pub connect_timeout: Option<String>,
            /// Read this file instead of /etc/resolv.conf (a path on the server; under --root when set).
            #[serde(default)]
            pub resolv_conf: Option<String>,
            /// Read this file instead of /etc/hosts.
            #[serde(default)]
            pub hosts_file: Option<String>,
            /// Read this file instead of /etc/nsswitch.conf.
            #[serde(default)]
            pub nsswitch_conf: Option<String>,
            /// A PEM file of extra CA certificates to trust (the tls layer).
            #[serde(default)]
            pub cacert: Option<String>,
            /// Extra CA certificates to trust, as PEM text.
            #[serde(default)]
            pub cacert_pem: Option<String>,
            /// A certificate revocation list file (PEM or DER).
            #[serde(default)]
            pub crlfile: Option<String>,
            /// Server name to send in TLS SNI.
            #[serde(default)]
            pub sni: Option<String>,
            /// Use only this address family.
            #[serde(default)]
            pub family: Option<FamilyArg>,
            /// Use this HTTP proxy for http(s) targets, e.g. "http://proxy.corp:3128" (overrides the
            /// server's https_proxy/http_proxy environment).
            #[serde(default)]
            pub proxy: Option<String>,
            /// Ignore the server's proxy environment variables.
            #[serde(default)]
            pub no_proxy: bool,
            /// First-byte time above which HTTP is reported as http_slow (default 2s).
            #[serde(default)]
            pub slow: Option<String>,
            /// Probe the path MTU actively even when nothing stalled.
            #[serde(default)]
            pub mtu: bool,
            /// Follow HTTP redirects (at most 5), checking every hop.
            #[serde(default)]
            pub follow: bool,
            /// After a tcp/udp failure, ask the cloud firewalls about the same flow from these export
            /// files or directories (aws ec2 describe-*, gcloud --format=json, az -o json).
            #[serde(default)]
            pub cloud: Vec<String>,
            /// The provider of the `cloud` exports: "aws", "gcp" or "azure" (default: detected).
            #[serde(default)]
            pub cloud_provider: Option<String>,
        }

        impl $name {
            /// The options as typed, for the engine's validation; file paths are not yet
            /// resolved under `--root` (the caller does that).
            pub fn check_options(&self, targets: Vec<String>) -> CheckOptions {
                CheckOptions {
                    targets,
                    timeout: self.timeout.clone(),
                    connect_timeout: self.connect_timeout.clone(),
                    resolv_conf: self.resolv_conf.clone(),
                    hosts_file: self.hosts_file.clone(),
                    nsswitch_conf: self.nsswitch_conf.clone(),
                    cacert: self.cacert.clone(),
                    cacert_pem: self.cacert_pem.clone(),
                    crlfile: self.crlfile.clone(),
                    sni: self.sni.clone(),
                    family: self.family.map(|f| match f {
                        FamilyArg::Ipv4 => Family::V4,
                        FamilyArg::Ipv6 => Family::V6,
                    }),
                    proxy: self.proxy.clone(),
                    no_proxy: self.no_proxy,
                    slow: self.slow.clone(),
                    mtu: self.mtu,
                    follow: self.follow,
                    cloud: self.cloud.iter().map(std::path::PathBuf::from).collect(),
                    cloud_provider: self.cloud_provider.clone(),
                }
            }
        }
    };
}

live_arguments! {
    /// `target_check`.
    pub struct TargetCheckArgs {
        /// What "can't connect": https://host[:port][/path], http://..., tcp://host:port,
        /// udp://host:port, host:port (TCP) or host (resolution only). host is a name, an IPv4
        /// address or a bracketed IPv6 address.
        pub target: String,
    }
}

live_arguments! {
    /// `targets_check`.
    pub struct TargetsCheckArgs {
        /// The targets (same forms as target_check's target), checked concurrently.
        pub targets: Vec<String>,
    }
}

/// One manifest or export given as text.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum InlineDocument {
    /// The text alone (YAML, or JSON).
    Text(String),
    /// The text with a name for messages (a name ending in .json is read as JSON).
    Named {
        /// A name for messages, e.g. "policies.yaml".
        name: String,
        /// The text.
        text: String,
    },
    /// A JSON object or array as such (what kubectl -o json, aws, gcloud or az printed).
    Json(serde_json::Value),
}

/// Where the cluster's objects come from (and `k8s_matrix_compute`'s arguments).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterArgs {
    /// Manifest files or directories on the server (.yaml, .yml, .json; multi-document YAML and
    /// kind: List, as kubectl get -o yaml|json prints).
    #[serde(default)]
    pub manifests: Vec<String>,
    /// Manifests as text or JSON (multi-document YAML, a kind: List, single objects).
    #[serde(default)]
    pub manifests_inline: Vec<InlineDocument>,
    /// Read the objects from the live cluster of this kubeconfig (read-only: get/list). Without
    /// manifests or kubeconfig, inside a pod, the pod's service account is used.
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context (default: its current-context).
    #[serde(default)]
    pub context: Option<String>,
}

/// Protocols a NetworkPolicy port can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum K8sProtocolArg {
    /// TCP.
    #[serde(rename = "TCP", alias = "tcp")]
    Tcp,
    /// UDP.
    #[serde(rename = "UDP", alias = "udp")]
    Udp,
    /// SCTP.
    #[serde(rename = "SCTP", alias = "sctp")]
    Sctp,
}

/// A port as a number or a name.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PortArg {
    /// A number.
    Number(u32),
    /// A number as text, or a port name.
    Name(String),
}

impl PortArg {
    /// As the CLI's `--port` text.
    pub fn text(&self) -> String {
        match self {
            PortArg::Number(n) => n.to_string(),
            PortArg::Name(s) => s.clone(),
        }
    }
}

/// `k8s_flow_check`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sFlowArgs {
    /// Source: namespace/pod or an IP address.
    pub from: String,
    /// Destination: namespace/pod, service:namespace/name, or an IP address.
    pub to: String,
    /// Destination port: a number or a port name (resolved on the destination pod; for a
    /// Service, its port or port name).
    pub port: PortArg,
    /// Protocol (default TCP).
    #[serde(default)]
    pub protocol: Option<K8sProtocolArg>,
    /// Manifest files or directories on the server (.yaml, .yml, .json; multi-document YAML and
    /// kind: List, as kubectl get -o yaml|json prints).
    #[serde(default)]
    pub manifests: Vec<String>,
    /// Manifests as text or JSON (multi-document YAML, a kind: List, single objects).
    #[serde(default)]
    pub manifests_inline: Vec<InlineDocument>,
    /// Read the objects from the live cluster of this kubeconfig (read-only: get/list). Without
    /// manifests or kubeconfig, inside a pod, the pod's service account is used.
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context (default: its current-context).
    #[serde(default)]
    pub context: Option<String>,
}

impl K8sFlowArgs {
    /// Where the objects come from.
    pub fn cluster(&self) -> ClusterArgs {
        ClusterArgs {
            manifests: self.manifests.clone(),
            manifests_inline: self.manifests_inline.clone(),
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

/// Cloud providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderArg {
    /// Amazon Web Services.
    Aws,
    /// Google Cloud.
    Gcp,
    /// Microsoft Azure.
    Azure,
}

/// Protocols of a cloud flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CloudProtocolArg {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (an echo request; port is ignored).
    Icmp,
}

/// `cloud_flow_check`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudFlowArgs {
    /// The provider (default: detected from the exports).
    #[serde(default)]
    pub provider: Option<ProviderArg>,
    /// Export files or directories on the server, as the provider's CLI printed them.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Exports as JSON (objects as printed, or their text).
    #[serde(default)]
    pub resources_inline: Vec<InlineDocument>,
    /// Source: an IP address, a CIDR, an instance id (i-...) or a network interface id (eni-...).
    pub from: String,
    /// Destination: an IP address (private or public), a CIDR, an instance or interface id.
    pub to: String,
    /// Destination port (ignored for icmp; default 0).
    #[serde(default)]
    pub port: Option<PortArg>,
    /// Protocol (default tcp).
    #[serde(default)]
    pub protocol: Option<CloudProtocolArg>,
}

/// `causes_list`: no arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// `cause_explain`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CauseArgs {
    /// A cause code, e.g. "tcp_refused" or "netpol_ingress_denied" (causes_list lists them).
    pub cause: String,
}

/// `prober_results_list`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProberArgs {
    /// Only this target, exactly as the prober probes it (e.g. "https://api.internal/").
    #[serde(default)]
    pub target: Option<String>,
    /// Only this module of the prober's config (e.g. "http_2xx").
    #[serde(default)]
    pub module: Option<String>,
    /// Only failed probes.
    #[serde(default)]
    pub failed_only: bool,
    /// At most this many probes, newest first (1-100, default 20).
    #[serde(default)]
    pub limit: Option<u32>,
}
