//! `netdiag mcp`: the flags of the MCP server, validated into [`netdiag_mcp::Options`]. Safety
//! switches in the style of the real Kubernetes and cloud MCP servers: `--allow-targets`
//! (which targets live tools may probe), `--offline-only` (no live tool at all), `--root` (where
//! file arguments may point), and the bounds on each call.

use clap::Args;
use netdiag_engine::options::parse_duration;
use netdiag_mcp::guard::{AllowList, FileRoot};
use netdiag_mcp::http::HttpOptions;
use netdiag_mcp::{CallPolicy, Limits};
use netdiag_serve::fleet::promapi::PrometheusUrl;
use std::path::PathBuf;

/// `netdiag mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Serve Streamable HTTP at http(s)://ADDR/mcp instead of stdio (ADDR:PORT, [IPV6]:PORT,
    /// localhost:PORT or :PORT for 127.0.0.1). Off loopback it needs TLS and a credential.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// With --listen: TLS (tls_server_config) and basic auth (basic_auth_users), the format of
    /// `netdiag serve --web.config.file`.
    #[arg(long = "web.config.file", value_name = "FILE", requires = "listen")]
    pub web_config: Option<PathBuf>,
    /// With --listen: clients must send `Authorization: Bearer <the file's content>`.
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub bearer_token_file: Option<PathBuf>,
    /// Live tools may probe only these: CIDRs, addresses or host globs, each optionally with
    /// :PORT (e.g. 10.0.0.0/8 '*.svc.cluster.local:443' '[::1]:8443'); commas or repeats add
    /// more. Without it live tools may probe anything this host can reach.
    #[arg(long, value_name = "CIDR|GLOB[:PORT]", num_args = 1..)]
    pub allow_targets: Vec<String>,
    /// Expose only the offline tools (Kubernetes from manifests, cloud exports, causes): no
    /// packet leaves this host and no live cluster is read.
    #[arg(long)]
    pub offline_only: bool,
    /// File arguments (manifests, exports, kubeconfig, resolv.conf, CA files) must be under DIR;
    /// relative paths are relative to it.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The longest timeout a live check may ask for.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub max_timeout: String,
    /// The deadline of an offline call.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub call_timeout: String,
    /// At most this many calls run at once; more wait their turn within their deadline.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_calls: usize,
    /// At most this many targets in one targets_check.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_targets: usize,
    /// At most this many bytes of inline manifests or exports in one call.
    #[arg(long, value_name = "BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_inline_bytes: usize,
    /// A `netdiag serve` prober (http[s]://[user:password@]host:port) whose recent results the
    /// `prober_results_list` tool reads (its /api/v1/probes); without it that tool is not listed.
    #[arg(long, value_name = "URL")]
    pub prober: Option<String>,
    /// Print the tools (name, hints, description, arguments) and exit; docs/mcp-tools.md is
    /// `--list-tools --format markdown --prober http://localhost:9115`.
    #[arg(long)]
    pub list_tools: bool,
    /// Output format of --list-tools.
    #[arg(long, value_enum, default_value = "table", requires = "list_tools")]
    pub format: crate::format::FormatArg,
}

fn bounded(flag: &str, n: usize, max: usize) -> Result<usize, String> {
    if n == 0 || n > max {
        return Err(format!("{flag} {n}: give 1 to {max}"));
    }
    Ok(n)
}

/// The flags as the server's options. `Err` is one line (exit 2).
pub fn options(args: &McpArgs) -> Result<netdiag_mcp::Options, String> {
    let root = match &args.root {
        Some(dir) => FileRoot::under(dir)?,
        None => FileRoot::anywhere(),
    };
    let limits = Limits {
        allow: AllowList::parse(&args.allow_targets)?,
        root,
        offline_only: args.offline_only,
        max_timeout: parse_duration(&args.max_timeout)
            .map_err(|e| format!("--max-timeout: {e}"))?,
        max_targets: bounded(
            "--max-targets",
            args.max_targets,
            netdiag_engine::options::MAX_TARGETS,
        )?,
        max_inline_bytes: bounded(
            "--max-inline-bytes",
            args.max_inline_bytes,
            256 * 1024 * 1024,
        )?,
        prober: args
            .prober
            .as_deref()
            .map(|url| PrometheusUrl::parse_flag(url, "--prober"))
            .transpose()?,
    };
    let policy = CallPolicy {
        max_concurrent: bounded("--max-calls", args.max_calls, 256)?,
        offline_timeout: parse_duration(&args.call_timeout)
            .map_err(|e| format!("--call-timeout: {e}"))?,
    };
    let http = match &args.listen {
        None => None,
        Some(listen) => {
            let web = match &args.web_config {
                Some(path) => netdiag_serve::webconfig::load(path)?,
                None => netdiag_serve::webconfig::WebConfig::default(),
            };
            let bearer = match &args.bearer_token_file {
                Some(path) => Some(read_token(path)?),
                None => None,
            };
            let options = HttpOptions {
                listen: listen.clone(),
                web,
                bearer,
            };
            let addr = netdiag_mcp::http::listen_addr(listen)?;
            netdiag_mcp::http::check_exposure(addr, &options)?;
            Some(options)
        }
    };
    Ok(netdiag_mcp::Options {
        limits,
        policy,
        http,
    })
}

fn read_token(path: &std::path::Path) -> Result<String, String> {
    let text = netdiag_probe::files::read_config(&path.to_string_lossy())
        .map_err(|e| format!("--bearer-token-file {e}"))?;
    let token = text.trim().to_string();
    if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "--bearer-token-file {}: the token must be one word of at least 16 characters",
            path.display()
        ));
    }
    Ok(token)
}

/// `netdiag mcp`: serves, or lists the tools. Returns the exit status.
pub fn run(args: &McpArgs) -> Result<(String, i32), String> {
    let options = options(args)?;
    if args.list_tools {
        return Ok((list(&options.limits, args.format.into()), 0));
    }
    netdiag_mcp::run(options)?;
    Ok((String::new(), 0))
}

/// The tools as the server lists them, for people and the README.
fn list(limits: &Limits, format: netdiag_core::render::Format) -> String {
    use netdiag_core::render::Format;
    let tools: Vec<_> = netdiag_mcp::tools::listed(limits)
        .into_iter()
        .map(|t| t.definition(limits))
        .collect();
    match format {
        Format::Json => serde_json::to_string_pretty(&tools).unwrap_or_default(),
        Format::Table => tools
            .iter()
            .map(|t| format!("{:<20} {}\n", t.name, hints(t)))
            .collect(),
        Format::Markdown => {
            let mut out = String::from("# netdiag MCP tools\n\nGenerated by `netdiag mcp --list-tools --format markdown --prober http://localhost:9115` (every tool: `prober_results_list` is listed only with `--prober`); do not edit by hand.\n\n| tool | hints | output | arguments |\n|---|---|---|---|\n");
            for t in &tools {
                let output = t
                    .output_schema
                    .as_ref()
                    .and_then(|s| s.get("title"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                out.push_str(&format!(
                    "| `{}` | {} | `{output}` | {} |\n",
                    t.name,
                    hints(t),
                    arguments(t)
                ));
            }
            for t in &tools {
                out.push_str(&format!(
                    "\n## `{}`\n\n{}\n",
                    t.name,
                    t.description.as_deref().unwrap_or("")
                ));
            }
            out
        }
    }
}

fn hints(t: &netdiag_mcp::Tool) -> String {
    let a = t.annotations.clone().unwrap_or_default();
    let flag = |name: &str, v: Option<bool>| v.filter(|b| *b).map(|_| name.to_string());
    [
        flag("read-only", a.read_only_hint),
        flag("idempotent", a.idempotent_hint),
        flag("open-world", a.open_world_hint),
        a.destructive_hint
            .filter(|d| !d)
            .map(|_| "non-destructive".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ")
}

fn arguments(t: &netdiag_mcp::Tool) -> String {
    let required: Vec<&str> = t
        .input_schema
        .get("required")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let mut names: Vec<String> = t
        .input_schema
        .get("properties")
        .and_then(|v| v.as_object())
        .map(|o| {
            o.keys()
                .map(|k| {
                    if required.contains(&k.as_str()) {
                        format!("**{k}**")
                    } else {
                        k.clone()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        names.push("(none)".into());
    }
    names.join(", ")
}
