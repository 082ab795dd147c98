//! The tls layer: does the handshake succeed, and is the certificate valid for this name?
//!
//! The probe finishes the handshake even when the certificate is bad, so the chain can be shown
//! whatever is wrong with it; this module turns the verifier's recorded verdict and the chain
//! into one cause. An expired certificate, a missing intermediate and a private CA all look like
//! "certificate verify failed" in other tools; here they are three different fixes.

use super::{human, Failure, FixContext, LayerFindings};
use crate::cause::Cause;
use crate::layer::Layer;
use crate::observe::{CertProblem, CertificateInfo, TlsObservation, TlsOutcome, TlsSession};
use crate::report::{rfc3339_utc, Row, RowVerdict, Warning};
use std::net::SocketAddr;

/// Certificates expiring within this many days get a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

fn date(unix: i64) -> String {
    rfc3339_utc(u64::try_from(unix).unwrap_or(0))
}

/// One certificate as evidence.
pub fn describe_cert(i: usize, c: &CertificateInfo) -> String {
    let mut s = format!(
        "cert[{i}] subject: {}; issuer: {}; valid {} .. {}; key {}; sig {}",
        c.subject,
        c.issuer,
        date(c.not_before),
        date(c.not_after),
        c.key,
        c.signature
    );
    if !c.sans.is_empty() {
        s.push_str(&format!("; SANs: {}", c.sans.join(", ")));
    }
    if c.self_signed {
        s.push_str("; self-signed");
    }
    if c.is_ca {
        s.push_str("; CA");
    }
    s
}

/// Whether the leaf's issuer is missing from what the server sent while a trusted root of the
/// same organisation exists: the signature of a forgotten intermediate.
fn looks_incomplete(session: &TlsSession) -> bool {
    let Some(leaf) = session.chain.first() else {
        return false;
    };
    let issuer_sent = session
        .chain
        .iter()
        .skip(1)
        .any(|c| c.subject == leaf.issuer);
    if issuer_sent || leaf.self_signed {
        return false;
    }
    match &leaf.issuer_organization {
        Some(org) => session.trusted_organizations.iter().any(|t| t == org),
        None => false,
    }
}

/// Classifies one TLS probe. `now_unix` is the walk's clock; `name` the name verified.
pub fn classify(obs: &TlsObservation, now_unix: i64, name: &str, port: u16) -> LayerFindings {
    let mut f = LayerFindings::default();
    let addr = obs.address;
    let sni = obs
        .sni
        .clone()
        .unwrap_or_else(|| "(none: IP address)".to_string());
    let ctx = FixContext {
        host: name.to_string(),
        port: Some(port),
        protocol: "tcp",
        address: Some(addr.ip()),
        ..FixContext::default()
    };
    let test = format!("TLS handshake {addr} (SNI {sni})");
    let fail = |f: &mut LayerFindings,
                result: String,
                ev: Vec<String>,
                cause: Cause,
                summary: String,
                root: String,
                ctx: FixContext| {
        f.rows.push(
            Row::new(Layer::Tls, test.clone(), result, RowVerdict::Fail, cause)
                .with_evidence(ev)
                .with_duration_ms(super::ms(obs.elapsed)),
        );
        f.failure = Some(Failure {
            cause,
            summary,
            root_cause: root,
            context: ctx,
        });
    };
    match &obs.outcome {
        TlsOutcome::Handshake(s) => {
            let ev = handshake_evidence(s);
            let leaf = s.chain.first();
            let sans = leaf.map(|l| l.sans.join(", ")).unwrap_or_default();
            let Some(problem) = &s.problem else {
                valid_certificate(&mut f, s, now_unix, name, &test, ev);
                return f;
            };
            let (cause, summary, root) = cert_problem(problem, s, name, addr, now_unix, &sans);
            let c = FixContext { sans: Some(sans), ..ctx };
            fail(&mut f, format!("{} handshake done; certificate rejected: {}", s.version, cause.code()), ev, cause, summary, root, c);
        }
        TlsOutcome::NotTls { spoke } => fail(
            &mut f,
            format!("not TLS: the server spoke '{spoke}'"),
            vec![format!("first bytes from the server: {spoke}")],
            Cause::TlsNotTls,
            format!("{addr} does not speak TLS: it answered with plaintext ({spoke})."),
            format!("The ClientHello to {addr} was answered with '{spoke}': the port serves plaintext, so https:// (or this port) is wrong."),
            ctx,
        ),
        TlsOutcome::LegacyOnly { versions } => {
            let v = versions.join(", ");
            fail(
                &mut f,
                format!("server speaks only {v}"),
                vec![format!("TLS 1.2/1.3 refused; a hand-built ClientHello was accepted for: {v}")],
                Cause::TlsProtocolMismatch,
                format!("{addr} only speaks {v}, which modern clients refuse."),
                format!("The server rejects TLS 1.2 and 1.3 and accepts {v} (deprecated by RFC 8996)."),
                FixContext { tls_versions: Some(v.clone()), ..ctx },
            );
        }
        TlsOutcome::ClientCertRequired { detail } => fail(
            &mut f,
            "the server requires a client certificate".into(),
            vec![format!("CertificateRequest received; no client certificate sent; then: {detail}")],
            Cause::TlsClientCertRequired,
            format!("{addr} requires a client certificate (mutual TLS)."),
            format!("The server asked for a client certificate and aborted without one: {detail}."),
            ctx,
        ),
        TlsOutcome::Failed { alert, detail } => {
            let protocol = alert.as_deref().is_some_and(|a| a.contains("protocol_version") || a.contains("ProtocolVersion"));
            let cause = if protocol { Cause::TlsProtocolMismatch } else { Cause::TlsHandshakeFailure };
            let a = alert.clone().unwrap_or_else(|| "no alert".into());
            fail(&mut f, format!("handshake failed: {a}"), vec![detail.clone()], cause, format!("The TLS handshake with {addr} fails ({a})."), format!("{detail}."), ctx);
        }
        TlsOutcome::Closed { detail } => fail(
            &mut f,
            format!("connection closed during the handshake: {detail}"),
            vec![detail.clone()],
            Cause::TlsHandshakeFailure,
            format!("{addr} drops the connection during the TLS handshake."),
            format!("The server closed or reset the connection during the handshake ({detail}): TLS offload misconfigured, a middlebox, or SNI not recognised."),
            ctx,
        ),
        TlsOutcome::TimedOut => fail(
            &mut f,
            "no ServerHello before the deadline".into(),
            vec![],
            Cause::TlsHandshakeFailure,
            format!("{addr} does not answer the TLS ClientHello."),
            "TCP connects but no ServerHello arrives: the server waits for something else (a plaintext protocol that speaks second) or a middlebox swallows the ClientHello.".into(),
            ctx,
        ),
    }
    f
}

/// The evidence of a completed handshake: parameters, chain, trust store, stapling.
fn handshake_evidence(s: &TlsSession) -> Vec<String> {
    let mut ev = vec![format!(
        "{} {}{} ALPN {} in {}",
        s.version,
        s.cipher,
        s.key_exchange
            .as_ref()
            .map(|k| format!(" ({k})"))
            .unwrap_or_default(),
        s.alpn.clone().unwrap_or_else(|| "none".into()),
        human(s.latency)
    )];
    ev.extend(s.chain.iter().enumerate().map(|(i, c)| describe_cert(i, c)));
    ev.push(format!("trust store: {}", s.trust_store));
    ev.push(format!(
        "OCSP staple: {}",
        if s.ocsp_stapled { "present" } else { "none" }
    ));
    if s.client_cert_requested {
        ev.push("the server asked for a client certificate (optional: the handshake went on without one)".into());
    }
    ev
}

/// The handshake completed and the certificate verified: a passing row, with a warning when
/// the certificate expires soon.
fn valid_certificate(
    f: &mut LayerFindings,
    s: &TlsSession,
    now_unix: i64,
    name: &str,
    test: &str,
    ev: Vec<String>,
) {
    let leaf = s.chain.first();
    let result = format!(
        "{} valid for {name}, expires {}",
        s.version,
        leaf.map(|l| date(l.not_after)).unwrap_or_default()
    );
    let mut verdict = RowVerdict::Pass;
    if let Some(l) = leaf {
        let days = (l.not_after - now_unix) / 86_400;
        if days < EXPIRY_WARNING_DAYS {
            verdict = RowVerdict::Warn;
            f.warnings.push(Warning {
                cause: Cause::TlsCertExpiringSoon,
                message: format!(
                    "the certificate for {name} expires in {days} days ({})",
                    date(l.not_after)
                ),
            });
        }
    }
    f.rows.push(
        Row::new(Layer::Tls, test.to_string(), result, verdict, Cause::Ok)
            .with_evidence(ev)
            .with_duration_ms(super::ms(s.latency)),
    );
}

/// The cause, summary and root cause of a certificate the verifier rejected.
fn cert_problem(
    problem: &CertProblem,
    s: &TlsSession,
    name: &str,
    addr: SocketAddr,
    now_unix: i64,
    sans: &str,
) -> (Cause, String, String) {
    let leaf = s.chain.first();
    let leaf_text = leaf
        .map(|l| format!("'{}' issued by '{}'", l.subject, l.issuer))
        .unwrap_or_else(|| "the certificate".into());
    match problem {
        CertProblem::Expired => {
            let when = leaf.map(|l| date(l.not_after)).unwrap_or_default();
            (Cause::TlsCertExpired, format!("The certificate of {name} expired on {when}."), format!("{leaf_text} is valid until {when}; now is {}.", date(now_unix)))
        }
        CertProblem::NotYetValid => {
            let when = leaf.map(|l| date(l.not_before)).unwrap_or_default();
            (Cause::TlsCertNotYetValid, format!("The certificate of {name} is not valid before {when}."), format!("{leaf_text} starts {when}; this host's clock says {}.", date(now_unix)))
        }
        CertProblem::NameMismatch => (
            Cause::TlsNameMismatch,
            format!("The certificate is not valid for {name}: it lists {sans}."),
            format!("{leaf_text} covers only: {sans}. The name asked ({name}) is not among them."),
        ),
        CertProblem::Other(text) if leaf.is_some_and(|l| l.self_signed) && text.contains("CaUsedAsEndEntity") => (
            Cause::TlsSelfSigned,
            format!("{addr} presents a self-signed CA certificate as its server certificate."),
            format!("{leaf_text} signs itself and is marked CA:TRUE, so verifiers refuse it as a server certificate even when trusted (CaUsedAsEndEntity): issue a leaf certificate from a CA instead."),
        ),
        CertProblem::UnknownIssuer if s.chain.len() == 1 && leaf.is_some_and(|l| l.self_signed) => (
            Cause::TlsSelfSigned,
            format!("{addr} presents a self-signed certificate."),
            format!("{leaf_text} signs itself; no trusted CA vouches for it."),
        ),
        CertProblem::UnknownIssuer if looks_incomplete(s) => (
            Cause::TlsIncompleteChain,
            format!("{addr} sends its certificate without the intermediate CA."),
            format!(
                "The server sent {} certificate(s); the leaf's issuer '{}' is not among them, though a trusted root of the same organisation ({}) exists: the intermediate is missing from the server's chain.",
                s.chain.len(),
                leaf.map(|l| l.issuer.clone()).unwrap_or_default(),
                leaf.and_then(|l| l.issuer_organization.clone()).unwrap_or_default()
            ),
        ),
        CertProblem::UnknownIssuer => (
            Cause::TlsUntrustedIssuer,
            format!("The certificate of {name} is issued by a CA this host does not trust."),
            format!("{leaf_text}: no path to a root in the trust store ({}).", s.trust_store),
        ),
        CertProblem::Other(text) => {
            let text = text.trim_start_matches("Other(OtherError(").trim_end_matches("))");
            (Cause::TlsHandshakeFailure, format!("The certificate of {name} is rejected: {text}."), format!("The verifier rejected {leaf_text}: {text}."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NOW: i64 = 1_795_341_600;

    fn cert(
        subject: &str,
        issuer: &str,
        org: Option<&str>,
        self_signed: bool,
        not_after: i64,
    ) -> CertificateInfo {
        CertificateInfo {
            subject: subject.into(),
            issuer: issuer.into(),
            not_before: NOW - 86_400 * 30,
            not_after,
            sans: vec!["api.test".into()],
            key: "EC P-256".into(),
            signature: "ecdsa-with-SHA256".into(),
            self_signed,
            is_ca: false,
            issuer_organization: org.map(String::from),
        }
    }

    fn session(chain: Vec<CertificateInfo>, problem: Option<CertProblem>) -> TlsObservation {
        TlsObservation {
            address: "192.0.2.1:443".parse().unwrap(),
            sni: Some("api.test".into()),
            outcome: TlsOutcome::Handshake(TlsSession {
                version: "TLSv1.3".into(),
                cipher: "TLS13_AES_128_GCM_SHA256".into(),
                key_exchange: Some("X25519".into()),
                alpn: Some("http/1.1".into()),
                chain,
                problem,
                trust_store: "test".into(),
                trusted_organizations: vec!["Test Org".into()],
                ocsp_stapled: false,
                client_cert_requested: false,
                latency: Duration::from_millis(3),
            }),
            elapsed: Duration::from_millis(3),
        }
    }

    fn cause(o: &TlsObservation) -> Option<Cause> {
        classify(o, NOW, "api.test", 443).failure.map(|f| f.cause)
    }

    #[test]
    fn certificate_problems() {
        let leaf = cert(
            "CN=api.test",
            "CN=Int, O=Test Org",
            Some("Test Org"),
            false,
            NOW + 86_400 * 90,
        );
        let int = cert(
            "CN=Int, O=Test Org",
            "CN=Root, O=Test Org",
            Some("Test Org"),
            false,
            NOW + 86_400 * 900,
        );
        assert_eq!(cause(&session(vec![leaf.clone(), int.clone()], None)), None);
        assert_eq!(
            cause(&session(vec![leaf.clone()], Some(CertProblem::Expired))),
            Some(Cause::TlsCertExpired)
        );
        assert_eq!(
            cause(&session(vec![leaf.clone()], Some(CertProblem::NotYetValid))),
            Some(Cause::TlsCertNotYetValid)
        );
        assert_eq!(
            cause(&session(
                vec![leaf.clone()],
                Some(CertProblem::NameMismatch)
            )),
            Some(Cause::TlsNameMismatch)
        );
        assert_eq!(
            cause(&session(
                vec![leaf.clone()],
                Some(CertProblem::UnknownIssuer)
            )),
            Some(Cause::TlsIncompleteChain)
        );
        let private = cert(
            "CN=api.test",
            "CN=Private CA, O=Elsewhere",
            Some("Elsewhere"),
            false,
            NOW + 86_400 * 90,
        );
        assert_eq!(
            cause(&session(vec![private], Some(CertProblem::UnknownIssuer))),
            Some(Cause::TlsUntrustedIssuer)
        );
        let selfsigned = cert("CN=api.test", "CN=api.test", None, true, NOW + 86_400 * 90);
        assert_eq!(
            cause(&session(vec![selfsigned], Some(CertProblem::UnknownIssuer))),
            Some(Cause::TlsSelfSigned)
        );
    }

    #[test]
    fn expiring_soon_is_a_warning() {
        let leaf = cert("CN=api.test", "CN=Int", None, false, NOW + 86_400 * 5);
        let f = classify(&session(vec![leaf], None), NOW, "api.test", 443);
        assert!(f.failure.is_none());
        assert_eq!(f.warnings[0].cause, Cause::TlsCertExpiringSoon);
    }

    #[test]
    fn other_outcomes() {
        let mk = |outcome| TlsObservation {
            address: "192.0.2.1:443".parse().unwrap(),
            sni: None,
            outcome,
            elapsed: Duration::from_millis(1),
        };
        assert_eq!(
            cause(&mk(TlsOutcome::NotTls {
                spoke: "HTTP/1.1 400 Bad Request".into()
            })),
            Some(Cause::TlsNotTls)
        );
        assert_eq!(
            cause(&mk(TlsOutcome::LegacyOnly {
                versions: vec!["TLSv1.0".into()]
            })),
            Some(Cause::TlsProtocolMismatch)
        );
        assert_eq!(
            cause(&mk(TlsOutcome::ClientCertRequired {
                detail: "alert certificate_required".into()
            })),
            Some(Cause::TlsClientCertRequired)
        );
        assert_eq!(
            cause(&mk(TlsOutcome::Failed {
                alert: Some("handshake_failure".into()),
                detail: "x".into()
            })),
            Some(Cause::TlsHandshakeFailure)
        );
        assert_eq!(
            cause(&mk(TlsOutcome::Closed {
                detail: "reset".into()
            })),
            Some(Cause::TlsHandshakeFailure)
        );
    }
}
