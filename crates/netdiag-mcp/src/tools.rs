//! The tools: their definitions (name, description, input and output schema, safety hints) and
//! what a call does. Every call goes through the engine the CLI uses, with the CLI's
//! validation, and answers with the document the CLI prints as `--format json`, so an agent and
//! a person looking at the same fault read the same verdict.
//!
//! Nothing here is asynchronous or knows about MCP's wire format: a call is arguments in, an
//! [`Answer`] or a one-line refusal out. The server (`server.rs`) adds the deadlines, the bound
//! on calls at once and the MCP framing.

use crate::args::{
    CauseArgs, CloudFlowArgs, CloudProtocolArg, ClusterArgs, InlineDocument, K8sFlowArgs,
    K8sProtocolArg, NoArgs, ProberArgs, ProviderArg, TargetCheckArgs, TargetsCheckArgs,
};
use crate::guard::{AllowList, FileRoot};
use netdiag_core::render::{render_many, Format};
use netdiag_core::target::Target;
use netdiag_engine::live::HopGuard;
use netdiag_engine::options::{resolve, CheckOptions, Spelling};
use netdiag_engine::{CloudRequest, ClusterInput, LiveCheck, Request};
use netdiag_serve::fleet::promapi::{fetch, percent_encode, PrometheusUrl};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use rmcp::schemars::JsonSchema;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// What a successful call answers: the CLI's JSON document, and a few lines of Markdown that
/// say the verdict and the fix.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The document (`structuredContent`).
    pub document: Value,
    /// The short Markdown summary.
    pub markdown: String,
}

/// A call's outcome: `Err` is a tool error (bad arguments, a refused target, an unreadable
/// file), one line an agent can act on.
pub type Outcome = Result<Answer, String>;

/// The operator's limits, fixed when `netdiag mcp` starts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Where live tools may send packets.
    pub allow: AllowList,
    /// Where file arguments may point.
    pub root: FileRoot,
    /// Only the offline tools exist.
    pub offline_only: bool,
    /// The longest `timeout` a live check may ask for.
    pub max_timeout: Duration,
    /// At most this many targets in one `targets_check`.
    pub max_targets: usize,
    /// At most this many bytes of inline manifests or exports in one call.
    pub max_inline_bytes: usize,
    /// The `netdiag serve` prober whose recent results `prober_results_list` reads (`--prober`).
    pub prober: Option<PrometheusUrl>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            allow: AllowList::everything(),
            root: FileRoot::anywhere(),
            offline_only: false,
            max_timeout: Duration::from_secs(60),
            max_targets: 64,
            max_inline_bytes: 8 * 1024 * 1024,
            prober: None,
        }
    }
}

/// The tools, in the order they are listed (deterministic, as the protocol asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolName {
    /// The live walk of one target.
    TargetCheck,
    /// The live walk of several targets at once.
    TargetsCheck,
    /// A Kubernetes flow: Service path and NetworkPolicy.
    K8sFlowCheck,
    /// Every pod-to-pod verdict.
    K8sMatrixCompute,
    /// A cloud flow: security groups, NACLs, routes, firewall rules, NSGs.
    CloudFlowCheck,
    /// The cause catalogue.
    CausesList,
    /// One cause explained.
    CauseExplain,
    /// A `netdiag serve` prober's recent results (listed only with `--prober`).
    ProberResultsList,
}

impl ToolName {
    /// Every tool, in list order.
    pub const ALL: [ToolName; 8] = [
        ToolName::TargetCheck,
        ToolName::TargetsCheck,
        ToolName::K8sFlowCheck,
        ToolName::K8sMatrixCompute,
        ToolName::CloudFlowCheck,
        ToolName::CausesList,
        ToolName::CauseExplain,
        ToolName::ProberResultsList,
    ];

    /// The tool's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ToolName::TargetCheck => "target_check",
            ToolName::TargetsCheck => "targets_check",
            ToolName::K8sFlowCheck => "k8s_flow_check",
            ToolName::K8sMatrixCompute => "k8s_matrix_compute",
            ToolName::CloudFlowCheck => "cloud_flow_check",
            ToolName::CausesList => "causes_list",
            ToolName::CauseExplain => "cause_explain",
            ToolName::ProberResultsList => "prober_results_list",
        }
    }

    /// The tool a name calls, if any.
    pub fn from_name(name: &str) -> Option<ToolName> {
        ToolName::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether the tool sends packets from this host (live) rather than evaluating inputs.
    pub fn is_live(self) -> bool {
        matches!(self, ToolName::TargetCheck | ToolName::TargetsCheck)
    }

    /// Whether the tool evaluates inputs only (no network at all): these are the tools
    /// `--offline-only` keeps.
    pub fn is_offline(self) -> bool {
        !self.is_live() && self != ToolName::ProberResultsList
    }

    fn title(self) -> &'static str {
        match self {
            ToolName::TargetCheck => "Target: Check",
            ToolName::TargetsCheck => "Targets: Check",
            ToolName::K8sFlowCheck => "Kubernetes flow: Check",
            ToolName::K8sMatrixCompute => "Kubernetes matrix: Compute",
            ToolName::CloudFlowCheck => "Cloud flow: Check",
            ToolName::CausesList => "Causes: List",
            ToolName::CauseExplain => "Cause: Explain",
            ToolName::ProberResultsList => "Prober results: List",
        }
    }

    fn description(self) -> &'static str {
        match self {
            ToolName::TargetCheck => "Diagnose why a target \"can't connect\" from the host netdiag runs on: walks resolver config -> DNS (every nameserver) -> route -> proxy -> TCP/UDP -> path MTU -> TLS -> HTTP, stops at the first failing layer and names it with a stable cause code (e.g. tcp_refused, tcp_timeout, tls_cert_expired, dns_nameserver_unreachable), the first-hand evidence, a concrete fix with its rollback and pre-state commands, and a runbook entry. Read-only: it sends probes, never changes the system; fixes are printed, not applied. Answers netdiag.report/v1 (verdict.layer is null when healthy). Use it first when something cannot connect; then cause_explain for background on the cause.",
            ToolName::TargetsCheck => "Diagnose several targets at once (checked concurrently, each with its own deadline), e.g. every dependency of a service. Same walk and options as target_check; answers netdiag.reports/v1 with one netdiag.report/v1 per target, in input order, and a healthy/failed summary.",
            ToolName::K8sFlowCheck => "Is a Kubernetes flow allowed? Follows the Service path (selector, EndpointSlices, ready endpoints, targetPort) and NetworkPolicy (ingress and egress isolation, which policies isolate and which allow) for SRC -> DST:PORT, from manifests (paths or inline YAML/JSON, as kubectl get -o yaml|json prints) or a live cluster read with get/list only (kubeconfig, or the pod's service account). A denial comes with the minimal NetworkPolicy manifests that allow only this flow (never a world-open rule) and the kubectl delete that rolls them back. Answers netdiag.k8s.check/v1. Nothing is applied.",
            ToolName::K8sMatrixCompute => "Every pod-to-pod verdict of a cluster on every declared or policy-named port, pods grouped into equivalence classes (the same labels, namespace and ports), from manifests or a live read. Answers netdiag.k8s.matrix/v1 (compact). Use k8s_flow_check to explain one cell.",
            ToolName::CloudFlowCheck => "Is a flow allowed by the cloud's firewalls and routes? Evaluates AWS security groups, network ACLs (both directions, with the reply ports) and route tables, GCP firewall rules and network firewall policies, or Azure NSGs (subnet and NIC) from the provider CLI's own JSON exports (paths or inline), for SRC -> DST:PORT. Names the blocking resource and rule and the narrowest fix (never 0.0.0.0/0) with rollback and pre-state commands. Answers netdiag.cloud.check/v1. Offline: reads the exports only, calls no cloud API.",
            ToolName::CausesList => "The cause catalogue: every cause code netdiag can report (live layers, Kubernetes, cloud), with its domain, layer and meaning. Answers netdiag.causes/v1.",
            ToolName::ProberResultsList => "What has the netdiag serve prober (the Prometheus prober that replaces blackbox_exporter) seen lately? Its recent probes, newest first, optionally only failures or one target/module, each with success, duration, the verdict (layer, cause, summary) and the full netdiag.report/v1 when the prober walked the layers. Reads the prober the operator named with --prober; probes nothing itself. Answers netdiag.probes/v1.",
            ToolName::CauseExplain => "Explain one cause code: what it means, at which layer, and its typical fix, pre-state to capture, rollback and runbook entry, with placeholders (TARGET_IP, PORT, ...) where a real report names the flow. Answers netdiag.cause/v1.",
        }
    }

    fn output_schema(self) -> &'static str {
        match self {
            ToolName::TargetCheck => include_str!("../schemas/report.schema.json"),
            ToolName::TargetsCheck => include_str!("../schemas/reports.schema.json"),
            ToolName::K8sFlowCheck => include_str!("../schemas/k8s-check.schema.json"),
            ToolName::K8sMatrixCompute => include_str!("../schemas/k8s-matrix.schema.json"),
            ToolName::CloudFlowCheck => include_str!("../schemas/cloud-check.schema.json"),
            ToolName::CausesList => include_str!("../schemas/causes.schema.json"),
            ToolName::CauseExplain => include_str!("../schemas/cause.schema.json"),
            ToolName::ProberResultsList => include_str!("../schemas/probes.schema.json"),
        }
    }

    fn input_schema(self) -> Arc<JsonObject> {
        match self {
            ToolName::TargetCheck => input_schema::<TargetCheckArgs>(),
            ToolName::TargetsCheck => input_schema::<TargetsCheckArgs>(),
            ToolName::K8sFlowCheck => input_schema::<K8sFlowArgs>(),
            ToolName::K8sMatrixCompute => input_schema::<ClusterArgs>(),
            ToolName::CloudFlowCheck => input_schema::<CloudFlowArgs>(),
            ToolName::CausesList => input_schema::<NoArgs>(),
            ToolName::CauseExplain => input_schema::<CauseArgs>(),
            ToolName::ProberResultsList => input_schema::<ProberArgs>(),
        }
    }

    /// The tool's definition as listed, under these limits (the Kubernetes tools read a live
    /// cluster only when `--offline-only` is off, and say so in their hints).
    pub fn definition(self, limits: &Limits) -> Tool {
        let open_world = match self {
            ToolName::TargetCheck | ToolName::TargetsCheck => true,
            ToolName::K8sFlowCheck | ToolName::K8sMatrixCompute => !limits.offline_only,
            _ => false,
        };
        let annotations = ToolAnnotations::with_title(self.title())
            .read_only(true)
            .destructive(false)
            .idempotent(self.is_offline())
            .open_world(open_world);
        let output: JsonObject = serde_json::from_str(self.output_schema()).unwrap_or_default();
        Tool::new(self.name(), self.description(), self.input_schema())
            .with_title(self.title())
            .with_annotations(annotations)
            .with_raw_output_schema(Arc::new(output))
    }
}

/// The tools an operator's limits expose, in list order.
pub fn listed(limits: &Limits) -> Vec<ToolName> {
    ToolName::ALL
        .into_iter()
        .filter(|t| !limits.offline_only || t.is_offline())
        .filter(|t| *t != ToolName::ProberResultsList || limits.prober.is_some())
        .collect()
}

/// A tool's input schema from its argument type. The empty-argument tool gets the protocol's
/// `{"type":"object","additionalProperties":false}`.
fn input_schema<T: JsonSchema>() -> Arc<JsonObject> {
    let schema = rmcp::schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut object = match serde_json::to_value(schema) {
        Ok(Value::Object(o)) => o,
        _ => JsonObject::new(),
    };
    object.insert("type".into(), Value::String("object".into()));
    if !object.contains_key("properties") {
        object.insert("additionalProperties".into(), Value::Bool(false));
    }
    Arc::new(object)
}

/// How long a call may take before its answer is given up: a live check's own deadline (times
/// the redirects it may follow) with a margin, else `offline`.
pub fn deadline(
    tool: ToolName,
    arguments: &JsonObject,
    limits: &Limits,
    offline: Duration,
) -> Duration {
    if !tool.is_live() {
        return offline;
    }
    let asked = arguments
        .get("timeout")
        .and_then(Value::as_str)
        .and_then(|t| netdiag_engine::options::parse_duration(t).ok())
        .unwrap_or(Duration::from_secs(10))
        .min(limits.max_timeout);
    let hops = if arguments.get("follow").and_then(Value::as_bool) == Some(true) {
        1 + u32::try_from(netdiag_engine::live::MAX_REDIRECTS).unwrap_or(5)
    } else {
        1
    };
    asked * hops + Duration::from_secs(5)
}

fn parse_args<T: serde::de::DeserializeOwned>(
    tool: ToolName,
    arguments: JsonObject,
) -> Result<T, String> {
    serde_json::from_value(Value::Object(arguments)).map_err(|e| {
        let why: String = e
            .to_string()
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        format!("{}: invalid arguments: {why}", tool.name())
    })
}

/// Runs one call (blocking: the walk and the loaders are synchronous).
pub fn call(tool: ToolName, arguments: JsonObject, limits: &Limits) -> Outcome {
    if limits.offline_only && !tool.is_offline() {
        return Err(format!(
            "{} is a live tool and this server runs with --offline-only",
            tool.name()
        ));
    }
    match tool {
        ToolName::TargetCheck => {
            let a: TargetCheckArgs = parse_args(tool, arguments)?;
            let checks = live_checks(a.check_options(vec![a.target.clone()]), limits)?;
            let diagnosis = netdiag_engine::diagnose(&Request::Live {
                checks,
                evidence: None,
            })?;
            answer(&diagnosis.render(Format::Json))
        }
        ToolName::TargetsCheck => {
            let a: TargetsCheckArgs = parse_args(tool, arguments)?;
            if a.targets.len() > limits.max_targets {
                return Err(format!(
                    "{} targets: at most {} per call (this server's --max-targets)",
                    a.targets.len(),
                    limits.max_targets
                ));
            }
            let checks = live_checks(a.check_options(a.targets.clone()), limits)?;
            let reports = netdiag_engine::live::run(&checks, None).map_err(|e| e.to_string())?;
            answer(&render_many(
                &reports.reports,
                Format::Json,
                &reports.started_at,
                reports.duration_ms,
            ))
        }
        ToolName::K8sFlowCheck => {
            let a: K8sFlowArgs = parse_args(tool, arguments)?;
            let cluster = cluster_input(&a.cluster(), limits)?;
            let protocol = match a.protocol.unwrap_or(K8sProtocolArg::Tcp) {
                K8sProtocolArg::Tcp => "TCP",
                K8sProtocolArg::Udp => "UDP",
                K8sProtocolArg::Sctp => "SCTP",
            };
            let flow = netdiag_k8s::check::CheckRequest {
                from: a.from.clone(),
                to: a.to.clone(),
                port: a.port.text(),
                protocol: protocol.into(),
            };
            let diagnosis = netdiag_engine::diagnose(&Request::Kubernetes { cluster, flow })?;
            answer(&diagnosis.render(Format::Json))
        }
        ToolName::K8sMatrixCompute => {
            let a: ClusterArgs = parse_args(tool, arguments)?;
            let cluster = cluster_input(&a, limits)?;
            let diagnosis = netdiag_engine::diagnose(&Request::KubernetesMatrix { cluster })?;
            answer(&diagnosis.render(Format::Json))
        }
        ToolName::CloudFlowCheck => {
            let a: CloudFlowArgs = parse_args(tool, arguments)?;
            let diagnosis = netdiag_engine::diagnose(&Request::Cloud(cloud_request(&a, limits)?))?;
            let json = diagnosis.render(Format::Json);
            // The estate may be large; the document is all that is kept.
            answer(&json)
        }
        ToolName::CausesList => {
            let _: NoArgs = parse_args(tool, arguments)?;
            let document = json!({"schema": "netdiag.causes/v1", "causes": netdiag_core::catalogue::entries()});
            let count = document["causes"].as_array().map_or(0, Vec::len);
            Ok(Answer {
                document,
                markdown: format!(
                    "{count} cause codes (`netdiag causes`); `cause_explain` explains one with its typical fix."
                ),
            })
        }
        ToolName::ProberResultsList => {
            let a: ProberArgs = parse_args(tool, arguments)?;
            prober_results(&a, limits)
        }
        ToolName::CauseExplain => {
            let a: CauseArgs = parse_args(tool, arguments)?;
            let cause = netdiag_core::catalogue::lookup(&a.cause)?;
            Ok(Answer {
                document: netdiag_core::catalogue::explain(cause),
                markdown: netdiag_core::catalogue::render_explanation(cause, Format::Markdown),
            })
        }
    }
}

/// Reads the prober's `/api/v1/probes` with the agent's filter.
fn prober_results(a: &ProberArgs, limits: &Limits) -> Outcome {
    let Some(prober) = &limits.prober else {
        return Err("no prober: start netdiag mcp with --prober URL (a netdiag serve)".into());
    };
    let limit = a.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(format!("limit {limit}: give 1 to 100"));
    }
    let mut query = format!("/api/v1/probes?limit={limit}");
    if a.failed_only {
        query.push_str("&failed=true");
    }
    for (key, value) in [("target", &a.target), ("module", &a.module)] {
        if let Some(v) = value {
            query.push_str(&format!("&{key}={}", percent_encode(v, b"")));
        }
    }
    let body = fetch(prober, &query, Duration::from_secs(10), "the prober")?;
    let mut document: Value = serde_json::from_slice(&body).map_err(|_| {
        let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        format!(
            "the prober at {} answered no netdiag.probes/v1 document: {text}",
            prober.display()
        )
    })?;
    if document["schema"] != "netdiag.probes/v1" {
        return Err(format!(
            "the prober at {} answered no netdiag.probes/v1 document (is it netdiag serve?)",
            prober.display()
        ));
    }
    document["prober"] = Value::String(prober.display());
    let probes = document["probes"].as_array().cloned().unwrap_or_default();
    let failed = probes.iter().filter(|p| p["success"] == false).count();
    let mut markdown = format!(
        "**{} probes** from {}, {failed} failed\n",
        probes.len(),
        prober.display()
    );
    for p in probes.iter().filter(|p| p["success"] == false).take(10) {
        let v = &p["verdict"];
        markdown.push_str(&format!(
            "\n- `{}` ({}) at {}: {}",
            text(&p["target"]),
            text(&p["module"]),
            text(&p["started_at"]),
            if v.is_object() {
                one_line(p)
            } else {
                "failed".to_string()
            }
        ));
    }
    markdown.push('\n');
    Ok(Answer { document, markdown })
}

/// The redirect guard of a live check under `--allow-targets`.
#[derive(Debug)]
struct AllowedHops(AllowList);

impl HopGuard for AllowedHops {
    fn permits(&self, target: &Target) -> Result<(), String> {
        self.0.permits(target)
    }
}

/// The options with every file argument resolved under `--root`.
fn confined(mut o: CheckOptions, limits: &Limits) -> Result<CheckOptions, String> {
    let root = &limits.root;
    for (argument, path) in [
        ("resolv_conf", &mut o.resolv_conf),
        ("hosts_file", &mut o.hosts_file),
        ("nsswitch_conf", &mut o.nsswitch_conf),
        ("cacert", &mut o.cacert),
        ("crlfile", &mut o.crlfile),
    ] {
        if let Some(p) = path.as_deref() {
            *path = Some(root.resolve_text(argument, p)?);
        }
    }
    o.cloud = o
        .cloud
        .iter()
        .map(|p| root.resolve("cloud", &p.to_string_lossy()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(o)
}

/// Validates a live call the way `netdiag check` validates its flags, then applies the
/// operator's limits: the deadline, the targets, the proxy and the nameservers it would contact.
fn live_checks(options: CheckOptions, limits: &Limits) -> Result<Vec<LiveCheck>, String> {
    let options = confined(options, limits)?;
    let mut checks = resolve(&options, Spelling::Arguments)?;
    let guard: Option<Arc<dyn HopGuard>> = limits
        .allow
        .restricts()
        .then(|| Arc::new(AllowedHops(limits.allow.clone())) as Arc<dyn HopGuard>);
    if let Some(path) = &options.resolv_conf {
        if limits.allow.restricts() {
            let text =
                netdiag_probe::files::read_config(path).map_err(|e| format!("resolv_conf {e}"))?;
            for ns in netdiag_core::resolvconf::parse_resolv_conf(&text).nameservers {
                limits.allow.permits_peer(
                    "nameserver",
                    &ns.address.ip().to_string(),
                    ns.address.port(),
                )?;
            }
        }
    }
    for check in &mut checks {
        if check.timeout > limits.max_timeout {
            return Err(format!(
                "timeout {:?} is longer than this server's --max-timeout {:?}",
                check.timeout, limits.max_timeout
            ));
        }
        limits.allow.permits(&check.target)?;
        if let Some(proxy) = &check.proxy {
            limits
                .allow
                .permits_peer("proxy", &proxy.setting.host, proxy.setting.port)?;
        }
        check.hop_guard = guard.clone();
    }
    Ok(checks)
}

/// The inline documents as (name, text), bounded in total size.
fn inline_texts(
    argument: &str,
    docs: &[InlineDocument],
    limits: &Limits,
    default_ext: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::with_capacity(docs.len());
    let mut total = 0usize;
    for (i, doc) in docs.iter().enumerate() {
        let (name, text) = match doc {
            InlineDocument::Text(text) => (format!("{argument}[{i}].{default_ext}"), text.clone()),
            InlineDocument::Named { name, text } => (
                name.chars().filter(|c| !c.is_control()).take(200).collect(),
                text.clone(),
            ),
            InlineDocument::Json(value) => (format!("{argument}[{i}].json"), value.to_string()),
        };
        total = total.saturating_add(text.len());
        if total > limits.max_inline_bytes {
            return Err(format!(
                "{argument}: more than {} bytes of inline documents (this server's --max-inline-bytes): give paths instead",
                limits.max_inline_bytes
            ));
        }
        out.push((name, text));
    }
    Ok(out)
}

fn cluster_input(a: &ClusterArgs, limits: &Limits) -> Result<ClusterInput, String> {
    let manifests = a
        .manifests
        .iter()
        .map(|p| limits.root.resolve("manifests", p))
        .collect::<Result<Vec<_>, _>>()?;
    let inline = inline_texts("manifests_inline", &a.manifests_inline, limits, "yaml")?;
    let offline = !manifests.is_empty() || !inline.is_empty();
    if !offline && limits.offline_only {
        return Err(
            "give manifests or manifests_inline: reading a live cluster (kubeconfig or the pod's service account) is off under --offline-only"
                .into(),
        );
    }
    if offline && a.kubeconfig.is_some() {
        return Err("give manifests (or manifests_inline) or kubeconfig, not both".into());
    }
    if a.context.is_some() && a.kubeconfig.is_none() {
        return Err("context needs kubeconfig".into());
    }
    let kubeconfig = a
        .kubeconfig
        .as_deref()
        .map(|p| limits.root.resolve("kubeconfig", p))
        .transpose()?;
    Ok(ClusterInput {
        manifests,
        kubeconfig,
        context: a.context.clone(),
        inline,
    })
}

fn cloud_request(a: &CloudFlowArgs, limits: &Limits) -> Result<CloudRequest, String> {
    let resources = a
        .resources
        .iter()
        .map(|p| limits.root.resolve("resources", p))
        .collect::<Result<Vec<_>, _>>()?;
    let inline = inline_texts("resources_inline", &a.resources_inline, limits, "json")?;
    if resources.is_empty() && inline.is_empty() {
        return Err("give resources (export files or directories) or resources_inline".into());
    }
    let protocol = match a.protocol.unwrap_or(CloudProtocolArg::Tcp) {
        CloudProtocolArg::Tcp => "tcp",
        CloudProtocolArg::Udp => "udp",
        CloudProtocolArg::Icmp => "icmp",
    };
    let port = a
        .port
        .as_ref()
        .map_or_else(|| "0".to_string(), |p| p.text());
    let query = netdiag_cloud::flow::Query::parse(&a.from, &a.to, &port, protocol)
        .map_err(|e| e.to_string())?;
    let provider = a.provider.map(|p| match p {
        ProviderArg::Aws => netdiag_cloud::doc::Provider::Aws,
        ProviderArg::Gcp => netdiag_cloud::doc::Provider::Gcp,
        ProviderArg::Azure => netdiag_cloud::doc::Provider::Azure,
    });
    Ok(CloudRequest {
        provider,
        resources,
        inline,
        query,
    })
}

/// The CLI's JSON as the answer, with its Markdown summary.
fn answer(json: &str) -> Outcome {
    let document: Value = serde_json::from_str(json)
        .map_err(|e| format!("internal error: the report is not JSON ({e})"))?;
    let markdown = summary_markdown(&document);
    Ok(Answer { document, markdown })
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// A few lines an agent (or the person reading its transcript) can act on: the verdict, the
/// fix's commands, the rollback. The document holds the rest.
pub fn summary_markdown(doc: &Value) -> String {
    if let Some(reports) = doc.get("reports").and_then(Value::as_array) {
        let mut out = format!(
            "**{} of {} targets healthy**\n",
            doc["summary"]["healthy"], doc["summary"]["total"]
        );
        for r in reports {
            out.push_str(&format!(
                "\n- `{}`: {}",
                text(&r["target"]["input"]),
                one_line(r)
            ));
        }
        out.push('\n');
        return out;
    }
    if doc.get("matrix").is_some() {
        let s = &doc["stats"];
        return format!(
            "**{} pods in {} classes, {} ports, {} policies**: {} of {} cells allowed.\n",
            s["pods"], s["classes"], s["ports"], s["policies"], s["allowed_cells"], s["cells"]
        );
    }
    let v = &doc["verdict"];
    let mut out = format!("{}\n", one_line(doc));
    let description = text(&v["fix"]["description"]);
    if !description.is_empty() {
        out.push_str(&format!("\n**Fix**: {description}\n"));
    }
    let commands: Vec<&str> = v["fix"]["commands"]
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    if !commands.is_empty() {
        out.push_str(&format!("\n```sh\n{}\n```\n", commands.join("\n")));
    }
    if let Some(n) = v["fix"]["manifests"]
        .as_array()
        .map(Vec::len)
        .filter(|n| *n > 0)
    {
        out.push_str(&format!("\n{n} manifest(s) in verdict.fix.manifests (print them, do not apply them unreviewed).\n"));
    }
    let rollback: Vec<&str> = v["rollback"]
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    if !rollback.is_empty() {
        out.push_str(&format!(
            "\n**Rollback**:\n```sh\n{}\n```\n",
            rollback.join("\n")
        ));
    }
    out
}

/// "**tcp** failed: `tcp_refused` — …" or "healthy".
fn one_line(doc: &Value) -> String {
    let v = &doc["verdict"];
    let summary = text(&v["summary"]);
    match (v["layer"].as_str(), text(&v["cause"])) {
        (None, "ok") => format!("**healthy**: {summary}"),
        (None, cause) => format!("`{cause}`: {summary}"),
        (Some(layer), cause) => format!("**{layer}** failed: `{cause}`: {summary}"),
    }
    .trim_end_matches(": ")
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        match v {
            Value::Object(o) => o,
            _ => JsonObject::new(),
        }
    }

    #[test]
    fn every_tool_is_read_only_and_never_destructive() {
        for limits in [
            Limits::default(),
            Limits {
                offline_only: true,
                ..Limits::default()
            },
            Limits {
                prober: PrometheusUrl::parse_flag("http://127.0.0.1:9115", "--prober").ok(),
                ..Limits::default()
            },
        ] {
            for tool in listed(&limits) {
                let def = tool.definition(&limits);
                let hints = def.annotations.clone().unwrap_or_default();
                assert_eq!(hints.read_only_hint, Some(true), "{}", tool.name());
                assert_eq!(hints.destructive_hint, Some(false), "{}", tool.name());
                if tool.is_offline() {
                    assert_eq!(hints.idempotent_hint, Some(true), "{}", tool.name());
                }
                assert!(def
                    .output_schema
                    .as_ref()
                    .is_some_and(|s| s.get("type") == Some(&json!("object"))));
                assert_eq!(
                    def.input_schema.get("type"),
                    Some(&json!("object")),
                    "{}",
                    tool.name()
                );
                let name = tool.name();
                assert!(
                    name.len() <= 128
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                );
            }
        }
        let offline = listed(&Limits {
            offline_only: true,
            ..Limits::default()
        });
        assert!(offline.iter().all(|t| t.is_offline()));
        assert_eq!(offline.len(), ToolName::ALL.len() - 3);
        assert!(!listed(&Limits::default()).contains(&ToolName::ProberResultsList));
    }

    #[test]
    fn the_empty_tool_takes_no_arguments() {
        let schema = ToolName::CausesList.input_schema();
        assert_eq!(schema.get("additionalProperties"), Some(&json!(false)));
        let err = call(
            ToolName::CausesList,
            args(json!({"x": 1})),
            &Limits::default(),
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn misspelt_options_are_refused_not_ignored() {
        let err = call(
            ToolName::TargetCheck,
            args(json!({"target": "tcp://127.0.0.1:1", "timout": "1s"})),
            &Limits::default(),
        )
        .err()
        .unwrap_or_default();
        assert!(
            err.starts_with("target_check: invalid arguments: unknown field `timout`"),
            "{err}"
        );
    }

    #[test]
    fn live_validation_speaks_in_argument_names() {
        let err = call(
            ToolName::TargetCheck,
            args(json!({"target": "tcp://127.0.0.1:1", "timeout": "1s", "connect_timeout": "2s"})),
            &Limits::default(),
        )
        .err()
        .unwrap_or_default();
        assert_eq!(
            err,
            "connect_timeout 2s is longer than timeout 1s: raise timeout too"
        );
        let err = call(
            ToolName::TargetCheck,
            args(json!({"target": "http://[::1"})),
            &Limits::default(),
        )
        .err()
        .unwrap_or_default();
        assert!(err.starts_with("invalid target 'http://[::1'"), "{err}");
    }

    #[test]
    fn refused_targets_name_the_flag() {
        let limits = Limits {
            allow: AllowList::parse(&["10.0.0.0/8".into()]).unwrap_or_default(),
            ..Limits::default()
        };
        let err = call(
            ToolName::TargetCheck,
            args(json!({"target": "tcp://127.0.0.1:1"})),
            &limits,
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("--allow-targets"), "{err}");
        let err = call(
            ToolName::TargetCheck,
            args(json!({"target": "http://10.1.1.1/", "proxy": "http://192.0.2.1:3128"})),
            &limits,
        )
        .err()
        .unwrap_or_default();
        assert!(
            err.starts_with("proxy 192.0.2.1:3128 is not allowed"),
            "{err}"
        );
    }

    #[test]
    fn proxy_credentials_never_reach_the_answer() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let answer = call(
            ToolName::TargetCheck,
            args(json!({
                "target": "http://127.0.0.1:1/",
                "proxy": format!("http://bob:s3cret-pw@127.0.0.1:{closed}"),
                "timeout": "3s",
            })),
            &Limits::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            answer.document["verdict"]["layer"], "proxy",
            "{}",
            answer.document
        );
        let everything = format!("{}{}", answer.document, answer.markdown);
        assert!(!everything.contains("s3cret-pw"), "{everything}");
    }

    #[test]
    fn longer_timeouts_than_the_servers_are_refused() {
        let err = call(
            ToolName::TargetCheck,
            args(json!({"target": "tcp://127.0.0.1:1", "timeout": "5m"})),
            &Limits::default(),
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("--max-timeout"), "{err}");
    }

    #[test]
    fn oversized_inline_manifests_are_refused() {
        let limits = Limits {
            max_inline_bytes: 100,
            ..Limits::default()
        };
        let err = call(
            ToolName::K8sMatrixCompute,
            args(json!({"manifests_inline": ["a".repeat(101)]})),
            &limits,
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("--max-inline-bytes"), "{err}");
    }

    #[test]
    fn inline_manifests_are_checked_like_files() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\nspec: {containers: [{name: c, ports: [{containerPort: 80}]}]}\nstatus: {podIP: 10.0.0.1, phase: Running}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x, labels: {app: b}}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 10.0.0.2, phase: Running}\n";
        let answer = call(
            ToolName::K8sFlowCheck,
            args(json!({"manifests_inline": [yaml], "from": "x/b", "to": "x/a", "port": 80})),
            &Limits::default(),
        );
        let answer = answer.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.document["schema"], "netdiag.k8s.check/v1");
        assert_eq!(answer.document["verdict"]["allowed"], true);
        let broken = call(
            ToolName::K8sMatrixCompute,
            args(json!({"manifests_inline": [{"name": "bad.yaml", "text": "kind: [unclosed"}]})),
            &Limits::default(),
        )
        .err()
        .unwrap_or_default();
        assert!(broken.starts_with("bad.yaml"), "{broken}");
    }

    #[test]
    fn offline_only_refuses_live_reads() {
        let limits = Limits {
            offline_only: true,
            ..Limits::default()
        };
        let err = call(ToolName::K8sMatrixCompute, args(json!({})), &limits)
            .err()
            .unwrap_or_default();
        assert!(err.contains("--offline-only"), "{err}");
        let err = call(
            ToolName::TargetCheck,
            args(json!({"target": "127.0.0.1:1"})),
            &limits,
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("--offline-only"), "{err}");
    }

    #[test]
    fn causes_are_listed_and_explained() {
        let list = call(ToolName::CausesList, JsonObject::new(), &Limits::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(list.document["causes"]
            .as_array()
            .is_some_and(|a| a.len() > 40));
        let one = call(
            ToolName::CauseExplain,
            args(json!({"cause": "tcp_timeout"})),
            &Limits::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one.document["layer"], "tcp");
        let err = call(
            ToolName::CauseExplain,
            args(json!({"cause": "nope"})),
            &Limits::default(),
        )
        .err()
        .unwrap_or_default();
        assert!(err.contains("netdiag causes"), "{err}");
    }
}
