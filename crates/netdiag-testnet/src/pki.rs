//! A throwaway certificate authority for TLS scenarios: root, intermediate, and leaves with the
//! defect a test needs (expired, wrong name, self-signed, signed by a CA nobody trusts…).
//!
//! Certificates are generated fresh for every scenario (rcgen, ECDSA P-256) and written as PEM
//! into the scenario's temp dir, so any server can use them: `openssl s_server` or the harness's
//! own rustls server ([`crate::HttpServer::tls`]). Nothing here is ever trusted outside a test:
//! the root is passed to netdiag explicitly with `--cacert`.

use crate::{Error, Result};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams,
    CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SerialNumber,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

const ORG: &str = "netdiag testnet PKI";
const DAY: Duration = Duration::from_secs(86_400);

/// When a leaf certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Validity {
    /// From a year ago to a year from now.
    Current,
    /// Ended: from two years ago to yesterday.
    Expired,
    /// Starts in a month, ends in a year and a month.
    NotYetValid,
    /// Valid since a year ago, ends this many days from now.
    ExpiresInDays(u32),
}

/// Who signs a leaf certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signer {
    /// The intermediate (the normal case: serve it with the intermediate, trust the root).
    Intermediate,
    /// The leaf signs itself.
    SelfSigned,
}

/// The PEM files of one leaf.
#[derive(Debug, Clone)]
pub struct LeafFiles {
    /// The leaf certificate alone.
    pub cert: PathBuf,
    /// Its private key (PKCS#8).
    pub key: PathBuf,
    /// The leaf followed by the intermediate: what a correctly configured server sends.
    pub full_chain: PathBuf,
    /// The leaf's serial number (big-endian), for a CRL or an OCSP index that revokes it.
    pub serial: Vec<u8>,
}

/// A root CA and an intermediate CA, with their certificates written as PEM.
pub struct Pki {
    dir: PathBuf,
    intermediate: CertifiedIssuer<'static, KeyPair>,
    root_pem: PathBuf,
    intermediate_pem: PathBuf,
    intermediate_key: PathBuf,
}

/// Serial numbers unique within the process (with the time, across runs).
static SERIALS: AtomicU32 = AtomicU32::new(1);

fn next_serial() -> Vec<u8> {
    let n = SERIALS.fetch_add(1, Ordering::Relaxed);
    let secs = since_epoch().as_secs();
    let mut serial = vec![0x10];
    serial.extend_from_slice(&secs.to_be_bytes()[4..]);
    serial.extend_from_slice(&n.to_be_bytes());
    serial
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("root_pem", &self.root_pem)
            .field("intermediate_pem", &self.intermediate_pem)
            .finish_non_exhaustive()
    }
}

fn pki_error(what: &str, e: rcgen::Error) -> Error {
    Error::Setup(format!("certificate generation ({what}): {e}"))
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, contents)
        .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    Ok(path)
}

/// How long since the Unix epoch: added to `date_time_ymd(1970, 1, 1)` it is "now" in rcgen's
/// time type, which rcgen does not re-export.
fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

fn ca_params(common_name: &str) -> Result<CertificateParams> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| pki_error(common_name, e))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::OrganizationName, ORG);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = date_time_ymd(1970, 1, 1) + since_epoch();
    params.not_before = now - 400 * DAY;
    params.not_after = now + 3650 * DAY;
    Ok(params)
}

impl Pki {
    /// Generates a root and an intermediate and writes `root.pem` and `intermediate.pem` into
    /// `dir` (use the scenario's [`crate::Testnet::dir`]).
    pub fn new(dir: &Path) -> Result<Pki> {
        let root_key = KeyPair::generate().map_err(|e| pki_error("root key", e))?;
        let root = CertifiedIssuer::self_signed(ca_params("netdiag testnet root")?, root_key)
            .map_err(|e| pki_error("root", e))?;
        let key = KeyPair::generate().map_err(|e| pki_error("intermediate key", e))?;
        let intermediate_key = write(dir, "intermediate.key", &key.serialize_pem())?;
        let intermediate =
            CertifiedIssuer::signed_by(ca_params("netdiag testnet intermediate")?, key, &root)
                .map_err(|e| pki_error("intermediate", e))?;
        let root_pem = write(dir, "root.pem", &root.pem())?;
        let intermediate_pem = write(dir, "intermediate.pem", &intermediate.pem())?;
        Ok(Pki {
            dir: dir.to_path_buf(),
            intermediate,
            root_pem,
            intermediate_pem,
            intermediate_key,
        })
    }

    /// The intermediate's private key (PKCS#8 PEM), for scenarios that sign with `openssl`
    /// (an RSA-1024 or SHA-1 leaf, an OCSP response, a CA that serves itself first).
    pub fn intermediate_key(&self) -> &Path {
        &self.intermediate_key
    }

    /// Writes a CRL, signed by the intermediate, that revokes `serial` (reason keyCompromise)
    /// and returns its path (PEM).
    pub fn crl_revoking(&self, label: &str, serial: &[u8]) -> Result<PathBuf> {
        let now = date_time_ymd(1970, 1, 1) + since_epoch();
        let params = CertificateRevocationListParams {
            this_update: now - DAY,
            next_update: now + 30 * DAY,
            crl_number: SerialNumber::from(vec![1u8]),
            issuing_distribution_point: None,
            revoked_certs: vec![RevokedCertParams {
                serial_number: SerialNumber::from(serial.to_vec()),
                revocation_time: now - DAY,
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            }],
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&self.intermediate)
            .map_err(|e| pki_error(label, e))?;
        let pem = crl.pem().map_err(|e| pki_error(label, e))?;
        write(&self.dir, &format!("{label}.crl.pem"), &pem)
    }

    /// The root certificate: what `--cacert` must name for a chain to be trusted.
    pub fn root_pem(&self) -> &Path {
        &self.root_pem
    }

    /// The intermediate certificate (for `openssl s_server -cert_chain`).
    pub fn intermediate_pem(&self) -> &Path {
        &self.intermediate_pem
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses; the first is also the
    /// subject's common name) and writes `<label>.pem`, `<label>.key` and
    /// `<label>-fullchain.pem`.
    pub fn leaf(
        &self,
        label: &str,
        names: &[&str],
        validity: Validity,
        signer: Signer,
    ) -> Result<LeafFiles> {
        let sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(sans).map_err(|e| pki_error(label, e))?;
        params
            .distinguished_name
            .push(DnType::OrganizationName, "netdiag testnet service");
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = date_time_ymd(1970, 1, 1) + since_epoch();
        let (not_before, not_after) = match validity {
            Validity::Current => (now - 365 * DAY, now + 365 * DAY),
            Validity::Expired => (now - 730 * DAY, now - DAY),
            Validity::NotYetValid => (now + 30 * DAY, now + 395 * DAY),
            Validity::ExpiresInDays(days) => (now - 365 * DAY, now + days * DAY),
        };
        params.not_before = not_before;
        params.not_after = not_after;
        let serial = next_serial();
        params.serial_number = Some(SerialNumber::from(serial.clone()));
        let key = KeyPair::generate().map_err(|e| pki_error(label, e))?;
        let cert = match signer {
            Signer::Intermediate => params.signed_by(&key, &self.intermediate),
            Signer::SelfSigned => params.self_signed(&key),
        }
        .map_err(|e| pki_error(label, e))?;
        let cert_pem = cert.pem();
        let full_chain = format!("{cert_pem}{}", self.intermediate.pem());
        Ok(LeafFiles {
            cert: write(&self.dir, &format!("{label}.pem"), &cert_pem)?,
            key: write(&self.dir, &format!("{label}.key"), &key.serialize_pem())?,
            full_chain: write(&self.dir, &format!("{label}-fullchain.pem"), &full_chain)?,
            serial,
        })
    }
}
