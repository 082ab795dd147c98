//! One finished run of a program (usually netdiag): exit code, output, time, parsed report.
//!
//! Accessors read the `netdiag.report/v1` JSON loosely (a missing field is `None`, never a
//! panic) so that a wrong report fails the test's assertion with the whole run printed, instead
//! of panicking inside the harness.

use crate::process::{display, run_bounded};
use crate::Result;
use serde_json::Value;
use std::fmt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The outcome of running a program to completion.
#[derive(Debug, Clone)]
pub struct Run {
    /// The command line.
    pub command: String,
    /// Exit code; `None` if killed by a signal.
    pub status: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall-clock time from spawn to exit.
    pub elapsed: Duration,
    /// Standard output parsed as JSON, when it is JSON.
    pub json: Option<Value>,
}

impl Run {
    /// Runs `program` with `args` outside any namespace (for hermetic checks such as bad input),
    /// killed after `timeout`.
    pub fn exec(program: &Path, args: &[&str], timeout: Duration) -> Result<Run> {
        let mut cmd = Command::new(program);
        cmd.args(args);
        Run::from_command(cmd, timeout)
    }

    pub(crate) fn from_command(cmd: Command, timeout: Duration) -> Result<Run> {
        let command = display(&cmd);
        let done = run_bounded(cmd, timeout)?;
        let json = serde_json::from_str(&done.stdout).ok();
        Ok(Run {
            command,
            status: done.status.code(),
            stdout: done.stdout,
            stderr: done.stderr,
            elapsed: done.elapsed,
            json,
        })
    }

    fn pointer(&self, path: &str) -> Option<&Value> {
        self.json.as_ref()?.pointer(path)
    }

    /// `schema` of the report.
    pub fn schema(&self) -> Option<&str> {
        self.pointer("/schema")?.as_str()
    }

    /// `verdict.layer`; `None` when it is null (healthy) or missing.
    pub fn layer(&self) -> Option<&str> {
        self.pointer("/verdict/layer")?.as_str()
    }

    /// Whether `verdict.layer` is present and JSON `null` (a healthy verdict).
    pub fn layer_is_null(&self) -> bool {
        self.pointer("/verdict/layer").is_some_and(Value::is_null)
    }

    /// `verdict.cause`.
    pub fn cause(&self) -> Option<&str> {
        self.pointer("/verdict/cause")?.as_str()
    }

    /// The report rows (`layers`), empty if absent.
    pub fn rows(&self) -> &[Value] {
        self.pointer("/layers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The rows of one layer.
    pub fn rows_of<'a>(&'a self, layer: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.rows()
            .iter()
            .filter(move |row| row.get("layer").and_then(Value::as_str) == Some(layer))
    }

    /// Codes in `warnings[].cause`.
    pub fn warning_causes(&self) -> Vec<&str> {
        self.pointer("/warnings")
            .and_then(Value::as_array)
            .map(|w| w.iter().filter_map(|w| w.get("cause")?.as_str()).collect())
            .unwrap_or_default()
    }

    /// Everything a person reads as evidence: each row's test, result and evidence strings, and
    /// the verdict's summary and root cause, one per line.
    pub fn evidence(&self) -> String {
        let mut text = Vec::new();
        for row in self.rows() {
            for key in ["test", "result"] {
                if let Some(s) = row.get(key).and_then(Value::as_str) {
                    text.push(s.to_owned());
                }
            }
            if let Some(items) = row.get("evidence").and_then(Value::as_array) {
                text.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
            }
        }
        for key in ["/verdict/summary", "/verdict/root_cause"] {
            if let Some(s) = self.pointer(key).and_then(Value::as_str) {
                text.push(s.to_owned());
            }
        }
        text.join("\n")
    }

    /// Whether the evidence (see [`Run::evidence`]) contains `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.evidence().contains(needle)
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n--- {}", self.command)?;
        writeln!(f, "exit: {:?}   elapsed: {:?}", self.status, self.elapsed)?;
        writeln!(f, "--- stderr:\n{}", self.stderr.trim_end())?;
        match &self.json {
            Some(json) => writeln!(
                f,
                "--- stdout (JSON):\n{}",
                serde_json::to_string_pretty(json).unwrap_or_default()
            ),
            None => writeln!(f, "--- stdout:\n{}", self.stdout.trim_end()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(json: &str) -> Run {
        Run {
            command: "netdiag".into(),
            status: Some(1),
            stdout: json.into(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
            json: serde_json::from_str(json).ok(),
        }
    }

    #[test]
    fn verdict_and_evidence_are_read_from_the_report() {
        let r = run(
            r#"{"schema":"netdiag.report/v1","layers":[{"layer":"tcp","test":"connect","result":"refused",
            "evidence":["ICMP admin-prohibited from 10.77.1.1"]}],
            "verdict":{"layer":"tcp","cause":"tcp_admin_prohibited","root_cause":"router"}}"#,
        );
        assert_eq!(r.layer(), Some("tcp"));
        assert_eq!(r.cause(), Some("tcp_admin_prohibited"));
        assert!(r.mentions("10.77.1.1"));
        assert_eq!(r.rows_of("tcp").count(), 1);
        assert!(!r.layer_is_null());
    }

    #[test]
    fn missing_fields_are_none_not_panics() {
        let r = run("not json");
        assert_eq!(r.layer(), None);
        assert_eq!(r.cause(), None);
        assert!(r.rows().is_empty());
        assert!(!r.mentions("x"));
        let healthy = run(r#"{"verdict":{"layer":null,"cause":"ok"}}"#);
        assert!(healthy.layer_is_null());
    }
}
