//! The differential test: the same modules and local targets asked of blackbox_exporter (Debian
//! 12's 0.23, the reference) and of `netdiag serve`, compared series by series with
//! `support::compare` — same names, same label sets, same values except timing series, allowing
//! only the deliberate differences in `support::DELIBERATE` (docs/monitoring.md lists them).
//!
//! The blackbox half runs now and checks the harness: each case's known blackbox behaviour
//! (research/prober-anchors.md §2: P1, P14, P15, P21, T1, T10, D1, D3, D6), `promtool check
//! metrics` on every answer, and two runs of blackbox compared with each other (the comparator
//! must find nothing). The netdiag half is ignored until `netdiag serve` is merged; it also
//! asserts the cause each failure must carry. The `silent` cases (a peer that drops the SYN and
//! the DNS query) run in network namespaces, only as root with `NETDIAG_NETNS_TESTS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use netdiag_core::Cause;
use std::net::SocketAddr;
use support::fixtures::{self, DnsMode, Server};
use support::{Exporter, RunningExporter, Sample, TempDir};

/// The modules under test, valid for both exporters.
const MODULES: &str = "modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  http_404_expected:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [404]
  https_insecure:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      tls_config:
        insecure_skip_verify: true
  tcp_connect:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
  tcp_ip6_only:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip6
      ip_protocol_fallback: false
  dns_udp:
    prober: dns
    timeout: 3s
    dns:
      preferred_ip_protocol: ip4
      transport_protocol: udp
      query_name: probe.netdiag.test
      query_type: A
";

/// One (module, target) pair and what is known about its answer.
struct Case {
    name: &'static str,
    module: &'static str,
    target: String,
    success: bool,
    /// Series (as `Sample::key`) and the value blackbox gives them.
    values: Vec<(&'static str, f64)>,
    /// Name prefixes blackbox never emits in this situation.
    absent: Vec<&'static str>,
    /// On failure, the causes netdiag may name (any one of them).
    causes: Vec<Cause>,
}

/// A case with no absent series and no causes (filled in with `..case(...)`).
fn case(
    name: &'static str,
    module: &'static str,
    target: String,
    success: bool,
    values: Vec<(&'static str, f64)>,
) -> Case {
    Case {
        name,
        module,
        target,
        success,
        values,
        absent: vec![],
        causes: vec![],
    }
}

/// The local targets; they live as long as the returned servers.
fn cases() -> (Vec<Server>, Vec<Case>) {
    let http = fixtures::http_server();
    let https = fixtures::https_self_signed();
    let dns = [
        fixtures::dns_server(DnsMode::Answer),
        fixtures::dns_server(DnsMode::Refused),
        fixtures::dns_server(DnsMode::Servfail),
    ];
    let refused = fixtures::refused_port();
    let mut cases = web_cases(http.addr, https.addr, refused);
    cases.extend(tcp_dns_cases(
        http.addr,
        refused,
        [dns[0].addr, dns[1].addr, dns[2].addr],
    ));
    let [a, b, c] = dns;
    (vec![http, https, a, b, c], cases)
}

/// http and https modules.
fn web_cases(http: SocketAddr, https: SocketAddr, refused: SocketAddr) -> Vec<Case> {
    let c = case;
    vec![
        c(
            "http healthy",
            "http_2xx",
            format!("http://{http}/"),
            true,
            vec![
                ("probe_http_status_code{}", 200.0),
                ("probe_http_ssl{}", 0.0),
                ("probe_http_content_length{}", 21.0),
            ],
        ),
        Case {
            causes: vec![Cause::TcpRefused],
            ..c(
                "http refused",
                "http_2xx",
                format!("http://{refused}/"),
                false,
                vec![
                    ("probe_http_status_code{}", 0.0),
                    ("probe_http_version{}", 0.0),
                ],
            )
        },
        Case {
            causes: vec![Cause::Http4xx],
            ..c(
                "http 404",
                "http_2xx",
                format!("http://{http}/status/404"),
                false,
                vec![("probe_http_status_code{}", 404.0)],
            )
        },
        c(
            "http 404 listed as valid",
            "http_404_expected",
            format!("http://{http}/status/404"),
            true,
            vec![("probe_http_status_code{}", 404.0)],
        ),
        Case {
            causes: vec![Cause::Http5xx],
            ..c(
                "http 503",
                "http_2xx",
                format!("http://{http}/status/503"),
                false,
                vec![("probe_http_status_code{}", 503.0)],
            )
        },
        Case {
            absent: vec!["probe_ssl_", "probe_tls_version_info"],
            causes: vec![Cause::TlsSelfSigned],
            ..c(
                "https self-signed, verified",
                "http_2xx",
                format!("https://{https}/"),
                false,
                vec![("probe_http_ssl{}", 0.0)],
            )
        },
        c(
            "https self-signed, insecure_skip_verify",
            "https_insecure",
            format!("https://{https}/"),
            true,
            vec![
                ("probe_http_ssl{}", 1.0),
                ("probe_http_status_code{}", 200.0),
                ("probe_tls_version_info{version=\"TLS 1.3\"}", 1.0),
                (
                    "probe_ssl_last_chain_expiry_timestamp_seconds{}",
                    -62_135_596_800.0,
                ),
            ],
        ),
    ]
}

/// tcp and dns modules; `dns` answers, refuses and fails, in that order.
fn tcp_dns_cases(open: SocketAddr, refused: SocketAddr, dns: [SocketAddr; 3]) -> Vec<Case> {
    let c = case;
    let [dns_ok, dns_refused, dns_servfail] = dns;
    vec![
        c(
            "tcp healthy",
            "tcp_connect",
            open.to_string(),
            true,
            vec![("probe_ip_protocol{}", 4.0)],
        ),
        Case {
            causes: vec![Cause::TcpRefused],
            ..c(
                "tcp refused",
                "tcp_connect",
                refused.to_string(),
                false,
                vec![("probe_failed_due_to_regex{}", 0.0)],
            )
        },
        Case {
            causes: vec![Cause::DnsNodata],
            ..c(
                "tcp, no address of the only family allowed",
                "tcp_ip6_only",
                refused.to_string(),
                false,
                vec![("probe_ip_protocol{}", 0.0), ("probe_ip_addr_hash{}", 0.0)],
            )
        },
        c(
            "dns answer",
            "dns_udp",
            dns_ok.to_string(),
            true,
            vec![
                ("probe_dns_answer_rrs{}", 2.0),
                ("probe_dns_authority_rrs{}", 0.0),
                ("probe_dns_additional_rrs{}", 0.0),
                ("probe_dns_query_succeeded{}", 1.0),
            ],
        ),
        Case {
            causes: vec![Cause::DnsRefused],
            ..c(
                "dns refused",
                "dns_udp",
                dns_refused.to_string(),
                false,
                vec![
                    ("probe_dns_answer_rrs{}", 0.0),
                    ("probe_dns_query_succeeded{}", 1.0),
                ],
            )
        },
        Case {
            causes: vec![Cause::DnsServfail],
            ..c(
                "dns servfail",
                "dns_udp",
                dns_servfail.to_string(),
                false,
                vec![("probe_dns_query_succeeded{}", 1.0)],
            )
        },
        Case {
            causes: vec![
                Cause::DnsNameserverUnreachable,
                Cause::DnsTimeout,
                Cause::UdpPortUnreachable,
            ],
            ..c(
                "dns closed port",
                "dns_udp",
                refused.to_string(),
                false,
                vec![("probe_dns_query_succeeded{}", 0.0)],
            )
        },
    ]
}

/// What blackbox is known to answer for `case` (the harness's self-check).
fn check_known_behaviour(case: &Case, samples: &[Sample]) {
    let keys: Vec<String> = samples.iter().map(Sample::key).collect();
    let success = support::value(samples, "probe_success");
    assert_eq!(
        success,
        Some(if case.success { 1.0 } else { 0.0 }),
        "{}: {keys:?}",
        case.name
    );
    // Debian 12's 0.23 predates probe_timeout_seconds (see support::DELIBERATE).
    assert!(
        support::value(samples, "probe_duration_seconds").is_some(),
        "{}",
        case.name
    );
    for (key, want) in &case.values {
        let got = samples.iter().find(|s| s.key() == *key).map(|s| s.value);
        assert_eq!(got, Some(*want), "{}: {key} in {keys:?}", case.name);
    }
    for prefix in &case.absent {
        assert!(
            !keys.iter().any(|k| k.starts_with(prefix)),
            "{}: {prefix}* present: {keys:?}",
            case.name
        );
    }
}

/// `promtool check metrics` on one answer (skipped without promtool).
fn lint(case: &Case, body: &str) {
    if !support::have(support::PROMTOOL) {
        return;
    }
    use std::io::Write;
    let mut child = std::process::Command::new(support::PROMTOOL)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "{}: promtool check metrics: {}{}",
        case.name,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ask(exporter: &RunningExporter, case: &Case) -> (String, Vec<Sample>) {
    let r = exporter.probe(&case.target, case.module);
    assert_eq!(r.status, 200, "{}: {}", case.name, r.body);
    let samples = support::parse_exposition(&r.body)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", case.name, r.body));
    (r.body, samples)
}

#[test]
fn blackbox_answers_as_known_and_the_comparator_finds_two_runs_equal() {
    require_bin!(support::BLACKBOX);
    let dir = TempDir::new("diff-blackbox");
    let (_servers, cases) = cases();
    let blackbox = Exporter::Blackbox.start(MODULES, &dir);
    for case in &cases {
        let (body, first) = ask(&blackbox, case);
        check_known_behaviour(case, &first);
        lint(case, &body);
        let (_, second) = ask(&blackbox, case);
        let diffs = support::compare(&first, &second, &[]);
        assert!(
            diffs.is_empty(),
            "{}: blackbox differs from itself:\n{}",
            case.name,
            diffs.join("\n")
        );
    }
}

#[test]
fn netdiag_serve_answers_like_blackbox_plus_the_cause() {
    require_bin!(support::BLACKBOX);
    let dir = TempDir::new("diff-netdiag");
    let (_servers, cases) = cases();
    let blackbox = Exporter::Blackbox.start(MODULES, &dir);
    let netdiag = Exporter::netdiag().start(MODULES, &dir);
    let mut failures = Vec::new();
    for case in &cases {
        let (_, reference) = ask(&blackbox, case);
        let (body, candidate) = ask(&netdiag, case);
        lint(case, &body);
        for d in support::compare(&reference, &candidate, support::DELIBERATE) {
            failures.push(format!("{}: {d}", case.name));
        }
        let info: Vec<&Sample> = candidate
            .iter()
            .filter(|s| s.name == "probe_failure_info")
            .collect();
        if case.success {
            if !info.is_empty() {
                failures.push(format!(
                    "{}: probe_failure_info on a passing probe",
                    case.name
                ));
            }
        } else {
            let named = info
                .iter()
                .filter_map(|s| s.label("cause"))
                .any(|c| case.causes.iter().any(|want| want.code() == c));
            if info.len() != 1 || !named {
                let want: Vec<&str> = case.causes.iter().map(|c| c.code()).collect();
                let got: Vec<String> = info.iter().map(|s| s.key()).collect();
                failures.push(format!(
                    "{}: want one probe_failure_info with cause in {want:?}, got {got:?}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_parser_reads_labels_escapes_and_special_values() {
    let text = "# HELP probe_success Displays whether or not the probe was a success\n\
                # TYPE probe_success gauge\n\
                probe_success 1\n\
                probe_http_duration_seconds{phase=\"connect\"} 0.000123\n\
                probe_ssl_last_chain_info{subject=\"CN=a\\\"b\\\\c\",fingerprint_sha256=\"ab\"} 1 1700000000000\n\
                probe_x{a=\"x,y}\"} +Inf\n\
                probe_y NaN\n\
                probe_ssl_last_chain_expiry_timestamp_seconds -6.21355968e+10\n";
    let samples = support::parse_exposition(text).unwrap();
    assert_eq!(samples.len(), 6);
    assert_eq!(samples[0].key(), "probe_success{}");
    assert_eq!(samples[1].label("phase"), Some("connect"));
    // Labels sorted by name; escapes undone.
    assert_eq!(samples[2].labels[0].0, "fingerprint_sha256");
    assert_eq!(samples[2].label("subject"), Some("CN=a\"b\\c"));
    assert_eq!(samples[3].label("a"), Some("x,y}"));
    assert!(samples[3].value.is_infinite());
    assert!(samples[4].value.is_nan());
    assert_eq!(samples[5].value, -62_135_596_800.0);
    for bad in [
        "probe{a=\"x} 1",
        "probe{a=x} 1",
        "probe",
        "pro-be 1",
        "probe one",
    ] {
        assert!(support::parse_exposition(bad).is_err(), "{bad}");
    }
}

fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    labels.sort();
    Sample {
        name: name.into(),
        labels,
        value,
    }
}

#[test]
fn the_comparator_ignores_timing_and_allows_only_the_deliberate_differences() {
    let reference = vec![
        sample("probe_success", &[], 0.0),
        sample("probe_duration_seconds", &[], 0.01),
        sample(
            "probe_http_duration_seconds",
            &[("phase", "connect")],
            0.001,
        ),
        sample("probe_http_ssl", &[], 0.0),
        sample("probe_ssl_last_chain_info", &[("subject", "CN=x")], 1.0),
    ];
    let mut candidate = vec![
        sample("probe_success", &[], 0.0),
        sample("probe_duration_seconds", &[], 0.5),
        sample("probe_http_duration_seconds", &[("phase", "connect")], 0.2),
        sample("probe_http_ssl", &[], 0.0),
        sample(
            "probe_ssl_last_chain_info",
            &[("serialnumber", "01"), ("subject", "CN=x")],
            1.0,
        ),
        sample(
            "probe_failure_info",
            &[("cause", Cause::TlsSelfSigned.code()), ("layer", "tls")],
            1.0,
        ),
        sample("netdiag_layer_success", &[("layer", "tls")], 0.0),
        sample("probe_ssl_earliest_cert_expiry", &[], 1.8e9),
    ];
    assert_eq!(
        support::compare(&reference, &candidate, support::DELIBERATE),
        Vec::<String>::new()
    );
    // Without the deliberate list every addition and the extra label are differences.
    assert_eq!(support::compare(&reference, &candidate, &[]).len(), 5);
    // A non-timing value, a missing series and an undocumented extra are always differences.
    candidate[3].value = 1.0;
    candidate.remove(0);
    candidate.push(sample("probe_http_version", &[], 1.1));
    let diffs = support::compare(&reference, &candidate, support::DELIBERATE);
    assert_eq!(diffs.len(), 3, "{diffs:?}");
    assert!(diffs.iter().any(|d| d.starts_with("value: probe_http_ssl")));
    assert!(diffs
        .iter()
        .any(|d| d.starts_with("missing: probe_success")));
    assert!(diffs
        .iter()
        .any(|d| d.starts_with("extra: probe_http_version")));
    assert!(support::is_timing("probe_dns_lookup_time_seconds"));
    assert!(!support::is_timing("probe_timeout_seconds"));
    assert!(!support::is_timing(
        "probe_ssl_last_chain_expiry_timestamp_seconds"
    ));
}

#[test]
fn the_dns_fixture_answers_like_a_server() {
    // A query for probe.netdiag.test A with RD set, id 0x1234.
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["probe", "netdiag", "test"] {
        q.push(u8::try_from(label.len()).unwrap());
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let r = fixtures::dns_reply(&q, DnsMode::Answer).unwrap();
    assert_eq!(&r[0..4], &[0x12, 0x34, 0x81, 0x80]);
    assert_eq!(&r[6..8], &[0, 2]);
    assert_eq!(
        fixtures::dns_reply(&q, DnsMode::Refused).unwrap()[3] & 0x0F,
        5
    );
    assert!(fixtures::dns_reply(&q[..11], DnsMode::Answer).is_none());
    assert!(
        fixtures::dns_reply(&r, DnsMode::Answer).is_none(),
        "a response is not answered"
    );
}

mod props {
    use super::support;
    use proptest::prelude::*;

    fn escape(v: &str) -> String {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn rendered_samples_parse_back(
            name in "[a-z_][a-z0-9_]{0,20}",
            labels in proptest::collection::btree_map("[a-z_][a-z0-9_]{0,8}", any::<String>(), 0..4),
            value in -1e12f64..1e12,
        ) {
            let rendered: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let line = format!("{name}{{{}}} {value}\n", rendered.join(","));
            let parsed = support::parse_exposition(&line).unwrap();
            prop_assert_eq!(parsed.len(), 1);
            prop_assert_eq!(&parsed[0].name, &name);
            let want: Vec<(String, String)> = labels.into_iter().collect();
            prop_assert_eq!(&parsed[0].labels, &want);
            prop_assert_eq!(parsed[0].value, value);
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = support::parse_exposition(&text);
        }
    }
}

/// Silent targets need a namespace: a peer whose firewall drops the SYN and the DNS query
/// without answering (on loopback the kernel always answers). The exporter runs inside the
/// prober's namespace and is asked with curl there.
mod silent {
    use super::support::{self, Exporter, Sample};
    use netdiag_core::Cause;
    use netdiag_testnet::{require_netns, Node, Result, Testnet};
    use std::time::Duration;

    const PROBER: &str = "10.77.3.1";
    const SILENT: &str = "10.77.3.2";

    /// Module timeouts of 2 s: a silent target costs the whole timeout.
    const MODULES: &str = "modules:
  http_2xx:
    prober: http
    timeout: 2s
    http:
      preferred_ip_protocol: ip4
  tcp_connect:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
  dns_udp:
    prober: dns
    timeout: 2s
    dns:
      preferred_ip_protocol: ip4
      transport_protocol: udp
      query_name: probe.netdiag.test
      query_type: A
";

    /// (case, module, target, the causes netdiag may name).
    fn cases() -> Vec<(&'static str, &'static str, String, Vec<Cause>)> {
        vec![
            (
                "http silent",
                "http_2xx",
                format!("http://{SILENT}:8080/"),
                vec![Cause::TcpTimeout],
            ),
            (
                "tcp silent",
                "tcp_connect",
                format!("{SILENT}:8080"),
                vec![Cause::TcpTimeout],
            ),
            (
                "dns silent",
                "dns_udp",
                format!("{SILENT}:53"),
                vec![
                    Cause::DnsTimeout,
                    Cause::DnsNameserverUnreachable,
                    Cause::UdpNoResponse,
                ],
            ),
        ]
    }

    fn lab() -> Result<(Testnet, Node)> {
        let net = Testnet::new("bbsilent")?;
        let prober = net.host("p")?;
        let silent = net.host("s")?;
        net.link(
            &prober,
            &format!("{PROBER}/24"),
            &silent,
            &format!("{SILENT}/24"),
        )?;
        silent.run("iptables -w -A INPUT -p tcp --dport 8080 -j DROP")?;
        silent.run("iptables -w -A INPUT -p udp --dport 53 -j DROP")?;
        Ok((net, prober))
    }

    /// Starts `exporter` inside `node` on `port` (a fresh namespace: any port is free).
    fn start(net: &Testnet, node: &Node, exporter: &Exporter, port: u16) -> Result<()> {
        let config = net.write_file(&format!("exporter-{port}.yml"), MODULES)?;
        let config = config.display().to_string();
        let listen = format!("127.0.0.1:{port}");
        match exporter {
            Exporter::Blackbox => node.spawn_server(
                "blackbox",
                support::BLACKBOX,
                &[
                    &format!("--config.file={config}"),
                    &format!("--web.listen-address={listen}"),
                ],
                &listen,
            ),
            Exporter::Netdiag(bin) => node.spawn_server(
                "netdiag-serve",
                &bin.display().to_string(),
                &[
                    "serve",
                    "--config.file",
                    &config,
                    "--web.listen-address",
                    &listen,
                ],
                &listen,
            ),
        }
    }

    fn ask(node: &Node, port: u16, module: &str, target: &str) -> Result<Vec<Sample>> {
        let url = format!(
            "http://127.0.0.1:{port}/probe?module={module}&target={}",
            support::encode(target)
        );
        let run = node.command(
            "curl",
            &["-sS", "--max-time", "15", &url],
            Duration::from_secs(20),
        )?;
        assert_eq!(run.status, Some(0), "{url}: {}", run.stderr);
        Ok(support::parse_exposition(&run.stdout)
            .unwrap_or_else(|e| panic!("{url}: {e}\n{}", run.stdout)))
    }

    #[test]
    fn blackbox_fails_a_silent_target_after_the_module_timeout() -> Result<()> {
        require_netns!();
        if !support::have(support::BLACKBOX) {
            assert!(
                std::env::var_os("CI").is_none(),
                "blackbox_exporter is missing in CI"
            );
            return Ok(());
        }
        let (net, prober) = lab()?;
        start(&net, &prober, &Exporter::Blackbox, 9115)?;
        for (name, module, target, _) in cases() {
            let started = std::time::Instant::now();
            let samples = ask(&prober, 9115, module, &target)?;
            assert_eq!(
                support::value(&samples, "probe_success"),
                Some(0.0),
                "{name}: {samples:?}"
            );
            assert!(
                started.elapsed() >= Duration::from_millis(1500),
                "{name}: answered too fast"
            );
            if module == "dns_udp" {
                assert_eq!(
                    support::value(&samples, "probe_dns_query_succeeded"),
                    Some(0.0),
                    "{name}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn netdiag_serve_fails_a_silent_target_like_blackbox_and_names_the_timeout() -> Result<()> {
        require_netns!();
        if !support::have(support::BLACKBOX) {
            assert!(
                std::env::var_os("CI").is_none(),
                "blackbox_exporter is missing in CI"
            );
            return Ok(());
        }
        let (net, prober) = lab()?;
        start(&net, &prober, &Exporter::Blackbox, 9115)?;
        start(&net, &prober, &Exporter::netdiag(), 9116)?;
        let mut failures = Vec::new();
        for (name, module, target, causes) in cases() {
            let reference = ask(&prober, 9115, module, &target)?;
            let candidate = ask(&prober, 9116, module, &target)?;
            for d in support::compare(&reference, &candidate, support::DELIBERATE) {
                failures.push(format!("{name}: {d}"));
            }
            let named: Vec<&str> = candidate
                .iter()
                .filter(|s| s.name == "probe_failure_info")
                .filter_map(|s| s.label("cause"))
                .collect();
            if named.len() != 1 || !causes.iter().any(|c| c.code() == named[0]) {
                failures.push(format!("{name}: causes {named:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        Ok(())
    }
}
