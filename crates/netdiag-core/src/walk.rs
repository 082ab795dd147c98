//! The walk policy: which layers run for a target, in which order, and where it stops.
//!
//! The walk is generic over [`Prober`], the one small interface to the I/O side, so the policy
//! (order, stop at the first failing layer, skip the rest, pick the verdict) is tested here with
//! a scripted prober on plain data. The real prober lives in `netdiag-probe` and owns every
//! deadline; the walk never waits itself.

use crate::cause::Cause;
use crate::diagnose::dns::{self, server_status, CandidateQueries, DnsObservations, ServerStatus};
use crate::diagnose::{
    http, human, mtu, proxy, resolver, route, tcp, tls, udp, Failure, LayerFindings,
};
use crate::firewall;
use crate::fix::remedy;
use crate::hostfacts::{self, KernelFacts, Severity};
use crate::hosts::{hosts_for_family, lookup_hosts, NssStatus};
use crate::kubedns;
use crate::layer::Layer;
use crate::observe::{
    ConnectObservation, ConnectOutcome, DnsExchange, DnsQuestion, HostFacts, HttpObservation,
    HttpOutcome, MtuObservation, ProxyObservation, ProxySetting, RecordType, ResolverFiles,
    RouteObservation, TlsObservation, TlsOutcome, UdpObservation,
};
use crate::observe::{RouteKind, RouteOutcome};
use crate::remedy::{GenericRollback, Remedy};
use crate::report::{
    FailedFlow, Fix, Report, Row, RowVerdict, TargetInfo, Verdict, Warning, SCHEMA,
};
use crate::search::{search_walk, StepOutcome};
use crate::target::{Host, Scheme, Target};
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The I/O side of the walk. Each method runs its probes concurrently and within the deadline
/// the implementation owns; none may fail: what went wrong is an observation.
pub trait Prober {
    /// Reads resolv.conf, the hosts file, nsswitch.conf and the proxy environment.
    fn resolver_files(&mut self) -> ResolverFiles;
    /// Sends every question (concurrently) and returns one exchange per question, in order.
    fn query(&mut self, questions: &[DnsQuestion]) -> Vec<DnsExchange>;
    /// Asks the kernel for the route to each destination.
    fn routes(&mut self, destinations: &[IpAddr]) -> Vec<RouteObservation>;
    /// Connects to every address concurrently.
    fn connect(&mut self, addresses: &[SocketAddr]) -> Vec<ConnectObservation>;
    /// Sends a UDP probe to every address concurrently.
    fn udp(&mut self, addresses: &[SocketAddr]) -> Vec<UdpObservation>;
    /// Facts about this host relevant to a local failure on `port` (listeners).
    fn host_facts(&mut self, port: u16) -> HostFacts;
    /// Resolves the proxy, connects to it and, when `tunnel` is set, asks it to
    /// `CONNECT host:port`. The open connection is kept for the TLS and HTTP layers.
    fn proxy(
        &mut self,
        setting: &ProxySetting,
        host: &str,
        port: u16,
        tunnel: bool,
    ) -> ProxyObservation;
    /// TLS handshake with `address` (through the proxy tunnel when one is open). The session
    /// is kept for the HTTP layer.
    fn tls(&mut self, address: SocketAddr, sni: Option<&str>) -> TlsObservation;
    /// One HTTP request, over the kept TLS session or proxy connection, or a new connection.
    fn http(&mut self, address: SocketAddr, request: &HttpRequest) -> HttpObservation;
    /// The path MTU to `address`: `active` sends probes (used when a large exchange stalled);
    /// otherwise it reads what the kernel learned on the kept connection.
    fn mtu(&mut self, address: SocketAddr, active: bool) -> MtuObservation;
    /// Kernel state that explains local failures: interface, neighbour entry of the next hop,
    /// rp_filter, conntrack. Read-only. With `tcp_port` (a TCP timeout), it may repeat the
    /// connect once to measure replies dropped by strict reverse-path filtering.
    fn kernel_facts(
        &mut self,
        destination: IpAddr,
        route: Option<&RouteOutcome>,
        tcp_port: Option<u16>,
    ) -> KernelFacts;
    /// TTL-limited probes to the same port and protocol: who answered at each hop, and whether
    /// the destination did. The walk concludes where the flow stops ([`hostfacts::summarize`]).
    fn trace(&mut self, destination: SocketAddr, udp: bool) -> (Vec<hostfacts::Hop>, bool);
    /// This host's own firewall (iptables and nftables) as read, unparsed. Read-only; needs
    /// CAP_NET_ADMIN, and each source says so otherwise. The walk evaluates the flow
    /// ([`firewall::explain_sources`]).
    fn firewall_sources(&mut self) -> firewall::FirewallSources;
    /// This host's interface addresses and prefix lengths (getaddrinfo's sorting and
    /// AI_ADDRCONFIG read them); `None` when they cannot be listed (libc then assumes both
    /// families are configured).
    fn interface_addresses(&mut self) -> Option<Vec<crate::observe::InterfaceAddress>> {
        None
    }
}

/// What the http layer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The URL, for the report.
    pub url: String,
    /// The Host header.
    pub host_header: String,
    /// The request target: a path, or the absolute URL when sent to a forward proxy.
    pub target: String,
    /// The `--slow` threshold: a prober may stop waiting for the first byte at twice this
    /// (the verdict is `http_slow` either way, so waiting longer only delays it).
    pub slow: Duration,
}

/// Address family restriction (`-4` / `-6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

/// Options of one walk.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// `-4` / `-6`.
    pub family: Option<Family>,
    /// RFC 3339 start time, written into the report.
    pub started_at: String,
    /// Seconds since the Unix epoch at the start (certificate validity is judged against it).
    pub now_unix: i64,
    /// The proxy that applies to this target (from the environment or `--proxy`).
    pub proxy: Option<ProxySetting>,
    /// `--sni`: the TLS server name to send and verify instead of the target host.
    pub sni: Option<String>,
    /// `--slow`: first-byte time above which HTTP is `http_slow` (default 2 s).
    pub slow: Option<std::time::Duration>,
    /// `--mtu`: probe the path MTU actively even when nothing stalled.
    pub probe_mtu: bool,
}

/// How many addresses the walk looks at, at most (the candidate names follow glibc's search
/// loop, bounded by `search::MAX_SEARCH_DOMAINS`).
const MAX_ADDRESSES: usize = 16;

/// The layers walked for a scheme, in order.
pub fn plan(scheme: Scheme) -> Vec<Layer> {
    match scheme {
        Scheme::Dns => vec![Layer::Resolver, Layer::Dns],
        Scheme::Udp => vec![Layer::Resolver, Layer::Dns, Layer::Route, Layer::Udp],
        Scheme::Tcp | Scheme::Http | Scheme::Https => {
            vec![Layer::Resolver, Layer::Dns, Layer::Route, Layer::Tcp]
        }
    }
}

struct State {
    rows: Vec<Row>,
    warnings: Vec<Warning>,
    redirect: Option<String>,
    /// Set when resolv.conf is a Kubernetes pod's (cluster DNS, ndots:5 search list).
    cluster_dns: Option<kubedns::ClusterDns>,
    /// The name's AAAA answers a DNS64 resolver synthesized, and whether it has native ones.
    nat64: Nat64View,
}

/// What the dns layer learned about DNS64 synthesis of the name's AAAA answers.
#[derive(Default)]
struct Nat64View {
    synthesized: Vec<crate::nat64::Synthesis>,
    native_aaaa: bool,
    a_records: Vec<IpAddr>,
}

impl State {
    fn absorb(&mut self, f: LayerFindings) -> Option<Failure> {
        self.rows.extend(f.rows);
        self.warnings.extend(f.warnings);
        f.failure
    }
}

/// Walks the layers for `target` and returns the report (its `duration_ms` is left at 0 for
/// the caller, who owns the clock).
pub fn walk(target: &Target, opts: &WalkOptions, prober: &mut dyn Prober) -> Report {
    let layers = plan(target.scheme);
    let mut st = State {
        rows: Vec::new(),
        warnings: Vec::new(),
        redirect: None,
        cluster_dns: None,
        nat64: Nat64View::default(),
    };
    let mut failure = run_layers(target, opts, prober, &mut st);
    if let Some(cd) = &st.cluster_dns {
        in_pod_hints(cd, target, &mut st.warnings, failure.as_mut());
    }
    if let Some(f) = failure.as_mut() {
        check_local_firewall(target, prober, &mut st, f);
        explain_locally(target, prober, &mut st, f);
        nat64_translator(prober, &mut st, f);
    }
    // An address pinned in the hosts file is part of the story of any later failure.
    if let Some(f) = failure.as_mut() {
        if f.cause.layer() > Some(Layer::Dns) {
            if let Some(w) = st
                .warnings
                .iter()
                .find(|w| w.cause == Cause::DnsHostsOverride)
            {
                f.root_cause.push_str(&format!(
                    " Note: the address came from the hosts file, not DNS: {}.",
                    w.message
                ));
            }
        }
    }
    if let Some(f) = &failure {
        let failed_layer = f.cause.layer();
        // Later layers are shown as skipped.
        let done: HashSet<Layer> = st.rows.iter().map(|r| r.layer).collect();
        for layer in &layers {
            if !done.contains(layer) && Some(*layer) > failed_layer.or(Some(Layer::Resolver)) {
                st.rows.push(Row::new(
                    *layer,
                    "not run",
                    format!(
                        "skipped: the {} layer failed",
                        failed_layer.map(|l| l.name()).unwrap_or("previous")
                    ),
                    RowVerdict::Skip,
                    Cause::Ok,
                ));
            }
        }
    }
    let failed_flow = failure.as_ref().and_then(|f| {
        f.context.address.map(|destination| FailedFlow {
            source: f.context.source,
            destination,
            port: target.port.or(f.context.port),
            protocol: if target.scheme == Scheme::Udp {
                "udp"
            } else {
                "tcp"
            },
        })
    });
    let verdict = match failure {
        Some(f) => {
            let mut r = remedy(f.cause, &f.context);
            if let Some((text, commands)) = &f.context.cluster_dns_hint {
                let hint = Remedy {
                    fix: Fix {
                        description: text.clone(),
                        commands: commands.clone(),
                        manifests: Vec::new(),
                    },
                    ..Remedy::default()
                };
                r.put_first(hint, GenericRollback::Keep);
            }
            if let Some(scoped) = &f.context.firewall_fix {
                // The local rule is known: its scoped exception is the fix, first, and its
                // rollback is exactly what undoes it.
                let exception = Remedy {
                    fix: Fix {
                        description: "This host's firewall blocks the flow; insert an exception for exactly this flow before the blocking rule.".to_string(),
                        commands: scoped.fix.clone(),
                        manifests: Vec::new(),
                    },
                    prestate: scoped.prestate.clone(),
                    rollback: scoped.rollback.clone(),
                    runbook: String::new(),
                };
                r.put_first(exception, GenericRollback::Drop);
            }
            // The guard sees every live verdict last: nothing that opens the world is printed.
            let r = r.guarded();
            Verdict {
                layer: f.cause.layer(),
                cause: f.cause,
                summary: f.summary,
                root_cause: f.root_cause,
                fix: r.fix,
                rollback: r.rollback,
                prestate: r.prestate,
                runbook: r.runbook,
            }
        }
        None => Verdict {
            layer: None,
            cause: Cause::Ok,
            summary: healthy_summary(target, &st.rows),
            root_cause: String::new(),
            fix: Default::default(),
            rollback: Vec::new(),
            prestate: Vec::new(),
            runbook: String::new(),
        },
    };
    Report {
        schema: SCHEMA,
        target: TargetInfo::from(target),
        started_at: opts.started_at.clone(),
        duration_ms: 0,
        layers: st.rows,
        verdict,
        warnings: st.warnings,
        redirect: st.redirect,
        followed: Vec::new(),
        failed_flow,
        cloud: None,
    }
}

/// Inside a Kubernetes pod: search-list amplification gets the pod-level fix, and a DNS failure
/// of the cluster DNS Service points at CoreDNS and at NetworkPolicy egress to port 53.
fn in_pod_hints(
    cd: &kubedns::ClusterDns,
    target: &Target,
    warnings: &mut [Warning],
    failure: Option<&mut Failure>,
) {
    for w in warnings
        .iter_mut()
        .filter(|w| w.cause == Cause::DnsSearchExpansion)
    {
        w.message = format!(
            "{} {}",
            w.message,
            cd.amplification_fix(&target.host.to_string())
        );
    }
    let Some(f) = failure else {
        return;
    };
    let server_trouble = matches!(
        f.cause,
        Cause::DnsTimeout
            | Cause::DnsNameserverUnreachable
            | Cause::DnsServfail
            | Cause::DnsRefused
            | Cause::DnsSlow
    );
    if server_trouble && cd.is_cluster_nameserver(f.context.nameserver) {
        let (text, commands) = cd.failure_hint(f.context.nameserver);
        f.root_cause = format!("{} {text}", f.root_cause);
        f.context.cluster_dns_hint = Some((text, commands));
    }
}

/// After a route, tcp or udp failure: what this host's kernel and the path say about it. A
/// down interface, a FAILED neighbour entry, strict rp_filter on an asymmetric route or a full
/// conntrack table is the cause when present; a silent drop is located hop by hop.
fn explain_locally(target: &Target, prober: &mut dyn Prober, st: &mut State, f: &mut Failure) {
    let layer = f.cause.layer();
    // Only failures where nothing came back, or the local stack refused, can be this host's
    // doing; a RST or an ICMP error from elsewhere already names who answered.
    let local_kind = f.cause.follow_ups().kernel_facts && f.context.offender.is_none();
    if !matches!(layer, Some(Layer::Route | Layer::Tcp | Layer::Udp)) || !local_kind {
        return;
    }
    let Some(address) = f.context.address else {
        return;
    };
    if address.is_loopback() {
        return;
    }
    let row_layer = layer.unwrap_or(Layer::Route);
    let route = RouteOutcome::Route {
        kind: crate::observe::RouteKind::Unicast,
        gateway: f.context.gateway,
        interface: f.context.interface.clone(),
        source: f.context.source,
        table: None,
    };
    let tcp_port = if f.cause == Cause::TcpTimeout {
        target.port.or(f.context.port)
    } else {
        None
    };
    let facts = prober.kernel_facts(
        address,
        f.context.interface.as_ref().map(|_| &route),
        tcp_port,
    );
    let findings = hostfacts::classify(&facts);
    let mut ev: Vec<String> = findings
        .iter()
        .map(|h| format!("{}: {}", h.code, h.text))
        .collect();
    ev.extend(facts.notes.iter().cloned());
    if let Some(r) = &facts.reverse_path {
        ev.push(format!(
            "reverse-path filter: strict (1) on {}; the kernel's input check rejects packets from {address} on {}; IPReversePathFilter {} in {} of connecting",
            r.strict_interfaces.join(", "),
            if r.rejecting_interfaces.is_empty() {
                "none".to_string()
            } else {
                r.rejecting_interfaces.join(", ")
            },
            r.drops_during_probe
                .map_or("unreadable".to_string(), |d| format!("+{d}")),
            crate::diagnose::human(r.probe_duration)
        ));
    }
    let deciding = findings.iter().find(|h| h.severity == Severity::Fail);
    st.rows.push(
        Row::new(
            row_layer,
            format!("kernel state for {address}"),
            match deciding {
                Some(h) => h.code.to_string(),
                None if findings.is_empty() => "nothing wrong on this host".to_string(),
                None => format!("{} note(s)", findings.len()),
            },
            if deciding.is_some() {
                RowVerdict::Fail
            } else {
                RowVerdict::Pass
            },
            deciding.map(|h| h.code).unwrap_or(Cause::Ok),
        )
        .with_evidence(ev),
    );
    for h in findings.iter().filter(|h| h.severity == Severity::Warn) {
        st.warnings.push(Warning {
            cause: h.code,
            message: h.text.clone(),
        });
    }
    if let Some(h) = deciding {
        let cause = h.code;
        f.root_cause = format!(
            "{}. The symptom was {}: {}",
            h.text.trim_end_matches('.'),
            f.cause.code(),
            f.root_cause
        );
        f.summary = format!("{} ({})", cause.meaning().trim_end_matches('.'), h.text);
        f.cause = cause;
        f.context.host_fix = Some((h.fix.clone(), h.rollback.clone()));
        return;
    }
    // A silent drop: find the last hop that still answers.
    let silent = matches!(f.cause, Cause::TcpTimeout | Cause::UdpNoResponse);
    if silent {
        if let Some(port) = target.port.or(f.context.port) {
            let (hops, reached) = prober.trace(
                SocketAddr::new(address, port),
                f.cause == Cause::UdpNoResponse,
            );
            let trace = hostfacts::summarize(hops, reached);
            let sentence = hostfacts::describe_path(&trace);
            let mut ev: Vec<String> = Vec::new();
            let last_answer = trace.hops.iter().rposition(|h| h.responder.is_some());
            for (i, h) in trace.hops.iter().enumerate() {
                if last_answer.is_some_and(|l| i > l + 1) || (last_answer.is_none() && i > 0) {
                    let first = trace.hops.get(i).map(|h| h.ttl).unwrap_or(0);
                    let last = trace.hops.last().map(|h| h.ttl).unwrap_or(first);
                    ev.push(format!("hops {first}-{last}: no answer"));
                    break;
                }
                ev.push(match (h.responder, h.rtt) {
                    (Some(r), Some(t)) => format!("hop {}: {r} in {}", h.ttl, human(t)),
                    (Some(r), None) => format!("hop {}: {r}", h.ttl),
                    _ => format!("hop {}: no answer", h.ttl),
                });
            }
            st.rows.push(
                Row::new(
                    row_layer,
                    format!(
                        "where on the path ({} to port {port}, TTL-limited)",
                        if f.cause == Cause::UdpNoResponse {
                            "udp"
                        } else {
                            "tcp"
                        }
                    ),
                    sentence.clone(),
                    RowVerdict::Fail,
                    f.cause,
                )
                .with_evidence(ev),
            );
            f.root_cause = format!("{} Path: {sentence}.", f.root_cause);
            if let Some((_, router)) = trace.last_responding {
                f.context.offender = f.context.offender.or(Some(router));
            }
        }
    }
}

/// After a tcp or udp failure: does this host's own firewall block the flow? Evaluates the
/// OUTPUT path (and INPUT when the target is this host) through iptables and nftables.
fn check_local_firewall(target: &Target, prober: &mut dyn Prober, st: &mut State, f: &mut Failure) {
    let relevant = f.cause.follow_ups().local_firewall;
    let (Some(address), Some(port)) = (f.context.address, target.port.or(f.context.port)) else {
        return;
    };
    if !relevant || f.cause == Cause::TcpRefused && f.context.offender.is_none() {
        return;
    }
    let family = if address.is_ipv4() {
        firewall::IpFamily::V4
    } else {
        firewall::IpFamily::V6
    };
    let unspecified = if address.is_ipv4() {
        IpAddr::from([0, 0, 0, 0])
    } else {
        IpAddr::from([0u16; 8])
    };
    let proto = if target.scheme == Scheme::Udp {
        firewall::Proto::Udp
    } else {
        firewall::Proto::Tcp
    };
    let source = f.context.source.unwrap_or(unspecified);
    let outgoing = firewall::Flow {
        family,
        hook: firewall::FlowHook::Output,
        proto,
        src: source,
        dst: address,
        sport: None,
        dport: Some(port),
        iif: None,
        oif: f.context.interface.clone(),
        reply: false,
        ephemeral: None,
    };
    let mut flows = vec![("OUTPUT", outgoing.clone())];
    if f.context.target_is_local {
        flows.push((
            "INPUT",
            firewall::Flow {
                hook: firewall::FlowHook::Input,
                oif: None,
                ..outgoing.clone()
            },
        ));
    } else if matches!(f.cause, Cause::TcpTimeout | Cause::UdpNoResponse)
        && f.context.source.is_some()
    {
        // Silence can also be this host dropping the replies: an INPUT policy DROP without an
        // ESTABLISHED accept, or a rule against the server's address.
        flows.push((
            "INPUT, replies",
            firewall::Flow {
                hook: firewall::FlowHook::Input,
                src: address,
                dst: source,
                sport: Some(port),
                dport: None,
                iif: f.context.interface.clone(),
                oif: None,
                reply: true,
                ..outgoing
            },
        ));
    }
    for (hook_name, flow) in flows {
        let report = firewall::explain_sources(&flow, &prober.firewall_sources());
        let test = format!("this host's firewall ({hook_name}) for {flow}");
        let Some(verdict) = &report.verdict else {
            st.rows.push(
                Row::new(
                    f.cause.layer().unwrap_or(Layer::Tcp),
                    test,
                    "not read".to_string(),
                    RowVerdict::Warn,
                    Cause::Ok,
                )
                .with_evidence(report.notes.clone()),
            );
            continue;
        };
        let mut ev: Vec<String> = verdict.trail.iter().take(12).cloned().collect();
        ev.extend(report.notes.iter().cloned());
        let layer = f.cause.layer().unwrap_or(Layer::Tcp);
        match (&verdict.outcome, &verdict.deciding_rule) {
            (outcome, Some(rule)) if outcome.is_blocked() => {
                let action = match outcome {
                    firewall::Outcome::Rejected { with } => format!("rejects it ({with})"),
                    _ => "drops it".to_string(),
                };
                ev.insert(0, format!("deciding rule: {rule}"));
                st.rows.push(
                    Row::new(
                        layer,
                        test,
                        format!("{action}: {rule}"),
                        RowVerdict::Fail,
                        f.cause,
                    )
                    .with_evidence(ev),
                );
                f.root_cause = format!(
                    "{} This host's own firewall {action} in {hook_name}: {rule}.",
                    f.root_cause
                );
                f.summary = format!("{} This host's firewall {action}.", f.summary);
                f.context.firewall_fix = Some(report.fix.clone());
                return;
            }
            (firewall::Outcome::Possible { .. }, _) => {
                st.rows.push(
                    Row::new(
                        layer,
                        test,
                        "possibly blocked: rules that could not be evaluated might match"
                            .to_string(),
                        RowVerdict::Warn,
                        Cause::Ok,
                    )
                    .with_evidence(ev),
                );
            }
            _ => {
                st.rows.push(
                    Row::new(
                        layer,
                        test,
                        "accepts the flow: the block is not on this host".to_string(),
                        RowVerdict::Pass,
                        Cause::Ok,
                    )
                    .with_evidence(ev),
                );
            }
        }
    }
}

fn healthy_summary(target: &Target, rows: &[Row]) -> String {
    let last = rows
        .iter()
        .rev()
        .find(|r| r.verdict == RowVerdict::Pass || r.verdict == RowVerdict::Warn);
    let layers: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for r in rows {
            if !v.contains(&r.layer.name()) {
                v.push(r.layer.name());
            }
        }
        v
    };
    match last {
        Some(r) => format!(
            "{} is healthy: {} passed; {}: {}.",
            target.authority(),
            layers.join(", "),
            r.test,
            r.result
        ),
        None => format!("{} is healthy.", target.authority()),
    }
}

fn run_layers(
    target: &Target,
    opts: &WalkOptions,
    prober: &mut dyn Prober,
    st: &mut State,
) -> Option<Failure> {
    let needs_dns = matches!(target.host, Host::Name(_));
    let setup = match resolver_layer(target, opts, prober, st, needs_dns) {
        Ok(setup) => setup,
        Err(f) => return Some(*f),
    };
    let proxied = opts.proxy.is_some() && matches!(target.scheme, Scheme::Http | Scheme::Https);
    let addresses = match dns_layer(target, opts, prober, st, &setup, proxied) {
        Ok(addresses) => addresses,
        Err(f) => return Some(*f),
    };
    if target.scheme == Scheme::Dns {
        return None;
    }
    let port = target.port?;
    if let (Some(setting), Scheme::Http | Scheme::Https) = (&opts.proxy, target.scheme) {
        return walk_via_proxy(target, opts, prober, st, setting, &addresses, port);
    }
    transport_layers(target, opts, prober, st, &addresses, port)
}

/// The resolver layer: the configuration files, and the Kubernetes pod DNS row when the
/// resolv.conf is a kubelet's.
fn resolver_layer(
    target: &Target,
    opts: &WalkOptions,
    prober: &mut dyn Prober,
    st: &mut State,
    needs_dns: bool,
) -> Result<resolver::ResolverSetup, Box<Failure>> {
    let files = prober.resolver_files();
    let (setup, findings) = resolver::classify(&files, needs_dns);
    if let Some(f) = st.absorb(findings) {
        return Err(Box::new(f));
    }
    st.cluster_dns = kubedns::detect(&setup.resolv_conf);
    if let (Some(cd), true) = (&st.cluster_dns, needs_dns) {
        let record_types = if opts.family.is_some() { 1 } else { 2 };
        let host = target.host.to_string();
        let expansions = cd.expansions_before(&host);
        let (result, verdict, cause) = if expansions > 0 && !cd.is_cluster_name(&host) {
            (
                format!(
                    "cluster DNS, ndots:{}: {expansions} search expansions per record type first",
                    cd.ndots
                ),
                RowVerdict::Warn,
                Cause::DnsSearchExpansion,
            )
        } else {
            (
                format!("cluster DNS, ndots:{}", cd.ndots),
                RowVerdict::Pass,
                Cause::Ok,
            )
        };
        st.rows.push(
            Row::new(
                Layer::Resolver,
                "Kubernetes pod DNS",
                result,
                verdict,
                cause,
            )
            .with_evidence(cd.evidence(&host, record_types)),
        );
    }
    Ok(setup)
}

/// The dns layer: the addresses libc would use (or the literal), in the asked family, without
/// duplicates. Behind a proxy a local DNS failure is only a warning: the proxy resolves.
fn dns_layer(
    target: &Target,
    opts: &WalkOptions,
    prober: &mut dyn Prober,
    st: &mut State,
    setup: &resolver::ResolverSetup,
    proxied: bool,
) -> Result<Vec<IpAddr>, Box<Failure>> {
    let addresses: Vec<IpAddr> = match &target.host {
        Host::Ip(ip) => {
            st.rows.push(Row::new(
                Layer::Dns,
                format!("resolve {ip}"),
                "address literal: nothing to resolve",
                RowVerdict::Pass,
                Cause::Ok,
            ));
            vec![*ip]
        }
        Host::Name(name) => {
            let obs = gather_dns(name, setup, opts, prober);
            let (addrs, mut findings) = dns::classify(&obs, setup);
            if proxied {
                // The proxy resolves the target itself; a local DNS problem is only a warning.
                if let Some(f) = findings.failure.take() {
                    for r in findings
                        .rows
                        .iter_mut()
                        .filter(|r| r.verdict == RowVerdict::Fail)
                    {
                        r.verdict = RowVerdict::Warn;
                    }
                    findings.warnings.push(Warning {
                        cause: f.cause,
                        message: format!(
                            "{} (not fatal: the proxy resolves {name} itself)",
                            f.summary
                        ),
                    });
                }
            }
            if let Some(f) = st.absorb(findings) {
                return Err(Box::new(f));
            }
            if proxied {
                addrs
            } else {
                nat64_view(&addrs, setup, opts, prober, st);
                getaddrinfo_view(target, addrs, opts, prober, st)?
            }
        }
    };
    let mut addresses: Vec<IpAddr> = addresses
        .into_iter()
        .filter(|a| match opts.family {
            Some(Family::V4) => a.is_ipv4(),
            Some(Family::V6) => a.is_ipv6(),
            None => true,
        })
        .collect();
    let mut seen = HashSet::new();
    addresses.retain(|a| seen.insert(*a));
    addresses.truncate(MAX_ADDRESSES);
    if addresses.is_empty() && !proxied {
        let fam = match opts.family {
            Some(Family::V4) => "IPv4",
            Some(Family::V6) => "IPv6",
            None => "any",
        };
        let f = Failure {
            cause: Cause::DnsNodata,
            summary: format!("{} has no {fam} address.", target.host_text()),
            root_cause: format!(
                "The name resolved, but to no {fam} address (the -4/-6 flag restricts the family)."
            ),
            context: Default::default(),
        };
        st.rows.push(Row::new(
            Layer::Dns,
            format!("{fam} addresses of {}", target.host_text()),
            "none",
            RowVerdict::Fail,
            Cause::DnsNodata,
        ));
        return Err(Box::new(f));
    }
    Ok(addresses)
}

/// DNS64 (RFC 6147): which AAAA answers are synthesized from an A record. The well-known
/// prefix needs no question; a network-specific one is learned from `ipv4only.arpa` (RFC 7050),
/// asked only when an AAAA answer embeds one of the name's own A answers at an RFC 6052 length
/// (the signature of synthesis), so an ordinary dual-stack name costs no extra query.
fn nat64_view(
    addrs: &[IpAddr],
    setup: &resolver::ResolverSetup,
    opts: &WalkOptions,
    prober: &mut dyn Prober,
    st: &mut State,
) {
    use crate::nat64;
    let v4: Vec<IpAddr> = addrs.iter().copied().filter(IpAddr::is_ipv4).collect();
    let v6: Vec<std::net::Ipv6Addr> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V6(v6) => Some(*v6),
            IpAddr::V4(_) => None,
        })
        .collect();
    if v6.is_empty() {
        return;
    }
    let embeds_an_a = v6.iter().any(|a| {
        nat64::synthesized(*a, &[]).is_none()
            && [32u8, 40, 48, 56, 64, 96].iter().any(|len| {
                nat64::Prefix::new(*a, *len)
                    .and_then(|p| p.embedded(*a))
                    .is_some_and(|e| v4.contains(&IpAddr::V4(e)))
            })
    });
    let mut evidence = Vec::new();
    let mut learned = Vec::new();
    let conf = &setup.resolv_conf;
    if embeds_an_a && conf.options.attempts > 0 && opts.family != Some(Family::V4) {
        let server = conf
            .effective_nameservers()
            .first()
            .map_or(SocketAddr::from(([127, 0, 0, 1], 53)), |n| n.address);
        let answers: Vec<std::net::Ipv6Addr> = prober
            .query(&[DnsQuestion {
                name: nat64::DISCOVERY_NAME.to_string(),
                record_type: RecordType::Aaaa,
                server,
                checking_disabled: false,
            }])
            .iter()
            .flat_map(|x| match &x.outcome {
                crate::observe::DnsOutcome::Response { addresses, .. } => addresses.clone(),
                _ => Vec::new(),
            })
            .filter_map(|a| match a {
                IpAddr::V6(v6) => Some(v6),
                IpAddr::V4(_) => None,
            })
            .collect();
        learned = nat64::learn(&answers);
        let found: Vec<String> = learned.iter().map(ToString::to_string).collect();
        evidence.push(format!(
            "{} AAAA from {server}: {} (RFC 7050 prefix discovery: {})",
            nat64::DISCOVERY_NAME,
            if answers.is_empty() {
                "none".to_string()
            } else {
                answers
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            if found.is_empty() {
                "no NAT64 prefix".to_string()
            } else {
                found.join(", ")
            }
        ));
    }
    let synthesized: Vec<nat64::Synthesis> = v6
        .iter()
        .filter_map(|a| nat64::synthesized(*a, &learned))
        .collect();
    if synthesized.is_empty() {
        return;
    }
    let native = v6.len() - synthesized.len();
    evidence.extend(synthesized.iter().map(nat64::Synthesis::describe));
    let prefixes: Vec<String> = synthesized.iter().fold(Vec::new(), |mut acc, s| {
        let p = s.prefix.to_string();
        if !acc.contains(&p) {
            acc.push(p);
        }
        acc
    });
    st.rows.push(
        Row::new(
            Layer::Dns,
            "DNS64 synthesis",
            format!(
                "{} of {} AAAA synthesized by DNS64 (prefix {}){}",
                synthesized.len(),
                v6.len(),
                prefixes.join(", "),
                if native == 0 { ", no native AAAA" } else { "" }
            ),
            RowVerdict::Pass,
            Cause::Ok,
        )
        .with_evidence(evidence),
    );
    st.nat64 = Nat64View {
        synthesized,
        native_aaaa: native > 0,
        a_records: v4,
    };
}

/// A silent or unreachable connect to a DNS64-synthesized address while the name has no native
/// AAAA: the translator for the prefix is the failing hop, not the server. Runs after the
/// follow-ups, so the hop where packets stop (the trace) or the ICMP sender is known.
fn nat64_translator(prober: &mut dyn Prober, st: &mut State, f: &mut Failure) {
    let Some(IpAddr::V6(addr)) = f.context.address else {
        return;
    };
    let suspect = matches!(
        f.cause,
        Cause::TcpTimeout
            | Cause::HostUnreachable
            | Cause::NetUnreachable
            | Cause::AddressFamilyBroken
    );
    if !suspect || st.nat64.native_aaaa {
        return;
    }
    let Some(syn) = st
        .nat64
        .synthesized
        .iter()
        .find(|s| s.address == addr)
        .copied()
    else {
        return;
    };
    let translator = f.context.offender.or(f.context.gateway);
    let native_v4 = f.cause == Cause::AddressFamilyBroken
        || prober.interface_addresses().is_some_and(|list| {
            list.iter()
                .any(|i| i.address.is_ipv4() && !i.address.is_loopback())
        });
    let who = translator.map_or_else(
        || "the NAT64 translator (the route names no next hop)".to_string(),
        |t| format!("the NAT64 translator at {t}"),
    );
    let a = if st.nat64.a_records.is_empty() {
        String::new()
    } else {
        format!(" (A: {})", join_addrs(&st.nat64.a_records))
    };
    let old = f.cause;
    f.summary = format!(
        "{} for {} does not forward: {addr} is synthesized by DNS64 from {}, and connects to it get no answer.",
        capitalize(&who),
        syn.prefix,
        syn.v4
    );
    f.root_cause = format!(
        "{}; {} has no native AAAA{a}, so every IPv6 connect goes through {who} for {}, which does not forward ({}). {}",
        syn.describe(),
        f.context.host,
        syn.prefix,
        old.code(),
        f.root_cause
    );
    f.cause = Cause::Nat64TranslatorUnreachable;
    f.context.nat64 = Some(crate::diagnose::Nat64Path {
        prefix: syn.prefix.to_string(),
        v4: Some(syn.v4),
        translator,
        native_v4,
    });
    for r in st
        .rows
        .iter_mut()
        .filter(|r| r.layer == Layer::Tcp && r.cause == old && r.verdict == RowVerdict::Fail)
    {
        r.cause = Cause::Nat64TranslatorUnreachable;
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|h| h.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// getaddrinfo's own steps after the NSS sources answered: AI_ADDRCONFIG (which most clients
/// and `getent ahosts` set) leaves out a family this host has no non-loopback address of, and
/// RFC 3484 with gai.conf orders the rest. A row says so when either changed the list; a list
/// that AI_ADDRCONFIG empties is `dns_nodata` (libc returns no address at all).
fn getaddrinfo_view(
    target: &Target,
    addrs: Vec<IpAddr>,
    opts: &WalkOptions,
    prober: &mut dyn Prober,
    st: &mut State,
) -> Result<Vec<IpAddr>, Box<Failure>> {
    let mut seen = HashSet::new();
    let mut list: Vec<IpAddr> = addrs.into_iter().filter(|a| seen.insert(*a)).collect();
    if list.is_empty() {
        return Ok(list);
    }
    let interfaces = prober.interface_addresses();
    let mut evidence = Vec::new();
    if opts.family.is_none() {
        let keep_v4 = match addrconfig_family(None, interfaces.as_deref()) {
            Some(Some(Family::V4)) => Some(true),
            Some(Some(Family::V6)) => Some(false),
            _ => None,
        };
        if let Some(keep_v4) = keep_v4 {
            let (kept, dropped): (Vec<IpAddr>, Vec<IpAddr>) =
                list.iter().partition(|a| a.is_ipv4() == keep_v4);
            if !dropped.is_empty() {
                let fam = if keep_v4 { "IPv6" } else { "IPv4" };
                let what = format!(
                    "this host has no {fam} address other than loopback, so getaddrinfo with AI_ADDRCONFIG (what most clients and getent ahosts ask for) leaves out {}",
                    join_addrs(&dropped)
                );
                if kept.is_empty() {
                    let f = Failure {
                        cause: Cause::DnsNodata,
                        summary: format!(
                            "{} has only {fam} addresses, and this host has no {fam} address: libc returns none.",
                            target.host_text()
                        ),
                        root_cause: format!("AI_ADDRCONFIG: {what}."),
                        context: Default::default(),
                    };
                    st.rows.push(
                        Row::new(
                            Layer::Dns,
                            "getaddrinfo (AI_ADDRCONFIG)",
                            format!("no address left: this host has no {fam} address"),
                            RowVerdict::Fail,
                            Cause::DnsNodata,
                        )
                        .with_evidence(vec![what]),
                    );
                    return Err(Box::new(f));
                }
                evidence.push(format!("AI_ADDRCONFIG: {what}"));
                list = kept;
            }
        }
    }
    let files = prober.resolver_files();
    let sorted = libc_order(list.clone(), &files, interfaces.as_deref(), prober);
    if sorted != list {
        let tables = match files.gai_conf.as_ref() {
            Some(crate::observe::ConfigFile {
                path,
                content: Ok(_),
            }) => format!("the tables of {path}"),
            _ => "glibc's built-in tables (no gai.conf)".to_string(),
        };
        evidence.push(format!(
            "RFC 3484 destination order with {tables} and the kernel's source address for each: {}",
            join_addrs(&sorted)
        ));
    }
    if !evidence.is_empty() {
        st.rows.push(
            Row::new(
                Layer::Dns,
                "getaddrinfo order",
                join_addrs(&sorted),
                RowVerdict::Pass,
                Cause::Ok,
            )
            .with_evidence(evidence),
        );
    }
    Ok(sorted)
}

fn join_addrs(list: &[IpAddr]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The route and transport layers (tcp or udp), then the session layers for http(s).
fn transport_layers(
    target: &Target,
    opts: &WalkOptions,
    prober: &mut dyn Prober,
    st: &mut State,
    addresses: &[IpAddr],
    port: u16,
) -> Option<Failure> {
    let host = target.host_text();
    // route
    let routes = prober.routes(addresses);
    let (usable, findings) = route::classify(&routes, &host);
    if let Some(f) = st.absorb(findings) {
        return Some(f);
    }
    let sockets: Vec<SocketAddr> = usable.iter().map(|ip| SocketAddr::new(*ip, port)).collect();

    if target.scheme == Scheme::Udp {
        let probes = prober.udp(&sockets);
        return st.absorb(udp::classify(&probes, &host));
    }

    let attempts = prober.connect(&sockets);
    let any_local_failure = attempts.iter().any(|a| {
        !matches!(
            a.outcome,
            ConnectOutcome::Connected {
                reset_after_connect: false,
                ..
            }
        ) && tcp::is_local(&routes, a.address.ip())
    });
    let facts = if any_local_failure {
        prober.host_facts(port)
    } else {
        HostFacts::default()
    };
    if let Some(f) = st.absorb(tcp::classify(&attempts, &routes, &facts, &host)) {
        return Some(f);
    }
    let address = attempts
        .iter()
        .find(|a| {
            matches!(
                a.outcome,
                ConnectOutcome::Connected {
                    reset_after_connect: false,
                    ..
                }
            )
        })
        .map(|a| a.address)?;
    if target.scheme == Scheme::Tcp {
        if opts.probe_mtu {
            return st.absorb(mtu::classify(&prober.mtu(address, true)));
        }
        return None;
    }
    session_layers(target, opts, prober, st, address, None)
}

/// The layers above the transport for http(s): mtu, tls, http. The mtu layer is measured
/// passively on a healthy session (what the kernel learned) and actively only when a large
/// exchange stalls, which is how a black hole shows itself: small packets pass, the certificate
/// flight or the response never arrives.
fn session_layers(
    target: &Target,
    opts: &WalkOptions,
    prober: &mut dyn Prober,
    st: &mut State,
    address: SocketAddr,
    via_proxy: Option<&ProxySetting>,
) -> Option<Failure> {
    let host = target.host_text();
    let port = address.port();
    let mtu_at = st.rows.len();
    if target.scheme == Scheme::Https {
        // An address target is verified against its own IP (and sends no SNI); through a proxy
        // the connection's address is the proxy's, so the name must always be the target's.
        let sni = opts.sni.clone().or_else(|| match &target.host {
            Host::Name(n) => Some(n.clone()),
            Host::Ip(ip) => Some(ip.to_string()),
        });
        let obs = prober.tls(address, sni.as_deref());
        let verify_name = sni.clone().unwrap_or_else(|| host.clone());
        let timed_out = matches!(obs.outcome, TlsOutcome::TimedOut);
        let failure = st.absorb(tls::classify(&obs, opts.now_unix, &verify_name, port));
        if let Some(f) = failure {
            if timed_out && via_proxy.is_none() {
                if let Some(m) = mtu_after_stall(prober, st, address, mtu_at) {
                    return Some(m);
                }
            }
            return Some(f);
        }
    }
    let slow = opts.slow.unwrap_or(http::DEFAULT_SLOW);
    let absolute_form = via_proxy.is_some() && target.scheme == Scheme::Http;
    let obs = prober.http(address, &http_request(target, absolute_form, slow));
    if let HttpOutcome::Response {
        status: 300..=399,
        location: Some(location),
        ..
    } = &obs.outcome
    {
        st.redirect = Some(location.clone());
    }
    let timed_out = matches!(obs.outcome, HttpOutcome::TimedOut { .. });
    let mut findings = http::classify(&obs, slow, &host);
    if let (Some(setting), HttpOutcome::Response { status: 407, .. }) = (via_proxy, &obs.outcome) {
        // A forward proxy answers 407 itself: that is the proxy layer's failure.
        if let Some(f) = findings.failure.as_mut() {
            f.cause = Cause::ProxyAuthRequired;
            f.summary = format!(
                "The proxy {}:{} demands authentication (407).",
                setting.host, setting.port
            );
            f.context.proxy = Some(format!("{}:{}", setting.host, setting.port));
        }
        if let Some(r) = findings.rows.last_mut() {
            r.cause = Cause::ProxyAuthRequired;
        }
    }
    let failure = st.absorb(findings);
    if let Some(f) = failure {
        if timed_out && via_proxy.is_none() {
            if let Some(m) = mtu_after_stall(prober, st, address, mtu_at) {
                return Some(m);
            }
        }
        return Some(f);
    }
    if via_proxy.is_none() {
        let mtu_obs = prober.mtu(address, opts.probe_mtu);
        let findings = mtu::classify(&mtu_obs);
        let rows: Vec<Row> = findings.rows;
        st.warnings.extend(findings.warnings);
        for (i, r) in rows.into_iter().enumerate() {
            st.rows.insert(mtu_at + i, r);
        }
        if let Some(f) = findings.failure {
            return Some(f);
        }
    }
    None
}

/// After a stall, probe the path MTU; a black hole is the root cause, reported in walk order.
fn mtu_after_stall(
    prober: &mut dyn Prober,
    st: &mut State,
    address: SocketAddr,
    at: usize,
) -> Option<Failure> {
    let obs = prober.mtu(address, true);
    let findings = mtu::classify(&obs);
    st.warnings.extend(findings.warnings);
    let failure = findings.failure;
    for (i, r) in findings.rows.into_iter().enumerate() {
        st.rows.insert(at + i, r);
    }
    if failure.is_some() {
        // The stalled layer is a symptom: show it as skipped-by-cause rather than a second failure.
        for r in st.rows.iter_mut().skip(at + 1) {
            if r.verdict == RowVerdict::Fail {
                r.verdict = RowVerdict::Warn;
            }
        }
    }
    failure
}

fn http_request(target: &Target, absolute_form: bool, slow: Duration) -> HttpRequest {
    let path = target.path.clone().unwrap_or_else(|| "/".to_string());
    let default_port = if target.scheme == Scheme::Https {
        443
    } else {
        80
    };
    let host_header = match target.port {
        Some(p) if p != default_port => target.authority(),
        _ => target.host.to_string(),
    };
    let url = format!("{}://{}{}", target.scheme.name(), host_header, path);
    let request_target = if absolute_form { url.clone() } else { path };
    HttpRequest {
        url,
        host_header,
        target: request_target,
        slow,
    }
}

fn walk_via_proxy(
    target: &Target,
    opts: &WalkOptions,
    prober: &mut dyn Prober,
    st: &mut State,
    setting: &ProxySetting,
    addresses: &[IpAddr],
    port: u16,
) -> Option<Failure> {
    let host = target.host_text();
    st.rows.push(Row::new(
        Layer::Route,
        format!("route to {host}"),
        format!(
            "not used: the proxy {}:{} connects to the target",
            setting.host, setting.port
        ),
        RowVerdict::Skip,
        Cause::Ok,
    ));
    let tunnel = target.scheme == Scheme::Https;
    let mut obs = prober.proxy(setting, &host, port, tunnel);
    let authority = target.authority();
    if proxy::classify(&obs, &authority, &host).failure.is_some() && !addresses.is_empty() {
        // Is the proxy the problem, or the service? Try the direct path once.
        let sockets: Vec<SocketAddr> = addresses
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        obs.direct = prober.connect(&sockets);
    }
    if let Some(f) = st.absorb(proxy::classify(&obs, &authority, &host)) {
        return Some(f);
    }
    let proxy_addr = obs
        .connect
        .iter()
        .find(|c| matches!(c.outcome, ConnectOutcome::Connected { .. }))
        .map(|c| c.address)
        .unwrap_or_else(|| {
            SocketAddr::new(
                addresses
                    .first()
                    .copied()
                    .unwrap_or(IpAddr::from([0, 0, 0, 0])),
                port,
            )
        });
    st.rows.push(Row::new(
        Layer::Tcp,
        format!("{} via proxy {}:{}", authority, setting.host, setting.port),
        if tunnel {
            "tunnel established (CONNECT 2xx)".to_string()
        } else {
            "requests forwarded by the proxy".to_string()
        },
        RowVerdict::Pass,
        Cause::Ok,
    ));
    // TLS and HTTP run through the proxy connection; the address is the proxy's.
    let address = if tunnel {
        SocketAddr::new(proxy_addr.ip(), proxy_addr.port())
    } else {
        proxy_addr
    };
    session_layers(target, opts, prober, st, address, Some(setting))
}

/// What libc's `getaddrinfo` would return for `name`, as the dns layer models it: the
/// addresses in order (empty when the name does not resolve). The walk's verdict is not
/// computed; a resolver configuration that the walk would fail on (a nameserver line libc
/// ignores) is resolved as libc resolves it. The differential test against glibc compares
/// this with `getent ahosts`.
pub fn resolve_like_libc(
    name: &str,
    family: Option<Family>,
    prober: &mut dyn Prober,
) -> Vec<IpAddr> {
    let files = prober.resolver_files();
    let interfaces = prober.interface_addresses();
    let Some(family) = addrconfig_family(family, interfaces.as_deref()) else {
        return Vec::new();
    };
    let addresses = resolve_sources(name, family, &files, prober);
    libc_order(addresses, &files, interfaces.as_deref(), prober)
}

/// What `getaddrinfo(name, AF_INET6, AI_V4MAPPED | AI_ADDRCONFIG)` returns (`getent ahostsv6`),
/// as modelled: the answering NSS source's IPv6 addresses, or when it gave none, its IPv4
/// addresses as `::ffff:a.b.c.d` (the fallback is per source: a hosts-file IPv4 line wins over
/// DNS's AAAA); nothing on a host without a non-loopback IPv6 address.
pub fn resolve_like_libc_v4mapped(name: &str, prober: &mut dyn Prober) -> Vec<IpAddr> {
    let files = prober.resolver_files();
    let interfaces = prober.interface_addresses();
    if addrconfig_family(Some(Family::V6), interfaces.as_deref()).is_none() {
        return Vec::new();
    }
    // A hosts file consulted before DNS that has only IPv4 lines for the name answers with
    // them, mapped; otherwise an IPv6 lookup, then an IPv4 one mapped when it found nothing.
    let (setup, _) = resolver::classify(&files, true);
    let hosts_first = setup.order.files_before_dns();
    let in_hosts = lookup_hosts(&setup.hosts_text, name);
    let hosts_v4_only = !in_hosts.is_empty() && in_hosts.iter().all(|h| h.address.is_ipv4());
    let map = |list: Vec<IpAddr>| -> Vec<IpAddr> {
        list.into_iter()
            .filter_map(|a| match a {
                IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
                IpAddr::V6(_) => None,
            })
            .collect()
    };
    // (With `[SUCCESS=continue]` DNS still answers, and its IPv6 addresses win.)
    let files_ends = !setup.order.reaches("dns", &|s: &str| match s {
        "files" => NssStatus::Success,
        _ => NssStatus::Unavail,
    });
    let list = if hosts_first && hosts_v4_only && files_ends {
        map(resolve_sources(name, Some(Family::V4), &files, prober))
    } else {
        let v6 = resolve_sources(name, Some(Family::V6), &files, prober);
        if v6.is_empty() {
            map(resolve_sources(name, Some(Family::V4), &files, prober))
        } else {
            v6
        }
    };
    libc_order(list, &files, interfaces.as_deref(), prober)
}

/// What `gethostbyname2(name, family)` returns (what `getent hosts` prints): the addresses
/// the NSS sources give, in their order: no RFC 3484 sorting and no AI_ADDRCONFIG, which are
/// getaddrinfo's.
pub fn resolve_like_gethostbyname(
    name: &str,
    family: Family,
    prober: &mut dyn Prober,
) -> Vec<IpAddr> {
    let files = prober.resolver_files();
    resolve_sources(name, Some(family), &files, prober)
}

/// The addresses the NSS sources answer with, deduplicated, in the order they give them.
fn resolve_sources(
    name: &str,
    family: Option<Family>,
    files: &ResolverFiles,
    prober: &mut dyn Prober,
) -> Vec<IpAddr> {
    let (setup, _) = resolver::classify(files, true);
    let opts = WalkOptions {
        family,
        ..WalkOptions::default()
    };
    let obs = gather_dns(name, &setup, &opts, prober);
    let (addresses, _) = dns::classify(&obs, &setup);
    let mut seen = HashSet::new();
    let addresses: Vec<IpAddr> = addresses
        .into_iter()
        .filter(|a| match family {
            Some(Family::V4) => a.is_ipv4(),
            Some(Family::V6) => a.is_ipv6(),
            None => true,
        })
        .filter(|a| seen.insert(*a))
        .collect();
    addresses
}

/// AI_ADDRCONFIG as getaddrinfo applies it before the lookup: an unrestricted lookup on a host
/// with addresses of one family only asks for that family; a lookup restricted to a family the
/// host has no (non-loopback) address of returns nothing (`None`).
pub fn addrconfig_family(
    family: Option<Family>,
    interfaces: Option<&[crate::observe::InterfaceAddress]>,
) -> Option<Option<Family>> {
    let (v4, v6) = crate::gai::addrconfig(interfaces);
    match family {
        None if !v4 && !v6 => Some(None),
        None if v4 && !v6 => Some(Some(Family::V4)),
        None if v6 && !v4 => Some(Some(Family::V6)),
        None => Some(None),
        Some(Family::V4) if !v4 => None,
        Some(Family::V6) if !v6 => None,
        other => Some(other),
    }
}

/// The addresses in the order getaddrinfo returns them: RFC 3484 with gai.conf's tables (the
/// defaults when the file is absent or unreadable), each destination with the source address
/// the kernel's route lookup picks (no usable route: the destination sorts last).
pub fn libc_order(
    addresses: Vec<IpAddr>,
    files: &ResolverFiles,
    interfaces: Option<&[crate::observe::InterfaceAddress]>,
    prober: &mut dyn Prober,
) -> Vec<IpAddr> {
    if addresses.len() < 2 {
        return addresses;
    }
    let conf = match files.gai_conf.as_ref().map(|f| &f.content) {
        Some(Ok(text)) => crate::gai::GaiConf::parse(text),
        _ => crate::gai::GaiConf::default(),
    };
    let routes = prober.routes(&addresses);
    let destinations: Vec<crate::gai::Destination> = addresses
        .iter()
        .map(|a| {
            let source =
                routes
                    .iter()
                    .find(|r| r.destination == *a)
                    .and_then(|r| match &r.outcome {
                        RouteOutcome::Route {
                            kind: RouteKind::Unicast | RouteKind::Local | RouteKind::Multicast,
                            source,
                            ..
                        } => *source,
                        _ => None,
                    });
            crate::gai::Destination {
                address: *a,
                source,
                source_prefix_len: source.map_or(0, |s| {
                    crate::gai::source_prefix_len(s, interfaces.unwrap_or(&[]))
                }),
            }
        })
        .collect();
    crate::gai::sort_destinations(&conf, &destinations)
}

/// The `myhostname` module's answer when nsswitch.conf lists it and it is installed, in the
/// asked family (see [`crate::hosts::myhostname_lookup`]).
fn myhostname_answer(
    name: &str,
    setup: &resolver::ResolverSetup,
    opts: &WalkOptions,
    prober: &mut dyn Prober,
) -> Option<Vec<IpAddr>> {
    let env = &setup.env;
    if setup.order.position("myhostname").is_none() || !env.myhostname_installed {
        return None;
    }
    let interfaces = prober.interface_addresses().unwrap_or_default();
    let bare = name.strip_suffix('.').unwrap_or(name);
    let gateways: Vec<IpAddr> = if bare.eq_ignore_ascii_case("_gateway") {
        // The default routes' gateways: the kernel's route for 0.0.0.0 and :: is the default.
        let any: [IpAddr; 2] = [
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        ];
        prober
            .routes(&any)
            .into_iter()
            .filter_map(|r| match r.outcome {
                RouteOutcome::Route { gateway, .. } => gateway,
                _ => None,
            })
            .collect()
    } else {
        Vec::new()
    };
    let found =
        crate::hosts::myhostname_lookup(name, env.hostname.as_deref(), &interfaces, &gateways)?;
    Some(
        found
            .into_iter()
            .filter(|a| match opts.family {
                Some(Family::V4) => a.is_ipv4(),
                Some(Family::V6) => a.is_ipv6(),
                None => true,
            })
            .collect(),
    )
}

fn gather_dns(
    name: &str,
    setup: &resolver::ResolverSetup,
    opts: &WalkOptions,
    prober: &mut dyn Prober,
) -> DnsObservations {
    let conf = &setup.resolv_conf;
    let mut servers: Vec<SocketAddr> = conf
        .effective_nameservers()
        .iter()
        .map(|n| n.address)
        .collect();
    if servers.is_empty() {
        // glibc's fallback when no nameserver is configured.
        servers.push(SocketAddr::from(([127, 0, 0, 1], 53)));
    }
    let mut record_types = Vec::new();
    if opts.family != Some(Family::V6) {
        record_types.push(RecordType::A);
    }
    if opts.family != Some(Family::V4) && !conf.options.no_aaaa {
        record_types.push(RecordType::Aaaa);
    }
    let hosts_matches = if setup.order.position("files").is_some() {
        hosts_for_family(
            &lookup_hosts(&setup.hosts_text, name),
            opts.family != Some(Family::V6),
            opts.family != Some(Family::V4),
        )
    } else {
        Vec::new()
    };
    // Whether libc asks DNS at all: the nsswitch walk must reach `dns` after the hosts file
    // said what it says.
    let files_status = if hosts_matches.is_empty() {
        NssStatus::NotFound
    } else {
        NssStatus::Success
    };
    let myhostname = myhostname_answer(name, setup, opts, prober);
    let myhostname_status = match &myhostname {
        None => NssStatus::Unavail,
        Some(a) if a.is_empty() => NssStatus::NotFound,
        Some(_) => NssStatus::Success,
    };
    let reaches_dns = setup.order.reaches("dns", &|s: &str| match s {
        "files" => files_status,
        "myhostname" => myhostname_status,
        _ => NssStatus::Unavail,
    });
    let timeout = std::time::Duration::from_secs(u64::from(conf.options.timeout_secs));
    let mut tried = Vec::new();
    let mut cd_retries = Vec::new();
    if setup.order.position("dns").is_some() && conf.options.attempts > 0 {
        let mut dead: HashSet<SocketAddr> = HashSet::new();
        let mut ask = |cand: &str| -> StepOutcome {
            let Some(mut cq) = ask_candidate(
                cand,
                &servers,
                &record_types,
                &mut dead,
                &mut cd_retries,
                prober,
            ) else {
                return StepOutcome::Stop;
            };
            dns::drop_late_answers(
                &mut cq.exchanges,
                timeout,
                conf.options.attempts,
                servers.len(),
            );
            let outcome = dns::step_outcome(&cq, &servers);
            tried.push(cq);
            outcome
        };
        if reaches_dns {
            // HOSTALIASES: nss_dns looks a single-label name up as its alias, which is then
            // searched like any name.
            let name = crate::resolvconf::host_alias(conf, name).unwrap_or(name);
            search_walk(
                name,
                &conf.search,
                conf.options.ndots,
                conf.options.no_tld_query,
                &mut ask,
            );
        } else {
            // libc will not ask DNS; ask once for the name itself so a stale entry shows up
            // (never for localhost, which no nameserver should be asked about).
            let bare = name.trim_end_matches('.');
            if bare != "localhost" && !bare.ends_with(".localhost") {
                ask(&format!("{bare}."));
            }
        }
    }
    DnsObservations {
        name: name.to_string(),
        hosts_matches,
        servers,
        candidates: tried,
        cd_retries,
        record_types,
        timeout: std::time::Duration::from_secs(u64::from(conf.options.timeout_secs)),
        rotate: conf.options.rotate,
        attempts: conf.options.attempts,
        myhostname,
    }
}

/// Asks every live server about one candidate (A and/or AAAA), re-asks with CD after a
/// SERVFAIL, and marks servers that stayed silent as dead for the next candidates. `None`
/// when no server is left to ask.
fn ask_candidate(
    cand: &str,
    servers: &[SocketAddr],
    record_types: &[RecordType],
    dead: &mut HashSet<SocketAddr>,
    cd_retries: &mut Vec<DnsExchange>,
    prober: &mut dyn Prober,
) -> Option<CandidateQueries> {
    let questions: Vec<DnsQuestion> = servers
        .iter()
        .filter(|s| !dead.contains(*s))
        .flat_map(|s| {
            record_types.iter().map(|t| DnsQuestion {
                name: cand.to_string(),
                record_type: *t,
                server: *s,
                checking_disabled: false,
            })
        })
        .collect();
    if questions.is_empty() {
        return None;
    }
    let exchanges = prober.query(&questions);
    let cq = CandidateQueries {
        name: cand.to_string(),
        exchanges,
    };
    // SERVFAIL: ask again with checking disabled to tell DNSSEC from a broken upstream.
    let retry: Vec<DnsQuestion> = servers
        .iter()
        .filter(|s| {
            matches!(
                server_status(&cq.exchanges, cand, **s),
                ServerStatus::ServFail(_)
            )
        })
        .filter_map(|s| {
            Some(DnsQuestion {
                name: cand.to_string(),
                record_type: *record_types.first()?,
                server: *s,
                checking_disabled: true,
            })
        })
        .collect();
    if !retry.is_empty() {
        cd_retries.extend(prober.query(&retry));
    }
    for s in servers {
        if matches!(
            server_status(&cq.exchanges, cand, *s),
            ServerStatus::Timeout(_)
        ) {
            dead.insert(*s);
        }
    }
    Some(cq)
}

/// One line for people, e.g. for progress output: `dns: 192.0.2.7 in 4 ms`.
pub fn row_line(row: &Row) -> String {
    format!(
        "{}: {} -> {} [{}] ({})",
        row.layer,
        row.test,
        row.result,
        row.verdict.name(),
        human(std::time::Duration::from_millis(row.duration_ms))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{ConfigFile, DnsOutcome, Rcode, RouteKind, RouteOutcome};
    use crate::target::parse_target;
    use std::time::Duration;

    /// A prober that answers from a script: names → addresses, and a fixed connect outcome.
    struct Scripted {
        resolv: String,
        hosts: String,
        answers: Vec<(&'static str, Rcode, Vec<IpAddr>)>,
        connect: ConnectOutcome,
        queries: usize,
        proxy_status: u16,
        tls: TlsOutcome,
        http: HttpOutcome,
        requests: Vec<HttpRequest>,
        mtu_active: Vec<bool>,
        interfaces: Option<Vec<crate::observe::InterfaceAddress>>,
        /// Addresses whose connect times out whatever `connect` says.
        silent: Vec<IpAddr>,
    }

    impl Prober for Scripted {
        fn interface_addresses(&mut self) -> Option<Vec<crate::observe::InterfaceAddress>> {
            self.interfaces.clone()
        }
        fn resolver_files(&mut self) -> ResolverFiles {
            ResolverFiles {
                resolv_conf: ConfigFile {
                    path: "/etc/resolv.conf".into(),
                    content: Ok(self.resolv.clone()),
                },
                hosts: ConfigFile {
                    path: "/etc/hosts".into(),
                    content: Ok(self.hosts.clone()),
                },
                nsswitch: ConfigFile {
                    path: "/etc/nsswitch.conf".into(),
                    content: Ok("hosts: files dns".into()),
                },
                proxy_env: vec![],
                gai_conf: None,
                env: Default::default(),
            }
        }
        fn query(&mut self, questions: &[DnsQuestion]) -> Vec<DnsExchange> {
            self.queries += questions.len();
            questions
                .iter()
                .map(|q| {
                    let hit = self.answers.iter().find(|(n, _, _)| *n == q.name);
                    let (rcode, addrs) = match hit {
                        Some((_, r, a)) => (
                            *r,
                            a.iter()
                                .copied()
                                .filter(|ip| ip.is_ipv4() == (q.record_type == RecordType::A))
                                .collect(),
                        ),
                        None => (Rcode::NxDomain, vec![]),
                    };
                    DnsExchange {
                        question: q.clone(),
                        outcome: DnsOutcome::Response {
                            rcode,
                            addresses: addrs,
                            cnames: vec![],
                            unused_answers: 0,
                            authentic_data: false,
                            via_tcp: false,
                            latency: Duration::from_millis(2),
                        },
                    }
                })
                .collect()
        }
        fn routes(&mut self, destinations: &[IpAddr]) -> Vec<RouteObservation> {
            destinations
                .iter()
                .map(|d| RouteObservation {
                    destination: *d,
                    outcome: RouteOutcome::Route {
                        kind: RouteKind::Unicast,
                        gateway: None,
                        interface: Some("eth0".into()),
                        source: None,
                        table: Some(254),
                    },
                })
                .collect()
        }
        fn connect(&mut self, addresses: &[SocketAddr]) -> Vec<ConnectObservation> {
            addresses
                .iter()
                .map(|a| ConnectObservation {
                    address: *a,
                    outcome: if self.silent.contains(&a.ip()) {
                        ConnectOutcome::TimedOut
                    } else {
                        self.connect.clone()
                    },
                    elapsed: Duration::from_millis(1),
                })
                .collect()
        }
        fn udp(&mut self, _addresses: &[SocketAddr]) -> Vec<UdpObservation> {
            vec![]
        }
        fn host_facts(&mut self, _port: u16) -> HostFacts {
            HostFacts::default()
        }
        fn proxy(
            &mut self,
            setting: &ProxySetting,
            _host: &str,
            _port: u16,
            _tunnel: bool,
        ) -> ProxyObservation {
            ProxyObservation {
                setting: setting.clone(),
                resolved: Ok(vec!["10.0.0.3".parse().unwrap()]),
                connect: vec![ConnectObservation {
                    address: "10.0.0.3:3128".parse().unwrap(),
                    outcome: self.connect.clone(),
                    elapsed: Duration::from_millis(1),
                }],
                tunnel: Some(crate::observe::ProxyConnectOutcome::Status {
                    code: self.proxy_status,
                    reason: "x".into(),
                    authenticate: vec![],
                    server: None,
                    latency: Duration::from_millis(1),
                }),
                direct: vec![],
            }
        }
        fn tls(&mut self, address: SocketAddr, sni: Option<&str>) -> TlsObservation {
            TlsObservation {
                address,
                sni: sni.map(String::from),
                outcome: self.tls.clone(),
                elapsed: Duration::from_millis(1),
            }
        }
        fn http(&mut self, address: SocketAddr, request: &HttpRequest) -> HttpObservation {
            self.requests.push(request.clone());
            HttpObservation {
                url: request.url.clone(),
                address,
                outcome: self.http.clone(),
                timings: Default::default(),
                first_byte_limit: None,
                request_stalled: None,
            }
        }
        fn kernel_facts(
            &mut self,
            _destination: IpAddr,
            _route: Option<&RouteOutcome>,
            _tcp_port: Option<u16>,
        ) -> KernelFacts {
            KernelFacts::default()
        }
        fn firewall_sources(&mut self) -> firewall::FirewallSources {
            firewall::FirewallSources::unreadable("scripted")
        }
        fn trace(&mut self, _destination: SocketAddr, _udp: bool) -> (Vec<hostfacts::Hop>, bool) {
            (Vec::new(), false)
        }
        fn mtu(&mut self, address: SocketAddr, active: bool) -> MtuObservation {
            self.mtu_active.push(active);
            MtuObservation {
                address,
                method: "scripted".into(),
                interface_mtu: Some(1500),
                kernel_path_mtu: None,
                probes: if active {
                    vec![
                        crate::observe::MtuProbe {
                            size: 1500,
                            result: crate::observe::MtuProbeResult::Lost,
                        },
                        crate::observe::MtuProbe {
                            size: 1400,
                            result: crate::observe::MtuProbeResult::Passed,
                        },
                    ]
                } else {
                    vec![crate::observe::MtuProbe {
                        size: 1500,
                        result: crate::observe::MtuProbeResult::Passed,
                    }]
                },
                unavailable: None,
                live_segment: None,
            }
        }
    }

    fn prober(connect: ConnectOutcome) -> Scripted {
        Scripted {
            resolv: "nameserver 10.0.0.53\nsearch corp.test\n".into(),
            hosts: String::new(),
            answers: vec![(
                "api.test.",
                Rcode::NoError,
                vec!["192.0.2.7".parse().unwrap()],
            )],
            interfaces: None,
            connect,
            queries: 0,
            proxy_status: 200,
            tls: TlsOutcome::TimedOut,
            http: HttpOutcome::Response {
                version: "HTTP/1.1".into(),
                status: 200,
                reason: "OK".into(),
                location: None,
                server: None,
                body_bytes: 2,
            },
            requests: vec![],
            mtu_active: vec![],
            silent: vec![],
        }
    }

    #[test]
    fn a_silent_family_stops_the_walk_at_tcp_before_any_request() {
        let mut p = prober(ConnectOutcome::Connected {
            local: None,
            reset_after_connect: false,
        });
        p.answers = vec![(
            "api.test.",
            Rcode::NoError,
            vec!["2001:db8::7".parse().unwrap(), "192.0.2.7".parse().unwrap()],
        )];
        p.silent = vec!["2001:db8::7".parse().unwrap()];
        let r = run("http://api.test:8080/", &mut p);
        assert_eq!(r.verdict.layer, Some(Layer::Tcp));
        assert_eq!(r.verdict.cause, Cause::AddressFamilyBroken);
        // The verdict is the tcp failure: no request is sent and timed on the other family.
        assert!(p.requests.is_empty(), "{:?}", p.requests);
        // The same name with every address answering goes on to http on the first one.
        p.silent.clear();
        let r = run("http://api.test:8080/", &mut p);
        assert!(r.healthy(), "{:?}", r.verdict);
        assert_eq!(p.requests.len(), 1);
    }

    /// An IPv6-only host, a name with only an A, its AAAA synthesized by DNS64: a silent
    /// connect names the NAT64 translator, for the well-known prefix and for a network-specific
    /// one learned from ipv4only.arpa.
    #[test]
    fn a_silent_synthesized_address_names_the_nat64_translator() {
        for (aaaa, learned) in [
            ("64:ff9b::c000:207", None),
            ("2001:db8:64::c000:207", Some("2001:db8:64::c000:aa")),
        ] {
            let mut p = prober(connected());
            p.answers = vec![(
                "api.test.",
                Rcode::NoError,
                vec![aaaa.parse().unwrap(), "192.0.2.7".parse().unwrap()],
            )];
            if let Some(l) = learned {
                p.answers
                    .push(("ipv4only.arpa.", Rcode::NoError, vec![l.parse().unwrap()]));
            }
            p.interfaces = Some(vec![crate::observe::InterfaceAddress {
                address: "2001:db8:1::5".parse().unwrap(),
                prefix_len: 64,
                ifindex: 2,
            }]);
            p.silent = vec![aaaa.parse().unwrap()];
            let r = run("tcp://api.test:443", &mut p);
            assert_eq!(r.verdict.layer, Some(Layer::Tcp), "{aaaa}");
            assert_eq!(
                r.verdict.cause,
                Cause::Nat64TranslatorUnreachable,
                "{:?}",
                r.verdict
            );
            let prefix = if learned.is_some() {
                "2001:db8:64::/96"
            } else {
                "64:ff9b::/96"
            };
            assert!(r.verdict.summary.contains(prefix), "{}", r.verdict.summary);
            assert!(
                r.verdict.root_cause.contains(&format!(
                    "{aaaa} synthesized by DNS64 from 192.0.2.7 (prefix {prefix})"
                )),
                "{}",
                r.verdict.root_cause
            );
            let dns64 = r
                .layers
                .iter()
                .find(|l| l.test == "DNS64 synthesis")
                .expect("row");
            assert!(dns64.result.contains("no native AAAA"), "{}", dns64.result);
            // No IPv4 on this host: no -4 stop-gap is offered.
            assert!(
                !r.verdict.fix.description.contains("(-4)"),
                "{}",
                r.verdict.fix.description
            );
        }
        // A native AAAA that merely looks synthesized is not: no discovery query, no DNS64 row.
        let mut p = prober(connected());
        p.answers = vec![(
            "api.test.",
            Rcode::NoError,
            vec!["2001:db8::7".parse().unwrap(), "192.0.2.7".parse().unwrap()],
        )];
        let r = run("tcp://api.test:443", &mut p);
        assert!(r.healthy());
        assert_eq!(p.queries, 2);
        assert!(r.layers.iter().all(|l| l.test != "DNS64 synthesis"));
    }

    fn run(input: &str, p: &mut Scripted) -> Report {
        let t = parse_target(input).expect("target");
        walk(&t, &WalkOptions::default(), p)
    }

    #[test]
    fn healthy_walk_passes_every_layer() {
        let mut p = prober(ConnectOutcome::Connected {
            local: None,
            reset_after_connect: false,
        });
        let r = run("tcp://api.test:443", &mut p);
        assert!(r.healthy(), "{:?}", r.verdict);
        assert_eq!(r.exit_code(), 0);
        let layers: Vec<&str> = r.layers.iter().map(|l| l.layer.name()).collect();
        assert!(
            layers.contains(&"resolver")
                && layers.contains(&"dns")
                && layers.contains(&"route")
                && layers.contains(&"tcp")
        );
        // ndots:1 and a dotted name: the name itself first, so one round of A+AAAA only.
        assert_eq!(p.queries, 2);
        // tcp://: sending bytes to an unknown service is not safe, so no mtu probe at all.
        assert!(p.mtu_active.is_empty(), "{:?}", p.mtu_active);
    }

    #[test]
    fn stops_at_first_failure_and_skips_the_rest() {
        let mut p = prober(ConnectOutcome::Refused);
        p.answers.clear();
        let r = run("tcp://api.test:443", &mut p);
        assert_eq!(r.verdict.layer, Some(Layer::Dns));
        assert_eq!(r.verdict.cause, Cause::DnsNxdomain);
        let skipped: Vec<&str> = r
            .layers
            .iter()
            .filter(|l| l.verdict == RowVerdict::Skip)
            .map(|l| l.layer.name())
            .collect();
        assert_eq!(skipped, vec!["route", "tcp"]);
        assert!(!r.verdict.fix.commands.is_empty());
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn tcp_failure_names_layer_and_fix() {
        let mut p = prober(ConnectOutcome::Refused);
        let r = run("api.test:8080", &mut p);
        assert_eq!(
            (r.verdict.layer, r.verdict.cause),
            (Some(Layer::Tcp), Cause::TcpRefused)
        );
        assert!(r
            .verdict
            .fix
            .commands
            .iter()
            .any(|c| c.contains("ss -ltnp 'sport = :8080'")));
    }

    #[test]
    fn addrconfig_leaves_out_the_family_this_host_lacks_and_says_so() {
        let mut p = prober(ConnectOutcome::Refused);
        p.answers = vec![(
            "api.test.",
            Rcode::NoError,
            vec!["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()],
        )];
        let t = parse_target("tcp://api.test:443").unwrap();
        // No interface list: both families, IPv6 first by precedence (no source routes).
        let r = walk(&t, &WalkOptions::default(), &mut p);
        let order = r.layers.iter().find(|row| row.test == "getaddrinfo order");
        assert!(
            order.is_some_and(|row| row.result == "2001:db8::7, 192.0.2.7"),
            "{:?}",
            r.layers
        );
        // An IPv4-only host: the AAAA answer is left out, and the row says why.
        p.interfaces = Some(vec![crate::observe::InterfaceAddress {
            address: "10.0.0.5".parse().unwrap(),
            prefix_len: 24,
            ifindex: 2,
        }]);
        let r = walk(&t, &WalkOptions::default(), &mut p);
        let row = r
            .layers
            .iter()
            .find(|row| row.test == "getaddrinfo order")
            .expect("getaddrinfo row");
        assert_eq!(row.result, "192.0.2.7");
        assert!(
            row.evidence[0].contains("AI_ADDRCONFIG"),
            "{:?}",
            row.evidence
        );
        // Only AAAA answers on an IPv4-only host: libc returns nothing.
        p.answers = vec![(
            "api.test.",
            Rcode::NoError,
            vec!["2001:db8::7".parse().unwrap()],
        )];
        let r = walk(&t, &WalkOptions::default(), &mut p);
        assert_eq!(r.verdict.cause, Cause::DnsNodata, "{:?}", r.layers);
    }

    #[test]
    fn v4mapped_falls_back_per_source() {
        let mut p = prober(ConnectOutcome::Refused);
        p.interfaces = Some(vec![crate::observe::InterfaceAddress {
            address: "fd99::1".parse().unwrap(),
            prefix_len: 64,
            ifindex: 2,
        }]);
        p.hosts = "10.250.0.1 h1.test\n".into();
        p.answers = vec![
            (
                "h1.test.",
                Rcode::NoError,
                vec!["2001:db8::1".parse().unwrap()],
            ),
            (
                "api.test.",
                Rcode::NoError,
                vec!["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()],
            ),
            (
                "v4.test.",
                Rcode::NoError,
                vec!["192.0.2.8".parse().unwrap()],
            ),
        ];
        // The hosts file's IPv4 line wins over DNS's AAAA.
        assert_eq!(
            resolve_like_libc_v4mapped("h1.test", &mut p),
            vec!["::ffff:10.250.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            resolve_like_libc_v4mapped("api.test", &mut p),
            vec!["2001:db8::7".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            resolve_like_libc_v4mapped("v4.test", &mut p),
            vec!["::ffff:192.0.2.8".parse::<IpAddr>().unwrap()]
        );
        // No IPv6 address on this host: AI_ADDRCONFIG returns nothing.
        p.interfaces = Some(vec![crate::observe::InterfaceAddress {
            address: "10.0.0.5".parse().unwrap(),
            prefix_len: 24,
            ifindex: 2,
        }]);
        assert!(resolve_like_libc_v4mapped("api.test", &mut p).is_empty());
    }

    #[test]
    fn bare_host_is_resolution_only() {
        let mut p = prober(ConnectOutcome::Refused);
        let r = run("api.test", &mut p);
        assert!(r.healthy());
        assert!(r
            .layers
            .iter()
            .all(|l| l.layer == Layer::Resolver || l.layer == Layer::Dns));
    }

    #[test]
    fn search_walk_has_no_cap_of_eight_candidates() {
        let mut p = prober(ConnectOutcome::Refused);
        let domains: Vec<String> = (0..11).map(|i| format!("d{i}.test")).collect();
        p.resolv = format!("nameserver 10.0.0.53\nsearch {}\n", domains.join(" "));
        p.answers = vec![(
            "w.d10.test.",
            Rcode::NoError,
            vec!["192.0.2.10".parse().unwrap()],
        )];
        assert_eq!(
            resolve_like_libc("w", Some(Family::V4), &mut p),
            vec!["192.0.2.10".parse::<IpAddr>().unwrap()]
        );
        // REFUSED from the only server ends the list: only the as-is name is still asked.
        p.answers = vec![
            ("w.d0.test.", Rcode::Refused, vec![]),
            (
                "w.d1.test.",
                Rcode::NoError,
                vec!["192.0.2.1".parse().unwrap()],
            ),
        ];
        p.queries = 0;
        assert!(resolve_like_libc("w", Some(Family::V4), &mut p).is_empty());
        assert_eq!(p.queries, 2);
    }

    #[test]
    fn attempts_zero_sends_nothing() {
        let mut p = prober(ConnectOutcome::Refused);
        p.resolv = "nameserver 10.0.0.53\noptions attempts:0\n".into();
        let r = run("api.test", &mut p);
        assert_eq!(p.queries, 0);
        assert!(!r.healthy());
        assert_eq!(r.verdict.layer, Some(Layer::Dns));
    }

    #[test]
    fn address_literal_skips_dns_questions() {
        let mut p = prober(ConnectOutcome::TimedOut);
        let r = run("tcp://192.0.2.1:22", &mut p);
        assert_eq!(p.queries, 0);
        assert_eq!(r.verdict.cause, Cause::TcpTimeout);
    }

    fn connected() -> ConnectOutcome {
        ConnectOutcome::Connected {
            local: None,
            reset_after_connect: false,
        }
    }

    #[test]
    fn http_target_walks_to_http_and_reads_mtu_passively() {
        let mut p = prober(connected());
        let r = run("http://api.test:8080/health", &mut p);
        assert!(r.healthy(), "{:?}", r.verdict);
        assert_eq!(p.requests[0].target, "/health");
        assert_eq!(p.requests[0].host_header, "api.test:8080");
        assert_eq!(p.mtu_active, vec![false]);
        let order: Vec<&str> = r.layers.iter().map(|l| l.layer.name()).collect();
        let pos = |n: &str| order.iter().position(|x| *x == n).unwrap();
        assert!(
            pos("tcp") < pos("mtu") && pos("mtu") < pos("http"),
            "{order:?}"
        );
        p.http = HttpOutcome::Response {
            version: "HTTP/1.1".into(),
            status: 503,
            reason: "Service Unavailable".into(),
            location: None,
            server: None,
            body_bytes: 0,
        };
        let r = run("http://api.test:8080/", &mut p);
        assert_eq!(
            (r.verdict.layer, r.verdict.cause),
            (Some(Layer::Http), Cause::Http5xx)
        );
    }

    #[test]
    fn http_request_carries_the_slow_threshold() {
        let mut p = prober(connected());
        run("http://api.test/", &mut p);
        assert_eq!(p.requests[0].slow, http::DEFAULT_SLOW);
        let t = parse_target("http://api.test/").expect("target");
        let opts = WalkOptions {
            slow: Some(Duration::from_millis(500)),
            ..WalkOptions::default()
        };
        walk(&t, &opts, &mut p);
        assert_eq!(p.requests[1].slow, Duration::from_millis(500));
    }

    #[test]
    fn http_stall_turns_into_an_mtu_black_hole() {
        // The padded request was never acknowledged: the prober stops the exchange (TimedOut,
        // no first byte) and the walk searches actively.
        let mut p = prober(connected());
        p.http = HttpOutcome::TimedOut {
            got_first_byte: false,
        };
        let r = run("http://api.test/", &mut p);
        assert_eq!(
            (r.verdict.layer, r.verdict.cause),
            (Some(Layer::Mtu), Cause::MtuBlackhole)
        );
        assert_eq!(p.mtu_active, vec![true]);
        let http_row = r.layers.iter().find(|l| l.layer == Layer::Http);
        assert_eq!(http_row.map(|l| l.verdict), Some(RowVerdict::Warn));
    }

    #[test]
    fn tls_stall_turns_into_an_mtu_black_hole() {
        let mut p = prober(connected());
        p.tls = TlsOutcome::TimedOut;
        let r = run("https://api.test/", &mut p);
        assert_eq!(
            (r.verdict.layer, r.verdict.cause),
            (Some(Layer::Mtu), Cause::MtuBlackhole)
        );
        assert_eq!(p.mtu_active, vec![true]);
    }

    #[test]
    fn proxy_failure_is_the_proxy_layer() {
        let mut p = prober(connected());
        p.proxy_status = 407;
        let t = parse_target("https://api.test/").expect("target");
        let setting = ProxySetting {
            url: "http://proxy:3128".into(),
            host: "proxy".into(),
            port: 3128,
            source: "https_proxy".into(),
            has_credentials: false,
        };
        let r = walk(
            &t,
            &WalkOptions {
                proxy: Some(setting.clone()),
                ..WalkOptions::default()
            },
            &mut p,
        );
        assert_eq!(
            (r.verdict.layer, r.verdict.cause),
            (Some(Layer::Proxy), Cause::ProxyAuthRequired)
        );
        // tcp targets never go through an HTTP proxy.
        let t = parse_target("tcp://api.test:5432").expect("target");
        let r = walk(
            &t,
            &WalkOptions {
                proxy: Some(setting),
                ..WalkOptions::default()
            },
            &mut p,
        );
        assert!(r.healthy());
    }

    #[test]
    fn family_filter_without_matching_address_is_nodata() {
        let mut p = prober(ConnectOutcome::Refused);
        let t = parse_target("tcp://api.test:443").expect("target");
        let r = walk(
            &t,
            &WalkOptions {
                family: Some(Family::V6),
                ..WalkOptions::default()
            },
            &mut p,
        );
        assert_eq!(r.verdict.cause, Cause::DnsNodata);
    }
}
