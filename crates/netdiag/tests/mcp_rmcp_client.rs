//! `netdiag mcp` driven by rmcp's own client (the official Rust SDK, `TokioChildProcess` over
//! stdio), in both protocol eras: 2025-11-25 (the `initialize` handshake) and 2026-07-28
//! (stateless: `server/discover`, then `_meta` on every request). It checks what an agent built
//! on the SDK sees: the tool list and its safety hints, verdicts on loopback faults made here
//! (a closed port, a healthy HTTP server), the offline tools on the repository's fixtures, the
//! tool errors an agent must be able to act on, and that `structuredContent` is the very
//! document the CLI prints with `--format json`. Why: the server is written against rmcp's
//! server half, and a client we did not write is the honest judge of the wire format.
//!
//! Every packet goes to 127.0.0.1 and every wait is bounded.

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    JsonObject, ProtocolVersion, Tool,
};
use rmcp::service::{RunningService, ServiceError};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Both eras the server speaks, as the client's `ClientConfig.protocol_version`.
const ERAS: [ProtocolVersion; 2] = [ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28];

/// The tools, in list order.
const ALL_TOOLS: [&str; 7] = [
    "target_check",
    "targets_check",
    "k8s_flow_check",
    "k8s_matrix_compute",
    "cloud_flow_check",
    "causes_list",
    "cause_explain",
];

/// The tools `--offline-only` keeps.
const OFFLINE_TOOLS: [&str; 5] = [
    "k8s_flow_check",
    "k8s_matrix_compute",
    "cloud_flow_check",
    "causes_list",
    "cause_explain",
];

/// Longest wait for the server to start, for one call, or for the client to close.
const WAIT: Duration = Duration::from_secs(60);

type Client = RunningService<RoleClient, ClientConfig>;

fn k8s_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../netdiag-k8s/tests/fixtures")
}

fn aws_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../netdiag-cloud/tests/fixtures/aws")
}

fn path_text(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(o) => o,
        other => panic!("arguments must be a JSON object, not {other}"),
    }
}

/// Starts `netdiag mcp FLAGS` and connects rmcp's client in `era`: the handshake for an era that
/// has one, `server/discover` for the stateless one. Asserts the era the peers agreed on.
async fn connect(era: &ProtocolVersion, flags: &[&str]) -> Client {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_netdiag"));
    command.arg("mcp").args(flags);
    let transport = TokioChildProcess::new(command).expect("spawn netdiag mcp");
    let mut config = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("netdiag-rmcp-client-test", "0.1.0"),
    );
    config.protocol_version = era.clone();
    let started = if era.has_initialize() {
        tokio::time::timeout(WAIT, config.serve(transport)).await
    } else {
        let lifecycle = ClientLifecycleMode::Discover {
            preferred_versions: vec![era.clone()],
        };
        tokio::time::timeout(WAIT, config.serve_with_lifecycle(transport, lifecycle)).await
    };
    let client = match started {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => panic!("{era}: the client could not connect: {e}"),
        Err(_) => panic!("{era}: the server did not start within {WAIT:?}"),
    };
    let peer = client.peer_info().expect("the server's info after startup");
    assert_eq!(peer.protocol_version, *era, "the negotiated era");
    assert!(peer.capabilities.tools.is_some(), "{era}: tools capability");
    client
}

/// Closes the client: stdin is closed and the server exits (or is killed after a grace period).
async fn close(mut client: Client) {
    let closed = client
        .close_with_timeout(WAIT)
        .await
        .expect("the client's task");
    assert!(closed.is_some(), "the client did not close within {WAIT:?}");
}

async fn list_tools(client: &Client) -> Vec<Tool> {
    tokio::time::timeout(WAIT, client.list_all_tools())
        .await
        .expect("tools/list within the deadline")
        .expect("tools/list")
}

/// One `tools/call`, bounded; `Err` is a JSON-RPC error.
async fn try_call(
    client: &Client,
    tool: &str,
    arguments: Value,
) -> Result<CallToolResult, ServiceError> {
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(object(arguments));
    tokio::time::timeout(WAIT, client.call_tool(params))
        .await
        .unwrap_or_else(|_| panic!("{tool} did not answer within {WAIT:?}"))
}

fn texts(result: &CallToolResult) -> Vec<String> {
    result
        .content
        .iter()
        .map(|block| match block.as_text() {
            Some(t) => t.text.clone(),
            None => panic!("a content block that is not text: {block:?}"),
        })
        .collect()
}

/// A successful call's `structuredContent`, after checking its content: the Markdown summary and
/// the same document as JSON text.
async fn document(client: &Client, tool: &str, arguments: Value) -> Value {
    let result = try_call(client, tool, arguments)
        .await
        .unwrap_or_else(|e| panic!("{tool}: a JSON-RPC error: {e}"));
    let text = texts(&result);
    assert_ne!(result.is_error, Some(true), "{tool} failed: {text:?}");
    let doc = result
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("{tool}: no structuredContent"));
    assert_eq!(
        text.len(),
        2,
        "{tool}: content is [markdown, JSON]: {text:?}"
    );
    assert!(!text[0].trim().is_empty(), "{tool}: an empty summary");
    let json: Value = serde_json::from_str(&text[1])
        .unwrap_or_else(|e| panic!("{tool}: the second block is not JSON ({e}): {}", text[1]));
    assert_eq!(
        json, doc,
        "{tool}: the JSON text block is the structuredContent"
    );
    doc
}

/// A tool error's one line of text (`isError: true`).
async fn tool_error(client: &Client, tool: &str, arguments: Value) -> String {
    let result = try_call(client, tool, arguments)
        .await
        .unwrap_or_else(|e| panic!("{tool}: a JSON-RPC error instead of a tool error: {e}"));
    let text = texts(&result);
    assert_eq!(
        result.is_error,
        Some(true),
        "{tool}: not a tool error: {result:?}"
    );
    assert_eq!(text.len(), 1, "{tool}: one block of text: {text:?}");
    assert!(!text[0].contains('\n'), "{tool}: one line: {:?}", text[0]);
    text[0].clone()
}

/// The CLI's `--format json` for the same question.
fn cli_json(args: &[&str]) -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_netdiag"))
        .args(args)
        .args(["--format", "json"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run netdiag");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "netdiag {args:?}: not JSON ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// A port on 127.0.0.1 nobody listens on (bound, noted, released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// A plain HTTP server on 127.0.0.1 answering `200 OK` to each connection. It stops by itself
/// after `MAX_CONNECTIONS`, after `LIFETIME`, or when dropped (the end of the test).
struct HealthyHttp {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HealthyHttp {
    const MAX_CONNECTIONS: usize = 16;
    const LIFETIME: Duration = Duration::from_secs(120);

    fn start() -> HealthyHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + HealthyHttp::LIFETIME;
            let mut served = 0;
            while served < HealthyHttp::MAX_CONNECTIONS
                && !stopped.load(Ordering::Relaxed)
                && Instant::now() < until
            {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        answer_ok(stream);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => break,
                }
            }
        });
        HealthyHttp {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HealthyHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads the request head (bounded in size and time) and answers `200 OK`, then closes.
fn answer_ok(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = "ok\n";
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

fn hint(tool: &Tool, name: &str) -> Option<bool> {
    let hints = tool.annotations.as_ref()?;
    match name {
        "readOnlyHint" => hints.read_only_hint,
        "destructiveHint" => hints.destructive_hint,
        "idempotentHint" => hints.idempotent_hint,
        _ => None,
    }
}

#[tokio::test]
async fn tools_are_listed_in_order_read_only_with_output_schemas() {
    for era in &ERAS {
        for (flags, expected) in [
            (&[][..], &ALL_TOOLS[..]),
            (&["--offline-only"][..], &OFFLINE_TOOLS[..]),
        ] {
            let client = connect(era, flags).await;
            let tools = list_tools(&client).await;
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
            assert_eq!(names, expected, "{era} {flags:?}: the tools in list order");
            for tool in &tools {
                let name = tool.name.as_ref();
                assert_eq!(hint(tool, "readOnlyHint"), Some(true), "{era}: {name}");
                assert_eq!(hint(tool, "destructiveHint"), Some(false), "{era}: {name}");
                if OFFLINE_TOOLS.contains(&name) {
                    assert_eq!(hint(tool, "idempotentHint"), Some(true), "{era}: {name}");
                }
                let output = tool.output_schema.as_ref();
                assert_eq!(
                    output.and_then(|s| s.get("type")),
                    Some(&json!("object")),
                    "{era}: {name}'s outputSchema"
                );
                assert_eq!(
                    tool.input_schema.get("type"),
                    Some(&json!("object")),
                    "{era}: {name}"
                );
            }
            close(client).await;
        }
    }
}

#[tokio::test]
async fn target_check_names_loopback_faults() {
    let http = HealthyHttp::start();
    for era in &ERAS {
        let client = connect(era, &[]).await;
        let port = closed_port();
        let target = format!("tcp://127.0.0.1:{port}");
        let doc = document(
            &client,
            "target_check",
            json!({"target": target, "timeout": "5s"}),
        )
        .await;
        assert_eq!(doc["schema"], "netdiag.report/v1", "{era}: {doc}");
        assert_eq!(doc["verdict"]["layer"], "tcp", "{era}: {doc}");
        assert_eq!(doc["verdict"]["cause"], "tcp_refused", "{era}: {doc}");

        // no_proxy: a proxy in the test's environment must not stand between us and loopback.
        let target = format!("http://127.0.0.1:{}/", http.port);
        let args = json!({"target": target, "timeout": "5s", "no_proxy": true});
        let doc = document(&client, "target_check", args).await;
        assert_eq!(doc["schema"], "netdiag.report/v1", "{era}: {doc}");
        assert_eq!(doc["verdict"]["layer"], Value::Null, "{era}: {doc}");
        assert_eq!(doc["verdict"]["cause"], "ok", "{era}: {doc}");
        close(client).await;
    }
}

#[tokio::test]
async fn k8s_flow_check_from_paths_and_inline() {
    let fixtures = path_text(&k8s_fixtures());
    let shop = k8s_fixtures().join("shop.yaml");
    let shop_text = std::fs::read_to_string(&shop).expect("read shop.yaml");
    for era in &ERAS {
        let client = connect(era, &[]).await;
        let denied =
            json!({"manifests": [fixtures], "from": "web/frontend", "to": "shop/db", "port": 5432});
        let doc = document(&client, "k8s_flow_check", denied).await;
        assert_eq!(doc["schema"], "netdiag.k8s.check/v1", "{era}: {doc}");
        assert_eq!(
            doc["verdict"]["cause"], "netpol_both_denied",
            "{era}: {doc}"
        );
        let manifests = doc["verdict"]["fix"]["manifests"].as_array();
        assert!(
            manifests.is_some_and(|m| !m.is_empty()),
            "{era}: fix manifests: {doc}"
        );

        let allowed = json!({"manifests": [fixtures], "from": "web/frontend", "to": "shop/api", "port": 8080});
        let doc = document(&client, "k8s_flow_check", allowed).await;
        assert_eq!(doc["verdict"]["allowed"], true, "{era}: {doc}");

        // One file's text inline answers as the file does, for a flow inside that file.
        let flow = json!({"from": "web/frontend", "to": "shop/db", "port": 5432});
        let mut by_path = flow.clone();
        by_path["manifests"] = json!([path_text(&shop)]);
        let by_path = document(&client, "k8s_flow_check", by_path).await;
        let mut inline = flow.clone();
        inline["manifests_inline"] = json!([shop_text]);
        let inline = document(&client, "k8s_flow_check", inline).await;
        assert_eq!(inline["flow"], by_path["flow"], "{era}");
        assert_eq!(inline["verdict"], by_path["verdict"], "{era}");
        assert_eq!(
            inline["invalid_policies"], by_path["invalid_policies"],
            "{era}"
        );
        // Named after the file, the inline document's notes name it too: the same document.
        let mut named = flow;
        named["manifests_inline"] = json!([{"name": path_text(&shop), "text": shop_text}]);
        let named = document(&client, "k8s_flow_check", named).await;
        assert_eq!(named, by_path, "{era}: inline named as the file");
        close(client).await;
    }
}

#[tokio::test]
async fn cloud_flow_check_and_the_causes() {
    let aws = path_text(&aws_fixtures());
    for era in &ERAS {
        let client = connect(era, &[]).await;
        let args = json!({"resources": [aws], "from": "10.0.1.10", "to": "10.0.2.20", "port": 22});
        let doc = document(&client, "cloud_flow_check", args).await;
        assert_eq!(doc["schema"], "netdiag.cloud.check/v1", "{era}: {doc}");
        assert_eq!(doc["verdict"]["cause"], "cloud_deny_rule", "{era}: {doc}");
        assert_eq!(doc["verdict"]["layer"], "nacl", "{era}: {doc}");

        let doc = document(&client, "cause_explain", json!({"cause": "tcp_timeout"})).await;
        assert_eq!(doc["schema"], "netdiag.cause/v1", "{era}: {doc}");
        assert_eq!(doc["layer"], "tcp", "{era}: {doc}");
        let doc = document(&client, "causes_list", json!({})).await;
        assert_eq!(doc["schema"], "netdiag.causes/v1", "{era}: {doc}");
        let causes = doc["causes"].as_array();
        assert!(causes.is_some_and(|c| !c.is_empty()), "{era}: {doc}");
        close(client).await;
    }
}

#[tokio::test]
async fn unknown_tools_are_json_rpc_errors_and_bad_arguments_tool_errors() {
    for era in &ERAS {
        let client = connect(era, &[]).await;
        match try_call(&client, "no_such_tool", json!({})).await {
            Err(ServiceError::McpError(e)) => assert_eq!(e.code.0, -32602, "{era}: {e:?}"),
            other => panic!("{era}: an unknown tool must be a JSON-RPC error, got {other:?}"),
        }
        let text = tool_error(&client, "target_check", json!({"target": 5})).await;
        assert!(
            text.starts_with("target_check: invalid arguments"),
            "{era}: {text}"
        );
        let text = tool_error(
            &client,
            "target_check",
            json!({"target": "127.0.0.1:1", "timout": "1s"}),
        )
        .await;
        assert!(text.contains("unknown field `timout`"), "{era}: {text}");
        let text = tool_error(&client, "cause_explain", json!({})).await;
        assert!(text.contains("cause"), "{era}: {text}");
        close(client).await;

        // A live tool is not even listed under --offline-only: calling it is an unknown tool.
        let client = connect(era, &["--offline-only"]).await;
        match try_call(&client, "target_check", json!({"target": "127.0.0.1:1"})).await {
            Err(ServiceError::McpError(e)) => assert_eq!(e.code.0, -32602, "{era}: {e:?}"),
            other => panic!("{era}: target_check under --offline-only: {other:?}"),
        }
        close(client).await;
    }
}

#[tokio::test]
async fn the_operators_limits_are_tool_errors_naming_the_flag() {
    let k8s = path_text(&k8s_fixtures());
    let aws = path_text(&aws_fixtures());
    for era in &ERAS {
        let client = connect(era, &["--allow-targets", "10.0.0.0/8"]).await;
        let target = format!("tcp://127.0.0.1:{}", closed_port());
        let text = tool_error(
            &client,
            "target_check",
            json!({"target": target, "timeout": "5s"}),
        )
        .await;
        assert!(text.contains("--allow-targets"), "{era}: {text}");
        close(client).await;

        let client = connect(era, &["--max-inline-bytes", "1000"]).await;
        let big = format!("# {}\n", "x".repeat(2000));
        let args = json!({"manifests_inline": [big], "from": "web/frontend", "to": "shop/db", "port": 5432});
        let text = tool_error(&client, "k8s_flow_check", args).await;
        assert!(text.contains("--max-inline-bytes"), "{era}: {text}");
        close(client).await;

        let client = connect(era, &["--root", &k8s]).await;
        let flow = json!({"from": "web/frontend", "to": "shop/db", "port": 5432});
        let mut outside = flow.clone();
        outside["manifests"] = json!([aws]);
        let text = tool_error(&client, "k8s_flow_check", outside).await;
        assert!(text.contains("outside --root"), "{era}: {text}");
        // Under the root, relative to it: read as usual.
        let mut inside = flow;
        inside["manifests"] = json!(["."]);
        let doc = document(&client, "k8s_flow_check", inside).await;
        assert_eq!(
            doc["verdict"]["cause"], "netpol_both_denied",
            "{era}: {doc}"
        );
        close(client).await;
    }
}

#[tokio::test]
async fn structured_content_is_the_clis_json() {
    let k8s = path_text(&k8s_fixtures());
    let aws = path_text(&aws_fixtures());
    let k8s_cli = cli_json(&[
        "k8s",
        "check",
        "--manifests",
        &k8s,
        "--from",
        "web/frontend",
        "--to",
        "shop/db",
        "--port",
        "5432",
    ]);
    let cloud_cli = cli_json(&[
        "cloud",
        "check",
        "--resources",
        &aws,
        "--from",
        "10.0.1.10",
        "--to",
        "10.0.2.20",
        "--port",
        "22",
    ]);
    let cause_cli = cli_json(&["causes", "tcp_timeout"]);
    let causes_cli = cli_json(&["causes"]);
    for era in &ERAS {
        let client = connect(era, &[]).await;
        let args =
            json!({"manifests": [k8s], "from": "web/frontend", "to": "shop/db", "port": 5432});
        let doc = document(&client, "k8s_flow_check", args).await;
        assert_eq!(doc, k8s_cli, "{era}: k8s_flow_check vs netdiag k8s check");
        let args = json!({"resources": [aws], "from": "10.0.1.10", "to": "10.0.2.20", "port": 22});
        let doc = document(&client, "cloud_flow_check", args).await;
        assert_eq!(
            doc, cloud_cli,
            "{era}: cloud_flow_check vs netdiag cloud check"
        );
        let doc = document(&client, "cause_explain", json!({"cause": "tcp_timeout"})).await;
        assert_eq!(
            doc, cause_cli,
            "{era}: cause_explain vs netdiag causes tcp_timeout"
        );
        let doc = document(&client, "causes_list", json!({})).await;
        assert_eq!(
            doc["causes"], causes_cli,
            "{era}: causes_list vs netdiag causes"
        );
        close(client).await;
    }
}
