//! The bench's own tests: each fault the netdiag tests rely on is built here and observed with
//! independent tools (std sockets, `dig`, `/proc/net/snmp`), without netdiag. If one of these
//! fails, a netdiag namespace test failing on the same fault says nothing about netdiag.
//!
//! Gated like every namespace test: root and `NETDIAG_NETNS_TESTS=1`.

use netdiag_testnet::{
    dns_query, require_netns, Dnsmasq, Node, Result, TcpConnect, Testnet, UdpExchange, Unbound,
};
use std::process::Command;
use std::time::Duration;

const CLIENT: &str = "10.77.1.2";
const ROUTER_IN: &str = "10.77.1.1";
const SERVER: &str = "10.77.2.2";
const SEC: Duration = Duration::from_secs(1);

/// client 10.77.1.2 — 10.77.1.1 router 10.77.2.1 — 10.77.2.2 server
struct Lab {
    /// Owns the scenario: dropping it tears everything down.
    _net: Testnet,
    client: Node,
    router: Node,
    server: Node,
}

fn lab(tag: &str) -> Result<Lab> {
    let net = Testnet::new(tag)?;
    let client = net.host("c")?;
    let router = net.router("r")?;
    let server = net.host("s")?;
    net.link(&client, "10.77.1.2/24", &router, "10.77.1.1/24")?;
    net.link(&router, "10.77.2.1/24", &server, "10.77.2.2/24")?;
    client.default_route(ROUTER_IN)?;
    server.default_route("10.77.2.1")?;
    Ok(Lab {
        _net: net,
        client,
        router,
        server,
    })
}

fn namespaces() -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn alive(pid: &str) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn lab_routes_through_router_and_is_removed_on_drop() -> Result<()> {
    require_netns!();
    let names;
    {
        let lab = lab("hdrop")?;
        lab.server.listen_tcp("10.77.2.2:8080")?;
        assert_eq!(
            lab.client.tcp_connect("10.77.2.2:8080", SEC)?,
            TcpConnect::Established
        );
        // Loopback is up in every namespace.
        lab.server.listen_tcp("127.0.0.1:9")?;
        assert_eq!(
            lab.server.tcp_connect("127.0.0.1:9", SEC)?,
            TcpConnect::Established
        );
        // The client's address is on its interface, the router forwards.
        assert!(lab.client.run("ip -4 addr show dev eth0")?.contains(CLIENT));
        assert_eq!(lab.router.run("sysctl -n net.ipv4.ip_forward")?.trim(), "1");
        names = [lab.client.netns().to_owned(), lab.server.netns().to_owned()];
        assert!(namespaces().contains(&names[0]));
    }
    let after = namespaces();
    assert!(
        !after.contains(&names[0]) && !after.contains(&names[1]),
        "{after}"
    );
    Ok(())
}

#[test]
fn namespaces_and_servers_are_removed_when_a_test_panics() -> Result<()> {
    require_netns!();
    let seen = std::sync::Mutex::new(None::<(String, String)>);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let net = Testnet::new("hpanic").expect("testnet");
        let s = net.host("s").expect("host");
        let c = net.host("c").expect("host");
        net.link(&c, "10.77.2.1/24", &s, "10.77.2.2/24")
            .expect("link");
        s.dnsmasq(Dnsmasq::on(SERVER)).expect("dnsmasq");
        let pids = s
            .run("ip netns pids \"$(ip netns identify)\"")
            .expect("pids");
        let pid = pids.split_whitespace().next().expect("a pid").to_owned();
        *seen.lock().expect("lock") = Some((s.netns().to_owned(), pid));
        panic!("scenario failed on purpose");
    }));
    assert!(outcome.is_err());
    let (ns, pid) = seen.lock().expect("lock").clone().expect("scenario ran");
    assert!(!namespaces().contains(&ns), "{ns} left behind");
    assert!(!alive(&pid), "dnsmasq {pid} left running");
    Ok(())
}

#[test]
fn dnsmasq_answers_nxdomain_nodata_and_refused_as_documented() -> Result<()> {
    require_netns!();
    let lab = lab("hdnsmasq")?;
    lab.server.dnsmasq(
        Dnsmasq::on(SERVER)
            .authoritative_for("test")
            .host("ok.test", SERVER)
            .txt("txt.test", "only-txt"),
    )?;
    let c = &lab.client;
    let ok = c.dig(SERVER, "ok.test", "A", &[])?;
    assert!(
        ok.is("NOERROR") && ok.answers.iter().any(|a| a.ends_with(SERVER)),
        "{ok:?}"
    );
    assert!(c.dig(SERVER, "ok.test", "AAAA", &[])?.is_nodata());
    assert!(c.dig(SERVER, "missing.test", "A", &[])?.is("NXDOMAIN"));
    assert!(c.dig(SERVER, "txt.test", "A", &[])?.is_nodata());
    assert!(c.dig(SERVER, "txt.test", "AAAA", &[])?.is_nodata());
    assert!(c.dig(SERVER, "ok.test", "A", &["+tcp"])?.is("NOERROR"));
    // Outside its zone and without upstream, dnsmasq refuses.
    assert!(c.dig(SERVER, "elsewhere.example", "A", &[])?.is("REFUSED"));
    Ok(())
}

#[test]
fn unbound_gives_servfail_refused_and_dnssec_bogus() -> Result<()> {
    require_netns!();
    let lab = lab("hunbound")?;
    let s = &lab.server;
    let dev = "eth0";
    for addr in ["10.77.2.3/24", "10.77.2.4/24", "10.77.2.5/24"] {
        s.add_address(dev, addr)?;
    }
    // .2 serves sec.test unsigned; .4 refuses everything it is asked.
    s.dnsmasq(
        Dnsmasq::on(SERVER)
            .authoritative_for("test")
            .host("www.sec.test", SERVER),
    )?;
    s.dnsmasq(Dnsmasq::on("10.77.2.4"))?;
    s.unbound(
        Unbound::on("10.77.2.3")
            .stub_zone("sec.test", SERVER)
            .trust_anchor("sec.test")
            .stub_zone("fail.test", "10.77.2.4"),
    )?;
    s.unbound(Unbound::on("10.77.2.5").refuse_all())?;
    let c = &lab.client;
    assert!(c.dig("10.77.2.3", "www.sec.test", "A", &[])?.is("SERVFAIL"));
    let cd = c.dig("10.77.2.3", "www.sec.test", "A", &["+cd"])?;
    assert!(cd.is("NOERROR") && cd.answers.len() == 1, "{cd:?}");
    assert!(c.dig("10.77.2.3", "a.fail.test", "A", &[])?.is("SERVFAIL"));
    assert!(c
        .dig("10.77.2.3", "a.fail.test", "A", &["+cd"])?
        .is("SERVFAIL"));
    assert!(c.dig("10.77.2.5", "ok.test", "A", &[])?.is("REFUSED"));
    Ok(())
}

#[test]
fn dropped_nameserver_times_out_and_slow_relay_delays() -> Result<()> {
    require_netns!();
    let lab = lab("hdnsslow")?;
    let s = &lab.server;
    s.add_address("eth0", "10.77.2.3/24")?;
    s.dnsmasq(
        Dnsmasq::on("10.77.2.3")
            .authoritative_for("test")
            .host("ok.test", SERVER),
    )?;
    s.slow_dns("10.77.2.2:53", "10.77.2.3:53", Duration::from_millis(1500))?;
    let slow = lab.client.dig(SERVER, "ok.test", "A", &["+time=5"])?;
    assert!(
        slow.is("NOERROR") && slow.elapsed >= Duration::from_millis(1500),
        "{slow:?}"
    );
    s.run("iptables -w -A INPUT -d 10.77.2.3 -p udp --dport 53 -j DROP")?;
    s.run("iptables -w -A INPUT -d 10.77.2.3 -p tcp --dport 53 -j DROP")?;
    assert_eq!(
        lab.client
            .dig("10.77.2.3", "ok.test", "A", &["+time=1"])?
            .status,
        None
    );
    assert_eq!(
        lab.client
            .dig("10.77.2.3", "ok.test", "A", &["+time=1", "+tcp"])?
            .status,
        None
    );
    Ok(())
}

#[test]
fn tcp_faults_are_what_they_claim() -> Result<()> {
    require_netns!();
    let lab = lab("htcp")?;
    let (c, r, s) = (&lab.client, &lab.router, &lab.server);
    // First, before any other ICMP error goes to the client: the router's "no route" ICMP has
    // its own 1/s limiter, and the icmp_ratelimit=0 path of REJECT empties its tokens.
    // Router without a route to 10.77.3.0/24: ICMP net unreachable from the router.
    let r0 = r.icmp_unreachables_sent()?;
    assert_eq!(
        c.tcp_connect("10.77.3.5:8080", SEC)?,
        TcpConnect::NetUnreachable
    );
    assert!(r.icmp_unreachables_sent()? > r0);

    s.listen_tcp("10.77.2.2:8080")?;
    s.listen_tcp_reset("10.77.2.2:8081")?;
    assert_eq!(
        c.tcp_connect("10.77.2.2:8080", SEC)?,
        TcpConnect::Established
    );
    assert_eq!(c.tcp_connect("10.77.2.2:8082", SEC)?, TcpConnect::Refused);
    assert_eq!(
        c.tcp_connect_then_read("10.77.2.2:8081", SEC, SEC)?,
        TcpConnect::Reset
    );
    assert_eq!(
        c.tcp_connect_then_read("10.77.2.2:8080", SEC, Duration::from_millis(300))?,
        TcpConnect::Established
    );

    // Admin-prohibited at the router: the router, not the server, sends the ICMP error.
    r.run(
        "iptables -w -A FORWARD -p tcp --dport 8080 -j REJECT --reject-with icmp-admin-prohibited",
    )?;
    let (r0, s0) = (r.icmp_unreachables_sent()?, s.icmp_unreachables_sent()?);
    assert_eq!(
        c.tcp_connect("10.77.2.2:8080", SEC)?,
        TcpConnect::HostUnreachable
    );
    assert!(r.icmp_unreachables_sent()? > r0);
    assert_eq!(s.icmp_unreachables_sent()?, s0);

    // Host-unreachable at the router.
    r.run(
        "iptables -w -A FORWARD -p tcp --dport 8083 -j REJECT --reject-with icmp-host-unreachable",
    )?;
    assert_eq!(
        c.tcp_connect("10.77.2.2:8083", SEC)?,
        TcpConnect::HostUnreachable
    );

    // Nobody owns 10.77.2.99 on the router's connected subnet: ARP fails at the router.
    let r1 = r.icmp_unreachables_sent()?;
    assert_eq!(
        c.tcp_connect("10.77.2.99:8080", Duration::from_secs(6))?,
        TcpConnect::HostUnreachable
    );
    assert!(r.icmp_unreachables_sent()? > r1);

    // Silence: DROP at the server.
    s.run("iptables -w -A INPUT -p tcp --dport 8084 -j DROP")?;
    assert_eq!(c.tcp_connect("10.77.2.2:8084", SEC)?, TcpConnect::TimedOut);

    // tcp-reset REJECT in front of a live listener looks like a closed port.
    s.run("iptables -w -I INPUT -p tcp --dport 8080 -j REJECT --reject-with tcp-reset")?;
    r.run("iptables -w -F FORWARD")?;
    assert_eq!(c.tcp_connect("10.77.2.2:8080", SEC)?, TcpConnect::Refused);
    Ok(())
}

#[test]
fn client_without_default_route_has_no_route() -> Result<()> {
    require_netns!();
    let net = Testnet::new("hnoroute")?;
    let c = net.host("c")?;
    let r = net.router("r")?;
    net.link(&c, "10.77.1.2/24", &r, "10.77.1.1/24")?;
    assert_eq!(
        c.tcp_connect("10.77.2.2:8080", SEC)?,
        TcpConnect::NetUnreachable
    );
    Ok(())
}

#[test]
fn udp_faults_are_what_they_claim() -> Result<()> {
    require_netns!();
    let lab = lab("hudp")?;
    let (c, s) = (&lab.client, &lab.server);
    s.dnsmasq(
        Dnsmasq::on(SERVER)
            .authoritative_for("test")
            .host("ok.test", SERVER),
    )?;
    s.listen_udp_echo("10.77.2.2:7")?;
    let query = dns_query("ok.test", 1);
    assert!(matches!(
        c.udp_exchange("10.77.2.2:53", &query, SEC)?,
        UdpExchange::Reply(_)
    ));
    assert_eq!(
        c.udp_exchange("10.77.2.2:7", b"ping", SEC)?,
        UdpExchange::Reply(b"ping".to_vec())
    );
    assert_eq!(
        c.udp_exchange("10.77.2.2:9999", b"x", SEC)?,
        UdpExchange::PortUnreachable
    );
    s.run("iptables -w -A INPUT -p udp --dport 53 -j DROP")?;
    assert_eq!(
        c.udp_exchange("10.77.2.2:53", &query, SEC)?,
        UdpExchange::NoResponse
    );
    Ok(())
}
