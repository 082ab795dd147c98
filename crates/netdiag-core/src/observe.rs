//! Observations: the facts probes record, as plain data.
//!
//! Probes (in `netdiag-probe`) turn the world into these values; the classifiers in
//! [`crate::diagnose`] turn them into findings. Nothing here decides a verdict, and nothing here
//! does I/O. A refused port is an observation, not an error.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// An ICMP (or ICMPv6) error the kernel queued on a socket (`IP_RECVERR` / `MSG_ERRQUEUE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpError {
    /// True for ICMPv6, false for ICMP (v4).
    pub v6: bool,
    /// ICMP type (v4: 3 = destination unreachable, 11 = time exceeded; v6: 1, 3, ...).
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// The address of the host or router that sent the error (`SO_EE_OFFENDER`).
    pub offender: Option<IpAddr>,
    /// The errno the kernel mapped it to (`ee_errno`).
    pub errno: i32,
    /// `ee_info`: for "fragmentation needed" / "packet too big", the next-hop MTU.
    pub info: u32,
}

/// What an ICMP error means, independent of the IP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpKind {
    /// No route to the network (v4 code 0, 6, 11; v6 code 0 "no route").
    NetUnreachable,
    /// The host could not be reached (v4 code 1, 7, 12; v6 code 3 "address unreachable").
    HostUnreachable,
    /// The protocol is not served (v4 code 2).
    ProtocolUnreachable,
    /// Nothing listens on the port (v4 code 3; v6 code 4).
    PortUnreachable,
    /// A filter rejected the packet (v4 codes 9, 10, 13; v6 codes 1, 5, 6).
    AdminProhibited,
    /// The packet is too big and DF was set (v4 type 3 code 4; v6 type 2). `info` is the MTU.
    FragmentationNeeded,
    /// The TTL / hop limit ran out (v4 type 11; v6 type 3).
    TimeExceeded,
    /// Anything else.
    Other,
}

impl IcmpError {
    /// Classifies the type/code pair.
    pub fn kind(&self) -> IcmpKind {
        if self.v6 {
            match (self.icmp_type, self.code) {
                (1, 0) => IcmpKind::NetUnreachable,
                (1, 1) | (1, 5) | (1, 6) => IcmpKind::AdminProhibited,
                (1, 3) | (1, 2) => IcmpKind::HostUnreachable,
                (1, 4) => IcmpKind::PortUnreachable,
                (2, _) => IcmpKind::FragmentationNeeded,
                (3, _) => IcmpKind::TimeExceeded,
                _ => IcmpKind::Other,
            }
        } else {
            match (self.icmp_type, self.code) {
                (3, 0) | (3, 6) | (3, 11) => IcmpKind::NetUnreachable,
                (3, 1) | (3, 7) | (3, 12) => IcmpKind::HostUnreachable,
                (3, 2) => IcmpKind::ProtocolUnreachable,
                (3, 3) => IcmpKind::PortUnreachable,
                (3, 4) => IcmpKind::FragmentationNeeded,
                (3, 9) | (3, 10) | (3, 13) => IcmpKind::AdminProhibited,
                (11, _) => IcmpKind::TimeExceeded,
                _ => IcmpKind::Other,
            }
        }
    }

    /// A short human description, e.g. `ICMP type 3 code 13 (communication administratively prohibited) from 10.0.1.1`.
    pub fn describe(&self) -> String {
        let name = match self.kind() {
            IcmpKind::NetUnreachable => "network unreachable",
            IcmpKind::HostUnreachable => "host unreachable",
            IcmpKind::ProtocolUnreachable => "protocol unreachable",
            IcmpKind::PortUnreachable => "port unreachable",
            IcmpKind::AdminProhibited => "communication administratively prohibited",
            IcmpKind::FragmentationNeeded => "fragmentation needed / packet too big",
            IcmpKind::TimeExceeded => "time exceeded",
            IcmpKind::Other => "other",
        };
        let family = if self.v6 { "ICMPv6" } else { "ICMP" };
        match self.offender {
            Some(from) => format!(
                "{family} type {} code {} ({name}) from {from}",
                self.icmp_type, self.code
            ),
            None => format!(
                "{family} type {} code {} ({name})",
                self.icmp_type, self.code
            ),
        }
    }
}

/// One file the resolver layer read (or tried to read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// The path as given.
    pub path: String,
    /// The text, or why it could not be read.
    pub content: Result<String, String>,
}

/// One address of this host's interfaces (an RTM_GETADDR dump, what `ip addr` lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The address.
    pub address: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// The interface index.
    pub ifindex: u32,
}

/// The resolver configuration files as read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverFiles {
    /// resolv.conf.
    pub resolv_conf: ConfigFile,
    /// The hosts file.
    pub hosts: ConfigFile,
    /// nsswitch.conf.
    pub nsswitch: ConfigFile,
    /// Proxy-related environment variables that were set (name, value), for evidence.
    pub proxy_env: Vec<(String, String)>,
    /// gai.conf (getaddrinfo's sorting tables); `None` when not read (the defaults apply).
    pub gai_conf: Option<ConfigFile>,
    /// What `res_init` reads besides resolv.conf: the environment and the host name.
    pub env: ResolverEnv,
}

/// The resolver's inputs outside resolv.conf, as glibc's `res_init` reads them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolverEnv {
    /// `LOCALDOMAIN`: replaces the search list (resolv.conf's `search`/`domain` are ignored).
    pub localdomain: Option<String>,
    /// `RES_OPTIONS`: options applied after resolv.conf's.
    pub res_options: Option<String>,
    /// `HOSTALIASES`: the file of `alias name` lines, read for single-label names.
    pub hostaliases: Option<ConfigFile>,
    /// gethostname(): its domain (after the first dot) is the search list when neither
    /// resolv.conf nor LOCALDOMAIN gives one.
    pub hostname: Option<String>,
    /// Whether glibc can load the `myhostname` NSS module (libnss_myhostname.so.2 exists);
    /// listed but absent, glibc counts it as UNAVAIL.
    pub myhostname_installed: bool,
}

/// DNS record types the walk asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
}

impl RecordType {
    /// `A` or `AAAA`.
    pub fn name(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
        }
    }
}

/// A DNS response code, as the wire says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// NOERROR.
    NoError,
    /// FORMERR.
    FormErr,
    /// SERVFAIL.
    ServFail,
    /// NXDOMAIN.
    NxDomain,
    /// NOTIMP.
    NotImp,
    /// REFUSED.
    Refused,
    /// Any other code.
    Other(u16),
}

impl Rcode {
    /// The mnemonic, e.g. `NXDOMAIN`.
    pub fn name(self) -> String {
        match self {
            Rcode::NoError => "NOERROR".into(),
            Rcode::FormErr => "FORMERR".into(),
            Rcode::ServFail => "SERVFAIL".into(),
            Rcode::NxDomain => "NXDOMAIN".into(),
            Rcode::NotImp => "NOTIMP".into(),
            Rcode::Refused => "REFUSED".into(),
            Rcode::Other(n) => format!("RCODE{n}"),
        }
    }
}

/// One DNS question sent to one nameserver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuestion {
    /// The fully qualified candidate name, with a trailing dot.
    pub name: String,
    /// A or AAAA.
    pub record_type: RecordType,
    /// The nameserver asked.
    pub server: SocketAddr,
    /// Whether the CD (checking disabled) bit was set.
    pub checking_disabled: bool,
}

/// What came back for one [`DnsQuestion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsOutcome {
    /// A response arrived.
    Response {
        /// The response code.
        rcode: Rcode,
        /// Addresses of the requested type in the answer section.
        addresses: Vec<IpAddr>,
        /// CNAME targets followed in the answer section, in order.
        cnames: Vec<String>,
        /// Answer records owned by a name outside the question's CNAME chain: glibc does not
        /// take them as addresses, but their presence still ends its search list walk.
        unused_answers: usize,
        /// The AD (authentic data) bit.
        authentic_data: bool,
        /// The answer was truncated over UDP and re-asked over TCP.
        via_tcp: bool,
        /// Time from the first send to the answer.
        latency: Duration,
    },
    /// Nothing came back before the deadline.
    Timeout {
        /// How long the probe waited.
        waited: Duration,
    },
    /// The network said no: an ICMP error (e.g. port unreachable) or a local socket error.
    Unreachable {
        /// The ICMP error, when one was received.
        icmp: Option<IcmpError>,
        /// The errno.
        errno: i32,
        /// Human text for the errno.
        message: String,
        /// Time until the error.
        latency: Duration,
    },
    /// A reply arrived that is not a valid DNS response to the question.
    Malformed {
        /// What was wrong.
        detail: String,
    },
}

/// One question and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsExchange {
    /// What was asked.
    pub question: DnsQuestion,
    /// What came back.
    pub outcome: DnsOutcome,
}

/// The kind of route the kernel chose (`rtm_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// An ordinary route.
    Unicast,
    /// The address is one of this host's own.
    Local,
    /// Broadcast.
    Broadcast,
    /// Multicast.
    Multicast,
    /// A blackhole route: packets are silently discarded.
    Blackhole,
    /// An unreachable route: the kernel answers host unreachable.
    Unreachable,
    /// A prohibit route: the kernel answers administratively prohibited.
    Prohibit,
    /// Anything else (raw `rtm_type`).
    Other(u8),
}

/// The kernel's answer to "how would you send to this address?" (RTM_GETROUTE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    /// The kernel chose a route.
    Route {
        /// The route type.
        kind: RouteKind,
        /// The next hop, when not directly connected.
        gateway: Option<IpAddr>,
        /// The output interface name (or index as text when the name is unknown).
        interface: Option<String>,
        /// The source address the kernel would use.
        source: Option<IpAddr>,
        /// The routing table.
        table: Option<u32>,
    },
    /// The kernel refused: no route (errno, e.g. ENETUNREACH).
    NoRoute {
        /// The errno.
        errno: i32,
        /// Human text for the errno.
        message: String,
    },
    /// The route could not be looked up at all (netlink unavailable).
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// The route to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteObservation {
    /// The destination.
    pub destination: IpAddr,
    /// What the kernel said.
    pub outcome: RouteOutcome,
}

/// How one TCP connect attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectOutcome {
    /// The handshake completed.
    Connected {
        /// The local address of the connection.
        local: Option<SocketAddr>,
        /// Set when the peer reset the connection right after the handshake.
        reset_after_connect: bool,
    },
    /// ECONNREFUSED with no ICMP error queued: a RST answered the SYN.
    Refused,
    /// No answer before the deadline.
    TimedOut,
    /// An ICMP error ended the attempt (read through `IP_RECVERR`).
    Icmp(IcmpError),
    /// Any other local error (errno and text), e.g. ENETUNREACH from the local stack.
    Error {
        /// The errno.
        errno: i32,
        /// Human text.
        message: String,
    },
}

/// One TCP connect attempt to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectObservation {
    /// The address connected to.
    pub address: SocketAddr,
    /// How it ended.
    pub outcome: ConnectOutcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// How one UDP probe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpOutcome {
    /// A datagram came back.
    Reply {
        /// Its size in bytes.
        bytes: usize,
    },
    /// An ICMP error came back (port unreachable, admin prohibited, ...).
    Icmp(IcmpError),
    /// ECONNREFUSED without a queued ICMP error (the kernel saw port unreachable).
    Refused,
    /// Nothing came back before the deadline.
    NoResponse,
    /// A local error.
    Error {
        /// The errno.
        errno: i32,
        /// Human text.
        message: String,
    },
}

/// One UDP probe to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpObservation {
    /// The address probed.
    pub address: SocketAddr,
    /// What the probe sent, e.g. "DNS query . NS" or "1 empty datagram".
    pub payload: String,
    /// Whether a reply is expected from a healthy service (a known protocol was spoken).
    pub reply_expected: bool,
    /// How it ended.
    pub outcome: UdpOutcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// A listening TCP socket on this host (from /proc/net/tcp or sock_diag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The bound address and port.
    pub local: SocketAddr,
    /// The owning process, e.g. `nginx (pid 812)`, when visible.
    pub process: Option<String>,
}

/// Facts about this host that explain local failures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// TCP listeners on the target port, when the target is this host.
    pub listeners: Vec<Listener>,
    /// Whether the listener inventory could be read, and if not, why.
    pub listeners_unavailable: Option<String>,
}

/// A proxy that applies to the target, and where the setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySetting {
    /// The proxy URL with credentials redacted, e.g. `http://bob:***@proxy.corp:3128`.
    pub url: String,
    /// Proxy host (name or address).
    pub host: String,
    /// Proxy port.
    pub port: u16,
    /// Where it came from: `https_proxy`, `HTTP_PROXY`, `all_proxy`, `--proxy`.
    pub source: String,
    /// Whether credentials are configured (they are sent as Proxy-Authorization, never shown).
    pub has_credentials: bool,
}

/// What the proxy said to `CONNECT host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyConnectOutcome {
    /// The proxy answered with a status line.
    Status {
        /// HTTP status code, e.g. 200, 403, 407, 502.
        code: u16,
        /// Reason phrase.
        reason: String,
        /// `Proxy-Authenticate` header values (the scheme and realm: no secrets).
        authenticate: Vec<String>,
        /// `Server` / `Via` header, to name the proxy software.
        server: Option<String>,
        /// Time from sending CONNECT to the status line.
        latency: Duration,
    },
    /// The proxy closed or reset the connection without a status line.
    Closed {
        /// What happened (e.g. "connection reset", "closed after 0 bytes").
        detail: String,
    },
    /// No answer before the deadline.
    TimedOut,
    /// The answer is not HTTP.
    Garbled {
        /// The first bytes, printable.
        first_bytes: String,
    },
}

/// The proxy walk: resolve the proxy, connect to it, ask it to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyObservation {
    /// The proxy used.
    pub setting: ProxySetting,
    /// The proxy's addresses, or why its name did not resolve.
    pub resolved: Result<Vec<IpAddr>, String>,
    /// TCP to the proxy (one per address tried, in order).
    pub connect: Vec<ConnectObservation>,
    /// The CONNECT exchange, when TCP to the proxy succeeded.
    pub tunnel: Option<ProxyConnectOutcome>,
    /// When the proxy failed: a direct TCP attempt to the target, to tell "the proxy is the
    /// problem" from "the service is down".
    pub direct: Vec<ConnectObservation>,
}

/// One certificate of the chain the server sent, as a person needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject DN, e.g. `CN=api.example.com, O=Example`.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Not valid before, seconds since the Unix epoch.
    pub not_before: i64,
    /// Not valid after, seconds since the Unix epoch.
    pub not_after: i64,
    /// DNS names and IP addresses in the subjectAltName extension.
    pub sans: Vec<String>,
    /// Key type and size, e.g. `RSA 2048`, `EC P-256`, `Ed25519`.
    pub key: String,
    /// Signature algorithm, e.g. `sha256WithRSAEncryption`.
    pub signature: String,
    /// Whether subject == issuer and the signature verifies with its own key (self-signed).
    pub self_signed: bool,
    /// Basic constraints CA flag.
    pub is_ca: bool,
    /// The organisation (O=) of the issuer, for chain heuristics.
    pub issuer_organization: Option<String>,
}

/// Why certificate verification failed (what the verifier said, recorded, not enforced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProblem {
    /// Expired.
    Expired,
    /// Not yet valid.
    NotYetValid,
    /// Not valid for the name asked.
    NameMismatch,
    /// The issuer is not trusted (or unknown).
    UnknownIssuer,
    /// Revoked: by the CRL given with `--crlfile` (the verifier checked it) or by the server's
    /// own stapled OCSP response.
    Revoked {
        /// Where the revocation was read: `the stapled OCSP response` or `the CRL <file>`.
        source: String,
        /// The reason, when the source gives one (`keyCompromise`, `superseded`, ...).
        reason: Option<String>,
        /// When it was revoked, seconds since the Unix epoch, when known.
        revoked_at: Option<i64>,
    },
    /// Bad signature, unsupported algorithm, ...: the verifier's words.
    Other(String),
}

/// The certificate status a stapled OCSP response gives for the server's certificate
/// (RFC 6960 `CertStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspStatus {
    /// `good`.
    Good,
    /// `revoked`, with the reason when the responder gave one.
    Revoked {
        /// `revocationTime`, seconds since the Unix epoch.
        revoked_at: Option<i64>,
        /// `revocationReason` (RFC 5280 CRLReason name), e.g. `keyCompromise`.
        reason: Option<String>,
    },
    /// `unknown`: the responder does not know the certificate.
    Unknown,
    /// The responder answered with an error status (`tryLater`, `unauthorized`, ...).
    ResponderError(String),
    /// The staple does not parse as an OCSP response; the words say where it broke.
    Unparsable(String),
}

/// A completed TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSession {
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: String,
    /// Negotiated cipher suite name.
    pub cipher: String,
    /// Negotiated key exchange group, when known.
    pub key_exchange: Option<String>,
    /// ALPN protocol chosen by the server.
    pub alpn: Option<String>,
    /// The chain as sent, leaf first.
    pub chain: Vec<CertificateInfo>,
    /// The verifier's verdict on the chain and name (`None` when it passed).
    pub problem: Option<CertProblem>,
    /// Which trust store was used, e.g. `system (/etc/ssl/certs, 140 roots) + --cacert ca.pem`.
    pub trust_store: String,
    /// Trusted roots' subject DNs (names only), for the chain heuristics.
    pub trusted_organizations: Vec<String>,
    /// Whether the server stapled an OCSP response.
    pub ocsp_stapled: bool,
    /// What the stapled OCSP response says about the leaf, when one was stapled.
    pub ocsp_status: Option<OcspStatus>,
    /// Whether the server asked for a client certificate (CertificateRequest).
    pub client_cert_requested: bool,
    /// Handshake time.
    pub latency: Duration,
}

/// How the TLS layer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsOutcome {
    /// The handshake completed (see `problem` for certificate findings).
    Handshake(TlsSession),
    /// The server answered with something that is not TLS.
    NotTls {
        /// What it spoke, e.g. `HTTP/1.1 400 Bad Request`, `SSH-2.0-OpenSSH_9.2`.
        spoke: String,
    },
    /// The server speaks only older TLS versions (found with a hand-built ClientHello).
    LegacyOnly {
        /// The versions it accepted, e.g. `["TLSv1.0"]`.
        versions: Vec<String>,
    },
    /// The server demanded a client certificate and aborted without one.
    ClientCertRequired {
        /// The alert or error seen.
        detail: String,
    },
    /// The server speaks TLS 1.2 but, offered the suites rustls lacks by a hand-built
    /// ClientHello, chose one of them: it has no suite in common with rustls.
    UnsupportedSuite {
        /// The version of its ServerHello, e.g. `TLSv1.2`.
        version: String,
        /// The suite it chose (IANA code point).
        suite: u16,
        /// For a DHE suite, the size of the group in its ServerKeyExchange, in bits.
        dh_bits: Option<u32>,
        /// The server's own certificate from that handshake (TLS 1.2 sends it in the clear).
        leaf: Option<CertificateInfo>,
    },
    /// The handshake failed after the server's certificate arrived (e.g. its key is too weak for
    /// the handshake signature): the chain as sent, and the verifier's verdict on it.
    FailedAfterCertificate {
        /// The chain as sent, leaf first.
        chain: Vec<CertificateInfo>,
        /// The verifier's verdict on the chain (`None` when it passed).
        problem: Option<CertProblem>,
        /// The TLS alert received, if any.
        alert: Option<String>,
        /// The error text.
        detail: String,
    },
    /// A handshake message (in practice the Certificate message) was larger than this client
    /// accepts.
    MessageTooLarge {
        /// The client's limit, in bytes.
        limit: usize,
        /// What was seen.
        detail: String,
    },
    /// The handshake failed with an alert or error.
    Failed {
        /// The TLS alert description, if one was received (e.g. `handshake_failure`).
        alert: Option<String>,
        /// The error text.
        detail: String,
    },
    /// The server reset or closed the connection during the handshake.
    Closed {
        /// What happened.
        detail: String,
    },
    /// No answer before the deadline.
    TimedOut,
}

/// The TLS probe of one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsObservation {
    /// The address.
    pub address: SocketAddr,
    /// The SNI sent (`None` for an IP-address target without `--sni`).
    pub sni: Option<String>,
    /// How it ended.
    pub outcome: TlsOutcome,
    /// Time since the walk started the TLS layer for this address.
    pub elapsed: Duration,
}

/// Phase timings like `curl -w`, each from the start of the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpTimings {
    /// TCP connected.
    pub connect: Option<Duration>,
    /// TLS handshake done.
    pub tls: Option<Duration>,
    /// First response byte.
    pub first_byte: Option<Duration>,
    /// Whole response read.
    pub total: Option<Duration>,
}

/// How the HTTP exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    /// A response head arrived.
    Response {
        /// `HTTP/1.1` or `HTTP/2`.
        version: String,
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
        /// `Location` header, for redirects.
        location: Option<String>,
        /// `Server` header.
        server: Option<String>,
        /// Body bytes read (bounded).
        body_bytes: u64,
    },
    /// A response in which the server says the client certificate it needed was not sent
    /// (nginx with `ssl_verify_client on` finishes the handshake and answers
    /// `400 No required SSL certificate was sent`). Kept apart from `Response` because the
    /// body's words are the only evidence that the 400 is about mutual TLS.
    ClientCertDemanded {
        /// Status code (400 from nginx).
        status: u16,
        /// Reason phrase.
        reason: String,
        /// The server's words, e.g. `No required SSL certificate was sent`.
        notice: String,
    },
    /// The server reset the connection (before or while answering).
    Reset {
        /// Bytes received before the reset.
        after_bytes: u64,
    },
    /// The server closed without a response.
    Closed,
    /// No (complete) answer before the deadline.
    TimedOut {
        /// Whether any byte of the response arrived.
        got_first_byte: bool,
    },
    /// Not HTTP.
    Garbled {
        /// The first bytes, printable.
        first_bytes: String,
    },
    /// A local error.
    Error {
        /// What went wrong.
        detail: String,
    },
}

/// One HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpObservation {
    /// The URL requested (no credentials).
    pub url: String,
    /// The address used.
    pub address: SocketAddr,
    /// How it ended.
    pub outcome: HttpOutcome,
    /// Phase timings.
    pub timings: HttpTimings,
    /// Set when the probe stopped waiting for the response to begin at this point (twice the
    /// `--slow` threshold, measured like `timings`) instead of waiting out the deadline.
    pub first_byte_limit: Option<Duration>,
    /// Set when the probe stopped because the request's full-size segment was not acknowledged
    /// (retransmitted while nothing of it was acknowledged): what TCP_INFO showed.
    pub request_stalled: Option<String>,
}

/// One size tried by the path-MTU probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtuProbe {
    /// IP packet size tried, in bytes.
    pub size: u32,
    /// What happened.
    pub result: MtuProbeResult,
}

/// The result of sending one probe of a given size with DF set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MtuProbeResult {
    /// It got through (an answer came back).
    Passed,
    /// The kernel or a router said it is too big (EMSGSIZE or ICMP frag-needed / packet-too-big).
    TooBig {
        /// The MTU reported, when known.
        mtu: Option<u32>,
        /// The router that said so.
        from: Option<IpAddr>,
    },
    /// Nothing came back.
    Lost,
}

/// The path-MTU walk to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtuObservation {
    /// The address.
    pub address: SocketAddr,
    /// How it was measured, e.g. "TCP with MSS probing", "UDP DNS queries with DF".
    pub method: String,
    /// The local interface MTU on the route.
    pub interface_mtu: Option<u32>,
    /// The path MTU the kernel learned (IP_MTU after the probes).
    pub kernel_path_mtu: Option<u32>,
    /// Every size tried, in order.
    pub probes: Vec<MtuProbe>,
    /// Why the probe could not run, if it could not.
    pub unavailable: Option<String>,
    /// The full-size segment the HTTP request put on the live session, when it did.
    pub live_segment: Option<LiveSegment>,
}

/// One full-size segment sent on the live session (the HTTP request padded to the MSS), and
/// what TCP_INFO said about it afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSegment {
    /// IP packet size of the largest segment sent (MSS plus IP and TCP headers).
    pub size: u32,
    /// Whether it filled the segment (false when the MSS is above the padding cap).
    pub full: bool,
    /// What it carried, e.g. "the HTTP request, padded (X-Netdiag-Pad) to 1448 bytes".
    pub carried: String,
    /// Bytes written to the connection for it.
    pub bytes: u32,
    /// Whether the peer acknowledged all of them.
    pub acked: bool,
    /// Retransmissions on the connection while it was outstanding.
    pub retransmits: u32,
    /// The path MTU the connection used before the segment was sent (TCP_INFO `tcpi_pmtu`).
    pub pmtu_before: u32,
    /// The path MTU afterwards: lower when an ICMP frag-needed taught the kernel.
    pub pmtu_after: u32,
}
