//! Reading this host's firewall: runs `iptables-save -c`, `ip6tables-save -c` and
//! `nft -j list ruleset`, then hands the text to [`netdiag_core::firewall`] to find the rule that
//! drops or rejects a flow.
//!
//! Why the tools and not netlink: `iptables-save` is the one reader that understands both the
//! legacy and the nf_tables backend, and its text names every match; `nft -j` is nftables' own
//! stable JSON. Every command has a deadline enforced by killing the child, a bounded output, and
//! an absolute path found on PATH (plus the sbin directories, which unprivileged PATHs often
//! lack). This module must never change the ruleset, never decide a verdict itself (core's `firewall::explain_sources` does), and never
//! crash for want of privileges: reading the ruleset needs CAP_NET_ADMIN, and without it every
//! source says so.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netdiag_core::firewall::{explain_sources, Flow};

pub use netdiag_core::firewall::{FirewallReport, FirewallSources as Rulesets};

/// The most output read from one command: far above any real ruleset, far below memory trouble.
pub const MAX_OUTPUT: usize = 4 * 1024 * 1024;
/// The most stderr kept for an error message.
const MAX_STDERR: usize = 16 * 1024;
/// What an unprivileged caller is told.
pub const NEEDS_CAP_NET_ADMIN: &str = "needs CAP_NET_ADMIN (run as root to read the firewall)";
/// The CAP_NET_ADMIN bit in `CapEff`.
const CAP_NET_ADMIN: u32 = 12;

/// Reads all three sources concurrently, each bounded by `deadline`, plus the facts the
/// evaluation needs beside them (legacy tables loaded, the ephemeral port range).
pub fn read_rulesets(deadline: Instant) -> Rulesets {
    let legacy_tables_loaded = legacy_tables_loaded();
    let ephemeral = local_port_range();
    if !may_read_firewall() {
        let no = || Err(NEEDS_CAP_NET_ADMIN.to_owned());
        return Rulesets {
            iptables: no(),
            ip6tables: no(),
            nft: no(),
            legacy_tables_loaded,
            ephemeral,
        };
    }
    std::thread::scope(|s| {
        let v4 = s.spawn(|| run("iptables-save", &["-c"], deadline));
        let v6 = s.spawn(|| run("ip6tables-save", &["-c"], deadline));
        let nft = run("nft", &["-j", "list", "ruleset"], deadline);
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<String, String>>| {
            h.join()
                .unwrap_or_else(|_| Err("reader thread panicked".to_owned()))
        };
        Rulesets {
            iptables: join(v4),
            ip6tables: join(v6),
            nft,
            legacy_tables_loaded,
            ephemeral,
        }
    })
}

/// `net.ipv4.ip_local_port_range`: where this host's ephemeral ports come from (IPv6 uses the
/// same range). `None` when unreadable or malformed.
pub fn local_port_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
    let (lo, hi) = (parts.next()??, parts.next()??);
    (lo <= hi).then_some((lo, hi))
}

/// Reads the firewall and has core walk `flow` through it (read here, concluded there).
pub fn explain(flow: &Flow, deadline: Instant) -> FirewallReport {
    explain_sources(flow, &read_rulesets(deadline))
}

/// Whether any legacy (x_tables) IPv4 table is loaded next to the nf_tables ones.
fn legacy_tables_loaded() -> bool {
    std::fs::read_to_string("/proc/net/ip_tables_names").is_ok_and(|s| !s.trim().is_empty())
}

/// Root, or CAP_NET_ADMIN in the effective set (from `/proc/self/status`; if that cannot be read
/// we try anyway and let the tool say no).
fn may_read_firewall() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return true;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let root = field("Uid:")
        .and_then(|u| u.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0");
    let cap = field("CapEff:")
        .and_then(|c| u64::from_str_radix(c, 16).ok())
        .map(|bits| bits & (1 << CAP_NET_ADMIN) != 0);
    root || cap.unwrap_or(true)
}

/// The absolute path of `tool`: PATH first, then the sbin directories.
fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/local/sbin"]
                .iter()
                .map(PathBuf::from),
        )
        .filter(|d| d.is_absolute())
        .map(|d| d.join(tool))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn read_capped(mut r: impl Read, cap: usize) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let _ = r.by_ref().take(limit).read_to_end(&mut buf);
    let over = buf.len() > cap;
    if over {
        buf.truncate(cap);
        // Keep draining so the child is not blocked on a full pipe before we kill it.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
    }
    (buf, over)
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `tool args` with stdin closed and a deadline; stdout as text, or why not.
fn run(tool: &str, args: &[&str], deadline: Instant) -> Result<String, String> {
    let path = find_tool(tool).ok_or_else(|| format!("{tool} not found on PATH"))?;
    let mut child = Command::new(&path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C")
        .spawn()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        kill(&mut child);
        return Err(format!("{}: no pipes", path.display()));
    };
    let out = std::thread::spawn(move || read_capped(stdout, MAX_OUTPUT));
    let err = std::thread::spawn(move || read_capped(stderr, MAX_STDERR));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                kill(&mut child);
                break Err(format!("{tool} timed out (killed)"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                kill(&mut child);
                break Err(format!("{tool}: {e}"));
            }
        }
    };
    // The pipes close when the child is gone, so these joins end.
    let (stdout, over) = out.join().unwrap_or_default();
    let (stderr, _) = err.join().unwrap_or_default();
    let status = status?;
    let stderr = String::from_utf8_lossy(&stderr).trim().to_owned();
    if !status.success() {
        let lower = stderr.to_ascii_lowercase();
        if lower.contains("permission denied")
            || lower.contains("operation not permitted")
            || lower.contains("must be root")
        {
            return Err(NEEDS_CAP_NET_ADMIN.to_owned());
        }
        return Err(format!("{tool} failed ({status}): {stderr}"));
    }
    if over {
        return Err(format!(
            "{tool} printed more than {} MiB; not read",
            MAX_OUTPUT >> 20
        ));
    }
    String::from_utf8(stdout).map_err(|_| format!("{tool} printed something that is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_killed_at_the_deadline_and_output_is_capped() {
        let start = Instant::now();
        let e = run("sleep", &["5"], start + Duration::from_millis(200)).unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(2));
        let big = run(
            "head",
            &["-c", "5000000", "/dev/zero"],
            Instant::now() + Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(big.contains("more than 4 MiB"), "{big}");
        assert!(run("no-such-tool-netdiag", &[], Instant::now()).is_err());
    }
}
