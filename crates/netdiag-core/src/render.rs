//! Rendering reports as a table, JSON or Markdown: the one output layer of every domain.
//!
//! [`Format`] is the one format type; [`Rendered`] is the renderer family that the live report,
//! the Kubernetes check and matrix and the cloud check implement, with the shared pieces
//! ([`grid`], [`md_cell`], [`pretty_json`], [`verdict_mark`]) so every table looks alike.
//!
//! The table is the contract's `Layer | Test | Result | Evidence | Verdict`, followed by the
//! verdict, the fix, the pre-state, the rollback and warnings: what an on-call engineer reads
//! first. JSON is the stable `netdiag.report/v1`. Markdown is for tickets and runbooks.

use crate::report::{Report, RowVerdict};
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

/// Output formats, for every report of every domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human table.
    Table,
    /// The report's stable JSON schema (`netdiag.report/v1`, `netdiag.k8s.check/v1`…).
    Json,
    /// Markdown.
    Markdown,
}

/// A report that renders in every [`Format`]: the one renderer family.
pub trait Rendered {
    /// The human table (plus the verdict block).
    fn table(&self) -> String;
    /// The stable JSON document.
    fn json(&self) -> String;
    /// Markdown for tickets and runbooks.
    fn markdown(&self) -> String;
    /// Renders in the chosen format.
    fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.table(),
            Format::Json => self.json(),
            Format::Markdown => self.markdown(),
        }
    }
}

impl Rendered for Report {
    fn table(&self) -> String {
        table(self)
    }
    fn json(&self) -> String {
        json(self)
    }
    fn markdown(&self) -> String {
        markdown(self)
    }
}

/// A table in the house style: condensed UTF-8 borders, wrapped to 160 columns.
pub fn grid() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(160);
    t
}

/// Pretty JSON of any report (a serialization failure becomes a JSON error object, never a
/// panic).
pub fn pretty_json<T: serde::Serialize + ?Sized>(report: &T) -> String {
    serde_json::to_string_pretty(report)
        .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize report: {e}\"}}"))
}

/// Renders in the chosen format.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Json => json(report),
        Format::Markdown => markdown(report),
    }
}

/// Pretty JSON.
pub fn json(report: &Report) -> String {
    pretty_json(report)
}

/// The verdict column's mark: `PASS`, `WARN`, `FAIL`, `skip`.
pub fn verdict_mark(v: RowVerdict) -> &'static str {
    match v {
        RowVerdict::Pass => "PASS",
        RowVerdict::Warn => "WARN",
        RowVerdict::Fail => "FAIL",
        RowVerdict::Skip => "skip",
    }
}

/// The human table plus the verdict block.
pub fn table(report: &Report) -> String {
    let mut t = grid();
    t.set_header(vec!["Layer", "Test", "Result", "Evidence", "Verdict"]);
    for row in &report.layers {
        let verdict = if row.cause.code() == "ok" {
            verdict_mark(row.verdict).to_string()
        } else {
            format!("{} {}", verdict_mark(row.verdict), row.cause.code())
        };
        t.add_row(vec![
            row.layer.name().to_string(),
            row.test.clone(),
            row.result.clone(),
            row.evidence.join("\n"),
            verdict,
        ]);
    }
    let mut out = format!("netdiag check {}\n{t}\n", report.target.input);
    let v = &report.verdict;
    match v.layer {
        None => out.push_str(&format!(
            "\nVERDICT: healthy ({} ms). {}\n",
            report.duration_ms, v.summary
        )),
        Some(layer) => {
            out.push_str(&format!(
                "\nVERDICT: {} layer failed: {} ({} ms)\n",
                layer, v.cause, report.duration_ms
            ));
            out.push_str(&format!("  {}\n", v.summary));
            out.push_str(&format!("\nROOT CAUSE\n  {}\n", v.root_cause));
            out.push_str(&format!("\nFIX\n  {}\n", v.fix.description));
            for c in &v.fix.commands {
                out.push_str(&format!("    {c}\n"));
            }
            if !v.prestate.is_empty() {
                out.push_str("\nBEFORE CHANGING ANYTHING, CAPTURE\n");
                for c in &v.prestate {
                    out.push_str(&format!("    {c}\n"));
                }
            }
            if !v.rollback.is_empty() {
                out.push_str("\nROLLBACK\n");
                for c in &v.rollback {
                    out.push_str(&format!("    {c}\n"));
                }
            }
        }
    }
    if !report.warnings.is_empty() {
        out.push_str("\nWARNINGS\n");
        for w in &report.warnings {
            out.push_str(&format!("  {}: {}\n", w.cause, w.message));
        }
    }
    out
}

/// A Markdown table cell: pipes escaped, newlines as `<br>`.
pub fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

/// Markdown: a heading, the table, the verdict and the runbook entry.
pub fn markdown(report: &Report) -> String {
    let mut out = format!(
        "## netdiag check `{}`\n\n",
        report.target.input.replace('`', "'")
    );
    out.push_str("| Layer | Test | Result | Evidence | Verdict |\n|---|---|---|---|---|\n");
    for row in &report.layers {
        let verdict = if row.cause.code() == "ok" {
            row.verdict.name().to_string()
        } else {
            format!("{} `{}`", row.verdict.name(), row.cause.code())
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            row.layer,
            md_cell(&row.test),
            md_cell(&row.result),
            md_cell(&row.evidence.join("\n")),
            verdict
        ));
    }
    let v = &report.verdict;
    match v.layer {
        None => out.push_str(&format!(
            "\n**Verdict: healthy** ({} ms). {}\n",
            report.duration_ms, v.summary
        )),
        Some(layer) => {
            out.push_str(&format!(
                "\n**Verdict: `{}` layer failed, cause `{}`** ({} ms)\n\n{}\n",
                layer, v.cause, report.duration_ms, v.summary
            ));
            out.push_str(&format!("\n**Root cause.** {}\n", v.root_cause));
            out.push_str(&format!(
                "\n**Fix.** {}\n\n```sh\n{}\n```\n",
                v.fix.description,
                v.fix.commands.join("\n")
            ));
            if !v.prestate.is_empty() {
                out.push_str(&format!(
                    "\n**Capture first.**\n\n```sh\n{}\n```\n",
                    v.prestate.join("\n")
                ));
            }
            if !v.rollback.is_empty() {
                out.push_str(&format!(
                    "\n**Rollback.**\n\n```sh\n{}\n```\n",
                    v.rollback.join("\n")
                ));
            }
            if !v.runbook.is_empty() {
                out.push_str(&format!("\n**Runbook entry**\n\n{}\n", v.runbook));
            }
        }
    }
    if !report.warnings.is_empty() {
        out.push_str("\n**Warnings**\n\n");
        for w in &report.warnings {
            out.push_str(&format!("- `{}`: {}\n", w.cause, md_cell(&w.message)));
        }
    }
    out
}

/// The schema of a multi-target JSON document.
pub const MULTI_SCHEMA: &str = "netdiag.reports/v1";

/// Several reports: one summary table (table, Markdown) or one JSON document holding every
/// report in input order.
pub fn render_many(
    reports: &[Report],
    format: Format,
    started_at: &str,
    duration_ms: u64,
) -> String {
    let healthy = reports.iter().filter(|r| r.healthy()).count();
    match format {
        Format::Json => {
            let doc = serde_json::json!({
                "schema": MULTI_SCHEMA,
                "started_at": started_at,
                "duration_ms": duration_ms,
                "summary": {"total": reports.len(), "healthy": healthy, "failed": reports.len() - healthy},
                "reports": reports,
            });
            serde_json::to_string_pretty(&doc)
                .unwrap_or_else(|e| format!("{{\"error\": \"cannot serialize reports: {e}\"}}"))
        }
        Format::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(160);
            t.set_header(vec!["Target", "Verdict", "Layer", "Cause", "Summary", "ms"]);
            for r in reports {
                t.add_row(vec![
                    r.target.input.clone(),
                    if r.healthy() {
                        "PASS".to_string()
                    } else {
                        "FAIL".to_string()
                    },
                    r.verdict
                        .layer
                        .map(|l| l.name().to_string())
                        .unwrap_or_default(),
                    r.verdict.cause.code().to_string(),
                    r.verdict.summary.clone(),
                    r.duration_ms.to_string(),
                ]);
            }
            format!(
                "netdiag check: {} targets, {healthy} healthy, {} failed ({duration_ms} ms)\n{t}\n",
                reports.len(),
                reports.len() - healthy
            )
        }
        Format::Markdown => {
            let mut out = format!(
                "## netdiag check: {} targets, {healthy} healthy, {} failed ({duration_ms} ms)\n\n",
                reports.len(),
                reports.len() - healthy
            );
            out.push_str(
                "| Target | Verdict | Layer | Cause | Summary | ms |\n|---|---|---|---|---|---|\n",
            );
            for r in reports {
                out.push_str(&format!(
                    "| {} | {} | {} | `{}` | {} | {} |\n",
                    md_cell(&r.target.input),
                    if r.healthy() { "pass" } else { "fail" },
                    r.verdict.layer.map(|l| l.name()).unwrap_or(""),
                    r.verdict.cause.code(),
                    md_cell(&r.verdict.summary),
                    r.duration_ms
                ));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cause::Cause;
    use crate::layer::Layer;
    use crate::report::{Fix, Row, TargetInfo, Verdict, Warning, SCHEMA};

    fn report() -> Report {
        Report {
            schema: SCHEMA,
            target: TargetInfo {
                input: "tcp://db:5432".into(),
                scheme: "tcp".into(),
                host: "db".into(),
                port: Some(5432),
            },
            started_at: "2026-11-22T10:00:00Z".into(),
            duration_ms: 12,
            layers: vec![Row::new(
                Layer::Tcp,
                "connect 10.0.0.5:5432",
                "refused (RST) in 1 ms",
                RowVerdict::Fail,
                Cause::TcpRefused,
            )
            .with_evidence(vec!["a | b".into()])],
            verdict: Verdict {
                layer: Some(Layer::Tcp),
                cause: Cause::TcpRefused,
                summary: "s".into(),
                root_cause: "r".into(),
                fix: Fix {
                    description: "d".into(),
                    commands: vec!["ss -ltnp".into()],
                    manifests: Vec::new(),
                },
                rollback: vec!["x".into()],
                prestate: vec!["p".into()],
                runbook: "### rb".into(),
            },
            warnings: vec![Warning {
                cause: Cause::DnsSlow,
                message: "m".into(),
            }],
            redirect: None,
            followed: vec![],
            failed_flow: None,
            cloud: None,
        }
    }

    #[test]
    fn json_has_contract_fields() {
        let v: serde_json::Value = serde_json::from_str(&json(&report())).expect("json");
        assert_eq!(v["schema"], "netdiag.report/v1");
        assert_eq!(v["target"]["port"], 5432);
        assert_eq!(v["layers"][0]["layer"], "tcp");
        assert_eq!(v["layers"][0]["verdict"], "fail");
        assert_eq!(v["layers"][0]["cause"], "tcp_refused");
        assert_eq!(v["verdict"]["layer"], "tcp");
        assert_eq!(v["verdict"]["fix"]["commands"][0], "ss -ltnp");
        assert_eq!(v["warnings"][0]["cause"], "dns_slow");
        for key in ["started_at", "duration_ms"] {
            assert!(v.get(key).is_some());
        }
        for key in ["summary", "root_cause", "rollback", "runbook"] {
            assert!(v["verdict"].get(key).is_some());
        }
    }

    #[test]
    fn many_reports_render_one_document() {
        let reports = vec![report(), report()];
        let v: serde_json::Value =
            serde_json::from_str(&render_many(&reports, Format::Json, "t", 5)).expect("json");
        assert_eq!(v["schema"], MULTI_SCHEMA);
        assert_eq!(v["summary"]["failed"], 2);
        assert_eq!(v["reports"][1]["verdict"]["cause"], "tcp_refused");
        assert!(
            render_many(&reports, Format::Table, "t", 5).contains("2 targets, 0 healthy, 2 failed")
        );
    }

    #[test]
    fn table_and_markdown_have_the_columns() {
        let t = table(&report());
        assert!(t.contains("Layer") && t.contains("Evidence") && t.contains("FAIL tcp_refused"));
        let m = markdown(&report());
        assert!(m.contains("| Layer | Test | Result | Evidence | Verdict |"));
        assert!(m.contains("a \\| b"));
    }
}
