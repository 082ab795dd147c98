//! Reading a live cluster (feature `live`): the same six kinds the manifests give, listed across
//! all namespaces from the API server named by a kubeconfig (`--kubeconfig`, `--context`) or by the
//! pod's service account (in-cluster), into the same [`Cluster`].
//!
//! Why this shape:
//! - **Read-only.** Only `GET` list requests are ever sent (`list` is the one RBAC verb needed),
//!   so pointing netdiag at a production cluster cannot change it.
//! - **Raw JSON, one loader.** Each list page goes through [`Cluster::load_api_list`], the
//!   manifest path, so a live read is validated exactly like a file and feeds the same model. No
//!   k8s-openapi types are used (kube needs the crate, with one version feature, to compile).
//! - **Bounded.** Pages of [`PAGE_SIZE`] objects (`limit`/`continue`), at most [`MAX_PAGES`] per
//!   kind, and one deadline for the whole read: a hung API server is an error, never a hang.
//! - **Errors name the fix.** A 403 names the resource and the RBAC rule that is missing; a 401
//!   says the credentials were rejected; a transport error is one line with its cause chain.
//!   Credentials never appear in messages.
//!
//! kube (hyper, tower, rustls with `ring`) lives only here, behind the feature, so the engine and
//! its tests build without an HTTP stack. kube is async; [`load_live`] runs it on a private
//! current-thread tokio runtime so callers stay synchronous.

use crate::load::{Cluster, LoadError};
use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The largest kubeconfig read (they are a few KiB; this only stops /dev/zero and the like).
const MAX_KUBECONFIG_BYTES: u64 = 16 * 1024 * 1024;
/// Objects asked for per list request.
pub const PAGE_SIZE: u32 = 500;
/// Pages read per kind before giving up (500 000 objects of one kind).
pub const MAX_PAGES: usize = 1000;
/// The default deadline for the whole read.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(20);

/// The in-cluster service-account token (present when running in a pod that mounts it).
const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Where the API server and the credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveSource {
    /// A kubeconfig file, with an optional context (default: its `current-context`).
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// The context to use.
        context: Option<String>,
    },
    /// The pod's service account (`KUBERNETES_SERVICE_HOST`/`_PORT` and the mounted token).
    InCluster,
}

impl LiveSource {
    /// `Some(InCluster)` when running in a pod: `KUBERNETES_SERVICE_HOST` is set and the
    /// service-account token is mounted.
    pub fn in_cluster() -> Option<LiveSource> {
        let host = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|h| !h.is_empty());
        (host && Path::new(SERVICE_ACCOUNT_TOKEN).is_file()).then_some(LiveSource::InCluster)
    }
}

/// Why a live cluster could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The kubeconfig is missing, malformed, or names an unknown context/cluster/user.
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// What is wrong (one line).
        message: String,
    },
    /// The in-cluster configuration could not be built.
    #[error("in-cluster config: {0}")]
    InCluster(String),
    /// The API server answered 403.
    #[error(
        "cannot list {resource} at cluster scope: 403 Forbidden; needs list on {rbac}{detail}"
    )]
    Forbidden {
        /// The resource (plural), e.g. `networkpolicies`.
        resource: &'static str,
        /// The RBAC resource, with its API group when it is not the core group.
        rbac: String,
        /// The server's own message, if any, as `" (server: ...)"`.
        detail: String,
    },
    /// The API server answered 401.
    #[error("cannot list {resource}: 401 Unauthorized: the API server rejected the credentials of {source_name} (expired token or certificate?){detail}")]
    Unauthorized {
        /// The resource (plural).
        resource: &'static str,
        /// The kubeconfig context or the service account.
        source_name: String,
        /// The server's own message, if any, as `" (server: ...)"`.
        detail: String,
    },
    /// The API server answered another error status.
    #[error("cannot list {resource}: {code} {reason}{detail}")]
    Status {
        /// The resource (plural).
        resource: &'static str,
        /// The HTTP status code.
        code: u16,
        /// The Kubernetes reason (`NotFound`, ...) or empty.
        reason: String,
        /// The server's own message, if any, as `" (server: ...)"`.
        detail: String,
    },
    /// No connection, TLS failure, or a broken answer.
    #[error("cannot list {resource} from the API server {server}: {message}")]
    Transport {
        /// The resource (plural).
        resource: &'static str,
        /// The API server URL.
        server: String,
        /// The cause chain on one line.
        message: String,
    },
    /// The deadline passed.
    #[error("cannot list {resource} from the API server {server}: no answer within {secs} s (the deadline for the whole read)")]
    Timeout {
        /// The resource (plural) being listed when the deadline passed.
        resource: &'static str,
        /// The API server URL.
        server: String,
        /// The deadline in seconds.
        secs: u64,
    },
    /// More than [`MAX_PAGES`] pages of one kind.
    #[error("cannot list {resource}: more than {MAX_PAGES} pages of {PAGE_SIZE}; use --manifests with an export instead")]
    TooMany {
        /// The resource (plural).
        resource: &'static str,
    },
    /// A list did not load (wrong kind, malformed object).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The async runtime could not start.
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(std::io::Error),
}

/// One kind listed across all namespaces.
#[derive(Debug, Clone, Copy)]
struct Resource {
    /// Plural, as in the URL and in RBAC rules.
    plural: &'static str,
    /// API group (`""` is the core group).
    group: &'static str,
    /// The item kind.
    kind: &'static str,
}

/// The kinds the engine reads, in the order they are listed.
const RESOURCES: [Resource; 6] = [
    Resource {
        plural: "namespaces",
        group: "",
        kind: "Namespace",
    },
    Resource {
        plural: "pods",
        group: "",
        kind: "Pod",
    },
    Resource {
        plural: "nodes",
        group: "",
        kind: "Node",
    },
    Resource {
        plural: "services",
        group: "",
        kind: "Service",
    },
    Resource {
        plural: "endpointslices",
        group: "discovery.k8s.io",
        kind: "EndpointSlice",
    },
    Resource {
        plural: "networkpolicies",
        group: "networking.k8s.io",
        kind: "NetworkPolicy",
    },
];

impl Resource {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            "v1".into()
        } else {
            format!("{}/v1", self.group)
        }
    }

    fn path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/v1/{}", self.plural)
        } else {
            format!("/apis/{}/v1/{}", self.group, self.plural)
        }
    }

    /// The RBAC rule's resource, as `kubectl auth can-i list ...` spells it.
    fn rbac(&self) -> String {
        if self.group.is_empty() {
            format!("{} (core API group)", self.plural)
        } else {
            format!("{}/{}", self.group, self.plural)
        }
    }
}

/// Reads the cluster from `source`, giving up after `deadline` (for everything, including
/// connecting). Only `GET` list requests are sent.
pub fn load_live(source: &LiveSource, deadline: Duration) -> Result<Cluster, LiveError> {
    ensure_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    runtime.block_on(read(source, deadline))
}

/// kube builds its rustls configs with `ClientConfig::builder()`, which needs a process-level
/// provider. The workspace compiles rustls with `ring` only; installing it explicitly (when no
/// one has) keeps that working even if another crate ever enables aws-lc-rs too (STACK.md
/// pitfall 3). The probes pass their provider to every builder and do not depend on this.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only means another thread installed one first, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

async fn config(source: &LiveSource) -> Result<(Config, String), LiveError> {
    match source {
        LiveSource::Kubeconfig { path, context } => {
            let bad = |mut message: String| {
                // The YAML parser quotes the offending line, which may hold a token or a key:
                // keep the position, drop the quote.
                if let Some(quote) = message.find(" --> ") {
                    message.truncate(quote);
                }
                LiveError::Kubeconfig {
                    path: path.clone(),
                    message: redact_strings(&message),
                }
            };
            // kube reads the whole file: make sure it is a bounded regular file first.
            match std::fs::metadata(path) {
                Ok(m) if !m.is_file() => {
                    return Err(bad("not a regular file".to_string()));
                }
                Ok(m) if m.len() > MAX_KUBECONFIG_BYTES => {
                    return Err(bad(format!(
                        "{} bytes; a kubeconfig is at most {MAX_KUBECONFIG_BYTES}",
                        m.len()
                    )));
                }
                _ => {}
            }
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| bad(one_line(&e)))?;
            let options = KubeConfigOptions {
                context: context.clone(),
                cluster: None,
                user: None,
            };
            let name = context
                .clone()
                .or_else(|| kubeconfig.current_context.clone())
                .unwrap_or_default();
            if let Some(wanted) = context {
                if !kubeconfig.contexts.iter().any(|c| &c.name == wanted) {
                    let known: Vec<&str> = kubeconfig
                        .contexts
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect();
                    return Err(bad(format!(
                        "no context {wanted:?} (contexts: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    )));
                }
            }
            let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| bad(one_line(&e)))?;
            Ok((config, format!("context {name:?}")))
        }
        LiveSource::InCluster => {
            let config = Config::incluster().map_err(|e| LiveError::InCluster(one_line(&e)))?;
            Ok((config, "the pod's service account".into()))
        }
    }
}

async fn read(source: &LiveSource, deadline: Duration) -> Result<Cluster, LiveError> {
    let start = Instant::now();
    let api = Api::connect(source, deadline).await?;
    let mut cluster = Cluster::default();
    for resource in RESOURCES {
        let path = resource.path();
        let api_version = resource.api_version();
        api.list_pages(resource, &path, None, start, deadline, |text| {
            Ok(cluster.load_api_list(Path::new(&path), resource.kind, &api_version, text)?)
        })
        .await?;
    }
    Ok(cluster)
}

/// A connected client and what its errors need to name.
struct Api {
    client: kube::Client,
    server: String,
    source_name: String,
}

impl Api {
    async fn connect(source: &LiveSource, deadline: Duration) -> Result<Api, LiveError> {
        let (mut config, source_name) = config(source).await?;
        // Per-connection limits inside the overall deadline, so one stalled request cannot use
        // it all without being named.
        config.connect_timeout = Some(deadline);
        config.read_timeout = Some(deadline);
        let server = config.cluster_url.to_string();
        let server = server.trim_end_matches('/').to_string();
        // Building the client builds the TLS config: a bad CA or client key fails here.
        let client = kube::Client::try_from(config).map_err(|e| LiveError::Transport {
            resource: RESOURCES[0].plural,
            server: server.clone(),
            message: one_line(&e),
        })?;
        Ok(Api {
            client,
            server,
            source_name,
        })
    }

    /// Lists `path` page by page; `on_page` takes each page's text and returns its `continue`
    /// token.
    async fn list_pages(
        &self,
        resource: Resource,
        path: &str,
        label_selector: Option<&str>,
        start: Instant,
        deadline: Duration,
        mut on_page: impl FnMut(&str) -> Result<Option<String>, LiveError>,
    ) -> Result<(), LiveError> {
        let transport = |message: String| LiveError::Transport {
            resource: resource.plural,
            server: self.server.clone(),
            message,
        };
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut params = kube::api::ListParams::default().limit(PAGE_SIZE);
            if let Some(selector) = label_selector {
                params = params.labels(selector);
            }
            if let Some(t) = &token {
                params = params.continue_token(t);
            }
            let request = kube::core::Request::new(path)
                .list(&params)
                .map_err(|e| transport(one_line(&e)))?;
            let remaining = deadline.saturating_sub(start.elapsed());
            let timeout = || LiveError::Timeout {
                resource: resource.plural,
                server: self.server.clone(),
                secs: deadline.as_secs(),
            };
            let text =
                match tokio::time::timeout(remaining, self.client.request_text(request)).await {
                    Err(_elapsed) => return Err(timeout()),
                    Ok(Ok(text)) => text,
                    Ok(Err(e)) => {
                        return Err(api_error(
                            resource,
                            &self.server,
                            &self.source_name,
                            e,
                            &timeout,
                        ));
                    }
                };
            token = on_page(&text)?;
            if token.is_none() {
                return Ok(());
            }
        }
        Err(LiveError::TooMany {
            resource: resource.plural,
        })
    }
}

/// One namespaced, label-selected list: what a fleet member reads (its peers, the DNS
/// endpoints). `plural` and `group` are as in an RBAC rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRequest<'a> {
    /// The resource, plural (`pods`).
    pub plural: &'static str,
    /// Its API group (`""` is the core group).
    pub group: &'static str,
    /// The namespace (a DNS-1123 label; the caller validates it).
    pub namespace: &'a str,
    /// An equality label selector (`key=value,...`).
    pub label_selector: &'a str,
}

/// Lists one namespaced resource, every page, and returns the items as JSON values. Read-only
/// (`GET` with `list`), bounded like [`load_live`].
pub fn list_items(
    source: &LiveSource,
    request: &ListRequest<'_>,
    deadline: Duration,
) -> Result<Vec<serde_json::Value>, LiveError> {
    ensure_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    runtime.block_on(async {
        let start = Instant::now();
        let api = Api::connect(source, deadline).await?;
        let resource = Resource {
            plural: request.plural,
            group: request.group,
            kind: "",
        };
        let path = if request.group.is_empty() {
            format!(
                "/api/v1/namespaces/{}/{}",
                request.namespace, request.plural
            )
        } else {
            format!(
                "/apis/{}/v1/namespaces/{}/{}",
                request.group, request.namespace, request.plural
            )
        };
        let mut items = Vec::new();
        api.list_pages(
            resource,
            &path,
            Some(request.label_selector),
            start,
            deadline,
            |text| {
                let mut page: serde_json::Value =
                    serde_json::from_str(text).map_err(|e| LiveError::Transport {
                        resource: request.plural,
                        server: api.server.clone(),
                        message: format!("the answer is not JSON: {}", first_line(&e.to_string())),
                    })?;
                if let Some(serde_json::Value::Array(page_items)) = page.get_mut("items") {
                    items.append(page_items);
                }
                Ok(page
                    .pointer("/metadata/continue")
                    .and_then(serde_json::Value::as_str)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string))
            },
        )
        .await?;
        Ok(items)
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

fn api_error(
    resource: Resource,
    server: &str,
    source_name: &str,
    e: kube::Error,
    timeout: &dyn Fn() -> LiveError,
) -> LiveError {
    match e {
        kube::Error::Api(status) => {
            let detail = if status.message.is_empty() {
                String::new()
            } else {
                format!(" (server: {})", flatten(&status.message))
            };
            match status.code {
                401 => LiveError::Unauthorized {
                    resource: resource.plural,
                    source_name: source_name.to_string(),
                    detail,
                },
                403 => LiveError::Forbidden {
                    resource: resource.plural,
                    rbac: resource.rbac(),
                    detail,
                },
                code => LiveError::Status {
                    resource: resource.plural,
                    code,
                    reason: flatten(&status.reason),
                    detail,
                },
            }
        }
        other => {
            let message = one_line(&other);
            // kube's own read timeout surfaces as an error, not as our deadline.
            if message.contains("timed out") || message.contains("deadline has elapsed") {
                timeout()
            } else {
                LiveError::Transport {
                    resource: resource.plural,
                    server: server.to_string(),
                    message,
                }
            }
        }
    }
}

/// An error and its sources on one line, without repeats (hyper's chains often say the same
/// thing twice).
fn one_line(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(e);
    let mut depth = 0;
    while let Some(err) = next {
        if depth == 16 {
            break;
        }
        depth += 1;
        let text = flatten(&err.to_string());
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// Hides the values serde quotes in type errors (`invalid type: string "…", expected …`): in a
/// kubeconfig such a value may be a token.
fn redact_strings(message: &str) -> String {
    const MARK: &str = "string \"";
    let mut out = String::new();
    let mut rest = message;
    while let Some(at) = rest.find(MARK) {
        let (before, after) = rest.split_at(at + MARK.len());
        out.push_str(before);
        out.push_str("…\"");
        rest = match after.find('"') {
            Some(end) => &after[end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// One line, trimmed: messages from servers and parsers may span lines.
fn flatten(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_and_rbac_names_follow_the_api() {
        let by = |p: &str| RESOURCES.iter().find(|r| r.plural == p).copied().unwrap();
        assert_eq!(by("pods").path(), "/api/v1/pods");
        assert_eq!(by("pods").api_version(), "v1");
        assert_eq!(
            by("networkpolicies").path(),
            "/apis/networking.k8s.io/v1/networkpolicies"
        );
        assert_eq!(by("endpointslices").api_version(), "discovery.k8s.io/v1");
        assert_eq!(
            by("networkpolicies").rbac(),
            "networking.k8s.io/networkpolicies"
        );
    }

    #[test]
    fn quoted_strings_in_parser_messages_are_hidden() {
        assert_eq!(
            redact_strings(
                r#"users[0].user: invalid type: string "s3cr3t", expected struct AuthInfo"#
            ),
            r#"users[0].user: invalid type: string "…", expected struct AuthInfo"#
        );
        assert_eq!(redact_strings("no quotes"), "no quotes");
        assert_eq!(redact_strings(r#"string "open"#), r#"string "…""#);
    }

    #[test]
    fn forbidden_names_the_resource_and_the_rule() {
        let e = LiveError::Forbidden {
            resource: "networkpolicies",
            rbac: "networking.k8s.io/networkpolicies".into(),
            detail: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "cannot list networkpolicies at cluster scope: 403 Forbidden; needs list on networking.k8s.io/networkpolicies"
        );
    }

    #[test]
    fn error_chains_become_one_line_without_repeats() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E(
            "client error (Connect)",
            Some(Box::new(E(
                "tcp connect error:\n refused",
                Some(Box::new(E("refused", None))),
            ))),
        );
        assert_eq!(
            one_line(&e),
            "client error (Connect): tcp connect error: refused"
        );
    }

    #[test]
    fn a_silent_api_server_is_a_timeout_naming_the_resource() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts one connection and never answers; gone after 3 s whatever happens.
        let silent = std::thread::spawn(move || {
            let held = listener.accept();
            std::thread::sleep(Duration::from_secs(3));
            drop(held);
        });
        let dir = std::env::temp_dir().join(format!("netdiag-k8s-live-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
            ),
        )
        .unwrap();
        let start = Instant::now();
        let e = load_live(
            &LiveSource::Kubeconfig {
                path,
                context: None,
            },
            Duration::from_secs(1),
        )
        .unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            matches!(
                e,
                LiveError::Timeout {
                    resource: "namespaces",
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
        silent.join().unwrap();
    }

    #[test]
    fn a_missing_kubeconfig_is_a_kubeconfig_error() {
        let e = load_live(
            &LiveSource::Kubeconfig {
                path: "/nonexistent/netdiag/kubeconfig".into(),
                context: None,
            },
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(e, LiveError::Kubeconfig { .. }), "{e}");
        assert!(!e.to_string().contains('\n'));
    }
}
