//! The status page (`/` and `/probe/{id}`). A stub until the status-page work replaces it: the
//! server routes to these two functions with these fields.

/// One probe as the status page shows it.
#[derive(Debug, Clone)]
pub struct PageEntry {
    /// The history id (`/probe/{id}`, `/logs?id=`).
    pub id: u64,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// The target.
    pub target: String,
    /// The module name.
    pub module: String,
    /// `probe_success`.
    pub success: bool,
    /// How long it took.
    pub duration_seconds: f64,
    /// The netdiag report, when the prober walked.
    pub report: Option<netdiag_core::report::Report>,
    /// The `debug=true` text of this probe.
    pub debug_text: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The index: recent probes, newest first.
pub fn index(entries: &[PageEntry]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html><html><head><title>netdiag serve</title></head><body><h1>netdiag serve</h1><table><tr><th>Module</th><th>Target</th><th>Result</th><th>Debug</th></tr>",
    );
    for e in entries.iter().rev() {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"probe/{}\">Logs</a></td></tr>",
            escape(&e.module),
            escape(&e.target),
            if e.success {
                "Success"
            } else {
                "<strong>Failure</strong>"
            },
            e.id
        ));
    }
    out.push_str("</table></body></html>");
    out
}

/// One probe's page.
pub fn probe_page(entry: &PageEntry) -> String {
    format!(
        "<!DOCTYPE html><html><head><title>probe {}</title></head><body><pre>{}</pre></body></html>",
        entry.id,
        escape(&entry.debug_text)
    )
}
