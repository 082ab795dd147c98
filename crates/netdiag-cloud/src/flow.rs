//! The question asked of an estate: may SRC reach DST on PORT/PROTOCOL?
//!
//! Endpoints are given as the user typed them (an IP, a CIDR, or a provider id such as
//! `i-0abc…`, `eni-…`, a GCP instance name or an Azure NIC id); each provider resolves ids against
//! its own inventory.

use ipnet::IpNet;
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// Transport protocol of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP (IPv4) or ICMPv6; the port is ignored.
    Icmp,
}

impl Protocol {
    /// Parses `tcp`, `udp` or `icmp` (any case).
    pub fn parse(text: &str) -> Result<Protocol, FlowError> {
        match text.to_ascii_lowercase().as_str() {
            "tcp" | "6" => Ok(Protocol::Tcp),
            "udp" | "17" => Ok(Protocol::Udp),
            "icmp" | "1" | "icmpv6" | "58" => Ok(Protocol::Icmp),
            _ => Err(FlowError::Protocol(text.to_string())),
        }
    }

    /// The IANA protocol number (ICMPv6 for IPv6 flows is the provider's concern).
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Icmp => 1,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
        })
    }
}

/// One end of the flow as the user named it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndpointRef {
    /// A single address.
    Ip(IpAddr),
    /// A range (e.g. an on-premises network); rules must cover the whole range to allow it.
    Cidr(IpNet),
    /// A provider id: `i-…`, `eni-…`, a GCP instance name or self link, an Azure NIC/VM id or name.
    Id(String),
}

impl EndpointRef {
    /// Parses an IP, a CIDR, or else takes the text as an id. Empty or control characters are errors.
    pub fn parse(text: &str) -> Result<EndpointRef, FlowError> {
        let t = text.trim();
        if t.is_empty() || t.len() > 1024 || t.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(FlowError::Endpoint(text.to_string()));
        }
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(EndpointRef::Ip(ip));
        }
        if t.contains('/')
            && t.chars()
                .next()
                .is_some_and(|c| c.is_ascii_hexdigit() || c == ':')
        {
            if let Ok(net) = t.parse::<IpNet>() {
                // A /32 or /128 is just an address.
                if net.prefix_len() == net.max_prefix_len() {
                    return Ok(EndpointRef::Ip(net.addr()));
                }
                return Ok(EndpointRef::Cidr(net.trunc()));
            }
        }
        Ok(EndpointRef::Id(t.to_string()))
    }
}

impl fmt::Display for EndpointRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointRef::Ip(ip) => write!(f, "{ip}"),
            EndpointRef::Cidr(net) => write!(f, "{net}"),
            EndpointRef::Id(id) => f.write_str(id),
        }
    }
}

/// The query: SRC → DST on PORT/PROTOCOL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// Where the connection starts.
    pub src: EndpointRef,
    /// Where it goes.
    pub dst: EndpointRef,
    /// Destination port (ignored for ICMP).
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

impl Query {
    /// Builds a query from CLI text. `port` is a number 0–65535 (0 only for ICMP).
    pub fn parse(src: &str, dst: &str, port: &str, protocol: &str) -> Result<Query, FlowError> {
        let protocol = Protocol::parse(protocol)?;
        let port: u16 = port
            .trim()
            .parse()
            .map_err(|_| FlowError::Port(port.to_string()))?;
        if port == 0 && protocol != Protocol::Icmp {
            return Err(FlowError::Port("0".into()));
        }
        Ok(Query {
            src: EndpointRef::parse(src)?,
            dst: EndpointRef::parse(dst)?,
            port,
            protocol,
        })
    }
}

/// A query that cannot be asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// Not tcp/udp/icmp.
    #[error("protocol {0:?}: use tcp, udp or icmp")]
    Protocol(String),
    /// Not a port number.
    #[error("port {0:?}: use a number from 1 to 65535")]
    Port(String),
    /// Empty or garbage endpoint.
    #[error("endpoint {0:?}: use an IP address, a CIDR, or an instance/NIC id")]
    Endpoint(String),
}

/// Does `net` contain `ip`? (An IPv4 range never contains an IPv6 address and vice versa.)
pub fn net_contains(net: &IpNet, ip: IpAddr) -> bool {
    net.contains(&ip)
}

/// An address without its `/32`/`/128`, a range as a range (how every provider names an end).
pub(crate) fn display_net(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            EndpointRef::parse("10.0.1.5").unwrap(),
            EndpointRef::Ip("10.0.1.5".parse().unwrap())
        );
        assert_eq!(
            EndpointRef::parse("10.0.1.5/32").unwrap(),
            EndpointRef::Ip("10.0.1.5".parse().unwrap())
        );
        assert_eq!(
            EndpointRef::parse("10.0.1.77/24").unwrap(),
            EndpointRef::Cidr("10.0.1.0/24".parse().unwrap())
        );
        assert_eq!(
            EndpointRef::parse("i-0abc").unwrap(),
            EndpointRef::Id("i-0abc".into())
        );
        assert_eq!(
            EndpointRef::parse("/subscriptions/x/nic").unwrap(),
            EndpointRef::Id("/subscriptions/x/nic".into())
        );
        for bad in ["", " ", "a b", "x\u{0}"] {
            assert!(EndpointRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn queries() {
        let q = Query::parse("10.0.0.1", "i-1", "443", "TCP").unwrap();
        assert_eq!(q.port, 443);
        assert_eq!(q.protocol, Protocol::Tcp);
        assert!(Query::parse("a", "b", "0", "tcp").is_err());
        assert!(Query::parse("a", "b", "0", "icmp").is_ok());
        assert!(Query::parse("a", "b", "70000", "tcp").is_err());
        assert!(Query::parse("a", "b", "80", "gre").is_err());
    }
}
