//! The DNS probe: our own stub client that asks one nameserver one question and records exactly
//! what happened (rcode, answers, flags, latency, ICMP error or silence).
//!
//! A resolver library would merge servers, retry and cache, hiding the per-server facts the
//! diagnosis needs, so each question goes on its own connected UDP socket (an ICMP port
//! unreachable then surfaces as ECONNREFUSED), falls back to TCP when the answer is truncated,
//! and stops at the deadline. Stray or mismatched packets are ignored, never trusted.

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType as WireType};
use netdiag_core::observe::{DnsExchange, DnsOutcome, DnsQuestion, Rcode, RecordType};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// With no answer from any nameserver, a round ends this long after it started: all
/// nameservers silent is `dns_timeout` within about 2 s (libc would wait `timeout x attempts`
/// per server; the verdict does not need that long).
pub const ALL_SILENT_AFTER: Duration = Duration::from_secs(2);
/// Once one nameserver answered, the others get this much longer: a server that stays silent
/// that long while another answered is the dead nameserver libc stalls on.
pub const STRAGGLER_GRACE: Duration = Duration::from_secs(1);

/// The shared clock of one round: when it started and when the first answer came.
#[derive(Debug)]
struct Pace {
    start: Instant,
    deadline: Instant,
    first_answer: std::sync::Mutex<Option<Instant>>,
}

impl Pace {
    /// The deadline for a question still waiting now.
    fn deadline(&self) -> Instant {
        let first = self.first_answer.lock().ok().and_then(|g| *g);
        let silent_cap = self.start + ALL_SILENT_AFTER;
        let cap = match first {
            Some(t) => t + STRAGGLER_GRACE,
            None => silent_cap,
        };
        self.deadline.min(cap)
    }

    fn answered(&self) {
        if let Ok(mut g) = self.first_answer.lock() {
            g.get_or_insert_with(Instant::now);
        }
    }
}

/// Asks every question concurrently; one exchange per question, in order. A round ends at
/// `deadline`, or [`ALL_SILENT_AFTER`] after it started when nothing answered, or
/// [`STRAGGLER_GRACE`] after the first answer for the questions still waiting.
pub fn query_all(questions: &[DnsQuestion], deadline: Instant) -> Vec<DnsExchange> {
    let pace = Pace {
        start: Instant::now(),
        deadline,
        first_answer: std::sync::Mutex::new(None),
    };
    let pace = &pace;
    std::thread::scope(|scope| {
        let handles: Vec<_> = questions
            .iter()
            .map(|q| {
                scope.spawn(move || {
                    let out = ask_paced(q, pace);
                    if matches!(out, DnsOutcome::Response { .. }) {
                        pace.answered();
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(questions)
            .map(|(h, q)| {
                let outcome = h.join().unwrap_or_else(|_| DnsOutcome::Malformed {
                    detail: "probe thread panicked".to_string(),
                });
                DnsExchange {
                    question: q.clone(),
                    outcome,
                }
            })
            .collect()
    })
}

fn next_id() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = nanos ^ (std::process::id() << 7) ^ COUNTER.fetch_add(0x9e37, Ordering::Relaxed);
    (mixed ^ (mixed >> 16)) as u16
}

/// Encodes the query message for a question.
pub fn encode_query(q: &DnsQuestion, id: u16) -> Result<Vec<u8>, String> {
    let name = Name::from_ascii(&q.name).map_err(|e| format!("invalid name {}: {e}", q.name))?;
    let wire_type = match q.record_type {
        RecordType::A => WireType::A,
        RecordType::Aaaa => WireType::AAAA,
    };
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.metadata.checking_disabled = q.checking_disabled;
    msg.add_query(Query::query(name, wire_type));
    msg.to_vec()
        .map_err(|e| format!("cannot encode query: {e}"))
}

/// What a response says, or why it is not a response to our question.
pub fn decode_response(bytes: &[u8], id: u16, q: &DnsQuestion) -> Result<Decoded, String> {
    let msg = Message::from_vec(bytes).map_err(|e| format!("undecodable DNS message: {e}"))?;
    if msg.metadata.id != id || msg.metadata.message_type != MessageType::Response {
        return Err("not a response to our query (id mismatch)".to_string());
    }
    if let Some(first) = msg.queries.first() {
        let asked = q.name.trim_end_matches('.').to_ascii_lowercase();
        let got = first
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if asked != got {
            return Err(format!("answer is for another question ({got})"));
        }
    }
    let rcode = match msg.metadata.response_code {
        ResponseCode::NoError => Rcode::NoError,
        ResponseCode::FormErr => Rcode::FormErr,
        ResponseCode::ServFail => Rcode::ServFail,
        ResponseCode::NXDomain => Rcode::NxDomain,
        ResponseCode::NotImp => Rcode::NotImp,
        ResponseCode::Refused => Rcode::Refused,
        other => Rcode::Other(u16::from(other)),
    };
    // Follow the CNAME chain from the question's name, as glibc's getanswer does: only
    // records owned by a name on the chain count.
    let mut chain = vec![q.name.trim_end_matches('.').to_ascii_lowercase()];
    let mut cnames = Vec::new();
    let owner = |r: &hickory_proto::rr::Record| {
        r.name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
    };
    for _ in 0..16 {
        let next = msg.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if chain.last() == Some(&owner(r)) => Some(c.0.to_ascii()),
            _ => None,
        });
        let Some(target) = next else { break };
        let t = target.trim_end_matches('.').to_ascii_lowercase();
        if chain.contains(&t) {
            break;
        }
        chain.push(t);
        cnames.push(target);
    }
    let mut addresses = Vec::new();
    let mut unused_answers = 0;
    for record in &msg.answers {
        let on_chain = chain.contains(&owner(record));
        match (&record.data, q.record_type) {
            (RData::A(a), RecordType::A) if on_chain => addresses.push(IpAddr::V4(a.0)),
            (RData::AAAA(a), RecordType::Aaaa) if on_chain => addresses.push(IpAddr::V6(a.0)),
            (RData::CNAME(_), _) if on_chain => {}
            _ => unused_answers += 1,
        }
    }
    Ok(Decoded {
        rcode,
        addresses,
        cnames,
        unused_answers,
        authentic_data: msg.metadata.authentic_data,
        truncated: msg.metadata.truncation,
    })
}

/// A decoded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Response code.
    pub rcode: Rcode,
    /// Addresses of the asked type.
    pub addresses: Vec<IpAddr>,
    /// CNAME targets.
    pub cnames: Vec<String>,
    /// Answer records owned by no name on the question's CNAME chain.
    pub unused_answers: usize,
    /// AD bit.
    pub authentic_data: bool,
    /// TC bit.
    pub truncated: bool,
}

/// One question with a fixed deadline (tests).
#[cfg(test)]
fn ask(q: &DnsQuestion, deadline: Instant) -> DnsOutcome {
    let pace = Pace {
        start: Instant::now(),
        deadline,
        first_answer: std::sync::Mutex::new(None),
    };
    ask_paced(q, &pace)
}

fn ask_paced(q: &DnsQuestion, pace: &Pace) -> DnsOutcome {
    let start = Instant::now();
    let deadline = pace.deadline();
    let id = next_id();
    let packet = match encode_query(q, id) {
        Ok(p) => p,
        Err(detail) => return DnsOutcome::Malformed { detail },
    };
    let bind: SocketAddr = match q.server {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    let unreachable = |e: std::io::Error, sock: Option<&UdpSocket>| DnsOutcome::Unreachable {
        icmp: sock.and_then(queued_icmp_error),
        errno: e.raw_os_error().unwrap_or(0),
        message: e.to_string(),
        latency: start.elapsed(),
    };
    let socket = match UdpSocket::bind(bind) {
        Ok(s) => s,
        Err(e) => return unreachable(e, None),
    };
    // Without IP_RECVERR only the errno is known; with it, the ICMP type, code and sender.
    let _ = crate::sys::enable_recverr(&socket2::SockRef::from(&socket), q.server.is_ipv6());
    if let Err(e) = socket.connect(q.server) {
        return unreachable(e, Some(&socket));
    }
    if let Err(e) = socket.send(&packet) {
        return unreachable(e, Some(&socket));
    }
    // One retransmission halfway, as a lost datagram is not a dead server.
    let total = deadline.saturating_duration_since(start);
    let mut resend_at = if total > Duration::from_millis(1500) {
        Some(start + total / 2)
    } else {
        None
    };
    let mut buf = vec![0u8; 4096];
    for _ in 0..64 {
        let now = Instant::now();
        // Another server's answer shortens the wait (see `Pace`).
        let deadline = pace.deadline();
        if now >= deadline {
            break;
        }
        let wake = resend_at.map(|r| r.min(deadline)).unwrap_or(deadline);
        let wait = wake
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        let _ = socket.set_read_timeout(Some(wait));
        match socket.recv(&mut buf) {
            Ok(n) => match decode_response(&buf[..n], id, q) {
                Ok(d) if d.truncated => return ask_tcp(q, deadline, start),
                Ok(d) => {
                    return DnsOutcome::Response {
                        rcode: d.rcode,
                        addresses: d.addresses,
                        cnames: d.cnames,
                        unused_answers: d.unused_answers,
                        authentic_data: d.authentic_data,
                        via_tcp: false,
                        latency: start.elapsed(),
                    }
                }
                Err(_) => continue,
            },
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if resend_at.is_some_and(|r| Instant::now() >= r) {
                    resend_at = None;
                    let _ = socket.send(&packet);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return unreachable(e, Some(&socket)),
        }
    }
    DnsOutcome::Timeout {
        waited: start.elapsed(),
    }
}

fn queued_icmp_error(socket: &UdpSocket) -> Option<netdiag_core::observe::IcmpError> {
    crate::sys::read_icmp_error(&socket2::SockRef::from(socket))
        .ok()
        .flatten()
}

fn ask_tcp(q: &DnsQuestion, deadline: Instant, start: Instant) -> DnsOutcome {
    let id = next_id();
    let fail = |detail: String| DnsOutcome::Malformed {
        detail: format!("truncated over UDP; TCP retry failed: {detail}"),
    };
    let packet = match encode_query(q, id) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return DnsOutcome::Timeout {
            waited: start.elapsed(),
        };
    }
    let mut stream = match TcpStream::connect_timeout(&q.server, remaining) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let _ = stream.set_read_timeout(Some(remaining));
    let _ = stream.set_write_timeout(Some(remaining));
    let Ok(len) = u16::try_from(packet.len()) else {
        return fail("query too large".into());
    };
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&packet);
    if let Err(e) = stream.write_all(&framed) {
        return fail(e.to_string());
    }
    let mut len_buf = [0u8; 2];
    if let Err(e) = stream.read_exact(&mut len_buf) {
        return if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            DnsOutcome::Timeout {
                waited: start.elapsed(),
            }
        } else {
            fail(e.to_string())
        };
    }
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len_buf))];
    if let Err(e) = stream.read_exact(&mut body) {
        return fail(e.to_string());
    }
    match decode_response(&body, id, q) {
        Ok(d) => DnsOutcome::Response {
            rcode: d.rcode,
            addresses: d.addresses,
            cnames: d.cnames,
            unused_answers: d.unused_answers,
            authentic_data: d.authentic_data,
            via_tcp: true,
            latency: start.elapsed(),
        },
        Err(detail) => DnsOutcome::Malformed { detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn question(server: SocketAddr) -> DnsQuestion {
        DnsQuestion {
            name: "ok.test.".into(),
            record_type: RecordType::A,
            server,
            checking_disabled: true,
        }
    }

    #[test]
    fn round_trip_through_hickory() {
        let q = question("127.0.0.1:53".parse().unwrap());
        let bytes = encode_query(&q, 77).expect("encode");
        let mut reply = Message::from_vec(&bytes).expect("decode");
        assert!(reply.metadata.checking_disabled && reply.metadata.recursion_desired);
        reply.metadata.message_type = MessageType::Response;
        reply.metadata.response_code = ResponseCode::NXDomain;
        let d = decode_response(&reply.to_vec().expect("encode"), 77, &q).expect("response");
        assert_eq!(d.rcode, Rcode::NxDomain);
        assert!(decode_response(&reply.to_vec().expect("encode"), 78, &q).is_err());
    }

    #[test]
    fn closed_port_is_unreachable_not_timeout() {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let server = probe.local_addr().expect("addr");
        drop(probe);
        let out = ask(&question(server), Instant::now() + Duration::from_secs(2));
        assert!(
            matches!(out, DnsOutcome::Unreachable { errno: 111, .. }),
            "{out:?}"
        );
    }

    #[test]
    fn silent_server_times_out_at_the_deadline() {
        let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let server = silent.local_addr().expect("addr");
        let start = Instant::now();
        let out = ask(&question(server), start + Duration::from_millis(300));
        assert!(matches!(out, DnsOutcome::Timeout { .. }), "{out:?}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    proptest! {
        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let q = question("127.0.0.1:53".parse().unwrap());
            let _ = decode_response(&bytes, 1, &q);
        }
    }
}
