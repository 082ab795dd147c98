//! The Kubernetes check: the cluster's objects from manifests, a kubeconfig or the pod's service
//! account (read-only), then `netdiag-k8s` answers the flow or builds the matrix.

use netdiag_k8s::check::{check as check_flow, CheckReport, CheckRequest};
use netdiag_k8s::live::{load_live, LiveSource, DEFAULT_DEADLINE};
use netdiag_k8s::load::Cluster;
use netdiag_k8s::matrix::{matrix as build_matrix, MatrixReport};
use std::path::PathBuf;

/// Where the cluster's objects come from: manifests when given, else a kubeconfig, else the
/// pod's service account.
#[derive(Debug, Clone, Default)]
pub struct ClusterInput {
    /// Manifest files or directories.
    pub manifests: Vec<PathBuf>,
    /// A kubeconfig to read the live cluster with.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    pub context: Option<String>,
    /// Manifests given as text (an MCP tool's inline YAML or JSON): a name for messages (`.json`
    /// picks JSON) and the text. Read together with `manifests`.
    pub inline: Vec<(String, String)>,
}

/// Loads the cluster's objects. `Err` is a one-line message for exit status 2.
pub fn load_cluster(input: &ClusterInput) -> Result<Cluster, String> {
    if !input.manifests.is_empty() || !input.inline.is_empty() {
        let mut cluster = Cluster::load(&input.manifests).map_err(|e| e.to_string())?;
        for (name, text) in &input.inline {
            cluster
                .load_str(std::path::Path::new(name), text)
                .map_err(|e| e.to_string())?;
        }
        return Ok(cluster);
    }
    let live = match &input.kubeconfig {
        Some(path) => LiveSource::Kubeconfig {
            path: path.clone(),
            context: input.context.clone(),
        },
        None => LiveSource::in_cluster().ok_or(
            "no cluster to read: give --manifests PATH... or --kubeconfig FILE \
             (inside a pod, the service account is used when neither is given)",
        )?,
    };
    load_live(&live, DEFAULT_DEADLINE).map_err(|e| e.to_string())
}

/// Is SRC → DST:PORT allowed? The Service path, then NetworkPolicy, with the minimal fix.
pub fn check(input: &ClusterInput, request: &CheckRequest) -> Result<CheckReport, String> {
    let cluster = load_cluster(input)?;
    check_flow(&cluster, request).map_err(|e| e.to_string())
}

/// Every pod-to-pod verdict, pods grouped into equivalence classes.
pub fn matrix(input: &ClusterInput) -> Result<MatrixReport, String> {
    Ok(build_matrix(&load_cluster(input)?))
}
