//! DNS64/NAT64: is an IPv6 address one a DNS64 resolver synthesized from an A record?
//!
//! On an IPv6-only network a DNS64 resolver answers AAAA for a name that has only an A by
//! embedding the IPv4 address in a NAT64 prefix (RFC 6147); a translator then carries the
//! packets to the IPv4 server. When such an address times out, the server is not the suspect:
//! the translator for that prefix is. This module knows the address layout (RFC 6052: the
//! prefix lengths /32 /40 /48 /56 /64 /96, with bits 64-71 reserved), the well-known prefix
//! `64:ff9b::/96`, and how a host learns a network-specific prefix from the AAAA of
//! `ipv4only.arpa` (RFC 7050: the well-known addresses 192.0.0.170 and 192.0.0.171 embedded).
//! Pure data in, data out.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The name whose AAAA tells a host its NAT64 prefix (RFC 7050).
pub const DISCOVERY_NAME: &str = "ipv4only.arpa.";

/// The IPv4 addresses of `ipv4only.arpa` (RFC 7050 section 2.2).
const WELL_KNOWN_V4: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 0, 170), Ipv4Addr::new(192, 0, 0, 171)];

/// The prefix lengths RFC 6052 allows, longest first (the /96 is the common one).
const LENGTHS: [u8; 6] = [96, 64, 56, 48, 40, 32];

/// A NAT64 prefix: the network part of a synthesized address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// The prefix, with every bit after `len` zero.
    pub network: Ipv6Addr,
    /// 32, 40, 48, 56, 64 or 96.
    pub len: u8,
}

impl Prefix {
    /// The well-known prefix `64:ff9b::/96` (RFC 6052 section 2.1).
    pub const WELL_KNOWN: Prefix = Prefix {
        network: Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
        len: 96,
    };

    /// A prefix from its network and length; `None` for a length RFC 6052 does not allow.
    pub fn new(network: Ipv6Addr, len: u8) -> Option<Prefix> {
        LENGTHS.contains(&len).then(|| Prefix {
            network: mask(network, len),
            len,
        })
    }

    /// Whether `addr` lies inside the prefix (and has the reserved octet zero, for the
    /// lengths that have one).
    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        mask(addr, self.len) == self.network && (self.len == 96 || addr.octets()[8] == 0)
    }

    /// The IPv4 address embedded in `addr`, when `addr` is inside the prefix.
    pub fn embedded(&self, addr: Ipv6Addr) -> Option<Ipv4Addr> {
        if !self.contains(addr) {
            return None;
        }
        let o = addr.octets();
        let b: [u8; 4] = match self.len {
            32 => [o[4], o[5], o[6], o[7]],
            40 => [o[5], o[6], o[7], o[9]],
            48 => [o[6], o[7], o[9], o[10]],
            56 => [o[7], o[9], o[10], o[11]],
            64 => [o[9], o[10], o[11], o[12]],
            _ => [o[12], o[13], o[14], o[15]],
        };
        Some(Ipv4Addr::from(b))
    }

    /// The address a DNS64 resolver synthesizes for `v4` with this prefix (RFC 6052 2.2;
    /// the suffix is zero).
    pub fn embed(&self, v4: Ipv4Addr) -> Ipv6Addr {
        let mut o = self.network.octets();
        let v = v4.octets();
        let at: [usize; 4] = match self.len {
            32 => [4, 5, 6, 7],
            40 => [5, 6, 7, 9],
            48 => [6, 7, 9, 10],
            56 => [7, 9, 10, 11],
            64 => [9, 10, 11, 12],
            _ => [12, 13, 14, 15],
        };
        for (i, pos) in at.iter().enumerate() {
            o[*pos] = v[i];
        }
        Ipv6Addr::from(o)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

fn mask(addr: Ipv6Addr, len: u8) -> Ipv6Addr {
    let bits = u128::from(addr);
    let kept = match len {
        0 => 0,
        128.. => bits,
        n => bits & (u128::MAX << (128 - u32::from(n))),
    };
    Ipv6Addr::from(kept)
}

/// The prefixes the AAAA answers of `ipv4only.arpa` reveal (RFC 7050 section 3): for each
/// answer, the lengths at which one of the well-known IPv4 addresses is embedded. An answer
/// embedding them at none is not a NAT64 prefix and is left out.
pub fn learn(aaaa_of_ipv4only_arpa: &[Ipv6Addr]) -> Vec<Prefix> {
    let mut out: Vec<Prefix> = Vec::new();
    for addr in aaaa_of_ipv4only_arpa {
        for len in LENGTHS {
            let Some(p) = Prefix::new(*addr, len) else {
                continue;
            };
            if p.embedded(*addr)
                .is_some_and(|v4| WELL_KNOWN_V4.contains(&v4))
                && !out.contains(&p)
            {
                out.push(p);
                break;
            }
        }
    }
    out
}

/// One synthesized address: what it is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synthesis {
    /// The AAAA answer.
    pub address: Ipv6Addr,
    /// The prefix it lies in.
    pub prefix: Prefix,
    /// The IPv4 address embedded in it.
    pub v4: Ipv4Addr,
}

impl Synthesis {
    /// The evidence sentence: "synthesized by DNS64 from 192.0.2.10 (prefix 64:ff9b::/96)".
    pub fn describe(&self) -> String {
        format!(
            "{} synthesized by DNS64 from {} (prefix {})",
            self.address, self.v4, self.prefix
        )
    }
}

/// Whether `addr` is synthesized: inside the well-known prefix or one of `learned`. A learned
/// (network-specific) prefix wins over the well-known one, since the network announced it.
pub fn synthesized(addr: Ipv6Addr, learned: &[Prefix]) -> Option<Synthesis> {
    learned
        .iter()
        .chain(std::iter::once(&Prefix::WELL_KNOWN))
        .find_map(|p| {
            p.embedded(addr).map(|v4| Synthesis {
                address: addr,
                prefix: *p,
                v4,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn the_well_known_prefix_embeds_the_last_32_bits() {
        let s = synthesized(v6("64:ff9b::c000:20a"), &[]).unwrap();
        assert_eq!(s.v4, Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(s.prefix, Prefix::WELL_KNOWN);
        assert_eq!(
            s.describe(),
            "64:ff9b::c000:20a synthesized by DNS64 from 192.0.2.10 (prefix 64:ff9b::/96)"
        );
        assert_eq!(synthesized(v6("2001:db8::c000:20a"), &[]), None);
        assert_eq!(synthesized(v6("64:ff9b:1::c000:20a"), &[]), None);
    }

    /// RFC 6052 section 2.4's table: 192.0.2.33 under 2001:db8::/32../96.
    #[test]
    fn rfc6052_examples_for_every_length() {
        let v4 = Ipv4Addr::new(192, 0, 2, 33);
        let cases = [
            ("2001:db8::", 32, "2001:db8:c000:221::"),
            ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
            ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
            ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
            ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100:0"),
            ("2001:db8:122:344::", 96, "2001:db8:122:344::192.0.2.33"),
        ];
        for (net, len, addr) in cases {
            let p = Prefix::new(v6(net), len).unwrap();
            assert_eq!(p.embed(v4), v6(addr), "/{len}");
            assert_eq!(p.embedded(v6(addr)), Some(v4), "/{len}");
            let s = synthesized(v6(addr), &[p]).unwrap();
            assert_eq!((s.prefix, s.v4), (p, v4));
        }
        assert_eq!(Prefix::new(v6("2001:db8::"), 33), None);
    }

    #[test]
    fn the_reserved_octet_must_be_zero() {
        let p = Prefix::new(v6("2001:db8:122:344::"), 64).unwrap();
        assert_eq!(p.embedded(v6("2001:db8:122:344:1c0:2:2100:0")), None);
    }

    #[test]
    fn ipv4only_arpa_teaches_the_network_specific_prefix() {
        let learned = learn(&[v6("2001:db8:64::c000:aa"), v6("2001:db8:64::c000:ab")]);
        assert_eq!(learned, vec![Prefix::new(v6("2001:db8:64::"), 96).unwrap()]);
        let s = synthesized(v6("2001:db8:64::c633:6407"), &learned).unwrap();
        assert_eq!(s.v4, Ipv4Addr::new(198, 51, 100, 7));
        assert_eq!(s.prefix.to_string(), "2001:db8:64::/96");
        let p48 = Prefix::new(v6("2001:db8:122::"), 48).unwrap();
        assert_eq!(
            learn(&[p48.embed(Ipv4Addr::new(192, 0, 0, 170))]),
            vec![p48]
        );
        // Not an answer with a well-known address embedded: no prefix.
        assert!(learn(&[v6("2001:db8::1")]).is_empty());
        assert!(learn(&[]).is_empty());
    }

    proptest! {
        #[test]
        fn embed_and_extract_round_trip(net in any::<u128>(), v4 in any::<u32>(), i in 0usize..6) {
            let len = LENGTHS[i];
            let p = Prefix::new(Ipv6Addr::from(net), len).unwrap();
            let v4 = Ipv4Addr::from(v4);
            let addr = p.embed(v4);
            prop_assert!(p.contains(addr));
            prop_assert_eq!(p.embedded(addr), Some(v4));
        }

        #[test]
        fn arbitrary_addresses_never_panic(a in any::<u128>(), b in any::<u128>()) {
            let learned = learn(&[Ipv6Addr::from(b)]);
            let _ = synthesized(Ipv6Addr::from(a), &learned);
        }
    }
}
