//! A real Prometheus scrapes the exporter through blackbox's multi-target relabelling (the jobs of
//! deploy/prometheus/prometheus.yml) and evaluates deploy/prometheus/netdiag.rules.yml (with its
//! `for:` shortened to seconds) and the queries of deploy/grafana/netdiag.json: a healthy local HTTP target reads back `probe_success 1`, a
//! refused port `0`, and NetdiagProbeFailing fires for the refused one only.
//!
//! The same scenario runs against blackbox_exporter (today's reference) and against
//! `netdiag serve` (ignored until the server is merged; binary from `NETDIAG_BIN`, else
//! `$CARGO_TARGET_DIR/debug/netdiag` or `target/debug/netdiag`), where the cause must also arrive:
//! `probe_failure_info{layer="tcp",cause="tcp_refused"}` and the alert's annotation naming it.
//! Everything listens on 127.0.0.1; a run takes about 10 s.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use netdiag_core::Cause;
use std::time::Duration;
use support::{fixtures, Exporter, Prometheus, TempDir};

const EXPORTER_CONFIG: &str = "modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
";

/// The shipped rules with every `for:` cut to 2 s, so an alert fires within a test's patience.
fn fast_rules() -> String {
    let text =
        std::fs::read_to_string(support::repo_root().join("deploy/prometheus/netdiag.rules.yml"))
            .expect("deploy/prometheus/netdiag.rules.yml");
    text.lines()
        .map(|l| match l.trim_start().strip_prefix("for:") {
            Some(_) => format!("{}for: 2s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// deploy/prometheus/prometheus.yml's netdiag_http job, pointed at the test's exporter and targets.
fn prometheus_config(exporter: std::net::SocketAddr, targets: &[String]) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("          - {t}")).collect();
    format!(
        "global:
  scrape_interval: 2s
  scrape_timeout: 2s # probes get 1.5 s (blackbox's timeout rule)
  evaluation_interval: 1s
rule_files:
  - netdiag.rules.yml
scrape_configs:
  - job_name: netdiag_http
    metrics_path: /probe
    params:
      module: [http_2xx]
    static_configs:
      - targets:
{}
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: {exporter}
",
        list.join("\n")
    )
}

fn firing_for(prom: &Prometheus, instance: &str) -> Option<serde_json::Value> {
    prom.alerts().into_iter().find(|a| {
        a["labels"]["alertname"] == "NetdiagProbeFailing"
            && a["labels"]["instance"] == instance
            && a["state"] == "firing"
    })
}

fn scrape_and_alert(exporter: &Exporter) {
    let dir = TempDir::new("real-prometheus");
    let healthy = fixtures::http_server();
    let healthy_url = format!("http://{}/", healthy.addr);
    let refused_url = format!("http://{}/", fixtures::refused_port());
    let running = exporter.start(EXPORTER_CONFIG, &dir);
    dir.write("netdiag.rules.yml", &fast_rules());
    let prom = Prometheus::start(
        &prometheus_config(running.addr, &[healthy_url.clone(), refused_url.clone()]),
        &dir,
    );

    // Both targets scraped, through the exporter, labelled by their URL.
    let success = support::wait_for(Duration::from_secs(20), || {
        let rows = prom.query("probe_success{job=\"netdiag_http\"}");
        (rows.len() == 2).then_some(rows)
    })
    .unwrap_or_else(|| {
        panic!(
            "no probe_success for both targets\n{}\n{}",
            prom.log_tail(),
            running.log_tail()
        )
    });
    let value_of = |url: &str| {
        success
            .iter()
            .find(|(l, _)| l["instance"] == url)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no series for {url}: {success:?}"))
    };
    assert_eq!(value_of(&healthy_url), 1.0, "{}", exporter.name());
    assert_eq!(value_of(&refused_url), 0.0, "{}", exporter.name());
    let targets = prom.targets();
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert!(targets.iter().all(|t| t["health"] == "up"), "{targets:?}");

    // The alert fires for the refused target, never for the healthy one.
    let alert = support::wait_for(Duration::from_secs(20), || firing_for(&prom, &refused_url))
        .unwrap_or_else(|| panic!("NetdiagProbeFailing never fired: {:?}", prom.alerts()));
    assert!(
        firing_for(&prom, &healthy_url).is_none(),
        "{:?}",
        prom.alerts()
    );

    // The dashboard's queries are valid PromQL for this Prometheus (`api` asserts success).
    for expr in support::dashboard_queries() {
        let _ = prom.api(&format!("/api/v1/query?query={}", support::encode(&expr)));
    }

    if let Exporter::Netdiag(_) = exporter {
        let refused = Cause::TcpRefused.code();
        let info = prom.query(&format!(
            "probe_failure_info{{layer=\"tcp\",cause=\"{refused}\"}}"
        ));
        assert!(
            info.iter()
                .any(|(l, v)| l["instance"] == refused_url.as_str() && *v == 1.0),
            "no probe_failure_info with the cause: {info:?}"
        );
        assert!(
            prom.query("probe_failure_info")
                .iter()
                .all(|(l, _)| l["instance"] != healthy_url.as_str()),
            "a passing probe carries probe_failure_info"
        );
        assert_eq!(alert["labels"]["cause"], refused, "{alert}");
        let summary = alert["annotations"]["summary"].as_str().unwrap_or_default();
        assert!(
            summary.contains(refused) && summary.contains("layer tcp"),
            "{summary}"
        );
    } else {
        // blackbox gives no cause: the same alert fires without one.
        assert!(alert["labels"].get("cause").is_none(), "{alert}");
    }
}

#[test]
fn prometheus_scrapes_blackbox_through_relabelling_and_the_alert_fires() {
    require_bin!(support::BLACKBOX, support::PROMETHEUS);
    scrape_and_alert(&Exporter::Blackbox);
}

#[test]
fn prometheus_scrapes_netdiag_serve_and_the_alert_names_the_cause() {
    require_bin!(support::PROMETHEUS);
    scrape_and_alert(&Exporter::netdiag());
}
