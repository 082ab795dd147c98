//! udp layer: ICMP port unreachable, silence where a reply is expected, and a healthy DNS port.

use crate::common::*;
use netdiag_testnet::{dns_query, require_netns, Dnsmasq, Result, UdpExchange};

#[test]
fn udp_port_unreachable_no_listener() -> Result<()> {
    require_netns!();
    let lab = lab("udpunr")?;
    assert_eq!(
        lab.client.udp_exchange("10.77.2.2:9999", b"probe", PROBE)?,
        UdpExchange::PortUnreachable
    );

    let run = lab.check(&lab.client, "udp://10.77.2.2:9999", &[])?;
    assert_diagnosis(&run, 1, Some("udp"), "udp_port_unreachable");
    assert_mentions(&run, SERVER);
    Ok(())
}

/// Port 53 speaks DNS, so a reply is expected; the server DROPs it, so none comes.
#[test]
fn udp_no_response_dns_port_dropped() -> Result<()> {
    require_netns!();
    let lab = lab("udpsilent")?;
    lab.server.dnsmasq(
        Dnsmasq::on(SERVER)
            .authoritative_for("test")
            .host("ok.test", SERVER),
    )?;
    lab.server
        .run("iptables -w -A INPUT -p udp --dport 53 -j DROP")?;
    assert_eq!(
        lab.client
            .udp_exchange("10.77.2.2:53", &dns_query("ok.test", 1), PROBE)?,
        UdpExchange::NoResponse
    );

    let run = lab.check(&lab.client, "udp://10.77.2.2:53", &["--timeout", "3s"])?;
    assert_diagnosis(&run, 1, Some("udp"), "udp_no_response");
    Ok(())
}

#[test]
fn udp_healthy_dns_server() -> Result<()> {
    require_netns!();
    let lab = lab("udpok")?;
    lab.server.dnsmasq(
        Dnsmasq::on(SERVER)
            .authoritative_for("test")
            .host("ok.test", SERVER),
    )?;
    assert!(matches!(
        lab.client
            .udp_exchange("10.77.2.2:53", &dns_query("ok.test", 1), PROBE)?,
        UdpExchange::Reply(_)
    ));

    let run = lab.check(&lab.client, "udp://10.77.2.2:53", &[])?;
    assert_diagnosis(&run, 0, None, "ok");
    Ok(())
}
