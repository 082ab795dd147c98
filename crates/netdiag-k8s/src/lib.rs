//! netdiag-k8s: why can't this pod reach that one? Reads Kubernetes manifests, evaluates the
//! NetworkPolicy API exactly as the reference defines it (after following a Service to the pods
//! kube-proxy would forward to), and proposes the smallest policy that allows the one flow asked
//! about. Modules: [`load`] (manifests), [`model`] (serde structs), [`policy`] (the engine and
//! validation), [`service`] (the Service path), [`fix`] (the minimal fix), [`check`] (the
//! contract §2 verdict and its renderings), [`matrix`] (every pod pair at once, by equivalence
//! class), and `live` (feature `live`: the same objects read from an API server, get/list only).
//!
//! Pure except for [`load`] (file reads) and `live` (HTTP): the engine takes a [`load::Cluster`]
//! and returns data, so every rule is table-tested without a cluster. kube and its HTTP/TLS stack
//! are behind the `live` feature so that the engine never depends on them.

pub mod check;
pub mod fix;
#[cfg(feature = "live")]
pub mod live;
pub mod load;
pub mod matrix;
pub mod model;
pub mod policy;
pub mod service;
