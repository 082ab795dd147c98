//! The report: rows per layer, the final verdict with its fix, and warnings.
//!
//! The JSON shape is the contract's `netdiag.report/v1`: field names here are part of the
//! interface. Add fields, never rename them.

use crate::cause::Cause;
use crate::layer::Layer;
use crate::target::Target;
use serde::Serialize;

/// The schema identifier written in every JSON report.
pub const SCHEMA: &str = "netdiag.report/v1";

/// The verdict of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowVerdict {
    /// The test passed.
    Pass,
    /// It passed with something a person should know.
    Warn,
    /// It failed: this is the failing layer.
    Fail,
    /// Not run, because an earlier layer failed or it does not apply.
    Skip,
}

impl RowVerdict {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            RowVerdict::Pass => "pass",
            RowVerdict::Warn => "warn",
            RowVerdict::Fail => "fail",
            RowVerdict::Skip => "skip",
        }
    }
}

/// One row of the report table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The layer.
    pub layer: Layer,
    /// What was tested, e.g. `A/AAAA api.example.com via 10.0.0.2`.
    pub test: String,
    /// What happened, e.g. `192.0.2.7 in 4 ms`.
    pub result: String,
    /// First-hand facts behind the result.
    pub evidence: Vec<String>,
    /// pass, warn, fail or skip.
    pub verdict: RowVerdict,
    /// The cause code (`ok` when it passed).
    pub cause: Cause,
    /// How long the test took.
    pub duration_ms: u64,
}

impl Row {
    /// A row with no evidence yet.
    pub fn new(
        layer: Layer,
        test: impl Into<String>,
        result: impl Into<String>,
        verdict: RowVerdict,
        cause: Cause,
    ) -> Row {
        Row {
            layer,
            test: test.into(),
            result: result.into(),
            evidence: Vec::new(),
            verdict,
            cause,
            duration_ms: 0,
        }
    }

    /// Adds evidence lines.
    pub fn with_evidence(mut self, evidence: Vec<String>) -> Row {
        self.evidence = evidence;
        self
    }

    /// Sets the duration.
    pub fn with_duration_ms(mut self, ms: u64) -> Row {
        self.duration_ms = ms;
        self
    }
}

/// A concrete fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Fix {
    /// What to change and where.
    pub description: String,
    /// Commands (or file edits) the reader can paste.
    pub commands: Vec<String>,
    /// Complete manifests to apply (Kubernetes objects); absent from the JSON when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<serde_json::Value>,
}

/// The final verdict of a walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The failing layer, `null` when healthy.
    pub layer: Option<Layer>,
    /// The cause code, `ok` when healthy.
    pub cause: Cause,
    /// One sentence a person can act on.
    pub summary: String,
    /// What is wrong and where, with the evidence that shows it.
    pub root_cause: String,
    /// The fix.
    pub fix: Fix,
    /// How to undo the fix.
    pub rollback: Vec<String>,
    /// What to capture before changing anything.
    pub prestate: Vec<String>,
    /// Markdown runbook entry: symptom, check, fix.
    pub runbook: String,
}

/// A warning: something a person should know although the walk passed that layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The cause code.
    pub cause: Cause,
    /// What and why.
    pub message: String,
}

/// The target as written in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetInfo {
    /// What the user typed.
    pub input: String,
    /// https, http, tcp, udp or dns.
    pub scheme: String,
    /// The host (name, or address without brackets).
    pub host: String,
    /// The port (`null` for a bare host).
    pub port: Option<u16>,
}

impl From<&Target> for TargetInfo {
    fn from(t: &Target) -> Self {
        TargetInfo {
            input: t.input.clone(),
            scheme: t.scheme.name().to_string(),
            host: t.host_text(),
            port: t.port,
        }
    }
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The target.
    pub target: TargetInfo,
    /// RFC 3339 UTC start time.
    pub started_at: String,
    /// Total duration.
    pub duration_ms: u64,
    /// The rows, in walk order.
    pub layers: Vec<Row>,
    /// The verdict.
    pub verdict: Verdict,
    /// Warnings.
    pub warnings: Vec<Warning>,
    /// Where a 3xx response pointed (`Location`), when the http layer got one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// The redirects followed to get here (`-L`), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub followed: Vec<String>,
    /// The flow that failed, as addresses (added so tools such as the cloud layer can ask about
    /// exactly this flow): `{"source": "10.0.1.5", "destination": "10.0.2.20", "port": 5432,
    /// "protocol": "tcp"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_flow: Option<FailedFlow>,
    /// The cloud firewalls' answer for the failed flow (`netdiag check --cloud`), schema
    /// `netdiag.cloud.check/v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<serde_json::Value>,
}

/// The addresses of a failed flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedFlow {
    /// This host's source address, when the route lookup named one.
    pub source: Option<std::net::IpAddr>,
    /// The destination address that failed.
    pub destination: std::net::IpAddr,
    /// The destination port.
    pub port: Option<u16>,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
}

impl Report {
    /// Whether the walk found no failing layer.
    pub fn healthy(&self) -> bool {
        self.verdict.layer.is_none()
    }

    /// The process exit status for this report: 0 healthy, 1 a layer failed.
    pub fn exit_code(&self) -> i32 {
        if self.healthy() {
            0
        } else {
            1
        }
    }
}

/// Formats a civil UTC time from seconds since the Unix epoch as RFC 3339 (`2026-11-22T10:00:00Z`).
/// Kept here, pure, so the core needs no clock: the caller passes the seconds.
pub fn rfc3339_utc(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_795_341_600), "2026-11-22T10:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
