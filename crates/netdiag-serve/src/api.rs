//! `GET /api/v1/probes`: the status page's history as JSON (schema `netdiag.probes/v1`), for
//! programs rather than people: `netdiag mcp --prober URL` reads it for its `prober_results_list`
//! tool, so an agent asks "what has been failing" and gets the prober's own verdicts, newest
//! first, each with the full `netdiag.report/v1` when the prober walked the layers.
//!
//! Pure: the filter and the document are built from the history's entries; the handler in
//! `server.rs` only parses the query.

use crate::page::PageEntry;
use netdiag_core::render::{render, Format};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The schema of the answer.
pub const SCHEMA: &str = "netdiag.probes/v1";

/// At most this many probes in one answer.
pub const MAX_LIMIT: usize = 1000;

/// Which probes to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFilter {
    /// Only this target (exactly as probed).
    pub target: Option<String>,
    /// Only this module.
    pub module: Option<String>,
    /// Only failed probes.
    pub failed_only: bool,
    /// At most this many, newest first.
    pub limit: usize,
}

impl ProbeFilter {
    /// From the query parameters `target`, `module`, `failed=true|false`, `limit=N`. `Err` is the
    /// one-line message of a 400.
    pub fn from_query(params: &HashMap<String, String>) -> Result<ProbeFilter, String> {
        let failed_only = match params.get("failed").map(String::as_str) {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => return Err(format!("failed={other:?}: give true or false")),
        };
        let limit = match params.get("limit") {
            None => 100,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return Err(format!("limit={text:?}: give 1 to {MAX_LIMIT}")),
            },
        };
        Ok(ProbeFilter {
            target: params.get("target").cloned(),
            module: params.get("module").cloned(),
            failed_only,
            limit,
        })
    }

    fn admits(&self, e: &PageEntry) -> bool {
        self.target.as_ref().is_none_or(|t| &e.target == t)
            && self.module.as_ref().is_none_or(|m| &e.module == m)
            && !(self.failed_only && e.success)
    }
}

/// The document for these entries (any order in; newest first out).
pub fn probes_document(entries: &[PageEntry], filter: &ProbeFilter) -> Value {
    let mut chosen: Vec<&PageEntry> = entries.iter().filter(|e| filter.admits(e)).collect();
    chosen.sort_by_key(|e| std::cmp::Reverse(e.id));
    chosen.truncate(filter.limit);
    let probes: Vec<Value> = chosen
        .into_iter()
        .map(|e| {
            let report = e
                .report
                .as_ref()
                .and_then(|r| serde_json::from_str::<Value>(&render(r, Format::Json)).ok());
            let verdict = report.as_ref().map(|r| {
                json!({
                    "layer": r["verdict"]["layer"],
                    "cause": r["verdict"]["cause"],
                    "summary": r["verdict"]["summary"],
                })
            });
            json!({
                "id": e.id,
                "started_at": e.started_at,
                "target": e.target,
                "module": e.module,
                "success": e.success,
                "duration_seconds": e.duration_seconds,
                "verdict": verdict,
                "report": report,
                "logs": format!("/logs?id={}", e.id),
            })
        })
        .collect();
    json!({"schema": SCHEMA, "probes": probes})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, target: &str, success: bool) -> PageEntry {
        PageEntry {
            id,
            started_at: "2026-12-02T00:00:00Z".into(),
            target: target.into(),
            module: "tcp_connect".into(),
            success,
            duration_seconds: 0.01,
            report: None,
            debug_text: String::new(),
        }
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn newest_first_filtered_and_bounded() {
        let entries = [
            entry(1, "a:1", true),
            entry(2, "b:1", false),
            entry(3, "a:1", false),
        ];
        let all = ProbeFilter::from_query(&query(&[])).unwrap_or_else(|e| panic!("{e}"));
        let doc = probes_document(&entries, &all);
        let ids: Vec<u64> = doc["probes"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["id"].as_u64()).collect())
            .unwrap_or_default();
        assert_eq!(ids, [3, 2, 1]);
        let failed_a = ProbeFilter::from_query(&query(&[("failed", "true"), ("target", "a:1")]))
            .unwrap_or_else(|e| panic!("{e}"));
        let doc = probes_document(&entries, &failed_a);
        assert_eq!(doc["probes"].as_array().map(Vec::len), Some(1));
        assert_eq!(doc["probes"][0]["id"], 3);
        assert_eq!(doc["probes"][0]["logs"], "/logs?id=3");
        let one =
            ProbeFilter::from_query(&query(&[("limit", "1")])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            probes_document(&entries, &one)["probes"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn bad_parameters_are_one_line_errors() {
        for bad in [
            ("limit", "0"),
            ("limit", "x"),
            ("limit", "100000"),
            ("failed", "maybe"),
        ] {
            let err = ProbeFilter::from_query(&query(&[bad]))
                .err()
                .unwrap_or_default();
            assert!(!err.is_empty() && !err.contains('\n'), "{bad:?}");
        }
    }
}
