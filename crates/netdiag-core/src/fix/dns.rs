//! Remedies of the DNS answer and nameserver causes (`dns_*`).

use super::{or, runbook, Remedy, Words};
use crate::diagnose::FixContext;
use crate::report::Fix;

/// The remedy of `DnsNxdomain`.
pub(super) fn nxdomain(w: Words<'_>) -> Remedy {
    let Words { ns, name, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("The name does not exist at {ns}. Check the spelling, then create the record in the zone (or fix the delegation), or use the name that exists."),
            commands: vec![
                format!("dig @{ns} {name} A +norecurse"),
                format!("dig +trace {name}   # where the authoritative chain says it does not exist"),
                format!("dig SOA {name}"),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("dig @{ns} {name} ANY +noall +answer +authority")],
        rollback: vec!["delete the record you added (zone change), or revert the zone file / DNS provider change".to_string()],
        runbook: runbook(
            "'Could not resolve host' / NXDOMAIN",
            &[&format!("dig @{ns} {name}"), &format!("dig +trace {name}")],
            "NXDOMAIN is authoritative: the record is missing or in another zone; a typo or a wrong search domain is the usual cause.",
        ),
    }
}

/// The remedy of `DnsNodata`.
pub(super) fn nodata(w: Words<'_>) -> Remedy {
    let Words { ns, name, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("{name} exists but has no address record: add an A (and/or AAAA) record, or connect with the address family that has one."),
            commands: vec![format!("dig @{ns} {name} ANY"), format!("dig @{ns} {name} A"), format!("dig @{ns} {name} AAAA")],
         manifests: Vec::new() },
        prestate: vec![format!("dig @{ns} {name} ANY +noall +answer")],
        rollback: vec!["remove the added record".to_string()],
        runbook: runbook(
            "Name exists but 'no address associated with hostname'",
            &[&format!("dig {name} A"), &format!("dig {name} AAAA")],
            "the name has other records (TXT, MX, ...) but no A/AAAA.",
        ),
    }
}

/// The remedy of `DnsServfail`.
pub(super) fn servfail(w: Words<'_>) -> Remedy {
    let Words {
        rc,
        ns,
        name,
        restore,
        ..
    } = w;
    Remedy {
        fix: Fix {
            description: format!("{ns} cannot resolve the name: check its upstream forwarders and the zone's authoritative servers; meanwhile point resolv.conf at a working resolver."),
            commands: vec![
                format!("dig @{ns} {name} +cd   # SERVFAIL even with checking disabled: not DNSSEC"),
                format!("dig +trace {name}"),
                "journalctl -u unbound -u named -u dnsmasq -u systemd-resolved --since -15min   # on the resolver".to_string(),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("cat {rc}"), format!("dig @{ns} {name}")],
        rollback: vec![restore],
        runbook: runbook(
            "SERVFAIL from the resolver",
            &[&format!("dig @{ns} {name}"), &format!("dig @{ns} {name} +cd"), &format!("dig +trace {name}")],
            "SERVFAIL with and without +cd is a broken upstream or zone; with an answer under +cd it is DNSSEC.",
        ),
    }
}

/// The remedy of `DnsDnssecFailure`.
pub(super) fn dnssec_failure(w: Words<'_>) -> Remedy {
    let Words { ns, name, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("DNSSEC validation of {name} fails at {ns}: have the zone owner fix the signatures / DS record (expired RRSIG, DS mismatch after a key roll). Do not turn validation off globally; if you must, add a negative trust anchor for this zone only, temporarily."),
            commands: vec![
                format!("dig @{ns} {name} +dnssec +multi"),
                format!("dig @{ns} {name} +cd"),
                format!("delv @{ns} {name}   # says which signature fails"),
                format!("unbound-control insecure_add {}   # temporary negative trust anchor on an unbound resolver", name.trim_end_matches('.')),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("dig @{ns} {name} +dnssec +cd +multi")],
        rollback: vec![format!("unbound-control insecure_remove {}", name.trim_end_matches('.'))],
        runbook: runbook(
            "SERVFAIL that disappears with +cd",
            &[&format!("dig @{ns} {name}"), &format!("dig @{ns} {name} +cd"), &format!("delv {name}")],
            "the zone's DNSSEC chain is broken; the zone owner must re-sign or fix the DS at the parent.",
        ),
    }
}

/// The remedy of `DnsRefused`.
pub(super) fn refused(w: Words<'_>) -> Remedy {
    let Words { src, ns, name, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("{ns} refuses this client: allow the client's network in the resolver's ACL (e.g. unbound access-control, BIND allow-recursion, dnsmasq listen/interface options), or use a resolver meant for this network."),
            commands: vec![
                format!("dig @{ns} {name}"),
                format!("# on the resolver, unbound:   access-control: {src}/32 allow"),
                format!("# BIND:   allow-recursion {{ {src}/32; }};"),
            ],
         manifests: Vec::new() },
        prestate: vec!["copy the resolver's configuration before editing its ACL".to_string()],
        rollback: vec!["restore the resolver's previous ACL and reload it".to_string()],
        runbook: runbook(
            "REFUSED from the resolver",
            &[&format!("dig @{ns} {name}")],
            "the resolver's access control does not include this client, or it is authoritative-only.",
        ),
    }
}

/// The remedy of `DnsTimeout`.
pub(super) fn timeout(w: Words<'_>) -> Remedy {
    let Words {
        rc,
        ns,
        name,
        restore,
        ..
    } = w;
    Remedy {
        fix: Fix {
            description: format!("No nameserver answers: check that the resolver runs and that UDP and TCP port 53 to it are open (local firewall, security group), or point {rc} at a resolver that works."),
            commands: vec![
                format!("dig @{ns} {name} +tries=1 +time=2"),
                format!("dig @{ns} {name} +tcp +tries=1 +time=2"),
                format!("ip route get {ns}"),
                "iptables -S OUTPUT | grep -w 53; nft list ruleset | grep -w 53".to_string(),
            ],
         manifests: Vec::new() },
        prestate: vec![format!("cat {rc}")],
        rollback: vec![restore],
        runbook: runbook(
            "Every lookup hangs, then fails",
            &[&format!("dig @{ns} {name} +tries=1 +time=2"), &format!("ip route get {ns}")],
            "the nameserver is down or port 53 is filtered on the way.",
        ),
    }
}

/// The remedy of `DnsNameserverUnreachable`.
pub(super) fn nameserver_unreachable(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words {
        rc,
        ns,
        name,
        backup,
        restore,
        ..
    } = w;
    let others: Vec<String> = ctx
        .other_nameservers
        .iter()
        .map(|o| format!("nameserver {o}"))
        .collect();
    let timeout = ctx.dns_timeout.map(|t| t.as_secs()).unwrap_or(5);
    Remedy {
        fix: Fix {
            description: format!(
                "Remove (or repair) the dead nameserver {ns} in {rc}, so libc stops waiting {timeout} s for it on every lookup. Until then, 'options timeout:1 attempts:2' shortens the stall."
            ),
            commands: vec![
                format!("dig @{ns} {name} +tries=1 +time=2   # confirm it does not answer"),
                format!("sed -i.bak '/^nameserver[[:space:]]*{}$/d' {rc}", ns.replace('.', "\\.")),
                format!("# resulting servers: {}", if others.is_empty() { "add a working one".to_string() } else { others.join(", ") }),
            ],
         manifests: Vec::new() },
        prestate: vec![backup],
        rollback: vec![format!("mv {rc}.bak {rc}"), restore],
        runbook: runbook(
            "Everything is slow; each new connection pauses ~5 s first",
            &[&format!("time getent ahosts {}", ctx.host), &format!("for s in $(awk '/^nameserver/{{print $2}}' {rc}); do dig @$s {name} +tries=1 +time=2 | grep -E 'status|timed out'; done")],
            "a dead first nameserver makes libc wait timeout x attempts before the next one answers; remove it or put a working server first.",
        ),
    }
}

/// The remedy of `DnsSlow`.
pub(super) fn slow(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words {
        rc,
        ns,
        name,
        restore,
        ..
    } = w;
    Remedy {
        fix: Fix {
            description: format!("Lookups via {ns} are slow: use a closer resolver or a local cache (nscd, systemd-resolved, node-local DNS in Kubernetes), and query fully qualified names to skip the search list."),
            commands: vec![format!("dig @{ns} {name} | grep 'Query time'"), format!("time getent ahosts {}", ctx.host)],
         manifests: Vec::new() },
        prestate: vec![format!("cat {rc}")],
        rollback: vec![restore],
        runbook: runbook(
            "Requests are slow before they start",
            &[&format!("dig @{ns} {name} | grep 'Query time'")],
            "the resolver or its upstream is slow or far away; cache closer to the client.",
        ),
    }
}

/// The remedy of `DnsSearchExpansion`.
pub(super) fn search_expansion(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { rc, restore, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("Query the name fully qualified ({}.) or lower ndots (Kubernetes: dnsConfig options ndots: \"2\").", ctx.host.trim_end_matches('.')),
            commands: vec![format!("getent ahosts {}.", ctx.host.trim_end_matches('.'))],
         manifests: Vec::new() },
        prestate: vec![format!("cat {rc}")],
        rollback: vec![restore],
        runbook: runbook("Many NXDOMAIN queries per lookup", &[&format!("grep -E 'search|ndots' {rc}")], "use FQDNs with a trailing dot or lower ndots."),
    }
}

/// The remedy of `DnsHostsOverride`.
pub(super) fn hosts_override(_w: Words<'_>, ctx: &FixContext) -> Remedy {
    Remedy {
        fix: Fix {
            description: format!(
                "Remove or correct the {} entry for {} if DNS should decide.",
                or(
                    Some(ctx.hosts_file.clone()).filter(|s| !s.is_empty()),
                    "/etc/hosts"
                ),
                ctx.host
            ),
            commands: vec![format!("grep -n -w '{}' /etc/hosts", ctx.host)],
            manifests: Vec::new(),
        },
        prestate: vec!["cp -a /etc/hosts /etc/hosts.bak.$(date +%s)".to_string()],
        rollback: vec!["cp -a /etc/hosts.bak.<timestamp> /etc/hosts".to_string()],
        runbook: runbook(
            "Resolves to an old address",
            &["getent ahosts NAME", "dig NAME"],
            "a hosts entry overrides DNS.",
        ),
    }
}

/// The remedy of `DnsInconsistentNameservers`.
pub(super) fn inconsistent_nameservers(w: Words<'_>) -> Remedy {
    let Words {
        rc, name, restore, ..
    } = w;
    Remedy {
        fix: Fix {
            description: "Make every nameserver in resolv.conf serve the same view (or keep only the ones that do).".to_string(),
            commands: vec![format!("for s in $(awk '/^nameserver/{{print $2}}' {rc}); do echo $s; dig +short @$s {name}; done")],
         manifests: Vec::new() },
        prestate: vec![format!("cat {rc}")],
        rollback: vec![restore],
        runbook: runbook("Resolves on some tries only", &["dig @each-nameserver NAME"], "nameservers disagree (split horizon)."),
    }
}
