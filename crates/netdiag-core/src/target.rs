//! Parsing what the user typed as TARGET into a validated [`Target`].
//!
//! Accepted forms (contract §1): `https://host[:port][/path]`, `http://…`, `tcp://host:port`,
//! `udp://host:port`, `host:port` (TCP) and `host` (resolution only). `host` is a name, an IPv4
//! address or a bracketed IPv6 address. Anything else is a [`TargetError`], which the binary turns
//! into exit status 2 with a one-line message.

use serde::Serialize;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use thiserror::Error;

/// The scheme of a target, which decides the transport and the layers walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// `https://`: TCP, default port 443.
    Https,
    /// `http://`: TCP, default port 80.
    Http,
    /// `tcp://` or `host:port`.
    Tcp,
    /// `udp://`.
    Udp,
    /// A bare host: resolution only.
    Dns,
}

impl Scheme {
    /// The scheme name as written in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
            Scheme::Tcp => "tcp",
            Scheme::Udp => "udp",
            Scheme::Dns => "dns",
        }
    }
}

/// The host part of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name, lower-cased, without a trailing dot unless the user wrote one.
    Name(String),
    /// An IP address literal.
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
        }
    }
}

/// A validated target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What the user typed.
    pub input: String,
    /// The scheme.
    pub scheme: Scheme,
    /// The host.
    pub host: Host,
    /// The port, `None` for a bare host.
    pub port: Option<u16>,
    /// The path for http(s) targets (starts with `/`).
    pub path: Option<String>,
}

impl Target {
    /// The host as it appears in JSON (`host` field): the name, or the address without brackets.
    pub fn host_text(&self) -> String {
        match &self.host {
            Host::Name(n) => n.clone(),
            Host::Ip(ip) => ip.to_string(),
        }
    }

    /// `host:port` for display, with brackets for IPv6.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }

    /// Where a `Location` header sent from this URL points, resolved as a browser does
    /// (absolute, scheme-relative or a path); `None` unless it is an http(s) target.
    pub fn redirect(&self, location: &str) -> Option<Target> {
        let loc = location.trim();
        let url = if loc.contains("://") {
            loc.to_string()
        } else if let Some(rest) = loc.strip_prefix("//") {
            format!("{}://{rest}", self.scheme.name())
        } else if loc.starts_with('/') {
            format!("{}://{}{loc}", self.scheme.name(), self.authority())
        } else {
            let base = self.path.clone().unwrap_or_else(|| "/".into());
            let dir = base.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            format!("{}://{}{dir}/{loc}", self.scheme.name(), self.authority())
        };
        parse_target(&url)
            .ok()
            .filter(|t| matches!(t.scheme, Scheme::Http | Scheme::Https))
    }
}

/// Why a target could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    /// The target is empty.
    #[error("the target is empty; give a host, host:port or a URL such as https://host/")]
    Empty,
    /// A scheme netdiag does not know.
    #[error("unsupported scheme '{0}://'; use https://, http://, tcp:// or udp://")]
    UnknownScheme(String),
    /// The port is not a number from 1 to 65535.
    #[error("invalid port '{0}': a port is a number from 1 to 65535")]
    BadPort(String),
    /// tcp:// and udp:// need a port.
    #[error("{0}:// needs a port, e.g. {0}://host:5432")]
    MissingPort(&'static str),
    /// An IPv6 literal without its closing bracket, or similar.
    #[error("invalid IPv6 literal '{0}': write it in brackets, e.g. [2001:db8::1]:443")]
    BadIpv6(String),
    /// The host is not a valid name or address.
    #[error("invalid host '{0}': {1}")]
    BadHost(String, &'static str),
    /// Extra text after host:port where no path is allowed.
    #[error("unexpected '{0}' after host:port; only http(s) targets take a path")]
    UnexpectedPath(String),
}

const MAX_INPUT: usize = 2048;

/// Parses a TARGET argument.
pub fn parse_target(input: &str) -> Result<Target, TargetError> {
    let raw = input.trim();
    if raw.is_empty() {
        return Err(TargetError::Empty);
    }
    if raw.len() > MAX_INPUT {
        return Err(TargetError::BadHost(
            format!("{}…", truncate(raw, 40)),
            "the target is longer than 2048 bytes",
        ));
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(TargetError::BadHost(
            truncate(raw, 80),
            "it contains spaces or control characters",
        ));
    }
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, rest)) => {
            let scheme = match s.to_ascii_lowercase().as_str() {
                "https" => Scheme::Https,
                "http" => Scheme::Http,
                "tcp" => Scheme::Tcp,
                "udp" => Scheme::Udp,
                _ => return Err(TargetError::UnknownScheme(truncate(s, 40))),
            };
            (Some(scheme), rest)
        }
        None => (None, raw),
    };
    let (authority, path) = match scheme {
        Some(Scheme::Https) | Some(Scheme::Http) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (a, p) = rest.split_at(end);
            let path = if p.is_empty() {
                "/".to_string()
            } else if p.starts_with('/') {
                p.to_string()
            } else {
                format!("/{p}")
            };
            (a, Some(path))
        }
        _ => {
            let a = rest.strip_suffix('/').unwrap_or(rest);
            if let Some(i) = a.find(['/', '?', '#']) {
                return Err(TargetError::UnexpectedPath(truncate(&a[i..], 40)));
            }
            (a, None)
        }
    };
    // Userinfo is never needed for a connectivity check, and would leak into reports.
    if authority.contains('@') {
        return Err(TargetError::BadHost(
            truncate(authority, 80),
            "credentials (user@) do not belong in the target",
        ));
    }
    let (host, port_text) = split_host_port(authority)?;
    let host = parse_host(host)?;
    let port = match port_text {
        Some(p) => Some(parse_port(p)?),
        None => None,
    };
    let (scheme, port) = match (scheme, port) {
        (Some(Scheme::Https), p) => (Scheme::Https, Some(p.unwrap_or(443))),
        (Some(Scheme::Http), p) => (Scheme::Http, Some(p.unwrap_or(80))),
        (Some(Scheme::Tcp), Some(p)) => (Scheme::Tcp, Some(p)),
        (Some(Scheme::Tcp), None) => return Err(TargetError::MissingPort("tcp")),
        (Some(Scheme::Udp), Some(p)) => (Scheme::Udp, Some(p)),
        (Some(Scheme::Udp), None) => return Err(TargetError::MissingPort("udp")),
        (Some(Scheme::Dns), p) => (Scheme::Dns, p),
        (None, Some(p)) => (Scheme::Tcp, Some(p)),
        (None, None) => (Scheme::Dns, None),
    };
    Ok(Target {
        input: input.to_string(),
        scheme,
        host,
        port,
        path,
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), TargetError> {
    if authority.is_empty() {
        return Err(TargetError::BadHost(String::new(), "the host is empty"));
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(TargetError::BadIpv6(truncate(authority, 80)));
        };
        let host = &rest[..close];
        let after = &rest[close + 1..];
        if after.is_empty() {
            return Ok((host, None));
        }
        match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(p))),
            None => Err(TargetError::BadIpv6(truncate(authority, 80))),
        }
    } else {
        match authority.matches(':').count() {
            0 => Ok((authority, None)),
            1 => {
                let (h, p) = authority.split_once(':').unwrap_or((authority, ""));
                Ok((h, Some(p)))
            }
            // Several colons without brackets: an IPv6 literal written bare. Accept it only when
            // it is a whole address (no port can be told apart).
            _ => {
                if authority.parse::<Ipv6Addr>().is_ok() {
                    Ok((authority, None))
                } else {
                    Err(TargetError::BadIpv6(truncate(authority, 80)))
                }
            }
        }
    }
}

fn parse_port(text: &str) -> Result<u16, TargetError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TargetError::BadPort(truncate(text, 20)));
    }
    match text.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err(TargetError::BadPort(truncate(text, 20))),
    }
}

fn parse_host(host: &str) -> Result<Host, TargetError> {
    if host.is_empty() {
        return Err(TargetError::BadHost(String::new(), "the host is empty"));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    if host.contains(':') {
        return Err(TargetError::BadIpv6(truncate(host, 80)));
    }
    let lower = host.to_ascii_lowercase();
    validate_name(&lower).map_err(|why| TargetError::BadHost(truncate(host, 80), why))?;
    // A dotted-quad-looking name that did not parse as IPv4 is a typo, not a name.
    if lower
        .split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(TargetError::BadHost(
            truncate(host, 80),
            "it looks like an IPv4 address but is not one",
        ));
    }
    Ok(Host::Name(lower))
}

/// Checks a DNS name against the rules a resolver would enforce (RFC 1035 lengths; letters,
/// digits, hyphen and underscore in labels). Non-ASCII names must be given in punycode.
pub fn validate_name(name: &str) -> Result<(), &'static str> {
    if !name.is_ascii() {
        return Err("non-ASCII names must be written in punycode (xn--…)");
    }
    let body = name.strip_suffix('.').unwrap_or(name);
    if body.is_empty() {
        return Err("the name is empty");
    }
    if body.len() > 253 {
        return Err("the name is longer than 253 characters");
    }
    for label in body.split('.') {
        if label.is_empty() {
            return Err("the name has an empty label (two dots in a row)");
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("a label has a character other than letters, digits, '-' or '_'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with '-'");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_like_a_browser() {
        let from = parse_target("https://a.test:8443/x/y?q").unwrap();
        let cases = [
            ("https://b.test/z", "https://b.test/z"),
            ("//c.test/p", "https://c.test/p"),
            ("/root", "https://a.test:8443/root"),
        ];
        for (location, want) in cases {
            let got = from.redirect(location).map(|t| t.input);
            assert_eq!(got.as_deref(), Some(want), "{location}");
        }
        assert!(from.redirect("ftp://d.test/").is_none());
    }
    use proptest::prelude::*;

    fn ok(s: &str) -> Target {
        parse_target(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn forms() {
        let t = ok("https://API.example.com/v1?x=1");
        assert_eq!(
            (t.scheme, t.port, t.path.as_deref()),
            (Scheme::Https, Some(443), Some("/v1?x=1"))
        );
        assert_eq!(t.host, Host::Name("api.example.com".into()));
        let t = ok("http://10.0.0.1:8080");
        assert_eq!(
            (t.scheme, t.port, t.path.as_deref()),
            (Scheme::Http, Some(8080), Some("/"))
        );
        let t = ok("tcp://db:5432");
        assert_eq!((t.scheme, t.port), (Scheme::Tcp, Some(5432)));
        let t = ok("udp://[::1]:53");
        assert_eq!(
            (t.scheme, t.port, t.host.clone()),
            (Scheme::Udp, Some(53), Host::Ip("::1".parse().unwrap()))
        );
        let t = ok("example.com:443");
        assert_eq!((t.scheme, t.port), (Scheme::Tcp, Some(443)));
        let t = ok("example.com");
        assert_eq!((t.scheme, t.port), (Scheme::Dns, None));
        let t = ok("[2001:db8::1]");
        assert_eq!(t.scheme, Scheme::Dns);
        let t = ok("2001:db8::1");
        assert_eq!(t.host, Host::Ip("2001:db8::1".parse().unwrap()));
        let t = ok("https://[2001:db8::1]:8443/");
        assert_eq!(
            (t.port, t.authority()),
            (Some(8443), "[2001:db8::1]:8443".to_string())
        );
        let t = ok("tcp://host:1/");
        assert_eq!(t.port, Some(1));
    }

    #[test]
    fn bad_inputs() {
        for bad in [
            "",
            "   ",
            "tcp://host",
            "udp://host",
            "tcp://host:0",
            "tcp://host:65536",
            "tcp://host:99999",
            "host:abc",
            "http://[::1",
            "http://[::1]x",
            "ftp://host",
            "host:80/path",
            "ho st",
            "a..b",
            "-a.com",
            "http://",
            "tcp://:80",
            "999.1.1.1",
            "1.2.3",
            "[zz::1]",
            "münchen.de",
            "a:b:c",
            "http://user:pw@host/",
            "host:+80",
            "host:-1",
        ] {
            assert!(parse_target(bad).is_err(), "accepted {bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = parse_target(&s);
        }

        #[test]
        fn never_panics_on_url_like(s in "(https?|tcp|udp)://[\\[\\]:a-z0-9./@-]{0,40}") {
            let _ = parse_target(&s);
        }
    }
}
