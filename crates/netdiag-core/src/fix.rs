//! Fix, pre-state, rollback and runbook text for every cause.
//!
//! One place per cause: a newcomer looking for what netdiag tells people to do about
//! `tcp_admin_prohibited` finds it in [`remedy`]'s match arm of that name. Fixes are printed,
//! never applied. Every firewall change is scoped to the flow's own source and destination, never
//! to 0.0.0.0/0, and comes with the command that captures the state before it and the one that
//! undoes it.

use crate::cause::Cause;
use crate::diagnose::FixContext;
pub use crate::remedy::Remedy;
use crate::report::Fix;

fn or(v: Option<impl ToString>, placeholder: &str) -> String {
    v.map(|x| x.to_string())
        .unwrap_or_else(|| placeholder.to_string())
}

fn runbook(symptom: &str, check: &[&str], fix: &str) -> String {
    let checks: Vec<String> = check.iter().map(|c| format!("    {c}")).collect();
    format!(
        "### {symptom}\n\n**Check**\n\n{}\n\n**Fix**: {fix}\n",
        checks.join("\n")
    )
}

/// Builds the remedy for a cause in its context.
pub fn remedy(cause: Cause, ctx: &FixContext) -> Remedy {
    let addr = or(ctx.address, "TARGET_IP");
    let port = or(ctx.port, "PORT");
    let proto = if ctx.protocol.is_empty() {
        "tcp"
    } else {
        ctx.protocol
    };
    let src = or(ctx.source, "SOURCE_IP");
    let rc = if ctx.resolv_conf.is_empty() {
        "/etc/resolv.conf".to_string()
    } else {
        ctx.resolv_conf.clone()
    };
    let ns = or(ctx.nameserver, "NAMESERVER_IP");
    let name = ctx
        .name
        .clone()
        .unwrap_or_else(|| format!("{}.", ctx.host.trim_end_matches('.')));
    let backup = format!("cp -a {rc} {rc}.bak.$(date +%s)");
    let restore = format!("cp -a {rc}.bak.<timestamp> {rc}   # the copy made before the change");
    match cause {
        Cause::Ok => Remedy::default(),
        Cause::ResolverConfigInvalid => Remedy {
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
        },
        Cause::ResolverNoNameservers => Remedy {
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
        },
        Cause::ResolverTooManyNameservers => Remedy {
            fix: Fix {
                description: format!("Keep at most 3 nameserver lines in {rc}; libc ignores the rest."),
                commands: vec![format!("grep -n '^nameserver' {rc}")],
             manifests: Vec::new() },
            prestate: vec![backup],
            rollback: vec![restore],
            runbook: runbook("Backup nameservers never used", &[&format!("grep -c '^nameserver' {rc}")], "libc uses the first three nameservers only."),
        },
        Cause::DnsNxdomain => Remedy {
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
        },
        Cause::DnsNodata => Remedy {
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
        },
        Cause::DnsServfail => Remedy {
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
        },
        Cause::DnsDnssecFailure => Remedy {
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
        },
        Cause::DnsRefused => Remedy {
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
        },
        Cause::DnsTimeout => Remedy {
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
        },
        Cause::DnsNameserverUnreachable => {
            let others: Vec<String> = ctx.other_nameservers.iter().map(|o| format!("nameserver {o}")).collect();
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
        Cause::DnsSlow => Remedy {
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
        },
        Cause::DnsSearchExpansion => Remedy {
            fix: Fix {
                description: format!("Query the name fully qualified ({}.) or lower ndots (Kubernetes: dnsConfig options ndots: \"2\").", ctx.host.trim_end_matches('.')),
                commands: vec![format!("getent ahosts {}.", ctx.host.trim_end_matches('.'))],
             manifests: Vec::new() },
            prestate: vec![format!("cat {rc}")],
            rollback: vec![restore],
            runbook: runbook("Many NXDOMAIN queries per lookup", &[&format!("grep -E 'search|ndots' {rc}")], "use FQDNs with a trailing dot or lower ndots."),
        },
        Cause::DnsHostsOverride => Remedy {
            fix: Fix {
                description: format!("Remove or correct the {} entry for {} if DNS should decide.", or(Some(ctx.hosts_file.clone()).filter(|s| !s.is_empty()), "/etc/hosts"), ctx.host),
                commands: vec![format!("grep -n -w '{}' /etc/hosts", ctx.host)],
             manifests: Vec::new() },
            prestate: vec!["cp -a /etc/hosts /etc/hosts.bak.$(date +%s)".to_string()],
            rollback: vec!["cp -a /etc/hosts.bak.<timestamp> /etc/hosts".to_string()],
            runbook: runbook("Resolves to an old address", &["getent ahosts NAME", "dig NAME"], "a hosts entry overrides DNS."),
        },
        Cause::DnsInconsistentNameservers => Remedy {
            fix: Fix {
                description: "Make every nameserver in resolv.conf serve the same view (or keep only the ones that do).".to_string(),
                commands: vec![format!("for s in $(awk '/^nameserver/{{print $2}}' {rc}); do echo $s; dig +short @$s {name}; done")],
             manifests: Vec::new() },
            prestate: vec![format!("cat {rc}")],
            rollback: vec![restore],
            runbook: runbook("Resolves on some tries only", &["dig @each-nameserver NAME"], "nameservers disagree (split horizon)."),
        },
        Cause::NoRoute => {
            let dev = or(ctx.interface.clone(), "DEV");
            Remedy {
                fix: Fix {
                    description: format!("Add a route to {addr} (or a default route) through the right gateway, or bring the interface up; check for unreachable/prohibit/blackhole routes and policy rules."),
                    commands: vec![
                        format!("ip route get {addr}"),
                        "ip rule show; ip route show table all | grep -E 'unreachable|prohibit|blackhole|default'".to_string(),
                        format!("ip route add {addr}/32 via <GATEWAY_IP> dev {dev}   # or: ip route add default via <GATEWAY_IP>"),
                    ],
                 manifests: Vec::new() },
                prestate: vec!["ip route show table all > /tmp/routes.before; ip rule show > /tmp/rules.before".to_string()],
                rollback: vec![format!("ip route del {addr}/32")],
                runbook: runbook(
                    "'Network is unreachable' immediately",
                    &[&format!("ip route get {addr}"), "ip link show"],
                    "no route on this host: add the route or default gateway, or bring the link up.",
                ),
            }
        }
        Cause::NetUnreachable => {
            let router = or(ctx.offender, "ROUTER_IP");
            Remedy {
                fix: Fix {
                    description: format!("Router {router} has no route to {addr}: add the route on {router} (or fix the route advertisement: VPN, peering, transit gateway). Nothing is wrong on this host."),
                    commands: vec![
                        format!("# on {router}: ip route get {addr}"),
                        format!("# on {router}: ip route add <DESTINATION_CIDR> via <NEXT_HOP>"),
                        format!("traceroute -T -p {port} -n {addr}"),
                    ],
                 manifests: Vec::new() },
                prestate: vec![format!("# on {router}: ip route show table all > /tmp/routes.before")],
                rollback: vec![format!("# on {router}: ip route del <DESTINATION_CIDR> via <NEXT_HOP>")],
                runbook: runbook(
                    "ICMP network unreachable from a router",
                    &[&format!("traceroute -n {addr}"), &format!("ip route get {addr}")],
                    "the router that sent the ICMP error lacks a route; fix routing there.",
                ),
            }
        }
        Cause::TcpRefused if ctx.offender.is_some() => {
            let fw = or(ctx.offender, "FIREWALL_IP");
            Remedy {
                fix: Fix {
                    description: format!("A REJECT rule at {fw} answers for {addr}:{port} with ICMP port unreachable: allow {proto}/{port} from {src} to {addr} there. The service itself was never reached."),
                    commands: vec![
                        format!("# on {fw}: iptables -S | grep -w REJECT; nft list ruleset | grep -w reject"),
                        format!("# on {fw}: iptables -I FORWARD -p {proto} -s {src}/32 -d {addr}/32 --dport {port} -j ACCEPT   # INPUT if {fw} is {addr}"),
                        format!("# nftables: nft insert rule inet filter forward ip saddr {src} ip daddr {addr} {proto} dport {port} accept"),
                    ],
                 manifests: Vec::new() },
                prestate: vec![format!("# on {fw}: iptables-save > /tmp/iptables.before; nft list ruleset > /tmp/nft.before")],
                rollback: vec![format!("# on {fw}: iptables -D FORWARD -p {proto} -s {src}/32 -d {addr}/32 --dport {port} -j ACCEPT")],
                runbook: runbook(
                    "'Connection refused', but the service is running",
                    &[&format!("nc -vz {addr} {port}"), &format!("tcpdump -ni any 'icmp and host {addr}'")],
                    "an ICMP port unreachable for TCP comes from a firewall REJECT rule, not from the server (a closed port answers with a RST).",
                ),
            }
        }
        Cause::TcpRefused => Remedy {
            fix: Fix {
                description: if ctx.address.is_some_and(|a| a.is_loopback()) {
                    format!("Nothing accepts {proto}/{port} on {addr}: start the service (or check its port), or remove the REJECT rule if a firewall answered.")
                } else {
                    format!("Nothing accepts {proto}/{port} on {addr}: start the service, or make it listen on {addr}:{port} (not only on 127.0.0.1), or remove the REJECT rule if a firewall answered.")
                },
                commands: vec![
                    format!("ss -ltnp 'sport = :{port}'   # on {addr}: is anything listening, and on which address?"),
                    format!("systemctl status <service>   # on {addr}"),
                    format!("iptables -S | grep -w {port}; nft list ruleset | grep -w {port}   # a REJECT rule?"),
                ],
             manifests: Vec::new() },
            prestate: vec![format!("ss -ltnp > /tmp/listeners.before   # on {addr}")],
            rollback: vec!["systemctl stop <service>   # if you started it only to test".to_string()],
            runbook: runbook(
                "'Connection refused' at once",
                &[&format!("ss -ltnp 'sport = :{port}'"), &format!("nc -vz {addr} {port}")],
                "a RST means the host is up and nothing listens on the port (or a REJECT rule answers): start or rebind the service.",
            ),
        },
        Cause::TcpTimeout => Remedy {
            fix: Fix {
                description: format!("The SYN to {addr}:{port} is dropped silently: find the DROP rule (host firewall on {addr}, security group, NACL, router) and allow {proto}/{port} from {src} only."),
                commands: vec![
                    format!("traceroute -T -p {port} -n {addr}   # where the path goes quiet"),
                    format!("tcpdump -ni any 'host {addr} and port {port}'   # on {addr}: does the SYN arrive?"),
                    format!("iptables -I INPUT -p {proto} -s {src}/32 --dport {port} -j ACCEPT   # on {addr}, if its own firewall drops it"),
                    format!("nft insert rule inet filter input ip saddr {src} {proto} dport {port} accept   # nftables equivalent"),
                ],
             manifests: Vec::new() },
            prestate: vec![format!("iptables-save > /tmp/iptables.before; nft list ruleset > /tmp/nft.before   # on {addr}")],
            rollback: vec![
                format!("iptables -D INPUT -p {proto} -s {src}/32 --dport {port} -j ACCEPT"),
                "nft -a list chain inet filter input; nft delete rule inet filter input handle <HANDLE>".to_string(),
            ],
            runbook: runbook(
                "Connection hangs, then 'timed out'",
                &[&format!("nc -vz -w 3 {addr} {port}"), &format!("traceroute -T -p {port} {addr}")],
                "silence is a DROP (firewall, security group) or a dead host; find where the SYN stops and allow it there for this source only.",
            ),
        },
        Cause::TcpAdminProhibited | Cause::UdpAdminProhibited => {
            let router = or(ctx.offender, "FIREWALL_IP");
            Remedy {
                fix: Fix {
                    description: format!("A REJECT rule at {router} (ICMP admin prohibited) blocks {proto}/{port} to {addr}: allow this flow there, from {src} to {addr} only. The server may be perfectly healthy."),
                    commands: vec![
                        format!("# on {router}: iptables -S | grep -E 'REJECT.*(admin|prohib)'; nft list ruleset | grep -E 'reject'"),
                        format!("# on {router}: iptables -I FORWARD -p {proto} -s {src}/32 -d {addr}/32 --dport {port} -j ACCEPT"),
                        format!("# nftables: nft insert rule inet filter forward ip saddr {src} ip daddr {addr} {proto} dport {port} accept"),
                    ],
                 manifests: Vec::new() },
                prestate: vec![format!("# on {router}: iptables-save > /tmp/iptables.before; nft list ruleset > /tmp/nft.before")],
                rollback: vec![format!("# on {router}: iptables -D FORWARD -p {proto} -s {src}/32 -d {addr}/32 --dport {port} -j ACCEPT")],
                runbook: runbook(
                    "ICMP 'administratively prohibited'",
                    &[&format!("nc -vz {addr} {port}"), "netdiag check tcp://HOST:PORT   # names the router that rejects"],
                    "a firewall rejects on purpose; the ICMP sender is the firewall to change, not the server.",
                ),
            }
        }
        Cause::HostUnreachable => {
            let router = or(ctx.offender, "ROUTER_IP");
            Remedy {
                fix: Fix {
                    description: format!("{router} cannot deliver to {addr}: check that the host is up and owns {addr} (ARP/ND on its subnet), or remove a REJECT --reject-with icmp-host-unreachable rule at {router}."),
                    commands: vec![
                        format!("# on {router}: ip neigh show {addr}   # FAILED/INCOMPLETE means no ARP answer"),
                        format!("# on {router}: iptables -S | grep host-unreach"),
                        format!("ip route get {addr}"),
                    ],
                 manifests: Vec::new() },
                prestate: vec![format!("# on {router}: ip neigh show > /tmp/neigh.before")],
                rollback: vec!["none needed for a read-only check; undo any rule you removed with iptables-restore < /tmp/iptables.before".to_string()],
                runbook: runbook(
                    "'No route to host'",
                    &[&format!("ip neigh show {addr}"), &format!("traceroute -n {addr}")],
                    "the last router cannot reach the host (down, wrong IP, no ARP) or rejects with host-unreachable.",
                ),
            }
        }
        Cause::TcpReset => Remedy {
            fix: Fix {
                description: format!("{addr}:{port} accepts and then resets: check the service's logs (connection limits, TCP wrappers, a crashed worker) and any middlebox that resets flows."),
                commands: vec![
                    format!("tcpdump -ni any 'host {addr} and port {port} and tcp[tcpflags] & tcp-rst != 0'"),
                    format!("ss -tnp 'dport = :{port}'"),
                ],
             manifests: Vec::new() },
            prestate: vec![format!("ss -tnp > /tmp/sockets.before   # on {addr}")],
            rollback: vec!["restart only the service you changed".to_string()],
            runbook: runbook("'Connection reset by peer' right after connecting", &[&format!("curl -v telnet://{addr}:{port}")], "the listener accepts then closes with RST: the application or a middlebox rejects the client."),
        },
        Cause::ListenerBoundToLoopback => {
            let listener = or(ctx.listener, "127.0.0.1:PORT");
            let process = ctx.process.clone().unwrap_or_else(|| "the service".to_string());
            Remedy {
                fix: Fix {
                    description: format!("{process} listens on {listener} only; make it listen on {addr}:{port} (or 0.0.0.0 / [::] plus a firewall rule scoped to its clients) and restart it."),
                    commands: vec![
                        format!("ss -ltnp 'sport = :{port}'"),
                        "# change the bind address in the service's configuration, e.g. listen/bind/host = 0.0.0.0 (nginx: listen 0.0.0.0:PORT; redis: bind; postgres: listen_addresses)".to_string(),
                        "systemctl restart <service>".to_string(),
                    ],
                 manifests: Vec::new() },
                prestate: vec![format!("ss -ltnp > /tmp/listeners.before"), "cp -a <service config> <service config>.bak".to_string()],
                rollback: vec!["restore the configuration from the .bak copy and restart the service".to_string()],
                runbook: runbook(
                    "Works on the server with curl localhost, refused from anywhere else",
                    &[&format!("ss -ltnp 'sport = :{port}'")],
                    "the service is bound to 127.0.0.1/::1; bind it to the external address.",
                ),
            }
        }
        Cause::UdpPortUnreachable => Remedy {
            fix: Fix {
                description: format!("Nothing listens on udp/{port} at {addr}: start the service or make it listen on {addr}."),
                commands: vec![format!("ss -lunp 'sport = :{port}'   # on {addr}")],
             manifests: Vec::new() },
            prestate: vec![format!("ss -lunp > /tmp/udp-listeners.before   # on {addr}")],
            rollback: vec!["stop the service again if it was started only to test".to_string()],
            runbook: runbook("UDP service gets no answers; ICMP port unreachable", &[&format!("ss -lunp 'sport = :{port}'")], "start or rebind the UDP service."),
        },
        Cause::UdpNoResponse => Remedy {
            fix: Fix {
                description: format!("No reply and no ICMP error from {addr}:{port}: check that the service runs, and that udp/{port} is allowed both ways (firewalls often drop UDP silently; replies need their own allow on stateless filters)."),
                commands: vec![
                    format!("tcpdump -ni any 'host {addr} and udp port {port}'   # on {addr}: does the datagram arrive, does a reply leave?"),
                    format!("iptables -I INPUT -p udp -s {src}/32 --dport {port} -j ACCEPT   # on {addr}, if its own firewall drops it"),
                ],
             manifests: Vec::new() },
            prestate: vec![format!("iptables-save > /tmp/iptables.before   # on {addr}")],
            rollback: vec![format!("iptables -D INPUT -p udp -s {src}/32 --dport {port} -j ACCEPT")],
            runbook: runbook("UDP request gets nothing back", &[&format!("tcpdump -ni any udp port {port}")], "a silent drop on the way or a dead service."),
        },

        Cause::InterfaceDown | Cause::NeighborFailed | Cause::RpFilterStrictAsymmetric | Cause::ConntrackTableFull => {
            let (fix, rollback) = ctx.host_fix.clone().unwrap_or_else(|| ("see the evidence".to_string(), "none".to_string()));
            let (symptom, check): (&str, &[&str]) = match cause {
                Cause::InterfaceDown => ("Network is unreachable / everything times out on one path", &["ip -br link", "ip route get TARGET"]),
                Cause::NeighborFailed => ("No route to host on a directly connected subnet", &["ip neigh show", "arping -I DEV TARGET"]),
                Cause::RpFilterStrictAsymmetric => ("Replies never arrive although the server answers", &["sysctl net.ipv4.conf.all.rp_filter", "ip route get SOURCE"]),
                _ => ("New connections time out under load; 'nf_conntrack: table full, dropping packet' in dmesg", &["cat /proc/sys/net/netfilter/nf_conntrack_count /proc/sys/net/netfilter/nf_conntrack_max", "dmesg | grep conntrack"]),
            };
            Remedy {
                fix: Fix { description: cause.meaning().to_string(), commands: vec![fix] , manifests: Vec::new() },
                prestate: vec!["sysctl -a 2>/dev/null | grep -E 'rp_filter|conntrack_max' > /tmp/sysctl.before; ip -d link > /tmp/links.before; ip neigh > /tmp/neigh.before".to_string()],
                rollback: vec![rollback],
                runbook: runbook(symptom, check, cause.meaning()),
            }
        }
        Cause::ProxyUnreachable | Cause::ProxyRefused => {
            let proxy = ctx.proxy.clone().unwrap_or_else(|| "PROXY_HOST:PORT".to_string());
            Remedy {
                fix: Fix {
                    description: format!(
                        "The proxy {proxy} is not reachable: fix the proxy setting (variable {}) or the proxy service; if the direct path works, exempt {} with no_proxy.",
                        ctx.proxy_source.clone().unwrap_or_else(|| "https_proxy".to_string()),
                        ctx.host
                    ),
                    commands: vec![
                        "env | grep -i _proxy".to_string(),
                        format!("nc -vz -w 3 {}", proxy.replace(':', " ")),
                        format!("export no_proxy=\"$no_proxy,{}\"   # if {} should be reached directly", ctx.host, ctx.host),
                    ],
                 manifests: Vec::new() },
                prestate: vec!["env | grep -i _proxy > /tmp/proxy-env.before".to_string()],
                rollback: vec!["restore the variables from /tmp/proxy-env.before (export ...)".to_string()],
                runbook: runbook(
                    "Everything through the proxy fails; direct access may work",
                    &["env | grep -i _proxy", "curl -v --noproxy '*' https://HOST/"],
                    "the proxy is down or mis-set; fix it or exempt the target with no_proxy.",
                ),
            }
        }
        Cause::ProxyAuthRequired => Remedy {
            fix: Fix {
                description: "The proxy demands authentication (407): put credentials in the proxy URL (http://user:password@proxy:port) or use the proxy's supported scheme (see Proxy-Authenticate).".to_string(),
                commands: vec![
                    "export https_proxy='http://USER:PASSWORD@PROXY_HOST:PORT'".to_string(),
                    format!("curl -v -x \"$https_proxy\" https://{}/ -o /dev/null", ctx.host),
                ],
             manifests: Vec::new() },
            prestate: vec!["env | grep -i _proxy > /tmp/proxy-env.before".to_string()],
            rollback: vec!["restore the variables from /tmp/proxy-env.before".to_string()],
            runbook: runbook("407 Proxy Authentication Required", &["curl -v -x $https_proxy https://HOST/"], "give the client proxy credentials."),
        },
        Cause::ProxyConnectFailed => Remedy {
            fix: Fix {
                description: format!(
                    "The proxy refuses or fails CONNECT to {}:{port}: a 403 is the proxy's policy (ask for {} to be allowed, e.g. squid http_access / tinyproxy ConnectPort and Allow); a 502/503/504 means the proxy cannot reach the target itself.",
                    ctx.host, ctx.host
                ),
                commands: vec![format!("curl -v -x \"$https_proxy\" https://{}:{port}/ -o /dev/null", ctx.host), "grep -E '^(http_access|acl)' /etc/squid/squid.conf   # on the proxy".to_string()],
             manifests: Vec::new() },
            prestate: vec!["copy the proxy's configuration before changing its ACL".to_string()],
            rollback: vec!["restore the proxy configuration and reload it".to_string()],
            runbook: runbook("CONNECT refused by the proxy", &["curl -v -x $https_proxy https://HOST/"], "proxy ACL or the proxy's own path to the target."),
        },
        Cause::MtuBlackhole | Cause::MtuPathReduced => {
            let dev = or(ctx.interface.clone(), "DEV");
            let mtu = ctx.mtu.map(|m| m.to_string()).unwrap_or_else(|| "MTU".to_string());
            let mss = ctx.mtu.map(|m| m.saturating_sub(40).to_string()).unwrap_or_else(|| "MSS".to_string());
            Remedy {
                fix: Fix {
                    description: format!(
                        "Packets above {mtu} bytes are lost on the path to {addr} without an ICMP 'fragmentation needed'. Lower the interface MTU to {mtu}, or clamp TCP MSS to {mss} on the router/tunnel, and let ICMP type 3 code 4 (ICMPv6 type 2) through the firewalls on the path."
                    ),
                    commands: vec![
                        format!("ip link set dev {dev} mtu {mtu}"),
                        format!("iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -d {addr} -j TCPMSS --set-mss {mss}   # on the router or tunnel endpoint"),
                        "iptables -I INPUT -p icmp --icmp-type fragmentation-needed -j ACCEPT   # on firewalls that drop it".to_string(),
                        format!("tracepath -n {addr}   # shows where the MTU drops"),
                    ],
                 manifests: Vec::new() },
                prestate: vec![format!("ip link show dev {dev} | grep -o 'mtu [0-9]*' > /tmp/mtu.before"), "iptables-save -t mangle > /tmp/mangle.before".to_string()],
                rollback: vec![
                    format!("ip link set dev {dev} mtu $(awk '{{print $2}}' /tmp/mtu.before)"),
                    format!("iptables -t mangle -D FORWARD -p tcp --tcp-flags SYN,RST SYN -d {addr} -j TCPMSS --set-mss {mss}"),
                ],
                runbook: runbook(
                    "Small requests work, large ones hang (after a VPN/CNI/tunnel change)",
                    &[&format!("ping -M do -s 1472 {addr}; ping -M do -s 1372 {addr}"), &format!("tracepath -n {addr}")],
                    "a tunnel lowered the path MTU and ICMP frag-needed is dropped: lower the MTU or clamp MSS (VXLAN 1450, WireGuard 1420, IPsec ~1436).",
                ),
            }
        }
        Cause::TlsNotTls => Remedy {
            fix: Fix {
                description: format!("{addr}:{port} speaks plaintext, not TLS: use http:// (or the right port for TLS), or enable TLS on the listener."),
                commands: vec![format!("curl -v http://{}:{port}/", ctx.host), format!("openssl s_client -connect {addr}:{port} -servername {} </dev/null", ctx.host)],
             manifests: Vec::new() },
            prestate: vec!["copy the listener's configuration before enabling TLS on it".to_string()],
            rollback: vec!["restore the listener configuration".to_string()],
            runbook: runbook("'wrong version number' / 'packet length too long'", &[&format!("openssl s_client -connect {addr}:{port}")], "the port speaks plaintext: wrong scheme or port."),
        },
        Cause::TlsProtocolMismatch => Remedy {
            fix: Fix {
                description: format!("{addr}:{port} only speaks {}: enable TLS 1.2 and 1.3 on the server (TLS 1.0/1.1 are deprecated by RFC 8996). Do not lower the client's minimum version.", ctx.tls_versions.clone().unwrap_or_else(|| "old TLS versions".to_string())),
                commands: vec![
                    format!("openssl s_client -connect {addr}:{port} -tls1_2 </dev/null"),
                    "# nginx: ssl_protocols TLSv1.2 TLSv1.3;   apache: SSLProtocol -all +TLSv1.2 +TLSv1.3".to_string(),
                ],
             manifests: Vec::new() },
            prestate: vec!["copy the server's TLS configuration".to_string()],
            rollback: vec!["restore the server's TLS configuration and reload".to_string()],
            runbook: runbook("'unsupported protocol' / 'protocol version' alert", &[&format!("openssl s_client -connect {addr}:{port} -tls1_2")], "the server is stuck on TLS 1.0/1.1."),
        },
        Cause::TlsCertExpired | Cause::TlsCertNotYetValid | Cause::TlsCertExpiringSoon => Remedy {
            fix: Fix {
                description: if cause == Cause::TlsCertNotYetValid {
                    "The certificate is not valid yet: check this host's clock first (timedatectl), then the certificate's notBefore.".to_string()
                } else {
                    format!("Renew the certificate for {} and reload the server (check that the renewal job runs).", ctx.host)
                },
                commands: vec![
                    format!("openssl s_client -connect {addr}:{port} -servername {} </dev/null 2>/dev/null | openssl x509 -noout -dates -subject", ctx.host),
                    "timedatectl status | grep -i synchronized".to_string(),
                    "certbot renew --cert-name <NAME> && systemctl reload nginx   # if certbot manages it".to_string(),
                ],
             manifests: Vec::new() },
            prestate: vec!["cp -a /path/to/cert.pem /path/to/cert.pem.bak".to_string()],
            rollback: vec!["restore cert.pem.bak and reload the server".to_string()],
            runbook: runbook("'certificate has expired'", &[&format!("openssl s_client -connect {addr}:{port} | openssl x509 -noout -dates")], "renew the certificate; automate renewal and alert 14 days ahead."),
        },
        Cause::TlsNameMismatch => Remedy {
            fix: Fix {
                description: format!("The certificate does not cover {}: reissue it with {} in subjectAltName, or connect with a name it lists ({}).", ctx.host, ctx.host, ctx.sans.clone().unwrap_or_default()),
                commands: vec![format!("openssl s_client -connect {addr}:{port} -servername {} </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName", ctx.host)],
             manifests: Vec::new() },
            prestate: vec!["cp -a /path/to/cert.pem /path/to/cert.pem.bak".to_string()],
            rollback: vec!["restore cert.pem.bak and reload the server".to_string()],
            runbook: runbook("'certificate is not valid for name'", &["openssl x509 -noout -ext subjectAltName"], "the SAN list lacks the name clients use (or SNI selects another certificate)."),
        },
        Cause::TlsUntrustedIssuer | Cause::TlsSelfSigned => Remedy {
            fix: Fix {
                description: "The issuer is not trusted here: use a certificate from a CA clients trust, or add the private CA's root to this host's trust store (never disable verification).".to_string(),
                commands: vec![
                    "cp private-root-ca.pem /usr/local/share/ca-certificates/private-root-ca.crt && update-ca-certificates".to_string(),
                    format!("netdiag check https://{}:{port}/ --cacert private-root-ca.pem   # verify with the CA first", ctx.host),
                ],
             manifests: Vec::new() },
            prestate: vec!["ls /usr/local/share/ca-certificates/ > /tmp/ca.before".to_string()],
            rollback: vec!["rm /usr/local/share/ca-certificates/private-root-ca.crt && update-ca-certificates --fresh".to_string()],
            runbook: runbook("'unable to get local issuer certificate' / 'self-signed certificate'", &[&format!("openssl s_client -connect {addr}:{port} -showcerts")], "trust the right CA, or get a certificate from one clients trust."),
        },
        Cause::TlsIncompleteChain => Remedy {
            fix: Fix {
                description: "The server sends its certificate without the intermediate CA: configure the full chain (leaf + intermediates) on the server.".to_string(),
                commands: vec![
                    "cat leaf.pem intermediate.pem > fullchain.pem   # nginx: ssl_certificate fullchain.pem; apache: SSLCertificateChainFile".to_string(),
                    format!("openssl s_client -connect {addr}:{port} -servername {} -showcerts </dev/null | grep -c 'BEGIN CERTIFICATE'", ctx.host),
                ],
             manifests: Vec::new() },
            prestate: vec!["cp -a /path/to/cert.pem /path/to/cert.pem.bak".to_string()],
            rollback: vec!["restore cert.pem.bak and reload the server".to_string()],
            runbook: runbook("Works in browsers, fails in curl/Java/Go ('unable to get local issuer')", &["openssl s_client -showcerts"], "browsers fetch missing intermediates, other clients do not: serve the full chain."),
        },
        Cause::TlsClientCertRequired => Remedy {
            fix: Fix {
                description: "The server requires a client certificate (mutual TLS): present one the server trusts (curl --cert/--key), or relax the server's client verification for this path.".to_string(),
                commands: vec![format!("curl -v --cert client.pem --key client-key.pem https://{}:{port}/", ctx.host)],
             manifests: Vec::new() },
            prestate: vec!["copy the server's client-verification settings".to_string()],
            rollback: vec!["restore the server's client-verification settings".to_string()],
            runbook: runbook("'certificate required' alert / handshake fails only for some clients", &[&format!("openssl s_client -connect {addr}:{port} </dev/null | grep -i 'Acceptable client certificate CA names'")], "mutual TLS: the client needs a certificate."),
        },
        Cause::TlsHandshakeFailure => Remedy {
            fix: Fix {
                description: "The TLS handshake fails: compare the server's protocols, ciphers and groups with a modern client's, and check the server log for the alert reason.".to_string(),
                commands: vec![format!("openssl s_client -connect {addr}:{port} -servername {} -tls1_3 </dev/null", ctx.host), format!("openssl s_client -connect {addr}:{port} -servername {} -tls1_2 </dev/null", ctx.host)],
             manifests: Vec::new() },
            prestate: vec!["copy the server's TLS configuration".to_string()],
            rollback: vec!["restore the server's TLS configuration".to_string()],
            runbook: runbook("TLS alert handshake_failure", &["openssl s_client -connect HOST:PORT"], "no common parameters, or the server rejects this client."),
        },
        Cause::Http5xx => Remedy {
            fix: Fix {
                description: format!("The server (or a gateway in front of it) answers {}: the network path is fine; look at the service and its upstreams.", ctx.http_status.map(|s| s.to_string()).unwrap_or_else(|| "5xx".to_string())),
                commands: vec![format!("curl -sv {} -o /dev/null", ctx.url.clone().unwrap_or_default()), "journalctl -u <service> --since -15min   # on the server".to_string(), "kubectl logs deploy/<name> --since=15m   # if it runs in Kubernetes".to_string()],
             manifests: Vec::new() },
            prestate: vec!["save the service's recent logs before restarting anything".to_string()],
            rollback: vec!["roll back the last deploy of the service if it started then".to_string()],
            runbook: runbook("502/503/504 from the service", &["curl -sv URL"], "an application or upstream failure, not the network."),
        },
        Cause::Http4xx => Remedy {
            fix: Fix {
                description: format!("The server refuses the request with {}: check the path, credentials and the server's access policy.", ctx.http_status.map(|s| s.to_string()).unwrap_or_else(|| "4xx".to_string())),
                commands: vec![format!("curl -sv {} -o /dev/null", ctx.url.clone().unwrap_or_default())],
             manifests: Vec::new() },
            prestate: vec!["none: nothing is changed by checking".to_string()],
            rollback: vec!["none".to_string()],
            runbook: runbook("4xx from the service", &["curl -sv URL"], "wrong path, missing auth, or a policy (WAF) denies the client."),
        },
        Cause::HttpTimeout | Cause::HttpSlow => Remedy {
            fix: Fix {
                description: "The connection and TLS are fine but the application is slow to answer: check the service's latency, its upstreams (database), and saturation.".to_string(),
                commands: vec![format!("curl -s -o /dev/null -w 'connect %{{time_connect}} tls %{{time_appconnect}} first-byte %{{time_starttransfer}} total %{{time_total}}\\n' {}", ctx.url.clone().unwrap_or_default())],
             manifests: Vec::new() },
            prestate: vec!["capture the service's metrics and logs for the slow period".to_string()],
            rollback: vec!["none".to_string()],
            runbook: runbook("Requests hang after connecting", &["curl -w '%{time_starttransfer}' URL"], "an application stall, not the network."),
        },
        Cause::ConnectionReset => Remedy {
            fix: Fix {
                description: "The server accepts the connection and resets it: check the service's logs (crash, connection limits) and middleboxes (load balancer idle/limit rules, IPS).".to_string(),
                commands: vec![format!("tcpdump -ni any 'host {addr} and port {port} and tcp[tcpflags] & tcp-rst != 0'")],
             manifests: Vec::new() },
            prestate: vec!["save the service's logs".to_string()],
            rollback: vec!["none".to_string()],
            runbook: runbook("'Connection reset by peer' on requests", &["curl -v URL"], "the application or a middlebox resets the flow."),
        },
        Cause::HttpNotHttp => Remedy {
            fix: Fix {
                description: format!("{addr}:{port} does not speak HTTP: check the port and scheme (is it TLS, gRPC, a database?)."),
                commands: vec![format!("curl -v {} -o /dev/null", ctx.url.clone().unwrap_or_default()), format!("nc -v {addr} {port} </dev/null | head -c 200 | xxd | head")],
             manifests: Vec::new() },
            prestate: vec!["none".to_string()],
            rollback: vec!["none".to_string()],
            runbook: runbook("'Received HTTP/0.9 when not allowed' / garbage reply", &["nc -v HOST PORT"], "wrong port or protocol."),
        },
        Cause::HttpRedirect => Remedy {
            fix: Fix { description: "Follow the redirect (-L) or use the final URL.".to_string(), commands: vec![format!("curl -sv {} -o /dev/null", ctx.url.clone().unwrap_or_default())] , manifests: Vec::new() },
            prestate: vec!["none".to_string()],
            rollback: vec!["none".to_string()],
            runbook: runbook("Unexpected redirect", &["curl -sv URL"], "the service moved or forces HTTPS."),
        },
        Cause::SvcNoEndpointsSelectorMismatch
        | Cause::SvcPodsNotReady
        | Cause::SvcTargetportMismatch
        | Cause::SvcNamedTargetportMissing
        | Cause::SvcWrongProtocol
        | Cause::SvcExternalnameMisread
        | Cause::NetpolIngressDenied
        | Cause::NetpolEgressDenied
        | Cause::NetpolBothDenied => kubernetes_template(cause),
        Cause::CloudNoAllowRule
        | Cause::CloudDenyRule
        | Cause::CloudNoRoute
        | Cause::CloudBlackholeRoute
        | Cause::CloudNaclReturnBlocked
        | Cause::CloudPlatformBlock
        | Cause::CloudUnknown => cloud_template(cause),
    }
}

/// The remedy template of a Kubernetes cause. The concrete fix (the NetworkPolicy manifest, the
/// Service or pod change) needs the cluster's objects, so `netdiag k8s check` computes it; this
/// template says how to get it, for the catalogue and for a live walk that meets the cause.
fn kubernetes_template(cause: Cause) -> Remedy {
    let check =
        "netdiag k8s check --manifests DIR --from NS/POD --to NS/POD_OR_SERVICE --port PORT";
    Remedy {
        fix: Fix {
            description: format!(
                "{} Run the Kubernetes check for the flow: it names the object and prints the minimal change (a complete NetworkPolicy for policy denials).",
                cause.meaning()
            ),
            commands: vec![check.to_string()],
         manifests: Vec::new() },
        prestate: vec!["kubectl get networkpolicy,service,endpointslice -A -o yaml > /tmp/k8s.before.yaml".to_string()],
        rollback: vec!["kubectl delete -f FIX.yaml   # the manifest the check printed".to_string()],
        runbook: runbook(cause.meaning(), &[check], "apply the change the check prints, then run the check again."),
    }
}

/// The remedy template of a cloud cause. The concrete fix (an `aws ec2`, `gcloud` or `az`
/// command scoped to the flow) needs the exports, so `netdiag cloud check` computes it.
fn cloud_template(cause: Cause) -> Remedy {
    let check = "netdiag cloud check --resources EXPORTS... --from SRC --to DST --port PORT";
    Remedy {
        fix: Fix {
            description: format!(
                "{} Run the cloud check on the provider's exports: it names the blocking resource and rule and prints a fix scoped to the flow, never to the whole internet.",
                cause.meaning()
            ),
            commands: vec![check.to_string()],
         manifests: Vec::new() },
        prestate: vec!["export the resources again (describe-* / list / show) before the change".to_string()],
        rollback: vec!["run the rollback command the check printed".to_string()],
        runbook: runbook(cause.meaning(), &[check], "apply the scoped change the check prints, then run the check again."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_has_a_fix_and_runbook() {
        let ctx = FixContext {
            host: "api.test".into(),
            port: Some(443),
            protocol: "tcp",
            ..FixContext::default()
        };
        for cause in Cause::ALL {
            let r = remedy(*cause, &ctx);
            assert!(!r.fix.description.is_empty(), "{cause}");
            assert!(!r.fix.commands.is_empty(), "{cause}");
            assert!(!r.rollback.is_empty(), "{cause}");
            assert!(r.runbook.starts_with("### "), "{cause}");
            let all = format!("{:?}", r);
            assert!(
                !all.contains("0.0.0.0/0") && !all.contains("::/0"),
                "{cause} opens the world"
            );
        }
    }

    #[test]
    fn firewall_fix_is_scoped_to_the_flow() {
        let ctx = FixContext {
            port: Some(8080),
            protocol: "tcp",
            address: Some("10.0.2.2".parse().unwrap()),
            source: Some("10.0.1.2".parse().unwrap()),
            offender: Some("10.0.1.1".parse().unwrap()),
            ..FixContext::default()
        };
        let r = remedy(Cause::TcpAdminProhibited, &ctx);
        assert!(r
            .fix
            .commands
            .iter()
            .any(|c| c.contains("-s 10.0.1.2/32 -d 10.0.2.2/32 --dport 8080")));
        assert!(r.fix.description.contains("10.0.1.1"));
    }
}
