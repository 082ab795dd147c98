//! The `http:` module section: blackbox's field names and defaults (config/config.go), read
//! strictly. What netdiag's walk can do is implemented; every other blackbox field parses and is
//! then refused by [`HttpProbe::validate`] naming it, so a module never silently means less than
//! it says.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn yes() -> bool {
    true
}

fn ip6() -> String {
    "ip6".to_string()
}

/// blackbox's http prober settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// Accepted status codes; empty means 2xx.
    #[serde(default)]
    pub valid_status_codes: Vec<u16>,
    /// Accepted protocol versions (`HTTP/1.1`, ...); empty means any.
    #[serde(default)]
    pub valid_http_versions: Vec<String>,
    /// The method (GET).
    #[serde(default)]
    pub method: String,
    /// Request headers; a `Host` key sets the Host header and the TLS server name.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body.
    #[serde(default)]
    pub body: String,
    /// A file whose content is the request body (exclusive with `body`).
    #[serde(default)]
    pub body_file: String,
    /// Follow redirects (at most 10).
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    /// Deprecated inverse of `follow_redirects`.
    #[serde(default)]
    pub no_follow_redirects: Option<bool>,
    /// Fail when the final response came over TLS.
    #[serde(default)]
    pub fail_if_ssl: bool,
    /// Fail when it did not.
    #[serde(default)]
    pub fail_if_not_ssl: bool,
    /// Fail when the body matches any of these.
    #[serde(default)]
    pub fail_if_body_matches_regexp: Vec<String>,
    /// Fail when the body does not match one of these.
    #[serde(default)]
    pub fail_if_body_not_matches_regexp: Vec<String>,
    /// Header matchers that fail on a match.
    #[serde(default)]
    pub fail_if_header_matches: Vec<HeaderMatch>,
    /// Header matchers that fail on no match.
    #[serde(default)]
    pub fail_if_header_not_matches: Vec<HeaderMatch>,
    /// TLS settings.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// `ip6` (default) or `ip4`.
    #[serde(default = "ip6")]
    pub preferred_ip_protocol: String,
    /// Use the other family when the preferred one has no address (default true).
    #[serde(default = "yes")]
    pub ip_protocol_fallback: bool,
    /// HTTP basic authentication.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// A bearer token sent as `Authorization: Bearer` (legacy field, still honoured).
    #[serde(default)]
    pub bearer_token: String,
    /// The proxy to use (`http://host:port`).
    #[serde(default)]
    pub proxy_url: String,
    /// Hosts that bypass `proxy_url` (comma-separated, curl's rules).
    #[serde(default)]
    pub no_proxy: String,
    /// Bytes of (decompressed) body at most; 0 means no limit (netdiag reads at most 1 MiB).
    /// Written as blackbox writes it (`128B`, `1KB`, `2MiB`: Go's base-2 units) or a plain count.
    #[serde(default, deserialize_with = "byte_size")]
    pub body_size_limit: u64,
    /// Expected content encoding; only "" and `identity` are implemented.
    #[serde(default)]
    pub compression: String,
    /// Allow HTTP/2 (netdiag speaks HTTP/1.1, which blackbox also accepts with either value).
    #[serde(default = "yes")]
    pub enable_http2: bool,
    /// Not implemented unless false.
    #[serde(default)]
    pub enable_http3: bool,
    /// Not implemented unless false.
    #[serde(default)]
    pub proxy_from_environment: bool,
    /// With `proxy_url`: do not resolve the target locally (the proxy does); no `resolve` phase.
    #[serde(default)]
    pub skip_resolve_phase_with_proxy: bool,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_headers: Option<serde_json::Value>,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_if_body_json_matches_cel: Option<serde_json::Value>,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_if_body_json_not_matches_cel: Option<serde_json::Value>,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<serde_json::Value>,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<serde_json::Value>,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<serde_json::Value>,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_connect_header: Option<serde_json::Value>,
}

impl Default for HttpProbe {
    fn default() -> Self {
        HttpProbe {
            valid_status_codes: Vec::new(),
            valid_http_versions: Vec::new(),
            method: String::new(),
            headers: BTreeMap::new(),
            body: String::new(),
            body_file: String::new(),
            follow_redirects: true,
            no_follow_redirects: None,
            fail_if_ssl: false,
            fail_if_not_ssl: false,
            fail_if_body_matches_regexp: Vec::new(),
            fail_if_body_not_matches_regexp: Vec::new(),
            fail_if_header_matches: Vec::new(),
            fail_if_header_not_matches: Vec::new(),
            tls_config: TlsConfig::default(),
            preferred_ip_protocol: ip6(),
            ip_protocol_fallback: true,
            basic_auth: None,
            bearer_token: String::new(),
            proxy_url: String::new(),
            no_proxy: String::new(),
            body_size_limit: 0,
            compression: String::new(),
            enable_http2: true,
            enable_http3: false,
            proxy_from_environment: false,
            skip_resolve_phase_with_proxy: false,
            http_headers: None,
            fail_if_body_json_matches_cel: None,
            fail_if_body_json_not_matches_cel: None,
            authorization: None,
            oauth2: None,
            bearer_token_file: None,
            proxy_connect_header: None,
        }
    }
}

/// Parses a byte size as blackbox's `units.Base2Bytes` (`128B`, `1KB` = `1KiB` = 1024,
/// compounds such as `1MB512KB`); a plain number is also taken, as bytes.
pub fn parse_byte_size(text: &str) -> Result<u64, ConfigError> {
    let bad = || {
        ConfigError(format!(
            "body_size_limit: {text:?} is not a byte size (e.g. 128B, 1MB)"
        ))
    };
    const UNITS: [(&str, u32); 7] = [
        ("B", 0),
        ("K", 10),
        ("M", 20),
        ("G", 30),
        ("T", 40),
        ("P", 50),
        ("E", 60),
    ];
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| bad());
    }
    let mut rest = t;
    let mut total: u64 = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    // Each round consumes one `<digits><unit>` pair.
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let prefix = match unit {
            "B" => "B",
            u if u.len() == 2 && u.ends_with('B') => &u[..1],
            u if u.len() == 3 && u.ends_with("iB") => &u[..1],
            _ => return Err(bad()),
        };
        let shift = UNITS
            .iter()
            .find(|(p, _)| *p == prefix)
            .map(|(_, s)| *s)
            .ok_or_else(bad)?;
        let bytes = number.checked_mul(1u64 << shift).ok_or_else(bad)?;
        total = total.checked_add(bytes).ok_or_else(bad)?;
    }
    Ok(total)
}

/// serde's side of [`parse_byte_size`]: a YAML integer or a string with units.
fn byte_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a byte size such as 128B or 1MB")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("body_size_limit: {v} is negative")))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            parse_byte_size(v).map_err(|e| E::custom(e.0))
        }
    }
    d.deserialize_any(Visitor)
}

/// One header matcher.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// The header name (case-insensitive).
    pub header: String,
    /// The regular expression (RE2 syntax, as the `regex` crate reads it).
    pub regexp: String,
    /// A missing header passes.
    #[serde(default)]
    pub allow_missing: bool,
}

/// `basic_auth`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user.
    #[serde(default)]
    pub username: String,
    /// The password (shown as `<secret>`).
    #[serde(default)]
    pub password: String,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_file: Option<String>,
}

/// prometheus/common's `tls_config`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Do not verify the server's certificate (the `probe_ssl_*` series still come).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Extra trusted CA certificates (PEM file).
    #[serde(default)]
    pub ca_file: String,
    /// The name to send and verify.
    #[serde(default)]
    pub server_name: String,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub min_version: String,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub max_version: String,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    /// Not implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The error for a blackbox field netdiag parses but does not implement.
pub(crate) fn not_implemented(field: &str) -> ConfigError {
    ConfigError(format!("field {field} is not implemented by netdiag"))
}

/// The first of `(present, name)` that is present, as [`not_implemented`].
pub(crate) fn refuse(fields: &[(bool, &str)]) -> Result<(), ConfigError> {
    match fields.iter().find(|(present, _)| *present) {
        Some((_, name)) => Err(not_implemented(name)),
        None => Ok(()),
    }
}

/// Checks a regular expression compiles (RE2 and the `regex` crate agree on the common syntax).
pub(crate) fn check_regex(field: &str, re: &str) -> Result<(), ConfigError> {
    regex::Regex::new(re).map(|_| ()).map_err(|e| {
        ConfigError(format!(
            "{field}: invalid regexp {re:?}: {}",
            first_line(&e.to_string())
        ))
    })
}

fn first_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks `preferred_ip_protocol`.
pub(crate) fn check_ip_protocol(p: &str) -> Result<(), ConfigError> {
    match p {
        "" | "ip4" | "ip6" | "tcp4" | "tcp6" | "udp4" | "udp6" | "icmp4" | "icmp6" => Ok(()),
        other => Err(ConfigError(format!(
            "preferred_ip_protocol {other:?} is not ip4 or ip6"
        ))),
    }
}

impl TlsConfig {
    /// Refuses the fields netdiag does not implement.
    pub fn validate(&self) -> Result<(), ConfigError> {
        refuse(&[
            (!self.cert_file.is_empty(), "tls_config.cert_file"),
            (!self.key_file.is_empty(), "tls_config.key_file"),
            (!self.min_version.is_empty(), "tls_config.min_version"),
            (!self.max_version.is_empty(), "tls_config.max_version"),
            (self.ca.is_some(), "tls_config.ca"),
            (self.cert.is_some(), "tls_config.cert"),
            (self.key.is_some(), "tls_config.key"),
        ])
    }
}

impl HttpProbe {
    /// Checks what serde cannot: combinations, ranges, regexes, unimplemented fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        refuse(&[
            (self.http_headers.is_some(), "http_headers"),
            (
                self.fail_if_body_json_matches_cel.is_some(),
                "fail_if_body_json_matches_cel",
            ),
            (
                self.fail_if_body_json_not_matches_cel.is_some(),
                "fail_if_body_json_not_matches_cel",
            ),
            (self.authorization.is_some(), "authorization"),
            (self.oauth2.is_some(), "oauth2"),
            (self.bearer_token_file.is_some(), "bearer_token_file"),
            (self.proxy_connect_header.is_some(), "proxy_connect_header"),
            (self.enable_http3, "enable_http3"),
            (self.proxy_from_environment, "proxy_from_environment"),
            (
                !matches!(self.compression.as_str(), "" | "identity"),
                "compression",
            ),
        ])?;
        if let Some(auth) = &self.basic_auth {
            refuse(&[
                (auth.password_file.is_some(), "basic_auth.password_file"),
                (auth.username_file.is_some(), "basic_auth.username_file"),
            ])?;
        }
        self.tls_config.validate()?;
        check_ip_protocol(&self.preferred_ip_protocol)?;
        if !self.body.is_empty() && !self.body_file.is_empty() {
            return Err(ConfigError(
                "setting body and body_file both are not allowed".into(),
            ));
        }
        if self.basic_auth.is_some() && !self.bearer_token.is_empty() {
            return Err(ConfigError(
                "at most one of basic_auth and bearer_token must be configured".into(),
            ));
        }
        if self.fail_if_ssl && self.fail_if_not_ssl {
            return Err(ConfigError(
                "fail_if_ssl and fail_if_not_ssl cannot both be set".into(),
            ));
        }
        for code in &self.valid_status_codes {
            if !(100..=999).contains(code) {
                return Err(ConfigError(format!(
                    "valid_status_codes: {code} is not a status code"
                )));
            }
        }
        for re in &self.fail_if_body_matches_regexp {
            check_regex("fail_if_body_matches_regexp", re)?;
        }
        for re in &self.fail_if_body_not_matches_regexp {
            check_regex("fail_if_body_not_matches_regexp", re)?;
        }
        for m in self
            .fail_if_header_matches
            .iter()
            .chain(&self.fail_if_header_not_matches)
        {
            check_regex("fail_if_header_matches", &m.regexp)?;
        }
        if !self.method.is_empty() && !self.method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ConfigError(format!(
                "method {:?} is not a token",
                self.method
            )));
        }
        for (k, v) in &self.headers {
            if k.is_empty() || k.bytes().any(|b| b <= b' ' || b == b':' || b == 0x7f) {
                return Err(ConfigError(format!("header name {k:?} is not a token")));
            }
            if v.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
                return Err(ConfigError(format!("header {k:?} has control characters")));
            }
        }
        Ok(())
    }

    /// Whether redirects are followed (`no_follow_redirects` wins when set).
    pub fn follows(&self) -> bool {
        match self.no_follow_redirects {
            Some(no) => !no && self.follow_redirects,
            None => self.follow_redirects,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    fn http(yaml: &str) -> Result<super::HttpProbe, String> {
        let text = format!("modules:\n  m:\n    prober: http\n    http:\n{yaml}");
        parse(&text)
            .map(|c| c.modules["m"].http.clone())
            .map_err(|e| e.0)
    }

    #[test]
    fn defaults_are_blackboxs() {
        let h = http("      {}\n").unwrap();
        assert!(h.follow_redirects && h.ip_protocol_fallback && h.enable_http2);
        assert_eq!(h.preferred_ip_protocol, "ip6");
        assert!(h.valid_status_codes.is_empty());
        let m = parse("modules:\n  m:\n    prober: http\n").unwrap();
        assert_eq!(m.modules["m"].http, super::HttpProbe::default());
    }

    #[test]
    fn implemented_fields_parse() {
        let h = http(
            "      valid_status_codes: [200, 404]\n      method: POST\n      headers: {Host: a.example}\n      fail_if_body_matches_regexp: ['x+']\n      fail_if_header_not_matches: [{header: X, regexp: 'a', allow_missing: true}]\n      tls_config: {insecure_skip_verify: true, server_name: s}\n      basic_auth: {username: u, password: p}\n",
        )
        .unwrap();
        assert_eq!(h.valid_status_codes, vec![200, 404]);
        assert!(h.fail_if_header_not_matches[0].allow_missing);
        assert!(h.tls_config.insecure_skip_verify);
    }

    #[test]
    fn unimplemented_fields_are_refused_by_name() {
        for (yaml, name) in [
            ("      oauth2: {client_id: x}\n", "oauth2"),
            ("      enable_http3: true\n", "enable_http3"),
            ("      compression: gzip\n", "compression"),
            (
                "      tls_config: {min_version: TLS12}\n",
                "tls_config.min_version",
            ),
            (
                "      tls_config: {cert_file: c.pem}\n",
                "tls_config.cert_file",
            ),
            (
                "      fail_if_body_json_matches_cel: 'a'\n",
                "fail_if_body_json_matches_cel",
            ),
            ("      http_headers: {X: {values: [a]}}\n", "http_headers"),
        ] {
            let e = http(yaml).unwrap_err();
            assert!(
                e.contains(name) && e.contains("not implemented"),
                "{yaml}: {e}"
            );
        }
    }

    #[test]
    fn byte_sizes_are_go_base2_units() {
        use super::parse_byte_size as p;
        assert_eq!(p("128B").unwrap(), 128);
        assert_eq!(p("1KB").unwrap(), 1024);
        assert_eq!(p("1MB512KB").unwrap(), (1 << 20) + 512 * 1024);
        assert_eq!(p("3").unwrap(), 3);
        for bad in ["", "B", "1Q", "1KBB", "99999999999EB"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn byte_size_never_panics(text in ".{0,24}") {
            let _ = super::parse_byte_size(&text);
        }
    }

    #[test]
    fn bad_values_are_errors() {
        for (yaml, word) in [
            ("      nosuch: 1\n", "nosuch"),
            ("      fail_if_body_matches_regexp: ['(']\n", "regexp"),
            ("      body: a\n      body_file: b\n", "body_file"),
            ("      preferred_ip_protocol: ip5\n", "ip5"),
            ("      tls_config: {nosuch: 1}\n", "nosuch"),
            (
                "      fail_if_ssl: true\n      fail_if_not_ssl: true\n",
                "fail_if_ssl",
            ),
            ("      headers: {'X Y': a}\n", "header"),
        ] {
            let e = http(yaml).unwrap_err();
            assert!(e.contains(word), "{yaml}: {e}");
        }
    }
}
