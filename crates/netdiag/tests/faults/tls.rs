//! tls layer: does the handshake succeed, and is the certificate valid for this name?
//!
//! The server is a real `openssl s_server -www` on 10.77.2.2:443 (the name `svc.test` maps to it
//! through the hosts file), with certificates generated for the scenario by the harness's `Pki`:
//! a root, an intermediate, and a leaf with the defect under test. `openssl s_client` proves
//! each fault before netdiag is asked.

use crate::common::*;
use netdiag_testnet::{require_netns, HttpServer, LeafFiles, Pki, Result, Run, Signer, Validity};
use std::time::Duration;

const NAME: &str = "svc.test";
const ADDR: &str = "10.77.2.2:443";
const URL: &str = "https://svc.test/";

struct TlsLab {
    lab: Lab,
    pki: Pki,
    hosts: String,
}

fn tls_lab(tag: &str) -> Result<TlsLab> {
    let lab = lab(tag)?;
    let pki = lab.net.pki()?;
    let hosts = lab
        .net
        .hosts_file(&["127.0.0.1 localhost", "10.77.2.2 svc.test"])?
        .to_string_lossy()
        .into_owned();
    Ok(TlsLab { lab, pki, hosts })
}

fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

impl TlsLab {
    fn root(&self) -> String {
        path(self.pki.root_pem())
    }

    fn leaf(&self, names: &[&str], validity: Validity, signer: Signer) -> Result<LeafFiles> {
        self.pki.leaf("leaf", names, validity, signer)
    }

    /// `openssl s_server -www` with `leaf`; `extra` adds options (`-cert_chain`, `-tls1`…).
    fn s_server(&self, leaf: &LeafFiles, extra: &[&str]) -> Result<()> {
        let (cert, key) = (path(&leaf.cert), path(&leaf.key));
        let mut args = vec![
            "s_server", "-accept", ADDR, "-cert", &cert, "-key", &key, "-www",
        ];
        args.extend_from_slice(extra);
        self.lab
            .server
            .spawn_server("s_server", "openssl", &args, ADDR)
    }

    /// `s_server` sending the leaf and the intermediate: a correctly configured server.
    fn s_server_full_chain(&self, leaf: &LeafFiles) -> Result<()> {
        let intermediate = path(self.pki.intermediate_pem());
        self.s_server(leaf, &["-cert_chain", &intermediate])
    }

    /// `openssl s_client` to the server with SNI `svc.test`, stdin closed so it leaves after
    /// the handshake.
    fn s_client(&self, extra: &[&str]) -> Result<Run> {
        let mut args = vec!["s_client", "-connect", ADDR, "-servername", NAME];
        args.extend_from_slice(extra);
        self.lab
            .client
            .command("openssl", &args, Duration::from_secs(5))
    }

    /// `s_client` verifying against our root (or the system store, with `cafile` `None`).
    fn s_client_verify(&self, cafile: Option<&str>) -> Result<Run> {
        let mut args = vec!["-verify_return_error", "-verify_hostname", NAME];
        if let Some(f) = cafile {
            args.extend(["-CAfile", f]);
        }
        self.s_client(&args)
    }

    /// `openssl s_server -www` with these files: `cert`, `key`, then `chain` (in that order).
    fn s_server_files(&self, cert: &str, key: &str, chain: &[&str], extra: &[&str]) -> Result<()> {
        let bundle: String = chain
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect();
        let bundle = path(&self.lab.net.write_file("chain.pem", &bundle)?);
        let mut args = vec![
            "s_server",
            "-accept",
            ADDR,
            "-cert",
            cert,
            "-key",
            key,
            "-www",
            "-cert_chain",
            &bundle,
        ];
        args.extend_from_slice(extra);
        self.lab
            .server
            .spawn_server("s_server", "openssl", &args, ADDR)
    }

    /// gnutls-serv on port 443 with `leaf` (full chain) and this priority string.
    fn gnutls_serv(&self, leaf: &LeafFiles, priority: &str) -> Result<()> {
        let (chain, key) = (path(&leaf.full_chain), path(&leaf.key));
        self.lab.server.spawn_server(
            "gnutls-serv",
            "gnutls-serv",
            &[
                "--http",
                "-p",
                "443",
                "--x509certfile",
                &chain,
                "--x509keyfile",
                &key,
                "--priority",
                priority,
            ],
            ADDR,
        )
    }

    /// A leaf for `svc.test` made with openssl: a `newkey` key (`rsa:1024`, `ec`), signed by
    /// the intermediate with `digest` (`-sha1`, `-sha256`). Returns (cert, key) paths.
    fn openssl_leaf(&self, label: &str, newkey: &str, digest: &str) -> Result<(String, String)> {
        self.openssl_leaf_with(
            label,
            newkey,
            digest,
            "subjectAltName=DNS:svc.test\nextendedKeyUsage=serverAuth\n",
        )
    }

    /// [`TlsLab::openssl_leaf`] with these X.509 v3 extensions (`-extfile` text).
    fn openssl_leaf_with(
        &self,
        label: &str,
        newkey: &str,
        digest: &str,
        extensions: &str,
    ) -> Result<(String, String)> {
        let dir = self.lab.net.dir();
        let (key, csr, cert, ext) = (
            format!("{}/{label}.key", dir.display()),
            format!("{}/{label}.csr", dir.display()),
            format!("{}/{label}.pem", dir.display()),
            path(
                &self
                    .lab
                    .net
                    .write_file(&format!("{label}.ext"), extensions)?,
            ),
        );
        // `ec` is P-256; `ec:P-521` names the curve.
        let curve = newkey.strip_prefix("ec").map(|c| {
            let name = c.strip_prefix(':').unwrap_or("P-256");
            format!("ec_paramgen_curve:{name}")
        });
        let mut req = vec!["req", "-new", "-nodes", "-newkey"];
        match &curve {
            Some(curve) => req.extend(["ec", "-pkeyopt", curve.as_str()]),
            None => req.push(newkey),
        }
        req.extend([
            "-keyout",
            &key,
            "-subj",
            "/O=netdiag testnet service/CN=svc.test",
            "-out",
            &csr,
        ]);
        let (int, int_key) = (
            path(self.pki.intermediate_pem()),
            path(self.pki.intermediate_key()),
        );
        let sign = [
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &int,
            "-CAkey",
            &int_key,
            "-set_serial",
            "4242",
            "-days",
            "30",
            digest,
            "-extfile",
            &ext,
            "-out",
            &cert,
        ];
        for args in [req.as_slice(), sign.as_slice()] {
            let run = self
                .lab
                .client
                .command("openssl", args, Duration::from_secs(30))?;
            assert_eq!(run.status, Some(0), "openssl {args:?}{run}");
        }
        Ok((cert, key))
    }

    /// An OCSP response, signed by the intermediate, saying `leaf` is revoked (keyCompromise).
    fn ocsp_revoked(&self, leaf: &LeafFiles) -> Result<String> {
        let serial: String = leaf.serial.iter().map(|b| format!("{b:02X}")).collect();
        let index = self.lab.net.write_file(
            "index.txt",
            &format!(
                "R\t301231000000Z\t261130120000Z,keyCompromise\t{serial}\tunknown\t/CN={NAME}\n"
            ),
        )?;
        let response = format!("{}/ocsp.der", self.lab.net.dir().display());
        let (int, int_key) = (
            path(self.pki.intermediate_pem()),
            path(self.pki.intermediate_key()),
        );
        let run = self.lab.client.command(
            "openssl",
            &[
                "ocsp",
                "-index",
                &path(&index),
                "-rsigner",
                &int,
                "-rkey",
                &int_key,
                "-CA",
                &int,
                "-issuer",
                &int,
                "-cert",
                &path(&leaf.cert),
                "-respout",
                &response,
                "-ndays",
                "1",
            ],
            Duration::from_secs(10),
        )?;
        assert_eq!(run.status, Some(0), "openssl ocsp{run}");
        Ok(response)
    }

    /// curl to the server with our root trusted.
    fn curl(&self, extra: &[&str]) -> Result<Run> {
        let root = self.root();
        let mut args = vec![
            "-sS",
            "-o",
            "/dev/null",
            "--cacert",
            &root,
            "--resolve",
            "svc.test:443:10.77.2.2",
        ];
        args.extend_from_slice(extra);
        args.push(URL);
        self.lab
            .client
            .command("curl", &args, Duration::from_secs(5))
    }

    fn check(&self, extra: &[&str]) -> Result<Run> {
        let mut args = vec!["--hosts-file", self.hosts.as_str()];
        args.extend_from_slice(extra);
        self.lab.check(&self.lab.client, URL, &args)
    }

    fn check_trusting_root(&self) -> Result<Run> {
        let root = self.root();
        self.check(&["--cacert", &root])
    }
}

#[track_caller]
fn assert_output(probe: &Run, needle: &str) {
    assert!(
        probe.stdout.contains(needle) || probe.stderr.contains(needle),
        "the probe should say {needle:?}{probe}"
    );
}

#[test]
fn tls_healthy_full_chain_is_exit_0() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsok")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    t.s_server_full_chain(&leaf)?;
    let probe = t.s_client_verify(Some(&t.root()))?;
    assert_eq!(probe.status, Some(0), "s_client{probe}");
    assert_output(&probe, "Verify return code: 0 (ok)");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(run.rows_of("tls").count() > 0, "a tls row{run}");
    assert!(
        !run.warning_causes().iter().any(|c| c.starts_with("tls_")),
        "no tls warning{run}"
    );
    Ok(())
}

#[test]
fn tls_cert_expired() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsexpired")?;
    let leaf = t.leaf(&[NAME], Validity::Expired, Signer::Intermediate)?;
    t.s_server_full_chain(&leaf)?;
    let probe = t.s_client_verify(Some(&t.root()))?;
    assert_output(&probe, "certificate has expired");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_cert_expired");
    Ok(())
}

#[test]
fn tls_cert_not_yet_valid() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsnotyet")?;
    let leaf = t.leaf(&[NAME], Validity::NotYetValid, Signer::Intermediate)?;
    t.s_server_full_chain(&leaf)?;
    let probe = t.s_client_verify(Some(&t.root()))?;
    assert_output(&probe, "certificate is not yet valid");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_cert_not_yet_valid");
    Ok(())
}

/// The certificate is for other names; the evidence lists them so the reader sees what it covers.
#[test]
fn tls_name_mismatch() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsname")?;
    let leaf = t.leaf(
        &["other.test", "www.other.test"],
        Validity::Current,
        Signer::Intermediate,
    )?;
    t.s_server_full_chain(&leaf)?;
    let probe = t.s_client_verify(Some(&t.root()))?;
    assert_output(&probe, "hostname mismatch");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_name_mismatch");
    assert_mentions(&run, "other.test");
    assert_mentions(&run, "www.other.test");
    Ok(())
}

/// A certificate with CN=svc.test and no subjectAltName at all. OpenSSL still falls back to the
/// CN; webpki (like browsers) does not, and the words say "has no subjectAltName" (never an
/// empty list).
#[test]
fn tls_name_mismatch_without_subject_alt_name() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsnosan")?;
    let (cert, key) =
        t.openssl_leaf_with("nosan", "ec", "-sha256", "extendedKeyUsage=serverAuth\n")?;
    t.s_server_files(&cert, &key, &[&path(t.pki.intermediate_pem())], &[])?;
    let openssl = t.s_client_verify(Some(&t.root()))?;
    assert_output(&openssl, "Verify return code: 0 (ok)");
    let text = t.lab.client.command(
        "openssl",
        &["x509", "-noout", "-text", "-in", &cert],
        Duration::from_secs(5),
    )?;
    assert!(
        !text.stdout.contains("Subject Alternative Name"),
        "no SAN{text}"
    );

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_name_mismatch");
    assert_mentions(&run, "has no subjectAltName");
    assert!(!run.mentions("lists ."), "no empty list{run}");
    Ok(())
}

#[test]
fn tls_self_signed() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsself")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::SelfSigned)?;
    t.s_server(&leaf, &[])?;
    let probe = t.s_client_verify(None)?;
    assert_output(&probe, "self-signed certificate");

    let run = t.check(&[])?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_self_signed");
    Ok(())
}

/// The full chain is served, but the root that anchors it is not trusted here (no `--cacert`).
#[test]
fn tls_untrusted_issuer() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsuntrusted")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    t.s_server_full_chain(&leaf)?;
    let probe = t.s_client_verify(None)?;
    assert_output(&probe, "unable to get local issuer certificate");
    let trusted = t.s_client_verify(Some(&t.root()))?;
    assert_output(&trusted, "Verify return code: 0 (ok)");

    let run = t.check(&[])?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_untrusted_issuer");
    assert_mentions(&run, "netdiag testnet root");
    Ok(())
}

/// The server sends its leaf without the intermediate: even with the root trusted, nothing links
/// the leaf to it.
#[test]
fn tls_incomplete_chain() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlschain")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    t.s_server(&leaf, &[])?;
    let probe = t.s_client_verify(Some(&t.root()))?;
    assert_output(&probe, "unable to get local issuer certificate");
    assert!(
        probe.stdout.contains(" 0 s:") && !probe.stdout.contains(" 1 s:"),
        "one certificate sent{probe}"
    );

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_incomplete_chain");
    assert_mentions(&run, "netdiag testnet intermediate");
    // The issuer's organisation matches a trusted root's: both readings are given.
    assert_mentions(&run, "omits the intermediate");
    assert_mentions(&run, "TLS-intercepting proxy");
    Ok(())
}

/// Plain HTTP on the HTTPS port: the ClientHello gets an HTTP error page back.
#[test]
fn tls_not_tls() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsnottls")?;
    t.lab.server.http(ADDR, HttpServer::status(400))?;
    let probe = t.s_client(&[])?;
    assert_ne!(probe.status, Some(0), "s_client{probe}");
    assert_output(&probe, "wrong version number");

    let run = t.check(&[])?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_not_tls");
    assert_mentions(&run, "HTTP");
    Ok(())
}

/// A server that speaks TLS 1.0 only; the evidence names the version it does speak.
#[test]
fn tls_protocol_mismatch() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsproto")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    let intermediate = path(t.pki.intermediate_pem());
    t.s_server(
        &leaf,
        &[
            "-cert_chain",
            &intermediate,
            "-tls1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
        ],
    )?;
    let modern = t.s_client(&["-tls1_2"])?;
    assert_ne!(modern.status, Some(0), "TLS 1.2 is refused{modern}");
    let legacy = t.s_client(&["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"])?;
    assert_output(&legacy, "Protocol  : TLSv1\n");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_protocol_mismatch");
    assert_mentions(&run, "TLSv1.0");
    Ok(())
}

/// No cipher suite in common: the server offers only CBC suites, which rustls (and every modern
/// client) refuses. The hand-built ClientHello learns the suite it does speak; curl (OpenSSL)
/// still connects, so the finding is compatibility, not an outage.
#[test]
fn tls_no_shared_cipher_cbc_only() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsnocipher")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    let intermediate = path(t.pki.intermediate_pem());
    t.s_server(
        &leaf,
        &[
            "-cert_chain",
            &intermediate,
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-AES128-SHA@SECLEVEL=0",
        ],
    )?;
    let cbc = t.s_client(&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA@SECLEVEL=0"])?;
    assert_output(&cbc, "Protocol  : TLSv1.2\n");
    let aead = t.s_client(&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])?;
    assert_ne!(aead.status, Some(0), "an AEAD-only client is refused{aead}");
    let curl = t.curl(&[])?;
    assert_eq!(curl.status, Some(0), "curl (OpenSSL) still connects{curl}");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_no_shared_cipher");
    assert_mentions(&run, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA");
    assert_mentions(&run, "curl may still connect");
    Ok(())
}

/// gnutls-serv offering only one broken cipher (`cipher`, a gnutls priority name) with
/// ECDHE-ECDSA: gnutls-cli proves it is served, a modern client is refused, and netdiag names the
/// suite (`suite`) and why it is broken (`why`).
fn weak_cipher_case(tag: &str, cipher: &str, suite: &str, why: &str) -> Result<()> {
    let t = tls_lab(tag)?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    let priority =
        format!("NONE:+VERS-TLS1.2:+{cipher}:+SHA1:+ECDHE-ECDSA:+COMP-NULL:+SIGN-ALL:+CURVE-ALL");
    t.gnutls_serv(&leaf, &priority)?;
    let gnutls = t.lab.client.command(
        "gnutls-cli",
        &[
            "--priority",
            &priority,
            "--x509cafile",
            &t.root(),
            "--sni-hostname",
            NAME,
            "--verify-hostname",
            NAME,
            "-p",
            "443",
            "10.77.2.2",
        ],
        Duration::from_secs(5),
    )?;
    assert_output(&gnutls, &format!("({cipher})"));
    let modern = t.s_client(&["-tls1_2"])?;
    assert_ne!(modern.status, Some(0), "a modern client is refused{modern}");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_weak_cipher");
    assert_mentions(&run, suite);
    assert_mentions(&run, why);
    Ok(())
}

/// 3DES only (OpenSSL 3 no longer serves it; gnutls still does).
#[test]
fn tls_weak_cipher_3des_only() -> Result<()> {
    require_netns!();
    weak_cipher_case(
        "tlsweak3des",
        "3DES-CBC",
        "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
        "Sweet32",
    )
}

/// RC4 only.
#[test]
fn tls_weak_cipher_rc4_only() -> Result<()> {
    require_netns!();
    weak_cipher_case(
        "tlsweakrc4",
        "ARCFOUR-128",
        "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
        "RFC 7465",
    )
}

/// NULL encryption only.
#[test]
fn tls_weak_cipher_null_only() -> Result<()> {
    require_netns!();
    weak_cipher_case(
        "tlsweaknull",
        "NULL",
        "TLS_ECDHE_ECDSA_WITH_NULL_SHA",
        "no confidentiality",
    )
}

/// Static RSA key exchange only (`AES128-GCM-SHA256`): no suite in common with rustls, named
/// as such.
#[test]
fn tls_no_shared_cipher_static_rsa() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsstaticrsa")?;
    let (cert, key) = t.openssl_leaf("rsa", "rsa:2048", "-sha256")?;
    t.s_server_files(
        &cert,
        &key,
        &[&path(t.pki.intermediate_pem())],
        &["-tls1_2", "-cipher", "AES128-GCM-SHA256"],
    )?;
    let probe = t.s_client(&["-tls1_2", "-cipher", "AES128-GCM-SHA256"])?;
    assert_output(&probe, "Cipher    : AES128-GCM-SHA256");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_no_shared_cipher");
    assert_mentions(&run, "TLS_RSA_WITH_AES_128_GCM_SHA256");
    assert_mentions(&run, "static RSA key exchange");
    Ok(())
}

/// A leaf with an RSA 1024-bit key, signed by the intermediate: the handshake signature made
/// with it is refused; the evidence names the certificate and the size.
#[test]
fn tls_weak_key_rsa_1024() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsweakkey")?;
    let (cert, key) = t.openssl_leaf("weak", "rsa:1024", "-sha256")?;
    t.s_server_files(
        &cert,
        &key,
        &[&path(t.pki.intermediate_pem())],
        &["-cipher", "DEFAULT@SECLEVEL=0"],
    )?;
    let probe = t.s_client_verify(Some(&t.root()))?;
    assert_output(&probe, "EE certificate key too weak");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_weak_key");
    assert_mentions(&run, "RSA 1024");
    Ok(())
}

/// A leaf with an EC P-521 key, which rustls (ring) cannot verify: the server refuses rustls's
/// ClientHello (no signature scheme it can use), and the hand-built TLS 1.2 ClientHello, which
/// offers P-521, receives the certificate in the clear and names the key.
#[test]
fn tls_weak_key_unsupported_p521() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsp521")?;
    let (cert, key) = t.openssl_leaf("p521", "ec:P-521", "-sha256")?;
    t.s_server_files(&cert, &key, &[&path(t.pki.intermediate_pem())], &[])?;
    let probe = t.s_client_verify(Some(&t.root()))?;
    assert_output(&probe, "Verify return code: 0 (ok)");
    assert_output(&probe, "Peer signature type: ECDSA");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_weak_key");
    assert_mentions(&run, "EC P-521");
    Ok(())
}

/// A leaf signed with ECDSA-SHA1 by the intermediate.
#[test]
fn tls_weak_signature_sha1() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsweaksig")?;
    let (cert, key) = t.openssl_leaf("sha1", "ec", "-sha1")?;
    t.s_server_files(
        &cert,
        &key,
        &[&path(t.pki.intermediate_pem())],
        &["-cipher", "DEFAULT@SECLEVEL=0"],
    )?;
    let text = t.lab.client.command(
        "openssl",
        &["x509", "-noout", "-text", "-in", &cert],
        Duration::from_secs(5),
    )?;
    assert_output(&text, "ecdsa-with-SHA1");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_weak_signature");
    assert_mentions(&run, "ecdsa-with-SHA1");
    Ok(())
}

/// The server's leaf is on the CRL given with `--crlfile`.
#[test]
fn tls_cert_revoked_by_crlfile() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlscrl")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    t.s_server_full_chain(&leaf)?;
    let crl = path(&t.pki.crl_revoking("leaf", &leaf.serial)?);
    let probe = t.s_client(&[
        "-CAfile",
        &t.root(),
        "-crl_check",
        "-CRL",
        &crl,
        "-verify_return_error",
    ])?;
    assert_output(&probe, "certificate revoked");

    let root = t.root();
    let clean = t.check(&["--cacert", &root])?;
    assert_diagnosis(&clean, 0, None, "ok");
    let run = t.check(&["--cacert", &root, "--crlfile", &crl])?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_cert_revoked");
    assert_mentions(&run, &crl);
    Ok(())
}

/// The server staples an OCSP response (made by `openssl ocsp` from an index that marks the
/// leaf revoked, keyCompromise): rustls hands the staple over unchecked; netdiag reads it.
#[test]
fn tls_cert_revoked_by_ocsp_staple() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsocsp")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    let response = t.ocsp_revoked(&leaf)?;
    let intermediate = path(t.pki.intermediate_pem());
    t.s_server(
        &leaf,
        &["-cert_chain", &intermediate, "-status_file", &response],
    )?;
    let probe = t.s_client(&["-CAfile", &t.root(), "-status"])?;
    assert_output(&probe, "Cert Status: revoked");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_cert_revoked");
    assert_mentions(&run, "keyCompromise");
    assert_mentions(&run, "stapled OCSP");
    Ok(())
}

/// The server sends the intermediate first and its own certificate second.
#[test]
fn tls_chain_misordered_ca_first() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsorder")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    let (int, int_key) = (
        path(t.pki.intermediate_pem()),
        path(t.pki.intermediate_key()),
    );
    t.s_server_files(&int, &int_key, &[&path(&leaf.cert)], &[])?;
    let probe = t.s_client(&["-showcerts"])?;
    assert_output(&probe, " 0 s:CN = netdiag testnet intermediate");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_chain_misordered");
    assert_mentions(&run, "position 1");
    Ok(())
}

/// A DHE-only server with a 1024-bit group: the hand-built ClientHello reads its
/// ServerKeyExchange.
#[test]
fn tls_weak_dh_1024() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsweakdh")?;
    let (cert, key) = t.openssl_leaf("rsa", "rsa:2048", "-sha256")?;
    let dir = t.lab.net.dir();
    let dh = format!("{}/dh1024.pem", dir.display());
    let gen = t.lab.client.command(
        "openssl",
        &["dhparam", "-out", &dh, "1024"],
        Duration::from_secs(60),
    )?;
    assert_eq!(gen.status, Some(0), "dhparam{gen}");
    t.s_server_files(
        &cert,
        &key,
        &[&path(t.pki.intermediate_pem())],
        &[
            "-tls1_2",
            "-cipher",
            "DHE-RSA-AES128-GCM-SHA256@SECLEVEL=0",
            "-dhparam",
            &dh,
        ],
    )?;
    let probe = t.s_client(&["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256@SECLEVEL=0"])?;
    assert_output(&probe, "Server Temp Key: DH, 1024 bits");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_weak_dh");
    assert_mentions(&run, "1024-bit");
    Ok(())
}

/// A Certificate message over rustls's 64 KiB limit (the intermediate sent 200 times): a
/// limit of this client, said so.
#[test]
fn tls_cert_too_large() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsbig")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    let one = std::fs::read_to_string(t.pki.intermediate_pem()).unwrap_or_default();
    assert!(one.contains("BEGIN CERTIFICATE"), "the intermediate's PEM");
    let many = t.lab.net.write_file("many.pem", &one.repeat(200))?;
    t.s_server(&leaf, &["-cert_chain", &path(&many)])?;
    let probe = t.s_client(&[])?;
    assert_output(&probe, "Server certificate");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_cert_too_large");
    assert_mentions(&run, "a limit of this client");
    Ok(())
}

/// The walk stops on an untrusted issuer, and the leaf also ends in 5 days: both are said.
#[test]
fn tls_expiring_soon_is_said_when_another_tls_problem_stops_the_walk() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlssoonbad")?;
    let leaf = t.leaf(&[NAME], Validity::ExpiresInDays(5), Signer::Intermediate)?;
    t.s_server_full_chain(&leaf)?;
    let run = t.check(&[])?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_untrusted_issuer");
    assert!(
        run.warning_causes().contains(&"tls_cert_expiring_soon"),
        "tls_cert_expiring_soon warning{run}"
    );
    Ok(())
}

/// Mutual TLS: the server demands a client certificate and aborts without one.
#[test]
fn tls_client_cert_required() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsmtls")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    let (intermediate, root) = (path(t.pki.intermediate_pem()), t.root());
    t.s_server(
        &leaf,
        &[
            "-cert_chain",
            &intermediate,
            "-Verify",
            "1",
            "-CAfile",
            &root,
        ],
    )?;
    // -ign_eof: with TLS 1.3 the client finishes its side of the handshake first; it must stay
    // to read the server's alert.
    let probe = t.s_client(&["-CAfile", &root, "-ign_eof"])?;
    assert_output(&probe, "Acceptable client certificate CA names");
    assert_output(&probe, "alert certificate required");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_client_cert_required");
    Ok(())
}

/// A valid chain whose leaf ends in 5 days: healthy, with a warning.
#[test]
fn tls_cert_expiring_soon_is_a_warning() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlssoon")?;
    let leaf = t.leaf(&[NAME], Validity::ExpiresInDays(5), Signer::Intermediate)?;
    t.s_server_full_chain(&leaf)?;
    let probe = t.s_client_verify(Some(&t.root()))?;
    assert_output(&probe, "Verify return code: 0 (ok)");
    let ends_in_5_days = t.lab.client.command(
        "openssl",
        &[
            "x509",
            "-noout",
            "-checkend",
            "518400",
            "-in",
            &path(&leaf.cert),
        ],
        Duration::from_secs(5),
    )?;
    assert_eq!(
        ends_in_5_days.status,
        Some(1),
        "ends within 6 days{ends_in_5_days}"
    );

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 0, None, "ok");
    assert!(
        run.warning_causes().contains(&"tls_cert_expiring_soon"),
        "tls_cert_expiring_soon warning{run}"
    );
    Ok(())
}

/// nginx with `ssl_verify_client on` finishes the handshake without a client certificate, then
/// answers every request `400 No required SSL certificate was sent`: mutual TLS, not an HTTP
/// fault.
#[test]
fn tls_client_cert_required_nginx_400() -> Result<()> {
    require_netns!();
    let t = tls_lab("tlsnginx")?;
    let leaf = t.leaf(&[NAME], Validity::Current, Signer::Intermediate)?;
    let root = t.root();
    let dir = t.lab.net.dir();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {dir}/nginx.pid;\n\
         error_log {dir}/nginx-error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {dir}/nginx-body;\n\
         proxy_temp_path {dir}/nginx-proxy;\n  fastcgi_temp_path {dir}/nginx-fastcgi;\n\
         uwsgi_temp_path {dir}/nginx-uwsgi;\n  scgi_temp_path {dir}/nginx-scgi;\n\
         server {{\n    listen {ADDR} ssl;\n    server_name {NAME};\n\
         ssl_certificate {chain};\n    ssl_certificate_key {key};\n\
         ssl_client_certificate {root};\n    ssl_verify_client on;\n\
         location / {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n",
        dir = dir.display(),
        chain = path(&leaf.full_chain),
        key = path(&leaf.key),
    );
    let conf = t.lab.net.write_file("nginx.conf", &conf)?;
    t.lab.server.spawn_server(
        "nginx",
        "nginx",
        &["-e", "stderr", "-c", &path(&conf)],
        ADDR,
    )?;
    let curl = t.lab.client.command(
        "curl",
        &[
            "-sS",
            "--cacert",
            &root,
            "--resolve",
            "svc.test:443:10.77.2.2",
            URL,
        ],
        Duration::from_secs(5),
    )?;
    assert_output(&curl, "No required SSL certificate was sent");

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_client_cert_required");
    assert_mentions(&run, "No required SSL certificate was sent");
    Ok(())
}
