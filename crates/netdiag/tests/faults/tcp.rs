//! tcp layer: how exactly a connection attempt failed, and who said so.

use crate::common::*;
use netdiag_testnet::{require_netns, Result, TcpConnect};
use std::time::Duration;

const TARGET: &str = "tcp://10.77.2.2:8080";
const ADDR: &str = "10.77.2.2:8080";

#[test]
fn tcp_healthy_listener_is_exit_0() -> Result<()> {
    require_netns!();
    let lab = lab("tcpok")?;
    lab.server.listen_tcp(ADDR)?;
    assert_eq!(
        lab.client.tcp_connect(ADDR, PROBE)?,
        TcpConnect::Established
    );

    let run = lab.check(&lab.client, TARGET, &[])?;
    assert_diagnosis(&run, 0, None, "ok");
    Ok(())
}

#[test]
fn tcp_refused_no_listener() -> Result<()> {
    require_netns!();
    let lab = lab("tcprefused")?;
    assert_eq!(lab.client.tcp_connect(ADDR, PROBE)?, TcpConnect::Refused);

    let run = lab.check(&lab.client, TARGET, &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_refused");
    Ok(())
}

#[test]
fn tcp_refused_by_reject_tcp_reset_at_server() -> Result<()> {
    require_netns!();
    let lab = lab("tcprejrst")?;
    lab.server.listen_tcp(ADDR)?;
    lab.server
        .run("iptables -w -A INPUT -p tcp --dport 8080 -j REJECT --reject-with tcp-reset")?;
    assert_eq!(lab.client.tcp_connect(ADDR, PROBE)?, TcpConnect::Refused);

    let run = lab.check(&lab.client, TARGET, &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_refused");
    Ok(())
}

#[test]
fn tcp_timeout_drop_at_server() -> Result<()> {
    require_netns!();
    let lab = lab("tcpdrops")?;
    lab.server.listen_tcp(ADDR)?;
    lab.server
        .run("iptables -w -A INPUT -p tcp --dport 8080 -j DROP")?;
    assert_eq!(lab.client.tcp_connect(ADDR, PROBE)?, TcpConnect::TimedOut);

    let run = lab.check(&lab.client, TARGET, &["--timeout", "3s"])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_timeout");
    Ok(())
}

#[test]
fn tcp_timeout_drop_at_router() -> Result<()> {
    require_netns!();
    let lab = lab("tcpdropr")?;
    lab.server.listen_tcp(ADDR)?;
    lab.router
        .run("iptables -w -A FORWARD -p tcp --dport 8080 -j DROP")?;
    assert_eq!(lab.client.tcp_connect(ADDR, PROBE)?, TcpConnect::TimedOut);

    let run = lab.check(&lab.client, TARGET, &["--timeout", "3s"])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_timeout");
    Ok(())
}

#[test]
fn tcp_admin_prohibited_at_router() -> Result<()> {
    require_netns!();
    let lab = lab("tcpadmr")?;
    lab.server.listen_tcp(ADDR)?;
    lab.router.run(
        "iptables -w -A FORWARD -p tcp --dport 8080 -j REJECT --reject-with icmp-admin-prohibited",
    )?;
    let before = lab.router.icmp_unreachables_sent()?;
    assert_eq!(
        lab.client.tcp_connect(ADDR, PROBE)?,
        TcpConnect::HostUnreachable
    );
    assert!(
        lab.router.icmp_unreachables_sent()? > before,
        "the router sent it"
    );

    let run = lab.check(&lab.client, TARGET, &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_admin_prohibited");
    assert_mentions(&run, ROUTER_IN);
    Ok(())
}

#[test]
fn tcp_admin_prohibited_at_server() -> Result<()> {
    require_netns!();
    let lab = lab("tcpadms")?;
    lab.server.listen_tcp(ADDR)?;
    lab.server.run(
        "iptables -w -A INPUT -p tcp --dport 8080 -j REJECT --reject-with icmp-admin-prohibited",
    )?;
    let before = lab.server.icmp_unreachables_sent()?;
    assert_eq!(
        lab.client.tcp_connect(ADDR, PROBE)?,
        TcpConnect::HostUnreachable
    );
    assert!(
        lab.server.icmp_unreachables_sent()? > before,
        "the server sent it"
    );

    let run = lab.check(&lab.client, TARGET, &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_admin_prohibited");
    assert_mentions(&run, SERVER);
    Ok(())
}

#[test]
fn host_unreachable_reject_at_router() -> Result<()> {
    require_netns!();
    let lab = lab("hostunrej")?;
    lab.server.listen_tcp(ADDR)?;
    lab.router.run(
        "iptables -w -A FORWARD -p tcp --dport 8080 -j REJECT --reject-with icmp-host-unreachable",
    )?;
    assert_eq!(
        lab.client.tcp_connect(ADDR, PROBE)?,
        TcpConnect::HostUnreachable
    );

    let run = lab.check(&lab.client, TARGET, &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "host_unreachable");
    assert_mentions(&run, ROUTER_IN);
    Ok(())
}

/// 10.77.2.99 is on the router's connected subnet but no host owns it: the router's ARP fails
/// and it answers with ICMP host unreachable (after ~3 s of ARP retries by default; shortened
/// here so the check stays well inside its deadline).
#[test]
fn host_unreachable_no_host_on_router_subnet() -> Result<()> {
    require_netns!();
    let lab = lab("hostunarp")?;
    lab.router
        .sysctl("net.ipv4.neigh.eth1.mcast_solicit", "2")?;
    lab.router
        .sysctl("net.ipv4.neigh.eth1.retrans_time_ms", "300")?;
    let before = lab.router.icmp_unreachables_sent()?;
    assert_eq!(
        lab.client
            .tcp_connect("10.77.2.99:8080", Duration::from_secs(5))?,
        TcpConnect::HostUnreachable
    );
    assert!(
        lab.router.icmp_unreachables_sent()? > before,
        "the router sent it"
    );

    let run = lab.check(&lab.client, "tcp://10.77.2.99:8080", &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "host_unreachable");
    assert_mentions(&run, ROUTER_IN);
    Ok(())
}

/// The handshake completes (the listener answers the SYN), then the server's firewall answers
/// the client's first non-SYN segment, the handshake's final ACK, with RST. The client sees an
/// established connection that is reset at once. Deterministic: the RST is sent by the kernel
/// while it processes that ACK, before the client's process even returns from `connect()`.
#[test]
fn tcp_reset_after_handshake() -> Result<()> {
    require_netns!();
    let lab = lab("tcpreset")?;
    lab.server.listen_tcp(ADDR)?;
    lab.server.run(
        "iptables -w -A INPUT -p tcp --dport 8080 ! --syn -j REJECT --reject-with tcp-reset",
    )?;
    assert_eq!(
        lab.client.tcp_connect_then_read(ADDR, PROBE, PROBE)?,
        TcpConnect::Reset
    );

    let run = lab.check(&lab.client, TARGET, &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_reset");
    Ok(())
}

/// A server that accepts and then resets (SO_LINGER 0 after accept). The reset arrives whenever
/// the server's thread gets to run. The tcp probe watches a fresh connection for about three
/// handshake round trips (at least 100 µs) so a healthy check stays close to `nc -z`: that
/// catches this reset in 14 of 15 runs on a loaded 2-core machine, which is not reliable enough
/// to gate CI on. Resets that come later are the http layer's `connection_reset`. Run it with
/// `cargo test -- --ignored`.
#[test]
#[ignore = "timing-dependent: the reset races the tcp probe's short post-connect grace"]
fn tcp_reset_after_accept() -> Result<()> {
    require_netns!();
    let lab = lab("tcpresetacc")?;
    lab.server.listen_tcp_reset(ADDR)?;
    assert_eq!(
        lab.client.tcp_connect_then_read(ADDR, PROBE, PROBE)?,
        TcpConnect::Reset
    );

    let run = lab.check(&lab.client, TARGET, &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_reset");
    Ok(())
}

/// The service listens on 127.0.0.1:8080 only; netdiag, run on the server itself against the
/// server's external address, must name the loopback-bound listener as the reason.
#[test]
fn listener_bound_to_loopback() -> Result<()> {
    require_netns!();
    let lab = lab("tcplo")?;
    lab.server.listen_tcp("127.0.0.1:8080")?;
    assert_eq!(lab.server.tcp_connect(ADDR, PROBE)?, TcpConnect::Refused);
    assert_eq!(
        lab.server.tcp_connect("127.0.0.1:8080", PROBE)?,
        TcpConnect::Established
    );

    let run = lab.check(&lab.server, TARGET, &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "listener_bound_to_loopback");
    assert_mentions(&run, "127.0.0.1");
    Ok(())
}

/// The same router fault over IPv6: ICMPv6 "administratively prohibited" (type 1, code 1) read
/// through IPV6_RECVERR, sent by the router's fd77:1::1.
#[test]
fn tcp_admin_prohibited_at_router_ipv6() -> Result<()> {
    require_netns!();
    let lab = lab("tcpadm6")?;
    lab.client.add_address("eth0", "fd77:1::2/64")?;
    lab.router.add_address("eth0", "fd77:1::1/64")?;
    lab.router.add_address("eth1", "fd77:2::1/64")?;
    lab.server.add_address("eth0", "fd77:2::2/64")?;
    lab.client.default_route("fd77:1::1")?;
    lab.server.default_route("fd77:2::1")?;
    lab.server.listen_tcp("[fd77:2::2]:8080")?;
    assert_eq!(
        lab.client.tcp_connect("[fd77:2::2]:8080", PROBE)?,
        TcpConnect::Established
    );
    lab.router.run(
        "ip6tables -w -A FORWARD -p tcp --dport 8080 -j REJECT --reject-with adm-prohibited",
    )?;
    // 3 s, not 1: the first ICMPv6 error can arrive while connect() still holds the socket, so
    // the kernel records it as a soft error and only the SYN retransmitted after 1 s fails it.
    assert_eq!(
        lab.client
            .tcp_connect("[fd77:2::2]:8080", Duration::from_secs(3))?,
        TcpConnect::Failed("Permission denied (os error 13)".into()),
        "Linux maps ICMPv6 admin-prohibited to EACCES"
    );

    let run = lab.check(&lab.client, "tcp://[fd77:2::2]:8080", &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_admin_prohibited");
    assert_mentions(&run, "fd77:1::1");
    Ok(())
}

/// A native nftables ruleset on the router (no iptables at all): the forward chain of an
/// `inet` table.
fn nft_forward_rule(lab: &Lab, rule: &str) -> Result<()> {
    lab.router.run("nft add table inet lab")?;
    lab.router.run(
        "nft add chain inet lab forwarding '{ type filter hook forward priority 0 ; policy accept ; }'",
    )?;
    lab.router
        .run(&format!("nft add rule inet lab forwarding {rule}"))?;
    Ok(())
}

#[test]
fn nft_drop_at_router_is_a_timeout_located_after_hop_1() -> Result<()> {
    require_netns!();
    let lab = lab("tcpnftdrop")?;
    lab.server.listen_tcp(ADDR)?;
    nft_forward_rule(&lab, "tcp dport 8080 drop")?;
    assert_eq!(lab.client.tcp_connect(ADDR, PROBE)?, TcpConnect::TimedOut);

    let run = lab.check(&lab.client, TARGET, &["--timeout", "3s"])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_timeout");
    assert_mentions(&run, &format!("dropped after {ROUTER_IN} (hop 1)"));
    Ok(())
}

#[test]
fn nft_reject_admin_prohibited_at_router_names_the_router() -> Result<()> {
    require_netns!();
    let lab = lab("tcpnftrej")?;
    lab.server.listen_tcp(ADDR)?;
    nft_forward_rule(
        &lab,
        "tcp dport 8080 reject with icmpx type admin-prohibited",
    )?;
    assert_eq!(
        lab.client.tcp_connect(ADDR, PROBE)?,
        TcpConnect::HostUnreachable
    );

    let run = lab.check(&lab.client, TARGET, &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_admin_prohibited");
    assert_mentions(&run, ROUTER_IN);
    Ok(())
}

/// Time to verdict: with the default 10 s `--timeout`, a silent drop is `tcp_timeout` after the
/// SYN and its retransmissions at 1 s and 3 s went unanswered, not after the whole deadline,
/// and the hop-by-hop trace, run beside the connect, has already located the drop.
#[test]
fn silent_drop_is_a_timeout_after_3_s_with_the_drop_located() -> Result<()> {
    require_netns!();
    let lab = lab("tcpfast")?;
    lab.server.listen_tcp(ADDR)?;
    lab.server
        .run("iptables -w -A INPUT -p tcp --dport 8080 -j DROP")?;
    assert_eq!(lab.client.tcp_connect(ADDR, PROBE)?, TcpConnect::TimedOut);

    let run = lab.check(&lab.client, TARGET, &[])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_timeout");
    assert_mentions(&run, &format!("dropped after {ROUTER_IN} (hop 1)"));
    assert_mentions(
        &run,
        "no answer to the SYN or its retransmissions at 1 s and 3 s",
    );
    assert_mentions(&run, "SYN sent 3 times");
    assert!(
        run.elapsed >= Duration::from_secs(3) && run.elapsed < Duration::from_millis(4500),
        "verdict in {:?}\n{run}",
        run.elapsed
    );
    Ok(())
}

/// `--connect-timeout` waits longer for a SYN that may yet be answered (the kernel's next
/// retransmission is at 7 s).
#[test]
fn connect_timeout_flag_sets_the_wait() -> Result<()> {
    require_netns!();
    let lab = lab("tcpwait")?;
    lab.router
        .run("iptables -w -A FORWARD -p tcp --dport 8080 -j DROP")?;

    let run = lab.check(&lab.client, TARGET, &["--connect-timeout", "5s"])?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_timeout");
    assert_mentions(&run, &format!("dropped after {ROUTER_IN} (hop 1)"));
    assert!(
        run.elapsed >= Duration::from_secs(5) && run.elapsed < Duration::from_millis(6500),
        "verdict in {:?}\n{run}",
        run.elapsed
    );

    let short = lab.check(&lab.client, TARGET, &["--connect-timeout", "1500ms"])?;
    assert_diagnosis(&short, 1, Some("tcp"), "tcp_timeout");
    assert_mentions(&short, "or its retransmission at 1 s; waited 1.");
    assert!(
        short.elapsed < Duration::from_millis(2800),
        "{:?}",
        short.elapsed
    );
    Ok(())
}

/// A healthy connect never waits for, or starts, the speculative trace; refused and
/// admin-prohibited verdicts come within the first round trips.
#[test]
fn answered_syns_are_judged_at_once() -> Result<()> {
    require_netns!();
    let lab = lab("tcpquick")?;
    lab.server.listen_tcp(ADDR)?;
    lab.server.listen_tcp("10.77.2.2:8081")?;
    let ok = lab.check(&lab.client, TARGET, &[])?;
    assert_diagnosis(&ok, 0, None, "ok");
    assert!(ok.elapsed < Duration::from_secs(1), "{:?}", ok.elapsed);

    let refused = lab.check(&lab.client, "tcp://10.77.2.2:9", &[])?;
    assert_diagnosis(&refused, 1, Some("tcp"), "tcp_refused");
    assert!(
        refused.elapsed < Duration::from_secs(1),
        "{:?}",
        refused.elapsed
    );

    lab.router.run(
        "iptables -w -A FORWARD -p tcp --dport 8081 -j REJECT --reject-with icmp-admin-prohibited",
    )?;
    let prohibited = lab.check(&lab.client, "tcp://10.77.2.2:8081", &[])?;
    assert_diagnosis(&prohibited, 1, Some("tcp"), "tcp_admin_prohibited");
    assert!(
        prohibited.elapsed < Duration::from_secs(1),
        "{:?}",
        prohibited.elapsed
    );
    Ok(())
}
