//! getaddrinfo's destination sorting (RFC 3484 as glibc 2.36 implements it) and `/etc/gai.conf`,
//! and AI_ADDRCONFIG.
//!
//! Why: the order getaddrinfo returns is the order a client connects in, so "which address
//! does the client try first" is part of "how does libc resolve this name". glibc sorts every
//! answer of more than one address by the rules of RFC 3484 (with its own label table, not
//! RFC 6724's), using the source address the kernel picks for each destination (glibc learns
//! it by connecting a UDP socket; netdiag asks the kernel's route lookup, which gives the same
//! answer) and the prefix length of that source on its interface. `/etc/gai.conf` replaces the
//! label, precedence and IPv4 scope tables line by line type; absent or empty, the built-in
//! tables apply.
//!
//! Modelled: rules 1 (unusable destinations last), 2 (matching scope), 5 (matching label),
//! 6 (higher precedence), 8 (smaller scope), 9 (longest matching prefix: for IPv4 only inside
//! the source's subnet), 10 (otherwise the order the sources gave). Not modelled: rules 3 and 4
//! (deprecated and home addresses) and 7 (native transport), which need address flags and
//! tunnel facts that netdiag does not read; they only matter on hosts with deprecated IPv6
//! addresses or tunnels.
//!
//! AI_ADDRCONFIG (`getent ahosts` sets it, and so do most clients): IPv4 results only when the
//! host has an IPv4 address other than 127.0.0.1, IPv6 results only when it has one other than
//! ::1; with neither, nothing is filtered.

use crate::observe::InterfaceAddress;
use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One entry of the label or precedence table: a prefix and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixEntry {
    /// The prefix (IPv4 addresses are looked up as `::ffff:a.b.c.d`).
    pub prefix: Ipv6Addr,
    /// Its length in bits.
    pub bits: u8,
    /// The label or precedence.
    pub value: u32,
}

/// One entry of the IPv4 scope table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeEntry {
    /// The network (already masked).
    pub network: Ipv4Addr,
    /// Its length in bits.
    pub bits: u8,
    /// The scope.
    pub scope: u32,
}

/// The three tables getaddrinfo sorts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaiConf {
    /// `label` lines (or glibc's defaults), first match wins.
    pub labels: Vec<PrefixEntry>,
    /// `precedence` lines (or glibc's defaults), first match wins.
    pub precedence: Vec<PrefixEntry>,
    /// `scopev4` lines (or glibc's defaults), first match wins.
    pub scopes: Vec<ScopeEntry>,
}

fn entry(prefix: &str, bits: u8, value: u32) -> PrefixEntry {
    PrefixEntry {
        prefix: prefix.parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
        bits,
        value,
    }
}

impl Default for GaiConf {
    /// glibc 2.36's built-in tables (RFC 3484 with glibc's changes for site-local and ULA).
    fn default() -> Self {
        GaiConf {
            labels: vec![
                entry("::1", 128, 0),
                entry("2002::", 16, 2),
                entry("::", 96, 3),
                entry("::ffff:0:0", 96, 4),
                entry("fec0::", 10, 5),
                entry("fc00::", 7, 6),
                entry("2001::", 32, 7),
                entry("::", 0, 1),
            ],
            precedence: vec![
                entry("::1", 128, 50),
                entry("2002::", 16, 30),
                entry("::", 96, 20),
                entry("::ffff:0:0", 96, 10),
                entry("::", 0, 40),
            ],
            scopes: vec![
                ScopeEntry {
                    network: Ipv4Addr::new(169, 254, 0, 0),
                    bits: 16,
                    scope: 2,
                },
                ScopeEntry {
                    network: Ipv4Addr::new(127, 0, 0, 0),
                    bits: 8,
                    scope: 2,
                },
                ScopeEntry {
                    network: Ipv4Addr::UNSPECIFIED,
                    bits: 0,
                    scope: 14,
                },
            ],
        }
    }
}

/// `strtoul` base 10 as glibc's gai.conf reader uses it: the whole text must be consumed; an
/// empty text is 0 (strtoul consumes nothing and stops at the end); a leading `-` negates.
fn c_strtoul(text: &str) -> Option<u64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return if text.is_empty() { Some(0) } else { None };
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = digits.parse::<u64>().unwrap_or(u64::MAX);
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

fn prefix_line(val1: &str, val2: &str) -> Option<PrefixEntry> {
    let (addr, bits) = match val1.split_once('/') {
        Some((a, b)) => (a, c_strtoul(b)?),
        None => (val1, 128),
    };
    let prefix: Ipv6Addr = addr.parse().ok()?;
    let value = c_strtoul(val2)?;
    if bits > 128 || value > i32::MAX as u64 {
        return None;
    }
    Some(PrefixEntry {
        prefix,
        bits: bits as u8,
        value: value as u32,
    })
}

fn mask_v4(addr: Ipv4Addr, bits: u8) -> Ipv4Addr {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(bits.min(32)))
    };
    Ipv4Addr::from(u32::from(addr) & mask)
}

fn scope_line(val1: &str, val2: &str) -> Option<ScopeEntry> {
    let (addr, bits) = match val1.split_once('/') {
        Some((a, b)) => (a, Some(c_strtoul(b)?)),
        None => (val1, None),
    };
    let value = c_strtoul(val2)?;
    if value > i32::MAX as u64 {
        return None;
    }
    let (v4, bits) = if let Ok(v6) = addr.parse::<Ipv6Addr>() {
        let bits = bits.unwrap_or(128);
        let v4 = v6.to_ipv4_mapped()?;
        if !(96..=128).contains(&bits) {
            return None;
        }
        (v4, bits - 96)
    } else {
        let v4: Ipv4Addr = addr.parse().ok()?;
        let bits = bits.unwrap_or(32);
        if bits > 32 {
            return None;
        }
        (v4, bits)
    };
    let bits = bits as u8;
    Some(ScopeEntry {
        network: mask_v4(v4, bits),
        bits,
        scope: value as u32,
    })
}

impl GaiConf {
    /// Reads gai.conf text as glibc's `gaiconf_init` does: `#` starts a comment, each line is
    /// a command and two values, unknown commands and malformed values are skipped. A table
    /// with at least one line replaces the built-in one (a catch-all `::/0` entry is added
    /// when none was given: label 1, precedence 40, scope 14), sorted most specific first.
    pub fn parse(text: &str) -> GaiConf {
        let defaults = GaiConf::default();
        let (mut labels, mut precedence, mut scopes) = (Vec::new(), Vec::new(), Vec::new());
        for raw in text.lines() {
            let line = raw.split('#').next().unwrap_or("");
            let mut words = line
                .split(|c: char| c.is_ascii_whitespace() || c == '\x0b' || c == '\x0c')
                .filter(|w| !w.is_empty());
            let Some(cmd) = words.next() else { continue };
            let val1 = words.next().unwrap_or("");
            let val2 = words.next().unwrap_or("");
            match cmd {
                "label" => labels.extend(prefix_line(val1, val2)),
                "precedence" => precedence.extend(prefix_line(val1, val2)),
                "scopev4" => scopes.extend(scope_line(val1, val2)),
                _ => {}
            }
        }
        let finish = |mut list: Vec<PrefixEntry>, default: Vec<PrefixEntry>, catch_all: u32| {
            if list.is_empty() {
                return default;
            }
            if !list.iter().any(|e| e.bits == 0) {
                list.push(entry("::", 0, catch_all));
            }
            // glibc's qsort is a merge sort here: entries of equal length keep file order.
            list.sort_by_key(|e| std::cmp::Reverse(e.bits));
            list
        };
        let scopes = if scopes.is_empty() {
            defaults.scopes
        } else {
            if !scopes.iter().any(|e| e.bits == 0) {
                scopes.push(ScopeEntry {
                    network: Ipv4Addr::UNSPECIFIED,
                    bits: 0,
                    scope: 14,
                });
            }
            scopes.sort_by_key(|e| std::cmp::Reverse(e.bits));
            scopes
        };
        GaiConf {
            labels: finish(labels, defaults.labels, 1),
            precedence: finish(precedence, defaults.precedence, 40),
            scopes,
        }
    }

    fn lookup(list: &[PrefixEntry], address: IpAddr, default: u32) -> u32 {
        let v6 = match address {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        list.iter()
            .find(|e| common_bits(e.prefix, v6) >= u32::from(e.bits))
            .map_or(default, |e| e.value)
    }

    /// The label of an address.
    pub fn label(&self, address: IpAddr) -> u32 {
        Self::lookup(&self.labels, address, i32::MAX as u32)
    }

    /// The precedence of an address.
    pub fn precedence_of(&self, address: IpAddr) -> u32 {
        Self::lookup(&self.precedence, address, 0)
    }

    /// The scope of an address (glibc's `get_scope`).
    pub fn scope(&self, address: IpAddr) -> u32 {
        match address {
            IpAddr::V4(v4) => self
                .scopes
                .iter()
                .find(|e| mask_v4(v4, e.bits) == e.network)
                .map_or(14, |e| e.scope),
            IpAddr::V6(v6) => {
                let seg = v6.segments();
                if seg[0] >> 8 == 0xff {
                    u32::from(seg[0] & 0x0f)
                } else if (seg[0] & 0xffc0) == 0xfe80 || v6 == Ipv6Addr::LOCALHOST {
                    2
                } else if (seg[0] & 0xffc0) == 0xfec0 {
                    5
                } else {
                    14
                }
            }
        }
    }
}

fn common_bits(a: Ipv6Addr, b: Ipv6Addr) -> u32 {
    (u128::from(a) ^ u128::from(b)).leading_zeros()
}

/// One destination to sort: the address, the source the kernel would use (None: no route, the
/// destination is unusable) and that source's prefix length on its interface (0 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    /// The address.
    pub address: IpAddr,
    /// The source address the kernel picks for it.
    pub source: Option<IpAddr>,
    /// The prefix length of the source's interface address.
    pub source_prefix_len: u8,
}

/// The prefix length of `source` among this host's addresses (glibc looks a 127/8 source up as
/// 127.0.0.1); 0 when it is not listed.
pub fn source_prefix_len(source: IpAddr, addresses: &[InterfaceAddress]) -> u8 {
    let key = match source {
        IpAddr::V4(v4) if v4.octets()[0] == 127 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        other => other,
    };
    addresses
        .iter()
        .find(|a| a.address == key)
        .map_or(0, |a| a.prefix_len)
}

/// Rule 9's "matching prefix" length for one destination and its source.
fn prefix_match(d: &Destination, word: usize) -> u32 {
    match (d.address, d.source) {
        (IpAddr::V4(dst), Some(IpAddr::V4(src))) => {
            // glibc shifts by 32 - prefixlen; a prefix length of 0 (unknown) shifts by 32,
            // which x86 takes as 0: the mask is then the whole address.
            let bits = if d.source_prefix_len == 0 || d.source_prefix_len > 32 {
                32
            } else {
                u32::from(d.source_prefix_len)
            };
            let mask = u32::MAX << (32 - bits);
            let (dst, src) = (u32::from(dst), u32::from(src));
            if (dst & mask) == (src & mask) {
                (dst ^ src).leading_zeros()
            } else {
                0
            }
        }
        (IpAddr::V6(dst), Some(IpAddr::V6(src))) => {
            let shift = 96 - 32 * word as u32;
            let w = |a: Ipv6Addr| (u128::from(a) >> shift) as u32;
            (w(dst) ^ w(src)).leading_zeros()
        }
        _ => 0,
    }
}

fn compare(conf: &GaiConf, a: &Destination, b: &Destination) -> Ordering {
    // Rule 1: avoid unusable destinations.
    match (a.source, b.source) {
        (Some(_), None) => return Ordering::Less,
        (None, Some(_)) => return Ordering::Greater,
        _ => {}
    }
    let (a_scope, b_scope) = (conf.scope(a.address), conf.scope(b.address));
    if let (Some(sa), Some(sb)) = (a.source, b.source) {
        // Rule 2: prefer matching scope.
        let (ma, mb) = (a_scope == conf.scope(sa), b_scope == conf.scope(sb));
        if ma != mb {
            return if ma {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        // Rule 5: prefer matching label.
        let (la, lb) = (
            conf.label(a.address) == conf.label(sa),
            conf.label(b.address) == conf.label(sb),
        );
        if la != lb {
            return if la {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
    }
    // Rule 6: prefer higher precedence.
    let order = conf
        .precedence_of(b.address)
        .cmp(&conf.precedence_of(a.address));
    if order != Ordering::Equal {
        return order;
    }
    // Rule 8: prefer smaller scope.
    if a_scope != b_scope {
        return a_scope.cmp(&b_scope);
    }
    // Rule 9: longest matching prefix, same family only. For IPv6 glibc compares the first
    // 32-bit word where either destination differs from its source.
    if a.source.is_some() && a.address.is_ipv4() == b.address.is_ipv4() {
        let word = match (a, b) {
            (
                Destination {
                    address: IpAddr::V6(da),
                    source: Some(IpAddr::V6(sa)),
                    ..
                },
                Destination {
                    address: IpAddr::V6(db),
                    source: Some(IpAddr::V6(sb)),
                    ..
                },
            ) => {
                let x = u128::from(*da) ^ u128::from(*sa) | u128::from(*db) ^ u128::from(*sb);
                (x.leading_zeros() / 32) as usize
            }
            _ => 0,
        };
        if word < 4 {
            let (pa, pb) = (prefix_match(a, word), prefix_match(b, word));
            if pa != pb {
                return pb.cmp(&pa);
            }
        }
    }
    // Rule 10: the order the sources gave (a stable sort keeps it).
    Ordering::Equal
}

/// The destinations in the order getaddrinfo returns them (a single address is not sorted).
pub fn sort_destinations(conf: &GaiConf, destinations: &[Destination]) -> Vec<IpAddr> {
    merge_sort(conf, destinations)
        .into_iter()
        .map(|d| d.address)
        .collect()
}

/// glibc's `qsort_r` here is its merge sort (`msort`): halves sorted, then merged taking from
/// the left while the left one is not after the right. The same algorithm gives the same order
/// even where the rules are not transitive (rule 9 across families' words), and never panics.
fn merge_sort(conf: &GaiConf, list: &[Destination]) -> Vec<Destination> {
    if list.len() <= 1 {
        return list.to_vec();
    }
    let (left, right) = list.split_at(list.len() / 2);
    let (left, right) = (merge_sort(conf, left), merge_sort(conf, right));
    let mut out = Vec::with_capacity(list.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if compare(conf, &left[i], &right[j]) != Ordering::Greater {
            out.push(left[i]);
            i += 1;
        } else {
            out.push(right[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&left[i..]);
    out.extend_from_slice(&right[j..]);
    out
}

/// AI_ADDRCONFIG: which families this host has an address of, as glibc's `__check_pf` sees
/// them (`None`: unknown, glibc then assumes both). An IPv4 address other than 127.0.0.1
/// counts for IPv4, an IPv6 address other than ::1 for IPv6. (An unrestricted lookup with
/// neither is not narrowed; a lookup restricted to a family not seen returns nothing.)
pub fn addrconfig(addresses: Option<&[InterfaceAddress]>) -> (bool, bool) {
    let Some(addresses) = addresses else {
        return (true, true);
    };
    let v4 = addresses
        .iter()
        .any(|a| matches!(a.address, IpAddr::V4(v) if v != Ipv4Addr::LOCALHOST));
    let v6 = addresses
        .iter()
        .any(|a| matches!(a.address, IpAddr::V6(v) if v != Ipv6Addr::LOCALHOST));
    (v4, v6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(address: &str, source: Option<&str>, len: u8) -> Destination {
        Destination {
            address: address.parse().unwrap(),
            source: source.map(|s| s.parse().unwrap()),
            source_prefix_len: len,
        }
    }

    fn sorted(conf: &GaiConf, list: &[Destination]) -> Vec<String> {
        sort_destinations(conf, list)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn defaults_prefer_ipv6_ula_over_ipv4_when_both_have_sources() {
        let conf = GaiConf::default();
        let list = [
            d("10.1.2.3", Some("192.168.99.1"), 32),
            d("fd00:1::1", Some("fd99::1"), 128),
        ];
        assert_eq!(sorted(&conf, &list), ["fd00:1::1", "10.1.2.3"]);
    }

    #[test]
    fn unusable_destinations_go_last() {
        let conf = GaiConf::default();
        let list = [
            d("fd00:1::1", None, 0),
            d("10.1.2.3", Some("192.168.99.1"), 32),
        ];
        assert_eq!(sorted(&conf, &list), ["10.1.2.3", "fd00:1::1"]);
    }

    #[test]
    fn gai_conf_precedence_line_puts_ipv4_first() {
        let conf = GaiConf::parse("# prefer IPv4\nprecedence ::ffff:0:0/96  100\n");
        assert_eq!(conf.precedence.len(), 2, "{conf:?}");
        let list = [
            d("fd00:1::1", Some("fd99::1"), 128),
            d("10.1.2.3", Some("192.168.99.1"), 32),
        ];
        assert_eq!(sorted(&conf, &list), ["10.1.2.3", "fd00:1::1"]);
        // An empty file keeps every default.
        assert_eq!(GaiConf::parse(""), GaiConf::default());
        assert_eq!(
            GaiConf::parse("reload yes\nbogus 1 2\n"),
            GaiConf::default()
        );
    }

    #[test]
    fn label_lines_replace_the_table_and_malformed_lines_are_skipped() {
        let conf = GaiConf::parse(
            "label ::1/128 0\nlabel ::/0 1\nlabel 2001:db8::/32 9\nlabel ::/129 3\nlabel x/8 3\nlabel ::/8 x\n",
        );
        assert_eq!(conf.labels.len(), 3, "{conf:?}");
        assert_eq!(conf.labels[0].bits, 128);
        assert_eq!(conf.labels[1].bits, 32);
        assert_eq!(conf.label("2001:db8::5".parse().unwrap()), 9);
        // IPv4 (mapped) now falls into ::/0 like every other address.
        assert_eq!(conf.label("10.0.0.1".parse().unwrap()), 1);
    }

    #[test]
    fn scopev4_lines() {
        let conf = GaiConf::parse("scopev4 ::ffff:10.0.0.0/104 5\nscopev4 192.168.0.0/16 7\n");
        assert_eq!(conf.scope("10.9.9.9".parse().unwrap()), 5);
        assert_eq!(conf.scope("192.168.1.1".parse().unwrap()), 7);
        // The defaults for 127/8 and 169.254/16 are gone once a scopev4 line exists.
        assert_eq!(conf.scope("127.0.0.1".parse().unwrap()), 14);
        assert_eq!(GaiConf::default().scope("127.0.0.1".parse().unwrap()), 2);
        assert_eq!(GaiConf::default().scope("fe80::1".parse().unwrap()), 2);
        assert_eq!(GaiConf::default().scope("ff05::1".parse().unwrap()), 5);
    }

    #[test]
    fn ipv4_longest_prefix_only_inside_the_source_subnet() {
        let conf = GaiConf::default();
        let list = [
            d("192.0.2.200", Some("192.168.1.5"), 24),
            d("192.168.1.9", Some("192.168.1.5"), 24),
        ];
        assert_eq!(sorted(&conf, &list), ["192.168.1.9", "192.0.2.200"]);
        // A /32 source: no destination shares its subnet, the order stays.
        let list = [
            d("10.2.0.1", Some("192.168.99.1"), 32),
            d("10.1.0.1", Some("192.168.99.1"), 32),
        ];
        assert_eq!(sorted(&conf, &list), ["10.2.0.1", "10.1.0.1"]);
    }

    #[test]
    fn ipv6_longest_prefix_in_the_first_differing_word() {
        let conf = GaiConf::default();
        let list = [
            d("2001:db8:ffff::1", Some("2001:db8:1::5"), 64),
            d("2001:db8:1::9", Some("2001:db8:1::5"), 64),
        ];
        assert_eq!(sorted(&conf, &list), ["2001:db8:1::9", "2001:db8:ffff::1"]);
    }

    #[test]
    fn addrconfig_ignores_loopback() {
        let a = |s: &str| InterfaceAddress {
            address: s.parse().unwrap(),
            prefix_len: 8,
            ifindex: 1,
        };
        assert_eq!(addrconfig(None), (true, true));
        assert_eq!(
            addrconfig(Some(&[a("127.0.0.1"), a("::1")])),
            (false, false)
        );
        assert_eq!(
            addrconfig(Some(&[a("127.0.0.1"), a("::1"), a("10.0.0.2")])),
            (true, false)
        );
        assert_eq!(
            addrconfig(Some(&[a("127.0.0.1"), a("fe80::1")])),
            (false, true)
        );
    }

    #[test]
    fn strtoul_like_glibc() {
        assert_eq!(c_strtoul(""), Some(0));
        assert_eq!(c_strtoul("+7"), Some(7));
        assert_eq!(c_strtoul("-"), None);
        assert_eq!(c_strtoul("7x"), None);
        assert_eq!(c_strtoul("-0"), Some(0));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_keeps_catch_alls(text in "[ -~\\t\\n]{0,200}") {
            let conf = GaiConf::parse(&text);
            proptest::prop_assert!(conf.labels.iter().any(|e| e.bits == 0));
            proptest::prop_assert!(conf.precedence.iter().any(|e| e.bits == 0));
            proptest::prop_assert!(conf.scopes.iter().any(|e| e.bits == 0));
        }

        #[test]
        fn sorting_is_a_permutation(n in proptest::collection::vec((0u32.., 0u8..3), 0..8)) {
            let list: Vec<Destination> = n.iter().map(|(a, k)| Destination {
                address: if *k == 0 { IpAddr::V4(Ipv4Addr::from(*a)) } else { IpAddr::V6(Ipv6Addr::from(u128::from(*a))) },
                source: if *k == 2 { None } else { Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))) },
                source_prefix_len: 24,
            }).collect();
            let mut out = sort_destinations(&GaiConf::default(), &list);
            let mut inp: Vec<IpAddr> = list.iter().map(|d| d.address).collect();
            out.sort();
            inp.sort();
            proptest::prop_assert_eq!(out, inp);
        }
    }
}
