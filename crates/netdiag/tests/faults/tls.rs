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
/// client) refuses, so the handshake ends with an alert that is neither a version nor a
/// certificate problem.
#[test]
fn tls_handshake_failure_no_common_cipher() -> Result<()> {
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

    let run = t.check_trusting_root()?;
    assert_diagnosis(&run, 1, Some("tls"), "tls_handshake_failure");
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
