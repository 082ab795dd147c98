//! Running one collection command with a timeout and an output cap.
//!
//! Why not `Command::output()`: a wedged `nft` or an enormous `ss` must not hang or bloat the
//! bundle. The child is killed at its timeout, and stdout stops being kept past the cap.
//! Failures (missing binary, permission denied, non-zero exit) are returned as text for the
//! bundle file: a responder needs to see "iptables-save: Permission denied", not a missing file.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Stderr kept per command: error messages are short, a noisy tool must not fill the bundle.
const STDERR_CAP: usize = 64 * 1024;

/// What a command produced, already rendered as a section of a bundle file.
pub(crate) struct CommandText {
    /// `$ argv…` followed by the output and, on failure, why.
    pub(crate) text: String,
}

/// Runs `argv` until `deadline`, keeping at most `cap` bytes of stdout.
pub(crate) fn run(argv: &[&str], cap: usize, deadline: Instant) -> CommandText {
    let shown = argv.join(" ");
    let mut text = format!("$ {shown}\n");
    let Some((program, args)) = argv.split_first() else {
        text.push_str("error: empty command\n");
        return CommandText { text };
    };
    if Instant::now() >= deadline {
        text.push_str("skipped: the bundle's deadline was reached before this command ran\n");
        return CommandText { text };
    }
    let spawned = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            text.push_str(&format!("error: {program}: command not found\n"));
            return CommandText { text };
        }
        Err(e) => {
            text.push_str(&format!("error: cannot run {program}: {e}\n"));
            return CommandText { text };
        }
    };
    let stdout = child.stdout.take().map(|s| reader(s, cap));
    let stderr = child.stderr.take().map(|s| reader(s, STDERR_CAP));

    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    // The readers end at EOF, which the child's exit (or kill) brings; grandchildren holding the
    // pipe open are bounded by a short grace so the bundle never waits on them.
    let grace = Instant::now() + Duration::from_millis(500);
    let (out, truncated) = stdout.map_or((Vec::new(), false), |r| collect(r, grace));
    let (err, _) = stderr.map_or((Vec::new(), false), |r| collect(r, grace));

    text.push_str(&String::from_utf8_lossy(&out));
    if !out.is_empty() && !out.ends_with(b"\n") {
        text.push('\n');
    }
    if out.is_empty() && status.is_some_and(|s| s.success()) {
        text.push_str("(no output)\n");
    }
    if truncated {
        text.push_str(&format!("[output truncated at {cap} bytes]\n"));
    }
    if timed_out {
        text.push_str("error: timed out; the command was killed\n");
    }
    match status {
        Some(status) if status.success() => {}
        Some(status) => text.push_str(&format!("error: {program} exited with {status}\n")),
        None => text.push_str(&format!("error: lost track of {program}\n")),
    }
    if !err.is_empty() && !status.is_some_and(|s| s.success()) {
        text.push_str(&String::from_utf8_lossy(&err));
        if !err.ends_with(b"\n") {
            text.push('\n');
        }
    }
    CommandText { text }
}

/// Reads a pipe on a thread, keeping `cap` bytes and draining (discarding) the rest so the child
/// never blocks on a full pipe. Sends `(bytes, truncated)` at EOF.
fn reader<R: Read + Send + 'static>(mut pipe: R, cap: usize) -> mpsc::Receiver<(Vec<u8>, bool)> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut truncated = false;
        let mut buf = [0u8; 16 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = cap.saturating_sub(kept.len());
                    if n > room {
                        truncated = true;
                    }
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        let _ = tx.send((kept, truncated));
    });
    rx
}

fn collect(rx: mpsc::Receiver<(Vec<u8>, bool)>, until: Instant) -> (Vec<u8>, bool) {
    rx.recv_timeout(until.saturating_duration_since(Instant::now()))
        .unwrap_or((Vec::new(), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn output_is_kept() {
        let r = run(&["echo", "hello"], 1024, soon());
        assert_eq!(r.text, "$ echo hello\nhello\n");
    }

    #[test]
    fn missing_command_becomes_text() {
        let r = run(&["netdiag-no-such-command"], 1024, soon());
        assert!(r.text.contains("command not found"), "{}", r.text);
    }

    #[test]
    fn failure_shows_status_and_stderr() {
        let r = run(&["sh", "-c", "echo denied >&2; exit 3"], 1024, soon());
        assert!(r.text.contains("exited with exit status: 3"), "{}", r.text);
        assert!(r.text.contains("denied"), "{}", r.text);
    }

    #[test]
    fn stdout_is_capped() {
        let r = run(&["sh", "-c", "yes | head -c 100000"], 10, soon());
        assert!(
            r.text.contains("[output truncated at 10 bytes]"),
            "{}",
            r.text
        );
        assert!(r.text.len() < 200);
    }

    #[test]
    fn slow_command_is_killed_at_the_deadline() {
        let start = Instant::now();
        let r = run(
            &["sleep", "30"],
            1024,
            Instant::now() + Duration::from_millis(200),
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(r.text.contains("timed out"), "{}", r.text);
    }
}
