//! The `udp:` module section: netdiag's own prober (blackbox has none; its users ask for one,
//! study §3). One datagram exchange with `host:port`: send `query` (text) or `query_hex`
//! (bytes), wait for one datagram back, optionally require it to match `expect` (a regex on
//! the reply's bytes). Kept this small on purpose: a protocol-specific check belongs in the
//! dns prober or in `prober: netdiag`, whose walk has its own udp layer.

use super::ConfigError;

/// netdiag's udp prober settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UdpProbe {
    /// `ip4` or `ip6` (default `ip6`, as blackbox's probers).
    pub preferred_ip_protocol: String,
    /// Use the other family when the preferred one has no address (default true).
    pub ip_protocol_fallback: bool,
    /// The local address the datagram is sent from.
    pub source_ip_address: Option<String>,
    /// The datagram as text (default: empty datagram).
    pub query: Option<String>,
    /// The datagram as hex digits (`"0001ff"`); exclusive with `query`.
    pub query_hex: Option<String>,
    /// A regex the reply must match (unanchored, on the reply's bytes); absent: any reply.
    pub expect: Option<String>,
}

impl Default for UdpProbe {
    fn default() -> UdpProbe {
        UdpProbe {
            preferred_ip_protocol: "ip6".to_string(),
            ip_protocol_fallback: true,
            source_ip_address: None,
            query: None,
            query_hex: None,
            expect: None,
        }
    }
}

/// The largest datagram sent.
pub const MAX_QUERY: usize = 65_507;

/// Decodes hex digits (whitespace ignored).
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("odd number of hex digits".to_string());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).map_err(|_| "not hex".to_string())?;
            u8::from_str_radix(s, 16).map_err(|_| format!("{s:?} is not a hex byte"))
        })
        .collect()
}

impl UdpProbe {
    /// The datagram to send.
    pub fn datagram(&self) -> Vec<u8> {
        match (&self.query, &self.query_hex) {
            (Some(q), _) => q.as_bytes().to_vec(),
            (None, Some(h)) => decode_hex(h).unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }

    /// Checks what serde cannot: exclusive fields, hex, the regex, sizes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        super::dns::check_ip_protocol(&self.preferred_ip_protocol)?;
        if self.query.is_some() && self.query_hex.is_some() {
            return Err(ConfigError(
                "udp: query and query_hex are mutually exclusive".to_string(),
            ));
        }
        if let Some(h) = &self.query_hex {
            decode_hex(h).map_err(|e| ConfigError(format!("udp: query_hex: {e}")))?;
        }
        if self.datagram().len() > MAX_QUERY {
            return Err(ConfigError(format!(
                "udp: the query is longer than {MAX_QUERY} bytes"
            )));
        }
        if let Some(re) = &self.expect {
            regex::bytes::Regex::new(re).map_err(|e| {
                let d = e.to_string();
                ConfigError(format!(
                    "udp: expect: invalid regexp {re:?}: {}",
                    d.lines().last().unwrap_or_default().trim()
                ))
            })?;
        }
        if let Some(src) = &self.source_ip_address {
            src.parse::<std::net::IpAddr>().map_err(|_| {
                ConfigError(format!(
                    "udp: source_ip_address {src:?} is not an IP address"
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
    use proptest::prelude::*;

    fn module(body: &str) -> Result<UdpProbe, ConfigError> {
        let text = format!("modules:\n  m:\n    prober: udp\n    udp:\n{body}");
        parse(&text).map(|c| c.modules["m"].udp.clone())
    }

    #[test]
    fn vectors() {
        let u = module("      query_hex: '00 01 ff'\n      expect: '^ok'\n").unwrap();
        assert_eq!(u.datagram(), vec![0, 1, 0xff]);
        assert_eq!(module("      query: ping\n").unwrap().datagram(), b"ping");
        for (body, needle) in [
            (
                "      query: a\n      query_hex: '00'\n",
                "mutually exclusive",
            ),
            ("      query_hex: '0'\n", "odd"),
            ("      query_hex: 'zz'\n", "hex"),
            ("      expect: '('\n", "expect"),
            ("      send: x\n", "send"),
        ] {
            let e = module(body).unwrap_err();
            assert!(e.0.contains(needle), "{body:?}: {e}");
        }
    }

    proptest! {
        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(decode_hex(&hex).unwrap(), bytes);
        }

        #[test]
        fn hex_never_panics(s in "\\PC{0,20}") {
            let _ = decode_hex(&s);
        }
    }
}
