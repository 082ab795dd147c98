//! The dns prober against DNS responders written here with hickory-proto on 127.0.0.1 (UDP and
//! TCP), covering blackbox's dns_test.go scenarios (the study's §2 rows D1–D6), and one probe
//! against a real dnsmasq when it is installed.

#![allow(clippy::unwrap_used, missing_docs)]

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use netdiag_core::cause::Cause;
use netdiag_serve::config;
use netdiag_serve::probers::{self, ProbeOutcome, ProbeRequest};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Handler = fn(&Message) -> Message;

/// A responder on 127.0.0.1: UDP, TCP or both on one port; stopped and joined on drop.
struct Responder {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

const LIFETIME: Duration = Duration::from_secs(60);

impl Responder {
    fn start(handler: Handler, udp: bool, tcp: bool) -> Responder {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let tcp_l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp_l.local_addr().unwrap();
        if udp {
            let sock = UdpSocket::bind(addr).unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || serve_udp(&sock, handler, &stop)));
        }
        if tcp {
            tcp_l.set_nonblocking(true).unwrap();
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                serve_tcp(&tcp_l, handler, &stop)
            }));
        }
        Responder {
            addr,
            stop,
            threads,
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve_udp(sock: &UdpSocket, handler: Handler, stop: &AtomicBool) {
    let born = Instant::now();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) && born.elapsed() < LIFETIME {
        let Ok((n, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if let Ok(q) = Message::from_vec(&buf[..n]) {
            let _ = sock.send_to(&handler(&q).to_vec().unwrap(), peer);
        }
    }
}

fn serve_tcp(l: &TcpListener, handler: Handler, stop: &AtomicBool) {
    let born = Instant::now();
    while !stop.load(Ordering::Relaxed) && born.elapsed() < LIFETIME {
        let Ok((mut s, _)) = l.accept() else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let _ = s.set_nonblocking(false);
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            continue;
        }
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut body).is_err() {
            continue;
        }
        if let Ok(q) = Message::from_vec(&body) {
            let bytes = handler(&q).to_vec().unwrap();
            let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
            framed.extend_from_slice(&bytes);
            let _ = s.write_all(&framed);
        }
    }
}

fn reply(q: &Message) -> Message {
    let mut m = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    for query in &q.queries {
        m.add_query(query.clone());
    }
    m
}

fn qname(q: &Message) -> Name {
    q.queries
        .first()
        .map_or_else(Name::root, |x| x.name().clone())
}

fn a(name: &Name, ttl: u32, ip: &str) -> Record {
    Record::from_rdata(name.clone(), ttl, RData::A(A(ip.parse().unwrap())))
}

/// blackbox's recursiveDNSHandler: two A records, TTL 3600; REFUSED without RD.
fn recursive(q: &Message) -> Message {
    let mut m = reply(q);
    if !q.metadata.recursion_desired {
        m.metadata.response_code = ResponseCode::Refused;
        return m;
    }
    m.metadata.recursion_available = true;
    let n = qname(q);
    m.add_answer(a(&n, 3600, "127.0.0.1"));
    m.add_answer(a(&n, 3600, "127.0.0.2"));
    m
}

/// blackbox's authoritativeDNSHandler: 1 answer, 2 NS, 3 additional; SOA with serial 1000;
/// CH TXT version.bind.
fn authoritative(q: &Message) -> Message {
    let mut m = reply(q);
    m.metadata.authoritative = true;
    let n = qname(q);
    let first = q.queries.first();
    let qtype = first.map(|x| x.query_type());
    let qclass = first.map(|x| x.query_class());
    if qclass == Some(DNSClass::CH) && qtype == Some(RecordType::TXT) {
        let mut r = Record::from_rdata(n, 0, RData::TXT(TXT::new(vec!["1.0".to_string()])));
        r.dns_class = DNSClass::CH;
        m.add_answer(r);
        return m;
    }
    if qtype == Some(RecordType::SOA) {
        let soa = SOA::new(
            Name::from_str("ns.example.com.").unwrap(),
            Name::from_str("hostmaster.example.com.").unwrap(),
            1000,
            7200,
            3600,
            1_209_600,
            300,
        );
        m.add_answer(Record::from_rdata(n, 3600, RData::SOA(soa)));
        return m;
    }
    m.add_answer(a(&n, 3600, "127.0.0.1"));
    for ns in ["ns1.example.com.", "ns2.example.com."] {
        m.add_authority(Record::from_rdata(
            n.clone(),
            3600,
            RData::NS(NS(Name::from_str(ns).unwrap())),
        ));
    }
    for (host, ip) in [
        ("ns1.example.com.", "127.0.0.2"),
        ("ns2.example.com.", "127.0.0.3"),
        ("ns3.example.com.", "127.0.0.4"),
    ] {
        m.add_additional(a(&Name::from_str(host).unwrap(), 3600, ip));
    }
    m
}

fn servfail(q: &Message) -> Message {
    let mut m = reply(q);
    m.metadata.response_code = ResponseCode::ServFail;
    m
}

fn run(dns_yaml: &str, target: &str) -> ProbeOutcome {
    let text = format!("modules:\n  m:\n    prober: dns\n    dns:\n{dns_yaml}");
    let cfg = config::parse(&text).unwrap();
    let module = &cfg.modules["m"];
    let req = ProbeRequest {
        target,
        module_name: "m",
        module,
        hostname: None,
        timeout: Duration::from_secs(3),
        cert_series_on_failure: true,
    };
    probers::probe(&req)
}

fn v(o: &ProbeOutcome, name: &str) -> Option<f64> {
    o.metrics.value(name, &[])
}

fn assert_counts(o: &ProbeOutcome, answer: f64, authority: f64, additional: f64) {
    assert_eq!(v(o, "probe_dns_answer_rrs"), Some(answer), "{:?}", o.log);
    assert_eq!(v(o, "probe_dns_authority_rrs"), Some(authority));
    assert_eq!(v(o, "probe_dns_additional_rrs"), Some(additional));
}

fn failure_cause(o: &ProbeOutcome) -> Option<String> {
    o.metrics
        .families()
        .iter()
        .find(|f| f.name == "probe_failure_info")
        .and_then(|f| f.samples.first())
        .and_then(|(labels, _)| labels.iter().find(|(k, _)| k == "cause"))
        .map(|(_, c)| c.clone())
}

const Q: &str = "      query_name: example.com\n";

#[test]
fn d1_recursive_answers_over_udp_and_tcp() {
    let server = Responder::start(recursive, true, true);
    let target = server.addr.to_string();
    for transport in ["udp", "tcp"] {
        let t =
            format!("{Q}      transport_protocol: {transport}\n      preferred_ip_protocol: ip4\n");
        let cases: [(&str, bool); 5] = [
            ("", true),
            ("      valid_rcodes: [SERVFAIL, NXDOMAIN]\n", false),
            (
                "      validate_answer_rrs:\n        fail_if_matches_regexp: ['.*7200.*']\n        fail_if_not_matches_regexp: ['.*3600.*']\n",
                true,
            ),
            (
                "      validate_additional_rrs:\n        fail_if_not_matches_regexp: ['.*127.0.0.*']\n",
                false,
            ),
            ("      recursion_desired: false\n", false),
        ];
        for (i, (extra, want)) in cases.iter().enumerate() {
            let o = run(&format!("{t}{extra}"), &target);
            assert_eq!(o.success, *want, "{transport} case {i}: {:?}", o.log);
            assert_eq!(v(&o, "probe_dns_query_succeeded"), Some(1.0), "{:?}", o.log);
            let answers = if i == 4 { 0.0 } else { 2.0 };
            assert_counts(&o, answers, 0.0, 0.0);
            assert_eq!(v(&o, "probe_ip_protocol"), Some(4.0));
        }
        let refused = run(&format!("{t}      recursion_desired: false\n"), &target);
        assert_eq!(
            failure_cause(&refused).as_deref(),
            Some(Cause::DnsRefused.code())
        );
        assert_eq!(
            refused
                .metrics
                .value("netdiag_layer_success", &[("layer", "dns")]),
            Some(0.0)
        );
    }
}

#[test]
fn d2_authoritative_counts_soa_serial_and_chaos_class() {
    let server = Responder::start(authoritative, true, false);
    let target = server.addr.to_string();
    let ok = run(Q, &target);
    assert!(ok.success, "{:?}", ok.log);
    assert_counts(&ok, 1.0, 2.0, 3.0);
    assert!(v(&ok, "probe_dns_serial").is_none());
    assert!(failure_cause(&ok).is_none());
    assert_eq!(
        ok.metrics
            .value("netdiag_layer_success", &[("layer", "dns")]),
        Some(1.0)
    );

    let soa = run(&format!("{Q}      query_type: SOA\n"), &target);
    assert!(soa.success, "{:?}", soa.log);
    assert_eq!(v(&soa, "probe_dns_serial"), Some(1000.0));

    let ch = run(
        "      query_name: version.bind\n      query_type: TXT\n      query_class: CH\n      validate_answer_rrs:\n        fail_if_not_matches_regexp: ['^version\\.bind\\.\\t0\\tCH\\tTXT\\t\"1\\.0\"$']\n",
        &target,
    );
    assert!(ch.success, "{:?}", ch.log);

    let all = run(
        &format!("{Q}      validate_additional_rrs:\n        fail_if_all_match_regexp: ['.*127.0.0.*']\n"),
        &target,
    );
    assert!(!all.success);
    let none = run(
        &format!("{Q}      validate_answer_rrs:\n        fail_if_none_matches_regexp: ['.*127.0.0.3.*']\n"),
        &target,
    );
    assert!(!none.success);
    // The presentation text users' regexes see: tab-separated, FQDN, miekg's order.
    let exact = run(
        &format!("{Q}      validate_answer_rrs:\n        fail_if_not_matches_regexp: ['^example\\.com\\.\\t3600\\tIN\\tA\\t127\\.0\\.0\\.1$']\n      validate_authority_rrs:\n        fail_if_not_matches_regexp: ['^example\\.com\\.\\t3600\\tIN\\tNS\\tns[12]\\.example\\.com\\.$']\n"),
        &target,
    );
    assert!(exact.success, "{:?}", exact.log);
}

#[test]
fn d3_servfail_and_bad_names() {
    let server = Responder::start(servfail, true, false);
    let target = server.addr.to_string();
    let o = run(Q, &target);
    assert!(!o.success);
    assert_eq!(v(&o, "probe_dns_query_succeeded"), Some(1.0));
    assert_eq!(
        failure_cause(&o).as_deref(),
        Some(Cause::DnsServfail.code())
    );
    let ok = run(
        &format!("{Q}      valid_rcodes: [SERVFAIL, NOERROR]\n"),
        &target,
    );
    assert!(ok.success, "{:?}", ok.log);
    for bad in [
        "      query_type: NOTAQTYPE\n",
        "      valid_rcodes: [NOTARCODE]\n",
    ] {
        let text = format!("modules:\n  m:\n    prober: dns\n    dns:\n{Q}{bad}");
        assert!(config::parse(&text).is_err(), "{bad}");
    }
}

#[test]
fn d4_tcp_only_server_fails_with_the_udp_default() {
    let server = Responder::start(recursive, false, true);
    let target = server.addr.to_string();
    let udp = run(Q, &target);
    assert!(!udp.success);
    assert_eq!(v(&udp, "probe_dns_query_succeeded"), Some(0.0));
    let tcp = run(&format!("{Q}      transport_protocol: tcp\n"), &target);
    assert!(tcp.success, "{:?}", tcp.log);
}

#[test]
fn d5_series_of_a_successful_query_pass_promtool() {
    let server = Responder::start(recursive, true, false);
    let o = run(Q, &server.addr.to_string());
    assert!(o.success);
    for name in [
        "probe_dns_lookup_time_seconds",
        "probe_ip_protocol",
        "probe_ip_addr_hash",
        "probe_dns_answer_rrs",
        "probe_dns_authority_rrs",
        "probe_dns_additional_rrs",
        "probe_dns_query_succeeded",
        "probe_success",
        "probe_duration_seconds",
    ] {
        assert!(v(&o, name).is_some(), "{name} missing");
    }
    for phase in ["resolve", "connect", "request"] {
        assert!(o
            .metrics
            .value("probe_dns_duration_seconds", &[("phase", phase)])
            .is_some());
    }
    let text = o.metrics.encode();
    assert!(text.contains("probe_dns_duration_seconds{phase=\"request\"}"));
    if let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn d6_closed_port_fails_fast_and_names_the_nameserver() {
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let o = run(Q, &format!("127.0.0.1:{port}"));
    assert!(!o.success);
    assert!(started.elapsed() < Duration::from_secs(2), "not fast");
    assert_eq!(v(&o, "probe_dns_query_succeeded"), Some(0.0));
    assert_counts(&o, 0.0, 0.0, 0.0);
    assert_eq!(
        failure_cause(&o).as_deref(),
        Some(Cause::DnsNameserverUnreachable.code())
    );
}

#[test]
fn silent_server_is_dns_timeout_by_the_deadline() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let text = format!("modules:\n  m:\n    prober: dns\n    timeout: 1s\n    dns:\n{Q}");
    let cfg = config::parse(&text).unwrap();
    let target = silent.local_addr().unwrap().to_string();
    let req = ProbeRequest {
        target: &target,
        module_name: "m",
        module: &cfg.modules["m"],
        hostname: None,
        timeout: Duration::from_millis(500),
        cert_series_on_failure: true,
    };
    let started = Instant::now();
    let o = probers::probe(&req);
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert!(!o.success);
    assert_eq!(failure_cause(&o).as_deref(), Some(Cause::DnsTimeout.code()));
}

#[test]
fn real_dnsmasq_answers_from_its_host_records() {
    let Some(bin) = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("dnsmasq not installed; skipped");
        return;
    };
    let port = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let child = std::process::Command::new(bin)
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--listen-address=127.0.0.1",
            "--user=root",
            "--pid-file=",
            &format!("--port={port}"),
            "--host-record=probe.test,127.0.0.9",
            "--local-ttl=3600",
            "--local=/test/",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(child) = child else {
        eprintln!("dnsmasq did not start; skipped");
        return;
    };
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(child);
    let target = format!("127.0.0.1:{port}");
    let yaml = "      query_name: probe.test\n      query_type: A\n      validate_answer_rrs:\n        fail_if_not_matches_regexp: ['^probe\\.test\\.\\t3600\\tIN\\tA\\t127\\.0\\.0\\.9$']\n";
    let mut last = None;
    for _ in 0..50 {
        let o = run(yaml, &target);
        if o.success {
            return;
        }
        last = Some(o.log);
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("dnsmasq probe never succeeded: {last:?}");
}
