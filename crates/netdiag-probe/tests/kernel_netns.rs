//! Namespace tests for kernel state and "where on the path": each test creates the fault it is
//! named after and checks that `trace::locate` or `kernel::facts` + `classify` name it.
//!
//! Root only, and only with `NETDIAG_NETNS_TESTS=1`; otherwise each test prints why it skipped
//! and passes, so a plain `cargo test` stays hermetic.
//!
//! Topology: `client (10.55.1.2) — router (10.55.1.1 | 10.55.2.1) — server (10.55.2.2)`, with
//! forwarding on the router and default routes through it. Namespace names start with `ndtks`
//! and carry the pid and a counter; the [`Net`] guard deletes them on drop, also on panic.
//!
//! The probes run inside the client namespace by re-executing this test binary under
//! `ip netns exec CLIENT … --exact TEST --nocapture` with `NDTKS_ROLE=client`: the same test
//! function then runs its client half, asserts, and the parent checks the exit status. Every
//! child is killed after [`CHILD_LIMIT`]. All traffic stays inside these namespaces.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use netdiag_core::hostfacts::{classify, describe_path, NeighbourState};
use netdiag_core::observe::IcmpKind;
use netdiag_probe::kernel;
use netdiag_probe::trace::{locate, Proto};

const ROLE: &str = "NDTKS_ROLE";
const CHILD_LIMIT: Duration = Duration::from_secs(30);
const ROUTER_NEAR: [u8; 4] = [10, 55, 1, 1];
const SERVER: [u8; 4] = [10, 55, 2, 2];
const PORT: u16 = 8080;

fn router_near() -> IpAddr {
    IpAddr::from(ROUTER_NEAR)
}

fn server(port: u16) -> SocketAddr {
    SocketAddr::from((SERVER, port))
}

fn is_child() -> bool {
    std::env::var(ROLE).as_deref() == Ok("client")
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) {
    run("ip", args).unwrap();
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// client, router, server; deleted on drop.
struct Net {
    client: String,
    router: String,
    server: String,
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.client, &self.router, &self.server] {
            let _ = run("ip", &["netns", "del", ns]);
        }
    }
}

impl Net {
    fn build_or_skip(test: &str) -> Option<Net> {
        if std::env::var("NETDIAG_NETNS_TESTS").as_deref() != Ok("1") {
            eprintln!("skipped {test}: set NETDIAG_NETNS_TESTS=1 (as root) to run it");
            return None;
        }
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
            });
        if uid.as_deref() != Some("0") {
            eprintln!("skipped {test}: needs root (network namespaces)");
            return None;
        }
        let prefix = format!(
            "ndtks{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let net = Net {
            client: format!("{prefix}c"),
            router: format!("{prefix}r"),
            server: format!("{prefix}s"),
        };
        for ns in [&net.client, &net.router, &net.server] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let (c, r, s) = (&net.client, &net.router, &net.server);
        ip(&[
            "-n", c, "link", "add", "vc", "type", "veth", "peer", "name", "vrc", "netns", r,
        ]);
        ip(&[
            "-n", s, "link", "add", "vs", "type", "veth", "peer", "name", "vrs", "netns", r,
        ]);
        for (ns, dev, addr) in [
            (c, "vc", "10.55.1.2/24"),
            (r, "vrc", "10.55.1.1/24"),
            (r, "vrs", "10.55.2.1/24"),
            (s, "vs", "10.55.2.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&["-n", c, "route", "add", "default", "via", "10.55.1.1"]);
        ip(&["-n", s, "route", "add", "default", "via", "10.55.2.1"]);
        net.exec(r, "sysctl", &["-qw", "net.ipv4.ip_forward=1"])
            .unwrap();
        Some(net)
    }

    fn exec(&self, ns: &str, program: &str, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// One nft command in a namespace, e.g. `add rule inet ndtks fwd tcp dport 8080 drop`.
    fn nft(&self, ns: &str, command: &str) {
        self.exec(ns, "nft", &[command]).unwrap();
    }

    /// A table `inet ndtks` with one base chain named after its hook.
    fn nft_chain(&self, ns: &str, hook: &str) {
        self.nft(ns, "add table inet ndtks");
        self.nft(
            ns,
            &format!("add chain inet ndtks {hook} {{ type filter hook {hook} priority 0; }}"),
        );
    }

    /// Re-runs `test` inside the client namespace as the client role; asserts it passed.
    fn run_client(&self, test: &str, env: &[(&str, &str)]) {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.client])
            .arg(&exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(ROLE, "client")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > CHILD_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{test}: client role did not finish within {CHILD_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for line in text.lines().filter(|l| l.starts_with("ndtks:")) {
            println!("{line}");
        }
        assert!(status.success(), "{test}: client role failed:\n{text}");
    }
}

fn budget(seconds: u64) -> Instant {
    Instant::now() + Duration::from_secs(seconds)
}

// (a) A DROP at the server: the router answers hop 1, the server is silent.
#[test]
fn server_drop_is_located_after_the_router() {
    const NAME: &str = "server_drop_is_located_after_the_router";
    if is_child() {
        // Before the drop: a closed port answers with a reset at hop 2 (and UDP with port
        // unreachable), which shows the path delivers.
        let open = locate(server(PORT + 1), Proto::Tcp, 6, budget(3));
        println!("ndtks: closed port: {} {open:?}", describe_path(&open));
        assert!(open.reached);
        assert_eq!(open.hops.len(), 2);
        let udp = locate(server(PORT + 1), Proto::Udp, 6, budget(3));
        println!("ndtks: closed udp port: {}", describe_path(&udp));
        assert!(udp.reached);

        let started = Instant::now();
        let trace = locate(server(PORT), Proto::Tcp, 6, budget(3));
        println!(
            "ndtks: dropped port ({:?}): {}",
            started.elapsed(),
            describe_path(&trace)
        );
        assert!(!trace.reached, "{trace:?}");
        let hop1 = trace.hops[0];
        assert_eq!(hop1.responder, Some(router_near()));
        assert_eq!(hop1.icmp.map(|i| i.kind()), Some(IcmpKind::TimeExceeded));
        assert_eq!(trace.last_responding, Some((1, router_near())));
        assert_eq!(trace.first_silent, Some(2));
        assert!(trace.hops[1..].iter().all(|h| h.responder.is_none()));
        assert_eq!(
            describe_path(&trace),
            "dropped after 10.55.1.1 (hop 1); hop 2 and beyond silent"
        );
        return;
    }
    let Some(net) = Net::build_or_skip(NAME) else {
        return;
    };
    net.nft_chain(&net.server, "input");
    net.nft(
        &net.server,
        &format!("add rule inet ndtks input tcp dport {PORT} drop"),
    );
    net.run_client(NAME, &[]);
}

// (b) A DROP in the router's FORWARD chain: the router still answers hop 1, because it
// decrements the TTL and sends time-exceeded before the forward hook runs; hop 2 is silent.
// From the client this is indistinguishable from (a). A REJECT there names the router.
#[test]
fn router_forward_drop_and_reject_are_located_at_the_router() {
    const NAME: &str = "router_forward_drop_and_reject_are_located_at_the_router";
    if is_child() {
        let dropped = locate(server(PORT), Proto::Tcp, 6, budget(3));
        println!("ndtks: forward drop: {}", describe_path(&dropped));
        assert!(!dropped.reached);
        assert_eq!(dropped.last_responding, Some((1, router_near())));
        assert_eq!(dropped.first_silent, Some(2));

        let rejected = locate(server(PORT + 1), Proto::Tcp, 6, budget(3));
        println!("ndtks: forward reject: {}", describe_path(&rejected));
        assert!(!rejected.reached);
        assert_eq!(rejected.hops.len(), 2, "the rejection ends the trace");
        let hop2 = rejected.hops[1];
        assert_eq!(hop2.responder, Some(router_near()));
        assert_eq!(hop2.icmp.map(|i| i.kind()), Some(IcmpKind::AdminProhibited));
        assert!(describe_path(&rejected).starts_with("rejected by 10.55.1.1 (hop 2)"));
        return;
    }
    let Some(net) = Net::build_or_skip(NAME) else {
        return;
    };
    net.nft_chain(&net.router, "forward");
    net.nft(
        &net.router,
        &format!("add rule inet ndtks forward tcp dport {PORT} drop"),
    );
    net.nft(
        &net.router,
        &format!(
            "add rule inet ndtks forward tcp dport {} reject with icmp type admin-prohibited",
            PORT + 1
        ),
    );
    net.run_client(NAME, &[]);
}

// (c) conntrack: the count follows the flows opened in the client namespace; a full table is
// named when the max can be lowered here.
#[test]
fn conntrack_table_fill_is_read_and_a_full_table_is_named() {
    const NAME: &str = "conntrack_table_fill_is_read_and_a_full_table_is_named";
    if is_child() {
        let small = std::env::var("NDTKS_SMALL_MAX").is_ok();
        let flows = 20;
        let sockets: Vec<std::net::UdpSocket> = (0..flows)
            .map(|_| {
                let s = std::net::UdpSocket::bind("10.55.1.2:0").unwrap();
                let _ = s.send_to(b"x", server(9999));
                s
            })
            .collect();
        let facts = kernel::facts(server(9999).ip(), None, None);
        let ct = facts.conntrack.expect("conntrack facts");
        println!(
            "ndtks: conntrack count {} max {} drops {:?}",
            ct.count, ct.max, ct.drops
        );
        let codes: Vec<&str> = classify(&facts).iter().map(|f| f.code.code()).collect();
        if small {
            assert!(ct.count >= ct.max, "{ct:?}");
            assert!(codes.contains(&"conntrack_table_full"), "{codes:?}");
        } else {
            assert!(ct.count >= flows, "{ct:?}");
            assert!(!codes.contains(&"conntrack_table_full"), "{codes:?}");
        }
        drop(sockets);
        return;
    }
    let Some(net) = Net::build_or_skip(NAME) else {
        return;
    };
    if !std::path::Path::new("/proc/sys/net/netfilter/nf_conntrack_max").exists() {
        eprintln!("skipped {NAME}: nf_conntrack is not loaded and cannot be loaded here");
        return;
    }
    // Conntrack only tracks a namespace once a rule there needs it.
    net.nft_chain(&net.client, "output");
    net.nft(
        &net.client,
        "add rule inet ndtks output ct state new counter",
    );
    // sysctl may report success although the kernel refused the write: read the value back.
    let _ = net.exec(
        &net.client,
        "sysctl",
        &["-qw", "net.netfilter.nf_conntrack_max=16"],
    );
    let max = Command::new("ip")
        .args(["netns", "exec", &net.client, "cat"])
        .arg("/proc/sys/net/netfilter/nf_conntrack_max")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let small = max == "16";
    if !small {
        println!(
            "ndtks: full-table part skipped: nf_conntrack_max (still {max}) cannot be lowered in a \
             namespace on this kernel (global, read-only outside the initial namespace); lowering \
             the host's would affect every namespace. Checked the per-namespace count instead."
        );
    }
    let env: &[(&str, &str)] = if small {
        &[("NDTKS_SMALL_MAX", "1")]
    } else {
        &[]
    };
    net.run_client(NAME, env);
}

// (d) A next hop on the client's subnet that nobody owns: ARP fails, the entry is FAILED.
#[test]
fn unanswered_arp_is_a_failed_neighbour() {
    const NAME: &str = "unanswered_arp_is_a_failed_neighbour";
    if is_child() {
        let ghost: IpAddr = "10.55.1.77".parse().unwrap();
        let attempt = netdiag_probe::tcp::connect_all(&[SocketAddr::new(ghost, 80)], budget(4));
        println!("ndtks: connect to nobody: {:?}", attempt[0].outcome);
        let facts = kernel::facts(ghost, None, None);
        let n = facts.neighbour.clone().expect("neighbour facts");
        println!(
            "ndtks: neighbour {} on {}: {}",
            n.address,
            n.interface,
            n.state.name()
        );
        assert_eq!(n.interface, "vc");
        assert!(
            matches!(n.state, NeighbourState::Failed | NeighbourState::Incomplete),
            "{n:?}"
        );
        let found = classify(&facts);
        println!("ndtks: {:?}", found.first().map(|f| &f.text));
        assert!(
            found.iter().any(|f| f.code.code() == "neighbor_failed"),
            "{found:?}"
        );

        // The router does answer ARP: its entry is usable.
        let _ = netdiag_probe::tcp::connect_all(&[server(PORT)], budget(2));
        let good = kernel::facts(server(PORT).ip(), None, None);
        let n = good.neighbour.expect("neighbour facts");
        assert_eq!(n.address, router_near());
        assert!(
            matches!(
                n.state,
                NeighbourState::Reachable | NeighbourState::Stale | NeighbourState::Delay
            ),
            "{n:?}"
        );
        return;
    }
    let Some(net) = Net::build_or_skip(NAME) else {
        return;
    };
    net.run_client(NAME, &[]);
}

// (e) The client's interface down, administratively and by losing the carrier.
#[test]
fn down_interface_is_named() {
    const NAME: &str = "down_interface_is_named";
    if is_child() {
        let mode = std::env::var("NDTKS_DOWN").unwrap();
        let facts = kernel::facts(server(PORT).ip(), Some(router_near()), Some("vc"));
        let link = facts.interface.clone().expect("interface facts");
        println!("ndtks: {mode}: {link:?} notes {:?}", facts.notes);
        match mode.as_str() {
            "admin" => assert!(!link.admin_up),
            _ => assert_eq!(link.carrier, Some(false)),
        }
        let found = classify(&facts);
        let down = found
            .iter()
            .find(|f| f.code.code() == "interface_down")
            .expect("interface_down");
        println!("ndtks: {} / fix: {}", down.text, down.fix);
        assert_eq!(down.fix, "ip link set vc up");
        return;
    }
    let Some(net) = Net::build_or_skip(NAME) else {
        return;
    };
    ip(&["-n", &net.client, "link", "set", "vc", "down"]);
    net.run_client(NAME, &[("NDTKS_DOWN", "admin")]);
    ip(&["-n", &net.client, "link", "set", "vc", "up"]);
    ip(&["-n", &net.router, "link", "set", "vrc", "down"]);
    net.run_client(NAME, &[("NDTKS_DOWN", "carrier")]);
}
