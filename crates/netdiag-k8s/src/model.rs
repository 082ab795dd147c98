//! The Kubernetes objects netdiag reads, as serde structs holding only the fields the diagnosis
//! needs, under the API's own JSON field names.
//!
//! Why not k8s-openapi: it is far too heavy to build here, and the engine needs a dozen fields.
//! (The `live` feature compiles it only because kube requires it; its types are not used.)
//! Unknown fields are ignored (manifests carry much more); a field of the wrong type is an error,
//! because silently reading a policy wrongly would give a wrong verdict.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Labels: a sorted map so that output and generated names are deterministic.
pub type Labels = BTreeMap<String, String>;

/// `metadata`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// `metadata.name`.
    #[serde(default)]
    pub name: String,
    /// `metadata.namespace`; empty means `default` for namespaced kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: Labels,
    /// `metadata.deletionTimestamp`: set while the object is being deleted (a terminating pod is
    /// not a ready endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
}

impl ObjectMeta {
    /// The namespace, with the API server's default.
    pub fn ns(&self) -> &str {
        match self.namespace.as_deref() {
            Some(n) if !n.is_empty() => n,
            _ => "default",
        }
    }
}

/// `v1 Namespace`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Namespace {
    /// Metadata (name, labels).
    #[serde(default)]
    pub metadata: ObjectMeta,
}

/// `v1 Pod`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Pod {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: PodSpec,
    /// `status`.
    #[serde(default)]
    pub status: PodStatus,
}

/// `v1 PodSpec` (the fields used).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Host-network pods are not NetworkPolicy subjects.
    #[serde(default)]
    pub host_network: bool,
    /// The node the pod runs on.
    #[serde(default)]
    pub node_name: Option<String>,
    /// Containers (their ports resolve named ports).
    #[serde(default)]
    pub containers: Vec<Container>,
    /// Init containers (sidecars declare ports here too).
    #[serde(default)]
    pub init_containers: Vec<Container>,
}

/// `v1 Container` (ports only).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Container {
    /// Container name.
    #[serde(default)]
    pub name: String,
    /// Declared ports.
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
    /// `restartPolicy` (init containers only): `Always` makes an init container a sidecar, which
    /// keeps running and whose named ports resolve.
    #[serde(default, rename = "restartPolicy")]
    pub restart_policy: Option<String>,
}

impl Container {
    /// Is this (init) container a sidecar (`restartPolicy: Always`)?
    pub fn is_sidecar(&self) -> bool {
        self.restart_policy.as_deref() == Some("Always")
    }
}

/// `v1 ContainerPort`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// Port name (an IANA_SVC_NAME).
    #[serde(default)]
    pub name: Option<String>,
    /// Port number.
    pub container_port: u16,
    /// Protocol, default TCP.
    #[serde(default)]
    pub protocol: Option<String>,
}

/// `v1 PodStatus` (addresses only).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// `phase`: Pending, Running, Succeeded, Failed, Unknown. Terminal pods are never endpoints.
    #[serde(default)]
    pub phase: Option<String>,
    /// Primary pod IP (`podIP`: camelCase would say `podIp`).
    #[serde(default, rename = "podIP")]
    pub pod_ip: Option<String>,
    /// All pod IPs (dual stack).
    #[serde(default, rename = "podIPs")]
    pub pod_ips: Vec<PodIp>,
    /// Conditions (`Ready` decides whether a Service forwards to the pod).
    #[serde(default)]
    pub conditions: Vec<PodCondition>,
}

/// `v1 PodCondition`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct PodCondition {
    /// Ready, ContainersReady, ...
    #[serde(default, rename = "type")]
    pub kind: String,
    /// "True", "False", "Unknown".
    #[serde(default)]
    pub status: String,
}

/// One entry of `status.podIPs`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct PodIp {
    /// The address.
    pub ip: String,
}

/// `v1 Node` (addresses only: pod<->own node traffic is always allowed).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Node {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `status`.
    #[serde(default)]
    pub status: NodeStatus,
}

/// `v1 NodeStatus`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct NodeStatus {
    /// `status.addresses`.
    #[serde(default)]
    pub addresses: Vec<NodeAddress>,
}

/// `v1 NodeAddress`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct NodeAddress {
    /// InternalIP, ExternalIP, Hostname...
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The address.
    #[serde(default)]
    pub address: String,
}

/// `v1 Service`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Service {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: ServiceSpec,
}

/// `v1 ServiceSpec` (the fields kube-proxy uses).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// ClusterIP, NodePort, LoadBalancer, ExternalName.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Pod selector; `None` (or empty) means endpoints are managed by hand.
    #[serde(default)]
    pub selector: Option<Labels>,
    /// Ports.
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    /// For type ExternalName: a DNS CNAME, not a proxy.
    #[serde(default)]
    pub external_name: Option<String>,
    /// `clusterIP`; `None` (the string) makes the Service headless: not proxied, DNS returns
    /// the endpoints' addresses.
    #[serde(default, rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    /// `clusterIPs` (dual stack: one per family).
    #[serde(default, rename = "clusterIPs")]
    pub cluster_ips: Vec<String>,
    /// `ipFamilies`: the address families the Service forwards (IPv4, IPv6).
    #[serde(default)]
    pub ip_families: Vec<String>,
    /// Forward to pods that are not ready too.
    #[serde(default)]
    pub publish_not_ready_addresses: bool,
}

/// `v1 ServicePort`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Port name.
    #[serde(default)]
    pub name: Option<String>,
    /// The Service's port.
    pub port: u16,
    /// Target port on the pods (defaults to `port`).
    #[serde(default)]
    pub target_port: Option<IntOrString>,
    /// Protocol, default TCP.
    #[serde(default)]
    pub protocol: Option<String>,
}

/// `discovery.k8s.io/v1 EndpointSlice`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct EndpointSlice {
    /// Metadata (`kubernetes.io/service-name` names the Service).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Endpoints.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Ports.
    #[serde(default)]
    pub ports: Vec<EndpointPort>,
}

/// One EndpointSlice endpoint.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Endpoint {
    /// Addresses.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Conditions.
    #[serde(default)]
    pub conditions: EndpointConditions,
}

/// `EndpointConditions`: `ready: null` means unknown, which consumers treat as ready.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct EndpointConditions {
    /// Ready.
    #[serde(default)]
    pub ready: Option<bool>,
    /// Serving (`null` means true).
    #[serde(default)]
    pub serving: Option<bool>,
    /// Terminating (`null` means false).
    #[serde(default)]
    pub terminating: Option<bool>,
}

/// `EndpointPort`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct EndpointPort {
    /// Name (matches the Service port's name).
    #[serde(default)]
    pub name: Option<String>,
    /// Port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Protocol.
    #[serde(default)]
    pub protocol: Option<String>,
}

/// `networking.k8s.io/v1 NetworkPolicy`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct NetworkPolicy {
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: NetworkPolicySpec,
}

/// `NetworkPolicySpec`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Selects the pods in the policy's namespace that the policy applies to.
    #[serde(default)]
    pub pod_selector: LabelSelector,
    /// Ingress rules; `None` and empty both mean "no rule".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<Rule>>,
    /// Egress rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<Rule>>,
    /// Explicit policy types; `None` means defaulted (see `policy::effective_types`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_types: Option<Vec<String>>,
}

/// An ingress (`from`) or egress (`to`) rule: the two have the same shape.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Rule {
    /// Ingress peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<Peer>>,
    /// Egress peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<Peer>>,
    /// Ports; missing or empty means all ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<PolicyPort>>,
}

/// `NetworkPolicyPeer`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    /// Pods (in the policy's namespace unless `namespace_selector` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// An address range (must not be combined with a selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_block: Option<IpBlock>,
}

/// `IPBlock`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct IpBlock {
    /// The CIDR.
    pub cidr: String,
    /// CIDRs inside `cidr` that are not part of the block.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

/// `NetworkPolicyPort`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPort {
    /// TCP (default), UDP or SCTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// A number or a named port; `None` means every port of the protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    /// Inclusive end of a numeric range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<u32>,
}

/// `IntOrString`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum IntOrString {
    /// A number.
    Int(i64),
    /// A name (or a number written as a string, which the API rejects for ports).
    Str(String),
}

/// `LabelSelector`. An empty selector selects everything.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact label matches.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: Labels,
    /// Expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// `LabelSelectorRequirement`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// In, NotIn, Exists, DoesNotExist.
    pub operator: String,
    /// Values for In/NotIn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}
