//! Host-side truth and where on the path: kernel state that is the cause (interface without
//! carrier, a next hop nobody answers ARP for), the hop after which a silent drop happens, and
//! several targets checked at once.

use crate::common::*;
use netdiag_testnet::{require_netns, Result, TcpConnect};

const ADDR: &str = "10.77.2.2:8080";

#[test]
fn silent_drop_at_server_is_located_after_the_first_router() -> Result<()> {
    require_netns!();
    let lab = lab("hostloc")?;
    lab.server.listen_tcp(ADDR)?;
    lab.server
        .run("iptables -w -A INPUT -p tcp --dport 8080 -j DROP")?;
    assert_eq!(lab.client.tcp_connect(ADDR, PROBE)?, TcpConnect::TimedOut);

    let run = lab.check(&lab.client, "tcp://10.77.2.2:8080", &["--timeout", "4s"])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_timeout");
    assert!(
        run.mentions(&format!("dropped after {ROUTER_IN} (hop 1)")),
        "{run}"
    );
    Ok(())
}

#[test]
fn interface_without_carrier_is_the_cause() -> Result<()> {
    require_netns!();
    let lab = lab("hostcarrier")?;
    lab.server.listen_tcp(ADDR)?;
    // The router's end of the client link goes down: the client's interface loses carrier and
    // keeps its routes (marked linkdown), so the walk gets as far as the connect.
    lab.router.run("ip link set eth0 down")?;
    assert_ne!(
        lab.client.tcp_connect(ADDR, PROBE)?,
        TcpConnect::Established
    );

    let run = lab.check(&lab.client, "tcp://10.77.2.2:8080", &["--timeout", "3s"])?;
    assert_diagnosis(&run, 1, Some("route"), "interface_down");
    assert!(run.mentions("no carrier"), "{run}");
    Ok(())
}

#[test]
fn next_hop_without_arp_answer_is_neighbor_failed() -> Result<()> {
    require_netns!();
    let lab = lab("hostneigh")?;
    // 10.77.1.99 is on the client's own subnet and nobody owns it.
    let run = lab.check(&lab.client, "tcp://10.77.1.99:8080", &["--timeout", "5s"])?;
    assert_diagnosis(&run, 1, Some("route"), "neighbor_failed");
    assert!(run.mentions("10.77.1.99"), "{run}");
    Ok(())
}

#[test]
fn many_targets_in_one_run() -> Result<()> {
    require_netns!();
    let lab = lab("hostmany")?;
    lab.server.listen_tcp(ADDR)?;
    let list = lab.net.write_file(
        "targets",
        "# web tier\ntcp://10.77.2.2:8080\ntcp://10.77.2.2:8081\nudp://10.77.2.2:9999\n",
    )?;
    let run = lab.check(
        &lab.client,
        "tcp://10.77.2.2:8080",
        &["--targets", &list.to_string_lossy()],
    )?;
    assert_eq!(run.status, Some(1), "{run}");
    let json = run.json.as_ref().expect("json");
    assert_eq!(json["schema"], "netdiag.reports/v1");
    assert_eq!(json["summary"]["total"], 4);
    assert_eq!(json["summary"]["healthy"], 2);
    assert_eq!(json["reports"][2]["verdict"]["cause"], "tcp_refused");
    assert_eq!(
        json["reports"][3]["verdict"]["cause"],
        "udp_port_unreachable"
    );
    Ok(())
}

#[test]
fn local_output_reject_rule_is_named_with_a_scoped_fix() -> Result<()> {
    require_netns!();
    let lab = lab("hostfw")?;
    lab.server.listen_tcp(ADDR)?;
    lab.client.run(
        "iptables -w -A OUTPUT -p tcp -d 10.77.2.2 --dport 8080 -j REJECT --reject-with icmp-admin-prohibited",
    )?;
    assert_ne!(
        lab.client.tcp_connect(ADDR, PROBE)?,
        TcpConnect::Established
    );

    let run = lab.check(&lab.client, "tcp://10.77.2.2:8080", &["--timeout", "4s"])?;
    assert_eq!(run.status, Some(1), "{run}");
    assert_eq!(run.layer(), Some("tcp"), "{run}");
    assert!(run.mentions("OUTPUT"), "{run}");
    assert!(run.mentions("REJECT"), "{run}");
    let fix = run
        .json
        .as_ref()
        .map(|j| j["verdict"]["fix"]["commands"].to_string())
        .unwrap_or_default();
    assert!(
        fix.contains("10.77.2.2/32") && fix.contains("--dport 8080"),
        "{fix}"
    );
    assert!(!fix.contains("0.0.0.0/0"), "{fix}");
    Ok(())
}

#[test]
fn evidence_bundle_holds_the_prestate_and_no_secret() -> Result<()> {
    require_netns!();
    let lab = lab("hostbundle")?;
    let bundle = lab.net.dir().join("case.tar.gz");
    let bundle_text = bundle.to_string_lossy().into_owned();
    let run = lab.check_env(
        &lab.client,
        "tcp://10.77.2.2:8080",
        &["--evidence", &bundle_text],
        &[("https_proxy", "http://bob:hunter2@10.77.1.1:3128")],
    )?;
    assert_eq!(run.status, Some(1), "{run}");
    let out = std::process::Command::new("tar")
        .args(["-xzf", &bundle_text, "-C"])
        .arg(lab.net.dir())
        .output()
        .expect("tar runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = lab.net.dir().join("case");
    for file in [
        "report.json",
        "report.md",
        "resolv.conf",
        "hosts",
        "addresses.txt",
        "routes.txt",
        "rules.txt",
        "neighbours.txt",
        "listeners.txt",
        "firewall-iptables.txt",
        "firewall-nft.txt",
        "conntrack.txt",
        "environment.txt",
        "MANIFEST.txt",
    ] {
        assert!(root.join(file).exists(), "{file} missing from the bundle");
    }
    for entry in std::fs::read_dir(&root).expect("bundle directory") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("readable");
        assert!(
            !String::from_utf8_lossy(&bytes).contains("hunter2"),
            "a secret leaked into the bundle"
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("report.json")).expect("report.json"))
            .expect("json");
    assert_eq!(report["verdict"]["cause"], "tcp_refused");
    Ok(())
}

#[test]
fn strict_rp_filter_with_an_asymmetric_return_path_is_the_cause() -> Result<()> {
    require_netns!();
    let lab = lab("hostrpf")?;
    lab.server.listen_tcp(ADDR)?;
    // A second link between client and router, and a router that sends everything for the
    // client's first address back over it: replies arrive on the client's second interface while
    // its route to the server leaves by the first. Strict rp_filter on the client drops them.
    let second = lab
        .net
        .link(&lab.client, "10.77.3.2/24", &lab.router, "10.77.3.1/24")?;
    lab.router
        .run(&format!("ip route add {CLIENT}/32 via 10.77.3.2"))?;
    lab.client.sysctl("net.ipv4.conf.all.rp_filter", "1")?;
    assert_eq!(lab.client.tcp_connect(ADDR, PROBE)?, TcpConnect::TimedOut);

    let run = lab.check(&lab.client, "tcp://10.77.2.2:8080", &["--timeout", "3s"])?;
    assert_diagnosis(&run, 1, Some("route"), "rp_filter_strict_asymmetric");
    assert!(run.mentions(&format!("arrive on {}", second.a)), "{run}");
    assert!(run.mentions("IPReversePathFilter +"), "{run}");
    assert!(
        fix_text(&run).contains(&format!("net.ipv4.conf.{}.rp_filter=2", second.a)),
        "{run}"
    );

    // Loose mode on that interface is the fix: the same check then passes.
    lab.client.sysctl("net.ipv4.conf.all.rp_filter", "2")?;
    let fixed = lab.check(&lab.client, "tcp://10.77.2.2:8080", &["--timeout", "3s"])?;
    assert_diagnosis(&fixed, 0, None, "ok");
    Ok(())
}

/// The lab over IPv6 (client fd77:1::2, server fd77:2::2 listening on 8080) with a second
/// client-router link, fd77:3::/64, over which the router sends everything for the client: the
/// replies arrive on the client's second interface while its route back leaves by eth0.
fn asymmetric_v6_lab(tag: &str) -> Result<(Lab, netdiag_testnet::Link)> {
    let lab = lab(tag)?;
    lab.client.add_address("eth0", "fd77:1::2/64")?;
    lab.router.add_address("eth0", "fd77:1::1/64")?;
    lab.router.add_address("eth1", "fd77:2::1/64")?;
    lab.server.add_address("eth0", "fd77:2::2/64")?;
    lab.client.default_route("fd77:1::1")?;
    lab.server.default_route("fd77:2::1")?;
    lab.server.listen_tcp("[fd77:2::2]:8080")?;
    let second = lab
        .net
        .link(&lab.client, "fd77:3::2/64", &lab.router, "fd77:3::1/64")?;
    lab.router
        .run("ip -6 route add fd77:1::2/128 via fd77:3::2")?;
    Ok((lab, second))
}

/// IPv6 has no rp_filter sysctl: its counterpart is a reverse-path filter rule (firewalld's
/// `-m rpfilter --invert -j DROP` in raw PREROUTING). The same asymmetric return path as above,
/// over IPv6: the rule's counter grows while the connect repeats, and the rule is named.
#[test]
fn ipv6_rpfilter_rule_with_an_asymmetric_return_path_is_the_cause() -> Result<()> {
    require_netns!();
    let (lab, second) = asymmetric_v6_lab("hostrpf6")?;
    lab.client
        .run("ip6tables -w -t raw -A PREROUTING -m rpfilter --invert -j DROP")?;
    assert_eq!(
        lab.client.tcp_connect("[fd77:2::2]:8080", PROBE)?,
        TcpConnect::TimedOut
    );

    let run = lab.check(&lab.client, "tcp://[fd77:2::2]:8080", &["--timeout", "3s"])?;
    assert_diagnosis(&run, 1, Some("route"), "rp_filter_strict_asymmetric");
    assert!(
        run.mentions("ip6 raw PREROUTING rule 1: -A PREROUTING -m rpfilter --invert -j DROP"),
        "{run}"
    );
    assert!(run.mentions("counter "), "{run}");
    assert!(
        fix_text(&run)
            .contains("ip6tables -t raw -I PREROUTING 1 -s fd77:2::2/128 -p tcp --sport 8080"),
        "{run}"
    );

    // The route back over the interface the replies arrive on is the other fix: it passes.
    lab.client.run(&format!(
        "ip -6 route add fd77:2::/64 via fd77:3::1 dev {}",
        second.a
    ))?;
    let fixed = lab.check(&lab.client, "tcp://[fd77:2::2]:8080", &["--timeout", "3s"])?;
    assert_diagnosis(&fixed, 0, None, "ok");
    Ok(())
}

/// The nftables form of the same filter, `fib saddr . iif oif missing counter drop` in an inet
/// prerouting chain: named with its handle, and the exception goes in just before it.
#[test]
fn ipv6_nft_fib_rpfilter_with_an_asymmetric_return_path_is_the_cause() -> Result<()> {
    require_netns!();
    let (lab, _) = asymmetric_v6_lab("hostrpf6n")?;
    lab.client.run(
        "nft add table inet ndrpf && \
         nft add chain inet ndrpf pre '{ type filter hook prerouting priority raw; }' && \
         nft add rule inet ndrpf pre fib saddr . iif oif missing counter drop",
    )?;
    assert_eq!(
        lab.client.tcp_connect("[fd77:2::2]:8080", PROBE)?,
        TcpConnect::TimedOut
    );

    let run = lab.check(&lab.client, "tcp://[fd77:2::2]:8080", &["--timeout", "3s"])?;
    assert_diagnosis(&run, 1, Some("route"), "rp_filter_strict_asymmetric");
    assert!(run.mentions("nft inet ndrpf pre rule 1 (handle "), "{run}");
    assert!(run.mentions("fib saddr . iif oif missing"), "{run}");
    assert!(
        fix_text(&run).contains("nft 'insert rule inet ndrpf pre position "),
        "{run}"
    );
    Ok(())
}

/// Restores the global `nf_conntrack_max` when dropped, even if the test fails.
struct ConntrackMax {
    saved: String,
}

const CONNTRACK_MAX: &str = "/proc/sys/net/netfilter/nf_conntrack_max";

impl ConntrackMax {
    fn set(value: u64) -> std::io::Result<ConntrackMax> {
        let saved = std::fs::read_to_string(CONNTRACK_MAX)?.trim().to_string();
        std::fs::write(CONNTRACK_MAX, value.to_string())?;
        Ok(ConntrackMax { saved })
    }
}

impl Drop for ConntrackMax {
    fn drop(&mut self) {
        let _ = std::fs::write(CONNTRACK_MAX, &self.saved);
    }
}

#[test]
fn full_conntrack_table_is_the_cause() -> Result<()> {
    require_netns!();
    let lab = lab("hostct")?;
    lab.server.listen_tcp(ADDR)?;
    lab.server.listen_tcp("10.77.2.2:9000")?;
    // Connection tracking in the client's namespace (any conntrack match turns it on), then
    // established flows: assured entries, which the kernel cannot evict early to make room.
    lab.client
        .run("iptables -w -A OUTPUT -m conntrack --ctstate INVALID -j DROP")?;
    let held = lab.client.open_tcp_connections("10.77.2.2:9000", 40)?;
    let count: u64 = lab
        .client
        .run("cat /proc/sys/net/netfilter/nf_conntrack_count")?
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(count >= 40, "conntrack is not tracking the client: {count}");
    // The limit is global (writable only from the initial namespace); the count is per
    // namespace. Setting the limit to this namespace's count fills its table exactly. Namespaces
    // that track more flows than this are affected too, so skip if the host itself tracks many.
    let host_count: u64 = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_count")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    if host_count > count / 2 {
        eprintln!("skipped: the host namespace tracks {host_count} flows; a global limit of {count} would disturb it");
        return Ok(());
    }
    let run = {
        let _limit = match ConntrackMax::set(count) {
            Ok(guard) => guard,
            Err(e) => {
                eprintln!("skipped: cannot set {CONNTRACK_MAX}: {e}");
                return Ok(());
            }
        };
        lab.check(&lab.client, "tcp://10.77.2.2:8080", &["--timeout", "3s"])?
    };
    drop(held);
    assert_diagnosis(&run, 1, Some("tcp"), "conntrack_table_full");
    assert!(run.mentions("connection-tracking table holds"), "{run}");
    assert!(fix_text(&run).contains("nf_conntrack_max="), "{run}");
    assert!(
        run.json.as_ref().expect("json")["verdict"]["rollback"]
            .to_string()
            .contains(&format!("nf_conntrack_max={count}")),
        "{run}"
    );
    Ok(())
}

/// The verdict's fix commands and description, as one string.
fn fix_text(run: &netdiag_testnet::Run) -> String {
    run.json
        .as_ref()
        .map(|j| j["verdict"]["fix"].to_string())
        .unwrap_or_default()
}

#[test]
fn local_nft_drop_on_output_is_named_with_a_scoped_nft_fix() -> Result<()> {
    require_netns!();
    let lab = lab("hostnft")?;
    lab.server.listen_tcp(ADDR)?;
    lab.client.run("nft add table inet guard")?;
    lab.client.run(
        "nft add chain inet guard out '{ type filter hook output priority 0 ; policy accept ; }'",
    )?;
    lab.client
        .run("nft add rule inet guard out ip daddr 10.77.2.2 tcp dport 8080 counter drop")?;
    assert_eq!(lab.client.tcp_connect(ADDR, PROBE)?, TcpConnect::TimedOut);

    let run = lab.check(&lab.client, "tcp://10.77.2.2:8080", &["--timeout", "4s"])?;
    assert_eq!(run.status, Some(1), "{run}");
    assert_eq!(run.layer(), Some("tcp"), "{run}");
    assert!(run.mentions("inet guard out"), "{run}");
    assert!(run.mentions("drop"), "{run}");
    let fix = fix_text(&run);
    assert!(fix.contains("nft 'insert rule inet guard out"), "{fix}");
    assert!(fix.contains("ip daddr 10.77.2.2"), "{fix}");
    assert!(!fix.contains("0.0.0.0/0"), "{fix}");
    Ok(())
}

#[test]
fn local_input_policy_drop_without_established_accept_drops_the_replies() -> Result<()> {
    require_netns!();
    let lab = lab("hostinput")?;
    lab.server.listen_tcp(ADDR)?;
    // A classic lock-down that forgot `-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`:
    // the SYN leaves, the SYN-ACK is dropped on the way in.
    lab.client.run("iptables -w -A INPUT -i lo -j ACCEPT")?;
    lab.client
        .run("iptables -w -A INPUT -p tcp --dport 22 -j ACCEPT")?;
    lab.client.run("iptables -w -P INPUT DROP")?;
    assert_eq!(lab.client.tcp_connect(ADDR, PROBE)?, TcpConnect::TimedOut);

    let run = lab.check(&lab.client, "tcp://10.77.2.2:8080", &["--timeout", "4s"])?;
    assert_eq!(run.status, Some(1), "{run}");
    assert_eq!(run.layer(), Some("tcp"), "{run}");
    assert!(run.mentions("INPUT, replies"), "{run}");
    assert!(run.mentions("policy"), "{run}");
    let fix = fix_text(&run);
    assert!(
        fix.contains("-s 10.77.2.2/32 -d 10.77.1.2/32 -p tcp --sport 8080 -m conntrack --ctstate ESTABLISHED"),
        "{run}"
    );
    assert!(!fix.contains("0.0.0.0/0"), "{fix}");

    // The printed fix really fixes it.
    let commands = run.json.as_ref().expect("json")["verdict"]["fix"]["commands"].clone();
    let insert = commands
        .as_array()
        .and_then(|c| {
            c.iter()
                .find_map(|c| c.as_str().filter(|c| c.starts_with("iptables ")))
        })
        .expect("an iptables command")
        .to_string();
    lab.client.run(&insert)?;
    assert_eq!(
        lab.client.tcp_connect(ADDR, PROBE)?,
        TcpConnect::Established
    );
    Ok(())
}

/// Strict rp_filter on another interface, but replies come back the way the route leaves: the
/// drop is elsewhere. The reverse-path counter watched during the connect's own retransmitted
/// SYNs did not grow, so the check does not repeat the connect to learn the same thing.
#[test]
fn strict_rp_filter_that_drops_nothing_costs_no_repeat_connect() -> Result<()> {
    require_netns!();
    let lab = lab("hostrpf0")?;
    lab.server.listen_tcp(ADDR)?;
    lab.net
        .link(&lab.client, "10.77.3.2/24", &lab.router, "10.77.3.1/24")?;
    lab.client.sysctl("net.ipv4.conf.all.rp_filter", "1")?;
    lab.server
        .run("iptables -w -A INPUT -p tcp --dport 8080 -j DROP")?;

    let run = lab.check(&lab.client, "tcp://10.77.2.2:8080", &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_timeout");
    assert!(run.mentions("IPReversePathFilter +0 in 2."), "{run}");
    assert!(
        run.mentions(&format!("dropped after {ROUTER_IN} (hop 1)")),
        "{run}"
    );
    assert!(
        run.elapsed < std::time::Duration::from_millis(4200),
        "verdict in {:?}{run}",
        run.elapsed
    );
    Ok(())
}
