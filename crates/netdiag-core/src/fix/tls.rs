//! Remedies of the TLS causes (`tls_*`).

use super::{runbook, Remedy, Words};
use crate::cause::Cause;
use crate::diagnose::FixContext;
use crate::report::Fix;

/// The remedy of `TlsNotTls`.
pub(super) fn not_tls(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("{addr}:{port} speaks plaintext, not TLS: use http:// (or the right port for TLS), or enable TLS on the listener."),
            commands: vec![format!("curl -v http://{}:{port}/", ctx.host), format!("openssl s_client -connect {addr}:{port} -servername {} </dev/null", ctx.host)],
         manifests: Vec::new() },
        prestate: vec!["copy the listener's configuration before enabling TLS on it".to_string()],
        rollback: vec!["restore the listener configuration".to_string()],
        runbook: runbook("'wrong version number' / 'packet length too long'", &[&format!("openssl s_client -connect {addr}:{port}")], "the port speaks plaintext: wrong scheme or port."),
    }
}

/// The remedy of `TlsProtocolMismatch`.
pub(super) fn protocol_mismatch(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("{addr}:{port} only speaks {}: enable TLS 1.2 and 1.3 on the server (TLS 1.0/1.1 are deprecated by RFC 8996). Do not lower the client's minimum version.", ctx.tls_versions.clone().unwrap_or_else(|| "old TLS versions".to_string())),
            commands: vec![
                format!("openssl s_client -connect {addr}:{port} -tls1_2 </dev/null"),
                "# nginx: ssl_protocols TLSv1.2 TLSv1.3;   apache: SSLProtocol -all +TLSv1.2 +TLSv1.3".to_string(),
            ],
         manifests: Vec::new() },
        prestate: vec!["copy the server's TLS configuration".to_string()],
        rollback: vec!["restore the server's TLS configuration and reload".to_string()],
        runbook: runbook("'unsupported protocol' / 'protocol version' alert", &[&format!("openssl s_client -connect {addr}:{port} -tls1_2")], "the server is stuck on TLS 1.0/1.1."),
    }
}

/// The remedy of `TlsCertExpired`, `TlsCertNotYetValid`, `TlsCertExpiringSoon`.
pub(super) fn cert_validity(w: Words<'_>, ctx: &FixContext, cause: Cause) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: if cause == Cause::TlsCertNotYetValid {
                "The certificate is not valid yet: check this host's clock first (timedatectl), then the certificate's notBefore.".to_string()
            } else {
                format!("Renew the certificate for {} and reload the server (check that the renewal job runs).", ctx.host)
            },
            commands: vec![
                format!("openssl s_client -connect {addr}:{port} -servername {} </dev/null 2>/dev/null | openssl x509 -noout -dates -subject", ctx.host),
                "timedatectl status | grep -i synchronized".to_string(),
                "certbot renew --cert-name <NAME> && systemctl reload nginx   # if certbot manages it".to_string(),
            ],
         manifests: Vec::new() },
        prestate: vec!["cp -a /path/to/cert.pem /path/to/cert.pem.bak".to_string()],
        rollback: vec!["restore cert.pem.bak and reload the server".to_string()],
        runbook: runbook("'certificate has expired'", &[&format!("openssl s_client -connect {addr}:{port} | openssl x509 -noout -dates")], "renew the certificate; automate renewal and alert 14 days ahead."),
    }
}

/// The remedy of `TlsNameMismatch`.
pub(super) fn name_mismatch(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("The certificate does not cover {}: reissue it with {} in subjectAltName, or connect with a name it lists ({}).", ctx.host, ctx.host, ctx.sans.clone().unwrap_or_default()),
            commands: vec![format!("openssl s_client -connect {addr}:{port} -servername {} </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName", ctx.host)],
         manifests: Vec::new() },
        prestate: vec!["cp -a /path/to/cert.pem /path/to/cert.pem.bak".to_string()],
        rollback: vec!["restore cert.pem.bak and reload the server".to_string()],
        runbook: runbook("'certificate is not valid for name'", &["openssl x509 -noout -ext subjectAltName"], "the SAN list lacks the name clients use (or SNI selects another certificate)."),
    }
}

/// The remedy of `TlsUntrustedIssuer`, `TlsSelfSigned`.
pub(super) fn untrusted_issuer(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: "The issuer is not trusted here: use a certificate from a CA clients trust, or add the private CA's root to this host's trust store (never disable verification).".to_string(),
            commands: vec![
                "cp private-root-ca.pem /usr/local/share/ca-certificates/private-root-ca.crt && update-ca-certificates".to_string(),
                format!("netdiag check https://{}:{port}/ --cacert private-root-ca.pem   # verify with the CA first", ctx.host),
            ],
         manifests: Vec::new() },
        prestate: vec!["ls /usr/local/share/ca-certificates/ > /tmp/ca.before".to_string()],
        rollback: vec!["rm /usr/local/share/ca-certificates/private-root-ca.crt && update-ca-certificates --fresh".to_string()],
        runbook: runbook("'unable to get local issuer certificate' / 'self-signed certificate'", &[&format!("openssl s_client -connect {addr}:{port} -showcerts")], "trust the right CA, or get a certificate from one clients trust."),
    }
}

/// The remedy of `TlsIncompleteChain`.
pub(super) fn incomplete_chain(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: "The server sends its certificate without the intermediate CA: configure the full chain (leaf + intermediates) on the server.".to_string(),
            commands: vec![
                "cat leaf.pem intermediate.pem > fullchain.pem   # nginx: ssl_certificate fullchain.pem; apache: SSLCertificateChainFile".to_string(),
                format!("openssl s_client -connect {addr}:{port} -servername {} -showcerts </dev/null | grep -c 'BEGIN CERTIFICATE'", ctx.host),
            ],
         manifests: Vec::new() },
        prestate: vec!["cp -a /path/to/cert.pem /path/to/cert.pem.bak".to_string()],
        rollback: vec!["restore cert.pem.bak and reload the server".to_string()],
        runbook: runbook("Works in browsers, fails in curl/Java/Go ('unable to get local issuer')", &["openssl s_client -showcerts"], "browsers fetch missing intermediates, other clients do not: serve the full chain."),
    }
}

/// The remedy of `TlsClientCertRequired`.
pub(super) fn client_cert_required(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: "The server requires a client certificate (mutual TLS): present one the server trusts (curl --cert/--key), or relax the server's client verification for this path.".to_string(),
            commands: vec![format!("curl -v --cert client.pem --key client-key.pem https://{}:{port}/", ctx.host)],
         manifests: Vec::new() },
        prestate: vec!["copy the server's client-verification settings".to_string()],
        rollback: vec!["restore the server's client-verification settings".to_string()],
        runbook: runbook("'certificate required' alert / handshake fails only for some clients", &[&format!("openssl s_client -connect {addr}:{port} </dev/null | grep -i 'Acceptable client certificate CA names'")], "mutual TLS: the client needs a certificate."),
    }
}

/// The remedy of `TlsHandshakeFailure`.
pub(super) fn handshake_failure(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: "The TLS handshake fails: compare the server's protocols, ciphers and groups with a modern client's, and check the server log for the alert reason.".to_string(),
            commands: vec![format!("openssl s_client -connect {addr}:{port} -servername {} -tls1_3 </dev/null", ctx.host), format!("openssl s_client -connect {addr}:{port} -servername {} -tls1_2 </dev/null", ctx.host)],
         manifests: Vec::new() },
        prestate: vec!["copy the server's TLS configuration".to_string()],
        rollback: vec!["restore the server's TLS configuration".to_string()],
        runbook: runbook("TLS alert handshake_failure", &["openssl s_client -connect HOST:PORT"], "no common parameters, or the server rejects this client."),
    }
}
