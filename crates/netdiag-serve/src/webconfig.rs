//! `--web.config.file`: exporter-toolkit's web configuration (TLS and basic auth), read as
//! strictly as blackbox.yml: an unknown key is an error naming it, and a key exporter-toolkit
//! knows that netdiag does not implement is an error saying so (never silently ignored, because
//! a silently ignored `client_auth_type` would be a security hole).
//!
//! Implemented: `tls_server_config.cert_file`/`key_file` (rustls with ring, TLS 1.2 and 1.3) and
//! `basic_auth_users` (bcrypt hashes). Relative paths are relative to the file's directory, as in
//! exporter-toolkit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The file as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    http_server_config: Option<RawHttpServer>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    cert: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    key: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    client_auth_type: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    client_ca_file: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    client_allowed_sans: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    cipher_suites: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    curve_preferences: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    min_version: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    max_version: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpServer {
    #[serde(default)]
    http2: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    headers: Option<serde::de::IgnoredAny>,
}

/// The usable web configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS, when configured.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Basic auth, when users are configured.
    pub auth: Option<Arc<BasicAuth>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("auth", &self.auth.is_some())
            .finish()
    }
}

/// Users and their bcrypt hashes, with a cache of credentials already verified (bcrypt is slow
/// on purpose; exporter-toolkit caches the same way).
#[derive(Debug)]
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    verified: Mutex<Vec<(String, String)>>,
}

/// At most this many verified credentials are cached.
const CACHE_LIMIT: usize = 64;

impl BasicAuth {
    fn cache(&self) -> std::sync::MutexGuard<'_, Vec<(String, String)>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `user:password` is valid (blocking: bcrypt).
    pub fn check(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            // Spend comparable time on an unknown user.
            let _ = bcrypt::verify(
                password,
                "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi",
            );
            return false;
        };
        let key = (user.to_string(), password.to_string());
        if self.cache().contains(&key) {
            return true;
        }
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            let mut cache = self.cache();
            if cache.len() >= CACHE_LIMIT {
                cache.remove(0);
            }
            cache.push(key);
        }
        ok
    }
}

/// Whether an `Authorization` header value carries valid basic-auth credentials (bcrypt runs on
/// a blocking thread). Shared by the middleware below and `netdiag mcp --listen`.
pub async fn admits(auth: &Arc<BasicAuth>, authorization: Option<&str>) -> bool {
    let credentials = authorization
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| base64_decode(b64.trim()))
        .and_then(|raw| String::from_utf8(raw).ok());
    let Some((user, password)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
        return false;
    };
    let (auth, user, password) = (Arc::clone(auth), user.to_string(), password.to_string());
    tokio::task::spawn_blocking(move || auth.check(&user, &password))
        .await
        .unwrap_or(false)
}

/// The basic-auth middleware: 401 with `WWW-Authenticate: Basic` unless the credentials check.
pub async fn require(
    auth: Arc<BasicAuth>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let ok = admits(&auth, header).await;
    if ok {
        return next.run(request).await;
    }
    (
        axum::http::StatusCode::UNAUTHORIZED,
        [(axum::http::header::WWW_AUTHENTICATE, "Basic")],
        "Unauthorized\n",
    )
        .into_response()
}

/// Standard base64 (with or without padding); `None` on anything else.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

fn not_implemented(key: &str) -> String {
    format!("web config: field {key} is not implemented by netdiag")
}

/// Reads and checks the file (certificates loaded, hashes well-formed).
pub fn load(path: &Path) -> Result<WebConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("error reading web config file {}: {e}", path.display()))?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    parse(&text, base)
}

/// Parses web config text; `base` resolves relative paths.
pub fn parse(text: &str, base: &Path) -> Result<WebConfig, String> {
    let raw: RawWebConfig = if text.trim().is_empty() {
        RawWebConfig::default()
    } else {
        serde_saphyr::from_str(text).map_err(|e| {
            format!(
                "error parsing web config file: {}",
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })?
    };
    if let Some(h) = &raw.http_server_config {
        if h.http2.is_some() {
            return Err(not_implemented("http_server_config.http2"));
        }
        if h.headers.is_some() {
            return Err(not_implemented("http_server_config.headers"));
        }
    }
    let tls = match raw.tls_server_config {
        None => None,
        Some(t) => Some(Arc::new(tls(&t, base)?)),
    };
    for (user, hash) in &raw.basic_auth_users {
        if !hash.starts_with("$2") || bcrypt::verify("", hash).is_err() {
            return Err(format!(
                "web config: basic_auth_users.{user} is not a bcrypt hash"
            ));
        }
    }
    let auth = (!raw.basic_auth_users.is_empty()).then(|| {
        Arc::new(BasicAuth {
            users: raw.basic_auth_users,
            verified: Mutex::new(Vec::new()),
        })
    });
    Ok(WebConfig { tls, auth })
}

fn tls(t: &RawTls, base: &Path) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    for (present, key) in [
        (t.cert.is_some(), "cert"),
        (t.key.is_some(), "key"),
        (t.client_auth_type.is_some(), "client_auth_type"),
        (t.client_ca_file.is_some(), "client_ca_file"),
        (t.client_allowed_sans.is_some(), "client_allowed_sans"),
        (t.cipher_suites.is_some(), "cipher_suites"),
        (t.curve_preferences.is_some(), "curve_preferences"),
        (t.min_version.is_some(), "min_version"),
        (t.max_version.is_some(), "max_version"),
        (
            t.prefer_server_cipher_suites.is_some(),
            "prefer_server_cipher_suites",
        ),
    ] {
        if present {
            return Err(not_implemented(&format!("tls_server_config.{key}")));
        }
    }
    let path = |p: &Option<String>, key: &str| -> Result<PathBuf, String> {
        let p = p
            .as_deref()
            .ok_or_else(|| format!("web config: tls_server_config.{key} is required"))?;
        Ok(base.join(p))
    };
    let cert_path = path(&t.cert_file, "cert_file")?;
    let key_path = path(&t.key_file, "key_file")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(Iterator::collect)
        .map_err(|e| format!("web config: cert_file {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "web config: cert_file {} holds no certificate",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("web config: key_file {}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("web config: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("web config: certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_unimplemented_keys_are_errors() {
        let base = Path::new("/nonexistent");
        let e = parse("nosuch: 1\n", base).unwrap_err();
        assert!(e.contains("nosuch"), "{e}");
        let e = parse(
            "tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n",
            base,
        )
        .unwrap_err();
        assert!(e.contains("client_auth_type is not implemented"), "{e}");
        let e = parse("basic_auth_users:\n  u: plain\n", base).unwrap_err();
        assert!(e.contains("bcrypt"), "{e}");
        assert!(parse("", base).unwrap().auth.is_none());
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("YWxpY2U6cHc=").unwrap(), b"alice:pw");
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert!(base64_decode("!!").is_none());
    }

    #[test]
    fn basic_auth_checks_bcrypt() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let c = parse(
            &format!("basic_auth_users:\n  alice: '{hash}'\n"),
            Path::new("."),
        )
        .unwrap();
        let auth = c.auth.unwrap();
        assert!(auth.check("alice", "pw"));
        assert!(auth.check("alice", "pw"));
        assert!(!auth.check("alice", "nope"));
        assert!(!auth.check("bob", "pw"));
    }
}
