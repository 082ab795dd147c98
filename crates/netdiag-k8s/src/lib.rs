//! netdiag-k8s: why can't this pod reach that one? Reads Kubernetes manifests, evaluates the
//! NetworkPolicy API exactly as the reference defines it (after following a Service to the pods
//! kube-proxy would forward to), and proposes the smallest policy that allows the one flow asked
//! about. Modules: [`load`] (manifests), [`model`] (serde structs), [`policy`] (the engine and
//! validation), [`service`] (the Service path), [`fix`] (the minimal fix), [`check`] (the
//! contract §2 verdict and its renderings), [`matrix`] (every pod pair at once, by equivalence
//! class).
//!
//! Pure except for [`load`] (file reads): the engine takes a [`load::Cluster`] and returns data,
//! so every rule is table-tested without a cluster.

pub mod check;
pub mod fix;
pub mod load;
pub mod matrix;
pub mod model;
pub mod policy;
pub mod service;
