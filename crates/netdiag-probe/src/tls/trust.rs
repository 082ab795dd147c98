//! The trust store: the system's roots (read once per process) plus the user's `--cacert` roots,
//! with a sentence saying which store was used and the organisations of its roots.
//!
//! Why the description: "unknown issuer" means nothing unless the report says *whose* roots were
//! consulted. Why the organisations: the core guesses "incomplete chain" when the leaf's issuer
//! was not sent but a trusted root of the same organisation exists. If the system store is empty
//! (a minimal container), Mozilla's roots from webpki-roots are used instead, and the description
//! says so; this module never silently trusts nothing.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use super::cert;

/// The roots to verify against, and what they are.
pub(crate) struct Trust {
    pub(crate) roots: RootCertStore,
    /// E.g. `system (/etc/ssl/certs/ca-certificates.crt, 146 roots) + --cacert (1 root)`.
    pub(crate) description: String,
    /// O= (or CN=) of every trusted root, sorted, without duplicates.
    pub(crate) organizations: Vec<String>,
}

struct SystemRoots {
    roots: RootCertStore,
    description: String,
    organizations: BTreeSet<String>,
}

/// Builds the trust store for one handshake: the cached system roots plus `extra_roots_pem`.
pub(crate) fn build(extra_roots_pem: Option<&str>) -> Trust {
    let system = system_roots();
    let mut roots = system.roots.clone();
    let mut organizations = system.organizations.clone();
    let mut description = system.description.clone();
    if let Some(pem) = extra_roots_pem {
        let (mut added, mut rejected) = (0usize, 0usize);
        for item in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let Ok(der) = item else {
                rejected += 1;
                continue;
            };
            match roots.add(der.clone()) {
                Ok(()) => {
                    added += 1;
                    organizations.extend(cert::organization_of(&der));
                }
                Err(_) => rejected += 1,
            }
        }
        description.push_str(&format!(" + --cacert ({})", count(added, "root")));
        if rejected > 0 {
            description.push_str(&format!(", {} unusable", count(rejected, "certificate")));
        }
        if added == 0 && rejected == 0 {
            description.push_str(": no PEM certificate in it");
        }
    }
    Trust {
        roots,
        description,
        organizations: organizations.into_iter().collect(),
    }
}

/// Starts reading the system store on a background thread, so that the first handshake does not
/// pay for it (reading the bundle and scanning the certificate directory takes several ms).
pub(crate) fn preload() {
    if SYSTEM.get().is_none() {
        // If the thread cannot be spawned, the first handshake reads the store itself.
        let _ = std::thread::Builder::new()
            .name("netdiag-trust-preload".to_owned())
            .spawn(|| {
                system_roots();
            });
    }
}

static SYSTEM: OnceLock<SystemRoots> = OnceLock::new();

fn system_roots() -> &'static SystemRoots {
    SYSTEM.get_or_init(load_system_roots)
}

/// Reads the system store the way rustls-native-certs does (SSL_CERT_FILE / SSL_CERT_DIR, else
/// the distribution's bundle), naming where it looked.
fn load_system_roots() -> SystemRoots {
    // The bundle file alone is one read; the hashed directory beside it is hundreds of opens
    // and usually holds the same roots. Read the directory only when the bundle gives nothing.
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| openssl_probe::probe().cert_file)
        .filter(|p| p.is_file());
    let loaded = match bundle {
        Some(file) => {
            let from_file = rustls_native_certs::load_certs_from_paths(Some(&file), None);
            if from_file.certs.is_empty() {
                rustls_native_certs::load_native_certs()
            } else {
                from_file
            }
        }
        None => rustls_native_certs::load_native_certs(),
    };
    let place = system_store_place();
    let mut roots = RootCertStore::empty();
    let mut organizations = BTreeSet::new();
    for der in loaded.certs {
        let organization = cert::organization_of(&der);
        if roots.add(der).is_ok() {
            organizations.extend(organization);
        }
    }
    let errors = if loaded.errors.is_empty() {
        String::new()
    } else {
        format!(", {} while reading it", count(loaded.errors.len(), "error"))
    };
    if !roots.is_empty() {
        let description = format!("system ({place}, {}{errors})", count(roots.len(), "root"));
        return SystemRoots {
            roots,
            description,
            organizations,
        };
    }
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for anchor in webpki_roots::TLS_SERVER_ROOTS {
        organizations.extend(cert::organization_of_name_contents(&anchor.subject));
    }
    let description = format!(
        "webpki-roots (Mozilla, {}; the system store {place} was empty{errors})",
        count(roots.len(), "root")
    );
    SystemRoots {
        roots,
        description,
        organizations,
    }
}

fn system_store_place() -> String {
    let probe = openssl_probe::probe();
    let mut places: Vec<String> = Vec::new();
    for place in probe.cert_file.iter().chain(probe.cert_dir.iter()) {
        let place = place.display().to_string();
        if !places.contains(&place) {
            places.push(place);
        }
    }
    if places.is_empty() {
        "no CA bundle found".to_owned()
    } else {
        places.join(" + ")
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cacert_roots_are_added_and_named() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Zeta Test Roots");
        let root = params.self_signed(&key).unwrap();
        let system = build(None);
        let trust = build(Some(&root.pem()));
        assert_eq!(trust.roots.len(), system.roots.len() + 1);
        assert!(
            trust.description.ends_with(" + --cacert (1 root)"),
            "{}",
            trust.description
        );
        assert!(trust.organizations.contains(&"Zeta Test Roots".to_owned()));
        assert!(
            !system.roots.is_empty(),
            "never an empty store: {}",
            system.description
        );
    }

    #[test]
    fn a_cacert_without_certificates_is_said() {
        let trust = build(Some("hello"));
        assert!(trust
            .description
            .ends_with("--cacert (0 roots): no PEM certificate in it"));
    }

    #[test]
    fn webpki_anchor_names_are_readable() {
        let organizations: Vec<String> = webpki_roots::TLS_SERVER_ROOTS
            .iter()
            .filter_map(|a| cert::organization_of_name_contents(&a.subject))
            .collect();
        assert!(organizations.len() > 50, "{organizations:?}");
        assert!(organizations
            .iter()
            .any(|o| o == "Internet Security Research Group"));
    }
}
