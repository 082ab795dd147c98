//! route layer: no route on the client, and no route on a router (ICMP net unreachable).

use crate::common::*;
use netdiag_testnet::{require_netns, Result, TcpConnect, Testnet};

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
