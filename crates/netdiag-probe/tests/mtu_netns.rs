//! Namespace tests for the mtu layer: a real bottleneck link, with and without ICMP
//! frag-needed / packet-too-big getting back to the client.
//!
//! Root only, and only with `NETDIAG_NETNS_TESTS=1`; otherwise each test prints why it skipped
//! and passes, so a plain `cargo test` stays hermetic.
//!
//! Topology (a tunnel in miniature): `client —1500— r1 —1400— r2 —1500— server`. The bottleneck
//! is between the routers, with both of its ends at 1400, so the server still advertises MSS 1460
//! and TCP from the client really sends 1500-byte packets into the narrow link; r1 answers them
//! with frag-needed (source 10.88.0.2), unless the black-hole variant drops that ICMP on r1's
//! OUTPUT chain. One more test builds the literal `client — router — server` chain with the
//! server itself on the 1400 link, where TCP never sends more than 1400 bytes at all.
//!
//! How the probe runs inside the client namespace: the test re-executes its own binary under
//! `ip netns exec CLIENT`, selecting the same test with `--exact` and telling it through
//! `NETDIAG_MTU_ROLE=client` to run the probe and assert; the listener in the server namespace
//! is the same binary with `NETDIAG_MTU_ROLE=server`. Re-exec (rather than `setns` on a thread)
//! keeps the tests free of `unsafe`, and `ip netns exec` also remounts /sys, so the interface MTU
//! read from sysfs is the client namespace's. Namespace names start with `ndt` (the CI's leak
//! check) and carry the pid; the [`Net`] guard deletes them on drop, also when a test panics.
//! All traffic stays inside these namespaces; every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netdiag_core::observe::{MtuObservation, MtuProbeResult};

const PORT: u16 = 8443;
const ROLE: &str = "NETDIAG_MTU_ROLE";
const TARGET: &str = "NETDIAG_MTU_TARGET";
const EXPECT: &str = "NETDIAG_MTU_EXPECT";
const FROM: &str = "NETDIAG_MTU_FROM";
/// What the server role prints once it listens.
const LISTENING: &str = "netdiag-mtu-server-listening";
/// The server role exits by itself after this long, should the guard never get to kill it.
const SERVER_LIFETIME: Duration = Duration::from_secs(60);
/// The probe's own deadline inside the client.
const PROBE_BUDGET: Duration = Duration::from_secs(10);
/// How long the parent waits for a child before killing it.
const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// One link of the chain: the MTU of its left and right ends.
#[derive(Clone, Copy)]
struct Link {
    left_mtu: u32,
    right_mtu: u32,
}

const fn link(left_mtu: u32, right_mtu: u32) -> Link {
    Link {
        left_mtu,
        right_mtu,
    }
}

/// client —1500— r1 —1400— r2 —1500— server.
const TUNNEL: [Link; 3] = [link(1500, 1500), link(1400, 1400), link(1500, 1500)];
/// client —1500— r1 —1280— r2 —1500— server: the bottleneck at IPv6's minimum link MTU.
const TUNNEL_V6_MIN: [Link; 3] = [link(1500, 1500), link(1280, 1280), link(1500, 1500)];
/// client —1500— router —1400— server (the server on the narrow link).
const SERVER_ON_SMALL_LINK: [Link; 2] = [link(1500, 1500), link(1400, 1400)];

fn v4(link: usize, host: u8) -> IpAddr {
    IpAddr::from([10, 88, u8::try_from(link).unwrap(), host])
}

fn v6(link: usize, host: u16) -> IpAddr {
    IpAddr::from([0xfd88, 0, 0, u16::try_from(link).unwrap(), 0, 0, 0, host])
}

/// The namespaces of one scenario and the listener in the last one; removed on drop.
struct Net {
    names: Vec<String>,
    links: usize,
    server: Option<Child>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn in_ns(ns: &str, program: &str, args: &[&str]) {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    ip(&all);
}

impl Net {
    /// Builds the chain; `None` (after saying why) when namespace tests are not enabled here.
    fn build_or_skip(test: &str, links: &[Link]) -> Option<Net> {
        if std::env::var("NETDIAG_NETNS_TESTS").as_deref() != Ok("1") {
            eprintln!("skipped {test}: set NETDIAG_NETNS_TESTS=1 (as root) to run it");
            return None;
        }
        if !effective_uid_is_root() {
            eprintln!("skipped {test}: needs root (network namespaces)");
            return None;
        }
        let id = NEXT.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("ndtmtu{}x{id}", std::process::id());
        let names: Vec<String> = (0..=links.len()).map(|i| format!("{prefix}n{i}")).collect();
        // The guard exists before the first namespace does, so a failing step still cleans up.
        let mut net = Net {
            names,
            links: links.len(),
            server: None,
        };
        net.setup(links);
        net.start_server(test);
        Some(net)
    }

    fn client(&self) -> &str {
        &self.names[0]
    }

    fn server_ns(&self) -> &str {
        &self.names[self.links]
    }

    fn router(&self, index: usize) -> &str {
        &self.names[index]
    }

    fn setup(&mut self, links: &[Link]) {
        for ns in &self.names {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            // No duplicate address detection on the links created next: a tentative link-local
            // address holds back neighbour discovery for about a second.
            for conf in ["all", "default"] {
                let key = format!("net.ipv6.conf.{conf}.accept_dad=0");
                in_ns(ns, "sysctl", &["-qw", &key]);
            }
        }
        let last = links.len();
        for ns in &self.names[1..last] {
            // Routers forward before their links exist, so they announce themselves as routers
            // from the start.
            in_ns(ns, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
            in_ns(ns, "sysctl", &["-qw", "net.ipv6.conf.all.forwarding=1"]);
        }
        for (i, l) in links.iter().enumerate() {
            let (left, right) = (&self.names[i], &self.names[i + 1]);
            let (lname, rname) = (format!("r{i}"), format!("l{i}"));
            ip(&[
                "link", "add", &lname, "netns", left, "type", "veth", "peer", "name", &rname,
                "netns", right,
            ]);
            for (ns, dev, mtu, host) in [
                (left, &lname, l.left_mtu, 1u8),
                (right, &rname, l.right_mtu, 2u8),
            ] {
                ip(&["-n", ns, "link", "set", dev, "mtu", &mtu.to_string()]);
                ip(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{}/24", v4(i, host)),
                    "dev",
                    dev,
                ]);
                ip(&[
                    "-n",
                    ns,
                    "-6",
                    "addr",
                    "add",
                    &format!("{}/64", v6(i, u16::from(host))),
                    "dev",
                    dev,
                    "nodad",
                ]);
                ip(&["-n", ns, "link", "set", dev, "up"]);
            }
        }
        for (j, ns) in self.names.iter().enumerate() {
            // Every subnet not attached to this namespace goes left or right along the chain.
            for i in 0..last {
                let via = if j > 0 && i + 1 < j {
                    Some((v4(j - 1, 1), v6(j - 1, 1)))
                } else if i > j {
                    Some((v4(j, 2), v6(j, 2)))
                } else {
                    None
                };
                if let Some((via4, via6)) = via {
                    let net4 = format!("10.88.{i}.0/24");
                    let net6 = format!("fd88:0:0:{i}::/64");
                    ip(&["-n", ns, "route", "add", &net4, "via", &via4.to_string()]);
                    ip(&[
                        "-n",
                        ns,
                        "-6",
                        "route",
                        "add",
                        &net6,
                        "via",
                        &via6.to_string(),
                    ]);
                }
            }
        }
    }

    /// Starts the listener (this binary, server role) and waits until it is listening.
    fn start_server(&mut self, test: &str) {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", self.server_ns()])
            .arg(&exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(ROLE, "server")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server role");
        let stdout = child.stdout.take().unwrap();
        self.server = Some(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest has already printed "test NAME ... " without a newline.
                if line.ends_with(LISTENING) {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the server role did not start listening within 10 s");
    }

    /// Makes the router at `index` drop the ICMP errors that carry the path MTU.
    fn drop_too_big_icmp(&self, index: usize) {
        let ns = self.router(index);
        for chain in ["OUTPUT", "FORWARD"] {
            in_ns(
                ns,
                "iptables",
                &[
                    "-A",
                    chain,
                    "-p",
                    "icmp",
                    "--icmp-type",
                    "fragmentation-needed",
                    "-j",
                    "DROP",
                ],
            );
            in_ns(
                ns,
                "ip6tables",
                &[
                    "-A",
                    chain,
                    "-p",
                    "icmpv6",
                    "--icmpv6-type",
                    "packet-too-big",
                    "-j",
                    "DROP",
                ],
            );
        }
    }

    /// Runs this binary's `test` in the client namespace as the client role; returns its output
    /// after asserting it succeeded.
    fn run_client(&self, test: &str, target: SocketAddr, expect: &str, from: IpAddr) -> String {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", self.client()])
            .arg(&exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(ROLE, "client")
            .env(TARGET, target.to_string())
            .env(EXPECT, expect)
            .env(FROM, from.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the client role");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > CHILD_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the client role ran over {CHILD_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        println!("--- client in {} ---\n{stdout}{stderr}", self.client());
        assert!(status.success(), "the client role failed");
        stdout
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // Our own child, by its handle: `ip netns exec` exec'd this binary in place.
            let _ = server.kill();
            let _ = server.wait();
        }
        for ns in &self.names {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn effective_uid_is_root() -> bool {
    // /proc/self/status "Uid:" lists real, effective, saved and filesystem uids.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// In a re-executed child: play the role and return true; in the parent test: false.
fn child_role() -> bool {
    match std::env::var(ROLE).as_deref() {
        Ok("server") => {
            serve();
            true
        }
        Ok("client") => {
            client();
            true
        }
        _ => false,
    }
}

/// A listener on every address of the server namespace that accepts and holds connections
/// without reading: the kernel acknowledges what fits in the receive buffer, which is all a
/// probe needs. Ends after [`SERVER_LIFETIME`] at the latest.
fn serve() {
    let listener = TcpListener::bind(("::", PORT)).expect("bind [::]:8443 (dual stack)");
    listener.set_nonblocking(true).unwrap();
    println!("{LISTENING}");
    let until = Instant::now() + SERVER_LIFETIME;
    let mut held = Vec::new();
    while Instant::now() < until {
        match listener.accept() {
            Ok((stream, _)) if held.len() < 256 => held.push(stream),
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn client() {
    let target: SocketAddr = std::env::var(TARGET).unwrap().parse().unwrap();
    let expect = std::env::var(EXPECT).unwrap();
    // "KIND" or "KIND@MTU": the path MTU the chain's bottleneck has (1400 unless said).
    let (expect, mtu) = match expect.split_once('@') {
        Some((kind, mtu)) => (kind.to_string(), mtu.parse::<u32>().unwrap()),
        None => (expect, 1400),
    };
    let from: IpAddr = std::env::var(FROM).unwrap().parse().unwrap();
    // As in the walk: the transport layer connected moments before the mtu layer runs (which
    // also resolves the neighbours along the chain).
    let started = Instant::now();
    let warm = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(5));
    println!(
        "transport connect: {:?} in {} ms",
        warm.is_ok(),
        started.elapsed().as_millis()
    );
    let warm = warm.unwrap();
    let passive = netdiag_probe::mtu::passive(&warm);
    println!("passive: {passive:?}");
    assert_eq!(passive.interface_mtu, Some(1500));
    assert_eq!(passive.unavailable, None);
    let started = Instant::now();
    let obs = netdiag_probe::mtu::probe(target, Instant::now() + PROBE_BUDGET);
    let took = started.elapsed();
    print_observation(&obs, took);
    match expect.as_str() {
        "frag-needed" => {
            assert_frag_needed_flows(&obs, from, mtu);
            // Again, now that the kernel caches the path MTU: it refuses 1500 itself, and the
            // DF UDP datagram (which ignores the cache) still gets the router to name itself.
            let started = Instant::now();
            let again = netdiag_probe::mtu::probe(target, Instant::now() + PROBE_BUDGET);
            println!("--- again, with the path MTU cached ---");
            print_observation(&again, started.elapsed());
            assert!(
                again
                    .method
                    .contains(&format!("already held path MTU {mtu}")),
                "{}",
                again.method
            );
            assert_frag_needed_flows(&again, from, mtu);
        }
        "black-hole" => assert_black_hole(&obs, mtu),
        "small-mss" => assert_small_mss(&obs),
        other => panic!("unknown expectation {other}"),
    }
    assert!(took < PROBE_BUDGET + Duration::from_millis(500), "{took:?}");
    live_segment(&warm, &expect, mtu);
}

fn print_observation(obs: &MtuObservation, took: Duration) {
    println!("probe took {took:?}");
    println!("method: {}", obs.method);
    println!(
        "interface MTU {:?}, kernel path MTU after {:?}, unavailable {:?}",
        obs.interface_mtu, obs.kernel_path_mtu, obs.unavailable
    );
    for p in &obs.probes {
        println!("  {:>5}  {:?}", p.size, p.result);
    }
}

fn assert_frag_needed_flows(obs: &MtuObservation, router: IpAddr, mtu: u32) {
    assert_eq!(obs.unavailable, None);
    assert_eq!(obs.interface_mtu, Some(1500));
    assert_eq!(
        obs.kernel_path_mtu,
        Some(mtu),
        "the kernel learned the path MTU"
    );
    assert!(
        obs.probes.iter().any(|p| p.size > mtu
            && p.result
                == MtuProbeResult::TooBig {
                    mtu: Some(mtu),
                    from: Some(router),
                }),
        "a TooBig naming {mtu} and the router {router}"
    );
    assert!(obs
        .probes
        .iter()
        .any(|p| p.size == mtu && p.result == MtuProbeResult::Passed));
    assert!(
        obs.probes.iter().all(|p| p.result != MtuProbeResult::Lost),
        "nothing is lost where frag-needed flows"
    );
}

fn assert_black_hole(obs: &MtuObservation, mtu: u32) {
    assert_eq!(obs.unavailable, None);
    assert_eq!(obs.interface_mtu, Some(1500));
    assert_eq!(
        obs.kernel_path_mtu,
        Some(1500),
        "no ICMP reached the kernel"
    );
    let mut largest_passed = 0;
    let mut smallest_lost = u32::MAX;
    for p in &obs.probes {
        match p.result {
            MtuProbeResult::Passed => {
                assert!(p.size <= mtu, "{} passed", p.size);
                largest_passed = largest_passed.max(p.size);
            }
            MtuProbeResult::Lost => {
                assert!(p.size > mtu, "{} lost", p.size);
                smallest_lost = smallest_lost.min(p.size);
            }
            MtuProbeResult::TooBig { .. } => panic!("no TooBig where the ICMP is dropped"),
        }
    }
    assert!(largest_passed > 0 && smallest_lost < u32::MAX);
    assert!(
        obs.probes.iter().all(|p| p.size >= 1200),
        "nothing below the search's floor"
    );
    assert!(
        smallest_lost - largest_passed <= 16,
        "bracketed within 16 bytes: {largest_passed}..{smallest_lost}"
    );
}

/// What the walk does on every http(s) check, on the connection the transport layer opened:
/// one write that fills a segment, watched in TCP_INFO until it settles or stalls (bounded).
fn live_segment(stream: &std::net::TcpStream, expect: &str, mtu: u32) {
    use netdiag_probe::mtu::{plan_segment, segment_result, segment_state, SegmentState};
    use std::io::Write;
    let plan = plan_segment(stream).expect("TCP_INFO of the live connection");
    println!("live segment plan: {plan:?}");
    let mut writer = stream;
    writer
        .write_all(&b"\r\n".repeat(plan.fill as usize / 2))
        .unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    let mut state = segment_state(stream, &plan);
    while state == SegmentState::Waiting && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
        state = segment_state(stream, &plan);
    }
    let seg = segment_result(stream, &plan, plan.fill / 2 * 2, "CR LF pairs".into());
    println!("live segment: {state:?} {seg:?}");
    match expect {
        "black-hole" => {
            assert_eq!(plan.size, 1500, "a full-size segment was planned");
            assert!(matches!(state, SegmentState::Stalled(_)), "{state:?}");
            assert!(!seg.acked && seg.retransmits >= 1, "{seg:?}");
        }
        "frag-needed" => {
            assert_eq!(state, SegmentState::Settled);
            assert!(seg.acked, "{seg:?}");
            // The probe already taught the kernel the path MTU (IPv6 does not always show it in
            // tcpi_pmtu of an older connection; IPV6_MTU does).
            let kernel = netdiag_probe::mtu::passive(stream).kernel_path_mtu;
            assert_eq!(kernel, Some(mtu), "{seg:?}");
        }
        _ => {
            assert_eq!(state, SegmentState::Settled);
            assert!(seg.acked && plan.size <= mtu, "{plan:?} {seg:?}");
        }
    }
}

fn assert_small_mss(obs: &MtuObservation) {
    assert_eq!(obs.unavailable, None);
    assert!(obs.method.contains("only up to 1400"), "{}", obs.method);
    assert!(!obs.probes.is_empty());
    assert!(obs
        .probes
        .iter()
        .all(|p| p.size <= 1400 && p.result == MtuProbeResult::Passed));
}

#[test]
fn path_mtu_1400_with_frag_needed_flowing_is_found_and_the_router_named() {
    const NAME: &str = "path_mtu_1400_with_frag_needed_flowing_is_found_and_the_router_named";
    if child_role() {
        return;
    }
    let Some(net) = Net::build_or_skip(NAME, &TUNNEL) else {
        return;
    };
    let target = SocketAddr::new(v4(2, 2), PORT);
    net.run_client(NAME, target, "frag-needed", v4(0, 2));
}

#[test]
fn path_mtu_1400_black_hole_passes_small_sizes_and_loses_large_ones() {
    const NAME: &str = "path_mtu_1400_black_hole_passes_small_sizes_and_loses_large_ones";
    if child_role() {
        return;
    }
    let Some(net) = Net::build_or_skip(NAME, &TUNNEL) else {
        return;
    };
    net.drop_too_big_icmp(1);
    let target = SocketAddr::new(v4(2, 2), PORT);
    net.run_client(NAME, target, "black-hole", v4(0, 2));
}

#[test]
fn ipv6_path_mtu_1400_with_packet_too_big_flowing_is_found_and_the_router_named() {
    const NAME: &str =
        "ipv6_path_mtu_1400_with_packet_too_big_flowing_is_found_and_the_router_named";
    if child_role() {
        return;
    }
    let Some(net) = Net::build_or_skip(NAME, &TUNNEL) else {
        return;
    };
    let target = SocketAddr::new(v6(2, 2), PORT);
    net.run_client(NAME, target, "frag-needed", v6(0, 2));
}

#[test]
fn ipv6_path_mtu_1400_black_hole_passes_small_sizes_and_loses_large_ones() {
    const NAME: &str = "ipv6_path_mtu_1400_black_hole_passes_small_sizes_and_loses_large_ones";
    if child_role() {
        return;
    }
    let Some(net) = Net::build_or_skip(NAME, &TUNNEL) else {
        return;
    };
    net.drop_too_big_icmp(1);
    let target = SocketAddr::new(v6(2, 2), PORT);
    net.run_client(NAME, target, "black-hole", v6(0, 2));
}

#[test]
fn server_on_a_1400_link_announces_a_small_mss_so_larger_sizes_are_not_tried() {
    const NAME: &str = "server_on_a_1400_link_announces_a_small_mss_so_larger_sizes_are_not_tried";
    if child_role() {
        return;
    }
    let Some(net) = Net::build_or_skip(NAME, &SERVER_ON_SMALL_LINK) else {
        return;
    };
    // Even with the ICMP dropped there is nothing to black-hole: TCP stays within the MSS.
    net.drop_too_big_icmp(1);
    let target = SocketAddr::new(v4(1, 2), PORT);
    net.run_client(NAME, target, "small-mss", v4(0, 2));
}

#[test]
fn ipv6_path_mtu_1280_with_packet_too_big_flowing_is_found_and_the_router_named() {
    const NAME: &str =
        "ipv6_path_mtu_1280_with_packet_too_big_flowing_is_found_and_the_router_named";
    if child_role() {
        return;
    }
    let Some(net) = Net::build_or_skip(NAME, &TUNNEL_V6_MIN) else {
        return;
    };
    let target = SocketAddr::new(v6(2, 2), PORT);
    net.run_client(NAME, target, "frag-needed@1280", v6(0, 2));
}

/// The search's floor for IPv6 is the path's MTU here: 1280 passes, everything above is lost,
/// and nothing below 1280 is tried.
#[test]
fn ipv6_path_mtu_1280_black_hole_is_bracketed_just_above_the_ipv6_minimum() {
    const NAME: &str = "ipv6_path_mtu_1280_black_hole_is_bracketed_just_above_the_ipv6_minimum";
    if child_role() {
        return;
    }
    let Some(net) = Net::build_or_skip(NAME, &TUNNEL_V6_MIN) else {
        return;
    };
    net.drop_too_big_icmp(1);
    let target = SocketAddr::new(v6(2, 2), PORT);
    net.run_client(NAME, target, "black-hole@1280", v6(0, 2));
}
