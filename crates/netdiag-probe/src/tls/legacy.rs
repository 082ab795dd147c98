//! The legacy probe: which TLS versions older than 1.2 a server speaks, and with which suite,
//! group and certificate a TLS 1.2 server answers when it shares no suite with rustls.
//!
//! Why it exists: rustls speaks only TLS 1.2 and 1.3, so against a server stuck on TLS 1.0 all it
//! can say is "handshake failed". To name what the server does speak we send a ClientHello built
//! by hand, on a fresh connection, offering one old version and the cipher suites such servers
//! pick, and read the first record of the reply: a ServerHello names the version the server
//! chose; an alert or a close means "not this one". For a TLS 1.2 answer it reads on through the
//! server's first flight, which TLS 1.2 sends in the clear, for the server's certificate and a
//! DHE group's size (ServerKeyExchange): the reasons a server and rustls share no suite. No key
//! exchange is ever done, so no crypto is needed and nothing is sent beyond the ClientHello.
//!
//! This module must never be used to exchange data, never wait past the deadline, and never
//! open more than [`MAX_CONNECTIONS`] connections.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

use super::wire::{self, DhGroup, FirstRecord};

/// At most this many fresh connections per survey.
pub(crate) const MAX_CONNECTIONS: usize = 2;

/// The largest reply read while looking for the first record.
const MAX_REPLY: usize = 32 * 1024;

/// Cipher suites old servers pick and rustls does not offer (all CBC, GCM without ECDHE, or DHE),
/// then the broken ones (3DES, RC4, DES, NULL, export) last, so that a server which also has a
/// merely unsupported suite picks that one, ending with the renegotiation SCSV that some servers
/// insist on.
const LEGACY_SUITES: [u16; 30] = [
    0xc013, // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
    0xc014, // TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
    0xc009, // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
    0xc00a, // TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
    0x0033, // TLS_DHE_RSA_WITH_AES_128_CBC_SHA
    0x0039, // TLS_DHE_RSA_WITH_AES_256_CBC_SHA
    0x009e, // TLS_DHE_RSA_WITH_AES_128_GCM_SHA256
    0x009f, // TLS_DHE_RSA_WITH_AES_256_GCM_SHA384
    0x009c, // TLS_RSA_WITH_AES_128_GCM_SHA256
    0x009d, // TLS_RSA_WITH_AES_256_GCM_SHA384
    0x003c, // TLS_RSA_WITH_AES_128_CBC_SHA256
    0x002f, // TLS_RSA_WITH_AES_128_CBC_SHA
    0x0035, // TLS_RSA_WITH_AES_256_CBC_SHA
    0xc023, // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256
    0xc027, // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256
    0x0067, // TLS_DHE_RSA_WITH_AES_128_CBC_SHA256
    0xc012, // TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA
    0xc008, // TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA
    0x0016, // TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA
    0x000a, // TLS_RSA_WITH_3DES_EDE_CBC_SHA
    0xc011, // TLS_ECDHE_RSA_WITH_RC4_128_SHA
    0xc007, // TLS_ECDHE_ECDSA_WITH_RC4_128_SHA
    0x0005, // TLS_RSA_WITH_RC4_128_SHA
    0x0004, // TLS_RSA_WITH_RC4_128_MD5
    0x0009, // TLS_RSA_WITH_DES_CBC_SHA
    0xc010, // TLS_ECDHE_RSA_WITH_NULL_SHA
    0xc006, // TLS_ECDHE_ECDSA_WITH_NULL_SHA
    0x0002, // TLS_RSA_WITH_NULL_SHA
    0x0003, // TLS_RSA_EXPORT_WITH_RC4_40_MD5
    0x00ff, // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
];

/// The DHE suites of [`LEGACY_SUITES`]: their ServerKeyExchange carries the group.
const DHE_SUITES: [u16; 6] = [0x0033, 0x0039, 0x009e, 0x009f, 0x0067, 0x0016];

/// What one hand-built ClientHello got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HelloReply {
    /// A ServerHello choosing this version (and suite, when seen).
    ServerHello {
        version: u16,
        cipher_suite: Option<u16>,
        /// For a DHE suite, the size of the group in the ServerKeyExchange.
        dh_bits: Option<u32>,
        /// For TLS 1.2 (where it travels in the clear): the server's own certificate, DER.
        leaf: Option<Vec<u8>>,
    },
    /// An alert, by description code.
    Alert(u8),
    /// Closed or reset without a ServerHello, or something that is not TLS.
    NoHello(String),
}

/// What the survey found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Survey {
    /// Versions below TLS 1.2 the server chose, oldest first, e.g. `["TLSv1.0"]`.
    pub(crate) legacy_versions: Vec<String>,
    /// When the server answered an offer of TLS 1.2 with legacy suites only: the suite it chose.
    /// It speaks TLS 1.2, but only with a cipher suite rustls does not offer.
    pub(crate) tls12_legacy_suite: Option<u16>,
    /// With a DHE `tls12_legacy_suite`: the size of its group, in bits.
    pub(crate) tls12_dh_bits: Option<u32>,
    /// With `tls12_legacy_suite`: the server's own certificate from that handshake, DER.
    pub(crate) tls12_leaf: Option<Vec<u8>>,
    /// One line per connection made, for the failure's detail.
    pub(crate) notes: Vec<String>,
}

/// Finds the old versions the server speaks.
///
/// `known_max` is the version of a ServerHello the server already sent to rustls (a server
/// negotiates down to its highest version, so that is its maximum). Without it we first offer
/// TLS 1.2 with legacy suites only, which a TLS 1.0/1.1 server answers with its own highest
/// version. Then, when the maximum is TLS 1.1, we offer TLS 1.0 to see if it is spoken too.
pub(crate) fn survey(
    known_max: Option<u16>,
    sni: Option<&str>,
    deadline: Instant,
    reconnect: &dyn Fn() -> io::Result<TcpStream>,
) -> Survey {
    let mut survey = Survey::default();
    let mut connections = 0;
    let mut offer_once = |version: u16, survey: &mut Survey| -> Option<HelloReply> {
        if connections >= MAX_CONNECTIONS || Instant::now() >= deadline {
            return None;
        }
        connections += 1;
        let reply = offer(version, sni, deadline, reconnect);
        survey.notes.push(format!(
            "a ClientHello offering only {} got {}",
            wire::version_name(version),
            describe(&reply)
        ));
        Some(reply)
    };

    let max = match known_max {
        Some(version) => Some(version),
        None => match offer_once(0x0303, &mut survey) {
            Some(HelloReply::ServerHello {
                version,
                cipher_suite,
                dh_bits,
                leaf,
            }) => {
                if version >= 0x0303 {
                    survey.tls12_legacy_suite = cipher_suite;
                    survey.tls12_dh_bits = dh_bits;
                    survey.tls12_leaf = leaf;
                    return survey;
                }
                Some(version)
            }
            // A server intolerant of a 1.2 offer may still answer a 1.0 one.
            _ => None,
        },
    };
    let mut spoken: Vec<u16> = max.into_iter().filter(|&v| v < 0x0303).collect();
    let lowest_to_try = match max {
        Some(0x0302) => Some(0x0301),
        None => Some(0x0301),
        Some(_) => None,
    };
    if let Some(version) = lowest_to_try {
        if let Some(HelloReply::ServerHello { version: got, .. }) = offer_once(version, &mut survey)
        {
            if got == version {
                spoken.push(got);
            }
        }
    }
    spoken.sort_unstable();
    spoken.dedup();
    survey.legacy_versions = spoken.into_iter().map(wire::version_name).collect();
    survey
}

fn describe(reply: &HelloReply) -> String {
    match reply {
        HelloReply::ServerHello {
            version,
            cipher_suite: Some(suite),
            ..
        } => format!(
            "a ServerHello for {} with suite 0x{suite:04x}",
            wire::version_name(*version)
        ),
        HelloReply::ServerHello { version, .. } => {
            format!("a ServerHello for {}", wire::version_name(*version))
        }
        HelloReply::Alert(description) => format!("alert {}", wire::alert_name(*description)),
        HelloReply::NoHello(what) => what.clone(),
    }
}

/// Sends one hand-built ClientHello offering `version` on a fresh connection and reads the
/// first record of the reply.
fn offer(
    version: u16,
    sni: Option<&str>,
    deadline: Instant,
    reconnect: &dyn Fn() -> io::Result<TcpStream>,
) -> HelloReply {
    let mut stream = match reconnect() {
        Ok(stream) => stream,
        Err(e) => return HelloReply::NoHello(format!("no connection ({e})")),
    };
    let reply = exchange(&mut stream, &client_hello(version, sni, random()), deadline);
    let _ = stream.shutdown(Shutdown::Both);
    reply
}

fn exchange(stream: &mut TcpStream, hello: &[u8], deadline: Instant) -> HelloReply {
    if let Err(e) = super::arm(stream, deadline).and_then(|()| stream.write_all(hello)) {
        return HelloReply::NoHello(io_text(&e));
    }
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    // Bounded: every pass reads at least one byte or ends, and the reply is capped.
    while reply.len() < MAX_REPLY {
        let n = match super::arm(stream, deadline).and_then(|()| stream.read(&mut buf)) {
            Ok(n) => n,
            Err(e) => return HelloReply::NoHello(io_text(&e)),
        };
        if n == 0 {
            return HelloReply::NoHello(format!("a close after {} bytes", reply.len()));
        }
        reply.extend_from_slice(&buf[..n]);
        match wire::first_record(&reply) {
            FirstRecord::Incomplete => continue,
            FirstRecord::ServerHello {
                version,
                cipher_suite,
            } => {
                let dhe = cipher_suite.is_some_and(|s| DHE_SUITES.contains(&s));
                let (leaf, dh_bits) = if version == 0x0303 {
                    read_flight(stream, &mut reply, deadline, dhe)
                } else {
                    (None, None)
                };
                return HelloReply::ServerHello {
                    version,
                    cipher_suite,
                    dh_bits,
                    leaf,
                };
            }
            FirstRecord::Alert { description, .. } => return HelloReply::Alert(description),
            FirstRecord::NotTls => {
                return HelloReply::NoHello(format!(
                    "non-TLS bytes ({})",
                    wire::printable_summary(&reply)
                ))
            }
            FirstRecord::OtherTls => {
                return HelloReply::NoHello("a TLS record that is not a ServerHello".to_owned())
            }
        }
    }
    HelloReply::NoHello("too many bytes without a ServerHello".to_owned())
}

/// Reads on after a TLS 1.2 ServerHello until the flight has shown the server's certificate
/// and, for a DHE suite, the size of its group in the ServerKeyExchange (or the flight ends
/// without them, the reply cap or the deadline is reached).
fn read_flight(
    stream: &mut TcpStream,
    reply: &mut Vec<u8>,
    deadline: Instant,
    dhe: bool,
) -> (Option<Vec<u8>>, Option<u32>) {
    let mut buf = [0u8; 4096];
    let (mut leaf, mut dh_bits) = (None, None);
    let (mut leaf_done, mut dh_done) = (false, !dhe);
    // Bounded: every pass reads at least one byte or ends, and the reply is capped.
    while reply.len() < MAX_REPLY {
        if !leaf_done {
            match wire::first_certificate(reply) {
                Ok(Some(der)) => (leaf, leaf_done) = (Some(der), true),
                Ok(None) => {}
                Err(()) => leaf_done = true,
            }
        }
        if !dh_done {
            match wire::dh_group_bits(reply) {
                DhGroup::Bits(bits) => (dh_bits, dh_done) = (Some(bits), true),
                DhGroup::Absent => dh_done = true,
                DhGroup::Incomplete => {}
            }
        }
        if leaf_done && dh_done {
            break;
        }
        match super::arm(stream, deadline).and_then(|()| stream.read(&mut buf)) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    (leaf, dh_bits)
}

fn io_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            "no answer before the deadline".to_owned()
        }
        io::ErrorKind::ConnectionReset => "a reset".to_owned(),
        _ => format!("an error ({e})"),
    }
}

/// 32 bytes for `ClientHello.random`. Nothing secret rides on this hello, but a fixed value could
/// trip replay filters, so take them from the crypto provider's generator.
fn random() -> [u8; 32] {
    let mut random = [0u8; 32];
    let provider = rustls::crypto::ring::default_provider();
    if provider.secure_random.fill(&mut random).is_err() {
        // Unpredictability is a nicety here; carry on with a time-derived value.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        random[..16].copy_from_slice(&nanos.to_be_bytes());
    }
    random
}

/// A complete TLS record holding a ClientHello that offers only `version` (RFC 5246 7.4.1.2),
/// with SNI when a DNS name is given, the groups and point formats ECDHE suites need, and the
/// usual signature algorithms.
pub(crate) fn client_hello(version: u16, sni: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    let mut extensions = Vec::new();
    if let Some(name) = sni.filter(|n| !n.is_empty() && n.len() < 256) {
        let name = name.as_bytes();
        let mut list = vec![0u8]; // name_type host_name
        push_u16_prefixed(&mut list, name);
        let mut body = Vec::new();
        push_u16_prefixed(&mut body, &list);
        push_extension(&mut extensions, 0x0000, &body);
    }
    // supported_groups: x25519, secp256r1, secp384r1, secp521r1 (a TLS 1.2 server with an ECDSA
    // certificate uses it only when its curve is listed).
    let mut groups = Vec::new();
    push_u16_prefixed(
        &mut groups,
        &[0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, 0x00, 0x19],
    );
    push_extension(&mut extensions, 0x000a, &groups);
    // ec_point_formats: uncompressed.
    push_extension(&mut extensions, 0x000b, &[1, 0]);
    // signature_algorithms (ignored by TLS 1.0/1.1 servers, needed by TLS 1.2 ones), including
    // ECDSA P-521 and Ed25519 so that a server whose key rustls cannot use still shows it.
    let mut schemes = Vec::new();
    push_u16_prefixed(
        &mut schemes,
        &[
            0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x04,
            0x08, 0x05, 0x08, 0x07, 0x02, 0x01, 0x02, 0x03,
        ],
    );
    push_extension(&mut extensions, 0x000d, &schemes);

    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&random);
    body.push(0); // empty session id
    let suites: Vec<u8> = LEGACY_SUITES.iter().flat_map(|s| s.to_be_bytes()).collect();
    push_u16_prefixed(&mut body, &suites);
    body.extend_from_slice(&[1, 0]); // compression: null only
    push_u16_prefixed(&mut body, &extensions);

    let mut handshake = vec![1u8]; // client_hello
    let len = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
    handshake.extend_from_slice(&len[1..]);
    handshake.extend_from_slice(&body);

    // Record version 0x0301: what every client puts on its first record, for old middleboxes.
    let mut record = vec![wire::CONTENT_HANDSHAKE, 3, 1];
    push_u16_prefixed(&mut record, &handshake);
    record
}

fn push_extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    push_u16_prefixed(out, body);
}

/// Appends `bytes` with a two-byte length. Every caller builds at most a few hundred bytes.
fn push_u16_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(bytes: &[u8], at: usize) -> usize {
        usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]))
    }

    #[test]
    fn client_hello_lengths_are_consistent() {
        let record = client_hello(0x0301, Some("legacy.example"), [0x42; 32]);
        assert_eq!(&record[..3], &[22, 3, 1]);
        assert_eq!(u16_at(&record, 3), record.len() - 5);
        let handshake = &record[5..];
        assert_eq!(handshake[0], 1);
        let hs_len = usize::from(handshake[1]) << 16 | u16_at(handshake, 2);
        assert_eq!(hs_len, handshake.len() - 4);
        let body = &handshake[4..];
        assert_eq!(&body[..2], &[3, 1], "client_version offers only TLS 1.0");
        assert_eq!(&body[2..34], &[0x42; 32]);
        assert_eq!(body[34], 0, "empty session id");
        let suites_len = u16_at(body, 35);
        assert_eq!(suites_len, LEGACY_SUITES.len() * 2);
        let after_suites = 37 + suites_len;
        assert_eq!(&body[after_suites..after_suites + 2], &[1, 0]);
        let ext_len = u16_at(body, after_suites + 2);
        assert_eq!(ext_len, body.len() - after_suites - 4);
        // Walk the extensions: every length fits, and SNI carries the name.
        let mut at = after_suites + 4;
        let mut kinds = Vec::new();
        while at < body.len() {
            let kind = u16_at(body, at);
            let len = u16_at(body, at + 2);
            if kind == 0 {
                assert_eq!(&body[at + 9..at + 4 + len], b"legacy.example");
            }
            kinds.push(kind);
            at += 4 + len;
        }
        assert_eq!(at, body.len());
        assert_eq!(kinds, vec![0x0000, 0x000a, 0x000b, 0x000d]);
    }

    #[test]
    fn no_sni_extension_without_a_name() {
        let with = client_hello(0x0302, Some("a.example"), [0; 32]);
        let without = client_hello(0x0302, None, [0; 32]);
        assert_eq!(
            with.len() - without.len(),
            4 + 2 + 1 + 2 + "a.example".len()
        );
    }
}
