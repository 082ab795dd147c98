//! The tls layer: does the handshake succeed, and is the certificate valid for this name?
//!
//! The probe finishes the handshake even when the certificate is bad, so the chain can be shown
//! whatever is wrong with it; this module turns the verifier's recorded verdict and the chain
//! into one cause. An expired certificate, a missing intermediate and a private CA all look like
//! "certificate verify failed" in other tools; here they are three different fixes. Likewise
//! "handshake failure" is split by what the evidence shows: a weak key or signature in the chain
//! (`chain`), a chain out of order, a revoked certificate, and a server whose suites rustls lacks,
//! told apart into broken suites, a small DHE group, and mere incompatibility (`suites`), each
//! with a remedy of its own rather than "compare protocols and ciphers".

mod chain;
mod suites;

use super::{human, Failure, FixContext, LayerFindings};
use crate::cause::Cause;
use crate::layer::Layer;
use crate::observe::{
    CertProblem, CertificateInfo, OcspStatus, TlsObservation, TlsOutcome, TlsSession,
};
use crate::report::{rfc3339_utc, Row, RowVerdict, Warning};
use chain::Weakness;
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
            let revoked_staple = revoked_by_staple(s);
            let Some(problem) = s.problem.as_ref().or(revoked_staple.as_ref()) else {
                valid_certificate(&mut f, s, now_unix, name, &test, ev);
                return f;
            };
            let (cause, summary, root, tls_detail) = cert_problem(problem, s, name, addr, now_unix);
            let c = FixContext { sans: Some(sans), tls_detail, ..ctx };
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
        TlsOutcome::UnsupportedSuite { version, suite, dh_bits, leaf } => {
            let (cause, result, ev, summary, root, detail) = unsupported_suite(version, *suite, *dh_bits, leaf.as_ref(), addr);
            fail(&mut f, result, ev, cause, summary, root, FixContext { tls_detail: Some(detail), ..ctx });
        }
        TlsOutcome::FailedAfterCertificate { chain, problem, alert, detail } => {
            let (cause, result, ev, summary, root, tls_detail) = failed_after_certificate(chain, problem.as_ref(), alert.as_deref(), detail, name, addr);
            fail(&mut f, result, ev, cause, summary, root, FixContext { tls_detail, ..ctx });
        }
        TlsOutcome::MessageTooLarge { limit, detail } => fail(
            &mut f,
            format!("the server's handshake message exceeds this client's {limit}-byte limit"),
            vec![detail.clone()],
            Cause::TlsCertTooLarge,
            format!("{addr} sends a Certificate message larger than this client accepts ({limit} bytes)."),
            format!("{detail}. This is a limit of this client (rustls), not a fault of the server as such, but other clients (Java, Go, embedded stacks) have similar limits: a chain this large is usually a mistake (the whole CA bundle served, or thousands of SANs)."),
            FixContext { tls_detail: Some(format!("limit {limit} bytes")), ..ctx },
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
    expiry_warning_on_failure(&mut f, &obs.outcome, now_unix, name);
    f
}

/// A certificate that expires soon is worth saying even when the walk stops on another TLS
/// problem (the next fix would otherwise run into it). Not for an expired one (that is the
/// failure itself) nor when the walk passed (the passing row already warned).
fn expiry_warning_on_failure(
    f: &mut LayerFindings,
    outcome: &TlsOutcome,
    now_unix: i64,
    name: &str,
) {
    let Some(failure) = &f.failure else { return };
    if failure.cause == Cause::TlsCertExpired {
        return;
    }
    let leaf = match outcome {
        TlsOutcome::Handshake(s) => s.chain.first(),
        TlsOutcome::FailedAfterCertificate { chain, .. } => chain.first(),
        _ => None,
    };
    if let Some(w) = leaf.and_then(|l| expiring_soon(l, now_unix, name)) {
        f.warnings.push(w);
    }
}

/// The expiring-soon warning for `leaf`, when it is still valid and ends within
/// [`EXPIRY_WARNING_DAYS`].
fn expiring_soon(leaf: &CertificateInfo, now_unix: i64, name: &str) -> Option<Warning> {
    let left = leaf.not_after - now_unix;
    if left < 0 {
        return None;
    }
    let days = left / 86_400;
    (days < EXPIRY_WARNING_DAYS).then(|| Warning {
        cause: Cause::TlsCertExpiringSoon,
        message: format!(
            "the certificate for {name} expires in {days} day{} ({})",
            if days == 1 { "" } else { "s" },
            date(leaf.not_after)
        ),
    })
}

/// A revocation the stapled OCSP response states (rustls hands the staple over unchecked).
fn revoked_by_staple(s: &TlsSession) -> Option<CertProblem> {
    match &s.ocsp_status {
        Some(OcspStatus::Revoked { revoked_at, reason }) => Some(CertProblem::Revoked {
            source: "the server's stapled OCSP response".into(),
            reason: reason.clone(),
            revoked_at: *revoked_at,
        }),
        _ => None,
    }
}

/// The words of one OCSP status for the evidence.
fn ocsp_text(status: &OcspStatus) -> String {
    match status {
        OcspStatus::Good => "good".into(),
        OcspStatus::Revoked { revoked_at, reason } => format!(
            "revoked{}{}",
            revoked_at
                .map(|t| format!(" since {}", date(t)))
                .unwrap_or_default(),
            reason
                .as_ref()
                .map(|r| format!(", reason {r}"))
                .unwrap_or_default()
        ),
        OcspStatus::Unknown => "unknown to the responder".into(),
        OcspStatus::ResponderError(e) => format!("responder error {e}"),
        OcspStatus::Unparsable(why) => format!("unreadable ({why})"),
    }
}

/// The cause of a server that speaks TLS 1.2 only with suites rustls lacks: a small DHE group,
/// a broken suite, or only an unsupported one. Returns cause, row result, evidence, summary,
/// root cause and the remedy's detail.
fn unsupported_suite(
    version: &str,
    suite: u16,
    dh_bits: Option<u32>,
    leaf: Option<&CertificateInfo>,
    addr: SocketAddr,
) -> (Cause, String, Vec<String>, String, String, String) {
    let n = suites::name(suite);
    let mut ev = vec![format!(
        "rustls's ClientHello (ECDHE with AES-GCM or ChaCha20-Poly1305 only) was refused; a hand-built {version} ClientHello offering legacy suites was answered with {n}"
    )];
    if let Some(l) = leaf {
        ev.push(describe_cert(0, l));
    }
    // A server key rustls cannot use explains the refusal better than the suite it then chose.
    if let Some((i, key)) = leaf
        .and_then(|l| chain::first_weakness(std::slice::from_ref(l)))
        .and_then(|(i, w)| match w {
            Weakness::RsaKey(_) | Weakness::UnsupportedKey(_) => Some((i, w)),
            Weakness::Signature(_) => None,
        })
    {
        let l = leaf.map(|l| l.subject.clone()).unwrap_or_default();
        let what = match key {
            Weakness::RsaKey(bits) => format!("an RSA {bits}-bit key"),
            Weakness::UnsupportedKey(k) | Weakness::Signature(k) => {
                format!("a key this client does not support ({k})")
            }
        };
        return (
            Cause::TlsWeakKey,
            format!("cert[{i}] '{l}' has {what}"),
            ev,
            format!("{addr} has a certificate ('{l}') with {what}, so no handshake with this client is possible."),
            format!("Offered the suites rustls lacks, the server answered with {n} and its certificate '{l}', which has {what}: rustls's ClientHello was refused because the server's certificate cannot sign anything rustls accepts. Reissue the certificate with an EC P-256 or RSA 2048+ key."),
            format!("cert[{i}] '{l}' has {what}"),
        );
    }
    if let Some(bits) = dh_bits {
        ev.push(format!("ServerKeyExchange: DHE group of {bits} bits"));
    }
    if let Some(bits) = dh_bits.filter(|&b| b < 2048) {
        return (
            Cause::TlsWeakDh,
            format!("DHE group of {bits} bits ({n})"),
            ev,
            format!("{addr} uses a {bits}-bit Diffie-Hellman group, which modern clients refuse."),
            format!("The server chose {n} and sent a {bits}-bit DHE group in its ServerKeyExchange; 2048 bits is the minimum (Logjam)."),
            format!("{bits}-bit group with {n}"),
        );
    }
    if let Some(why) = suites::weakness(suite) {
        return (
            Cause::TlsWeakCipher,
            format!("only broken cipher suites: it chose {n}"),
            ev,
            format!("{addr} offers only broken cipher suites ({n}: {why})."),
            format!("Offered every suite rustls lacks, the server chose {n}, which is {why}; no suite rustls implements is enabled. Modern clients refuse these suites: this is a server configuration to fix, not a client setting to lower."),
            n,
        );
    }
    (
        Cause::TlsNoSharedCipher,
        format!("no cipher suite in common with this client: it chose {n}"),
        ev,
        format!("{addr} offers only cipher suites this client does not implement (it chose {n}); OpenSSL-based clients such as curl may still connect."),
        format!("The server speaks {version} but only with suites rustls does not implement: it chose {n}, which uses {}. OpenSSL-based clients such as curl may still connect, so this is a compatibility finding, not an outage: modern clients (rustls, and browsers for some of these suites) cannot.", suites::why_unsupported(suite)),
        n,
    )
}

/// The cause of a handshake that failed after the certificate arrived: a weak key or
/// signature first (the usual reason), then the chain's order, then the verifier's verdict.
fn failed_after_certificate(
    chain: &[CertificateInfo],
    problem: Option<&CertProblem>,
    alert: Option<&str>,
    detail: &str,
    name: &str,
    addr: SocketAddr,
) -> (Cause, String, Vec<String>, String, String, Option<String>) {
    let mut ev = vec![detail.to_string()];
    ev.extend(chain.iter().enumerate().map(|(i, c)| describe_cert(i, c)));
    if let Some((cause, summary, root, what)) = weakness_finding(chain, name) {
        return (
            cause,
            format!("handshake failed: {what}"),
            ev,
            summary,
            root,
            Some(what),
        );
    }
    if let Some(how) = chain::misordering(chain) {
        return (
            Cause::TlsChainMisordered,
            "handshake failed: the chain is out of order".into(),
            ev,
            format!("{addr} sends its certificate chain in the wrong order."),
            format!("{how}; the handshake then failed ({detail})."),
            Some(how),
        );
    }
    let a = alert.unwrap_or("no alert");
    let why = problem
        .map(|p| format!(" The verifier said of the chain: {}.", problem_text(p)))
        .unwrap_or_default();
    (
        Cause::TlsHandshakeFailure,
        format!("handshake failed after the certificate: {a}"),
        ev,
        format!("The TLS handshake with {addr} fails after the server's certificate ({a})."),
        format!("{detail}.{why}"),
        None,
    )
}

/// A weak key or signature in the chain as a cause, summary, root cause and the remedy's words.
fn weakness_finding(
    chain: &[CertificateInfo],
    name: &str,
) -> Option<(Cause, String, String, String)> {
    let (i, weakness) = chain::first_weakness(chain)?;
    let c = chain.get(i)?;
    let which = format!("cert[{i}] '{}'", c.subject);
    Some(match weakness {
        Weakness::RsaKey(bits) => {
            let (min, max) = (chain::MIN_RSA_BITS, chain::MAX_RSA_BITS);
            let side = if bits < min { format!("below the {min} bits") } else { format!("above the {max} bits") };
            (
                Cause::TlsWeakKey,
                format!("The certificate chain of {name} has an RSA key of {bits} bits ({which}), {side} verifiers accept."),
                format!("{which} carries an RSA {bits}-bit key; verifiers accept RSA keys of {min} to {max} bits, so the chain (or the handshake signature made with that key) is rejected."),
                format!("{which} has an RSA {bits}-bit key"),
            )
        }
        Weakness::UnsupportedKey(key) => (
            Cause::TlsWeakKey,
            format!("The certificate chain of {name} has a key this client does not support ({which}: {key})."),
            format!("{which} carries a {key} key; this client verifies only RSA (2048 to 8192 bits), EC P-256, EC P-384 and Ed25519 keys."),
            format!("{which} has a key this client does not support ({key})"),
        ),
        Weakness::Signature(alg) => (
            Cause::TlsWeakSignature,
            format!("The certificate chain of {name} has a certificate signed with {alg} ({which})."),
            format!("{which} is signed with {alg}; SHA-1 and MD5 signatures are forgeable and refused by verifiers."),
            format!("{which} is signed with {alg}"),
        ),
    })
}

/// A verifier's verdict in words (for evidence; never debug text).
fn problem_text(p: &CertProblem) -> String {
    match p {
        CertProblem::Expired => "expired".into(),
        CertProblem::NotYetValid => "not valid yet".into(),
        CertProblem::NameMismatch => "not valid for the name".into(),
        CertProblem::UnknownIssuer => "issued by an unknown CA".into(),
        CertProblem::Revoked { source, .. } => format!("revoked according to {source}"),
        CertProblem::Other(text) => text.clone(),
    }
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
    ev.push(match (&s.ocsp_status, s.ocsp_stapled) {
        (Some(status), _) => format!("OCSP staple: {}", ocsp_text(status)),
        (None, true) => "OCSP staple: present".into(),
        (None, false) => "OCSP staple: none".into(),
    });
    if s.client_cert_requested {
        ev.push("the server asked for a client certificate (optional: the handshake went on without one)".into());
    }
    ev
}

/// The handshake completed and the certificate verified: a passing row, with a warning when
/// the certificate expires soon or the chain comes out of order (strict clients refuse it).
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
    if let Some(w) = leaf.and_then(|l| expiring_soon(l, now_unix, name)) {
        verdict = RowVerdict::Warn;
        f.warnings.push(w);
    }
    if let Some(how) = chain::misordering(&s.chain) {
        verdict = RowVerdict::Warn;
        f.warnings.push(Warning {
            cause: Cause::TlsChainMisordered,
            message: format!("the server sends its chain for {name} out of order ({how}): this client reorders it, strict clients may not"),
        });
    }
    f.rows.push(
        Row::new(Layer::Tls, test.to_string(), result, verdict, Cause::Ok)
            .with_evidence(ev)
            .with_duration_ms(super::ms(s.latency)),
    );
}

/// The SAN list of a certificate as a sentence's object: "lists a, b" or "has no
/// subjectAltName".
fn san_words(leaf: Option<&CertificateInfo>) -> (String, String) {
    match leaf.map(|l| l.sans.join(", ")) {
        Some(sans) if !sans.is_empty() => {
            (format!("it lists {sans}"), format!("covers only: {sans}"))
        }
        _ => (
            "it has no subjectAltName (verifiers ignore the subject's CN)".into(),
            "has no subjectAltName extension, and verifiers no longer match the subject's CN"
                .into(),
        ),
    }
}

/// The cause, summary, root cause and the remedy's detail of a certificate the verifier
/// rejected. The chain's own facts come first: out of order, then a weak key or signature,
/// because those are what the verifier's generic words ("unsupported signature algorithm", "CA
/// used as end entity") are about.
fn cert_problem(
    problem: &CertProblem,
    s: &TlsSession,
    name: &str,
    addr: SocketAddr,
    now_unix: i64,
) -> (Cause, String, String, Option<String>) {
    let leaf = s.chain.first();
    let leaf_text = leaf
        .map(|l| format!("'{}' issued by '{}'", l.subject, l.issuer))
        .unwrap_or_else(|| "the certificate".into());
    if let Some(how) = chain::misordering(&s.chain) {
        return (
            Cause::TlsChainMisordered,
            format!("{addr} sends its certificate chain in the wrong order."),
            format!("{how}; the verifier took cert[0] as the server's certificate and rejected it ({}).", problem_text(problem)),
            Some(how),
        );
    }
    if !matches!(
        problem,
        CertProblem::Expired
            | CertProblem::NotYetValid
            | CertProblem::NameMismatch
            | CertProblem::Revoked { .. }
    ) {
        if let Some((cause, summary, root, what)) = weakness_finding(&s.chain, name) {
            return (cause, summary, root, Some(what));
        }
    }
    let (cause, summary, root) = match problem {
        CertProblem::Expired => {
            let when = leaf.map(|l| date(l.not_after)).unwrap_or_default();
            (Cause::TlsCertExpired, format!("The certificate of {name} expired on {when}."), format!("{leaf_text} is valid until {when}; now is {}.", date(now_unix)))
        }
        CertProblem::NotYetValid => {
            let when = leaf.map(|l| date(l.not_before)).unwrap_or_default();
            (Cause::TlsCertNotYetValid, format!("The certificate of {name} is not valid before {when}."), format!("{leaf_text} starts {when}; this host's clock says {}.", date(now_unix)))
        }
        CertProblem::NameMismatch => {
            let (lists, covers) = san_words(leaf);
            (
                Cause::TlsNameMismatch,
                format!("The certificate is not valid for {name}: {lists}."),
                format!("{leaf_text} {covers}. The name asked ({name}) is not among them."),
            )
        }
        CertProblem::Revoked { source, reason, revoked_at } => {
            let why = reason.as_ref().map(|r| format!(", reason {r}")).unwrap_or_default();
            let when = revoked_at.map(|t| format!(" since {}", date(t))).unwrap_or_default();
            let detail = format!("revoked{when}{why}, according to {source}");
            return (
                Cause::TlsCertRevoked,
                format!("The certificate of {name} is revoked ({detail})."),
                format!("{leaf_text} is revoked{when}{why}: {source} says so. The CA withdrew it; no client should accept it."),
                Some(detail),
            );
        }
        CertProblem::Other(text) if leaf.is_some_and(|l| l.self_signed) && text.contains("CA certificate used as an end-entity") => (
            Cause::TlsSelfSigned,
            format!("{addr} presents a self-signed CA certificate as its server certificate."),
            format!("{leaf_text} signs itself and is marked CA:TRUE, so verifiers refuse it as a server certificate even when trusted (CA used as end entity): issue a leaf certificate from a CA instead."),
        ),
        CertProblem::UnknownIssuer if s.chain.len() == 1 && leaf.is_some_and(|l| l.self_signed) => (
            Cause::TlsSelfSigned,
            format!("{addr} presents a self-signed certificate."),
            format!("{leaf_text} signs itself; no trusted CA vouches for it."),
        ),
        CertProblem::UnknownIssuer if looks_incomplete(s) => (
            Cause::TlsIncompleteChain,
            format!("{addr} sends its certificate without the intermediate CA (or a TLS-intercepting proxy re-signs it)."),
            format!(
                "The server sent {} certificate(s); the leaf's issuer '{}' is not among them, and a trusted root of the same organisation ({}) exists. Two readings: the server omits the intermediate from its chain (the usual case: serve the full chain), or a TLS-intercepting proxy re-signs traffic with a CA named like a trusted one (then trust the proxy's root, or bypass the proxy). Compare with the certificate seen from another network.",
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
        CertProblem::Other(text) => (Cause::TlsHandshakeFailure, format!("The certificate of {name} is rejected: {text}."), format!("The verifier rejected {leaf_text}: {text}.")),
    };
    (cause, summary, root, None)
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
                ocsp_status: None,
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

    fn handshake(o: &TlsObservation) -> TlsSession {
        match &o.outcome {
            TlsOutcome::Handshake(s) => s.clone(),
            _ => unreachable!(),
        }
    }

    fn with(s: TlsSession) -> TlsObservation {
        let mut o = session(Vec::new(), None);
        o.outcome = TlsOutcome::Handshake(s);
        o
    }

    fn all_text(f: &LayerFindings) -> String {
        let failure = f
            .failure
            .as_ref()
            .map(|x| format!("{} {}", x.summary, x.root_cause))
            .unwrap_or_default();
        let warnings: Vec<String> = f.warnings.iter().map(|w| w.message.clone()).collect();
        format!("{failure} {}", warnings.join(" "))
    }

    fn leaf_int() -> (CertificateInfo, CertificateInfo) {
        let leaf = cert(
            "CN=api.test",
            "CN=Int, O=Test Org",
            Some("Test Org"),
            false,
            NOW + 86_400 * 90,
        );
        let mut int = cert(
            "CN=Int, O=Test Org",
            "CN=Root, O=Test Org",
            Some("Test Org"),
            false,
            NOW + 86_400 * 900,
        );
        int.is_ca = true;
        (leaf, int)
    }

    #[test]
    fn suites_rustls_lacks_are_named_and_sorted_by_kind() {
        let mk = |suite, dh_bits| TlsObservation {
            address: "192.0.2.1:443".parse().unwrap(),
            sni: None,
            outcome: TlsOutcome::UnsupportedSuite {
                version: "TLSv1.2".into(),
                suite,
                dh_bits,
                leaf: None,
            },
            elapsed: Duration::from_millis(1),
        };
        let cbc = classify(&mk(0xc009, None), NOW, "api.test", 443);
        assert_eq!(
            cbc.failure.as_ref().map(|f| f.cause),
            Some(Cause::TlsNoSharedCipher)
        );
        let text = all_text(&cbc);
        assert!(
            text.contains("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
            "{text}"
        );
        assert!(text.contains("curl may still connect"), "{text}");
        assert!(text.contains("not an outage"), "{text}");
        assert_eq!(cause(&mk(0x000a, None)), Some(Cause::TlsWeakCipher));
        assert_eq!(cause(&mk(0x0005, None)), Some(Cause::TlsWeakCipher));
        assert_eq!(cause(&mk(0x009e, Some(1024))), Some(Cause::TlsWeakDh));
        assert_eq!(
            cause(&mk(0x009e, Some(2048))),
            Some(Cause::TlsNoSharedCipher)
        );
        let mut p521 = leaf_int().0;
        p521.key = "EC P-521".into();
        let mut o = mk(0xc009, None);
        if let TlsOutcome::UnsupportedSuite { leaf, .. } = &mut o.outcome {
            *leaf = Some(p521);
        }
        let f = classify(&o, NOW, "api.test", 443);
        assert_eq!(f.failure.as_ref().map(|x| x.cause), Some(Cause::TlsWeakKey));
        assert!(
            all_text(&f).contains("a key this client does not support (EC P-521)"),
            "{}",
            all_text(&f)
        );
        let dh = all_text(&classify(&mk(0x009e, Some(1024)), NOW, "api.test", 443));
        assert!(dh.contains("1024-bit"), "{dh}");
    }

    #[test]
    fn weak_keys_and_signatures_name_the_certificate() {
        let (mut leaf, int) = leaf_int();
        leaf.key = "RSA 1024".into();
        let after = TlsObservation {
            address: "192.0.2.1:443".parse().unwrap(),
            sni: Some("api.test".into()),
            outcome: TlsOutcome::FailedAfterCertificate {
                chain: vec![leaf.clone(), int.clone()],
                problem: None,
                alert: None,
                detail: "the server's handshake signature was refused".into(),
            },
            elapsed: Duration::from_millis(1),
        };
        let f = classify(&after, NOW, "api.test", 443);
        assert_eq!(f.failure.as_ref().map(|x| x.cause), Some(Cause::TlsWeakKey));
        assert!(all_text(&f).contains("1024 bits"), "{}", all_text(&f));
        let (leaf, mut int) = leaf_int();
        int.signature = "ecdsa-with-SHA1".into();
        let o = session(
            vec![leaf, int],
            Some(CertProblem::Other("unsupported signature algorithm".into())),
        );
        let f = classify(&o, NOW, "api.test", 443);
        assert_eq!(
            f.failure.as_ref().map(|x| x.cause),
            Some(Cause::TlsWeakSignature)
        );
        assert!(
            all_text(&f).contains("cert[1] 'CN=Int, O=Test Org' is signed with ecdsa-with-SHA1"),
            "{}",
            all_text(&f)
        );
    }

    #[test]
    fn chain_order_is_a_failure_when_the_ca_comes_first_and_a_warning_otherwise() {
        let (leaf, int) = leaf_int();
        let o = session(
            vec![int.clone(), leaf.clone()],
            Some(CertProblem::NameMismatch),
        );
        assert_eq!(cause(&o), Some(Cause::TlsChainMisordered));
        let mut root = cert(
            "CN=Root, O=Test Org",
            "CN=Root, O=Test Org",
            Some("Test Org"),
            true,
            NOW + 86_400 * 9000,
        );
        root.is_ca = true;
        let f = classify(&session(vec![leaf, root, int], None), NOW, "api.test", 443);
        assert!(f.failure.is_none());
        assert_eq!(
            f.warnings.iter().map(|w| w.cause).collect::<Vec<_>>(),
            vec![Cause::TlsChainMisordered]
        );
    }

    #[test]
    fn a_revoked_staple_fails_and_says_why() {
        let (leaf, int) = leaf_int();
        let mut s = handshake(&session(vec![leaf, int], None));
        s.ocsp_stapled = true;
        s.ocsp_status = Some(OcspStatus::Revoked {
            revoked_at: Some(NOW - 86_400),
            reason: Some("keyCompromise".into()),
        });
        let f = classify(&with(s), NOW, "api.test", 443);
        assert_eq!(
            f.failure.as_ref().map(|x| x.cause),
            Some(Cause::TlsCertRevoked)
        );
        let text = all_text(&f);
        assert!(
            text.contains("keyCompromise") && text.contains("stapled OCSP"),
            "{text}"
        );
        let crl = session(
            vec![leaf_int().0],
            Some(CertProblem::Revoked {
                source: "the CRL crl.pem".into(),
                reason: None,
                revoked_at: None,
            }),
        );
        assert_eq!(cause(&crl), Some(Cause::TlsCertRevoked));
    }

    #[test]
    fn wording_empty_san_no_debug_text_and_both_readings() {
        let (mut leaf, int) = leaf_int();
        leaf.sans.clear();
        let f = classify(
            &session(vec![leaf, int], Some(CertProblem::NameMismatch)),
            NOW,
            "api.test",
            443,
        );
        let text = all_text(&f);
        assert!(text.contains("has no subjectAltName"), "{text}");
        assert!(!text.contains("lists ."), "{text}");
        let (leaf, _) = leaf_int();
        let f = classify(
            &session(vec![leaf], Some(CertProblem::UnknownIssuer)),
            NOW,
            "api.test",
            443,
        );
        let text = all_text(&f);
        assert!(
            text.contains("omits the intermediate") && text.contains("intercepting proxy"),
            "{text}"
        );
        assert!(
            !text.contains("Some(") && !text.contains("Context {"),
            "{text}"
        );
    }

    #[test]
    fn expiring_soon_is_still_said_when_another_tls_problem_stops_the_walk() {
        let leaf = cert(
            "CN=api.test",
            "CN=Elsewhere CA",
            Some("Elsewhere"),
            false,
            NOW + 86_400 * 5,
        );
        let f = classify(
            &session(vec![leaf.clone()], Some(CertProblem::UnknownIssuer)),
            NOW,
            "api.test",
            443,
        );
        assert_eq!(
            f.failure.as_ref().map(|x| x.cause),
            Some(Cause::TlsUntrustedIssuer)
        );
        assert_eq!(
            f.warnings.iter().map(|w| w.cause).collect::<Vec<_>>(),
            vec![Cause::TlsCertExpiringSoon]
        );
        let mut expired = leaf;
        expired.not_after = NOW - 10;
        let f = classify(
            &session(vec![expired], Some(CertProblem::Expired)),
            NOW,
            "api.test",
            443,
        );
        assert!(f.warnings.is_empty());
    }
}
