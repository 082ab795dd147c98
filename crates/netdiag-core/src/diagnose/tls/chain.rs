//! What the chain as sent says by itself, without a verifier: a weak key or signature, and the
//! order the certificates come in.
//!
//! Why apart from the verifier's verdict: webpki answers "unsupported signature algorithm" or a
//! bad handshake signature, which names neither the certificate nor the reason a person can act
//! on; the chain names both ("cert[1] 'CN=Int' is signed with sha1WithRSAEncryption").

use crate::observe::CertificateInfo;

/// The smallest RSA modulus verifiers accept.
pub(crate) const MIN_RSA_BITS: u32 = 2048;
/// The largest RSA modulus webpki accepts (its `RSA_PKCS1_2048_8192_*` algorithms).
pub(crate) const MAX_RSA_BITS: u32 = 8192;

/// A weakness in one certificate of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Weakness {
    /// Signed with SHA-1 or MD5 (the algorithm's name).
    Signature(String),
    /// An RSA key smaller than [`MIN_RSA_BITS`] or larger than [`MAX_RSA_BITS`] (its size).
    RsaKey(u32),
    /// A key type the verifier does not implement (`EC P-521`, `DSA`, `Ed448`, ...).
    UnsupportedKey(String),
}

/// The RSA key size of `key` (`RSA 1024` → 1024).
fn rsa_bits(key: &str) -> Option<u32> {
    key.strip_prefix("RSA ")?.trim().parse().ok()
}

/// Whether this client's verifier (webpki with ring) can use a key of this description.
fn supported_key(key: &str) -> bool {
    key.starts_with("RSA") || matches!(key, "EC P-256" | "EC P-384" | "Ed25519" | "")
}

/// Whether a signature algorithm name is SHA-1 or MD5 based.
fn weak_signature(signature: &str) -> bool {
    let s = signature.to_ascii_lowercase();
    s.contains("sha1") || s.contains("sha-1") || s.contains("md5") || s.contains("md2")
}

/// The first weak certificate of the chain, by position. A self-signed certificate's own
/// signature is never checked by verifiers (a root is trusted by its key), so it does not count.
pub(crate) fn first_weakness(chain: &[CertificateInfo]) -> Option<(usize, Weakness)> {
    chain.iter().enumerate().find_map(|(i, c)| {
        if let Some(bits) = rsa_bits(&c.key).filter(|b| !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(b))
        {
            return Some((i, Weakness::RsaKey(bits)));
        }
        if !supported_key(&c.key) {
            return Some((i, Weakness::UnsupportedKey(c.key.clone())));
        }
        (!c.self_signed && weak_signature(&c.signature))
            .then(|| (i, Weakness::Signature(c.signature.clone())))
    })
}

/// When the chain is not in order (each certificate followed by its issuer, leaf first): a
/// sentence saying how. Unrelated extra certificates alone are not misordering.
pub(crate) fn misordering(chain: &[CertificateInfo]) -> Option<String> {
    if chain.len() < 2 {
        return None;
    }
    let issued_something = |c: &CertificateInfo| {
        chain
            .iter()
            .any(|o| o.issuer == c.subject && o.subject != c.subject)
    };
    // The leaf: the certificate that issued none of the others.
    let leaf_at = chain.iter().position(|c| !issued_something(c))?;
    if leaf_at != 0 {
        return Some(format!(
            "cert[0] is '{}', which issued another certificate of the chain; the server's own certificate '{}' comes at position {leaf_at}",
            chain[0].subject, chain[leaf_at].subject
        ));
    }
    for i in 1..chain.len() {
        let wanted = &chain[i - 1].issuer;
        if chain[i - 1].self_signed || &chain[i].subject == wanted {
            continue;
        }
        if let Some(j) = chain.iter().skip(i + 1).position(|c| &c.subject == wanted) {
            return Some(format!(
                "the issuer of cert[{}] ('{wanted}') comes at position {} instead of {i}",
                i - 1,
                i + 1 + j
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(subject: &str, issuer: &str, key: &str, signature: &str) -> CertificateInfo {
        CertificateInfo {
            subject: subject.into(),
            issuer: issuer.into(),
            not_before: 0,
            not_after: 0,
            sans: Vec::new(),
            key: key.into(),
            signature: signature.into(),
            self_signed: subject == issuer,
            is_ca: subject != "CN=leaf",
            issuer_organization: None,
        }
    }

    #[test]
    fn weak_keys_and_signatures_are_found_by_position() {
        let leaf = cert("CN=leaf", "CN=int", "RSA 1024", "sha256WithRSAEncryption");
        let int = cert("CN=int", "CN=root", "EC P-256", "ecdsa-with-SHA256");
        assert_eq!(
            first_weakness(&[leaf.clone(), int.clone()]),
            Some((0, Weakness::RsaKey(1024)))
        );
        let sha1 = cert("CN=int", "CN=root", "EC P-256", "ecdsa-with-SHA1");
        let good = cert("CN=leaf", "CN=int", "RSA 2048", "sha256WithRSAEncryption");
        assert_eq!(
            first_weakness(&[good.clone(), sha1]),
            Some((1, Weakness::Signature("ecdsa-with-SHA1".into())))
        );
        let md5 = cert("CN=leaf", "CN=int", "EC P-256", "md5WithRSAEncryption");
        assert!(matches!(
            first_weakness(&[md5]),
            Some((0, Weakness::Signature(_)))
        ));
        let p521 = cert("CN=leaf", "CN=int", "EC P-521", "ecdsa-with-SHA512");
        assert_eq!(
            first_weakness(std::slice::from_ref(&p521)),
            Some((0, Weakness::UnsupportedKey("EC P-521".into())))
        );
        let huge = cert("CN=leaf", "CN=int", "RSA 16384", "sha256WithRSAEncryption");
        assert_eq!(first_weakness(&[huge]), Some((0, Weakness::RsaKey(16384))));
        let sha1_root = cert("CN=root", "CN=root", "RSA 4096", "sha1WithRSAEncryption");
        assert_eq!(first_weakness(&[good, int, sha1_root]), None);
    }

    #[test]
    fn order_is_leaf_then_each_issuer() {
        let leaf = cert("CN=leaf", "CN=int", "EC P-256", "x");
        let int = cert("CN=int", "CN=root", "EC P-256", "x");
        let root = cert("CN=root", "CN=root", "EC P-256", "x");
        assert_eq!(misordering(&[leaf.clone(), int.clone()]), None);
        assert_eq!(
            misordering(&[leaf.clone(), int.clone(), root.clone()]),
            None
        );
        assert_eq!(misordering(std::slice::from_ref(&leaf)), None);
        let ca_first = misordering(&[int.clone(), leaf.clone()]).unwrap_or_default();
        assert!(ca_first.contains("cert[0] is 'CN=int'"), "{ca_first}");
        assert!(ca_first.contains("position 1"), "{ca_first}");
        let root_before_int = misordering(&[leaf.clone(), root, int.clone()]).unwrap_or_default();
        assert!(
            root_before_int.contains("comes at position 2 instead of 1"),
            "{root_before_int}"
        );
        let unrelated = cert("CN=other", "CN=elsewhere", "EC P-256", "x");
        assert_eq!(misordering(&[leaf, int, unrelated]), None);
    }
}
