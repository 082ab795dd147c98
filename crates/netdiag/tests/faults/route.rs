//! route layer: no route on the client, and no route on a router (ICMP net unreachable).

use crate::common::*;
use netdiag_testnet::{require_netns, Result, TcpConnect, Testnet};
use std::time::Duration;

#[test]
fn no_route_client_without_default_route() -> Result<()> {
    require_netns!();
    let net = Testnet::new("noroute")?;
    net.set_netdiag(NETDIAG);
    let client = net.host("c")?;
    let router = net.router("r")?;
    net.link(&client, "10.77.1.2/24", &router, "10.77.1.1/24")?;
    // No default route: 10.77.2.2 is outside every subnet the client has.
    assert_eq!(
        client.tcp_connect("10.77.2.2:8080", PROBE)?,
        TcpConnect::NetUnreachable
    );

    let run = check(&net, &client, "tcp://10.77.2.2:8080", &[])?;
    assert_diagnosis(&run, 1, Some("route"), "no_route");
    Ok(())
}

/// The client routes via the router, which has no route to 10.77.3.0/24 and answers with ICMP
/// net unreachable. The kernel's per-source limit for these is 1/s after a burst of 5, so this
/// test sends nothing else to the router before netdiag runs.
#[test]
fn net_unreachable_router_without_route() -> Result<()> {
    require_netns!();
    let lab = lab("netunr")?;
    let before = lab.router.icmp_unreachables_sent()?;
    assert_eq!(
        lab.client.tcp_connect("10.77.3.5:8080", PROBE)?,
        TcpConnect::NetUnreachable
    );
    assert!(
        lab.router.icmp_unreachables_sent()? > before,
        "the router sent it"
    );

    let run = lab.check(&lab.client, "tcp://10.77.3.5:8080", &[])?;
    assert_diagnosis(&run, 1, Some("route"), "net_unreachable");
    assert_mentions(&run, ROUTER_IN);
    Ok(())
}

/// IPv6 parity of the silent drop at a router: client fd77:1::2 — r — fd77:2::2 server, and the
/// router drops the service's SYNs with ip6tables. The connect times out and the hop-by-hop
/// trace (hop limits 1, 2, …) locates the drop after the router.
#[test]
fn ipv6_drop_at_router_is_a_timeout_located_by_hop_limits() -> Result<()> {
    require_netns!();
    let net = Testnet::new("drop6")?;
    net.set_netdiag(NETDIAG);
    let client = net.host("c")?;
    let router = net.router("r")?;
    let server = net.host("s")?;
    net.link(&client, "fd77:1::2/64", &router, "fd77:1::1/64")?;
    net.link(&router, "fd77:2::1/64", &server, "fd77:2::2/64")?;
    client.default_route("fd77:1::1")?;
    server.default_route("fd77:2::1")?;
    server.listen_tcp("[fd77:2::2]:8080")?;
    router.run("ip6tables -w -A FORWARD -p tcp --dport 8080 -j DROP")?;
    assert_eq!(
        client.tcp_connect("[fd77:2::2]:8080", PROBE)?,
        TcpConnect::TimedOut
    );

    let run = check(
        &net,
        &client,
        "tcp://[fd77:2::2]:8080",
        &["--timeout", "3s"],
    )?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_timeout");
    assert_mentions(&run, "dropped after fd77:1::1 (hop 1)");
    // The trace runs beside the connect: the verdict comes within the 3 s tcp budget.
    assert!(
        run.elapsed < Duration::from_secs(4),
        "took {:?}{run}",
        run.elapsed
    );
    Ok(())
}

/// The same two hops further: client — r1 — r2 — server with r2 dropping, so the trace needs a
/// hop limit of 2 and names r2 (its address toward r1, the one its ICMPv6 time exceeded
/// comes from) as the last hop that answered.
#[test]
fn ipv6_drop_at_second_router_is_located_after_hop_2() -> Result<()> {
    require_netns!();
    let net = Testnet::new("drop6b")?;
    net.set_netdiag(NETDIAG);
    let client = net.host("c")?;
    let r1 = net.router("ra")?;
    let r2 = net.router("rb")?;
    let server = net.host("s")?;
    net.link(&client, "fd77:1::2/64", &r1, "fd77:1::1/64")?;
    net.link(&r1, "fd77:3::1/64", &r2, "fd77:3::2/64")?;
    net.link(&r2, "fd77:2::1/64", &server, "fd77:2::2/64")?;
    client.default_route("fd77:1::1")?;
    r1.route("fd77:2::/64", "fd77:3::2")?;
    r2.route("fd77:1::/64", "fd77:3::1")?;
    server.default_route("fd77:2::1")?;
    server.listen_tcp("[fd77:2::2]:8080")?;
    r2.run("ip6tables -w -A FORWARD -p tcp --dport 8080 -j DROP")?;

    let run = check(
        &net,
        &client,
        "tcp://[fd77:2::2]:8080",
        &["--timeout", "3s"],
    )?;
    assert_diagnosis(&run, 1, Some("tcp"), "tcp_timeout");
    assert_mentions(&run, "dropped after fd77:3::2 (hop 2)");
    // The trace runs beside the connect: the verdict comes within the 3 s tcp budget.
    assert!(
        run.elapsed < Duration::from_secs(4),
        "took {:?}{run}",
        run.elapsed
    );
    Ok(())
}
