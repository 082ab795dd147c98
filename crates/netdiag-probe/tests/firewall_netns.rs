//! The local firewall layer against real rulesets: in a network namespace of its own, an
//! iptables REJECT and an nft drop for one flow are found by `explain`, named with their rule,
//! and the printed fix really lets the flow through (and its rollback really removes it).
//!
//! Root and `NETDIAG_NETNS_TESTS=1` only; otherwise each test prints a skip line. `explain` runs
//! inside the namespace by re-executing this test binary under `ip netns exec` with
//! `NETDIAG_FW_CHILD` set, because the firewall tools read the namespace they run in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use netdiag_core::firewall::{Backend, Flow, FlowHook, IpFamily, Outcome, Proto};
use netdiag_probe::firewall::explain;

const CHILD: &str = "NETDIAG_FW_CHILD";

fn enabled(test: &str) -> bool {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|u| u.split_whitespace().nth(1))
            == Some("0")
    });
    let on = std::env::var("NETDIAG_NETNS_TESTS").is_ok_and(|v| v == "1");
    if !(root && on) {
        println!("skip {test}: needs root and NETDIAG_NETNS_TESTS=1");
    }
    root && on
}

/// A network namespace removed on drop, also when the test panics.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("fw{tag}{}", std::process::id());
        sh(&format!("ip netns add {name}"));
        let ns = Netns(name);
        ns.exec("ip link set lo up");
        ns.exec("ip link add d0 type veth peer name d1");
        ns.exec("ip link set d1 up");
        ns.exec("ip addr add 10.66.0.1/24 dev d0");
        ns.exec("ip link set d0 up");
        ns
    }

    /// Runs a shell command inside the namespace; panics with its output when it fails.
    fn exec(&self, cmd: &str) {
        sh(&format!(
            "ip netns exec {} sh -c '{}'",
            self.0,
            cmd.replace('\'', "'\\''")
        ));
    }

    /// Runs `test` of this binary inside the namespace in child role `role`; returns its stdout.
    fn child(&self, test: &str, role: &str) -> String {
        let exe = std::env::current_exe().unwrap();
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .arg(exe)
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, role)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "child {role} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn flow() -> Flow {
    Flow {
        family: IpFamily::V4,
        hook: FlowHook::Output,
        proto: Proto::Tcp,
        src: "10.66.0.1".parse().unwrap(),
        dst: "10.66.0.2".parse().unwrap(),
        sport: None,
        dport: Some(8080),
        iif: None,
        oif: Some("d0".into()),
        reply: false,
        ephemeral: None,
    }
}

/// The child side: explain the flow here, check it against `role`, print the fix for the parent.
fn child(role: &str) {
    let report = explain(&flow(), Instant::now() + Duration::from_secs(10));
    println!("NOTES {:?}", report.notes);
    let verdict = report.verdict.expect("a verdict");
    println!("TRAIL {:#?}", verdict.trail);
    match role {
        "iptables-rejects" => {
            assert_eq!(
                verdict.outcome,
                Outcome::Rejected {
                    with: "icmp-admin-prohibited".into()
                }
            );
            let r = verdict.deciding_rule.expect("a deciding rule");
            assert_eq!(
                (r.backend, r.table.as_str(), r.chain.as_str(), r.position),
                (Backend::Iptables, "filter", "OUTPUT", Some(1))
            );
            assert_eq!(r.text, "-A OUTPUT -d 10.66.0.2/32 -p tcp -m tcp --dport 8080 -j REJECT --reject-with icmp-admin-prohibited");
            assert_eq!(r.packets, Some(0));
            assert_eq!(
                report.fix.fix,
                vec!["iptables -t filter -I OUTPUT 1 -s 10.66.0.1/32 -d 10.66.0.2/32 -p tcp --dport 8080 -m comment --comment netdiag-allow-tcp-10.66.0.1-10.66.0.2-8080 -j ACCEPT"]
            );
        }
        "nft-drops" => {
            assert_eq!(verdict.outcome, Outcome::Dropped);
            let r = verdict.deciding_rule.expect("a deciding rule");
            assert_eq!(
                (
                    r.backend,
                    r.family.as_str(),
                    r.table.as_str(),
                    r.chain.as_str()
                ),
                (Backend::Nft, "inet", "filter", "output")
            );
            assert_eq!(
                r.text,
                "ip daddr 10.66.0.2 tcp dport 8080 counter packets 0 bytes 0 drop"
            );
            let handle = r.handle.expect("a handle");
            assert_eq!(
                report.fix.fix,
                vec![format!("nft 'insert rule inet filter output position {handle} ip saddr 10.66.0.1 ip daddr 10.66.0.2 tcp dport 8080 counter accept comment \"netdiag-allow-tcp-10.66.0.1-10.66.0.2-8080\"'")]
            );
        }
        "accepted" => {
            assert_eq!(verdict.outcome, Outcome::Accepted);
            assert!(report.fix.fix.is_empty());
        }
        other => panic!("unknown child role {other}"),
    }
    for (kind, cmds) in [
        ("FIX", &report.fix.fix),
        ("ROLLBACK", &report.fix.rollback),
        ("PRESTATE", &report.fix.prestate),
    ] {
        for c in cmds {
            assert!(!c.contains("0.0.0.0/0") && !c.contains("::/0"));
            println!("{kind}\t{c}");
        }
    }
}

fn lines<'a>(out: &'a str, kind: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(kind).and_then(|r| r.strip_prefix('\t')))
        .collect()
}

/// Checks the verdict, applies the fix (flow accepted), rolls it back (blocked again).
fn verdict_fix_rollback(ns: &Netns, test: &str, blocked_role: &str) {
    let out = ns.child(test, blocked_role);
    let (fix, rollback, prestate) = (
        lines(&out, "FIX"),
        lines(&out, "ROLLBACK"),
        lines(&out, "PRESTATE"),
    );
    assert_eq!(
        (fix.len(), rollback.len(), prestate.len()),
        (1, 1, 1),
        "{out}"
    );
    for c in prestate.iter().chain(&fix) {
        ns.exec(c);
    }
    for c in &prestate {
        // The saved state is really there; then it goes, this was only a test.
        let path = c.rsplit("> ").next().unwrap();
        assert!(std::fs::metadata(path).unwrap().len() > 0, "{c}");
        let _ = std::fs::remove_file(path);
    }
    ns.child(test, "accepted");
    for c in &rollback {
        ns.exec(c);
    }
    ns.child(test, blocked_role);
}

#[test]
fn iptables_reject_admin_prohibited_on_output_is_named_and_fixed() {
    const NAME: &str = "iptables_reject_admin_prohibited_on_output_is_named_and_fixed";
    if let Ok(role) = std::env::var(CHILD) {
        return child(&role);
    }
    if !enabled(NAME) {
        return;
    }
    let ns = Netns::new("ipt");
    ns.exec("iptables -A OUTPUT -p tcp -d 10.66.0.2 --dport 8080 -j REJECT --reject-with icmp-admin-prohibited");
    verdict_fix_rollback(&ns, NAME, "iptables-rejects");
}

#[test]
fn nft_drop_in_inet_filter_output_is_named_and_fixed() {
    const NAME: &str = "nft_drop_in_inet_filter_output_is_named_and_fixed";
    if let Ok(role) = std::env::var(CHILD) {
        return child(&role);
    }
    if !enabled(NAME) {
        return;
    }
    let ns = Netns::new("nft");
    ns.exec("nft add table inet filter");
    ns.exec("nft add chain inet filter output \"{ type filter hook output priority 0; policy accept; }\"");
    ns.exec("nft add rule inet filter output ip daddr 10.66.0.2 tcp dport 8080 counter drop");
    verdict_fix_rollback(&ns, NAME, "nft-drops");
}
