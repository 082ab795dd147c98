//! The `icmp:` module section, with blackbox_exporter's field names and defaults
//! (config/config.go `ICMPProbe`).

use super::ConfigError;

/// blackbox's icmp prober settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IcmpProbe {
    /// `ip4` or `ip6` (default `ip6`).
    pub preferred_ip_protocol: String,
    /// Use the other family when the preferred one has no address (default true).
    pub ip_protocol_fallback: bool,
    /// The local address the echo request is sent from.
    pub source_ip_address: Option<String>,
    /// The echo payload length; 0 sends blackbox's "Prometheus Blackbox Exporter".
    pub payload_size: i64,
    /// Set DF (IPv4 only; needs a raw socket, as in blackbox).
    pub dont_fragment: bool,
    /// The TTL / hop limit of the request (0: the system default).
    pub ttl: i64,
}

impl Default for IcmpProbe {
    fn default() -> IcmpProbe {
        IcmpProbe {
            preferred_ip_protocol: "ip6".to_string(),
            ip_protocol_fallback: true,
            source_ip_address: None,
            payload_size: 0,
            dont_fragment: false,
            ttl: 0,
        }
    }
}

/// The largest payload accepted (an IPv4 datagram's limit minus the headers).
pub const MAX_PAYLOAD: i64 = 65_507;

impl IcmpProbe {
    /// Checks what serde cannot: ranges and the address family.
    pub fn validate(&self) -> Result<(), ConfigError> {
        super::dns::check_ip_protocol(&self.preferred_ip_protocol)?;
        if self.ttl < 0 {
            return Err(ConfigError("icmp: negative ttl".to_string()));
        }
        if self.ttl > 255 {
            return Err(ConfigError(
                "icmp: ttl cannot be greater than 255".to_string(),
            ));
        }
        if !(0..=MAX_PAYLOAD).contains(&self.payload_size) {
            return Err(ConfigError(format!(
                "icmp: payload_size {} is not within 0..={MAX_PAYLOAD}",
                self.payload_size
            )));
        }
        if let Some(src) = &self.source_ip_address {
            src.parse::<std::net::IpAddr>().map_err(|_| {
                ConfigError(format!(
                    "icmp: source_ip_address {src:?} is not an IP address"
                ))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn module(body: &str) -> Result<IcmpProbe, ConfigError> {
        let text = format!("modules:\n  m:\n    prober: icmp\n    icmp:\n{body}");
        parse(&text).map(|c| c.modules["m"].icmp.clone())
    }

    #[test]
    fn defaults_and_blackboxs_icmp_ttl5() {
        let d = parse("modules:\n  icmp:\n    prober: icmp\n")
            .unwrap()
            .modules["icmp"]
            .icmp
            .clone();
        assert_eq!(d, IcmpProbe::default());
        let t = module("      preferred_ip_protocol: ip4\n      ttl: 5\n      dont_fragment: true\n      payload_size: 100\n").unwrap();
        assert_eq!((t.ttl, t.payload_size, t.dont_fragment), (5, 100, true));
    }

    #[test]
    fn range_and_key_errors() {
        for (body, needle) in [
            ("      ttl: 256\n", "greater than 255"),
            ("      ttl: -1\n", "negative ttl"),
            ("      payload_size: -5\n", "payload_size"),
            ("      payload_size: 100000\n", "payload_size"),
            ("      source_ip_address: nope\n", "nope"),
            ("      preferred_ip_protocol: ipv4\n", "ipv4"),
            ("      count: 3\n", "count"),
        ] {
            let e = module(body).unwrap_err();
            assert!(e.0.contains(needle), "{body:?}: {e}");
        }
        assert!(module("      ttl: 255\n").is_ok());
        assert!(module("      ttl: 0\n").is_ok());
    }
}
