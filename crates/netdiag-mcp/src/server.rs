//! The MCP face of the tools: rmcp's [`ServerHandler`] over [`crate::tools`]. It lists the
//! tools the operator's limits expose, and runs each call on a blocking thread with a deadline
//! and a bound on how many run at once. Unknown tools are JSON-RPC errors (the protocol's
//! "invalid params"); everything a call can get wrong is a tool error (`isError: true`) with one
//! line of text, so an agent can correct itself.

use crate::tools::{self, Limits, ToolName};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How the server runs calls.
#[derive(Debug, Clone)]
pub struct CallPolicy {
    /// At most this many calls run at once; more wait (within their deadline) for a turn.
    pub max_concurrent: usize,
    /// The deadline of an offline call (live calls get their check's own deadline).
    pub offline_timeout: Duration,
}

impl Default for CallPolicy {
    fn default() -> CallPolicy {
        CallPolicy {
            max_concurrent: 4,
            offline_timeout: Duration::from_secs(60),
        }
    }
}

struct Inner {
    limits: Limits,
    policy: CallPolicy,
    tools: Vec<Tool>,
    /// One permit per call running; a call's permit is held by its blocking work, so a call
    /// given up at its deadline still counts until its walk (which has its own deadline) ends.
    turns: Arc<Semaphore>,
}

/// The netdiag MCP server (cheap to clone: one per HTTP request shares the same state).
#[derive(Clone)]
pub struct NetdiagServer {
    inner: Arc<Inner>,
}

/// What the server tells a client about itself.
const INSTRUCTIONS: &str = "netdiag diagnoses network connectivity, read-only. For \"it can't connect\", call target_check with the target (https://host/, host:port, tcp://, udp://): the verdict names the failing layer (resolver, dns, route, proxy, tcp/udp, mtu, tls, http), a stable cause code, the evidence, a fix with rollback, and a runbook. For Kubernetes use k8s_flow_check (Service, EndpointSlices, NetworkPolicy) and for cloud firewalls cloud_flow_check (exports of aws/gcloud/az). cause_explain explains a cause code. Nothing is ever applied: fixes are printed for a person to review.";

impl NetdiagServer {
    /// A server with these limits and this call policy.
    pub fn new(limits: Limits, policy: CallPolicy) -> NetdiagServer {
        let tools = tools::listed(&limits)
            .into_iter()
            .map(|t| t.definition(&limits))
            .collect();
        let turns = Arc::new(Semaphore::new(policy.max_concurrent.max(1)));
        NetdiagServer {
            inner: Arc::new(Inner {
                limits,
                policy,
                tools,
                turns,
            }),
        }
    }

    /// The tools listed, in order.
    pub fn tools(&self) -> &[Tool] {
        &self.inner.tools
    }

    /// Runs one call to completion (or its deadline) and frames its outcome.
    pub async fn run_call(
        &self,
        params: CallToolRequestParams,
    ) -> Result<CallToolResult, ErrorData> {
        let listed = self.inner.tools.iter().any(|t| t.name == params.name);
        let tool = ToolName::from_name(&params.name)
            .filter(|_| listed)
            .ok_or_else(|| {
                let shown: String = params
                    .name
                    .chars()
                    .take(80)
                    .filter(|c| !c.is_control())
                    .collect();
                ErrorData::invalid_params(
                    format!("unknown tool '{shown}': tools/list lists the tools"),
                    None,
                )
            })?;
        let arguments = params.arguments.unwrap_or_default();
        let deadline = tools::deadline(
            tool,
            &arguments,
            &self.inner.limits,
            self.inner.policy.offline_timeout,
        );
        let inner = Arc::clone(&self.inner);
        let outcome = tokio::time::timeout(deadline, async move {
            let Ok(turn) = Arc::clone(&inner.turns).acquire_owned().await else {
                return Err("the server is shutting down".to_string());
            };
            let limits = inner.limits.clone();
            tokio::task::spawn_blocking(move || {
                let outcome = tools::call(tool, arguments, &limits);
                drop(turn);
                outcome
            })
            .await
            .unwrap_or_else(|e| Err(format!("internal error: the call failed ({e})")))
        })
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{} did not finish within {:?} (the call's deadline; at most {} calls run at once)",
                tool.name(),
                deadline,
                self.inner.policy.max_concurrent
            ))
        });
        Ok(match outcome {
            Ok(answer) => {
                let json = answer.document.to_string();
                let mut result = CallToolResult::structured(answer.document);
                result.content = vec![
                    ContentBlock::text(answer.markdown),
                    ContentBlock::text(json),
                ];
                result
            }
            Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
        })
    }
}

impl ServerHandler for NetdiagServer {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions(INSTRUCTIONS);
        info.server_info = Implementation::new("netdiag", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.inner.tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.run_call(request).await.map(CallToolResponse::from)
    }
}
