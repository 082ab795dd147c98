//! Rendering a [`CloudReport`]: the `Layer | Test | Result | Evidence | Verdict` table followed by
//! the verdict block (blocking rule, fix, pre-state, rollback, unknowns), the stable JSON
//! (`netdiag.cloud.check/v1`), or Markdown for tickets. Knows no provider.

use crate::verdict::{Cause, CloudReport, Side, Step, StepResult};
use netdiag_core::render::{grid, md_cell, pretty_json, Rendered};

impl Rendered for CloudReport {
    fn table(&self) -> String {
        table(self)
    }
    /// Pretty JSON, ending in a newline.
    fn json(&self) -> String {
        json(self)
    }
    fn markdown(&self) -> String {
        markdown(self)
    }
}

/// Pretty JSON, ending in a newline.
pub fn json(report: &CloudReport) -> String {
    let mut s = pretty_json(report);
    s.push('\n');
    s
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::SourceEgress => "source-egress",
        Side::Path => "path",
        Side::DestinationIngress => "destination-ingress",
        Side::Reply => "reply",
    }
}

fn mark(r: StepResult) -> &'static str {
    match r {
        StepResult::Allow => "PASS",
        StepResult::Deny => "FAIL",
        StepResult::Unknown => "UNKNOWN",
        StepResult::Skip => "skip",
    }
}

fn result_text(s: &Step) -> String {
    let head = format!("{} ({})", s.resource, side_name(s.side));
    match &s.rule {
        Some(rule) => format!("{head}\n{rule}"),
        None => head,
    }
}

fn title(r: &CloudReport) -> String {
    let f = &r.flow;
    let text = |k: &str| f.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
    format!(
        "netdiag cloud check ({}): {} -> {} {}/{}",
        r.provider,
        text("src"),
        text("dst"),
        text("protocol"),
        f.get("port").and_then(|v| v.as_u64()).unwrap_or(0)
    )
}

/// The verdict block shared by the table and Markdown (`indent` prefixes commands).
fn verdict_lines(r: &CloudReport, indent: &str) -> Vec<String> {
    let v = &r.verdict;
    let mut out = Vec::new();
    let head = if v.allowed {
        "VERDICT: allowed".to_string()
    } else {
        format!(
            "VERDICT: {} ({}{})",
            if v.cause == Cause::CloudUnknown {
                "unknown"
            } else {
                "blocked"
            },
            v.cause.code(),
            v.layer
                .map(|l| format!(", layer {}", l.name()))
                .unwrap_or_default()
        )
    };
    out.push(head);
    out.push(format!("  {}", v.summary));
    if let Some(b) = &v.blocking {
        out.push(String::new());
        out.push(format!(
            "BLOCKING{}",
            v.side
                .map(|s| format!(" ({})", side_name(s)))
                .unwrap_or_default()
        ));
        out.push(format!("  {}: {}", b.resource, b.rule));
    }
    if let Some(w) = &v.would_allow {
        out.push(String::new());
        out.push("NEAREST MISS".into());
        out.push(format!("  {}: {}", w.resource, w.rule));
    }
    if !v.unknown.is_empty() {
        out.push(String::new());
        out.push("UNKNOWN (export these and run again)".into());
        for m in &v.unknown {
            out.push(format!("  {}", m.what));
            out.push(format!("{indent}{}", m.export));
        }
    }
    if let Some(fix) = &v.fix {
        out.push(String::new());
        out.push("FIX".into());
        out.push(format!("  {}", fix.description));
        for c in &fix.commands {
            out.push(format!("{indent}{c}"));
        }
    }
    if let Some(why) = &v.no_fix_reason {
        out.push(String::new());
        out.push("NO AUTOMATIC FIX".into());
        out.push(format!("  {why}"));
    }
    if !v.prestate.is_empty() {
        out.push(String::new());
        out.push("BEFORE CHANGING ANYTHING, CAPTURE".into());
        for c in &v.prestate {
            out.push(format!("{indent}{c}"));
        }
    }
    if !v.rollback.is_empty() {
        out.push(String::new());
        out.push("ROLLBACK".into());
        for c in &v.rollback {
            out.push(format!("{indent}{c}"));
        }
    }
    out
}

/// The human table plus the verdict block.
pub fn table(r: &CloudReport) -> String {
    let mut t = grid();
    t.set_header(vec!["Layer", "Test", "Result", "Evidence", "Verdict"]);
    for s in &r.path {
        t.add_row(vec![
            s.layer.name().to_string(),
            s.test.clone(),
            result_text(s),
            s.evidence.join("\n"),
            mark(s.result).to_string(),
        ]);
    }
    let mut out = format!("{}\n{t}\n\n", title(r));
    for line in verdict_lines(r, "    ") {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Markdown: a heading, the path table, the verdict with commands in code blocks.
pub fn markdown(r: &CloudReport) -> String {
    let mut out = format!("## {}\n\n", title(r).replace('`', "'"));
    out.push_str("| Layer | Test | Result | Evidence | Verdict |\n|---|---|---|---|---|\n");
    for s in &r.path {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            s.layer.name(),
            md_cell(&s.test),
            md_cell(&result_text(s)),
            md_cell(&s.evidence.join("\n")),
            mark(s.result)
        ));
    }
    out.push('\n');
    let mut in_code = false;
    for line in verdict_lines(r, "CMD ") {
        if let Some(cmd) = line.strip_prefix("CMD ") {
            if !in_code {
                out.push_str("```sh\n");
                in_code = true;
            }
            out.push_str(cmd);
            out.push('\n');
            continue;
        }
        if in_code {
            out.push_str("```\n");
            in_code = false;
        }
        if line.starts_with("VERDICT") {
            out.push_str(&format!("**{line}**\n"));
        } else if !line.is_empty() && !line.starts_with(' ') {
            out.push_str(&format!("\n### {}\n", line.to_lowercase()));
        } else {
            out.push_str(&format!("{}\n", line.trim_start()));
        }
    }
    if in_code {
        out.push_str("```\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Provider;
    use crate::verdict::{Cause, CloudLayer, Fix, RuleRef, Verdict, SCHEMA};

    fn report() -> CloudReport {
        let mut v = Verdict::blocked(
            CloudLayer::Nacl,
            Cause::CloudDenyRule,
            Side::DestinationIngress,
            RuleRef {
                resource: "acl-1".into(),
                rule: "#100 deny tcp 0-65535 from 10.0.0.0/8".into(),
            },
            "blocked | by acl-1",
        );
        v.fix = Some(Fix {
            description: "add an entry".into(),
            commands: vec!["aws ec2 create-network-acl-entry --network-acl-id acl-1".into()],
            ..Fix::default()
        });
        v.rollback = vec!["aws ec2 delete-network-acl-entry --network-acl-id acl-1".into()];
        v.prestate = vec!["aws ec2 describe-network-acls --network-acl-ids acl-1".into()];
        CloudReport {
            schema: SCHEMA,
            provider: Provider::Aws,
            flow: serde_json::json!({"src": "10.0.1.5", "dst": "10.0.2.7", "port": 443, "protocol": "tcp"}),
            path: vec![Step {
                layer: CloudLayer::Nacl,
                side: Side::DestinationIngress,
                resource: "acl-1".into(),
                test: "inbound tcp/443 from 10.0.1.5".into(),
                result: StepResult::Deny,
                rule: Some("#100 deny tcp 0-65535 from 10.0.0.0/8".into()),
                evidence: vec!["lowest rule number wins".into()],
            }],
            verdict: v,
        }
    }

    #[test]
    fn every_format_carries_the_path_the_verdict_and_the_fix() {
        let r = report();
        let t = table(&r);
        for needle in [
            "Layer",
            "Evidence",
            "FAIL",
            "cloud_deny_rule",
            "FIX",
            "ROLLBACK",
            "CAPTURE",
        ] {
            assert!(t.contains(needle), "{needle}\n{t}");
        }
        let md = markdown(&r);
        assert!(
            md.contains("| nacl | inbound tcp/443 from 10.0.1.5 |"),
            "{md}"
        );
        assert!(
            md.contains("```sh\naws ec2 create-network-acl-entry"),
            "{md}"
        );
        let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(v["schema"], "netdiag.cloud.check/v1");
        assert_eq!(v["verdict"]["layer"], "nacl");
        assert_eq!(v["path"][0]["result"], "deny");
    }
}
