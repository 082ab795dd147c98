//! The cause catalogue: every stable cause code netdiag can report.
//!
//! One cause, one place: each variant carries its code, its domain and layer ([`Scope`]) and a
//! one-line meaning. Every domain's codes live here: the live walk's, the Kubernetes check's
//! (`svc_*`, `netpol_*`) and the cloud check's (`cloud_*`), so `netdiag causes`, `docs/causes.md`
//! and the three JSON schemas all come from one list. Codes are part of the interface contract:
//! add new ones, never rename or remove one. The fix text for each cause lives in [`crate::fix`]
//! (live: a concrete remedy; Kubernetes and cloud: the template that points at the adapter which
//! computes the concrete manifest or command).

use crate::layer::{Domain, K8sLayer, Layer, Scope};
use serde::{Serialize, Serializer};
use std::fmt;

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident => ($code:literal, $scope:expr, $meaning:literal), )*) => {
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

            /// Where this cause is found: its domain and, within it, its layer (`None` for
            /// [`Cause::Ok`], which every domain shares).
            pub fn scope(self) -> Option<Scope> {
                match self {
                    Cause::Ok => None,
                    $( Cause::$variant => Some($scope), )*
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
    ResolverConfigInvalid => ("resolver_config_invalid", Scope::Live(Layer::Resolver),
        "resolv.conf (or nsswitch.conf) has lines libc silently ignores, such as a nameserver that is not an IP address: the resolver is not configured the way its author meant."),
    /// resolv.conf lists no usable nameserver.
    ResolverNoNameservers => ("resolver_no_nameservers", Scope::Live(Layer::Resolver),
        "resolv.conf lists no usable nameserver, so libc falls back to 127.0.0.1:53, where usually nothing answers."),
    /// Warning: more nameservers than libc uses.
    ResolverTooManyNameservers => ("resolver_too_many_nameservers", Scope::Live(Layer::Resolver),
        "resolv.conf lists more than 3 nameservers; libc uses only the first 3 and ignores the rest."),
    /// The name does not exist.
    DnsNxdomain => ("dns_nxdomain", Scope::Live(Layer::Dns),
        "The nameserver says the name does not exist (NXDOMAIN) for every candidate name libc tries."),
    /// The name exists but has no address records.
    DnsNodata => ("dns_nodata", Scope::Live(Layer::Dns),
        "The name exists but has no A/AAAA records (NOERROR with an empty answer, 'NODATA')."),
    /// SERVFAIL that is not a DNSSEC problem.
    DnsServfail => ("dns_servfail", Scope::Live(Layer::Dns),
        "The nameserver answered SERVFAIL, also with checking disabled: it cannot resolve the name (broken upstream or zone)."),
    /// SERVFAIL because DNSSEC validation fails.
    DnsDnssecFailure => ("dns_dnssec_failure", Scope::Live(Layer::Dns),
        "The nameserver answered SERVFAIL, but answers with the CD (checking disabled) bit set: DNSSEC validation of the zone fails."),
    /// The nameserver refuses to answer.
    DnsRefused => ("dns_refused", Scope::Live(Layer::Dns),
        "The nameserver refused the query (REFUSED): this client is not allowed to use it, or it is not authoritative and does not recurse."),
    /// No nameserver answers at all.
    DnsTimeout => ("dns_timeout", Scope::Live(Layer::Dns),
        "No nameserver answered: every lookup fails after libc's timeout x attempts per nameserver."),
    /// Some nameservers do not answer and libc waits for them.
    DnsNameserverUnreachable => ("dns_nameserver_unreachable", Scope::Live(Layer::Dns),
        "A nameserver that libc asks first does not answer while another does: every lookup stalls for timeout x attempts before libc moves on."),
    /// Resolution works but is slow.
    DnsSlow => ("dns_slow", Scope::Live(Layer::Dns),
        "The name resolves, but the answer takes long enough for people to notice."),
    /// Warning: the search list multiplies lookups.
    DnsSearchExpansion => ("dns_search_expansion", Scope::Live(Layer::Dns),
        "The search list and ndots make libc try other names first: each lookup costs several queries before the one that answers."),
    /// Warning: /etc/hosts answers before DNS.
    DnsHostsOverride => ("dns_hosts_override", Scope::Live(Layer::Dns),
        "An /etc/hosts entry answers for this name before DNS is asked (nsswitch order): DNS records are not used."),
    /// Warning: nameservers disagree.
    DnsInconsistentNameservers => ("dns_inconsistent_nameservers", Scope::Live(Layer::Dns),
        "The nameservers in resolv.conf give different answers for the same name, so results depend on which one libc asks."),
    /// The kernel has no route.
    NoRoute => ("no_route", Scope::Live(Layer::Route),
        "The kernel has no usable route to the address (no matching route, or an unreachable/prohibit/blackhole route)."),
    /// A router has no route.
    NetUnreachable => ("net_unreachable", Scope::Live(Layer::Route),
        "A router on the path answered ICMP network unreachable: it has no route to the destination network."),
    /// The proxy cannot be reached.
    ProxyUnreachable => ("proxy_unreachable", Scope::Live(Layer::Proxy),
        "The configured proxy cannot be reached: its name does not resolve, or TCP to it times out or is unreachable."),
    /// The proxy port refuses connections.
    ProxyRefused => ("proxy_refused", Scope::Live(Layer::Proxy),
        "TCP to the proxy is refused: nothing listens on the proxy's port."),
    /// 407.
    ProxyAuthRequired => ("proxy_auth_required", Scope::Live(Layer::Proxy),
        "The proxy answered 407 Proxy Authentication Required: credentials are missing or wrong."),
    /// CONNECT failed.
    ProxyConnectFailed => ("proxy_connect_failed", Scope::Live(Layer::Proxy),
        "The proxy refused or failed the CONNECT to the target (403 by policy, 502/503/504 when it cannot reach the target)."),
    /// RST in answer to SYN.
    TcpRefused => ("tcp_refused", Scope::Live(Layer::Tcp),
        "The connection was refused: the host answered the SYN with a RST (nothing listens on the port), or a firewall REJECT answered for it."),
    /// Silence in answer to SYN.
    TcpTimeout => ("tcp_timeout", Scope::Live(Layer::Tcp),
        "The SYN got no answer at all: a firewall drops it silently, or the host is down or unreachable without ICMP."),
    /// ICMP administratively prohibited.
    TcpAdminProhibited => ("tcp_admin_prohibited", Scope::Live(Layer::Tcp),
        "A firewall answered the SYN with ICMP 'administratively prohibited': a rule rejects this flow, the server may be fine."),
    /// ICMP host unreachable.
    HostUnreachable => ("host_unreachable", Scope::Live(Layer::Tcp),
        "A router answered with ICMP host unreachable: it cannot deliver to the host (down, wrong address, no ARP/ND answer) or a rule rejects with that code."),
    /// RST after the handshake.
    TcpReset => ("tcp_reset", Scope::Live(Layer::Tcp),
        "The handshake completed, then the peer reset the connection before any data was exchanged."),
    /// Listener bound to loopback only.
    ListenerBoundToLoopback => ("listener_bound_to_loopback", Scope::Live(Layer::Tcp),
        "The connection was refused because the service listens on 127.0.0.1/::1 only: it can be reached from this host's loopback, never from outside."),
    /// One address family is silently dropped while the other connects.
    AddressFamilyBroken => ("address_family_broken", Scope::Live(Layer::Tcp),
        "Every address of one family (IPv6 or IPv4) times out without an answer while the other family connects: clients that try addresses in getaddrinfo order without Happy Eyeballs stall for their connect timeout on every new connection."),
    /// The connect to a DNS64-synthesized address fails: the NAT64 translator does not forward.
    Nat64TranslatorUnreachable => ("nat64_translator_unreachable", Scope::Live(Layer::Tcp),
        "The name has only an A record; DNS64 synthesized its AAAA inside a NAT64 prefix, and connects to it get no answer: the NAT64 translator for that prefix (or the path to it) does not forward, the server is not the suspect."),
    /// Some addresses of a pool time out while the others connect.
    SomeAddressesUnreachable => ("some_addresses_unreachable", Scope::Live(Layer::Tcp),
        "Some of the name's addresses of one family time out without an answer while the others connect: clients that pick a dead one (round-robin order, connection pools, rotating resolvers) stall for their connect timeout."),
    /// ICMP port unreachable for UDP.
    UdpPortUnreachable => ("udp_port_unreachable", Scope::Live(Layer::Udp),
        "The host answered the datagram with ICMP port unreachable: nothing listens on that UDP port."),
    /// No UDP reply.
    UdpNoResponse => ("udp_no_response", Scope::Live(Layer::Udp),
        "No reply and no ICMP error: the port is open or filtered. Silence is normal for many UDP services, a fault only where a reply is expected."),
    /// ICMP admin prohibited for UDP.
    UdpAdminProhibited => ("udp_admin_prohibited", Scope::Live(Layer::Udp),
        "A firewall answered the datagram with ICMP 'administratively prohibited': a rule rejects this flow."),
    /// Large packets vanish on the path.
    MtuBlackhole => ("mtu_blackhole", Scope::Live(Layer::Mtu),
        "Packets larger than the path MTU vanish without an ICMP 'fragmentation needed': small requests work, large ones hang."),
    /// Warning: a smaller path MTU that works.
    MtuPathReduced => ("mtu_path_reduced", Scope::Live(Layer::Mtu),
        "The path MTU is smaller than the interface MTU, and routers say so (ICMP fragmentation needed flows): healthy, noted."),
    /// Plaintext where TLS was expected.
    TlsNotTls => ("tls_not_tls", Scope::Live(Layer::Tls),
        "The server answered the TLS ClientHello with plaintext (e.g. HTTP or SSH): the port does not speak TLS."),
    /// Only old TLS versions.
    TlsProtocolMismatch => ("tls_protocol_mismatch", Scope::Live(Layer::Tls),
        "The server speaks only TLS versions this client refuses (TLS 1.0/1.1), or no version in common."),
    /// Expired certificate.
    TlsCertExpired => ("tls_cert_expired", Scope::Live(Layer::Tls),
        "The server's certificate has expired."),
    /// Not yet valid.
    TlsCertNotYetValid => ("tls_cert_not_yet_valid", Scope::Live(Layer::Tls),
        "The server's certificate is not valid yet (its notBefore is in the future, or this host's clock is wrong)."),
    /// Name mismatch.
    TlsNameMismatch => ("tls_name_mismatch", Scope::Live(Layer::Tls),
        "The certificate is not valid for the name asked: it is missing from its subjectAltName list."),
    /// Untrusted issuer.
    TlsUntrustedIssuer => ("tls_untrusted_issuer", Scope::Live(Layer::Tls),
        "The certificate chains to an issuer this host does not trust (a private CA missing from the trust store)."),
    /// Self-signed.
    TlsSelfSigned => ("tls_self_signed", Scope::Live(Layer::Tls),
        "The server presents a self-signed certificate."),
    /// Missing intermediate.
    TlsIncompleteChain => ("tls_incomplete_chain", Scope::Live(Layer::Tls),
        "The server sends its certificate without the intermediate that links it to a trusted root."),
    /// Client certificate required.
    TlsClientCertRequired => ("tls_client_cert_required", Scope::Live(Layer::Tls),
        "The server demands a client certificate (mutual TLS) and aborts the handshake without one."),
    /// Other handshake failures.
    TlsHandshakeFailure => ("tls_handshake_failure", Scope::Live(Layer::Tls),
        "The TLS handshake failed for another reason (an alert such as handshake_failure, a reset during the handshake)."),
    /// Revoked (OCSP staple or `--crlfile`).
    TlsCertRevoked => ("tls_cert_revoked", Scope::Live(Layer::Tls),
        "The server's certificate is revoked: its stapled OCSP response, or the CRL given with --crlfile, says so."),
    /// SHA-1 or MD5 signature in the chain.
    TlsWeakSignature => ("tls_weak_signature", Scope::Live(Layer::Tls),
        "A certificate in the server's chain is signed with SHA-1 or MD5, which verifiers refuse."),
    /// Weak key (RSA below 2048 bits, or a key the verifier rejects).
    TlsWeakKey => ("tls_weak_key", Scope::Live(Layer::Tls),
        "A certificate in the server's chain has a key verifiers refuse (RSA below 2048 bits, or an unsupported key)."),
    /// Chain sent in the wrong order.
    TlsChainMisordered => ("tls_chain_misordered", Scope::Live(Layer::Tls),
        "The server sends its certificate chain in the wrong order (e.g. the CA before the server's own certificate)."),
    /// The Certificate message is larger than this client accepts.
    TlsCertTooLarge => ("tls_cert_too_large", Scope::Live(Layer::Tls),
        "The server's Certificate message is larger than this client's limit: a client limit, not a server fault, though other clients may have the same one."),
    /// Only weak suites.
    TlsWeakCipher => ("tls_weak_cipher", Scope::Live(Layer::Tls),
        "The server offers only broken cipher suites (RC4, 3DES, NULL or export), which modern clients refuse."),
    /// Only suites rustls lacks.
    TlsNoSharedCipher => ("tls_no_shared_cipher", Scope::Live(Layer::Tls),
        "The server offers only cipher suites this client does not implement (CBC-only, static RSA key exchange, DHE-only): OpenSSL-based clients may still connect; a compatibility finding, not an outage."),
    /// DHE group below 2048 bits.
    TlsWeakDh => ("tls_weak_dh", Scope::Live(Layer::Tls),
        "The server's DHE key exchange uses a group smaller than 2048 bits (Logjam-class weakness), which modern clients refuse."),
    /// Warning: expires soon.
    TlsCertExpiringSoon => ("tls_cert_expiring_soon", Scope::Live(Layer::Tls),
        "The server's certificate expires within 14 days."),
    /// 5xx.
    Http5xx => ("http_5xx", Scope::Live(Layer::Http),
        "The server answered with a 5xx status: the service (or a gateway in front of it) is failing."),
    /// 4xx.
    Http4xx => ("http_4xx", Scope::Live(Layer::Http),
        "The server answered with a 4xx status: the request is refused (wrong path, auth, or policy)."),
    /// No response in time.
    HttpTimeout => ("http_timeout", Scope::Live(Layer::Http),
        "The connection works but the server sent no (complete) response before the deadline."),
    /// Slow first byte.
    HttpSlow => ("http_slow", Scope::Live(Layer::Http),
        "The server answers, but the first byte takes longer than the slow threshold."),
    /// Reset after accept.
    ConnectionReset => ("connection_reset", Scope::Live(Layer::Http),
        "The server accepted the connection and then reset it instead of answering."),
    /// Warning: a redirect not followed.
    HttpRedirect => ("http_redirect", Scope::Live(Layer::Http),
        "The server answered with a redirect; netdiag reports it and follows it only with -L."),
    /// Not HTTP.
    HttpNotHttp => ("http_not_http", Scope::Live(Layer::Http),
        "The server answered the HTTP request with something that is not HTTP."),
    /// A prober module's status list does not include the answer's status (netdiag serve).
    HttpStatusUnexpected => ("http_status_unexpected", Scope::Live(Layer::Http),
        "The server answered with a status the probe module does not accept (valid_status_codes)."),
    /// A prober module's HTTP versions do not include the answer's.
    HttpVersionMismatch => ("http_version_mismatch", Scope::Live(Layer::Http),
        "The server answered with an HTTP version the probe module does not accept (valid_http_versions)."),
    /// More redirects than a prober follows.
    HttpRedirectLoop => ("http_redirect_loop", Scope::Live(Layer::Http),
        "The server redirected more than 10 times in a row: a redirect loop or an endless chain."),
    /// A prober module asks for TLS and the answer came in the clear.
    HttpNotTls => ("http_not_tls", Scope::Live(Layer::Http),
        "The final answer came over plain HTTP although the probe module requires TLS (fail_if_not_ssl)."),
    /// A prober module forbids TLS and the answer came over TLS.
    HttpTlsUnexpected => ("http_tls_unexpected", Scope::Live(Layer::Http),
        "The final answer came over TLS although the probe module forbids it (fail_if_ssl)."),
    /// A prober module's body or header regular expressions failed.
    HttpBodyMismatch => ("http_body_mismatch", Scope::Live(Layer::Http),
        "The answer's body or headers failed the probe module's regular expressions (fail_if_body_*/fail_if_header_*)."),
    /// The body is larger than a prober module allows.
    HttpBodyTooLarge => ("http_body_too_large", Scope::Live(Layer::Http),
        "The answer's body is larger than the probe module's body_size_limit."),
    /// A prober module's TCP dialogue did not get the line it expects.
    TcpExpectMismatch => ("tcp_expect_mismatch", Scope::Live(Layer::Tcp),
        "The server's answer on the TCP connection did not match the probe module's query_response expectation."),
    /// The outgoing interface is down.
    InterfaceDown => ("interface_down", Scope::Live(Layer::Route),
        "The interface the route uses is down (administratively, or no carrier): nothing leaves this host that way."),
    /// The next hop does not answer ARP/ND.
    NeighborFailed => ("neighbor_failed", Scope::Live(Layer::Route),
        "The next hop (gateway, or the target on a connected subnet) does not answer ARP/neighbour discovery: its entry is FAILED/INCOMPLETE."),
    /// Strict reverse-path filtering drops the replies.
    RpFilterStrictAsymmetric => ("rp_filter_strict_asymmetric", Scope::Live(Layer::Route),
        "Strict reverse-path filtering (rp_filter=1) drops replies that arrive on another interface than the route back would use."),
    /// The conntrack table is full.
    ConntrackTableFull => ("conntrack_table_full", Scope::Live(Layer::Tcp),
        "The connection-tracking table is full (or dropping entries): new flows are dropped on this host before they leave."),

    // Kubernetes (`netdiag k8s check`): the Service path, then NetworkPolicy.
    /// The Service's selector matches no pod, so it has no endpoints.
    SvcNoEndpointsSelectorMismatch => ("svc_no_endpoints_selector_mismatch", Scope::Kubernetes(K8sLayer::Service),
        "The Service has no endpoints: its selector matches no pod in its namespace (a label typo, or the pods run elsewhere)."),
    /// The selected pods exist but none is ready.
    SvcPodsNotReady => ("svc_pods_not_ready", Scope::Kubernetes(K8sLayer::Service),
        "The Service selects pods, but none of them is ready, so kube-proxy forwards to nothing."),
    /// targetPort names a port the pods do not listen on.
    SvcTargetportMismatch => ("svc_targetport_mismatch", Scope::Kubernetes(K8sLayer::Service),
        "The Service's targetPort is not a port the selected pods' containers declare: traffic is forwarded to a port nothing listens on."),
    /// A named targetPort no container declares.
    SvcNamedTargetportMissing => ("svc_named_targetport_missing", Scope::Kubernetes(K8sLayer::Service),
        "The Service's targetPort is a name that no container of the selected pods declares, so those pods get no endpoint for it."),
    /// The Service port exists for another protocol.
    SvcWrongProtocol => ("svc_wrong_protocol", Scope::Kubernetes(K8sLayer::Service),
        "The Service has the port, but for another protocol (TCP vs UDP vs SCTP): the flow as sent matches no Service port."),
    /// An ExternalName Service is a DNS alias, not a proxy.
    SvcExternalnameMisread => ("svc_externalname_misread", Scope::Kubernetes(K8sLayer::Service),
        "The Service is of type ExternalName: cluster DNS returns a CNAME, nothing forwards packets, and the port in the Service is ignored."),
    /// An ingress NetworkPolicy isolates the destination and none allows the flow.
    NetpolIngressDenied => ("netpol_ingress_denied", Scope::Kubernetes(K8sLayer::NetworkPolicy),
        "The destination pod is isolated for ingress and no NetworkPolicy selecting it allows this source and port."),
    /// An egress NetworkPolicy isolates the source and none allows the flow.
    NetpolEgressDenied => ("netpol_egress_denied", Scope::Kubernetes(K8sLayer::NetworkPolicy),
        "The source pod is isolated for egress and no NetworkPolicy selecting it allows this destination and port."),
    /// Both sides deny.
    NetpolBothDenied => ("netpol_both_denied", Scope::Kubernetes(K8sLayer::NetworkPolicy),
        "Both ends deny: the source is isolated for egress and the destination for ingress, and neither side's policies allow the flow."),

    // Cloud firewalls (`netdiag cloud check`, `netdiag check --cloud`).
    /// No rule allows the flow; an implied or default deny decided.
    CloudNoAllowRule => ("cloud_no_allow_rule", Scope::Cloud,
        "No rule allows the flow: the implied or default deny of a security group, NACL, firewall or NSG decided."),
    /// An explicit deny rule matched first.
    CloudDenyRule => ("cloud_deny_rule", Scope::Cloud,
        "An explicit deny rule (NACL entry, firewall rule, hierarchical policy or NSG rule) matches the flow before any allow."),
    /// No route to the destination.
    CloudNoRoute => ("cloud_no_route", Scope::Cloud,
        "The source's route table (or the reply's) has no route to the other end, so the flow never gets there."),
    /// The chosen route is a blackhole or inactive.
    CloudBlackholeRoute => ("cloud_blackhole_route", Scope::Cloud,
        "The most specific route points at a target that is gone or inactive (blackhole): packets are dropped there."),
    /// A stateless NACL blocks the reply.
    CloudNaclReturnBlocked => ("cloud_nacl_return_blocked", Scope::Cloud,
        "The request is allowed, but a stateless network ACL drops the reply to the client's ephemeral port."),
    /// A platform block the tenant cannot lift.
    CloudPlatformBlock => ("cloud_platform_block", Scope::Cloud,
        "The cloud platform itself blocks this flow (such as outbound SMTP on port 25); no tenant rule can allow it."),
    /// The exports lack what the answer depends on.
    CloudUnknown => ("cloud_unknown", Scope::Cloud,
        "The answer depends on something the exports do not contain; the verdict names the read-only command that exports it."),
}

impl Cause {
    /// The live-walk layer this cause belongs to (`None` for [`Cause::Ok`] and for the
    /// Kubernetes and cloud causes, whose layers are not live layers).
    pub fn layer(self) -> Option<Layer> {
        match self.scope()? {
            Scope::Live(layer) => Some(layer),
            Scope::Kubernetes(_) | Scope::Cloud => None,
        }
    }

    /// The domain this cause belongs to (`None` for [`Cause::Ok`]).
    pub fn domain(self) -> Option<Domain> {
        self.scope().map(Scope::domain)
    }

    /// The layer's name as the catalogue prints it: the live layer (`tcp`), the Kubernetes layer
    /// (`service`, `networkpolicy`), or `cloud` for the cloud causes, whose report names the
    /// provider's own layer (`sg`, `nacl`, `nsg-nic`…) per verdict.
    pub fn layer_name(self) -> &'static str {
        match self.scope() {
            None => "",
            Some(Scope::Live(layer)) => layer.name(),
            Some(Scope::Kubernetes(layer)) => layer.name(),
            Some(Scope::Cloud) => "cloud",
        }
    }

    /// The causes of one domain, in catalogue order.
    pub fn of_domain(domain: Domain) -> impl Iterator<Item = Cause> {
        Cause::ALL
            .iter()
            .copied()
            .filter(move |c| c.domain() == Some(domain))
    }

    /// Looks a cause up by its stable code.
    pub fn from_code(code: &str) -> Option<Cause> {
        if code == "ok" {
            return Some(Cause::Ok);
        }
        Cause::ALL.iter().copied().find(|c| c.code() == code)
    }
}

/// What a failure with a given cause is worth looking into next, beyond its own layer.
///
/// One exhaustive table (in [`Cause::follow_ups`]) instead of lists scattered over the walk and
/// the cloud adapter: a new cause must be placed here, and the compiler asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FollowUps {
    /// This host's kernel state (interface, neighbour, rp_filter, conntrack) and, after a
    /// silence, where on the path packets stop.
    pub kernel_facts: bool,
    /// This host's own firewall, evaluated for the flow.
    pub local_firewall: bool,
    /// The cloud firewalls' exports (`netdiag check --cloud`), asked about the failed flow.
    pub cloud: bool,
}

impl Cause {
    /// The follow-ups a failure with this cause triggers.
    pub fn follow_ups(self) -> FollowUps {
        match self {
            // Nothing came back: anything on the way may have dropped it.
            Cause::TcpTimeout
            | Cause::UdpNoResponse
            | Cause::HostUnreachable
            | Cause::Nat64TranslatorUnreachable => FollowUps {
                kernel_facts: true,
                local_firewall: true,
                cloud: true,
            },
            // Some addresses are silent while others connect: a firewall or security group
            // on the way of those addresses (the path trace would wait for the dead ones again).
            Cause::AddressFamilyBroken | Cause::SomeAddressesUnreachable => FollowUps {
                local_firewall: true,
                cloud: true,
                ..FollowUps::default()
            },
            // The kernel has no route: its own state says why.
            Cause::NoRoute => FollowUps {
                kernel_facts: true,
                ..FollowUps::default()
            },
            // A firewall answered with a refusal: this host's or one on the way (a cloud's).
            Cause::TcpAdminProhibited | Cause::UdpAdminProhibited => FollowUps {
                local_firewall: true,
                cloud: true,
                ..FollowUps::default()
            },
            // A refusal may be this host's own REJECT rule; clouds drop, they do not refuse.
            Cause::TcpRefused | Cause::UdpPortUnreachable => FollowUps {
                local_firewall: true,
                ..FollowUps::default()
            },
            Cause::Ok
            | Cause::ResolverConfigInvalid
            | Cause::ResolverNoNameservers
            | Cause::ResolverTooManyNameservers
            | Cause::DnsNxdomain
            | Cause::DnsNodata
            | Cause::DnsServfail
            | Cause::DnsDnssecFailure
            | Cause::DnsRefused
            | Cause::DnsTimeout
            | Cause::DnsNameserverUnreachable
            | Cause::DnsSlow
            | Cause::DnsSearchExpansion
            | Cause::DnsHostsOverride
            | Cause::DnsInconsistentNameservers
            | Cause::NetUnreachable
            | Cause::ProxyUnreachable
            | Cause::ProxyRefused
            | Cause::ProxyAuthRequired
            | Cause::ProxyConnectFailed
            | Cause::TcpReset
            | Cause::ListenerBoundToLoopback
            | Cause::MtuBlackhole
            | Cause::MtuPathReduced
            | Cause::TlsNotTls
            | Cause::TlsProtocolMismatch
            | Cause::TlsCertExpired
            | Cause::TlsCertNotYetValid
            | Cause::TlsNameMismatch
            | Cause::TlsUntrustedIssuer
            | Cause::TlsSelfSigned
            | Cause::TlsIncompleteChain
            | Cause::TlsClientCertRequired
            | Cause::TlsHandshakeFailure
            | Cause::TlsCertExpiringSoon
            | Cause::TlsCertRevoked
            | Cause::TlsWeakSignature
            | Cause::TlsWeakKey
            | Cause::TlsChainMisordered
            | Cause::TlsCertTooLarge
            | Cause::TlsWeakCipher
            | Cause::TlsNoSharedCipher
            | Cause::TlsWeakDh
            | Cause::Http5xx
            | Cause::Http4xx
            | Cause::HttpTimeout
            | Cause::HttpSlow
            | Cause::ConnectionReset
            | Cause::HttpRedirect
            | Cause::HttpNotHttp
            | Cause::HttpStatusUnexpected
            | Cause::HttpVersionMismatch
            | Cause::HttpRedirectLoop
            | Cause::HttpNotTls
            | Cause::HttpTlsUnexpected
            | Cause::HttpBodyMismatch
            | Cause::HttpBodyTooLarge
            | Cause::TcpExpectMismatch
            | Cause::InterfaceDown
            | Cause::NeighborFailed
            | Cause::RpFilterStrictAsymmetric
            | Cause::ConntrackTableFull
            | Cause::SvcNoEndpointsSelectorMismatch
            | Cause::SvcPodsNotReady
            | Cause::SvcTargetportMismatch
            | Cause::SvcNamedTargetportMissing
            | Cause::SvcWrongProtocol
            | Cause::SvcExternalnameMisread
            | Cause::NetpolIngressDenied
            | Cause::NetpolEgressDenied
            | Cause::NetpolBothDenied
            | Cause::CloudNoAllowRule
            | Cause::CloudDenyRule
            | Cause::CloudNoRoute
            | Cause::CloudBlackholeRoute
            | Cause::CloudNaclReturnBlocked
            | Cause::CloudPlatformBlock
            | Cause::CloudUnknown => FollowUps::default(),
        }
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
            assert!(cause.scope().is_some());
            assert!(!cause.layer_name().is_empty());
            assert_eq!(
                cause.layer().is_some(),
                cause.domain() == Some(Domain::Live)
            );
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
