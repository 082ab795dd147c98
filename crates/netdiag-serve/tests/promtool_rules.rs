//! deploy/prometheus/ is checked by Prometheus's own tool: the rules load, their unit tests
//! (netdiag.rules.test.yml: each alert firing and not firing, the cause in the annotation) pass,
//! and prometheus.yml is a valid config. The Grafana dashboard is JSON whose every panel reads
//! the datasource variable (its queries run against a real Prometheus in real_prometheus.rs). Skipped (with a note) where promtool is not installed;
//! CI installs it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::process::Command;

fn promtool(args: &[&str]) {
    let dir = support::repo_root().join("deploy/prometheus");
    let out = Command::new(support::PROMTOOL)
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_rules_load() {
    require_bin!(support::PROMTOOL);
    promtool(&["check", "rules", "netdiag.rules.yml"]);
}

#[test]
fn the_rule_unit_tests_pass() {
    require_bin!(support::PROMTOOL);
    promtool(&["test", "rules", "netdiag.rules.test.yml"]);
}

#[test]
fn the_prometheus_config_is_valid() {
    require_bin!(support::PROMTOOL);
    promtool(&["check", "config", "prometheus.yml"]);
}

#[test]
fn every_cause_the_rules_name_is_in_the_catalogue() {
    // The rules and their tests spell cause codes (PromQL cannot call Cause::code()); a renamed
    // code would silently stop matching, so each one must be a live code.
    let dir = support::repo_root().join("deploy/prometheus");
    for file in ["netdiag.rules.yml", "netdiag.rules.test.yml"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for word in
            text.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        {
            let looks_like_cause = ["dns_", "tcp_", "tls_", "http_", "udp_", "proxy_"]
                .iter()
                .any(|p| word.starts_with(p))
                && !word.ends_with('_');
            if looks_like_cause && !word.starts_with("http_") {
                assert!(
                    netdiag_core::Cause::from_code(word).is_some(),
                    "{file}: {word} is not a cause code"
                );
            }
        }
    }
}

#[test]
fn the_dashboard_uses_the_datasource_variable_everywhere() {
    let doc = support::dashboard();
    let vars = doc["templating"]["list"].as_array().unwrap();
    assert!(vars
        .iter()
        .any(|v| v["name"] == "datasource" && v["type"] == "datasource"));
    let panels = doc["panels"].as_array().unwrap();
    assert!(panels.len() >= 4);
    for panel in panels {
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for t in targets {
            assert_eq!(
                t["datasource"]["uid"], "${datasource}",
                "{}",
                panel["title"]
            );
        }
    }
    let queries = support::dashboard_queries().join("\n");
    for series in [
        "probe_success",
        "probe_failure_info",
        "netdiag_layer_duration_seconds",
        "probe_ssl_earliest_cert_expiry",
    ] {
        assert!(queries.contains(series), "{series}");
    }
}
