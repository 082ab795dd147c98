//! DNS64/NAT64 on an IPv6-only client: the name has only an A record, unbound's dns64 module
//! synthesizes its AAAA inside 64:ff9b::/96, and the route for that prefix points at a
//! translator. When the translator does not forward (ip6tables DROP: a dead NAT64), the verdict
//! names the translator for the prefix, not the IPv4 server.
//!
//! unbound's dns64 module does not synthesize from its own `local-data` (local zones answer
//! before the modules run), so the A lives in a dnsmasq that unbound reaches as a stub zone.

use crate::common::*;
use netdiag_testnet::{require_netns, Dnsmasq, Result, Testnet, Unbound};

/// The client's resolver (unbound in the router namespace) and the name's only A.
const RESOLVER: &str = "fd64:1::1";
const SERVER_V4: &str = "10.64.3.2";
/// 10.64.3.2 inside the well-known prefix.
const SYNTHESIZED: &str = "64:ff9b::a40:302";
const TRANSLATOR: &str = "fd64:2::1";

#[test]
fn dns64_dead_translator_is_named_at_the_tcp_layer() -> Result<()> {
    require_netns!();
    let net = Testnet::new("dns64dead")?;
    net.set_netdiag(NETDIAG);
    let client = net.host("c")?;
    let resolver = net.router("r")?;
    let translator = net.router("t")?;
    let server = net.host("s")?;
    // IPv6 only on the client: the resolver on one link, the translator on the other.
    net.link(&client, "fd64:1::2/64", &resolver, "fd64:1::1/64")?;
    net.link(&client, "fd64:2::2/64", &translator, "fd64:2::1/64")?;
    net.link(&translator, "10.64.3.1/24", &server, "10.64.3.2/24")?;
    client.route("64:ff9b::/96", TRANSLATOR)?;
    server.listen_tcp("10.64.3.2:8080")?;
    // The dead translator: it routes the prefix but drops every packet it would translate.
    translator.run("ip -6 route add 64:ff9b::/96 dev eth1")?;
    translator.run("ip6tables -w -A FORWARD -d 64:ff9b::/96 -j DROP")?;
    resolver.dnsmasq(
        Dnsmasq::on("127.0.0.1")
            .host("api.nat.test", SERVER_V4)
            .authoritative_for("nat.test"),
    )?;
    resolver.unbound(
        Unbound::on(RESOLVER)
            .stub_zone("nat.test", "127.0.0.1")
            .line("do-not-query-localhost: no")
            .line("module-config: \"dns64 validator iterator\"")
            .line("dns64-prefix: 64:ff9b::/96"),
    )?;
    // The bench: DNS64 synthesizes the AAAA, and the translator's path is silent.
    let aaaa = client.dig(RESOLVER, "api.nat.test", "AAAA", &[])?;
    assert!(
        aaaa.answers.iter().any(|a| a.ends_with(SYNTHESIZED)),
        "{aaaa:?}"
    );
    assert_eq!(
        client.tcp_connect(&format!("[{SYNTHESIZED}]:8080"), PROBE)?,
        netdiag_testnet::TcpConnect::TimedOut
    );

    let rc = net.resolv_conf(&[&format!("nameserver {RESOLVER}")])?;
    let rc = rc.to_string_lossy().into_owned();
    let run = check(
        &net,
        &client,
        "tcp://api.nat.test:8080",
        &["--resolv-conf", rc.as_str(), "--timeout", "4s"],
    )?;
    assert_diagnosis(
        &run,
        1,
        Some("tcp"),
        netdiag_core::cause::Cause::Nat64TranslatorUnreachable.code(),
    );
    assert_mentions(
        &run,
        &format!("synthesized by DNS64 from {SERVER_V4} (prefix 64:ff9b::/96)"),
    );
    assert_mentions(&run, &format!("the NAT64 translator at {TRANSLATOR}"));
    Ok(())
}
