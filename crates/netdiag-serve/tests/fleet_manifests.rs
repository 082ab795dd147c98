//! deploy/kubernetes/ checked against the Kubernetes API and against netdiag itself, with no
//! cluster. Every object deserializes into its k8s-openapi type (prometheus-operator's CRDs into
//! local strict structs) with no field the type does not know; the DaemonSet runs locked down and
//! takes its node name from the downward API; the ConfigMap is a config netdiag's own parser
//! accepts and that agrees with the DaemonSet (namespace, selector, port, mount path); the
//! ClusterRole grants exactly `fleet::API_READS`; the PrometheusRule holds exactly
//! deploy/prometheus/fleet.rules.yml; the host-checks component, merged onto the base, grants
//! hostNetwork and NET_ADMIN/NET_RAW and changes nothing else. Where kubectl is installed, its
//! kustomize builds every kustomization and must give the same objects.
//!
//! Why round trips: k8s-openapi ignores unknown fields when it deserializes, so a misspelt or
//! misplaced key (`readOnlyRootFileSystem`, `capabilities` in the pod's securityContext) would
//! pass here and do nothing in a cluster. Serializing the typed object back and looking up every
//! key path of the original finds such a key and names its path.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PodSecurityContext, PodSpec, SecurityContext, Service,
    ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::DeepMerge;
use netdiag_serve::config::ProberKind;
use netdiag_serve::fleet::API_READS;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kube_dir() -> PathBuf {
    repo_root().join("deploy/kubernetes")
}

/// The path as the failure messages show it: relative to the repository.
fn shown(path: &Path) -> String {
    let root = repo_root().canonicalize().unwrap();
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    path.strip_prefix(&root)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

// ---------------------------------------------------------------------------------------------
// Reading the tree: files, documents, kustomizations.

/// One YAML document: where it came from and what it holds.
#[derive(Debug, Clone)]
struct Doc {
    at: String,
    value: Value,
}

impl Doc {
    fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or_default()
    }
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
    fn namespace(&self) -> Option<&str> {
        self.value["metadata"]["namespace"].as_str()
    }
}

fn is_kustomization(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("kustomization.yaml" | "kustomization.yml" | "Kustomization")
    )
}

/// Every YAML file under `dir`, recursively, in a stable order.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if is_kustomization(&path)
                || matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                )
            {
                out.push(path.canonicalize().unwrap());
            }
        }
    }
    out.sort();
    out
}

/// The non-empty documents of a (multi-document) YAML text.
fn parse_documents(at: &str, text: &str) -> Vec<Doc> {
    let values: Vec<Value> =
        serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("{at}: not YAML: {e}"));
    let values: Vec<Value> = values.into_iter().filter(|v| !v.is_null()).collect();
    let many = values.len() > 1;
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| Doc {
            at: if many {
                format!("{at} (document {})", i + 1)
            } else {
                at.to_string()
            },
            value,
        })
        .collect()
}

fn documents(path: &Path) -> Vec<Doc> {
    let text = std::fs::read_to_string(path).unwrap();
    parse_documents(&shown(path), &text)
}

/// A kustomization.yaml (a Kustomization or a Component) and what it lists.
struct Kustomization {
    dir: PathBuf,
    value: Value,
}

impl Kustomization {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("Kustomization")
    }

    /// The paths under `key` (`resources`, `components`, `patches`), as given.
    fn listed(&self, key: &str) -> Vec<PathBuf> {
        let entries = self.value[key].as_array().cloned().unwrap_or_default();
        let mut out: Vec<PathBuf> = entries
            .iter()
            .filter_map(|e| e.as_str().or_else(|| e["path"].as_str()))
            .map(|p| self.dir.join(p))
            .collect();
        if key == "patches" {
            let legacy = self.value["patchesStrategicMerge"].as_array();
            out.extend(
                legacy
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|p| self.dir.join(p)),
            );
        }
        out
    }
}

/// Everything under deploy/kubernetes, sorted into kustomizations, resources and patches.
struct Manifests {
    kustomizations: Vec<Kustomization>,
    /// Objects applied as they are (every file that is not a kustomization or a patch).
    resources: Vec<Doc>,
    /// Strategic merge patches of kustomizations and components.
    patches: Vec<Doc>,
    files: Vec<PathBuf>,
}

fn manifests() -> Manifests {
    let files = yaml_files(&kube_dir());
    let kustomizations: Vec<Kustomization> = files
        .iter()
        .filter(|f| is_kustomization(f))
        .map(|f| {
            let docs = documents(f);
            assert_eq!(docs.len(), 1, "{}: one document", shown(f));
            Kustomization {
                dir: f.parent().unwrap().to_path_buf(),
                value: docs[0].value.clone(),
            }
        })
        .collect();
    let patch_files: BTreeSet<PathBuf> = kustomizations
        .iter()
        .flat_map(|k| k.listed("patches"))
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let mut resources = Vec::new();
    let mut patches = Vec::new();
    for file in files.iter().filter(|f| !is_kustomization(f)) {
        let docs = documents(file);
        if patch_files.contains(file) {
            patches.extend(docs);
        } else {
            resources.extend(docs);
        }
    }
    Manifests {
        kustomizations,
        resources,
        patches,
        files,
    }
}

impl Manifests {
    /// The one resource of `kind`.
    fn one(&self, kind: &str) -> &Doc {
        let found: Vec<&Doc> = self.resources.iter().filter(|d| d.kind() == kind).collect();
        assert_eq!(found.len(), 1, "exactly one {kind} under deploy/kubernetes");
        found[0]
    }

    /// The base: deploy/kubernetes/kustomization.yaml.
    fn base(&self) -> &Kustomization {
        let dir = kube_dir().canonicalize().unwrap();
        self.kustomizations
            .iter()
            .find(|k| k.dir == dir)
            .expect("deploy/kubernetes/kustomization.yaml")
    }

    fn daemonset(&self) -> DaemonSet {
        typed(self.one("DaemonSet"))
    }
}

// ---------------------------------------------------------------------------------------------
// Shapes: typed round trips and strict CRD structs.

/// The first key path of `original` that `back` lacks.
fn first_unknown(original: &Value, back: &Value, path: &str) -> Option<String> {
    match original {
        Value::Object(map) => map.iter().find_map(|(key, value)| {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match back.get(key) {
                None => Some(here),
                Some(b) => first_unknown(value, b, &here),
            }
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, value)| {
            let here = format!("{path}[{i}]");
            match back.get(i) {
                None => Some(here),
                Some(b) => first_unknown(value, b, &here),
            }
        }),
        _ => None,
    }
}

/// The document as a k8s-openapi object, refusing any field the type does not have.
fn typed<T: DeserializeOwned + Serialize>(doc: &Doc) -> T {
    let object: T = serde_json::from_value(doc.value.clone())
        .unwrap_or_else(|e| panic!("{}: not a valid {}: {e}", doc.at, doc.kind()));
    let back = serde_json::to_value(&object).unwrap();
    if let Some(path) = first_unknown(&doc.value, &back, "") {
        panic!(
            "{}: {} has no field {path} (misspelt or misplaced; the API server would drop it)",
            doc.at,
            doc.kind()
        );
    }
    object
}

/// The document as one of this file's strict structs (`deny_unknown_fields`).
fn strict<T: DeserializeOwned>(doc: &Doc) -> T {
    serde_json::from_value(doc.value.clone())
        .unwrap_or_else(|e| panic!("{}: not a valid {}: {e}", doc.at, doc.kind()))
}

/// The object normalised through its type (for comparing objects written differently).
fn normalised(doc: &Doc) -> Value {
    match (doc.api_version(), doc.kind()) {
        ("v1", "Namespace") => serde_json::to_value(typed::<Namespace>(doc)),
        ("v1", "ServiceAccount") => serde_json::to_value(typed::<ServiceAccount>(doc)),
        ("v1", "ConfigMap") => serde_json::to_value(typed::<ConfigMap>(doc)),
        ("v1", "Service") => serde_json::to_value(typed::<Service>(doc)),
        ("apps/v1", "DaemonSet") => serde_json::to_value(typed::<DaemonSet>(doc)),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            serde_json::to_value(typed::<ClusterRole>(doc))
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            serde_json::to_value(typed::<ClusterRoleBinding>(doc))
        }
        ("monitoring.coreos.com/v1", "PodMonitor") => {
            strict::<PodMonitor>(doc);
            Ok(doc.value.clone())
        }
        ("monitoring.coreos.com/v1", "PrometheusRule") => {
            strict::<PrometheusRule>(doc);
            Ok(doc.value.clone())
        }
        (api, kind) => panic!(
            "{}: {api} {kind} is not a kind this test knows; add its type here",
            doc.at
        ),
    }
    .unwrap()
}

/// prometheus-operator's metadata, the fields used.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CrdMeta {
    name: String,
    namespace: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// `monitoring.coreos.com/v1` PodMonitor, the fields used.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PodMonitor {
    api_version: String,
    kind: String,
    metadata: CrdMeta,
    spec: PodMonitorSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PodMonitorSpec {
    #[serde(default)]
    job_label: Option<String>,
    selector: MatchLabels,
    pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MatchLabels {
    match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PodMetricsEndpoint {
    port: String,
    path: String,
    interval: String,
    #[serde(default)]
    scrape_timeout: Option<String>,
}

/// `monitoring.coreos.com/v1` PrometheusRule, the fields used.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PrometheusRule {
    api_version: String,
    kind: String,
    metadata: CrdMeta,
    spec: PrometheusRuleSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrometheusRuleSpec {
    groups: Vec<RuleGroup>,
}

/// A Prometheus rule group (fleet.rules.yml's and the PrometheusRule's).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    alert: Option<String>,
    #[serde(default)]
    record: Option<String>,
    expr: String,
    #[serde(default, rename = "for")]
    for_: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Helpers over the typed objects.

fn pod_spec(ds: &DaemonSet) -> &PodSpec {
    ds.spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("DaemonSet spec.template.spec")
}

fn pod_labels(ds: &DaemonSet) -> BTreeMap<String, String> {
    ds.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

fn member(ds: &DaemonSet) -> &Container {
    let pod = pod_spec(ds);
    assert_eq!(pod.containers.len(), 1, "one container, the member");
    &pod.containers[0]
}

fn assert_selects(
    what: &str,
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) {
    assert!(!selector.is_empty(), "{what}: empty selector");
    for (k, v) in selector {
        assert_eq!(
            labels.get(k),
            Some(v),
            "{what} selects {k}={v}, which the DaemonSet's pods do not carry ({labels:?})"
        );
    }
}

/// The member's securityContext field, the container's overriding the pod's.
fn effective<T>(
    container: &SecurityContext,
    pod: &PodSpec,
    field: impl Fn(&SecurityContext) -> Option<T>,
    pod_field: impl Fn(&PodSecurityContext) -> Option<T>,
) -> Option<T> {
    field(container).or_else(|| pod.security_context.as_ref().and_then(pod_field))
}

fn the_http_port(c: &Container) -> i32 {
    let ports = c.ports.clone().unwrap_or_default();
    let http: Vec<_> = ports
        .iter()
        .filter(|p| p.name.as_deref() == Some("http"))
        .collect();
    assert_eq!(http.len(), 1, "one container port named http: {ports:?}");
    assert_eq!(http[0].protocol.as_deref().unwrap_or("TCP"), "TCP");
    http[0].container_port
}

fn arg_value<'a>(c: &'a Container, flag: &str) -> Option<&'a str> {
    c.args
        .iter()
        .flatten()
        .find_map(|a| a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')))
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn a_misspelt_or_misplaced_field_is_named_by_its_path() {
    let doc = |yaml: &str| parse_documents("inline", yaml).remove(0);
    let ok = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n        - name: c\n          securityContext: {readOnlyRootFilesystem: true}\n";
    let _: DaemonSet = typed(&doc(ok));
    for (yaml, path) in [
        (
            ok.replace("readOnlyRootFilesystem", "readOnlyRootFileSystem"),
            "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem",
        ),
        (
            ok.replace(
                "      containers:",
                "      securityContext: {capabilities: {drop: [ALL]}}\n      containers:",
            ),
            "spec.template.spec.securityContext.capabilities",
        ),
    ] {
        let d = doc(&yaml);
        let back =
            serde_json::to_value(serde_json::from_value::<DaemonSet>(d.value.clone()).unwrap())
                .unwrap();
        assert_eq!(first_unknown(&d.value, &back, "").as_deref(), Some(path));
    }
}

#[test]
fn every_object_is_its_kubernetes_type_with_no_unknown_field() {
    let m = manifests();
    let mut kinds = BTreeSet::new();
    for doc in m.resources.iter().chain(&m.patches) {
        normalised(doc);
        kinds.insert(doc.kind().to_string());
    }
    let want: BTreeSet<String> = [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "DaemonSet",
        "Service",
        "PodMonitor",
        "PrometheusRule",
    ]
    .map(String::from)
    .into();
    assert_eq!(kinds, want);
    for doc in &m.resources {
        assert!(!doc.name().is_empty(), "{}: no metadata.name", doc.at);
    }
}

#[test]
fn every_file_is_listed_by_a_kustomization_and_the_base_needs_no_crd() {
    let m = manifests();
    let mut listed = BTreeSet::new();
    for k in &m.kustomizations {
        assert!(
            matches!(k.kind(), "Kustomization" | "Component"),
            "{}: kind {}",
            shown(&k.dir),
            k.kind()
        );
        for key in ["resources", "components", "patches"] {
            for p in k.listed(key) {
                let p = p.canonicalize().unwrap_or_else(|_| {
                    panic!(
                        "{}: {key} names {}, which does not exist",
                        shown(&k.dir),
                        p.display()
                    )
                });
                listed.insert(p);
            }
        }
    }
    for file in m.files.iter().filter(|f| !is_kustomization(f)) {
        assert!(
            listed.contains(file),
            "{} is in no kustomization's resources or patches: kubectl apply -k would skip it",
            shown(file)
        );
    }
    // Plain clusters (no prometheus-operator CRDs) apply the base: it holds no CRD object.
    let base = m.base();
    assert_eq!(base.value["namespace"], "netdiag");
    for p in base.listed("resources") {
        if p.is_file() {
            for doc in documents(&p) {
                assert_ne!(
                    doc.api_version(),
                    "monitoring.coreos.com/v1",
                    "{}: the base must not need prometheus-operator",
                    doc.at
                );
            }
        }
    }
    let images = base.value["images"]
        .as_array()
        .expect("images: in the base");
    assert!(
        images
            .iter()
            .any(|i| i["name"] == "registry.example/netdiag"),
        "an images: entry replaces the placeholder"
    );
    let ds = m.daemonset();
    assert_eq!(
        member(&ds).image.as_deref(),
        Some("registry.example/netdiag:0.1.0")
    );
}

#[test]
fn every_namespaced_object_names_the_kustomization_namespace() {
    // So that `kubectl apply -f` of a single file lands where `apply -k` puts it.
    let m = manifests();
    for doc in &m.resources {
        let cluster_scoped = matches!(
            doc.kind(),
            "Namespace" | "ClusterRole" | "ClusterRoleBinding"
        );
        if cluster_scoped {
            assert_eq!(doc.namespace(), None, "{}", doc.at);
        } else {
            assert_eq!(doc.namespace(), Some("netdiag"), "{}", doc.at);
        }
    }
    assert_eq!(m.one("Namespace").name(), "netdiag");
}

#[test]
fn the_daemonset_runs_locked_down_on_every_node() {
    let ds = typed::<DaemonSet>(manifests().one("DaemonSet"));
    let pod = pod_spec(&ds);
    for flag in [pod.host_network, pod.host_pid, pod.host_ipc] {
        assert_ne!(
            flag,
            Some(true),
            "host namespaces are the host-checks opt-in"
        );
    }
    assert_eq!(
        pod.priority_class_name, None,
        "priorityClassName is optional, not required"
    );
    let tolerations = pod.tolerations.clone().unwrap_or_default();
    assert!(
        tolerations
            .iter()
            .any(|t| t.operator.as_deref() == Some("Exists")
                && t.key.is_none()
                && t.effect.is_none()),
        "a `- operator: Exists` toleration runs a member on every node: {tolerations:?}"
    );
    let strategy = ds
        .spec
        .as_ref()
        .unwrap()
        .update_strategy
        .clone()
        .unwrap_or_default();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    assert_eq!(
        strategy.rolling_update.and_then(|r| r.max_unavailable),
        Some(IntOrString::String("10%".into()))
    );
    for c in pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
    {
        let sc = c.security_context.clone().unwrap_or_default();
        let at = format!("container {}", c.name);
        assert_eq!(
            effective(&sc, pod, |s| s.run_as_non_root, |p| p.run_as_non_root),
            Some(true),
            "{at}"
        );
        assert_eq!(
            effective(&sc, pod, |s| s.run_as_user, |p| p.run_as_user),
            Some(65532),
            "{at}"
        );
        assert_eq!(
            effective(&sc, pod, |s| s.run_as_group, |p| p.run_as_group),
            Some(65532),
            "{at}"
        );
        assert_eq!(
            effective(
                &sc,
                pod,
                |s| s.seccomp_profile.clone(),
                |p| p.seccomp_profile.clone()
            )
            .map(|p| p.type_),
            Some("RuntimeDefault".into()),
            "{at}"
        );
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{at}");
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{at}");
        assert_ne!(sc.privileged, Some(true), "{at}");
        let caps = sc.capabilities.clone().unwrap_or_default();
        assert_eq!(caps.drop, Some(vec!["ALL".to_string()]), "{at}");
        assert!(
            caps.add.unwrap_or_default().is_empty(),
            "{at}: adds capabilities"
        );
        let resources = c.resources.clone().unwrap_or_default();
        for (what, set) in [
            ("requests", resources.requests),
            ("limits", resources.limits),
        ] {
            let set = set.unwrap_or_default();
            assert!(
                set.contains_key("cpu") && set.contains_key("memory"),
                "{at}: {what} {set:?}"
            );
        }
    }
    let c = member(&ds);
    assert_eq!(the_http_port(c), 9115);
    for (what, probe) in [
        ("liveness", &c.liveness_probe),
        ("readiness", &c.readiness_probe),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("{what}Probe.httpGet"));
        assert_eq!(get.path.as_deref(), Some("/-/healthy"), "{what}");
        assert_eq!(get.port, IntOrString::String("http".into()), "{what}");
    }
}

#[test]
fn the_member_takes_its_node_from_the_downward_api() {
    let ds = manifests().daemonset();
    let c = member(&ds);
    let args = c.args.clone().unwrap_or_default();
    assert_eq!(args.first().map(String::as_str), Some("serve"), "{args:?}");
    assert_eq!(
        arg_value(c, "--fleet.node"),
        Some("$(NODE_NAME)"),
        "{args:?}"
    );
    assert_eq!(
        arg_value(c, "--web.listen-address"),
        Some(":9115"),
        "{args:?}"
    );
    assert_eq!(
        arg_value(c, "--config.file"),
        Some("/etc/netdiag/netdiag.yml"),
        "{args:?}"
    );
    let env = c.env.clone().unwrap_or_default();
    for (name, field) in [
        ("NODE_NAME", "spec.nodeName"),
        ("POD_IP", "status.podIP"),
        ("HOST_IP", "status.hostIP"),
    ] {
        let var = env
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("env {name}"));
        let path = var
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str());
        assert_eq!(path, Some(field), "env {name} comes from fieldRef {field}");
        assert_eq!(var.value, None, "env {name}");
    }
}

#[test]
fn the_configmap_is_a_netdiag_config_that_agrees_with_the_daemonset() {
    let m = manifests();
    let ds = m.daemonset();
    let cm = typed::<ConfigMap>(m.one("ConfigMap"));
    let c = member(&ds);

    // --config.file is the ConfigMap's key, mounted from this ConfigMap.
    let file = Path::new(arg_value(c, "--config.file").unwrap());
    let (dir, key) = (
        file.parent().unwrap(),
        file.file_name().unwrap().to_str().unwrap(),
    );
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|v| Path::new(&v.mount_path) == dir)
        .unwrap_or_else(|| panic!("a volume mounted at {}", dir.display()));
    assert_eq!(mount.read_only, Some(true));
    let volume = pod_spec(&ds)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .expect("the mount's volume");
    let source = volume.config_map.as_ref().expect("a configMap volume");
    assert_eq!(Some(source.name.as_str()), cm.metadata.name.as_deref());
    let data = cm.data.clone().unwrap_or_default();
    let text = data
        .get(key)
        .unwrap_or_else(|| panic!("ConfigMap key {key}"));

    let config = netdiag_serve::config::parse(text)
        .unwrap_or_else(|e| panic!("{}: data.{key}: {e}", m.one("ConfigMap").at));
    let fleet = config.fleet.clone().expect("a fleet: section");
    let mesh = fleet.mesh.expect("fleet.mesh");
    let dns = fleet.cluster_dns.expect("fleet.cluster_dns");

    // The mesh lists exactly the DaemonSet's pods and probes their listener.
    assert_eq!(
        Some(mesh.namespace.as_str()),
        ds.metadata.namespace.as_deref()
    );
    let selector: BTreeMap<String, String> = mesh
        .selector
        .split(',')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    assert_selects("fleet.mesh.selector", &selector, &pod_labels(&ds));
    assert_eq!(i32::from(mesh.port), the_http_port(c));
    assert_eq!(mesh.peers, 10);
    assert_eq!(config.modules[&mesh.module].prober, ProberKind::Http);

    // Cluster DNS: kube-dns's endpoints asked for the API server's name, type A.
    let dm = &config.modules[&dns.module];
    assert_eq!(dm.prober, ProberKind::Dns);
    assert_eq!(dm.dns.query_name, "kubernetes.default.svc.cluster.local");
    assert_eq!(dm.dns.query_type, "A");
    assert_eq!(dns.service_label(), "kube-system/kube-dns");

    // The schedule: the API server and the cluster DNS name, and a module of every kind asked.
    let targets: BTreeSet<&str> = config.schedule.iter().map(|s| s.target.as_str()).collect();
    assert!(
        targets.contains("https://kubernetes.default.svc:443/version"),
        "{targets:?}"
    );
    assert!(
        targets.contains("kubernetes.default.svc.cluster.local"),
        "{targets:?}"
    );
    let kinds: BTreeSet<&str> = config.modules.values().map(|m| m.prober.name()).collect();
    for kind in ["http", "tcp", "dns", "netdiag"] {
        assert!(kinds.contains(kind), "no {kind} module: {kinds:?}");
    }

    // The commented examples are valid entries once uncommented.
    let uncommented: String = text
        .lines()
        .map(|line| {
            let body = line.trim_start();
            let indent = &line[..line.len() - body.len()];
            match body.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with("- target:")
                        || rest.starts_with("  module:")
                        || rest.starts_with("  interval:") =>
                {
                    format!("{indent}{rest}\n")
                }
                _ => format!("{line}\n"),
            }
        })
        .collect();
    let with_examples = netdiag_serve::config::parse(&uncommented)
        .unwrap_or_else(|e| panic!("the commented schedule examples, uncommented: {e}"));
    assert_eq!(with_examples.schedule.len(), config.schedule.len() + 2);
}

#[test]
fn rbac_grants_exactly_the_lists_a_member_reads() {
    let m = manifests();
    let role = typed::<ClusterRole>(m.one("ClusterRole"));
    assert!(role.aggregation_rule.is_none());
    let mut granted = BTreeSet::new();
    for rule in role.rules.iter().flatten() {
        assert!(rule.resource_names.is_none(), "{rule:?}");
        assert!(rule.non_resource_urls.is_none(), "{rule:?}");
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for word in [group, resource, verb] {
                        assert!(!word.contains('*'), "wildcard in {rule:?}");
                    }
                    granted.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    let wanted: BTreeSet<(String, String, String)> = API_READS
        .iter()
        .flat_map(|read| {
            read.verbs.iter().map(|v| {
                (
                    read.group.to_string(),
                    read.resource.to_string(),
                    v.to_string(),
                )
            })
        })
        .collect();
    assert_eq!(
        granted, wanted,
        "the ClusterRole must grant exactly fleet::API_READS"
    );
    for (_, _, verb) in &granted {
        assert!(
            ["get", "list", "watch"].contains(&verb.as_str()),
            "write verb {verb}"
        );
    }

    let binding = typed::<ClusterRoleBinding>(m.one("ClusterRoleBinding"));
    assert_eq!(binding.role_ref.api_group, "rbac.authorization.k8s.io");
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(
        Some(binding.role_ref.name.as_str()),
        role.metadata.name.as_deref()
    );
    let ds = m.daemonset();
    let account = pod_spec(&ds)
        .service_account_name
        .clone()
        .expect("serviceAccountName");
    let subjects = binding.subjects.clone().unwrap_or_default();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert_eq!(subjects[0].kind, "ServiceAccount");
    assert_eq!(subjects[0].name, account);
    assert_eq!(subjects[0].namespace, ds.metadata.namespace);
    let sa = typed::<ServiceAccount>(m.one("ServiceAccount"));
    assert_eq!(sa.metadata.name.as_deref(), Some(account.as_str()));
    assert_eq!(sa.metadata.namespace, ds.metadata.namespace);
}

#[test]
fn the_service_and_the_podmonitor_reach_every_member_by_port_name() {
    let m = manifests();
    let ds = m.daemonset();
    let labels = pod_labels(&ds);
    let ds_spec = ds.spec.as_ref().unwrap();
    let ds_selector = ds_spec.selector.match_labels.clone().unwrap_or_default();
    assert_selects("the DaemonSet", &ds_selector, &labels);

    let svc = typed::<Service>(m.one("Service"));
    let spec = svc.spec.clone().unwrap_or_default();
    assert_selects(
        "the Service",
        &spec.selector.clone().unwrap_or_default(),
        &labels,
    );
    let ports = spec.ports.clone().unwrap_or_default();
    assert!(
        ports.iter().any(|p| p.name.as_deref() == Some("http")
            && p.port == 9115
            && p.target_port == Some(IntOrString::String("http".into()))),
        "{ports:?}"
    );

    let pm: PodMonitor = strict(m.one("PodMonitor"));
    assert_eq!(
        (pm.api_version.as_str(), pm.kind.as_str()),
        ("monitoring.coreos.com/v1", "PodMonitor")
    );
    assert_eq!(pm.metadata.namespace, "netdiag");
    assert!(!pm.metadata.name.is_empty() && !pm.metadata.labels.is_empty());
    assert_selects("the PodMonitor", &pm.spec.selector.match_labels, &labels);
    if let Some(job) = &pm.spec.job_label {
        assert!(
            labels.contains_key(job),
            "jobLabel {job} is not a pod label"
        );
    }
    assert_eq!(pm.spec.pod_metrics_endpoints.len(), 1);
    let ep = &pm.spec.pod_metrics_endpoints[0];
    assert_eq!(
        (ep.port.as_str(), ep.path.as_str(), ep.interval.as_str()),
        ("http", "/metrics", "30s")
    );
    if let Some(timeout) = &ep.scrape_timeout {
        assert!(timeout.ends_with('s'), "{timeout}");
    }
}

#[test]
fn the_prometheusrule_holds_exactly_the_fleet_rules() {
    let m = manifests();
    let doc = m.one("PrometheusRule");
    let path = repo_root().join("deploy/prometheus/fleet.rules.yml");
    let file: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        doc.value["spec"]["groups"] == file["groups"],
        "{}: spec.groups differs from deploy/prometheus/fleet.rules.yml's groups; copy them over",
        doc.at
    );
    let rule: PrometheusRule = strict(doc);
    assert_eq!(
        (rule.api_version.as_str(), rule.kind.as_str()),
        ("monitoring.coreos.com/v1", "PrometheusRule")
    );
    assert_eq!(rule.metadata.namespace, "netdiag");
    assert!(!rule.metadata.name.is_empty() && !rule.metadata.labels.is_empty());
    let mut alerts = BTreeSet::new();
    for group in &rule.spec.groups {
        assert!(!group.name.is_empty());
        for r in &group.rules {
            assert!(r.record.is_none(), "{group:?}: only alerts");
            let name = r.alert.clone().expect("an alert");
            assert!(!r.expr.trim().is_empty() && r.for_.is_some(), "{name}");
            assert!(r.labels.contains_key("severity"), "{name}: severity");
            assert!(
                r.annotations.contains_key("summary") && r.annotations.contains_key("description"),
                "{name}"
            );
            alerts.insert(name);
        }
    }
    for name in [
        "NetdiagFleetTargetFailing",
        "NetdiagFleetNodeUnreachable",
        "NetdiagFleetDnsEndpointFailing",
        "NetdiagFleetListFailing",
    ] {
        assert!(alerts.contains(name), "{name}");
    }
}

/// The base object a patch applies to.
fn patched<'a>(m: &'a Manifests, patch: &Doc) -> &'a Doc {
    m.resources
        .iter()
        .find(|d| {
            d.kind() == patch.kind()
                && d.name() == patch.name()
                && d.namespace() == patch.namespace()
        })
        .unwrap_or_else(|| {
            panic!(
                "{}: patches a {} {:?} that no resource is",
                patch.at,
                patch.kind(),
                patch.name()
            )
        })
}

/// The base with every patch merged in (strategic merge: containers by name, lists atomic).
fn with_host_checks(m: &Manifests) -> (DaemonSet, Namespace) {
    let mut ds = m.daemonset();
    let mut ns = typed::<Namespace>(m.one("Namespace"));
    assert!(
        !m.patches.is_empty(),
        "the host-checks component has patches"
    );
    for patch in &m.patches {
        patched(m, patch);
        match patch.kind() {
            "DaemonSet" => ds.merge_from(typed::<DaemonSet>(patch)),
            "Namespace" => ns.merge_from(typed::<Namespace>(patch)),
            other => panic!("{}: a patch of {other}: extend this test", patch.at),
        }
    }
    (ds, ns)
}

#[test]
fn host_checks_grant_the_node_network_and_two_capabilities_and_nothing_else() {
    let m = manifests();
    let component = m
        .kustomizations
        .iter()
        .find(|k| k.dir.ends_with("host-checks"))
        .expect("deploy/kubernetes/host-checks");
    assert_eq!(
        component.kind(),
        "Component",
        "an opt-in component, so the base stays as it is"
    );
    let base = m.daemonset();
    let (ds, ns) = with_host_checks(&m);
    let pod = pod_spec(&ds);
    assert_eq!(pod.host_network, Some(true));
    assert_eq!(pod.dns_policy.as_deref(), Some("ClusterFirstWithHostNet"));
    let c = member(&ds);
    let sc = c.security_context.clone().unwrap_or_default();
    let caps = sc.capabilities.clone().unwrap_or_default();
    let mut add = caps.add.clone().unwrap_or_default();
    add.sort();
    assert_eq!(add, ["NET_ADMIN", "NET_RAW"]);
    assert_eq!(
        caps.drop,
        Some(vec!["ALL".to_string()]),
        "every other capability stays dropped"
    );
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_ne!(sc.privileged, Some(true));
    assert_eq!(
        effective(
            &sc,
            pod,
            |s| s.seccomp_profile.clone(),
            |p| p.seccomp_profile.clone()
        )
        .map(|p| p.type_),
        Some("RuntimeDefault".into())
    );
    // Root, so that the added capabilities are effective (no ambient capabilities in the API).
    assert_eq!(
        effective(&sc, pod, |s| s.run_as_user, |p| p.run_as_user),
        Some(0)
    );
    let labels = ns.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("privileged")
    );

    // Undo exactly those changes: what is left is the base.
    let mut undone = ds.clone();
    let base_pod = pod_spec(&base).clone();
    let base_sc = member(&base).security_context.clone();
    {
        let pod = undone
            .spec
            .as_mut()
            .unwrap()
            .template
            .spec
            .as_mut()
            .unwrap();
        pod.host_network = base_pod.host_network;
        pod.dns_policy = base_pod.dns_policy.clone();
        pod.security_context = base_pod.security_context.clone();
        pod.containers[0].security_context = base_sc;
    }
    assert_eq!(
        undone, base,
        "host-checks changes more than hostNetwork, dnsPolicy, user and capabilities"
    );
}

// ---------------------------------------------------------------------------------------------
// kubectl's kustomize, where installed.

fn kubectl() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn kustomize(dir: &Path) -> Vec<Doc> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed:\n{}",
        shown(dir),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_documents(
        &format!("kubectl kustomize {}", shown(dir)),
        &String::from_utf8_lossy(&out.stdout),
    )
}

/// `to` relative to `from` (kustomize refuses absolute paths).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

fn by_kind_and_name(docs: &[Doc]) -> BTreeMap<(String, String), Value> {
    docs.iter()
        .map(|d| ((d.kind().to_string(), d.name().to_string()), normalised(d)))
        .collect()
}

#[test]
fn kustomize_builds_the_same_objects() {
    if !kubectl() {
        eprintln!(
            "skipped: kubectl is not installed (its kustomize would build deploy/kubernetes)"
        );
        return;
    }
    let m = manifests();
    let base_objects: Vec<Doc> = m
        .resources
        .iter()
        .filter(|d| d.api_version() != "monitoring.coreos.com/v1")
        .cloned()
        .collect();
    let crd_objects: Vec<Doc> = m
        .resources
        .iter()
        .filter(|d| d.api_version() == "monitoring.coreos.com/v1")
        .cloned()
        .collect();
    assert_eq!(
        by_kind_and_name(&kustomize(&kube_dir())),
        by_kind_and_name(&base_objects)
    );
    assert_eq!(
        by_kind_and_name(&kustomize(&kube_dir().join("prometheus-operator"))),
        by_kind_and_name(&crd_objects)
    );

    // The base with the host-checks component, as a user's own kustomization would have it.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fleet-manifests-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let tmp = tmp.canonicalize().unwrap();
    let base = relative(&tmp, &kube_dir().canonicalize().unwrap());
    std::fs::write(
        tmp.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {}\ncomponents:\n  - {}\n",
            base.display(),
            base.join("host-checks").display()
        ),
    )
    .unwrap();
    let built = by_kind_and_name(&kustomize(&tmp));
    let _ = std::fs::remove_dir_all(&tmp);
    let (ds, ns) = with_host_checks(&m);
    let key = |kind: &str, name: &str| (kind.to_string(), name.to_string());
    assert_eq!(
        built[&key("DaemonSet", "netdiag")],
        serde_json::to_value(&ds).unwrap()
    );
    assert_eq!(
        built[&key("Namespace", "netdiag")],
        serde_json::to_value(&ns).unwrap()
    );
    assert_eq!(built.len(), base_objects.len());
}
