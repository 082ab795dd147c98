//! The `dns:` module section, with blackbox_exporter's field names and defaults
//! (config/config.go `DNSProbe`): the query is fixed per module (one module per query name, by
//! blackbox's design), the target of a probe is the nameserver.
//!
//! Names are checked here, at load, as blackbox does (`dns.StringToType`, `StringToClass`,
//! `StringToRcode`, and the regexes compile), so a typo is a config error rather than a probe that
//! always fails. `dns_over_tls` and its `tls_config` are accepted by serde and refused by
//! [`DnsProbe::validate`]: netdiag does not implement DoT in this prober.

use super::ConfigError;
use hickory_proto::rr::{DNSClass, RecordType};
use std::str::FromStr;

/// blackbox's dns prober settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsProbe {
    /// `ip4` or `ip6` (default `ip6`).
    pub preferred_ip_protocol: String,
    /// Use the other family when the preferred one has no address (default true).
    pub ip_protocol_fallback: bool,
    /// The local address the query is sent from.
    pub source_ip_address: Option<String>,
    /// `udp` (default) or `tcp`.
    pub transport_protocol: String,
    /// DNS over TLS: refused (not implemented by netdiag).
    pub dns_over_tls: bool,
    /// TLS settings for DoT: refused when set (not implemented by netdiag).
    pub tls_config: Option<TlsConfig>,
    /// The name asked (required).
    pub query_name: String,
    /// The type asked, a miekg/dns type name (default `ANY`).
    pub query_type: String,
    /// The class asked (default `IN`; `CH`, `HS`, `NONE`, `ANY`, `CS`).
    pub query_class: String,
    /// The RD bit (default true).
    pub recursion_desired: bool,
    /// The rcodes that pass (default `[NOERROR]`).
    pub valid_rcodes: Vec<String>,
    /// Checks on the answer section.
    pub validate_answer_rrs: RrValidator,
    /// Checks on the authority section.
    pub validate_authority_rrs: RrValidator,
    /// Checks on the additional section.
    pub validate_additional_rrs: RrValidator,
}

impl Default for DnsProbe {
    fn default() -> DnsProbe {
        DnsProbe {
            preferred_ip_protocol: "ip6".to_string(),
            ip_protocol_fallback: true,
            source_ip_address: None,
            transport_protocol: "udp".to_string(),
            dns_over_tls: false,
            tls_config: None,
            query_name: String::new(),
            query_type: "ANY".to_string(),
            query_class: "IN".to_string(),
            recursion_desired: true,
            valid_rcodes: vec!["NOERROR".to_string()],
            validate_answer_rrs: RrValidator::default(),
            validate_authority_rrs: RrValidator::default(),
            validate_additional_rrs: RrValidator::default(),
        }
    }
}

/// prometheus/common's `tls_config`, accepted so that it can be refused by name.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Skip certificate verification.
    pub insecure_skip_verify: bool,
    /// CA bundle.
    pub ca_file: Option<String>,
    /// Client certificate.
    pub cert_file: Option<String>,
    /// Client key.
    pub key_file: Option<String>,
    /// Server name to verify.
    pub server_name: Option<String>,
    /// Lowest TLS version.
    pub min_version: Option<String>,
    /// Highest TLS version.
    pub max_version: Option<String>,
}

/// blackbox's `DNSRRValidator`: regexes matched (unanchored, as Go's `regexp.MatchString`)
/// against each RR's miekg/dns presentation text.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RrValidator {
    /// Fail if any RR matches any of these.
    pub fail_if_matches_regexp: Vec<String>,
    /// Fail if every RR matches one of these (also with no RRs).
    pub fail_if_all_match_regexp: Vec<String>,
    /// Fail if any RR does not match one of these (and when there is no RR).
    pub fail_if_not_matches_regexp: Vec<String>,
    /// Fail if no RR matches one of these (and when there is no RR).
    pub fail_if_none_matches_regexp: Vec<String>,
}

impl RrValidator {
    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        for (key, list) in [
            ("fail_if_matches_regexp", &self.fail_if_matches_regexp),
            ("fail_if_all_match_regexp", &self.fail_if_all_match_regexp),
            (
                "fail_if_not_matches_regexp",
                &self.fail_if_not_matches_regexp,
            ),
            (
                "fail_if_none_matches_regexp",
                &self.fail_if_none_matches_regexp,
            ),
        ] {
            for re in list {
                regex::Regex::new(re).map_err(|e| {
                    let detail = e.to_string();
                    let first = detail.lines().last().unwrap_or_default().trim();
                    ConfigError(format!(
                        "dns: {section}.{key}: invalid regexp {re:?}: {first}"
                    ))
                })?;
            }
        }
        Ok(())
    }
}

/// miekg/dns `RcodeToString` names, by value.
pub const RCODE_NAMES: [(&str, u16); 20] = [
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
    ("BADSIG", 16),
    ("BADVERS", 16),
    ("BADKEY", 17),
    ("BADTIME", 18),
    ("BADMODE", 19),
    ("BADNAME", 20),
    ("BADALG", 21),
    ("BADTRUNC", 22),
    ("BADCOOKIE", 23),
];

/// The value of an rcode name (miekg's `StringToRcode`, case-sensitive as in blackbox).
pub fn rcode_value(name: &str) -> Option<u16> {
    RCODE_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
}

/// The name blackbox and miekg print for an rcode (`RCODE123` when unnamed).
pub fn rcode_name(value: u16) -> String {
    RCODE_NAMES
        .iter()
        .find(|(_, v)| *v == value)
        .map_or_else(|| format!("RCODE{value}"), |(n, _)| (*n).to_string())
}

/// The record type of a miekg type name (`A`, `AAAA`, `ANY`, `SOA`, …; upper case only).
pub fn record_type(name: &str) -> Option<RecordType> {
    if name.is_empty() || name != name.to_ascii_uppercase() {
        return None;
    }
    match RecordType::from_str(name) {
        Ok(RecordType::Unknown(_)) | Err(_) => None,
        Ok(t) => Some(t),
    }
}

/// The class of a miekg class name (`IN`, `CS`, `CH`, `HS`, `NONE`, `ANY`).
pub fn dns_class(name: &str) -> Option<DNSClass> {
    match name {
        "IN" => Some(DNSClass::IN),
        "CS" => Some(DNSClass::Unknown(2)),
        "CH" => Some(DNSClass::CH),
        "HS" => Some(DNSClass::HS),
        "NONE" => Some(DNSClass::NONE),
        "ANY" => Some(DNSClass::ANY),
        _ => None,
    }
}

impl DnsProbe {
    /// Checks what serde cannot: the required name, type/class/rcode names, regexes, and the
    /// fields netdiag does not implement.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.dns_over_tls {
            return Err(ConfigError(
                "field dns_over_tls is not implemented by netdiag".to_string(),
            ));
        }
        if self.tls_config.is_some() {
            return Err(ConfigError(
                "field tls_config is not implemented by netdiag (dns prober)".to_string(),
            ));
        }
        if self.query_name.is_empty() {
            return Err(ConfigError("dns: query name must be set".to_string()));
        }
        hickory_proto::rr::Name::from_ascii(&self.query_name).map_err(|e| {
            ConfigError(format!(
                "dns: invalid query_name {:?}: {e}",
                self.query_name
            ))
        })?;
        check_ip_protocol(&self.preferred_ip_protocol)?;
        if let Some(src) = &self.source_ip_address {
            src.parse::<std::net::IpAddr>().map_err(|_| {
                ConfigError(format!(
                    "dns: source_ip_address {src:?} is not an IP address"
                ))
            })?;
        }
        if !matches!(self.transport_protocol.as_str(), "udp" | "tcp") {
            return Err(ConfigError(format!(
                "dns: transport_protocol {:?} is not udp or tcp",
                self.transport_protocol
            )));
        }
        if record_type(&self.query_type).is_none() {
            return Err(ConfigError(format!(
                "dns: invalid query_type {:?}",
                self.query_type
            )));
        }
        if dns_class(&self.query_class).is_none() {
            return Err(ConfigError(format!(
                "dns: invalid query_class {:?}",
                self.query_class
            )));
        }
        for rc in &self.valid_rcodes {
            if rcode_value(rc).is_none() {
                return Err(ConfigError(format!(
                    "dns: invalid rcode {rc:?} in valid_rcodes"
                )));
            }
        }
        self.validate_answer_rrs.validate("validate_answer_rrs")?;
        self.validate_authority_rrs
            .validate("validate_authority_rrs")?;
        self.validate_additional_rrs
            .validate("validate_additional_rrs")
    }
}

/// `preferred_ip_protocol` must be `ip4` or `ip6` (blackbox reads anything else as ip6; netdiag
/// refuses it so a typo is seen).
pub(crate) fn check_ip_protocol(value: &str) -> Result<(), ConfigError> {
    if matches!(value, "ip4" | "ip6") {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "preferred_ip_protocol {value:?} is not ip4 or ip6"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, ProberKind};
    use super::*;

    fn module(body: &str) -> Result<DnsProbe, ConfigError> {
        let text = format!("modules:\n  m:\n    prober: dns\n    dns:\n{body}");
        parse(&text).map(|c| c.modules["m"].dns.clone())
    }

    #[test]
    fn defaults_are_blackboxs() {
        let d = module("      query_name: example.com\n").unwrap();
        assert_eq!(d.preferred_ip_protocol, "ip6");
        assert!(d.ip_protocol_fallback);
        assert_eq!(d.transport_protocol, "udp");
        assert_eq!(d.query_type, "ANY");
        assert_eq!(d.query_class, "IN");
        assert!(d.recursion_desired);
        assert_eq!(d.valid_rcodes, vec!["NOERROR".to_string()]);
        let c = parse("modules:\n  m:\n    prober: dns\n    dns:\n      query_name: a\n").unwrap();
        assert_eq!(c.modules["m"].prober, ProberKind::Dns);
    }

    #[test]
    fn config_errors_name_the_problem() {
        let cases = [
            ("      query_type: A\n", "query name"),
            ("      query_name: a\n      query_type: NOPE\n", "query_type"),
            ("      query_name: a\n      query_type: a\n", "query_type"),
            ("      query_name: a\n      query_class: XX\n", "query_class"),
            ("      query_name: a\n      valid_rcodes: [NOERROR, BOGUS]\n", "BOGUS"),
            ("      query_name: a\n      transport_protocol: sctp\n", "sctp"),
            ("      query_name: a\n      dns_over_tls: true\n", "dns_over_tls is not implemented"),
            ("      query_name: a\n      tls_config: {insecure_skip_verify: true}\n", "tls_config"),
            ("      query_name: a\n      preferred_ip_protocol: ip5\n", "ip5"),
            ("      query_name: a\n      nosuch: 1\n", "nosuch"),
            (
                "      query_name: a\n      validate_answer_rrs:\n        fail_if_matches_regexp: ['(']\n",
                "validate_answer_rrs.fail_if_matches_regexp",
            ),
            (
                "      query_name: a\n      validate_answer_rrs:\n        fail_if_typo: ['x']\n",
                "fail_if_typo",
            ),
        ];
        for (body, needle) in cases {
            let e = module(body).unwrap_err();
            assert!(e.0.contains(needle), "{body:?}: {e}");
            assert!(!e.0.contains('\n'), "{e}");
        }
    }

    #[test]
    fn full_module_parses() {
        let d = module(
            "      query_name: example.com\n      query_type: SOA\n      query_class: CH\n      transport_protocol: tcp\n      recursion_desired: false\n      valid_rcodes: [SERVFAIL, NXDOMAIN]\n      validate_answer_rrs:\n        fail_if_matches_regexp: ['.*7200.*']\n        fail_if_not_matches_regexp: ['.*3600.*']\n",
        )
        .unwrap();
        assert_eq!(d.query_type, "SOA");
        assert!(!d.recursion_desired);
        assert_eq!(d.validate_answer_rrs.fail_if_not_matches_regexp.len(), 1);
    }

    #[test]
    fn names_round_trip() {
        for t in [
            "A", "AAAA", "ANY", "SOA", "TXT", "MX", "NS", "PTR", "SRV", "CNAME", "CAA",
        ] {
            assert!(record_type(t).is_some(), "{t}");
        }
        assert_eq!(rcode_value("REFUSED"), Some(5));
        assert_eq!(rcode_name(5), "REFUSED");
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(99), "RCODE99");
        assert!(rcode_value("noerror").is_none());
        assert!(dns_class("CH").is_some());
    }
}
