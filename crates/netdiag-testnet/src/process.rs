//! Running commands with a deadline.
//!
//! `std::process::Command::output` waits forever; a scenario that hangs must fail the test instead
//! of hanging CI. So every command here is polled against a deadline and killed when it passes,
//! and its pipes are drained on threads so a chatty command cannot block on a full pipe.

use crate::{Error, Result};
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How often a running command is checked for exit. Small against every deadline we use.
const POLL: Duration = Duration::from_millis(5);

/// How long to wait for the pipes to close after the command exited. A grandchild that keeps a
/// pipe open must not turn into an unbounded wait.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// A command that ran to completion within its deadline.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
}

/// The command line as a person would type it, for error messages.
pub(crate) fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
    }
    rx
}

/// Runs `cmd` to completion, killing it if it outlives `timeout`. A non-zero exit is not an error
/// here: callers decide (netdiag's exit 1 is a result, `ip` failing is not).
pub(crate) fn run_bounded(mut cmd: Command, timeout: Duration) -> Result<Finished> {
    let line = display(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("spawn `{line}`"), e))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Timeout {
                    what: line,
                    timeout,
                });
            }
            Ok(None) => thread::sleep(POLL),
            Err(e) => return Err(Error::io(format!("wait for `{line}`"), e)),
        }
    };
    let elapsed = started.elapsed();
    Ok(Finished {
        status,
        stdout: stdout.recv_timeout(PIPE_GRACE).unwrap_or_default(),
        stderr: stderr.recv_timeout(PIPE_GRACE).unwrap_or_default(),
        elapsed,
    })
}

/// Runs `cmd` and requires exit status 0; returns its stdout.
pub(crate) fn run_ok(cmd: Command, timeout: Duration) -> Result<String> {
    let line = display(&cmd);
    let done = run_bounded(cmd, timeout)?;
    if done.status.success() {
        Ok(done.stdout)
    } else {
        Err(Error::Command {
            command: line,
            status: done.status.to_string(),
            stderr: done.stderr.trim().to_owned(),
        })
    }
}

/// Kills a long-running child and reaps it. SIGKILL, because our servers hold no state worth a
/// graceful shutdown and a test must not wait on one.
pub(crate) fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
