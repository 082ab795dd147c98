//! The stdio transport: newline-delimited JSON-RPC on stdin/stdout, logs on stderr.
//!
//! rmcp reads the messages, but it drops a line that is not JSON without a word, and a client
//! (or a person typing into the pipe) is left waiting for an answer that never comes. So every
//! line passes through [`screen`] first: a line that is not JSON, or longer than
//! [`MAX_LINE_BYTES`], is answered with JSON-RPC's parse error (-32700), a JSON object that is no
//! request, notification or response with invalid request (-32600); the rest goes to rmcp
//! unchanged. Both write through one writer task, one whole line at a time.

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Longest line read (rmcp's own limit): an inline manifest travels in one line.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// What to do with one line.
#[derive(Debug, PartialEq)]
pub enum Screened {
    /// Hand it to rmcp.
    Forward,
    /// Nothing (a blank line).
    Skip,
    /// Answer this JSON-RPC error instead.
    Answer {
        /// The error code (-32700, -32600, -32602).
        code: i64,
        /// The whole response, one line of JSON.
        text: String,
    },
}

fn answer(id: Value, code: i64, message: &str) -> Screened {
    let text = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        .to_string();
    Screened::Answer { code, text }
}

/// Screens one line (without its newline).
pub fn screen(line: &[u8]) -> Screened {
    let text = match std::str::from_utf8(line) {
        Ok(t) => t.trim(),
        Err(_) => return answer(Value::Null, -32700, "parse error: the line is not UTF-8"),
    };
    if text.is_empty() {
        return Screened::Skip;
    }
    if text.len() > MAX_LINE_BYTES {
        return answer(
            Value::Null,
            -32700,
            &format!("parse error: the message is longer than {MAX_LINE_BYTES} bytes"),
        );
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return answer(Value::Null, -32700, &format!("parse error: not JSON ({e})")),
    };
    let Value::Object(o) = &value else {
        return answer(
            Value::Null,
            -32600,
            "invalid request: a message is one JSON object per line (batches are not part of MCP)",
        );
    };
    let id = o.get("id");
    let usable_id = id
        .cloned()
        .filter(|i| i.is_string() || i.is_number())
        .unwrap_or(Value::Null);
    let is_message = o.get("jsonrpc") == Some(&json!("2.0"))
        && (o.get("method").is_some_and(Value::is_string)
            || o.contains_key("result")
            || o.contains_key("error"));
    if !is_message {
        return answer(
            usable_id,
            -32600,
            "invalid request: a JSON-RPC 2.0 message needs \"jsonrpc\": \"2.0\" and a method (or a result or error)",
        );
    }
    let Some(method) = o.get("method").and_then(Value::as_str) else {
        return Screened::Forward; // a response to a request of ours
    };
    if id.is_some_and(|i| !(i.is_string() || i.is_number())) {
        return answer(
            Value::Null,
            -32600,
            "invalid request: the id must be a string or a number",
        );
    }
    match params_problem(method, o.get("params")) {
        None => Screened::Forward,
        // A notification gets no answer, even a wrong one.
        Some(_) if id.is_none() => Screened::Skip,
        Some(why) => answer(usable_id, -32602, &format!("invalid params: {why}")),
    }
}

/// What is wrong with a request's params, before rmcp sees them: rmcp answers a `tools/call`
/// whose params do not parse with "method not found" (-32601), and params that are not an
/// object with an error that has no id, neither of which a client can act on.
fn params_problem(method: &str, params: Option<&Value>) -> Option<String> {
    match params {
        None | Some(Value::Object(_)) => {}
        Some(_) => return Some(format!("{method}: params must be an object")),
    }
    if method != "tools/call" {
        return None;
    }
    let Some(Value::Object(p)) = params else {
        return Some("tools/call needs params with the tool's name".into());
    };
    if !p.get("name").is_some_and(Value::is_string) {
        return Some("tools/call: name must be the tool's name, a string".into());
    }
    match p.get("arguments") {
        None | Some(Value::Object(_)) | Some(Value::Null) => None,
        Some(_) => Some("tools/call: arguments must be an object".into()),
    }
}

/// Reads lines from `input`: screened ones to `to_rmcp`, answers to `answers`. Ends at EOF.
async fn read_lines<R, W>(input: R, mut to_rmcp: W, answers: mpsc::Sender<Vec<u8>>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut line: Vec<u8> = Vec::new();
    let mut too_long = false;
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(b) => b,
        };
        let (chunk, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long {
            if line.len() + chunk.len() > MAX_LINE_BYTES {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = ended.unwrap_or(buf.len());
        reader.consume(used);
        if ended.is_none() {
            continue;
        }
        let outcome = if too_long {
            answer(
                Value::Null,
                -32700,
                &format!("parse error: the line is longer than {MAX_LINE_BYTES} bytes"),
            )
        } else {
            screen(&line)
        };
        match outcome {
            Screened::Forward => {
                line.push(b'\n');
                if to_rmcp.write_all(&line).await.is_err() {
                    break;
                }
            }
            Screened::Skip => {}
            Screened::Answer { mut text, .. } => {
                text.push('\n');
                if answers.send(text.into_bytes()).await.is_err() {
                    break;
                }
            }
        }
        line.clear();
        too_long = false;
    }
    let _ = to_rmcp.shutdown().await;
}

/// Copies rmcp's output lines to the writer channel.
async fn relay_lines<R: AsyncRead + Unpin>(from_rmcp: R, out: mpsc::Sender<Vec<u8>>) {
    let mut reader = BufReader::new(from_rmcp);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if out.send(line).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Serves `server` on stdin/stdout until stdin ends.
pub async fn serve(server: crate::NetdiagServer) -> Result<(), String> {
    use rmcp::ServiceExt;
    let (rmcp_in, feed) = tokio::io::duplex(1 << 20);
    let (rmcp_out, drain) = tokio::io::duplex(1 << 20);
    let (lines, mut pending) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = pending.recv().await {
            if stdout.write_all(&line).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let (stdin, _) = rmcp::transport::stdio_pipes();
    tokio::spawn(read_lines(stdin, feed, lines.clone()));
    tokio::spawn(relay_lines(drain, lines));
    match server.serve((rmcp_in, rmcp_out)).await {
        Ok(running) => {
            running.waiting().await.map_err(|e| format!("mcp: {e}"))?;
        }
        // Stdin ended without an `initialize`: a client of the stateless era (2026-07-28),
        // or one that left at once. Either way the conversation is over, not failed.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => {}
        Err(e) => return Err(format!("mcp: {e}")),
    }
    // Everything rmcp wrote is flushed before the process exits.
    let _ = writer.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screening() {
        assert_eq!(screen(b"  "), Screened::Skip);
        assert_eq!(
            screen(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            Screened::Forward
        );
        assert_eq!(
            screen(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Screened::Forward
        );
        for (line, code) in [
            (&b"garbage{"[..], -32700),
            (&b"\xff\xfe"[..], -32700),
            (&br#"{"id":3}"#[..], -32600),
            (&br#"[1,2]"#[..], -32600),
            (&b"42"[..], -32600),
        ] {
            let Screened::Answer { text, .. } = screen(line) else {
                panic!("{line:?} forwarded")
            };
            let v: Value = serde_json::from_str(&text).unwrap_or_default();
            assert_eq!(v["error"]["code"], code, "{text}");
        }
        let Screened::Answer { text, .. } = screen(br#"{"id":3,"method":"x"}"#) else {
            panic!()
        };
        assert!(text.contains(r#""id":3"#), "{text}");
    }

    #[test]
    fn malformed_params_are_invalid_params_with_the_id() {
        for (line, code, id) in [
            (&br#"{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"causes_list","arguments":[1]}}"#[..], -32602, json!(16)),
            (&br#"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":5}}"#[..], -32602, json!(12)),
            (&br#"{"jsonrpc":"2.0","id":"a","method":"tools/call"}"#[..], -32602, json!("a")),
            (&br#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":"x"}"#[..], -32602, json!(10)),
            (&br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#[..], -32600, Value::Null),
            (&br#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#[..], -32600, Value::Null),
        ] {
            let Screened::Answer { text, .. } = screen(line) else {
                panic!("{} forwarded", String::from_utf8_lossy(line))
            };
            let v: Value = serde_json::from_str(&text).unwrap_or_default();
            assert_eq!((v["error"]["code"].as_i64(), &v["id"]), (Some(code), &id), "{text}");
        }
        assert_eq!(
            screen(br#"{"jsonrpc":"2.0","method":"notifications/x","params":3}"#),
            Screened::Skip
        );
        assert_eq!(
            screen(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"causes_list"}}"#),
            Screened::Forward
        );
    }

    #[tokio::test]
    async fn an_endless_line_is_refused_and_the_next_one_read() {
        let (mut client, input) = tokio::io::duplex(1 << 16);
        let (to_rmcp, mut rmcp) = tokio::io::duplex(1 << 16);
        let (tx, mut rx) = mpsc::channel(8);
        let reader = tokio::spawn(read_lines(input, to_rmcp, tx));
        let writer = tokio::spawn(async move {
            let chunk = vec![b'x'; 1 << 20];
            for _ in 0..17 {
                if client.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = client
                .write_all(b"\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n")
                .await;
        });
        let answer = rx.recv().await.unwrap_or_default();
        assert!(String::from_utf8_lossy(&answer).contains("longer than"));
        let mut forwarded = vec![0u8; 128];
        let n = tokio::io::AsyncReadExt::read(&mut rmcp, &mut forwarded)
            .await
            .unwrap_or(0);
        assert!(String::from_utf8_lossy(&forwarded[..n]).contains("\"ping\""));
        let _ = writer.await;
        reader.abort();
    }

    proptest::proptest! {
        #[test]
        fn any_line_is_forwarded_skipped_or_answered_with_one_json_error(
            line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)
        ) {
            if let Screened::Answer { text, .. } = screen(&line) {
                let v: Value = serde_json::from_str(&text).unwrap_or_default();
                proptest::prop_assert!(v["error"]["code"].is_i64());
                proptest::prop_assert!(!text.contains('\n'));
            }
        }
    }
}
