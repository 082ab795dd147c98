//! The two recording hooks rustls calls during the handshake: a certificate verifier that
//! records the real verifier's verdict instead of enforcing it, and a client-certificate resolver
//! that records that the server asked for one.
//!
//! Why: a diagnosis needs the version, ALPN and the whole chain even when the certificate is
//! expired or untrusted, so the handshake must be allowed to finish (STACK.md pitfall 4). The
//! verdict is still the one `WebPkiServerVerifier` gives, recorded as data; handshake signatures
//! are still checked by it for real. A connection made with this verifier is only handed on for
//! application data when the recorded verdict is a pass (see `tls::handshake`), so it is never
//! weaker than a normal client.

use std::sync::{Arc, Mutex, MutexGuard};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{sign, DigitallySignedStruct, SignatureScheme};

/// What the server presented, as seen by the verifier.
#[derive(Debug, Default)]
pub(crate) struct Presented {
    /// The chain as sent, leaf first.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// The real verifier's verdict: `Some(Ok)` passed, `Some(Err)` failed, `None` never called.
    pub(crate) verdict: Option<Result<(), rustls::Error>>,
    /// The OCSP response the server stapled (empty when none).
    pub(crate) ocsp: Vec<u8>,
}

/// Wraps `WebPkiServerVerifier`: records its verdict on the chain and lets the handshake go on.
#[derive(Debug)]
pub(crate) struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    presented: Mutex<Presented>,
}

impl RecordingVerifier {
    pub(crate) fn new(inner: Arc<WebPkiServerVerifier>) -> RecordingVerifier {
        RecordingVerifier {
            inner,
            presented: Mutex::new(Presented::default()),
        }
    }

    /// What was recorded (taken out; the handshake is over when this is called).
    pub(crate) fn take(&self) -> Presented {
        std::mem::take(&mut *lock(&self.presented))
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        let mut presented = lock(&self.presented);
        presented.chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        presented.verdict = Some(verdict);
        presented.ocsp = ocsp_response.to_vec();
        // Inspection only: the verdict is recorded above and decides whether the connection is
        // handed on; the handshake itself must finish so its parameters can be reported.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Has no client certificate; records whether the server asked for one (CertificateRequest).
#[derive(Debug, Default)]
pub(crate) struct RecordingClientAuth {
    requested: Mutex<bool>,
}

impl RecordingClientAuth {
    pub(crate) fn requested(&self) -> bool {
        *lock(&self.requested)
    }
}

impl ResolvesClientCert for RecordingClientAuth {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<sign::CertifiedKey>> {
        *lock(&self.requested) = true;
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain data; the data is
/// still the best record we have.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
