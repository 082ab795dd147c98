//! deploy/prometheus/ is checked by Prometheus's own tool: the rules load, their unit tests
//! (netdiag.rules.test.yml: each alert firing and not firing, the cause in the annotation;
//! fleet.rules.test.yml: the fleet alerts by node, peer and DNS endpoint) pass, and
//! prometheus.yml and fleet-scrape.yml are valid configs. The Grafana dashboard is JSON whose every panel reads
//! the datasource variable (its queries run against a real Prometheus in real_prometheus.rs). Skipped (with a note) where promtool is not installed;
//! CI installs it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn run_promtool(dir: &Path, args: &[&str]) -> Output {
    Command::new(support::PROMTOOL)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool")
}

fn promtool(args: &[&str]) {
    promtool_in(&support::repo_root().join("deploy/prometheus"), args);
}

fn promtool_in(dir: &Path, args: &[&str]) {
    let out = run_promtool(dir, args);
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
fn the_fleet_rules_load() {
    require_bin!(support::PROMTOOL);
    promtool(&["check", "rules", "fleet.rules.yml"]);
}

#[test]
fn the_fleet_rule_unit_tests_pass() {
    require_bin!(support::PROMTOOL);
    promtool(&["test", "rules", "fleet.rules.test.yml"]);
}

fn fleet_scrape() -> Value {
    let path = support::repo_root().join("deploy/prometheus/fleet-scrape.yml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_fleet_scrape_config_is_valid() {
    require_bin!(support::PROMTOOL);
    let out = run_promtool(
        &support::repo_root().join("deploy/prometheus"),
        &["check", "config", "fleet-scrape.yml"],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        return;
    }
    // Debian builds Prometheus without Kubernetes discovery: check everything else (the
    // relabelling, the rule file) with static targets in place of kubernetes_sd_configs.
    assert!(
        text.contains("field kubernetes_sd_configs not found"),
        "promtool check config fleet-scrape.yml failed:\n{text}"
    );
    eprintln!("note: this promtool has no Kubernetes discovery; checking with static targets");
    let mut config = fleet_scrape();
    for job in config["scrape_configs"].as_array_mut().unwrap() {
        let job = job.as_object_mut().unwrap();
        if job.remove("kubernetes_sd_configs").is_some() {
            job.insert(
                "static_configs".into(),
                serde_json::json!([{"targets": ["127.0.0.1:9115"]}]),
            );
        }
    }
    let dir = support::TempDir::new("fleet-scrape");
    dir.write(
        "fleet-scrape.yml",
        &serde_saphyr::to_string(&config).unwrap(),
    );
    let rules = support::repo_root().join("deploy/prometheus/fleet.rules.yml");
    dir.write("fleet.rules.yml", &std::fs::read_to_string(rules).unwrap());
    promtool_in(dir.path(), &["check", "config", "fleet-scrape.yml"]);
}

#[test]
fn the_fleet_scrape_keeps_the_members_and_adds_no_node_label() {
    let config = fleet_scrape();
    let jobs = config["scrape_configs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job["kubernetes_sd_configs"][0]["role"], "pod");
    assert_ne!(
        job["honor_labels"], true,
        "the scrape's own labels must win"
    );
    let relabel = job["relabel_configs"].as_array().unwrap();
    let keeps = |label: &str, regex: &str| {
        relabel.iter().any(|r| {
            r["action"] == "keep"
                && r["source_labels"] == serde_json::json!([label])
                && r["regex"] == regex
        })
    };
    assert!(keeps(
        "__meta_kubernetes_pod_label_app_kubernetes_io_name",
        "netdiag"
    ));
    assert!(keeps("__meta_kubernetes_pod_container_port_name", "http"));
    let targets: Vec<&str> = relabel
        .iter()
        .filter_map(|r| r["target_label"].as_str())
        .collect();
    assert!(
        targets.contains(&"namespace") && targets.contains(&"pod"),
        "{targets:?}"
    );
    // The members export `node`; a target label of that name would rename theirs exported_node.
    assert!(!targets.contains(&"node"), "{targets:?}");
    assert!(
        relabel.iter().all(|r| r["action"] != "labelmap"),
        "a labelmap could add a node label"
    );
    assert_eq!(config["rule_files"], serde_json::json!(["fleet.rules.yml"]));
}

#[test]
fn every_cause_the_rules_name_is_in_the_catalogue() {
    // The rules and their tests spell cause codes (PromQL cannot call Cause::code()); a renamed
    // code would silently stop matching, so each one must be a live code.
    let dir = support::repo_root().join("deploy/prometheus");
    // Words with a cause's prefix that are label names, not causes.
    let labels = ["dns_endpoint"];
    for file in [
        "netdiag.rules.yml",
        "netdiag.rules.test.yml",
        "fleet.rules.yml",
        "fleet.rules.test.yml",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for word in
            text.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        {
            let looks_like_cause = ["dns_", "tcp_", "tls_", "http_", "udp_", "proxy_"]
                .iter()
                .any(|p| word.starts_with(p))
                && !word.ends_with('_');
            if looks_like_cause && !word.starts_with("http_") && !labels.contains(&word) {
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
