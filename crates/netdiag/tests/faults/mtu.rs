//! mtu layer: do full-size packets cross the path, or does the path black-hole them?
//!
//! Four namespaces, so that neither end's MSS hides the small link:
//!
//! ```text
//! client 10.77.1.2 —1500— 10.77.1.1 r1 10.77.3.1 —1400— 10.77.3.2 r2 10.77.2.1 —1500— 10.77.2.2 server
//! ```
//!
//! Both ends advertise an MSS of 1460, so each sends 1500-byte packets that only the routers
//! around the 1400 link can refuse: r1 for the client's packets, r2 for the server's. A router
//! that refuses one says so with ICMP fragmentation-needed (healthy: the sender's kernel adapts)
//! unless a firewall drops that ICMP (a black hole: large packets vanish, small ones pass).
//! The server answers every request with 64 KiB, so a response needs full-size segments.
//!
//! Independent probes: `ping -M do` (DF set) of 1500 and 1400 bytes, and curl for the large
//! response; the path MTUs they teach the kernels are flushed before netdiag runs.

use crate::common::{assert_diagnosis, assert_mentions, check, NETDIAG};
use netdiag_testnet::{require_netns, HttpServer, Node, Result, Run, Signer, Testnet, Validity};
use std::time::Duration;

const URL: &str = "http://10.77.2.2:8080/";
const SMALL_URL: &str = "http://10.77.2.2:8081/";
const BODY: usize = 64 * 1024;
const DROP_FRAG_NEEDED: &str =
    "iptables -w -A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP; \
     iptables -w -A FORWARD -p icmp --icmp-type fragmentation-needed -j DROP";

struct MtuLab {
    net: Testnet,
    client: Node,
    r1: Node,
    r2: Node,
    server: Node,
}

fn mtu_lab(tag: &str) -> Result<MtuLab> {
    let net = Testnet::new(tag)?;
    net.set_netdiag(NETDIAG);
    let client = net.host("c")?;
    let r1 = net.router("ra")?;
    let r2 = net.router("rb")?;
    let server = net.host("s")?;
    net.link(&client, "10.77.1.2/24", &r1, "10.77.1.1/24")?;
    let middle = net.link(&r1, "10.77.3.1/24", &r2, "10.77.3.2/24")?;
    net.link(&r2, "10.77.2.1/24", &server, "10.77.2.2/24")?;
    r1.run(&format!("ip link set dev {} mtu 1400", middle.a))?;
    r2.run(&format!("ip link set dev {} mtu 1400", middle.b))?;
    client.default_route("10.77.1.1")?;
    r1.route("10.77.2.0/24", "10.77.3.2")?;
    r2.route("10.77.1.0/24", "10.77.3.1")?;
    server.default_route("10.77.2.1")?;
    server.http("10.77.2.2:8080", HttpServer::status(200).body_size(BODY))?;
    server.http("10.77.2.2:8081", HttpServer::status(200))?;
    Ok(MtuLab {
        net,
        client,
        r1,
        r2,
        server,
    })
}

impl MtuLab {
    /// One DF ping of `size` bytes of IP packet from the client to the server.
    fn ping_df(&self, size: u32) -> Result<Run> {
        let payload = (size - 28).to_string();
        let run = self.client.command(
            "ping",
            &[
                "-n",
                "-c",
                "1",
                "-W",
                "1",
                "-M",
                "do",
                "-s",
                &payload,
                "10.77.2.2",
            ],
            Duration::from_secs(5),
        )?;
        // Forget what ping taught the client: with a cached path MTU of 1400 its next SYN would
        // advertise an MSS of 1360, and the server would never send a full-size segment.
        self.client.run("ip route flush cache")?;
        Ok(run)
    }

    /// Forgets the path MTUs that the probes taught the client's and the server's kernels, so
    /// netdiag starts from nothing. It matters for the server too: once it knows the path MTU to
    /// the client is 1400, it advertises an MSS of 1360 on new connections, and the client never
    /// sends a packet larger than 1400 to it again.
    fn forget_path_mtus(&self) -> Result<()> {
        self.client.run("ip route flush cache")?;
        self.server.run("ip route flush cache")?;
        Ok(())
    }

    /// curl from the client: `%{http_code} %{size_download}`.
    fn curl(&self, url: &str, max_time: &str) -> Result<Run> {
        self.client.command(
            "curl",
            &[
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{size_download}",
                "--max-time",
                max_time,
                url,
            ],
            Duration::from_secs(10),
        )
    }

    fn check(&self, extra: &[&str]) -> Result<Run> {
        check(&self.net, &self.client, URL, extra)
    }

    /// An https service on 10.77.2.2:443 for `svc.test` (leaf and intermediate): the root's
    /// path for `--cacert` and a hosts file for `--hosts-file`.
    fn https_service(&self) -> Result<(String, String)> {
        let pki = self.net.pki()?;
        let leaf = pki.leaf(
            "svc",
            &["svc.test"],
            Validity::Current,
            Signer::Intermediate,
        )?;
        self.server.http(
            "10.77.2.2:443",
            HttpServer::status(200).tls(&leaf.full_chain, &leaf.key),
        )?;
        let root = pki.root_pem().to_string_lossy().into_owned();
        let hosts = self.net.hosts_file(&["10.77.2.2 svc.test"])?;
        Ok((root, hosts.to_string_lossy().into_owned()))
    }
}

/// The largest size in the mtu row's "black hole above N bytes" result.
fn black_hole_above(run: &Run) -> Option<u32> {
    run.rows_of("mtu")
        .filter_map(|row| row.get("result")?.as_str())
        .find_map(|r| {
            r.strip_prefix("black hole above ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
}

/// A smaller path MTU that routers announce is healthy: the 64 KiB response arrives because r2
/// tells the server (frag-needed) during netdiag's own GET, and the mtu row says 1400.
#[test]
fn mtu_path_reduced_with_frag_needed_is_healthy() -> Result<()> {
    require_netns!();
    let lab = mtu_lab("mtuok")?;
    let big = lab.ping_df(1500)?;
    assert!(
        big.stdout.contains("Frag needed") && big.stdout.contains("mtu = 1400"),
        "frag-needed comes back{big}"
    );
    assert_eq!(lab.ping_df(1400)?.status, Some(0), "1400 bytes pass");
    let download = lab.curl(URL, "3")?;
    assert_eq!(download.stdout, format!("200 {BODY}"), "curl{download}");
    let learned = lab.server.run("ip route get 10.77.1.2")?;
    assert!(
        learned.contains("mtu 1400"),
        "the server learned the path MTU from r2's frag-needed: {learned}"
    );
    lab.forget_path_mtus()?;

    // Frag-needed is an ICMP destination unreachable (type 3 code 4); the routers send no other.
    let before = lab.r2.icmp_unreachables_sent()?;
    let run = lab.check(&["--mtu"])?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(run.rows_of("mtu").count() > 0, "an mtu row{run}");
    assert!(
        run.warning_causes().contains(&"mtu_path_reduced"),
        "mtu_path_reduced warning{run}"
    );
    assert_mentions(&run, "1400");
    assert!(
        lab.r2.icmp_unreachables_sent()? > before,
        "r2 told the server during netdiag's GET"
    );
    Ok(())
}

/// The same healthy path seen by the active probe itself: with a small response the server never
/// learns the path MTU, so the probe's 1500-byte segment reaches r1, which answers with
/// frag-needed; the probe names r1 and the size it announced.
#[test]
fn mtu_path_reduced_probe_hears_frag_needed() -> Result<()> {
    require_netns!();
    let lab = mtu_lab("mtuprobeok")?;
    let before = lab.r1.icmp_unreachables_sent()?;
    let run = check(&lab.net, &lab.client, SMALL_URL, &["--mtu"])?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(
        run.warning_causes().contains(&"mtu_path_reduced"),
        "mtu_path_reduced warning{run}"
    );
    assert_mentions(&run, "MTU 1400");
    assert_mentions(&run, "10.77.1.1");
    assert!(
        lab.r1.icmp_unreachables_sent()? > before,
        "r1 answered the probe with frag-needed"
    );
    Ok(())
}

/// Without `--mtu` the healthy reduced path stays healthy: the request, padded to the
/// session's MSS, is a 1500-byte segment that r1 answers with frag-needed; the kernel learns
/// 1400, resends, and the mtu row says so.
#[test]
fn mtu_path_reduced_passive_is_exit_0() -> Result<()> {
    require_netns!();
    let lab = mtu_lab("mtupassive")?;
    let before = lab.r1.icmp_unreachables_sent()?;
    let run = check(&lab.net, &lab.client, SMALL_URL, &[])?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(run.rows_of("mtu").count() > 0, "an mtu row{run}");
    assert!(
        run.warning_causes().contains(&"mtu_path_reduced"),
        "mtu_path_reduced warning{run}"
    );
    assert_mentions(&run, "the kernel learned PMTU 1400");
    assert_mentions(&run, "1500-byte segment");
    assert!(
        lab.r1.icmp_unreachables_sent()? > before,
        "r1 answered the padded request with frag-needed"
    );
    Ok(())
}

/// The same for https: the request, padded inside one TLS record, draws r1's frag-needed; the
/// kernel learns 1400 and the check stays healthy, noting it.
#[test]
fn mtu_path_reduced_https_is_healthy_and_noted() -> Result<()> {
    require_netns!();
    let lab = mtu_lab("mtupassivetls")?;
    let (root, hosts) = lab.https_service()?;
    let before = lab.r1.icmp_unreachables_sent()?;
    let run = check(
        &lab.net,
        &lab.client,
        "https://svc.test/",
        &["--cacert", &root, "--hosts-file", &hosts],
    )?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(
        run.warning_causes().contains(&"mtu_path_reduced"),
        "mtu_path_reduced warning{run}"
    );
    assert_mentions(&run, "the kernel learned PMTU 1400");
    assert_mentions(&run, "in one TLS record");
    assert!(
        lab.r1.icmp_unreachables_sent()? > before,
        "r1 answered the padded request with frag-needed"
    );
    Ok(())
}

/// A lab whose server→client direction avoids the 1400 link (a second r1–r2 link of 1500
/// carries it), so the server never learns a smaller path MTU and keeps advertising an MSS of
/// 1460; client→server still crosses the 1400 link, where r1 drops the frag-needed it would
/// send: a black hole for the client's full-size segments only (an upload-direction hole).
fn one_way_hole(tag: &str) -> Result<MtuLab> {
    let lab = mtu_lab(tag)?;
    lab.net
        .link(&lab.r1, "10.77.4.1/24", &lab.r2, "10.77.4.2/24")?;
    lab.r2.run("ip route replace 10.77.1.0/24 via 10.77.4.1")?;
    for router in [&lab.r1, &lab.r2] {
        router.run("for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done")?;
    }
    lab.r1.run(DROP_FRAG_NEEDED)?;
    Ok(lab)
}

/// The acceptance case of the mtu layer by default: no `--mtu`, a small response (nothing
/// large ever comes back), yet the request padded to the MSS is a full-size segment that
/// vanishes; the walk sees it unacknowledged, searches, and names the hole.
#[test]
fn mtu_blackhole_found_without_mtu_flag_http() -> Result<()> {
    require_netns!();
    let lab = one_way_hole("mtubhdef")?;
    let big = lab.ping_df(1500)?;
    assert_ne!(big.status, Some(0), "1500 bytes vanish{big}");
    assert!(!big.stdout.contains("Frag needed"), "no frag-needed{big}");
    assert_eq!(lab.ping_df(1400)?.status, Some(0), "1400 bytes pass");
    let small = lab.curl(SMALL_URL, "2")?;
    assert!(
        small.stdout.starts_with("200 "),
        "curl's small request passes{small}"
    );
    lab.forget_path_mtus()?;

    let run = check(&lab.net, &lab.client, SMALL_URL, &["--timeout", "6s"])?;
    assert_diagnosis(&run, 1, Some("mtu"), "mtu_blackhole");
    let above = black_hole_above(&run);
    assert!(
        above.is_some_and(|n| (1396..=1400).contains(&n)),
        "the largest size that passes is about 1400, got {above:?}{run}"
    );
    assert_mentions(&run, "not acknowledged");
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}{run}",
        run.elapsed
    );
    Ok(())
}

/// The same hole for https: the handshake's segments are small client→server, so only the
/// request, padded inside one TLS record to fill the segment, meets it.
#[test]
fn mtu_blackhole_found_without_mtu_flag_https() -> Result<()> {
    require_netns!();
    let lab = one_way_hole("mtubhtls")?;
    let (root, hosts) = lab.https_service()?;
    let curl = lab.client.command(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "2",
            "--cacert",
            &root,
            "--resolve",
            "svc.test:443:10.77.2.2",
            "https://svc.test/",
        ],
        Duration::from_secs(10),
    )?;
    assert_eq!(curl.stdout, "200", "curl's small request passes{curl}");
    lab.forget_path_mtus()?;

    let run = check(
        &lab.net,
        &lab.client,
        "https://svc.test/",
        &["--cacert", &root, "--hosts-file", &hosts, "--timeout", "6s"],
    )?;
    assert_diagnosis(&run, 1, Some("mtu"), "mtu_blackhole");
    let above = black_hole_above(&run);
    assert!(
        above.is_some_and(|n| (1396..=1400).contains(&n)),
        "the largest size that passes is about 1400, got {above:?}{run}"
    );
    assert_mentions(&run, "TLS record");
    assert!(run.rows_of("tls").count() > 0, "the handshake passed{run}");
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}{run}",
        run.elapsed
    );
    Ok(())
}

/// The classic black hole: both routers drop the frag-needed they would send. Small requests
/// work; the 64 KiB response would stall (r2 drops the server's full-size segments silently),
/// but the request, padded to the MSS, already meets r1's hole: the walk sees it
/// unacknowledged and probes actively; the probe measures client→server, where r1 drops them.
#[test]
fn mtu_blackhole() -> Result<()> {
    require_netns!();
    let lab = mtu_lab("mtubh")?;
    lab.r1.run(DROP_FRAG_NEEDED)?;
    lab.r2.run(DROP_FRAG_NEEDED)?;
    let big = lab.ping_df(1500)?;
    assert_ne!(big.status, Some(0), "1500 bytes vanish{big}");
    assert!(
        !big.stdout.contains("Frag needed"),
        "no frag-needed comes back{big}"
    );
    assert_eq!(lab.ping_df(1400)?.status, Some(0), "1400 bytes pass");
    let small = lab.curl(SMALL_URL, "2")?;
    assert!(
        small.stdout.starts_with("200 "),
        "a small response arrives{small}"
    );
    let large = lab.curl(URL, "2")?;
    assert_eq!(large.status, Some(28), "the large response stalls{large}");
    lab.forget_path_mtus()?;

    let run = lab.check(&["--timeout", "6s"])?;
    assert_diagnosis(&run, 1, Some("mtu"), "mtu_blackhole");
    let above = black_hole_above(&run);
    assert!(
        above.is_some_and(|n| (1396..=1400).contains(&n)),
        "the largest size that passes is about 1400, got {above:?}{run}"
    );
    Ok(())
}

/// Only the client→server direction is a black hole (r1 drops the frag-needed it would send to
/// the client; r2 still tells the server), as for uploads. The service answers with a small
/// response, so nothing stalls and `--mtu` asks for the active probe. (With the large response
/// the server would learn the path MTU from r2 during netdiag's own GET and advertise an MSS of
/// 1360 to the probe's connections: TCP to it then never sends a packet the hole could eat.)
#[test]
fn mtu_blackhole_client_to_server_found_with_mtu_flag() -> Result<()> {
    require_netns!();
    let lab = mtu_lab("mtubhup")?;
    lab.r1.run(DROP_FRAG_NEEDED)?;
    let big = lab.ping_df(1500)?;
    assert_ne!(big.status, Some(0), "1500 bytes vanish{big}");
    assert!(
        !big.stdout.contains("Frag needed"),
        "no frag-needed comes back{big}"
    );
    assert_eq!(lab.ping_df(1400)?.status, Some(0), "1400 bytes pass");
    let small = lab.curl(SMALL_URL, "2")?;
    assert!(
        small.stdout.starts_with("200 "),
        "the response arrives{small}"
    );
    lab.forget_path_mtus()?;

    let run = check(
        &lab.net,
        &lab.client,
        SMALL_URL,
        &["--mtu", "--timeout", "6s"],
    )?;
    assert_diagnosis(&run, 1, Some("mtu"), "mtu_blackhole");
    let above = black_hole_above(&run);
    assert!(
        above.is_some_and(|n| (1396..=1400).contains(&n)),
        "the largest size that passes is about 1400, got {above:?}{run}"
    );
    Ok(())
}

/// The upload-direction hole on the symmetric lab, over https: the server's certificate flight
/// crosses r2, whose frag-needed still reaches the server, so the server learns path MTU 1400
/// during the handshake and from then on announces an MSS of 1360. The probe's new connections
/// can then never send more than 1400 bytes; the session, opened before, still sends 1500 and
/// loses them. The lost session segment is the evidence the search cannot reproduce.
#[test]
fn mtu_blackhole_https_after_the_server_learned_a_smaller_mtu() -> Result<()> {
    require_netns!();
    let lab = mtu_lab("mtubhlearned")?;
    lab.r1.run(DROP_FRAG_NEEDED)?;
    // Enough names that the certificate flight needs full-size segments.
    let extra: Vec<String> = (0..60).map(|i| format!("name-{i:02}.svc.test")).collect();
    let mut names = vec!["svc.test"];
    names.extend(extra.iter().map(String::as_str));
    let pki = lab.net.pki()?;
    let leaf = pki.leaf("svc", &names, Validity::Current, Signer::Intermediate)?;
    lab.server.http(
        "10.77.2.2:443",
        HttpServer::status(200).tls(&leaf.full_chain, &leaf.key),
    )?;
    let root = pki.root_pem().to_string_lossy().into_owned();
    let hosts = lab.net.hosts_file(&["10.77.2.2 svc.test"])?;
    let hosts = hosts.to_string_lossy().into_owned();
    lab.forget_path_mtus()?;
    let r2_before = lab.r2.icmp_unreachables_sent()?;

    let run = check(
        &lab.net,
        &lab.client,
        "https://svc.test/",
        &["--cacert", &root, "--hosts-file", &hosts, "--timeout", "6s"],
    )?;
    assert!(
        lab.r2.icmp_unreachables_sent()? > r2_before,
        "r2 told the server about the 1400 link during the handshake{run}"
    );
    assert_diagnosis(&run, 1, Some("mtu"), "mtu_blackhole");
    assert_mentions(&run, "only up to 1400 bytes");
    assert_mentions(&run, "not acknowledged");
    Ok(())
}

/// The IPv6 form of the lab: the same four namespaces with IPv6 only, and a 1280-byte middle
/// link (the IPv6 minimum, RFC 8200), so the search cannot go below the path's MTU.
///
/// ```text
/// client fd77:1::2 —1500— r1 —1280— r2 —1500— fd77:2::2 server
/// ```
const URL_V6: &str = "http://[fd77:2::2]:8081/";
const DROP_PACKET_TOO_BIG: &str =
    "ip6tables -w -A OUTPUT -p icmpv6 --icmpv6-type packet-too-big -j DROP; \
     ip6tables -w -A FORWARD -p icmpv6 --icmpv6-type packet-too-big -j DROP";

fn mtu_lab_v6(tag: &str) -> Result<MtuLab> {
    let net = Testnet::new(tag)?;
    net.set_netdiag(NETDIAG);
    let client = net.host("c")?;
    let r1 = net.router("ra")?;
    let r2 = net.router("rb")?;
    let server = net.host("s")?;
    net.link(&client, "fd77:1::2/64", &r1, "fd77:1::1/64")?;
    let middle = net.link(&r1, "fd77:3::1/64", &r2, "fd77:3::2/64")?;
    net.link(&r2, "fd77:2::1/64", &server, "fd77:2::2/64")?;
    r1.run(&format!("ip link set dev {} mtu 1280", middle.a))?;
    r2.run(&format!("ip link set dev {} mtu 1280", middle.b))?;
    client.default_route("fd77:1::1")?;
    r1.route("fd77:2::/64", "fd77:3::2")?;
    r2.route("fd77:1::/64", "fd77:3::1")?;
    server.default_route("fd77:2::1")?;
    server.http("[fd77:2::2]:8081", HttpServer::status(200))?;
    Ok(MtuLab {
        net,
        client,
        r1,
        r2,
        server,
    })
}

/// IPv6 with Packet Too Big dropped at both routers: the padded request vanishes, the search
/// runs down to the IPv6 minimum of 1280 (never below), and the verdict names 1280 as the
/// largest size that passes.
#[test]
fn ipv6_mtu_blackhole_with_packet_too_big_dropped_is_bounded_at_1280() -> Result<()> {
    require_netns!();
    let lab = mtu_lab_v6("mtubh6")?;
    lab.r1.run(DROP_PACKET_TOO_BIG)?;
    lab.r2.run(DROP_PACKET_TOO_BIG)?;
    let small = lab.curl(URL_V6, "2")?;
    assert!(
        small.stdout.starts_with("200 "),
        "curl's small request passes{small}"
    );
    lab.client.run("ip -6 route flush cache")?;
    lab.server.run("ip -6 route flush cache")?;

    let run = check(&lab.net, &lab.client, URL_V6, &["--timeout", "6s"])?;
    assert_diagnosis(&run, 1, Some("mtu"), "mtu_blackhole");
    let above = black_hole_above(&run);
    assert_eq!(above, Some(1280), "the largest size that passes{run}");
    assert_mentions(&run, "fd77:2::2");
    assert_mentions(&run, "1280 bytes: passed");
    assert_mentions(&run, "minimum link MTU");
    // Evidence lines read "N bytes: passed|lost|too big": none below the IPv6 minimum.
    let tried: Vec<u32> = run
        .evidence()
        .lines()
        .filter_map(|l| l.trim().split_once(" bytes: ")?.0.parse().ok())
        .collect();
    assert!(!tried.is_empty(), "the search's sizes are evidence{run}");
    assert!(
        tried.iter().all(|&s| s >= 1280),
        "no size below the IPv6 minimum is tried: {tried:?}{run}"
    );
    assert!(
        run.elapsed < Duration::from_secs(6),
        "took {:?}{run}",
        run.elapsed
    );
    Ok(())
}

/// IPv6 with Packet Too Big flowing: r1 tells the client, the kernel learns PMTU 1280, the
/// check is healthy and notes it.
#[test]
fn ipv6_mtu_path_reduced_with_packet_too_big_is_healthy() -> Result<()> {
    require_netns!();
    let lab = mtu_lab_v6("mtuok6")?;
    let run = check(&lab.net, &lab.client, URL_V6, &[])?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(
        run.warning_causes().contains(&"mtu_path_reduced"),
        "mtu_path_reduced warning{run}"
    );
    assert_mentions(&run, "the kernel learned PMTU 1280");
    Ok(())
}
