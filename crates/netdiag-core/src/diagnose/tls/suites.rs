//! Cipher suites by IANA code point: the name a person searches for, and whether the suite is
//! broken (RC4, DES/3DES, NULL, export) or merely one rustls does not implement (CBC, static RSA
//! key exchange, DHE).
//!
//! Why it matters: a server that only offers the first kind is a security finding to fix now
//! (`tls_weak_cipher`); one that only offers the second kind still serves OpenSSL-based clients
//! (`tls_no_shared_cipher`: compatibility, not an outage). The table holds the suites the
//! hand-built ClientHello offers plus the common neighbours; an unknown code is shown in hex.

/// The IANA name of a TLS 1.2-or-older cipher suite, or `0x…` when not in the table.
pub(crate) fn name(code: u16) -> String {
    let known = match code {
        0x0001 => "TLS_RSA_WITH_NULL_MD5",
        0x0002 => "TLS_RSA_WITH_NULL_SHA",
        0x003b => "TLS_RSA_WITH_NULL_SHA256",
        0xc006 => "TLS_ECDHE_ECDSA_WITH_NULL_SHA",
        0xc010 => "TLS_ECDHE_RSA_WITH_NULL_SHA",
        0x0003 => "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
        0x0006 => "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5",
        0x0008 => "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA",
        0x0014 => "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA",
        0x0004 => "TLS_RSA_WITH_RC4_128_MD5",
        0x0005 => "TLS_RSA_WITH_RC4_128_SHA",
        0xc007 => "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
        0xc011 => "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        0x0009 => "TLS_RSA_WITH_DES_CBC_SHA",
        0x0015 => "TLS_DHE_RSA_WITH_DES_CBC_SHA",
        0x000a => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0016 => "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0xc008 => "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
        0xc012 => "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        0x002f => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x003c => "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x003d => "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x009c => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009d => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x0033 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        0x0039 => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        0x0067 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        0x006b => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        0x009e => "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009f => "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0xccaa => "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xc009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xc00a => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xc013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xc014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xc023 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        0xc024 => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        0xc027 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xc028 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0x0041 => "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
        0x0084 => "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
        0x0096 => "TLS_RSA_WITH_SEED_CBC_SHA",
        0x0007 => "TLS_RSA_WITH_IDEA_CBC_SHA",
        _ => return format!("0x{code:04x}"),
    };
    format!("{known} (0x{code:04x})")
}

/// Why a suite is broken, or `None` when it is only unsupported by rustls.
pub(crate) fn weakness(code: u16) -> Option<&'static str> {
    match code {
        0x0001 | 0x0002 | 0x003b | 0xc006 | 0xc010 => Some("NULL encryption: no confidentiality"),
        0x0003 | 0x0006 | 0x0008 | 0x0014 => Some("an export suite (40-bit keys, FREAK-class)"),
        0x0004 | 0x0005 | 0xc007 | 0xc011 => Some("RC4, prohibited by RFC 7465"),
        0x0009 | 0x0015 => Some("single DES (56-bit keys)"),
        0x000a | 0x0016 | 0xc008 | 0xc012 => Some("3DES, a 64-bit block cipher (Sweet32)"),
        _ => None,
    }
}

/// What kind of suite rustls lacks, in a person's words.
pub(crate) fn why_unsupported(code: u16) -> &'static str {
    let n = name(code);
    if n.starts_with("TLS_DHE_") {
        "finite-field DHE key exchange"
    } else if n.starts_with("TLS_RSA_") {
        "static RSA key exchange (no forward secrecy)"
    } else if n.contains("_CBC_") {
        "CBC mode"
    } else {
        "a suite rustls does not implement"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_kinds() {
        assert_eq!(name(0x000a), "TLS_RSA_WITH_3DES_EDE_CBC_SHA (0x000a)");
        assert_eq!(name(0xfefe), "0xfefe");
        assert!(weakness(0x0005).is_some_and(|w| w.contains("RC4")));
        assert!(weakness(0x0002).is_some_and(|w| w.contains("NULL")));
        assert!(weakness(0x0008).is_some_and(|w| w.contains("export")));
        assert_eq!(weakness(0xc013), None);
        assert_eq!(why_unsupported(0x009e), "finite-field DHE key exchange");
        assert_eq!(
            why_unsupported(0x002f),
            "static RSA key exchange (no forward secrecy)"
        );
        assert_eq!(why_unsupported(0xc009), "CBC mode");
    }
}
