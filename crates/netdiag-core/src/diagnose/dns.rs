//! The dns layer: does the name resolve the way libc would resolve it, per nameserver, and how fast?
//!
//! The walk asks every nameserver directly for each candidate name (search list and ndots, in
//! glibc's order) and records rcode, answers and latency per server. This module replays glibc's
//! choices on those facts: the first server that gives a definitive answer (addresses, NXDOMAIN or
//! NODATA) decides; SERVFAIL and REFUSED make libc move on to the next server; silence makes it
//! wait `timeout` seconds first. That is how a dead first nameserver turns into "everything is
//! slow" (`dns_nameserver_unreachable`) even though names still resolve.
//!
//! The candidates follow glibc's search loop ([`crate::search::search_walk`], ended per
//! candidate by [`step_outcome`]); an answer later than the per-server deadline libc gives a
//! server is "slow", not an answer ([`drop_late_answers`]); and the `hosts:` line's action
//! items decide which source's answer libc returns ([`classify`]). The differential test
//! (`crates/netdiag/tests/glibc_diff.rs`) holds all of this against glibc itself.

use super::{human, ms, Failure, FixContext, LayerFindings};
use crate::cause::Cause;
use crate::diagnose::resolver::ResolverSetup;
use crate::hosts::{HostsEntry, NssStatus};
use crate::layer::Layer;
use crate::observe::{DnsExchange, DnsOutcome, IcmpKind, Rcode, RecordType};
use crate::report::{Row, RowVerdict, Warning};
use crate::search::StepOutcome;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A lookup that takes longer than this is a failure people notice.
pub const SLOW_FAIL: Duration = Duration::from_millis(1000);
/// A lookup that takes longer than this is worth a warning.
pub const SLOW_WARN: Duration = Duration::from_millis(250);

/// All exchanges for one candidate name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateQueries {
    /// The fully qualified candidate name (trailing dot).
    pub name: String,
    /// Every exchange for it, any server, any type, CD clear.
    pub exchanges: Vec<DnsExchange>,
}

/// What the walk gathered for the dns layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsObservations {
    /// The name as typed.
    pub name: String,
    /// Hosts-file entries for it.
    pub hosts_matches: Vec<HostsEntry>,
    /// The nameservers libc uses, in order.
    pub servers: Vec<SocketAddr>,
    /// Candidates in the order they were tried.
    pub candidates: Vec<CandidateQueries>,
    /// Re-asks with the CD bit set after a SERVFAIL.
    pub cd_retries: Vec<DnsExchange>,
    /// The record types asked (A, AAAA or both).
    pub record_types: Vec<RecordType>,
    /// resolv.conf's timeout per try.
    pub timeout: Duration,
    /// resolv.conf `rotate`.
    pub rotate: bool,
    /// resolv.conf's attempts (rounds over the nameservers).
    pub attempts: u32,
    /// The `myhostname` NSS module's answer, in the asked family: `None` when it is not listed,
    /// not installed or not modelled for the name (UNAVAIL); empty for NOTFOUND.
    pub myhostname: Option<Vec<IpAddr>>,
}

/// One server's combined answer (A and AAAA) for one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStatus {
    /// Addresses came back.
    Addresses(Vec<IpAddr>, Duration),
    /// NXDOMAIN.
    NxDomain(Duration),
    /// NOERROR with no address.
    NoData(Duration),
    /// SERVFAIL.
    ServFail(Duration),
    /// REFUSED.
    Refused(Duration),
    /// Another rcode.
    OtherRcode(Rcode, Duration),
    /// An ICMP error or socket error, and how long it took to arrive.
    Unreachable(String, Duration),
    /// No answer in time.
    Timeout(Duration),
    /// A garbled answer.
    Malformed(String),
    /// Not asked (e.g. a server already known dead).
    NotAsked,
}

impl ServerStatus {
    /// Whether libc stops at this answer (it does for addresses, NXDOMAIN and NODATA).
    pub fn is_definitive(&self) -> bool {
        matches!(
            self,
            ServerStatus::Addresses(..) | ServerStatus::NxDomain(_) | ServerStatus::NoData(_)
        )
    }

    /// Short text, e.g. `NXDOMAIN in 3 ms`.
    pub fn describe(&self) -> String {
        match self {
            ServerStatus::Addresses(a, d) => {
                let list: Vec<String> = a.iter().map(|x| x.to_string()).collect();
                format!("{} in {}", list.join(", "), human(*d))
            }
            ServerStatus::NxDomain(d) => format!("NXDOMAIN in {}", human(*d)),
            ServerStatus::NoData(d) => format!("NOERROR, no address (NODATA) in {}", human(*d)),
            ServerStatus::ServFail(d) => format!("SERVFAIL in {}", human(*d)),
            ServerStatus::Refused(d) => format!("REFUSED in {}", human(*d)),
            ServerStatus::OtherRcode(r, d) => format!("{} in {}", r.name(), human(*d)),
            ServerStatus::Unreachable(m, d) if *d >= SLOW_WARN => {
                format!("{m} after {}", human(*d))
            }
            ServerStatus::Unreachable(m, _) => m.clone(),
            ServerStatus::Timeout(d) => format!("no answer in {}", human(*d)),
            ServerStatus::Malformed(m) => format!("malformed answer: {m}"),
            ServerStatus::NotAsked => "not asked (no answer earlier)".to_string(),
        }
    }

    fn latency(&self) -> Duration {
        match self {
            ServerStatus::Addresses(_, d)
            | ServerStatus::NxDomain(d)
            | ServerStatus::NoData(d)
            | ServerStatus::ServFail(d)
            | ServerStatus::Refused(d)
            | ServerStatus::OtherRcode(_, d)
            | ServerStatus::Timeout(d)
            | ServerStatus::Unreachable(_, d) => *d,
            _ => Duration::ZERO,
        }
    }

    /// Silent servers make libc wait. `NotAsked` is a server the walk stopped asking because it
    /// already stayed silent for an earlier candidate.
    ///
    /// An ICMP error that takes long to arrive (a router's ARP timeout before "host unreachable")
    /// stalls libc just the same.
    fn is_silent(&self) -> bool {
        match self {
            ServerStatus::Timeout(_) | ServerStatus::NotAsked => true,
            ServerStatus::Unreachable(_, d) => *d >= SLOW_WARN,
            _ => false,
        }
    }
}

/// Combines one server's A and AAAA exchanges for one candidate.
pub fn server_status(exchanges: &[DnsExchange], name: &str, server: SocketAddr) -> ServerStatus {
    let mine: Vec<&DnsExchange> = exchanges
        .iter()
        .filter(|e| {
            e.question.server == server && e.question.name == name && !e.question.checking_disabled
        })
        .collect();
    if mine.is_empty() {
        return ServerStatus::NotAsked;
    }
    let mut addresses = Vec::new();
    let mut latency = Duration::ZERO;
    let mut nx = false;
    let mut all_noerror = true;
    let mut error: Option<ServerStatus> = None;
    let rank = |s: &ServerStatus| match s {
        ServerStatus::ServFail(_) => 6,
        ServerStatus::Refused(_) => 5,
        ServerStatus::OtherRcode(..) => 4,
        ServerStatus::Unreachable(..) => 3,
        ServerStatus::Timeout(_) => 2,
        ServerStatus::Malformed(_) => 1,
        _ => 0,
    };
    for e in mine {
        let candidate_error = match &e.outcome {
            DnsOutcome::Response {
                rcode,
                addresses: a,
                latency: l,
                ..
            } => {
                latency = latency.max(*l);
                match rcode {
                    Rcode::NoError => {
                        addresses.extend(a.iter().copied());
                        None
                    }
                    Rcode::NxDomain => {
                        nx = true;
                        None
                    }
                    Rcode::ServFail => Some(ServerStatus::ServFail(*l)),
                    Rcode::Refused => Some(ServerStatus::Refused(*l)),
                    other => Some(ServerStatus::OtherRcode(*other, *l)),
                }
            }
            DnsOutcome::Timeout { waited } => Some(ServerStatus::Timeout(*waited)),
            DnsOutcome::Unreachable {
                icmp,
                message,
                latency: l,
                ..
            } => {
                let text = match icmp {
                    Some(i) if i.kind() == IcmpKind::PortUnreachable => {
                        format!(
                            "{} (nothing listens on port {})",
                            i.describe(),
                            server.port()
                        )
                    }
                    Some(i) => i.describe(),
                    None => message.clone(),
                };
                Some(ServerStatus::Unreachable(text, *l))
            }
            DnsOutcome::Malformed { detail } => Some(ServerStatus::Malformed(detail.clone())),
        };
        if let Some(err) = candidate_error {
            all_noerror = false;
            if error.as_ref().is_none_or(|cur| rank(&err) > rank(cur)) {
                error = Some(err);
            }
        }
    }
    if !addresses.is_empty() {
        addresses.dedup();
        return ServerStatus::Addresses(addresses, latency);
    }
    if nx {
        return ServerStatus::NxDomain(latency);
    }
    match error {
        Some(e) => e,
        None if all_noerror => ServerStatus::NoData(latency),
        None => ServerStatus::NoData(latency),
    }
}

/// libc's pick for one candidate: the index of the first server with a definitive answer.
pub fn libc_pick(statuses: &[ServerStatus]) -> Option<usize> {
    statuses.iter().position(ServerStatus::is_definitive)
}

/// Answers libc never waits for: a response that came after the per-server deadline glibc's
/// `res_send` gives it (resolv.conf's `timeout`, or with one nameserver the whole
/// `timeout x attempts` of its retries) is turned into "slow, past the timeout", which
/// the dns layer treats like silence. The server is named slow in the evidence.
pub fn drop_late_answers(
    exchanges: &mut [DnsExchange],
    timeout: Duration,
    attempts: u32,
    servers: usize,
) {
    // One server: its socket stays open across the retries, so a late answer to the first
    // try still counts during the next ones.
    let window = if servers <= 1 {
        timeout.saturating_mul(attempts.max(1))
    } else {
        timeout
    };
    for e in exchanges.iter_mut() {
        if let DnsOutcome::Response { rcode, latency, .. } = &e.outcome {
            if *latency > window {
                e.outcome = DnsOutcome::Unreachable {
                    icmp: None,
                    errno: 0,
                    message: format!(
                        "slow: answered {} only after {}, past the {} libc waits for it, so libc has moved on",
                        rcode.name(),
                        human(*latency),
                        human(window)
                    ),
                    latency: *latency,
                };
            }
        }
    }
}

/// How glibc's search loop sees one candidate (see [`crate::search::search_walk`]): libc
/// uses the first server whose response is not SERVFAIL, NOTIMP or REFUSED (silent servers are
/// passed over); records in it end the search, NXDOMAIN and NODATA go on. When no server gives
/// a usable response, SERVFAIL from the last server that responded goes on and anything else
/// (REFUSED, NOTIMP, silence) ends the search list.
pub fn step_outcome(c: &CandidateQueries, servers: &[SocketAddr]) -> StepOutcome {
    let mut last_response: Option<Rcode> = None;
    for server in servers {
        let mine: Vec<&DnsExchange> = c
            .exchanges
            .iter()
            .filter(|e| e.question.server == *server && !e.question.checking_disabled)
            .collect();
        let rcodes: Vec<(Rcode, bool)> = mine
            .iter()
            .filter_map(|e| match &e.outcome {
                DnsOutcome::Response {
                    rcode,
                    addresses,
                    cnames,
                    unused_answers,
                    ..
                } => Some((
                    *rcode,
                    !addresses.is_empty() || !cnames.is_empty() || *unused_answers > 0,
                )),
                _ => None,
            })
            .collect();
        let Some(&(first, _)) = rcodes.first() else {
            continue;
        };
        let usable = rcodes
            .iter()
            .any(|(r, _)| !matches!(r, Rcode::ServFail | Rcode::NotImp | Rcode::Refused));
        if !usable {
            last_response = Some(rcodes.last().map(|(r, _)| *r).unwrap_or(first));
            continue;
        }
        if rcodes
            .iter()
            .any(|(r, records)| *r == Rcode::NoError && *records)
        {
            return StepOutcome::Answered;
        }
        let used = rcodes
            .iter()
            .map(|(r, _)| *r)
            .find(|r| !matches!(r, Rcode::ServFail | Rcode::NotImp | Rcode::Refused))
            .unwrap_or(first);
        return match used {
            Rcode::NoError | Rcode::NxDomain => StepOutcome::Continue,
            _ => StepOutcome::Stop,
        };
    }
    match last_response {
        Some(Rcode::ServFail) => StepOutcome::Continue,
        _ => StepOutcome::Stop,
    }
}

/// The dns source's NSS status after the search walk: SUCCESS with addresses; UNAVAIL when the
/// last candidate asked got no usable response from any server (glibc's resolver then leaves
/// ETIMEDOUT/ECONNREFUSED behind, which nss_dns reports as UNAVAIL) or nothing was asked;
/// NOTFOUND otherwise.
pub fn dns_nss_status(obs: &DnsObservations, resolved: bool) -> NssStatus {
    if resolved {
        return NssStatus::Success;
    }
    if obs.candidates.is_empty() {
        return NssStatus::Unavail;
    }
    // A one-family lookup whose answer holds records but no address (a CNAME chain that ends
    // nowhere, records of another owner): glibc's getanswer_r finds nothing usable and says
    // TRYAGAIN.
    let foreign = obs.candidates.last().is_some_and(|c| {
        c.exchanges.iter().any(|e| {
            matches!(&e.outcome, DnsOutcome::Response { rcode: Rcode::NoError, addresses, cnames, unused_answers, .. }
                if addresses.is_empty() && (*unused_answers > 0 || !cnames.is_empty()))
        })
    });
    if foreign && obs.record_types.len() == 1 {
        return NssStatus::TryAgain;
    }
    // The last candidate asked decides (its exchange sets the errno nss_dns reads).
    let failed = obs.candidates.last().is_some_and(|c| {
        obs.servers.iter().all(|s| {
            !matches!(
                server_status(&c.exchanges, &c.name, *s),
                ServerStatus::Addresses(..) | ServerStatus::NxDomain(_) | ServerStatus::NoData(_)
            )
        })
    });
    if failed {
        NssStatus::Unavail
    } else {
        NssStatus::NotFound
    }
}

fn types_text(types: &[RecordType]) -> String {
    types.iter().map(|t| t.name()).collect::<Vec<_>>().join("/")
}

/// The `myhostname` module's NSS status (see [`DnsObservations::myhostname`]).
pub fn myhostname_status(obs: &DnsObservations) -> NssStatus {
    match &obs.myhostname {
        None => NssStatus::Unavail,
        Some(a) if a.is_empty() => NssStatus::NotFound,
        Some(_) => NssStatus::Success,
    }
}

/// Classifies the dns layer. Returns the addresses libc would return, in order: those of the
/// NSS sources that answered before the `hosts:` line's actions stopped the walk.
pub fn classify(obs: &DnsObservations, setup: &ResolverSetup) -> (Vec<IpAddr>, LayerFindings) {
    let (dns_view, mut findings) = classify_sources(obs, setup);
    let hosts_addrs: Vec<IpAddr> = obs.hosts_matches.iter().map(|h| h.address).collect();
    let (resolved, _) = candidate_statuses(obs);
    let dns_addrs: Vec<IpAddr> = match &resolved {
        Some((_, _, a)) => a.iter().copied().filter(|ip| wanted(obs, ip)).collect(),
        None => Vec::new(),
    };
    let dns_status = dns_nss_status(obs, !dns_addrs.is_empty());
    let files_status = if hosts_addrs.is_empty() {
        NssStatus::NotFound
    } else {
        NssStatus::Success
    };
    let status_of = |s: &str| match s {
        "files" => files_status,
        "dns" => dns_status,
        "myhostname" => myhostname_status(obs),
        // Modules not modelled (mdns, resolve, a typo) count as unavailable.
        _ => NssStatus::Unavail,
    };
    let answering = setup.order.answering(&status_of);
    let addresses = match answering.as_deref() {
        Some("files") => hosts_addrs.clone(),
        Some("dns") => dns_addrs.clone(),
        Some("myhostname") => obs.myhostname.clone().unwrap_or_default(),
        _ => Vec::new(),
    };
    if addresses != dns_view {
        if addresses.is_empty() && findings.failure.is_none() {
            findings.failure = Some(Failure {
                cause: Cause::DnsNxdomain,
                summary: format!(
                    "libc finds no address for {}: the hosts: line '{}' stops before a source that has one.",
                    obs.name,
                    setup.order.describe()
                ),
                root_cause: format!(
                    "nsswitch.conf 'hosts: {}': the hosts file says {:?}, DNS says {:?}; the action items end the lookup before an answer.",
                    setup.order.describe(),
                    files_status,
                    dns_status
                ),
                context: FixContext {
                    host: obs.name.clone(),
                    resolv_conf: setup.resolv_conf_path.clone(),
                    hosts_file: setup.hosts_path.clone(),
                    ..FixContext::default()
                },
            });
            mark_failure(&mut findings);
        } else if !addresses.is_empty()
            && findings.failure.is_some()
            && answering.as_deref() == Some("files")
        {
            // The hosts file answers although DNS failed: libc resolves.
            if let Some(f) = findings.failure.take() {
                findings.warnings.push(Warning {
                    cause: f.cause,
                    message: format!(
                        "{} (the hosts file answers: {})",
                        f.summary,
                        join(&addresses)
                    ),
                });
            }
        }
    }
    (addresses, findings)
}

/// Whether an address is of a family that was asked.
fn wanted(obs: &DnsObservations, ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => obs.record_types.contains(&RecordType::A),
        IpAddr::V6(_) => obs.record_types.contains(&RecordType::Aaaa),
    }
}

/// The dns layer's rows, warnings and failure, and the addresses of the usual `files dns`
/// reading; [`classify`] then applies the `hosts:` line's actions.
fn classify_sources(obs: &DnsObservations, setup: &ResolverSetup) -> (Vec<IpAddr>, LayerFindings) {
    let mut findings = LayerFindings::default();
    let base_context = FixContext {
        host: obs.name.clone(),
        resolv_conf: setup.resolv_conf_path.clone(),
        hosts_file: setup.hosts_path.clone(),
        dns_timeout: Some(obs.timeout),
        ..FixContext::default()
    };
    let wanted_family = |ip: &IpAddr| match ip {
        IpAddr::V4(_) => obs.record_types.contains(&RecordType::A),
        IpAddr::V6(_) => obs.record_types.contains(&RecordType::Aaaa),
    };
    // The prober already applied the family to the hosts file (an IPv4 lookup turns `::1`
    // into 127.0.0.1); `no-aaaa` only stops AAAA queries, not IPv6 hosts lines.
    let hosts_addrs: Vec<IpAddr> = obs.hosts_matches.iter().map(|h| h.address).collect();
    let files_first = setup.order.files_before_dns();
    let hosts_answers = files_first && !hosts_addrs.is_empty();
    if let Some(row) = hosts_row(obs, setup, &hosts_addrs, hosts_answers) {
        findings.rows.push(row);
    }

    let (resolved, per_candidate) = candidate_statuses(obs);
    push_candidate_rows(&mut findings, obs, resolved.as_ref(), &per_candidate);

    if hosts_answers {
        hosts_answer(&mut findings, obs, setup, &hosts_addrs, resolved.as_ref());
        return (hosts_addrs, findings);
    }

    let Some((ci, pick, addresses)) = resolved else {
        // libc may still find it in the hosts file after DNS (e.g. `hosts: dns files`).
        if !hosts_addrs.is_empty() && setup.order.position("files").is_some() {
            findings.warnings.push(Warning {
                cause: Cause::DnsHostsOverride,
                message: format!(
                    "DNS has no address for {}; the hosts file answers {}",
                    obs.name,
                    join(&hosts_addrs)
                ),
            });
            return (hosts_addrs, findings);
        }
        findings.failure = Some(classify_failure(obs, &per_candidate, base_context));
        mark_failure(&mut findings);
        return (Vec::new(), findings);
    };
    let addresses: Vec<IpAddr> = addresses.into_iter().filter(wanted_family).collect();
    let answer = Answer {
        ci,
        pick,
        statuses: &per_candidate[ci],
        answering: obs.servers[pick],
    };

    if stalled_nameserver(&mut findings, obs, setup, &answer, &base_context) {
        return (addresses, findings);
    }
    push_backup_warnings(&mut findings, obs, &answer);
    push_search_expansion_warning(&mut findings, obs, setup, ci);
    latency_finding(&mut findings, obs, &per_candidate, &answer, base_context);
    (addresses, findings)
}

/// The candidate and server libc takes its answer from, with that candidate's per-server
/// statuses.
struct Answer<'a> {
    ci: usize,
    pick: usize,
    statuses: &'a [ServerStatus],
    answering: SocketAddr,
}

/// The row of the hosts file lookup, when the hosts file has entries for the name.
fn hosts_row(
    obs: &DnsObservations,
    setup: &ResolverSetup,
    hosts_addrs: &[IpAddr],
    hosts_answers: bool,
) -> Option<Row> {
    if obs.hosts_matches.is_empty() {
        return None;
    }
    let lines: Vec<String> = obs
        .hosts_matches
        .iter()
        .map(|h| {
            format!(
                "{}:{}: {} {}",
                setup.hosts_path, h.line, h.address, obs.name
            )
        })
        .collect();
    let (result, verdict) = if hosts_answers {
        (
            format!(
                "{} (hosts file answers before DNS: {})",
                join(hosts_addrs),
                setup.order.describe()
            ),
            RowVerdict::Warn,
        )
    } else {
        (
            format!(
                "{} (consulted after DNS: {})",
                join(hosts_addrs),
                setup.order.describe()
            ),
            RowVerdict::Pass,
        )
    };
    Some(
        Row::new(
            Layer::Dns,
            format!("hosts file lookup {}", obs.name),
            result,
            verdict,
            Cause::Ok,
        )
        .with_evidence(lines),
    )
}

/// A candidate's index, libc's pick among the servers and the addresses it got.
type Resolved = (usize, usize, Vec<IpAddr>);

/// Per candidate: per-server statuses and libc's pick (the first candidate with addresses).
fn candidate_statuses(obs: &DnsObservations) -> (Option<Resolved>, Vec<Vec<ServerStatus>>) {
    let mut resolved: Option<Resolved> = None;
    let mut per_candidate: Vec<Vec<ServerStatus>> = Vec::new();
    for (ci, c) in obs.candidates.iter().enumerate() {
        let statuses: Vec<ServerStatus> = obs
            .servers
            .iter()
            .map(|s| server_status(&c.exchanges, &c.name, *s))
            .collect();
        if resolved.is_none() {
            if let Some(pick) = libc_pick(&statuses) {
                if let ServerStatus::Addresses(a, _) = &statuses[pick] {
                    resolved = Some((ci, pick, a.clone()));
                }
            }
        }
        per_candidate.push(statuses);
    }
    (resolved, per_candidate)
}

/// Rows: one per earlier candidate (compressed), one per server for the deciding candidate.
fn push_candidate_rows(
    findings: &mut LayerFindings,
    obs: &DnsObservations,
    resolved: Option<&Resolved>,
    per_candidate: &[Vec<ServerStatus>],
) {
    let types = types_text(&obs.record_types);
    let deciding = resolved
        .map(|r| r.0)
        .unwrap_or_else(|| obs.candidates.len().saturating_sub(1));
    for (ci, c) in obs.candidates.iter().enumerate() {
        let statuses = &per_candidate[ci];
        if ci != deciding {
            findings
                .rows
                .push(earlier_candidate_row(obs, &types, c, statuses));
            continue;
        }
        for (si, server) in obs.servers.iter().enumerate() {
            findings
                .rows
                .push(server_row(obs, &types, c, *server, &statuses[si]));
        }
    }
}

/// The compressed row of a candidate libc tried before the deciding one.
fn earlier_candidate_row(
    obs: &DnsObservations,
    types: &str,
    c: &CandidateQueries,
    statuses: &[ServerStatus],
) -> Row {
    let pick = libc_pick(statuses);
    let result = match pick {
        Some(p) => format!("{} from {}", statuses[p].describe(), obs.servers[p].ip()),
        None => statuses
            .first()
            .map(ServerStatus::describe)
            .unwrap_or_default(),
    };
    let ev: Vec<String> = obs
        .servers
        .iter()
        .zip(statuses)
        .map(|(s, st)| format!("{}: {}", s.ip(), st.describe()))
        .collect();
    Row::new(
        Layer::Dns,
        format!("{types} {} (search list candidate)", c.name),
        result,
        RowVerdict::Pass,
        Cause::Ok,
    )
    .with_evidence(ev)
    .with_duration_ms(statuses.iter().map(|s| ms(s.latency())).max().unwrap_or(0))
}

/// The row of one server for the deciding candidate.
fn server_row(
    obs: &DnsObservations,
    types: &str,
    c: &CandidateQueries,
    server: SocketAddr,
    st: &ServerStatus,
) -> Row {
    let mut ev = Vec::new();
    for e in c.exchanges.iter().filter(|e| e.question.server == server) {
        ev.push(exchange_text(e));
    }
    for e in obs
        .cd_retries
        .iter()
        .filter(|e| e.question.server == server && e.question.name == c.name)
    {
        ev.push(exchange_text(e));
    }
    let verdict = match st {
        ServerStatus::Addresses(..) => RowVerdict::Pass,
        ServerStatus::NotAsked => RowVerdict::Skip,
        _ => RowVerdict::Warn,
    };
    Row::new(
        Layer::Dns,
        format!("{types} {} via {}", c.name, server.ip()),
        st.describe(),
        verdict,
        Cause::Ok,
    )
    .with_evidence(ev)
    .with_duration_ms(ms(st.latency()))
}

/// The hosts file answers before DNS: warns when it overrides what DNS says (or DNS has
/// nothing), otherwise passes the hosts row.
fn hosts_answer(
    findings: &mut LayerFindings,
    obs: &DnsObservations,
    setup: &ResolverSetup,
    hosts_addrs: &[IpAddr],
    resolved: Option<&Resolved>,
) {
    let localhost = obs.name.trim_end_matches('.') == "localhost"
        || obs.name.trim_end_matches('.').ends_with(".localhost");
    let dns_addrs: Vec<IpAddr> = resolved.map(|r| r.2.clone()).unwrap_or_default();
    let agrees = !dns_addrs.is_empty() && hosts_addrs.iter().all(|a| dns_addrs.contains(a));
    let message = if dns_addrs.is_empty() {
        format!(
            "{} pins {} to {} and DNS has no address for it: it resolves only on hosts with this entry ({})",
            setup.hosts_path,
            obs.name,
            join(hosts_addrs),
            setup.order.describe()
        )
    } else {
        format!(
            "DNS says {} is {}, but {} pins it to {} and wins ({}): a stale hosts entry sends traffic to the wrong address",
            obs.name,
            join(&dns_addrs),
            setup.hosts_path,
            join(hosts_addrs),
            setup.order.describe()
        )
    };
    if !localhost && !agrees {
        findings.warnings.push(Warning {
            cause: Cause::DnsHostsOverride,
            message,
        });
    } else if let Some(row) = findings
        .rows
        .iter_mut()
        .find(|r| r.test.starts_with("hosts file lookup"))
    {
        row.verdict = RowVerdict::Pass;
    }
    mark_last_hosts_row(findings);
}

/// Silent servers libc asks before the one that answers: every lookup waits for them. Returns
/// whether it found one (the layer's failure is then set).
fn stalled_nameserver(
    findings: &mut LayerFindings,
    obs: &DnsObservations,
    setup: &ResolverSetup,
    answer: &Answer<'_>,
    base_context: &FixContext,
) -> bool {
    let Answer {
        ci,
        pick,
        statuses,
        answering,
    } = *answer;
    let stalls: Vec<usize> = if obs.rotate {
        (0..statuses.len())
            .filter(|&i| statuses[i].is_silent())
            .collect()
    } else {
        (0..pick).filter(|&i| statuses[i].is_silent()).collect()
    };
    let Some(&dead) = stalls.first() else {
        return false;
    };
    let dead_ip = obs.servers[dead].ip();
    let stall: Duration = stalls
        .iter()
        .map(|&i| match &statuses[i] {
            ServerStatus::Unreachable(_, d) => *d,
            _ => obs.timeout,
        })
        .sum();
    let how = if obs.rotate {
        "with 'options rotate', libc starts with each nameserver in turn, so a share of lookups"
            .to_string()
    } else {
        format!("libc asks {dead_ip} first for every lookup and")
    };
    findings.failure = Some(Failure {
        cause: Cause::DnsNameserverUnreachable,
        summary: format!(
            "Nameserver {dead_ip} does not answer: {} resolves only after libc waits {} for it, on every lookup (resolv.conf timeout:{} attempts:{}: up to {} per lookup).",
            obs.name,
            human(stall),
            obs.timeout.as_secs(),
            obs.attempts,
            human(obs.timeout.saturating_mul(obs.attempts.max(1)))
        ),
        root_cause: format!(
            "{dead_ip} ({}): {}. {how} waits for it (up to the resolv.conf timeout of {}) before asking {}, which answered {}.",
            setup.resolv_conf_path,
            statuses[dead].describe(),
            human(obs.timeout),
            answering.ip(),
            statuses[pick].describe()
        ),
        context: FixContext {
            nameserver: Some(dead_ip),
            other_nameservers: obs.servers.iter().map(|s| s.ip()).filter(|ip| *ip != dead_ip).collect(),
            name: Some(obs.candidates[ci].name.clone()),
            ..base_context.clone()
        },
    });
    mark_server_row(
        findings,
        dead_ip,
        RowVerdict::Fail,
        Cause::DnsNameserverUnreachable,
    );
    true
}

/// Warnings for the other servers of the deciding candidate: dead backups and servers that
/// disagree with the one that answered.
fn push_backup_warnings(findings: &mut LayerFindings, obs: &DnsObservations, answer: &Answer<'_>) {
    let Answer {
        ci,
        pick,
        statuses,
        answering,
    } = *answer;
    for (i, st) in statuses.iter().enumerate() {
        let ip = obs.servers[i].ip();
        match st {
            ServerStatus::Unreachable(..) | ServerStatus::Timeout(_) => {
                let when = if i < pick {
                    "libc skips it after the error"
                } else {
                    "libc only asks it when the earlier ones fail"
                };
                findings.warnings.push(Warning {
                    cause: Cause::DnsNameserverUnreachable,
                    message: format!("nameserver {ip} does not answer ({}); {when}, so there is no working backup", st.describe()),
                });
            }
            ServerStatus::ServFail(_)
            | ServerStatus::Refused(_)
            | ServerStatus::OtherRcode(..)
            | ServerStatus::NxDomain(_)
            | ServerStatus::NoData(_) => {
                let rotate = if obs.rotate {
                    ": with 'options rotate' libc starts with a different server each time, so the name resolves only some of the time"
                } else {
                    ""
                };
                findings.warnings.push(Warning {
                    cause: Cause::DnsInconsistentNameservers,
                    message: format!(
                        "nameserver {ip} answers {} for {} while {} answers {}{rotate}",
                        st.describe(),
                        obs.candidates[ci].name,
                        answering.ip(),
                        statuses[pick].describe()
                    ),
                });
            }
            _ => {}
        }
    }
}

/// Search list amplification: the candidates libc tried before the one that answered.
fn push_search_expansion_warning(
    findings: &mut LayerFindings,
    obs: &DnsObservations,
    setup: &ResolverSetup,
    ci: usize,
) {
    if ci == 0 {
        return;
    }
    let wasted = ci * obs.record_types.len();
    let tried: Vec<&str> = obs.candidates[..ci]
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    findings.warnings.push(Warning {
        cause: Cause::DnsSearchExpansion,
        message: format!(
            "{} took {} extra queries first ({}): the search list and ndots:{} expand it; query {}. (trailing dot) or lower ndots",
            obs.name,
            wasted,
            tried.join(", "),
            setup.resolv_conf.options.ndots,
            obs.name.trim_end_matches('.')
        ),
    });
}

/// Latency as libc experiences it: every candidate up to the one that answered.
fn latency_finding(
    findings: &mut LayerFindings,
    obs: &DnsObservations,
    per_candidate: &[Vec<ServerStatus>],
    answer: &Answer<'_>,
    base_context: FixContext,
) {
    let Answer {
        ci,
        pick,
        statuses,
        answering,
    } = *answer;
    let total: Duration = per_candidate[..=ci]
        .iter()
        .map(|sts| libc_pick(sts).map(|p| sts[p].latency()).unwrap_or_default())
        .sum();
    if total >= SLOW_FAIL {
        findings.failure = Some(Failure {
            cause: Cause::DnsSlow,
            summary: format!("{} resolves, but the lookup takes {}.", obs.name, human(total)),
            root_cause: format!(
                "{} answered {} for {}; with the search list that is {} per lookup before any connection starts.",
                answering.ip(),
                statuses[pick].describe(),
                obs.candidates[ci].name,
                human(total)
            ),
            context: FixContext {
                nameserver: Some(answering.ip()),
                other_nameservers: obs.servers.iter().map(|s| s.ip()).filter(|ip| *ip != answering.ip()).collect(),
                name: Some(obs.candidates[ci].name.clone()),
                ..base_context
            },
        });
        mark_server_row(findings, answering.ip(), RowVerdict::Fail, Cause::DnsSlow);
    } else if total >= SLOW_WARN {
        findings.warnings.push(Warning {
            cause: Cause::DnsSlow,
            message: format!(
                "looking up {} takes {} via {}",
                obs.name,
                human(total),
                answering.ip()
            ),
        });
    }
}

fn classify_failure(
    obs: &DnsObservations,
    per_candidate: &[Vec<ServerStatus>],
    ctx: FixContext,
) -> Failure {
    let servers_text = obs
        .servers
        .iter()
        .map(|s| s.ip().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let as_is = format!("{}.", obs.name.trim_end_matches('.'));
    let focus = obs
        .candidates
        .iter()
        .position(|c| c.name == as_is)
        .unwrap_or(obs.candidates.len().saturating_sub(1));
    let tried: Vec<&str> = obs.candidates.iter().map(|c| c.name.as_str()).collect();
    let Some(statuses) = per_candidate.get(focus) else {
        return Failure {
            cause: Cause::DnsTimeout,
            summary: format!(
                "{} could not be looked up: no nameserver was asked.",
                obs.name
            ),
            root_cause: if obs.attempts == 0 {
                "resolv.conf has 'options attempts:0': glibc sends no query at all, so every lookup through DNS fails.".to_string()
            } else {
                "No query was sent (no nameserver, or no time left).".to_string()
            },
            context: ctx,
        };
    };
    let focus_name = obs.candidates[focus].name.clone();
    let ctx = FixContext {
        name: Some(focus_name.clone()),
        nameserver: obs.servers.first().map(|s| s.ip()),
        other_nameservers: obs.servers.iter().skip(1).map(|s| s.ip()).collect(),
        ..ctx
    };
    let detail = obs
        .servers
        .iter()
        .zip(statuses)
        .map(|(s, st)| format!("{}: {}", s.ip(), st.describe()))
        .collect::<Vec<_>>()
        .join("; ");

    let all_silent = per_candidate.iter().flatten().all(|s| {
        matches!(
            s,
            ServerStatus::Timeout(_) | ServerStatus::Unreachable(..) | ServerStatus::NotAsked
        )
    });
    if all_silent {
        return Failure {
            cause: Cause::DnsTimeout,
            summary: format!("No nameserver answers: {} cannot be resolved ({servers_text}).", obs.name),
            root_cause: format!(
                "Every nameserver in {} failed to answer {}: {detail}. libc gives up after timeout x attempts per server.",
                ctx.resolv_conf, focus_name
            ),
            context: ctx,
        };
    }
    let disagreeing: Vec<String> = obs
        .servers
        .iter()
        .zip(statuses)
        .filter(|(_, st)| matches!(st, ServerStatus::Addresses(..)))
        .map(|(s, st)| format!("{} has it ({})", s.ip(), st.describe()))
        .collect();
    let disagree_text = if disagreeing.is_empty() {
        String::new()
    } else {
        format!(
            " Note: {}; libc never asks it because an earlier nameserver answered definitively.",
            disagreeing.join(", ")
        )
    };
    if let Some(p) = libc_pick(statuses) {
        let server = obs.servers[p].ip();
        let ctx = FixContext {
            nameserver: Some(server),
            ..ctx
        };
        let any_nodata = per_candidate
            .iter()
            .any(|sts| libc_pick(sts).is_some_and(|i| matches!(sts[i], ServerStatus::NoData(_))));
        return match &statuses[p] {
            ServerStatus::NoData(_) => Failure {
                cause: Cause::DnsNodata,
                summary: format!("{} exists but has no {} record.", obs.name, types_text(&obs.record_types)),
                root_cause: format!("{server} answered NOERROR with an empty answer for {focus_name} ({}): the name exists (other record types) but has no address.{disagree_text} Tried: {}.", types_text(&obs.record_types), tried.join(", ")),
                context: ctx,
            },
            _ if any_nodata => Failure {
                cause: Cause::DnsNodata,
                summary: format!("{} has no {} record under any candidate name.", obs.name, types_text(&obs.record_types)),
                root_cause: format!("No candidate name has an address; some exist without one (NODATA). Tried: {}. {detail}.{disagree_text}", tried.join(", ")),
                context: ctx,
            },
            _ => Failure {
                cause: Cause::DnsNxdomain,
                summary: format!("{} does not exist in DNS (NXDOMAIN from {server}).", obs.name),
                root_cause: format!("{server} answered NXDOMAIN for every name libc tried: {}. {detail}.{disagree_text}", tried.join(", ")),
                context: ctx,
            },
        };
    }
    // No definitive answer: the best error decides.
    let dnssec = obs.cd_retries.iter().find(|e| {
        e.question.name == focus_name
            && matches!(&e.outcome, DnsOutcome::Response { rcode: Rcode::NoError, addresses, .. } if !addresses.is_empty())
    });
    if let Some(retry) = dnssec {
        let server = retry.question.server.ip();
        return Failure {
            cause: Cause::DnsDnssecFailure,
            summary: format!("DNSSEC validation of {} fails at {server}: SERVFAIL, but it answers with checking disabled.", obs.name),
            root_cause: format!("{server} answered SERVFAIL for {focus_name}; asked again with the CD bit it answered {}: the records exist, their DNSSEC signatures or chain of trust do not validate. {detail}.", exchange_text(retry)),
            context: FixContext { nameserver: Some(server), ..ctx },
        };
    }
    let first_of = |pred: fn(&ServerStatus) -> bool| {
        obs.servers
            .iter()
            .zip(statuses)
            .find(|(_, st)| pred(st))
            .map(|(s, _)| s.ip())
    };
    if let Some(server) = first_of(|s| matches!(s, ServerStatus::ServFail(_))) {
        return Failure {
            cause: Cause::DnsServfail,
            summary: format!("{server} answers SERVFAIL for {}: the nameserver cannot resolve it.", obs.name),
            root_cause: format!("{detail}. SERVFAIL stays with the CD bit set, so it is not DNSSEC: the nameserver's upstream or the zone's authoritative servers are failing."),
            context: FixContext { nameserver: Some(server), ..ctx },
        };
    }
    if let Some(server) = first_of(|s| matches!(s, ServerStatus::Refused(_))) {
        return Failure {
            cause: Cause::DnsRefused,
            summary: format!("{server} refuses to answer queries for {} (REFUSED).", obs.name),
            root_cause: format!("{detail}. The nameserver does not allow recursion for this client (ACL) or is not authoritative for the zone."),
            context: FixContext { nameserver: Some(server), ..ctx },
        };
    }
    Failure {
        cause: Cause::DnsServfail,
        summary: format!("No nameserver gives a usable answer for {}.", obs.name),
        root_cause: format!("{detail}."),
        context: ctx,
    }
}

fn join(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One exchange as evidence, e.g. `A example.com. @10.0.0.2 → NOERROR 192.0.2.7 in 4 ms`.
pub fn exchange_text(e: &DnsExchange) -> String {
    let q = &e.question;
    let cd = if q.checking_disabled { " +cd" } else { "" };
    let head = format!("{} {} @{}{cd}", q.record_type.name(), q.name, q.server.ip());
    match &e.outcome {
        DnsOutcome::Response {
            rcode,
            addresses,
            cnames,
            unused_answers,
            authentic_data,
            via_tcp,
            latency,
        } => {
            let mut parts = vec![rcode.name()];
            if !cnames.is_empty() {
                parts.push(format!("CNAME {}", cnames.join(" -> ")));
            }
            if *unused_answers > 0 {
                parts.push(format!(
                    "{unused_answers} answer record(s) owned by another name (not an address for this name)"
                ));
            }
            if !addresses.is_empty() {
                parts.push(join(addresses));
            } else if *rcode == Rcode::NoError {
                parts.push("(empty answer)".to_string());
            }
            if *authentic_data {
                parts.push("AD".to_string());
            }
            if *via_tcp {
                parts.push("(truncated over UDP, retried over TCP)".to_string());
            }
            format!("{head} -> {} in {}", parts.join(" "), human(*latency))
        }
        DnsOutcome::Timeout { waited } => format!("{head} -> no answer in {}", human(*waited)),
        DnsOutcome::Unreachable {
            icmp,
            message,
            latency,
            ..
        } => match icmp {
            Some(i) => format!("{head} -> {} after {}", i.describe(), human(*latency)),
            None => format!("{head} -> {message} after {}", human(*latency)),
        },
        DnsOutcome::Malformed { detail } => format!("{head} -> malformed reply: {detail}"),
    }
}

fn mark_server_row(
    findings: &mut LayerFindings,
    server: IpAddr,
    verdict: RowVerdict,
    cause: Cause,
) {
    let suffix = format!(" via {server}");
    if let Some(row) = findings
        .rows
        .iter_mut()
        .rev()
        .find(|r| r.test.ends_with(&suffix))
    {
        row.verdict = verdict;
        row.cause = cause;
    } else {
        mark_failure(findings);
    }
}

fn mark_failure(findings: &mut LayerFindings) {
    let Some(cause) = findings.failure.as_ref().map(|f| f.cause) else {
        return;
    };
    let server = findings.failure.as_ref().and_then(|f| f.context.nameserver);
    let suffix = server.map(|s| format!(" via {s}"));
    let idx = suffix
        .as_ref()
        .and_then(|suf| {
            findings
                .rows
                .iter()
                .rposition(|r| r.test.ends_with(suf.as_str()))
        })
        .or_else(|| {
            if findings.rows.is_empty() {
                None
            } else {
                Some(findings.rows.len() - 1)
            }
        });
    match idx {
        Some(i) => {
            findings.rows[i].verdict = RowVerdict::Fail;
            findings.rows[i].cause = cause;
        }
        None => findings.rows.push(Row::new(
            Layer::Dns,
            "lookup",
            "no nameserver asked",
            RowVerdict::Fail,
            cause,
        )),
    }
}

fn mark_last_hosts_row(findings: &mut LayerFindings) {
    if let Some(row) = findings
        .rows
        .iter_mut()
        .find(|r| r.test.starts_with("hosts file lookup"))
    {
        row.cause = Cause::DnsHostsOverride;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::resolver;
    use crate::observe::{ConfigFile, DnsQuestion, IcmpError, ResolverFiles};

    const S1: &str = "10.0.0.1:53";
    const S2: &str = "10.0.0.2:53";

    fn setup(resolv: &str, hosts: &str) -> ResolverSetup {
        let files = ResolverFiles {
            resolv_conf: ConfigFile {
                path: "/etc/resolv.conf".into(),
                content: Ok(resolv.into()),
            },
            hosts: ConfigFile {
                path: "/etc/hosts".into(),
                content: Ok(hosts.into()),
            },
            nsswitch: ConfigFile {
                path: "/etc/nsswitch.conf".into(),
                content: Ok("hosts: files dns\n".into()),
            },
            proxy_env: vec![],
            gai_conf: None,
            env: Default::default(),
        };
        resolver::classify(&files, true).0
    }

    fn ex(name: &str, server: &str, t: RecordType, cd: bool, outcome: DnsOutcome) -> DnsExchange {
        DnsExchange {
            question: DnsQuestion {
                name: name.into(),
                record_type: t,
                server: server.parse().unwrap(),
                checking_disabled: cd,
            },
            outcome,
        }
    }

    fn resp(rcode: Rcode, addrs: &[&str], ms: u64) -> DnsOutcome {
        DnsOutcome::Response {
            rcode,
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            cnames: vec![],
            unused_answers: 0,
            authentic_data: false,
            via_tcp: false,
            latency: Duration::from_millis(ms),
        }
    }

    fn timeout() -> DnsOutcome {
        DnsOutcome::Timeout {
            waited: Duration::from_secs(2),
        }
    }

    fn obs(name: &str, servers: &[&str], candidates: Vec<CandidateQueries>) -> DnsObservations {
        DnsObservations {
            name: name.into(),
            hosts_matches: vec![],
            servers: servers.iter().map(|s| s.parse().unwrap()).collect(),
            candidates,
            cd_retries: vec![],
            record_types: vec![RecordType::A, RecordType::Aaaa],
            timeout: Duration::from_secs(5),
            rotate: false,
            attempts: 2,
            myhostname: None,
        }
    }

    fn cand(name: &str, exchanges: Vec<DnsExchange>) -> CandidateQueries {
        CandidateQueries {
            name: name.into(),
            exchanges,
        }
    }

    fn both(name: &str, server: &str, a: DnsOutcome, aaaa: DnsOutcome) -> Vec<DnsExchange> {
        vec![
            ex(name, server, RecordType::A, false, a),
            ex(name, server, RecordType::Aaaa, false, aaaa),
        ]
    }

    fn cause_of(o: &DnsObservations, s: &ResolverSetup) -> Option<Cause> {
        classify(o, s).1.failure.map(|f| f.cause)
    }

    #[test]
    fn healthy_answer() {
        let s = setup("nameserver 10.0.0.1\n", "");
        let o = obs(
            "api.test",
            &[S1],
            vec![cand(
                "api.test.",
                both(
                    "api.test.",
                    S1,
                    resp(Rcode::NoError, &["192.0.2.7"], 3),
                    resp(Rcode::NoError, &[], 3),
                ),
            )],
        );
        let (addrs, f) = classify(&o, &s);
        assert_eq!(addrs, vec!["192.0.2.7".parse::<IpAddr>().unwrap()]);
        assert!(f.failure.is_none() && f.warnings.is_empty(), "{f:?}");
    }

    #[test]
    fn nxdomain() {
        let s = setup("nameserver 10.0.0.1\n", "");
        let o = obs(
            "nope.test",
            &[S1],
            vec![cand(
                "nope.test.",
                both(
                    "nope.test.",
                    S1,
                    resp(Rcode::NxDomain, &[], 3),
                    resp(Rcode::NxDomain, &[], 3),
                ),
            )],
        );
        assert_eq!(cause_of(&o, &s), Some(Cause::DnsNxdomain));
    }

    #[test]
    fn nodata() {
        let s = setup("nameserver 10.0.0.1\n", "");
        let o = obs(
            "txt.test",
            &[S1],
            vec![cand(
                "txt.test.",
                both(
                    "txt.test.",
                    S1,
                    resp(Rcode::NoError, &[], 3),
                    resp(Rcode::NoError, &[], 3),
                ),
            )],
        );
        assert_eq!(cause_of(&o, &s), Some(Cause::DnsNodata));
    }

    #[test]
    fn servfail_vs_dnssec() {
        let s = setup("nameserver 10.0.0.1\n", "");
        let mut o = obs(
            "x.test",
            &[S1],
            vec![cand(
                "x.test.",
                both(
                    "x.test.",
                    S1,
                    resp(Rcode::ServFail, &[], 3),
                    resp(Rcode::ServFail, &[], 3),
                ),
            )],
        );
        o.cd_retries = vec![ex(
            "x.test.",
            S1,
            RecordType::A,
            true,
            resp(Rcode::ServFail, &[], 3),
        )];
        assert_eq!(cause_of(&o, &s), Some(Cause::DnsServfail));
        o.cd_retries = vec![ex(
            "x.test.",
            S1,
            RecordType::A,
            true,
            resp(Rcode::NoError, &["192.0.2.1"], 3),
        )];
        assert_eq!(cause_of(&o, &s), Some(Cause::DnsDnssecFailure));
    }

    #[test]
    fn refused_and_timeout() {
        let s = setup("nameserver 10.0.0.1\n", "");
        let o = obs(
            "x.test",
            &[S1],
            vec![cand(
                "x.test.",
                both(
                    "x.test.",
                    S1,
                    resp(Rcode::Refused, &[], 3),
                    resp(Rcode::Refused, &[], 3),
                ),
            )],
        );
        assert_eq!(cause_of(&o, &s), Some(Cause::DnsRefused));
        let o = obs(
            "x.test",
            &[S1, S2],
            vec![cand(
                "x.test.",
                [
                    both("x.test.", S1, timeout(), timeout()),
                    both("x.test.", S2, timeout(), timeout()),
                ]
                .concat(),
            )],
        );
        assert_eq!(cause_of(&o, &s), Some(Cause::DnsTimeout));
    }

    #[test]
    fn dead_first_nameserver_stalls_every_lookup() {
        let s = setup("nameserver 10.0.0.1\nnameserver 10.0.0.2\n", "");
        let ex_all = [
            both("x.test.", S1, timeout(), timeout()),
            both(
                "x.test.",
                S2,
                resp(Rcode::NoError, &["192.0.2.1"], 2),
                resp(Rcode::NoError, &[], 2),
            ),
        ]
        .concat();
        let o = obs("x.test", &[S1, S2], vec![cand("x.test.", ex_all)]);
        let (addrs, f) = classify(&o, &s);
        assert_eq!(addrs.len(), 1);
        let failure = f.failure.expect("failure");
        assert_eq!(failure.cause, Cause::DnsNameserverUnreachable);
        assert_eq!(
            failure.context.nameserver,
            Some("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn dead_second_nameserver_is_a_warning() {
        let s = setup("nameserver 10.0.0.1\nnameserver 10.0.0.2\n", "");
        let ex_all = [
            both(
                "x.test.",
                S1,
                resp(Rcode::NoError, &["192.0.2.1"], 2),
                resp(Rcode::NoError, &[], 2),
            ),
            both("x.test.", S2, timeout(), timeout()),
        ]
        .concat();
        let o = obs("x.test", &[S1, S2], vec![cand("x.test.", ex_all)]);
        let (_, f) = classify(&o, &s);
        assert!(f.failure.is_none());
        assert_eq!(f.warnings[0].cause, Cause::DnsNameserverUnreachable);
    }

    #[test]
    fn icmp_unreachable_first_server_does_not_stall() {
        let s = setup("nameserver 10.0.0.1\nnameserver 10.0.0.2\n", "");
        let unreach = || DnsOutcome::Unreachable {
            icmp: Some(IcmpError {
                v6: false,
                icmp_type: 3,
                code: 3,
                offender: Some("10.0.0.1".parse().unwrap()),
                errno: 111,
                info: 0,
            }),
            errno: 111,
            message: "Connection refused".into(),
            latency: Duration::from_millis(1),
        };
        let ex_all = [
            both("x.test.", S1, unreach(), unreach()),
            both(
                "x.test.",
                S2,
                resp(Rcode::NoError, &["192.0.2.1"], 2),
                resp(Rcode::NoError, &[], 2),
            ),
        ]
        .concat();
        let o = obs("x.test", &[S1, S2], vec![cand("x.test.", ex_all)]);
        let (_, f) = classify(&o, &s);
        assert!(f.failure.is_none());
        assert!(f.warnings[0].message.contains("port unreachable"));
    }

    #[test]
    fn late_icmp_error_from_first_nameserver_stalls_too() {
        let s = setup("nameserver 10.0.0.1\nnameserver 10.0.0.2\n", "");
        let late = || DnsOutcome::Unreachable {
            icmp: Some(IcmpError {
                v6: false,
                icmp_type: 3,
                code: 1,
                offender: Some("10.0.9.1".parse().unwrap()),
                errno: 113,
                info: 0,
            }),
            errno: 113,
            message: "No route to host".into(),
            latency: Duration::from_millis(3000),
        };
        let ex_all = [
            both("x.test.", S1, late(), late()),
            both(
                "x.test.",
                S2,
                resp(Rcode::NoError, &["192.0.2.1"], 2),
                resp(Rcode::NoError, &[], 2),
            ),
        ]
        .concat();
        let o = obs("x.test", &[S1, S2], vec![cand("x.test.", ex_all)]);
        let (_, f) = classify(&o, &s);
        let failure = f.failure.expect("failure");
        assert_eq!(failure.cause, Cause::DnsNameserverUnreachable);
        assert!(failure.summary.contains("3.0 s"), "{}", failure.summary);
    }

    #[test]
    fn slow_and_search_expansion() {
        let s = setup(
            "nameserver 10.0.0.1\nsearch corp.test\noptions ndots:5\n",
            "",
        );
        let o = obs(
            "api.ext",
            &[S1],
            vec![
                cand(
                    "api.ext.corp.test.",
                    both(
                        "api.ext.corp.test.",
                        S1,
                        resp(Rcode::NxDomain, &[], 600),
                        resp(Rcode::NxDomain, &[], 600),
                    ),
                ),
                cand(
                    "api.ext.",
                    both(
                        "api.ext.",
                        S1,
                        resp(Rcode::NoError, &["192.0.2.9"], 700),
                        resp(Rcode::NoError, &[], 5),
                    ),
                ),
            ],
        );
        let (addrs, f) = classify(&o, &s);
        assert_eq!(addrs.len(), 1);
        assert_eq!(f.failure.map(|x| x.cause), Some(Cause::DnsSlow));
        assert!(f
            .warnings
            .iter()
            .any(|w| w.cause == Cause::DnsSearchExpansion));
    }

    #[test]
    fn hosts_override() {
        let s = setup("nameserver 10.0.0.1\n", "10.9.9.9 api.test\n");
        let mut o = obs(
            "api.test",
            &[S1],
            vec![cand(
                "api.test.",
                both(
                    "api.test.",
                    S1,
                    resp(Rcode::NoError, &["192.0.2.7"], 3),
                    resp(Rcode::NoError, &[], 3),
                ),
            )],
        );
        o.hosts_matches = crate::hosts::lookup_hosts(&s.hosts_text, "api.test");
        let (addrs, f) = classify(&o, &s);
        assert_eq!(addrs, vec!["10.9.9.9".parse::<IpAddr>().unwrap()]);
        assert!(f.failure.is_none());
        assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
        assert!(f.warnings[0].message.contains("stale"));
        assert!(f
            .rows
            .iter()
            .any(|r| r.evidence.iter().any(|e| e.contains("/etc/hosts:1"))));
    }

    #[test]
    fn nxdomain_from_first_server_wins_even_if_second_has_it() {
        let s = setup("nameserver 10.0.0.1\nnameserver 10.0.0.2\n", "");
        let ex_all = [
            both(
                "x.test.",
                S1,
                resp(Rcode::NxDomain, &[], 2),
                resp(Rcode::NxDomain, &[], 2),
            ),
            both(
                "x.test.",
                S2,
                resp(Rcode::NoError, &["192.0.2.1"], 2),
                resp(Rcode::NoError, &[], 2),
            ),
        ]
        .concat();
        let o = obs("x.test", &[S1, S2], vec![cand("x.test.", ex_all)]);
        let (_, f) = classify(&o, &s);
        let failure = f.failure.expect("failure");
        assert_eq!(failure.cause, Cause::DnsNxdomain);
        assert!(failure.root_cause.contains("10.0.0.2 has it"));
    }

    fn cname_only() -> DnsOutcome {
        DnsOutcome::Response {
            rcode: Rcode::NoError,
            addresses: vec![],
            cnames: vec!["gone.invalid.".into()],
            unused_answers: 0,
            authentic_data: false,
            via_tcp: false,
            latency: Duration::from_millis(2),
        }
    }

    fn servers() -> Vec<SocketAddr> {
        vec![S1.parse().unwrap(), S2.parse().unwrap()]
    }

    #[test]
    fn step_outcome_as_glibc_search_loop_sees_it() {
        let n = "w.a.test.";
        let two = |a: DnsOutcome, b: DnsOutcome| {
            let mut e = both(n, S1, a.clone(), a);
            e.extend(both(n, S2, b.clone(), b));
            cand(n, e)
        };
        let r = |rc| resp(rc, &[], 2);
        // REFUSED or NOTIMP from the last server asked ends the list; SERVFAIL goes on.
        assert_eq!(
            step_outcome(&two(r(Rcode::Refused), r(Rcode::Refused)), &servers()),
            StepOutcome::Stop
        );
        assert_eq!(
            step_outcome(&two(r(Rcode::ServFail), r(Rcode::NotImp)), &servers()),
            StepOutcome::Stop
        );
        assert_eq!(
            step_outcome(&two(r(Rcode::Refused), r(Rcode::ServFail)), &servers()),
            StepOutcome::Continue
        );
        // The first usable server decides: REFUSED is passed over, NXDOMAIN goes on.
        assert_eq!(
            step_outcome(&two(r(Rcode::Refused), r(Rcode::NxDomain)), &servers()),
            StepOutcome::Continue
        );
        assert_eq!(
            step_outcome(&two(r(Rcode::NoError), r(Rcode::NoError)), &servers()),
            StepOutcome::Continue
        );
        assert_eq!(
            step_outcome(
                &two(resp(Rcode::NoError, &["192.0.2.1"], 2), r(Rcode::NxDomain)),
                &servers()
            ),
            StepOutcome::Answered
        );
        // A CNAME chain without an address still ends the search.
        assert_eq!(
            step_outcome(&two(cname_only(), r(Rcode::NxDomain)), &servers()),
            StepOutcome::Answered
        );
        // Silence everywhere ends it too.
        assert_eq!(
            step_outcome(&two(timeout(), timeout()), &servers()),
            StepOutcome::Stop
        );
        assert_eq!(
            step_outcome(&two(timeout(), r(Rcode::NxDomain)), &servers()),
            StepOutcome::Continue
        );
    }

    #[test]
    fn a_cname_without_address_is_not_an_address() {
        let s = setup("nameserver 10.0.0.1\n", "");
        let o = obs(
            "c.test",
            &[S1],
            vec![cand(
                "c.test.",
                both("c.test.", S1, cname_only(), cname_only()),
            )],
        );
        let (addrs, f) = classify(&o, &s);
        assert!(addrs.is_empty());
        assert_eq!(f.failure.map(|x| x.cause), Some(Cause::DnsNodata));
    }

    #[test]
    fn late_answers_are_slow_not_used() {
        let mut e = both(
            "w.",
            S1,
            resp(Rcode::NoError, &["192.0.2.1"], 1500),
            resp(Rcode::NoError, &[], 1500),
        );
        e.extend(both(
            "w.",
            S2,
            resp(Rcode::NoError, &["192.0.2.2"], 3),
            resp(Rcode::NoError, &[], 3),
        ));
        let mut late = e.clone();
        drop_late_answers(&mut late, Duration::from_secs(1), 2, 2);
        let o = obs("w.", &[S1, S2], vec![cand("w.", late)]);
        let s = setup(
            "nameserver 10.0.0.1\nnameserver 10.0.0.2\noptions timeout:1\n",
            "",
        );
        let (addrs, f) = classify(&o, &s);
        // libc gives up on S1 after its 1 s and takes S2's answer; S1 is named slow.
        assert_eq!(addrs, vec!["192.0.2.2".parse::<IpAddr>().unwrap()]);
        let failure = f.failure.expect("the stall is the finding");
        assert_eq!(failure.cause, Cause::DnsNameserverUnreachable);
        assert!(
            f.rows.iter().any(|r| r.result.contains("slow")),
            "{:?}",
            f.rows
        );
        // Within the timeout, nothing changes; one server alone gets all its retries.
        let mut kept = e.clone();
        drop_late_answers(&mut kept, Duration::from_secs(5), 2, 2);
        assert_eq!(kept, e);
        let mut single = e[..2].to_vec();
        drop_late_answers(&mut single, Duration::from_secs(1), 2, 1);
        assert_eq!(single, e[..2].to_vec());
    }

    fn setup_ns(nsswitch: &str, hosts: &str) -> ResolverSetup {
        let mut s = setup("nameserver 10.0.0.1\n", hosts);
        s.order = crate::hosts::parse_nsswitch_hosts(nsswitch);
        s
    }

    #[test]
    fn nsswitch_actions_decide_the_answer() {
        let dns_nx = |name: &str| {
            obs(
                name,
                &[S1],
                vec![cand(
                    &format!("{name}."),
                    both(
                        &format!("{name}."),
                        S1,
                        resp(Rcode::NxDomain, &[], 2),
                        resp(Rcode::NxDomain, &[], 2),
                    ),
                )],
            )
        };
        let dns_ok = |name: &str| {
            obs(
                name,
                &[S1],
                vec![cand(
                    &format!("{name}."),
                    both(
                        &format!("{name}."),
                        S1,
                        resp(Rcode::NoError, &["192.0.2.9"], 2),
                        resp(Rcode::NoError, &[], 2),
                    ),
                )],
            )
        };
        let with_hosts = |mut o: DnsObservations| {
            o.hosts_matches = crate::hosts::lookup_hosts("10.9.9.9 h.test\n", &o.name);
            o
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // dns [NOTFOUND=return] files: the hosts file is never read after NXDOMAIN.
        let s = setup_ns("hosts: dns [NOTFOUND=return] files\n", "10.9.9.9 h.test\n");
        let (addrs, f) = classify(&with_hosts(dns_nx("h.test")), &s);
        assert!(addrs.is_empty());
        assert!(f.failure.is_some());
        // dns files: it is.
        let s = setup_ns("hosts: dns files\n", "10.9.9.9 h.test\n");
        assert_eq!(
            classify(&with_hosts(dns_nx("h.test")), &s).0,
            vec![ip("10.9.9.9")]
        );
        // files [SUCCESS=continue] dns: DNS's answer replaces the hosts file's.
        let s = setup_ns("hosts: files [SUCCESS=continue] dns\n", "10.9.9.9 h.test\n");
        assert_eq!(
            classify(&with_hosts(dns_ok("h.test")), &s).0,
            vec![ip("192.0.2.9")]
        );
        let (addrs, f) = classify(&with_hosts(dns_nx("h.test")), &s);
        assert!(addrs.is_empty() && f.failure.is_some());
        // files dns: the hosts file wins.
        let s = setup_ns("hosts: files dns\n", "10.9.9.9 h.test\n");
        assert_eq!(
            classify(&with_hosts(dns_ok("h.test")), &s).0,
            vec![ip("10.9.9.9")]
        );
        // dns_nss_status: silence everywhere is UNAVAIL, NXDOMAIN is NOTFOUND.
        let silent = obs(
            "x",
            &[S1],
            vec![cand("x.", both("x.", S1, timeout(), timeout()))],
        );
        assert_eq!(dns_nss_status(&silent, false), NssStatus::Unavail);
        assert_eq!(dns_nss_status(&dns_nx("x"), false), NssStatus::NotFound);
        // An A-only answer owned by another name: nothing usable, TRYAGAIN.
        let foreign = DnsOutcome::Response {
            rcode: Rcode::NoError,
            addresses: vec![],
            cnames: vec![],
            unused_answers: 1,
            authentic_data: false,
            via_tcp: false,
            latency: Duration::from_millis(2),
        };
        let mut o = obs(
            "f",
            &[S1],
            vec![cand(
                "f.",
                vec![ex("f.", S1, RecordType::A, false, foreign)],
            )],
        );
        o.record_types = vec![RecordType::A];
        assert_eq!(dns_nss_status(&o, false), NssStatus::TryAgain);
        let s = setup_ns("hosts: dns [TRYAGAIN=return] files\n", "10.9.9.9 f\n");
        o.hosts_matches = crate::hosts::lookup_hosts("10.9.9.9 f\n", "f");
        assert!(classify(&o, &s).0.is_empty());
    }

    #[test]
    fn rotate_with_disagreeing_servers_resolves_only_sometimes() {
        let s = setup(
            "nameserver 10.0.0.1\nnameserver 10.0.0.2\noptions rotate\n",
            "",
        );
        let mut e = both(
            "r.test.",
            S1,
            resp(Rcode::NoError, &["192.0.2.1"], 2),
            resp(Rcode::NoError, &[], 2),
        );
        e.extend(both(
            "r.test.",
            S2,
            resp(Rcode::NxDomain, &[], 2),
            resp(Rcode::NxDomain, &[], 2),
        ));
        let mut o = obs("r.test", &[S1, S2], vec![cand("r.test.", e)]);
        o.rotate = true;
        let (_, f) = classify(&o, &s);
        assert!(f
            .warnings
            .iter()
            .any(|w| w.cause == Cause::DnsInconsistentNameservers
                && w.message.contains("only some of the time")));
    }
}
