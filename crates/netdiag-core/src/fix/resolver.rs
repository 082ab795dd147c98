//! Remedies of the resolv.conf causes (`resolver_*`).

use super::{runbook, Remedy, Words};
use crate::diagnose::FixContext;
use crate::report::Fix;

/// The remedy of `ResolverConfigInvalid`.
pub(super) fn config_invalid(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words {
        rc,
        backup,
        restore,
        ..
    } = w;
    Remedy {
        fix: Fix {
            description: format!(
                "Edit {rc}{}: a nameserver line takes one IP address (no name, no port); fix or remove the line libc ignores.",
                ctx.line.map(|l| format!(" line {l}")).unwrap_or_default()
            ),
            commands: vec![
                format!("sed -n '{}p' {rc}", ctx.line.unwrap_or(1)),
                format!("# replace it with: nameserver <IP address of your resolver>"),
                "getent ahosts <name>   # verify with libc after the edit".to_string(),
            ],
         manifests: Vec::new() },
        prestate: vec![backup, format!("cat {rc}")],
        rollback: vec![restore],
        runbook: runbook(
            "Names resolve strangely or not at all; resolv.conf looks right at a glance",
            &[&format!("grep -n nameserver {rc}"), "netdiag check <name>"],
            "nameserver lines take an IP address only; libc silently skips anything else.",
        ),
    }
}

/// The remedy of `ResolverNoNameservers`.
pub(super) fn no_nameservers(w: Words<'_>) -> Remedy {
    let Words {
        rc,
        backup,
        restore,
        ..
    } = w;
    Remedy {
        fix: Fix {
            description: format!("Add the resolver's address to {rc} (or fix what manages it: systemd-resolved, NetworkManager, DHCP, the container runtime)."),
            commands: vec![
                format!("echo 'nameserver <RESOLVER_IP>' >> {rc}"),
                "resolvectl status 2>/dev/null || nmcli dev show 2>/dev/null | grep DNS".to_string(),
            ],
         manifests: Vec::new() },
        prestate: vec![backup, format!("ls -l {rc}; cat {rc}")],
        rollback: vec![restore],
        runbook: runbook(
            "Every lookup fails; resolv.conf is empty, missing or has only search/options",
            &[&format!("cat {rc}"), "ss -lunp 'sport = :53'   # is anything listening on 127.0.0.1:53?"],
            "give libc a nameserver; find out which tool owns resolv.conf so the change survives.",
        ),
    }
}

/// The remedy of `ResolverTooManyNameservers`.
pub(super) fn too_many_nameservers(w: Words<'_>) -> Remedy {
    let Words {
        rc,
        backup,
        restore,
        ..
    } = w;
    Remedy {
        fix: Fix {
            description: format!("Keep at most 3 nameserver lines in {rc}; libc ignores the rest."),
            commands: vec![format!("grep -n '^nameserver' {rc}")],
            manifests: Vec::new(),
        },
        prestate: vec![backup],
        rollback: vec![restore],
        runbook: runbook(
            "Backup nameservers never used",
            &[&format!("grep -c '^nameserver' {rc}")],
            "libc uses the first three nameservers only.",
        ),
    }
}
