//! The `allow:` section: which targets `/probe` may reach (CIDRs, host patterns, ports).
//!
//! Why: a prober reachable by anyone who can scrape it is an SSRF gadget; the allow-list bounds
//! it to the estate it is meant to watch.
//!
//! The rule (each list that is non-empty must admit the target; an empty list admits anything):
//! - `ports`: the target's port (explicit, or the scheme's default: http 80, https 443) is listed.
//! - `hosts`: a target given by *name* matches one pattern (`db.example.com` exactly, or
//!   `*.example.com`: any name strictly below `example.com`), checked before any resolution.
//!   An IP literal is not a name: `hosts` does not apply to it.
//! - `cidrs`: an IP literal is inside one CIDR; a name is resolved (system resolver, inside the
//!   probe's deadline) and **every** address it resolves to must be inside one CIDR, so a name
//!   cannot point the prober at an address outside the list. The probe resolves again; a name
//!   whose answer changes between the two look-ups (rebinding) is not covered by this check.

use std::net::IpAddr;

/// The allow-list.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AllowList {
    /// Networks a target's addresses must be inside (`10.0.0.0/8`, `::1/128`, `127.0.0.1`).
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// Host name patterns (`db.example.com`, `*.example.com`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Ports a target may use.
    #[serde(default)]
    pub ports: Vec<u16>,
}

/// One parsed CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n`, or a bare address (a host route).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("allow: {text:?} is not a CIDR");
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A target split into what the allow-list looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetParts {
    /// The host: a name (lower case, no trailing dot) or an IP literal.
    pub host: String,
    /// The port, when the target has one or its scheme implies one.
    pub port: Option<u16>,
}

/// Splits `http(s)://host[:port]/…`, `tcp://host:port`, `host:port`, `[v6]:port`, `host`.
pub fn target_parts(target: &str) -> Option<TargetParts> {
    let t = target.trim();
    let (scheme, rest) = match t.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, t),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let default_port = match scheme.as_deref() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        (h.to_string(), port)
    } else if authority.parse::<IpAddr>().is_ok() {
        (authority.to_string(), None)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse().ok()?)),
            None => (authority.to_string(), None),
        }
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    Some(TargetParts {
        host,
        port: port.or(default_port),
    })
}

/// Whether a host name matches a pattern (`*.example.com` or an exact name).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        None => pattern == host,
    }
}

/// Why a target was refused (the text of the 403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl AllowList {
    /// Checks the CIDRs and patterns.
    pub fn validate(&self) -> Result<(), super::ConfigError> {
        for c in &self.cidrs {
            Cidr::parse(c).map_err(super::ConfigError)?;
        }
        for h in &self.hosts {
            let body = h.strip_prefix("*.").unwrap_or(h);
            if body.is_empty()
                || body.contains('*')
                || !body
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
            {
                return Err(super::ConfigError(format!(
                    "allow: host pattern {h:?} is not a name or *.name"
                )));
            }
        }
        Ok(())
    }

    fn parsed_cidrs(&self) -> Vec<Cidr> {
        self.cidrs
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .collect()
    }

    /// The checks that need no resolution. `Ok(Some(host))` when the host is a name whose
    /// addresses must still be checked against the CIDRs ([`AllowList::check_addresses`]).
    pub fn check_static(&self, target: &str) -> Result<Option<String>, Refusal> {
        let parts = target_parts(target).ok_or_else(|| {
            Refusal(format!(
                "target {target:?} has no host the allow-list can check"
            ))
        })?;
        if !self.ports.is_empty() && !parts.port.is_some_and(|p| self.ports.contains(&p)) {
            return Err(Refusal(format!(
                "target {target:?}: port not in the allow-list"
            )));
        }
        if let Ok(ip) = parts.host.parse::<IpAddr>() {
            if !self.cidrs.is_empty() && !self.parsed_cidrs().iter().any(|c| c.contains(ip)) {
                return Err(Refusal(format!(
                    "target {target:?}: address not in the allow-list"
                )));
            }
            return Ok(None);
        }
        if !self.hosts.is_empty() && !self.hosts.iter().any(|p| host_matches(p, &parts.host)) {
            return Err(Refusal(format!(
                "target {target:?}: host not in the allow-list"
            )));
        }
        Ok((!self.cidrs.is_empty()).then_some(parts.host))
    }

    /// Every resolved address must be inside a CIDR (none resolved: refused).
    pub fn check_addresses(&self, target: &str, addrs: &[IpAddr]) -> Result<(), Refusal> {
        let cidrs = self.parsed_cidrs();
        if addrs.is_empty() || !addrs.iter().all(|ip| cidrs.iter().any(|c| c.contains(*ip))) {
            return Err(Refusal(format!(
                "target {target:?}: resolves outside the allow-list"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn list(cidrs: &[&str], hosts: &[&str], ports: &[u16]) -> AllowList {
        AllowList {
            cidrs: cidrs.iter().map(|s| (*s).to_string()).collect(),
            hosts: hosts.iter().map(|s| (*s).to_string()).collect(),
            ports: ports.to_vec(),
        }
    }

    #[test]
    fn cidrs_contain() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope/8").is_err());
        assert_eq!(Cidr::parse("127.0.0.1").unwrap().prefix, 32);
    }

    #[test]
    fn targets_split() {
        let p = target_parts("https://Db.Example.com./x?y").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("db.example.com", Some(443)));
        let p = target_parts("127.0.0.1:8080").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", Some(8080)));
        let p = target_parts("[::1]:53").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", Some(53)));
        let p = target_parts("::1").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", None));
        let p = target_parts("http://u:pw@h:81/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("h", Some(81)));
        assert!(target_parts("h:notaport").is_none());
        assert!(target_parts("").is_none());
    }

    #[test]
    fn host_patterns() {
        assert!(host_matches("*.example.com", "a.example.com"));
        assert!(host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "badexample.com"));
        assert!(host_matches("db.example.com", "db.example.com"));
    }

    #[test]
    fn the_rule() {
        let a = list(&["127.0.0.0/8"], &["*.internal"], &[80, 9000]);
        assert_eq!(a.check_static("http://127.0.0.1/"), Ok(None));
        assert!(a.check_static("127.0.0.1:22").is_err());
        assert!(a.check_static("10.0.0.1:80").is_err());
        assert!(a.check_static("evil.com:80").is_err());
        assert_eq!(
            a.check_static("web.internal:9000"),
            Ok(Some("web.internal".to_string()))
        );
        let ok = ["127.0.0.5".parse().unwrap()];
        let bad = ["127.0.0.5".parse().unwrap(), "203.0.113.8".parse().unwrap()];
        assert!(a.check_addresses("t", &ok).is_ok());
        assert!(a.check_addresses("t", &bad).is_err());
        assert!(a.check_addresses("t", &[]).is_err());
        assert_eq!(AllowList::default().check_static("anything:1"), Ok(None));
    }

    #[test]
    fn validation() {
        assert!(list(&["10.0.0.0/8"], &["*.a.b"], &[]).validate().is_ok());
        assert!(list(&["10.0.0.0/99"], &[], &[]).validate().is_err());
        assert!(list(&[], &["a.*.b"], &[]).validate().is_err());
        assert!(list(&[], &["*."], &[]).validate().is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,60}") {
            let _ = target_parts(&s);
            let _ = Cidr::parse(&s);
            let _ = list(&["10.0.0.0/8"], &["*.x"], &[1]).check_static(&s);
        }
    }
}
