//! The cause catalogue: every stable cause code netdiag can report.
//!
//! One cause, one place: each variant carries its code, its layer and a one-line meaning.
//! `netdiag causes`, `docs/causes.md` and the JSON all come from here. Codes are part of the
//! interface contract: add new ones, never rename or remove one. The fix text for each cause
//! lives in [`crate::fix`].

use crate::layer::Layer;
use serde::{Serialize, Serializer};
use std::fmt;

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident => ($code:literal, $layer:expr, $meaning:literal), )*) => {
        /// A stable cause code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Cause {
            /// Healthy: nothing wrong was found.
            Ok,
            $( $(#[$doc])* $variant, )*
        }

        impl Cause {
            /// Every cause except [`Cause::Ok`], in catalogue order.
            pub const ALL: &'static [Cause] = &[ $( Cause::$variant, )* ];

            /// The stable code, e.g. `tcp_refused`.
            pub fn code(self) -> &'static str {
                match self {
                    Cause::Ok => "ok",
                    $( Cause::$variant => $code, )*
                }
            }

            /// The layer this cause belongs to (`None` for [`Cause::Ok`]).
            pub fn layer(self) -> Option<Layer> {
                match self {
                    Cause::Ok => None,
                    $( Cause::$variant => Some($layer), )*
                }
            }

            /// One line: what the cause means.
            pub fn meaning(self) -> &'static str {
                match self {
                    Cause::Ok => "No fault found.",
                    $( Cause::$variant => $meaning, )*
                }
            }
        }
    };
}

catalogue! {
    /// resolv.conf has lines libc ignores or cannot use.
    ResolverConfigInvalid => ("resolver_config_invalid", Layer::Resolver,
        "resolv.conf (or nsswitch.conf) has lines libc silently ignores, such as a nameserver that is not an IP address: the resolver is not configured the way its author meant."),
    /// resolv.conf lists no usable nameserver.
    ResolverNoNameservers => ("resolver_no_nameservers", Layer::Resolver,
        "resolv.conf lists no usable nameserver, so libc falls back to 127.0.0.1:53, where usually nothing answers."),
    /// Warning: more nameservers than libc uses.
    ResolverTooManyNameservers => ("resolver_too_many_nameservers", Layer::Resolver,
        "resolv.conf lists more than 3 nameservers; libc uses only the first 3 and ignores the rest."),
    /// The name does not exist.
    DnsNxdomain => ("dns_nxdomain", Layer::Dns,
        "The nameserver says the name does not exist (NXDOMAIN) for every candidate name libc tries."),
    /// The name exists but has no address records.
    DnsNodata => ("dns_nodata", Layer::Dns,
        "The name exists but has no A/AAAA records (NOERROR with an empty answer, 'NODATA')."),
    /// SERVFAIL that is not a DNSSEC problem.
    DnsServfail => ("dns_servfail", Layer::Dns,
        "The nameserver answered SERVFAIL, also with checking disabled: it cannot resolve the name (broken upstream or zone)."),
    /// SERVFAIL because DNSSEC validation fails.
    DnsDnssecFailure => ("dns_dnssec_failure", Layer::Dns,
        "The nameserver answered SERVFAIL, but answers with the CD (checking disabled) bit set: DNSSEC validation of the zone fails."),
    /// The nameserver refuses to answer.
    DnsRefused => ("dns_refused", Layer::Dns,
        "The nameserver refused the query (REFUSED): this client is not allowed to use it, or it is not authoritative and does not recurse."),
    /// No nameserver answers at all.
    DnsTimeout => ("dns_timeout", Layer::Dns,
        "No nameserver answered: every lookup fails after libc's timeout x attempts per nameserver."),
    /// Some nameservers do not answer and libc waits for them.
    DnsNameserverUnreachable => ("dns_nameserver_unreachable", Layer::Dns,
        "A nameserver that libc asks first does not answer while another does: every lookup stalls for timeout x attempts before libc moves on."),
    /// Resolution works but is slow.
    DnsSlow => ("dns_slow", Layer::Dns,
        "The name resolves, but the answer takes long enough for people to notice."),
    /// Warning: the search list multiplies lookups.
    DnsSearchExpansion => ("dns_search_expansion", Layer::Dns,
        "The search list and ndots make libc try other names first: each lookup costs several queries before the one that answers."),
    /// Warning: /etc/hosts answers before DNS.
    DnsHostsOverride => ("dns_hosts_override", Layer::Dns,
        "An /etc/hosts entry answers for this name before DNS is asked (nsswitch order): DNS records are not used."),
    /// Warning: nameservers disagree.
    DnsInconsistentNameservers => ("dns_inconsistent_nameservers", Layer::Dns,
        "The nameservers in resolv.conf give different answers for the same name, so results depend on which one libc asks."),
    /// The kernel has no route.
    NoRoute => ("no_route", Layer::Route,
        "The kernel has no usable route to the address (no matching route, or an unreachable/prohibit/blackhole route)."),
    /// A router has no route.
    NetUnreachable => ("net_unreachable", Layer::Route,
        "A router on the path answered ICMP network unreachable: it has no route to the destination network."),
    /// RST in answer to SYN.
    TcpRefused => ("tcp_refused", Layer::Tcp,
        "The connection was refused: the host answered the SYN with a RST (nothing listens on the port), or a firewall REJECT answered for it."),
    /// Silence in answer to SYN.
    TcpTimeout => ("tcp_timeout", Layer::Tcp,
        "The SYN got no answer at all: a firewall drops it silently, or the host is down or unreachable without ICMP."),
    /// ICMP administratively prohibited.
    TcpAdminProhibited => ("tcp_admin_prohibited", Layer::Tcp,
        "A firewall answered the SYN with ICMP 'administratively prohibited': a rule rejects this flow, the server may be fine."),
    /// ICMP host unreachable.
    HostUnreachable => ("host_unreachable", Layer::Tcp,
        "A router answered with ICMP host unreachable: it cannot deliver to the host (down, wrong address, no ARP/ND answer) or a rule rejects with that code."),
    /// RST after the handshake.
    TcpReset => ("tcp_reset", Layer::Tcp,
        "The handshake completed, then the peer reset the connection before any data was exchanged."),
    /// Listener bound to loopback only.
    ListenerBoundToLoopback => ("listener_bound_to_loopback", Layer::Tcp,
        "The connection was refused because the service listens on 127.0.0.1/::1 only: it can be reached from this host's loopback, never from outside."),
    /// ICMP port unreachable for UDP.
    UdpPortUnreachable => ("udp_port_unreachable", Layer::Udp,
        "The host answered the datagram with ICMP port unreachable: nothing listens on that UDP port."),
    /// No UDP reply.
    UdpNoResponse => ("udp_no_response", Layer::Udp,
        "No reply and no ICMP error: the port is open or filtered. Silence is normal for many UDP services, a fault only where a reply is expected."),
    /// ICMP admin prohibited for UDP.
    UdpAdminProhibited => ("udp_admin_prohibited", Layer::Udp,
        "A firewall answered the datagram with ICMP 'administratively prohibited': a rule rejects this flow."),
}

impl Cause {
    /// Looks a cause up by its stable code.
    pub fn from_code(code: &str) -> Option<Cause> {
        if code == "ok" {
            return Some(Cause::Ok);
        }
        Cause::ALL.iter().copied().find(|c| c.code() == code)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Cause {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = HashSet::new();
        for cause in Cause::ALL {
            assert!(seen.insert(cause.code()), "duplicate code {}", cause.code());
            assert_eq!(Cause::from_code(cause.code()), Some(*cause));
            assert!(cause.layer().is_some());
            assert!(cause.meaning().ends_with('.'));
        }
        assert_eq!(Cause::from_code("ok"), Some(Cause::Ok));
    }

    #[test]
    fn contract_codes_exist_on_their_layers() {
        let contract = [
            (
                "resolver",
                &["resolver_config_invalid", "resolver_no_nameservers"][..],
            ),
            (
                "dns",
                &[
                    "dns_nxdomain",
                    "dns_nodata",
                    "dns_servfail",
                    "dns_dnssec_failure",
                    "dns_refused",
                    "dns_timeout",
                    "dns_nameserver_unreachable",
                    "dns_slow",
                ][..],
            ),
            ("route", &["no_route", "net_unreachable"][..]),
            (
                "tcp",
                &[
                    "tcp_refused",
                    "tcp_timeout",
                    "tcp_admin_prohibited",
                    "host_unreachable",
                    "tcp_reset",
                    "listener_bound_to_loopback",
                ][..],
            ),
            ("udp", &["udp_port_unreachable", "udp_no_response"][..]),
        ];
        for (layer, codes) in contract {
            for code in codes {
                let cause = Cause::from_code(code).unwrap_or_else(|| panic!("missing {code}"));
                assert_eq!(cause.layer().map(Layer::name), Some(layer), "{code}");
            }
        }
    }
}
