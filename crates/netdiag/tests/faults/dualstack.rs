//! Several addresses, one broken: a silent address family or a dead member of a round-robin
//! pool is a tcp failure naming the dead addresses, never time charged to a later layer; a
//! refusal, which clients skip at once, stays a warning.
//!
//! The name's addresses come from a hosts file with several lines for it, so no DNS server is
//! needed and getaddrinfo's order is the file's (within a family) sorted by RFC 3484.

use crate::common::*;
use netdiag_testnet::{require_netns, HttpServer, Result, TcpConnect};

/// The lab with IPv6 on both links beside IPv4: client fd77:1::2, server fd77:2::2.
fn dual_lab(tag: &str) -> Result<Lab> {
    let lab = lab(tag)?;
    lab.client.add_address("eth0", "fd77:1::2/64")?;
    lab.router.add_address("eth0", "fd77:1::1/64")?;
    lab.router.add_address("eth1", "fd77:2::1/64")?;
    lab.server.add_address("eth0", "fd77:2::2/64")?;
    lab.client.default_route("fd77:1::1")?;
    lab.server.default_route("fd77:2::1")?;
    Ok(lab)
}

fn hosts(lab: &Lab, lines: &[&str]) -> Result<String> {
    let mut all = vec!["127.0.0.1 localhost"];
    all.extend_from_slice(lines);
    Ok(lab.net.hosts_file(&all)?.to_string_lossy().into_owned())
}

/// The tcp budget: the verdict comes within the connect timeout, not after later layers.
const TIMEOUT: &[&str] = &["--timeout", "3s"];

#[test]
fn dualstack_v6_dropped_v4_fine_is_address_family_broken() -> Result<()> {
    require_netns!();
    let lab = dual_lab("ds6drop")?;
    lab.server.listen_tcp("[fd77:2::2]:8080")?;
    lab.server.listen_tcp("10.77.2.2:8080")?;
    lab.router
        .run("ip6tables -w -A FORWARD -p tcp --dport 8080 -j DROP")?;
    assert_eq!(
        lab.client.tcp_connect("[fd77:2::2]:8080", PROBE)?,
        TcpConnect::TimedOut
    );
    assert_eq!(
        lab.client.tcp_connect("10.77.2.2:8080", PROBE)?,
        TcpConnect::Established
    );
    let h = hosts(&lab, &["fd77:2::2 dual.test", "10.77.2.2 dual.test"])?;
    let mut args = vec!["--hosts-file", h.as_str()];
    args.extend_from_slice(TIMEOUT);

    let run = lab.check(&lab.client, "tcp://dual.test:8080", &args)?;
    assert_diagnosis(&run, 1, Some("tcp"), "address_family_broken");
    assert_mentions(&run, "fd77:2::2");
    assert_mentions(&run, "IPv6");
    Ok(())
}

#[test]
fn dualstack_v4_dropped_v6_fine_is_address_family_broken() -> Result<()> {
    require_netns!();
    let lab = dual_lab("ds4drop")?;
    lab.server.listen_tcp("[fd77:2::2]:8080")?;
    lab.server.listen_tcp("10.77.2.2:8080")?;
    lab.router
        .run("iptables -w -A FORWARD -p tcp --dport 8080 -j DROP")?;
    assert_eq!(
        lab.client.tcp_connect("10.77.2.2:8080", PROBE)?,
        TcpConnect::TimedOut
    );
    let h = hosts(&lab, &["fd77:2::2 dual.test", "10.77.2.2 dual.test"])?;
    let mut args = vec!["--hosts-file", h.as_str()];
    args.extend_from_slice(TIMEOUT);

    let run = lab.check(&lab.client, "tcp://dual.test:8080", &args)?;
    assert_diagnosis(&run, 1, Some("tcp"), "address_family_broken");
    assert_mentions(&run, "10.77.2.2");
    assert_mentions(&run, "IPv4");
    Ok(())
}

/// Three A records, one silently dropped: a dead pool member.
#[test]
fn dualstack_one_of_three_a_records_dropped_is_some_addresses_unreachable() -> Result<()> {
    require_netns!();
    let lab = lab("dspool")?;
    lab.server.add_address("eth0", "10.77.2.3/24")?;
    lab.server.add_address("eth0", "10.77.2.4/24")?;
    for a in ["10.77.2.2:8080", "10.77.2.3:8080", "10.77.2.4:8080"] {
        lab.server.listen_tcp(a)?;
    }
    lab.router
        .run("iptables -w -A FORWARD -d 10.77.2.3 -p tcp --dport 8080 -j DROP")?;
    assert_eq!(
        lab.client.tcp_connect("10.77.2.3:8080", PROBE)?,
        TcpConnect::TimedOut
    );
    let h = hosts(
        &lab,
        &[
            "10.77.2.2 pool.test",
            "10.77.2.3 pool.test",
            "10.77.2.4 pool.test",
        ],
    )?;
    let mut args = vec!["--hosts-file", h.as_str()];
    args.extend_from_slice(TIMEOUT);

    let run = lab.check(&lab.client, "tcp://pool.test:8080", &args)?;
    assert_diagnosis(&run, 1, Some("tcp"), "some_addresses_unreachable");
    assert_mentions(&run, "10.77.2.3");
    assert!(run.evidence().contains("1 of 3"), "{run}");
    Ok(())
}

/// One of three refuses (RST): clients skip it at once, so a warning and exit 0.
#[test]
fn dualstack_one_of_three_refused_is_a_warning() -> Result<()> {
    require_netns!();
    let lab = lab("dsrefuse")?;
    lab.server.add_address("eth0", "10.77.2.3/24")?;
    lab.server.add_address("eth0", "10.77.2.4/24")?;
    lab.server.listen_tcp("10.77.2.2:8080")?;
    lab.server.listen_tcp("10.77.2.4:8080")?;
    assert_eq!(
        lab.client.tcp_connect("10.77.2.3:8080", PROBE)?,
        TcpConnect::Refused
    );
    let h = hosts(
        &lab,
        &[
            "10.77.2.2 pool.test",
            "10.77.2.3 pool.test",
            "10.77.2.4 pool.test",
        ],
    )?;
    let mut args = vec!["--hosts-file", h.as_str()];
    args.extend_from_slice(TIMEOUT);

    let run = lab.check(&lab.client, "tcp://pool.test:8080", &args)?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(run.warning_causes().contains(&"tcp_refused"), "{run}");
    Ok(())
}

/// The first symptom: over http the dead IPv6 path is named at tcp, not charged to the
/// healthy server as `http_slow` or `connection_reset` after waiting for the dead connect.
#[test]
fn dualstack_http_with_v6_dropped_blames_tcp_not_the_server() -> Result<()> {
    require_netns!();
    let lab = dual_lab("ds6http")?;
    lab.server
        .http("[fd77:2::2]:8080", HttpServer::status(200))?;
    lab.server.http("10.77.2.2:8080", HttpServer::status(200))?;
    lab.router
        .run("ip6tables -w -A FORWARD -p tcp --dport 8080 -j DROP")?;
    assert_eq!(
        lab.client.tcp_connect("[fd77:2::2]:8080", PROBE)?,
        TcpConnect::TimedOut
    );
    let h = hosts(&lab, &["fd77:2::2 dual.test", "10.77.2.2 dual.test"])?;
    let mut args = vec!["--hosts-file", h.as_str()];
    args.extend_from_slice(TIMEOUT);

    let run = lab.check(&lab.client, "http://dual.test:8080/", &args)?;
    assert_diagnosis(&run, 1, Some("tcp"), "address_family_broken");
    assert_eq!(
        run.rows_of("http").count(),
        0,
        "no http row: stopped at tcp{run}"
    );
    Ok(())
}

/// IPv6 refused fast by the router with ICMPv6 admin-prohibited while IPv4 connects: clients
/// move on at once, so the broken family is a warning naming the address, not a failure.
#[test]
fn dualstack_v6_rejected_with_icmpv6_is_a_warning() -> Result<()> {
    require_netns!();
    let lab = dual_lab("ds6rej")?;
    lab.server.listen_tcp("[fd77:2::2]:8080")?;
    lab.server.listen_tcp("10.77.2.2:8080")?;
    lab.router.run(
        "ip6tables -w -A FORWARD -p tcp --dport 8080 -j REJECT --reject-with icmp6-adm-prohibited",
    )?;
    assert_ne!(
        lab.client.tcp_connect("[fd77:2::2]:8080", PROBE)?,
        TcpConnect::Established
    );
    assert_eq!(
        lab.client.tcp_connect("10.77.2.2:8080", PROBE)?,
        TcpConnect::Established
    );
    let h = hosts(&lab, &["fd77:2::2 dual.test", "10.77.2.2 dual.test"])?;
    let mut args = vec!["--hosts-file", h.as_str()];
    args.extend_from_slice(TIMEOUT);

    let run = lab.check(&lab.client, "tcp://dual.test:8080", &args)?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(
        run.warning_causes().contains(&"tcp_admin_prohibited"),
        "{run}"
    );
    Ok(())
}

/// A name with only an AAAA (here: only an IPv6 hosts line) whose path drops silently: no
/// other family to fall back to, so it is the plain `tcp_timeout`, named on that address.
#[test]
fn dualstack_aaaa_only_name_dropped_is_a_tcp_timeout() -> Result<()> {
    require_netns!();
    let lab = dual_lab("ds6only")?;
    lab.server.listen_tcp("[fd77:2::2]:8080")?;
    lab.router
        .run("ip6tables -w -A FORWARD -p tcp --dport 8080 -j DROP")?;
    assert_eq!(
        lab.client.tcp_connect("[fd77:2::2]:8080", PROBE)?,
        TcpConnect::TimedOut
    );
    let h = hosts(&lab, &["fd77:2::2 v6only.test"])?;
    let mut args = vec!["--hosts-file", h.as_str()];
    args.extend_from_slice(TIMEOUT);

    let run = lab.check(&lab.client, "tcp://v6only.test:8080", &args)?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_timeout");
    assert_mentions(&run, "fd77:2::2");
    Ok(())
}
