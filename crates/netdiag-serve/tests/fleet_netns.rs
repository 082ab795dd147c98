//! Fleet mode end to end, in network namespaces: a stand-in cluster of three nodes, each running
//! its own `netdiag serve --fleet.node node-N` with scheduled checks, a real Prometheus scraping
//! them, and `netdiag fleet report` reading the results back and naming which node fails which
//! layer and why.
//!
//! ```text
//!   n1 10.77.1.2 ─┐
//!   n2 10.77.2.2 ─┼─ core (router; Prometheus on its 127.0.0.1:9090) ── svc 10.77.10.2
//!   n3 10.77.3.2 ─┘                                                      db :5432, dnsmasq :53
//! ```
//!
//! The faults are real ones, made where they happen in a cluster:
//! - an iptables DROP of the database port in node-3's namespace (its own firewall): node-3 alone
//!   sees `tcp_timeout`, node-1 and node-2 pass;
//! - a dead first nameserver in node-2's resolv.conf (bind-mounted over `/etc/resolv.conf` in
//!   that member's own mount namespace, which `ip netns exec` gave it): node-2 alone sees
//!   `dns_nameserver_unreachable` in the walk of `tcp://db.svc.test:5432`.
//!
//! Network safety: the namespaces are joined only to each other (no link to the host's
//! namespace), and every configured target is an address inside them or loopback. Every wait is
//! bounded; namespaces, processes and files go when the [`Testnet`] is dropped, also on a panic.
//! Gated with `NETDIAG_NETNS_TESTS=1` (and root); needs `prometheus`, `dnsmasq`, `curl`,
//! `iptables` and a built `netdiag` (`NETDIAG_BIN` or `$CARGO_TARGET_DIR/debug/netdiag`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use netdiag_testnet::{require_netns, Dnsmasq, Node, Result, Run, TcpConnect, Testnet};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::Exporter;

/// The services namespace: the database listener and the cluster's nameserver.
const SERVICES: &str = "10.77.10.2";
/// A second address of the services namespace where nothing answers DNS (a stale nameserver).
const DEAD_NAMESERVER: &str = "10.77.10.3";
/// The database's port.
const DB_PORT: u16 = 5432;
/// Where each member listens, on its node's address.
const MEMBER_PORT: u16 = 9115;
/// Prometheus, on the core namespace's loopback (it reaches every member from there).
const PROMETHEUS: &str = "127.0.0.1:9090";
/// The members' `--fleet.node` names; member `i` runs in namespace `n{i+1}` at [`member_ip`].
const NODES: [&str; 3] = ["node-1", "node-2", "node-3"];
/// The name the dnsmasq serves and the walk resolves.
const DB_NAME: &str = "db.svc.test";

fn member_ip(i: usize) -> String {
    format!("10.77.{}.2", i + 1)
}

fn db_target() -> String {
    format!("{SERVICES}:{DB_PORT}")
}

fn netdiag_bin() -> PathBuf {
    match Exporter::netdiag() {
        Exporter::Netdiag(bin) => bin,
        Exporter::Blackbox => unreachable!("Exporter::netdiag is netdiag"),
    }
}

/// Whether a program the scenario runs is missing (the test then skips; CI installs them all).
fn tools_missing() -> bool {
    for tool in [support::PROMETHEUS, "dnsmasq", "dig", "curl", "iptables"] {
        if !support::have(tool) {
            assert!(std::env::var_os("CI").is_none(), "{tool} is missing in CI");
            eprintln!("skipped: {tool} is not installed");
            return true;
        }
    }
    false
}

/// The stand-in cluster: a router, the services namespace and three node namespaces.
struct Cluster {
    net: Testnet,
    core: Node,
    services: Node,
    nodes: Vec<Node>,
}

/// Builds the topology and starts the services: a TCP listener for the database and a dnsmasq
/// answering `db.svc.test` (authoritative for `test.`).
fn cluster(tag: &str) -> Result<Cluster> {
    let bin = netdiag_bin();
    assert!(
        bin.exists(),
        "{} does not exist: `cargo build -p netdiag` or set NETDIAG_BIN",
        bin.display()
    );
    let net = Testnet::new(tag)?;
    net.set_netdiag(&bin);
    let core = net.router("core")?;
    let services = net.host("svc")?;
    net.link(&core, "10.77.10.1/24", &services, &format!("{SERVICES}/24"))?;
    services.default_route("10.77.10.1")?;
    let mut nodes = Vec::new();
    for i in 0..NODES.len() {
        let node = net.host(&format!("n{}", i + 1))?;
        let gateway = format!("10.77.{}.1", i + 1);
        net.link(
            &core,
            &format!("{gateway}/24"),
            &node,
            &format!("{}/24", member_ip(i)),
        )?;
        node.default_route(&gateway)?;
        nodes.push(node);
    }
    services.listen_tcp(&db_target())?;
    services.dnsmasq(
        Dnsmasq::on(SERVICES)
            .authoritative_for("test")
            .host(DB_NAME, SERVICES),
    )?;
    Ok(Cluster {
        net,
        core,
        services,
        nodes,
    })
}

impl Cluster {
    /// Starts member `i` with `config`. With `resolv_conf`, the member first bind-mounts it (and
    /// a minimal hosts and nsswitch.conf) over the `/etc` files inside its own mount namespace,
    /// which is what the walk reads: nothing of the host's resolver configuration is used.
    fn start_member(&self, i: usize, config: &str, resolv_conf: Option<&Path>) -> Result<()> {
        let config = self
            .net
            .write_file(&format!("member-{}.yml", i + 1), config)?;
        let listen = format!("{}:{MEMBER_PORT}", member_ip(i));
        let bin = netdiag_bin().display().to_string();
        let config = config.display().to_string();
        let serve = [
            bin.as_str(),
            "serve",
            "--config.file",
            &config,
            "--web.listen-address",
            &listen,
            "--fleet.node",
            NODES[i],
        ];
        let node = &self.nodes[i];
        let Some(resolv_conf) = resolv_conf else {
            return node.spawn_server("serve", serve[0], &serve[1..], &listen);
        };
        let hosts = self.net.hosts_file(&["127.0.0.1 localhost"])?;
        let nsswitch = self.net.write_file("nsswitch.conf", "hosts: files dns\n")?;
        let mut script = String::new();
        for (file, over) in [
            (resolv_conf, "/etc/resolv.conf"),
            (hosts.as_path(), "/etc/hosts"),
            (nsswitch.as_path(), "/etc/nsswitch.conf"),
        ] {
            script.push_str(&format!("mount --bind '{}' {over} && ", file.display()));
        }
        script.push_str("exec");
        for word in serve {
            script.push_str(&format!(" '{word}'"));
        }
        node.spawn_server("serve", "sh", &["-c", &script], &listen)
    }

    /// Starts Prometheus in the core namespace, scraping the three members every second, and
    /// waits until it is ready.
    fn start_prometheus(&self) -> Result<()> {
        let targets: Vec<String> = (0..NODES.len())
            .map(|i| format!("'{}:{MEMBER_PORT}'", member_ip(i)))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n- job_name: netdiag\n  static_configs:\n  - targets: [{}]\n",
            targets.join(", ")
        );
        let config = self.net.write_file("prometheus.yml", &config)?;
        let data = self.net.dir().join("prometheus-data");
        self.core.spawn_server(
            "prometheus",
            support::PROMETHEUS,
            &[
                &format!("--config.file={}", config.display()),
                &format!("--storage.tsdb.path={}", data.display()),
                &format!("--web.listen-address={PROMETHEUS}"),
                "--log.level=warn",
            ],
            PROMETHEUS,
        )?;
        let ready = support::wait_for(Duration::from_secs(20), || {
            let run = self.curl(&format!("http://{PROMETHEUS}/-/ready"))?;
            (run.status == Some(0)).then_some(())
        });
        assert!(ready.is_some(), "Prometheus not ready\n{}", self.logs());
        Ok(())
    }

    fn curl(&self, url: &str) -> Option<Run> {
        self.core
            .command(
                "curl",
                &["-sS", "--fail", "--max-time", "5", url],
                Duration::from_secs(10),
            )
            .ok()
    }

    /// An instant query from the test's side: the result vector as (labels, value).
    fn query(&self, expr: &str) -> Option<Vec<(Value, f64)>> {
        let url = format!(
            "http://{PROMETHEUS}/api/v1/query?query={}",
            support::encode(expr)
        );
        let run = self.curl(&url)?;
        let doc: Value = serde_json::from_str(&run.stdout).ok()?;
        let result = doc.pointer("/data/result")?.as_array()?;
        Some(
            result
                .iter()
                .map(|item| {
                    let value = item["value"][1]
                        .as_str()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(f64::NAN);
                    (item["metric"].clone(), value)
                })
                .collect(),
        )
    }

    /// Waits (at most 30 s) until Prometheus has `expr`'s series for every (node, module) in
    /// `want`, each with the value wanted.
    fn wait_series(&self, expr: &str, want: &[(&str, &str, f64)]) {
        let seen = support::wait_for(Duration::from_secs(30), || {
            let result = self.query(expr)?;
            want.iter()
                .all(|(node, module, value)| {
                    result.iter().any(|(labels, v)| {
                        labels["node"] == *node && labels["module"] == *module && v == value
                    })
                })
                .then_some(())
        });
        assert!(
            seen.is_some(),
            "Prometheus never had {expr} = {want:?}; it has {:?}\n{}",
            self.query(expr),
            self.logs()
        );
    }

    /// `netdiag fleet report --since 2m` from the core namespace.
    fn report(&self, format: &str) -> Result<Run> {
        self.report_with(format, &[])
    }

    /// [`Cluster::report`] with extra flags (`--selector`).
    fn report_with(&self, format: &str, extra: &[&str]) -> Result<Run> {
        let prometheus = format!("http://{PROMETHEUS}");
        let mut args = vec![
            "fleet",
            "report",
            "--prometheus",
            &prometheus,
            "--since",
            "2m",
            "--format",
            format,
            "--timeout",
            "10s",
        ];
        args.extend_from_slice(extra);
        self.core.netdiag(&args)
    }

    /// The members' and Prometheus' logs, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(self.net.dir()) else {
            return out;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
        {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            out.push_str(&format!("--- {}:\n{tail}\n", path.display()));
        }
        out
    }
}

/// The findings of a JSON report that name `node`.
fn findings_naming<'a>(report: &'a Value, node: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| {
            f["nodes"]
                .as_array()
                .is_some_and(|ns| ns.iter().any(|n| n == node))
        })
        .collect()
}

/// The nodes of every failure in a JSON report.
fn failing_nodes(report: &Value) -> Vec<String> {
    let mut nodes: Vec<String> = report["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["node"].as_str().map(str::to_owned))
        .collect();
    nodes.sort();
    nodes.dedup();
    nodes
}

/// Scheduled checks of every member: the database's port over TCP and the cluster nameserver.
fn tcp_and_dns_config() -> String {
    format!(
        "modules:
  db_tcp:
    prober: tcp
    timeout: 1s
    tcp:
      preferred_ip_protocol: ip4
  cluster_dns:
    prober: dns
    timeout: 1s
    dns:
      query_name: {DB_NAME}
      query_type: A
      transport_protocol: udp
      preferred_ip_protocol: ip4
schedule:
- target: {db}
  module: db_tcp
  interval: 2s
- target: {SERVICES}:53
  module: cluster_dns
  interval: 2s
",
        db = db_target()
    )
}

/// How long the cluster stays healthy before the fault. The report reads its window at a 15 s
/// step (its floor), so a healthy stretch this long holds at least one healthy point of every
/// check: the fault then shows as a change from passing to failing, not as a check that always
/// failed.
const HEALTHY_STRETCH: Duration = Duration::from_secs(17);

/// Every check passes on every node, for [`HEALTHY_STRETCH`]; the report says healthy, exit 0.
fn healthy_phase(c: &Cluster) -> Result<()> {
    let all_pass: Vec<(&str, &str, f64)> = NODES
        .iter()
        .flat_map(|n| [(*n, "db_tcp", 1.0), (*n, "cluster_dns", 1.0)])
        .collect();
    c.wait_series("probe_success{job=\"netdiag\"}", &all_pass);
    // A bounded, fixed wait: the history the fault phase needs.
    std::thread::sleep(HEALTHY_STRETCH);
    c.wait_series("probe_success{job=\"netdiag\"}", &all_pass);
    let run = c.report("json")?;
    let report = run.json.as_ref().unwrap_or_else(|| panic!("not JSON{run}"));
    assert_eq!(run.status, Some(0), "{run}");
    assert_eq!(report["schema"], "netdiag.fleet/v1", "{run}");
    assert_eq!(report["healthy"], true, "{run}");
    assert_eq!(
        (report["nodes"].as_u64(), report["checks"].as_u64()),
        (Some(3), Some(6)),
        "{run}"
    );
    assert_eq!(
        report["findings"].as_array().map(Vec::len),
        Some(0),
        "{run}"
    );
    assert_eq!(
        report["failures"].as_array().map(Vec::len),
        Some(0),
        "{run}"
    );
    Ok(())
}

fn assert_node3_named(run: &Run) {
    let report = run.json.as_ref().unwrap_or_else(|| panic!("not JSON{run}"));
    assert_eq!(run.status, Some(1), "{run}");
    assert_eq!(report["healthy"], false, "{run}");
    let findings = findings_naming(report, "node-3");
    let db = findings
        .iter()
        .find(|f| f["target"] == db_target().as_str())
        .unwrap_or_else(|| panic!("no finding for {} naming node-3{run}", db_target()));
    assert_eq!(db["pattern"], "one_node", "{run}");
    assert_eq!(db["state"], "failing", "{run}");
    assert_eq!(db["nodes"], serde_json::json!(["node-3"]), "{run}");
    assert_eq!(
        (db["layer"].as_str(), db["cause"].as_str()),
        (Some("tcp"), Some("tcp_timeout")),
        "{run}"
    );
    assert_eq!(
        (db["module"].as_str(), db["of"].as_u64()),
        (Some("db_tcp"), Some(3)),
        "{run}"
    );
    assert!(
        db["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("only node-3 fails tcp_timeout to 10.77.10.2:5432")),
        "{run}"
    );
    assert_eq!(failing_nodes(report), ["node-3"], "{run}");
    let failure = &report["failures"][0];
    let points = failure["points"].as_u64().unwrap_or(0);
    let failed = failure["failed_points"].as_u64().unwrap_or(0);
    assert!(
        points >= 2 && failed >= 1 && failed < points && failure["transitions"] == 1,
        "node-3 passed, then failed: {failure}{run}"
    );
    for other in ["node-1", "node-2"] {
        assert!(
            findings_naming(report, other).is_empty(),
            "{other} named{run}"
        );
    }
    let dns_failures = report["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["module"] == "cluster_dns")
        .count();
    assert_eq!(dns_failures, 0, "the DNS check passes everywhere{run}");
}

/// The finding's detail command names node-3's member, whose debug answer shows the cause.
fn follow_the_detail(c: &Cluster, run: &Run) {
    let detail = run.json.as_ref().and_then(|r| {
        r["findings"]
            .as_array()?
            .iter()
            .find(|f| f["target"] == db_target().as_str())?["detail"]
            .as_str()
            .map(str::to_owned)
    });
    let detail = detail.unwrap_or_else(|| panic!("no detail{run}"));
    let url = format!(
        "http://{}:{MEMBER_PORT}/probe?module=db_tcp&target={}&debug=true",
        member_ip(2),
        db_target()
    );
    assert_eq!(detail, format!("curl -s '{url}'"), "{run}");
    let answer = c.curl(&url).unwrap_or_else(|| panic!("{url} failed"));
    // The walk ran on node-3 and found the rule there.
    for needle in ["probe_success 0", "tcp_timeout", "--dport 5432 -j DROP"] {
        assert!(answer.stdout.contains(needle), "{needle:?} missing{answer}");
    }
}

/// A healthy cluster reports healthy (exit 0); then node-3's own firewall drops the database's
/// port, and the report names node-3 alone, at the tcp layer, with `tcp_timeout`.
#[test]
fn the_report_names_the_one_node_whose_firewall_drops_the_database() -> Result<()> {
    require_netns!();
    if tools_missing() {
        return Ok(());
    }
    let c = cluster("fleettcp")?;
    let config = tcp_and_dns_config();
    for i in 0..NODES.len() {
        c.start_member(i, &config, None)?;
    }
    c.start_prometheus()?;
    healthy_phase(&c)?;

    c.nodes[2].run(&format!(
        "iptables -w -A OUTPUT -p tcp -d {SERVICES} --dport {DB_PORT} -j DROP"
    ))?;
    let db = db_target();
    let short = Duration::from_millis(500);
    assert_eq!(c.nodes[2].tcp_connect(&db, short)?, TcpConnect::TimedOut);
    assert_eq!(c.nodes[0].tcp_connect(&db, short)?, TcpConnect::Established);
    c.wait_series(
        "probe_success{job=\"netdiag\",node=\"node-3\"}",
        &[("node-3", "db_tcp", 0.0), ("node-3", "cluster_dns", 1.0)],
    );
    c.wait_series(
        "probe_failure_info{node=\"node-3\",layer=\"tcp\",cause=\"tcp_timeout\"}",
        &[("node-3", "db_tcp", 1.0)],
    );

    let run = c.report("json")?;
    assert_node3_named(&run);
    follow_the_detail(&c, &run);

    let table = c.report("table")?;
    eprintln!("{}", table.stdout);
    assert_eq!(table.status, Some(1), "{table}");
    for needle in [
        "FAILING",
        "only node-3 fails tcp_timeout to 10.77.10.2:5432",
        "tcp_timeout",
    ] {
        assert!(table.stdout.contains(needle), "{needle:?} missing{table}");
    }
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("node-3 "))
        .unwrap_or_else(|| panic!("no failure row for node-3{table}"));
    assert!(
        row.contains("10.77.10.2:5432 (db_tcp)") && row.contains("tcp_timeout"),
        "{row}"
    );
    for other in ["node-1", "node-2"] {
        assert!(!table.stdout.contains(other), "{other} in the table{table}");
    }
    let markdown = c.report("markdown")?;
    assert_eq!(markdown.status, Some(1), "{markdown}");
    assert!(
        markdown.stdout.contains("| node-3 |") && markdown.stdout.contains("`tcp_timeout`"),
        "{markdown}"
    );
    Ok(())
}

/// The full walk of `tcp://db.svc.test:5432` from every node; node-2's resolv.conf names a dead
/// nameserver first. The report names node-2 alone, at the dns layer.
#[test]
fn the_report_names_the_one_node_whose_first_nameserver_is_dead() -> Result<()> {
    require_netns!();
    if tools_missing() {
        return Ok(());
    }
    let c = cluster("fleetdns")?;
    c.services
        .add_address("eth0", &format!("{DEAD_NAMESERVER}/24"))?;
    c.services.run(&format!(
        "iptables -w -A INPUT -d {DEAD_NAMESERVER} -p udp --dport 53 -j DROP; \
         iptables -w -A INPUT -d {DEAD_NAMESERVER} -p tcp --dport 53 -j DROP"
    ))?;
    assert_eq!(
        c.nodes[1]
            .dig(DEAD_NAMESERVER, DB_NAME, "A", &["+time=1"])?
            .status,
        None,
        "the stale nameserver must be silent"
    );
    assert!(c.nodes[1].dig(SERVICES, DB_NAME, "A", &[])?.is("NOERROR"));
    let good = c.net.resolv_conf(&[&format!("nameserver {SERVICES}")])?;
    let stale = c.net.resolv_conf(&[
        &format!("nameserver {DEAD_NAMESERVER}"),
        &format!("nameserver {SERVICES}"),
    ])?;
    let config = format!(
        "modules:
  db_walk:
    prober: netdiag
    timeout: 4s
    netdiag:
      family: ip4
schedule:
- target: tcp://{DB_NAME}:{DB_PORT}
  module: db_walk
  interval: 4s
"
    );
    for i in 0..NODES.len() {
        let resolv = if i == 1 { &stale } else { &good };
        c.start_member(i, &config, Some(resolv))?;
    }
    c.start_prometheus()?;
    c.wait_series(
        "probe_success{job=\"netdiag\"}",
        &[
            ("node-1", "db_walk", 1.0),
            ("node-2", "db_walk", 0.0),
            ("node-3", "db_walk", 1.0),
        ],
    );
    c.wait_series(
        "probe_failure_info{node=\"node-2\"}",
        &[("node-2", "db_walk", 1.0)],
    );

    let run = c.report("json")?;
    let report = run.json.as_ref().unwrap_or_else(|| panic!("not JSON{run}"));
    assert_eq!(run.status, Some(1), "{run}");
    let target = format!("tcp://{DB_NAME}:{DB_PORT}");
    let findings = findings_naming(report, "node-2");
    let f = findings
        .iter()
        .find(|f| f["target"] == target.as_str())
        .unwrap_or_else(|| panic!("no finding for {target} naming node-2{run}"));
    assert_eq!(f["pattern"], "one_node", "{run}");
    assert_eq!(f["nodes"], serde_json::json!(["node-2"]), "{run}");
    assert_eq!(
        (f["layer"].as_str(), f["cause"].as_str()),
        (Some("dns"), Some("dns_nameserver_unreachable")),
        "{run}"
    );
    assert_eq!(f["of"].as_u64(), Some(3), "{run}");
    eprintln!("{}", f["summary"]);

    // The same verdict through the scrape job's selector; none from another job's. (Times are
    // left out: each run's window ends at its own now.)
    let verdict = |r: &Value| -> Vec<String> {
        r["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                [
                    "pattern", "state", "layer", "cause", "target", "module", "nodes",
                ]
                .map(|k| f[k].to_string())
                .join(" ")
            })
            .collect()
    };
    let selected = c.report_with("json", &["--selector", "job=\"netdiag\""])?;
    assert_eq!(selected.status, Some(1), "{selected}");
    assert_eq!(
        selected.json.as_ref().map(verdict),
        Some(verdict(report)),
        "{selected}"
    );
    let other = c.report_with("json", &["--selector", "job=\"elsewhere\""])?;
    assert_eq!(other.status, Some(3), "{other}");
    assert!(
        other.stderr.contains("no probe_success series") && other.stderr.contains("elsewhere"),
        "{other}"
    );
    assert_eq!(failing_nodes(report), ["node-2"], "{run}");
    for other in ["node-1", "node-3"] {
        assert!(
            findings_naming(report, other).is_empty(),
            "{other} named{run}"
        );
    }
    Ok(())
}
