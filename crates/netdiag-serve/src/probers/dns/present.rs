//! Resource records as miekg/dns prints them (`RR.String()`), because blackbox's
//! `validate_*_rrs` regexes are matched against that text and users' regexes must keep working:
//! `name.\tTTL\tCLASS\tTYPE\tRDATA`, names fully qualified and in ASCII (punycode kept),
//! TXT strings quoted with miekg's escapes.
//!
//! Types miekg formats differently from hickory are written here (A, AAAA, CNAME, NS, PTR,
//! DNAME, MX, SOA, SRV, TXT); any other type falls back to hickory's RDATA text.

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// A name as miekg's `sprintName`: ASCII labels, a trailing dot.
pub(crate) fn name(n: &Name) -> String {
    let mut s = n.to_ascii();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// miekg's `Class.String()`.
pub(crate) fn class(c: DNSClass) -> String {
    match c {
        DNSClass::IN => "IN".to_string(),
        DNSClass::CH => "CH".to_string(),
        DNSClass::HS => "HS".to_string(),
        DNSClass::NONE => "NONE".to_string(),
        DNSClass::ANY => "ANY".to_string(),
        other => match u16::from(other) {
            2 => "CS".to_string(),
            v => format!("CLASS{v}"),
        },
    }
}

/// miekg's `Type.String()`.
pub(crate) fn rtype(t: RecordType) -> String {
    match t {
        RecordType::Unknown(v) => format!("TYPE{v}"),
        other => other.to_string(),
    }
}

/// One TXT character-string as miekg's `sprintTxt` writes it: quoted, `"` and `\` escaped,
/// bytes outside printable ASCII as `\DDD`.
pub(crate) fn txt_string(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(char::from(b));
            }
            b' '..=b'~' => s.push(char::from(b)),
            _ => s.push_str(&format!("\\{b:03}")),
        }
    }
    s.push('"');
    s
}

fn rdata(d: &RData) -> String {
    match d {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(c) => name(&c.0),
        RData::NS(n) => name(&n.0),
        RData::PTR(p) => name(&p.0),
        RData::MX(mx) => format!("{} {}", mx.preference, name(&mx.exchange)),
        RData::SOA(soa) => format!(
            "{} {} {} {} {} {} {}",
            name(&soa.mname),
            name(&soa.rname),
            soa.serial,
            soa.refresh,
            soa.retry,
            soa.expire,
            soa.minimum
        ),
        RData::SRV(srv) => format!(
            "{} {} {} {}",
            srv.priority,
            srv.weight,
            srv.port,
            name(&srv.target)
        ),
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| txt_string(s))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// The presentation text of one record, as miekg's `RR.String()`.
pub(crate) fn record(r: &Record) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}",
        name(&r.name),
        r.ttl,
        class(r.dns_class),
        rtype(r.record_type()),
        rdata(&r.data)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
    use proptest::prelude::*;
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    fn rr(owner: &str, ttl: u32, data: RData) -> String {
        record(&Record::from_rdata(n(owner), ttl, data))
    }

    #[test]
    fn miekg_presentation_text() {
        let cases = [
            (
                rr("example.com.", 3600, RData::A(A("127.0.0.1".parse().unwrap()))),
                "example.com.\t3600\tIN\tA\t127.0.0.1",
            ),
            (
                rr("example.com.", 60, RData::AAAA(AAAA("2001:db8::1".parse().unwrap()))),
                "example.com.\t60\tIN\tAAAA\t2001:db8::1",
            ),
            (
                rr("www.example.com.", 300, RData::CNAME(CNAME(n("example.com.")))),
                "www.example.com.\t300\tIN\tCNAME\texample.com.",
            ),
            (
                rr("example.com.", 3600, RData::MX(MX::new(10, n("mx.example.com.")))),
                "example.com.\t3600\tIN\tMX\t10 mx.example.com.",
            ),
            (
                rr("example.com.", 3600, RData::NS(NS(n("ns1.example.com.")))),
                "example.com.\t3600\tIN\tNS\tns1.example.com.",
            ),
            (
                rr(
                    "example.com.",
                    3600,
                    RData::SOA(SOA::new(
                        n("ns.example.com."),
                        n("hostmaster.example.com."),
                        1000,
                        7200,
                        3600,
                        1209600,
                        300,
                    )),
                ),
                "example.com.\t3600\tIN\tSOA\tns.example.com. hostmaster.example.com. 1000 7200 3600 1209600 300",
            ),
            (
                rr(
                    "example.com.",
                    0,
                    RData::TXT(TXT::new(vec!["v=spf1 -all".to_string(), "a\"b".to_string()])),
                ),
                "example.com.\t0\tIN\tTXT\t\"v=spf1 -all\" \"a\\\"b\"",
            ),
            (
                rr("1.0.0.127.in-addr.arpa.", 3600, RData::PTR(PTR(n("localhost.")))),
                "1.0.0.127.in-addr.arpa.\t3600\tIN\tPTR\tlocalhost.",
            ),
            (
                rr(
                    "_sip._tcp.example.com.",
                    86400,
                    RData::SRV(SRV::new(10, 60, 5060, n("sip.example.com."))),
                ),
                "_sip._tcp.example.com.\t86400\tIN\tSRV\t10 60 5060 sip.example.com.",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn classes_types_and_escapes() {
        assert_eq!(class(DNSClass::CH), "CH");
        assert_eq!(class(DNSClass::Unknown(2)), "CS");
        assert_eq!(class(DNSClass::Unknown(99)), "CLASS99");
        assert_eq!(rtype(RecordType::Unknown(65280)), "TYPE65280");
        assert_eq!(txt_string(b"a\\b\x01\xff"), "\"a\\\\b\\001\\255\"");
        let mut ch = Record::from_rdata(
            n("version.bind."),
            0,
            RData::TXT(TXT::new(vec!["1.0".to_string()])),
        );
        ch.dns_class = DNSClass::CH;
        assert_eq!(record(&ch), "version.bind.\t0\tCH\tTXT\t\"1.0\"");
    }

    proptest! {
        #[test]
        fn txt_is_one_quoted_printable_line(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s = txt_string(&bytes);
            prop_assert!(s.starts_with('"') && s.ends_with('"'));
            prop_assert!(s.bytes().all(|b| (b' '..=b'~').contains(&b)));
        }
    }
}
