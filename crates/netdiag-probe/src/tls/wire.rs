//! What the first bytes a server sends mean, read by hand: the TLS record header, a ServerHello's
//! version and cipher suite, an alert, or something that is not TLS at all.
//!
//! Why by hand: rustls only reports "invalid message" when a server answers with plaintext or with
//! a TLS 1.0 ServerHello, and the diagnosis needs to know which. The few fixed offsets of RFC 5246
//! section 6.2 and 7.4 are all we read; no crypto, no state. Every function here is pure and must
//! never panic on any input (the property tests feed it arbitrary bytes).

/// TLS record content type: alert.
pub(crate) const CONTENT_ALERT: u8 = 21;
/// TLS record content type: handshake.
pub(crate) const CONTENT_HANDSHAKE: u8 = 22;
/// Handshake message type: ServerHello.
const HANDSHAKE_SERVER_HELLO: u8 = 2;
/// The largest record payload a peer may send (2^14 plus the allowed expansion).
const MAX_RECORD_PAYLOAD: usize = (1 << 14) + 2048;

/// What the start of a server's reply is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstRecord {
    /// Too few bytes to tell yet.
    Incomplete,
    /// Not a TLS record header: the server speaks another protocol.
    NotTls,
    /// A ServerHello: the version the server chose and, if the record holds it, the suite.
    ServerHello {
        /// `server_version` (for TLS 1.3 this is the legacy 0x0303).
        version: u16,
        /// The chosen cipher suite, when the record is long enough to hold it.
        cipher_suite: Option<u16>,
    },
    /// An alert record.
    Alert {
        /// 1 = warning, 2 = fatal.
        level: u8,
        /// The alert description code (see [`alert_name`]).
        description: u8,
    },
    /// Some other TLS record first (unusual but valid TLS).
    OtherTls,
}

/// Reads the first record of a server's reply.
pub(crate) fn first_record(bytes: &[u8]) -> FirstRecord {
    let Some(&content_type) = bytes.first() else {
        return FirstRecord::Incomplete;
    };
    if !(20..=24).contains(&content_type) {
        return FirstRecord::NotTls;
    }
    match bytes.get(1) {
        None => return FirstRecord::Incomplete,
        Some(3) => {}
        Some(_) => return FirstRecord::NotTls,
    }
    let (Some(&len_hi), Some(&len_lo)) = (bytes.get(3), bytes.get(4)) else {
        return FirstRecord::Incomplete;
    };
    let length = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    if length == 0 || length > MAX_RECORD_PAYLOAD {
        return FirstRecord::NotTls;
    }
    let payload = &bytes[5..bytes.len().min(5 + length)];
    match content_type {
        CONTENT_ALERT => match (payload.first(), payload.get(1)) {
            (Some(&level), Some(&description)) => FirstRecord::Alert { level, description },
            _ => FirstRecord::Incomplete,
        },
        CONTENT_HANDSHAKE => server_hello(payload),
        _ => FirstRecord::OtherTls,
    }
}

/// Reads a ServerHello from the start of a handshake record's payload.
fn server_hello(payload: &[u8]) -> FirstRecord {
    match payload.first() {
        None => return FirstRecord::Incomplete,
        Some(&HANDSHAKE_SERVER_HELLO) => {}
        Some(_) => return FirstRecord::OtherTls,
    }
    // type(1) length(3) server_version(2) random(32) session_id_length(1) session_id cipher(2)
    let (Some(&major), Some(&minor)) = (payload.get(4), payload.get(5)) else {
        return FirstRecord::Incomplete;
    };
    let version = u16::from_be_bytes([major, minor]);
    let cipher_suite = payload.get(38).and_then(|&sid_len| {
        let at = 39 + usize::from(sid_len);
        match (payload.get(at), payload.get(at + 1)) {
            (Some(&hi), Some(&lo)) => Some(u16::from_be_bytes([hi, lo])),
            _ => None,
        }
    });
    FirstRecord::ServerHello {
        version,
        cipher_suite,
    }
}

/// Handshake message type: ServerKeyExchange.
const HANDSHAKE_SERVER_KEY_EXCHANGE: u8 = 12;
/// Handshake message type: ServerHelloDone.
const HANDSHAKE_SERVER_HELLO_DONE: u8 = 14;

/// What the handshake flight after a TLS 1.2 ServerHello says about a DHE group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DhGroup {
    /// Not all of the flight has arrived yet.
    Incomplete,
    /// The ServerKeyExchange's `dh_p` has this many significant bits.
    Bits(u32),
    /// The flight ended (ServerHelloDone) without a ServerKeyExchange, or the bytes are not a
    /// handshake flight.
    Absent,
}

/// Handshake message type: Certificate.
const HANDSHAKE_CERTIFICATE: u8 = 11;

/// One handshake message looked for in the server's first flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup<'a> {
    /// Not all of the flight has arrived yet.
    Incomplete,
    /// The message's body.
    Found(&'a [u8]),
    /// The flight ended (ServerHelloDone, or a record that is not a handshake) without it.
    Absent,
}

/// The handshake payloads of the records in `bytes`, joined (messages may span records), and
/// whether a non-handshake record ended them.
fn flight(bytes: &[u8]) -> (Vec<u8>, bool) {
    let mut joined = Vec::new();
    let mut at = 0;
    // Bounded: every pass consumes one record header plus its payload.
    while let (Some(&content), Some(&hi), Some(&lo)) =
        (bytes.get(at), bytes.get(at + 3), bytes.get(at + 4))
    {
        let length = usize::from(u16::from_be_bytes([hi, lo]));
        let Some(payload) = bytes.get(at + 5..at + 5 + length) else {
            break;
        };
        if content != CONTENT_HANDSHAKE {
            return (joined, true);
        }
        joined.extend_from_slice(payload);
        at += 5 + length;
    }
    (joined, false)
}

/// The first handshake message of type `kind` in a joined flight.
fn find(flight: &[u8], ended: bool, kind: u8) -> Lookup<'_> {
    let mut at = 0;
    // Bounded: every pass moves past one whole message.
    while let (Some(&found), Some(len)) = (flight.get(at), flight.get(at + 1..at + 4)) {
        let length = usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]);
        let Some(body) = flight.get(at + 4..at + 4 + length) else {
            return if ended {
                Lookup::Absent
            } else {
                Lookup::Incomplete
            };
        };
        if found == kind {
            return Lookup::Found(body);
        }
        if found == HANDSHAKE_SERVER_HELLO_DONE {
            return Lookup::Absent;
        }
        at += 4 + length;
    }
    if ended {
        Lookup::Absent
    } else {
        Lookup::Incomplete
    }
}

/// Reads the size of the DHE prime from the server's first flight (RFC 5246 7.4.3:
/// `ServerDHParams { opaque dh_p<1..2^16-1>; ... }` opens the ServerKeyExchange). `bytes` is the
/// whole reply from its first record on; handshake messages may span records.
pub(crate) fn dh_group_bits(bytes: &[u8]) -> DhGroup {
    let (joined, ended) = flight(bytes);
    match find(&joined, ended, HANDSHAKE_SERVER_KEY_EXCHANGE) {
        Lookup::Incomplete => DhGroup::Incomplete,
        Lookup::Absent => DhGroup::Absent,
        Lookup::Found(body) => {
            let (Some(&hi), Some(&lo)) = (body.first(), body.get(1)) else {
                return DhGroup::Absent;
            };
            let p_len = usize::from(u16::from_be_bytes([hi, lo]));
            match body.get(2..2 + p_len) {
                Some(p) => DhGroup::Bits(significant_bits(p)),
                None => DhGroup::Absent,
            }
        }
    }
}

/// The server's own certificate (DER) from a TLS 1.2 Certificate message in the first flight
/// (RFC 5246 7.4.2: `ASN.1Cert certificate_list<0..2^24-1>`, sender's certificate first):
/// `Ok(None)` while the flight is incomplete, `Err(())` when it holds none.
pub(crate) fn first_certificate(bytes: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    let (joined, ended) = flight(bytes);
    match find(&joined, ended, HANDSHAKE_CERTIFICATE) {
        Lookup::Incomplete => Ok(None),
        Lookup::Absent => Err(()),
        Lookup::Found(body) => {
            let len = body.get(3..6).ok_or(())?;
            let length = usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]);
            body.get(6..6 + length)
                .map(|der| Some(der.to_vec()))
                .ok_or(())
        }
    }
}

/// Bits in a big-endian unsigned integer, ignoring leading zero bytes and bits.
fn significant_bits(bytes: &[u8]) -> u32 {
    let Some(first) = bytes.iter().position(|&b| b != 0) else {
        return 0;
    };
    let bytes_left = u32::try_from(bytes.len() - first).unwrap_or(u32::MAX / 8);
    (bytes_left * 8).saturating_sub(bytes[first].leading_zeros())
}

/// The protocol name of a TLS version code, as OpenSSL and curl print it.
pub(crate) fn version_name(version: u16) -> String {
    match version {
        0x0300 => "SSLv3".to_owned(),
        0x0301 => "TLSv1.0".to_owned(),
        0x0302 => "TLSv1.1".to_owned(),
        0x0303 => "TLSv1.2".to_owned(),
        0x0304 => "TLSv1.3".to_owned(),
        other => format!("0x{other:04x}"),
    }
}

/// The RFC name of a TLS alert description (IANA "TLS Alerts" registry), e.g. 116 →
/// `certificate_required`.
pub(crate) fn alert_name(description: u8) -> String {
    let name = match description {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        121 => "ech_required",
        other => return format!("alert_{other}"),
    };
    name.to_owned()
}

/// A short printable account of bytes that are not TLS, for a person: the first line when it is
/// text (`HTTP/1.1 400 Bad Request`, `SSH-2.0-OpenSSH_9.2`), else the first bytes in hex.
pub(crate) fn printable_summary(bytes: &[u8]) -> String {
    const MAX_CHARS: usize = 100;
    let line_end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let line = &bytes[..line_end];
    let is_text = !line.is_empty()
        && line
            .iter()
            .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b));
    if is_text {
        let mut text: String = line
            .iter()
            .take(MAX_CHARS)
            .map(|&b| char::from(b))
            .collect();
        if line.len() > MAX_CHARS {
            text.push('…');
        }
        return text;
    }
    let hex: Vec<String> = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > 16 { " …" } else { "" };
    format!("{} non-TLS bytes: {}{more}", bytes.len(), hex.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A ServerHello record as OpenSSL sends it for TLS 1.0 (session id of 32 bytes).
    fn server_hello_record(version: u16, suite: u16) -> Vec<u8> {
        let mut body = vec![HANDSHAKE_SERVER_HELLO, 0, 0, 0];
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&[7u8; 32]);
        body.push(32);
        body.extend_from_slice(&[9u8; 32]);
        body.extend_from_slice(&suite.to_be_bytes());
        body.push(0);
        let mut record = vec![CONTENT_HANDSHAKE, 3, 1];
        record.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        record.extend_from_slice(&body);
        record
    }

    #[test]
    fn server_hello_gives_version_and_suite() {
        let record = server_hello_record(0x0301, 0xc014);
        assert_eq!(
            first_record(&record),
            FirstRecord::ServerHello {
                version: 0x0301,
                cipher_suite: Some(0xc014)
            }
        );
    }

    #[test]
    fn a_cut_server_hello_still_gives_the_version() {
        let record = server_hello_record(0x0302, 0x002f);
        assert_eq!(first_record(&record[..5]), FirstRecord::Incomplete);
        assert_eq!(
            first_record(&record[..20]),
            FirstRecord::ServerHello {
                version: 0x0302,
                cipher_suite: None
            }
        );
    }

    #[test]
    fn fatal_protocol_version_alert() {
        assert_eq!(
            first_record(&[21, 3, 1, 0, 2, 2, 70]),
            FirstRecord::Alert {
                level: 2,
                description: 70
            }
        );
        assert_eq!(alert_name(70), "protocol_version");
        assert_eq!(alert_name(116), "certificate_required");
        assert_eq!(alert_name(200), "alert_200");
    }

    #[test]
    fn plaintext_is_not_tls_from_the_first_byte() {
        assert_eq!(first_record(b"H"), FirstRecord::NotTls);
        assert_eq!(
            first_record(b"SSH-2.0-OpenSSH_9.2\r\n"),
            FirstRecord::NotTls
        );
        // 0x16 followed by a byte that is not major version 3.
        assert_eq!(first_record(&[22, 0x48]), FirstRecord::NotTls);
        assert_eq!(first_record(&[]), FirstRecord::Incomplete);
    }

    #[test]
    fn summaries_show_the_first_line_or_hex() {
        assert_eq!(
            printable_summary(b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n\r\n"),
            "HTTP/1.1 400 Bad Request"
        );
        assert_eq!(
            printable_summary(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"),
            "SSH-2.0-OpenSSH_9.2p1 Debian-2"
        );
        assert_eq!(printable_summary(&[0, 1, 255]), "3 non-TLS bytes: 00 01 ff");
        let long = vec![b'a'; 150];
        assert_eq!(printable_summary(&long).chars().count(), 101);
    }

    #[test]
    fn version_names_match_openssl() {
        assert_eq!(version_name(0x0301), "TLSv1.0");
        assert_eq!(version_name(0x0302), "TLSv1.1");
        assert_eq!(version_name(0x0304), "TLSv1.3");
        assert_eq!(version_name(0x7f1c), "0x7f1c");
    }

    fn record(content: u8, payload: &[u8]) -> Vec<u8> {
        let mut r = vec![content, 3, 3];
        r.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        r.extend_from_slice(payload);
        r
    }

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(body.len()).unwrap().to_be_bytes();
        let mut m = vec![kind, len[1], len[2], len[3]];
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn dh_prime_size_is_read_across_records() {
        let hello = message(HANDSHAKE_SERVER_HELLO, &[3, 3, 0]);
        let certificate = message(11, &[0, 0, 3, 1, 2, 3]);
        let mut p = vec![0x80];
        p.extend(std::iter::repeat_n(0xffu8, 127));
        let mut ske = vec![0x00, 0x80];
        ske.extend_from_slice(&p);
        ske.extend_from_slice(&[0, 1, 2]);
        let ske = message(HANDSHAKE_SERVER_KEY_EXCHANGE, &ske);
        let mut flight = hello.clone();
        flight.extend_from_slice(&certificate);
        flight.extend_from_slice(&ske);
        let (first, second) = flight.split_at(20);
        let mut bytes = record(CONTENT_HANDSHAKE, first);
        assert_eq!(dh_group_bits(&bytes), DhGroup::Incomplete);
        bytes.extend_from_slice(&record(CONTENT_HANDSHAKE, second));
        assert_eq!(dh_group_bits(&bytes), DhGroup::Bits(1024));
        let mut done = hello;
        done.extend_from_slice(&message(HANDSHAKE_SERVER_HELLO_DONE, &[]));
        assert_eq!(
            dh_group_bits(&record(CONTENT_HANDSHAKE, &done)),
            DhGroup::Absent
        );
        assert_eq!(
            dh_group_bits(&record(CONTENT_ALERT, &[2, 40])),
            DhGroup::Absent
        );
        assert_eq!(significant_bits(&[0, 0x01, 0]), 9);
    }

    proptest! {
        #[test]
        fn reading_dh_groups_from_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = dh_group_bits(&bytes);
            let _ = first_certificate(&bytes);
        }

        #[test]
        fn reading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = first_record(&bytes);
            let _ = printable_summary(&bytes);
        }

        #[test]
        fn reading_arbitrary_tls_looking_bytes_never_panics(
            content in 20u8..=24, minor in 0u8..=4, len in any::<u16>(),
            rest in proptest::collection::vec(any::<u8>(), 0..120)
        ) {
            let mut bytes = vec![content, 3, minor];
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&rest);
            let _ = first_record(&bytes);
        }
    }
}
