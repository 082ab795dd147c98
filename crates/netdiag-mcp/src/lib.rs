//! `netdiag mcp`: netdiag's diagnoses as MCP tools for AI agents, over stdio or Streamable HTTP.
//!
//! Why a separate front-end rather than a CLI wrapper: an agent needs typed arguments with a
//! schema, the answer as structured data, and an operator who decides what the agent may touch.
//! The diagnosis itself is the engine's, called exactly as the CLI calls it, with the CLI's own
//! validation ([`netdiag_engine::options`]), so the verdicts are the same documents
//! (`netdiag.report/v1`, `netdiag.k8s.check/v1`, `netdiag.cloud.check/v1`, …).
//!
//! Read-only by construction: no tool changes anything (fixes are printed, never applied), every
//! tool says so in its hints, live tools probe only what `--allow-targets` allows, files are read
//! only under `--root` when it is set, every call has a deadline and calls are bounded in number.
//!
//! - [`tools`]: the tool definitions and what a call does (no MCP framing, no async);
//! - [`guard`]: `--allow-targets` and `--root`;
//! - [`args`]: the tools' arguments (their input schemas);
//! - [`server`]: rmcp's `ServerHandler` over the tools, with deadlines and the bound on calls;
//! - [`stdio`]: the stdio transport, answering lines that are not JSON-RPC;
//! - [`http`]: the Streamable HTTP listener (TLS, bearer token or basic auth off loopback).

pub mod args;
pub mod guard;
pub mod http;
pub mod server;
pub mod stdio;
pub mod tools;

pub use rmcp::model::Tool;
pub use server::{CallPolicy, NetdiagServer};
pub use tools::{Limits, ToolName};

/// Everything `netdiag mcp` needs, validated by the CLI.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// What the tools may touch.
    pub limits: Limits,
    /// How calls run.
    pub policy: CallPolicy,
    /// Serve over HTTP instead of stdio.
    pub http: Option<http::HttpOptions>,
}

/// Serves until the client closes stdin (stdio) or SIGINT/SIGTERM (HTTP). `Err` is one line.
pub fn run(options: Options) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(options.policy.max_concurrent.max(1) + 8)
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let server = NetdiagServer::new(options.limits, options.policy);
    let result = runtime.block_on(async move {
        match options.http {
            Some(http_options) => http::serve(server, http_options).await,
            None => stdio::serve(server).await,
        }
    });
    // A blocking read of stdin or a walk past its deadline must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}
