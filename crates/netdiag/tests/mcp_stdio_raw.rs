//! `netdiag mcp` over stdio, byte by byte: raw lines in, raw lines out, no SDK in between. An
//! SDK never sends what a broken client or a person typing into the pipe does, so this is where
//! the stdio framing is checked: a line that is not JSON is answered with -32700 (id null), a
//! JSON object that is no JSON-RPC message with -32600 (its id kept), an unknown tool with
//! -32602; both protocol eras answer on the same pipe (`initialize` for 2025-11-25, a stateless
//! `server/discover` with `_meta` for 2026-07-28); a 2 MiB line of garbage does not stop the
//! next request from being answered; and closing stdin ends the server with status 0.
//!
//! Nothing here can hang: stdin is written by its own thread, stdout read by another, every
//! wait is a `recv_timeout`, and the child is killed when a test ends, passed or not.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// Longest wait for one answer, and for the process to exit once stdin is closed.
const WAIT: Duration = Duration::from_secs(20);

/// The request metadata every 2026-07-28 request carries.
fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "mcp-stdio-raw", "version": "0.1.0"},
    })
}

/// `netdiag mcp` on pipes.
struct Server {
    child: Child,
    /// Lines to write to stdin; dropping it closes stdin.
    stdin: Option<Sender<Vec<u8>>>,
    /// Lines read from stdout.
    stdout: Receiver<String>,
    /// Answers read while waiting for another one.
    seen: Vec<Value>,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netdiag"))
            .arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn netdiag mcp");
        let mut input = child.stdin.take().expect("the child's stdin");
        let output = child.stdout.take().expect("the child's stdout");
        let (stdin, lines) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            for line in lines {
                if input.write_all(&line).is_err() || input.flush().is_err() {
                    break;
                }
            }
            // `input` is dropped here: the child sees the end of stdin.
        });
        let (tx, stdout) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(output);
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Server {
            child,
            stdin: Some(stdin),
            stdout,
            seen: Vec::new(),
        }
    }

    /// Writes one line (the newline is added).
    fn send(&self, line: impl Into<Vec<u8>>) {
        let mut line = line.into();
        line.push(b'\n');
        self.stdin
            .as_ref()
            .expect("stdin is open")
            .send(line)
            .expect("the stdin writer is running");
    }

    fn send_json(&self, message: &Value) {
        self.send(message.to_string());
    }

    /// The first answer (read now or before) that `wanted` accepts, within [`WAIT`].
    fn answer(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.seen.iter().position(&wanted) {
            return self.seen.remove(i);
        }
        let until = Instant::now() + WAIT;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let line = match self.stdout.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no answer {what} within {WAIT:?}; other lines: {:?}",
                        self.seen
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "stdout closed before an answer {what}; other lines: {:?}",
                        self.seen
                    )
                }
            };
            assert!(line.ends_with('\n'), "a line without its newline: {line:?}");
            let message: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                panic!("stdout is not one JSON message a line ({e}): {line:?}")
            });
            assert_eq!(message["jsonrpc"], "2.0", "{message}");
            if wanted(&message) {
                return message;
            }
            self.seen.push(message);
        }
    }

    /// The answer with this id.
    fn answer_to(&mut self, id: &Value) -> Value {
        let id = id.clone();
        self.answer(&format!("to id {id}"), move |m| m.get("id") == Some(&id))
    }

    /// Closes stdin and waits (bounded) for the exit.
    fn close(&mut self) -> ExitStatus {
        drop(self.stdin.take());
        let until = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                return status;
            }
            assert!(
                Instant::now() < until,
                "netdiag mcp did not exit within {WAIT:?} of stdin closing"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn error_code(message: &Value) -> i64 {
    message["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {message}"))
}

#[test]
fn bad_lines_are_answered_and_both_eras_share_the_pipe() {
    let mut server = Server::start();
    server.send_json(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "mcp-stdio-raw", "version": "0.1.0"},
        },
    }));
    let init = server.answer_to(&json!(1));
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "netdiag", "{init}");
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );
    server.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    server.send("garbage{");
    let parse = server.answer("to garbage{", |m| m.get("error").is_some());
    assert_eq!(error_code(&parse), -32700, "{parse}");
    assert_eq!(parse["id"], Value::Null, "{parse}");

    server.send(r#"{"id":3}"#);
    let invalid = server.answer_to(&json!(3));
    assert_eq!(error_code(&invalid), -32600, "{invalid}");

    server.send_json(&json!({
        "jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "no_such_tool", "arguments": {}},
    }));
    let unknown = server.answer_to(&json!(4));
    assert_eq!(error_code(&unknown), -32602, "{unknown}");

    // Malformed params of a known method: invalid params, with the request's id.
    for (id, params) in [
        (16, json!({"name": "causes_list", "arguments": [1]})),
        (12, json!({"name": 5})),
        (10, json!("x")),
    ] {
        server.send_json(
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}),
        );
        let answer = server.answer_to(&json!(id));
        assert_eq!(error_code(&answer), -32602, "{answer}");
    }

    server.send_json(&json!({
        "jsonrpc": "2.0", "id": 5, "method": "server/discover",
        "params": {"_meta": stateless_meta()},
    }));
    let discover = server.answer_to(&json!(5));
    let versions = discover["result"]["supportedVersions"]
        .as_array()
        .unwrap_or_else(|| panic!("no supportedVersions: {discover}"));
    for era in ["2025-11-25", "2026-07-28"] {
        assert!(versions.contains(&json!(era)), "{era} missing: {discover}");
    }
    assert!(
        discover["result"]["capabilities"]["tools"].is_object(),
        "{discover}"
    );

    let status = server.close();
    assert!(status.success(), "exit status after stdin closed: {status}");
    assert!(
        server.seen.is_empty(),
        "unexpected lines: {:?}",
        server.seen
    );
}

#[test]
fn a_huge_garbage_line_does_not_stop_the_next_request() {
    let mut server = Server::start();
    server.send(vec![b'x'; 2 * 1024 * 1024]);
    let parse = server.answer("to 2 MiB of garbage", |m| m.get("error").is_some());
    assert_eq!(error_code(&parse), -32700, "{parse}");
    assert_eq!(parse["id"], Value::Null, "{parse}");

    // Stateless (2026-07-28): no initialize, the request carries its own _meta.
    server.send_json(&json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/list",
        "params": {"_meta": stateless_meta()},
    }));
    let list = server.answer_to(&json!(7));
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {list}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "target_check",
            "targets_check",
            "k8s_flow_check",
            "k8s_matrix_compute",
            "cloud_flow_check",
            "causes_list",
            "cause_explain",
        ],
        "{list}"
    );

    // Without the metadata a stateless request is invalid params.
    server.send_json(&json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"}));
    let bare = server.answer_to(&json!(8));
    assert_eq!(error_code(&bare), -32602, "{bare}");

    let status = server.close();
    assert!(status.success(), "exit status after stdin closed: {status}");
}
