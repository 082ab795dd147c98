//! One certificate of the chain, as a person needs to see it: subject, issuer, validity, names,
//! key and signature algorithm, and the flags the chain heuristics use.
//!
//! Why it is separate from the handshake: it is a pure function of DER bytes (x509-parser), so it
//! is tested on generated certificates without a socket. It must never panic on what a server
//! sends: a certificate that does not parse is described as such, not unwrapped.

use std::net::IpAddr;

use netdiag_core::observe::CertificateInfo;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{
    self, OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519, OID_SIG_ED448,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

/// Describes one DER certificate. A certificate that does not parse still gets an entry, whose
/// subject says why, so the chain keeps its length and order.
pub(crate) fn describe(der: &[u8]) -> CertificateInfo {
    match X509Certificate::from_der(der) {
        Ok((_, cert)) => describe_parsed(&cert),
        Err(e) => CertificateInfo {
            subject: format!("(unparsable certificate: {e})"),
            issuer: String::new(),
            not_before: 0,
            not_after: 0,
            sans: Vec::new(),
            key: String::new(),
            signature: String::new(),
            self_signed: false,
            is_ca: false,
            issuer_organization: None,
        },
    }
}

fn describe_parsed(cert: &X509Certificate<'_>) -> CertificateInfo {
    let validity = cert.validity();
    let same_name = cert.subject().as_raw() == cert.issuer().as_raw();
    CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        sans: subject_alt_names(cert),
        key: key_description(cert),
        signature: algorithm_name(&cert.signature_algorithm.algorithm),
        // Same name is not enough (a CA may reissue under its own name with a new key): the
        // signature must verify with the certificate's own key.
        self_signed: same_name && cert.verify_signature(None).is_ok(),
        is_ca: matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca),
        issuer_organization: organization(cert.issuer()),
    }
}

/// The O= of a name, or its CN= when it has no O= (what a person calls the organisation).
pub(crate) fn organization(name: &X509Name<'_>) -> Option<String> {
    name.iter_organization()
        .find_map(|attr| attr.as_str().ok())
        .or_else(|| name.iter_common_name().find_map(|attr| attr.as_str().ok()))
        .map(str::to_owned)
}

/// The organisation of a DER certificate (for trusted roots).
pub(crate) fn organization_of(der: &[u8]) -> Option<String> {
    X509Certificate::from_der(der)
        .ok()
        .and_then(|(_, cert)| organization(cert.subject()))
}

/// The organisation of a DER-encoded Name (a trust anchor's subject, which webpki stores
/// without its outer SEQUENCE header).
pub(crate) fn organization_of_name_contents(contents: &[u8]) -> Option<String> {
    let mut der = vec![0x30];
    let len = contents.len();
    if len < 0x80 {
        der.push(u8::try_from(len).ok()?);
    } else if len <= 0xff {
        der.extend_from_slice(&[0x81, u8::try_from(len).ok()?]);
    } else {
        der.push(0x82);
        der.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    }
    der.extend_from_slice(contents);
    X509Name::from_der(&der)
        .ok()
        .and_then(|(_, name)| organization(&name))
}

fn subject_alt_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => ip_from_bytes(bytes).map(|ip| ip.to_string()),
            _ => None,
        })
        .collect()
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// `RSA 2048`, `EC P-256`, `Ed25519`, ...
fn key_description(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    let algorithm = &spki.algorithm.algorithm;
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        if let Ok(PublicKey::RSA(rsa)) = spki.parsed() {
            return format!("RSA {}", significant_bits(rsa.modulus));
        }
        return "RSA".to_owned();
    }
    if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(oid) if oid == OID_EC_P256 => "EC P-256".to_owned(),
            Some(oid) if oid == OID_NIST_EC_P384 => "EC P-384".to_owned(),
            Some(oid) if oid == OID_NIST_EC_P521 => "EC P-521".to_owned(),
            Some(oid) => format!("EC {}", algorithm_name(&oid)),
            None => "EC".to_owned(),
        };
    }
    if *algorithm == OID_SIG_ED25519 {
        return "Ed25519".to_owned();
    }
    if *algorithm == OID_SIG_ED448 {
        return "Ed448".to_owned();
    }
    algorithm_name(algorithm)
}

/// Bits in a big-endian unsigned integer, ignoring leading zero bytes and bits.
fn significant_bits(bytes: &[u8]) -> usize {
    let Some(first) = bytes.iter().position(|&b| b != 0) else {
        return 0;
    };
    let leading = bytes[first].leading_zeros() as usize;
    (bytes.len() - first) * 8 - leading
}

/// The short name of an OID (`sha256WithRSAEncryption`, `ecdsa-with-SHA256`), or its dotted form.
fn algorithm_name(oid: &oid_registry::Oid<'_>) -> String {
    let dotted = oid.to_id_string();
    // The registry lacks some legacy signature algorithms, exactly the ones a person must see
    // named (the chain heuristics look for SHA-1 and MD5).
    let legacy = match dotted.as_str() {
        "1.2.840.10045.4.1" => Some("ecdsa-with-SHA1"),
        "1.2.840.113549.1.1.5" => Some("sha1WithRSAEncryption"),
        "1.2.840.113549.1.1.4" => Some("md5WithRSAEncryption"),
        "1.2.840.113549.1.1.2" => Some("md2WithRSAEncryption"),
        "1.2.840.10040.4.3" => Some("dsa-with-SHA1"),
        _ => None,
    };
    if let Some(name) = legacy {
        return name.to_owned();
    }
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map(str::to_owned)
        .unwrap_or(dotted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_bits_ignore_the_sign_byte() {
        let mut modulus = vec![0u8];
        modulus.extend(std::iter::repeat_n(0xffu8, 256));
        assert_eq!(significant_bits(&modulus), 2048);
        assert_eq!(significant_bits(&[0x01, 0x00]), 9);
        assert_eq!(significant_bits(&[]), 0);
    }

    #[test]
    fn legacy_signature_algorithms_are_named() {
        for (dotted, name) in [
            ("1.2.840.10045.4.1", "ecdsa-with-SHA1"),
            ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
            ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
        ] {
            let oid: oid_registry::Oid<'_> = dotted.parse().unwrap();
            assert_eq!(algorithm_name(&oid), name);
        }
    }

    #[test]
    fn garbage_is_described_not_unwrapped() {
        let info = describe(b"not a certificate");
        assert!(info.subject.starts_with("(unparsable certificate"));
        assert!(!info.self_signed);
    }

    #[test]
    fn generated_leaf_is_described() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["a.example".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example Org");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "a.example");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        let info = describe(cert.der());
        assert!(info.subject.contains("CN=a.example"), "{}", info.subject);
        assert_eq!(info.sans, vec!["a.example", "127.0.0.1"]);
        assert_eq!(info.key, "EC P-256");
        assert_eq!(info.signature, "ecdsa-with-SHA256");
        assert!(info.self_signed);
        assert!(!info.is_ca);
        assert_eq!(info.issuer_organization.as_deref(), Some("Example Org"));
        assert_eq!(info.not_before, 1_577_836_800);
        assert_eq!(info.not_after, 1_893_456_000);
    }
}
