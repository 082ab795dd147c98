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

/// The remedy of `TlsCertRevoked`.
pub(super) fn cert_revoked(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    let detail = ctx
        .tls_detail
        .clone()
        .unwrap_or_else(|| "revoked".to_string());
    Remedy {
        fix: Fix {
            description: format!("The certificate of {} is revoked ({detail}): issue a new certificate with a new key and install it; do not trust the revoked one again. If the revocation was a mistake, only the CA can say so: a revoked serial cannot be un-revoked.", ctx.host),
            commands: vec![
                format!("openssl s_client -connect {addr}:{port} -servername {} -status </dev/null 2>/dev/null | sed -n '/OCSP Response Data/,/Next Update/p'", ctx.host),
                "openssl crl -in crl.pem -noout -text | grep -A1 \"$(openssl x509 -in cert.pem -noout -serial | cut -d= -f2)\"".to_string(),
                "certbot certonly --force-renewal --cert-name <NAME>   # if certbot manages it (a new key: --reuse-key must be off)".to_string(),
            ],
            manifests: Vec::new(),
        },
        prestate: vec!["cp -a /path/to/cert.pem /path/to/cert.pem.bak".to_string()],
        rollback: vec!["keep the revoked certificate's backup for the record only: it must not be served again".to_string()],
        runbook: runbook("'certificate revoked' / OCSP status revoked", &[&format!("openssl s_client -connect {addr}:{port} -status")], "the CA revoked the certificate (key compromise, superseded, ...): replace it with a new one."),
    }
}

/// The remedy of `TlsWeakSignature` and `TlsWeakKey`: reissue the named certificate.
pub(super) fn weak_certificate(w: Words<'_>, ctx: &FixContext, cause: Cause) -> Remedy {
    let Words { addr, port, .. } = w;
    let detail = ctx
        .tls_detail
        .clone()
        .unwrap_or_else(|| "a certificate in the chain".to_string());
    let (what, reissue, symptom) = if cause == Cause::TlsWeakKey {
        (
            format!("{detail}: reissue that certificate with an RSA key of at least 2048 bits (3072 recommended) or an EC P-256 key, then install it with its chain"),
            format!("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out req.csr -subj /CN={} -addext subjectAltName=DNS:{}", ctx.host, ctx.host),
            "'ee key too small' / 'CA key too small'",
        )
    } else {
        (
            format!("{detail}: reissue that certificate signed with SHA-256 (or better); a CA still issuing SHA-1 or MD5 signatures must be replaced"),
            "openssl x509 -req -sha256 -in req.csr -CA ca.pem -CAkey ca-key.pem -out cert.pem   # when you run the CA".to_string(),
            "'ca md too weak' / 'unsupported signature algorithm'",
        )
    };
    Remedy {
        fix: Fix {
            description: format!("{what}. Do not lower the client's security level."),
            commands: vec![
                format!("openssl s_client -connect {addr}:{port} -servername {} -showcerts </dev/null 2>/dev/null | openssl x509 -noout -text | grep -E 'Signature Algorithm|Public-Key'", ctx.host),
                reissue,
            ],
            manifests: Vec::new(),
        },
        prestate: vec!["cp -a /path/to/cert.pem /path/to/cert.pem.bak && cp -a /path/to/key.pem /path/to/key.pem.bak".to_string()],
        rollback: vec!["restore cert.pem.bak and key.pem.bak and reload the server".to_string()],
        runbook: runbook(symptom, &[&format!("openssl s_client -connect {addr}:{port} -showcerts")], "a certificate below today's minimum: reissue it."),
    }
}

/// The remedy of `TlsChainMisordered`.
pub(super) fn chain_misordered(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("The server sends its chain out of order ({}): put the server's own certificate first, then each issuer in turn (leaf, intermediate, ...), without the root.", ctx.tls_detail.clone().unwrap_or_else(|| "not leaf first".to_string())),
            commands: vec![
                "cat leaf.pem intermediate.pem > fullchain.pem   # nginx: ssl_certificate fullchain.pem".to_string(),
                format!("openssl s_client -connect {addr}:{port} -servername {} -showcerts </dev/null 2>/dev/null | grep -E '^ [0-9] (s|i):'", ctx.host),
            ],
            manifests: Vec::new(),
        },
        prestate: vec!["cp -a /path/to/fullchain.pem /path/to/fullchain.pem.bak".to_string()],
        rollback: vec!["restore fullchain.pem.bak and reload the server".to_string()],
        runbook: runbook("works in some clients, fails in strict ones", &["openssl s_client -showcerts"], "serve leaf first, then its issuers in order."),
    }
}

/// The remedy of `TlsCertTooLarge`.
pub(super) fn cert_too_large(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("The server's Certificate message is larger than this client accepts ({}). This is a client limit, not a server fault, but other clients have similar limits: serve a shorter chain (no root, no unrelated certificates, fewer SANs) rather than raising client limits.", ctx.tls_detail.clone().unwrap_or_else(|| "over the limit".to_string())),
            commands: vec![format!("openssl s_client -connect {addr}:{port} -servername {} -showcerts </dev/null 2>/dev/null | grep -c 'BEGIN CERTIFICATE'", ctx.host)],
            manifests: Vec::new(),
        },
        prestate: vec!["cp -a /path/to/fullchain.pem /path/to/fullchain.pem.bak".to_string()],
        rollback: vec!["restore fullchain.pem.bak and reload the server".to_string()],
        runbook: runbook("'message too large' / handshake fails only in some clients", &["openssl s_client -showcerts"], "the chain is too big for the client: trim it."),
    }
}

/// The remedy of `TlsWeakCipher` and `TlsNoSharedCipher`.
pub(super) fn cipher_suites(w: Words<'_>, ctx: &FixContext, cause: Cause) -> Remedy {
    let Words { addr, port, .. } = w;
    let suite = ctx
        .tls_detail
        .clone()
        .unwrap_or_else(|| "a legacy suite".to_string());
    let description = if cause == Cause::TlsWeakCipher {
        format!("The server offers only broken cipher suites (it chose {suite}): enable ECDHE with AES-GCM or ChaCha20-Poly1305 and remove RC4, 3DES, NULL and export suites. Do not enable them on the client.")
    } else {
        format!("The server offers only suites this client does not implement (it chose {suite}). OpenSSL-based clients such as curl may still connect, so this is a compatibility finding, not an outage: add ECDHE with AES-GCM or ChaCha20-Poly1305 suites on the server for modern clients.")
    };
    Remedy {
        fix: Fix {
            description,
            commands: vec![
                format!("openssl s_client -connect {addr}:{port} -servername {} -tls1_2 -cipher 'ECDHE+AESGCM:ECDHE+CHACHA20' </dev/null", ctx.host),
                "# nginx: ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305; ssl_protocols TLSv1.2 TLSv1.3;".to_string(),
            ],
            manifests: Vec::new(),
        },
        prestate: vec!["copy the server's TLS configuration".to_string()],
        rollback: vec!["restore the server's TLS configuration and reload".to_string()],
        runbook: runbook("'no shared cipher' / 'handshake failure' in modern clients only", &[&format!("openssl s_client -connect {addr}:{port} -tls1_2 -cipher ALL@SECLEVEL=0")], "the server's cipher list predates AEAD suites: add ECDHE+AESGCM."),
    }
}

/// The remedy of `TlsWeakDh`.
pub(super) fn weak_dh(w: Words<'_>, ctx: &FixContext) -> Remedy {
    let Words { addr, port, .. } = w;
    Remedy {
        fix: Fix {
            description: format!("The server's DHE group is too small ({}): prefer ECDHE suites, and if DHE must stay, use a group of at least 2048 bits (RFC 7919 ffdhe2048 or larger).", ctx.tls_detail.clone().unwrap_or_else(|| "below 2048 bits".to_string())),
            commands: vec![
                "openssl dhparam -out dhparam.pem 2048   # nginx: ssl_dhparam dhparam.pem; or drop DHE from ssl_ciphers".to_string(),
                format!("openssl s_client -connect {addr}:{port} -servername {} -tls1_2 -cipher DHE </dev/null 2>/dev/null | grep 'Server Temp Key'", ctx.host),
            ],
            manifests: Vec::new(),
        },
        prestate: vec!["copy the server's TLS configuration (and its dhparam file)".to_string()],
        rollback: vec!["restore the server's TLS configuration and reload".to_string()],
        runbook: runbook("'dh key too small'", &[&format!("openssl s_client -connect {addr}:{port} -cipher DHE")], "a 1024-bit (or smaller) DH group: use 2048 bits or ECDHE."),
    }
}
