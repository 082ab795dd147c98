//! The tcp layer: does the handshake complete, and if not, exactly how did it fail?
//!
//! A RST is not a timeout, and an ICMP admin-prohibited from a router is not a server that is
//! down. The probe records errno plus the queued ICMP error (type, code, sender); this module
//! names the cause. A refusal on one of this host's own addresses is checked against the
//! listener inventory: a service bound to 127.0.0.1 is why the port is closed from outside.

use super::{errno_name, human, ms, Failure, FixContext, LayerFindings};
use crate::cause::Cause;
use crate::layer::Layer;
use crate::observe::{
    ConnectObservation, ConnectOutcome, HostFacts, IcmpKind, RouteKind, RouteObservation,
    RouteOutcome,
};
use crate::report::{Row, RowVerdict, Warning};
use std::net::{IpAddr, SocketAddr};

/// The cause of one failed attempt, with a sentence of explanation.
fn attempt_cause(
    o: &ConnectObservation,
    facts: &HostFacts,
    local: bool,
    own: Option<IpAddr>,
) -> Option<(Cause, String)> {
    let addr = o.address;
    let took = human(o.elapsed);
    Some(match &o.outcome {
        ConnectOutcome::Connected { reset_after_connect: false, .. } => return None,
        ConnectOutcome::Connected { reset_after_connect: true, .. } => (
            Cause::TcpReset,
            format!("{addr} completed the handshake and then reset the connection at once (RST) before any data"),
        ),
        ConnectOutcome::Refused => {
            if local {
                if let Some(l) = loopback_listener(facts, addr) {
                    let who = l.process.as_deref().map(|p| format!(" by {p}")).unwrap_or_default();
                    return Some((
                        Cause::ListenerBoundToLoopback,
                        format!(
                            "{addr} refused (RST in {took}): port {} is held{who} on {} only, a loopback address; connections to {} are refused",
                            addr.port(),
                            l.local,
                            addr.ip()
                        ),
                    ));
                }
            }
            (Cause::TcpRefused, format!("{addr} answered the SYN with a RST in {took}: nothing listens on port {}", addr.port()))
        }
        ConnectOutcome::TimedOut => (
            Cause::TcpTimeout,
            format!("{addr}: no answer to the SYN {}; waited {took} (no SYN-ACK, no RST, no ICMP error): a firewall drops it, or the host is down", retransmissions(o.elapsed)),
        ),
        ConnectOutcome::Icmp(icmp) => {
            let from = icmp.offender.map(|o| o.to_string()).unwrap_or_else(|| "an unknown sender".into());
            let who = match icmp.offender {
                Some(o) if o == addr.ip() => "the target host itself".to_string(),
                Some(o) if Some(o) == own => format!("this host's own stack ({from})"),
                Some(_) => format!("router {from}"),
                None => "a router".to_string(),
            };
            match icmp.kind() {
                IcmpKind::AdminProhibited => (
                    Cause::TcpAdminProhibited,
                    format!("{who} answered the SYN to {addr} with {} in {took}: a firewall rule rejects the flow", icmp.describe()),
                ),
                IcmpKind::HostUnreachable => (
                    Cause::HostUnreachable,
                    format!("{who} answered the SYN to {addr} with {} in {took}: it cannot deliver to {} (no ARP/ND answer, host down) or a rule rejects with that code", icmp.describe(), addr.ip()),
                ),
                IcmpKind::NetUnreachable => (
                    Cause::NetUnreachable,
                    format!("{who} answered the SYN to {addr} with {} in {took}: that router has no route to {}", icmp.describe(), addr.ip()),
                ),
                IcmpKind::PortUnreachable | IcmpKind::ProtocolUnreachable => (
                    Cause::TcpRefused,
                    format!("{who} answered the SYN to {addr} with {} in {took}: a firewall REJECT rule (iptables' default reject-with), not the service; a closed port answers with a RST", icmp.describe()),
                ),
                IcmpKind::TimeExceeded => (
                    Cause::HostUnreachable,
                    format!("{who} answered the SYN to {addr} with {} in {took}: the TTL ran out, a routing loop", icmp.describe()),
                ),
                IcmpKind::FragmentationNeeded | IcmpKind::Other => (
                    Cause::HostUnreachable,
                    format!("{who} answered the SYN to {addr} with {} in {took}", icmp.describe()),
                ),
            }
        }
        ConnectOutcome::Error { errno, message } => match *errno {
            101 => (Cause::NoRoute, format!("connect to {addr}: {} ({message}): this host's kernel has no route", errno_name(*errno))),
            113 => (
                Cause::HostUnreachable,
                format!("connect to {addr}: {} ({message}) without an ICMP error: this host got no ARP/ND answer from the next hop or the target", errno_name(*errno)),
            ),
            1 | 13 => (
                Cause::TcpAdminProhibited,
                format!("connect to {addr}: {} ({message}): this host's own firewall (OUTPUT chain) or a prohibit route refused to send the SYN", errno_name(*errno)),
            ),
            104 => (Cause::TcpReset, format!("connect to {addr}: {} ({message})", errno_name(*errno))),
            111 => (Cause::TcpRefused, format!("{addr} refused the connection ({message})")),
            110 => (Cause::TcpTimeout, format!("connect to {addr}: {} ({message})", errno_name(*errno))),
            _ => (Cause::HostUnreachable, format!("connect to {addr} failed: {} {errno} ({message})", errno_name(*errno))),
        },
    })
}

/// When Linux retransmits an unanswered SYN: the initial RTO of 1 s, doubled each time
/// (`tcp_syn_retries` 6: at 1, 3, 7, 15, 31 and 63 s after the first SYN).
const SYN_RETRANSMITS_MS: [u64; 6] = [1_000, 3_000, 7_000, 15_000, 31_000, 63_000];

/// Which of the kernel's SYN retransmissions a wait of `waited` covered, as words: the
/// evidence that a timeout is a drop and not one lost packet.
fn retransmissions(waited: std::time::Duration) -> String {
    let waited = ms(waited);
    let sent: Vec<String> = SYN_RETRANSMITS_MS
        .iter()
        .filter(|&&at| at <= waited)
        .map(|&at| format!("{} s", at / 1000))
        .collect();
    match sent.as_slice() {
        [] => "(sent once; the wait ended before the kernel's first retransmission at 1 s)".into(),
        [one] => format!("or its retransmission at {one}"),
        [rest @ .., last] => format!("or its retransmissions at {} and {last}", rest.join(", ")),
    }
}

fn loopback_listener(facts: &HostFacts, addr: SocketAddr) -> Option<&crate::observe::Listener> {
    if addr.ip().is_loopback() {
        return None;
    }
    let wildcard = facts.listeners.iter().any(|l| {
        l.local.port() == addr.port()
            && (l.local.ip().is_unspecified() || l.local.ip() == addr.ip())
    });
    if wildcard {
        return None;
    }
    facts
        .listeners
        .iter()
        .find(|l| l.local.port() == addr.port() && l.local.ip().is_loopback())
}

fn route_of(routes: &[RouteObservation], ip: IpAddr) -> Option<&RouteOutcome> {
    routes
        .iter()
        .find(|r| r.destination == ip)
        .map(|r| &r.outcome)
}

/// The source address of the route to `ip`: this host's own address on that path.
fn own_source(routes: &[RouteObservation], ip: IpAddr) -> Option<IpAddr> {
    match route_of(routes, ip) {
        Some(RouteOutcome::Route { source, .. }) => *source,
        _ => None,
    }
}

/// Whether the route says the address is this host's own.
pub fn is_local(routes: &[RouteObservation], ip: IpAddr) -> bool {
    ip.is_loopback()
        || matches!(
            route_of(routes, ip),
            Some(RouteOutcome::Route {
                kind: RouteKind::Local,
                ..
            })
        )
}

/// Classifies the connect attempts. `host` is the target host as typed.
pub fn classify(
    attempts: &[ConnectObservation],
    routes: &[RouteObservation],
    facts: &HostFacts,
    host: &str,
) -> LayerFindings {
    let mut findings = LayerFindings::default();
    let mut failures: Vec<(usize, Cause, String)> = Vec::new();
    for (i, o) in attempts.iter().enumerate() {
        let local = is_local(routes, o.address.ip());
        let cause = attempt_cause(o, facts, local, own_source(routes, o.address.ip()));
        let (result, verdict, row_cause) = match (&o.outcome, &cause) {
            (ConnectOutcome::Connected { local: l, .. }, None) => {
                let from = l.map(|l| format!(" from {l}")).unwrap_or_default();
                (
                    format!("connected in {}{from}", human(o.elapsed)),
                    RowVerdict::Pass,
                    Cause::Ok,
                )
            }
            (_, Some((c, text))) => {
                failures.push((i, *c, text.clone()));
                (short_result(o), RowVerdict::Fail, *c)
            }
            (_, None) => (short_result(o), RowVerdict::Pass, Cause::Ok),
        };
        let evidence = attempt_evidence(o, routes, facts, local, cause.as_ref());
        findings.rows.push(
            Row::new(
                Layer::Tcp,
                format!("connect {}", o.address),
                result,
                verdict,
                row_cause,
            )
            .with_evidence(evidence)
            .with_duration_ms(ms(o.elapsed)),
        );
    }
    let any_ok = attempts.iter().any(|o| {
        matches!(
            o.outcome,
            ConnectOutcome::Connected {
                reset_after_connect: false,
                ..
            }
        )
    });
    if any_ok {
        if let Some(f) = silent_addresses(attempts, routes, host) {
            for (i, _, _) in &failures {
                if is_silent(&attempts[*i]) {
                    findings.rows[*i].cause = f.cause;
                }
            }
            findings.failure = Some(f);
            return findings;
        }
        for (i, cause, text) in &failures {
            findings.warnings.push(Warning {
                cause: *cause,
                message: format!("{text}; other addresses of {host} connect"),
            });
            findings.rows[*i].verdict = RowVerdict::Warn;
        }
        return findings;
    }
    if let Some((first, rest)) = failures.split_first() {
        findings.failure = Some(first_failure(attempts, routes, facts, host, first, rest));
    }
    findings
}

/// Whether the attempt went unanswered (no SYN-ACK, no RST, no ICMP error): a client waits
/// its whole connect timeout on it, unlike a refusal it skips at once.
fn is_silent(o: &ConnectObservation) -> bool {
    matches!(
        o.outcome,
        ConnectOutcome::TimedOut | ConnectOutcome::Error { errno: 110, .. }
    )
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv6() {
        "IPv6"
    } else {
        "IPv4"
    }
}

fn list(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Some addresses are silent while others connect: `address_family_broken` when every address
/// of one family is silent and the other family connects, else `some_addresses_unreachable`.
/// `attempts` are in getaddrinfo's order, so the first is what a plain client tries first.
fn silent_addresses(
    attempts: &[ConnectObservation],
    routes: &[RouteObservation],
    host: &str,
) -> Option<Failure> {
    let dead: Vec<&ConnectObservation> = attempts.iter().filter(|o| is_silent(o)).collect();
    let first_dead = dead.first()?;
    let ok: Vec<IpAddr> = attempts
        .iter()
        .filter(|o| {
            matches!(
                o.outcome,
                ConnectOutcome::Connected {
                    reset_after_connect: false,
                    ..
                }
            )
        })
        .map(|o| o.address.ip())
        .collect();
    let v6 = first_dead.address.is_ipv6();
    let same: Vec<&ConnectObservation> = attempts
        .iter()
        .filter(|o| o.address.is_ipv6() == v6)
        .collect();
    let dead_ips: Vec<IpAddr> = dead
        .iter()
        .filter(|o| o.address.is_ipv6() == v6)
        .map(|o| o.address.ip())
        .collect();
    let whole_family = same.iter().all(|o| is_silent(o));
    let other_family_ok = ok.iter().any(|ip| ip.is_ipv6() != v6);
    let preferred = attempts.first().map(|o| o.address.ip());
    let first = preferred.map(|p| p.to_string()).unwrap_or_default();
    let fam = family(first_dead.address.ip());
    let waited = human(first_dead.elapsed);
    let (cause, summary, root) = if whole_family && other_family_ok {
        let other = if v6 { "IPv4" } else { "IPv6" };
        (
            Cause::AddressFamilyBroken,
            format!("{fam} to {host} is silently dropped ({}) while {other} connects.", list(&dead_ips)),
            format!(
                "every {fam} address of {host} ({}) got no answer to the SYN in {waited} while {other} ({}) connected; getaddrinfo puts {first} first here: clients without Happy Eyeballs stall for their connect timeout on every new connection, Happy Eyeballs clients (RFC 8305) fall back after about 250 ms",
                list(&dead_ips),
                list(&ok)
            ),
        )
    } else {
        (
            Cause::SomeAddressesUnreachable,
            format!("{} of {} {fam} addresses of {host} time out ({}) while the others connect.", dead_ips.len(), same.len(), list(&dead_ips)),
            format!(
                "{} of {} {fam} addresses of {host} ({}) got no answer to the SYN in {waited} while {} connected; clients that pick a dead one (round-robin order, connection pools, rotating resolvers) stall for their connect timeout",
                dead_ips.len(),
                same.len(),
                list(&dead_ips),
                list(&ok)
            ),
        )
    };
    let source = own_source(routes, first_dead.address.ip());
    Some(Failure {
        cause,
        summary,
        root_cause: format!("{root}."),
        context: FixContext {
            host: host.to_string(),
            port: Some(first_dead.address.port()),
            protocol: "tcp",
            address: Some(first_dead.address.ip()),
            source,
            unreachable: dead_ips,
            preferred,
            ..FixContext::default()
        },
    })
}

/// The evidence of one connect attempt: the failure text, the route and, for a local target
/// that failed, the listeners on this host.
fn attempt_evidence(
    o: &ConnectObservation,
    routes: &[RouteObservation],
    facts: &HostFacts,
    local: bool,
    cause: Option<&(Cause, String)>,
) -> Vec<String> {
    let mut evidence = Vec::new();
    if let Some((_, text)) = cause {
        evidence.push(text.clone());
    }
    if let Some(r) = route_of(routes, o.address.ip()) {
        evidence.push(format!("route: {}", super::route::describe_route(r)));
    }
    if local && cause.is_some() {
        if facts.listeners.is_empty() {
            match &facts.listeners_unavailable {
                Some(why) => evidence.push(format!(
                    "listeners on port {}: unknown ({why})",
                    o.address.port()
                )),
                None => evidence.push(format!(
                    "listeners on port {} on this host: none",
                    o.address.port()
                )),
            }
        }
        for l in &facts.listeners {
            let who = l
                .process
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            evidence.push(format!("listener on this host: {}{who}", l.local));
        }
    }
    evidence
}

/// The layer's failure from the first failed attempt (every attempt failed); `rest` are the
/// other failed attempts.
fn first_failure(
    attempts: &[ConnectObservation],
    routes: &[RouteObservation],
    facts: &HostFacts,
    host: &str,
    first: &(usize, Cause, String),
    rest: &[(usize, Cause, String)],
) -> Failure {
    let (i, cause, text) = first;
    let o = &attempts[*i];
    let (source, interface, gateway) = match route_of(routes, o.address.ip()) {
        Some(RouteOutcome::Route {
            source,
            interface,
            gateway,
            ..
        }) => (*source, interface.clone(), *gateway),
        _ => (None, None, None),
    };
    // An ICMP error this host's own stack sent itself (its ARP/ND for the next hop gave up)
    // names no one on the path: the kernel's state explains it.
    let offender = match &o.outcome {
        ConnectOutcome::Icmp(icmp) => icmp.offender.filter(|&ip| Some(ip) != source),
        _ => None,
    };
    let listener = if *cause == Cause::ListenerBoundToLoopback {
        loopback_listener(facts, o.address)
    } else {
        None
    };
    let others = if !rest.is_empty() {
        let rest: Vec<String> = rest
            .iter()
            .map(|(j, c, _)| format!("{} {}", attempts[*j].address, c.code()))
            .collect();
        format!(" Other addresses: {}.", rest.join(", "))
    } else {
        String::new()
    };
    let summary = failure_summary(*cause, offender, o);
    Failure {
        cause: *cause,
        summary,
        root_cause: format!("{text}.{others}"),
        context: FixContext {
            host: host.to_string(),
            port: Some(o.address.port()),
            protocol: "tcp",
            address: Some(o.address.ip()),
            offender,
            source,
            interface,
            gateway,
            listener: listener.map(|l| l.local),
            process: listener.and_then(|l| l.process.clone()),
            target_is_local: is_local(routes, o.address.ip()),
            ..FixContext::default()
        },
    }
}

/// The one-sentence summary of the first failed attempt.
fn failure_summary(cause: Cause, offender: Option<IpAddr>, o: &ConnectObservation) -> String {
    match cause {
        Cause::TcpRefused => match offender {
            Some(r) => format!("A firewall REJECT at {r} refuses connections to {} (ICMP port unreachable, not the server's RST).", o.address),
            None => format!("{} refuses connections on port {}: nothing listens there.", o.address.ip(), o.address.port()),
        },
        Cause::TcpTimeout => format!(
            "Connections to {} time out: the SYN is dropped without an answer.",
            o.address
        ),
        Cause::TcpAdminProhibited => match offender {
            Some(r) => format!(
                "A firewall at {r} rejects connections to {} (ICMP admin prohibited).",
                o.address
            ),
            None => format!("A firewall rejects connections to {}.", o.address),
        },
        Cause::HostUnreachable => match offender {
            Some(r) => format!("{r} reports host {} unreachable.", o.address.ip()),
            None => format!("Host {} is unreachable from here.", o.address.ip()),
        },
        Cause::NetUnreachable => match offender {
            Some(r) => format!("Router {r} has no route to {}.", o.address.ip()),
            None => format!("No network route to {}.", o.address.ip()),
        },
        Cause::TcpReset => {
            format!("{} accepts connections and resets them at once.", o.address)
        }
        Cause::ListenerBoundToLoopback => {
            format!(
                "The service on port {} listens on loopback only, so {} refuses connections.",
                o.address.port(),
                o.address.ip()
            )
        }
        Cause::NoRoute => format!("This host has no route to {}.", o.address.ip()),
        other => other.meaning().to_string(),
    }
}

fn short_result(o: &ConnectObservation) -> String {
    let took = human(o.elapsed);
    match &o.outcome {
        ConnectOutcome::Connected {
            reset_after_connect: true,
            ..
        } => format!("connected, then reset (RST) in {took}"),
        ConnectOutcome::Connected { .. } => format!("connected in {took}"),
        ConnectOutcome::Refused => format!("refused (RST) in {took}"),
        ConnectOutcome::TimedOut => {
            let resent = SYN_RETRANSMITS_MS
                .iter()
                .filter(|&&at| at <= ms(o.elapsed))
                .count();
            match resent {
                0 => format!("no answer in {took} (SYN sent once)"),
                n => format!("no answer in {took} (SYN sent {} times)", n + 1),
            }
        }
        ConnectOutcome::Icmp(i) => format!("{} in {took}", i.describe()),
        ConnectOutcome::Error { errno, message } => {
            format!("{} ({message}) in {took}", errno_name(*errno))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{IcmpError, Listener};
    use std::time::Duration;

    #[test]
    fn a_timeout_says_how_long_it_waited_and_which_retransmissions_went_unanswered() {
        let wait = |ms| retransmissions(Duration::from_millis(ms));
        assert_eq!(
            wait(800),
            "(sent once; the wait ended before the kernel's first retransmission at 1 s)"
        );
        assert_eq!(wait(2_250), "or its retransmission at 1 s");
        assert_eq!(wait(3_300), "or its retransmissions at 1 s and 3 s");
        assert_eq!(wait(8_000), "or its retransmissions at 1 s, 3 s and 7 s");
        let o = ConnectObservation {
            address: "10.0.0.1:80".parse().unwrap(),
            outcome: ConnectOutcome::TimedOut,
            elapsed: Duration::from_millis(3_300),
        };
        let (cause, text) = attempt_cause(&o, &HostFacts::default(), false, None).unwrap();
        assert_eq!(cause, Cause::TcpTimeout);
        assert!(
            text.contains(
                "no answer to the SYN or its retransmissions at 1 s and 3 s; waited 3.3 s"
            ),
            "{text}"
        );
        assert_eq!(short_result(&o), "no answer in 3.3 s (SYN sent 3 times)");
    }

    fn attempt(addr: &str, outcome: ConnectOutcome) -> ConnectObservation {
        ConnectObservation {
            address: addr.parse().unwrap(),
            outcome,
            elapsed: Duration::from_millis(3),
        }
    }

    fn icmp(t: u8, c: u8, from: &str) -> ConnectOutcome {
        ConnectOutcome::Icmp(IcmpError {
            v6: false,
            icmp_type: t,
            code: c,
            offender: Some(from.parse().unwrap()),
            errno: 113,
            info: 0,
        })
    }

    fn cause(
        attempts: &[ConnectObservation],
        routes: &[RouteObservation],
        facts: &HostFacts,
    ) -> Option<Cause> {
        classify(attempts, routes, facts, "h")
            .failure
            .map(|f| f.cause)
    }

    #[test]
    fn table_of_outcomes() {
        let none = HostFacts::default();
        let cases = [
            (ConnectOutcome::Refused, Some(Cause::TcpRefused)),
            (ConnectOutcome::TimedOut, Some(Cause::TcpTimeout)),
            (icmp(3, 13, "10.0.1.1"), Some(Cause::TcpAdminProhibited)),
            (icmp(3, 10, "10.0.1.1"), Some(Cause::TcpAdminProhibited)),
            (icmp(3, 1, "10.0.1.1"), Some(Cause::HostUnreachable)),
            (icmp(3, 0, "10.0.1.1"), Some(Cause::NetUnreachable)),
            (icmp(3, 3, "10.0.2.2"), Some(Cause::TcpRefused)),
            (
                ConnectOutcome::Connected {
                    local: None,
                    reset_after_connect: true,
                },
                Some(Cause::TcpReset),
            ),
            (
                ConnectOutcome::Connected {
                    local: None,
                    reset_after_connect: false,
                },
                None,
            ),
            (
                ConnectOutcome::Error {
                    errno: 101,
                    message: "Network is unreachable".into(),
                },
                Some(Cause::NoRoute),
            ),
            (
                ConnectOutcome::Error {
                    errno: 1,
                    message: "Operation not permitted".into(),
                },
                Some(Cause::TcpAdminProhibited),
            ),
        ];
        for (outcome, expected) in cases {
            let got = cause(&[attempt("10.0.2.2:8080", outcome.clone())], &[], &none);
            assert_eq!(got, expected, "{outcome:?}");
        }
    }

    #[test]
    fn host_unreachable_from_this_hosts_own_stack_names_no_router() {
        // The kernel's ARP for an on-link target gave up and its own stack answered the SYN.
        let routes = vec![RouteObservation {
            destination: "10.0.1.99".parse().unwrap(),
            outcome: RouteOutcome::Route {
                kind: RouteKind::Unicast,
                gateway: None,
                interface: Some("eth0".into()),
                source: Some("10.0.1.2".parse().unwrap()),
                table: Some(254),
            },
        }];
        let f = classify(
            &[attempt("10.0.1.99:8080", icmp(3, 1, "10.0.1.2"))],
            &routes,
            &HostFacts::default(),
            "h",
        );
        let failure = f.failure.expect("failure");
        assert_eq!(failure.cause, Cause::HostUnreachable);
        assert_eq!(
            failure.context.offender, None,
            "so the kernel facts are read"
        );
        let text = f.rows[0].evidence.join("\n");
        assert!(text.contains("this host's own stack (10.0.1.2)"), "{text}");
        assert!(!text.contains("router"), "{text}");
    }

    #[test]
    fn icmp_sender_is_named() {
        let f = classify(
            &[attempt("10.0.2.2:8080", icmp(3, 13, "10.0.1.1"))],
            &[],
            &HostFacts::default(),
            "h",
        );
        let failure = f.failure.expect("failure");
        assert_eq!(failure.context.offender, Some("10.0.1.1".parse().unwrap()));
        assert!(failure.root_cause.contains("router 10.0.1.1"));
        assert!(failure.summary.contains("10.0.1.1"));
    }

    #[test]
    fn listener_on_loopback_explains_refusal_on_own_address() {
        let routes = vec![RouteObservation {
            destination: "10.0.2.2".parse().unwrap(),
            outcome: RouteOutcome::Route {
                kind: RouteKind::Local,
                gateway: None,
                interface: Some("lo".into()),
                source: None,
                table: Some(255),
            },
        }];
        let facts = HostFacts {
            listeners: vec![Listener {
                local: "127.0.0.1:8080".parse().unwrap(),
                process: Some("app (pid 7)".into()),
            }],
            listeners_unavailable: None,
        };
        let f = classify(
            &[attempt("10.0.2.2:8080", ConnectOutcome::Refused)],
            &routes,
            &facts,
            "h",
        );
        let failure = f.failure.expect("failure");
        assert_eq!(failure.cause, Cause::ListenerBoundToLoopback);
        assert_eq!(
            failure.context.listener,
            Some("127.0.0.1:8080".parse().unwrap())
        );
        // The same refusal on a remote address says nothing about local listeners.
        assert_eq!(
            cause(
                &[attempt("10.0.2.2:8080", ConnectOutcome::Refused)],
                &[],
                &facts
            ),
            Some(Cause::TcpRefused)
        );
        // Probing 127.0.0.1 itself: refused is just refused.
        assert_eq!(
            cause(
                &[attempt("127.0.0.1:8080", ConnectOutcome::Refused)],
                &routes,
                &facts
            ),
            Some(Cause::TcpRefused)
        );
    }

    #[test]
    fn one_good_address_is_enough() {
        let f = classify(
            &[
                attempt("[2001:db8::1]:443", ConnectOutcome::TimedOut),
                attempt(
                    "192.0.2.1:443",
                    ConnectOutcome::Connected {
                        local: None,
                        reset_after_connect: false,
                    },
                ),
            ],
            &[],
            &HostFacts::default(),
            "h",
        );
        // A silent family while the other connects is a failure, not a pass.
        assert_eq!(f.failure.map(|f| f.cause), Some(Cause::AddressFamilyBroken));
        // A refusal on one address, which clients skip at once, stays a warning.
        let f = classify(
            &[
                attempt("192.0.2.1:443", ConnectOutcome::Refused),
                attempt("192.0.2.2:443", connected()),
            ],
            &[],
            &HostFacts::default(),
            "h",
        );
        assert!(f.failure.is_none());
        assert_eq!(f.warnings[0].cause, Cause::TcpRefused);
    }

    fn connected() -> ConnectOutcome {
        ConnectOutcome::Connected {
            local: None,
            reset_after_connect: false,
        }
    }

    fn failure_of(attempts: &[ConnectObservation]) -> Option<Failure> {
        classify(attempts, &[], &HostFacts::default(), "svc.test").failure
    }

    #[test]
    fn v6_silent_while_v4_connects_is_address_family_broken() {
        let f = failure_of(&[
            attempt("[2001:db8::1]:8080", ConnectOutcome::TimedOut),
            attempt("[2001:db8::2]:8080", ConnectOutcome::TimedOut),
            attempt("192.0.2.1:8080", connected()),
        ])
        .expect("failure");
        assert_eq!(f.cause, Cause::AddressFamilyBroken);
        assert!(f.summary.contains("IPv6"), "{}", f.summary);
        assert!(
            f.root_cause.contains("2001:db8::1, 2001:db8::2"),
            "{}",
            f.root_cause
        );
        assert!(
            f.root_cause.contains("getaddrinfo puts 2001:db8::1 first"),
            "{}",
            f.root_cause
        );
        assert_eq!(f.context.unreachable.len(), 2);
        let r = crate::fix::remedy(f.cause, &f.context);
        assert!(r.fix.description.contains("AAAA"), "{}", r.fix.description);
        assert!(r.fix.commands.iter().any(|c| c.contains("curl -4")));
        assert!(r.rollback.iter().any(|c| c.contains("gai.conf")));
    }

    #[test]
    fn v4_silent_while_v6_connects_is_address_family_broken() {
        let f = failure_of(&[
            attempt("[2001:db8::1]:8080", connected()),
            attempt("192.0.2.1:8080", ConnectOutcome::TimedOut),
        ])
        .expect("failure");
        assert_eq!(f.cause, Cause::AddressFamilyBroken);
        assert!(f.summary.contains("IPv4 to svc.test"), "{}", f.summary);
        assert_eq!(f.context.address, Some("192.0.2.1".parse().unwrap()));
        let r = crate::fix::remedy(f.cause, &f.context);
        assert!(r.fix.commands.iter().any(|c| c.contains("curl -6")));
    }

    #[test]
    fn one_of_three_silent_is_some_addresses_unreachable() {
        let f = failure_of(&[
            attempt("192.0.2.1:8080", connected()),
            attempt("192.0.2.2:8080", ConnectOutcome::TimedOut),
            attempt("192.0.2.3:8080", connected()),
        ])
        .expect("failure");
        assert_eq!(f.cause, Cause::SomeAddressesUnreachable);
        assert!(f.summary.starts_with("1 of 3 IPv4"), "{}", f.summary);
        assert!(f.root_cause.contains("(192.0.2.2)"), "{}", f.root_cause);
        assert!(f.root_cause.contains("round-robin"), "{}", f.root_cause);
        let r = crate::fix::remedy(f.cause, &f.context);
        assert!(
            r.fix.description.contains("192.0.2.2"),
            "{}",
            r.fix.description
        );
        // Dual stack with one v6 of two silent: the family works, a pool member is dead.
        let f = failure_of(&[
            attempt("[2001:db8::1]:8080", ConnectOutcome::TimedOut),
            attempt("[2001:db8::2]:8080", connected()),
            attempt("192.0.2.1:8080", connected()),
        ])
        .expect("failure");
        assert_eq!(f.cause, Cause::SomeAddressesUnreachable);
    }

    #[test]
    fn a_fast_icmp_error_on_a_family_stays_a_warning() {
        let f = classify(
            &[
                attempt("[2001:db8::1]:8080", icmp(1, 1, "2001:db8::fe")),
                attempt("192.0.2.1:8080", connected()),
            ],
            &[],
            &HostFacts::default(),
            "h",
        );
        assert!(f.failure.is_none());
        assert_eq!(f.warnings.len(), 1);
    }
}
