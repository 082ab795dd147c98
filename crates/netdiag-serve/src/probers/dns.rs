//! The `dns` prober: one query to one nameserver (the target, `host[:port]`, port 53), over UDP
//! or TCP as configured, exactly as blackbox_exporter's `ProbeDNS`: no retry, no TCP fallback
//! on a truncated answer, the rcode checked against `valid_rcodes`, then each section against
//! its regexes matched on miekg/dns presentation text ([`present`]).
//!
//! netdiag's addition: on failure, `probe_failure_info{layer="dns",cause}` names what the
//! nameserver did when a contract code says it (`dns_servfail`, `dns_refused`, `dns_nxdomain`,
//! `dns_timeout` for silence, `dns_nameserver_unreachable` for an ICMP unreachable or a TCP
//! reset), plus `netdiag_layer_success{layer="dns"}` and `netdiag_layer_duration_seconds`. A
//! failure that is the module's own assertion (another rcode than expected, a regex) has no
//! cause code: the log says which check failed.

pub(crate) mod addr;
pub(crate) mod present;
mod wire;

use super::{ProbeOutcome, ProbeRequest};
use crate::config::dns::{dns_class, rcode_name, rcode_value, record_type, DnsProbe, RrValidator};
use crate::expo::Registry;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use netdiag_core::cause::Cause;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The layer netdiag reports this prober's verdict under.
const LAYER: &str = "dns";

/// Splits a target into host and port (53 when absent; a bare IPv6 literal is a host).
pub(crate) fn split_target(target: &str, default_port: u16) -> Result<(String, u16), String> {
    let t = target.trim();
    if t.is_empty() {
        return Err("empty target".to_string());
    }
    if let Some(rest) = t.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("target {t:?}: missing ']'"))?;
        return match after {
            "" => Ok((host.to_string(), default_port)),
            p => {
                let port = p
                    .strip_prefix(':')
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| format!("target {t:?}: invalid port"))?;
                Ok((host.to_string(), port))
            }
        };
    }
    if t.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((t.to_string(), default_port));
    }
    match t.rsplit_once(':') {
        None => Ok((t.to_string(), default_port)),
        Some((host, port)) if !host.is_empty() && !host.contains(':') => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("target {t:?}: invalid port {port:?}"))?;
            Ok((host.to_string(), port))
        }
        Some(_) => Err(format!("target {t:?} is not host[:port]")),
    }
}

/// Runs one `dns` probe.
pub fn probe(request: &ProbeRequest<'_>) -> ProbeOutcome {
    let cfg = &request.module.dns;
    let deadline = Instant::now() + request.timeout;
    let mut out = ProbeOutcome::default();
    let m = &mut out.metrics;
    for phase in ["resolve", "connect", "request"] {
        set_phase(m, phase, Duration::ZERO);
    }
    for name in ["answer", "authority", "additional"] {
        set_rrs(m, name, 0);
    }
    m.gauge(
        "probe_dns_query_succeeded",
        "Displays whether or not the query was executed successfully",
        0.0,
    );
    let started = Instant::now();
    let (passed, cause) = run(request, cfg, deadline, &mut out);
    addr::verdict(&mut out.metrics, LAYER, passed, cause, started.elapsed());
    out.success = passed;
    out
}

fn set_phase(m: &mut Registry, phase: &str, d: Duration) {
    m.gauge_with(
        "probe_dns_duration_seconds",
        "Duration of DNS request by phase",
        &[("phase", phase)],
        d.as_secs_f64(),
    );
}

fn set_rrs(m: &mut Registry, section: &str, n: usize) {
    m.gauge(
        &format!("probe_dns_{section}_rrs"),
        &format!("Returns number of entries in the {section} resource record list"),
        n as f64,
    );
}

/// The query message (blackbox: `SetQuestion(Fqdn(name), type)`, class, RD; no EDNS).
pub(crate) fn build_query(cfg: &DnsProbe, id: u16) -> Result<Vec<u8>, String> {
    let mut qname = cfg.query_name.clone();
    if !qname.ends_with('.') {
        qname.push('.');
    }
    let name = Name::from_ascii(&qname).map_err(|e| format!("invalid query_name: {e}"))?;
    let qtype = record_type(&cfg.query_type)
        .ok_or_else(|| format!("invalid query_type {:?}", cfg.query_type))?;
    let qclass = dns_class(&cfg.query_class)
        .ok_or_else(|| format!("invalid query_class {:?}", cfg.query_class))?;
    let mut query = Query::query(name, qtype);
    query.set_query_class(qclass);
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = cfg.recursion_desired;
    msg.add_query(query);
    msg.to_vec()
        .map_err(|e| format!("cannot encode query: {e}"))
}

fn run(
    request: &ProbeRequest<'_>,
    cfg: &DnsProbe,
    deadline: Instant,
    out: &mut ProbeOutcome,
) -> (bool, Option<Cause>) {
    let log = &mut out.log;
    let (host, port) = match split_target(request.target, 53) {
        Ok(hp) => hp,
        Err(e) => {
            log.push(format!("Error parsing target: {e}"));
            return (false, None);
        }
    };
    let resolved = addr::resolve(
        &host,
        &cfg.preferred_ip_protocol,
        cfg.ip_protocol_fallback,
        deadline,
        &mut out.metrics,
        log,
    );
    let (ip, lookup) = match resolved {
        Ok(r) => r,
        Err(_) => return (false, None),
    };
    set_phase(&mut out.metrics, "resolve", lookup);
    let server = SocketAddr::new(ip, port);
    let id = wire::next_id();
    let query = match build_query(cfg, id) {
        Ok(q) => q,
        Err(e) => {
            log.push(format!("Error building the query: {e}"));
            return (false, None);
        }
    };
    log.push(format!(
        "Making DNS query target={server} dial_protocol={} query={} type={} class={}",
        cfg.transport_protocol, cfg.query_name, cfg.query_type, cfg.query_class
    ));
    let exchange = wire::exchange(
        server,
        cfg.transport_protocol == "tcp",
        cfg.source_ip_address.as_deref(),
        &query,
        id,
        deadline,
    );
    set_phase(&mut out.metrics, "connect", exchange.connect);
    set_phase(&mut out.metrics, "request", exchange.request);
    let msg = match exchange.result {
        Ok(msg) => msg,
        Err(failure) => {
            log.push(format!(
                "Error while sending a DNS query: {}",
                failure.detail
            ));
            return (false, failure.cause);
        }
    };
    log.push(format!(
        "Got response rcode={} answers={} authority={} additional={}",
        rcode_name(u16::from(msg.metadata.response_code)),
        msg.answers.len(),
        msg.authorities.len(),
        msg.additionals.len()
    ));
    judge(&msg, cfg, &mut out.metrics, log)
}

/// The checks after an answer arrived: counts, SOA serial, rcode, then the three sections.
pub(crate) fn judge(
    msg: &Message,
    cfg: &DnsProbe,
    m: &mut Registry,
    log: &mut Vec<String>,
) -> (bool, Option<Cause>) {
    set_rrs(m, "answer", msg.answers.len());
    set_rrs(m, "authority", msg.authorities.len());
    set_rrs(m, "additional", msg.additionals.len());
    m.gauge(
        "probe_dns_query_succeeded",
        "Displays whether or not the query was executed successfully",
        1.0,
    );
    if record_type(&cfg.query_type) == Some(RecordType::SOA) {
        let serial = msg.answers.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        });
        m.gauge(
            "probe_dns_serial",
            "Returns the serial number of the zone",
            serial.map_or(0.0, f64::from),
        );
    }
    let rcode = u16::from(msg.metadata.response_code);
    let valid = cfg
        .valid_rcodes
        .iter()
        .filter_map(|n| rcode_value(n))
        .any(|v| v == rcode);
    if !valid {
        log.push(format!(
            "Rcode {} is not one of the valid rcodes {:?}",
            rcode_name(rcode),
            cfg.valid_rcodes
        ));
        let cause = match rcode {
            2 => Some(Cause::DnsServfail),
            3 => Some(Cause::DnsNxdomain),
            5 => Some(Cause::DnsRefused),
            _ => None,
        };
        return (false, cause);
    }
    for (section, records, v) in [
        ("answer", &msg.answers, &cfg.validate_answer_rrs),
        ("authority", &msg.authorities, &cfg.validate_authority_rrs),
        ("additional", &msg.additionals, &cfg.validate_additional_rrs),
    ] {
        let texts: Vec<String> = records.iter().map(present::record).collect();
        if let Err(why) = valid_rrs(&texts, v) {
            log.push(format!("Validation of the {section} section failed: {why}"));
            return (false, None);
        }
    }
    log.push("Validation succeeded".to_string());
    (true, None)
}

fn compile(list: &[String]) -> Vec<regex::Regex> {
    // Validated at load; a regex that somehow does not compile never matches.
    list.iter()
        .filter_map(|r| regex::Regex::new(r).ok())
        .collect()
}

/// blackbox's `validRRs`, on presentation text.
pub(crate) fn valid_rrs(rrs: &[String], v: &RrValidator) -> Result<(), String> {
    if rrs.is_empty() && !v.fail_if_not_matches_regexp.is_empty() {
        return Err("fail_if_not_matches_regexp specified but no RRs returned".to_string());
    }
    if rrs.is_empty() && !v.fail_if_none_matches_regexp.is_empty() {
        return Err("fail_if_none_matches_regexp specified but no RRs returned".to_string());
    }
    let matches = compile(&v.fail_if_matches_regexp);
    let all = compile(&v.fail_if_all_match_regexp);
    let not = compile(&v.fail_if_not_matches_regexp);
    let none = compile(&v.fail_if_none_matches_regexp);
    let mut all_match = true;
    let mut any_match = false;
    for rr in rrs {
        if let Some(re) = matches.iter().find(|re| re.is_match(rr)) {
            return Err(format!(
                "at least one RR matched regexp {:?}: {rr}",
                re.as_str()
            ));
        }
        if all.iter().any(|re| !re.is_match(rr)) {
            all_match = false;
        }
        if let Some(re) = not.iter().find(|re| !re.is_match(rr)) {
            return Err(format!(
                "at least one RR did not match regexp {:?}: {rr}",
                re.as_str()
            ));
        }
        if none.iter().any(|re| re.is_match(rr)) {
            any_match = true;
        }
    }
    if !all.is_empty() && all_match {
        return Err("all RRs matched fail_if_all_match_regexp".to_string());
    }
    if !none.is_empty() && !any_match {
        return Err("no RR matched fail_if_none_matches_regexp".to_string());
    }
    Ok(())
}

/// Presentation text of every record of a section (tests, debug output).
pub fn presentation(records: &[Record]) -> Vec<String> {
    records.iter().map(present::record).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(field: &str, res: &[&str]) -> RrValidator {
        let list: Vec<String> = res.iter().map(|s| (*s).to_string()).collect();
        let mut v = RrValidator::default();
        match field {
            "matches" => v.fail_if_matches_regexp = list,
            "all" => v.fail_if_all_match_regexp = list,
            "not" => v.fail_if_not_matches_regexp = list,
            _ => v.fail_if_none_matches_regexp = list,
        }
        v
    }

    #[test]
    fn valid_rrs_is_blackboxs() {
        let rrs: Vec<String> = [
            "example.com.\t3600\tIN\tA\t127.0.0.1",
            "example.com.\t3600\tIN\tA\t127.0.0.2",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        assert!(valid_rrs(&rrs, &v("matches", &[".*7200.*"])).is_ok());
        assert!(valid_rrs(&rrs, &v("matches", &[".*3600.*"])).is_err());
        assert!(valid_rrs(&rrs, &v("not", &[".*3600.*"])).is_ok());
        assert!(valid_rrs(&rrs, &v("not", &["127.0.0.1"])).is_err());
        assert!(valid_rrs(&rrs, &v("all", &[".*127.0.0.*"])).is_err());
        assert!(valid_rrs(&rrs, &v("all", &["127.0.0.1"])).is_ok());
        assert!(valid_rrs(&rrs, &v("none", &[".*127.0.0.3.*"])).is_err());
        assert!(valid_rrs(&rrs, &v("none", &["127.0.0.2"])).is_ok());
        assert!(valid_rrs(&[], &v("not", &["x"])).is_err());
        assert!(valid_rrs(&[], &v("none", &["x"])).is_err());
        assert!(valid_rrs(&[], &v("all", &["x"])).is_err());
        assert!(valid_rrs(&[], &v("matches", &["x"])).is_ok());
        assert!(valid_rrs(&[], &RrValidator::default()).is_ok());
    }

    #[test]
    fn targets_split_like_blackbox() {
        assert_eq!(
            split_target("127.0.0.1", 53).unwrap(),
            ("127.0.0.1".into(), 53)
        );
        assert_eq!(
            split_target("127.0.0.1:5353", 53).unwrap(),
            ("127.0.0.1".into(), 5353)
        );
        assert_eq!(split_target("[::1]:54", 53).unwrap(), ("::1".into(), 54));
        assert_eq!(split_target("::1", 53).unwrap(), ("::1".into(), 53));
        assert_eq!(
            split_target("ns.example", 53).unwrap(),
            ("ns.example".into(), 53)
        );
        assert!(split_target("a:b", 53).is_err());
        assert!(split_target("", 53).is_err());
        assert!(split_target("[::1", 53).is_err());
    }

    #[test]
    fn query_carries_type_class_and_rd() {
        let cfg = DnsProbe {
            query_name: "example.com".into(),
            query_type: "SOA".into(),
            query_class: "CH".into(),
            recursion_desired: false,
            ..DnsProbe::default()
        };
        let bytes = build_query(&cfg, 7).unwrap();
        let msg = Message::from_vec(&bytes).unwrap();
        assert_eq!(msg.metadata.id, 7);
        assert!(!msg.metadata.recursion_desired);
        let q = &msg.queries[0];
        assert_eq!(q.query_type(), RecordType::SOA);
        assert_eq!(q.query_class(), hickory_proto::rr::DNSClass::CH);
        assert_eq!(q.name().to_ascii(), "example.com.");
    }

    proptest::proptest! {
        #[test]
        fn split_target_never_panics(s in "\\PC{0,40}") {
            let _ = split_target(&s, 53);
        }
    }
}
